/* Tests for src/pipeline/eval.c through the public API.
 *
 * - Per source and per pair of sources: a link run on FEBRL dataset3 (the
 *   people numbered below 250, their records dealt alternately into two
 *   sources so both within-source and cross-source duplicates exist), then
 *   eval, whose counts must equal a brute-force count over every pair of
 *   records read back from entities.csv; in link_and_dedupe and in link
 *   mode (where within-source pairs are reported but marked not compared).
 * - Calibration on the same run: the bins hold every candidate pair; the
 *   pairs at or above the link threshold (0.5) and between review (0.1)
 *   and link are exactly the links and reviews link counted, and every bin
 *   above 0.1 holds the pairs and probabilities link wrote to pairs.csv,
 *   so eval scored as link did; ECE is in [0, 1] and recomputes from the
 *   bins.
 * - entities.csv naming an unknown record, a record under the wrong
 *   source, or leaving one out: an error naming the record.
 * - eval with the Nth allocation failing returns DT_ENOMEM, for many N.
 * - A hand-made case of nine records and a hand-written entities.csv
 *   whose figures are worked out below, and no model.json: calibration is
 *   skipped, not an error. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dovetail.h"
#include "tmpdir.h"
#include "util/util.h"

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static dt_config *load_config(const char *path)
{
    dt_config *cfg = NULL;
    dt_error err;
    int rc = dt_config_load(path, &cfg, &err);
    if (rc != DT_OK) fail_msg("%s", err.msg);
    return cfg;
}

/* ---- FEBRL dataset3, two sources ------------------------------------ */

enum { MAX_PEOPLE = 500, MAX_RECS = 3000 };

/* Writes a.csv and b.csv from dataset3: the records of people below
 * MAX_PEOPLE, dealt alternately. */
static void write_sources(void)
{
    char line[1024], path[128];
    FILE *in = fopen(DT_TEST_DATA "/febrl/dataset3.csv", "r"), *out[2];
    assert_non_null(in);
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%c.csv", g_dir, 'a' + i);
        assert_non_null(out[i] = fopen(path, "w"));
    }
    assert_non_null(fgets(line, sizeof line, in));
    fputs(line, out[0]);
    fputs(line, out[1]);
    int k = 0;
    while (fgets(line, sizeof line, in))
        if (strncmp(line, "rec-", 4) == 0 && strtol(line + 4, NULL, 10) < MAX_PEOPLE)
            fputs(line, out[k++ % 2]);
    fclose(in);
    fclose(out[0]);
    fclose(out[1]);
}

static const char *febrl_source(char c)
{
    static char text[2][1024];
    snprintf(text[c - 'a'], sizeof text[0],
             "  - name: %c\n    path: %s/%c.csv\n    id: rec_id\n    trim: true\n"
             "    columns:\n      given: given_name\n      surname: surname\n"
             "      dob: {column: date_of_birth, format: YYYYMMDD}\n      ssn: soc_sec_id\n"
             "      postcode: postcode\n",
             c, g_dir, c);
    return text[c - 'a'];
}

/* A dataset3 config over a.csv and b.csv in the given mode. */
static dt_config *febrl_config(const char *mode)
{
    char text[4096], path[128];
    snprintf(text, sizeof text,
             "mode: %s\n"
             "fields:\n  given: given_name\n  surname: surname\n  dob: date\n"
             "  ssn: identifier\n  postcode: postcode\n"
             "sources:\n%s%s"
             "blocking:\n  rules:\n    - [soundex(surname), year(dob)]\n"
             "    - [soundex(given), postcode]\n    - [ssn]\n    - [dob]\n    - \"substr(surname,1,1)\"\n"
             "comparisons:\n"
             "  - field: given\n    tf: true\n    levels: [exact, {jaro_winkler: 0.92}, {jaro_winkler: 0.8}]\n"
             "  - field: surname\n    tf: true\n    levels: [exact, {jaro_winkler: 0.92}, {jaro_winkler: 0.8}]\n"
             "  - field: dob\n    levels: [exact, {damerau_levenshtein: 1}]\n"
             "  - field: ssn\n    levels: [exact, {damerau_levenshtein: 1}]\n"
             "  - field: postcode\n    levels: [exact, {damerau_levenshtein: 1}]\n"
             "model:\n  seed: 42\n  u_sample_pairs: 20000\n"
             "thresholds:\n  link: 0.5\n  review: 0.1\n"
             "truth:\n  id_pattern: \"^rec-([0-9]+)-\"\n",
             mode, febrl_source('a'), febrl_source('b'));
    tmpdir_path(path, sizeof path, "febrl.yaml");
    write_text(path, text);
    return load_config(path);
}

