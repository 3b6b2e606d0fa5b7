#!/usr/bin/perl

# SPEC §8, rotation, with real nginx (2 workers): the audit log rotated the
# way logrotate does it (mv, then `nginx -s reopen`), with one worker late
# to reopen, and by copytruncate; pprof-audit verify over the segments,
# oldest first, and over one segment alone; a restart on the empty file
# a rotation leaves.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use JSON::PP;
use Time::HiRes qw(sleep);
use Test::More;
use PprofTest;

my $audit_tool = $ENV{PPROF_AUDIT} || PprofTest->new(module => 0)->root . '/build/pprof-audit';
-x $audit_tool or die "pprof-audit is missing ($audit_tool): run make tools\n";

my $t = PprofTest->new;
$t->start_target;

my $d = $t->testdir;
system("cd $d && openssl genpkey -algorithm ed25519 -out audit.key 2>/dev/null"
    . " && openssl pkey -in audit.key -pubout -out audit.pub") == 0
    or die "ed25519 key";

# reuseport: the kernel spreads new connections over both workers.
sub config {
    my ($signing) = @_;
    $t->write_config(<<"CONF");
pprof_role oncall index cmdline symbol snapshot capture;
pprof_bind ~^u oncall;
pprof_audit_log audit.jsonl;
${signing}pprof_audit_checkpoint 7;
server {
    listen 127.0.0.1:%%PORT_PLAIN%% reuseport;
    location /debug/pprof/ {
        pprof on;
        pprof_tls off;
        pprof_identity \$http_x_user;
        proxy_pass http://%%TARGET%%;
    }
}
CONF
}
config("pprof_audit_signing_key audit.key;\n");
$t->run;

my $log = $t->path('audit.jsonl');

# n allowed requests, one connection each: a decision and a response record.
sub requests {
    my ($n) = @_;
    my $ok = 0;
    for (1 .. $n) {
        $ok++ if $t->get('plain', '/debug/pprof/cmdline', tls => 0,
            headers => { 'X-User' => 'ualice' })->{status} == 200;
    }
    is($ok, $n, "$n requests answered");
    $t->settled_file('audit.jsonl');
}

sub lines {
    my ($name) = @_;
    return split /\n/, $t->read_file($name);
}

sub verify {
    my @args = map { /^--/ ? $_ : m{^/} ? "'$_'" : "'" . $t->path($_) . "'" } @_;
    my $out = `'$audit_tool' verify @args 2>&1`;
    return ($? >> 8, $out);
}

# What verify --pubkey must say of these lines, worked out here.
sub summary {
    my @rec = map { decode_json($_) } @_;
    my @cp = grep { $_->{stage} eq 'checkpoint' } @rec;
    my ($from, $to, $signed) = ($rec[0]{seq}, $rec[-1]{seq}, @cp ? $cp[-1]{seq} : 0);
    my $s = 'ok: ' . @rec . ' records';
    $s .= " from seq $from (the log given begins there: its prev is not checked)" if $from > 1;
    $s .= ', ' . @cp . ' checkpoints verified';
    $s .= $signed + 1 == $to ? "; seq $to, after the last checkpoint, is unsigned"
        : $signed < $to ? '; seq ' . ($signed + 1) . " to $to, after the last checkpoint, are unsigned"
        : '';
    return "$s\n";
}

sub workers { PprofTest::_children($t->{nginx_pid}) }

