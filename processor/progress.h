/* progress: per input partition, what has been read, what is delivered and
 * what the join state still needs; this decides what labwatch commits.
 *
 * At-least-once: an input offset is committed only when every alert and
 * dead letter caused by events before it has been acknowledged by the
 * broker. Each produce "holds" its cause event; the delivery report
 * "releases" it. The commit offset of a partition is the oldest held event,
 * or, with nothing held, the next offset to read (never below the offset
 * found committed at assignment, which we re-read only to rebuild state).
 *
 * State restore: the join state lives in memory. The commit metadata of each
 * partition carries need=<offset>, the oldest offset still needed by live
 * state (computed by an incremental sweep over the state table; see
 * processor.c). After a restart, reading resumes at need, and events below
 * the committed offset are "replayed": they rebuild state, and alerts they
 * would raise were delivered before (engine.h). The metadata format is
 * "labwatch:v1;need=<offset>[;wm=<ms>]", wm being the stream time up to
 * which timer alerts were delivered (engine.h), absent when unknown. */
#ifndef LW_PROGRESS_H
#define LW_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#define LW_OFFSET_UNKNOWN (-1)

typedef struct lw_progress lw_progress;
typedef struct lw_hold lw_hold; /* one held event; opaque */

lw_progress *lw_progress_new(void);
/* Frees everything, including holds never released. */
void lw_progress_destroy(lw_progress *pg);

/* A partition was assigned: reading starts at `start`, and events below
 * `replay_until` are replays (LW_OFFSET_UNKNOWN: none). */
void lw_progress_assign(lw_progress *pg, int topic, int32_t partition,
			int64_t start, int64_t replay_until);
/* All partitions were revoked. Holds stay valid (their releases are
 * ignored) so late delivery reports cannot touch freed memory. */
void lw_progress_revoke_all(lw_progress *pg);

void lw_progress_processed(lw_progress *pg, int topic, int32_t partition,
			   int64_t offset);
int lw_progress_replayed(const lw_progress *pg, int topic, int32_t partition,
			 int64_t offset);
/* Partitions still re-reading toward their replay_until. */
int lw_progress_restoring(const lw_progress *pg);

/* One more delivery outstanding for the event at offset. Returns a handle
 * for lw_progress_release(), or NULL if the partition is not assigned. */
lw_hold *lw_progress_hold(lw_progress *pg, int topic, int32_t partition,
			  int64_t offset);
void lw_progress_release(lw_progress *pg, lw_hold *h);
uint64_t lw_progress_held(const lw_progress *pg);

/* The oldest-needed sweep: begin snapshots positions, visit is called for
 * every event in state, end(complete=1) publishes the result. */
void lw_progress_sweep_begin(lw_progress *pg);
void lw_progress_sweep_visit(lw_progress *pg, int topic, int32_t partition,
			     int64_t offset);
void lw_progress_sweep_end(lw_progress *pg, int complete);
/* When the next sweep may start (monotonic ms), given when the last one
 * started and ended and the time spent in its steps (cost_ms): a commit
 * interval after its start at the earliest, and cost_ms * (duty - 1) after
 * its end at the earliest, so that sweeping takes at most 1/duty of the
 * time (duty >= 1). A pure function (processor.c calls it). */
int64_t lw_progress_next_sweep(int64_t started_ms, int64_t ended_ms,
			       int64_t cost_ms, int64_t interval_ms, int duty);

typedef struct lw_commit_point {
	int topic;
	int32_t partition;
	int64_t offset; /* to commit */
	int64_t need;	/* for the metadata */
} lw_commit_point;

/* Fills up to max points for assigned partitions with something to commit
 * (changed since the last lw_progress_committed() if only_changed). Returns
 * the count. */
size_t lw_progress_commit_points(lw_progress *pg, lw_commit_point *out,
				 size_t max, int only_changed);
void lw_progress_committed(lw_progress *pg, const lw_commit_point *pts,
			   size_t n);
size_t lw_progress_assigned(const lw_progress *pg);

int lw_progress_format_metadata(int64_t need, int64_t wm, char *buf,
				size_t size);
/* Returns 0 and sets *need if md is ours; -1 otherwise. */
/* *wm = INT64_MIN when the metadata has none. */
int lw_progress_parse_metadata(const void *md, size_t len, int64_t *need,
			       int64_t *wm);

#endif
