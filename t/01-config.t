#!/usr/bin/perl

# nginx -t refuses bad directive arguments with a message naming the
# problem, and accepts the SPEC's own example shape.

use strict;
use warnings;

use Test::More;
use PprofTest;

my $t = PprofTest->new;

sub check { return $t->config_is(@_) }

my $loc = 'location /debug/pprof/ { pprof on; %s proxy_pass http://127.0.0.1:1; }';
sub server { "server { listen 127.0.0.1:%%PORT_X%%; " . sprintf($loc, $_[0]) . " }\n" }

my $roles = "pprof_role viewer index cmdline;\npprof_bind ~^spiffe://x/ viewer;\n";

check($roles . server(q{}), undef, q{minimal});

check(server('pprof_allow 10.0.0.0/33;'), qr/pprof_allow: "10.0.0.0\/33" has an invalid prefix length/, 'bad prefix length');
check(server('pprof_allow 10.0.0.1/8;'), qr/"10.0.0.1\/8" has host bits set/, 'host bits');
check(server('pprof_allow 10.0.0;'), qr/"10.0.0" is not an IPv4 or IPv6 address/, 'bad address');
check(server('pprof_allow fe80::zz/64;'), qr/"fe80::zz\/64" is not an IPv4 or IPv6 address/, 'bad IPv6');
check(server('pprof_allow 10.0.0.0/8 fd00::/8 ::1 all;'), undef, 'good CIDRs');

check("pprof_role viewer index;\npprof_bind ~^(unclosed viewer;\n" . server(''),
    qr/pprof_bind: bad pattern "~\^\(unclosed": missing closing parenthesis/, 'bad regex');
check("pprof_role viewer index snapshots;\n" . server(''),
    qr/pprof_role: unknown class or endpoint "snapshots"/, 'unknown class');
check("pprof_role viewer index Heap;\n" . server(''),
    qr/unknown class or endpoint "Heap"/, 'endpoint names are exact');
check("pprof_role capture index;\n" . server(''),
    qr/"capture" is a class or endpoint name, not a role name/, 'role named like a class');
check("pprof_role viewer index;\npprof_role viewer cmdline;\n" . server(''),
    qr/"viewer" is defined twice here/, 'role defined twice at one level');
check("pprof_role viewer index;\npprof_bind alice viewr;\n" . server(''),
    qr/role "viewr" is bound but never defined by pprof_role/, 'role bound but never defined');
check("pprof_bind alice oncall;\n" . server('pprof_role oncall capture;'),
    undef, 'bind at http level, role defined in the location');
check("pprof_bind ~spiffe viewer;\npprof_role viewer index;\n" . server(''),
    undef, 'unanchored regex is accepted');
my (undef, $warn) = $t->nginx_t;
like($warn, qr/\[warn\].*regex "~spiffe" is not anchored/, 'unanchored regex: warning');

check(server('pprof_identity cert cert;'), qr/pprof_identity: "cert" is listed twice/, 'duplicate source');
check(server('pprof_identity certificate;'), qr/pprof_identity: "certificate" is not an identity source/, 'unknown source');
check(server('pprof_identity jwt;'), qr/pprof_identity jwt needs pprof_jwt_keys/, 'jwt without keys');
check(server('pprof_identity apikey;'), qr/pprof_identity apikey needs pprof_api_keys/, 'apikey without a key file');
check(server('pprof_identity $;'), qr/pprof_identity: "\$" names no variable/, 'variable without a name');
check(server('pprof_identity $remote_user $http_x_user anonymous;'), undef, 'variables');

