#!/usr/bin/perl
# The .deb of `make deb` in this machine's Debian nginx, as root: lintian
# finds no error; apt-get installs it; the stock /etc/nginx loads the
# module; remove disables it, a reinstall enables it again, an upgrade
# keeps the administrator's choice; purge leaves nothing and nginx -t
# passing.  The package is purged at the end whatever happened.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use Test::More;

my $pkg  = 'libnginx-mod-http-pprof';
my $root = abs_path(dirname(__FILE__) . '/../..');
my $link = '/etc/nginx/modules-enabled/50-mod-http-pprof.conf';
my $snippet = '/usr/share/nginx/modules-available/mod-http-pprof.conf';
my $nginx = '/usr/sbin/nginx';

$ENV{DEBIAN_FRONTEND} = 'noninteractive';
my @apt = ('apt-get', '-y', '-q', '-o', 'DPkg::Lock::Timeout=300');

$> == 0 or BAIL_OUT('run as root: the test installs a package');
for my $tool (qw(apt-get dpkg dpkg-deb dpkg-query lintian man)) {
    system("command -v $tool >/dev/null") == 0
        or BAIL_OUT("$tool not found: make deps installs it");
}
-x $nginx or BAIL_OUT("$nginx not found: make deps installs nginx");

my @debs = glob("$root/build/${pkg}_*.deb");
@debs == 1 or BAIL_OUT('expected one build/' . $pkg . '_*.deb (make deb), '
                       . 'found ' . scalar(@debs));
my $deb = $debs[0];

installed() and BAIL_OUT("$pkg is already installed: purge it first, this "
                         . 'test must leave the system as it found it');
my ($ok, $out) = run($nginx, '-t');
$ok or BAIL_OUT("the stock nginx -t fails before the test:\n$out");

