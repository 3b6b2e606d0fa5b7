/* Stage 5: binds (identity -> roles) and roles (roles -> endpoints). */

#include <stdio.h>

#include "unit.h"


#define CLASS(c)  (1u << (c))


static int
str_is(pprof_str_t s, const char *text)
{
    return s.len == strlen(text) && memcmp(s.data, text, s.len) == 0;
}


/* What the last failed bind_roles() said. */
static char  why[256];


static int
bind_roles(const pprof_bind_t *binds, size_t nbinds, pprof_str_t identity,
    pprof_str_t source, pprof_str_t *held, size_t *nheld, size_t cap)
{
    why[0] = '\0';
    return pprof_policy_bind_roles(binds, nbinds, identity, source, held,
                                   nheld, cap, why, sizeof(why));
}


/* Compiles a pattern that must be valid. */
static void
compile_ok(pprof_bind_t *bind, const char *pattern)
{
    char  err[256];

    err[0] = '\0';
    if (pprof_bind_compile(bind, S(pattern), err, sizeof(err)) != 0) {
        fail_msg("\"%s\" refused: %s", pattern, err);
    }
}


static void
compile(void **state)
{
    pprof_bind_t  b;

    (void) state;

    compile_ok(&b, "spiffe://prod.example/ns/sre/sa/alice");
    assert_null(b.regex);
    assert_null(b.match_data);
    assert_true(str_is(b.pattern, "spiffe://prod.example/ns/sre/sa/alice"));
    pprof_bind_free(&b);

    /* The "~" is syntax, not part of the regex. */
    compile_ok(&b, "~^spiffe://prod\\.example/");
    assert_non_null(b.regex);
    assert_non_null(b.match_data);
    assert_true(str_is(b.pattern, "^spiffe://prod\\.example/"));
    pprof_bind_free(&b);
    assert_null(b.regex);
    assert_null(b.match_data);

    /* Freeing twice, or freeing an exact bind, is harmless. */
    pprof_bind_free(&b);
}


static void
compile_errors(void **state)
{
    static const char  *bad_regex[] = { "~(", "~[a-", "~a{2,1}", "~**x",
                                        "~(?<n>a)(?<n>b)" };

    pprof_bind_t  b;
    char          err[256];
    size_t        i;

    (void) state;

    for (i = 0; i < sizeof(bad_regex) / sizeof(bad_regex[0]); i++) {
        err[0] = '\0';
        memset(&b, 0, sizeof(b));
        if (pprof_bind_compile(&b, S(bad_regex[i]), err, sizeof(err)) != -1) {
            pprof_bind_free(&b);
            fail_msg("\"%s\" compiled", bad_regex[i]);
        }
        /* nginx -t prints it: it must say something. */
        if (err[0] == '\0') {
            fail_msg("\"%s\" refused without a message", bad_regex[i]);
        }
        assert_null(b.regex);
        assert_null(b.match_data);
    }

    /* An empty pattern would bind nobody, or everybody with "~". */
    err[0] = '\0';
    assert_int_equal(pprof_bind_compile(&b, S(""), err, sizeof(err)), -1);
    assert_true(err[0] != '\0');

    err[0] = '\0';
    assert_int_equal(pprof_bind_compile(&b, S("~"), err, sizeof(err)), -1);
    assert_true(err[0] != '\0');

    err[0] = '\0';
    assert_int_equal(pprof_bind_compile(&b, S("~*"), err, sizeof(err)), -1);
    assert_string_equal(err, "empty identity pattern");

    /* A message that does not fit is cut, not written past the buffer. */
    memset(err, 'x', sizeof(err));
    assert_int_equal(pprof_bind_compile(&b, S("~("), err, 8), -1);
    assert_int_equal(strlen(err), 7);
    assert_int_equal(err[8], 'x');
}


static void
anchored(void **state)
{
    pprof_bind_t  b;

    (void) state;

    compile_ok(&b, "~^x");
    assert_true(pprof_bind_is_anchored(&b));
    pprof_bind_free(&b);

    compile_ok(&b, "~\\Aspiffe://");
    assert_true(pprof_bind_is_anchored(&b));
    pprof_bind_free(&b);

    compile_ok(&b, "~x");
    assert_false(pprof_bind_is_anchored(&b));
    pprof_bind_free(&b);

    /* One unanchored alternative makes the whole pattern unanchored. */
    compile_ok(&b, "~^x|y");
    assert_false(pprof_bind_is_anchored(&b));
    pprof_bind_free(&b);

    compile_ok(&b, "alice");
    assert_true(pprof_bind_is_anchored(&b));
    pprof_bind_free(&b);
}


