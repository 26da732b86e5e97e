/*
 * DTLS for WebRTC peer connections (dtls.h): a connection's handshake and
 * records; the certificate, fingerprints and SRTP key split are in
 * dtls_cert.c.
 *
 * DESIGN. Each connection is an OpenSSL DTLS object between two memory
 * BIOs. A received datagram is written whole into the read BIO and the
 * SSL object is run (the handshake, then reads) until it wants more; the
 * DTLS record layer reads the datagram as one packet, so datagram
 * boundaries survive. What OpenSSL wrote meanwhile is drained from the
 * write BIO after each call, record by record: a memory BIO reports no
 * bytes pending for the datagram being written (BIO_wpending is 0), so
 * OpenSSL fragments every handshake message to fit the MTU on its own and
 * never counts on records sharing a datagram; each record leaves in its
 * own datagram, as OpenSSL would send them on a UDP socket. Handlers are
 * called only after OpenSSL has returned, never from inside it.
 *
 * The peer's certificate is matched against the SDP fingerprint as soon
 * as it arrives, by a certificate verification callback that replaces the
 * CA chain check (the certificate is self-signed: the fingerprint is the
 * trust), so a wrong peer gets a bad_certificate alert and no keys are
 * derived; the digest is compared again, constant-time, once the
 * handshake completes, before any key leaves this file.
 *
 * Timers are OpenSSL's (DTLSv1_get_timeout on the wall clock, with a
 * per-connection timer callback setting the retransmission timeout) plus
 * the handshake deadline on the monotonic clock; the caller runs one
 * timer for both.
 *
 * No HelloVerifyRequest cookie exchange: ICE's connectivity checks have
 * already proved the peer's address before any DTLS datagram is taken.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <re_types.h>
#include <re_mem.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "core/clock.h"
#include "core/log.h"
#include "webrtc/dtls.h"
#include "webrtc/dtls_int.h"

#define RECORD_HEADER   13
#define RECORD_MAX_BODY (16384 + 2048) /* RFC 6347 4.1: 2^14 + 2048 */
#define RTO_DEFAULT_MS  500
#define RTO_MAX_FACTOR  8
#define DEADLINE_MS     15000

#define SRTP_LABEL "EXTRACTOR-dtls_srtp"

/* The expansion of a protected record: GCM's explicit nonce and tag,
 * ChaCha20-Poly1305's tag. */
#define GCM_OVERHEAD    (8 + 16)
#define CHACHA_OVERHEAD 16

static const char WHY_FP_MISMATCH[] =
    "the peer's certificate does not match the fingerprint of its SDP";

struct dtls_conn {
	SSL *ssl;
	BIO *rbio; /* owned by ssl */
	BIO *wbio; /* owned by ssl */
	enum dtls_role role;
	enum dtls_state state;
	uint8_t remote_md[DTLS_FP_LEN];
	bool fp_mismatch; /* set by the verification callback */
	bool refused_logged;
	uint16_t mtu;
	uint32_t rto_ms;
	uint32_t deadline_ms;
	uint64_t start_us;
	uint64_t deadline_us;
	const char *why;
	struct dtls_srtp_keys keys;
	struct dtls_stats stats;
	char label[32];
	dtls_conn_send_h *sendh;
	dtls_conn_estab_h *estabh;
	dtls_conn_recv_h *recvh;
	dtls_conn_close_h *closeh;
	void *arg;
	/* Room for the plaintext of the longest datagram taken (rx_max):
	 * no record in it can be longer. */
	size_t rx_max;
	uint8_t app[];
};

static const char *role_name(enum dtls_role role)
{
	return role == DTLS_ROLE_CLIENT ? "client" : "server";
}

/* ---- a connection ---- */

const char *dtls_conn_state_name(enum dtls_state state)
{
	switch (state) {
	case DTLS_STATE_NEW:
		return "new";
	case DTLS_STATE_HANDSHAKE:
		return "handshake";
	case DTLS_STATE_CONNECTED:
		return "connected";
	case DTLS_STATE_CLOSED:
		return "closed";
	case DTLS_STATE_FAILED:
		return "failed";
	}
	return "?";
}

