/*
 * The SQLite store: trunks of both kinds and dispatch rules (put, get,
 * list oldest first, replace, delete), persistence across a restart,
 * schema migrations and a newer file refused, rooms' history and call
 * records, rows whose JSON is damaged, and files that cannot be used (not
 * a database, corrupt, in a read-only directory). Each case has its own
 * file in one temporary directory, removed at the end. The files are also
 * read directly with SQLite to check what the interface does not show.
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include <jansson.h>
#include "core/libre.h"
#include "store/store.h"

#include "test.h"

/* ---- files ------------------------------------------------------------ */

static char tmpdir[] = "/tmp/voxgate-store-XXXXXX";

/* A path in the temporary directory; valid until the next call. */
static const char *db_path(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		chmod(path, 0700);
	return remove(path);
}

static void rm_tree(const char *dir)
{
	chmod(dir, 0700);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	size_t n;

	if (!f)
		return -1;
	n = fwrite(data, 1, len, f);
	return fclose(f) == 0 && n == len ? 0 : -1;
}

/* ---- direct SQLite access --------------------------------------------- */

static int raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open(path, &db);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* The first column of the first row as an integer; -1 on any error. */
static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* The first column of the first row as text, copied into out. */
static const char *raw_text(const char *path, const char *sql, char *out,
                            size_t outsz)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;

	snprintf(out, outsz, "(no row)");
	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);
		snprintf(out, outsz, "%s", t ? (const char *)t : "(null)");
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	return out;
}

/* ---- objects ---------------------------------------------------------- */

static json_t *trunk(const char *id, const char *name)
{
	return json_pack("{s:s, s:s, s:[s]}", "sipTrunkId", id, "name", name,
	                 "numbers", "+15550100");
}

static json_t *rule(const char *id, const char *room)
{
	return json_pack("{s:s, s:{s:{s:s}}}", "sipDispatchRuleId", id, "rule",
	                 "dispatchRuleDirect", "roomName", room);
}

/* The id member of element i of a list. */
static const char *list_id(const json_t *arr, size_t i, const char *key)
{
	const char *s =
	    json_string_value(json_object_get(json_array_get(arr, i), key));
	return s ? s : "(none)";
}

/* ---- cases ------------------------------------------------------------ */

TEST(open_fresh)
{
	const char *path = db_path("fresh.db");
	struct store *st = NULL;
	char buf[64];

	CHECK_EQ(store_alloc(&st, path), 0);
	CHECK(st != NULL);
	CHECK_STR(store_error(st), "");
	CHECK_STR(store_error(NULL), "");
	mem_deref(st);

	/* The latest schema, in WAL mode. */
	CHECK(raw_int(path, "PRAGMA user_version") >= 1);
	CHECK_STR(raw_text(path, "PRAGMA journal_mode", buf, sizeof(buf)),
	          "wal");
	CHECK_EQ(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE "
	                       "type = 'table' AND name IN ('trunks', "
	                       "'dispatch_rules', 'rooms', 'calls')"),
	         4);

	/* Reopening runs nothing again and keeps the version. */
	int64_t v = raw_int(path, "PRAGMA user_version");
	CHECK_EQ(store_alloc(&st, path), 0);
	mem_deref(st);
	CHECK_EQ(raw_int(path, "PRAGMA user_version"), v);

	/* An empty file is a new database. */
	path = db_path("empty.db");
	CHECK_EQ(write_file(path, "", 0), 0);
	CHECK_EQ(store_alloc(&st, path), 0);
	mem_deref(st);
	CHECK_EQ(raw_int(path, "PRAGMA user_version"), v);
	return 0;
}

