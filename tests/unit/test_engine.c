/* test_engine: the per-message path without Kafka (engine.h).
 *
 * Messages are encoded with Avro C (testutil.h) under our schema IDs 1 and
 * 2 and fed to lw_engine_process() with callbacks that record every alert
 * and dead letter. Covered: a clean flow alerts nothing; redeliveries
 * (same event_id / notification_id) change and alert nothing; an incident
 * is sent once, and again only when its distinct recipients grow or its
 * severity rises (growth coalesced until lw_engine_flush); replayed events
 * (restore after a restart) suppress incidents made only of replayed events
 * but not ones with a fresh event; oversized values, a null key (processed
 * AND dead-lettered), a key that is not the value's specimen_id (counted,
 * processed) and every decode failure. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "log.h"
#include "registry.h"
#include "schemas.h"
#include "testutil.h"

/* ---- recording callbacks ---- */

typedef struct rec_alert {
	char alert_id[33];
	uint32_t revision, recipients;
	int rule, severity;
	char specimen[32];
	int cause_topic;
	int64_t cause_offset;
} rec_alert;

typedef struct rec_dlq {
	char reason[32];
	char detail[256];
	int32_t schema_id;
	int processed;
	int topic;
	int64_t offset;
} rec_dlq;

static struct {
	rec_alert alerts[256];
	int nalerts;
	rec_dlq dlq[64];
	int ndlq;
	/* replayed: offsets below these per topic (-1: none) */
	int64_t replay_below[LW_TOPIC_COUNT];
} R;

static void on_alert(void *opaque, const lw_alert *a, const lw_msg *cause)
{
	rec_alert *r;
	(void)opaque;
	cr_assert_lt(R.nalerts, 256);
	r = &R.alerts[R.nalerts++];
	memcpy(r->alert_id, a->alert_id, 33);
	r->revision = a->revision;
	r->recipients = a->recipient_count;
	r->rule = a->rule;
	r->severity = a->severity;
	snprintf(r->specimen, sizeof r->specimen, "%s", a->specimen_id);
	r->cause_topic = cause->topic;
	r->cause_offset = cause->offset;
}

static void on_dlq(void *opaque, const lw_msg *m, const char *reason,
		   const char *detail, int32_t schema_id, int processed)
{
	rec_dlq *d;
	(void)opaque;
	cr_assert_lt(R.ndlq, 64);
	d = &R.dlq[R.ndlq++];
	snprintf(d->reason, sizeof d->reason, "%s", reason);
	snprintf(d->detail, sizeof d->detail, "%s", detail ? detail : "");
	d->schema_id = schema_id;
	d->processed = processed;
	d->topic = m->topic;
	d->offset = m->offset;
}

static int on_replayed(void *opaque, int topic, int32_t partition,
		       int64_t offset)
{
	(void)opaque;
	(void)partition;
	return offset < R.replay_below[topic];
}

/* ---- engine per test ---- */

static lw_registry *reg;
static lw_engine *eng;
static lw_engine_config ecfg;
static int64_t offsets[LW_TOPIC_COUNT];

static void setup(void)
{
	char err[256];
	memset(&R, 0, sizeof R);
	R.replay_below[0] = R.replay_below[1] = -1;
	offsets[0] = offsets[1] = 0;
	reg = lw_registry_new(NULL, err, sizeof err);
	cr_assert_not_null(reg, "%s", err);
	lw_engine_config_defaults(&ecfg);
	eng = NULL;
	lw_log_set_level(LW_LOG_ERROR); /* dead letters log warnings */
}

static void teardown(void)
{
	lw_engine_destroy(eng);
	lw_registry_destroy(reg);
}

TestSuite(engine, .init = setup, .fini = teardown);

static void start(int with_replay)
{
	lw_engine_callbacks cb = {on_alert, on_dlq,
				  with_replay ? on_replayed : NULL, NULL};
	eng = lw_engine_new(&ecfg, reg, &cb);
	cr_assert_not_null(eng);
}

static const char *const topic_names[2] = {"lab.results", "lab.notifications"};

