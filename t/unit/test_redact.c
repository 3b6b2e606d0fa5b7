/*
 * cmdline redaction (SPEC §10): the flag rules on every form Go's flag
 * package reads, custom patterns, the patterns refused at configuration
 * time, fail-closed errors, a body near the cap, and random argv checked
 * against what must always hold: no secret survives, the output stays
 * within PPROF_REDACT_BOUND, and a second pass changes nothing.
 */

#include <stdio.h>
#include <stdlib.h>

#include "unit.h"
#include "unit_strings.h"
#include "proxy/proxy.h"


/* A custom pattern for the tests: "sk-" and eight hex digits. */
#define SK_PATTERN  "sk-[0-9a-f]{8}"

static pprof_redactor_t  *plain;        /* the sensitive words only */
static pprof_redactor_t  *custom;       /* and SK_PATTERN and "hunter2" */


static pprof_redactor_t *
create_ok(const char *const *patterns, size_t n)
{
    pprof_str_t        p[8];
    pprof_redactor_t  *r;
    char               err[256];
    size_t             i;

    assert_true(n <= 8);
    for (i = 0; i < n; i++) {
        p[i] = S(patterns[i]);
    }

    r = pprof_redactor_create(p, n, err, sizeof(err));
    if (r == NULL) {
        fail_msg("redactor refused: %s", err);
    }

    return r;
}


static int
setup(void **state)
{
    static const char *const  patterns[] = { SK_PATTERN, "hunter2" };

    (void) state;

    plain = create_ok(NULL, 0);
    custom = create_ok(patterns, 2);
    return 0;
}


static int
teardown(void **state)
{
    (void) state;

    pprof_redactor_free(plain);
    pprof_redactor_free(custom);
    return 0;
}


/* Redacts into a buffer of exactly PPROF_REDACT_BOUND(len); the caller frees. */
static unsigned char *
redact(const pprof_redactor_t *r, const void *argv, size_t len,
    size_t *out_len, size_t *count)
{
    unsigned char  *out;

    out = malloc(PPROF_REDACT_BOUND(len));
    assert_non_null(out);

    if (pprof_redact(r, argv, len, out, PPROF_REDACT_BOUND(len), out_len,
                     count) != 0)
    {
        free(out);
        fail_msg("pprof_redact failed on %zu bytes", len);
    }

    return out;
}


/* Whether needle (n bytes, NULs allowed) occurs in p. */
static int
contains(const unsigned char *p, size_t len, const char *needle, size_t n)
{
    size_t  i;

    for (i = 0; i + n <= len; i++) {
        if (memcmp(p + i, needle, n) == 0) {
            return 1;
        }
    }

    return 0;
}

#define HAS(p, len, lit)  contains(p, len, lit, sizeof(lit) - 1)


static void
expect_(const pprof_redactor_t *r, const char *in, size_t inlen,
    const char *want, size_t wantlen, size_t want_count, int line)
{
    unsigned char  *out;
    size_t          len, count;
    char            shown_in[512], shown_out[512], shown_want[512];

    out = redact(r, in, inlen, &len, &count);

    if (len != wantlen || memcmp(out, want, len) != 0 || count != want_count)
    {
        show(shown_in, sizeof(shown_in), (const unsigned char *) in, inlen);
        show(shown_out, sizeof(shown_out), out, len);
        show(shown_want, sizeof(shown_want), (const unsigned char *) want,
             wantlen);
        free(out);
        fail_msg("line %d: \"%s\" gave \"%s\" (%zu), want \"%s\" (%zu)",
                 line, shown_in, shown_out, count, shown_want, want_count);
    }

    free(out);
}

/* Literals, so that NUL bytes inside them count. */
#define EXPECT(r, in, want, n) \
    expect_(r, in, sizeof(in) - 1, want, sizeof(want) - 1, n, __LINE__)

/* What the flag rules leave as it was. */
#define UNCHANGED(r, in)  EXPECT(r, in, in, 0)


/* Appends one argument and its NUL separator (none before the first). */
static void
add_arg(unsigned char *buf, size_t *len, const char *arg)
{
    if (*len > 0) {
        buf[(*len)++] = '\0';
    }

    memcpy(buf + *len, arg, strlen(arg));
    *len += strlen(arg);
}


