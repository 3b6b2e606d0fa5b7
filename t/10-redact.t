#!/usr/bin/perl

# SPEC §10 with real nginx and the real Go target: cmdline values of
# sensitive flags and matches of pprof_redact_pattern replaced by "***"
# through every way nginx hands the body over (memory buffers, unbuffered,
# tiny buffers, temporary and cache files), the length the client gets
# consistent, the target's headers kept, nested flags, URL passwords and
# parameters in the real argv, pprof_redact off, inheritance of
# patterns, nothing sent past the 4 MiB cap or after a regex engine error,
# the audit record's count, and patterns that nginx -t refuses.

use strict;
use warnings;

use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep);
use PprofTest;
use PprofGateway qw(roles_conf make_identities tls_server);

my $t = PprofTest->new;
make_identities($t);

# -api-token and -db-password are t/target's unused demo flags. Go stops
# reading flags at "--"; what follows is there for the gateway only. The
# long arguments make argv some 300 KB, so that it arrives in many
# buffers and flags and values fall on their boundaries.
my ($long_a, $long_b, $long_c) = map { $_ x 100_000 } qw(A B C);
$long_b = substr($long_b, 0, 50_000) . 'key=sk-0123abcd' . substr($long_b, 50_000);
# Shapes beyond a sensitive flag's own value, each with what the client
# must get: a nested flag, a URL's password and parameters, pwd.
my @shapes = (
    [['-pwd=pwd-SECRET-6'], ['-pwd=***']],
    [['-dsn=postgres://app:dsn-SECRET-7@db.internal:5432/app?sslmode=require'],
     ['-dsn=postgres://app:***@db.internal:5432/app?sslmode=require']],
    [['-callback=https://hooks.example/x?user=bob&token=tok-SECRET-8&mode=fast'],
     ['-callback=https://hooks.example/x?user=bob&token=***&mode=fast']],
    [['-x=--password=nested-SECRET-9'], ['-x=--password=***']],
    [['-a=-b=--password=deep-SECRET-10'], ['-a=-b=--password=***']],
    [['--PWD', 'pwdnext-SECRET-11'], ['--PWD', '***']],
    [['-peer=http://u:p@ss-SECRET-12@[::1]:8080/'], ['-peer=http://u:***@[::1]:8080/']],
    [['-repo=https://ghp-SECRET-13@github.com/o/r.git'],
     ['-repo=https://***@github.com/o/r.git']],
);
my %shaped = map { my ($in, $out) = @$_; map { $in->[$_] => $out->[$_] } 0 .. $#$in } @shapes;

$t->start_target(args => [
    '-api-token=tok-SECRET-1',
    '-db-password', 'pw-SECRET-2',
    '--',
    $long_a,
    '--token=tok-SECRET-3',
    $long_b,
    '-name=visible',
    'plain-arg',
    '-Client_Secret', 'cs-SECRET-4',
    $long_c,
    (map { @{ $_->[0] } } @shapes),
    '--oauth-client-secret=ocs-SECRET-5',
]);

# Linux caps argv at a quarter of the stack limit, 2 MB by default: a
# cmdline near PPROF_CMDLINE_MAX (4 MiB) comes from a stand-in upstream,
# which answers "/bin/fake\0-token\0SSS..." of the length its path names.
$t->start_stub('fake', sub {
    my ($size) = $_[0] =~ m{^GET /(\d+)/} or return '';
    my $argv = "/bin/fake\0-token\0";
    return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        . "Content-Length: $size\r\nConnection: close\r\n\r\n"
        . $argv . 'S' x ($size - length $argv);
});

my $loc = sub {
    my ($name, $extra, $upstream) = @_;
    $upstream //= '%%TARGET%%/debug/pprof/';
    return <<"LOC";
    location /$name/debug/pprof/ {
        pprof on;
        pprof_prefix /$name/debug/pprof/;
        proxy_pass http://$upstream;
$extra
    }
LOC
};

$t->write_config(roles_conf() . <<'CONF' . tls_server('tls', 'optional',
pprof_rate off;
pprof_audit_log audit.jsonl;
pprof_redact_pattern "sk-[0-9a-f]{8}";
proxy_cache_path %%TESTDIR%%/cache keys_zone=redact:1m;
CONF
    $loc->('mem', '')
    . $loc->('nobuf', '        proxy_buffering off;')
    . $loc->('tiny', <<'TINY')
        proxy_buffer_size 1k;
        proxy_buffers 2 1k;
        proxy_busy_buffers_size 1k;
        proxy_temp_file_write_size 1k;
TINY
    . $loc->('cache', <<'CACHE')
        proxy_cache redact;
        proxy_cache_valid 200 1m;
        add_header X-Cache $upstream_cache_status;
CACHE
    . $loc->('own', '        pprof_redact_pattern "vis[a-z]+";')
    . $loc->('backtrack', '        pprof_redact_pattern "(A|AA)+$";')
    . $loc->('cap', '', '127.0.0.1:%%PORT_FAKE%%/4194304/')
    . $loc->('over', '', '127.0.0.1:%%PORT_FAKE%%/4194305/')
    . $loc->('off', '        pprof_redact off;')));
$t->run;

sub cmdline {
    my ($where, %opts) = @_;
    return $t->get('tls', "/$where/debug/pprof/cmdline", cert => 'viewer', %opts);
}

# What the target sends: argv exactly, as pprof_redact off passes it.
my $raw = cmdline('off');
is($raw->{status}, 200, 'pprof_redact off: 200');
my @argv = split /\0/, $raw->{body}, -1;
like($argv[0], qr{/pprof-target$}, 'argv[0] is the target');
is($argv[-1], '--oauth-client-secret=ocs-SECRET-5', 'pprof_redact off: argv unchanged');
is(scalar(() = $raw->{body} =~ /SECRET/g), 13, 'pprof_redact off: every secret there');

# The same argv with the five flag values, the eight shapes and the
# custom match hidden: fourteen "***".
my %hide = map { $_ => 1 } qw(pw-SECRET-2 cs-SECRET-4);
my $want = join "\0", map {
    $shaped{$_} // ($hide{$_} ? '***'
        : s/^(-+[\w-]+=).*SECRET.*$/$1***/r =~ s/sk-[0-9a-f]{8}/***/r)
} @argv;
like($want, qr/-api-token=\*\*\*\0/, 'expected argv built');

