/*
 * gen.c — bench-gen, the seeded generator of dovetail's benchmark data.
 *
 * One synthetic population is written as five person registries that cover
 * overlapping subsets of it, each with its own record ids and layout (deaths,
 * benefits, earners, health, voters), two transaction files joined to them by
 * key (payments, earnings), and the truth: the person behind every registry
 * row (truth.csv), the anomalies planted on purpose (findings_truth.csv) and
 * which people are related (relations.csv).
 * bench/README.md states the output contract; bench/run and bench/bench.yaml
 * depend on it exactly.
 *
 * Where it sits: a program beside the library, not part of it. It uses util
 * (RNG, hashing, allocation, files) from libdovetail.a and utf8proc for case
 * and accent tables; it never calls the engine.
 *
 * How: people are made in families: one person, a couple at one address,
 * twins, a parent and the child named after them, or two strangers who share
 * an SSN. Family f draws everything from an RNG seeded by (seed, f), makes
 * its one or two people and writes all their rows at once; nothing about a
 * person is kept after its family is written (only a count of twin families,
 * which numbers their SSN pairs).
 *
 * Invariants:
 *   1. Output depends only on --seed, --people and the lists read from data/
 *      (the name lists under names/ and nicknames.tsv): same inputs, same
 *      bytes. Families are made in order, so the first people of a larger run
 *      are the people of a smaller one with the same seed.
 *   2. Memory does not grow with --people.
 *   3. Every SSN written, damaged or not, has area 900-999, group 01-49 and
 *      serial 0001-9999: never issued (9xx with groups 50-99 are real taxpayer
 *      numbers). True SSNs are distinct (a keyed permutation of the person
 *      number) except for planted shared_identifier pairs. Twins hold two
 *      consecutive serials differing in the last digit only, a pair no one
 *      else draws from.
 *   4. Record ids are unique within their file and tell nothing about the
 *      person: a prefix letter and a keyed 36-bit permutation of the row
 *      number.
 *   5. truth.csv has exactly one row per row of the five person registries.
 *   6. Payments are never dated after the person's true death except in
 *      planted payment_after_death cases. A death record carries the true date
 *      of death except in planted death_contradicted cases, whose person files
 *      earnings two or more tax years after the recorded date.
 */
#include <assert.h>
#include <errno.h>    /* errno in messages */
#include <inttypes.h> /* PRIu64 */
#include <stdio.h>    /* buffered output */
#include <stdlib.h>   /* exit, strtoull */
#include <string.h>
#include <sys/stat.h> /* stat, to find data/ */
#include <unistd.h>   /* isatty, readlink */

#include <utf8proc.h> /* upper case and accent folding of code points */

#include "util/util.h" /* util_rng, util_hash64, util_mix64, dt_malloc, util_read_file */

#define GEN_VERSION "3"
#define MAX_PEOPLE 40000000ULL /* two to a pair: 20M of the 24,495,100 SSN pairs of invariant 3 */
#define NAME_CAP 128           /* bytes for one name part, damage included */
#define LINE_CAP 4096          /* bytes for one output row */
#define NO_DATE INT32_MIN      /* "no date": alive, no enrollment, ... */

/* ---- small helpers ------------------------------------------------ */

static void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench-gen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(status);
}

static void *xmalloc(size_t n)
{
    void *p = dt_malloc(n ? n : 1);
    if (!p) die(1, "out of memory");
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = dt_strdup(s);
    if (!p) die(1, "out of memory");
    return p;
}

/* Uniform in [0, 1) from the top 53 bits. */
static double rnd01(util_rng *r)
{
    return (double)(util_rng_next(r) >> 11) * 0x1.0p-53;
}

static int chance(util_rng *r, double p)
{
    return rnd01(r) < p;
}

/* Uniform integer in [lo, hi]; lo <= hi. */
static int rnd_int(util_rng *r, int lo, int hi)
{
    return lo + (int)util_rng_below(r, (uint64_t)((int64_t)hi - lo + 1));
}

/* ---- dates: days since 1970-01-01 (Hinnant's civil calendar algorithms) -- */

typedef struct ymd {
    int y, m, d;
} ymd;

static int32_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (unsigned)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (unsigned)d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int32_t)doe - 719468;
}

static ymd civil_from_days(int32_t z)
{
    z += 719468;
    const int32_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    const int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    return (ymd){(int)yoe + era * 400 + (m <= 2), m, d};
}

static int days_in_month(int y, int m)
{
    static const int k_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int is_leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && is_leap ? 29 : k_days[m - 1];
}

static int year_of(int32_t day)
{
    return civil_from_days(day).y;
}

/* The date k months after day, the day of month clamped to the month's end. */
static int32_t add_months(int32_t day, int k)
{
    ymd t = civil_from_days(day);
    int mi = t.y * 12 + (t.m - 1) + k;
    int y = mi / 12, m = mi % 12 + 1;
    int d = t.d < days_in_month(y, m) ? t.d : days_in_month(y, m);
    return days_from_civil(y, m, d);
}

/* ---- the world's time line ---------------------------------------- */

static int32_t g_dob_min, g_dob_max;     /* 1925-01-01 .. 2006-12-31 */
static int32_t g_death_min, g_data_end;  /* 2010-01-01; 2025-12-31, the last day of data */
static int32_t g_events_min;             /* 2015-01-01: enrollments, payments, earnings */

static void dates_init(void)
{
    g_dob_min = days_from_civil(1925, 1, 1);
    g_dob_max = days_from_civil(2006, 12, 31);
    g_death_min = days_from_civil(2010, 1, 1);
    g_data_end = days_from_civil(2025, 12, 31);
    g_events_min = days_from_civil(2015, 1, 1);
}

/* ---- text: accents and case --------------------------------------- */

/* Folded spelling of each code point below U+2000: n bytes of s, or n ==
 * FOLD_KEEP when it stays as it is. Built once from utf8proc (NFKD, marks
 * stripped) plus the letters it does not decompose (đ, ø, ß, ...), the same
 * set dovetail's standardizer folds. */
#define FOLD_KEEP 255
static struct {
    uint8_t n;
    char s[3];
} g_fold[0x2000];

static void fold_init(void)
{
    static const struct {
        int32_t cp;
        const char *s;
    } k_extra[] = {
        {0xC6, "AE"}, {0xD0, "D"},   {0xD8, "O"},  {0xDE, "TH"}, {0xDF, "ss"},  {0xE6, "ae"},
        {0xF0, "d"},  {0xF8, "o"},   {0xFE, "th"}, {0x110, "D"}, {0x111, "d"},  {0x131, "i"},
        {0x141, "L"}, {0x142, "l"},  {0x152, "OE"}, {0x153, "oe"},
    };
    for (int32_t cp = 0; cp < 0x2000; cp++) {
        g_fold[cp].n = FOLD_KEEP;
        if (cp < 0x80) continue;
        utf8proc_int32_t out[8];
        int boundclass = 0;
        utf8proc_ssize_t n = utf8proc_decompose_char(
            cp, out, 8, UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK | UTF8PROC_COMPAT, &boundclass);
        if (n < 0 || n > 3) continue;
        int is_ascii = 1;
        for (utf8proc_ssize_t i = 0; i < n; i++) is_ascii &= out[i] > 0 && out[i] < 0x80;
        if (!is_ascii || (n == 1 && out[0] == cp)) continue;
        g_fold[cp].n = (uint8_t)n; /* n == 0: a lone accent, dropped */
        for (utf8proc_ssize_t i = 0; i < n; i++) g_fold[cp].s[i] = (char)out[i];
    }
    for (size_t i = 0; i < DT_ARRAY_LEN(k_extra); i++) {
        g_fold[k_extra[i].cp].n = (uint8_t)strlen(k_extra[i].s);
        memcpy(g_fold[k_extra[i].cp].s, k_extra[i].s, g_fold[k_extra[i].cp].n);
    }
}

/* out (capacity NAME_CAP) = a + b + c; may alias a. Cut at a character
 * boundary if too long (list names are under NAME_CAP / 2 bytes, so in
 * practice never). */
static void join2(char *out, const char *a, const char *b, const char *c)
{
    char tmp[NAME_CAP];
    size_t n = 0;
    const char *parts[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        for (const char *s = parts[i]; *s && n < NAME_CAP - 1; s++) tmp[n++] = *s;
    if (n == NAME_CAP - 1)
        while (n > 0 && ((unsigned char)tmp[n] & 0xC0) == 0x80) n--;
    tmp[n] = '\0';
    memcpy(out, tmp, n + 1);
}

/* Decodes the code point at s[*i] (valid UTF-8: the lists are checked on load
 * and damage only writes ASCII) and advances *i. */
static int32_t utf8_next(const char *s, size_t *i)
{
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + *i, -1, &cp);
    if (k <= 0) { /* cannot happen; keep the byte rather than loop */
        cp = (unsigned char)s[*i];
        k = 1;
    }
    *i += (size_t)k;
    return cp;
}

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (size_t i = 0; s[i];) {
        utf8_next(s, &i);
        n++;
    }
    return n;
}

/* Appends cp to buf[*n] if it fits in cap (leaving room for the NUL). */
static void utf8_put(char *buf, size_t cap, size_t *n, int32_t cp)
{
    utf8proc_uint8_t tmp[4];
    utf8proc_ssize_t k = utf8proc_encode_char(cp, tmp);
    if (*n + (size_t)k < cap) {
        memcpy(buf + *n, tmp, (size_t)k);
        *n += (size_t)k;
    }
}

