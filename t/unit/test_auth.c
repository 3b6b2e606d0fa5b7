/*
 * Stage 4: identity sources and the cert source, with certificates built in
 * memory.  They are self-signed: the TLS layer's verdict is an input of its
 * own (verify_result), so no chain is needed to exercise every branch.
 */

#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "unit.h"
#include "auth/auth.h"


static EVP_PKEY  *key;


static int
setup(void **state)
{
    (void) state;

    /* One key for every certificate: generating is the slow part. */
    key = EVP_EC_gen("P-256");
    return key == NULL ? -1 : 0;
}


static int
teardown(void **state)
{
    (void) state;

    EVP_PKEY_free(key);
    return 0;
}


/* A certificate with an empty subject and no extensions yet. */
static X509 *
cert_new(void)
{
    X509  *x;

    x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    assert_int_equal(X509_set_pubkey(x, key), 1);

    return x;
}


/*
 * Appends a subject entry with raw bytes.  The string type is given
 * directly, not as MBSTRING_*, so that OpenSSL neither checks the bytes nor
 * enforces the 64-character CN limit: a CA can issue anything.
 */
static void
subject_add(X509 *x, int nid, int type, const char *bytes, int len)
{
    X509_NAME  *name = X509_get_subject_name(x);

    assert_int_equal(X509_NAME_add_entry_by_NID(name, nid, type,
                         (const unsigned char *) bytes, len, -1, 0), 1);
}

static void
cn_add(X509 *x, const char *cn)
{
    subject_add(x, NID_commonName, V_ASN1_UTF8STRING, cn, (int) strlen(cn));
}


/* One subjectAltName entry: GEN_URI, GEN_DNS or GEN_EMAIL, raw bytes. */
typedef struct {
    int          type;
    const char  *bytes;
    int          len;                 /* -1: strlen */
} san_t;

#define URI(s)   { GEN_URI, (s), -1 }
#define DNS(s)   { GEN_DNS, (s), -1 }
#define MAIL(s)  { GEN_EMAIL, (s), -1 }


/* Adds one subjectAltName extension (another one if there already is). */
static void
san_add(X509 *x, const san_t *sans, size_t n)
{
    GENERAL_NAMES   *names;
    GENERAL_NAME    *gn;
    ASN1_IA5STRING  *s;
    size_t           i;
    int              len;

    names = sk_GENERAL_NAME_new_null();
    assert_non_null(names);

    for (i = 0; i < n; i++) {
        len = sans[i].len < 0 ? (int) strlen(sans[i].bytes) : sans[i].len;

        s = ASN1_IA5STRING_new();
        assert_non_null(s);
        assert_int_equal(ASN1_STRING_set(s, sans[i].bytes, len), 1);

        gn = GENERAL_NAME_new();
        assert_non_null(gn);
        GENERAL_NAME_set0_value(gn, sans[i].type, s);
        assert_true(sk_GENERAL_NAME_push(names, gn) > 0);
    }

    assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0,
                                   X509V3_ADD_APPEND), 1);
    GENERAL_NAMES_free(names);
}


/* An IP SAN, which the cert source does not use. */
static void
san_add_ip(X509 *x, const unsigned char ip[4])
{
    GENERAL_NAMES      *names;
    GENERAL_NAME       *gn;
    ASN1_OCTET_STRING  *s;

    names = sk_GENERAL_NAME_new_null();
    s = ASN1_OCTET_STRING_new();
    assert_int_equal(ASN1_OCTET_STRING_set(s, ip, 4), 1);
    gn = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(gn, GEN_IPADD, s);
    sk_GENERAL_NAME_push(names, gn);

    assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0,
                                   X509V3_ADD_APPEND), 1);
    GENERAL_NAMES_free(names);
}


