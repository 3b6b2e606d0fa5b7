#!/usr/bin/perl

# The property of SPEC §4, checked on the upstream's side: a viewer never
# makes the target receive anything but cheap endpoints, and nobody makes it
# receive a parameter outside the canonical form or a credential.

use strict;
use warnings;

use Test::More;
use PprofTest;
use PprofGateway qw(roles_conf make_identities tls_server);

my $t = PprofTest->new;
make_identities($t);
$t->start_target;

my $pprof = "pprof on; pprof_max_seconds 5; proxy_pass http://%%TARGET%%;";

# Many captures in a row: rate limits are t/06-capture.t's subject.
$t->write_config(roles_conf() . "pprof_rate off;\n"
    . tls_server('tls', 'optional', "location /debug/pprof/ { $pprof }")
    . tls_server('noca', 'optional_no_ca', "location /debug/pprof/ { $pprof }")
    . tls_server('nomerge', 'optional',
        "merge_slashes off;\n    location /debug/pprof/ { $pprof }"));

$t->run;

my @tricks = (
    '/debug/pprof/%68eap',
    '/debug/pprof/%68%65%61%70',
    '/debug/pprof/cmdline/../heap',
    '/debug/pprof/cmdline/%2e%2e/heap',
    '/debug/pprof/./heap',
    '/debug/pprof//heap',
    '/debug/pprof/heap/',
    '/debug/pprof/cmdline/',
    '/debug/pprof/cmdline/x',
    '/debug/pprof/heap;cmdline',
    '/debug/pprof/cmdline;heap',
    '/debug/pprof/cmdline%00',
    '/debug/pprof/heap%00cmdline',
    '/debug/pprof/cmdline%5c..%5cheap',
    '/debug/pprof/cmdline\\..\\heap',
    '/debug/pprof/cmdline%2f..%2fheap',
    '/debug/pprof/cmdline%2F..%2Fheap',
    '/debug/pprof/%2e%2e/pprof/heap',
    '/debug/pprof/CMDLINE',
    '/debug/pprof/Heap',
    '/DEBUG/PPROF/heap',
    '/Debug/pprof/cmdline',
    '/debug/pprof/heap%20',
    '/debug/pprof/heap?seconds=5',
    '/debug/pprof/profile',
    '/debug/pprof/profile?seconds=1',
    '/debug/pprof/trace',
    '/debug/pprof/goroutine?debug=2',
    '/debug/pprof/cmdline?debug=2&seconds=30',
    '/debug/pprof/symbol?0x1234+0x5678',
    '/debug/pprof/?gc=1',
    '/debug/pprof/' . ('a' x 200),
    '/debug/pprof/cmdline?' . join('&', map { "k$_=v" } 1 .. 100),
    '/debug/pprof/cmdline?%zz',
);

# Every trick as a viewer, on every server flavour; whatever the status,
# the target sees only cheap endpoints with no query at all.
my %cheap = map { $_ => 1 } '/debug/pprof/', '/debug/pprof/cmdline',
    '/debug/pprof/symbol';