/* Rewrites s (capacity NAME_CAP) with accents folded and/or in upper case. */
static void text_transform(char *s, int is_fold, int is_upper)
{
    char out[NAME_CAP];
    size_t n = 0;
    for (size_t i = 0; s[i];) {
        int32_t cp = utf8_next(s, &i);
        if (is_fold && cp >= 0x80 && cp < 0x2000 && g_fold[cp].n != FOLD_KEEP) {
            for (int k = 0; k < g_fold[cp].n; k++) {
                char c = g_fold[cp].s[k];
                if (is_upper && c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
                utf8_put(out, sizeof out, &n, c);
            }
            continue;
        }
        if (is_upper && cp < 0x80) cp = cp >= 'a' && cp <= 'z' ? cp - 32 : cp;
        else if (is_upper) cp = utf8proc_toupper(cp);
        utf8_put(out, sizeof out, &n, cp);
    }
    out[n] = '\0';
    memcpy(s, out, n + 1);
}

/* The lookup key of a name: folded, ASCII lower case (as nicknames.tsv). */
static void fold_key(const char *s, char *out)
{
    join2(out, s, "", "");
    text_transform(out, 1, 0);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
}

/* Capitalizes the first code point of s in place (nicknames are stored lower case). */
static void capitalize(char *s)
{
    size_t i = 0;
    int32_t cp = utf8_next(s, &i);
    char out[NAME_CAP];
    size_t n = 0;
    utf8_put(out, sizeof out, &n, utf8proc_toupper(cp));
    size_t rest = strlen(s + i);
    if (n + rest >= NAME_CAP) return;
    memcpy(out + n, s + i, rest + 1);
    memcpy(s, out, n + rest + 1);
}

/* ---- name lists: data/names/<culture>_{given,surname}.tsv ---------- */

/* A weighted list. Given names carry a sex: 'M', 'F' or 'U' (either). */
typedef struct name_list {
    char **names;     /* UTF-8 as written in the file */
    char *sex;        /* per name */
    uint64_t *cum[2]; /* running weight totals over names usable for men [0], women [1] */
    uint32_t *pick[2]; /* the name index behind each running total */
    size_t n_names, n_pick[2];
} name_list;

/* Reads path (lines "name<TAB>sex<TAB>weight", or "name<TAB>weight" when
 * !has_sex; '#' comments). Exits with file:line on any malformed line. */
static void list_load(name_list *l, const char *path, int has_sex)
{
    dt_error err = {0};
    char *text;
    if (util_read_file(path, &text, NULL, &err) < 0) die(1, "%s", err.msg);
    size_t cap = 64;
    memset(l, 0, sizeof *l);
    l->names = xmalloc(cap * sizeof *l->names);
    l->sex = xmalloc(cap);
    uint64_t *weights = xmalloc(cap * sizeof *weights);
    long i_line = 0;
    for (char *line = text, *next; line && *line; line = next) {
        i_line++;
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        if (line[0] == '#' || line[0] == '\0') continue;
        char *f[3] = {line, NULL, NULL};
        int n_f = 1;
        for (char *p = line; *p && n_f < 3; p++)
            if (*p == '\t') {
                *p = '\0';
                f[n_f++] = p + 1;
            }
        char *end = NULL;
        const char *w = f[has_sex ? 2 : 1];
        unsigned long long weight = w ? strtoull(w, &end, 10) : 0;
        if (n_f != (has_sex ? 3 : 2) || !*f[0] || !end || *end || weight == 0)
            die(1, "%s:%ld: want name<TAB>%sweight (weight > 0)", path, i_line,
                has_sex ? "sex<TAB>" : "");
        if (has_sex && (strlen(f[1]) != 1 || !strchr("MFU", f[1][0])))
            die(1, "%s:%ld: sex must be M, F or U", path, i_line);
        if (utf8proc_decompose((const utf8proc_uint8_t *)f[0], 0, NULL, 0, 0) < 0
            || strlen(f[0]) >= NAME_CAP / 2)
            die(1, "%s:%ld: name is not valid UTF-8 or too long", path, i_line);
        if (l->n_names == cap) {
            cap *= 2;
            char **nn = dt_realloc(l->names, cap * sizeof *nn);
            char *ns = dt_realloc(l->sex, cap);
            uint64_t *nw = dt_realloc(weights, cap * sizeof *nw);
            if (!nn || !ns || !nw) die(1, "out of memory");
            l->names = nn, l->sex = ns, weights = nw;
        }
        l->names[l->n_names] = xstrdup(f[0]);
        l->sex[l->n_names] = has_sex ? f[1][0] : 'U';
        weights[l->n_names++] = weight;
    }
    dt_free(text);
    for (int s = 0; s < 2; s++) {
        l->cum[s] = xmalloc((l->n_names + 1) * sizeof *l->cum[s]);
        l->pick[s] = xmalloc((l->n_names + 1) * sizeof *l->pick[s]);
        uint64_t total = 0;
        for (size_t i = 0; i < l->n_names; i++) {
            if (l->sex[i] == (s ? 'M' : 'F')) continue;
            total += weights[i];
            l->cum[s][l->n_pick[s]] = total;
            l->pick[s][l->n_pick[s]++] = (uint32_t)i;
        }
        if (l->n_pick[s] == 0) die(1, "%s: no names usable for %s", path, s ? "women" : "men");
    }
    dt_free(weights);
}

/* A name index drawn by weight among names usable for the sex. */
static uint32_t list_draw(const name_list *l, util_rng *r, int is_female)
{
    const uint64_t *cum = l->cum[is_female];
    size_t n = l->n_pick[is_female];
    uint64_t x = util_rng_below(r, cum[n - 1]);
    size_t lo = 0, hi = n - 1; /* first running total above x */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cum[mid] > x) hi = mid;
        else lo = mid + 1;
    }
    return l->pick[is_female][lo];
}

static const char *list_name(const name_list *l, util_rng *r, int is_female)
{
    return l->names[list_draw(l, r, is_female)];
}

/* ---- string -> list of strings (nicknames, romanization variants) --- */

typedef struct smap_entry {
    char *key;
    char **vals;
    uint32_t n_vals;
} smap_entry;

typedef struct smap {
    smap_entry *slots; /* open addressing; key NULL = empty */
    size_t n_slots;    /* power of two, kept at least twice the keys */
    size_t n_keys;
} smap;

static smap_entry *smap_slot(const smap *m, const char *key)
{
    size_t mask = m->n_slots - 1, i = util_hash64(key, strlen(key), 7) & mask;
    while (m->slots[i].key && strcmp(m->slots[i].key, key) != 0) i = (i + 1) & mask;
    return &m->slots[i];
}

static const smap_entry *smap_get(const smap *m, const char *key)
{
    const smap_entry *e = smap_slot(m, key);
    return e->key ? e : NULL;
}

static void smap_add(smap *m, const char *key, const char *val)
{
    smap_entry *e = smap_slot(m, key);
    if (!e->key) {
        if (2 * (m->n_keys + 1) > m->n_slots) die(1, "too many nickname or variant entries");
        e->key = xstrdup(key);
        m->n_keys++;
    }
    char **v = dt_realloc(e->vals, (e->n_vals + 1) * sizeof *v);
    if (!v) die(1, "out of memory");
    e->vals = v;
    e->vals[e->n_vals++] = xstrdup(val);
}

/* Reads "key<TAB>val,val,..." lines; keys folded to lookup form when is_fold. */
static void smap_load(smap *m, const char *path, int is_fold)
{
    dt_error err = {0};
    char *text;
    if (util_read_file(path, &text, NULL, &err) < 0) die(1, "%s", err.msg);
    m->n_slots = 8192;
    m->n_keys = 0;
    m->slots = xmalloc(m->n_slots * sizeof *m->slots);
    memset(m->slots, 0, m->n_slots * sizeof *m->slots);
    long i_line = 0;
    for (char *line = text, *next; line && *line; line = next) {
        i_line++;
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        if (line[0] == '#' || line[0] == '\0') continue;
        char *tab = strchr(line, '\t');
        if (!tab || tab == line || strlen(line) >= NAME_CAP * 4)
            die(1, "%s:%ld: want key<TAB>value,value,...", path, i_line);
        *tab = '\0';
        char key[NAME_CAP];
        if (is_fold) fold_key(line, key);
        else join2(key, line, "", "");
        for (char *v = tab + 1, *comma; v; v = comma) {
            comma = strchr(v, ',');
            if (comma) *comma++ = '\0';
            if (*v && strlen(v) < NAME_CAP / 2) smap_add(m, key, v);
        }
    }
    dt_free(text);
}

/* ---- cultures ------------------------------------------------------- */

enum { EN, ES, ZH, VI, IN, AR, N_CULT };
static const char *const k_cult_name[N_CULT] = {"english", "spanish", "chinese",
                                                "vietnamese", "indian", "arabic"};
static const double k_cult_share[N_CULT] = {0.40, 0.20, 0.10, 0.10, 0.10, 0.10};
/* Chance a married woman writes her husband's surname: customs differ (Chinese,
 * Vietnamese and Arabic women mostly keep their own). */
static const double k_cult_takes_name[N_CULT] = {0.80, 0.40, 0.10, 0.10, 0.70, 0.15};

typedef struct culture {
    name_list given;   /* Chinese: syllables, combined by make_given */
    name_list surname;
    name_list middle;  /* Vietnamese tên đệm only */
} culture;

/* ---- identifiers ---------------------------------------------------- */

/* 9-digit SSNs with area 900-999, group 01-49, serial 0002-9999, handed out
 * in pairs of consecutive serials that differ in the last digit only (0002-
 * 0003, ..., 9998-9999; 0001 is never used), as SSA numbered twins.
 * SSN_PAIRS pairs, numbered 0.. in order. */
#define SSN_PAIRS (100u * 49u * 4999u)
/* A keyed permutation of the pairs: its first REGULAR_PAIRS values hold one
 * SSN for each possible person number (two strangers to a pair), the rest
 * hold twins, one pair each, so a twin's neighbour serial is nobody else's. */
#define REGULAR_PAIRS ((uint32_t)(MAX_PEOPLE / 2))

static uint32_t ssn_of_pair(uint32_t pair, unsigned member)
{
    uint32_t area = 900 + pair / (49u * 4999u), rest = pair % (49u * 4999u);
    return area * 1000000u + (1 + rest / 4999u) * 10000u + 2 * (rest % 4999u + 1) + member;
}

static int ssn_is_valid(uint32_t ssn)
{
    uint32_t area = ssn / 1000000u, group = ssn / 10000u % 100u, serial = ssn % 10000u;
    return area >= 900 && area <= 999 && group >= 1 && group <= 49 && serial >= 1;
}

/* A keyed Feistel permutation of 26 bits, walked until it lands below n
 * (n <= 2^26), so it permutes 0..n-1. */
static uint32_t permute26(uint32_t x, uint64_t key, uint32_t n)
{
    assert(x < n && n <= 1u << 26);
    do {
        uint32_t hi = x >> 13, lo = x & 0x1FFF;
        for (uint64_t round = 0; round < 4; round++) {
            uint64_t k = key + round * 0x9E3779B97F4A7C15ull;
            uint32_t f = (uint32_t)(util_mix64(lo ^ k) & 0x1FFF);
            uint32_t t = hi ^ f;
            hi = lo;
            lo = t;
        }
        x = hi << 13 | lo;
    } while (x >= n);
    return x;
}

/* The pair permutation's key, apart from the person permutation's. */
static uint64_t pair_key(uint64_t key)
{
    return util_mix64(key ^ 0x7061697273736e73ull);
}

/* Person i's SSN: a keyed slot among MAX_PEOPLE, two slots to a regular
 * pair, so distinct people get distinct SSNs (invariant 3). */
static uint32_t ssn_of_person(uint64_t i_person, uint64_t key)
{
    uint32_t slot = permute26((uint32_t)i_person, key, (uint32_t)MAX_PEOPLE);
    return ssn_of_pair(permute26(slot / 2, pair_key(key), SSN_PAIRS), slot & 1);
}

/* The i_twins-th twin pair's two consecutive SSNs, lower first. */
static void ssn_of_twins(uint64_t i_twins, uint64_t key, uint32_t out[2])
{
    assert(i_twins < SSN_PAIRS - REGULAR_PAIRS); /* 4.5M pairs; 40M people make ~0.7M */
    uint32_t pair = permute26(REGULAR_PAIRS + (uint32_t)i_twins, pair_key(key), SSN_PAIRS);
    out[0] = ssn_of_pair(pair, 0);
    out[1] = ssn_of_pair(pair, 1);
}

/* Row number -> 36-bit id: a keyed Feistel permutation, so ids are unique
 * and carry no order (invariant 4). */
static uint64_t id_permute(uint64_t row, uint64_t key)
{
    uint32_t hi = (uint32_t)(row >> 18) & 0x3FFFF, lo = (uint32_t)row & 0x3FFFF;
    for (uint64_t round = 0; round < 4; round++) {
        uint32_t f = (uint32_t)(util_mix64(lo ^ (key + round * 0xD1B54A32D192ED03ull)) & 0x3FFFF);
        uint32_t t = hi ^ f;
        hi = lo;
        lo = t;
    }
    return (uint64_t)hi << 18 | lo;
}

/* ---- output files ------------------------------------------------- */

enum { O_DEATHS, O_BENEFITS, O_EARNERS, O_HEALTH, O_VOTERS, O_PAYMENTS, O_EARNINGS,
       O_TRUTH, O_FINDINGS, O_RELATIONS, N_OUT };

static const struct {
    const char *file;
    char id_prefix; /* record ids: prefix + 9 hex digits; 0 = no ids */
    const char *header;
} k_out[N_OUT] = {
    {"deaths.csv", 'D', "death_id,decedent,dob,ssn,date_of_death,zip"},
    {"benefits.csv", 'B',
     "enrollment_id,FIRST_NAME,MIDDLE_NAME,LAST_NAME,DOB,SSN,ZIP,PROGRAM,ENROLLED_ON"},
    {"earners.csv", 'E', "earner_id,name,birth_date,tin,zip"},
    {"health.csv", 'H', "member_id,given,family,birth,ssn_last4,postcode,sex"},
    {"voters.csv", 'V', "voter_no,full_name,birth_year,birth_date,zip,sex"},
    {"payments.csv", 'P', "payment_id,enrollment_id,paid_on,amount"},
    {"earnings.csv", 'F', "filing_id,earner_id,tax_year,employer,wages"},
    {"truth.csv", 0, "source,record_id,entity,group"},
    {"findings_truth.csv", 0, "kind,entity,detail"},
    {"relations.csv", 0, "kind,entity_a,entity_b"},
};
/* The five person registries are O_DEATHS..O_VOTERS; their names in truth.csv: */
static const char *const k_source[5] = {"deaths", "benefits", "earners", "health", "voters"};