/* Runs one bind over an identity and reports whether it granted "r". */
static int
binds(const char *pattern, const char *identity)
{
    static const pprof_str_t  roles[] = { { (const unsigned char *) "r", 1 } };

    pprof_bind_t  b;
    pprof_str_t   held[4];
    size_t        nheld = 0;
    int           rc;

    compile_ok(&b, pattern);
    b.roles = roles;
    b.nroles = 1;

    rc = bind_roles(&b, 1, S(identity), S("cert"), held, &nheld, 4);
    pprof_bind_free(&b);

    assert_int_equal(rc, 0);
    assert_true(nheld <= 1);
    return nheld == 1;
}


static void
exact_binds(void **state)
{
    (void) state;

    assert_true(binds("alice", "alice"));
    assert_false(binds("alice", "alice2"));
    assert_false(binds("alice", "xalice"));
    assert_false(binds("alice", "alic"));
    assert_false(binds("alice", "Alice"));
    assert_false(binds("alice", ""));

    /* Regex metacharacters mean nothing in an exact bind. */
    assert_false(binds("a.ice", "alice"));
    assert_true(binds("a.ice", "a.ice"));
    assert_false(binds("spiffe://prod.example/*", "spiffe://prod.example/x"));

    /* An identity carrying a NUL is not the shorter one. */
    {
        static const pprof_str_t  roles[] = {
            { (const unsigned char *) "r", 1 }
        };

        pprof_bind_t  b;
        pprof_str_t   held[2];
        size_t        nheld = 0;

        compile_ok(&b, "alice");
        b.roles = roles;
        b.nroles = 1;
        assert_int_equal(bind_roles(&b, 1, SN("alice\0x", 7), S("cert"),
                                    held, &nheld, 2), 0);
        assert_int_equal(nheld, 0);
        pprof_bind_free(&b);
    }
}


static void
regex_binds(void **state)
{
    static const char  sre[] = "~^spiffe://prod\\.example/ns/sre/";

    (void) state;

    assert_true(binds(sre, "spiffe://prod.example/ns/sre/alice"));
    assert_true(binds(sre, "spiffe://prod.example/ns/sre/"));
    assert_false(binds(sre, "spiffe://prod.example/ns/dev/x"));
    assert_false(binds(sre, "xspiffe://prod.example/ns/sre/alice"));
    assert_false(binds(sre, "spiffe://prodXexample/ns/sre/alice"));
    assert_false(binds(sre, "spiffe://prod.example/ns/sre"));

    /* Unanchored regexes search, as nginx's do. */
    assert_true(binds("~/ns/sre/", "spiffe://prod.example/ns/sre/alice"));
    assert_true(binds("~alice", "xalicex"));
    assert_false(binds("~alice", "alic"));

    /* Case matters unless the regex says otherwise. */
    assert_false(binds("~^alice$", "Alice"));
    assert_true(binds("~(?i)^alice$", "Alice"));
    assert_true(binds("~^alice$", "alice"));
    assert_false(binds("~^alice$", "alice2"));

    /* "~*" is nginx's case-insensitive regex: the "*" is syntax too. */
    assert_true(binds("~*^alice$", "Alice"));
    assert_true(binds("~*^ALICE$", "alice"));
    assert_false(binds("~*^alice$", "Alice2"));
    assert_true(binds("~*/NS/sre/", "spiffe://prod.example/ns/SRE/x"));
}


