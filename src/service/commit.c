/*
 * commit.c — dt_committer: one group commit for the audit entries of every
 * handle that shares it (a server's workers), so many requests' entries
 * become durable in one transaction and one fsync, and one signed head.
 *
 * A request's entry that is the only thing it writes (a read, a denial, a
 * write's entry logged before the write) is handed to the committer; an
 * entry that must land in the same transaction as the write it records
 * (req_commit_with) still commits on the caller's own connection. Both
 * append to the same log: each commit takes up, under the store's write
 * lock, what the other appended (audit.c, invariant 3).
 *
 * On SQLite or PostgreSQL alike. What is SQLite's alone (the held
 * snapshots of invariant 4, the write gate's queue of invariant 5, the
 * WAL of invariant 6) is nothing on PostgreSQL: st_can_hold is 0, so no
 * handle holds a snapshot; st_begin there queues for the advisory lock,
 * a queue of the server's own, and takes no gate; the WAL's frames stay
 * 0 and a checkpoint copies nothing, so the sweeper never resets one.
 *
 * Invariants:
 *   1. A caller returns only after the transaction holding its entry has
 *      committed (its waiter is done with rc DT_OK), or with the error
 *      that commit met; an entry is never in two commits.
 *   2. One thread of the committer's own commits: it takes every queued
 *      entry, commits them on the committer's own connection, and wakes
 *      their callers (each on its own condition: no herd); entries queued
 *      meanwhile go in its next commit. A thread of its own, not a caller
 *      that leads: the server runs its workers at a lower priority, so
 *      under load the one serial step is never the one kept waiting.
 *   3. The queue holds pointers into the waiting callers' requests: a
 *      caller is blocked until its waiter is done, so they stay valid.
 *   4. The committer knows the handles that use it, and a thread of its
 *      own releases a snapshot one of them has held longer than
 *      SVC_HOLD_MS while no request is under way on it (access.c,
 *      invariant 4), taking the handle's busy lock to do so: an idle
 *      server never keeps an old snapshot, which would keep the WAL from
 *      being reset while another process writes.
 *   5. The committer's handle and every handle that uses it share a
 *      write gate (st_set_write_gate): a handle's own write (an ingest
 *      batch, a finding's step) queues for the write lock behind the
 *      committer's commits instead of polling against them.
 *   6. The WAL stays short: its readers always overlap under load, so
 *      SQLite would never reset it by itself (store.h). The committer
 *      counts its frames; past SVC_WAL_COPY_FRAMES the sweeper copies them
 *      into the database at each of its rounds, off the committing thread,
 *      and syncs the store file after each copy (st_probe_checkpoint), so
 *      the reset's own copy has little left to sync while commits wait.
 *      Past SVC_WAL_RESET_FRAMES the sweeper resets it: it asks the
 *      handles to hold no snapshot (svc_committer_wants_reset; meanwhile a
 *      request's page cache lasts that request only), releases the idle
 *      ones' and waits SVC_RESET_LEAD_MS for the others' requests to end,
 *      copies the WAL again (now no old snapshot holds any of it back),
 *      and then, holding the write gate so no commit starts, copies the
 *      rest and resets it, waiting at most ST_RESET_WAIT_US for the last
 *      readers. Commits stop only for that last step, and it is rare (the
 *      WAL is let grow to 64 MB: about a second under full load). A reset
 *      that meets a reader is tried again at the next round; a long read
 *      (an export) can still make the WAL grow while it lasts.
 *   7. The committer signs a head at most every SVC_SIGN_MS; the commits
 *      between seal the log's end (audit.c, invariant 1). Idle for
 *      SVC_SIGN_MS with entries no head covers, it signs them, and it
 *      signs what is left when it closes: a stopped server leaves a log
 *      signed to its end.
 *   8. Several committers may append to one store: the servers of several
 *      processes (behind a load balancer, on one PostgreSQL store). Each
 *      commit holds the store's write lock, which serializes them across
 *      processes, and first takes up what the others appended (audit.c,
 *      invariant 3), so the log stays one sequence with no gap and no
 *      fork. In one process, a handle uses only a committer of its own
 *      store (st_same_store: one file, or one URL).
 */
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "service/service_int.h"

typedef struct waiter {
    const gv_entry *e;
    int done, rc;
    dt_error err;
    pthread_cond_t wake;    /* its own: a commit wakes its own callers only */
    struct waiter *next;
} waiter;

