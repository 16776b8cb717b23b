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
 * How: truth records go in a hash table keyed by a 64-bit hash of (source,
 * record_id); each predicted record finds its person there and gets a dense
 * number for its predicted entity; a counting sort then groups the records
 * by entity, so each entity's people and their record counts are read off
 * in one pass. Time O(R) (the per-entity sorts are of a few people), memory
 * about 20 bytes per record plus 12 per entity and 20 per person: 0.6 GB
 * for the 27M records of 10M people.
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
#include <sys/mman.h> /* mmap, madvise: huge pages for the large tables */

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

/* n zeroed bytes for a large table, on huge pages where the system allows:
 * its lookups are random, and with 4 KiB pages most of them would also
 * miss the TLB. Freed with big_free. */
static void *big_calloc(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die(1, "out of memory");
#ifdef MADV_HUGEPAGE
    madvise(p, n, MADV_HUGEPAGE); /* a hint: failure only costs speed */
#endif
    return p;
}

static void big_free(void *p, size_t n)
{
    if (p) munmap(p, n);
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

/* ---- truth: record -> person ------------------------------------------ */

/* Lines in the file at path (an upper bound on its records). */
static size_t count_lines(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) die(1, "%s: cannot open: %s", path, strerror(errno));
    static char buf[1 << 16];
    size_t n = 0, got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + got - p))); p++) n++;
    fclose(f);
    return n + 1;
}

/* Slot in [0, n) from the hash's high bits (Lemire's multiply-shift). */
static size_t slot_of(uint64_t h, size_t n)
{
    return (size_t)(((unsigned __int128)h * n) >> 64);
}

/* Open addressing, linear probing, load at most 2/3. A slot packs a 38-bit
 * fingerprint of the record key (its low bits; the slot comes from its high
 * bits) above the person number: 8 bytes a record, and a false match needs
 * 38 more bits to agree (about 1e-4 over 27M lookups). */
#define PERSON_BITS 26 /* person numbers below 2^26: bench-gen's 40M fit */
#define BATCH 32       /* lines parsed before their table slots are touched */
typedef struct truth_map {
    uint64_t *slots; /* 0 = empty */
    size_t n_slots;
} truth_map;

static uint64_t fingerprint(uint64_t key)
{
    return (key << PERSON_BITS) | (1ull << PERSON_BITS); /* never 0 */
}

static uint64_t *truth_slot(const truth_map *t, uint64_t key)
{
    uint64_t fp = fingerprint(key);
    size_t i = slot_of(key, t->n_slots);
    while (t->slots[i] && (t->slots[i] >> PERSON_BITS) != (fp >> PERSON_BITS))
        i = i + 1 == t->n_slots ? 0 : i + 1;
    return &t->slots[i];
}

/* truth.csv as a map. OUT: *max_person, the largest person number. */
static truth_map read_truth(const char *path, uint32_t *max_person)
{
    static const char *const k_cols[3] = {"source", "record_id", "entity"};
    truth_map t;
    t.n_slots = count_lines(path) * 3 / 2 + 1;
    t.slots = big_calloc(t.n_slots * sizeof *t.slots);
    reader rd;
    int col[3];
    reader_open(&rd, path);
    reader_header(&rd, k_cols, 3, col);
    *max_person = 0;
    uint64_t key[BATCH];
    uint32_t person[BATCH];
    long i_line[BATCH];
    int n = 0, is_more;
    do { /* a batch of lines, then their slots: the memory loads overlap */
        is_more = reader_next(&rd);
        if (is_more) {
            person[n] = person_of(&rd, reader_field(&rd, col[2]));
            if (person[n] >> PERSON_BITS)
                die(1, "%s:%ld: person number over 2^26", path, rd.i_line);
            if (person[n] > *max_person) *max_person = person[n];
            key[n] = record_key(&rd, col[0], col[1]);
            i_line[n] = rd.i_line;
            __builtin_prefetch(&t.slots[slot_of(key[n], t.n_slots)], 1);
            n++;
        }
        if (n < BATCH && is_more) continue;
        for (int i = 0; i < n; i++) {
            uint64_t *slot = truth_slot(&t, key[i]);
            if (*slot) die(1, "%s:%ld: the record is listed twice", path, i_line[i]);
            *slot = fingerprint(key[i]) | person[i];
        }
        n = 0;
    } while (is_more);
    reader_close(&rd);
    return t;
}

/* ---- predicted entities ------------------------------------------------- */

/* Entity id hash -> dense entity number, grown by doubling. */
typedef struct entity_map {
    uint64_t *keys;  /* 0 = empty (a hash of 0 is stored as 1) */
    uint32_t *index; /* dense number of the entity in keys[i] */
    size_t n_slots, n_entities;
} entity_map;

static void entity_map_grow(entity_map *m)
{
    entity_map old = *m;
    m->n_slots = old.n_slots ? old.n_slots * 2 : 1 << 16;
    m->keys = big_calloc(m->n_slots * sizeof *m->keys);
    m->index = big_calloc(m->n_slots * sizeof *m->index);
    for (size_t i = 0; i < old.n_slots; i++) {
        if (!old.keys[i]) continue;
        size_t j = slot_of(old.keys[i], m->n_slots);
        while (m->keys[j]) j = j + 1 == m->n_slots ? 0 : j + 1;
        m->keys[j] = old.keys[i];
        m->index[j] = old.index[i];
    }
    big_free(old.keys, old.n_slots * sizeof *old.keys);
    big_free(old.index, old.n_slots * sizeof *old.index);
}

