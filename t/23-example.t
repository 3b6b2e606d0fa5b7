#!/usr/bin/perl

# The documented examples run as printed, and the docs stand alone.
#
# - docs/examples/nginx.conf, the complete file the README points to,
#   with only the paths and ports its header lists replaced: nginx -t
#   passes, a certificate of the SRE namespace gets a heap profile from the
#   Go target, no certificate gets 401, and the profile's at= stamp has
#   the precision docs/provenance.md states.
# - README.md and docs/ cite no file a user's clone lacks (SPEC.md,
#   ../shared) and no section numbers of one, the directive index lists
#   every directive, and no page calls verify-profile missing.
# - make run's demo (t/demo/run.sh), on free ports in the test's
#   directory: its banner is the last thing it prints, Ctrl-C ends it
#   with "stopped", a second run reuses its keys (and the audit chain
#   goes on), a process that dies is named; its scraper's location has
#   the capture rate the docs give for continuous profilers.
# - make run itself, in a copy of the tree's layout whose nginx source is
#   a stand-in: a build that works is not shown, one that fails is, with
#   what to read, and the demo does not start.

use strict;
use warnings;

use File::Copy qw(copy);
use POSIX ();
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use Test::More;
use PprofTest;

my $t = PprofTest->new;
my $root = $t->root;
my $d = $t->testdir;

###############################################################################
# docs/examples/nginx.conf

my $conf = $t->read_file("$root/docs/examples/nginx.conf");
like($t->read_file("$root/README.md"),
    qr/fragment.*\(docs\/examples\/nginx\.conf\)/s,
    'README: the minimal configuration is a fragment; the complete file is linked');