/* A subjectAltName extension whose value is not DER at all. */
static void
san_add_garbage(X509 *x)
{
    static const unsigned char  junk[] = { 0x30, 0x05, 0x86, 0x10, 'x' };

    ASN1_OCTET_STRING  *os;
    X509_EXTENSION     *ext;

    os = ASN1_OCTET_STRING_new();
    assert_int_equal(ASN1_OCTET_STRING_set(os, junk, sizeof(junk)), 1);
    ext = X509_EXTENSION_create_by_NID(NULL, NID_subject_alt_name, 0, os);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
}


static void
cert_sign(X509 *x)
{
    X509_NAME  *issuer = X509_get_issuer_name(x);

    /* A fixed issuer: copying an odd subject would be a test of OpenSSL. */
    assert_int_equal(X509_NAME_add_entry_by_NID(issuer, NID_commonName,
                         MBSTRING_ASC, (const unsigned char *) "test CA", -1,
                         -1, 0), 1);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
}


static const pprof_auth_source_t  cert_only[] = {
    { .method = PPROF_AUTH_CERT }
};
static const pprof_auth_source_t  cert_anon[] = {
    { .method = PPROF_AUTH_CERT }, { .method = PPROF_AUTH_ANONYMOUS }
};
static const pprof_auth_source_t  anon_cert[] = {
    { .method = PPROF_AUTH_ANONYMOUS }, { .method = PPROF_AUTH_CERT }
};


/*
 * Runs the sources over a certificate (NULL: none) and frees it.  The
 * result is poisoned first: every field the caller reads must be set.
 */
static void
identify_unsigned(const pprof_auth_source_t *sources, size_t n, X509 *cert,
    long verify, pprof_auth_result_t *r)
{
    pprof_auth_input_t  in;

    memset(&in, 0, sizeof(in));
    in.cert = cert;
    in.verify_result = verify;

    memset(r, 0x5a, sizeof(*r));
    pprof_auth_identify(sources, n, &in, r);

    X509_free(cert);
}

static void
identify(const pprof_auth_source_t *sources, size_t n, X509 *cert,
    long verify, pprof_auth_result_t *r)
{
    if (cert) {
        cert_sign(cert);
    }

    identify_unsigned(sources, n, cert, verify, r);
}


static void
assert_identity(const pprof_auth_result_t *r, const char *want)
{
    if (r->reason != PPROF_OK) {
        fail_msg("want identity \"%s\", got %s (%s)", want,
                 pprof_reason_name(r->reason),
                 r->detail ? r->detail : "no detail");
    }
    assert_int_equal(r->identity_len, strlen(want));
    assert_memory_equal(r->identity, want, strlen(want));
}


/* A rejected certificate: the cert source decided, nothing identified. */
static void
assert_rejected(const pprof_auth_result_t *r)
{
    char    shown[4 * 64 + 1];
    size_t  i, n;

    if (r->reason != PPROF_INVALID_CREDENTIAL) {
        /* The identity is what went wrong: show its bytes safely. */
        for (i = 0, n = 0; i < r->identity_len && i < 64; i++) {
            unsigned char  c = r->identity[i];

            n += (size_t) snprintf(shown + n, sizeof(shown) - n,
                                   (c < 0x20 || c >= 0x7f) ? "\\x%02x" : "%c",
                                   c);
        }
        shown[n] = '\0';

        fail_msg("want invalid_credential, got %s (identity \"%s\")",
                 pprof_reason_name(r->reason), shown);
    }
    assert_int_equal(r->method, PPROF_AUTH_CERT);
    assert_int_equal(r->identity_len, 0);
    assert_non_null(r->detail);
}


