/* Unit tests for src/compare/levels.c (with the record table of table.c
 * underneath): every level kind on hand-made normalized values — exact,
 * nickname, Jaro–Winkler thresholds, (Damerau–)Levenshtein, initial,
 * token_overlap with `with` fields, swapped (exact and with a nickname,
 * an initial or a typo on a side), Soundex, numbers and the date
 * levels including partial dates — plus the codes around them: null is 0,
 * no level is n_levels + 1, and the first level that holds wins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "compare/compare.h"

enum { F_GIVEN, F_MIDDLE, F_SURNAME, F_DOB, F_ZIP, N_FIELDS };

static const char CONFIG[] =
    "fields:\n"
    "  given: given_name\n"
    "  middle: middle_name\n"
    "  surname: surname\n"
    "  dob: date\n"
    "  zip: text\n"
    "sources:\n"
    "  - name: a\n"
    "    path: a.csv\n"
    "    id: id\n"
    "    columns: {given: g, middle: m, surname: s, dob: d, zip: z}\n"
    "blocking:\n"
    "  rules: [[surname]]\n"
    "comparisons:\n"
    "  - {name: given_all, field: given,\n"
    "     levels: [exact, nickname, {jaro_winkler: 0.92}, {jaro_winkler: 0.8}, initial]}\n"
    "  - {name: exact, field: given, levels: [exact]}\n"
    "  - {name: nick, field: given, levels: [nickname]}\n"
    "  - {name: jw92, field: given, levels: [{jaro_winkler: 0.92}]}\n"
    "  - {name: jaro80, field: given, levels: [{jaro: 0.8}]}\n"
    "  - {name: lev1, field: given, levels: [{levenshtein: 1}]}\n"
    "  - {name: dl1, field: given, levels: [{damerau_levenshtein: 1}]}\n"
    "  - {name: initial, field: given, levels: [initial]}\n"
    "  - {name: soundex, field: given, levels: [soundex]}\n"
    "  - {name: swapped, field: given, levels: [{swapped: surname}]}\n"
    "  - {name: tok_with, field: surname, levels: [{token_overlap: [middle]}]}\n"
    "  - {name: tok, field: surname, levels: [token_overlap]}\n"
    "  - {name: within5, field: zip, levels: [{within: 5}]}\n"
    "  - {name: suffix, field: zip, levels: [suffix]}\n"
    "  - {name: suffix1, field: zip, levels: [{suffix: 1}]}\n"
    "  - {name: d_exact, field: dob, levels: [exact]}\n"
    "  - {name: d_swap, field: dob, levels: [swap_day_month]}\n"
    "  - {name: d_year1, field: dob, levels: [year_off_by]}\n"
    "  - {name: d_year2, field: dob, levels: [{year_off_by: 2}]}\n"
    "  - {name: d_ym, field: dob, levels: [same_year_month]}\n"
    "  - {name: d_y, field: dob, levels: [same_year]}\n"
    "  - {name: d_days1, field: dob, levels: [{within_days: 1}]}\n"
    "  - {name: d_days3, field: dob, levels: [{within_days: 3}]}\n"
    "  - {name: d_partial, field: dob, levels: [partial_date]}\n"
    "  - {name: dob_all, field: dob,\n"
    "     levels: [exact, swap_day_month, year_off_by, same_year_month, partial_date]}\n"
    "  - {name: dob_partial_first, field: dob, levels: [partial_date, same_year]}\n";

static dt_config *g_cfg;
static norm_nicknames *g_nicks;

static int setup(void **state)
{
    (void)state;
    dt_error err;
    dt_error_clear(&err);
    if (cfg_parse(CONFIG, strlen(CONFIG), "levels.yaml", "/tmp", &g_cfg, &err) != DT_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    char path[] = "/tmp/dt_test_levels_nicks_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    const char table[] = "william\tbill,will,billy\nrobert\tbob,rob\npatricia\tpatty,pat,trish\n";
    ssize_t n = write(fd, table, sizeof table - 1);
    close(fd);
    int rc = n == (ssize_t)(sizeof table - 1) ? norm_nick_load(path, &g_nicks, &err) : -1;
    unlink(path);
    return rc == DT_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    dt_config_free(g_cfg);
    norm_nick_free(g_nicks);
    return 0;
}

static const cfg_comparison *comp(const char *name)
{
    for (size_t i = 0; i < g_cfg->n_comparisons; i++)
        if (strcmp(g_cfg->comparisons[i].name, name) == 0) return &g_cfg->comparisons[i];
    fail_msg("no comparison %s", name);
    return NULL;
}

/* A record: one normalized value per field, NULL for none. */
typedef struct rec {
    const char *v[N_FIELDS];
} rec;

