/*
 * file.c — the clock and the few file-system helpers the pipeline needs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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

int util_mkdir(const char *path, dt_error *err)
{
    int e = mkdir(path, 0777) == 0 ? 0 : errno;
    if (e == ENOENT) { /* a parent is missing ("out/febrl4" on a fresh tree): make it first */
        char *parent = util_dirname(path);
        if (!parent) return dt_err_set(err, DT_ENOMEM, "out of memory");
        int rc = strcmp(parent, path) == 0 ? DT_OK : util_mkdir(parent, err);
        dt_free(parent);
        if (rc < 0) return rc;
        e = mkdir(path, 0777) == 0 ? 0 : errno;
    }
    if (e == 0 || e == EEXIST) {
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