static void
flag_forms(void **state)
{
    (void) state;

    /* -flag=value, --flag=value, -flag value, --flag value. */
    EXPECT(plain, "/bin/svc\0-db-password=hunter2",
           "/bin/svc\0-db-password=***", 1);
    EXPECT(plain, "/bin/svc\0--db-password=hunter2",
           "/bin/svc\0--db-password=***", 1);
    EXPECT(plain, "/bin/svc\0-db-password\0hunter2",
           "/bin/svc\0-db-password\0***", 1);
    EXPECT(plain, "/bin/svc\0--db-password\0hunter2\0-v",
           "/bin/svc\0--db-password\0***\0-v", 1);

    /* Go reads "-x -y" as x="-y": the next argument is a value whatever
     * it looks like. */
    EXPECT(plain, "svc\0-token\0-verbose\0arg",
           "svc\0-token\0***\0arg", 1);

    /* Only the first "=" ends the name; the value may hold more. */
    EXPECT(plain, "svc\0--token=a=b==c\0x", "svc\0--token=***\0x", 1);

    /* Any number of dashes makes a flag. */
    EXPECT(plain, "svc\0---secret=x", "svc\0---secret=***", 1);

    /* Several in a row, each counted. */
    EXPECT(plain, "svc\0-api-token=t1\0-db-password\0p2\0--token=t3\0-n=4",
           "svc\0-api-token=***\0-db-password\0***\0--token=***\0-n=4", 3);
}


static void
sensitive_names(void **state)
{
    static const char *const  names[] = {
        "pass", "passwd", "password", "secret", "token", "apikey",
        "api-key", "api_key", "api.key", "credential", "credentials",
        "private-key", "private_key", "privatekey", "auth", "db-password",
        "api-token", "oauth-client-secret", "tls.private-key",
        "x_AUTH_header", "DB_PASSWORD", "Api-Key", "PassPhrase",
        "GithubToken", "client-secret-file"
    };

    unsigned char  in[256], *out;
    char           flag[64];
    size_t         i, len, out_len, count;

    (void) state;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        len = 0;
        add_arg(in, &len, "svc");
        snprintf(flag, sizeof(flag), "-%s=v4lue", names[i]);
        add_arg(in, &len, flag);
        snprintf(flag, sizeof(flag), "--%s", names[i]);
        add_arg(in, &len, flag);
        add_arg(in, &len, "v4lue");

        out = redact(plain, in, len, &out_len, &count);

        /* The names stay; the values are gone without a trace. */
        if (count != 2 || HAS(out, out_len, "v4lue")
            || !contains(out, out_len, names[i], strlen(names[i])))
        {
            free(out);
            fail_msg("flag \"%s\" not redacted as it should be", names[i]);
        }
        free(out);
    }
}


static void
names_kept_values_gone(void **state)
{
    unsigned char  *out;
    size_t          len, count;

    static const char  in[] =
        "/usr/local/bin/api\0-listen=:8080\0-DB-PASSWORD=correct-horse"
        "\0--Api_Key\0correct-horse\0-OAuth.Client.Secret=correct-horse";

    (void) state;

    out = redact(plain, in, sizeof(in) - 1, &len, &count);

    assert_int_equal(count, 3);
    assert_false(HAS(out, len, "correct"));
    assert_false(HAS(out, len, "horse"));
    assert_true(HAS(out, len, "-DB-PASSWORD=***"));
    assert_true(HAS(out, len, "--Api_Key\0***"));
    assert_true(HAS(out, len, "-OAuth.Client.Secret=***"));
    assert_true(HAS(out, len, "-listen=:8080"));
    free(out);
}


static void
untouched(void **state)
{
    (void) state;

    /* Flags whose names hold no sensitive word, and words in values. */
    UNCHANGED(plain, "svc\0-listen=127.0.0.1:6060\0-log\0/var/log/x\0-v");
    UNCHANGED(plain, "svc\0-user=password\0-mode\0token\0secret");
    UNCHANGED(plain, "svc\0-pas=x\0-tok=y\0-sec\0z\0-key=w\0-private=k");

    /* Not flags: a word without dashes is no flag and takes no next
     * argument; a lone dash, "--", a name that is empty. */
    UNCHANGED(plain, "svc\0token\0y\0plain-password\0z");
    UNCHANGED(plain, "svc\0-\0x\0--\0y\0-=z\0--=w");

    /* No URL rule: no "://" before the "@", or a "@" in a path. */
    UNCHANGED(plain, "svc\0-mail=ops@example.com\0a:b@c");
    UNCHANGED(plain, "svc\0-reg=https://registry.example/@types/node");
    UNCHANGED(plain, "svc\0-peer=http://[::1]:8080/x\0http://[fe80::1%25eth0]/");
    UNCHANGED(plain, "svc\0-u=https://h/x?user=bob&mode=fast#top");
    UNCHANGED(custom, "svc\0-listen=:1\0plain words");

    /* Nothing but argv[0], or nothing at all. */
    UNCHANGED(plain, "/bin/svc");
    UNCHANGED(plain, "");
}


