#!/usr/bin/perl

# Self-test of the front-proxy rig (PprofFront): a Caddy and a second
# nginx in front of the Go target, started and stopped by the test, and
# the two recipes of docs/authorization-service.md that the suite runs
# (nginx auth_request, Caddy forward_auth), as printed there, against a
# stand-in authorization service. This pins what the real proxies send
# and what they do with each answer, without the module.

use strict;
use warnings;

use IO::Socket::INET;
use Test::More;
use PprofTest;
use PprofFront qw(front_nginx start_caddy recipe);

my $t = PprofTest->new(module => 0);
$t->start_target;

###############################################################################
# Caddy, reverse_proxy only

my $caddy = start_caddy($t, 'caddy', <<'CADDY');
http://:%%PORT_CADDY%% {
	reverse_proxy %%TARGET%%
}
CADDY

my $r = $t->get('caddy', '/debug/pprof/cmdline', tls => 0,
    headers => { 'X-Forwarded-For' => '10.6.6.6' });
is($r->{status}, 200, 'Caddy: cmdline through reverse_proxy');
like($r->{body}, qr/pprof-target\0-listen\0/, 'Caddy: the target\'s argv');
my @up = $t->upstream_requests;
is(scalar @up, 1, 'Caddy: one request reached the target');
is_deeply($up[0]{headers}{'x-forwarded-for'}, ['127.0.0.1'],
    'Caddy: X-Forwarded-For is the client only, the forged entry dropped');
