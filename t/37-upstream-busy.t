#!/usr/bin/perl

# A target that another path reached refuses a capture with Go's 500
# "already in use". Through the gateway, an admitted capture then gets the
# gateway's own 429 capture_busy (Retry-After, X-Go-Pprof, the denial's
# body) and never Go's text; the audit's response record keeps what the
# target said. Every other 500 passes exactly as it came: another body,
# no X-Go-Pprof, the line with junk after it, a body over the bound (which
# streams, not held), a snapshot, a delta profile, a chunked one.

use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(sleep time);
use Test::More;
use PprofTest;

my $CPU   = "Could not enable CPU profiling: cpu profiling already in use\n";
my $TRACE = "Could not enable tracing: runtime error: tracing is already enabled\n";
my $BIG   = 'x' x 600;            # over the 512 bytes ever held

my $t = PprofTest->new;
$t->start_target;

# A stand-in target that answers 500 with what X-Case asks for, Go's busy
# line included, with a Content-Length (nginx's return sends one).
my $cpu = $CPU =~ s/\n/\\n/r;
my $trace = $TRACE =~ s/\n/\\n/r;

# Bodies nginx's return cannot send: chunked, or with a NUL byte.
my $NUL = "Could not enable CPU profiling: cpu\0profiling already in use\n";
$t->start_stub('raw', sub {
    my ($req) = @_;
    my $head = "HTTP/1.1 500 Internal Server Error\r\n"
        . "Content-Type: text/plain; charset=utf-8\r\nX-Go-Pprof: 1\r\n"
        . "Connection: close\r\n";
    return $head . 'Content-Length: ' . length($NUL) . "\r\n\r\n$NUL"
        if $req =~ /^X-Case: nul\r$/mi;
    return $head . "Transfer-Encoding: chunked\r\n\r\n"
        . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $CPU, $CPU);
});

# One that sends less than its Content-Length, then hangs up.
$t->start_stub('slow', sub {
    my $body = $CPU . $BIG;
    return "HTTP/1.1 500 Internal Server Error\r\n"
        . "Content-Type: text/plain; charset=utf-8\r\nX-Go-Pprof: 1\r\n"
        . "Content-Length: " . (length($body) + 1000) . "\r\n"
        . "Connection: close\r\n\r\n" . $body;
});

$t->write_config(<<"CONF");
pprof_role oncall index cmdline symbol snapshot capture;
pprof_bind ~^u oncall;
pprof_bind ~^127\\. oncall;
pprof_audit_log %%TESTDIR%%/audit.jsonl;

map \$http_x_case \$stand_body {
    exact     "$cpu";
    bare      "Could not enable CPU profiling: cpu profiling already in use";
    trace     "$trace";
    other     "failed to collect profile\\n";
    junk      "${cpu}and more";
    big       "$cpu$BIG";
    default   "$cpu";
}
map \$http_x_case \$stand_go_pprof {
    nohdr     "";
    zero      "0";
    default   "1";
}

server {
    listen 127.0.0.1:%%PORT_HTTP%%;
    server_name localhost;
    pprof_tls off;
    pprof_identity \$http_x_user;
    pprof_rate off;

    location /debug/pprof/ {
        pprof on;
        proxy_pass http://%%TARGET%%;
    }
    location /stand/debug/pprof/ {
        pprof on;
        pprof_prefix /stand/debug/pprof/;
        proxy_pass http://127.0.0.1:%%PORT_STAND%%/debug/pprof/;
    }
    location /dry/debug/pprof/ {
        pprof on;
        pprof_enforce off;
        pprof_prefix /dry/debug/pprof/;
        proxy_pass http://127.0.0.1:%%PORT_STAND%%/debug/pprof/;
    }
    location /raw/debug/pprof/ {
        pprof on;
        pprof_prefix /raw/debug/pprof/;
        proxy_pass http://127.0.0.1:%%PORT_RAW%%/debug/pprof/;
    }
    location /slow/debug/pprof/ {
        pprof on;
        pprof_prefix /slow/debug/pprof/;
        proxy_read_timeout 40s;
        proxy_pass http://127.0.0.1:%%PORT_SLOW%%/debug/pprof/;
    }
    location /tool/debug/pprof/ {
        pprof on;
        pprof_prefix /tool/debug/pprof/;
        pprof_identity \$remote_addr;
        proxy_pass http://%%TARGET%%/debug/pprof/;
    }
    location = /status { pprof_status; }
}

