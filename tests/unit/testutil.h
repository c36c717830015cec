/* testutil: helpers shared by the unit tests (header only).
 *
 * Test input is encoded with Avro C's own generic writer, never with
 * labwatch's code, so a codec bug cannot hide behind a matching encoder bug:
 * tu_encode() frames any record schema, the tu_set_* helpers pick the union
 * branch of the right type by themselves, and tu_fill_any() puts a non-trivial
 * value into fields the test does not care about (extra writer fields that
 * the codec must skip). tu_regdir() writes writer schemas to a fresh
 * directory as "<ID>-x.avsc" files for lw_registry_new().
 *
 * Everything is `static inline` so a test file that uses only some of it
 * compiles without unused-function warnings. */
#ifndef LW_TESTUTIL_H
#define LW_TESTUTIL_H

#include <criterion/criterion.h>

#include <avro.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event.h"

/* ---- schemas ---- */

static inline avro_schema_t tu_schema(const char *json)
{
	avro_schema_t s = NULL;
	int rc = avro_schema_from_json_length(json, strlen(json), &s);
	cr_assert_eq(rc, 0, "schema does not parse: %s\n%s", avro_strerror(),
		     json);
	return s;
}

static inline avro_schema_t tu_resolve(avro_schema_t s)
{
	while (is_avro_link(s))
		s = avro_schema_link_target(s);
	return s;
}

/* ---- setting values ---- */

/* If v is a union, selects the first branch whose type is want or want2
 * (-1 = none) and returns it in *out; else *out = *v. */
static inline void tu_pick(avro_value_t *v, int want, int want2,
			   avro_value_t *out)
{
	avro_schema_t s = avro_value_get_schema(v);
	if (avro_typeof(s) != AVRO_UNION) {
		*out = *v;
		return;
	}
	for (size_t i = 0; i < avro_schema_union_size(s); i++) {
		int t = (int)avro_typeof(
		    tu_resolve(avro_schema_union_branch(s, (int)i)));
		if (t == want || t == want2) {
			cr_assert_eq(avro_value_set_branch(v, (int)i, out), 0);
			return;
		}
	}
	cr_assert_fail("union has no branch of type %d/%d", want, want2);
}

static inline void tu_set_null(avro_value_t *v)
{
	avro_value_t b;
	tu_pick(v, AVRO_NULL, -1, &b);
	cr_assert_eq(avro_value_set_null(&b), 0);
}

/* A string into a string or bytes slot. */
static inline void tu_set_str(avro_value_t *v, const char *s)
{
	avro_value_t b;
	tu_pick(v, AVRO_STRING, AVRO_BYTES, &b);
	if (avro_value_get_type(&b) == AVRO_BYTES)
		cr_assert_eq(avro_value_set_bytes(&b, (void *)s, strlen(s)), 0);
	else
		cr_assert_eq(avro_value_set_string(&b, s), 0);
}

/* A number into the first numeric branch (int, long, float or double). */
static inline void tu_set_num(avro_value_t *v, double x)
{
	avro_value_t b;
	avro_schema_t s = avro_value_get_schema(v);
	if (avro_typeof(s) == AVRO_UNION) {
		int done = 0;
		for (size_t i = 0; i < avro_schema_union_size(s) && !done;
		     i++) {
			int t = (int)avro_typeof(
			    tu_resolve(avro_schema_union_branch(s, (int)i)));
			if (t == AVRO_INT32 || t == AVRO_INT64 ||
			    t == AVRO_FLOAT || t == AVRO_DOUBLE) {
				cr_assert_eq(
				    avro_value_set_branch(v, (int)i, &b), 0);
				done = 1;
			}
		}
		cr_assert(done, "no numeric branch");
	} else {
		b = *v;
	}
	switch (avro_value_get_type(&b)) {
	case AVRO_INT32:
		cr_assert_eq(avro_value_set_int(&b, (int32_t)x), 0);
		break;
	case AVRO_INT64:
		cr_assert_eq(avro_value_set_long(&b, (int64_t)x), 0);
		break;
	case AVRO_FLOAT:
		cr_assert_eq(avro_value_set_float(&b, (float)x), 0);
		break;
	case AVRO_DOUBLE:
		cr_assert_eq(avro_value_set_double(&b, x), 0);
		break;
	default:
		cr_assert_fail("not a numeric slot");
	}
}

