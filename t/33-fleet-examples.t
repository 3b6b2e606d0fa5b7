#!/usr/bin/perl

# The three deployments of docs/fleet.md run as their example files
# print them, with only the strings each file's header lists replaced
# (paths, ports, the services' addresses, the Redis URL, a pod's name;
# one run of fleet-central also lacks a line of its map),
# against real Go targets and one Redis whose user has the ACL line of
# docs/fleet.md:
# - fleet-multi, twice on one Redis (pprof-gw-a, pprof-gw-b): two
#   concurrent traces of one service, one through each, make one 200 and
#   one 429 capture_busy; each gateway audits under its own name.
# - fleet-central: the map routes checkout and orders to their own
#   targets, with their own slots (traces of both run at once, two of
#   checkout make one capture_busy); a name the server does not list
#   gets no TLS handshake, and a name it serves that the map lacks gets
#   403 forbidden; neither reaches a target.
# - fleet-sidecar, as three pods: people's traces of checkout share one
#   slot and one budget across its pods, Parca's profiles of each pod run
#   at once, people get no CPU profile, and a pod the map does not match
#   keeps people's budget apart from Parca's.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep time);
use Test::More;
use PprofTest;
use PprofRedis qw(start_redis);

my $PASSWORD = 'examples-pw-c41d7e';
my $APIKEY = 'parca-key-0b9e2f7a51c3';

my $t = PprofTest->new;
my $root = $t->root;
my $d = $t->testdir;
my $module = $ENV{PPROF_MODULE} || "$root/build/ngx_http_pprof_module.so";

