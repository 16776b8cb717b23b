/*
 * buf.c — a growable byte buffer, NUL-terminated after each append so it
 * can be handed to C string functions. Reused across rows to avoid a
 * malloc per value.
 */
#include <stdio.h>
#include <string.h>

#include "util.h"

void util_buf_fini(util_buf *b)
{
    dt_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int util_buf_reserve(util_buf *b, size_t extra)
{
    int rc = util_grow((void **)&b->data, &b->cap, b->len + extra + 1, 1);
    if (rc < 0) b->is_failed = 1;
    return rc;
}

int util_buf_append(util_buf *b, const void *p, size_t n)
{
    DT_TRY(util_buf_reserve(b, n));
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return DT_OK;
}

int util_buf_putc(util_buf *b, char c)
{
    return util_buf_append(b, &c, 1);
}

int util_buf_printf(util_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->is_failed = 1;
        return DT_EINVAL;
    }
    DT_TRY(util_buf_reserve(b, (size_t)n));
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return DT_OK;
}
