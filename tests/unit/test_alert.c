/* test_alert: building alerts and their Avro and JSON encodings (alert.h).
 *
 * The Avro encoding is decoded with Avro C's generic reader against
 * schemas/MismatchAlert.avsc (embedded as lw_schema_alert_json) and every
 * field is compared with what the specimen record built here says; the
 * decoder must use up exactly the bytes after the 5-byte header. The
 * evidence list is capped by max_evidence with the rest counted. The JSON
 * encoding is parsed back with the strict parser of testutil.h and every
 * field compared, for built alerts and for a hand-built one with awkward
 * strings. Neither encoding may carry a recipient key or hint. */
#include <criterion/criterion.h>

#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "codes.h"
#include "rules.h"
#include "schemas.h"
#include "specimen.h"
#include "testutil.h"

static const char *const topics[2] = {"lab.results.t", "lab.notifications.t"};

static lw_codes *codes;
static lw_specimen sp;
static lw_incident_list L;
static lw_alert_builder B;
static lw_buf out;

static void setup(void)
{
	codes = lw_codes_new();
	lw_specimen_init(&sp, "SP-42", 5);
	lw_incident_list_init(&L);
	lw_alert_builder_init(&B, 100);
	memset(&out, 0, sizeof out);
}

static void teardown(void)
{
	lw_specimen_clear(&sp);
	lw_incident_list_free(&L);
	lw_alert_builder_free(&B);
	lw_buf_free(&out);
	lw_codes_destroy(codes);
}

TestSuite(alert, .init = setup, .fini = teardown);

static lw_str view(const char *s)
{
	lw_str v = {s, s ? (uint32_t)strlen(s) : 0};
	return v;
}

static void result(const char *id, const char *code, int32_t version, int64_t t,
		   const char *contact, int32_t p, int64_t off)
{
	lw_result_event ev;
	lw_str c = view(contact);
	memset(&ev, 0, sizeof ev);
	ev.event_id = view(id);
	ev.specimen_id = view(lw_specimen_id(&sp));
	ev.patient_key = view("pk-42");
	ev.test_code = view("PCR");
	ev.result_code = view(code);
	ev.status = LW_STATUS_FINAL;
	ev.result_version = version;
	ev.contact_keys = &c;
	ev.n_contact_keys = contact ? 1 : 0;
	ev.recorded_at = t;
	cr_assert_eq(
	    lw_specimen_add_result(
		&sp, &ev, lw_codes_intern(codes, code, strlen(code)), p, off),
	    1);
}

static void notif(const char *id, const char *recipient, const char *code,
		  int32_t version, int64_t t, const char *intended,
		  const char *batch, int32_t p, int64_t off)
{
	lw_notification_event ev;
	memset(&ev, 0, sizeof ev);
	ev.notification_id = view(id);
	ev.specimen_id = view(lw_specimen_id(&sp));
	ev.intended_specimen_id = view(intended);
	ev.recipient_key = view(recipient);
	ev.recipient_hint = view("hint-SECRET-t***@e***.jp");
	ev.channel = LW_CHANNEL_SMS;
	ev.result_code = view(code);
	ev.has_result_version = version != LW_NO_VERSION;
	ev.result_version = version;
	ev.batch_id = view(batch);
	ev.sent_at = t;
	cr_assert_eq(lw_specimen_add_notification(
			 &sp, &ev,
			 lw_codes_intern(codes, code, code ? strlen(code) : 0),
			 p, off),
		     1);
}

/* The scenario of most tests: one contact c1, two wrong recipients told
 * NEG while POS was recorded, one record meant for SP-43. */
static void scenario(void)
{
	lw_rules_config cfg = {0};
	result("r1", "POS", 1, 1000, "c1", 0, 1000);
	notif("n1", "rk-SECRET-a", "neg", 1, 2000, "SP-43", "B-7", 3, 2000);
	notif("n2", "rk-SECRET-b", "NEG", LW_NO_VERSION, 2100, NULL, NULL, 3,
	      2001);
	notif("n3", "c1", "POS", 1, 2200, NULL, "B-8", 3, 2002);
	lw_rules_evaluate(&sp, codes, &cfg, INT64_MIN, &L);
}

static const lw_incident *incident(int rule)
{
	for (size_t i = 0; i < L.n; i++)
		if (L.v[i].rule == rule)
			return &L.v[i];
	cr_assert_fail("no %s incident", lw_rule_name(rule));
	return NULL;
}

/* ---- reading the Avro record back with Avro C ---- */