my ($acl) = $t->read_file("$root/docs/fleet.md")
    =~ /^\s*user pprof (on #<sha256 of the password> .*)$/m;
ok($acl, "docs/fleet.md's ACL line") or BAIL_OUT('no ACL line in docs/fleet.md');
$acl =~ s/#<sha256 of the password>/'#' . sha256_hex($PASSWORD)/e;
my $redis = start_redis($t, user => 'pprof', user_password => $PASSWORD,
    acl => [split ' ', $acl], password => 'examples-admin-5a8e10');

$t->pki;
$t->client_cert('sre', subject => '/CN=alice', san => 'URI:spiffe://prod.example/ns/sre/alice');
$t->start_target;
$t->start_target(name => 'target_b');
system("openssl genpkey -algorithm ed25519 -out '$d/audit.key' 2>/dev/null") == 0
    or die "no Ed25519 key\n";

my %addr = map { ($_ => '127.0.0.1:' . $t->port($_)) } qw(target target_b);

# example($file, $name, FROM => TO, ...): docs/examples/$file.conf running
# as the gateway $name (a directory of its own, listening on port($name)),
# with its header's strings replaced; each replacement must be announced
# by the header and occur in the file.
sub example {
    my ($file, $name, @more) = @_;
    my $conf = $t->read_file("$root/docs/examples/$file.conf");
    my ($header) = $conf =~ /\A((?:#.*\n)+)/;
    my ($listen) = $conf =~ /^\s*(listen \d+)/m;

    my $gw = PprofTest->new(within => $t, name => $name);
    my $dir = $gw->testdir;
    $gw->write_file($_, $t->read_file($_)) for qw(server.crt server.key audit.key);
    $gw->write_file('clients-ca.crt', $t->read_file('ca.crt'));
    $gw->write_file('api_keys', sha256_hex($APIKEY) . " parca scraper\n");
    $gw->write_file('redis.pass', $t->read_file($redis->password_file));

    my @subst = (
        '/usr/lib/nginx/modules/ngx_http_pprof_module.so' => $module,
        '/etc/nginx/pprof/' => "$dir/",
        '/var/log/nginx/'   => "$dir/",
        '/run/'             => "$dir/",
        $listen             => 'listen 127.0.0.1:' . $t->port($name),
        @more,
    );
    while (my ($from, $to) = splice @subst, 0, 2) {
        if (ref $from) {                 # a line taken out, not a string
            ok($conf =~ s/$from/$to/, "$name: $from occurs");
            next;
        }
        like($header, qr/\Q$from\E/, "$name: the header announces $from");
        # The header's own mention is left as it is.
        my $n = () = $conf =~ /\Q$from\E/g;
        my $in_header = () = $header =~ /\Q$from\E/g;
        ok($n > $in_header, "$name: $from occurs");
        $conf =~ s/\Q$from\E/$to/g;
    }
    $gw->write_whole_config($conf);
    $gw->run;
    return $gw;
}

# Requests a target (target or target_b) received, by path.
sub served {
    my ($target, $path) = @_;
    my $log = $t->path("$target.log");
    return 0 unless -e $log;
    return scalar grep { decode_json($_)->{path} eq $path }
        grep { length } split /\n/, $t->read_file($log);
}

sub clear_targets {
    for my $target (qw(target target_b)) {
        truncate($t->path("$target.log"), 0) if -e $t->path("$target.log");
    }
}

# spawn_curl($name, $host, $path, as => 'sre' | 'parca'): curl in the
# background, with $host's name resolved to gateway $name's port (SNI and
# Host both $host); collect() gives "STATUS REASON" ("000 -" when there
# was no HTTP answer).
my $spawned = 0;
sub spawn_curl {
    my ($name, $host, $path, %o) = @_;
    my $port = $t->port($name);
    my $out = $t->path('curl.' . ++$spawned);
    my @cmd = ('curl', '-sk', '--max-time', '20', '-o', "$out.body",
        '-w', '%{http_code}', '--resolve', "$host:$port:127.0.0.1");
    push @cmd, '--cert', $t->path('sre.crt'), '--key', $t->path('sre.key')
        if ($o{as} // '') eq 'sre';
    push @cmd, '-H', "Authorization: Bearer $APIKEY" if ($o{as} // '') eq 'parca';
    push @cmd, "https://$host:$port$path";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', "$out.code" or POSIX::_exit(127);
        open STDERR, '>', '/dev/null';
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        POSIX::_exit(127);
    }
    return { pid => $pid, out => $out };
}

sub collect {
    my ($h) = @_;
    waitpid($h->{pid}, 0);
    my $code = -e "$h->{out}.code" ? $t->read_file("$h->{out}.code") : '';
    $code = '000' unless $code =~ /^\d{3}$/;
    my $body = -e "$h->{out}.body" ? $t->read_file("$h->{out}.body") : '';
    my $reason = $body =~ /^pprof-gateway: (\w+)/ ? $1 : '-';
    return "$code $reason";
}

sub ask { collect(spawn_curl(@_)) }

# Two requests at once; their answers, sorted.
sub both {
    my @h = map { spawn_curl(@$_) } @_;
    return join ', ', sort map { collect($_) } @h;
}

sub decisions {
    my ($gw) = @_;
    return grep { $_->{stage} eq 'decision' }
        map { decode_json($_) } split /\n/, $gw->settled_file('pprof_audit.jsonl');
}

my $CHECKOUT = 'checkout.pprof.example.com';
my $ORDERS   = 'orders.pprof.example.com';
my $TRACE    = '/debug/pprof/trace?seconds=2';

###############################################################################
# fleet-multi: two central gateways, one Redis.

my @multi = map {
    example('fleet-multi', "multi_$_",
        '10.0.1.15:6060'         => $addr{target},
        '10.0.1.16:6060'         => $addr{target_b},
        'redis://127.0.0.1:6380' => 'redis://127.0.0.1:' . $redis->port,
        $_ eq 'a' ? () : ('pprof-gw-a' => 'pprof-gw-b'))
} qw(a b);

clear_targets();
is(both([multi_a => $CHECKOUT, $TRACE, as => 'sre'], [multi_b => $CHECKOUT, $TRACE, as => 'sre']),
    '200 -, 429 capture_busy', 'multi: a trace of checkout through each gateway: one runs, one is busy');
is(served('target', '/debug/pprof/trace'), 1, 'multi: checkout saw one trace');
is(ask(multi_b => $ORDERS, '/debug/pprof/trace?seconds=1', as => 'sre'), '200 -',
    'multi: orders has a slot of its own');
is(served('target_b', '/debug/pprof/trace'), 1, '... and its own target');
for my $i (0, 1) {
    my $id = ('pprof-gw-a', 'pprof-gw-b')[$i];
    my @traces = grep { $_->{endpoint} eq 'trace' } decisions($multi[$i]);
    ok(@traces && !grep({ $_->{gateway} ne $id || ($_->{shared} // '') ne 'ok' } @traces),
        "multi: $id audits its traces under its name, decided on Redis")
        or diag(explain \@traces);
}
# Redis's keys name the target percent-encoded: 127.0.0.1%3APORT.
(my $key_target = $addr{target}) =~ s/:/%3A/;
my @keys = $redis->keys('pprof:*');
ok((grep { /^pprof:\{\Q$key_target\E\}:budget:3600000$/ } @keys),
    "multi: checkout's budget is in Redis, for both gateways") or diag(explain \@keys);
$_->done_testing_checks for @multi;

###############################################################################
# fleet-central: one gateway, many services, no Redis.

my $central = example('fleet-central', 'central',
    '10.0.1.15:6060' => $addr{target},
    '10.0.1.16:6060' => $addr{target_b});

clear_targets();
my @h = map { spawn_curl(@$_) } [central => $CHECKOUT, $TRACE, as => 'sre'],
    [central => $ORDERS, $TRACE, as => 'sre'], [central => $CHECKOUT, $TRACE, as => 'sre'];
my @got = map { collect($_) } @h;
is($got[1], '200 -', 'central: a trace of orders runs beside those of checkout');
is(join(', ', sort @got[0, 2]), '200 -, 429 capture_busy',
    'central: two traces of checkout make one capture_busy');
is(served('target', '/debug/pprof/trace'), 1, 'central: checkout saw one trace');
is(served('target_b', '/debug/pprof/trace'), 1, 'central: orders saw one');

clear_targets();
is(ask(central => 'unknown.pprof.example.com', '/debug/pprof/heap', as => 'sre'), '000 -',
    'central: a name the server does not list gets no TLS handshake');
is(served('target', '/debug/pprof/heap') + served('target_b', '/debug/pprof/heap'), 0,
    '... and reaches no target');
$central->done_testing_checks;

# A name the server serves but the map lacks (orders' line taken out):
# its target is empty.
my $gap = example('fleet-central', 'central_gap',
    '10.0.1.15:6060' => $addr{target},
    qr/^\s*orders\.pprof\.example\.com\s+10\.0\.1\.16:6060;\n/m => '');
is(ask(central_gap => $ORDERS, '/debug/pprof/heap', as => 'sre'), '403 forbidden',
    'central: a served name missing from the map: 403 forbidden');
is(served('target', '/debug/pprof/heap') + served('target_b', '/debug/pprof/heap'), 0,
    '... and nothing is forwarded');
is(ask(central_gap => $CHECKOUT, '/debug/pprof/heap', as => 'sre'), '200 -',
    '... while a mapped name is served');
$gap->done_testing_checks;

###############################################################################
# fleet-sidecar: three pods on one Redis.

my %pod = (
    pod1 => ['checkout-7f9c6d4b5-x2k8q', $addr{target}],
    pod2 => ['checkout-7f9c6d4b5-b6n4z', $addr{target_b}],
    pod3 => ['db-0', $addr{target}],
);
my %side = map {
    ($_ => example('fleet-sidecar', $_,
        '127.0.0.1:6060'         => $pod{$_}[1],
        'redis://127.0.0.1:6380' => 'redis://127.0.0.1:' . $redis->port,
        '$hostname'              => $pod{$_}[0]))
} sort keys %pod;
my $HOST = 'localhost';
$redis->cli('FLUSHALL');                 # multi's keys

clear_targets();
is(both([pod1 => $HOST, $TRACE, as => 'sre'], [pod2 => $HOST, $TRACE, as => 'sre']),
    '200 -, 429 capture_busy', "sidecar: people's traces of checkout through two pods: one runs");
is(served('target', '/debug/pprof/trace') + served('target_b', '/debug/pprof/trace'), 1,
    '... and one reached a pod');
my $PROFILE = '/scrape/debug/pprof/profile?seconds=1';
is(both([pod1 => $HOST, $PROFILE, as => 'parca'], [pod2 => $HOST, $PROFILE, as => 'parca']),
    '200 -, 200 -', "sidecar: Parca profiles both pods at once, each its own target");
is(served('target', '/debug/pprof/profile') + served('target_b', '/debug/pprof/profile'), 2,
    '... each pod one');
is(ask(pod1 => $HOST, '/debug/pprof/profile?seconds=1', as => 'sre'), '403 forbidden',
    'sidecar: people get no CPU profile');

is(ask(pod3 => $HOST, '/debug/pprof/trace?seconds=1', as => 'sre'), '200 -',
    'sidecar: a pod outside the map: a trace');
is(ask(pod3 => $HOST, $PROFILE, as => 'parca'), '200 -', '... and a scrape');

my %budget = map { /^pprof:\{([^}]+)\}:budget:3600000$/ ? ($1 => 1) : () } $redis->keys('pprof:*');
is_deeply([sort keys %budget],
    [sort 'checkout', 'checkout-7f9c6d4b5-x2k8q', 'checkout-7f9c6d4b5-b6n4z', 'people-db-0', 'db-0'],
    "sidecar: budgets in Redis: checkout's people's across its pods, each pod's Parca, "
    . "and db-0's people's apart from its Parca's") or diag(explain [$redis->keys('pprof:*')]);
$side{$_}->done_testing_checks for sort keys %side;

done_testing;