static void
keys_without_dashes(void **state)
{
    (void) state;

    /* A positional key=value is read like a flag: PASSWORD=x is as
     * secret as -password=x. */
    EXPECT(plain, "svc\0PASSWORD=hunter2\0x", "svc\0PASSWORD=***\0x", 1);
    EXPECT(plain, "svc\0db_pwd=\0x", "svc\0db_pwd=***\0x", 1);
}


static void
spec_words(void **state)
{
    (void) state;

    /* pwd, in every form and case. */
    EXPECT(plain, "svc\0-pwd=s3cret\0-x=1", "svc\0-pwd=***\0-x=1", 1);
    EXPECT(plain, "svc\0--PWD\0s3cret\0-x", "svc\0--PWD\0***\0-x", 1);
    EXPECT(plain, "svc\0--db_Pwd=s3cret", "svc\0--db_Pwd=***", 1);
    EXPECT(plain, "svc\0--pwd\0--pwd\0s3cret\0x",
           "svc\0--pwd\0***\0***\0x", 2);

    /* Case, separators and %XX in the name are all read through. */
    EXPECT(plain, "svc\0-ToKeN=a\0-API_KEY=b\0-Private.Key=c\0-%70wd=d",
           "svc\0-ToKeN=***\0-API_KEY=***\0-Private.Key=***\0-%70wd=***", 4);
}


static void
nested_flags(void **state)
{
    (void) state;

    /* A flag in another flag's value, at any depth. */
    EXPECT(plain, "svc\0-x=--password=s3cret\0-v",
           "svc\0-x=--password=***\0-v", 1);
    EXPECT(plain, "svc\0-a=-b=--password=x", "svc\0-a=-b=--password=***", 1);
    EXPECT(plain, "svc\0--a=-b=-c=-d=--e=-f=--token=x=y",
           "svc\0--a=-b=-c=-d=--e=-f=--token=***", 1);

    /* A nested flag that ends the argument takes the next one. */
    EXPECT(plain, "svc\0-x=--password\0s3cret\0-v",
           "svc\0-x=--password\0***\0-v", 1);

    /* Flags and keys inside a value list: what follows is hidden. */
    EXPECT(plain, "svc\0-args=-v --password=s3cret -q",
           "svc\0-args=-v --password=***", 1);
    EXPECT(plain, "svc\0-args=-v --token s3cret -q",
           "svc\0-args=-v --token ***", 1);
    EXPECT(plain, "svc\0-o=user=u,password=s3cret,ro",
           "svc\0-o=user=u,password=***", 1);
    EXPECT(plain, "svc\0-dsn=host=h user=u password='a b' dbname=d",
           "svc\0-dsn=host=h user=u password=***", 1);

    /* Words in values that are no keys stay. */
    UNCHANGED(plain, "svc\0-x=--mode=token\0-y=a password b\0-z=-token-");
}


