#!/usr/bin/perl

# A continuous profiler on its default schedule, through the gateway.
#
# Parca scrapes each target's CPU profile in a loop of its own: a
# `profile?seconds=10` (its scrape_interval, 10 s by default), then the next
# one at the next 10 s tick of a Go ticker, or at once when that tick has
# already passed, which it has, since the profile itself takes 10 s. Its
# allocs, block, goroutine and mutex loops fetch one snapshot each per
# interval, with the same credential.
#
# Two such schedules run at once, with one API key:
#   /parca/  the settings docs/capture-control.md gives for Parca: every
#            scrape must get its profile, no 429 of any kind;
#   /debug/  the defaults (capture 4r/m burst=2): the same schedule must
#            lose a CPU profile, or this test could not tell them apart.
# Go runs one CPU profile per process, so each location has a target of
# its own. A person's profile through /parca/ during a scrape must wait
# its turn (429 capture_busy) without costing the scraper anything.
#
# Arithmetic (design note (bb)): as in limit_req, a request leaves
# max(0, bucket + 1000 - drained) in the bucket, in thousandths, and is
# refused above burst * 1000. At 4r/m, 66 thousandths a second, a scrape
# every d = 10.0x s drains 660 and adds 340 to the bucket that the first
# scrape leaves empty: 340, 680, ... 1700 after the sixth, then 2040 for
# the seventh, refused at about 60 s (3 of 15 lost in 150 s, as reported).
# The k-th scrape is refused when (k - 1) * (1000 - 66 d) > 2000: scrapes
# slower than about 10.10 s move the refusal to the eighth, 10.82 s to the
# ninth, 11.36 s to the tenth, 11.78 s beyond it. Go adds a fraction of
# a second to each profile, and more on a loaded machine, so the default
# schedule is given ten scrapes; it stops at its first 429, so this costs
# nothing when the seventh is refused. At 7r/m (116) the bucket drains 1160 per scrape and
# stays empty, so seven scrapes, more than the six the default admits,
# show the steady state: about 70 s.
#
# The budget of /parca/ is the rule at a scale this test can fill: a scraper
# that profiles all the time needs S/N = 10/10 of the window, here 20s per
# 20s (60 slices of 1/3 s); in production, 3600s per 1h.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep time);
use Test::More;
use PprofTest;
use PprofGateway qw(tls_server);

my $INTERVAL  = 10;          # Parca's default scrape_interval
my $SECONDS   = 10;          # Parca's delta CPU profile: seconds = interval
my $TIMEOUT   = 13;          # Parca's default scrape_timeout: interval + 3 s
my $SCRAPES   = 7;           # one more than the default admits (above)
my $DEFAULT   = 10;          # the default's schedule, until its first 429
my @SNAPSHOTS = qw(allocs block goroutine mutex);   # Parca's other defaults
my $t0;                      # when the schedules start

my $t = PprofTest->new;
$t->pki;
$t->start_target;
$t->start_target(name => 'target2');

my $key = 'parca-0123456789abcdef0123456789abcdef';
my $person = 'alice-0123456789abcdef0123456789abcdef';
$t->write_file('api.keys', sha256_hex($key) . " parca scraper\n"
    . sha256_hex($person) . " alice oncall\n");

$t->write_config("pprof_role scraper snapshot capture;\n"
    . "pprof_role oncall snapshot capture;\n"
    . tls_server('tls', 'off', <<'CONF'));
    location /parca/debug/pprof/ {
        pprof on;
        pprof_prefix /parca/debug/pprof/;
        pprof_identity apikey;
        pprof_api_keys api.keys;
        pprof_rate capture 7r/m burst=2;
        pprof_capture_budget 20s per 20s;
        proxy_pass http://%%TARGET%%/debug/pprof/;
    }
    location /debug/pprof/ {
        pprof on;
        pprof_identity apikey;
        pprof_api_keys api.keys;
        proxy_pass http://127.0.0.1:%%PORT_TARGET2%%/debug/pprof/;
    }
CONF
$t->run;

