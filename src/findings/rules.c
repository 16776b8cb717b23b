/*
 * rules.c — the four finding rules (findings.h) over one link run's
 * entities, their records and events.
 *
 * Entities are walked by their naming record, in record order, and every
 * list a finding holds is in record or event order (findings.h invariant
 * 5). The links that joined an entity form a tree (cluster.h, keep_joins):
 * the weakest link on the tree path between two records is how strongly
 * the run ties them (invariant 2).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "findings/findings.h"

const char *const fnd_rule_names[FND_N_RULES] = {"payment_after_death", "death_contradicted",
                                                 "duplicate_enrollment", "shared_identifier"};
const int fnd_rule_versions[FND_N_RULES] = {1, 1, 1, 1};

/* Two entities with one identifier: how many of each are compared, and
 * how many record pairs between two of them, at most (a common typo value
 * could gather many). */
enum { SHARED_MAX_ENTITIES = 8, SHARED_MAX_PAIRS = 64 };

typedef struct rule_ctx {
    const pl_linked *l;
    const pl_ctx *e;
    const cfg_findings *fc;
    const fnd_events *ev;
    fnd_result *out;
    uint32_t *mfirst, *members;  /* per naming record: its members, in record order */
    uint32_t *afirst, *adj;      /* join tree: neighbours of each record ... */
    double *adj_p;               /* ... and the link's probability */
    uint32_t *adj_from;          /* the record each adjacency slot belongs to */
    uint32_t *stamp, *stack, *parent; /* path search scratch */
    double *best;
    uint32_t cur_stamp;
} rule_ctx;

/* ---- entities and their join trees ---------------------------------- */

static int index_entities(rule_ctx *x)
{
    size_t n = x->e->table.n_recs;
    const uint32_t *ent = x->l->clu->entity;
    x->mfirst = dt_calloc(n + 1, sizeof *x->mfirst);
    x->members = dt_malloc((n ? n : 1) * sizeof *x->members);
    if (!x->mfirst || !x->members) return DT_ENOMEM;
    for (size_t r = 0; r < n; r++) x->mfirst[ent[r] + 1]++;
    for (size_t r = 0; r < n; r++) x->mfirst[r + 1] += x->mfirst[r];
    for (size_t r = 0; r < n; r++) x->members[x->mfirst[ent[r]]++] = (uint32_t)r;
    for (size_t r = n; r > 0; r--) x->mfirst[r] = x->mfirst[r - 1];
    x->mfirst[0] = 0;
    return DT_OK;
}

static int index_tree(rule_ctx *x)
{
    size_t n = x->e->table.n_recs, nj = x->l->clu->n_joins;
    const clu_link *j = x->l->clu->joins;
    x->afirst = dt_calloc(n + 1, sizeof *x->afirst);
    x->adj = dt_malloc((2 * nj + 1) * sizeof *x->adj);
    x->adj_p = dt_malloc((2 * nj + 1) * sizeof *x->adj_p);
    x->stamp = dt_calloc(n ? n : 1, sizeof *x->stamp);
    x->stack = dt_malloc((n ? n : 1) * sizeof *x->stack);
    x->best = dt_malloc((n ? n : 1) * sizeof *x->best);
    x->parent = dt_malloc((n ? n : 1) * sizeof *x->parent);
    x->adj_from = dt_malloc((2 * nj + 1) * sizeof *x->adj_from);
    if (!x->afirst || !x->adj || !x->adj_p || !x->stamp || !x->stack || !x->best || !x->parent ||
        !x->adj_from)
        return DT_ENOMEM;
    for (size_t i = 0; i < nj; i++) {
        x->afirst[j[i].a + 1]++;
        x->afirst[j[i].b + 1]++;
    }
    for (size_t r = 0; r < n; r++) x->afirst[r + 1] += x->afirst[r];
    for (size_t i = 0; i < nj; i++) {
        uint32_t ia = x->afirst[j[i].a]++, ib = x->afirst[j[i].b]++;
        x->adj[ia] = j[i].b;
        x->adj_from[ia] = j[i].a;
        x->adj_p[ia] = j[i].p;
        x->adj[ib] = j[i].a;
        x->adj_from[ib] = j[i].b;
        x->adj_p[ib] = j[i].p;
    }
    for (size_t r = n; r > 0; r--) x->afirst[r] = x->afirst[r - 1];
    x->afirst[0] = 0;
    return DT_OK;
}