struct dt_committer {
    dt_store *s;                /* its own handle: the committing thread's connection */
    pthread_mutex_t lock;
    pthread_cond_t work;        /* entries queued, or stop */
    pthread_mutex_t gate;       /* invariant 5: every handle's write lock, queued for */
    waiter *head, **tail;       /* entries not yet taken */
    int is_closing;
    pthread_t committer;
    atomic_uint_fast64_t commits, entries, sizes[DT_GROUP_BUCKETS], wal_resets;
    atomic_uint_fast64_t reset_pause_us, reset_pause_max_us; /* commits stopped by resets */
    _Atomic int_fast64_t wal_frames; /* invariant 6: the WAL's, after the last commit */
    int64_t wal_reset_frames;        /* SVC_WAL_RESET_FRAMES, or a test's */
    atomic_int wants_reset;          /* the handles are asked to hold no snapshot */
    atomic_int reset_due;            /* the committer asks the sweeper for a reset */
    st_probe *copier;                /* the sweeper's connection: passive checkpoints */
    /* invariant 4 */
    pthread_mutex_t users_lock;
    pthread_cond_t sweep_wake;       /* stop, or a WAL to copy or reset */
    dt_store **users;
    size_t n_users, cap_users;
    int is_stopping;
    pthread_t sweeper;
};

static void *committer_main(void *arg);

int64_t svc_mono_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

int64_t svc_mono_ms(void)
{
    return svc_mono_us() / 1000;
}

void svc_committer_set_wal_reset(dt_committer *c, int64_t frames)
{
    c->wal_reset_frames = frames;
}

int svc_committer_wants_reset(dt_committer *c)
{
    return atomic_load_explicit(&c->wants_reset, memory_order_relaxed);
}

/* Invariants 4 and 6: releases snapshots held too long by handles left
 * idle (any, while the WAL is to be reset); 1 when none is left held. */
static int release_idle(dt_committer *c)
{
    int wants_reset = svc_committer_wants_reset(c), none_held = 1;
    for (size_t i = 0; i < c->n_users; i++) {
        dt_store *s = c->users[i];
        if (pthread_mutex_trylock(&s->busy) != 0) { /* a request is under way */
            none_held = 0;
            continue;
        }
        if (st_snapshot_is_held(s->st) &&
            (wants_reset || svc_mono_ms() - s->held_at_ms >= SVC_HOLD_MS))
            st_snapshot_release(s->st);
        none_held &= !st_snapshot_is_held(s->st);
        pthread_mutex_unlock(&s->busy);
    }
    return none_held;
}

static void copy_wal(dt_committer *c, int restart, int *is_whole)
{
    dt_error err; /* a store that fails here fails the next commit, which reports it */
    (void)st_probe_checkpoint(c->copier, restart, is_whole, &err); /* an error: not whole */
}

static void note_pause(dt_committer *c, int64_t us)
{
    atomic_fetch_add(&c->reset_pause_us, (uint_fast64_t)us);
    if ((uint_fast64_t)us > atomic_load(&c->reset_pause_max_us)) /* the sweeper's alone */
        atomic_store(&c->reset_pause_max_us, (uint_fast64_t)us);
}

/* Invariant 6 (the sweeper's thread, users_lock held); 0: a reader stayed. */
static int reset_wal(dt_committer *c)
{
    atomic_store(&c->wants_reset, 1);
    for (int waited = 0; !release_idle(c) && waited < SVC_RESET_LEAD_MS; waited++)
        usleep(1000);
    int is_whole = 0;
    copy_wal(c, 0, &is_whole);
    pthread_mutex_lock(&c->gate);
    int64_t stopped_at = svc_mono_us();
    copy_wal(c, 1, &is_whole);
    pthread_mutex_unlock(&c->gate);
    note_pause(c, svc_mono_us() - stopped_at);
    if (!is_whole) return 0;
    atomic_fetch_add(&c->wal_resets, 1);
    atomic_store(&c->reset_due, 0);
    atomic_store(&c->wants_reset, 0);
    return 1;
}

/* One round; 0 when a reset is due and failed. */
static int sweep(dt_committer *c)
{
    if (atomic_load(&c->reset_due)) return reset_wal(c);
    release_idle(c);
    int is_whole;
    if (atomic_load(&c->wal_frames) >= SVC_WAL_COPY_FRAMES) copy_wal(c, 0, &is_whole);
    return 1;
}

static void *sweeper_main(void *arg)
{
    dt_committer *c = arg;
    pthread_mutex_lock(&c->users_lock);
    int was_ok = 1;
    while (!c->is_stopping) {
        /* a round each SVC_HOLD_MS / 2, a reset asked for while it swept at
         * once; a failed reset waits a round (a long read may be what holds
         * the WAL, and each try stops the commits for a moment) */
        long ms = SVC_HOLD_MS / 2;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += ms * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        if (!was_ok || !atomic_load(&c->reset_due))
            pthread_cond_timedwait(&c->sweep_wake, &c->users_lock, &until);
        if (!c->is_stopping) was_ok = sweep(c);
    }
    pthread_mutex_unlock(&c->users_lock);
    return NULL;
}