static void
url_userinfo(void **state)
{
    (void) state;

    EXPECT(plain, "svc\0-dsn=postgres://u:SECRET@h/db\0-v",
           "svc\0-dsn=postgres://u:***@h/db\0-v", 1);
    EXPECT(plain, "svc\0postgres://u:SECRET@h:5432/db?sslmode=require",
           "svc\0postgres://u:***@h:5432/db?sslmode=require", 1);

    /* "@", "/", ":" and even "://" in the password: the last "@" ends it. */
    EXPECT(plain, "svc\0-d=mysql://u:p@ss@h/db", "svc\0-d=mysql://u:***@h/db",
           1);
    EXPECT(plain, "svc\0-d=redis://u:a/b+c=:d://e@h/0",
           "svc\0-d=redis://u:***@h/0", 1);

    /* An empty password is hidden too; a user alone is a token. */
    EXPECT(plain, "svc\0-d=amqp://u:@h/", "svc\0-d=amqp://u:***@h/", 1);
    EXPECT(plain, "svc\0-repo=https://ghp_T0KEN@github.com/o/r.git",
           "svc\0-repo=https://***@github.com/o/r.git", 1);
    EXPECT(plain, "svc\0-d=postgres://u@h/db", "svc\0-d=postgres://***@h/db",
           1);

    /* IPv6 hosts and %XX-encoded userinfo. */
    EXPECT(plain, "svc\0-peer=http://u:p@[::1]:8080/x",
           "svc\0-peer=http://u:***@[::1]:8080/x", 1);
    EXPECT(plain, "svc\0-peer=http://u%40corp:p%3A%40ss@[fe80::1%25eth0]/",
           "svc\0-peer=http://u%40corp:***@[fe80::1%25eth0]/", 1);

    /* Several URLs in one argument: none keeps its password, at the cost
     * of what lies between them. */
    EXPECT(plain, "svc\0-peers=http://a:p1@h1/,http://b:p2@h2/",
           "svc\0-peers=http://a:***@h2/", 1);
    EXPECT(plain, "svc\0-peers=http://h1/,http://tok@h2/",
           "svc\0-peers=http://h1/,http:***@h2/", 1);

    /* In argv[0], and in the value of a sensitive flag (one "***"). */
    EXPECT(plain, "ftp://u:p@h/svc\0-v", "ftp://u:***@h/svc\0-v", 1);
    EXPECT(plain, "svc\0-token=http://u:p@h/", "svc\0-token=***", 1);
}


static void
url_params(void **state)
{
    (void) state;

    EXPECT(plain, "svc\0-url=https://h/x?token=abc",
           "svc\0-url=https://h/x?token=***", 1);
    EXPECT(plain, "svc\0-url=https://h/x?a=1&password=p&b=2",
           "svc\0-url=https://h/x?a=1&password=***&b=2", 1);
    EXPECT(plain, "svc\0https://h/?Access_Token=abc&pwd=def&x=1",
           "svc\0https://h/?Access_Token=***&pwd=***&x=1", 2);

    /* Empty values, fragments, %XX in names and values. */
    EXPECT(plain, "svc\0-u=h/?token=&x=1", "svc\0-u=h/?token=***&x=1", 1);
    EXPECT(plain, "svc\0-u=h/?token=abc#frag", "svc\0-u=h/?token=***#frag", 1);
    EXPECT(plain, "svc\0-cb=https://h/cb#access_token=abc&state=s",
           "svc\0-cb=https://h/cb#access_token=***&state=s", 1);
    EXPECT(plain, "svc\0-u=h/?%74oken=abc&pass%77ord=def",
           "svc\0-u=h/?%74oken=***&pass%77ord=***", 2);
    EXPECT(plain, "svc\0-u=h/?token=a%26b%23c&x=1",
           "svc\0-u=h/?token=***&x=1", 1);

    /* ";" parameters (JDBC); the value runs to the next "&" or "#". */
    EXPECT(plain, "svc\0-db=jdbc:sqlserver://h;user=u;password=p;enc=true",
           "svc\0-db=jdbc:sqlserver://h;user=u;password=***", 1);

    /* A parameter without "=" or with a harmless name stays. */
    UNCHANGED(plain, "svc\0-u=h/?token&x=token&y=password");

    /* Userinfo and parameters of one URL, and of two. */
    EXPECT(plain, "svc\0-u=https://u:p@h/?token=t&x=1",
           "svc\0-u=https://u:***@h/?token=***&x=1", 2);
    EXPECT(plain, "svc\0-u=http://h/?token=a http://h/?token=b",
           "svc\0-u=http://h/?token=***", 1);
}


static void
hostile_bytes(void **state)
{
    (void) state;

    /* Bytes that are not UTF-8 are bytes like any other. */
    EXPECT(plain, "svc\0-\xff\xfe-token=\xc3\x28\0-pass\xffword=x",
           "svc\0-\xff\xfe-token=***\0-pass\xffword=***", 2);
    EXPECT(plain, "svc\0-u=http://\xff:\xfe\x80@h", "svc\0-u=http://\xff:***@h",
           1);

    /* "%" that is not %XX is itself, even at the very end. */
    EXPECT(plain, "svc\0-%7token=x\0-to%", "svc\0-%7token=***\0-to%", 1);

    /* Separators and "@" alone. */
    UNCHANGED(plain, "svc\0?&#;,=\0@\0://\0@://");
    EXPECT(plain, "svc\0x://@", "svc\0x://***@", 1);
}


