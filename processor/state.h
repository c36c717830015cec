/* state: the join state, a bounded table of specimen records by ID.
 *
 * Every entry has a deadline in event time (lw_state_schedule), kept in a
 * timer wheel (wheel.h). lw_state_advance() hands the entries whose
 * deadline the stream time has reached to the owner, which runs the timer
 * rules and then re-schedules the entry or expires it (lw_state_expire);
 * the work per call is bounded. The owner sets the deadline to the next
 * timer rule due time, or to the newest event time + ttl_ms when nothing is
 * pending, so an entry never expires with a timer still to fire.
 *
 * For the caps on specimens and on accounted bytes, lw_state_evict()
 * removes the least recently updated (stored) entry first, with a work
 * budget: exactly in small tables (up to 1,024 buckets), and in large
 * ones the least recently updated of a sample of 16 or more (see state.c;
 * the sample is pseudo-random with a fixed seed, so a replay evicts the
 * same). Expired and evicted entries are counted.
 *
 * Records are kept packed (specimen.h: about half the size of the working
 * form); callers work on a view they own (lw_state_load / lw_state_store).
 * The table is single-threaded. */
#ifndef LW_STATE_H
#define LW_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "specimen.h"

typedef struct lw_state_config {
	uint64_t max_specimens;	     /* 0 = no cap */
	uint64_t max_bytes;	     /* 0 = no cap */
	int64_t ttl_ms;		     /* 0 = never expire */
	uint64_t expected_specimens; /* pre-sizes the table */
} lw_state_config;

typedef struct lw_state_stats {
	uint64_t specimens;
	uint64_t bytes; /* records + table overhead, as accounted */
	uint64_t expired;
	uint64_t evicted;
	uint64_t created;
} lw_state_stats;

typedef struct lw_state lw_state;
/* One tracked specimen: its packed record (specimen.h) and its place in
 * the table, the wheel and the eviction order. Owned by the table; valid
 * until removed (lw_state_expire, lw_state_evict, lw_state_clear). */
typedef struct lw_state_entry lw_state_entry;

lw_state *lw_state_new(const lw_state_config *cfg);
void lw_state_destroy(lw_state *st);

lw_state_entry *lw_state_find(lw_state *st, const char *id, size_t len);
/* Prefetch hints for a record about to be looked up, by lw_state_hash() of
 * its ID. They only warm the cache: they read the table as it is now and
 * change nothing, so a stale or wrong hash is harmless. A caller that knows
 * the IDs of the next few messages calls stage 0 (the bucket), then, a
 * message later, stage 1 (the chain's first node), then stage 2 (the
 * packed record of the node whose stored hash bits match), so the misses of
 * several lookups overlap. */
uint64_t lw_state_hash(const char *id, size_t len);
void lw_state_prefetch(const lw_state *st, uint64_t hash, int stage);
/* Finds or creates the entry for id; *created tells which. A new entry's
 * record holds only the ID: loading it gives what lw_specimen_reset(view,
 * id, len) gives. */
lw_state_entry *lw_state_upsert(lw_state *st, const char *id, size_t len,
				int *created);
/* Records are kept packed. lw_state_load() unpacks en's record into view
 * (the caller's, whose block it reuses); after changing the view,
 * lw_state_store() packs it back as en's record, re-accounts its bytes and
 * moves en to the most-recent end. A view not stored changes nothing. */
void lw_state_load(const lw_state *st, const lw_state_entry *en,
		   lw_specimen *view);
void lw_state_store(lw_state *st, lw_state_entry *en, const lw_specimen *view);

/* Evicts over-cap entries, least recently updated first (as above), at
 * most budget.
 * Returns the number removed. */
size_t lw_state_evict(lw_state *st, size_t budget);

/* Sets en's deadline (event time ms); INT64_MAX = none. */
void lw_state_schedule(lw_state *st, lw_state_entry *en, int64_t due);
/* The same for a deadline at which nothing is due but the entry's expiry
 * (no timer rule): when it comes, the owner may expire the entry without
 * loading it (lw_state_due_is_expiry). */
void lw_state_schedule_expiry(lw_state *st, lw_state_entry *en, int64_t due);
/* In a due callback: was en's deadline set by lw_state_schedule_expiry()? */
int lw_state_due_is_expiry(const lw_state_entry *en);
/* en's deadline, INT64_MAX if none. */
int64_t lw_state_deadline(const lw_state *st, const lw_state_entry *en);
/* Called for each entry whose deadline is <= now; the entry is no longer
 * scheduled when called and the callback must schedule or expire it. */
typedef void (*lw_state_due_fn)(void *opaque, lw_state_entry *en);
/* Hands over due entries, at most `budget` of them. Returns how many were
 * handed over. */
size_t lw_state_advance(lw_state *st, int64_t now, size_t budget,
			lw_state_due_fn fn, void *opaque);
/* Did the last lw_state_advance() hand over everything due? */
int lw_state_caught_up(const lw_state *st);
/* Removes en, counted as expired. */
void lw_state_expire(lw_state *st, lw_state_entry *en);
/* Entries with a deadline. */
size_t lw_state_scheduled(const lw_state *st);
/* Removes every entry (used when partitions are reassigned). */
void lw_state_clear(lw_state *st);

/* Incremental sweep over all records (for the oldest offset still needed).
 * Each call visits at most `budget` buckets; each record is handed over
 * unpacked into a view of the table's own, valid during the visit. Records
 * added or removed while a sweep runs may or may not be visited; a record
 * present during the whole sweep is visited exactly once. */
typedef void (*lw_state_visit_fn)(void *opaque, const lw_specimen *s);
enum { LW_SWEEP_MORE, LW_SWEEP_DONE, LW_SWEEP_RESET };
int lw_state_sweep_step(lw_state *st, size_t budget, lw_state_visit_fn visit,
			void *opaque);

void lw_state_get_stats(const lw_state *st, lw_state_stats *out);

#endif