static void
source_parse(void **state)
{
    static const struct {
        const char  *word;
        size_t       len;
    } bad[] = {
        { "$", 1 },
        { "JWT", 3 },
        { "api-key", 7 },
        { "unknown", 7 },
        { "", 0 },
        { "Cert", 4 },
        { "cert ", 5 },
        { "cer", 3 },
        { "certs", 5 },
        { "cert\0", 5 },
        { "anonymou", 8 },
        { "none", 4 },
        { "variable", 8 },
    };

    pprof_auth_source_t  src;
    const char          *err;
    size_t               i;

    (void) state;

    err = NULL;
    assert_int_equal(pprof_auth_source_parse(S("cert"), &src, &err), 0);
    assert_int_equal(src.method, PPROF_AUTH_CERT);
    assert_int_equal(pprof_auth_source_parse(S("anonymous"), &src, &err), 0);
    assert_int_equal(src.method, PPROF_AUTH_ANONYMOUS);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        if (pprof_auth_source_parse(SN(bad[i].word, bad[i].len), &src, &err)
            != -1)
        {
            fail_msg("\"%s\" was accepted", bad[i].word);
        }
        if (err == NULL || err[0] == '\0') {
            fail_msg("\"%s\" was refused without a message", bad[i].word);
        }
    }

    assert_string_equal(pprof_auth_method_name(PPROF_AUTH_CERT), "cert");
    assert_string_equal(pprof_auth_method_name(PPROF_AUTH_ANONYMOUS),
                        "anonymous");
    assert_string_equal(pprof_auth_method_name(PPROF_AUTH_NONE), "none");
    assert_string_equal(pprof_auth_method_name((pprof_auth_method_t) 99),
                        "none");
}


static void
uri_san_wins(void **state)
{
    static const san_t  dns_then_uri[] = {
        DNS("svc.prod.example"),
        MAIL("alice@example.com"),
        URI("spiffe://prod.example/ns/sre/sa/alice"),
        URI("spiffe://prod.example/ns/sre/sa/second"),
    };

    pprof_auth_result_t  r;
    X509                *x;

    (void) state;

    /* The SPIFFE ID, even behind a DNS SAN and with a CN present. */
    x = cert_new();
    cn_add(x, "alice-cn");
    san_add(x, dns_then_uri, 4);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_identity(&r, "spiffe://prod.example/ns/sre/sa/alice");
    assert_int_equal(r.method, PPROF_AUTH_CERT);

    /*
     * With a SAN identity, the subject is not consulted: two CNs there are
     * no ambiguity about who this is.
     */
    x = cert_new();
    cn_add(x, "one");
    cn_add(x, "two");
    san_add(x, dns_then_uri + 2, 1);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_identity(&r, "spiffe://prod.example/ns/sre/sa/alice");
}


static void
dns_san_then_cn(void **state)
{
    static const san_t  dns[] = {
        MAIL("alice@example.com"),
        DNS("svc.prod.example"),
        DNS("second.prod.example"),
    };
    static const san_t  mail[] = { MAIL("alice@example.com") };
    static const unsigned char  ip[4] = { 10, 1, 2, 3 };

    pprof_auth_result_t  r;
    X509                *x;

    (void) state;

    x = cert_new();
    cn_add(x, "alice-cn");
    san_add(x, dns, 3);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_identity(&r, "svc.prod.example");

    /* No SAN extension at all. */
    x = cert_new();
    subject_add(x, NID_organizationName, V_ASN1_UTF8STRING, "Example", 7);
    cn_add(x, "alice-cn");
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_identity(&r, "alice-cn");
    assert_int_equal(r.method, PPROF_AUTH_CERT);

    /* SANs, but none of the kinds that name a workload. */
    x = cert_new();
    cn_add(x, "alice-cn");
    san_add(x, mail, 1);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_identity(&r, "alice-cn");

    x = cert_new();
    cn_add(x, "alice-cn");
    san_add_ip(x, ip);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_identity(&r, "alice-cn");

    /* A CN in another string type comes out as UTF-8. */
    x = cert_new();
    subject_add(x, NID_commonName, V_ASN1_BMPSTRING, "\0b\0o\0b", 6);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_identity(&r, "bob");

    /* Non-ASCII UTF-8 is text, not control characters. */
    x = cert_new();
    cn_add(x, "jos\xc3\xa9");
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_identity(&r, "jos\xc3\xa9");
}


/*
 * Only a URI SAN names a URI: a DNS SAN or a CN shaped like a SPIFFE ID is
 * refused, not used, and not skipped for the next name either.
 */
