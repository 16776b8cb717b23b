/*
 * fscore.c — bench-findings: scores dovetail's findings.csv against the
 * findings bench-gen planted (findings_truth.csv), per rule: precision,
 * recall and F1 over every finding, and the precision of the open ones
 * (the rest are needs-review: a person looks before anyone else does).
 *
 * Where it sits: a program beside the library, run by bench/run
 * --findings. It reads both CSVs with the library's reader (io/csv.h).
 *
 * How each planted finding is matched (bench/README.md, "Findings"):
 *   payment_after_death   its enrollment_id: the finding's benefits record
 *   death_contradicted    its death_id: the finding's deaths record
 *   duplicate_enrollment  its two enrollment_ids: the finding's benefits
 *                         records, sorted
 *   shared_identifier     its ssn (both people's rows name it once): the
 *                         finding's identifier
 * A key found twice counts once; a finding whose key is no planted one is a
 * false positive.
 *
 * With the data directory as a third argument, shared_identifier is also
 * scored against what the registries show: every SSN that the rows of two
 * or more different people carry (truth.csv says whose each row is), be it
 * planted sharing or a typo that landed on another person's SSN. The rule's
 * definition (one identifier, two people) is met by both; bench-gen plants
 * only the first ("observed" in the JSON).
 *
 * Invariants:
 *   1. Keys are compared as sorted, distinct strings per rule, so the
 *      figures do not depend on row order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/csv.h"

#define N_RULES 4
static const char *const k_rules[N_RULES] = {"payment_after_death", "death_contradicted",
                                             "duplicate_enrollment", "shared_identifier"};
/* Which source's records make the key of a found finding (NULL: identifier). */
static const char *const k_key_source[N_RULES] = {"benefits", "deaths", "benefits", NULL};

typedef struct keys {
    char **s;
    size_t n, cap;
} keys;

static void die(const char *what, const dt_error *err)
{
    fprintf(stderr, "bench-findings: %s: %s\n", what, err ? err->msg : "out of memory");
    exit(1);
}

static void add(keys *k, const char *s)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 1024;
        k->s = realloc(k->s, k->cap * sizeof *k->s);
        if (!k->s) die("keys", NULL);
    }
    if (!(k->s[k->n++] = strdup(s))) die("keys", NULL);
}

