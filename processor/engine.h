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
 * whose events are replayed is recorded as alerted but not sent again. */
#ifndef LW_ENGINE_H
#define LW_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "codec.h"
#include "codes.h"
#include "config.h"
#include "rules.h"
#include "state.h"

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
	size_t evict_budget; /* state entries removed per message at most */
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
} lw_engine_stats;

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

/* Sends the updates of incidents that grew since the last flush (new
 * incidents are sent at once; growth is coalesced so a mailing to 62
 * people is a handful of messages, not 62). Call after each batch. */
void lw_engine_flush(lw_engine *e);

/* Bounded housekeeping between batches: expiry and caps. */
void lw_engine_housekeeping(lw_engine *e, size_t budget);

void lw_engine_get_stats(const lw_engine *e, lw_engine_stats *out);
lw_state *lw_engine_state(lw_engine *e);
const lw_codec *lw_engine_codec(const lw_engine *e);
/* Drops all join state (partitions were reassigned). */
void lw_engine_reset_state(lw_engine *e);

#endif