static void build(cmp_table *t, const rec *recs, size_t n, const norm_nicknames *nicks)
{
    assert_int_equal(cmp_table_init(t, g_cfg, nicks), DT_OK);
    for (size_t i = 0; i < n; i++) {
        size_t i_rec;
        char rid[32];
        snprintf(rid, sizeof rid, "r%zu", i);
        assert_int_equal(cmp_table_add(t, 0, rid, strlen(rid), &i_rec), DT_OK);
        assert_int_equal(i_rec, i);
        for (size_t f = 0; f < N_FIELDS; f++)
            if (recs[i].v[f])
                assert_int_equal(cmp_table_set(t, i_rec, f, recs[i].v[f], strlen(recs[i].v[f])),
                                 DT_OK);
    }
    assert_int_equal(cmp_table_finish(t), DT_OK);
}

/* Level code of comparison `name` for two records. */
static int eval_recs(const char *name, rec a, rec b)
{
    cmp_table t;
    const rec recs[2] = {a, b};
    build(&t, recs, 2, g_nicks);
    int code = cmp_eval(&t, comp(name), 0, 1);
    cmp_table_fini(&t);
    return code;
}

/* Level code of comparison `name` for two values of its own field. */
static int eval(const char *name, const char *a, const char *b)
{
    const cfg_comparison *c = comp(name);
    rec ra = {{0}}, rb = {{0}};
    ra.v[c->i_field] = a;
    rb.v[c->i_field] = b;
    int code = eval_recs(name, ra, rb);
    if (a && b) assert_int_equal(eval_recs(name, rb, ra), code); /* symmetric */
    return code;
}

/* For single-level comparisons: 1 holds, 2 does not. */
#define HOLDS(name, a, b) assert_int_equal(eval(name, a, b), 1)
#define FAILS(name, a, b) assert_int_equal(eval(name, a, b), 2)

static void test_null_and_else(void **state)
{
    (void)state;
    assert_int_equal(eval("exact", NULL, "john"), 0);
    assert_int_equal(eval("exact", "john", NULL), 0);
    assert_int_equal(eval("exact", NULL, NULL), 0);
    assert_int_equal(eval("exact", "", "john"), 0); /* the empty string is null */
    assert_int_equal(eval("given_all", "john", "zzyzx"), 6); /* else: n_levels + 1 */
    assert_int_equal(eval("d_partial", NULL, "19800512"), 0);

    const cfg_comparison *c = comp("given_all");
    assert_string_equal(cmp_level_label(c, 0), "null");
    assert_string_equal(cmp_level_label(c, 1), "exact");
    assert_string_equal(cmp_level_label(c, 3), "jaro_winkler>=0.92");
    assert_string_equal(cmp_level_label(c, 5), "initial");
    assert_string_equal(cmp_level_label(c, 6), "else");
}