/* Feeds raw bytes; key NULL = null key. Returns the offset used. */
static int64_t feed(int topic, const char *key, const void *value, size_t len)
{
	lw_msg m;
	memset(&m, 0, sizeof m);
	m.topic = topic;
	m.topic_name = topic_names[topic];
	m.partition = 0;
	m.offset = offsets[topic]++;
	m.timestamp_ms = -1;
	m.key = key;
	m.key_len = key ? strlen(key) : 0;
	m.value = value;
	m.value_len = len;
	lw_engine_process(eng, &m);
	return m.offset;
}

static int64_t feed_result(const tu_result *r, const char *key)
{
	tu_msg m;
	tu_encode_result(&m, lw_schema_labresult_json, 1, r);
	return feed(LW_TOPIC_RESULTS, key, m.b, m.len);
}

static int64_t feed_notif(const tu_notif *n, const char *key)
{
	tu_msg m;
	tu_encode_notif(&m, lw_schema_notification_json, 2, n);
	return feed(LW_TOPIC_NOTIFICATIONS, key, m.b, m.len);
}

static tu_result res(const char *event_id, const char *spec, const char *code,
		     int32_t version, int64_t t)
{
	tu_result r = tu_result_example();
	r.event_id = event_id;
	r.specimen_id = spec;
	r.result_code = code;
	r.result_version = version;
	r.recorded_at = t;
	r.status = version > 1 ? "CORRECTED" : "FINAL";
	r.ncontacts = 0;
	return r;
}

static tu_notif note(const char *id, const char *spec, const char *to,
		     const char *code, int64_t t)
{
	tu_notif n = tu_notif_example();
	n.notification_id = id;
	n.specimen_id = spec;
	n.recipient_key = to;
	n.result_code = code;
	n.has_version = 0;
	n.intended = NULL;
	n.batch_id = NULL;
	n.sent_at = t;
	return n;
}

static lw_engine_stats stats(void)
{
	lw_engine_stats s;
	lw_engine_get_stats(eng, &s);
	return s;
}

static int nrule(int rule)
{
	int n = 0;
	for (int i = 0; i < R.nalerts; i++)
		n += R.alerts[i].rule == rule;
	return n;
}

static const rec_alert *last_of(int rule)
{
	for (int i = R.nalerts; i-- > 0;)
		if (R.alerts[i].rule == rule)
			return &R.alerts[i];
	cr_assert_fail("no %d alert", rule);
	return NULL;
}

/* ---- tests ---- */

Test(engine, clean_flow_alerts_nothing)
{
	tu_result r = res("r1", "S1", "POS", 1, 1000);
	tu_notif n = note("n1", "S1", "ck-1", "pos", 2000);
	r.contacts[0] = "ck-1";
	r.ncontacts = 1;
	start(0);
	feed_result(&r, "S1");
	feed_notif(&n, "S1");
	lw_engine_flush(eng);
	cr_assert_eq(R.nalerts, 0);
	cr_assert_eq(R.ndlq, 0);
	cr_assert_eq(stats().consumed[LW_TOPIC_RESULTS], 1);
	cr_assert_eq(stats().consumed[LW_TOPIC_NOTIFICATIONS], 1);
	cr_assert_eq(stats().applied[LW_TOPIC_RESULTS], 1);
	cr_assert_eq(stats().applied[LW_TOPIC_NOTIFICATIONS], 1);
	cr_assert_eq(stats().stream_time_ms, 2000);
	cr_assert_not_null(lw_state_find(lw_engine_state(eng), "S1", 2));
}

Test(engine, mismatch_alerts_once_and_duplicates_nothing)
{
	tu_result r = res("r1", "S1", "POS", 1, 1000);
	tu_notif n = note("n1", "S1", "a", "NEG", 2000);
	int64_t off;
	start(0);
	feed_result(&r, "S1");
	off = feed_notif(&n, "S1");
	cr_assert_eq(R.nalerts, 1);
	cr_assert_eq(R.alerts[0].rule, LW_RULE_RESULT_MISMATCH);
	cr_assert_eq(R.alerts[0].severity, LW_SEV_CRITICAL);
	cr_assert_str_eq(R.alerts[0].specimen, "S1");
	cr_assert_eq(R.alerts[0].cause_topic, LW_TOPIC_NOTIFICATIONS);
	cr_assert_eq(R.alerts[0].cause_offset, off);
	cr_assert_eq(R.alerts[0].recipients, 1);
	cr_assert_eq(stats().alerts[LW_RULE_RESULT_MISMATCH], 1);
	cr_assert_eq(stats().alerts_total, 1);
	/* redeliveries at new offsets */
	feed_notif(&n, "S1");
	feed_result(&r, "S1");
	n.sent_at = 9999; /* same ID, other content: still the same event */
	n.recipient_key = "b";
	feed_notif(&n, "S1");
	lw_engine_flush(eng);
	cr_assert_eq(R.nalerts, 1);
	cr_assert_eq(stats().duplicates, 3);
	cr_assert_eq(stats().applied[LW_TOPIC_NOTIFICATIONS], 1);
	cr_assert_eq(R.ndlq, 0);
}

