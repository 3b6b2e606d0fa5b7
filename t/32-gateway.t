#!/usr/bin/perl

# pprof_gateway_id: which gateway of a fleet wrote an audit record.
# - Without the directive, every record (decision, response, periodic and
#   closing checkpoints) says "gateway": nginx's host name, right after
#   "stage"; a gateway without Redis writes no "shared".
# - A name with quotes, a backslash and UTF-8 comes back whole from every
#   record; the checkpoint's signature covers it; a reload that renames
#   the gateway goes on with one chain; every log verifies, and every
#   record is valid against docs/audit.schema.json.
# - nginx -t refuses a name that would break a record or a reader (empty,
#   too long, control characters, not UTF-8), without echoing it, and the
#   directive outside http.
# - The fleet examples of docs/fleet.md pass nginx -t as printed, with
#   only their paths and ports replaced.

use strict;
use warnings;

use Encode qw(decode_utf8);
use JSON::PP;
use POSIX ();
use Test::More;
use PprofTest;

my $audit_tool = $ENV{PPROF_AUDIT} || PprofTest->new(module => 0)->root . '/build/pprof-audit';
-x $audit_tool or die "pprof-audit is missing ($audit_tool): run make tools\n";

my $t = PprofTest->new;
my $d = $t->testdir;
my $root = $t->root;
$t->start_target;

system("cd $d && openssl genpkey -algorithm ed25519 -out audit.key 2>/dev/null"
    . " && openssl pkey -in audit.key -pubout -out audit.pub") == 0
    or die "ed25519 key";

# nginx's $hostname: gethostname(), lowercased.
my $hostname = lc((POSIX::uname())[1]);

sub conf {
    my ($gateway, $log) = @_;
    return $gateway . <<"CONF";
pprof_role oncall index cmdline symbol snapshot capture;
pprof_bind ~^u oncall;
pprof_audit_log $log;
pprof_audit_signing_key audit.key;
pprof_audit_checkpoint 3;
server {
    listen 127.0.0.1:%%PORT_HTTP%%;
    server_name localhost;
    pprof_tls off;
    pprof_identity \$http_x_user;
    pprof_rate off;

    location /debug/pprof/ {
        pprof on;
        proxy_pass http://%%TARGET%%;
    }
}
CONF
}

sub get_as {
    my ($user, $path) = @_;
    return $t->get('http', $path, tls => 0,
        headers => $user ? { 'X-User' => $user } : {});
}

# Allowed, allowed with a response, denied: every kind of record.
sub traffic {
    is(get_as('u1', '/debug/pprof/cmdline')->{status}, 200, 'cmdline allowed');
    is(get_as('u1', '/debug/pprof/heap')->{status}, 200, 'heap allowed');
    is(get_as('', '/debug/pprof/heap')->{status}, 401, 'no identity: 401');
    is(get_as('u1', '/debug/pprof/nope')->{status}, 404, 'unknown endpoint: 404');
}

sub lines_of {
    my ($file) = @_;
    return split /\n/, $t->read_file("$d/$file");
}

sub verify {
    my ($file) = @_;
    my $out = `'$audit_tool' verify '$d/$file' --pubkey '$d/audit.pub' 2>&1`;
    return ($? >> 8, $out);
}

# Every line against the schema, by Debian's python3-jsonschema.
sub schema_errors {
    my ($file) = @_;
    my $out = `/usr/bin/python3 - '$root/docs/audit.schema.json' '$d/$file' 2>&1 <<'PY'
import json, sys
from jsonschema import Draft202012Validator
v = Draft202012Validator(json.load(open(sys.argv[1])))
for n, line in enumerate(open(sys.argv[2], encoding="utf-8"), 1):
    for e in v.iter_errors(json.loads(line)):
        print("line %d: %s" % (n, e.message))
PY`;
    return $? == 0 ? $out : "python3 failed: $out";
}

