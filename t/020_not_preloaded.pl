# t/020_not_preloaded.pl: capquery without shared_preload_libraries, loaded by
# CREATE EXTENSION, LOAD or the first capq_* call of a backend.  The pg_regress
# files sql/local*.sql run against it; here, what they cannot show: that
# nothing of capquery exists in the server before a backend loads it.

use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use CapqRegress;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('local');
$node->init;
$node->start;

# the preload-only settings are not defined, before or after loading
my ($rc, $out, $err) =
  $node->psql('postgres', 'SHOW capquery.buffer_size');
like($err, qr/unrecognized configuration parameter "capquery.buffer_size"/,
	'capquery.buffer_size does not exist without preloading');
($rc, $out, $err) = $node->psql('postgres',
	"LOAD 'capquery'; SHOW capquery.max_captures");
like($err, qr/unrecognized configuration parameter "capquery.max_captures"/,
	'capquery.max_captures does not exist after LOAD either');
is($node->safe_psql('postgres', "LOAD 'capquery'; SHOW capquery.track"),
	'top', 'the per-backend settings exist once loaded');

# a backend's capture is its own: another backend does not see it
$node->safe_psql('postgres', 'CREATE EXTENSION capquery');
my $owner = $node->background_psql('postgres');
$owner->query_safe('SELECT capq_begin()');
is($node->safe_psql('postgres', 'SELECT count(*) FROM capq_sessions()'),
	'0', 'another backend sees no capture');
$owner->query_safe('SELECT 1');
is($owner->query_safe('SELECT capq_end()'), '1', 'the owner counts its statement');
$owner->quit;
$node->safe_psql('postgres', 'DROP EXTENSION capquery');

my @tests = regress_files('local*');
run_regress($node, 'capq_regress_local', @tests) if @tests;

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|TRAP:|terminated by signal/,
	'no backend crashed');

done_testing();
