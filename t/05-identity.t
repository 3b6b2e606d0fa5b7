#!/usr/bin/perl

# Identity sources of SPEC §5 with real nginx: JWTs (JWKS and PEM keys, four
# algorithms), API keys as bearer tokens and as URL credentials for
# `go tool pprof`, nginx variables after auth_basic, anonymous, the order of
# sources, and new keys picked up by a reload.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use MIME::Base64 qw(encode_base64);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use Test::More;
use PprofTest;
use PprofGateway qw(roles_conf make_identities tls_server jwt_tool);

my $t = PprofTest->new;
make_identities($t);
$t->start_target;

sub tool { return jwt_tool($t, @_) }

for my $alg (qw(RS256 ES256 EdDSA HS256 PS256 ES384)) {
    tool('keygen', $alg, lc $alg);
}
$t->write_file('jwks.json', '{"keys":[' . join(',',
    tool('jwk', 'RS256', 'rs256', 'rs1'),
    tool('jwk', 'ES256', 'es256', 'es1'),
    tool('jwk', 'HS256', 'hs256', 'hs1'),
    tool('jwk', 'PS256', 'ps256', 'ps1'),
    tool('jwk', 'ES384', 'es384', 'es384'),
    '{"kty":"EC","crv":"P-521","kid":"unsupported","x":"AA","y":"AA"}',
) . ']}');