static void
uri_shaped_names(void **state)
{
    static const san_t  dns_spiffe[] = {
        DNS("spiffe://prod.example/ns/sre/mallory")
    };
    static const san_t  dns_bad[][1] = {
        { DNS("spiffe:prod.example") },
        { DNS("prod.example/ns/sre") },
        { DNS("alice@prod.example") },
        { DNS("a b.example") },
        { DNS("svc.example:443") },
    };
    static const san_t  dns_good[][1] = {
        { DNS("*.svc.prod.example") },
        { DNS("svc_1.prod.example") },
        { DNS("localhost") },
    };
    static const san_t  uri_then_dns[] = {
        URI("spiffe://prod.example/ns/sre/alice"),
        DNS("spiffe://prod.example/ns/sre/mallory"),
    };
    static const char  *cn_bad[] = {
        "spiffe://prod.example/ns/sre/mallory",
        "urn:uuid:1234",
        "ops/admin",
        "mailto:alice@example.com",
        ":",
    };

    pprof_auth_result_t  r;
    X509                *x;
    size_t               i;

    (void) state;

    /* A SPIFFE-shaped DNS SAN, even beside a plain CN. */
    x = cert_new();
    cn_add(x, "cn-only");
    san_add(x, dns_spiffe, 1);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_rejected(&r);
    assert_string_equal(r.detail, "certificate DNS SAN is not a DNS name");

    for (i = 0; i < sizeof(dns_bad) / sizeof(dns_bad[0]); i++) {
        x = cert_new();
        san_add(x, dns_bad[i], 1);
        identify(cert_only, 1, x, X509_V_OK, &r);
        assert_rejected(&r);
    }

    for (i = 0; i < sizeof(dns_good) / sizeof(dns_good[0]); i++) {
        x = cert_new();
        san_add(x, dns_good[i], 1);
        identify(cert_only, 1, x, X509_V_OK, &r);
        assert_identity(&r, dns_good[i][0].bytes);
    }

    /* With a URI SAN, the DNS SAN is not the identity and is not judged. */
    x = cert_new();
    san_add(x, uri_then_dns, 2);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_identity(&r, "spiffe://prod.example/ns/sre/alice");

    /* A CN-only certificate whose CN is shaped like a URI. */
    for (i = 0; i < sizeof(cn_bad) / sizeof(cn_bad[0]); i++) {
        x = cert_new();
        cn_add(x, cn_bad[i]);
        identify(cert_only, 1, x, X509_V_OK, &r);
        assert_rejected(&r);
    }

    /* Refused, not passed over: a later source does not rescue it. */
    x = cert_new();
    cn_add(x, "spiffe://prod.example/ns/sre/mallory");
    identify(cert_anon, 2, x, X509_V_OK, &r);
    assert_rejected(&r);

    /* Names with other punctuation are still names. */
    x = cert_new();
    cn_add(x, "Alice Example (ops) alice@example.com");
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_identity(&r, "Alice Example (ops) alice@example.com");
}


static void
no_certificate(void **state)
{
    pprof_auth_result_t  r;

    (void) state;

    identify(cert_only, 1, NULL, X509_V_OK, &r);
    assert_int_equal(r.reason, PPROF_UNAUTHENTICATED);
    assert_int_equal(r.method, PPROF_AUTH_NONE);
    assert_int_equal(r.identity_len, 0);

    /* The verify result of an absent certificate means nothing. */
    identify(cert_only, 1, NULL, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, &r);
    assert_int_equal(r.reason, PPROF_UNAUTHENTICATED);
    assert_int_equal(r.method, PPROF_AUTH_NONE);

    /* No source at all identifies nobody. */
    identify(cert_only, 0, NULL, X509_V_OK, &r);
    assert_int_equal(r.reason, PPROF_UNAUTHENTICATED);
    assert_int_equal(r.method, PPROF_AUTH_NONE);
    assert_int_equal(r.identity_len, 0);
}


