/*
 * Go's net/http/pprof refuses a second CPU profile or trace in a process
 * with 500 and a fixed line from serveError(), which also sets
 * X-Go-Pprof: 1.  Only that exact answer is the target saying "busy":
 * anything else a target or a stand-in for it sends, even with the same
 * words in it, is its own answer and passes as it is, so that a client
 * cannot make the gateway rewrite other errors.
 */

#include <stdio.h>
#include <string.h>

#include "proxy.h"


/*
 * serveError's text and the error: runtime/pprof's, and the runtime's, whose
 * errorString says "runtime error: " first.
 */
static const char  cpu_busy[] =
    "Could not enable CPU profiling: cpu profiling already in use";
static const char  trace_busy[] =
    "Could not enable tracing: runtime error: tracing is already enabled";


/* The message a capture at ep is refused with; NULL: it never is. */
static const char *
busy_message(const pprof_endpoint_t *ep)
{
    if (ep->cls != PPROF_CLASS_CAPTURE) {
        return NULL;
    }

    /* A delta profile takes two snapshots: nothing in Go refuses it so. */
    switch (ep->kind) {
    case PPROF_EP_PROFILE:
        return cpu_busy;
    case PPROF_EP_TRACE:
        return trace_busy;
    default:
        return NULL;
    }
}


static int
busy_header(const pprof_endpoint_t *ep, unsigned status, pprof_str_t go_pprof)
{
    return status == 500 && busy_message(ep) != NULL
           && go_pprof.len == 1 && go_pprof.data[0] == '1';
}


pprof_busy_t
pprof_busy_candidate(const pprof_endpoint_t *ep, unsigned status,
    pprof_str_t go_pprof, long long content_length, int head)
{
    if (!busy_header(ep, status, go_pprof)
        || content_length <= 0
        || content_length > PPROF_BUSY_BODY_MAX)
    {
        return PPROF_BUSY_PASS;
    }

    return head ? PPROF_BUSY_NOW : PPROF_BUSY_HOLD;
}


int
pprof_busy_answer(const pprof_endpoint_t *ep, unsigned status,
    pprof_str_t go_pprof, pprof_str_t body)
{
    const char  *msg;
    size_t       n;

    if (!busy_header(ep, status, go_pprof)
        || body.len > PPROF_BUSY_BODY_MAX)
    {
        return 0;
    }

    msg = busy_message(ep);
    n = strlen(msg);

    /* fmt.Fprintln ends the line; nothing else may follow it. */
    if (body.len < n || memcmp(body.data, msg, n) != 0) {
        return 0;
    }

    return body.len == n || (body.len == n + 1 && body.data[n] == '\n');
}


void
pprof_busy_deny(pprof_decision_t *d)
{
    uint64_t  s;

    s = d->capture_ms / 1000 + (d->capture_ms % 1000 != 0);

    d->reason = PPROF_CAPTURE_BUSY;
    d->retry_after = s ? s : 1;

    snprintf(d->detail, sizeof(d->detail),
             "the target refused it; retry after %llu second%s",
             (unsigned long long) d->retry_after,
             d->retry_after == 1 ? "" : "s");
}
