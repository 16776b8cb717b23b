/*
 * nickname.c — the nickname table: groups of given names that refer to the
 * same person ("william", "will", "bill", "liam"), loaded from a TSV file
 * (data/nicknames.tsv by default) and queried when given names are compared
 * or blocked on.
 *
 * Layout after loading (read-only from then on, norm.h invariant 1):
 *   names      intern table, folded name -> dense name id
 *   first      name id -> start of its run in `groups` (n_names + 1 entries)
 *   groups     group ids, ascending within each name's run
 *   canonical  name id -> name id of the formal name that sorts first
 *              among the name's groups (itself when it is in none)
 *   Group g is line g of the file that holds a group (0-based).
 *
 * Invariants:
 *   1. Every name is stored folded (NORM_FOLD_NAME), so callers look up
 *      folded names and "José" in the file matches "jose" in the data.
 *   2. A name may sit in several groups ("al": albert, alfred, alan); two
 *      names are equal when their runs share a group id.
 */
#include <stdlib.h>
#include <string.h>

#include "norm.h"

struct norm_nicknames {
    util_intern names;
    uint32_t *first;     /* n_names + 1 offsets into groups */
    uint32_t *groups;    /* group ids, per name, ascending */
    uint32_t *canonical; /* name id -> name id */
};

/* Loading state: (name id << 32 | group id) pairs, and each group's
 * formal name id. */
typedef struct loader {
    norm_nicknames *t;
    uint64_t *pairs;
    size_t n_pairs, cap_pairs;
    uint32_t *formal;
    size_t n_groups, cap_groups;
    util_buf fold;
    const char *path;
    dt_error *err;
} loader;

/* ---- parsing ------------------------------------------------------ */

/* Trailing blanks; not tabs, so "name<TAB>" (a group of one) keeps its tab. */
static int is_blank(char c)
{
    return c == ' ' || c == '\r';
}

/* Folds s[0..n) and adds it to group g. OUT: *id, the name's id. Returns
 * DT_OK, DT_ENOMEM, or 1 when the name folds to nothing (skipped). */
static int add_name(loader *ld, const char *s, size_t n, uint32_t g, uint32_t *id)
{
    util_buf_clear(&ld->fold);
    DT_TRY(norm_fold(&ld->fold, s, n, NORM_FOLD_NAME));
    if (ld->fold.len == 0) return 1;
    DT_TRY(util_intern_put(&ld->t->names, ld->fold.data, ld->fold.len, id));
    DT_TRY(util_grow((void **)&ld->pairs, &ld->cap_pairs, ld->n_pairs + 1, sizeof *ld->pairs));
    ld->pairs[ld->n_pairs++] = (uint64_t)*id << 32 | g;
    return DT_OK;
}

static int oom(loader *ld)
{
    return dt_err_set(ld->err, DT_ENOMEM, "%s: out of memory loading nicknames", ld->path);
}

/* One line "<formal>\t<nick>,<nick>,…" (no newline). */
static int parse_line(loader *ld, const char *s, size_t n, long line_no)
{
    while (n && is_blank(s[n - 1])) n--;
    size_t lead = 0;
    while (lead < n && (s[lead] == ' ' || s[lead] == '\t')) lead++;
    if (lead == n || s[lead] == '#') return DT_OK;
    long bad = norm_utf8_invalid_at(s, n);
    if (bad >= 0)
        return dt_err_at(ld->err, DT_EINPUT, ld->path, line_no, bad + 1, "invalid UTF-8");
    const char *tab = memchr(s, '\t', n);
    if (!tab)
        return dt_err_at(ld->err, DT_EINPUT, ld->path, line_no, 0,
                         "expected \"<formal name>\\t<nick>,<nick>,...\"");

    uint32_t g = (uint32_t)ld->n_groups, formal_id;
    int rc = add_name(ld, s, (size_t)(tab - s), g, &formal_id);
    if (rc == 1)
        return dt_err_at(ld->err, DT_EINPUT, ld->path, line_no, 1, "empty formal name");
    if (rc < 0) return oom(ld);
    if (util_grow((void **)&ld->formal, &ld->cap_groups, ld->n_groups + 1, sizeof *ld->formal))
        return oom(ld);
    ld->formal[ld->n_groups++] = formal_id;

    const char *p = tab + 1, *end = s + n;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item_end = comma ? comma : end;
        uint32_t id;
        if (add_name(ld, p, (size_t)(item_end - p), g, &id) < 0) return oom(ld);
        p = item_end + 1; /* empty items (",,", trailing comma) are skipped */
    }
    return DT_OK;
}

