/*
 * csv.c — the streaming CSV reader and field writer behind csv.h (src/io).
 * Every input file enters the library here, before normalisation.
 *
 * Dialect: RFC 4180 (Shafranovich 2005), read leniently where real files
 * stray from it:
 *   - Rows end at LF, CRLF or a lone CR ("universal newlines"); the same
 *     three count as physical lines, inside quoted fields too. A leading
 *     UTF-8 BOM is skipped; a missing final line end is fine.
 *   - A completely empty line (zero bytes between line ends) is not a row:
 *     it is skipped and counts nothing. So a trailing empty line, a blank
 *     line between rows and a one-column file's empty value all vanish; a
 *     one-column empty value must be written as "" (csv_write_row does).
 *   - A quote inside an unquoted field (ab"c) is kept literally. Without
 *     `trim`, so is a quote after leading spaces: ` "b"` is the value ` "b"`.
 *   - Spaces and tabs between a closing quote and the delimiter are dropped
 *     (`"a" ,b`); any other byte there breaks the row.
 *   - A quoted field that spans lines and then breaks (no closing quote by
 *     the end of input or within 16 MiB, text after its closing quote, a
 *     NUL) is most often a stray quote, not a field: the broken row is
 *     then only its lines up to the one where the quote opened, and reading
 *     goes back to the next line, so a stray quote costs its own row and
 *     not every row it swallowed. A quote opened where an earlier such
 *     look-ahead already went is not retried (invariant 5); a pipe, which
 *     cannot seek, is not either when the line left the read window.
 *   - A NUL byte anywhere breaks the row: fields are C strings, and
 *     dropping the byte would lose data silently. Mostly it means the file
 *     is UTF-16 or binary.
 *   - Invalid UTF-8 is kept as is and flagged on the row (bad_utf8_*): the
 *     caller decides whether to reject the record.
 *
 * Invariants (beyond those in csv.h):
 *   1. Memory is bounded: one CSV_BUF_BYTES window for file input, plus the
 *      current row (at most CSV_MAX_ROW_BYTES of field bytes and
 *      CSV_MAX_FIELDS fields). Field bytes are copied out of the window as
 *      they are read, so a row may span any number of refills.
 *   2. Every consumed byte that is not CR sets prev_cr = 0, and each line
 *      end bumps `line` exactly once (a CRLF's LF does not), so
 *      (line, line_start) always describe the line holding r->p.
 *   3. Line-end bytes are consumed only after the row buffer accepted them:
 *      a row that breaks on a line end resynchronises at that very line end
 *      and never skips the next good line.
 *   4. With keep_raw, the bytes of the row being read are [raw_from, p) of
 *      the window plus, when it began in an earlier window, `raw` before
 *      them: refill saves the window's part before replacing it. So a row's
 *      bytes cost a copy only when the row spans windows.
 *   5. Going back after a broken quoted field (try_rewind) happens only for
 *      a quote opened at or past `horizon`, the farthest input an earlier
 *      going back had read, and moves it past that read: every byte is
 *      parsed at most twice, so a file of stray quotes stays linear.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "io/csv.h"

#define CSV_BUF_BYTES ((size_t)256 << 10)     /* file read window */
#define CSV_MAX_ROW_BYTES ((size_t)16 << 20)  /* field bytes + NULs per row */
#define CSV_MAX_FIELDS ((size_t)1 << 16)      /* fields per row */

/* Parser states within a row; see parse_row. */
enum csv_state {
    ST_START,       /* at the start of a field */
    ST_UNQUOTED,    /* inside an unquoted field */
    ST_QUOTED,      /* inside a quoted field */
    ST_QUOTE_SEEN,  /* just after a quote inside a quoted field: "" or the end */
    ST_AFTER_QUOTE, /* after a closing quote and some spaces */
};

