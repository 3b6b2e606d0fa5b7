/*
 * Go's "already in use" answer to a capture, told from every other 500:
 * only the exact line, with X-Go-Pprof: 1, on profile or trace.
 */

#include <stdlib.h>

#include "unit.h"
#include "proxy/proxy.h"


#define CPU    "Could not enable CPU profiling: cpu profiling already in use"
#define TRACE  "Could not enable tracing: runtime error: tracing is " \
               "already enabled"


static pprof_endpoint_t
ep(pprof_ep_kind_t kind, pprof_class_t cls, const char *name)
{
    pprof_endpoint_t  e;

    e.name = S(name);
    e.kind = kind;
    e.cls = cls;

    return e;
}


static const pprof_str_t  one = { (const unsigned char *) "1", 1 };


static void
go_answers(void **state)
{
    pprof_endpoint_t  profile, trace, heap;

    (void) state;

    profile = ep(PPROF_EP_PROFILE, PPROF_CLASS_CAPTURE, "profile");
    trace = ep(PPROF_EP_TRACE, PPROF_CLASS_CAPTURE, "trace");
    heap = ep(PPROF_EP_HEAP, PPROF_CLASS_SNAPSHOT, "heap");

    /* As Go 1.19 sends them: serveError's Fprintln adds the newline. */
    assert_true(pprof_busy_answer(&profile, 500, one, S(CPU "\n")));
    assert_true(pprof_busy_answer(&trace, 500, one, S(TRACE "\n")));

    /* The line without its newline is still the line. */
    assert_true(pprof_busy_answer(&profile, 500, one, S(CPU)));
    assert_true(pprof_busy_answer(&trace, 500, one, S(TRACE)));

    /* Each endpoint has its own: the other's line is not its answer. */
    assert_false(pprof_busy_answer(&profile, 500, one, S(TRACE "\n")));
    assert_false(pprof_busy_answer(&trace, 500, one, S(CPU "\n")));

    /* Held at the header only with a length that could hold it. */
    assert_int_equal(pprof_busy_candidate(&profile, 500, one, sizeof(CPU), 0),
                     PPROF_BUSY_HOLD);
    assert_int_equal(pprof_busy_candidate(&trace, 500, one, 1, 0),
                     PPROF_BUSY_HOLD);
    assert_int_equal(pprof_busy_candidate(&trace, 500, one,
                                          PPROF_BUSY_BODY_MAX, 0),
                     PPROF_BUSY_HOLD);

    /* A HEAD's header is the answer: there is no body to wait for. */
    assert_int_equal(pprof_busy_candidate(&profile, 500, one, 61, 1),
                     PPROF_BUSY_NOW);
    assert_int_equal(pprof_busy_candidate(&trace, 500, one, 68, 1),
                     PPROF_BUSY_NOW);
    assert_int_equal(pprof_busy_candidate(&profile, 500, S(""), 61, 1),
                     PPROF_BUSY_PASS);
    assert_int_equal(pprof_busy_candidate(&profile, 200, one, 61, 1),
                     PPROF_BUSY_PASS);
    assert_int_equal(pprof_busy_candidate(&profile, 500, one, -1, 1),
                     PPROF_BUSY_PASS);
    assert_int_equal(pprof_busy_candidate(&heap, 500, one, 61, 1),
                     PPROF_BUSY_PASS);
}


static void
other_answers(void **state)
{
    pprof_endpoint_t  profile, heap_delta, heap, custom, unknown, symbol;

    (void) state;

    profile = ep(PPROF_EP_PROFILE, PPROF_CLASS_CAPTURE, "profile");
    heap_delta = ep(PPROF_EP_HEAP, PPROF_CLASS_CAPTURE, "heap");
    heap = ep(PPROF_EP_HEAP, PPROF_CLASS_SNAPSHOT, "heap");
    custom = ep(PPROF_EP_SNAPSHOT, PPROF_CLASS_CAPTURE, "block");
    unknown = ep(PPROF_EP_PROFILE, PPROF_CLASS_COUNT, "");
    symbol = ep(PPROF_EP_SYMBOL, PPROF_CLASS_SYMBOL, "symbol");

    /* Another status, or no X-Go-Pprof, or another value of it. */
    assert_false(pprof_busy_answer(&profile, 200, one, S(CPU "\n")));
    assert_false(pprof_busy_answer(&profile, 503, one, S(CPU "\n")));
    assert_false(pprof_busy_answer(&profile, 429, one, S(CPU "\n")));
    assert_false(pprof_busy_answer(&profile, 500, S(""), S(CPU "\n")));
    assert_false(pprof_busy_answer(&profile, 500, S("0"), S(CPU "\n")));
    assert_false(pprof_busy_answer(&profile, 500, S("11"), S(CPU "\n")));
    assert_false(pprof_busy_answer(&profile, 500, S("1 "), S(CPU "\n")));
    assert_false(pprof_busy_candidate(&profile, 500, S(""), 61, 0));
    assert_false(pprof_busy_candidate(&profile, 502, one, 61, 0));

    /*
     * Not a CPU profile or a trace: a delta profile is a capture, but Go
     * refuses none with this line (it fails "failed to collect profile").
     */
    assert_false(pprof_busy_answer(&heap_delta, 500, one, S(CPU "\n")));
    assert_false(pprof_busy_answer(&heap, 500, one, S(CPU "\n")));
    assert_false(pprof_busy_answer(&custom, 500, one, S(TRACE "\n")));
    assert_false(pprof_busy_answer(&unknown, 500, one, S(CPU "\n")));
    assert_false(pprof_busy_answer(&symbol, 500, one, S(CPU "\n")));
    assert_false(pprof_busy_candidate(&heap_delta, 500, one, 61, 0));
    assert_false(pprof_busy_candidate(&heap, 500, one, 61, 0));

    /* Go's other 500s. */
    assert_false(pprof_busy_answer(&profile, 500, one,
                                   S("failed to collect profile\n")));
    assert_false(pprof_busy_answer(&profile, 500, one,
                                   S("Could not enable CPU profiling: "
                                     "something else\n")));
    assert_false(pprof_busy_answer(&profile, 500, one, S("")));
    assert_false(pprof_busy_answer(&profile, 500, one, SN(NULL, 0)));
}


