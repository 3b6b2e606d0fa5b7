/*
 * The admission script against a real redis-server: Debian's, started
 * here on a free loopback port with persistence off and stopped at the
 * end.  The commands are policy/shared.c's, sent with hiredis's blocking
 * API, and every answer goes through pprof_shared_answer.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <hiredis/hiredis.h>

#include "unit.h"


static pid_t          server = -1;
static redisContext  *redis;
static char           sha1[PPROF_SHARED_SHA1_HEX + 1];
static unsigned       evals;            /* EVALs after a NOSCRIPT */


static int
free_port(void)
{
    int                 fd, port;
    socklen_t           len;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(sin);

    assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    port = ntohs(sin.sin_port);
    close(fd);

    return port;
}


static void
pause_ms(long ms)
{
    struct timespec  ts = { ms / 1000, (ms % 1000) * 1000000 };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) { /* again */ }
}


static int
start_redis(void **state)
{
    int   port, tries;
    char  num[8];

    (void) state;

    port = free_port();
    snprintf(num, sizeof(num), "%d", port);

    server = fork();
    if (server == 0) {
        /* Gone with the test, however the test ends. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (freopen("/dev/null", "w", stdout) == NULL) {
            _exit(127);
        }

        execlp("redis-server", "redis-server", "--port", num,
               "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", "/tmp", (char *) NULL);
        _exit(127);
    }

    if (server < 0) {
        return -1;
    }

    for (tries = 0; tries < 100; tries++) {
        redis = redisConnect("127.0.0.1", port);
        if (redis && redis->err == 0) {
            break;
        }

        if (redis) {
            redisFree(redis);
            redis = NULL;
        }

        pause_ms(50);
    }

    if (redis == NULL) {
        fprintf(stderr, "redis-server did not start on port %d\n", port);
        return -1;
    }

    return pprof_shared_script_sha1(sha1);
}


static int
stop_redis(void **state)
{
    (void) state;

    if (redis) {
        redisFree(redis);
    }

    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
    }

    return 0;
}


static redisReply *
command(const char *fmt, ...)
{
    va_list      ap;
    redisReply  *r;

    va_start(ap, fmt);
    r = redisvCommand(redis, fmt, ap);
    va_end(ap);

    assert_non_null(r);

    return r;
}


static long long
integer(const char *fmt, ...)
{
    va_list      ap;
    long long    n;
    redisReply  *r;

    va_start(ap, fmt);
    r = redisvCommand(redis, fmt, ap);
    va_end(ap);

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    n = r->integer;
    freeReplyObject(r);

    return n;
}


static int
flush(void **state)
{
    (void) state;

    freeReplyObject(command("FLUSHALL"));

    return 0;
}


/* Redis's own clock, in ms. */
static uint64_t
redis_now(void)
{
    uint64_t     now;
    redisReply  *r;

    r = command("TIME");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    now = strtoull(r->element[0]->str, NULL, 10) * 1000
          + strtoull(r->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(r);

    return now;
}


/* A location's capture policy, and one capture's decision after stage 6. */
typedef struct {
    pprof_pipeline_conf_t  conf;
    pprof_decision_t       d;
    pprof_shared_key_t     key;
    const char            *margin;      /* replaces the lease's margin */
    uint64_t               settle;      /* its release's, ms: 0 frees */
} admission_t;


static void
admission(admission_t *ad, const char *target, const char *token,
    uint64_t capture_ms)
{
    memset(ad, 0, sizeof(admission_t));
    ad->conf.enforce = 1;
    ad->conf.concurrency = 1;
    ad->d.endpoint.name = S("profile");
    ad->d.endpoint.cls = PPROF_CLASS_CAPTURE;
    ad->d.identity = S("alice");
    ad->d.params.seconds_us = capture_ms * 1000;
    ad->key.prefix = S("pprof:");
    ad->key.target = S(target);
    ad->key.token = S(token);
}


/* Sends cmd; after a NOSCRIPT, the same as EVAL. */
static redisReply *
send_cmd(pprof_shared_cmd_t *cmd, int (*build)(const admission_t *ad,
    const char *sha, pprof_shared_cmd_t *cmd), const admission_t *ad)
{
    redisReply  *r;

    r = redisCommandArgv(redis, cmd->argc, cmd->argv, cmd->argvlen);
    assert_non_null(r);

    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r);
        evals++;

        assert_int_equal(build(ad, NULL, cmd), 0);
        r = redisCommandArgv(redis, cmd->argc, cmd->argv, cmd->argvlen);
        assert_non_null(r);
    }

    return r;
}


static int
build_admit(const admission_t *ad, const char *sha, pprof_shared_cmd_t *cmd)
{
    size_t  i;

    if (pprof_shared_admit_cmd(&ad->conf, &ad->d, &ad->key, sha, cmd) != 0) {
        return -1;
    }

    /* ARGV[12], after EVALSHA, the SHA-1, the key count and the keys. */
    if (ad->margin) {
        i = 3 + (size_t) atoi(cmd->argv[2]) + 11;
        cmd->argv[i] = ad->margin;
        cmd->argvlen[i] = strlen(ad->margin);
    }

    return 0;
}


static int
build_release(const admission_t *ad, const char *sha,
    pprof_shared_cmd_t *cmd)
{
    return pprof_shared_release_cmd(ad->d.endpoint.name,
                                    ad->d.params.seconds_us / 1000,
                                    ad->settle, &ad->key, sha, cmd);
}


/* The script's reply, NULL for an error reply (its text in *error). */
static redisReply *
admit_reply(const admission_t *ad)
{
    pprof_shared_cmd_t  cmd;

    assert_int_equal(build_admit(ad, sha1, &cmd), 0);

    return send_cmd(&cmd, build_admit, ad);
}


static pprof_shared_answer_t
admit(const admission_t *ad)
{
    size_t                 i;
    long long              v[PPROF_SHARED_REPLY_LEN + 1];
    const char            *err;
    redisReply            *r;
    pprof_shared_answer_t  a;

    r = admit_reply(ad);

    if (r->type != REDIS_REPLY_ARRAY) {
        fail_msg("the script answered %d: %s", r->type,
                 r->str ? r->str : "");
    }

    assert_true(r->elements <= PPROF_SHARED_REPLY_LEN + 1);

    for (i = 0; i < r->elements; i++) {
        assert_int_equal(r->element[i]->type, REDIS_REPLY_INTEGER);
        v[i] = r->element[i]->integer;
    }

    err = NULL;
    if (pprof_shared_answer(v, r->elements, &a, &err) != 0) {
        fail_msg("the script's reply was refused: %s", err);
    }

    freeReplyObject(r);

    return a;
}


static long long
release(const admission_t *ad)
{
    long long           n;
    redisReply         *r;
    pprof_shared_cmd_t  cmd;

    assert_int_equal(build_release(ad, sha1, &cmd), 0);
    r = send_cmd(&cmd, build_release, ad);

    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    n = r->integer;
    freeReplyObject(r);

    return n;
}


#define assert_granted(a)                                                    \
    do {                                                                     \
        assert_int_equal((a).rate, PPROF_OK);                                \
        assert_int_equal((a).slot, PPROF_OK);                                \
        assert_int_equal((a).budget, PPROF_OK);                              \
        assert_int_equal((a).leased, 1);                                     \
    } while (0)


static void
script_loads(void **state)
{
    redisReply             *r;
    admission_t             ad;
    pprof_shared_answer_t   a;

    (void) state;

    /* Redis names the script as the gateway does. */
    r = command("SCRIPT LOAD %s", pprof_shared_script);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, sha1);
    freeReplyObject(r);

    /* Not loaded: NOSCRIPT, then EVAL, which loads it for EVALSHA. */
    freeReplyObject(command("SCRIPT FLUSH"));
    evals = 0;

    admission(&ad, "svc", "gw-1", 1000);
    a = admit(&ad);
    assert_granted(a);
    assert_int_equal(evals, 1);

    admission(&ad, "svc", "gw-2", 1000);
    a = admit(&ad);
    assert_int_equal(a.slot, PPROF_CAPTURE_BUSY);
    assert_int_equal(evals, 1);

    r = command("SCRIPT EXISTS %s", sha1);
    assert_int_equal(r->element[0]->integer, 1);
    freeReplyObject(r);
}


