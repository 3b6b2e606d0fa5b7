#!/usr/bin/perl

# pprof_target: capture slots and the budget belong to the Go process a
# request is for, not to the location.
# - A central gateway routes by a header, through a map, to two targets:
#   captures of A and B run side by side, two of A make one capture_busy.
# - Two locations, in two servers, naming one target share its slot; a
#   location without pprof_target keeps its own.
# - Rates stay per location, whatever the target.
# - The budget is per target; locations with windows of different lengths
#   each see every capture their target was granted.
# - A target that is empty, too long, or a client's odd bytes: 403, or its
#   own state, never another target's and never a crash.
# - A proxy's checks (pprof_authz) count in the same per-target slots.
# - A reload while a target's slot is held keeps it held.

use strict;
use warnings;

use POSIX ();
use JSON::PP ();
use Time::HiRes qw(sleep time);
use Test::More;
use PprofTest;

my $t = PprofTest->new;
$t->start_target(name => 'svca');
$t->start_target(name => 'svcb');

my $common = <<'CONF';
        pprof_tls off;
        pprof_identity $http_x_user;
        pprof_rate off;
CONF

$t->write_config(<<"CONF");
pprof_role oncall index cmdline symbol snapshot capture;
pprof_bind ~^u oncall;

map \$http_x_service \$backend {
    a  127.0.0.1:%%PORT_SVCA%%;
    b  127.0.0.1:%%PORT_SVCB%%;
}
map \$http_x_service \$service {
    a  svc-a;
    b  svc-b;
}

server {
    listen 127.0.0.1:%%PORT_HTTP%%;
    server_name localhost;
$common
    # The central gateway: one location, a target per service.
    location /debug/pprof/ {
        pprof on;
        pprof_target \$service;
        proxy_pass http://\$backend;
    }
    location /budget/debug/pprof/ {
        pprof on;
        pprof_prefix /budget/debug/pprof/;
        pprof_target \$service;
        pprof_capture_budget 2s per 1h;
        proxy_pass http://\$backend/debug/pprof/;
    }
    location /short/debug/pprof/ {
        pprof on;
        pprof_prefix /short/debug/pprof/;
        pprof_target \$service;
        pprof_capture_budget 3s per 10m;
        proxy_pass http://\$backend/debug/pprof/;
    }

    # Two ways to one process: one target.
    location /one/debug/pprof/ {
        pprof on;
        pprof_prefix /one/debug/pprof/;
        pprof_target shared-x;
        proxy_pass http://127.0.0.1:%%PORT_SVCA%%/debug/pprof/;
    }
    location /own/debug/pprof/ {
        pprof on;
        pprof_prefix /own/debug/pprof/;
        proxy_pass http://127.0.0.1:%%PORT_SVCA%%/debug/pprof/;
    }

    # One target, two rates.
    location /ra/debug/pprof/ {
        pprof on;
        pprof_prefix /ra/debug/pprof/;
        pprof_target rate-x;
        pprof_rate snapshot 1r/m;
        proxy_pass http://127.0.0.1:%%PORT_SVCA%%/debug/pprof/;
    }
    location /rb/debug/pprof/ {
        pprof on;
        pprof_prefix /rb/debug/pprof/;
        pprof_target rate-x;
        pprof_rate snapshot 1r/m;
        proxy_pass http://127.0.0.1:%%PORT_SVCA%%/debug/pprof/;
    }

    # The target from the client itself: what the docs advise against.
    location /hdr/debug/pprof/ {
        pprof on;
        pprof_prefix /hdr/debug/pprof/;
        pprof_target \$http_x_target;
        proxy_pass http://127.0.0.1:%%PORT_SVCA%%/debug/pprof/;
    }
    # A proxy's checks: the target as the proxy routes, here a header.
    location = /check {
        pprof_authz original;
        pprof_trusted_proxies 127.0.0.1;
        pprof_target \$http_x_target;
    }
    location /dry/debug/pprof/ {
        pprof on;
        pprof_enforce off;
        pprof_prefix /dry/debug/pprof/;
        pprof_target \$http_x_target;
        proxy_pass http://127.0.0.1:%%PORT_SVCA%%/debug/pprof/;
    }
}

server {
    listen 127.0.0.1:%%PORT_OTHER%%;
    server_name other;
$common
    pprof_target shared-x;

    location /two/debug/pprof/ {
        pprof on;
        pprof_prefix /two/debug/pprof/;
        proxy_pass http://127.0.0.1:%%PORT_SVCA%%/debug/pprof/;
    }
}
CONF
$t->run;

sub get_as {
    my ($path, %h) = @_;
    my $port = delete $h{port} // 'http';
    return $t->get($port, $path, tls => 0, headers => { 'X-User' => 'uone', %h });
}