static uint32_t entity_number(entity_map *m, uint64_t key)
{
    if (!key) key = 1;
    if (3 * (m->n_entities + 1) > 2 * m->n_slots) entity_map_grow(m);
    size_t i = slot_of(key, m->n_slots);
    while (m->keys[i] && m->keys[i] != key) i = i + 1 == m->n_slots ? 0 : i + 1;
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->index[i] = (uint32_t)m->n_entities++;
    }
    return m->index[i];
}

/* Predicted entities: entity e's records' people are person[first[e] ..
 * first[e + 1]), sorted. */
typedef struct predicted {
    uint32_t *person;
    uint32_t *first;
    size_t n_entities;
} predicted;

static int u32_cmp(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/* Groups the records by entity (a counting sort), each group's people sorted. */
static predicted group_records(const uint32_t *ent, const uint32_t *person, size_t n,
                               size_t n_entities)
{
    predicted pr;
    pr.n_entities = n_entities;
    pr.first = calloc(n_entities + 1, sizeof *pr.first);
    pr.person = xrealloc(NULL, n * sizeof *pr.person);
    if (!pr.first) die(1, "out of memory");
    for (size_t i = 0; i < n; i++) pr.first[ent[i] + 1]++;
    for (size_t e = 0; e < n_entities; e++) pr.first[e + 1] += pr.first[e];
    for (size_t i = 0; i < n; i++) pr.person[pr.first[ent[i]]++] = person[i];
    for (size_t e = n_entities; e > 0; e--) pr.first[e] = pr.first[e - 1]; /* fill moved them */
    pr.first[0] = 0;
    for (size_t e = 0; e < n_entities; e++) {
        uint32_t *a = pr.person + pr.first[e];
        size_t k = pr.first[e + 1] - pr.first[e];
        if (k > 16) {
            qsort(a, k, sizeof *a, u32_cmp);
            continue;
        }
        for (size_t i = 1; i < k; i++) /* most entities hold a few records */
            for (size_t j = i; j > 0 && a[j - 1] > a[j]; j--) {
                uint32_t tmp = a[j];
                a[j] = a[j - 1];
                a[j - 1] = tmp;
            }
    }
    return pr;
}

/* entities.csv, each record's person found in truth (freed here, invariant 3). */
static predicted read_predicted(const char *path, truth_map *truth)
{
    static const char *const k_cols[3] = {"source", "record_id", "entity_id"};
    size_t cap = count_lines(path), n = 0;
    uint32_t *ent = xrealloc(NULL, cap * sizeof *ent);
    uint32_t *person = xrealloc(NULL, cap * sizeof *person);
    entity_map em = {0};
    reader rd;
    int col[3];
    reader_open(&rd, path);
    reader_header(&rd, k_cols, 3, col);
    uint64_t key[BATCH], ekey[BATCH];
    long i_line[BATCH];
    int n_batch = 0, is_more;
    do { /* as in read_truth */
        is_more = reader_next(&rd);
        if (is_more) {
            key[n_batch] = record_key(&rd, col[0], col[1]);
            const char *e = reader_field(&rd, col[2]);
            ekey[n_batch] = hash_bytes(0xcbf29ce484222325ull, e, strlen(e));
            i_line[n_batch] = rd.i_line;
            __builtin_prefetch(&truth->slots[slot_of(key[n_batch], truth->n_slots)]);
            if (em.n_slots) __builtin_prefetch(&em.keys[slot_of(ekey[n_batch], em.n_slots)]);
            n_batch++;
        }
        if (n_batch < BATCH && is_more) continue;
        for (int i = 0; i < n_batch; i++) {
            uint64_t slot = *truth_slot(truth, key[i]);
            if (!slot)
                die(1, "%s:%ld: the record is not in the truth file", path, i_line[i]);
            ent[n] = entity_number(&em, ekey[i]);
            person[n++] = (uint32_t)(slot & ((1u << PERSON_BITS) - 1));
        }
        n_batch = 0;
    } while (is_more);
    reader_close(&rd);
    big_free(truth->slots, truth->n_slots * sizeof *truth->slots);
    big_free(em.keys, em.n_slots * sizeof *em.keys);
    big_free(em.index, em.n_slots * sizeof *em.index);
    predicted pr = group_records(ent, person, n, em.n_entities);
    free(ent);
    free(person);
    return pr;
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

static void relations_free(relations *rel)
{
    free(rel->pair);
    free(rel->kind);
    free(rel->is_merged);
    free(rel->first);
    free(rel->at);
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

/* Scores every predicted entity. */
static void score_all(const predicted *pr, relations *rel, score *sc)
{
    uint64_t *seen = calloc(rel->n_people, sizeof *seen);
    uint32_t *people = NULL;
    uint64_t *counts = NULL;
    size_t cap = 0;
    if (!seen) die(1, "out of memory");
    memset(sc, 0, sizeof *sc);
    for (size_t e = 0; e < pr->n_entities; e++) {
        size_t n = 0;
        for (uint32_t j = pr->first[e]; j < pr->first[e + 1]; j++) {
            uint32_t p = pr->person[j];
            if (j == pr->first[e] || p != pr->person[j - 1]) {
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
        for (size_t k = 0; k < n; k++) seen[people[k]] = counts[k];
        score_entity(people, counts, n, seen, rel, sc);
        for (size_t k = 0; k < n; k++) seen[people[k]] = 0;
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
    truth_map truth = read_truth(path[0], &max_person);
    relations rel;
    read_relations(path[1], max_person, &rel);
    predicted pr = read_predicted(path[2], &truth);
    score sc;
    score_all(&pr, &rel, &sc);
    print_json(&rel, &sc);
    free(pr.person);
    free(pr.first);
    relations_free(&rel);
    return 0;
}