/* nginx -t names the bind's own line: the check says which bind it was. */
static void
check_binds_names_the_bind(void **state)
{
    static const pprof_str_t  viewer[] = {
        { (const unsigned char *) "viewer", 6 },
    };
    static const pprof_str_t  viewer_typo[] = {
        { (const unsigned char *) "viewer", 6 },
        { (const unsigned char *) "veiwer", 6 },
    };

    pprof_role_t  roles[1];
    pprof_bind_t  b[3];
    pprof_str_t   undefined;
    size_t        max_held, at;

    (void) state;

    memset(roles, 0, sizeof(roles));
    roles[0].name = S("viewer");

    compile_ok(&b[0], "alice");
    compile_ok(&b[1], "bob");
    compile_ok(&b[2], "carol");
    b[0].roles = viewer;
    b[0].nroles = 1;
    b[1].roles = viewer_typo;
    b[1].nroles = 2;
    b[2].roles = viewer;
    b[2].nroles = 1;

    at = 99;
    assert_int_equal(pprof_policy_check_binds(b, 3, roles, 1, &max_held,
                                              &undefined, &at), -1);
    assert_int_equal(at, 1);
    assert_true(str_is(undefined, "veiwer"));

    assert_int_equal(pprof_policy_check_binds(b, 1, roles, 1, &max_held,
                                              &undefined, &at), 0);
    assert_int_equal(max_held, 1);
}


static void
several_binds(void **state)
{
    static const pprof_str_t  viewer_ops[] = {
        { (const unsigned char *) "viewer", 6 },
        { (const unsigned char *) "ops", 3 },
    };
    static const pprof_str_t  ops_admin[] = {
        { (const unsigned char *) "ops", 3 },
        { (const unsigned char *) "admin", 5 },
    };
    static const pprof_str_t  viewer[] = {
        { (const unsigned char *) "viewer", 6 },
    };
    static const pprof_str_t  nobody[] = {
        { (const unsigned char *) "nobody", 6 },
    };

    pprof_bind_t  b[4];
    pprof_str_t   held[8];
    size_t        nheld;

    (void) state;

    compile_ok(&b[0], "~^spiffe://prod\\.example/");
    b[0].roles = viewer_ops;
    b[0].nroles = 2;
    compile_ok(&b[1], "spiffe://prod.example/ns/sre/alice");
    b[1].roles = ops_admin;
    b[1].nroles = 2;
    compile_ok(&b[2], "~/ns/sre/");
    b[2].roles = viewer;
    b[2].nroles = 1;
    compile_ok(&b[3], "~^spiffe://dev\\.example/");
    b[3].roles = nobody;
    b[3].nroles = 1;

    nheld = 0;
    assert_int_equal(bind_roles(b, 4,
                         S("spiffe://prod.example/ns/sre/alice"),
                         S("cert"), held, &nheld, 8), 0);

    /* Union in bind order, each role once. */
    assert_int_equal(nheld, 3);
    assert_true(str_is(held[0], "viewer"));
    assert_true(str_is(held[1], "ops"));
    assert_true(str_is(held[2], "admin"));

    nheld = 0;
    assert_int_equal(bind_roles(b, 4,
                         S("spiffe://prod.example/ns/dev/bob"),
                         S("cert"), held, &nheld, 8), 0);
    assert_int_equal(nheld, 2);
    assert_true(str_is(held[0], "viewer"));
    assert_true(str_is(held[1], "ops"));

    nheld = 0;
    assert_int_equal(bind_roles(b, 4, S("carol"), S("cert"), held, &nheld,
                                8), 0);
    assert_int_equal(nheld, 0);

    /* Roles already held (from a JWT, say) are kept and not repeated. */
    held[0] = S("admin");
    held[1] = S("jwt-role");
    nheld = 2;
    assert_int_equal(bind_roles(b, 4,
                         S("spiffe://prod.example/ns/sre/alice"),
                         S("cert"), held, &nheld, 8), 0);
    assert_int_equal(nheld, 4);
    assert_true(str_is(held[0], "admin"));
    assert_true(str_is(held[1], "jwt-role"));
    assert_true(str_is(held[2], "viewer"));
    assert_true(str_is(held[3], "ops"));

    /* Three distinct roles do not fit in two: deny, do not truncate. */
    nheld = 0;
    assert_int_equal(bind_roles(b, 4,
                         S("spiffe://prod.example/ns/sre/alice"),
                         S("cert"), held, &nheld, 2), -1);
    assert_true(nheld <= 2);
    assert_string_equal(why, "more roles held than the 2 there is room for");

    /* Exactly enough room is enough: duplicates take none. */
    nheld = 0;
    assert_int_equal(bind_roles(b, 4,
                         S("spiffe://prod.example/ns/sre/alice"),
                         S("cert"), held, &nheld, 3), 0);
    assert_int_equal(nheld, 3);

    nheld = 0;
    assert_int_equal(bind_roles(b, 4,
                         S("spiffe://prod.example/ns/sre/alice"),
                         S("cert"), held, &nheld, 0), -1);

    /* No bind matching needs no room at all. */
    nheld = 0;
    assert_int_equal(bind_roles(b, 4, S("carol"), S("cert"), held, &nheld,
                                0), 0);
    assert_int_equal(nheld, 0);

    pprof_bind_free(&b[0]);
    pprof_bind_free(&b[1]);
    pprof_bind_free(&b[2]);
    pprof_bind_free(&b[3]);
}


