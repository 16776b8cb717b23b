/*
 * mem.c — the library's allocator. Everything allocates here so a test can
 * make the Nth allocation fail and check that the caller returns DT_ENOMEM
 * cleanly (SQLite's fault simulation, zlib's infcover.c).
 */
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>

#include "util.h"

static long g_fail_countdown; /* 0: never fail; k: the k-th next call fails */

void util_fail_after(long n)
{
    g_fail_countdown = n;
}

static int should_fail(void)
{
    if (g_fail_countdown == 0) return 0;
    if (g_fail_countdown == 1) return 1; /* stays failing until reset */
    g_fail_countdown--;
    return 0;
}

void *dt_malloc(size_t n)
{
    if (should_fail()) return NULL;
    return malloc(n ? n : 1);
}

void *dt_calloc(size_t count, size_t size)
{
    if (should_fail()) return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *dt_realloc(void *p, size_t n)
{
    if (should_fail()) return NULL;
    return realloc(p, n ? n : 1);
}

void dt_free(void *p)
{
    free(p);
}

char *dt_strndup(const char *s, size_t n)
{
    char *d = dt_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *dt_strdup(const char *s)
{
    return dt_strndup(s, strlen(s));
}

char *dt_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = dt_malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

int util_grow(void **items, size_t *cap, size_t need, size_t elem_size)
{
    if (need <= *cap) return DT_OK;
    size_t new_cap = *cap ? *cap : 16;
    while (new_cap < need) new_cap *= 2;
    if (new_cap > SIZE_MAX / elem_size) return DT_ENOMEM;
    void *p = dt_realloc(*items, new_cap * elem_size);
    if (!p) return DT_ENOMEM;
    *items = p;
    *cap = new_cap;
    return DT_OK;
}

void util_release_free(void)
{
#ifdef __GLIBC__
    malloc_trim(0); /* free heap pages go back to the system, off the peak */
#endif
}
