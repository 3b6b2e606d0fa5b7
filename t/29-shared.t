#!/usr/bin/perl

# pprof_shared_state: captures admitted through a real redis-server on the
# worker's own link, and every way Redis can fail a gateway: a wrong
# password, a Redis that never answers, one that drops the connection
# mid-command, one that speaks garbage, another program's key of the wrong
# type, Redis stopped.  Each gets a clear answer within about the timeout,
# and the worker keeps serving other requests meanwhile.  The password is
# never logged.  A location's own state and a pprof_target value that
# names it are apart in Redis too.

use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep time);
use Test::More;
use PprofTest;
use PprofRedis qw(start_redis poll_until);

my $SECRET = 'correct-horse-battery-staple-29';

my @FAKES;
END { kill 'KILL', @FAKES if @FAKES; }

my $t = PprofTest->new;
$t->start_target;
$t->start_target(name => 'svcb');
my $redis = start_redis($t, password => $SECRET);
my $redis_url = $redis->url;
$t->write_file('redis.pass', "$SECRET  \n# comment lines are not read\n");
$t->write_file('wrong.pass', "not-the-password\n");

# A gateway's configuration: the shared state line, and the locations.
sub gateway_conf {
    my ($shared, $extra) = @_;
    $extra //= '';
    return <<"CONF";
pprof_role oncall index cmdline symbol snapshot capture;
pprof_bind ~^u oncall;
pprof_audit_log %%TESTDIR%%/audit.log;
$shared
$extra
server {
    listen 127.0.0.1:%%PORT_HTTP%%;
    server_name localhost;
    pprof_tls off;
    pprof_identity \$http_x_user;
    pprof_rate off;

    location /debug/pprof/ {
        pprof on;
        proxy_pass http://%%TARGET%%;
    }
    location /hdr/debug/pprof/ {
        pprof on;
        pprof_prefix /hdr/debug/pprof/;
        pprof_target \$http_x_target;
        proxy_pass http://127.0.0.1:%%PORT_SVCB%%/debug/pprof/;
    }
    location = /status { pprof_status; }
}
CONF
}

sub get_as {
    my ($gw, $path, %opts) = @_;
    return $gw->get('http', $path, tls => 0, headers => { 'X-User' => 'u1' },
        %opts);
}

sub answer {
    my ($r) = @_;
    return "$r->{status} " . ($r->{body} =~ /^pprof-gateway: (\w+)/ ? $1 : '-');
}

sub metric {
    my ($gw, $series) = @_;
    my $body = $gw->get('http', '/status', tls => 0)->{body};
    my ($n) = $body =~ /^\Q$series\E (\S+)$/m;
    return $n;
}

# The capture's answer and how long it took, from a child, while the
# parent does something else.
# With more paths, each is asked as soon as the one before is answered, and
# the answers are lines.
sub capture_in_background {
    my ($gw, @paths) = @_;
    my $out = $t->path('bg.' . int(rand(1e9)));
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my @lines;
        for my $path (@paths) {
            my $start = time;
            my $r = eval { get_as($gw, $path) };
            push @lines, ($r ? answer($r) : 'died') . sprintf(" %.3f", time - $start);
        }
        open my $fh, '>', $out or POSIX::_exit(1);
        print $fh join "\n", @lines;
        close $fh;
        POSIX::_exit(0);
    }
    return sub { waitpid($pid, 0); return $t->read_file($out) };
}

###############################################################################
# nginx -t

$t->config_is(gateway_conf("pprof_shared_state $redis_url "
        . "password_file=redis.pass timeout=300ms prefix=t29:;"),
    undef, 'a complete pprof_shared_state');

my %bad = (
    'rediss://127.0.0.1:1'       => qr/has no TLS.*TLS tunnel/,
    'http://127.0.0.1:1'         => qr/is not a redis:\/\/HOST:PORT\[\/DB\] URL/,
    'redis://127.0.0.1:1/x'      => qr/database after "\/" is not a number/,
    'redis://127.0.0.1:99999'    => qr/invalid port/,
    'redis://no-such-host.invalid:1' => qr/host not found/,
);
for my $url (sort keys %bad) {
    $t->config_is(gateway_conf("pprof_shared_state $url;"), $bad{$url}, $url);
}

my $out = $t->config_is(gateway_conf('pprof_shared_state redis://:hunter2@127.0.0.1:1;'),
    qr/holds a user or password; put them in password_file=/, 'userinfo in the URL');
