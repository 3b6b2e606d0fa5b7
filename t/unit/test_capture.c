/* Stages 7-9: rate, slot and budget arithmetic, and the metrics page. */

#include <limits.h>
#include <stdio.h>

#include "unit.h"
#include "proxy/proxy.h"


static void
rate_parse(void **state)
{
    pprof_rate_t  r;
    const char   *err;

    (void) state;

    assert_int_equal(pprof_rate_parse(S("4r/m"), S("burst=2"), &r, &err), 0);
    assert_int_equal(r.rate, 66);
    assert_int_equal(r.burst, 2);
    assert_int_equal(pprof_rate_parse(S("10r/s"), S(""), &r, &err), 0);
    assert_int_equal(r.rate, 10000);
    assert_int_equal(r.burst, 0);

    assert_int_equal(pprof_rate_parse(S("0r/s"), S(""), &r, &err), -1);
    assert_int_equal(pprof_rate_parse(S("r/s"), S(""), &r, &err), -1);
    assert_int_equal(pprof_rate_parse(S("4r/h"), S(""), &r, &err), -1);
    assert_int_equal(pprof_rate_parse(S("4/m"), S(""), &r, &err), -1);
    assert_int_equal(pprof_rate_parse(S("-4r/m"), S(""), &r, &err), -1);
    assert_int_equal(pprof_rate_parse(S("99999999999r/s"), S(""), &r, &err),
                     -1);
    assert_int_equal(pprof_rate_parse(S("4r/m"), S("burst="), &r, &err), -1);
    assert_int_equal(pprof_rate_parse(S("4r/m"), S("burst=x"), &r, &err), -1);
    assert_int_equal(pprof_rate_parse(S("4r/m"), S("bursts=2"), &r, &err), -1);
    assert_int_equal(pprof_rate_parse(S("4r/m"), S("2"), &r, &err), -1);
    /* Shorter than "burst=": nothing is read past it. */
    assert_int_equal(pprof_rate_parse(S("4r/m"), SN("burst=9", 5), &r, &err),
                     -1);
    assert_non_null(err);
}


static void
rate_bucket(void **state)
{
    pprof_rate_state_t  st = { 0, 0 };
    pprof_rate_t        rate = { 6 * 1000 / 60, 2 };     /* 6r/m burst=2 */
    uint64_t            retry = 0, t = 1000000;

    (void) state;

    /* The first request is free, then a burst of two more. */
    assert_int_equal(pprof_rate_take(&st, &rate, t, &retry), PPROF_OK);
    assert_int_equal(pprof_rate_take(&st, &rate, t, &retry), PPROF_OK);
    assert_int_equal(pprof_rate_take(&st, &rate, t, &retry), PPROF_OK);
    assert_int_equal(pprof_rate_take(&st, &rate, t, &retry),
                     PPROF_RATE_LIMITED);
    assert_int_equal(retry, 10);

    /* A refusal costs nothing; ten seconds drain one request. */
    assert_int_equal(pprof_rate_take(&st, &rate, t + 9000, &retry),
                     PPROF_RATE_LIMITED);
    assert_int_equal(retry, 1);
    assert_int_equal(pprof_rate_take(&st, &rate, t + 10000, &retry),
                     PPROF_OK);
    assert_int_equal(pprof_rate_take(&st, &rate, t + 10000, &retry),
                     PPROF_RATE_LIMITED);

    /* Idle only once the last request has drained as well. */
    assert_false(pprof_rate_idle(&st, &rate, t + 20000));
    assert_true(pprof_rate_idle(&st, &rate, t + 40000));

    /* A clock that goes back does not refund anything. */
    assert_int_equal(pprof_rate_take(&st, &rate, t - 5000, &retry),
                     PPROF_RATE_LIMITED);

    /* Without a burst, one request per period after the first (limit_req). */
    {
        pprof_rate_state_t  st0 = { 0, 0 };
        pprof_rate_t        two = { 2 * 1000 / 60, 0 };    /* 2r/m */

        assert_int_equal(pprof_rate_take(&st0, &two, t, &retry), PPROF_OK);
        assert_int_equal(pprof_rate_take(&st0, &two, t + 1000, &retry),
                         PPROF_RATE_LIMITED);
        assert_int_equal(pprof_rate_take(&st0, &two, t + 31000, &retry),
                         PPROF_OK);
        assert_int_equal(pprof_rate_take(&st0, &two, t + 31000 + 36000,
                                         &retry), PPROF_OK);
    }

    /* Off is unlimited; a long idle bucket does not overflow. */
    rate.rate = 0;
    assert_int_equal(pprof_rate_take(&st, &rate, t, &retry), PPROF_OK);
    rate.rate = 1000000000;
    assert_int_equal(pprof_rate_take(&st, &rate, UINT64_MAX / 2, &retry),
                     PPROF_OK);
}


