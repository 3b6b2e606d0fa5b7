/*
 * What the libFuzzer harnesses of t/fuzz/ share: a reader that takes the
 * fuzzer's bytes as a harness's fields, the check that aborts (libFuzzer
 * reports an abort as a crash, with the input that caused it), and a
 * scratch file for the core functions that read a path.
 *
 * Every reader function is total: past the end of the input it gives
 * zeros and empty strings, so that any input is a valid one.
 */

#ifndef PPROF_FUZZ_H
#define PPROF_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "policy/policy.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


typedef struct {
    const uint8_t  *p;
    size_t          n;
} fz_t;

uint8_t fz_u8(fz_t *in);
uint16_t fz_u16(fz_t *in);              /* little-endian */
uint64_t fz_u64(fz_t *in);              /* little-endian */

/* The next len bytes, fewer at the end. */
pprof_str_t fz_bytes(fz_t *in, size_t len);

/* A length byte, then that many bytes. */
pprof_str_t fz_field(fz_t *in);

/* Up to the next NUL (not included, and skipped), or the rest. */
pprof_str_t fz_until_nul(fz_t *in);

pprof_str_t fz_rest(fz_t *in);


/*
 * A length byte, a repeat byte, then the bytes: the field is those bytes
 * repeated (1 + repeat) times, so that a short input makes a long field.
 * Written into buf (capacity cap), cut there.  An empty field is
 * { NULL, 0 }, as the gateway passes a field it does not have.
 */
pprof_str_t fz_repeated(fz_t *in, unsigned char *buf, size_t cap);


/* A property of the code under test does not hold: report and abort. */
#define FZ_CHECK(cond)                                                       \
    ((cond) ? (void) 0 : fz_fail(__FILE__, __LINE__, #cond))

void fz_fail(const char *file, int line, const char *what)
    __attribute__((noreturn));

/* fz_fail with a message of the harness's own (printf format). */
void fz_failf(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));


/*
 * A file of this process only (in /dev/shm when there is one), removed at
 * exit: fz_scratch_write() replaces its contents and returns its path.
 */
const char *fz_scratch_write(const void *data, size_t len);


/* An Ed25519 key of this process, made at the first call. */
EVP_PKEY *fz_ed25519(void);


/* Whether s equals the NUL-terminated lit. */
int fz_str_is(pprof_str_t s, const char *lit);

#endif /* PPROF_FUZZ_H */
