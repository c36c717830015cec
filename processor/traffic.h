/* traffic: synthetic lab-result and notification traffic with ground truth.
 *
 * One generator is shared by the processor's demo mode, the integration
 * tests and the benchmarks, so that all of them agree on what "correct"
 * means. From a seed it builds a world of specimens (results, contacts,
 * notifications), injects labelled faults and bad messages, encodes every
 * event in the Confluent wire format (byte 0 = 0, bytes 1-4 big-endian
 * schema ID, then Avro binary) and hands the messages to a callback in
 * produce order. Alongside it writes a truth file (TSV), format v2:
 *
 *   ALERT <rule> <specimen_id> <severity> <result_idx> <trigger_idx> [<due>]
 *   DLQ   <reason> <source_topic> <key or -> <idx>
 *   # comments; among them
 *   # FAULT <kind> <specimen_id> late_after=<k> targets=<n>
 *           first_target=<Y or -> [null_code] [variant=<v>]
 *           [batch=<batch_id> burst=<n>]          (volume_surge)
 *   # FANIN_ACCEPT <specimen_id> <sid>,<sid>,...   (before a FANIN line)
 *   # SURGE start=<ms> rule=<cap|baseline> count=<n> burst=<yes|no>
 *                                                  (before a surge line)
 *   # complete messages=<n>          (last line, only after a full run)
 *
 * where an idx is the message's 0-based position in the whole emitted
 * stream (both topics, bad messages included), result_idx is the specimen's
 * last result message and trigger_idx the message after which the incident
 * first exists. Lines of the five content rules (RESULT_MISMATCH ..
 * RECORD_MISMATCH) have exactly six fields, as in v1. The others:
 *
 *   timer rules (MISSING_NOTIFICATION, CORRECTED_AFTER_NOTIFY,
 *   ORPHAN_NOTIFICATION, SENT_BEFORE_FINAL, SENT_AFTER_WITHDRAWAL): no
 *   message triggers them, the stream time does: trigger_idx is "-" and a
 *   seventh field gives the due time (event-time ms at which the incident
 *   begins to hold). result_idx is "-" for a specimen without results.
 *   Their lines, with the rest of their specimen's block, are written once
 *   the due time is certainly passed, so they may come late in the file.
 *   FANIN: a normal six-field line; its specimen is the one of the earliest
 *   notification of the episode in produce order. With notifications
 *   arriving in another order (several partitions) the processor may name
 *   any specimen listed on the FANIN_ACCEPT line just before it.
 *   VOLUME_SURGE: "ALERT VOLUME_SURGE - HIGH - - <E-1>": no specimen, no
 *   message; the seventh field is the last millisecond of the bucket whose
 *   close starts the surge (the alert's event_time).
 *
 * The timer truth is exact for any run in which the stream time ends at or
 * after H = (newest event time emitted) - lateness_ms - 1, and no later than
 * H + 2 h: the generator fails (-1) rather than put a due time or a surge
 * start in [H - 10 min, H + 2 h], and places faults so that this does not
 * happen. It also assumes that the stream time never runs more than a
 * minute ahead of the events (live mode, idle partitions).
 *
 * The output depends on the configuration only: same config and seed, same
 * bytes and same truth, on every machine. Nothing here talks to Kafka or
 * reads a clock.
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
 * target specimens, counted in cfg.specimens; each target is notified
 * correctly itself. The kinds for the timer and cross-specimen rules:
 *   missing_notification   MISSING_NOTIFICATION: a FINAL never notified;
 *                          CRITICAL (variant=positive) or HIGH (other)
 *   corrected_after_notify CORRECTED_AFTER_NOTIFY HIGH: v1 notified, v2
 *                          CORRECTED later, not re-notified within the SLA
 *                          (variant=never) or only after it (late)
 *   orphan_notification    ORPHAN_NOTIFICATION HIGH: notifications for a
 *                          specimen that never has a result
 *   sent_before_final      SENT_BEFORE_FINAL HIGH: sent while a PRELIMINARY
 *                          (variant=preliminary) or a FINAL with
 *                          retest_pending (retest_pending) was in force;
 *                          the final result is notified properly later
 *   sent_after_withdrawal  SENT_AFTER_WITHDRAWAL HIGH: sent after the
 *                          result was CANCELLED / ENTERED_IN_ERROR
 *   fanin                  FANIN CRITICAL under X, plus WRONG_RECIPIENT
 *                          CRITICAL under X and each of its fanin_threshold
 *                          .. +2 fellow members: one stranger's key gets
 *                          all their records within minutes
 *   volume_surge           one VOLUME_SURGE (no specimen) when the config
 *                          makes surge_burst notifications within ~3 min a
 *                          surge; X and its surge_burst - 1 fellows are
 *                          clean each. At most one per run.
 * The timer kinds are only placed where their due time is certainly before
 * the end of the run (see above); otherwise another kind is used. */
