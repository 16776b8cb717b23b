/* Tests for src/findings: each rule over records read from real CSV files
 * (pl_load), with entities and the links that joined them set by the test,
 * so each link's probability is the one a case needs:
 *   - payment_after_death: a payment on the day of death is not after it;
 *     a partial date of death (a year) counts only payments after that
 *     year; a death tied by a weak link is needs-review; a death record
 *     and an enrollment that disagree on the given name are needs-review;
 *   - death_contradicted: later filings contradict a death, and the
 *     payments after it are withheld, not called improper; a twin's
 *     filings (another given name) contradict nothing;
 *   - duplicate_enrollment: two overlapping enrollments in one program, not
 *     one after the other, not in two programs;
 *   - shared_identifier: one SSN on two people; one person split in two is
 *     no finding; one holder with one record is needs-review; a record whose
 *     SSN is a one-digit typo of its own person's, landing on another's, is
 *     no finding;
 *   - event rows: orphans, rejected and undated rows are counted, not kept;
 *   - a config without what a rule needs: the rule does not run and says
 *     why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>

#include "findings/findings.h"
#include "tmpdir.h"

static const char *const k_config =
    "mode: link_and_dedupe\n"
    "fields: {given: given_name, surname: surname, dob: date, ssn: identifier,\n"
    "         dod: date, program: text, enrolled: date}\n"
    "sources:\n"
    "  - {name: deaths, path: deaths.csv, id: id,\n"
    "     columns: {given: given, surname: surname, dob: dob, ssn: ssn, dod: dod}}\n"
    "  - {name: benefits, path: benefits.csv, id: id,\n"
    "     columns: {given: given, surname: surname, dob: dob, ssn: ssn, program: program,\n"
    "               enrolled: enrolled}}\n"
    "  - {name: earners, path: earners.csv, id: id,\n"
    "     columns: {given: given, surname: surname, dob: dob, ssn: ssn}}\n"
    "blocking: {rules: [dob]}\n"
    "comparisons:\n"
    "  - {field: given, levels: [exact]}\n"
    "  - {field: surname, levels: [exact]}\n"
    "  - {field: dob, levels: [exact]}\n"
    "  - {field: ssn, levels: [exact]}\n"
    "%s";

static const char *const k_findings =
    "findings:\n"
    "  death: {source: deaths, date: dod}\n"
    "  enrollment: {source: benefits, start: enrolled, program: program}\n"
    "  identifier: {field: ssn, min_length: 9}\n"
    "  review_below: 0.9\n"
    "  events:\n"
    "    - {name: payments, path: payments.csv, id: id, of: benefits, key: enrollment,\n"
    "       date: paid_on, amount: amount, payment: true}\n"
    "    - {name: earnings, path: earnings.csv, id: id, of: earners, key: earner,\n"
    "       date: {column: year, format: YYYY}}\n";

static void write_file(const char *name, const char *text)
{
    char path[256];
    tmpdir_path(path, sizeof path, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void write_data(void)
{
    write_file("deaths.csv",
               "id,given,surname,dob,ssn,dod\n"
               "D1,ANN,ABBOTT,1940-01-01,,2020-03-15\n"  /* paid after */
               "D2,BEN,BAKER,1941-02-02,,2019-06-01\n"   /* weak link */
               "D3,CARL,COOK,1950-03-03,,2015-05-05\n"   /* contradicted */
               "D4,DORA,DEAN,1942-04-04,,2018-00-00\n"   /* a year only */
               "D8,ANNA,HILL,1960-08-08,,2016-06-06\n"   /* twin */
               "D9,IRIS,IVES,1943-09-09,,2017-01-10\n"); /* enrollment of another name */
    write_file("benefits.csv",
               "id,given,surname,dob,ssn,program,enrolled\n"
               "B1,ANN,ABBOTT,1940-01-01,,RETIREMENT,2019-01-01\n"
               "B2,BEN,BAKER,1941-02-02,,RETIREMENT,2018-01-01\n"
               "B3,CARL,COOK,1950-03-03,,DISABILITY,2014-01-01\n"
               "B4,DORA,DEAN,1942-04-04,,RETIREMENT,2017-01-01\n"
               "B5a,EVE,EGAN,1944-05-05,,RETIREMENT,2020-01-01\n"
               "B5b,EVE,EGAN,1944-05-05,,RETIREMENT,2020-03-01\n"
               "B6a,FAY,FOX,1945-06-06,,RETIREMENT,2020-01-01\n"
               "B6b,FAY,FOX,1945-06-06,,RETIREMENT,2021-01-01\n"
               "B7a,GUS,GRAY,1946-07-07,,RETIREMENT,2020-01-01\n"
               "B7b,GUS,GRAY,1946-07-07,,SSI,2020-02-01\n"
               "B9,OLGA,IVES,1943-09-09,,RETIREMENT,2016-01-01\n"
               "B10,MARY,JONES,1985-10-10,900-01-0001,SSI,2020-01-01\n"
               "B13,LENA,LOPEZ,1975-12-12,900-03-0004,SSI,2020-01-01\n"); /* OTTO's: a typo */
    write_file("earners.csv",
               "id,given,surname,dob,ssn\n"
               "E3,CARL,COOK,1950-03-03,\n"
               "E8,MARIA,HILL,1960-08-08,\n"
               "E9,JOHN,SMITH,1970-09-09,900010001\n"
               "E10,MARY,JONES,1985-10-10,900010001\n"
               "E11,KATE,KING,1980-11-11,900020002\n"
               "E12,KATE,KING,1980-11-11,900020002\n"
               "E13,LENA,LOPEZ,1975-12-12,900030003\n"
               "E14,LENA,LOPEZ,1975-12-12,900030003\n"
               "E15,OTTO,ORR,1955-05-15,900030004\n"
               "E16,OTTO,ORR,1955-05-15,900030004\n");
    write_file("payments.csv",
               "id,enrollment,paid_on,amount\n"
               "P1,B1,2020-02-03,100.00\n"
               "P2,B1,2020-03-15,100.00\n" /* the day of death: not after */
               "P3,B1,2020-04-03,100.50\n"
               "P4,B1,2020-05-03,100.5\n"
               "P5,B2,2019-07-03,200.00\n"
               "P6,B3,2016-01-03,300.00\n"
               "P7,B3,2016-02-03,300.00\n"
               "P8,B4,2018-06-03,400.00\n" /* within the year of death: not after it */
               "P9,B4,2019-01-03,400.00\n"
               "P10,B5a,2020-06-03,10.00\n"
               "P11,B6a,2020-06-03,10.00\n"
               "P12,B9,2017-02-03,90.00\n"
               "P13,NOSUCH,2020-01-03,1.00\n" /* orphan */
               "P14,B1,2020-06-03,ten\n"      /* rejected: amount */
               "P15,B1,,100.00\n"              /* undated */
               "P16,B1,2020-07-03\n");        /* rejected: fields */
    write_file("earnings.csv",
               "id,earner,year\n"
               "F1,E3,2017\n"
               "F2,E3,2018\n"
               "F3,E8,2019\n");
}