static void
hostile_bodies(void **state)
{
    static const char  cpu[] = CPU "\n";

    pprof_endpoint_t  profile;
    char              buf[2 * PPROF_BUSY_BODY_MAX];
    size_t            n, i;

    (void) state;

    profile = ep(PPROF_EP_PROFILE, PPROF_CLASS_CAPTURE, "profile");
    n = sizeof(cpu) - 1;

    /* Every partial prefix, the newline's absence aside, is not it. */
    for (i = 0; i < n - 1; i++) {
        if (pprof_busy_answer(&profile, 500, one, SN(cpu, i))) {
            fail_msg("prefix of %zu bytes taken", i);
        }
    }

    /* The line followed by anything at all. */
    assert_false(pprof_busy_answer(&profile, 500, one, S(CPU "\n\n")));
    assert_false(pprof_busy_answer(&profile, 500, one, S(CPU "\r\n")));
    assert_false(pprof_busy_answer(&profile, 500, one, S(CPU " ")));
    assert_false(pprof_busy_answer(&profile, 500, one,
                                   S(CPU "\n<script>alert(1)</script>")));
    assert_false(pprof_busy_answer(&profile, 500, one,
                                   SN(CPU "\n\0", n + 1)));
    assert_false(pprof_busy_answer(&profile, 500, one,
                                   SN(CPU "\0\n", n + 1)));

    /* A NUL byte inside, a byte changed, case changed, junk before. */
    memcpy(buf, cpu, n);
    buf[10] = '\0';
    assert_false(pprof_busy_answer(&profile, 500, one, SN(buf, n)));

    for (i = 0; i < n - 1; i++) {
        memcpy(buf, cpu, n);
        buf[i] ^= 0x20;
        if (pprof_busy_answer(&profile, 500, one, SN(buf, n))) {
            fail_msg("byte %zu changed, taken", i);
        }
    }

    assert_false(pprof_busy_answer(&profile, 500, one, S(" " CPU "\n")));
    assert_false(pprof_busy_answer(&profile, 500, one, S("\n" CPU "\n")));

    /* Bodies past the bound are never read, whatever they hold. */
    memset(buf, '\n', sizeof(buf));
    memcpy(buf, cpu, n);
    assert_false(pprof_busy_answer(&profile, 500, one,
                                   SN(buf, PPROF_BUSY_BODY_MAX + 1)));
    assert_false(pprof_busy_answer(&profile, 500, one, SN(cpu, SIZE_MAX)));
    assert_false(pprof_busy_answer(&profile, 500, one,
                                   SN(cpu, (size_t) -1 / 2)));

    /* Lengths that are no length: not held. */
    assert_false(pprof_busy_candidate(&profile, 500, one, -1, 0));
    assert_false(pprof_busy_candidate(&profile, 500, one, 0, 0));
    assert_false(pprof_busy_candidate(&profile, 500, one,
                                      PPROF_BUSY_BODY_MAX + 1, 0));
    assert_false(pprof_busy_candidate(&profile, 500, one, INT64_MAX, 0));
    assert_false(pprof_busy_candidate(&profile, 500, one, INT64_MIN, 0));
}


static uint64_t
busy_after(uint64_t capture_ms, const char *detail)
{
    pprof_decision_t  d;

    memset(&d, 0, sizeof(d));
    d.reason = PPROF_OK;
    d.capture_ms = capture_ms;
    d.retry_after = 99;

    pprof_busy_deny(&d);

    assert_int_equal(d.reason, PPROF_CAPTURE_BUSY);
    assert_string_equal(d.detail, detail);

    return d.retry_after;
}


static void
retry_after(void **state)
{
    (void) state;

    /* The capture's own length, rounded up; never 0. */
    assert_int_equal(busy_after(0, "the target refused it; retry after "
                                   "1 second"), 1);
    assert_int_equal(busy_after(1, "the target refused it; retry after "
                                   "1 second"), 1);
    assert_int_equal(busy_after(1000, "the target refused it; retry after "
                                      "1 second"), 1);
    assert_int_equal(busy_after(1001, "the target refused it; retry after "
                                      "2 seconds"), 2);
    assert_int_equal(busy_after(30000, "the target refused it; retry after "
                                       "30 seconds"), 30);
    assert_int_equal(busy_after(86400000, "the target refused it; retry "
                                          "after 86400 seconds"), 86400);
    assert_int_equal(busy_after(UINT64_MAX, "the target refused it; retry "
                                "after 18446744073709552 seconds"),
                     UINT64_MAX / 1000 + 1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(go_answers),
        cmocka_unit_test(other_answers),
        cmocka_unit_test(hostile_bodies),
        cmocka_unit_test(retry_after),
    };

    return cmocka_run_group_tests_name("busy", tests, NULL, NULL);
}