Test(engine, reemits_only_when_recipients_grow)
{
	tu_result r = res("r1", "S1", "POS", 1, 1000);
	tu_notif n;
	char aid[33];
	uint32_t rev;
	ecfg.rules.fanout_threshold = 1000; /* keep FANOUT out of it */
	start(0);
	feed_result(&r, "S1");
	n = note("n1", "S1", "a", "NEG", 2000);
	feed_notif(&n, "S1");
	cr_assert_eq(R.nalerts, 1);
	memcpy(aid, R.alerts[0].alert_id, 33);
	rev = R.alerts[0].revision;
	/* the same recipient again: more messages, same people */
	n = note("n2", "S1", "a", "neg", 2100);
	feed_notif(&n, "S1");
	lw_engine_flush(eng);
	cr_assert_eq(R.nalerts, 1, "no new recipient, no new alert");
	/* three more people in one batch: one update, after the flush */
	n = note("n3", "S1", "b", "NEG", 2200);
	feed_notif(&n, "S1");
	n = note("n4", "S1", "c", "NEG", 2300);
	feed_notif(&n, "S1");
	n = note("n5", "S1", "d", "NEG", 2400);
	feed_notif(&n, "S1");
	cr_assert_eq(R.nalerts, 1, "growth waits for the flush");
	lw_engine_flush(eng);
	cr_assert_eq(R.nalerts, 2);
	cr_assert_str_eq(R.alerts[1].alert_id, aid, "same incident");
	cr_assert_eq(R.alerts[1].recipients, 4);
	cr_assert_gt(R.alerts[1].revision, rev);
	cr_assert_eq(R.alerts[1].cause_offset, 4,
		     "the last event that grew it");
	/* nothing pending: a second flush sends nothing */
	lw_engine_flush(eng);
	cr_assert_eq(R.nalerts, 2);
}

Test(engine, reemits_when_severity_rises)
{
	tu_result r = res("r1", "S1", "POS", 1, 1000);
	tu_notif n;
	r.contacts[0] = "c1";
	r.ncontacts = 1;
	ecfg.rules.fanout_threshold = 1000;
	start(0);
	feed_result(&r, "S1");
	n = note("n1", "S1", "x", NULL, 2000); /* "you have a result" */
	feed_notif(&n, "S1");
	cr_assert_eq(nrule(LW_RULE_WRONG_RECIPIENT), 1);
	cr_assert_eq(last_of(LW_RULE_WRONG_RECIPIENT)->severity, LW_SEV_HIGH);
	/* the same stranger is now told the result */
	n = note("n2", "S1", "x", "POS", 2100);
	feed_notif(&n, "S1");
	lw_engine_flush(eng);
	cr_assert_eq(nrule(LW_RULE_WRONG_RECIPIENT), 2);
	cr_assert_eq(last_of(LW_RULE_WRONG_RECIPIENT)->severity,
		     LW_SEV_CRITICAL);
	cr_assert_eq(last_of(LW_RULE_WRONG_RECIPIENT)->recipients, 1);
	cr_assert_str_eq(R.alerts[0].alert_id,
			 last_of(LW_RULE_WRONG_RECIPIENT)->alert_id);
	/* and again with nothing new: silence */
	n = note("n3", "S1", "x", NULL, 2200);
	feed_notif(&n, "S1");
	lw_engine_flush(eng);
	cr_assert_eq(nrule(LW_RULE_WRONG_RECIPIENT), 2);
}