static void test_first_level_wins(void **state)
{
    (void)state;
    assert_int_equal(eval("given_all", "martha", "martha"), 1);
    assert_int_equal(eval("given_all", "bill", "william"), 2);
    assert_int_equal(eval("given_all", "martha", "marhta"), 3); /* JW 0.961 */
    assert_int_equal(eval("given_all", "dwayne", "duane"), 4);  /* JW 0.840 */
    assert_int_equal(eval("given_all", "j", "john"), 5);        /* JW 0.775 */
    assert_int_equal(eval("given_all", "mary", "john"), 6);

    /* Partial and same-year-month both hold; the earlier level wins. */
    assert_int_equal(eval("dob_all", "19800512", "19800512"), 1);
    assert_int_equal(eval("dob_all", "19800512", "19801205"), 2);
    assert_int_equal(eval("dob_all", "19800512", "19810512"), 3);
    assert_int_equal(eval("dob_all", "19800500", "19800512"), 4);
    assert_int_equal(eval("dob_all", "19800000", "19801231"), 5);
    assert_int_equal(eval("dob_all", "19800512", "19900101"), 6);
    /* Two records giving only the same birth year share a year, not a
     * birth date: partial_date, never exact (regression: they were exact,
     * and voters~voters pairs of one name and year scored as one date). */
    assert_int_equal(eval("dob_all", "19800000", "19800000"), 5);
    assert_int_equal(eval("dob_all", "19800500", "19800500"), 4); /* same_year_month */
    assert_int_equal(eval("dob_partial_first", "19800500", "19800512"), 1);
    assert_int_equal(eval("dob_partial_first", "19800512", "19800612"), 2);
    assert_int_equal(eval("dob_partial_first", "19800512", "19810512"), 3);
}

static void test_string_levels(void **state)
{
    (void)state;
    HOLDS("exact", "john", "john");
    FAILS("exact", "john", "jon");

    HOLDS("jw92", "martha", "marhta");
    FAILS("jw92", "dwayne", "duane");
    HOLDS("jaro80", "dwayne", "duane"); /* Jaro 0.822 */
    FAILS("jaro80", "dixon", "dicksonx"); /* Jaro 0.767 */

    /* A transposition is one edit for Damerau–Levenshtein, two for
     * Levenshtein. */
    HOLDS("lev1", "smith", "smyth");
    FAILS("lev1", "smith", "smiht");
    HOLDS("dl1", "smith", "smiht");
    HOLDS("dl1", "smith", "smit");
    FAILS("dl1", "smith", "msiht"); /* two transpositions */
    HOLDS("dl1", "josé", "jose"); /* code points, not bytes */

    HOLDS("initial", "j", "john");
    HOLDS("initial", "john", "j");
    FAILS("initial", "j", "mary");
    FAILS("initial", "jo", "john"); /* neither is a single letter */
    FAILS("initial", "john", "jim"); /* same first letter is not enough */
    HOLDS("initial", "é", "émile");

    HOLDS("soundex", "robert", "rupert"); /* r163 */
    FAILS("soundex", "robert", "rubin");  /* r150 */

    HOLDS("within5", "2000", "2004");
    HOLDS("within5", "2000", "2005");
    FAILS("within5", "2000", "2006");
    FAILS("within5", "20a0", "20a0"); /* not numbers */

    HOLDS("suffix", "6789", "123456789");  /* last-4 against a full number */
    HOLDS("suffix", "123456789", "6789");
    FAILS("suffix", "6788", "123456789");
    FAILS("suffix", "6789", "6789");       /* equal is exact's job, not suffix's */
    FAILS("suffix", "1234", "123456789");  /* a prefix is not a suffix */
    HOLDS("suffix1", "6789", "123456789");
    HOLDS("suffix1", "6788", "123456789"); /* one typo in the last 4 */
    HOLDS("suffix1", "6798", "123456789"); /* a transposition is one edit */
    FAILS("suffix1", "6700", "123456789");
    FAILS("suffix1", "6789", "6789");
}

static void test_nickname(void **state)
{
    (void)state;
    HOLDS("nick", "bill", "william");
    HOLDS("nick", "will", "billy"); /* same group */
    HOLDS("nick", "john", "john");
    FAILS("nick", "bill", "robert");
    FAILS("nick", "bob", "billy");

    /* Without a table the level never holds. */
    cmp_table t;
    const rec recs[2] = {{{"bill"}}, {{"william"}}};
    build(&t, recs, 2, NULL);
    assert_int_equal(cmp_eval(&t, comp("nick"), 0, 1), 2);
    cmp_table_fini(&t);
}