static int add_link(fnd_finding *f, uint32_t a, uint32_t b, double p)
{
    for (size_t i = 0; i < f->n_links; i++)
        if (f->links[i].a == a && f->links[i].b == b) return DT_OK;
    clu_link *n = dt_realloc(f->links, (f->n_links + 1) * sizeof *n);
    if (!n) return DT_ENOMEM;
    f->links = n;
    f->links[f->n_links++] = (clu_link){a, b, p, NULL};
    return DT_OK;
}

/* The weakest link on the tree path from a to b (1 when a == b; 0 when no
 * path joins them, which clustering never leaves within one entity); the
 * path's links join f's evidence. DT_ENOMEM when they cannot. */
static int path_min(rule_ctx *x, fnd_finding *f, uint32_t a, uint32_t b, double *out)
{
    *out = a == b;
    if (a == b) return DT_OK;
    uint32_t s = ++x->cur_stamp, top = 0;
    x->stamp[a] = s;
    x->best[a] = 1;
    x->stack[top++] = a;
    while (top) {
        uint32_t r = x->stack[--top];
        for (uint32_t i = x->afirst[r]; i < x->afirst[r + 1]; i++) {
            uint32_t n = x->adj[i];
            if (x->stamp[n] == s) continue;
            x->stamp[n] = s;
            x->parent[n] = i; /* the adjacency slot that reached n, from r */
            x->best[n] = fmin(x->best[r], x->adj_p[i]);
            x->stack[top++] = n;
            if (n != b) continue;
            *out = x->best[n];
            for (uint32_t v = b; v != a;) { /* back along the path */
                uint32_t slot = x->parent[v], from = x->adj_from[slot];
                DT_TRY(add_link(f, from < v ? from : v, from < v ? v : from, x->adj_p[slot]));
                v = from;
            }
            return DT_OK;
        }
    }
    return DT_OK;
}

/* ---- record values ---------------------------------------------------- */

/* The days a date field of record r may be; 0 when it has none. */
static int record_days(const rule_ctx *x, int field, uint32_t r, int32_t *lo, int32_t *hi)
{
    if (field < 0) return 0;
    const cmp_column *c = &x->e->table.cols[field];
    uint32_t v = c->vals[r];
    return v != CMP_NULL && norm_date_days(&c->info[v].date, lo, hi) == DT_OK;
}

static int is_payment(const rule_ctx *x, uint32_t i_ev)
{
    return x->e->cfg->findings.events[x->ev->src[i_ev]].is_payment;
}

/* 1 when records a and b disagree outright ("else") on a given name or a
 * date: a twin, a parent or a namesake the linkage joined. A finding that
 * rests on such a pair goes to a person (needs-review) whatever the links'
 * probabilities. */
static int identity_disagrees(const rule_ctx *x, uint32_t a, uint32_t b)
{
    const dt_config *cfg = x->e->cfg;
    uint8_t g[FS_MAX_COMPARISONS];
    cmp_vector(&x->e->table, cfg, a, b, g);
    for (size_t c = 0; c < cfg->n_comparisons; c++) {
        cfg_field_type t = cfg->fields[cfg->comparisons[c].i_field].type;
        if ((t == CFG_T_GIVEN_NAME || t == CFG_T_DATE) &&
            g[c] == cfg->comparisons[c].n_levels + 1)
            return 1;
    }
    return 0;
}

/* ---- findings ----------------------------------------------------------- */