TEST(trunks)
{
	struct store *st = NULL;
	enum store_trunk_kind kind = STORE_TRUNK_OUTBOUND;
	json_t *a = trunk("ST_a", "a"), *b = trunk("ST_b", "b"),
	       *c = trunk("ST_c", "c"), *got = NULL, *arr = NULL;

	CHECK_EQ(store_alloc(&st, db_path("trunks.db")), 0);
	CHECK_EQ(store_trunk_put(st, "ST_a", STORE_TRUNK_INBOUND, a), 0);
	CHECK_EQ(store_trunk_put(st, "ST_b", STORE_TRUNK_OUTBOUND, b), 0);
	CHECK_EQ(store_trunk_put(st, "ST_c", STORE_TRUNK_INBOUND, c), 0);
	/* Not stolen. */
	CHECK_EQ(a->refcount, 1);

	CHECK_EQ(store_trunk_get(st, "ST_a", &kind, &got), 0);
	CHECK_EQ(kind, STORE_TRUNK_INBOUND);
	CHECK(json_equal(got, a));
	CHECK(got != a);
	CHECK_EQ(got->refcount, 1);
	json_decref(got);
	CHECK_EQ(store_trunk_get(st, "ST_b", &kind, &got), 0);
	CHECK_EQ(kind, STORE_TRUNK_OUTBOUND);
	CHECK(json_equal(got, b));
	json_decref(got);
	/* kind may be NULL. */
	CHECK_EQ(store_trunk_get(st, "ST_c", NULL, &got), 0);
	CHECK(json_equal(got, c));
	json_decref(got);

	CHECK_EQ(store_trunk_list(st, STORE_TRUNK_INBOUND, &arr), 0);
	CHECK_EQ(json_array_size(arr), 2);
	CHECK_STR(list_id(arr, 0, "sipTrunkId"), "ST_a");
	CHECK_STR(list_id(arr, 1, "sipTrunkId"), "ST_c");
	json_decref(arr);
	CHECK_EQ(store_trunk_list(st, STORE_TRUNK_OUTBOUND, &arr), 0);
	CHECK_EQ(json_array_size(arr), 1);
	CHECK(json_equal(json_array_get(arr, 0), b));
	json_decref(arr);

	got = NULL;
	CHECK_EQ(store_trunk_get(st, "ST_none", &kind, &got), ENOENT);
	CHECK(got == NULL);
	CHECK(strstr(store_error(st), "ST_none") != NULL);

	CHECK_EQ(store_trunk_delete(st, "ST_a"), 0);
	CHECK_EQ(store_trunk_delete(st, "ST_a"), ENOENT);
	CHECK_EQ(store_trunk_delete(st, "ST_none"), ENOENT);
	CHECK_EQ(store_trunk_get(st, "ST_a", &kind, &got), ENOENT);
	CHECK_EQ(store_trunk_list(st, STORE_TRUNK_INBOUND, &arr), 0);
	CHECK_EQ(json_array_size(arr), 1);
	CHECK_STR(list_id(arr, 0, "sipTrunkId"), "ST_c");
	json_decref(arr);

	/* Empty lists are empty arrays. */
	CHECK_EQ(store_trunk_delete(st, "ST_b"), 0);
	CHECK_EQ(store_trunk_list(st, STORE_TRUNK_OUTBOUND, &arr), 0);
	CHECK(json_is_array(arr));
	CHECK_EQ(json_array_size(arr), 0);
	json_decref(arr);

	mem_deref(st);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	return 0;
}

TEST(trunk_replace)
{
	const char *path = db_path("replace.db");
	struct store *st = NULL;
	json_t *a = trunk("ST_a", "a"), *b = trunk("ST_b", "b"),
	       *c = trunk("ST_c", "c"), *a2 = trunk("ST_a", "a renamed"),
	       *arr = NULL, *got = NULL;
	enum store_trunk_kind kind;
	char buf[256];

	CHECK_EQ(store_alloc(&st, path), 0);
	CHECK_EQ(store_trunk_put(st, "ST_a", STORE_TRUNK_INBOUND, a), 0);
	CHECK_EQ(store_trunk_put(st, "ST_b", STORE_TRUNK_INBOUND, b), 0);
	CHECK_EQ(store_trunk_put(st, "ST_c", STORE_TRUNK_INBOUND, c), 0);
	mem_deref(st);
	int64_t created = raw_int(path, "SELECT created_at FROM trunks "
	                                "WHERE id = 'ST_a'");
	int64_t seq = raw_int(path, "SELECT seq FROM trunks WHERE id = 'ST_a'");
	CHECK(created > 0);
	CHECK_EQ(raw_int(path, "SELECT updated_at FROM trunks "
	                       "WHERE id = 'ST_a'"),
	         created);

	usleep(5000);
	CHECK_EQ(store_alloc(&st, path), 0);
	CHECK_EQ(store_trunk_put(st, "ST_a", STORE_TRUNK_INBOUND, a2), 0);
	CHECK_EQ(store_trunk_get(st, "ST_a", &kind, &got), 0);
	CHECK(json_equal(got, a2));
	json_decref(got);
	/* Still first. */
	CHECK_EQ(store_trunk_list(st, STORE_TRUNK_INBOUND, &arr), 0);
	CHECK_EQ(json_array_size(arr), 3);
	CHECK_STR(list_id(arr, 0, "sipTrunkId"), "ST_a");
	CHECK_STR(
	    json_string_value(json_object_get(json_array_get(arr, 0), "name")),
	    "a renamed");
	CHECK_STR(list_id(arr, 1, "sipTrunkId"), "ST_b");
	CHECK_STR(list_id(arr, 2, "sipTrunkId"), "ST_c");
	json_decref(arr);

	/* A replace may change the kind. */
	CHECK_EQ(store_trunk_put(st, "ST_b", STORE_TRUNK_OUTBOUND, b), 0);
	CHECK_EQ(store_trunk_list(st, STORE_TRUNK_INBOUND, &arr), 0);
	CHECK_EQ(json_array_size(arr), 2);
	json_decref(arr);
	CHECK_EQ(store_trunk_get(st, "ST_b", &kind, &got), 0);
	CHECK_EQ(kind, STORE_TRUNK_OUTBOUND);
	json_decref(got);
	mem_deref(st);

	CHECK_EQ(raw_int(path, "SELECT created_at FROM trunks "
	                       "WHERE id = 'ST_a'"),
	         created);
	CHECK(raw_int(path, "SELECT updated_at FROM trunks WHERE id = 'ST_a'") >
	      created);
	CHECK_EQ(raw_int(path, "SELECT seq FROM trunks WHERE id = 'ST_a'"),
	         seq);
	CHECK_EQ(raw_int(path, "SELECT count(*) FROM trunks"), 3);
	/* Compact text, members in their order. */
	CHECK_STR(raw_text(path, "SELECT json FROM trunks WHERE id = 'ST_c'",
	                   buf, sizeof(buf)),
	          "{\"sipTrunkId\":\"ST_c\",\"name\":\"c\","
	          "\"numbers\":[\"+15550100\"]}");

	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(a2);
	return 0;
}

