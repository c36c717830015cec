/* traffic: synthetic lab-result and notification traffic with ground truth.
 *
 * One generator is shared by the processor's demo mode, the integration
 * tests and the benchmarks, so that all of them agree on what "correct"
 * means. From a seed it builds a world of specimens (results, contacts,
 * notifications), injects labelled faults and bad messages, encodes every
 * event in the Confluent wire format (byte 0 = 0, bytes 1-4 big-endian
 * schema ID, then Avro binary) and hands the messages to a callback in
 * produce order. Alongside it writes a truth file (TSV):
 *
 *   ALERT <rule> <specimen_id> <severity> <result_idx> <trigger_idx>
 *   DLQ   <reason> <source_topic> <key or -> <idx>
 *   # comments; among them, before a fault's ALERT lines, the label
 *   # FAULT <kind> <specimen_id> late_after=<k> targets=<n>
 *           first_target=<Y or -> [null_code]
 *   # complete messages=<n>          (last line, only after a full run)
 *
 * where an idx is the message's 0-based position in the whole emitted
 * stream (both topics, bad messages included), result_idx is the specimen's
 * last result message and trigger_idx the message after which the incident
 * first exists. The output depends on the configuration only: same config
 * and seed, same bytes and same truth, on every machine. Nothing here talks
 * to Kafka or reads a clock.
 *
 * Writer schemas: 1 = schemas/LabResult.avsc, 2 = schemas/NotificationSent
 * .avsc, 101/102 = the evolved writers in schemas/registry/ (embedded below;
 * the unit tests check they match the files). */
#ifndef LW_TRAFFIC_H
#define LW_TRAFFIC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LW_TRAFFIC_SCHEMA_ID_LABRESULT_EVOLVED	  101
#define LW_TRAFFIC_SCHEMA_ID_NOTIFICATION_EVOLVED 102
#define LW_TRAFFIC_SCHEMA_ID_UNKNOWN		  9999 /* used by unknown_schema */
#define LW_TRAFFIC_OVERSIZED_BYTES		  300000 /* source_system of "oversized" */

/* JSON text of the evolved writer schemas, identical to
 * schemas/registry/101-LabResult-evolved.avsc and 102-...; static storage. */
extern const char lw_traffic_schema_labresult_evolved_json[];
extern const char lw_traffic_schema_notification_evolved_json[];

/* The writer schema JSON for an ID the generator uses (1, 2, 101, 102), or
 * NULL. Static storage. */
const char *lw_traffic_writer_schema_json(int32_t id);

/* Injected fault kinds; each is one specimen X, and exactly these incidents
 * (all under X; targets Y get none):
 *   pos_told_neg           RESULT_MISMATCH CRITICAL
 *   neg_told_pos           RESULT_MISMATCH HIGH
 *   stale_same_code        STALE_VERSION HIGH
 *   stale_wrong_code       RESULT_MISMATCH CRITICAL, STALE_VERSION HIGH
 *   wrong_recipient        WRONG_RECIPIENT CRITICAL (HIGH: null_code variant)
 *   batch_fanout           FANOUT, WRONG_RECIPIENT, RECORD_MISMATCH, CRITICAL
 *   record_mismatch_single WRONG_RECIPIENT, RECORD_MISMATCH, CRITICAL
 * batch_fanout and record_mismatch_single add 5..62 (fanout_min..max) or 1
 * results-only target specimens, counted in cfg.specimens. */
typedef enum lw_traffic_fault {
	LW_TRAFFIC_FAULT_POS_TOLD_NEG,
	LW_TRAFFIC_FAULT_NEG_TOLD_POS,
	LW_TRAFFIC_FAULT_STALE_SAME_CODE,
	LW_TRAFFIC_FAULT_STALE_WRONG_CODE,
	LW_TRAFFIC_FAULT_WRONG_RECIPIENT,
	LW_TRAFFIC_FAULT_BATCH_FANOUT,
	LW_TRAFFIC_FAULT_RECORD_MISMATCH_SINGLE,
	LW_TRAFFIC_FAULT_COUNT
} lw_traffic_fault;

/* Bad messages, extra to the scenario (no truth line depends on them); the
 * name is the dead-letter reason in the truth file. All but missing_key
 * carry a specimen "SP9........" that occurs nowhere else, keyed by it:
 *   bad_magic          byte 0 is 1
 *   unknown_schema     schema ID 9999
 *   malformed_avro     a valid message cut short, or 11..32 0xff bytes
 *   empty_specimen_id  valid Avro with specimen_id ""
 *   oversized          valid LabResult (ID 1), source_system 300,000 bytes
 *   empty_value        zero-length value (librdkafka consumers see
 *                      payload NULL, len 0)
 *   missing_key        an exact copy of the clean message just before it,
 *                      with a null key: processed normally AND dead-lettered
 * Not bad: ~0.5% of clean messages are keyed by another specimen's ID; they
 * count under the value's specimen_id. */
typedef enum lw_traffic_dlq {
	LW_TRAFFIC_DLQ_BAD_MAGIC,
	LW_TRAFFIC_DLQ_UNKNOWN_SCHEMA,
	LW_TRAFFIC_DLQ_MALFORMED_AVRO,
	LW_TRAFFIC_DLQ_EMPTY_SPECIMEN_ID,
	LW_TRAFFIC_DLQ_OVERSIZED,
	LW_TRAFFIC_DLQ_EMPTY_VALUE,
	LW_TRAFFIC_DLQ_MISSING_KEY,
	LW_TRAFFIC_DLQ_COUNT
} lw_traffic_dlq;

