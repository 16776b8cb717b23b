/*
 * fuzz_store.h — the small governed store the store-level fuzz targets
 * share (fuzz_record.c, fuzz_http.c): a config, a CSV of 12 people, a
 * model trained by link, the store with that model and those records, and
 * an analyst whose policy allows purpose "fuzz", in a temporary directory
 * removed at exit. Included once per target: its functions are static.
 */
#ifndef DT_FUZZ_STORE_H
#define DT_FUZZ_STORE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dovetail.h"

#define CHECK(cond)              \
    do {                         \
        if (!(cond)) abort();    \
    } while (0)

static const char CONFIG[] =
    "mode: dedupe\n"
    "fields: {given: given_name, surname: surname, dob: date, zip: postcode}\n"
    "sources:\n"
    "  - {name: a, path: a.csv, id: id,\n"
    "     columns: {given: first, surname: last, dob: {column: born, format: YYYY-MM-DD},\n"
    "               zip: zip}}\n"
    "blocking: {rules: [[surname], [dob]]}\n"
    "comparisons:\n"
    "  - {field: given, tf: true, levels: [exact, nickname, {jaro_winkler: 0.9}]}\n"
    "  - {field: surname, levels: [exact, {jaro_winkler: 0.9}]}\n"
    "  - {field: dob, levels: [exact, swap_day_month]}\n"
    "  - {field: zip, levels: [exact]}\n"
    "model: {u_sample_pairs: 1000}\n"
    "thresholds: {link: 0.5, review: 0.1}\n";

static const char ROWS[] =
    "id,first,last,born,zip\n"
    "1,ann,lee,1980-01-02,02139\n2,anne,lee,1980-01-02,02139\n"
    "3,bob,ray,1975-03-04,10001\n4,robert,ray,1975-03-04,10001\n"
    "5,cy,ng,1990-05-06,94110\n6,cy,nguyen,1990-06-05,94110\n"
    "7,dee,ode,1960-07-08,60601\n8,di,odell,1960-07-08,60601\n"
    "9,eve,park,2000-09-10,73301\n10,eva,park,2000-09-10,73301\n"
    "11,flo,kim,1985-11-12,30301\n12,flora,kim,1985-11-12,30302\n";

static dt_store *g_store;
static char g_dir[] = "/tmp/dt_fuzz_store_XXXXXX";

static void cleanup(void)
{
    dt_store_close(g_store);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", g_dir);
}

static char g_analyst[DT_TOKEN_SIZE];

static void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0);
}

/* Setup must work: say why when it does not. */
static void must(int rc, const dt_error *err)
{
    if (rc == DT_OK) return;
    fprintf(stderr, "fuzz: setup failed: %s\n", err->msg);
    abort();
}

static void setup(void)
{
    CHECK(mkdtemp(g_dir));
    atexit(cleanup);
    write_file("c.yaml", CONFIG);
    write_file("a.csv", ROWS);
    char cfg_path[128], out[128], model[160], store[128], csv[128];
    snprintf(cfg_path, sizeof cfg_path, "%s/c.yaml", g_dir);
    snprintf(out, sizeof out, "%s/out", g_dir);
    snprintf(model, sizeof model, "%s/out/model.json", g_dir);
    snprintf(store, sizeof store, "%s/s.db", g_dir);
    snprintf(csv, sizeof csv, "%s/a.csv", g_dir);
    dt_error err;
    dt_config *cfg = NULL;
    must(dt_config_load(cfg_path, &cfg, &err), &err);
    dt_link_options lo = {.n_threads = 1, .out_dir = out};
    must(dt_link_run(cfg, &lo, NULL, &err), &err);
    dt_config_free(cfg);
    char admin[DT_TOKEN_SIZE], steward[DT_TOKEN_SIZE], policy[160];
    char key[300];
    snprintf(key, sizeof key, "%s/s.key", g_dir);
    must(dt_store_init_keyed(store, cfg_path, key, "admin", admin, &err), &err);
    must(dt_store_open_keyed(store, key, &g_store, &err), &err);
    dt_request as_admin = {admin, "setup"}, as_steward = {steward, "setup"};
    must(dt_principal_add(g_store, &as_admin, "steward", "steward", "a", steward, &err), &err);
    must(dt_principal_add(g_store, &as_admin, "analyst", "analyst", NULL, g_analyst, &err), &err);
    char text[256], day[16];
    time_t next_year = time(NULL) + 365 * 86400; /* an agreement in force whenever this runs */
    strftime(day, sizeof day, "%Y-%m-%d", gmtime(&next_year));
    snprintf(text, sizeof text, "purposes:\n  fuzz:\n    allowed: true\n    agreement: F-1\n"
                                "    expires: %s\n    fields: all\n", day);
    write_file("policy.yaml", text);
    snprintf(policy, sizeof policy, "%s/policy.yaml", g_dir);
    int64_t version;
    must(dt_policy_set(g_store, &as_steward, "a", policy, &version, &err), &err);
    must(dt_store_import_model(g_store, &as_admin, model, &version, &err), &err);
    dt_ingest_options io = {.source = "a", .path = csv};
    must(dt_store_ingest(g_store, &as_steward, &io, NULL, &err), &err);
}

#endif
