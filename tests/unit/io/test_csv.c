/* Unit tests for src/io/csv.c: the RFC 4180 cases, line numbers across
 * embedded newlines, broken rows and resynchronisation, UTF-8 flags, rows
 * spanning many read windows, the writer round trip, and the real FEBRL
 * file. Most tests render what the reader returns as one string (dump) so
 * the expectation reads like the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/csv.h"

/* Renders every row as "<line>:[f1][f2]\n", every broken row as
 * "E<line>:<col>\n", a bad UTF-8 flag as " u<field>@<line>:<col>", and
 * closes r. */
static char *dump_reader(csv_reader *r)
{
    static char out[1 << 16];
    size_t len = 0;
    for (;;) {
        csv_row row;
        dt_error err;
        dt_error_clear(&err);
        int rc = csv_next(r, &row, &err);
        if (rc == 0) break;
        if (rc == DT_EINPUT) {
            len += (size_t)snprintf(out + len, sizeof out - len, "E%ld:%ld\n", err.line,
                                    err.column);
            continue;
        }
        assert_int_equal(rc, 1);
        len += (size_t)snprintf(out + len, sizeof out - len, "%ld:", row.line);
        for (size_t i = 0; i < row.n_fields; i++) {
            assert_int_equal(strlen(row.fields[i]), row.lens[i]);
            if (row.lens[i] > 100) /* keep the dump short */
                len += (size_t)snprintf(out + len, sizeof out - len, "[%zu bytes]", row.lens[i]);
            else
                len += (size_t)snprintf(out + len, sizeof out - len, "[%s]", row.fields[i]);
        }
        if (row.bad_utf8_column)
            len += (size_t)snprintf(out + len, sizeof out - len, " u%zu@%ld:%ld",
                                    row.bad_utf8_field, row.bad_utf8_line, row.bad_utf8_column);
        len += (size_t)snprintf(out + len, sizeof out - len, "\n");
    }
    csv_close(r);
    out[len] = '\0';
    return out;
}

static char *dump_opts(const char *data, size_t n, const csv_options *opt)
{
    csv_reader *r;
    assert_int_equal(csv_open_mem(data, n, "t.csv", opt, &r, NULL), DT_OK);
    return dump_reader(r);
}

static char *dump(const char *s, int trim)
{
    csv_options opt = {.delimiter = ',', .trim = trim};
    return dump_opts(s, strlen(s), &opt);
}

static void test_basic_and_quotes(void **state)
{
    (void)state;
    assert_string_equal(dump("a,b,c\n1,2,3\n", 0), "1:[a][b][c]\n2:[1][2][3]\n");
    assert_string_equal(dump("\"a,b\",\"say \"\"hi\"\"\",\"\"\n", 0), "1:[a,b][say \"hi\"][]\n");
    assert_string_equal(dump(",,\n", 0), "1:[][][]\n");
    assert_string_equal(dump("\"\"\n", 0), "1:[]\n");
    assert_string_equal(dump("a,\n", 0), "1:[a][]\n");
    /* Lenient: a quote inside an unquoted field is literal. */
    assert_string_equal(dump("ab\"c,d\"\n", 0), "1:[ab\"c][d\"]\n");
    /* Spaces after a closing quote are dropped, in both modes. */
    assert_string_equal(dump("\"a\"  ,b\n", 0), "1:[a][b]\n");
    assert_string_equal(dump("x;\"y;z\"\n", 0), "1:[x;\"y;z\"]\n");
    csv_options semi = {.delimiter = ';'};
    assert_string_equal(dump_opts("x;\"y;z\"\n", 8, &semi), "1:[x][y;z]\n");
}

static void test_line_ends(void **state)
{
    (void)state;
    /* CRLF, LF, lone CR, no final newline. */
    assert_string_equal(dump("a,b\r\nc,d\r\n", 0), "1:[a][b]\n2:[c][d]\n");
    assert_string_equal(dump("a\rb\nc", 0), "1:[a]\n2:[b]\n3:[c]\n");
    assert_string_equal(dump("a,b\nc,d", 0), "1:[a][b]\n2:[c][d]\n");
    assert_string_equal(dump("a,b\nc,\"d\"", 0), "1:[a][b]\n2:[c][d]\n");
    /* Empty lines are not rows, wherever they are; line numbers still count. */
    assert_string_equal(dump("a\n\n\r\n\nb\n\n", 0), "1:[a]\n5:[b]\n");
    assert_string_equal(dump("", 0), "");
    assert_string_equal(dump("\n\n", 0), "");
    /* A line of blanks is a row (one field), trimmed or not. */
    assert_string_equal(dump("  \n", 0), "1:[  ]\n");
    assert_string_equal(dump("  \n", 1), "1:[]\n");
}

