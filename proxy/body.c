/*
 * Which forwarded bodies the gateway changes.  Only what Go sends as
 * gzip'd profile.proto is annotated: text (debug > 0), traces, the index
 * and symbol lookups pass byte for byte.  cmdline is redacted whatever its
 * status, so that no answer of that endpoint ever carries argv unredacted.
 */

#include "proxy.h"


static const char *const  annotate_reasons[] = {
    "annotated",
    "not_gzip",
    "gzip_header_too_long",
    "bad_deflate",
    "bad_trailer",
    "trailing_data",
    "truncated",
    "not_profile",
    "block_too_large",
    "no_memory",
    "seal_failed",
    "comment_too_long",
    "status",
    "content_encoding",
    "planted_lines",
    "profile_too_large",
};


const char *
pprof_annotate_reason_name(pprof_annotate_reason_t reason)
{
    if ((size_t) reason >= sizeof(annotate_reasons) / sizeof(annotate_reasons[0]))
    {
        return "unknown";
    }

    return annotate_reasons[reason];
}


pprof_body_action_t
pprof_proxy_body_action(const pprof_endpoint_t *ep,
    const pprof_params_t *params, int annotate, int redact, int head,
    unsigned status, int encoded, pprof_annotate_reason_t *why)
{
    *why = PPROF_ANNOTATE_REASON_COUNT;

    switch (ep->kind) {

    case PPROF_EP_CMDLINE:
        return redact ? PPROF_BODY_REDACT : PPROF_BODY_AS_IS;

    case PPROF_EP_PROFILE:
    case PPROF_EP_HEAP:
    case PPROF_EP_SNAPSHOT:
        break;

    default:
        return PPROF_BODY_AS_IS;
    }

    if (!annotate || head || params->debug > 0) {
        return PPROF_BODY_AS_IS;
    }

    if (status != 200) {
        *why = PPROF_ANNOTATE_STATUS;
        return PPROF_BODY_AS_IS;
    }

    if (encoded) {
        *why = PPROF_ANNOTATE_ENCODED;
        return PPROF_BODY_AS_IS;
    }

    *why = PPROF_ANNOTATE_OK;
    return PPROF_BODY_ANNOTATE;
}


const char *
pprof_annotation_outcome(pprof_annotate_reason_t decided,
    const pprof_annotator_t *a, int client_gone, int sealed)
{
    pprof_annotate_reason_t  result;

    if (decided == PPROF_ANNOTATE_REASON_COUNT) {
        return NULL;
    }

    result = decided;

    if (decided == PPROF_ANNOTATE_OK) {
        result = a && !client_gone ? pprof_annotator_result(a)
                                   : PPROF_ANNOTATE_TRUNCATED;
    }

    if (result == PPROF_ANNOTATE_OK) {
        return sealed ? "sealed" : "annotated";
    }

    return pprof_annotate_reason_name(result);
}
