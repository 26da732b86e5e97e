/*
 * DESIGN. A room's media keeps two views of its tracks: the signalling
 * thread's (sid, what subscribers receive), for the SDP it writes, and the
 * media thread's (sources, subscribers, the Opus decoder), which is the
 * only one the packets touch. Every change is a job on the room's thread,
 * so the two agree once the thread has run it.
 *
 * A forwarded packet keeps the source's payload and marker; its SSRC is
 * the track's, and its sequence number and timestamp are the source's
 * shifted so that they run on across a change of source SSRC (a caller's
 * re-INVITE), as a subscriber's jitter buffer expects.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "core/be.h"
#include "core/g711.h"
#include "media/media_int.h"
#include "media/media_pc.h"
#include "media/opus_rx.h"
#include "media/rtp.h"
#include "media/webrtc.h"

#define MAX_RTP 1500

struct mroom_track {
	bool used;
	char sid[16];
	uint32_t ssrc; /* what subscribers see */
	uint8_t pt;
	bool opus;
	struct media_session *phone; /* the call it comes from */
	struct media_pc *publisher;  /* or the connection */
	uint32_t in_ssrc;            /* 0: not known yet */
	/* Sequence and time shift from the source's to the track's. */
	bool have_in;
	uint32_t cur_in_ssrc;
	uint16_t seq_shift, last_seq;
	uint32_t ts_shift, last_ts;
	struct media_pc *subs[MEDIA_TRACK_SUBS];
	size_t nsubs;
	struct opus_rx *dec; /* Opus tracks: for the phone calls */
	int16_t pcm[FRAME_SAMPLES];
	bool have_pcm;
};

struct sig_track {
	bool used;
	char sid[16];
	uint32_t ssrc;
	uint8_t pt;
};

struct media_room {
	/* Set at creation. */
	struct media_engine *me;
	struct media_thread *mt;
	/* Signalling thread. */
	struct sig_track sig[MEDIA_ROOM_TRACKS];
	bool stopped;
	/* Media thread. */
	struct le le;
	struct mroom_track tracks[MEDIA_ROOM_TRACKS];
};

enum room_op {
	OP_ATTACH,
	OP_DETACH,
	OP_PHONE,
	OP_OPUS,
	OP_REMOVE,
	OP_SUB,
	OP_UNSUB,
};

struct room_job {
	struct media_room *mr;
	enum room_op op;
	char sid[16];
	uint32_t ssrc, in_ssrc;
	uint8_t pt;
	struct media_session *ms;
	struct media_pc *pc;
	struct opus_rx *dec;
};

/* ---- media thread ------------------------------------------------------- */

static struct mroom_track *track_by_sid(struct media_room *mr, const char *sid)
{
	for (size_t i = 0; i < MEDIA_ROOM_TRACKS; i++) {
		if (mr->tracks[i].used && !strcmp(mr->tracks[i].sid, sid))
			return &mr->tracks[i];
	}
	return NULL;
}

static void track_clear(struct mroom_track *t)
{
	if (t->phone) {
		t->phone->track = NULL;
		t->phone->room = NULL;
	}
	mem_deref(t->dec);
	memset(t, 0, sizeof(*t));
}

/* To every subscriber of t: a fresh 12-byte header, the payload as it
 * came, protected per connection. */
