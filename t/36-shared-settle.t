#!/usr/bin/perl

# A capture given up across a fleet (pprof_shared_state): two gateways, A
# and B, share one Redis and one Go target.  A client starts a 5 s
# profile through A and hangs up after 0.5 s.  Go stops profiling only
# once it notices the closed connection, so the fleet's lease in Redis
# must not be freed at once: it settles, ending a second after the
# release (PPROF_CAPTURE_SETTLE).  Meanwhile a capture through B is
# refused by Redis with 429 capture_busy and Retry-After 1, and a second
# later it runs.  A response that completes still frees the lease at
# once: A's next capture is admitted right after B's.  Over the rounds,
# the target never answers 500 ("cpu profiling already in use") and no
# 500 reaches a client.  One round has Redis forget the script between
# the admission and the hang-up: the release, sent again as EVAL, still
# settles; another has Redis drop the gateways' connections just before
# the hang-up: the release, sent on a new link, still settles.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(sleep time);
use Test::More;
use PprofTest;
use PprofRedis qw(start_redis fleet_gateway spawn_get collect poll_until);

my $ROUNDS = 10;
my $SETTLE = 1.0;                        # PPROF_CAPTURE_SETTLE, s
my $SLOTS = 'settle:{app}:slots:profile';

my $t = PprofTest->new;
my $redis = start_redis($t);
$t->start_target;

# What each request got from the target ($upstream_status) and gave its
# client ($status).
my %gw;
for my $name (qw(ga gb)) {
    my $port = uc $name;
    $gw{$name} = fleet_gateway($t, $name, <<"CONF");
pprof_role oncall index cmdline symbol snapshot capture;
pprof_bind ~^u oncall;
pprof_shared_state redis://127.0.0.1:%%PORT_REDIS%% timeout=1s prefix=settle:;
pprof_gateway_id $name;
pprof_audit_log audit.jsonl;
log_format upstream '\$status \$upstream_status \$request_uri';
access_log %%TESTDIR%%/upstream.log upstream;
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
}
CONF
}
my ($A, $B) = @gw{qw(ga gb)};

sub ask_full {
    my ($name, $path, $user) = @_;
    return collect(spawn_get($gw{$name}, $name, $path, 'X-User' => $user));
}

sub ask {
    my $a = ask_full(@_);
    return "$a->{status} $a->{reason}";
}

sub profiles {
    my ($seconds) = @_;
    return scalar grep { $_->{path} eq '/debug/pprof/profile'
        && $_->{raw_query} eq "seconds=$seconds" } $t->upstream_requests;
}

# One reply of Redis's, as nested arrays of strings: the rig's redis-cli
# forks for each command, too slow to watch a lease of a second.
my $watch = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $redis->port)
    or die "connect to Redis: $!";

sub reply {
    my $line = <$watch> // die "Redis closed the connection\n";
    $line =~ s/\r\n\z//;
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
    return [map { reply() } 1 .. $rest] if $type eq '*';
    die "Redis: $rest\n" if $type eq '-';
    return $rest unless $type eq '$';
    return undef if $rest < 0;
    read($watch, my $bulk, $rest + 2) == $rest + 2 or die "short read from Redis\n";
    return substr($bulk, 0, $rest);
}

# The leases in Redis, owner => [starts, ends, expires], and Redis's now
# (ms), read right after them.
sub leases {
    print $watch "HGETALL $SLOTS\r\nTIME\r\n";
    my ($kv, $time) = (reply(), reply());
    my %l;
    for (my $i = 0; $i < @$kv; $i += 2) {
        $l{ $kv->[$i] } = [split /:/, $kv->[$i + 1]];
    }
    return (\%l, $time->[0] * 1000 + int($time->[1] / 1000));
}

# Each gateway's decision records, by audit id.
sub decisions {
    my ($gw) = @_;
    my %by_id;
    for my $line (split /\n/, $gw->settled_file('audit.jsonl')) {
        my $rec = decode_json($line);
        $by_id{ $rec->{audit_id} } = $rec if $rec->{stage} eq 'decision';
    }
    return \%by_id;
}

my (@answers, @busy_ids);

