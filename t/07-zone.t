#!/usr/bin/perl

# A pprof_zone of the smallest size (8 pages) flooded with many times more
# identities than it can hold: no crash, no alert, every request still
# decided (eviction makes room, for nodes of every size), and a running
# capture's slot is never evicted.  Then the zone is filled with what is
# never evicted (budgets still counting a capture): only then is a request
# refused for want of room, and error.log says why.

use strict;
use warnings;

use POSIX ();
use Time::HiRes qw(sleep);
use Test::More;
use PprofTest;
use PprofGateway qw(make_identities tls_server);

my $ZONE = 32 * 1024;

# Locations, each its own target, whose budget grants one capture and then
# counts it for an hour.  A stand-in target answers at once.
my @BUDGETS = map { sprintf 'b%02d', $_ } 0 .. 39;
my $budget_locations = join '', map { <<"LOC" } @BUDGETS;
    location /$_/debug/pprof/ {
        pprof on;
        pprof_prefix /$_/debug/pprof/;
        pprof_identity \$http_x_user;
        pprof_capture_budget 1s per 1h;
        pprof_annotate off;
        proxy_pass http://127.0.0.1:%%PORT_STUB%%/debug/pprof/;
    }
LOC

my $t = PprofTest->new;
make_identities($t);
$t->start_target;
$t->start_stub('stub', sub {
    return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
});

# cmdline's bucket drains for a minute: no rate state turns idle during the
# test, so only eviction can make room, however slowly the flood runs.
$t->write_config(<<"CONF" . tls_server('tls', 'optional', <<'LOC' . $budget_locations));
pprof_zone ${\ ($ZONE / 1024)}k;
pprof_role oncall index cmdline symbol snapshot capture;
pprof_bind ~^u oncall;
CONF
    location /debug/pprof/ {
        pprof on;
        pprof_identity $http_x_user;
        pprof_rate cmdline 1r/m burst=5;
        proxy_pass http://%%TARGET%%;
    }
    location /hdr/debug/pprof/ {
        pprof on;
        pprof_prefix /hdr/debug/pprof/;
        pprof_identity $http_x_user;
        pprof_target $http_x_target;
        pprof_capture_budget 1s per 1h;
        proxy_pass http://%%TARGET%%/debug/pprof/;
    }
    location = /status { pprof_status; }
LOC
$t->run;

sub get_as {
    my ($user, $path, %more) = @_;
    return $t->get('tls', $path, headers => { 'X-User' => $user, %more });
}

sub zone_used {
    my ($used) = $t->get('tls', '/status')->{body} =~ /^pprof_zone_used_bytes (\d+)$/m;
    return $used;
}

my $FULL = qr/pprof_zone is full/;

# Sends cmdline requests as identities u<first>..u<first+n-1>, pipelined.
my %status;
sub flood {
    my ($first, $n) = @_;
    my $answered = 0;
    while ($n > 0) {
        my $batch = $n > 200 ? 200 : $n;
        my $req = '';
        for my $i (0 .. $batch - 1) {
            $req .= "GET /debug/pprof/cmdline HTTP/1.1\r\nHost: localhost\r\n"
                . sprintf("X-User: u%06d\r\n", $first++)
                . ($i == $batch - 1 ? "Connection: close\r\n" : '') . "\r\n";
        }
        my @r = $t->parse_responses($t->raw('tls', $req, timeout => 30));
        $status{ $_->{status} }++ for @r;
        $answered += @r;
        $n -= $batch;
    }
    return $answered;
}

# A capture that runs through the whole flood.
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my $r = eval { get_as('uholder', '/debug/pprof/profile?seconds=5') };
    POSIX::_exit($r && $r->{status} == 200 ? 0 : 1);
}
sleep 0.5;

# A rate state takes at least a 128-byte slab chunk (it is larger than 128
# bytes), so the zone holds fewer than $ZONE / 128 of them: each half of
# the flood is four times that.
my $half = 4 * int($ZONE / 128);
my $before = zone_used();
my $n = flood(0, $half);
my $after_one = zone_used();
$n += flood($half, $half);
my $after_two = zone_used();

