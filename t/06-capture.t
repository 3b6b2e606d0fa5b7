#!/usr/bin/perl

# SPEC §7 with real nginx (2 workers) and the Go target: rates per identity
# and class, one capture at a time per endpoint across workers, profile and
# trace side by side, slots freed by hang-ups and kept across reloads, the
# budget, and pprof_status counting all of it.

use strict;
use warnings;

use IO::Socket::SSL;
use POSIX ();
use Time::HiRes qw(sleep time);
use Test::More;
use PprofTest;
use PprofGateway qw(roles_conf make_identities tls_server);

my $t = PprofTest->new;
make_identities($t);
$t->start_target;

my $up = 'proxy_pass http://%%TARGET%%/debug/pprof/;';
$t->write_config(roles_conf() . tls_server('tls', 'optional', <<"CONF"));
    location /debug/pprof/ {
        pprof on;
        pprof_rate capture off;
        pprof_rate snapshot 6r/m burst=2;
        $up
    }
    location /two/debug/pprof/ {
        pprof on;
        pprof_prefix /two/debug/pprof/;
        pprof_rate off;
        pprof_capture_concurrency 2;
        $up
    }
    location /budget/debug/pprof/ {
        pprof on;
        pprof_prefix /budget/debug/pprof/;
        pprof_rate off;
        pprof_capture_concurrency 4;
        pprof_capture_budget 3s per 1h;
        $up
    }
    location = /status {
        pprof_status;
    }
CONF
$t->run;

my %expect;          # what pprof_status must report, by series

sub req {
    my ($path, %opts) = @_;
    return $t->get('tls', $path, cert => 'oncall', %opts);
}

# Runs requests in parallel child processes; returns their results in order.
sub parallel {
    my (@paths) = @_;
    my @pids;
    for my $i (0 .. $#paths) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my $r = eval { req($paths[$i]) };
            my $line = $r ? join(' ', $r->{status}, $r->{headers}{'retry-after'} // '-',
                ($r->{body} =~ /^pprof-gateway: (\w+)/ ? $1 : '-')) : "error $@";
            $t->write_file("parallel.$i", $line);
            POSIX::_exit(0);        # no END blocks: the parent owns nginx
        }
        push @pids, $pid;
    }
    waitpid($_, 0) for @pids;
    return map { [split / /, $t->read_file("parallel.$_")] } 0 .. $#paths;
}

sub profiles_upstream {
    my ($endpoint) = @_;
    return scalar grep { $_->{path} eq "/debug/pprof/$endpoint" } $t->upstream_requests;
}

# --- stage 7: rate per identity and class -------------------------------------

is(req('/debug/pprof/heap')->{status}, 200, "heap $_ within rate and burst") for 1 .. 3;
my $r = req('/debug/pprof/heap');
is($r->{status}, 429, 'fourth heap at once: 429');
like($r->{body}, qr/^pprof-gateway: rate_limited: /, 'rate_limited');
ok($r->{headers}{'retry-after'} >= 9 && $r->{headers}{'retry-after'} <= 10,
    'Retry-After: the seconds until one request drains at 6r/m')
    or diag($r->{headers}{'retry-after'});
$expect{'capture|deny|rate_limited'} = 0;     # the capture rate is off here
$expect{'snapshot|deny|rate_limited'}++;
is($t->get('tls', '/debug/pprof/heap', cert => 'dns')->{status}, 200,
    'another identity has its own bucket');
is(req('/debug/pprof/cmdline')->{status}, 200, 'another class has its own bucket');

# --- stage 8: one capture of an endpoint at a time, across workers ----------

$t->clear_upstream;
my @res = parallel(map { '/debug/pprof/profile?seconds=2' } 1 .. 6);
my @ok = grep { $_->[0] == 200 } @res;
my @busy = grep { $_->[0] == 429 && $_->[2] eq 'capture_busy' } @res;
is(scalar @ok, 1, 'six parallel profiles: exactly one runs');
is(scalar @busy, 5, 'the other five: 429 capture_busy') or diag(explain \@res);
ok(!(grep { $_->[1] ne '-' && ($_->[1] < 1 || $_->[1] > 2) } @busy),
    'Retry-After: the seconds until the running capture ends')
    or diag(explain \@res);
is(profiles_upstream('profile'), 1, 'the target saw one profile, and no 500');
ok(!(grep { $_->[0] == 500 } @res), 'no second profile reached Go');
$expect{'capture|deny|capture_busy'} += 5;

$t->clear_upstream;
@res = parallel('/debug/pprof/profile?seconds=1', '/debug/pprof/trace?seconds=1');
is_deeply([map { $_->[0] } @res], [200, 200], 'a profile and a trace side by side');

