/*
 * util.h — the bottom layer: errors, allocation, arenas, string interning,
 * hashing, a thread pool and a clock. Depends on libc (and pthreads) only;
 * every other part may include it.
 *
 * Invariants:
 *   1. All heap allocation in the library goes through dt_malloc and friends,
 *      so tests can make the Nth allocation fail (util_fail_after).
 *   2. An arena frees everything it handed out in one util_arena_fini; its
 *      pointers stay valid until then (blocks never move).
 *   3. An intern table gives each distinct byte string one dense id, 0, 1, 2…
 *      in first-seen order; ids and the strings behind them never change.
 */
#ifndef DT_UTIL_H
#define DT_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dovetail.h"

/* ---- errors ------------------------------------------------------- */

/* Sets err (if not NULL) to code with a printf-style message. Returns code,
 * so `return dt_err_set(err, DT_EINPUT, "...")` reads naturally. */
int dt_err_set(dt_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like dt_err_set, and records a position: message becomes
 * "file:line:column: <text>". line/column 0 are left out. */
int dt_err_at(dt_error *err, int code, const char *file, long line, long column,
              const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* err->msg without the "file:line:column: " prefix dt_err_at put there. */
const char *dt_err_text(const dt_error *err);

/* Like dt_err_set, and names the record field or config key concerned
 * (err->field). */
int dt_err_field(dt_error *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Makes sure a failed public call leaves a message: if err (not NULL)
 * holds no error yet, sets code with its dt_strerror text. Returns code. */
int dt_err_ensure(dt_error *err, int code);

/* Forwards a negative code from call. Use inside functions returning int. */
#define DT_TRY(call)                                                      \
    do {                                                                  \
        int dt_try_rc_ = (call);                                          \
        if (dt_try_rc_ < 0) return dt_try_rc_;                            \
    } while (0)

/* Opens a public call: clears *err, or points err at a local when the
 * caller passed NULL, so nothing below need check it (every public call
 * accepts NULL for err). Declares err_local_ in the caller's scope. */
#define DT_ERR_INIT(err)                                                  \
    dt_error err_local_;                                                  \
    if (!(err)) (err) = &err_local_;                                      \
    dt_error_clear(err)

#define DT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- allocation --------------------------------------------------- */

void *dt_malloc(size_t n);
void *dt_calloc(size_t count, size_t size);
void *dt_realloc(void *p, size_t n);
/* Gives memory freed on the heap back to the system (glibc), so the pages
 * a finished stage used do not count in the next one's resident peak. */
void util_release_free(void);
char *dt_strdup(const char *s);
char *dt_strndup(const char *s, size_t n);
/* printf into a fresh dt_malloc'd string; NULL on failure. */
char *dt_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Test hook: the n-th allocation from now (1-based) and all after it fail;
 * 0 turns failures off. Not thread-safe; tests only. */
void util_fail_after(long n);

/* Grows *items (of elem_size bytes, capacity *cap) to hold at least need.
 * Returns DT_OK or DT_ENOMEM (then *items is unchanged). */
int util_grow(void **items, size_t *cap, size_t need, size_t elem_size);

/* ---- growable byte buffer ----------------------------------------- */

/* data is NUL-terminated after every successful append (when cap > 0).
 * A failed append sets is_failed, which stays set until util_buf_clear, so
 * a caller may build a whole line unchecked and test once before using it. */
typedef struct util_buf {
    char *data;
    size_t len, cap;
    int is_failed;
} util_buf;

void util_buf_fini(util_buf *b);
static inline void util_buf_clear(util_buf *b)
{
    b->len = 0;
    b->is_failed = 0;
    if (b->cap) b->data[0] = '\0';
}
int util_buf_reserve(util_buf *b, size_t extra);
int util_buf_append(util_buf *b, const void *p, size_t n);
int util_buf_putc(util_buf *b, char c);
int util_buf_printf(util_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- flat JSON objects (json_flat.c) ------------------------------ */

/* Called with each member of the object, unescaped and NUL-terminated (a
 * null's value is NULL); 0 to go on, anything else to stop with it. */
typedef int (*util_flat_fn)(void *ctx, const char *key, size_t key_len, const char *value,
                            size_t value_len);
/* Walks text, a JSON object whose values are strings or null, using key
 * and value as scratch: 0, 1 when text is not such an object (json_flat.c,
 * invariant 2), or fn's nonzero return. */
int util_json_flat_each(const char *text, util_buf *key, util_buf *value, util_flat_fn fn,
                        void *ctx);

/* ---- arena -------------------------------------------------------- */

typedef struct util_arena_block util_arena_block;
typedef struct util_arena {
    util_arena_block *head;  /* newest block; older ones chained behind */
    size_t block_bytes;      /* the largest size a new block grows to */
    size_t next_bytes;       /* the size of the next block: doubles up to block_bytes */
} util_arena;

void util_arena_init(util_arena *a, size_t block_bytes);
void util_arena_fini(util_arena *a);
/* 16-byte aligned, uninitialised; NULL when out of memory. */
void *util_arena_alloc(util_arena *a, size_t n);
/* Copies n bytes and appends a NUL. */
char *util_arena_strndup(util_arena *a, const char *s, size_t n);

/* ---- hashing ------------------------------------------------------ */

uint64_t util_hash64(const void *data, size_t n, uint64_t seed);
/* Mixes one 64-bit value (splitmix64 finaliser); a bijection. */
uint64_t util_mix64(uint64_t x);

/* Deterministic PRNG (xoshiro256**, Blackman & Vigna 2018), seeded by
 * splitmix64 so any 64-bit seed gives a good state. */
typedef struct util_rng { uint64_t s[4]; } util_rng;
void util_rng_seed(util_rng *r, uint64_t seed);
uint64_t util_rng_next(util_rng *r);
/* Uniform in [0, bound) without modulo bias; bound > 0. */
uint64_t util_rng_below(util_rng *r, uint64_t bound);

/* ---- string interning --------------------------------------------- */

typedef struct util_intern {
    util_arena arena;      /* string bytes */
    const char **strs;     /* id -> string (NUL-terminated) */
    uint32_t *lens;        /* id -> length in bytes */
    uint32_t n_strs;
    size_t cap_strs;
    uint64_t *slots;       /* open addressing: hash tag << 32 | id + 1, 0 = empty */
    size_t n_slots;        /* power of two */
} util_intern;

void util_intern_init(util_intern *t);
void util_intern_fini(util_intern *t);
/* OUT: *id. Returns DT_OK or DT_ENOMEM. */
int util_intern_put(util_intern *t, const char *s, size_t n, uint32_t *id);
/* Returns the id, or UINT32_MAX when absent. */
uint32_t util_intern_find(const util_intern *t, const char *s, size_t n);
static inline const char *util_intern_str(const util_intern *t, uint32_t id)
{
    return t->strs[id];
}

/* ---- sets of 64-bit ids ------------------------------------------- */

/* Each distinct id gets a dense index, in the order ids were first put;
 * ids[index] gives it back. Zero-initialize; util_ids_fini frees. */
typedef struct util_ids {
    int64_t *ids;
    uint32_t n;
    size_t cap;
    uint32_t *slots;       /* open addressing: index + 1, 0 = empty */
    size_t n_slots;        /* power of two */
} util_ids;

void util_ids_fini(util_ids *s);
/* OUT: *index, and *is_new (1 when the id was not there). DT_OK or DT_ENOMEM. */
int util_ids_put(util_ids *s, int64_t id, uint32_t *index, int *is_new);
/* util_ids_put without the outputs. */
int util_ids_add(util_ids *s, int64_t id);
/* The id's index, or UINT32_MAX when absent. */
uint32_t util_ids_find(const util_ids *s, int64_t id);

/* ---- sorting ------------------------------------------------------ */

/* A 64-bit key with a 32-bit payload, sorted by key then payload. */
typedef struct util_kv {
    uint64_t key;
    uint32_t val;
} util_kv;

/* Sorts items by (key, val) ascending: LSD radix sort, 16 bits a pass,
 * skipping passes where every item has the same digit. Stable, O(n).
 * Needs a scratch array of n items; returns DT_ENOMEM without one. */
int util_sort_kv(util_kv *items, size_t n);
/* The same order, faster when keys are hashes (spread over all 64 bits):
 * one radix pass on the top digit, then each small bucket on its own. */
int util_sort_kv_spread(util_kv *items, size_t n);
/* The same order on n_threads (at most two parts): each half sorted on
 * its own thread, then merged by (key, val). For tens of millions of
 * items (clustering's links at 10M people), where the sort is serial
 * time; fewer go to util_sort_kv. Scratch of n items more. */
int util_sort_kv_on(util_kv *items, size_t n, int n_threads);
/* Sorts v ascending, as util_sort_kv does (a blocking index's tens of
 * millions of slots: qsort took seconds). DT_ENOMEM without scratch. */
int util_sort_u64(uint64_t *v, size_t n);
/* Sorts v by its high 32 bits only, keeping the order of items equal
 * there (two stable passes); tmp (n items, or NULL: allocated) is
 * scratch. */
int util_sort_u64_hi(uint64_t *v, size_t n, uint64_t *tmp);

/* ---- thread pool -------------------------------------------------- */

/* Runs fn(ctx, begin, end, i_worker) over [0, n) split into chunks of
 * `chunk` items on n_threads threads (the caller's thread among them).
 * Which worker runs which chunk varies; results must not depend on it. */
typedef void (*util_range_fn)(void *ctx, size_t begin, size_t end, int i_worker);
int util_parallel_for(int n_threads, size_t n, size_t chunk, util_range_fn fn, void *ctx);
/* Number of online cores, at least 1. */
int util_n_cores(void);
/* Physical memory of the machine and this process's peak resident memory,
 * in bytes; 0 when unknown. */
uint64_t util_phys_memory(void);
uint64_t util_peak_rss(void);

/* ---- time and files ----------------------------------------------- */

double util_now(void); /* monotonic seconds */
/* Days since 1970-01-01 of a civil date, proleptic Gregorian (Howard
 * Hinnant's days_from_civil: libc has no calendar arithmetic that is free
 * of time zones). */
static inline int64_t util_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}
/* Reads a whole file into a NUL-terminated dt_malloc'd buffer. */
int util_read_file(const char *path, char **out, size_t *out_len, dt_error *err);
/* Same, refusing a file over max_bytes with DT_ELIMIT ("path: over N
 * bytes, the limit for <what>") before reading it whole. */
int util_read_file_max(const char *path, size_t max_bytes, const char *what, char **out,
                       size_t *out_len, dt_error *err);
/* mkdir -p: makes path and any missing parents, mode 0700 whatever the
 * umask; DT_OK if it already exists (its mode is left as it is). */
int util_mkdir(const char *path, dt_error *err);
/* The newline bytes in the file, counted until more than max were seen
 * (an estimate of its rows, for choosing a path). DT_EIO when unreadable. */
int util_count_lines(const char *path, uint64_t max, uint64_t *n);
/* Joins dir and name with '/' unless name is absolute. dt_free the result. */
char *util_path_join(const char *dir, const char *name);
/* Directory part of path ("." when none). dt_free the result. */
char *util_dirname(const char *path);
/* Path of one of dovetail's data files ("nicknames.tsv"): the compiled-in
 * data directory's, or, when that has none, the one installed beside the
 * program or library (datadir.c). NULL only when out of memory. dt_free it. */
char *util_data_path(const char *name);

/* An output file written whole or not at all (file.c's invariants): made
 * 0600 under an unpredictable temporary name beside path, put in place by
 * util_out_commit. Every file the library writes goes through it. */
typedef struct util_out {
    FILE *f;      /* write here between open and close */
    char *tmp;    /* the temporary's path; NULL once committed */
    char *path;   /* the target */
} util_out;

/* OUT: *o. On failure *o holds nothing to abort. */
int util_out_open(util_out *o, const char *path, dt_error *err);
/* Hands what is written so far to the kernel and starts it on its way to
 * disk, without waiting (Linux; elsewhere only the flush): the sync at
 * close then waits for the rest only. For outputs of gigabytes, every
 * few tens of megabytes. DT_EIO when the flush fails. */
int util_out_write_back(util_out *o, dt_error *err);
/* Flushes, syncs and closes o->f, keeping the temporary (so a caller can
 * finish other work before committing); a no-op once closed. */
int util_out_close(util_out *o, dt_error *err);
/* Closes if open, then renames the temporary over the target, or, with
 * no_replace, links it there (failing when the target exists). Frees o
 * either way; on failure the temporary is removed. */
int util_out_commit(util_out *o, int no_replace, dt_error *err);
/* Closes and removes the temporary and frees o; safe on a zeroed o. */
void util_out_abort(util_out *o);
/* Writes n bytes as the whole file at path, as util_out does. */
int util_write_file(const char *path, const void *data, size_t n, int no_replace, dt_error *err);

#endif /* DT_UTIL_H */
