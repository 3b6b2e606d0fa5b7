/*
 * Shared by the harnesses: see fuzz.h.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"


uint8_t
fz_u8(fz_t *in)
{
    uint8_t  v;

    if (in->n == 0) {
        return 0;
    }

    v = in->p[0];
    in->p++;
    in->n--;
    return v;
}


uint16_t
fz_u16(fz_t *in)
{
    uint16_t  lo = fz_u8(in);

    return (uint16_t) (lo | fz_u8(in) << 8);
}


uint64_t
fz_u64(fz_t *in)
{
    uint64_t  v = 0;
    unsigned  i;

    for (i = 0; i < 8; i++) {
        v |= (uint64_t) fz_u8(in) << (8 * i);
    }

    return v;
}


pprof_str_t
fz_bytes(fz_t *in, size_t len)
{
    pprof_str_t  s;

    if (len > in->n) {
        len = in->n;
    }

    s.data = in->p;
    s.len = len;
    in->p += len;
    in->n -= len;
    return s;
}


pprof_str_t
fz_field(fz_t *in)
{
    return fz_bytes(in, fz_u8(in));
}


pprof_str_t
fz_until_nul(fz_t *in)
{
    const uint8_t  *nul;
    pprof_str_t     s;

    nul = memchr(in->p, '\0', in->n);
    if (nul == NULL) {
        return fz_rest(in);
    }

    s = fz_bytes(in, (size_t) (nul - in->p));
    (void) fz_u8(in);
    return s;
}


pprof_str_t
fz_rest(fz_t *in)
{
    return fz_bytes(in, in->n);
}


pprof_str_t
fz_repeated(fz_t *in, unsigned char *buf, size_t cap)
{
    pprof_str_t  unit, s;
    unsigned     times;
    size_t       n;

    n = fz_u8(in);
    times = 1u + fz_u8(in);
    unit = fz_bytes(in, n);

    s.data = buf;
    s.len = 0;

    while (unit.len > 0 && times-- > 0 && s.len < cap) {
        n = cap - s.len < unit.len ? cap - s.len : unit.len;
        memcpy(buf + s.len, unit.data, n);
        s.len += n;
    }

    if (s.len == 0) {
        s.data = NULL;
    }

    return s;
}


void
fz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "\n%s:%d: property does not hold: %s\n", file, line,
            what);
    abort();
}


void
fz_failf(const char *file, int line, const char *fmt, ...)
{
    va_list  ap;

    fprintf(stderr, "\n%s:%d: property does not hold: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}


static char  scratch[64];


static void
scratch_remove(void)
{
    unlink(scratch);
}


const char *
fz_scratch_write(const void *data, size_t len)
{
    FILE  *f;
    int    fd;

    if (scratch[0] == '\0') {
        snprintf(scratch, sizeof(scratch), "%s/pprof-fuzz-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");

        fd = mkstemp(scratch);
        if (fd == -1) {
            perror("fuzz: mkstemp");
            abort();
        }

        close(fd);
        atexit(scratch_remove);
    }

    f = fopen(scratch, "wb");
    if (f == NULL || (len > 0 && fwrite(data, 1, len, f) != len)
        || fclose(f) != 0)
    {
        perror("fuzz: writing the scratch file");
        abort();
    }

    return scratch;
}


int
fz_str_is(pprof_str_t s, const char *lit)
{
    size_t  n = strlen(lit);

    return s.len == n && memcmp(s.data, lit, n) == 0;
}


EVP_PKEY *
fz_ed25519(void)
{
    static EVP_PKEY  *key;

    if (key == NULL) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        if (key == NULL) {
            abort();
        }
    }

    return key;
}
