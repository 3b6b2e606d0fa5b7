#!/usr/bin/perl

# What the client and the log are told. Denials are logged at
# pprof_log_level (default error, so Debian's stock error_log shows them);
# a 429's body says the seconds of its Retry-After; a 400 names the
# parameter and its limit; a refused JWT or API key gets RFC 6750's
# error="invalid_token" with a fixed error_description; and no credential,
# claim or key id comes back in the status line, headers or body, in text
# or JSON.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use POSIX ();
use Time::HiRes qw(sleep time);
use Test::More;
use PprofTest;
use PprofGateway qw(roles_conf make_identities tls_server jwt_tool);

my $t = PprofTest->new;
make_identities($t);
$t->start_target;

sub tool { return jwt_tool($t, @_) }

# Something no response may ever carry back.
my $MARK = 'SECRETMARK7q';

tool('keygen', 'ES256', 'es256');
tool('keygen', 'ES256', 'other');
$t->write_file('jwks.json', '{"keys":[' . tool('jwk', 'ES256', 'es256', 'es1') . ']}');

my $now = time;
sub token {
    my (%opt) = @_;
    my %claims = (sub => 'jwt-user', exp => int($now) + 300, aud => 'pprof',
        iss => 'https://idp.example', %{ $opt{claims} // {} });
    my $header = JSON::PP->new->canonical->encode(
        { alg => 'ES256', typ => 'JWT', kid => $opt{kid} // 'es1' });
    return tool('sign', 'ES256', $opt{key} // 'es256', $header,
        JSON::PP->new->canonical->encode(\%claims));
}

# A token of the given header whose signature is never checked.
sub unsigned_token {
    my ($header) = @_;
    my $b64 = sub { encode_base64($_[0], '') =~ tr{+/=}{-_}dr };
    return $b64->(JSON::PP->new->canonical->encode($header)) . '.'
        . $b64->('{"sub":"jwt-user"}') . '.AAAA';
}

my $key = 'scraper-key-0123456789';
$t->write_file('api.keys', sha256_hex($key) . " scraper oncall\n");

my $up = 'proxy_pass http://%%TARGET%%/debug/pprof/;';
$t->write_config(roles_conf() . "pprof_bind jwt-user oncall;\n"
    . tls_server('tls', 'optional', <<"CONF"));
    # As Debian's stock nginx.conf: a log file, no level (error).
    error_log %%TESTDIR%%/stock.log;

    location /debug/pprof/ {
        pprof on;
        pprof_identity cert jwt apikey;
        pprof_jwt_keys jwks.json;
        pprof_jwt_audience pprof;
        pprof_jwt_issuer https://idp.example;
        pprof_api_keys api.keys;
        pprof_max_seconds 45;
        pprof_rate snapshot 1r/m;
        pprof_rate capture off;
        $up
    }
    location /budget/debug/pprof/ {
        pprof on;
        pprof_prefix /budget/debug/pprof/;
        pprof_rate off;
        pprof_capture_budget 1s per 1h;
        $up
    }
    location /quiet/debug/pprof/ {
        pprof on;
        pprof_prefix /quiet/debug/pprof/;
        pprof_log_level info;
        $up
    }
    location /notice/debug/pprof/ {
        error_log %%TESTDIR%%/notice.log notice;
        pprof on;
        pprof_prefix /notice/debug/pprof/;
        pprof_log_level notice;
        $up
    }
    location /dry/debug/pprof/ {
        pprof on;
        pprof_prefix /dry/debug/pprof/;
        pprof_enforce off;
        $up
    }
    location /xfcc/debug/pprof/ {
        pprof on;
        pprof_prefix /xfcc/debug/pprof/;
        pprof_identity xfcc cert;
        $up
    }
CONF
$t->run;

# The whole response as sent, and its parsed form.
sub fetch {
    my ($path, %opt) = @_;
    my %h = (Host => 'localhost', Connection => 'close', %{ $opt{headers} // {} });
    $h{Authorization} = "Bearer $opt{bearer}" if defined $opt{bearer};
    $h{Authorization} = 'Basic ' . encode_base64($opt{basic}, '') if defined $opt{basic};
    $h{Accept} = 'application/json' if $opt{json};
    $h{'Content-Length'} = length $opt{body} if defined $opt{body};
    my $method = $opt{method} // 'GET';
    my $req = "$method $path HTTP/1.1\r\n"
        . join('', map { "$_: $h{$_}\r\n" } sort keys %h) . "\r\n"
        . ($opt{body} // '');
    my $raw = $t->raw('tls', $req, $opt{cert} ? (cert => $opt{cert}) : ());
    my ($r) = $t->parse_responses($raw, [$method]);
    $r->{raw} = $raw;
    return $r;
}

sub stock_log {
    my $p = $t->path('stock.log');
    return -e $p ? $t->read_file($p) : '';
}

# --- pprof_log_level ----------------------------------------------------------

my $r = fetch('/debug/pprof/heap');
is($r->{status}, 401, 'no credential: 401');
$r = fetch('/debug/pprof/heap', cert => 'viewer');
is($r->{status}, 403, 'viewer on heap: 403');
like(stock_log(), qr/\[error\] .*pprof: unauthenticated/,
    'a 401 is logged where error_log has no level (error)');
like(stock_log(), qr/\[error\] .*pprof: forbidden/,
    'a 403 is logged where error_log has no level (error)');

$r = fetch('/quiet/debug/pprof/heap', cert => 'viewer');
is($r->{status}, 403, 'quiet location: 403');
my ($id) = $r->{body} =~ /audit id (\w+)/;
unlike(stock_log(), qr/\Q$id\E/, 'pprof_log_level info: not at error_log error');

$r = fetch('/notice/debug/pprof/heap', cert => 'viewer');
($id) = $r->{body} =~ /audit id (\w+)/;
like($t->read_file($t->path('notice.log')), qr/\[notice\] .*pprof: forbidden.*\Q$id\E/,
    'pprof_log_level notice: logged at notice');

$r = fetch('/dry/debug/pprof/heap', cert => 'viewer');
is($r->{status}, 200, 'dry run forwards');
like(stock_log(), qr/\[error\] .*pprof: dry run, would deny: forbidden/,
    'dry run: what it would deny, at pprof_log_level');

$r = fetch('/xfcc/debug/pprof/cmdline', cert => 'viewer',
    headers => { 'X-Forwarded-Client-Cert' => 'URI=spiffe://prod.example/ns/sre/x' });
is($r->{status}, 200, 'xfcc from an untrusted peer: the certificate decides');
like(stock_log(), qr/\[error\] .*pprof: X-Forwarded-Client-Cert from \S+ ignored/,
    'an ignored X-Forwarded-Client-Cert, at pprof_log_level');

# --- 429: the body says the seconds of Retry-After ----------------------------

$r = fetch('/debug/pprof/heap', cert => 'oncall');
is($r->{status}, 200, 'first snapshot: 200');
for my $json (0, 1) {
    $r = fetch('/debug/pprof/heap', cert => 'oncall', json => $json);
    is($r->{status}, 429, "second snapshot at 1r/m: 429 (json $json)");
    my $wait = $r->{headers}{'retry-after'};
    ok($wait && $wait > 1, "Retry-After $wait");
    my $msg = $json ? decode_json($r->{body})->{message} : $r->{body};
    like($msg, qr/^(?:pprof-gateway: rate_limited: )?too many requests of this class; retry after (\d+) seconds/,
        'rate_limited body says when');
    my ($said) = $msg =~ /retry after (\d+) second/;
    is($said, $wait, 'the body says the number of Retry-After');
}

$r = fetch('/budget/debug/pprof/profile?seconds=1', cert => 'oncall');
is($r->{status}, 200, 'budget: 1 s granted');
$r = fetch('/budget/debug/pprof/profile?seconds=1', cert => 'oncall');
is($r->{status}, 429, 'budget used up: 429');
my ($said) = $r->{body} =~ /^pprof-gateway: budget_exhausted: .*; retry after (\d+) seconds \(audit id/;
is($said, $r->{headers}{'retry-after'}, 'budget_exhausted: the body says Retry-After');

# capture_busy: a 3 s capture runs in a child while another asks, once
# the child's capture has reached Go (the target logs a request before
# serving it): under load, a fixed sleep could ask first.
my $captures = sub {
    scalar grep { $_->{path} eq '/debug/pprof/profile' } $t->upstream_requests;
};
my $before = $captures->();
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    eval { fetch('/debug/pprof/profile?seconds=3', cert => 'oncall') };
    POSIX::_exit(0);
}
my $deadline = time + 30;
sleep 0.05 while $captures->() == $before && time < $deadline;
ok($captures->() > $before, "the child's capture reached Go");
$r = fetch('/debug/pprof/profile?seconds=2', cert => 'oncall');
waitpid($pid, 0);
is($r->{status}, 429, 'capture_busy: 429');
($said) = $r->{body} =~ /^pprof-gateway: capture_busy: .*; retry after (\d+) seconds? \(audit id/;
is($said, $r->{headers}{'retry-after'}, 'capture_busy: the body says Retry-After');

# --- 400: the parameter and its limit -----------------------------------------

my @params = (
    ['/debug/pprof/profile?seconds=99', 'seconds must be 1..45'],
    ['/debug/pprof/profile?seconds=0', 'seconds must be 1..45'],
    ['/debug/pprof/trace?seconds=46', 'seconds must be 0.000001..45'],
    ['/debug/pprof/heap?debug=7', 'debug must be 0, 1 or 2'],
    ['/debug/pprof/heap?gc=5', 'gc must be 0 or 1'],
    ['/debug/pprof/heap?seconds=5&debug=1', 'seconds cannot be combined with debug=1 or 2'],
    ["/debug/pprof/heap?debug=$MARK", 'debug must be 0, 1 or 2'],
    ['/debug/pprof/cmdline?' . join('&', map { "$MARK$_=1" } 1 .. 65),
        'at most 64 query parameters'],
    ["/debug/pprof/heap?debug=1&$MARK=%zz", 'the query has a malformed %-escape'],
    ["/debug/pprof/heap?$MARK%4=1", 'the query has a malformed %-escape'],
    ["/debug/pprof/heap?debug=1&$MARK&debug=2", 'debug is given twice with different values'],
    ['/debug/pprof/heap?gc=1&gc=0', 'gc is given twice with different values'],
    ['/debug/pprof/profile?seconds=1&seconds=2', 'seconds is given twice with different values'],
    ['/debug/pprof/cmdline', 'this request takes no body', body => $MARK],
    ['/debug/pprof/symbol', 'a symbol body must have a Content-Length of at most 65536 bytes',
        method => 'POST', body => "0x$MARK+" x (65537 / 15) . '+' x (65537 % 15)],
);
for my $p (@params) {
    my ($path, $want, %opt) = @$p;
    my $name = ($opt{method} // 'GET') . ' ' . (length $path > 60 ? substr($path, 0, 60) . '...' : $path)
        . (defined $opt{body} ? ' with a body of ' . length($opt{body}) : '');
    $r = fetch($path, %opt, cert => 'oncall');
    is($r->{status}, 400, "$name: 400");
    like($r->{body}, qr/^pprof-gateway: bad_parameter: a parameter is outside what this endpoint accepts; \Q$want\E \(audit id \w+\)\n\z/,
        "$name: $want");
    unlike($r->{raw}, qr/\Q$MARK\E/i, "$name: nothing of the request comes back");
    $r = fetch($path, %opt, cert => 'oncall', json => 1);
    is(decode_json($r->{body})->{message},
        "a parameter is outside what this endpoint accepts; $want", "$name: JSON message");
    unlike($r->{raw}, qr/\Q$MARK\E/i, "$name: nothing of it comes back in JSON");
}

# The limits themselves pass: 64 parameters, a symbol body of 65536 bytes.
$r = fetch('/debug/pprof/cmdline?' . join('&', map { "x$_=1" } 1 .. 64), cert => 'oncall');
is($r->{status}, 200, '64 query parameters: 200');
$r = fetch('/debug/pprof/symbol', cert => 'oncall', method => 'POST',
    body => '0x1+' x 16384);
is($r->{status}, 200, 'a symbol body of 65536 bytes: 200');

# --- 401: RFC 6750 for a refused token ----------------------------------------

my $plain = 'Bearer realm="pprof"';
$r = fetch('/debug/pprof/cmdline');
is($r->{headers}{'www-authenticate'}, $plain, 'no credential: no error code');

my $bad_sig = token();
$bad_sig =~ s/\.([^.])([^.]*)\z/'.' . ($1 eq 'A' ? 'B' : 'A') . $2/e;

my @tokens = (
    ['expired', token(claims => { exp => int($now) - 3600 }), 'the token has expired'],
    ['not yet valid', token(claims => { nbf => int($now) + 3600 }), 'the token is not valid yet'],
    ['wrong audience', token(claims => { aud => 'elsewhere' }),
        "the token's audience does not include this gateway"],
    ['wrong issuer', token(claims => { iss => 'https://evil.example' }),
        "the token's issuer is not accepted"],
    ['bad signature', $bad_sig, "the token's signature does not verify with a configured key"],
    ['another key', token(key => 'other'), "the token's signature does not verify with a configured key"],
    ['unknown API key', 'not-a-real-key', 'the API key is not recognised'],
    ['alg none', unsigned_token({ alg => 'none', typ => 'JWT', kid => $MARK }),
        "the token's algorithm is not accepted"],
    ['alg HS512', unsigned_token({ alg => 'HS512', typ => 'JWT', kid => 'es1' }),
        "the token's algorithm is not accepted"],
    ['alg es256 (names are case-sensitive)', unsigned_token({ alg => 'es256', kid => 'es1' }),
        "the token's algorithm is not accepted"],
    ['alg unknown', unsigned_token({ alg => $MARK }), "the token's algorithm is not accepted"],
    ['garbage token', "$MARK.$MARK.$MARK", 'the token is malformed'],
    ['no alg', unsigned_token({ typ => 'JWT', kid => $MARK }), 'the token is malformed'],
    ['signature not base64url', unsigned_token({ alg => 'ES256' }) . "!$MARK",
        'the token is malformed'],
    ['other scheme', { Authorization => "Token $MARK" },
        'this kind of credential is not accepted here'],
);
for my $c (@tokens) {
    my ($name, $tok, $want) = @$c;
    $r = fetch('/debug/pprof/cmdline',
        ref $tok ? (headers => $tok) : (bearer => $tok));
    is($r->{status}, 401, "$name: 401");
    # RFC 6750's error answers a Bearer credential; another scheme is told
    # in the body alone.
    is($r->{headers}{'www-authenticate'},
        ref $tok ? $plain : qq{$plain, error="invalid_token", error_description="$want"},
        "$name: WWW-Authenticate");
    like($r->{body}, qr/^pprof-gateway: invalid_credential: the credential offered was rejected; \Q$want\E \(audit id \w+\)\n\z/,
        "$name: the body says so");
    unlike($r->{raw}, qr/\Q$MARK\E/i, "$name: nothing of it comes back");
}

# --- no credential is ever echoed ---------------------------------------------

my @hostile = (
    ['sub', bearer => token(claims => { sub => $MARK, exp => int($now) - 10 })],
    ['roles', bearer => token(claims => { roles => [$MARK], aud => $MARK })],
    ['iss', bearer => token(claims => { iss => $MARK })],
    ['aud', bearer => token(claims => { aud => [$MARK] })],
    ['kid', bearer => token(kid => $MARK)],
    ['identity claim', bearer => token(claims => { sub => "$MARK\x01" })],
    ['forbidden identity', bearer => token(claims => { sub => $MARK })],
    ['header', bearer => encode_base64(qq({"alg":"$MARK","kid":"$MARK"}), '') =~ tr/+\/=/-_/dr
        . '.eyJzdWIiOiJ4In0.AAAA'],
    ['garbage token', bearer => "$MARK.$MARK.$MARK"],
    ['API key', bearer => $MARK],
    ['Basic user', basic => "$MARK:$key"],
    ['Basic password', basic => "scraper:$MARK"],
    ['other scheme', headers => { Authorization => "Token $MARK" }],
    ['query', cert => 'oncall', path => "/debug/pprof/heap?seconds=$MARK&$MARK=1"],
);
for my $c (@hostile) {
    my ($name, %opt) = @$c;
    my $path = delete $opt{path} // '/debug/pprof/heap';
    for my $json (0, 1) {
        $r = fetch($path, %opt, json => $json);
        like($r->{status}, qr/^4\d\d$/, "$name (json $json): denied $r->{status}");
        unlike($r->{raw}, qr/\Q$MARK\E/i, "$name (json $json): nothing of it comes back");
    }
}
# The log keeps no credential either: claims and keys are not logged (the
# request line that nginx adds holds only the query's own words).
unlike(stock_log() =~ s/, request: "[^"]*"//gr, qr/\Q$MARK\E/, 'error.log: no credential');

# Levels as limit_req_log_level's; debug would hide denials from every log.
$t->config_is(roles_conf() . tls_server('tls', 'optional', <<'CONF'),
    location /debug/pprof/ { pprof on; pprof_log_level debug; proxy_pass http://127.0.0.1:1/; }
CONF
    qr/invalid value "debug"/, 'pprof_log_level debug');

$t->done_testing_checks;
done_testing;