typedef struct outfile {
    FILE *f;
    char *buf;       /* stdio buffer */
    uint64_t n_rows; /* data rows written */
    uint64_t id_key; /* key of id_permute for this file */
} outfile;

/* One row being built. Overflow is our bug (names are capped), so it aborts. */
typedef struct line {
    char s[LINE_CAP];
    size_t n;
} line;

static void put_mem(line *l, const char *p, size_t n)
{
    if (l->n + n >= LINE_CAP) die(1, "internal error: row longer than %d bytes", LINE_CAP);
    memcpy(l->s + l->n, p, n);
    l->n += n;
}

static void put_str(line *l, const char *s)
{
    put_mem(l, s, strlen(s));
}

static void put_ch(line *l, char c)
{
    put_mem(l, &c, 1);
}

/* A CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
static void put_csv(line *l, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        put_str(l, s);
        return;
    }
    put_ch(l, '"');
    for (; *s; s++) {
        if (*s == '"') put_ch(l, '"');
        put_ch(l, *s);
    }
    put_ch(l, '"');
}

/* v in decimal, zero-padded to width digits. */
static void put_uint(line *l, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width) tmp[n++] = '0';
    while (n) put_ch(l, tmp[--n]);
}

static void put_cents(line *l, uint64_t cents)
{
    put_uint(l, cents / 100, 1);
    put_ch(l, '.');
    put_uint(l, cents % 100, 2);
}

enum { DF_ISO, DF_COMPACT, DF_MDY, DF_DMY }; /* YYYY-MM-DD, YYYYMMDD, MM/DD/YYYY, DD/MM/YYYY */

static void put_date(line *l, ymd t, int format)
{
    switch (format) {
    case DF_ISO:
    case DF_COMPACT:
        put_uint(l, (uint64_t)t.y, 4);
        if (format == DF_ISO) put_ch(l, '-');
        put_uint(l, (uint64_t)t.m, 2);
        if (format == DF_ISO) put_ch(l, '-');
        put_uint(l, (uint64_t)t.d, 2);
        break;
    default:
        put_uint(l, (uint64_t)(format == DF_MDY ? t.m : t.d), 2);
        put_ch(l, '/');
        put_uint(l, (uint64_t)(format == DF_MDY ? t.d : t.m), 2);
        put_ch(l, '/');
        put_uint(l, (uint64_t)t.y, 4);
    }
}

static void put_day(line *l, int32_t day, int format)
{
    put_date(l, civil_from_days(day), format);
}

static void line_write(outfile *o, line *l)
{
    put_ch(l, '\n');
    fwrite(l->s, 1, l->n, o->f);
    l->n = 0;
}

/* The id of the next row of o (the row is counted now). OUT: id, 11 bytes. */
static void next_id(outfile *o, char prefix, char *id)
{
    static const char k_hex[] = "0123456789ABCDEF";
    uint64_t v = id_permute(o->n_rows++, o->id_key);
    id[0] = prefix;
    for (int i = 9; i >= 1; i--, v >>= 4) id[i] = k_hex[v & 15];
    id[10] = '\0';
}

/* ---- damage profiles: how each registry writes and misspells --------- */

/* Chances per row (typo, phonetic, ocr, variant: per name part). Values are
 * in k_prof; bench/README.md has the table. */
typedef struct profile {
    double typo;           /* keyboard slip: neighbour key, dropped, doubled, swapped letters */
    double phonetic;       /* spelled as heard: ph/f, ie/ei, c/k, doubled letters */
    double ocr;            /* scanned paper: rn/m, cl/d, O/0, I/1 */
    double nickname;       /* given name as a nickname (data/nicknames.tsv) */
    double english;        /* of people with an English given name: it, not the native one */
    double variant;        /* Arabic romanization variant of the given name (half for surname) */
    double swap;           /* given name and surname exchanged */
    double initial;        /* given name cut to its initial */
    double middle_full;    /* of people with a middle name: written in full, */
    double middle_initial; /* as an initial; else left out */
    double merge_middle;   /* José Luis, Văn Minh: middle written into the given name */
    double cjk_split;      /* Chinese Xiaoming written Xiao Ming or Xiao-Ming */
    double es_both;        /* Spanish: both surnames (García López), */
    double es_hyphen;      /* hyphenated (García-López); else the paternal one only */
    double wed_married;    /* married women: husband's surname, */
    double wed_hyphen;     /* maiden-married hyphenated; else the maiden name */
    double fold;           /* accents folded */
    double dob_swap;       /* day and month exchanged (day <= 12) */
    double dob_year;       /* year off by one */
    double dob_digit;      /* a digit of the day mistyped */
    double dob_missing;    /* date left empty */
    double id_digit;       /* an SSN digit mistyped */
    double id_transpose;   /* two adjacent SSN digits exchanged */
    double id_missing;     /* SSN left empty */
    double zip_stale;      /* of people who moved: the earlier ZIP */
    double zip_missing;
    double sex_missing;
    int is_upper;          /* names in upper case */
} profile;

enum { R_DEATHS, R_BENEFITS, R_EARNERS, R_HEALTH, R_VOTERS, R_DUPLICATE, N_PROF };

/* Benefits are the cleanest (checked at enrollment), voters the messiest
 * (self-reported, rarely updated), health and deaths in between; deaths are
 * partly keyed from paper, hence OCR errors. R_DUPLICATE is a second,
 * carelessly keyed enrollment of someone already enrolled. */
static const profile k_prof[N_PROF] = {
    [R_DEATHS] = {.typo = 0.02, .phonetic = 0.015, .ocr = 0.03, .nickname = 0.03, .english = 0.10,
                  .variant = 0.04, .swap = 0.01, .initial = 0.005, .middle_full = 0.30,
                  .middle_initial = 0.50, .merge_middle = 0.20, .cjk_split = 0.10,
                  .es_both = 0.40, .es_hyphen = 0.20, .wed_married = 0.85, .wed_hyphen = 0.08,
                  .fold = 1.0, .dob_swap = 0.02, .dob_year = 0.02, .dob_digit = 0.01,
                  .id_digit = 0.02, .id_transpose = 0.01, .id_missing = 0.08,
                  .zip_stale = 0.10, .is_upper = 1},
    [R_BENEFITS] = {.typo = 0.01, .phonetic = 0.005, .nickname = 0.02, .english = 0.15,
                    .variant = 0.02,
                    .swap = 0.003, .initial = 0.003, .middle_full = 0.55,
                    .middle_initial = 0.35, .merge_middle = 0.15, .cjk_split = 0.05,
                    .es_both = 0.60, .es_hyphen = 0.20, .wed_married = 0.70, .wed_hyphen = 0.15,
                    .fold = 0.6, .dob_swap = 0.01, .dob_year = 0.01, .dob_digit = 0.005,
                    .id_digit = 0.01, .id_transpose = 0.005, .zip_stale = 0.25, .is_upper = 1},
    [R_EARNERS] = {.typo = 0.02, .phonetic = 0.01, .nickname = 0.06, .english = 0.30,
                   .variant = 0.06,
                   .swap = 0.01, .initial = 0.01, .middle_full = 0.40, .middle_initial = 0.30,
                   .merge_middle = 0.20, .cjk_split = 0.10, .es_both = 0.50, .es_hyphen = 0.20,
                   .wed_married = 0.60, .wed_hyphen = 0.20, .fold = 0.0, .dob_swap = 0.01,
                   .dob_year = 0.015, .dob_digit = 0.01, .id_digit = 0.012,
                   .id_transpose = 0.006, .zip_stale = 0.20, .zip_missing = 0.01},
    [R_HEALTH] = {.typo = 0.03, .phonetic = 0.02, .ocr = 0.005, .nickname = 0.08, .english = 0.60,
                  .variant = 0.08, .swap = 0.015, .initial = 0.01, .merge_middle = 0.20,
                  .cjk_split = 0.12, .es_both = 0.50, .es_hyphen = 0.15, .wed_married = 0.55,
                  .wed_hyphen = 0.20, .fold = 0.5, .dob_swap = 0.04, .dob_year = 0.02,
                  .dob_digit = 0.01, .dob_missing = 0.005, .id_digit = 0.02,
                  .id_transpose = 0.01, .id_missing = 0.05, .zip_stale = 0.35,
                  .zip_missing = 0.02, .sex_missing = 0.01},
    [R_VOTERS] = {.typo = 0.05, .phonetic = 0.03, .ocr = 0.005, .nickname = 0.15, .english = 0.70,
                  .variant = 0.15, .swap = 0.02, .initial = 0.02, .middle_initial = 0.30,
                  .merge_middle = 0.25, .cjk_split = 0.15,
                  .es_both = 0.40, .es_hyphen = 0.20, .wed_married = 0.50, .wed_hyphen = 0.20,
                  .fold = 0.3, .dob_swap = 0.03, .dob_year = 0.03, .dob_digit = 0.015,
                  .dob_missing = 0.12, .zip_stale = 0.50, .zip_missing = 0.01,
                  .sex_missing = 0.02},
    [R_DUPLICATE] = {.typo = 0.15, .phonetic = 0.08, .nickname = 0.25, .english = 0.15,
                     .variant = 0.25,
                     .swap = 0.03, .initial = 0.03, .middle_full = 0.30, .middle_initial = 0.40,
                     .merge_middle = 0.30, .cjk_split = 0.20, .es_both = 0.40,
                     .es_hyphen = 0.20, .wed_married = 0.50, .wed_hyphen = 0.25, .fold = 0.6,
                     .dob_swap = 0.08, .dob_year = 0.08, .dob_digit = 0.05, .id_digit = 0.10,
                     .id_transpose = 0.08, .zip_stale = 0.50, .is_upper = 1},
};

/* Chance a person's row in a registry is written a second time (the person
 * enrolled, filed or registered again), per registry; benefits plant theirs
 * as duplicate_enrollment instead (P_DUPLICATE). */
static const double k_dup_rate[5] = {0.003, 0, 0.005, 0.02, 0.04};

/* The second copy of a row in registry reg: keyed as carelessly as profile
 * "dup", in reg's layout (case, middle names, what may be empty, how often
 * an English given name is used). */
static profile dup_profile(int reg)
{
    const profile *own = &k_prof[reg];
    profile pr = k_prof[R_DUPLICATE];
    pr.english = own->english;
    pr.ocr = own->ocr;
    pr.middle_full = own->middle_full;
    pr.middle_initial = own->middle_initial;
    pr.fold = own->fold;
    pr.dob_missing = own->dob_missing;
    pr.id_missing = own->id_missing;
    pr.zip_missing = own->zip_missing;
    pr.sex_missing = own->sex_missing;
    pr.is_upper = own->is_upper;
    return pr;
}

/* ---- misspelling ---------------------------------------------------- */

/* Neighbours of each letter on a QWERTY keyboard. */
static const char *const k_qwerty[26] = {
    "qwsz", "vghn", "xdfv", "serfcx", "wsdr", "drtgvc", "ftyhbv", "gyujnb", "ujko",
    "huikmn", "jiolm", "kop", "njk", "bhjm", "iklp", "ol", "wa", "edft", "awedxz",
    "rfgy", "yhji", "cfgb", "qase", "zsdc", "tghu", "asx",
};

typedef struct rule {
    const char *from, *to;
} rule;

/* Spelled as heard (matched ignoring case; the replacement takes the case of
 * what it replaces). */
