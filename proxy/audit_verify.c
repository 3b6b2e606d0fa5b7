/*
 * Reading an audit log back: the chain head a writer continues from, and
 * the verification behind `pprof-audit verify`.
 *
 * A log is a sequence of lines, each a record of proxy/audit.c: seq counts
 * from 1 by one, prev is the SHA-256 of the line before (64 zeros on the
 * first line), and checkpoints carry an Ed25519 signature over their own
 * line with the signature emptied.  Verification stops at the first line
 * that breaks any of this and names a seq and one of:
 *
 *   not JSON        the line does not parse, or is not an object
 *   not a record    it parses, but v, seq, stage, prev or signature are off
 *   line too long   longer than PPROF_AUDIT_LINE_MAX with its newline
 *   edited          the line is where it belongs but its bytes changed
 *   missing         seq N is absent (a line was deleted)
 *   reordered       seq N is present but elsewhere (lines moved, copied)
 *   bad signature   a checkpoint signature does not verify with the key
 *   truncated       the last line has no newline (a torn or cut write)
 *
 * A log must begin its own chain (seq 1, prev zeros): a log whose first
 * lines were cut off is reported as seq 1 missing, since nothing in the
 * file can tell a cut from a continuation.
 *
 * What no chain can catch: lines removed from the end, or an edit of the
 * last line (nothing after it holds its hash), or a rewrite that recomputes
 * every prev after it.  Only a checkpoint after the edit catches the last
 * two, which is why the writer signs one at shutdown.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "proxy.h"


/* The longest line without its newline: line and newline fit LINE_MAX. */
#define LINE_LEN_MAX     (PPROF_AUDIT_LINE_MAX - 1)

/* How much of the end of a log pprof_audit_head() reads. */
#define HEAD_WINDOW      65536

/* The reader's buffer: a whole line always fits. */
#define READ_BUF         65536

#if READ_BUF <= PPROF_AUDIT_LINE_MAX || HEAD_WINDOW < 2 * PPROF_AUDIT_LINE_MAX
#error "audit read buffers are smaller than a line"
#endif

#define JSON_FLAGS       (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)


static const char  zero_hash[PPROF_AUDIT_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";


/* What verification needs of a parsed line; the strings live in json. */
typedef struct {
    json_t      *json;
    uint64_t     seq;
    const char  *prev;
    int          checkpoint;
} record_t;


static int
is_hash(const char *s, size_t len)
{
    size_t  i;

    if (len != PPROF_AUDIT_HASH_HEX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }

    return 1;
}


/*
 * 0 with rec set (json_decref(rec->json) after), or the why of a failure.
 * Only what the chain rests on is checked, so that fields added to a
 * version 1 record later do not break old verifiers.
 */
static const char *
record_parse(const char *line, size_t len, record_t *rec)
{
    json_error_t  error;
    json_t       *json, *v;
    const char   *stage;

    memset(rec, 0, sizeof(*rec));

    json = json_loadb(line, len, JSON_FLAGS, &error);
    if (json == NULL) {
        return "not JSON";
    }

    if (!json_is_object(json)) {
        json_decref(json);
        return "not JSON";
    }

    rec->json = json;

    v = json_object_get(json, "v");
    if (!json_is_integer(v) || json_integer_value(v) != 1) {
        goto bad;
    }

    v = json_object_get(json, "seq");
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        goto bad;
    }
    rec->seq = (uint64_t) json_integer_value(v);

    v = json_object_get(json, "prev");
    if (!json_is_string(v)
        || !is_hash(json_string_value(v), json_string_length(v)))
    {
        goto bad;
    }
    rec->prev = json_string_value(v);

    stage = json_string_value(json_object_get(json, "stage"));
    if (stage == NULL) {
        goto bad;
    }

    if (strcmp(stage, "checkpoint") == 0) {
        if (!json_is_string(json_object_get(json, "signature"))) {
            goto bad;
        }
        rec->checkpoint = 1;

    } else if (strcmp(stage, "decision") != 0
               && strcmp(stage, "response") != 0)
    {
        goto bad;
    }

    return NULL;

bad:

    json_decref(json);
    rec->json = NULL;
    return "not a record";
}


/* Line reader. */

typedef struct {
    FILE    *file;
    char    *buf;
    size_t   pos, end;
    int      eof;
} reader_t;