Test(engine, new_incidents_are_sent_at_once)
{
	tu_result r = res("r1", "S1", "POS", 1, 1000);
	tu_notif n;
	start(0);
	feed_result(&r, "S1");
	n = note("n1", "S1", "a", "POS", 2000);
	feed_notif(&n, "S1");
	n = note("n2", "S1", "b", "POS", 2000);
	feed_notif(&n, "S1");
	cr_assert_eq(R.nalerts, 0, "two recipients, no contacts: fine");
	n = note("n3", "S1", "c", "POS", 2000);
	feed_notif(&n, "S1");
	cr_assert_eq(nrule(LW_RULE_FANOUT), 1, "before any flush");
	cr_assert_eq(last_of(LW_RULE_FANOUT)->recipients, 3);
}

Test(engine, replayed_incidents_are_not_sent_again)
{
	tu_result r = res("r1", "S1", "POS", 1, 1000);
	tu_notif n;
	ecfg.rules.fanout_threshold = 1000;
	R.replay_below[LW_TOPIC_RESULTS] = 10;
	R.replay_below[LW_TOPIC_NOTIFICATIONS] = 10;
	start(1);
	feed_result(&r, "S1");			/* offset 0: replayed */
	n = note("n1", "S1", "a", "NEG", 2000); /* offset 0: replayed */
	feed_notif(&n, "S1");
	lw_engine_flush(eng);
	cr_assert_eq(R.nalerts, 0);
	cr_assert_eq(stats().alerts_suppressed_replay, 1);
	/* past the replay: the incident grows to a second recipient */
	offsets[LW_TOPIC_NOTIFICATIONS] = 10;
	n = note("n2", "S1", "b", "NEG", 2100);
	feed_notif(&n, "S1");
	lw_engine_flush(eng);
	cr_assert_eq(R.nalerts, 1);
	cr_assert_eq(R.alerts[0].recipients, 2);
	cr_assert_eq(R.alerts[0].cause_offset, 10);
}

Test(engine, one_fresh_event_makes_the_incident_fresh)
{
	tu_result r = res("r1", "S2", "POS", 1, 1000);
	tu_notif n;
	R.replay_below[LW_TOPIC_RESULTS] = 10;
	R.replay_below[LW_TOPIC_NOTIFICATIONS] = 0; /* none replayed */
	start(1);
	feed_result(&r, "S2");			/* replayed */
	n = note("n1", "S2", "a", "NEG", 2000); /* fresh */
	feed_notif(&n, "S2");
	cr_assert_eq(R.nalerts, 1);
	cr_assert_eq(stats().alerts_suppressed_replay, 0);

	/* the other way round: a fresh result joins replayed messages */
	R.replay_below[LW_TOPIC_NOTIFICATIONS] = 100;
	offsets[LW_TOPIC_RESULTS] = 50;		/* past the results' replay */
	n = note("n2", "S3", "a", "NEG", 2000); /* replayed */
	feed_notif(&n, "S3");
	r = res("r2", "S3", "POS", 1, 1000);
	feed_result(&r, "S3"); /* fresh */
	cr_assert_eq(R.nalerts, 2);
	cr_assert_str_eq(R.alerts[1].specimen, "S3");
	cr_assert_eq(R.alerts[1].cause_topic, LW_TOPIC_RESULTS);
}

Test(engine, oversized_is_dead_lettered)
{
	tu_result r = res("r1", "S1", "POS", 1, 1000);
	tu_msg m;
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	ecfg.max_message_bytes = m.len - 1;
	start(0);
	feed(LW_TOPIC_RESULTS, "S1", m.b, m.len);
	cr_assert_eq(R.ndlq, 1);
	cr_assert_str_eq(R.dlq[0].reason, "oversized");
	cr_assert_eq(R.dlq[0].processed, 0);
	cr_assert_eq(stats().deadletter[LW_DLQ_OVERSIZED], 1);
	cr_assert_eq(stats().deadletter_total, 1);
	cr_assert_eq(stats().applied[LW_TOPIC_RESULTS], 0);
	cr_assert_null(lw_state_find(lw_engine_state(eng), "S1", 2));
	cr_assert_str_eq(lw_engine_dlq_reason(LW_DLQ_OVERSIZED), "oversized");
	/* exactly at the limit is fine */
	lw_engine_destroy(eng);
	ecfg.max_message_bytes = m.len;
	R.ndlq = 0;
	start(0);
	feed(LW_TOPIC_RESULTS, "S1", m.b, m.len);
	cr_assert_eq(R.ndlq, 0);
	cr_assert_eq(stats().applied[LW_TOPIC_RESULTS], 1);
}

