/* Unit tests for src/norm/name.c: splitting one-column names into given,
 * middle and surname, across orders, particles, titles and cultures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "norm/norm.h"

static const char *str(const util_buf *b)
{
    return b->data ? b->data : "";
}

static void check_split(const char *s, norm_name_order order, const char *given,
                        const char *middle, const char *surname)
{
    util_buf g = {0}, m = {0}, sur = {0};
    assert_int_equal(norm_name_split(s, strlen(s), order, &g, &m, &sur), DT_OK);
    if (strcmp(str(&g), given) || strcmp(str(&m), middle) || strcmp(str(&sur), surname))
        fail_msg("split(\"%s\") = [%s|%s|%s], want [%s|%s|%s]", s, str(&g), str(&m),
                 str(&sur), given, middle, surname);
    util_buf_fini(&g);
    util_buf_fini(&m);
    util_buf_fini(&sur);
}

#define FL(s, g, m, sur) check_split((s), NORM_NAME_FIRST_LAST, (g), (m), (sur))
#define LC(s, g, m, sur) check_split((s), NORM_NAME_LAST_COMMA_FIRST, (g), (m), (sur))

static void test_first_last(void **state)
{
    (void)state;
    FL("John Smith", "john", "", "smith");
    FL("Mary Ann Elizabeth Smith", "mary", "ann elizabeth", "smith");
    FL("José Müller", "jose", "", "muller");
    FL("  JOHN   A.  SMITH ", "john", "a", "smith");
    FL("Mary-Jane Smith", "mary jane", "", "smith"); /* hyphenated words stay whole */
}

static void test_particles(void **state)
{
    (void)state;
    FL("Juan de la Cruz", "juan", "", "de la cruz");
    FL("Juan Carlos de la Cruz", "juan", "carlos", "de la cruz");
    FL("Ludwig van der Berg", "ludwig", "", "van der berg");
    FL("Otto von Bismarck", "otto", "", "von bismarck");
    FL("Otto von dem Knesebeck", "otto", "", "von dem knesebeck");
    FL("Ahmad bin Ali", "ahmad", "", "bin ali");
    FL("Leonardo da Vinci", "leonardo", "", "da vinci");
    FL("Maria dos Santos", "maria", "", "dos santos");
    FL("Seán Ó Briain", "sean", "", "o briain");
    FL("Van Morrison", "van", "", "morrison"); /* the given name is never a particle */
    FL("De Vries", "de", "", "vries");
}

static void test_apostrophes_and_hyphens(void **state)
{
    (void)state;
    FL("Patrick O'Brien", "patrick", "", "obrien");
    FL("Maria D’Angelo", "maria", "", "dangelo");
    FL("María García-López", "maria", "", "garcia lopez");
    /* Ambiguous on purpose (name.c decision 2): a second surname without a
     * hyphen reads as a middle name. */
    FL("María García López", "maria", "garcia", "lopez");
}

static void test_last_comma_first(void **state)
{
    (void)state;
    LC("GARCÍA LÓPEZ, María José", "maria", "jose", "garcia lopez");
    LC("de la Cruz, Juan Carlos", "juan", "carlos", "de la cruz");
    LC("Smith, John", "john", "", "smith");
    LC("Smith,John Paul George", "john", "paul george", "smith");
    LC("O'Brien, Patrick", "patrick", "", "obrien");
    LC("Smith Jr., John", "john", "", "smith");
    LC("Smith, Dr. John", "john", "", "smith");
    LC("Smith,", "", "", "smith");
    LC(", John", "john", "", "");
    /* no comma: falls back to FIRST_LAST */
    LC("John Smith", "john", "", "smith");
    /* a comma in FIRST_LAST input also means "Last, First" */
    FL("Nguyen, Van An", "van", "an", "nguyen");
}

static void test_titles_suffixes(void **state)
{
    (void)state;
    FL("Dr. John Smith", "john", "", "smith");
    FL("Mrs Mary Smith", "mary", "", "smith");
    FL("John Smith Jr.", "john", "", "smith");
    FL("John Smith, Jr.", "john", "", "smith"); /* comma then only a suffix */
    FL("Robert Downey III", "robert", "", "downey");
    FL("Mr Smith", "", "", "smith");
    FL("Dr", "", "", "dr"); /* nothing else left: keep it */
}

static void test_lone_and_empty(void **state)
{
    (void)state;
    FL("Madonna", "", "", "madonna"); /* name.c decision 1 */
    FL("", "", "", "");
    FL("  - , ", "", "", "");
    LC("Cher", "", "", "cher");
}

static void test_vietnamese(void **state)
{
    (void)state;
    FL("An Van Nguyen", "an", "van", "nguyen");
    FL("Nguyễn Văn An", "nguyen", "van", "an");
    FL("Mai van der Berg", "mai", "", "van der berg");
}

static void test_other_scripts_and_latin1(void **state)
{
    (void)state;
    FL("Иван Петрович Сидоров", "иван", "петрович", "сидоров");
    FL("Jos\xe9 Mu\xf1oz", "jose", "", "munoz"); /* Latin-1 bytes */
    FL("Mary\xc2\xa0" "Smith", "mary", "", "smith"); /* NBSP separates words */
}

static void test_appends_and_oom(void **state)
{
    (void)state;
    util_buf g = {0}, m = {0}, s = {0};
    assert_int_equal(util_buf_append(&g, "x:", 2), DT_OK);
    assert_int_equal(norm_name_split("Ann Lee", 7, NORM_NAME_FIRST_LAST, &g, &m, &s), DT_OK);
    assert_string_equal(g.data, "x:ann");
    assert_string_equal(s.data, "lee");
    util_fail_after(1);
    int rc = norm_name_split("Bob Ray Stone", 13, NORM_NAME_FIRST_LAST, &g, &m, &s);
    util_fail_after(0);
    assert_int_equal(rc, DT_ENOMEM);
    assert_string_equal(g.data, "x:ann");
    assert_string_equal(s.data, "lee");
    util_buf_fini(&g);
    util_buf_fini(&m);
    util_buf_fini(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_last),
        cmocka_unit_test(test_particles),
        cmocka_unit_test(test_apostrophes_and_hyphens),
        cmocka_unit_test(test_last_comma_first),
        cmocka_unit_test(test_titles_suffixes),
        cmocka_unit_test(test_lone_and_empty),
        cmocka_unit_test(test_vietnamese),
        cmocka_unit_test(test_other_scripts_and_latin1),
        cmocka_unit_test(test_appends_and_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
