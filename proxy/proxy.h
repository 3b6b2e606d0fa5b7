/*
 * proxy: what the gateway says and sends on the exchange.  Audit ids, the
 * headers that stay behind, and the denial bodies that clients and pprof
 * tools read.
 *
 * Portable C11 and OpenSSL, no nginx header.
 */

#ifndef PPROF_PROXY_H
#define PPROF_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"


/* 128 bits from the CSPRNG, as lowercase hex. */
#define PPROF_AUDIT_ID_LEN  32

/* 0, or -1 when the CSPRNG fails: the caller must deny. */
int pprof_audit_id_generate(char id[PPROF_AUDIT_ID_LEN + 1]);


/* Request headers that carry credentials: never forwarded (lowercase name). */
int pprof_proxy_is_credential_header(pprof_str_t lowcase_name);


#define PPROF_DENIAL_MAX    512

/* Whether an Accept header asks for application/json. */
int pprof_denial_wants_json(pprof_str_t accept);

/*
 * The body of a denial, text ("pprof-gateway: <reason>: <message> (audit
 * id <id>)\n") or JSON.  It names the reason and the audit id and nothing
 * the client sent.  Returns the length written (< cap), 0 if cap is short.
 */
size_t pprof_denial_render(char *buf, size_t cap, pprof_reason_t reason,
    const char *audit_id, int json);

/*
 * Metrics of SPEC §11 in the Prometheus text format (version 0.0.4).
 * requests is indexed by class (PPROF_CLASS_COUNT: no endpoint), decision
 * (0 allow, 1 deny) and reason; series that are zero are left out.
 */
typedef struct {
    uint64_t  requests[PPROF_CLASS_COUNT + 1][2][PPROF_REASON_COUNT];
    uint64_t  captures_in_flight;
    uint64_t  capture_ms_total;
    uint64_t  audit_records_total;
    uint64_t  audit_write_errors_total;
    uint64_t  zone_used_bytes;
} pprof_metrics_t;

#define PPROF_METRICS_MAX  32768

/* The length written (< cap), 0 if cap is short. */
size_t pprof_metrics_render(char *buf, size_t cap, const pprof_metrics_t *m);

#endif /* PPROF_PROXY_H */