struct csv_reader {
    FILE *fp;                     /* NULL when reading from memory */
    char *buf;                    /* the file window (CSV_BUF_BYTES); NULL for memory */
    const char *win;              /* window start: buf, or the caller's data */
    const char *p, *end;          /* unread part of the window */
    size_t base;                  /* input offset of win[0] */
    int is_eof;                   /* no refill can bring more bytes */
    char *name;                   /* for messages */
    char delim;
    int trim;
    unsigned char stop_plain[256]; /* bytes that end a run in an unquoted field */

    long line;                    /* physical line holding *p, 1-based */
    size_t line_start;            /* input offset of that line's first byte */
    int prev_cr;                  /* last consumed byte was CR (invariant 2) */

    /* The row being built: field bytes, each followed by a NUL. */
    enum csv_state state;
    long row_line;
    char *rb;
    size_t rb_len, rb_cap;
    size_t *offs, *lens;          /* per field: offset in rb, length */
    const char **ptrs;            /* per field: rb + offs, built when the row ends */
    size_t n_fields, cap_offs, cap_lens, cap_ptrs;
    int is_quoted;                /* current field opened with a quote */
    long open_line, open_col;     /* where it opened */
    size_t open_pos;              /* input offset of that quote */
    size_t resume_pos;            /* input offset of the line after open_line, once the
                                     quoted field has read past it; 0: not yet */
    size_t horizon;               /* farthest input read before going back (invariant 5) */
    size_t row_pos;               /* input offset of the row's first byte */
    int can_seek;                 /* a file that fseeko can go back in */

    /* Incremental UTF-8 check of the current field (RFC 3629 table 3-7). */
    int u8_need;                  /* continuation bytes still expected */
    unsigned char u8_lo, u8_hi;   /* allowed range of the next one */
    long u8_line, u8_col;         /* where the pending sequence's lead byte is */
    long bad_line, bad_col;       /* first invalid byte of the row, col 0: none */
    size_t bad_field;

    /* The last row's span (csv_last_span; invariant 4). */
    int keep_raw;
    const char *raw_from;         /* window byte where the row's unsaved part starts; NULL
                                     outside a row */
    const char *raw_to;           /* r->p when the row ended */
    util_buf raw;                 /* its part from earlier windows, then all of it */
    int is_raw_cut, is_raw_whole;
    long span_last_line;
};

/* Bytes that end a run inside a quoted field. */
static const unsigned char stop_quoted[256] = {['"'] = 1, ['\r'] = 1, ['\n'] = 1, [0] = 1};

/* ---- positions ---------------------------------------------------- */

static size_t pos_of(const csv_reader *r, const char *q)
{
    return r->base + (size_t)(q - r->win);
}

/* 1-based byte column of q, which must lie on the current line. */
static long col_of(const csv_reader *r, const char *q)
{
    return (long)(pos_of(r, q) - r->line_start) + 1;
}

/* Accounts for the line end c just consumed (r->p is past it). */
static void count_newline(csv_reader *r, unsigned char c)
{
    if (!(c == '\n' && r->prev_cr)) r->line++;
    r->prev_cr = c == '\r';
    r->line_start = pos_of(r, r->p);
}

/* Appends [s, e) to the kept bytes of the row, up to CSV_MAX_RAW_BYTES. */
static void raw_keep(csv_reader *r, const char *s, const char *e)
{
    size_t n = (size_t)(e - s), room = CSV_MAX_RAW_BYTES - r->raw.len;
    if (n > room) {
        n = room;
        r->is_raw_cut = 1;
    }
    util_buf_append(&r->raw, s, n); /* a failure sets raw.is_failed: csv_last_span says so */
}

/* Brings the next window in once r->p == r->end. Returns 1 when bytes are
 * available, 0 at end of input, DT_EIO on a read error. */
static int refill(csv_reader *r, dt_error *err)
{
    if (!r->fp || r->is_eof) return 0;
    if (r->raw_from) {
        raw_keep(r, r->raw_from, r->end);
        r->raw_from = r->buf;
    }
    r->base += (size_t)(r->end - r->win);
    size_t got = fread(r->buf, 1, CSV_BUF_BYTES, r->fp);
    r->p = r->buf;
    r->end = r->buf + got;
    if (got > 0) return 1;
    if (ferror(r->fp))
        return dt_err_at(err, DT_EIO, r->name, 0, 0, "read failed: %s", strerror(errno));
    r->is_eof = 1;
    return 0;
}