static void test_embedded_newlines(void **state)
{
    (void)state;
    assert_string_equal(dump("h\n\"one\ntwo\r\nthree\",x\nnext,row\n", 0),
                        "1:[h]\n2:[one\ntwo\r\nthree][x]\n5:[next][row]\n");
    /* A broken row after a multi-line field reports the right line. */
    assert_string_equal(dump("\"a\nb\",1\n\"c\"x\nok\n", 0), "1:[a\nb][1]\nE3:4\n4:[ok]\n");
    /* A quote opened on line 1 that breaks on line 3 is taken as stray:
     * line 1 alone is the broken row, placed at the quote; lines 2-3 read on. */
    assert_string_equal(dump("\"a\nb\nc\"x,y\nok\n", 0), "E1:1\n2:[b]\n3:[c\"x][y]\n4:[ok]\n");
}

static void test_bom(void **state)
{
    (void)state;
    assert_string_equal(dump("\xEF\xBB\xBFid,name\n1,x\n", 0), "1:[id][name]\n2:[1][x]\n");
    /* Only at the very start; columns on line 1 count from after it. */
    assert_string_equal(dump("\xEF\xBB\xBF\"a\"b\n", 0), "E1:4\n");
    assert_string_equal(dump("\xEF\xBB\xBF", 0), "");
}

static void test_trim(void **state)
{
    (void)state;
    assert_string_equal(dump("rec_id, given_name , surname\n", 1),
                        "1:[rec_id][given_name][surname]\n");
    assert_string_equal(dump("a, \"b \" ,\t c d \t\n", 1), "1:[a][b ][c d]\n");
    assert_string_equal(dump("a, , \n", 1), "1:[a][][]\n");
    /* Without trim, blanks stay and a quote after them is literal. */
    assert_string_equal(dump("a, \"b\"\n", 0), "1:[a][ \"b\"]\n");
    csv_options tsv = {.delimiter = '\t', .trim = 1};
    assert_string_equal(dump_opts("a\t b \t\tc\n", 9, &tsv), "1:[a][b][][c]\n");
}

static void test_unterminated_quote(void **state)
{
    (void)state;
    const char *s = "a,b\nc,d\ne,\"never closed\nmore\n";
    assert_string_equal(dump(s, 0), "1:[a][b]\n2:[c][d]\nE3:3\n4:[more]\n");
    csv_reader *r;
    assert_int_equal(csv_open_mem(s, strlen(s), "t.csv", NULL, &r, NULL), DT_OK);
    csv_row row;
    dt_error err;
    dt_error_clear(&err);
    assert_int_equal(csv_next(r, &row, &err), 1);
    assert_int_equal(csv_next(r, &row, &err), 1);
    assert_int_equal(csv_next(r, &row, &err), DT_EINPUT);
    assert_int_equal(err.code, DT_EINPUT);
    assert_string_equal(err.file, "t.csv");
    assert_non_null(strstr(err.msg, "unterminated quoted field (opened at line 3, column 3)"));
    assert_non_null(strstr(err.msg, "stray quote: reading goes on at line 4"));
    assert_int_equal(csv_next(r, &row, &err), 1); /* line 4 was not swallowed */
    assert_string_equal(row.fields[0], "more");
    assert_int_equal(row.line, 4);
    assert_int_equal(csv_next(r, &row, &err), 0);
    assert_int_equal(csv_offset(r), strlen(s));
    csv_close(r);
}

static void test_text_after_quote(void **state)
{
    (void)state;
    const char *s = "h1,h2\n\"ab\"c,d\nnext,row\n";
    assert_string_equal(dump(s, 0), "1:[h1][h2]\nE2:5\n3:[next][row]\n");
    csv_reader *r;
    assert_int_equal(csv_open_mem(s, strlen(s), NULL, NULL, &r, NULL), DT_OK);
    csv_row row;
    dt_error err;
    assert_int_equal(csv_next(r, &row, &err), 1);
    assert_int_equal(csv_next(r, &row, &err), DT_EINPUT);
    assert_non_null(strstr(err.msg, "<memory>:2:5: unexpected 'c' after the closing quote"));
    assert_int_equal(csv_next(r, &row, &err), 1);
    assert_string_equal(row.fields[0], "next");
    assert_int_equal(row.line, 3);
    csv_close(r);
    /* Also with CRLF, at the end of the input and in trim mode. */
    assert_string_equal(dump("\"a\"x\r\nb\r\n", 0), "E1:4\n2:[b]\n");
    assert_string_equal(dump("\"a\" x", 1), "E1:5\n");
}

