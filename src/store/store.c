/*
 * store.c: the persistent store on SQLite.
 *
 * DESIGN
 *
 * One connection, used from the signalling thread only. store_alloc sets
 * WAL (readers never wait for the writer, a crash loses no committed
 * write), synchronous=NORMAL (a commit is durable once the WAL is synced at
 * checkpoint; enough for configuration and history), foreign keys and a
 * busy timeout, then brings the schema up to date and prepares every
 * statement once; its destructor finalizes them.
 *
 * The schema version lives in PRAGMA user_version (0 for a new file).
 * migrations[] is the ordered list of schema changes: entry i takes the
 * file from version i to i + 1 and runs in its own transaction with the
 * version bump, so a migration applies whole or not at all. A file whose
 * version is above the length of migrations[] was written by a newer
 * voxgate and is refused (ENOTSUP) rather than guessed at. Migrations are
 * append-only: never edit one that has shipped.
 *
 * Objects are stored as compact JSON text and parsed again on the way
 * out. Trunks and dispatch rules carry a seq, one above the largest so far,
 * given at first insert and kept by replaces, so lists come back oldest
 * first in a stable order. created_at and updated_at are milliseconds
 * since the Unix epoch. Each write is one statement, hence atomic.
 *
 * All SQL is constant text with bound parameters; the only formatted
 * statement is the user_version bump, from an integer of ours.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include <jansson.h>
#include "core/libre.h"
#include "store/store.h"

#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_ERR_SIZE        512

/* ---- schema ----------------------------------------------------------- */

static const char *const migrations[] = {
    /* 1: trunks, dispatch rules, rooms' history, call records. */
    "CREATE TABLE trunks ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " kind INTEGER NOT NULL,"
    " json TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " seq INTEGER NOT NULL);"
    "CREATE INDEX trunks_kind_seq ON trunks (kind, seq);"
    "CREATE TABLE dispatch_rules ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " json TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " seq INTEGER NOT NULL);"
    "CREATE INDEX dispatch_rules_seq ON dispatch_rules (seq);"
    "CREATE TABLE rooms ("
    " sid TEXT PRIMARY KEY NOT NULL,"
    " name TEXT NOT NULL,"
    " json TEXT,"
    " started_at INTEGER NOT NULL,"
    " finished_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX rooms_name ON rooms (name);"
    "CREATE TABLE calls ("
    " call_id TEXT PRIMARY KEY NOT NULL,"
    " json TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);",
    /* 2: the history's retention deletes by age and in insertion order. */
    "CREATE INDEX calls_updated_at ON calls (updated_at);"
    "CREATE INDEX rooms_finished_at ON rooms (finished_at);",
};

#define STORE_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* ---- statements ------------------------------------------------------- */

/*
 * Parameter numbering shared by the generic helpers below: puts bind
 * ?1 id, ?2 json, ?3 now and (trunks) ?4 kind; gets select json then
 * (trunks) kind; trunk lists bind ?1 kind.
 */
enum stmt_id {
	STMT_TRUNK_PUT,
	STMT_TRUNK_GET,
	STMT_TRUNK_DELETE,
	STMT_TRUNK_LIST,
	STMT_RULE_PUT,
	STMT_RULE_GET,
	STMT_RULE_DELETE,
	STMT_RULE_LIST,
	STMT_ROOM_STARTED,
	STMT_ROOM_FINISHED,
	STMT_CALL_PUT,
	STMT_CALL_GET,
	STMT_PRUNE_CALLS_AGE,
	STMT_PRUNE_CALLS_ROWS,
	STMT_PRUNE_ROOMS_AGE,
	STMT_PRUNE_ROOMS_ROWS,
	STMT_COUNT
};