$t->write_file('keys.bad', "# keys\n" . ('a' x 64) . " alice oncall\n" . ('b' x 63) . " bob\n");
check(server('pprof_api_keys keys.bad;'), qr/pprof_api_keys: ".*keys.bad": line 3: the key digest is not 64 hex digits/, 'key file: line number');
$t->write_file('keys.dup', ('a' x 64) . " alice\n" . ('A' x 64) . " bob\n");
check(server('pprof_api_keys keys.dup;'), qr/line 2: the same key is listed twice/, 'key file: duplicate key');
check(server('pprof_api_keys missing.keys;'), qr/pprof_api_keys: ".*missing.keys": cannot open: No such file/, 'key file missing');
$t->write_file('jwks.bad', '{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}');
check(server('pprof_jwt_keys jwks.bad;'), qr/pprof_jwt_keys: ".*jwks.bad": JWKS key 1: EC key without valid "x" and "y"/, 'broken JWKS');
$t->write_file('jwks.none', '{"keys":[{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}]}');
check(server('pprof_jwt_keys jwks.none;'), qr/pprof_jwt_keys: ".*jwks.none": no usable key \(1 skipped\)/, 'JWKS without a usable key');
check(server('pprof_jwt_keys jwks.json;'), qr/pprof_jwt_keys: ".*jwks.json": cannot open/, 'JWKS missing');
$t->write_file('ed.jwks', '{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}');
check(server('pprof_identity jwt; pprof_jwt_keys ed.jwks; pprof_jwt_identity_claim "";'),
    qr/claim names must be 1 to 127 bytes/, 'empty identity claim name');
check(server('pprof_identity jwt; pprof_jwt_keys ed.jwks;'), undef, 'JWKS with an Ed25519 key');
$t->write_file('empty.keys', "# nobody yet\n");
my $warned = check(server('pprof_identity apikey; pprof_api_keys empty.keys;'), undef, 'empty key file');
like($warned, qr/\[warn\].*pprof_api_keys: ".*empty.keys" holds no key/, 'empty key file: warning');
check(server('pprof_identity cert anonymous;'), undef, 'cert then anonymous');

check(server('pprof_max_seconds 0;'), qr/value must be between 1 and 86400/, 'max_seconds 0');
check(server('pprof_max_seconds abc;'), qr/"pprof_max_seconds" directive invalid number/, q{max_seconds not a number});
check(server('pprof_tls maybe;'), qr/invalid value "maybe"/, 'pprof_tls value');
check(server('pprof_prefix debug;'), qr/pprof_prefix "debug" must start and end with "\/"/, 'prefix shape');
check(server('pprof_enforce perhaps;'), qr/invalid value "perhaps"/, 'pprof_enforce value');
check("pprof on;\n" . server(''), qr/"pprof" directive is not allowed here/, 'pprof only in a location');

# Audit trail.
check("pprof_audit_log a.jsonl;\npprof_audit_signing_key nokey.pem;\n" . server(''),
    qr/pprof_audit_signing_key: ".*nokey.pem" cannot be opened \(2: No such file or directory\)/, 'missing signing key');
system("cd @{[$t->testdir]} && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem 2>/dev/null");
check("pprof_audit_signing_key ec.pem;\n" . server(''), qr/is not an Ed25519 private key/, 'EC signing key');
check("pprof_audit_checkpoint 0;\n" . server(''), qr/value must be between 1 and 1000000/, 'checkpoint 0');
check(server('pprof_audit_checkpoint 10;'), qr/"pprof_audit_checkpoint" directive is not allowed here/, 'checkpoint only in http');
check(server('pprof_audit_log a.jsonl; pprof_audit_log b.jsonl;'), qr/"pprof_audit_log" directive is duplicate/, 'audit log twice');
check(server('pprof_audit_log syslog:server=;'), qr/syslog|server/, 'bad syslog target');
my $warned_audit = check(server(''), undef, 'no audit log');
like($warned_audit, qr/\[warn\].*has no pprof_audit_log/, 'nginx -t warns about a pprof location without an audit log');
check("pprof_audit_log a.jsonl;\n" . server('pprof_audit_required off;'), undef, 'audit log and required off');
$t->write_file('notours.jsonl', "hello world\n");
check("pprof_audit_log notours.jsonl;\n" . server(''),
    qr/pprof_audit_log: audit log ".*notours.jsonl": the last line is not an audit record/,
    'a log that is not ours is refused, not extended');

