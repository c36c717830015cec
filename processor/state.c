/* state: chained hash table of packed specimen records, sampled eviction.
 *
 * Design. Each node (an lw_state_entry) holds 32 bits of its ID's hash (they
 * pick the bucket, so growth and removal never touch the record, and the
 * bits above the bucket index filter chain walks before an ID compare), a
 * bucket-chain link, an update stamp, its wheel entry and a pointer to its
 * packed record (specimen.h), a separate block from the state's slab
 * (slab.h: 8-byte size classes, where the allocator's are 32 bytes apart
 * at record sizes). The node is 56 bytes because memory per specimen is
 * what bounds how many a small machine can watch; nodes come from a slab
 * of their own (no allocator class rounds them to 64). Records,
 * nodes and the bucket array sit in huge pages where the kernel allows
 * (hugemem.h): at a million specimens a TLB miss came with nearly every
 * record touched. Nodes never move
 * in memory, so they can be handed out by pointer; the record block is
 * reallocated when a store changes its size. Packing a record on every store
 * costs a few hundred instructions; it halves the memory per specimen. The
 * bucket array is pre-sized from expected_specimens and doubles (one full
 * rehash) when the load passes 1; a rehash bumps the generation so a sweep in
 * progress restarts (LW_SWEEP_RESET) instead of missing records. Removal
 * unlinks from the chain in O(chain).
 *
 * Eviction (over a cap) removes the least recently updated of a sample: the
 * nodes of consecutive buckets from a pseudo-random place (fixed seed, so
 * a replay evicts the same), at least EVICT_SAMPLE of them, oldest stamp
 * first; a table of at most EXACT_BUCKETS buckets is scanned whole, so
 * small tables evict in exact update order. Sampling replaced a doubly
 * linked LRU list: 16 bytes per specimen and two neighbour cache misses
 * per move, for an order nobody needs exactly. With 16 samples the victim
 * is among the oldest 6% of the table with probability 1 - 0.94^16 = 63%,
 * and among the oldest half with probability 1 - 0.5^16 = 99.998%.
 *
 * Invariants: bytes == sum of lw_slab_size(packed record bytes) +
 * nodes * sizeof(node) +
 * buckets * sizeof(pointer). */
#include "state.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "hugemem.h"
#include "slab.h"
#include "wheel.h"
#include "xmalloc.h"

#define ID_SEED 0x737065636964ULL
/* node_bucket() indexes with 32 stored bits of the hash */
#define MAX_BUCKETS ((size_t)1 << 31)

typedef struct lw_state_entry node;
#define LEN(n)	      ((n)->timer.owner_u32)
#define FLAGS(n)      ((n)->timer.owner_u16)
#define F_EXPIRY      1 /* the deadline is an expiry only */
#define EVICT_SAMPLE  16
#define SWEEP_AHEAD   16 /* buckets: see lw_state_sweep_step() */
#define EXACT_BUCKETS 1024
/* 56 bytes (every byte is a byte per specimen): hence the record length
 * kept in the wheel entry's spare bytes, and the deadline kept only as the
 * wheel entry's due time (the entry is linked exactly while the record has
 * a deadline). */
struct lw_state_entry {
	node *hnext;
	lw_wheel_entry timer; /* linked at the deadline, if any;
				 timer.owner_u32 is the packed record's
				 length (LEN) */
	unsigned char *body;  /* the packed record */
	uint32_t hash32;      /* low bits of the ID's hash: the bucket */
	uint32_t stamp;	      /* st->ticks at the last store */
};
_Static_assert(sizeof(void *) != 8 || sizeof(node) == 56,
	       "a node is 56 bytes on 64-bit hosts");

struct lw_state {
	lw_state_config cfg;
	node **buckets;
	size_t nbuckets; /* power of two */
	lw_state_stats st;
	uint64_t generation;
	size_t sweep_pos;
	uint64_t sweep_gen;
	int sweeping;
	lw_wheel wheel;
	uint32_t ticks; /* stores and creations (wraps) */
	uint64_t rng;	/* eviction sampling: xorshift64 state */
	lw_specimen sweep_view;
	unsigned char *packbuf; /* room for one packed record */
	lw_slab *slab;		/* the records' blocks */
	lw_slab *nodes;		/* the nodes: one block size only */
	size_t packcap;
};

static size_t table_bytes(const lw_state *st)
{
	return lw_huge_size(st->nbuckets * sizeof(node *));
}