static const rule k_phonetic[] = {
    {"ph", "f"},   {"f", "ph"},   {"ck", "k"},   {"c", "k"},   {"k", "c"},   {"ei", "ie"},
    {"ie", "ei"},  {"y", "i"},    {"i", "y"},    {"ou", "u"},  {"oo", "u"},  {"ee", "ea"},
    {"ea", "ee"},  {"z", "s"},    {"s", "z"},    {"th", "t"},  {"x", "ks"},  {"qu", "kw"},
    {"v", "b"},    {"b", "v"},    {"ll", "y"},   {"j", "h"},   {"w", "v"},   {"sh", "ch"},
    {"ch", "sh"},  {"dh", "d"},   {"kh", "k"},   {"ai", "ay"}, {"ay", "ai"}, {"son", "sen"},
    {"mm", "m"},   {"nn", "n"},   {"ll", "l"},   {"tt", "t"},  {"ss", "s"},  {"rr", "r"},
    {"gh", "g"},   {"wh", "w"},   {"ah", "a"},   {"ey", "y"},  {"ou", "oo"}, {"u", "ou"},
};

/* Scanned print: lower-case text, then upper-case text (matched exactly). */
static const rule k_ocr_lower[] = {
    {"m", "rn"}, {"rn", "m"}, {"cl", "d"}, {"d", "cl"}, {"li", "h"}, {"h", "li"},
    {"vv", "w"}, {"w", "vv"}, {"e", "c"},  {"c", "e"},  {"l", "1"},  {"o", "0"},
    {"i", "l"},  {"l", "i"},  {"u", "ii"}, {"n", "ri"},
};
static const rule k_ocr_upper[] = {
    {"M", "RN"}, {"RN", "M"}, {"O", "0"}, {"I", "1"}, {"I", "L"}, {"L", "I"}, {"E", "F"},
    {"F", "E"},  {"B", "8"},  {"S", "5"}, {"G", "C"}, {"C", "G"}, {"D", "O"}, {"O", "D"},
    {"Q", "O"},  {"U", "V"},  {"V", "U"}, {"H", "N"}, {"N", "H"}, {"CL", "D"}, {"P", "F"},
};

static int is_lower(char c) { return c >= 'a' && c <= 'z'; }
static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static int is_letter(char c) { return is_lower(c) || is_upper(c); }
static char lower(char c) { return is_upper(c) ? (char)(c - 'A' + 'a') : c; }
static char upper(char c) { return is_lower(c) ? (char)(c - 'a' + 'A') : c; }

/* Replaces n_from bytes at s[at] by to (s has capacity NAME_CAP). */
static void splice(char *s, size_t at, size_t n_from, const char *to)
{
    size_t len = strlen(s), n_to = strlen(to);
    if (len - n_from + n_to >= NAME_CAP) return;
    memmove(s + at + n_to, s + at + n_from, len - at - n_from + 1);
    memcpy(s + at, to, n_to);
}

/* A keyboard slip at a random ASCII letter: a neighbouring key (half the
 * time), a dropped letter, a doubled neighbour or two letters exchanged.
 * Only names of 3+ characters; multi-byte letters are never touched, so the
 * result stays valid UTF-8. */
static void typo_keyboard(util_rng *r, char *s)
{
    size_t at[NAME_CAP], n = 0, len = strlen(s);
    if (utf8_len(s) < 3) return;
    for (size_t i = 0; i < len; i++)
        if (is_letter(s[i])) at[n++] = i;
    if (n == 0) return;
    size_t i = at[util_rng_below(r, n)];
    char c = s[i], lc = lower(c);
    const char *nb = k_qwerty[lc - 'a'];
    char sub = nb[util_rng_below(r, strlen(nb))];
    if (is_upper(c)) sub = upper(sub);
    char to[3] = {sub, 0, 0};
    int kind = rnd_int(r, 0, 9);
    if (kind < 5) {
        splice(s, i, 1, to);
    } else if (kind < 7 && utf8_len(s) >= 4 && i > 0 && is_letter(s[i - 1])) {
        splice(s, i, 1, ""); /* not a word's first letter: people rarely miss those */
    } else if (kind < 8) {
        to[0] = c, to[1] = sub;
        splice(s, i, 1, to);
    } else if (i + 1 < len && is_letter(s[i + 1]) && lower(s[i + 1]) != lc) {
        to[0] = s[i + 1], to[1] = c;
        if (is_upper(c) != is_upper(s[i + 1]) && i == 0) { /* keep the capital first */
            to[0] = upper(s[i + 1]), to[1] = lower(c);
        }
        splice(s, i, 2, to);
    } else {
        splice(s, i, 1, to);
    }
}

/* Applies one rule chosen at random among all places any rule matches. With
 * is_nocase, matching ignores case and the replacement follows the case of
 * what it replaces. Returns 1 if something changed. */
static int apply_rule(util_rng *r, char *s, const rule *rules, size_t n_rules, int is_nocase)
{
    struct {
        uint16_t at, i_rule;
    } hit[256];
    size_t n_hit = 0, len = strlen(s);
    if (utf8_len(s) < 3) return 0;
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < n_rules && n_hit < DT_ARRAY_LEN(hit); k++) {
            const char *f = rules[k].from;
            size_t j = 0;
            while (f[j] && i + j < len && (is_nocase ? lower(s[i + j]) : s[i + j]) == f[j]) j++;
            if (f[j] == '\0') hit[n_hit].at = (uint16_t)i, hit[n_hit++].i_rule = (uint16_t)k;
        }
    }
    if (n_hit == 0) return 0;
    size_t h = util_rng_below(r, n_hit), at = hit[h].at;
    const rule *ru = &rules[hit[h].i_rule];
    char to[8];
    join2(to, ru->to, "", "");
    if (is_nocase && is_upper(s[at])) {
        int is_all_upper = 1; /* the whole word is upper case: so is the replacement */
        for (size_t i = 0; i < len; i++) is_all_upper &= !is_lower(s[i]);
        for (size_t i = 0; to[i]; i++)
            if (i == 0 || is_all_upper) to[i] = upper(to[i]);
    }
    splice(s, at, strlen(ru->from), to);
    return 1;
}

/* ---- people --------------------------------------------------------- */

typedef struct person {
    uint64_t i_person;      /* entity "p<i_person>" in truth.csv */
    int cult;               /* EN..AR */
    int is_female;
    char given[NAME_CAP];   /* canonical spelling, mixed case, accents kept */
    size_t given_split;     /* Chinese two-syllable name: byte where the second starts; else 0 */
    char middle[NAME_CAP];  /* "" = none */
    char english[NAME_CAP]; /* Chinese, Vietnamese: an English given name also used; "" = none */
    int is_junior;          /* named after a parent of the same sex (suffix "Jr" sometimes) */
    int is_middle_given;    /* middle belongs to the given name (José Luis, Văn Minh) */
    const char *sur1;       /* surname (Spanish: paternal) */
    const char *sur2;       /* Spanish maternal surname, else NULL */
    const char *married;    /* surname taken at marriage, else NULL */
    int32_t dob;            /* birth date */
    int32_t dod;            /* true date of death, NO_DATE = alive at the end of 2025 */
    uint32_t ssn;           /* true SSN (invariant 3) */
    uint32_t zip, zip_old;  /* current ZIP; earlier ZIP (== zip unless the person moved) */
    uint32_t last_zip;      /* ZIP written on the person's last row (0 = empty) */

    /* Where the person appears (plan_person). */
    int in_reg[5];          /* deaths, benefits, earners, health, voters */
    int32_t death_record;   /* date_of_death written in deaths.csv */
    int n_enroll;           /* 0, 1, or 2 (a second enrollment) */
    int32_t enroll[2];      /* ENROLLED_ON */
    int32_t paid_until[2];  /* last day a payment may be dated */
    int earn_first, earn_last; /* tax years filed; 0 = none */
    int is_pad;             /* planted payment_after_death */
    int is_contradicted;    /* planted death_contradicted: death_record is false */
    int is_exact_tin;       /* shared_identifier: earners.csv shows the SSN undamaged */

    /* Record ids written, for findings_truth.csv details. */
    char death_id[11], earner_id[11], enroll_id[2][11];
    int n_paid_after_death;
    const char *program[2]; /* PROGRAM written per enrollment */
    int32_t last_paid[2];   /* date of the last payment written; NO_DATE: none */
} person;

typedef struct gen {
    uint64_t seed;
    uint64_t n_people;
    uint64_t ssn_key, emp_key;
    culture cult[N_CULT];
    smap nicks;      /* folded formal name -> nicknames (data/nicknames.tsv) */
    smap variants;   /* Arabic spelling -> romanization variants */
    outfile out[N_OUT];
    uint64_t n_findings[4];
    uint64_t n_twins;  /* twin pairs made so far: the next one's SSN pair */
} gen;

enum { F_PAD, F_CONTRADICTED, F_DUPLICATE, F_SHARED };
static const char *const k_finding[4] = {"payment_after_death", "death_contradicted",
                                         "duplicate_enrollment", "shared_identifier"};

/* How often each planted finding occurs; chosen so each is about 0.1-0.5% of
 * the people it could concern (bench/README.md). */
#define P_PAD 0.15          /* of dead beneficiaries paid until death */
#define P_CONTRADICTED 0.003 /* of living earners filing in 2017 or later */
#define P_DUPLICATE 0.01    /* of beneficiaries */
#define P_SHARED 0.0012     /* of families: two strangers with one SSN */
#define P_TWINS 0.02        /* of families */
#define P_JUNIOR 0.015      /* of families: a parent and a child named after them */
#define P_SUFFIX 0.15       /* of a junior's rows with a full name: "Jr" written */
#define P_COUPLE 0.25       /* of families */

static int pick_culture(util_rng *r)
{
    double x = rnd01(r);
    for (int c = 0; c < N_CULT - 1; c++) {
        if (x < k_cult_share[c]) return c;
        x -= k_cult_share[c];
    }
    return N_CULT - 1;
}

/* Birth dates 1925-2006, fewer in the earliest years (fewer of them survive
 * into the registries' time). */
static int32_t draw_dob(util_rng *r, int year_lo, int year_hi)
{
    for (;;) {
        int y = rnd_int(r, year_lo, year_hi);
        double w = y >= 1945 ? 1.0 : 0.25 + 0.75 * (y - 1925) / 20.0;
        if (!chance(r, w)) continue;
        int32_t jan1 = days_from_civil(y, 1, 1);
        return jan1 + rnd_int(r, 0, days_from_civil(y + 1, 1, 1) - jan1 - 1);
    }
}

/* Chance of dying in 2010-2025 by birth year. */
static double death_chance(int birth_year)
{
    int age = 2018 - birth_year;
    return age >= 88 ? 0.51 : age >= 80 ? 0.34 : age >= 70 ? 0.19 : age >= 60 ? 0.082
         : age >= 50 ? 0.034 : age >= 40 ? 0.017 : 0.007;
}

static uint32_t draw_zip(util_rng *r)
{
    return (uint32_t)rnd_int(r, 1001, 99950);
}

/* A ZIP after a move: mostly nearby (same first three digits). */
static uint32_t moved_zip(util_rng *r, uint32_t zip)
{
    uint32_t z;
    do z = chance(r, 0.6) ? zip / 100 * 100 + (uint32_t)rnd_int(r, 0, 99) : draw_zip(r);
    while (z == zip || z < 1001);
    return z;
}

/* A Chinese given name: one syllable, or two different ones joined with the
 * second in lower case (Xiao + Ming = Xiaoming). */
static void make_chinese_given(const culture *c, util_rng *r, person *p)
{
    const char *a = list_name(&c->given, r, p->is_female);
    join2(p->given, a, "", "");
    p->given_split = 0;
    if (chance(r, 0.25)) return;
    const char *b;
    int tries = 0;
    do b = list_name(&c->given, r, p->is_female);
    while (strcmp(a, b) == 0 && ++tries < 10);
    if (strcmp(a, b) == 0) return;
    char second[NAME_CAP];
    join2(second, b, "", "");
    second[0] = lower(second[0]);
    join2(p->given, a, "", second);
    p->given_split = strlen(a);
}

/* Given and middle names by culture: English middle names from the given
 * list; Spanish compound given names (José Luis); Vietnamese tên đệm (Văn,
 * Thị); Indian Kumar/Devi or the father's name; Arabic the father's name. */
