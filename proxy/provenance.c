/*
 * Provenance (SPEC §9): the comment lines a profile carries, the statement
 * its seal signs, and their protobuf encoding.  pprof-audit verify-profile
 * rebuilds the statement and the encoding from the lines it reads, so
 * every byte here is part of the format.
 */

#include <stdio.h>
#include <string.h>

#include "proxy.h"
#include "text.h"


/* Profile fields (PPROF_FACTS.md): string_table 6 (bytes), comment 13. */
#define TAG_STRING_TABLE  ((6u << 3) | 2)
#define TAG_COMMENT       ((13u << 3) | 0)

#define STATEMENT_HEAD    "pprof-gateway-seal/1\n"


/*
 * A field's value with space, '%' and every byte that is not printable
 * ASCII as %XX: fields are separated by spaces, so an identity such as
 * "alice roles=admin" cannot pass for two fields, and the line is
 * plain text whatever the credential carried.  A bare "-" says "none",
 * so a value that is exactly "-" is written "%2D".
 */
static void
put_field(pprof_text_t *l, pprof_str_t v)
{
    static const char  hex[] = "0123456789ABCDEF";

    char    esc[3];
    size_t  i;

    if (v.len == 0) {
        pprof_text_put(l, "-", 1);
        return;
    }

    for (i = 0; i < v.len; i++) {
        if (v.data[i] > 0x20 && v.data[i] < 0x7f && v.data[i] != '%'
            && (v.data[i] != '-' || v.len > 1))
        {
            pprof_text_put(l, (const char *) &v.data[i], 1);
            continue;
        }

        esc[0] = '%';
        esc[1] = hex[v.data[i] >> 4];
        esc[2] = hex[v.data[i] & 0x0f];
        pprof_text_put(l, esc, 3);
    }
}


/* "pprof-gateway: " and the line's first field. */
static void
line_start(pprof_text_t *l, char *buf, const char *key, pprof_str_t value)
{
    l->p = buf;
    l->left = PPROF_COMMENT_LINE_MAX;
    l->full = 0;

    pprof_text_put(l, PPROF_COMMENT_PREFIX, sizeof(PPROF_COMMENT_PREFIX) - 1);
    pprof_text_put(l, key, strlen(key));
    put_field(l, value);
}


static int
line_end(pprof_text_t *l)
{
    if (l->full) {
        return -1;
    }

    *l->p = '\0';
    return 0;
}


int
pprof_provenance_lines(const pprof_provenance_t *p,
    char line1[PPROF_COMMENT_LINE_MAX], char line2[PPROF_COMMENT_LINE_MAX])
{
    char         ts[PPROF_RFC3339_LEN];
    size_t       i;
    pprof_text_t       l;
    pprof_str_t  none = { NULL, 0 };

    line_start(&l, line1, "audit_id=", p->audit_id);
    pprof_text_put(&l, " identity=", 10);
    put_field(&l, p->identity);
    pprof_text_put(&l, " roles=", 7);

    if (p->nroles == 0) {
        put_field(&l, none);
    }

    for (i = 0; i < p->nroles; i++) {
        if (i > 0) {
            pprof_text_put(&l, ",", 1);
        }
        put_field(&l, p->roles[i]);
    }

    if (line_end(&l) != 0 || pprof_rfc3339(ts, p->time_us) != 0) {
        return -1;
    }

    line_start(&l, line2, "endpoint=", p->endpoint);
    pprof_text_put(&l, " params=", 8);
    put_field(&l, p->params);
    pprof_text_put(&l, " upstream=", 10);
    put_field(&l, p->upstream);
    pprof_text_put(&l, " at=", 4);
    pprof_text_put(&l, ts, strlen(ts));

    return line_end(&l);
}


