#!/usr/bin/perl

# The xfcc identity source in proxy mode: nginx behind an Envoy or Istio
# sidecar, which verifies the client's certificate and passes it on in
# X-Forwarded-Client-Cert.  The header is believed only from an address in
# pprof_trusted_proxies; from anyone else it is ignored (and logged), as if
# absent.  Binds with source=xfcc apply to its identities, and the audit
# record names the source.

use strict;
use warnings;

use JSON::PP qw(decode_json);
use Test::More;
use PprofTest;

my $t = PprofTest->new;
$t->start_target;

my $sre = 'spiffe://cluster.local/ns/sre/sa/oncall';
my $dev = 'spiffe://cluster.local/ns/dev/sa/web';

# As Istio's sidecars write it (istio.io samples), for our identities.
sub istio {
    my ($uri, $by) = @_;
    $by //= 'spiffe://cluster.local/ns/debug/sa/gateway';
    return "By=$by;Hash=20afebed6da091c850264cc751b8c9306abac02993f80bdb"
        . "76282237422bd098;Subject=\"\";URI=$uri";
}

$t->write_config(<<'CONF');
pprof_role oncall index cmdline symbol snapshot capture;
pprof_role viewer index cmdline;
pprof_role certs snapshot;
pprof_bind ~^spiffe://cluster\.local/ns/sre/ oncall source=xfcc;
pprof_bind ~^spiffe://cluster\.local/ns/ viewer source=xfcc;
pprof_bind ~^spiffe://cluster\.local/ns/dev/ certs source=cert;
pprof_bind "Test Client" viewer source=xfcc;
pprof_audit_log %%TESTDIR%%/audit.jsonl;
log_format who '"$pprof_identity" "$pprof_roles" $pprof_reason';
access_log %%TESTDIR%%/who.log who;

server {
    listen 127.0.0.1:%%PORT_TRUSTED%%;
    pprof_trusted_proxies 10.0.0.0/8 127.0.0.1;

    location /debug/pprof/ {
        pprof on;
        pprof_tls off;
        pprof_identity xfcc;
        proxy_pass http://%%TARGET%%;
    }
}

server {
    listen 127.0.0.1:%%PORT_UNTRUSTED%%;
    pprof_trusted_proxies 10.0.0.0/8;

    location /debug/pprof/ {
        pprof on;
        pprof_tls off;
        pprof_identity xfcc $http_x_user;
        proxy_pass http://%%TARGET%%;
    }
}
CONF
$t->run;

