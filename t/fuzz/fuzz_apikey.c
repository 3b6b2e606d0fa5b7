/*
 * API keys (auth/apikey.c): the key file and the Authorization header that
 * carries a key, as Bearer or as the password of Basic.
 *
 * At start the harness makes three random keys and a file line for each
 * ("<sha256 hex> <identity> <roles>").  Input: a mode byte, then
 *   mode 0: file text, a NUL, the Authorization header as sent;
 *   mode 1: a key byte, a user field (length byte and bytes), a tamper
 *           byte, then file text that goes after the harness's lines: the
 *           harness writes the header for its key (Bearer, or Basic with
 *           the user), changing one byte of the key when the tamper byte
 *           says so.
 * Asserts that a file is refused with a message naming a line, or loads;
 * that an accepted header's key has its digest in the file, and its
 * identity is the file's (mode 0);
 * that the harness's key identifies exactly its line's identity and roles,
 * through Basic too unless the user is another name; and that a changed
 * key never does.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "auth/auth.h"
#include "t/tools/jwt_sign.h"
#include "fuzz.h"


#define NKEYS  3

static const char *const  identities[NKEYS] = {
    "alice", "svc:ci@example", "spiffe://prod.example/ns/sre/sa/bot"
};

static const char *const  roles[NKEYS] = {
    "oncall", "", "sre viewer capture"
};

static char    keys[NKEYS][64];
static char   *lines;
static size_t  lines_len;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    unsigned char  raw[32], md[32];
    char           hex[65], line[256], *b64;
    size_t         i, j;
    int            n;

    (void) argc;
    (void) argv;

    lines = malloc(NKEYS * sizeof(line));
    if (lines == NULL) {
        abort();
    }

    for (i = 0; i < NKEYS; i++) {
        if (jwt_random(raw, sizeof(raw)) != 0
            || (b64 = jwt_b64url(raw, sizeof(raw))) == NULL)
        {
            abort();
        }

        snprintf(keys[i], sizeof(keys[i]), "pk_%s", b64);
        free(b64);

        EVP_Digest(keys[i], strlen(keys[i]), md, NULL, EVP_sha256(), NULL);
        for (j = 0; j < 32; j++) {
            snprintf(hex + 2 * j, 3, "%02x", md[j]);
        }

        n = snprintf(line, sizeof(line), "%s %s %s\n", hex, identities[i],
                     roles[i]);
        memcpy(lines + lines_len, line, (size_t) n);
        lines_len += (size_t) n;
    }

    return 0;
}


static void
identify(const pprof_apikeys_t *set, pprof_str_t authorization,
    pprof_auth_result_t *r)
{
    pprof_auth_source_t  source;
    pprof_auth_input_t   input;

    memset(&source, 0, sizeof(source));
    source.method = PPROF_AUTH_APIKEY;
    source.apikeys = set;

    memset(&input, 0, sizeof(input));
    input.authorization = authorization;

    memset(r, 0x5a, sizeof(*r));
    pprof_auth_identify(&source, 1, &input, r);

    FZ_CHECK(r->reason == PPROF_OK || r->reason == PPROF_UNAUTHENTICATED
             || r->reason == PPROF_INVALID_CREDENTIAL);

    if (r->reason != PPROF_OK) {
        FZ_CHECK(r->identity_len == 0 && r->nroles == 0);
    }
}


static pprof_apikeys_t *
parse(const unsigned char *p, size_t len)
{
    pprof_apikeys_t  *set;
    char              err[128];

    err[0] = '\0';
    set = pprof_apikeys_parse(p, len, err, sizeof(err));

    if (set == NULL) {
        FZ_CHECK(strncmp(err, "line ", 5) == 0
                 || strcmp(err, "out of memory") == 0);
    }

    return set;
}


/* The result is key i's line: its identity, then its roles in order. */
static void
check_is_key(const pprof_auth_result_t *r, size_t i)
{
    const char  *p, *w;
    size_t       n;

    FZ_CHECK(r->reason == PPROF_OK && r->method == PPROF_AUTH_APIKEY);
    FZ_CHECK(r->identity_len == strlen(identities[i])
             && memcmp(r->identity, identities[i], r->identity_len) == 0);

    n = 0;
    for (p = roles[i]; *p; ) {
        for (w = p; *p && *p != ' '; p++) {
            /* a word */
        }
        FZ_CHECK(n < r->nroles && r->roles[n].len == (size_t) (p - w)
                 && memcmp(r->roles[n].data, w, (size_t) (p - w)) == 0);
        n++;
        while (*p == ' ') {
            p++;
        }
    }

    FZ_CHECK(r->nroles == n);
}


