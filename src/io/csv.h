/*
 * csv.h — streaming RFC 4180 CSV reader (src/io). Reads UTF-8 files of any
 * size with bounded memory: quoted fields, doubled quotes, embedded
 * newlines, CRLF or LF, a leading BOM, no final newline. Part of src/io;
 * depends on util only.
 *
 * Invariants:
 *   1. A row's field pointers stay valid until the next csv_next() or
 *      csv_close(); each field is NUL-terminated and unescaped.
 *   2. A structurally broken row (unterminated quote, text after a closing
 *      quote) returns DT_EINPUT with err naming file:line:column; the reader
 *      then resynchronises at the next line (after a quoted field that read
 *      past its opening line: at the line after that one, csv.c), so the
 *      caller counts the row and calls csv_next() again. Nothing is skipped silently: csv_last_span
 *      names every line the broken row consumed, and gives its bytes.
 *   3. Line numbers are 1-based physical lines of the file; a row's
 *      `line` is where it starts.
 */
#ifndef DT_CSV_H
#define DT_CSV_H

#include <stddef.h>

#include "util/util.h"

typedef struct csv_options {
    char delimiter;   /* ',' unless set; '\0' means ',' */
    int trim;         /* strip ASCII spaces/tabs around unquoted fields (FEBRL) */
    int keep_raw;     /* 1: csv_last_span also gives each row's bytes as read */
} csv_options;

typedef struct csv_row {
    size_t n_fields;
    const char **fields;   /* n_fields NUL-terminated values */
    const size_t *lens;    /* their byte lengths; no field holds NUL (such rows break) */
    long line;             /* physical line where the row starts */
    long bad_utf8_column;  /* 0, or 1-based byte column of the first invalid UTF-8 byte
                              (the lead byte of a cut-short sequence) in its physical line */
    size_t bad_utf8_field; /* index of that field when bad_utf8_column > 0 */
    long bad_utf8_line;    /* physical line of that byte (differs from `line` only in a
                              quoted field spanning lines) */
} csv_row;

typedef struct csv_reader csv_reader;

/* Opens path for reading; messages name the file by path. Returns DT_OK,
 * DT_ENOTFOUND, DT_EIO, DT_EINVAL (delimiter is a quote or line end) or
 * DT_ENOMEM. opt may be NULL (comma, no trim). OUT: *out, csv_close it. */
int csv_open(const char *path, const csv_options *opt, csv_reader **out, dt_error *err);
/* Reads from memory (not copied: data must outlive the reader). For tests
 * and fuzzing. `name` labels messages. */
int csv_open_mem(const char *data, size_t n, const char *name, const csv_options *opt,
                 csv_reader **out, dt_error *err);
void csv_close(csv_reader *r);

/* Reads the next row into *row (written only when 1 is returned).
 * Returns 1 when a row was read, 0 at end of input, DT_EINPUT for a broken
 * row (see invariant 2), DT_EIO or DT_ENOMEM on failure (then stop).
 * Empty lines are not rows; a quote inside an unquoted field is kept
 * literally; invalid UTF-8 is kept and flagged, not rejected; NUL bytes,
 * rows over 16 MiB or 65536 fields break the row. csv.c's opening comment
 * lists the whole dialect. */
int csv_next(csv_reader *r, csv_row *row, dt_error *err);

/* The input the last csv_next() consumed for the row it returned (1) or
 * rejected (DT_EINPUT): blank lines before the row are not part of it. */
typedef struct csv_span {
    long first_line;   /* physical line where the row starts */
    long last_line;    /* physical line of its last byte: a broken quoted field
                          may consume many lines, and they are all counted here */
    const char *raw;   /* the bytes verbatim, without the final line end; NULL
                          unless csv_options.keep_raw */
    size_t raw_len;
    int is_raw_cut;    /* raw holds only the row's first CSV_MAX_RAW_BYTES */
} csv_span;

#define CSV_MAX_RAW_BYTES ((size_t)64 << 20)

/* Fills *out for the last row. Valid until the next csv_next() or
 * csv_close(). Returns DT_OK or DT_ENOMEM. Keeping raw bytes costs a copy
 * only for a row that spans read windows (256 KiB). */
int csv_last_span(csv_reader *r, csv_span *out, dt_error *err);

/* Bytes consumed so far, for progress. */
size_t csv_offset(const csv_reader *r);

/* Writes s (n bytes, any bytes, NUL too) to out as one quoted field,
 * each quote doubled (RFC 4180 2.7). Returns DT_OK or DT_ENOMEM. */
int csv_write_quoted(util_buf *out, const char *s, size_t n);

/* Writes one field to out, quoting it when it holds the delimiter, a quote,
 * CR or LF (RFC 4180), begins or ends with a space or tab (so a trimming
 * reader keeps them) or begins with a UTF-8 BOM. delimiter '\0' means ','.
 * Returns DT_OK, DT_ENOMEM, or DT_EINVAL when s holds a NUL byte. */
int csv_write_field(util_buf *out, const char *s, size_t n, char delimiter);

/* Writes n >= 1 fields separated by delimiter and ended by "\n". A row of
 * one empty field is written as "" because the reader skips empty lines.
 * Returns as csv_write_field, or DT_EINVAL when n is 0. */
int csv_write_row(util_buf *out, const char *const *fields, const size_t *lens, size_t n,
                  char delimiter);

#endif /* DT_CSV_H */