static void
rate(void **state)
{
    admission_t            ad;
    pprof_shared_answer_t  a;

    (void) state;

    /* 10r/s burst=1: two at once, not a third. */
    admission(&ad, "svc", "gw-1", 1000);
    ad.conf.rates[PPROF_CLASS_CAPTURE].rate = 10000;
    ad.conf.rates[PPROF_CLASS_CAPTURE].burst = 1;
    ad.conf.concurrency = 100;

    a = admit(&ad);
    assert_granted(a);
    ad.key.token = S("gw-2");
    a = admit(&ad);
    assert_granted(a);
    ad.key.token = S("gw-3");
    a = admit(&ad);
    assert_int_equal(a.rate, PPROF_RATE_LIMITED);
    assert_int_equal(a.rate_retry, 1);
    assert_int_equal(a.slot, PPROF_OK);            /* not asked */
    assert_int_equal(a.leased, 0);
    assert_int_equal(integer("HLEN %s", "pprof:{svc}:slots:profile"), 2);

    /* The bucket vanishes once it has drained. */
    assert_in_range(integer("PTTL %s", "pprof:{svc}:rate:capture:alice"),
                    1, 200);

    /* Per identity, and per target. */
    ad.d.identity = S("bob");
    a = admit(&ad);
    assert_granted(a);
    ad.d.identity = S("alice");
    ad.key.target = S("other");
    a = admit(&ad);
    assert_granted(a);
    ad.key.target = S("svc");

    /* Drained in a quarter of a second. */
    pause_ms(250);
    a = admit(&ad);
    assert_granted(a);

    /* The default capture rate, 4r/m burst=2: the fourth waits 15 s. */
    admission(&ad, "slow", "gw-1", 1000);
    ad.conf.rates[PPROF_CLASS_CAPTURE] = pprof_rate_default(
                                              PPROF_CLASS_CAPTURE);
    ad.conf.concurrency = 100;

    a = admit(&ad);
    assert_granted(a);
    a = admit(&ad);
    assert_granted(a);
    a = admit(&ad);
    assert_granted(a);
    a = admit(&ad);
    assert_int_equal(a.rate, PPROF_RATE_LIMITED);
    assert_in_range(a.rate_retry, 15, 16);
}