Test(engine, null_key_is_processed_and_dead_lettered)
{
	tu_result r = res("r1", "S1", "POS", 1, 1000);
	tu_notif n = note("n1", "S1", "a", "NEG", 2000);
	start(0);
	feed_result(&r, "S1");
	feed_notif(&n, NULL);
	cr_assert_eq(R.ndlq, 1);
	cr_assert_str_eq(R.dlq[0].reason, "missing_key");
	cr_assert_eq(R.dlq[0].processed, 1);
	cr_assert_eq(R.dlq[0].schema_id, 2);
	cr_assert_eq(R.dlq[0].topic, LW_TOPIC_NOTIFICATIONS);
	cr_assert_eq(stats().deadletter[LW_DLQ_MISSING_KEY], 1);
	cr_assert_str_eq(lw_engine_dlq_reason(LW_DLQ_MISSING_KEY),
			 "missing_key");
	/* and processed: the mismatch is found */
	cr_assert_eq(R.nalerts, 1);
	cr_assert_eq(R.alerts[0].rule, LW_RULE_RESULT_MISMATCH);
	cr_assert_eq(stats().applied[LW_TOPIC_NOTIFICATIONS], 1);
	cr_assert_eq(stats().key_mismatch, 0);
}

Test(engine, key_mismatch_counted_and_processed)
{
	tu_result r = res("r1", "S1", "POS", 1, 1000);
	tu_notif n = note("n1", "S1", "a", "NEG", 2000);
	start(0);
	feed_result(&r, "S1");
	feed_notif(&n, "S1x");
	feed_notif(&n, ""); /* an empty key is a key, and not S1 */
	cr_assert_eq(stats().key_mismatch, 2);
	cr_assert_eq(R.ndlq, 0);
	cr_assert_eq(R.nalerts, 1, "processed under the value's specimen_id");
	cr_assert_str_eq(R.alerts[0].specimen, "S1");
	cr_assert_null(lw_state_find(lw_engine_state(eng), "S1x", 3));
}

/* Keys written by a Confluent Avro key serializer: magic 0, a schema ID,
 * then the Avro string. Equal to the specimen ID: not a mismatch; another
 * string in the same framing: a mismatch. */
Test(engine, confluent_framed_string_keys)
{
	static const unsigned char same[] = {0, 0, 0, 0, 7, 4, 'S', '1'};
	static const unsigned char other[] = {0, 0, 0, 0, 7, 4, 'S', '2'};
	static const unsigned char short_len[] = {0, 0, 0, 0, 7, 2, 'S', '1'};
	tu_result r = res("r1", "S1", "POS", 1, 1000);
	tu_msg m;
	lw_msg msg;
	const unsigned char *keys[] = {same, other, short_len};
	start(0);
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	for (int i = 0; i < 3; i++) {
		memset(&msg, 0, sizeof msg);
		msg.topic = LW_TOPIC_RESULTS;
		msg.topic_name = topic_names[0];
		msg.offset = offsets[0]++;
		msg.timestamp_ms = -1;
		msg.key = keys[i];
		msg.key_len = sizeof same;
		msg.value = m.b;
		msg.value_len = m.len;
		lw_engine_process(eng, &msg);
	}
	cr_assert_eq(stats().key_mismatch, 2, "S2 and a wrong length");
	cr_assert_eq(R.ndlq, 0);
}

