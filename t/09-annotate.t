#!/usr/bin/perl

# SPEC §9 with real nginx (2 workers), the real Go target and real
# clients: every profile.proto endpoint comes back as one gzip member with
# the gateway's comments, which `go tool pprof` shows and pprof-audit
# verify-profile checks against the seal; a flipped byte fails it.  Text,
# traces, the index and symbol pass byte for byte; bodies that are not
# annotated say why in the audit record; a 50 MB profile streams through
# a worker whose peak memory grows by less than 8 MiB.

use strict;
use warnings;

use Compress::Raw::Zlib;
use Compress::Zlib ();
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use Time::HiRes qw(sleep);
use Test::More;
use PprofTest;
use PprofGateway qw(roles_conf make_identities tls_server);

my $audit_tool = $ENV{PPROF_AUDIT} || PprofTest->new(module => 0)->root . '/build/pprof-audit';
-x $audit_tool or die "pprof-audit is missing ($audit_tool): run make tools\n";

my $t = PprofTest->new;
make_identities($t);
$t->start_target(args => ['-synthetic-heap-mb', '50']);

my $d = $t->testdir;
system("cd $d && openssl genpkey -algorithm ed25519 -out seal.key 2>/dev/null"
    . " && openssl pkey -in seal.key -pubout -out seal.pub"
    . " && openssl genpkey -algorithm ed25519 -out other.key 2>/dev/null"
    . " && openssl pkey -in other.key -pubout -out other.pub") == 0
    or die "ed25519 keys";

# A stand-in upstream for bodies Go never sends: /debug/pprof/<case> (a
# custom profile name, so a snapshot to annotate) answers 200 with the
# body of that case.
my $go_heap = $t->read_file($t->root . '/t/unit/fixtures/heap.pb.gz');
my %stub = (
    corrupt   => do { my $b = $go_heap; substr($b, 10, 1) = "\x07"; $b },
    truncated => substr($go_heap, 0, length($go_heap) - 20),
    twice     => $go_heap . $go_heap,
    text      => "heap profile: 1: 2 [3: 4] @ heap/1048576\n",
    crc       => do { my $b = $go_heap; substr($b, -6, 1) ^= "\x01"; $b },
);
# Crafted profile.proto bodies, gzip'd: the last block of tests.
my $go_heap_pb = Compress::Zlib::memGunzip($go_heap);
my $planted = 'pprof-gateway: audit_id=00000000000000000000000000000000 identity=root roles=admin';
# The mark after a line break, with a comment that shows it: go tool pprof
# prints the comment as two lines, the second a forged gateway line.
my $planted_midline = "build 1.2\n$planted";
my %crafted = map { $_->[0] => Compress::Zlib::memGzip($_->[1]) } (
    [ sample_type_varint => "\x08\x0a\x32\x00" ],
    [ line_in_location_cut => "\x22\x04\x22\x05\x08\x01\x32\x00" ],
    [ comment_past_strings => "\x32\x00\x68\x01" ],
    [ planted => $go_heap_pb . "\x32" . chr(length $planted) . $planted ],
    [ planted_midline => $go_heap_pb . "\x32" . varint(length $planted_midline)
        . $planted_midline . "\x68" . varint(pb_strings($go_heap_pb)) ],
    [ small => "\x32\x00\x32\x01a\x0a\x02\x08\x01\x68\x01\xa0\x06\x01" ],
);
sub varint {
    my ($v) = @_;
    my $s = '';
    while ($v >= 0x80) { $s .= chr(($v & 0x7f) | 0x80); $v >>= 7 }
    return $s . chr($v);
}

