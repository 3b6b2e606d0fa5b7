#!/usr/bin/perl

# pprof_authz under an outside review: the content handler's request
# lifecycle (denials, allows, checks with bodies, HEAD, keep-alive, HTTP/2,
# a subrequest in the same nginx), the dry run, the audit log that cannot
# be written, capture leases and the budget charged at the check, the
# statuses of original mode, and hostile proxy headers (X-Forwarded-For,
# X-Forwarded-Proto, identities, IPv6).

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use JSON::PP;
use Test::More;
use PprofTest;

my $KEY = 'oncall-key-0123456789';
my $BOB = 'viewer-key-0123456789';

my $t = PprofTest->new;
$t->pki;
$t->start_target;
$t->write_file('api.keys', sha256_hex($KEY) . " sre-alice oncall\n"
    . sha256_hex($BOB) . " dev-bob viewer\n");

# nginx -t refuses a role name that cannot travel in X-Pprof-Roles or
# $pprof_roles: a comma splits it in two for the reader, a space or a
# control byte breaks the header.
for my $bad ('"a,b"', '"a b"', "\"a\x01b\"") {
    $t->write_config("pprof_role $bad cmdline;\n"
        . "server { listen 127.0.0.1:%%PORT_ENVOY%%; }\n");
    my ($rc, $out) = $t->nginx_t;
    isnt($rc, 0, "nginx -t refuses the role name $bad");
    like($out, qr/pprof_role: .* is not a role name/, "... and says why") or diag($out);
}

my $loc = <<'LOC';
        pprof_trusted_proxies 127.0.0.1 ::1;
        pprof_identity apikey $http_x_user;
        pprof_api_keys %%TESTDIR%%/api.keys;
        pprof_rate off;
        pprof_max_seconds 10;
LOC

$t->write_config(<<"CONF");
pprof_role oncall index cmdline symbol snapshot capture;
pprof_role viewer index cmdline;
pprof_bind ~^u- viewer;
pprof_audit_log audit.jsonl;
pprof_tls off;

server {
    listen 127.0.0.1:%%PORT_ENVOY%%;
    server_name envoy.test;
    listen [::1]:%%PORT_ENVOY%%;
    listen 127.0.0.1:%%PORT_H2%% ssl http2;
    ssl_certificate %%TESTDIR%%/server.crt;
    ssl_certificate_key %%TESTDIR%%/server.key;
    keepalive_requests 1000;

    location /authz/ {
        pprof_authz envoy;
        pprof_authz_prefix /authz;
        pprof_capture_budget 3s per 1h;
        pprof_allow 127.0.0.0/8 10.1.0.0/16 ::1 2001:db8::/64;
$loc    }

    location /tls/ {
        pprof_authz envoy;
        pprof_authz_prefix /tls;
        pprof_tls required;
$loc
    }

    location /rate/ {
        pprof_authz envoy;
        pprof_authz_prefix /rate;
        pprof_trusted_proxies 127.0.0.1;
        pprof_identity apikey;
        pprof_api_keys %%TESTDIR%%/api.keys;
        pprof_rate cmdline 1r/m burst=0;
    }

    location /full/ {
        pprof_authz envoy;
        pprof_authz_prefix /full;
        pprof_audit_log /dev/full;
$loc    }
}

server {
    listen 127.0.0.1:%%PORT_ORIGINAL%%;
    server_name original.test;

    location /authz/ {
        pprof_authz original;
$loc    }

    location /full/ {
        pprof_authz original;
        pprof_audit_log /dev/full;
$loc    }
}

server {
    listen 127.0.0.1:%%PORT_DRY%%;
    server_name dry.test;

    location /authz/ {
        pprof_authz forward;
        pprof_enforce off;
        pprof_trusted_proxies 10.255.255.1;
        pprof_tls off;
        pprof_identity apikey;
        pprof_api_keys %%TESTDIR%%/api.keys;
    }
}

