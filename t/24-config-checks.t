#!/usr/bin/perl

# What nginx -t says about a configuration that parses but cannot work:
# a "pprof on" location without proxy_pass as its content (refused), a
# read timeout shorter than the longest capture (refused where written,
# raised where not), a location no endpoint can reach, and roles that
# guard nothing (warnings).  Each message names where to look, the
# directive's own line included.

use strict;
use warnings;

use Test::More;
use PprofTest;

my $t = PprofTest->new;

my $audit = "pprof_audit_log audit.jsonl;\n";
my $roles = "pprof_role viewer index cmdline;\npprof_bind ~^spiffe://x/ viewer;\n";
my $pass = 'proxy_pass http://127.0.0.1:1;';

# A server whose body is $inside, one directive a line so that lines count.
# Plain HTTP: its identity is not a certificate, which nginx -t would warn
# about.
sub server {
    my ($inside) = @_;
    $inside =~ s/([;{])\s*/$1\n/g;
    return "server {\nlisten 127.0.0.1:%%PORT_X%%;\npprof_identity anonymous;\n"
        . "$inside\n}\n";
}

# The line of the configuration file on which $re first matches.
sub line_of {
    my ($re) = @_;
    my @lines = split /\n/, $t->read_file('nginx.conf');
    for my $i (0 .. $#lines) {
        return $i + 1 if $lines[$i] =~ $re;
    }
    die "line_of(): no line matches $re\n";
}

# nginx -t must pass, and print no warning beyond those in @want.
sub silent {
    my ($body, $name) = @_;
    my $out = $t->config_is($audit . $body, undef, $name);
    unlike($out, qr/\[warn\]/, "$name: no warning") or diag($out);
}

sub warns {
    my ($body, $want, $name) = @_;
    my $out = $t->config_is($audit . $body, undef, $name);
    like($out, $want, "$name: warning") or diag($out);
    return $out;
}

sub refused {
    my ($body, $want, $name) = @_;
    return $t->config_is($audit . $body, $want, $name);
}

my $conf = $t->path('nginx.conf');

# --- pprof on needs proxy_pass as its content ---------------------------------

my $nopass = qr/\[emerg\].*"pprof on" in location "([^"]+)" has no proxy_pass: the module only judges requests, so allowed ones would get nginx's static files; add "proxy_pass http:\/\/<Go target>;" to the location \(or "pprof off;" to a nested location that is not for pprof\) in (\S+):(\d+)\n/;
my $other = qr/\[emerg\].*"pprof on" in location "([^"]+)" has a content directive other than proxy_pass \(such as fastcgi_pass, grpc_pass, uwsgi_pass, scgi_pass or pprof_status\), which would answer allowed requests instead of the Go target: keep only proxy_pass in (\S+):(\d+)\n/;

sub no_pass {
    my ($body, $location, $name) = @_;
    my $out = refused(server($body), $nopass, $name);
    my ($loc, $file, $line) = $out =~ $nopass;
    is($loc, $location, "$name: names the location");
    is("$file:$line", "$conf:" . line_of(qr/^pprof on;/), "$name: at the pprof on line");
}

no_pass('location /debug/pprof/ { pprof on; }', '/debug/pprof/', 'no content');
no_pass("location /debug/pprof/ { pprof on; $_ }", '/debug/pprof/', "content $_")
    for 'fastcgi_pass 127.0.0.1:1;', 'grpc_pass 127.0.0.1:1;',
        'uwsgi_pass 127.0.0.1:1;', 'scgi_pass 127.0.0.1:1;', 'return 200 ok;',
        'root /tmp;', 'try_files $uri =404;';
no_pass("location /debug/pprof/ { pprof on; if (\$arg_x) { $pass } }",
    '/debug/pprof/', 'proxy_pass only in if');
no_pass("location /debug/pprof/ { pprof on; limit_except GET { $pass } }",
    '/debug/pprof/', 'proxy_pass only in limit_except');
