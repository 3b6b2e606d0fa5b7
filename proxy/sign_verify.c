/*
 * Checking an Ed25519 signature made by pprof_sign() (proxy/sign.c), for
 * pprof-audit.  Only the one canonical base64 spelling of a signature is
 * accepted, so that a signed text has exactly one valid form.
 */

#include <string.h>

#include <openssl/evp.h>

#include "verify.h"


#define ED25519_SIG_LEN  64


int
pprof_sign_verify(EVP_PKEY *pubkey, const void *msg, size_t len,
    const char *b64, size_t b64len)
{
    EVP_MD_CTX     *ctx;
    unsigned char   sig[ED25519_SIG_LEN + 3];
    char            canon[PPROF_SIG_B64_LEN + 1];
    int             ok;

    if (pubkey == NULL || !EVP_PKEY_is_a(pubkey, "ED25519")
        || b64len != PPROF_SIG_B64_LEN)
    {
        return 0;
    }

    /* EVP_DecodeBlock counts the padding as zero bytes: 66 for 64. */
    if (EVP_DecodeBlock(sig, (const unsigned char *) b64, (int) b64len)
        != ED25519_SIG_LEN + 2
        || EVP_EncodeBlock((unsigned char *) canon, sig, ED25519_SIG_LEN)
           != PPROF_SIG_B64_LEN
        || memcmp(canon, b64, PPROF_SIG_B64_LEN) != 0)
    {
        return 0;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return 0;
    }

    ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pubkey) == 1
         && EVP_DigestVerify(ctx, sig, ED25519_SIG_LEN, msg, len) == 1;

    EVP_MD_CTX_free(ctx);
    return ok;
}
