#!/usr/bin/perl

# SPEC §3 stages 1-6 with real nginx, a real Go pprof target and real
# certificates: each stage's status, reason and body, identities from
# certificates, roles, and what the upstream receives.

use strict;
use warnings;

use Test::More;
use PprofTest;
use PprofGateway qw(roles_conf make_identities tls_server);

my $t = PprofTest->new;
make_identities($t);
$t->start_target;

my $pprof = "pprof on; pprof_max_seconds 2; proxy_pass http://%%TARGET%%;";

$t->write_config(roles_conf() . <<'CONF'
log_format pprof '$pprof_audit_id $pprof_decision $pprof_reason '
                 '$pprof_class $pprof_endpoint "$pprof_identity" '
                 '"$pprof_roles"';
access_log %%TESTDIR%%/pprof.log pprof;
CONF
    . tls_server('tls', 'optional', <<"CONF")
    location /debug/pprof/ { $pprof }
    location /more/debug/pprof/ {
        pprof on;
        pprof_prefix /more/debug/pprof/;
        pprof_role  traceonly trace;
        pprof_bind  dns-only.example viewer traceonly;
        proxy_pass http://%%TARGET%%/debug/pprof/;
    }
    location /dry/debug/pprof/ {
        pprof on;
        pprof_enforce off;
        pprof_prefix /dry/debug/pprof/;
        proxy_pass http://%%TARGET%%/debug/pprof/;
    }
CONF
    . tls_server('noca', 'optional_no_ca', "location /debug/pprof/ { $pprof }")
    . tls_server('allow', 'optional', <<"CONF")
    location /debug/pprof/ { pprof_allow 10.0.0.0/8 ::1/128; $pprof }
CONF
    . tls_server('realip', 'optional', <<"CONF")
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
    location /debug/pprof/ { pprof_allow 10.1.0.0/16; $pprof }
CONF
    . <<"CONF");
server {
    listen 127.0.0.1:%%PORT_PLAIN%%;
    server_name localhost;
    location /debug/pprof/ { $pprof }
    location /redir/debug/pprof/ {
        pprof on;
        pprof_tls redirect;
        pprof_prefix /redir/debug/pprof/;
        proxy_pass http://%%TARGET%%/debug/pprof/;
    }
}
CONF

$t->run;

my %seen_ids;

# One request; checks the audit id every touched response must carry.
sub req {
    my ($port, $path, %opts) = @_;
    my $r = $t->get($port, $path, %opts);
    my $id = $r->{headers}{'x-pprof-audit-id'} // '';
    ok($id =~ /^[0-9a-f]{32}$/, "$path: audit id present") or diag("id '$id'");
    ok(!$seen_ids{$id}++, "$path: audit id unique");
    return $r;
}

sub denied {
    my ($r, $status, $reason, $name) = @_;
    is($r->{status}, $status, "$name: $status");
    like($r->{body},
        qr/^pprof-gateway: \Q$reason\E: [^\n]+ \(audit id \Q$r->{headers}{'x-pprof-audit-id'}\E\)\n\z/,
        "$name: body names $reason and the audit id");
    is($r->{headers}{'x-go-pprof'}, '1', "$name: X-Go-Pprof");
    like($r->{headers}{'content-type'}, qr{^text/plain}, "$name: text/plain");
}

sub upstream_uris {
    my @u = map { "$_->{method} $_->{request_uri}" } $t->upstream_requests;
    $t->clear_upstream;
    return \@u;
}

# --- allowed requests, canonical forwarding ---------------------------------

my $r = req('tls', '/debug/pprof/heap', cert => 'oncall');
is($r->{status}, 200, 'oncall heap: 200');
like($r->{body}, qr/^\x1f\x8b/, 'oncall heap: a gzip profile');
is_deeply(upstream_uris(), ['GET /debug/pprof/heap'], 'heap forwarded as is');

$r = req('tls', '/debug/pprof/profile?seconds=1', cert => 'oncall');
is($r->{status}, 200, 'oncall profile: 200');
is_deeply(upstream_uris(), ['GET /debug/pprof/profile?seconds=1'],
    'profile forwarded with its seconds');

$r = req('tls', '/debug/pprof/profile', cert => 'oncall');
is($r->{status}, 200, 'profile without seconds: 200');
is_deeply(upstream_uris(), ['GET /debug/pprof/profile?seconds=2'],
    'absent seconds sent explicitly as min(30, pprof_max_seconds)');

$r = req('tls', '/debug/pprof/goroutine?debug=1&foo=bar&gc=1', cert => 'oncall');
is($r->{status}, 200, 'goroutine debug=1: 200');
like($r->{body}, qr/goroutine profile: total/, 'goroutine text');
is_deeply(upstream_uris(), ['GET /debug/pprof/goroutine?debug=1'],
    'unknown and inapplicable parameters dropped');

