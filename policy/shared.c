/*
 * The Redis commands of a shared capture admission, and the script's
 * answer read back.  Keys:
 *
 *   <prefix>{<target>}:rate:<class>:<identity>   the identity's bucket
 *   <prefix>{<target>}:slots:<endpoint>          leases, owner -> times
 *   <prefix>{<target>}:tomb:<owner>              a release came first
 *   <prefix>{<target>}:budget:<window ms>        capture ms per slice,
 *                                                one per window length
 *
 * The braces are Redis Cluster's hash tag: a target's keys share a slot,
 * so that one script may touch them all.  A location's own target is
 * "@" and its name, and a pprof_target value's leading '@' is escaped, so
 * that no value names a location's own state.
 */

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "policy.h"


/*
 * Escaped parts longer than these are replaced by "%#" and their SHA-256
 * in hex, which no escaped part can be: the command stays small whatever
 * a client sends.
 */
#define SHARED_TARGET_MAX    128
#define SHARED_IDENTITY_MAX   64
#define SHARED_OWNER_MAX      96
#define SHARED_ENDPOINT_MAX   64

/* Lua's numbers are doubles: integers are exact below 2^53. */
#define SHARED_NUMBER_MAX  ((uint64_t) 1 << 53)

/* How a part is escaped. */
#define SHARED_COLON  1                  /* ':' stays, as in the prefix */
#define SHARED_AT     2                  /* a leading '@' does not */


typedef struct {
    pprof_shared_cmd_t  *cmd;
    size_t               len;            /* of cmd->buf used */
    size_t               start;          /* of the argument being written */
    int                  failed;
} shared_writer_t;


static void shared_begin(shared_writer_t *w);
static void shared_end(shared_writer_t *w);
static void shared_arg(shared_writer_t *w, const char *s);
static void shared_static(shared_writer_t *w, const char *s, size_t len);
static void shared_bytes(shared_writer_t *w, const void *data, size_t len);
static void shared_number(shared_writer_t *w, uint64_t n);
static void shared_number_arg(shared_writer_t *w, uint64_t n);
static int shared_plain(pprof_str_t s, size_t i, int how);
static void shared_escape(shared_writer_t *w, pprof_str_t s, int how);
static void shared_part(shared_writer_t *w, pprof_str_t s, size_t max,
    int how);
static void shared_key(shared_writer_t *w, const pprof_shared_key_t *key,
    const char *kind);
static void shared_head(shared_writer_t *w, pprof_shared_cmd_t *cmd,
    const char *sha1, int nkeys);


int
pprof_shared_script_sha1(char sha1[PPROF_SHARED_SHA1_HEX + 1])
{
    static const char  hex[] = "0123456789abcdef";

    size_t         i;
    unsigned int   n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (EVP_Digest(pprof_shared_script, strlen(pprof_shared_script), md, &n,
                   EVP_sha1(), NULL)
        != 1 || n * 2 != PPROF_SHARED_SHA1_HEX)
    {
        return -1;
    }

    for (i = 0; i < n; i++) {
        sha1[2 * i] = hex[md[i] >> 4];
        sha1[2 * i + 1] = hex[md[i] & 0xf];
    }

    sha1[PPROF_SHARED_SHA1_HEX] = '\0';

    return 0;
}


int
pprof_shared_admit_cmd(const pprof_pipeline_conf_t *conf,
    const pprof_decision_t *d, const pprof_shared_key_t *key,
    const char *sha1, pprof_shared_cmd_t *cmd)
{
    size_t               i, others;
    uint64_t             capture_ms;
    shared_writer_t      w;
    const pprof_rate_t  *rate;

    if ((unsigned) d->endpoint.cls >= PPROF_CLASS_COUNT) {
        return -1;
    }

    rate = &conf->rates[d->endpoint.cls];
    capture_ms = d->params.seconds_us / 1000;

    /* The budget's other windows: none when this location has no budget. */
    others = 0;

    if (conf->budget.limit) {
        for (i = 0; i < key->nwindows; i++) {
            others += (key->windows[i] != conf->budget.window);
        }
    }

    if (others > PPROF_SHARED_WINDOWS_MAX) {
        return -1;
    }

    shared_head(&w, cmd, sha1, 4 + (int) others);

    shared_begin(&w);
    shared_key(&w, key, "rate:");
    shared_arg(&w, pprof_class_name(d->endpoint.cls));
    shared_arg(&w, ":");
    shared_part(&w, d->identity, SHARED_IDENTITY_MAX, 0);
    shared_end(&w);

    shared_begin(&w);
    shared_key(&w, key, "slots:");
    shared_part(&w, d->endpoint.name, SHARED_ENDPOINT_MAX, 0);
    shared_end(&w);

    shared_begin(&w);
    shared_key(&w, key, "tomb:");
    shared_part(&w, key->token, SHARED_OWNER_MAX, 0);
    shared_end(&w);

    shared_begin(&w);
    shared_key(&w, key, "budget:");
    shared_number(&w, conf->budget.window);
    shared_end(&w);

    for (i = 0; others && i < key->nwindows; i++) {
        if (key->windows[i] != conf->budget.window) {
            shared_begin(&w);
            shared_key(&w, key, "budget:");
            shared_number(&w, key->windows[i]);
            shared_end(&w);
        }
    }

    shared_static(&w, "admit", 5);
    shared_static(&w, conf->enforce ? "1" : "0", 1);

    shared_begin(&w);
    shared_part(&w, key->token, SHARED_OWNER_MAX, 0);
    shared_end(&w);

    shared_number_arg(&w, rate->rate);
    shared_number_arg(&w, rate->burst);
    shared_number_arg(&w, conf->concurrency);
    shared_number_arg(&w, capture_ms);

    /* Answering a proxy's check, nothing gives the lease back. */
    shared_static(&w, conf->authz ? "1" : "0", 1);

    shared_number_arg(&w, conf->budget.limit);
    shared_number_arg(&w, conf->budget.window);
    shared_number_arg(&w, PPROF_BUDGET_BUCKETS);
    shared_number_arg(&w, PPROF_LEASE_MARGIN);

    for (i = 0; others && i < key->nwindows; i++) {
        if (key->windows[i] != conf->budget.window) {
            shared_number_arg(&w, key->windows[i]);
        }
    }

    if (conf->concurrency == 0 || key->target.len == 0) {
        w.failed = 1;
    }

    return w.failed ? -1 : 0;
}