typedef struct {
    const char  *data;
    size_t       len;
    int          newline;     /* 0: the file ends inside this line */
    int          too_long;    /* data is then only its last part */
} line_t;


/*
 * 1 with the next line, 0 at the end, -1 on a read error.  A line longer
 * than LINE_LEN_MAX is skipped through to its newline, however long, and
 * returned as too long.
 */
static int
reader_next(reader_t *r, line_t *line)
{
    char    *nl;
    size_t   n;
    int      skipping = 0;

    for ( ;; ) {
        nl = memchr(r->buf + r->pos, '\n', r->end - r->pos);

        if (nl != NULL) {
            line->data = r->buf + r->pos;
            line->len = (size_t) (nl - line->data);
            line->newline = 1;
            line->too_long = skipping || line->len > LINE_LEN_MAX;
            r->pos += line->len + 1;
            return 1;
        }

        if (r->end - r->pos > LINE_LEN_MAX) {
            skipping = 1;
            r->pos = r->end;
        }

        if (r->eof) {
            if (r->pos == r->end && !skipping) {
                return 0;
            }

            line->data = r->buf + r->pos;
            line->len = r->end - r->pos;
            line->newline = 0;
            line->too_long = skipping;
            r->pos = r->end;
            return 1;
        }

        memmove(r->buf, r->buf + r->pos, r->end - r->pos);
        r->end -= r->pos;
        r->pos = 0;

        n = fread(r->buf + r->end, 1, READ_BUF - r->end, r->file);
        if (n == 0) {
            if (ferror(r->file)) {
                return -1;
            }
            r->eof = 1;
        }
        r->end += n;
    }
}


/* Verification. */

typedef struct {
    reader_t      r;
    EVP_PKEY     *pubkey;
    uint64_t      expect;                        /* seq of the next line */
    char          prev[PPROF_AUDIT_HASH_HEX];    /* hash of the last line */
    uint64_t      records;
    uint64_t      checkpoints;
    uint64_t     *bad_seq;
    char         *why;
    size_t        whylen;
} verify_t;


static int
fail(verify_t *v, uint64_t seq, const char *why)
{
    *v->bad_seq = seq;
    snprintf(v->why, v->whylen, "%s", why);
    return -1;
}


static int
read_error(verify_t *v)
{
    *v->bad_seq = 0;
    snprintf(v->why, v->whylen, "read error: %s", strerror(errno));
    return -1;
}


/*
 * A seq that is not the next one, on a line that does not follow the one
 * before: lines were removed if seq never turns up again, and moved if it
 * does further down.  Reads the rest of the log.
 */
static int
seq_later(verify_t *v, uint64_t seq)
{
    record_t  rec;
    line_t    line;

    while (reader_next(&v->r, &line) == 1) {
        if (!line.newline || line.too_long
            || record_parse(line.data, line.len, &rec) != NULL)
        {
            continue;
        }

        json_decref(rec.json);

        if (rec.seq == seq) {
            return 1;
        }
    }

    return 0;
}


/*
 * A line in its place whose prev does not hash the line before: either
 * that line was edited, or this line's prev was.  The next line tells
 * which: if its prev is not this line's hash either, this line changed.
 * Without a usable next line the likelier edit, of content, is assumed.
 */
static int
this_line_changed(verify_t *v, const char hash[PPROF_AUDIT_HASH_HEX])
{
    record_t  rec;
    line_t    line;
    int       changed;

    if (reader_next(&v->r, &line) != 1 || !line.newline || line.too_long
        || record_parse(line.data, line.len, &rec) != NULL)
    {
        return 0;
    }

    changed = memcmp(rec.prev, hash, PPROF_AUDIT_HASH_HEX) != 0;
    json_decref(rec.json);
    return changed;
}


/*
 * The signed message is the line with the signature string emptied.  The
 * signature is found from the end, where the encoder puts it ahead of
 * prev, and must be the one JSON parsed and canonical base64: then the
 * line is the only one with that signature that rebuilds the message, and
 * a signature that verifies vouches for every byte of it.
 */
