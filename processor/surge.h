/* surge: VOLUME_SURGE, notifications per event-time window above a cap or
 * above a multiple of the recent baseline.
 *
 * Every applied notification (duplicates excluded) is counted in the
 * bucket of its sent_at (bucket_ms wide, aligned to the epoch). A bucket
 * is closed when the stream time reaches its last millisecond; closing is
 * when the conditions are checked, so the outcome depends on event times
 * only, not on arrival order or partitioning. At the close of bucket b
 * (ending at E = end of b):
 *   cap:      the notifications sent in [E - window_ms, E) exceed cap.
 *   baseline: the notifications sent in [E - short_ms, E) are at least
 *             min_count and exceed factor x the baseline, the mean count
 *             per short_ms over [E - short_ms - baseline_ms, E - short_ms).
 *             Checked only once the stream's first bucket is at or before
 *             E - short_ms - baseline_ms (a full history exists).
 * A surge starts at the first close where either holds and ends at the
 * first close where neither does. Each surge is one alert (one message):
 * alert_id = hash(VOLUME_SURGE, start bucket), HIGH, specimen_id "",
 * recipient_count = notifications counted in the triggering window,
 * batch_id = the batch with most notifications in that window, and the
 * summary lists up to five batches with counts. event_time and (in
 * replay) detected_at = E - 1.
 *
 * Notifications older than the buckets kept (the longest window back from
 * the newest closed bucket) are not counted (stats.too_old); ones more than
 * horizon_ms ahead of the stream time are not either (stats.too_new).
 * Counts cover the partitions this instance owns: with N instances each sees
 * about 1/N of the volume (README).
 *
 * Per bucket the module keeps the counts of up to LW_SURGE_BATCHES batch IDs
 * (copied); further batches count as "other". Memory is fixed at creation.
 * Not thread-safe. */
#ifndef LW_SURGE_H
#define LW_SURGE_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"

#define LW_SURGE_BATCHES 4

typedef struct lw_surge_config {
	int64_t bucket_ms;   /* 60000 */
	int64_t window_ms;   /* cap window, 24 h */
	uint64_t cap;	     /* 3000; 0 = no cap rule */
	int64_t short_ms;    /* 1 h */
	int64_t baseline_ms; /* 24 h */
	double factor;	     /* 10; 0 = no baseline rule */
	uint64_t min_count;  /* 100 */
	int64_t horizon_ms;  /* how far ahead of stream time to count, 24 h */
} lw_surge_config;

void lw_surge_config_defaults(lw_surge_config *c);

typedef struct lw_surge_stats {
	uint64_t counted;
	uint64_t too_old;
	uint64_t too_new;
	uint64_t surges;
	int active;
} lw_surge_stats;

typedef struct lw_surge lw_surge;

lw_surge *lw_surge_new(const lw_surge_config *cfg);
void lw_surge_destroy(lw_surge *s);

/* Counts one notification; batch may be NULL (no batch). */
void lw_surge_add(lw_surge *s, int64_t sent_at, const char *batch,
		  size_t batch_len);

/* Called once per surge start; the alert is valid during the call. */
typedef void (*lw_surge_fire_fn)(void *opaque, const lw_alert *a);

/* Closes every bucket whose last millisecond is <= now, in order, and
 * reports surges that start. Returns the number of buckets closed. */
size_t lw_surge_advance(lw_surge *s, int64_t now, lw_surge_fire_fn fire,
			void *opaque);

void lw_surge_get_stats(const lw_surge *s, lw_surge_stats *out);
/* Heap bytes held (fixed after creation, plus batch ID copies). */
size_t lw_surge_bytes(const lw_surge *s);

#endif
