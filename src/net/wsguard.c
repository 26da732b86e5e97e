/*
 * WebSocket frame guard (wsguard.h).
 *
 * DESIGN. The guard is a libre TCP helper on the WebSocket's connection:
 * libre hands it every received chunk before the connection's own receive
 * handler (the WebSocket decoder) runs, and an error it returns closes the
 * connection, which the WebSocket's owner sees as a close with that error.
 *
 * Lifetime: libre frees a connection's helpers when the connection goes,
 * and a WebSocket owner may let go of its connection long before that
 * (libre lingers up to 10 s in CLOSING, decoding what still arrives). So
 * the guard, which the helper points to, belongs to this module: it keeps
 * a reference to the helper, and a helper left with only that reference
 * is one whose connection is gone; such guards are freed whenever a new
 * one is attached.
 */
#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <re_types.h>
#include <re_fmt.h>
#include <re_mem.h>
#include <re_mbuf.h>
#include <re_list.h>
#include <re_sa.h>
#include <re_tcp.h>
#include <re_msg.h>
#include <re_http.h>
#include <re_websock.h>
#include "core/log.h"
#include "net/wsguard.h"

/* Above the layers libre's own helpers (TLS) use: the guard reads what
 * the WebSocket decoder would read, after decryption. */
#define GUARD_LAYER 1000

enum { OP_CONT = 0x0, OP_BIN = 0x2 };

void wsframe_init(struct wsframe *f, bool masked, uint64_t max_payload)
{
	memset(f, 0, sizeof(*f));
	f->masked = masked;
	f->max_payload = max_payload ? max_payload : WSGUARD_MAX_PAYLOAD;
}

/* Bytes the header needs, known from its first two. */
size_t wsframe_header_size(const uint8_t *h)
{
	size_t n = 2;
	uint8_t len7 = h[1] & 0x7f;

	if (len7 == 126)
		n += 2;
	else if (len7 == 127)
		n += 8;
	if (h[1] & 0x80)
		n += 4;
	return n;
}

static int check_header(struct wsframe *f, const char **why)
{
	const uint8_t *h = f->hdr;
	/* libre's re_types.h may make bool an int: compare as 0/1 */
	bool fin = (h[0] & 0x80) != 0, mask = (h[1] & 0x80) != 0;
	uint8_t op = h[0] & 0x0f, len7 = h[1] & 0x7f;
	uint64_t len = len7;

	if (h[0] & 0x70) {
		*why = "reserved bits set (no extension was agreed)";
		return EPROTO;
	}
	if (mask != (f->masked != 0)) {
		*why = f->masked ? "unmasked frame from a client"
		                 : "masked frame from a server";
		return EPROTO;
	}
	if (len7 == 126) {
		len = (uint64_t)h[2] << 8 | h[3];
		if (len < 126) {
			*why = "length not in its shortest form";
			return EPROTO;
		}
	} else if (len7 == 127) {
		len = 0;
		for (int i = 2; i < 10; i++)
			len = len << 8 | h[i];
		if (len >> 63) {
			*why = "length with its most significant bit set";
			return EPROTO;
		}
		if (len <= 0xffff) {
			*why = "length not in its shortest form";
			return EPROTO;
		}
	}
	if (op >= 0x8) {
		if (op > 0xa) {
			*why = "unknown control opcode";
			return EPROTO;
		}
		if (!fin || len > 125) {
			*why = "fragmented or long control frame";
			return EPROTO;
		}
	} else {
		if (op > OP_BIN) {
			*why = "unknown data opcode";
			return EPROTO;
		}
		if (op == OP_CONT && !f->in_message) {
			*why = "continuation without a message";
			return EPROTO;
		}
		if (op != OP_CONT && f->in_message) {
			*why = "new message inside a fragmented one";
			return EPROTO;
		}
		f->in_message = !fin;
	}
	if (len > f->max_payload) {
		*why = "frame larger than this connection takes";
		return EMSGSIZE;
	}
	f->left = len;
	return 0;
}