static void free_keys(keys *k)
{
    for (size_t i = 0; i < k->n; i++) free(k->s[i]);
    free(k->s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void finish(keys *k)
{
    qsort(k->s, k->n, sizeof *k->s, cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < k->n; i++) {
        if (w && !strcmp(k->s[w - 1], k->s[i])) {
            free(k->s[i]);
            continue;
        }
        k->s[w++] = k->s[i];
    }
    k->n = w;
}

static int rule_index(const char *s)
{
    for (int r = 0; r < N_RULES; r++)
        if (!strcmp(s, k_rules[r])) return r;
    return -1;
}

/* The value of `name=` in a "k=v;k=v" detail, into out. */
static int detail_value(const char *detail, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *p = detail; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
        if (strncmp(p, name, n) || p[n] != '=') continue;
        /* enrollment_ids holds its own ';': it is the detail's only key */
        const char *v = p + n + 1, *end = strcmp(name, "enrollment_ids") ? strchr(v, ';') : NULL;
        size_t len = end ? (size_t)(end - v) : strlen(v);
        if (len >= cap) return 0;
        memcpy(out, v, len);
        out[len] = '\0';
        return 1;
    }
    return 0;
}

/* Sorts the ';'-separated ids in place (two, in practice). */
static void sort_ids(char *s)
{
    char *a = s, *b = strchr(s, ';');
    if (!b || strchr(b + 1, ';')) return;
    *b++ = '\0';
    char tmp[256];
    if (strcmp(a, b) > 0) snprintf(tmp, sizeof tmp, "%s;%s", b, a);
    else snprintf(tmp, sizeof tmp, "%s;%s", a, b);
    strcpy(s, tmp);
}

static csv_reader *open_csv(const char *path)
{
    dt_error err = {0};
    csv_reader *r = NULL;
    csv_options opt = {.delimiter = ','};
    if (csv_open(path, &opt, &r, &err) < 0) die(path, &err);
    return r;
}

static void read_truth(const char *path, keys *truth)
{
    csv_reader *r = open_csv(path);
    dt_error err = {0};
    csv_row row;
    int rc, first = 1;
    while ((rc = csv_next(r, &row, &err)) == 1) {
        if (first-- > 0 || row.n_fields < 3) continue; /* header */
        int k = rule_index(row.fields[0]);
        char v[256];
        const char *name = k == 0 ? "enrollment_id" : k == 1 ? "death_id"
                         : k == 2 ? "enrollment_ids" : "ssn";
        if (k < 0 || !detail_value(row.fields[2], name, v, sizeof v)) continue;
        if (k == 2) sort_ids(v);
        add(&truth[k], v);
    }
    if (rc < 0) die(path, &err);
    csv_close(r);
}

/* The column of that name in a header row; exits when there is none. */
static size_t column(const csv_row *h, const char *name, const char *path)
{
    for (size_t i = 0; i < h->n_fields; i++)
        if (!strcmp(h->fields[i], name)) return i;
    fprintf(stderr, "bench-findings: %s: no column '%s'\n", path, name);
    exit(1);
}

/* findings.csv as `link --findings` or `findings export` writes it: the
 * columns rule, state, records and identifier, found by their names. */
static void read_found(const char *path, keys *found, keys *open)
{
    csv_reader *r = open_csv(path);
    dt_error err = {0};
    csv_row row;
    int rc, first = 1;
    size_t c_rule = 0, c_state = 0, c_recs = 0, c_ident = 0, width = 0;
    while ((rc = csv_next(r, &row, &err)) == 1) {
        if (first-- > 0) {
            c_rule = column(&row, "rule", path);
            c_state = column(&row, "state", path);
            c_recs = column(&row, "records", path);
            c_ident = column(&row, "identifier", path);
            width = row.n_fields;
            continue;
        }
        if (row.n_fields != width) continue;
        int k = rule_index(row.fields[c_rule]);
        if (k < 0) continue;
        int is_open = !strcmp(row.fields[c_state], "open");
        if (!k_key_source[k]) {
            add(&found[k], row.fields[c_ident]);
            if (is_open) add(&open[k], row.fields[c_ident]);
            continue;
        }
        char key[256] = "", rec[512];
        snprintf(rec, sizeof rec, "%s", row.fields[c_recs]);
        size_t len = strlen(k_key_source[k]);
        for (char *t = strtok(rec, ";"); t; t = strtok(NULL, ";")) {
            if (strncmp(t, k_key_source[k], len) || t[len] != ':') continue;
            size_t at = strlen(key);
            snprintf(key + at, sizeof key - at, "%s%s", at ? ";" : "", t + len + 1);
        }
        if (k == 2) sort_ids(key);
        add(&found[k], key);
        if (is_open) add(&open[k], key);
    }
    if (rc < 0) die(path, &err);
    csv_close(r);
}

static size_t common(const keys *a, const keys *b)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++)
        n += bsearch(&a->s[i], b->s, b->n, sizeof *b->s, cmp_str) != NULL;
    return n;
}

/* ---- what the registries show (the data directory) ---------------------- */

typedef struct owner {
    char *key;      /* "source\x1frecord_id" */
    char *person;
} owner;

static int cmp_owner(const void *a, const void *b)
{
    return strcmp(((const owner *)a)->key, ((const owner *)b)->key);
}

static char *joined(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 2);
    if (!s) die("keys", NULL);
    memcpy(s, a, na);
    s[na] = 0x1f;
    memcpy(s + na + 1, b, nb + 1);
    return s;
}

static owner *read_owners(const char *dir, size_t *n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/truth.csv", dir);
    csv_reader *r = open_csv(path);
    dt_error err = {0};
    csv_row row;
    owner *v = NULL;
    size_t cap = 0;
    int rc, first = 1;
    *n = 0;
    while ((rc = csv_next(r, &row, &err)) == 1) {
        if (first-- > 0 || row.n_fields < 3) continue;
        if (*n == cap && !(v = realloc(v, (cap = cap ? 2 * cap : 1 << 16) * sizeof *v)))
            die("owners", NULL);
        v[*n].key = joined(row.fields[0], row.fields[1]);
        if (!(v[(*n)++].person = strdup(row.fields[2]))) die("owners", NULL);
    }
    if (rc < 0) die(path, &err);
    csv_close(r);
    qsort(v, *n, sizeof *v, cmp_owner);
    return v;
}

