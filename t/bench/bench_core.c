/*
 * The core's per-request decision, stages 1, 5 and 6, timed in a loop: what
 * the module adds to every request before nginx proxies it.  Roles and binds
 * mirror SPEC §12 (two regex binds, one exact).
 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "policy/policy.h"
#include "proxy/proxy.h"


#define ITERATIONS  1000000

static pprof_str_t
S(const char *s)
{
    pprof_str_t  str = { (const unsigned char *) s, strlen(s) };

    return str;
}


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


int
main(void)
{
    static const pprof_str_t  oncall_roles[] = { { (const unsigned char *)
                                                   "oncall", 6 } };
    static const pprof_str_t  viewer_roles[] = { { (const unsigned char *)
                                                   "viewer", 6 } };

    char              err[128];
    pprof_bind_t      binds[3];
    pprof_role_t      roles[2];
    pprof_str_t       held[4];
    size_t            nheld, i;
    pprof_params_t    params;
    pprof_endpoint_t  ep;
    pprof_reason_t    rc;
    double            t0, t1;
    char              id[PPROF_AUDIT_ID_LEN + 1];
    unsigned          allowed = 0;

    if (pprof_bind_compile(&binds[0], S("~^spiffe://prod\\.example/ns/sre/"),
                           err, sizeof(err)) != 0
        || pprof_bind_compile(&binds[1],
                              S("~^spiffe://prod\\.example/ns/dev/"),
                              err, sizeof(err)) != 0
        || pprof_bind_compile(&binds[2], S("ci-scraper"), err, sizeof(err))
           != 0)
    {
        fprintf(stderr, "bind: %s\n", err);
        return 1;
    }

    binds[0].roles = oncall_roles;
    binds[0].nroles = 1;
    binds[1].roles = viewer_roles;
    binds[1].nroles = 1;
    binds[2].roles = oncall_roles;
    binds[2].nroles = 1;

    memset(roles, 0, sizeof(roles));
    roles[0].name = S("viewer");
    roles[0].classes = 1u << PPROF_CLASS_INDEX | 1u << PPROF_CLASS_CMDLINE;
    roles[1].name = S("oncall");
    roles[1].classes = 0x1f;

    t0 = now();

    for (i = 0; i < ITERATIONS; i++) {
        rc = pprof_policy_classify(S("/debug/pprof/"),
                                   S("/debug/pprof/profile"), PPROF_METHOD_GET,
                                   S("seconds=10&debug=0"), &ep);
        nheld = 0;
        if (rc == PPROF_OK
            && pprof_policy_bind_roles(binds, 3,
                   S("spiffe://prod.example/ns/sre/alice"), S("cert"), held,
                   &nheld, 4, err, sizeof(err))
               == 0
            && pprof_policy_authorize(roles, 2, held, nheld, &ep) == PPROF_OK
            && pprof_policy_params(&ep, S("seconds=10&debug=0"),
                                   PPROF_METHOD_GET, 0, 30, &params)
               == PPROF_OK)
        {
            allowed++;
        }
    }

    t1 = now();

    printf("decision (classify, binds, authorize, params): %.0f ns/request"
           " (%u of %d allowed)\n",
           (t1 - t0) / ITERATIONS * 1e9, allowed, ITERATIONS);

    t0 = now();
    for (i = 0; i < ITERATIONS / 10; i++) {
        if (pprof_audit_id_generate(id) != 0) {
            return 1;
        }
    }
    t1 = now();

    printf("audit id from the CSPRNG: %.0f ns/request\n",
           (t1 - t0) / (ITERATIONS / 10) * 1e9);

    {
        pprof_rate_state_t  st = { 0, 0 };
        pprof_rate_t        rate = { 1000000000, 1000000 };
        pprof_lease_t       slots[4];
        uint64_t            retry;

        memset(slots, 0, sizeof(slots));

        t0 = now();
        for (i = 0; i < ITERATIONS; i++) {
            if (pprof_rate_take(&st, &rate, 1000 + i, &retry) != PPROF_OK
                || pprof_slots_acquire(slots, 4, 1000 + i, 30000, i + 1,
                                       &retry) != PPROF_OK
                || !pprof_slots_release(slots, 4, i + 1))
            {
                return 1;
            }
        }
        t1 = now();

        printf("rate and slot arithmetic (no lock): %.0f ns/request\n",
               (t1 - t0) / ITERATIONS * 1e9);
    }

    for (i = 0; i < 3; i++) {
        pprof_bind_free(&binds[i]);
    }

    return allowed == ITERATIONS ? 0 : 1;
}
