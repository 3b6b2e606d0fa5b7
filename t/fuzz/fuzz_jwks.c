/*
 * JWKS and PEM key loading (auth/jwks.c): what pprof_jwt_keys reads from
 * the operator's file.
 *
 * Input: the file's bytes.  Asserts that a document is refused with a
 * message or gives at least one key; and that the keys it gives verify
 * none of the tokens the harness signed at start with keys of its own
 * (one per algorithm, private halves in this process only), while every
 * verification runs on the loaded keys, whatever their shape.
 */

#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "t/tools/jwt_sign.h"
#include "fuzz.h"


static const char *const  algs[] = {
    "RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256"
};

#define NALGS  (sizeof(algs) / sizeof(algs[0]))

static char  *tokens[NALGS];


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char  claims[] = "{\"sub\":\"alice\",\"exp\":4000000000}";

    unsigned char   oct[32];
    char            header[64];
    EVP_PKEY       *key;
    size_t          i;

    (void) argc;
    (void) argv;

    if (jwt_random(oct, sizeof(oct)) != 0) {
        abort();
    }

    /* kid "k": fuzzed keys with that kid, or with none, are tried. */
    for (i = 0; i < NALGS; i++) {
        key = strcmp(algs[i], "HS256") == 0 ? NULL : jwt_keygen(algs[i]);
        snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"kid\":\"k\"}",
                 algs[i]);
        tokens[i] = jwt_sign(algs[i], key, oct, sizeof(oct), header, claims);
        EVP_PKEY_free(key);

        if (tokens[i] == NULL) {
            abort();
        }
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pprof_auth_result_t  r;

    pprof_jwt_keys_t  *keys;
    pprof_jwt_conf_t   conf;
    pprof_str_t        token;
    char               err[256];
    size_t             skipped, i;

    err[0] = '\0';
    skipped = 12345;
    keys = pprof_jwt_keys_parse(data, size, &skipped, err, sizeof(err));

    FZ_CHECK(skipped <= size);

    if (keys == NULL) {
        FZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
        return 0;
    }

    FZ_CHECK(pprof_jwt_keys_count(keys) >= 1);

    memset(&conf, 0, sizeof(conf));
    conf.keys = keys;
    conf.identity_claim.data = (const unsigned char *) "sub";
    conf.identity_claim.len = 3;
    conf.roles_claim.data = (const unsigned char *) "roles";
    conf.roles_claim.len = 5;

    for (i = 0; i < NALGS; i++) {
        token.data = (const unsigned char *) tokens[i];
        token.len = strlen(tokens[i]);

        pprof_jwt_verify(&conf, token, 1700000000, &r);
        FZ_CHECK(r.reason == PPROF_INVALID_CREDENTIAL);
        FZ_CHECK(r.identity_len == 0 && r.nroles == 0);
    }

    pprof_jwt_keys_free(keys);
    return 0;
}
