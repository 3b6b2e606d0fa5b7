#!/usr/bin/perl
# make install DESTDIR=...: exactly Debian's layout for an nginx module,
# nothing more, and each file usable as installed.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Find;
use File::Temp qw(tempdir);
use Test::More;

my $root = abs_path(dirname(__FILE__) . '/../..');
my $doc  = 'usr/share/doc/libnginx-mod-http-pprof';

for my $tool (qw(make man gzip)) {
    system("command -v $tool >/dev/null") == 0
        or BAIL_OUT("$tool not found: make deps installs it");
}

my $dest = tempdir('pprof-install-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $out = `make -C $root -s --no-print-directory install DESTDIR=$dest 2>&1`;
is($?, 0, 'make install DESTDIR succeeds') or diag($out);

my %want = (
    'usr/lib/nginx/modules/ngx_http_pprof_module.so'      => 0644,
    'usr/share/nginx/modules-available/mod-http-pprof.conf' => 0644,
    'usr/bin/pprof-audit'                                 => 0755,
    'usr/share/man/man1/pprof-audit.1.gz'                 => 0644,
    "$doc/README.md"                                      => 0644,
);
for my $dir ('docs', 'docs/examples') {
    opendir(my $dh, "$root/$dir") or die "$dir: $!";
    $want{"$doc/$dir/$_"} = 0644 for grep { -f "$root/$dir/$_" } readdir $dh;
    closedir $dh;
}
ok(exists $want{"$doc/docs/install.md"}, 'the install guide is among the docs');
ok(exists $want{"$doc/docs/examples/nginx.conf"},
    'the complete example is among the docs');

my %got;
find({ no_chdir => 1, wanted => sub {
    return if -d $_ && !-l $_;
    (my $rel = $_) =~ s{^\Q$dest\E/}{};
    $got{$rel} = (lstat $_)[2] & 07777;
} }, $dest);

is_deeply([sort keys %got], [sort keys %want],
          'exactly the files of the layout, nothing else');
for my $f (sort keys %want) {
    next unless exists $got{$f};
    is(sprintf('%04o', $got{$f}), sprintf('%04o', $want{$f}), "mode of $f");
}

is(slurp("$dest/usr/share/nginx/modules-available/mod-http-pprof.conf"),
   "load_module /usr/lib/nginx/modules/ngx_http_pprof_module.so;\n",
   'the snippet loads the module from where it is installed');

is(system('cmp', '-s', "$root/build/ngx_http_pprof_module.so",
          "$dest/usr/lib/nginx/modules/ngx_http_pprof_module.so"), 0,
   'the module installed is the one built');

my $help = `$dest/usr/bin/pprof-audit --help 2>&1`;
is($?, 0, 'installed pprof-audit --help exits 0');
like($help, qr/^usage: pprof-audit verify LOG/, 'and prints its usage');

# man --warnings reports troff mistakes on stderr; the page must have none.
my $man = "$dest/usr/share/man/man1/pprof-audit.1.gz";
my $page = `MANWIDTH=80 man --warnings -l $man 2>$dest/man.err`;
is($?, 0, 'man renders the installed page');
is(slurp("$dest/man.err"), '', 'without a troff warning');
unlink "$dest/man.err";
like($page, qr/^PPROF-AUDIT\(1\)/m, 'section 1 page of pprof-audit');
like($page, qr/verify-profile FILE --pubkey PEM/, 'with both commands');
like($page, qr/EXIT STATUS/, 'and their exit status');

# Building installs only the build set: no test rig on a gateway (Caddy's
# package starts a web server), and no Debian nginx beside an nginx.org
# tree.  make -n prints the apt_install loop with its package list.
sub build_packages {
    my $out = `make -C $root -n --no-print-directory build-deps @_ 2>&1`;
    return $out =~ /for p in ([^;]*);/ ? [split ' ', $1] : $out;
}
my $tgz = ($ENV{NGX_VENDOR} || "$root/../shared/vendor") . '/nginx-1.31.4.tar.gz';
-f $tgz or BAIL_OUT("$tgz not found: set NGX_VENDOR");
my $debian = build_packages();
my $plain = build_packages("NGX_SRC=$tgz");
is_deeply([grep { /^(caddy|golang-go|clang|curl|lintian)$/ } @$debian], [],
    'building for Debian installs no test tool');
ok((grep { $_ eq 'nginx-dev' } @$debian), "Debian's build needs nginx-dev");
is_deeply([grep { /^nginx/ } @$plain], [],
    "an nginx.org tree's build installs no Debian nginx");
ok((grep { $_ eq 'libjansson-dev' } @$plain), 'but the libraries it links');

done_testing();

sub slurp {
    open(my $fh, '<', $_[0]) or return "$_[0]: $!";
    local $/;
    return scalar <$fh>;
}