static void test_nul_byte(void **state)
{
    (void)state;
    static const char s[] = "a,b\nc,d\0e,f\n\"g\0\",h\ni,j\n";
    assert_string_equal(dump_opts(s, sizeof s - 1, NULL), "1:[a][b]\nE2:4\nE3:3\n4:[i][j]\n");
    csv_reader *r;
    assert_int_equal(csv_open_mem(s, sizeof s - 1, "n.csv", NULL, &r, NULL), DT_OK);
    csv_row row;
    dt_error err;
    assert_int_equal(csv_next(r, &row, &err), 1);
    assert_int_equal(csv_next(r, &row, &err), DT_EINPUT);
    assert_non_null(strstr(err.msg, "n.csv:2:4: NUL byte in field 2"));
    csv_close(r);
}

static void test_bad_utf8(void **state)
{
    (void)state;
    /* Kept as is, flagged at the first invalid byte: field index, line, column. */
    assert_string_equal(dump("jos\xC3\xA9,x\n", 0), "1:[jos\xC3\xA9][x]\n");
    assert_string_equal(dump("ok,ab\xFF" "c,\xFE\n", 0), "1:[ok][ab\xFF" "c][\xFE] u1@1:6\n");
    /* A cut-short sequence is reported at its lead byte. */
    assert_string_equal(dump("a,\"x\xC3\",b\n", 0), "1:[a][x\xC3][b] u1@1:5\n");
    assert_string_equal(dump("a,x\xE2\x82 y\n", 1), "1:[a][x\xE2\x82 y] u1@1:4\n");
    /* Overlong, surrogate, beyond U+10FFFF, stray continuation. */
    assert_string_equal(dump("\xC0\xAF\n", 0), "1:[\xC0\xAF] u0@1:1\n");
    assert_string_equal(dump("\xED\xA0\x80\n", 0), "1:[\xED\xA0\x80] u0@1:1\n");
    assert_string_equal(dump("\xF4\x90\x80\x80\n", 0), "1:[\xF4\x90\x80\x80] u0@1:1\n");
    assert_string_equal(dump("a\x80\n", 0), "1:[a\x80] u0@1:2\n");
    /* In a quoted field spanning lines: the physical line of the byte. */
    assert_string_equal(dump("x,\"l1\nl2\xFF\"\n", 0), "1:[x][l1\nl2\xFF] u1@2:3\n");
    /* The flag belongs to its row only. */
    assert_string_equal(dump("\xFF\nok\n", 0), "1:[\xFF] u0@1:1\n2:[ok]\n");
    /* 4-byte sequences are fine. */
    assert_string_equal(dump("\xF0\x9F\x98\x80\n", 0), "1:[\xF0\x9F\x98\x80]\n");
}

/* Writes data to a temporary file and returns its path. */
static const char *temp_file(const char *data, size_t n)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/dt_test_csv_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
    return path;
}

static void test_long_rows_across_windows(void **state)
{
    (void)state;
    /* A 1 MB quoted field with quotes, a newline and a multi-byte char that
     * straddle the 256 KiB window edges, between two ordinary rows. */
    size_t n_big = (size_t)1 << 20;
    util_buf in = {0}, want = {0};
    assert_int_equal(util_buf_append(&in, "first,row\n\"", 11), DT_OK);
    for (size_t i = 0; i < n_big; i++) {
        char c = (char)('a' + i % 26);
        if (i % 100003 == 0) c = '"';
        if (i % 262143 == 0) c = '\n';
        if (c == '"') assert_int_equal(util_buf_putc(&in, '"'), DT_OK);
        if (i == (256u << 10) - 14) { /* the 2-byte é split by the first refill */
            assert_int_equal(util_buf_append(&in, "\xC3\xA9", 2), DT_OK);
            assert_int_equal(util_buf_append(&want, "\xC3\xA9", 2), DT_OK);
            continue;
        }
        assert_int_equal(util_buf_putc(&in, c), DT_OK);
        assert_int_equal(util_buf_putc(&want, c), DT_OK);
    }
    assert_int_equal(util_buf_append(&in, "\",tail\nlast,row", 15), DT_OK);

    const char *path = temp_file(in.data, in.len);
    csv_reader *r;
    dt_error err;
    dt_error_clear(&err);
    assert_int_equal(csv_open(path, NULL, &r, &err), DT_OK);
    csv_row row;
    assert_int_equal(csv_next(r, &row, &err), 1);
    assert_int_equal(csv_next(r, &row, &err), 1);
    assert_int_equal(row.line, 2);
    assert_int_equal(row.n_fields, 2);
    assert_int_equal(row.lens[0], want.len);
    assert_memory_equal(row.fields[0], want.data, want.len);
    assert_string_equal(row.fields[1], "tail");
    assert_int_equal(row.bad_utf8_column, 0);
    assert_int_equal(csv_next(r, &row, &err), 1);
    /* 5 newlines in the field (at 0, 262143, 524286, 786429, 1048572) */
    assert_int_equal(row.line, 2 + 5 + 1);
    assert_string_equal(row.fields[1], "row");
    assert_int_equal(csv_next(r, &row, &err), 0);
    assert_int_equal(csv_offset(r), in.len);
    csv_close(r);
    unlink(path);
    util_buf_fini(&in);
    util_buf_fini(&want);
}