sub answer {
    my ($r) = @_;
    return "$r->{status} " . ($r->{body} =~ /^pprof-gateway: (\w+)/ ? $1 : '-');
}

# A request in a child; returns its pid, the child exits 0 on a 200.
sub in_background {
    my ($path, %h) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $r = eval { get_as($path, %h) };
        POSIX::_exit($r && $r->{status} == 200 ? 0 : 1);
    }
    return $pid;
}

sub finished_ok {
    my ($pid) = @_;
    waitpid($pid, 0);
    return $? == 0;
}

# Paths a target was asked for, in order.
sub asked {
    my ($name) = @_;
    my $path = $t->path("$name.log");
    return () unless -e $path;
    return map { JSON::PP->new->decode($_)->{path} }
        grep { length } split /\n/, $t->read_file($path);
}

sub profiles { scalar grep { $_ eq '/debug/pprof/profile' } asked($_[0]) }

###############################################################################
# One gateway, two targets

my $a1 = in_background('/debug/pprof/profile?seconds=3', 'X-Service' => 'a');
sleep 0.5;
my $b1 = in_background('/debug/pprof/profile?seconds=1', 'X-Service' => 'b');
sleep 0.3;
my $r = get_as('/debug/pprof/profile?seconds=1', 'X-Service' => 'a');
is(answer($r), '429 capture_busy', 'a second capture of A: capture_busy');
ok($r->{headers}{'retry-after'} >= 1 && $r->{headers}{'retry-after'} <= 3,
    'with a Retry-After until A\'s capture ends')
    or diag($r->{headers}{'retry-after'});
ok(finished_ok($b1), 'a capture of B ran while A\'s was running');
ok(finished_ok($a1), 'and A\'s completed');
is(profiles('svca'), 1, 'A received one capture');
is(profiles('svcb'), 1, 'B received one capture');

###############################################################################
# One target, two locations in two servers

my $held = in_background('/one/debug/pprof/heap?seconds=4');
sleep 0.5;
is(answer(get_as('/two/debug/pprof/heap?seconds=1', port => 'other')), '429 capture_busy',
    'another server\'s location naming the same target shares its slot');
is(answer(get_as('/own/debug/pprof/heap?seconds=1')), '200 -',
    'a location without pprof_target keeps its own slot');
is(answer(get_as('/hdr/debug/pprof/heap?seconds=1', 'X-Target' => 'shared-x')),
    '429 capture_busy', 'so does a header naming that target, as documented');
is(answer(get_as('/hdr/debug/pprof/heap?seconds=1', 'X-Target' => 'localhost /own/debug/pprof/')),
    '200 -', 'a header cannot name a location\'s own state');
ok(finished_ok($held), 'the shared capture completed');
is(answer(get_as('/two/debug/pprof/heap?seconds=1', port => 'other')), '200 -',
    'then the shared slot is free');

###############################################################################
# Rates stay per location

is(answer(get_as('/ra/debug/pprof/goroutine')), '200 -', 'a snapshot through one location');
is(answer(get_as('/ra/debug/pprof/goroutine')), '429 rate_limited', 'its rate is spent there');
is(answer(get_as('/rb/debug/pprof/goroutine')), '200 -',
    'another location of the same target has its own rate');

###############################################################################
# The budget is the target's

is(answer(get_as('/budget/debug/pprof/heap?seconds=2', 'X-Service' => 'a')), '200 -',
    'A: 2 s of its 2 s per hour');
$r = get_as('/budget/debug/pprof/heap?seconds=1', 'X-Service' => 'a');
is(answer($r), '429 budget_exhausted', 'A: its budget is spent');
ok($r->{headers}{'retry-after'} > 3500, 'until its seconds leave the hour');
is(answer(get_as('/budget/debug/pprof/heap?seconds=1', 'X-Service' => 'b')), '200 -',
    'B: its own budget is untouched');

# The 10 minutes' location sees A's 2 s from the hour's: 1 s of 3 is left.
is(answer(get_as('/short/debug/pprof/heap?seconds=2', 'X-Service' => 'a')),
    '429 budget_exhausted', 'a shorter window of A counts the captures granted in the longer');
is(answer(get_as('/short/debug/pprof/heap?seconds=1', 'X-Service' => 'a')), '200 -',
    'and grants what is left of it');
is(answer(get_as('/short/debug/pprof/heap?seconds=1', 'X-Service' => 'b')), '200 -',
    'B: 1 s of its 3 s per 10 minutes');
is(answer(get_as('/budget/debug/pprof/heap?seconds=1', 'X-Service' => 'b')),
    '429 budget_exhausted', 'and the hour counts the second granted in the 10 minutes');

