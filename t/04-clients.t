#!/usr/bin/perl

# Real clients end to end: curl with a client certificate saves profiles
# that `go tool pprof` opens, and `go tool pprof URL` (which sends no client
# certificate) prints the gateway's reason thanks to X-Go-Pprof.

use strict;
use warnings;

use Test::More;
use PprofTest;
use PprofGateway qw(roles_conf make_identities tls_server);

my $t = PprofTest->new;
make_identities($t);
$t->start_target;

my $pprof = "pprof on; proxy_pass http://%%TARGET%%;";
my $h2 = tls_server('h2', 'optional', "location /debug/pprof/ { $pprof }");
$h2 =~ s/ ssl;/ ssl http2;/;

$t->write_config(roles_conf()
    . tls_server('tls', 'optional', "location /debug/pprof/ { $pprof }")
    . $h2
    . "server { listen 127.0.0.1:%%PORT_PLAIN%%; location /debug/pprof/ { $pprof } }\n");
$t->run;

# go tool pprof, offline, with its caches in the test directory.
sub pprof_tool {
    my (@args) = @_;
    local $ENV{PPROF_TMPDIR} = $t->testdir;
    local $ENV{HOME} = $t->testdir;
    local $ENV{GOCACHE} = $t->path('gocache');
    local $ENV{SSL_CERT_FILE} = $t->path('ca.crt');
    my $out = qx{cd '@{[$t->testdir]}' && go tool pprof @args 2>&1};
    return ($? >> 8, $out);
}

my ($rc, $out) = $t->curl({ cert => 'oncall' }, '-f', '-o', 'heap.pb.gz',
    $t->url('tls', '/debug/pprof/heap'));
is($rc, 0, 'curl fetched heap with the oncall certificate') or diag($out);
($rc, $out) = pprof_tool('-top', '-symbolize=none', 'heap.pb.gz');
is($rc, 0, 'go tool pprof opens the heap profile') or diag($out);
like($out, qr/Type: inuse_space/, 'heap profile type');

($rc, $out) = $t->curl({ cert => 'oncall' }, '-f', '-o', 'cpu.pb.gz',
    $t->url('tls', '/debug/pprof/profile?seconds=1'));
is($rc, 0, 'curl fetched a 1-second CPU profile') or diag($out);
($rc, $out) = pprof_tool('-top', '-symbolize=none', 'cpu.pb.gz');
is($rc, 0, 'go tool pprof opens the CPU profile') or diag($out);
like($out, qr/Type: cpu/, 'CPU profile type');
# Go times the profile from when its writer goroutine starts, which a
# loaded machine delays: a 1-second capture may read 999ms.
like($out, qr/Duration: (?:1(?:\.\d+)?s|9\d\d(?:\.\d+)?ms),/,
    'a 1-second capture');

($rc, $out) = $t->curl({ cert => 'viewer' }, '-w', '\n%{http_code}',
    $t->url('tls', '/debug/pprof/heap'));
like($out, qr/^pprof-gateway: forbidden: .* \(audit id [0-9a-f]{32}\)\n\n403$/,
    'curl shows a viewer the reason');

($rc, $out) = pprof_tool('-top', $t->url('tls', '/debug/pprof/heap'));
isnt($rc, 0, 'go tool pprof over HTTPS without a certificate fails');
like($out, qr/server response: 401 Unauthorized - pprof-gateway: unauthenticated: /,
    'go tool pprof prints the reason');

($rc, $out) = pprof_tool('-top', $t->url('plain', '/debug/pprof/heap', tls => 0));
like($out, qr/server response: 403 Forbidden - pprof-gateway: tls_required: /,
    'go tool pprof over plain HTTP: tls_required');

# HTTP/2: the same decisions, the same canonical request upstream.
$t->clear_upstream;
($rc, $out) = $t->curl({ cert => 'oncall' }, '--http2', '-D', '-', '-o', '/dev/null',
    '-H', 'Authorization: Bearer h2-secret', '-H', 'Cookie: s=1',
    $t->url('h2', '/debug/pprof/goroutine?debug=1&x=%41'));
like($out, qr{^HTTP/2 200}, 'HTTP/2: oncall goroutine 200') or diag($out);
like($out, qr/^x-pprof-audit-id: [0-9a-f]{32}\r?$/m, 'HTTP/2: audit id');
my ($up) = $t->upstream_requests;
is($up->{request_uri}, '/debug/pprof/goroutine?debug=1', 'HTTP/2: canonical request');
ok(!$up->{headers}{authorization} && !$up->{headers}{cookie},
    'HTTP/2: credentials stripped');

($rc, $out) = $t->curl({ cert => 'viewer' }, '--http2', '-w', '\n%{http_version} %{http_code}',
    $t->url('h2', '/debug/pprof/profile?seconds=1'));
like($out, qr/^pprof-gateway: forbidden: .*\n\n2 403$/, 'HTTP/2: viewer denied with the reason');

$t->done_testing_checks;
done_testing;
