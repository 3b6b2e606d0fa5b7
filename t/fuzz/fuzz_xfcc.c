/*
 * The xfcc identity source (auth/xfcc.c).
 *
 * Input: one byte of flags (bit 0: the peer is trusted), then the header
 * lines, separated by NUL bytes (at most 4).  Asserts that an untrusted
 * peer's header is never read; that a trusted one either yields a clean
 * identity (printable, within PPROF_IDENTITY_MAX, from xfcc) or is
 * invalid_credential with a detail and no identity; and that lines that
 * parse read as the one line they make joined with ',' (not conversely:
 * a quote may not span two lines).
 */

#include <string.h>

#include "fuzz.h"
#include "auth/auth.h"


#define LINES_MAX  4


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    return 0;
}


static void
identify(const pprof_str_t *lines, size_t n, int trusted,
    pprof_auth_result_t *res)
{
    static const pprof_auth_source_t  src = { .method = PPROF_AUTH_XFCC };
    pprof_auth_input_t                in;

    memset(&in, 0, sizeof(in));
    in.xfcc = lines;
    in.nxfcc = n;
    in.xfcc_trusted = trusted;

    pprof_auth_identify(&src, 1, &in, res);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char         joined[PPROF_XFCC_MAX + LINES_MAX];
    static pprof_auth_result_t   res, one;
    fz_t                         in = { data, size };
    pprof_str_t                  lines[LINES_MAX], all;
    size_t                       n, i, len;
    int                          trusted;

    trusted = fz_u8(&in) & 1;

    for (n = 0; n < LINES_MAX && (in.n > 0 || n == 0); n++) {
        lines[n] = n + 1 < LINES_MAX ? fz_until_nul(&in) : fz_rest(&in);
    }

    identify(lines, n, trusted, &res);

    if (!trusted) {
        FZ_CHECK(res.reason == PPROF_UNAUTHENTICATED);
        FZ_CHECK(res.identity_len == 0);
        return 0;
    }

    FZ_CHECK(res.method == PPROF_AUTH_XFCC);

    if (res.reason == PPROF_OK) {
        FZ_CHECK(res.identity_len > 0
                 && res.identity_len <= PPROF_IDENTITY_MAX);
        for (i = 0; i < res.identity_len; i++) {
            FZ_CHECK(res.identity[i] >= 0x20 && res.identity[i] != 0x7f);
        }

    } else {
        FZ_CHECK(res.reason == PPROF_INVALID_CREDENTIAL);
        FZ_CHECK(res.detail != NULL && res.identity_len == 0);
    }

    /* The lines joined with ',' are the same header. */
    for (i = 0, len = 0; i < n; i++) {
        if (i > 0) {
            joined[len++] = ',';
        }
        if (lines[i].len) {
            memcpy(joined + len, lines[i].data, lines[i].len);
        }
        len += lines[i].len;
    }

    if (res.reason != PPROF_OK || len > PPROF_XFCC_MAX) {
        return 0;
    }

    all.data = joined;
    all.len = len;
    identify(&all, 1, 1, &one);

    FZ_CHECK(one.reason == PPROF_OK);
    FZ_CHECK(one.identity_len == res.identity_len);
    FZ_CHECK(memcmp(one.identity, res.identity, res.identity_len) == 0);

    return 0;
}