static void
concurrency(void **state)
{
    uint64_t               now;
    admission_t            ad;
    pprof_shared_answer_t  a;

    (void) state;

    admission(&ad, "svc", "gw-1", 30000);
    a = admit(&ad);
    assert_granted(a);

    now = redis_now();

    ad.key.token = S("gw-2");
    a = admit(&ad);
    assert_int_equal(a.slot, PPROF_CAPTURE_BUSY);
    assert_in_range(a.slot_retry, 29, 30);
    assert_int_equal(a.leased, 0);

    /* trace has its own slot. */
    ad.d.endpoint.name = S("trace");
    a = admit(&ad);
    assert_granted(a);

    /* Two at once where the location allows two. */
    ad.d.endpoint.name = S("profile");
    ad.conf.concurrency = 2;
    a = admit(&ad);
    assert_granted(a);
    ad.key.token = S("gw-3");
    a = admit(&ad);
    assert_int_equal(a.slot, PPROF_CAPTURE_BUSY);
    assert_in_range(a.slot_retry, 29, 30);
    assert_int_equal(integer("HLEN %s", "pprof:{svc}:slots:profile"), 2);

    /* The hash goes when the last lease expires: 30 s + 15 s. */
    assert_in_range(integer("PTTL %s", "pprof:{svc}:slots:profile"),
                    44000, 45000);

    /* Keys are escaped: these two targets are not one. */
    admission(&ad, "a:b", "gw-1", 30000);
    a = admit(&ad);
    assert_granted(a);
    admission(&ad, "a%3Ab", "gw-1", 30000);
    a = admit(&ad);
    assert_granted(a);

    /* The lease's times are Redis's. */
    {
        uint64_t     starts, ends, expires;
        redisReply  *r;

        r = command("HGET %s %s", "pprof:{svc}:slots:profile", "gw-1");
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        assert_int_equal(sscanf(r->str, "%llu:%llu:%llu",
                                (unsigned long long *) &starts,
                                (unsigned long long *) &ends,
                                (unsigned long long *) &expires), 3);
        freeReplyObject(r);

        assert_true(starts <= now && now - starts < 2000);
        assert_int_equal(ends - starts, 30000);
        assert_int_equal(expires - ends, PPROF_LEASE_MARGIN);
    }
}


static void
lease_expiry(void **state)
{
    admission_t            ad;
    pprof_shared_answer_t  a;

    (void) state;

    /* A lease that its gateway never gave back (a worker died). */
    admission(&ad, "svc", "gw-1", 0);
    ad.margin = "300";
    a = admit(&ad);
    assert_granted(a);

    ad.key.token = S("gw-2");
    a = admit(&ad);
    assert_int_equal(a.slot, PPROF_CAPTURE_BUSY);

    pause_ms(400);
    a = admit(&ad);
    assert_granted(a);

    /* The expired lease is gone from the hash, not only ignored. */
    assert_int_equal(integer("HLEN %s", "pprof:{svc}:slots:profile"), 1);

    /*
     * Answering a proxy's check, nothing releases the lease: it is waited
     * for to its expiry, capture and margin.
     */
    admission(&ad, "check", "gw-1", 1000);
    ad.conf.authz = 1;
    ad.margin = "2000";
    a = admit(&ad);
    assert_granted(a);
    ad.key.token = S("gw-2");
    a = admit(&ad);
    assert_int_equal(a.slot, PPROF_CAPTURE_BUSY);
    assert_int_equal(a.slot_retry, 3);

    ad.conf.authz = 0;
    admission(&ad, "proxied", "gw-1", 1000);
    ad.margin = "2000";
    a = admit(&ad);
    ad.key.token = S("gw-2");
    a = admit(&ad);
    assert_int_equal(a.slot_retry, 1);
}