static const char *const stmt_sql[STMT_COUNT] = {
    [STMT_TRUNK_PUT] =
        "INSERT INTO trunks (id, json, created_at, updated_at, kind, seq)"
        " VALUES (?1, ?2, ?3, ?3, ?4,"
        " (SELECT COALESCE(MAX(seq), 0) + 1 FROM trunks))"
        " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind,"
        " json = excluded.json, updated_at = excluded.updated_at",
    [STMT_TRUNK_GET] = "SELECT json, kind FROM trunks WHERE id = ?1",
    [STMT_TRUNK_DELETE] = "DELETE FROM trunks WHERE id = ?1",
    [STMT_TRUNK_LIST] = "SELECT json FROM trunks WHERE kind = ?1 ORDER BY seq",
    [STMT_RULE_PUT] =
        "INSERT INTO dispatch_rules (id, json, created_at, updated_at,"
        " seq) VALUES (?1, ?2, ?3, ?3,"
        " (SELECT COALESCE(MAX(seq), 0) + 1 FROM dispatch_rules))"
        " ON CONFLICT (id) DO UPDATE SET json = excluded.json,"
        " updated_at = excluded.updated_at",
    [STMT_RULE_GET] = "SELECT json FROM dispatch_rules WHERE id = ?1",
    [STMT_RULE_DELETE] = "DELETE FROM dispatch_rules WHERE id = ?1",
    [STMT_RULE_LIST] = "SELECT json FROM dispatch_rules ORDER BY seq",
    [STMT_ROOM_STARTED] =
        "INSERT INTO rooms (sid, name, json, started_at, finished_at)"
        " VALUES (?1, ?2, ?3, ?4, 0)"
        " ON CONFLICT (sid) DO UPDATE SET name = excluded.name,"
        " json = excluded.json, started_at = excluded.started_at,"
        " finished_at = 0",
    [STMT_ROOM_FINISHED] = "UPDATE rooms SET finished_at = ?2 WHERE sid = ?1",
    [STMT_CALL_PUT] =
        "INSERT INTO calls (call_id, json, created_at, updated_at)"
        " VALUES (?1, ?2, ?3, ?3)"
        " ON CONFLICT (call_id) DO UPDATE SET json = excluded.json,"
        " updated_at = excluded.updated_at",
    [STMT_CALL_GET] = "SELECT json FROM calls WHERE call_id = ?1",
    /* Retention, a batch at a time: ?1 the cut-off (calls: ms since the
     * epoch of the last write; rooms: s of the finish, open rooms are
     * kept) or the rows to keep, ?2 the batch. Rows go oldest first, by
     * rowid, which grows with each insert. */
    [STMT_PRUNE_CALLS_AGE] =
        "DELETE FROM calls WHERE rowid IN (SELECT rowid FROM calls"
        " WHERE updated_at < ?1 LIMIT ?2)",
    [STMT_PRUNE_CALLS_ROWS] =
        "DELETE FROM calls WHERE rowid IN (SELECT rowid FROM calls"
        " WHERE rowid <= (SELECT rowid FROM calls ORDER BY rowid DESC"
        " LIMIT 1 OFFSET ?1) ORDER BY rowid LIMIT ?2)",
    [STMT_PRUNE_ROOMS_AGE] =
        "DELETE FROM rooms WHERE rowid IN (SELECT rowid FROM rooms"
        " WHERE finished_at > 0 AND finished_at < ?1 LIMIT ?2)",
    [STMT_PRUNE_ROOMS_ROWS] =
        "DELETE FROM rooms WHERE rowid IN (SELECT rowid FROM rooms"
        " WHERE finished_at > 0 AND rowid <= (SELECT rowid FROM rooms"
        " WHERE finished_at > 0 ORDER BY rowid DESC LIMIT 1 OFFSET ?1)"
        " ORDER BY rowid LIMIT ?2)",
};

struct store {
	/* Signalling thread only. */
	sqlite3 *db;
	sqlite3_stmt *stmt[STMT_COUNT];
	char err[STORE_ERR_SIZE];
};

/* Why the last store_alloc on this thread failed. */
static _Thread_local char open_err[2 * STORE_ERR_SIZE];

/* ---- errors ----------------------------------------------------------- */

static int set_err(struct store *st, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_err(struct store *st, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
	return err;
}

/* An SQLite failure: records SQLite's message (read it before any other
 * call on the connection) and maps the code to an errno. */
static int db_err(struct store *st, int rc, const char *what)
{
	const char *msg = st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);

	set_err(st, 0, "%s: %s", what, msg);
	return (rc & 0xff) == SQLITE_NOMEM ? ENOMEM : EIO;
}

const char *store_error(const struct store *st)
{
	return st ? st->err : open_err;
}