sub reopened {
    return scalar(() = $t->error_log =~ /\d+#\d+: reopening logs$/mg);
}

# `nginx -s reopen`: USR1 to the master, which reopens and tells each worker.
sub reopen {
    my $before = reopened();
    kill 'USR1', $t->{nginx_pid};
    my $deadline = time + 10;
    sleep 0.05 while reopened() < $before + 3 && time < $deadline;
    is(reopened(), $before + 3, 'the master and both workers reopened');
}

# What logrotate's `create` does after its mv: an empty file the workers
# can write.
sub create_like_logrotate {
    my ($uid) = (`grep ^Uid: /proc/${\ (workers())[0]}/status` =~ /^Uid:\s+(\d+)/);
    $t->write_file('audit.jsonl', '');
    chown $uid, -1, $log or die "chown: $!";
    chmod 0640, $log or die "chmod: $!";
}

sub last_seq {
    my ($name) = @_;
    return decode_json((lines($name))[-1])->{seq};
}

# --- mv and nginx -s reopen: the chain goes on in the new file --------------

requests(5);
my $lines_1 = () = lines('audit.jsonl');
rename $log, "$log.1" or die;
reopen();
ok(-e $log, 'the master made a new audit.jsonl');
requests(4);

my @old = lines('audit.jsonl.1');
my @new = lines('audit.jsonl');
is(scalar @old, $lines_1, 'the old file got nothing after the reopen');
my $first = decode_json($new[0]);
is($first->{seq}, decode_json($old[-1])->{seq} + 1, 'the new file goes on with the next seq');
is($first->{prev}, sha256_hex($old[-1]), 'its first prev is the hash of the old file\'s last line');

my ($rc, $out) = verify('audit.jsonl.1', 'audit.jsonl', '--pubkey', $t->path('audit.pub'));
is($rc, 0, 'verify: the two segments hold, oldest first') or diag($out);
is($out, summary(@old, @new), 'verify: what was checked, and the unsigned tail');

($rc, $out) = verify('audit.jsonl', '--pubkey', $t->path('audit.pub'));
is($rc, 0, 'verify: the new file alone') or diag($out);
is($out, summary(@new), 'verify: a lone segment says from where, and that its prev is not checked');

($rc, $out) = verify('audit.jsonl', 'audit.jsonl.1', '--pubkey', $t->path('audit.pub'));
is($rc, 1, 'verify: newest first fails');
like($out, qr/audit\.jsonl\.1: seq 1: new chain: .*not oldest first/, 'verify: and says why') or diag($out);

# --- one worker late to reopen ------------------------------------------------
#
# The master makes the new file, then tells the workers one by one; a worker
# busy with a request reopens later.  Until it does, it must not go on
# writing to the renamed file while the other writes to the new one.

rename "$log.1", "$log.2" or die;
rename $log, "$log.1" or die;
create_like_logrotate();
my @w = workers();
is(scalar @w, 2, 'two workers');
kill 'USR1', $w[0];
my $deadline = time + 10;
sleep 0.05 while reopened() < 4 && time < $deadline;
is(reopened(), 4, 'one worker reopened, the other not yet');

my $size_1 = -s "$log.1";
requests(30);
is(-s "$log.1", $size_1, 'the renamed file got nothing more, whichever worker wrote');
like($t->error_log, qr/\[notice\].*pprof audit log "audit\.jsonl" was rotated: records go to its new file/,
    'the late worker followed the path, and said so');
reopen();
requests(2);
($rc, $out) = verify('audit.jsonl.2', 'audit.jsonl.1', 'audit.jsonl', '--pubkey', $t->path('audit.pub'));
is($rc, 0, 'verify: three segments, one chain') or diag($out);
unlike($t->error_log, qr/\[(?:alert|crit|emerg)\]/, 'no alert');

# --- a new file the workers may not open yet -----------------------------------
#
# logrotate's `create` with an owner or mode the workers cannot write: until
# the master's reopen makes it theirs, no worker can open it, so every
# record stays in the renamed file, and none is refused.

rename "$log.2", "$log.3" or die;
rename "$log.1", "$log.2" or die;
rename $log, "$log.1" or die;
$t->write_file('audit.jsonl', '');
chmod 0000, $log or die "chmod: $!";
$size_1 = -s "$log.1";
requests(2);
ok(-s "$log.1" > $size_1, 'records go on in the renamed file');
is(-s $log, 0, 'none in the file the workers cannot open');
like($t->error_log, qr/\[warn\].*pprof audit log "audit\.jsonl" was rotated, but its new file cannot be opened yet/,
    'and that is said');
reopen();
requests(2);
($rc, $out) = verify(map({ "audit.jsonl.$_" } 3, 2, 1), 'audit.jsonl', '--pubkey', $t->path('audit.pub'));
is($rc, 0, 'verify: four segments, one chain') or diag($out);

# --- copytruncate --------------------------------------------------------------

my ($gap_from, $gap_to);
{
    # Nothing written between the copy and the truncate: nothing lost.
    system('cp', $log, "$log.ct1") == 0 or die;
    truncate $log, 0 or die "truncate: $!";
    requests(3);
    is(substr($t->read_file('audit.jsonl'), 0, 1), '{', 'appends start at the truncated file\'s start');
    ($rc, $out) = verify('audit.jsonl.ct1', 'audit.jsonl', '--pubkey', $t->path('audit.pub'));
    is($rc, 0, 'verify: a copytruncate that lost nothing holds') or diag($out);
    like($t->error_log, qr/\[error\].*pprof audit log ".*audit\.jsonl" was truncated under nginx/,
        'the truncation is logged as an error');

    # Records written between the copy and the truncate are lost.
    system('cp', $log, "$log.ct2") == 0 or die;
    $gap_from = last_seq('audit.jsonl.ct2') + 1;
    requests(2);
    $gap_to = last_seq('audit.jsonl');
    truncate $log, 0 or die "truncate: $!";
    requests(2);
}
($rc, $out) = verify('audit.jsonl.ct2', 'audit.jsonl', '--pubkey', $t->path('audit.pub'));
is($rc, 1, 'verify: never ok across the copytruncate gap');
like($out, qr/audit\.jsonl: seq $gap_from: missing: \S+audit\.jsonl\.ct2 ends at seq ${\ ($gap_from - 1)} and \S+audit\.jsonl begins at seq ${\ ($gap_to + 1)}$/m,
    'verify: names the first lost seq and both ends') or diag($out);
($rc, $out) = verify('audit.jsonl');
is($rc, 0, 'the live file alone still verifies from its first record') or diag($out);
like($out, qr/from seq ${\ ($gap_to + 1)} /, 'and says from where');

# --- a restart on the empty file a rotation leaves ------------------------------

# With a signing key, the closing checkpoint goes into the new file, and the
# next start continues from it.
rename $log, "$log.r1" or die;
reopen();
$t->stop;
$t->run;
requests(1);
($rc, $out) = verify('audit.jsonl.r1', 'audit.jsonl', '--pubkey', $t->path('audit.pub'));
is($rc, 0, 'with a key: rotation, restart, one chain') or diag($out);

# Without one, nothing is left to continue from: a new chain, which verify
# reports and never passes.
config('');
$t->reload;
rename $log, "$log.r2" or die;
reopen();
$t->stop;
$t->run;
requests(1);
is(decode_json((lines('audit.jsonl'))[0])->{seq}, 1, 'without a key: a new chain at seq 1');
($rc, $out) = verify('audit.jsonl.r2', 'audit.jsonl');
is($rc, 1, 'verify: the new chain is reported');
like($out, qr/audit\.jsonl: seq 1: new chain: it starts over at seq 1 after seq \d+ in /, 'verify: as a new chain')
    or diag($out);

$t->done_testing_checks(allow => qr/was truncated under nginx/);
done_testing;
