/*
 * pprof-audit verify: reading an audit log back and checking its chain.
 *
 * A log is a sequence of lines, each a record of proxy/audit.c: seq counts
 * by one, prev is the SHA-256 of the line before (64 zeros on the first
 * line of a chain), and checkpoints carry an Ed25519 signature over their
 * own line with the signature emptied.  Verification stops at the first
 * line that breaks any of this and names a seq and one of:
 *
 *   not JSON        the line does not parse, or is not an object
 *   not a record    it parses, but v, seq, stage, prev or signature are off
 *   line too long   longer than PPROF_AUDIT_LINE_MAX with its newline
 *   edited          the line is where it belongs but its bytes changed
 *   missing         seq N is absent (a line was deleted, or lost between
 *                   two segments)
 *   reordered       seq N is present but elsewhere (lines moved, copied)
 *   new chain       a later segment starts over at seq 1
 *   bad signature   a checkpoint signature does not verify with the key
 *   truncated       a segment's last line has no newline (a torn or cut
 *                   write)
 *
 * A log rotated by renaming goes on in the next file (the writer keeps its
 * head), so the segments, oldest first, are read as one sequence of lines:
 * the first line of a segment must follow the last line of the one before
 * like any other line.  The oldest segment may begin mid-chain (its
 * predecessors deleted): it is verified from its first record, whose prev
 * is then taken on trust, and the report says from which seq.  Nothing in
 * a file tells a cut at its head from a rotation, so only that report
 * shows a cut there.
 *
 * What no chain can catch: lines removed from the end, or an edit of the
 * last line (nothing after it holds its hash), or a rewrite that recomputes
 * every prev after it.  Only a checkpoint after the edit catches the last
 * two, which is why the writer signs one at shutdown, why a log with no
 * checkpoint fails when a key is given, and why the seqs after the last
 * checkpoint are reported as unsigned.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "verify.h"
#include "audit_line.h"


/* The reader's buffer: a whole line always fits. */
#define READ_BUF         65536

#if READ_BUF <= PPROF_AUDIT_LINE_MAX
#error "the audit reader's buffer is smaller than a line"
#endif


/*
 * Line reader: the segments one after the other.  Through zlib, which
 * reads a file that is not gzip'd as it is, so that segments logrotate
 * compressed verify as they lie.
 */

typedef struct {
    const char *const  *paths;
    size_t              n;
    size_t              next;         /* of paths, to open after file */
    const char         *path;         /* of file */
    gzFile              file;         /* NULL between segments */
    char               *buf;
    size_t              pos, end;
    int                 eof;          /* of file */
    int                 fresh;        /* no line of file returned yet */
    char                err[128];     /* why reader_next() returned -1 */
} reader_t;

typedef struct {
    const char  *data;
    size_t       len;
    int          newline;     /* 0: the segment ends inside this line */
    int          too_long;    /* data is then only its last part */
    int          first;       /* the first line of its segment */
    const char  *path;        /* its segment */
} line_t;


/*
 * 1 with the next line, 0 after the last segment, -1 on an open or read
 * error.  A line longer than PPROF_AUDIT_LINE_LEN_MAX is skipped through to its
 * newline, however long, and returned as too long.  A line never spans
 * two segments.
 */
