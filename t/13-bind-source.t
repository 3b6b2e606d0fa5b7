#!/usr/bin/perl

# pprof_bind's source= (SPEC §6): a bind written for certificates grants its
# roles only to identities that came from a certificate's URI SAN. A JWT
# sub, an API key's identity or a variable shaped like a SPIFFE ID does not
# take them, and a certificate whose DNS SAN or CN is shaped like one is
# refused (docs/design-notes.md (al)).

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use Test::More;
use PprofTest;
use PprofGateway qw(tls_server jwt_tool);

my $t = PprofTest->new;
$t->start_target;

my $sre = 'spiffe://prod.example/ns/sre';

$t->client_cert('uri', subject => '/CN=ignored', san => "URI:$sre/alice");
$t->client_cert('dns-spiffe', subject => '/CN=plain-cn',
    san => "DNS:$sre/eve");
$t->client_cert('cn-spiffe',
    subject => '/CN=spiffe:\/\/prod.example\/ns\/sre\/eve');
$t->client_cert('dns', subject => '/CN=x', san => 'DNS:svc.prod.example');

sub tool { return jwt_tool($t, @_) }

tool('keygen', 'ES256', 'es256');
$t->write_file('jwks.json',
    '{"keys":[' . tool('jwk', 'ES256', 'es256', 'es1') . ']}');
my $jwt = tool('sign', 'ES256', 'es256', '{"alg":"ES256","kid":"es1","typ":"JWT"}',
    JSON::PP->new->canonical->encode({ sub => "$sre/mallory",
        exp => time + 300 }));

my $key = 'spiffe-shaped-key-0123456789';
$t->write_file('api.keys', sha256_hex($key) . " $sre/keyed\n");

$t->write_config(<<'CONF'
pprof_role viewer index cmdline symbol;
pprof_role oncall index cmdline symbol snapshot capture;
pprof_bind ~^spiffe://prod\.example/ns/sre/ oncall source=cert;
pprof_bind ~^spiffe://prod\.example/ns/sre/ viewer source=jwt source=apikey;
pprof_bind svc.prod.example viewer source=cert;
log_format binds '"$pprof_identity" "$pprof_roles" $pprof_reason';
access_log %%TESTDIR%%/binds.log binds;
CONF
    . tls_server('tls', 'optional', <<'CONF'));
    location /debug/pprof/ {
        pprof on;
        pprof_identity cert jwt apikey $http_x_user;
        pprof_jwt_keys jwks.json;
        pprof_api_keys api.keys;
        proxy_pass http://%%TARGET%%;
    }
CONF
$t->run;

# (status, reason or '', the roles logged for it)
sub ask {
    my ($path, %opts) = @_;
    my %h;
    $h{Authorization} = "Bearer $opts{bearer}" if defined $opts{bearer};
    $h{'X-User'} = $opts{user} if defined $opts{user};
    my $before = -e $t->path('binds.log') ? length $t->read_file('binds.log') : 0;
    my $r = $t->get('tls', $path, headers => \%h,
        defined $opts{cert} ? (cert => $opts{cert}) : ());
    my $log = $t->settled_file('binds.log');
    my ($last) = (split /\n/, substr($log, $before))[-1];
    my ($roles) = ($last // '') =~ /^"[^"]*" "([^"]*)"/;
    my ($reason) = ($r->{body} // '') =~ /^pprof-gateway: (\w+):/;
    return ($r->{status}, $reason // '', $roles // '');
}

# A real URI SAN: the certificate bind applies.
is_deeply([ask('/debug/pprof/heap', cert => 'uri')], [200, '', 'oncall'],
    'URI SAN: oncall from the source=cert bind');
is_deeply([ask('/debug/pprof/heap', cert => 'dns')], [403, 'forbidden', 'viewer'],
    'plain DNS SAN: its own source=cert bind only');

# Other sources with a SPIFFE-shaped identity: never the certificate's role.
is_deeply([ask('/debug/pprof/heap', bearer => $jwt)],
    [403, 'forbidden', 'viewer'], 'JWT sub spiffe://...: no oncall');
is_deeply([ask('/debug/pprof/cmdline', bearer => $jwt)], [200, '', 'viewer'],
    'JWT sub spiffe://...: the source=jwt bind applies');
is_deeply([ask('/debug/pprof/heap', bearer => $key)],
    [403, 'forbidden', 'viewer'], 'API key spiffe://...: no oncall');
is_deeply([ask('/debug/pprof/heap', user => "$sre/var")],
    [403, 'forbidden', ''], 'variable spiffe://...: no role at all');

# Certificates whose other names are shaped like a SPIFFE ID are refused.
is_deeply([ask('/debug/pprof/heap', cert => 'dns-spiffe')],
    [401, 'invalid_credential', ''], 'DNS SAN spiffe://...: refused');
is_deeply([ask('/debug/pprof/heap', cert => 'cn-spiffe')],
    [401, 'invalid_credential', ''], 'CN-only spiffe://...: refused');
like($t->error_log, qr/invalid_credential: certificate CN looks like a URI/,
    'the refusal says why');

$t->done_testing_checks;

# nginx -t on source= words.
for my $case (
    ['source=bogus', qr/pprof_bind: "source=bogus" is not an identity source/],
    ['source=', qr/pprof_bind: "source=" is not an identity source/],
    ['source=Cert', qr/is not an identity source/],
    ['source=cert', qr/pprof_bind: "x" is bound to no role/, 'noroles'],
    ['viewer source=xfcc', undef, 'ok'],
    ['viewer source=variable source=anonymous', undef, 'ok'],
    ['source=cert viewer', undef, 'ok'],
) {
    my ($words, $want, $kind) = @$case;
    $kind //= 'error';
    my $c = PprofTest->new;
    $c->write_config(<<"CONF");
pprof_role viewer index;
pprof_bind x @{[ $kind eq 'error' ? "viewer $words" : $words ]};
server {
    listen 127.0.0.1:%%PORT_HTTP%%;
    location /debug/pprof/ { pprof on; pprof_tls off; proxy_pass http://127.0.0.1:1; }
}
CONF
    my ($rc, $out) = $c->nginx_t;
    if ($kind eq 'ok') {
        is($rc, 0, "nginx -t accepts pprof_bind x $words") or diag($out);
    } else {
        isnt($rc, 0, "nginx -t refuses pprof_bind x $words");
    }
    like($out, $want, "pprof_bind x $words: message") if $want;
}

done_testing;