no_pass("location /debug/pprof/ { pprof on; $pass location /debug/pprof/heap { } }",
    '/debug/pprof/heap', 'nested location: proxy_pass is not inherited');
no_pass("location /debug/pprof/ { pprof on; $pass location /debug/pprof/heap { pprof_status; } }",
    '/debug/pprof/heap', 'nested pprof_status inherits pprof on');
# Fail closed: nginx -t cannot tell a location that denies everything.
no_pass("location /debug/pprof/ { pprof on; $pass location /debug/pprof/cmdline { $_ } }",
    '/debug/pprof/cmdline', "nested location with only $_")
    for 'return 403;', 'deny all;';
no_pass('location @pprof { pprof on; }', '@pprof', 'named location');

# proxy_pass first, another content directive after it: nginx keeps the last.
for my $content ('fastcgi_pass 127.0.0.1:2;', 'grpc_pass 127.0.0.1:2;', 'pprof_status;') {
    my $out = refused(server("location /debug/pprof/ { pprof on; $pass $content }"),
        $other, "proxy_pass then $content");
    my ($loc, $file, $line) = $out =~ $other;
    is("$loc $file:$line", "/debug/pprof/ $conf:" . line_of(qr/^pprof on;/),
        "proxy_pass then $content: location and line");
}
refused(server("location /debug/pprof/ { pprof on; $pass if (\$arg_x) { fastcgi_pass 127.0.0.1:2; } }"),
    $other, 'fastcgi_pass inside if');

# The line is where "pprof on" was written, in an included file too.
$t->write_file('pprof.inc', "# pprof\n\nlocation /debug/pprof/ {\n    pprof on;\n}\n");
{
    my $out = refused(server('include pprof.inc;'), $nopass, 'included file');
    my (undef, $file, $line) = $out =~ $nopass;
    is("$file:$line", $t->path('pprof.inc') . ':4', 'included file: its own file and line');
}

silent($roles . server("location /debug/pprof/ { pprof on; $pass }"), 'proxy_pass');
silent($roles . server("location /debug/pprof/ { pprof on; $pass if (\$arg_x) { return 403; } "
    . "limit_except GET { deny all; } }"), 'proxy_pass with if and limit_except');
silent($roles . server("location /debug/pprof/ { pprof on; $pass if (\$arg_x) { $pass } }"),
    'proxy_pass in the location and in its if');
silent($roles . server("location /debug/pprof/ { pprof on; set \$go 127.0.0.1:1; proxy_pass http://\$go; }"),
    'proxy_pass with a variable host');
silent($roles . server("location /debug/pprof/ { pprof on; $pass location /debug/pprof/heap { $pass } "
    . "location /debug/pprof/x { pprof off; return 404; } }"),
    'nested locations: own proxy_pass, or pprof off');
silent($roles . server("location \@pprof { pprof on; $pass } location /debug/pprof/ { error_page 418 = \@pprof; return 418; }"),
    'named location with proxy_pass');
silent($roles . server('location /authz/ { pprof_authz envoy; pprof_trusted_proxies 127.0.0.1; pprof_identity anonymous; }'),
    'pprof_authz needs no proxy_pass');
silent(server('location /static/ { root /tmp; } location /app/ { fastcgi_pass 127.0.0.1:1; }'),
    'locations without pprof are left alone');

# --- proxy_read_timeout against pprof_max_seconds ------------------------------

my $short = qr/\[emerg\].*proxy_read_timeout (\d+)ms of location "([^"]+)" is shorter than its pprof_max_seconds (\d+) plus 10 seconds for Go to send the profile: the longest captures would end in 504; set proxy_read_timeout to (\d+)s or more, or lower pprof_max_seconds in (\S+):(\d+)\n/;

sub short {
    my ($body, $want, $name) = @_;
    my $out = refused($body, $short, $name);
    my @got = $out =~ $short;
    $got[4] .= ':' . pop @got;
    is("@got", "@$want[0..3] $conf:" . line_of($want->[4]), "$name: values and line");
}

