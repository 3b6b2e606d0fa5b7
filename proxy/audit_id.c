/*
 * Audit ids: unpredictable, so that one cannot be guessed to forge or find
 * another request's records, and unique per request.
 *
 * They are drawn from the CSPRNG thirty-two at a time: RAND_bytes() costs
 * nearly as much for 16 bytes as for 512 (its locks and the DRBG's own
 * update), and one draw per request made it one of the gateway's largest
 * costs.  Each id's bytes are wiped as it is handed out.  A child of
 * fork() must never hand out its parent's ids, so the child drops the
 * pool.  Each process draws from one thread.
 */

#include <pthread.h>
#include <string.h>

#include <openssl/rand.h>

#include "proxy.h"


#define ID_BYTES  (PPROF_AUDIT_ID_LEN / 2)
#define POOL_IDS  32


static unsigned char  pool[POOL_IDS * ID_BYTES];
static size_t         pool_left;
static int            pool_forks_watched;


static void
pool_drop(void)
{
    memset(pool, 0, sizeof(pool));
    pool_left = 0;
}


int
pprof_audit_id_generate(char id[PPROF_AUDIT_ID_LEN + 1])
{
    static const char  digits[] = "0123456789abcdef";

    unsigned char  *raw;
    size_t          i;

    if (!pool_forks_watched) {
        if (pthread_atfork(NULL, NULL, pool_drop) != 0) {
            return -1;
        }
        pool_forks_watched = 1;
    }

    if (pool_left == 0) {
        if (RAND_bytes(pool, sizeof(pool)) != 1) {
            return -1;
        }
        pool_left = sizeof(pool);
    }

    raw = pool + sizeof(pool) - pool_left;

    for (i = 0; i < ID_BYTES; i++) {
        id[2 * i] = digits[raw[i] >> 4];
        id[2 * i + 1] = digits[raw[i] & 0x0f];
    }

    memset(raw, 0, ID_BYTES);
    pool_left -= ID_BYTES;

    id[PPROF_AUDIT_ID_LEN] = '\0';
    return 0;
}