int wsframe_feed(struct wsframe *f, const uint8_t *p, size_t n,
                 const char **why)
{
	while (n) {
		size_t need, take;

		if (f->left) {
			take = f->left < n ? (size_t)f->left : n;
			f->left -= take;
			p += take;
			n -= take;
			continue;
		}
		need = f->have < 2 ? 2 : wsframe_header_size(f->hdr);
		take = need - f->have < n ? need - f->have : n;
		memcpy(f->hdr + f->have, p, take);
		f->have += (uint8_t)take;
		p += take;
		n -= take;
		if (f->have < 2 || f->have < wsframe_header_size(f->hdr))
			continue;
		f->have = 0;
		int err = check_header(f, why);
		if (err)
			return err;
	}
	return 0;
}

/* ---- on a connection -------------------------------------------------- */

struct guard {
	struct le le;
	struct tcp_helper *th; /* one reference is ours */
	struct wsframe frame;
	bool failed;
	char label[16];
	struct sa peer;
};

static struct list guards;

static void guard_destructor(void *arg)
{
	struct guard *g = arg;

	list_unlink(&g->le);
	/* The connection has flushed its helpers already: this frees it. */
	mem_deref(g->th);
}

static bool guard_recv(int *err, struct mbuf *mb, bool *estab, void *arg)
{
	struct guard *g = arg;
	const char *why = NULL;
	char peer[64];
	int e;

	(void)estab;
	if (g->failed) {
		*err = EPROTO;
		return true;
	}
	e = wsframe_feed(&g->frame, mbuf_buf(mb), mbuf_get_left(mb), &why);
	if (!e)
		return false;
	g->failed = true;
	if (re_snprintf(peer, sizeof(peer), "%J", &g->peer) < 0)
		peer[0] = '\0';
	log_event(LOGL_WARN, NULL, "websocket_refused",
	          "socket=%s peer=%s reason=\"%s\"", g->label, peer, why);
	*err = e;
	return true;
}

static void sweep(void)
{
	struct le *le = list_head(&guards);

	while (le) {
		struct guard *g = le->data;

		le = le->next;
		if (mem_nrefs(g->th) == 1)
			mem_deref(g);
	}
}

/*
 * The protocols on these sockets answer a request with small messages back
 * to back (a ParticipantUpdate, then the RequestResponse the client waits
 * for): Nagle's algorithm holds the second until the first is acknowledged,
 * and the peer delays that ACK by up to 40 ms. Go, and so LiveKit's server,
 * turns Nagle off on every TCP connection. A socket that refuses the option
 * still works, only slower.
 */
static void no_delay(struct tcp_conn *tc)
{
	int one = 1;

	(void)setsockopt(tcp_conn_fd(tc), IPPROTO_TCP, TCP_NODELAY, &one,
	                 sizeof(one));
}

int wsguard_attach(struct websock_conn *wc, const struct wsguard_prm *prm)
{
	struct tcp_conn *tc;
	struct guard *g;
	int err;

	if (!wc || !prm)
		return EINVAL;
	sweep();
	tc = websock_tcp(wc);
	if (!tc)
		return ENOTCONN;
	no_delay(tc);
	g = mem_zalloc(sizeof(*g), guard_destructor);
	if (!g)
		return ENOMEM;
	wsframe_init(&g->frame, prm->server, prm->max_payload);
	(void)re_snprintf(g->label, sizeof(g->label), "%s",
	                  prm->label ? prm->label : "websocket");
	if (websock_peer(wc))
		sa_cpy(&g->peer, websock_peer(wc));
	err = tcp_register_helper(&g->th, tc, GUARD_LAYER, NULL, NULL,
	                          guard_recv, g);
	if (err) {
		g->th = NULL;
		mem_deref(g);
		return err;
	}
	mem_ref(g->th);
	list_append(&guards, &g->le, g);
	return 0;
}

unsigned wsguard_count(void)
{
	sweep();
	return list_count(&guards);
}