short(server("location /debug/pprof/ { pprof on; proxy_read_timeout 2s; pprof_max_seconds 5; $pass }"),
    [2000, '/debug/pprof/', 5, 15, qr/^proxy_read_timeout 2s;/], 'timeout under the capture');
short(server("location /debug/pprof/ { pprof on; proxy_read_timeout 14s; pprof_max_seconds 5; $pass }"),
    [14000, '/debug/pprof/', 5, 15, qr/^proxy_read_timeout 14s;/], 'timeout without the margin');
short("proxy_read_timeout 30s;\n" . server("location /debug/pprof/ { pprof on; $pass }"),
    [30000, '/debug/pprof/', 30, 40, qr/^proxy_read_timeout 30s;/],
    'http level timeout against the default pprof_max_seconds');
short(server("proxy_read_timeout 20s; location /debug/pprof/ { pprof on; pprof_max_seconds 60; $pass }"),
    [20000, '/debug/pprof/', 60, 70, qr/^proxy_read_timeout 20s;/], 'server level timeout');
short(server("location /debug/pprof/ { pprof on; pprof_max_seconds 60; proxy_read_timeout 70s; $pass "
    . "location /debug/pprof/profile { pprof_max_seconds 65; $pass } }"),
    [70000, '/debug/pprof/profile', 65, 75, qr/^proxy_read_timeout 70s;/],
    'nested location inherits the written timeout');

silent(server("location /debug/pprof/ { pprof on; proxy_read_timeout 15s; pprof_max_seconds 5; $pass }"),
    'timeout covers the capture');
silent("proxy_read_timeout 30s;\n"
    . server("location /debug/pprof/ { pprof on; pprof_max_seconds 60; proxy_read_timeout 90s; $pass } "
        . "location /app/ { $pass }"),
    'location overrides a short http level timeout');
silent(server("location /debug/pprof/ { pprof on; pprof_max_seconds 86400; $pass } location /app/ { proxy_read_timeout 1s; $pass }"),
    'no timeout written for pprof: nothing to refuse');

# --- a location that no endpoint can reach --------------------------------------