static void test_token_overlap(void **state)
{
    (void)state;
    /* A double surname against middle + surname. */
    rec a = {{[F_SURNAME] = "garcia lopez"}};
    rec b = {{[F_MIDDLE] = "garcia", [F_SURNAME] = "lopez"}};
    assert_int_equal(eval_recs("tok_with", a, b), 1);
    assert_int_equal(eval_recs("tok_with", b, a), 1);
    assert_int_equal(eval_recs("tok", a, b), 1); /* "lopez" is in both surnames */

    /* Only the with-field (middle) holds the shared token. */
    rec c = {{[F_SURNAME] = "garcia"}};
    rec d = {{[F_MIDDLE] = "garcia", [F_SURNAME] = "martinez"}};
    assert_int_equal(eval_recs("tok_with", c, d), 1);
    assert_int_equal(eval_recs("tok_with", d, c), 1);
    assert_int_equal(eval_recs("tok", c, d), 2);

    /* Tokens, not substrings. */
    rec e = {{[F_SURNAME] = "garcia lopez"}};
    rec f = {{[F_SURNAME] = "garc lopezz"}};
    assert_int_equal(eval_recs("tok_with", e, f), 2);
    rec g = {{[F_SURNAME] = "de la cruz"}};
    rec h = {{[F_SURNAME] = "cruz"}};
    assert_int_equal(eval_recs("tok", g, h), 1);
}

static void test_swapped(void **state)
{
    (void)state;
    rec a = {{[F_GIVEN] = "smith", [F_SURNAME] = "john"}};
    rec b = {{[F_GIVEN] = "john", [F_SURNAME] = "smith"}};
    assert_int_equal(eval_recs("swapped", a, b), 1);
    assert_int_equal(eval_recs("swapped", b, a), 1);
    assert_int_equal(eval_recs("swapped", b, b), 2); /* equal, not swapped */
    rec c = {{[F_GIVEN] = "john", [F_SURNAME] = "smyth"}};
    assert_int_equal(eval_recs("swapped", a, c), 2); /* only one half agrees */
    rec d = {{[F_GIVEN] = "john"}};
    assert_int_equal(eval_recs("swapped", a, d), 2); /* the other field is null */
    /* One half exact, the other sharing a token: a swap that lost a part. */
    rec e = {{[F_GIVEN] = "beiya", [F_SURNAME] = "zeng chin"}};
    rec f = {{[F_GIVEN] = "chin", [F_SURNAME] = "beiya"}};
    assert_int_equal(eval_recs("swapped", e, f), 1);
    rec g = {{[F_GIVEN] = "chen", [F_SURNAME] = "beiya"}};
    assert_int_equal(eval_recs("swapped", e, g), 2); /* no token shared */
}

/* Code of "swapped" both ways round; it must not depend on the order. */
static int swap_code(rec a, rec b)
{
    int code = eval_recs("swapped", a, b);
    assert_int_equal(eval_recs("swapped", b, a), code);
    return code;
}

/* A swap with a nickname, an initial or a typo besides still counts as a
 * swap; both crossed sides must agree, and an initial counts for one. */
