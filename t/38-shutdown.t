#!/usr/bin/perl

# A reload while a response streams through: the old worker waits for it,
# the client gets all of it, and no "open socket ... left in connection"
# alert is logged.
#
# nginx before 1.23.1 (Debian 12 ships 1.22) drops the upstream's read
# timer when the first read of the response filled proxy_buffer_size and
# nothing more had arrived yet: the read event stays "ready", so
# ngx_event_pipe() deletes the timer while it waits for the rest.  An old
# worker whose requests were all in that state had no timer left, exited
# at once, cut the response and logged the alert.  The upstream here sends
# exactly one proxy_buffer_size of response, pauses, and sends the rest; a
# reload comes during the pause.  On a newer nginx the state never arises,
# and the test shows that the module keeps nothing open either.

use strict;
use warnings;

use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);
use Test::More;
use PprofTest;
use PprofGateway qw(roles_conf make_identities tls_server);

my $PAUSE = 4;                       # seconds between the two parts
my $HEAD_PART = 4096;                # proxy_buffer_size below

my $t = PprofTest->new;
make_identities($t);

# One line of goroutine text, repeated: what the client must get whole.
my $body = join '', map { sprintf "goroutine %05d [running]:\n", $_ } 1 .. 600;

my $head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
    . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n";
my $first = $HEAD_PART - length $head;

# The upstream: exactly $HEAD_PART bytes, a pause, then the rest.  It
# writes "asked" when a request came, and "sent" once all of it went.
my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
    LocalPort => $t->port('slow'), Listen => 8, ReuseAddr => 1)
    or die "listen: $!\n";
my $stub = fork // die "fork: $!";
if ($stub == 0) {
    $SIG{PIPE} = 'IGNORE';
    $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP);
    while (my $c = $listen->accept) {
        my $req = '';
        while ($req !~ /\r\n\r\n/) {
            last unless sysread($c, $req, 4096, length $req);
        }
        $t->write_file('asked', $req);
        syswrite($c, $head . substr($body, 0, $first));
        sleep $PAUSE;
        syswrite($c, substr($body, $first));
        $t->write_file('sent', time);
        close $c;
    }
    POSIX::_exit(0);
}
close $listen;

$t->write_config(roles_conf() . tls_server('tls', 'optional', <<'CONF'));
    location /debug/pprof/ {
        pprof on;
        pprof_rate off;
        proxy_buffer_size 4k;
        proxy_pass http://127.0.0.1:%%PORT_SLOW%%/debug/pprof/;
    }
CONF
$t->run;

# The request, from a child: its answer is written to a file.
sub spawn_get {
    my ($name, $path) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $r = eval { $t->get('tls', $path, cert => 'oncall', timeout => 20) };
        $t->write_file($name, $r ? "$r->{status}\n$r->{body}" : "error: $@");
        POSIX::_exit(0);
    }
    return $pid;
}

sub wait_for_file {
    my ($name, $secs) = @_;
    my $deadline = time + $secs;
    sleep 0.05 until -e $t->path($name) || time > $deadline;
    return -e $t->path($name);
}

# Old workers: the pids that logged "gracefully shutting down" since $from.
sub leaving {
    my ($from) = @_;
    my $log = substr $t->error_log, $from;
    return $log =~ /\[notice\] (\d+)#\d+: gracefully shutting down/g;
}

# Passed through as it comes, and held whole by the redaction filter until
# the last byte (one argument, argv[0]: nothing to hide).
my @paths = ('/debug/pprof/goroutine?debug=1', '/debug/pprof/cmdline');

for my $round (1 .. @paths) {
    unlink map { $t->path($_) } qw(asked sent answer);

    my $client = spawn_get('answer', $paths[$round - 1]);
    ok(wait_for_file('asked', 10), "round $round: the upstream was asked");

    # The first part is with nginx, the rest is $PAUSE seconds away.
    sleep 0.5;
    my $from = length $t->error_log;
    $t->reload;
    my @old = leaving($from);
    is(scalar @old, 2, "round $round: both old workers shut down");

    # The idle one goes at once; the other stays while the rest of the
    # response is still on its way.
    my $idle = time + $PAUSE - 1.5;
    sleep 0.05 while grep({ kill 0, $_ } @old) > 1 && time < $idle;
    is(scalar(grep { kill 0, $_ } @old), 1,
        "round $round: the worker with the response in flight waits for it");
    ok(!-e $t->path('sent'), "round $round: ... before the rest was sent");

    waitpid($client, 0);
    my $answer = $t->read_file('answer');
    my ($status, $got) = split /\n/, $answer, 2;
    is($status, 200, "round $round: the streaming response is answered")
        or diag($answer);
    ok(defined $got && $got eq $body,
        "round $round: whole, all " . length($body) . " bytes")
        or diag('got ' . length($got // '') . ' bytes');

    # Gone once the response went: nothing holds them longer.
    my $deadline = time + $PAUSE + 5;
    sleep 0.05 while grep({ kill 0, $_ } @old) && time < $deadline;
    ok(!grep({ kill 0, $_ } @old),
        "round $round: the old workers exited after the response");

    unlike($t->error_log, qr/open socket #\d+ left in connection/,
        "round $round: no socket left open at the old worker's exit");
}

# A reload with nothing in flight: the old workers go at once.
{
    my $from = length $t->error_log;
    my $reloaded = time;
    $t->reload;
    my @old = leaving($from);
    my $deadline = time + 5;
    sleep 0.05 while grep({ kill 0, $_ } @old) && time < $deadline;
    ok(!grep({ kill 0, $_ } @old) && time - $reloaded < 3,
        'an idle old worker exits within the guard\'s second');
}

kill 'TERM', $stub;
waitpid($stub, 0);

$t->done_testing_checks;
done_testing;
