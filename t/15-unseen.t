#!/usr/bin/perl

# Requests that nginx itself refuses before the module's phase: the module
# never sees them, so they must never reach the target, carry no audit id
# and leave no audit record.  What shows them is nginx's access log with
# $pprof_audit_id, which stays "-" for them (the recipe in
# docs/threat-model.md); this test holds both halves of that claim.

use strict;
use warnings;

use Test::More;
use PprofTest;
use PprofGateway qw(roles_conf make_identities tls_server);

my $t = PprofTest->new;
make_identities($t);
$t->start_target;

$t->write_config(roles_conf() . <<'CONF' . tls_server('tls', 'optional', <<'LOC'));
pprof_rate off;
pprof_audit_log audit.jsonl;
log_format pprof_seen '$status $request_method $ssl_client_verify '
                      'audit=$pprof_audit_id';
large_client_header_buffers 2 1k;
client_max_body_size 1k;
CONF
    access_log %%TESTDIR%%/seen.log pprof_seen;
    location /debug/pprof/ {
        pprof on;
        proxy_pass http://%%TARGET%%;
    }
LOC
$t->run;

my $host = "Host: localhost\r\nConnection: close\r\n";
my @unseen = (
    ['TRACE', 405, "TRACE /debug/pprof/cmdline HTTP/1.1\r\n$host\r\n"],
    ['oversized header', 400,
        "GET /debug/pprof/cmdline HTTP/1.1\r\n${host}X-Big: "
        . ('a' x 2048) . "\r\n\r\n"],
    ['oversized request line', 414,
        'GET /debug/pprof/cmdline?' . ('a' x 2048) . " HTTP/1.1\r\n$host\r\n"],
    ['body over client_max_body_size', 413,
        "POST /debug/pprof/symbol HTTP/1.1\r\n${host}Content-Length: 2048\r\n\r\n"
        . ('1' x 2048)],
    ['Content-Length with chunked', 400,
        "POST /debug/pprof/symbol HTTP/1.1\r\n${host}Content-Length: 4\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
);

for my $case (@unseen) {
    my ($name, $status, $bytes) = @$case;
    my $raw = $t->raw('tls', $bytes, cert => 'oncall');
    my ($r) = $t->parse_responses($raw);
    is($r->{status}, $status, "$name: nginx answers $status");
    ok(!exists $r->{headers}{'x-pprof-audit-id'}, "$name: no audit id");
}

# A certificate from a CA nginx does not trust, under "optional": nginx's
# own 400 after the handshake.
my $r = $t->get('tls', '/debug/pprof/cmdline', cert => 'impostor');
is($r->{status}, 400, 'untrusted certificate: nginx answers 400');
ok(!exists $r->{headers}{'x-pprof-audit-id'}, 'untrusted certificate: no audit id');

# One request the module does see, so the checks below can fail.
$r = $t->get('tls', '/debug/pprof/cmdline', cert => 'oncall');
is($r->{status}, 200, 'seen: 200');
my $id = $r->{headers}{'x-pprof-audit-id'};
like($id, qr/^[0-9a-f]{32}$/, 'seen: audit id');

is_deeply([map { $_->{path} } $t->upstream_requests], ['/debug/pprof/cmdline'],
    'only the request the module saw reached the target');

my @records = grep { length } split /\n/, $t->settled_file('audit.jsonl');
is(scalar @records, 2, 'audit: a decision and a response record, no more');
is(scalar(grep { /"audit_id":"$id"/ } @records), 2,
    'audit: both for the request the module saw');

my @log = grep { length } split /\n/, $t->settled_file('seen.log');
is(scalar @log, 7, 'access log: every request');
is(scalar(grep { / audit=-$/ } @log), 6, 'access log: the unseen ones have no audit id');
ok((grep { /^400 GET FAILED:.* audit=-$/ } @log),
    'access log: the certificate failure is named');
ok((grep { /^200 GET SUCCESS audit=$id$/ } @log), 'access log: the seen one has its id');

$t->done_testing_checks;
done_testing;
