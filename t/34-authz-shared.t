#!/usr/bin/perl

# pprof_authz with pprof_shared_state: a fleet of authorization gateways
# admits a capture through Redis, as proxying gateways do, so that a
# target's slot is one for the whole fleet.  No response ends a check's
# capture: its lease is held in Redis until it expires.

use strict;
use warnings;

use JSON::PP;
use Test::More;
use PprofTest;
use PprofRedis qw(start_redis fleet_gateway);

my $t = PprofTest->new;
my $redis = start_redis($t);

sub authz_gateway {
    my ($name, $port) = @_;
    return fleet_gateway($t, $name, <<"CONF");
pprof_role oncall index cmdline symbol snapshot capture;
pprof_bind ~^u oncall;
pprof_shared_state redis://127.0.0.1:%%PORT_REDIS%% timeout=1s prefix=az:;
pprof_gateway_id $name;
pprof_audit_log audit.jsonl;
server {
    listen 127.0.0.1:%%PORT_$port%%;
    server_name localhost;
    location /pprof-authz/ {
        pprof_authz original;
        pprof_trusted_proxies 127.0.0.1;
        pprof_tls off;
        pprof_identity \$http_x_user;
        pprof_rate off;
        pprof_target svc-a;
    }
}
CONF
}

my @gw = (authz_gateway('az1', 'A1'), authz_gateway('az2', 'A2'));

sub check {
    my ($i, $uri) = @_;
    return $gw[$i]->get($i ? 'a2' : 'a1', '/pprof-authz/', tls => 0,
        headers => { 'X-Original-URI' => $uri, 'X-Original-Method' => 'GET',
                     'X-User' => 'u1' });
}

my $r = check(0, '/debug/pprof/profile?seconds=3');
is($r->{status}, 200, 'the first gateway allows the capture');

my ($slots) = grep { /slots:profile/ } $redis->keys('az:*');
ok($slots, 'its lease is in Redis');

$r = check(1, '/debug/pprof/profile?seconds=3');
is($r->{status}, 403, 'the second gateway refuses the same capture');
is($r->{headers}{'x-pprof-status'}, 429, '... X-Pprof-Status 429');
is($r->{headers}{'x-pprof-reason'}, 'capture_busy', '... capture_busy');
like($r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, '... with Retry-After');

is(check(1, '/debug/pprof/cmdline')->{status}, 200,
    'the second gateway allows what is not a capture');

# The check's answer ends nothing: the lease stays to its expiry.
sleep 1;
cmp_ok($redis->cli('PTTL', $slots), '>', 1000,
    'the lease is held after the check was answered');
is(check(0, '/debug/pprof/profile?seconds=3')->{status}, 403,
    'the first gateway too finds the capture busy');

# The first check of each gateway was decided on Redis (az1's second one
# on its own slot, held too, before Redis was asked).
for my $i (0, 1) {
    $gw[$i]->stop;
    my ($first) = grep { ($_->{endpoint} // '') eq 'profile' }
        map { decode_json($_) } grep { /"decision"/ }
        split /\n/, $gw[$i]->read_file('audit.jsonl');
    is($first && $first->{shared}, 'ok',
        'az' . ($i + 1) . ': the capture\'s check is audited "shared":"ok"');
}

done_testing;
