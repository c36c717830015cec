/* clock: event-time watermarks and the stream time the timer rules use.
 *
 * Every input partition is a source. A source's watermark is the newest
 * event time it delivered minus the allowed lateness, minus 1 ms (events
 * at exactly the newest time may still follow). The combined watermark is
 * the minimum over the active sources, across both topics, so a lagging
 * partition holds time back instead of letting timers fire before its
 * events are read. The stream time is the combined watermark, never moving
 * backwards.
 *
 * Live mode (idle_timeout_ms > 0): a source that delivered nothing for
 * idle_timeout_ms of wall-clock time is idle. While other sources deliver,
 * an idle source's watermark goes on with the wall clock from its own
 * newest event (it may have a backlog that has simply not been fetched
 * yet: excluding it would let the busy partitions' event times run
 * ahead and fire timers early); a source assigned but silent since holds
 * nothing. When every source is idle the stream time goes on with the wall
 * clock from the newest event time seen (less the lateness), so timers
 * still fire when nothing arrives.
 *
 * End-aware (end_aware set; the processor, which asks librdkafka for
 * partition EOF events): silence alone does not make a source idle, since
 * a partition whose backlog is simply slow to fetch is silent too. Only a
 * source whose end was reached (lw_clock_source_at_end) with nothing
 * delivered since can go idle. One not known to be at its end holds time
 * back at its own watermark however long it is silent, and one that has
 * delivered nothing at all holds the stream time where it is: at start-up
 * a partition fetched a second after another must not let the other's
 * event times run ahead and fire timers early.
 * Replay mode (idle_timeout_ms = 0): the wall clock is never read and only
 * event time moves time.
 *
 * An event is late when its event time is at or before the stream time as
 * it arrives: it is older than the watermark allows. The caller applies it
 * anyway and counts it (engine.h).
 *
 * Not thread-safe; owned by one engine. Wall-clock times are passed in by
 * the caller, never read here, so the module is tested without sleeping. */
#ifndef LW_CLOCK_H
#define LW_CLOCK_H

#include <stdint.h>

#define LW_TIME_NONE INT64_MIN /* no stream time yet */

typedef struct lw_clock_config {
	int64_t lateness_ms;	 /* allowed lateness, >= 0 */
	int64_t idle_timeout_ms; /* 0 = replay mode: no wall clock */
	int end_aware;		 /* only a source at its end goes idle */
} lw_clock_config;

typedef struct lw_clock lw_clock;

lw_clock *lw_clock_new(const lw_clock_config *cfg);
void lw_clock_destroy(lw_clock *c);

/* A source (topic, partition) was assigned at wall time wall_ms: it holds
 * the stream time back until it delivers or goes idle. Optional: an event
 * from an unknown source adds it. */
void lw_clock_add_source(lw_clock *c, int topic, int32_t partition,
			 int64_t wall_ms);
/* The consumer reached the end of (topic, partition) at wall time wall_ms:
 * everything written to it so far was delivered. */
void lw_clock_source_at_end(lw_clock *c, int topic, int32_t partition,
			    int64_t wall_ms);
/* Forgets every source (partitions were revoked); the stream time stays. */
void lw_clock_reset_sources(lw_clock *c);

/* An event of time event_ms arrived from (topic, partition) at wall time
 * wall_ms (ignored in replay mode). Returns 1 if it was late, i.e. event_ms
 * <= the stream time before it arrived, else 0. */
int lw_clock_observe(lw_clock *c, int topic, int32_t partition,
		     int64_t event_ms, int64_t wall_ms);

/* Recomputes and returns the stream time at wall time wall_ms. */
int64_t lw_clock_advance(lw_clock *c, int64_t wall_ms);
/* The stream time as last computed (LW_TIME_NONE before any event). */
int64_t lw_clock_now(const lw_clock *c);
/* Newest event time seen from any source (LW_TIME_NONE if none). */
int64_t lw_clock_max_event(const lw_clock *c);

typedef struct lw_clock_source_info {
	int topic;
	int32_t partition;
	int64_t max_event_ms; /* LW_TIME_NONE if nothing delivered yet */
	int64_t watermark_ms; /* max_event_ms - lateness - 1 */
	int64_t last_wall_ms; /* last delivery (or assignment), wall clock */
} lw_clock_source_info;

/* Number of sources; fills up to n infos (for stats and tests). */
int lw_clock_sources(const lw_clock *c, lw_clock_source_info *out, int n);

#endif
