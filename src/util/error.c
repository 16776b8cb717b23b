/*
 * error.c — error codes and the dt_error record: a code for programs, a
 * sentence for people (STYLE.md). Names and texts come from DT_ERRNO_MAP so
 * they cannot drift from the enum.
 */
#include <stdio.h>
#include <string.h>

#include "util.h"

const char *dt_version(void)
{
    return DT_VERSION_STRING;
}

const char *dt_errname(int code)
{
    switch (code) {
#define DT_ERRNAME_CASE_(name, value, text) \
    case value: return "DT_" #name;
        DT_ERRNO_MAP(DT_ERRNAME_CASE_)
#undef DT_ERRNAME_CASE_
    default: return "DT_EUNKNOWN";
    }
}

const char *dt_strerror(int code)
{
    switch (code) {
#define DT_STRERROR_CASE_(name, value, text) \
    case value: return text;
        DT_ERRNO_MAP(DT_STRERROR_CASE_)
#undef DT_STRERROR_CASE_
    default: return "unknown error";
    }
}

void dt_error_clear(dt_error *err)
{
    if (err) memset(err, 0, sizeof *err);
}

static int err_vset(dt_error *err, int code, const char *file, long line, long column,
                    const char *fmt, va_list ap)
{
    if (!err) return code;
    char text[sizeof err->msg], raw[sizeof err->msg];
    vsnprintf(text, sizeof text, fmt, ap);
    err->code = code;
    err->line = line;
    err->column = column;
    int n_file = snprintf(err->file, sizeof err->file, "%s", file ? file : "");
    (void)n_file;
    /* Prefix, then the text appended with explicit truncation: a long
     * message is cut, never overflows. */
    size_t off = 0;
    int n = 0;
    if (file && *file && line > 0 && column > 0)
        n = snprintf(raw, sizeof raw, "%s:%ld:%ld: ", file, line, column);
    else if (file && *file && line > 0)
        n = snprintf(raw, sizeof raw, "%s:%ld: ", file, line);
    else if (file && *file)
        n = snprintf(raw, sizeof raw, "%s: ", file);
    if (n > 0) off = (size_t)n < sizeof raw ? (size_t)n : sizeof raw - 1;
    size_t len = strlen(text);
    if (len > sizeof raw - 1 - off) len = sizeof raw - 1 - off;
    memcpy(raw + off, text, len);
    raw[off + len] = '\0';
    /* messages quote input (ids, values, file names): never a raw control */
    dt_escape_controls(raw, err->msg, sizeof err->msg);
    err->field[0] = '\0';
    return code;
}

int dt_err_set(dt_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, NULL, 0, 0, fmt, ap);
    va_end(ap);
    return code;
}

int dt_err_at(dt_error *err, int code, const char *file, long line, long column,
              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, file, line, column, fmt, ap);
    va_end(ap);
    return code;
}

int dt_err_field(dt_error *err, int code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, NULL, 0, 0, fmt, ap);
    va_end(ap);
    if (err) snprintf(err->field, sizeof err->field, "%s", field);
    return code;
}

const char *dt_err_text(const dt_error *err)
{
    char prefix[sizeof err->file + 48];
    if (err->line > 0 && err->column > 0)
        snprintf(prefix, sizeof prefix, "%s:%ld:%ld: ", err->file, err->line, err->column);
    else if (err->line > 0)
        snprintf(prefix, sizeof prefix, "%s:%ld: ", err->file, err->line);
    else
        snprintf(prefix, sizeof prefix, "%s: ", err->file);
    size_t n = strlen(prefix);
    return err->file[0] && strncmp(err->msg, prefix, n) == 0 ? err->msg + n : err->msg;
}

int dt_err_ensure(dt_error *err, int code)
{
    if (code < 0 && err && err->code == DT_OK) dt_err_set(err, code, "%s", dt_strerror(code));
    return code;
}
