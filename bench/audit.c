/*
 * audit.c — audit log append throughput, in process, through the log's
 * own calls (src/govern): N entries, committed in groups of G (each
 * group: one transaction, one signed head, one fsync), as a server's
 * group commit would batch the requests in flight. Prints one JSON object
 * per group size: entries/s and the time of one group commit.
 *
 * usage: bench-audit --store FILE [--n N] [--groups 1,16,256,1024]
 * The store is written to: use a scratch copy (dovetail init makes one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "govern/govern.h"
#include "store/store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A typical read's entry: two records shown, four columns. */
static int append(gv_audit *a, long i, dt_error *err)
{
    char s1[64], s2[64];
    snprintf(s1, sizeof s1, "benefits:B%08ld", i);
    snprintf(s2, sizeof s2, "deaths:D%08ld", i);
    const char *subjects[] = {s1, s2};
    const char *fields[] = {"benefits.FIRST_NAME", "benefits.LAST_NAME", "benefits.DOB",
                            "deaths.decedent"};
    gv_entry e = {.principal = "bench", .purpose = "payment-integrity", .action = "resolve",
                  .outcome = "allowed", .subjects = subjects, .n_subjects = 2,
                  .fields = fields, .n_fields = 4};
    return gv_audit_add(a, &e, err);
}

static int run(gv_audit *a, long n, long group, dt_error *err)
{
    double t0 = now_s();
    long commits = 0;
    for (long i = 0; i < n; i++) {
        if (append(a, i, err) < 0) return -1;
        if ((i + 1) % group == 0 || i + 1 == n) {
            if (gv_audit_commit(a, NULL, err) < 0) return -1;
            commits++;
        }
    }
    double s = now_s() - t0;
    printf("{\"group\": %ld, \"entries\": %ld, \"seconds\": %.3f, \"entries_per_s\": %.0f, "
           "\"ms_per_commit\": %.3f}\n", group, n, s, (double)n / s, 1e3 * s / (double)commits);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *groups = "1,16,256,1024";
    long n = 20000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--store")) path = argv[i + 1];
        else if (!strcmp(argv[i], "--n")) n = strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--groups")) groups = argv[i + 1];
    }
    if (!path || n < 1) {
        fprintf(stderr, "usage: bench-audit --store FILE [--n N] [--groups 1,16,256,1024]\n");
        return 2;
    }
    dt_error err;
    dt_error_clear(&err);
    st_store *st = NULL;
    gv_audit *a = NULL;
    /* the store's key file, as the CLI finds it */
    if (st_open(path, getenv("DOVETAIL_KEY_FILE"), ST_OPEN, &st, &err) < 0 ||
        gv_audit_open(st, &a, &err) < 0) {
        fprintf(stderr, "bench-audit: %s\n", err.msg);
        return 1;
    }
    char *list = strdup(groups);
    int rc = 0;
    for (char *save = NULL, *g = strtok_r(list, ",", &save); g && rc == 0;
         g = strtok_r(NULL, ",", &save)) {
        long group = strtol(g, NULL, 10);
        /* group 1 pays an fsync per entry: fewer entries keep it short */
        rc = group > 0 ? run(a, group == 1 ? (n < 2000 ? n : 2000) : n, group, &err) : -1;
    }
    if (rc < 0) fprintf(stderr, "bench-audit: %s\n", err.msg);
    free(list);
    gv_audit_close(a);
    st_close(st);
    return rc < 0 ? 1 : 0;
}