#define LW_TRAFFIC_FAULTS_CLASSIC 0x7fu	  /* the first seven kinds */
#define LW_TRAFFIC_FAULTS_NEW	  0x3f80u /* the other seven */
#define LW_TRAFFIC_FAULTS_ALL	  0x3fffu
typedef enum lw_traffic_fault {
	LW_TRAFFIC_FAULT_POS_TOLD_NEG,
	LW_TRAFFIC_FAULT_NEG_TOLD_POS,
	LW_TRAFFIC_FAULT_STALE_SAME_CODE,
	LW_TRAFFIC_FAULT_STALE_WRONG_CODE,
	LW_TRAFFIC_FAULT_WRONG_RECIPIENT,
	LW_TRAFFIC_FAULT_BATCH_FANOUT,
	LW_TRAFFIC_FAULT_RECORD_MISMATCH_SINGLE,
	LW_TRAFFIC_FAULT_MISSING_NOTIFICATION,
	LW_TRAFFIC_FAULT_CORRECTED_AFTER_NOTIFY,
	LW_TRAFFIC_FAULT_ORPHAN_NOTIFICATION,
	LW_TRAFFIC_FAULT_SENT_BEFORE_FINAL,
	LW_TRAFFIC_FAULT_SENT_AFTER_WITHDRAWAL,
	LW_TRAFFIC_FAULT_FANIN,
	LW_TRAFFIC_FAULT_VOLUME_SURGE,
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

/* Same order and names as lw_rule (rules.h). */
typedef enum lw_traffic_rule {
	LW_TRAFFIC_RULE_RESULT_MISMATCH,
	LW_TRAFFIC_RULE_STALE_VERSION,
	LW_TRAFFIC_RULE_WRONG_RECIPIENT,
	LW_TRAFFIC_RULE_FANOUT,
	LW_TRAFFIC_RULE_RECORD_MISMATCH,
	LW_TRAFFIC_RULE_MISSING_NOTIFICATION,
	LW_TRAFFIC_RULE_CORRECTED_AFTER_NOTIFY,
	LW_TRAFFIC_RULE_ORPHAN_NOTIFICATION,
	LW_TRAFFIC_RULE_SENT_BEFORE_FINAL,
	LW_TRAFFIC_RULE_SENT_AFTER_WITHDRAWAL,
	LW_TRAFFIC_RULE_FANIN,
	LW_TRAFFIC_RULE_VOLUME_SURGE,
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
	uint64_t specimens;	   /* distinct specimens (incl. the extra
				    * specimens of fault groups) */
	double fault_rate;	   /* share of specimens that are a fault X */
	double bad_rate;	   /* extra bad messages per regular message */
	double key_mismatch;	   /* clean messages keyed by another
				      specimen (0.005); 0 keeps the input
				      co-partitioned for several instances */
	double evolved_share;	   /* share of messages written with 101/102 */
	double late_share;	   /* share of notified specimens whose results
				    * are produced after their first notification */
	int64_t start_ms;	   /* event time of the first specimen */
	int64_t gap_ms;		   /* mean gap between specimen arrivals */
	int fanout_min;		   /* batch_fanout recipients K, inclusive; */
	int fanout_max;		   /* 4 <= min <= max <= 500 */
	const char *results_topic; /* not copied: must outlive t */
	const char *notifications_topic; /* idem */
	uint32_t faults;		 /* kinds injected: bit 1 << kind */
	uint32_t surge_burst; /* volume_surge notifications, 1..20000 */

	/* The processor's rule settings (its property names in brackets):
	 * the truth is exact for a processor run with the same values, and
	 * clean traffic is timed from them (clean notifications come within
	 * each SLA, minus a margin), so it stays clean under them. Per-code
	 * SLAs (sla.codes) are not modelled: do not set them. */
	int64_t clock_skew_ms;	   /* [clock.skew.ms] 0..60 s */
	int64_t lateness_ms;	   /* [time.lateness.ms] 0..10 min */
	int64_t sla_critical_ms;   /* [sla.critical.ms] >= 10 min */
	int64_t sla_default_ms;	   /* [sla.default.ms] >= 10 min */
	int64_t orphan_grace_ms;   /* [orphan.grace.ms] */
	int64_t fanin_window_ms;   /* [fanin.window.ms] >= 10 min */
	uint32_t fanin_threshold;  /* [fanin.threshold] 0 = off; <= 100 */
	int64_t surge_bucket_ms;   /* the processor's bucket, 60 s */
	int64_t surge_window_ms;   /* [surge.window.ms] */
	uint64_t surge_cap;	   /* [surge.cap] 0 = no cap rule */
	int64_t surge_short_ms;	   /* [surge.short.ms] */
	int64_t surge_baseline_ms; /* [surge.baseline.ms] */
	double surge_factor;	   /* [surge.factor] 0 = no baseline rule */
	uint64_t surge_min_count;  /* [surge.min.count] */
} lw_traffic_config;

/* seed 1, 1000 specimens, fault 0.02, bad 0.002, evolved 0.10, late 0.10,
 * start 1767571200000 (2026-01-05T00:00Z), gap 1500 ms, fanout 5..62,
 * topics "lab.results" and "lab.notifications", faults classic, burst 400;
 * the rule settings at the processor's defaults: skew 5 s, lateness 5 s,
 * SLA 1 h (positive) / 24 h, orphan grace 1 h, fan-in 24 h / 5, surge
 * bucket 60 s, window 24 h, cap 3000, short 1 h, baseline 24 h, factor 10,
 * min count 100. NB: at the default gap, clean traffic itself exceeds the
 * cap of 3000 a day from about 1,300 specimens on; the truth then has a
 * VOLUME_SURGE line (exact, but not a fault). */
void lw_traffic_config_defaults(lw_traffic_config *c);

/* Sets one rule setting by the processor's property name ("sla.critical.ms",
 * "surge.factor", ... as listed above, plus "surge.bucket.ms"); durations
 * are integer milliseconds. Returns 0, or -1 with a reason in errstr for an
 * unknown name or a malformed value (ranges are checked by lw_traffic_new).
 */
int lw_traffic_config_set(lw_traffic_config *c, const char *name,
			  const char *value, char *errstr, size_t errstr_size);

/* Parses a comma-separated list of fault kind names and the groups
 * "classic", "new", "all" and "none" into a mask for cfg.faults. Returns 0,
 * or -1 with the bad name in errstr. */
int lw_traffic_faults_parse(const char *list, uint32_t *mask, char *errstr,
			    size_t errstr_size);

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
	uint64_t targets; /* extra specimens of fault groups: targets,
			   * fan-in fellows, surge burst */
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
