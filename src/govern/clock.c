/*
 * clock.c — the one clock governance reads (expiry, retention, audit
 * times). Test builds (-DDT_TEST_HOOKS, the asan flavour) may set it
 * through DOVETAIL_TEST_NOW, so a test can stand after an agreement's
 * expiry without waiting; release builds have no such door.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "govern/govern.h"

static int days_in_month(int y, int m)
{
    static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : n[m - 1];
}

int64_t gv_date_parse(const char *text)
{
    int y, m, d, used = 0;
    if (!text || strlen(text) != 10 || sscanf(text, "%4d-%2d-%2d%n", &y, &m, &d, &used) != 3 ||
        used != 10 || text[4] != '-' || text[7] != '-')
        return -1;
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return -1;
    return util_days_from_civil(y, m, d) * 86400 * INT64_C(1000000);
}

#ifdef DT_TEST_HOOKS
static int64_t test_now(void)
{
    const char *v = getenv("DOVETAIL_TEST_NOW");
    if (!v || !*v) return -1;
    int64_t day = gv_date_parse(v);
    if (day >= 0) return day + 12 * 3600 * INT64_C(1000000); /* noon: clear of either edge */
    char *end;
    long long secs = strtoll(v, &end, 10);
    return *end ? -1 : (int64_t)secs * 1000000;
}
#endif

int64_t gv_now(void)
{
#ifdef DT_TEST_HOOKS
    int64_t t = test_now();
    if (t >= 0) return t;
#endif
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void gv_time_text(int64_t us, char out[32])
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char text[96]; /* the compiler cannot bound tm's fields: room for any int */
    int n = snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(us % 1000000));
    size_t len = n < 0 ? 0 : (size_t)n > 31 ? 31 : (size_t)n;
    memcpy(out, text, len);
    out[len] = '\0';
}
