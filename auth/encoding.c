/*
 * Strict base64 and file reading for the identity sources.  A token that
 * decodes the same from two spellings is a token whose bytes can be
 * altered without changing its meaning: only the canonical one passes.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_source.h"


#define FILE_MAX  (1024 * 1024)


static int
b64_value(int c, int url)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == (url ? '-' : '+')) {
        return 62;
    }
    if (c == (url ? '_' : '/')) {
        return 63;
    }
    return -1;
}


int
pprof_auth_b64_decode(const unsigned char *in, size_t len, int url,
    unsigned char *out, size_t cap, size_t *outlen)
{
    size_t    i, n, pad;
    uint32_t  acc;
    int       v;

    pad = 0;

    if (!url) {
        /* Standard base64 comes in whole quads, "=" only at the end. */
        if (len % 4 != 0) {
            return -1;
        }
        while (pad < 2 && len > 0 && in[len - 1] == '=') {
            len--;
            pad++;
        }
    }

    if (len % 4 == 1 || (!url && pad != (4 - len % 4) % 4)) {
        return -1;
    }

    n = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (n > cap) {
        return -1;
    }

    acc = 0;
    for (i = 0; i < len; i++) {
        v = b64_value(in[i], url);
        if (v < 0) {
            return -1;
        }

        acc = acc << 6 | (uint32_t) v;

        if (i % 4 == 3) {
            out[i / 4 * 3] = (unsigned char) (acc >> 16);
            out[i / 4 * 3 + 1] = (unsigned char) (acc >> 8);
            out[i / 4 * 3 + 2] = (unsigned char) acc;
            acc = 0;
        }
    }

    /* The unused low bits of a final partial quad must be zero. */
    switch (len % 4) {
    case 2:
        if (acc & 0x0f) {
            return -1;
        }
        out[len / 4 * 3] = (unsigned char) (acc >> 4);
        break;

    case 3:
        if (acc & 0x03) {
            return -1;
        }
        out[len / 4 * 3] = (unsigned char) (acc >> 10);
        out[len / 4 * 3 + 1] = (unsigned char) (acc >> 2);
        break;
    }

    *outlen = n;
    return 0;
}


int
pprof_auth_read_file(const char *path, unsigned char **data, size_t *len,
    char *err, size_t errlen)
{
    FILE           *f;
    unsigned char  *buf;
    size_t          n;

    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return -1;
    }

    buf = malloc(FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    n = fread(buf, 1, FILE_MAX + 1, f);

    if (ferror(f) || n > FILE_MAX) {
        snprintf(err, errlen, n > FILE_MAX ? "larger than 1 MiB"
                                           : "could not be read");
        fclose(f);
        free(buf);
        return -1;
    }

    fclose(f);

    *data = buf;
    *len = n;
    return 0;
}
