package PprofRedis;

# The rig of the fleet tests (pprof_shared_state): a Redis, several
# gateways, and requests that overlap.
#
# The Redis is Debian's redis-server
# on a loopback port of the test, persistence off, in a directory of the
# test's own, stopped when the test ends. It dies loudly when redis-server
# is missing or does not start: a fleet test never skips.
#
#   my $redis = start_redis($t, password => 's3cret');
#   # nginx: pprof_shared_state redis://127.0.0.1:%%PORT_REDIS%% ...;
#   $redis->cli(qw(DEBUG SLEEP 2));      # output, dies on an error reply
#   my @keys = $redis->keys('pprof:*');
#   $redis->stop; ...; $redis->restart; # the same port, empty again
#
# start_redis($t, %opts):
#   name => 'redis'   port name (%%PORT_REDIS%% in configs) and directory
#   password => PW    requirepass: the default user's password
#   user => NAME, user_password => PW
#                     an ACL user with every right; the default user is
#                     then off, so only NAME can get in
#   acl => [RULES]    with user: NAME gets these ACL rules instead (its
#                     password among them), and the default user stays,
#                     with password, for the rig's own commands
#   args => [...]     more redis-server options
# It writes password_file(): the line pprof_shared_state's password_file
# takes for these credentials (PW, or NAME PW), or none without any.
#
# fleet_gateway($t, $name, $conf, workers => N) starts another nginx of
# the test (a PprofTest within $t) with an audit key of its own,
# spawn_get()/collect() run requests in the background, timed, and
# poll_until() asks until the answer comes, for the state that Redis
# changes a moment after a response.
#
# Environment:
#   PPROF_REDIS_SERVER  redis-server binary (default: /usr/bin/redis-server)
#   PPROF_REDIS_CLI     redis-cli binary    (default: /usr/bin/redis-cli)

use strict;
use warnings;

use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Time::HiRes qw(sleep time);
use PprofTest;

our @EXPORT_OK = qw(start_redis fleet_gateway spawn_get collect poll_until);

my $SERVER = $ENV{PPROF_REDIS_SERVER} || '/usr/bin/redis-server';
my $CLI    = $ENV{PPROF_REDIS_CLI}    || '/usr/bin/redis-cli';

# Live Redis servers of this process. This END block is compiled after
# PprofTest's and File::Temp's, so it runs before them: Redis is gone
# before its directory is removed.
my %LIVE;

END {
    for my $r (grep { defined } values %LIVE) {
        local ($@, $!, $?);
        eval { $r->stop };
    }
}

sub start_redis {
    my ($t, %opts) = @_;
    for my $bin ($SERVER, $CLI) {
        -x $bin or die "$bin is missing: the fleet tests need Debian's"
            . " redis-server and redis-tools (make deps)\n";
    }
    die "start_redis(): user needs user_password\n"
        if defined $opts{user} && !defined $opts{user_password};
    die "start_redis(): acl needs user and password\n"
        if $opts{acl} && !(defined $opts{user} && defined $opts{password});

    my $name = $opts{name} // 'redis';
    my $self = bless {
        t         => $t,
        name      => $name,
        port      => $t->port($name),
        dir       => $t->path($name),
        password  => $opts{password},
        user      => $opts{user},
        user_pw   => $opts{user_password},
        acl       => $opts{acl},
        args      => $opts{args} || [],
        owner_pid => $$,
    }, __PACKAGE__;
    mkdir $self->{dir} or die "mkdir $self->{dir}: $!";

    my $line = defined $self->{user} ? "$self->{user} $self->{user_pw}"
        : $self->{password};
    $t->write_file("$name.pass", "$line\n") if defined $line;

    $LIVE{"$self"} = $self;
    weaken($LIVE{"$self"});
    return $self->_start;
}

sub port { $_[0]{port} }
sub dir  { $_[0]{dir} }
sub pid  { $_[0]{pid} }
sub url  { 'redis://127.0.0.1:' . $_[0]{port} }

sub password_file {
    my ($self) = @_;
    my $path = $self->{t}->path("$self->{name}.pass");
    die "password_file(): this Redis has no password\n" unless -e $path;
    return $path;
}

# Redis's own log, for diagnostics.
sub log {
    my ($self) = @_;
    my $path = "$self->{dir}/redis.log";
    return -e $path ? $self->{t}->read_file($path) : "(no redis.log)\n";
}

sub _start {
    my ($self) = @_;
    die "redis already running\n" if $self->{pid};

    # DEBUG SLEEP stands in for a Redis that stops answering; Redis 7
    # refuses DEBUG unless it is enabled.
    my @cmd = ($SERVER, '--port', $self->{port}, '--bind', '127.0.0.1',
        '--save', '', '--appendonly', 'no', '--daemonize', 'no',
        '--dir', $self->{dir}, '--logfile', "$self->{dir}/redis.log",
        '--enable-debug-command', 'local');
    push @cmd, '--requirepass', $self->{password} if defined $self->{password};
    if ($self->{acl}) {
        push @cmd, '--user', $self->{user}, @{ $self->{acl} };
    } elsif (defined $self->{user}) {
        push @cmd, '--user', 'default', 'off',
            '--user', $self->{user}, 'on', ">$self->{user_pw}", '~*', '&*', '+@all';
    }
    push @cmd, @{ $self->{args} };

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{dir}/redis.stdout";
        open STDERR, '>&', \*STDOUT;
        $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP);
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;

    # Any answer to PING (a NOAUTH error included) means it serves.
    my $deadline = time + 10;
    until (_answers($self->{port})) {
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $self->{pid};
            die "redis-server exited during startup (status $?): @cmd\n"
                . $self->{t}->read_file("$self->{dir}/redis.stdout") . $self->log;
        }
        if (time > $deadline) {
            $self->stop;
            die "redis-server did not answer PING on $self->{port} within 10s\n" . $self->log;
        }
        sleep 0.02;
    }
    return $self;
}

