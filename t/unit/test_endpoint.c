/* Stage 1 and 2: classification, methods, transport, permission words. */

#include "unit.h"


static pprof_reason_t
classify(const char *uri, pprof_method_t m, const char *args,
    pprof_endpoint_t *ep)
{
    return pprof_policy_classify(S("/debug/pprof/"), S(uri), m, S(args), ep);
}


static void
known_endpoints(void **state)
{
    static const struct {
        const char     *uri;
        pprof_class_t   cls;
        pprof_ep_kind_t kind;
    } cases[] = {
        { "/debug/pprof/", PPROF_CLASS_INDEX, PPROF_EP_INDEX },
        { "/debug/pprof/cmdline", PPROF_CLASS_CMDLINE, PPROF_EP_CMDLINE },
        { "/debug/pprof/symbol", PPROF_CLASS_SYMBOL, PPROF_EP_SYMBOL },
        { "/debug/pprof/profile", PPROF_CLASS_CAPTURE, PPROF_EP_PROFILE },
        { "/debug/pprof/trace", PPROF_CLASS_CAPTURE, PPROF_EP_TRACE },
        { "/debug/pprof/heap", PPROF_CLASS_SNAPSHOT, PPROF_EP_HEAP },
        { "/debug/pprof/allocs", PPROF_CLASS_SNAPSHOT, PPROF_EP_SNAPSHOT },
        { "/debug/pprof/goroutine", PPROF_CLASS_SNAPSHOT, PPROF_EP_SNAPSHOT },
        { "/debug/pprof/threadcreate", PPROF_CLASS_SNAPSHOT,
          PPROF_EP_SNAPSHOT },
        { "/debug/pprof/my_custom.v2-prof", PPROF_CLASS_SNAPSHOT,
          PPROF_EP_SNAPSHOT },
    };

    pprof_endpoint_t  ep;
    size_t            i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(classify(cases[i].uri, PPROF_METHOD_GET, "", &ep),
                         PPROF_OK);
        assert_int_equal(ep.cls, cases[i].cls);
        assert_int_equal(ep.kind, cases[i].kind);
        assert_int_equal(ep.name.len, strlen(cases[i].uri) - 13);
    }
}


static void
hostile_paths(void **state)
{
    static const char  *bad[] = {
        "/debug/pprof",                 /* prefix without its slash */
        "/debug/pprof/heap/",           /* trailing slash: a second segment */
        "/debug/pprof//heap",           /* merge_slashes off */
        "/debug/pprof/heap/../cmdline",
        "/debug/pprof/..",
        "/debug/pprof/.",
        "/debug/pprof/.hidden",
        "/debug/pprof/a\\b",
        "/debug/pprof/heap;x=1",
        "/debug/pprof/heap%00",
        "/debug/pprof/CMDLINE",         /* look-alikes of Go's names */
        "/debug/pprof/Profile",
        "/debug/pprof/hEAP",
        "/DEBUG/PPROF/heap",
        "/other/heap",
        "",
        "/debug/pprof/h e",
    };

    pprof_endpoint_t  ep;
    size_t            i;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(classify(bad[i], PPROF_METHOD_GET, "", &ep),
                         PPROF_UNKNOWN_ENDPOINT);
        /* Nothing of a refused path is reported as the endpoint. */
        assert_int_equal(ep.name.len, 0);
        assert_string_equal(pprof_class_name(ep.cls), "");
    }

    /* A NUL byte inside the name, and a name longer than the limit. */
    assert_int_equal(pprof_policy_classify(S("/debug/pprof/"),
                         SN("/debug/pprof/he\0ap", 18), PPROF_METHOD_GET,
                         S(""), &ep),
                     PPROF_UNKNOWN_ENDPOINT);

    {
        char  longname[13 + PPROF_ENDPOINT_NAME_MAX + 2];

        memcpy(longname, "/debug/pprof/", 13);
        memset(longname + 13, 'a', PPROF_ENDPOINT_NAME_MAX + 1);
        longname[sizeof(longname) - 1] = '\0';
        assert_int_equal(classify(longname, PPROF_METHOD_GET, "", &ep),
                         PPROF_UNKNOWN_ENDPOINT);

        longname[sizeof(longname) - 2] = '\0';
        assert_int_equal(classify(longname, PPROF_METHOD_GET, "", &ep),
                         PPROF_OK);
    }
}