static void make_given(const gen *g, util_rng *r, person *p)
{
    const culture *c = &g->cult[p->cult];
    p->middle[0] = '\0';
    p->english[0] = '\0';
    p->is_middle_given = 0;
    p->given_split = 0;
    if ((p->cult == ZH && chance(r, 0.35)) || (p->cult == VI && chance(r, 0.15)))
        join2(p->english, list_name(&g->cult[EN].given, r, p->is_female), "", "");
    if (p->cult == ZH) {
        make_chinese_given(c, r, p);
        return;
    }
    join2(p->given, list_name(&c->given, r, p->is_female), "", "");
    const char *m = NULL;
    switch (p->cult) {
    case EN:
        if (chance(r, 0.70)) m = list_name(&c->given, r, p->is_female);
        break;
    case ES:
        if (chance(r, 0.22)) m = list_name(&c->given, r, p->is_female), p->is_middle_given = 1;
        break;
    case VI:
        if (chance(r, 0.92)) m = list_name(&c->middle, r, p->is_female), p->is_middle_given = 1;
        break;
    case IN:
        if (chance(r, 0.30))
            m = chance(r, 0.5) ? (p->is_female ? "Devi" : "Kumar") : list_name(&c->given, r, 0);
        break;
    case AR:
        if (chance(r, 0.40)) m = list_name(&c->given, r, 0);
        break;
    }
    if (m && strcmp(m, p->given) != 0) join2(p->middle, m, "", "");
    else p->is_middle_given = 0;
}

/* Whether and when p (born p->dob) dies in 2010-2025. */
static void draw_death(util_rng *r, person *p)
{
    p->dod = NO_DATE;
    if (chance(r, death_chance(year_of(p->dob)))) {
        int32_t lo = p->dob + 1 > g_death_min ? p->dob + 1 : g_death_min;
        p->dod = lo + (int32_t)util_rng_below(r, (uint64_t)(g_data_end - lo + 1));
    }
}

/* A new person with everything but family ties. */
static void make_person(const gen *g, util_rng *r, person *p, uint64_t i_person, int cult)
{
    memset(p, 0, sizeof *p);
    p->i_person = i_person;
    p->cult = cult;
    p->is_female = chance(r, 0.5);
    make_given(g, r, p);
    const culture *c = &g->cult[cult];
    p->sur1 = list_name(&c->surname, r, 0);
    if (cult == ES) {
        int tries = 0;
        do p->sur2 = list_name(&c->surname, r, 0);
        while (p->sur2 == p->sur1 && ++tries < 10);
    }
    p->dob = draw_dob(r, 1925, 2006);
    draw_death(r, p);
    p->ssn = ssn_of_person(i_person, g->ssn_key);
    p->zip = p->zip_old = draw_zip(r);
    if (chance(r, 0.25)) p->zip_old = moved_zip(r, p->zip);
    /* Women who married someone outside the population. */
    if (p->is_female && year_of(p->dob) <= 1992 && chance(r, 0.35 * k_cult_takes_name[cult])) {
        const culture *hc = chance(r, 0.85) ? c : &g->cult[EN];
        p->married = list_name(&hc->surname, r, 0);
        if (p->married == p->sur1) p->married = NULL;
    }
}

/* ---- what each person appears in ------------------------------------ */

/* Decides registries, enrollments, earnings years and planted findings.
 * Rates are tuned so the five registries hold about 2.7 rows per person. */
static void plan_person(util_rng *r, person *p, int is_forced_earner)
{
    int by = year_of(p->dob);
    int dy = p->dod == NO_DATE ? 9999 : year_of(p->dod);
    int is_dead = p->dod != NO_DATE;

    /* Earnings: some run of tax years 2015-2025 at ages 16-72, none after death. */
    int lo = by + 16 > 2015 ? by + 16 : 2015;
    int hi = by + 72 < 2025 ? by + 72 : 2025;
    if (dy < hi) hi = dy;
    if (lo <= hi && (is_forced_earner || chance(r, 0.86))) {
        p->earn_first = chance(r, 0.5) ? lo : rnd_int(r, lo, hi);
        p->earn_last = chance(r, 0.5) ? hi : rnd_int(r, p->earn_first, hi);
        p->in_reg[R_EARNERS] = 1;
    }
    assert(!is_forced_earner || p->in_reg[R_EARNERS]); /* make_family makes them able to */

    /* Benefits: older people far more often; enrolled 2015 on, at least a
     * month before death. */
    int32_t last_start = (is_dead && p->dod < g_data_end ? p->dod : g_data_end) - 31;
    double p_ben = by <= 1958 ? 0.80 : by <= 1975 ? 0.34 : 0.23;
    if (last_start > g_events_min && chance(r, p_ben)) {
        p->in_reg[R_BENEFITS] = 1;
        p->n_enroll = chance(r, P_DUPLICATE) ? 2 : 1;
        for (int e = 0; e < p->n_enroll; e++) {
            int32_t lo_day = e ? p->enroll[0] + 20 : g_events_min;
            int32_t hi_day = e ? p->enroll[0] + 400 : last_start;
            if (hi_day > last_start) hi_day = last_start;
            if (hi_day < lo_day) hi_day = lo_day;
            p->enroll[e] = lo_day + (int32_t)util_rng_below(r, (uint64_t)(hi_day - lo_day + 1));
            /* Most enrollments end within a year or two (geometric, mean 12
             * months; that keeps payments.csv near 6 rows per person); a few run on. */
            int months = 1;
            while (months < 240 && !chance(r, 1.0 / 12)) months++;
            int32_t end = chance(r, 0.06) ? g_data_end : add_months(p->enroll[e], months);
            if (end > g_data_end) end = g_data_end;
            if (is_dead && end > p->dod) end = p->dod;
            p->paid_until[e] = end;
        }
        /* Planted: payments go on 1-6 months past the true death. */
        if (is_dead && p->paid_until[0] == p->dod && p->dod < add_months(g_data_end, -1)
            && p->enroll[0] + 31 < p->dod && chance(r, P_PAD)) {
            int room = 0;
            while (room < 6 && add_months(p->dod, room + 1) <= g_data_end) room++;
            p->paid_until[0] = add_months(p->dod, rnd_int(r, 1, room));
            p->is_pad = 1;
        }
    }

    /* Deaths: most true deaths are recorded; planted ones must be. */
    if (is_dead && (p->is_pad || chance(r, 0.96))) {
        p->in_reg[R_DEATHS] = 1;
        p->death_record = p->dod;
    }
    /* Planted: a death record for a living earner who files two or more
     * years later. */
    if (!is_dead && p->earn_last >= 2017 && !is_forced_earner && chance(r, P_CONTRADICTED)) {
        int y_lo = by + 18 > 2012 ? by + 18 : 2012;
        int y_hi = p->earn_last - 2;
        if (y_lo <= y_hi) {
            int y = rnd_int(r, y_lo, y_hi);
            p->death_record = days_from_civil(y, 1, 1) + rnd_int(r, 0, 364);
            p->in_reg[R_DEATHS] = 1;
            p->is_contradicted = 1;
        }
    }

    /* Health and voter rolls keep some of the dead (both are slow to purge). */
    int is_early_dead = is_dead && dy < 2015;
    p->in_reg[R_HEALTH] = chance(r, is_early_dead ? 0.45 : 0.775);
    p->in_reg[R_VOTERS] = by <= 2004 && chance(r, is_early_dead ? 0.40 : 0.70);
}

/* ---- composing one record's name ------------------------------------ */

typedef struct rname {
    char given[NAME_CAP], middle[NAME_CAP], surname[NAME_CAP];
} rname;

/* The first code point of s, as a string. */
static void initial_of(const char *s, char *out)
{
    size_t i = 0;
    int32_t cp = utf8_next(s, &i);
    size_t n = 0;
    utf8_put(out, NAME_CAP, &n, cp);
    out[n] = '\0';
}

/* An Arabic romanization variant of s, if there is one: the table's, or a
 * particle respelled (Al-Hassan: Alhassan, Al Hassan, El-Hassan, El Hassan;
 * Abdul Rahman: Abdulrahman, Abd al-Rahman, Abdel Rahman, Abdelrahman). */
static void arabic_variant(const gen *g, util_rng *r, char *s)
{
    static const char *const k_al[] = {"Al", "Al ", "El-", "El "};
    static const char *const k_abdul[] = {"Abdul", "Abd al-", "Abdel ", "Abdel"};
    const smap_entry *e = smap_get(&g->variants, s);
    char rest[NAME_CAP];
    if (e && chance(r, 0.8)) {
        join2(s, e->vals[util_rng_below(r, e->n_vals)], "", "");
    } else if (!strncmp(s, "Al-", 3) || !strncmp(s, "El-", 3)) {
        join2(rest, s + 3, "", "");
        int k = rnd_int(r, 0, 3);
        if (k == 0) rest[0] = lower(rest[0]); /* Alhassan */
        if (s[0] == 'E' && k == 2) k = 1;     /* El- already: Al Hassan instead */
        join2(s, s[0] == 'E' && k == 0 ? "El" : k_al[k], "", rest);
    } else if (!strncmp(s, "Abu-", 4) || !strncmp(s, "Abou-", 5)) {
        join2(rest, strchr(s, '-') + 1, "", "");
        join2(s, chance(r, 0.5) ? "Abu" : "Abou", chance(r, 0.5) ? " " : "-", rest);
    } else if (!strncmp(s, "Abdul ", 6) || !strncmp(s, "Abdel ", 6) || !strncmp(s, "Abdel-", 6)) {
        join2(rest, s + 6, "", "");
        int k = rnd_int(r, 0, 3);
        if (k == 0 || k == 3) rest[0] = lower(rest[0]);
        join2(s, k_abdul[k], "", rest);
    }
}

/* The name as registry prof writes it for p: structure first (which
 * surnames, middle, order), then misspelling, then accents and case. */
static void compose_name(const gen *g, util_rng *r, const profile *pr, const person *p,
                         rname *out)
{
    int is_english = p->english[0] && chance(r, pr->english); /* Wei known as David */
    const char *given = is_english ? p->english : p->given;
    join2(out->given, given, "", "");
    join2(out->middle, p->middle, "", "");

    if (!is_english && p->given_split && chance(r, pr->cjk_split)) { /* Xiao Ming, Xiao-Ming */
        char second[NAME_CAP];
        join2(second, p->given + p->given_split, "", "");
        second[0] = upper(second[0]);
        out->given[p->given_split] = '\0';
        join2(out->given, out->given, chance(r, 0.6) ? " " : "-", second);
    }
    if (p->cult == AR) {
        if (chance(r, pr->variant)) arabic_variant(g, r, out->given);
    } else if (chance(r, pr->nickname)) {
        char key[NAME_CAP];
        fold_key(given, key);
        const smap_entry *e = smap_get(&g->nicks, key);
        if (e) {
            join2(out->given, e->vals[util_rng_below(r, e->n_vals)], "", "");
            capitalize(out->given);
        }
    }
    if (out->middle[0]) {
        if (p->is_middle_given && !is_english && chance(r, pr->merge_middle)) {
            if (p->cult == VI) join2(out->given, out->middle, " ", out->given); /* Văn Minh */
            else join2(out->given, out->given, " ", out->middle);              /* José Luis */
            out->middle[0] = '\0';
        } else {
            double x = rnd01(r);
            if (x >= pr->middle_full + pr->middle_initial) out->middle[0] = '\0';
            else if (x >= pr->middle_full) initial_of(p->middle, out->middle);
        }
    }

    /* Surname: Spanish pair, then marriage. */
    const char *maiden = p->sur1;
    char sur[NAME_CAP];
    join2(sur, p->sur1, "", "");
    if (p->sur2) {
        double x = rnd01(r);
        if (x < pr->es_both) join2(sur, p->sur1, " ", p->sur2);
        else if (x < pr->es_both + pr->es_hyphen) join2(sur, p->sur1, "-", p->sur2);
    }
    if (p->married) {
        double x = rnd01(r);
        if (x < pr->wed_married) join2(sur, p->married, "", "");
        else if (x < pr->wed_married + pr->wed_hyphen) join2(sur, maiden, "-", p->married);
    }
    join2(out->surname, sur, "", "");
    if (p->cult == AR && chance(r, pr->variant / 2)) arabic_variant(g, r, out->surname);

    if (chance(r, pr->initial)) initial_of(out->given, out->given);

    char *parts[2] = {out->given, out->surname};
    for (int i = 0; i < 2; i++) {
        if (chance(r, pr->typo)) typo_keyboard(r, parts[i]);
        if (chance(r, pr->phonetic))
            apply_rule(r, parts[i], k_phonetic, DT_ARRAY_LEN(k_phonetic), 1);
    }
    int is_fold = chance(r, pr->fold);
    for (int i = 0; i < 3; i++) {
        char *s = i == 0 ? out->given : i == 1 ? out->middle : out->surname;
        text_transform(s, is_fold, pr->is_upper);
    }
    for (int i = 0; i < 2; i++) {
        if (!chance(r, pr->ocr)) continue;
        if (pr->is_upper) apply_rule(r, parts[i], k_ocr_upper, DT_ARRAY_LEN(k_ocr_upper), 0);
        else apply_rule(r, parts[i], k_ocr_lower, DT_ARRAY_LEN(k_ocr_lower), 0);
    }
    if (chance(r, pr->swap)) {
        char tmp[NAME_CAP];
        memcpy(tmp, out->given, NAME_CAP);
        memcpy(out->given, out->surname, NAME_CAP);
        memcpy(out->surname, tmp, NAME_CAP);
    }
}

