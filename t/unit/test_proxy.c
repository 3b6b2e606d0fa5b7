/* Audit ids and the denial bodies clients and pprof tools read. */

#include <stdio.h>
#include <stdlib.h>

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


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(audit_ids),
        cmocka_unit_test(wants_json),
        cmocka_unit_test(render_text),
        cmocka_unit_test(render_json),
        cmocka_unit_test(every_reason_renders),
        cmocka_unit_test(render_short_buffer),
        cmocka_unit_test(render_out_of_range),
        cmocka_unit_test(credential_headers),
    };

    return cmocka_run_group_tests_name("proxy", tests, NULL, NULL);
}