static void
methods(void **state)
{
    pprof_endpoint_t  ep;

    (void) state;

    assert_int_equal(classify("/debug/pprof/heap", PPROF_METHOD_HEAD, "", &ep),
                     PPROF_OK);
    assert_int_equal(classify("/debug/pprof/symbol", PPROF_METHOD_POST, "",
                              &ep), PPROF_OK);
    assert_int_equal(classify("/debug/pprof/heap", PPROF_METHOD_POST, "", &ep),
                     PPROF_METHOD_NOT_ALLOWED);
    assert_int_equal(classify("/debug/pprof/", PPROF_METHOD_POST, "", &ep),
                     PPROF_METHOD_NOT_ALLOWED);
    assert_int_equal(classify("/debug/pprof/symbol", PPROF_METHOD_OTHER, "",
                              &ep), PPROF_METHOD_NOT_ALLOWED);
    assert_string_equal(pprof_endpoint_allow(&ep), "GET, HEAD, POST");
    classify("/debug/pprof/heap", PPROF_METHOD_OTHER, "", &ep);
    assert_string_equal(pprof_endpoint_allow(&ep), "GET, HEAD");

    /* An unknown endpoint is 404 before its method is looked at. */
    assert_int_equal(classify("/debug/pprof/a/b", PPROF_METHOD_OTHER, "",
                              &ep), PPROF_UNKNOWN_ENDPOINT);
}


static void
delta_is_capture(void **state)
{
    pprof_endpoint_t  ep;

    (void) state;

    assert_int_equal(classify("/debug/pprof/heap", PPROF_METHOD_GET,
                              "seconds=5", &ep), PPROF_OK);
    assert_int_equal(ep.cls, PPROF_CLASS_CAPTURE);

    /* Encoded key, and a key hidden after a malformed pair. */
    classify("/debug/pprof/goroutine", PPROF_METHOD_GET, "%73econds=5", &ep);
    assert_int_equal(ep.cls, PPROF_CLASS_CAPTURE);
    classify("/debug/pprof/goroutine", PPROF_METHOD_GET, "%zz&seconds=1",
             &ep);
    assert_int_equal(ep.cls, PPROF_CLASS_CAPTURE);

    classify("/debug/pprof/goroutine", PPROF_METHOD_GET, "debug=2", &ep);
    assert_int_equal(ep.cls, PPROF_CLASS_SNAPSHOT);
    classify("/debug/pprof/cmdline", PPROF_METHOD_GET, "seconds=5", &ep);
    assert_int_equal(ep.cls, PPROF_CLASS_CMDLINE);
}


static void
transport(void **state)
{
    (void) state;

    assert_int_equal(pprof_policy_transport(PPROF_TLS_MODE_REQUIRED, 1,
                         PPROF_METHOD_GET), PPROF_TRANSPORT_PASS);
    assert_int_equal(pprof_policy_transport(PPROF_TLS_MODE_REQUIRED, 0,
                         PPROF_METHOD_GET), PPROF_TRANSPORT_DENY);
    assert_int_equal(pprof_policy_transport(PPROF_TLS_MODE_REDIRECT, 0,
                         PPROF_METHOD_HEAD), PPROF_TRANSPORT_REDIRECT);
    assert_int_equal(pprof_policy_transport(PPROF_TLS_MODE_REDIRECT, 0,
                         PPROF_METHOD_POST), PPROF_TRANSPORT_DENY);
    assert_int_equal(pprof_policy_transport(PPROF_TLS_MODE_OFF, 0,
                         PPROF_METHOD_POST), PPROF_TRANSPORT_PASS);
}


static void
permission_words(void **state)
{
    pprof_class_t  cls;

    (void) state;

    assert_int_equal(pprof_permission_parse(S("capture"), &cls), 1);
    assert_int_equal(cls, PPROF_CLASS_CAPTURE);
    assert_int_equal(pprof_permission_parse(S("cmdline"), &cls), 1);
    assert_int_equal(cls, PPROF_CLASS_CMDLINE);
    assert_int_equal(pprof_permission_parse(S("heap"), &cls), 0);
    assert_int_equal(pprof_permission_parse(S("profile"), &cls), 0);
    assert_int_equal(pprof_permission_parse(S("captures"), &cls), -1);
    assert_int_equal(pprof_permission_parse(S("Heap"), &cls), -1);
    assert_int_equal(pprof_permission_parse(S(""), &cls), -1);
    assert_int_equal(pprof_permission_parse(S("my_custom"), &cls), -1);
}


