/*
 * The audit chain as a writer sees it: which lines are records of it,
 * where it resumes in an existing log (the seq and hash of its last
 * complete line), so that a restart goes on with the chain rather than
 * starting a new one, and how it moves on: each line links to the one
 * before, and a signed checkpoint follows every so many records.  Where
 * the lines go (a file, syslog) is the caller's sink.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "proxy.h"
#include "audit_line.h"


/* How much of the end of a log pprof_audit_head() reads. */
#define HEAD_WINDOW      65536

#if HEAD_WINDOW < 2 * PPROF_AUDIT_LINE_MAX
#error "the audit head window is smaller than two lines"
#endif

#define JSON_FLAGS       (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)


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
 * Only what the chain rests on is checked, so that fields added to a
 * version 1 record later do not break old verifiers.
 */
const char *
pprof_audit_parse_line(const char *line, size_t len,
    pprof_audit_parsed_t *rec)
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
    int                   fd;
    char                 *buf, *end, *start;
    off_t                 off;
    size_t                want, got;
    ssize_t               n;
    const char           *why;
    struct stat           st;
    pprof_audit_parsed_t  rec;

    *seq = 0;
    memcpy(prev, PPROF_AUDIT_ZERO_HASH, PPROF_AUDIT_HASH_HEX);

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
    if ((start == buf && off != 0)
        || (size_t) (end - start) > PPROF_AUDIT_LINE_LEN_MAX)
    {
        free(buf);
        return head_error(err, errlen, path, "the last line is too long");
    }

    why = pprof_audit_parse_line(start, (size_t) (end - start), &rec);
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


void
pprof_audit_chain_init(pprof_audit_chain_t *c)
{
    memset(c, 0, sizeof(*c));
    memcpy(c->prev, PPROF_AUDIT_ZERO_HASH, PPROF_AUDIT_HASH_HEX);
}


/* The chain takes a line (len 0: it could not be encoded) once it is out. */
static int
chain_put(pprof_audit_chain_t *c, const pprof_audit_writer_t *w, size_t len)
{
    if (len == 0) {
        w->unencodable(w->data, c->seq + 1);
        return -1;
    }

    if (w->write(w->data, w->line, len) != 0) {
        return -1;
    }

    pprof_audit_hash(w->line, len, c->prev);
    c->seq++;
    c->since_checkpoint++;

    return 0;
}


/* Every line of a chain names its writer's gateway, whatever rec said. */
int
pprof_audit_chain_append(pprof_audit_chain_t *c,
    const pprof_audit_writer_t *w, const pprof_audit_record_t *rec)
{
    size_t                len;
    pprof_audit_record_t  stamped;

    stamped = *rec;
    stamped.gateway = w->gateway;

    len = pprof_audit_encode(w->line, PPROF_AUDIT_LINE_MAX, &stamped,
                             c->seq + 1, c->prev, NULL);

    if (chain_put(c, w, len) != 0) {
        return -1;
    }

    if (w->every != 0 && c->since_checkpoint >= w->every) {
        (void) pprof_audit_chain_checkpoint(c, w, rec->time_us);
    }

    return 0;
}


int
pprof_audit_chain_checkpoint(pprof_audit_chain_t *c,
    const pprof_audit_writer_t *w, uint64_t time_us)
{
    size_t                len;
    pprof_audit_record_t  cp;

    if (w->key == NULL) {
        return 0;
    }

    memset(&cp, 0, sizeof(cp));
    cp.stage = PPROF_AUDIT_CHECKPOINT;
    cp.time_us = time_us;
    cp.records = c->since_checkpoint;
    cp.gateway = w->gateway;

    len = pprof_audit_checkpoint(w->line, PPROF_AUDIT_LINE_MAX, &cp,
                                 c->seq + 1, c->prev, w->key);

    if (chain_put(c, w, len) != 0) {
        return -1;
    }

    c->since_checkpoint = 0;
    return 0;
}
