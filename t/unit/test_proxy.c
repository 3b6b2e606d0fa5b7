/* Audit ids and the denial bodies clients and pprof tools read. */

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "proxy/proxy.h"


#define NIDS  1000


static int
is_id(const char *id)
{
    size_t  i;

    for (i = 0; i < PPROF_AUDIT_ID_LEN; i++) {
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
        {
            return 0;
        }
    }

    return id[PPROF_AUDIT_ID_LEN] == '\0';
}


static int
cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, PPROF_AUDIT_ID_LEN + 1);
}


static void
audit_ids(void **state)
{
    char    (*ids)[PPROF_AUDIT_ID_LEN + 1];
    char      guard[PPROF_AUDIT_ID_LEN + 2];
    unsigned  seen[16] = { 0 };
    size_t    i, j;

    (void) state;

    /* Exactly 32 digits and a NUL: the byte after is not touched. */
    memset(guard, '#', sizeof(guard));
    assert_int_equal(pprof_audit_id_generate(guard), 0);
    assert_true(is_id(guard));
    assert_int_equal(strlen(guard), PPROF_AUDIT_ID_LEN);
    assert_int_equal(guard[PPROF_AUDIT_ID_LEN + 1], '#');

    ids = calloc(NIDS, sizeof(*ids));
    assert_non_null(ids);

    for (i = 0; i < NIDS; i++) {
        assert_int_equal(pprof_audit_id_generate(ids[i]), 0);
        if (!is_id(ids[i])) {
            free(ids);
            fail_msg("id %zu is not 32 lowercase hex digits", i);
        }
        for (j = 0; j < PPROF_AUDIT_ID_LEN; j++) {
            seen[ids[i][j] <= '9' ? ids[i][j] - '0' : ids[i][j] - 'a' + 10]++;
        }
    }

    /* 1000 random 128-bit ids never collide; sorted, neighbours differ. */
    qsort(ids, NIDS, sizeof(*ids), cmp_id);
    for (i = 1; i < NIDS; i++) {
        if (memcmp(ids[i - 1], ids[i], PPROF_AUDIT_ID_LEN) == 0) {
            free(ids);
            fail_msg("duplicate audit id");
        }
    }
    free(ids);

    /*
     * Every digit turns up (32000 of them, 2000 expected each): catches a
     * generator that only ever fills part of the range, e.g. a nibble lost.
     */
    for (i = 0; i < 16; i++) {
        if (seen[i] < 1000 || seen[i] > 3000) {
            fail_msg("digit %zx seen %u times in 32000", i, seen[i]);
        }
    }
}


/*
 * Ids are drawn ahead, several at a time: a child of fork() must not hand
 * out the ids its parent has drawn and will hand out itself.
 */
static void
audit_ids_after_fork(void **state)
{
    char   parent[PPROF_AUDIT_ID_LEN + 1], child[PPROF_AUDIT_ID_LEN + 1];
    int    fds[2], status;
    pid_t  pid;

    (void) state;

    /* The parent holds drawn ids now. */
    assert_int_equal(pprof_audit_id_generate(parent), 0);
    assert_int_equal(pipe(fds), 0);

    pid = fork();
    assert_true(pid >= 0);

    if (pid == 0) {
        if (pprof_audit_id_generate(child) != 0
            || write(fds[1], child, sizeof(child)) != (ssize_t) sizeof(child))
        {
            _exit(1);
        }
        _exit(0);
    }

    close(fds[1]);
    assert_int_equal(read(fds[0], child, sizeof(child)),
                     (ssize_t) sizeof(child));
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(is_id(child));

    assert_int_equal(pprof_audit_id_generate(parent), 0);
    assert_string_not_equal(parent, child);
}


static void
wants_json(void **state)
{
    (void) state;

    assert_true(pprof_denial_wants_json(S("application/json")));
    assert_true(pprof_denial_wants_json(S("Application/JSON; q=1")));
    assert_true(pprof_denial_wants_json(S("text/html, application/json")));
    assert_true(pprof_denial_wants_json(S("text/html,application/json;q=0.9")));
    assert_true(pprof_denial_wants_json(S("APPLICATION/JSON")));

    assert_false(pprof_denial_wants_json(S("*/*")));
    assert_false(pprof_denial_wants_json(S("")));
    assert_false(pprof_denial_wants_json(S("application/jso")));
    assert_false(pprof_denial_wants_json(S("text/plain")));
    assert_false(pprof_denial_wants_json(S("application/*")));
    assert_false(pprof_denial_wants_json(S("application/ json")));

    /* Only the header's bytes are read, not what follows them. */
    assert_false(pprof_denial_wants_json(SN("application/json", 15)));
    assert_true(pprof_denial_wants_json(SN("x\0application/json", 18)));
    assert_false(pprof_denial_wants_json(SN(NULL, 0)));
}


