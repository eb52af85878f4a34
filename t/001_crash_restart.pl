# t/001_crash_restart.pl: a backend killed (SIGKILL) while it is being
# captured makes the postmaster reinitialize shared memory; capquery starts
# again from an empty ring: the captures begun before the crash are gone (not
# listed, not readable, their label free again) and new captures work, in
# this backend and across backends.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'capquery'
restart_after_crash = on
});
$node->start;
# the captures run in database app; the test's own checks in postgres
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', 'CREATE EXTENSION capquery');

# an owner captures the database; a victim backend is captured mid-statement
my $owner = $node->background_psql('app');
my $before = $owner->query_safe(
	"SELECT capq_begin('before-crash', scope => 'database')");
my $victim = $node->background_psql('app', on_error_stop => 0);
my $victim_pid = $victim->query_safe('SELECT pg_backend_pid()');
$victim->{stdin} .= "SELECT pg_sleep(600);\n";
$victim->{run}->pump_nb();
ok( $node->poll_query_until(
		'postgres', qq{
SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = $victim_pid}),
	'the victim is sleeping');
is($owner->query_safe('SELECT capq_count()'),
	'2', 'the capture holds the victim\'s two statements, one still running');

my $log_offset = -s $node->logfile;
kill 'KILL', $victim_pid;
ok( eval {
		$node->wait_for_log(
			qr/terminated by signal 9: Killed.*all server processes terminated; reinitializing.*database system is ready to accept connections/s,
			$log_offset);
	},
	'the postmaster reinitialized after the crash');
$node->poll_query_until('postgres', 'SELECT 1', '1');
eval { $owner->quit };
eval { $victim->quit };

# the capture begun before the crash is gone
is($node->safe_psql('app', 'SELECT count(*) FROM capq_sessions()'),
	'0', 'no capture survives the crash');
my ($rc, $out, $err) = $node->psql('app',
	"\\set VERBOSITY sqlstate\nSELECT capq_count(capture => $before)");
like($err, qr/ERROR:  (42704|53400)/,
	'the capture of before the crash cannot be read');

# new captures work, in one backend and across backends
is( $node->safe_psql(
		'app', q{
SELECT capq_begin('before-crash') > 0;
SELECT 1;
SELECT capq_end();}),
	"t\n1\n1",
	'a new capture in one backend, with the old label');
$owner = $node->background_psql('app');
$owner->query_safe("SELECT capq_begin(scope => 'database')");
$node->safe_psql('app', 'SELECT 42');
is($owner->query_safe('SELECT capq_end()'),
	'1', 'a database capture records another backend');
is( $owner->query_safe('SELECT query FROM capq_queries()'),
	'SELECT 42', 'with its text');
$owner->quit;

$node->stop;
unlike(
	slurp_file($node->logfile, $log_offset),
	qr/PANIC|TRAP:|terminated by signal (4|6|7|8|11)/,
	'no other crash');

done_testing();
