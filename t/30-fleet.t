#!/usr/bin/perl

# Capture admission across a fleet: three nginx gateways share one Redis
# (pprof_shared_state, with a password) and one Go target. One capture of
# an endpoint runs at a time across the fleet, a rate and a budget hold
# across gateways, Redis's keys carry the prefix and the target, and each
# gateway's audit log verifies and names its gateway. Redis runs the
# script once per admission, the gateway's local slot taken first (the
# winner's gateway asks once for its three requests), and each worker
# connects once, at its first capture.

use strict;
use warnings;

use JSON::PP;
use Time::HiRes qw(sleep time);
use Test::More;
use PprofTest;
use PprofRedis qw(start_redis fleet_gateway spawn_get collect poll_until);

my $audit_tool = $ENV{PPROF_AUDIT} || PprofTest->new(module => 0)->root . '/build/pprof-audit';
-x $audit_tool or die "pprof-audit is missing ($audit_tool): run make tools\n";

my $PASSWORD = 'fleet-redis-pw-7f3a9c';

my $t = PprofTest->new;
my $redis = start_redis($t, password => $PASSWORD);
$t->start_target;
my $pass_file = $redis->password_file;

# The timeout is generous: this test is about agreement, not about a slow
# Redis (t/31-shared-faults.t), and the machine may be busy.
my @gw = map {
    my $name = "g$_";
    my $port = uc $name;
    fleet_gateway($t, $name, <<"CONF");
pprof_role oncall index cmdline symbol snapshot capture;
pprof_bind ~^u oncall;
pprof_shared_state redis://127.0.0.1:%%PORT_REDIS%% password_file=$pass_file timeout=1s prefix=fleet:;
pprof_gateway_id $name;
pprof_audit_log audit.jsonl;
pprof_audit_signing_key audit.key;
pprof_audit_checkpoint 5;
server {
    listen 127.0.0.1:%%PORT_$port%%;
    server_name localhost;
    pprof_tls off;
    pprof_identity \$http_x_user;
    pprof_rate off;

    location /debug/pprof/ {
        pprof on;
        pprof_target app;
        proxy_pass http://%%TARGET%%;
    }
    location /rate/debug/pprof/ {
        pprof on;
        pprof_prefix /rate/debug/pprof/;
        pprof_target rated;
        pprof_rate capture 1r/m burst=0;
        proxy_pass http://%%TARGET%%/debug/pprof/;
    }
    location /budget/debug/pprof/ {
        pprof on;
        pprof_prefix /budget/debug/pprof/;
        pprof_target budgeted;
        pprof_capture_budget 2s per 1h;
        proxy_pass http://%%TARGET%%/debug/pprof/;
    }
    location = /status { pprof_status; }
}
CONF
} 1 .. 3;

# ask_full($i, $path, $user): GET through gateway $i (1-3) as $user; the
# answer as collect() gives it. ask(): the same as "STATUS REASON".
sub ask_full {
    my ($i, $path, $user) = @_;
    return collect(spawn_get($gw[$i - 1], "g$i", $path, 'X-User' => $user));
}

sub ask {
    my $a = ask_full(@_);
    return "$a->{status} $a->{reason}";
}

sub upstream {
    my ($path) = @_;
    return scalar grep { $_->{path} eq $path } $t->upstream_requests;
}