my $unreach = qr/\[warn\].*location "([^"]+)" with "pprof on" matches no endpoint under pprof_prefix "([^"]+)": every request would be 404 unknown_endpoint; make the location's path and pprof_prefix agree in (\S+):(\d+)\n/;

sub unreachable {
    my ($body, $location, $prefix, $name) = @_;
    my $out = warns($roles . server($body), $unreach, $name);
    my ($loc, $pre, $file, $line) = $out =~ $unreach;
    is("$loc $pre $file:$line", "$location $prefix $conf:" . line_of(qr/^pprof on;/),
        "$name: location, prefix and line");
    my @all = $out =~ /matches no endpoint/g;
    is(scalar @all, 1, "$name: one warning");
}

unreachable("location /pprof/ { pprof on; $pass }", '/pprof/', '/debug/pprof/', 'prefix elsewhere');
unreachable("location /debug/pprof-old/ { pprof on; $pass }", '/debug/pprof-old/', '/debug/pprof/', 'sibling prefix');
unreachable("location /debug/pprof/ { pprof on; pprof_prefix /gw/debug/pprof/; $pass }",
    '/debug/pprof/', '/gw/debug/pprof/', 'pprof_prefix set elsewhere');
unreachable("location = /debug/pprof { pprof on; $pass }", '/debug/pprof', '/debug/pprof/',
    'exact location without the slash');
unreachable("location = /debug/pprof/heap/ { pprof on; $pass }", '/debug/pprof/heap/', '/debug/pprof/',
    'exact location with a second segment');
unreachable("location ~ ^/x/(heap|y)\$ { pprof on; $pass }", '^/x/(heap|y)$', '/debug/pprof/',
    'regex that matches no endpoint');
unreachable("location ~ \\.php\$ { pprof on; $pass }", '\.php$', '/debug/pprof/', 'regex for another kind');
unreachable("location /debug/pprof/ { pprof on; $pass location /debug/pprof/heap/ { $pass } }",
    '/debug/pprof/heap/', '/debug/pprof/', 'nested location below an endpoint');

unreachable("rewrite ^/old/(.*)\$ /pprof/\$1; location /pprof/ { pprof on; $pass }", '/pprof/', '/debug/pprof/',
    'a server level rewrite does not change what the location receives');

# A rewrite in the location may bring any path under the prefix.
silent($roles . server("location /rw/ { pprof on; rewrite ^/rw/(.*)\$ /debug/pprof/\$1 break; $pass }"),
    'rewrite in the location');
silent($roles . server("location /rw/ { pprof on; if (\$arg_x) { rewrite ^/rw/(.*)\$ /debug/pprof/\$1 break; } $pass }"),
    'rewrite in an if of the location');
silent($roles . server("if (\$arg_y) { rewrite ^/a\$ /debug/pprof/ last; } location /debug/pprof/ { pprof on; $pass }"),
    'rewrite still parses in a server if');
silent($roles . server("location / { pprof on; $pass }"), 'location / reaches the prefix');
silent($roles . server("location /debug/pprof/heap { pprof on; $pass }"), 'one endpoint');
silent($roles . server("location = /debug/pprof/ { pprof on; $pass }"), 'exact index');
silent($roles . server("location = /debug/pprof/my_profile { pprof on; $pass }"), 'exact custom profile');
silent($roles . server("location ~ ^/debug/pprof/(heap|goroutine)\$ { pprof on; $pass }"), 'regex of endpoints');
silent($roles . server("location ~* /PROFILE\$ { pprof on; $pass }"), 'caseless regex');
# Backtracking past PCRE's match limit on the longer endpoint names: an
# error is no answer, so nothing is said.
silent($roles . server('location ~ ^(/?[a-z]*)*[0-9]$ { pprof on; ' . $pass . ' }'),
    'a regex PCRE gives up on');
silent($roles . server("location /gw/debug/pprof/ { pprof on; pprof_prefix /gw/debug/pprof/; "
    . "proxy_pass http://127.0.0.1:1/debug/pprof/; }"), 'prefix set to the location');
silent($roles . server("location \@p { pprof on; $pass } location /debug/pprof/ { pprof on; $pass }"),
    'named locations are not judged');

# --- one warning per location, not one per "if" or limit_except block ----------

{
    my $out = $t->config_is("pprof_role viewer index;\nserver {\nlisten 127.0.0.1:%%PORT_X%%;\n"
        . "location /debug/pprof/ {\npprof on;\n$pass\nif (\$arg_x) {\nset \$y 1;\n}\n"
        . "limit_except GET {\ndeny all;\n}\n}\n}\n", undef, 'if and limit_except blocks');
    my @audit = $out =~ /(has no pprof_audit_log)/g;
    is(scalar @audit, 1, 'if and limit_except blocks: the audit log warning once') or diag($out);
    my @cert = $out =~ /(never sees a certificate)/g;
    is(scalar @cert, 1, 'if and limit_except blocks: the certificate warning once') or diag($out);
}

# --- roles that guard nothing ---------------------------------------------------

my $unguarded = qr/\[warn\].*pprof_role or pprof_bind is set but no location has "pprof on" or "pprof_authz": they guard nothing, and a plain proxy_pass leaves the profiles open; add "pprof on" to the location that proxies them in (\S+):(\d+)\n/;
{
    my $out = warns($roles . server("location / { $pass }"), $unguarded, 'roles without pprof on');
    my ($file, $line) = $out =~ $unguarded;
    is("$file:$line", "$conf:" . line_of(qr/^pprof_role viewer/), 'roles without pprof on: first role line');
    $out = warns("pprof_bind alice viewer;\n" . server("location / { pprof_role viewer index; $pass }"),
        $unguarded, 'bind without pprof on');
    ($file, $line) = $out =~ $unguarded;
    is("$file:$line", "$conf:" . line_of(qr/^pprof_bind alice/), 'bind without pprof on: its line');
}
silent(server("location / { $pass }"), 'no roles, no pprof: nothing to say');
silent($roles . server('location /authz/ { pprof_authz forward; pprof_trusted_proxies 127.0.0.1; pprof_identity anonymous; }'),
    'roles used by pprof_authz');

my $direct = qr/\[warn\].*location "([^"]+)" has no "pprof on" but its proxy_pass "([^"]+)" sends requests to pprof_prefix "\/debug\/pprof\/": the roles \(first in (\S+):(\d+)\) do not guard it; add "pprof on" to it in (\S+):(\d+)\n/;
{
    my $body = $roles . server("location /debug/pprof/ { pprof on; $pass } "
        . "location /prof/ { proxy_pass http://127.0.0.1:1/debug/pprof/; }");
    my $out = warns($body, $direct, 'proxy_pass to the profiles without pprof on');
    my ($loc, $url, $file, $line) = $out =~ $direct;
    is("$loc $url $file:$line", "/prof/ http://127.0.0.1:1/debug/pprof/ $conf:" . line_of(qr/^pprof_role/),
        'proxy_pass to the profiles: location, URL and role line');
    unlike($out, qr/guard nothing/, 'a pprof on location elsewhere: roles are used');
}
silent(server("location /prof/ { proxy_pass http://127.0.0.1:1/debug/pprof/; }"),
    'proxy_pass to the profiles without roles');
silent($roles . server("location /debug/pprof/ { pprof on; $pass } "
    . "location /x/ { proxy_pass http://127.0.0.1:1\$request_uri; } "
    . "location /y/ { proxy_pass http://127.0.0.1:1/debug/pprofiler/; }"),
    'proxy_pass to a variable or another path');

my $under = qr/\[warn\].*location "([^"]+)" is under pprof_prefix "\/debug\/pprof\/" and has a proxy_pass but no "pprof on": the roles \(first in (\S+):(\d+)\) do not guard it; add "pprof on" to it in (\S+):(\d+)\n/;
{
    # A second server proxies the prefix itself, beside a guarded one.
    my $body = $roles . server("location /debug/pprof/ { pprof on; $pass }")
        . server("server_name other; location /debug/pprof/ { $pass }");
    my $out = warns($body, $under, 'plain proxy_pass under the prefix in another server');
    my ($loc, $rfile, $rline, $file, $line) = $out =~ $under;
    my @lines = split /\n/, $t->read_file('nginx.conf');
    my @pass = grep { $lines[$_ - 1] =~ /^proxy_pass/ } 1 .. @lines;
    is("$loc $rfile:$rline $file:$line", "/debug/pprof/ $conf:" . line_of(qr/^pprof_role/) . " $conf:$pass[1]",
        'plain proxy_pass under the prefix: location, role line, its proxy_pass line');
    warns($roles . server("location = /debug/pprof/heap { $pass } location /debug/pprof/cmdline { pprof on; $pass }"),
        qr/location "\/debug\/pprof\/heap" is under pprof_prefix/, 'exact location under the prefix');
    warns($roles . server("location /debug/pprof/ { pprof on; $pass location /debug/pprof/trace { pprof off; $pass } }"),
        qr/location "\/debug\/pprof\/trace" is under pprof_prefix/, 'pprof off below pprof on, proxying');
}
silent($roles . server("location /debug/pprof/ { pprof on; $pass } location / { $pass } location /debug/ { $pass }"),
    'proxy_pass above the prefix: the catch-all stays silent');