static void
failed_verification(void **state)
{
    static const san_t  uri[] = { URI("spiffe://prod.example/ns/sre/a") };
    static const long   verdicts[] = {
        X509_V_ERR_CERT_HAS_EXPIRED,
        X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
        X509_V_ERR_CERT_REVOKED,
        X509_V_ERR_UNSPECIFIED,
        -1,
    };

    pprof_auth_result_t  r;
    X509                *x;
    size_t               i;

    (void) state;

    for (i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++) {
        x = cert_new();
        cn_add(x, "alice");
        san_add(x, uri, 1);
        identify(cert_only, 1, x, verdicts[i], &r);
        assert_rejected(&r);
    }
}


static void
control_characters(void **state)
{
    static const san_t  bad_sans[][2] = {
        { URI("spiffe://prod.example/ns/sre/a\nb"), DNS("ok.example") },
        { URI("spiffe://prod.example/\x1b[31m"), DNS("ok.example") },
        { URI("spiffe://prod.example/a\x7f"), DNS("ok.example") },
        { { GEN_URI, "spiffe://a\0spiffe://b", 21 }, DNS("ok.example") },
        { DNS("svc\r\nX-Injected: 1"), MAIL("a@example.com") },
        { { GEN_DNS, "good.example\0.evil.example", 26 },
          MAIL("a@example.com") },
        { DNS("tab\there"), MAIL("a@example.com") },
        /* An empty first URI is a malformed one, not an absent one. */
        { URI(""), DNS("ok.example") },
    };
    static const struct {
        const char  *bytes;
        int          len;
    } bad_cns[] = {
        { "alice\n", 6 },
        { "al\0ice", 6 },
        { "alice\x7f", 6 },
        { "\x01", 1 },
        { "a\tb", 3 },
        { "", 0 },
    };

    pprof_auth_result_t  r;
    X509                *x;
    size_t               i;

    (void) state;

    /* A bad first choice ends the search: no falling back to the DNS SAN. */
    for (i = 0; i < sizeof(bad_sans) / sizeof(bad_sans[0]); i++) {
        x = cert_new();
        cn_add(x, "fallback-cn");
        san_add(x, bad_sans[i], 2);
        identify(cert_only, 1, x, X509_V_OK, &r);
        assert_rejected(&r);
    }

    for (i = 0; i < sizeof(bad_cns) / sizeof(bad_cns[0]); i++) {
        x = cert_new();
        subject_add(x, NID_commonName, V_ASN1_UTF8STRING, bad_cns[i].bytes,
                    bad_cns[i].len);
        identify(cert_only, 1, x, X509_V_OK, &r);
        assert_rejected(&r);
    }

    /*
     * A UTF8String CN that is not UTF-8.  OpenSSL can neither encode nor
     * parse such a name, so it never arrives from TLS; the core must still
     * refuse it rather than trust that, hence an unsigned certificate.
     */
    x = cert_new();
    subject_add(x, NID_commonName, V_ASN1_UTF8STRING, "bad\xff\xfe", 5);
    identify_unsigned(cert_only, 1, x, X509_V_OK, &r);
    assert_rejected(&r);
}


/*
 * IA5String is 7-bit ASCII: a SAN byte >= 0x80 is a malformed name, and
 * passed on it would put invalid UTF-8 into JSON audit lines and
 * $pprof_identity.
 */
static void
san_non_ascii(void **state)
{
    static const san_t  bad[][1] = {
        { { GEN_DNS, "svc\xff.prod.example", 17 } },
        { { GEN_URI, "spiffe://prod.example/\xc3\xa9", 24 } },
        { { GEN_URI, "spiffe://prod.example/\xc2\x85x", 25 } },
    };

    pprof_auth_result_t  r;
    X509                *x;
    size_t               i;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        x = cert_new();
        san_add(x, bad[i], 1);
        identify(cert_only, 1, x, X509_V_OK, &r);
        assert_rejected(&r);
    }
}


/*
 * U+0080..U+009F are control characters too (NEL U+0085 is a line break to
 * many log readers, CSI U+009B an escape to 8-bit terminals).
 */
