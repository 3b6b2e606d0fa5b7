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

    return o.full ? 0 : cap - o.left;
}