static const char  id[] = "0123456789abcdef0123456789abcdef";


static void
render_text(void **state)
{
    char    buf[PPROF_DENIAL_MAX], want[PPROF_DENIAL_MAX];
    size_t  n;

    (void) state;

    snprintf(want, sizeof(want), "pprof-gateway: forbidden: %s (audit id %s)\n",
             pprof_reason_message(PPROF_FORBIDDEN), id);

    n = pprof_denial_render(buf, sizeof(buf), PPROF_FORBIDDEN, id, 0);
    assert_int_equal(n, strlen(want));
    assert_string_equal(buf, want);
    assert_string_equal(buf,
        "pprof-gateway: forbidden: no role of yours permits this endpoint "
        "(audit id 0123456789abcdef0123456789abcdef)\n");

    n = pprof_denial_render(buf, sizeof(buf), PPROF_UNAUTHENTICATED, id, 0);
    assert_int_equal(n, strlen(buf));
    assert_string_equal(buf,
        "pprof-gateway: unauthenticated: no credential was offered "
        "(audit id 0123456789abcdef0123456789abcdef)\n");
}


static void
render_json(void **state)
{
    char    buf[PPROF_DENIAL_MAX], want[PPROF_DENIAL_MAX];
    size_t  n;

    (void) state;

    snprintf(want, sizeof(want),
             "{\"error\":\"forbidden\",\"message\":\"%s\","
             "\"audit_id\":\"%s\"}\n",
             pprof_reason_message(PPROF_FORBIDDEN), id);

    n = pprof_denial_render(buf, sizeof(buf), PPROF_FORBIDDEN, id, 1);
    assert_int_equal(n, strlen(want));
    assert_string_equal(buf, want);

    /* Exactly the three keys, in this order, nothing else. */
    assert_string_equal(buf,
        "{\"error\":\"forbidden\","
        "\"message\":\"no role of yours permits this endpoint\","
        "\"audit_id\":\"0123456789abcdef0123456789abcdef\"}\n");
}


static void
every_reason_renders(void **state)
{
    char            buf[PPROF_DENIAL_MAX];
    const char     *msg;
    pprof_reason_t  r;
    size_t          i;

    (void) state;

    /*
     * The JSON form is written without escaping: that is only sound while
     * every name and message is plain printable ASCII without '"' or '\'.
     * And every denial must fit in PPROF_DENIAL_MAX.
     */
    for (r = PPROF_OK; r < PPROF_REASON_COUNT; r++) {
        msg = pprof_reason_message(r);
        for (i = 0; msg[i]; i++) {
            assert_true(msg[i] >= 0x20 && msg[i] < 0x7f);
            assert_true(msg[i] != '"' && msg[i] != '\\');
        }

        assert_true(pprof_denial_render(buf, sizeof(buf), r, id, 0) > 0);
        assert_true(pprof_denial_render(buf, sizeof(buf), r, id, 1) > 0);
    }
}


static void
render_short_buffer(void **state)
{
    char    buf[PPROF_DENIAL_MAX];
    size_t  full, n;

    (void) state;

    full = pprof_denial_render(buf, sizeof(buf), PPROF_FORBIDDEN, id, 0);
    assert_true(full > 0);

    /* One byte short of room for the NUL: 0, never a truncated body. */
    memset(buf, '#', sizeof(buf));
    n = pprof_denial_render(buf, full, PPROF_FORBIDDEN, id, 0);
    assert_int_equal(n, 0);
    assert_int_equal(buf[full], '#');

    assert_int_equal(pprof_denial_render(buf, full + 1, PPROF_FORBIDDEN, id,
                                         0), full);

    full = pprof_denial_render(buf, sizeof(buf), PPROF_FORBIDDEN, id, 1);
    assert_int_equal(pprof_denial_render(buf, full, PPROF_FORBIDDEN, id, 1),
                     0);
    assert_int_equal(pprof_denial_render(buf, 10, PPROF_FORBIDDEN, id, 1), 0);
    assert_int_equal(pprof_denial_render(buf, 1, PPROF_FORBIDDEN, id, 0), 0);
    assert_int_equal(pprof_denial_render(NULL, 0, PPROF_FORBIDDEN, id, 0), 0);
}