/* A 64-bit integer exactly (long slot, or int when it fits). */
static inline void tu_set_long(avro_value_t *v, int64_t x)
{
	avro_value_t b;
	tu_pick(v, AVRO_INT64, AVRO_INT32, &b);
	if (avro_value_get_type(&b) == AVRO_INT32)
		cr_assert_eq(avro_value_set_int(&b, (int32_t)x), 0);
	else
		cr_assert_eq(avro_value_set_long(&b, x), 0);
}

static inline void tu_set_bool(avro_value_t *v, int x)
{
	avro_value_t b;
	tu_pick(v, AVRO_BOOLEAN, -1, &b);
	cr_assert_eq(avro_value_set_boolean(&b, x), 0);
}

static inline void tu_set_enum(avro_value_t *v, const char *sym)
{
	avro_value_t b;
	int idx;
	tu_pick(v, AVRO_ENUM, -1, &b);
	idx = avro_schema_enum_get_by_name(avro_value_get_schema(&b), sym);
	cr_assert_geq(idx, 0, "writer enum lacks symbol %s", sym);
	cr_assert_eq(avro_value_set_enum(&b, idx), 0);
}

static inline void tu_set_strs(avro_value_t *v, const char *const *items,
			       size_t n)
{
	avro_value_t b;
	tu_pick(v, AVRO_ARRAY, -1, &b);
	for (size_t i = 0; i < n; i++) {
		avro_value_t item;
		cr_assert_eq(avro_value_append(&b, &item, NULL), 0);
		tu_set_str(&item, items[i]);
	}
}

/* Some non-trivial value of whatever type v has (extra writer fields). */
static inline void tu_fill_any(avro_value_t *v, int depth)
{
	avro_schema_t s = avro_value_get_schema(v);
	avro_value_t c;
	cr_assert_lt(depth, 16);
	switch (avro_value_get_type(v)) {
	case AVRO_NULL:
		avro_value_set_null(v);
		break;
	case AVRO_BOOLEAN:
		avro_value_set_boolean(v, 1);
		break;
	case AVRO_INT32:
		avro_value_set_int(v, -123456);
		break;
	case AVRO_INT64:
		avro_value_set_long(v, -INT64_C(1125899906842624));
		break;
	case AVRO_FLOAT:
		avro_value_set_float(v, 1.5f);
		break;
	case AVRO_DOUBLE:
		avro_value_set_double(v, -2.25);
		break;
	case AVRO_BYTES:
		avro_value_set_bytes(v, (void *)"\x00\x01\xff\x80", 4);
		break;
	case AVRO_STRING:
		avro_value_set_string(v, "extra \xe6\x97\xa5 value");
		break;
	case AVRO_FIXED: {
		int64_t n = avro_schema_fixed_size(tu_resolve(s));
		char *buf = malloc((size_t)n + 1);
		memset(buf, 0xab, (size_t)n);
		cr_assert_eq(avro_value_set_fixed(v, buf, (size_t)n), 0);
		free(buf);
		break;
	}
	case AVRO_ENUM: {
		int n = avro_schema_enum_number_of_symbols(tu_resolve(s));
		avro_value_set_enum(v, n - 1);
		break;
	}
	case AVRO_ARRAY:
		for (int i = 0; i < 3; i++) {
			cr_assert_eq(avro_value_append(v, &c, NULL), 0);
			tu_fill_any(&c, depth + 1);
		}
		break;
	case AVRO_MAP: {
		static const char *const keys[] = {"k1", "key two"};
		for (int i = 0; i < 2; i++) {
			cr_assert_eq(avro_value_add(v, keys[i], &c, NULL, NULL),
				     0);
			tu_fill_any(&c, depth + 1);
		}
		break;
	}
	case AVRO_RECORD: {
		size_t n;
		avro_value_get_size(v, &n);
		for (size_t i = 0; i < n; i++) {
			cr_assert_eq(avro_value_get_by_index(v, i, &c, NULL),
				     0);
			tu_fill_any(&c, depth + 1);
		}
		break;
	}
	case AVRO_UNION: {
		/* the last branch: usually not null, so there is data */
		size_t n = avro_schema_union_size(tu_resolve(s));
		cr_assert_eq(avro_value_set_branch(v, (int)n - 1, &c), 0);
		tu_fill_any(&c, depth + 1);
		break;
	}
	default:
		cr_assert_fail("unexpected type %d", avro_value_get_type(v));
	}
}

/* ---- events as the tests describe them ---- */