int dt_committer_open(const char *store_path, const char *key_path, dt_committer **out,
                      dt_error *err)
{
    DT_ERR_INIT(err);
    if (!out) return dt_err_set(err, DT_EINVAL, "dt_committer_open: NULL argument");
    *out = NULL;
    dt_committer *c = dt_calloc(1, sizeof *c);
    if (!c) return dt_err_set(err, DT_ENOMEM, "out of memory");
    int rc = dt_store_open_keyed(store_path, key_path, &c->s, err);
    if (rc == DT_OK) rc = gv_audit_open(c->s->st, &c->s->audit, err);
    if (rc == DT_OK) gv_audit_sign_every(c->s->audit, SVC_SIGN_MS);
    if (rc == DT_OK) rc = st_probe_open(c->s->st, &c->copier, err);
    if (rc < 0) {
        st_probe_close(c->copier);
        dt_store_close(c->s);
        dt_free(c);
        return rc;
    }
    st_wal_watch(c->s->st, &c->wal_frames);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->work, NULL);
    pthread_mutex_init(&c->gate, NULL);
    st_set_write_gate(c->s->st, &c->gate);
    pthread_mutex_init(&c->users_lock, NULL);
    pthread_cond_init(&c->sweep_wake, NULL);
    c->tail = &c->head;
    c->wal_reset_frames = SVC_WAL_RESET_FRAMES;
    if (pthread_create(&c->committer, NULL, committer_main, c) != 0) {
        c->is_closing = c->is_stopping = 1; /* no thread to join */
        dt_committer_close(c);
        return dt_err_set(err, DT_ENOMEM, "cannot start the committer's thread");
    }
    if (pthread_create(&c->sweeper, NULL, sweeper_main, c) != 0) {
        c->is_stopping = 1;
        dt_committer_close(c);
        return dt_err_set(err, DT_ENOMEM, "cannot start the committer's thread");
    }
    *out = c;
    return DT_OK;
}

void dt_committer_close(dt_committer *c)
{
    if (!c) return;
    assert(!c->head && !c->n_users); /* every handle that used it left first */
    pthread_mutex_lock(&c->lock);
    int committing = !c->is_closing;
    c->is_closing = 1;
    pthread_cond_signal(&c->work);
    pthread_mutex_unlock(&c->lock);
    if (committing) pthread_join(c->committer, NULL);
    pthread_mutex_lock(&c->users_lock);
    int was_running = !c->is_stopping;
    c->is_stopping = 1;
    pthread_cond_signal(&c->sweep_wake);
    pthread_mutex_unlock(&c->users_lock);
    if (was_running) pthread_join(c->sweeper, NULL);
    pthread_cond_destroy(&c->sweep_wake);
    pthread_mutex_destroy(&c->users_lock);
    pthread_cond_destroy(&c->work);
    pthread_mutex_destroy(&c->lock);
    dt_free(c->users);
    st_probe_close(c->copier);
    dt_store_close(c->s);
    pthread_mutex_destroy(&c->gate);
    dt_free(c);
}

int dt_store_use_committer(dt_store *store, dt_committer *c, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store) return dt_err_set(err, DT_EINVAL, "dt_store_use_committer: NULL argument");
    if (c && !st_same_store(store->st, c->s->st))
        return dt_err_set(err, DT_EINVAL, "the committer is of store '%s', not '%s'",
                          st_path(c->s->st), st_path(store->st));
    if (store->committer == c) return DT_OK;
    if (store->committer) svc_committer_leave(store->committer, store);
    if (!c) return DT_OK;
    if (!store->probe) DT_TRY(st_probe_open(store->st, &store->probe, err));
    pthread_mutex_lock(&c->users_lock);
    int rc = util_grow((void **)&c->users, &c->cap_users, c->n_users + 1, sizeof *c->users);
    if (rc == DT_OK) {
        c->users[c->n_users++] = store;
        store->committer = c;
        st_set_write_gate(store->st, &c->gate);
    }
    pthread_mutex_unlock(&c->users_lock);
    return rc < 0 ? dt_err_set(err, DT_ENOMEM, "out of memory") : DT_OK;
}

void svc_committer_leave(dt_committer *c, dt_store *store)
{
    pthread_mutex_lock(&c->users_lock); /* the sweeper is not looking at it meanwhile */
    for (size_t i = 0; i < c->n_users; i++)
        if (c->users[i] == store) c->users[i] = c->users[--c->n_users];
    store->committer = NULL;
    st_snapshot_release(store->st);
    st_set_write_gate(store->st, NULL);
    pthread_mutex_unlock(&c->users_lock);
}