int
pprof_gateway_mark(int state, const unsigned char *p, size_t len)
{
    static const char  mark[] = "pprof-gateway:";

    size_t         i;
    int            k;
    unsigned char  c;

    for (i = 0; i < len && state < PPROF_GATEWAY_MARK_YES; i++) {

        /* Most bytes are no 'p' and need no more than a look. */
        if (state == 0) {
            while (i < len && (p[i] | 0x20) != 'p') {
                i++;
            }

            if (i == len) {
                break;
            }
        }

        c = p[i];

        /* What a terminal shows as nothing neither makes nor breaks it. */
        if (c < 0x20 || c == 0x7f) {
            continue;
        }

        if (c >= 'A' && c <= 'Z') {
            c += 'a' - 'A';
        }

        /*
         * What came before is the mark's first "state" bytes: keep the
         * longest start of the mark that also ends with c
         * ("ppprof-gateway:" is one).
         */
        for (k = state + 1; k > 0; k--) {
            if ((unsigned char) mark[k - 1] == c
                && memcmp(mark, mark + state + 1 - k, k - 1) == 0)
            {
                break;
            }
        }

        state = k;
    }

    return state;
}


void
pprof_provenance_sha_line(const unsigned char sha256[32],
    char line[PPROF_SHA256_LINE_LEN + 1])
{
    static const char  hex[] = "0123456789abcdef";

    size_t  i, n;

    n = sizeof(PPROF_COMMENT_PREFIX "upstream_sha256=") - 1;
    memcpy(line, PPROF_COMMENT_PREFIX "upstream_sha256=", n);

    for (i = 0; i < 32; i++) {
        line[n++] = hex[sha256[i] >> 4];
        line[n++] = hex[sha256[i] & 0x0f];
    }

    line[n] = '\0';
}


size_t
pprof_seal_statement(char *buf, size_t cap, const pprof_str_t lines[3],
    uint64_t upstream_bytes, const unsigned char *gzip_header,
    size_t header_len)
{
    static const char  hex[] = "0123456789abcdef";

    char    num[32];
    size_t  i;
    pprof_text_t  l;

    l.p = buf;
    l.left = cap;
    l.full = cap == 0;

    pprof_text_put(&l, STATEMENT_HEAD, sizeof(STATEMENT_HEAD) - 1);

    for (i = 0; i < 3; i++) {
        pprof_text_put(&l, (const char *) lines[i].data, lines[i].len);
        pprof_text_put(&l, "\n", 1);
    }

    snprintf(num, sizeof(num), "%llu", (unsigned long long) upstream_bytes);
    pprof_text_put(&l, "upstream_bytes=", 15);
    pprof_text_put(&l, num, strlen(num));
    pprof_text_put(&l, "\ngzip_header=", 13);

    for (i = 0; i < header_len; i++) {
        pprof_text_put(&l, &hex[gzip_header[i] >> 4], 1);
        pprof_text_put(&l, &hex[gzip_header[i] & 0x0f], 1);
    }

    pprof_text_put(&l, "\n", 1);

    if (line_end(&l) != 0) {
        return 0;
    }

    return (size_t) (l.p - buf);
}


int
pprof_seal_line(EVP_PKEY *key, const char *statement, size_t len,
    char line[PPROF_SEAL_LINE_LEN + 1])
{
    size_t  n;

    n = sizeof(PPROF_COMMENT_PREFIX "seal=") - 1;
    memcpy(line, PPROF_COMMENT_PREFIX "seal=", n);

    return pprof_sign(key, statement, len, line + n);
}


static size_t
put_varint(unsigned char *p, uint64_t v)
{
    size_t  n;

    for (n = 0; v >= 0x80; n++) {
        p[n] = (unsigned char) (v | 0x80);
        v >>= 7;
    }

    p[n++] = (unsigned char) v;
    return n;
}


size_t
pprof_provenance_encode(unsigned char *buf, size_t cap,
    const pprof_str_t *lines, size_t nlines, uint64_t nstrings)
{
    unsigned char  tmp[1 + 10];
    size_t         i, n, len;

    len = 0;

    /* Tag and length take at most 11 bytes: check before writing. */
    for (i = 0; i < nlines; i++) {
        tmp[0] = TAG_STRING_TABLE;
        n = 1 + put_varint(tmp + 1, lines[i].len);

        if (cap - len < n || cap - len - n < lines[i].len) {
            return 0;
        }

        memcpy(buf + len, tmp, n);
        memcpy(buf + len + n, lines[i].data, lines[i].len);
        len += n + lines[i].len;
    }

    for (i = 0; i < nlines; i++) {
        tmp[0] = TAG_COMMENT;
        n = 1 + put_varint(tmp + 1, nstrings + i);

        if (cap - len < n) {
            return 0;
        }

        memcpy(buf + len, tmp, n);
        len += n;
    }

    return len;
}
