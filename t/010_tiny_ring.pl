# t/010_tiny_ring.pl: capquery preloaded with the smallest ring (64kB), so
# captures overflow: the pg_regress files sql/overflow*.sql run against it.

use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use CapqRegress;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my @tests = regress_files('overflow*');
plan skip_all => 'no sql/overflow*.sql' unless @tests;

my $node = PostgreSQL::Test::Cluster->new('tiny');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'capquery'
capquery.buffer_size = '64kB'
});
$node->start;

is($node->safe_psql('postgres', 'SHOW capquery.buffer_size'),
	'64kB', 'the ring is 64kB');

run_regress($node, 'capq_regress_tiny', @tests);

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|TRAP:|terminated by signal/,
	'no backend crashed');

done_testing();
