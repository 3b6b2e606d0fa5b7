/* Stage 6: every row of SPEC §4, and what must never get through. */

#include <stdio.h>

#include "unit.h"


typedef struct {
    const char      *endpoint;
    const char      *args;
    pprof_reason_t   reason;
    const char      *canonical;     /* when PPROF_OK */
} param_case_t;


static const param_case_t  cases[] = {
    /* profile: integer 1..max, default min(30, max), always explicit */
    { "profile", "", PPROF_OK, "seconds=30" },
    { "profile", "seconds=5", PPROF_OK, "seconds=5" },
    { "profile", "seconds=005", PPROF_OK, "seconds=5" },
    { "profile", "seconds=60", PPROF_OK, "seconds=60" },
    { "profile", "seconds=61", PPROF_BAD_PARAMETER, NULL },
    { "profile", "seconds=0", PPROF_BAD_PARAMETER, NULL },
    { "profile", "seconds=1.5", PPROF_BAD_PARAMETER, NULL },
    { "profile", "seconds=abc", PPROF_BAD_PARAMETER, NULL },
    { "profile", "seconds=-1", PPROF_BAD_PARAMETER, NULL },
    { "profile", "seconds=+5", PPROF_BAD_PARAMETER, NULL },
    { "profile", "seconds=", PPROF_BAD_PARAMETER, NULL },
    { "profile", "seconds", PPROF_BAD_PARAMETER, NULL },
    { "profile", "seconds=5%00", PPROF_BAD_PARAMETER, NULL },
    { "profile", "seconds=5;debug=1", PPROF_BAD_PARAMETER, NULL },
    { "profile", "seconds=99999999999999999999", PPROF_BAD_PARAMETER, NULL },
    { "profile", "seconds=5&seconds=6", PPROF_BAD_PARAMETER, NULL },
    { "profile", "seconds=5&seconds=05", PPROF_OK, "seconds=5" },
    { "profile", "%73econds=7", PPROF_OK, "seconds=7" },
    { "profile", "seconds=%37", PPROF_OK, "seconds=7" },
    { "profile", "seconds=5&x=%zz", PPROF_BAD_PARAMETER, NULL },
    { "profile", "seconds=5&x=%4", PPROF_BAD_PARAMETER, NULL },
    { "profile", "debug=1&gc=1&foo=bar&seconds=2", PPROF_OK, "seconds=2" },
    { "profile", "x;seconds=9", PPROF_OK, "seconds=30" },
    { "profile", "Seconds=9", PPROF_OK, "seconds=30" },
    { "profile", "&&seconds=3&&", PPROF_OK, "seconds=3" },

    /* trace: decimal > 0 and <= max, default 1 */
    { "trace", "", PPROF_OK, "seconds=1" },
    { "trace", "seconds=0.5", PPROF_OK, "seconds=0.5" },
    { "trace", "seconds=2.250", PPROF_OK, "seconds=2.25" },
    { "trace", "seconds=007.000001", PPROF_OK, "seconds=7.000001" },
    { "trace", "seconds=3.0", PPROF_OK, "seconds=3" },
    { "trace", "seconds=60", PPROF_OK, "seconds=60" },
    { "trace", "seconds=60.000001", PPROF_BAD_PARAMETER, NULL },
    { "trace", "seconds=0.0", PPROF_BAD_PARAMETER, NULL },
    { "trace", "seconds=0.0000001", PPROF_BAD_PARAMETER, NULL },
    { "trace", "seconds=.5", PPROF_BAD_PARAMETER, NULL },
    { "trace", "seconds=1.", PPROF_BAD_PARAMETER, NULL },
    { "trace", "seconds=1e3", PPROF_BAD_PARAMETER, NULL },
    { "trace", "seconds=NaN", PPROF_BAD_PARAMETER, NULL },

    /* snapshots: debug 0..2, gc 0..1 for heap, seconds as a delta */
    { "heap", "", PPROF_OK, "" },
    { "heap", "gc=1&debug=1", PPROF_OK, "debug=1&gc=1" },
    { "heap", "debug=3", PPROF_BAD_PARAMETER, NULL },
    { "heap", "gc=2", PPROF_BAD_PARAMETER, NULL },
    { "heap", "debug=1&debug=2", PPROF_BAD_PARAMETER, NULL },
    { "heap", "seconds=10", PPROF_OK, "seconds=10" },
    { "heap", "seconds=10&debug=0", PPROF_OK, "debug=0&seconds=10" },
    { "heap", "seconds=10&debug=1", PPROF_BAD_PARAMETER, NULL },
    { "heap", "seconds=1.5", PPROF_BAD_PARAMETER, NULL },
    { "goroutine", "debug=2", PPROF_OK, "debug=2" },
    { "goroutine", "gc=1", PPROF_OK, "" },
    { "goroutine", "gc=banana", PPROF_OK, "" },
    { "mutex", "seconds=3&gc=1", PPROF_OK, "seconds=3" },
    { "custom_one", "debug=1", PPROF_OK, "debug=1" },

    /* cheap endpoints take nothing */
    { "cmdline", "debug=2&seconds=5", PPROF_OK, "" },
    { "symbol", "0x1234+0x5678", PPROF_OK, "" },
    { "", "debug=1", PPROF_OK, "" },
    { "cmdline", "%", PPROF_BAD_PARAMETER, NULL },
};


