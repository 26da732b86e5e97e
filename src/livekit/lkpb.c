#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <re.h>

#include "core/utf8.h"
#include "livekit/lkpb.h"

/*
 * protobuf-c allocates a struct for every element of a repeated message
 * and every unknown field, and a record of every field it scans, so a
 * frame of empty elements (2 bytes each) costs 20-45 times its size in
 * memory. A genuine frame costs little more than its size (an SDP 1.2
 * times) and a few hundred bytes; one that would take more than this
 * budget is refused.
 */
#define MEM_PER_BYTE 8
#define MEM_BASE     (64 * 1024)

struct budget {
	size_t left;
	bool over;
};

static void *budget_alloc(void *data, size_t size)
{
	struct budget *b = data;
	void *p = size <= b->left ? malloc(size) : NULL;

	if (!p) {
		b->over = true;
		return NULL;
	}
	b->left -= size;
	return p;
}

static void budget_free(void *data, void *p)
{
	(void)data;
	free(p);
}

static const char *check(const ProtobufCMessage *m);

static const char *check_value(const ProtobufCFieldDescriptor *f, const void *v)
{
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		const char *s = *(char *const *)v;

		return !s || utf8_valid(s, strlen(s))
		           ? NULL
		           : "a string in the frame is not UTF-8";
	}
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)v;

		return sub ? check(sub) : NULL;
	}
	return NULL;
}

/*
 * What protobuf-c lets through and LiveKit's decoder does not, at every
 * depth (the schema has no cycles): strings that are not UTF-8, and field
 * number 0, which protobuf-c takes when the tag is written in more than
 * one byte, keeps as an unknown field and would write out again.
 */
static const char *check(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m, *bad;

	for (unsigned i = 0; i < m->n_unknown_fields; i++) {
		if (!m->unknown_fields[i].tag)
			return "a field numbered 0 in the frame";
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *v = base + f->offset;

		if (f->type != PROTOBUF_C_TYPE_STRING &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n =
			    *(const size_t *)(base + f->quantifier_offset);
			void *const *arr = *(void *const *const *)v;

			for (size_t k = 0; k < n; k++) {
				bad = check_value(f, &arr[k]);
				if (bad)
					return bad;
			}
			continue;
		}
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
			continue;
		bad = check_value(f, v);
		if (bad)
			return bad;
	}
	return NULL;
}

int lkpb_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                size_t len, ProtobufCMessage **msgp, const char **why)
{
	struct budget b = {.left = MEM_BASE + MEM_PER_BYTE * len};
	ProtobufCAllocator a = {budget_alloc, budget_free, &b};
	ProtobufCMessage *m;
	const char *reason = NULL;
	int err = 0;

	if (!desc || !msgp || (!p && len))
		return EINVAL;
	*msgp = NULL;
	if (len > LKPB_MAX_FRAME) {
		err = EMSGSIZE;
		reason = "frame over 1 MiB";
		goto out;
	}
	m = protobuf_c_message_unpack(desc, &a, len, p);
	if (!m) {
		err = b.over ? ENOMEM : EBADMSG;
		reason = b.over ? "frame would take too much memory to decode"
		                : "not a protobuf message of its type";
		goto out;
	}
	reason = check(m);
	if (reason) {
		protobuf_c_message_free_unpacked(m, &a);
		err = EBADMSG;
		goto out;
	}
	*msgp = m;
out:
	if (why && reason)
		*why = reason;
	return err;
}

int lkpb_signal_request_unpack(Livekit__SignalRequest **reqp, const uint8_t *p,
                               size_t len, const char **why)
{
	ProtobufCMessage *m = NULL;
	int err;

	if (!reqp)
		return EINVAL;
	err =
	    lkpb_unpack(&livekit__signal_request__descriptor, p, len, &m, why);
	*reqp = (Livekit__SignalRequest *)m;
	return err;
}

int lkpb_worker_message_unpack(Livekit__WorkerMessage **msgp, const uint8_t *p,
                               size_t len, const char **why)
{
	ProtobufCMessage *m = NULL;
	int err;

	if (!msgp)
		return EINVAL;
	err =
	    lkpb_unpack(&livekit__worker_message__descriptor, p, len, &m, why);
	*msgp = (Livekit__WorkerMessage *)m;
	return err;
}

void lkpb_free(void *msg)
{
	/* budget_alloc took it with malloc, so the default free fits */
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}

int lkpb_pack(struct mbuf *mb, const ProtobufCMessage *msg)
{
	size_t n;
	int err;

	if (!mb || !msg)
		return EINVAL;
	n = protobuf_c_message_get_packed_size(msg);
	if (n > SIZE_MAX - mb->pos)
		return ENOMEM;
	if (mb->pos + n > mb->size) {
		err = mbuf_resize(mb, mb->pos + n);
		if (err)
			return err;
	}
	protobuf_c_message_pack(msg, mb->buf + mb->pos);
	mb->pos += n;
	if (mb->end < mb->pos)
		mb->end = mb->pos;
	return 0;
}

int lkpb_pack_buf(uint8_t *buf, size_t size, const ProtobufCMessage *msg,
                  size_t *lenp)
{
	size_t n;

	if (!msg || !lenp || (!buf && size))
		return EINVAL;
	n = protobuf_c_message_get_packed_size(msg);
	*lenp = n;
	if (n > size)
		return EOVERFLOW;
	protobuf_c_message_pack(msg, buf);
	return 0;
}

const char *lkpb_member(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d;
	const ProtobufCFieldDescriptor *f;
	uint32_t c;

	if (!msg)
		return NULL;
	d = msg->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		if (!(d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		/* a oneof's case is the number of the member set */
		c = *(const uint32_t *)((const char *)msg +
		                        d->fields[i].quantifier_offset);
		f = c ? protobuf_c_message_descriptor_get_field(d, c) : NULL;
		return f ? f->name : NULL;
	}
	return NULL;
}
