#!/usr/bin/perl

# The documented examples run as printed, and the docs stand alone.
#
# - docs/examples/nginx.conf, the complete file the README points to,
#   with only the paths and ports its header lists replaced: nginx -t
#   passes, a certificate of the SRE namespace gets a heap profile from the
#   Go target, no certificate gets 401, and the profile's at= stamp has
#   the precision docs/provenance.md states.
# - README.md and docs/ cite no file a user's clone lacks (SPEC.md,
#   ../shared) and no section numbers of one, the directive index lists
#   every directive, and no page calls verify-profile missing.

use strict;
use warnings;

use File::Copy qw(copy);
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use Test::More;
use PprofTest;

my $t = PprofTest->new;
my $root = $t->root;
my $d = $t->testdir;

###############################################################################
# docs/examples/nginx.conf

my $conf = $t->read_file("$root/docs/examples/nginx.conf");
like($t->read_file("$root/README.md"),
    qr/fragment.*\(docs\/examples\/nginx\.conf\)/s,
    'README: the minimal configuration is a fragment; the complete file is linked');

# The replacements its header announces, each of which must occur.
my $module = $ENV{PPROF_MODULE} || "$root/build/ngx_http_pprof_module.so";
my @subst = (
    '/usr/lib/nginx/modules/ngx_http_pprof_module.so' => $module,
    '/etc/nginx/pprof/' => "$d/",
    '/var/log/nginx/'   => "$d/",
    '/run/'             => "$d/",
    'listen 443'        => 'listen 127.0.0.1:' . $t->port('tls'),
    '127.0.0.1:6060'    => '127.0.0.1:' . $t->port('target'),
);
my ($header) = $conf =~ /\A((?:#.*\n)+)/;
while (my ($from, $to) = splice @subst, 0, 2) {
    like($header, qr/\Q$from\E/, "the header announces: $from");
    ok($conf =~ s/\Q$from\E/$to/g, "it occurs: $from");
}

$t->pki;
copy($t->path('ca.crt'), "$d/clients-ca.crt") or die "copy: $!";
$t->client_cert('sre', subject => '/CN=alice',
    san => 'URI:spiffe://prod.example/ns/sre/alice');
$t->client_cert('dev', subject => '/CN=bob',
    san => 'URI:spiffe://prod.example/ns/dev/bob');
$t->start_target;

$t->write_whole_config($conf);
my ($rc, $out) = $t->nginx_t;
is($rc, 0, 'nginx -t passes') or diag($out);
unlike($out, qr/\[(?:warn|emerg|alert)\]/, '... without a warning') or diag($out);
$t->run;

my $r = $t->get('tls', '/debug/pprof/heap', cert => 'sre');
is($r->{status}, 200, 'an SRE certificate: heap');
my $profile;
gunzip(\$r->{body} => \$profile) or die "gunzip: $GunzipError\n";
my ($at) = $profile =~ /pprof-gateway: endpoint=heap .* at=([-0-9T:.]+Z)/;
like($at // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}000Z\z/,
    'at= has six decimals and millisecond precision');
is(scalar $t->upstream_requests, 1, '... from the Go target');

$r = $t->get('tls', '/debug/pprof/heap');
is($r->{status}, 401, 'no certificate: 401');
like($r->{body}, qr/^pprof-gateway: unauthenticated:/, '... with the reason');
$r = $t->get('tls', '/debug/pprof/heap', cert => 'dev');
is($r->{status}, 403, 'a dev certificate: 403 on heap');
is($t->get('tls', '/debug/pprof/cmdline', cert => 'dev')->{status}, 200,
    '... 200 on cmdline');
is(scalar $t->upstream_requests, 2, 'only allowed requests reached the target');
like($t->settled_file('pprof_audit.jsonl'), qr/"decision":"deny","reason":"unauthenticated"/,
    'the audit log is where the file says');

$t->done_testing_checks;

###############################################################################
# The pages stand alone and say what is true.

my @pages = ("$root/README.md", glob("$root/docs/*.md"),
    glob("$root/docs/examples/*"));
ok(@pages > 10, 'the pages');
for my $page (@pages) {
    my $name = $page =~ s/^\Q$root\E\///r;
    my $text = $t->read_file($page);
    my @bad;
    push @bad, "line $.: $1" while $text =~ /^(.*(?:SPEC\.md|\.\.\/shared|verify-profile` does not exist).*)$/mg;
    # A section sign is for RFCs only ("RFC 7515 §2", "RFC 7518 §6.2.1.2").
    while ($text =~ /^(.*)$/mg) {
        my $line = $1;
        push @bad, $line if $line =~ s/RFC \d+,? §\s*[\d.]+//gr =~ /§/;
    }
    is_deeply(\@bad, [], "$name: no citation of files or sections a clone lacks");
}

my $dir = $t->read_file("$root/docs/directives.md");
my ($index) = $dir =~ /^- \[Directives\]\(#directives\):(.*?)^- /ms;
my @missing = grep { $index !~ /\[\Q$_\E\]\(#\Q$_\E\)/ }
    $dir =~ /^### (pprof\w*)$/mg;
is_deeply(\@missing, [], 'directives.md: the index lists every directive');

my $prov = $t->read_file("$root/docs/provenance.md");
my @at = $prov =~ /\bat=(\S+)/g;
ok(@at > 0, 'provenance.md shows at=');
is_deeply([grep { !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}000Z$/ } @at], [],
    '... always with millisecond precision');
unlike($prov, qr/RFC 3339 UTC with microseconds/, '... and does not promise microseconds');

done_testing;