/*
 * Long arguments of the shapes each rule reads: a name, a value, a chain
 * of nested flags, parameters and "://" and "@" runs, each 1 MiB.  Every
 * rule reads argv once, so this is no slower than a plain copy by more
 * than a constant; what is checked here is the result.
 */
static void
long_arguments(void **state)
{
    size_t          n, len, out_len, count, i;
    unsigned char  *argv, *out;

    (void) state;

    n = 1024 * 1024;
    argv = malloc(8 * n);
    assert_non_null(argv);

    /* A 1 MiB name with the word at its end; then a 1 MiB value. */
    len = 0;
    add_arg(argv, &len, "svc");
    argv[len++] = '\0';
    memset(argv + len, '-', 2);
    memset(argv + len + 2, 'x', n);
    len += n + 2;
    memcpy(argv + len, "token=", 6);
    len += 6;
    memset(argv + len, 'V', n);
    len += n;

    out = redact(plain, argv, len, &out_len, &count);
    assert_int_equal(count, 1);
    assert_int_equal(out_len, len - n + 3);
    free(out);

    /* "-a=" 300000 times, then a password: one value hidden. */
    len = 0;
    add_arg(argv, &len, "svc");
    argv[len++] = '\0';
    for (i = 0; i < 300000; i++) {
        memcpy(argv + len, "-a=", 3);
        len += 3;
    }
    memcpy(argv + len, "--pwd=SECRET", 12);
    len += 12;

    out = redact(plain, argv, len, &out_len, &count);
    assert_int_equal(count, 1);
    assert_false(HAS(out, out_len, "SECRET"));
    free(out);

    /* Runs of separators, "://", "@" and "?token=&" with no end. */
    len = 0;
    add_arg(argv, &len, "svc");
    for (i = 0; i < 4; i++) {
        static const char *const  runs[] = { "?&#;,= ", "://", "@", "?token=&" };
        size_t                    end, k = strlen(runs[i]);

        argv[len++] = '\0';
        for (end = len + n; len + k <= end; len += k) {
            memcpy(argv + len, runs[i], k);
        }
    }

    out = redact(plain, argv, len, &out_len, &count);
    assert_true(out_len <= PPROF_REDACT_BOUND(len));
    assert_int_equal(count, n / 8);
    free(out);

    free(argv);
}


static void
program_path(void **state)
{
    (void) state;

    /* argv[0] is the program, never a flag: not even a login shell's. */
    UNCHANGED(plain, "-password\0hunter3");
    UNCHANGED(plain, "--token=abc\0x");
    UNCHANGED(plain, "/opt/auth-service/bin/token-server\0-v");

    /* Custom patterns see argv[0] too. */
    EXPECT(custom, "/tmp/hunter2/svc\0-v", "/tmp/***/svc\0-v", 1);
}


static void
after_double_dash(void **state)
{
    (void) state;

    /* Go stops reading flags at "--" and at the first non-flag; the
     * arguments after it often go to a second parser. */
    EXPECT(plain, "svc\0--\0child\0--password=x\0-token\0y",
           "svc\0--\0child\0--password=***\0-token\0***", 2);
    EXPECT(plain, "svc\0positional\0-secret=z", "svc\0positional\0-secret=***",
           1);
}


static void
last_and_empty(void **state)
{
    (void) state;

    /* A sensitive flag with no argument after it: nothing to hide. */
    EXPECT(plain, "svc\0-v\0--token", "svc\0-v\0--token", 0);

    /* A trailing NUL is an empty last argument, as os.Args joined by NUL
     * would give: the flag's value is "", hidden like any other. */
    EXPECT(plain, "svc\0--token\0", "svc\0--token\0***", 1);

    /* Empty values are hidden too: "***" says nothing about the value,
     * not even that it is empty. */
    EXPECT(plain, "svc\0--password=\0-v", "svc\0--password=***\0-v", 1);
    EXPECT(plain, "svc\0--password\0\0-v", "svc\0--password\0***\0-v", 1);

    /* Adjacent NULs are empty arguments, kept as they are. */
    UNCHANGED(plain, "svc\0\0\0-v\0\0");
    UNCHANGED(plain, "\0\0\0");
    EXPECT(plain, "svc\0\0-auth\0\0\0x", "svc\0\0-auth\0***\0\0x", 1);

    /* A value that is itself a sensitive flag hides the one after it. */
    EXPECT(plain, "svc\0-token\0-password\0x\0y",
           "svc\0-token\0***\0***\0y", 2);
    EXPECT(plain, "svc\0-token\0--password=x\0y",
           "svc\0-token\0***\0y", 1);
}


