#!/usr/bin/perl

# SPEC §8 with real nginx (2 workers): decision and response records with
# every field, the hash chain across parallel workers, reloads and
# restarts, signed checkpoints, pprof-audit verify against tampering,
# fail-closed writes, and no credential anywhere in the trail.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep);
use Test::More;
use PprofTest;
use PprofGateway qw(roles_conf make_identities tls_server);

my $audit_tool = $ENV{PPROF_AUDIT} || PprofTest->new(module => 0)->root . '/build/pprof-audit';
-x $audit_tool or die "pprof-audit is missing ($audit_tool): run make tools\n";

my $t = PprofTest->new;
make_identities($t);
$t->start_target;

my $d = $t->testdir;
system("cd $d && openssl genpkey -algorithm ed25519 -out audit.key 2>/dev/null"
    . " && openssl pkey -in audit.key -pubout -out audit.pub") == 0
    or die "ed25519 key";
system("cd $d && openssl genpkey -algorithm ed25519 -out other.key 2>/dev/null"
    . " && openssl pkey -in other.key -pubout -out other.pub") == 0
    or die "ed25519 key";

my $apikey = 'scraper-secret-key-4242';
$t->write_file('api.keys', sha256_hex($apikey) . " scraper oncall\n");

my $up = 'proxy_pass http://%%TARGET%%/debug/pprof/;';
$t->write_config(roles_conf() . <<'CONF' . tls_server('tls', 'optional', <<"LOC"));
pprof_rate off;
pprof_audit_log audit.jsonl;
pprof_audit_signing_key audit.key;
pprof_audit_checkpoint 5;
CONF
    location /debug/pprof/ {
        pprof on;
        pprof_identity cert apikey;
        pprof_api_keys api.keys;
        $up
    }
    location /full/debug/pprof/ {
        pprof on;
        pprof_prefix /full/debug/pprof/;
        pprof_audit_log /dev/full;
        $up
    }
    location /optional/debug/pprof/ {
        pprof on;
        pprof_prefix /optional/debug/pprof/;
        pprof_audit_log /dev/full;
        pprof_audit_required off;
        $up
    }
    location /sys/debug/pprof/ {
        pprof on;
        pprof_prefix /sys/debug/pprof/;
        pprof_audit_log syslog:server=127.0.0.1:%%PORT_SYSLOG%%,tag=pprof;
        $up
    }
    location /down/debug/pprof/ {
        pprof on;
        pprof_prefix /down/debug/pprof/;
        proxy_pass http://127.0.0.1:%%PORT_CLOSED%%/debug/pprof/;
    }
LOC
$t->run;

sub settled_lines {
    return split /\n/, $t->settled_file('audit.jsonl');
}

sub records {
    return map { decode_json($_) } settled_lines();
}

sub verify {
    my ($file, @args) = @_;
    my $out = `'$audit_tool' verify '$file' @args 2>&1`;
    return ($? >> 8, $out);
}

# --- the records of one allowed and one denied request ------------------------

my $r = $t->get('tls', '/debug/pprof/heap?gc=1&debug=1&token=hunter2', cert => 'oncall',
    headers => { Cookie => 'session=cookie-secret-1' });
is($r->{status}, 200, 'allowed heap');
my $id = $r->{headers}{'x-pprof-audit-id'};
my @rec = grep { $_->{audit_id} eq $id } records();
is(scalar @rec, 2, 'an allowed request: a decision and a response record');
my ($dec, $resp) = @rec;
is($dec->{stage}, 'decision', 'decision first');
is($resp->{stage}, 'response', 'response second');
is($dec->{v}, 1, 'v');
like($dec->{ts}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'ts: RFC 3339 UTC, microseconds');
is($dec->{client}, '127.0.0.1', 'client');
like($dec->{tls}, qr/^TLSv1\.[23]$/, 'tls');
is($dec->{identity}, 'spiffe://prod.example/ns/sre/alice', 'identity');
is($dec->{auth}, 'cert', 'auth');
is_deeply($dec->{roles}, ['oncall'], 'roles');
is($dec->{method}, 'GET', 'method');
is($dec->{endpoint}, 'heap', 'endpoint');
is($dec->{class}, 'snapshot', 'class');
is($dec->{params}, 'debug=1&gc=1', 'params: canonical, the stray token dropped');
is($dec->{decision}, 'allow', 'decision');
is($dec->{reason}, 'ok', 'reason');
ok($dec->{enforced} && JSON::PP::is_bool($dec->{enforced}), 'enforced: true');
like($dec->{prev}, qr/^[0-9a-f]{64}$/, 'prev');
is($resp->{status}, 200, 'response status');
is($resp->{bytes}, length $r->{body}, 'response bytes: what the client got');
is($resp->{sha256}, sha256_hex($r->{body}), 'response sha256: of the body the client got');
like($resp->{upstream}, qr/^127\.0\.0\.1:\d+$/, 'upstream');
ok($resp->{duration_ms} >= 0, 'duration_ms');
is($resp->{seq}, $dec->{seq} + 1, 'seq increases');
is($dec->{path}, '/debug/pprof/heap', 'path');
is($resp->{path}, $dec->{path}, 'both records carry the same path');

