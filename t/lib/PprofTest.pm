package PprofTest;

# Integration-test harness for ngx_pprof_module, in the spirit of
# nginx-tests' Test::Nginx: each test object owns a temporary directory, an
# nginx instance started from a generated config, an optional Go upstream
# (t/target) and a throw-away PKI. Clients are raw sockets (so request bytes
# reach nginx exactly as written) and curl.
#
# Environment:
#   PPROF_MODULE     module .so to load (default: <root>/build/ngx_http_pprof_module.so)
#   PPROF_TARGET     Go target binary   (default: <root>/build/pprof-target)
#   PPROF_NGINX      nginx binary       (default: /usr/sbin/nginx)
#   PPROF_TEST_KEEP  keep the test directory (its path is printed as a diag)
#   PPROF_SANITIZED  set by the ASan pass: its quarantine in MiB, for memory bounds
#
# Failures die (or fail a test) loudly; nothing is skipped silently.

use strict;
use warnings;

use Cwd qw(abs_path);
use Errno qw(EINTR EAGAIN ECONNRESET EPIPE);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use IO::Socket::SSL;
use JSON::PP;
use POSIX qw(WNOHANG strftime);
use Scalar::Util qw(weaken);
use Test::More ();
use Time::HiRes qw(sleep time);

my $NGINX = $ENV{PPROF_NGINX} || '/usr/sbin/nginx';
my $CURL  = '/usr/bin/curl';

# Lines in error.log that mean something went badly wrong.
my $BAD_LOG_LINE = qr/\[(?:alert|emerg|crit)\]|exited on signal|AddressSanitizer|runtime error:/;

# Live harness objects of this process, so that the END block below can stop
# their nginx and target processes. This END block is compiled after
# File::Temp's (loaded above) and END blocks run in reverse order, so the
# processes are gone before File::Temp removes the test directories.
my %LIVE;

# Ports handed out by any harness object of this process.
my %USED_PORTS;

END {
    for my $t (grep { defined } values %LIVE) {
        $t->_shutdown;
    }
}

# Let Ctrl-C, kill(1) and a closed output pipe run the cleanup above instead
# of leaving nginx and targets behind. Only where nobody claimed the signals.
my %SIGNUM = (HUP => 1, INT => 2, PIPE => 13, TERM => 15);
for my $sig (sort keys %SIGNUM) {
    next if defined $SIG{$sig} && $SIG{$sig} ne '' && $SIG{$sig} ne 'DEFAULT';
    $SIG{$sig} = sub { print STDERR "# caught SIG$sig, cleaning up\n"; exit 128 + $SIGNUM{$sig} };
}

###############################################################################
# Construction, paths, ports