/* Birth date as written: day/month exchanged, year off by one, a day digit
 * mistyped. Returns 0 when left empty. */
static int damage_dob(util_rng *r, const profile *pr, int32_t dob, ymd *out)
{
    if (chance(r, pr->dob_missing)) return 0;
    ymd t = civil_from_days(dob);
    if (chance(r, pr->dob_swap) && t.d <= 12 && t.d != t.m) {
        int tmp = t.d;
        t.d = t.m;
        t.m = tmp;
    }
    if (chance(r, pr->dob_year)) t.y += chance(r, 0.5) ? 1 : -1;
    if (chance(r, pr->dob_digit)) {
        int d = t.d / 10 * 10 + rnd_int(r, 0, 9);
        if (d != t.d && d >= 1) t.d = d;
    }
    if (t.d > days_in_month(t.y, t.m)) t.d = days_in_month(t.y, t.m);
    *out = t;
    return 1;
}

/* The SSN as written: a mistyped digit or two adjacent digits exchanged,
 * only where the result stays a never-issued number (invariant 3). Returns
 * 0 when left empty. */
static int damage_ssn(util_rng *r, const profile *pr, uint32_t ssn, uint32_t *out)
{
    if (chance(r, pr->id_missing)) return 0;
    *out = ssn;
    int kind = chance(r, pr->id_digit) ? 1 : chance(r, pr->id_transpose) ? 2 : 0;
    for (int tries = 0; kind && tries < 20; tries++) {
        char d[10];
        snprintf(d, sizeof d, "%09u", ssn);
        int i = rnd_int(r, 0, kind == 1 ? 8 : 7);
        if (kind == 1) {
            d[i] = (char)('0' + (d[i] - '0' + rnd_int(r, 1, 9)) % 10);
        } else {
            if (d[i] == d[i + 1]) continue;
            char c = d[i];
            d[i] = d[i + 1];
            d[i + 1] = c;
        }
        uint32_t v = (uint32_t)strtoul(d, NULL, 10);
        if (ssn_is_valid(v)) {
            *out = v;
            break;
        }
    }
    return 1;
}

/* The ZIP as written; 0 when left empty. */
static uint32_t damage_zip(util_rng *r, const profile *pr, const person *p)
{
    if (chance(r, pr->zip_missing)) return 0;
    return p->zip_old != p->zip && chance(r, pr->zip_stale) ? p->zip_old : p->zip;
}

/* The ZIP of a registry row, remembered in p->last_zip: a second copy
 * (is_dup) of someone who moved carries the other ZIP than the first copy
 * (they registered again from the other address). */
static uint32_t row_zip(util_rng *r, const profile *pr, person *p, int is_dup)
{
    if (is_dup && p->zip_old != p->zip)
        p->last_zip = p->last_zip == p->zip ? p->zip_old : p->zip;
    else
        p->last_zip = damage_zip(r, pr, p);
    return p->last_zip;
}

/* The suffix a junior's row ends with ("" mostly): full-name layouts only. */
static const char *junior_suffix(util_rng *r, const profile *pr, const person *p)
{
    if (!p->is_junior || p->is_female || !chance(r, P_SUFFIX)) return "";
    return pr->is_upper ? " JR" : " Jr";
}

/* ---- writing rows --------------------------------------------------- */

static void put_zip(line *l, uint32_t zip)
{
    if (zip) put_uint(l, zip, 5);
}

static void put_ssn(line *l, uint32_t ssn, int is_dashed)
{
    char d[10];
    snprintf(d, sizeof d, "%09u", ssn);
    if (!is_dashed) {
        put_mem(l, d, 9);
        return;
    }
    put_mem(l, d, 3);
    put_ch(l, '-');
    put_mem(l, d + 3, 2);
    put_ch(l, '-');
    put_mem(l, d + 5, 4);
}

static void write_truth(gen *g, int reg, const char *id, const person *p)
{
    line l;
    l.n = 0;
    put_str(&l, k_source[reg]);
    put_ch(&l, ',');
    put_str(&l, id);
    put_str(&l, ",p");
    put_uint(&l, p->i_person, 1);
    put_ch(&l, ',');
    put_str(&l, k_cult_name[p->cult]);
    line_write(&g->out[O_TRUTH], &l);
}

static void write_finding(gen *g, int kind, const person *p, const char *detail)
{
    line l;
    l.n = 0;
    put_str(&l, k_finding[kind]);
    put_str(&l, ",p");
    put_uint(&l, p->i_person, 1);
    put_ch(&l, ',');
    put_csv(&l, detail);
    line_write(&g->out[O_FINDINGS], &l);
    g->n_findings[kind]++;
}

/* Name parts joined by single spaces, empty parts skipped, then suffix. */
static void put_joined(line *l, const char *a, const char *b, const char *c, const char *suffix)
{
    char tmp[3 * NAME_CAP + 8];
    size_t n = 0;
    const char *parts[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        if (!parts[i][0]) continue;
        n += (size_t)snprintf(tmp + n, sizeof tmp - n, "%s%s", n ? " " : "", parts[i]);
    }
    snprintf(tmp + n, sizeof tmp - n, "%s", suffix);
    put_csv(l, tmp);
}

/* Starts a registry row: its next id (written to id) and the comma. */
static void start_row(gen *g, int out, char prefix, char *id, line *l)
{
    l->n = 0;
    next_id(&g->out[out], prefix, id);
    put_str(l, id);
    put_ch(l, ',');
}

/* A death row of p written as pr says; the first one's id is p->death_id. */
static void write_death(gen *g, util_rng *r, person *p, const profile *pr, int is_dup)
{
    rname nm;
    compose_name(g, r, pr, p, &nm);
    line l;
    char dup_id[11];
    char *id = is_dup ? dup_id : p->death_id;
    start_row(g, O_DEATHS, 'D', id, &l);
    char dec[3 * NAME_CAP + 8]; /* LAST, FIRST MIDDLE [JR] */
    snprintf(dec, sizeof dec, "%s, %s%s%s%s", nm.surname, nm.given, nm.middle[0] ? " " : "",
             nm.middle, junior_suffix(r, pr, p));
    put_csv(&l, dec);
    put_ch(&l, ',');
    ymd t;
    if (damage_dob(r, pr, p->dob, &t)) put_date(&l, t, DF_COMPACT);
    put_ch(&l, ',');
    uint32_t ssn;
    if (damage_ssn(r, pr, p->ssn, &ssn)) put_ssn(&l, ssn, 0);
    put_ch(&l, ',');
    put_day(&l, p->death_record, DF_ISO);
    put_ch(&l, ',');
    put_zip(&l, row_zip(r, pr, p, is_dup));
    line_write(&g->out[O_DEATHS], &l);
    write_truth(g, R_DEATHS, id, p);
}

static const char *program_of(util_rng *r, const person *p, int32_t enrolled)
{
    int age = year_of(enrolled) - year_of(p->dob);
    double x = rnd01(r);
    if (age >= 62) return x < 0.85 ? "RETIREMENT" : "SURVIVOR";
    return x < 0.55 ? "DISABILITY" : x < 0.90 ? "SSI" : "SURVIVOR";
}

/* Monthly payments on the 3rd, from the month after enrollment while the
 * date is not after paid_until; a cost-of-living raise each January. */
static void write_payments(gen *g, util_rng *r, person *p, int e)
{
    uint64_t cents = (uint64_t)rnd_int(r, 60000, 280000);
    ymd t = civil_from_days(p->enroll[e]);
    int32_t day = days_from_civil(t.y, t.m, 3);
    p->last_paid[e] = NO_DATE;
    for (day = add_months(day, 1); day <= p->paid_until[e]; day = add_months(day, 1)) {
        p->last_paid[e] = day;
        ymd pt = civil_from_days(day);
        if (pt.m == 1) cents = cents * 1025 / 1000;
        line l;
        l.n = 0;
        char id[11];
        next_id(&g->out[O_PAYMENTS], 'P', id);
        put_str(&l, id);
        put_ch(&l, ',');
        put_str(&l, p->enroll_id[e]);
        put_ch(&l, ',');
        put_date(&l, pt, DF_ISO);
        put_ch(&l, ',');
        put_cents(&l, cents);
        line_write(&g->out[O_PAYMENTS], &l);
        if (p->dod != NO_DATE && day > p->dod) p->n_paid_after_death++;
    }
}

static void write_benefits(gen *g, util_rng *r, person *p)
{
    const char *program = NULL;
    for (int e = 0; e < p->n_enroll; e++) {
        const profile *pr = &k_prof[e ? R_DUPLICATE : R_BENEFITS];
        rname nm;
        compose_name(g, r, pr, p, &nm);
        line l;
        start_row(g, O_BENEFITS, 'B', p->enroll_id[e], &l);
        put_csv(&l, nm.given);
        put_ch(&l, ',');
        put_csv(&l, nm.middle);
        put_ch(&l, ',');
        put_csv(&l, nm.surname);
        put_ch(&l, ',');
        ymd t;
        if (damage_dob(r, pr, p->dob, &t)) put_date(&l, t, DF_MDY);
        put_ch(&l, ',');
        uint32_t ssn;
        if (damage_ssn(r, pr, p->ssn, &ssn)) put_ssn(&l, ssn, 1);
        put_ch(&l, ',');
        uint32_t zip = damage_zip(r, pr, p);
        put_zip(&l, zip);
        if (zip && chance(r, 0.4)) { /* ZIP+4 */
            put_ch(&l, '-');
            put_uint(&l, (uint64_t)rnd_int(r, 1, 9999), 4);
        }
        put_ch(&l, ',');
        if (!program || !chance(r, 0.7)) program = program_of(r, p, p->enroll[e]);
        p->program[e] = program;
        put_str(&l, program);
        put_ch(&l, ',');
        put_day(&l, p->enroll[e], DF_ISO);
        line_write(&g->out[O_BENEFITS], &l);
        write_truth(g, R_BENEFITS, p->enroll_id[e], p);
        write_payments(g, r, p, e);
    }
}

/* Employer names: a keyed hash of the employer number picks the words, so
 * one employer keeps its name across filings and people. */