for my $round (1 .. $ROUNDS) {
    my $flush = $round == 2;
    my $drop = $round == 3;

    # A's 5 s capture, admitted right after the round before ended with a
    # complete response through B.
    my $before = profiles(5);
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $A->port('ga'))
        or die "connect: $!";
    print $s "GET /debug/pprof/profile?seconds=5 HTTP/1.1\r\nHost: localhost\r\n"
        . "X-User: ua$round\r\nConnection: close\r\n\r\n";
    my $sent = time;
    my $sel = IO::Select->new($s);
    my $reached;
    until ($reached || time > $sent + 3) {
        $reached = profiles(5) > $before;
        last if !$reached && $sel->can_read(0.02);    # an answer: refused
    }
    unless ($reached) {
        my $got = '';
        sysread($s, $got, 200);
        fail("round $round: A's capture reached the target");
        diag("A answered: $got");
        last;
    }
    $redis->cli('SCRIPT', 'FLUSH') if $flush;
    sleep $sent + 0.5 - time if $sent + 0.5 > time;
    if ($drop) {
        print $watch "CLIENT KILL TYPE normal SKIPME yes\r\n";
        cmp_ok(reply(), '>=', 1, "round $round: Redis dropped the gateways' links");
    }
    close $s;                            # the client hangs up mid-capture
    my $closed = time;

    # The lease settles: still A's, ending a second from the release.  It
    # is read within 10 ms of the release, however late that comes.
    my ($lease, $remaining, $owner);
    until ($lease || time > $closed + 2) {
        my ($l, $now) = leases();
        ($owner) = grep { m{^ga/} } keys %$l;
        if (!$owner) {
            last;                        # freed at once (or never held)
        }
        if ($l->{$owner}[2] - $now <= $SETTLE * 1000) {
            $lease = $l->{$owner};
            $remaining = $lease->[2] - $now;
        } else {
            sleep 0.01;
        }
    }
    my $seen = time;
    my $what = $flush ? ' (the script flushed before the release)'
        : $drop ? ' (sent on a new link)' : '';
    ok($lease, "round $round: A's lease settles in Redis$what")
        or diag($owner ? 'still the whole lease: ' . encode_json([leases()])
            : 'the lease is gone');
    $lease //= [0, 0, 0];
    $remaining //= 0;
    # Released after the hang-up: it ends no sooner than a second after it.
    my $least = $SETTLE * 1000 - int(($seen - $closed) * 1000) - 20;
    ok($remaining >= $least && $remaining <= $SETTLE * 1000
        && $lease->[1] == $lease->[2],
        "round $round: it ends ${remaining} ms from now, capture and expiry alike")
        or diag("lease @$lease, at least $least ms expected");

    # At once, B: refused by Redis, come back in a second.
    my $busy = ask_full('gb', '/debug/pprof/profile?seconds=1', "ub$round");
    push @answers, $busy;
    push @busy_ids, $busy->{audit_id};
    is("$busy->{status} $busy->{reason} " . ($busy->{retry_after} // '-'),
        '429 capture_busy 1', "round $round: B at once: 429 capture_busy, Retry-After 1");

    # Then B's capture runs, once the settle is over.
    my $ends = $seen + $remaining / 1000;     # at the latest
    my ($freed, $last) = poll_until('200 -', 3, sub {
        my $a = ask_full('gb', '/debug/pprof/profile?seconds=1', "ub$round");
        push @answers, $a;
        return "$a->{status} $a->{reason}";
    });
    ok($freed, "round $round: then B's capture runs") or diag("last: $last");
    $freed //= 0;
    # $freed is when the asking began; it reaches Redis a little later.
    ok($freed > $closed + $SETTLE - 0.3 && $freed < $ends + 0.8,
        sprintf("round %d: %.2f s after the hang-up (the lease ended by %.2f s)",
            $round, $freed - $closed, $ends - $closed));
    sleep 0.05;
}

# A complete response still frees the lease at once: each round's A
# capture was admitted right after B's 200 (checked above); so is this.
is(ask('ga', '/debug/pprof/profile?seconds=1', 'ua-last'), '200 -',
    'after a complete response, the next capture is admitted at once');

# B's refusals were Redis's: its own slot was free.
my $decided = decisions($B);
my @local = grep { ($decided->{$_}{shared} // '') ne 'ok' } @busy_ids;
ok(@busy_ids && !@local, 'every refusal of B was decided on Redis ("shared": "ok")')
    or diag(explain [map { $decided->{$_} } @local]);

is(scalar(grep { $_->{status} == 500 } @answers), 0, 'no 500 reached a client');
for my $name (qw(ga gb)) {
    my @lines = split /\n/, $gw{$name}->settled_file('upstream.log');
    my @bad = grep { my ($client, $target) = split ' '; $client eq '500'
        || $target =~ /\b500\b/ } @lines;
    ok(@lines && !@bad, "$name: the target never answered 500 ("
        . scalar(@lines) . ' requests)') or diag(join "\n", @bad);
}
is(profiles(5), $ROUNDS, 'the target saw each round\'s hung-up capture once');
is(profiles(1), $ROUNDS + 1, 'and each admitted 1 s capture, no refused one');

$_->done_testing_checks for $A, $B;
done_testing;
