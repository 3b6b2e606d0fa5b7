#!/usr/bin/perl

# An internal error fails closed (500 internal_error, in a dry run too) and
# is logged at "error" level with a line that says what failed, never with
# the identity that met it.  The one reachable through configuration alone:
# a pprof_bind regex that backtracks catastrophically on a crafted identity
# until PCRE2's match limit stops it.

use strict;
use warnings;

use JSON::PP;
use Test::More;
use PprofTest;

my $t = PprofTest->new;
$t->start_target;

$t->write_config(<<'CONF');
pprof_role viewer index cmdline symbol;
pprof_bind ~^(a+)+$ viewer;
pprof_audit_log audit.jsonl;
server {
    listen 127.0.0.1:%%PORT_PLAIN%%;
    location /debug/pprof/ {
        pprof on;
        pprof_tls off;
        pprof_identity $http_x_user;
        proxy_pass http://%%TARGET%%;
    }
    location /dry/debug/pprof/ {
        pprof on;
        pprof_prefix /dry/debug/pprof/;
        pprof_enforce off;
        pprof_tls off;
        pprof_identity $http_x_user;
        proxy_pass http://%%TARGET%%/debug/pprof/;
    }
}
CONF
$t->run;

sub ask {
    my ($path, $user) = @_;
    return $t->get('plain', $path, tls => 0,
        headers => { 'X-User' => $user });
}

# The bind works for an identity it matches, and denies one it does not.
is(ask('/debug/pprof/cmdline', 'aaaa')->{status}, 200,
    'an identity the bind matches is granted');
is(ask('/debug/pprof/cmdline', 'bob')->{status}, 403,
    'an identity it does not match is forbidden');

# "aaa...ab": every way of splitting the a's is tried before it fails.
my $crafted = ('a' x 40) . 'b';

for my $case (['/debug/pprof/cmdline', 'enforced'],
              ['/dry/debug/pprof/cmdline', 'dry run'])
{
    my ($path, $what) = @$case;
    my $before = length $t->error_log;
    $t->clear_upstream;

    my $r = ask($path, $crafted);
    is($r->{status}, 500, "$what: match limit answers 500");
    like($r->{body} // '', qr/^pprof-gateway: internal_error:/,
        "$what: the reason is internal_error");
    is(scalar $t->upstream_requests, 0, "$what: nothing is forwarded");

    my $id = $r->{headers}{'x-pprof-audit-id'} // 'none';
    my $log = substr($t->error_log, $before);

    like($log, qr/\[error\].*pprof_bind "~\^\(a\+\)\+\$": match limit exceeded/,
        "$what: an error line names the bind and what failed");
    like($log, qr/\[error\].*pprof: internal_error, audit id \Q$id\E/,
        "$what: the denial is logged at error with its audit id");
    unlike($log, qr/dry run, would deny: internal_error/,
        "$what: it is not called a would-be denial");
    unlike($log, qr/aaaaaaaaaa/, "$what: the identity is not logged");
}

my @rec = map { decode_json($_) } split /\n/, $t->settled_file('audit.jsonl');
is(scalar(grep { $_->{reason} eq 'internal_error' } @rec), 2,
    'both internal errors have a decision record');

$t->done_testing_checks;
done_testing;