/* The bucket of n in a table of nb buckets: from the stored low bits, so
 * growth and removal do not touch the record (nb <= 2^32). */
static size_t node_bucket(const node *n, size_t nb)
{
	return n->hash32 & (nb - 1);
}

/* The wheel's hint (wheel.h): the next entry to fire is in cache by now
 * (the list walk wrote to it); start loading what its expiry touches, the
 * record and the LRU neighbours, and the node of the entry after it. */
static void wheel_ahead(void *opaque, const lw_wheel_entry *next,
			const lw_wheel_entry *after)
{
	const lw_state *st = opaque;
	const node *n =
	    (const node *)((const char *)next - offsetof(node, timer));
	__builtin_prefetch(&st->buckets[node_bucket(n, st->nbuckets)]);
	__builtin_prefetch(n->body);
	if (after) {
		const char *a = (const char *)after - offsetof(node, timer);
		__builtin_prefetch(a);
		__builtin_prefetch(a + sizeof(node) - 1);
	}
}

lw_state *lw_state_new(const lw_state_config *cfg)
{
	lw_state *st = lw_xcalloc(1, sizeof *st);
	size_t want = cfg->expected_specimens ? cfg->expected_specimens : 1024;
	st->cfg = *cfg;
	st->nbuckets = 64;
	while (st->nbuckets < want && st->nbuckets < MAX_BUCKETS)
		st->nbuckets *= 2;
	st->buckets = lw_huge_calloc(st->nbuckets * sizeof *st->buckets);
	st->slab = lw_slab_new();
	st->nodes = lw_slab_new();
	st->st.bytes = table_bytes(st);
	lw_wheel_init(&st->wheel);
	st->wheel.ahead = wheel_ahead;
	st->wheel.ahead_opaque = st;
	st->rng = 0x9E3779B97F4A7C15ULL;
	return st;
}

static uint64_t id_hash(const char *id, size_t len)
{
	return lw_hash_fast(id, len, ID_SEED);
}

static void remove_node(lw_state *st, node *n)
{
	node **pp = &st->buckets[node_bucket(n, st->nbuckets)];
	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
	lw_wheel_remove(&st->wheel, &n->timer);
	st->st.bytes -= lw_slab_size(LEN(n)) + sizeof *n;
	st->st.specimens--;
	lw_slab_free(st->slab, n->body, LEN(n));
	lw_slab_free(st->nodes, n, sizeof *n);
}

void lw_state_clear(lw_state *st)
{
	for (size_t i = 0; i < st->nbuckets; i++)
		while (st->buckets[i])
			remove_node(st, st->buckets[i]);
	st->generation++;
}

void lw_state_destroy(lw_state *st)
{
	if (!st)
		return;
	lw_state_clear(st);
	lw_huge_free(st->buckets);
	lw_specimen_clear(&st->sweep_view);
	free(st->packbuf);
	lw_slab_destroy(st->slab);
	lw_slab_destroy(st->nodes);
	free(st);
}

static void grow(lw_state *st)
{
	size_t nb = st->nbuckets * 2;
	node **b;
	if (st->nbuckets >= MAX_BUCKETS)
		return; /* chains just get longer */
	b = lw_huge_calloc(nb * sizeof *b);
	for (size_t i = 0; i < st->nbuckets; i++) {
		node *n = st->buckets[i];
		while (n) {
			node *next = n->hnext;
			size_t j = node_bucket(n, nb);
			n->hnext = b[j];
			b[j] = n;
			n = next;
		}
	}
	lw_huge_free(st->buckets);
	st->st.bytes -= table_bytes(st);
	st->buckets = b;
	st->nbuckets = nb;
	st->st.bytes += table_bytes(st);
	st->generation++;
}

uint64_t lw_state_hash(const char *id, size_t len)
{
	return id_hash(id, len);
}

void lw_state_prefetch(const lw_state *st, uint64_t h, int stage)
{
	node *const *slot = &st->buckets[h & (st->nbuckets - 1)];
	if (stage == 0) {
		__builtin_prefetch(slot);
		return;
	}
	if (stage == 1) {
		if (*slot) {
			__builtin_prefetch(*slot);
			__builtin_prefetch((const char *)*slot + sizeof(node) -
					   1);
		}
		return;
	}
	for (const node *n = *slot; n; n = n->hnext)
		if (n->hash32 == (uint32_t)h) {
			/* the first lines: all of a typical record (~200 B),
			 * and not a whole 100 KB fan-out one */
			for (uint32_t at = 0; at < LEN(n) && at < 256; at += 64)
				__builtin_prefetch(n->body + at);
			return;
		}
}

