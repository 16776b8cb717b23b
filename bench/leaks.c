/*
 * leaks.c — bench-leaks: does resolve under a purpose take longer when the
 * probe's block holds records the purpose may not see? Resolves two
 * probes against one store, interleaved round by round so drift on a
 * shared machine hits both alike, two ways (svc_bench_resolve): "enforced",
 * the public call's whole path but its audit entry (the work that could
 * grow with hidden records), and "governed", dt_store_resolve itself (what
 * a caller times, its fsync included: on a busy disk that alone moves the
 * median by half). Each call is timed in CPU time (the work, which a
 * busy machine's scheduling does not stretch) and in wall time (what a
 * caller sees). Prints one JSON object with each probe's medians per way
 * and their ratios. The store and probes come from
 * tests/e2e/leaks_lib.sh (lk_timing_store), which makes probe 1's block
 * hold thousands of hidden records and probe 2's none.
 *
 * Usage: DOVETAIL_TOKEN=... bench-leaks STORE SOURCE PURPOSE PROBE1.json PROBE2.json [ROUNDS]
 * Exit status: 0, or 1 when a call fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dovetail.h"
#include "service/service.h"

enum { WARMUP = 3, DEFAULT_ROUNDS = 21, MAX_ROUNDS = 1000 };

static double now_ms(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
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

/* One resolve, timed. OUT: ms[0] CPU, ms[1] wall. */
static int timed(dt_store *s, const dt_request *req, svc_way way, const char *source,
                 const char *json, double ms[2])
{
    dt_error err;
    dt_resolution *r = NULL;
    double c0 = now_ms(CLOCK_THREAD_CPUTIME_ID), w0 = now_ms(CLOCK_MONOTONIC);
    int rc = svc_bench_resolve(s, req, way, source, json, &r, &err);
    ms[0] = now_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
    ms[1] = now_ms(CLOCK_MONOTONIC) - w0;
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
    static double ms[2][2][2][MAX_ROUNDS]; /* [way][cpu, wall][probe][round] */
    const svc_way ways[2] = {SVC_WAY_ENFORCED, SVC_WAY_GOVERNED};
    int rc = 0;
    for (int k = -WARMUP; k < rounds && rc == 0; k++)
        for (int w = 0; w < 2 && rc == 0; w++)
            for (int j = 0; j < 2 && rc == 0; j++) {
                int p = (k & 1) ? 1 - j : j; /* alternate which goes first */
                double t[2];
                /* each timed call follows one the same, so none is the first after a
                 * switch (cold in its own way): two modes would make the medians jump */
                rc = timed(s, &req, ways[w], argv[2], probe[p], t) < 0;
                if (rc == 0) rc = timed(s, &req, ways[w], argv[2], probe[p], t) < 0;
                for (int c = 0; c < 2 && k >= 0; c++) ms[w][c][p][k] = t[c];
            }
    dt_store_close(s);
    free(probe[0]);
    free(probe[1]);
    if (rc) return 1;
    printf("{\"rounds\": %d", rounds);
    for (int w = 0; w < 2; w++) {
        printf(", \"%s\": {", w ? "governed" : "enforced");
        for (int c = 0; c < 2; c++) {
            const char *kind = c ? "wall" : "cpu";
            double m1 = median(ms[w][c][0], rounds), m2 = median(ms[w][c][1], rounds);
            printf("%s\"%s_ms\": [%.3f, %.3f], \"%s_ratio\": %.3f", c ? ", " : "", kind, m1, m2,
                   kind, m1 / m2);
        }
        printf("}");
    }
    printf("}\n");
    return 0;
}