static void
custom_patterns(void **state)
{
    (void) state;

    /* Anywhere: argv[0], inside a value, several in one argument. */
    EXPECT(custom, "svc\0-key-id=sk-0123abcd\0x",
           "svc\0-key-id=***\0x", 1);
    EXPECT(custom, "svc\0--header=Bearer sk-0123abcd,sk-deadbeef",
           "svc\0--header=Bearer ***,***", 2);
    EXPECT(custom, "svc\0hunter2hunter2", "svc\0***", 1);

    /* Matches that overlap or touch a flag's value make one "***". */
    EXPECT(custom, "svc\0--password=hunter2", "svc\0--password=***", 1);
    EXPECT(custom, "svc\0--password=xhunter2y", "svc\0--password=***", 1);
    EXPECT(custom, "svc\0-token\0hunter2\0x", "svc\0-token\0***\0x", 1);

    /* A match may span a NUL: it goes, with the separator. */
    {
        static const char *const  across[] = { "user\\x00alice" };

        pprof_redactor_t  *r = create_ok(across, 1);

        EXPECT(r, "svc\0-db-user\0alice\0-v", "svc\0-db-***\0-v", 1);
        pprof_redactor_free(r);
    }

    /* Case matters unless the pattern says otherwise. */
    UNCHANGED(custom, "svc\0HUNTER2");
    {
        static const char *const  caseless[] = { "(?i)hunter2" };

        pprof_redactor_t  *r = create_ok(caseless, 1);

        EXPECT(r, "svc\0HUNTER2", "svc\0***", 1);
        pprof_redactor_free(r);
    }

    /* Positional secrets are the custom patterns' job. */
    {
        static const char *const  positional[] = {
            "(?i)(?<=password=)[^\\x00]+"
        };

        pprof_redactor_t  *r = create_ok(positional, 1);

        EXPECT(r, "svc\0PASSWORD=s3cret\0x", "svc\0PASSWORD=***\0x", 1);
        pprof_redactor_free(r);
    }

    /* A pattern that needs a byte can still match none (\K, a lookahead
     * PCRE2 counts): there is nothing to hide in such a match. */
    {
        static const char *const  empty[] = { "x\\K", "(?=x)" };

        pprof_redactor_t  *r = create_ok(empty, 2);

        UNCHANGED(r, "svc\0xxx\0x");
        pprof_redactor_free(r);
    }
}


static void
refused_patterns(void **state)
{
    static const char *const  bad[] = {
        "(", "[a-", "a{2,1}", "*x", "(?<n>a)(?<n>b)",
        /* could match the empty string */
        "", "a*", "x?", "\\b", "^", "$", "(a|)", "(?:)",
        /* argv is bytes */
        "(*UTF)x"
    };

    pprof_str_t        p[2];
    pprof_redactor_t  *r;
    char               err[256];
    size_t             i;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        p[0] = S(SK_PATTERN);
        p[1] = S(bad[i]);

        r = pprof_redactor_create(p, 2, err, sizeof(err));
        if (r != NULL) {
            pprof_redactor_free(r);
            fail_msg("pattern \"%s\" accepted", bad[i]);
        }

        /* nginx -t prints it: it must say something. */
        if (err[0] == '\0') {
            fail_msg("pattern \"%s\" refused without a message", bad[i]);
        }
    }

    err[0] = '\0';
    p[0] = S("a*");
    assert_null(pprof_redactor_create(p, 1, err, sizeof(err)));
    assert_string_equal(err, "it can match the empty string");

    /* PCRE2's own message, with where it stopped. */
    p[0] = S("(");
    assert_null(pprof_redactor_create(p, 1, err, sizeof(err)));
    assert_non_null(strstr(err, "missing closing parenthesis"));
    assert_non_null(strstr(err, "at offset 1"));

    /* A message that does not fit is cut, not written past the buffer. */
    memset(err, 'x', sizeof(err));
    assert_null(pprof_redactor_create(p, 1, err, 8));
    assert_int_equal(strlen(err), 7);
    assert_int_equal(err[8], 'x');

    /* Freeing nothing is harmless. */
    pprof_redactor_free(NULL);
}


