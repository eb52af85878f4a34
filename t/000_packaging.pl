# t/000_packaging.pl: the version numbers agree: META.json's version and
# provides, default_version in capquery.control, and the newest extension
# script; every older version has an update script towards the default.
# PGXN wants semantic versions (1.1.0, or 1.1.1 for a fix of the library
# alone), PostgreSQL's scripts major.minor (1.1).

use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

my $meta = decode_json(slurp_file('META.json'));
my ($default) = slurp_file('capquery.control') =~ /^default_version\s*=\s*'([^']+)'/m;
ok(defined $default, 'capquery.control has a default_version');

# versions compared numerically, part by part
sub vcmp
{
	my @a = split /\./, $a;
	my @b = split /\./, $b;
	while (@a || @b)
	{
		my $c = (shift(@a) // 0) <=> (shift(@b) // 0);
		return $c if $c;
	}
	return 0;
}

my (%installable, %update_from);
foreach my $script (glob('capquery--*.sql'))
{
	if ($script =~ /^capquery--([\d.]+)--([\d.]+)\.sql$/)
	{
		$update_from{$1} = $2;
	}
	elsif ($script =~ /^capquery--([\d.]+)\.sql$/)
	{
		$installable{$1} = 1;
	}
	else
	{
		fail("unexpected script name $script");
	}
}
my %seen;
my @versions = sort vcmp grep { !$seen{$_}++ }
  (keys %installable, keys %update_from, values %update_from);
is($versions[-1], $default, 'the newest script version is default_version');
foreach my $version (grep { $_ ne $default } @versions)
{
	my $v = $version;
	$v = $update_from{$v} while defined $update_from{$v} && $v ne $default;
	is($v, $default, "version $version updates to $default");
}

is($meta->{name}, 'capquery', 'META.json name');
is($meta->{'meta-spec'}{version}, '1.0.0', 'META.json follows PGXN meta-spec 1.0.0');
like($meta->{version}, qr/^\d+\.\d+\.\d+$/, 'META.json version is semantic');
is(($meta->{version} =~ /^(\d+\.\d+)\./)[0], $default,
	'META.json version (major.minor) is default_version');
is($meta->{provides}{capquery}{version}, $meta->{version},
	'META.json provides capquery at that version');
ok(-f $meta->{provides}{capquery}{file}, 'the file provides names exists');

done_testing();