static void
slots(void **state)
{
    pprof_lease_t  s[2];
    uint64_t       retry = 0, t = 5000000;

    (void) state;

    memset(s, 0, sizeof(s));

    assert_int_equal(pprof_slots_acquire(s, 2, t, 30000, 11, &retry),
                     PPROF_OK);
    assert_int_equal(pprof_slots_acquire(s, 2, t + 2000, 10000, 12, &retry),
                     PPROF_OK);
    assert_int_equal(pprof_slots_live(s, 2), 2);

    /* Busy until the earliest capture ends: 12's, at t + 12 s. */
    assert_int_equal(pprof_slots_acquire(s, 2, t + 3000, 5000, 13, &retry),
                     PPROF_CAPTURE_BUSY);
    assert_int_equal(retry, 9);

    /* Release frees exactly the lease named; an unknown one nothing. */
    assert_false(pprof_slots_release(s, 2, 99));
    assert_false(pprof_slots_release(s, 2, 0));
    assert_true(pprof_slots_release(s, 2, 12));
    assert_false(pprof_slots_release(s, 2, 12));
    assert_int_equal(pprof_slots_live(s, 2), 1);

    /* A dead worker's lease expires after the capture plus the margin. */
    assert_int_equal(pprof_slots_expire(s, 2, t + 30000 + PPROF_LEASE_MARGIN
                                              - 1), 0);
    assert_int_equal(pprof_slots_expire(s, 2, t + 30000 + PPROF_LEASE_MARGIN),
                     1);
    assert_int_equal(pprof_slots_live(s, 2), 0);

    /* Past its end but within the margin, a capture still reads busy: 1s. */
    assert_int_equal(pprof_slots_acquire(s, 1, t, 1000, 21, &retry), PPROF_OK);
    assert_int_equal(pprof_slots_acquire(s, 1, t + 5000, 1000, 22, &retry),
                     PPROF_CAPTURE_BUSY);
    assert_int_equal(retry, 1);

    assert_int_equal(pprof_slots_acquire(s, 1, t, 1000, 0, &retry),
                     PPROF_INTERNAL_ERROR);

    /*
     * A worker whose cached clock lags the one that granted a 2 s capture
     * is told 2 s, not 3: the wait is never longer than the capture.
     */
    memset(s, 0, sizeof(s));
    assert_int_equal(pprof_slots_acquire(s, 1, t, 2000, 31, &retry), PPROF_OK);
    assert_int_equal(pprof_slots_acquire(s, 1, t - 40, 2000, 32, &retry),
                     PPROF_CAPTURE_BUSY);
    assert_int_equal(retry, 2);
}


/*
 * A proxy's check: nothing releases the lease, so it is held for the
 * capture plus the margin, and a busy answer waits for all of it.
 */
static void
leases(void **state)
{
    pprof_lease_t  s[2];
    uint64_t       retry = 0, t = 5000000;

    (void) state;

    memset(s, 0, sizeof(s));

    assert_int_equal(pprof_slots_lease(s, 1, t, 2000, 41, &retry), PPROF_OK);
    assert_int_equal(pprof_slots_lease(s, 1, t + 500, 1000, 42, &retry),
                     PPROF_CAPTURE_BUSY);
    assert_int_equal(retry, (2000 + PPROF_LEASE_MARGIN - 500 + 999) / 1000);

    /* Still busy past the capture's end, within the margin. */
    assert_int_equal(pprof_slots_lease(s, 1, t + 10000, 1000, 43, &retry),
                     PPROF_CAPTURE_BUSY);
    assert_int_equal(retry, (2000 + PPROF_LEASE_MARGIN - 10000) / 1000);

    /* Free when the lease expires, not before. */
    assert_int_equal(pprof_slots_expire(s, 1, t + 2000 + PPROF_LEASE_MARGIN
                                              - 1), 0);
    assert_int_equal(pprof_slots_expire(s, 1, t + 2000 + PPROF_LEASE_MARGIN),
                     1);

    /* The earliest of two leases decides the wait. */
    assert_int_equal(pprof_slots_lease(s, 2, t, 5000, 44, &retry), PPROF_OK);
    assert_int_equal(pprof_slots_lease(s, 2, t, 1000, 45, &retry), PPROF_OK);
    assert_int_equal(pprof_slots_lease(s, 2, t, 1000, 46, &retry),
                     PPROF_CAPTURE_BUSY);
    assert_int_equal(retry, (1000 + PPROF_LEASE_MARGIN) / 1000);

    assert_int_equal(pprof_slots_lease(s, 1, t, 1000, 0, &retry),
                     PPROF_INTERNAL_ERROR);
}