static void
render_out_of_range(void **state)
{
    char    buf[PPROF_DENIAL_MAX];
    size_t  n;

    (void) state;

    /* A reason that is not one is the gateway's own failure. */
    n = pprof_denial_render(buf, sizeof(buf), PPROF_REASON_COUNT, id, 0);
    assert_true(n > 0);
    assert_string_equal(buf,
        "pprof-gateway: internal_error: the gateway failed to decide; denied "
        "(audit id 0123456789abcdef0123456789abcdef)\n");

    n = pprof_denial_render(buf, sizeof(buf), (pprof_reason_t) -1, id, 1);
    assert_true(n > 0);
    assert_string_equal(buf,
        "{\"error\":\"internal_error\","
        "\"message\":\"the gateway failed to decide; denied\","
        "\"audit_id\":\"0123456789abcdef0123456789abcdef\"}\n");

    n = pprof_denial_render(buf, sizeof(buf), (pprof_reason_t) 999, id, 0);
    assert_true(n > 0);
    assert_non_null(strstr(buf, ": internal_error: "));
}


static void
credential_headers(void **state)
{
    (void) state;

    assert_true(pprof_proxy_is_credential_header(S("authorization")));
    assert_true(pprof_proxy_is_credential_header(S("proxy-authorization")));
    assert_true(pprof_proxy_is_credential_header(S("cookie")));
    assert_false(pprof_proxy_is_credential_header(S("cookies")));
    assert_false(pprof_proxy_is_credential_header(S("authorizatio")));
    assert_false(pprof_proxy_is_credential_header(S("x-forwarded-for")));
    assert_false(pprof_proxy_is_credential_header(S("")));
}


/* proxy_pass as written, in location /debug/pprof/ with the default prefix. */
static int
pass(const char *url, pprof_str_t *host, const char **why)
{
    return pprof_proxy_pass_check(S(url), S("/debug/pprof/"),
                                  S("/debug/pprof/"), host, why);
}


static void
proxy_pass_allowed(void **state)
{
    static const char  *plain[] = {
        "http://127.0.0.1:6060",
        "HTTPS://target.example",
        "http://[::1]:6060",
        "http://127.0.0.1:6060/debug/pprof/",
        "http://h/",
        "http://unix:/run/app.sock",
        "http://unix:/run/app.sock:/debug/pprof/",
        "http://127.0.0.1:6060$request_uri",
        "http://h${request_uri}",
        "http://h$uri$is_args$args",
        "http://h$document_uri$is_args$query_string",
        "http://unix:/run/app.sock:$request_uri",
        /* nginx reads variable names in any case */
        "http://h$REQUEST_URI",
        "http://h${Request_Uri}",
        "http://h$Uri$Is_Args$Args",
        "http://h$DOCUMENT_URI$IS_ARGS$QUERY_STRING",
    };
    static const struct {
        const char  *url;
        const char  *host;
    } variables[] = {
        { "http://$backend", "http://$backend" },
        { "http://$host:6060", "http://$host:6060" },
        { "https://${backend}", "https://${backend}" },
        { "http://$backend$request_uri", "http://$backend" },
        { "http://${backend}${uri}${is_args}${args}", "http://${backend}" },
        { "http://$backend$REQUEST_URI", "http://$backend" },
        { "http://$Backend$Uri$Is_Args$Args", "http://$Backend" },
        { "http://$backend/debug/pprof/", "http://$backend" },
        { "http://unix:$socket", "http://unix:$socket" },
    };

    size_t        i;
    pprof_str_t   host;
    const char   *why;

    (void) state;

    for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        why = NULL;
        host.len = 99;
        if (pass(plain[i], &host, &why) != 0) {
            fail_msg("%s: %s", plain[i], why);
        }
        assert_int_equal(host.len, 0);
    }

    for (i = 0; i < sizeof(variables) / sizeof(variables[0]); i++) {
        assert_int_equal(pass(variables[i].url, &host, &why), 0);
        assert_int_equal(host.len, strlen(variables[i].host));
        assert_memory_equal(host.data, variables[i].host, host.len);
    }
}


