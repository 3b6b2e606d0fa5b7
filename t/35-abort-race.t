#!/usr/bin/perl

# A client that hangs up mid-capture ends its request at once, but the
# target goes on profiling until it notices the closed connection: the
# capture's slot settles before another capture may reach the target.
#
# 50 rounds of "start a 5 s profile, hang up after 0.5 s, send a 1 s profile
# at once", against a gateway of 1 worker and one of 2 (side by side, each
# with its own target):
# - no client ever gets a 500;
# - the profile sent at once is 429 capture_busy: Retry-After 1 while the
#   slot settles, the seconds left of the 5 s profile from a worker that
#   took it before the hang-up was seen (or 200, had it come after the
#   settle);
# - at the target (its served log), no two CPU profiles overlap, none was
#   answered 500, and none started within a second of a hang-up: the
#   settle, on the target's clock, whatever the machine's load did to the
#   client's.
# prove -v shows how long the target took to stop after each hang-up.

use strict;
use warnings;

use Errno qw(EAGAIN EINTR ECONNRESET);
use IO::Select;
use IO::Socket::SSL;
use JSON::PP ();
use List::Util qw(max min);
use POSIX ();
use Time::HiRes qw(sleep time);
use Test::More;
use PprofTest;
use PprofGateway qw(roles_conf tls_server);

my $ROUNDS = 50;
my $SETTLE = 1.0;            # PPROF_CAPTURE_SETTLE, s

# A gateway of $workers workers in front of its own target.  $pid tells
# which worker took a request: to the target in a header, to the client
# in another.
sub gateway {
    my ($workers) = @_;
    my $t = PprofTest->new(workers => $workers);
    $t->pki;
    $t->client_cert('oncall', san => 'URI:spiffe://prod.example/ns/sre/alice');
    $t->start_target;
    $t->write_config(roles_conf() . tls_server('tls', 'on', <<'CONF'));
    location /debug/pprof/ {
        pprof on;
        pprof_rate off;
        proxy_set_header X-Worker-Pid $pid;
        add_header X-Worker-Pid $pid always;
        proxy_pass http://%%TARGET%%;
    }
CONF
    $t->run;
    return $t;
}

sub connect_tls {
    my ($t) = @_;
    my $s = IO::Socket::SSL->new(
        PeerAddr => '127.0.0.1', PeerPort => $t->port('tls'), Timeout => 10,
        SSL_verify_mode => SSL_VERIFY_PEER, SSL_ca_file => $t->path('ca.crt'),
        SSL_hostname => 'localhost',
        SSL_cert_file => $t->path('oncall.crt'),
        SSL_key_file => $t->path('oncall.key'),
    ) or die "TLS connect: $SSL_ERROR\n";
    binmode $s;
    $s->blocking(0);
    return $s;
}

sub ask_profile {
    my ($s, $seconds) = @_;
    my $req = "GET /debug/pprof/profile?seconds=$seconds HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\n\r\n";
    # Short enough for one TLS record: written whole even non-blocking.
    syswrite($s, $req) == length $req or die "write: $!\n";
}

# The answer on $s as "status reason retry-after worker", once the server
# has closed; undef when none began within $wait seconds.
sub answer {
    my ($t, $s, $wait) = @_;
    my ($data, $select) = ('', IO::Select->new($s));
    my $deadline = time + $wait;
    while (1) {
        my $left = $deadline - time;
        # Decrypted data may wait in the TLS layer, unseen by select().
        if (!$s->pending && !$select->can_read($left > 0 ? $left : 0)) {
            return undef if $data eq '';
            die "answer: cut short after " . length($data) . " bytes\n";
        }
        my $n = sysread($s, $data, 65536, length $data);
        if (!defined $n) {
            next if $! == EAGAIN || $! == EINTR;
            last if $! == ECONNRESET;
            die "read: $!\n";
        }
        last if $n == 0;
        $deadline = time + 10;     # once it began, the whole answer
    }
    my ($r) = $t->parse_responses($data);
    return join ' ', $r->{status},
        ($r->{body} =~ /^pprof-gateway: (\w+)/ ? $1 : '-'),
        $r->{headers}{'retry-after'} // '-', $r->{headers}{'x-worker-pid'} // '-';
}

