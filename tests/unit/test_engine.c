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
 * processed) and every decode failure.
 *
 * Time (a fake wall clock through cfg.wall_ms): with no input at all, the
 * wall clock moves the stream time once every input is idle and a tick
 * fires MISSING_NOTIFICATION exactly once, with no cause; an assigned
 * silent partition holds time back; replay mode (idle timeout 0) runs the
 * timers due before each message first, so their alerts come before the
 * message's; late events counted by reason (behind_watermark, after_timer,
 * beyond_ttl), duplicates never; the delivered watermark suppresses timer
 * alerts due at or before it and no later one; the settled watermark waits
 * for a pass within its budget; FANIN fed when the patient key arrives
 * after the notifications; VOLUME_SURGE when a bucket closes; per-code
 * SLAs from sla.codes; reset_state forgets time too; and the TTL, run by
 * deadlines, keeps an entry with a timer pending past its TTL and expires
 * it after. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
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
	char batch[32];
	int cause_topic; /* -1: no cause (a timer) */
	int64_t cause_offset;
	int64_t event_time, fired_at;
	uint32_t nevidence;
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
	snprintf(r->batch, sizeof r->batch, "%s",
		 a->batch_id ? a->batch_id : "");
	r->cause_topic = cause ? cause->topic : -1;
	r->cause_offset = cause ? cause->offset : -1;
	r->event_time = a->event_time;
	r->fired_at = a->fired_at;
	r->nevidence = a->nevidence;
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

/* The engine's wall clock (idle inputs): what the test says. */
static int64_t wall;
static int64_t fake_wall(void)
{
	return wall;
}

static void setup(void)
{
	char err[256];
	memset(&R, 0, sizeof R);
	R.replay_below[0] = R.replay_below[1] = -1;
	offsets[0] = offsets[1] = 0;
	reg = lw_registry_new(NULL, err, sizeof err);
	cr_assert_not_null(reg, "%s", err);
	lw_engine_config_defaults(&ecfg);
	ecfg.wall_ms = fake_wall;
	wall = 0;
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
	r.retest_pending = 0;
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
	cr_assert_gt(c.timer_budget, 0);
	cr_assert_eq(c.clock.lateness_ms, 5000, "time.lateness.ms");
	cr_assert_eq(c.clock.idle_timeout_ms, 30000, "time.idle.timeout.ms");
	cr_assert_eq(c.rules.sla_critical_ms, 3600000, "sla.critical.ms");
	cr_assert_eq(c.rules.sla_default_ms, 86400000, "sla.default.ms");
	cr_assert_eq(c.rules.orphan_grace_ms, 3600000, "orphan.grace.ms");
	cr_assert_eq(c.fanin.threshold, 5);
	cr_assert_eq(c.fanin.window_ms, 86400000);
	cr_assert_eq(c.surge.cap, 3000);
	cr_assert_eq(c.surge.bucket_ms, 60000);
	cr_assert_null(c.sla_codes);
	cr_assert_not_null(c.wall_ms);
}

