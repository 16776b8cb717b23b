/* Unit tests for src/norm/nickname.c: the bundled data/nicknames.tsv, and
 * small tables written to temporary files for the format's corner cases
 * and its errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "norm/norm.h"

#define NICKNAMES DT_SRC_ROOT "/data/nicknames.tsv"

/* Writes text to a fresh temporary file. OUT: path (at least 32 bytes). */
static void write_temp(char *path, const char *text)
{
    strcpy(path, "/tmp/dt_nick_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static norm_nicknames *load_text(const char *text)
{
    char path[64];
    write_temp(path, text);
    norm_nicknames *t = NULL;
    dt_error err = {0};
    int rc = norm_nick_load(path, &t, &err);
    unlink(path);
    if (rc != DT_OK) fail_msg("load failed: %s", err.msg);
    return t;
}

/* Loading text must fail with code at line (0: any). */
static void check_load_error(const char *text, int code, long line, const char *msg_part)
{
    char path[64];
    write_temp(path, text);
    static char dummy;
    norm_nicknames *const sentinel = (norm_nicknames *)&dummy;
    norm_nicknames *t = sentinel; /* out-parameters are written only on success */
    dt_error err = {0};
    int rc = norm_nick_load(path, &t, &err);
    unlink(path);
    assert_int_equal(rc, code);
    assert_ptr_equal(t, sentinel);
    if (line) assert_int_equal(err.line, line);
    if (!strstr(err.msg, msg_part)) fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg_part);
}

static void test_bundled_table(void **state)
{
    (void)state;
    norm_nicknames *t = NULL;
    dt_error err = {0};
    assert_int_equal(norm_nick_load(NICKNAMES, &t, &err), DT_OK);
    const char *same[][2] = {
        {"william", "bill"},   {"bill", "liam"},      {"william", "billy"},
        {"robert", "bob"},     {"bobby", "rob"},      {"margaret", "peggy"},
        {"meg", "maggie"},     {"elizabeth", "liz"},  {"beth", "libby"},
        {"betty", "eliza"},    {"francisco", "paco"}, {"pancho", "curro"},
        {"jose", "pepe"},      {"jesus", "chuy"},     {"guadalupe", "lupe"},
        {"dolores", "lola"},   {"concepcion", "concha"}, {"ignacio", "nacho"},
        {"enrique", "quique"}, {"manuel", "manolo"},  {"aleksandr", "sasha"},
        {"muhammad", "mohammed"}, {"mohamed", "muhammed"}, {"mohamad", "mohammad"},
        {"yusuf", "youssef"},  {"katherine", "kathryn"}, {"al", "albert"},
        {"al", "alfred"},      {"al", "alan"},        {"richard", "dick"},
        {"john", "jack"},      {"edward", "ted"},     {"ted", "theodore"},
    };
    for (size_t i = 0; i < DT_ARRAY_LEN(same); i++) {
        if (!norm_nick_equal(t, same[i][0], same[i][1]))
            fail_msg("%s and %s should be nicknames", same[i][0], same[i][1]);
        assert_true(norm_nick_equal(t, same[i][1], same[i][0])); /* symmetric */
    }
    const char *different[][2] = {
        {"william", "robert"}, {"bill", "bob"},     {"albert", "alfred"},
        {"jose", "joseph"},    {"yusuf", "joseph"}, {"mary", "margaret"},
        {"john", "jonathan"},  {"zzz", "william"},  {"ted", "dick"},
    };
    for (size_t i = 0; i < DT_ARRAY_LEN(different); i++) {
        if (norm_nick_equal(t, different[i][0], different[i][1]))
            fail_msg("%s and %s should not be nicknames", different[i][0], different[i][1]);
    }
    assert_true(norm_nick_equal(t, "zzz", "zzz")); /* equal strings, even if unknown */

    assert_string_equal(norm_nick_canonical(t, "bill"), "william");
    assert_string_equal(norm_nick_canonical(t, "william"), "william");
    assert_string_equal(norm_nick_canonical(t, "peggy"), "margaret");
    assert_string_equal(norm_nick_canonical(t, "paco"), "francisco");
    /* several groups: the formal name that sorts first */
    assert_string_equal(norm_nick_canonical(t, "al"), "alan");
    assert_string_equal(norm_nick_canonical(t, "ted"), "edmund");
    const char *unknown = "qwerty";
    assert_ptr_equal(norm_nick_canonical(t, unknown), unknown);
    norm_nick_free(t);
}

static void test_format_details(void **state)
{
    (void)state;
    norm_nicknames *t = load_text("# comment\n"
                                  "\n"
                                  "  \t \n"
                                  "JOSÉ\tPepe, Pepito ,,\r\n"
                                  "Zoë\tzo\n"
                                  "alpha\tshared\n"
                                  "beta\tshared,beta\n"
                                  "gamma\t\n" /* a group of one */
                                  "delta\tO'Dee");
    assert_true(norm_nick_equal(t, "jose", "pepe"));
    assert_true(norm_nick_equal(t, "pepito", "pepe"));
    assert_true(norm_nick_equal(t, "zoe", "zo"));
    assert_true(norm_nick_equal(t, "alpha", "shared"));
    assert_true(norm_nick_equal(t, "beta", "shared"));
    assert_false(norm_nick_equal(t, "alpha", "beta")); /* not transitive across groups */
    assert_true(norm_nick_equal(t, "delta", "odee"));
    assert_string_equal(norm_nick_canonical(t, "shared"), "alpha");
    assert_string_equal(norm_nick_canonical(t, "gamma"), "gamma");
    assert_string_equal(norm_nick_canonical(t, "pepe"), "jose");
    assert_false(norm_nick_equal(t, "pepe", "zo"));
    assert_false(norm_nick_equal(t, "gamma", "zo"));
    norm_nick_free(t);

    t = load_text(""); /* an empty table is valid */
    assert_false(norm_nick_equal(t, "a", "b"));
    assert_string_equal(norm_nick_canonical(t, "a"), "a");
    norm_nick_free(t);

    /* a NULL table knows no nicknames */
    assert_true(norm_nick_equal(NULL, "a", "a"));
    assert_false(norm_nick_equal(NULL, "a", "b"));
    assert_string_equal(norm_nick_canonical(NULL, "a"), "a");
    norm_nick_free(NULL);
}

static void test_errors(void **state)
{
    (void)state;
    check_load_error("a\tb\nno tab here\n", DT_EINPUT, 2, "expected");
    check_load_error("# c\n\n\t,x\n", DT_EINPUT, 3, "empty formal name");
    check_load_error("ok\tfine\nJos\xe9\tpepe\n", DT_EINPUT, 2, "invalid UTF-8");

    dt_error err = {0};
    norm_nicknames *t = NULL;
    assert_int_equal(norm_nick_load("/nonexistent/dir/nick.tsv", &t, &err), DT_EIO);
    assert_null(t);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/nick.tsv"));
}

/* A nickname file is read whole: one over the limit is refused before
 * it is, naming the file (a well-formed one, so only the size fails). */
static void test_size_limit(void **state)
{
    (void)state;
    char path[64];
    write_temp(path, "");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    static const char line[] = "william\tbill,will\n";
    for (size_t n = 0; n <= NORM_NICK_MAX_BYTES; n += sizeof line - 1) fputs(line, f);
    fclose(f);
    norm_nicknames *t = NULL;
    dt_error err = {0};
    int rc = norm_nick_load(path, &t, &err);
    unlink(path);
    assert_int_equal(rc, DT_ELIMIT);
    assert_null(t);
    char want[128];
    snprintf(want, sizeof want, "%s: over 8388608 bytes, the limit for a nickname file", path);
    assert_string_equal(err.msg, want);
    assert_string_equal(err.file, path);
}

static void test_oom(void **state)
{
    (void)state;
    /* Every allocation in turn fails; each must give DT_ENOMEM, no leak. */
    for (long k = 1;; k++) {
        norm_nicknames *t = NULL;
        util_fail_after(k);
        int rc = norm_nick_load(NICKNAMES, &t, NULL);
        util_fail_after(0);
        if (rc == DT_OK) {
            assert_true(norm_nick_equal(t, "bill", "william"));
            norm_nick_free(t);
            break;
        }
        assert_int_equal(rc, DT_ENOMEM);
        assert_null(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bundled_table),
        cmocka_unit_test(test_format_details),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