int
pprof_shared_release_cmd(pprof_str_t endpoint, uint64_t capture_ms,
    uint64_t settle_ms, const pprof_shared_key_t *key, const char *sha1,
    pprof_shared_cmd_t *cmd)
{
    shared_writer_t  w;

    shared_head(&w, cmd, sha1, 2);

    shared_begin(&w);
    shared_key(&w, key, "slots:");
    shared_part(&w, endpoint, SHARED_ENDPOINT_MAX, 0);
    shared_end(&w);

    shared_begin(&w);
    shared_key(&w, key, "tomb:");
    shared_part(&w, key->token, SHARED_OWNER_MAX, 0);
    shared_end(&w);

    shared_static(&w, "release", 7);

    shared_begin(&w);
    shared_part(&w, key->token, SHARED_OWNER_MAX, 0);
    shared_end(&w);

    /* As long as the lease an admission in flight could still take. */
    shared_number_arg(&w, capture_ms + PPROF_LEASE_MARGIN);
    shared_number_arg(&w, settle_ms);

    if (key->target.len == 0 || capture_ms >= SHARED_NUMBER_MAX) {
        w.failed = 1;
    }

    return w.failed ? -1 : 0;
}


/* EVALSHA sha1 nkeys, or EVAL with the script's text. */
static void
shared_head(shared_writer_t *w, pprof_shared_cmd_t *cmd, const char *sha1,
    int nkeys)
{
    w->cmd = cmd;
    w->len = 0;
    w->failed = 0;
    cmd->argc = 0;

    if (sha1) {
        shared_static(w, "EVALSHA", 7);
        shared_static(w, sha1, strlen(sha1));

    } else {
        shared_static(w, "EVAL", 4);
        shared_static(w, pprof_shared_script, strlen(pprof_shared_script));
    }

    shared_number_arg(w, (uint64_t) nkeys);
}


/* An argument that lives elsewhere, the script's text among them. */
static void
shared_static(shared_writer_t *w, const char *s, size_t len)
{
    pprof_shared_cmd_t  *cmd = w->cmd;

    if (cmd->argc == PPROF_SHARED_ARGV_MAX) {
        w->failed = 1;
        return;
    }

    cmd->argv[cmd->argc] = s;
    cmd->argvlen[cmd->argc] = len;
    cmd->argc++;
}


static void
shared_begin(shared_writer_t *w)
{
    w->start = w->len;
}


static void
shared_end(shared_writer_t *w)
{
    shared_static(w, w->cmd->buf + w->start, w->len - w->start);
}


static void
shared_bytes(shared_writer_t *w, const void *data, size_t len)
{
    if (len > PPROF_SHARED_BUF_MAX - w->len) {
        w->failed = 1;
        return;
    }

    memcpy(w->cmd->buf + w->len, data, len);
    w->len += len;
}


static void
shared_arg(shared_writer_t *w, const char *s)
{
    shared_bytes(w, s, strlen(s));
}


static void
shared_number(shared_writer_t *w, uint64_t n)
{
    char  num[24];

    if (n >= SHARED_NUMBER_MAX) {
        w->failed = 1;
        return;
    }

    shared_bytes(w, num, (size_t) snprintf(num, sizeof(num), "%llu",
                                           (unsigned long long) n));
}


static void
shared_number_arg(shared_writer_t *w, uint64_t n)
{
    shared_begin(w);
    shared_number(w, n);
    shared_end(w);
}


/*
 * '%', the hash tag's braces, the separator ':' (unless SHARED_COLON), a
 * leading '@' (with SHARED_AT) and every byte outside printable ASCII
 * become %XX, so that two different values never write the same key.
 */