static fnd_finding *new_finding(rule_ctx *x, int rule, uint32_t entity)
{
    fnd_result *o = x->out;
    if (util_grow((void **)&o->items, &o->cap, o->n + 1, sizeof *o->items) < 0) return NULL;
    fnd_finding *f = &o->items[o->n++];
    memset(f, 0, sizeof *f);
    f->rule = rule;
    f->entity = entity;
    f->entity_b = UINT32_MAX;
    f->day = FND_NO_DAY;
    f->value = CMP_NULL;
    f->confidence = 1;
    return f;
}

static int add_rec(fnd_finding *f, uint32_t r)
{
    for (size_t i = 0; i < f->n_recs; i++)
        if (f->recs[i] == r) return DT_OK;
    uint32_t *n = dt_realloc(f->recs, (f->n_recs + 1) * sizeof *n);
    if (!n) return DT_ENOMEM;
    f->recs = n;
    f->recs[f->n_recs++] = r;
    return DT_OK;
}

static int add_event(fnd_finding *f, const fnd_events *ev, uint32_t i)
{
    uint32_t *n = dt_realloc(f->events, (f->n_events + 1) * sizeof *n);
    if (!n) return DT_ENOMEM;
    f->events = n;
    f->events[f->n_events++] = i;
    f->cents += ev->cents[i];
    return DT_OK;
}

/* Counts the finding, and sets its state from its confidence (invariant 2). */
static void settle(rule_ctx *x, fnd_finding *f)
{
    f->needs_review = f->confidence < x->fc->review_below || f->review_why != FND_WHY_NONE;
    x->out->per_rule[f->rule]++;
    x->out->n_needs_review += (uint64_t)f->needs_review;
}

/* ---- deaths: death_contradicted, then payment_after_death ------------ */

static int has_activity_field(const rule_ctx *x, uint32_t r)
{
    for (size_t k = 0; k < x->fc->n_activity; k++)
        if (x->e->table.src[r] == x->fc->activity_source[k]) return 1;
    return 0;
}

/* Activity of entity members after day `after` (a death's last possible
 * day): events that are not payments, and activity fields. Adds each to f
 * (created on the first) with the records that carry them. A record that
 * disagrees with the death record on a given name or a date is no
 * evidence: the living twin's filings do not contradict the other twin's
 * death, however the linkage joined them. */
static int death_activity(rule_ctx *x, uint32_t ent, uint32_t death, int32_t after,
                          fnd_finding **f)
{
    const fnd_events *ev = x->ev;
    const cfg_findings *fc = x->fc;
    for (uint32_t m = x->mfirst[ent]; m < x->mfirst[ent + 1]; m++) {
        uint32_t r = x->members[m];
        if (r == death || (ev->first[r] == ev->first[r + 1] && !has_activity_field(x, r)) ||
            identity_disagrees(x, death, r))
            continue;
        int acted = 0;
        for (uint32_t i = ev->first[r]; i < ev->first[r + 1]; i++) {
            if (is_payment(x, i) || ev->lo[i] <= after) continue;
            if (!*f && !(*f = new_finding(x, FND_DEATH_CONTRADICTED, ent))) return DT_ENOMEM;
            DT_TRY(add_event(*f, ev, i));
            acted = 1;
        }
        for (size_t k = 0; k < fc->n_activity; k++) {
            int32_t lo, hi;
            if (x->e->table.src[r] != fc->activity_source[k] ||
                !record_days(x, fc->activity_field[k], r, &lo, &hi) || lo <= after)
                continue;
            if (!*f && !(*f = new_finding(x, FND_DEATH_CONTRADICTED, ent))) return DT_ENOMEM;
            acted = 1;
        }
        if (acted) {
            if ((*f)->n_recs == 0) DT_TRY(add_rec(*f, death));
            DT_TRY(add_rec(*f, r));
        }
    }
    return DT_OK;
}