static void test_swapped_fuzzy(void **state)
{
    (void)state;
    /* "SATTERFIELD, PATRICIA" against "PATTY SATTERFIELD" read first-last. */
    rec pat = {{[F_GIVEN] = "patricia", [F_SURNAME] = "satterfield"}};
    rec patty = {{[F_GIVEN] = "satterfield", [F_SURNAME] = "patty"}};
    assert_int_equal(swap_code(pat, patty), 1);
    /* An initial for the given name. */
    rec p = {{[F_GIVEN] = "satterfield", [F_SURNAME] = "p"}};
    assert_int_equal(swap_code(pat, p), 1);
    /* A typo in the surname, then one in the given name. */
    rec kath = {{[F_GIVEN] = "katherine", [F_SURNAME] = "macdonald"}};
    rec mcd = {{[F_GIVEN] = "mcdonald", [F_SURNAME] = "katherine"}};
    assert_int_equal(swap_code(kath, mcd), 1);
    rec jon = {{[F_GIVEN] = "jonathan", [F_SURNAME] = "smith"}};
    rec jon2 = {{[F_GIVEN] = "smith", [F_SURNAME] = "jonathon"}};
    assert_int_equal(swap_code(jon, jon2), 1);

    /* Different people: twins sharing the surname, a swap on one side. */
    rec jane = {{[F_GIVEN] = "jane", [F_SURNAME] = "smith"}};
    rec john = {{[F_GIVEN] = "smith", [F_SURNAME] = "john"}};
    assert_int_equal(swap_code(jane, john), 2);
    /* The same given name, another family. */
    rec pat_r = {{[F_GIVEN] = "robertson", [F_SURNAME] = "patty"}};
    assert_int_equal(swap_code(pat, pat_r), 2);
    /* Initials on both sides stand for two names nobody wrote. */
    rec js = {{[F_GIVEN] = "j", [F_SURNAME] = "s"}};
    rec sj = {{[F_GIVEN] = "smith", [F_SURNAME] = "john"}};
    assert_int_equal(swap_code(js, sj), 2);
    /* Near names under the threshold: smith / smyth is 0.89. */
    rec smyth = {{[F_GIVEN] = "john", [F_SURNAME] = "smyth"}};
    rec smith = {{[F_GIVEN] = "smith", [F_SURNAME] = "jon"}};
    assert_int_equal(swap_code(smyth, smith), 2);
    /* Without a nickname table the nickname half does not hold. */
    cmp_table t;
    const rec recs[2] = {pat, patty};
    build(&t, recs, 2, NULL);
    assert_int_equal(cmp_eval(&t, comp("swapped"), 0, 1), 2);
    cmp_table_fini(&t);
}

static void test_dates(void **state)
{
    (void)state;
    HOLDS("d_exact", "19800512", "19800512");
    FAILS("d_exact", "19800500", "19800512"); /* partial never equals full */
    FAILS("d_exact", "19800000", "19800000"); /* nor another partial */

    HOLDS("d_swap", "19800512", "19801205");
    FAILS("d_swap", "19800512", "19811205"); /* other year */
    FAILS("d_swap", "19800505", "19800505"); /* day == month: nothing swapped */
    FAILS("d_swap", "19800500", "19800005"); /* partial */

    HOLDS("d_year1", "19800512", "19810512");
    HOLDS("d_year1", "19800512", "19790512");
    FAILS("d_year1", "19800512", "19820512");
    HOLDS("d_year2", "19800512", "19820512");
    FAILS("d_year1", "19800512", "19810513");
    FAILS("d_year1", "19800500", "19810500"); /* needs month and day */

    HOLDS("d_ym", "19800512", "19800530");
    HOLDS("d_ym", "19800500", "19800512");
    FAILS("d_ym", "19800512", "19800612");
    FAILS("d_ym", "19800000", "19800000"); /* no month known */

    HOLDS("d_y", "19800512", "19801231");
    FAILS("d_y", "19800512", "19810101");
    HOLDS("d_y", "19800000", "19801231");

    /* 1980 is a leap year: Feb 28 to Mar 1 is two days; in 1981 one. */
    FAILS("d_days1", "19800228", "19800301");
    HOLDS("d_days1", "19810228", "19810301");
    HOLDS("d_days3", "19801230", "19810102"); /* across a year end */
    FAILS("d_days3", "19801230", "19810103");
    HOLDS("d_days3", "20000228", "20000301"); /* 2000 is a leap year too */
    HOLDS("d_days1", "19000228", "19000301"); /* 1900 is not (Gregorian) */
    FAILS("d_days1", "20000228", "20000301");
    FAILS("d_days3", "19800500", "19800501"); /* partial dates have no day number */

    HOLDS("d_partial", "19800500", "19800512");
    HOLDS("d_partial", "19800000", "19801231");
    HOLDS("d_partial", "19800500", "19800000");
    FAILS("d_partial", "19800500", "19800612");
    FAILS("d_partial", "19800500", "19810512");
    FAILS("d_partial", "19800512", "19800512"); /* both full: not partial */
}