static int
shared_plain(pprof_str_t s, size_t i, int how)
{
    unsigned char  c = s.data[i];

    return c > 0x20 && c < 0x7f && c != '%' && c != '{' && c != '}'
           && (c != ':' || (how & SHARED_COLON))
           && (c != '@' || i != 0 || !(how & SHARED_AT));
}


static void
shared_escape(shared_writer_t *w, pprof_str_t s, int how)
{
    static const char  hex[] = "0123456789ABCDEF";

    char           esc[3];
    size_t         i;
    unsigned char  c;

    for (i = 0; i < s.len; i++) {
        c = s.data[i];

        if (shared_plain(s, i, how)) {
            shared_bytes(w, &c, 1);
            continue;
        }

        esc[0] = '%';
        esc[1] = hex[c >> 4];
        esc[2] = hex[c & 0xf];
        shared_bytes(w, esc, 3);
    }
}


/* One part of a key: escaped, or "%#" and its SHA-256 when too long. */
static void
shared_part(shared_writer_t *w, pprof_str_t s, size_t max, int how)
{
    static const char  hex[] = "0123456789abcdef";

    char           out[2 + 2 * EVP_MAX_MD_SIZE];
    size_t         i, len;
    unsigned int   n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    len = 0;
    for (i = 0; i < s.len && len <= max; i++) {
        len += shared_plain(s, i, how) ? 1 : 3;
    }

    if (len <= max) {
        shared_escape(w, s, how);
        return;
    }

    if (EVP_Digest(s.data, s.len, md, &n, EVP_sha256(), NULL) != 1) {
        w->failed = 1;
        return;
    }

    out[0] = '%';
    out[1] = '#';

    for (i = 0; i < n; i++) {
        out[2 + 2 * i] = hex[md[i] >> 4];
        out[3 + 2 * i] = hex[md[i] & 0xf];
    }

    shared_bytes(w, out, 2 + 2 * (size_t) n);
}


/* <prefix>{<target>}:<kind>, or <prefix>{@<location>}:<kind> */
static void
shared_key(shared_writer_t *w, const pprof_shared_key_t *key,
    const char *kind)
{
    shared_escape(w, key->prefix, SHARED_COLON);

    if (key->own) {
        shared_arg(w, "{@");
        shared_part(w, key->target, SHARED_TARGET_MAX, 0);

    } else {
        shared_arg(w, "{");
        shared_part(w, key->target, SHARED_TARGET_MAX, SHARED_AT);
    }

    shared_arg(w, "}:");
    shared_arg(w, kind);
}


int
pprof_shared_answer(const long long *v, size_t n, pprof_shared_answer_t *a,
    const char **err)
{
    size_t                       i;
    uint64_t                    *retry[3];
    pprof_reason_t              *verdict[3];
    static const pprof_reason_t  denial[3] = {
        PPROF_RATE_LIMITED, PPROF_CAPTURE_BUSY, PPROF_BUDGET_EXHAUSTED
    };

    if (n != PPROF_SHARED_REPLY_LEN) {
        *err = "the reply does not have the script's length";
        return -1;
    }

    if (v[0] != PPROF_SHARED_MAGIC) {
        *err = "the reply is not the script's";
        return -1;
    }

    verdict[0] = &a->rate;
    verdict[1] = &a->slot;
    verdict[2] = &a->budget;
    retry[0] = &a->rate_retry;
    retry[1] = &a->slot_retry;
    retry[2] = &a->budget_retry;

    for (i = 0; i < 3; i++) {
        switch (v[1 + 2 * i]) {

        case 0:
            if (v[2 + 2 * i] != 0) {
                *err = "the reply has a retry for a stage that passed";
                return -1;
            }

            *verdict[i] = PPROF_OK;
            *retry[i] = 0;
            break;

        case 1:
            if (v[2 + 2 * i] < 1
                || (unsigned long long) v[2 + 2 * i] > PPROF_SHARED_RETRY_MAX)
            {
                *err = "the reply has a denial's retry out of range";
                return -1;
            }

            *verdict[i] = denial[i];
            *retry[i] = (uint64_t) v[2 + 2 * i];
            break;

        default:
            *err = "the reply has a verdict that is neither 0 nor 1";
            return -1;
        }
    }

    if (v[7] != 0 && v[7] != 1) {
        *err = "the reply's lease is neither 0 nor 1";
        return -1;
    }

    if (v[7] == 1 && a->slot != PPROF_OK) {
        *err = "the reply holds a lease for a capture it denied";
        return -1;
    }

    /* Whether enforcing or not, a capture granted at every stage runs. */
    if (v[7] == 0 && a->rate == PPROF_OK && a->slot == PPROF_OK
        && a->budget == PPROF_OK)
    {
        *err = "the reply grants a capture without its lease";
        return -1;
    }

    a->leased = (int) v[7];

    return 0;
}


int
pprof_shared_may_hold(pprof_shared_outcome_t outcome,
    const pprof_shared_answer_t *a)
{
    switch (outcome) {

    case PPROF_SHARED_UNSENT:
    case PPROF_SHARED_NOSCRIPT:
        return 0;

    case PPROF_SHARED_ANSWERED:
        return a != NULL && a->leased;

    default:
        return 1;
    }
}