# 5 s profiles the target has been sent.
sub fives {
    my ($t) = @_;
    return scalar grep { $_->{raw_query} eq 'seconds=5' } $t->upstream_requests;
}

# One round.  The slot may still settle from the round before: the 5 s
# profile itself polls until admitted, which it is once the target has it
# (it logs a request before serving it) and no answer came; its client
# hangs up 0.5 s after sending it, or once the target has it if later.
sub round {
    my ($t) = @_;
    my %r = (busy => []);
    my $next = connect_tls($t);     # ready, so that "at once" is at once
    my $s;
    while (1) {
        my $before = fives($t);
        $s = connect_tls($t);
        $r{sent} = time;
        ask_profile($s, 5);
        my $a = answer($t, $s, 0.5);
        while (!defined $a && fives($t) == $before) {
            die "the 5 s profile neither answered nor at the target\n"
                if time > $r{sent} + 10;
            $a = answer($t, $s, 0.05);
        }
        last unless defined $a;
        push @{ $r{busy} }, $a;
        close $s;
        die "the 5 s profile never admitted: @{ $r{busy} }\n" if @{ $r{busy} } > 60;
        sleep 0.05;
    }
    $r{hangup} = time;
    close $s;
    $r{next_sent} = time;
    ask_profile($next, 1);
    $r{next} = answer($t, $next, 10) // die "no answer to the 1 s profile\n";
    close $next;
    return \%r;
}

sub rounds {
    my ($t) = @_;
    return [map { round($t) } 1 .. $ROUNDS];
}

