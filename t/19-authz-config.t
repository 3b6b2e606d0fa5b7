#!/usr/bin/perl

# nginx -t and an authorization location: what it refuses, with a message
# that names the problem, and what it accepts.

use strict;
use warnings;

use Test::More;
use PprofTest;

my $t = PprofTest->new;

sub check {
    my ($body, $want, $name) = @_;
    return $t->config_is("pprof_role viewer cmdline;\npprof_bind alice viewer;\n"
        . "server { listen 127.0.0.1:%%PORT_X%%; $body }\n", $want, $name);
}

my $ok = 'pprof_trusted_proxies 127.0.0.1; pprof_identity anonymous;';

for my $mode (qw(envoy forward original)) {
    check("location /a/ { pprof_authz $mode; $ok }", undef, "mode $mode");
}

check("location /a/ { pprof_authz other; $ok }",
    qr/invalid value "other"/, 'unknown mode');
check("location /a/ { pprof_authz envoy; pprof_authz forward; $ok }",
    qr/"pprof_authz" directive is duplicate/, 'two modes');
check("pprof_authz envoy; location /a/ { $ok }",
    qr/"pprof_authz" directive is not allowed here/, 'at server level');

check('location /a/ { pprof_authz envoy; pprof_identity anonymous; }',
    qr/"pprof_authz" needs "pprof_trusted_proxies"/, 'no trusted proxies');
check("location /a/ { pprof_authz envoy; pprof on; $ok }",
    qr/"pprof on" and "pprof_authz" cannot share a location/, 'beside pprof on');
check("location /a/ { pprof_authz envoy; $ok proxy_pass http://127.0.0.1:1; }",
    qr/"pprof_authz" cannot share a location with a content handler such as proxy_pass/,
    'proxy_pass after it');
check("location /a/ { proxy_pass http://127.0.0.1:1; pprof_authz envoy; $ok }",
    qr/pprof_authz.*cannot share a location with a content handler such as proxy_pass/,
    'proxy_pass before it');
check("location /a/ { return 200; pprof_authz envoy; $ok }", undef,
    'return is a rewrite, not a content handler: allowed, and it answers first');

check("location /a/ { pprof_authz envoy; pprof_authz_prefix /a/; $ok }",
    qr/pprof_authz_prefix "\/a\/" must start with '\/' and not end with one/,
    'prefix ending in /');
check("location /a/ { pprof_authz envoy; pprof_authz_prefix a; $ok }",
    qr/pprof_authz_prefix "a" must start with '\/'/, 'prefix without /');
check("location /a/ { pprof_authz envoy; pprof_authz_prefix /a; $ok }", undef,
    'prefix as Envoy writes path_prefix');

check("location /a/ { pprof_authz envoy; pprof_trusted_proxies 10.0.0.1/8; "
    . "pprof_identity anonymous; }", qr/"10.0.0.1\/8" has host bits set/,
    'a bad trusted proxy');

check("pprof_trusted_proxies 127.0.0.0/8; location /a/ { pprof_authz original; "
    . "pprof_identity xfcc; }", undef, 'trusted proxies inherited from the server');

my $out = check("location /a/ { pprof_authz envoy; $ok }", undef, 'no audit log');
like($out, qr/\[warn\].*a location with "pprof_authz" has no pprof_audit_log/,
    'no audit log: warned');

done_testing;
