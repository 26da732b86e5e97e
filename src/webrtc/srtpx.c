/*
 * SRTP on libsrtp2 (Debian 12: 2.5.0, built on NSS).
 *
 * Two sessions per context because the two directions have different
 * master keys: tx is created for any outbound SSRC with our keys, rx for
 * any inbound SSRC with the peer's. libsrtp2 derives the RTCP session keys
 * from the same master key (RFC 3711 §4.3), which is what rtcp-mux and
 * SDES expect.
 *
 * libsrtp2 checks little of what it is handed: its length arithmetic is in
 * int, it writes the trailer past *len without knowing the buffer, and an
 * authenticated packet from a new SSRC grows its stream list for good. So
 * every length is bounded here before libsrtp2 sees the packet, the room
 * for the trailer is checked against the caller's cap, and the inbound
 * SSRCs are counted and capped here.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <srtp2/srtp.h>

#include "webrtc/srtpx.h"

#define RTP_HDR       12
#define RTCP_HDR      8
#define SRTCP_TRAILER 4 /* E flag and SRTCP index */

static const struct {
	const char *name;
	srtp_profile_t lib;
	unsigned dtls_id;
	size_t key, salt;
} profiles[] = {
    [SRTPX_AEAD_AES_128_GCM] = {"AEAD_AES_128_GCM",
                                srtp_profile_aead_aes_128_gcm, 0x0007, 16, 12},
    [SRTPX_AES_CM_128_HMAC_SHA1_80] = {"AES_CM_128_HMAC_SHA1_80",
                                       srtp_profile_aes128_cm_sha1_80, 0x0001,
                                       16, 14},
    [SRTPX_AES_CM_128_HMAC_SHA1_32] = {"AES_CM_128_HMAC_SHA1_32",
                                       srtp_profile_aes128_cm_sha1_32, 0x0002,
                                       16, 14},
};

#define NPROFILES (sizeof(profiles) / sizeof(profiles[0]))