TEST(rules)
{
	struct store *st = NULL;
	json_t *r1 = rule("SDR_1", "one"), *r2 = rule("SDR_2", "two"),
	       *r3 = rule("SDR_3", "three"), *r1b = rule("SDR_1", "uno"),
	       *got = NULL, *arr = NULL;

	CHECK_EQ(store_alloc(&st, db_path("rules.db")), 0);
	CHECK_EQ(store_rule_list(st, &arr), 0);
	CHECK_EQ(json_array_size(arr), 0);
	json_decref(arr);

	CHECK_EQ(store_rule_put(st, "SDR_1", r1), 0);
	CHECK_EQ(store_rule_put(st, "SDR_2", r2), 0);
	CHECK_EQ(store_rule_put(st, "SDR_3", r3), 0);
	CHECK_EQ(store_rule_get(st, "SDR_2", &got), 0);
	CHECK(json_equal(got, r2));
	json_decref(got);

	CHECK_EQ(store_rule_put(st, "SDR_1", r1b), 0);
	CHECK_EQ(store_rule_list(st, &arr), 0);
	CHECK_EQ(json_array_size(arr), 3);
	CHECK(json_equal(json_array_get(arr, 0), r1b));
	CHECK_STR(list_id(arr, 1, "sipDispatchRuleId"), "SDR_2");
	CHECK_STR(list_id(arr, 2, "sipDispatchRuleId"), "SDR_3");
	json_decref(arr);

	CHECK_EQ(store_rule_delete(st, "SDR_2"), 0);
	CHECK_EQ(store_rule_delete(st, "SDR_2"), ENOENT);
	CHECK_EQ(store_rule_get(st, "SDR_2", &got), ENOENT);
	/* A new rule after a delete still goes last. */
	CHECK_EQ(store_rule_put(st, "SDR_2", r2), 0);
	CHECK_EQ(store_rule_list(st, &arr), 0);
	CHECK_EQ(json_array_size(arr), 3);
	CHECK_STR(list_id(arr, 0, "sipDispatchRuleId"), "SDR_1");
	CHECK_STR(list_id(arr, 1, "sipDispatchRuleId"), "SDR_3");
	CHECK_STR(list_id(arr, 2, "sipDispatchRuleId"), "SDR_2");
	json_decref(arr);

	/* Trunks and rules are separate tables. */
	CHECK_EQ(store_trunk_delete(st, "SDR_1"), ENOENT);

	mem_deref(st);
	json_decref(r1);
	json_decref(r2);
	json_decref(r3);
	json_decref(r1b);
	return 0;
}

