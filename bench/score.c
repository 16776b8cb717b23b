/*
 * score.c — bench-score: how often dovetail merges people who are related
 * (twins, couples, parents and children named alike, strangers sharing an
 * SSN), and how many of its false-positive pairs join such people.
 *
 * Where it sits: a program beside the library, run by bench/run after
 * `dovetail eval`. It reads three CSV files and uses plain C only (no
 * library internals):
 *   --truth      bench-gen's truth.csv: source,record_id,entity (entity p<n>)
 *   --relations  bench-gen's relations.csv: kind,entity_a,entity_b
 *   --entities   dovetail link's entities.csv: source,record_id,entity_id
 * and prints one JSON object (bench/README.md, "Related people").
 *
 * How: truth records are sorted by a 64-bit hash of (source, record_id);
 * each predicted record finds its person by binary search; predicted records
 * are then sorted by (predicted entity, person), so each predicted entity is
 * one run whose people and their record counts are read off in one pass.
 * Time O(R log R), memory about 32 bytes per record plus 12 per person.
 *
 * Invariants:
 *   1. A related pair is "merged" when at least one predicted entity holds
 *      records of both people; it counts once however many do.
 *   2. False-positive pairs are record pairs inside one predicted entity with
 *      different truth people: C(n,2) - sum over people of C(c,2) per
 *      entity. Those joining two related people are counted per kind too
 *      (c_a * c_b per entity).
 *   3. A record of entities.csv absent from truth.csv is an error (exit 1):
 *      the files do not belong together. Truth records missing from
 *      entities.csv (rejected rows) are simply not scored.
 */
#include <errno.h>    /* errno in messages */
#include <inttypes.h> /* PRIu64 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_KINDS 4
static const char *const k_kinds[N_KINDS] = {"twin", "couple", "parent_child", "shared_ssn"};
#define MAX_FIELDS 8

static void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench-score: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(status);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) die(1, "out of memory");
    return q;
}

/* FNV-1a over n bytes, continuing from h. */
static uint64_t hash_bytes(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

/* ---- reading CSV ------------------------------------------------------- */

/* One file read line by line; fields point into the line (RFC 4180 quotes
 * undone in place; no line breaks inside fields, as bench-gen and dovetail
 * write them). */
typedef struct reader {
    FILE *f;
    const char *path;
    char *line;
    size_t cap;
    long i_line;
    char *field[MAX_FIELDS];
    size_t len[MAX_FIELDS];
    int n_fields;
} reader;

static void reader_open(reader *rd, const char *path)
{
    memset(rd, 0, sizeof *rd);
    rd->path = path;
    rd->f = fopen(path, "rb");
    if (!rd->f) die(1, "%s: cannot open: %s", path, strerror(errno));
}

static void reader_close(reader *rd)
{
    if (ferror(rd->f)) die(1, "%s: read failed", rd->path);
    fclose(rd->f);
    free(rd->line);
}

/* Splits the line at s into fields. */
static void split_fields(reader *rd, char *s)
{
    rd->n_fields = 0;
    for (;;) {
        char *out = s, *start = s;
        if (*s == '"') {
            for (s++; *s; s++) {
                if (*s == '"' && s[1] == '"') s++;
                else if (*s == '"') break;
                *out++ = *s;
            }
            if (*s == '"') s++;
        } else {
            while (*s && *s != ',') s++;
            out = s;
        }
        if (rd->n_fields < MAX_FIELDS) {
            rd->field[rd->n_fields] = start;
            rd->len[rd->n_fields++] = (size_t)(out - start);
        }
        if (*s != ',') break;
        *out = '\0';
        s++;
    }
}

/* Reads the next non-empty line into fields; 0 at the end of the file. */
static int reader_next(reader *rd)
{
    ssize_t n;
    while ((n = getline(&rd->line, &rd->cap, rd->f)) >= 0) {
        rd->i_line++;
        while (n > 0 && (rd->line[n - 1] == '\n' || rd->line[n - 1] == '\r')) rd->line[--n] = '\0';
        if (n == 0) continue;
        split_fields(rd, rd->line);
        for (int i = 0; i < rd->n_fields; i++) rd->field[i][rd->len[i]] = '\0';
        return 1;
    }
    return 0;
}

/* Reads the header and finds the n named columns. OUT: col[n]. */
static void reader_header(reader *rd, const char *const *names, int n, int *col)
{
    if (!reader_next(rd)) die(1, "%s: empty file", rd->path);
    for (int k = 0; k < n; k++) {
        col[k] = -1;
        for (int i = 0; i < rd->n_fields; i++)
            if (!strcmp(rd->field[i], names[k])) col[k] = i;
        if (col[k] < 0) die(1, "%s: no column '%s' in the header", rd->path, names[k]);
    }
}

static const char *reader_field(reader *rd, int col)
{
    if (col >= rd->n_fields) die(1, "%s:%ld: too few fields", rd->path, rd->i_line);
    return rd->field[col];
}

/* The person number of an entity written p<n>. */
static uint32_t person_of(reader *rd, const char *s)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = s[0] == 'p' && s[1] >= '0' && s[1] <= '9' ? strtoul(s + 1, &end, 10) : 0;
    if (!end || *end || errno || v >= UINT32_MAX)
        die(1, "%s:%ld: entity '%s' is not p<number>", rd->path, rd->i_line, s);
    return (uint32_t)v;
}

