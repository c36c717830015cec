/* engine: one input message in, dead letters and alerts out; no Kafka.
 *
 * The engine is the whole per-message path: size check, decode, key check,
 * apply to the join state, evaluate the rules on the touched specimen,
 * compare with what was already alerted, and hand new or grown incidents to
 * the host. The host (the Kafka processor, the demo, a benchmark, a test)
 * provides three callbacks and owns everything about delivery. Callbacks run
 * synchronously inside lw_engine_process(); the alert and message they get
 * are valid only during the call.
 *
 * Replays: when the host re-reads input to rebuild state after a restart,
 * it answers `replayed(topic, partition, offset)` = 1 for events whose
 * alerts were already delivered before the restart. An incident all of
 * whose events are replayed is recorded as alerted but not sent again;
 * timer alerts (rules whose incident starts at a due time, and surges) are
 * not sent again when due at or before the stream time delivered before
 * the restart (lw_engine_set_delivered_watermark).
 *
 * Time: the engine keeps the stream time (clock.h) from the event times it
 * decodes; lw_engine_tick() advances it (by the wall clock too when inputs
 * are idle, in live mode) and runs the timers that came due, with a work
 * budget. In replay mode (clock.idle_timeout_ms = 0) every message advances
 * time and all timers due before it run first, so the output depends on
 * the input alone. Late events (clock.h) are applied and counted by
 * reason (lw_engine_late_reason). The cause passed with a timer alert is
 * NULL: no single input message caused it. */
#ifndef LW_ENGINE_H
#define LW_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "clock.h"
#include "codec.h"
#include "codes.h"
#include "config.h"
#include "fanin.h"
#include "rules.h"
#include "state.h"
#include "surge.h"

typedef struct lw_msg {
	int topic;		/* LW_TOPIC_RESULTS / LW_TOPIC_NOTIFICATIONS */
	const char *topic_name; /* must outlive the engine (kept for deferred
				   updates); key and value need not */
	int32_t partition;
	int64_t offset;
	int64_t timestamp_ms; /* Kafka message timestamp, -1 if none */
	const void *key;      /* NULL = null key */
	size_t key_len;
	const void *value; /* NULL = null value */
	size_t value_len;
} lw_msg;

typedef struct lw_engine_callbacks {
	void (*alert)(void *opaque, const lw_alert *a, const lw_msg *cause);
	void (*deadletter)(void *opaque, const lw_msg *m, const char *reason,
			   const char *detail, int32_t schema_id,
			   int processed);
	/* May be NULL: nothing is replayed. */
	int (*replayed)(void *opaque, int topic, int32_t partition,
			int64_t offset);
	void *opaque;
} lw_engine_callbacks;

typedef struct lw_engine_config {
	size_t max_message_bytes; /* larger values are dead-lettered */
	uint32_t max_evidence;
	lw_rules_config rules;
	lw_state_config state;
	lw_clock_config clock;
	lw_surge_config surge;
	lw_fanin_config fanin;
	const char *sla_codes; /* "CODE=ms,..." per-code SLA overrides; the
				  engine interns the codes; may be NULL */
	size_t evict_budget;   /* state entries removed per message at most */
	size_t timer_budget;   /* due entries run per message (live mode) */
	int64_t (*wall_ms)(void); /* wall clock for idle inputs; default
				     lw_mono_ms, tests pass a fake */
} lw_engine_config;

void lw_engine_config_defaults(lw_engine_config *c);
/* Defaults, then every engine setting of the property table (config.h):
 * the one place that maps user settings to the engine. */
void lw_engine_config_from(lw_engine_config *c, const lw_config *cfg);