sub new {
    my ($class, %opts) = @_;

    my $root = abs_path(File::Spec->catdir(dirname(abs_path(__FILE__)), '..', '..'));

    # within => $t, name => 'front': a second nginx (a front proxy, or
    # another gateway of a fleet) in a subdirectory of $t's, naming the
    # same ports as $t, so that each config can name the other's
    # listeners and the Go target. workers => N: write_config's
    # worker_processes (default 2); log_level => LEVEL: its error_log's
    # (default info).
    my $within = $opts{within};
    my $keep = $ENV{PPROF_TEST_KEEP} ? 1 : 0;
    my $dir;
    if ($within) {
        die "new(): within needs a name\n" unless ($opts{name} // '') =~ /^\w+$/;
        $dir = "$within->{dir}/$opts{name}";
        mkdir $dir or die "mkdir $dir: $!";
    } else {
        $dir = tempdir('pprof-test-XXXXXX', TMPDIR => 1, CLEANUP => !$keep);
        Test::More::diag("test directory kept: $dir") if $keep;
    }
    # nginx workers run as an unprivileged user (nobody with Debian's build)
    # and must be able to enter the directory, e.g. to buffer large upstream
    # responses into proxy_temp.
    chmod 0755, $dir or die "chmod $dir: $!";

    my $self = bless {
        root        => $root,
        dir         => $dir,
        module      => exists $opts{module} ? $opts{module} : 1,
        module_path => $ENV{PPROF_MODULE} || "$root/build/ngx_http_pprof_module.so",
        target_bin  => $ENV{PPROF_TARGET} || "$root/build/pprof-target",
        ports       => $within ? $within->{ports} : {},
        workers     => $opts{workers} // 2,
        log_level   => $opts{log_level} // 'info',
        owner_pid   => $$,   # forked children must not clean up
    }, $class;

    $LIVE{"$self"} = $self;
    weaken($LIVE{"$self"});
    return $self;
}

sub testdir { $_[0]{dir} }
sub root    { $_[0]{root} }

# Absolute path of a file in the test directory.
sub path {
    my ($self, $name) = @_;
    return "$self->{dir}/$name";
}

sub read_file {
    my ($self, $name) = @_;
    my $path = $name =~ m{^/} ? $name : $self->path($name);
    open my $fh, '<:raw', $path or die "open $path: $!";
    local $/;
    my $data = <$fh>;
    return defined $data ? $data : '';
}

# settled_file($name): the file's content once it has stopped growing for
# 50 ms (at most 3 s): audit response records are written in the log
# phase, after the client already has its response.
sub settled_file {
    my ($self, $name) = @_;
    my ($prev, $now) = (-1, 0);
    for (1 .. 60) {
        $now = length $self->read_file($name);
        last if $now == $prev;
        $prev = $now;
        sleep 0.05;
    }
    return $self->read_file($name);
}

sub write_file {
    my ($self, $name, $data) = @_;
    my $path = $name =~ m{^/} ? $name : $self->path($name);
    open my $fh, '>:raw', $path or die "open $path: $!";
    print $fh $data or die "write $path: $!";
    close $fh or die "close $path: $!";
    return $path;
}

# A free TCP port on 127.0.0.1, the same one for every call with one name.
# Found by binding port 0; there is a small window in which another process
# could take it, which is acceptable for tests.
sub port {
    my ($self, $name) = @_;
    die "port(): name required\n" unless defined $name && length $name;
    return $name if $name =~ /^\d+$/;   # a literal port number passes through
    return $self->{ports}{$name} //= $self->_free_port;
}

sub _free_port {
    my ($self) = @_;
    for (1 .. 50) {
        my $sock = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1',
            LocalPort => 0,
            Proto     => 'tcp',
            Listen    => 1,
        ) or die "cannot bind a free port: $!";
        my $port = $sock->sockport;
        close $sock;
        next if $USED_PORTS{$port}++;
        return $port;
    }
    die "could not find an unused free port\n";
}

###############################################################################
# PKI (openssl CLI). EC P-256 keys; every certificate is one openssl run,
# except back-dated (expired) ones which need a CSR and `openssl ca`.

sub _openssl {
    my ($self, @args) = @_;
    my ($rc, $out) = $self->_capture({ chdir => $self->{dir} }, 'openssl', @args);
    die "openssl @args failed (exit $rc):\n$out" if $rc != 0;
    return $out;
}