static bool fp_match(const struct dtls_conn *c, X509 *x)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!x || X509_digest(x, EVP_sha256(), md, &n) != 1 || n != DTLS_FP_LEN)
		return false;
	return CRYPTO_memcmp(md, c->remote_md, DTLS_FP_LEN) == 0;
}

/* Replaces the CA chain check: the leaf must be the certificate the
 * peer's SDP announced. */
int dtls_verify_cert(X509_STORE_CTX *xs, void *arg)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(
	    xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct dtls_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;

	(void)arg;
	if (c && fp_match(c, X509_STORE_CTX_get0_cert(xs)))
		return 1;
	if (c)
		c->fp_mismatch = true;
	X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
	return 0;
}

/* The retransmission timeout: the first is rto_ms, each next one double
 * the last, up to RTO_MAX_FACTOR times the first. */
static unsigned int timer_cb(SSL *ssl, unsigned int timer_us)
{
	struct dtls_conn *c = SSL_get_app_data(ssl);
	uint64_t first = (uint64_t)(c ? c->rto_ms : RTO_DEFAULT_MS) * 1000u;
	uint64_t next = timer_us ? (uint64_t)timer_us * 2u : first;

	if (next > first * RTO_MAX_FACTOR)
		next = first * RTO_MAX_FACTOR;
	return next > UINT_MAX ? UINT_MAX : (unsigned int)next;
}

static void conn_destructor(void *arg)
{
	struct dtls_conn *c = arg;

	if (c->ssl)
		SSL_free(c->ssl);
	OPENSSL_cleanse(&c->keys, sizeof(c->keys));
}

static int fail(struct dtls_conn *c, int err, const char *why)
{
	if (c->state == DTLS_STATE_FAILED || c->state == DTLS_STATE_CLOSED)
		return err;
	c->state = DTLS_STATE_FAILED;
	c->why = why;
	log_event(LOGL_WARN, NULL, "dtls_failed",
	          "conn=\"%s\" role=%s reason=\"%s\"", c->label,
	          role_name(c->role), why);
	if (c->closeh)
		c->closeh(err, why, c->arg);
	return err;
}

/* After OpenSSL reported a fatal error: the reason it queued, or ours. */
static int fail_ssl(struct dtls_conn *c, int err, const char *fallback)
{
	unsigned long e = ERR_peek_last_error();
	const char *why = e ? ERR_reason_error_string(e) : NULL;

	if (c->fp_mismatch)
		return fail(c, EACCES, WHY_FP_MISMATCH);
	return fail(c, err, why ? why : fallback);
}

/* Sends what OpenSSL wrote, one record per datagram. */
static void flush(struct dtls_conn *c)
{
	char *p = NULL;
	long n = BIO_get_mem_data(c->wbio, &p);
	size_t off = 0, len;

	if (n <= 0 || !p)
		return;
	len = (size_t)n;
	while (off < len) {
		size_t rl = len - off;

		/* OpenSSL writes whole records; a short tail would be its
		 * bug, and goes out as it is. */
		if (rl >= RECORD_HEADER) {
			const uint8_t *h = (const uint8_t *)p + off;
			size_t body = (size_t)h[11] << 8 | h[12];

			if (RECORD_HEADER + body < rl)
				rl = RECORD_HEADER + body;
		}
		c->stats.tx_datagrams++;
		c->stats.tx_bytes += rl;
		c->sendh((const uint8_t *)p + off, rl, c->arg);
		off += rl;
	}
	(void)BIO_reset(c->wbio);
}

/*
 * The shortest body a protected record (epoch 1) can have with the suite
 * chosen, or GCM's before one is (no protected record is genuine then).
 */
static size_t min_protected(const struct dtls_conn *c)
{
	const SSL_CIPHER *ci = SSL_get_current_cipher(c->ssl);

	if (ci && SSL_CIPHER_get_cipher_nid(ci) == NID_chacha20_poly1305)
		return CHACHA_OVERHEAD;
	return GCM_OVERHEAD;
}

/*
 * Whether the datagram is made of whole DTLS records (RFC 6347 4.1) of
 * the content types and epochs DTLS 1.2 without renegotiation uses,
 * before OpenSSL sees it: anything else is dropped without touching the
 * connection (4.1.2.7: invalid records are discarded silently). OpenSSL
 * 3.0 ends a session with an internal_error alert on a protected record
 * shorter than its cipher's expansion, and the handshake on application
 * data in epoch 0, where any forged datagram would do: those are refused
 * here.
 */
