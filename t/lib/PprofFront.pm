package PprofFront;

# Front proxies for the authorization-service tests: a second, plain nginx
# and a Caddy, each started on loopback ports of the test, logging into the
# test's directory, stopped when the test ends, and dying loudly when they
# do not start.
#
#   my $front = front_nginx($t, 'front');   # a PprofTest without the module
#   $front->write_config(...); $front->run;
#   my $caddy = start_caddy($t, 'caddy', $caddyfile);
#   $caddy->log; $caddy->stop;
#
# Both configs take the placeholders of PprofTest::write_config
# (%%PORT_NAME%%, %%TARGET%%, %%TESTDIR%%) with the ports of $t, so a front
# names the gateway's listeners and the Go target as $t does.
#
# Environment:
#   PPROF_CADDY  caddy binary (default: /usr/bin/caddy)

use strict;
use warnings;

use Exporter 'import';
use JSON::PP;
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Time::HiRes qw(sleep time);
use PprofTest;

our @EXPORT_OK = qw(front_nginx start_caddy recipe);

my $CADDY = $ENV{PPROF_CADDY} || '/usr/bin/caddy';

# Live Caddys of this process. This END block is compiled after
# PprofTest's and File::Temp's, so it runs before them: Caddy is gone
# before its directory is removed.
my %LIVE;

END {
    for my $c (grep { defined } values %LIVE) {
        local ($@, $!, $?);
        eval { $c->stop };
    }
}

# recipe($t, $name, FROM => TO, ...): the configuration printed in
# docs/authorization-service.md after `<!-- recipe: $name -->`, with each
# literal FROM replaced by TO. A FROM that does not occur dies, so the
# tests run what the guide prints and notice when it changes.
sub recipe {
    my ($t, $name, @subst) = @_;
    my $doc = $t->read_file($t->root . '/docs/authorization-service.md');
    $doc =~ /^<!-- recipe: \Q$name\E -->\n```\w*\n(.*?)^```$/ms
        or die "recipe(): no recipe '$name' in docs/authorization-service.md\n";
    my $text = $1;
    while (my ($from, $to) = splice @subst, 0, 2) {
        $text =~ s/\Q$from\E/$to/g
            or die "recipe(): '$from' does not occur in recipe '$name'\n";
    }
    return $text;
}

sub front_nginx {
    my ($t, $name) = @_;
    return PprofTest->new(module => 0, within => $t, name => $name);
}

