/* test_codec: the Confluent-framed Avro decoder (codec.h).
 *
 * Every input is written by Avro C's generic writer (testutil.h) or, for
 * byte-level corruption, by the tiny independent encoder below, whose output
 * is first checked byte for byte against Avro C's. Covered: our own schemas
 * (IDs 1 and 2) with every field checked; writer schemas that differ from
 * ours (reordered, added fields of every Avro type that must be skipped,
 * optional fields missing and their defaults, promotions int->long and
 * int/long/float->double, bytes as string, unions in either order or absent
 * on either side, enums reordered or with unknown symbols); writer schemas
 * that cannot be read (a required field missing or of an unreadable type,
 * a null union branch chosen for a required field); and bad bytes (empty,
 * short, bad magic, unknown ID, truncation at every length, random byte
 * flips, over-long varints, negative lengths, array blocks with byte sizes,
 * huge counts, trailing bytes, empty identifiers, too many contact keys).
 * The sanitizer build turns any read past a message into a failure: inputs
 * are copied into buffers of exactly their length. */
#include <criterion/criterion.h>

#include <avro.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "registry.h"
#include "schemas.h"
#include "testutil.h"

/* ---- per-test registry and codec (torn down even when a test fails) ---- */

static struct {
	char *dir;
	lw_registry *reg;
	lw_codec *codec;
	char *json[16];
	int njson;
} C;

static void teardown(void)
{
	lw_codec_destroy(C.codec);
	lw_registry_destroy(C.reg);
	if (C.dir)
		tu_rmdir(C.dir);
	for (int i = 0; i < C.njson; i++)
		free(C.json[i]);
	memset(&C, 0, sizeof C);
}

TestSuite(codec, .fini = teardown);

/* Registry = the embedded schemas (IDs 1-3) plus the given files. */
static void setup(const tu_schema_file *v, size_t n)
{
	char err[512] = "";
	if (n)
		C.dir = tu_regdir(v, n);
	C.reg = lw_registry_new(C.dir, err, sizeof err);
	cr_assert_not_null(C.reg, "registry: %s", err);
	C.codec = lw_codec_new(C.reg);
}

static void setup_embedded(void)
{
	setup(NULL, 0);
}

/* Keeps a malloc'd schema text alive until teardown. */
static const char *keep(char *json)
{
	cr_assert_lt(C.njson, 16);
	C.json[C.njson++] = json;
	return json;
}

/* ---- writer schemas built from field lists ---- */

#define STATUS_ENUM                                                 \
	"{\"type\":\"enum\",\"name\":\"ResultStatus\",\"symbols\":" \
	"[\"PRELIMINARY\",\"FINAL\",\"CORRECTED\",\"CANCELLED\","   \
	"\"ENTERED_IN_ERROR\"]}"
#define CHANNEL_ENUM                                                  \
	"{\"type\":\"enum\",\"name\":\"Channel\",\"symbols\":"        \
	"[\"EMAIL\",\"SMS\",\"PORTAL\",\"LETTER\",\"PHONE\",\"FAX\"," \
	"\"HANDOVER\"]}"

static const char *const result_base[][2] = {
    {"event_id", "\"string\""},
    {"specimen_id", "\"string\""},
    {"patient_key", "\"string\""},
    {"test_code", "\"string\""},
    {"result_code", "\"string\""},
    {"value", "[\"null\",\"double\"]"},
    {"unit", "[\"null\",\"string\"]"},
    {"status", STATUS_ENUM},
    {"result_version", "\"int\""},
    {"retest_pending", "\"boolean\""},
    {"contact_keys", "{\"type\":\"array\",\"items\":\"string\"}"},
    {"recorded_at", "\"long\""},
    {"source_system", "\"string\""},
};

static const char *const notif_base[][2] = {
    {"notification_id", "\"string\""},
    {"specimen_id", "\"string\""},
    {"intended_specimen_id", "[\"null\",\"string\"]"},
    {"recipient_key", "\"string\""},
    {"recipient_hint", "[\"null\",\"string\"]"},
    {"channel", CHANNEL_ENUM},
    {"result_code", "[\"null\",\"string\"]"},
    {"result_version", "[\"null\",\"int\"]"},
    {"batch_id", "[\"null\",\"string\"]"},
    {"sent_at", "\"long\""},
};

/* The base field list of kind (0 result, 1 notification) with overrides:
 * pairs (name, type JSON) ending in NULL; a NULL type removes the field, a
 * name not in the list (or removed before) is appended at the end. Returns
 * malloc'd JSON. */
static char *schema_with(int kind, ...)
{
	const char *const(*base)[2] = kind ? notif_base : result_base;
	size_t nb = kind ? sizeof notif_base / sizeof notif_base[0]
			 : sizeof result_base / sizeof result_base[0];
	const char *names[64], *types[64];
	size_t n = 0, cap = 8192, len = 0;
	char *out = malloc(cap);
	va_list ap;
	for (size_t i = 0; i < nb; i++) {
		names[n] = base[i][0];
		types[n++] = base[i][1];
	}
	va_start(ap, kind);
	for (;;) {
		const char *name = va_arg(ap, const char *), *type;
		size_t i;
		if (!name)
			break;
		type = va_arg(ap, const char *);
		for (i = 0; i < n && strcmp(names[i], name); i++)
			;
		if (i == n) {
			cr_assert_lt(n, 64);
			names[n++] = name;
		}
		types[i] = type;
		if (!type)
			names[i] = ""; /* removed: a later pair re-appends */
	}
	va_end(ap);
	len += (size_t)snprintf(out + len, cap - len,
				"{\"type\":\"record\",\"name\":\"%s\","
				"\"namespace\":\"test.writer\",\"fields\":[",
				kind ? "NotificationSent" : "LabResult");
	for (size_t i = 0, first = 1; i < n; i++) {
		if (!types[i])
			continue;
		len += (size_t)snprintf(out + len, cap - len,
					"%s{\"name\":\"%s\",\"type\":%s}",
					first ? "" : ",", names[i], types[i]);
		first = 0;
	}
	len += (size_t)snprintf(out + len, cap - len, "]}");
	cr_assert_lt(len, cap);
	return out;
}

/* ---- decoding and checking ---- */

static char detail[256];
static int32_t sid;

static lw_decode_status dec_r(const tu_msg *m, lw_result_event *ev)
{
	/* an exact-size copy, so ASan sees any over-read */
	unsigned char *b = malloc(m->len ? m->len : 1);
	lw_decode_status st;
	memcpy(b, m->b, m->len);
	st = lw_codec_decode_result(C.codec, b, m->len, ev, &sid, detail,
				    sizeof detail);
	if (st == LW_DECODE_OK) {
		/* rebase views onto m->b, which outlives this function */
		const char *base = (const char *)b;
#define REBASE(v)                                                     \
	do {                                                          \
		if ((v).p && (v).p >= base && (v).p <= base + m->len) \
			(v).p = (const char *)m->b + ((v).p - base);  \
	} while (0)
		REBASE(ev->event_id);
		REBASE(ev->specimen_id);
		REBASE(ev->patient_key);
		REBASE(ev->test_code);
		REBASE(ev->result_code);
		REBASE(ev->unit);
		REBASE(ev->source_system);
		for (uint32_t i = 0; i < ev->n_contact_keys; i++)
			REBASE(((lw_str *)ev->contact_keys)[i]);
	}
	free(b);
	return st;
}

static lw_decode_status dec_n(const tu_msg *m, lw_notification_event *ev)
{
	unsigned char *b = malloc(m->len ? m->len : 1);
	lw_decode_status st;
	memcpy(b, m->b, m->len);
	st = lw_codec_decode_notification(C.codec, b, m->len, ev, &sid, detail,
					  sizeof detail);
	if (st == LW_DECODE_OK) {
		const char *base = (const char *)b;
		REBASE(ev->notification_id);
		REBASE(ev->specimen_id);
		REBASE(ev->intended_specimen_id);
		REBASE(ev->recipient_key);
		REBASE(ev->recipient_hint);
		REBASE(ev->result_code);
		REBASE(ev->batch_id);
	}
	free(b);
	return st;
}
#undef REBASE

static int status_of(const char *sym)
{
	static const char *const s[] = {"PRELIMINARY", "FINAL", "CORRECTED",
					"CANCELLED", "ENTERED_IN_ERROR"};
	for (int i = 0; i < 5; i++)
		if (!strcmp(sym, s[i]))
			return i;
	return LW_STATUS_UNKNOWN;
}

static int channel_of(const char *sym)
{
	static const char *const s[] = {"EMAIL", "SMS", "PORTAL",  "LETTER",
					"PHONE", "FAX", "HANDOVER"};
	for (int i = 0; i < 7; i++)
		if (!strcmp(sym, s[i]))
			return i;
	return LW_CHANNEL_UNKNOWN;
}

static void check_result(const lw_result_event *ev, const tu_result *r)
{
	tu_assert_str(ev->event_id, r->event_id);
	tu_assert_str(ev->specimen_id, r->specimen_id);
	tu_assert_str(ev->patient_key, r->patient_key);
	tu_assert_str(ev->test_code, r->test_code);
	tu_assert_str(ev->result_code, r->result_code);
	cr_assert_eq(ev->has_value, r->has_value);
	if (r->has_value)
		cr_assert_eq(ev->value, r->value, "value %g, want %g",
			     ev->value, r->value);
	tu_assert_str(ev->unit, r->unit);
	cr_assert_eq(ev->status, status_of(r->status));
	cr_assert_eq(ev->result_version, r->result_version);
	cr_assert_eq(ev->retest_pending, r->retest_pending);
	cr_assert_eq(ev->n_contact_keys, r->ncontacts);
	for (size_t i = 0; i < r->ncontacts; i++)
		tu_assert_str(ev->contact_keys[i], r->contacts[i]);
	cr_assert_eq(ev->recorded_at, r->recorded_at);
	tu_assert_str(ev->source_system, r->source_system);
}