/* ---- helpers ---------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (int64_t)time(NULL) * 1000;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool valid_key(const char *s)
{
	return s && *s;
}

/* Ends a use of a prepared statement: the bindings are dropped so no
 * pointer to a caller's string outlives the call. */
static void stmt_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

static int bind_text(struct store *st, sqlite3_stmt *s, int i, const char *v)
{
	int rc = v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC)
	           : sqlite3_bind_null(s, i);

	return rc == SQLITE_OK ? 0 : db_err(st, rc, "bind");
}

static int bind_int64(struct store *st, sqlite3_stmt *s, int i, int64_t v)
{
	int rc = sqlite3_bind_int64(s, i, (sqlite3_int64)v);

	return rc == SQLITE_OK ? 0 : db_err(st, rc, "bind");
}

/* Runs a write statement to completion. */
static int step_write(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	return rc == SQLITE_DONE ? 0 : db_err(st, rc, what);
}

static int dump_obj(struct store *st, const json_t *obj, char **textp)
{
	*textp = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!*textp)
		return set_err(st, ENOMEM, "cannot encode JSON");
	return 0;
}

/* Parses the JSON text in column col of the current row into a new
 * reference. */
static int column_obj(struct store *st, sqlite3_stmt *s, int col,
                      const char *table, json_t **objp)
{
	const char *text = (const char *)sqlite3_column_text(s, col);
	json_error_t jerr;
	json_t *obj;

	if (!text) {
		if (sqlite3_column_type(s, col) != SQLITE_NULL)
			return set_err(st, ENOMEM, "%s: out of memory", table);
		return set_err(st, EBADMSG, "%s: stored JSON is NULL", table);
	}
	obj = json_loadb(text, (size_t)sqlite3_column_bytes(s, col), 0, &jerr);
	if (!obj)
		return set_err(st, EBADMSG,
		               "%s: stored JSON does not parse: %s (line %d)",
		               table, jerr.text, jerr.line);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return set_err(st, EBADMSG, "%s: stored JSON is not an object",
		               table);
	}
	*objp = obj;
	return 0;
}

/* ---- generic row operations ------------------------------------------- */

/* kind < 0: the table has no kind column. */
static int row_put(struct store *st, enum stmt_id sid, const char *table,
                   const char *id, int kind, const json_t *obj)
{
	sqlite3_stmt *s;
	char *text = NULL;
	int err;

	if (!st || !valid_key(id) || !json_is_object(obj)) {
		if (st)
			set_err(st, EINVAL, "%s put: bad arguments", table);
		return EINVAL;
	}
	s = st->stmt[sid];
	err = dump_obj(st, obj, &text);
	if (err)
		goto out;
	err = bind_text(st, s, 1, id);
	if (!err)
		err = bind_text(st, s, 2, text);
	if (!err)
		err = bind_int64(st, s, 3, now_ms());
	if (!err && kind >= 0)
		err = bind_int64(st, s, 4, kind);
	if (!err)
		err = step_write(st, s, table);
	stmt_done(s);
out:
	free(text);
	return err;
}

/* kindp non-NULL: column 1 holds the trunk kind. */
static int row_get(struct store *st, enum stmt_id sid, const char *table,
                   const char *id, int *kindp, json_t **objp)
{
	sqlite3_stmt *s;
	json_t *obj = NULL;
	int err, rc;

	if (!st || !valid_key(id) || !objp) {
		if (st)
			set_err(st, EINVAL, "%s get: bad arguments", table);
		return EINVAL;
	}
	s = st->stmt[sid];
	err = bind_text(st, s, 1, id);
	if (err)
		goto out;
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		err = set_err(st, ENOENT, "%s: %s not found", table, id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		err = db_err(st, rc, table);
		goto out;
	}
	err = column_obj(st, s, 0, table, &obj);
	if (err)
		goto out;
	if (kindp)
		*kindp = sqlite3_column_int(s, 1);
	*objp = obj;
out:
	stmt_done(s);
	return err;
}

static int row_delete(struct store *st, enum stmt_id sid, const char *table,
                      const char *id)
{
	sqlite3_stmt *s;
	int err;

	if (!st || !valid_key(id)) {
		if (st)
			set_err(st, EINVAL, "%s delete: bad arguments", table);
		return EINVAL;
	}
	s = st->stmt[sid];
	err = bind_text(st, s, 1, id);
	if (!err)
		err = step_write(st, s, table);
	if (!err && sqlite3_changes(st->db) == 0)
		err = set_err(st, ENOENT, "%s: %s not found", table, id);
	stmt_done(s);
	return err;
}