static int check_framing(const uint8_t *p, size_t len, size_t min_prot,
                         size_t max, const char **why)
{
	size_t off = 0;

	if (len > max) {
		*why = "datagram longer than the connection takes";
		return EMSGSIZE;
	}
	if (!len) {
		*why = "empty datagram";
		return EBADMSG;
	}
	while (off < len) {
		const uint8_t *h = p + off;
		size_t body;

		if (len - off < RECORD_HEADER) {
			*why = "DTLS record header cut short";
			return EBADMSG;
		}
		if (h[0] < 20 || h[0] > 23) {
			*why = "not a DTLS content type";
			return EBADMSG;
		}
		if (h[1] != 0xfe) {
			*why = "not a DTLS version";
			return EBADMSG;
		}
		if (h[3] != 0 || h[4] > 1) {
			*why = "DTLS epoch beyond the first keys";
			return EBADMSG;
		}
		if (h[0] == 23 && h[4] == 0) {
			*why = "application data in epoch 0";
			return EBADMSG;
		}
		body = (size_t)h[11] << 8 | h[12];
		if (body > RECORD_MAX_BODY ||
		    body > len - off - RECORD_HEADER) {
			*why = "DTLS record longer than its datagram";
			return EBADMSG;
		}
		if (h[4] == 1 && body < min_prot) {
			*why =
			    "protected DTLS record shorter than its cipher's "
			    "expansion";
			return EBADMSG;
		}
		off += RECORD_HEADER + body;
	}
	return 0;
}