/* Every tricky construct straddling the file window's edge (256 KiB) reads
 * as it does from memory, where there is no edge. */
static void test_window_edges(void **state)
{
    (void)state;
    static const char tail[] = "\"q\"\"r\r\ns\" ,\xC3\xA9\xE2\x82\xAC\r\nz,\"\"\r\n\r\n\"t\"x\r\n"
                               "u\0v\nw, w2 \r\n\"open";
    size_t window = (size_t)256 << 10;
    char *data = malloc(window + sizeof tail);
    assert_non_null(data);
    csv_options opt = {.trim = 1};
    for (size_t k = 1; k < sizeof tail; k++) {
        size_t n_pad = window - k;
        memset(data, 'p', n_pad - 1);
        data[n_pad - 1] = '\n';
        memcpy(data + n_pad, tail, sizeof tail - 1);
        size_t n = n_pad + sizeof tail - 1;
        char *from_mem = strdup(dump_opts(data, n, &opt));
        const char *path = temp_file(data, n);
        csv_reader *r;
        assert_int_equal(csv_open(path, &opt, &r, NULL), DT_OK);
        assert_string_equal(dump_reader(r), from_mem);
        unlink(path);
        free(from_mem);
    }
    free(data);
}

static void test_row_too_long(void **state)
{
    (void)state;
    /* 17 MB in one field: broken, and the next line reads fine. */
    size_t n = (size_t)17 << 20;
    char *s = malloc(n + 32);
    assert_non_null(s);
    memset(s, 'x', n);
    memcpy(s + n, "\nok,1\n", 7);
    csv_reader *r;
    assert_int_equal(csv_open_mem(s, n + 6, "big.csv", NULL, &r, NULL), DT_OK);
    csv_row row;
    dt_error err;
    assert_int_equal(csv_next(r, &row, &err), DT_EINPUT);
    assert_non_null(strstr(err.msg, "longer than 16 MiB"));
    assert_int_equal(csv_next(r, &row, &err), 1);
    assert_int_equal(row.line, 2);
    assert_string_equal(row.fields[0], "ok");
    assert_int_equal(csv_next(r, &row, &err), 0);
    csv_close(r);
    /* An unterminated quote early in a big file says so. */
    s[0] = '"';
    assert_int_equal(csv_open_mem(s, n + 6, "big.csv", NULL, &r, NULL), DT_OK);
    assert_int_equal(csv_next(r, &row, &err), DT_EINPUT);
    assert_non_null(strstr(err.msg, "big.csv:1:1: unterminated quoted field"));
    assert_non_null(strstr(err.msg, "longer than 16 MiB without its closing quote"));
    csv_close(r);
    free(s);
}

/* Renders each row's span as "<first>-<last>:<raw>|" (broken rows with a
 * leading E), in a malloc'd string, and closes r. */
static char *dump_spans(csv_reader *r)
{
    util_buf out = {0};
    for (;;) {
        csv_row row;
        dt_error err;
        int rc = csv_next(r, &row, &err);
        if (rc == 0) break;
        assert_true(rc == 1 || rc == DT_EINPUT);
        csv_span sp;
        assert_int_equal(csv_last_span(r, &sp, &err), DT_OK);
        assert_non_null(sp.raw);
        assert_false(sp.is_raw_cut);
        util_buf_printf(&out, "%s%ld-%ld:", rc == 1 ? "" : "E", sp.first_line, sp.last_line);
        util_buf_append(&out, sp.raw, sp.raw_len);
        util_buf_putc(&out, '|');
    }
    csv_close(r);
    assert_false(out.is_failed);
    return out.data ? out.data : strdup("");
}