typedef struct tu_result {
	const char *event_id, *specimen_id, *patient_key, *test_code;
	const char *result_code;
	int has_value;
	double value;
	const char *unit; /* NULL = null */
	const char *status;
	int32_t result_version;
	int retest_pending;
	const char *contacts[8];
	size_t ncontacts;
	int64_t recorded_at;
	const char *source_system;
} tu_result;

typedef struct tu_notif {
	const char *notification_id, *specimen_id;
	const char *intended; /* NULL = null */
	const char *recipient_key;
	const char *hint; /* NULL = null */
	const char *channel;
	const char *result_code; /* NULL = null */
	int has_version;
	int32_t result_version;
	const char *batch_id; /* NULL = null */
	int64_t sent_at;
} tu_notif;

static inline tu_result tu_result_example(void)
{
	tu_result r = {
	    .event_id = "ev-1",
	    .specimen_id = "SP-100",
	    .patient_key = "pk-abc",
	    .test_code = "SARS-CoV-2 PCR",
	    .result_code = "POS",
	    .has_value = 1,
	    .value = 31.25,
	    .unit = "Ct",
	    .status = "FINAL",
	    .result_version = 2,
	    .retest_pending = 1,
	    .contacts = {"ck-1", "ck-22", "ck-333"},
	    .ncontacts = 3,
	    .recorded_at = INT64_C(1700000000123),
	    .source_system = "LIS-A",
	};
	return r;
}

static inline tu_notif tu_notif_example(void)
{
	tu_notif n = {
	    .notification_id = "nt-1",
	    .specimen_id = "SP-100",
	    .intended = "SP-200",
	    .recipient_key = "rk-9",
	    .hint = "ta***@g***.jp",
	    .channel = "SMS",
	    .result_code = "NEG",
	    .has_version = 1,
	    .result_version = 3,
	    .batch_id = "batch-7",
	    .sent_at = INT64_C(1700000005000),
	};
	return n;
}

static inline void tu_opt_str(avro_value_t *f, const char *s)
{
	if (s)
		tu_set_str(f, s);
	else
		tu_set_null(f);
}

/* Fills every field of a LabResult-like writer record by name; fields we
 * do not know get tu_fill_any(). */
static inline void tu_fill_result(avro_value_t *rec, const tu_result *r)
{
	avro_schema_t s = tu_resolve(avro_value_get_schema(rec));
	size_t n = avro_schema_record_size(s);
	for (size_t i = 0; i < n; i++) {
		const char *name = avro_schema_record_field_name(s, (int)i);
		avro_value_t f;
		cr_assert_eq(avro_value_get_by_index(rec, i, &f, NULL), 0);
		if (!strcmp(name, "event_id"))
			tu_set_str(&f, r->event_id);
		else if (!strcmp(name, "specimen_id"))
			tu_set_str(&f, r->specimen_id);
		else if (!strcmp(name, "patient_key"))
			tu_set_str(&f, r->patient_key);
		else if (!strcmp(name, "test_code"))
			tu_set_str(&f, r->test_code);
		else if (!strcmp(name, "result_code"))
			tu_set_str(&f, r->result_code);
		else if (!strcmp(name, "value")) {
			if (r->has_value)
				tu_set_num(&f, r->value);
			else
				tu_set_null(&f);
		} else if (!strcmp(name, "unit"))
			tu_opt_str(&f, r->unit);
		else if (!strcmp(name, "status"))
			tu_set_enum(&f, r->status);
		else if (!strcmp(name, "result_version"))
			tu_set_long(&f, r->result_version);
		else if (!strcmp(name, "retest_pending"))
			tu_set_bool(&f, r->retest_pending);
		else if (!strcmp(name, "contact_keys"))
			tu_set_strs(&f, r->contacts, r->ncontacts);
		else if (!strcmp(name, "recorded_at"))
			tu_set_long(&f, r->recorded_at);
		else if (!strcmp(name, "source_system"))
			tu_set_str(&f, r->source_system);
		else
			tu_fill_any(&f, 0);
	}
}

