/*
 * The pprof_status page: what every worker counted, in the Prometheus text
 * exposition format.
 */

#include <stdarg.h>
#include <stdio.h>

#include "proxy.h"


typedef struct {
    char    *p;
    size_t   left;
    int      full;
} out_t;


static void
put(out_t *o, const char *fmt, ...)
{
    va_list  ap;
    int      n;

    if (o->full) {
        return;
    }

    va_start(ap, fmt);
    n = vsnprintf(o->p, o->left, fmt, ap);
    va_end(ap);

    if (n < 0 || (size_t) n >= o->left) {
        o->full = 1;
        return;
    }

    o->p += n;
    o->left -= (size_t) n;
}


static void
family(out_t *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}


/* A family of one series without labels. */
static void
single(out_t *o, const char *name, const char *type, const char *help,
    uint64_t value)
{
    family(o, name, type, help);
    put(o, "%s %llu\n", name, (unsigned long long) value);
}


static const char *const  shared_kinds[PPROF_SHARED_KINDS] = {
    "timeout", "connect", "protocol", "auth"
};

/* Upper bounds of the latency buckets but the last (+Inf), in us. */
static const struct {
    uint64_t     us;
    const char  *le;
} shared_buckets[PPROF_SHARED_BUCKETS - 1] = {
    { 1000, "0.001" }, { 5000, "0.005" }, { 10000, "0.01" },
    { 50000, "0.05" }, { 100000, "0.1" }, { 250000, "0.25" },
    { 500000, "0.5" }, { 1000000, "1" }
};


size_t
pprof_metrics_bucket(uint64_t us)
{
    size_t  b;

    for (b = 0; b < PPROF_SHARED_BUCKETS - 1; b++) {
        if (us <= shared_buckets[b].us) {
            break;
        }
    }

    return b;
}


/* Series at 0 too: a scraper sees that Redis is used before it fails. */
static void
shared_render(out_t *o, const pprof_metrics_t *m)
{
    size_t    k, b;
    uint64_t  count;

    family(o, "pprof_shared_state_errors_total", "counter",
           "Capture admissions that Redis did not answer, by kind.");

    for (k = 0; k < PPROF_SHARED_KINDS; k++) {
        put(o, "pprof_shared_state_errors_total{kind=\"%s\"} %llu\n",
            shared_kinds[k], (unsigned long long) m->shared_errors[k]);
    }

    family(o, "pprof_shared_state_latency_seconds", "histogram",
           "Time a capture admission waited on Redis.");

    count = 0;

    for (b = 0; b < PPROF_SHARED_BUCKETS; b++) {
        count += m->shared_latency[b];

        put(o, "pprof_shared_state_latency_seconds_bucket{le=\"%s\"} %llu\n",
            b < PPROF_SHARED_BUCKETS - 1 ? shared_buckets[b].le : "+Inf",
            (unsigned long long) count);
    }

    put(o, "pprof_shared_state_latency_seconds_sum %llu.%06llu\n",
        (unsigned long long) (m->shared_latency_us / 1000000),
        (unsigned long long) (m->shared_latency_us % 1000000));
    put(o, "pprof_shared_state_latency_seconds_count %llu\n",
        (unsigned long long) count);
}


size_t
pprof_metrics_render(char *buf, size_t cap, const pprof_metrics_t *m)
{
    out_t     o = { buf, cap, 0 };
    size_t    c, d, r;
    uint64_t  n;

    family(&o, "pprof_requests_total", "counter",
           "Requests the gateway decided, by class, decision and reason.");

    for (c = 0; c <= PPROF_CLASS_COUNT; c++) {
        for (d = 0; d < 2; d++) {
            for (r = 0; r < PPROF_REASON_COUNT; r++) {
                n = m->requests[c][d][r];
                if (n) {
                    put(&o, "pprof_requests_total{class=\"%s\","
                            "decision=\"%s\",reason=\"%s\"} %llu\n",
                        pprof_class_name((pprof_class_t) c),
                        d ? "deny" : "allow",
                        pprof_reason_name((pprof_reason_t) r),
                        (unsigned long long) n);
                }
            }
        }
    }

    single(&o, "pprof_captures_in_flight", "gauge",
           "Captures holding a slot now, across all workers.",
           m->captures_in_flight);

    family(&o, "pprof_capture_seconds_total", "counter",
           "Capture time granted to requests, in seconds.");
    put(&o, "pprof_capture_seconds_total %llu.%03llu\n",
        (unsigned long long) (m->capture_ms_total / 1000),
        (unsigned long long) (m->capture_ms_total % 1000));

    single(&o, "pprof_audit_records_total", "counter",
           "Audit records written.", m->audit_records_total);
    single(&o, "pprof_audit_write_errors_total", "counter",
           "Audit records that could not be written.",
           m->audit_write_errors_total);
    single(&o, "pprof_zone_used_bytes", "gauge",
           "Bytes of the pprof_zone in use.", m->zone_used_bytes);

    if (m->shared) {
        shared_render(&o, m);
    }

    return o.full ? 0 : cap - o.left;
}
