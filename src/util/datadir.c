/*
 * datadir.c — where dovetail's data files (the nickname table) are found.
 *
 * DT_DATA_DIR is compiled in: the source tree's data/ for a build used in
 * place, $(PREFIX)/share/dovetail for `make install`. An installed copy may
 * also have been staged elsewhere (DESTDIR) or moved, so when the compiled
 * path has no such file, the file is looked for beside the program and
 * beside the library itself, as BIN/../share/dovetail/NAME and
 * LIB/../share/dovetail/NAME (the layout make install writes).
 * Invariant: the answer never depends on the current directory.
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "dovetail.h"
#include "util.h"

#ifndef DT_DATA_DIR
#define DT_DATA_DIR "data"
#endif

/* OBJ/../share/dovetail/NAME when OBJ (a file's path) resolves and that
 * file is readable; else NULL. */
static char *beside(const char *obj, const char *name)
{
    char real[PATH_MAX];
    if (!obj || !realpath(obj, real)) return NULL;
    char *dir = util_dirname(real);
    char *share = dir ? util_path_join(dir, "../share/dovetail") : NULL;
    char *path = share ? util_path_join(share, name) : NULL;
    dt_free(dir);
    dt_free(share);
    if (path && access(path, R_OK) == 0) return path;
    dt_free(path);
    return NULL;
}

char *util_data_path(const char *name)
{
    char *path = util_path_join(DT_DATA_DIR, name);
    if (!path || access(path, R_OK) == 0) return path;
    char *found = beside("/proc/self/exe", name);
    Dl_info info;
    if (!found && dladdr((void *)util_data_path, &info) && info.dli_fname)
        found = beside(info.dli_fname, name);
    if (!found) return path; /* its error, when read, names the installed place */
    dt_free(path);
    return found;
}

char *dt_data_path(const char *name)
{
    return name ? util_data_path(name) : NULL;
}
