/* fanin: FANIN per recipient (see fanin.h).
 *
 * Design: a chained hash table of recipient entries, each with its
 * (patient, newest notification) pairs; a recipient with one patient, the
 * common case, costs one entry holding its one pair. The distinct count in
 * the window is recomputed on each add from the entry's pairs (bounded by
 * max_patients). Expiry walks the buckets with a cursor and a budget; each
 * bucket keeps a lower bound on the sent_at of the pairs in its chain, so
 * the walk passes over chains with nothing to expire without touching their
 * entries. The table doubles when its load passes 1. Alerts are built into
 * reused storage owned by the module.
 *
 * Cache lines: every add and every expiry touches entries at random over
 * tens of MB, so an entry is laid out for the lines it costs. Entries come
 * from a slab of their own in multiples of 64 bytes, so each starts a cache
 * line (the slab cuts 64-byte-aligned chunks), and the first line holds
 * what expiry and the chain walk read: link, recipient, newest, the pair
 * count and the one pair's patient and sent_at. The second holds the pair's
 * offset and ID pointer and the IDs themselves (`tail`): the notification
 * and specimen IDs in their stored form (specimen.h; a UUID in 17 bytes), so
 * a typical entry is two lines (128 bytes). An expiring one-patient entry
 * is read and freed through its first line only. What only some recipients
 * need (an array for more than one patient, the incident's episode) hangs
 * off `ext`, allocated when first needed. IDs that do not fit the tail, or
 * a second pair's, get a block from a second slab. Both slabs and the bucket
 * array come from hugemem.h, so the table lies in huge pages where the
 * kernel allows. IDs are spelt out only for an alert. */
#include "fanin.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "hugemem.h"
#include "rules.h"
#include "slab.h"
#include "specimen.h"
#include "xmalloc.h"

#define FANIN_LOOKAHEAD 16  /* buckets: about two expiry calls ahead */
#define LINE		64  /* entry sizes are multiples of this */
#define RENT_MAX	256 /* a larger entry keeps its IDs apart */

typedef struct pair {
	uint64_t patient;
	int64_t sent_at;
	int64_t offset;
	unsigned char *ids; /* stored notification ID, then specimen ID */
	int32_t partition;
	uint32_t sid_off; /* the specimen ID at ids + sid_off */
} pair;

/* What a recipient with more than one patient, or an incident, needs. */
typedef struct extra {
	pair *p; /* the pairs (cap of them); the entry's `one` is unused */
	uint32_t cap;
	uint32_t alerted_patients; /* 0 = no incident yet */
	uint32_t revision;
	int64_t episode_start;
	char *episode_sid;
} extra;

typedef struct rent {
	/* first cache line: what expiry and lookups read */
	struct rent *next;
	uint64_t recipient;
	int64_t newest;
	extra *ext;	      /* NULL: the pairs are `one` (n <= 1) */
	uint32_t n;	      /* pairs */
	uint16_t size;	      /* bytes of the entry, a multiple of LINE */
	uint8_t tail_used;    /* a pair's IDs are in tail */
	pair one;	      /* patient and sent_at end the first line */
	unsigned char tail[]; /* IDs of one pair: size - offsetof(rent, tail) */
} rent;

_Static_assert(offsetof(rent, one) + offsetof(pair, offset) <= LINE,
	       "an entry's first line ends after its pair's sent_at");

/* A chain, and a lower bound on the sent_at of every pair in it (the
 * sweep skips a chain with nothing old enough without touching it). */
typedef struct bucket {
	rent *head;
	int64_t oldest;
} bucket;

struct lw_fanin {
	lw_fanin_config cfg;
	bucket *b;
	size_t nb;
	size_t cursor;
	lw_fanin_stats st;
	lw_slab *rents; /* entries, in multiples of LINE */
	lw_slab *ids;	/* ID blocks that are not in an entry's tail */
	lw_evidence *ev;
	char (*evid)[LW_ID_BUF]; /* evidence IDs spelt out */
	uint32_t evcap;
	const pair **order;
	size_t ocap;
};

void lw_fanin_config_defaults(lw_fanin_config *c)
{
	c->window_ms = 24LL * 3600 * 1000;
	c->threshold = 5;
	c->max_patients = 1024;
	c->max_evidence = 100;
}

static bucket *new_buckets(size_t nb)
{
	bucket *b = lw_huge_alloc(nb * sizeof *b);
	for (size_t i = 0; i < nb; i++) {
		b[i].head = NULL;
		b[i].oldest = INT64_MAX;
	}
	return b;
}

