# t/003_ids_after_crash.pl: capture ids never repeat across a crash-restart,
# neither right after it nor after a later clean restart.  The postmaster
# saves the next id whenever its shared memory goes -- the reset after a
# crash included -- and registers that callback again each time it creates
# shared memory (a crash reset clears on_shmem_exit callbacks; registering
# once, as capquery once did, lost them after the first crash).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use CapqRegress;

my $node = PostgreSQL::Test::Cluster->new('ids_crash');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'capquery'
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION capquery');


my @ids = take_ids($node, 2);
$node->restart;
push @ids, take_ids($node, 2);

# crash: kill -9 a backend, the postmaster reinitializes shared memory
my $victim = $node->background_psql('postgres', on_error_stop => 0);
my $victim_pid = $victim->query_safe('SELECT pg_backend_pid()');
my $log_offset = -s $node->logfile;
kill 'KILL', $victim_pid;
ok( eval {
		$node->wait_for_log(
			qr/all server processes terminated; reinitializing.*database system is ready to accept connections/s,
			$log_offset);
	},
	'the postmaster reinitialized after the crash');
$node->poll_query_until('postgres', 'SELECT 1', '1');
eval { $victim->quit };
my @after_crash = take_ids($node, 3);
my $max_before = (sort { $b <=> $a } @ids)[0];
cmp_ok($after_crash[0], '>', $max_before,
	"the first id after the crash ($after_crash[0]) is larger than every id before it (@ids)"
);
push @ids, @after_crash;

$node->restart;
my ($next) = take_ids($node, 1);
my $max = (sort { $b <=> $a } @ids)[0];
cmp_ok($next, '>', $max,
	"the first id after the clean restart ($next) is larger than every id handed out before (@ids)"
);

my %seen;
my @repeated = grep { $seen{$_}++ } @ids, $next;
is_deeply(\@repeated, [], 'no id was handed out twice');
$node->stop;
done_testing();