# The path as nginx normalised it and the module judged it, in both records.
$r = $t->get('tls', '/debug/pprof/x/..//%68eap?gc=1', cert => 'oncall');
is($r->{status}, 200, 'allowed heap by a roundabout path');
@rec = grep { $_->{audit_id} eq $r->{headers}{'x-pprof-audit-id'} } records();
is_deeply([map { "$_->{stage} $_->{path}" } @rec],
    ['decision /debug/pprof/heap', 'response /debug/pprof/heap'],
    'a roundabout path: both records carry the judged $uri');

$r = $t->get('tls', '/debug/pprof/heap', cert => 'viewer');
is($r->{status}, 403, 'denied heap');
@rec = grep { $_->{audit_id} eq $r->{headers}{'x-pprof-audit-id'} } records();
is(scalar @rec, 1, 'a denied request: only its decision record');
is($rec[0]{decision}, 'deny', 'decision deny');
is($rec[0]{reason}, 'forbidden', 'reason forbidden');
is_deeply($rec[0]{roles}, ['viewer'], 'roles of the denied');

$r = $t->get('tls', '/debug/pprof/cmdline');
@rec = grep { $_->{audit_id} eq $r->{headers}{'x-pprof-audit-id'} } records();
is($rec[0]{identity}, undef, 'no identity: null');
is($rec[0]{auth}, 'none', 'auth none');

$r = $t->get('tls', '/debug/pprof/profile?seconds=1',
    headers => { Authorization => "Bearer $apikey" });
is($r->{status}, 200, 'API key capture');
@rec = grep { $_->{audit_id} eq $r->{headers}{'x-pprof-audit-id'} } records();
is($rec[0]{auth}, 'apikey', 'auth apikey');
is($rec[0]{params}, 'seconds=1', 'capture params');

$r = $t->get('tls', '/down/debug/pprof/cmdline', cert => 'oncall');
is($r->{status}, 502, 'upstream down: 502');
@rec = grep { $_->{audit_id} eq $r->{headers}{'x-pprof-audit-id'} } records();
is($rec[1]{status}, 502, 'the response record of a failed upstream');

# --- syslog: the same records, chained, one datagram each -----------------------

{
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $t->port('syslog'),
        Proto => 'udp') or die "udp: $!";
    # nginx may already have used the port number's first allocation: bind now.
    $r = $t->get('tls', '/sys/debug/pprof/cmdline', cert => 'oncall');
    is($r->{status}, 200, 'syslog-logged request');
    my @msgs;
    my $sel = IO::Select->new($sock);
    while (@msgs < 2 && $sel->can_read(5)) {
        my $m;
        $sock->recv($m, 65536);
        push @msgs, $m;
    }
    is(scalar @msgs, 2, 'two syslog messages: decision and response');
    my @json = map { /^<\d+>.*? pprof: (\{.*\})$/ ? decode_json($1) : undef } @msgs;
    ok($json[0] && $json[1], 'each carries a record after nginx\'s syslog header')
        or diag(explain \@msgs);
    is($json[0]{audit_id}, $r->{headers}{'x-pprof-audit-id'}, 'syslog record audit id');
    is($json[1]{prev}, sha256_hex(($msgs[0] =~ /(\{.*\})$/)[0]), 'the syslog chain links');
}

# --- fail closed ----------------------------------------------------------------

$t->clear_upstream;
$r = $t->get('tls', '/full/debug/pprof/cmdline', cert => 'oncall');
is($r->{status}, 503, 'unwritable audit log: 503');
like($r->{body}, qr/^pprof-gateway: audit_unavailable: /, 'audit_unavailable');
is_deeply([$t->upstream_requests], [], 'nothing forwarded without a record');
is($t->get('tls', '/optional/debug/pprof/cmdline', cert => 'oncall')->{status}, 200,
    'pprof_audit_required off: forwarded anyway');

# --- many workers, one chain ------------------------------------------------------