static void employer_name(const gen *g, uint32_t emp, char *out, size_t cap)
{
    static const char *const k_a[] = {
        "Blue River", "Summit", "Pioneer", "Harbor", "Granite", "Evergreen", "Lakeside",
        "Northstar", "Redwood", "Silver Creek", "Cedar", "Prairie", "Keystone", "Horizon",
        "Atlas", "Beacon", "Crescent", "Frontier", "Heritage", "Liberty", "Maple", "Meridian",
        "Oakridge", "Pacific", "Riverside", "Sterling", "Sunrise", "Tri-County", "Valley",
        "Westfield", "Bayview", "Canyon", "Coastal", "Eastgate", "Highland", "Ironwood",
        "Juniper", "Magnolia", "Midland", "Old Mill", "Red Rock", "Three Oaks", "Union",
    };
    static const char *const k_b[] = {
        "Logistics", "Foods", "Health", "Manufacturing", "Consulting", "Services",
        "Construction", "Dental", "Auto Parts", "Software", "Insurance", "Realty", "Hardware",
        "Bakery", "Trucking", "Plumbing", "Electric", "Landscaping", "Staffing", "Clinic",
        "Markets", "Textiles", "Printing", "Security", "Cleaning", "Hospitality", "Analytics",
        "Pharmacy", "Builders", "Farms", "Restaurants", "Home Care", "Machining", "Credit Union",
    };
    static const char *const k_c[] = {"Inc", "LLC", "Co", "Corp", "Group", "Ltd"};
    uint64_t h = util_mix64(emp ^ g->emp_key);
    const name_list *sn = &g->cult[EN].surname;
    switch (h % 8) {
    case 0:
        snprintf(out, cap, "%s & Sons", sn->names[(h >> 8) % sn->n_names]);
        break;
    case 1:
        snprintf(out, cap, "%s School District", k_a[(h >> 8) % DT_ARRAY_LEN(k_a)]);
        break;
    default:
        snprintf(out, cap, "%s %s %s", k_a[(h >> 8) % DT_ARRAY_LEN(k_a)],
                 k_b[(h >> 20) % DT_ARRAY_LEN(k_b)], k_c[(h >> 32) % DT_ARRAY_LEN(k_c)]);
    }
}

/* An employer number: a few large employers, many small ones. */
static uint32_t draw_employer(util_rng *r)
{
    double u = rnd01(r);
    return (uint32_t)(200000.0 * u * u * u);
}

static void put_filing(gen *g, const char *earner_id, int year, uint32_t emp, uint64_t cents)
{
    char name[160];
    employer_name(g, emp, name, sizeof name);
    line l;
    l.n = 0;
    char id[11];
    next_id(&g->out[O_EARNINGS], 'F', id);
    put_str(&l, id);
    put_ch(&l, ',');
    put_str(&l, earner_id);
    put_ch(&l, ',');
    put_uint(&l, (uint64_t)year, 4);
    put_ch(&l, ',');
    put_csv(&l, name);
    put_ch(&l, ',');
    put_cents(&l, cents);
    line_write(&g->out[O_EARNINGS], &l);
}

/* An earners row of p written as pr says, and, for the first one (whose id
 * is p->earner_id), its filings. */
static void write_earner(gen *g, util_rng *r, person *p, const profile *pr, int is_dup)
{
    rname nm;
    compose_name(g, r, pr, p, &nm);
    line l;
    char dup_id[11];
    char *id = is_dup ? dup_id : p->earner_id;
    start_row(g, O_EARNERS, 'E', id, &l);
    put_joined(&l, nm.given, nm.middle, nm.surname, junior_suffix(r, pr, p));
    put_ch(&l, ',');
    ymd t;
    if (damage_dob(r, pr, p->dob, &t)) put_date(&l, t, DF_ISO);
    put_ch(&l, ',');
    uint32_t ssn = p->ssn;
    if ((p->is_exact_tin && !is_dup) || damage_ssn(r, pr, p->ssn, &ssn)) put_ssn(&l, ssn, 0);
    put_ch(&l, ',');
    put_zip(&l, row_zip(r, pr, p, is_dup));
    line_write(&g->out[O_EARNERS], &l);
    write_truth(g, R_EARNERS, id, p);
    if (is_dup) return;

    /* Yearly filings; a job change year has two. Integer cents throughout
     * (no libm), so the bytes do not depend on the platform's math library. */
    double u = rnd01(r);
    uint64_t base = 1800000 + (uint64_t)(14200000.0 * u * u); /* $18k-160k, mostly low */
    uint32_t emp = draw_employer(r);
    int by = year_of(p->dob);
    for (int y = p->earn_first; y <= p->earn_last; y++, base = base * 103 / 100) {
        uint64_t wage = base * (uint64_t)rnd_int(r, 950, 1050) / 1000;
        if (y - by < 22) wage = wage * 45 / 100;
        if (y > p->earn_first && chance(r, 0.15)) {
            uint32_t next = draw_employer(r);
            uint64_t part = wage * (uint64_t)rnd_int(r, 20, 80) / 100;
            put_filing(g, p->earner_id, y, emp, part);
            emp = next;
            wage -= part;
        }
        put_filing(g, p->earner_id, y, emp, wage);
    }
}

static void put_sex(line *l, util_rng *r, const profile *pr, const person *p)
{
    if (!chance(r, pr->sex_missing)) put_ch(l, p->is_female ? 'F' : 'M');
}

static void write_health(gen *g, util_rng *r, person *p, const profile *pr, int is_dup)
{
    rname nm;
    compose_name(g, r, pr, p, &nm);
    line l;
    char id[11];
    start_row(g, O_HEALTH, 'H', id, &l);
    put_csv(&l, nm.given);
    put_ch(&l, ',');
    put_csv(&l, nm.surname);
    put_ch(&l, ',');
    ymd t;
    if (damage_dob(r, pr, p->dob, &t)) put_date(&l, t, DF_DMY);
    put_ch(&l, ',');
    uint32_t ssn;
    if (damage_ssn(r, pr, p->ssn, &ssn)) put_uint(&l, ssn % 10000, 4);
    put_ch(&l, ',');
    put_zip(&l, row_zip(r, pr, p, is_dup));
    put_ch(&l, ',');
    put_sex(&l, r, pr, p);
    line_write(&g->out[O_HEALTH], &l);
    write_truth(g, R_HEALTH, id, p);
}

static void write_voter(gen *g, util_rng *r, person *p, const profile *pr, int is_dup)
{
    rname nm;
    compose_name(g, r, pr, p, &nm);
    if (utf8_len(nm.middle) == 1 && chance(r, 0.5)) join2(nm.middle, nm.middle, "", ".");
    line l;
    char id[11];
    start_row(g, O_VOTERS, 'V', id, &l);
    put_joined(&l, nm.given, nm.middle, nm.surname, junior_suffix(r, pr, p));
    put_ch(&l, ',');
    ymd t;
    int has_date = damage_dob(r, pr, p->dob, &t);
    if (!has_date) { /* year only: damaged independently, as the date would be */
        profile year_only = *pr;
        year_only.dob_missing = 0;
        damage_dob(r, &year_only, p->dob, &t);
    }
    put_uint(&l, (uint64_t)t.y, 4);
    put_ch(&l, ',');
    if (has_date) put_date(&l, t, DF_ISO);
    put_ch(&l, ',');
    put_zip(&l, row_zip(r, pr, p, is_dup));
    put_ch(&l, ',');
    put_sex(&l, r, pr, p);
    line_write(&g->out[O_VOTERS], &l);
    write_truth(g, R_VOTERS, id, p);
}

typedef void write_fn(gen *g, util_rng *r, person *p, const profile *pr, int is_dup);

/* A second enrollment is a duplicate_enrollment finding only when it is in
 * the same program while the first is still paid: each enrollment runs
 * from ENROLLED_ON to its last payment (or that day, unpaid), and the two
 * overlap. Re-enrolling after the first ended, or a second program at the
 * same time, is allowed. */
static int is_duplicate_enrollment(const person *p)
{
    if (p->n_enroll != 2 || strcmp(p->program[0], p->program[1]) != 0) return 0;
    int32_t end0 = p->last_paid[0] == NO_DATE ? p->enroll[0] : p->last_paid[0];
    int32_t end1 = p->last_paid[1] == NO_DATE ? p->enroll[1] : p->last_paid[1];
    return p->enroll[1] <= end0 && p->enroll[0] <= end1;
}

/* All of one person's rows (each, at k_dup_rate, twice), then the findings
 * planted on them. */
static void write_person(gen *g, util_rng *r, person *p)
{
    static write_fn *const k_write[5] = {write_death, NULL, write_earner, write_health,
                                         write_voter};
    for (int reg = 0; reg < 5; reg++) {
        if (!p->in_reg[reg]) continue;
        if (reg == R_BENEFITS) {
            write_benefits(g, r, p);
            continue;
        }
        k_write[reg](g, r, p, &k_prof[reg], 0);
        if (chance(r, k_dup_rate[reg])) {
            profile dup = dup_profile(reg);
            k_write[reg](g, r, p, &dup, 1);
        }
    }

    char detail[256];
    if (p->is_pad) {
        assert(p->n_paid_after_death > 0);
        snprintf(detail, sizeof detail, "death_id=%s;enrollment_id=%s;date_of_death=",
                 p->death_id, p->enroll_id[0]);
        size_t n = strlen(detail);
        ymd t = civil_from_days(p->dod);
        snprintf(detail + n, sizeof detail - n, "%04d-%02d-%02d;payments_after=%d", t.y, t.m,
                 t.d, p->n_paid_after_death);
        write_finding(g, F_PAD, p, detail);
    }
    if (p->is_contradicted) {
        ymd t = civil_from_days(p->death_record);
        snprintf(detail, sizeof detail,
                 "death_id=%s;date_of_death=%04d-%02d-%02d;earner_id=%s;last_tax_year=%d",
                 p->death_id, t.y, t.m, t.d, p->earner_id, p->earn_last);
        write_finding(g, F_CONTRADICTED, p, detail);
    }
    if (is_duplicate_enrollment(p)) {
        snprintf(detail, sizeof detail, "enrollment_ids=%s;%s", p->enroll_id[0],
                 p->enroll_id[1]);
        write_finding(g, F_DUPLICATE, p, detail);
    }
}

/* ---- families ------------------------------------------------------- */

enum { REL_TWIN, REL_COUPLE, REL_PARENT_CHILD, REL_SHARED_SSN };
static const char *const k_relation[4] = {"twin", "couple", "parent_child", "shared_ssn"};

static int has_rows(const person *p)
{
    return p->in_reg[0] || p->in_reg[1] || p->in_reg[2] || p->in_reg[3] || p->in_reg[4];
}

/* A relations.csv row for a and b, when both are in some registry (a pair
 * with no records can be neither merged nor kept apart). */
static void write_relation(gen *g, int kind, const person *a, const person *b)
{
    if (!has_rows(a) || !has_rows(b)) return;
    line l;
    l.n = 0;
    put_str(&l, k_relation[kind]);
    put_str(&l, ",p");
    put_uint(&l, a->i_person, 1);
    put_str(&l, ",p");
    put_uint(&l, b->i_person, 1);
    line_write(&g->out[O_RELATIONS], &l);
    g->out[O_RELATIONS].n_rows++;
}

/* Makes b, person number i_b, the child of a named after a: same sex, given
 * name (middle name 70% of the time), surname and ZIP, born 18-45 years
 * after a (a is born again in 1925-1988 to leave room), own SSN. */
static void make_junior(const gen *g, util_rng *r, person *a, person *b, uint64_t i_b)
{
    if (a->is_female && chance(r, 0.8)) { /* mostly sons: "Jr" is a men's custom */
        a->is_female = 0;
        a->married = NULL;
        make_given(g, r, a);
    }
    a->dob = draw_dob(r, 1925, 1988);
    draw_death(r, a);
    make_person(g, r, b, i_b, a->cult);
    b->is_female = a->is_female;
    make_given(g, r, b); /* a middle name of b's sex, kept 30% of the time */
    join2(b->given, a->given, "", "");
    join2(b->english, a->english, "", "");
    b->given_split = a->given_split;
    if (chance(r, 0.7)) {
        join2(b->middle, a->middle, "", "");
        b->is_middle_given = a->is_middle_given;
    } else if (!strcmp(b->middle, b->given)) {
        b->middle[0] = '\0';
        b->is_middle_given = 0;
    }
    b->sur1 = a->is_female && a->married ? a->married : a->sur1;
    b->married = NULL;
    int ay = year_of(a->dob), hi = ay + 45 < 2006 ? ay + 45 : 2006;
    int by = rnd_int(r, ay + 18, hi);
    int32_t jan1 = days_from_civil(by, 1, 1);
    b->dob = jan1 + rnd_int(r, 0, days_from_civil(by + 1, 1, 1) - jan1 - 1);
    draw_death(r, b);
    b->zip = a->zip;
    b->zip_old = a->zip_old;
    b->is_junior = 1;
}

