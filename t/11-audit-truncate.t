#!/usr/bin/perl

# SPEC §3 and §8 with real nginx: every request the module sees leaves a
# decision record, however long what the client sent.  An 8 KB method, an
# 8 KB path, an 8 KB identity from a variable and a JWT with a 2 KB sub
# each get their answer and a record named by X-Pprof-Audit-Id, with the
# long value cut with "…" and "truncated": true; a JWT with 16 KB of
# claims is refused by its size and audited; the log still verifies.  A
# request nginx itself refuses for its size never reaches the module: it
# has no audit id and no record.

use strict;
use warnings;

use JSON::PP;
use Test::More;
use PprofTest;
use PprofGateway qw(roles_conf make_identities tls_server);

my $audit_tool = $ENV{PPROF_AUDIT} || PprofTest->new(module => 0)->root . '/build/pprof-audit';
-x $audit_tool or die "pprof-audit is missing ($audit_tool): run make tools\n";
my $jwt_tool = $ENV{PPROF_JWT} || PprofTest->new(module => 0)->root . '/build/pprof-jwt';
-x $jwt_tool or die "pprof-jwt is missing ($jwt_tool): run make build/pprof-jwt\n";

my $t = PprofTest->new;
make_identities($t);
$t->start_target;

my $d = $t->testdir;
system($jwt_tool, 'keygen', 'EdDSA', "$d/eddsa") == 0 or die "pprof-jwt keygen\n";

my $pprof = 'pprof on; proxy_pass http://%%TARGET%%/debug/pprof/;';

# The buffers take the long requests through to the module; the second
# server keeps nginx's defaults.
my $long = tls_server('tls', 'optional', <<"CONF");
    large_client_header_buffers 4 64k;
    location /debug/pprof/ {
        pprof_identity cert jwt;
        pprof_jwt_keys eddsa.pub;
        $pprof
    }
    location /hdr/debug/pprof/ {
        pprof_prefix /hdr/debug/pprof/;
        pprof_identity \$http_x_user;
        $pprof
    }
CONF
my $short = tls_server('short', 'optional', <<"CONF");
    location /debug/pprof/ {
        pprof_identity cert;
        $pprof
    }
CONF
$t->write_config(roles_conf() . "pprof_audit_log audit.jsonl;\n" . $long . $short);
$t->run;

sub records {
    return map { decode_json($_) } split /\n/, $t->settled_file('audit.jsonl');
}

sub verify {
    my $out = `'$audit_tool' verify '$d/audit.jsonl' 2>&1`;
    return ($? >> 8, $out);
}

# The one decision record of a denied request, found by its audit id.
sub record_of {
    my ($r, $what) = @_;
    my $id = $r->{headers}{'x-pprof-audit-id'};
    ok(defined $id && $id =~ /^[0-9a-f]{32}$/, "$what: an audit id")
        or return {};
    my @rec = grep { $_->{audit_id} eq $id } records();
    is(scalar @rec, 1, "$what: one record with that id") or return {};
    is($rec[0]{stage}, 'decision', "$what: a decision record");
    is($rec[0]{decision}, 'deny', "$what: denied");
    ok($rec[0]{truncated} && JSON::PP::is_bool($rec[0]{truncated}),
       "$what: truncated is true");
    return $rec[0];
}

my $ellipsis = "\x{2026}";
my ($r, $rec, $rc, $out);

# --- an 8 KB method ---------------------------------------------------------

my $method = 'PROPFIND' x 1024;
my $raw = $t->raw('tls', "$method /debug/pprof/heap HTTP/1.1\r\n"
    . "Host: localhost\r\nConnection: close\r\n\r\n", cert => 'oncall');
($r) = $t->parse_responses($raw);
is($r->{status}, 405, '8 KB method: 405');
$rec = record_of($r, '8 KB method');
is($rec->{reason}, 'method_not_allowed', '8 KB method: its reason');
like($rec->{method} // '', qr/^(?:PROPFIND)+PR?O?P?F?I?N?D?$ellipsis\z/,
     '8 KB method: the method cut, ending in "…"');
