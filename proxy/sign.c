/*
 * Ed25519 signatures as canonical base64.  Ed25519 signs the message
 * itself (no digest is chosen), so a signature made here verifies the same
 * way in every tool; and only the one canonical base64 spelling of a
 * signature is accepted, so that a signed text has exactly one valid form.
 */

#include <string.h>

#include <openssl/evp.h>

#include "proxy.h"


#define ED25519_SIG_LEN  64


int
pprof_sign(EVP_PKEY *key, const void *msg, size_t len,
    char b64[PPROF_SIG_B64_LEN + 1])
{
    EVP_MD_CTX     *ctx;
    unsigned char   sig[ED25519_SIG_LEN];
    size_t          siglen;
    int             ok;

    if (key == NULL || !EVP_PKEY_is_a(key, "ED25519")) {
        return -1;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    siglen = sizeof(sig);
    ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1
         && EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1
         && siglen == ED25519_SIG_LEN;

    EVP_MD_CTX_free(ctx);

    if (!ok
        || EVP_EncodeBlock((unsigned char *) b64, sig, ED25519_SIG_LEN)
           != PPROF_SIG_B64_LEN)
    {
        return -1;
    }

    return 0;
}