static void
proxy_pass_refused(void **state)
{
    static const struct {
        const char  *url;
        const char  *why;
    } refused[] = {
        /* variables in the URI part */
        { "http://h$args", "variables other than" },
        { "http://h$query_string", "variables other than" },
        { "http://h$is_args$args", "variables other than" },
        { "http://h$uri", "variables other than" },
        { "http://h$uri?$args", "variables other than" },
        { "http://h$request_uri$is_args$args", "variables other than" },
        { "http://h$request", "variables other than" },
        { "http://h$1", "variables other than" },
        { "http://h$arg_path", "variables other than" },
        { "http://h/$request_uri", "variables other than" },
        { "http://h/debug/pprof/$args", "variables other than" },
        { "http://h/debug/pprof/heap?$args", "variables other than" },
        { "http://h/debug/pprof/$endpoint", "variables other than" },
        { "http://h?$args", "variables other than" },
        { "http://$backend/debug/pprof/$1", "variables other than" },
        { "http://h$request_uri$x", "variables other than" },
        /* the same, in another case: still the client's request */
        { "http://h$ARGS", "variables other than" },
        { "http://h$Query_String", "variables other than" },
        { "http://h$IS_ARGS$Args", "variables other than" },
        { "http://h$URI", "variables other than" },
        { "http://h$Request", "variables other than" },
        { "http://h$Request_Body", "variables other than" },
        { "http://h$ARG_path", "variables other than" },
        { "http://h${Arg_Path}", "variables other than" },
        { "http://h$REQUEST_URI$IS_ARGS$ARGS", "variables other than" },
        { "http://$backend$ARGS", "variables other than" },
        /* static URI parts the endpoint would not survive */
        { "http://h/debug/pprof", "start and end with" },
        { "http://h/debug/pprof/pro", "start and end with" },
        { "http://h/debug/pprof/?debug=2", "start and end with" },
        { "http://h?x=1", "start and end with" },
        { "http://unix:/run/app.sock:x/", "start and end with" },
        /* the scheme must be written out */
        { "$scheme://h$request_uri", "does not start with http" },
        { "$target", "does not start with http" },
        { "ftp://h", "does not start with http" },
        { "http:/h", "does not start with http" },
        { "http\x1a//h", "does not start with http" },
        { "", "does not start with http" },
    };

    size_t        i;
    pprof_str_t   host;
    const char   *why;

    (void) state;

    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        why = NULL;
        if (pass(refused[i].url, &host, &why) != -1) {
            fail_msg("%s: accepted", refused[i].url);
        }
        assert_non_null(why);
        if (strstr(why, refused[i].why) == NULL) {
            fail_msg("%s: %s", refused[i].url, why);
        }
    }
}


/* A URI part replaces the location's name: never a piece of the endpoint. */
static void
proxy_pass_location(void **state)
{
    pprof_str_t   host;
    const char   *why;

    (void) state;

    assert_int_equal(pprof_proxy_pass_check(S("http://h/debug/pprof/"),
        S("/gw/"), S("/gw/"), &host, &why), 0);
    assert_int_equal(pprof_proxy_pass_check(S("http://h/x/"),
        S("/"), S("/debug/pprof/"), &host, &why), 0);
    assert_int_equal(pprof_proxy_pass_check(S("http://h/x/"),
        S("/debug/pprof"), S("/debug/pprof/"), &host, &why), 0);

    /* location /debug/pprof/c: "cprofile" would reach Go as "profile" */
    assert_int_equal(pprof_proxy_pass_check(S("http://h/debug/pprof/"),
        S("/debug/pprof/c"), S("/debug/pprof/"), &host, &why), -1);
    assert_non_null(strstr(why, "not a prefix of pprof_prefix"));
    assert_int_equal(pprof_proxy_pass_check(S("http://h/debug/pprof/heap/"),
        S("/debug/pprof/heap"), S("/debug/pprof/"), &host, &why), -1);
    assert_int_equal(pprof_proxy_pass_check(S("http://h/debug/pprof/"),
        S("/gw/"), S("/debug/pprof/"), &host, &why), -1);

    /* Without a URI part nothing is replaced, whatever the location. */
    assert_int_equal(pprof_proxy_pass_check(S("http://h"),
        S("/debug/pprof/c"), S("/debug/pprof/"), &host, &why), 0);
    assert_int_equal(pprof_proxy_pass_check(S("http://h$request_uri"),
        S("/debug/pprof/c"), S("/debug/pprof/"), &host, &why), 0);
}


