#!/usr/bin/perl

# docs/keys.md runs as printed: every `<!-- recipe: NAME -->` block of the
# page, in order, in an empty directory, with bash -euo pipefail.  Then
# what the recipes made is used for real: nginx loads the audit key, the
# JWKS and the API-key file; the three tokens reach the Go target and a
# tampered or foreign token does not; the API key works as Bearer and as
# a URL password; pprof-audit verify checks the log with the derived
# public key.  Also the TLS advice for go tool pprof URL: -tls_ca is
# ignored, SSL_CERT_FILE works.

use strict;
use warnings;

use MIME::Base64 qw(encode_base64 encode_base64url decode_base64url);
use Test::More;
use PprofTest;
use PprofGateway qw(tls_server);

my $audit_tool = $ENV{PPROF_AUDIT} || PprofTest->new(module => 0)->root . '/build/pprof-audit';
-x $audit_tool or die "pprof-audit is missing ($audit_tool): run make tools\n";

my $t = PprofTest->new;
$t->pki;
$t->start_target;
my $d = $t->testdir;
my $k = "$d/keys";
mkdir $k or die "mkdir $k: $!";

# The recipes, as the page prints them.
my $doc = $t->read_file($t->root . '/docs/keys.md');
my (@names, %recipe);
while ($doc =~ /^<!-- recipe: (\S+) -->\n```sh\n(.*?)^```$/msg) {
    push @names, $1;
    $recipe{$1} = $2;
}
is_deeply(\@names, [qw(b64url audit-key jwk-eddsa jwk-es256 jwk-rs256 jwks
    jwt-sign jwt-claims apikey)], 'docs/keys.md: the recipes, in order');
my $fenced = () = $doc =~ /^```/mg;
is($fenced, 2 * @names, 'every fenced block of the page is a tested recipe');

# Runs shell text in keys/; returns (exit code, stdout and stderr).
sub bash {
    my ($script) = @_;
    $t->write_file('keys.sh', $script);
    my $out = `cd '$k' && bash -euo pipefail '$d/keys.sh' 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = bash(join '', map { $recipe{$_} } @names);
is($rc, 0, 'the recipes run') or diag($out);
is($out, '', 'quietly');

# The files the page says they make.
for my $f (qw(pprof_audit_ed25519.pem pprof_audit.pub jwks.json
    alice-eddsa.jwt alice-es256.jwt alice-rs256.jwt api_keys parca.key))
{
    ok(-s "$k/$f", "$f made");
}
for my $f (qw(pprof_audit_ed25519.pem jwt_ed25519.key jwt_es256.key
    jwt_rs256.key parca.key))
{
    is((stat "$k/$f")[2] & 077, 0, "$f is private");
}

