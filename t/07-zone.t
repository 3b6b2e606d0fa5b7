#!/usr/bin/perl

# A pprof_zone of the smallest size (8 pages) flooded with 10,000 distinct
# identities: no crash, no alert, every request still decided (eviction
# makes room), and a running capture's slot is never evicted.

use strict;
use warnings;

use POSIX ();
use Time::HiRes qw(sleep);
use Test::More;
use PprofTest;
use PprofGateway qw(make_identities tls_server);

my $t = PprofTest->new;
make_identities($t);
$t->start_target;

$t->write_config(<<'CONF' . tls_server('tls', 'optional', <<'LOC'));
pprof_zone 32k;
pprof_role oncall index cmdline symbol snapshot capture;
pprof_bind ~^u oncall;
CONF
    location /debug/pprof/ {
        pprof on;
        pprof_identity $http_x_user;
        pprof_rate cmdline 60r/m burst=5;
        proxy_pass http://%%TARGET%%;
    }
    location = /status { pprof_status; }
LOC
$t->run;

sub get_as {
    my ($user, $path) = @_;
    return $t->get('tls', $path, headers => { 'X-User' => $user });
}

# A capture that runs through the whole flood.
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my $r = eval { get_as('uholder', '/debug/pprof/profile?seconds=6') };
    POSIX::_exit($r && $r->{status} == 200 ? 0 : 1);
}
sleep 0.5;

my (%status, $n);
for my $batch (0 .. 49) {
    my $req = '';
    for my $i (0 .. 199) {
        my $user = sprintf 'u%05d', $batch * 200 + $i;
        $req .= "GET /debug/pprof/cmdline HTTP/1.1\r\nHost: localhost\r\nX-User: $user\r\n"
            . ($i == 199 ? "Connection: close\r\n" : '') . "\r\n";
    }
    my @r = $t->parse_responses($t->raw('tls', $req, timeout => 30));
    $status{ $_->{status} }++ for @r;
    $n += @r;
}
is($n, 10000, '10,000 requests answered');
is($status{200}, 10000, 'every one allowed: eviction made room')
    or diag(explain \%status);

my $r = get_as('uother', '/debug/pprof/profile?seconds=1');
is($r->{status}, 429, 'the running capture kept its slot through the flood');
like($r->{body}, qr/capture_busy/, 'capture_busy');

$r = $t->get('tls', '/status');
my ($used) = $r->{body} =~ /^pprof_zone_used_bytes (\d+)$/m;
ok(defined $used && $used <= 32 * 1024, "zone usage within its size ($used)");
like($r->{body}, qr/^pprof_captures_in_flight 1$/m, 'one capture in flight');
like($r->{body}, qr/^pprof_requests_total\{class="cmdline",decision="allow",reason="ok"\} 10000$/m,
    'the flood is counted');

waitpid($pid, 0);
is($?, 0, 'the long capture completed');
is(get_as('uother', '/debug/pprof/profile?seconds=1')->{status}, 200,
    'its slot is free once it ended');

$t->done_testing_checks;
done_testing;