/* Payments of entity members after day `after`: one payment_after_death
 * finding per record that was paid, or, when the death is contradicted,
 * counted on that finding as withheld (invariant 3). */
static int death_payments(rule_ctx *x, uint32_t ent, uint32_t death, int32_t after,
                          fnd_finding *contradicted, int32_t day)
{
    const fnd_events *ev = x->ev;
    for (uint32_t m = x->mfirst[ent]; m < x->mfirst[ent + 1]; m++) {
        uint32_t r = x->members[m];
        fnd_finding *f = NULL;
        size_t i_f = 0;
        int withheld = 0;
        for (uint32_t i = ev->first[r]; i < ev->first[r + 1]; i++) {
            if (!is_payment(x, i) || ev->lo[i] <= after) continue;
            if (contradicted) {
                withheld = 1;
                contradicted->n_withheld++;
                contradicted->withheld_cents += ev->cents[i];
                continue;
            }
            if (!f) {
                if (!(f = new_finding(x, FND_PAYMENT_AFTER_DEATH, ent))) return DT_ENOMEM;
                i_f = (size_t)(f - x->out->items);
                f->day = day;
                DT_TRY(add_rec(f, death));
                DT_TRY(add_rec(f, r));
            }
            f = &x->out->items[i_f];
            DT_TRY(add_event(f, ev, i));
        }
        x->out->n_withheld += (uint64_t)withheld; /* a finding not raised for r */
        if (f) {
            f = &x->out->items[i_f];
            DT_TRY(path_min(x, f, death, r, &f->confidence));
            if (identity_disagrees(x, death, r)) f->review_why = FND_WHY_DISAGREES;
            settle(x, f);
        }
    }
    return DT_OK;
}

/* The entity's death: its death record with the latest date of death (the
 * one that makes the fewest payments "after"); UINT32_MAX when none. */
static uint32_t entity_death(const rule_ctx *x, uint32_t ent, int32_t *lo, int32_t *hi)
{
    uint32_t best = UINT32_MAX;
    for (uint32_t m = x->mfirst[ent]; m < x->mfirst[ent + 1]; m++) {
        uint32_t r = x->members[m];
        int32_t a, b;
        if (x->e->table.src[r] != x->fc->death_source ||
            !record_days(x, x->fc->death_field, r, &a, &b))
            continue;
        if (best == UINT32_MAX || b > *hi) {
            best = r;
            *lo = a;
            *hi = b;
        }
    }
    return best;
}

static int deaths(rule_ctx *x, uint32_t ent)
{
    int32_t lo = 0, hi = 0;
    uint32_t death = entity_death(x, ent, &lo, &hi);
    if (death == UINT32_MAX) return DT_OK;
    fnd_finding *dc = NULL;
    size_t i_dc = 0;
    DT_TRY(death_activity(x, ent, death, hi, &dc));
    if (dc) {
        i_dc = (size_t)(dc - x->out->items);
        dc->day = lo == hi ? lo : FND_NO_DAY;
        /* the strongest tie to one record that acted: that one suffices */
        dc->confidence = 0;
        for (size_t i = 1; i < dc->n_recs; i++) {
            double p;
            DT_TRY(path_min(x, dc, death, dc->recs[i], &p));
            dc->confidence = fmax(dc->confidence, p);
        }
    }
    if (x->out->ran[FND_PAYMENT_AFTER_DEATH])
        DT_TRY(death_payments(x, ent, death, hi, dc ? &x->out->items[i_dc] : NULL,
                              lo == hi ? lo : FND_NO_DAY));
    if (dc) settle(x, &x->out->items[i_dc]);
    return DT_OK;
}

/* ---- duplicate_enrollment --------------------------------------------- */

typedef struct enrollment {
    uint32_t rec, program;
    int32_t start, end;
} enrollment;