my $tmp = tempdir('pprof-deb-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $touched = 0;
END { local $?; purge_quietly() if $touched }

# A Ctrl-C, a prove timeout or a closed terminal must still run END and
# purge: without a handler, perl dies of the signal and skips it.
$SIG{$_} = sub { exit 1 } for qw(INT TERM HUP);

# A configuration that only a loaded module accepts: the stock snippets,
# then one of the module's directives.
my $probe = "$tmp/probe.conf";
write_file($probe, <<"EOF");
include /etc/nginx/modules-enabled/*.conf;
error_log stderr;
events {}
http {
    pprof_role viewer index;
}
EOF

subtest 'the package' => sub {
    ($ok, $out) = run('lintian', '--fail-on', 'error', $deb);
    ok($ok, 'lintian finds no error') or diag($out);
    unlike($out, qr/^E: /m, 'no E: line') or diag($out);
    note($out) if $out =~ /\S/;

    my $depends = field('Depends');
    my ($abi) = provides_abi();
    ok(defined $abi, "the installed nginx provides an nginx-abi ($abi)");
    like($depends, qr/(?:^|, )\Q$abi\E(?:,|$)/,
         "Depends on $abi, as Debian's libnginx-mod-* do");
    for my $lib (qw(libssl3 libpcre2-8-0 libjansson4 zlib1g libc6)) {
        like($depends, qr/(?:^|, )\Q$lib\E[ ,(]/, "Depends on $lib");
    }
    is(field('Package'), $pkg, 'Package');
    like($deb, qr{/\Q${pkg}_\E\Q${\field('Version')}_${\field('Architecture')}\E\.deb$},
         'file named package_version_arch.deb');

    my $list = `dpkg-deb -c $deb`;
    like($list, qr{ \./usr/share/man/man1/pprof-audit\.1\.gz$}m, 'ships the man page');
    like($list, qr{ \./usr/share/doc/\Q$pkg\E/docs/install\.md$}m, 'ships the docs');
};

subtest 'the module not loaded before' => sub {
    ($ok, $out) = run($nginx, '-t', '-c', $probe);
    ok(!$ok, 'the probe configuration fails without the package');
    like($out, qr/unknown directive "pprof_role"/, 'on the pprof directive');
};

$touched = 1;
subtest 'install' => sub {
    ($ok, $out) = run(@apt, 'install', $deb);
    ok($ok, 'apt-get install ./build/*.deb') or diag($out);
    ok(installed(), 'dpkg says installed');
    is(readlink($link), $snippet, 'enabled through modules-enabled');
    loaded();

    ($ok, $out) = run('/usr/bin/pprof-audit', '--help');
    ok($ok, 'pprof-audit --help exits 0');
    like($out, qr/^usage: pprof-audit verify/, 'pprof-audit runs');
    ($ok, $out) = run('/usr/bin/pprof-audit');
    like($out, qr/^usage:/, 'without arguments: its usage');

    ($ok, $out) = run('man', '-w', 'pprof-audit');
    ok($ok, 'man -w pprof-audit finds the page') or diag($out);
    is($out, "/usr/share/man/man1/pprof-audit.1.gz\n", 'the page installed');
    ok(-s '/usr/share/doc/' . $pkg . '/copyright', 'copyright file');
};

subtest 'remove, then install again' => sub {
    ($ok, $out) = run(@apt, 'remove', $pkg);
    ok($ok, 'apt-get remove') or diag($out);
    ok(!-e $link && !-l $link, 'the snippet no longer enabled');
    is(readlink("$link.removed"), $snippet, 'kept as .removed, as Debian does');
    ok(!-e '/usr/lib/nginx/modules/ngx_http_pprof_module.so', 'module gone');
    not_loaded();

    ($ok, $out) = run(@apt, 'install', $deb);
    ok($ok, 'apt-get install again') or diag($out);
    is(readlink($link), $snippet, 'enabled again');
    ok(!-l "$link.removed", '.removed is gone');
    loaded();
};

subtest 'an upgrade keeps the module disabled by the administrator' => sub {
    unlink($link) or fail("unlink $link: $!");
    ($ok, $out) = run(@apt, 'install', '--reinstall', $deb);
    ok($ok, 'apt-get install --reinstall') or diag($out);
    ok(!-l $link, 'still disabled');
    ($ok, $out) = run($nginx, '-t');
    ok($ok, 'nginx -t passes') or diag($out);
    symlink($snippet, $link) or fail("symlink: $!");
    loaded();
};

subtest 'purge' => sub {
    my @files = grep { -f $_ || -l $_ } split /\n/, `dpkg -L $pkg`;
    ok(@files >= 5, scalar(@files) . ' files listed by dpkg -L');

    ($ok, $out) = run(@apt, 'purge', $pkg);
    ok($ok, 'apt-get purge') or diag($out);
    ok(!installed(), 'dpkg knows nothing of it');
    ok(!-l $link && !-e $link, 'no symlink');
    ok(!-l "$link.removed", 'no .removed symlink');
    my @left = grep { -e $_ || -l $_ } @files;
    is_deeply(\@left, [], 'none of its files is left');
    not_loaded();
};
# Cleanup is cancelled only if the purge really left nothing behind.
$touched = installed() || -l $link || -l "$link.removed";

done_testing();


# The stock configuration loads the snippet (nginx -T shows it, and -t
# passes, which needs the module's file to load), and the module is
# really in: nginx knows its directive.
sub loaded {
    my ($t_ok, $t_out) = run($nginx, '-t');
    ok($t_ok, 'stock nginx -t passes') or diag($t_out);
    my ($d_ok, $dump) = run($nginx, '-T');
    like($dump, qr{^# configuration file \Q$link\E:\nload_module /usr/lib/nginx/modules/ngx_http_pprof_module\.so;$}m,
         'nginx -T: the stock nginx.conf includes the load_module snippet');
    my ($p_ok, $p_out) = run($nginx, '-t', '-c', $probe);
    ok($p_ok, 'a pprof_ directive is known: the module is loaded')
        or diag($p_out);
}

sub not_loaded {
    my ($t_ok, $t_out) = run($nginx, '-t');
    ok($t_ok, 'stock nginx -t passes') or diag($t_out);
    my ($d_ok, $dump) = run($nginx, '-T');
    unlike($dump, qr/ngx_http_pprof_module/, 'nothing loads the module');
    my ($p_ok, $p_out) = run($nginx, '-t', '-c', $probe);
    like($p_out, qr/unknown directive "pprof_role"/, 'its directive unknown');
}

sub installed {
    my $s = `dpkg-query -W -f='\${db:Status-Status}' $pkg 2>/dev/null`;
    return $? == 0 && $s ne 'not-installed';
}

sub provides_abi {
    my $owner = `dpkg-query -S $nginx`;
    $owner =~ s/:.*//s;
    my $provides = `dpkg-query -W -f='\${Provides}' $owner`;
    return $provides =~ /(nginx-abi-[^\s,]+)/;
}

sub field {
    my $v = `dpkg-deb -f $deb $_[0]`;
    chomp $v;
    return $v;
}

sub run {
    my $cmd = join ' ', map { "'$_'" } @_;
    my $output = `$cmd 2>&1 </dev/null`;
    return ($? == 0, $output);
}

sub write_file {
    open(my $fh, '>', $_[0]) or die "$_[0]: $!";
    print $fh $_[1];
    close $fh or die "$_[0]: $!";
}

sub purge_quietly {
    my ($p_ok, $p_out) = run(@apt, 'purge', $pkg);
    diag("cleanup: apt-get purge $pkg failed:\n$p_out") unless $p_ok;
    for my $l ($link, "$link.removed") {
        unlink $l if -l $l;
    }
}
