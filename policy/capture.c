/*
 * Stages 7-9: how often an identity may ask, how many captures of one
 * endpoint may run, and how much of the target's time captures may take.
 * Plain arithmetic on caller-owned state; the caller holds the lock.
 */

#include <string.h>

#include "policy.h"


#define MILLI  1000


static uint64_t
ceil_seconds(uint64_t ms)
{
    uint64_t  s = (ms + MILLI - 1) / MILLI;

    return s ? s : 1;
}


static int
parse_uint(pprof_str_t s, uint64_t max, uint64_t *v)
{
    size_t  i;

    if (s.len == 0 || s.len > 9) {
        return -1;
    }

    *v = 0;
    for (i = 0; i < s.len; i++) {
        if (s.data[i] < '0' || s.data[i] > '9') {
            return -1;
        }
        *v = *v * 10 + (s.data[i] - '0');
    }

    return *v <= max ? 0 : -1;
}


/* Captures 4r/m burst=2, snapshots 60r/m burst=10; the rest unlimited. */
pprof_rate_t
pprof_rate_default(pprof_class_t cls)
{
    static const pprof_rate_t  defaults[PPROF_CLASS_COUNT] = {
        [PPROF_CLASS_SNAPSHOT] = { 60 * MILLI / 60, 10 },
        [PPROF_CLASS_CAPTURE] = { 4 * MILLI / 60, 2 },
    };
    static const pprof_rate_t  none;

    return (unsigned) cls < PPROF_CLASS_COUNT ? defaults[cls] : none;
}


int
pprof_rate_parse(pprof_str_t rate, pprof_str_t burst, pprof_rate_t *out,
    const char **err)
{
    pprof_str_t  num;
    uint64_t     n, per;

    if (rate.len < 4 || memcmp(rate.data + rate.len - 3, "r/", 2) != 0) {
        *err = "rate is not N r/s or N r/m";
        return -1;
    }

    switch (rate.data[rate.len - 1]) {
    case 's':
        per = 1;
        break;
    case 'm':
        per = 60;
        break;
    default:
        *err = "rate is not N r/s or N r/m";
        return -1;
    }

    num.data = rate.data;
    num.len = rate.len - 3;

    if (parse_uint(num, 1000000, &n) != 0 || n == 0) {
        *err = "rate must be a whole number of requests from 1";
        return -1;
    }

    out->rate = n * MILLI / per;
    if (out->rate == 0) {
        out->rate = 1;
    }

    out->burst = 0;

    if (burst.len) {
        if (burst.len < 7 || memcmp(burst.data, "burst=", 6) != 0) {
            *err = "burst is not burst=N";
            return -1;
        }

        num.data = burst.data + 6;
        num.len = burst.len - 6;

        if (parse_uint(num, 100000, &out->burst) != 0) {
            *err = "burst is not burst=N";
            return -1;
        }
    }

    return 0;
}


/*
 * What the bucket holds at now once the request being judged is added, as
 * limit_req reckons it: max(0, excess - drained + 1).  A clock that steps
 * back drains nothing, and refunds nothing.
 */
static uint64_t
excess_with(const pprof_rate_state_t *state, const pprof_rate_t *rate,
    uint64_t now)
{
    uint64_t  drained, full;

    full = state->excess + MILLI;

    if (now <= state->last) {
        return full;
    }

    /* Saturate: a long-idle bucket would overflow rate * elapsed. */
    drained = now - state->last > UINT64_MAX / (rate->rate + 1)
              ? UINT64_MAX : rate->rate * (now - state->last) / MILLI;

    return drained >= full ? 0 : full - drained;
}