static void test_span(void **state)
{
    (void)state;
    /* A quote never closed is taken as stray: its line alone is the broken
     * row, and the next lines read on; blank lines before a row are not
     * part of it. */
    static const char s[] = "a,b\r\n\r\nc,\"open\nd,e\r\nf,g\n\n";
    csv_options keep = {.keep_raw = 1};
    csv_reader *r;
    assert_int_equal(csv_open_mem(s, sizeof s - 1, "s.csv", &keep, &r, NULL), DT_OK);
    char *got = dump_spans(r);
    assert_string_equal(got, "1-1:a,b|E3-3:c,\"open|4-4:d,e|5-5:f,g|");
    free(got);
    /* Text after a closing quote two lines on: the same. No final line
     * end: the last line is the row's. */
    static const char t[] = "\"x\ny\"z,1\nok,2";
    assert_int_equal(csv_open_mem(t, sizeof t - 1, "t.csv", &keep, &r, NULL), DT_OK);
    got = dump_spans(r);
    assert_string_equal(got, "E1-1:\"x|2-2:y\"z,1|3-3:ok,2|");
    free(got);
    /* A second quote opened where the first one's look-ahead already read
     * is not retried (csv.c invariant 5): it takes every line to the end,
     * and the span names and keeps them all. */
    static const char u[] = "h\n\"a\nb\n\"c\nd\ne\n";
    assert_int_equal(csv_open_mem(u, sizeof u - 1, "u.csv", &keep, &r, NULL), DT_OK);
    got = dump_spans(r);
    assert_string_equal(got, "1-1:h|E2-2:\"a|3-3:b|E4-6:\"c\nd\ne|");
    free(got);
    /* Without keep_raw: lines only. */
    assert_int_equal(csv_open_mem(t, sizeof t - 1, "t.csv", NULL, &r, NULL), DT_OK);
    csv_row row;
    csv_span sp;
    assert_int_equal(csv_next(r, &row, NULL), DT_EINPUT);
    assert_int_equal(csv_last_span(r, &sp, NULL), DT_OK);
    assert_null(sp.raw);
    assert_int_equal(sp.first_line, 1);
    assert_int_equal(sp.last_line, 1);
    csv_close(r);
}

/* Rows and broken rows spanning the 256 KiB file windows keep the same
 * bytes as from memory, where there are no windows, and going back after a
 * stray quote seeks in the file as it moves in memory. */
static void test_span_across_windows(void **state)
{
    (void)state;
    util_buf in = {0};
    util_buf_append(&in, "h1,h2\n", 6);
    for (int i = 0; i < 30000; i++) util_buf_printf(&in, "%d,\"v\"\"%d\nw\"\r\n", i, i);
    util_buf_append(&in, "x,\"never closed\n", 16);
    for (int i = 0; i < 40000; i++) util_buf_printf(&in, "%d,y\n", i);
    assert_false(in.is_failed);
    assert_true(in.len > (size_t)3 * (256 << 10));
    csv_options keep = {.keep_raw = 1};
    csv_reader *r;
    assert_int_equal(csv_open_mem(in.data, in.len, "m.csv", &keep, &r, NULL), DT_OK);
    char *from_mem = dump_spans(r);
    const char *path = temp_file(in.data, in.len);
    assert_int_equal(csv_open(path, &keep, &r, NULL), DT_OK);
    char *from_file = dump_spans(r);
    assert_string_equal(from_file, from_mem);
    /* the stray quote costs its line only, read back from the file */
    assert_non_null(strstr(from_file, "|E60002-60002:x,\"never closed|60003-60003:0,y|"));
    assert_non_null(strstr(from_file, "|100002-100002:39999,y|"));
    unlink(path);
    free(from_mem);
    free(from_file);
    util_buf_fini(&in);
}