# Delta heap profiles, which Go runs side by side (a second CPU profile it
# would refuse at once, freeing its slot early).
$t->clear_upstream;
@res = parallel(map { '/two/debug/pprof/heap?seconds=2' } 1 .. 4);
is(scalar(grep { $_->[0] == 200 } @res), 2, 'concurrency 2: two run');
is(scalar(grep { $_->[0] == 429 } @res), 2, 'concurrency 2: two wait');
is(profiles_upstream('heap'), 2, 'concurrency 2: the target saw two');
$expect{'capture|deny|capture_busy'} += 2;

# --- slots end with their requests -------------------------------------------

{
    my $sock = IO::Socket::SSL->new(
        PeerAddr => '127.0.0.1', PeerPort => $t->port('tls'),
        SSL_verify_mode => SSL_VERIFY_PEER, SSL_ca_file => $t->path('ca.crt'),
        SSL_hostname => 'localhost',
        SSL_cert_file => $t->path('oncall.crt'), SSL_key_file => $t->path('oncall.key'),
    ) or die "connect: $SSL_ERROR";
    print $sock "GET /debug/pprof/profile?seconds=10 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    sleep 0.5;
    is(req('/debug/pprof/profile?seconds=1')->{status}, 429, 'a running capture holds its slot');
    $expect{'capture|deny|capture_busy'}++;
    close $sock;                     # the client hangs up mid-capture
}
# The target stops only once it notices the closed connection: the slot
# settles for a second before the next capture may reach it.
sleep 0.3;
$r = req('/debug/pprof/profile?seconds=1');
is($r->{status}, 429, 'a client that hangs up: the slot settles first');
is($r->{headers}{'retry-after'}, '1', 'settling: Retry-After 1');
$expect{'capture|deny|capture_busy'}++;
sleep 1;
is(req('/debug/pprof/profile?seconds=1')->{status}, 200,
    'a client that hangs up frees the slot a second later');

my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my $r = eval { req('/debug/pprof/profile?seconds=3') };
    POSIX::_exit($r && $r->{status} == 200 ? 0 : 1);
}
sleep 0.5;
$t->reload;
$r = req('/debug/pprof/profile?seconds=1');
is($r->{status}, 429, 'after a reload the running capture still holds its slot');
like($r->{body}, qr/capture_busy/, 'capture_busy across the reload');
$expect{'capture|deny|capture_busy'}++;
waitpid($pid, 0);
is($?, 0, 'the capture running during the reload completed');

# --- stage 9: the budget ------------------------------------------------------

is(req('/budget/debug/pprof/profile?seconds=2')->{status}, 200, 'budget: 2 of 3 seconds');
$r = req('/budget/debug/pprof/profile?seconds=2');
is($r->{status}, 429, 'budget: 2 more would exceed 3s per hour');
like($r->{body}, qr/budget_exhausted/, 'budget_exhausted');
ok($r->{headers}{'retry-after'} > 3500 && $r->{headers}{'retry-after'} <= 3600,
    'Retry-After: until the granted seconds leave the hour')
    or diag($r->{headers}{'retry-after'});
$expect{'capture|deny|budget_exhausted'}++;
is(req('/budget/debug/pprof/profile?seconds=1')->{status}, 200, 'budget: the last second');
$r = req('/budget/debug/pprof/profile?seconds=5');
is($r->{status}, 429, 'budget: longer than the whole budget');
$expect{'capture|deny|budget_exhausted'}++;

# --- pprof_status --------------------------------------------------------------

$r = $t->get('tls', '/status');
is($r->{status}, 200, 'pprof_status: 200');
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'Prometheus content type');
my (%series, @bad);
for my $line (split /\n/, $r->{body}) {
    next if $line =~ /^# (?:HELP|TYPE) pprof_\w+ /;
    if ($line =~ /^(pprof_\w+)(?:\{class="(\w*)",decision="(allow|deny)",reason="(\w+)"\})? (\d+(?:\.\d+)?)$/) {
        $series{defined $2 ? "$2|$3|$4" : $1} = $5;
    } else {
        push @bad, $line;
    }
}
ok(!@bad, 'every line is Prometheus text') or diag(explain \@bad);
for my $k (sort keys %expect) {
    is($series{$k} // 0, $expect{$k}, "pprof_requests_total $k");
}
is($series{pprof_captures_in_flight}, 0, 'no capture in flight at the end');
ok($series{pprof_capture_seconds_total} >= 2 + 1 + 1 + 2 + 3 + 1 + 2 + 1,
    'capture seconds granted are counted');
ok($series{pprof_zone_used_bytes} > 0, 'zone usage reported');
ok($series{'snapshot|allow|ok'} >= 4, 'allowed snapshots counted');

$t->done_testing_checks;
done_testing;