pprof_reason_t
pprof_rate_take(pprof_rate_state_t *state, const pprof_rate_t *rate,
    uint64_t now, uint64_t *retry_after)
{
    uint64_t  excess, limit;

    if (rate->rate == 0) {
        return PPROF_OK;
    }

    /* The first request of a new state passes, as in limit_req. */
    excess = state->last == 0 ? 0 : excess_with(state, rate, now);
    limit = rate->burst * MILLI;

    if (excess > limit) {
        *retry_after = ceil_seconds((excess - limit) * MILLI / rate->rate);
        return PPROF_RATE_LIMITED;
    }

    state->excess = excess;
    state->last = now ? now : 1;
    return PPROF_OK;
}


/*
 * Forgetting a state gives its identity a fresh start, whose first request
 * passes free: only do so once the last request has drained too.
 */
int
pprof_rate_idle(const pprof_rate_state_t *state, const pprof_rate_t *rate,
    uint64_t now)
{
    if (rate->rate == 0 || state->last == 0) {
        return 1;
    }

    return excess_with(state, rate, now) == 0;
}


size_t
pprof_slots_expire(pprof_lease_t *slots, size_t n, uint64_t now)
{
    size_t  i, freed = 0;

    for (i = 0; i < n; i++) {
        if (slots[i].id && slots[i].expires <= now) {
            memset(&slots[i], 0, sizeof(slots[i]));
            freed++;
        }
    }

    return freed;
}


/*
 * A free slot until ends, freed at expires if no one releases it; else
 * busy until the earliest running capture's ends.
 */
static pprof_reason_t
slots_take(pprof_lease_t *slots, size_t n, uint64_t now, uint64_t ends,
    uint64_t expires, uint64_t id, uint64_t *retry_after)
{
    size_t    i, first;
    uint64_t  from;

    if (id == 0) {
        return PPROF_INTERNAL_ERROR;
    }

    first = 0;

    for (i = 0; i < n; i++) {
        if (slots[i].id == 0) {
            slots[i].id = id;
            slots[i].starts = now;
            slots[i].ends = ends;
            slots[i].expires = expires;
            return PPROF_OK;
        }

        if (slots[i].ends < slots[first].ends) {
            first = i;
        }
    }

    /*
     * Each worker caches its own clock, so now may lag the granting
     * worker's: counted from the grant at the latest, never longer than
     * the slot is held.
     */
    from = now > slots[first].starts ? now : slots[first].starts;
    *retry_after = ceil_seconds(slots[first].ends > from
                                ? slots[first].ends - from : 0);
    return PPROF_CAPTURE_BUSY;
}


pprof_reason_t
pprof_slots_acquire(pprof_lease_t *slots, size_t n, uint64_t now,
    uint64_t duration, uint64_t id, uint64_t *retry_after)
{
    return slots_take(slots, n, now, now + duration,
                      now + duration + PPROF_LEASE_MARGIN, id, retry_after);
}


/*
 * Nothing gives a lease back, so it is held, and waited for, to its
 * expiry: telling the proxy when the capture itself ends would send its
 * client back while the slot is still taken.
 */
pprof_reason_t
pprof_slots_lease(pprof_lease_t *slots, size_t n, uint64_t now,
    uint64_t duration, uint64_t id, uint64_t *retry_after)
{
    uint64_t  expires;

    expires = now + duration + PPROF_LEASE_MARGIN;

    return slots_take(slots, n, now, expires, expires, id, retry_after);
}


int
pprof_slots_release(pprof_lease_t *slots, size_t n, uint64_t id)
{
    size_t  i;

    for (i = 0; id && i < n; i++) {
        if (slots[i].id == id) {
            memset(&slots[i], 0, sizeof(slots[i]));
            return 1;
        }
    }

    return 0;
}


int
pprof_slots_settle(pprof_lease_t *slots, size_t n, uint64_t id, uint64_t now)
{
    size_t    i;
    uint64_t  until;

    until = now + PPROF_CAPTURE_SETTLE;

    for (i = 0; id && i < n; i++) {
        if (slots[i].id == id) {
            if (until < slots[i].expires) {
                slots[i].expires = until;
            }

            if (until < slots[i].ends) {
                slots[i].ends = until;
            }

            return 1;
        }
    }

    return 0;
}