static node *lookup(lw_state *st, const char *id, size_t len, uint64_t h)
{
	for (node *n = st->buckets[h & (st->nbuckets - 1)]; n; n = n->hnext)
		if (n->hash32 == (uint32_t)h &&
		    lw_specimen_packed_id_is(n->body, id, len))
			return n;
	return NULL;
}

lw_state_entry *lw_state_find(lw_state *st, const char *id, size_t len)
{
	return lookup(st, id, len, id_hash(id, len));
}

/* Makes st->packbuf at least bound bytes. */
static void packroom(lw_state *st, size_t bound)
{
	if (bound > st->packcap) {
		st->packcap = bound + bound / 2;
		free(st->packbuf);
		st->packbuf = lw_xmalloc(st->packcap);
	}
}

/* Packs s into st->packbuf; returns the bytes. */
static size_t pack(lw_state *st, const lw_specimen *s)
{
	packroom(st, lw_specimen_pack_bound(s));
	return lw_specimen_pack(s, st->packbuf);
}

/* Makes n's record the len bytes in st->packbuf. */
static void put_body(lw_state *st, node *n, size_t len)
{
	size_t cap = lw_slab_size(len),
	       had = n->body ? lw_slab_size(LEN(n)) : 0;
	if (len == LEN(n) && memcmp(n->body, st->packbuf, len) == 0)
		return;
	if (cap != had) {
		lw_slab_free(st->slab, n->body, LEN(n));
		n->body = lw_slab_alloc(st->slab, len);
		st->st.bytes += cap;
		st->st.bytes -= had;
	}
	LEN(n) = (uint32_t)len;
	memcpy(n->body, st->packbuf, len);
}

lw_state_entry *lw_state_upsert(lw_state *st, const char *id, size_t len,
				int *created)
{
	uint64_t h = id_hash(id, len);
	node *n = lookup(st, id, len, h);
	*created = 0;
	if (n)
		return n;
	if (st->st.specimens >= st->nbuckets)
		grow(st);
	n = lw_slab_alloc(st->nodes, sizeof *n);
	memset(n, 0, sizeof *n);
	n->hash32 = (uint32_t)h;
	n->stamp = st->ticks++;
	packroom(st, lw_specimen_pack_id_bound(len));
	put_body(st, n, lw_specimen_pack_id(id, len, st->packbuf));
	n->hnext = st->buckets[h & (st->nbuckets - 1)];
	st->buckets[h & (st->nbuckets - 1)] = n;
	st->st.specimens++;
	st->st.created++;
	st->st.bytes += sizeof *n;
	*created = 1;
	return n;
}

void lw_state_load(const lw_state *st, const lw_state_entry *n,
		   lw_specimen *view)
{
	(void)st;
	lw_specimen_unpack(view, n->body, LEN(n));
}

void lw_state_store(lw_state *st, lw_state_entry *n, const lw_specimen *view)
{
	put_body(st, n, pack(st, view));
	n->stamp = st->ticks++;
}

static int over_cap(const lw_state *st)
{
	return (st->cfg.max_specimens &&
		st->st.specimens > st->cfg.max_specimens) ||
	       (st->cfg.max_bytes && st->st.bytes > st->cfg.max_bytes);
}

/* Of the nodes from bucket i on, the one least recently stored: at least
 * `want` nodes (whole chains), or every bucket. */
static node *oldest_from(lw_state *st, size_t i, size_t want)
{
	node *best = NULL;
	uint32_t best_age = 0;
	size_t seen = 0;
	for (size_t k = 0; k < st->nbuckets && seen < want; k++) {
		for (node *n = st->buckets[(i + k) & (st->nbuckets - 1)]; n;
		     n = n->hnext) {
			uint32_t age = st->ticks - n->stamp;
			if (!best || age > best_age) {
				best = n;
				best_age = age;
			}
			seen++;
		}
	}
	return best;
}

static node *victim(lw_state *st)
{
	uint64_t x = st->rng;
	if (st->nbuckets <= EXACT_BUCKETS)
		return oldest_from(st, 0, SIZE_MAX);
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	st->rng = x;
	return oldest_from(st, (size_t)(x >> 11), EVICT_SAMPLE);
}