typedef struct rec {
    int src;    /* 0 a, 1 b */
    long truth; /* person number */
    char pred[32];
} rec;

/* Reads entities.csv back: every record, its source, person and entity. */
static size_t read_entities(const char *out, rec *recs)
{
    char path[160], line[256];
    snprintf(path, sizeof path, "%s/entities.csv", out);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "source,record_id,entity_id\n");
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        assert_true(n < MAX_RECS);
        char *id = strchr(line, ','), *ent = id ? strchr(id + 1, ',') : NULL;
        assert_non_null(ent);
        assert_true(strncmp(id + 1, "rec-", 4) == 0);
        recs[n].src = line[0] - 'a';
        recs[n].truth = strtol(id + 5, NULL, 10);
        snprintf(recs[n].pred, sizeof recs[n].pred, "%.*s", (int)strcspn(ent + 1, "\n"), ent + 1);
        n++;
    }
    fclose(f);
    return n;
}

/* Brute force over every pair: cnt[kind][s + t] for kind 0 true, 1
 * predicted, 2 both; s + t is 0 (a,a), 1 (a,b), 2 (b,b). */
static void count_all_pairs(const rec *r, size_t n, uint64_t cnt[3][3])
{
    memset(cnt, 0, 9 * sizeof cnt[0][0]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            int k = r[i].src + r[j].src, t = r[i].truth == r[j].truth;
            int p = strcmp(r[i].pred, r[j].pred) == 0;
            cnt[0][k] += (uint64_t)t;
            cnt[1][k] += (uint64_t)p;
            cnt[2][k] += (uint64_t)(t && p);
        }
}

static void assert_counts(const dt_eval_source_pair *sp, const uint64_t cnt[3][3], int k)
{
    assert_int_equal(sp->pairs.n_true_pairs, cnt[0][k]);
    assert_int_equal(sp->pairs.n_predicted_pairs, cnt[1][k]);
    assert_int_equal(sp->pairs.n_true_positive, cnt[2][k]);
    if (cnt[1][k])
        assert_true(fabs(sp->pairs.precision - (double)cnt[2][k] / (double)cnt[1][k]) < 1e-12);
    if (cnt[0][k])
        assert_true(fabs(sp->pairs.recall - (double)cnt[2][k] / (double)cnt[0][k]) < 1e-12);
}

/* Links, then evals, the dataset3 sources in `mode`. OUT: *r, *s. */
static void link_and_eval(const char *mode, const char *out, dt_eval_report *r,
                          dt_link_summary *s)
{
    dt_config *cfg = febrl_config(mode);
    /* pairs.csv too: the calibration test checks its bins against it. */
    dt_link_options o = {.n_threads = 2, .out_dir = out, .pairs = DT_PAIRS_ALL};
    dt_error err;
    if (dt_link_run(cfg, &o, s, &err) != DT_OK) fail_msg("link: %s", err.msg);
    if (dt_eval_run(cfg, out, r, &err) != DT_OK) fail_msg("eval: %s", err.msg);
    dt_config_free(cfg);
}

static void test_source_pairs_brute_force(void **state)
{
    (void)state;
    static rec recs[MAX_RECS];
    uint64_t cnt[3][3];
    const char *modes[] = {"link_and_dedupe", "link"};
    for (int i_mode = 0; i_mode < 2; i_mode++) {
        char out[96];
        tmpdir_path(out, sizeof out, modes[i_mode]);
        dt_eval_report r;
        dt_link_summary s;
        link_and_eval(modes[i_mode], out, &r, &s);
        size_t n = read_entities(out, recs);
        assert_int_equal(n, r.n_records);
        count_all_pairs(recs, n, cnt);
        /* the input really has both kinds of duplicate */
        assert_true(cnt[0][0] > 20 && cnt[0][1] > 20 && cnt[0][2] > 20);
        assert_int_equal(r.n_sources, 2);
        assert_int_equal(r.n_source_pairs, 1);
        assert_string_equal(r.sources[0].a, "a");
        assert_string_equal(r.sources[0].b, "a");
        assert_string_equal(r.source_pairs[0].a, "a");
        assert_string_equal(r.source_pairs[0].b, "b");
        assert_counts(&r.sources[0], cnt, 0);
        assert_counts(&r.source_pairs[0], cnt, 1);
        assert_counts(&r.sources[1], cnt, 2);
        int is_link = i_mode == 1;
        assert_int_equal(r.sources[0].is_compared, !is_link);
        assert_int_equal(r.sources[1].is_compared, !is_link);
        assert_int_equal(r.source_pairs[0].is_compared, 1);
        /* the mode's figures are the compared pairs' sums */
        uint64_t want = cnt[0][1] + (is_link ? 0 : cnt[0][0] + cnt[0][2]);
        assert_int_equal(r.n_true_pairs, want);
        assert_int_equal(r.n_true_positive, cnt[2][1] + (is_link ? 0 : cnt[2][0] + cnt[2][2]));
        assert_true(fabs(r.cross_precision - r.source_pairs[0].pairs.precision) < 1e-12);
        dt_eval_report_fini(&r);
    }
}

