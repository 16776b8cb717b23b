/*
 * resolve.c — latency of `resolve` (a read) against a store, in process,
 * through the public API: the store is opened once, then each row of a
 * source's CSV is turned into a record.json and resolved, and the time of
 * each call is kept. Prints one JSON object: calls, p50, p90, p99 and max
 * in milliseconds, and how many found an entity.
 *
 * usage: bench-resolve --store FILE --source NAME --csv FILE [--n N]
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dovetail.h"
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
        json_object_set_new(o, h->fields[i], json_stringn(r->fields[i], r->lens[i]));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

int main(int argc, char **argv)
{
    const char *store_path = NULL, *source = NULL, *csv = NULL;
    long n_max = 1000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--store")) store_path = argv[i + 1];
        else if (!strcmp(argv[i], "--source")) source = argv[i + 1];
        else if (!strcmp(argv[i], "--csv")) csv = argv[i + 1];
        else if (!strcmp(argv[i], "--n")) n_max = strtol(argv[i + 1], NULL, 10);
    }
    if (!store_path || !source || !csv || n_max < 1) {
        fprintf(stderr, "usage: bench-resolve --store FILE --source NAME --csv FILE [--n N]\n");
        return 2;
    }
    dt_error err;
    dt_store *store = NULL;
    csv_reader *r = NULL;
    if (dt_store_open(store_path, &store, &err) < 0 || csv_open(csv, NULL, &r, &err) < 0) {
        fprintf(stderr, "bench-resolve: %s\n", err.msg);
        return 1;
    }
    csv_row row, header = {0};
    char **names = NULL;
    double *ms = malloc((size_t)n_max * sizeof *ms);
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
    while (ms && n < n_max && csv_next(r, &row, &err) == 1) {
        char *json = row_json(&header, &row);
        dt_resolution *res = NULL;
        double t0 = now_ms();
        int rc = json ? dt_store_resolve(store, source, json, &res, &err) : -1;
        ms[n++] = now_ms() - t0;
        if (rc < 0) {
            fprintf(stderr, "bench-resolve: %s\n", err.msg);
            return 1;
        }
        n_entity += res->entity[0] != '\0';
        dt_resolution_free(res);
        free(json);
    }
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    if (n)
        printf("{\"calls\": %ld, \"with_entity\": %ld, \"p50_ms\": %.3f, \"p90_ms\": %.3f, "
               "\"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
               n, n_entity, ms[n / 2], ms[n * 9 / 10], ms[n * 99 / 100], ms[n - 1]);
    for (size_t i = 0; names && i < header.n_fields; i++) free(names[i]);
    free(names);
    free((void *)header.lens);
    free(ms);
    csv_close(r);
    dt_store_close(store);
    return 0;
}