/* ---- opening and closing ------------------------------------------ */

static int reader_new(const char *name, const csv_options *opt, csv_reader **out,
                      dt_error *err)
{
    char delim = opt && opt->delimiter ? opt->delimiter : ',';
    if (delim == '"' || delim == '\r' || delim == '\n')
        return dt_err_set(err, DT_EINVAL, "CSV delimiter cannot be a quote or a line end");
    csv_reader *r = dt_calloc(1, sizeof *r);
    if (!r) return dt_err_set(err, DT_ENOMEM, "out of memory opening %s", name);
    r->name = dt_strdup(name);
    if (!r->name) {
        dt_free(r);
        return dt_err_set(err, DT_ENOMEM, "out of memory opening %s", name);
    }
    r->delim = delim;
    r->trim = opt ? opt->trim : 0;
    r->keep_raw = opt ? opt->keep_raw : 0;
    r->stop_plain[(unsigned char)delim] = 1;
    r->stop_plain['\r'] = r->stop_plain['\n'] = r->stop_plain[0] = 1;
    r->line = 1;
    *out = r;
    return DT_OK;
}

/* Skips a UTF-8 byte-order mark at the start of the first window; columns
 * on line 1 count from the byte after it. */
static void skip_bom(csv_reader *r)
{
    if (r->end - r->p >= 3 && memcmp(r->p, "\xEF\xBB\xBF", 3) == 0) {
        r->p += 3;
        r->line_start = 3;
    }
}

int csv_open(const char *path, const csv_options *opt, csv_reader **out, dt_error *err)
{
    csv_reader *r;
    DT_TRY(reader_new(path, opt, &r, err));
    int rc = DT_ENOMEM;
    r->buf = dt_malloc(CSV_BUF_BYTES);
    if (!r->buf) {
        dt_err_set(err, rc, "out of memory opening %s", path);
        goto fail;
    }
    r->fp = fopen(path, "rb");
    if (!r->fp) {
        rc = dt_err_at(err, errno == ENOENT ? DT_ENOTFOUND : DT_EIO, path, 0, 0,
                       "cannot open: %s", strerror(errno));
        goto fail;
    }
    r->can_seek = fseeko(r->fp, 0, SEEK_CUR) == 0;
    r->win = r->p = r->end = r->buf;
    rc = refill(r, err);
    if (rc < 0) goto fail;
    skip_bom(r);
    *out = r;
    return DT_OK;
fail:
    csv_close(r);
    return rc;
}

int csv_open_mem(const char *data, size_t n, const char *name, const csv_options *opt,
                 csv_reader **out, dt_error *err)
{
    csv_reader *r;
    DT_TRY(reader_new(name ? name : "<memory>", opt, &r, err));
    r->win = r->p = data;
    r->end = data + n;
    r->is_eof = 1;
    skip_bom(r);
    *out = r;
    return DT_OK;
}

void csv_close(csv_reader *r)
{
    if (!r) return;
    if (r->fp) fclose(r->fp);
    dt_free(r->buf);
    dt_free(r->name);
    dt_free(r->rb);
    dt_free(r->offs);
    dt_free(r->lens);
    dt_free(r->ptrs);
    util_buf_fini(&r->raw);
    dt_free(r);
}

size_t csv_offset(const csv_reader *r)
{
    return pos_of(r, r->p);
}

/* ---- the row buffer ----------------------------------------------- */

static int row_too_long(csv_reader *r, dt_error *err)
{
    if (r->state == ST_QUOTED)
        return dt_err_at(err, DT_EINPUT, r->name, r->open_line, r->open_col,
                         "unterminated quoted field (opened at line %ld, column %ld): the "
                         "row starting at line %ld is longer than %zu MiB without its "
                         "closing quote",
                         r->open_line, r->open_col, r->row_line, CSV_MAX_ROW_BYTES >> 20);
    return dt_err_at(err, DT_EINPUT, r->name, r->row_line, 1,
                     "row starting at line %ld is longer than %zu MiB", r->row_line,
                     CSV_MAX_ROW_BYTES >> 20);
}