/* ECE as the header defines it, from the bins alone. */
static double ece_of(const dt_eval_bin *bins, uint64_t n)
{
    double ece = 0;
    for (int i = 0; i < DT_EVAL_BINS; i++)
        if (bins[i].n_pairs)
            ece += (double)bins[i].n_pairs / (double)n *
                   fabs((bins[i].sum_probability / (double)bins[i].n_pairs) -
                        (double)bins[i].n_matches / (double)bins[i].n_pairs);
    return ece;
}

/* Bins the probability column of out/pairs.csv (every pair link scored at
 * or above the review threshold) as eval bins. OUT: n, sum per bin. */
static void bin_pairs_csv(const char *out, uint64_t n[DT_EVAL_BINS], double sum[DT_EVAL_BINS])
{
    char path[160], line[1024];
    snprintf(path, sizeof path, "%s/pairs.csv", out);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("%s is missing: this test needs link to write it", path);
    assert_non_null(fgets(line, sizeof line, f));
    static const char head[] = "source_a,record_id_a,source_b,record_id_b,rule,weight,probability,";
    assert_true(strncmp(line, head, sizeof head - 1) == 0);
    while (fgets(line, sizeof line, f)) {
        int n_commas = 0, in_quote = 0;
        const char *c = line;
        for (; *c && n_commas < 6; c++) { /* the 7th field; rule names are quoted */
            if (*c == '"') in_quote = !in_quote;
            else if (*c == ',' && !in_quote) n_commas++;
        }
        double p = strtod(c, NULL);
        int i = (int)(p * DT_EVAL_BINS);
        i = i >= DT_EVAL_BINS ? DT_EVAL_BINS - 1 : i;
        n[i]++;
        sum[i] += p;
    }
    fclose(f);
}

static void test_calibration(void **state)
{
    (void)state;
    char out[96];
    tmpdir_path(out, sizeof out, "calibration");
    dt_eval_report r;
    dt_link_summary s;
    link_and_eval("link_and_dedupe", out, &r, &s);
    const dt_eval_calibration *c = &r.calibration;
    assert_int_equal(c->has_model, 1);
    assert_int_equal(c->n_pairs, r.n_candidate_pairs);
    assert_int_equal(c->n_pairs, s.n_candidate_pairs);
    uint64_t total = 0, matches = 0, linked = 0, review = 0, uncertain = 0;
    for (int i = 0; i < DT_EVAL_BINS; i++) {
        const dt_eval_bin *b = &c->bins[i];
        total += b->n_pairs;
        matches += b->n_matches;
        if (i >= 5) linked += b->n_pairs;
        else if (i >= 1) review += b->n_pairs;
        uncertain += c->uncertain_bins[i].n_pairs;
        if (b->n_pairs) { /* each pair's probability lies in its bin */
            assert_true(b->mean_probability >= i / 10.0 - 1e-12);
            assert_true(b->mean_probability <= (i + 1) / 10.0 + 1e-12);
        }
        assert_true(c->uncertain_bins[i].n_pairs <= b->n_pairs);
    }
    assert_int_equal(total, c->n_pairs);
    assert_int_equal(matches, r.n_candidate_true);
    /* thresholds 0.5 and 0.1 fall on bin edges: eval scored as link did */
    assert_int_equal(linked, s.n_links);
    assert_int_equal(review, s.n_review);
    assert_int_equal(uncertain, c->n_uncertain);
    /* bin by bin, the pairs and probabilities link wrote (6 decimals) */
    uint64_t n_link[DT_EVAL_BINS] = {0};
    double sum_link[DT_EVAL_BINS] = {0};
    bin_pairs_csv(out, n_link, sum_link);
    for (int i = 1; i < DT_EVAL_BINS; i++) {
        assert_int_equal(n_link[i], c->bins[i].n_pairs);
        assert_true(fabs(sum_link[i] - c->bins[i].sum_probability) <= 5e-7 * (double)n_link[i]);
    }
    assert_true(c->n_uncertain > 0 && c->n_uncertain < c->n_pairs);
    assert_true(c->ece >= 0 && c->ece <= 1);
    assert_true(c->ece_uncertain >= 0 && c->ece_uncertain <= 1);
    assert_true(fabs(c->ece - ece_of(c->bins, c->n_pairs)) < 1e-12);
    assert_true(fabs(c->ece_uncertain - ece_of(c->uncertain_bins, c->n_uncertain)) < 1e-12);
    dt_eval_report_fini(&r);
}

