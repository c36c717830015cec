/* fanin: FANIN per recipient (see fanin.h).
 *
 * Design: a chained hash table of recipient entries, each with a small
 * array of (patient, newest notification) pairs; a recipient with one
 * patient, the common case, costs one entry and one pair. The distinct
 * count in the window is recomputed on each add from the entry's pairs
 * (bounded by max_patients). Expiry walks the buckets with a cursor and a
 * budget; each bucket keeps a lower bound on the sent_at of the pairs in its
 * chain, so the walk passes over chains with nothing to expire without
 * touching their entries (one cache miss per expiring entry, not per
 * entry visited). The table doubles when its load passes 1. Alerts are built
 * into reused storage owned by the module.
 *
 * A pair's two IDs are one block; the entry is allocated with room for
 * the first pair's block after it (`tail`), so the common recipient (one
 * patient) costs one allocation, one free, and one cache line fewer at
 * expiry. The tail serves one pair at a time, whichever holds it; IDs that
 * do not fit, or a second pair's, get a block of their own. Entries and ID
 * blocks come from a slab of the table's own and the bucket array from
 * hugemem.h, so the table lies in huge pages where the kernel allows: its
 * expiry and adds touch entries at random over tens of MB, and side by
 * side at 1M specimens that alone was most of the 15% the core gained from
 * huge pages. */
#include "fanin.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "hugemem.h"
#include "rules.h"
#include "slab.h"
#include "xmalloc.h"

#define FANIN_LOOKAHEAD 16 /* buckets: about two expiry calls ahead */

typedef struct pair {
	uint64_t patient;
	int64_t sent_at;
	int64_t offset;
	int32_t partition;
	uint32_t sid_off; /* sid = nid + sid_off */
	uint32_t ids_len; /* bytes of the block */
	char *nid;	  /* "notification ID\0specimen ID\0", one block */
} pair;

#define SID(p) ((p)->nid + (p)->sid_off)

typedef struct rent {
	struct rent *next;
	uint64_t recipient;
	int64_t newest;
	pair *p; /* &one while cap == 1 */
	pair one;
	uint32_t n, cap;
	uint32_t alerted_patients; /* 0 = no incident yet */
	uint32_t revision;
	int64_t episode_start;
	char *episode_sid;
	uint16_t tail_cap; /* bytes of tail */
	uint8_t tail_used; /* a pair's IDs are in tail */
	char tail[];	   /* IDs of one pair, see the design note; allocated
			    * from offsetof(rent, tail), not sizeof: the padding
			    * after tail_used is room for IDs too */
} rent;

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
	lw_slab *slab; /* entries and ID blocks */
	lw_evidence *ev;
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
	f->slab = lw_slab_new();
	f->st.bytes = lw_huge_size(f->nb * sizeof *f->b);
	return f;
}

static void pair_free(lw_fanin *f, rent *r, pair *p)
{
	f->st.pairs--;
	if (p->nid == r->tail) {
		r->tail_used = 0;
		return;
	}
	f->st.bytes -= lw_slab_size(p->ids_len); /* the array apart */
	lw_slab_free(f->slab, p->nid, p->ids_len);
}

static void rent_free(lw_fanin *f, rent *r)
{
	for (uint32_t i = 0; i < r->n; i++)
		pair_free(f, r, &r->p[i]);
	f->st.bytes -= lw_slab_size(offsetof(rent, tail) + r->tail_cap);
	if (r->cap > 1)
		f->st.bytes -= (size_t)r->cap * sizeof(pair);
	if (r->episode_sid)
		f->st.bytes -= strlen(r->episode_sid) + 1;
	if (r->p != &r->one)
		free(r->p);
	free(r->episode_sid);
	lw_slab_free(f->slab, r, offsetof(rent, tail) + r->tail_cap);
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
	lw_slab_destroy(f->slab);
	free(f->ev);
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
			bucket *to = &b[r->recipient & (nb - 1)];
			f->b[i].head = r->next;
			r->next = to->head;
			to->head = r;
			for (uint32_t k = 0; k < r->n; k++)
				if (r->p[k].sent_at < to->oldest)
					to->oldest = r->p[k].sent_at;
		}
	f->st.bytes += lw_huge_size(nb * sizeof *b);
	f->st.bytes -= lw_huge_size(f->nb * sizeof *b);
	lw_huge_free(f->b);
	f->b = b;
	f->nb = nb;
	f->cursor = 0;
}