static inline void tu_fill_notif(avro_value_t *rec, const tu_notif *x)
{
	avro_schema_t s = tu_resolve(avro_value_get_schema(rec));
	size_t n = avro_schema_record_size(s);
	for (size_t i = 0; i < n; i++) {
		const char *name = avro_schema_record_field_name(s, (int)i);
		avro_value_t f;
		cr_assert_eq(avro_value_get_by_index(rec, i, &f, NULL), 0);
		if (!strcmp(name, "notification_id"))
			tu_set_str(&f, x->notification_id);
		else if (!strcmp(name, "specimen_id"))
			tu_set_str(&f, x->specimen_id);
		else if (!strcmp(name, "intended_specimen_id"))
			tu_opt_str(&f, x->intended);
		else if (!strcmp(name, "recipient_key"))
			tu_set_str(&f, x->recipient_key);
		else if (!strcmp(name, "recipient_hint"))
			tu_opt_str(&f, x->hint);
		else if (!strcmp(name, "channel"))
			tu_set_enum(&f, x->channel);
		else if (!strcmp(name, "result_code"))
			tu_opt_str(&f, x->result_code);
		else if (!strcmp(name, "result_version")) {
			if (x->has_version)
				tu_set_long(&f, x->result_version);
			else
				tu_set_null(&f);
		} else if (!strcmp(name, "batch_id"))
			tu_opt_str(&f, x->batch_id);
		else if (!strcmp(name, "sent_at"))
			tu_set_long(&f, x->sent_at);
		else
			tu_fill_any(&f, 0);
	}
}

/* ---- framing ---- */

#define TU_MAX_MSG 65536

typedef struct tu_msg {
	unsigned char b[TU_MAX_MSG];
	size_t len;
} tu_msg;

static inline void tu_header(tu_msg *m, int32_t id)
{
	m->b[0] = 0;
	m->b[1] = (unsigned char)((uint32_t)id >> 24);
	m->b[2] = (unsigned char)((uint32_t)id >> 16);
	m->b[3] = (unsigned char)((uint32_t)id >> 8);
	m->b[4] = (unsigned char)id;
	m->len = 5;
}

/* Writes a value with Avro C after a 5-byte header for schema ID id. */
static inline void tu_frame(tu_msg *m, int32_t id, avro_value_t *v)
{
	avro_writer_t w;
	tu_header(m, id);
	w = avro_writer_memory((const char *)m->b + 5, TU_MAX_MSG - 5);
	cr_assert_eq(avro_value_write(w, v), 0, "avro_value_write: %s",
		     avro_strerror());
	m->len = 5 + (size_t)avro_writer_tell(w);
	avro_writer_free(w);
}

static inline void tu_encode_result(tu_msg *m, const char *schema_json,
				    int32_t id, const tu_result *r)
{
	avro_schema_t s = tu_schema(schema_json);
	avro_value_iface_t *cls = avro_generic_class_from_schema(s);
	avro_value_t v;
	cr_assert_not_null(cls);
	cr_assert_eq(avro_generic_value_new(cls, &v), 0);
	tu_fill_result(&v, r);
	tu_frame(m, id, &v);
	avro_value_decref(&v);
	avro_value_iface_decref(cls);
	avro_schema_decref(s);
}

static inline void tu_encode_notif(tu_msg *m, const char *schema_json,
				   int32_t id, const tu_notif *x)
{
	avro_schema_t s = tu_schema(schema_json);
	avro_value_iface_t *cls = avro_generic_class_from_schema(s);
	avro_value_t v;
	cr_assert_not_null(cls);
	cr_assert_eq(avro_generic_value_new(cls, &v), 0);
	tu_fill_notif(&v, x);
	tu_frame(m, id, &v);
	avro_value_decref(&v);
	avro_value_iface_decref(cls);
	avro_schema_decref(s);
}

/* ---- a temporary registry directory ---- */

typedef struct tu_schema_file {
	int32_t id;
	const char *json;
} tu_schema_file;

/* Creates a fresh directory holding "<id>-x.avsc" for each entry; returns
 * its path (malloc'd). */
static inline char *tu_regdir(const tu_schema_file *v, size_t n)
{
	char tmpl[] = "/tmp/lwtest-reg-XXXXXX";
	char *dir = mkdtemp(tmpl);
	cr_assert_not_null(dir);
	dir = strdup(dir);
	for (size_t i = 0; i < n; i++) {
		char path[512];
		FILE *f;
		snprintf(path, sizeof path, "%s/%d-x.avsc", dir, (int)v[i].id);
		f = fopen(path, "w");
		cr_assert_not_null(f);
		fputs(v[i].json, f);
		fclose(f);
	}
	return dir;
}

