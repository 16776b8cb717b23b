/*
 * fuzz_csv.c — libFuzzer target for the CSV reader (src/io/csv.c). Reads
 * the input as CSV three ways (comma, comma with trim, tab with trim) and
 * checks, aborting on any failure:
 *   1. every call makes progress and the reader ends at the end of input;
 *   2. every field is NUL-terminated with its stated length, and row line
 *      numbers never go back;
 *   3. round trip: the good rows, written with csv_write_row and read back
 *      with the same options, give the same fields and UTF-8 flags, with
 *      no broken row;
 *   4. every row, good or broken, has a span (csv_last_span): its bytes
 *      are the input it consumed, in order, and its lines never go back.
 * Replayed without libFuzzer by regression_driver.c (make fuzz-replay).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/csv.h"

#define CHECK(cond)              \
    do {                         \
        if (!(cond)) abort();    \
    } while (0)

/* Appends a canonical form of row to canon: each field length-prefixed,
 * then the UTF-8 flag. */
static void canon_row(util_buf *canon, const csv_row *row)
{
    CHECK(util_buf_printf(canon, "%zu:", row->n_fields) == DT_OK);
    for (size_t i = 0; i < row->n_fields; i++) {
        CHECK(strlen(row->fields[i]) == row->lens[i]);
        CHECK(util_buf_printf(canon, "%zu=", row->lens[i]) == DT_OK);
        CHECK(util_buf_append(canon, row->fields[i], row->lens[i]) == DT_OK);
    }
    long has_bad = row->bad_utf8_column > 0;
    CHECK(util_buf_printf(canon, "|%ld,%zu\n", has_bad, has_bad ? row->bad_utf8_field : 0) ==
          DT_OK);
}

/* Checks the span of the row csv_next just returned: its raw bytes are
 * the input from the row's first byte (blank lines before it skipped),
 * within what the call consumed. */
static void check_span(csv_reader *r, const char *data, size_t before, size_t after,
                       long *last_line)
{
    csv_span sp;
    CHECK(csv_last_span(r, &sp, NULL) == DT_OK);
    CHECK(sp.raw && !sp.is_raw_cut && sp.first_line <= sp.last_line);
    CHECK(sp.first_line > *last_line);
    *last_line = sp.last_line;
    size_t from = before;
    while (from < after && (data[from] == '\n' || data[from] == '\r')) from++;
    CHECK(from + sp.raw_len <= after);
    CHECK(sp.raw_len == 0 || memcmp(sp.raw, data + from, sp.raw_len) == 0);
}

/* Reads all of data. Appends good rows to canon and, when `written` is
 * not NULL, writes them there as CSV. Returns the number of broken rows. */
static size_t read_all(const char *data, size_t size, const csv_options *opt, util_buf *canon,
                       util_buf *written)
{
    csv_reader *r;
    csv_options keep = *opt;
    keep.keep_raw = 1;
    CHECK(csv_open_mem(data, size, "fuzz", &keep, &r, NULL) == DT_OK);
    size_t n_broken = 0, last_offset = csv_offset(r);
    long last_line = 0, last_span_line = 0;
    for (;;) {
        csv_row row;
        dt_error err;
        int rc = csv_next(r, &row, &err);
        if (rc == 0) break;
        size_t offset = csv_offset(r);
        CHECK(offset > last_offset && offset <= size);
        if (rc == 1 || rc == DT_EINPUT) check_span(r, data, last_offset, offset, &last_span_line);
        last_offset = offset;
        if (rc == DT_EINPUT) {
            CHECK(err.code == DT_EINPUT && err.line >= 1 && err.column >= 1);
            n_broken++;
            continue;
        }
        CHECK(rc == 1 && row.n_fields >= 1);
        CHECK(row.line > last_line);
        last_line = row.line;
        canon_row(canon, &row);
        if (written)
            CHECK(csv_write_row(written, row.fields, row.lens, row.n_fields, opt->delimiter) ==
                  DT_OK);
    }
    CHECK(csv_offset(r) == size);
    csv_close(r);
    return n_broken;
}

static void check_round_trip(const uint8_t *data, size_t size, char delimiter, int trim)
{
    csv_options opt = {.delimiter = delimiter, .trim = trim};
    util_buf canon = {0}, written = {0}, canon2 = {0};
    read_all((const char *)data, size, &opt, &canon, &written);
    CHECK(read_all(written.data ? written.data : "", written.len, &opt, &canon2, NULL) == 0);
    CHECK(canon.len == canon2.len);
    CHECK(canon.len == 0 || memcmp(canon.data, canon2.data, canon.len) == 0);
    util_buf_fini(&canon);
    util_buf_fini(&written);
    util_buf_fini(&canon2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_round_trip(data, size, ',', 0);
    check_round_trip(data, size, ',', 1);
    check_round_trip(data, size, '\t', 1);
    return 0;
}