/* The bytes of a pair's ID block for in. */
static size_t ids_len(const lw_fanin_pair *in)
{
	return strlen(in->notification_id) + strlen(in->specimen_id) + 2;
}

/* The recipient's entry; a new one has room for `tail` bytes of IDs. */
static rent *get(lw_fanin *f, uint64_t recipient, size_t tail)
{
	rent **pp = &f->b[recipient & (f->nb - 1)].head, *r;
	for (r = *pp; r; r = r->next)
		if (r->recipient == recipient)
			return r;
	if (f->st.recipients >= f->nb) {
		grow(f);
		pp = &f->b[recipient & (f->nb - 1)].head;
	}
	if (tail > UINT16_MAX)
		tail = 0;
	r = lw_slab_alloc(f->slab, offsetof(rent, tail) + tail);
	memset(r, 0, offsetof(rent, one)); /* `one` is written before use */
	r->tail_cap = (uint16_t)tail;
	r->tail_used = 0;
	r->n = r->cap = 0;
	r->alerted_patients = r->revision = 0;
	r->episode_start = 0;
	r->episode_sid = NULL;
	r->recipient = recipient;
	r->newest = INT64_MIN;
	r->next = *pp;
	*pp = r;
	f->st.recipients++;
	f->st.bytes += lw_slab_size(offsetof(rent, tail) + tail);
	return r;
}

static void set_pair(lw_fanin *f, rent *r, pair *p, const lw_fanin_pair *in)
{
	p->patient = in->patient;
	p->sent_at = in->sent_at;
	p->offset = in->offset;
	p->partition = in->partition;
	{
		size_t a = strlen(in->notification_id) + 1,
		       b = strlen(in->specimen_id) + 1;
		if (!r->tail_used && a + b <= r->tail_cap) {
			p->nid = r->tail;
			r->tail_used = 1;
		} else {
			p->nid = lw_slab_alloc(f->slab, a + b);
			f->st.bytes += lw_slab_size(a + b);
		}
		memcpy(p->nid, in->notification_id, a);
		memcpy(p->nid + a, in->specimen_id, b);
		p->sid_off = (uint32_t)a;
		p->ids_len = (uint32_t)(a + b);
	}
	f->st.pairs++;
}

static int in_window(const lw_fanin *f, const rent *r, const pair *p)
{
	return p->sent_at > r->newest - f->cfg.window_ms;
}

static int cmp_pair(const void *x, const void *y)
{
	const pair *a = *(const pair *const *)x, *b = *(const pair *const *)y;
	if (a->sent_at != b->sent_at)
		return a->sent_at < b->sent_at ? -1 : 1;
	return strcmp(a->nid, b->nid);
}

/* The window's pairs in (sent_at, notification ID) order. */
static size_t window_pairs(lw_fanin *f, const rent *r)
{
	size_t n = 0;
	if (r->n > f->ocap) {
		f->ocap = r->n + 16;
		f->order = lw_xrealloc(f->order, f->ocap * sizeof *f->order);
	}
	for (uint32_t i = 0; i < r->n; i++)
		if (in_window(f, r, &r->p[i]))
			f->order[n++] = &r->p[i];
	qsort(f->order, n, sizeof *f->order, cmp_pair);
	return n;
}