static uint64_t record_key(reader *rd, int col_source, int col_id)
{
    const char *src = reader_field(rd, col_source), *id = reader_field(rd, col_id);
    uint64_t h = hash_bytes(0xcbf29ce484222325ull, src, strlen(src));
    return hash_bytes(h ^ 0xff, id, strlen(id));
}

/* ---- records ----------------------------------------------------------- */

typedef struct rec {
    uint64_t key;    /* truth: hash of (source, record_id); predicted: hash of entity_id */
    uint32_t person; /* truth person number */
} rec;

typedef struct recs {
    rec *a;
    size_t n, cap;
} recs;

static void recs_push(recs *v, uint64_t key, uint32_t person)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 1 << 16;
        v->a = xrealloc(v->a, v->cap * sizeof *v->a);
    }
    v->a[v->n++] = (rec){key, person};
}

static int rec_cmp(const void *x, const void *y)
{
    const rec *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return (a->person > b->person) - (a->person < b->person);
}

/* truth.csv sorted by record key. OUT: *max_person, the largest person number. */
static recs read_truth(const char *path, uint32_t *max_person)
{
    static const char *const k_cols[3] = {"source", "record_id", "entity"};
    reader rd;
    int col[3];
    recs v = {0};
    reader_open(&rd, path);
    reader_header(&rd, k_cols, 3, col);
    *max_person = 0;
    while (reader_next(&rd)) {
        uint32_t p = person_of(&rd, reader_field(&rd, col[2]));
        if (p > *max_person) *max_person = p;
        recs_push(&v, record_key(&rd, col[0], col[1]), p);
    }
    reader_close(&rd);
    qsort(v.a, v.n, sizeof *v.a, rec_cmp);
    for (size_t i = 1; i < v.n; i++)
        if (v.a[i].key == v.a[i - 1].key) die(1, "%s: a record is listed twice", path);
    return v;
}

static const rec *truth_find(const recs *t, uint64_t key)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->a[mid].key < key) lo = mid + 1;
        else hi = mid;
    }
    return lo < t->n && t->a[lo].key == key ? &t->a[lo] : NULL;
}

/* entities.csv as (predicted entity, person), sorted so each predicted
 * entity is one run and its people's records are adjacent. */
static recs read_predicted(const char *path, const recs *truth)
{
    static const char *const k_cols[3] = {"source", "record_id", "entity_id"};
    reader rd;
    int col[3];
    recs v = {0};
    reader_open(&rd, path);
    reader_header(&rd, k_cols, 3, col);
    while (reader_next(&rd)) {
        const rec *t = truth_find(truth, record_key(&rd, col[0], col[1]));
        if (!t)
            die(1, "%s:%ld: record %s,%s is not in the truth file", path, rd.i_line,
                reader_field(&rd, col[0]), reader_field(&rd, col[1]));
        const char *e = reader_field(&rd, col[2]);
        recs_push(&v, hash_bytes(0xcbf29ce484222325ull, e, strlen(e)), t->person);
    }
    reader_close(&rd);
    qsort(v.a, v.n, sizeof *v.a, rec_cmp);
    return v;
}