typedef struct fixture {
    dt_config *cfg;
    pl_ctx e;
    dt_error err;
    clu_result clu;
    fnd_events ev;
    fnd_result r;
    fs_model model;
} fixture;

static uint32_t rec(const fixture *x, const char *source, const char *id)
{
    for (uint32_t i = 0; i < x->e.table.n_recs; i++)
        if (!strcmp(pl_source_name(&x->e, i), source) &&
            !strcmp(cmp_record_id(&x->e.table, i), id))
            return i;
    fail_msg("no record %s:%s", source, id);
    return 0;
}

/* Joins b's entity into a's with a link of probability p. */
static void join(fixture *x, const char *sa, const char *a, const char *sb, const char *b,
                 double p)
{
    uint32_t ra = rec(x, sa, a), rb = rec(x, sb, b);
    uint32_t ea = x->clu.entity[ra], eb = x->clu.entity[rb], name = ea < eb ? ea : eb;
    for (uint32_t i = 0; i < x->e.table.n_recs; i++)
        if (x->clu.entity[i] == ea || x->clu.entity[i] == eb) x->clu.entity[i] = name;
    x->clu.joins[x->clu.n_joins++] = (clu_link){ra, rb, p, NULL};
}

static void load(fixture *x, const char *findings)
{
    char text[4096];
    snprintf(text, sizeof text, k_config, findings);
    assert_int_equal(cfg_parse(text, strlen(text), "test.yaml", g_dir, &x->cfg, &x->err), DT_OK);
    assert_int_equal(pl_init(&x->e, x->cfg, &x->err), DT_OK);
    x->e.n_threads = 1;
    assert_int_equal(pl_load(&x->e), DT_OK);
    size_t n = x->e.table.n_recs;
    x->clu.entity = dt_malloc(n * sizeof *x->clu.entity);
    x->clu.joins = dt_malloc(n * sizeof *x->clu.joins);
    for (uint32_t i = 0; i < n; i++) x->clu.entity[i] = i;
    /* A model that calls agreement a match, as training would: exact is
     * 95 times likelier for a match, else 20 times likelier for two people. */
    assert_int_equal(fs_model_init(&x->model, x->cfg), DT_OK);
    for (size_t c = 0; c < x->model.n_comp; c++) {
        x->model.comps[c].m[1] = 0.95;
        x->model.comps[c].u[1] = 0.01;
        x->model.comps[c].m[2] = 0.05;
        x->model.comps[c].u[2] = 0.99;
    }
    x->model.lambda = 0.01;
    x->e.model = &x->model;
}