my (%ids, %body);
for my $where (qw(mem nobuf tiny cache cache)) {
    my $r = cmdline($where);
    my $what = $where eq 'cache' ? "cache ($r->{headers}{'x-cache'})" : $where;
    is($r->{status}, 200, "$what: 200");
    ok($r->{body} eq $want, "$what: argv redacted exactly")
        or diag(join ' | ', map { length > 80 ? substr($_, 0, 40) . '...' : $_ }
                split /\0/, $r->{body});
    unlike($r->{body}, qr/SECRET|sk-0123abcd/, "$what: no secret left");
    is($r->{headers}{'content-length'}, undef, "$what: no Content-Length");
    is($r->{headers}{'transfer-encoding'}, 'chunked', "$what: sent chunked");
    is($r->{headers}{'x-content-type-options'}, 'nosniff', "$what: X-Content-Type-Options kept");
    is($r->{headers}{'content-type'}, 'text/plain; charset=utf-8', "$what: Content-Type kept");
    $ids{$r->{headers}{'x-pprof-audit-id'}} = 14;
    $body{$where} = $r->{body};
}

for my $part ('-api-token=***', "-db-password\0***\0", '--token=***', "-Client_Secret\0***\0",
    '--oauth-client-secret=***', 'key=***', '-name=visible', "\0plain-arg\0", "\0-listen\0",
    $long_a, $long_c, map { "\0" . join("\0", @{ $_->[1] }) . "\0" } @shapes)
{
    ok(index($body{mem}, $part) >= 0,
        'in the body: ' . (length $part > 40 ? substr($part, 0, 10) . '...' : $part =~ s/\0/\\0/gr));
}

# A level with patterns of its own replaces the inherited list.
my $own = cmdline('own');
like($own->{body}, qr/-name=\*\*\*\0/, 'own pattern: applied');
like($own->{body}, qr/key=sk-0123abcd/, 'own pattern: the inherited one no longer');
unlike($own->{body}, qr/SECRET/, 'own pattern: the flag rules still apply');
$ids{$own->{headers}{'x-pprof-audit-id'}} = 14;
$ids{$raw->{headers}{'x-pprof-audit-id'}} = undef;