static void fan_out(struct mroom_track *t, const struct rtp_packet *h,
                    const uint8_t *payload, size_t len)
{
	uint8_t pkt[MAX_RTP];
	uint16_t seq;
	uint32_t ts;

	if (!t->nsubs || len > MAX_RTP - 12 - MPC_SRTP_TRAILER)
		return;
	if (!t->have_in || h->ssrc != t->cur_in_ssrc) {
		/* Runs on from where the last source stopped. */
		t->seq_shift = (uint16_t)(t->last_seq + 1 - h->seq);
		t->ts_shift =
		    t->last_ts + (t->opus ? 960u : FRAME_SAMPLES) - h->ts;
		t->cur_in_ssrc = h->ssrc;
		t->have_in = true;
	}
	seq = (uint16_t)(h->seq + t->seq_shift);
	ts = h->ts + t->ts_shift;
	if ((uint16_t)(seq - t->last_seq) < 0x8000) {
		t->last_seq = seq;
		t->last_ts = ts;
	}
	for (size_t i = 0; i < t->nsubs; i++) {
		pkt[0] = 0x80;
		pkt[1] = (uint8_t)((h->marker ? 0x80 : 0) | t->pt);
		put_be16(pkt + 2, seq);
		put_be32(pkt + 4, ts);
		put_be32(pkt + 8, t->ssrc);
		memcpy(pkt + 12, payload, len);
		mpc_send_rtp(t->subs[i], pkt, 12 + len, sizeof(pkt));
	}
}

void mroom_phone_rtp(struct media_session *ms, const struct rtp_packet *h,
                     const uint8_t *payload, size_t len)
{
	struct mroom_track *t = ms->track;
	uint8_t conv[MAX_RTP];
	int16_t pcm[FRAME_SAMPLES];

	/* The track's law was fixed when it joined the room; a call that
	 * joined before its answer (a dial tone) or changed codec since
	 * sends the other one: converted, a frame at a time on the stack. */
	if (h->pt == t->pt || len > sizeof(conv) ||
	    (h->pt != MEDIA_PT_PCMU && h->pt != MEDIA_PT_PCMA)) {
		fan_out(t, h, payload, len);
		return;
	}
	for (size_t off = 0; off < len; off += FRAME_SAMPLES) {
		size_t n =
		    len - off < FRAME_SAMPLES ? len - off : FRAME_SAMPLES;

		if (h->pt == MEDIA_PT_PCMA) {
			g711_alaw_decode(pcm, payload + off, n);
			g711_ulaw_encode(conv + off, pcm, n);
		} else {
			g711_ulaw_decode(pcm, payload + off, n);
			g711_alaw_encode(conv + off, pcm, n);
		}
	}
	fan_out(t, h, conv, len);
}

void mroom_phone_tone(struct media_session *ms, const int16_t *pcm)
{
	struct mroom_track *t = ms->track;
	struct rtp_packet h = {0};
	uint8_t payload[FRAME_SAMPLES];

	if (!t || !t->nsubs)
		return;
	/* Its own SSRC: fan_out rebases the clocks when it starts and
	 * again when the caller's audio takes over. */
	h.ssrc = ms->ssrc ^ 0x52424b54u;
	h.seq = ms->rb_seq++;
	h.ts = ms->rb_ts;
	ms->rb_ts += FRAME_SAMPLES;
	if (t->pt == MEDIA_PT_PCMA)
		g711_alaw_encode(payload, pcm, FRAME_SAMPLES);
	else
		g711_ulaw_encode(payload, pcm, FRAME_SAMPLES);
	fan_out(t, &h, payload, FRAME_SAMPLES);
}

void mroom_opus_rtp(struct media_room *mr, struct media_pc *pc,
                    const struct rtp_packet *h, const uint8_t *payload,
                    size_t len, uint64_t arrival_us)
{
	struct mroom_track *t = NULL, *unbound = NULL;

	for (size_t i = 0; i < MEDIA_ROOM_TRACKS; i++) {
		struct mroom_track *k = &mr->tracks[i];

		if (!k->used || k->publisher != pc)
			continue;
		if (k->in_ssrc == h->ssrc) {
			t = k;
			break;
		}
		if (!k->in_ssrc && !unbound)
			unbound = k;
	}
	if (!t && unbound) {
		/* The first unknown SSRC on the connection is its track's. */
		t = unbound;
		t->in_ssrc = h->ssrc;
	}
	if (!t) {
		mpc_count_unknown_ssrc(pc);
		return;
	}
	fan_out(t, h, payload, len);
	if (t->dec)
		opus_rx_put(t->dec, h->seq, h->ts, payload, len, arrival_us);
}