static int rb_grow(csv_reader *r, size_t need, dt_error *err)
{
    if (need > CSV_MAX_ROW_BYTES) return row_too_long(r, err);
    if (util_grow((void **)&r->rb, &r->rb_cap, need, 1) < 0)
        return dt_err_set(err, DT_ENOMEM, "out of memory reading %s", r->name);
    return DT_OK;
}

/* Makes room for n more bytes plus a NUL in the row buffer. Runs once per
 * field and run, so the common case stays inline. */
static inline int rb_reserve(csv_reader *r, size_t n, dt_error *err)
{
    size_t need = r->rb_len + n + 1;
    return need <= r->rb_cap ? DT_OK : rb_grow(r, need, err);
}

/* Marks the lead byte of the pending UTF-8 sequence as the row's first
 * invalid byte: the sequence was cut short. */
static void u8_bad_lead(csv_reader *r)
{
    r->bad_line = r->u8_line;
    r->bad_col = r->u8_col;
    r->bad_field = r->n_fields - 1;
    r->u8_need = 0;
}

/* Checks [s, e), bytes of the current field straight from the window, as
 * UTF-8, carrying a sequence split by a refill over to the next call. */
static void u8_check(csv_reader *r, const char *s, const char *e)
{
    int need = r->u8_need;
    unsigned lo = r->u8_lo, hi = r->u8_hi;
    for (; s < e; s++) {
        unsigned c = (unsigned char)*s;
        if (need) {
            if (c < lo || c > hi) {
                u8_bad_lead(r);
                return;
            }
            need--;
            lo = 0x80, hi = 0xBF;
            continue;
        }
        if (c < 0x80) continue;
        lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2; /* no overlongs (E0), no surrogates (ED) */
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3; /* no overlongs (F0), nothing above U+10FFFF (F4) */
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            r->bad_line = r->line;
            r->bad_col = col_of(r, s);
            r->bad_field = r->n_fields - 1;
            r->u8_need = 0;
            return;
        }
        r->u8_line = r->line;
        r->u8_col = col_of(r, s);
    }
    r->u8_need = need;
    r->u8_lo = (unsigned char)lo;
    r->u8_hi = (unsigned char)hi;
}

/* Appends the window bytes [s, e) to the current field. `acc` is the OR of
 * all of them, so ASCII runs skip the UTF-8 check. */
static int emit_run(csv_reader *r, const char *s, const char *e, unsigned acc, dt_error *err)
{
    size_t n = (size_t)(e - s);
    DT_TRY(rb_reserve(r, n, err));
    memcpy(r->rb + r->rb_len, s, n);
    r->rb_len += n;
    if ((acc & 0x80 || r->u8_need) && !r->bad_col) u8_check(r, s, e);
    return DT_OK;
}

/* Appends one ASCII byte (an unescaped quote or a line end in quotes). */
static int emit_ascii(csv_reader *r, char c, dt_error *err)
{
    DT_TRY(rb_reserve(r, 1, err));
    r->rb[r->rb_len++] = c;
    if (r->u8_need) u8_bad_lead(r);
    return DT_OK;
}

static inline int field_begin(csv_reader *r, dt_error *err)
{
    if (r->n_fields == CSV_MAX_FIELDS)
        return dt_err_at(err, DT_EINPUT, r->name, r->line, col_of(r, r->p),
                         "row starting at line %ld has more than %zu fields", r->row_line,
                         CSV_MAX_FIELDS);
    size_t need = r->n_fields + 1;
    if (need > r->cap_offs || need > r->cap_lens) {
        if (util_grow((void **)&r->offs, &r->cap_offs, need, sizeof *r->offs) < 0 ||
            util_grow((void **)&r->lens, &r->cap_lens, need, sizeof *r->lens) < 0)
            return dt_err_set(err, DT_ENOMEM, "out of memory reading %s", r->name);
    }
    r->offs[r->n_fields++] = r->rb_len;
    r->is_quoted = 0;
    r->resume_pos = 0;
    r->u8_need = 0;
    return DT_OK;
}

