#!/usr/bin/perl
#
# Writes the seed corpus of every harness into t/fuzz/corpus/<harness>/:
#
#     perl t/fuzz/make-corpus.pl [PPROF_JWT]
#
# Each seed is laid out as its harness reads its input (see the comment at
# the top of t/fuzz/fuzz_<harness>.c).  Keys and tokens come from
# pprof-jwt (build/pprof-jwt by default); only public keys, and tokens
# signed by keys thrown away at the end, are written.  Profiles come from
# t/unit/fixtures.  The corpus is committed, so that `make fuzz-replay`
# runs the same inputs everywhere; run this again after changing how a
# harness reads its input, then add the findings worth keeping by hand.

use strict;
use warnings;

use Compress::Zlib qw(memGunzip);
use Digest::SHA qw(sha256_hex);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use MIME::Base64 qw(encode_base64);

my $root = $0 =~ s{/t/fuzz/make-corpus\.pl$}{}r;
$root = '.' if $root eq $0;
my $jwt = shift // "$root/build/pprof-jwt";
my $out = "$root/t/fuzz/corpus";
my $tmp = tempdir(CLEANUP => 1);

-x $jwt or die "no $jwt: make build/pprof-jwt first\n";

my %seeds;

sub seed { my ($h, $name, $bytes) = @_; $seeds{$h}{$name} = $bytes; }
sub field { my ($s) = @_; die "field too long\n" if length $s > 255;
            return chr(length $s) . $s; }
sub rep { my ($s, $times) = @_; $times //= 1;
          return pack('CC', length $s, $times - 1) . $s; }
sub slurp { my ($p) = @_; open my $f, '<:raw', $p or die "$p: $!\n";
            local $/; return <$f>; }
sub run { my $r = `$jwt @_`; $? == 0 or die "pprof-jwt @_ failed\n";
          chomp $r; return $r; }