sub median {
    my @v = sort { $a <=> $b } @_;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

sub check {
    my ($t, $workers, $rounds) = @_;
    my $name = $workers == 1 ? '1 worker' : "$workers workers";

    my @answers = map { (@{ $_->{busy} }, $_->{next}) } @$rounds;
    is(scalar(grep { /^500 / } @answers), 0, "$name: no client got a 500")
        or diag(explain [grep { /^500 / } @answers]);
    my @odd = grep { !/^429 capture_busy \d+ / } map { @{ $_->{busy} } } @$rounds;
    is(scalar @odd, 0, "$name: a 5 s profile is 429 capture_busy until admitted")
        or diag(explain \@odd);

    # At the target, once it has served all it was sent.
    my $sent = grep { $_->{path} eq '/debug/pprof/profile' } $t->upstream_requests;
    my $deadline = time + 10;
    sleep 0.05 while time < $deadline
        && $sent > grep { $_->{path} eq '/debug/pprof/profile' } $t->served;
    my @profiles = sort { $a->{start_ns} <=> $b->{start_ns} }
        grep { $_->{path} eq '/debug/pprof/profile' } $t->served;
    my @five = grep { $_->{raw_query} eq 'seconds=5' } @profiles;
    my @one = grep { $_->{raw_query} eq 'seconds=1' } @profiles;

    # The next profile: refused while the slot settles (Retry-After 1), or
    # by a worker that took it before the hang-up was seen (the seconds
    # left of the 5 s profile); a 200 only once settled, which the
    # target's clock tells below (a loaded machine may delay the request
    # past the settle, however soon it was sent).
    my ($busy, $settling, $late, @bad) = (0, 0, 0);
    for my $i (0 .. $#$rounds) {
        my $r = $rounds->[$i];
        if ($r->{next} =~ /^429 capture_busy ([1-5]) /) {
            $busy++;
            $settling += $1 == 1;
        } elsif ($r->{next} =~ /^200 /) {
            $late++;
        } else {
            push @bad, sprintf "round %d, %.3f s after the hang-up: %s", $i,
                $r->{next_sent} - $r->{hangup}, $r->{next};
        }
    }
    is(scalar @bad, 0, "$name: the profile sent at once is 429 capture_busy, with Retry-After")
        or diag(explain \@bad);
    note("$name: at once, $busy of $ROUNDS were 429 ($settling while the slot settled), "
        . "$late were 200 after the settle");

    my @refused = grep { $_->{status} == 500 } @profiles;
    is(scalar @refused, 0, "$name: the target never answered a profile 500")
        or diag(explain \@refused);
    my @overlaps = grep { $profiles[$_ - 1]{end_ns} > $profiles[$_]{start_ns} } 1 .. $#profiles;
    is(scalar @overlaps, 0, "$name: no two profiles overlapped at the target")
        or diag(explain [map { [@profiles[$_ - 1, $_]] } @overlaps]);

    is(scalar @five, $ROUNDS, "$name: each 5 s profile reached the target once");
    is(scalar @one, scalar(grep { $_->{next} !~ /^429 / } @$rounds),
        "$name: of the profiles sent at once, only those admitted reached it");
    return unless @five == $ROUNDS;

    # The settle: whatever came next (the 1 s profile, or the next round's
    # 5 s one) reached the target a second after the hang-up at least.
    # The slot settles from when its worker saw the hang-up, which is
    # after it; 10 ms spare nginx's millisecond clock.
    my @early;
    for my $i (0 .. $ROUNDS - 1) {
        my ($r, $p) = ($rounds->[$i], $five[$i]);
        my ($after) = grep { $_->{start_ns} > $p->{start_ns} } @profiles;
        my $gap = $after ? $after->{start_ns} / 1e9 - $r->{hangup} : $SETTLE;
        push @early, sprintf("round %d: %s reached it %.3f s after the hang-up",
            $i, $after->{raw_query}, $gap) if $gap < $SETTLE - 0.01;
    }
    is(scalar @early, 0, "$name: after each hang-up, no profile reached the "
        . "target within the settle") or diag(explain \@early);

    # How long the target took to stop after the hang-up, and how long
    # after that the next capture reached it.
    my (@stop, @gap, $crossed);
    for my $i (0 .. $ROUNDS - 1) {
        my ($r, $p) = ($rounds->[$i], $five[$i]);
        push @stop, $p->{end_ns} / 1e9 - $r->{hangup};
        my ($after) = grep { $_->{start_ns} > $p->{start_ns} } @profiles;
        push @gap, ($after->{start_ns} - $p->{end_ns}) / 1e9 if $after;
    }
    my @workers = map { $_->{headers}{'x-worker-pid'}[0] }
        grep { $_->{path} eq '/debug/pprof/profile' && $_->{raw_query} eq 'seconds=5' }
        $t->upstream_requests;
    $crossed = grep { $workers[$_] ne (split / /, $rounds->[$_]{next})[3] } 0 .. $ROUNDS - 1;
    if ($workers > 1) {
        ok($crossed, "$name: $crossed rounds had their two profiles in two workers");
    }
    note(sprintf "%s: the target stopped %.3f/%.3f/%.3f s (min/median/max) "
        . "after the hang-up; the next profile reached it %.3f s after, at least",
        $name, min(@stop), median(@stop), max(@stop), min(@gap));
}

my @gw = (gateway(1), gateway(2));

# The two gateways run side by side, the second in a child.
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my $rounds = eval { rounds($gw[1]) } // { error => $@ };
    $gw[1]->write_file('rounds.json', JSON::PP::encode_json($rounds));
    POSIX::_exit(0);                # no END blocks: the parent owns nginx
}
my $one = eval { rounds($gw[0]) } // { error => $@ };
waitpid($pid, 0);
my $two = JSON::PP::decode_json($gw[1]->read_file('rounds.json'));

for ([$gw[0], 1, $one], [$gw[1], 2, $two]) {
    my ($t, $workers, $rounds) = @$_;
    if (ref $rounds ne 'ARRAY') {
        fail("$workers worker(s): the rounds ran");
        diag($rounds->{error});
        next;
    }
    check($t, $workers, $rounds);
}

$_->done_testing_checks for @gw;
done_testing;