/* The one mapping from the property table to the engine. */
Test(engine, config_from_properties)
{
	lw_config cfg;
	lw_engine_config c;
	char err[256];
	static const char *const kv[] = {
	    "time.lateness.ms=2s",     "time.idle.timeout.ms=1m",
	    "sla.critical.ms=30m",     "sla.default.ms=2d",
	    "sla.codes=POS=10m,A1=1h", "orphan.grace.ms=90s",
	    "fanin.window.ms=12h",     "fanin.threshold=7",
	    "surge.window.ms=2h",      "surge.cap=50",
	    "surge.short.ms=10m",      "surge.baseline.ms=6h",
	    "surge.factor=4",	       "surge.min.count=20",
	    "alert.max.evidence=9",    "state.ttl.ms=3d",
	};
	lw_config_init(&cfg);
	for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
		cr_assert_eq(lw_config_set_kv(&cfg, kv[i], err, sizeof err), 0,
			     "%s: %s", kv[i], err);
	lw_engine_config_from(&c, &cfg);
	cr_assert_eq(c.clock.lateness_ms, 2000);
	cr_assert_eq(c.clock.idle_timeout_ms, 60000);
	cr_assert_eq(c.rules.sla_critical_ms, 1800000);
	cr_assert_eq(c.rules.sla_default_ms, 2 * 86400000);
	cr_assert_str_eq(c.sla_codes, "POS=10m,A1=1h");
	cr_assert_eq(c.rules.orphan_grace_ms, 90000);
	cr_assert_eq(c.fanin.window_ms, 12 * 3600000);
	cr_assert_eq(c.fanin.threshold, 7);
	cr_assert_eq(c.fanin.max_evidence, 9);
	cr_assert_eq(c.surge.window_ms, 2 * 3600000);
	cr_assert_eq(c.surge.cap, 50);
	cr_assert_eq(c.surge.short_ms, 600000);
	cr_assert_eq(c.surge.baseline_ms, 6 * 3600000);
	cr_assert_eq(c.surge.factor, 4.0);
	cr_assert_eq(c.surge.min_count, 20);
	cr_assert_eq(c.max_evidence, 9);
	cr_assert_eq(c.state.ttl_ms, 3 * 86400000LL);
	lw_config_free(&cfg);
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

/* ---- time ---- */

/* Replay mode: event time only, no lateness, small SLAs. */
static void replay_mode(void)
{
	ecfg.clock.idle_timeout_ms = 0;
	ecfg.clock.lateness_ms = 0;
	ecfg.rules.sla_critical_ms = 1000;
	ecfg.rules.sla_default_ms = 1000;
}

static tu_result status_res(const char *event_id, const char *spec,
			    const char *code, const char *status, int64_t t)
{
	tu_result r = res(event_id, spec, code, 1, t);
	r.status = status;
	r.retest_pending = 0;
	return r;
}

/* A FINAL positive result, never notified, then no input at all: once
 * every input has been idle for the idle timeout, the stream time goes on
 * with the wall clock, and a tick fires MISSING_NOTIFICATION exactly when
 * it reaches the due time, once, with no cause message. */
Test(engine, idle_input_fires_missing_notification)
{
	const int64_t t0 = INT64_C(1700000000000);
	const int64_t due = t0 + 3600000; /* sla.critical.ms 1 h */
	tu_result r = res("r1", "S1", "POS", 1, t0);
	start(0);
	feed_result(&r, "S1");
	lw_engine_tick(eng, 100);
	cr_assert_eq(lw_engine_watermark(eng), t0 - 5001,
		     "newest event - lateness - 1");
	cr_assert_eq(R.nalerts, 0);
	/* idle from 30 s after the last delivery; then wall-clock paced */
	wall = 30000 + (due - 1 - (t0 - 5001));
	lw_engine_tick(eng, 100);
	cr_assert_eq(lw_engine_watermark(eng), due - 1);
	cr_assert_eq(R.nalerts, 0, "one ms before the SLA");
	cr_assert_eq(stats().timers_run, 0, "nothing was due");
	wall++;
	lw_engine_tick(eng, 100);
	cr_assert_eq(lw_engine_watermark(eng), due);
	cr_assert_eq(R.nalerts, 1);
	cr_assert_eq(R.alerts[0].rule, LW_RULE_MISSING_NOTIFICATION);
	cr_assert_eq(R.alerts[0].severity, LW_SEV_CRITICAL);
	cr_assert_str_eq(R.alerts[0].specimen, "S1");
	cr_assert_eq(R.alerts[0].cause_topic, -1, "a timer has no cause");
	cr_assert_eq(R.alerts[0].revision, 1);
	cr_assert_eq(R.alerts[0].fired_at, due);
	cr_assert_eq(stats().alerts[LW_RULE_MISSING_NOTIFICATION], 1);
	cr_assert_eq(stats().timers_run, 1);
	/* and never again */
	for (int i = 0; i < 50; i++) {
		wall += 3600000;
		lw_engine_housekeeping(eng, 100);
		lw_engine_flush(eng);
	}
	cr_assert_eq(R.nalerts, 1);
	cr_assert_not_null(lw_state_find(lw_engine_state(eng), "S1", 2));
}

/* An assigned partition that has not delivered holds the stream time back
 * until it has been idle for the timeout. */
Test(engine, assigned_silent_partition_holds_time)
{
	tu_result r = res("r1", "S1", "POS", 1, 1000000);
	start(0);
	lw_engine_add_source(eng, LW_TOPIC_NOTIFICATIONS, 0);
	feed_result(&r, "S1");
	wall = 29999;
	lw_engine_tick(eng, 100);
	cr_assert_eq(lw_engine_watermark(eng), LW_TIME_NONE);
	cr_assert_eq(stats().watermark_ms, LW_TIME_NONE);
	wall = 30000;
	lw_engine_tick(eng, 100);
	cr_assert_eq(lw_engine_watermark(eng), 1000000 - 5001);
	cr_assert_eq(stats().watermark_ms, 1000000 - 5001);
	cr_assert_eq(stats().stream_time_ms, 1000000);
}

/* Live mode: processing a message does not move the stream time (only a
 * tick does), so no timer fires inside lw_engine_process(). */
Test(engine, live_timers_wait_for_a_tick)
{
	tu_result r = res("r1", "S1", "POS", 1, 1000);
	tu_notif n;
	ecfg.rules.sla_critical_ms = 1000;
	ecfg.clock.lateness_ms = 0;
	start(0);
	feed_result(&r, "S1");
	n = note("n1", "S2", "a", NULL, 100000);
	feed_notif(&n, "S2");
	cr_assert_eq(R.nalerts, 0);
	lw_engine_tick(eng, 100);
	cr_assert_eq(lw_engine_watermark(eng), 999);
	cr_assert_eq(R.nalerts, 0,
		     "held by the results partition? no: one "
		     "source per topic, results at 999");
	r = res("r2", "S3", "NEG", 1, 200000);
	feed_result(&r, "S3");
	cr_assert_eq(R.nalerts, 0);
	lw_engine_tick(eng, 100);
	cr_assert_eq(lw_engine_watermark(eng), 99999);
	cr_assert_eq(nrule(LW_RULE_MISSING_NOTIFICATION), 1);
	cr_assert_str_eq(last_of(LW_RULE_MISSING_NOTIFICATION)->specimen, "S1");
}

/* Replay: the timers due before a message run before it, so the order of
 * alerts is event-time order. */
Test(engine, replay_timers_fire_before_the_next_message)
{
	tu_result r;
	tu_notif n;
	replay_mode();
	start(0);
	r = res("r1", "S1", "POS", 1, 10000); /* MISSING due 11000 */
	feed_result(&r, "S1");
	r = res("r3", "S3", "POS", 1, 11000); /* due 12000 */
	feed_result(&r, "S3");
	cr_assert_eq(lw_engine_watermark(eng), 10999);
	cr_assert_eq(R.nalerts, 0);
	n = note("n3", "S3", "a", "NEG", 11001); /* a mismatch */
	feed_notif(&n, "S3");
	cr_assert_eq(R.nalerts, 2);
	cr_assert_eq(R.alerts[0].rule, LW_RULE_MISSING_NOTIFICATION);
	cr_assert_str_eq(R.alerts[0].specimen, "S1");
	cr_assert_eq(R.alerts[0].cause_topic, -1);
	cr_assert_eq(R.alerts[0].fired_at, 11000);
	cr_assert_eq(R.alerts[1].rule, LW_RULE_RESULT_MISMATCH);
	cr_assert_str_eq(R.alerts[1].specimen, "S3");
	cr_assert_eq(R.alerts[1].cause_topic, LW_TOPIC_NOTIFICATIONS);
	/* the wall clock plays no part, whatever it says */
	wall = INT64_C(1) << 50;
	lw_engine_tick(eng, SIZE_MAX);
	cr_assert_eq(lw_engine_watermark(eng), 11000);
	cr_assert_eq(R.nalerts, 2, "S3 was notified in time");
	cr_assert_eq(lw_engine_settled_watermark(eng), 11000);
}

/* A notification sent exactly at the due time covers the result, also
 * when it is the message that moves time to the due time. */
Test(engine, replay_notification_at_the_due_time_covers)
{
	tu_result r = res("r1", "S1", "POS", 1, 10000);
	tu_notif n = note("n1", "S1", "a", "POS", 11000);
	replay_mode();
	start(0);
	feed_result(&r, "S1");
	feed_notif(&n, "S1");
	cr_assert_eq(lw_engine_watermark(eng), 10999);
	r = res("r9", "S9", "NEG", 1, 500000);
	r.status = "PRELIMINARY";
	feed_result(&r, "S9");
	cr_assert_eq(R.nalerts, 0);
	cr_assert_eq(stats().late_total, 0);
}

Test(engine, late_events_counted_by_reason)
{
	tu_result r;
	tu_notif n;
	replay_mode();
	ecfg.state.ttl_ms = 100000;
	start(0);
	r = res("r1", "S1", "NEG", 1, 50000); /* MISSING due 51000 */
	feed_result(&r, "S1");
	r = res("r2", "S2", "NEG", 1, 60000);
	feed_result(&r, "S2");
	cr_assert_eq(nrule(LW_RULE_MISSING_NOTIFICATION), 1);
	cr_assert_eq(stats().late_total, 0);
	/* behind the watermark, a new specimen */
	n = note("n9", "S9", "a", NULL, 59000);
	feed_notif(&n, "S9");
	cr_assert_eq(stats().late[LW_TOPIC_NOTIFICATIONS][0], 1);
	/* behind the watermark, and S1 already had a timer alert */
	n = note("n1", "S1", "a", NULL, 59500);
	feed_notif(&n, "S1");
	cr_assert_eq(stats().late[LW_TOPIC_NOTIFICATIONS][1], 1);
	/* the same again (a redelivery): a duplicate, not late again */
	feed_notif(&n, "S1");
	cr_assert_eq(stats().duplicates, 1);
	cr_assert_eq(stats().late[LW_TOPIC_NOTIFICATIONS][1], 1);
	/* a result behind, on a specimen with no timer alert */
	r = res("r2b", "S2", "NEG", 2, 59999);
	r.status = "CORRECTED";
	feed_result(&r, "S2");
	cr_assert_eq(stats().late[LW_TOPIC_RESULTS][0], 1);
	/* beyond the TTL: older than stream time - ttl */
	r = res("r7", "S7", "NEG", 1, 200000);
	feed_result(&r, "S7");
	cr_assert_eq(lw_engine_watermark(eng), 199999);
	n = note("n8", "S8", "a", NULL, 99998);
	feed_notif(&n, "S8");
	cr_assert_eq(stats().late[LW_TOPIC_NOTIFICATIONS][2], 1);
	n = note("n8b", "S8b", "a", NULL, 99999); /* exactly ttl: not beyond */
	feed_notif(&n, "S8b");
	cr_assert_eq(stats().late[LW_TOPIC_NOTIFICATIONS][2], 1);
	cr_assert_eq(stats().late[LW_TOPIC_NOTIFICATIONS][0], 2);
	/* at the stream time is late, after it is not */
	n = note("n10", "S10", "a", NULL, 199999);
	feed_notif(&n, "S10");
	cr_assert_eq(stats().late[LW_TOPIC_NOTIFICATIONS][0], 3);
	n = note("n11", "S11", "a", NULL, 200000);
	feed_notif(&n, "S11");
	cr_assert_eq(stats().late[LW_TOPIC_NOTIFICATIONS][0], 3);
	cr_assert_eq(stats().late_total, 6);
	cr_assert_eq(stats().late[LW_TOPIC_RESULTS][1] +
			 stats().late[LW_TOPIC_RESULTS][2],
		     0);
	cr_assert_str_eq(lw_engine_late_reason(0), "behind_watermark");
	cr_assert_str_eq(lw_engine_late_reason(1), "after_timer");
	cr_assert_str_eq(lw_engine_late_reason(2), "beyond_ttl");
	/* late events are applied */
	cr_assert_eq(stats().applied[LW_TOPIC_NOTIFICATIONS], 6);
}

/* After a restart: timer alerts due at or before the delivered watermark
 * were sent before it; later ones were not. */
Test(engine, delivered_watermark_suppresses_timer_alerts)
{
	tu_result r;
	replay_mode();
	start(0);
	lw_engine_set_delivered_watermark(eng, 11000);
	r = res("r1", "S1", "POS", 1, 10000); /* due 11000 */
	feed_result(&r, "S1");
	r = res("r2", "S2", "POS", 1, 10001); /* due 11001 */
	feed_result(&r, "S2");
	r = res("r3", "S3", "NEG", 1, 20000);
	r.status = "PRELIMINARY";
	feed_result(&r, "S3");
	cr_assert_eq(R.nalerts, 1);
	cr_assert_str_eq(R.alerts[0].specimen, "S2");
	cr_assert_eq(R.alerts[0].fired_at, 11001);
	cr_assert_eq(stats().alerts_suppressed_watermark, 1);
	cr_assert_eq(stats().alerts[LW_RULE_MISSING_NOTIFICATION], 1);
	/* the suppressed one counts as sent: nothing later either */
	r = res("r4", "S4", "NEG", 1, 90000);
	r.status = "PRELIMINARY";
	feed_result(&r, "S4");
	lw_engine_flush(eng);
	cr_assert_eq(R.nalerts, 1);
	cr_assert_eq(stats().alerts_suppressed_watermark, 1);
}

/* Content alerts do not depend on the delivered watermark. */
Test(engine, delivered_watermark_leaves_content_alerts_alone)
{
	tu_result r = res("r1", "S1", "POS", 1, 1000);
	tu_notif n = note("n1", "S1", "a", "NEG", 2000);
	replay_mode();
	start(0);
	lw_engine_set_delivered_watermark(eng, 1000000);
	feed_result(&r, "S1");
	feed_notif(&n, "S1");
	cr_assert_eq(nrule(LW_RULE_RESULT_MISMATCH), 1);
	cr_assert_eq(stats().alerts_suppressed_watermark, 0);
}

/* The settled watermark is the stream time of the last timer pass that
 * finished within its budget. */
Test(engine, settled_watermark_waits_for_the_budget)
{
	const int64_t t0 = 1000000;
	tu_result r;
	ecfg.rules.sla_critical_ms = 1000;
	ecfg.clock.lateness_ms = 0;
	start(0);
	cr_assert_eq(lw_engine_settled_watermark(eng), LW_TIME_NONE);
	r = res("r1", "S1", "POS", 1, t0);
	feed_result(&r, "S1");
	r = res("r2", "S2", "POS", 1, t0);
	feed_result(&r, "S2");
	r = res("r3", "S3", "POS", 1, t0);
	feed_result(&r, "S3");
	lw_engine_tick(eng, 10);
	cr_assert_eq(lw_engine_settled_watermark(eng), t0 - 1);
	wall = 30000 + 1001; /* all idle; stream time t0 + 1000 */
	lw_engine_tick(eng, 1);
	cr_assert_eq(lw_engine_watermark(eng), t0 + 1000);
	cr_assert_eq(R.nalerts, 1);
	cr_assert_eq(lw_engine_settled_watermark(eng), t0 - 1,
		     "two timers still to run");
	lw_engine_tick(eng, 1);
	cr_assert_eq(R.nalerts, 2);
	cr_assert_eq(lw_engine_settled_watermark(eng), t0 - 1);
	lw_engine_tick(eng, 2);
	cr_assert_eq(R.nalerts, 3);
	cr_assert_eq(lw_engine_settled_watermark(eng), t0 + 1000);
}

/* FANIN: the notifications come first, the results with the patient keys
 * after; the pairs are fed as the keys become known. */
Test(engine, fanin_when_the_patient_key_arrives_later)
{
	static const char *const spec[] = {"S1", "S2", "S3", "S4", "S5"};
	static const char *const pk[] = {"P1", "P2", "P3", "P4", "P1"};
	tu_result r;
	tu_notif n;
	int64_t off;
	ecfg.fanin.threshold = 2;
	start(0);
	for (int i = 0; i < 3; i++) {
		char nid[8];
		snprintf(nid, sizeof nid, "n%d", i + 1);
		n = note(nid, spec[i], "R", NULL, 1000 * (i + 1));
		feed_notif(&n, spec[i]);
	}
	cr_assert_eq(R.nalerts, 0, "no patient known yet");
	for (int i = 0; i < 2; i++) {
		char rid[8];
		snprintf(rid, sizeof rid, "r%d", i + 1);
		r = res(rid, spec[i], "POS", 1, 1500 + 1000 * i);
		r.patient_key = pk[i];
		feed_result(&r, spec[i]);
	}
	cr_assert_eq(R.nalerts, 0, "two patients: not over 2");
	r = res("r3", "S3", "POS", 1, 3500);
	r.patient_key = "P3";
	off = feed_result(&r, "S3");
	cr_assert_eq(R.nalerts, 1);
	cr_assert_eq(R.alerts[0].rule, LW_RULE_FANIN);
	cr_assert_eq(R.alerts[0].severity, LW_SEV_CRITICAL);
	cr_assert_str_eq(R.alerts[0].specimen, "S1");
	cr_assert_eq(R.alerts[0].revision, 3);
	cr_assert_eq(R.alerts[0].recipients, 1);
	cr_assert_eq(R.alerts[0].nevidence, 3);
	cr_assert_eq(R.alerts[0].cause_topic, LW_TOPIC_RESULTS);
	cr_assert_eq(R.alerts[0].cause_offset, off);
	/* the result first, then the notification: fed at the notification */
	r = res("r4", "S4", "POS", 1, 4000);
	r.patient_key = pk[3];
	feed_result(&r, "S4");
	n = note("n4", "S4", "R", NULL, 4100);
	off = feed_notif(&n, "S4");
	cr_assert_eq(R.nalerts, 2);
	cr_assert_eq(R.alerts[1].rule, LW_RULE_FANIN);
	cr_assert_str_eq(R.alerts[1].alert_id, R.alerts[0].alert_id);
	cr_assert_eq(R.alerts[1].revision, 4);
	cr_assert_eq(R.alerts[1].cause_offset, off);
	/* a patient already counted, by another specimen: no growth */
	r = res("r5", "S5", "POS", 1, 5000);
	r.patient_key = pk[4];
	feed_result(&r, "S5");
	n = note("n5", "S5", "R", NULL, 5100);
	feed_notif(&n, "S5");
	lw_engine_flush(eng);
	cr_assert_eq(R.nalerts, 2);
	cr_assert_eq(stats().fanin.incidents, 1);
	cr_assert_eq(stats().fanin.recipients, 1);
	cr_assert_eq(stats().alerts[LW_RULE_FANIN], 2);
	/* redeliveries feed nothing */
	feed_notif(&n, "S5");
	feed_result(&r, "S5");
	cr_assert_eq(R.nalerts, 2);
}

/* VOLUME_SURGE through the engine: counted as notifications are applied
 * (not duplicates), checked when the stream time closes the bucket. */
Test(engine, surge_through_the_engine)
{
	tu_notif n;
	replay_mode();
	ecfg.surge.cap = 3;
	ecfg.surge.window_ms = 600000;
	ecfg.surge.factor = 0;
	start(0);
	for (int i = 0; i < 4; i++) {
		char nid[8], sid[8];
		snprintf(nid, sizeof nid, "n%d", i);
		snprintf(sid, sizeof sid, "S%d", i);
		n = note(nid, sid, "a", NULL, 1000 + i);
		n.batch_id = i < 3 ? "B1" : "B2";
		feed_notif(&n, sid);
		feed_notif(&n, sid); /* a redelivery is not counted */
	}
	cr_assert_eq(stats().surge.counted, 4);
	cr_assert_eq(stats().duplicates, 4);
	cr_assert_eq(R.nalerts, 0, "the minute has not closed");
	n = note("n9", "S9", "a", NULL, 59999);
	feed_notif(&n, "S9");
	cr_assert_eq(R.nalerts, 0, "stream time 59998");
	n = note("n10", "S10", "a", NULL, 60000);
	feed_notif(&n, "S10");
	cr_assert_eq(R.nalerts, 1);
	cr_assert_eq(R.alerts[0].rule, LW_RULE_VOLUME_SURGE);
	cr_assert_str_eq(R.alerts[0].specimen, "");
	cr_assert_str_eq(R.alerts[0].batch, "B1");
	cr_assert_eq(R.alerts[0].recipients, 5);
	cr_assert_eq(R.alerts[0].cause_topic, -1);
	cr_assert_eq(R.alerts[0].fired_at, 59999);
	cr_assert_eq(stats().surge.surges, 1);
	cr_assert_eq(stats().alerts[LW_RULE_VOLUME_SURGE], 1);
}

/* sla.codes reaches the rules with the codes interned by the engine. */
Test(engine, per_code_sla_from_sla_codes)
{
	tu_result r = res("r1", "S1", "pos", 1, 0);
	replay_mode();
	ecfg.rules.sla_critical_ms = 3600000;
	ecfg.sla_codes = "POS=30m,A1=2h";
	start(0);
	feed_result(&r, "S1");
	r = res("r2", "S2", "A1", 1, 0);
	feed_result(&r, "S2");
	r = res("r9", "S9", "NEG", 1, 1800000);
	r.status = "PRELIMINARY";
	feed_result(&r, "S9");
	cr_assert_eq(R.nalerts, 0, "stream time 1799999");
	r = res("r10", "S10", "NEG", 1, 1800001);
	r.status = "PRELIMINARY";
	feed_result(&r, "S10");
	cr_assert_eq(R.nalerts, 1);
	cr_assert_str_eq(R.alerts[0].specimen, "S1");
	cr_assert_eq(R.alerts[0].fired_at, 1800000);
	r = res("r11", "S11", "NEG", 1, 7200001);
	r.status = "PRELIMINARY";
	feed_result(&r, "S11");
	cr_assert_eq(R.nalerts, 2);
	cr_assert_str_eq(R.alerts[1].specimen, "S2");
	cr_assert_eq(R.alerts[1].fired_at, 7200000);
}

/* reset_state drops the stream time with the state: old events are not
 * late afterwards, and surges and fan-ins start over. */
Test(engine, reset_state_resets_time)
{
	tu_result r = res("r1", "S1", "POS", 1, 100000);
	tu_notif n = note("n1", "S2", "a", NULL, 100);
	replay_mode();
	start(0);
	feed_result(&r, "S1");
	cr_assert_eq(lw_engine_watermark(eng), 99999);
	feed_notif(&n, "S2");
	cr_assert_eq(stats().late_total, 1);
	cr_assert_eq(stats().surge.counted, 1);
	lw_engine_reset_state(eng);
	cr_assert_eq(lw_engine_watermark(eng), LW_TIME_NONE);
	cr_assert_eq(lw_engine_settled_watermark(eng), LW_TIME_NONE);
	cr_assert_eq(stats().surge.counted, 0);
	cr_assert_eq(stats().fanin.recipients, 0);
	n = note("n2", "S3", "a", NULL, 10);
	feed_notif(&n, "S3");
	cr_assert_eq(stats().late_total, 1, "not late after the reset");
	cr_assert_eq(lw_engine_watermark(eng), 9);
	/* the timers went with the state: S1's MISSING never fires (S3's
	 * notification is an orphan by then) */
	r = res("r9", "S9", "NEG", 1, 10000000);
	r.status = "PRELIMINARY";
	feed_result(&r, "S9");
	cr_assert_eq(nrule(LW_RULE_MISSING_NOTIFICATION), 0);
	cr_assert_eq(nrule(LW_RULE_ORPHAN_NOTIFICATION), 1);
	cr_assert_str_eq(R.alerts[0].specimen, "S3");
}

/* The TTL is run by deadlines: an entry expires at its newest event time
 * + ttl when no timer is pending, and not before a pending timer has run
 * (state.h: "so an entry never expires with a timer still to fire"), even
 * when the timer is further away than the TTL. */
Test(engine, ttl_by_deadlines_keeps_pending_timers)
{
	tu_result r;
	tu_notif n;
	lw_state *st;
	lw_state_stats ss;
	replay_mode();
	ecfg.state.ttl_ms = 1000;
	ecfg.rules.sla_default_ms = 10000;
	ecfg.rules.sla_critical_ms = 10000;
	start(0);
	st = lw_engine_state(eng);
	r = res("r1", "S1", "NEG", 1, 0); /* MISSING due 10000 */
	feed_result(&r, "S1");
	r = res("r2", "S2", "NEG", 1, 3000);
	feed_result(&r, "S2");
	n = note("n2", "S2", "a", "NEG", 3100); /* nothing pending for S2 */
	feed_notif(&n, "S2");
	for (int64_t t = 4000; t <= 9000; t += 1000) {
		char id[16];
		snprintf(id, sizeof id, "P%lld", (long long)t);
		r = status_res(id, id, "NEG", "PRELIMINARY", t);
		feed_result(&r, id);
		if (t == 4000) {
			cr_assert_not_null(lw_state_find(st, "S2", 2),
					   "S2 at 3100 + 1000 > 3999");
		}
		if (t == 5000) {
			cr_assert_null(lw_state_find(st, "S2", 2),
				       "S2 expired at 4100");
		}
		cr_assert_not_null(lw_state_find(st, "S1", 2),
				   "S1 has a timer pending at %lld",
				   (long long)t);
	}
	cr_assert_eq(R.nalerts, 0);
	cr_assert_eq(lw_state_deadline(st, lw_state_find(st, "S1", 2)), 10000);
	cr_assert_eq(stats().timers_run, 5,
		     "the expiries of S2 and P4000..P7000, not S1 (ran %llu)",
		     (unsigned long long)stats().timers_run);
	r = status_res("Q", "Q", "NEG", "PRELIMINARY", 10001);
	feed_result(&r, "Q");
	cr_assert_eq(nrule(LW_RULE_MISSING_NOTIFICATION), 1,
		     "S1's MISSING at stream time 10000");
	cr_assert_str_eq(R.alerts[0].specimen, "S1");
	cr_assert_eq(R.alerts[0].fired_at, 10000);
	cr_assert_null(lw_state_find(st, "S1", 2), "and then expired");
	lw_state_get_stats(st, &ss);
	cr_assert_geq(ss.expired, 2);
}

/* The same with a jump of stream time: S1's deadline comes up first at a
 * stream time before its MISSING is due; the MISSING must still fire
 * when the stream time reaches its due time, not minutes later. */
Test(engine, pending_timer_beyond_the_ttl_fires_on_time)
{
	tu_result r;
	replay_mode();
	ecfg.state.ttl_ms = 1000;
	ecfg.rules.sla_default_ms = 10000;
	start(0);
	r = res("r1", "S1", "NEG", 1, 0); /* MISSING due 10000 */
	feed_result(&r, "S1");
	r = status_res("P1", "P1", "NEG", "PRELIMINARY", 10000);
	feed_result(&r, "P1");
	cr_assert_eq(R.nalerts, 0, "stream time 9999");
	cr_assert_not_null(lw_state_find(lw_engine_state(eng), "S1", 2));
	r = status_res("P2", "P2", "NEG", "PRELIMINARY", 10001);
	feed_result(&r, "P2");
	cr_assert_eq(nrule(LW_RULE_MISSING_NOTIFICATION), 1,
		     "S1's MISSING at stream time 10000 (timers run: %llu)",
		     (unsigned long long)stats().timers_run);
}

/* A timer incident that grew after the delivered watermark was not
 * delivered in its grown form: ORPHAN with n1 (due 3000) delivered before
 * the restart (watermark 3200), n2 joining it at 3500. After the restart
 * the grown incident (2 recipients) is due after the watermark and must
 * be sent (engine.h: suppressed only "when due at or before the stream
 * time delivered before the restart"). */
Test(engine, delivered_watermark_and_a_grown_timer_incident)
{
	tu_notif n;
	tu_result r;
	replay_mode();
	ecfg.rules.orphan_grace_ms = 2000;
	start(0);
	lw_engine_set_delivered_watermark(eng, 3200);
	n = note("n1", "S1", "a", NULL, 1000); /* orphan at 3000 */
	feed_notif(&n, "S1");
	n = note("n2", "S1", "b", NULL, 1500); /* joins at 3500 */
	feed_notif(&n, "S1");
	r = status_res("P", "P", "NEG", "PRELIMINARY", 3400);
	feed_result(&r, "P");
	lw_engine_flush(eng);
	cr_assert_eq(R.nalerts, 0, "n1's orphan was delivered before");
	cr_assert_eq(stats().alerts_suppressed_watermark, 1);
	r = status_res("Q", "Q", "NEG", "PRELIMINARY", 10000);
	feed_result(&r, "Q");
	lw_engine_flush(eng);
	cr_assert_eq(nrule(LW_RULE_ORPHAN_NOTIFICATION), 1,
		     "the growth to n2 (due 3500 > 3200) was never delivered");
	cr_assert_eq(R.alerts[0].recipients, 2);
}

/* The same when the stream time passes both due times at once. */
Test(engine, delivered_watermark_and_a_timer_incident_seen_grown)
{
	tu_notif n;
	tu_result r;
	replay_mode();
	ecfg.rules.orphan_grace_ms = 2000;
	start(0);
	lw_engine_set_delivered_watermark(eng, 3200);
	n = note("n1", "S1", "a", NULL, 1000);
	feed_notif(&n, "S1");
	n = note("n2", "S1", "b", NULL, 1500);
	feed_notif(&n, "S1");
	r = status_res("Q", "Q", "NEG", "PRELIMINARY", 10000);
	feed_result(&r, "Q");
	lw_engine_flush(eng);
	cr_assert_eq(nrule(LW_RULE_ORPHAN_NOTIFICATION), 1,
		     "n1 and n2 together were due at 3500 > 3200");
	cr_assert_eq(R.alerts[0].recipients, 2);
}

/* Housekeeping expires fan-in entries by stream time; a later fan-in of
 * the same recipient is a new incident. */
Test(engine, fanin_expires_with_the_stream_time)
{
	char first[33];
	replay_mode();
	ecfg.fanin.threshold = 2;
	ecfg.fanin.window_ms = 10000;
	ecfg.rules.orphan_grace_ms = 1000000;
	start(0);
	for (int round = 0; round < 2; round++) {
		int64_t base = round * 100000;
		for (int i = 0; i < 3; i++) {
			char sid[16], rid[16], nid[16], pk[8];
			tu_result r;
			tu_notif n;
			snprintf(sid, sizeof sid, "S%d-%d", round, i);
			snprintf(rid, sizeof rid, "r%d-%d", round, i);
			snprintf(nid, sizeof nid, "n%d-%d", round, i);
			snprintf(pk, sizeof pk, "P%d", i);
			r = res(rid, sid, "POS", 1, base + 1000 * i);
			r.patient_key = pk;
			feed_result(&r, sid);
			n = note(nid, sid, "R", "POS", base + 1000 * i + 10);
			feed_notif(&n, sid);
		}
		cr_assert_eq(nrule(LW_RULE_FANIN), round + 1);
		if (round == 0) {
			memcpy(first, last_of(LW_RULE_FANIN)->alert_id, 33);
			cr_assert_eq(stats().fanin.recipients, 1);
			lw_engine_housekeeping(eng, 1000000);
			cr_assert_eq(stats().fanin.recipients, 1,
				     "stream time 2009: still in the window");
			{
				tu_result r = status_res("Q", "Q", "NEG",
							 "PRELIMINARY", 90000);
				feed_result(&r, "Q");
			}
			lw_engine_housekeeping(eng, 1000000);
			cr_assert_eq(stats().fanin.recipients, 0);
			cr_assert_eq(stats().fanin.expired, 1);
		}
	}
	cr_assert_str_neq(last_of(LW_RULE_FANIN)->alert_id, first);
	cr_assert_eq(stats().fanin.incidents, 2);
}

/* A record whose TTL comes while an update waits for the flush: the update
 * goes out at the expiry (what the flush would have sent, with the cause
 * that grew it) and the record goes; the flush then sends nothing more.
 * Before, the record stayed and was re-evaluated on every later event until
 * the flush, which replay runs only at its end: a quadratic slowdown. */
Test(engine, update_pending_at_expiry_is_sent_then_the_record_goes)
{
	tu_result r;
	tu_notif n;
	replay_mode();
	ecfg.state.ttl_ms = 1000;
	ecfg.rules.sla_default_ms = 100000;
	ecfg.rules.sla_critical_ms = 100000;
	ecfg.rules.fanout_threshold = 1000;
	start(0);
	r = res("r1", "S1", "POS", 1, 0);
	feed_result(&r, "S1");
	n = note("n1", "S1", "a", "NEG", 10);
	feed_notif(&n, "S1");
	cr_assert_eq(R.nalerts, 1);
	n = note("n2", "S1", "b", "NEG", 20);
	feed_notif(&n, "S1");
	cr_assert_eq(R.nalerts, 1, "growth waits for the flush");
	/* stream time passes S1's expiry (20 + 1000) */
	n = note("n3", "S9", "z", "NEG", 5000);
	feed_notif(&n, "S9");
	cr_assert_eq(R.nalerts, 2, "the growth at the expiry");
	cr_assert_str_eq(R.alerts[1].specimen, "S1");
	cr_assert_eq(R.alerts[1].recipients, 2);
	cr_assert_eq(R.alerts[1].cause_offset, 1, "n2 (offset 1) grew it");
	cr_assert_null(lw_state_find(lw_engine_state(eng), "S1", 2));
	lw_engine_flush(eng);
	cr_assert_eq(R.nalerts, 2, "nothing twice");
}

/* A record expiring with nothing pending goes at its TTL (the engine drops
 * it without loading it: state.h, lw_state_schedule_expiry; the outcome
 * must be the same as evaluating it first); one with a timer still to
 * come stays, and its timer fires. */
Test(engine, plain_expiry_drops_the_record_and_keeps_timers)
{
	tu_result r;
	tu_notif n;
	replay_mode();
	ecfg.state.ttl_ms = 1000;
	ecfg.rules.sla_default_ms = 3000;
	ecfg.rules.sla_critical_ms = 3000;
	start(0);
	r = res("r1", "S1", "NEG", 1, 0); /* MISSING due 3000 */
	feed_result(&r, "S1");
	r = res("r2", "S2", "NEG", 1, 0);
	feed_result(&r, "S2");
	n = note("n2", "S2", "a", "NEG", 100); /* told: nothing pending */
	feed_notif(&n, "S2");
	r = status_res("P", "P", "NEG", "PRELIMINARY", 2000);
	feed_result(&r, "P");
	cr_assert_null(lw_state_find(lw_engine_state(eng), "S2", 2),
		       "S2 expired at 1100");
	cr_assert_not_null(lw_state_find(lw_engine_state(eng), "S1", 2),
			   "S1 waits for its timer");
	cr_assert_eq(R.nalerts, 0);
	r = status_res("Q", "Q", "NEG", "PRELIMINARY", 3001);
	feed_result(&r, "Q");
	cr_assert_eq(nrule(LW_RULE_MISSING_NOTIFICATION), 1);
	cr_assert_str_eq(R.alerts[0].specimen, "S1");
}