/* As dt_link_findings_run does: events kept whole only around a death;
 * keep_all: every event kept. */
static void run_keeping(fixture *x, int keep_all)
{
    pl_linked l = {.e = &x->e, .clu = &x->clu, .out_dir = g_dir};
    uint8_t *keep = NULL;
    if (!keep_all) assert_int_equal(fnd_keep_records(&l, &keep), DT_OK);
    assert_int_equal(fnd_events_read(&x->e, keep, &x->ev), DT_OK);
    dt_free(keep);
    assert_int_equal(fnd_run_rules(&l, &x->ev, &x->r), DT_OK);
}

static void run(fixture *x)
{
    run_keeping(x, 0);
}

static void fini(fixture *x)
{
    fnd_result_fini(&x->r);
    fnd_events_fini(&x->ev);
    fs_model_fini(&x->model);
    dt_free(x->clu.entity);
    dt_free(x->clu.joins);
    pl_fini(&x->e);
    dt_config_free(x->cfg);
}

/* The finding of `rule` whose records include source:id, or NULL. */
static const fnd_finding *find(const fixture *x, int rule, const char *source, const char *id)
{
    uint32_t r = rec(x, source, id);
    for (size_t i = 0; i < x->r.n; i++) {
        const fnd_finding *f = &x->r.items[i];
        for (size_t k = 0; f->rule == rule && k < f->n_recs; k++)
            if (f->recs[k] == r) return f;
    }
    return NULL;
}

static void link_all(fixture *x)
{
    join(x, "deaths", "D1", "benefits", "B1", 0.99);
    join(x, "deaths", "D2", "benefits", "B2", 0.6);
    join(x, "deaths", "D3", "earners", "E3", 0.97);
    join(x, "deaths", "D3", "benefits", "B3", 0.95);
    join(x, "deaths", "D4", "benefits", "B4", 0.99);
    join(x, "benefits", "B5a", "benefits", "B5b", 0.98);
    join(x, "benefits", "B6a", "benefits", "B6b", 0.98);
    join(x, "benefits", "B7a", "benefits", "B7b", 0.98);
    join(x, "deaths", "D8", "earners", "E8", 0.97); /* twins the linkage joined */
    join(x, "deaths", "D9", "benefits", "B9", 0.95);
    join(x, "earners", "E10", "benefits", "B10", 0.99);
    join(x, "earners", "E13", "earners", "E14", 0.99);
    join(x, "earners", "E15", "earners", "E16", 0.99);
}