static void test_writer_round_trip(void **state)
{
    (void)state;
    static const char *const rows[][4] = {
        {"plain", "with,comma", "say \"hi\"", "line\nbreak"},
        {"", "cr\r\nlf", "\"", " padded "},
        {"\t", "x\"", "\xEF\xBB\xBF" "bom", "end"},
    };
    util_buf out = {0};
    for (size_t i = 0; i < 3; i++) {
        size_t lens[4];
        for (size_t j = 0; j < 4; j++) lens[j] = strlen(rows[i][j]);
        assert_int_equal(csv_write_row(&out, rows[i], lens, 4, ','), DT_OK);
    }
    const char *lone_empty[] = {""};
    size_t zero = 0;
    assert_int_equal(csv_write_row(&out, lone_empty, &zero, 1, ','), DT_OK);
    for (int trim = 0; trim <= 1; trim++) {
        csv_options opt = {.trim = trim};
        csv_reader *r;
        assert_int_equal(csv_open_mem(out.data, out.len, NULL, &opt, &r, NULL), DT_OK);
        csv_row row;
        for (size_t i = 0; i < 3; i++) {
            assert_int_equal(csv_next(r, &row, NULL), 1);
            assert_int_equal(row.n_fields, 4);
            for (size_t j = 0; j < 4; j++) assert_string_equal(row.fields[j], rows[i][j]);
        }
        assert_int_equal(csv_next(r, &row, NULL), 1);
        assert_int_equal(row.n_fields, 1);
        assert_string_equal(row.fields[0], "");
        assert_int_equal(csv_next(r, &row, NULL), 0);
        csv_close(r);
    }
    /* Quoting only when needed; NUL cannot be written. */
    util_buf_clear(&out);
    assert_int_equal(csv_write_field(&out, "ab", 2, ','), DT_OK);
    assert_int_equal(csv_write_field(&out, "a;b", 3, ';'), DT_OK);
    assert_int_equal(csv_write_field(&out, "a;b", 3, ','), DT_OK);
    assert_string_equal(out.data, "ab\"a;b\"a;b");
    assert_int_equal(csv_write_field(&out, "a\0b", 3, ','), DT_EINVAL);
    util_buf_fini(&out);
}

static void test_febrl(void **state)
{
    (void)state;
    csv_options opt = {.delimiter = ',', .trim = 1};
    csv_reader *r;
    dt_error err;
    dt_error_clear(&err);
    assert_int_equal(csv_open(DT_TEST_DATA "/febrl/dataset4a.csv", &opt, &r, &err), DT_OK);
    csv_row row;
    long n_rows = 0;
    int rc;
    while ((rc = csv_next(r, &row, &err)) == 1) {
        assert_int_equal(row.n_fields, 11);
        assert_int_equal(row.bad_utf8_column, 0);
        if (n_rows == 0) {
            assert_string_equal(row.fields[0], "rec_id");
            assert_string_equal(row.fields[10], "soc_sec_id");
        }
        if (n_rows == 1) {
            assert_string_equal(row.fields[0], "rec-1070-org");
            assert_string_equal(row.fields[4], "stanley street");
            assert_string_equal(row.fields[10], "5304218");
        }
        n_rows++;
        assert_int_equal(row.line, n_rows);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n_rows, 5001);
    csv_close(r);
}

static void test_open_errors(void **state)
{
    (void)state;
    csv_reader *r = NULL;
    dt_error err;
    dt_error_clear(&err);
    assert_int_equal(csv_open("/nonexistent/x.csv", NULL, &r, &err), DT_ENOTFOUND);
    assert_null(r);
    assert_non_null(strstr(err.msg, "/nonexistent/x.csv"));
    csv_options bad = {.delimiter = '"'};
    assert_int_equal(csv_open_mem("a", 1, NULL, &bad, &r, &err), DT_EINVAL);
    csv_close(NULL);
    /* Out of memory: every allocation point fails cleanly. */
    for (long k = 1; k < 8; k++) {
        util_fail_after(k);
        int rc = csv_open_mem("a,b\nc\n", 6, NULL, NULL, &r, NULL);
        if (rc == DT_OK) {
            csv_row row;
            while ((rc = csv_next(r, &row, NULL)) == 1) {
            }
            csv_close(r);
        }
        util_fail_after(0);
        assert_true(rc == 0 || rc == DT_ENOMEM);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_and_quotes),
        cmocka_unit_test(test_line_ends),
        cmocka_unit_test(test_embedded_newlines),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_trim),
        cmocka_unit_test(test_unterminated_quote),
        cmocka_unit_test(test_text_after_quote),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_bad_utf8),
        cmocka_unit_test(test_long_rows_across_windows),
        cmocka_unit_test(test_window_edges),
        cmocka_unit_test(test_row_too_long),
        cmocka_unit_test(test_span),
        cmocka_unit_test(test_span_across_windows),
        cmocka_unit_test(test_writer_round_trip),
        cmocka_unit_test(test_febrl),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