/* Makes family i_family starting at person number i_person, with at most
 * room people, and writes it. Returns the number of people made. */
static int make_family(gen *g, uint64_t i_family, uint64_t i_person, uint64_t room)
{
    uint64_t key[2] = {g->seed, i_family};
    util_rng r;
    util_rng_seed(&r, util_hash64(key, sizeof key, 0x66616d696c79ull));
    person a, b;
    double x = rnd01(&r);
    enum { SINGLE, COUPLE, TWINS, SHARED, JUNIOR } kind = SINGLE;
    if (x < P_SHARED) kind = SHARED;
    else if (x < P_SHARED + P_TWINS) kind = TWINS;
    else if (x < P_SHARED + P_TWINS + P_JUNIOR) kind = JUNIOR;
    else if (x < P_SHARED + P_TWINS + P_JUNIOR + P_COUPLE) kind = COUPLE;
    if (room < 2) kind = SINGLE; /* the last family of the run */

    /* Naming a child after the parent is an English and Spanish custom here. */
    int cult = kind == JUNIOR ? (chance(&r, 0.75) ? EN : ES) : pick_culture(&r);
    make_person(g, &r, &a, i_person, cult);
    if (kind == SINGLE) {
        plan_person(&r, &a, 0);
        write_person(g, &r, &a);
        return 1;
    }
    if (kind == SHARED) { /* strangers sharing one SSN: both file earnings under it */
        make_person(g, &r, &b, i_person + 1, pick_culture(&r));
        person *both[2] = {&a, &b};
        for (int i = 0; i < 2; i++) { /* alive and of working age, so both file */
            both[i]->dob = draw_dob(&r, 1950, 1998);
            both[i]->dod = NO_DATE;
        }
        b.ssn = a.ssn;
        a.is_exact_tin = b.is_exact_tin = 1;
        plan_person(&r, &a, 1);
        plan_person(&r, &b, 1);
        write_person(g, &r, &a);
        write_person(g, &r, &b);
        char detail[128];
        snprintf(detail, sizeof detail, "ssn=%09u;with=p%" PRIu64 ";earner_id=%s", a.ssn,
                 b.i_person, a.earner_id);
        write_finding(g, F_SHARED, &a, detail);
        snprintf(detail, sizeof detail, "ssn=%09u;with=p%" PRIu64 ";earner_id=%s", b.ssn,
                 a.i_person, b.earner_id);
        write_finding(g, F_SHARED, &b, detail);
        write_relation(g, REL_SHARED_SSN, &a, &b);
        return 2;
    }
    int relation = kind == TWINS ? REL_TWIN : kind == JUNIOR ? REL_PARENT_CHILD : REL_COUPLE;
    if (kind == JUNIOR) {
        make_junior(g, &r, &a, &b, i_person + 1);
    } else if (kind == TWINS) { /* twins: same surname(s), birth date and address */
        b = a;
        b.i_person = i_person + 1;
        b.is_female = chance(&r, 0.5);
        int tries = 0;
        do make_given(g, &r, &b);
        while (strcmp(a.given, b.given) == 0 && ++tries < 20);
        uint32_t ssns[2]; /* consecutive serials, either twin the lower */
        ssn_of_twins(g->n_twins++, g->ssn_key, ssns);
        int is_a_lower = chance(&r, 0.5);
        a.ssn = ssns[!is_a_lower];
        b.ssn = ssns[is_a_lower];
        b.married = NULL;
        draw_death(&r, &b);
    } else { /* a couple at one address, born within a few years of each other */
        while (year_of(a.dob) > 2000) a.dob = draw_dob(&r, 1925, 2000);
        if (a.dod != NO_DATE && a.dod <= a.dob) a.dod = NO_DATE;
        int b_cult = chance(&r, 0.9) ? a.cult : pick_culture(&r);
        make_person(g, &r, &b, i_person + 1, b_cult);
        if (chance(&r, 0.96)) {
            b.is_female = !a.is_female;
            make_given(g, &r, &b);
        }
        int by = year_of(a.dob) + rnd_int(&r, -8, 8);
        by = by > 2000 ? 2000 : by < 1925 ? 1925 : by;
        ymd t = civil_from_days(b.dob);
        int dim = days_in_month(by, t.m); /* 29 February may not exist in year by */
        b.dob = days_from_civil(by, t.m, t.d < dim ? t.d : dim);
        if (b.dod != NO_DATE && b.dod <= b.dob) b.dod = NO_DATE;
        b.zip = a.zip;
        b.zip_old = a.zip_old;
        person *wife = a.is_female && !b.is_female ? &a : b.is_female && !a.is_female ? &b : NULL;
        person *husband = wife == &a ? &b : &a;
        if (wife) {
            wife->married = NULL;
            if (chance(&r, k_cult_takes_name[wife->cult]) && husband->sur1 != wife->sur1)
                wife->married = husband->sur1;
        }
    }
    plan_person(&r, &a, 0);
    plan_person(&r, &b, 0);
    write_person(g, &r, &a);
    write_person(g, &r, &b);
    write_relation(g, relation, &a, &b);
    return 2;
}

/* ---- files, options, main ------------------------------------------- */

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The data directory: --data, else ../../data beside this executable
 * (build/release/bench-gen in the source tree), else ./data. */
static char *find_data_dir(const char *opt)
{
    if (opt) return xstrdup(opt);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char *dir = dt_asprintf("%s/../../data", exe);
            char *probe = dt_asprintf("%s/names/english_given.tsv", dir ? dir : "");
            int ok = dir && probe && is_file(probe);
            dt_free(probe);
            if (ok) return dir;
            dt_free(dir);
        }
    }
    return xstrdup("data");
}

static void load_data(gen *g, const char *dir)
{
    for (int c = 0; c < N_CULT; c++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/names/%s_given.tsv", dir, k_cult_name[c]);
        list_load(&g->cult[c].given, path, 1);
        snprintf(path, sizeof path, "%s/names/%s_surname.tsv", dir, k_cult_name[c]);
        list_load(&g->cult[c].surname, path, 0);
        if (c == VI) {
            snprintf(path, sizeof path, "%s/names/vietnamese_middle.tsv", dir);
            list_load(&g->cult[c].middle, path, 1);
        }
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/nicknames.tsv", dir);
    smap_load(&g->nicks, path, 1);
    snprintf(path, sizeof path, "%s/names/arabic_variants.tsv", dir);
    smap_load(&g->variants, path, 0);
}

static void open_outputs(gen *g, const char *dir)
{
    for (int i = 0; i < N_OUT; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, k_out[i].file);
        outfile *o = &g->out[i];
        o->f = fopen(path, "wb");
        if (!o->f) die(1, "%s: cannot create: %s", path, strerror(errno));
        o->buf = xmalloc(1 << 20);
        setvbuf(o->f, o->buf, _IOFBF, 1 << 20);
        uint64_t key[2] = {g->seed, (uint64_t)i};
        o->id_key = util_hash64(key, sizeof key, 0x6964ull);
        fprintf(o->f, "%s\n", k_out[i].header);
    }
}

static void close_outputs(gen *g, const char *dir)
{
    for (int i = 0; i < N_OUT; i++) {
        outfile *o = &g->out[i];
        int bad = ferror(o->f);
        if (fclose(o->f) != 0) bad = 1;
        if (bad) die(1, "%s/%s: write failed: %s", dir, k_out[i].file, strerror(errno));
        dt_free(o->buf);
    }
}

static void write_manifest(const gen *g, const char *dir)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"seed\":%" PRIu64 ",\"people\":%" PRIu64 ",\"rows\":{\"deaths\":%" PRIu64
             ",\"benefits\":%" PRIu64 ",\"earners\":%" PRIu64 ",\"health\":%" PRIu64
             ",\"voters\":%" PRIu64 ",\"payments\":%" PRIu64 ",\"earnings\":%" PRIu64
             ",\"relations\":%" PRIu64 "},\"generator_version\":\"" GEN_VERSION "\"}\n",
             g->seed, g->n_people, g->out[O_DEATHS].n_rows, g->out[O_BENEFITS].n_rows,
             g->out[O_EARNERS].n_rows, g->out[O_HEALTH].n_rows, g->out[O_VOTERS].n_rows,
             g->out[O_PAYMENTS].n_rows, g->out[O_EARNINGS].n_rows, g->out[O_RELATIONS].n_rows);
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        die(1, "%s: cannot write: %s", path, strerror(errno));
    fputs(text, stdout);
}

static void usage(FILE *f)
{
    fputs("usage: bench-gen --seed S --people N --out DIR [--data DIR]\n"
          "\n"
          "Writes synthetic registries of N people into DIR (created if missing):\n"
          "deaths, benefits, earners, health and voters CSVs, payments and earnings,\n"
          "truth.csv, findings_truth.csv and manifest.json (also printed). The same\n"
          "seed and N give the same bytes. See bench/README.md.\n"
          "\n"
          "  --seed S     any unsigned 64-bit number\n"
          "  --people N   1 to 40000000\n"
          "  --out DIR    output directory\n"
          "  --data DIR   folder holding names/ and nicknames.tsv (default: the\n"
          "               source tree's data/ beside this program, else ./data)\n",
          f);
}

static uint64_t parse_number(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = s && *s && *s != '-' ? strtoull(s, &end, 10) : 0;
    if (!s || !*s || *s == '-' || !end || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "bench-gen: %s wants a number from %" PRIu64 " to %" PRIu64 ", got '%s'\n",
                opt, lo, hi, s ? s : "");
        usage(stderr);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    static gen g; /* large (name tables aside, mostly output state); not on the stack */
    const char *out_dir = NULL, *data_opt = NULL;
    int has_seed = 0, has_people = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        int takes_value = !strcmp(a, "--seed") || !strcmp(a, "--people") || !strcmp(a, "--out")
                       || !strcmp(a, "--data");
        if (!takes_value) {
            fprintf(stderr, "bench-gen: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench-gen: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--seed")) g.seed = parse_number(a, v, 0, UINT64_MAX), has_seed = 1;
        else if (!strcmp(a, "--people"))
            g.n_people = parse_number(a, v, 1, MAX_PEOPLE), has_people = 1;
        else if (!strcmp(a, "--out")) out_dir = v;
        else data_opt = v;
    }
    if (!has_seed || !has_people || !out_dir || !*out_dir) {
        fprintf(stderr, "bench-gen: %s is required\n",
                !has_seed ? "--seed" : !has_people ? "--people" : "--out");
        usage(stderr);
        return 2;
    }

    dates_init();
    fold_init();
    char *data_dir = find_data_dir(data_opt);
    load_data(&g, data_dir);
    dt_free(data_dir);
    g.ssn_key = util_mix64(g.seed ^ 0x73736e73736e7373ull);
    g.emp_key = util_mix64(g.seed ^ 0x656d706c6f796572ull);

    dt_error err = {0};
    if (util_mkdir(out_dir, &err) < 0) die(1, "%s", err.msg);
    open_outputs(&g, out_dir);

    int is_tty = isatty(2);
    uint64_t made = 0, next_report = 1000000;
    for (uint64_t f = 0; made < g.n_people; f++) {
        made += (uint64_t)make_family(&g, f, made, g.n_people - made);
        if (is_tty && made >= next_report) {
            fprintf(stderr, "bench-gen: %" PRIu64 " / %" PRIu64 " people\n", made, g.n_people);
            next_report += 1000000;
        }
    }
    close_outputs(&g, out_dir);
    write_manifest(&g, out_dir);
    return 0;
}