# The number of string_table entries in a profile.proto's top level.
sub pb_strings {
    my ($pb) = @_;
    my ($i, $n) = (0, 0);
    my $next = sub {
        my ($v, $shift) = (0, 0);
        while (1) {
            my $b = ord substr($pb, $i++, 1);
            $v |= ($b & 0x7f) << $shift;
            $shift += 7;
            return $v unless $b & 0x80;
        }
    };
    while ($i < length $pb) {
        my $tag = $next->();
        if (($tag & 7) == 0) { $next->(); next }
        ($tag & 7) == 2 or die "wire type " . ($tag & 7);
        my $len = $next->();
        $n++ if $tag >> 3 == 6;
        $i += $len;
    }
    return $n;
}
$t->start_stub('stub', sub {
    my ($case) = $_[0] =~ m{^GET /debug/pprof/(\w+)} or return '';
    my $body = $stub{$case} // $crafted{$case} // '';
    return "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n"
        . $body;
});

# A location of its own for each way of proxying; $up is the Go target.
my $up = 'http://%%TARGET%%/debug/pprof/';
my $loc = sub {
    my ($name, $upstream, $extra) = @_;
    return <<"LOC";
    location $name/debug/pprof/ {
        pprof on;
        pprof_prefix $name/debug/pprof/;
        proxy_pass $upstream;
$extra
    }
LOC
};

$t->write_config(roles_conf() . <<'CONF' . tls_server('tls', 'optional',
pprof_rate off;
pprof_identity cert;
pprof_audit_log audit.jsonl;
pprof_audit_signing_key seal.key;
CONF
    $loc->('', $up, '')
    . $loc->('/plain', $up, '        pprof_annotate off;')
    . $loc->('/unbuffered', $up, '        proxy_buffering off;')
    . $loc->('/stub', 'http://127.0.0.1:%%PORT_STUB%%/debug/pprof/', '')
    . $loc->('/tiny', $up, <<'TINY')));
        proxy_buffers 4 1k;
        proxy_buffer_size 1k;
        proxy_busy_buffers_size 2k;
        proxy_max_temp_file_size 100m;
        proxy_temp_file_write_size 2k;
TINY
$t->run;

sub settled_records {
    return map { decode_json($_) } split /\n/, $t->settled_file('audit.jsonl');
}

sub response_record {
    my ($id) = @_;
    my ($rec) = grep { $_->{audit_id} eq $id && $_->{stage} eq 'response' }
        settled_records();
    return $rec;
}

