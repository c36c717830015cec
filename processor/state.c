/* state: chained hash table + intrusive LRU list of specimen records.
 *
 * Design. Each node holds the record, 48 bits of its ID's hash (the low 32
 * pick the bucket, so growth and removal never touch the record; the top 16
 * filter chain walks before an ID compare), a bucket-chain link and LRU
 * links; nodes never move in memory, so
 * records can be handed out by pointer. The bucket array is pre-sized from
 * expected_specimens and doubles (one full rehash) when the load passes 1; a
 * rehash bumps the generation so a sweep in progress restarts (LW_SWEEP_RESET)
 * instead of missing records. Removal unlinks from chain and list in O(chain).
 *
 * Invariants: bytes == sum of record bytes + nodes * sizeof(node) +
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

typedef struct node {
	struct node *hnext;
	struct node *prev, *next; /* LRU */
	lw_wheel_entry timer;	  /* linked at a time <= want */
	int64_t want;		  /* the deadline, INT64_MAX = none */
	uint32_t hash32;	  /* low bits of the ID's hash: the bucket */
	uint16_t tag;		  /* top bits of the ID's hash */
	uint16_t epoch;		  /* LRU epoch of the last move to the tail */
	lw_specimen s;
} node;

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
	uint16_t epoch;	  /* LRU epoch: see lw_state_touched() */
	uint64_t touches; /* in this epoch */
};

static node *node_of(lw_specimen *s)
{
	return (node *)((char *)s - offsetof(node, s));
}

static size_t table_bytes(const lw_state *st)
{
	return st->nbuckets * sizeof(node *);
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
	__builtin_prefetch(n->s.results);
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
	st->st.bytes -= lw_specimen_bytes(&n->s) + sizeof *n;
	st->st.specimens--;
	lw_specimen_clear(&n->s);
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
			lw_specimen_prefetch(&n->s);
			return;
		}
}

static node *lookup(lw_state *st, const char *id, size_t len, uint64_t h)
{
	for (node *n = st->buckets[h & (st->nbuckets - 1)]; n; n = n->hnext)
		if (n->hash32 == (uint32_t)h && n->tag == (uint16_t)(h >> 48) &&
		    lw_specimen_id_is(&n->s, id, len))
			return n;
	return NULL;
}

lw_specimen *lw_state_find(lw_state *st, const char *id, size_t len)
{
	node *n = lookup(st, id, len, id_hash(id, len));
	return n ? &n->s : NULL;
}

/* Counts an update or a creation towards the LRU epoch. */
static void tick_epoch(lw_state *st)
{
	if (++st->touches >= (st->st.specimens >> 3)) {
		st->epoch++;
		st->touches = 0;
	}
}

lw_specimen *lw_state_upsert(lw_state *st, const char *id, size_t len,
			     int *created)
{
	uint64_t h = id_hash(id, len);
	node *n = lookup(st, id, len, h);
	*created = 0;
	if (n)
		return &n->s;
	if (st->st.specimens >= st->nbuckets)
		grow(st);
	n = lw_xcalloc(1, sizeof *n);
	n->want = INT64_MAX;
	n->hash32 = (uint32_t)h;
	n->tag = (uint16_t)(h >> 48);
	n->epoch = st->epoch;
	tick_epoch(st);
	lw_specimen_init(&n->s, id, len);
	n->hnext = st->buckets[h & (st->nbuckets - 1)];
	st->buckets[h & (st->nbuckets - 1)] = n;
	lru_append(st, n);
	st->st.specimens++;
	st->st.created++;
	st->st.bytes += lw_specimen_bytes(&n->s) + sizeof *n;
	*created = 1;
	return &n->s;
}

void lw_state_touched(lw_state *st, lw_specimen *s, size_t old_bytes)
{
	node *n = node_of(s);
	st->st.bytes += lw_specimen_bytes(s);
	st->st.bytes -= old_bytes;
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
void lw_state_schedule(lw_state *st, lw_specimen *s, int64_t due)
{
	node *n = node_of(s);
	st->scheduled += (due != INT64_MAX) - (n->want != INT64_MAX);
	n->want = due;
	if (due != INT64_MAX && (!n->timer.linked || due < n->timer.due))
		lw_wheel_insert(&st->wheel, &n->timer, due);
}

int64_t lw_state_deadline(const lw_state *st, const lw_specimen *s)
{
	const node *n = (const node *)((const char *)s - offsetof(node, s));
	(void)st;
	return n->timer.linked ? n->want : INT64_MAX;
}

void lw_state_expire(lw_state *st, lw_specimen *s)
{
	st->st.expired++;
	remove_node(st, node_of(s));
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
	c->fn(c->opaque, &n->s);
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
		for (node *n = st->buckets[st->sweep_pos]; n; n = n->hnext)
			visit(opaque, &n->s);
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