my $now = time;
sub token {
    my ($alg, %opt) = @_;
    my %claims = (sub => 'jwt-user', exp => $now + 300, aud => 'pprof',
        iss => 'https://idp.example', %{ $opt{claims} // {} });
    delete @claims{ @{ $opt{drop} // [] } };
    my $kid = exists $opt{kid} ? $opt{kid} : { RS256 => 'rs1', ES256 => 'es1',
        HS256 => 'hs1', PS256 => 'ps1', ES384 => 'es384' }->{$alg};
    my $header = $opt{header} // JSON::PP->new->canonical->encode(
        { alg => $alg, typ => 'JWT', defined $kid ? (kid => $kid) : () });
    return tool('sign', $opt{sign_alg} // $alg, $opt{key} // lc $alg, $header,
        JSON::PP->new->canonical->encode(\%claims));
}

my %key = (parca => 'parca-scrape-key-0123456789', alice => 'alice-key-abcdef');
$t->write_file('api.keys', <<"KEYS");
# digest                                                           identity  roles
@{[ sha256_hex($key{parca}) ]} parca scraper   # a scraper
@{[ sha256_hex($key{alice}) ]} alice
KEYS
my $apr1 = `openssl passwd -apr1 s3cret`;
chomp $apr1;
$t->write_file('htpasswd', "alice:$apr1\n");

my $pprof = 'pprof on; proxy_pass http://%%TARGET%%/debug/pprof/;';
$t->write_config(roles_conf() . <<'CONF'
pprof_role scraper snapshot capture;
pprof_bind alice oncall;
pprof_bind jwt-user viewer;
pprof_jwt_audience pprof;
pprof_jwt_issuer https://idp.example;
CONF
    . tls_server('tls', 'optional', <<"CONF"));
    location /debug/pprof/ {
        pprof_identity cert jwt apikey;
        pprof_jwt_keys jwks.json;
        pprof_api_keys api.keys;
        $pprof
    }
    location /pem/debug/pprof/ {
        pprof_prefix /pem/debug/pprof/;
        pprof_identity jwt;
        pprof_jwt_keys eddsa.pub;
        pprof_jwt_roles_claim groups;
        pprof_jwt_identity_claim email;
        $pprof
    }
    location /basic/debug/pprof/ {
        auth_basic pprof;
        auth_basic_user_file htpasswd;
        pprof_prefix /basic/debug/pprof/;
        pprof_identity \$remote_user;
        $pprof
    }
    location /hdr/debug/pprof/ {
        pprof_prefix /hdr/debug/pprof/;
        pprof_identity \$http_x_user anonymous;
        pprof_bind anonymous viewer;
        $pprof
    }
CONF
my ($rc, $out) = $t->nginx_t;
like($out, qr/pprof_jwt_keys: skipped 1 key/, 'nginx -t warns about the unsupported key');
$t->run;

sub get {
    my ($path, %opts) = @_;
    my %h = %{ $opts{headers} // {} };
    $h{Authorization} = "Bearer $opts{bearer}" if defined $opts{bearer};
    $h{Authorization} = 'Basic ' . encode_base64($opts{basic}, '') if defined $opts{basic};
    return $t->get('tls', $path, headers => \%h, %{ $opts{raw} // {} });
}

sub denied {
    my ($r, $status, $reason, $name) = @_;
    is($r->{status}, $status, "$name: $status");
    like($r->{body}, qr/^pprof-gateway: \Q$reason\E: /, "$name: $reason");
}

# --- jwt --------------------------------------------------------------------

for my $alg (qw(RS256 ES256 HS256 PS256 ES384)) {
    my $r = get('/debug/pprof/cmdline', bearer => token($alg));
    is($r->{status}, 200, "$alg token: 200");
}

my $r = get('/debug/pprof/heap', bearer => token('ES256', claims => { roles => ['oncall'] }));
is($r->{status}, 200, 'roles claim (array) adds oncall');
$r = get('/debug/pprof/heap', bearer => token('RS256', claims => { roles => 'oncall other' }));
is($r->{status}, 200, 'roles claim (space-separated string)');
denied(get('/debug/pprof/heap', bearer => token('RS256')), 403, 'forbidden',
    'bound role only (viewer)');
$r = get('/debug/pprof/heap', bearer => token('ES256', kid => undef,
    claims => { roles => ['oncall'] }));
is($r->{status}, 200, 'token without kid: tried against fitting keys');

$r = get('/pem/debug/pprof/heap', bearer => token('EdDSA', kid => undef,
    claims => { email => 'ed@example.com', groups => ['oncall'] }));
is($r->{status}, 200, 'EdDSA with a PEM key, custom identity and roles claims');

my $up = ($t->upstream_requests)[-1];
ok(!exists $up->{headers}{authorization}, 'the token never reaches the target');

my %bad = (
    'expired' => token('RS256', claims => { exp => $now - 3600 }),
    'within leeway is fine, beyond is not' => token('RS256', claims => { exp => $now - 31 }),
    'not yet valid' => token('RS256', claims => { nbf => $now + 3600 }),
    'no exp' => token('RS256', drop => ['exp']),
    'wrong audience' => token('RS256', claims => { aud => ['other'] }),
    'wrong issuer' => token('RS256', claims => { iss => 'https://evil.example' }),
    'alg none' => do { my $x = token('RS256'); $x =~ s/^[^.]+/
        MIME::Base64::encode_base64url('{"alg":"none","kid":"rs1"}')/e; $x =~ s/[^.]+$//; $x . 'AA' },
    'bad signature' => do {
        my $x = token('ES256');
        substr($x, -5, 1) = substr($x, -5, 1) eq 'A' ? 'B' : 'A';
        $x },
    'unknown kid' => token('RS256', kid => 'nope'),
    'kid of another key type' => token('ES256', kid => 'rs1'),
    'HS256 keyed with the RSA public key' => do {
        my $pub = $t->read_file('rs256.pub');
        $t->write_file('confused.secret', $pub);
        token('HS256', kid => 'rs1', key => 'confused') },
    'ES384 signature with a P-256 key' => token('ES384', kid => 'es1'),
    'no identity claim' => token('RS256', drop => ['sub']),
    'trailing garbage' => token('RS256') . '.x',
    'padding' => token('RS256') . '==',
);
for my $name (sort keys %bad) {
    my $r = get('/debug/pprof/cmdline', bearer => $bad{$name});
    denied($r, 401, 'invalid_credential', "jwt $name");
    like($r->{headers}{'www-authenticate'},
        qr/^Bearer realm="pprof", error="invalid_token", error_description="[^"]+"$/,
        "jwt $name: challenge, RFC 6750's error");
}
$r = get('/debug/pprof/cmdline', bearer => 'a' x 9000 . '.b.c');
ok($r->{status} == 401 || $r->{status} == 400, 'oversized token refused');

$r = get('/debug/pprof/cmdline');
denied($r, 401, 'unauthenticated', 'nothing offered');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="pprof"', 'challenge on 401');

# --- order of sources ---------------------------------------------------------

$r = get('/debug/pprof/heap', bearer => $bad{expired}, raw => { cert => 'oncall' });
is($r->{status}, 200, 'cert comes first: a bad token behind a good certificate');
denied(get('/debug/pprof/cmdline', bearer => $bad{expired}), 401,
    'invalid_credential', 'an invalid token ends the search');
denied(get('/debug/pprof/cmdline', basic => 'x:' . $key{parca} . 'x'), 401,
    'invalid_credential', 'unknown API key');
denied(get('/debug/pprof/cmdline', headers => { Authorization => 'Digest x=1' }),
    401, 'invalid_credential', 'a credential no source reads');

# --- apikey -----------------------------------------------------------------

$r = get('/debug/pprof/profile?seconds=1', bearer => $key{parca});
is($r->{status}, 200, 'API key as a bearer token, roles from the key file');
is(get('/debug/pprof/heap', basic => "parca:$key{parca}")->{status}, 200,
    'API key as a Basic password with its own name');
is(get('/debug/pprof/heap', basic => ":$key{parca}")->{status}, 200,
    'API key as a Basic password without a name');
denied(get('/debug/pprof/heap', basic => "alice:$key{parca}"), 401,
    'invalid_credential', 'a name that is not the key\'s identity');
is(get('/debug/pprof/heap', bearer => $key{alice})->{status}, 200,
    'API key identity bound to a role');
denied(get('/debug/pprof/heap', bearer => 'x' x 600), 401, 'invalid_credential',
    'oversized API key');
denied(get('/debug/pprof/heap', headers => { Authorization => 'Basic !!!' }), 401,
    'invalid_credential', 'malformed Basic');
$up = ($t->upstream_requests)[-1];
ok(!exists $up->{headers}{authorization}, 'the key never reaches the target');

# go tool pprof puts the credentials in the URL.
{
    local $ENV{PPROF_TMPDIR} = $t->testdir;
    local $ENV{HOME} = $t->testdir;
    my $url = sprintf 'https+insecure://parca:%s@127.0.0.1:%d/debug/pprof/heap',
        $key{parca}, $t->port('tls');
    my $out = `go tool pprof -top '$url' 2>&1`;
    is($? >> 8, 0, 'go tool pprof with name:key@host') or diag($out);
    like($out, qr/Type: inuse_space/, 'go tool pprof prints a heap profile');
    my $bad = $url =~ s/parca:/alice:/r;
    $out = `go tool pprof -top '$bad' 2>&1`;
    like($out, qr/401 Unauthorized - pprof-gateway: invalid_credential/,
        'go tool pprof shows the reason for a wrong name');
}

# --- variables and anonymous ------------------------------------------------

is(get('/basic/debug/pprof/heap', basic => 'alice:s3cret')->{status}, 200,
    '$remote_user after auth_basic');
$up = ($t->upstream_requests)[-1];
ok(!exists $up->{headers}{authorization}, 'auth_basic credentials stripped too');
is(get('/basic/debug/pprof/heap', basic => 'alice:wrong')->{status}, 401,
    'auth_basic itself refuses a wrong password');
is(get('/hdr/debug/pprof/heap', headers => { 'X-User' => 'alice' })->{status}, 200,
    '$http_x_user names the identity');
denied(get('/hdr/debug/pprof/heap', headers => { 'X-User' => "al\x01ice" }), 401,
    'invalid_credential', 'a variable with a control character');
is(get('/hdr/debug/pprof/cmdline')->{status}, 200, 'anonymous after an empty variable');
denied(get('/hdr/debug/pprof/heap'), 403, 'forbidden', 'anonymous is a viewer only');

# --- reload: new keys, requests in flight finish ------------------------------

$t->clear_upstream;
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my ($rc, $out) = $t->curl('-o', '/dev/null', '-w', '%{http_code}',
        '-H', "Authorization: Bearer $key{parca}",
        $t->url('tls', '/debug/pprof/profile?seconds=2'));
    $t->write_file('inflight.out', $out);
    POSIX::_exit($out eq '200' ? 0 : 1);
}

# Reload once the capture is at the target, not after a guess at how long
# curl takes to get there: a request that arrives after the reload meets
# the new keys.
my $until = time + 10;
sleep 0.05 until (grep { $_->{path} eq '/debug/pprof/profile' } $t->upstream_requests)
    || time > $until;

my $new = 'rotated-key-987654321';
$t->write_file('api.keys', sha256_hex($new) . " parca scraper\n");
$t->reload;
is(get('/debug/pprof/heap', bearer => $new)->{status}, 200, 'reload: the new key works');
denied(get('/debug/pprof/heap', bearer => $key{parca}), 401, 'invalid_credential',
    'reload: the removed key is refused');
waitpid($pid, 0);
is($?, 0, 'a capture in flight during the reload completed with 200')
    or diag('curl: ' . $t->read_file('inflight.out'));

$t->done_testing_checks;
done_testing;