TEST(bad_arguments)
{
	struct store *st = NULL;
	json_t *obj = trunk("ST_a", "a"), *arr = json_array(), *got = NULL;

	CHECK_EQ(store_alloc(NULL, db_path("args.db")), EINVAL);
	CHECK_EQ(store_alloc(&st, NULL), EINVAL);
	CHECK_EQ(store_alloc(&st, ""), EINVAL);
	CHECK(st == NULL);
	CHECK(store_error(NULL)[0] != '\0');
	mem_deref(NULL);

	CHECK_EQ(store_trunk_put(NULL, "ST_a", STORE_TRUNK_INBOUND, obj),
	         EINVAL);
	CHECK_EQ(store_trunk_get(NULL, "ST_a", NULL, &got), EINVAL);
	CHECK_EQ(store_rule_list(NULL, &got), EINVAL);
	CHECK_EQ(store_call_put(NULL, "SCL_1", obj), EINVAL);
	CHECK_EQ(store_room_finished(NULL, "RM_1", 1), EINVAL);

	CHECK_EQ(store_alloc(&st, db_path("args.db")), 0);
	CHECK_EQ(store_trunk_put(st, NULL, STORE_TRUNK_INBOUND, obj), EINVAL);
	CHECK_EQ(store_trunk_put(st, "", STORE_TRUNK_INBOUND, obj), EINVAL);
	CHECK_EQ(store_trunk_put(st, "ST_a", STORE_TRUNK_INBOUND, NULL),
	         EINVAL);
	CHECK_EQ(store_trunk_put(st, "ST_a", STORE_TRUNK_INBOUND, arr), EINVAL);
	CHECK_EQ(store_trunk_put(st, "ST_a", (enum store_trunk_kind)7, obj),
	         EINVAL);
	CHECK(store_error(st)[0] != '\0');
	CHECK_EQ(store_trunk_list(st, (enum store_trunk_kind) - 1, &got),
	         EINVAL);
	CHECK_EQ(store_trunk_list(st, STORE_TRUNK_INBOUND, NULL), EINVAL);
	CHECK_EQ(store_trunk_get(st, "ST_a", NULL, NULL), ENOENT);
	CHECK_EQ(store_rule_get(st, "SDR_1", NULL), EINVAL);
	CHECK_EQ(store_rule_delete(st, NULL), EINVAL);
	CHECK_EQ(store_call_get(st, "", &got), EINVAL);
	CHECK_EQ(store_room_started(st, NULL, "r", NULL, 1), EINVAL);
	CHECK_EQ(store_room_started(st, "RM_1", NULL, NULL, 1), EINVAL);
	CHECK_EQ(store_room_started(st, "RM_1", "r", arr, 1), EINVAL);
	CHECK_EQ(store_room_started(st, "RM_1", "r", NULL, -1), EINVAL);
	CHECK_EQ(store_room_finished(st, "RM_1", -1), EINVAL);
	/* Nothing was written. */
	CHECK_EQ(store_trunk_list(st, STORE_TRUNK_INBOUND, &got), 0);
	CHECK_EQ(json_array_size(got), 0);
	json_decref(got);
	mem_deref(st);
	CHECK_EQ(raw_int(db_path("args.db"), "SELECT count(*) FROM rooms"), 0);

	json_decref(obj);
	json_decref(arr);
	return 0;
}