size_t
pprof_slots_live(const pprof_lease_t *slots, size_t n)
{
    size_t  i, live = 0;

    for (i = 0; i < n; i++) {
        live += slots[i].id != 0;
    }

    return live;
}


/* A window's slices: 1/PPROF_BUDGET_BUCKETS of it each, at least 1 ms. */
static uint64_t
budget_width(uint64_t window)
{
    uint64_t  width = window / PPROF_BUDGET_BUCKETS;

    return width ? width : 1;
}


static uint64_t
budget_oldest(uint64_t current)
{
    return current >= PPROF_BUDGET_BUCKETS - 1
           ? current - (PPROF_BUDGET_BUCKETS - 1) : 0;
}


/* Capture time granted in the slices from oldest to current. */
static uint64_t
budget_used(const pprof_budget_state_t *state, uint64_t oldest,
    uint64_t current)
{
    size_t    i;
    uint64_t  used = 0;

    for (i = 0; i < PPROF_BUDGET_BUCKETS; i++) {
        if (state->epoch[i] >= oldest && state->epoch[i] <= current) {
            used += state->used[i];
        }
    }

    return used;
}


static void
budget_add(pprof_budget_state_t *state, uint64_t current, uint64_t amount)
{
    size_t  b = current % PPROF_BUDGET_BUCKETS;

    if (state->epoch[b] != current) {
        state->epoch[b] = current;
        state->used[b] = 0;
    }

    state->used[b] += amount;
}


pprof_reason_t
pprof_budget_take(pprof_budget_state_t *state, const pprof_budget_t *budget,
    uint64_t now, uint64_t amount, uint64_t *retry_after)
{
    uint64_t  width, current, oldest, used, freed, epoch;
    size_t    b;

    if (budget->limit == 0) {
        return PPROF_OK;
    }

    width = budget_width(budget->window);
    current = now / width;
    oldest = budget_oldest(current);
    used = budget_used(state, oldest, current);

    if (amount <= budget->limit && used + amount <= budget->limit) {
        budget_add(state, current, amount);
        return PPROF_OK;
    }

    /* A capture longer than the whole budget waits a whole window. */
    if (amount > budget->limit) {
        *retry_after = ceil_seconds(budget->window);
        return PPROF_BUDGET_EXHAUSTED;
    }

    /* Walk the slices oldest first until enough time has left the window. */
    freed = 0;
    for (epoch = oldest; epoch <= current; epoch++) {
        b = epoch % PPROF_BUDGET_BUCKETS;

        if (state->epoch[b] == epoch) {
            freed += state->used[b];
        }

        if (used - freed + amount <= budget->limit) {
            break;
        }
    }

    *retry_after = ceil_seconds((epoch + PPROF_BUDGET_BUCKETS) * width - now);
    return PPROF_BUDGET_EXHAUSTED;
}


void
pprof_budget_charge(pprof_budget_state_t *state, uint64_t window,
    uint64_t now, uint64_t amount)
{
    budget_add(state, now / budget_width(window), amount);
}


int
pprof_budget_idle(const pprof_budget_state_t *state, uint64_t window,
    uint64_t now)
{
    uint64_t  current;

    current = now / budget_width(window);

    return budget_used(state, budget_oldest(current), current) == 0;
}


/*
 * Slots and budget are found by the target's name: one that is empty names
 * no process, and one past the cap is no name an operator wrote (a client
 * header, most likely) and would make every state key that long.
 */
pprof_reason_t
pprof_policy_target(pprof_str_t target)
{
    if (target.len == 0 || target.len > PPROF_TARGET_MAX) {
        return PPROF_FORBIDDEN;
    }

    return PPROF_OK;
}


uint64_t
pprof_capture_read_timeout(unsigned max_seconds)
{
    return ((uint64_t) max_seconds + PPROF_CAPTURE_READ_MARGIN) * MILLI;
}
