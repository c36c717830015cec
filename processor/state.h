/* state: the join state, a bounded table of specimen records by ID.
 *
 * Entries are kept in least-recently-updated order. Two bounds keep memory
 * flat: an event-time TTL and a cap on specimens and on accounted bytes
 * (the least recently updated entry is evicted first). Both are applied by
 * lw_state_evict() from the head of that order with a work budget, so one
 * call never stalls the consume loop. Expired and evicted entries are
 * counted.
 *
 * TTL precision: an entry expires when its newest event is older than the
 * newest event time seen minus ttl_ms AND every entry updated before it has
 * gone. With input roughly in event-time order that is the TTL; an entry
 * updated with an old event time (a late event) can hold up the expiry of
 * entries updated after it by up to one TTL. Memory stays bounded by the
 * caps either way. (Per-entry deadlines come with the timer rules.)
 *
 * The table is single-threaded. Records returned by find/upsert are owned by
 * the table and valid until the next call that can remove entries
 * (lw_state_evict, lw_state_clear). */
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

lw_state *lw_state_new(const lw_state_config *cfg);
void lw_state_destroy(lw_state *st);

lw_specimen *lw_state_find(lw_state *st, const char *id, size_t len);
/* Finds or creates the record for id; *created tells which. */
lw_specimen *lw_state_upsert(lw_state *st, const char *id, size_t len,
			     int *created);
/* Call after changing a record: moves it to the most-recent end and
 * re-accounts its bytes (old_bytes = lw_specimen_bytes() before the
 * change). */
void lw_state_touched(lw_state *st, lw_specimen *s, size_t old_bytes);

/* Expires entries older than stream_time_ms - ttl and evicts over-cap ones,
 * at most budget entries. Returns the number removed. */
size_t lw_state_evict(lw_state *st, int64_t stream_time_ms, size_t budget);
/* Removes every entry (used when partitions are reassigned). */
void lw_state_clear(lw_state *st);

/* Incremental sweep over all records (for the oldest offset still needed).
 * Each call visits at most `budget` buckets. Records added or removed while a
 * sweep runs may or may not be visited; a record present during the whole
 * sweep is visited exactly once. */
typedef void (*lw_state_visit_fn)(void *opaque, const lw_specimen *s);
enum { LW_SWEEP_MORE, LW_SWEEP_DONE, LW_SWEEP_RESET };
int lw_state_sweep_step(lw_state *st, size_t budget, lw_state_visit_fn visit,
			void *opaque);

void lw_state_get_stats(const lw_state *st, lw_state_stats *out);

#endif