# Capture control.
check("pprof_zone 4k;\n" . server(''), qr/pprof_zone "4k" is smaller than the 32k \(8 pages\) a zone needs/, 'zone too small');
check("pprof_zone lots;\n" . server(''), qr/pprof_zone "lots" is not a size/, 'zone size not a size');
check("pprof_zone 1m;\npprof_zone 2m;\n" . server(''), qr/"pprof_zone" directive is duplicate/, 'zone twice');
check(server('pprof_zone 1m;'), qr/"pprof_zone" directive is not allowed here/, 'zone only in http');
check(server('pprof_rate captures 4r/m;'), qr/pprof_rate: "captures" is not a class/, 'rate: unknown class');
check(server('pprof_rate capture 4r/h;'), qr/pprof_rate: rate is not N r\/s or N r\/m/, 'rate: bad unit');
check(server('pprof_rate capture 0r/m;'), qr/pprof_rate: rate must be a whole number of requests from 1/, 'rate: zero');
check(server('pprof_rate capture 4r/m burst=x;'), qr/pprof_rate: burst is not burst=N/, 'rate: bad burst');
check(server('pprof_rate capture 4r/m; pprof_rate capture 5r/m;'), qr/class "capture" is set twice here/, 'rate: class twice');
check(server('pprof_rate capture 4r/m burst=2; pprof_rate snapshot off; pprof_rate cmdline 100r/s;'), undef, 'rates');
check(server('pprof_rate off;'), undef, 'rate off');
check(server('pprof_capture_concurrency 0;'), qr/value must be between 1 and 64/, 'concurrency 0');
check(server('pprof_capture_concurrency 65;'), qr/value must be between 1 and 64/, 'concurrency 65');
check(server('pprof_capture_budget 300s per 1h;'), undef, 'budget');
check(server('pprof_capture_budget 300s in 1h;'), qr/takes "TIME per WINDOW" or "off"/, 'budget: not per');
check(server('pprof_capture_budget 0s per 1h;'), qr/needs two times of at least 1s/, 'budget: zero');
check(server('pprof_capture_budget xs per 1h;'), qr/needs two times of at least 1s/, 'budget: bad time');
check(server('pprof_capture_budget off;'), undef, 'budget off');
check("server { listen 127.0.0.1:%%PORT_X%%; location /s { pprof_status on; } }\n",
    qr/invalid number of arguments in "pprof_status"/, 'pprof_status takes no argument');