int dtls_conn_alloc(struct dtls_conn **connp, struct dtls_cert *cert,
                    const struct dtls_conn_prm *prm, const char **why)
{
	struct dtls_conn *c;
	const char *w = NULL, *offer;
	size_t fplen, rx_max;
	uint16_t mtu;
	int err;

	if (!why)
		why = &w;
	if (!connp || !cert || !prm || !prm->sendh || !prm->remote_fp) {
		*why = "missing certificate, parameters, send handler or "
		       "remote fingerprint";
		return EINVAL;
	}
	if (prm->role != DTLS_ROLE_SERVER && prm->role != DTLS_ROLE_CLIENT) {
		*why = "unknown DTLS role";
		return EINVAL;
	}
	if (prm->mtu && (prm->mtu < DTLS_MTU_MIN || prm->mtu > DTLS_MTU_MAX)) {
		*why = "MTU out of range";
		return EINVAL;
	}
	if (prm->rto_ms && prm->rto_ms < DTLS_RTO_MIN_MS) {
		*why = "retransmission timeout below DTLS_RTO_MIN_MS";
		return EINVAL;
	}
	switch (prm->srtp_offer) {
	case 0:
	case DTLS_SRTP_OFFER_ALL:
		offer = DTLS_SRTP_ALL;
		break;
	case DTLS_SRTP_OFFER_GCM:
		offer = "SRTP_AEAD_AES_128_GCM";
		break;
	case DTLS_SRTP_OFFER_CM80:
		offer = "SRTP_AES128_CM_SHA1_80";
		break;
	default:
		*why = "unknown SRTP profile offer";
		return EINVAL;
	}
	mtu = prm->mtu ? prm->mtu : DTLS_MTU;
	rx_max = mtu > DTLS_RX_MIN ? mtu : DTLS_RX_MIN;
	c = mem_zalloc(sizeof(*c) + rx_max, conn_destructor);
	if (!c) {
		*why = "no memory for the connection";
		return ENOMEM;
	}
	c->role = prm->role;
	c->mtu = mtu;
	c->rx_max = rx_max;
	c->rto_ms = prm->rto_ms ? prm->rto_ms : RTO_DEFAULT_MS;
	c->deadline_ms = prm->deadline_ms ? prm->deadline_ms : DEADLINE_MS;
	c->sendh = prm->sendh;
	c->estabh = prm->estabh;
	c->recvh = prm->recvh;
	c->closeh = prm->closeh;
	c->arg = prm->arg;
	snprintf(c->label, sizeof(c->label), "%s",
	         prm->label ? prm->label : "");
	fplen =
	    prm->remote_fp_len ? prm->remote_fp_len : strlen(prm->remote_fp);
	err = dtls_fingerprint_parse(c->remote_md, prm->remote_fp, fplen, why);
	if (err) {
		char raw[120], quoted[240];

		snprintf(raw, sizeof(raw), "%.*s",
		         (int)(fplen < sizeof(raw) ? fplen : sizeof(raw) - 1),
		         prm->remote_fp);
		log_event(LOGL_WARN, NULL, "dtls_fingerprint_refused",
		          "conn=\"%s\" fingerprint=\"%s\" reason=\"%s\"",
		          c->label, log_quote(quoted, sizeof(quoted), raw),
		          *why);
		goto out;
	}

	ERR_clear_error();
	c->ssl = SSL_new(cert->ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (!c->ssl || !c->rbio || !c->wbio) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		*why = "no memory for the DTLS connection";
		err = ENOMEM;
		goto out;
	}
	/* An empty read BIO is "no datagram yet", not end of file. */
	BIO_set_mem_eof_return(c->rbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_app_data(c->ssl, c);
	DTLS_set_timer_cb(c->ssl, timer_cb);
	if (c->role == DTLS_ROLE_CLIENT)
		SSL_set_connect_state(c->ssl);
	else
		SSL_set_accept_state(c->ssl);
	/* The MTU is set, never probed: a memory BIO has no path MTU. */
	SSL_set_options(c->ssl, SSL_OP_NO_QUERY_MTU);
	/* Records no longer than a datagram: OpenSSL's write buffer is sized
	 * for the largest one, 16 KiB unless told (512 is its floor). */
	if (!SSL_set_mtu(c->ssl, c->mtu) ||
	    !SSL_set_max_send_fragment(c->ssl, c->mtu > 512 ? c->mtu : 512) ||
	    SSL_set_tlsext_use_srtp(c->ssl, offer) != 0) {
		*why = "the DTLS connection could not be set up";
		err = EIO;
		goto out;
	}

out:
	ERR_clear_error();
	if (err)
		mem_deref(c);
	else
		*connp = c;
	return err;
}

static int established(struct dtls_conn *c)
{
	const SRTP_PROTECTION_PROFILE *sp;
	enum dtls_srtp_profile profile;
	uint8_t material[2 * DTLS_SRTP_MASTER_MAX];
	size_t mlen;
	int err;

	if (!fp_match(c, SSL_get0_peer_certificate(c->ssl)))
		return fail(c, EACCES, WHY_FP_MISMATCH);
	sp = SSL_get_selected_srtp_profile(c->ssl);
	if (!sp)
		return fail(c, EPROTO, "no SRTP profile in common (use_srtp)");
	profile = (enum dtls_srtp_profile)sp->id;
	mlen = dtls_srtp_material_len(profile);
	if (!mlen || mlen > sizeof(material))
		return fail(c, EPROTO, "SRTP profile not supported");
	if (SSL_export_keying_material(c->ssl, material, mlen, SRTP_LABEL,
	                               strlen(SRTP_LABEL), NULL, 0, 0) != 1)
		return fail(c, EPROTO, "SRTP keying material not exported");
	err = dtls_srtp_split(&c->keys, profile, c->role, material, mlen);
	OPENSSL_cleanse(material, sizeof(material));
	if (err)
		return fail(c, EPROTO, "SRTP keying material not split");
	c->state = DTLS_STATE_CONNECTED;
	c->stats.handshake_us = clock_mono_us() - c->start_us;
	log_event(LOGL_DEBUG, NULL, "dtls_connected",
	          "conn=\"%s\" role=%s profile=%s cipher=%s handshake_ms=%llu",
	          c->label, role_name(c->role), dtls_srtp_profile_name(profile),
	          SSL_get_cipher_name(c->ssl),
	          (unsigned long long)(c->stats.handshake_us / 1000u));
	if (c->estabh)
		c->estabh(&c->keys, c->arg);
	return 0;
}

static int handshake(struct dtls_conn *c)
{
	int r = SSL_do_handshake(c->ssl);
	int e = SSL_get_error(c->ssl, r);

	flush(c);
	if (r == 1)
		return established(c);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	if (e == SSL_ERROR_ZERO_RETURN)
		return fail(c, EPROTO, "close_notify during the handshake");
	return fail_ssl(c, EPROTO, "DTLS handshake failed");
}

static int read_app(struct dtls_conn *c)
{
	/* A handler may close the connection: check before each read. */
	while (c->state == DTLS_STATE_CONNECTED) {
		int r = SSL_read(c->ssl, c->app, (int)c->rx_max);
		int e = SSL_get_error(c->ssl, r);

		/* Reads send too: a flight resent for a repeated Finished,
		 * an alert. */
		flush(c);
		if (r > 0) {
			c->stats.app_rx++;
			c->stats.app_rx_bytes += (uint64_t)r;
			if (c->recvh)
				c->recvh(c->app, (size_t)r, c->arg);
			continue;
		}
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return 0;
		if (e == SSL_ERROR_ZERO_RETURN) {
			c->state = DTLS_STATE_CLOSED;
			c->why = "the peer sent close_notify";
			(void)SSL_shutdown(c->ssl);
			flush(c);
			log_event(LOGL_DEBUG, NULL, "dtls_closed",
			          "conn=\"%s\" role=%s by=peer", c->label,
			          role_name(c->role));
			if (c->closeh)
				c->closeh(0, c->why, c->arg);
			return 0;
		}
		return fail_ssl(c, EPROTO, "DTLS read failed");
	}
	return 0;
}

static void begin(struct dtls_conn *c)
{
	c->state = DTLS_STATE_HANDSHAKE;
	c->start_us = clock_mono_us();
	c->deadline_us = c->start_us + (uint64_t)c->deadline_ms * 1000u;
}

int dtls_conn_start(struct dtls_conn *c, const char **why)
{
	const char *w = NULL;
	int err = 0;

	if (!why)
		why = &w;
	if (!c) {
		*why = "no connection";
		return EINVAL;
	}
	if (c->state != DTLS_STATE_NEW) {
		*why = "already started";
		return EALREADY;
	}
	begin(c);
	if (c->role == DTLS_ROLE_CLIENT) {
		ERR_clear_error();
		err = handshake(c);
		ERR_clear_error();
		if (err)
			*why = c->why;
	}
	return err;
}

int dtls_conn_recv(struct dtls_conn *c, const uint8_t *pkt, size_t len,
                   const char **why)
{
	const char *w = NULL;
	int err;

	if (!why)
		why = &w;
	if (!c || (!pkt && len)) {
		*why = "no connection or datagram";
		return EINVAL;
	}
	c->stats.rx_datagrams++;
	if (c->state == DTLS_STATE_CLOSED || c->state == DTLS_STATE_FAILED) {
		c->stats.rx_ignored++;
		*why = c->why;
		return ENOTCONN;
	}
	err = check_framing(pkt, len, min_protected(c), c->rx_max, why);
	if (err) {
		c->stats.rx_refused++;
		/* Once per connection: the counter tells the rest. */
		if (!c->refused_logged) {
			c->refused_logged = true;
			log_event(LOGL_WARN, NULL, "dtls_datagram_refused",
			          "conn=\"%s\" role=%s len=%zu first=%u "
			          "reason=\"%s\"",
			          c->label, role_name(c->role), len,
			          len ? pkt[0] : 0u, *why);
		}
		return err;
	}
	if (c->state == DTLS_STATE_NEW) {
		if (c->role == DTLS_ROLE_CLIENT) {
			/* Nothing is due to a client before its ClientHello. */
			c->stats.rx_ignored++;
			*why = "datagram before the handshake started";
			return ENOTCONN;
		}
		begin(c);
	}

	ERR_clear_error();
	if (BIO_write(c->rbio, pkt, (int)len) != (int)len) {
		ERR_clear_error();
		*why = "no memory for the datagram";
		return ENOMEM;
	}
	if (c->state == DTLS_STATE_HANDSHAKE)
		err = handshake(c);
	/* Records after the Finished in the same datagram, or data. */
	if (!err && c->state == DTLS_STATE_CONNECTED)
		err = read_app(c);
	/* What OpenSSL left unread must not run into the next datagram. */
	if (BIO_ctrl_pending(c->rbio))
		(void)BIO_reset(c->rbio);
	ERR_clear_error();
	if (err)
		*why = c->why;
	return err;
}

int dtls_conn_timeout_ms(struct dtls_conn *c)
{
	struct timeval tv;
	int64_t ms = -1;

	if (!c || (c->state != DTLS_STATE_HANDSHAKE &&
	           c->state != DTLS_STATE_CONNECTED))
		return -1;
	/* Rounded up: waking before OpenSSL's timer has run out would
	 * only ask again. */
	if (DTLSv1_get_timeout(c->ssl, &tv) == 1)
		ms = (int64_t)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
	if (c->state == DTLS_STATE_HANDSHAKE) {
		uint64_t now = clock_mono_us();
		int64_t left =
		    now >= c->deadline_us
		        ? 0
		        : (int64_t)((c->deadline_us - now + 999) / 1000);

		if (ms < 0 || left < ms)
			ms = left;
	}
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

int dtls_conn_on_timeout(struct dtls_conn *c, const char **why)
{
	const char *w = NULL;
	int r, err = 0;

	if (!why)
		why = &w;
	if (!c) {
		*why = "no connection";
		return EINVAL;
	}
	if (c->state == DTLS_STATE_CLOSED || c->state == DTLS_STATE_FAILED) {
		*why = c->why;
		return ENOTCONN;
	}
	if (c->state == DTLS_STATE_NEW)
		return 0;
	if (c->state == DTLS_STATE_HANDSHAKE &&
	    clock_mono_us() >= c->deadline_us) {
		err = fail(c, ETIMEDOUT, "handshake deadline passed");
		*why = c->why;
		return err;
	}
	ERR_clear_error();
	r = DTLSv1_handle_timeout(c->ssl);
	flush(c);
	if (r > 0)
		c->stats.retransmits++;
	else if (r < 0)
		err = fail_ssl(c, ETIMEDOUT,
		               "the peer did not answer the retransmissions");
	ERR_clear_error();
	if (err)
		*why = c->why;
	return err;
}

int dtls_conn_send_app(struct dtls_conn *c, const uint8_t *data, size_t len,
                       const char **why)
{
	const char *w = NULL;
	int r, err = 0;

	if (!why)
		why = &w;
	if (!c || !data || !len) {
		*why = "no connection or data";
		return EINVAL;
	}
	if (c->state != DTLS_STATE_CONNECTED) {
		*why = "not connected";
		return ENOTCONN;
	}
	if (len > DTLS_get_data_mtu(c->ssl)) {
		*why = "application data larger than a datagram carries";
		return EMSGSIZE;
	}
	ERR_clear_error();
	r = SSL_write(c->ssl, data, (int)len);
	flush(c);
	if (r == (int)len) {
		c->stats.app_tx++;
		c->stats.app_tx_bytes += len;
	} else {
		err = fail_ssl(c, EPROTO, "DTLS write failed");
		*why = c->why;
	}
	ERR_clear_error();
	return err;
}

size_t dtls_conn_app_mtu(const struct dtls_conn *c)
{
	if (!c || c->state != DTLS_STATE_CONNECTED)
		return 0;
	return DTLS_get_data_mtu(c->ssl);
}

void dtls_conn_close(struct dtls_conn *c)
{
	if (!c)
		return;
	if (c->state == DTLS_STATE_CONNECTED) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);
		flush(c);
		ERR_clear_error();
		log_event(LOGL_DEBUG, NULL, "dtls_closed",
		          "conn=\"%s\" role=%s by=us", c->label,
		          role_name(c->role));
	}
	if (c->state != DTLS_STATE_FAILED && c->state != DTLS_STATE_CLOSED) {
		c->state = DTLS_STATE_CLOSED;
		c->why = "closed here";
	}
}

enum dtls_state dtls_conn_state(const struct dtls_conn *c)
{
	return c ? c->state : DTLS_STATE_FAILED;
}

const char *dtls_conn_why(const struct dtls_conn *c)
{
	return c ? c->why : NULL;
}

int dtls_conn_srtp_keys(const struct dtls_conn *c, struct dtls_srtp_keys *keys)
{
	if (!c || !keys)
		return EINVAL;
	if (c->state != DTLS_STATE_CONNECTED)
		return ENOTCONN;
	*keys = c->keys;
	return 0;
}

const struct dtls_stats *dtls_conn_stats(const struct dtls_conn *c)
{
	return c ? &c->stats : NULL;
}