void mroom_tick(struct media_thread *mt, uint64_t t)
{
	(void)t;
	for (struct le *le = list_head(&mt->rooms); le; le = le->next) {
		struct media_room *mr = le->data;

		for (size_t i = 0; i < MEDIA_ROOM_TRACKS; i++) {
			struct mroom_track *k = &mr->tracks[i];

			if (k->used && k->dec)
				k->have_pcm =
				    opus_rx_get(k->dec, k->pcm) != OPUS_RX_NONE;
		}
	}
}

bool mroom_mix(struct media_session *ms, int16_t *pcm, size_t n)
{
	struct media_room *mr = ms->room;
	bool any = false;

	if (!mr || n > FRAME_SAMPLES)
		return false;
	for (size_t i = 0; i < MEDIA_ROOM_TRACKS; i++) {
		const struct mroom_track *k = &mr->tracks[i];

		if (!k->used || !k->have_pcm)
			continue;
		for (size_t s = 0; s < n; s++) {
			int32_t v = (int32_t)pcm[s] + k->pcm[s];

			pcm[s] = (int16_t)(v > 32767    ? 32767
			                   : v < -32768 ? -32768
			                                : v);
		}
		any = true;
	}
	return any;
}

void mroom_session_gone(struct media_session *ms)
{
	if (ms->track)
		ms->track->phone = NULL;
	ms->track = NULL;
	ms->room = NULL;
}

void mroom_pc_gone(struct media_thread *mt, struct media_pc *pc)
{
	for (struct le *le = list_head(&mt->rooms); le; le = le->next) {
		struct media_room *mr = le->data;

		for (size_t i = 0; i < MEDIA_ROOM_TRACKS; i++) {
			struct mroom_track *t = &mr->tracks[i];

			if (!t->used)
				continue;
			if (t->publisher == pc)
				t->publisher = NULL;
			for (size_t k = 0; k < t->nsubs; k++) {
				if (t->subs[k] != pc)
					continue;
				t->subs[k] = t->subs[--t->nsubs];
				k--;
			}
		}
	}
}

static void sub_set(struct mroom_track *t, struct media_pc *pc, bool on)
{
	for (size_t k = 0; k < t->nsubs; k++) {
		if (t->subs[k] != pc)
			continue;
		if (!on)
			t->subs[k] = t->subs[--t->nsubs];
		return;
	}
	if (on && t->nsubs < MEDIA_TRACK_SUBS)
		t->subs[t->nsubs++] = pc;
}

static void release_h(void *arg)
{
	mem_deref(arg);
}

static void room_job_h(void *arg)
{
	struct room_job *j = arg;
	struct media_room *mr = j->mr;
	struct mroom_track *t = NULL;

	switch (j->op) {
	case OP_ATTACH:
		list_append(&mr->mt->rooms, &mr->le, mr);
		break;
	case OP_DETACH:
		for (size_t i = 0; i < MEDIA_ROOM_TRACKS; i++) {
			if (mr->tracks[i].used)
				track_clear(&mr->tracks[i]);
		}
		list_unlink(&mr->le);
		atomic_fetch_sub(&mr->mt->load, 1);
		/* The thread's reference, let go where it was taken. */
		if (media_job_main(mr->me, release_h, mr))
			mem_deref(mr); /* no memory: leak nothing else */
		break;
	case OP_PHONE:
	case OP_OPUS:
		for (size_t i = 0; i < MEDIA_ROOM_TRACKS && !t; i++) {
			if (!mr->tracks[i].used)
				t = &mr->tracks[i];
		}
		if (!t) {
			mem_deref(j->dec);
			break;
		}
		t->used = true;
		snprintf(t->sid, sizeof(t->sid), "%s", j->sid);
		t->ssrc = j->ssrc;
		t->pt = j->pt;
		t->last_seq = (uint16_t)rand_u16();
		t->last_ts = rand_u32();
		if (j->op == OP_PHONE) {
			/* A call that has left its thread meanwhile is not
			 * taken in. */
			if (j->ms->mt != mr->mt) {
				t->used = false;
				break;
			}
			if (j->ms->track)
				mroom_session_gone(j->ms);
			t->phone = j->ms;
			j->ms->track = t;
			j->ms->room = mr;
		} else {
			t->opus = true;
			t->publisher = j->pc;
			t->in_ssrc = j->in_ssrc;
			t->dec = j->dec;
		}
		break;
	case OP_REMOVE:
		t = track_by_sid(mr, j->sid);
		if (t)
			track_clear(t);
		break;
	case OP_SUB:
	case OP_UNSUB:
		t = track_by_sid(mr, j->sid);
		if (t)
			sub_set(t, j->pc, j->op == OP_SUB);
		break;
	}
	free(j);
}