server {
    listen 127.0.0.1:%%PORT_STAND%%;
    default_type "text/plain; charset=utf-8";
    location / {
        add_header X-Go-Pprof \$stand_go_pprof always;
        return 500 "\$stand_body";
    }
}
CONF
$t->run;

sub get_as {
    my ($path, %headers) = @_;
    return $t->get('http', $path, tls => 0,
                   headers => { 'X-User' => 'u1', %headers });
}

# The audit's response record of an audit id, once written.
sub response_record {
    my ($id) = @_;
    for (1 .. 60) {
        for my $line (split /\n/, $t->settled_file('audit.jsonl')) {
            my $rec = decode_json($line);
            return $rec if ($rec->{audit_id} // '') eq $id
                           && $rec->{stage} eq 'response';
        }
        sleep 0.05;
    }
    return undef;
}

sub busy_ok {
    my ($r, $name, $retry) = @_;
    is($r->{status}, 429, "$name: 429");
    my $after = "retry after $retry second" . ($retry == 1 ? '' : 's');
    like($r->{body}, qr/^pprof-gateway: capture_busy: a capture of this endpoint is already running; the target refused it; $after \(audit id [0-9a-f]{32}\)\n\z/,
         "$name: the gateway's capture_busy body");
    unlike($r->{body}, qr/Could not enable/, "$name: none of Go's text");
    is($r->{headers}{'retry-after'}, $retry, "$name: Retry-After $retry");
    is($r->{headers}{'x-go-pprof'}, '1', "$name: X-Go-Pprof");
    like($r->{headers}{'content-type'}, qr{^text/plain}, "$name: text");
    is($r->{headers}{'content-length'}, length $r->{body},
       "$name: Content-Length of the gateway's body");
    ok(!exists $r->{headers}{'x-content-type-options'},
       "$name: nothing of the target's header");
    like($r->{headers}{'x-pprof-audit-id'}, qr/^[0-9a-f]{32}$/,
         "$name: audit id");
}

sub passes_ok {
    my ($r, $body, $name) = @_;
    is($r->{status}, 500, "$name: the 500 passes");
    is($r->{body}, $body, "$name: its body unchanged");
    like($r->{headers}{'x-pprof-audit-id'} // '', qr/^[0-9a-f]{32}$/,
         "$name: audit id");
}

# Starts a capture at the target itself, not through the gateway; returns
# the socket, whose response comes when the capture is over.
sub direct {
    my ($what) = @_;
    my $before = () = $t->upstream_requests;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port('target'))
        or die "connect: $!";
    print $s "GET /debug/pprof/$what HTTP/1.1\r\nHost: t\r\n"
        . "Connection: close\r\n\r\n";
    # The target logs a request as its handler is called: Go starts the
    # capture right after, however loaded the machine.
    my $deadline = time + 10;
    sleep 0.05 while $t->upstream_requests <= $before && time < $deadline;
    sleep 0.2;
    return $s;
}

sub finish {
    my ($s) = @_;
    local $/;
    my $raw = <$s>;
    return $raw =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0;
}

###############################################################################
# The real target, busy with a capture that did not come through here

my $s = direct('profile?seconds=4');
my $r = get_as('/debug/pprof/profile?seconds=1');
busy_ok($r, 'profile while the target profiles', 1);

my $rec = response_record($r->{headers}{'x-pprof-audit-id'});
ok($rec, 'profile: a response record');
is($rec->{status}, 429, 'audit: the status the client got');
is($rec->{reason}, 'capture_busy', 'audit: capture_busy');
is($rec->{decision}, 'deny', 'audit: deny');
is($rec->{upstream_status}, 500, 'audit: the target answered 500');
is($rec->{upstream_said}, $CPU, 'audit: what the target said');
is($rec->{bytes}, length $r->{body}, 'audit: the bytes the client got');

# Go answers a HEAD with the busy header and no body: still capture_busy.
$r = $t->get('http', '/debug/pprof/profile?seconds=1', tls => 0,
             method => 'HEAD', headers => { 'X-User' => 'u1' });
