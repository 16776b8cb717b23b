/*
 * state.c — the due-process states of a finding (findings.h), as the
 * Computer Matching Act asks of a match (5 U.S.C. 552a(p)): verified by a
 * person before anything is done, the person notified, and final only when
 * the time to contest has passed without a contest.
 *
 * Invariants:
 *   1. The only way to final is notified, then fnd_final_from() reached
 *      with no contest; the only way to notified is verified; the only way
 *      to verified is a named person, with a reason, who was shown the
 *      evidence.
 *   2. A refused step changes nothing and says why, naming what the state
 *      allows.
 *   3. Nothing leaves dismissed or superseded: a finding is never deleted,
 *      and a superseded one is made again, new, by a later run.
 */
#include <string.h>

#include "findings/findings.h"

const char *const fnd_state_names[FND_N_STATES] = {
    "needs-review", "open", "verified", "dismissed", "notified", "contested", "final",
    "superseded",
};
const char *const fnd_action_names[FND_N_ACTIONS] = {"verify",   "dismiss",  "notify",
                                                     "contest",  "finalize", "supersede"};

/* Per state, bit a: action a is allowed (timing aside). */
static const unsigned k_allowed[FND_N_STATES] = {
    [FND_S_NEEDS_REVIEW] = 1u << FND_A_VERIFY | 1u << FND_A_DISMISS | 1u << FND_A_SUPERSEDE,
    [FND_S_OPEN] = 1u << FND_A_VERIFY | 1u << FND_A_DISMISS | 1u << FND_A_SUPERSEDE,
    [FND_S_VERIFIED] = 1u << FND_A_NOTIFY | 1u << FND_A_SUPERSEDE,
    [FND_S_DISMISSED] = 0,
    [FND_S_NOTIFIED] = 1u << FND_A_CONTEST | 1u << FND_A_FINALIZE | 1u << FND_A_SUPERSEDE,
    [FND_S_CONTESTED] = 1u << FND_A_VERIFY | 1u << FND_A_DISMISS | 1u << FND_A_SUPERSEDE,
    [FND_S_FINAL] = 1u << FND_A_SUPERSEDE,
    [FND_S_SUPERSEDED] = 0,
};

static const fnd_state k_next[FND_N_ACTIONS] = {
    [FND_A_VERIFY] = FND_S_VERIFIED,   [FND_A_DISMISS] = FND_S_DISMISSED,
    [FND_A_NOTIFY] = FND_S_NOTIFIED,   [FND_A_CONTEST] = FND_S_CONTESTED,
    [FND_A_FINALIZE] = FND_S_FINAL,    [FND_A_SUPERSEDE] = FND_S_SUPERSEDED,
};

int fnd_allows(fnd_state state, fnd_action action)
{
    return state < FND_N_STATES && action < FND_N_ACTIONS && (k_allowed[state] >> action & 1);
}

int64_t fnd_final_from(const fnd_status *s)
{
    return s->notified_at + (int64_t)s->contest_days * 86400;
}

static void allowed_text(fnd_state state, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (int a = 0; a < FND_N_ACTIONS && n < cap; a++)
        if (fnd_allows(state, (fnd_action)a)) {
            int w = snprintf(out + n, cap - n, "%s%s", n ? ", " : "", fnd_action_names[a]);
            if (w > 0) n += (size_t)w;
        }
    if (!out[0]) snprintf(out, cap, "nothing: it is where it ends");
}

static int refuse(const fnd_status *s, const fnd_step *st, dt_error *err)
{
    char allowed[128];
    allowed_text(s->state, allowed, sizeof allowed);
    return dt_err_set(err, DT_ESTATE, "cannot %s a finding that is %s (it allows %s)",
                      fnd_action_names[st->action], fnd_state_names[s->state], allowed);
}

static int missing(const char *field, const fnd_step *st, dt_error *err)
{
    dt_err_set(err, DT_EINVAL, "%s needs %s", fnd_action_names[st->action], field);
    snprintf(err->field, sizeof err->field, "%s", field);
    return DT_EINVAL;
}

/* What a step must carry, whatever the state (invariant 1). */
static int check_fields(const fnd_step *st, dt_error *err)
{
    if (!st->by || !st->by[0]) return missing("by", st, err);
    int needs_reason = st->action == FND_A_VERIFY || st->action == FND_A_DISMISS ||
                       st->action == FND_A_CONTEST || st->action == FND_A_SUPERSEDE;
    if (needs_reason && (!st->reason || !st->reason[0])) return missing("reason", st, err);
    if ((st->action == FND_A_VERIFY || st->action == FND_A_DISMISS) && !st->evidence_shown)
        return dt_err_set(err, DT_ESTATE, "%s: the evidence was not shown to %s first",
                          fnd_action_names[st->action], st->by);
    if (st->at <= 0) return missing("at", st, err);
    return DT_OK;
}

/* The contest window: contested only inside it, final only after it. */
static int check_window(const fnd_status *s, const fnd_step *st, dt_error *err)
{
    int64_t from = fnd_final_from(s);
    if (st->action == FND_A_CONTEST && st->at >= from)
        return dt_err_set(err, DT_ESTATE, "the %d days to contest ended %lld seconds ago",
                          s->contest_days, (long long)(st->at - from));
    if (st->action == FND_A_FINALIZE && st->at < from)
        return dt_err_set(err, DT_ESTATE, "not final before the %d days to contest have passed "
                          "(%lld seconds left)", s->contest_days, (long long)(from - st->at));
    return DT_OK;
}

int fnd_apply(fnd_status *s, const fnd_step *st, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!s || !st || st->action >= FND_N_ACTIONS || s->state >= FND_N_STATES)
        return dt_err_set(err, DT_EINVAL, "fnd_apply: a status and a step are required");
    if (!fnd_allows(s->state, st->action)) return refuse(s, st, err);
    DT_TRY(check_fields(st, err));
    DT_TRY(check_window(s, st, err));
    if (st->action == FND_A_NOTIFY) s->notified_at = st->at;
    s->state = k_next[st->action];
    return DT_OK;
}