static void
engine_error_denies(void **state)
{
    static const pprof_str_t  roles[] = { { (const unsigned char *) "r", 1 } };

    pprof_bind_t  b;
    pprof_str_t   held[2];
    size_t        nheld = 0;
    char          identity[64];

    (void) state;

    /*
     * Catastrophic backtracking runs into PCRE2's match limit: the engine's
     * failure must surface as -1 (deny), never as "no match" or "match".
     */
    memset(identity, 'a', sizeof(identity) - 2);
    identity[sizeof(identity) - 2] = '!';
    identity[sizeof(identity) - 1] = '\0';

    compile_ok(&b, "~^(a|aa)+$");
    b.roles = roles;
    b.nroles = 1;
    assert_int_equal(bind_roles(&b, 1, S(identity), S("cert"), held, &nheld,
                                2), -1);
    assert_int_equal(nheld, 0);

    /* What failed, for the error log: the bind, never the identity. */
    assert_string_equal(why, "pprof_bind \"~^(a|aa)+$\": match limit exceeded");
    pprof_bind_free(&b);

    /* As written: a "~*" bind is named with its "*". */
    compile_ok(&b, "~*^(a|aa)+$");
    b.roles = roles;
    b.nroles = 1;
    assert_int_equal(bind_roles(&b, 1, S(identity), S("cert"), held, &nheld,
                                2), -1);
    assert_string_equal(why,
                        "pprof_bind \"~*^(a|aa)+$\": match limit exceeded");
    pprof_bind_free(&b);
}


/* Which sources' identities a bind matches, "source=" by "source=". */
static unsigned
matching_sources(const pprof_bind_t *b, const char *identity)
{
    static const char  *names[] = {
        "cert", "xfcc", "jwt", "apikey", "variable", "anonymous", "none",
        "", "Cert", "certs",
    };

    pprof_str_t  held[2];
    size_t       i, nheld;
    unsigned     matched;

    matched = 0;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        nheld = 0;
        assert_int_equal(bind_roles(b, 1, S(identity),
                             S(names[i]), held, &nheld, 2), 0);
        matched |= (unsigned) (nheld == 1) << i;
    }

    return matched;
}