unlike($out, qr/hunter2/, 'userinfo: the password is not echoed');

$out = $t->config_is(gateway_conf('pprof_shared_state redis://127.0.0.1:1 hunter2;'),
    qr/parameter 2 is none of password_file=, timeout=, prefix= in .*nginx.conf:\d+/,
    'a stray parameter, with file and line');
unlike($out, qr/hunter2/, 'a stray parameter is not echoed');

$t->config_is(gateway_conf('pprof_shared_state redis://127.0.0.1:1 password_file=nope.pass;'),
    qr/cannot open password_file ".*nope.pass".*nginx.conf:\d+/, 'a missing password file');
$t->write_file('empty.pass', "   \n$SECRET\n");
$out = $t->config_is(gateway_conf('pprof_shared_state redis://127.0.0.1:1 password_file=empty.pass;'),
    qr/holds no password/, 'a password file whose first line is blank');
unlike($out, qr/\Q$SECRET\E/, 'the password file is not echoed');
$t->config_is(gateway_conf('pprof_shared_state redis://127.0.0.1:1 timeout=0;'),
    qr/"timeout=0" is not a time from 1ms to 60s/, 'timeout=0');
$t->config_is(gateway_conf('pprof_shared_state redis://127.0.0.1:1 "prefix=a{b}";'),
    qr/without spaces, braces or %/, 'a prefix with a brace');
$t->config_is(gateway_conf('pprof_shared_state redis://127.0.0.1:1 prefix=a%b;'),
    qr/without spaces, braces or %/, 'a prefix with a %, which would be escaped');
{
    # Each capture is charged to every window length: twelve are refused.
    my $locations = join '', map {
        "    location /w$_/ { pprof on; pprof_prefix /w$_/; "
        . "pprof_capture_budget 10s per ${_}m; proxy_pass http://127.0.0.1:1; }\n"
    } 1 .. 12;
    $t->config_is(gateway_conf('pprof_shared_state redis://127.0.0.1:1;',
            "server {\n    listen 127.0.0.1:%%PORT_HTTP2%%;\n$locations}"),
        qr/more than 11 window lengths in one configuration/, 'twelve budget windows');
}
$t->config_is(gateway_conf("pprof_shared_state redis://127.0.0.1:1;\n"
        . "pprof_shared_state redis://127.0.0.1:2;"),
    qr/"pprof_shared_state" directive is duplicate/, 'two of them');
$t->config_is(gateway_conf('pprof_shared_failure maybe;'),
    qr/invalid value "maybe"/, 'pprof_shared_failure maybe');

###############################################################################
# Admitted through Redis; a second gateway sees the slot taken

$t->write_config(gateway_conf("pprof_shared_state $redis_url "
    . "password_file=redis.pass timeout=300ms prefix=t29:;"));
$t->run;

my $other = PprofTest->new(within => $t, name => 'gw2');
$other->write_file('redis.pass', "$SECRET\n");
{
    my $conf = gateway_conf("pprof_shared_state $redis_url "
        . "password_file=redis.pass timeout=2s prefix=t29:;");
    $conf =~ s/%%PORT_HTTP%%/%%PORT_HTTP2%%/;
    $other->write_config($conf);
}
$other->run;

is(metric($t, 'pprof_shared_state_latency_seconds_count'), 0,
    'the latency series are there before any admission');

my $first = capture_in_background($t, '/debug/pprof/profile?seconds=2');
sleep 0.7;
my @keys = $redis->keys('t29:*');
ok((grep { /slots/ } @keys), 'the running capture holds a lease in Redis')
    or diag("keys: @keys");

my $r = $other->get('http2', '/debug/pprof/profile?seconds=1', tls => 0,
    headers => { 'X-User' => 'u2' });
is(answer($r), '429 capture_busy', 'another gateway: capture_busy');
ok($r->{headers}{'retry-after'}, 'with Retry-After');

like($first->(), qr/^200 - /, 'the first capture was admitted and ran');
is(metric($t, 'pprof_shared_state_latency_seconds_count'), 1,
    'one admission waited on Redis');

$r = $other->get('http2', '/debug/pprof/profile?seconds=1', tls => 0,
    headers => { 'X-User' => 'u2' });
is(answer($r), '200 -', 'the lease was given back when the capture ended');

