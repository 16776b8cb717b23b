/* pg_server.h — a private PostgreSQL for one unit-test binary: the group
 * setup starts it (tests/pg-server, a Unix socket only), the teardown
 * stops it; each test makes its store in a database of its own, whose
 * text collates by ICU's English rules, not by bytes, so a list a store
 * orders shows whether it orders by bytes as SQLite does. Included by
 * one test file per binary, after tmpdir.h. */
#ifndef DT_TEST_PG_SERVER_H
#define DT_TEST_PG_SERVER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_int.h"

static char g_url[512], g_key[256], g_pg[300];
static int g_db; /* each test its own database: a store per database */

static int pg_setup(void **state)
{
    if (tmpdir_setup(state) < 0) return -1;
    tmpdir_path(g_key, sizeof g_key, "s.key");
    /* its own directory: as root, the server runs as postgres, who cannot
     * enter the test's (0700, root's) */
    snprintf(g_pg, sizeof g_pg, "/tmp/dt_pg_XXXXXX");
    if (!mkdtemp(g_pg)) return -1;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "'%s/tests/pg-server' start '%s'", DT_SRC_ROOT, g_pg);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    int ok = fgets(g_url, sizeof g_url, p) != NULL;
    if (pclose(p) != 0 || !ok) return -1;
    g_url[strcspn(g_url, "\n")] = '\0';
    return 0;
}

static int pg_teardown(void **state)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "'%s/tests/pg-server' stop '%s'", DT_SRC_ROOT, g_pg);
    int rc = system(cmd);
    return tmpdir_teardown(state) == 0 && rc == 0 ? 0 : -1;
}

/* Runs sql straight on the server at url, around any store. */
static void server_do(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
}

/* A fresh database for one test; OUT: url (its URL). */
static void fresh_db(char *url, size_t n)
{
    char name[32], sql[200];
    snprintf(name, sizeof name, "t%d", ++g_db);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE template0 LOCALE_PROVIDER icu "
             "ICU_LOCALE 'en-US'", name);
    server_do(g_url, sql);
    /* the server's URL names database postgres: the same, another name */
    const char *q = strchr(g_url, '?');
    snprintf(url, n, "postgresql:///%s%s", name, q);
}

/* A new store in a fresh database; OUT: url. */
static st_store *pg_create(char *url, size_t n)
{
    fresh_db(url, n);
    st_store *s = NULL;
    dt_error err;
    dt_error_clear(&err);
    int rc = pg_open(url, g_key, ST_CREATE, &s, &err);
    if (rc < 0) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, DT_OK);
    return s;
}

#endif