static void
bind_sources(void **state)
{
    static const pprof_str_t  roles[] = {
        { (const unsigned char *) "oncall", 6 }
    };
    static const char  *bad[] = {
        "", "Cert", "cert ", "x509", "none", "uri", "$remote_user", "jwt,cert",
    };

    pprof_bind_t  b;
    const char   *err;
    size_t        i;

    (void) state;

    /* Without source=, any source's identity matches (as before). */
    compile_ok(&b, "~^spiffe://prod\\.example/ns/sre/");
    b.roles = roles;
    b.nroles = 1;
    assert_int_equal(b.sources, 0);
    assert_int_equal(matching_sources(&b, "spiffe://prod.example/ns/sre/x"),
                     0x3ff);

    /* source=cert: a JWT, key, variable or xfcc SPIFFE look-alike is not. */
    err = NULL;
    assert_int_equal(pprof_bind_source_add(&b, S("cert"), &err), 0);
    assert_int_equal(matching_sources(&b, "spiffe://prod.example/ns/sre/x"),
                     0x01);
    assert_int_equal(matching_sources(&b, "spiffe://prod.example/ns/dev/x"),
                     0);

    /* Repeatable: sources add up. */
    assert_int_equal(pprof_bind_source_add(&b, S("jwt"), &err), 0);
    assert_int_equal(pprof_bind_source_add(&b, S("jwt"), &err), 0);
    assert_int_equal(matching_sources(&b, "spiffe://prod.example/ns/sre/x"),
                     0x05);
    assert_int_equal(pprof_bind_source_add(&b, S("apikey"), &err), 0);
    assert_int_equal(pprof_bind_source_add(&b, S("variable"), &err), 0);
    assert_int_equal(pprof_bind_source_add(&b, S("anonymous"), &err), 0);
    assert_int_equal(matching_sources(&b, "spiffe://prod.example/ns/sre/x"),
                     0x3d);
    pprof_bind_free(&b);

    /* xfcc is a source like the others. */
    compile_ok(&b, "spiffe://prod.example/ns/sre/x");
    b.roles = roles;
    b.nroles = 1;
    err = NULL;
    assert_int_equal(pprof_bind_source_add(&b, S("xfcc"), &err), 0);
    assert_null(err);
    assert_int_equal(matching_sources(&b, "spiffe://prod.example/ns/sre/x"),
                     0x02);

    /* A word that names no source is refused, and changes nothing. */
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        if (pprof_bind_source_add(&b, S(bad[i]), &err) != -1) {
            fail_msg("source=\"%s\" accepted", bad[i]);
        }
        assert_non_null(err);
    }

    assert_int_equal(pprof_bind_source_add(&b, SN("cert\0", 5), &err), -1);
    assert_int_equal(matching_sources(&b, "spiffe://prod.example/ns/sre/x"),
                     0x02);
    pprof_bind_free(&b);
}


static void
roles_add(void **state)
{
    pprof_str_t  held[2];
    size_t       nheld = 0;

    (void) state;

    assert_int_equal(pprof_roles_add(S("a"), held, &nheld, 2), 0);
    assert_int_equal(nheld, 1);
    assert_int_equal(pprof_roles_add(S("a"), held, &nheld, 2), 0);
    assert_int_equal(nheld, 1);
    assert_int_equal(pprof_roles_add(S("ab"), held, &nheld, 2), 0);
    assert_int_equal(nheld, 2);
    assert_true(str_is(held[0], "a"));
    assert_true(str_is(held[1], "ab"));

    /* Full: a duplicate is still fine, a new role is not. */
    assert_int_equal(pprof_roles_add(S("ab"), held, &nheld, 2), 0);
    assert_int_equal(pprof_roles_add(S("b"), held, &nheld, 2), -1);
    assert_int_equal(nheld, 2);

    nheld = 0;
    assert_int_equal(pprof_roles_add(S("a"), held, &nheld, 0), -1);
    assert_int_equal(nheld, 0);
}


/*
 * One rule for every role name, configured or from a credential: what
 * X-Pprof-Roles and $pprof_roles can carry comma-separated.
 */
static void
role_names(void **state)
{
    pprof_str_t  nul = { (const unsigned char *) "a\0b", 3 };

    (void) state;

    assert_true(pprof_role_name_valid(S("oncall")));
    assert_true(pprof_role_name_valid(S("sre:read-only_2")));

    assert_false(pprof_role_name_valid(S("")));
    assert_false(pprof_role_name_valid(S("a,b")));
    assert_false(pprof_role_name_valid(S("a b")));
    assert_false(pprof_role_name_valid(S("a\r\nX-Evil: 1")));
    assert_false(pprof_role_name_valid(S("a\tb")));
    assert_false(pprof_role_name_valid(S("a\"b")));
    assert_false(pprof_role_name_valid(S("a\\b")));
    assert_false(pprof_role_name_valid(S("caf\xc3\xa9")));
    assert_false(pprof_role_name_valid(S("a\x7f")));
    assert_false(pprof_role_name_valid(nul));
}


/* The roles of a typical configuration. */
static const pprof_str_t  heap_ep[] = { { (const unsigned char *) "heap", 4 } };
static const pprof_str_t  profile_ep[] = {
    { (const unsigned char *) "profile", 7 }
};
static const pprof_str_t  trace_ep[] = {
    { (const unsigned char *) "trace", 5 }
};
static const pprof_str_t  goroutine_ep[] = {
    { (const unsigned char *) "goroutine", 9 }
};