sub scrape {
    my ($path, $credential) = @_;
    my $start = time;
    my $r = eval {
        $t->get('tls', $path,
            headers => { Authorization => 'Bearer ' . ($credential // $key) },
            timeout => $TIMEOUT);
    };
    return {
        path   => $path,
        status => $r ? $r->{status} : 0,
        reason => $r ? ($r->{body} =~ /^pprof-gateway: (\w+)/ ? $1 : '') : "error: $@",
        retry  => $r ? $r->{headers}{'retry-after'} // '' : '',
        gzip   => $r && substr($r->{body}, 0, 2) eq "\x1f\x8b" ? 1 : 0,
        at     => sprintf('%.2f', $start - $t0),
        took   => sprintf('%.2f', time - $start),
    };
}

# The CPU loop: scrape, then wait for the ticker as Go's does. Its channel
# holds one tick and drops the others, so a tick that fired during the
# scrape starts the next one at once.
sub cpu_loop {
    my ($prefix, $scrapes, $until_429) = @_;
    my (@out, $last);
    sleep $t0 - time if $t0 > time;
    $last = $t0;
    for (1 .. $scrapes) {
        push @out, scrape("${prefix}profile?seconds=$SECONDS");
        last if $until_429 && $out[-1]{status} == 429;
        my $now = time;
        if (int(($now - $t0) / $INTERVAL) == int(($last - $t0) / $INTERVAL)) {
            my $next = $t0 + $INTERVAL * (int(($now - $t0) / $INTERVAL) + 1);
            sleep $next - $now;
        }
        $last = time;
    }
    return @out;
}

# The snapshot loops, gathered into one that fetches all four at the same
# moment of each interval (Parca spreads them; together is the harder case
# for the snapshot burst).
sub snapshot_loop {
    my ($prefix) = @_;
    my @out;
    for my $i (0 .. $SCRAPES - 1) {
        my $at = $t0 + 5 + $INTERVAL * $i;
        sleep $at - time if $at > time;
        push @out, scrape("$prefix$_") for @SNAPSHOTS;
    }
    return @out;
}

# The children, all timed from one start, each writing its results as JSON.
$t0 = time + 1;
my %loops = (
    'parca-cpu'  => sub { cpu_loop('/parca/debug/pprof/', $SCRAPES) },
    'parca-snap' => sub { snapshot_loop('/parca/debug/pprof/') },
    'dflt-cpu'   => sub { cpu_loop('/debug/pprof/', $DEFAULT, 1) },
    'dflt-snap'  => sub { snapshot_loop('/debug/pprof/') },
    # A person's CPU profile in the middle of the second scrape.
    'person'     => sub {
        sleep $t0 + 15 - time;
        scrape('/parca/debug/pprof/profile?seconds=5', $person);
    },
);
my @pids;
for my $name (sort keys %loops) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my @out = eval { $loops{$name}->() };
        push @out, { path => $name, status => 0, reason => "died: $@",
            at => '', took => '', retry => '' } if $@;
        $t->write_file("$name.json", JSON::PP->new->canonical->encode(\@out));
        POSIX::_exit(0);        # no END blocks: the parent owns nginx
    }
    push @pids, $pid;
}
waitpid($_, 0) for @pids;

my %res = map { $_ => decode_json($t->read_file("$_.json")) } keys %loops;
my $show = sub { join "\n", map { "$_->{at}s +$_->{took}s $_->{path} $_->{status} $_->{reason} $_->{retry}" } @{ $_[0] } };

# --- the recommended settings: no 429, every profile ----------------------------

my @cpu = @{ $res{'parca-cpu'} };
is(scalar @cpu, $SCRAPES, "Parca schedule, recommended settings: $SCRAPES CPU scrapes");
is(scalar(grep { $_->{status} == 200 && $_->{gzip} } @cpu), $SCRAPES,
    'every CPU scrape got its profile: no rate_limited, capture_busy or budget_exhausted')
    or diag($show->(\@cpu));
ok($cpu[-1]{at} >= ($SCRAPES - 1) * $INTERVAL - 1,
    'the scrapes followed each other, not in a burst') or diag($show->(\@cpu));

my @snap = @{ $res{'parca-snap'} };
is(scalar(grep { $_->{status} == 200 } @snap), $SCRAPES * @SNAPSHOTS,
    'every snapshot of the same identity: 200') or diag($show->(\@snap));

# --- the defaults, same schedule at the same time: a profile lost ---------------

my @dcpu = @{ $res{'dflt-cpu'} };
my @lost = grep { $_->{status} == 429 } @dcpu;
ok(@lost >= 1, 'Parca schedule, default capture 4r/m burst=2: a CPU profile lost')
    or diag($show->(\@dcpu));
ok(!(grep { $_->{reason} ne 'rate_limited' || !($_->{retry} >= 1) } @lost),
    'lost to the rate, with Retry-After')
    or diag($show->(\@dcpu));
ok(!(grep { $_->{status} != 200 && $_->{status} != 429 } @dcpu), 'and nothing else went wrong')
    or diag($show->(\@dcpu));
is(scalar(grep { $_ && $_->{status} == 200 } @dcpu[0 .. 5]), 6,
    'the first six scrapes fit the burst') or diag($show->(\@dcpu));

my @dsnap = @{ $res{'dflt-snap'} };
is(scalar(grep { $_->{status} == 200 } @dsnap), $SCRAPES * @SNAPSHOTS,
    'the default snapshot rate carries the four snapshots') or diag($show->(\@dsnap));

# --- a person while the scraper profiles, in the same location -----------------

my ($p) = @{ $res{person} };
is("$p->{status} $p->{reason}", '429 capture_busy',
    "a person's profile during a scrape: 429 capture_busy, not Go's 500");
ok($p->{retry} >= 1 && $p->{retry} <= $SECONDS,
    'Retry-After: what is left of the scrape') or diag($p->{retry});

# No capture reached Go while another ran.
is(scalar(grep { $_->{status} == 500 } @cpu, @dcpu), 0, 'no 500 from Go');

$t->done_testing_checks;
done_testing;
