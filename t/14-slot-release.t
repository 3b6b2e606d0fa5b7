#!/usr/bin/perl

# A capture's slot protects the target, so it is held exactly while the
# target works on the capture:
# - a client reading one byte per second does not keep it: once the
#   target's response is complete (nginx holds the rest), the next capture
#   of that endpoint is admitted while the slow client still reads;
# - a worker killed with SIGKILL mid-capture runs no cleanup: its slot
#   stays taken until the lease ends (seconds + 15 s) and is free after.

use strict;
use warnings;

use POSIX ();
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF inet_aton pack_sockaddr_in);
use Time::HiRes qw(sleep time);
use Test::More;
use PprofTest;

my $BODY = 4 * 1024 * 1024;      # far more than the socket buffers hold

my $t = PprofTest->new;
$t->start_target;

# The stand-in target works for 2 s on a capture, then sends a big body.
$t->start_stub('stub', sub {
    sleep 2;
    return "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        . "Content-Length: $BODY\r\nConnection: close\r\n\r\n" . ('x' x $BODY);
});

# sndbuf: little of the response waits in the kernel for the slow client.
$t->write_config(<<'CONF');
pprof_role oncall index cmdline symbol snapshot capture;
pprof_bind ~^u oncall;
server {
    listen 127.0.0.1:%%PORT_HTTP%% sndbuf=4k;
    server_name localhost;
    pprof_tls off;
    pprof_identity $http_x_user;
    pprof_rate off;

    location /debug/pprof/ {
        pprof on;
        proxy_set_header X-Worker-Pid $pid;
        proxy_pass http://%%TARGET%%;
    }
    location /stub/debug/pprof/ {
        pprof on;
        pprof_prefix /stub/debug/pprof/;
        proxy_pass http://127.0.0.1:%%PORT_STUB%%/debug/pprof/;
    }
    location = /status { pprof_status; }
}
CONF
$t->run;

sub get_as {
    my ($user, $path) = @_;
    return $t->get('http', $path, tls => 0, headers => { 'X-User' => $user });
}

sub answer {
    my ($r) = @_;
    return "$r->{status} " . ($r->{body} =~ /^pprof-gateway: (\w+)/ ? $1 : '-');
}

sub in_flight {
    my ($n) = $t->get('http', '/status', tls => 0)->{body} =~ /^pprof_captures_in_flight (\d+)$/m;
    return $n;
}

###############################################################################
# The slow reader

# A client with a tiny receive window that reads one byte a second and
# writes how many it has read to slow.read.
my $slow = fork // die "fork: $!";
if ($slow == 0) {
    socket(my $s, PF_INET, SOCK_STREAM, 0) or POSIX::_exit(2);
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 2048) or POSIX::_exit(2);
    connect($s, pack_sockaddr_in($t->port('http'), inet_aton('127.0.0.1')))
        or POSIX::_exit(2);
    syswrite($s, "GET /stub/debug/pprof/trace?seconds=1 HTTP/1.1\r\n"
        . "Host: localhost\r\nX-User: uslow\r\nConnection: close\r\n\r\n");
    my ($n, $byte) = (0, '');
    while (sysread($s, $byte, 1)) {
        $t->write_file('slow.read', ++$n);
        sleep 1;
    }
    POSIX::_exit(0);
}

sleep 0.5;
is(answer(get_as('uother', '/stub/debug/pprof/trace?seconds=1')), '429 capture_busy',
    'while the target works on the capture, its slot is taken');

# The stub answers after 2 s, nginx then reads its whole response at once.
my ($admitted, @answers);
my $deadline = time + 12;
while (time < $deadline) {
    my $a = answer(get_as('uother', '/stub/debug/pprof/trace?seconds=1'));
    push @answers, $a;
    if ($a =~ /^200/) {
        $admitted = time;
        last;
    }
    sleep 0.25;
}
my $read = -e $t->path('slow.read') ? $t->read_file('slow.read') : 0;
ok($admitted, 'once the target is done, the next capture is admitted')
    or diag(scalar(@answers) . " tries, the last answered $answers[-1]");
ok($read > 0 && $read < 100 && waitpid($slow, POSIX::WNOHANG()) == 0,
    "... while the slow client is still reading ($read bytes so far)");
is(in_flight(), 0, 'no capture counted in flight');

kill 'KILL', $slow;
waitpid($slow, 0);
sleep 0.5;
is(in_flight(), 0, 'the slow client leaving frees nothing twice');
is(answer(get_as('uother', '/stub/debug/pprof/trace?seconds=1')), '200 -',
    'and the slot is still free');

###############################################################################
# The killed worker

my $SECONDS = 2;
$t->clear_upstream;

my $victim_req = fork // die "fork: $!";
if ($victim_req == 0) {
    eval { get_as('uvictim', "/debug/pprof/profile?seconds=$SECONDS") };
    POSIX::_exit(0);
}
my $t0 = time;   # the lease is taken after this

# The target logs the request, with the worker's pid, before it profiles.
my $worker;
until ($worker) {
    die "the capture never reached the target\n" if time > $t0 + 5;
    for my $req ($t->upstream_requests) {
        ($worker) = @{ $req->{headers}{'x-worker-pid'} || [] }
            if $req->{path} eq '/debug/pprof/profile';
    }
    sleep 0.05 unless $worker;
}
ok(time < $t0 + $SECONDS, "worker $worker killed mid-capture");
kill 'KILL', $worker;
waitpid($victim_req, 0);

my $lease_end = $t0 + $SECONDS + 15;

sleep 1;
is(answer(get_as('uother', '/debug/pprof/profile?seconds=1')), '429 capture_busy',
    'the dead worker\'s slot is still taken after its capture would have ended');
is(in_flight(), 1, 'and counted in flight');

sleep $lease_end - 1.5 - time;
is(answer(get_as('uother', '/debug/pprof/profile?seconds=1')), '429 capture_busy',
    'still taken just before the lease ends');

sleep $lease_end + 1.5 - time;
is(answer(get_as('uother', '/debug/pprof/profile?seconds=1')), '200 -',
    'free once the lease has ended');
is(in_flight(), 0, 'and no longer counted in flight');

like($t->error_log, qr/\[alert\] \d+#\d+: worker process $worker exited on signal 9/,
    'nginx saw its worker killed');

# That one line, and only that one, is expected.
$t->done_testing_checks(allow => qr/\[alert\] \d+#\d+: worker process $worker exited on signal 9$/);
done_testing;