TEST(persistence)
{
	const char *path = db_path("persist.db");
	struct store *st = NULL;
	json_t *t1 = trunk("ST_1", "one"), *t2 = trunk("ST_2", "two"),
	       *t3 = trunk("ST_3", "three"), *r = rule("SDR_1", "room"),
	       *rec = json_pack("{s:s}", "callStatus", "SCS_ACTIVE"),
	       *got = NULL, *arr = NULL;
	enum store_trunk_kind kind;

	CHECK_EQ(store_alloc(&st, path), 0);
	CHECK_EQ(store_trunk_put(st, "ST_1", STORE_TRUNK_INBOUND, t1), 0);
	CHECK_EQ(store_trunk_put(st, "ST_2", STORE_TRUNK_OUTBOUND, t2), 0);
	CHECK_EQ(store_rule_put(st, "SDR_1", r), 0);
	CHECK_EQ(store_call_put(st, "SCL_1", rec), 0);
	CHECK_EQ(store_room_started(st, "RM_1", "room", NULL, 1000), 0);
	mem_deref(st);

	/* A restart loses nothing. */
	CHECK_EQ(store_alloc(&st, path), 0);
	CHECK_EQ(store_trunk_get(st, "ST_1", &kind, &got), 0);
	CHECK_EQ(kind, STORE_TRUNK_INBOUND);
	CHECK(json_equal(got, t1));
	json_decref(got);
	CHECK_EQ(store_trunk_get(st, "ST_2", &kind, &got), 0);
	CHECK_EQ(kind, STORE_TRUNK_OUTBOUND);
	CHECK(json_equal(got, t2));
	json_decref(got);
	CHECK_EQ(store_rule_get(st, "SDR_1", &got), 0);
	CHECK(json_equal(got, r));
	json_decref(got);
	CHECK_EQ(store_call_get(st, "SCL_1", &got), 0);
	CHECK(json_equal(got, rec));
	json_decref(got);
	CHECK_EQ(store_room_finished(st, "RM_1", 2000), 0);

	/* The order carries on across the restart. */
	CHECK_EQ(store_trunk_put(st, "ST_3", STORE_TRUNK_INBOUND, t3), 0);
	CHECK_EQ(store_trunk_delete(st, "ST_1"), 0);
	CHECK_EQ(store_trunk_put(st, "ST_1", STORE_TRUNK_INBOUND, t1), 0);
	mem_deref(st);

	CHECK_EQ(store_alloc(&st, path), 0);
	CHECK_EQ(store_trunk_list(st, STORE_TRUNK_INBOUND, &arr), 0);
	CHECK_EQ(json_array_size(arr), 2);
	CHECK_STR(list_id(arr, 0, "sipTrunkId"), "ST_3");
	CHECK_STR(list_id(arr, 1, "sipTrunkId"), "ST_1");
	json_decref(arr);
	mem_deref(st);
	CHECK_EQ(raw_int(path, "SELECT finished_at FROM rooms"), 2000);

	json_decref(t1);
	json_decref(t2);
	json_decref(t3);
	json_decref(r);
	json_decref(rec);
	return 0;
}

TEST(migrations)
{
	const char *path = db_path("newer.db");
	struct store *st = NULL;
	int64_t latest;

	CHECK_EQ(store_alloc(&st, path), 0);
	mem_deref(st);
	latest = raw_int(path, "PRAGMA user_version");
	CHECK(latest >= 1);

	/* Written by a newer voxgate: refused, and left as it was. */
	CHECK_EQ(raw_exec(path, "PRAGMA user_version = 999"), 0);
	st = (struct store *)1;
	CHECK_EQ(store_alloc(&st, path), ENOTSUP);
	CHECK(st == NULL);
	CHECK(strstr(store_error(NULL), "newer") != NULL);
	CHECK(strstr(store_error(NULL), "999") != NULL);
	CHECK_EQ(raw_int(path, "PRAGMA user_version"), 999);

	/* The next version up, too. */
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld",
	         (long long)latest + 1);
	CHECK_EQ(raw_exec(path, sql), 0);
	CHECK_EQ(store_alloc(&st, path), ENOTSUP);

	/* Back at the version this build knows: opens again. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld",
	         (long long)latest);
	CHECK_EQ(raw_exec(path, sql), 0);
	CHECK_EQ(store_alloc(&st, path), 0);
	CHECK_STR(store_error(NULL), "");
	mem_deref(st);

	/* A version-0 file that already holds a table of the schema: the
	 * migration fails whole, leaving the version at 0. */
	path = db_path("clash.db");
	CHECK_EQ(raw_exec(path, "CREATE TABLE calls (x)"), 0);
	CHECK_EQ(store_alloc(&st, path), EIO);
	CHECK(st == NULL);
	CHECK(strstr(store_error(NULL), "calls") != NULL);
	CHECK_EQ(raw_int(path, "PRAGMA user_version"), 0);
	CHECK_EQ(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE "
	                       "name = 'trunks'"),
	         0);
	return 0;
}