/* eval with the Nth allocation failing, for many N: DT_ENOMEM with a
 * message, never a crash or a leak (ASan), until it succeeds. */
static void test_eval_out_of_memory(void **state)
{
    (void)state;
    char out[96];
    tmpdir_path(out, sizeof out, "oom");
    dt_config *cfg = febrl_config("link_and_dedupe");
    dt_link_options o = {.n_threads = 2, .out_dir = out};
    dt_error err;
    assert_int_equal(dt_link_run(cfg, &o, NULL, &err), DT_OK);
    int n_failed = 0, k;
    for (k = 1; k < 1000000; k += k < 400 ? 1 : k / 8) {
        dt_eval_report r;
        dt_error_clear(&err);
        util_fail_after(k);
        int rc = dt_eval_run(cfg, out, &r, &err);
        util_fail_after(0);
        if (rc == DT_OK) {
            assert_int_equal(r.calibration.has_model, 1);
            dt_eval_report_fini(&r);
            break;
        }
        assert_int_equal(rc, DT_ENOMEM);
        assert_true(err.msg[0] != '\0');
        n_failed++;
    }
    assert_true(n_failed > 100);
    assert_true(k < 1000000);
    dt_config_free(cfg);
}

/* ---- hand-made ------------------------------------------------------- */

/* People p1..p5. s1 holds p1 twice (a within-source duplicate), p2, p3,
 * p5; s2 holds p1, p2, p4, p5, and p5's record id is the same in both
 * sources. The hand-written prediction keeps p1's three records together,
 * wrongly joins p2 of s1 with p4 of s2, leaves p2 of s2 alone, and joins
 * p5's two. Within s1: 1 true pair, 1 predicted, 1 right. Within s2:
 * none. s1~s2: true p1a~p1c, p1b~p1c, p2a~p2c, p5~p5; predicted p1a~p1c,
 * p1b~p1c, p2a~p4c, p5~p5; 3 right: precision = recall = 3/4. Mode link: the
 * within-source pairs are reported, marked not compared, and the mode's
 * figures are the cross-source ones. */
static const char hand_entities[] = "source,record_id,entity_id\n"
                                    "s1,p1-a,E1\ns1,p1-b,E1\ns2,p1-c,E1\n"
                                    "s1,p2-a,E2\ns2,p4-c,E2\ns2,p2-c,E3\ns1,p3-a,E4\n"
                                    "s2,p5-x,E5\ns1,p5-x,E5\n";

/* The hand-made sources and config, and out/entities.csv holding
 * `entities`. OUT: out (the run's dir). */
static dt_config *hand_case(const char *name, const char *entities, char out[96])
{
    char path[160], text[2048];
    tmpdir_path(path, sizeof path, "s1.csv");
    write_text(path, "id,name\np1-a,ann\np1-b,ann\np2-a,bob\np3-a,cy\np5-x,dee\n");
    tmpdir_path(path, sizeof path, "s2.csv");
    write_text(path, "id,name\np1-c,ann\np2-c,bob\np4-c,bob\np5-x,dee\n");
    tmpdir_path(out, 96, name);
    assert_int_equal(mkdir(out, 0700), 0);
    snprintf(path, sizeof path, "%s/entities.csv", out);
    write_text(path, entities);
    snprintf(text, sizeof text,
             "mode: link\nfields:\n  name: text\nsources:\n"
             "  - name: s1\n    path: %s/s1.csv\n    id: id\n    columns: {name: name}\n"
             "  - name: s2\n    path: %s/s2.csv\n    id: id\n    columns: {name: name}\n"
             "blocking:\n  rules:\n    - [name]\n"
             "comparisons:\n  - field: name\n    levels: [exact]\n"
             "truth:\n  id_pattern: \"^(p[0-9]+)-\"\n",
             g_dir, g_dir);
    tmpdir_path(path, sizeof path, "hand.yaml");
    write_text(path, text);
    return load_config(path);
}