lw_fanin *lw_fanin_new(const lw_fanin_config *cfg)
{
	lw_fanin *f = lw_xcalloc(1, sizeof *f);
	f->cfg = *cfg;
	if (!f->cfg.max_patients)
		f->cfg.max_patients = 1024;
	if (!f->cfg.max_evidence)
		f->cfg.max_evidence = 1;
	f->nb = 1024;
	f->b = new_buckets(f->nb);
	f->rents = lw_slab_new();
	f->ids = lw_slab_new();
	f->st.bytes = lw_huge_size(f->nb * sizeof *f->b);
	return f;
}

static inline pair *pairs(const rent *r)
{
	return r->ext ? r->ext->p : (pair *)&r->one;
}

static size_t tail_cap(const rent *r)
{
	return r->size - offsetof(rent, tail);
}

static size_t ids_len(const pair *p)
{
	return p->sid_off + lw_stored_len(p->ids + p->sid_off);
}

static void pair_free(lw_fanin *f, rent *r, pair *p)
{
	size_t len;
	f->st.pairs--;
	/* Without ext the one pair is p, and it holds the tail if the tail
	 * is used: known from the first line, without reading p->ids. */
	if (r->ext ? p->ids == r->tail : r->tail_used) {
		r->tail_used = 0;
		return;
	}
	len = ids_len(p);
	f->st.bytes -= lw_slab_size(len);
	lw_slab_free(f->ids, p->ids, len);
}

static size_t extra_bytes(const extra *x)
{
	return sizeof *x + (size_t)x->cap * sizeof(pair) +
	       (x->episode_sid ? strlen(x->episode_sid) + 1 : 0);
}

static void rent_free(lw_fanin *f, rent *r)
{
	pair *ps = pairs(r);
	for (uint32_t i = 0; i < r->n; i++)
		pair_free(f, r, &ps[i]);
	if (r->ext) {
		f->st.bytes -= extra_bytes(r->ext);
		free(r->ext->p);
		free(r->ext->episode_sid);
		free(r->ext);
	}
	f->st.bytes -= r->size;
	lw_slab_free(f->rents, r, r->size);
	f->st.recipients--;
}

void lw_fanin_destroy(lw_fanin *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nb; i++)
		while (f->b[i].head) {
			rent *r = f->b[i].head;
			f->b[i].head = r->next;
			rent_free(f, r);
		}
	lw_huge_free(f->b);
	lw_slab_destroy(f->rents);
	lw_slab_destroy(f->ids);
	free(f->ev);
	free(f->evid);
	free(f->order);
	free(f);
}

static void grow(lw_fanin *f)
{
	size_t nb = f->nb * 2;
	bucket *b = new_buckets(nb);
	for (size_t i = 0; i < f->nb; i++)
		while (f->b[i].head) {
			rent *r = f->b[i].head;
			const pair *ps = pairs(r);
			bucket *to = &b[r->recipient & (nb - 1)];
			f->b[i].head = r->next;
			r->next = to->head;
			to->head = r;
			for (uint32_t k = 0; k < r->n; k++)
				if (ps[k].sent_at < to->oldest)
					to->oldest = ps[k].sent_at;
		}
	f->st.bytes += lw_huge_size(nb * sizeof *b);
	f->st.bytes -= lw_huge_size(f->nb * sizeof *b);
	lw_huge_free(f->b);
	f->b = b;
	f->nb = nb;
	f->cursor = 0;
}

/* The recipient's entry; a new one has room for `ids` bytes of IDs if
 * that keeps it small, and the rest of its last line in any case. */
static rent *get(lw_fanin *f, uint64_t recipient, size_t ids)
{
	rent **pp = &f->b[recipient & (f->nb - 1)].head, *r;
	size_t size;
	for (r = *pp; r; r = r->next)
		if (r->recipient == recipient)
			return r;
	if (f->st.recipients >= f->nb) {
		grow(f);
		pp = &f->b[recipient & (f->nb - 1)].head;
	}
	size = (offsetof(rent, tail) + ids + LINE - 1) & ~(size_t)(LINE - 1);
	if (size > RENT_MAX)
		size = (offsetof(rent, tail) + LINE - 1) & ~(size_t)(LINE - 1);
	r = lw_slab_alloc(f->rents, size);
	r->next = *pp;
	r->recipient = recipient;
	r->newest = INT64_MIN;
	r->ext = NULL;
	r->n = 0;
	r->size = (uint16_t)size;
	r->tail_used = 0;
	*pp = r;
	f->st.recipients++;
	f->st.bytes += size;
	return r;
}

