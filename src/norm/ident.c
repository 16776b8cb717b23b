/*
 * ident.c — identifiers (SSN-like numbers), postcodes, phone numbers, sex
 * codes and street addresses: the short structured fields of a person
 * record, each reduced to one canonical spelling before comparison.
 *
 * Invariants:
 *   1. On DT_EINPUT the caller's buffer is left as it was (norm.h allows
 *      "unspecified"; restoring it costs nothing and avoids surprises).
 *   2. Only ASCII digits and letters are significant in identifiers,
 *      postcodes and phones; every other byte is formatting.
 *   3. Addresses are folded as text (fold.c), then each word found in the
 *      street-word table is replaced by its one abbreviation, so "Street",
 *      "St." and "STR" all read "st".
 */
#include <stdlib.h>
#include <string.h>

#include "norm.h"

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Restores out to len0 and returns code (invariant 1). */
static int restore(util_buf *out, size_t len0, int code)
{
    if (out->cap) out->data[out->len = len0] = '\0';
    return code;
}

/* ---- identifiers -------------------------------------------------- */

/* US SSA rules for a 9-digit SSN: area (3) not 000 or 666, group (2) not
 * 00, serial (4) not 0000. */
static int ssn_ok(const char *d, size_t n)
{
    if (n != 9) return 0;
    if (memcmp(d, "000", 3) == 0 || memcmp(d, "666", 3) == 0) return 0;
    if (memcmp(d + 3, "00", 2) == 0) return 0;
    return memcmp(d + 5, "0000", 4) != 0;
}

static int all_same(const char *d, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (d[i] != d[0]) return 0;
    return 1;
}

static int ident_ok(const char *d, size_t n, const norm_ident_rules *r)
{
    if (n == 0) return 0;
    if (!r) return 1;
    if (r->min_len > 0 && n < (size_t)r->min_len) return 0;
    if (r->max_len > 0 && n > (size_t)r->max_len) return 0;
    if (r->ssn && !ssn_ok(d, n)) return 0;
    return !(r->reject_repeated && n > 1 && all_same(d, n));
}

int norm_ident(util_buf *out, const char *s, size_t n, const norm_ident_rules *rules)
{
    size_t len0 = out->len;
    DT_TRY(util_buf_reserve(out, n));
    for (size_t i = 0; i < n; i++)
        if (is_digit(s[i])) out->data[out->len++] = s[i];
    out->data[out->len] = '\0';
    if (!ident_ok(out->data + len0, out->len - len0, rules)) return restore(out, len0, DT_EINPUT);
    return DT_OK;
}

/* ---- postcodes and phones ----------------------------------------- */

int norm_postcode(util_buf *out, const char *s, size_t n, int max_len)
{
    size_t len0 = out->len;
    DT_TRY(util_buf_reserve(out, n));
    for (size_t i = 0; i < n; i++) {
        if (max_len > 0 && out->len - len0 == (size_t)max_len) break;
        char c = s[i];
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        if (is_digit(c) || (c >= 'A' && c <= 'Z')) out->data[out->len++] = c;
    }
    out->data[out->len] = '\0';
    return out->len == len0 ? restore(out, len0, DT_EINPUT) : DT_OK;
}

/* Phones: digits up to the first letter after a digit, so an extension
 * ("x12", "ext. 12") does not lengthen the number. */
enum { PHONE_MIN = 7, PHONE_KEEP = 10 };

int norm_phone(util_buf *out, const char *s, size_t n)
{
    char digits[64];
    size_t n_digits = 0, n_seen = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (is_digit(c)) {
            /* keep the last digits only: slide once the window is full */
            if (n_digits == sizeof digits) {
                memmove(digits, digits + 1, sizeof digits - 1);
                n_digits--;
            }
            digits[n_digits++] = c;
            n_seen++;
        } else if (n_seen && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            break;
        }
    }
    if (n_digits < PHONE_MIN) return DT_EINPUT;
    size_t keep = n_digits > PHONE_KEEP ? PHONE_KEEP : n_digits;
    return util_buf_append(out, digits + n_digits - keep, keep);
}

/* ---- sex ---------------------------------------------------------- */

/* Folded spellings, English, Spanish, French and German, plus the
 * one-letter codes in the header. */
static const char *const MALE[] = {
    "h", "hombre", "homme", "m", "male", "man", "mann", "mannlich", "masc", "masculin",
    "masculine", "masculino", "varon",
};
static const char *const FEMALE[] = {
    "f", "fem", "female", "feminin", "feminine", "femenino", "femme", "frau", "mujer",
    "w", "weiblich", "woman",
};

static int in_list(const char *w, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(w, list[i]) == 0) return 1;
    return 0;
}

