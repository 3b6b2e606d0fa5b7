/*
 * Audit ids: unpredictable, so that one cannot be guessed to forge or find
 * another request's records, and unique per request.
 */

#include <openssl/rand.h>

#include "proxy.h"


int
pprof_audit_id_generate(char id[PPROF_AUDIT_ID_LEN + 1])
{
    static const char  digits[] = "0123456789abcdef";

    unsigned char  raw[PPROF_AUDIT_ID_LEN / 2];
    size_t         i;

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return -1;
    }

    for (i = 0; i < sizeof(raw); i++) {
        id[2 * i] = digits[raw[i] >> 4];
        id[2 * i + 1] = digits[raw[i] & 0x0f];
    }

    id[PPROF_AUDIT_ID_LEN] = '\0';
    return 0;
}