/* kind < 0: no kind filter to bind. */
static int rows_list(struct store *st, enum stmt_id sid, const char *table,
                     int kind, json_t **arrayp)
{
	sqlite3_stmt *s;
	json_t *arr = NULL, *obj;
	int err = 0, rc;

	if (!st || !arrayp) {
		if (st)
			set_err(st, EINVAL, "%s list: bad arguments", table);
		return EINVAL;
	}
	s = st->stmt[sid];
	arr = json_array();
	if (!arr) {
		err = set_err(st, ENOMEM, "%s list: out of memory", table);
		goto out;
	}
	if (kind >= 0) {
		err = bind_int64(st, s, 1, kind);
		if (err)
			goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		err = column_obj(st, s, 0, table, &obj);
		if (err)
			goto out;
		if (json_array_append_new(arr, obj) != 0) {
			err = set_err(st, ENOMEM, "%s list: out of memory",
			              table);
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, table);
		goto out;
	}
	*arrayp = arr;
	arr = NULL;
out:
	stmt_done(s);
	json_decref(arr);
	return err;
}

/* ---- open, migrate, close --------------------------------------------- */

static int exec_sql(struct store *st, const char *sql, const char *what)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : db_err(st, rc, what);
}

static int user_version(struct store *st, int *versionp)
{
	sqlite3_stmt *s = NULL;
	int rc, err = 0;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return db_err(st, rc, "reading the schema version");
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*versionp = sqlite3_column_int(s, 0);
	else
		err = db_err(st, rc, "reading the schema version");
	sqlite3_finalize(s);
	return err;
}

static int check_version(struct store *st, int version)
{
	if (version > STORE_SCHEMA_VERSION)
		return set_err(st, ENOTSUP,
		               "schema version %d is newer than this voxgate "
		               "knows (%d): the file was written by a newer "
		               "voxgate; upgrade voxgate or use another file",
		               version, STORE_SCHEMA_VERSION);
	if (version < 0)
		return set_err(st, ENOTSUP,
		               "schema version %d is not one of voxgate's",
		               version);
	return 0;
}

/* Applies migration `to - 1`, taking the file to version `to`, in one
 * transaction. The version is read again under the write lock: another
 * process may have migrated the file meanwhile. */
