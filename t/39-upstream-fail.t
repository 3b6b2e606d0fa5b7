#!/usr/bin/perl

# A capture that nginx answers with its own 502 after the target got the
# request (the connection closed without an answer; a read timeout is the
# same path) may still run at the target: its slot settles, as a hang-up's
# does, and the next capture sent at once is 429 capture_busy, a second
# later forwarded. One that never reached the target (nothing listens)
# gives its slot back at once: the next capture is forwarded.

use strict;
use warnings;

use Time::HiRes qw(sleep);
use Test::More;
use PprofTest;

my $t = PprofTest->new;

# A stand-in target that takes the request and hangs up without a word.
$t->start_stub('gone', sub { sleep 0.1; return '' });

$t->write_config(<<'CONF');
pprof_role oncall index cmdline symbol snapshot capture;
pprof_bind ~^u oncall;
server {
    listen 127.0.0.1:%%PORT_HTTP%%;
    server_name localhost;
    pprof_tls off;
    pprof_identity $http_x_user;
    pprof_rate off;

    location /gone/debug/pprof/ {
        pprof on;
        pprof_prefix /gone/debug/pprof/;
        proxy_pass http://127.0.0.1:%%PORT_GONE%%/debug/pprof/;
    }
    location /closed/debug/pprof/ {
        pprof on;
        pprof_prefix /closed/debug/pprof/;
        proxy_pass http://127.0.0.1:%%PORT_CLOSED%%/debug/pprof/;
    }
}
CONF
$t->run;

sub capture {
    my ($where) = @_;
    return $t->get('http', "/$where/debug/pprof/profile?seconds=5", tls => 0,
                   headers => { 'X-User' => 'u1' });
}

sub reason {
    my ($r) = @_;
    return $r->{body} =~ /^pprof-gateway: (\w+)/ ? $1 : '-';
}

###############################################################################
# The target got the request: nginx's 502 does not say it stopped

my $r = capture('gone');
is($r->{status}, 502, 'a capture the target hung up on: nginx\'s 502');

$r = capture('gone');
is($r->{status}, 429, 'the next one at once: 429');
is(reason($r), 'capture_busy', 'the next one at once: capture_busy');
is($r->{headers}{'retry-after'}, 1, 'the next one at once: Retry-After 1');

sleep 1.5;            # the settle, and a margin for a busy machine
is(capture('gone')->{status}, 502, 'a second later: forwarded');

###############################################################################
# Nothing listens: the capture never reached a target

$r = capture('closed');
is($r->{status}, 502, 'a capture nginx could not connect for: 502');
is(capture('closed')->{status}, 502, 'the next one at once: forwarded');

like($t->error_log, qr/upstream prematurely closed connection/,
     'error.log: the stand-in hung up');
like($t->error_log, qr/Connection refused/, 'error.log: nothing listened');

$t->done_testing_checks;
done_testing;