static void
table(void **state)
{
    char              uri[128];
    size_t            i;
    pprof_params_t    params;
    pprof_endpoint_t  ep;
    pprof_reason_t    rc;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(uri, sizeof(uri), "/debug/pprof/%s", cases[i].endpoint);

        assert_int_equal(pprof_policy_classify(S("/debug/pprof/"), S(uri),
                             PPROF_METHOD_GET, S(cases[i].args), &ep),
                         PPROF_OK);

        rc = pprof_policy_params(&ep, S(cases[i].args), PPROF_METHOD_GET, 0,
                                 60, &params);

        if (rc != cases[i].reason) {
            fail_msg("%s?%s: got %s, want %s", cases[i].endpoint,
                     cases[i].args, pprof_reason_name(rc),
                     pprof_reason_name(cases[i].reason));
        }

        if (rc == PPROF_OK) {
            assert_string_equal(params.canonical, cases[i].canonical);
            assert_int_equal(params.canonical_len,
                             strlen(cases[i].canonical));
        }
    }
}


static void
default_follows_max(void **state)
{
    pprof_params_t    params;
    pprof_endpoint_t  ep;

    (void) state;

    pprof_policy_classify(S("/p/"), S("/p/profile"), PPROF_METHOD_GET, S(""),
                          &ep);
    assert_int_equal(pprof_policy_params(&ep, S(""), PPROF_METHOD_GET, 0, 10,
                                         &params), PPROF_OK);
    assert_string_equal(params.canonical, "seconds=10");
    assert_int_equal(params.seconds_us, 10000000);

    /* A misconfigured maximum is the gateway's failure, never an allow. */
    assert_int_equal(pprof_policy_params(&ep, S(""), PPROF_METHOD_GET, 0, 0,
                                         &params), PPROF_INTERNAL_ERROR);
}


static void
bodies(void **state)
{
    pprof_params_t    params;
    pprof_endpoint_t  sym, heap;

    (void) state;

    pprof_policy_classify(S("/p/"), S("/p/symbol"), PPROF_METHOD_POST, S(""),
                          &sym);
    pprof_policy_classify(S("/p/"), S("/p/heap"), PPROF_METHOD_GET, S(""),
                          &heap);

    assert_int_equal(pprof_policy_params(&sym, S(""), PPROF_METHOD_POST, 20,
                                         30, &params), PPROF_OK);
    assert_int_equal(pprof_policy_params(&sym, S(""), PPROF_METHOD_POST,
                                         PPROF_SYMBOL_BODY_MAX, 30, &params),
                     PPROF_OK);
    assert_int_equal(pprof_policy_params(&sym, S(""), PPROF_METHOD_POST,
                                         PPROF_SYMBOL_BODY_MAX + 1, 30,
                                         &params), PPROF_BAD_PARAMETER);
    assert_int_equal(pprof_policy_params(&sym, S(""), PPROF_METHOD_POST, -1,
                                         30, &params), PPROF_BAD_PARAMETER);
    assert_int_equal(pprof_policy_params(&heap, S(""), PPROF_METHOD_GET, 5,
                                         30, &params), PPROF_BAD_PARAMETER);
    assert_int_equal(pprof_policy_params(&heap, S(""), PPROF_METHOD_GET, -1,
                                         30, &params), PPROF_BAD_PARAMETER);
}