static void
proxy_pass_host_ok(void **state)
{
    (void) state;

    assert_true(pprof_proxy_pass_host_ok(S("http://127.0.0.1:6060")));
    assert_true(pprof_proxy_pass_host_ok(S("HTTPS://[::1]:6060")));
    assert_true(pprof_proxy_pass_host_ok(S("http://unix:/s.sock")));
    assert_true(pprof_proxy_pass_host_ok(S("http://unix:/s.sock:")));
    assert_true(pprof_proxy_pass_host_ok(S("http://$not-a-variable")));

    /* a path, a query or a unix URI smuggled in through a variable */
    assert_false(pprof_proxy_pass_host_ok(S("http://h/debug/pprof/profile")));
    assert_false(pprof_proxy_pass_host_ok(S("http://h/")));
    assert_false(pprof_proxy_pass_host_ok(S("http://h?seconds=30")));
    assert_false(pprof_proxy_pass_host_ok(S("http://a?x:6060")));
    assert_false(pprof_proxy_pass_host_ok(S("http://unix:/s.sock:/x")));
    assert_false(pprof_proxy_pass_host_ok(S("http:/h")));
    assert_false(pprof_proxy_pass_host_ok(S("h:6060")));
    assert_false(pprof_proxy_pass_host_ok(S("")));
}

/* A one-line detail after the message; none renders as before. */
static void
render_detail(void **state)
{
    char    buf[PPROF_DENIAL_MAX], plain[PPROF_DENIAL_MAX], long_[300];
    size_t  n;
    int     json;

    (void) state;

    for (json = 0; json <= 1; json++) {
        n = pprof_denial_render(plain, sizeof(plain), PPROF_BAD_PARAMETER, id,
                                json);
        assert_int_equal(pprof_denial_render_detail(buf, sizeof(buf),
                             PPROF_BAD_PARAMETER, id, json, NULL), n);
        assert_string_equal(buf, plain);
        assert_int_equal(pprof_denial_render_detail(buf, sizeof(buf),
                             PPROF_BAD_PARAMETER, id, json, ""), n);
        assert_string_equal(buf, plain);
    }

    n = pprof_denial_render_detail(buf, sizeof(buf), PPROF_BAD_PARAMETER, id,
                                   0, "the query must be canonical: "
                                   "debug=1&gc=1");
    assert_int_equal(n, strlen(buf));
    assert_string_equal(buf,
        "pprof-gateway: bad_parameter: a parameter is outside what this "
        "endpoint accepts; the query must be canonical: debug=1&gc=1 "
        "(audit id 0123456789abcdef0123456789abcdef)\n");

    n = pprof_denial_render_detail(buf, sizeof(buf), PPROF_BAD_PARAMETER, id,
                                   1, "the query must be canonical: "
                                   "debug=1&gc=1");
    assert_int_equal(n, strlen(buf));
    assert_string_equal(buf,
        "{\"error\":\"bad_parameter\","
        "\"message\":\"a parameter is outside what this endpoint accepts; "
        "the query must be canonical: debug=1&gc=1\","
        "\"audit_id\":\"0123456789abcdef0123456789abcdef\"}\n");

    /* Escaped for JSON; one line of ASCII in both forms. */
    pprof_denial_render_detail(buf, sizeof(buf), PPROF_BAD_PARAMETER, id, 1,
                               "a \"quote\" and \\ back\nslash\x01\xc3\xa9");
    assert_non_null(strstr(buf, "; a \\\"quote\\\" and \\\\ back?slash???\","));
    pprof_denial_render_detail(buf, sizeof(buf), PPROF_BAD_PARAMETER, id, 0,
                               "a \"quote\" and \\ back\nslash\x01\xc3\xa9");
    assert_non_null(strstr(buf, "; a \"quote\" and \\ back?slash??? (audit"));

    /* Cut at PPROF_DENIAL_DETAIL_MAX; the worst case still fits. */
    memset(long_, '"', sizeof(long_) - 1);
    long_[sizeof(long_) - 1] = '\0';
    n = pprof_denial_render_detail(buf, sizeof(buf), PPROF_INTERNAL_ERROR, id,
                                   1, long_);
    assert_true(n > 0);
    assert_int_equal(n, pprof_denial_render(plain, sizeof(plain),
                                            PPROF_INTERNAL_ERROR, id, 1)
                        + 2 + 2 * PPROF_DENIAL_DETAIL_MAX);
}


