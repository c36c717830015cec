/* state: chained hash table + intrusive LRU list of packed specimen records.
 *
 * Design. Each node (an lw_state_entry) holds 48 bits of its ID's hash (the
 * low 32 pick the bucket, so growth and removal never touch the record; the
 * top 16 filter chain walks before an ID compare), a bucket-chain link, LRU
 * links, its wheel entry and a pointer to its packed record (specimen.h),
 * a separate block sized to the byte. Nodes never move in memory, so they
 * can be handed out by pointer; the record block is reallocated when a
 * store changes its size. Packing a record on every store costs a few
 * hundred instructions; it halves the memory per specimen, which is what
 * bounds how many specimens a small machine can watch. The bucket array is
 * pre-sized from expected_specimens and doubles (one full rehash) when the load
 * passes 1; a rehash bumps the generation so a sweep in progress restarts
 * (LW_SWEEP_RESET) instead of missing records. Removal unlinks from chain and
 * list in O(chain).
 *
 * Invariants: bytes == sum of body_cap(packed record bytes) +
 * nodes * sizeof(node) +
 * buckets * sizeof(pointer); the LRU list holds exactly the live nodes,
 * least recently updated at the head. */
#include "state.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "wheel.h"
#include "xmalloc.h"

#define ID_SEED 0x737065636964ULL
/* node_bucket() indexes with 32 stored bits of the hash */
#define MAX_BUCKETS ((size_t)1 << 31)

typedef struct lw_state_entry node;
#define LEN(n) ((n)->timer.owner_u32)
/* 80 bytes, a size class of its own (a 96-byte node costs 16 more per
 * specimen): hence the record length kept in the wheel entry's spare
 * bytes. */
struct lw_state_entry {
	node *hnext;
	node *prev, *next;    /* LRU */
	lw_wheel_entry timer; /* linked at a time <= want; timer.owner_u32
				 is the packed record's length (LEN) */
	int64_t want;	      /* the deadline, INT64_MAX = none */
	unsigned char *body;  /* the packed record */
	uint32_t hash32;      /* low bits of the ID's hash: the bucket */
	uint16_t tag;	      /* top bits of the ID's hash */
	uint16_t epoch;	      /* LRU epoch of the last move to the tail */
};
_Static_assert(sizeof(void *) != 8 || sizeof(node) == 80,
	       "a node is one 80-byte size class on 64-bit hosts");

struct lw_state {
	lw_state_config cfg;
	node **buckets;
	size_t nbuckets; /* power of two */
	node *head, *tail;
	lw_state_stats st;
	uint64_t generation;
	size_t sweep_pos;
	uint64_t sweep_gen;
	int sweeping;
	lw_wheel wheel;
	size_t scheduled; /* records with want != INT64_MAX */
	uint16_t epoch;	  /* LRU epoch: see lw_state_store() */
	uint64_t touches; /* in this epoch */
	lw_specimen work; /* packs new records */
	lw_specimen sweep_view;
	unsigned char *packbuf; /* room for one packed record */
	size_t packcap;
};

static size_t table_bytes(const lw_state *st)
{
	return st->nbuckets * sizeof(node *);
}

/* The block a packed record of len bytes is kept in: len rounded up to
 * the allocator's size class (jemalloc's small classes, which most
 * allocators share: 16-byte steps to 128, then four per doubling). A
 * record whose size stays within its class is rewritten in place; one
 * that leaves it gets a new block, without realloc: the old content is
 * about to be overwritten, so there is nothing to copy, and jemalloc's
 * realloc cost ~430 instructions where malloc + free cost ~60. */
static size_t body_cap(size_t len)
{
	size_t step;
	if (len <= 128)
		return (len + 15) & ~(size_t)15;
	step = (size_t)1 << (61 - __builtin_clzll((unsigned long long)len - 1));
	return (len + step - 1) & ~(step - 1);
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
	__builtin_prefetch(n->prev);
	__builtin_prefetch(n->next);
	if (after) {
		const char *a = (const char *)after - offsetof(node, timer);
		__builtin_prefetch(a);
		__builtin_prefetch(a + 64);
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
	st->buckets = lw_xcalloc(st->nbuckets, sizeof *st->buckets);
	st->st.bytes = table_bytes(st);
	lw_wheel_init(&st->wheel);
	st->wheel.ahead = wheel_ahead;
	st->wheel.ahead_opaque = st;
	return st;
}

static void lru_unlink(lw_state *st, node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		st->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		st->tail = n->prev;
	n->prev = n->next = NULL;
}

static void lru_append(lw_state *st, node *n)
{
	n->prev = st->tail;
	n->next = NULL;
	if (st->tail)
		st->tail->next = n;
	else
		st->head = n;
	st->tail = n;
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
	lru_unlink(st, n);
	lw_wheel_remove(&st->wheel, &n->timer);
	if (n->want != INT64_MAX)
		st->scheduled--;
	st->st.bytes -= body_cap(LEN(n)) + sizeof *n;
	st->st.specimens--;
	free(n->body);
	free(n);
}

void lw_state_clear(lw_state *st)
{
	while (st->head)
		remove_node(st, st->head);
	st->generation++;
}

void lw_state_destroy(lw_state *st)
{
	if (!st)
		return;
	lw_state_clear(st);
	free(st->buckets);
	lw_specimen_clear(&st->work);
	lw_specimen_clear(&st->sweep_view);
	free(st->packbuf);
	free(st);
}

static void grow(lw_state *st)
{
	size_t nb = st->nbuckets * 2;
	node **b;
	if (st->nbuckets >= MAX_BUCKETS)
		return; /* chains just get longer */
	b = lw_xcalloc(nb, sizeof *b);
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
	free(st->buckets);
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
			__builtin_prefetch((const char *)*slot + 64);
		}
		return;
	}
	for (const node *n = *slot; n; n = n->hnext)
		if (n->hash32 == (uint32_t)h && n->tag == (uint16_t)(h >> 48)) {
			for (uint32_t at = 0; at < LEN(n); at += 64)
				__builtin_prefetch(n->body + at);
			return;
		}
}