my %jwt = map { $_ => $t->read_file("$k/alice-$_.jwt") =~ s/\n\z//r }
    qw(eddsa es256 rs256);
my $key = $t->read_file("$k/parca.key");

$t->write_config(<<'CONF' . tls_server('tls', 'optional', <<'LOC'));
pprof_role oncall index cmdline symbol snapshot capture;
pprof_role scraper snapshot capture;
pprof_audit_log %%TESTDIR%%/audit.jsonl;
pprof_audit_signing_key %%TESTDIR%%/keys/pprof_audit_ed25519.pem;
pprof_audit_checkpoint 3;
CONF
    location /debug/pprof/ {
        pprof on;
        pprof_identity jwt apikey;
        pprof_jwt_keys %%TESTDIR%%/keys/jwks.json;
        pprof_jwt_issuer https://idp.example;
        pprof_jwt_audience pprof;
        pprof_api_keys %%TESTDIR%%/keys/api_keys;
        proxy_pass http://%%TARGET%%;
    }
LOC
($rc, $out) = $t->nginx_t;
is($rc, 0, 'nginx -t takes the key files') or diag($out);
unlike($out, qr/skipped|warn/, 'every JWK of the JWKS is usable');
$t->run;

# (status, reason, whether the Go target served it)
sub ask {
    my ($path, %h) = @_;
    my $before = () = $t->upstream_requests;
    my $r = $t->get('tls', $path, headers => \%h);
    my $after = () = $t->upstream_requests;
    my ($reason) = ($r->{body} // '') =~ /^pprof-gateway: (\w+):/;
    return [$r->{status}, $reason // '', $after - $before];
}

for my $alg (sort keys %jwt) {
    is_deeply(ask('/debug/pprof/heap', Authorization => "Bearer $jwt{$alg}"),
        [200, '', 1], "$alg token: heap from the target");
}

# Tampering: other claims under the same signature, a changed signature,
# and a token that the recipe's function signs with a key not in the JWKS.
my ($h, $p, $s) = split /\./, $jwt{eddsa};
my $claims = decode_base64url($p);
$claims =~ s/alice\@example\.com/mallory\@example.com/ or die "no sub: $claims";
my $forged = join '.', $h, encode_base64url($claims), $s;
is_deeply(ask('/debug/pprof/heap', Authorization => "Bearer $forged"),
    [401, 'invalid_credential', 0], 'claims changed under the signature: 401');
my $flipped = substr($s, 10, 1) eq 'A' ? 'B' : 'A';
my $sig2 = $s;
substr($sig2, 10, 1) = $flipped;
is_deeply(ask('/debug/pprof/heap', Authorization => "Bearer $h.$p.$sig2"),
    [401, 'invalid_credential', 0], 'signature changed: 401');

# der_to_rs pads short integers: R = 5 and S = 0xff01 in DER.  A real
# signature has one only once in about 128.
($rc, $out) = bash($recipe{'jwt-sign'}
    . q{printf '\x30\x08\x02\x01\x05\x02\x03\x00\xff\x01' | der_to_rs | basenc --base16 -w0});
is($out, ('00' x 31) . '05' . ('00' x 30) . 'FF01', 'der_to_rs pads R and S to 32 bytes');

($rc, $out) = bash($recipe{b64url} . $recipe{'jwt-sign'} . <<'SH');
openssl genpkey -algorithm ed25519 -out rogue.key
jwt_sign EdDSA ed1 rogue.key "$(printf '{"iss":"https://idp.example","aud":"pprof","sub":"alice@example.com","roles":["oncall"],"exp":%d}' $(($(date +%s) + 600)))"
jwt_sign HS256 ed1 rogue.key '{}' 2>&1 || echo "refused"
SH
is($rc, 0, 'a token from a foreign key') or diag($out);
my ($rogue, @refused) = split /\n/, $out;
like(join("\n", @refused), qr/jwt_sign: HS256 is not EdDSA, RS256 or ES256\s*refused/s,
    'jwt_sign refuses an algorithm it cannot sign')
    or diag($out);
is_deeply(ask('/debug/pprof/heap', Authorization => "Bearer $rogue"),
    [401, 'invalid_credential', 0], 'a key not in the JWKS: 401');

# The API key, as Bearer and as Basic with the identity of its line.
is_deeply(ask('/debug/pprof/heap', Authorization => "Bearer $key"),
    [200, '', 1], 'API key as Bearer');
is_deeply(ask('/debug/pprof/heap',
        Authorization => 'Basic ' . encode_base64("parca:$key", '')),
    [200, '', 1], 'API key as the password of parca');
is_deeply(ask('/debug/pprof/heap', Authorization => "Bearer ${key}0"),
    [401, 'invalid_credential', 0], 'another key: 401');

# go tool pprof URL takes the CA from SSL_CERT_FILE and ignores -tls_ca,
# as docs/authentication.md says.
like($t->read_file($t->root . '/docs/authentication.md'),
    qr/system roots and ignores `-tls_ca`. For a private CA,\s+`SSL_CERT_FILE=/,
    'authentication.md: -tls_ca is ignored, SSL_CERT_FILE works');
my $url = 'https://parca:' . $key . '@localhost:' . $t->port('tls') . '/debug/pprof/heap';
my $env = "HOME='$d' PPROF_TMPDIR='$d' GOCACHE='$d/go-cache'";
$out = `cd '$d' && $env go tool pprof -tls_ca '$d/ca.crt' -raw '$url' 2>&1`;
isnt($?, 0, 'go tool pprof URL -tls_ca: fails');
like($out, qr/certificate signed by unknown authority/, '... it ignored -tls_ca')
    or diag($out);
$out = `cd '$d' && $env SSL_CERT_FILE='$d/ca.crt' go tool pprof -raw '$url' 2>&1`;
is($?, 0, 'go tool pprof URL with SSL_CERT_FILE: works') or diag($out);
like($out, qr/pprof-gateway: audit_id=\w+ identity=parca roles=scraper/,
    '... and reads the gateway-annotated heap');

# The audit key signed the log; its derived public key verifies it, and
# another Ed25519 key does not.
$t->stop;
$out = `'$audit_tool' verify '$d/audit.jsonl' --pubkey '$k/pprof_audit.pub' 2>&1`;
is($?, 0, 'pprof-audit verify --pubkey pprof_audit.pub') or diag($out);
like($out, qr/^ok: \d+ records, [1-9]\d* checkpoints verified/, '... with checkpoints');
system("openssl pkey -in '$k/jwt_ed25519.key' -pubout -out '$d/other.pub'") == 0
    or die "openssl pkey\n";
$out = `'$audit_tool' verify '$d/audit.jsonl' --pubkey '$d/other.pub' 2>&1`;
isnt($?, 0, 'another Ed25519 key does not verify the log');

$t->done_testing_checks;
done_testing;