typedef struct lw_engine_stats {
	uint64_t consumed[LW_TOPIC_COUNT];
	uint64_t applied[LW_TOPIC_COUNT];
	uint64_t duplicates;
	uint64_t deadletter[LW_DECODE_STATUS_COUNT + 2]; /* + oversized,
							    missing_key */
	uint64_t deadletter_total;
	uint64_t key_mismatch;
	uint64_t dropped_events; /* per-specimen caps */
	uint64_t alerts[LW_RULE_COUNT];
	uint64_t alerts_total;
	uint64_t alerts_suppressed_replay;
	uint64_t deadletter_suppressed_replay;
	int64_t stream_time_ms; /* newest event time seen */
	int64_t watermark_ms; /* stream time (clock.h), LW_TIME_NONE if none */
	uint64_t late[LW_TOPIC_COUNT][3]; /* by lw_engine_late_reason */
	uint64_t late_total;
	uint64_t timers_run; /* due entries handed over: evaluated, or expired
				unloaded when only their TTL was due */
	uint64_t alerts_suppressed_watermark; /* timer alerts due before the
						 delivered watermark */
	lw_fanin_stats fanin;
	lw_surge_stats surge;
} lw_engine_stats;

/* Why a late event is late (most specific first):
 *   0 behind_watermark  older than the stream time allows; applied
 *   1 after_timer       its specimen already had a timer alert (a decision
 *                       the event might have changed); applied
 *   2 beyond_ttl        older than the stream time - state.ttl: its record
 *                       may have expired already; applied to a new one */
const char *lw_engine_late_reason(int reason);

/* Indices into lw_engine_stats.deadletter past the decode statuses. */
#define LW_DLQ_OVERSIZED   LW_DECODE_STATUS_COUNT
#define LW_DLQ_MISSING_KEY (LW_DECODE_STATUS_COUNT + 1)
const char *lw_engine_dlq_reason(int idx);

typedef struct lw_engine lw_engine;

/* The registry is borrowed and must outlive the engine. */
lw_engine *lw_engine_new(const lw_engine_config *cfg, const lw_registry *reg,
			 const lw_engine_callbacks *cb);
void lw_engine_destroy(lw_engine *e);

void lw_engine_process(lw_engine *e, const lw_msg *m);
/* Optional, for speed only: tells the engine about a message it will be
 * given a few calls from now (LW_ENGINE_AHEAD is the distance it is built
 * for), so the cache misses of its state lookup overlap with the work on
 * the messages before it. Only the message key is read, during this call;
 * hints change no result, and a hint never followed by its message is
 * harmless. */
#define LW_ENGINE_AHEAD 4
void lw_engine_hint(lw_engine *e, const lw_msg *ahead);

/* Sends the updates of incidents that grew since the last flush (new
 * incidents are sent at once; growth is coalesced so a mailing to 62
 * people is a handful of messages, not 62). Call after each batch. */
void lw_engine_flush(lw_engine *e);

/* Bounded housekeeping between batches: advances the stream time, runs
 * due timers and surges, expires state, applies the caps; at most about
 * budget entries of each kind. */
void lw_engine_housekeeping(lw_engine *e, size_t budget);
/* Advances the stream time and runs due timers (at most budget entries);
 * part of housekeeping; replay calls it once at the end. */
void lw_engine_tick(lw_engine *e, size_t budget);

/* Input partitions (live mode): an assigned partition holds time back
 * until it delivers or goes idle. */
void lw_engine_add_source(lw_engine *e, int topic, int32_t partition);
void lw_engine_reset_sources(lw_engine *e);
/* The consumer reached the end of (topic, partition): see clock.h,
 * "end-aware" (the engine is end-aware when cfg.clock.end_aware is set). */
void lw_engine_source_at_end(lw_engine *e, int topic, int32_t partition);
/* Stream time (LW_TIME_NONE if none yet). */
int64_t lw_engine_watermark(const lw_engine *e);
/* The stream time by which every due timer had run (at the last pass that
 * finished within its budget); what a commit may call delivered once the
 * alerts sent so far are acknowledged. */
int64_t lw_engine_settled_watermark(const lw_engine *e);
/* After a restart: timer and surge alerts due at or before wm were
 * delivered before it. */
void lw_engine_set_delivered_watermark(lw_engine *e, int64_t wm);

void lw_engine_get_stats(const lw_engine *e, lw_engine_stats *out);
lw_state *lw_engine_state(lw_engine *e);
const lw_codec *lw_engine_codec(const lw_engine *e);
/* Drops all join state, stream time, surge and fan-in state (partitions
 * were reassigned; they are rebuilt from the input). */
void lw_engine_reset_state(lw_engine *e);

#endif