static int cmp_enrollment(const void *pa, const void *pb)
{
    const enrollment *a = pa, *b = pb;
    if (a->program != b->program) return a->program < b->program ? -1 : 1;
    if (a->start != b->start) return a->start < b->start ? -1 : 1;
    return a->rec < b->rec ? -1 : a->rec > b->rec;
}

/* An enrollment runs from its start to its last payment (its start when
 * unpaid); 0 when it has no start. */
static int enrollment_of(const rule_ctx *x, uint32_t r, enrollment *out)
{
    int32_t lo, hi;
    if (!record_days(x, x->fc->enroll_start, r, &lo, &hi)) return 0;
    out->rec = r;
    out->start = lo;
    out->end = lo;
    int p = x->fc->enroll_program;
    out->program = p >= 0 ? x->e->table.cols[p].vals[r] : 0;
    if (x->ev->last_pay[r] > out->end) out->end = x->ev->last_pay[r];
    return 1;
}

static int duplicates(rule_ctx *x, uint32_t ent)
{
    enrollment buf[32];
    size_t n = 0;
    for (uint32_t m = x->mfirst[ent]; m < x->mfirst[ent + 1] && n < 32; m++) {
        uint32_t r = x->members[m];
        if (x->e->table.src[r] == x->fc->enroll_source && enrollment_of(x, r, &buf[n])) n++;
    }
    if (n < 2) return DT_OK;
    qsort(buf, n, sizeof *buf, cmp_enrollment);
    for (size_t i = 0; i < n;) { /* runs of one program whose periods overlap */
        size_t j = i + 1;
        int32_t end = buf[i].end;
        while (j < n && buf[j].program == buf[i].program && buf[j].start <= end) {
            if (buf[j].end > end) end = buf[j].end;
            j++;
        }
        if (j - i >= 2) {
            fnd_finding *f = new_finding(x, FND_DUPLICATE_ENROLLMENT, ent);
            if (!f) return DT_ENOMEM;
            for (size_t k = i; k < j; k++) {
                double p;
                DT_TRY(add_rec(f, buf[k].rec));
                DT_TRY(path_min(x, f, buf[i].rec, buf[k].rec, &p));
                f->confidence = fmin(f->confidence, p);
                if (identity_disagrees(x, buf[i].rec, buf[k].rec))
                    f->review_why = FND_WHY_DISAGREES;
            }
            f->day = buf[i].start;
            settle(x, f);
        }
        i = j;
    }
    return DT_OK;
}

/* ---- shared_identifier -------------------------------------------------- */

typedef struct owner {
    uint32_t value, entity;
} owner;

static int cmp_owner(const void *pa, const void *pb)
{
    const owner *a = pa, *b = pb;
    if (a->value != b->value) return a->value < b->value ? -1 : 1;
    return a->entity < b->entity ? -1 : a->entity > b->entity;
}

/* 1 when identifier value w (of any length: a last-4 too) agrees with
 * the full value v: the same, or its last digits. */
static int agrees_with(const cmp_column *c, uint32_t v, uint32_t w)
{
    if (w == v) return 1;
    uint32_t lv = c->dict.lens[v], lw = c->dict.lens[w];
    return lw < lv && !memcmp(c->dict.strs[v] + (lv - lw), c->dict.strs[w], lw);
}

/* The identifier an entity holds: its most common full-length value, when
 * its records that agree with it (the same value, or its last digits)
 * outnumber those that do not. A record whose value is a typo of another
 * person's identifier, alone in its entity but for a last-4 that says
 * otherwise, does not make that identifier two people's. CMP_NULL: none. */