Test(engine, decode_failures_are_dead_lettered)
{
	tu_result r = res("r1", "S1", "POS", 1, 1000);
	tu_msg m;
	static const unsigned char magic1[] = {1, 0, 0, 0, 1, 2};
	static const unsigned char unknown[] = {0, 0, 0, 0x27, 0x0f, 2};
	start(0);
	feed(LW_TOPIC_RESULTS, "S1", NULL, 0);
	feed(LW_TOPIC_RESULTS, "S1", magic1, 3);
	feed(LW_TOPIC_RESULTS, "S1", magic1, sizeof magic1);
	feed(LW_TOPIC_NOTIFICATIONS, "S1", unknown, sizeof unknown);
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	feed(LW_TOPIC_RESULTS, "S1", m.b, m.len - 1);
	/* a result on the notifications topic */
	feed(LW_TOPIC_NOTIFICATIONS, "S1", m.b, m.len);
	r.specimen_id = "";
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	feed(LW_TOPIC_RESULTS, "", m.b, m.len);
	r = res("", "S1", "POS", 1, 1000);
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	feed(LW_TOPIC_RESULTS, "S1", m.b, m.len);
	cr_assert_eq(R.ndlq, 8);
	{
		static const struct {
			lw_decode_status st;
			int32_t schema;
		} want[8] = {
		    {LW_DECODE_EMPTY_VALUE, -1},
		    {LW_DECODE_BAD_MAGIC, -1},
		    {LW_DECODE_BAD_MAGIC, -1},
		    {LW_DECODE_UNKNOWN_SCHEMA, 9999},
		    {LW_DECODE_MALFORMED, 1},
		    {LW_DECODE_INCOMPATIBLE, 1},
		    {LW_DECODE_EMPTY_SPECIMEN, 1},
		    {LW_DECODE_INVALID_FIELD, 1},
		};
		for (int i = 0; i < 8; i++) {
			cr_assert_str_eq(R.dlq[i].reason,
					 lw_decode_status_reason(want[i].st),
					 "[%d]", i);
			cr_assert_eq(R.dlq[i].schema_id, want[i].schema, "[%d]",
				     i);
			cr_assert_eq(R.dlq[i].processed, 0);
			cr_assert_neq(R.dlq[i].detail[0], '\0');
		}
		cr_assert_eq(stats().deadletter[LW_DECODE_BAD_MAGIC], 2);
		cr_assert_eq(stats().deadletter_total, 8);
	}
	cr_assert_eq(stats().applied[LW_TOPIC_RESULTS], 0);
	cr_assert_eq(stats().applied[LW_TOPIC_NOTIFICATIONS], 0);
	cr_assert_eq(R.nalerts, 0);
}

Test(engine, replayed_bad_messages_are_not_dead_lettered_again)
{
	static const unsigned char magic1[] = {1, 0, 0, 0, 1, 2};
	R.replay_below[LW_TOPIC_RESULTS] = 1;
	start(1);
	feed(LW_TOPIC_RESULTS, "S1", magic1, sizeof magic1); /* replayed */
	feed(LW_TOPIC_RESULTS, "S1", magic1, sizeof magic1); /* fresh */
	cr_assert_eq(R.ndlq, 1);
	cr_assert_eq(R.dlq[0].offset, 1);
	cr_assert_eq(stats().deadletter_suppressed_replay, 1);
}

Test(engine, reset_state_forgets_everything)
{
	tu_result r = res("r1", "S1", "POS", 1, 1000);
	tu_notif n = note("n1", "S1", "a", "NEG", 2000);
	start(0);
	feed_result(&r, "S1");
	lw_engine_reset_state(eng);
	cr_assert_null(lw_state_find(lw_engine_state(eng), "S1", 2));
	feed_notif(&n, "S1");
	cr_assert_eq(R.nalerts, 0, "the result is gone");
	feed_result(&r, "S1"); /* not a duplicate any more */
	cr_assert_eq(stats().duplicates, 0);
	cr_assert_eq(R.nalerts, 1);
}

Test(engine, config_defaults)
{
	lw_engine_config c;
	lw_engine_config_defaults(&c);
	cr_assert_eq(c.max_message_bytes, 256 * 1024, "input.max.bytes");
	cr_assert_eq(c.max_evidence, 100, "alert.max.evidence");
	cr_assert_eq(c.rules.fanout_threshold, 0);
	cr_assert_eq(c.rules.clock_skew_ms, 5000, "clock.skew.ms");
	cr_assert_eq(c.state.ttl_ms, INT64_C(7) * 86400000);
	cr_assert_gt(c.evict_budget, 0);
}

/* A specimen_id is an Avro string and may hold U+0000. Such an ID must
 * either be refused (dead-lettered) or work like any other: here, growth
 * of its incident must reach the host after the flush, and two such IDs
 * that differ after the NUL must not share an alert ID. */