TEST(rooms)
{
	const char *path = db_path("rooms.db");
	struct store *st = NULL;
	json_t *room = json_pack("{s:s, s:s}", "sid", "RM_1", "name", "lobby");
	char buf[256];

	CHECK_EQ(store_alloc(&st, path), 0);
	CHECK_EQ(store_room_started(st, "RM_1", "lobby", room, 1700000000), 0);
	CHECK_EQ(store_room_started(st, "RM_2", "other", NULL, 1700000001), 0);
	CHECK_EQ(store_room_finished(st, "RM_1", 1700000060), 0);
	CHECK_EQ(store_room_finished(st, "RM_none", 1700000060), ENOENT);
	mem_deref(st);

	CHECK_EQ(raw_int(path, "SELECT started_at FROM rooms "
	                       "WHERE sid = 'RM_1'"),
	         1700000000);
	CHECK_EQ(raw_int(path, "SELECT finished_at FROM rooms "
	                       "WHERE sid = 'RM_1'"),
	         1700000060);
	CHECK_EQ(raw_int(path, "SELECT finished_at FROM rooms "
	                       "WHERE sid = 'RM_2'"),
	         0);
	CHECK_STR(raw_text(path, "SELECT name FROM rooms WHERE sid = 'RM_1'",
	                   buf, sizeof(buf)),
	          "lobby");
	CHECK_STR(raw_text(path, "SELECT json FROM rooms WHERE sid = 'RM_1'",
	                   buf, sizeof(buf)),
	          "{\"sid\":\"RM_1\",\"name\":\"lobby\"}");
	CHECK_EQ(raw_int(path, "SELECT json IS NULL FROM rooms "
	                       "WHERE sid = 'RM_2'"),
	         1);

	/* Started again under the same sid: open again. */
	CHECK_EQ(store_alloc(&st, path), 0);
	CHECK_EQ(store_room_started(st, "RM_1", "lobby", room, 1700000100), 0);
	mem_deref(st);
	CHECK_EQ(raw_int(path, "SELECT finished_at FROM rooms "
	                       "WHERE sid = 'RM_1'"),
	         0);
	CHECK_EQ(raw_int(path, "SELECT count(*) FROM rooms"), 2);

	json_decref(room);
	return 0;
}

TEST(calls)
{
	const char *path = db_path("calls.db");
	struct store *st = NULL;
	json_t *rec = json_pack("{s:s, s:s}", "sipCallId", "SCL_1",
	                        "callStatus", "SCS_CALL_INCOMING"),
	       *rec2 = json_pack("{s:s, s:s, s:i}", "sipCallId", "SCL_1",
	                         "callStatus", "SCS_DISCONNECTED", "endedAt",
	                         1700000099),
	       *got = NULL;

	CHECK_EQ(store_alloc(&st, path), 0);
	CHECK_EQ(store_call_get(st, "SCL_1", &got), ENOENT);
	CHECK_EQ(store_call_put(st, "SCL_1", rec), 0);
	CHECK_EQ(store_call_get(st, "SCL_1", &got), 0);
	CHECK(json_equal(got, rec));
	json_decref(got);
	CHECK_EQ(store_call_put(st, "SCL_1", rec2), 0);
	CHECK_EQ(store_call_get(st, "SCL_1", &got), 0);
	CHECK(json_equal(got, rec2));
	CHECK_EQ(json_integer_value(json_object_get(got, "endedAt")),
	         1700000099);
	json_decref(got);
	mem_deref(st);
	CHECK_EQ(raw_int(path, "SELECT count(*) FROM calls"), 1);
	CHECK(raw_int(path, "SELECT created_at FROM calls") > 0);

	json_decref(rec);
	json_decref(rec2);
	return 0;
}

/* Puts n call records, SCL_<first>.. in that order. */
static int put_calls(struct store *st, int first, int n)
{
	for (int i = first; i < first + n; i++) {
		char id[32];
		json_t *rec;
		int err;

		snprintf(id, sizeof(id), "SCL_%d", i);
		rec = json_pack("{s:s}", "status", "failed");
		err = store_call_put(st, id, rec);
		json_decref(rec);
		if (err)
			return err;
	}
	return 0;
}

TEST(prune_by_rows)
{
	const char *path = db_path("prune_rows.db");
	struct store *st = NULL;
	struct store_retention keep = {.max_rows = 5};
	struct store_pruned out;
	char buf[64];

	CHECK_EQ(store_alloc(&st, path), 0);
	CHECK_EQ(put_calls(st, 0, 12), 0);
	/* An update keeps a record's place: SCL_0 is still the oldest. */
	CHECK_EQ(put_calls(st, 0, 1), 0);
	for (int i = 0; i < 8; i++) {
		char sid[16];

		snprintf(sid, sizeof(sid), "RM_%d", i);
		CHECK_EQ(store_room_started(st, sid, "r", NULL, 1700000000), 0);
		/* RM_7 stays open */
		if (i < 7)
			CHECK_EQ(store_room_finished(st, sid, 1700000060), 0);
	}

	/* Batches of 4: 7 calls and 2 rooms to go. */
	CHECK_EQ(store_prune(st, &keep, 4, &out), 0);
	CHECK_EQ(out.calls, 4);
	CHECK_EQ(out.rooms, 0);
	CHECK(out.more);
	CHECK_EQ(store_prune(st, &keep, 4, &out), 0);
	CHECK_EQ(out.calls, 3);
	CHECK_EQ(out.rooms, 1);
	CHECK(out.more);
	CHECK_EQ(store_prune(st, &keep, 4, &out), 0);
	CHECK_EQ(out.calls, 0);
	CHECK_EQ(out.rooms, 1);
	CHECK(!out.more);
	CHECK_EQ(store_prune(st, &keep, 4, &out), 0);
	CHECK_EQ(out.calls + out.rooms, 0);
	mem_deref(st);

	CHECK_EQ(raw_int(path, "SELECT count(*) FROM calls"), 5);
	CHECK_STR(raw_text(path,
	                   "SELECT group_concat(call_id) FROM (SELECT call_id "
	                   "FROM calls ORDER BY rowid)",
	                   buf, sizeof(buf)),
	          "SCL_7,SCL_8,SCL_9,SCL_10,SCL_11");
	/* Five finished rooms kept, and the open one. */
	CHECK_EQ(raw_int(path, "SELECT count(*) FROM rooms"), 6);
	CHECK_EQ(raw_int(path, "SELECT count(*) FROM rooms WHERE sid = 'RM_7'"),
	         1);
	CHECK_EQ(raw_int(path, "SELECT count(*) FROM rooms WHERE sid = 'RM_1'"),
	         0);
	return 0;
}