static void test_hand_made(void **state)
{
    (void)state;
    char out[96];
    dt_config *cfg = hand_case("hand", hand_entities, out);
    dt_eval_report r;
    dt_error err;
    if (dt_eval_run(cfg, out, &r, &err) != DT_OK) fail_msg("eval: %s", err.msg);
    dt_config_free(cfg);
    assert_int_equal(r.n_sources, 2);
    const dt_eval_pairs *s1 = &r.sources[0].pairs, *s2 = &r.sources[1].pairs;
    const dt_eval_pairs *x = &r.source_pairs[0].pairs;
    assert_int_equal(r.sources[0].is_compared, 0);
    assert_int_equal(r.source_pairs[0].is_compared, 1);
    assert_int_equal(s1->n_true_pairs, 1);
    assert_int_equal(s1->n_predicted_pairs, 1);
    assert_int_equal(s1->n_true_positive, 1);
    assert_true(s1->precision == 1 && s1->recall == 1 && s1->f1 == 1);
    assert_int_equal(s2->n_true_pairs + s2->n_predicted_pairs + s2->n_true_positive, 0);
    assert_int_equal(x->n_true_pairs, 4);
    assert_int_equal(x->n_predicted_pairs, 4);
    assert_int_equal(x->n_true_positive, 3);
    assert_true(fabs(x->precision - 0.75) < 1e-12 && fabs(x->f1 - 0.75) < 1e-12);
    assert_int_equal(r.n_true_pairs, 4);
    assert_int_equal(r.n_true_positive, 3);
    /* blocking on name pairs ann~ann twice, bob~bob twice and dee~dee
     * once across sources; no model.json: calibration skipped, eval still
     * succeeds */
    assert_int_equal(r.n_candidate_pairs, 5);
    assert_int_equal(r.calibration.has_model, 0);
    assert_int_equal(r.calibration.n_pairs, 0);
    dt_eval_report_fini(&r);
}

/* entities.csv naming a record the sources lack, one under the other
 * source's name (p3-a is only in s1), or leaving one out: DT_EINPUT naming
 * it. */
static void test_entities_mismatch(void **state)
{
    (void)state;
    struct {
        const char *name, *extra, *want;
    } cases[] = {
        {"unknown", "s1,p9-a,E9\n", "record s1:p9-a is not in the config's sources"},
        {"wrong_source", "s2,p3-a,E9\n", "record s2:p3-a is not in the config's sources"},
    };
    for (size_t i = 0; i < 2; i++) {
        char out[96], text[512];
        snprintf(text, sizeof text, "%s%s", hand_entities, cases[i].extra);
        dt_config *cfg = hand_case(cases[i].name, text, out);
        dt_eval_report r;
        dt_error err;
        assert_int_equal(dt_eval_run(cfg, out, &r, &err), DT_EINPUT);
        assert_non_null(strstr(err.msg, cases[i].want));
        dt_config_free(cfg);
    }
    char out[96];
    size_t n = sizeof hand_entities - 1 - strlen("s1,p5-x,E5\n");
    char text[512];
    snprintf(text, sizeof text, "%.*s", (int)n, hand_entities); /* s1:p5-x left out */
    dt_config *cfg = hand_case("missing", text, out);
    dt_eval_report r;
    dt_error err;
    assert_int_equal(dt_eval_run(cfg, out, &r, &err), DT_EINPUT);
    assert_non_null(strstr(err.msg, "record s1:p5-x is missing"));
    dt_config_free(cfg);
}

/* The scratch directory, with the two dataset3 sources in it. */
static int setup(void **state)
{
    if (tmpdir_setup(state) != 0) return -1;
    write_sources();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_pairs_brute_force),
        cmocka_unit_test(test_calibration),
        cmocka_unit_test(test_hand_made),
        cmocka_unit_test(test_entities_mismatch),
        cmocka_unit_test(test_eval_out_of_memory),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