ok(!-e $caddy->dir . '/config/caddy/autosave.json', 'Caddy saved no copy of its config');
ok(scalar(grep { ($_->{msg} // '') =~ /serving initial configuration/ } $caddy->log_entries),
    'Caddy logs into the test directory');
is($caddy->stop, 0, 'Caddy stops cleanly on TERM');
ok(!PprofTest::_port_open($t->port('caddy')), 'Caddy\'s port is closed after stop');

ok(!eval { start_caddy($t, 'broken', "http://:%%PORT_BROKEN%% {\n\tno_such_directive\n}\n"); 1 },
    'a bad Caddyfile dies');
like($@, qr/caddy adapt failed.*no_such_directive/s, '... naming the error');

my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)
    or die "listen: $!";
ok(!eval { start_caddy($t, 'taken', 'http://:' . $busy->sockport . " {\n\trespond ok\n}\n"); 1 },
    'a Caddy that cannot bind dies');
like($@, qr/caddy failed to start.*address already in use/s, '... with Caddy\'s own message');
close $busy;

###############################################################################
# A second nginx as the front

$t->clear_upstream;
my $front = front_nginx($t, 'front');
$front->write_config(<<'CONF');
server {
    listen 127.0.0.1:%%PORT_FRONT%%;
    location / { proxy_pass http://%%TARGET%%; }
}
CONF
$front->run;
$r = $front->get('front', '/debug/pprof/cmdline', tls => 0);
is($r->{status}, 200, 'front nginx: cmdline');
is(scalar(@up = $t->upstream_requests), 1, 'front nginx: the request reached the target');
$front->stop;

###############################################################################
# A stand-in authorization service for the recipes. It writes each check
# it gets to checks.log and answers by the endpoint named in the original
# URI: as `original` mode does when asked by nginx (401/403 and
# X-Pprof-Status), as `forward` mode does otherwise (the real status).

my %DENY = (
    profile   => [429, 'rate_limited',    "Retry-After: 16\r\n"],
    heap      => [401, 'unauthenticated', "WWW-Authenticate: Bearer realm=\"pprof\"\r\n"],
    goroutine => [403, 'forbidden',       ''],
    trace     => [500, 'internal_error',  ''],
);
$t->start_stub('authz', sub {
    my ($req) = @_;
    open my $fh, '>>', $t->path('checks.log') or die "checks.log: $!";
    print $fh "$req\n====\n";
    close $fh;
    my ($uri) = $req =~ /^X-(?:Original-URI|Forwarded-Uri): ([^\r]*)/mi;
    my ($ep) = ($uri // '') =~ m{^/debug/pprof/(\w*)};
    my $original = $req =~ /^X-Original-URI:/mi;
    if ($ep eq 'block') {   # a service that breaks auth_request's rules
        return "HTTP/1.1 429 Too Many\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    }
    my $d = $DENY{$ep};
    if (!$d) {
        return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pprof-Identity: spiffe://prod.example/ns/sre/alice\r\n"
            . "X-Pprof-Roles: oncall\r\nX-Pprof-Audit-Id: aid-$ep\r\nConnection: close\r\n\r\n";
    }
    my ($status, $reason, $extra) = @$d;
    my $body = "pprof-gateway: $reason: stand-in (audit id aid-$ep)\n";
    my $code = !$original ? $status : $status == 401 ? 401 : 403;
    return "HTTP/1.1 $code X\r\nContent-Type: text/plain\r\nContent-Length: " . length($body)
        . "\r\n${extra}X-Go-Pprof: 1\r\nX-Pprof-Audit-Id: aid-$ep\r\nX-Pprof-Status: $status\r\n"
        . "X-Pprof-Reason: $reason\r\nConnection: close\r\n\r\n$body";
});

# The checks the stand-in got since the last call, as { line, headers }.
sub checks {
    return () unless -e $t->path('checks.log');
    my @checks;
    for my $req (split /\n====\n/, $t->read_file('checks.log')) {
        my ($line, @lines) = split /\r\n/, $req;
        my %h;
        for (@lines) { push @{ $h{lc $1} }, $2 if /^([^:]+):\s*(.*)$/ }
        push @checks, { line => $line, headers => \%h };
    }
    unlink $t->path('checks.log');
    return @checks;
}

sub hdr { my ($c, $name) = @_; return join ', ', @{ $c->{headers}{$name} || [] } }

###############################################################################
# The Caddy forward_auth recipe

my $fa = start_caddy($t, 'forward', recipe($t, 'caddy-forward-auth',
    ':8080 {' => 'http://:' . $t->port('fa') . ' {',
    '127.0.0.1:9000' => '127.0.0.1:' . $t->port('authz'),
    '127.0.0.1:6060' => '127.0.0.1:' . $t->port('target')));

$t->clear_upstream;
$r = $t->get('fa', '/debug/pprof/symbol?x=1', tls => 0, headers => {
    'X-Forwarded-For' => '10.6.6.6', 'Authorization' => 'Bearer tok',
    'X-Pprof-Identity' => 'forged', 'X-Forwarded-Method' => 'DELETE',
    'X-Forwarded-Uri' => '/elsewhere' });
is($r->{status}, 200, 'Caddy recipe: an allowed request passes');
my ($c) = checks();
is($c->{line}, 'GET /pprof-authz/?x=1 HTTP/1.1', 'Caddy: the check is GET uri, with the client\'s query');
is(hdr($c, 'x-forwarded-method'), 'GET', 'Caddy: X-Forwarded-Method is the client\'s method, not the forged one');
is(hdr($c, 'x-forwarded-uri'), '/debug/pprof/symbol?x=1', 'Caddy: X-Forwarded-Uri is the client\'s path and query');
is(hdr($c, 'x-forwarded-for'), '127.0.0.1', 'Caddy: X-Forwarded-For is the client only');
is(hdr($c, 'x-forwarded-proto'), 'http', 'Caddy: X-Forwarded-Proto');
is(hdr($c, 'x-forwarded-host'), 'localhost', 'Caddy: X-Forwarded-Host is the client\'s Host');
is(hdr($c, 'authorization'), 'Bearer tok', 'Caddy: the client\'s Authorization goes to the check');
@up = $t->upstream_requests;
is(scalar @up, 1, 'Caddy: the allowed request reached the target');
is_deeply($up[0]{headers}{'x-pprof-identity'}, ['spiffe://prod.example/ns/sre/alice'],
    'Caddy: copy_headers replaces the client\'s X-Pprof-Identity');
is_deeply($up[0]{headers}{'x-pprof-roles'}, ['oncall'], 'Caddy: X-Pprof-Roles upstream');

$t->clear_upstream;
$r = $t->get('fa', '/debug/pprof/symbol', tls => 0, method => 'POST', body => 'k=v');
($c) = checks();
is(hdr($c, 'x-forwarded-method'), 'POST', 'Caddy: a POST is checked as POST');
ok(!hdr($c, 'content-length') && !hdr($c, 'transfer-encoding'), 'Caddy: the check carries no body');

$t->clear_upstream;
$r = $t->get('fa', '/debug/pprof/profile?seconds=5', tls => 0);
is($r->{status}, 429, 'Caddy: a denial reaches the client with its status');
is($r->{headers}{'retry-after'}, 16, 'Caddy: ... its Retry-After');
is($r->{headers}{'x-go-pprof'}, 1, 'Caddy: ... X-Go-Pprof');
like($r->{body}, qr/^pprof-gateway: rate_limited: stand-in \(audit id aid-profile\)$/, 'Caddy: ... its body');
$r = $t->get('fa', '/debug/pprof/trace', tls => 0);
is($r->{status}, 500, 'Caddy: a 5xx of the service is handed to the client too');
is(scalar(@up = $t->upstream_requests), 0, 'Caddy: denied requests never reached the target');
checks();

###############################################################################
# The nginx auth_request recipe

my $ng = front_nginx($t, 'ngfront');
$ng->write_config(recipe($t, 'nginx-auth-request',
    'listen 8080;' => 'listen 127.0.0.1:%%PORT_NG%%;',
    '127.0.0.1:9000' => '127.0.0.1:%%PORT_AUTHZ%%',
    '127.0.0.1:6060' => '%%TARGET%%'));
$ng->run;

$t->clear_upstream;
$r = $ng->get('ng', '/debug/pprof/cmdline?x=%41', tls => 0, headers => {
    'X-Forwarded-For' => '10.6.6.6', 'X-Pprof-Roles' => 'admin', 'Authorization' => 'Bearer tok' });
is($r->{status}, 200, 'nginx recipe: an allowed request passes');
is($r->{headers}{'x-pprof-audit-id'}, 'aid-cmdline', 'nginx recipe: the audit id reaches the client');
($c) = checks();
# nginx proxies with HTTP/1.0 by default before 1.29.7, with 1.1 since.
like($c->{line}, qr{^GET /pprof-authz/ HTTP/1\.[01]$}, 'nginx: the check goes to the configured URI');
is(hdr($c, 'x-original-uri'), '/debug/pprof/cmdline?x=%41', 'nginx: X-Original-URI is the raw request URI');
is(hdr($c, 'x-original-method'), 'GET', 'nginx: X-Original-Method');
is(hdr($c, 'x-forwarded-for'), '10.6.6.6, 127.0.0.1', 'nginx: the client\'s address comes last in X-Forwarded-For');
is(hdr($c, 'x-forwarded-proto'), 'http', 'nginx: X-Forwarded-Proto');
is(hdr($c, 'authorization'), 'Bearer tok', 'nginx: Authorization goes to the check');
@up = $t->upstream_requests;
is(scalar @up, 1, 'nginx recipe: the allowed request reached the target');
is_deeply($up[0]{headers}{'x-pprof-roles'}, ['oncall'], 'nginx recipe: X-Pprof-Roles is the service\'s, not the client\'s');

$t->clear_upstream;
$r = $ng->get('ng', '/debug/pprof/symbol', tls => 0, method => 'POST', body => 'k=v');
($c) = checks();
is(hdr($c, 'x-original-method'), 'POST', 'nginx: a POST is checked as POST');
ok(!hdr($c, 'content-length') && !hdr($c, 'transfer-encoding'), 'nginx: the check carries no body');

$t->clear_upstream;
$r = $ng->get('ng', '/debug/pprof/profile', tls => 0);
is($r->{status}, 429, 'nginx recipe: a rate limit reaches the client as 429, not 500');
is($r->{headers}{'retry-after'}, 16, 'nginx recipe: ... with Retry-After');
is($r->{headers}{'x-pprof-reason'}, 'rate_limited', 'nginx recipe: ... and X-Pprof-Reason');
is($r->{headers}{'x-go-pprof'}, 1, 'nginx recipe: ... and X-Go-Pprof');
is($r->{body}, "pprof-gateway: rate_limited (audit id aid-profile)\n", 'nginx recipe: ... and the reason');

$r = $ng->get('ng', '/debug/pprof/heap', tls => 0);
is($r->{status}, 401, 'nginx recipe: 401 stays 401');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="pprof"', 'nginx recipe: ... with one WWW-Authenticate');

$r = $ng->get('ng', '/debug/pprof/goroutine', tls => 0);
is($r->{status}, 403, 'nginx recipe: 403 forbidden');
ok(!exists $r->{headers}{'retry-after'}, 'nginx recipe: ... without an empty Retry-After');

$r = $ng->get('ng', '/debug/pprof/trace', tls => 0);
is($r->{status}, 403, 'nginx recipe: a status it does not list (500) is 403');
is($r->{headers}{'x-pprof-reason'}, 'internal_error', 'nginx recipe: ... with the real reason');

$r = $ng->get('ng', '/debug/pprof/block', tls => 0);
is($r->{status}, 500, 'nginx recipe: a status auth_request does not know is 500 (closed)');
is(scalar(@up = $t->upstream_requests), 0, 'nginx recipe: denied requests never reached the target');

# The service gone: both fronts fail closed.
$t->stop_stubs;
is($ng->get('ng', '/debug/pprof/cmdline', tls => 0)->{status}, 500, 'nginx: service down is 500');
is($t->get('fa', '/debug/pprof/cmdline', tls => 0)->{status}, 502, 'Caddy: service down is 502');
is(scalar(@up = $t->upstream_requests), 0, '... and the target was not asked');

is($fa->stop, 0, 'the forward_auth Caddy stops cleanly');
$ng->done_testing_checks(allow => qr/auth request unexpected status: 429|connect\(\) failed/);
done_testing;