static int64_t feed_notif_raw_id(const tu_notif *x, const char *id,
				 size_t idlen)
{
	avro_schema_t s = tu_schema(lw_schema_notification_json);
	avro_value_iface_t *cls = avro_generic_class_from_schema(s);
	avro_value_t v, f;
	tu_msg m;
	int64_t off;
	avro_generic_value_new(cls, &v);
	tu_fill_notif(&v, x);
	avro_value_get_by_name(&v, "specimen_id", &f, NULL);
	/* Avro C counts the terminating NUL in the size */
	cr_assert_eq(avro_value_set_string_len(&f, id, idlen + 1), 0);
	tu_frame(&m, 2, &v);
	off = feed(LW_TOPIC_NOTIFICATIONS, NULL, m.b, m.len);
	avro_value_decref(&v);
	avro_value_iface_decref(cls);
	avro_schema_decref(s);
	return off;
}

Test(engine, specimen_ids_with_nul_bytes)
{
	char a[] = "S\0X", b[] = "S\0Y";
	tu_notif n;
	int refused = 0, alerts;
	ecfg.rules.fanout_threshold = 1000;
	start(0);
	n = note("n1", "-", "r1", NULL, 2000);
	n.intended = "OTHER"; /* RECORD_MISMATCH: no result needed */
	feed_notif_raw_id(&n, a, 3);
	n = note("n2", "-", "r2", NULL, 2100);
	n.intended = "OTHER";
	feed_notif_raw_id(&n, a, 3);
	n = note("n3", "-", "r1", NULL, 2200);
	n.intended = "OTHER";
	feed_notif_raw_id(&n, b, 3);
	lw_engine_flush(eng);
	for (int i = 0; i < R.ndlq; i++)
		refused += strcmp(R.dlq[i].reason, "missing_key") != 0;
	if (refused) {
		cr_assert_eq(refused, 3, "refuse all or none");
		cr_assert_eq(R.nalerts, 0);
		return;
	}
	alerts = nrule(LW_RULE_RECORD_MISMATCH);
	/* n1 (S\0X) and n3 (S\0Y) at once, n2's growth at the flush */
	cr_assert_str_neq(R.alerts[0].alert_id, R.alerts[1].alert_id,
			  "S\\0X and S\\0Y share an alert ID");
	cr_assert_eq(alerts, 3,
		     "want: first alert and its growth for S\\0X, one for "
		     "S\\0Y; got %d",
		     alerts);
	cr_assert_eq(R.alerts[2].recipients, 2);
}

/* (alert_id, revision) names one message and the revision grows with the
 * incident, so the revisions sent for one alert_id must strictly increase,
 * even when a late result moves some notifications out of the incident
 * before it grows again. */
Test(engine, revisions_only_grow)
{
	tu_result r = res("r1", "S1", "POS", 1, 100);
	tu_notif n;
	char aid[33];
	uint32_t last = 0;
	int sent = 0;
	ecfg.rules.fanout_threshold = 1000;
	start(0);
	feed_result(&r, "S1");
	n = note("n1", "S1", "a", "NEG", 300);
	feed_notif(&n, "S1");
	n = note("n2", "S1", "a", "NEG", 400);
	feed_notif(&n, "S1");
	n = note("n3", "S1", "a", "NEG", 410);
	feed_notif(&n, "S1");
	n = note("n4", "S1", "b", "NEG", 420);
	feed_notif(&n, "S1");
	lw_engine_flush(eng);
	/* a correction recorded at 350 arrives late: n2..n4 now agree */
	r = res("r2", "S1", "NEG", 2, 350);
	feed_result(&r, "S1");
	lw_engine_flush(eng);
	/* two more people told NEG before the correction */
	n = note("n5", "S1", "c", "NEG", 320);
	feed_notif(&n, "S1");
	n = note("n6", "S1", "d", "NEG", 330);
	feed_notif(&n, "S1");
	lw_engine_flush(eng);
	memcpy(aid, R.alerts[0].alert_id, 33);
	for (int i = 0; i < R.nalerts; i++) {
		if (strcmp(R.alerts[i].alert_id, aid))
			continue;
		cr_assert_gt(R.alerts[i].revision, last,
			     "alert %d: revision %u after %u", i,
			     R.alerts[i].revision, last);
		last = R.alerts[i].revision;
		sent++;
	}
	cr_assert_eq(sent, 3, "first, growth to b, growth to c and d");
}