sub b64url { return encode_base64($_[0], '') =~ tr{+/}{-_}r =~ s/=+$//r; }

my %fixture = map { $_ => slurp("$root/t/unit/fixtures/$_.pb.gz") }
              qw(heap goroutine threadcreate heap-delta empty-blocks);
my %plain = map { $_ => memGunzip($fixture{$_}) } keys %fixture;


# endpoint: method | prefix << 2, uri field, query.
my @ep = (
    [ get_heap      => 0, '/debug/pprof/heap', 'gc=1' ],
    [ index         => 0, '/debug/pprof/', '' ],
    [ post_symbol   => 2, '/debug/pprof/symbol', '' ],
    [ post_heap     => 2, '/debug/pprof/heap', '' ],
    [ other_cmdline => 3, '/debug/pprof/cmdline', '' ],
    [ head_trace    => 1, '/debug/pprof/trace', 'seconds=1.5' ],
    [ lookalike     => 0, '/debug/pprof/CMDLINE', '' ],
    [ delta         => 0, '/debug/pprof/goroutine', 'debug=0&seconds=5' ],
    [ delta_escaped => 0, '/debug/pprof/allocs', '%73econds=5' ],
    [ custom        => 0, '/debug/pprof/custom.profile-1_x', '' ],
    [ dotdot        => 0, '/debug/pprof/../cmdline', '' ],
    [ hidden        => 0, '/debug/pprof/.hidden', '' ],
    [ root_prefix   => 4, '/profile', 'seconds=30' ],
    [ other_prefix  => 8, '/pprofheap', '' ],
    [ long_name     => 0, '/debug/pprof/' . ('a' x 129), '' ],
    [ nul           => 0, "/debug/pprof/heap\0", '' ],
    [ no_prefix     => 0, '/metrics', '' ],
);
seed('endpoint', $_->[0], chr($_->[1]) . field($_->[2]) . $_->[3]) for @ep;


# params: kind, method, max_seconds index, body index, query.
# kinds: 0 index 1 cmdline 2 symbol 3 profile 4 trace 5 heap 6 snapshot;
# max_seconds 1 2 30 60 300 3600 86400; body 0 -1 1 65536 65537.
my @pa = (
    [ heap_debug_gc   => 5, 0, 3, 0, 'debug=1&gc=1' ],
    [ heap_gc_twice   => 5, 0, 3, 0, 'gc=1&gc=1' ],
    [ heap_debug_clash=> 5, 0, 3, 0, 'debug=2&debug=1' ],
    [ profile_30      => 3, 0, 3, 0, 'seconds=30' ],
    [ profile_zero    => 3, 0, 3, 0, 'seconds=0' ],
    [ profile_max     => 3, 0, 6, 0, 'seconds=86400' ],
    [ profile_default => 3, 0, 1, 0, '' ],
    [ trace_frac      => 4, 0, 2, 0, 'seconds=0.5' ],
    [ trace_micro     => 4, 0, 4, 0, 'seconds=1.000001' ],
    [ trace_bad       => 4, 0, 2, 0, 'seconds=.5' ],
    [ delta           => 6, 0, 3, 0, 'seconds=10&debug=0' ],
    [ delta_debug     => 6, 0, 3, 0, 'seconds=10&debug=1' ],
    [ escaped         => 6, 0, 3, 0, '%73econds=5&de%62ug=0' ],
    [ plus            => 6, 0, 3, 0, 'seconds=5+' ],
    [ symbol_post     => 2, 2, 3, 3, '' ],
    [ symbol_big      => 2, 2, 3, 4, '' ],
    [ cmdline_body    => 1, 0, 3, 2, '' ],
    [ junk            => 5, 0, 3, 0, 'a=b&&&c&=&debug=%zz' ],
    [ many_pairs      => 5, 0, 3, 0, join('&', ('x=1') x 65) ],
    [ long_value      => 5, 0, 3, 0, 'debug=' . ('0' x 40) ],
);
seed('params', $_->[0], pack('CCCC', @$_[1 .. 4]) . $_->[5]) for @pa;


# cidr: text field, 16 address bytes.
my $v4 = pack('C4', 10, 1, 2, 3) . ("\0" x 12);
my $v6 = pack('n8', 0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
my $mapped = ("\0" x 10) . "\xff\xff" . pack('C4', 10, 1, 2, 3);
my @ci = (
    [ v4_net     => '10.0.0.0/8', $v4 ],
    [ v4_host    => '10.0.0.1/8', $v4 ],
    [ v4_single  => '10.1.2.3', $v4 ],
    [ v4_all     => '0.0.0.0/0', $v4 ],
    [ v4_33      => '10.0.0.0/33', $v4 ],
    [ v4_space   => '10.0.0.0/ 8', $v4 ],
    [ v4_zeros   => '10.0.0.0/008', $v4 ],
    [ v6_loop    => '::1/128', $v6 ],
    [ v6_net     => '2001:db8::/32', $v6 ],
    [ v6_mapped  => '::ffff:10.0.0.0/104', $mapped ],
    [ v6_scope   => 'fe80::1%eth0', $v6 ],
    [ all        => 'all', $v4 ],
    [ nul        => "10.0.0.0\0/8", $v4 ],
);
seed('cidr', $_->[0], field($_->[1]) . $_->[2]) for @ci;


# jwt: mode, signer, options, tamper, leeway, then the token (0), header
# NUL claims (1) or claims (2).  Signer bytes 0-9 are the cheap signers,
# 224-229 the costly ones (see pick_signer()); options: 1 tamper, 2 through
# pprof_auth_identify, 4 iss and aud configured, 8 no kid, 16 email/scope.
my $claims = '{"sub":"alice","exp":1800000000,"roles":["oncall","sre"]}';
my $full = '{"sub":"bob","exp":1800000000,"nbf":1600000000,'
         . '"iss":"https://issuer.example","aud":["x","pprof-gateway"],'
         . '"roles":"viewer capture"}';
seed('jwt', "signed_$_", pack('C5', 2, $_, 0, 0, 60) . $claims)
    for 0 .. 9, 224 .. 229;
seed('jwt', 'signed_identify', pack('C5', 2, 0, 2, 0, 0) . $claims);
seed('jwt', 'signed_iss_aud', pack('C5', 2, 1, 4, 0, 0) . $full);
seed('jwt', 'signed_no_kid', pack('C5', 2, 2, 8, 0, 0) . $claims);
seed('jwt', 'signed_tampered', pack('C5', 2, 0, 1, 77, 0) . $claims);
seed('jwt', 'scope_claims', pack('C5', 2, 0, 16, 0, 0)
     . '{"email":"a@example","exp":1800000000,"scope":"  a  b "}');
seed('jwt', 'expired', pack('C5', 2, 0, 0, 0, 10)
     . '{"sub":"alice","exp":1699999989}');
seed('jwt', 'not_yet', pack('C5', 2, 0, 0, 0, 0)
     . '{"sub":"alice","exp":1800000000,"nbf":1700000001}');
seed('jwt', 'exp_string', pack('C5', 2, 0, 0, 0, 0)
     . '{"sub":"alice","exp":"1800000000"}');
seed('jwt', 'exp_huge', pack('C5', 2, 0, 0, 0, 0)
     . '{"sub":"alice","exp":1e308}');
seed('jwt', 'duplicate', pack('C5', 2, 0, 0, 0, 0)
     . '{"sub":"alice","sub":"root","exp":1800000000}');
seed('jwt', 'bad_role', pack('C5', 2, 0, 0, 0, 0)
     . '{"sub":"alice","exp":1800000000,"roles":["a,b"]}');
seed('jwt', 'control_sub', pack('C5', 2, 0, 0, 0, 0)
     . '{"sub":"al\u0000ice","exp":1800000000}');
seed('jwt', 'header_crit', pack('C5', 1, 0, 0, 0, 0)
     . qq({"alg":"HS256","kid":"oct","crit":["exp"]}\0$claims));
seed('jwt', 'header_wrong_kid', pack('C5', 1, 0, 0, 0, 0)
     . qq({"alg":"HS256","kid":"rsa"}\0$claims));
seed('jwt', 'header_alg_none', pack('C5', 1, 4, 0, 0, 0)
     . qq({"alg":"none"}\0$claims));
seed('jwt', 'header_confused', pack('C5', 1, 5, 0, 0, 0)
     . qq({"alg":"HS256","kid":"rsa"}\0$claims));
seed('jwt', 'raw_junk', pack('C5', 0, 0, 0, 0, 0) . 'a.b.c');
seed('jwt', 'raw_four', pack('C5', 0, 0, 2, 0, 0) . 'a.b.c.d');

my %alg_prefix;
for my $alg (qw(RS256 PS256 ES256 ES384 EdDSA HS256)) {
    my $p = "$tmp/$alg";
    run('keygen', $alg, $p);
    $alg_prefix{$alg} = $p;
    my $kid = { RS256 => 'rsa', PS256 => 'rsa', ES256 => 'ec256',
                ES384 => 'ec384', EdDSA => 'ed', HS256 => 'oct' }->{$alg};
    my $tok = run('sign', $alg, $p, "'{\"alg\":\"$alg\",\"kid\":\"$kid\"}'",
                  "'$claims'");
    seed('jwt', "raw_$alg", pack('C5', 0, 0, 0, 0, 0) . $tok);
}


# jwks: the key file.
my @jwk = map { run('jwk', $_, $alg_prefix{$_}, "k$_", 'alg') }
          qw(RS256 ES256 ES384 EdDSA HS256);
seed('jwks', 'jwks_all', '{"keys":[' . join(',', @jwk) . ']}');
seed('jwks', 'jwks_one', qq({"keys":[$jwk[1]]}));
seed('jwks', 'jwks_empty', '{"keys":[]}');
seed('jwks', 'jwks_skipped', '{"keys":[{"kty":"EC","crv":"P-521","x":"AA",'
     . '"y":"AA"},{"kty":"OKP","crv":"X25519","x":"AA"},'
     . '{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}]}');
seed('jwks', 'jwks_private', '{"keys":[{"kty":"EC","crv":"P-256","x":"AA",'
     . '"y":"AA","d":"AA"}]}');
seed('jwks', 'jwks_short_oct', '{"keys":[{"kty":"oct","k":"c2hvcnQ"}]}');
seed('jwks', 'jwks_alg_long', '{"keys":[{"kty":"oct","alg":"HS256XYZ",'
     . '"k":"' . b64url('k' x 32) . '"}]}');
seed('jwks', 'jwks_bad_point', '{"keys":[{"kty":"EC","crv":"P-256","x":"'
     . b64url("\1" x 32) . '","y":"' . b64url("\2" x 32) . '"}]}');
seed('jwks', 'jwks_duplicate', '{"keys":[],"keys":[]}');
seed('jwks', 'pem_one', slurp("$alg_prefix{ES256}.pub"));
seed('jwks', 'pem_all', join('', map { slurp("$alg_prefix{$_}.pub") }
                                  qw(RS256 ES384 EdDSA)));
seed('jwks', 'pem_private', slurp("$alg_prefix{EdDSA}.key"));
seed('jwks', 'pem_truncated', substr(slurp("$alg_prefix{RS256}.pub"), 0, 200));
system("openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 "
       . "-out $tmp/pss.key 2>/dev/null && openssl pkey -in $tmp/pss.key "
       . "-pubout -out $tmp/pss.pub 2>/dev/null") == 0
    or die "openssl RSA-PSS key failed\n";
seed('jwks', 'pem_rsa_pss', slurp("$tmp/pss.pub"));


# apikey: mode 0: file NUL header; mode 1: key, user, tamper, file tail.
my $d = sha256_hex('pk_secret');
seed('apikey', 'file_bearer', "\0$d alice oncall sre\n\0Bearer pk_secret");
seed('apikey', 'file_basic', "\0# keys\n\n$d alice\n\0Basic "
     . encode_base64('alice:pk_secret', ''));
seed('apikey', 'file_upper', "\0" . uc($d) . " alice\n\0bearer   pk_secret");
seed('apikey', 'file_twice', "\0$d a\n$d b\n\0Bearer x");
seed('apikey', 'file_short', "\0abc alice\n\0Bearer x");
seed('apikey', 'file_no_id', "\0$d\n\0Bearer x");
seed('apikey', 'file_bad_role', "\0$d alice a,b\n\0Bearer x");
seed('apikey', 'file_roles', "\0$d alice " . join(' ', ('r') x 33)
     . "\n\0Bearer x");
seed('apikey', 'file_jwt_shape', "\0$d alice\n\0Bearer a.b.c");
seed('apikey', 'file_other', "\0$d alice\n\0Digest x");
seed('apikey', 'made_bearer', "\1\0" . field('') . "\0");
seed('apikey', 'made_basic', "\1\4" . field('alice') . "\0# tail\n");
seed('apikey', 'made_basic_other', "\1\5" . field('mallory') . "\0");
seed('apikey', 'made_basic_colon', "\1\6" . field('a:b') . "\0");
seed('apikey', 'made_tampered', "\1\2" . field('') . "\x0b");


# annotate: flags, 4 chunk sizes, deflate byte, step byte, identity, body.
# flags: 1 raw, 2 key, 4 small hold, 8 no lines, 16 name, 32 long extra.
sub ann { my ($flags, $chunks, $how, $step, $id, $body) = @_;
          return pack('C', $flags) . pack('C4', @$chunks)
                 . pack('CC', $how, $step) . field($id) . $body; }
my @whole = (255, 255, 255, 255);
seed('annotate', 'raw_heap_sealed', ann(3, [255, 15, 63, 0], 0, 0,
                                          'alice', $fixture{heap}));
seed('annotate', 'raw_goroutine', ann(1, \@whole, 0, 0, 'bob',
                                      $fixture{goroutine}));
seed('annotate', 'raw_empty_blocks', ann(3, [0, 0, 0, 0], 0, 0, 'x',
                                         $fixture{'empty-blocks'}));
seed('annotate', 'raw_delta_small_hold', ann(7, \@whole, 0, 0, 'x',
                                             $fixture{'heap-delta'}));
seed('annotate', 'raw_trailing', ann(3, \@whole, 0, 0, 'x',
                                     $fixture{threadcreate} . "\0"));
seed('annotate', 'raw_two_members', ann(3, \@whole, 0, 0, 'x',
         $fixture{threadcreate} . $fixture{threadcreate}));
seed('annotate', 'raw_truncated', ann(3, \@whole, 0, 0, 'x',
         substr($fixture{threadcreate}, 0, 200)));
seed('annotate', 'raw_not_gzip', ann(3, \@whole, 0, 0, 'x', 'hello'));
seed('annotate', 'gz_threadcreate', ann(2, [16, 32, 48, 64], 6, 0,
                                        'alice', $plain{threadcreate}));
seed('annotate', 'gz_go_flush', ann(2, \@whole, 56, 0, "a l\x01i%ce",
                                    $plain{threadcreate}));
seed('annotate', 'gz_blocks', ann(2, [7, 7, 7, 7], 106, 40, 'x',
                                  $plain{'heap-delta'}));
seed('annotate', 'gz_full_flush', ann(2, \@whole, 156, 100, 'x',
                                      $plain{'heap-delta'}));
seed('annotate', 'gz_huffman', ann(2, \@whole, 29, 0, 'x',
                                   $plain{threadcreate}));
seed('annotate', 'gz_name', ann(18, \@whole, 6, 0, 'x',
                                $plain{threadcreate}));
seed('annotate', 'gz_long_extra', ann(34, \@whole, 6, 0, 'x',
                                      $plain{threadcreate}));
seed('annotate', 'gz_no_lines', ann(10, \@whole, 6, 0, 'x',
                                    $plain{threadcreate}));
seed('annotate', 'gz_unsigned', ann(0, \@whole, 6, 0, 'x',
                                    $plain{threadcreate}));
seed('annotate', 'gz_no_strings', ann(2, \@whole, 6, 0, 'x', "\x08\x01"));
seed('annotate', 'gz_strings_first_not_empty', ann(2, \@whole, 6, 0, 'x',
                                                   "\x32\x01a"));
seed('annotate', 'gz_group', ann(2, \@whole, 6, 0, 'x', "\x32\x00\x0b"));
# Known finding: field 1 as a varint and an empty string_table, sealed
# while protobuf-c (and so verify-profile) rejects it.
seed('annotate', 'finding_sealed_wire_type', ann(2, \@whole, 6, 0, 'alice',
                                                 "\x08\x0a\x32\x00"));


# audit_verify: mode 0: the log; mode 1: tamper, position (2), records.
sub rec { my ($flags, @f) = @_; return chr($flags) . join('', map { field($_) } @f); }
my $recs = rec(0, 'alice', 'GET', 'heap', 'debug=1')
         . rec(0x83, "b\x00b\"\\", 'POST', 'symbol', '')
         . rec(5, "\xff\xfe\xc3\xa9", "GET\r\n", 'profile', 'seconds=30');
seed('audit_verify', 'written', "\1\0\0\0" . $recs);
seed('audit_verify', 'written_tampered', "\1\1\x40\0" . $recs);
seed('audit_verify', 'written_tamper_end', "\1\x0b\xff\xff" . $recs);
seed('audit_verify', 'written_empty', "\1\0\0\0");
seed('audit_verify', 'written_long', "\1\0\0\0"
     . rec(0, 'x' x 255, 'y' x 255, 'z' x 255, 'w' x 255) x 9);
my $zero = '0' x 64;
my $l1 = qq({"v":1,"seq":1,"ts":"2026-01-01T00:00:00.000000Z",)
       . qq("audit_id":"a","stage":"decision","prev":"$zero"});
my $l2 = qq({"v":1,"seq":2,"ts":"2026-01-01T00:00:00.000000Z","audit_id":"a",)
       . qq("stage":"checkpoint","records":1,"signature":")
       . ('A' x 86) . qq(==","prev":") . sha256_hex($l1) . '"}';
seed('audit_verify', 'raw_chain', "\0$l1\n$l2\n");
seed('audit_verify', 'raw_torn', "\0$l1\n$l2");
seed('audit_verify', 'raw_reordered', "\0$l2\n$l1\n");
seed('audit_verify', 'raw_not_json', "\0{\n");
seed('audit_verify', 'raw_long_line', "\0" . ('x' x 9000) . "\n");
seed('audit_verify', 'raw_big_seq', "\0" . ($l1 =~ s/"seq":1/"seq":9223372036854775808/r) . "\n");
seed('audit_verify', 'raw_empty', "\0");


# profile_verify: mode, why-length index, tamper, position (2), then the
# file (0), an uncompressed file (1) or an upstream profile to seal (2).
seed('profile_verify', 'raw_heap', "\0\6\0\0\0" . $fixture{heap});
seed('profile_verify', 'raw_short_why', "\0\1\0\0\0" . $fixture{heap});
seed('profile_verify', 'raw_not_gzip', "\0\6\0\0\0hello");
seed('profile_verify', 'raw_two_members', "\0\6\0\0\0" . $fixture{heap}
     . $fixture{heap});
seed('profile_verify', 'plain_heap', "\1\6\0\0\0" . $plain{heap});
seed('profile_verify', 'sealed_threadcreate', "\2\6\0\0\0"
     . $plain{threadcreate});
seed('profile_verify', 'sealed_goroutine_why0', "\2\0\0\0\0"
     . $plain{goroutine});
seed('profile_verify', 'sealed_tampered', "\2\5\1\x20\0"
     . $plain{threadcreate});
seed('profile_verify', 'sealed_tampered_tail', "\2\5\x0f\xff\xff"
     . $plain{threadcreate});
seed('profile_verify', 'sealed_wire_type', "\2\6\0\0\0\x08\x0a\x32\x00");
seed('profile_verify', 'sealed_empty', "\2\6\0\0\0");


# redact: mode 0: argv; mode 1: pattern field, argv.
seed('redact', 'flags', "\0/usr/bin/app\0-password=hunter2\0--token\0abc"
     . "\0-x=--password=y\0-dsn=postgres://u:SECRET\@h/db\0-pwd=p");
seed('redact', 'custom', "\0app\0AKIAABCDEFGHIJKLMNOP\0Bearer abc.def");
seed('redact', 'value_is_flag', "\0app\0--pass\0--pass\0secret");
seed('redact', 'empty_values', "\0app\0-auth=\0-token\0");
seed('redact', 'argv0_secret', "\0-password=x\0y");
seed('redact', 'dashes', "\0app\0----Api_Key=1\0-PRIVATE.KEY=2\0--\0-s=3");
seed('redact', 'empty', "\0");
seed('redact', 'pattern', "\1" . field('secret\\w+') . "app\0secretxyz");
seed('redact', 'pattern_nul', "\1" . field('\\x00x') . "a\0x\0x");
seed('redact', 'pattern_empty', "\1" . field('a*') . "aaa");
seed('redact', 'pattern_utf', "\1" . field('(*UTF)x') . "x");
seed('redact', 'pattern_lookahead', "\1" . field('x(?=y)|\\Ky') . "xyxy");


# audit: flags, roles, time, seq, status, bytes, duration, records,
# redacted (8 bytes each), prev (32), then 14 fields and the roles
# (length, repeat, bytes).  flags: stage | allow 4 | enforced 8 | raw
# time 16.
sub audit { my ($flags, $nums, $fields, $roles) = @_;
            return pack('CC', $flags, scalar @$roles)
                   . join('', map { pack('Q<', $_) } @$nums) . ("\xab" x 32)
                   . join('', map { ref $_ ? rep(@$_) : rep($_) }
                                  @$fields, @$roles); }
my @fields = ('0123456789abcdef0123456789abcdef', '192.0.2.1', 'TLSv1.3',
              'alice', 'jwt', 'GET', 'heap', 'snapshot', 'debug=0', 'ok',
              'ab' x 32, '127.0.0.1:6060', 'sealed', '');
my @nums = (1700000000123456, 7, 200, 1234, 15, 3, 2);
seed('audit', 'decision', audit(4 | 8, \@nums, \@fields, ['oncall']));
seed('audit', 'response', audit(1 | 4 | 8, \@nums, \@fields,
                                ['oncall', 'sre']));
seed('audit', 'checkpoint', audit(2, \@nums, [ @fields[0 .. 12], 'A' x 88 ],
                                  []));
my @hostile = @fields;
$hostile[3] = "al\"ice\\\x00\x01\x1f\x7f\xff\xc3\xa9\xed\xa0\x80\xf4\x90\x80\x80\n";
$hostile[5] = ["X" x 250, 33];                 # an 8 KB method
$hostile[8] = "\xe2\x80";                      # a cut sequence
seed('audit', 'hostile', audit(8, \@nums, \@hostile, ["r\"\\"]));
my @long = @fields;
$long[3] = ['i' x 255, 40];                    # a 10 KB identity
seed('audit', 'long_identity', audit(4, \@nums, \@long, []));
seed('audit', 'year_10000', audit(16 | 4, [253402300800000000, @nums[1 .. 6]],
                                  \@fields, []));
my @empty = @fields;
$empty[$_] = '' for 1, 2, 3, 5, 6, 7, 8, 10, 11, 12;
# Finding: an absent field (NULL data, as the glue passes params before
# stage 6) is put through pointer arithmetic on NULL in put_str().
seed('audit', 'finding_null_field', audit(1, \@nums, \@empty, []));
# Known finding: bytes above 2^63 are written, and no JSON reader that
# keeps integers in int64 (jansson, so pprof-audit verify) takes them.
seed('audit', 'finding_bytes_2_63', audit(1 | 4 | 8,
     [1700000000123456, 7, 200, 9223372036854775808, 15, 3, 2], \@fields,
     []));


# xfcc: flags (bit 0 trusted), then header lines separated by NUL.
my $istio = 'By=spiffe://cluster.local/ns/default/sa/default;Hash=20afebed6da0'
          . '91c850264cc751b8c9306abac02993f80bdb76282237422bd098;Subject="";'
          . 'URI=spiffe://cluster.local/ns/default/sa/default';
my @xf = (
    [ istio        => 1, $istio ],
    [ untrusted    => 0, $istio ],
    [ envoy_dns    => 1, 'By=http://frontend.lyft.com;Hash=468ed33be74eee65'
                       . '56d90c0149c1309e9ba61d6425303443c0748a02dd8de688;'
                       . 'Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test'
                       . ' Client";URI=;DNS=lyft.com;DNS=www.lyft.com' ],
    [ subject_cn   => 1, 'Subject="emailAddress=a@b.example,CN=O\'Brien\, '
                       . '\"Bob\"\; ops,O=Lyft\, Inc.,C=US";URI=' ],
    [ subject_hex  => 1, 'Subject="CN=caf\C3\A9+UID=7,O=x"' ],
    [ two_elements => 1, 'URI=spiffe://far/a,By=x;URI="spiffe://near/\"b\""' ],
    [ two_lines    => 1, "URI=spiffe://far/a\0DNS=near.example" ],
    [ quote_spans  => 1, "URI=\"a\0b\"" ],
    [ unbalanced   => 1, 'Subject="CN=a\"' ],
    [ empty_elem   => 1, 'URI=a,,URI=b' ],
    [ no_identity  => 1, 'By=spiffe://a;Hash=00' ],
    [ two_cns      => 1, 'Subject="CN=a+CN=b"' ],
    [ uri_cn       => 1, 'Subject="CN=spiffe://prod/ns/sre/x"' ],
    [ long_uri     => 1, 'URI=spiffe://' . ('a' x 1100) ],
);
seed('xfcc', $_->[0], chr($_->[1]) . $_->[2]) for @xf;


# authz: mode, five header counts (forwarded method, uri, original
# method, url, uri), then fields: prefix, method, target, header values.
sub authz { my ($mode, $counts, $prefix, $method, $target, @values) = @_;
            return pack('C6', $mode, @$counts) . field($prefix)
                   . field($method) . field($target)
                   . join('', map { field($_) } @values); }
my @az = (
    [ envoy_prefix  => authz(0, [0,0,0,0,0], '/authz', 'GET',
                             '/authz/debug/pprof/heap?debug=1&gc=1') ],
    [ envoy_outside => authz(0, [0,0,0,0,0], '/authz', 'GET',
                             '/debug/pprof/heap') ],
    [ envoy_profile => authz(0, [0,0,0,0,0], '', 'GET',
                             '/debug/pprof/profile') ],
    [ forward       => authz(1, [1,1,0,0,0], '', 'PUT', '/x', 'GET',
                             '/debug/pprof/profile?seconds=5') ],
    [ forward_twice => authz(1, [2,1,0,0,0], '', '', '', 'GET', 'POST',
                             '/debug/pprof/heap') ],
    [ forward_dots  => authz(1, [1,1,0,0,0], '', '', '', 'GET',
                             '/debug/pprof/%2e%2e/cmdline') ],
    [ forward_slash => authz(1, [1,1,0,0,0], '', '', '', 'GET',
                             '/debug/pprof%2Fheap') ],
    [ original_url  => authz(2, [0,0,1,1,0], '', '', '', 'GET',
                             'https://evil.example/debug/pprof/heap?gc=1') ],
    [ original_both => authz(2, [0,0,1,1,1], '', '', '', 'GET',
                             'http://h/debug/pprof/heap',
                             '/debug/pprof/cmdline') ],
    [ original_uri  => authz(2, [0,0,1,0,1], '', '', '', 'HEAD',
                             '/debug/pprof/goroutine?debug=2') ],
    [ backslash     => authz(2, [0,0,1,1,0], '', '', '', 'GET',
                             'https://h\\@evil/debug/pprof/heap') ],
    [ not_canonical => authz(1, [1,1,0,0,0], '', '', '', 'GET',
                             '/debug/pprof/heap?gc=1&debug=1') ],
);
seed('authz', $_->[0], $_->[1]) for @az;


# shared: prefix field, A and B repeated, endpoint field, then a reply of
# eight little-endian 64-bit integers (a first 0 reads as the magic), then
# a byte whose bits 0 and 1 make A and B a location's own target.
my $magic = 1347441201;
sub reply { return pack('q<8', @_); }
my @sh = (
    [ same        => 'pprof:', rep('svc-a'), rep('svc-a'), 'profile',
                     reply($magic, 0, 0, 0, 0, 0, 0, 1) ],
    [ escaped     => 'pprof:', rep('a:b'), rep('a%3Ab'), 'trace',
                     reply($magic, 1, 7, 0, 0, 0, 0, 0) ],
    [ braces      => 't{en}:', rep('x}:slots:y{'), rep('x'), 'profile',
                     reply($magic, 0, 0, 1, 30, 0, 0, 0) ],
    [ hashed      => 'p:', rep('x', 200), rep('x', 201), 'profile',
                     reply(0, 0, 0, 0, 0, 0, 0, 0) ],
    [ lookalike   => 'p:', rep("\0\xff\n"), rep('%#'), "\xff:{}",
                     reply($magic, 0, 0, 1, 4294967296, 0, 0, 0) ],
    [ longest     => "\x01" x 64, rep('}', 255), rep('}', 254), ':' x 128,
                     reply($magic, 1, 3, 1, 12, 1, 50, 1) ],
    [ own         => 'pprof:', rep('srv /debug/pprof/'), rep('srv /debug/pprof/'),
                     'profile', reply($magic, 0, 0, 0, 0, 0, 0, 1), "\x01" ],
    [ own_marker  => 'pprof:', rep('@srv'), rep('srv'), 'profile',
                     reply($magic, 0, 0, 0, 0, 0, 0, 1), "\x02" ],
);
seed('shared', $_->[0], field($_->[1]) . $_->[2] . $_->[3] . field($_->[4])
                        . $_->[5] . ($_->[6] // '')) for @sh;


remove_tree($out);
for my $h (sort keys %seeds) {
    make_path("$out/$h");
    for my $name (sort keys %{ $seeds{$h} }) {
        open my $f, '>:raw', "$out/$h/$name" or die "$out/$h/$name: $!\n";
        print $f $seeds{$h}{$name};
        close $f or die "$out/$h/$name: $!\n";
    }
    printf "%-16s %3d seeds\n", $h, scalar keys %{ $seeds{$h} };
}
