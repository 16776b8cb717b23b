/*
 * date.c — dates of birth (and other dates) read by a per-field format
 * such as "YYYY-MM-DD" or "MM/DD/YYYY", into a norm_date that comparison
 * functions can take apart (year, month, day, transposed day/month).
 *
 * A format is a sequence of elements: the tokens YYYY, MM, DD, and literal
 * characters matched exactly. Invariants:
 *   1. A valid format has exactly one YYYY, at most one MM and one DD, DD
 *      only with MM, and no stray 'Y', 'M' or 'D' (so "YY" or "MMM" are
 *      rejected rather than half-read).
 *   2. YYYY is four digits, 1000-9999. MM and DD are two digits, or one or
 *      two where a literal separates them from the next element (or from
 *      the previous one, when they end the format): "1/5/1980".
 *   3. 0 for MM or DD means unknown (partial date); any other out-of-range
 *      value, or a day past the end of its month, is DT_EINPUT.
 */
#include <string.h>

#include "norm.h"

typedef enum elem_kind { EL_LIT, EL_YEAR, EL_MONTH, EL_DAY } elem_kind;

/* Kind of the element starting at f, and its length in the format. */
static elem_kind elem_at(const char *f, size_t *len)
{
    if (strncmp(f, "YYYY", 4) == 0) return *len = 4, EL_YEAR;
    if (strncmp(f, "MM", 2) == 0) return *len = 2, EL_MONTH;
    if (strncmp(f, "DD", 2) == 0) return *len = 2, EL_DAY;
    *len = 1;
    return EL_LIT;
}

int norm_date_format_ok(const char *format)
{
    if (!format) return 0;
    int n_year = 0, n_month = 0, n_day = 0;
    for (const char *f = format; *f;) {
        size_t len;
        switch (elem_at(f, &len)) {
        case EL_YEAR: n_year++; break;
        case EL_MONTH: n_month++; break;
        case EL_DAY: n_day++; break;
        case EL_LIT:
            if (*f == 'Y' || *f == 'M' || *f == 'D') return 0;
            break;
        }
        f += len;
    }
    return n_year == 1 && n_month <= 1 && n_day <= 1 && (n_day == 0 || n_month == 1);
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads between min and max digits at *p (before end). IN/OUT: *p. */
static int read_num(const char **p, const char *end, int min, int max, int *value)
{
    int n = 0, v = 0;
    while (*p < end && n < max && is_digit(**p)) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    if (n < min) return DT_EINPUT;
    *value = v;
    return DT_OK;
}

/* Invariant 2: may MM or DD starting at f (in format) be one digit? */
static int is_flexible(const char *format, const char *f, size_t len)
{
    const char *after = f + len;
    size_t next_len;
    if (*after) return elem_at(after, &next_len) == EL_LIT;
    if (f == format) return 1; /* the format is just "MM": nothing to confuse */
    /* Last element: flexible when a literal precedes it. Elements are at
     * most 4 characters, so look at the character just before. */
    char before = f[-1];
    return before != 'Y' && before != 'M' && before != 'D';
}

static int check(int year, int month, int day)
{
    if (year < 1000 || year > 9999 || month > 12 || day > 31) return DT_EINPUT;
    if (month > 0 && day > days_in_month(year, month)) return DT_EINPUT;
    return DT_OK;
}

int norm_date_parse(const char *s, size_t n, const char *format, norm_date *out)
{
    if (!norm_date_format_ok(format)) return DT_EINVAL;
    const char *p = s, *end = s + n;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
        end--;
    int year = 0, month = 0, day = 0;
    for (const char *f = format; *f;) {
        size_t len;
        elem_kind kind = elem_at(f, &len);
        if (kind == EL_LIT) {
            if (p == end || *p != *f) return DT_EINPUT;
            p++;
        } else if (kind == EL_YEAR) {
            DT_TRY(read_num(&p, end, 4, 4, &year));
        } else {
            int min = is_flexible(format, f, len) ? 1 : 2;
            DT_TRY(read_num(&p, end, min, 2, kind == EL_MONTH ? &month : &day));
        }
        f += len;
    }
    if (p != end) return DT_EINPUT;
    DT_TRY(check(year, month, day));
    out->year = (int16_t)year;
    out->month = (int8_t)month;
    out->day = (int8_t)day;
    return DT_OK;
}

int norm_date_days(const norm_date *d, int32_t *lo, int32_t *hi)
{
    if (!d->year) return DT_EINVAL;
    int m_lo = d->month ? d->month : 1, m_hi = d->month ? d->month : 12;
    *lo = (int32_t)util_days_from_civil(d->year, m_lo, d->day ? d->day : 1);
    *hi = (int32_t)util_days_from_civil(d->year, m_hi,
                                        d->day ? d->day : days_in_month(d->year, m_hi));
    return DT_OK;
}

int norm_date_from_days(int32_t days, norm_date *out)
{
    int32_t z = days + 719468;
    int32_t era = (z >= 0 ? z : z - 146096) / 146097;
    int32_t doe = z - era * 146097;
    int32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int32_t mp = (5 * doy + 2) / 153;
    int32_t d = doy - (153 * mp + 2) / 5 + 1;
    int32_t m = mp + (mp < 10 ? 3 : -9);
    int32_t y = yoe + era * 400 + (m <= 2);
    if (y < 1 || y > 9999) return DT_EINVAL;
    *out = (norm_date){(int16_t)y, (int8_t)m, (int8_t)d};
    return DT_OK;
}