static int parse(loader *ld, const char *text, size_t len)
{
    long line_no = 1;
    for (const char *p = text, *end = text + len; p < end; line_no++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        DT_TRY(parse_line(ld, p, (size_t)(line_end - p), line_no));
        p = line_end + 1;
    }
    return DT_OK;
}

/* ---- indexing ----------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts the pairs into per-name runs and picks each name's canonical
 * formal name. */
static int build_index(loader *ld)
{
    norm_nicknames *t = ld->t;
    uint32_t n_names = t->names.n_strs;
    if (ld->n_pairs) qsort(ld->pairs, ld->n_pairs, sizeof *ld->pairs, cmp_u64);
    t->first = dt_calloc((size_t)n_names + 1, sizeof *t->first);
    t->groups = dt_malloc((ld->n_pairs ? ld->n_pairs : 1) * sizeof *t->groups);
    t->canonical = dt_malloc((n_names ? n_names : 1) * sizeof *t->canonical);
    if (!t->first || !t->groups || !t->canonical) return oom(ld);

    size_t n_groups = 0;
    for (size_t i = 0; i < ld->n_pairs; i++) {
        if (i && ld->pairs[i] == ld->pairs[i - 1]) continue; /* a name twice on a line */
        uint32_t name = (uint32_t)(ld->pairs[i] >> 32);
        t->groups[n_groups++] = (uint32_t)ld->pairs[i];
        t->first[name + 1] = (uint32_t)n_groups;
    }
    for (uint32_t i = 1; i <= n_names; i++) /* names have at least one group */
        if (t->first[i] < t->first[i - 1]) t->first[i] = t->first[i - 1];

    for (uint32_t name = 0; name < n_names; name++) {
        uint32_t best = name;
        for (uint32_t k = t->first[name]; k < t->first[name + 1]; k++) {
            uint32_t f = ld->formal[t->groups[k]];
            const char *zf = util_intern_str(&t->names, f);
            if (k == t->first[name] || strcmp(zf, util_intern_str(&t->names, best)) < 0) best = f;
        }
        t->canonical[name] = best;
    }
    return DT_OK;
}

/* ---- public ------------------------------------------------------- */

int norm_nick_load(const char *path, norm_nicknames **out, dt_error *err)
{
    char *text = NULL;
    size_t len = 0;
    DT_TRY(util_read_file_max(path, NORM_NICK_MAX_BYTES, "a nickname file", &text, &len, err));
    loader ld = {.path = path, .err = err};
    ld.t = dt_calloc(1, sizeof *ld.t);
    int rc = ld.t ? DT_OK : oom(&ld);
    if (rc == DT_OK) {
        util_intern_init(&ld.t->names);
        rc = parse(&ld, text, len);
    }
    if (rc == DT_OK) rc = build_index(&ld);
    dt_free(text);
    dt_free(ld.pairs);
    dt_free(ld.formal);
    util_buf_fini(&ld.fold);
    if (rc < 0) {
        norm_nick_free(ld.t);
        return rc;
    }
    *out = ld.t;
    return DT_OK;
}

void norm_nick_free(norm_nicknames *t)
{
    if (!t) return;
    util_intern_fini(&t->names);
    dt_free(t->first);
    dt_free(t->groups);
    dt_free(t->canonical);
    dt_free(t);
}

uint32_t norm_nick_id(const norm_nicknames *t, const char *a)
{
    return t ? util_intern_find(&t->names, a, strlen(a)) : UINT32_MAX;
}

int norm_nick_equal_id(const norm_nicknames *t, uint32_t ia, uint32_t ib)
{
    if (!t || ia == UINT32_MAX || ib == UINT32_MAX) return 0;
    if (ia == ib) return 1;
    /* Both runs are ascending and short: merge them. */
    uint32_t i = t->first[ia], i_end = t->first[ia + 1];
    uint32_t j = t->first[ib], j_end = t->first[ib + 1];
    while (i < i_end && j < j_end) {
        if (t->groups[i] == t->groups[j]) return 1;
        if (t->groups[i] < t->groups[j]) i++;
        else j++;
    }
    return 0;
}

int norm_nick_equal(const norm_nicknames *t, const char *a, const char *b)
{
    if (strcmp(a, b) == 0) return 1;
    return norm_nick_equal_id(t, norm_nick_id(t, a), norm_nick_id(t, b));
}

const char *norm_nick_canonical(const norm_nicknames *t, const char *a)
{
    if (!t) return a;
    uint32_t id = util_intern_find(&t->names, a, strlen(a));
    if (id == UINT32_MAX) return a;
    return util_intern_str(&t->names, t->canonical[id]);
}