/*
 * A capture given up before its response was complete holds its slot for
 * the target to stop, then frees it; never longer than it would have.
 */
static void
settle(void **state)
{
    pprof_lease_t  s[2];
    uint64_t       retry = 0, t = 5000000;

    (void) state;

    memset(s, 0, sizeof(s));

    assert_int_equal(pprof_slots_acquire(s, 1, t, 5000, 51, &retry), PPROF_OK);
    assert_false(pprof_slots_settle(s, 1, 99, t + 500));
    assert_false(pprof_slots_settle(s, 1, 0, t + 500));
    assert_true(pprof_slots_settle(s, 1, 51, t + 500));

    /* Taken, and told to come back when the target has settled. */
    assert_int_equal(pprof_slots_acquire(s, 1, t + 500, 1000, 52, &retry),
                     PPROF_CAPTURE_BUSY);
    assert_int_equal(retry, 1);

    assert_int_equal(pprof_slots_expire(s, 1, t + 500 + PPROF_CAPTURE_SETTLE
                                              - 1), 0);
    assert_int_equal(pprof_slots_expire(s, 1, t + 500 + PPROF_CAPTURE_SETTLE),
                     1);
    assert_int_equal(pprof_slots_acquire(s, 1, t + 1500, 1000, 53, &retry),
                     PPROF_OK);

    /* Settling after the capture's end never extends the lease. */
    memset(s, 0, sizeof(s));
    assert_int_equal(pprof_slots_acquire(s, 2, t, 1000, 54, &retry), PPROF_OK);
    assert_true(pprof_slots_settle(s, 2, 54,
                                   t + 1000 + PPROF_LEASE_MARGIN - 10));
    assert_int_equal(s[0].expires, t + 1000 + PPROF_LEASE_MARGIN);
    assert_int_equal(s[0].ends, t + 1000);
}


static void
budget(void **state)
{
    pprof_budget_state_t  st;
    pprof_budget_t        b = { 3000, 3600000 };        /* 3s per 1h */
    uint64_t              retry = 0, t = 7200000000ULL;

    (void) state;

    memset(&st, 0, sizeof(st));

    assert_int_equal(pprof_budget_take(&st, &b, t, 2000, &retry), PPROF_OK);
    assert_int_equal(pprof_budget_take(&st, &b, t + 1000, 2000, &retry),
                     PPROF_BUDGET_EXHAUSTED);
    assert_true(retry > 3500 && retry <= 3600);
    assert_int_equal(pprof_budget_take(&st, &b, t + 2000, 1000, &retry),
                     PPROF_OK);
    assert_int_equal(pprof_budget_take(&st, &b, t + 3000, 1, &retry),
                     PPROF_BUDGET_EXHAUSTED);

    /* The window slides: an hour later the seconds are back. */
    assert_int_equal(pprof_budget_take(&st, &b, t + 3600000 + 60000, 3000,
                                       &retry), PPROF_OK);

    /* Longer than the whole budget: never, so wait the whole window. */
    assert_int_equal(pprof_budget_take(&st, &b, t, 4000, &retry),
                     PPROF_BUDGET_EXHAUSTED);
    assert_int_equal(retry, 3600);

    b.limit = 0;
    assert_int_equal(pprof_budget_take(&st, &b, t, 999999, &retry), PPROF_OK);
}