# A regex engine error (here PCRE2's match limit) sends nothing of argv.
{
    my ($rc, $out) = $t->curl({ cert => 'viewer' },
        $t->url('tls', '/backtrack/debug/pprof/cmdline'));
    is($rc, 52, 'regex engine error: the connection closes with nothing sent')
        or diag($out);
    like($t->error_log, qr/\[error\].*pprof: cmdline redaction failed/,
        'regex engine error: logged');
}

# Up to PPROF_CMDLINE_MAX bytes are redacted; one more and nothing is sent.
{
    my $r = cmdline('cap');
    is($r->{status}, 200, 'a cmdline of 4 MiB: 200');
    is($r->{body}, "/bin/fake\0-token\0***", 'a cmdline of 4 MiB: redacted');
    $ids{$r->{headers}{'x-pprof-audit-id'}} = 1;

    my ($rc, $out) = $t->curl({ cert => 'viewer' }, $t->url('tls', '/over/debug/pprof/cmdline'));
    is($rc, 52, 'a cmdline of 4 MiB + 1: nothing sent') or diag($out);
    like($t->error_log, qr/\[error\].*pprof: cmdline is longer than 4194304 bytes, response not sent/,
        'a cmdline of 4 MiB + 1: logged');
}

# curl, over HTTP/1.1 and HTTP/1.0 (no chunks: the end of the body is the
# end of the connection), finds the length consistent.
for my $http ('--http1.1', '--http1.0') {
    my ($rc, $out) = $t->curl({ cert => 'viewer' }, $http, '-o', 'body',
        '-w', '%{http_code} %{size_download}', $t->url('tls', '/mem/debug/pprof/cmdline'));
    is($rc, 0, "curl $http: no complaint") or diag($out);
    is($out, '200 ' . length($want), "curl $http: the whole redacted body");
    ok($t->read_file('body') eq $want, "curl $http: the body");
}

# HEAD: an empty body, redacted to nothing (no "zero size buf" alert).
my $head = cmdline('mem', method => 'HEAD');
is($head->{status}, 200, 'HEAD: 200');
is($head->{body}, '', 'HEAD: no body');

# Another endpoint passes as it is.
my $index = $t->get('tls', '/mem/debug/pprof/', cert => 'viewer');
is($index->{status}, 200, 'index: 200');
$ids{$index->{headers}{'x-pprof-audit-id'}} = undef;

# --- the audit record counts what was hidden ----------------------------------------

my @records;
for (1 .. 40) {
    @records = map { decode_json($_) } split /\n/, $t->read_file('audit.jsonl');
    last if (grep { $_->{stage} eq 'response' && exists $ids{$_->{audit_id}} } @records)
        == keys %ids;
    sleep 0.05;
}
for my $id (sort keys %ids) {
    my ($resp) = grep { $_->{stage} eq 'response' && $_->{audit_id} eq $id } @records;
    my ($dec) = grep { $_->{stage} eq 'decision' && $_->{audit_id} eq $id } @records;
    ok($resp && exists $resp->{redacted}, "response record of $id has redacted") or next;
    is($resp->{redacted}, $ids{$id},
        "response record of $id: redacted " . ($ids{$id} // 'null'));
    ok(!exists $dec->{redacted}, 'not in the decision record');
}
unlike($t->read_file('audit.jsonl'), qr/SECRET/, 'no secret in the audit log');

# --- patterns nginx -t refuses ----------------------------------------------------

for my $case (
    ['(', qr/pprof_redact_pattern: bad pattern "\(": missing closing parenthesis at offset 1/],
    ['a*', qr/pprof_redact_pattern: bad pattern "a\*": it can match the empty string/],
    ['(*UTF)x', qr/pprof_redact_pattern: bad pattern "\(\*UTF\)x": .*UTF/],
) {
    my ($pattern, $message) = @$case;
    my $bad = PprofTest->new;
    $bad->write_config(<<"CONF");
server {
    listen 127.0.0.1:%%PORT_HTTP%%;
    location /debug/pprof/ {
        pprof on;
        pprof_tls off;
        pprof_redact_pattern "$pattern";
        proxy_pass http://127.0.0.1:1/debug/pprof/;
    }
}
CONF
    my ($rc, $out) = $bad->nginx_t;
    isnt($rc, 0, "nginx -t refuses pprof_redact_pattern \"$pattern\"");
    like($out, $message, "... saying why") or diag($out);
}

$t->done_testing_checks;
done_testing;