static const pprof_role_t  config_roles[] = {
    { { (const unsigned char *) "viewer", 6 },
      CLASS(PPROF_CLASS_INDEX) | CLASS(PPROF_CLASS_SNAPSHOT), NULL, 0 },
    { { (const unsigned char *) "capturer", 8 },
      CLASS(PPROF_CLASS_CAPTURE), NULL, 0 },
    { { (const unsigned char *) "cmd", 3 }, CLASS(PPROF_CLASS_CMDLINE),
      NULL, 0 },
    { { (const unsigned char *) "heaponly", 8 }, 0, heap_ep, 1 },
    { { (const unsigned char *) "profiler", 8 }, 0, profile_ep, 1 },
    { { (const unsigned char *) "tracer", 6 }, 0, trace_ep, 1 },
    { { (const unsigned char *) "goroutines", 10 }, 0, goroutine_ep, 1 },
    { { (const unsigned char *) "empty", 5 }, 0, NULL, 0 },
};

#define NROLES  (sizeof(config_roles) / sizeof(config_roles[0]))


/* The decision for a request "/debug/pprof/<endpoint>?<args>". */
static pprof_reason_t
decide(const char *role1, const char *role2, const char *endpoint,
    const char *args)
{
    char              uri[128];
    pprof_str_t       held[2];
    size_t            nheld = 0;
    pprof_endpoint_t  ep;

    snprintf(uri, sizeof(uri), "/debug/pprof/%s", endpoint);
    assert_int_equal(pprof_policy_classify(S("/debug/pprof/"), S(uri),
                         PPROF_METHOD_GET, S(args), &ep), PPROF_OK);

    if (role1) {
        held[nheld++] = S(role1);
    }
    if (role2) {
        held[nheld++] = S(role2);
    }

    return pprof_policy_authorize(config_roles, NROLES, held, nheld, &ep);
}

#define OK         PPROF_OK
#define FORBIDDEN  PPROF_FORBIDDEN


static void
authorize_classes(void **state)
{
    (void) state;

    assert_int_equal(decide("viewer", NULL, "", ""), OK);
    assert_int_equal(decide("viewer", NULL, "heap", ""), OK);
    assert_int_equal(decide("viewer", NULL, "heap", "gc=1"), OK);
    assert_int_equal(decide("viewer", NULL, "goroutine", "debug=2"), OK);
    assert_int_equal(decide("viewer", NULL, "my_custom", ""), OK);
    assert_int_equal(decide("viewer", NULL, "cmdline", ""), FORBIDDEN);
    assert_int_equal(decide("viewer", NULL, "symbol", ""), FORBIDDEN);
    assert_int_equal(decide("viewer", NULL, "profile", ""), FORBIDDEN);
    assert_int_equal(decide("viewer", NULL, "trace", ""), FORBIDDEN);
    /* A delta profile holds the target: snapshot does not cover it. */
    assert_int_equal(decide("viewer", NULL, "heap", "seconds=5"), FORBIDDEN);
    assert_int_equal(decide("viewer", NULL, "allocs", "seconds=5"),
                     FORBIDDEN);

    assert_int_equal(decide("capturer", NULL, "profile", "seconds=5"), OK);
    assert_int_equal(decide("capturer", NULL, "trace", ""), OK);
    assert_int_equal(decide("capturer", NULL, "heap", "seconds=5"), OK);
    assert_int_equal(decide("capturer", NULL, "my_custom", "seconds=5"), OK);
    /* Classes do not nest: capture is not snapshot. */
    assert_int_equal(decide("capturer", NULL, "heap", ""), FORBIDDEN);
    assert_int_equal(decide("capturer", NULL, "", ""), FORBIDDEN);

    assert_int_equal(decide("cmd", NULL, "cmdline", ""), OK);
    assert_int_equal(decide("cmd", NULL, "cmdline", "seconds=5"), OK);
    assert_int_equal(decide("cmd", NULL, "heap", ""), FORBIDDEN);
}


