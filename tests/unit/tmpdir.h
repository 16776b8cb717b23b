/* tmpdir.h — a scratch directory for one unit-test binary: tmpdir_setup
 * makes it (as the group setup), tmpdir_teardown removes it and all it
 * holds. Included by one test file per binary. */
#ifndef DT_TEST_TMPDIR_H
#define DT_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

static char g_dir[] = "/tmp/dt_test_XXXXXX";

static int tmpdir_setup(void **state)
{
    (void)state;
    return mkdtemp(g_dir) ? 0 : -1;
}

static int tmpdir_teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Removes a store file and its WAL companions, if there. */
static inline void tmpdir_remove_store(const char *path)
{
    char side[512];
    remove(path);
    snprintf(side, sizeof side, "%s-wal", path);
    remove(side);
    snprintf(side, sizeof side, "%s-shm", path);
    remove(side);
}

/* g_dir/name into out. */
static void tmpdir_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", g_dir, name);
}

#endif