static void
too_many_pairs(void **state)
{
    char              args[64 * 4 + 8];
    size_t            i;
    pprof_params_t    params;
    pprof_endpoint_t  ep;

    (void) state;

    args[0] = '\0';
    for (i = 0; i < 65; i++) {
        strcat(args, "a=1&");
    }

    pprof_policy_classify(S("/p/"), S("/p/heap"), PPROF_METHOD_GET, S(""),
                          &ep);
    assert_int_equal(pprof_policy_params(&ep, S(args), PPROF_METHOD_GET, 0,
                                         30, &params), PPROF_BAD_PARAMETER);
    assert_string_equal(params.detail, "at most 64 query parameters");
}


/*
 * A refusal names the parameter and what it may be, with the location's
 * own maximum; nothing the client sent comes back in it.
 */
typedef struct {
    const char  *endpoint;
    const char  *args;
    long long    body_len;
    unsigned     max;
    const char  *detail;
} detail_case_t;


static void
details(void **state)
{
    static const detail_case_t  cases[] = {
        { "profile", "seconds=61", 0, 60, "seconds must be 1..60" },
        { "profile", "seconds=0", 0, 45, "seconds must be 1..45" },
        { "profile", "seconds=SECRETMARK", 0, 60, "seconds must be 1..60" },
        { "profile", "seconds=5&seconds=6", 0, 60,
          "seconds is given twice with different values" },
        { "heap", "seconds=1.5", 0, 20, "seconds must be 1..20" },
        { "trace", "seconds=9.5", 0, 9, "seconds must be 0.000001..9" },
        { "trace", "seconds=SECRETMARK", 0, 9, "seconds must be 0.000001..9" },
        { "heap", "debug=3", 0, 30, "debug must be 0, 1 or 2" },
        { "goroutine", "debug=SECRETMARK", 0, 30, "debug must be 0, 1 or 2" },
        { "heap", "debug=1&debug=2", 0, 30,
          "debug is given twice with different values" },
        { "heap", "gc=2", 0, 30, "gc must be 0 or 1" },
        { "heap", "gc=1&gc=0", 0, 30,
          "gc is given twice with different values" },
        { "heap", "seconds=10&debug=1", 0, 30,
          "seconds cannot be combined with debug=1 or 2" },
        { "heap", "SECRETMARK=%zz", 0, 30,
          "the query has a malformed %-escape" },
        { "heap", "", 5, 30, "this request takes no body" },
        { "profile", "seconds=5", 0, 60, "" },
    };

    size_t            i;
    char              uri[128];
    pprof_params_t    params;
    pprof_endpoint_t  ep;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(uri, sizeof(uri), "/p/%s", cases[i].endpoint);
        pprof_policy_classify(S("/p/"), S(uri), PPROF_METHOD_GET,
                              S(cases[i].args), &ep);

        memset(params.detail, 'x', sizeof(params.detail));
        (void) pprof_policy_params(&ep, S(cases[i].args), PPROF_METHOD_GET,
                                   cases[i].body_len, cases[i].max, &params);

        assert_string_equal(params.detail, cases[i].detail);
        assert_null(strstr(params.detail, "SECRETMARK"));
    }

    pprof_policy_classify(S("/p/"), S("/p/symbol"), PPROF_METHOD_POST, S(""),
                          &ep);
    assert_int_equal(pprof_policy_params(&ep, S(""), PPROF_METHOD_POST, -1,
                                         30, &params), PPROF_BAD_PARAMETER);
    assert_string_equal(params.detail, "a symbol body must have a "
                        "Content-Length of at most 65536 bytes");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(table),
        cmocka_unit_test(default_follows_max),
        cmocka_unit_test(bodies),
        cmocka_unit_test(too_many_pairs),
        cmocka_unit_test(details),
    };

    return cmocka_run_group_tests_name("params", tests, NULL, NULL);
}
