/*
 * Twirp requests to the HTTP API (RoomService, SIP and AgentDispatchService:
 * rooms, trunks, dispatch rules, agent dispatches) as an authenticated
 * admin sends them, each through the server's own request path: body
 * parse, key renaming, validation, the store, the rooms and LiveKit's
 * dispatch (rooms' agents). The token administers room "fuzz" (roomAdmin
 * holds for one room). A short sequence per input, so that an update or a
 * delete can find what a create made.
 *
 * Input: requests separated by a blank line, each a method path (what
 * follows /twirp/), a space and the JSON body. "@0" to "@9" in a body
 * stand for the ids of the trunks and rules stored so far (they are
 * random), in the order the store lists them.
 */
#include <errno.h>
#include <jansson.h>
#include <re_types.h>
#include <re_fmt.h>
#include <re_mem.h>
#include <re_mbuf.h>
#include <re_list.h>
#include <re_sa.h>
#include <re_msg.h>
#include <re_http.h>
#include <re_main.h>

#include "api/api.h"
#include "auth/token.h"
#include "core/log.h"
#include "lkagent/lkagent.h"
#include "room/room.h"
#include "store/store.h"

#include "fuzz.h"

#define KEY          "APIfuzzkey"
#define SECRET       "fuzzsecretfuzzsecretfuzzsecret12"
#define MAX_REQUESTS 8
#define MAX_IDS      10

static const struct token_key keys[] = {{KEY, SECRET}};
static char *bearer;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct token_spec spec = {.identity = "fuzz", .ttl_s = UINT32_MAX};
	FILE *null = fopen("/dev/null", "w");

	(void)argc;
	(void)argv;
	/* Every log line is formatted, with whatever the requests hold. */
	log_setup(LOGL_DEBUG, LOG_FORMAT_JSON, null);
	if (!null || libre_init())
		abort();
	token_grants_default(&spec.grants);
	spec.grants.room_create = spec.grants.room_list = true;
	spec.grants.room_admin = spec.grants.sip_admin = true;
	snprintf(spec.grants.room, sizeof(spec.grants.room), "fuzz");
	if (token_create(&bearer, KEY, SECRET, &spec, time(NULL)))
		abort();
	return 0;
}

/* The ids stored so far: trunks, then rules. */
static size_t stored_ids(struct store *st, char ids[][32])
{
	static const enum store_trunk_kind kinds[] = {STORE_TRUNK_INBOUND,
	                                              STORE_TRUNK_OUTBOUND};
	static const char *const id_keys[] = {"sipTrunkId", "sipTrunkId",
	                                      "sipDispatchRuleId"};
	size_t n = 0;

	for (size_t k = 0; k < 3; k++) {
		json_t *items = NULL, *x;
		size_t i;

		if (k < 2 ? store_trunk_list(st, kinds[k], &items)
		          : store_rule_list(st, &items))
			continue;
		json_array_foreach(items, i, x)
		{
			const char *id =
			    json_string_value(json_object_get(x, id_keys[k]));

			if (id && n < MAX_IDS)
				snprintf(ids[n++], sizeof(ids[0]), "%s", id);
		}
		json_decref(items);
	}
	return n;
}

/* The body with each @<digit> replaced by that stored id (or left). */
static struct mbuf *body_of(const uint8_t *p, size_t len, char ids[][32],
                            size_t nids)
{
	struct mbuf *mb = mbuf_alloc(len + 64);

	if (!mb)
		abort();
	for (size_t i = 0; i < len; i++) {
		size_t k = i + 1 < len ? (size_t)(p[i + 1] - '0') : MAX_IDS;

		if (p[i] == '@' && k < nids) {
			(void)mbuf_write_str(mb, ids[k]);
			i++;
		} else {
			(void)mbuf_write_u8(mb, p[i]);
		}
	}
	mb->pos = 0;
	return mb;
}

static void request(struct api *api, struct store *st, const uint8_t *p,
                    size_t len)
{
	const uint8_t *sp = memchr(p, ' ', len);
	size_t plen = sp ? (size_t)(sp - p) : len;
	struct mbuf *head = mbuf_alloc(512), *body;
	struct http_msg *msg = NULL;
	char ids[MAX_IDS][32];
	size_t nids = stored_ids(st, ids);

	if (!head)
		abort();
	body = sp ? body_of(sp + 1, len - plen - 1, ids, nids)
	          : body_of(NULL, 0, ids, nids);
	(void)mbuf_printf(head,
	                  "POST /twirp/%b HTTP/1.1\r\n"
	                  "Content-Type: application/json\r\n"
	                  "Authorization: Bearer %s\r\n"
	                  "Content-Length: %zu\r\n\r\n",
	                  p, plen, bearer, mbuf_get_left(body));
	head->pos = 0;
	/* A path that breaks the request line is the HTTP parser's to
	 * refuse, before any of ours runs. */
	if (!http_msg_decode(&msg, head, true)) {
		(void)mbuf_write_mem(msg->mb, mbuf_buf(body),
		                     mbuf_get_left(body));
		msg->mb->pos = 0;
		api_twirp(api, NULL, msg);
	}
	mem_deref(msg);
	mem_deref(body);
	mem_deref(head);
}

/* The built-in agent lkagent needs; no call starts here. */
static int no_start(void **statep, const struct agent_call_info *info,
                    const struct agent_assets *assets)
{
	(void)statep;
	(void)info;
	(void)assets;
	return ENOTSUP;
}

static const struct agent_ops no_agent = {.name = "none", .start = no_start};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct api_params prm = {
	    .host = "127.0.0.1", .keys = {keys, 1}, .max_body = 64 * 1024};
	struct rooms_params rp = {.empty_timeout_s = 300,
	                          .departure_timeout_s = 20};
	struct store *st = NULL;
	struct rooms *rooms = NULL;
	struct lkagent *lk = NULL;
	struct api *api = NULL;
	const uint8_t *p;
	size_t len;

	if (store_alloc(&st, ":memory:"))
		abort();
	rp.store = st;
	if (rooms_alloc(&rooms, &rp))
		abort();
	const struct lkagent_params lp = {.rooms = rooms,
	                                  .keys = {keys, 1},
	                                  .queue_max = 8,
	                                  .queue_timeout_ms = 30000,
	                                  .builtin = &no_agent};
	if (lkagent_alloc(&lk, &lp))
		abort();
	prm.rooms = rooms;
	prm.store = st;
	prm.lkagent = lk;
	if (api_alloc(&api, &prm, NULL, NULL))
		abort();
	for (int i = 0; i < MAX_REQUESTS && fuzz_piece(&in, "\n\n", &p, &len);
	     i++) {
		uint8_t *b = fuzz_copy(p, len, false);

		request(api, st, b, len);
		free(b);
	}
	mem_deref(api);
	mem_deref(lk);
	mem_deref(rooms);
	mem_deref(st);
	return 0;
}