static inline int field_end(csv_reader *r, dt_error *err)
{
    size_t off = r->offs[r->n_fields - 1];
    if (r->trim && !r->is_quoted) {
        while (r->rb_len > off && (r->rb[r->rb_len - 1] == ' ' || r->rb[r->rb_len - 1] == '\t'))
            r->rb_len--;
    }
    if (r->u8_need && !r->bad_col) u8_bad_lead(r);
    DT_TRY(rb_reserve(r, 0, err));
    r->rb[r->rb_len++] = '\0';
    r->lens[r->n_fields - 1] = r->rb_len - 1 - off;
    return DT_OK;
}

/* ---- parsing ------------------------------------------------------ */

/* Consumes line ends before a row (blank lines are not rows). Returns 1 at
 * the first byte of a row, 0 at end of input, or a negative code. */
static int skip_blank_lines(csv_reader *r, dt_error *err)
{
    for (;;) {
        if (r->p == r->end) {
            int rc = refill(r, err);
            if (rc <= 0) return rc;
        }
        unsigned char c = (unsigned char)*r->p;
        if (c != '\n' && c != '\r') return 1;
        r->p++;
        count_newline(r, c);
    }
}

/* After a broken row: consumes input up to and including the next line
 * end, so the next csv_next() starts on the following physical line. */
static int resync(csv_reader *r, dt_error *err)
{
    for (;;) {
        if (r->p == r->end) {
            int rc = refill(r, err);
            if (rc <= 0) return rc;
        }
        const char *q = r->p;
        while (q < r->end && *q != '\n' && *q != '\r') q++;
        if (q > r->p) r->prev_cr = 0;
        r->p = q;
        if (q < r->end) {
            r->p++;
            count_newline(r, (unsigned char)*q);
            return DT_OK;
        }
    }
}

static int nul_error(csv_reader *r, dt_error *err)
{
    long col = col_of(r, r->p);
    r->p++;
    r->prev_cr = 0;
    return dt_err_at(err, DT_EINPUT, r->name, r->line, col,
                     "NUL byte in field %zu (CSV text cannot hold NUL; is the file UTF-16 "
                     "or binary?)",
                     r->n_fields);
}

static int after_quote_error(csv_reader *r, unsigned char c, dt_error *err)
{
    char shown[8];
    if (c > 0x20 && c < 0x7F)
        snprintf(shown, sizeof shown, "'%c'", c);
    else
        snprintf(shown, sizeof shown, "0x%02X", c);
    return dt_err_at(err, DT_EINPUT, r->name, r->line, col_of(r, r->p),
                     "unexpected %s after the closing quote of field %zu (opened at line "
                     "%ld, column %ld); a quoted field must end at a delimiter or line end",
                     shown, r->n_fields, r->open_line, r->open_col);
}

/* Ends the row at end of input, or reports the quote left open. */
static int finish_at_eof(csv_reader *r, dt_error *err)
{
    if (r->state == ST_QUOTED) /* placed at the quote: that is what to fix */
        return dt_err_at(err, DT_EINPUT, r->name, r->open_line, r->open_col,
                         "unterminated quoted field (opened at line %ld, column %ld) at end "
                         "of input",
                         r->open_line, r->open_col);
    DT_TRY(field_end(r, err));
    return 1;
}

/* Consumes the delimiter or line end c at r->p and closes the field.
 * Returns 0 after a delimiter (the next field has begun), 1 after a line
 * end (the row is complete), or a negative code. */
static inline int close_field(csv_reader *r, unsigned char c, dt_error *err)
{
    DT_TRY(field_end(r, err));
    r->p++;
    if (c == (unsigned char)r->delim) {
        r->prev_cr = 0;
        r->state = ST_START;
        DT_TRY(field_begin(r, err));
        return 0;
    }
    count_newline(r, c);
    return 1;
}