typedef enum lw_traffic_rule {
	LW_TRAFFIC_RULE_RESULT_MISMATCH,
	LW_TRAFFIC_RULE_STALE_VERSION,
	LW_TRAFFIC_RULE_WRONG_RECIPIENT,
	LW_TRAFFIC_RULE_FANOUT,
	LW_TRAFFIC_RULE_RECORD_MISMATCH,
	LW_TRAFFIC_RULE_COUNT
} lw_traffic_rule;

typedef enum lw_traffic_severity {
	LW_TRAFFIC_SEV_CRITICAL,
	LW_TRAFFIC_SEV_HIGH,
	LW_TRAFFIC_SEV_COUNT
} lw_traffic_severity;

/* "pos_told_neg", "bad_magic", "RESULT_MISMATCH", "CRITICAL", ...; static
 * strings, "?" for an out-of-range value. */
const char *lw_traffic_fault_name(lw_traffic_fault f);
const char *lw_traffic_dlq_name(lw_traffic_dlq d);
const char *lw_traffic_rule_name(lw_traffic_rule r);
const char *lw_traffic_severity_name(lw_traffic_severity s);

typedef struct lw_traffic_config {
	uint64_t seed;
	uint64_t specimens;	   /* distinct specimens with results (incl. the
				    * batch_fanout / record_mismatch targets) */
	double fault_rate;	   /* share of specimens that are a fault X */
	double bad_rate;	   /* extra bad messages per regular message */
	double evolved_share;	   /* share of messages written with 101/102 */
	double late_share;	   /* share of notified specimens whose results
				    * are produced after their first notification */
	int64_t start_ms;	   /* event time of the first specimen */
	int64_t gap_ms;		   /* mean gap between specimen arrivals */
	int fanout_min;		   /* batch_fanout recipients K, inclusive; */
	int fanout_max;		   /* 4 <= min <= max <= 500 */
	const char *results_topic; /* not copied: must outlive t */
	const char *notifications_topic; /* idem */
} lw_traffic_config;

/* seed 1, 1000 specimens, fault 0.02, bad 0.002, evolved 0.10, late 0.10,
 * start 1767571200000 (2026-01-05T00:00Z), gap 1500 ms, fanout 5..62,
 * topics "lab.results" and "lab.notifications". */
void lw_traffic_config_defaults(lw_traffic_config *c);

typedef struct lw_traffic_msg {
	const char *topic;
	const void *key; /* NULL = null key */
	size_t key_len;
	const void *value; /* never NULL; value_len 0 = empty value */
	size_t value_len;
	int64_t timestamp_ms; /* the event's own time */
	uint64_t index;	      /* produce index, 0-based */
} lw_traffic_msg;

/* Called once per message in produce order. The pointers in *m are valid
 * only during the call. Return 0 to go on, non-zero to stop the run. */
typedef int (*lw_traffic_emit_cb)(const lw_traffic_msg *m, void *opaque);

typedef struct lw_traffic lw_traffic;

/* Checks the config and prepares the encoders. Returns NULL with a reason
 * in errstr on a bad config. The config is copied (its topic strings are
 * not). Free with lw_traffic_destroy(). */
lw_traffic *lw_traffic_new(const lw_traffic_config *c, char *errstr,
			   size_t errstr_size);

/* Generates the whole scenario once: calls emit for every message and, if
 * truth is not NULL, writes the truth lines to it (not closed, not flushed
 * beyond stdio's own buffering). Memory stays bounded by the specimens in
 * flight, not by cfg.specimens. Returns 0 when everything was emitted,
 * 1 when emit asked to stop (the truth is then incomplete), -1 on a truth
 * write error or a failed internal consistency check (logged). A
 * generator runs once: a second call returns -1. */
int lw_traffic_run(lw_traffic *t, lw_traffic_emit_cb emit, void *opaque,
		   FILE *truth);

typedef struct lw_traffic_stats {
	uint64_t messages;	/* all emitted, bad ones included */
	uint64_t results;	/* messages on the results topic */
	uint64_t notifications; /* messages on the notifications topic */
	uint64_t specimens;
	uint64_t targets; /* results-only specimens a fault points at */
	uint64_t late_specimens;
	uint64_t corrections;  /* clean specimens with a v2 CORRECTED */
	uint64_t duplicates;   /* duplicate deliveries (same notification) */
	uint64_t evolved;      /* regular messages written with 101/102 */
	uint64_t key_mismatch; /* clean messages keyed by another specimen */
	uint64_t faults[LW_TRAFFIC_FAULT_COUNT];
	uint64_t dlq[LW_TRAFFIC_DLQ_COUNT];	/* = DLQ lines per reason */
	uint64_t alerts[LW_TRAFFIC_RULE_COUNT]; /* = ALERT lines per rule */
	uint64_t alerts_by_severity[LW_TRAFFIC_SEV_COUNT];
} lw_traffic_stats;

/* Counters so far (complete after lw_traffic_run returned 0). */
void lw_traffic_get_stats(const lw_traffic *t, lw_traffic_stats *out);

void lw_traffic_destroy(lw_traffic *t);

#endif
