/*
 * Parameters and their canonical form (policy/params.c), stage 6.
 *
 * Input: the endpoint kind, the method, max_seconds and the declared body
 * length, one byte each (selectors), then the query string.  Asserts that
 * the canonical form is short, NUL-terminated and made only of the bytes
 * it is printed from; that it parses again, with the same verdict, to
 * itself and to the same values (canonical(parse(canonical(x))) ==
 * canonical(x)); and that the values obey SPEC §4's table: debug and
 * seconds only where the endpoint takes them, never both, gc only on heap,
 * seconds within max_seconds.
 */

#include <string.h>

#include "fuzz.h"


static const unsigned  max_seconds[] = { 1, 2, 30, 60, 300, 3600, 86400 };
static const long long  body_lens[] = { 0, -1, 1, 65536, 65537 };


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    return 0;
}


static void
check_values(const pprof_endpoint_t *ep, const pprof_params_t *p,
    unsigned max)
{
    size_t  i;
    int     c, snapshot;

    FZ_CHECK(p->canonical_len < PPROF_CANONICAL_MAX);
    FZ_CHECK(p->canonical[p->canonical_len] == '\0');
    FZ_CHECK(strlen(p->canonical) == p->canonical_len);

    for (i = 0; i < p->canonical_len; i++) {
        c = (unsigned char) p->canonical[i];
        FZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                 || c == '=' || c == '&' || c == '.');
    }

    snapshot = ep->kind == PPROF_EP_HEAP || ep->kind == PPROF_EP_SNAPSHOT;

    FZ_CHECK(p->debug >= -1 && p->debug <= 2);
    FZ_CHECK(p->debug == -1 || snapshot);
    FZ_CHECK(p->gc >= -1 && p->gc <= 1);
    FZ_CHECK(p->gc == -1 || ep->kind == PPROF_EP_HEAP);
    FZ_CHECK(p->seconds_us <= (uint64_t) max * 1000000);
    FZ_CHECK(p->seconds_us == 0 || p->debug <= 0);
    FZ_CHECK(p->seconds_us == 0 || snapshot || ep->kind == PPROF_EP_PROFILE
             || ep->kind == PPROF_EP_TRACE);
    FZ_CHECK(ep->kind != PPROF_EP_TRACE || p->seconds_us > 0);
    FZ_CHECK(ep->kind != PPROF_EP_PROFILE
             || (p->seconds_us > 0 && p->seconds_us % 1000000 == 0));
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t              in = { data, size };
    pprof_endpoint_t  ep;
    pprof_method_t    method;
    pprof_params_t    p1, p2;
    pprof_reason_t    rc;
    pprof_str_t       args, canonical;
    long long         body_len;
    unsigned          max;

    memset(&ep, 0, sizeof(ep));
    ep.kind = (pprof_ep_kind_t) (fz_u8(&in) % (PPROF_EP_SNAPSHOT + 1));
    method = (pprof_method_t) (fz_u8(&in) % 4);
    max = max_seconds[fz_u8(&in) % (sizeof(max_seconds)
                                    / sizeof(max_seconds[0]))];
    body_len = body_lens[fz_u8(&in) % (sizeof(body_lens)
                                       / sizeof(body_lens[0]))];
    args = fz_rest(&in);

    (void) pprof_params_has_seconds(args);

    memset(&p1, 0xa5, sizeof(p1));
    rc = pprof_policy_params(&ep, args, method, body_len, max, &p1);

    FZ_CHECK(rc == PPROF_OK || rc == PPROF_BAD_PARAMETER);

    if (rc != PPROF_OK) {
        return 0;
    }

    check_values(&ep, &p1, max);

    /* A delta snapshot comes only from a seconds key in the query. */
    if ((ep.kind == PPROF_EP_HEAP || ep.kind == PPROF_EP_SNAPSHOT)
        && p1.seconds_us > 0)
    {
        FZ_CHECK(pprof_params_has_seconds(args));
    }

    canonical.data = (const unsigned char *) p1.canonical;
    canonical.len = p1.canonical_len;

    memset(&p2, 0x5a, sizeof(p2));
    rc = pprof_policy_params(&ep, canonical, method, body_len, max, &p2);

    FZ_CHECK(rc == PPROF_OK);
    FZ_CHECK(p2.canonical_len == p1.canonical_len);
    FZ_CHECK(memcmp(p2.canonical, p1.canonical, p1.canonical_len + 1) == 0);
    FZ_CHECK(p2.debug == p1.debug && p2.gc == p1.gc
             && p2.seconds_us == p1.seconds_us);

    return 0;
}