cmp_ok(length($rec->{method} // ''), '<', 1024, '8 KB method: cut short');

# --- an 8 KB path, two-byte characters after decoding -----------------------

my $seg = '%C3%A9' x 4096;      # "é", 8 KB once decoded
$r = $t->get('tls', "/debug/pprof/$seg/x", cert => 'oncall');
is($r->{status}, 404, '8 KB path: 404');
$rec = record_of($r, '8 KB path');
is($rec->{reason}, 'unknown_endpoint', '8 KB path: its reason');
like($rec->{path} // '', qr{^/debug/pprof/(?:\x{e9})+$ellipsis\z},
     '8 KB path: whole characters, then "…"');
cmp_ok(length($rec->{path} // ''), '<', 2048, '8 KB path: cut short');

# --- an 8 KB identity from $http_x_user -------------------------------------

my $user = 'spiffe://prod.example/ns/sre/' . ('u' x 8192);
$r = $t->get('tls', '/hdr/debug/pprof/heap', headers => { 'X-User' => $user });
is($r->{status}, 401, '8 KB identity: 401');
$rec = record_of($r, '8 KB identity');
is($rec->{reason}, 'invalid_credential', '8 KB identity: invalid_credential');
is($rec->{auth}, 'variable', '8 KB identity: from the variable');
like($rec->{identity} // '', qr{^spiffe://prod\.example/ns/sre/u+$ellipsis\z},
     '8 KB identity: its start, then "…"');
is_deeply($rec->{roles}, [], '8 KB identity: it holds no role');

# --- JWTs with long claims --------------------------------------------------

my $now = time;
sub jwt {
    my (%claims) = @_;
    my $claims = JSON::PP->new->canonical->encode({ exp => $now + 300, %claims });
    my $jwt = `'$jwt_tool' sign EdDSA '$d/eddsa' '{"alg":"EdDSA","typ":"JWT"}' '$claims'`;
    chomp $jwt;
    return ($jwt, length $claims);
}

# The longest token the module reads (8 KiB): a 2 KB sub, 3 KB of roles.
my ($jwt, $len) = jwt(sub => 'spiffe://prod.example/ns/sre/' . ('s' x 2048),
    roles => [ map { sprintf 'role-%05d', $_ } 1 .. 250 ]);
cmp_ok(length $jwt, '<=', 8192, 'a token of at most 8 KiB');
$r = $t->get('tls', '/debug/pprof/heap',
    headers => { Authorization => "Bearer $jwt" });
is($r->{status}, 401, 'JWT with a 2 KB sub: 401');
$rec = record_of($r, 'JWT with a 2 KB sub');
is($rec->{auth}, 'jwt', 'JWT with a 2 KB sub: from the JWT');
like($rec->{identity} // '', qr{^spiffe://prod\.example/ns/sre/s+$ellipsis\z},
     'JWT with a 2 KB sub: its start, then "…"');
is_deeply($rec->{roles}, [], 'JWT with a 2 KB sub: it holds no role');

# 16 KB of claims: a token the module refuses by its size, before any of
# it is parsed, so nothing of it is in the record; it is still audited.
($jwt, $len) = jwt(sub => 'spiffe://prod.example/ns/sre/' . ('s' x 8192),
    roles => [ map { sprintf 'role-%05d', $_ } 1 .. 800 ]);
cmp_ok($len, '>', 16384, 'the claims are over 16 KB');
$r = $t->get('tls', '/debug/pprof/heap',
    headers => { Authorization => "Bearer $jwt" });
is($r->{status}, 401, 'JWT with 16 KB of claims: 401');
my $id = $r->{headers}{'x-pprof-audit-id'} // 'none';
($rec) = grep { $_->{audit_id} eq $id } records();
ok($rec, 'JWT with 16 KB of claims: a record with its audit id');
is($rec->{reason}, 'invalid_credential', 'JWT with 16 KB of claims: invalid_credential');
is($rec->{identity}, undef, 'JWT with 16 KB of claims: no identity read from it');
unlike($t->read_file('audit.jsonl'), qr/\Q$jwt\E|role-00800/,
       'JWT with 16 KB of claims: neither the token nor its last role in the log');

# --- what nginx refuses before the module -----------------------------------

my $before = () = records();
$raw = $t->raw('short', "$method /debug/pprof/heap HTTP/1.1\r\n"
    . "Host: localhost\r\nConnection: close\r\n\r\n", cert => 'oncall');
($r) = $t->parse_responses($raw);
like($r->{status}, qr/^(?:400|414)$/, 'default buffers: nginx refuses the method');
ok(!exists $r->{headers}{'x-pprof-audit-id'}, 'default buffers: no audit id');
$r = $t->get('short', '/debug/pprof/heap', cert => 'oncall',
    headers => { Authorization => "Bearer $jwt" });
like($r->{status}, qr/^(?:400|494)$/, 'default buffers: nginx refuses the JWT');
ok(!exists $r->{headers}{'x-pprof-audit-id'}, 'default buffers: no audit id');
is(scalar(() = records()), $before, 'default buffers: no record');

# --- the log ------------------------------------------------------------------

($rc, $out) = verify();
is($rc, 0, 'pprof-audit verify passes') or diag $out;
for my $line (split /\n/, $t->read_file('audit.jsonl')) {
    cmp_ok(length($line) + 1, '<=', 8192, 'every line fits the line limit')
        or last;
}
unlike($t->error_log, qr/audit record (?:could not be encoded|does not fit|not written)/,
       'no record was dropped');

$t->done_testing_checks;
done_testing;
