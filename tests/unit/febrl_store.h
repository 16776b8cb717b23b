/* febrl_store.h — fixtures for unit tests of the public store API: a store
 * of examples/febrl4.yaml holding FEBRL dataset4 subsets, with an admin, a
 * steward of both sources, an analyst and an auditor, and on each source a
 * policy allowing purpose "test" on everything for 400 days. Included by
 * one test file per binary, after cmocka.h, dovetail.h and tmpdir.h. */
#ifndef DT_TEST_FEBRL_STORE_H
#define DT_TEST_FEBRL_STORE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The record number N of "rec-N-org" or "rec-N-dup-0"; -1 for a header. */
static long rec_number(const char *line)
{
    return strncmp(line, "rec-", 4) == 0 ? strtol(line + 4, NULL, 10) : -1;
}

/* The first n originals of dataset4a and their duplicates in dataset4b. */
static void write_subsets(const char *a_path, const char *b_path, int n)
{
    static char seen[10000];
    char line[1024];
    FILE *in = fopen(DT_TEST_DATA "/febrl/dataset4a.csv", "r"), *out = fopen(a_path, "w");
    assert_non_null(in);
    assert_non_null(out);
    for (int i = 0; i <= n && fgets(line, sizeof line, in); i++) {
        long k = rec_number(line);
        if (k >= 0 && k < (long)sizeof seen) seen[k] = 1;
        fputs(line, out);
    }
    fclose(in);
    fclose(out);
    in = fopen(DT_TEST_DATA "/febrl/dataset4b.csv", "r");
    out = fopen(b_path, "w");
    assert_non_null(in);
    assert_non_null(out);
    while (fgets(line, sizeof line, in)) {
        long k = rec_number(line);
        if (k < 0 || (k < (long)sizeof seen && seen[k])) fputs(line, out);
    }
    fclose(in);
    fclose(out);
}

/* A policy allowing purpose "test" (and `also`, when not NULL) on
 * everything for 400 days. */
static void write_policy(const char *path, const char *also)
{
    time_t later = time(NULL) + 400L * 86400;
    char day[16];
    strftime(day, sizeof day, "%Y-%m-%d", gmtime(&later));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "purposes:\n");
    for (int i = 0; i < (also ? 2 : 1); i++)
        fprintf(f, "  %s:\n    allowed: true\n    agreement: T-%d\n    expires: %s\n"
                   "    fields: all\n    link_with: all\n", i ? also : "test", i + 1, day);
    fclose(f);
}

static void must(int rc, const dt_error *err)
{
    if (rc < 0) fprintf(stderr, "%s\n", err->msg);
    assert_int_equal(rc, DT_OK);
}

/* The principals' tokens. */
typedef struct febrl_tokens {
    char admin[DT_TOKEN_SIZE], steward[DT_TOKEN_SIZE], analyst[DT_TOKEN_SIZE],
        auditor[DT_TOKEN_SIZE];
} febrl_tokens;

/* Creates g_dir/s.db with the first n originals of dataset4a and their
 * duplicates ingested (no model yet), opened as *out. 7 audit entries. */
static void febrl_store_make(int n, febrl_tokens *tok, dt_store **out)
{
    char store[300], a_csv[300], b_csv[300], pol[300];
    tmpdir_path(store, sizeof store, "s.db");
    tmpdir_path(a_csv, sizeof a_csv, "a.csv");
    tmpdir_path(b_csv, sizeof b_csv, "b.csv");
    tmpdir_path(pol, sizeof pol, "policy.yaml");
    write_subsets(a_csv, b_csv, n);
    write_policy(pol, NULL);
    dt_error err;
    dt_store *s = NULL;
    char key[300];
    tmpdir_path(key, sizeof key, "s.key");
    must(dt_store_init_keyed(store, DT_SRC_ROOT "/examples/febrl4.yaml", key, "admin", tok->admin,
                             &err), &err);
    must(dt_store_open_keyed(store, key, &s, &err), &err);
    dt_request as_admin = {tok->admin, "setup"}, as_steward = {tok->steward, "setup"};
    must(dt_principal_add(s, &as_admin, "steward", "steward", "a,b", tok->steward, &err), &err);
    must(dt_principal_add(s, &as_admin, "analyst", "analyst", NULL, tok->analyst, &err), &err);
    must(dt_principal_add(s, &as_admin, "auditor", "auditor", NULL, tok->auditor, &err), &err);
    int64_t version;
    must(dt_policy_set(s, &as_steward, "a", pol, &version, &err), &err);
    must(dt_policy_set(s, &as_steward, "b", pol, &version, &err), &err);
    dt_ingest_options ia = {.source = "a", .path = a_csv}, ib = {.source = "b", .path = b_csv};
    must(dt_store_ingest(s, &as_steward, &ia, NULL, &err), &err);
    must(dt_store_ingest(s, &as_steward, &ib, NULL, &err), &err);
    *out = s;
}

#endif
