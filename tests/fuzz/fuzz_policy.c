/*
 * fuzz_policy.c — libFuzzer target for source policies (src/govern/
 * policy.c). Parses the input as the policy of source "a" of a two-source
 * config and checks, aborting on any failure:
 *   1. a failure returns DT_ECONFIG (or DT_ENOMEM) with that code and a
 *      message naming "fuzz.yaml", and leaves the policy empty;
 *   2. a success holds policy.c's invariants: at most GV_MAX_PURPOSES
 *      purposes, valid names and distinct, an allowed one has an agreement
 *      and an expiry after `now` and within 30 months of it, fields are
 *      distinct columns of "a", link_with names only the other source,
 *      once;
 *   3. a view built from it allows source "a" for a purpose exactly when
 *      its rule is allowed and not expired.
 * Replayed without libFuzzer by regression_driver.c (make fuzz-replay).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "govern/govern.h"

#define CHECK(cond)              \
    do {                         \
        if (!(cond)) abort();    \
    } while (0)

static const char CONFIG[] =
    "fields:\n  given: given_name\n  surname: surname\n"
    "sources:\n"
    "  - name: a\n    path: a.csv\n    id: id\n    columns: {given: first, surname: last}\n"
    "  - name: b\n    path: b.csv\n    id: id\n    columns: {given: first, surname: last}\n"
    "blocking:\n  rules: [[surname]]\n"
    "comparisons:\n  - field: surname\n    levels: [exact]\n";

static const int64_t NOW = INT64_C(1790000000) * 1000000; /* 2026-09 */

static void check_rule(const gv_purpose_rule *r)
{
    CHECK(gv_name_ok(r->purpose));
    if (!r->allowed) return;
    CHECK(r->agreement && r->agreement[0]);
    CHECK(r->expires > NOW && r->expires <= NOW + INT64_C(916) * 86400 * 1000000);
    static const char *const columns[] = {"id", "first", "last"};
    int seen[3] = {0};
    CHECK(r->n_fields <= 3);
    for (size_t i = 0; i < r->n_fields; i++) {
        int k = 0;
        while (k < 3 && strcmp(r->fields[i], columns[k]) != 0) k++;
        CHECK(k < 3 && !seen[k]++);
    }
    CHECK(r->n_link_with <= 1);
    for (size_t i = 0; i < r->n_link_with; i++) CHECK(strcmp(r->link_with[i], "b") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static dt_config *cfg;
    dt_error err;
    if (!cfg) CHECK(cfg_parse(CONFIG, strlen(CONFIG), "c.yaml", "/tmp", &cfg, &err) == DT_OK);
    gv_policy p;
    dt_error_clear(&err);
    int rc = gv_policy_parse((const char *)data, size, "fuzz.yaml", cfg, 0, NOW, &p, &err);
    CHECK(rc != DT_OK || p.n_rules <= GV_MAX_PURPOSES);
    if (rc != DT_OK) {
        CHECK((rc == DT_ECONFIG || rc == DT_ENOMEM) && err.code == rc && err.msg[0]);
        CHECK(p.n_rules == 0 && p.rules == NULL);
        return 0;
    }
    for (size_t i = 0; i < p.n_rules; i++) {
        check_rule(&p.rules[i]);
        for (size_t j = 0; j < i; j++) CHECK(strcmp(p.rules[i].purpose, p.rules[j].purpose));
    }
    gv_policy_set set = {.n = 2, .p = dt_calloc(2, sizeof *set.p)};
    CHECK(set.p);
    set.p[0] = p;
    for (size_t i = 0; i < p.n_rules; i++) {
        gv_view v;
        CHECK(gv_view_make(&set, cfg, p.rules[i].purpose, NOW, &v, &err) == DT_OK);
        CHECK(gv_view_has(&v, 0) == (p.rules[i].allowed && NOW < p.rules[i].expires));
        CHECK(!gv_view_has(&v, 1)); /* b has no policy: nothing allowed */
    }
    gv_policies_fini(&set); /* frees p too */
    return 0;
}
