# t/CapqRegress.pm: helpers of the TAP tests: run pg_regress files of sql/
# and expected/ against a test's own PostgreSQL::Test::Cluster node, one TAP
# test per file; take capture ids.
#
# For the files that need a server of their own (sql/overflow*.sql: a 64kB
# ring; sql/local*.sql: no preloading).  As src/test/recovery does, it calls
# the pg_regress that "make prove_installcheck" exports as $ENV{PG_REGRESS},
# in the source directory (where prove runs), with psql from PATH.
package CapqRegress;

use strict;
use warnings;
use File::Basename qw(basename);
use PostgreSQL::Test::Utils;
use Test::More;

use Exporter 'import';
our @EXPORT = qw(regress_files run_regress take_ids);

# the test names of the sql/ files matching a glob, e.g. 'overflow*'
sub regress_files
{
	my ($pattern) = @_;
	return map { basename($_, '.sql') } sort glob("sql/$pattern.sql");
}

# run_regress($node, $dbname, @tests): each test in a fresh database $dbname
# (pg_regress drops and creates it); on a difference, the diff is printed
sub run_regress
{
	my ($node, $dbname, @tests) = @_;

	die "PG_REGRESS is not set: run this through make prove_installcheck"
	  unless $ENV{PG_REGRESS};
	foreach my $test (@tests)
	{
		my $outdir = "$PostgreSQL::Test::Utils::tmp_check/regress_"
		  . $node->name . "_$test";
		mkdir $outdir;
		my $rc = system($ENV{PG_REGRESS}, '--bindir=',
			'--host=' . $node->host, '--port=' . $node->port,
			'--inputdir=.', "--outputdir=$outdir", "--dbname=$dbname",
			$test);
		if ($rc != 0 && -e "$outdir/regression.diffs")
		{
			diag slurp_file("$outdir/regression.diffs");
		}
		is($rc, 0, "pg_regress $test on node " . $node->name);
	}
	return;
}

# take_ids($node, $n): begin and end n captures on the node; their ids, in order
sub take_ids
{
	my ($node, $n) = @_;
	my @ids;
	push @ids, $node->safe_psql('postgres',
		'SELECT capq_begin(); SELECT capq_end()') =~ /^(\d+)/
	  for 1 .. $n;
	return @ids;
}

1;