size_t lw_state_evict(lw_state *st, size_t budget)
{
	size_t removed = 0;
	while (st->st.specimens && removed < budget && over_cap(st)) {
		st->st.evicted++;
		remove_node(st, victim(st));
		removed++;
	}
	return removed;
}

/* Lazy: a later deadline delays the wheel entry in place
 * (lw_wheel_delay); the entry stays in its list until the wheel reaches it
 * and places it by the new time. Most events push the expiry
 * later, so most events touch no list at all (a move costs cache misses on
 * neighbouring nodes), and an entry delayed before the wheel reaches it
 * fires once, at its final time. */
void lw_state_schedule_expiry(lw_state *st, lw_state_entry *n, int64_t due)
{
	lw_state_schedule(st, n, due);
	FLAGS(n) |= F_EXPIRY;
}

int lw_state_due_is_expiry(const lw_state_entry *n)
{
	return (FLAGS(n) & F_EXPIRY) != 0;
}

void lw_state_schedule(lw_state *st, lw_state_entry *n, int64_t due)
{
	FLAGS(n) &= (uint16_t)~F_EXPIRY;
	if (due == INT64_MAX) {
		lw_wheel_remove(&st->wheel, &n->timer); /* rare */
		return;
	}
	if (!n->timer.linked || due < n->timer.due)
		lw_wheel_insert(&st->wheel, &n->timer, due);
	else
		lw_wheel_delay(&st->wheel, &n->timer, due);
}

int64_t lw_state_deadline(const lw_state *st, const lw_state_entry *n)
{
	(void)st;
	return n->timer.linked ? n->timer.due : INT64_MAX;
}

void lw_state_expire(lw_state *st, lw_state_entry *n)
{
	st->st.expired++;
	remove_node(st, n);
}

struct due_ctx {
	lw_state_due_fn fn;
	void *opaque;
};

static void on_due(void *opaque, lw_wheel_entry *e)
{
	struct due_ctx *c = opaque;
	c->fn(c->opaque, (node *)((char *)e - offsetof(node, timer)));
}

size_t lw_state_advance(lw_state *st, int64_t now, size_t budget,
			lw_state_due_fn fn, void *opaque)
{
	struct due_ctx c = {fn, opaque};
	if (now == INT64_MIN)
		return 0;
	return lw_wheel_advance(&st->wheel, now, budget, on_due, &c);
}

int lw_state_caught_up(const lw_state *st)
{
	return st->wheel.caught_up;
}

size_t lw_state_scheduled(const lw_state *st)
{
	return st->wheel.count;
}

int lw_state_sweep_step(lw_state *st, size_t budget, lw_state_visit_fn visit,
			void *opaque)
{
	if (!st->sweeping) {
		st->sweeping = 1;
		st->sweep_pos = 0;
		st->sweep_gen = st->generation;
	}
	if (st->sweep_gen != st->generation) {
		st->sweeping = 0;
		return LW_SWEEP_RESET;
	}
	for (size_t i = 0; i < budget && st->sweep_pos < st->nbuckets; i++) {
		/* Records lie at random: load the node SWEEP_AHEAD buckets on
		 * and, half-way there, its record (the node is in cache by
		 * then), so the misses of several records overlap; the bucket
		 * array itself is read in order. */
		size_t a = st->sweep_pos + SWEEP_AHEAD,
		       h = st->sweep_pos + SWEEP_AHEAD / 2;
		if (a < st->nbuckets && st->buckets[a]) {
			__builtin_prefetch(st->buckets[a]);
			__builtin_prefetch((const char *)st->buckets[a] +
					   sizeof(node) - 1);
		}
		if (h < st->nbuckets && st->buckets[h]) {
			const node *hn = st->buckets[h];
			const unsigned char *end = hn->body + LEN(hn) - 1;
			for (const unsigned char *q = hn->body; q < end;
			     q += 64)
				__builtin_prefetch(q);
			__builtin_prefetch(end);
		}
		for (node *n = st->buckets[st->sweep_pos]; n; n = n->hnext) {
			lw_specimen_unpack(&st->sweep_view, n->body, LEN(n));
			visit(opaque, &st->sweep_view);
		}
		st->sweep_pos++;
	}
	if (st->sweep_pos < st->nbuckets)
		return LW_SWEEP_MORE;
	st->sweeping = 0;
	return LW_SWEEP_DONE;
}

void lw_state_get_stats(const lw_state *st, lw_state_stats *out)
{
	*out = st->st;
}