sub _write_openssl_cnf {
    my ($self) = @_;
    my $dir = $self->{dir};
    mkdir "$dir/pki-newcerts" or die "mkdir: $!" unless -d "$dir/pki-newcerts";
    $self->write_file('pki-index.txt', '') unless -e "$dir/pki-index.txt";

    # [backdated] is only used by `openssl ca` for expired certificates:
    # OpenSSL 3.0's req/x509 cannot set a notBefore in the past. Its policy
    # lists the usual DN fields as optional because `ca` drops unlisted ones.
    return $self->write_file('pki-openssl.cnf', <<"EOF");
[ req ]
distinguished_name = req_dn
[ req_dn ]

[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, IP:127.0.0.1

[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ ca ]
default_ca = backdated
[ backdated ]
database = $dir/pki-index.txt
new_certs_dir = $dir/pki-newcerts
rand_serial = yes
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = copy
[ policy_any ]
countryName = optional
stateOrProvinceName = optional
localityName = optional
organizationName = optional
organizationalUnitName = optional
commonName = optional
emailAddress = optional
serialNumber = optional
domainComponent = optional
userId = optional
EOF
}

my @EC_KEY = qw(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes);

# Creates ca.crt/ca.key, rogue.crt/rogue.key (an untrusted CA) and
# server.crt/server.key (localhost, 127.0.0.1, signed by ca). Idempotent.
sub pki {
    my ($self) = @_;
    return if $self->{pki_done};
    my $cnf = $self->_write_openssl_cnf;

    for my $ca (qw(ca rogue)) {
        $self->_openssl('req', '-x509', @EC_KEY,
            -keyout => "$ca.key", -out => "$ca.crt",
            -subj => "/O=pprof-test/CN=pprof test $ca CA",
            -days => 30, -config => $cnf, -extensions => 'ca_ext');
    }
    $self->_openssl('req', '-x509', @EC_KEY,
        -keyout => 'server.key', -out => 'server.crt',
        -subj => '/CN=localhost', -days => 30,
        -CA => 'ca.crt', -CAkey => 'ca.key',
        -config => $cnf, -extensions => 'server_ext');

    $self->{pki_done} = 1;
    return;
}

# client_cert($name, subject => '/CN=alice', san => 'URI:...,DNS:...',
#             ca => 'ca' | 'rogue', days => N)
# Writes $name.crt and $name.key, returns their paths. days defaults to 1; a
# negative days => -N makes a certificate that expired N days ago (valid for
# the one day before that).
sub client_cert {
    my ($self, $name, %opts) = @_;
    die "client_cert(): name required\n" unless defined $name && $name =~ /^[\w.-]+$/;
    $self->pki;

    my $subject = $opts{subject} // "/CN=$name";
    my $ca      = $opts{ca} // 'ca';
    my $days    = $opts{days} // 1;
    my $cnf     = $self->path('pki-openssl.cnf');
    die "client_cert(): unknown CA '$ca'\n" unless -e $self->path("$ca.crt");
    die "client_cert(): days must not be 0\n" if $days == 0;

    my @san = defined $opts{san} ? (-addext => "subjectAltName=$opts{san}") : ();

    if ($days > 0) {
        $self->_openssl('req', '-x509', @EC_KEY,
            -keyout => "$name.key", -out => "$name.crt",
            -subj => $subject, -days => $days,
            -CA => "$ca.crt", -CAkey => "$ca.key",
            -config => $cnf, -extensions => 'client_ext', @san);
    } else {
        my $ago = -$days;
        my $fmt = '%Y%m%d%H%M%SZ';
        my $start = strftime($fmt, gmtime(time - ($ago + 1) * 86400));
        my $end   = strftime($fmt, gmtime(time - $ago * 86400));
        $self->_openssl('req', '-new', @EC_KEY,
            -keyout => "$name.key", -out => "$name.csr",
            -subj => $subject, -config => $cnf, @san);
        $self->_openssl('ca', '-batch', '-notext', '-preserveDN',
            -config => $cnf, -in => "$name.csr", -out => "$name.crt",
            -cert => "$ca.crt", -keyfile => "$ca.key",
            -startdate => $start, -enddate => $end,
            -extensions => 'client_ext');
    }
    return ($self->path("$name.crt"), $self->path("$name.key"));
}

###############################################################################
# The Go upstream (t/target)

# start_target(args => [...], name => 'target'): runs the target on
# port(name), logging requests to <name>.log as they arrive and to
# <name>.served.log as they are served (see served()); returns once the
# port accepts connections. Go runs one CPU profile per process, so a test
# that needs two at once starts a second target under another name; that
# one is stopped with the stubs, and only 'target' is seen by
# upstream_requests.
sub start_target {
    my ($self, %opts) = @_;
    my $name = $opts{name} // 'target';
    die "start_target(): target already running\n"
        if $name eq 'target' && $self->{target_pid};

    my $bin = $self->{target_bin};
    die "target binary $bin is missing or not executable; build it with:\n"
        . "  cd t/target && GOFLAGS=-mod=mod GOPROXY=off go build -o ../../build/pprof-target .\n"
        unless -x $bin;

    my $port   = $self->port($name);
    my $log    = $self->path("$name.log");
    my $stderr = $self->path("$name.stderr");
    my @cmd = ($bin, '-listen', "127.0.0.1:$port", '-log', $log,
        '-served-log', $self->path("$name.served.log"), @{ $opts{args} || [] });

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $stderr;
        open STDERR, '>&', \*STDOUT;
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    if ($name eq 'target') {
        $self->{target_pid} = $pid;
    } else {
        push @{ $self->{stub_pids} }, $pid;
    }

    my $deadline = time + 10;
    until (_port_open($port)) {
        if (waitpid($pid, WNOHANG) == $pid) {
            my $status = $?;
            delete $self->{target_pid} if $name eq 'target';
            die "target exited during startup (status $status): @cmd\n"
                . $self->read_file("$name.stderr");
        }
        if (time > $deadline) {
            $name eq 'target' ? $self->stop_target : kill('TERM', $pid);
            die "target did not listen on $port within 10s: @cmd\n"
                . $self->read_file("$name.stderr");
        }
        sleep 0.02;
    }
    return $self;
}

# start_stub($port_name, sub { my ($request) = @_; return $raw_response })
# : a stand-in upstream on port($port_name) for bodies the Go target never
# sends (a corrupt gzip, a 4 MiB argv). Each connection's request head is
# passed to the handler, whose return value (a whole HTTP response) is
# written before the connection is closed. Stopped with the test.
sub start_stub {
    my ($self, $port_name, $handler) = @_;
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $self->port($port_name), Listen => 8, ReuseAddr => 1)
        or die "start_stub(): listen: $!\n";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{PIPE} = 'IGNORE';
        $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP);
        while (my $c = $listen->accept) {
            my $req = '';
            while ($req !~ /\r\n\r\n/) {
                last unless sysread($c, $req, 4096, length $req);
            }
            print $c $handler->($req);
            close $c;
        }
        POSIX::_exit(0);
    }
    close $listen;
    push @{ $self->{stub_pids} }, $pid;
    return $self;
}