/* Fills p from in; a and b are the lengths of in's two stored IDs. */
static void set_pair(lw_fanin *f, rent *r, pair *p, const lw_fanin_pair *in,
		     size_t a, size_t b)
{
	p->patient = in->patient;
	p->sent_at = in->sent_at;
	p->offset = in->offset;
	p->partition = in->partition;
	if (!r->tail_used && a + b <= tail_cap(r)) {
		p->ids = r->tail;
		r->tail_used = 1;
	} else {
		p->ids = lw_slab_alloc(f->ids, a + b);
		f->st.bytes += lw_slab_size(a + b);
	}
	memcpy(p->ids, in->notification_id, a);
	memcpy(p->ids + a, in->specimen_id, b);
	p->sid_off = (uint32_t)a;
	f->st.pairs++;
}

/* A new pair's place: `one` for the first, else the ext array (made, or
 * doubled, as needed). */
static pair *add_slot(lw_fanin *f, rent *r)
{
	extra *x = r->ext;
	if (!x && r->n == 0)
		return &r->one;
	if (!x) {
		x = lw_xcalloc(1, sizeof *x);
		x->cap = 2;
		x->p = lw_xmalloc(x->cap * sizeof *x->p);
		x->p[0] = r->one;
		r->ext = x;
		f->st.bytes += extra_bytes(x);
	} else if (r->n == x->cap) {
		x->p = lw_xrealloc(x->p, (size_t)x->cap * 2 * sizeof *x->p);
		f->st.bytes += (size_t)x->cap * sizeof *x->p;
		x->cap *= 2;
	}
	return &x->p[r->n];
}

static int in_window(const lw_fanin *f, const rent *r, const pair *p)
{
	return p->sent_at > r->newest - f->cfg.window_ms;
}

static int cmp_pair(const void *x, const void *y)
{
	const pair *a = *(const pair *const *)x, *b = *(const pair *const *)y;
	char ba[LW_ID_BUF], bb[LW_ID_BUF];
	if (a->sent_at != b->sent_at)
		return a->sent_at < b->sent_at ? -1 : 1;
	return strcmp(lw_stored_str(a->ids, ba), lw_stored_str(b->ids, bb));
}

/* The window's pairs in (sent_at, notification ID) order. */
static size_t window_pairs(lw_fanin *f, const rent *r)
{
	const pair *ps = pairs(r);
	size_t n = 0;
	if (r->n > f->ocap) {
		f->ocap = r->n + 16;
		f->order = lw_xrealloc(f->order, f->ocap * sizeof *f->order);
	}
	for (uint32_t i = 0; i < r->n; i++)
		if (in_window(f, r, &ps[i]))
			f->order[n++] = &ps[i];
	qsort(f->order, n, sizeof *f->order, cmp_pair);
	return n;
}

static void build(lw_fanin *f, const rent *r, size_t n, lw_alert *a)
{
	const extra *x = r->ext;
	lw_hasher h;
	uint32_t k = 0;
	memset(a, 0, sizeof *a);
	lw_hasher_init(&h, 0x6c6162776174ULL);
	lw_hasher_add_str(&h, "FANIN");
	lw_hasher_add_i64(&h, (int64_t)r->recipient);
	lw_hasher_add_i64(&h, x->episode_start);
	lw_hasher_hex128(&h, a->alert_id);
	a->key = lw_hex_low64(a->alert_id);
	a->revision = x->revision;
	a->rule = LW_RULE_FANIN;
	a->severity = LW_SEV_CRITICAL;
	a->specimen_id = x->episode_sid;
	a->recorded_version = LW_NO_VERSION;
	a->stated_version = LW_NO_VERSION;
	a->recipient_count = 1;
	a->event_time = r->newest;
	a->fired_at = r->newest;
	if (f->evcap < f->cfg.max_evidence) {
		f->evcap = f->cfg.max_evidence;
		f->ev = lw_xrealloc(f->ev, f->evcap * sizeof *f->ev);
		f->evid = lw_xrealloc(f->evid, f->evcap * sizeof *f->evid);
	}
	for (size_t i = 0; i < n; i++) {
		if (k >= f->cfg.max_evidence) {
			a->evidence_omitted++;
			continue;
		}
		f->ev[k].topic = LW_TOPIC_NOTIFICATIONS;
		f->ev[k].partition = f->order[i]->partition;
		f->ev[k].offset = f->order[i]->offset;
		f->ev[k].event_id = lw_stored_str(f->order[i]->ids, f->evid[k]);
		k++;
	}
	a->evidence = f->ev;
	a->nevidence = k;
	snprintf(a->summary, sizeof a->summary,
		 "one recipient (key hash %016llx) received the records of "
		 "%zu distinct patients within %lld min, over the threshold "
		 "of %u",
		 (unsigned long long)r->recipient, n,
		 (long long)(f->cfg.window_ms / 60000), f->cfg.threshold);
}