/* ---- signalling thread -------------------------------------------------- */

static int post(struct media_room *mr, enum room_op op, const char *sid,
                struct room_job **jp)
{
	struct room_job *j = calloc(1, sizeof(*j));

	if (!j)
		return ENOMEM;
	j->mr = mr;
	j->op = op;
	if (sid)
		snprintf(j->sid, sizeof(j->sid), "%s", sid);
	if (jp) {
		*jp = j;
		return 0;
	}
	if (media_job_post(mr->mt, room_job_h, j)) {
		free(j);
		return ENOMEM;
	}
	return 0;
}

static int send_job(struct media_room *mr, struct room_job *j)
{
	if (media_job_post(mr->mt, room_job_h, j)) {
		free(j);
		return ENOMEM;
	}
	return 0;
}

static struct sig_track *sig_find(struct media_room *mr, const char *sid)
{
	for (size_t i = 0; i < MEDIA_ROOM_TRACKS; i++) {
		if (mr->sig[i].used && !strcmp(mr->sig[i].sid, sid))
			return &mr->sig[i];
	}
	return NULL;
}

static struct sig_track *sig_new(struct media_room *mr, const char *sid,
                                 uint8_t pt)
{
	if (!sid || strlen(sid) >= sizeof(mr->sig[0].sid) || sig_find(mr, sid))
		return NULL;
	for (size_t i = 0; i < MEDIA_ROOM_TRACKS; i++) {
		struct sig_track *s = &mr->sig[i];

		if (s->used)
			continue;
		s->used = true;
		snprintf(s->sid, sizeof(s->sid), "%s", sid);
		do
			s->ssrc = rand_u32();
		while (!s->ssrc);
		s->pt = pt;
		return s;
	}
	return NULL;
}

static void room_destructor(void *arg)
{
	struct media_room *mr = arg;

	mem_deref(mr->me);
}

int media_room_alloc(struct media_room **mrp, struct media_engine *me,
                     struct media_session *near)
{
	struct media_room *mr;
	int err;

	if (!mrp || !me)
		return EINVAL;
	mr = mem_zalloc(sizeof(*mr), room_destructor);
	if (!mr)
		return ENOMEM;
	/* Held: the room may be let go after the engine closed. */
	mr->me = mem_ref(me);
	if (near && near->started) {
		mr->mt = near->mt;
		atomic_fetch_add(&mr->mt->load, 1);
	} else {
		mr->mt = media_thread_pick(me);
	}
	/* The thread's own reference, dropped once it let the room go. */
	mem_ref(mr);
	err = post(mr, OP_ATTACH, NULL, NULL);
	if (err) {
		atomic_fetch_sub(&mr->mt->load, 1);
		mem_deref(mr);
		mem_deref(mr);
		return err;
	}
	*mrp = mr;
	return 0;
}