silent(server("location /debug/pprof/ { $pass }"), 'proxy_pass under the prefix without roles');

# nginx -t says where it raised a read timeout, as a notice.
{
    my $out = $t->config_is($audit . server("location /debug/pprof/ { pprof on; pprof_max_seconds 55; $pass }"),
        undef, 'a raised read timeout');
    like($out, qr/\[notice\].*proxy_read_timeout of location "\/debug\/pprof\/" raised from 60000ms to 65000ms to cover its pprof_max_seconds 55 in \Q$conf\E:(\d+)\n/,
        'a raised read timeout: a notice naming the location and the value') or diag($out);
    unlike($out, qr/\[warn\]/, 'a raised read timeout: no warning');
    $out = $t->config_is($audit . server("location /debug/pprof/ { pprof on; pprof_max_seconds 50; $pass }"),
        undef, 'a read timeout that covers the captures');
    unlike($out, qr/raised/, 'a read timeout that covers the captures: not raised');
}

# --- the raised read timeout, as nginx arms it ---------------------------------
#
# Where no proxy_read_timeout was written, pprof_max_seconds 55 needs 65 s,
# more than nginx's 60 s default.  nginx's debug log prints the timer it
# arms on the upstream connection after sending the request, so a 1 s
# capture shows the timeout without waiting for it.  The other timeouts are
# set apart so that 60000 and 65000 can only be the read timeout.