is(scalar(grep { $_->{path} eq '/debug/pprof/profile' } $t->upstream_requests), 2,
    'two captures reached the target');

like(get_as($t, '/debug/pprof/cmdline')->{status}, qr/^200$/, 'cmdline is served');

###############################################################################
# A location's own state is not a pprof_target value's, even one that
# spells the location's name (server and location) or its key's marker

{
    my $own = capture_in_background($t, '/debug/pprof/profile?seconds=2');
    sleep 0.7;
    my @keys = $redis->keys('t29:*');
    ok((grep { $_ eq 't29:{@localhost%20/debug/pprof/}:slots:profile' } @keys),
        "the location's own lease is under its own key") or diag("keys: @keys");
    for my $name ('localhost /debug/pprof/', '@localhost /debug/pprof/') {
        my $r = $t->get('http', '/hdr/debug/pprof/profile?seconds=1', tls => 0,
            headers => { 'X-User' => 'u2', 'X-Target' => $name });
        is(answer($r), '200 -', "pprof_target \"$name\": not the location's slot");
    }
    like($own->(), qr/^200 - /, "the location's own capture ran meanwhile");
}

###############################################################################
# A client that goes away while its capture waits on Redis.  Its reads
# stay blocked meanwhile, so the request is not cut short: it is decided
# on Redis's answer and audited, then the proxy finds the client gone
# before it asks the target, and the lease goes back with the request.
# A request that ended without a complete response may have reached the
# target, so the lease settles for a second (PPROF_CAPTURE_SETTLE) first,
# as the gateway's own slot does: free then, not at the lease's end.