static void
constructed(fz_t *in)
{
    static pprof_auth_result_t  r;

    pprof_apikeys_t  *set;
    pprof_str_t       user, extra, header;
    unsigned char    *file;
    char             *cred, *b64, *auth;
    size_t            i, len;
    uint8_t           how, tamper;
    int               basic, changed, other_user;

    how = fz_u8(in);
    i = how % NKEYS;
    basic = (how >> 2) & 1;
    user = fz_field(in);
    tamper = fz_u8(in);
    extra = fz_rest(in);

    file = malloc(lines_len + extra.len);
    if (file == NULL) {
        abort();
    }
    memcpy(file, lines, lines_len);
    memcpy(file + lines_len, extra.data, extra.len);

    set = parse(file, lines_len + extra.len);
    if (set == NULL) {
        set = parse(file, lines_len);
        FZ_CHECK(set != NULL);
    }
    free(file);

    /* user:key, or the key alone. */
    len = (basic ? user.len + 1 : 0) + strlen(keys[i]);
    cred = malloc(len + 1);
    if (cred == NULL) {
        abort();
    }
    if (basic) {
        memcpy(cred, user.data, user.len);
        cred[user.len] = ':';
    }
    strcpy(cred + (basic ? user.len + 1 : 0), keys[i]);

    changed = (tamper & 1) != 0;
    if (changed) {
        cred[len - 1 - (tamper >> 1) % strlen(keys[i])] ^=
            (char) (1 + (how >> 5));
    }

    b64 = basic ? jwt_b64std((unsigned char *) cred, len) : NULL;
    auth = malloc(len * 2 + 16);
    if (auth == NULL || (basic && b64 == NULL)) {
        abort();
    }
    snprintf(auth, len * 2 + 16, "%s %s", basic ? "Basic" : "Bearer",
             basic ? b64 : cred);

    header.data = (unsigned char *) auth;
    header.len = strlen(auth);
    identify(set, header, &r);

    other_user = basic && user.len > 0
                 && (user.len != strlen(identities[i])
                     || memcmp(user.data, identities[i], user.len) != 0);

    /* A NUL in the user, or a ':' before its end, is another user too. */
    if (basic && memchr(user.data, ':', user.len)) {
        other_user = 1;
    }

    if (changed || other_user) {
        FZ_CHECK(r.reason != PPROF_OK);
    } else {
        check_is_key(&r, i);
    }

    free(auth);
    free(b64);
    free(cred);
    pprof_apikeys_free(set);
}


/* Whether needle is in hay, ASCII case folded when fold is set. */
static int
contains(pprof_str_t hay, const unsigned char *needle, size_t n, int fold)
{
    size_t  i, j;
    int     a, b;

    for (i = 0; i + n <= hay.len; i++) {
        for (j = 0; j < n; j++) {
            a = hay.data[i + j];
            b = needle[j];
            if (fold) {
                a = (a >= 'A' && a <= 'Z') ? a | 0x20 : a;
            }
            if (a != b) {
                break;
            }
        }
        if (j == n) {
            return 1;
        }
    }

    return 0;
}


/* What was accepted is in the file: the identity, and a Bearer key's
 * SHA-256 (in either case of hex). */
static void
check_from_file(pprof_str_t file, pprof_str_t header,
    const pprof_auth_result_t *r)
{
    unsigned char  md[32], hex[64];
    size_t         i;

    FZ_CHECK(contains(file, r->identity, r->identity_len, 0));

    if (header.len < 7 || strncasecmp((const char *) header.data, "bearer ",
                                      7) != 0)
    {
        return;
    }

    for (i = 7; i < header.len && header.data[i] == ' '; i++) {
        /* the spaces after the scheme */
    }

    EVP_Digest(header.data + i, header.len - i, md, NULL, EVP_sha256(),
               NULL);
    for (i = 0; i < 32; i++) {
        hex[2 * i] = "0123456789abcdef"[md[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
    }

    FZ_CHECK(contains(file, hex, sizeof(hex), 1));
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pprof_auth_result_t  r;

    fz_t              in = { data, size };
    pprof_apikeys_t  *set;
    pprof_str_t       file, header;

    if (fz_u8(&in) & 1) {
        constructed(&in);
        return 0;
    }

    file = fz_until_nul(&in);
    header = fz_rest(&in);

    set = parse(file.data, file.len);
    if (set == NULL) {
        return 0;
    }

    identify(set, header, &r);

    if (r.reason == PPROF_OK) {
        check_from_file(file, header, &r);
    }

    pprof_apikeys_free(set);
    return 0;
}
