#!/usr/bin/perl

# pprof_authz: the gateway as the authorization service of real front
# proxies in front of the Go target (a second nginx with the auth_request
# recipe, Caddy with forward_auth, both as printed in
# docs/authorization-service.md), and of Envoy, whose check requests are
# sent with curl exactly as Envoy's HTTP ext_authz client builds them
# (design note (au)). Hostile input is the proxies' headers.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use JSON::PP;
use Test::More;
use PprofTest;
use PprofFront qw(front_nginx start_caddy recipe);

my $ONCALL = 'oncall-key-0123456789';
my $VIEWER = 'viewer-key-0123456789';
my $ISTIO_BY = 'By=spiffe://cluster.local/ns/payments/sa/payments-api;'
    . 'Hash=c0ee977c4eea8dd88255e573c4dc54183f56182ad8a7cc1f30da5652ef9653e5';

my $t = PprofTest->new;
$t->start_target;
$t->write_file('api.keys', sha256_hex($ONCALL) . " sre-alice oncall\n"
    . sha256_hex($VIEWER) . " dev-bob viewer\n");

# One gateway server per mode, each with its own state, and a pprof on
# location behind an "Envoy sidecar" for xfcc in proxy mode.
my $common = <<'LOC';
        pprof_trusted_proxies 127.0.0.1;
        pprof_tls off;
        pprof_identity xfcc apikey;
        pprof_api_keys %%TESTDIR%%/api.keys;
        pprof_allow 127.0.0.0/8 10.1.0.0/16;
        pprof_max_seconds 10;
LOC
$t->write_config(<<"CONF");
pprof_role viewer index cmdline symbol;
pprof_role oncall index cmdline symbol snapshot capture;
pprof_bind ~^spiffe://cluster\\.local/ns/sre/ oncall;
pprof_bind cn-only viewer;
pprof_rate capture 1r/m burst=0;
pprof_audit_log audit.jsonl;

server {
    listen 127.0.0.1:%%PORT_ORIGINAL%%;
    server_name original.test;
    location /pprof-authz/ {
        pprof_authz original;
$common    }
}
server {
    listen 127.0.0.1:%%PORT_FORWARD%%;
    server_name forward.test;
    location /pprof-authz/ {
        pprof_authz forward;
$common    }
}
server {
    listen 127.0.0.1:%%PORT_ENVOY%%;
    server_name envoy.test;
    location /pprof-authz/ {
        pprof_authz envoy;
        pprof_authz_prefix /pprof-authz;
$common    }
}
server {
    listen 127.0.0.1:%%PORT_SIDECAR%%;
    server_name sidecar.test;
    pprof_tls off;
    location /debug/pprof/ {
        pprof on;
        pprof_trusted_proxies 127.0.0.1;
        pprof_identity xfcc;
        proxy_pass http://%%TARGET%%;
    }
}
CONF
my ($rc, $out) = $t->nginx_t;
is($rc, 0, 'nginx -t accepts pprof_authz original|forward|envoy and xfcc') or diag($out);
$t->run;

my $front = front_nginx($t, 'front');
$front->write_config(recipe($t, 'nginx-auth-request',
    'listen 8080;' => 'listen 127.0.0.1:%%PORT_FRONT%%;',
    '127.0.0.1:9000' => '127.0.0.1:%%PORT_ORIGINAL%%',
    '127.0.0.1:6060' => '%%TARGET%%'));
$front->run;

my $caddy = start_caddy($t, 'caddy', recipe($t, 'caddy-forward-auth',
    ':8080 {' => 'http://:' . $t->port('caddy') . ' {',
    '127.0.0.1:9000' => '127.0.0.1:' . $t->port('forward'),
    '127.0.0.1:6060' => '127.0.0.1:' . $t->port('target')));

sub key { return { Authorization => "Bearer $_[0]" } }

sub reached {
    my ($path) = @_;
    return scalar grep { $_->{request_uri} eq $path } $t->upstream_requests;
}