my $nginx = $ENV{PPROF_NGINX} || '/usr/sbin/nginx';
like(scalar `$nginx -V 2>&1`, qr/--with-debug/,
    'nginx is built --with-debug, as the timer check needs');

$t->start_target;
$t->write_config($audit . <<'CONF');
pprof_role capturer capture;
pprof_bind anonymous capturer;
pprof_identity anonymous;
pprof_tls off;
pprof_rate off;
client_header_timeout 11s;
send_timeout 12s;
keepalive_timeout 0;
proxy_connect_timeout 7s;
proxy_send_timeout 8s;
server {
    listen 127.0.0.1:%%PORT_PLAIN%%;
    error_log %%TESTDIR%%/debug.log debug;
    location /debug/pprof/ {
        pprof on;
        pprof_max_seconds 55;
        proxy_pass http://%%TARGET%%;
        if ($http_x_if) {
            set $in_if 1;
        }
        location /debug/pprof/trace {
            proxy_pass http://%%TARGET%%;
        }
    }
    location /short/debug/pprof/ {
        pprof on;
        pprof_prefix /short/debug/pprof/;
        pprof_max_seconds 5;
        proxy_pass http://%%TARGET%%/debug/pprof/;
    }
    location /set/debug/pprof/ {
        pprof on;
        pprof_prefix /set/debug/pprof/;
        pprof_max_seconds 55;
        proxy_read_timeout 90s;
        proxy_pass http://%%TARGET%%/debug/pprof/;
    }
}
CONF
$t->run;

# The timers armed while answering one request.
sub timers {
    my ($path, %headers) = @_;
    my $log = $t->path('debug.log');
    my $from = -s $log // 0;
    my $r = $t->get('plain', $path, headers => \%headers, tls => 0);
    is($r->{status}, 200, "$path: 200");
    open my $fh, '<', $log or die "$log: $!";
    seek $fh, $from, 0;
    local $/;
    my $text = <$fh>;
    my %armed = map { $_ => 1 } $text =~ /event timer add: \d+: (\d+):/g;
    return \%armed;
}

my $armed = timers('/debug/pprof/profile?seconds=1');
ok($armed->{65000} && !$armed->{60000}, 'nothing written: read timeout raised to 65 s')
    or diag(join ' ', sort keys %$armed);
$armed = timers('/debug/pprof/profile?seconds=1', 'X-If' => 1);
ok($armed->{65000} && !$armed->{60000}, 'in an "if" block too')
    or diag(join ' ', sort keys %$armed);
$armed = timers('/debug/pprof/trace?seconds=1');
ok($armed->{65000} && !$armed->{60000}, 'in a nested location too')
    or diag(join ' ', sort keys %$armed);
$armed = timers('/short/debug/pprof/profile?seconds=1');
ok($armed->{60000} && !$armed->{15000}, 'short captures: the default 60 s stays')
    or diag(join ' ', sort keys %$armed);
$armed = timers('/set/debug/pprof/profile?seconds=1');
ok($armed->{90000} && !$armed->{65000}, 'a written timeout is kept')
    or diag(join ' ', sort keys %$armed);

$t->done_testing_checks;

done_testing;
