/*
 * leaks.c — bench-leaks: does resolve under a purpose take longer when the
 * probe's block holds records the purpose may not see? Resolves two
 * probes against one store through the public call (dt_store_resolve, its
 * audit entry included: what a caller can time), interleaved round by
 * round so drift on a shared machine hits both alike, and prints one JSON
 * object with each probe's median and their ratio. The store and probes
 * come from tests/e2e/leaks_lib.sh (lk_timing_store), which makes probe 1's
 * block hold thousands of hidden records and probe 2's none.
 *
 * Usage: DOVETAIL_TOKEN=... bench-leaks STORE SOURCE PURPOSE PROBE1.json PROBE2.json [ROUNDS]
 * Exit status: 0, or 1 when a call fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dovetail.h"

enum { WARMUP = 3, DEFAULT_ROUNDS = 21, MAX_ROUNDS = 1000 };

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(DT_RECORD_JSON_MAX + 1);
    size_t n = buf ? fread(buf, 1, DT_RECORD_JSON_MAX, f) : 0;
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

/* One resolve, timed. OUT: *ms. */
static int timed(dt_store *s, const dt_request *req, const char *source, const char *json,
                 double *ms)
{
    dt_error err;
    dt_resolution *r = NULL;
    double t0 = now_ms();
    int rc = dt_store_resolve(s, req, source, json, &r, &err);
    *ms = now_ms() - t0;
    dt_resolution_free(r);
    if (rc < 0) fprintf(stderr, "bench-leaks: resolve: %s\n", err.msg);
    return rc;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 7) {
        fprintf(stderr, "usage: DOVETAIL_TOKEN=... bench-leaks STORE SOURCE PURPOSE "
                        "PROBE1.json PROBE2.json [ROUNDS]\n");
        return 2;
    }
    int rounds = argc == 7 ? atoi(argv[6]) : DEFAULT_ROUNDS;
    if (rounds < 1 || rounds > MAX_ROUNDS) rounds = DEFAULT_ROUNDS;
    char *probe[2] = {slurp(argv[4]), slurp(argv[5])};
    dt_store *s = NULL;
    dt_error err;
    if (!probe[0] || !probe[1] || dt_store_open(argv[1], &s, &err) < 0) {
        fprintf(stderr, "bench-leaks: cannot read the probes or open the store\n");
        return 1;
    }
    dt_request req = {getenv("DOVETAIL_TOKEN"), argv[3]};
    static double ms[2][MAX_ROUNDS];
    int rc = 0;
    for (int k = -WARMUP; k < rounds && rc == 0; k++) {
        for (int j = 0; j < 2 && rc == 0; j++) {
            int p = (k & 1) ? 1 - j : j; /* alternate which goes first */
            double t;
            rc = timed(s, &req, argv[2], probe[p], &t) < 0;
            if (k >= 0) ms[p][k] = t;
        }
    }
    dt_store_close(s);
    free(probe[0]);
    free(probe[1]);
    if (rc) return 1;
    double m1 = median(ms[0], rounds), m2 = median(ms[1], rounds);
    printf("{\"rounds\": %d, \"probe1_median_ms\": %.3f, \"probe2_median_ms\": %.3f, "
           "\"ratio\": %.3f}\n", rounds, m1, m2, m1 / m2);
    return 0;
}