# Each gateway's decision records, by audit id.
sub decisions {
    my ($i) = @_;
    my %by_id;
    for my $line (split /\n/, $gw[$i - 1]->settled_file('audit.jsonl')) {
        my $rec = decode_json($line);
        $by_id{ $rec->{audit_id} } = $rec if ($rec->{stage} // '') eq 'decision';
    }
    return \%by_id;
}

# Redis's own view: commands through redis-cli, counted (each is a
# connection of its own), the gateways' connections, and the script runs.
my $cli_calls = 0;
sub rcli {
    $cli_calls++;
    return $redis->cli(@_);
}

sub gateway_clients {
    return grep { !/ cmd=client\|list / } split /\n/, rcli(qw(CLIENT LIST));
}

sub connections_received {
    return rcli(qw(INFO stats)) =~ /^total_connections_received:(\d+)/m ? $1 : die 'INFO stats';
}

# Scripts Redis ran: EVALSHA but those refused NOSCRIPT, and EVAL.
sub script_runs {
    my $stats = rcli(qw(INFO commandstats));
    my %n;
    while ($stats =~ /^cmdstat_(evalsha|eval):calls=(\d+),.*failed_calls=(\d+)/mg) {
        $n{$1} = { calls => $2, failed => $3 };
    }
    return ($n{evalsha}{calls} // 0) - ($n{evalsha}{failed} // 0) + ($n{eval}{calls} // 0);
}

sub admissions {
    my ($i) = @_;
    my $body = $gw[$i - 1]->get("g$i", '/status', tls => 0)->{body};
    return $body =~ /^pprof_shared_state_latency_seconds_count (\d+)$/m ? $1 : die $body;
}

# --- one capture of an endpoint across the fleet -------------------------------

sleep 0.3;                    # time for a gateway that connects at start
my @early = gateway_clients();
is(scalar @early, 0, 'before any capture, no gateway is connected to Redis')
    or diag(explain \@early);
my $received = connections_received();
my $calls_then = $cli_calls;
my @admitted = map { admissions($_) } 1 .. 3;
my $runs = script_runs();

$t->clear_upstream;
my @spawned = map { spawn_get($gw[$_ % 3], 'g' . ($_ % 3 + 1),
    '/debug/pprof/profile?seconds=3', 'X-User' => "u$_") } 0 .. 8;
my $deadline = time + 2;
sleep 0.05 until upstream('/debug/pprof/profile') || time > $deadline;
my @running = grep { length } split /\n/, rcli('KEYS', 'fleet:{app}*');
my @res = map { collect($_) } @spawned;
my @ok = grep { $res[$_]{status} == 200 } 0 .. 8;
my @busy = grep { "$_->{status} $_->{reason}" eq '429 capture_busy' } @res;
is(scalar @ok, 1, 'nine profiles over three gateways: exactly one runs')
    or diag(explain \@res);
is(scalar @busy, 8, 'the other eight: 429 capture_busy') or diag(explain \@res);
ok(!(grep { ($_->{retry_after} // '') !~ /^[123]$/ } @busy),
    'each with Retry-After: the seconds until the running capture ends')
    or diag(explain [map { $_->{retry_after} } @busy]);
is(upstream('/debug/pprof/profile'), 1, "the target's request log: one profile");

my $winner = @ok ? $ok[0] % 3 + 1 : 1;
my $winner_id = @ok ? $res[$ok[0]]{audit_id} : '';
my $other = $winner % 3 + 1;

# The local slot serialises each gateway's captures: its own requests
# wait for no Redis while one of them holds it, and Redis runs the script
# once per admission, and once for the winner's release.
my @asked = map { admissions($_) - $admitted[$_ - 1] } 1 .. 3;
is($asked[$winner - 1], 1, "the winner's gateway asked Redis once for its three captures")
    or diag(explain \@asked);
my $asked = 0;
$asked += $_ for @asked;
my ($ran, $got) = poll_until($asked + 1, 2, sub { script_runs() - $runs });
ok($ran, "Redis ran the script once per admission ($asked), and once to release")
    or diag("script runs: $got, admissions: @asked");

# Released as the response ends: a moment after the client has it, and
# long before its lease would end.
my ($next, $last) = poll_until('200 -', 3,
    sub { ask($other, '/debug/pprof/profile?seconds=1', 'ulater') });
ok($next, 'once it ended, another gateway runs the next capture at once')
    or diag("last answer: $last");

# --- a rate across gateways -----------------------------------------------------

$t->clear_upstream;
is(ask(1, '/rate/debug/pprof/heap?seconds=1', 'urate'), '200 -', 'rate: gateway 1 captures');
my $rate_denied = ask_full(2, '/rate/debug/pprof/heap?seconds=1', 'urate');
is("$rate_denied->{status} $rate_denied->{reason}", '429 rate_limited', 'the same identity through gateway 2 right after: rate_limited');
ok(($rate_denied->{retry_after} // 0) >= 50 && $rate_denied->{retry_after} <= 63,
    'Retry-After: about a minute at 1r/m') or diag($rate_denied->{retry_after});
is(ask(3, '/rate/debug/pprof/heap?seconds=1', 'urate'), '429 rate_limited',
    'and through gateway 3');
is(ask(2, '/rate/debug/pprof/heap?seconds=1', 'urate2'), '200 -',
    'another identity has its own bucket');
is(upstream('/debug/pprof/heap'), 2, 'the target saw the two admitted captures only');

# --- a budget across gateways -------------------------------------------------------

$t->clear_upstream;
is(ask(1, '/budget/debug/pprof/heap?seconds=1', 'ub1'), '200 -', 'budget: gateway 1 spends 1 of 2 s');
my $budget_denied = ask_full(2, '/budget/debug/pprof/heap?seconds=2', 'ub2');
is("$budget_denied->{status} $budget_denied->{reason}", '429 budget_exhausted', 'gateway 2 cannot spend 2 more');
ok(($budget_denied->{retry_after} // 0) > 3500 && $budget_denied->{retry_after} <= 3600,
    'Retry-After: until the spent second leaves the hour') or diag($budget_denied->{retry_after});
is(ask(3, '/budget/debug/pprof/heap?seconds=1', 'ub3'), '200 -',
    'gateway 3 spends the last second');
is(ask(1, '/budget/debug/pprof/heap?seconds=1', 'ub1'), '429 budget_exhausted',
    'and gateway 1 now finds the budget spent by gateway 3');
is(upstream('/debug/pprof/heap'), 2, 'the target saw the two granted captures only');

# --- requests that are not captures stay local ------------------------------------

my @cmdline = map { ask_full($_, '/debug/pprof/cmdline', 'ucmd') } 1 .. 3;
is_deeply([map { $_->{status} } @cmdline], [200, 200, 200], 'cmdline through each gateway');

# --- Redis's connections ---------------------------------------------------------------

# One connection per worker, kept: after all the captures above, each of
# the three gateways' two workers connected at most once.
my @clients = gateway_clients();
ok(@clients >= 3 && @clients <= 6, 'each gateway connected, at most one connection per worker ('
    . scalar(@clients) . ')') or diag(explain \@clients);
my $made = connections_received() - $received - ($cli_calls - $calls_then);
is($made, scalar @clients, 'and made no other: none closed and reconnected');

# --- Redis's keys ---------------------------------------------------------------------

my @keys = $redis->keys;
ok(@running, 'the running capture holds a key of its target in Redis')
    or diag(explain [$redis->keys]);
ok(@keys, 'the fleet keeps its rates and budgets in Redis (' . scalar(@keys) . ' keys)');
my @stray = grep { !/^fleet:/ } @keys;
ok(!@stray, 'every key starts with the prefix') or diag(explain \@stray);
@stray = grep { !/\{(?:app|rated|budgeted)\}/ } @keys;
ok(!@stray, 'every key holds its target between braces (one Cluster slot per target)')
    or diag(explain \@stray);
for my $target (qw(rated budgeted)) {
    ok((grep { /\{$target\}/ } @keys), "keys of target $target");
}

# --- metrics ---------------------------------------------------------------------------

for my $i (1 .. 3) {
    my $body = $gw[$i - 1]->get("g$i", '/status', tls => 0)->{body};
    my ($count) = $body =~ /^pprof_shared_state_latency_seconds_count (\d+)$/m;
    ok(($count // 0) > 0, "g$i: pprof_shared_state_latency_seconds counts its admissions")
        or diag($body);
    like($body, qr/^pprof_shared_state_latency_seconds_bucket\{le="0\.001"\} \d+$/m,
        "g$i: the histogram's first bucket");
    my @errors = $body =~ /^pprof_shared_state_errors_total\{kind="\w+"\} ([1-9]\d*)$/mg;
    ok(!@errors, "g$i: no shared state errors in a healthy fleet") or diag($body);
}

# --- each gateway's audit log ----------------------------------------------------------

my $d1 = decisions($winner);
is($d1->{$winner_id}{gateway}, "g$winner", 'the winning profile: audited by its gateway');
is($d1->{$winner_id}{shared}, 'ok', '... and decided on Redis ("shared": "ok")');
my $d2 = decisions(2);
is($d2->{ $rate_denied->{audit_id} }{reason}, 'rate_limited', 'the rate denial is audited');
is($d2->{ $rate_denied->{audit_id} }{shared}, 'ok', '... as decided on Redis');
is($d2->{ $budget_denied->{audit_id} }{shared}, 'ok', 'the budget denial too');
for my $i (1 .. 3) {
    my $rec = decisions($i)->{ $cmdline[$i - 1]{audit_id} };
    ok($rec && !exists $rec->{shared}, "g$i: a cmdline record has no \"shared\"");
}

for my $i (1 .. 3) {
    my $gw = $gw[$i - 1];
    $gw->done_testing_checks;         # stops it: the last checkpoint is written
    my $out = `'$audit_tool' verify '@{[ $gw->path('audit.jsonl') ]}' --pubkey '@{[ $gw->path('audit.pub') ]}' 2>&1`;
    is($? >> 8, 0, "g$i: its audit log verifies with its key") or diag($out);
    my @recs = map { decode_json($_) } split /\n/, $gw->read_file('audit.jsonl');
    my @wrong = grep { ($_->{gateway} // '') ne "g$i" && $_->{stage} ne 'checkpoint' } @recs;
    ok(@recs && !@wrong, "g$i: each of its " . scalar(@recs) . " records says gateway g$i")
        or diag(explain [@wrong[0 .. ($#wrong < 2 ? $#wrong : 2)]]);
    @wrong = grep { ($_->{gateway} // '') ne "g$i" && $_->{stage} eq 'checkpoint' } @recs;
    ok(!@wrong, "g$i: its checkpoints too") or diag(explain $wrong[0]);
    my $logs = $gw->error_log . $gw->read_file('audit.jsonl');
    unlike($logs, qr/\Q$PASSWORD\E/, "g$i: the Redis password is in no log");
}

done_testing;