static void check_notif(const lw_notification_event *ev, const tu_notif *x)
{
	tu_assert_str(ev->notification_id, x->notification_id);
	tu_assert_str(ev->specimen_id, x->specimen_id);
	tu_assert_str(ev->intended_specimen_id, x->intended);
	tu_assert_str(ev->recipient_key, x->recipient_key);
	tu_assert_str(ev->recipient_hint, x->hint);
	cr_assert_eq(ev->channel, channel_of(x->channel));
	tu_assert_str(ev->result_code, x->result_code);
	cr_assert_eq(ev->has_result_version, x->has_version);
	if (x->has_version)
		cr_assert_eq(ev->result_version, x->result_version);
	tu_assert_str(ev->batch_id, x->batch_id);
	cr_assert_eq(ev->sent_at, x->sent_at);
}

/* ---- our own schemas ---- */

Test(codec, our_result_schema_every_field)
{
	tu_msg m;
	lw_result_event ev;
	tu_result r = tu_result_example();
	setup_embedded();
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	cr_assert_eq(dec_r(&m, &ev), LW_DECODE_OK, "%s", detail);
	cr_assert_eq(sid, 1);
	check_result(&ev, &r);
}

Test(codec, our_result_schema_nulls_and_empties)
{
	tu_msg m;
	lw_result_event ev;
	tu_result r = tu_result_example();
	setup_embedded();
	r.has_value = 0;
	r.unit = NULL;
	r.retest_pending = 0;
	r.ncontacts = 0;
	r.source_system = "";
	r.result_version = -7;
	r.recorded_at = INT64_MIN; /* a full 10-byte varint */
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	cr_assert_eq(dec_r(&m, &ev), LW_DECODE_OK, "%s", detail);
	check_result(&ev, &r);
	r.recorded_at = INT64_MAX;
	r.result_version = INT32_MAX;
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	cr_assert_eq(dec_r(&m, &ev), LW_DECODE_OK, "%s", detail);
	check_result(&ev, &r);
}

Test(codec, our_notification_schema_every_field)
{
	tu_msg m;
	lw_notification_event ev;
	tu_notif x = tu_notif_example();
	setup_embedded();
	tu_encode_notif(&m, lw_schema_notification_json, 2, &x);
	cr_assert_eq(dec_n(&m, &ev), LW_DECODE_OK, "%s", detail);
	cr_assert_eq(sid, 2);
	check_notif(&ev, &x);
	/* and every optional field null */
	x.intended = x.hint = x.result_code = x.batch_id = NULL;
	x.has_version = 0;
	tu_encode_notif(&m, lw_schema_notification_json, 2, &x);
	cr_assert_eq(dec_n(&m, &ev), LW_DECODE_OK, "%s", detail);
	check_notif(&ev, &x);
}

Test(codec, every_status_and_channel_symbol)
{
	static const char *const st[] = {"PRELIMINARY", "FINAL", "CORRECTED",
					 "CANCELLED", "ENTERED_IN_ERROR"};
	static const char *const ch[] = {"EMAIL", "SMS", "PORTAL",  "LETTER",
					 "PHONE", "FAX", "HANDOVER"};
	static const int stv[] = {LW_STATUS_PRELIMINARY, LW_STATUS_FINAL,
				  LW_STATUS_CORRECTED, LW_STATUS_CANCELLED,
				  LW_STATUS_ENTERED_IN_ERROR};
	static const int chv[] = {LW_CHANNEL_EMAIL,   LW_CHANNEL_SMS,
				  LW_CHANNEL_PORTAL,  LW_CHANNEL_LETTER,
				  LW_CHANNEL_PHONE,   LW_CHANNEL_FAX,
				  LW_CHANNEL_HANDOVER};
	tu_msg m;
	setup_embedded();
	for (int i = 0; i < 5; i++) {
		lw_result_event ev;
		tu_result r = tu_result_example();
		r.status = st[i];
		tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
		cr_assert_eq(dec_r(&m, &ev), LW_DECODE_OK);
		cr_assert_eq(ev.status, stv[i], "%s", st[i]);
		cr_assert_str_eq(lw_status_name(ev.status), st[i]);
	}
	for (int i = 0; i < 7; i++) {
		lw_notification_event ev;
		tu_notif x = tu_notif_example();
		x.channel = ch[i];
		tu_encode_notif(&m, lw_schema_notification_json, 2, &x);
		cr_assert_eq(dec_n(&m, &ev), LW_DECODE_OK);
		cr_assert_eq(ev.channel, chv[i], "%s", ch[i]);
		cr_assert_str_eq(lw_channel_name(ev.channel), ch[i]);
	}
	cr_assert_eq(lw_codec_unknown_symbols(C.codec), 0);
}

Test(codec, views_point_into_the_message)
{
	tu_msg m;
	lw_result_event ev;
	tu_result r = tu_result_example();
	unsigned char *b;
	setup_embedded();
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	b = malloc(m.len);
	memcpy(b, m.b, m.len);
	cr_assert_eq(lw_codec_decode_result(C.codec, b, m.len, &ev, &sid,
					    detail, sizeof detail),
		     LW_DECODE_OK);
	cr_assert(ev.event_id.p >= (char *)b &&
		  ev.event_id.p + ev.event_id.len <= (char *)b + m.len);
	cr_assert(ev.contact_keys[2].p >= (char *)b &&
		  ev.contact_keys[2].p + 6 <= (char *)b + m.len);
	free(b);
}

Test(codec, one_codec_reuses_scratch_between_messages)
{
	tu_msg m;
	lw_result_event ev;
	tu_result r = tu_result_example();
	setup_embedded();
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	cr_assert_eq(dec_r(&m, &ev), LW_DECODE_OK);
	cr_assert_eq(ev.n_contact_keys, 3);
	r.ncontacts = 0;
	r.event_id = "ev-2";
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	cr_assert_eq(dec_r(&m, &ev), LW_DECODE_OK);
	cr_assert_eq(ev.n_contact_keys, 0);
	tu_assert_str(ev.event_id, "ev-2");
}

Test(codec, result_bytes_are_not_a_notification)
{
	tu_msg m;
	lw_notification_event ev;
	tu_result r = tu_result_example();
	setup_embedded();
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	cr_assert_eq(dec_n(&m, &ev), LW_DECODE_INCOMPATIBLE);
	cr_assert_eq(sid, 1);
	cr_assert(strstr(detail, "notification_id"), "%s", detail);
}