static void
fails_closed(void **state)
{
    static const char *const  backtrack[] = { "^(a|aa)+$" };

    pprof_redactor_t  *r;
    unsigned char      out[PPROF_REDACT_BOUND(64)], argv[64];
    size_t             len, count;

    static const char  in[] = "svc\0--token=abc";

    (void) state;

    /* Catastrophic backtracking hits PCRE2's match limit: an error, never
     * "no match". */
    r = create_ok(backtrack, 1);
    memset(argv, 'a', sizeof(argv) - 1);
    argv[sizeof(argv) - 1] = '!';
    assert_int_equal(pprof_redact(r, argv, sizeof(argv), out, sizeof(out),
                                  &len, &count), -1);
    assert_int_equal(len, 0);
    pprof_redactor_free(r);

    /* A buffer too short for the result. */
    assert_int_equal(pprof_redact(plain, (const unsigned char *) in,
                                  sizeof(in) - 1, out, sizeof(in) - 2, &len,
                                  &count), -1);
    assert_int_equal(len, 0);

    /* Just long enough. */
    assert_int_equal(pprof_redact(plain, (const unsigned char *) in,
                                  sizeof(in) - 1, out, sizeof(in) - 1, &len,
                                  &count), 0);
    assert_int_equal(len, sizeof(in) - 1);
}


static void
near_the_cap(void **state)
{
    unsigned char  *argv, *out;
    size_t          len, out_len, count, flags;

    (void) state;

    argv = malloc(PPROF_CMDLINE_MAX);
    assert_non_null(argv);

    /* A cmdline of almost PPROF_CMDLINE_MAX bytes, secrets all along. */
    len = 0;
    flags = 0;
    add_arg(argv, &len, "/bin/svc");
    while (len + 64 < PPROF_CMDLINE_MAX) {
        add_arg(argv, &len, "-db-password=hunter2");
        add_arg(argv, &len, "-token");
        add_arg(argv, &len, "sk-0123abcd");
        add_arg(argv, &len, "-plain=value-stays");
        flags += 2;
    }

    out = redact(custom, argv, len, &out_len, &count);
    assert_int_equal(count, flags);
    assert_false(HAS(out, out_len, "hunter2"));
    assert_false(HAS(out, out_len, "sk-0123abcd"));
    assert_true(HAS(out, out_len, "value-stays"));
    assert_true(out_len < len);
    free(out);

    /* One argument the size of the cap, one match at its very end. */
    memset(argv, 'a', PPROF_CMDLINE_MAX);
    memcpy(argv + PPROF_CMDLINE_MAX - 7, "hunter2", 7);
    out = redact(custom, argv, PPROF_CMDLINE_MAX, &out_len, &count);
    assert_int_equal(count, 1);
    assert_int_equal(out_len, PPROF_CMDLINE_MAX - 7 + 3);
    assert_memory_equal(out + out_len - 3, "***", 3);
    free(out);

    /* The worst growth: a match on every other byte. */
    {
        static const char *const  every[] = { "x" };

        pprof_redactor_t  *r = create_ok(every, 1);
        size_t             i;

        for (i = 0; i < PPROF_CMDLINE_MAX; i++) {
            argv[i] = (i & 1) ? 'y' : 'x';
        }
        out = redact(r, argv, PPROF_CMDLINE_MAX, &out_len, &count);
        assert_int_equal(count, PPROF_CMDLINE_MAX / 2);
        assert_int_equal(out_len, 2 * PPROF_CMDLINE_MAX);
        free(out);
        pprof_redactor_free(r);
    }

    free(argv);
}


/*
 * Random argv from pieces that carry secrets (flag values of every form,
 * nested flags, URL passwords and parameters, custom-pattern matches) and
 * pieces that do not, cut at random places.
 * A flag's secret is "S3CR3T" and digits, a URL password "P4SS" and
 * digits: nothing else makes these strings.
 */
static uint32_t  seed = 20261122;

static uint32_t
next_rand(void)
{
    seed = seed * 1103515245 + 12345;
    return seed >> 8;
}


