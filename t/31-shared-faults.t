#!/usr/bin/perl

# Capture admission through Redis, when Redis fails. Two gateways share
# one Redis and one target: "gc" with pprof_shared_failure closed and one
# worker, "go" with open. Both wait 1 s for Redis: long enough that a
# worker blocked on it could not pass for one that serves others
# meanwhile. Their Redis user has exactly the rights of the ACL line in
# docs/fleet.md, read from there; a capture after SCRIPT FLUSH (the
# script sent whole, by EVAL) works with them.
# - Redis stopped: gc refuses captures at once with 503
#   shared_state_unavailable, audited "shared": "unavailable", and still
#   serves cmdline and snapshots; go allows them, audited the same.
# - Redis restarted (empty, its script cache too): captures work again,
#   nginx untouched.
# - Redis asleep (DEBUG SLEEP 5, seen unanswering a PING before the
#   capture is sent): a capture is answered within the timeout, and a
#   cmdline on the same worker at once: the event loop never waits. The
#   latency histogram counts the timeout above le="0.5".
# - A worker killed mid-capture: its lease holds the slot across the fleet
#   until seconds + 15 s after the capture began, and no longer.
# - A reload while a shared slot is held: the slot stays held and the
#   capture completes.
# - gc logs at debug; no log holds the Redis password.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Sys::Hostname qw(hostname);
use Time::HiRes qw(sleep time);
use Test::More;
use PprofTest;
use PprofRedis qw(start_redis fleet_gateway spawn_get collect poll_until);

my $PASSWORD = 'faults-pw-51c2e8';

my $t = PprofTest->new;