/* ---- relations ---------------------------------------------------------- */

/* Related pairs, and for each person the pairs it is in (CSR by person). */
typedef struct relations {
    uint32_t (*pair)[2]; /* people of pair i */
    uint8_t *kind;       /* kind of pair i */
    uint8_t *is_merged;  /* invariant 1 */
    size_t n_pairs;
    uint32_t *first;     /* person p's pairs: at[first[p] .. first[p + 1]) */
    uint32_t *at;        /* pair indices */
    uint32_t n_people;
} relations;

static int kind_of(reader *rd, const char *s)
{
    for (int k = 0; k < N_KINDS; k++)
        if (!strcmp(s, k_kinds[k])) return k;
    die(1, "%s:%ld: unknown relation kind '%s'", rd->path, rd->i_line, s);
}

static void read_relations(const char *path, uint32_t max_person, relations *rel)
{
    static const char *const k_cols[3] = {"kind", "entity_a", "entity_b"};
    reader rd;
    int col[3];
    size_t cap = 0;
    memset(rel, 0, sizeof *rel);
    reader_open(&rd, path);
    reader_header(&rd, k_cols, 3, col);
    while (reader_next(&rd)) {
        if (rel->n_pairs == cap) {
            cap = cap ? cap * 2 : 1 << 12;
            rel->pair = xrealloc(rel->pair, cap * sizeof *rel->pair);
            rel->kind = xrealloc(rel->kind, cap);
        }
        int k = kind_of(&rd, reader_field(&rd, col[0]));
        uint32_t a = person_of(&rd, reader_field(&rd, col[1]));
        uint32_t b = person_of(&rd, reader_field(&rd, col[2]));
        if (a == b) die(1, "%s:%ld: a person related to itself", path, rd.i_line);
        if (a > max_person) max_person = a;
        if (b > max_person) max_person = b;
        rel->kind[rel->n_pairs] = (uint8_t)k;
        rel->pair[rel->n_pairs][0] = a;
        rel->pair[rel->n_pairs++][1] = b;
    }
    reader_close(&rd);
    rel->n_people = max_person + 1;
    rel->is_merged = calloc(rel->n_pairs + 1, 1);
    rel->first = calloc((size_t)rel->n_people + 1, sizeof *rel->first);
    rel->at = xrealloc(NULL, 2 * rel->n_pairs * sizeof *rel->at);
    if (!rel->is_merged || !rel->first) die(1, "out of memory");
    for (size_t i = 0; i < rel->n_pairs; i++)
        for (int s = 0; s < 2; s++) rel->first[rel->pair[i][s] + 1]++;
    for (uint32_t p = 0; p < rel->n_people; p++) rel->first[p + 1] += rel->first[p];
    uint32_t *fill = xrealloc(NULL, (size_t)rel->n_people * sizeof *fill);
    memcpy(fill, rel->first, (size_t)rel->n_people * sizeof *fill);
    for (size_t i = 0; i < rel->n_pairs; i++)
        for (int s = 0; s < 2; s++) rel->at[fill[rel->pair[i][s]]++] = (uint32_t)i;
    free(fill);
}

/* ---- scoring ------------------------------------------------------------ */

typedef struct score {
    uint64_t fp_pairs;              /* invariant 2 */
    uint64_t fp_related[N_KINDS];   /* of those, between related people, per kind */
} score;

/* Scores one predicted entity: people[0..n) distinct with counts[]; seen[p]
 * holds p's count in this entity (0 elsewhere). */
static void score_entity(const uint32_t *people, const uint64_t *counts, size_t n,
                         const uint64_t *seen, relations *rel, score *sc)
{
    uint64_t total = 0, same = 0;
    for (size_t i = 0; i < n; i++) {
        total += counts[i];
        same += counts[i] * (counts[i] - 1) / 2;
    }
    sc->fp_pairs += total * (total - 1) / 2 - same;
    for (size_t i = 0; i < n; i++) {
        uint32_t p = people[i];
        for (uint32_t j = rel->first[p]; j < rel->first[p + 1]; j++) {
            uint32_t ip = rel->at[j];
            uint32_t q = rel->pair[ip][0] == p ? rel->pair[ip][1] : rel->pair[ip][0];
            if (q < p || !seen[q]) continue; /* each pair once, from its lower person */
            rel->is_merged[ip] = 1;
            sc->fp_related[rel->kind[ip]] += counts[i] * seen[q];
        }
    }
}