static void
reasons(void **state)
{
    pprof_reason_t  r;

    (void) state;

    assert_string_equal(pprof_reason_name(PPROF_UNKNOWN_ENDPOINT),
                        "unknown_endpoint");
    assert_int_equal(pprof_reason_status(PPROF_UNKNOWN_ENDPOINT), 404);
    assert_int_equal(pprof_reason_status(PPROF_METHOD_NOT_ALLOWED), 405);
    assert_int_equal(pprof_reason_status(PPROF_TLS_REQUIRED), 403);
    assert_int_equal(pprof_reason_status(PPROF_UNAUTHENTICATED), 401);
    assert_int_equal(pprof_reason_status(PPROF_INVALID_CREDENTIAL), 401);
    assert_int_equal(pprof_reason_status(PPROF_FORBIDDEN), 403);
    assert_int_equal(pprof_reason_status(PPROF_BAD_PARAMETER), 400);
    assert_int_equal(pprof_reason_status(PPROF_AUDIT_UNAVAILABLE), 503);
    assert_int_equal(pprof_reason_status(PPROF_SHARED_STATE_UNAVAILABLE), 503);

    /* Retry-After: every 429 and shared state's 503, no other denial. */
    for (r = PPROF_OK; r < PPROF_REASON_COUNT; r++) {
        assert_int_equal(pprof_reason_retries(r),
                         pprof_reason_status(r) == 429
                         || r == PPROF_SHARED_STATE_UNAVAILABLE);
    }
    assert_false(pprof_reason_retries((pprof_reason_t) 999));
    assert_string_equal(pprof_reason_name((pprof_reason_t) 999),
                        "internal_error");

    {
        pprof_reason_t  first = PPROF_OK;

        assert_false(pprof_policy_stop(&first, PPROF_OK, 1));
        assert_int_equal(first, PPROF_OK);
        /* A dry run keeps the first failure and goes on. */
        assert_false(pprof_policy_stop(&first, PPROF_FORBIDDEN, 0));
        assert_false(pprof_policy_stop(&first, PPROF_BAD_PARAMETER, 0));
        assert_int_equal(first, PPROF_FORBIDDEN);
        assert_true(pprof_policy_stop(&first, PPROF_INTERNAL_ERROR, 0));
        assert_int_equal(first, PPROF_FORBIDDEN);

        first = PPROF_OK;
        assert_true(pprof_policy_stop(&first, PPROF_TLS_REQUIRED, 1));
        assert_int_equal(first, PPROF_TLS_REQUIRED);
    }

    /* Stage 10: an unwritten record stops only what would go upstream. */
    assert_int_equal(pprof_policy_audited(PPROF_OK, 1, 0, 1),
                     PPROF_AUDIT_UNAVAILABLE);
    assert_int_equal(pprof_policy_audited(PPROF_OK, 1, 0, 0), PPROF_OK);
    assert_int_equal(pprof_policy_audited(PPROF_OK, 1, 1, 1), PPROF_OK);
    assert_int_equal(pprof_policy_audited(PPROF_FORBIDDEN, 1, 0, 1),
                     PPROF_FORBIDDEN);
    assert_int_equal(pprof_policy_audited(PPROF_FORBIDDEN, 0, 0, 1),
                     PPROF_AUDIT_UNAVAILABLE);
    assert_false(pprof_policy_forwards(PPROF_AUDIT_UNAVAILABLE, 0));

    assert_true(pprof_policy_forwards(PPROF_OK, 1));
    assert_false(pprof_policy_forwards(PPROF_FORBIDDEN, 1));
    assert_true(pprof_policy_forwards(PPROF_FORBIDDEN, 0));
    assert_false(pprof_policy_forwards(PPROF_INTERNAL_ERROR, 0));
}


static int
reaches(const char *location, int exact, const char *prefix)
{
    return pprof_location_reaches(S(location), exact, S(prefix));
}


