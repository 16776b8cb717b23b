/*
 * pool.c — parallel-for over an index range on pthreads. Workers pull
 * chunks from one atomic counter, so load balances itself; the caller's
 * thread works too. Threads live for one call: stages are long, so thread
 * start-up cost is noise, and no state outlives a stage. Also the
 * machine's size (cores, memory), which decides how much work to take on.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

#include "util.h"

typedef struct pool_job {
    util_range_fn fn;
    void *ctx;
    size_t n, chunk;
    atomic_size_t next; /* first index not yet handed out */
} pool_job;

typedef struct pool_worker {
    pool_job *job;
    int i_worker;
} pool_worker;

static void run_chunks(pool_job *job, int i_worker)
{
    for (;;) {
        size_t begin = atomic_fetch_add(&job->next, job->chunk);
        if (begin >= job->n) return;
        size_t end = begin + job->chunk < job->n ? begin + job->chunk : job->n;
        job->fn(job->ctx, begin, end, i_worker);
    }
}

static void *worker_main(void *arg)
{
    pool_worker *w = arg;
    run_chunks(w->job, w->i_worker);
    return NULL;
}

int util_n_cores(void)
{
    /* sysconf reads /sys on every call (5% of a read's time); cores do not
     * come and go under one process often enough to matter. Racing
     * threads store the same value. */
    static _Atomic int cached;
    int n = cached;
    if (n > 0) return n;
    long m = sysconf(_SC_NPROCESSORS_ONLN);
    n = m > 0 ? (int)m : 1;
    cached = n;
    return n;
}

uint64_t util_phys_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

uint64_t util_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (uint64_t)ru.ru_maxrss * 1024u; /* Linux reports KiB */
}

int util_parallel_for(int n_threads, size_t n, size_t chunk, util_range_fn fn, void *ctx)
{
    enum { MAX_THREADS = 256 };
    if (n == 0) return DT_OK;
    if (chunk == 0) chunk = 1;
    if (n_threads <= 0) n_threads = util_n_cores();
    if (n_threads > MAX_THREADS) n_threads = MAX_THREADS;
    size_t n_chunks = (n + chunk - 1) / chunk;
    if ((size_t)n_threads > n_chunks) n_threads = (int)n_chunks;

    pool_job job = {.fn = fn, .ctx = ctx, .n = n, .chunk = chunk};
    atomic_init(&job.next, 0);
    pthread_t threads[MAX_THREADS];
    pool_worker workers[MAX_THREADS];
    int n_started = 0;
    for (int i = 1; i < n_threads; i++) {
        workers[i] = (pool_worker){.job = &job, .i_worker = i};
        if (pthread_create(&threads[i], NULL, worker_main, &workers[i]) != 0) break;
        n_started++;
    }
    run_chunks(&job, 0); /* if thread creation failed, the caller does it all */
    for (int i = 1; i <= n_started; i++) pthread_join(threads[i], NULL);
    return DT_OK;
}