/* The bench-like case: every link of link_all, then the rules. */
static void load_linked(fixture *x)
{
    load(x, k_findings);
    link_all(x);
    run(x);
}

static void test_payment_after_death(void **state)
{
    (void)state;
    fixture x = {0};
    load_linked(&x);
    const fnd_finding *f = find(&x, FND_PAYMENT_AFTER_DEATH, "benefits", "B1");
    assert_non_null(f);
    assert_int_equal(f->n_events, 2); /* P3, P4: not P1, nor P2 on the day of death */
    assert_int_equal(f->cents, 20100);
    assert_false(f->needs_review);
    assert_true(f->confidence > 0.98);
    assert_int_equal(f->n_links, 1);
    f = find(&x, FND_PAYMENT_AFTER_DEATH, "benefits", "B2");
    assert_non_null(f);
    assert_true(f->needs_review); /* tied by a link of 0.6 */
    assert_true(fabs(f->confidence - 0.6) < 1e-12);
    f = find(&x, FND_PAYMENT_AFTER_DEATH, "benefits", "B4");
    assert_non_null(f);
    assert_int_equal(f->n_events, 1); /* 2019 only: the death is "some day in 2018" */
    assert_int_equal(f->day, FND_NO_DAY);
    f = find(&x, FND_PAYMENT_AFTER_DEATH, "benefits", "B9");
    assert_non_null(f);
    assert_int_equal(f->review_why, FND_WHY_DISAGREES); /* IRIS's death, OLGA's enrollment */
    assert_true(f->needs_review);
    fini(&x);
}

static void test_death_contradicted(void **state)
{
    (void)state;
    fixture x = {0};
    load_linked(&x);
    const fnd_finding *f = find(&x, FND_DEATH_CONTRADICTED, "deaths", "D3");
    assert_non_null(f);
    assert_int_equal(f->n_events, 2); /* filings for 2017 and 2018 */
    assert_int_equal(f->n_withheld, 2);
    assert_int_equal(f->withheld_cents, 60000);
    assert_false(f->needs_review);
    /* the payments after a contradicted death are not called improper */
    assert_null(find(&x, FND_PAYMENT_AFTER_DEATH, "benefits", "B3"));
    assert_int_equal(x.r.n_withheld, 1); /* one enrollment's finding not raised */
    /* nor does a twin's filing contradict the other twin's death */
    assert_null(find(&x, FND_DEATH_CONTRADICTED, "deaths", "D8"));
    assert_int_equal(x.r.per_rule[FND_DEATH_CONTRADICTED], 1);
    fini(&x);
}

static void test_duplicate_enrollment(void **state)
{
    (void)state;
    fixture x = {0};
    load_linked(&x);
    const fnd_finding *f = find(&x, FND_DUPLICATE_ENROLLMENT, "benefits", "B5a");
    assert_non_null(f);
    assert_int_equal(f->n_recs, 2);
    assert_null(find(&x, FND_DUPLICATE_ENROLLMENT, "benefits", "B6a")); /* one after the other */
    assert_null(find(&x, FND_DUPLICATE_ENROLLMENT, "benefits", "B7a")); /* two programs */
    assert_int_equal(x.r.per_rule[FND_DUPLICATE_ENROLLMENT], 1);
    fini(&x);
}

static void test_shared_identifier(void **state)
{
    (void)state;
    fixture x = {0};
    load_linked(&x);
    const fnd_finding *f = find(&x, FND_SHARED_IDENTIFIER, "earners", "E9");
    assert_non_null(f);
    assert_non_null(find(&x, FND_SHARED_IDENTIFIER, "earners", "E10"));
    assert_true(f->p_one_person < 0.5);
    assert_int_equal(f->review_why, FND_WHY_ONE_RECORD); /* JOHN SMITH has it on one record */
    /* KATE KING twice, split by the linkage: one person, no finding */
    assert_null(find(&x, FND_SHARED_IDENTIFIER, "earners", "E11"));
    /* LENA LOPEZ's benefits record holds OTTO ORR's SSN, one digit from her
     * own (E13, E14): a typo of hers, not two people sharing one */
    assert_null(find(&x, FND_SHARED_IDENTIFIER, "benefits", "B13"));
    assert_int_equal(x.r.n_typos, 1);
    assert_int_equal(x.r.per_rule[FND_SHARED_IDENTIFIER], 1);
    fini(&x);
}