# The replacements its header announces, each of which must occur.
my $module = $ENV{PPROF_MODULE} || "$root/build/ngx_http_pprof_module.so";
my @subst = (
    '/usr/lib/nginx/modules/ngx_http_pprof_module.so' => $module,
    '/etc/nginx/pprof/' => "$d/",
    '/var/log/nginx/'   => "$d/",
    '/run/'             => "$d/",
    'listen 443'        => 'listen 127.0.0.1:' . $t->port('tls'),
    '127.0.0.1:6060'    => '127.0.0.1:' . $t->port('target'),
);
my ($header) = $conf =~ /\A((?:#.*\n)+)/;
while (my ($from, $to) = splice @subst, 0, 2) {
    like($header, qr/\Q$from\E/, "the header announces: $from");
    ok($conf =~ s/\Q$from\E/$to/g, "it occurs: $from");
}

$t->pki;
copy($t->path('ca.crt'), "$d/clients-ca.crt") or die "copy: $!";
$t->client_cert('sre', subject => '/CN=alice',
    san => 'URI:spiffe://prod.example/ns/sre/alice');
$t->client_cert('dev', subject => '/CN=bob',
    san => 'URI:spiffe://prod.example/ns/dev/bob');
$t->start_target;

$t->write_whole_config($conf);
my ($rc, $out) = $t->nginx_t;
is($rc, 0, 'nginx -t passes') or diag($out);
# Only root can switch to www-data; elsewhere nginx says it ignores `user`.
my @warnings = grep { $> == 0 || !/"user" directive makes sense only/ }
    $out =~ /^(.*\[(?:warn|emerg|alert)\].*)$/mg;
is_deeply(\@warnings, [], '... without a warning');
$t->run;

my $r = $t->get('tls', '/debug/pprof/heap', cert => 'sre');
is($r->{status}, 200, 'an SRE certificate: heap');
my $profile;
gunzip(\$r->{body} => \$profile) or die "gunzip: $GunzipError\n";
my ($at) = $profile =~ /pprof-gateway: endpoint=heap .* at=([-0-9T:.]+Z)/;
like($at // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}000Z\z/,
    'at= has six decimals and millisecond precision');
is(scalar $t->upstream_requests, 1, '... from the Go target');

$r = $t->get('tls', '/debug/pprof/heap');
is($r->{status}, 401, 'no certificate: 401');
like($r->{body}, qr/^pprof-gateway: unauthenticated:/, '... with the reason');
$r = $t->get('tls', '/debug/pprof/heap', cert => 'dev');
is($r->{status}, 403, 'a dev certificate: 403 on heap');
is($t->get('tls', '/debug/pprof/cmdline', cert => 'dev')->{status}, 200,
    '... 200 on cmdline');
is(scalar $t->upstream_requests, 2, 'only allowed requests reached the target');
like($t->settled_file('pprof_audit.jsonl'), qr/"decision":"deny","reason":"unauthenticated"/,
    'the audit log is where the file says');

$t->done_testing_checks;

###############################################################################
# The pages stand alone and say what is true.

my @pages = ("$root/README.md", glob("$root/docs/*.md"), glob("$root/docs/*.json"),
    glob("$root/docs/examples/*"));
ok(@pages > 10, 'the pages');
for my $page (@pages) {
    my $name = $page =~ s/^\Q$root\E\///r;
    my $text = $t->read_file($page);
    my @bad;
    push @bad, $1 while $text =~ /^(.*(?:SPEC\.md|\.\.\/shared|verify-profile` does not exist).*)$/mg;
    # A section sign is for RFCs only ("RFC 7515 §2", "RFC 7518 §6.2.1.2").
    while ($text =~ /^(.*)$/mg) {
        my $line = $1;
        push @bad, $line if $line =~ s/RFC \d+,? §\s*[\d.]+//gr =~ /§/;
    }
    is_deeply(\@bad, [], "$name: no citation of files or sections a clone lacks");
}

my $dir = $t->read_file("$root/docs/directives.md");
my ($index) = $dir =~ /^- \[Directives\]\(#directives\):(.*?)^- /ms;
my @missing = grep { $index !~ /\[\Q$_\E\]\(#\Q$_\E\)/ }
    $dir =~ /^### (pprof\w*)$/mg;
is_deeply(\@missing, [], 'directives.md: the index lists every directive');

my $prov = $t->read_file("$root/docs/provenance.md");
my @at = $prov =~ /\bat=(\S+)/g;
ok(@at > 0, 'provenance.md shows at=');
is_deeply([grep { !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}000Z$/ } @at], [],
    '... always with millisecond precision');
unlike($prov, qr/RFC 3339 UTC with microseconds/, '... and does not promise microseconds');


###############################################################################
# make run's demo

my $audit_tool = $ENV{PPROF_AUDIT} || "$root/build/pprof-audit";
-x $audit_tool or die "pprof-audit is missing ($audit_tool): run make tools\n";
my $demo = "$d/demo";
my $demo_port = $t->port('demo');

# Demos still running when the test dies are stopped with it.
my @demo_groups;
END { kill 'TERM', map { -$_ } @demo_groups if @demo_groups }

# Starts the demo in a process group of its own, as a shell starts a
# foreground job; returns (pid, output pipe, output up to the banner's end).
sub demo_start {
    pipe my $rd, my $wr or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        POSIX::setpgid(0, 0);
        close $rd;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>&', $wr;
        open STDERR, '>&', $wr;
        $ENV{PPROF_DEMO_DIR} = $demo;
        $ENV{PPROF_DEMO_PORT} = $demo_port;
        $ENV{PPROF_DEMO_UPSTREAM} = '127.0.0.1:' . $t->port('demo_target');
        $ENV{PPROF_MODULE} = $module;
        $ENV{NGINX} = $ENV{PPROF_NGINX} if $ENV{PPROF_NGINX};
        { no warnings 'exec'; exec 'bash', "$root/t/demo/run.sh"; }
        POSIX::_exit(127);
    }
    close $wr;
    push @demo_groups, $pid;
    my $out = '';
    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 30;
        while (my $line = <$rd>) {
            $out .= $line;
            last if $line =~ /Ctrl-C stops the gateway/;
        }
        alarm 0;
    };
    $out =~ /Ctrl-C stops the gateway/ or do {
        kill 'TERM', -$pid;
        waitpid($pid, 0);
        die "the demo printed no banner:\n$out";
    };
    return ($pid, $rd, $out);
}

# The rest of its output once it has exited, and its exit code.
sub demo_end {
    my ($pid, $rd) = @_;
    my $rest = do { local $/; <$rd> } // '';
    waitpid($pid, 0);
    @demo_groups = grep { $_ != $pid } @demo_groups;
    return ($rest, $? >> 8);
}

sub demo_curl {
    my ($who, $path) = @_;
    return `curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert '$demo/ca.crt' --cert '$demo/$who.crt' --key '$demo/$who.key' 'https://localhost:$demo_port$path'`;
}

my ($pid, $rd, $banner) = demo_start();
like($banner, qr/\A\n  pprof gateway: https:\/\/localhost:$demo_port\//,
    'demo: the banner is all it prints');
like($banner, qr/its keys and certificates: new; kept in \Q$demo\E/,
    'demo: the banner says the keys are new and kept');
is(demo_curl('operator', '/debug/pprof/heap'), '200', 'demo: the operator gets heap');
my ($demo_loc) = $t->read_file("$demo/nginx.conf")
    =~ /^( *location \/debug\/pprof\/ \{\n.*?^ *\})$/ms;
like($demo_loc // '', qr/^ *pprof_identity cert apikey;$/m,
    "demo: the scraper's API key is read in its location");
like($demo_loc // '', qr/^ *pprof_rate capture 7r\/m burst=2;$/m,
    '... which has the rate for Parca and Alloy: capture 7r/m burst=2');
my ($apikey) = $banner =~ m{https://scraper:(\w+)\@localhost};
my $ca = $t->read_file("$demo/ca.crt");

kill 'INT', -$pid;                       # Ctrl-C reaches the whole job
my ($rest, $code) = demo_end($pid, $rd);
is($rest, "\nstopped\n", 'demo: Ctrl-C says stopped, and nothing else');
is($code, 0, '... and exits 0');
ok(!PprofTest::_port_open($demo_port), '... and nginx is gone');

($pid, $rd, $banner) = demo_start();
like($banner, qr/its keys and certificates: reused from the last run/,
    'demo, second run: the banner says the keys are reused');
is($t->read_file("$demo/ca.crt"), $ca, '... the same CA');
like($banner, qr{https://scraper:\Q$apikey\E\@localhost}, '... the same API key');
is(demo_curl('viewer', '/debug/pprof/cmdline'), '200', '... the viewer still gets cmdline');

# nginx dies: the demo says which process ended, not "stopped".
my $master = $t->read_file("$demo/nginx.pid") =~ s/\s+//gr;
kill 'TERM', $master;
($rest, $code) = demo_end($pid, $rd);
like($rest, qr/^nginx exited \(status \d+\); see \Q$demo\E\/logs$/m,
    'demo: a process that ends is named');
unlike($rest, qr/stopped/, '... and is not "stopped"');
is($code, 1, '... exit 1');
my $verify = `'$audit_tool' verify '$demo/logs/pprof_audit.jsonl' --pubkey '$demo/audit.pub' 2>&1`;
is($?, 0, 'demo: the audit chain of both runs verifies with the kept key')
    or diag($verify);

# A key file missing: everything is made anew.
unlink "$demo/scraper.apikey" or die "unlink: $!";
($pid, $rd, $banner) = demo_start();
like($banner, qr/its keys and certificates: new/, 'demo: a lost key file means new keys');
isnt($t->read_file("$demo/ca.crt"), $ca, '... a new CA');
kill 'INT', -$pid;
($rest, $code) = demo_end($pid, $rd);
is($rest, "\nstopped\n", '... stopped again');


###############################################################################
# make run's build: quiet when it works, shown when it fails
#
# The Makefile runs in a directory of its own (its build/ is there, not in
# the tree), with links to the sources, and an nginx source whose
# configure writes an objs/Makefile that only talks, then fails or copies
# the module under test.  pprof-target and pprof-audit are made up to date
# there, so nothing is compiled; t/demo/run.sh is a stand-in too.

my $mr = "$d/makerun";
my $fake_src = "$d/makerun-nginx-src";
mkdir $_ or die "mkdir $_: $!" for $mr, $fake_src, "$mr/t", "$mr/t/demo";
for my $f (qw(Makefile config policy auth proxy ngx_pprof_module tools t/target)) {
    symlink("$root/$f", "$mr/$f") or die "symlink $f: $!";
}
$t->write_file("$mr/t/demo/run.sh", "echo 'the demo starts'\n");
$t->write_file("$fake_src/conf_flags", "NGX_CONF_FLAGS=()\n");
$t->write_file("$fake_src/configure", <<"SH");
#!/bin/sh
echo 'checking for OS'
mkdir -p objs
cat > objs/Makefile <<'MK'
modules:
\t\@echo 'cc -c objs/addon/ngx_pprof_module/ngx_http_pprof_module.o'
\t\@echo 'COMPILER CHATTER'
\t\@if [ -n "\$\$PPROF_BREAK_BUILD" ]; then \\
\t    echo 'ngx_http_pprof_module.c:1:1: error: BROKEN ON PURPOSE'; exit 1; fi
\tcp '$module' objs/ngx_http_pprof_module.so
MK
SH
chmod 0755, "$fake_src/configure" or die "chmod: $!";
mkdir "$mr/build" or die "mkdir: $!";
system('mkdir', '-p', "$mr/build/gen/proxy") == 0 or die "mkdir -p";
# The sources first: make compares nanoseconds, and a tool touched a tick
# before them would be rebuilt from the empty generated ones.
for my $group ([qw(gen/proxy/profile.pb-c.c gen/proxy/profile.pb-c.h)],
               [qw(pprof-target pprof-audit)]) {
    system('touch', map { "$mr/build/$_" } @$group) == 0 or die "touch";
}

sub make_run_log {
    my $log = "$mr/build/make-run.log";
    return -e $log ? $t->read_file($log) : '';
}

# make run as a user types it, with no make of ours around it.
sub make_run {
    my (%env) = @_;
    my $nginx_bin = $ENV{PPROF_NGINX} || '/usr/sbin/nginx';
    local %ENV = %ENV;
    delete @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES NGX_SRC NGINX_SRC)};
    @ENV{keys %env} = values %env;
    my $out = `cd '$mr' && make run NGX_SRC='$fake_src' NGINX='$nginx_bin' 2>&1`;
    return ($out, $? >> 8);
}

my ($mk_out, $mk_code) = make_run(PPROF_BREAK_BUILD => 1);
isnt($mk_code, 0, 'make run, a failed build: make fails');
like($mk_out, qr/\Abuilding the module, the demo service and pprof-audit \(output in build\/make-run\.log\)\n/,
    '... having said where the build output goes');
like($mk_out, qr/^ngx_http_pprof_module\.c:1:1: error: BROKEN ON PURPOSE$/m,
    "... shows the compiler's error");
like($mk_out, qr/^COMPILER CHATTER\n(?s:.*)^make run: the build failed; its output is above and in build\/make-run\.log$/m,
    '... then says the build failed, after the output');
like(make_run_log(), qr/BROKEN ON PURPOSE/,
    '... which is in build/make-run.log');
unlike($mk_out, qr/the demo starts/, '... and the demo does not start');

($mk_out, $mk_code) = make_run();
is($mk_code, 0, 'make run, a build that works: 0');
is($mk_out, "building the module, the demo service and pprof-audit (output in build/make-run.log)\n"
    . "the demo starts\n", '... prints one line before the demo, no build output');
like(make_run_log(), qr/^COMPILER CHATTER$/m,
    '... which went to build/make-run.log');
ok(-f "$mr/build/ngx_http_pprof_module.so", '... the module was built there');

done_testing;