/* Walks the predicted entities (runs of equal key in pred). */
static void score_all(const recs *pred, relations *rel, score *sc)
{
    uint64_t *seen = calloc(rel->n_people, sizeof *seen);
    uint32_t *people = NULL;
    uint64_t *counts = NULL;
    size_t cap = 0;
    if (!seen) die(1, "out of memory");
    memset(sc, 0, sizeof *sc);
    for (size_t i = 0; i < pred->n;) {
        size_t end = i, n = 0;
        while (end < pred->n && pred->a[end].key == pred->a[i].key) end++;
        for (size_t j = i; j < end; j++) {
            uint32_t p = pred->a[j].person;
            if (j == i || p != pred->a[j - 1].person) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 64;
                    people = xrealloc(people, cap * sizeof *people);
                    counts = xrealloc(counts, cap * sizeof *counts);
                }
                people[n] = p;
                counts[n++] = 0;
            }
            counts[n - 1]++;
        }
        for (size_t k = 0; k < n; k++)
            if (people[k] < rel->n_people) seen[people[k]] = counts[k];
        score_entity(people, counts, n, seen, rel, sc);
        for (size_t k = 0; k < n; k++)
            if (people[k] < rel->n_people) seen[people[k]] = 0;
        i = end;
    }
    free(seen);
    free(people);
    free(counts);
}

static void print_json(const relations *rel, const score *sc)
{
    uint64_t pairs[N_KINDS] = {0}, merged[N_KINDS] = {0};
    for (size_t i = 0; i < rel->n_pairs; i++) {
        pairs[rel->kind[i]]++;
        merged[rel->kind[i]] += rel->is_merged[i];
    }
    printf("{\"relations\": {");
    for (int k = 0; k < N_KINDS; k++)
        printf("%s\"%s\": {\"pairs\": %" PRIu64 ", \"merged\": %" PRIu64
               ", \"merged_share\": %.4f}",
               k ? ", " : "", k_kinds[k], pairs[k], merged[k],
               pairs[k] ? (double)merged[k] / (double)pairs[k] : 0.0);
    printf("}, \"false_positive_pairs\": %" PRIu64 ", \"false_positive_pairs_between_related\": {",
           sc->fp_pairs);
    for (int k = 0; k < N_KINDS; k++)
        printf("%s\"%s\": %" PRIu64, k ? ", " : "", k_kinds[k], sc->fp_related[k]);
    printf("}}\n");
}

static void usage(FILE *f)
{
    fputs("usage: bench-score --truth TRUTH.csv --relations RELATIONS.csv --entities ENTITIES.csv\n"
          "\n"
          "Prints JSON: per kind of related people (twin, couple, parent_child,\n"
          "shared_ssn) how many pairs there are and how many dovetail merged into\n"
          "one entity, the false-positive record pairs, and how many of those join\n"
          "related people. See bench/README.md.\n",
          f);
}

int main(int argc, char **argv)
{
    const char *path[3] = {NULL, NULL, NULL}; /* truth, relations, entities */
    static const char *const k_opts[3] = {"--truth", "--relations", "--entities"};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        int k = 0;
        while (k < 3 && strcmp(argv[i], k_opts[k])) k++;
        if (k == 3 || i + 1 >= argc) {
            fprintf(stderr, "bench-score: %s '%s'\n", k == 3 ? "unknown option" : "no value for",
                    argv[i]);
            usage(stderr);
            return 2;
        }
        path[k] = argv[++i];
    }
    for (int k = 0; k < 3; k++)
        if (!path[k]) {
            fprintf(stderr, "bench-score: %s is required\n", k_opts[k]);
            usage(stderr);
            return 2;
        }
    uint32_t max_person;
    recs truth = read_truth(path[0], &max_person);
    relations rel;
    read_relations(path[1], max_person, &rel);
    recs pred = read_predicted(path[2], &truth);
    free(truth.a);
    score sc;
    score_all(&pred, &rel, &sc);
    print_json(&rel, &sc);
    free(pred.a);
    return 0;
}