static void
cn_c1_controls(void **state)
{
    static const char  *bad[] = {
        "alice\xc2\x85root",          /* NEL */
        "alice\xc2\x9b" "31m",         /* CSI */
        "\xc2\x80",
    };

    pprof_auth_result_t  r;
    X509                *x;
    size_t               i;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        x = cert_new();
        cn_add(x, bad[i]);
        identify(cert_only, 1, x, X509_V_OK, &r);
        assert_rejected(&r);
    }
}


static void
ambiguous_or_nameless(void **state)
{
    static const san_t  mail[] = { MAIL("alice@example.com") };

    pprof_auth_result_t  r;
    X509                *x;

    (void) state;

    /* Two CNs: which one the CA meant is a guess. */
    x = cert_new();
    cn_add(x, "alice");
    cn_add(x, "root");
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_rejected(&r);

    x = cert_new();
    cn_add(x, "alice");
    subject_add(x, NID_organizationName, V_ASN1_UTF8STRING, "Example", 7);
    cn_add(x, "alice");
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_rejected(&r);

    /* Nothing that names anybody. */
    x = cert_new();
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_rejected(&r);

    x = cert_new();
    subject_add(x, NID_organizationName, V_ASN1_UTF8STRING, "Example", 7);
    san_add(x, mail, 1);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_rejected(&r);

    /* An empty SAN list is no SAN: the CN decides. */
    x = cert_new();
    cn_add(x, "alice");
    san_add(x, NULL, 0);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_identity(&r, "alice");
}


static void
malformed_san(void **state)
{
    static const san_t  uri_a[] = { URI("spiffe://prod.example/a") };
    static const san_t  uri_b[] = { URI("spiffe://prod.example/b") };

    pprof_auth_result_t  r;
    X509                *x;

    (void) state;

    /* Undecodable: not silently treated as absent (and the CN used). */
    x = cert_new();
    cn_add(x, "alice");
    san_add_garbage(x);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_rejected(&r);

    /* Two subjectAltName extensions: which one counts is a guess. */
    x = cert_new();
    cn_add(x, "alice");
    san_add(x, uri_a, 1);
    san_add(x, uri_b, 1);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_rejected(&r);
}


static void
identity_length(void **state)
{
    char                 name[PPROF_IDENTITY_MAX + 2];
    san_t                san;
    pprof_auth_result_t  r;
    X509                *x;

    (void) state;

    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    memcpy(name, "spiffe://x/", 11);

    /* Exactly the maximum fits. */
    san.type = GEN_URI;
    san.bytes = name;
    san.len = PPROF_IDENTITY_MAX;
    x = cert_new();
    san_add(x, &san, 1);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_int_equal(r.reason, PPROF_OK);
    assert_int_equal(r.identity_len, PPROF_IDENTITY_MAX);
    assert_memory_equal(r.identity, name, PPROF_IDENTITY_MAX);

    /* One more is refused, not truncated into somebody else. */
    san.len = PPROF_IDENTITY_MAX + 1;
    x = cert_new();
    cn_add(x, "short");
    san_add(x, &san, 1);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_rejected(&r);

    /* DNS SANs and CNs are no URIs: the same lengths, all letters. */
    memset(name, 'a', 11);

    san.type = GEN_DNS;
    x = cert_new();
    san_add(x, &san, 1);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_rejected(&r);

    x = cert_new();
    subject_add(x, NID_commonName, V_ASN1_UTF8STRING, name,
                PPROF_IDENTITY_MAX + 1);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_rejected(&r);

    x = cert_new();
    subject_add(x, NID_commonName, V_ASN1_UTF8STRING, name,
                PPROF_IDENTITY_MAX);
    identify(cert_only, 1, x, X509_V_OK, &r);
    assert_int_equal(r.reason, PPROF_OK);
    assert_int_equal(r.identity_len, PPROF_IDENTITY_MAX);
}