static int is_field_end(const csv_reader *r, unsigned char c)
{
    return c == (unsigned char)r->delim || c == '\n' || c == '\r';
}

/* Scans a run of ordinary bytes (those not in stop) at r->p and appends
 * it to the field. Returns 1 when a run was taken, 0 when r->p is at a
 * stop byte, or a negative code. The hot loop of the reader. */
static int take_run(csv_reader *r, const unsigned char *stop, dt_error *err)
{
    const char *q = r->p, *end = r->end;
    unsigned acc = 0;
    while (q < end && !stop[(unsigned char)*q]) acc |= (unsigned char)*q++;
    if (q == r->p) return 0;
    DT_TRY(emit_run(r, r->p, q, acc, err));
    r->p = q;
    r->prev_cr = 0;
    return 1;
}

static int step_start(csv_reader *r, unsigned char c, dt_error *err)
{
    if (is_field_end(r, c)) return close_field(r, c, err);
    if (c == '"') {
        r->open_line = r->line;
        r->open_col = col_of(r, r->p);
        r->open_pos = pos_of(r, r->p);
        r->is_quoted = 1;
        r->state = ST_QUOTED;
    } else if (r->trim && (c == ' ' || c == '\t')) {
        /* leading blank of a trimmed field: drop it */
    } else if (c == 0) {
        return nul_error(r, err);
    } else {
        r->state = ST_UNQUOTED;
        return 0; /* the byte starts the first run */
    }
    r->p++;
    r->prev_cr = 0;
    return 0;
}

static int step_quoted(csv_reader *r, unsigned char c, dt_error *err)
{
    if (c == '"') {
        r->p++;
        r->prev_cr = 0;
        r->state = ST_QUOTE_SEEN;
        return 0;
    }
    if (c == 0) return nul_error(r, err);
    DT_TRY(emit_ascii(r, (char)c, err)); /* a line end inside quotes is data */
    r->p++;
    count_newline(r, c);
    if (r->line == r->open_line + 1) r->resume_pos = r->line_start; /* a CRLF's LF too */
    return 0;
}

static int step_after_quote(csv_reader *r, unsigned char c, dt_error *err)
{
    if (c == '"' && r->state == ST_QUOTE_SEEN) { /* "" is an escaped quote */
        DT_TRY(emit_ascii(r, '"', err));
        r->state = ST_QUOTED;
    } else if (is_field_end(r, c)) {
        return close_field(r, c, err);
    } else if (c == ' ' || c == '\t') {
        r->state = ST_AFTER_QUOTE;
    } else if (c == 0) {
        return nul_error(r, err);
    } else {
        return after_quote_error(r, c, err);
    }
    r->p++;
    r->prev_cr = 0;
    return 0;
}

/* Reads one row starting at a non-blank byte. Returns 1 when the row is
 * complete, or a negative code (the row is then broken or reading failed). */
static int parse_row(csv_reader *r, dt_error *err)
{
    r->row_line = r->line;
    r->rb_len = 0;
    r->n_fields = 0;
    r->bad_col = 0;
    r->state = ST_START;
    DT_TRY(field_begin(r, err));
    for (;;) {
        if (r->p == r->end) {
            int rc = refill(r, err);
            if (rc < 0) return rc;
            if (rc == 0) return finish_at_eof(r, err);
        }
        int rc;
        if (r->state == ST_UNQUOTED || r->state == ST_QUOTED) {
            rc = take_run(r, r->state == ST_QUOTED ? stop_quoted : r->stop_plain, err);
            if (rc < 0) return rc;
            if (rc > 0) continue;
        }
        unsigned char c = (unsigned char)*r->p;
        switch (r->state) {
        case ST_START: rc = step_start(r, c, err); break;
        case ST_UNQUOTED: rc = c == 0 ? nul_error(r, err) : close_field(r, c, err); break;
        case ST_QUOTED: rc = step_quoted(r, c, err); break;
        default: rc = step_after_quote(r, c, err); break;
        }
        if (rc != 0) return rc;
    }
}