static uint32_t entity_identifier(const rule_ctx *x, uint32_t ent)
{
    const cmp_column *c = &x->e->table.cols[x->fc->identifier_field];
    uint32_t best = CMP_NULL, n_best = 0;
    for (uint32_t m = x->mfirst[ent]; m < x->mfirst[ent + 1]; m++) {
        uint32_t v = c->vals[x->members[m]];
        if (v == CMP_NULL || c->dict.lens[v] < (uint32_t)x->fc->identifier_min_length) continue;
        uint32_t k = 0;
        for (uint32_t m2 = x->mfirst[ent]; m2 < x->mfirst[ent + 1]; m2++)
            k += c->vals[x->members[m2]] == v;
        if (k > n_best || (k == n_best && v < best)) {
            best = v;
            n_best = k;
        }
    }
    if (best == CMP_NULL) return CMP_NULL;
    uint32_t agree = 0, differ = 0;
    for (uint32_t m = x->mfirst[ent]; m < x->mfirst[ent + 1]; m++) {
        uint32_t w = c->vals[x->members[m]];
        if (w == CMP_NULL) continue;
        if (agrees_with(c, best, w)) agree++;
        else differ++;
    }
    return agree > differ ? best : CMP_NULL;
}

/* The match probability of records a and b with the identifier's
 * comparisons left out: what the rest of their data says. */
static double p_without_identifier(const rule_ctx *x, uint32_t a, uint32_t b)
{
    const dt_config *cfg = x->e->cfg;
    uint8_t g[FS_MAX_COMPARISONS];
    cmp_vector(&x->e->table, cfg, a, b, g);
    for (size_t c = 0; c < cfg->n_comparisons; c++)
        if (cfg->comparisons[c].i_field == x->fc->identifier_field) g[c] = 0;
    return fs_probability(fs_pair_weight(x->e->model, cfg, &x->e->table, g, a, b));
}

/* The highest such probability over record pairs of entities A and B. */
static double best_pair(const rule_ctx *x, uint32_t ea, uint32_t eb)
{
    double best = 0;
    int n = 0;
    for (uint32_t i = x->mfirst[ea]; i < x->mfirst[ea + 1]; i++)
        for (uint32_t j = x->mfirst[eb]; j < x->mfirst[eb + 1] && n < SHARED_MAX_PAIRS; j++, n++)
            best = fmax(best, p_without_identifier(x, x->members[i], x->members[j]));
    return best;
}

/* The records of entity ent that carry value v, added to f; the weakest
 * tie among them lowers its confidence. One record alone: a typo of the
 * other holder's identifier would look the same (findings.h, invariant 2). */
static int add_carriers(rule_ctx *x, fnd_finding *f, uint32_t ent, uint32_t v)
{
    const cmp_column *c = &x->e->table.cols[x->fc->identifier_field];
    uint32_t first = UINT32_MAX, n = 0;
    for (uint32_t m = x->mfirst[ent]; m < x->mfirst[ent + 1]; m++) {
        uint32_t r = x->members[m];
        if (c->vals[r] != v) continue;
        if (first == UINT32_MAX) first = r;
        double p;
        DT_TRY(path_min(x, f, first, r, &p));
        f->confidence = fmin(f->confidence, p);
        DT_TRY(add_rec(f, r));
        n++;
    }
    if (n == 1) f->review_why = FND_WHY_ONE_RECORD;
    return DT_OK;
}

/* The entities that hold identifier value w: own[*lo .. hi). */
static size_t owners_of(const owner *own, size_t n_own, uint32_t w, size_t *lo)
{
    size_t a = 0, b = n_own;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (own[m].value < w) a = m + 1;
        else b = m;
    }
    *lo = a;
    while (b < n_own && own[b].value == w) b++;
    return b;
}

/* 1 when another entity (not ent, not other) holds value text w and its
 * records say they are the person of ent's records (the identifier left
 * out). */
static int lookalike_holds(const rule_ctx *x, const owner *own, size_t n_own, const char *w,
                           uint32_t len, uint32_t ent, uint32_t other)
{
    const cmp_column *c = &x->e->table.cols[x->fc->identifier_field];
    uint32_t id = util_intern_find(&c->dict, w, len);
    if (id == UINT32_MAX) return 0;
    size_t lo, hi = owners_of(own, n_own, id, &lo);
    for (size_t k = lo; k < hi; k++)
        if (own[k].entity != ent && own[k].entity != other && best_pair(x, ent, own[k].entity) >= 0.5)
            return 1;
    return 0;
}

