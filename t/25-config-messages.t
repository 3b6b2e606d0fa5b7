#!/usr/bin/perl

# What nginx -t tells an operator about common mistakes: settings of the
# server that defeat a location's identity sources, checks made once the
# whole configuration is read that name the directive's own line, and
# messages that say what to write instead.  The 401 of a certificate that
# was never requested says why in error.log.

use strict;
use warnings;

use Test::More;
use PprofTest;
use PprofGateway qw(tls_server);

my $t = PprofTest->new;
$t->pki;

my $pass = 'proxy_pass http://127.0.0.1:1;';
my $conf_path = $t->path('nginx.conf');

# "in FILE:LINE" of the first line of the configuration as written that
# matches $re, as nginx prints it.
sub at {
    my ($re) = @_;
    my @lines = split /\n/, $t->{config};
    for my $i (0 .. $#lines) {
        return "in $conf_path:" . ($i + 1) if $lines[$i] =~ $re;
    }
    die "at(): no line matches $re\n";
}

# nginx -t of $body: fails with exactly $msg at the line matching $line_re,
# or, with $line_re undef, at whatever line nginx names.
sub refused {
    my ($body, $msg, $line_re, $name) = @_;
    $t->write_config($body);
    my ($rc, $out) = $t->nginx_t;
    isnt($rc, 0, "$name: nginx -t fails");
    my $where = defined $line_re ? at($line_re) : "in \Q$conf_path\E:\\d+";
    like($out, qr/\[emerg\] (?:\d+#\d+: )?\Q$msg\E \Q$where\E$/m, "$name: message")
        or diag($out);
}

# nginx -t of $body succeeds; returns its warnings.
sub accepted {
    my ($body, $name) = @_;
    my $out = $t->config_is($body, undef, $name);
    return join "\n", grep { /\[warn\]/ } split /\n/, $out;
}

# A warning, exactly, at the line matching $line_re.
sub warns {
    my ($warnings, $msg, $line_re, $name) = @_;
    my $where = at($line_re);
    like($warnings, qr/\[warn\] \d+#\d+: \Q$msg\E \Q$where\E$/m, $name)
        or diag($warnings);
}

my $audit = 'pprof_audit_log %%TESTDIR%%/audit.jsonl;';
$t->write_file('jwks.json', '{"keys":[{"kty":"OKP","crv":"Ed25519",'
    . '"x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}');
$t->write_file('api.keys', ('0' x 64) . " parca\n");

###############################################################################
# ssl_verify_client against the identity sources

my $cert_off = "pprof_identity (default: cert) in location \"/debug/pprof/\" "
    . 'never sees a certificate: ssl_verify_client is off in this server; set '
    . '"ssl_verify_client optional" or "on", or name another source';

my $w = accepted("$audit\nserver { listen 127.0.0.1:%%PORT_P%%;\n"
    . "    location /debug/pprof/ {\n        pprof on;\n        $pass\n    }\n}",
    'default cert source on a server without TLS');
warns($w, $cert_off, qr/pprof on;/, '... warns at "pprof on", naming ssl_verify_client');

$w = accepted("$audit\n" . tls_server('s', 'off', "location /debug/pprof/ {\n"
    . "    pprof on; $pass\n}"), 'default cert source, ssl_verify_client off');
warns($w, $cert_off, qr/pprof on;/, '... warns');

$w = accepted("$audit\n" . tls_server('s', 'off', "pprof_identity jwt cert;\n"
    . "pprof_jwt_keys %%TESTDIR%%/jwks.json;\n"
    . "location /debug/pprof/ { pprof on; $pass }"),
    'cert listed at server level, ssl_verify_client off');
warns($w, 'pprof_identity cert in location "/debug/pprof/" never sees a '
    . 'certificate: ssl_verify_client is off in this server; set '
    . '"ssl_verify_client optional" or "on", or name another source',
    qr/pprof_identity jwt cert;/, '... warns at the pprof_identity line');

for my $verify (qw(on optional optional_no_ca)) {
    $w = accepted("$audit\n" . tls_server('s', $verify,
        "location /debug/pprof/ { pprof on; $pass }"),
        "cert source, ssl_verify_client $verify");
    is($w, '', '... without a warning');
}

$w = accepted("$audit\n" . tls_server('s', 'off',
    "location /debug/pprof/ { pprof on; pprof_identity anonymous; $pass }"),
    'no cert source, ssl_verify_client off');
is($w, '', '... without a warning');

# Two servers on one address: each is judged by its own setting.
$w = accepted("$audit\n" . <<'CONF' . tls_server('s', 'optional',
server {
    listen 127.0.0.1:%%PORT_S%% ssl default_server;
    server_name default.test;
    ssl_certificate %%TESTDIR%%/server.crt;
    ssl_certificate_key %%TESTDIR%%/server.key;
}
CONF
    "location /debug/pprof/ { pprof on; $pass }"),
    'SNI: the pprof server requests certificates, the default one does not');
is($w, '', '... without a warning');

my $keys = 'pprof_jwt_keys %%TESTDIR%%/jwks.json; pprof_api_keys %%TESTDIR%%/api.keys;';

for my $src (qw(jwt apikey)) {
    $w = accepted("$audit\n" . tls_server('s', 'on', "$keys\n"
        . "location /debug/pprof/ {\n    pprof on;\n    pprof_identity cert $src;\n"
        . "    $pass\n}"), "$src listed, ssl_verify_client on");
    warns($w, "pprof_identity $src in location \"/debug/pprof/\" is never "
        . 'reached without a client certificate: "ssl_verify_client on" in '
        . 'this server answers such clients 400 first; use '
        . '"ssl_verify_client optional"',
        qr/pprof_identity cert $src;/, '... warns, suggesting optional');
}

$w = accepted("$audit\n" . tls_server('s', 'optional', "$keys\n"
    . "location /debug/pprof/ { pprof on; pprof_identity cert jwt apikey; $pass }"),
    'jwt and apikey listed, ssl_verify_client optional');
is($w, '', '... without a warning');

# A plain HTTP server has no handshake in which to refuse anyone, whatever
# ssl_verify_client it inherits.
$w = accepted("$audit\nssl_verify_client on;\n" . bare_server("$keys\n"
    . "location /debug/pprof/ { pprof on; pprof_identity jwt apikey; $pass }"),
    'jwt and apikey, ssl_verify_client on from http, no TLS');
is($w, '', '... without a warning');

###############################################################################
# Checks made after the last line name the directive's own line

sub bare_server {
    my ($body) = @_;
    return "server {\n    listen 127.0.0.1:%%PORT_P%%;\n$body\n}\n";
}
sub server { return "$audit\n" . bare_server(@_) }
my $anon = 'pprof_identity anonymous;';

refused("pprof_role viewer index;\n"
    . server("pprof_bind alice veiwer;\nlocation /debug/pprof/ {\n"
        . "    pprof on; $anon\n    $pass\n}"),
    'pprof_bind: role "veiwer" is bound but never defined by pprof_role '
    . 'where location "/debug/pprof/" sees it',
    qr/pprof_bind alice veiwer/, 'undefined role');

refused(server("pprof_identity jwt;\nlocation /debug/pprof/ {\n"
        . "    pprof on;\n    $pass\n}"),
    'pprof_identity jwt needs pprof_jwt_keys', qr/pprof_identity jwt;/,
    'jwt without keys');

refused(server("location /debug/pprof/ {\n    pprof on;\n"
        . "    pprof_identity apikey;\n    $pass\n}"),
    'pprof_identity apikey needs pprof_api_keys', qr/pprof_identity apikey;/,
    'apikey without keys');

refused(server("pprof_identity jwt;\npprof_jwt_keys %%TESTDIR%%/jwks.json;\n"
        . 'pprof_jwt_identity_claim ' . ('c' x 128) . ";\n"
        . "location /debug/pprof/ {\n    pprof on;\n    $pass\n}"),
    'pprof_jwt_identity_claim, pprof_jwt_roles_claim: claim names must be 1 '
    . 'to 127 bytes, for pprof_identity jwt', qr/pprof_identity jwt;/,
    'a claim name too long');

refused("limit_req_zone \$binary_remote_addr zone=pprof:1m rate=1r/s;\n"
    . server("location /debug/pprof/ {\n    pprof on; $anon\n    $pass\n}"),
    'the shared memory zone "pprof" that this location needs is already '
    . 'declared for a different use: the module\'s zone is always named '
    . '"pprof", so rename the other zone', qr/pprof on;/,
    'another module took the zone\'s name');
refused("limit_req_zone \$binary_remote_addr zone=pprof:1m rate=1r/s;\n"
    . "$audit\n" . bare_server("location / {\n    $pass\n}"),
    'the shared memory zone "pprof" that pprof_audit_log needs is already '
    . 'declared for a different use: the module\'s zone is always named '
    . '"pprof", so rename the other zone', qr/pprof_audit_log/,
    'another module took the zone\'s name, only an audit log needs it');

refused(server("location /a/ {\n    pprof_trusted_proxies 127.0.0.1; $anon\n"
        . "    pprof on;\n    pprof_authz envoy;\n}"),
    '"pprof on" and "pprof_authz" cannot share a location: one proxies '
    . 'pprof, the other answers another proxy\'s checks',
    qr/pprof_authz envoy;/, 'pprof on beside pprof_authz');

refused(server("location /a/ {\n    $anon\n    pprof_authz envoy;\n}"),
    '"pprof_authz" needs "pprof_trusted_proxies": the addresses of the '
    . 'proxies that may ask', qr/pprof_authz envoy;/,
    'pprof_authz without trusted proxies');

refused(server("location /a/ {\n    pprof_trusted_proxies 127.0.0.1; $anon\n"
        . "    pprof_authz envoy;\n    $pass\n}"),
    '"pprof_authz" cannot share a location with a content handler such as '
    . 'proxy_pass: the proxy that asks forwards the request',
    qr/pprof_authz envoy;/, 'proxy_pass after pprof_authz');

refused("pprof_authz_prefix /a/;\n"
    . server("location /a/ {\n    pprof_trusted_proxies 127.0.0.1; $anon\n"
        . "    pprof_authz envoy;\n}"),
    'pprof_authz_prefix "/a/" must start with \'/\' and not end with one, '
    . 'as Envoy\'s path_prefix', qr/pprof_authz_prefix/,
    'pprof_authz_prefix at http level');

refused(server("location /debug/pprof/ {\n    pprof on; $anon\n"
        . "    proxy_pass http://127.0.0.1:1/debug/pprof;\n}"),
    'proxy_pass "http://127.0.0.1:1/debug/pprof" in a location with "pprof on" '
    . 'has a URI part that does not start and end with "/" or that has a '
    . 'query: the target would receive an endpoint or parameters the module '
    . 'did not print',
    qr/proxy_pass http/, 'a proxy_pass that rewrites the path');

$t->write_file('torn.jsonl', "not a record\n");
refused(server("location /debug/pprof/ {\n    pprof on; $anon\n"
        . "    pprof_audit_log %%TESTDIR%%/torn.jsonl;\n    $pass\n}"),
    'pprof_audit_log: audit log "' . $t->path('torn.jsonl') . '": the last '
    . 'line is not an audit record', qr/torn\.jsonl/,
    'an audit log that does not end in a record');

$w = accepted(bare_server("location /debug/pprof/ {\n    $anon\n"
    . "    pprof on;\n    $pass\n}"), 'no audit log');
warns($w, 'a location with "pprof on" has no pprof_audit_log: its requests '
    . 'leave no trail', qr/pprof on;/, '... warns at "pprof on"');

###############################################################################
# Messages that say what to write instead

refused('pprof_zone pprof:10m;', 'pprof_zone "pprof:10m" takes only a size, '
    . 'as in "pprof_zone 10m;": the zone\'s name is always "pprof"',
    qr/pprof_zone/, 'pprof_zone NAME:SIZE');
refused('pprof_zone ten;', 'pprof_zone "ten" is not a size, as in '
    . '"pprof_zone 10m;"', qr/pprof_zone/, 'pprof_zone not a size');
refused('pprof_zone 1k;', 'pprof_zone "1k" is smaller than the 32k (8 pages) '
    . 'a zone needs', qr/pprof_zone/, 'pprof_zone too small');

my $missing = $t->path('missing.pem');
refused("pprof_audit_signing_key $missing;", "pprof_audit_signing_key: "
    . "\"$missing\" cannot be opened (2: No such file or directory)",
    qr/pprof_audit_signing_key/, 'a missing signing key');
refused("pprof_audit_signing_key %%TESTDIR%%/server.key;",
    'pprof_audit_signing_key: "' . $t->path('server.key') . '" is not an '
    . 'Ed25519 private key in PEM ("openssl genpkey -algorithm ed25519" '
    . 'makes one)', qr/pprof_audit_signing_key/, 'an EC key as signing key');

my $nodir = $t->path('no-such-dir') . '/audit.jsonl';
refused(server("location /debug/pprof/ {\n    pprof on; $anon $pass\n"
        . "    pprof_audit_log $nodir;\n}"),
    "pprof_audit_log: \"$nodir\" cannot be opened for appending (2: No such "
    . 'file or directory)', qr/no-such-dir/, 'an audit log in no directory');

refused(server("location /debug/pprof/ {\n    pprof on; $anon $pass\n"
        . "    pprof_audit_log \"\";\n}"),
    '"pprof_audit_log" directive has an empty path: write a file path, '
    . '"syslog:server=..." or "off"', qr/pprof_audit_log ""/,
    'an empty audit log path');

# "nginx -s" only signals the running master: like nginx's own logs, the
# audit log is neither created nor opened by it.
{
    my $signalled = $t->path('signaller.jsonl');
    $t->write_config("pprof_audit_log $signalled;\n"
        . bare_server("location /debug/pprof/ {\n    pprof on; $anon $pass\n}"));
    my ($rc, $out) = $t->_capture({}, $ENV{PPROF_NGINX} || '/usr/sbin/nginx',
        '-s', 'reopen', '-p', $t->path(''), '-c', $conf_path);
    like($out, qr/signal process started/, 'nginx -s: the signaller ran')
        or diag($out);
    ok(!-e $signalled, 'nginx -s creates no audit log');
}

refused('pprof_jwt_keys %%TESTDIR%%/missing.json;', 'pprof_jwt_keys: "'
    . $t->path('missing.json') . '": cannot open: No such file or directory',
    qr/pprof_jwt_keys/, 'missing JWT keys');
refused('pprof_api_keys %%TESTDIR%%/missing.keys;', 'pprof_api_keys: "'
    . $t->path('missing.keys') . '": cannot open: No such file or directory',
    qr/pprof_api_keys/, 'missing API keys');

refused(server("location /debug/pprof/ {\n    pprof on; $anon $pass\n"
        . "    pprof_bind ~**x viewer;\n}"),
    'pprof_bind: bad pattern "~**x": quantifier does not follow a repeatable '
    . 'item at offset 0', qr/pprof_bind/, 'a bad case-insensitive regex');

$w = accepted("pprof_role viewer cmdline;\n" . server("location /debug/pprof/ {\n"
    . "    pprof on; $anon $pass\n    pprof_bind ~*^ANONYMOUS\$ viewer;\n}"),
    '"~*" is a case-insensitive regex, as in nginx');
is($w, '', '... without a warning');

###############################################################################
# At request time: why no certificate came, and "~*" binding

$t->start_target;
$t->client_cert('alice', subject => '/CN=alice');

my $loc = "location /debug/pprof/ { pprof on; "
    . "pprof_bind alice viewer; proxy_pass http://%%TARGET%%/debug/pprof/; }";

$t->write_config("$audit\n" . <<"CONF"
pprof_role viewer cmdline;
server {
    listen 127.0.0.1:%%PORT_P%%;
    pprof_tls off;
    $loc
    location /ci/debug/pprof/ {
        pprof on;
        pprof_prefix /ci/debug/pprof/;
        pprof_identity anonymous;
        pprof_bind ~*^ANONYMOUS\$ viewer;
        proxy_pass http://%%TARGET%%/debug/pprof/;
    }
    location /cs/debug/pprof/ {
        pprof on;
        pprof_prefix /cs/debug/pprof/;
        pprof_identity anonymous;
        pprof_bind ~^ANONYMOUS\$ viewer;
        proxy_pass http://%%TARGET%%/debug/pprof/;
    }
    location /d/debug/pprof/ {
        pprof on;
        pprof_prefix /d/debug/pprof/;
        pprof_identity anonymous;
        pprof_role heaper heap;
        pprof_bind anonymous heaper;
        proxy_pass http://%%TARGET%%/debug/pprof/;
    }
}
CONF
    . tls_server('off', 'off', $loc) . <<'CONF' . tls_server('s', 'optional', $loc));
server {
    listen 127.0.0.1:%%PORT_S%% ssl default_server;
    server_name default.test;
    ssl_certificate %%TESTDIR%%/server.crt;
    ssl_certificate_key %%TESTDIR%%/server.key;
    location / { return 404; }
}
CONF
$t->run;

# The error.log lines a request added.
sub logged {
    my ($request) = @_;
    my $before = length $t->error_log;
    my $r = $request->();
    return ($r, substr($t->error_log, $before));
}

my ($r, $log) = logged(sub { $t->get('p', '/debug/pprof/cmdline', tls => 0) });
is($r->{status}, 401, 'plain HTTP, cert source: 401');
like($log, qr/\] \d+#\d+: \*\d+ pprof: unauthenticated: no certificate can be offered: this connection is not TLS, audit id/,
    '... its log line says why');

($r, $log) = logged(sub { $t->get('off', '/debug/pprof/cmdline', cert => 'alice') });
is($r->{status}, 401, 'ssl_verify_client off, a certificate sent: 401');
like($log, qr/\] \d+#\d+: \*\d+ pprof: unauthenticated: certificates are not requested: ssl_verify_client is off in this server, audit id/,
    '... its log line points at ssl_verify_client');

($r, $log) = logged(sub { $t->get('s', '/debug/pprof/cmdline') });
is($r->{status}, 401, 'SNI names the pprof server, no certificate: 401');
like($log, qr/\] \d+#\d+: \*\d+ pprof: unauthenticated, audit id/,
    '... and no hint: certificates were requested');