sub stop_stubs {
    my ($self) = @_;
    for my $pid (@{ delete $self->{stub_pids} || [] }) {
        kill 'TERM', $pid;
        waitpid($pid, 0);
    }
    return;
}

sub stop_target {
    my ($self) = @_;
    my $pid = delete $self->{target_pid} or return;
    reap($pid, 'target');
    return;
}

# reap($pid, $name): TERM, then KILL if the process is still there after
# 10 s (said with diag); returns its wait status.
sub reap {
    my ($pid, $name) = @_;
    kill 'TERM', $pid;
    my $deadline = time + 10;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) {
            Test::More::diag("$name $pid ignored TERM for 10s, sending KILL");
            kill 'KILL', $pid;
            waitpid($pid, 0);
            last;
        }
        sleep 0.02;
    }
    return $?;
}

# Requests the target has received, oldest first, as decoded JSON hashes:
# method, request_uri, path, raw_query, proto, host, headers (lowercased
# name => [values]). The target writes a line before serving a request, so
# once a proxied response has arrived its line is already here.
sub upstream_requests {
    my ($self) = @_;
    die "upstream_requests(): target was never started\n"
        unless $self->{target_pid} || -e $self->path('target.log');
    my $path = $self->path('target.log');
    return () unless -e $path;
    my $json = JSON::PP->new->utf8;
    my @requests;
    for my $line (split /\n/, $self->read_file($path)) {
        next unless length $line;
        my $req = eval { $json->decode($line) };
        die "bad line in target.log: $line\n$@" unless $req;
        push @requests, $req;
    }
    return @requests;
}