/* ---- the evolved writers shipped in schemas/registry ---- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

Test(codec, shipped_evolved_writers_101_102)
{
	char err[256];
	const char *j101 =
	    keep(slurp(LW_SCHEMA_DIR "/101-LabResult-evolved.avsc"));
	const char *j102 =
	    keep(slurp(LW_SCHEMA_DIR "/102-NotificationSent-evolved.avsc"));
	tu_msg m;
	lw_result_event re;
	lw_notification_event ne;
	tu_result r = tu_result_example();
	tu_notif x = tu_notif_example();
	C.reg = lw_registry_new(LW_SCHEMA_DIR, err, sizeof err);
	cr_assert_not_null(C.reg, "%s", err);
	C.codec = lw_codec_new(C.reg);

	r.value = 0.375; /* exact as a float */
	tu_encode_result(&m, j101, 101, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s", detail);
	cr_assert_eq(sid, 101);
	/* 101 lacks unit, retest_pending and source_system: defaults */
	r.unit = NULL;
	r.retest_pending = 0;
	r.source_system = "";
	check_result(&re, &r);

	r.status = "AMENDED"; /* a symbol our schema lacks */
	tu_encode_result(&m, j101, 101, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s", detail);
	cr_assert_eq(re.status, LW_STATUS_UNKNOWN);
	cr_assert_eq(lw_codec_unknown_symbols(C.codec), 1);

	/* 102 lacks intended_specimen_id, recipient_hint and batch_id */
	tu_encode_notif(&m, j102, 102, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
	x.intended = x.hint = x.batch_id = NULL;
	check_notif(&ne, &x);
	x.channel = "WHATSAPP";
	x.result_code = NULL;
	x.has_version = 0;
	tu_encode_notif(&m, j102, 102, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
	cr_assert_eq(ne.channel, LW_CHANNEL_UNKNOWN);
	tu_assert_str(ne.result_code, NULL);
	cr_assert_eq(ne.has_result_version, 0);
	cr_assert_eq(lw_codec_unknown_symbols(C.codec), 2);
}

/* ---- writer schemas that differ from ours ---- */

/* The base list reversed. */
static char *reversed(int kind)
{
	const char *const(*base)[2] = kind ? notif_base : result_base;
	size_t nb = kind ? sizeof notif_base / sizeof notif_base[0]
			 : sizeof result_base / sizeof result_base[0];
	size_t cap = 8192, len = 0;
	char *out = malloc(cap);
	len += (size_t)snprintf(out, cap,
				"{\"type\":\"record\",\"name\":\"R\","
				"\"fields\":[");
	for (size_t i = nb; i-- > 0;)
		len += (size_t)snprintf(out + len, cap - len,
					"{\"name\":\"%s\",\"type\":%s}%s",
					base[i][0], base[i][1], i ? "," : "");
	snprintf(out + len, cap - len, "]}");
	return out;
}

Test(codec, fields_reordered)
{
	tu_schema_file f[] = {{10, keep(reversed(0))}, {11, keep(reversed(1))}};
	tu_msg m;
	lw_result_event re;
	lw_notification_event ne;
	tu_result r = tu_result_example();
	tu_notif x = tu_notif_example();
	setup(f, 2);
	tu_encode_result(&m, f[0].json, 10, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s", detail);
	check_result(&re, &r);
	tu_encode_notif(&m, f[1].json, 11, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
	check_notif(&ne, &x);
}

#define FIXED_MD5 "{\"type\":\"fixed\",\"name\":\"Md5\",\"size\":16}"
#define GEO                                                  \
	"{\"type\":\"record\",\"name\":\"Geo\",\"fields\":[" \
	"{\"name\":\"lat\",\"type\":\"double\"},"            \
	"{\"name\":\"lon\",\"type\":\"float\"}]}"

static avro_value_t field(avro_value_t *rec, const char *name)
{
	avro_value_t f;
	cr_assert_eq(avro_value_get_by_name(rec, name, &f, NULL), 0, "%s",
		     name);
	return f;
}

/* Our fields (a..m in schema order) with extra fields of every Avro type
 * before, between and after them; named types are defined once and
 * referenced later ("Geo" in x_union, "Md5" in x_last). */
static const char interleaved_result[] =
    "{\"type\":\"record\",\"name\":\"LabResult\",\"namespace\":\"x.y\","
    "\"fields\":["
    "{\"name\":\"x_fixed\",\"type\":" FIXED_MD5 "},"
    "{\"name\":\"source_system\",\"type\":\"string\"},"
    "{\"name\":\"x_nested\",\"type\":{\"type\":\"record\",\"name\":\"Site\","
    "\"fields\":[{\"name\":\"code\",\"type\":\"string\"},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
    "{\"name\":\"geo\",\"type\":" GEO "}]}},"
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"x_map\",\"type\":{\"type\":\"map\",\"values\":"
    "{\"type\":\"array\",\"items\":\"int\"}}},"
    "{\"name\":\"specimen_id\",\"type\":\"string\"},"
    "{\"name\":\"x_records\",\"type\":{\"type\":\"array\",\"items\":"
    "{\"type\":\"record\",\"name\":\"Obs\",\"fields\":["
    "{\"name\":\"k\",\"type\":\"string\"},"
    "{\"name\":\"v\",\"type\":[\"null\",\"double\"]},"
    "{\"name\":\"flag\",\"type\":\"boolean\"}]}}},"
    "{\"name\":\"patient_key\",\"type\":\"string\"},"
    "{\"name\":\"x_enum\",\"type\":{\"type\":\"enum\",\"name\":\"Priority\","
    "\"symbols\":[\"LOW\",\"HIGH\",\"STAT\"]}},"
    "{\"name\":\"contact_keys\",\"type\":{\"type\":\"array\","
    "\"items\":\"string\"}},"
    "{\"name\":\"x_union\",\"type\":[\"null\",\"long\",\"string\",\"Geo\"]},"
    "{\"name\":\"test_code\",\"type\":\"string\"},"
    "{\"name\":\"x_bytes\",\"type\":\"bytes\"},"
    "{\"name\":\"result_code\",\"type\":\"string\"},"
    "{\"name\":\"x_bool\",\"type\":\"boolean\"},"
    "{\"name\":\"value\",\"type\":[\"null\",\"double\"]},"
    "{\"name\":\"x_int\",\"type\":\"int\"},"
    "{\"name\":\"unit\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"x_long\",\"type\":\"long\"},"
    "{\"name\":\"status\",\"type\":" STATUS_ENUM "},"
    "{\"name\":\"x_float\",\"type\":\"float\"},"
    "{\"name\":\"result_version\",\"type\":\"int\"},"
    "{\"name\":\"x_double\",\"type\":\"double\"},"
    "{\"name\":\"retest_pending\",\"type\":\"boolean\"},"
    "{\"name\":\"x_null\",\"type\":\"null\"},"
    "{\"name\":\"recorded_at\",\"type\":\"long\"},"
    "{\"name\":\"x_last\",\"type\":{\"type\":\"array\",\"items\":"
    "{\"type\":\"map\",\"values\":[\"null\",\"Md5\"]}}}"
    "]}";

static const char interleaved_notif[] =
    "{\"type\":\"record\",\"name\":\"NotificationSent\",\"fields\":["
    "{\"name\":\"x_first\",\"type\":[\"string\",\"null\"]},"
    "{\"name\":\"sent_at\",\"type\":\"long\"},"
    "{\"name\":\"x_geo\",\"type\":" GEO "},"
    "{\"name\":\"batch_id\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"x_arr\",\"type\":{\"type\":\"array\",\"items\":\"Geo\"}},"
    "{\"name\":\"result_version\",\"type\":[\"null\",\"int\"]},"
    "{\"name\":\"result_code\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"x_fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F3\","
    "\"size\":3}},"
    "{\"name\":\"channel\",\"type\":" CHANNEL_ENUM "},"
    "{\"name\":\"recipient_hint\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"x_map\",\"type\":{\"type\":\"map\",\"values\":"
    "[\"null\",\"Geo\",\"string\"]}},"
    "{\"name\":\"recipient_key\",\"type\":\"string\"},"
    "{\"name\":\"intended_specimen_id\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"specimen_id\",\"type\":\"string\"},"
    "{\"name\":\"notification_id\",\"type\":\"string\"},"
    "{\"name\":\"x_tail\",\"type\":[\"null\",{\"type\":\"array\","
    "\"items\":\"bytes\"}]}"
    "]}";

Test(codec, added_fields_of_every_type_are_skipped)
{
	tu_schema_file f[] = {{12, interleaved_result},
			      {13, interleaved_notif}};
	tu_result r = tu_result_example();
	tu_notif x = tu_notif_example();
	avro_schema_t s;
	avro_value_iface_t *cls;
	avro_value_t v, fl, b;
	tu_msg m;
	lw_result_event re;
	lw_notification_event ne;
	setup(f, 2);
	s = tu_schema(interleaved_result);
	cls = avro_generic_class_from_schema(s);
	avro_generic_value_new(cls, &v);
	/* x_union on each of its branches in turn */
	for (int variant = 0; variant < 4; variant++) {
		avro_value_reset(&v);
		tu_fill_result(&v, &r);
		fl = field(&v, "x_union");
		cr_assert_eq(avro_value_set_branch(&fl, variant, &b), 0);
		if (variant == 0)
			avro_value_set_null(&b);
		else if (variant == 1)
			avro_value_set_long(&b, -99999999999LL);
		else if (variant == 2)
			avro_value_set_string(&b, "twelve");
		else
			tu_fill_any(&b, 1);
		tu_frame(&m, 12, &v);
		cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "variant %d: %s",
			     variant, detail);
		check_result(&re, &r);
	}
	avro_value_decref(&v);
	avro_value_iface_decref(cls);
	avro_schema_decref(s);

	tu_encode_notif(&m, interleaved_notif, 13, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
	check_notif(&ne, &x);
	x.intended = x.hint = x.result_code = x.batch_id = NULL;
	x.has_version = 0;
	tu_encode_notif(&m, interleaved_notif, 13, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
	check_notif(&ne, &x);
}

Test(codec, optional_fields_missing_get_defaults)
{
	const char *rj = keep(
	    schema_with(0, "value", NULL, "unit", NULL, "retest_pending", NULL,
			"contact_keys", NULL, "source_system", NULL, NULL));
	const char *nj =
	    keep(schema_with(1, "intended_specimen_id", NULL, "recipient_hint",
			     NULL, "result_code", NULL, "result_version", NULL,
			     "batch_id", NULL, NULL));
	tu_schema_file f[] = {{14, rj}, {15, nj}};
	tu_result r = tu_result_example();
	tu_notif x = tu_notif_example();
	tu_msg m;
	lw_result_event re;
	lw_notification_event ne;
	setup(f, 2);

	/* first a message with every field set through our own schema, so
	 * the scratch and the event struct hold non-default values */
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK);
	tu_encode_result(&m, rj, 14, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s", detail);
	r.has_value = 0;
	r.unit = NULL;
	r.retest_pending = 0;
	r.ncontacts = 0;
	r.source_system = "";
	check_result(&re, &r);
	cr_assert_not_null(re.source_system.p, "default \"\" is not null");

	tu_encode_notif(&m, lw_schema_notification_json, 2, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK);
	tu_encode_notif(&m, nj, 15, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
	x.intended = x.hint = x.result_code = x.batch_id = NULL;
	x.has_version = 0;
	check_notif(&ne, &x);
}

Test(codec, int_promoted_to_long)
{
	const char *rj = keep(schema_with(0, "recorded_at", "\"int\"", NULL));
	const char *nj = keep(schema_with(1, "sent_at", "\"int\"", NULL));
	tu_schema_file f[] = {{16, rj}, {17, nj}};
	tu_result r = tu_result_example();
	tu_notif x = tu_notif_example();
	tu_msg m;
	lw_result_event re;
	lw_notification_event ne;
	setup(f, 2);
	r.recorded_at = -2000000000;
	tu_encode_result(&m, rj, 16, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s", detail);
	check_result(&re, &r);
	x.sent_at = 2147483647;
	tu_encode_notif(&m, nj, 17, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
	check_notif(&ne, &x);
}

Test(codec, numbers_promoted_to_double)
{
	static const struct {
		const char *type;
		double v;
	} cases[] = {
	    {"\"int\"", -123456.0},
	    {"\"long\"", 9007199254740992.0}, /* 2^53, exact */
	    {"\"float\"", 0.15625},	      /* exact as a float */
	    {"\"double\"", 0.1},
	    {"[\"null\",\"int\"]", 42.0},
	    {"[\"null\",\"long\"]", -5e15},
	    {"[\"null\",\"float\"]", -1.5},
	    {"[\"double\",\"null\"]", 3.25},
	    {"[\"int\",\"null\",\"double\"]", 17.0},
	};
	tu_schema_file f[9];
	tu_msg m;
	lw_result_event re;
	for (int i = 0; i < 9; i++) {
		f[i].id = 20 + i;
		f[i].json = keep(schema_with(0, "value", cases[i].type, NULL));
	}
	setup(f, 9);
	for (int i = 0; i < 9; i++) {
		tu_result r = tu_result_example();
		r.value = cases[i].v;
		tu_encode_result(&m, f[i].json, f[i].id, &r);
		cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s: %s",
			     cases[i].type, detail);
		cr_assert_eq(re.has_value, 1, "%s", cases[i].type);
		cr_assert_eq(re.value, cases[i].v, "%s: %.17g", cases[i].type,
			     re.value);
		check_result(&re, &r);
	}
}

Test(codec, bytes_read_as_string)
{
	const char *rj = keep(
	    schema_with(0, "event_id", "\"bytes\"", "result_code", "\"bytes\"",
			"unit", "[\"null\",\"bytes\"]", "contact_keys",
			"{\"type\":\"array\",\"items\":\"bytes\"}",
			"source_system", "\"bytes\"", NULL));
	const char *nj =
	    keep(schema_with(1, "recipient_key", "\"bytes\"", "result_code",
			     "[\"bytes\",\"null\"]", NULL));
	tu_schema_file f[] = {{30, rj}, {31, nj}};
	tu_result r = tu_result_example();
	tu_notif x = tu_notif_example();
	tu_msg m;
	lw_result_event re;
	lw_notification_event ne;
	setup(f, 2);
	tu_encode_result(&m, rj, 30, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s", detail);
	check_result(&re, &r);
	tu_encode_notif(&m, nj, 31, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
	check_notif(&ne, &x);
}

Test(codec, unions_in_other_branch_order)
{
	const char *nj = keep(schema_with(
	    1, "intended_specimen_id", "[\"string\",\"null\"]",
	    "recipient_hint", "[\"string\",\"null\"]", "result_code",
	    "[\"string\",\"null\"]", "result_version", "[\"int\",\"null\"]",
	    "batch_id", "[\"string\",\"null\"]", NULL));
	const char *rj =
	    keep(schema_with(0, "value", "[\"double\",\"null\"]", "unit",
			     "[\"string\",\"null\"]", NULL));
	tu_schema_file f[] = {{32, nj}, {33, rj}};
	tu_notif x = tu_notif_example();
	tu_result r = tu_result_example();
	tu_msg m;
	lw_notification_event ne;
	lw_result_event re;
	setup(f, 2);
	tu_encode_notif(&m, nj, 32, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
	check_notif(&ne, &x);
	x.intended = x.hint = x.result_code = x.batch_id = NULL;
	x.has_version = 0;
	tu_encode_notif(&m, nj, 32, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
	check_notif(&ne, &x);
	tu_encode_result(&m, rj, 33, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s", detail);
	check_result(&re, &r);
	r.has_value = 0;
	r.unit = NULL;
	tu_encode_result(&m, rj, 33, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s", detail);
	check_result(&re, &r);
}

Test(codec, writer_non_union_into_our_optional)
{
	const char *rj = keep(
	    schema_with(0, "unit", "\"string\"", "value", "\"double\"", NULL));
	const char *nj = keep(schema_with(
	    1, "intended_specimen_id", "\"string\"", "recipient_hint",
	    "\"string\"", "result_code", "\"string\"", "result_version",
	    "\"int\"", "batch_id", "\"string\"", NULL));
	tu_schema_file f[] = {{34, rj}, {35, nj}};
	tu_notif x = tu_notif_example();
	tu_result r = tu_result_example();
	tu_msg m;
	lw_notification_event ne;
	lw_result_event re;
	setup(f, 2);
	tu_encode_result(&m, rj, 34, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s", detail);
	check_result(&re, &r);
	tu_encode_notif(&m, nj, 35, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
	check_notif(&ne, &x);
}

Test(codec, writer_union_into_our_required)
{
	/* A required field written as a union: fine while the message picks
	 * a readable branch, INCOMPATIBLE (naming the field) when it picks
	 * null. */
	const char *rj =
	    keep(schema_with(0, "specimen_id", "[\"null\",\"string\"]", NULL));
	const char *nj =
	    keep(schema_with(1, "sent_at", "[\"long\",\"null\"]", NULL));
	tu_schema_file f[] = {{36, rj}, {37, nj}};
	tu_result r = tu_result_example();
	tu_notif x = tu_notif_example();
	tu_msg m;
	lw_result_event re;
	lw_notification_event ne;
	avro_schema_t s;
	avro_value_iface_t *cls;
	avro_value_t v, fl;
	setup(f, 2);
	tu_encode_result(&m, rj, 36, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s", detail);
	check_result(&re, &r);

	s = tu_schema(rj);
	cls = avro_generic_class_from_schema(s);
	avro_generic_value_new(cls, &v);
	tu_fill_result(&v, &r);
	fl = field(&v, "specimen_id");
	tu_set_null(&fl);
	tu_frame(&m, 36, &v);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_INCOMPATIBLE);
	cr_assert(strstr(detail, "specimen_id"), "%s", detail);
	cr_assert_eq(sid, 36);
	avro_value_decref(&v);
	avro_value_iface_decref(cls);
	avro_schema_decref(s);

	tu_encode_notif(&m, nj, 37, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
	check_notif(&ne, &x);
	s = tu_schema(nj);
	cls = avro_generic_class_from_schema(s);
	avro_generic_value_new(cls, &v);
	tu_fill_notif(&v, &x);
	fl = field(&v, "sent_at");
	tu_set_null(&fl);
	tu_frame(&m, 37, &v);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_INCOMPATIBLE);
	cr_assert(strstr(detail, "sent_at"), "%s", detail);
	avro_value_decref(&v);
	avro_value_iface_decref(cls);
	avro_schema_decref(s);
}

Test(codec, optional_union_with_unreadable_branch)
{
	/* unit as ["null","int"]: the schema is usable (null is), a message
	 * that picks the int branch is not */
	const char *rj =
	    keep(schema_with(0, "unit", "[\"null\",\"int\"]", NULL));
	tu_schema_file f[] = {{38, rj}};
	tu_result r = tu_result_example();
	tu_msg m;
	lw_result_event re;
	avro_schema_t s;
	avro_value_iface_t *cls;
	avro_value_t v, fl;
	setup(f, 1);
	r.unit = NULL;
	tu_encode_result(&m, rj, 38, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s", detail);
	check_result(&re, &r);
	s = tu_schema(rj);
	cls = avro_generic_class_from_schema(s);
	avro_generic_value_new(cls, &v);
	tu_fill_result(&v, &r);
	fl = field(&v, "unit");
	tu_set_long(&fl, 5);
	tu_frame(&m, 38, &v);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_INCOMPATIBLE);
	cr_assert(strstr(detail, "unit"), "%s", detail);
	avro_value_decref(&v);
	avro_value_iface_decref(cls);
	avro_schema_decref(s);
}

Test(codec, enum_symbols_reordered_and_unknown)
{
	const char *rj = keep(schema_with(
	    0, "status",
	    "{\"type\":\"enum\",\"name\":\"ResultStatus\",\"symbols\":"
	    "[\"AMENDED\",\"ENTERED_IN_ERROR\",\"CANCELLED\",\"CORRECTED\","
	    "\"FINAL\",\"PRELIMINARY\",\"REGISTERED\"]}",
	    NULL));
	const char *nj = keep(
	    schema_with(1, "channel",
			"{\"type\":\"enum\",\"name\":\"Channel\",\"symbols\":"
			"[\"HANDOVER\",\"PIGEON\",\"FAX\",\"PHONE\",\"LETTER\","
			"\"PORTAL\",\"SMS\",\"EMAIL\"]}",
			NULL));
	static const char *const st[] = {
	    "PRELIMINARY",	"FINAL",   "CORRECTED", "CANCELLED",
	    "ENTERED_IN_ERROR", "AMENDED", "REGISTERED"};
	static const char *const ch[] = {"EMAIL", "SMS", "PORTAL",   "LETTER",
					 "PHONE", "FAX", "HANDOVER", "PIGEON"};
	tu_schema_file f[] = {{40, rj}, {41, nj}};
	tu_msg m;
	uint64_t unknown = 0;
	setup(f, 2);
	for (int i = 0; i < 7; i++) {
		tu_result r = tu_result_example();
		lw_result_event re;
		r.status = st[i];
		tu_encode_result(&m, rj, 40, &r);
		cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s", detail);
		cr_assert_eq(re.status, i < 5 ? i : LW_STATUS_UNKNOWN, "%s",
			     st[i]);
		unknown += i >= 5;
		cr_assert_eq(lw_codec_unknown_symbols(C.codec), unknown);
		check_result(&re, &r);
	}
	for (int i = 0; i < 8; i++) {
		tu_notif x = tu_notif_example();
		lw_notification_event ne;
		x.channel = ch[i];
		tu_encode_notif(&m, nj, 41, &x);
		cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
		cr_assert_eq(ne.channel, i < 7 ? i : LW_CHANNEL_UNKNOWN, "%s",
			     ch[i]);
		unknown += i >= 7;
		cr_assert_eq(lw_codec_unknown_symbols(C.codec), unknown);
		check_notif(&ne, &x);
	}
	cr_assert_eq(unknown, 3);
}

/* ---- writer schemas that cannot be read ---- */

/* Our reader schema minus field `skip`, as JSON, using Avro C's own
 * rendering of each remaining field type. */
static char *reader_without(const char *reader_json, const char *skip)
{
	avro_schema_t s = tu_schema(reader_json);
	size_t cap = 16384, len = 0, n = avro_schema_record_size(s);
	char *out = malloc(cap);
	char tbuf[4096];
	int first = 1;
	len += (size_t)snprintf(out, cap,
				"{\"type\":\"record\","
				"\"name\":\"W\",\"fields\":[");
	for (size_t i = 0; i < n; i++) {
		const char *name = avro_schema_record_field_name(s, (int)i);
		avro_writer_t w;
		int64_t tl;
		if (!strcmp(name, skip))
			continue;
		w = avro_writer_memory(tbuf, sizeof tbuf - 1);
		cr_assert_eq(
		    avro_schema_to_json(
			avro_schema_record_field_get_by_index(s, (int)i), w),
		    0);
		tl = avro_writer_tell(w);
		avro_writer_free(w);
		tbuf[tl] = '\0';
		len += (size_t)snprintf(out + len, cap - len,
					"%s{\"name\":\"%s\",\"type\":%s}",
					first ? "" : ",", name, tbuf);
		first = 0;
	}
	snprintf(out + len, cap - len, "]}");
	avro_schema_decref(s);
	return out;
}

static int in_list(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(*list, name))
			return 1;
	return 0;
}

/* Each field of our reader schemas removed in turn: fields without a
 * default make the writer incompatible (the reason names the field), the
 * others decode to their default. This also proves that the codec's reader
 * tables agree with the .avsc files on names and on which fields are
 * required. */
Test(codec, each_field_missing_in_turn)
{
	static const char *const result_required[] = {
	    "event_id",	      "specimen_id", "patient_key",
	    "test_code",      "result_code", "status",
	    "result_version", "recorded_at", NULL};
	static const char *const notif_required[] = {
	    "notification_id", "specimen_id", "recipient_key",
	    "channel",	       "sent_at",     NULL};
	const char *readers[2] = {lw_schema_labresult_json,
				  lw_schema_notification_json};
	const char *const *required[2] = {result_required, notif_required};
	tu_schema_file f[16];
	size_t nf = 0;
	size_t nfields[2];
	for (int kind = 0; kind < 2; kind++) {
		avro_schema_t s = tu_schema(readers[kind]);
		nfields[kind] = avro_schema_record_size(s);
		avro_schema_decref(s);
	}
	cr_assert_eq(nfields[0], 13, "LabResult.avsc changed: update test");
	cr_assert_eq(nfields[1], 10, "NotificationSent.avsc changed");
	/* 23 writer schemas do not fit one setup(); do it per kind */
	for (int kind = 0; kind < 2; kind++) {
		avro_schema_t s = tu_schema(readers[kind]);
		nf = 0;
		for (size_t i = 0; i < nfields[kind]; i++) {
			const char *name =
			    avro_schema_record_field_name(s, (int)i);
			f[nf].id = 100 + (int32_t)i;
			f[nf].json = reader_without(readers[kind], name);
			nf++;
		}
		setup(f, nf);
		for (size_t i = 0; i < nf; i++) {
			const char *name =
			    avro_schema_record_field_name(s, (int)i);
			int req = in_list(name, required[kind]);
			tu_msg m;
			lw_decode_status st;
			if (kind == 0) {
				tu_result r = tu_result_example();
				lw_result_event re;
				tu_encode_result(&m, f[i].json, f[i].id, &r);
				st = dec_r(&m, &re);
			} else {
				tu_notif x = tu_notif_example();
				lw_notification_event ne;
				tu_encode_notif(&m, f[i].json, f[i].id, &x);
				st = dec_n(&m, &ne);
				if (st == LW_DECODE_OK)
					cr_assert(tu_str_is(ne.specimen_id,
							    "SP-100"));
			}
			cr_assert_eq(
			    st, req ? LW_DECODE_INCOMPATIBLE : LW_DECODE_OK,
			    "without %s: status %d (%s)", name, st, detail);
			if (req) {
				cr_assert(strstr(detail, name),
					  "without %s: detail \"%s\"", name,
					  detail);
				cr_assert_eq(sid, f[i].id);
			}
		}
		for (size_t i = 0; i < nf; i++)
			free((char *)f[i].json);
		avro_schema_decref(s);
		lw_codec_destroy(C.codec);
		lw_registry_destroy(C.reg);
		tu_rmdir(C.dir);
		C.codec = NULL;
		C.reg = NULL;
		C.dir = NULL;
	}
}

Test(codec, unreadable_types_are_incompatible)
{
	/* nullable = the writer union has a null branch for an optional
	 * field of ours: the schema is usable, a message picking null decodes
	 * and one picking the other branch is INCOMPATIBLE */
	static const struct {
		int kind;
		const char *name, *type;
		int nullable;
	} cases[] = {
	    {0, "specimen_id", "\"int\"", 0},
	    {0, "specimen_id", "[\"null\",\"int\"]", 0},
	    {0, "event_id", "{\"type\":\"array\",\"items\":\"string\"}", 0},
	    {0, "status", "\"string\"", 0},
	    {0, "result_version", "\"long\"", 0}, /* long -> int: no */
	    {0, "recorded_at", "\"double\"", 0},
	    {0, "retest_pending", "\"int\"", 0},
	    {0, "contact_keys", "{\"type\":\"array\",\"items\":\"int\"}", 0},
	    {0, "contact_keys", "{\"type\":\"map\",\"values\":\"string\"}", 0},
	    {0, "value", "\"string\"", 0},
	    {0, "unit", "[\"null\",\"long\"]", 1},
	    {1, "specimen_id", "\"long\"", 0},
	    {1, "channel", "\"string\"", 0},
	    {1, "result_version", "[\"null\",\"long\"]", 1},
	    {1, "sent_at", "\"float\"", 0},
	    {1, "intended_specimen_id", "\"int\"", 0},
	};
	const size_t n = sizeof cases / sizeof cases[0];
	tu_schema_file f[16];
	cr_assert_leq(n, 16);
	for (size_t i = 0; i < n; i++) {
		f[i].id = 200 + (int32_t)i;
		f[i].json = keep(schema_with(cases[i].kind, cases[i].name,
					     cases[i].type, NULL));
	}
	setup(f, n);
	for (size_t i = 0; i < n; i++) {
		for (int pass = 0; pass < 2; pass++) {
			tu_msg m;
			lw_decode_status st;
			lw_result_event re;
			lw_notification_event ne;
			if (cases[i].nullable) {
				avro_schema_t s = tu_schema(f[i].json);
				avro_value_iface_t *cls =
				    avro_generic_class_from_schema(s);
				avro_value_t v, fl;
				tu_result r = tu_result_example();
				tu_notif x = tu_notif_example();
				r.unit = NULL;	   /* the cases' fields, set */
				x.has_version = 0; /* below */
				avro_generic_value_new(cls, &v);
				if (cases[i].kind == 0)
					tu_fill_result(&v, &r);
				else
					tu_fill_notif(&v, &x);
				fl = field(&v, cases[i].name);
				if (pass == 0)
					tu_set_null(&fl);
				else
					tu_set_long(&fl, 5);
				tu_frame(&m, f[i].id, &v);
				avro_value_decref(&v);
				avro_value_iface_decref(cls);
				avro_schema_decref(s);
			} else {
				/* the plan fails before any byte is read */
				tu_header(&m, f[i].id);
				m.b[m.len++] = 0;
			}
			st = cases[i].kind == 0 ? dec_r(&m, &re)
						: dec_n(&m, &ne);
			if (cases[i].nullable && pass == 0) {
				cr_assert_eq(st, LW_DECODE_OK, "%s as %s: %s",
					     cases[i].name, cases[i].type,
					     detail);
				continue;
			}
			cr_assert_eq(st, LW_DECODE_INCOMPATIBLE,
				     "%s as %s: %d (%s)", cases[i].name,
				     cases[i].type, st, detail);
			cr_assert(strstr(detail, cases[i].name),
				  "%s as %s: detail \"%s\"", cases[i].name,
				  cases[i].type, detail);
			cr_assert_eq(sid, f[i].id);
		}
	}
}

Test(codec, writer_schema_not_a_record)
{
	tu_schema_file f[] = {{50, "\"string\""}, {51, "[\"null\",\"long\"]"}};
	tu_msg m;
	lw_result_event re;
	setup(f, 2);
	tu_header(&m, 50);
	m.b[m.len++] = 2;
	m.b[m.len++] = 'x';
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_INCOMPATIBLE);
	tu_header(&m, 51);
	m.b[m.len++] = 0;
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_INCOMPATIBLE);
}

/* ---- bad framing ---- */

Test(codec, empty_short_and_bad_magic)
{
	lw_result_event re;
	lw_notification_event ne;
	unsigned char buf[8] = {0, 0, 0, 0, 1, 0, 0, 0};
	setup_embedded();
	sid = 12345;
	cr_assert_eq(lw_codec_decode_result(C.codec, NULL, 0, &re, &sid, detail,
					    sizeof detail),
		     LW_DECODE_EMPTY_VALUE);
	cr_assert_eq(sid, -1);
	cr_assert_neq(detail[0], '\0');
	cr_assert_eq(lw_codec_decode_notification(C.codec, buf, 0, &ne, &sid,
						  detail, sizeof detail),
		     LW_DECODE_EMPTY_VALUE);
	for (size_t len = 1; len <= 4; len++) {
		unsigned char *b = malloc(len);
		memcpy(b, buf, len);
		sid = 12345;
		cr_assert_eq(lw_codec_decode_result(C.codec, b, len, &re, &sid,
						    detail, sizeof detail),
			     LW_DECODE_BAD_MAGIC, "len %zu", len);
		cr_assert_eq(sid, -1);
		cr_assert_eq(lw_codec_decode_notification(C.codec, b, len, &ne,
							  &sid, detail,
							  sizeof detail),
			     LW_DECODE_BAD_MAGIC, "len %zu", len);
		free(b);
	}
	{
		tu_msg m;
		tu_result r = tu_result_example();
		tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
		m.b[0] = 1;
		cr_assert_eq(dec_r(&m, &re), LW_DECODE_BAD_MAGIC);
		m.b[0] = 0xff;
		cr_assert_eq(dec_r(&m, &re), LW_DECODE_BAD_MAGIC);
	}
}

Test(codec, unknown_schema_id)
{
	tu_msg m;
	lw_result_event re;
	lw_notification_event ne;
	tu_result r = tu_result_example();
	setup_embedded();
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	m.b[4] = 77;
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_UNKNOWN_SCHEMA);
	cr_assert_eq(sid, 77);
	cr_assert(strstr(detail, "77"), "%s", detail);
	m.b[1] = 0x12;
	m.b[2] = 0x34;
	m.b[3] = 0x56;
	m.b[4] = 0x78;
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_UNKNOWN_SCHEMA);
	cr_assert_eq(sid, 0x12345678);
}

Test(codec, decode_status_reasons_are_distinct)
{
	for (int i = 0; i < LW_DECODE_STATUS_COUNT; i++) {
		const char *a = lw_decode_status_reason((lw_decode_status)i);
		cr_assert_not_null(a);
		cr_assert_neq(a[0], '\0');
		for (int j = 0; j < i; j++)
			cr_assert_str_neq(
			    a, lw_decode_status_reason((lw_decode_status)j));
	}
	cr_assert_str_eq(lw_decode_status_reason(LW_DECODE_OK), "ok");
}

/* ---- byte-level corruption, with an independent encoder ---- */

static void put_long(tu_msg *m, int64_t v)
{
	uint64_t z = v < 0 ? ~((uint64_t)v << 1) : (uint64_t)v << 1;
	do {
		unsigned char b = z & 0x7f;
		z >>= 7;
		m->b[m->len++] = b | (z ? 0x80 : 0);
	} while (z);
}

static void put_str(tu_msg *m, const char *s)
{
	size_t n = strlen(s);
	put_long(m, (int64_t)n);
	memcpy(m->b + m->len, s, n);
	m->len += n;
}

static void put_raw(tu_msg *m, const void *p, size_t n)
{
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

/* LabResult (ID 1) up to, not including, contact_keys, for
 * tu_result_example() values. */
static void hand_result_head(tu_msg *m, const tu_result *r)
{
	uint64_t bits;
	unsigned char le[8];
	tu_header(m, 1);
	put_str(m, r->event_id);
	put_str(m, r->specimen_id);
	put_str(m, r->patient_key);
	put_str(m, r->test_code);
	put_str(m, r->result_code);
	put_long(m, 1);
	memcpy(&bits, &r->value, 8);
	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(bits >> (8 * i));
	put_raw(m, le, 8);
	put_long(m, 1);
	put_str(m, r->unit);
	put_long(m, status_of(r->status));
	put_long(m, r->result_version);
	m->b[m->len++] = (unsigned char)r->retest_pending;
}

static void hand_result_tail(tu_msg *m, const tu_result *r)
{
	put_long(m, r->recorded_at);
	put_str(m, r->source_system);
}

static void hand_result(tu_msg *m, const tu_result *r)
{
	hand_result_head(m, r);
	if (r->ncontacts) {
		put_long(m, (int64_t)r->ncontacts);
		for (size_t i = 0; i < r->ncontacts; i++)
			put_str(m, r->contacts[i]);
	}
	put_long(m, 0);
	hand_result_tail(m, r);
}

Test(codec, independent_encoder_matches_avro_c)
{
	tu_msg a, b;
	tu_result r = tu_result_example();
	tu_encode_result(&a, lw_schema_labresult_json, 1, &r);
	hand_result(&b, &r);
	cr_assert_eq(a.len, b.len);
	cr_assert_arr_eq(a.b, b.b, a.len);
	r.recorded_at = INT64_MIN;
	r.result_version = -1;
	tu_encode_result(&a, lw_schema_labresult_json, 1, &r);
	hand_result(&b, &r);
	cr_assert_eq(a.len, b.len);
	cr_assert_arr_eq(a.b, b.b, a.len);
}

Test(codec, truncation_at_every_length)
{
	tu_msg full, m;
	tu_result r = tu_result_example();
	tu_notif x = tu_notif_example();
	setup_embedded();
	tu_encode_result(&full, lw_schema_labresult_json, 1, &r);
	for (size_t len = 5; len < full.len; len++) {
		lw_result_event re;
		memcpy(m.b, full.b, len);
		m.len = len;
		cr_assert_neq(dec_r(&m, &re), LW_DECODE_OK, "len %zu", len);
		cr_assert_eq(sid, 1);
	}
	/* source_system "" makes the last field a single 0 byte */
	r.source_system = "";
	r.ncontacts = 0;
	tu_encode_result(&full, lw_schema_labresult_json, 1, &r);
	for (size_t len = 5; len < full.len; len++) {
		lw_result_event re;
		memcpy(m.b, full.b, len);
		m.len = len;
		cr_assert_neq(dec_r(&m, &re), LW_DECODE_OK, "len %zu", len);
	}
	tu_encode_notif(&full, lw_schema_notification_json, 2, &x);
	for (size_t len = 5; len < full.len; len++) {
		lw_notification_event ne;
		memcpy(m.b, full.b, len);
		m.len = len;
		cr_assert_neq(dec_n(&m, &ne), LW_DECODE_OK, "len %zu", len);
		cr_assert_eq(sid, 2);
	}
}

/* Any status is fine; a view of an OK decode must lie inside the input. */
static int inside(lw_str v, const unsigned char *b, size_t len)
{
	if (!v.p || v.len == 0)
		return 1;
	return (const unsigned char *)v.p >= b &&
	       (const unsigned char *)v.p + v.len <= b + len;
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

Test(codec, random_byte_flips_never_crash)
{
	tu_msg full[4];
	tu_result r = tu_result_example();
	tu_notif x = tu_notif_example();
	const char *j101 =
	    keep(slurp(LW_SCHEMA_DIR "/101-LabResult-evolved.avsc"));
	const char *j102 =
	    keep(slurp(LW_SCHEMA_DIR "/102-NotificationSent-evolved.avsc"));
	char err[256];
	C.reg = lw_registry_new(LW_SCHEMA_DIR, err, sizeof err);
	cr_assert_not_null(C.reg, "%s", err);
	C.codec = lw_codec_new(C.reg);
	tu_encode_result(&full[0], lw_schema_labresult_json, 1, &r);
	tu_encode_notif(&full[1], lw_schema_notification_json, 2, &x);
	r.value = 0.5;
	tu_encode_result(&full[2], j101, 101, &r);
	tu_encode_notif(&full[3], j102, 102, &x);
	rng_state = 0x9e3779b97f4a7c15ULL;
	for (int iter = 0; iter < 40000; iter++) {
		const tu_msg *src = &full[iter % 4];
		size_t len = src->len;
		unsigned char *b;
		int flips = 1 + (int)(rnd() % 4);
		if (rnd() % 4 == 0)
			len = 5 + rnd() % (len - 5);
		b = malloc(len);
		memcpy(b, src->b, len);
		for (int k = 0; k < flips; k++) {
			/* leave the header alone most of the time: the
			 * interesting code is past it */
			size_t pos = len > 5 && rnd() % 8
					 ? 5 + rnd() % (len - 5)
					 : rnd() % len;
			b[pos] = (unsigned char)rnd();
		}
		if (iter % 2 == 0) {
			lw_result_event re;
			if (lw_codec_decode_result(C.codec, b, len, &re, &sid,
						   detail, sizeof detail) ==
			    LW_DECODE_OK) {
				cr_assert(inside(re.event_id, b, len));
				cr_assert(inside(re.specimen_id, b, len));
				cr_assert(inside(re.patient_key, b, len));
				cr_assert(inside(re.test_code, b, len));
				cr_assert(inside(re.result_code, b, len));
				cr_assert(inside(re.unit, b, len));
				cr_assert(inside(re.source_system, b, len));
				cr_assert_leq(re.n_contact_keys, 1024);
				for (uint32_t i = 0; i < re.n_contact_keys; i++)
					cr_assert(
					    inside(re.contact_keys[i], b, len));
				cr_assert_leq(re.status, LW_STATUS_UNKNOWN);
			}
		} else {
			lw_notification_event ne;
			if (lw_codec_decode_notification(
				C.codec, b, len, &ne, &sid, detail,
				sizeof detail) == LW_DECODE_OK) {
				cr_assert(inside(ne.notification_id, b, len));
				cr_assert(inside(ne.specimen_id, b, len));
				cr_assert(
				    inside(ne.intended_specimen_id, b, len));
				cr_assert(inside(ne.recipient_key, b, len));
				cr_assert(inside(ne.recipient_hint, b, len));
				cr_assert(inside(ne.result_code, b, len));
				cr_assert(inside(ne.batch_id, b, len));
				cr_assert_leq(ne.channel, LW_CHANNEL_UNKNOWN);
			}
		}
		free(b);
	}
}

Test(codec, overlong_varints)
{
	tu_msg m;
	lw_result_event re;
	static const unsigned char eleven[11] = {
	    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
	/* 10 bytes whose last carries bits past 64 */
	static const unsigned char overflow[10] = {
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
	/* 10 bytes, all continuation: runs out of input */
	static const unsigned char unterminated[10] = {
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	setup_embedded();
	tu_header(&m, 1);
	put_raw(&m, eleven, 11); /* event_id length */
	put_raw(&m, "abcdefghijklmnopqrstuvwxyz0123456789", 36);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_MALFORMED, "%s", detail);
	tu_header(&m, 1);
	put_raw(&m, overflow, 10);
	put_raw(&m, "abcdefghijklmnopqrstuvwxyz0123456789", 36);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_MALFORMED, "%s", detail);
	tu_header(&m, 1);
	put_raw(&m, unterminated, 10);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_MALFORMED, "%s", detail);
	/* and in recorded_at, after every other field */
	{
		tu_result r = tu_result_example();
		hand_result_head(&m, &r);
		put_long(&m, 0);
		put_raw(&m, eleven, 11);
		put_str(&m, r.source_system);
		cr_assert_eq(dec_r(&m, &re), LW_DECODE_MALFORMED, "%s", detail);
	}
}

Test(codec, negative_and_oversized_string_lengths)
{
	static const int64_t lens[] = {
	    -1, -2, INT64_MIN, INT64_MAX, (int64_t)1 << 40, 1000};
	setup_embedded();
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		tu_msg m;
		lw_result_event re;
		tu_header(&m, 1);
		put_long(&m, lens[i]);
		put_raw(&m, "abcdefghijklmnopqrstuvwxyz", 26);
		cr_assert_eq(dec_r(&m, &re), LW_DECODE_MALFORMED,
			     "length %lld: %s", (long long)lens[i], detail);
	}
	{
		/* in the middle: result_code */
		tu_result r = tu_result_example();
		tu_msg m, ok;
		lw_result_event re;
		hand_result(&ok, &r);
		tu_header(&m, 1);
		put_str(&m, r.event_id);
		put_str(&m, r.specimen_id);
		put_str(&m, r.patient_key);
		put_str(&m, r.test_code);
		put_long(&m, -3);
		put_raw(&m, ok.b + m.len, ok.len - m.len);
		cr_assert_eq(dec_r(&m, &re), LW_DECODE_MALFORMED, "%s", detail);
	}
}

Test(codec, array_blocks_with_byte_sizes)
{
	/* The spec allows a block count to be negative, followed by the
	 * block's size in bytes. */
	tu_result r = tu_result_example();
	tu_msg m;
	lw_result_event re;
	setup_embedded();
	hand_result_head(&m, &r);
	put_long(&m, -2);
	put_long(&m, 1 + 4 + 1 + 5); /* "ck-1", "ck-22" */
	put_str(&m, "ck-1");
	put_str(&m, "ck-22");
	put_long(&m, 1);
	put_str(&m, "ck-333");
	put_long(&m, 0);
	hand_result_tail(&m, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s", detail);
	check_result(&re, &r);

	/* one element per block, all with sizes */
	hand_result_head(&m, &r);
	for (size_t i = 0; i < 3; i++) {
		put_long(&m, -1);
		put_long(&m, 1 + (int64_t)strlen(r.contacts[i]));
		put_str(&m, r.contacts[i]);
	}
	put_long(&m, 0);
	hand_result_tail(&m, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s", detail);
	check_result(&re, &r);
}

/* NotificationSent-like writer with one extra field at the end, for
 * corrupting a skipped value by hand. */
static void hand_notif_with_extra(tu_msg *m, int32_t id)
{
	tu_header(m, id);
	put_str(m, "nt-1");
	put_str(m, "SP-100");
	put_str(m, "rk-9");
	put_long(m, 1); /* SMS */
	put_long(m, 1700000005000);
}

#define NOTIF_MIN_WITH(extra)                                 \
	"{\"type\":\"record\",\"name\":\"N\",\"fields\":["    \
	"{\"name\":\"notification_id\",\"type\":\"string\"}," \
	"{\"name\":\"specimen_id\",\"type\":\"string\"},"     \
	"{\"name\":\"recipient_key\",\"type\":\"string\"},"   \
	"{\"name\":\"channel\",\"type\":" CHANNEL_ENUM "},"   \
	"{\"name\":\"sent_at\",\"type\":\"long\"},"           \
	"{\"name\":\"extra\",\"type\":" extra "}]}"

Test(codec, skipped_arrays_and_maps_blocks_and_counts)
{
	tu_schema_file f[] = {
	    {60, NOTIF_MIN_WITH("{\"type\":\"array\",\"items\":\"string\"}")},
	    {61, NOTIF_MIN_WITH("{\"type\":\"array\",\"items\":\"null\"}")},
	    {62, NOTIF_MIN_WITH("{\"type\":\"map\",\"values\":\"long\"}")},
	};
	tu_msg m, ref;
	lw_notification_event ne;
	tu_notif x = tu_notif_example();
	setup(f, 3);

	/* the hand encoding agrees with Avro C's */
	x.intended = x.hint = x.result_code = x.batch_id = NULL;
	x.has_version = 0;
	tu_encode_notif(&ref, f[0].json, 60, &x);
	hand_notif_with_extra(&m, 60);
	cr_assert_eq(memcmp(m.b, ref.b, m.len), 0);

	/* negative count with byte size: valid */
	hand_notif_with_extra(&m, 60);
	put_long(&m, -2);
	put_long(&m, 4);
	put_str(&m, "a");
	put_str(&m, "b");
	put_long(&m, 0);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
	check_notif(&ne, &x);

	/* huge counts: not OK, no hang, no crash */
	{
		static const int64_t counts[] = {(int64_t)1 << 40,
						 -((int64_t)1 << 40), INT64_MAX,
						 INT64_MIN + 1, INT64_MIN};
		for (size_t i = 0; i < 5; i++) {
			hand_notif_with_extra(&m, 60);
			put_long(&m, counts[i]);
			put_long(&m, 4);
			put_str(&m, "a");
			put_long(&m, 0);
			cr_assert_neq(dec_n(&m, &ne), LW_DECODE_OK,
				      "count %lld", (long long)counts[i]);
			hand_notif_with_extra(&m, 62);
			put_long(&m, counts[i]);
			put_long(&m, 4);
			put_str(&m, "a");
			put_long(&m, 7);
			put_long(&m, 0);
			cr_assert_neq(dec_n(&m, &ne), LW_DECODE_OK,
				      "map count %lld", (long long)counts[i]);
		}
	}
	/* nulls take no bytes: a huge count must still be refused */
	hand_notif_with_extra(&m, 61);
	put_long(&m, (int64_t)1 << 40);
	put_long(&m, 0);
	cr_assert_neq(dec_n(&m, &ne), LW_DECODE_OK);
	/* a sane number of nulls is fine */
	hand_notif_with_extra(&m, 61);
	put_long(&m, 1000);
	put_long(&m, 0);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
	/* negative byte size */
	hand_notif_with_extra(&m, 60);
	put_long(&m, -1);
	put_long(&m, -5);
	put_str(&m, "a");
	put_long(&m, 0);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_MALFORMED);
	/* a map with two entries through blocks with sizes */
	hand_notif_with_extra(&m, 62);
	put_long(&m, -1);
	put_long(&m, 3);
	put_str(&m, "k");
	put_long(&m, 5);
	put_long(&m, 1);
	put_str(&m, "k2");
	put_long(&m, -5);
	put_long(&m, 0);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
	check_notif(&ne, &x);
}

Test(codec, huge_contact_key_counts)
{
	static const int64_t counts[] = {(int64_t)1 << 40, -((int64_t)1 << 40),
					 1025, INT64_MAX, INT64_MIN};
	tu_result r = tu_result_example();
	setup_embedded();
	for (size_t i = 0; i < 5; i++) {
		tu_msg m;
		lw_result_event re;
		hand_result_head(&m, &r);
		put_long(&m, counts[i]);
		if (counts[i] < 0)
			put_long(&m, 10);
		put_str(&m, "ck-1");
		put_long(&m, 0);
		hand_result_tail(&m, &r);
		cr_assert_neq(dec_r(&m, &re), LW_DECODE_OK, "count %lld",
			      (long long)counts[i]);
	}
}

Test(codec, trailing_bytes_are_malformed)
{
	tu_msg m;
	lw_result_event re;
	lw_notification_event ne;
	tu_result r = tu_result_example();
	tu_notif x = tu_notif_example();
	setup_embedded();
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK);
	m.b[m.len++] = 0;
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_MALFORMED);
	memset(m.b + m.len, 'z', 100);
	m.len += 100;
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_MALFORMED);
	tu_encode_notif(&m, lw_schema_notification_json, 2, &x);
	m.b[m.len++] = 0x02;
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_MALFORMED);
}

Test(codec, empty_identifiers)
{
	tu_msg m;
	lw_result_event re;
	lw_notification_event ne;
	tu_result r;
	tu_notif x;
	setup_embedded();

	r = tu_result_example();
	r.specimen_id = "";
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_EMPTY_SPECIMEN);
	cr_assert_eq(sid, 1);

	r = tu_result_example();
	r.event_id = "";
	tu_encode_result(&m, lw_schema_labresult_json, 1, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_INVALID_FIELD);
	cr_assert(strstr(detail, "event_id"), "%s", detail);

	x = tu_notif_example();
	x.specimen_id = "";
	tu_encode_notif(&m, lw_schema_notification_json, 2, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_EMPTY_SPECIMEN);

	x = tu_notif_example();
	x.notification_id = "";
	tu_encode_notif(&m, lw_schema_notification_json, 2, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_INVALID_FIELD);
	cr_assert(strstr(detail, "notification_id"), "%s", detail);

	x = tu_notif_example();
	x.recipient_key = "";
	tu_encode_notif(&m, lw_schema_notification_json, 2, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_INVALID_FIELD);
	cr_assert(strstr(detail, "recipient_key"), "%s", detail);

	/* the optional ones may be empty */
	x = tu_notif_example();
	x.intended = "";
	x.batch_id = "";
	x.result_code = "";
	tu_encode_notif(&m, lw_schema_notification_json, 2, &x);
	cr_assert_eq(dec_n(&m, &ne), LW_DECODE_OK, "%s", detail);
	check_notif(&ne, &x);
}

/* contact_keys through Avro C with n keys "c0".."c<n-1>" */
static void encode_contacts(tu_msg *m, size_t n)
{
	avro_schema_t s = tu_schema(lw_schema_labresult_json);
	avro_value_iface_t *cls = avro_generic_class_from_schema(s);
	avro_value_t v, fl;
	tu_result r = tu_result_example();
	r.ncontacts = 0;
	avro_generic_value_new(cls, &v);
	tu_fill_result(&v, &r);
	fl = field(&v, "contact_keys");
	for (size_t i = 0; i < n; i++) {
		avro_value_t item;
		char key[16];
		snprintf(key, sizeof key, "c%zu", i);
		avro_value_append(&fl, &item, NULL);
		avro_value_set_string(&item, key);
	}
	tu_frame(m, 1, &v);
	avro_value_decref(&v);
	avro_value_iface_decref(cls);
	avro_schema_decref(s);
}

Test(codec, contact_keys_limit)
{
	tu_msg m;
	lw_result_event re;
	tu_result r = tu_result_example();
	setup_embedded();
	encode_contacts(&m, 1024);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s", detail);
	cr_assert_eq(re.n_contact_keys, 1024);
	tu_assert_str(re.contact_keys[0], "c0");
	tu_assert_str(re.contact_keys[1023], "c1023");
	encode_contacts(&m, 1025);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_INVALID_FIELD);
	cr_assert(strstr(detail, "contact_keys"), "%s", detail);
	/* the same across blocks: 1000 + 25 */
	hand_result_head(&m, &r);
	put_long(&m, 1000);
	for (int i = 0; i < 1000; i++)
		put_str(&m, "k");
	put_long(&m, 25);
	for (int i = 0; i < 25; i++)
		put_str(&m, "k");
	put_long(&m, 0);
	hand_result_tail(&m, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_INVALID_FIELD);
	/* 1000 + 24 is fine */
	hand_result_head(&m, &r);
	put_long(&m, 1000);
	for (int i = 0; i < 1000; i++)
		put_str(&m, "k");
	put_long(&m, 24);
	for (int i = 0; i < 24; i++)
		put_str(&m, "j");
	put_long(&m, 0);
	hand_result_tail(&m, &r);
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_OK, "%s", detail);
	cr_assert_eq(re.n_contact_keys, 1024);
	tu_assert_str(re.contact_keys[1023], "j");
}

Test(codec, bad_boolean_and_enum_and_union_index)
{
	tu_result r = tu_result_example();
	tu_msg ok, m;
	lw_result_event re;
	size_t pos_bool, pos_enum, pos_union;
	setup_embedded();
	hand_result(&ok, &r);
	/* positions: find them by re-encoding the head */
	hand_result_head(&m, &r);
	pos_bool = m.len - 1;
	pos_enum = pos_bool - 2; /* status (1 byte), version (1 byte) */
	pos_union = 5 + 1 + 4 + 1 + 6 + 1 + 6 + 1 + 14 + 1 + 3;
	cr_assert_eq(ok.b[pos_union], 2, "value's union index");
	memcpy(&m, &ok, sizeof m);
	m.b[pos_bool] = 2;
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_MALFORMED);
	memcpy(&m, &ok, sizeof m);
	m.b[pos_enum] = 10; /* symbol 5: out of range */
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_MALFORMED);
	memcpy(&m, &ok, sizeof m);
	m.b[pos_enum] = 1; /* symbol -1 */
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_MALFORMED);
	memcpy(&m, &ok, sizeof m);
	m.b[pos_union] = 4; /* branch 2 of a 2-branch union */
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_MALFORMED);
	memcpy(&m, &ok, sizeof m);
	m.b[pos_union] = 1; /* branch -1 */
	cr_assert_eq(dec_r(&m, &re), LW_DECODE_MALFORMED);
}

/* An unknown schema ID is bad input like any other: it must not leave
 * something behind that makes later messages slower (or memory grow). With
 * a plan cached per distinct unknown ID and found by a linear scan, a
 * producer writing random headers makes every decode O(IDs seen). The
 * measure is CPU time, and the bound is loose (8x), so a loaded machine
 * does not make it flaky: the effect it catches is ~30x. */
static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double decode_unknown_ids(int32_t first, int n)
{
	unsigned char b[6] = {0, 0, 0, 0, 0, 0};
	lw_result_event re;
	double t0 = cpu_seconds();
	for (int k = 0; k < n; k++) {
		int32_t id = first + k;
		b[1] = (unsigned char)(id >> 24);
		b[2] = (unsigned char)(id >> 16);
		b[3] = (unsigned char)(id >> 8);
		b[4] = (unsigned char)id;
		cr_assert_eq(lw_codec_decode_result(C.codec, b, sizeof b, &re,
						    &sid, detail,
						    sizeof detail),
			     LW_DECODE_UNKNOWN_SCHEMA);
	}
	return cpu_seconds() - t0;
}

Test(codec, unknown_schema_ids_leave_nothing_behind, .timeout = 50)
{
	double before, after;
	setup_embedded();
	before = decode_unknown_ids(1000000, 2000);
	decode_unknown_ids(2000000, 30000);
	after = decode_unknown_ids(3000000, 2000);
	cr_assert_lt(after, 8 * before + 0.005,
		     "2000 unknown IDs took %.4fs at first, %.4fs after 30000 "
		     "other unknown IDs",
		     before, after);
}

/* ---- the registry the codec reads writer schemas from ---- */

static const char *record_name(avro_schema_t s)
{
	return s ? avro_schema_name(s) : "(none)";
}

Test(codec, registry_embedded_only)
{
	char err[256] = "";
	lw_registry *r = lw_registry_new(NULL, err, sizeof err);
	cr_assert_not_null(r, "%s", err);
	cr_assert_eq(lw_registry_count(r), 3);
	cr_assert_str_eq(record_name(lw_registry_get(r, 1)), "LabResult");
	cr_assert_str_eq(record_name(lw_registry_get(r, 2)),
			 "NotificationSent");
	cr_assert_str_eq(record_name(lw_registry_get(r, 3)), "MismatchAlert");
	cr_assert_null(lw_registry_get(r, 0));
	cr_assert_null(lw_registry_get(r, 4));
	cr_assert_null(lw_registry_get(r, -1));
	lw_registry_destroy(r);
	r = lw_registry_new("", err, sizeof err);
	cr_assert_not_null(r, "%s", err);
	cr_assert_eq(lw_registry_count(r), 3);
	lw_registry_destroy(r);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

Test(codec, registry_file_names)
{
	char err[256] = "";
	C.dir = tu_regdir(NULL, 0);
	write_file(C.dir, "7.avsc", "\"string\"");
	write_file(C.dir, "8-name.avsc", "\"long\"");
	write_file(C.dir, "1-mine.avsc",
		   "{\"type\":\"record\",\"name\":\"Mine\",\"fields\":[]}");
	write_file(C.dir, "README.md", "not a schema {");
	write_file(C.dir, "x-9.avsc", "not a schema {");
	write_file(C.dir, "10-a.avsc.bak", "not a schema {");
	write_file(C.dir, "11_a.avsc", "not a schema {");
	C.reg = lw_registry_new(C.dir, err, sizeof err);
	cr_assert_not_null(C.reg, "%s", err);
	cr_assert_eq(lw_registry_count(C.reg), 5); /* 1, 2, 3, 7, 8 */
	cr_assert_eq(avro_typeof(lw_registry_get(C.reg, 7)), AVRO_STRING);
	cr_assert_eq(avro_typeof(lw_registry_get(C.reg, 8)), AVRO_INT64);
	/* the directory's ID 1 wins over the embedded one */
	cr_assert_str_eq(record_name(lw_registry_get(C.reg, 1)), "Mine");
	cr_assert_str_eq(record_name(lw_registry_get(C.reg, 2)),
			 "NotificationSent");
	cr_assert_null(lw_registry_get(C.reg, 9));
	cr_assert_null(lw_registry_get(C.reg, 10));
	cr_assert_null(lw_registry_get(C.reg, 11));
}

Test(codec, registry_errors_name_the_file)
{
	char err[256] = "";
	lw_registry *r;
	C.dir = tu_regdir(NULL, 0);
	write_file(C.dir, "5-good.avsc", "\"string\"");
	write_file(C.dir, "6-broken.avsc", "{\"type\":\"record\",");
	r = lw_registry_new(C.dir, err, sizeof err);
	cr_assert_null(r);
	cr_assert(strstr(err, "6-broken.avsc"), "%s", err);

	tu_rmdir(C.dir);
	C.dir = tu_regdir(NULL, 0);
	write_file(C.dir, "5-a.avsc", "\"string\"");
	write_file(C.dir, "5-b.avsc", "\"long\"");
	err[0] = '\0';
	r = lw_registry_new(C.dir, err, sizeof err);
	cr_assert_null(r);
	cr_assert(strstr(err, "5"), "%s", err);

	err[0] = '\0';
	r = lw_registry_new("/nonexistent/lw-registry", err, sizeof err);
	cr_assert_null(r);
	cr_assert(strstr(err, "/nonexistent/lw-registry"), "%s", err);
}