/* Ends the kept bytes of a broken row at input offset pos, before going
 * back there. */
static void raw_end_at(csv_reader *r, size_t pos)
{
    if (!r->raw_from) return;
    if (!r->raw.len && !r->is_raw_cut && !r->raw.is_failed) { /* all in the window: no copy */
        r->raw_to = r->raw_from + (pos - r->row_pos);
        return;
    }
    raw_keep(r, r->raw_from, r->p);
    if (r->raw.len >= pos - r->row_pos) {
        r->raw.len = pos - r->row_pos;
        r->is_raw_cut = 0;
    }
    r->is_raw_whole = 1;
}

/* Moves reading back to input offset pos: in the window, or by seeking. */
static int seek_to(csv_reader *r, size_t pos, dt_error *err)
{
    if (pos >= r->base) {
        r->p = r->win + (pos - r->base);
        return DT_OK;
    }
    if (fseeko(r->fp, (off_t)pos, SEEK_SET) != 0)
        return dt_err_at(err, DT_EIO, r->name, 0, 0, "seek failed: %s", strerror(errno));
    clearerr(r->fp);
    r->base = pos;
    r->win = r->p = r->end = r->buf;
    r->is_eof = 0;
    return DT_OK;
}

/* After a broken row whose quoted field had read past the end of its
 * opening line: ends the row at that line end and reads on from the next
 * line (the dialect notes; invariant 5). Returns 1 when it did, DT_EINPUT
 * when it does not apply, DT_EIO when seeking failed. */
static int try_rewind(csv_reader *r, dt_error *err)
{
    int in_quote = r->is_quoted && r->state != ST_START && r->state != ST_UNQUOTED;
    size_t pos = r->resume_pos;
    if (!in_quote || !pos || r->open_pos < r->horizon) return DT_EINPUT;
    size_t read_to = pos_of(r, r->p);
    if (pos >= read_to) return DT_EINPUT; /* nothing after the quote's line to read again */
    if (pos < r->base && !r->can_seek) return DT_EINPUT;
    raw_end_at(r, pos);
    DT_TRY(seek_to(r, pos, err));
    r->horizon = read_to;
    r->line = r->open_line + 1;
    r->line_start = pos;
    r->prev_cr = 0;
    r->span_last_line = r->open_line;
    if (err) { /* placed at the quote: that is what to fix */
        char text[sizeof err->msg];
        snprintf(text, sizeof text, "%s", dt_err_text(err));
        dt_err_at(err, DT_EINPUT, r->name, r->open_line, r->open_col, "%s; taken as a stray "
                  "quote: reading goes on at line %ld", text, r->line);
    }
    return 1;
}

/* Marks where the row just read or rejected ends (csv_last_span). */
static void span_end(csv_reader *r)
{
    r->raw_to = r->p;
    /* no byte of the current line consumed: the row ended with a line end */
    r->span_last_line = pos_of(r, r->p) > r->line_start ? r->line : r->line - 1;
}

int csv_next(csv_reader *r, csv_row *row, dt_error *err)
{
    r->raw_from = NULL;
    int rc = skip_blank_lines(r, err);
    if (rc <= 0) return rc;
    r->row_pos = pos_of(r, r->p);
    if (r->keep_raw) {
        r->raw_from = r->p;
        util_buf_clear(&r->raw);
        r->is_raw_cut = r->is_raw_whole = 0;
    }
    rc = parse_row(r, err);
    if (rc == DT_EINPUT) {
        int rc_back = try_rewind(r, err);
        if (rc_back != DT_EINPUT) /* 1: the row ended where its quote's line did */
            return rc_back < 0 ? rc_back : DT_EINPUT;
    }
    if (rc == DT_EINPUT) {
        /* err describes the broken row; only a read error may replace it */
        dt_error sync_err;
        int rc_sync = resync(r, &sync_err);
        if (rc_sync < 0 && err) *err = sync_err;
        span_end(r);
        return rc_sync < 0 ? rc_sync : DT_EINPUT;
    }
    if (rc < 0) return rc;
    span_end(r);
    if (util_grow((void **)&r->ptrs, &r->cap_ptrs, r->n_fields, sizeof *r->ptrs) < 0)
        return dt_err_set(err, DT_ENOMEM, "out of memory reading %s", r->name);
    for (size_t i = 0; i < r->n_fields; i++) r->ptrs[i] = r->rb + r->offs[i];
    row->n_fields = r->n_fields;
    row->fields = r->ptrs;
    row->lens = r->lens;
    row->line = r->row_line;
    row->bad_utf8_column = r->bad_col;
    row->bad_utf8_field = r->bad_col ? r->bad_field : 0;
    row->bad_utf8_line = r->bad_col ? r->bad_line : 0;
    return 1;
}

