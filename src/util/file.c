/*
 * file.c — the clock and the few file-system helpers the library needs.
 *
 * Every file the library or the CLI writes holds, or may hold, people's
 * data or key material, so:
 *   1. Files are created 0600 and directories 0700, whatever the umask
 *      (the mode is set on the descriptor, not left to open's mode bits).
 *   2. An output is written to a temporary made with mkostemp in the
 *      target's directory (O_CREAT|O_EXCL: never a file or symlink someone
 *      planted, and an unpredictable name), synced, then renamed over the
 *      target; a failed write leaves the target as it was and no temporary.
 *   3. util_out_commit with no_replace links instead of renaming, so an
 *      existing target (a key file) is never overwritten.
 */
#define _GNU_SOURCE /* sync_file_range */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

double util_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int util_read_file(const char *path, char **out, size_t *out_len, dt_error *err)
{
    return util_read_file_max(path, SIZE_MAX - 65536 - 1, NULL, out, out_len, err);
}

int util_read_file_max(const char *path, size_t max_bytes, const char *what, char **out,
                       size_t *out_len, dt_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return dt_err_at(err, DT_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = DT_OK;
    for (;;) {
        if (len > max_bytes) { /* a pipe has no size to stat: count what came */
            rc = dt_err_at(err, DT_ELIMIT, path, 0, 0, "over %zu bytes, the limit for %s",
                           max_bytes, what ? what : "a file");
            break;
        }
        if ((rc = util_grow((void **)&buf, &cap, len + 65536 + 1, 1)) < 0) {
            dt_err_set(err, rc, "%s: out of memory reading file", path);
            break;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    if (rc == DT_OK && ferror(f))
        rc = dt_err_at(err, DT_EIO, path, 0, 0, "read error: %s", strerror(errno));
    fclose(f);
    if (rc < 0) {
        dt_free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    if (out_len) *out_len = len;
    return DT_OK;
}

int util_count_lines(const char *path, uint64_t max, uint64_t *n)
{
    *n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return DT_EIO;
    static const size_t SIZE = 1 << 20;
    char *buf = dt_malloc(SIZE);
    ssize_t got = buf ? 1 : -1;
    while (buf && *n < max && (got = read(fd, buf, SIZE)) > 0)
        for (const char *p = buf, *end = buf + got; (p = memchr(p, '\n', (size_t)(end - p))); p++)
            ++*n;
    dt_free(buf);
    close(fd);
    return got < 0 ? DT_EIO : DT_OK;
}

int util_mkdir(const char *path, dt_error *err)
{
    int e = mkdir(path, 0700) == 0 ? 0 : errno;
    if (e == ENOENT) { /* a parent is missing ("out/febrl4" on a fresh tree): make it first */
        char *parent = util_dirname(path);
        if (!parent) return dt_err_set(err, DT_ENOMEM, "out of memory");
        int rc = strcmp(parent, path) == 0 ? DT_OK : util_mkdir(parent, err);
        dt_free(parent);
        if (rc < 0) return rc;
        e = mkdir(path, 0700) == 0 ? 0 : errno;
    }
    if (e == 0) {
        if (chmod(path, 0700) == 0) return DT_OK; /* the umask may have taken bits */
        return dt_err_at(err, DT_EIO, path, 0, 0, "cannot set the mode: %s", strerror(errno));
    }
    if (e == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return DT_OK;
        return dt_err_at(err, DT_EIO, path, 0, 0, "exists and is not a directory");
    }
    return dt_err_at(err, DT_EIO, path, 0, 0, "cannot create directory: %s", strerror(e));
}

char *util_path_join(const char *dir, const char *name)
{
    if (name[0] == '/' || !dir || !*dir) return dt_strdup(name);
    return dt_asprintf("%s/%s", dir, name);
}

char *util_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return dt_strdup(".");
    if (slash == path) return dt_strdup("/");
    return dt_strndup(path, (size_t)(slash - path));
}

int util_out_open(util_out *o, const char *path, dt_error *err)
{
    memset(o, 0, sizeof *o);
    char *dir = util_dirname(path);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    o->path = dt_strdup(path);
    o->tmp = dir ? dt_asprintf("%s/.%s.XXXXXX", dir, base) : NULL;
    dt_free(dir);
    if (!o->path || !o->tmp) {
        util_out_abort(o);
        return dt_err_set(err, DT_ENOMEM, "out of memory");
    }
    int fd = mkstemp(o->tmp); /* O_CREAT|O_EXCL: never follows a planted symlink */
    if (fd < 0) {
        int rc = dt_err_at(err, DT_EIO, path, 0, 0, "cannot write: %s", strerror(errno));
        dt_free(o->tmp); /* nothing was made: abort must not remove a name we do not own */
        o->tmp = NULL;
        util_out_abort(o);
        return rc;
    }
    if (fchmod(fd, 0600) != 0 || !(o->f = fdopen(fd, "wb"))) {
        int rc = dt_err_at(err, DT_EIO, path, 0, 0, "cannot write: %s", strerror(errno));
        if (!o->f) close(fd);
        util_out_abort(o);
        return rc;
    }
    return DT_OK;
}

int util_out_write_back(util_out *o, dt_error *err)
{
    if (!o->f) return DT_OK;
    if (fflush(o->f) != 0)
        return dt_err_at(err, DT_EIO, o->path, 0, 0, "write failed: %s", strerror(errno));
#ifdef SYNC_FILE_RANGE_WRITE
    /* a hint: a failure here shows again at the fsync in util_out_close */
    (void)sync_file_range(fileno(o->f), 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
    return DT_OK;
}

int util_out_close(util_out *o, dt_error *err)
{
    if (!o->f) return DT_OK;
    int bad = fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0;
    int saved = errno;
    bad = fclose(o->f) != 0 || bad;
    o->f = NULL;
    if (!bad) return DT_OK;
    return dt_err_at(err, DT_EIO, o->path, 0, 0, "write failed: %s", strerror(saved ? saved : EIO));
}

int util_out_commit(util_out *o, int no_replace, dt_error *err)
{
    int rc = util_out_close(o, err);
    if (rc == DT_OK && no_replace && link(o->tmp, o->path) != 0)
        rc = dt_err_at(err, DT_EIO, o->path, 0, 0, "cannot create: %s", strerror(errno));
    if (rc == DT_OK && !no_replace && rename(o->tmp, o->path) != 0)
        rc = dt_err_at(err, DT_EIO, o->path, 0, 0, "cannot rename into place: %s",
                       strerror(errno));
    if (rc == DT_OK && no_replace) unlink(o->tmp);
    if (rc == DT_OK) {
        dt_free(o->tmp);
        o->tmp = NULL;
    }
    util_out_abort(o);
    return rc;
}

void util_out_abort(util_out *o)
{
    if (o->f) fclose(o->f);
    if (o->tmp) unlink(o->tmp);
    dt_free(o->tmp);
    dt_free(o->path);
    memset(o, 0, sizeof *o);
}

int util_write_file(const char *path, const void *data, size_t n, int no_replace, dt_error *err)
{
    util_out o;
    DT_TRY(util_out_open(&o, path, err));
    if (fwrite(data, 1, n, o.f) != n) {
        int rc = dt_err_at(err, DT_EIO, path, 0, 0, "write failed: %s", strerror(errno));
        util_out_abort(&o);
        return rc;
    }
    return util_out_commit(&o, no_replace, err);
}

int dt_file_write(const char *path, const void *data, size_t n, dt_error *err)
{
    dt_error_clear(err);
    if (!path || (!data && n)) return dt_err_set(err, DT_EINVAL, "dt_file_write: NULL argument");
    return util_write_file(path, data, n, 0, err);
}