static void test_vector_and_table(void **state)
{
    (void)state;
    const rec recs[4] = {
        {{"bill", NULL, "smith", "19800512", "2000"}},
        {{"william", NULL, "smith", "19800500", "2003"}},
        {{"", NULL, "smith", NULL, NULL}},
        {{"bill", NULL, "jones", "19800512", NULL}},
    };
    cmp_table t;
    build(&t, recs, 4, g_nicks);
    assert_int_equal(t.n_recs, 4);
    assert_string_equal(cmp_record_id(&t, 2), "r2");
    assert_null(cmp_value(&t, F_GIVEN, 2));
    assert_string_equal(cmp_value(&t, F_GIVEN, 3), "bill");
    /* Term frequencies: "smith" three times among four surnames. */
    const cmp_column *s = &t.cols[F_SURNAME];
    assert_int_equal(s->n_nonnull, 4);
    assert_int_equal(s->info[s->vals[0]].count, 3);
    assert_int_equal(s->info[s->vals[3]].count, 1);
    assert_int_equal(t.cols[F_GIVEN].n_nonnull, 3);
    assert_int_equal(t.cols[F_GIVEN].vals[0], t.cols[F_GIVEN].vals[3]); /* one dictionary entry */
    const cmp_value_info *d = &t.cols[F_DOB].info[t.cols[F_DOB].vals[1]];
    assert_int_equal(d->date.year, 1980);
    assert_int_equal(d->date.month, 5);
    assert_int_equal(d->date.day, 0);
    assert_string_equal(t.cols[F_GIVEN].info[t.cols[F_GIVEN].vals[1]].soundex, "w450");

    uint8_t g[64];
    assert_true(g_cfg->n_comparisons <= sizeof g);
    cmp_vector(&t, g_cfg, 0, 1, g);
    for (size_t i = 0; i < g_cfg->n_comparisons; i++)
        assert_int_equal(g[i], cmp_eval(&t, &g_cfg->comparisons[i], 0, 1));
    assert_int_equal(g[0], 2); /* given_all: nickname */
    assert_int_equal(g[1], 2); /* exact: else */
    assert_int_equal(g[12], 1); /* within5: 2000 vs 2003 */
    cmp_vector(&t, g_cfg, 0, 2, g);
    assert_int_equal(g[0], 0); /* given null on record 2 */
    assert_int_equal(g[11], 1); /* tok: smith */
    assert_int_equal(g[13], 0); /* dob null */

    /* Permute: new record i is old perm[i]; record 2 is dropped. */
    const uint32_t perm[3] = {3, 0, 1};
    assert_int_equal(cmp_table_permute(&t, perm, 3), DT_OK);
    assert_int_equal(t.n_recs, 3);
    assert_string_equal(cmp_record_id(&t, 0), "r3");
    assert_string_equal(cmp_value(&t, F_SURNAME, 0), "jones");
    assert_string_equal(cmp_value(&t, F_GIVEN, 2), "william");
    assert_int_equal(cmp_eval(&t, comp("exact"), 0, 1), 1); /* bill, bill */
    cmp_table_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_and_else),
        cmocka_unit_test(test_first_level_wins),
        cmocka_unit_test(test_string_levels),
        cmocka_unit_test(test_nickname),
        cmocka_unit_test(test_token_overlap),
        cmocka_unit_test(test_swapped),
        cmocka_unit_test(test_swapped_fuzzy),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_vector_and_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
