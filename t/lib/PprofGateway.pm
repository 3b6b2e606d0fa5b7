package PprofGateway;

# Configuration pieces shared by the integration tests: the roles of SPEC
# §12, the certificates that exercise each identity rule, a TLS server
# block around a location body, and the test token tool.

use strict;
use warnings;

use Exporter 'import';
our @EXPORT_OK = qw(roles_conf make_identities tls_server jwt_tool);

# viewer: the cheap endpoints; oncall: everything; heaponly: one name.
sub roles_conf {
    return <<'CONF';
pprof_role viewer   index cmdline symbol;
pprof_role oncall   index cmdline symbol snapshot capture;
pprof_role heaponly heap;
pprof_bind ~^spiffe://prod\.example/ns/sre/ oncall;
pprof_bind ~^spiffe://prod\.example/ns/dev/ viewer;
pprof_bind dns-only.example heaponly;
pprof_bind cn-only viewer;
CONF
}

# Client certificates, named for who they are.
sub make_identities {
    my ($t) = @_;
    $t->pki;
    $t->client_cert('oncall', subject => '/CN=ignored-oncall',
        san => 'URI:spiffe://prod.example/ns/sre/alice');
    $t->client_cert('viewer', subject => '/CN=ignored-viewer',
        san => 'URI:spiffe://prod.example/ns/dev/bob');
    # A DNS SAN listed before the URI SAN: the URI still wins.
    $t->client_cert('dns-then-uri', subject => '/CN=x',
        san => 'DNS:dns-only.example,URI:spiffe://prod.example/ns/dev/carol');
    $t->client_cert('dns', subject => '/CN=cn-only',
        san => 'DNS:dns-only.example');
    $t->client_cert('cn', subject => '/O=example/CN=cn-only');
    $t->client_cert('stranger', subject => '/CN=stranger');
    # A trusted identity, signed by a CA nginx does not trust.
    $t->client_cert('impostor', ca => 'rogue', subject => '/CN=impostor',
        san => 'URI:spiffe://prod.example/ns/sre/alice');
    $t->client_cert('expired', days => -2, subject => '/CN=expired',
        san => 'URI:spiffe://prod.example/ns/sre/alice');
}

# tls_server($port_name, $verify, $body): a server on 127.0.0.1 with the
# test CA as the client CA and ssl_verify_client $verify.
sub tls_server {
    my ($port, $verify, $body) = @_;
    my $name = uc $port;
    return <<"CONF";
server {
    listen 127.0.0.1:%%PORT_$name%% ssl;
    server_name localhost;
    ssl_certificate %%TESTDIR%%/server.crt;
    ssl_certificate_key %%TESTDIR%%/server.key;
    ssl_client_certificate %%TESTDIR%%/ca.crt;
    ssl_verify_client $verify;
    location / { return 404; }
$body
}
CONF
}

# jwt_tool($t, @args): build/pprof-jwt's output, run in the test's
# directory (where it keeps its keys), without the final newline.
sub jwt_tool {
    my ($t, @args) = @_;
    my $tool = $ENV{PPROF_JWT} || $t->root . '/build/pprof-jwt';
    -x $tool or die "pprof-jwt is missing ($tool): run make build/pprof-jwt\n";
    open my $fh, '-|', 'sh', '-c', 'cd "$0" && exec "$@"', $t->testdir,
        $tool, @args or die "pprof-jwt: $!";
    local $/;
    my $out = <$fh>;
    close $fh or die "pprof-jwt @args failed\n";
    $out =~ s/\n\z//;
    return $out;
}

1;