static int
reader_next(reader_t *r, line_t *line)
{
    char        *nl;
    const char  *msg;
    int          n, zerr, skipping = 0;

    for ( ;; ) {
        if (r->file == NULL) {
            if (r->next == r->n) {
                return 0;
            }

            r->path = r->paths[r->next++];
            r->file = gzopen(r->path, "rb");
            if (r->file == NULL) {
                snprintf(r->err, sizeof(r->err), "%s", strerror(errno));
                return -1;
            }

            r->pos = 0;
            r->end = 0;
            r->eof = 0;
            r->fresh = 1;
        }

        line->path = r->path;
        line->first = r->fresh;

        nl = memchr(r->buf + r->pos, '\n', r->end - r->pos);

        if (nl != NULL) {
            line->data = r->buf + r->pos;
            line->len = (size_t) (nl - line->data);
            line->newline = 1;
            line->too_long = skipping || line->len > PPROF_AUDIT_LINE_LEN_MAX;
            r->pos += line->len + 1;
            r->fresh = 0;
            return 1;
        }

        if (r->end - r->pos > PPROF_AUDIT_LINE_LEN_MAX) {
            skipping = 1;
            r->pos = r->end;
        }

        if (r->eof) {
            if (r->pos == r->end && !skipping) {
                gzclose(r->file);
                r->file = NULL;
                continue;
            }

            line->data = r->buf + r->pos;
            line->len = r->end - r->pos;
            line->newline = 0;
            line->too_long = skipping;
            r->pos = r->end;
            r->fresh = 0;
            return 1;
        }

        memmove(r->buf, r->buf + r->pos, r->end - r->pos);
        r->end -= r->pos;
        r->pos = 0;

        n = gzread(r->file, r->buf + r->end, (unsigned) (READ_BUF - r->end));
        if (n < 0) {
            /* zlib's message is "<path>: <what>": the path is said apart. */
            msg = gzerror(r->file, &zerr);
            if (zerr == Z_ERRNO) {
                msg = strerror(errno);

            } else if (strncmp(msg, r->path, strlen(r->path)) == 0
                       && strncmp(msg + strlen(r->path), ": ", 2) == 0)
            {
                msg += strlen(r->path) + 2;
            }

            snprintf(r->err, sizeof(r->err), "%s", msg);
            return -1;
        }

        if (n == 0) {
            r->eof = 1;
        }
        r->end += (size_t) n;
    }
}


/* Verification. */

typedef struct {
    reader_t               r;
    EVP_PKEY              *pubkey;
    uint64_t               expect;                   /* seq of the next line */
    char                   prev[PPROF_AUDIT_HASH_HEX]; /* hash of the last */
    const char            *prev_path;                /* the last's segment */
    pprof_audit_report_t  *rep;
} verify_t;