static void
metrics(void **state)
{
    static pprof_metrics_t  m;
    char                    buf[PPROF_METRICS_MAX];
    size_t                  n;

    (void) state;

    memset(&m, 0, sizeof(m));
    m.requests[PPROF_CLASS_CAPTURE][1][PPROF_CAPTURE_BUSY] = 5;
    m.requests[PPROF_CLASS_COUNT][1][PPROF_UNKNOWN_ENDPOINT] = 2;
    m.captures_in_flight = 1;
    m.capture_ms_total = 12500;
    m.zone_used_bytes = 4096;

    n = pprof_metrics_render(buf, sizeof(buf), &m);
    assert_true(n > 0 && n < sizeof(buf));
    assert_non_null(strstr(buf, "pprof_requests_total{class=\"capture\","
                                "decision=\"deny\",reason=\"capture_busy\"} 5\n"));
    assert_non_null(strstr(buf, "pprof_requests_total{class=\"\","
                                "decision=\"deny\","
                                "reason=\"unknown_endpoint\"} 2\n"));
    assert_null(strstr(buf, "reason=\"ok\""));
    assert_non_null(strstr(buf, "\npprof_captures_in_flight 1\n"));
    assert_non_null(strstr(buf, "\npprof_capture_seconds_total 12.500\n"));
    assert_non_null(strstr(buf, "\npprof_zone_used_bytes 4096\n"));
    assert_non_null(strstr(buf, "# TYPE pprof_requests_total counter\n"));

    /* Every class, decision and reason at once still fits. */
    memset(&m, 0xff, sizeof(m));
    assert_true(pprof_metrics_render(buf, sizeof(buf), &m) > 0);

    assert_int_equal(pprof_metrics_render(buf, 100, &m), 0);
}


/* pprof_shared_state's series: there at 0, the histogram cumulative. */
static void
shared_metrics(void **state)
{
    static pprof_metrics_t  m;
    char                    buf[PPROF_METRICS_MAX];

    (void) state;

    memset(&m, 0, sizeof(m));
    assert_true(pprof_metrics_render(buf, sizeof(buf), &m) > 0);
    assert_null(strstr(buf, "pprof_shared_state"));

    m.shared = 1;
    assert_true(pprof_metrics_render(buf, sizeof(buf), &m) > 0);
    assert_non_null(strstr(buf,
        "\npprof_shared_state_errors_total{kind=\"timeout\"} 0\n"
        "pprof_shared_state_errors_total{kind=\"connect\"} 0\n"
        "pprof_shared_state_errors_total{kind=\"protocol\"} 0\n"
        "pprof_shared_state_errors_total{kind=\"auth\"} 0\n"));
    assert_non_null(strstr(buf,
        "\npprof_shared_state_latency_seconds_bucket{le=\"+Inf\"} 0\n"
        "pprof_shared_state_latency_seconds_sum 0.000000\n"
        "pprof_shared_state_latency_seconds_count 0\n"));
    assert_non_null(strstr(buf,
        "# TYPE pprof_shared_state_latency_seconds histogram\n"));

    /* 1 ms is in le=0.001; 1.001 ms is not; past 1 s only +Inf */
    assert_int_equal(pprof_metrics_bucket(0), 0);
    assert_int_equal(pprof_metrics_bucket(1000), 0);
    assert_int_equal(pprof_metrics_bucket(1001), 1);
    assert_int_equal(pprof_metrics_bucket(250000), 5);
    assert_int_equal(pprof_metrics_bucket(1000000), 7);
    assert_int_equal(pprof_metrics_bucket(1000001), 8);

    m.shared_errors[PPROF_SHARED_AUTH] = 3;
    m.shared_latency[pprof_metrics_bucket(800)]++;
    m.shared_latency[pprof_metrics_bucket(30000)]++;
    m.shared_latency[pprof_metrics_bucket(2000000)]++;
    m.shared_latency_us = 800 + 30000 + 2000000;

    assert_true(pprof_metrics_render(buf, sizeof(buf), &m) > 0);
    assert_non_null(strstr(buf,
        "pprof_shared_state_errors_total{kind=\"auth\"} 3\n"));
    assert_non_null(strstr(buf,
        "pprof_shared_state_latency_seconds_bucket{le=\"0.001\"} 1\n"
        "pprof_shared_state_latency_seconds_bucket{le=\"0.005\"} 1\n"
        "pprof_shared_state_latency_seconds_bucket{le=\"0.01\"} 1\n"
        "pprof_shared_state_latency_seconds_bucket{le=\"0.05\"} 2\n"));
    assert_non_null(strstr(buf,
        "pprof_shared_state_latency_seconds_bucket{le=\"1\"} 2\n"
        "pprof_shared_state_latency_seconds_bucket{le=\"+Inf\"} 3\n"
        "pprof_shared_state_latency_seconds_sum 2.030800\n"
        "pprof_shared_state_latency_seconds_count 3\n"));
}


/*
 * One target's windows of two lengths: a capture granted through one is
 * counted in the other, and each forgets it once it has left.
 */