my $before = scalar(my @head = settled_lines());
my @pids;
for my $p (1 .. 8) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $req = join '', map { "GET /debug/pprof/cmdline HTTP/1.1\r\nHost: localhost\r\n"
            . ($_ == 25 ? "Connection: close\r\n" : '') . "\r\n" } 1 .. 25;
        my @r = $t->parse_responses($t->raw('tls', $req, cert => 'oncall'));
        POSIX::_exit((grep { $_->{status} == 200 } @r) == 25 ? 0 : 1);
    }
    push @pids, $pid;
}
my $ok = 0;
for (@pids) { waitpid($_, 0); $ok++ if $? == 0 }
is($ok, 8, '200 parallel requests answered');
my @lines = settled_lines();
my $checkpoints = grep { /"stage":"checkpoint"/ } @lines[$before .. $#lines];
is(@lines - $before - $checkpoints, 400, "exactly two records for each of them")
    or diag(join "\n", grep { !/"endpoint":"cmdline"/ } @lines[$before .. $#lines]);
ok(!(grep { !eval { decode_json($_); 1 } } @lines), 'every line is JSON');
ok($checkpoints >= 400 / 6 - 1, "checkpoints every 5 records ($checkpoints)");
my ($rc, $out) = verify($t->path('audit.jsonl'), '--pubkey', $t->path('audit.pub'));
is($rc, 0, 'the chain and every signature hold') or diag($out);

# --- reload and restart continue the chain ---------------------------------------

$t->reload;
is($t->get('tls', '/debug/pprof/cmdline', cert => 'oncall')->{status}, 200, 'after reload');
$t->stop;
my @after_stop = split /\n/, $t->read_file('audit.jsonl');
like($after_stop[-1], qr/"stage":"checkpoint"/, 'a checkpoint closes the log at shutdown');
# A crash mid-write leaves half a line: it is cut off at the next start.
open my $fh, '>>', $t->path('audit.jsonl') or die;
print $fh '{"v":1,"seq":99999,"ts":"20';
close $fh;
$t->run;
like($t->error_log, qr/ended in a torn line of 27 bytes, removed/, 'a torn last line is removed at start');
is($t->get('tls', '/debug/pprof/cmdline', cert => 'oncall')->{status}, 200, 'after restart');
($rc, $out) = verify($t->path('audit.jsonl'), '--pubkey', $t->path('audit.pub'));
is($rc, 0, 'the chain continues across reload and restart') or diag($out);
($rc, $out) = verify($t->path('audit.jsonl'), '--pubkey', $t->path('other.pub'));
isnt($rc, 0, 'another key does not verify the checkpoints');

# --- tampering ----------------------------------------------------------------------

my @good = split /\n/, $t->read_file('audit.jsonl');
my ($k) = grep { $good[$_] =~ /"client":"127\.0\.0\.1"/ } 10 .. $#good;
my %tamper = (
    'edit a field' => sub { $_[$k] =~ s/"client":"127\.0\.0\.1"/"client":"10.9.9.9"/; @_ },
    'delete a line' => sub { splice @_, $k, 1; @_ },
    'swap two lines' => sub { @_[$k, $k + 1] = @_[$k + 1, $k]; @_ },
    'forge a checkpoint' => sub {
        my ($i) = grep { $_[$_] =~ /"stage":"checkpoint"/ } 0 .. $#_;
        $_[$i] =~ s/"signature":"(.)/'"signature":"' . ($1 eq 'A' ? 'B' : 'A')/e; @_ },
);
for my $name (sort keys %tamper) {
    my @copy = $tamper{$name}->(@good);
    $t->write_file("tampered.jsonl", join('', map { "$_\n" } @copy));
    ($rc, $out) = verify($t->path('tampered.jsonl'), '--pubkey', $t->path('audit.pub'));
    isnt($rc, 0, "verify catches: $name");
    like($out, qr/seq \d+/, "$name: the seq is named") or diag($out);
}
$t->write_file('tampered.jsonl', join('', map { "$_\n" } @good) =~ s/\n\z//r);
($rc, $out) = verify($t->path('tampered.jsonl'));
isnt($rc, 0, 'verify catches: truncated');

# --- no credential anywhere ----------------------------------------------------------

$t->stop;
my $log = $t->read_file('audit.jsonl');
for my $secret ($apikey, 'cookie-secret-1', 'hunter2', 'Bearer', 'session=') {
    unlike($log, qr/\Q$secret\E/, "the trail holds no \"$secret\"");
}

$t->done_testing_checks;
done_testing;