is($r->{status}, 429, 'HEAD while the target profiles: 429');
is($r->{headers}{'retry-after'}, 1, 'HEAD while the target profiles: Retry-After');
ok(!exists $r->{headers}{'x-content-type-options'},
   'HEAD while the target profiles: nothing of the target\'s header');

# Retry-After is the capture's own length.
$r = get_as('/debug/pprof/profile?seconds=3');
busy_ok($r, 'a 3 s profile while the target profiles', 3);

# JSON, for a client that asks for it.
$r = get_as('/debug/pprof/profile?seconds=1', Accept => 'application/json');
is($r->{status}, 429, 'JSON: 429');
my $json = eval { decode_json($r->{body}) } || {};
is($json->{error}, 'capture_busy', 'JSON: capture_busy');

# A trace still runs beside the CPU profile.
is(get_as('/debug/pprof/trace?seconds=1')->{status}, 200,
   'a trace beside the direct profile: 200');

is(finish($s), 200, 'the direct profile ends');
$r = get_as('/debug/pprof/profile?seconds=1');
is($r->{status}, 200, 'then a capture through the gateway: 200');
is(substr($r->{body}, 0, 2), "\x1f\x8b", 'a profile');

$s = direct('trace?seconds=3');
$r = get_as('/debug/pprof/trace?seconds=1');
busy_ok($r, 'trace while the target traces', 1);
$rec = response_record($r->{headers}{'x-pprof-audit-id'});
is($rec->{upstream_said}, $TRACE, 'audit: the trace refusal');
is(finish($s), 200, 'the direct trace ends');
is(get_as('/debug/pprof/trace?seconds=1')->{status}, 200,
   'then a trace through the gateway: 200');

# go tool pprof prints the body of an error that has X-Go-Pprof.
$s = direct('profile?seconds=4');
my $url = 'http://127.0.0.1:' . $t->port('http')
        . '/tool/debug/pprof/profile?seconds=1';
my $dir = $t->testdir;
my $out = `HOME='$dir' PPROF_TMPDIR='$dir' go tool pprof -raw '$url' 2>&1`;
like($out, qr/server response: 429 Too Many Requests - pprof-gateway: capture_busy: /,
     'go tool pprof: the gateway\'s reason') or diag($out);
unlike($out, qr/Could not enable/, 'go tool pprof: none of Go\'s text');
finish($s);

###############################################################################
# The stand-in: only Go's exact answer is rewritten

$r = get_as('/stand/debug/pprof/profile?seconds=1', 'X-Case' => 'exact');
busy_ok($r, 'stand-in, the exact line', 1);
$r = get_as('/stand/debug/pprof/profile?seconds=1', 'X-Case' => 'bare');
busy_ok($r, 'stand-in, the line without its newline', 1);
$r = get_as('/stand/debug/pprof/trace?seconds=1', 'X-Case' => 'trace');
busy_ok($r, 'stand-in, the trace line', 1);

passes_ok(get_as('/stand/debug/pprof/profile?seconds=1', 'X-Case' => 'other'),
          "failed to collect profile\n", 'another 500 body');
passes_ok(get_as('/stand/debug/pprof/profile?seconds=1', 'X-Case' => 'nohdr'),
          $CPU, 'no X-Go-Pprof');
passes_ok(get_as('/stand/debug/pprof/profile?seconds=1', 'X-Case' => 'zero'),
          $CPU, 'X-Go-Pprof: 0');
passes_ok(get_as('/stand/debug/pprof/profile?seconds=1', 'X-Case' => 'junk'),
          "${CPU}and more", 'the line with junk after it');
passes_ok(get_as('/raw/debug/pprof/profile?seconds=1', 'X-Case' => 'nul'),
          $NUL, 'a NUL byte inside');
passes_ok(get_as('/stand/debug/pprof/trace?seconds=1', 'X-Case' => 'exact'),
          $CPU, "trace answered with the CPU profile's line");
$r = get_as('/stand/debug/pprof/profile?seconds=1', 'X-Case' => 'big');
passes_ok($r, "$CPU$BIG", 'a body over the bound');
is($r->{headers}{'content-length'}, length "$CPU$BIG",
   'a body over the bound: its Content-Length');
passes_ok(get_as('/stand/debug/pprof/heap', 'X-Case' => 'exact'),
          $CPU, 'heap (a snapshot)');