static void
release_by_owner(void **state)
{
    admission_t            ad;
    pprof_shared_answer_t  a;

    (void) state;

    admission(&ad, "svc", "gw-1", 30000);
    a = admit(&ad);
    assert_granted(a);

    /* Another owner's release frees nothing. */
    ad.key.token = S("gw-2");
    assert_int_equal(release(&ad), 0);
    assert_int_equal(integer("HLEN %s", "pprof:{svc}:slots:profile"), 1);

    ad.key.token = S("gw-3");
    a = admit(&ad);
    assert_int_equal(a.slot, PPROF_CAPTURE_BUSY);

    /* The owner's does. */
    ad.key.token = S("gw-1");
    assert_int_equal(release(&ad), 1);
    assert_int_equal(integer("EXISTS %s", "pprof:{svc}:slots:profile"), 0);
    assert_int_equal(integer("EXISTS %s", "pprof:{svc}:tomb:gw-1"), 0);

    ad.key.token = S("gw-3");
    a = admit(&ad);
    assert_granted(a);
}


/* The owner's lease as the script keeps it; 0 when there is none. */
static int
lease_of(const char *key, const char *owner, uint64_t *starts,
    uint64_t *ends, uint64_t *expires)
{
    int          found;
    redisReply  *r;

    r = command("HGET %s %s", key, owner);
    found = (r->type == REDIS_REPLY_STRING);

    if (found) {
        assert_int_equal(sscanf(r->str, "%llu:%llu:%llu",
                                (unsigned long long *) starts,
                                (unsigned long long *) ends,
                                (unsigned long long *) expires), 3);
    } else {
        assert_int_equal(r->type, REDIS_REPLY_NIL);
    }

    freeReplyObject(r);

    return found;
}


/*
 * A capture given up before its response was complete: its lease is kept
 * while the target notices, busy with a retry of 1 s to the other
 * gateways, then expires as any lease does.
 */
static void
settle(void **state)
{
    uint64_t               before, after, starts, ends, expires, s0, e0, x0;
    admission_t            ad;
    pprof_shared_answer_t  a;

    (void) state;

    admission(&ad, "svc", "gw-1", 5000);
    a = admit(&ad);
    assert_granted(a);
    assert_true(lease_of("pprof:{svc}:slots:profile", "gw-1", &s0, &e0,
                         &x0));

    before = redis_now();
    ad.settle = PPROF_CAPTURE_SETTLE;
    assert_int_equal(release(&ad), 1);
    after = redis_now();

    /* Still held, by its owner, ending a second from the release. */
    assert_true(lease_of("pprof:{svc}:slots:profile", "gw-1", &starts, &ends,
                         &expires));
    assert_int_equal(starts, s0);
    assert_in_range(ends, before + PPROF_CAPTURE_SETTLE,
                    after + PPROF_CAPTURE_SETTLE);
    assert_int_equal(expires, ends);
    assert_in_range(integer("PTTL %s", "pprof:{svc}:slots:profile"), 1,
                    PPROF_CAPTURE_SETTLE);
    assert_int_equal(integer("EXISTS %s", "pprof:{svc}:tomb:gw-1"), 0);

    /* Busy for the others, until the target has settled. */
    ad.key.token = S("gw-2");
    a = admit(&ad);
    assert_int_equal(a.slot, PPROF_CAPTURE_BUSY);
    assert_int_equal(a.slot_retry, 1);
    assert_int_equal(a.leased, 0);

    /* A second release of the same owner (sent again) never lengthens. */
    ad.key.token = S("gw-1");
    pause_ms(100);
    assert_int_equal(release(&ad), 1);
    assert_true(lease_of("pprof:{svc}:slots:profile", "gw-1", &s0, &e0,
                         &x0));
    assert_int_equal(e0, ends);
    assert_int_equal(x0, expires);

    /* Then free: the next admission expires the lease, and takes one. */
    pause_ms((long) (expires - redis_now()) + 20);
    ad.key.token = S("gw-2");
    a = admit(&ad);
    assert_granted(a);
    assert_int_equal(integer("HEXISTS %s %s", "pprof:{svc}:slots:profile",
                             "gw-1"), 0);

    /* Settle 0 frees at once, as a complete response does. */
    ad.settle = 0;
    assert_int_equal(release(&ad), 1);
    assert_int_equal(integer("EXISTS %s", "pprof:{svc}:slots:profile"), 0);
}