sub _answers {
    my ($port) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        Proto => 'tcp', Timeout => 1) or return 0;
    print $sock "PING\r\n";
    my $line = '';
    my $sel = IO::Select->new($sock);
    sysread($sock, $line, 256) if $sel->can_read(1);
    close $sock;
    return $line =~ /^[+-]/ ? 1 : 0;
}

# Stops the server (TERM, then KILL after 10s); nothing is kept, as
# persistence is off.
sub stop {
    my ($self) = @_;
    return unless $self->{owner_pid} == $$;
    my $pid = delete $self->{pid} or return;
    PprofTest::reap($pid, 'redis-server');
    return $self;
}

# A new server on the same port and with the same credentials, empty: no
# keys, and no script in its cache.
sub restart {
    my ($self) = @_;
    $self->stop;
    return $self->_start;
}

# cli(@args): one command through redis-cli with this server's
# credentials; returns its raw output without the final newline. Dies on
# an error reply or a failed connection.
sub cli {
    my ($self, @args) = @_;
    my ($rc, $out) = $self->cli_status(@args);
    die "redis-cli @args failed (exit $rc): $out\n" if $rc != 0;
    return $out;
}

# cli_status(@args): (exit code, output) of the same, for commands that
# are expected to fail.
sub cli_status {
    my ($self, @args) = @_;
    my @auth;
    if (defined $self->{user} && !$self->{acl}) {
        @auth = ('--user', $self->{user}, '--pass', $self->{user_pw});
    } elsif (defined $self->{password}) {
        @auth = ('--pass', $self->{password});
    }
    my @cmd = ($CLI, '-h', '127.0.0.1', '-p', $self->{port},
        '--no-auth-warning', '--raw', '-e', @auth, @args);
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDERR, '>&', \*STDOUT;
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        syswrite STDOUT, "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    $out =~ s/\n\z//;
    return ($? >> 8, $out);
}

# keys($pattern): the keys matching it (default: all), sorted.
sub keys {
    my ($self, $pattern) = @_;
    return sort grep { length } split /\n/, $self->cli('KEYS', $pattern // '*');
}

###############################################################################
# Gateways and requests

# fleet_gateway($t, $name, $conf, workers => N): a gateway in $t's
# subdirectory $name, naming $t's ports (so %%PORT_REDIS%%, %%TARGET%% and
# every gateway's listener), with audit.key and audit.pub (Ed25519) of its
# own there; $conf is write_config's http body. Returns it running.
sub fleet_gateway {
    my ($t, $name, $conf, %opts) = @_;
    my $gw = PprofTest->new(within => $t, name => $name, %opts);
    my $d = $gw->testdir;
    system("openssl genpkey -algorithm ed25519 -out '$d/audit.key' 2>/dev/null"
        . " && openssl pkey -in '$d/audit.key' -pubout -out '$d/audit.pub'") == 0
        or die "fleet_gateway(): no Ed25519 key\n";
    $gw->write_config($conf);
    $gw->run;
    return $gw;
}

my $SPAWNED = 0;

# spawn_get($gw, $port_name, $path, %headers): GET $path from $gw in a
# child process, so that requests overlap; collect() waits for it.
sub spawn_get {
    my ($gw, $port, $path, %headers) = @_;
    my $file = $gw->path('spawned.' . ++$SPAWNED);
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $t0 = time;
        my $r = eval { $gw->get($port, $path, tls => 0, timeout => 30,
            headers => \%headers) };
        my %out = (elapsed => time - $t0);
        if ($r) {
            %out = (%out, status => $r->{status}, retry_after => $r->{headers}{'retry-after'},
                audit_id => $r->{headers}{'x-pprof-audit-id'},
                reason => $r->{body} =~ /^pprof-gateway: (\w+)/ ? $1 : '-');
        } else {
            %out = (%out, status => 0, reason => "error: $@");
        }
        $gw->write_file($file, encode_json(\%out));
        POSIX::_exit(0);        # no END blocks: the parent owns the servers
    }
    return { pid => $pid, gw => $gw, file => $file };
}

# collect($handle): the spawned request's answer: { status, reason (the
# denial's, or '-'), retry_after, audit_id, elapsed (seconds) }.
sub collect {
    my ($h) = @_;
    waitpid($h->{pid}, 0);
    return decode_json($h->{gw}->read_file($h->{file}));
}

# poll_until($want, $within, $ask): calls $ask every 0.2 s until it returns
# $want, for at most $within seconds. Returns when the call that did began
# (undef if none did), and the last answer.
sub poll_until {
    my ($want, $within, $ask) = @_;
    my $deadline = time + $within;
    while (1) {
        my $asked = time;
        my $got = $ask->();
        return ($asked, $got) if $got eq $want;
        return (undef, $got) if time > $deadline;
        sleep 0.2;
    }
}

sub DESTROY {
    my ($self) = @_;
    local ($@, $!, $?);
    eval { $self->stop };
    delete $LIVE{"$self"};
}

1;