###############################################################################
# Targets that name no process, and a client's odd bytes

$r = get_as('/hdr/debug/pprof/cmdline');
is(answer($r), '403 forbidden', 'an empty target: forbidden');
like($r->{body}, qr/pprof_target is empty/, 'the body says why');
like($t->error_log, qr/pprof: forbidden: this location's pprof_target is empty, audit id/,
    'and so does error.log');

is(answer(get_as('/hdr/debug/pprof/cmdline', 'X-Target' => 'x' x 255)), '200 -',
    'a 255-byte target is a name');
for my $len (256, 4000) {
    $r = get_as('/hdr/debug/pprof/profile?seconds=1', 'X-Target' => 'y' x $len);
    is(answer($r), '403 forbidden', "a $len-byte target: forbidden");
    like($r->{body}, qr/longer than 255 bytes/, '... and the body says why');
}

# Each odd name is one target of its own: its second capture is refused,
# and no other name, however alike, is.
my @odd = ('{svc-a}', 'svc-a%00', 'svc-a}{', '%7Bsvc-a%7D', 'svc\\a', "svc-\xc3\xa9\xff",
    'svc-a"; x', 'svc,a', 'svc-a' . ('{' x 250));
my @pids = map { in_background('/hdr/debug/pprof/heap?seconds=4', 'X-Target' => $_) } @odd;
sleep 1;
my @second = map { answer(get_as('/hdr/debug/pprof/heap?seconds=1', 'X-Target' => $_)) } @odd;
is_deeply(\@second, [('429 capture_busy') x @odd], 'each odd name holds its own slot')
    or diag(explain \@second);
is(answer(get_as('/hdr/debug/pprof/heap?seconds=1', 'X-Target' => 'svc-a')), '200 -',
    'and the plain name is another target');
ok(!grep({ !finished_ok($_) } @pids), 'every odd name\'s capture completed');

# nginx refuses a control byte in a header itself, and trims blanks: a
# blank-padded name is the plain one.
for my $bad ("svc\x01a", "svc\x7fa") {
    is(get_as('/hdr/debug/pprof/cmdline', 'X-Target' => $bad)->{status}, 400,
        sprintf('a name with byte %02x: nginx answers 400 itself', ord substr($bad, 3, 1)));
}
$held = in_background('/hdr/debug/pprof/heap?seconds=2', 'X-Target' => 'svc-a');
sleep 0.5;
is(answer(get_as('/hdr/debug/pprof/heap?seconds=1', 'X-Target' => ' svc-a ')),
    '429 capture_busy', 'a blank-padded name reaches nginx as the plain one');
ok(finished_ok($held), 'the plain name\'s capture completed');

# The dry run forwards, and says what enforcing would do.
is(answer(get_as('/dry/debug/pprof/cmdline')), '200 -', 'dry run: an empty target is forwarded');
like($t->error_log, qr/pprof: dry run, would deny: forbidden: this location's pprof_target is empty/,
    'with what enforcing would do');

###############################################################################
# Checks from a proxy: the same targets, their slots held as leases

sub check {
    my ($target, $path) = @_;
    my $r = get_as('/check', 'X-Original-Method' => 'GET', 'X-Original-URI' => $path,
                   defined $target ? ('X-Target' => $target) : ());
    return "$r->{status} " . ($r->{headers}{'x-pprof-reason'} // '-');
}

is(check('svc-c', '/debug/pprof/profile?seconds=1'), '200 -', 'check: a capture of C may pass');
is(check('svc-c', '/debug/pprof/profile?seconds=1'), '403 capture_busy',
    'check: a second of C is busy (its lease held)');
is(check('svc-d', '/debug/pprof/profile?seconds=1'), '200 -', 'check: D has its own slot');
is(check(undef, '/debug/pprof/cmdline'), '403 forbidden', 'check: an empty target is forbidden');
is(check('z' x 256, '/debug/pprof/cmdline'), '403 forbidden', 'check: a 256-byte target too');

###############################################################################
# A reload while a target's slot is held

$a1 = in_background('/debug/pprof/profile?seconds=5', 'X-Service' => 'a');
sleep 0.5;
$t->reload;
is(answer(get_as('/debug/pprof/profile?seconds=1', 'X-Service' => 'a')), '429 capture_busy',
    'after a reload, A\'s running capture still holds its slot');
is(answer(get_as('/debug/pprof/profile?seconds=1', 'X-Service' => 'b')), '200 -',
    'and B\'s is free');
ok(finished_ok($a1), 'the capture running during the reload completed');
is(answer(get_as('/debug/pprof/profile?seconds=1', 'X-Service' => 'a')), '200 -',
    'then A\'s slot is free');

$t->done_testing_checks;
done_testing;