int norm_sex(util_buf *out, const char *s, size_t n)
{
    util_buf tmp = {0};
    DT_TRY(norm_fold(&tmp, s, n, NORM_FOLD_TEXT));
    const char *v = tmp.data ? tmp.data : "";
    int rc = DT_EINPUT;
    if (in_list(v, MALE, DT_ARRAY_LEN(MALE))) rc = util_buf_putc(out, 'm');
    else if (in_list(v, FEMALE, DT_ARRAY_LEN(FEMALE))) rc = util_buf_putc(out, 'f');
    util_buf_fini(&tmp);
    return rc;
}

/* ---- addresses ---------------------------------------------------- */

/* Street words and their abbreviation, sorted by word (bsearch). Sources:
 * USPS Publication 28 suffixes, Australia Post and Royal Mail usage; where
 * they differ, the Commonwealth form (terrace -> tce). Abbreviations map to
 * themselves only when another spelling exists, e.g. "str" and "st". */
typedef struct street_word {
    const char *word, *abbr;
} street_word;

static const street_word STREET_WORDS[] = {
    {"alley", "aly"},      {"annex", "anx"},         {"apartment", "apt"},
    {"arcade", "arc"},     {"av", "ave"},            {"aven", "ave"},
    {"avenue", "ave"},     {"avn", "ave"},           {"beach", "bch"},
    {"boul", "blvd"},      {"boulevard", "blvd"},    {"boulv", "blvd"},
    {"building", "bldg"},  {"bypass", "byp"},        {"causeway", "cswy"},
    {"center", "ctr"},     {"centre", "ctr"},        {"circle", "cir"},
    {"circuit", "cct"},    {"close", "cl"},          {"corner", "cnr"},
    {"court", "ct"},       {"cove", "cv"},           {"cres", "cres"},
    {"crescent", "cres"},  {"cresent", "cres"},      {"crsnt", "cres"},
    {"department", "dept"}, {"drive", "dr"},         {"drv", "dr"},
    {"east", "e"},         {"esplanade", "esp"},     {"expressway", "expy"},
    {"floor", "fl"},       {"freeway", "fwy"},       {"garden", "gdn"},
    {"gardens", "gdns"},   {"grove", "gr"},          {"heights", "hts"},
    {"highway", "hwy"},    {"hiway", "hwy"},         {"junction", "jct"},
    {"lane", "ln"},        {"level", "lvl"},         {"mount", "mt"},
    {"mountain", "mtn"},   {"north", "n"},           {"northeast", "ne"},
    {"northwest", "nw"},   {"number", "no"},         {"parade", "pde"},
    {"park", "pk"},        {"parkway", "pkwy"},      {"place", "pl"},
    {"plaza", "plz"},      {"point", "pt"},          {"road", "rd"},
    {"room", "rm"},        {"route", "rte"},         {"saint", "st"},
    {"south", "s"},        {"southeast", "se"},      {"southwest", "sw"},
    {"square", "sq"},      {"station", "sta"},       {"str", "st"},
    {"street", "st"},      {"suite", "ste"},         {"terr", "tce"},
    {"terrace", "tce"},    {"trail", "trl"},         {"turnpike", "tpke"},
    {"west", "w"},
};

static int street_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const street_word *)elem)->word);
}

/* The word's abbreviation, or the word itself. */
static const char *abbreviate(const char *w)
{
    const street_word *hit = bsearch(w, STREET_WORDS, DT_ARRAY_LEN(STREET_WORDS),
                                     sizeof STREET_WORDS[0], street_cmp);
    return hit ? hit->abbr : w;
}

/* Appends the words of folded text f (len bytes, single spaces) to out,
 * abbreviated; "p o" (from "P.O. Box") becomes "po". IN/OUT: f, whose
 * spaces are overwritten with NULs. */
static int put_abbreviated(util_buf *out, char *f, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (f[i] == ' ') f[i] = '\0';
    const char *end = f + len;
    for (const char *w = f; w < end;) {
        const char *next = w + strlen(w) + 1;
        const char *a = abbreviate(w);
        if (strcmp(w, "p") == 0 && next < end && strcmp(next, "o") == 0) {
            a = "po";
            next += 2;
        }
        if (w != f) DT_TRY(util_buf_putc(out, ' '));
        DT_TRY(util_buf_append(out, a, strlen(a)));
        w = next;
    }
    return DT_OK;
}

int norm_address(util_buf *out, const char *s, size_t n)
{
    util_buf tmp = {0};
    size_t len0 = out->len;
    int rc = norm_fold(&tmp, s, n, NORM_FOLD_TEXT);
    if (rc == DT_OK && tmp.len) rc = put_abbreviated(out, tmp.data, tmp.len);
    util_buf_fini(&tmp);
    return rc < 0 ? restore(out, len0, rc) : rc;
}