void media_room_stop(struct media_room *mr)
{
	if (!mr || mr->stopped)
		return;
	mr->stopped = true;
	/* Without memory for the job the room stays on its thread, idle,
	 * until the engine closes. */
	(void)post(mr, OP_DETACH, NULL, NULL);
}

void media_room_home(struct media_room *mr, struct media_session *ms)
{
	if (mr && ms && !ms->started)
		ms->home = mr->mt;
}

int media_room_add_phone(struct media_room *mr, struct media_session *ms,
                         const char *sid, uint32_t *ssrc, uint8_t *pt)
{
	struct room_job *j;
	struct sig_track *s;
	int err;

	if (!mr || !ms || mr->stopped)
		return EINVAL;
	if (!ms->started || ms->mt != mr->mt)
		return EXDEV;
	s = sig_new(mr, sid, ms->prm.send_pt);
	if (!s)
		return sid && sig_find(mr, sid) ? EEXIST : ENOSPC;
	err = post(mr, OP_PHONE, sid, &j);
	if (err) {
		s->used = false;
		return err;
	}
	j->ms = ms;
	j->ssrc = s->ssrc;
	j->pt = s->pt;
	err = send_job(mr, j);
	if (err) {
		s->used = false;
		return err;
	}
	if (ssrc)
		*ssrc = s->ssrc;
	if (pt)
		*pt = s->pt;
	return 0;
}

int media_room_add_opus(struct media_room *mr, struct media_pc *pc,
                        const char *sid, uint32_t in_ssrc, uint32_t *ssrc)
{
	struct room_job *j;
	struct sig_track *s;
	struct opus_rx *dec = NULL;
	int err;

	if (!mr || !pc || mr->stopped)
		return EINVAL;
	s = sig_new(mr, sid, MEDIA_PT_OPUS);
	if (!s)
		return sid && sig_find(mr, sid) ? EEXIST : ENOSPC;
	err = opus_rx_alloc(
	    &dec,
	    &(struct opus_rx_prm){.jitter_min_ms = mr->me->prm.jitter_min_ms,
	                          .jitter_max_ms = mr->me->prm.jitter_max_ms});
	if (!err)
		err = post(mr, OP_OPUS, sid, &j);
	if (err) {
		mem_deref(dec);
		s->used = false;
		return err;
	}
	j->pc = pc;
	j->ssrc = s->ssrc;
	j->in_ssrc = in_ssrc;
	j->pt = MEDIA_PT_OPUS;
	j->dec = dec;
	err = send_job(mr, j);
	if (err) {
		mem_deref(dec);
		s->used = false;
		return err;
	}
	if (ssrc)
		*ssrc = s->ssrc;
	return 0;
}

int media_room_remove_track(struct media_room *mr, const char *sid)
{
	struct sig_track *s = mr && sid ? sig_find(mr, sid) : NULL;

	if (!s)
		return ENOENT;
	s->used = false;
	return post(mr, OP_REMOVE, sid, NULL);
}

int media_room_subscribe(struct media_room *mr, struct media_pc *pc,
                         const char *sid, bool on)
{
	struct room_job *j;
	int err;

	if (!mr || !pc || !sid || mr->stopped)
		return EINVAL;
	if (!sig_find(mr, sid))
		return ENOENT;
	err = post(mr, on ? OP_SUB : OP_UNSUB, sid, &j);
	if (err)
		return err;
	j->pc = pc;
	return send_job(mr, j);
}

struct media_thread *media_room_thread(const struct media_room *mr)
{
	return mr->mt;
}

bool media_room_track(const struct media_room *mr, const char *sid,
                      uint32_t *ssrc, uint8_t *pt)
{
	for (size_t i = 0; mr && sid && i < MEDIA_ROOM_TRACKS; i++) {
		const struct sig_track *s = &mr->sig[i];

		if (!s->used || strcmp(s->sid, sid))
			continue;
		if (ssrc)
			*ssrc = s->ssrc;
		if (pt)
			*pt = s->pt;
		return true;
	}
	return false;
}