/* "ssn\tperson" for each row of a registry with a full SSN. */
static void read_ssns(const char *dir, const char *source, const char *id_col, const char *ssn_col,
                      const owner *own, size_t n_own, keys *out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.csv", dir, source);
    csv_reader *r = open_csv(path);
    dt_error err = {0};
    csv_row row;
    int rc, first = 1;
    size_t c_id = 0, c_ssn = 0;
    while ((rc = csv_next(r, &row, &err)) == 1) {
        if (first-- > 0) {
            c_id = column(&row, id_col, path);
            c_ssn = column(&row, ssn_col, path);
            continue;
        }
        char digits[16];
        size_t nd = 0;
        for (const char *p = row.fields[c_ssn]; *p && nd < 10; p++)
            if (*p >= '0' && *p <= '9') digits[nd++] = *p;
        if (nd != 9) continue;
        digits[nd] = '\0';
        char *key = joined(source, row.fields[c_id]);
        owner probe = {.key = key};
        const owner *o = bsearch(&probe, own, n_own, sizeof *own, cmp_owner);
        free(key);
        if (!o) continue;
        char pair[256];
        snprintf(pair, sizeof pair, "%s\t%s", digits, o->person);
        add(out, pair);
    }
    if (rc < 0) die(path, &err);
    csv_close(r);
}

/* SSNs the rows of two or more people carry. */
static void read_observed(const char *dir, keys *observed)
{
    size_t n_own;
    owner *own = read_owners(dir, &n_own);
    keys pairs = {0};
    read_ssns(dir, "deaths", "death_id", "ssn", own, n_own, &pairs);
    read_ssns(dir, "benefits", "enrollment_id", "SSN", own, n_own, &pairs);
    read_ssns(dir, "earners", "earner_id", "tin", own, n_own, &pairs);
    finish(&pairs); /* sorted, distinct (ssn, person) */
    for (size_t i = 1; i < pairs.n; i++)
        if (!strncmp(pairs.s[i - 1], pairs.s[i], 10)) { /* same 9 digits and the tab */
            char ssn[10];
            memcpy(ssn, pairs.s[i], 9);
            ssn[9] = '\0';
            add(observed, ssn);
        }
    finish(observed);
    free_keys(&pairs);
    for (size_t i = 0; i < n_own; i++) {
        free(own[i].key);
        free(own[i].person);
    }
    free(own);
}

int main(int argc, char **argv)
{
    if ((argc != 3 && argc != 4) || !strcmp(argv[1], "--help")) {
        fprintf(argc == 2 ? stdout : stderr,
                "usage: bench-findings FINDINGS_TRUTH.csv FINDINGS.csv [DATA_DIR]\n"
                "Prints per-rule precision, recall and F1 of dovetail's findings against\n"
                "bench-gen's planted ones, as JSON (bench/README.md, \"Findings\"). With\n"
                "DATA_DIR (bench-gen's output), shared_identifier also against every SSN\n"
                "the registries show on two or more people's rows (\"observed\").\n");
        return argc == 2 ? 0 : 2;
    }
    keys truth[N_RULES] = {0}, found[N_RULES] = {0}, open[N_RULES] = {0};
    read_truth(argv[1], truth);
    read_found(argv[2], found, open);
    printf("{");
    for (int k = 0; k < N_RULES; k++) {
        finish(&truth[k]);
        finish(&found[k]);
        finish(&open[k]);
        size_t tp = common(&found[k], &truth[k]), tp_open = common(&open[k], &truth[k]);
        double p = found[k].n ? (double)tp / (double)found[k].n : 0;
        double rcl = truth[k].n ? (double)tp / (double)truth[k].n : 0;
        double f1 = p + rcl > 0 ? 2 * p * rcl / (p + rcl) : 0;
        printf("%s\"%s\": {\"planted\": %zu, \"found\": %zu, \"correct\": %zu, \"precision\": "
               "%.4f, \"recall\": %.4f, \"f1\": %.4f, \"open\": %zu, \"open_precision\": %.4f}",
               k ? ", " : "", k_rules[k], truth[k].n, found[k].n, tp, p, rcl, f1, open[k].n,
               open[k].n ? (double)tp_open / (double)open[k].n : 0);
    }
    if (argc == 4) {
        keys observed = {0};
        read_observed(argv[3], &observed);
        int k = 3;
        size_t tp = common(&found[k], &observed), tp_open = common(&open[k], &observed);
        double p = found[k].n ? (double)tp / (double)found[k].n : 0;
        double rcl = observed.n ? (double)tp / (double)observed.n : 0;
        printf(", \"observed\": {\"shared_identifier\": {\"in_data\": %zu, \"found\": %zu, "
               "\"correct\": %zu, \"precision\": %.4f, \"recall\": %.4f, \"open_precision\": "
               "%.4f}}", observed.n, found[k].n, tp, p, rcl,
               open[k].n ? (double)tp_open / (double)open[k].n : 0);
        free_keys(&observed);
    }
    printf("}\n");
    for (int k = 0; k < N_RULES; k++) {
        free_keys(&truth[k]);
        free_keys(&found[k]);
        free_keys(&open[k]);
    }
    return 0;
}