# served($name): the requests target $name (default 'target') has served,
# in the order their handlers returned, as decoded JSON hashes: path,
# raw_query, status (as the handler answered), start_ns and end_ns (unix
# nanoseconds: when the handler was called, and when it returned).
sub served {
    my ($self, $name) = @_;
    my $path = $self->path(($name // 'target') . '.served.log');
    return () unless -e $path;
    my $json = JSON::PP->new->utf8;
    return map {
        eval { $json->decode($_) } // die "bad line in $path: $_\n$@"
    } grep { length } split /\n/, $self->read_file($path);
}

sub clear_upstream {
    my ($self) = @_;
    my $path = $self->path('target.log');
    # The target appends with O_APPEND, so truncating in place is safe.
    truncate($path, 0) or die "truncate $path: $!" if -e $path;
    return;
}

###############################################################################
# nginx

# write_config($http_body): writes nginx.conf. In $http_body, %%TESTDIR%%,
# %%PORT_<NAME>%% (port(lc NAME)) and %%TARGET%% (127.0.0.1:<target port>)
# are substituted.
sub write_config {
    my ($self, $body) = @_;
    my $dir = $self->{dir};

    $body =~ s/%%TESTDIR%%/$dir/g;
    $body =~ s/%%PORT_(\w+)%%/$self->port(lc $1)/ge;
    $body =~ s/%%TARGET%%/'127.0.0.1:' . $self->port('target')/ge;
    die "write_config(): unknown placeholder(s): @{[ $body =~ /(%%\w+%%)/g ]}\n"
        if $body =~ /%%\w+%%/;

    my $load = '';
    if ($self->{module}) {
        my $so = $self->{module_path};
        die "module $so not found: build it first (or set PPROF_MODULE)\n" unless -e $so;
        $load = "load_module $so;\n";
    }

    my $temps = join '',
        map { "    ${_}_temp_path $dir/${_}_temp;\n" }
        qw(client_body proxy fastcgi uwsgi scgi);

    my $conf = <<"EOF";
${load}worker_processes $self->{workers};
pid $dir/nginx.pid;
error_log $dir/error.log $self->{log_level};

events {
    worker_connections 256;
}

http {
    access_log $dir/access.log;
$temps
$body
}
EOF
    return $self->write_whole_config($conf);
}

# write_whole_config($text): nginx.conf exactly as given, for tests that
# run a documented file; nginx_t() and run() use it as they use
# write_config()'s.
sub write_whole_config {
    my ($self, $conf) = @_;
    $self->{config} = $conf;
    $self->write_file('nginx.conf', $conf);
    return $conf;
}

# Ports of the `listen` directives in the current config.
sub _listen_ports {
    my ($self) = @_;
    my %seen;
    return grep { !$seen{$_}++ }
        $self->{config} =~ /(?:^|[;{])\s*listen\s+(?:\S*:)?(\d+)\b/mg;
}

# Runs nginx -t on the written config; returns (exit code, stdout+stderr).
sub nginx_t {
    my ($self) = @_;
    die "nginx_t(): write_config() first\n" unless $self->{config};
    return $self->_capture({}, $NGINX, '-t', '-p', "$self->{dir}/", '-c', $self->path('nginx.conf'));
}

# config_is($body, $want, $name): writes $body as the configuration and
# runs nginx -t: it must fail with output matching $want, or succeed when
# $want is undef. Returns nginx -t's output, warnings included.
sub config_is {
    my ($self, $body, $want, $name) = @_;
    $self->write_config($body);
    my ($rc, $out) = $self->nginx_t;
    if (defined $want) {
        Test::More::isnt($rc, 0, "$name: nginx -t fails");
        Test::More::like($out, $want, "$name: message") or Test::More::diag($out);
    } else {
        Test::More::is($rc, 0, "$name: nginx -t succeeds") or Test::More::diag($out);
    }
    return $out;
}

# Starts nginx and waits until all its listen ports accept connections.
#
# nginx runs with "daemon off" (given by -g, so nginx.conf stays usable by
# hand) as a child of the test: a daemonized master would be reparented to
# PID 1, and where PID 1 does not reap (as in some containers) every run
# would leave a zombie that kill(0) still reports alive. As our child its
# exit status is also known, and checked by done_testing_checks().
sub run {
    my ($self) = @_;
    die "run(): write_config() first\n" unless $self->{config};
    die "run(): nginx already running\n" if $self->{nginx_pid};

    my @cmd = ($NGINX, '-p', "$self->{dir}/", '-c', $self->path('nginx.conf'),
        '-g', 'daemon off;');
    my $stderr = $self->path('nginx.stderr');
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', $stderr or POSIX::_exit(127);
        _exec_child({}, @cmd);
    }
    $self->{nginx_pid} = $pid;
    delete $self->{nginx_status};

    my @ports = $self->_listen_ports;
    die "run(): no 'listen <port>' found in the config\n" unless @ports;
    my $deadline = time + 10;
    while (grep { !_port_open($_) } @ports) {
        if (waitpid($pid, WNOHANG) == $pid) {
            my $status = $?;
            delete $self->{nginx_pid};
            die "nginx failed to start (status $status): @cmd\n"
                . $self->read_file($stderr) . "--- error.log:\n" . $self->_error_log_text;
        }
        if (time > $deadline) {
            $self->stop;
            die "nginx did not listen on all of (@ports) within 10s\n"
                . $self->read_file($stderr) . "--- error.log:\n" . $self->_error_log_text;
        }
        sleep 0.02;
    }
    return $self;
}

# reload(): `nginx -s reload` by signal: HUP to the master, then waits until
# the new workers have started and the old ones have let go of the listening
# sockets (or dies after 10s). Counts the workers write_config asked for.
sub reload {
    my ($self) = @_;
    my $pid = $self->{nginx_pid} or die "reload(): nginx is not running\n";
    my $count = sub { my $re = shift; scalar(() = $self->_error_log_text =~ /$re/g) };
    my $started = $count->(qr/start worker process/);
    my $leaving = $count->(qr/gracefully shutting down/);
    kill 'HUP', $pid;
    my $deadline = time + 10;
    my $n = $self->{workers};
    while ($count->(qr/start worker process/) < $started + $n
        || $count->(qr/gracefully shutting down/) < $leaving + $n)
    {
        die "reload(): no new generation of workers within 10s\n--- error.log:\n"
            . $self->_error_log_text if time > $deadline;
        sleep 0.05;
    }
    return $self;
}

# Gracefully stops nginx (QUIT), KILL after 10s. Records the master's exit
# status for done_testing_checks().
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{nginx_pid} or return;
    kill 'QUIT', $pid;
    my $deadline = time + 10;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) {
            Test::More::diag("nginx master $pid ignored QUIT for 10s, sending KILL");
            # Workers exit with the master normally, but not after a KILL of
            # it, and would keep the ports: kill them too.
            kill 'KILL', _children($pid), $pid;
            waitpid($pid, 0);
            last;
        }
        sleep 0.02;
    }
    $self->{nginx_status} = $?;
    return;
}