static int
names(const char *url)
{
    return pprof_proxy_pass_names_prefix(S(url), S("/debug/pprof/"));
}


/* A plain proxy_pass that sends every request to the profiles. */
static void
proxy_pass_names_prefix(void **state)
{
    (void) state;

    assert_true(names("http://go:6060/debug/pprof/"));
    assert_true(names("http://go:6060/debug/pprof"));
    assert_true(names("https://go/debug/pprof/heap"));
    assert_true(names("http://go/debug/pprof?x=1"));
    assert_true(names("HTTP://$backend/debug/pprof/"));
    assert_true(names("http://unix:/run/go.sock:/debug/pprof/"));

    assert_false(names("http://go:6060"));
    assert_false(names("http://go:6060/"));
    assert_false(names("http://go:6060/app/debug/pprof/"));
    assert_false(names("http://go:6060/debug/pprofiler/"));
    assert_false(names("http://go:6060/debug/"));
    assert_false(names("http://go:6060$request_uri"));
    assert_false(names("http://go:6060/debug/pprof/$arg_p"));
    assert_false(names("grpc://go/debug/pprof/"));
    assert_true(pprof_proxy_pass_names_prefix(S("http://go/gw/x/"),
                                              S("/gw/x/")));
}


/* RFC 6750's error for a refused token; every other 401 keeps the plain one. */
static void
challenge(void **state)
{
    char    buf[PPROF_CHALLENGE_MAX];
    size_t  n;

    (void) state;

    n = pprof_denial_challenge(buf, sizeof(buf), "Bearer realm=\"pprof\"",
                               PPROF_INVALID_CREDENTIAL,
                               "the token has expired");
    assert_int_equal(n, strlen(buf));
    assert_string_equal(buf, "Bearer realm=\"pprof\", error=\"invalid_token\", "
                        "error_description=\"the token has expired\"");

    n = pprof_denial_challenge(buf, sizeof(buf), "Bearer realm=\"pprof\"",
                               PPROF_INVALID_CREDENTIAL, NULL);
    assert_int_equal(n, strlen(buf));
    assert_string_equal(buf, "Bearer realm=\"pprof\"");

    /* No credential offered: RFC 6750 sends no error code. */
    pprof_denial_challenge(buf, sizeof(buf), "Bearer realm=\"pprof\"",
                           PPROF_UNAUTHENTICATED, "the token has expired");
    assert_string_equal(buf, "Bearer realm=\"pprof\"");

    /* Whatever the text, the quoted-string stays one line, quotes escaped. */
    pprof_denial_challenge(buf, sizeof(buf), "Bearer realm=\"pprof\"",
                           PPROF_INVALID_CREDENTIAL, "a\"b\r\nX: y");
    assert_string_equal(buf, "Bearer realm=\"pprof\", error=\"invalid_token\", "
                        "error_description=\"a\\\"b??X: y\"");

    assert_int_equal(pprof_denial_challenge(buf, 30, "Bearer realm=\"pprof\"",
                         PPROF_INVALID_CREDENTIAL, "the token has expired"),
                     0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(audit_ids),
        cmocka_unit_test(audit_ids_after_fork),
        cmocka_unit_test(wants_json),
        cmocka_unit_test(render_text),
        cmocka_unit_test(render_json),
        cmocka_unit_test(every_reason_renders),
        cmocka_unit_test(render_short_buffer),
        cmocka_unit_test(render_out_of_range),
        cmocka_unit_test(render_detail),
        cmocka_unit_test(challenge),
        cmocka_unit_test(credential_headers),
        cmocka_unit_test(proxy_pass_allowed),
        cmocka_unit_test(proxy_pass_refused),
        cmocka_unit_test(proxy_pass_location),
        cmocka_unit_test(proxy_pass_host_ok),
        cmocka_unit_test(proxy_pass_names_prefix),
    };

    return cmocka_run_group_tests_name("proxy", tests, NULL, NULL);
}