static bool profile_ok(enum srtpx_profile p)
{
	return (unsigned)p < NPROFILES;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static srtp_err_status_t global_status = srtp_err_status_init_fail;

static void global_init_once(void)
{
	global_status = srtp_init();
}

int srtpx_global_init(void)
{
	pthread_once(&global_once, global_init_once);
	return global_status == srtp_err_status_ok ? 0 : EPROTO;
}

size_t srtpx_key_len(enum srtpx_profile p)
{
	return profile_ok(p) ? profiles[p].key : 0;
}

size_t srtpx_salt_len(enum srtpx_profile p)
{
	return profile_ok(p) ? profiles[p].salt : 0;
}

const char *srtpx_profile_name(enum srtpx_profile p)
{
	return profile_ok(p) ? profiles[p].name : "?";
}

int srtpx_profile_by_name(const char *name, size_t n, enum srtpx_profile *p)
{
	if (!name || !p)
		return EINVAL;
	for (size_t i = 0; i < NPROFILES; i++) {
		if (strlen(profiles[i].name) == n &&
		    memcmp(profiles[i].name, name, n) == 0) {
			*p = (enum srtpx_profile)i;
			return 0;
		}
	}
	return ENOTSUP;
}

int srtpx_profile_from_dtls(unsigned id, enum srtpx_profile *p)
{
	if (!p)
		return EINVAL;
	for (size_t i = 0; i < NPROFILES; i++) {
		if (profiles[i].dtls_id == id) {
			*p = (enum srtpx_profile)i;
			return 0;
		}
	}
	return ENOTSUP;
}

size_t srtpx_dtls_material_len(enum srtpx_profile p)
{
	return profile_ok(p) ? 2 * (profiles[p].key + profiles[p].salt) : 0;
}

int srtpx_dtls_keys(struct srtpx_prm *prm, enum srtpx_profile p,
                    const uint8_t *km, size_t km_len, bool dtls_client)
{
	struct srtpx_keys client, server;
	size_t k, sl;

	if (!prm || !km || !profile_ok(p) ||
	    km_len != srtpx_dtls_material_len(p))
		return EINVAL;
	k = profiles[p].key;
	sl = profiles[p].salt;
	client = (struct srtpx_keys){km, k, km + 2 * k, sl};
	server = (struct srtpx_keys){km + k, k, km + 2 * k + sl, sl};
	prm->profile = p;
	prm->local = dtls_client ? client : server;
	prm->remote = dtls_client ? server : client;
	return 0;
}

/* One direction's session; the key is master key then salt, as libsrtp2
 * takes it. */
static int session_create(srtp_t *sp, srtp_profile_t lib, srtp_ssrc_type_t t,
                          const struct srtpx_keys *k, unsigned window,
                          srtp_crypto_policy_t *rtp_pol,
                          srtp_crypto_policy_t *rtcp_pol, const char **why)
{
	uint8_t key[SRTPX_MAX_KEY + SRTPX_MAX_SALT];
	srtp_policy_t pol;
	srtp_err_status_t st;

	memset(&pol, 0, sizeof(pol));
	if (srtp_crypto_policy_set_from_profile_for_rtp(&pol.rtp, lib) ||
	    srtp_crypto_policy_set_from_profile_for_rtcp(&pol.rtcp, lib)) {
		*why = "libsrtp2 does not know the profile";
		return EPROTO;
	}
	memcpy(key, k->key, k->key_len);
	memcpy(key + k->key_len, k->salt, k->salt_len);
	pol.ssrc.type = t;
	pol.key = key;
	pol.window_size = window;
	pol.allow_repeat_tx = 0;
	st = srtp_create(sp, &pol);
	explicit_bzero(key, sizeof(key));
	if (st != srtp_err_status_ok) {
		*sp = NULL;
		*why = "libsrtp2 could not create the session";
		return st == srtp_err_status_alloc_fail ? ENOMEM : EPROTO;
	}
	*rtp_pol = pol.rtp;
	*rtcp_pol = pol.rtcp;
	return 0;
}

static bool keys_ok(const struct srtpx_keys *k, enum srtpx_profile p)
{
	return k->key && k->salt && k->key_len == profiles[p].key &&
	       k->salt_len == profiles[p].salt;
}

int srtpx_init(struct srtpx *s, const struct srtpx_prm *prm, const char **why)
{
	srtp_crypto_policy_t rtp_pol, rtcp_pol;
	const char *dummy;
	unsigned window;
	srtp_profile_t lib;
	int err;

	if (!why)
		why = &dummy;
	*why = NULL;
	if (!s || !prm) {
		*why = "no context or parameters";
		return EINVAL;
	}
	memset(s, 0, sizeof(*s));
	if (!profile_ok(prm->profile)) {
		*why = "unknown SRTP profile";
		return EINVAL;
	}
	if (!keys_ok(&prm->local, prm->profile) ||
	    !keys_ok(&prm->remote, prm->profile)) {
		*why = "master key or salt of the wrong length for the profile";
		return EINVAL;
	}
	window = prm->replay_window ? prm->replay_window : 128;
	if (window < 128 || window > 32767) {
		*why = "replay window out of 128..32767";
		return EINVAL;
	}
	if (srtpx_global_init()) {
		*why = "libsrtp2 failed to initialise";
		return EPROTO;
	}
	lib = profiles[prm->profile].lib;
	err = session_create(&s->tx, lib, ssrc_any_outbound, &prm->local,
	                     window, &rtp_pol, &rtcp_pol, why);
	if (!err)
		err =
		    session_create(&s->rx, lib, ssrc_any_inbound, &prm->remote,
		                   window, &rtp_pol, &rtcp_pol, why);
	if (err) {
		srtpx_reset(s);
		return err;
	}
	/* The trailer sizes as libsrtp2 will write them: under _32 it keeps
	 * SRTCP's tag at 80 bits, as libwebrtc (also libsrtp2) expects. */
	if (rtp_pol.auth_tag_len < 4 || rtp_pol.auth_tag_len > 16 ||
	    rtcp_pol.auth_tag_len < 4 || rtcp_pol.auth_tag_len > 16) {
		srtpx_reset(s);
		*why = "libsrtp2 chose an unexpected tag length";
		return EPROTO;
	}
	s->profile = prm->profile;
	s->rtp_tag = (unsigned)rtp_pol.auth_tag_len;
	s->rtcp_tag = (unsigned)rtcp_pol.auth_tag_len;
	return 0;
}

void srtpx_reset(struct srtpx *s)
{
	if (!s)
		return;
	if (s->tx)
		srtp_dealloc(s->tx);
	if (s->rx)
		srtp_dealloc(s->rx);
	memset(s, 0, sizeof(*s));
}

size_t srtpx_trailer(const struct srtpx *s, bool rtcp)
{
	if (!s || !s->tx)
		return 0;
	return rtcp ? s->rtcp_tag + SRTCP_TRAILER : s->rtp_tag;
}

const struct srtpx_stats *srtpx_stats(const struct srtpx *s)
{
	return &s->st;
}

/* The length of the RTP header at b: fixed part, CSRCs and extension. */
static int rtp_hdr_len(const uint8_t *b, size_t len, size_t *hl)
{
	size_t n;

	if (len < RTP_HDR)
		return EMSGSIZE;
	n = RTP_HDR + 4 * (size_t)(b[0] & 0x0f);
	if (b[0] & 0x10) {
		if (n + 4 > len)
			return EMSGSIZE;
		n += 4 + 4 * (size_t)(b[n + 2] << 8 | b[n + 3]);
	}
	if (n > len)
		return EMSGSIZE;
	*hl = n;
	return 0;
}

static int map_status(srtp_err_status_t st)
{
	switch (st) {
	case srtp_err_status_ok:
		return 0;
	case srtp_err_status_auth_fail:
	case srtp_err_status_cant_check:
		/* cant_check: SRTCP's E flag changed, refused before the tag
		 * is checked; only a damaged or forged packet does that */
		return EBADMSG;
	case srtp_err_status_replay_fail:
	case srtp_err_status_replay_old:
	case srtp_err_status_pkt_idx_old:
		return EALREADY;
	case srtp_err_status_bad_param:
		/* libsrtp2's packet paths say so of lengths only */
		return EMSGSIZE;
	case srtp_err_status_key_expired:
		return EKEYEXPIRED;
	case srtp_err_status_alloc_fail:
		return ENOMEM;
	default:
		return EPROTO;
	}
}

static int protect(struct srtpx *s, uint8_t *buf, size_t *len, size_t cap,
                   bool rtcp)
{
	srtp_err_status_t st;
	size_t hl, trailer;
	int n, err;

	if (!s || !s->tx || !buf || !len)
		return EINVAL;
	trailer = srtpx_trailer(s, rtcp);
	if (rtcp)
		err = *len < RTCP_HDR ? EMSGSIZE : 0;
	else
		err = rtp_hdr_len(buf, *len, &hl);
	if (!err && *len + trailer > SRTPX_MAX_PACKET)
		err = EMSGSIZE;
	if (!err && *len + trailer > cap)
		err = ENOBUFS;
	if (err) {
		s->st.tx_fail++;
		return err;
	}
	n = (int)*len;
	st = rtcp ? srtp_protect_rtcp(s->tx, buf, &n)
	          : srtp_protect(s->tx, buf, &n);
	err = map_status(st);
	if (!err && (n < (int)*len || (size_t)n > *len + trailer))
		err = EPROTO; /* it wrote more than it may have: never seen */
	if (err) {
		s->st.tx_fail++;
		return err;
	}
	*len = (size_t)n;
	s->st.tx++;
	return 0;
}

int srtpx_protect_rtp(struct srtpx *s, uint8_t *buf, size_t *len, size_t cap)
{
	return protect(s, buf, len, cap, false);
}

int srtpx_protect_rtcp(struct srtpx *s, uint8_t *buf, size_t *len, size_t cap)
{
	return protect(s, buf, len, cap, true);
}

static void count_refusal(struct srtpx *s, int err)
{
	switch (err) {
	case EBADMSG:
		s->st.auth_fail++;
		break;
	case EALREADY:
		s->st.replay++;
		break;
	case EMSGSIZE:
		s->st.bad_len++;
		break;
	default:
		s->st.other++;
		break;
	}
}

/* Whether libsrtp2 already holds a stream for ssrc (stored as read, in
 * network order). */
static bool ssrc_known(const struct srtpx *s, uint32_t ssrc)
{
	for (unsigned i = 0; i < s->nssrc; i++) {
		if (s->ssrc[i] == ssrc)
			return true;
	}
	return false;
}

static int unprotect(struct srtpx *s, uint8_t *buf, size_t *len, bool rtcp)
{
	srtp_err_status_t st;
	size_t hl, min;
	uint32_t ssrc;
	bool known;
	int n, err;

	if (!s || !s->rx || !buf || !len)
		return EINVAL;
	if (rtcp) {
		min = RTCP_HDR + SRTCP_TRAILER + s->rtcp_tag;
		err = *len < min ? EMSGSIZE : 0;
	} else {
		err = rtp_hdr_len(buf, *len, &hl);
		if (!err && hl + s->rtp_tag > *len)
			err = EMSGSIZE;
	}
	if (!err && *len > SRTPX_MAX_PACKET)
		err = EMSGSIZE;
	if (err)
		goto out;

	memcpy(&ssrc, buf + (rtcp ? 4 : 8), sizeof(ssrc));
	known = ssrc_known(s, ssrc);
	if (!known && s->nssrc >= SRTPX_MAX_SSRC) {
		err = ENOSPC;
		goto out;
	}

	n = (int)*len;
	st = rtcp ? srtp_unprotect_rtcp(s->rx, buf, &n)
	          : srtp_unprotect(s->rx, buf, &n);
	err = map_status(st);
	if (!err && (n < 0 || (size_t)n > *len))
		err = EPROTO;
	if (err)
		goto out;
	/* Authenticated: libsrtp2 now keeps a stream for this SSRC. */
	if (!known)
		s->ssrc[s->nssrc++] = ssrc;
	*len = (size_t)n;
	s->st.rx++;
	return 0;
out:
	count_refusal(s, err);
	return err;
}

int srtpx_unprotect_rtp(struct srtpx *s, uint8_t *buf, size_t *len)
{
	return unprotect(s, buf, len, false);
}

int srtpx_unprotect_rtcp(struct srtpx *s, uint8_t *buf, size_t *len)
{
	return unprotect(s, buf, len, true);
}