static node *lookup(lw_state *st, const char *id, size_t len, uint64_t h)
{
	for (node *n = st->buckets[h & (st->nbuckets - 1)]; n; n = n->hnext)
		if (n->hash32 == (uint32_t)h && n->tag == (uint16_t)(h >> 48) &&
		    lw_specimen_packed_id_is(n->body, id, len))
			return n;
	return NULL;
}

lw_state_entry *lw_state_find(lw_state *st, const char *id, size_t len)
{
	return lookup(st, id, len, id_hash(id, len));
}

/* Packs s into st->packbuf; returns the bytes. */
static size_t pack(lw_state *st, const lw_specimen *s)
{
	size_t bound = lw_specimen_pack_bound(s);
	if (bound > st->packcap) {
		st->packcap = bound + bound / 2;
		free(st->packbuf);
		st->packbuf = lw_xmalloc(st->packcap);
	}
	return lw_specimen_pack(s, st->packbuf);
}

/* Makes n's record the len bytes in st->packbuf. */
static void put_body(lw_state *st, node *n, size_t len)
{
	size_t cap = body_cap(len), had = n->body ? body_cap(LEN(n)) : 0;
	if (len == LEN(n) && memcmp(n->body, st->packbuf, len) == 0)
		return;
	if (cap != had) {
		free(n->body);
		n->body = lw_xmalloc(cap);
		st->st.bytes += cap;
		st->st.bytes -= had;
	}
	LEN(n) = (uint32_t)len;
	memcpy(n->body, st->packbuf, len);
}

/* Counts an update or a creation towards the LRU epoch. */
static void tick_epoch(lw_state *st)
{
	if (++st->touches >= (st->st.specimens >> 3)) {
		st->epoch++;
		st->touches = 0;
	}
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
	n = lw_xcalloc(1, sizeof *n);
	n->want = INT64_MAX;
	n->hash32 = (uint32_t)h;
	n->tag = (uint16_t)(h >> 48);
	n->epoch = st->epoch;
	tick_epoch(st);
	lw_specimen_reset(&st->work, id, len);
	put_body(st, n, pack(st, &st->work));
	n->hnext = st->buckets[h & (st->nbuckets - 1)];
	st->buckets[h & (st->nbuckets - 1)] = n;
	lru_append(st, n);
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
	/* A move to the tail writes to both neighbours, two cache misses in
	 * a large table; a record is moved at most once per epoch of
	 * specimens/8 touches, so its place lags the exact order by less
	 * than that (exact in tables under 16 records). */
	if (st->tail != n && n->epoch != st->epoch) {
		lru_unlink(st, n);
		lru_append(st, n);
		n->epoch = st->epoch;
	}
	tick_epoch(st);
}

size_t lw_state_evict(lw_state *st, size_t budget)
{
	size_t removed = 0;
	while (st->head && removed < budget) {
		node *n = st->head;
		if ((st->cfg.max_specimens &&
		     st->st.specimens > st->cfg.max_specimens) ||
		    (st->cfg.max_bytes && st->st.bytes > st->cfg.max_bytes)) {
			st->st.evicted++;
		} else {
			break;
		}
		remove_node(st, n);
		removed++;
	}
	return removed;
}

/* Lazy: a later deadline only updates `want`; the wheel entry stays where
 * it is and, when it comes due, moves to `want` without a callback. Most
 * events push the expiry later, so most events touch no list at all (a
 * move costs cache misses on neighbouring nodes). */
void lw_state_schedule(lw_state *st, lw_state_entry *n, int64_t due)
{
	st->scheduled += (due != INT64_MAX) - (n->want != INT64_MAX);
	n->want = due;
	if (due != INT64_MAX && (!n->timer.linked || due < n->timer.due))
		lw_wheel_insert(&st->wheel, &n->timer, due);
}

int64_t lw_state_deadline(const lw_state *st, const lw_state_entry *n)
{
	(void)st;
	return n->timer.linked ? n->want : INT64_MAX;
}

void lw_state_expire(lw_state *st, lw_state_entry *n)
{
	st->st.expired++;
	remove_node(st, n);
}

struct due_ctx {
	lw_state *st;
	int64_t now;
	lw_state_due_fn fn;
	void *opaque;
	size_t handed;
};

static void on_due(void *opaque, lw_wheel_entry *e)
{
	struct due_ctx *c = opaque;
	node *n = (node *)((char *)e - offsetof(node, timer));
	if (n->want == INT64_MAX)
		return; /* unscheduled since */
	if (n->want > c->now) {
		lw_wheel_insert(&c->st->wheel, &n->timer, n->want);
		return;
	}
	n->want = INT64_MAX;
	c->st->scheduled--;
	c->handed++;
	c->fn(c->opaque, n);
}

size_t lw_state_advance(lw_state *st, int64_t now, size_t budget,
			lw_state_due_fn fn, void *opaque)
{
	struct due_ctx c = {st, now, fn, opaque, 0};
	if (now == INT64_MIN)
		return 0;
	lw_wheel_advance(&st->wheel, now, budget, on_due, &c);
	return c.handed;
}

int lw_state_caught_up(const lw_state *st)
{
	return st->wheel.caught_up;
}

size_t lw_state_scheduled(const lw_state *st)
{
	return st->scheduled;
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