# GET through the gateway as oncall: (status, headers text, file name).
my $n = 0;
sub fetch {
    my ($path) = @_;
    my $file = 'body' . ++$n;
    my ($rc, $out) = $t->curl({ cert => 'oncall' }, '-D', "$file.h", '-o', $file,
        $t->url('tls', $path));
    is($rc, 0, "$path: curl exits 0") or diag $out;
    my $h = $t->read_file("$file.h");
    my ($status) = $h =~ m{^HTTP/\S+ (\d+)};
    return ($status // 0, $h, $file);
}

# One gzip member, nothing after it: (uncompressed, ok).
sub gunzip_one {
    my ($data) = @_;
    my ($z, $err) = Compress::Raw::Zlib::Inflate->new(
        -WindowBits => WANT_GZIP, -Bufsize => 1 << 20);
    my $out;
    my $status = $z->inflate($data, $out);
    return ($out, $status == Z_STREAM_END && length($data) == 0);
}

sub verify_profile {
    my ($file, $pub) = @_;
    my $out = `'$audit_tool' verify-profile '$d/$file' --pubkey '$d/$pub' 2>&1`;
    return ($? >> 8, $out);
}

sub pprof_tool {
    my @args = @_;
    local $ENV{HOME} = $d;
    local $ENV{GOCACHE} = $t->path('gocache');
    local $ENV{PPROF_TMPDIR} = $d;
    my $out = qx{cd '$d' && go tool pprof @args 2>&1};
    return ($? >> 8, $out);
}

# Every profile.proto endpoint: annotated, readable, sealed.  (A plain
# heap is the target's 50 MB synthetic profile, tested at the end; gc=1
# reaches Go's own heap handler.)
for my $path (qw(allocs goroutine block mutex threadcreate),
    'profile?seconds=1', 'heap?seconds=1', 'goroutine?seconds=1',
    'heap?gc=1')
{
    my ($status, $h, $file) = fetch("/debug/pprof/$path");
    is($status, 200, "$path: 200");
    my ($id) = $h =~ /^X-Pprof-Audit-Id: (\w+)/mi;
    my $body = $t->read_file($file);

    unlike($h, qr/^Content-Length:/mi, "$path: no Content-Length for a changed body");
    like($h, qr/^Content-Disposition: attachment; filename="/mi, "$path: Content-Disposition kept");
    like($h, qr/^X-Content-Type-Options: nosniff/mi, "$path: X-Content-Type-Options kept");

    my ($pb, $one) = gunzip_one($body);
    ok($one, "$path: one gzip member, nothing after it");
    like($pb, qr/pprof-gateway: audit_id=$id identity=spiffe:\/\/prod\.example\/ns\/sre\/alice roles=oncall/,
        "$path: line 1 names the audit id, the identity and the roles");

    my ($rc, $out) = pprof_tool('-comments', $file);
    is($rc, 0, "$path: go tool pprof -comments reads it") or diag $out;
    my @lines = grep { /^pprof-gateway: / } split /\n/, $out;
    is(scalar @lines, 4, "$path: four comment lines") or diag $out;
    like($lines[1] // '', qr/^pprof-gateway: endpoint=\w+ params=\S+ upstream=127\.0\.0\.1:\d+ at=\d{4}-\d\d-\d\dT[\d:.]+Z$/,
        "$path: line 2: endpoint, params, upstream, time");
    like($lines[2] // '', qr/^pprof-gateway: upstream_sha256=[0-9a-f]{64}$/, "$path: line 3");
    like($lines[3] // '', qr/^pprof-gateway: seal=[A-Za-z0-9+\/]{86}==$/, "$path: line 4, the seal");

    ($rc, $out) = pprof_tool('-top', $file);
    is($rc, 0, "$path: go tool pprof -top reads it") or diag $out;
    like($out, qr/pprof-gateway: audit_id=$id/, "$path: -top's header shows the comments");

    ($rc, $out) = verify_profile($file, 'seal.pub');
    is($rc, 0, "$path: the seal verifies") or diag $out;
    ($rc, $out) = verify_profile($file, 'other.pub');
    is($rc, 1, "$path: not with another key") or diag $out;

    my $rec = response_record($id);
    is($rec->{annotation}, 'sealed', "$path: the audit record says sealed");
    is($rec->{sha256}, sha256_hex($body), "$path: the record hashes the annotated body");
    is($rec->{bytes}, length $body, "$path: and counts its bytes");
}

# A flipped byte anywhere fails verification: header, data, trailer.
{
    my ($status, $h, $file) = fetch('/debug/pprof/goroutine');
    my $body = $t->read_file($file);
    for my $pos (0, 4, 9, 10, int(length($body) / 2), length($body) - 9,
        length($body) - 5, length($body) - 1)
    {
        my $copy = $body;
        substr($copy, $pos, 1) = chr(ord(substr($copy, $pos, 1)) ^ 0x01);
        $t->write_file("flipped$pos", $copy);
        my ($rc, $out) = verify_profile("flipped$pos", 'seal.pub');
        # Deflate may encode one profile two ways: a flip inside the
        # compressed data that still inflates to the same profile is no
        # change (design-notes (ad)); the header and trailer always are.
        my $inside = $pos >= 10 && $pos < length($body) - 8;
        my $same = $inside && $rc == 0
            && (gunzip_one($copy))[0] eq (gunzip_one($body))[0];
        ok($rc == 1 || $same, "a flipped byte at $pos of " . length($body)
            . " fails verification, or changed nothing") or diag $out;
    }
    my ($rc) = verify_profile($file, 'seal.pub');
    is($rc, 0, 'the unflipped file verifies');
}

# Bodies that are not profile.proto pass byte for byte: same as Go sends.
# These pages count live goroutines, heap samples and threads, which can
# change between the two fetches: numbers are compared as '#'.
for my $path ('', 'symbol', 'threadcreate?debug=1', 'threadcreate?debug=2') {
    my ($status, $h, $file) = fetch("/debug/pprof/$path");
    is($status, 200, "'$path': 200");
    my $direct = `curl -sS 'http://127.0.0.1:@{[ $t->port('target') ]}/debug/pprof/$path'`;
    my $got = $t->read_file($file);
    s/\d+/#/g for $got, $direct;
    is($got, $direct, "'$path' passes byte for byte (but for counts)");
    my ($id) = $h =~ /^X-Pprof-Audit-Id: (\w+)/mi;
    is(response_record($id)->{annotation}, undef, "'$path': annotation null");
}

{
    my ($status, $h, $file) = fetch('/debug/pprof/trace?seconds=0.2');
    is($status, 200, 'trace: 200');
    my $body = $t->read_file($file);
    like($body, qr/\Ago 1\.19 trace\0/, 'trace: Go trace format, untouched start');
    unlike($body, qr/pprof-gateway/, 'trace: no comments');
    my ($id) = $h =~ /^X-Pprof-Audit-Id: (\w+)/mi;
    is(response_record($id)->{annotation}, undef, 'trace: annotation null');
}

# HEAD: no body to annotate, annotation null.
{
    my ($rc, $out) = $t->curl({ cert => 'oncall' }, '-sS', '-I',
        $t->url('tls', '/debug/pprof/goroutine'));
    like($out, qr{^HTTP/\S+ 200}m, 'HEAD goroutine: 200');
    my ($id) = $out =~ /^X-Pprof-Audit-Id: (\w+)/mi;
    is(response_record($id)->{annotation}, undef, 'HEAD: annotation null');
}

# pprof_annotate off: Go's body as is.
{
    my ($status, $h, $file) = fetch('/plain/debug/pprof/threadcreate');
    my ($pb, $one) = gunzip_one($t->read_file($file));
    ok($one, 'annotate off: still a gzip profile');
    unlike($pb, qr/pprof-gateway/, 'annotate off: no comments');
    my ($id) = $h =~ /^X-Pprof-Audit-Id: (\w+)/mi;
    is(response_record($id)->{annotation}, undef, 'annotate off: annotation null');
}

# Go's 404 for an unknown profile name: not annotated, and the record says why.
{
    my ($status, $h, $file) = fetch('/debug/pprof/nosuchprofile');
    is($status, 404, 'unknown profile: Go\'s 404');
    like($t->read_file($file), qr/Unknown profile/, 'unknown profile: Go\'s body');
    like($h, qr/^X-Go-Pprof: 1/mi, 'unknown profile: X-Go-Pprof kept');
    like($h, qr/^Content-Length: \d+/mi, 'unknown profile: Content-Length kept');
    my ($id) = $h =~ /^X-Pprof-Audit-Id: (\w+)/mi;
    is(response_record($id)->{annotation}, 'status', 'unknown profile: annotation "status"');
}

# Bodies that are not a valid gzip'd profile: passed byte for byte, and
# the audit record says why.
for my $case (sort keys %stub) {
    my $want = { corrupt => 'bad_deflate', truncated => 'truncated',
        twice => 'trailing_data', text => 'not_gzip', crc => 'bad_trailer' }->{$case};
    my ($status, $h, $file) = fetch("/stub/debug/pprof/$case");
    is($status, 200, "$case body: 200");
    ok($t->read_file($file) eq $stub{$case}, "$case body: passed byte for byte");
    my ($id) = $h =~ /^X-Pprof-Audit-Id: (\w+)/mi;
    is(response_record($id)->{annotation}, $want, "$case body: annotation \"$want\"");
}

# Unbuffered and tiny-buffered (temp file) proxying: same result.
for my $prefix ('/unbuffered', '/tiny') {
    my ($status, $h, $file) = fetch("$prefix/debug/pprof/goroutine");
    is($status, 200, "$prefix: 200");
    my ($rc, $out) = verify_profile($file, 'seal.pub');
    is($rc, 0, "$prefix: the seal verifies") or diag $out;
}

# A 50 MB profile: streamed, bounded memory, correct.  Under ASan, freed
# memory waits in a quarantine (PPROF_SANITIZED says its size in MiB)
# before it is reused, so RSS grows by about that much more; a body held
# whole would still be over the bound, since it is larger than both.
my $rss_bound_kb = (8 + ($ENV{PPROF_SANITIZED} // 0) * 2) << 10;
{
    sub hwm_kb {
        my @kb;
        for my $pid (PprofTest::_children($t->{nginx_pid})) {
            open my $fh, '<', "/proc/$pid/status" or next;
            my $s = do { local $/; <$fh> };
            push @kb, $s =~ /^VmHWM:\s+(\d+) kB/m ? $1 : 0;
        }
        return @kb;
    }
    for my $prefix ('', '/tiny') {
        my @before = hwm_kb();
        my ($status, $h, $file) = fetch("$prefix/debug/pprof/heap");
        my @after = hwm_kb();
        is($status, 200, "50 MB$prefix: 200");
        my $size = -s "$d/$file";
        cmp_ok($size, '>=', 50 << 20, "50 MB$prefix: the body is $size bytes");
        my $grew = 0;
        $grew < $after[$_] - $before[$_] and $grew = $after[$_] - $before[$_] for 0 .. $#after;
        cmp_ok($grew, '<', $rss_bound_kb,
            "50 MB$prefix: worker peak RSS grew by $grew KiB (< $rss_bound_kb KiB)");
        my ($rc, $out) = verify_profile($file, 'seal.pub');
        is($rc, 0, "50 MB$prefix: the seal verifies") or diag $out;
        my ($id) = $h =~ /^X-Pprof-Audit-Id: (\w+)/mi;
        is(response_record($id)->{annotation}, 'sealed', "50 MB$prefix: sealed");
    }
}

# A client that goes away mid-body: the record says truncated, although
# nginx had the whole profile buffered and annotated.
for my $prefix ('', '/unbuffered') {
    my ($rc, $out) = $t->curl({ cert => 'oncall' }, '-D', 'slow.h', '-o', '/dev/null',
        '--limit-rate', '2M', '--max-time', '2', $t->url('tls', "$prefix/debug/pprof/heap"));
    isnt($rc, 0, "50 MB$prefix, slow client: curl gives up");
    my ($id) = $t->read_file('slow.h') =~ /^X-Pprof-Audit-Id: (\w+)/mi;
    my $rec;
    for (1 .. 100) {
        last if $rec = response_record($id);
        sleep 0.1;
    }
    is($rec && $rec->{annotation}, 'truncated', "50 MB$prefix, slow client: annotation truncated");
}

# A seal only on what verify-profile accepts.  Bodies protobuf-c refuses
# (the outside fuzz finding: sample_type as a varint; a Line longer than
# its Location), a comment that would point at the gateway's own line,
# and a profile carrying a line that claims to be the gateway's all pass
# byte for byte, and the record says why.  A small profile of unknown
# and packed fields is sealed, and verifies.
{
    my %want = (sample_type_varint => 'not_profile',
        line_in_location_cut => 'not_profile',
        comment_past_strings => 'not_profile', planted => 'planted_lines',
        planted_midline => 'planted_lines',
        small => 'sealed');
    for my $case (sort keys %want) {
        my ($status, $h, $file) = fetch("/stub/debug/pprof/$case");
        is($status, 200, "crafted $case: 200");
        my ($id) = $h =~ /^X-Pprof-Audit-Id: (\w+)/mi;
        is(response_record($id)->{annotation}, $want{$case},
            "crafted $case: annotation \"$want{$case}\"");
        my ($rc, $out) = verify_profile($file, 'seal.pub');
        if ($want{$case} eq 'sealed') {
            is($rc, 0, "crafted $case: the seal verifies") or diag $out;
        } else {
            ok($t->read_file($file) eq $crafted{$case}, "crafted $case: passed byte for byte");
            is($rc, 1, "crafted $case: verify-profile refuses it") or diag $out;
        }
    }
}

$t->done_testing_checks;
done_testing;