passes_ok(get_as('/stand/debug/pprof/heap?seconds=1', 'X-Case' => 'exact'),
          $CPU, 'heap?seconds=1 (a delta profile)');
passes_ok(get_as('/stand/debug/pprof/cmdline', 'X-Case' => 'exact'),
          $CPU, 'cmdline');
passes_ok(get_as('/raw/debug/pprof/profile?seconds=1'), $CPU,
          'a chunked 500');

# A dry run changes no answer: the target's own passes, as without it.
passes_ok(get_as('/dry/debug/pprof/profile?seconds=1', 'X-Case' => 'exact'),
          $CPU, 'a dry run');

# A HEAD has no body to tell by: Go's header alone is its busy answer.
$r = $t->get('http', '/stand/debug/pprof/profile?seconds=1', tls => 0,
             method => 'HEAD', headers => { 'X-User' => 'u1',
                                            'X-Case' => 'exact' });
is($r->{status}, 429, 'HEAD: Go\'s header is answered capture_busy');
is($r->{body}, '', 'HEAD: no body');
is($r->{headers}{'retry-after'}, 1, 'HEAD: Retry-After');
$rec = response_record($r->{headers}{'x-pprof-audit-id'});
is($rec && $rec->{upstream_status}, 500, 'HEAD: audit: the target answered 500');
is($rec && $rec->{upstream_said}, '', 'HEAD: audit: with no body');

# Without X-Go-Pprof, a HEAD's 500 passes.
$r = $t->get('http', '/stand/debug/pprof/profile?seconds=1', tls => 0,
             method => 'HEAD', headers => { 'X-User' => 'u1',
                                            'X-Case' => 'nohdr' });
is($r->{status}, 500, 'HEAD without X-Go-Pprof: the 500 passes');

# Over the bound the header goes on at once: the body streams. The
# stand-in sends less than its Content-Length and waits for nginx to give up.
{
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port('http')) or die $!;
    my $start = time;
    print $c "GET /slow/debug/pprof/profile?seconds=1 HTTP/1.1\r\n"
        . "Host: localhost\r\nX-User: u1\r\nConnection: close\r\n\r\n";
    my $got = '';
    while ($got !~ /\Q$BIG\E/) {
        last unless sysread($c, $got, 65536, length $got);
    }
    like($got, qr{^HTTP/1\.1 500 .*\r\n\r\n\Q$CPU$BIG\E\z}s,
         'over the bound: header and body arrive before the upstream ends');
    close $c;
}

###############################################################################
# The counters, and the log

my $status = $t->get('http', '/status', tls => 0)->{body};
my ($busy) = $status =~ /^pprof_requests_total\{class="capture",decision="deny",reason="capture_busy"\} (\d+)$/m;
is($busy, 10, 'pprof_requests_total counts each busy answer as capture_busy');

my $audit_tool = $ENV{PPROF_AUDIT} || $t->root . '/build/pprof-audit';
$out = `'$audit_tool' verify '${\ $t->path('audit.jsonl')}' 2>&1`;
is($?, 0, 'pprof-audit verify') or diag($out);

# Every record, upstream_status and upstream_said included, against the
# published schema (Debian's python3-jsonschema).
my $schema = $t->root . '/docs/audit.schema.json';
$out = `/usr/bin/python3 - '$schema' '${\ $t->path('audit.jsonl')}' 2>&1 <<'PY'
import json, sys
from jsonschema import Draft202012Validator
v = Draft202012Validator(json.load(open(sys.argv[1])))
n = 0
for n, line in enumerate(open(sys.argv[2], encoding="utf-8"), 1):
    for e in v.iter_errors(json.loads(line)):
        print("line %d: %s" % (n, e.message))
said = sum('"upstream_said"' in l for l in open(sys.argv[2]))
print("%d records, %d with upstream_said" % (n, said))
PY`;
like($out, qr/\A\d+ records, 10 with upstream_said\n\z/,
     'audit: every record is valid by docs/audit.schema.json') or diag($out);

like($t->error_log, qr/\[error\] .* pprof: capture_busy: the target refused it; retry after 1 second \(it answered 500, already in use\), audit id [0-9a-f]{32} while sending to client,/m,
     'error.log: the busy answer, at the denial level');
unlike($t->error_log, qr/Could not enable/, "error.log: none of Go's text");

$t->done_testing_checks;
done_testing;