void dt_committer_stats(dt_committer *c, dt_group_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!c) return;
    out->commits = atomic_load(&c->commits);
    out->entries = atomic_load(&c->entries);
    for (int i = 0; i < DT_GROUP_BUCKETS; i++) out->sizes[i] = atomic_load(&c->sizes[i]);
    out->wal_resets = atomic_load(&c->wal_resets);
    out->reset_pause_us = atomic_load(&c->reset_pause_us);
    out->reset_pause_max_us = atomic_load(&c->reset_pause_max_us);
}

/* The bucket of a group of n: bucket i holds sizes up to 2^i, the last
 * every larger one. */
static int size_bucket(size_t n)
{
    int i = 0;
    while (i < DT_GROUP_BUCKETS - 1 && n > (size_t)1 << i) i++;
    return i;
}

/* Commits the taken list in one transaction (the committer's thread, unlocked). */
static int commit_group(dt_committer *c, waiter *group, dt_error *err)
{
    gv_audit *a = c->s->audit;
    size_t n = 0;
    for (waiter *w = group; w; w = w->next, n++) {
        int rc = gv_audit_add(a, w->e, err);
        if (rc < 0) {
            gv_audit_drop(a);
            return rc;
        }
    }
    int rc = gv_audit_commit(a, NULL, err);
    if (rc < 0) {
        gv_audit_drop(a);
        return rc;
    }
    atomic_fetch_add(&c->commits, 1);
    atomic_fetch_add(&c->entries, n);
    atomic_fetch_add(&c->sizes[size_bucket(n)], 1);
    return DT_OK;
}

/* Tells each caller of the group its commit's outcome (c->lock held). */
static void wake_group(waiter *group, int rc, const dt_error *err)
{
    for (waiter *w = group, *next; w; w = next) {
        next = w->next; /* w may return (and its frame go) once done is seen */
        w->rc = rc;
        w->err = *err;
        w->done = 1;
        pthread_cond_signal(&w->wake);
    }
}

static void wake_sweeper(dt_committer *c)
{
    /* a sweeper at work holds the lock for a while: it sees reset_due when done */
    if (pthread_mutex_trylock(&c->users_lock) != 0) return;
    pthread_cond_signal(&c->sweep_wake);
    pthread_mutex_unlock(&c->users_lock);
}

/* Invariant 7. A head that cannot be signed now is signed by a later
 * commit; meanwhile the sealed end vouches for the log, and a failing
 * store fails the next commit, which reports it. An idle round does not
 * wait for another's write: entries that came meanwhile would wait for
 * it twice, the sign's turn and their own. */
static void sign_log(dt_committer *c, int may_wait)
{
    dt_error err;
    if (!gv_audit_is_signed(c->s->audit)) (void)gv_audit_sign(c->s->audit, may_wait, &err);
}

/* Invariant 6, between two groups (the committer's thread, unlocked). */
static void keep_wal_short(dt_committer *c)
{
    if (atomic_load(&c->wal_frames) < c->wal_reset_frames) return;
    if (!atomic_exchange(&c->reset_due, 1)) wake_sweeper(c);
}

/* Invariant 7 (the committer's thread, c->lock held): waits for entries;
 * idle with entries no head covers, signs them after SVC_SIGN_MS. */
static void wait_for_work(dt_committer *c)
{
    while (!c->head && !c->is_closing) {
        if (gv_audit_is_signed(c->s->audit)) {
            pthread_cond_wait(&c->work, &c->lock);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += SVC_SIGN_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        if (pthread_cond_timedwait(&c->work, &c->lock, &until) == 0 || c->head) continue;
        pthread_mutex_unlock(&c->lock);
        sign_log(c, 0);
        pthread_mutex_lock(&c->lock);
    }
}

/* Invariant 2. */
static void *committer_main(void *arg)
{
    dt_committer *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        wait_for_work(c);
        if (!c->head) break; /* closing, and nothing is left to commit */
        waiter *group = c->head;
        c->head = NULL;
        c->tail = &c->head;
        pthread_mutex_unlock(&c->lock);
        dt_error gerr;
        dt_error_clear(&gerr);
        int rc = commit_group(c, group, &gerr);
        pthread_mutex_lock(&c->lock);
        wake_group(group, rc, &gerr);
        pthread_mutex_unlock(&c->lock);
        keep_wal_short(c);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    sign_log(c, 1);
    return NULL;
}

int svc_committer_append(dt_committer *c, const gv_entry *e, dt_error *err)
{
    waiter me = {.e = e};
    pthread_cond_init(&me.wake, NULL);
    pthread_mutex_lock(&c->lock);
    *c->tail = &me;
    c->tail = &me.next;
    pthread_cond_signal(&c->work);
    while (!me.done) pthread_cond_wait(&me.wake, &c->lock);
    pthread_mutex_unlock(&c->lock);
    pthread_cond_destroy(&me.wake);
    if (me.rc < 0) *err = me.err;
    return me.rc;
}