# start_caddy($t, $name, $caddyfile): Caddy with the Caddyfile, in
# <testdir>/$name. The Caddyfile is adapted to JSON first, and the JSON is
# then pinned down whatever the Caddyfile says: no admin endpoint (Caddy's
# is on a fixed port, 2019), no saved copy of the config, no automatic
# HTTPS, every listener on 127.0.0.1, and the log in $name/caddy.log. Caddy
# writes its state under $HOME and the XDG directories, which point into
# $name as well.
sub start_caddy {
    my ($t, $name, $caddyfile) = @_;
    die "start_caddy(): name must be a word\n" unless ($name // '') =~ /^\w+$/;
    -x $CADDY or die "caddy ($CADDY) is missing: make deps installs it\n";

    my $dir = $t->path($name);
    mkdir $dir or die "mkdir $dir: $!";
    my $self = bless { t => $t, name => $name, dir => $dir, owner_pid => $$ }, __PACKAGE__;
    my %env = (HOME => $dir, XDG_CONFIG_HOME => "$dir/config",
        XDG_DATA_HOME => "$dir/data");

    $caddyfile =~ s/%%TESTDIR%%/$t->testdir/ge;
    $caddyfile =~ s/%%PORT_(\w+)%%/$t->port(lc $1)/ge;
    $caddyfile =~ s/%%TARGET%%/'127.0.0.1:' . $t->port('target')/ge;
    die "start_caddy(): unknown placeholder(s): @{[ $caddyfile =~ /(%%\w+%%)/g ]}\n"
        if $caddyfile =~ /%%\w+%%/;
    $t->write_file("$name/Caddyfile", $caddyfile);

    my ($rc, $json) = $self->_caddy(\%env, 'adapt', '--config', "$dir/Caddyfile",
        '--adapter', 'caddyfile');
    die "caddy adapt failed (exit $rc):\n" . $t->read_file("$name/adapt.stderr") if $rc != 0;
    my $conf = eval { JSON::PP->new->decode($json) }
        or die "caddy adapt printed no JSON: $@\n$json";

    $conf->{admin} = { disabled => JSON::PP::true, config => { persist => JSON::PP::false } };
    $conf->{logging}{logs}{default}{writer} = { output => 'file', filename => "$dir/caddy.log" };
    $conf->{logging}{logs}{default}{level} = 'DEBUG';
    my @ports;
    for my $srv (values %{ $conf->{apps}{http}{servers} || {} }) {
        $srv->{automatic_https} = { disable => JSON::PP::true };
        for (@{ $srv->{listen} || [] }) {
            s/^(?:tcp\/)?:/127.0.0.1:/;
            /^127\.0\.0\.1:(\d+)$/ or die "start_caddy(): listener $_ is not a loopback port\n";
            push @ports, $1;
        }
    }
    die "start_caddy(): the Caddyfile has no site\n" unless @ports;
    $self->{ports} = \@ports;
    $t->write_file("$name/caddy.json", JSON::PP->new->canonical->pretty->encode($conf));

    my @cmd = ($CADDY, 'run', '--config', "$dir/caddy.json");
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        @ENV{ keys %env } = values %env;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/caddy.stderr";
        open STDERR, '>&', \*STDOUT;
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    $LIVE{"$self"} = $self;
    weaken($LIVE{"$self"});

    # Someone else's listener would answer on the ports too: Caddy is up
    # once it says so, after it has bound every one of them.
    my $deadline = time + 10;
    while (!$self->_serving || grep { !PprofTest::_port_open($_) } @ports) {
        if (waitpid($pid, WNOHANG) == $pid) {
            my $status = $?;
            delete $self->{pid};
            die "caddy failed to start (status $status): @cmd\n" . $self->_output;
        }
        if (time > $deadline) {
            $self->stop;
            die "caddy did not listen on all of (@ports) within 10s\n" . $self->_output;
        }
        sleep 0.02;
    }
    return $self;
}

sub dir  { $_[0]{dir} }
sub pid  { $_[0]{pid} }
sub ports { @{ $_[0]{ports} } }

# The JSON log lines Caddy has written, decoded.
sub log_entries {
    my ($self) = @_;
    my $path = "$self->{dir}/caddy.log";
    return () unless -e $path;
    my $json = JSON::PP->new;
    return map { $json->decode($_) } grep { length } split /\n/, $self->{t}->read_file($path);
}

# Stops Caddy (TERM, KILL after 10 s); returns its wait status.
sub stop {
    my ($self) = @_;
    return unless $self->{owner_pid} == $$;
    my $pid = delete $self->{pid} or return $self->{status};
    $self->{status} = PprofTest::reap($pid, 'caddy');
    delete $LIVE{"$self"};
    return $self->{status};
}

sub _serving {
    my ($self) = @_;
    my $path = "$self->{dir}/caddy.log";
    return -e $path && $self->{t}->read_file($path) =~ /"msg":"serving initial configuration"/;
}

sub _output {
    my ($self) = @_;
    my $out = '';
    for my $f (qw(caddy.stderr caddy.log)) {
        my $path = "$self->{dir}/$f";
        $out .= "--- $f:\n" . $self->{t}->read_file($path) if -e $path;
    }
    return $out;
}

sub _caddy {
    my ($self, $env, @args) = @_;
    local @ENV{ keys %$env } = values %$env;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>', "$self->{dir}/adapt.stderr" or POSIX::_exit(127);
        { no warnings 'exec'; exec { $CADDY } $CADDY, @args; }
        POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

sub DESTROY {
    my ($self) = @_;
    local ($@, $!, $?);
    eval { $self->stop };
}

1;