static void
source_order(void **state)
{
    static const san_t  uri[] = { URI("spiffe://prod.example/ns/sre/a") };

    pprof_auth_result_t  r;
    X509                *x;

    (void) state;

    /* Nothing offered: the next source speaks. */
    identify(cert_anon, 2, NULL, X509_V_OK, &r);
    assert_identity(&r, "anonymous");
    assert_int_equal(r.method, PPROF_AUTH_ANONYMOUS);

    /* Offered and valid: the certificate wins. */
    x = cert_new();
    san_add(x, uri, 1);
    identify(cert_anon, 2, x, X509_V_OK, &r);
    assert_identity(&r, "spiffe://prod.example/ns/sre/a");
    assert_int_equal(r.method, PPROF_AUTH_CERT);

    /* Offered and invalid: the search ends, no downgrade to anonymous. */
    x = cert_new();
    san_add(x, uri, 1);
    identify(cert_anon, 2, x, X509_V_ERR_CERT_HAS_EXPIRED, &r);
    assert_rejected(&r);

    x = cert_new();
    cn_add(x, "a");
    cn_add(x, "b");
    identify(cert_anon, 2, x, X509_V_OK, &r);
    assert_rejected(&r);

    /* Anonymous first: the certificate is never looked at. */
    x = cert_new();
    san_add(x, uri, 1);
    identify(anon_cert, 2, x, X509_V_ERR_CERT_HAS_EXPIRED, &r);
    assert_identity(&r, "anonymous");
    assert_int_equal(r.method, PPROF_AUTH_ANONYMOUS);
}


static void
result_reset(void **state)
{
    static const san_t   uri[] = { URI("spiffe://prod.example/ns/sre/a") };
    static const pprof_auth_source_t  bogus[] = {
        { .method = (pprof_auth_method_t) 99 },
        { .method = PPROF_AUTH_ANONYMOUS }
    };

    pprof_auth_input_t   in;
    pprof_auth_result_t  r;
    X509                *x;

    (void) state;

    /*
     * One result reused across requests: a success followed by a failure
     * must not leave the first identity readable through identity_len.
     */
    x = cert_new();
    san_add(x, uri, 1);
    cert_sign(x);

    memset(&in, 0, sizeof(in));
    in.cert = x;
    in.verify_result = X509_V_OK;
    memset(&r, 0, sizeof(r));
    pprof_auth_identify(cert_only, 1, &in, &r);
    assert_int_equal(r.reason, PPROF_OK);
    assert_true(r.identity_len > 0);

    in.verify_result = X509_V_ERR_CERT_REVOKED;
    pprof_auth_identify(cert_anon, 2, &in, &r);
    assert_int_equal(r.reason, PPROF_INVALID_CREDENTIAL);
    assert_int_equal(r.identity_len, 0);

    in.cert = NULL;
    pprof_auth_identify(cert_anon, 2, &in, &r);
    assert_identity(&r, "anonymous");
    pprof_auth_identify(cert_only, 1, &in, &r);
    assert_int_equal(r.reason, PPROF_UNAUTHENTICATED);
    assert_int_equal(r.identity_len, 0);
    assert_int_equal(r.method, PPROF_AUTH_NONE);

    X509_free(x);

    /* A source the parser refuses cannot be reached; if it is, deny. */
    identify(bogus, 2, NULL, X509_V_OK, &r);
    assert_int_equal(r.reason, PPROF_INTERNAL_ERROR);
    assert_int_equal(r.identity_len, 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(source_parse),
        cmocka_unit_test(uri_san_wins),
        cmocka_unit_test(dns_san_then_cn),
        cmocka_unit_test(uri_shaped_names),
        cmocka_unit_test(no_certificate),
        cmocka_unit_test(failed_verification),
        cmocka_unit_test(control_characters),
        cmocka_unit_test(san_non_ascii),
        cmocka_unit_test(cn_c1_controls),
        cmocka_unit_test(ambiguous_or_nameless),
        cmocka_unit_test(malformed_san),
        cmocka_unit_test(identity_length),
        cmocka_unit_test(source_order),
        cmocka_unit_test(result_reset),
    };

    return cmocka_run_group_tests_name("auth", tests, setup, teardown);
}