# The gateway of each line, in order, and the stages seen.
sub gateways {
    my (@lines) = @_;
    my (@gw, %stages);
    for my $line (@lines) {
        my $rec = JSON::PP->new->utf8->decode($line);
        push @gw, $rec->{gateway} // '(none)';
        $stages{$rec->{stage}}++;
        ok(!exists $rec->{shared}, "seq $rec->{seq}: no Redis, no \"shared\"");
        like($line, qr/^\{"v":1,"seq":\d+,"ts":"[^"]+","audit_id":"[^"]*","stage":"\w+","gateway":/,
            "seq $rec->{seq}: gateway right after stage");
    }
    return (\@gw, \%stages);
}

###############################################################################
# The default: the host name.

$t->write_config(conf('', 'default.jsonl'));
$t->run;
traffic();
$t->stop;

my @lines = lines_of('default.jsonl');
my ($gw, $stages) = gateways(@lines);
is_deeply([sort keys %$stages], [qw(checkpoint decision response)],
    'default: decisions, responses and checkpoints');
is_deeply($gw, [($hostname) x @lines], "default: every record says gateway \"$hostname\"");
like($lines[-1], qr/"stage":"checkpoint","gateway":"\Q$hostname\E","records":/,
    'default: the closing checkpoint too');
my ($rc, $out) = verify('default.jsonl');
is($rc, 0, 'default: the log verifies with the key') or diag($out);
is(schema_errors('default.jsonl'), '', 'default: every record is valid by the schema');

###############################################################################
# A name of quotes, a backslash and UTF-8, then renamed by a reload.

my $name = 'gw-eu-1 "blue" \\ caf' . "\xc3\xa9";
(my $conf_name = $name) =~ s/\\/\\\\/g;
$t->write_config(conf("pprof_gateway_id '$conf_name';\n", 'named.jsonl'));
$t->run;
traffic();
$t->write_config(conf("pprof_gateway_id gw-eu-2;\n", 'named.jsonl'));
$t->reload;
is(get_as('u1', '/debug/pprof/cmdline')->{status}, 200, 'after the reload: cmdline');
$t->stop;

@lines = lines_of('named.jsonl');
($gw, $stages) = gateways(@lines);
is_deeply([sort keys %$stages], [qw(checkpoint decision response)],
    'named: decisions, responses and checkpoints');
my $first = decode_utf8($name);
my $n_first = grep { $_ eq $first } @$gw;
ok($n_first >= 8, "named: the name comes back whole ($n_first records)");
is_deeply($gw, [($first) x $n_first, ('gw-eu-2') x (@lines - $n_first)],
    'named: every record has it, then the new name after the reload')
    or diag(explain $gw);
like($lines[0], qr/"gateway":"gw-eu-1 \\"blue\\" \\\\ caf\xc3\xa9",/,
    'named: escaped as JSON, UTF-8 as it is');
like($lines[-1], qr/"stage":"checkpoint","gateway":"gw-eu-2"/,
    'named: the closing checkpoint has the new name');
($rc, $out) = verify('named.jsonl');
is($rc, 0, 'named: one chain across the reload, verified') or diag($out);
is(schema_errors('named.jsonl'), '', 'named: every record is valid by the schema');

# The schema knows "shared" as the glue writes it, where it writes it.
my ($dec) = grep { /"stage":"decision"/ } @lines;
my ($resp) = grep { /"stage":"response"/ } @lines;
my @shared = map { s/("enforced":true)/$1,"shared":"ok"/r } $dec, $resp;
push @shared, map { s/("enforced":true)/$1,"shared":"unavailable"/r } $dec, $resp;
$t->write_file('shared.jsonl', join("\n", @shared) . "\n");
is(schema_errors('shared.jsonl'), '', 'schema: "shared" ok and unavailable');
$t->write_file('shared.jsonl', ($dec =~ s/("enforced":true)/$1,"shared":"maybe"/r) . "\n");
like(schema_errors('shared.jsonl'), qr/^line 1: /, 'schema: another "shared" is not');

# The records docs/audit.md shows are records the schema accepts.
open(my $md, '<', "$root/docs/audit.md") or die "docs/audit.md: $!";
my @examples = map { s/^\s+//r } grep { /^\s+\{"v":1,/ } <$md>;
close $md;
cmp_ok(scalar @examples, '>=', 10, 'docs/audit.md: its example records found');
$t->write_file('examples.jsonl', join('', @examples));
is(schema_errors('examples.jsonl'), '', 'docs/audit.md: every example is valid by the schema');

# The signature covers the gateway: a closing checkpoint that names
# another gateway, nothing else changed, is caught.
my $last_seq = JSON::PP->new->decode($lines[-1])->{seq};
(my $forged = $lines[-1]) =~ s/"gateway":"gw-eu-2"/"gateway":"gw-eu-3"/ or die;
$t->write_file('forged.jsonl', join("\n", @lines[0 .. $#lines - 1], $forged) . "\n");
($rc, $out) = verify('forged.jsonl');
is($rc, 1, 'a checkpoint with its gateway changed: verification fails');
like($out, qr/seq $last_seq: bad signature/, '... at its seq, by its signature');

###############################################################################
# Names nginx -t refuses.

my $conf_path = $t->path('nginx.conf');

# The line nginx names: where the directive's ";" is.
sub directive_line {
    my $at = index($t->{config}, 'pprof_gateway_id');
    my $end = index($t->{config}, ";\n", $at);
    return 1 + (() = substr($t->{config}, 0, $end) =~ /\n/g);
}
my $rule = '(a gateway id is 1 to 255 bytes of printable UTF-8)';
my %odd = (
    'empty'                  => ['""', 'is empty'],
    '256 bytes'              => ['g' x 256, 'is longer than 255 bytes'],
    'a tab, escaped'         => ['"gw\tx"', 'holds a control character'],
    'a newline and a record' => [qq{"gw\n{\\"v\\":1}"}, 'holds a control character'],
    'a carriage return'      => [qq{"gw\rx"}, 'holds a control character'],
    'a terminal escape'      => ["gw\x1b[31mred", 'holds a control character'],
    'DEL'                    => ["gw\x7f", 'holds a control character'],
    'C1 NEL'                 => ["gw\xc2\x85", 'holds a control character'],
    'a stray byte'           => ["gw\xff", 'is not UTF-8'],
    'a cut character'        => ["gw\xc3", 'is not UTF-8'],
    'an overlong slash'      => ["gw\xc0\xaf", 'is not UTF-8'],
);
for my $case (sort keys %odd) {
    my ($value, $why) = @{ $odd{$case} };
    $t->write_config(conf("pprof_gateway_id $value;\n", 'odd.jsonl'));
    ($rc, $out) = $t->nginx_t;
    isnt($rc, 0, "$case: nginx -t fails");
    like($out, qr/\[emerg\] (?:\d+#\d+: )?\Qpprof_gateway_id: the name $why $rule in $conf_path:\E${\ directive_line()}$/m,
        "$case: says why, at its line") or diag($out);
    unlike($out, qr/gw[\x00-\x1f\x7f-\xff]/, "$case: without echoing the name");
}

$t->config_is(conf('pprof_gateway_id ' . ('g' x 255) . ";\n", 'odd.jsonl'), undef,
    '255 bytes');
$t->config_is(conf("pprof_gateway_id 'pod-7f9c \"x\" caf\xc3\xa9';\n", 'odd.jsonl'), undef,
    'quotes and UTF-8');
$t->config_is(conf("pprof_gateway_id a;\npprof_gateway_id b;\n", 'odd.jsonl'),
    qr/"pprof_gateway_id" directive is duplicate/, 'twice');
(my $in_server = conf('', 'odd.jsonl')) =~ s/(server_name localhost;)/$1\n    pprof_gateway_id a;/;
$t->config_is($in_server, qr/"pprof_gateway_id" directive is not allowed here/,
    'in a server');

$t->done_testing_checks;

###############################################################################
# The fleet examples of docs/fleet.md: nginx -t passes as printed, with
# only the paths and ports their headers list replaced.

my $fleet = $t->read_file("$root/docs/fleet.md");
my $module = $ENV{PPROF_MODULE} || "$root/build/ngx_http_pprof_module.so";
$t->pki;

for my $name (qw(fleet-sidecar fleet-central fleet-multi)) {
    like($fleet, qr/\(examples\/\Q$name\E\.conf\)/, "fleet.md links $name.conf");

    my $conf = $t->read_file("$root/docs/examples/$name.conf");
    my $dir = "$d/$name";
    mkdir $dir or die "mkdir $dir: $!";
    for my $f (qw(server.crt server.key)) {
        $t->write_file("$dir/$f", $t->read_file($t->path($f)));
    }
    $t->write_file("$dir/clients-ca.crt", $t->read_file($t->path('ca.crt')));
    $t->write_file("$dir/audit.key", $t->read_file("$d/audit.key"));
    $t->write_file("$dir/api_keys", ('0' x 64) . " parca scraper\n");
    $t->write_file("$dir/redis.pass", "pprof example-password\n");

    my ($listen) = $conf =~ /^\s*(listen \d+)/m;
    my @subst = (
        '/usr/lib/nginx/modules/ngx_http_pprof_module.so' => $module,
        '/etc/nginx/pprof/' => "$dir/",
        '/var/log/nginx/'   => "$dir/",
        '/run/'             => "$dir/",
        $listen             => 'listen 127.0.0.1:' . $t->port("example_$name"),
    );
    my ($header) = $conf =~ /\A((?:#.*\n)+)/;
    while (my ($from, $to) = splice @subst, 0, 2) {
        like($header, qr/\Q$from\E/, "$name: the header announces $from");
        ok($conf =~ s/\Q$from\E/$to/g, "$name: it occurs: $from");
    }

    $t->write_whole_config($conf);
    ($rc, $out) = $t->nginx_t;
    is($rc, 0, "$name: nginx -t passes") or diag($out);
    # Only root can switch to www-data; elsewhere nginx says it ignores `user`.
    my @warnings = grep { $> == 0 || !/"user" directive makes sense only/ }
        $out =~ /^(.*\[(?:warn|emerg|alert)\].*)$/mg;
    is_deeply(\@warnings, [], "$name: without a warning");
}

done_testing;