is($n, 2 * $half, "$n requests answered");
is($status{200}, 2 * $half, 'every one allowed: eviction made room')
    or diag(explain \%status);
ok($after_one > $before && $after_two == $after_one,
    "the flood filled the zone ($before, $after_one, $after_two bytes used)");

# Identities longer than the flood's need larger slab chunks than the ones
# the flood filled the zone with.
for my $user ('uother', 'u' . ('l' x 300), 'u' . ('m' x 600)) {
    my $len = length $user;
    my $r = get_as($user, '/debug/pprof/profile?seconds=1');
    is($r->{status}, 429, "a $len-byte identity: the running capture kept its slot");
    like($r->{body}, qr/capture_busy/, "a $len-byte identity: capture_busy");
    is(get_as($user, '/debug/pprof/cmdline')->{status}, 200,
        "a $len-byte identity: its rate state found room");
}

my $r = $t->get('tls', '/status');
my ($used) = $r->{body} =~ /^pprof_zone_used_bytes (\d+)$/m;
ok(defined $used && $used <= $ZONE, "zone usage within its size ($used)");
like($r->{body}, qr/^pprof_captures_in_flight 1$/m, 'one capture in flight');
like($r->{body}, qr/^pprof_requests_total\{class="cmdline",decision="allow",reason="ok"\} @{[ 2 * $half + 3 ]}$/m,
    'the flood is counted');
unlike($t->error_log, $FULL, 'no request found the zone full while state could be evicted');

waitpid($pid, 0);
is($?, 0, 'the long capture completed');
is(get_as('uother', '/debug/pprof/profile?seconds=1')->{status}, 200,
    'its slot is free once it ended');

# Targets named by a client, each a budget that counts nothing (the capture
# asked for is longer than it): many times more than the zone holds, and
# all are forgotten as room is needed.
my %refused;
for my $i (1 .. 100) {
    my $r = get_as("uflood$i", "/hdr/debug/pprof/profile?seconds=2",
                   'X-Target' => sprintf('t%03d-%s', $i, 'x' x 40));
    $refused{"$r->{status} " . ($r->{body} =~ /^pprof-gateway: (\w+)/ ? $1 : '-')}++;
}
is_deeply(\%refused, { '429 budget_exhausted' => 100 },
    '100 targets\' budgets, each deciding') or diag(explain \%refused);
unlike($t->error_log, $FULL, 'budgets that count nothing are evicted');

# A budget that counted nothing is forgotten when room is needed; one
# counting a capture is not: location after location stores one until no
# room is left but theirs.
my @answers;
for my $loc (@BUDGETS) {
    my $r = get_as('ubudget', "/$loc/debug/pprof/profile?seconds=2");
    my $answer = "$r->{status} " . ($r->{body} =~ /^pprof-gateway: (\w+)/ ? $1 : '-');
    $r = get_as('ubudget', "/$loc/debug/pprof/profile?seconds=1");
    $answer .= ", $r->{status} " . ($r->{body} =~ /^pprof-gateway: (\w+)/ ? $1 : '-');
    push @answers, $answer;
    last if $r->{status} != 200;
}
my $last = pop @answers;
ok(@answers >= 2 && !grep({ $_ ne '429 budget_exhausted, 200 -' } @answers),
    scalar(@answers) . ' budgets refused a capture longer than themselves, then '
    . 'granted one and stored it') or diag(explain \@answers);
like($last, qr/, 500 internal_error$/, 'then a budget finds no room: denied, fail closed')
    or diag($last);
like($t->error_log, qr/\[error\].*pprof_zone is full: no room for \d+ bytes of (?:budget|capture slot) state after evicting \d+ idle nodes/,
    'and error.log says the zone is full of what is never evicted');

$t->done_testing_checks;
done_testing;