TEST(prune_by_age)
{
	const char *path = db_path("prune_age.db");
	struct store *st = NULL;
	struct store_retention keep = {.max_age_s = 86400};
	struct store_pruned out;

	CHECK_EQ(store_alloc(&st, path), 0);
	CHECK_EQ(put_calls(st, 0, 6), 0);
	CHECK_EQ(store_room_started(st, "RM_old", "r", NULL, 1000), 0);
	CHECK_EQ(store_room_finished(st, "RM_old", 2000), 0);
	CHECK_EQ(store_room_started(st, "RM_open", "r", NULL, 1000), 0);
	CHECK_EQ(store_room_started(st, "RM_new", "r", NULL, 1000), 0);
	CHECK_EQ(store_room_finished(st, "RM_new", (int64_t)time(NULL)), 0);
	mem_deref(st);
	/* Two records last written two days ago, one just within a day. */
	CHECK_EQ(raw_exec(path, "UPDATE calls SET updated_at = "
	                        "updated_at - 2 * 86400000 WHERE call_id IN "
	                        "('SCL_1', 'SCL_4')"),
	         0);
	CHECK_EQ(raw_exec(path,
	                  "UPDATE calls SET updated_at = "
	                  "updated_at - 86000000 WHERE call_id = 'SCL_2'"),
	         0);

	CHECK_EQ(store_alloc(&st, path), 0);
	CHECK_EQ(store_prune(st, &keep, 100, &out), 0);
	CHECK_EQ(out.calls, 2);
	CHECK_EQ(out.rooms, 1);
	CHECK(!out.more);
	/* Nothing to keep by: nothing goes. */
	keep.max_age_s = 0;
	CHECK_EQ(store_prune(st, &keep, 100, &out), 0);
	CHECK_EQ(out.calls + out.rooms, 0);
	CHECK_EQ(store_prune(st, &keep, 0, &out), EINVAL);
	CHECK_EQ(store_prune(st, NULL, 10, &out), EINVAL);
	CHECK_EQ(store_prune(NULL, &keep, 10, &out), EINVAL);
	mem_deref(st);

	CHECK_EQ(raw_int(path, "SELECT count(*) FROM calls"), 4);
	CHECK_EQ(raw_int(path, "SELECT count(*) FROM calls WHERE call_id IN "
	                       "('SCL_1', 'SCL_4')"),
	         0);
	CHECK_EQ(raw_int(path, "SELECT count(*) FROM rooms"), 2);
	CHECK_EQ(raw_int(path, "SELECT count(*) FROM rooms WHERE sid = "
	                       "'RM_old'"),
	         0);
	return 0;
}

