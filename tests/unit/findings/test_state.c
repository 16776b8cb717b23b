/* Tests for the due-process states of a finding (src/findings/state.c):
 * every allowed transition, every refused one (the state unchanged, the
 * error naming what is allowed), the fields a step must carry, and the
 * contest window: contested only inside it, final only after it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "findings/findings.h"

enum { DAY = 86400, T0 = 1780000000 };

static fnd_step step(fnd_action a, int64_t at)
{
    return (fnd_step){.action = a, .by = "r.lee", .reason = "checked the payments ledger",
                      .evidence_shown = 1, .at = at};
}

static void apply_ok(fnd_status *s, fnd_action a, int64_t at, fnd_state want)
{
    dt_error err;
    fnd_step st = step(a, at);
    assert_int_equal(fnd_apply(s, &st, &err), DT_OK);
    assert_int_equal(s->state, want);
}

static void apply_refused(fnd_status *s, fnd_step st, int code, const char *mention)
{
    dt_error err;
    fnd_status before = *s;
    assert_int_equal(fnd_apply(s, &st, &err), code);
    assert_int_equal(err.code, code);
    assert_memory_equal(s, &before, sizeof before);
    if (!strstr(err.msg, mention)) fail_msg("\"%s\" does not mention \"%s\"", err.msg, mention);
}

static void test_the_way_to_final(void **state)
{
    (void)state;
    fnd_status s = {.state = FND_S_NEEDS_REVIEW, .contest_days = 30};
    apply_ok(&s, FND_A_VERIFY, T0, FND_S_VERIFIED);
    apply_ok(&s, FND_A_NOTIFY, T0 + DAY, FND_S_NOTIFIED);
    assert_int_equal(s.notified_at, T0 + DAY);
    assert_int_equal(fnd_final_from(&s), T0 + 31 * DAY);
    apply_refused(&s, step(FND_A_FINALIZE, T0 + 31 * DAY - 1), DT_ESTATE, "1 seconds left");
    apply_ok(&s, FND_A_FINALIZE, T0 + 31 * DAY, FND_S_FINAL);
    /* final ends it, but for evidence that no longer holds */
    apply_refused(&s, step(FND_A_VERIFY, T0 + 40 * DAY), DT_ESTATE,
                  "cannot verify a finding that is final (it allows supersede)");
    apply_ok(&s, FND_A_SUPERSEDE, T0 + 41 * DAY, FND_S_SUPERSEDED);
    apply_refused(&s, step(FND_A_SUPERSEDE, T0 + 42 * DAY), DT_ESTATE, "where it ends");
}

static void test_contest(void **state)
{
    (void)state;
    fnd_status s = {.state = FND_S_OPEN, .contest_days = 30};
    apply_ok(&s, FND_A_VERIFY, T0, FND_S_VERIFIED);
    apply_ok(&s, FND_A_NOTIFY, T0, FND_S_NOTIFIED);
    apply_ok(&s, FND_A_CONTEST, T0 + 30 * DAY - 1, FND_S_CONTESTED);
    apply_refused(&s, step(FND_A_FINALIZE, T0 + 60 * DAY), DT_ESTATE, "cannot finalize");
    apply_refused(&s, step(FND_A_NOTIFY, T0 + 60 * DAY), DT_ESTATE,
                  "it allows verify, dismiss, supersede");
    apply_ok(&s, FND_A_DISMISS, T0 + 61 * DAY, FND_S_DISMISSED);
    apply_refused(&s, step(FND_A_VERIFY, T0 + 62 * DAY), DT_ESTATE, "where it ends");

    fnd_status late = {.state = FND_S_NOTIFIED, .notified_at = T0, .contest_days = 30};
    apply_refused(&late, step(FND_A_CONTEST, T0 + 30 * DAY), DT_ESTATE, "to contest ended");
    fnd_status again = {.state = FND_S_CONTESTED, .notified_at = T0, .contest_days = 30};
    apply_ok(&again, FND_A_VERIFY, T0 + DAY, FND_S_VERIFIED); /* and may be notified anew */
    apply_ok(&again, FND_A_NOTIFY, T0 + 2 * DAY, FND_S_NOTIFIED);
    assert_int_equal(again.notified_at, T0 + 2 * DAY);
}

static void test_every_refusal(void **state)
{
    (void)state;
    /* the table, state by state: what each refuses leaves it as it was */
    static const char *const allowed[FND_N_STATES] = {
        "vds", "vds", "ns", "", "cfs", "vds", "s", "",
    };
    static const char k_letter[FND_N_ACTIONS] = {'v', 'd', 'n', 'c', 'f', 's'};
    for (int st = 0; st < FND_N_STATES; st++)
        for (int a = 0; a < FND_N_ACTIONS; a++) {
            int want = strchr(allowed[st], k_letter[a]) != NULL;
            assert_int_equal(fnd_allows((fnd_state)st, (fnd_action)a), want);
            if (want) continue;
            fnd_status s = {.state = (fnd_state)st, .notified_at = T0, .contest_days = 30};
            apply_refused(&s, step((fnd_action)a, T0 + DAY), DT_ESTATE, "cannot");
        }
}

static void test_what_a_step_needs(void **state)
{
    (void)state;
    fnd_status s = {.state = FND_S_OPEN, .contest_days = 30};
    fnd_step st = step(FND_A_VERIFY, T0);
    st.by = NULL;
    apply_refused(&s, st, DT_EINVAL, "needs by");
    st = step(FND_A_VERIFY, T0);
    st.reason = "";
    apply_refused(&s, st, DT_EINVAL, "needs reason");
    st = step(FND_A_DISMISS, T0);
    st.evidence_shown = 0;
    apply_refused(&s, st, DT_ESTATE, "the evidence was not shown to r.lee first");
    st = step(FND_A_VERIFY, 0);
    apply_refused(&s, st, DT_EINVAL, "needs at");
    /* notify and finalize need no reason; they do need a name */
    fnd_status v = {.state = FND_S_VERIFIED, .contest_days = 30};
    st = step(FND_A_NOTIFY, T0);
    st.reason = NULL;
    dt_error err;
    assert_int_equal(fnd_apply(&v, &st, &err), DT_OK);
    assert_string_equal(fnd_state_names[v.state], "notified");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_way_to_final),
        cmocka_unit_test(test_contest),
        cmocka_unit_test(test_every_refusal),
        cmocka_unit_test(test_what_a_step_needs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
