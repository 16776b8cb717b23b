/*
 * resolve.c — latency of `resolve` (a read) against a store, in process,
 * through the public API: the store is opened once, then each row of a
 * source's CSV is turned into a record.json and resolved, and the time of
 * each call is kept. Prints one JSON object: calls, p50, p90, p99 and max
 * in milliseconds, and how many found an entity.
 *
 * Each record is resolved three ways. The rows are read first, one pass
 * of `core` warms the caches, then each way makes whole passes over the
 * rows in the order core, enforced, governed, governed, enforced, core,
 * twice, so every way meets warm pages and drift in the machine falls on
 * all alike. Besides percentiles over every call, "p50_best_ms" is the
 * median over records of each record's fastest of its 4 calls: what the
 * code costs with the machine's bursts of noise filtered out:
 *   core      the resolution alone, under a view that allows everything
 *             (internal: what the governed call wraps);
 *   enforced  plus authentication, the purpose's view and its filtering;
 *   governed  the public dt_store_resolve: plus the audit entry, committed
 *             (one fsync) before the call returns.
 * So enforced/core is the overhead of enforcement, governed - enforced the
 * cost of a durable audit entry. The token comes from DOVETAIL_TOKEN.
 *
 * usage: bench-resolve --store FILE --source NAME --csv FILE [--n N] [--purpose P]
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dovetail.h"
#include "service/service.h"
#include "io/csv.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The row as a JSON object keyed by the header. */
static char *row_json(const csv_row *h, const csv_row *r)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < r->n_fields && i < h->n_fields; i++)
        if (h->fields[i]) json_object_set_new(o, h->fields[i], json_stringn(r->fields[i], r->lens[i]));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* A registry's CSV may carry columns the config does not read (benefits'
 * PROGRAM); resolve refuses a key that is not a column of the source,
 * naming it in err.field. Leaves those out of the header (NULL), found by
 * resolving the first row r. */
static void drop_unread_columns(dt_store *store, const char *source, char **names,
                                const csv_row *h, const csv_row *r)
{
    for (size_t k = 0; k < h->n_fields; k++) {
        char *json = row_json(h, r);
        dt_resolution *res = NULL;
        dt_error err;
        int rc = json ? svc_bench_resolve(store, NULL, SVC_WAY_CORE, source, json, &res, &err)
                      : DT_ENOMEM;
        free(json);
        dt_resolution_free(res);
        if (rc != DT_EINPUT || !err.field[0]) return;
        for (size_t i = 0; i < h->n_fields; i++)
            if (names[i] && !strcmp(names[i], err.field)) {
                free(names[i]);
                names[i] = NULL;
            }
    }
}

enum { CORE = SVC_WAY_CORE, ENFORCED = SVC_WAY_ENFORCED, GOVERNED = SVC_WAY_GOVERNED, N_MODES };
static const char *const MODE_NAMES[N_MODES] = {"core", "enforced", "governed"};

enum { REPEATS = 4 }; /* timed calls per record and way */

/* Sorts ms (n calls) and best (n_rec per-record minima) and prints them. */
static void print_mode(int mode, double *ms, long n, double *best, long n_rec, int last)
{
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    qsort(best, (size_t)n_rec, sizeof *best, cmp_double);
    printf("\"%s\": {\"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, "
           "\"p50_best_ms\": %.4f}%s",
           MODE_NAMES[mode], ms[n / 2], ms[n * 9 / 10], ms[n * 99 / 100], ms[n - 1],
           best[n_rec / 2], last ? "" : ", ");
}