typedef struct dec {
	avro_schema_t schema;
	avro_value_iface_t *cls;
	avro_value_t v;
} dec;

static void decode(dec *d, const lw_buf *b, int32_t schema_id)
{
	avro_reader_t r;
	size_t size = 0;
	cr_assert_geq(b->len, 5);
	cr_assert_eq(b->data[0], 0, "magic byte");
	cr_assert_eq(((uint32_t)b->data[1] << 24 | (uint32_t)b->data[2] << 16 |
		      (uint32_t)b->data[3] << 8 | b->data[4]),
		     (uint32_t)schema_id);
	d->schema = tu_schema(lw_schema_alert_json);
	d->cls = avro_generic_class_from_schema(d->schema);
	cr_assert_eq(avro_generic_value_new(d->cls, &d->v), 0);
	r = avro_reader_memory((const char *)b->data + 5,
			       (int64_t)(b->len - 5));
	cr_assert_eq(avro_value_read(r, &d->v), 0, "Avro C cannot read it: %s",
		     avro_strerror());
	avro_reader_free(r);
	/* exactly the bytes given: what Avro C would write is as long */
	cr_assert_eq(avro_value_sizeof(&d->v, &size), 0);
	cr_assert_eq(size, b->len - 5, "record is %zu bytes, message %zu", size,
		     b->len - 5);
}

static void dec_free(dec *d)
{
	avro_value_decref(&d->v);
	avro_value_iface_decref(d->cls);
	avro_schema_decref(d->schema);
}

static avro_value_t fld(avro_value_t *rec, const char *name)
{
	avro_value_t f;
	cr_assert_eq(avro_value_get_by_name(rec, name, &f, NULL), 0, "%s",
		     name);
	return f;
}

static const char *a_str(avro_value_t *rec, const char *name)
{
	avro_value_t f = fld(rec, name);
	const char *s;
	size_t n;
	cr_assert_eq(avro_value_get_string(&f, &s, &n), 0, "%s", name);
	return s;
}

/* ["null","string"]: NULL for null */
static const char *a_opt_str(avro_value_t *rec, const char *name)
{
	avro_value_t f = fld(rec, name), b;
	int disc;
	const char *s;
	size_t n;
	cr_assert_eq(avro_value_get_discriminant(&f, &disc), 0);
	if (disc == 0)
		return NULL;
	cr_assert_eq(disc, 1);
	avro_value_get_current_branch(&f, &b);
	cr_assert_eq(avro_value_get_string(&b, &s, &n), 0);
	return s;
}

/* ["null","int"]: LW_NO_VERSION for null */
static int32_t a_opt_int(avro_value_t *rec, const char *name)
{
	avro_value_t f = fld(rec, name), b;
	int disc;
	int32_t v;
	cr_assert_eq(avro_value_get_discriminant(&f, &disc), 0);
	if (disc == 0)
		return LW_NO_VERSION;
	avro_value_get_current_branch(&f, &b);
	cr_assert_eq(avro_value_get_int(&b, &v), 0);
	return v;
}

static int32_t a_int(avro_value_t *rec, const char *name)
{
	avro_value_t f = fld(rec, name);
	int32_t v;
	cr_assert_eq(avro_value_get_int(&f, &v), 0, "%s", name);
	return v;
}

static int64_t a_long(avro_value_t *rec, const char *name)
{
	avro_value_t f = fld(rec, name);
	int64_t v;
	cr_assert_eq(avro_value_get_long(&f, &v), 0, "%s", name);
	return v;
}

static const char *a_severity(avro_value_t *rec)
{
	avro_value_t f = fld(rec, "severity");
	int v;
	cr_assert_eq(avro_value_get_enum(&f, &v), 0);
	return avro_schema_enum_get(avro_value_get_schema(&f), v);
}