static int
signature_ok(verify_t *v, const line_t *line, const record_t *rec)
{
    static const char  sig_key[] = "\"signature\":\"";
    static const char  prev_key[] = "\",\"prev\":\"";

    char           msg[PPROF_AUDIT_LINE_MAX];
    const char    *p, *b64, *json_sig;
    size_t         tail, b64len, klen = sizeof(sig_key) - 1;

    /* ...,"signature":"<b64>","prev":"<64 hex>"} */
    tail = sizeof(prev_key) - 1 + PPROF_AUDIT_HASH_HEX + 2;
    if (line->len < tail + klen
        || memcmp(line->data + line->len - 2, "\"}", 2) != 0
        || memcmp(line->data + line->len - tail, prev_key,
                  sizeof(prev_key) - 1) != 0)
    {
        return 0;
    }

    p = line->data + line->len - tail;
    b64 = p;
    while (b64 > line->data
           && ((b64[-1] >= 'A' && b64[-1] <= 'Z')
               || (b64[-1] >= 'a' && b64[-1] <= 'z')
               || (b64[-1] >= '0' && b64[-1] <= '9')
               || b64[-1] == '+' || b64[-1] == '/' || b64[-1] == '='))
    {
        b64--;
    }
    b64len = (size_t) (p - b64);

    if (b64len != PPROF_SIG_B64_LEN || (size_t) (b64 - line->data) < klen
        || memcmp(b64 - klen, sig_key, klen) != 0)
    {
        return 0;
    }

    json_sig = json_string_value(json_object_get(rec->json, "signature"));
    if (json_sig == NULL || strlen(json_sig) != b64len
        || memcmp(json_sig, b64, b64len) != 0)
    {
        return 0;
    }

    memcpy(msg, line->data, (size_t) (b64 - line->data));
    memcpy(msg + (b64 - line->data), p, line->len - (size_t) (p - line->data));

    return pprof_sign_verify(v->pubkey, msg, line->len - b64len, b64, b64len);
}


/* 0 if the line holds, else -1 with the failure set. */
static int
verify_line(verify_t *v, const line_t *line)
{
    record_t     rec;
    const char  *why;
    char         hash[PPROF_AUDIT_HASH_HEX];
    int          follows, rc;

    if (!line->newline) {
        return fail(v, v->expect, "truncated");
    }

    if (line->too_long) {
        return fail(v, v->expect, "line too long");
    }

    why = record_parse(line->data, line->len, &rec);
    if (why != NULL) {
        return fail(v, v->expect, why);
    }

    pprof_audit_hash(line->data, line->len, hash);
    follows = memcmp(rec.prev, v->prev, PPROF_AUDIT_HASH_HEX) == 0;
    rc = 0;

    if (rec.seq != v->expect) {
        if (follows) {
            /* In its place, by the chain: its seq was changed. */
            rc = fail(v, v->expect, "edited");

        } else if (rec.seq > v->expect) {
            rc = fail(v, v->expect,
                      seq_later(v, v->expect) ? "reordered" : "missing");

        } else {
            /* Seen already, or not this log's: copied or moved back. */
            rc = fail(v, rec.seq, "reordered");
        }

    } else if (!follows) {
        /* The first line has no line before it to blame. */
        rc = fail(v, this_line_changed(v, hash) || v->expect == 1
                     ? v->expect : v->expect - 1, "edited");

    } else if (rec.checkpoint) {
        v->checkpoints++;

        if (v->pubkey != NULL && !signature_ok(v, line, &rec)) {
            rc = fail(v, rec.seq, "bad signature");
        }
    }

    json_decref(rec.json);

    if (rc == 0) {
        memcpy(v->prev, hash, PPROF_AUDIT_HASH_HEX);
        v->expect++;
        v->records++;
    }

    return rc;
}


/*
 * On success why says what was checked: "N records, M checkpoints
 * verified", or "... not verified: no public key".  N counts every line,
 * checkpoints included.
 */