/* 1 when entity ent holds v on one record only, and that record is the
 * person of another entity whose identifier is one keystroke from v (a
 * digit changed, two neighbours swapped): a typo of their own identifier
 * that happens to be other's, which no one shares (invariant 2). Where
 * identifiers are dense (real SSNs), most one-digit typos land on somebody's. */
static int is_neighbour_typo(const rule_ctx *x, const owner *own, size_t n_own, uint32_t v,
                             uint32_t ent, uint32_t other)
{
    const cmp_column *c = &x->e->table.cols[x->fc->identifier_field];
    uint32_t n = 0;
    for (uint32_t m = x->mfirst[ent]; m < x->mfirst[ent + 1]; m++) n += c->vals[x->members[m]] == v;
    uint32_t len = c->dict.lens[v];
    char w[64];
    if (n != 1 || len >= sizeof w) return 0;
    const char *s = c->dict.strs[v];
    for (uint32_t i = 0; i < len; i++) {
        memcpy(w, s, len);
        for (char d = '0'; d <= '9'; d++) {
            if (d == s[i]) continue;
            w[i] = d;
            if (lookalike_holds(x, own, n_own, w, len, ent, other)) return 1;
        }
        if (i + 1 < len && s[i] != s[i + 1]) {
            memcpy(w, s, len);
            w[i] = s[i + 1];
            w[i + 1] = s[i];
            if (lookalike_holds(x, own, n_own, w, len, ent, other)) return 1;
        }
    }
    return 0;
}

static int shared_pair(rule_ctx *x, const owner *own, size_t n_own, uint32_t v, uint32_t ea,
                       uint32_t eb)
{
    double p = best_pair(x, ea, eb);
    if (p >= 0.5) return DT_OK; /* one person the run split, not two: no finding */
    if (is_neighbour_typo(x, own, n_own, v, ea, eb) || is_neighbour_typo(x, own, n_own, v, eb, ea)) {
        x->out->n_typos++;
        return DT_OK;
    }
    fnd_finding *f = new_finding(x, FND_SHARED_IDENTIFIER, ea);
    if (!f) return DT_ENOMEM;
    f->entity_b = eb;
    f->value = v;
    f->p_one_person = p;
    f->confidence = 1 - p;
    DT_TRY(add_carriers(x, f, ea, v));
    DT_TRY(add_carriers(x, f, eb, v));
    settle(x, f);
    return DT_OK;
}

static int shared(rule_ctx *x)
{
    size_t n = x->e->table.n_recs, n_own = 0;
    owner *own = dt_malloc((n ? n : 1) * sizeof *own);
    if (!own) return DT_ENOMEM;
    for (uint32_t ent = 0; ent < n; ent++) {
        if (x->mfirst[ent] == x->mfirst[ent + 1]) continue; /* names no entity */
        uint32_t v = entity_identifier(x, ent);
        if (v != CMP_NULL) own[n_own++] = (owner){v, ent};
    }
    qsort(own, n_own, sizeof *own, cmp_owner);
    int rc = DT_OK;
    for (size_t i = 0; i < n_own && rc == DT_OK;) {
        size_t j = i + 1;
        while (j < n_own && own[j].value == own[i].value) j++;
        size_t end = j - i > SHARED_MAX_ENTITIES ? i + SHARED_MAX_ENTITIES : j;
        for (size_t a = i; a < end && rc == DT_OK; a++)
            for (size_t b = a + 1; b < end && rc == DT_OK; b++)
                rc = shared_pair(x, own, n_own, own[a].value, own[a].entity, own[b].entity);
        i = j;
    }
    dt_free(own);
    return rc;
}

/* ---- running ------------------------------------------------------------ */