/* nginx -t's question: can this location path see any endpoint? */
static void
location_reaches(void **state)
{
    (void) state;

    /* prefix locations: at or above the prefix, or one name below it */
    assert_true(reaches("/debug/pprof/", 0, "/debug/pprof/"));
    assert_true(reaches("/", 0, "/debug/pprof/"));
    assert_true(reaches("/debug/pp", 0, "/debug/pprof/"));
    assert_true(reaches("/debug/pprof", 0, "/debug/pprof/"));
    assert_true(reaches("/debug/pprof/heap", 0, "/debug/pprof/"));
    assert_true(reaches("/debug/pprof/prof", 0, "/debug/pprof/"));
    assert_true(reaches("/debug/pprof/my_custom.v2", 0, "/debug/pprof/"));
    assert_true(reaches("/gw/debug/pprof/", 0, "/gw/debug/pprof/"));

    assert_false(reaches("/pprof/", 0, "/debug/pprof/"));
    assert_false(reaches("/debug/pprof-old/", 0, "/debug/pprof/"));
    assert_false(reaches("/debug/pprof/heap/", 0, "/debug/pprof/"));
    assert_false(reaches("/debug/pprof/.hidden", 0, "/debug/pprof/"));
    assert_false(reaches("/debug/pprof/heap x", 0, "/debug/pprof/"));
    assert_false(reaches("/debug/pprof/", 0, "/gw/debug/pprof/"));
    assert_true(reaches("/debug/pprof/", 0, "/debug/pprof/v2/"));
    assert_true(reaches("/debug/pprof/v2", 0, "/debug/pprof/v2/"));

    /* exact locations: an endpoint's own path */
    assert_true(reaches("/debug/pprof/", 1, "/debug/pprof/"));
    assert_true(reaches("/debug/pprof/heap", 1, "/debug/pprof/"));
    assert_true(reaches("/debug/pprof/custom", 1, "/debug/pprof/"));
    assert_false(reaches("/debug/pprof", 1, "/debug/pprof/"));
    assert_false(reaches("/", 1, "/debug/pprof/"));
    assert_false(reaches("/debug/pprof/heap/", 1, "/debug/pprof/"));
    assert_false(reaches("/debug/pprof/CMDLINE", 1, "/debug/pprof/"));
    assert_false(reaches("/debug/pprof/..", 1, "/debug/pprof/"));
}


static int
under(const char *location, int exact, const char *prefix)
{
    return pprof_location_under_prefix(S(location), exact, S(prefix));
}


/* nginx -t's question for a location without the module that proxies. */
static void
location_under_prefix(void **state)
{
    (void) state;

    assert_true(under("/debug/pprof/", 0, "/debug/pprof/"));
    assert_true(under("/debug/pprof", 0, "/debug/pprof/"));
    assert_true(under("/debug/pprof/heap", 0, "/debug/pprof/"));
    assert_true(under("/debug/pprof/heap", 1, "/debug/pprof/"));
    assert_true(under("/debug/pprof/", 1, "/debug/pprof/"));
    assert_true(under("/gw/debug/pprof/", 0, "/gw/debug/pprof/"));

    /* the catch-all and other paths above the prefix stay silent */
    assert_false(under("/", 0, "/debug/pprof/"));
    assert_false(under("/debug/", 0, "/debug/pprof/"));
    assert_false(under("/debug/pp", 0, "/debug/pprof/"));
    assert_false(under("/", 1, "/debug/pprof/"));

    /* beside or below anything the module would answer */
    assert_false(under("/debug/pprof-old/", 0, "/debug/pprof/"));
    assert_false(under("/debug/pprofiler", 0, "/debug/pprof/"));
    assert_false(under("/debug/pprof/heap/", 0, "/debug/pprof/"));
    assert_false(under("/debug/pprof", 1, "/debug/pprof/"));
    assert_false(under("/debug/pprof/", 0, "/gw/debug/pprof/"));
    assert_false(under("/debug/pprof/", 0, ""));
}


static void
endpoint_examples(void **state)
{
    size_t       i;
    const char  *name;

    (void) state;

    assert_string_equal(pprof_endpoint_example(0), "");

    for (i = 1; (name = pprof_endpoint_example(i)) != NULL; i++) {
        assert_true(strlen(name) > 0);
        assert_true(i < 100);
    }

    /* the index, Go's eight profiles and lists, cmdline and symbol */
    assert_int_equal(i, 11);
    assert_string_equal(pprof_endpoint_example(3), "profile");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(known_endpoints),
        cmocka_unit_test(hostile_paths),
        cmocka_unit_test(methods),
        cmocka_unit_test(delta_is_capture),
        cmocka_unit_test(transport),
        cmocka_unit_test(permission_words),
        cmocka_unit_test(reasons),
        cmocka_unit_test(location_reaches),
        cmocka_unit_test(location_under_prefix),
        cmocka_unit_test(endpoint_examples),
    };

    return cmocka_run_group_tests_name("endpoint", tests, NULL, NULL);
}