int main(int argc, char **argv)
{
    const char *store_path = NULL, *source = NULL, *csv = NULL, *purpose = "test";
    long n_max = 1000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--store")) store_path = argv[i + 1];
        else if (!strcmp(argv[i], "--source")) source = argv[i + 1];
        else if (!strcmp(argv[i], "--csv")) csv = argv[i + 1];
        else if (!strcmp(argv[i], "--purpose")) purpose = argv[i + 1];
        else if (!strcmp(argv[i], "--n")) n_max = strtol(argv[i + 1], NULL, 10);
    }
    if (!store_path || !source || !csv || n_max < 1) {
        fprintf(stderr, "usage: bench-resolve --store FILE --source NAME --csv FILE [--n N] "
                        "[--purpose P]\n");
        return 2;
    }
    dt_error err;
    dt_store *store = NULL;
    csv_reader *r = NULL;
    dt_request req = {getenv("DOVETAIL_TOKEN"), purpose};
    if (dt_store_open(store_path, &store, &err) < 0 || csv_open(csv, NULL, &r, &err) < 0) {
        fprintf(stderr, "bench-resolve: %s\n", err.msg);
        return 1;
    }
    csv_row row, header = {0};
    char **names = NULL, **jsons = calloc((size_t)n_max, sizeof *jsons);
    long n = 0, n_entity = 0;
    if (csv_next(r, &row, &err) == 1) { /* keep the header: rows reuse the reader's buffers */
        names = calloc(row.n_fields, sizeof *names);
        size_t *lens = calloc(row.n_fields, sizeof *lens);
        for (size_t i = 0; i < row.n_fields; i++) {
            names[i] = strdup(row.fields[i]);
            lens[i] = row.lens[i];
        }
        header = (csv_row){.n_fields = row.n_fields, .fields = (const char **)names, .lens = lens};
    }
    int is_first = 1;
    while (jsons && n < n_max && csv_next(r, &row, &err) == 1) {
        if (is_first) drop_unread_columns(store, source, names, &header, &row);
        is_first = 0;
        if ((jsons[n] = row_json(&header, &row))) n++;
    }
    static const int order[] = {-1,       CORE,     ENFORCED, GOVERNED, GOVERNED, ENFORCED, CORE,
                                CORE,     ENFORCED, GOVERNED, GOVERNED, ENFORCED, CORE};
    double *ms[N_MODES], *best[N_MODES];
    long n_ms[N_MODES] = {0};
    for (int m = 0; m < N_MODES; m++) {
        ms[m] = malloc((size_t)(REPEATS * n + 1) * sizeof *ms[m]);
        best[m] = malloc((size_t)(n + 1) * sizeof *best[m]);
        for (long i = 0; i < n; i++) best[m][i] = 1e300;
    }
    for (size_t pass = 0; pass < sizeof order / sizeof *order; pass++) {
        int m = order[pass] < 0 ? CORE : order[pass]; /* -1: the warm-up, not timed */
        for (long i = 0; i < n; i++) {
            dt_resolution *res = NULL;
            double t0 = now_ms();
            int rc = svc_bench_resolve(store, &req, (svc_way)m, source, jsons[i], &res, &err);
            double t = now_ms() - t0;
            if (rc < 0) {
                fprintf(stderr, "bench-resolve (%s): %s\n", MODE_NAMES[m], err.msg);
                return 1;
            }
            if (order[pass] >= 0) ms[m][n_ms[m]++] = t;
            if (order[pass] >= 0 && t < best[m][i]) best[m][i] = t;
            if (pass == 3) n_entity += res->entity[0] != '\0'; /* the first governed pass */
            dt_resolution_free(res);
        }
    }
    if (n) {
        printf("{\"calls\": %ld, \"with_entity\": %ld, ", n, n_entity);
        for (int m = 0; m < N_MODES; m++)
            print_mode(m, ms[m], n_ms[m], best[m], n, m == N_MODES - 1);
        long h = n_ms[CORE] / 2; /* the arrays are sorted now; every way has REPEATS * n */
        printf(", \"enforcement_overhead_p50\": %.3f, \"enforcement_overhead_p50_best\": %.3f, "
               "\"audit_commit_p50_ms\": %.3f}\n",
               ms[ENFORCED][h] / ms[CORE][h] - 1, best[ENFORCED][n / 2] / best[CORE][n / 2] - 1,
               ms[GOVERNED][h] - ms[ENFORCED][h]);
    }
    for (long i = 0; i < n; i++) free(jsons[i]);
    free(jsons);
    for (size_t i = 0; names && i < header.n_fields; i++) free(names[i]);
    free(names);
    free((void *)header.lens);
    for (int m = 0; m < N_MODES; m++) {
        free(ms[m]);
        free(best[m]);
    }
    csv_close(r);
    dt_store_close(store);
    return 0;
}