/* A settle cuts a lease short, never lengthens it, ends or expiry. */
static void
settle_never_lengthens(void **state)
{
    uint64_t               starts, ends, expires, s0, e0, x0, now;
    admission_t            ad;
    pprof_shared_answer_t  a;

    (void) state;

    /* A lease that ends sooner than a settle would. */
    admission(&ad, "short", "gw-1", 0);
    ad.margin = "300";
    a = admit(&ad);
    assert_granted(a);
    assert_true(lease_of("pprof:{short}:slots:profile", "gw-1", &s0, &e0,
                         &x0));

    ad.settle = PPROF_CAPTURE_SETTLE;
    assert_int_equal(release(&ad), 1);
    assert_true(lease_of("pprof:{short}:slots:profile", "gw-1", &starts,
                         &ends, &expires));
    assert_int_equal(ends, e0);
    assert_int_equal(expires, x0);
    assert_in_range(integer("PTTL %s", "pprof:{short}:slots:profile"), 1,
                    300);

    pause_ms(350);
    ad.key.token = S("gw-2");
    a = admit(&ad);
    assert_granted(a);

    /* The capture has ended, its margin not: only the expiry is cut. */
    admission(&ad, "ended", "gw-1", 500);
    a = admit(&ad);
    assert_granted(a);
    assert_true(lease_of("pprof:{ended}:slots:profile", "gw-1", &s0, &e0,
                         &x0));
    ad.settle = PPROF_CAPTURE_SETTLE;
    now = redis_now();
    assert_int_equal(release(&ad), 1);
    assert_true(lease_of("pprof:{ended}:slots:profile", "gw-1", &starts,
                         &ends, &expires));
    assert_int_equal(ends, e0);
    assert_true(expires < x0);
    assert_in_range(expires, now + PPROF_CAPTURE_SETTLE,
                    redis_now() + PPROF_CAPTURE_SETTLE);

    /* The longest settle a command carries changes nothing. */
    admission(&ad, "long", "gw-1", 5000);
    a = admit(&ad);
    assert_granted(a);
    assert_true(lease_of("pprof:{long}:slots:profile", "gw-1", &s0, &e0,
                         &x0));
    ad.settle = ((uint64_t) 1 << 53) - 1;
    assert_int_equal(release(&ad), 1);
    assert_true(lease_of("pprof:{long}:slots:profile", "gw-1", &starts,
                         &ends, &expires));
    assert_int_equal(starts, s0);
    assert_int_equal(ends, e0);
    assert_int_equal(expires, x0);

    /* The hash lasts while another lease of it lives. */
    admission(&ad, "two", "gw-1", 30000);
    ad.conf.concurrency = 2;
    a = admit(&ad);
    assert_granted(a);
    ad.key.token = S("gw-2");
    a = admit(&ad);
    assert_granted(a);
    assert_true(lease_of("pprof:{two}:slots:profile", "gw-2", &s0, &e0,
                         &x0));
    ad.key.token = S("gw-1");
    ad.settle = PPROF_CAPTURE_SETTLE;
    assert_int_equal(release(&ad), 1);
    assert_in_range(integer("PTTL %s", "pprof:{two}:slots:profile"),
                    44000, 45000);
    assert_true(lease_of("pprof:{two}:slots:profile", "gw-2", &starts,
                         &ends, &expires));
    assert_int_equal(ends, e0);
    assert_int_equal(expires, x0);

    /* One slot of two settling, the other busy: the retry is the settle. */
    ad.key.token = S("gw-3");
    a = admit(&ad);
    assert_int_equal(a.slot, PPROF_CAPTURE_BUSY);
    assert_int_equal(a.slot_retry, 1);
}


/* Another owner's settle touches no lease: it leaves a tombstone. */
static void
settle_by_other(void **state)
{
    uint64_t               starts, ends, expires, s0, e0, x0;
    admission_t            ad;
    pprof_shared_answer_t  a;

    (void) state;

    admission(&ad, "svc", "gw-1", 30000);
    a = admit(&ad);
    assert_granted(a);
    assert_true(lease_of("pprof:{svc}:slots:profile", "gw-1", &s0, &e0,
                         &x0));

    ad.key.token = S("gw-2");
    ad.settle = PPROF_CAPTURE_SETTLE;
    assert_int_equal(release(&ad), 0);

    assert_true(lease_of("pprof:{svc}:slots:profile", "gw-1", &starts, &ends,
                         &expires));
    assert_int_equal(starts, s0);
    assert_int_equal(ends, e0);
    assert_int_equal(expires, x0);
    assert_int_equal(integer("HLEN %s", "pprof:{svc}:slots:profile"), 1);
    assert_in_range(integer("PTTL %s", "pprof:{svc}:slots:profile"),
                    44000, 45000);

    /* The tombstone lasts the lease's length and refuses gw-2 later. */
    assert_in_range(integer("PTTL %s", "pprof:{svc}:tomb:gw-2"),
                    44000, 45000);
    ad.conf.concurrency = 2;
    a = admit(&ad);
    assert_int_equal(a.slot, PPROF_CAPTURE_BUSY);
    assert_int_equal(a.leased, 0);
    assert_int_equal(integer("HLEN %s", "pprof:{svc}:slots:profile"), 1);

    /* With no hash at all, the same. */
    admission(&ad, "none", "gw-1", 1000);
    ad.settle = PPROF_CAPTURE_SETTLE;
    assert_int_equal(release(&ad), 0);
    assert_int_equal(integer("EXISTS %s", "pprof:{none}:slots:profile"), 0);
    assert_in_range(integer("PTTL %s", "pprof:{none}:tomb:gw-1"),
                    15000, 16000);
}


