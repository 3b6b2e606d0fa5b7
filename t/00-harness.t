#!/usr/bin/perl

# Self-test of the PprofTest harness against plain nginx (no pprof module):
# TLS with optional client certificates in front of the Go target.

use strict;
use warnings;

use Test::More;
use PprofTest;

my $t = PprofTest->new(module => 0);

$t->pki;
$t->client_cert('alice', subject => '/O=sre/CN=alice',
    san => 'URI:spiffe://prod.example/ns/sre/alice,DNS:x.example');
$t->client_cert('mallory', ca => 'rogue');
$t->client_cert('old', days => -2);

$t->start_target(args => ['-api-token', 'tok-123', '-db-password', 'hunter2']);

$t->write_config(<<'CONF');
server {
    listen 127.0.0.1:%%PORT_TLS%% ssl;
    server_name localhost;

    ssl_certificate %%TESTDIR%%/server.crt;
    ssl_certificate_key %%TESTDIR%%/server.key;
    ssl_client_certificate %%TESTDIR%%/ca.crt;
    ssl_verify_client optional;

    location /debug/pprof/ {
        proxy_pass http://%%TARGET%%;
    }
}

server {
    listen 127.0.0.1:%%PORT_PLAIN%%;

    location / {
        return 200 "plain\n";
    }
}
CONF

my ($rc, $out) = $t->nginx_t;
is($rc, 0, 'nginx -t accepts the config') or diag($out);

$t->run;

# get()/raw() over TLS with a client certificate.
my $r = $t->get('tls', '/debug/pprof/cmdline', cert => 'alice');
is($r->{status}, 200, 'cmdline via raw TLS: 200');
like($r->{body}, qr/pprof-target\0-listen\0/, 'cmdline body is NUL-separated argv');
like($r->{body}, qr/\0-api-token\0tok-123\0/, 'cmdline shows the demo secret');

my @up = $t->upstream_requests;
is(scalar @up, 1, 'one upstream request');
is($up[0]{request_uri}, '/debug/pprof/cmdline', 'upstream request_uri');
is($up[0]{method}, 'GET', 'upstream method');
is($up[0]{host}, '127.0.0.1:' . $t->port('target'), 'upstream Host is the proxy_pass default');

# curl, with -o into the test directory.
$t->clear_upstream;
($rc, $out) = $t->curl({ cert => 'alice' }, '-o', 'cmdline.out', '-w', '%{http_code}',
    $t->url('tls', '/debug/pprof/cmdline'));
is($rc, 0, 'curl exit code') or diag($out);
is($out, '200', 'curl status 200');
like($t->read_file('cmdline.out'), qr/\0-db-password\0hunter2/, 'curl -o wrote the body');
@up = $t->upstream_requests;
is(scalar @up, 1, 'curl: one upstream request');
is($up[0]{request_uri}, '/debug/pprof/cmdline', 'curl request reached upstream');

# Pipelined requests in one write: GET (keep-alive) then HEAD (close).
my $raw = $t->raw('tls',
    "GET /debug/pprof/cmdline HTTP/1.1\r\nHost: localhost\r\n\r\n"
    . "HEAD /debug/pprof/cmdline HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    cert => 'alice');
my @r = $t->parse_responses($raw, ['GET', 'HEAD']);
is(scalar @r, 2, 'pipelined: two responses');
is($r[0]{status}, 200, 'pipelined: first 200');
like($r[0]{body}, qr/^\S*pprof-target\0/, 'pipelined: first has the body');
is($r[1]{status}, 200, 'pipelined: second (HEAD) 200');
is($r[1]{body}, '', 'pipelined: HEAD has no body');

# A larger text profile.
$r = $t->get('tls', '/debug/pprof/heap?debug=1', cert => 'alice');
is($r->{status}, 200, 'heap?debug=1: 200');
like($r->{body}, qr/^heap profile: /, 'heap?debug=1: text profile, decoded');

# Untrusted and expired client certificates: nginx itself answers 400.
$t->clear_upstream;
$r = $t->get('tls', '/debug/pprof/cmdline', cert => 'mallory');
is($r->{status}, 400, 'rogue CA certificate: 400');
like($r->{body}, qr/SSL certificate error/, 'rogue CA certificate: nginx error page');
$r = $t->get('tls', '/debug/pprof/cmdline', cert => 'old');
is($r->{status}, 400, 'expired certificate: 400');
is(scalar(my @none = $t->upstream_requests), 0, 'rejected requests never reached upstream');

# No certificate at all is allowed by "optional".
$r = $t->get('tls', '/debug/pprof/cmdline');
is($r->{status}, 200, 'no client certificate: 200 (optional)');

# Plain HTTP listener.
$r = $t->get('plain', '/', tls => 0);
is($r->{status}, 200, 'plain: 200');
is($r->{body}, "plain\n", 'plain: body');
is($r->{headers}{'content-length'}, 6, 'plain: content-length header');

# The parser on hand-made input: chunked with an extension and a trailer,
# repeated headers, 304 without body, body up to the end of the stream.
@r = $t->parse_responses(
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
    . "3;ext=1\r\nabc\r\n2\r\n\r\n\r\n0\r\nTrailer: x\r\n\r\n"
    . "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"
    . "HTTP/1.0 500 Internal Server Error\r\n\r\nrest of stream");
is(scalar @r, 3, 'parser: three responses');
is($r[0]{body}, "abc\r\n", 'parser: chunked body decoded');
is($r[0]{headers}{'x-a'}, '1, 2', 'parser: repeated headers joined');
is($r[1]{status}, 304, 'parser: 304 without body');
is($r[2]{reason}, 'Internal Server Error', 'parser: reason phrase');
is($r[2]{body}, 'rest of stream', 'parser: body to end of stream');
ok(!eval { $t->parse_responses("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"); 1 },
    'parser: truncated body dies');

# nginx -t reports config errors (a separate instance, never started).
my $bad = PprofTest->new(module => 0);
$bad->write_config("no_such_directive on;\n");
($rc, $out) = $bad->nginx_t;
isnt($rc, 0, 'nginx -t fails on a bad config');
like($out, qr/unknown directive "no_such_directive"/, 'nginx -t output names the error');

$t->done_testing_checks;
done_testing;