TEST(bad_rows)
{
	const char *path = db_path("badrows.db");
	struct store *st = NULL;
	json_t *t = trunk("ST_a", "a"), *r = rule("SDR_1", "x"), *got = NULL,
	       *arr = NULL;
	enum store_trunk_kind kind;

	CHECK_EQ(store_alloc(&st, path), 0);
	CHECK_EQ(store_trunk_put(st, "ST_a", STORE_TRUNK_INBOUND, t), 0);
	CHECK_EQ(store_trunk_put(st, "ST_b", STORE_TRUNK_INBOUND, t), 0);
	CHECK_EQ(store_rule_put(st, "SDR_1", r), 0);
	CHECK_EQ(store_call_put(st, "SCL_1", r), 0);
	mem_deref(st);
	CHECK_EQ(raw_exec(path, "UPDATE trunks SET json = '{\"sipTrunk' "
	                        "WHERE id = 'ST_a';"
	                        "UPDATE trunks SET kind = 5 WHERE id = 'ST_b';"
	                        "UPDATE dispatch_rules SET json = '[1]';"
	                        "UPDATE calls SET json = '';"),
	         0);

	CHECK_EQ(store_alloc(&st, path), 0);
	got = NULL;
	CHECK_EQ(store_trunk_get(st, "ST_a", &kind, &got), EBADMSG);
	CHECK(got == NULL);
	CHECK(strstr(store_error(st), "parse") != NULL);
	CHECK_EQ(store_trunk_list(st, STORE_TRUNK_INBOUND, &arr), EBADMSG);
	CHECK_EQ(store_trunk_get(st, "ST_b", &kind, &got), EBADMSG);
	CHECK(got == NULL);
	CHECK_EQ(store_rule_get(st, "SDR_1", &got), EBADMSG);
	CHECK_EQ(store_rule_list(st, &arr), EBADMSG);
	CHECK(arr == NULL);
	CHECK_EQ(store_call_get(st, "SCL_1", &got), EBADMSG);
	/* The damaged rows can still be replaced and deleted. */
	CHECK_EQ(store_trunk_put(st, "ST_a", STORE_TRUNK_INBOUND, t), 0);
	CHECK_EQ(store_trunk_get(st, "ST_a", &kind, &got), 0);
	json_decref(got);
	CHECK_EQ(store_rule_delete(st, "SDR_1"), 0);
	CHECK_EQ(store_rule_list(st, &arr), 0);
	CHECK_EQ(json_array_size(arr), 0);
	json_decref(arr);
	mem_deref(st);

	json_decref(t);
	json_decref(r);
	return 0;
}

TEST(corrupt_file)
{
	const char *path = db_path("garbage.db");
	struct store *st = NULL;
	char junk[8192];

	/* Not a database at all. */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)("voxgate garbage "[i % 16] ^ (i >> 4));
	CHECK_EQ(write_file(path, junk, sizeof(junk)), 0);
	st = (struct store *)1;
	CHECK_EQ(store_alloc(&st, path), EIO);
	CHECK(st == NULL);
	CHECK(store_error(NULL)[0] != '\0');

	/* A real database whose schema page is overwritten after the
	 * header. */
	path = db_path("corrupt.db");
	CHECK_EQ(store_alloc(&st, path), 0);
	mem_deref(st);
	FILE *f = fopen(path, "r+b");
	CHECK(f != NULL);
	CHECK_EQ(fseek(f, 100, SEEK_SET), 0);
	CHECK_EQ(fwrite(junk, 1, 4096 - 100, f), 4096 - 100);
	CHECK_EQ(fclose(f), 0);
	CHECK_EQ(store_alloc(&st, path), EIO);
	CHECK(st == NULL);
	CHECK(store_error(NULL)[0] != '\0');
	return 0;
}

TEST(unwritable_path)
{
	struct store *st = NULL;
	char dir[300];

	/* The path is a directory. */
	CHECK_EQ(store_alloc(&st, tmpdir), EIO);
	CHECK(st == NULL);
	CHECK(store_error(NULL)[0] != '\0');

	/* In a directory that does not exist. */
	CHECK_EQ(store_alloc(&st, db_path("missing/dir/x.db")), EIO);
	CHECK(st == NULL);

	/* In a read-only directory: /proc refuses new files even to root. */
	CHECK_EQ(store_alloc(&st, "/proc/voxgate-store-test.db"), EIO);
	CHECK(st == NULL);

	/* A directory with its write bits off (root writes there anyway). */
	snprintf(dir, sizeof(dir), "%s/ro", tmpdir);
	CHECK_EQ(mkdir(dir, 0500), 0);
	if (access(dir, W_OK) != 0) {
		snprintf(dir, sizeof(dir), "%s/ro/x.db", tmpdir);
		CHECK_EQ(store_alloc(&st, dir), EIO);
		CHECK(st == NULL);
		CHECK(store_error(NULL)[0] != '\0');
	}
	return 0;
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(open_fresh);
	RUN(trunks);
	RUN(trunk_replace);
	RUN(rules);
	RUN(bad_arguments);
	RUN(persistence);
	RUN(migrations);
	RUN(rooms);
	RUN(calls);
	RUN(prune_by_rows);
	RUN(prune_by_age);
	RUN(bad_rows);
	RUN(corrupt_file);
	RUN(unwritable_path);
	rm_tree(tmpdir);
	TEST_EXIT();
}
