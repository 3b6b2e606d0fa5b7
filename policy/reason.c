/*
 * Reason codes: their stable names (audit, variables, metrics), the status
 * each denies with, and the one-line explanation a client sees.
 */

#include "policy.h"


static const struct {
    const char  *name;
    int          status;
    const char  *message;
    int          retry;         /* the denial says when to come back */
} reasons[PPROF_REASON_COUNT] = {
    [PPROF_OK] = { "ok", 200, "allowed", 0 },
    [PPROF_UNKNOWN_ENDPOINT] = { "unknown_endpoint", 404,
        "no such pprof endpoint behind this gateway", 0 },
    [PPROF_METHOD_NOT_ALLOWED] = { "method_not_allowed", 405,
        "only GET and HEAD are allowed here (POST only for symbol)", 0 },
    [PPROF_TLS_REQUIRED] = { "tls_required", 403,
        "this endpoint is served over HTTPS only", 0 },
    [PPROF_ADDRESS_DENIED] = { "address_denied", 403,
        "your address is not allowed to reach pprof", 0 },
    [PPROF_UNTRUSTED_PROXY] = { "untrusted_proxy", 403,
        "this check did not come from a trusted proxy", 0 },
    [PPROF_UNAUTHENTICATED] = { "unauthenticated", 401,
        "no credential was offered", 0 },
    [PPROF_INVALID_CREDENTIAL] = { "invalid_credential", 401,
        "the credential offered was rejected", 0 },
    [PPROF_FORBIDDEN] = { "forbidden", 403,
        "no role of yours permits this endpoint", 0 },
    [PPROF_BAD_PARAMETER] = { "bad_parameter", 400,
        "a parameter is outside what this endpoint accepts", 0 },
    [PPROF_RATE_LIMITED] = { "rate_limited", 429,
        "too many requests of this class", 1 },
    [PPROF_CAPTURE_BUSY] = { "capture_busy", 429,
        "a capture of this endpoint is already running", 1 },
    [PPROF_BUDGET_EXHAUSTED] = { "budget_exhausted", 429,
        "the capture time budget is used up", 1 },
    [PPROF_SHARED_STATE_UNAVAILABLE] = { "shared_state_unavailable", 503,
        "the fleet's shared capture state is unavailable", 1 },
    [PPROF_AUDIT_UNAVAILABLE] = { "audit_unavailable", 503,
        "the audit record could not be written", 0 },
    [PPROF_INTERNAL_ERROR] = { "internal_error", 500,
        "the gateway failed to decide; denied", 0 },
};

static const char *class_names[PPROF_CLASS_COUNT] = {
    [PPROF_CLASS_INDEX] = "index",
    [PPROF_CLASS_CMDLINE] = "cmdline",
    [PPROF_CLASS_SYMBOL] = "symbol",
    [PPROF_CLASS_SNAPSHOT] = "snapshot",
    [PPROF_CLASS_CAPTURE] = "capture",
};


/* An out-of-range code is a bug; it reads as the internal error, a denial. */
static pprof_reason_t
checked(pprof_reason_t reason)
{
    return (unsigned) reason < PPROF_REASON_COUNT ? reason
                                                  : PPROF_INTERNAL_ERROR;
}


const char *
pprof_reason_name(pprof_reason_t reason)
{
    return reasons[checked(reason)].name;
}


const char *
pprof_reason_message(pprof_reason_t reason)
{
    return reasons[checked(reason)].message;
}


int
pprof_reason_status(pprof_reason_t reason)
{
    return reasons[checked(reason)].status;
}


int
pprof_reason_retries(pprof_reason_t reason)
{
    return reasons[checked(reason)].retry;
}


const char *
pprof_class_name(pprof_class_t cls)
{
    return (unsigned) cls < PPROF_CLASS_COUNT ? class_names[cls] : "";
}


int
pprof_policy_stop(pprof_reason_t *first, pprof_reason_t rc, int enforce)
{
    if (rc == PPROF_OK) {
        return 0;
    }

    if (*first == PPROF_OK) {
        *first = rc;
    }

    return enforce || checked(rc) == PPROF_INTERNAL_ERROR;
}


/*
 * A dry run forwards what it would deny, but a failure of the gateway itself
 * (an internal error, an audit record it could not write) is never waved
 * through.
 */
int
pprof_policy_forwards(pprof_reason_t reason, int enforce)
{
    if (reason == PPROF_OK) {
        return 1;
    }

    return !enforce && checked(reason) != PPROF_INTERNAL_ERROR
           && reason != PPROF_AUDIT_UNAVAILABLE;
}


pprof_reason_t
pprof_policy_audited(pprof_reason_t reason, int enforce, int written,
    int required)
{
    if (!written && required && pprof_policy_forwards(reason, enforce)) {
        return PPROF_AUDIT_UNAVAILABLE;
    }

    return reason;
}