$r = req('tls', '/debug/pprof/', cert => 'viewer');
is($r->{status}, 200, 'viewer index: 200');
like($r->{body}, qr/<html>/i, 'index html');

$r = req('tls', '/debug/pprof/cmdline', cert => 'viewer');
is($r->{status}, 200, 'viewer cmdline: 200');
like($r->{body}, qr/pprof-target/, 'cmdline body');

$r = req('tls', '/debug/pprof/symbol', cert => 'viewer', method => 'POST',
    body => '0x401000');
is($r->{status}, 200, 'viewer POST symbol: 200');
is_deeply(upstream_uris(),
    ['GET /debug/pprof/', 'GET /debug/pprof/cmdline', 'POST /debug/pprof/symbol'],
    'viewer requests forwarded');

$r = req('tls', '/debug/pprof/heap', cert => 'oncall', method => 'HEAD');
is($r->{status}, 200, 'HEAD heap: 200');
is_deeply(upstream_uris(), ['HEAD /debug/pprof/heap'], 'HEAD forwarded');

# --- stage 1: endpoint and method -------------------------------------------

denied(req('tls', '/debug/pprof/heap/extra', cert => 'oncall'),
    404, 'unknown_endpoint', 'two segments');
$r = req('tls', '/debug/pprof/heap', cert => 'oncall', method => 'PUT', body => 'x');
denied($r, 405, 'method_not_allowed', 'PUT heap');
is($r->{headers}{allow}, 'GET, HEAD', 'Allow on 405');
$r = req('tls', '/debug/pprof/symbol', cert => 'oncall', method => 'DELETE');
is($r->{headers}{allow}, 'GET, HEAD, POST', 'Allow for symbol');
denied(req('tls', '/debug/pprof/heap', cert => 'oncall', method => 'POST', body => 'x'),
    405, 'method_not_allowed', 'POST heap');

# --- stage 2: transport -----------------------------------------------------

denied(req('plain', '/debug/pprof/cmdline', tls => 0), 403, 'tls_required',
    'plain HTTP');
$r = req('plain', '/redir/debug/pprof/heap?debug=1', tls => 0);
is($r->{status}, 308, 'redirect mode: 308');
is($r->{headers}{location}, 'https://localhost/redir/debug/pprof/heap?debug=1',
    'redirect Location');
denied(req('plain', '/redir/debug/pprof/symbol', tls => 0, method => 'POST',
    body => '0x1'), 403, 'tls_required', 'POST is not redirected');

# --- stage 3: address, after realip only ------------------------------------

denied(req('allow', '/debug/pprof/cmdline', cert => 'oncall'), 403,
    'address_denied', 'outside pprof_allow');
denied(req('allow', '/debug/pprof/cmdline', cert => 'oncall',
    headers => { 'X-Forwarded-For' => '10.0.0.1', 'X-Real-IP' => '10.0.0.1' }),
    403, 'address_denied', 'spoofed X-Forwarded-For from an untrusted peer');
is_deeply(upstream_uris(), [], 'address denials reached nothing');
denied(req('realip', '/debug/pprof/cmdline', cert => 'oncall'), 403,
    'address_denied', 'realip server, no header');
$r = req('realip', '/debug/pprof/cmdline', cert => 'oncall',
    headers => { 'X-Real-IP' => '10.1.2.3' });
is($r->{status}, 200, 'address from a trusted realip peer: 200');

# --- stage 4: authentication ------------------------------------------------

denied(req('tls', '/debug/pprof/cmdline'), 401, 'unauthenticated', 'no certificate');
$r = req('tls', '/debug/pprof/cmdline', headers => { Accept => 'application/json' });
is($r->{status}, 401, 'JSON denial: 401');
like($r->{headers}{'content-type'}, qr{^application/json}, 'JSON content type');
is($r->{body}, sprintf('{"error":"unauthenticated","message":"no credential was offered","audit_id":"%s"}' . "\n",
    $r->{headers}{'x-pprof-audit-id'}), 'JSON denial body');

# nginx itself refuses certificates it cannot verify under "optional".
$r = $t->get('tls', '/debug/pprof/cmdline', cert => 'impostor');
is($r->{status}, 400, 'untrusted CA under optional: nginx 400');
$r = $t->get('tls', '/debug/pprof/cmdline', cert => 'expired');
is($r->{status}, 400, 'expired certificate under optional: nginx 400');

# Under optional_no_ca the module sees the failed verification.
denied(req('noca', '/debug/pprof/cmdline', cert => 'impostor'), 401,
    'invalid_credential', 'untrusted CA carrying a trusted identity');
# optional_no_ca waives only CA errors: nginx still refuses an expired one.
is($t->get('noca', '/debug/pprof/cmdline', cert => 'expired')->{status}, 400,
    'expired certificate under optional_no_ca: nginx 400');