void lw_fanin_prefetch(const lw_fanin *f, uint64_t recipient, int stage)
{
	const bucket *b = &f->b[recipient & (f->nb - 1)];
	if (stage == 0) {
		__builtin_prefetch(b);
	} else if (b->head) {
		/* an add reads the first line and writes the second */
		__builtin_prefetch(b->head);
		__builtin_prefetch((const char *)b->head + LINE);
	}
}

int lw_fanin_add(lw_fanin *f, const lw_fanin_pair *in, lw_alert *a)
{
	rent *r;
	pair *p = NULL, *ps;
	extra *x;
	size_t n, nid_len, sid_len;
	if (!f->cfg.threshold)
		return 0;
	nid_len = lw_stored_len(in->notification_id);
	sid_len = lw_stored_len(in->specimen_id);
	r = get(f, in->recipient, nid_len + sid_len);
	ps = pairs(r);
	for (uint32_t i = 0; i < r->n && !p; i++)
		if (ps[i].patient == in->patient)
			p = &ps[i];
	if (p) {
		if (in->sent_at <= p->sent_at)
			return 0; /* an older one for a patient it has */
		pair_free(f, r, p);
		set_pair(f, r, p, in, nid_len, sid_len);
	} else {
		if (r->n >= f->cfg.max_patients)
			return 0;
		set_pair(f, r, add_slot(f, r), in, nid_len, sid_len);
		r->n++;
	}
	if (in->sent_at > r->newest)
		r->newest = in->sent_at;
	{
		bucket *b = &f->b[in->recipient & (f->nb - 1)];
		if (in->sent_at < b->oldest)
			b->oldest = in->sent_at;
	}
	/* Count first; order (a sort) only for an alert. A recipient with
	 * one patient, nearly all of them, stops here. */
	x = r->ext;
	if (r->n <= f->cfg.threshold || (x && r->n <= x->alerted_patients))
		return 0;
	ps = pairs(r);
	n = 0;
	for (uint32_t i = 0; i < r->n; i++)
		n += in_window(f, r, &ps[i]);
	if (n <= f->cfg.threshold || n <= x->alerted_patients)
		return 0;
	n = window_pairs(f, r);
	if (!x->alerted_patients) {
		char buf[LW_ID_BUF];
		const pair *first = f->order[0];
		f->st.bytes -= extra_bytes(x);
		x->episode_start = first->sent_at;
		x->episode_sid =
		    lw_xstrdup(lw_stored_str(first->ids + first->sid_off, buf));
		f->st.bytes += extra_bytes(x);
		x->revision = (uint32_t)n;
		x->alerted_patients = (uint32_t)n;
		f->st.incidents++;
		build(f, r, n, a);
		return 1;
	}
	x->revision = (uint32_t)n > x->revision ? (uint32_t)n : x->revision + 1;
	x->alerted_patients = (uint32_t)n;
	build(f, r, n, a);
	return 2;
}

size_t lw_fanin_expire(lw_fanin *f, int64_t now, size_t budget)
{
	size_t visited = 0;
	int64_t cut;
	if (now == INT64_MIN)
		return 0;
	cut = now - f->cfg.window_ms;
	while (visited < budget) {
		bucket *b = &f->b[f->cursor];
		/* the chain this walk reaches a few calls from now: start
		 * loading it if it has something to expire */
		const bucket *ahead =
		    &f->b[(f->cursor + FANIN_LOOKAHEAD) & (f->nb - 1)];
		const bucket *half =
		    &f->b[(f->cursor + FANIN_LOOKAHEAD / 2) & (f->nb - 1)];
		if (ahead->oldest <= cut && ahead->head)
			__builtin_prefetch(ahead->head); /* its first line */
		/* and, half-way there, the second entry of a chain (the first
		 * is in cache by then, with the link) */
		if (half->oldest <= cut && half->head && half->head->next)
			__builtin_prefetch(half->head->next);
		visited++;
		if (b->oldest <= cut) {
			rent **pp = &b->head;
			b->oldest = INT64_MAX;
			while (*pp) {
				rent *r = *pp;
				pair *ps = pairs(r);
				uint32_t w = 0;
				visited++;
				for (uint32_t i = 0; i < r->n; i++) {
					if (ps[i].sent_at > cut) {
						ps[w++] = ps[i];
						if (ps[i].sent_at < b->oldest)
							b->oldest =
							    ps[i].sent_at;
					} else {
						pair_free(f, r, &ps[i]);
					}
				}
				r->n = w;
				if (w == 0) {
					*pp = r->next;
					rent_free(f, r);
					f->st.expired++;
				} else {
					pp = &r->next;
				}
			}
		}
		f->cursor = (f->cursor + 1) & (f->nb - 1);
		if (f->cursor == 0)
			break;
	}
	return visited;
}

void lw_fanin_get_stats(const lw_fanin *f, lw_fanin_stats *out)
{
	*out = f->st;
}