static void build(lw_fanin *f, const rent *r, size_t n, lw_alert *a)
{
	lw_hasher h;
	uint32_t k = 0;
	memset(a, 0, sizeof *a);
	lw_hasher_init(&h, 0x6c6162776174ULL);
	lw_hasher_add_str(&h, "FANIN");
	lw_hasher_add_i64(&h, (int64_t)r->recipient);
	lw_hasher_add_i64(&h, r->episode_start);
	lw_hasher_hex128(&h, a->alert_id);
	a->key = lw_hex_low64(a->alert_id);
	a->revision = r->revision;
	a->rule = LW_RULE_FANIN;
	a->severity = LW_SEV_CRITICAL;
	a->specimen_id = r->episode_sid;
	a->recorded_version = LW_NO_VERSION;
	a->stated_version = LW_NO_VERSION;
	a->recipient_count = 1;
	a->event_time = r->newest;
	a->fired_at = r->newest;
	if (f->evcap < f->cfg.max_evidence) {
		f->evcap = f->cfg.max_evidence;
		f->ev = lw_xrealloc(f->ev, f->evcap * sizeof *f->ev);
	}
	for (size_t i = 0; i < n; i++) {
		if (k >= f->cfg.max_evidence) {
			a->evidence_omitted++;
			continue;
		}
		f->ev[k].topic = LW_TOPIC_NOTIFICATIONS;
		f->ev[k].partition = f->order[i]->partition;
		f->ev[k].offset = f->order[i]->offset;
		f->ev[k].event_id = f->order[i]->nid;
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

/* An entry spans two or three cache lines (its size is not a multiple of
 * the line, nor its address aligned to one). */
static void prefetch_rent(const rent *r)
{
	__builtin_prefetch(r);
	__builtin_prefetch((const char *)r + 64);
	__builtin_prefetch((const char *)r + sizeof *r - 1);
}

void lw_fanin_prefetch(const lw_fanin *f, uint64_t recipient, int stage)
{
	const bucket *b = &f->b[recipient & (f->nb - 1)];
	if (stage == 0)
		__builtin_prefetch(b);
	else if (b->head)
		prefetch_rent(b->head);
}

int lw_fanin_add(lw_fanin *f, const lw_fanin_pair *in, lw_alert *a)
{
	rent *r;
	pair *p = NULL;
	size_t n;
	if (!f->cfg.threshold)
		return 0;
	r = get(f, in->recipient, ids_len(in));
	for (uint32_t i = 0; i < r->n && !p; i++)
		if (r->p[i].patient == in->patient)
			p = &r->p[i];
	if (p) {
		if (in->sent_at <= p->sent_at)
			return 0; /* an older one for a patient it has */
		pair_free(f, r, p);
		set_pair(f, r, p, in);
	} else {
		if (r->n >= f->cfg.max_patients)
			return 0;
		if (r->n == r->cap) {
			uint32_t nc = r->cap ? r->cap * 2 : 1;
			if (nc == 1) {
				r->p = &r->one; /* inside the entry */
			} else if (r->p == &r->one) {
				r->p = lw_xmalloc(nc * sizeof *r->p);
				r->p[0] = r->one;
				f->st.bytes += nc * sizeof *r->p;
			} else {
				r->p = lw_xrealloc(r->p, nc * sizeof *r->p);
				f->st.bytes += (nc - r->cap) * sizeof *r->p;
			}
			r->cap = nc;
		}
		set_pair(f, r, &r->p[r->n++], in);
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
	if (r->n <= f->cfg.threshold || r->n <= r->alerted_patients)
		return 0;
	n = 0;
	for (uint32_t i = 0; i < r->n; i++)
		n += in_window(f, r, &r->p[i]);
	if (n <= f->cfg.threshold || n <= r->alerted_patients)
		return 0;
	n = window_pairs(f, r);
	if (!r->alerted_patients) {
		r->episode_start = f->order[0]->sent_at;
		r->episode_sid = lw_xstrdup(SID(f->order[0]));
		f->st.bytes += strlen(r->episode_sid) + 1;
		r->revision = (uint32_t)n;
		r->alerted_patients = (uint32_t)n;
		f->st.incidents++;
		build(f, r, n, a);
		return 1;
	}
	r->revision = (uint32_t)n > r->revision ? (uint32_t)n : r->revision + 1;
	r->alerted_patients = (uint32_t)n;
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
			prefetch_rent(ahead->head);
		/* and, half-way there, the second entry of a chain (the first
		 * is in cache by then, with the link) */
		if (half->oldest <= cut && half->head && half->head->next)
			prefetch_rent(half->head->next);
		visited++;
		if (b->oldest <= cut) {
			rent **pp = &b->head;
			b->oldest = INT64_MAX;
			while (*pp) {
				rent *r = *pp;
				uint32_t w = 0;
				visited++;
				for (uint32_t i = 0; i < r->n; i++) {
					if (r->p[i].sent_at > cut) {
						r->p[w++] = r->p[i];
						if (r->p[i].sent_at < b->oldest)
							b->oldest =
							    r->p[i].sent_at;
					} else {
						pair_free(f, r, &r->p[i]);
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