# Pids whose parent is $ppid.
sub _children {
    my ($ppid) = @_;
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        push @pids, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) /s && $2 == $ppid;
    }
    return @pids;
}

sub _port_open {
    my ($port) = @_;
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => $port,
        Proto    => 'tcp',
        Timeout  => 1,
    );
    return 0 unless $sock;
    close $sock;
    return 1;
}

###############################################################################
# error.log checks

sub _error_log_text {
    my ($self) = @_;
    my $path = $self->path('error.log');
    return -e $path ? $self->read_file($path) : "(no error.log)\n";
}

sub error_log { $_[0]->_error_log_text }

# Lines of error.log that indicate a crash or a serious error. Lines matching
# $allow (a regexp) are expected by the test and not reported.
sub error_log_problems {
    my ($self, $allow) = @_;
    my $path = $self->path('error.log');
    return () unless -e $path;
    return grep { /$BAD_LOG_LINE/ && !(defined $allow && /$allow/) }
        split /\n/, $self->read_file($path);
}

sub error_log_clean {
    my ($self, $allow) = @_;
    return !$self->error_log_problems($allow);
}

# Call at the end of every .t (before done_testing): stops nginx, so that
# problems during shutdown are seen too, then checks error.log.
# done_testing_checks(allow => qr/.../) ignores expected lines.
sub done_testing_checks {
    my ($self, %opts) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;   # report the .t's line
    $self->stop;
    my @bad = $self->error_log_problems($opts{allow});
    my $status = $self->{nginx_status};
    push @bad, "nginx master exited with wait status $status"
        if defined $status && $status != 0;
    Test::More::ok(!@bad, 'error.log clean')
        or Test::More::diag(join "\n", 'offending error.log lines:', @bad);
    return !@bad;
}

###############################################################################
# Clients

# raw($port_name, $bytes, cert => name, tls => 1, ca => 'ca', timeout => 10,
#     allow_timeout => 0)
# Sends $bytes unchanged and returns everything the server sends until it
# closes the connection. Dies on connection/TLS errors, and on timeout unless
# allow_timeout is set (then returns what arrived so far).
sub raw {
    my ($self, $port_name, $bytes, %opts) = @_;
    my $port    = $self->port($port_name);
    my $tls     = $opts{tls} // 1;
    my $timeout = $opts{timeout} // 10;

    my $sock;
    if ($tls) {
        my $ca = $opts{ca} // 'ca';
        my %cert;
        if (defined $opts{cert}) {
            %cert = (
                SSL_cert_file => $self->path("$opts{cert}.crt"),
                SSL_key_file  => $self->path("$opts{cert}.key"),
            );
            -e $cert{SSL_cert_file} or die "raw(): no certificate $cert{SSL_cert_file}\n";
        }
        $sock = IO::Socket::SSL->new(
            PeerAddr            => '127.0.0.1',
            PeerPort            => $port,
            Timeout             => $timeout,
            SSL_verify_mode     => SSL_VERIFY_PEER,
            SSL_ca_file         => $self->path("$ca.crt"),
            SSL_hostname        => 'localhost',
            SSL_verifycn_name   => 'localhost',
            SSL_verifycn_scheme => 'http',
            %cert,
        ) or die "raw(): TLS connect to 127.0.0.1:$port failed: "
            . ($IO::Socket::SSL::SSL_ERROR || $!) . "\n";
    } else {
        $sock = IO::Socket::INET->new(
            PeerAddr => '127.0.0.1',
            PeerPort => $port,
            Proto    => 'tcp',
            Timeout  => $timeout,
        ) or die "raw(): connect to 127.0.0.1:$port failed: $!\n";
    }
    binmode $sock;

    # The server may answer and close before reading everything (e.g. a
    # 400); keep what it sent instead of dying of SIGPIPE.
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite($sock, $bytes, length($bytes) - $off, $off);
        if (!defined $n) {
            next if $! == EINTR;
            last if $! == EPIPE || $! == ECONNRESET;
            die "raw(): write failed: $!\n";
        }
        $off += $n;
    }

    # Read non-blocking: a readable socket need not hold application data
    # (e.g. a TLS 1.3 session ticket), and a blocking read could then wait
    # past the deadline.
    $sock->blocking(0);
    my $data = '';
    my $deadline = time + $timeout;
    my $select = IO::Select->new($sock);
    while (1) {
        # Data may already be decrypted and buffered inside the TLS layer,
        # where select() cannot see it.
        my $ready = ($tls && $sock->pending) || $select->can_read($deadline - time > 0 ? $deadline - time : 0);
        if (!$ready) {
            die sprintf("raw(): timed out after %ss waiting for the server to close; got %d bytes:\n%s\n",
                $timeout, length $data, substr($data, 0, 2000))
                unless $opts{allow_timeout};
            last;
        }
        my $n = sysread($sock, $data, 65536, length $data);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            last if $! == ECONNRESET;   # e.g. a lingering close cut short
            die "raw(): read failed: " . ($tls ? ($IO::Socket::SSL::SSL_ERROR || $!) : $!) . "\n";
        }
        last if $n == 0;
    }
    close $sock;
    return $data;
}