($r, $log) = logged(sub { $t->get('s', '/debug/pprof/cmdline', cert => 'alice') });
is($r->{status}, 200, 'SNI names the pprof server, a certificate: 200');

# curl sends no SNI to an address: the default server's handshake, which
# asks for no certificate, then the Host's server.
my $before = length $t->error_log;
my ($rc, $out) = $t->curl({ cert => 'alice' }, '-o', '/dev/null', '-w', '%{http_code}',
    '-H', 'Host: localhost', 'https://127.0.0.1:' . $t->port('s') . '/debug/pprof/cmdline');
is($out, '401', 'no SNI, a certificate offered: 401');
like(substr($t->error_log, $before), qr/pprof: unauthenticated: certificates are not requested on this connection: its TLS handshake chose a server where ssl_verify_client is off \(no SNI, or another name\), audit id/,
    '... its log line says the handshake was another server\'s');

is($t->get('p', '/ci/debug/pprof/cmdline', tls => 0)->{status}, 200,
    '"~*^ANONYMOUS$" binds "anonymous"');
is($t->get('p', '/cs/debug/pprof/cmdline', tls => 0)->{status}, 403,
    '"~^ANONYMOUS$" does not');

# The log line says what the client is told, not only the reason.
($r, $log) = logged(sub { $t->get('p', '/d/debug/pprof/heap?debug=9', tls => 0) });
is($r->{status}, 400, 'a bad parameter: 400');
like($log, qr/\] \d+#\d+: \*\d+ pprof: bad_parameter: debug must be 0, 1 or 2, audit id/,
    '... its log line names the parameter and its limit');

$t->done_testing_checks(allow => qr/torn\.jsonl/);
done_testing;