static void
tombstone(void **state)
{
    admission_t            ad;
    pprof_shared_answer_t  a;

    (void) state;

    /* The gateway gave up on gw-1 and released it before Redis saw it. */
    admission(&ad, "svc", "gw-1", 30000);
    ad.conf.rates[PPROF_CLASS_CAPTURE].rate = 1000;
    ad.conf.budget.limit = 60000;
    ad.conf.budget.window = 3600000;

    assert_int_equal(release(&ad), 0);
    assert_in_range(integer("PTTL %s", "pprof:{svc}:tomb:gw-1"),
                    44000, 45000);

    /* The late admission takes nothing, and charges nothing. */
    a = admit(&ad);
    assert_int_equal(a.slot, PPROF_CAPTURE_BUSY);
    assert_int_equal(a.leased, 0);
    assert_int_equal(integer("EXISTS %s", "pprof:{svc}:slots:profile"), 0);
    assert_int_equal(integer("EXISTS %s", "pprof:{svc}:rate:capture:alice"),
                     0);
    assert_int_equal(integer("EXISTS %s", "pprof:{svc}:budget:3600000"), 0);

    /* A dry run's neither. */
    ad.conf.enforce = 0;
    a = admit(&ad);
    assert_int_equal(a.leased, 0);
    assert_int_equal(integer("EXISTS %s", "pprof:{svc}:slots:profile"), 0);

    ad.conf.enforce = 1;
    ad.key.token = S("gw-2");
    a = admit(&ad);
    assert_granted(a);
}


static void
budget(void **state)
{
    uint64_t               now, retry;
    admission_t            ad;
    pprof_budget_state_t   mirror;
    pprof_shared_answer_t  a;

    (void) state;

    /* 200 ms per 600 ms: two captures of 100 ms, not a third. */
    admission(&ad, "svc", "gw-1", 100);
    ad.conf.concurrency = 100;
    ad.conf.budget.limit = 200;
    ad.conf.budget.window = 600;

    a = admit(&ad);
    assert_granted(a);
    ad.key.token = S("gw-2");
    a = admit(&ad);
    assert_granted(a);
    ad.key.token = S("gw-3");
    a = admit(&ad);
    assert_int_equal(a.budget, PPROF_BUDGET_EXHAUSTED);
    assert_int_equal(a.budget_retry, 1);
    assert_int_equal(a.leased, 0);

    /* Charged only when granted; the refused capture's slot given back. */
    assert_int_equal(integer("HLEN %s", "pprof:{svc}:slots:profile"), 2);
    assert_int_equal(integer("HEXISTS %s %s", "pprof:{svc}:slots:profile",
                             "gw-3"), 0);

    /* Per target. */
    ad.key.target = S("other");
    a = admit(&ad);
    assert_granted(a);
    ad.key.target = S("svc");

    pause_ms(650);
    a = admit(&ad);
    assert_granted(a);

    /* Longer than the whole budget: a whole window. */
    ad.d.params.seconds_us = 300000;
    a = admit(&ad);
    assert_int_equal(a.budget, PPROF_BUDGET_EXHAUSTED);
    assert_int_equal(a.budget_retry, 1);

    /* An hour's budget: the wait is capture.c's to the second. */
    admission(&ad, "hour", "gw-1", 30000);
    ad.conf.concurrency = 100;
    ad.conf.budget.limit = 60000;
    ad.conf.budget.window = 3600000;
    memset(&mirror, 0, sizeof(mirror));

    now = redis_now();
    a = admit(&ad);
    assert_granted(a);
    assert_int_equal(pprof_budget_take(&mirror, &ad.conf.budget, now, 30000,
                                       &retry), PPROF_OK);
    a = admit(&ad);
    assert_granted(a);
    assert_int_equal(pprof_budget_take(&mirror, &ad.conf.budget, now, 30000,
                                       &retry), PPROF_OK);

    now = redis_now();
    a = admit(&ad);
    assert_int_equal(a.budget, PPROF_BUDGET_EXHAUSTED);
    assert_int_equal(pprof_budget_take(&mirror, &ad.conf.budget, now, 30000,
                                       &retry), PPROF_BUDGET_EXHAUSTED);
    assert_in_range(a.budget_retry, retry - 1, retry);
    assert_in_range(a.budget_retry, 3540, 3600);

    /* The budget key lasts as long as its newest slice counts. */
    assert_in_range(integer("PTTL %s", "pprof:{hour}:budget:3600000"),
                    3540000, 3660000);
}