static int fail(verify_t *v, uint64_t seq, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
fail(verify_t *v, uint64_t seq, const char *path, const char *fmt, ...)
{
    va_list  args;

    v->rep->bad_seq = seq;
    v->rep->bad_path = path;

    va_start(args, fmt);
    vsnprintf(v->rep->why, sizeof(v->rep->why), fmt, args);
    va_end(args);

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
    line_t                line;
    pprof_audit_parsed_t  rec;

    while (reader_next(&v->r, &line) == 1) {
        if (!line.newline || line.too_long
            || pprof_audit_parse_line(line.data, line.len, &rec) != NULL)
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
    int                   changed;
    line_t                line;
    pprof_audit_parsed_t  rec;

    if (reader_next(&v->r, &line) != 1 || !line.newline || line.too_long
        || pprof_audit_parse_line(line.data, line.len, &rec) != NULL)
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
signature_ok(verify_t *v, const line_t *line,
    const pprof_audit_parsed_t *rec)
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


/*
 * The first line of a segment that does not follow the last line of the
 * segment before.  Said in terms of rotation, which is where the two
 * files were cut: a rotation that copies the live file and then
 * truncates it loses what was written in between, and a start on an empty
 * file begins a new chain.
 */
static int
segment_break(verify_t *v, const line_t *line, const pprof_audit_parsed_t *rec,
    const char hash[PPROF_AUDIT_HASH_HEX])
{
    uint64_t  last = v->expect - 1, seq = rec->seq;

    if (seq == 1
        && memcmp(rec->prev, PPROF_AUDIT_ZERO_HASH, PPROF_AUDIT_HASH_HEX) == 0)
    {
        return fail(v, 1, line->path, "new chain: it starts over at seq 1 "
                    "after seq %" PRIu64 " in %s (nginx started on an empty "
                    "log, or the segments are not oldest first)", last,
                    v->prev_path);
    }

    if (seq > v->expect) {
        if (seq_later(v, v->expect)) {
            return fail(v, v->expect, line->path, "reordered");
        }

        return fail(v, v->expect, line->path, "missing: %s ends at seq %"
                    PRIu64 " and %s begins at seq %" PRIu64, v->prev_path,
                    last, line->path, seq);
    }

    if (seq < v->expect) {
        return fail(v, seq, line->path, "reordered: it begins at seq %"
                    PRIu64 ", but %s ends at seq %" PRIu64 ": segments "
                    "overlap or are not oldest first", seq, v->prev_path,
                    last);
    }

    if (this_line_changed(v, hash)) {
        return fail(v, seq, line->path, "edited");
    }

    return fail(v, last, v->prev_path, "edited");
}


/* 0 if the line holds, else -1 with the failure set. */
static int
verify_line(verify_t *v, const line_t *line)
{
    int                   follows, rc;
    char                  hash[PPROF_AUDIT_HASH_HEX];
    const char           *why;
    pprof_audit_parsed_t  rec;

    if (!line->newline) {
        return fail(v, v->expect, line->path, "truncated");
    }

    if (line->too_long) {
        return fail(v, v->expect, line->path, "line too long");
    }

    why = pprof_audit_parse_line(line->data, line->len, &rec);
    if (why != NULL) {
        return fail(v, v->expect, line->path, "%s", why);
    }

    /*
     * The oldest segment may begin mid-chain: its first prev is then taken
     * on trust.  A zero prev claims the start of a chain, whatever seq says.
     */
    if (v->rep->records == 0 && rec.seq > 1
        && memcmp(rec.prev, PPROF_AUDIT_ZERO_HASH, PPROF_AUDIT_HASH_HEX) != 0)
    {
        v->expect = rec.seq;
        memcpy(v->prev, rec.prev, PPROF_AUDIT_HASH_HEX);
    }

    pprof_audit_hash(line->data, line->len, hash);
    follows = memcmp(rec.prev, v->prev, PPROF_AUDIT_HASH_HEX) == 0;
    rc = 0;

    if (line->first && v->rep->records > 0
        && (rec.seq != v->expect || !follows))
    {
        rc = segment_break(v, line, &rec, hash);

    } else if (rec.seq != v->expect) {
        if (follows) {
            /* In its place, by the chain: its seq was changed. */
            rc = fail(v, v->expect, line->path, "edited");

        } else if (rec.seq > v->expect) {
            rc = fail(v, v->expect, line->path, "%s",
                      seq_later(v, v->expect) ? "reordered" : "missing");

        } else {
            /* Seen already, or not this log's: copied or moved back. */
            rc = fail(v, rec.seq, line->path, "reordered");
        }

    } else if (!follows) {
        /* The first line has no line before it to blame. */
        if (this_line_changed(v, hash) || v->rep->records == 0) {
            rc = fail(v, v->expect, line->path, "edited");
        } else {
            rc = fail(v, v->expect - 1, v->prev_path, "edited");
        }

    } else if (rec.checkpoint && v->pubkey != NULL
               && !signature_ok(v, line, &rec))
    {
        rc = fail(v, rec.seq, line->path, "bad signature");
    }

    if (rc == 0) {
        if (v->rep->records == 0) {
            v->rep->from = rec.seq;
        }

        if (rec.checkpoint) {
            v->rep->checkpoints++;
            v->rep->signed_to = rec.seq;
        }

        memcpy(v->prev, hash, PPROF_AUDIT_HASH_HEX);
        v->prev_path = line->path;
        v->rep->to = rec.seq;
        v->rep->records++;
        v->expect++;
    }

    json_decref(rec.json);
    return rc;
}


/*
 * What a log that holds proves, in why: "N records, M checkpoints
 * verified" (N counts every line, checkpoints included), where it began
 * if not at seq 1, and the seqs that no checkpoint signs.  With a key, a
 * log that has no checkpoint proves nothing signed, and fails.
 */
static int
summary(verify_t *v)
{
    pprof_audit_report_t  *rep = v->rep;
    char                   from[128] = "", tail[96] = "";

    if (v->pubkey != NULL && rep->checkpoints == 0) {
        if (rep->records == 0) {
            return fail(v, 0, NULL, "no checkpoint: the log is empty");
        }

        return fail(v, 0, NULL, "no checkpoint: seq %" PRIu64 " to %" PRIu64
                    " are not signed", rep->from, rep->to);
    }

    if (rep->from > 1) {
        snprintf(from, sizeof(from), " from seq %" PRIu64 " (the log given "
                 "begins there: its prev is not checked)", rep->from);
    }

    if (v->pubkey != NULL && rep->signed_to + 1 == rep->to) {
        snprintf(tail, sizeof(tail), "; seq %" PRIu64 ", after the last "
                 "checkpoint, is unsigned", rep->to);

    } else if (v->pubkey != NULL && rep->signed_to < rep->to) {
        snprintf(tail, sizeof(tail), "; seq %" PRIu64 " to %" PRIu64
                 ", after the last checkpoint, are unsigned",
                 rep->signed_to + 1, rep->to);
    }

    snprintf(rep->why, sizeof(rep->why), "%" PRIu64 " records%s, %" PRIu64
             " checkpoints %s%s", rep->records, from, rep->checkpoints,
             v->pubkey != NULL ? "verified" : "not verified: no public key",
             tail);

    return 0;
}


int
pprof_audit_verify_segments(const char *const *paths, size_t n,
    EVP_PKEY *pubkey, pprof_audit_report_t *report)
{
    verify_t  v;
    line_t    line;
    size_t    i;
    int       fd, rc;

    memset(report, 0, sizeof(*report));
    memset(&v, 0, sizeof(v));
    v.rep = report;
    v.pubkey = pubkey;
    v.expect = 1;
    memcpy(v.prev, PPROF_AUDIT_ZERO_HASH, PPROF_AUDIT_HASH_HEX);

    if (pubkey != NULL && !EVP_PKEY_is_a(pubkey, "ED25519")) {
        return fail(&v, 0, NULL, "the public key is not an Ed25519 key");
    }

    if (n == 0) {
        return fail(&v, 0, NULL, "no log given");
    }

    /* Every segment can be opened before any seq is judged. */
    for (i = 0; i < n; i++) {
        fd = open(paths[i], O_RDONLY | O_CLOEXEC);
        if (fd == -1) {
            return fail(&v, 0, paths[i], "cannot open: %s", strerror(errno));
        }
        close(fd);
    }

    v.r.paths = paths;
    v.r.n = n;
    v.r.buf = malloc(READ_BUF);
    if (v.r.buf == NULL) {
        return fail(&v, 0, NULL, "out of memory");
    }

    while ((rc = reader_next(&v.r, &line)) == 1) {
        if (verify_line(&v, &line) != 0) {
            break;
        }
    }

    if (rc < 0) {
        rc = fail(&v, 0, v.r.path, "read error: %s", v.r.err);

    } else if (rc == 0) {
        rc = summary(&v);

    } else {
        rc = -1;
    }

    if (v.r.file != NULL) {
        gzclose(v.r.file);
    }

    free(v.r.buf);
    return rc;
}


int
pprof_audit_verify(const char *path, EVP_PKEY *pubkey, uint64_t *bad_seq,
    char *why, size_t whylen)
{
    pprof_audit_report_t  report;
    int                   rc;

    rc = pprof_audit_verify_segments(&path, 1, pubkey, &report);

    *bad_seq = report.bad_seq;
    snprintf(why, whylen, "%s", report.why);

    return rc;
}