static void
authorize_endpoint_names(void **state)
{
    (void) state;

    /* "heap" is the snapshot, not the delta capture of it. */
    assert_int_equal(decide("heaponly", NULL, "heap", ""), OK);
    assert_int_equal(decide("heaponly", NULL, "heap", "debug=1"), OK);
    assert_int_equal(decide("heaponly", NULL, "heap", "seconds=5"),
                     FORBIDDEN);
    assert_int_equal(decide("heaponly", NULL, "heap", "%73econds=5"),
                     FORBIDDEN);
    assert_int_equal(decide("heaponly", NULL, "allocs", ""), FORBIDDEN);
    assert_int_equal(decide("heaponly", NULL, "", ""), FORBIDDEN);
    assert_int_equal(decide("heaponly", NULL, "profile", ""), FORBIDDEN);

    assert_int_equal(decide("goroutines", NULL, "goroutine", "debug=2"), OK);
    assert_int_equal(decide("goroutines", NULL, "goroutine", "seconds=5"),
                     FORBIDDEN);

    /* "profile" and "trace" are captures by name: they grant themselves. */
    assert_int_equal(decide("profiler", NULL, "profile", ""), OK);
    assert_int_equal(decide("profiler", NULL, "profile", "seconds=5"), OK);
    assert_int_equal(decide("profiler", NULL, "trace", ""), FORBIDDEN);
    assert_int_equal(decide("profiler", NULL, "heap", "seconds=5"),
                     FORBIDDEN);
    assert_int_equal(decide("tracer", NULL, "trace", "seconds=0.5"), OK);
    assert_int_equal(decide("tracer", NULL, "profile", ""), FORBIDDEN);

    /* Named snapshot plus the capture class: both halves of heap. */
    assert_int_equal(decide("heaponly", "capturer", "heap", ""), OK);
    assert_int_equal(decide("heaponly", "capturer", "heap", "seconds=5"), OK);
}


static void
authorize_nothing_implicit(void **state)
{
    pprof_endpoint_t  ep;

    (void) state;

    /* No roles at all. */
    assert_int_equal(decide(NULL, NULL, "", ""), FORBIDDEN);
    assert_int_equal(decide(NULL, NULL, "heap", ""), FORBIDDEN);

    /* Held but never defined: a typo in pprof_bind grants nothing. */
    assert_int_equal(decide("ghost", NULL, "", ""), FORBIDDEN);
    assert_int_equal(decide("ghost", NULL, "heap", ""), FORBIDDEN);
    assert_int_equal(decide("Viewer", NULL, "heap", ""), FORBIDDEN);
    assert_int_equal(decide("view", NULL, "heap", ""), FORBIDDEN);
    assert_int_equal(decide("viewers", NULL, "heap", ""), FORBIDDEN);

    /* A role named like a class or an endpoint is still just its grants. */
    assert_int_equal(decide("snapshot", NULL, "heap", ""), FORBIDDEN);
    assert_int_equal(decide("heap", NULL, "heap", ""), FORBIDDEN);
    assert_int_equal(decide("empty", NULL, "heap", ""), FORBIDDEN);
    assert_int_equal(decide("empty", NULL, "", ""), FORBIDDEN);

    /* An undefined role does not hide a defined one held with it. */
    assert_int_equal(decide("ghost", "viewer", "heap", ""), OK);

    /* No roles defined at all. */
    pprof_policy_classify(S("/debug/pprof/"), S("/debug/pprof/heap"),
                          PPROF_METHOD_GET, S(""), &ep);
    {
        pprof_str_t  held[1] = { { (const unsigned char *) "viewer", 6 } };

        assert_int_equal(pprof_policy_authorize(NULL, 0, held, 1, &ep),
                         FORBIDDEN);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(compile),
        cmocka_unit_test(compile_errors),
        cmocka_unit_test(anchored),
        cmocka_unit_test(exact_binds),
        cmocka_unit_test(regex_binds),
        cmocka_unit_test(check_binds_names_the_bind),
        cmocka_unit_test(several_binds),
        cmocka_unit_test(engine_error_denies),
        cmocka_unit_test(bind_sources),
        cmocka_unit_test(roles_add),
        cmocka_unit_test(role_names),
        cmocka_unit_test(authorize_classes),
        cmocka_unit_test(authorize_endpoint_names),
        cmocka_unit_test(authorize_nothing_implicit),
    };

    return cmocka_run_group_tests_name("roles", tests, NULL, NULL);
}