static int migrate_one(struct store *st, int to)
{
	char bump[64];
	int version = 0, err;

	err = exec_sql(st, "BEGIN IMMEDIATE", "starting a migration");
	if (err)
		return err;
	err = user_version(st, &version);
	if (!err)
		err = check_version(st, version);
	if (err)
		goto out;
	if (version >= to) {
		err = exec_sql(st, "COMMIT", "committing a migration");
		goto out;
	}
	err = exec_sql(st, migrations[to - 1], "migrating the schema");
	if (err)
		goto out;
	/* PRAGMA takes no parameters; `to` is our own integer. */
	snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", to);
	err = exec_sql(st, bump, "migrating the schema");
	if (!err)
		err = exec_sql(st, "COMMIT", "committing a migration");
out:
	/* On failure the error text is already set; ROLLBACK's own outcome
	 * does not matter (a failed COMMIT may have ended the transaction). */
	if (err)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

static int migrate(struct store *st)
{
	int version = 0, err;

	err = user_version(st, &version);
	if (!err)
		err = check_version(st, version);
	for (int to = version + 1; !err && to <= STORE_SCHEMA_VERSION; to++)
		err = migrate_one(st, to);
	return err;
}

static int prepare_all(struct store *st)
{
	for (int i = 0; i < STMT_COUNT; i++) {
		int rc = sqlite3_prepare_v3(st->db, stmt_sql[i], -1,
		                            SQLITE_PREPARE_PERSISTENT,
		                            &st->stmt[i], NULL);
		if (rc != SQLITE_OK)
			return db_err(st, rc, "preparing statements");
	}
	return 0;
}

static void store_destructor(void *arg)
{
	struct store *st = arg;

	for (int i = 0; i < STMT_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	/* Every statement is finalized, so this closes (and, as the last
	 * connection, checkpoints the WAL into the file). */
	sqlite3_close(st->db);
}

int store_alloc(struct store **stp, const char *path)
{
	struct store *st;
	int rc, err;

	open_err[0] = '\0';
	if (!stp || !valid_key(path)) {
		snprintf(open_err, sizeof(open_err),
		         "store_alloc: bad arguments");
		return EINVAL;
	}
	*stp = NULL;
	st = mem_zalloc(sizeof(*st), store_destructor);
	if (!st) {
		snprintf(open_err, sizeof(open_err), "store_alloc: no memory");
		return ENOMEM;
	}
	rc = sqlite3_open_v2(path, &st->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                         SQLITE_OPEN_NOMUTEX,
	                     NULL);
	if (rc != SQLITE_OK) {
		err = db_err(st, rc, "opening the file");
		goto out;
	}
	rc = sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK) {
		err = db_err(st, rc, "setting the busy timeout");
		goto out;
	}
	/* The first statement reads the file: a file that is not a
	 * database fails here. */
	err = exec_sql(st, "PRAGMA journal_mode = WAL", "setting WAL mode");
	if (!err)
		err = exec_sql(st, "PRAGMA synchronous = NORMAL",
		               "setting synchronous mode");
	if (!err)
		err = exec_sql(st, "PRAGMA foreign_keys = ON",
		               "enabling foreign keys");
	if (!err)
		err = migrate(st);
	if (!err)
		err = prepare_all(st);
out:
	if (err) {
		snprintf(open_err, sizeof(open_err), "%s: %s", path, st->err);
		mem_deref(st);
		return err;
	}
	*stp = st;
	return 0;
}

/* ---- trunks ----------------------------------------------------------- */

static bool valid_kind(enum store_trunk_kind kind)
{
	return kind == STORE_TRUNK_INBOUND || kind == STORE_TRUNK_OUTBOUND;
}

int store_trunk_put(struct store *st, const char *id,
                    enum store_trunk_kind kind, const json_t *obj)
{
	if (!st)
		return EINVAL;
	if (!valid_kind(kind))
		return set_err(st, EINVAL, "trunks put: bad kind %d",
		               (int)kind);
	return row_put(st, STMT_TRUNK_PUT, "trunks", id, (int)kind, obj);
}

int store_trunk_get(struct store *st, const char *id,
                    enum store_trunk_kind *kindp, json_t **objp)
{
	json_t *obj = NULL;
	int kind = 0, err;

	err = row_get(st, STMT_TRUNK_GET, "trunks", id, &kind, &obj);
	if (err)
		return err;
	if (kind != STORE_TRUNK_INBOUND && kind != STORE_TRUNK_OUTBOUND) {
		json_decref(obj);
		return set_err(st, EBADMSG, "trunks: %s has unknown kind %d",
		               id, kind);
	}
	if (kindp)
		*kindp = (enum store_trunk_kind)kind;
	if (objp)
		*objp = obj;
	else
		json_decref(obj);
	return 0;
}

int store_trunk_delete(struct store *st, const char *id)
{
	return row_delete(st, STMT_TRUNK_DELETE, "trunks", id);
}

int store_trunk_list(struct store *st, enum store_trunk_kind kind,
                     json_t **arrayp)
{
	if (st && !valid_kind(kind))
		return set_err(st, EINVAL, "trunks list: bad kind %d",
		               (int)kind);
	return rows_list(st, STMT_TRUNK_LIST, "trunks", (int)kind, arrayp);
}

/* ---- dispatch rules --------------------------------------------------- */

int store_rule_put(struct store *st, const char *id, const json_t *obj)
{
	return row_put(st, STMT_RULE_PUT, "dispatch_rules", id, -1, obj);
}

int store_rule_get(struct store *st, const char *id, json_t **objp)
{
	return row_get(st, STMT_RULE_GET, "dispatch_rules", id, NULL, objp);
}

int store_rule_delete(struct store *st, const char *id)
{
	return row_delete(st, STMT_RULE_DELETE, "dispatch_rules", id);
}

int store_rule_list(struct store *st, json_t **arrayp)
{
	return rows_list(st, STMT_RULE_LIST, "dispatch_rules", -1, arrayp);
}

/* ---- rooms ------------------------------------------------------------ */

/* A sid seen again (the room restarted under the same sid) rewrites the
 * row as open. room may be NULL (stored as NULL). */
int store_room_started(struct store *st, const char *sid, const char *name,
                       const json_t *room, int64_t started_at)
{
	sqlite3_stmt *s;
	char *text = NULL;
	int err;

	if (!st)
		return EINVAL;
	if (!valid_key(sid) || !name || (room && !json_is_object(room)) ||
	    started_at < 0)
		return set_err(st, EINVAL, "rooms started: bad arguments");
	if (room) {
		err = dump_obj(st, room, &text);
		if (err)
			return err;
	}
	s = st->stmt[STMT_ROOM_STARTED];
	err = bind_text(st, s, 1, sid);
	if (!err)
		err = bind_text(st, s, 2, name);
	if (!err)
		err = bind_text(st, s, 3, text);
	if (!err)
		err = bind_int64(st, s, 4, started_at);
	if (!err)
		err = step_write(st, s, "rooms");
	stmt_done(s);
	free(text);
	return err;
}

int store_room_finished(struct store *st, const char *sid, int64_t finished_at)
{
	sqlite3_stmt *s;
	int err;

	if (!st)
		return EINVAL;
	if (!valid_key(sid) || finished_at < 0)
		return set_err(st, EINVAL, "rooms finished: bad arguments");
	s = st->stmt[STMT_ROOM_FINISHED];
	err = bind_text(st, s, 1, sid);
	if (!err)
		err = bind_int64(st, s, 2, finished_at);
	if (!err)
		err = step_write(st, s, "rooms");
	if (!err && sqlite3_changes(st->db) == 0)
		err = set_err(st, ENOENT, "rooms: %s not found", sid);
	stmt_done(s);
	return err;
}

/* ---- call records ----------------------------------------------------- */

int store_call_put(struct store *st, const char *call_id, const json_t *rec)
{
	return row_put(st, STMT_CALL_PUT, "calls", call_id, -1, rec);
}

int store_call_get(struct store *st, const char *call_id, json_t **recp)
{
	return row_get(st, STMT_CALL_GET, "calls", call_id, NULL, recp);
}

/* ---- retention -------------------------------------------------------- */

/* Runs one pruning statement: binds ?1 and the batch left, counts. */
static int prune_step(struct store *st, enum stmt_id sid, int64_t arg,
                      unsigned *left, unsigned *deleted, const char *what)
{
	sqlite3_stmt *s = st->stmt[sid];
	int err;

	if (!*left)
		return 0;
	err = bind_int64(st, s, 1, arg);
	if (!err)
		err = bind_int64(st, s, 2, *left);
	if (!err)
		err = step_write(st, s, what);
	if (!err) {
		unsigned n = (unsigned)sqlite3_changes(st->db);

		*deleted += n;
		*left -= n < *left ? n : *left;
	}
	stmt_done(s);
	return err;
}

int store_prune(struct store *st, const struct store_retention *r,
                unsigned batch, struct store_pruned *out)
{
	unsigned left = batch;
	int64_t now_s;
	int err = 0;

	if (!st)
		return EINVAL;
	if (!r || !out || !batch)
		return set_err(st, EINVAL, "prune: bad arguments");
	memset(out, 0, sizeof(*out));
	now_s = now_ms() / 1000;
	if (r->max_age_s) {
		int64_t cut = now_s - (int64_t)r->max_age_s;

		err = prune_step(st, STMT_PRUNE_CALLS_AGE, cut * 1000, &left,
		                 &out->calls, "calls");
		if (!err)
			err = prune_step(st, STMT_PRUNE_ROOMS_AGE, cut, &left,
			                 &out->rooms, "rooms");
	}
	if (!err && r->max_rows) {
		err =
		    prune_step(st, STMT_PRUNE_CALLS_ROWS, (int64_t)r->max_rows,
		               &left, &out->calls, "calls");
		if (!err)
			err = prune_step(st, STMT_PRUNE_ROOMS_ROWS,
			                 (int64_t)r->max_rows, &left,
			                 &out->rooms, "rooms");
	}
	out->more = !err && !left;
	return err;
}