/*
 * Two locations of one target count over an hour and a day: a capture
 * granted through either is charged to both windows, as the gateway's
 * zone does, and each location judges by its own window only.
 */
static void
budget_windows(void **state)
{
    admission_t            hour, day;
    pprof_shared_answer_t  a;

    static const uint64_t  windows[] = { 3600000, 86400000 };

    (void) state;

    admission(&hour, "svc", "gw-1", 30000);
    hour.conf.concurrency = 100;
    hour.conf.budget.limit = 100000;
    hour.conf.budget.window = 3600000;
    hour.key.windows = windows;
    hour.key.nwindows = 2;

    day = hour;
    day.conf.budget.limit = 60000;
    day.conf.budget.window = 86400000;

    /* Through the hour's location: charged to the day's window too. */
    a = admit(&hour);
    assert_granted(a);
    assert_int_equal(integer("HLEN %s", "pprof:{svc}:budget:86400000"), 1);
    assert_in_range(integer("PTTL %s", "pprof:{svc}:budget:86400000"),
                    86400000 - 1440000, 86400000);

    /* The day's 60 s hold one more 30 s capture, not two. */
    day.key.token = S("gw-2");
    a = admit(&day);
    assert_granted(a);
    day.key.token = S("gw-3");
    a = admit(&day);
    assert_int_equal(a.budget, PPROF_BUDGET_EXHAUSTED);

    /* The hour's 100 s, charged 60 s, still hold a capture. */
    hour.key.token = S("gw-4");
    a = admit(&hour);
    assert_granted(a);

    /* Without other lengths, nothing but the location's own window. */
    admission(&hour, "alone", "gw-1", 30000);
    hour.conf.concurrency = 100;
    hour.conf.budget.limit = 100000;
    hour.conf.budget.window = 3600000;
    hour.key.windows = windows;
    hour.key.nwindows = 1;
    a = admit(&hour);
    assert_granted(a);
    assert_int_equal(integer("EXISTS %s", "pprof:{alone}:budget:86400000"),
                     0);
}


static void
dry_run(void **state)
{
    size_t                 i;
    uint64_t               used;
    redisReply            *r;
    admission_t            ad;
    pprof_shared_answer_t  a;

    (void) state;

    admission(&ad, "svc", "gw-1", 30000);
    ad.conf.enforce = 0;
    ad.conf.rates[PPROF_CLASS_CAPTURE].rate = 1000;
    ad.conf.budget.limit = 100000;
    ad.conf.budget.window = 3600000;

    a = admit(&ad);
    assert_granted(a);

    /* Every stage judged: rate and slot refuse, the budget is charged. */
    ad.key.token = S("gw-2");
    a = admit(&ad);
    assert_int_equal(a.rate, PPROF_RATE_LIMITED);
    assert_int_equal(a.slot, PPROF_CAPTURE_BUSY);
    assert_int_equal(a.budget, PPROF_OK);
    assert_int_equal(a.leased, 0);

    r = command("HVALS %s", "pprof:{svc}:budget:3600000");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (i = 0, used = 0; i < r->elements; i++) {
        used += strtoull(r->element[i]->str, NULL, 10);
    }
    freeReplyObject(r);
    assert_int_equal(used, 60000);

    /* Then the budget too; a free slot is taken, the capture runs. */
    ad.d.endpoint.name = S("trace");
    ad.d.identity = S("bob");
    a = admit(&ad);
    assert_granted(a);
    ad.key.token = S("gw-3");
    ad.d.endpoint.name = S("symbol");
    a = admit(&ad);
    assert_int_equal(a.rate, PPROF_RATE_LIMITED);
    assert_int_equal(a.slot, PPROF_OK);
    assert_int_equal(a.budget, PPROF_BUDGET_EXHAUSTED);
    assert_int_equal(a.leased, 1);

    /* Enforcing, the first denial stops: no slot asked, none taken. */
    ad.conf.enforce = 1;
    ad.key.token = S("gw-4");
    ad.d.endpoint.name = S("allocs");
    a = admit(&ad);
    assert_int_equal(a.rate, PPROF_RATE_LIMITED);
    assert_int_equal(a.slot, PPROF_OK);
    assert_int_equal(a.budget, PPROF_OK);
    assert_int_equal(a.leased, 0);
    assert_int_equal(integer("EXISTS %s", "pprof:{svc}:slots:allocs"), 0);
}