# (status, reason or '', identity and roles as logged)
sub ask {
    my ($port, $path, @xfcc) = @_;
    my %h;
    $h{'X-Forwarded-Client-Cert'} = @xfcc > 1 ? \@xfcc : $xfcc[0] if @xfcc;
    my $before = -e $t->path('who.log') ? length $t->read_file('who.log') : 0;
    my $r = $t->get($port, $path, headers => \%h, tls => 0);
    my $log = $t->settled_file('who.log');
    my ($last) = (split /\n/, substr($log, $before))[-1];
    my ($who, $roles) = ($last // '') =~ /^"([^"]*)" "([^"]*)"/;
    my ($reason) = ($r->{body} // '') =~ /^pprof-gateway: (\w+):/;
    return [$r->{status}, $reason // '', $who // '', $roles // ''], $r;
}

# --- from a trusted proxy ----------------------------------------------------

my ($got, $r) = ask('trusted', '/debug/pprof/heap', istio($sre));
is_deeply($got, [200, '', $sre, 'oncall,viewer'],
    'trusted sidecar: the SPIFFE ID of the last element, its xfcc binds');
my $id = $r->{headers}{'x-pprof-audit-id'};

($got) = ask('trusted', '/debug/pprof/heap', istio($dev));
is_deeply($got, [403, 'forbidden', $dev, 'viewer'],
    'a source=cert bind does not apply to an xfcc identity');
($got) = ask('trusted', '/debug/pprof/cmdline', istio($dev));
is_deeply($got, [200, '', $dev, 'viewer'], 'viewer may read cmdline');

# Several elements: the nearest proxy's (the last) decides.
($got) = ask('trusted', '/debug/pprof/heap',
    istio($sre) . ',' . istio($dev));
is_deeply($got, [403, 'forbidden', $dev, 'viewer'],
    'an earlier element (a farther hop) is not the identity');
($got) = ask('trusted', '/debug/pprof/heap', istio($dev), istio($sre));
is_deeply($got, [200, '', $sre, 'oncall,viewer'],
    'two header lines are one list, in order');

# No URI: the Subject's CN, with quoted commas, semicolons and quotes.
($got) = ask('trusted', '/debug/pprof/cmdline',
    'By=spiffe://x;Hash=00;Subject="OU=Lyft\, Inc.\; eng,CN=Test Client,'
    . 'O=\"Lyft\"";URI=');
is_deeply($got, [200, '', 'Test Client', 'viewer'],
    'an element without URI: the CN of its Subject');

# Malformed: invalid_credential, never a guess.
for my $bad (
    'URI="spiffe://cluster.local/ns/sre/sa/oncall',
    "URI=$sre,,URI=$dev",
    'By=spiffe://x;Hash=00',
    'Subject="CN=spiffe://cluster.local/ns/sre/sa/oncall";URI=',
    'Subject="CN=a,CN=b"',
) {
    ($got) = ask('trusted', '/debug/pprof/heap', $bad);
    is_deeply($got, [401, 'invalid_credential', '', ''], "refused: $bad");
}
like($t->error_log, qr/invalid_credential: X-Forwarded-Client-Cert has an unbalanced quote/,
    'the refusal says why');

($got) = ask('trusted', '/debug/pprof/heap');
is_deeply($got, [401, 'unauthenticated', '', ''], 'no header: unauthenticated');

# --- from an address that is not a trusted proxy ------------------------------

($got) = ask('untrusted', '/debug/pprof/heap', istio($sre));
is_deeply($got, [401, 'unauthenticated', '', ''],
    'untrusted peer: the header is ignored, as if absent');
like($t->error_log,
    qr/\[error\] .*pprof: X-Forwarded-Client-Cert from 127\.0\.0\.1 ignored: not in pprof_trusted_proxies/,
    'and the gateway says so at pprof_log_level (error)');

($got) = ask('untrusted', '/debug/pprof/heap', 'URI="broken');
is_deeply($got, [401, 'unauthenticated', '', ''],
    'untrusted peer: even a malformed header is not read');

{
    my $before = length $t->read_file('who.log');
    my $r2 = $t->get('untrusted', '/debug/pprof/cmdline',
        tls => 0, headers => { 'X-Forwarded-Client-Cert' => istio($sre),
                     'X-User' => 'Test Client' });
    is($r2->{status}, 403, 'untrusted peer: the next source decides');
    my $log = $t->settled_file('who.log');
    like(substr($log, $before), qr/^"Test Client" "" forbidden$/m,
        '... with its own identity, not the header\'s, and no xfcc bind');
}

# --- the audit trail ------------------------------------------------------------

my @rec = grep { $_->{audit_id} eq $id && $_->{stage} eq 'decision' }
    map { decode_json($_) } split /\n/, $t->settled_file('audit.jsonl');
is(scalar @rec, 1, 'the allowed request has a decision record');
is($rec[0]{auth}, 'xfcc', 'its "auth" is xfcc');
is($rec[0]{identity}, $sre, 'its identity is the SPIFFE ID');
is_deeply($rec[0]{roles}, ['oncall', 'viewer'], 'its roles');

$t->done_testing_checks;

# --- nginx -t ---------------------------------------------------------------------

for my $case (
    ['pprof_trusted_proxies 10.0.0.0/33;',
     qr/pprof_trusted_proxies: "10.0.0.0\/33" has an invalid prefix length/],
    ['pprof_trusted_proxies example.com;',
     qr/pprof_trusted_proxies: "example.com" is not an IPv4 or IPv6 address/],
    ['pprof_trusted_proxies;', qr/invalid number of arguments/],
    ['pprof_bind x viewer source=xfcc; pprof_trusted_proxies ::1 127.0.0.0/8;',
     undef],
) {
    my ($directive, $want) = @$case;
    my $c = PprofTest->new;
    $c->write_config(<<"CONF");
pprof_role viewer index;
server {
    listen 127.0.0.1:%%PORT_HTTP%%;
    location /debug/pprof/ {
        pprof on;
        pprof_tls off;
        pprof_identity xfcc;
        $directive
        proxy_pass http://127.0.0.1:1;
    }
}
CONF
    my ($rc, $out) = $c->nginx_t;
    if ($want) {
        isnt($rc, 0, "nginx -t refuses $directive");
        like($out, $want, '... saying why') or diag($out);
    } else {
        is($rc, 0, "nginx -t accepts $directive") or diag($out);
        unlike($out, qr/\[warn\].*(?:xfcc|trusted)/, '... without a warning');
    }
}

done_testing;