is(req('noca', '/debug/pprof/heap', cert => 'oncall')->{status}, 200,
    'optional_no_ca with a valid certificate: 200');

# --- stage 5: authorisation, identity rules ----------------------------------

denied(req('tls', '/debug/pprof/heap', cert => 'viewer'), 403, 'forbidden',
    'viewer heap');
denied(req('tls', '/debug/pprof/profile?seconds=1', cert => 'viewer'), 403,
    'forbidden', 'viewer profile');
denied(req('tls', '/debug/pprof/cmdline', cert => 'stranger'), 403,
    'forbidden', 'identity without a role');

# dns: no URI SAN, so the DNS SAN (not the CN "cn-only") is the identity.
is(req('tls', '/debug/pprof/heap', cert => 'dns')->{status}, 200,
    'DNS SAN identity bound to heap');
denied(req('tls', '/debug/pprof/heap?seconds=1', cert => 'dns'), 403,
    'forbidden', 'the heap permission does not grant a heap delta capture');
denied(req('tls', '/debug/pprof/cmdline', cert => 'dns'), 403, 'forbidden',
    'DNS identity has heap only');
# The URI SAN wins over an earlier DNS SAN.
denied(req('tls', '/debug/pprof/heap', cert => 'dns-then-uri'), 403,
    'forbidden', 'URI SAN chosen over DNS SAN');
is(req('tls', '/debug/pprof/cmdline', cert => 'cn')->{status}, 200,
    'CN identity when there is no SAN');
is_deeply(upstream_uris(), ['GET /debug/pprof/cmdline', 'GET /debug/pprof/heap',
    'GET /debug/pprof/heap', 'GET /debug/pprof/cmdline'],
    'only allowed requests reached the upstream');

# A location's own roles and binds add to the inherited ones.
is(req('tls', '/more/debug/pprof/cmdline', cert => 'dns')->{status}, 200,
    'location bind adds viewer to the DNS identity');
is(req('tls', '/more/debug/pprof/heap', cert => 'dns')->{status}, 200,
    'the inherited heaponly bind still applies');
is(req('tls', '/more/debug/pprof/trace?seconds=0.1', cert => 'dns')->{status},
    200, 'a role defined in the location');
denied(req('tls', '/more/debug/pprof/profile?seconds=1', cert => 'dns'), 403,
    'forbidden', 'nothing beyond what the roles grant');
is(req('tls', '/more/debug/pprof/cmdline', cert => 'viewer')->{status}, 200,
    'inherited binds apply in the location');
$t->clear_upstream;

# --- stage 6: parameters ----------------------------------------------------

for my $q ('seconds=1.5', 'seconds=abc', 'seconds=1&seconds=2', 'seconds=3',
    'seconds=0')
{
    denied(req('tls', "/debug/pprof/profile?$q", cert => 'oncall'), 400,
        'bad_parameter', "profile?$q");
}
denied(req('tls', '/debug/pprof/heap?debug=3', cert => 'oncall'), 400,
    'bad_parameter', 'debug=3');
denied(req('tls', '/debug/pprof/symbol', cert => 'viewer', method => 'POST',
    body => '0x1' x 30000), 400, 'bad_parameter', 'symbol body over 64 KiB');
is_deeply(upstream_uris(), [], 'no bad parameter reached the upstream');

# --- variables and dry run ----------------------------------------------------

$r = req('tls', '/dry/debug/pprof/heap?debug=1&x=y', cert => 'viewer');
is($r->{status}, 200, 'dry run: a forbidden request is forwarded');
$r = req('tls', '/dry/debug/pprof/cmdline');
is($r->{status}, 200, 'dry run: an unauthenticated request is forwarded');
is_deeply(upstream_uris(), ['GET /debug/pprof/heap?debug=1',
    'GET /debug/pprof/cmdline'], 'dry run forwards the canonical request');

$t->stop;
my @log = split /\n/, $t->read_file('pprof.log');
my %by_id = map { (split / /)[0] => $_ } @log;
like($log[0], qr/^[0-9a-f]{32} allow ok snapshot heap "spiffe:\/\/prod\.example\/ns\/sre\/alice" "oncall"$/,
    'variables of an allowed request');
ok((grep { /^\S+ deny forbidden snapshot heap "spiffe:\/\/prod\.example\/ns\/dev\/bob" "viewer"$/ } @log),
    'variables of a forbidden request');
ok((grep { /^\S+ deny unauthenticated cmdline cmdline "" ""$/ } @log),
    'variables of an unauthenticated request');
ok((grep { /^\S+ deny forbidden snapshot heap ".*bob" "viewer"$/ } @log) >= 2,
    'dry run records the decision it did not enforce');
is(scalar(keys %seen_ids), scalar(grep { /^[0-9a-f]{32} / } @log),
    'each logged request has its own audit id');

$t->done_testing_checks;
done_testing;