{
    my $sleeper = fork // die "fork: $!";
    if ($sleeper == 0) {
        $redis->cli('DEBUG', 'SLEEP', '0.25');
        POSIX::_exit(0);
    }
    sleep 0.1;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port('http'))
        or die "connect: $!";
    print $s "GET /debug/pprof/profile?seconds=1 HTTP/1.1\r\nHost: localhost\r\n"
        . "X-User: u-left\r\nConnection: close\r\n\r\n";
    close $s;
    waitpid($sleeper, 0);
    my $answered = time;
    my ($back, $last) = poll_until('200 -', 3, sub {
        answer($other->get('http2', '/debug/pprof/profile?seconds=1', tls => 0,
            headers => { 'X-User' => 'u2' }));
    });
    ok($back, 'a client gone while waiting: its lease was given back')
        or diag("last answer: $last");
    $back //= $answered + 3;
    ok($back < $answered + 2, sprintf('... once settled, %.2f s after'
        . ' Redis answered', $back - $answered));
    my %records = map { $_->{stage} => $_ } grep { $_->{identity} eq 'u-left' }
        map { decode_json($_) } split /\n/, $t->read_file('audit.log');
    is(join(' ', map { $_ // '-' } @{ $records{decision} || {} }{qw(decision reason shared)}),
        'allow ok ok', 'a client gone while waiting: decided on Redis, audited');
    is($records{response} && $records{response}{status}, 499,
        'a client gone while waiting: its response record says 499');
}

# An admission that timed out leaves no lease, even if Redis runs it late.
{
    my $sleeper = fork // die "fork: $!";
    if ($sleeper == 0) {
        $redis->cli('DEBUG', 'SLEEP', '1.5');
        POSIX::_exit(0);
    }
    sleep 0.4;
    my $start = time;
    $r = get_as($t, '/debug/pprof/profile?seconds=5');
    my $took = time - $start;
    is(answer($r), '503 shared_state_unavailable', 'Redis asleep: 503 after the timeout');
    ok($took > 0.25 && $took < 1.0, sprintf('Redis asleep: answered in %.2fs', $took));
    waitpid($sleeper, 0);
    sleep 1.5;
    $r = $other->get('http2', '/debug/pprof/profile?seconds=1', tls => 0,
        headers => { 'X-User' => 'u2' });
    is(answer($r), '200 -', 'the timed-out admission holds no lease');
}

# A reload while a capture holds a lease: the old worker gives it back
# when the capture ends, then exits with its link closed.
{
    my $bg = capture_in_background($t, '/debug/pprof/profile?seconds=2');
    sleep 0.5;
    $t->reload;
    like($bg->(), qr/^200 - /, 'reload: the running capture completed');
    sleep 0.3;
    $r = $other->get('http2', '/debug/pprof/profile?seconds=1', tls => 0,
        headers => { 'X-User' => 'u2' });
    is(answer($r), '200 -', 'reload: the old worker gave its lease back');
    my $deadline = time + 5;
    sleep 0.1 while $t->error_log !~ /exit$/m && time < $deadline;
    unlike($t->error_log, qr/open socket .* left in connection/,
        'reload: the old worker left no socket open');
}

# Redis forgot the script (a restart): EVAL once, then EVALSHA again.
$redis->cli('SCRIPT', 'FLUSH');
is(answer(get_as($t, '/debug/pprof/profile?seconds=1')), '200 -',
    'after SCRIPT FLUSH: admitted');
is(answer(get_as($t, '/debug/pprof/profile?seconds=1')), '200 -',
    'and again');

{
    my (undef, $dump) = $t->_capture({}, $ENV{PPROF_NGINX} || '/usr/sbin/nginx',
        '-T', '-p', $t->testdir . '/', '-c', $t->path('nginx.conf'));
    like($dump, qr/password_file=redis.pass/, 'nginx -T shows the password file\'s name');
    unlike($dump, qr/\Q$SECRET\E/, 'nginx -T does not show the password');
}

$other->stop;
$t->stop;

###############################################################################
# Failures: each a 503 shared_state_unavailable with Retry-After, soon

# One worker, so that cmdline is answered by the very worker waiting.
sub run_gateway {
    my ($shared, $extra) = @_;
    $t->stop;
    my $conf = $t->write_config(gateway_conf($shared, $extra));
    $conf =~ s/^worker_processes 2;/worker_processes 1;/m;
    $t->write_whole_config($conf);
    $t->run;
}

# What the client is told of each kind of failure.
my %WHY = (
    auth     => qr/; Redis refused the password \(audit id/,
    timeout  => qr/; Redis did not answer within \d+ms \(audit id/,
    connect  => qr/; Redis is unreachable(?: \(retrying in \d+ms\))? \(audit id/,
    protocol => qr/; Redis's answer was not the script's \(audit id/,
);

sub refused {
    my ($name, $kind, $max) = @_;
    my $start = time;
    my $r = get_as($t, '/debug/pprof/profile?seconds=1');
    my $took = time - $start;
    is(answer($r), '503 shared_state_unavailable', "$name: 503 shared_state_unavailable");
    like($r->{body}, $WHY{$kind}, "$name: the client is told why");
    unlike($r->{body}, qr/\Q$SECRET\E|not-the-password|user-secret-29/,
        "$name: and not the password");
    is($r->{headers}{'retry-after'}, '1', "$name: Retry-After");
    ok($took < $max, sprintf("%s: answered in %.2fs", $name, $took));
    cmp_ok(metric($t, "pprof_shared_state_errors_total{kind=\"$kind\"}"), '>=', 1,
        "$name: counted as $kind");
}

# A fake Redis on port($name): mode silent reads forever, drop closes once
# a command arrived, garbage answers what no Redis sends, extra answers as
# the script would (a rate denial) and then once more, unasked.
my $EXTRA = "*8\r\n:1347441201\r\n:1\r\n:5\r\n:0\r\n:0\r\n:0\r\n:0\r\n:0\r\n:1\r\n";

sub fake_redis {
    my ($name, $mode) = @_;
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $t->port($name), Listen => 8, ReuseAddr => 1)
        or die "fake_redis: listen: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP);
        my @keep;
        while (my $c = $listen->accept) {
            push @keep, $c;
            next if $mode eq 'silent';
            my $buf = '';
            sysread($c, $buf, 65536);
            syswrite($c, $mode eq 'garbage' ? "%garbage\r\n"
                : $mode eq 'extra' ? $EXTRA : '');
            close $c if $mode eq 'drop';
        }
        POSIX::_exit(0);
    }
    close $listen;
    push @FAKES, $pid;
}

# An ACL user ("USER PASSWORD") and a database of its own.
$redis->cli('ACL', 'SETUSER', 'gw29', 'on', '>user-secret-29', '~*', '+@all');
$t->write_file('user.pass', "gw29 user-secret-29\r\n");
run_gateway("pprof_shared_state $redis_url/3 "
    . "password_file=user.pass prefix=db3:;");
{
    my $bg = capture_in_background($t, '/debug/pprof/profile?seconds=1');
    sleep 0.5;
    my $keys = $redis->cli('-n', 3, 'KEYS', 'db3:*');
    like($keys, qr/slots:profile/, 'ACL user: the lease is in database 3');
    like($bg->(), qr/^200 - /, 'ACL user: the capture was admitted');
}

run_gateway("pprof_shared_state $redis_url "
    . "password_file=wrong.pass timeout=300ms;");
refused('wrong password', 'auth', 1.0);
like($t->error_log, qr/refused the password of password_file: WRONGPASS/,
    'wrong password: said so in error.log');

# A refused AUTH holds back what follows it: Redis would run the script as
# its default user (no password configured, or an ACL user's wrong
# password while the default user is on) and keep a lease nobody gives
# back, for every gateway of the fleet to find busy.
my $open = start_redis($t, name => 'open');
$open->cli('ACL', 'SETUSER', 'gw29', 'on', '>user-secret-29', '~*', '+@all');
$t->write_file('wronguser.pass', "gw29 not-the-password\n");
# Another gateway has loaded the script: EVALSHA would run it.
run_gateway('pprof_shared_state ' . $open->url . ' prefix=t29warm:;');
is(answer(get_as($t, '/debug/pprof/profile?seconds=1')), '200 -',
    'no password: a capture loads the script');
for my $case (['redis.pass', 'AUTH without a password configured'],
    ['wronguser.pass', 'an ACL user\'s wrong password'])
{
    my ($file, $name) = @$case;
    run_gateway('pprof_shared_state ' . $open->url
        . " password_file=$file timeout=300ms prefix=t29open:;");
    refused($name, 'auth', 1.0);
    refused("$name, again (backing off)", 'connect', 1.0);
    is(join(' ', $open->keys('t29open:*')), '',
        "$name: the script did not run, no lease is held");
}
$open->stop;

fake_redis('silent', 'silent');
# A timeout of 1 s: a worker that blocked on the silent Redis would answer
# the cmdline no sooner than that, well apart from a loaded machine's delays.
run_gateway('pprof_shared_state redis://127.0.0.1:%%PORT_SILENT%% timeout=1s;');
{
    # The second capture comes within the backoff (100 ms) of the first's
    # timeout: no new connection, refused at once.
    my $bg = capture_in_background($t, '/debug/pprof/profile?seconds=1',
        '/debug/pprof/profile?seconds=1');
    sleep 0.1;
    my $start = time;
    my $c = get_as($t, '/debug/pprof/cmdline');
    my $took = time - $start;
    is($c->{status}, 200, 'Redis silent: cmdline is served meanwhile');
    ok($took < 0.5, sprintf('Redis silent: cmdline answered in %.3fs', $took));
    my ($first, $second) = split /\n/, $bg->();
    my ($answer, $secs) = $first =~ /^(.*) (\S+)$/;
    is($answer, '503 shared_state_unavailable', 'Redis silent: 503');
    ok($secs >= 0.95 && $secs < 2.5, "Redis silent: answered after the timeout ($secs s)");
    ($answer, $secs) = $second =~ /^(.*) (\S+)$/;
    is($answer, '503 shared_state_unavailable', 'Redis silent, backing off: 503');
    ok($secs < 0.05, "Redis silent, backing off: answered at once ($secs s)");
    is(metric($t, 'pprof_shared_state_errors_total{kind="timeout"}'), 1,
        'Redis silent: counted as timeout');
    is(metric($t, 'pprof_shared_state_errors_total{kind="connect"}'), 1,
        'Redis silent, backing off: counted as connect');
    sleep 0.3;
    refused('Redis silent, again', 'timeout', 2.5);
}

fake_redis('drop', 'drop');
run_gateway('pprof_shared_state redis://127.0.0.1:%%PORT_DROP%% timeout=2s;');
refused('connection dropped mid-command', 'connect', 1.0);

fake_redis('garbage', 'garbage');
run_gateway('pprof_shared_state redis://127.0.0.1:%%PORT_GARBAGE%% timeout=2s;');
refused('a garbage reply', 'protocol', 1.0);

fake_redis('extra', 'extra');
run_gateway('pprof_shared_state redis://127.0.0.1:%%PORT_EXTRA%% timeout=2s;');
refused('more replies than asked', 'protocol', 1.0);
is(get_as($t, '/debug/pprof/cmdline')->{status}, 200, 'more replies than asked: the worker lives');

# Another program's key where the script keeps its slots.
run_gateway("pprof_shared_state $redis_url "
    . "password_file=redis.pass timeout=2s prefix=t29:;");
my $running = capture_in_background($t, '/debug/pprof/profile?seconds=1');
sleep 0.5;
my ($slots) = grep { /slots:profile/ } $redis->keys('t29:*');
ok($slots, 'the slots key is known');
$running->();
$redis->cli('DEL', $slots);
$redis->cli('SET', $slots, 'not ours');
refused('a key of the wrong type', 'protocol', 1.0);
$redis->cli('DEL', $slots);
is(answer(get_as($t, '/debug/pprof/profile?seconds=1')), '200 -',
    'the key gone, captures are admitted again');

# A request that ends while its admission waits on Redis.  Its client's
# reads stay blocked meanwhile, so a client that leaves does not end it;
# a worker's shutdown timeout after a reload does.  Redis's answer then
# comes for nobody, and the lease it holds is given back.
$t->stop;
{
    my $conf = $t->write_config(gateway_conf("pprof_shared_state $redis_url "
        . "password_file=redis.pass timeout=5s prefix=t29:;"));
    $conf =~ s/^(worker_processes 2;)/$1\nworker_shutdown_timeout 300ms;/m;
    $t->write_whole_config($conf);
    $t->run;

    my $sleeper = fork // die "fork: $!";
    if ($sleeper == 0) {
        $redis->cli('DEBUG', 'SLEEP', '2');
        POSIX::_exit(0);
    }
    sleep 0.2;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port('http'))
        or die "connect: $!";
    print $s "GET /debug/pprof/profile?seconds=1 HTTP/1.1\r\nHost: localhost\r\n"
        . "X-User: u-gone\r\nConnection: close\r\n\r\n";
    close $s;
    sleep 0.2;
    $t->reload;
    waitpid($sleeper, 0);
    sleep 0.5;
    is(join(' ', grep { /slots/ } $redis->keys('t29:*')), '',
        'a request gone before its answer: the lease was given back');
    is(answer(get_as($t, '/debug/pprof/profile?seconds=1')), '200 -',
        'a request gone before its answer: the next capture is admitted');
    my @gone = grep { $_->{identity} eq 'u-gone' }
        map { decode_json($_) } split /\n/, $t->read_file('audit.log');
    is(join(' ', map { join('/', map { $_ // '-' } @$_{qw(stage decision reason shared)}) } @gone),
        'decision/deny/shared_state_unavailable/unavailable',
        'a request gone before its answer: its decision record, refused');
    like($t->error_log, qr/shared_state_unavailable: the request ended before Redis answered/,
        '... and the log line says why');
}

# Redis stopped: refused at once, and then fast while backing off.
$redis->stop;
refused('Redis stopped', 'connect', 1.0);
refused('Redis stopped, backing off', 'connect', 0.2);
is(get_as($t, '/debug/pprof/cmdline')->{status}, 200, 'Redis stopped: cmdline is served');
is(get_as($t, '/debug/pprof/heap')->{status}, 200, 'Redis stopped: a snapshot is served');

# A dry run forwards what Redis's absence would refuse, and says so.
run_gateway("pprof_shared_state $redis_url timeout=300ms;",
    'pprof_enforce off;');
is(answer(get_as($t, '/debug/pprof/profile?seconds=1')), '200 -',
    'dry run: the capture is forwarded without Redis');
like($t->error_log, qr/dry run, would deny: shared_state_unavailable/,
    'dry run: the would-be denial is logged');

# open: decided on the gateway's own state, and said so.
run_gateway("pprof_shared_state $redis_url timeout=300ms;",
    'pprof_shared_failure open;');
is(answer(get_as($t, '/debug/pprof/profile?seconds=1')), '200 -',
    'open: the capture is allowed without Redis');
like($t->error_log, qr/shared state unavailable \(Redis is unreachable\b.*\), decided on this gateway's own state/,
    'open: said so in error.log');

$t->stop;

unlike($t->read_file('error.log'), qr/\Q$SECRET\E|not-the-password|user-secret-29/,
    'no password in error.log');
unlike($t->read_file('audit.log'), qr/\Q$SECRET\E|not-the-password|user-secret-29/,
    'no password in the audit log');

$t->done_testing_checks;

done_testing;
