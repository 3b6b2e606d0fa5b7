/*
 * JWT verifications per second for RS256, ES256 and EdDSA on this machine:
 * the whole of pprof_jwt_verify (decoding, signature, claims), so later
 * changes can be compared.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "t/tools/jwt_sign.h"


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
bench(const char *alg)
{
    static pprof_auth_result_t  result;

    EVP_PKEY          *key;
    char              *jwk, *jwks, *token, err[256];
    const char        *list[1];
    size_t             skipped, n;
    pprof_jwt_keys_t  *keys;
    pprof_jwt_conf_t   conf;
    pprof_str_t        tok;
    double             t0, elapsed;
    long long          t;

    key = jwt_keygen(alg);
    jwk = key ? jwt_jwk(key, "k1", NULL) : NULL;
    list[0] = jwk;
    jwks = jwk ? jwt_jwks(list, 1) : NULL;

    if (jwks == NULL) {
        fprintf(stderr, "%s: key setup failed\n", alg);
        return 1;
    }

    {
        char  header[64];

        snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"kid\":\"k1\"}",
                 alg);
        token = jwt_sign(alg, key, NULL, 0, header,
                         "{\"sub\":\"spiffe://prod.example/ns/sre/alice\","
                         "\"exp\":4102444800,\"roles\":[\"oncall\"]}");
    }

    keys = pprof_jwt_keys_parse((unsigned char *) jwks, strlen(jwks),
                                &skipped, err, sizeof(err));
    if (keys == NULL || token == NULL) {
        fprintf(stderr, "%s: %s\n", alg, keys ? "signing failed" : err);
        return 1;
    }

    memset(&conf, 0, sizeof(conf));
    conf.keys = keys;
    conf.leeway = 30;
    conf.identity_claim.data = (const unsigned char *) "sub";
    conf.identity_claim.len = 3;
    conf.roles_claim.data = (const unsigned char *) "roles";
    conf.roles_claim.len = 5;

    tok.data = (const unsigned char *) token;
    tok.len = strlen(token);
    t = (long long) time(NULL);

    /* Run for about a second, whatever the algorithm costs. */
    n = 0;
    t0 = now();
    do {
        pprof_jwt_verify(&conf, tok, t, &result);
        if (result.reason != PPROF_OK) {
            fprintf(stderr, "%s: %s\n", alg, result.detail);
            return 1;
        }
        n++;
        elapsed = now() - t0;
    } while (elapsed < 1.0);

    printf("jwt verify %-6s %8.0f verifications/s (%.1f us each)\n", alg,
           n / elapsed, elapsed / n * 1e6);

    pprof_jwt_keys_free(keys);
    EVP_PKEY_free(key);
    free(jwk);
    free(jwks);
    free(token);
    return 0;
}


int
main(void)
{
    return bench("RS256") || bench("ES256") || bench("EdDSA");
}