# A front and its authorization location in one nginx: the check is a
# subrequest, which reads the client's own headers.
server {
    listen 127.0.0.1:%%PORT_SELF%%;
    server_name self.test;

    location /debug/pprof/ {
        auth_request /_authz;
        proxy_pass http://%%TARGET%%;
    }

    location = /_authz {
        pprof_authz original;
$loc    }
}
CONF
my ($rc, $out) = $t->nginx_t;
is($rc, 0, 'nginx -t accepts the configuration') or diag($out);
$t->run;

my $json = JSON::PP->new;
sub records {
    return map { $json->decode($_) } grep { length } split /\n/, $t->settled_file('audit.jsonl');
}
sub record_of {
    my ($r) = @_;
    my $id = $r->{headers}{'x-pprof-audit-id'} // '';
    my @r = grep { $_->{audit_id} eq $id } records();
    return $r[0] || {};
}

# One raw HTTP/1.1 request; $o{h} is a list of header lines.
sub req {
    my ($method, $path, %o) = @_;
    my $s = "$method $path HTTP/1.1\r\nHost: payments.example\r\n";
    $s .= "$_\r\n" for @{ $o{h} || [] };
    $s .= "Authorization: Bearer $o{key}\r\n" if $o{key};
    $s .= "Connection: close\r\n" if $o{close};
    return "$s\r\n" . ($o{body} // '');
}

###############################################################################
# The request's lifecycle: keep-alive across denials, allows, bodies, HEAD

{
    my $cl = 'a' x 5;
    my $chunked = "5\r\nhello\r\n0\r\n\r\n";
    my $seq = req('GET', '/authz/debug/pprof/cmdline')
        . req('GET', '/authz/debug/pprof/cmdline', key => $KEY)
        . req('GET', '/authz/debug/pprof/cmdline', key => $KEY,
              h => ['Content-Length: 5'], body => $cl)
        . req('GET', '/authz/debug/pprof/cmdline', key => $KEY,
              h => ['Transfer-Encoding: chunked'], body => $chunked)
        . req('HEAD', '/authz/debug/pprof/cmdline')
        . req('HEAD', '/authz/debug/pprof/cmdline', key => $KEY)
        . req('GET', '/authz/debug/pprof/nope/x', key => $KEY)
        . req('GET', '/authz/debug/pprof/cmdline', key => $KEY, close => 1);
    my @m = qw(GET GET GET GET HEAD HEAD GET GET);
    my @r = $t->parse_responses($t->raw('envoy', $seq, tls => 0), \@m);
    is(scalar @r, 8, 'keep-alive: eight checks on one connection, eight answers');
    is_deeply([map { $_->{status} } @r], [401, 200, 400, 400, 401, 200, 404, 200],
        'keep-alive: deny, allow, bodies refused, HEAD, 404, allow, in order');
    like($r[2]{body} // '', qr/bad_parameter: .*a check request carries no body/,
        'a check with Content-Length: 400, the body is not the check');
    like($r[3]{body} // '', qr/carries no body/, 'a chunked check: 400 the same');
    is($r[4]{body} // '', '', 'a HEAD denial has no body');
    is($r[5]{headers}{'x-pprof-identity'}, 'sre-alice', 'a HEAD check is allowed with the identity');
}

# A body larger than nginx reads at once: discarded, and the connection
# goes on to the next check.
{
    my $big = 'x' x 300000;
    my $seq = req('GET', '/authz/debug/pprof/cmdline', key => $KEY,
              h => ['Content-Length: ' . length $big], body => $big)
        . req('GET', '/authz/debug/pprof/cmdline', key => $KEY, close => 1);
    my @r = $t->parse_responses($t->raw('envoy', $seq, tls => 0), [qw(GET GET)]);
    is_deeply([map { $_->{status} } @r], [400, 200],
        'a 300 KB body is discarded and the next check on the connection is answered');
}

# Dry run: a body is what enforcing would refuse; the allow discards it.
{
    my $seq = req('GET', '/authz/', h => ['X-Forwarded-Method: GET',
              'X-Forwarded-Uri: /debug/pprof/cmdline', 'Content-Length: 3'], body => 'abc')
        . req('GET', '/authz/', h => ['X-Forwarded-Method: GET',
              'X-Forwarded-Uri: /debug/pprof/cmdline'], close => 1);
    my @r = $t->parse_responses($t->raw('dry', $seq, tls => 0), [qw(GET GET)]);
    is_deeply([map { $_->{status} } @r], [200, 200],
        'dry run: both checks answered 200 on one connection, the body discarded');
}

###############################################################################
# HTTP/2

{
    my @base = ('--http2', '-o', '/dev/null', '-o', '/dev/null',
        '-w', '%{http_version} %{http_code}\n');
    my $url = $t->url('h2', '/authz/debug/pprof/cmdline');
    my ($crc, $cout) = $t->curl(@base, $url, $url);
    is($cout, "2 401\n2 401\n", 'HTTP/2: two denials on one connection');
    ($crc, $cout) = $t->curl(@base, '-H', "Authorization: Bearer $KEY", $url, '-I', );
    is($cout, "2 200\n", 'HTTP/2: HEAD allowed');
    ($crc, $cout) = $t->curl(@base, '-H', "Authorization: Bearer $KEY", $url, $url);
    is($cout, "2 200\n2 200\n", 'HTTP/2: two allows on one connection');
    ($crc, $cout) = $t->curl(@base, '-H', "Authorization: Bearer $KEY", '-X', 'GET',
        '--data-binary', 'x' x 100000, $url);
    is($cout, "2 400\n", 'HTTP/2: a check with a body is 400');
    ($crc, $cout) = $t->curl(@base, '-H', "Authorization: Bearer $KEY", '-X', 'GET',
        '-H', 'Transfer-Encoding: chunked', '--data-binary', 'abc', $url, $url);
    like($cout, qr/^2 400\n/, 'HTTP/2: a body of unknown length is 400 too');
}

###############################################################################
# A subrequest: auth_request in the same nginx to a pprof_authz location
# reads the client's own headers and address. It is refused, and the error
# log says why.

$t->clear_upstream;
{
    my $r = $t->get('self', '/debug/pprof/cmdline', tls => 0,
        headers => { 'X-Original-Method' => 'GET', 'X-Original-URI' => '/debug/pprof/cmdline',
                     Authorization => "Bearer $KEY" });
    is($r->{status}, 500, 'subrequest: a check in the same nginx is refused as the error it is');
    is(scalar $t->upstream_requests, 0, 'subrequest: ... nothing reached the target');
    like($t->error_log, qr/\[error\].*pprof: internal_error: pprof_authz answers another proxy's check, not a subrequest/,
        'subrequest: ... and the error log says why');
}

###############################################################################
# Leases: a capture holds its slot for its seconds plus 15 s, Retry-After
# counts to the lease's end; the budget is charged at the check.

{
    my $r = $t->get('envoy', '/authz/debug/pprof/profile?seconds=2', tls => 0, headers => { Authorization => "Bearer $KEY" });
    is($r->{status}, 200, 'lease: a 2 s profile is allowed');
    $r = $t->get('envoy', '/authz/debug/pprof/profile?seconds=1', tls => 0, headers => { Authorization => "Bearer $KEY" });
    is($r->{status}, 429, 'lease: a second profile is capture_busy');
    like($r->{body}, qr/capture_busy/, 'lease: ... capture_busy');
    my $ra = $r->{headers}{'retry-after'} // 0;
    ok($ra >= 16 && $ra <= 17, "lease: Retry-After is until the lease ends, 2 s + 15 s ($ra)");
    $r = $t->get('envoy', '/authz/debug/pprof/trace?seconds=2', tls => 0, headers => { Authorization => "Bearer $KEY" });
    is($r->{status}, 429, 'budget: charged at the check, 2 s + 2 s is over 3s per 1h');
    like($r->{body}, qr/budget_exhausted/, 'budget: ... budget_exhausted');
    ok(($r->{headers}{'retry-after'} // 0) > 3000, 'budget: ... Retry-After about the window');
    $r = $t->get('envoy', '/authz/debug/pprof/trace?seconds=1', tls => 0, headers => { Authorization => "Bearer $KEY" });
    is($r->{status}, 200, 'budget: a 1 s trace still fits, its slot separate from profile\'s');
}

# Rates are kept per identity: one identity's limit is not another's.
{
    my $get = sub { $t->get('envoy', '/rate/debug/pprof/cmdline', tls => 0, headers => { Authorization => "Bearer $_[0]" }) };
    is($get->($KEY)->{status}, 200, 'rate: sre-alice\'s first cmdline');
    my $r = $get->($KEY);
    is($r->{status}, 429, 'rate: ... her second within the minute is 429');
    # 1r/m is 16 milli-requests a second, as limit_req rounds it: 63 s.
    like($r->{headers}{'retry-after'} // '', qr/^(6[0-3])$/, 'rate: ... Retry-After until the next token');
    is($get->($BOB)->{status}, 200, 'rate: dev-bob is not limited by her');
}

###############################################################################
# original mode: every denial but 401 is 403, with the real status

sub original {
    my ($loc, %h) = @_;
    return $t->get('original', "/$loc/", tls => 0, headers => \%h);
}
my %ok = ('X-Original-Method' => 'GET', Authorization => "Bearer $KEY");
for my $case (
    [400, 'bad_parameter', 'authz', 'X-Original-URI' => '/debug/pprof/heap?debug=9'],
    [404, 'unknown_endpoint', 'authz', 'X-Original-URI' => '/debug/pprof/a/b'],
    [405, 'method_not_allowed', 'authz', 'X-Original-URI' => '/debug/pprof/cmdline', 'X-Original-Method' => 'POST'],
    [503, 'audit_unavailable', 'full', 'X-Original-URI' => '/debug/pprof/cmdline'],
) {
    my ($status, $reason, $l, %h) = @$case;
    my $r = original($l, %ok, %h);
    is($r->{status}, 403, "original: $status is answered 403");
    is($r->{headers}{'x-pprof-status'}, $status, "original: ... X-Pprof-Status $status");
    is($r->{headers}{'x-pprof-reason'}, $reason, "original: ... X-Pprof-Reason $reason");
}
{
    my $r = original('authz', %ok, 'X-Original-URI' => '/debug/pprof/profile?seconds=5');
    is($r->{status}, 200, 'original: a 5 s profile') or diag(explain $r);
    $r = original('authz', %ok, 'X-Original-URI' => '/debug/pprof/profile?seconds=1');
    is($r->{headers}{'x-pprof-status'}, 429, 'original: capture_busy is X-Pprof-Status 429');
    like($r->{headers}{'retry-after'} // '', qr/^(19|20)$/, 'original: ... Retry-After kept, to the lease\'s end');
}

# A check whose original request cannot be read still records its client.
{
    my $r = original('authz', Authorization => "Bearer $KEY", 'X-Original-URI' => '/debug/pprof/cmdline',
        'X-Forwarded-For' => '10.1.7.7');
    is($r->{headers}{'x-pprof-status'}, 400, 'original: no X-Original-Method is 400');
    is(record_of($r)->{client}, '10.1.7.7', 'original: ... and its record names the client from X-Forwarded-For');
    $r = original('authz', %ok, 'X-Original-URI' => '/debug/pprof/x/../heap', 'X-Forwarded-For' => '10.1.7.8');
    is(record_of($r)->{client}, '10.1.7.8', 'original: a path trick\'s record names the client too');
}

# envoy mode with an unwritable audit log: 503 itself
{
    my $r = $t->get('envoy', '/full/debug/pprof/cmdline', tls => 0, headers => { Authorization => "Bearer $KEY" });
    is($r->{status}, 503, 'envoy: an audit log that cannot be written is 503');
    like($r->{body}, qr/^pprof-gateway: audit_unavailable/, 'envoy: ... audit_unavailable');
}

###############################################################################
# Dry run: every check is answered 200, recorded as what it would be

{
    my $r = $t->get('dry', '/authz/', tls => 0, headers => {
        'X-Forwarded-Method' => 'GET', 'X-Forwarded-Uri' => '/debug/pprof/heap' });
    is($r->{status}, 200, 'dry run: an untrusted proxy without a credential is answered 200');
    my $rec = record_of($r);
    is($rec->{reason}, 'untrusted_proxy', 'dry run: ... recorded as untrusted_proxy');
    ok(exists $rec->{enforced} && !$rec->{enforced}, 'dry run: ... enforced false');
    is($rec->{decision}, 'deny', 'dry run: ... decision deny');
    is($rec->{mode}, 'authz', 'dry run: ... mode authz');
}

###############################################################################
# Hostile proxy headers

sub envoy {
    my ($path, %o) = @_;
    my @h = map { ('-H', $_) } @{ $o{h} || [] };
    push @h, '-H', "Authorization: Bearer $o{key}" if $o{key};
    my $host = $o{v6} ? '[::1]' : '127.0.0.1';
    my ($crc, $cout) = $t->curl({ cacert => undef }, '-g', '-i', '--path-as-is', @h,
        "http://$host:" . $t->port('envoy') . $path);
    die "curl failed ($crc): $cout" if $crc != 0;
    my ($resp) = $t->parse_responses($cout, ['GET']);
    return $resp;
}

# X-Forwarded-Proto: only one plain "https" counts.
for my $case (['https', 200], ['HTTPS', 200], ['http', 403], ['https, http', 403],
    ['https,https', 403], [['https', 'https'], 403], ['', 403])
{
    my ($proto, $want) = @$case;
    my @h = map { "X-Forwarded-Proto: $_" } ref $proto ? @$proto : ($proto);
    @h = () if !ref $proto && $proto eq '';
    my $r = envoy('/tls/debug/pprof/cmdline', key => $KEY, h => \@h);
    is($r->{status}, $want, 'X-Forwarded-Proto ' . join(' + ', map { "\"$_\"" } ref $proto ? @$proto : ($proto))
        . " with pprof_tls required: $want");
}

# X-Forwarded-For: read from the right; the client's own entries are not.
{
    my $many = join(', ', ('127.0.0.1') x 300);
    my $r = envoy('/authz/debug/pprof/cmdline', key => $KEY, h => ["X-Forwarded-For: $many"]);
    is($r->{status}, 200, 'X-Forwarded-For of 300 trusted entries: the leftmost is the client');
    is(record_of($r)->{client}, '127.0.0.1', '... recorded');

    $r = envoy('/authz/debug/pprof/cmdline', key => $KEY,
        h => ['X-Forwarded-For: 10.1.2.3', 'X-Forwarded-For: unknown, 10.9.9.9']);
    is($r->{status}, 403, 'two X-Forwarded-For lines are one list: the last untrusted entry is the client');
    is(record_of($r)->{client}, '10.9.9.9', '... 10.9.9.9');

    $r = envoy('/authz/debug/pprof/cmdline', key => $KEY, h => ['X-Forwarded-For: 10.1.2.3, unknown']);
    is($r->{status}, 400, 'an X-Forwarded-For entry that decides and is no address: 400');
    like($r->{body}, qr/X-Forwarded-For entry/, '... and says which header');

    $r = envoy('/authz/debug/pprof/cmdline', key => $KEY, h => ['X-Forwarded-For: 10.1.2.3:99999']);
    is($r->{status}, 400, 'an entry with a port out of range: 400');

    $r = envoy('/authz/debug/pprof/cmdline', key => $KEY, h => ['X-Forwarded-For: 10.1.2.3:8080, ::1']);
    is($r->{status}, 200, 'an IPv4 entry with a port, then a trusted IPv6 proxy');
    is(record_of($r)->{client}, '10.1.2.3', '... the client is 10.1.2.3');
}

# IPv6: the proxy and the client
{
    my $r = envoy('/authz/debug/pprof/cmdline', key => $KEY, v6 => 1,
        h => ['X-Forwarded-For: [2001:db8::7]:443']);
    is($r->{status}, 200, 'IPv6: a check from ::1 for [2001:db8::7]:443');
    my $rec = record_of($r);
    is($rec->{proxy}, '::1', 'IPv6: proxy ::1');
    is($rec->{client}, '2001:db8::7', 'IPv6: client 2001:db8::7');
    $r = envoy('/authz/debug/pprof/cmdline', key => $KEY, v6 => 1,
        h => ['X-Forwarded-For: 2001:db8:1::7']);
    is($r->{status}, 403, 'IPv6: a client outside pprof_allow is address_denied');
    $r = envoy('/authz/debug/pprof/cmdline', key => $KEY, v6 => 1,
        h => ['X-Forwarded-For: ::ffff:10.9.2.3']);
    is($r->{status}, 403, 'IPv6: an IPv4-mapped client is judged as its IPv4 address, as nginx\'s allow does');
    $r = envoy('/authz/debug/pprof/cmdline', key => $KEY, v6 => 1,
        h => ['X-Forwarded-For: ::ffff:10.1.2.3']);
    is($r->{status}, 200, 'IPv6: ... inside pprof_allow');
}

# X-Original-URL and X-Forwarded-Uri tricks: refused, never reinterpreted.
for my $url ('http://evil\\@h/debug/pprof/cmdline', 'http://h#@evil/debug/pprof/cmdline',
    'http://h?/debug/pprof/cmdline', '//h/debug/pprof/cmdline', 'http:/debug/pprof/cmdline',
    'ftp://h/debug/pprof/cmdline', 'http://h')
{
    my $r = original('authz', %ok, 'X-Original-URL' => $url);
    is($r->{headers}{'x-pprof-status'}, 400, "X-Original-URL $url: 400");
}
{
    my $r = original('authz', %ok, 'X-Original-URL' => 'HTTPS://[2001:db8::1]:8443/debug/pprof/cmdline');
    is($r->{status}, 200, 'X-Original-URL with an IPv6 authority: only its path counts');
    $r = original('authz', %ok, 'X-Original-URL' => 'http://h/debug/pprof/cmdline',
        'X-Original-URI' => '/debug/pprof/heap');
    is($r->{headers}{'x-pprof-status'}, 400, 'X-Original-URL and a client\'s X-Original-URI that disagree: 400');
}
for my $uri ('/debug/pprof/heap%00', '/debug/pprof/%2e%2e/heap', '/debug/pprof//heap',
    '/debug/pprof/heap%', '/debug/pprof/he%5Cap', '/debug/pprof/' . ('a' x 5000))
{
    my $r = $t->get('dry', '/authz/', tls => 0, headers => { 'X-Forwarded-Method' => 'GET',
        'X-Forwarded-Uri' => $uri, 'X-Forwarded-For' => '10.1.2.3' });
    my $rec = record_of($r);
    is($rec->{reason}, 'untrusted_proxy', 'X-Forwarded-Uri ' . substr($uri, 0, 30) . ': the dry run records the first failure');
}
{
    my $r = $t->get('original', '/authz/', tls => 0, headers => { %ok,
        'X-Original-URI' => '/debug/pprof/heap%00' });
    like($r->{body}, qr/control byte/, 'X-Original-URI with %00: refused as a control byte');
    $r = $t->get('original', '/authz/', tls => 0, headers => { %ok,
        'X-Original-URI' => '/debug/pprof/' . ('a' x 5000) });
    is($r->{headers}{'x-pprof-status'}, 400, 'an overlong original URI: 400');
    like($r->{body}, qr/too long/, '... too long');
}

# Identities with bytes that would break the answer's header
{
    my $r = envoy('/authz/debug/pprof/cmdline', h => ["X-User: u-\xc3\xa9 a,b%\"x\";z"]);
    is($r->{status}, 200, 'an identity with non-ASCII, space, comma, % and quotes is allowed');
    is($r->{headers}{'x-pprof-identity'}, 'u-%C3%A9%20a%2Cb%25%22x%22%3Bz',
        '... and X-Pprof-Identity carries it percent-encoded');
    is($r->{headers}{'x-pprof-roles'}, 'viewer', '... with its roles');
    $r = envoy('/authz/debug/pprof/cmdline', h => ["X-User: u-a\tb"]);
    is($r->{status}, 401, 'an identity with a control byte is refused before any header is built');
    like($r->{body}, qr/invalid_credential/, '... invalid_credential');
}

my @authz = grep { ($_->{mode} // '') eq 'authz' } records();
is(scalar(grep { !$_->{proxy} } @authz), 0, 'audit: every check names its proxy');

$t->done_testing_checks;
done_testing;