int csv_last_span(csv_reader *r, csv_span *out, dt_error *err)
{
    *out = (csv_span){.first_line = r->row_line, .last_line = r->span_last_line};
    if (!r->raw_from) return DT_OK;
    const char *p = r->raw_from;
    size_t n = (size_t)(r->raw_to - r->raw_from);
    if (r->raw.len || r->is_raw_cut || r->is_raw_whole) { /* began in an earlier window */
        if (!r->is_raw_whole) raw_keep(r, r->raw_from, r->raw_to);
        r->is_raw_whole = 1;
        p = r->raw.data;
        n = r->raw.len;
    }
    if (r->raw.is_failed)
        return dt_err_set(err, DT_ENOMEM, "out of memory keeping a row of %s", r->name);
    if (!r->is_raw_cut && n && p[n - 1] == '\n') n--;
    if (!r->is_raw_cut && n && p[n - 1] == '\r') n--;
    out->raw = p ? p : "";
    out->raw_len = n;
    out->is_raw_cut = r->is_raw_cut;
    return DT_OK;
}

/* ---- writing ------------------------------------------------------ */

/* A field needs quotes when it holds a byte the reader treats specially,
 * has blanks a trimming reader would strip, or begins with the bytes of a
 * BOM, which a reader skips at the start of a file. 1: it does, 0: it does
 * not, -1: it holds a NUL, which no field may. One scan: output files
 * write tens of millions of short fields, and a memchr call before the
 * scan was a fifth of writing them. */
static int needs_quotes(const char *s, size_t n, char delimiter)
{
    if (n == 0) return 0;
    int quote = s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t' ||
                (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\0') return -1;
        if (c == delimiter || c == '"' || c == '\r' || c == '\n') quote = 1;
    }
    return quote;
}

int csv_write_field(util_buf *out, const char *s, size_t n, char delimiter)
{
    if (delimiter == '\0') delimiter = ',';
    int quote = needs_quotes(s, n, delimiter);
    if (quote < 0) return DT_EINVAL;
    if (!quote) return util_buf_append(out, s, n);
    return csv_write_quoted(out, s, n);
}

int csv_write_quoted(util_buf *out, const char *s, size_t n)
{
    DT_TRY(util_buf_reserve(out, n + 2));
    DT_TRY(util_buf_putc(out, '"'));
    const char *q;
    while ((q = memchr(s, '"', n)) != NULL) { /* RFC 4180 2.7: double each quote */
        size_t k = (size_t)(q - s) + 1;
        DT_TRY(util_buf_append(out, s, k));
        DT_TRY(util_buf_putc(out, '"'));
        s += k;
        n -= k;
    }
    DT_TRY(util_buf_append(out, s, n));
    return util_buf_putc(out, '"');
}

int csv_write_row(util_buf *out, const char *const *fields, const size_t *lens, size_t n,
                  char delimiter)
{
    if (n == 0) return DT_EINVAL;
    if (delimiter == '\0') delimiter = ',';
    if (n == 1 && lens[0] == 0) return util_buf_append(out, "\"\"\n", 3);
    for (size_t i = 0; i < n; i++) {
        if (i > 0) DT_TRY(util_buf_putc(out, delimiter));
        DT_TRY(csv_write_field(out, fields[i], lens[i], delimiter));
    }
    return util_buf_putc(out, '\n');
}