my $json = JSON::PP->new;
sub records {
    return map { $json->decode($_) } grep { length } split /\n/, $t->settled_file('audit.jsonl');
}
sub record_of {
    my ($id) = @_;
    my @r = grep { $_->{audit_id} eq ($id // '') } records();
    return $r[0];
}

###############################################################################
# nginx auth_request in front (original mode)

$t->clear_upstream;
my $r = $front->get('front', '/debug/pprof/cmdline', tls => 0,
    headers => { %{ key($VIEWER) }, 'X-Pprof-Roles' => 'oncall' });
is($r->{status}, 200, 'front nginx: an allowed cmdline passes');
is(reached('/debug/pprof/cmdline'), 1, 'front nginx: ... and reached the target');
my ($up) = $t->upstream_requests;
is_deeply($up->{headers}{'x-pprof-identity'}, ['dev-bob'], 'front nginx: the identity goes upstream');
is_deeply($up->{headers}{'x-pprof-roles'}, ['viewer'], 'front nginx: the gateway\'s roles, not the client\'s');
my $rec = record_of($r->{headers}{'x-pprof-audit-id'});
ok($rec, 'front nginx: the audit id names a record');
is($rec->{mode}, 'authz', 'record: mode authz');
is($rec->{proxy}, '127.0.0.1', 'record: proxy');
is($rec->{stage}, 'decision', 'record: a decision record');

$t->clear_upstream;
$r = $front->get('front', '/debug/pprof/profile?seconds=1', tls => 0, headers => key($ONCALL));
is($r->{status}, 200, 'front nginx: the first capture passes');
$r = $front->get('front', '/debug/pprof/profile?seconds=1', tls => 0, headers => key($ONCALL));
is($r->{status}, 429, 'front nginx: a rate limit reaches the client as 429, not 500');
like($r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, 'front nginx: ... with Retry-After');
like($r->{body}, qr/^pprof-gateway: rate_limited/, 'front nginx: ... and the reason');
is(reached('/debug/pprof/profile?seconds=1'), 1, 'front nginx: only the allowed capture reached the target');

$r = $front->get('front', '/debug/pprof/cmdline', tls => 0);
is($r->{status}, 401, 'front nginx: no credential is 401');
$r = $front->get('front', '/debug/pprof/heap', tls => 0, headers => key($VIEWER));
is($r->{status}, 403, 'front nginx: a viewer asking for heap is 403');
is($r->{headers}{'x-pprof-reason'}, 'forbidden', 'front nginx: ... forbidden');
$front->clear_upstream;

###############################################################################
# original mode, checks sent directly as nginx's auth_request builds them

sub original {
    my (%h) = @_;
    my $body = delete $h{_body};
    return $t->get('original', '/pprof-authz/', tls => 0, headers => \%h,
        defined $body ? (body => $body) : ());
}

$r = original('X-Original-URI' => '/debug/pprof/cmdline', 'X-Original-Method' => 'GET');
is($r->{status}, 401, 'original: no credential is 401');
is($r->{headers}{'x-pprof-status'}, 401, 'original: X-Pprof-Status 401');
is($r->{headers}{'x-pprof-reason'}, 'unauthenticated', 'original: X-Pprof-Reason');

$r = original('X-Original-URI' => '/debug/pprof/profile?seconds=1', 'X-Original-Method' => 'GET', %{ key($ONCALL) });
is($r->{status}, 403, 'original: a rate limit is 403 for auth_request');
is($r->{headers}{'x-pprof-status'}, 429, 'original: ... X-Pprof-Status 429');
like($r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, 'original: ... with Retry-After');

$r = original('X-Original-URL' => 'https://elsewhere.example/debug/pprof/cmdline',
    'X-Original-Method' => 'GET', %{ key($VIEWER) });
is($r->{status}, 200, 'original: X-Original-URL naming another host: only its path counts');
is($r->{headers}{'x-pprof-identity'}, 'dev-bob', 'original: ... identity header');

# The proxy forwards the raw path: one the target could read otherwise
# than the gateway is refused, not normalised.
$r = original('X-Original-URL' => 'http://h/debug/pprof/x/../heap', 'X-Original-Method' => 'GET', %{ key($VIEWER) });
is($r->{headers}{'x-pprof-status'}, 400, 'original: a path trick in X-Original-URL is refused');
is($r->{headers}{'x-pprof-reason'}, 'bad_parameter', 'original: ... bad_parameter');
$r = original('X-Original-URI' => '/debug/pprof/../../admin', 'X-Original-Method' => 'GET', %{ key($ONCALL) });
is($r->{headers}{'x-pprof-status'}, 400, 'original: a path leaving the prefix by .. is refused');
$r = original('X-Original-URI' => '/admin/debug/pprof/heap', 'X-Original-Method' => 'GET', %{ key($ONCALL) });
is($r->{headers}{'x-pprof-status'}, 404, 'original: a path outside the prefix is 404 unknown_endpoint');

$r = original('X-Original-URI' => '/debug/pprof/cmdline', %{ key($VIEWER) });
is($r->{headers}{'x-pprof-status'}, 400, 'original: a missing X-Original-Method is 400, never a guess');
is($r->{headers}{'x-pprof-reason'}, 'bad_parameter', 'original: ... bad_parameter');
$r = original('X-Original-URI' => '/debug/pprof/cmdline', 'X-Original-Method' => ['GET', 'POST'], %{ key($VIEWER) });
is($r->{headers}{'x-pprof-status'}, 400, 'original: a repeated X-Original-Method is 400');
$r = original('X-Original-URI' => ['/debug/pprof/cmdline', '/debug/pprof/heap'], 'X-Original-Method' => 'GET', %{ key($ONCALL) });
is($r->{headers}{'x-pprof-status'}, 400, 'original: a repeated X-Original-URI is 400');
$r = original('X-Original-URI' => '/debug/pprof/cmdline', 'X-Original-Method' => 'GET', %{ key($VIEWER) }, _body => 'x=1');
isnt($r->{status}, 200, 'original: a check that carries a body is refused');
like($r->{headers}{'x-pprof-status'} // '', qr/^4\d\d$/, 'original: ... with a 4xx status');
ok(length($r->{headers}{'x-pprof-reason'} // ''), 'original: ... and a reason');

$r = original('X-Original-URI' => '/debug/pprof/heap?gc=1&debug=1', 'X-Original-Method' => 'GET', %{ key($ONCALL) });
is($r->{headers}{'x-pprof-status'}, 400, 'original: a query not in canonical order is 400');
like($r->{body}, qr/debug=1&gc=1/, 'original: ... and the message gives the canonical query');

# Forged X-Forwarded-For: the client prepends an allowed address; its real
# one (10.9.9.9, outside pprof_allow) is appended by the front.
$r = original('X-Original-URI' => '/debug/pprof/cmdline', 'X-Original-Method' => 'GET',
    'X-Forwarded-For' => '10.1.2.3, 10.9.9.9', %{ key($VIEWER) });
is($r->{headers}{'x-pprof-status'}, 403, 'original: a forged X-Forwarded-For entry is not the client');
is($r->{headers}{'x-pprof-reason'}, 'address_denied', 'original: ... address_denied');
is((record_of($r->{headers}{'x-pprof-audit-id'}) || {})->{client}, '10.9.9.9', 'record: client is the last untrusted entry');

###############################################################################
# Caddy forward_auth in front (forward mode)

$t->clear_upstream;
$r = $t->get('caddy', '/debug/pprof/cmdline', tls => 0, headers => key($VIEWER));
is($r->{status}, 200, 'Caddy: an allowed cmdline passes');
is(reached('/debug/pprof/cmdline'), 1, 'Caddy: ... and reached the target');
($up) = $t->upstream_requests;
is_deeply($up->{headers}{'x-pprof-identity'}, ['dev-bob'], 'Caddy: the identity goes upstream');

$r = $t->get('caddy', '/debug/pprof/heap?debug=1', tls => 0, headers => key($VIEWER));
is($r->{status}, 403, 'Caddy: a denial reaches the client with its real status');
like($r->{body}, qr/^pprof-gateway: forbidden: .*\(audit id \w+\)/, 'Caddy: ... and the gateway\'s body');
is($r->{headers}{'x-go-pprof'}, 1, 'Caddy: ... X-Go-Pprof');

$t->get('caddy', '/debug/pprof/trace?seconds=1', tls => 0, headers => key($ONCALL));
$r = $t->get('caddy', '/debug/pprof/trace?seconds=1', tls => 0, headers => key($ONCALL));
is($r->{status}, 429, 'Caddy: a rate limit is 429');
like($r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, 'Caddy: ... with Retry-After');
is(reached('/debug/pprof/heap?debug=1'), 0, 'Caddy: denied requests never reached the target');
is(reached('/debug/pprof/trace?seconds=1'), 1, 'Caddy: only the allowed trace did');

# Direct forward checks. Caddy copies the client's query onto the check,
# so the check's own path and query count for nothing.
sub forward {
    my ($path, %h) = @_;
    return $t->get('forward', $path, tls => 0, headers => \%h);
}
$r = forward('/pprof-authz/?seconds=99999', 'X-Forwarded-Method' => 'GET',
    'X-Forwarded-Uri' => '/debug/pprof/cmdline', %{ key($VIEWER) });
is($r->{status}, 200, 'forward: the check\'s own query is ignored');
$r = forward('/pprof-authz/', 'X-Forwarded-Method' => 'GET',
    'X-Forwarded-Uri' => '/debug/pprof/x/../heap', %{ key($VIEWER) });
is($r->{status}, 400, 'forward: X-Forwarded-Uri with .. is refused');
like($r->{body}, qr/bad_parameter/, 'forward: ... bad_parameter');
$r = forward('/pprof-authz/', 'X-Forwarded-Method' => 'GET',
    'X-Forwarded-Uri' => '/debug/pprof/x%2F..%2Fheap', %{ key($VIEWER) });
is($r->{status}, 400, 'forward: X-Forwarded-Uri with %2F is refused');
$r = forward('/pprof-authz/', 'X-Forwarded-Method' => 'GET',
    'X-Forwarded-Uri' => '/debug/pprof/..%2F..%2Fadmin', %{ key($ONCALL) });
is($r->{status}, 400, 'forward: %2F leaving the prefix is refused');
$r = forward('/pprof-authz/', 'X-Forwarded-Method' => 'GET',
    'X-Forwarded-Uri' => '/debug/pprof/heap%2Fx', %{ key($ONCALL) });
is($r->{status}, 400, 'forward: an encoded slash in an endpoint is refused');
$r = forward('/pprof-authz/', 'X-Forwarded-Uri' => '/debug/pprof/cmdline', %{ key($VIEWER) });
is($r->{status}, 400, 'forward: a missing X-Forwarded-Method is 400');
$r = forward('/pprof-authz/', 'X-Forwarded-Method' => ['GET', 'GET'],
    'X-Forwarded-Uri' => '/debug/pprof/cmdline', %{ key($VIEWER) });
is($r->{status}, 400, 'forward: a repeated X-Forwarded-Method is 400');

###############################################################################
# Envoy: check requests as Envoy's HTTP client builds them, sent with curl.
# The client's method; path_prefix + the client's path and query; Host is
# the client's authority; Content-Length: 0; Authorization and the
# allowed headers; x-envoy-internal and Envoy's own address appended to
# x-forwarded-for.

sub envoy {
    my ($method, $path, %o) = @_;
    my @h = ('Host: payments.example:8080', 'Content-Length: 0', 'x-envoy-internal: true',
        'x-forwarded-for: ' . join(',', @{ $o{xff} || ['10.1.2.3'] }, '127.0.0.1'),
        'x-forwarded-proto: ' . ($o{proto} // 'https'));
    push @h, "authorization: Bearer $o{key}" if $o{key};
    push @h, "x-forwarded-client-cert: $o{xfcc}" if $o{xfcc};
    my @args = ('--http1.1', '-i', '--path-as-is', '-X', $method, map { ('-H', $_) } @h);
    push @args, '-I' if $method eq 'HEAD';
    push @args, '--interface', $o{from} if $o{from};
    my ($rc, $out) = $t->curl({ cacert => undef }, @args,
        'http://127.0.0.1:' . $t->port('envoy') . "/pprof-authz$path");
    die "curl failed ($rc): $out" if $rc != 0;
    my ($resp) = $t->parse_responses($out, [$method]);
    return $resp;
}

my $sre  = "$ISTIO_BY;Subject=\"\";URI=spiffe://cluster.local/ns/sre/sa/oncall";
$r = envoy('GET', '/debug/pprof/heap?debug=1', xfcc => $sre);
is($r->{status}, 200, 'envoy: an Istio XFCC identity is allowed');
is($r->{body}, '', 'envoy: allow has an empty body');
is($r->{headers}{'x-pprof-identity'}, 'spiffe://cluster.local/ns/sre/sa/oncall', 'envoy: X-Pprof-Identity keeps : and /');
like($r->{headers}{'x-pprof-roles'} // '', qr/(?:^|,)oncall(?:,|$)/, 'envoy: X-Pprof-Roles');
$rec = record_of($r->{headers}{'x-pprof-audit-id'});
is($rec->{mode}, 'authz', 'envoy record: mode authz');
is($rec->{proxy}, '127.0.0.1', 'envoy record: proxy');
is($rec->{client}, '10.1.2.3', 'envoy record: client from x-forwarded-for, Envoy\'s own entry skipped');
is($rec->{tls}, 'https', 'envoy record: tls from x-forwarded-proto');
is($rec->{auth}, 'xfcc', 'envoy record: auth xfcc');

$r = envoy('HEAD', '/debug/pprof/cmdline', xfcc => $sre);
is($r->{status}, 200, 'envoy: a HEAD is checked as HEAD');
$r = envoy('POST', '/debug/pprof/cmdline', xfcc => $sre);
is($r->{status}, 405, 'envoy: the check\'s method is the client\'s (POST cmdline is 405)');

$r = envoy('GET', '/debug/pprof/cmdline');
is($r->{status}, 401, 'envoy: no identity is 401, the real status');
is($r->{headers}{'x-go-pprof'}, 1, 'envoy: ... X-Go-Pprof for pprof tools');
like($r->{body}, qr/^pprof-gateway: unauthenticated: /, 'envoy: ... the gateway\'s body');
ok($r->{headers}{'x-pprof-audit-id'}, 'envoy: ... X-Pprof-Audit-Id');

$r = envoy('GET', '/debug/pprof/heap?gc=1&debug=1', xfcc => $sre);
is($r->{status}, 400, 'envoy: a non-canonical query is 400');
like($r->{body}, qr/debug=1&gc=1/, 'envoy: ... the message gives the canonical query');
$r = envoy('GET', '/debug/pprof/profile', xfcc => $sre);
is($r->{status}, 400, 'envoy: profile without seconds counts as 30 s, over pprof_max_seconds 10');

# XFCC: several elements, the nearest proxy's (the last) counts; quoted
# commas, semicolons and escaped quotes in Subject; no URI in an element.
my $evil = "By=spiffe://x/y;URI=spiffe://cluster.local/ns/sre/sa/forged";
$r = envoy('GET', '/debug/pprof/heap', xfcc => "$evil,$ISTIO_BY;Subject=\"CN=x, O=\\\"a,b;c\\\"\";URI=spiffe://cluster.local/ns/dev/sa/bob");
is($r->{status}, 403, 'envoy: of several XFCC elements the last counts (dev: no heap)');
is($r->{headers}{'x-pprof-identity'}, undef, 'envoy: ... no identity header on a denial');
$r = envoy('GET', '/debug/pprof/cmdline', xfcc => "$ISTIO_BY;Subject=\"O=x\\,y\\;z,CN=cn-only\"");
is($r->{status}, 200, 'envoy: an element with no URI gives the Subject\'s CN, escaped commas and all');
is($r->{headers}{'x-pprof-identity'}, 'cn-only', 'envoy: ... identity cn-only');
$r = envoy('GET', '/debug/pprof/cmdline', xfcc => "$ISTIO_BY;Subject=\"O=\\\"x,y;z\\\",CN=cn-only\"");
isnt($r->{status}, 200, 'envoy: a DN value in quotes (not what Envoy writes) is no identity');
$r = envoy('GET', '/debug/pprof/cmdline', xfcc => "$ISTIO_BY;Subject=\"CN=a,b\";URI");
isnt($r->{status}, 200, 'envoy: a malformed XFCC element is not an identity');

# Forged x-forwarded-for: the client's own entry before its real address.
$r = envoy('GET', '/debug/pprof/cmdline', xfcc => $sre, xff => ['10.1.2.3', '10.9.9.9']);
is($r->{status}, 403, 'envoy: a forged x-forwarded-for entry is not the client');
is((record_of($r->{headers}{'x-pprof-audit-id'}) || {})->{client}, '10.9.9.9', 'envoy record: the real client');

# A check from outside pprof_trusted_proxies: untrusted_proxy, its XFCC unread.
$r = envoy('GET', '/debug/pprof/cmdline', xfcc => $sre, from => '127.0.0.2');
is($r->{status}, 403, 'envoy: a check from an untrusted address is 403');
like($r->{body}, qr/^pprof-gateway: untrusted_proxy/, 'envoy: ... untrusted_proxy');
$rec = record_of($r->{headers}{'x-pprof-audit-id'}) || {};
is($rec->{proxy}, '127.0.0.2', 'record: proxy is that address');
is($rec->{client}, '127.0.0.2', 'record: ... its x-forwarded-for unread: the client is the proxy');
is($rec->{tls}, undef, 'record: ... its x-forwarded-proto unread');
is($rec->{identity}, undef, 'record: ... its XFCC unread');

###############################################################################
# xfcc beside pprof on: believed only from a trusted proxy

$t->clear_upstream;
my ($crc, $cout) = $t->curl({ cacert => undef }, '-o', '/dev/null', '-w', '%{http_code}',
    '-H', "X-Forwarded-Client-Cert: $sre", '--interface', '127.0.0.2',
    'http://127.0.0.1:' . $t->port('sidecar') . '/debug/pprof/cmdline');
is($cout, '401', 'sidecar: XFCC from an untrusted address is ignored (401)');
is(reached('/debug/pprof/cmdline'), 0, 'sidecar: ... and nothing reached the target');
like($t->error_log, qr/X-Forwarded-Client-Cert.*127\.0\.0\.2/i, 'sidecar: ... and the ignored header is logged');
($crc, $cout) = $t->curl({ cacert => undef }, '-o', '/dev/null', '-w', '%{http_code}',
    '-H', "X-Forwarded-Client-Cert: $sre",
    'http://127.0.0.1:' . $t->port('sidecar') . '/debug/pprof/cmdline');
is($cout, '200', 'sidecar: XFCC from the trusted sidecar is the identity');
is(reached('/debug/pprof/cmdline'), 1, 'sidecar: ... and the request reached the target');

###############################################################################
# The trail: every check a decision record of mode authz with its proxy,
# never a response record.

my @authz = grep { ($_->{mode} // '') eq 'authz' } records();
ok(@authz >= 30, 'audit: the checks left authz records (' . scalar(@authz) . ')');
is(scalar(grep { $_->{stage} ne 'decision' } @authz), 0, 'audit: no response record in authz mode');
is(scalar(grep { !defined $_->{proxy} } @authz), 0, 'audit: every authz record names its proxy');

is($caddy->stop, 0, 'Caddy stopped cleanly');
$front->done_testing_checks;
$t->done_testing_checks;
done_testing;