# The gateways' user has exactly the rights of docs/fleet.md's ACL line;
# the default user, with a password of its own, is the rig's.
my ($acl) = $t->read_file($t->root . '/docs/fleet.md')
    =~ /^\s*user pprof (on #<sha256 of the password> .*)$/m;
ok($acl, "docs/fleet.md's ACL line") or BAIL_OUT('no ACL line in docs/fleet.md');
$acl =~ s/#<sha256 of the password>/'#' . sha256_hex($PASSWORD)/e;
my $redis = start_redis($t, user => 'pprof', user_password => $PASSWORD,
    acl => [split ' ', $acl], password => 'faults-admin-9e04d1');
$t->start_target;
my $pass_file = $redis->password_file;

sub gateway_conf {
    my ($port, $lines) = @_;
    return <<"CONF";
pprof_role oncall index cmdline symbol snapshot capture;
pprof_bind ~^u oncall;
pprof_audit_log audit.jsonl;
$lines
server {
    listen 127.0.0.1:%%PORT_$port%%;
    server_name localhost;
    pprof_tls off;
    pprof_identity \$http_x_user;
    pprof_rate off;

    location /debug/pprof/ {
        pprof on;
        pprof_target app;
        proxy_set_header X-Worker-Pid \$pid;
        proxy_pass http://%%TARGET%%;
    }
    location = /status { pprof_status; }
}
CONF
}

# gc logs at debug (Debian's nginx has --with-debug): the password must
# not show there either.
my $gc = fleet_gateway($t, 'gc', gateway_conf('GC', <<"CONF"), workers => 1, log_level => 'debug');
pprof_shared_state redis://127.0.0.1:%%PORT_REDIS%% password_file=$pass_file timeout=1s;
pprof_shared_failure closed;
CONF
my $go = fleet_gateway($t, 'go', gateway_conf('GO', <<"CONF"));
pprof_shared_state redis://127.0.0.1:%%PORT_REDIS%% password_file=$pass_file timeout=1s;
pprof_shared_failure open;
pprof_gateway_id open-gw;
CONF

my %port = ("$gc" => 'gc', "$go" => 'go');

# ask_full($gw, $path, $user): the answer as collect() gives it (status,
# reason, retry_after, audit_id, elapsed). ask(): "STATUS REASON".
sub ask_full {
    my ($gw, $path, $user) = @_;
    return collect(spawn_get($gw, $port{"$gw"}, $path, 'X-User' => $user // 'uone'));
}

sub ask {
    my $a = ask_full(@_);
    return "$a->{status} $a->{reason}";
}

sub decision {
    my ($gw, $id) = @_;
    for my $line (split /\n/, $gw->settled_file('audit.jsonl')) {
        my $rec = decode_json($line);
        return $rec if $rec->{audit_id} eq $id && $rec->{stage} eq 'decision';
    }
    return {};
}

sub status_value {
    my ($gw, $series) = @_;
    my $body = $gw->get($port{"$gw"}, '/status', tls => 0)->{body};
    return $body =~ /^\Q$series\E (\d+(?:\.\d+)?)$/m ? $1 : undef;
}

# Asks until the answer is $want, at most $within seconds; returns when
# the request that got it was sent (undef if none did), and the last answer.
sub until_answer {
    my ($gw, $path, $want, $within, $user) = @_;
    return poll_until($want, $within, sub { ask($gw, $path, $user) });
}

sub sleep_until {
    my ($when) = @_;
    sleep $when - time if $when > time;
}

sub upstream_profiles {
    return grep { $_->{path} eq '/debug/pprof/profile' } $t->upstream_requests;
}

# --- healthy -----------------------------------------------------------------

my $a = ask_full($gc, '/debug/pprof/heap?seconds=1');
is($a->{status}, 200, 'a capture through the closed gateway');
my $rec = decision($gc, $a->{audit_id});
is($rec->{shared}, 'ok', '... decided on Redis');
is($rec->{gateway}, lc hostname(), 'without pprof_gateway_id, the gateway is the host name');

sub eval_calls {
    return $redis->cli(qw(INFO commandstats)) =~ /^cmdstat_eval:calls=(\d+),/m ? $1 : 0;
}
$redis->cli(qw(SCRIPT FLUSH));
my $evals = eval_calls();
is(ask($gc, '/debug/pprof/heap?seconds=1'), '200 -',
    'with the script flushed, the documented ACL user still captures');
is(eval_calls() - $evals, 1, '... having sent the script whole, once (EVAL)');

# --- Redis stopped ---------------------------------------------------------------

sub workers_started {
    my ($gw) = @_;
    return scalar(() = $gw->error_log =~ /start worker process/g);
}
my %started = map { ("$_" => workers_started($_)) } $gc, $go;

$redis->stop;
$t->clear_upstream;
for my $try (1, 2) {
    $a = ask_full($gc, '/debug/pprof/profile?seconds=1');
    is("$a->{status} $a->{reason}", '503 shared_state_unavailable',
        "Redis stopped, capture $try: 503 shared_state_unavailable");
    like($a->{retry_after} // '', qr/^[1-9]\d*$/, '... with Retry-After');
    ok($a->{elapsed} < 1.5, sprintf('... within about the timeout (%.3f s)', $a->{elapsed}));
}
$rec = decision($gc, $a->{audit_id});
is("$rec->{decision} $rec->{reason}", 'deny shared_state_unavailable',
    'the closed gateway audits the denial');
is($rec->{shared}, 'unavailable', '... with "shared": "unavailable": Redis did not decide');
is(scalar(upstream_profiles()), 0, 'no capture reached the target');
is(ask($gc, '/debug/pprof/cmdline'), '200 -', 'cmdline is still served');
is(ask($gc, '/debug/pprof/heap'), '200 -', 'so are snapshots');
ok((status_value($gc, 'pprof_shared_state_errors_total{kind="connect"}') // 0) >= 1,
    'pprof_shared_state_errors_total{kind="connect"} counts it');

$a = ask_full($go, '/debug/pprof/heap?seconds=1');
is($a->{status}, 200, 'pprof_shared_failure open: the capture is allowed');
$rec = decision($go, $a->{audit_id});
is($rec->{decision}, 'allow', '... and audited allowed');
is($rec->{shared}, 'unavailable', '... with "shared": "unavailable"');
is($rec->{gateway}, 'open-gw', '... by its gateway');

# --- Redis restarted ---------------------------------------------------------------

my $restarted = time;
$redis->restart;
my ($back, $last) = until_answer($gc, '/debug/pprof/heap?seconds=1', '200 -', 5);
ok($back, 'Redis restarted: captures work again, nginx untouched')
    or diag("last answer: $last");
diag(sprintf 'back %.2f s after the restart', $back - $restarted) if $back;
($back, $last) = until_answer($go, '/debug/pprof/heap?seconds=1', '200 -', 5);
ok($back, 'and on the open gateway') or diag("last answer: $last");
$a = ask_full($go, '/debug/pprof/heap?seconds=1');
is(decision($go, $a->{audit_id})->{shared}, 'ok', 'which decides on Redis again');
is_deeply([map { workers_started($_) } $gc, $go], [map { $started{$_} } $gc, $go],
    'through it all, the same workers: none restarted');

# --- Redis asleep ----------------------------------------------------------------------

# Whether Redis answers a PING on a connection of its own within 50 ms.
sub redis_answers {
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $redis->port,
        Proto => 'tcp', Timeout => 1) or die "connect to Redis: $!";
    print $sock "PING\r\n";
    my $answered = IO::Select->new($sock)->can_read(0.05) ? 1 : 0;
    close $sock;
    return $answered;
}

# Sleeps long enough that the capture's 1 s timeout ends more than 1 s
# before Redis wakes, on a slow machine too.
my $SLEEP = 5;
my %before = map { ($_ => status_value($gc, "pprof_shared_state_latency_seconds_$_") // 0) }
    'bucket{le="0.5"}', 'bucket{le="+Inf"}', 'count', 'sum';
my $slept = time;
my $sleeper = fork // die "fork: $!";
if ($sleeper == 0) {
    $redis->cli('DEBUG', 'SLEEP', $SLEEP);
    POSIX::_exit(0);
}
my $asleep;
until ($asleep || time > $slept + 2) {
    $asleep = !redis_answers();
    sleep 0.01 unless $asleep;
}
ok($asleep, sprintf('Redis is asleep (a PING unanswered %.2f s after DEBUG SLEEP)', time - $slept))
    or BAIL_OUT('Redis never fell asleep');
my $capture = spawn_get($gc, 'gc', '/debug/pprof/profile?seconds=1', 'X-User' => 'uone');
sleep 0.2;                               # ... and the capture waits on it
my $cmd = ask_full($gc, '/debug/pprof/cmdline');
$a = collect($capture);
is($cmd->{status}, 200, 'Redis asleep: cmdline on the same worker is served');
ok($cmd->{elapsed} < 0.5, sprintf('... at once (%.3f s): the worker did not block', $cmd->{elapsed}));
is("$a->{status} $a->{reason}", '503 shared_state_unavailable', 'the capture: 503');
ok($a->{elapsed} >= 0.8 && $a->{elapsed} < 2.5,
    sprintf('... once the timeout is over (%.3f s)', $a->{elapsed}));
ok(time < $slept + $SLEEP, sprintf('both while Redis still slept (%.2f s of %d)', time - $slept, $SLEEP));
my %after = map { ($_ => status_value($gc, "pprof_shared_state_latency_seconds_$_") // 0) }
    keys %before;
my %delta = map { ($_ => $after{$_} - $before{$_}) } keys %before;
is($delta{count}, 1, 'the latency histogram counts the timed-out admission');
is($delta{'bucket{le="+Inf"}'}, 1, '... under le="+Inf"');
is($delta{'bucket{le="0.5"}'}, 0, '... and not under le="0.5": it took the timeout');
ok($delta{sum} >= 0.95 && $delta{sum} < 2.5,
    sprintf('... the sum grew by about the timeout (%.3f s)', $delta{sum}));
waitpid($sleeper, 0);
is($?, 0, "DEBUG SLEEP $SLEEP ran");
ok((status_value($gc, 'pprof_shared_state_errors_total{kind="timeout"}') // 0) >= 1,
    'pprof_shared_state_errors_total{kind="timeout"} counts it');

# The admission that timed out reached Redis when it woke: it must not
# leave its lease behind.  The closed gateway sends the release as soon as
# it reaches Redis again, within its backoff (at most 2 s) and not at the
# lease's end, 16 s after the admission.
my $woke = time;
($back, $last) = until_answer($go, '/debug/pprof/profile?seconds=1', '200 -', 4);
ok($back, sprintf('Redis awake: the timed-out admission left no lease (free %.2f s after Redis woke)',
    ($back // time) - $woke)) or diag("last answer: $last");
($back, $last) = until_answer($gc, '/debug/pprof/profile?seconds=1', '200 -', 3);
ok($back, 'and the closed gateway captures again') or diag("last answer: $last");

# --- a worker killed mid-capture -----------------------------------------------------------

my $SECONDS = 2;
$t->clear_upstream;
my $t0 = time;                           # the lease is taken after this
my $victim = spawn_get($gc, 'gc', "/debug/pprof/profile?seconds=$SECONDS", 'X-User' => 'uvictim');
my ($worker, $seen);
until ($worker) {
    die "the capture never reached the target\n" if time > $t0 + 5;
    ($worker) = map { @{ $_->{headers}{'x-worker-pid'} || [] } } upstream_profiles();
    $seen = time;
    sleep 0.05 unless $worker;
}
kill 'KILL', $worker;
ok(time < $t0 + $SECONDS, "worker $worker killed mid-capture");
collect($victim);

sleep_until($t0 + $SECONDS + 1);
is(ask($go, '/debug/pprof/profile?seconds=1', 'uother'), '429 capture_busy',
    'after the capture would have ended, the lease still holds it for the other gateway');
is(ask($gc, '/debug/pprof/profile?seconds=1', 'uother'), '429 capture_busy',
    'and for the killed worker\'s own gateway');
my $freed;
($freed, $last) = until_answer($go, '/debug/pprof/profile?seconds=1', '200 -',
    $seen + $SECONDS + 15 + 5 - time, 'uother');
ok($freed, 'the slot comes back') or diag("last answer: $last");
$freed //= 0;
ok($freed >= $t0 + $SECONDS + 15 - 0.5,
    sprintf('not before the lease ends (%.1f s after the capture began)', $freed - $t0));
ok($freed <= $seen + $SECONDS + 15 + 3,
    sprintf('and once it has ended (%.1f s after)', $freed - $t0));

# --- a reload while a shared slot is held ---------------------------------------------------

$t->clear_upstream;
my $held = spawn_get($go, 'go', '/debug/pprof/profile?seconds=3', 'X-User' => 'uheld');
my $deadline = time + 5;
sleep 0.05 until upstream_profiles() || time > $deadline;
ok(scalar upstream_profiles(), 'a capture holds the shared slot');
$go->reload;
is(ask($gc, '/debug/pprof/profile?seconds=1', 'uother'), '429 capture_busy',
    'after a reload of its gateway, the other gateway still finds the slot held');
$a = collect($held);
is($a->{status}, 200, 'the held capture completes across the reload');
ok($a->{elapsed} >= 3, sprintf('... all of it (%.1f s)', $a->{elapsed}));
($back, $last) = until_answer($gc, '/debug/pprof/profile?seconds=1', '200 -', 1, 'uother');
ok($back, 'and its end gives the slot back to the fleet at once')
    or diag("last answer: $last");

# --- the end -----------------------------------------------------------------------------------

like($gc->error_log, qr/\[debug\] /, 'gc logged at debug');
for my $gw ($gc, $go) {
    unlike($gw->error_log . $gw->read_file('audit.jsonl'), qr/\Q$PASSWORD\E/,
        "$port{$gw}: the Redis password is in no log");
}
$go->done_testing_checks;
$gc->done_testing_checks(allow => qr/\[alert\] \d+#\d+: worker process $worker exited on signal 9$/);
done_testing;