static void test_event_rows_counted(void **state)
{
    (void)state;
    fixture x = {0};
    load(&x, k_findings);
    run_keeping(&x, 1);
    assert_int_equal(x.ev.n_read, 19);
    assert_int_equal(x.ev.n_orphans, 1);
    assert_int_equal(x.ev.n_rejected, 2);
    assert_int_equal(x.ev.n_undated, 1);
    assert_int_equal(x.ev.n_used, 15);
    assert_int_equal(x.ev.n, 15);
    /* one record's events are in date order */
    uint32_t b1 = rec(&x, "benefits", "B1");
    for (uint32_t i = x.ev.first[b1] + 1; i < x.ev.first[b1 + 1]; i++)
        assert_true(x.ev.lo[i - 1] <= x.ev.lo[i]);
    assert_int_equal(x.ev.first[b1 + 1] - x.ev.first[b1], 4);
    assert_int_equal(x.ev.last_pay[b1], x.ev.lo[x.ev.first[b1 + 1] - 1]); /* 2020-05-03 */
    fini(&x);
}

/* Around a death every event is kept whole; elsewhere a record keeps only
 * its last payment, and the rules find the same. A repeated id is
 * rejected wherever it is. */
static void test_events_kept_around_deaths(void **state)
{
    (void)state;
    fixture x = {0};
    load_linked(&x);
    uint32_t b1 = rec(&x, "benefits", "B1"), b5 = rec(&x, "benefits", "B5a");
    assert_int_equal(x.ev.first[b1 + 1] - x.ev.first[b1], 4); /* D1's entity */
    assert_int_equal(x.ev.first[b5 + 1] - x.ev.first[b5], 0); /* no death */
    assert_true(x.ev.last_pay[b5] != FND_NO_DAY);
    assert_int_equal(x.ev.n_used, 15);
    assert_true(x.ev.n < x.ev.n_used);
    assert_non_null(find(&x, FND_DUPLICATE_ENROLLMENT, "benefits", "B5a"));
    fini(&x);
    write_file("earnings.csv", "id,earner,year\nF1,E3,2017\nF2,E3,2018\nF1,E9,2019\n");
    fixture y = {0};
    load_linked(&y);
    assert_int_equal(y.ev.n_rejected, 3); /* P14, P16, and F1 again (E9: no death) */
    fini(&y);
    write_file("earnings.csv", "id,earner,year\nF1,E3,2017\nF2,E3,2018\nF3,E8,2019\n");
}

static void test_rules_that_cannot_run(void **state)
{
    (void)state;
    fixture x = {0};
    load(&x, "findings: {identifier: {field: ssn, min_length: 9}}\n");
    link_all(&x);
    run(&x);
    assert_false(x.r.ran[FND_PAYMENT_AFTER_DEATH]);
    assert_false(x.r.ran[FND_DEATH_CONTRADICTED]);
    assert_false(x.r.ran[FND_DUPLICATE_ENROLLMENT]);
    assert_true(x.r.ran[FND_SHARED_IDENTIFIER]);
    assert_non_null(strstr(x.r.why_not[FND_PAYMENT_AFTER_DEATH], "death is not declared"));
    assert_int_equal(x.r.per_rule[FND_PAYMENT_AFTER_DEATH], 0);
    fini(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payment_after_death),
        cmocka_unit_test(test_death_contradicted),
        cmocka_unit_test(test_duplicate_enrollment),
        cmocka_unit_test(test_shared_identifier),
        cmocka_unit_test(test_event_rows_counted),
        cmocka_unit_test(test_events_kept_around_deaths),
        cmocka_unit_test(test_rules_that_cannot_run),
    };
    int (*setup)(void **) = tmpdir_setup;
    if (setup(NULL) != 0) return 1;
    write_data();
    int rc = cmocka_run_group_tests(tests, NULL, tmpdir_teardown);
    return rc;
}