for my $port ('tls', 'nomerge') {
    for my $path (@tricks) {
        my $r = eval { $t->get($port, $path, cert => 'viewer') };
        ok($r && $r->{status} =~ /^(200|400|403|404)$/,
            "$port viewer $path: answered") or diag($@ // $r->{status});
    }
}

my @raw = (
    # absolute-form request lines
    "GET https://localhost/debug/pprof/heap HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    "GET http://evil.example/debug/pprof/cmdline?seconds=9 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    # pipelined: a cheap request hides an expensive one behind it
    "GET /debug/pprof/cmdline HTTP/1.1\r\nHost: localhost\r\n\r\n"
        . "GET /debug/pprof/profile?seconds=1 HTTP/1.1\r\nHost: localhost\r\n\r\n"
        . "GET /debug/pprof/heap HTTP/1.1\r\nHost: localhost\r\n\r\n"
        . "GET /debug/pprof/symbol HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    # HTTP/1.0 and a body smuggled on a GET
    "GET /debug/pprof/heap HTTP/1.0\r\n\r\n",
    "GET /debug/pprof/cmdline HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20\r\nConnection: close\r\n\r\nseconds=30&debug=2xx",
    "GET /debug/pprof/cmdline HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
);

my @pipelined;
for my $req (@raw) {
    my $out = $t->raw('tls', $req, cert => 'viewer');
    my @r = $t->parse_responses($out);
    ok(@r >= 1, 'raw request answered: ' . (split /\r\n/, $req)[0]);
    @pipelined = map { $_->{status} } @r if $req =~ /profile/;
}
is_deeply(\@pipelined, [200, 403, 403, 200],
    'pipelined: each request judged on its own');

my @up = $t->upstream_requests;
ok(@up > 0, 'the target saw the cheap requests');
my @bad = grep { !$cheap{ $_->{path} } || $_->{raw_query} ne ''
    || $_->{request_uri} ne $_->{path} } @up;
ok(!@bad, 'a viewer made the target receive only cheap endpoints, no query')
    or diag(explain [map { $_->{request_uri} } @bad]);
$t->clear_upstream;

# GET with a body never reaches the target with that body.
my $r = $t->get('tls', '/debug/pprof/cmdline', cert => 'oncall', body => 'seconds=30');
is($r->{status}, 400, 'GET with a body: 400');
$r = $t->get('tls', '/debug/pprof/cmdline', cert => 'oncall',
    headers => { 'Transfer-Encoding' => 'chunked' });
ok($r->{status} == 400, 'GET with a chunked body: 400');
is_deeply([$t->upstream_requests], [], 'bodies on GET never forwarded');

# --- parameters: only the canonical form reaches the target -----------------

my %canonical = (
    '/debug/pprof/profile?seconds=1&seconds=1' => '/debug/pprof/profile?seconds=1',
    '/debug/pprof/profile?%73econds=1' => '/debug/pprof/profile?seconds=1',
    '/debug/pprof/profile?seconds=01&debug=2&gc=1&x=%41' => '/debug/pprof/profile?seconds=1',
    '/debug/pprof/heap?gc=1&debug=1&seconds=' => undef,
    '/debug/pprof/heap?gc=1&debug=1' => '/debug/pprof/heap?debug=1&gc=1',
    '/debug/pprof/heap?debug=0&seconds=1' => '/debug/pprof/heap?debug=0&seconds=1',
    '/debug/pprof/goroutine?debug=1;seconds=30' => undef,
    '/debug/pprof/goroutine?x;seconds=30&debug=2' => '/debug/pprof/goroutine?debug=2',
    '/debug/pprof/trace?seconds=0.5' => '/debug/pprof/trace?seconds=0.5',
    '/debug/pprof/trace?seconds=0.50' => '/debug/pprof/trace?seconds=0.5',
    '/debug/pprof/trace?seconds=1e1' => undef,
    '/debug/pprof/profile?seconds=2&seconds=1' => undef,
    '/debug/pprof/heap?seconds=abc' => undef,
    '/debug/pprof/profile?seconds=1%00' => undef,
    '/debug/pprof/profile?seconds=1.5' => undef,
    '/debug/pprof/profile?seconds=6' => undef,
    '/debug/pprof/allocs?seconds=1&seconds=1.0' => undef,
);

for my $path (sort keys %canonical) {
    $t->clear_upstream;
    my $r = $t->get('tls', $path, cert => 'oncall');
    my @u = map { $_->{request_uri} } $t->upstream_requests;
    if (defined $canonical{$path}) {
        is($r->{status}, 200, "oncall $path: 200");
        is_deeply(\@u, [$canonical{$path}], "  upstream got $canonical{$path}");
    } else {
        is($r->{status}, 400, "oncall $path: 400");
        is_deeply(\@u, [], '  nothing forwarded');
    }
}

# --- credentials never reach the target --------------------------------------

$t->clear_upstream;
$r = $t->get('tls', '/debug/pprof/cmdline', cert => 'oncall', headers => {
    Authorization => 'Bearer very-secret-token',
    'Proxy-Authorization' => 'Basic dXNlcjpwYXNz',
    Cookie => ['session=abc123', 'other=1'],
    'X-Keep' => 'yes',
});
is($r->{status}, 200, 'request with credentials: 200');
($r) = $t->upstream_requests;
ok(!exists $r->{headers}{authorization}, 'no Authorization upstream');
ok(!exists $r->{headers}{'proxy-authorization'}, 'no Proxy-Authorization upstream');
ok(!exists $r->{headers}{cookie}, 'no Cookie upstream');
is_deeply($r->{headers}{'x-keep'}, ['yes'], 'other headers still forwarded');

# --- an untrusted-CA certificate carrying a trusted identity ------------------

$t->clear_upstream;
is($t->get('tls', '/debug/pprof/heap', cert => 'impostor')->{status}, 400,
    'impostor under optional: refused by nginx');
$r = $t->get('noca', '/debug/pprof/heap', cert => 'impostor');
is($r->{status}, 401, 'impostor under optional_no_ca: 401');
like($r->{body}, qr/invalid_credential/, 'impostor: invalid_credential');
unlike($r->{body}, qr/spiffe|alice/, 'the denial does not echo the identity');
is_deeply([$t->upstream_requests], [], 'impostor reached nothing');


# --- proxy_pass spellings: the target still receives only the canonical form --
#
# Each spelling nginx -t accepts in a "pprof on" location, checked on the
# target's request log; the spellings it refuses are in t/01-config.t.

{
    my $T = '%%TARGET%%';
    my $loc = 'pprof on; pprof_max_seconds 5;';
    my %spelling = (
        # $request_uri, also read (and cached) before the module ran
        request_uri => "location /debug/pprof/ { $loc set \$early \$request_uri;"
            . " proxy_pass http://$T\$request_uri; }",
        uri_args => "location /debug/pprof/ { $loc proxy_pass http://$T\$uri\$is_args\$args; }",
        document_uri => "location /debug/pprof/ { $loc"
            . " proxy_pass http://$T\$document_uri\$is_args\$query_string; }",
        uri_part => "location /debug/pprof/ { $loc proxy_pass http://$T/debug/pprof/; }",
        gateway => "location /gw/ { $loc pprof_prefix /gw/; proxy_pass http://$T/debug/pprof/; }",
        rewrite => "location /rw/ { $loc rewrite ^/rw/(.*)\$ /debug/pprof/\$1 break;"
            . " proxy_pass http://$T; }",
        variable_host => "location /debug/pprof/ { $loc set \$backend $T;"
            . " proxy_pass http://\$backend\$request_uri; }",
        header_host => "location /debug/pprof/ { $loc proxy_pass http://\$http_x_backend; }",
        original_uri => "location /debug/pprof/ { $loc"
            . " proxy_set_header X-Original-URI \$request_uri; proxy_pass http://$T; }",
        # nginx reads variable names in any case
        upper_request_uri => "location /debug/pprof/ { $loc proxy_pass http://$T\$REQUEST_URI; }",
        upper_uri_args => "location /debug/pprof/ { $loc proxy_pass http://$T\$Uri\$Is_Args\$Args; }",
        # GET and HEAD take the location's proxy_pass, POST the block's
        limit_except => "location /debug/pprof/ { $loc proxy_pass http://$T;"
            . " limit_except GET { proxy_pass http://\$http_x_backend\$request_uri; } }",
    );

    $t->stop;
    $t->write_config(roles_conf() . "pprof_rate off;\n"
        . join '', map { tls_server("pass_$_", 'optional', $spelling{$_}) } sort keys %spelling);
    $t->run;

    my $target = '127.0.0.1:' . $t->port('target');
    my %sent = (
        '/debug/pprof/heap?debug=1&foo=bar&token=hunter2&gc=1' => '/debug/pprof/heap?debug=1&gc=1',
        '/debug/pprof/cmdline/../goroutine?token=hunter2&debug=2' => '/debug/pprof/goroutine?debug=2',
        '/debug/pprof/%63mdline?token=hunter2' => '/debug/pprof/cmdline',
        '/debug/pprof/?token=hunter2' => '/debug/pprof/',
    );
    my %from = (gateway => '/gw/', rewrite => '/rw/');

    for my $name (sort keys %spelling) {
        for my $path (sort keys %sent) {
            (my $asked = $path) =~ s{^/debug/pprof/}{$from{$name} // '/debug/pprof/'}e;
            $t->clear_upstream;
            my $r = $t->get("pass_$name", $asked, cert => 'oncall',
                headers => { 'X-Backend' => $target });
            is($r->{status}, 200, "$name: $asked: 200");
            my @u = $t->upstream_requests;
            is_deeply([map { $_->{request_uri} } @u], [$sent{$path}],
                "$name: $asked: the target got $sent{$path}");
            if ($name eq 'original_uri') {
                is_deeply($u[0]{headers}{'x-original-uri'}, [$sent{$path}],
                    "$name: X-Original-URI is canonical too");
            }
        }
    }

    # A variable host that carries a path or a query: nothing is sent.
    for my $backend ("$target/debug/pprof/profile?seconds=1", "$target?seconds=1",
        "$target/")
    {
        $t->clear_upstream;
        my $r = $t->get('pass_header_host', '/debug/pprof/cmdline', cert => 'oncall',
            headers => { 'X-Backend' => $backend });
        is($r->{status}, 500, "host $backend: 500");
        like($r->{body}, qr/internal_error/, "host $backend: internal_error");
        is_deeply([$t->upstream_requests], [], "host $backend: nothing forwarded");
    }
    like($t->error_log, qr/\[error\].*proxy_pass "http:\/\/\$http_x_backend" is "http:\/\/\Q$target\E\/debug\/pprof\/profile\?seconds=1", which holds more than a scheme and host/,
        'the refused host is logged at error');

    # POST takes limit_except's own proxy_pass, and its own host check.
    for my $path ('/debug/pprof/symbol?token=hunter2&x=1',
        '/debug/pprof/cmdline/../symbol?token=hunter2&debug=2')
    {
        $t->clear_upstream;
        my $r = $t->get('pass_limit_except', $path, method => 'POST', body => '0x1234',
            cert => 'oncall', headers => { 'X-Backend' => $target });
        is($r->{status}, 200, "limit_except: POST $path: 200");
        is_deeply([map { "$_->{method} $_->{request_uri}" } $t->upstream_requests],
            ['POST /debug/pprof/symbol'], "limit_except: POST $path: the target got POST /debug/pprof/symbol");
    }
    $t->clear_upstream;
    my $r = $t->get('pass_limit_except', '/debug/pprof/symbol', method => 'POST', body => '0x1234',
        cert => 'oncall', headers => { 'X-Backend' => "$target/debug/pprof/profile?seconds=1&x=" });
    is($r->{status}, 500, 'limit_except: a host holding a query: 500');
    is_deeply([$t->upstream_requests], [], 'limit_except: a host holding a query: nothing forwarded');
    like($t->error_log, qr/\[error\].*proxy_pass "http:\/\/\$http_x_backend\$request_uri" is "http:\/\/\Q$target\E\/debug\/pprof\/profile\?seconds=1&x=", which holds more than a scheme and host/,
        'limit_except: the refused host is logged with the block\'s proxy_pass');
}


# --- pprof_tls redirect: a Location never made of the request target --------
#
# Its own nginx: plain-HTTP servers that differ only in server_name. The
# Location is the server's exact name, else a valid Host without its port,
# plus the canonical request; with neither, a plain 403 tls_required.
{
    my $rt = PprofTest->new;
    my $loc = 'location /debug/pprof/ { pprof on; pprof_tls redirect; '
        . 'proxy_pass http://127.0.0.1:%%PORT_NOWHERE%%; }';
    my %name = (noname => undef, named => 'gw.example other.example',
        underscore => '_', wildcard => '*.example.com',
        regex => '~^gw\d+\.example$', empty => '""');
    $rt->write_config(join '', map {
        my $sn = defined $name{$_} ? "    server_name $name{$_};\n" : '';
        "server {\n    listen 127.0.0.1:%%PORT_\U$_\E%%;\n$sn    $loc\n}\n"
    } sort keys %name);
    $rt->run;

    # redirect($port, $request, $location or undef for a 403, $name)
    my $redirect = sub {
        my ($port, $request, $want, $name) = @_;
        my @r = $rt->parse_responses($rt->raw($port, $request, tls => 0),
            [$request =~ /^(\w+)/]);
        my $r = $r[0];
        # A newer nginx (1.31 here) refuses a Host with userinfo or a port
        # out of range itself, before the module: as safe, no Location.
        if ($r->{status} == 400 && !exists $r->{headers}{'x-pprof-audit-id'}
            && $request =~ /^Host: (?:[^\r]*@|[^\r]*:65536\r)/m)
        {
            ok(!exists $r->{headers}{location}, "redirect $name: nginx's own 400, no Location");
            return;
        }
        like($r->{headers}{'x-pprof-audit-id'} // '', qr/^[0-9a-f]{32}$/,
            "redirect $name: answered by the module");
        if (defined $want) {
            is($r->{status}, 308, "redirect $name: 308");
            is($r->{headers}{location}, $want, "redirect $name: Location");
        } else {
            is($r->{status}, 403, "redirect $name: 403");
            like($r->{body} // '', qr/^pprof-gateway: tls_required: /,
                "redirect $name: tls_required") unless $request =~ /^HEAD/;
            ok(!exists $r->{headers}{location}, "redirect $name: no Location")
                or diag("Location: $r->{headers}{location}");
        }
    };
    my $req = sub {
        my ($target, $host) = @_;
        return "GET $target HTTP/1.0\r\n\r\n" unless defined $host;
        return "GET $target HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n\r\n";
    };

    # The three attacks: no server name, no usable Host.
    $redirect->('noname', $req->('//evil.example/../debug/pprof/cmdline'),
        undef, 'HTTP/1.0 //evil.example/..');
    $redirect->('noname', $req->('/\\evil.example/../debug/pprof/cmdline'),
        undef, 'HTTP/1.0 /\\evil.example/..');
    $redirect->('noname', $req->('/debug/pprof/cmdline', 'good@evil.example'),
        undef, 'Host with userinfo');
    $redirect->('noname', $req->('//evil.example/../debug/pprof/cmdline',
        'good@evil.example'), undef, 'userinfo and //');
    for my $host ('evil.example:0', 'evil.example:65536', 'evil.example:',
        '127.1', 'evil_host.example', 'evil.example.')
    {
        $redirect->('noname', $req->('/debug/pprof/cmdline', $host), undef,
            "Host $host");
    }
    for my $name (qw(underscore wildcard regex empty)) {
        $redirect->($name, $req->('//evil.example/../debug/pprof/cmdline'),
            undef, "server_name $name{$name}, no Host");
    }

    # A valid Host: its host without the port, and the canonical request.
    $redirect->('noname', $req->('//evil.example/../debug/pprof/cmdline',
        'gw.example:8080'), 'https://gw.example/debug/pprof/cmdline',
        'Host with a port');
    $redirect->('noname', $req->('/debug/pprof/cmdline', '[::1]:8080'),
        'https://[::1]/debug/pprof/cmdline', 'Host [::1]:8080');
    $redirect->('noname', $req->('/debug/pprof/cmdline', '127.0.0.1'),
        'https://127.0.0.1/debug/pprof/cmdline', 'Host 127.0.0.1');
    $redirect->('noname', $req->('/debug/pprof/heap?gc=1&debug=1&x=//evil.example',
        'gw.example'), 'https://gw.example/debug/pprof/heap?debug=1&gc=1',
        'canonical query');
    $redirect->('noname', $req->('/debug/pprof/profile', 'gw.example'),
        'https://gw.example/debug/pprof/profile?seconds=30',
        'implied seconds spelled out');
    $redirect->('noname', $req->('/debug/pprof/./x/../my_%70rofile-1.x',
        'gw.example'), 'https://gw.example/debug/pprof/my_profile-1.x',
        'the endpoint as classified');
    $redirect->('noname', "HEAD /debug/pprof/ HTTP/1.1\r\nHost: gw.example\r\n"
        . "Connection: close\r\n\r\n", 'https://gw.example/debug/pprof/',
        'HEAD of the index');
    $redirect->('noname', $req->('http://evil.example/debug/pprof/cmdline',
        'gw.example'), 'https://gw.example/debug/pprof/cmdline',
        'absolute-form target');

    # Parameters that do not parse: no redirect to another request.
    $redirect->('noname', $req->('/debug/pprof/heap?debug=9', 'gw.example'),
        undef, 'bad parameter');
    $redirect->('noname', $req->('/debug/pprof/profile?seconds=abc',
        'gw.example'), undef, 'bad seconds');

    # An exact server_name comes first, Host or not.
    $redirect->('named', $req->('//evil.example/../debug/pprof/cmdline'),
        'https://gw.example/debug/pprof/cmdline', 'server_name, no Host');
    $redirect->('named', $req->('//evil.example/../debug/pprof/cmdline',
        'evil.example'), 'https://gw.example/debug/pprof/cmdline',
        'server_name over Host');
    $redirect->('named', $req->('/debug/pprof/cmdline', 'good@evil.example'),
        'https://gw.example/debug/pprof/cmdline', 'server_name, bad Host');

    # Names that are no host fall back to a valid Host.
    $redirect->('underscore', $req->('/debug/pprof/cmdline', 'h.example'),
        'https://h.example/debug/pprof/cmdline', 'server_name _, Host');
    $redirect->('wildcard', $req->('/debug/pprof/cmdline', 'a.example.com'),
        'https://a.example.com/debug/pprof/cmdline', 'wildcard, Host');
    $redirect->('regex', $req->('/debug/pprof/cmdline', 'gw1.example'),
        'https://gw1.example/debug/pprof/cmdline', 'regex, Host');

    $rt->done_testing_checks;
}

$t->done_testing_checks;
done_testing;