int
pprof_audit_verify(const char *path, EVP_PKEY *pubkey, uint64_t *bad_seq,
    char *why, size_t whylen)
{
    verify_t  v;
    line_t    line;
    int       rc;

    memset(&v, 0, sizeof(v));
    v.pubkey = pubkey;
    v.expect = 1;
    memcpy(v.prev, zero_hash, PPROF_AUDIT_HASH_HEX);
    v.bad_seq = bad_seq;
    v.why = why;
    v.whylen = whylen;

    *bad_seq = 0;

    if (pubkey != NULL && !EVP_PKEY_is_a(pubkey, "ED25519")) {
        snprintf(why, whylen, "the public key is not an Ed25519 key");
        return -1;
    }

    v.r.file = fopen(path, "rb");
    if (v.r.file == NULL) {
        snprintf(why, whylen, "cannot open: %s", strerror(errno));
        return -1;
    }

    v.r.buf = malloc(READ_BUF);
    if (v.r.buf == NULL) {
        fclose(v.r.file);
        snprintf(why, whylen, "out of memory");
        return -1;
    }

    while ((rc = reader_next(&v.r, &line)) == 1) {
        if (verify_line(&v, &line) != 0) {
            break;
        }
    }

    if (rc < 0) {
        rc = read_error(&v);

    } else if (rc == 0) {
        if (pubkey != NULL) {
            snprintf(why, whylen, "%llu records, %llu checkpoints verified",
                     (unsigned long long) v.records,
                     (unsigned long long) v.checkpoints);
        } else {
            snprintf(why, whylen, "%llu records, %llu checkpoints not "
                     "verified: no public key",
                     (unsigned long long) v.records,
                     (unsigned long long) v.checkpoints);
        }

    } else {
        rc = -1;
    }

    free(v.r.buf);
    fclose(v.r.file);
    return rc;
}


/* Chain head. */

static int
head_error(char *err, size_t errlen, const char *path, const char *what)
{
    snprintf(err, errlen, "audit log \"%s\": %s", path, what);
    return -1;
}


/*
 * Only the end of the log is read, however big it is: the last complete
 * line and what precedes it fit the window, a line being at most
 * PPROF_AUDIT_LINE_MAX.  A last line without its newline is a write that
 * was torn (a crash, a full disk): it is no record, and the head is the
 * line before it.  The writer must not append right after such a
 * fragment, or the next record is glued to it.
 */
int
pprof_audit_head(const char *path, uint64_t *seq,
    char prev[PPROF_AUDIT_HASH_HEX], char *err, size_t errlen)
{
    struct stat   st;
    record_t      rec;
    const char   *why;
    char         *buf, *end, *start;
    off_t         off;
    size_t        want, got;
    ssize_t       n;
    int           fd;

    *seq = 0;
    memcpy(prev, zero_hash, PPROF_AUDIT_HASH_HEX);

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return errno == ENOENT ? 0 : head_error(err, errlen, path,
                                                strerror(errno));
    }

    if (fstat(fd, &st) == -1) {
        close(fd);
        return head_error(err, errlen, path, strerror(errno));
    }

    if (st.st_size == 0) {
        close(fd);
        return 0;
    }

    want = st.st_size > HEAD_WINDOW ? HEAD_WINDOW : (size_t) st.st_size;
    off = st.st_size - (off_t) want;

    buf = malloc(want);
    if (buf == NULL) {
        close(fd);
        return head_error(err, errlen, path, "out of memory");
    }

    for (got = 0; got < want; got += (size_t) n) {
        n = pread(fd, buf + got, want - got, off + (off_t) got);
        if (n == -1 && errno == EINTR) {
            n = 0;
            continue;
        }
        if (n <= 0) {
            free(buf);
            close(fd);
            return head_error(err, errlen, path,
                              n == 0 ? "shrank while read" : strerror(errno));
        }
    }

    close(fd);

    /* end: the newline of the last complete line. */
    for (end = buf + want; end > buf && end[-1] != '\n'; end--) {
        /* a torn last line */
    }

    if (end == buf) {
        free(buf);
        if (off == 0) {
            /* Only a torn first record: there is no head yet. */
            return 0;
        }
        return head_error(err, errlen, path,
                          "no complete line in its last 64 KiB");
    }

    end--;

    for (start = end; start > buf && start[-1] != '\n'; start--) {
        /* back to the line's start */
    }

    /* A line reaching back to the window's start may begin before it. */
    if ((start == buf && off != 0) || (size_t) (end - start) > LINE_LEN_MAX) {
        free(buf);
        return head_error(err, errlen, path, "the last line is too long");
    }

    why = record_parse(start, (size_t) (end - start), &rec);
    if (why != NULL) {
        free(buf);
        return head_error(err, errlen, path,
                          "the last line is not an audit record");
    }

    *seq = rec.seq;
    pprof_audit_hash(start, (size_t) (end - start), prev);

    json_decref(rec.json);
    free(buf);
    return 0;
}