static void
random_argv(void **state)
{
    static const char *const  names[] = {
        "password", "db-password", "API_KEY", "api.key", "token", "auth",
        "oauth-client-secret", "Credential", "private_key", "passwd"
    };
    static const char *const  harmless[] = {
        "-v", "--", "-", "-listen=:8080", "-log", "/var/log/x", "plain",
        "", "-user=admin", "=", "-=", "--mode=fast", "x=y", "***", "-pas"
    };
    static const char  noise[] = {
        '-', '=', '\0', 'a', 'b', '*', '_', '.', '?', '&', '#', ';', ',', ' ',
        '@', ':', '/', '%'
    };

#define PICK(a)  (a)[next_rand() % (sizeof(a) / sizeof((a)[0]))]

    unsigned char  argv[1024], *out, *again;
    size_t         len, out_len, len2, count, count2, i, k, n;
    unsigned       s;
    int            cut;
    char           piece[128];

    (void) state;

    for (i = 0; i < 20000; i++) {
        len = 0;
        add_arg(argv, &len, (next_rand() & 3) ? "/bin/svc" : "-auth");

        for (k = next_rand() % 12; k > 0 && len < sizeof(argv) - 256; k--) {
            s = next_rand() % 100000;

            switch (next_rand() % 11) {

            case 0:
                snprintf(piece, sizeof(piece), "-%s=S3CR3T%u", PICK(names), s);
                break;

            case 1:
                snprintf(piece, sizeof(piece), "--%s=S3CR3T%u", PICK(names),
                         s);
                break;

            case 2:
                snprintf(piece, sizeof(piece), "-%s", PICK(names));
                add_arg(argv, &len, piece);
                snprintf(piece, sizeof(piece), "S3CR3T%u", s);
                break;

            case 3:
                /* Custom matches anywhere, even inside a word. */
                snprintf(piece, sizeof(piece), "x%sy-sk-%08xz",
                         (s & 1) ? "hunter2" : "", s);
                break;

            case 7:
                snprintf(piece, sizeof(piece), "-x=-y=--%s=S3CR3T%u",
                         PICK(names), s);
                break;

            case 8:
                snprintf(piece, sizeof(piece), "-dsn=pg://u:P4SS%u@h/d?x=1",
                         s);
                break;

            case 9:
                snprintf(piece, sizeof(piece), "%shttps://h/?a=1&%s=S3CR3T%u"
                         "&b#c", (s & 1) ? "-url=" : "", PICK(names), s);
                break;

            case 10:
                snprintf(piece, sizeof(piece), "https://P4SS%u@h/x", s);
                break;

            case 4:
                /* Bytes that separate, make flags, end names and URLs. */
                add_arg(argv, &len, "");
                for (n = next_rand() % 12; n > 0; n--) {
                    argv[len++] = (unsigned char) PICK(noise);
                }
                continue;

            default:
                snprintf(piece, sizeof(piece), "%s", PICK(harmless));
                break;
            }

            add_arg(argv, &len, piece);
        }

        /* A URL cut before its "@" has no userinfo left to hide. */
        cut = (next_rand() % 4 == 0);
        if (cut) {
            len = next_rand() % (len + 1);
        }

        out = redact(custom, argv, len, &out_len, &count);

        assert_true(out_len <= PPROF_REDACT_BOUND(len));
        assert_false(HAS(out, out_len, "S3CR3T"));
        assert_false(HAS(out, out_len, "hunter2"));
        assert_false(!cut && HAS(out, out_len, "P4SS"));

        /*
         * A second pass finds nothing to change: no custom match and no
         * sensitive value is left, and "***" makes no new one.
         */
        again = redact(custom, out, out_len, &len2, &count2);
        if (len2 != out_len || memcmp(again, out, len2) != 0) {
            char  shown[4096];

            show(shown, sizeof(shown), out, out_len);
            free(again);
            free(out);
            fail_msg("a second pass changed \"%s\"", shown);
        }

        free(again);
        free(out);
    }

#undef PICK
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(flag_forms),
        cmocka_unit_test(sensitive_names),
        cmocka_unit_test(names_kept_values_gone),
        cmocka_unit_test(untouched),
        cmocka_unit_test(keys_without_dashes),
        cmocka_unit_test(spec_words),
        cmocka_unit_test(nested_flags),
        cmocka_unit_test(url_userinfo),
        cmocka_unit_test(url_params),
        cmocka_unit_test(hostile_bytes),
        cmocka_unit_test(long_arguments),
        cmocka_unit_test(program_path),
        cmocka_unit_test(after_double_dash),
        cmocka_unit_test(last_and_empty),
        cmocka_unit_test(custom_patterns),
        cmocka_unit_test(refused_patterns),
        cmocka_unit_test(fails_closed),
        cmocka_unit_test(near_the_cap),
        cmocka_unit_test(random_argv),
    };

    return cmocka_run_group_tests_name("redact", tests, setup, teardown);
}