# proxy_pass in a "pprof on" location: spellings that would send the target
# something other than the canonical request are refused.
{
    my $pass = sub {
        my ($location, $inside) = @_;
        return $roles . "server { listen 127.0.0.1:%%PORT_X%%; location $location { pprof on; $inside } }\n";
    };
    my $vars = qr/has a URI part with variables other than \$request_uri or \$uri\$is_args\$args/;
    for my $url (qw(http://127.0.0.1:1$args http://127.0.0.1:1$query_string
        http://127.0.0.1:1$is_args$args http://127.0.0.1:1$uri
        http://127.0.0.1:1$uri?$args http://127.0.0.1:1/debug/pprof/$args
        http://127.0.0.1:1/debug/pprof/heap?$args http://127.0.0.1:1$request
        http://127.0.0.1:1$arg_x http://127.0.0.1:1$request_uri$is_args$args
        http://127.0.0.1:1$ARGS http://127.0.0.1:1$Uri http://127.0.0.1:1$Is_Args$Args
        http://127.0.0.1:1$ARG_x))
    {
        check($pass->('/debug/pprof/', "proxy_pass $url;"),
            qr/proxy_pass "\Q$url\E" in a location with "pprof on" $vars/, "proxy_pass $url");
    }
    check($pass->('/debug/pprof/', 'set $p $request_uri; proxy_pass http://127.0.0.1:1$p;'), undef,
        'a variable directly after the host is taken as part of the host');
    check($pass->('/debug/pprof/', 'proxy_pass http://127.0.0.1:1/debug/pprof;'),
        qr/has a URI part that does not start and end with "\/" or that has a query/, 'URI part without a final /');
    check($pass->('/debug/pprof/', 'proxy_pass http://127.0.0.1:1/debug/pprof/?debug=2;'),
        qr/has a URI part that does not start and end with "\/" or that has a query/, 'URI part with a query');
    check($pass->('/debug/pprof/c', 'pprof_prefix /debug/pprof/; proxy_pass http://127.0.0.1:1/debug/pprof/;'),
        qr/that name is not a prefix of pprof_prefix: part of the endpoint would be replaced/,
        'location name longer than pprof_prefix');
    check($pass->('/debug/pprof/', 'proxy_pass $scheme://127.0.0.1:1$request_uri;'),
        qr/does not start with http:\/\/ or https:\/\//, 'scheme from a variable');
    check($pass->('/debug/pprof/', 'proxy_pass http://127.0.0.1:1; if ($arg_x) { proxy_pass http://127.0.0.1:1$args; }'),
        $vars, 'inside "if"');
    check($pass->('/debug/', 'proxy_pass http://127.0.0.1:1; location /debug/pprof/ { proxy_pass http://127.0.0.1:1$args; }'),
        $vars, 'nested location inherits pprof on');

    # limit_except: its own proxy_pass is judged, not the location's.
    my $lmt = 'proxy_pass http://127.0.0.1:1; limit_except GET';
    check($roles . "server { listen 127.0.0.1:%%PORT_X%%; set \$raw \$args;\n"
        . "location /debug/pprof/ { pprof on; $lmt { proxy_pass http://127.0.0.1:1/debug/pprof/symbol?\$raw; } } }\n",
        $vars, 'limit_except: a query from a server-level variable');
    check($pass->('/debug/pprof/', "$lmt { proxy_pass http://127.0.0.1:1\$args; }"),
        $vars, 'limit_except: $args');
    check($pass->('/debug/pprof/', "$lmt { proxy_pass http://127.0.0.1:1\$ARGS; }"),
        $vars, 'limit_except: $ARGS');
    check($pass->('/debug/pprof/', "$lmt { proxy_pass http://127.0.0.1:1/debug/pprof/\$is_args\$args; }"),
        $vars, 'limit_except: a static URI part then $args');
    check($pass->('/debug/pprof/', 'limit_except GET { proxy_pass http://127.0.0.1:1 http://x; }'),
        qr/invalid number of arguments in "proxy_pass"/, 'limit_except: the proxy module still parses its own directive');
    check($pass->('/debug/pprof/', "$lmt { proxy_pass ftp://127.0.0.1:1; }"),
        qr/invalid URL prefix/, 'limit_except: the proxy module still checks its URL');
    check($roles . "server { listen 127.0.0.1:%%PORT_X%%; location / { proxy_pass http://127.0.0.1:1\$args; } }\n",
        undef, 'without pprof on, proxy_pass is not judged');
    check($pass->('/debug/pprof/', 'proxy_pass http://127.0.0.1:1 http://x;'),
        qr/invalid number of arguments in "proxy_pass"/, 'the proxy module still parses its own directive');
    check($pass->('/debug/pprof/', 'proxy_pass ftp://127.0.0.1:1;'),
        qr/invalid URL prefix/, 'the proxy module still checks its URL');
    for my $ok ('proxy_pass http://127.0.0.1:1;', 'proxy_pass http://127.0.0.1:1/debug/pprof/;',
        'proxy_pass http://127.0.0.1:1$request_uri;', 'proxy_pass http://127.0.0.1:1$uri$is_args$args;',
        'set $b 127.0.0.1:1; proxy_pass http://$b$request_uri;',
        'limit_except GET { deny all; } proxy_pass http://127.0.0.1:1/debug/pprof/;',
        'proxy_pass http://127.0.0.1:1; limit_except GET { proxy_pass http://127.0.0.1:1$request_uri; }',
        'proxy_pass http://127.0.0.1:1; limit_except GET { proxy_pass http://127.0.0.1:1$Uri$Is_Args$Args; }',
        'proxy_pass http://127.0.0.1:1$REQUEST_URI;', 'proxy_pass http://127.0.0.1:1$Uri$Is_Args$Args;',
        'proxy_pass http://127.0.0.1:1${Document_Uri}${IS_ARGS}${Query_String};')
    {
        check($pass->('/debug/pprof/', $ok), undef, $ok);
    }
    check($pass->('/gw/', 'pprof_prefix /gw/; proxy_pass http://127.0.0.1:1/debug/pprof/;'), undef,
        'a URI part replacing the whole pprof_prefix');
}

$t->done_testing_checks(allow => qr/the last line is not an audit record/);
done_testing;