/* Another program's keys: the script fails and writes nothing. */
static void
foreign_keys(void **state)
{
    size_t              i;
    redisReply         *r;
    admission_t         ad;

    static const struct {
        const char  *set;               /* a command, %s the key */
        const char  *key;
    } foreign[] = {
        { "SET %s x", "pprof:{svc}:slots:profile" },
        { "HSET %s gw-9 garbage", "pprof:{svc}:slots:profile" },
        { "HSET %s gw-9 1:2", "pprof:{svc}:slots:profile" },
        { "LPUSH %s x", "pprof:{svc}:rate:capture:alice" },
        { "HSET %s excess lots", "pprof:{svc}:rate:capture:alice" },
        { "HSET %s last -4", "pprof:{svc}:rate:capture:alice" },
        { "SADD %s x", "pprof:{svc}:budget:3600000" },
        { "HSET %s 12 x", "pprof:{svc}:budget:3600000" },
        { "HSET %s x 12", "pprof:{svc}:budget:3600000" },

        /* Numbers to Lua's tonumber(), not to HINCRBY: after a write. */
        { "HSET %s 12 5.0", "pprof:{svc}:budget:3600000" },
        { "HSET %s 12 0x10", "pprof:{svc}:budget:3600000" },
        { "HSET %s 12 007", "pprof:{svc}:budget:3600000" },
        { "HSET %s 1e3 12", "pprof:{svc}:budget:3600000" },
        { "HSET %s 12 99999999999999999999", "pprof:{svc}:budget:3600000" },
        { "HSET %s excess 0x10 last 1", "pprof:{svc}:rate:capture:alice" },
        { "HSET %s excess 1000 last 1.5", "pprof:{svc}:rate:capture:alice" },

        /* A lease's numbers are the script's too. */
        { "HSET %s gw-9 1:2:99999999999999999999",
          "pprof:{svc}:slots:profile" },
    };

    (void) state;

    for (i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
        freeReplyObject(command("FLUSHALL"));
        freeReplyObject(command(foreign[i].set, foreign[i].key));

        admission(&ad, "svc", "gw-1", 30000);
        ad.conf.rates[PPROF_CLASS_CAPTURE].rate = 1000;
        ad.conf.budget.limit = 100000;
        ad.conf.budget.window = 3600000;

        r = admit_reply(&ad);
        if (r->type != REDIS_REPLY_ERROR) {
            fail_msg("foreign key %zu: the script answered %d", i, r->type);
        }

        freeReplyObject(r);

        /* Only the foreign key is there. */
        assert_int_equal(integer("DBSIZE"), 1);
        assert_int_equal(integer("EXISTS %s", foreign[i].key), 1);
    }

    /* The release of a slot held in a foreign key fails too. */
    freeReplyObject(command("FLUSHALL"));
    freeReplyObject(command("SET %s x", "pprof:{svc}:slots:profile"));
    {
        pprof_shared_cmd_t  cmd;

        admission(&ad, "svc", "gw-1", 30000);
        assert_int_equal(build_release(&ad, sha1, &cmd), 0);
        r = send_cmd(&cmd, build_release, &ad);
        assert_int_equal(r->type, REDIS_REPLY_ERROR);
        freeReplyObject(r);
        assert_int_equal(integer("DBSIZE"), 1);
    }

    /*
     * A settle reads every lease before it writes: one not the script's
     * fails it with nothing changed, the owner's lease and expiry kept.
     */
    freeReplyObject(command("FLUSHALL"));
    freeReplyObject(command("HSET %s gw-1 %s gw-9 %s",
                            "pprof:{svc}:slots:profile", "1:2:3", "1:2"));
    freeReplyObject(command("PEXPIRE %s 60000", "pprof:{svc}:slots:profile"));
    {
        pprof_shared_cmd_t  cmd;

        admission(&ad, "svc", "gw-1", 30000);
        ad.settle = PPROF_CAPTURE_SETTLE;
        assert_int_equal(build_release(&ad, sha1, &cmd), 0);
        r = send_cmd(&cmd, build_release, &ad);
        assert_int_equal(r->type, REDIS_REPLY_ERROR);
        freeReplyObject(r);
        assert_int_equal(integer("DBSIZE"), 1);
        assert_int_equal(integer("HLEN %s", "pprof:{svc}:slots:profile"), 2);
        assert_in_range(integer("PTTL %s", "pprof:{svc}:slots:profile"),
                        59000, 60000);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup(script_loads, flush),
        cmocka_unit_test_setup(rate, flush),
        cmocka_unit_test_setup(concurrency, flush),
        cmocka_unit_test_setup(lease_expiry, flush),
        cmocka_unit_test_setup(release_by_owner, flush),
        cmocka_unit_test_setup(settle, flush),
        cmocka_unit_test_setup(settle_never_lengthens, flush),
        cmocka_unit_test_setup(settle_by_other, flush),
        cmocka_unit_test_setup(tombstone, flush),
        cmocka_unit_test_setup(budget, flush),
        cmocka_unit_test_setup(budget_windows, flush),
        cmocka_unit_test_setup(dry_run, flush),
        cmocka_unit_test_setup(foreign_keys, flush),
    };

    return cmocka_run_group_tests(tests, start_redis, stop_redis);
}