# parse_responses($raw, [@methods]): splits a byte stream into responses:
# { status, reason, version, headers => { lc name => 'v1, v2' },
#   header_list => [[name, value], ...], body => decoded body }.
# @methods gives the request methods in order, so that responses to HEAD are
# known to have no body. A response without Content-Length or chunked
# encoding takes the rest of the stream.
sub parse_responses {
    my ($self, $raw, $methods) = @_;
    my @methods = @{ $methods || [] };
    my @responses;
    my $pos = 0;
    my $len = length $raw;

    while ($pos < $len) {
        my $end = index($raw, "\r\n\r\n", $pos);
        die "parse_responses(): incomplete header at offset $pos:\n" . substr($raw, $pos) . "\n"
            if $end < 0;
        my ($status_line, @lines) = split /\r\n/, substr($raw, $pos, $end - $pos);
        $pos = $end + 4;

        $status_line =~ m{^HTTP/(\d\.\d) (\d{3})(?: (.*))?$}
            or die "parse_responses(): bad status line: $status_line\n";
        my $r = { version => $1, status => $2, reason => $3 // '', headers => {}, header_list => [] };

        for my $line (@lines) {
            $line =~ /^([^:\s]+):[ \t]*(.*?)[ \t]*$/
                or die "parse_responses(): bad header line: $line\n";
            push @{ $r->{header_list} }, [$1, $2];
            my $name = lc $1;
            $r->{headers}{$name} = exists $r->{headers}{$name} ? "$r->{headers}{$name}, $2" : $2;
        }

        my $method = shift(@methods) // 'GET';
        my $te = $r->{headers}{'transfer-encoding'};
        my $cl = $r->{headers}{'content-length'};

        if ($method eq 'HEAD' || $r->{status} =~ /^(?:1..|204|304)$/) {
            $r->{body} = '';
        } elsif (defined $te && $te =~ /\bchunked\s*$/i) {
            my $body = '';
            while (1) {
                my $eol = index($raw, "\r\n", $pos);
                die "parse_responses(): truncated chunk size\n" if $eol < 0;
                my $size_line = substr($raw, $pos, $eol - $pos);
                $size_line =~ /^([0-9a-fA-F]+)/
                    or die "parse_responses(): bad chunk size line: $size_line\n";
                my $size = hex $1;
                $pos = $eol + 2;
                if ($size == 0) {
                    # Trailer fields (ignored) up to an empty line.
                    while (1) {
                        my $e = index($raw, "\r\n", $pos);
                        die "parse_responses(): truncated chunked trailer\n" if $e < 0;
                        my $trailer = substr($raw, $pos, $e - $pos);
                        $pos = $e + 2;
                        last if $trailer eq '';
                    }
                    last;
                }
                die "parse_responses(): truncated chunk\n" if $pos + $size + 2 > $len;
                $body .= substr($raw, $pos, $size);
                $pos += $size;
                die "parse_responses(): missing CRLF after chunk\n"
                    unless substr($raw, $pos, 2) eq "\r\n";
                $pos += 2;
            }
            $r->{body} = $body;
        } elsif (defined $cl) {
            $cl =~ /^\d+$/ or die "parse_responses(): bad Content-Length: $cl\n";
            die "parse_responses(): body truncated: want $cl bytes, have " . ($len - $pos) . "\n"
                if $pos + $cl > $len;
            $r->{body} = substr($raw, $pos, $cl);
            $pos += $cl;
        } else {
            $r->{body} = substr($raw, $pos);
            $pos = $len;
        }
        push @responses, $r;
    }
    return @responses;
}

# get($port_name, $path, method => 'GET', headers => {..}, body => '...',
#     plus raw() options): one request with Host: localhost and
# Connection: close (both overridable through headers); $path is sent
# verbatim. Returns the parsed response.
sub get {
    my ($self, $port_name, $path, %opts) = @_;
    my $method  = delete $opts{method} // 'GET';
    my $headers = delete $opts{headers} // {};
    my $body    = delete $opts{body};

    my %lc = map { lc($_) => 1 } keys %$headers;
    my $req = "$method $path HTTP/1.1\r\n";
    $req .= "Host: localhost\r\n" unless $lc{host};
    $req .= "Connection: close\r\n" unless $lc{connection};
    for my $name (sort keys %$headers) {
        my $v = $headers->{$name};
        $req .= "$name: $_\r\n" for ref $v eq 'ARRAY' ? @$v : ($v);
    }
    $req .= 'Content-Length: ' . length($body) . "\r\n"
        if defined $body && !$lc{'content-length'};
    $req .= "\r\n";
    $req .= $body if defined $body;

    my $raw = $self->raw($port_name, $req, %opts);
    my ($r) = $self->parse_responses($raw, [$method]);
    die "get(): no response to $method $path\n" unless $r;
    return $r;
}

# URL for curl: https://localhost:<port><path> (http:// with tls => 0).
sub url {
    my ($self, $port_name, $path, %opts) = @_;
    my $scheme = ($opts{tls} // 1) ? 'https' : 'http';
    return "$scheme://localhost:" . $self->port($port_name) . ($path // '/');
}

# curl([{ cert => name, cacert => path|undef }], @args): runs curl -sS in the
# test directory (so -o relative paths land there) and returns
# (exit code, stdout+stderr). --cacert ca.crt is added unless the options
# hash overrides cacert (undef: none) or @args has its own --cacert.
sub curl {
    my ($self, @args) = @_;
    my %opts = ref $args[0] eq 'HASH' ? %{ shift @args } : ();

    my @cmd = ($CURL, '-sS');
    my $cacert = exists $opts{cacert} ? $opts{cacert} : $self->path('ca.crt');
    push @cmd, '--cacert', $cacert
        if defined $cacert && !grep { $_ eq '--cacert' } @args;
    if (defined $opts{cert}) {
        my $crt = $self->path("$opts{cert}.crt");
        -e $crt or die "curl(): no certificate $crt\n";
        push @cmd, '--cert', $crt, '--key', $self->path("$opts{cert}.key");
    }
    # Never let a test hang on a stuck connection.
    push @cmd, '--max-time', 30 unless grep { /^(?:-m|--max-time)$/ } @args;

    return $self->_capture({ chdir => $self->{dir} }, @cmd, @args);
}

###############################################################################
# Internals

# Runs a command without a shell; returns (exit code, stdout+stderr).
# Options: chdir => dir.
sub _capture {
    my ($self, $opts, @cmd) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        _exec_child($opts, @cmd);
    }
    binmode $fh;
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return (_exit_code($?), $out);
}

sub _exit_code {
    my ($status) = @_;
    return $status & 127 ? 128 + ($status & 127) : $status >> 8;
}

# In a forked child: stdin from /dev/null, stderr to stdout, exec. Errors
# are written unbuffered since _exit does not flush.
sub _exec_child {
    my ($opts, @cmd) = @_;
    open STDIN, '<', '/dev/null';
    open STDERR, '>&', \*STDOUT;
    if ($opts->{chdir} && !chdir $opts->{chdir}) {
        syswrite STDOUT, "chdir $opts->{chdir}: $!\n";
        POSIX::_exit(127);
    }
    { no warnings 'exec'; exec { $cmd[0] } @cmd; }
    syswrite STDOUT, "exec $cmd[0]: $!\n";
    POSIX::_exit(127);
}

sub _shutdown {
    my ($self) = @_;
    return unless $self->{owner_pid} && $self->{owner_pid} == $$;
    local ($@, $!, $?);   # don't clobber the test's exit status
    eval { $self->stop };
    eval { $self->stop_target };
    eval { $self->stop_stubs };
    return;
}

sub DESTROY {
    my ($self) = @_;
    $self->_shutdown;
    delete $LIVE{"$self"};
}

1;