#define assert_opt_str(got, want)                                           \
	do {                                                                \
		const char *g_ = (got), *w_ = (want);                       \
		if (!w_)                                                    \
			cr_assert_null(g_, #got ": \"%s\", want null", g_); \
		else {                                                      \
			cr_assert_not_null(g_, #got ": null, want %s", w_); \
			cr_assert_str_eq(g_, w_, #got);                     \
		}                                                           \
	} while (0)

typedef struct want_ev {
	const char *topic;
	int32_t partition;
	int64_t offset;
	const char *event_id;
} want_ev;

static void check_evidence(avro_value_t *rec, const want_ev *w, size_t n,
			   int32_t omitted)
{
	avro_value_t arr = fld(rec, "evidence");
	size_t size;
	cr_assert_eq(avro_value_get_size(&arr, &size), 0);
	cr_assert_eq(size, n);
	for (size_t i = 0; i < n; i++) {
		avro_value_t e;
		avro_value_get_by_index(&arr, i, &e, NULL);
		cr_assert_str_eq(a_str(&e, "topic"), w[i].topic, "[%zu]", i);
		cr_assert_eq(a_int(&e, "partition"), w[i].partition, "[%zu]",
			     i);
		cr_assert_eq(a_long(&e, "offset"), w[i].offset, "[%zu]", i);
		cr_assert_str_eq(a_str(&e, "event_id"), w[i].event_id, "[%zu]",
				 i);
	}
	cr_assert_eq(a_int(rec, "evidence_omitted"), omitted);
}

static int contains(const lw_buf *b, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; i + n <= b->len; i++)
		if (!memcmp(b->data + i, needle, n))
			return 1;
	return 0;
}

/* ---- Avro ---- */

Test(alert, result_mismatch_avro_every_field)
{
	const lw_incident *inc;
	lw_alert a;
	char id[33];
	uint64_t key;
	dec d;
	static const want_ev ev[] = {
	    {"lab.results.t", 0, 1000, "r1"},
	    {"lab.notifications.t", 3, 2000, "n1"},
	    {"lab.notifications.t", 3, 2001, "n2"},
	};
	scenario();
	inc = incident(LW_RULE_RESULT_MISMATCH);
	lw_incident_alert_id(&sp, inc, codes, id, &key);
	lw_alert_build(&B, &sp, inc, &L, codes, 1700000000123LL, &a);
	cr_assert_str_eq(a.alert_id, id);
	cr_assert_eq(a.key, key);
	lw_alert_encode_avro(&a, LW_SCHEMA_ID_ALERT, topics, &out);
	decode(&d, &out, LW_SCHEMA_ID_ALERT);
	cr_assert_str_eq(a_str(&d.v, "alert_id"), id);
	/* the revision counts the notifications involved (engine.c) */
	cr_assert_eq(a_int(&d.v, "revision"), 2);
	cr_assert_str_eq(a_str(&d.v, "rule"), "RESULT_MISMATCH");
	cr_assert_str_eq(a_severity(&d.v), "CRITICAL");
	cr_assert_str_eq(a_str(&d.v, "specimen_id"), "SP-42");
	assert_opt_str(a_opt_str(&d.v, "patient_key"), "pk-42");
	assert_opt_str(a_opt_str(&d.v, "recorded_result_code"), "POS");
	cr_assert_eq(a_opt_int(&d.v, "recorded_result_version"), 1);
	assert_opt_str(a_opt_str(&d.v, "stated_result_code"), "NEG");
	cr_assert_eq(a_opt_int(&d.v, "stated_result_version"), LW_NO_VERSION,
		     "not a fact of a RESULT_MISMATCH");
	assert_opt_str(a_opt_str(&d.v, "intended_specimen_id"), "SP-43");
	cr_assert_eq(a_int(&d.v, "recipient_count"), 2);
	assert_opt_str(a_opt_str(&d.v, "batch_id"), "B-7");
	cr_assert_eq(a_long(&d.v, "event_time"), 2100);
	cr_assert_eq(a_long(&d.v, "detected_at"), 1700000000123LL);
	check_evidence(&d.v, ev, 3, 0);
	cr_assert(strstr(a_str(&d.v, "summary"), "SP-42"), "%s",
		  a_str(&d.v, "summary"));
	cr_assert(strstr(a_str(&d.v, "summary"), "NEG"));
	dec_free(&d);
}

Test(alert, fanout_and_record_mismatch_avro)
{
	lw_alert a;
	dec d;
	static const want_ev fan[] = {
	    {"lab.results.t", 0, 1000, "r1"},
	    {"lab.notifications.t", 3, 2000, "n1"},
	    {"lab.notifications.t", 3, 2001, "n2"},
	    {"lab.notifications.t", 3, 2002, "n3"},
	};
	scenario();
	lw_alert_build(&B, &sp, incident(LW_RULE_FANOUT), &L, codes, 5, &a);
	lw_alert_encode_avro(&a, 0x01020304, topics, &out);
	decode(&d, &out, 0x01020304);
	cr_assert_str_eq(a_str(&d.v, "rule"), "FANOUT");
	cr_assert_str_eq(a_severity(&d.v), "CRITICAL");
	cr_assert_eq(a_int(&d.v, "recipient_count"), 3);
	cr_assert_eq(a_int(&d.v, "revision"), 3);
	assert_opt_str(a_opt_str(&d.v, "recorded_result_code"), "POS");
	cr_assert_eq(a_opt_int(&d.v, "recorded_result_version"), 1);
	assert_opt_str(a_opt_str(&d.v, "batch_id"), "B-7");
	cr_assert_eq(a_long(&d.v, "event_time"), 2200);
	cr_assert_eq(a_long(&d.v, "detected_at"), 5);
	check_evidence(&d.v, fan, 4, 0);
	dec_free(&d);

	lw_buf_reset(&out);
	lw_alert_build(&B, &sp, incident(LW_RULE_RECORD_MISMATCH), &L, codes, 6,
		       &a);
	lw_alert_encode_avro(&a, 3, topics, &out);
	decode(&d, &out, 3);
	cr_assert_str_eq(a_str(&d.v, "rule"), "RECORD_MISMATCH");
	assert_opt_str(a_opt_str(&d.v, "intended_specimen_id"), "SP-43");
	cr_assert_eq(a_int(&d.v, "recipient_count"), 1);
	check_evidence(&d.v, fan, 2, 0);
	dec_free(&d);
}

Test(alert, stale_version_avro)
{
	lw_rules_config cfg = {0};
	lw_alert a;
	dec d;
	result("r1", "NEG", 1, 100, NULL, 1, 10);
	result("r2", "NEG", 2, 200, NULL, 1, 11);
	notif("n1", "x", "NEG", 1, 300, NULL, NULL, 2, 50);
	lw_rules_evaluate(&sp, codes, &cfg, INT64_MIN, &L);
	lw_alert_build(&B, &sp, incident(LW_RULE_STALE_VERSION), &L, codes, 7,
		       &a);
	lw_alert_encode_avro(&a, 3, topics, &out);
	decode(&d, &out, 3);
	cr_assert_str_eq(a_str(&d.v, "rule"), "STALE_VERSION");
	cr_assert_str_eq(a_severity(&d.v), "HIGH");
	cr_assert_eq(a_opt_int(&d.v, "recorded_result_version"), 2);
	assert_opt_str(a_opt_str(&d.v, "recorded_result_code"), "NEG");
	cr_assert_eq(a_opt_int(&d.v, "stated_result_version"), 1);
	assert_opt_str(a_opt_str(&d.v, "stated_result_code"), NULL);
	assert_opt_str(a_opt_str(&d.v, "intended_specimen_id"), NULL);
	assert_opt_str(a_opt_str(&d.v, "batch_id"), NULL);
	{
		static const want_ev ev[] = {
		    {"lab.results.t", 1, 11, "r2"},
		    {"lab.notifications.t", 2, 50, "n1"},
		};
		check_evidence(&d.v, ev, 2, 0);
	}
	dec_free(&d);
}

Test(alert, without_result_nulls)
{
	lw_rules_config cfg = {0};
	lw_alert a;
	dec d;
	notif("n1", "x", NULL, LW_NO_VERSION, 300, "SP-9", NULL, 2, 50);
	lw_rules_evaluate(&sp, codes, &cfg, INT64_MIN, &L);
	lw_alert_build(&B, &sp, incident(LW_RULE_RECORD_MISMATCH), &L, codes, 7,
		       &a);
	lw_alert_encode_avro(&a, 3, topics, &out);
	decode(&d, &out, 3);
	assert_opt_str(a_opt_str(&d.v, "patient_key"), NULL);
	assert_opt_str(a_opt_str(&d.v, "recorded_result_code"), NULL);
	cr_assert_eq(a_opt_int(&d.v, "recorded_result_version"), LW_NO_VERSION);
	assert_opt_str(a_opt_str(&d.v, "stated_result_code"), NULL);
	cr_assert_eq(a_opt_int(&d.v, "stated_result_version"), LW_NO_VERSION);
	{
		static const want_ev ev[] = {
		    {"lab.notifications.t", 2, 50, "n1"}};
		check_evidence(&d.v, ev, 1, 0);
	}
	dec_free(&d);
}

Test(alert, evidence_is_capped)
{
	lw_rules_config cfg = {0};
	lw_alert a;
	dec d;
	char id[16], rk[16];
	static const want_ev ev[] = {
	    {"lab.results.t", 0, 7, "r1"},
	    {"lab.notifications.t", 1, 100, "n0"},
	    {"lab.notifications.t", 1, 101, "n1"},
	};
	result("r1", "POS", 1, 100, NULL, 0, 7);
	for (int i = 0; i < 50; i++) {
		snprintf(id, sizeof id, "n%d", i);
		snprintf(rk, sizeof rk, "rk%d", i);
		notif(id, rk, "POS", 1, 200 + i, NULL, "BATCH", 1, 100 + i);
	}
	lw_rules_evaluate(&sp, codes, &cfg, INT64_MIN, &L);
	lw_alert_builder_free(&B);
	lw_alert_builder_init(&B, 3);
	lw_alert_build(&B, &sp, incident(LW_RULE_FANOUT), &L, codes, 1, &a);
	cr_assert_eq(a.nevidence, 3);
	cr_assert_eq(a.evidence_omitted, 48);
	cr_assert_eq(a.recipient_count, 50);
	lw_alert_encode_avro(&a, 3, topics, &out);
	decode(&d, &out, 3);
	check_evidence(&d.v, ev, 3, 48);
	cr_assert_eq(a_int(&d.v, "recipient_count"), 50);
	dec_free(&d);

	/* a builder of 0 still lists one event */
	lw_alert_builder_free(&B);
	lw_alert_builder_init(&B, 0);
	lw_alert_build(&B, &sp, incident(LW_RULE_FANOUT), &L, codes, 1, &a);
	cr_assert_eq(a.nevidence, 1);
	cr_assert_eq(a.evidence_omitted, 50);

	/* and a large cap lists all, across the builder's growth */
	lw_alert_builder_free(&B);
	lw_alert_builder_init(&B, 1000);
	lw_alert_build(&B, &sp, incident(LW_RULE_FANOUT), &L, codes, 1, &a);
	cr_assert_eq(a.nevidence, 51);
	cr_assert_eq(a.evidence_omitted, 0);
	for (uint32_t i = 1; i < 51; i++) {
		snprintf(id, sizeof id, "n%u", i - 1);
		cr_assert_str_eq(a.evidence[i].event_id, id);
		cr_assert_eq(a.evidence[i].offset, 100 + (int64_t)i - 1);
	}
}

Test(alert, no_recipient_keys_or_hints_anywhere)
{
	scenario();
	cr_assert_geq(L.n, 4);
	for (size_t i = 0; i < L.n; i++) {
		lw_alert a;
		lw_alert_build(&B, &sp, &L.v[i], &L, codes, 1, &a);
		lw_buf_reset(&out);
		lw_alert_encode_avro(&a, 3, topics, &out);
		cr_assert_not(contains(&out, "SECRET"), "%s in Avro",
			      lw_rule_name(L.v[i].rule));
		cr_assert_not(contains(&out, "rk-"), "%s in Avro",
			      lw_rule_name(L.v[i].rule));
		lw_buf_reset(&out);
		lw_alert_encode_json(&a, topics, &out);
		cr_assert_not(contains(&out, "SECRET"), "%.*s", (int)out.len,
			      (char *)out.data);
		cr_assert_not(contains(&out, "rk-"), "%.*s", (int)out.len,
			      (char *)out.data);
	}
}

/* ---- JSON ---- */

static void check_json_matches(const lw_alert *a)
{
	tu_json j, *ev;
	lw_buf_reset(&out);
	lw_alert_encode_json(a, topics, &out);
	cr_assert_eq(tu_json_parse(out.data, out.len, &j), 0,
		     "not valid JSON: %.*s", (int)out.len, (char *)out.data);
	cr_assert_eq(j.type, 'o');
	cr_assert_eq(j.n, 18, "the 18 fields of MismatchAlert.avsc");
	tu_json_assert_str(&j, "alert_id", a->alert_id);
	tu_json_assert_int(&j, "revision", a->revision);
	tu_json_assert_str(&j, "rule", lw_rule_name(a->rule));
	tu_json_assert_str(&j, "severity", lw_severity_name(a->severity));
	tu_json_assert_str(&j, "specimen_id", a->specimen_id);
	tu_json_assert_str(&j, "patient_key", a->patient_key);
	tu_json_assert_str(&j, "recorded_result_code", a->recorded_code);
	if (a->recorded_version == LW_NO_VERSION)
		cr_assert_eq(tu_json_get(&j, "recorded_result_version")->type,
			     'z');
	else
		tu_json_assert_int(&j, "recorded_result_version",
				   a->recorded_version);
	tu_json_assert_str(&j, "stated_result_code", a->stated_code);
	if (a->stated_version == LW_NO_VERSION)
		cr_assert_eq(tu_json_get(&j, "stated_result_version")->type,
			     'z');
	else
		tu_json_assert_int(&j, "stated_result_version",
				   a->stated_version);
	tu_json_assert_str(&j, "intended_specimen_id", a->intended_specimen_id);
	tu_json_assert_int(&j, "recipient_count", a->recipient_count);
	tu_json_assert_str(&j, "batch_id", a->batch_id);
	tu_json_assert_int(&j, "event_time", a->event_time);
	tu_json_assert_int(&j, "detected_at", a->detected_at);
	ev = (tu_json *)tu_json_get(&j, "evidence");
	cr_assert_eq(ev->type, 'a');
	cr_assert_eq(ev->n, a->nevidence);
	for (size_t i = 0; i < ev->n; i++) {
		const tu_json *e = &ev->kids[i];
		cr_assert_eq(e->n, 4);
		tu_json_assert_str(e, "topic", topics[a->evidence[i].topic]);
		tu_json_assert_int(e, "partition", a->evidence[i].partition);
		tu_json_assert_int(e, "offset", a->evidence[i].offset);
		tu_json_assert_str(e, "event_id", a->evidence[i].event_id);
	}
	tu_json_assert_int(&j, "evidence_omitted", a->evidence_omitted);
	tu_json_assert_str(&j, "summary", a->summary);
	tu_json_free(&j);
}

Test(alert, json_of_built_alerts)
{
	scenario();
	for (size_t i = 0; i < L.n; i++) {
		lw_alert a;
		lw_alert_build(&B, &sp, &L.v[i], &L, codes, 1700000000999LL,
			       &a);
		check_json_matches(&a);
	}
}

Test(alert, json_of_a_hand_built_alert)
{
	static const lw_evidence ev[3] = {
	    {LW_TOPIC_RESULTS, 0, 1000, "r\"1\\"},
	    {LW_TOPIC_NOTIFICATIONS, 31, INT64_C(9007199254740993),
	     "n-\xe6\x97\xa5"},
	    {LW_TOPIC_NOTIFICATIONS, 0, 0, "tab\there\x01"},
	};
	lw_alert a;
	tu_json j;
	memset(&a, 0, sizeof a);
	strcpy(a.alert_id, "0123456789abcdef0123456789abcdef");
	a.revision = 4000000000u;
	a.rule = LW_RULE_WRONG_RECIPIENT;
	a.severity = LW_SEV_HIGH;
	a.specimen_id = "SP-\xc3\xa9\"x\"";
	a.patient_key = NULL;
	a.recorded_code = "NOT DETECTED";
	a.recorded_version = -3;
	a.stated_code = NULL;
	a.stated_version = INT32_MAX;
	a.intended_specimen_id = "\\";
	a.recipient_count = 7;
	a.batch_id = "bad \xff byte";
	a.event_time = INT64_MIN;
	a.detected_at = INT64_MAX;
	a.evidence = ev;
	a.nevidence = 3;
	a.evidence_omitted = 12;
	strcpy(a.summary, "line1\nline2 </script> \x7f");
	lw_alert_encode_json(&a, topics, &out);
	cr_assert_eq(tu_json_parse(out.data, out.len, &j), 0, "%.*s",
		     (int)out.len, (char *)out.data);
	tu_json_assert_int(&j, "revision", 4000000000u);
	tu_json_assert_str(&j, "rule", "WRONG_RECIPIENT");
	tu_json_assert_str(&j, "severity", "HIGH");
	tu_json_assert_str(&j, "specimen_id", "SP-\xc3\xa9\"x\"");
	tu_json_assert_str(&j, "patient_key", NULL);
	tu_json_assert_int(&j, "recorded_result_version", -3);
	tu_json_assert_int(&j, "stated_result_version", INT32_MAX);
	tu_json_assert_str(&j, "intended_specimen_id", "\\");
	tu_json_assert_str(&j, "batch_id", "bad \xef\xbf\xbd byte");
	tu_json_assert_int(&j, "event_time", INT64_MIN);
	tu_json_assert_int(&j, "detected_at", INT64_MAX);
	tu_json_assert_str(&j, "summary", "line1\nline2 </script> \x7f");
	tu_json_free(&j);
	/* everything else the generic way (the invalid byte aside) */
	a.batch_id = "fine";
	check_json_matches(&a);
}
