# t/002_ids_restart.pl: capture ids are unique for the life of the cluster:
# a clean shutdown saves the next id (pg_stat/capquery.next_id) and the next
# start continues from it, so ids after a restart are larger than before.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use CapqRegress;

my $node = PostgreSQL::Test::Cluster->new('ids');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'capquery'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION capquery');


my @first = take_ids($node, 3);
is_deeply([ sort { $a <=> $b } @first ], \@first, 'ids increase');

$node->restart;
ok(-f $node->data_dir . '/pg_stat/capquery.next_id',
	'the next id was saved at shutdown');
my @second = take_ids($node, 2);
cmp_ok($second[0], '>', $first[-1], 'ids continue after a clean restart');

$node->restart;
my @third = take_ids($node, 1);
cmp_ok($third[0], '>', $second[-1], 'and after a second one');

$node->stop;
done_testing();
