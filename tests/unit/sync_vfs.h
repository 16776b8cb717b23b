/*
 * sync_vfs.h — a SQLite VFS for tests that passes every call to the
 * default VFS and counts the syncs of main database files (not their
 * WALs or journals), so a test can tell whether the store file was synced
 * where it must be. Header-only: one test program includes it.
 *
 * Invariant: every method forwards to the real file's method of the same
 * name with the same arguments; the count is the only thing added.
 */
#ifndef DT_TEST_SYNC_VFS_H
#define DT_TEST_SYNC_VFS_H

#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>

typedef struct sync_file {
    sqlite3_file base;
    int is_main;
    sqlite3_file *real; /* follows this struct, szOsFile of the real VFS */
} sync_file;

static sqlite3_vfs *g_sync_real;
static sqlite3_vfs g_sync_vfs;
static sqlite3_io_methods g_sync_io;
static atomic_long g_main_syncs;

#define SF(f) (((sync_file *)(f))->real)

static int sf_close(sqlite3_file *f) { return SF(f)->pMethods->xClose(SF(f)); }
static int sf_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{ return SF(f)->pMethods->xRead(SF(f), b, n, o); }
static int sf_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{ return SF(f)->pMethods->xWrite(SF(f), b, n, o); }
static int sf_truncate(sqlite3_file *f, sqlite3_int64 n)
{ return SF(f)->pMethods->xTruncate(SF(f), n); }
static int sf_sync(sqlite3_file *f, int flags)
{
    if (((sync_file *)f)->is_main) atomic_fetch_add(&g_main_syncs, 1);
    return SF(f)->pMethods->xSync(SF(f), flags);
}
static int sf_size(sqlite3_file *f, sqlite3_int64 *n) { return SF(f)->pMethods->xFileSize(SF(f), n); }
static int sf_lock(sqlite3_file *f, int l) { return SF(f)->pMethods->xLock(SF(f), l); }
static int sf_unlock(sqlite3_file *f, int l) { return SF(f)->pMethods->xUnlock(SF(f), l); }
static int sf_reserved(sqlite3_file *f, int *out)
{ return SF(f)->pMethods->xCheckReservedLock(SF(f), out); }
static int sf_control(sqlite3_file *f, int op, void *arg)
{ return SF(f)->pMethods->xFileControl(SF(f), op, arg); }
static int sf_sector(sqlite3_file *f) { return SF(f)->pMethods->xSectorSize(SF(f)); }
static int sf_chars(sqlite3_file *f) { return SF(f)->pMethods->xDeviceCharacteristics(SF(f)); }
static int sf_shm_map(sqlite3_file *f, int i, int sz, int extend, void volatile **p)
{ return SF(f)->pMethods->xShmMap(SF(f), i, sz, extend, p); }
static int sf_shm_lock(sqlite3_file *f, int off, int n, int flags)
{ return SF(f)->pMethods->xShmLock(SF(f), off, n, flags); }
static void sf_shm_barrier(sqlite3_file *f) { SF(f)->pMethods->xShmBarrier(SF(f)); }
static int sf_shm_unmap(sqlite3_file *f, int del) { return SF(f)->pMethods->xShmUnmap(SF(f), del); }
static int sf_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p)
{ return SF(f)->pMethods->xFetch(SF(f), o, n, p); }
static int sf_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{ return SF(f)->pMethods->xUnfetch(SF(f), o, p); }

static int sf_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    sync_file *sf = (sync_file *)f;
    sf->real = (sqlite3_file *)(sf + 1);
    sf->is_main = (flags & SQLITE_OPEN_MAIN_DB) != 0;
    int rc = g_sync_real->xOpen(g_sync_real, name, sf->real, flags, out_flags);
    /* a failed open leaves pMethods NULL: SQLite then calls no method */
    f->pMethods = rc == SQLITE_OK && sf->real->pMethods ? &g_sync_io : NULL;
    return rc;
}

static int vf_delete(sqlite3_vfs *v, const char *n, int d)
{ (void)v; return g_sync_real->xDelete(g_sync_real, n, d); }
static int vf_access(sqlite3_vfs *v, const char *n, int f, int *o)
{ (void)v; return g_sync_real->xAccess(g_sync_real, n, f, o); }
static int vf_full(sqlite3_vfs *v, const char *n, int sz, char *o)
{ (void)v; return g_sync_real->xFullPathname(g_sync_real, n, sz, o); }
static int vf_random(sqlite3_vfs *v, int n, char *o)
{ (void)v; return g_sync_real->xRandomness(g_sync_real, n, o); }
static int vf_sleep(sqlite3_vfs *v, int us) { (void)v; return g_sync_real->xSleep(g_sync_real, us); }
static int vf_time(sqlite3_vfs *v, double *o) { (void)v; return g_sync_real->xCurrentTime(g_sync_real, o); }
static int vf_error(sqlite3_vfs *v, int n, char *o)
{ (void)v; return g_sync_real->xGetLastError(g_sync_real, n, o); }
static int vf_time64(sqlite3_vfs *v, sqlite3_int64 *o)
{ (void)v; return g_sync_real->xCurrentTimeInt64(g_sync_real, o); }

/* Makes the counting VFS the default; call before any store opens. */
static void sync_vfs_install(void)
{
    g_sync_real = sqlite3_vfs_find(NULL);
    g_sync_io = (sqlite3_io_methods){
        3, sf_close, sf_read, sf_write, sf_truncate, sf_sync, sf_size, sf_lock, sf_unlock,
        sf_reserved, sf_control, sf_sector, sf_chars, sf_shm_map, sf_shm_lock, sf_shm_barrier,
        sf_shm_unmap, sf_fetch, sf_unfetch,
    };
    g_sync_vfs = (sqlite3_vfs){
        .iVersion = 2, .szOsFile = (int)sizeof(sync_file) + g_sync_real->szOsFile,
        .mxPathname = g_sync_real->mxPathname, .zName = "dt-sync-count", .xOpen = sf_open,
        .xDelete = vf_delete, .xAccess = vf_access, .xFullPathname = vf_full,
        .xRandomness = vf_random, .xSleep = vf_sleep, .xCurrentTime = vf_time,
        .xGetLastError = vf_error, .xCurrentTimeInt64 = vf_time64,
    };
    sqlite3_vfs_register(&g_sync_vfs, 1);
}

#endif