static inline void tu_rmdir(char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	if (d) {
		while ((de = readdir(d))) {
			char path[512];
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
	free(dir);
}

/* ---- comparing views ---- */

/* Does view v hold exactly s (NULL = the view is null)? */
static inline int tu_str_is(lw_str v, const char *s)
{
	if (!s)
		return v.p == NULL;
	return v.p && v.len == strlen(s) && memcmp(v.p, s, v.len) == 0;
}

#define tu_assert_str(view, s)                                               \
	cr_assert(tu_str_is((view), (s)), "%s: got %s\"%.*s\", want %s%s%s", \
		  #view, (view).p ? "" : "null ", (int)(view).len,           \
		  (view).p ? (view).p : "", (s) ? "\"" : "",                 \
		  (s) ? (s) : "null", (s) ? "\"" : "")

/* ---- a small strict JSON parser (for checking JSON output) ---- */

typedef struct tu_json {
	char type; /* 'o' object, 'a' array, 's' string, 'n' number,
		      't' true, 'f' false, 'z' null */
	char *str; /* 's': decoded UTF-8; 'n': the number's text */
	struct tu_json *kids;
	char **keys; /* 'o' only */
	size_t n;
} tu_json;

typedef struct tu_jp {
	const unsigned char *p, *end;
	int depth;
} tu_jp;

static inline void tu_json_free(tu_json *v)
{
	for (size_t i = 0; i < v->n; i++) {
		tu_json_free(&v->kids[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->kids);
	free(v->keys);
	free(v->str);
	memset(v, 0, sizeof *v);
}

static inline void tu_jp_ws(tu_jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
				 *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static inline int tu_jp_hex4(tu_jp *j, uint32_t *v)
{
	*v = 0;
	if (j->end - j->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		unsigned c = j->p[i];
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			*v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			*v |= c - 'A' + 10;
		else
			return -1;
	}
	j->p += 4;
	return 0;
}

static inline size_t tu_put_utf8(char *o, uint32_t c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | (c >> 6));
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xe0 | (c >> 12));
		o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (c >> 18));
	o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* A JSON string at j->p (at the opening quote) into a malloc'd UTF-8
 * string; NULL when not valid (raw control characters, bad escapes, lone
 * surrogates, invalid UTF-8). */
static inline char *tu_jp_string(tu_jp *j)
{
	char *out = malloc((size_t)(j->end - j->p) * 2 + 1);
	size_t o = 0;
	if (j->p >= j->end || *j->p != '"')
		goto bad;
	j->p++;
	while (j->p < j->end && *j->p != '"') {
		unsigned c = *j->p;
		if (c < 0x20)
			goto bad;
		if (c == '\\') {
			uint32_t u;
			if (++j->p >= j->end)
				goto bad;
			c = *j->p++;
			switch (c) {
			case '"':
			case '\\':
			case '/':
				out[o++] = (char)c;
				continue;
			case 'b':
				out[o++] = '\b';
				continue;
			case 'f':
				out[o++] = '\f';
				continue;
			case 'n':
				out[o++] = '\n';
				continue;
			case 'r':
				out[o++] = '\r';
				continue;
			case 't':
				out[o++] = '\t';
				continue;
			case 'u':
				if (tu_jp_hex4(j, &u))
					goto bad;
				if (u >= 0xdc00 && u <= 0xdfff)
					goto bad;
				if (u >= 0xd800 && u <= 0xdbff) {
					uint32_t lo;
					if (j->end - j->p < 6 ||
					    j->p[0] != '\\' || j->p[1] != 'u')
						goto bad;
					j->p += 2;
					if (tu_jp_hex4(j, &lo) || lo < 0xdc00 ||
					    lo > 0xdfff)
						goto bad;
					u = 0x10000 + ((u - 0xd800) << 10) +
					    (lo - 0xdc00);
				}
				o += tu_put_utf8(out + o, u);
				continue;
			default:
				goto bad;
			}
		}
		if (c < 0x80) {
			out[o++] = (char)c;
			j->p++;
			continue;
		}
		{
			size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			uint32_t cp = c & (len == 2   ? 0x1f
					   : len == 3 ? 0x0f
						      : 0x07);
			if (c < 0xc2 || c > 0xf4 ||
			    (size_t)(j->end - j->p) < len)
				goto bad;
			for (size_t i = 1; i < len; i++) {
				if ((j->p[i] & 0xc0) != 0x80)
					goto bad;
				cp = cp << 6 | (j->p[i] & 0x3f);
			}
			if ((len == 3 && cp < 0x800) ||
			    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
			    (cp >= 0xd800 && cp <= 0xdfff))
				goto bad;
			memcpy(out + o, j->p, len);
			o += len;
			j->p += len;
		}
	}
	if (j->p >= j->end)
		goto bad;
	j->p++;
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

static inline int tu_jp_value(tu_jp *j, tu_json *v)
{
	memset(v, 0, sizeof *v);
	tu_jp_ws(j);
	if (j->p >= j->end || ++j->depth > 64)
		return -1;
	if (*j->p == '{' || *j->p == '[') {
		int obj = *j->p == '{';
		size_t cap = 0;
		v->type = obj ? 'o' : 'a';
		j->p++;
		tu_jp_ws(j);
		if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
			j->p++;
			j->depth--;
			return 0;
		}
		for (;;) {
			char *key = NULL;
			if (obj) {
				tu_jp_ws(j);
				key = tu_jp_string(j);
				if (!key)
					return -1;
				tu_jp_ws(j);
				if (j->p >= j->end || *j->p != ':') {
					free(key);
					return -1;
				}
				j->p++;
			}
			if (v->n == cap) {
				cap = cap ? cap * 2 : 8;
				v->kids =
				    realloc(v->kids, cap * sizeof *v->kids);
				if (obj)
					v->keys = realloc(
					    v->keys, cap * sizeof *v->keys);
			}
			if (obj)
				v->keys[v->n] = key;
			if (tu_jp_value(j, &v->kids[v->n])) {
				v->n++;
				return -1;
			}
			v->n++;
			tu_jp_ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
				j->p++;
				break;
			}
			return -1;
		}
	} else if (*j->p == '"') {
		v->type = 's';
		v->str = tu_jp_string(j);
		if (!v->str)
			return -1;
	} else if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
		const unsigned char *s = j->p;
		if (*j->p == '-')
			j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return -1;
		if (*j->p == '0' && j->p + 1 < j->end && j->p[1] >= '0' &&
		    j->p[1] <= '9')
			return -1; /* leading zero */
		while (j->p < j->end &&
		       ((*j->p >= '0' && *j->p <= '9') || *j->p == '.' ||
			*j->p == 'e' || *j->p == 'E' || *j->p == '+' ||
			*j->p == '-'))
			j->p++;
		v->type = 'n';
		v->str = strndup((const char *)s, (size_t)(j->p - s));
	} else if (j->end - j->p >= 4 && !memcmp(j->p, "true", 4)) {
		v->type = 't';
		j->p += 4;
	} else if (j->end - j->p >= 5 && !memcmp(j->p, "false", 5)) {
		v->type = 'f';
		j->p += 5;
	} else if (j->end - j->p >= 4 && !memcmp(j->p, "null", 4)) {
		v->type = 'z';
		j->p += 4;
	} else {
		return -1;
	}
	j->depth--;
	return 0;
}

/* Parses exactly one JSON value filling all of text[0..len). */
static inline int tu_json_parse(const void *text, size_t len, tu_json *out)
{
	tu_jp j = {text, (const unsigned char *)text + len, 0};
	if (tu_jp_value(&j, out)) {
		tu_json_free(out);
		return -1;
	}
	tu_jp_ws(&j);
	if (j.p != j.end) {
		tu_json_free(out);
		return -1;
	}
	return 0;
}

/* Member `key` of object o (asserts it is there, exactly once). */
static inline const tu_json *tu_json_get(const tu_json *o, const char *key)
{
	const tu_json *found = NULL;
	cr_assert_eq(o->type, 'o');
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->keys[i], key)) {
			cr_assert_null(found, "key %s twice", key);
			found = &o->kids[i];
		}
	cr_assert_not_null(found, "no key %s", key);
	return found;
}

#define tu_json_assert_str(o, key, want)                                     \
	do {                                                                 \
		const tu_json *v_ = tu_json_get((o), (key));                 \
		const char *w_ = (want);                                     \
		if (!w_) {                                                   \
			cr_assert_eq(v_->type, 'z', "%s: want null", (key)); \
		} else {                                                     \
			cr_assert_eq(v_->type, 's', "%s: not a string",      \
				     (key));                                 \
			cr_assert_str_eq(v_->str, w_, "%s", (key));          \
		}                                                            \
	} while (0)

#define tu_json_assert_int(o, key, want)                                \
	do {                                                            \
		const tu_json *v_ = tu_json_get((o), (key));            \
		char w_[32];                                            \
		snprintf(w_, sizeof w_, "%lld", (long long)(want));     \
		cr_assert_eq(v_->type, 'n', "%s: not a number", (key)); \
		cr_assert_str_eq(v_->str, w_, "%s", (key));             \
	} while (0)

#endif