static void
budget_windows(void **state)
{
    uint64_t              t, retry;
    pprof_budget_t        hour = { 60000, 3600000 };      /* 60 s per 1h */
    pprof_budget_t        ten = { 30000, 600000 };        /* 30 s per 10m */
    pprof_budget_state_t  h, m;

    (void) state;

    memset(&h, 0, sizeof(h));
    memset(&m, 0, sizeof(m));
    t = 1000000000;

    assert_true(pprof_budget_idle(&h, hour.window, t));
    assert_true(pprof_budget_idle(&m, ten.window, t));

    /* 25 s granted by the hour's location, counted in the 10 minutes. */
    assert_int_equal(pprof_budget_take(&h, &hour, t, 25000, &retry),
                     PPROF_OK);
    pprof_budget_charge(&m, ten.window, t, 25000);
    assert_false(pprof_budget_idle(&h, hour.window, t));
    assert_false(pprof_budget_idle(&m, ten.window, t));

    /* So the 10 minutes' location has 5 s left, not 30. */
    retry = 0;
    assert_int_equal(pprof_budget_take(&m, &ten, t + 1000, 10000, &retry),
                     PPROF_BUDGET_EXHAUSTED);
    assert_true(retry >= 590 && retry <= 600);
    assert_int_equal(pprof_budget_take(&m, &ten, t + 1000, 5000, &retry),
                     PPROF_OK);

    /* Charging never refuses, even past any limit. */
    pprof_budget_charge(&h, hour.window, t + 1000, 5000000);
    assert_int_equal(pprof_budget_take(&h, &hour, t + 2000, 1000, &retry),
                     PPROF_BUDGET_EXHAUSTED);

    /* Out of the short window, still in the long one. */
    assert_true(pprof_budget_idle(&m, ten.window, t + 602000));
    assert_false(pprof_budget_idle(&h, hour.window, t + 602000));
    assert_true(pprof_budget_idle(&h, hour.window, t + 3602000));
}


/* A target's name: present, and no longer than an operator would write. */
static void
target(void **state)
{
    static unsigned char  name[PPROF_TARGET_MAX + 2];
    pprof_str_t           s;

    (void) state;

    memset(name, 'a', sizeof(name));
    s.data = name;

    s.len = 0;
    assert_int_equal(pprof_policy_target(s), PPROF_FORBIDDEN);
    s.data = NULL;
    assert_int_equal(pprof_policy_target(s), PPROF_FORBIDDEN);
    s.data = name;

    s.len = 1;
    assert_int_equal(pprof_policy_target(s), PPROF_OK);
    s.len = PPROF_TARGET_MAX;
    assert_int_equal(pprof_policy_target(s), PPROF_OK);
    s.len = PPROF_TARGET_MAX + 1;
    assert_int_equal(pprof_policy_target(s), PPROF_FORBIDDEN);
    s.len = (size_t) -1;
    assert_int_equal(pprof_policy_target(s), PPROF_FORBIDDEN);

    /* Any bytes: the name is a key, never parsed. */
    assert_int_equal(pprof_policy_target(S("{svc}%00\x01 \"a\"")),
                     PPROF_OK);
    s.data = (const unsigned char *) "a\0b";
    s.len = 3;
    assert_int_equal(pprof_policy_target(s), PPROF_OK);
}


/* What nginx -t gives a location's proxy_read_timeout. */
static void
read_timeout(void **state)
{
    (void) state;

    assert_int_equal(pprof_capture_read_timeout(60), 70000);
    assert_int_equal(pprof_capture_read_timeout(1), 11000);
    assert_int_equal(pprof_capture_read_timeout(0),
                     PPROF_CAPTURE_READ_MARGIN * 1000);

    /* no wrap at the largest count a directive could hold */
    assert_true(pprof_capture_read_timeout(UINT_MAX)
                == ((uint64_t) UINT_MAX + PPROF_CAPTURE_READ_MARGIN) * 1000);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(rate_parse),
        cmocka_unit_test(rate_bucket),
        cmocka_unit_test(slots),
        cmocka_unit_test(leases),
        cmocka_unit_test(settle),
        cmocka_unit_test(budget),
        cmocka_unit_test(budget_windows),
        cmocka_unit_test(target),
        cmocka_unit_test(metrics),
        cmocka_unit_test(shared_metrics),
        cmocka_unit_test(read_timeout),
    };

    return cmocka_run_group_tests_name("capture", tests, NULL, NULL);
}