int fnd_keep_records(const pl_linked *l, uint8_t **keep)
{
    const cfg_findings *fc = &l->e->cfg->findings;
    size_t n = l->e->table.n_recs;
    uint8_t *k = *keep = dt_calloc(n ? n : 1, 1);
    if (!k) return DT_ENOMEM;
    if (fc->death_source < 0) return DT_OK;
    const cmp_column *c = &l->e->table.cols[fc->death_field];
    for (size_t r = 0; r < n; r++) /* mark each entity by its naming record ... */
        if (l->e->table.src[r] == fc->death_source && c->vals[r] != CMP_NULL)
            k[l->clu->entity[r]] = 1;
    for (size_t r = 0; r < n; r++) /* ... then its members; a name is its own member */
        k[r] = k[l->clu->entity[r]];
    return DT_OK;
}

static void not_run(fnd_result *r, int rule, const char *why)
{
    r->ran[rule] = 0;
    snprintf(r->why_not[rule], sizeof r->why_not[rule], "%s", why);
}

/* Which rules the config lets run (invariant 4). */
static void decide_rules(const dt_config *cfg, const pl_ctx *e, fnd_result *r)
{
    const cfg_findings *fc = &cfg->findings;
    int has_payments = 0;
    for (size_t k = 0; k < fc->n_events; k++) has_payments |= fc->events[k].is_payment;
    for (int k = 0; k < FND_N_RULES; k++) r->ran[k] = 1;
    if (fc->death_source < 0) {
        not_run(r, FND_PAYMENT_AFTER_DEATH, "findings: death is not declared");
        not_run(r, FND_DEATH_CONTRADICTED, "findings: death is not declared");
    } else if (!has_payments) {
        not_run(r, FND_PAYMENT_AFTER_DEATH, "no event source is declared with payment: true");
    }
    if (fc->enroll_source < 0)
        not_run(r, FND_DUPLICATE_ENROLLMENT, "findings: enrollment is not declared");
    if (fc->identifier_field < 0)
        not_run(r, FND_SHARED_IDENTIFIER, "findings: identifier is not declared");
    else if (!e->model)
        not_run(r, FND_SHARED_IDENTIFIER, "no model to tell two people from one");
}

int fnd_run_rules(const pl_linked *l, const fnd_events *ev, fnd_result *out)
{
    memset(out, 0, sizeof *out);
    rule_ctx x = {.l = l, .e = l->e, .fc = &l->e->cfg->findings, .ev = ev, .out = out};
    decide_rules(l->e->cfg, l->e, out);
    int rc = index_entities(&x);
    if (rc == DT_OK) rc = index_tree(&x);
    size_t n = l->e->table.n_recs;
    for (uint32_t ent = 0; ent < n && rc == DT_OK; ent++) {
        if (x.mfirst[ent] == x.mfirst[ent + 1]) continue;
        if (out->ran[FND_DEATH_CONTRADICTED]) rc = deaths(&x, ent);
        if (rc == DT_OK && out->ran[FND_DUPLICATE_ENROLLMENT]) rc = duplicates(&x, ent);
    }
    if (rc == DT_OK && out->ran[FND_SHARED_IDENTIFIER]) rc = shared(&x);
    dt_free(x.mfirst);
    dt_free(x.members);
    dt_free(x.afirst);
    dt_free(x.adj);
    dt_free(x.adj_p);
    dt_free(x.stamp);
    dt_free(x.stack);
    dt_free(x.best);
    dt_free(x.parent);
    dt_free(x.adj_from);
    if (rc < 0) fnd_result_fini(out);
    return rc;
}

void fnd_result_fini(fnd_result *r)
{
    for (size_t i = 0; i < r->n; i++) {
        dt_free(r->items[i].recs);
        dt_free(r->items[i].events);
        dt_free(r->items[i].links);
    }
    dt_free(r->items);
    r->items = NULL;
    r->n = r->cap = 0;
}
