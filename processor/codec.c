/* codec: compiled writer->reader resolution plans and a plan-walking decoder.
 *
 * Design. Avro C parses schemas (registry.c) but its generic decoder builds
 * a value tree per message and its resolver does not fill defaults. So per
 * (schema ID, record kind) we compile, once, a tree of writer nodes (wnode)
 * from the writer schema and bind each writer field to a reader field of
 * ours (rfield table below) or to "skip". Decoding walks that plan over the
 * bytes: varints and lengths are bounds-checked against the end of the
 * buffer at every step, strings become views into the buffer, and fields
 * the writer lacks keep the defaults from a template event. The reader
 * field tables mirror schemas/ (the .avsc files); tests/unit/test_codec.c
 * checks that they agree.
 *
 * Invariants: a plan is immutable once compiled; the decoder never reads
 * past `end`; every error path leaves *out unspecified and returns a status.
 * Cost: one pass over the bytes, no allocation (the contact_keys scratch
 * array grows to the largest list seen and is reused). */
#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmalloc.h"

#define MAX_DEPTH      32
#define MAX_CONTACTS   1024
#define MAX_SKIP_ITEMS (1u << 24)

/* ---- writer nodes ---- */

enum wtype {
	W_NULL,
	W_BOOL,
	W_INT,
	W_LONG,
	W_FLOAT,
	W_DOUBLE,
	W_BYTES,
	W_STRING,
	W_FIXED,
	W_ENUM,
	W_ARRAY,
	W_MAP,
	W_RECORD,
	W_UNION,
};

typedef struct wnode {
	int type;
	int n;		     /* fixed size, symbols, fields or branches */
	struct wnode **kids; /* item, value, fields or branches */
	char **names;	     /* field names or enum symbols */
	int *enum_map;	     /* enum: writer index -> reader index */
} wnode;

static void wnode_free(wnode *w)
{
	int nk;
	if (!w)
		return;
	nk = (w->type == W_ARRAY || w->type == W_MAP) ? 1 : w->n;
	if (w->kids)
		for (int i = 0; i < nk; i++)
			wnode_free(w->kids[i]);
	if (w->names)
		for (int i = 0; i < w->n; i++)
			free(w->names[i]);
	free(w->kids);
	free(w->names);
	free(w->enum_map);
	free(w);
}

static wnode *wnode_build(avro_schema_t s, int depth, char *err, size_t errsz)
{
	wnode *w;
	if (depth > MAX_DEPTH) {
		snprintf(err, errsz,
			 "schema nested deeper than %d (recursive?)",
			 MAX_DEPTH);
		return NULL;
	}
	while (is_avro_link(s))
		s = avro_schema_link_target(s);
	w = lw_xcalloc(1, sizeof *w);
	switch (avro_typeof(s)) {
	case AVRO_NULL:
		w->type = W_NULL;
		break;
	case AVRO_BOOLEAN:
		w->type = W_BOOL;
		break;
	case AVRO_INT32:
		w->type = W_INT;
		break;
	case AVRO_INT64:
		w->type = W_LONG;
		break;
	case AVRO_FLOAT:
		w->type = W_FLOAT;
		break;
	case AVRO_DOUBLE:
		w->type = W_DOUBLE;
		break;
	case AVRO_BYTES:
		w->type = W_BYTES;
		break;
	case AVRO_STRING:
		w->type = W_STRING;
		break;
	case AVRO_FIXED:
		w->type = W_FIXED;
		w->n = (int)avro_schema_fixed_size(s);
		break;
	case AVRO_ENUM:
		w->type = W_ENUM;
		w->n = avro_schema_enum_number_of_symbols(s);
		w->names = lw_xcalloc((size_t)w->n, sizeof *w->names);
		for (int i = 0; i < w->n; i++)
			w->names[i] = lw_xstrdup(avro_schema_enum_get(s, i));
		break;
	case AVRO_ARRAY:
	case AVRO_MAP:
		w->type = avro_typeof(s) == AVRO_ARRAY ? W_ARRAY : W_MAP;
		w->kids = lw_xcalloc(1, sizeof *w->kids);
		w->kids[0] = wnode_build(avro_typeof(s) == AVRO_ARRAY
					     ? avro_schema_array_items(s)
					     : avro_schema_map_values(s),
					 depth + 1, err, errsz);
		if (!w->kids[0])
			goto fail;
		break;
	case AVRO_RECORD:
		w->type = W_RECORD;
		w->n = (int)avro_schema_record_size(s);
		w->kids = lw_xcalloc((size_t)w->n, sizeof *w->kids);
		w->names = lw_xcalloc((size_t)w->n, sizeof *w->names);
		for (int i = 0; i < w->n; i++) {
			w->names[i] =
			    lw_xstrdup(avro_schema_record_field_name(s, i));
			w->kids[i] = wnode_build(
			    avro_schema_record_field_get_by_index(s, i),
			    depth + 1, err, errsz);
			if (!w->kids[i])
				goto fail;
		}
		break;
	case AVRO_UNION:
		w->type = W_UNION;
		w->n = (int)avro_schema_union_size(s);
		w->kids = lw_xcalloc((size_t)w->n, sizeof *w->kids);
		for (int i = 0; i < w->n; i++) {
			w->kids[i] = wnode_build(avro_schema_union_branch(s, i),
						 depth + 1, err, errsz);
			if (!w->kids[i])
				goto fail;
		}
		break;
	default:
		snprintf(err, errsz, "unsupported Avro type %d",
			 (int)avro_typeof(s));
		goto fail;
	}
	return w;
fail:
	wnode_free(w);
	return NULL;
}

/* ---- reader fields (mirror schemas/ (the .avsc files)) ---- */

enum rkind {
	R_STRING,     /* string */
	R_OPT_STRING, /* ["null","string"] */
	R_OPT_DOUBLE, /* ["null","double"] */
	R_OPT_INT,    /* ["null","int"] */
	R_INT,
	R_LONG,
	R_BOOL,
	R_ENUM,
	R_STRING_ARRAY,
};

typedef struct rfield {
	const char *name;
	int kind;
	size_t off;	 /* into the event struct */
	size_t flag_off; /* "has" flag for R_OPT_DOUBLE / R_OPT_INT */
	int required;	 /* no default in the schema */
	const char *const *symbols;
	int nsymbols;
	int unknown_symbol; /* value for a writer symbol we lack */
} rfield;

static const char *const status_symbols[] = {
    "PRELIMINARY", "FINAL", "CORRECTED", "CANCELLED", "ENTERED_IN_ERROR"};
static const char *const channel_symbols[] = {
    "EMAIL", "SMS", "PORTAL", "LETTER", "PHONE", "FAX", "HANDOVER"};

#define RF(ev, fname, kind, req)                                      \
	{                                                             \
#fname, kind, offsetof(ev, fname), 0, req, NULL, 0, 0 \
	}

static const rfield result_fields[] = {
    RF(lw_result_event, event_id, R_STRING, 1),
    RF(lw_result_event, specimen_id, R_STRING, 1),
    RF(lw_result_event, patient_key, R_STRING, 1),
    RF(lw_result_event, test_code, R_STRING, 1),
    RF(lw_result_event, result_code, R_STRING, 1),
    {"value", R_OPT_DOUBLE, offsetof(lw_result_event, value),
     offsetof(lw_result_event, has_value), 0, NULL, 0, 0},
    RF(lw_result_event, unit, R_OPT_STRING, 0),
    {"status", R_ENUM, offsetof(lw_result_event, status), 0, 1, status_symbols,
     5, LW_STATUS_UNKNOWN},
    RF(lw_result_event, result_version, R_INT, 1),
    RF(lw_result_event, retest_pending, R_BOOL, 0),
    RF(lw_result_event, contact_keys, R_STRING_ARRAY, 0),
    RF(lw_result_event, recorded_at, R_LONG, 1),
    RF(lw_result_event, source_system, R_STRING, 0),
};

static const rfield notification_fields[] = {
    RF(lw_notification_event, notification_id, R_STRING, 1),
    RF(lw_notification_event, specimen_id, R_STRING, 1),
    RF(lw_notification_event, intended_specimen_id, R_OPT_STRING, 0),
    RF(lw_notification_event, recipient_key, R_STRING, 1),
    RF(lw_notification_event, recipient_hint, R_OPT_STRING, 0),
    {"channel", R_ENUM, offsetof(lw_notification_event, channel), 0, 1,
     channel_symbols, 7, LW_CHANNEL_UNKNOWN},
    RF(lw_notification_event, result_code, R_OPT_STRING, 0),
    {"result_version", R_OPT_INT,
     offsetof(lw_notification_event, result_version),
     offsetof(lw_notification_event, has_result_version), 0, NULL, 0, 0},
    RF(lw_notification_event, batch_id, R_OPT_STRING, 0),
    RF(lw_notification_event, sent_at, R_LONG, 1),
};

#define NRESULT (sizeof result_fields / sizeof result_fields[0])
#define NNOTIF	(sizeof notification_fields / sizeof notification_fields[0])

/* ---- plans ---- */

typedef struct plan {
	int32_t id;
	int kind;	     /* 0 result, 1 notification */
	wnode *root;	     /* NULL when incompatible */
	const rfield **bind; /* per writer field: reader field or NULL */
	char *error;	     /* why incompatible, or NULL */
	union {
		lw_result_event r;
		lw_notification_event n;
	} defaults;
} plan;

struct lw_codec {
	const lw_registry *reg;
	const plan *last[2]; /* last plan used per kind */
	plan **plans;
	size_t nplans, cap;
	lw_str *contacts;
	size_t contacts_cap;
	uint64_t unknown_symbols;
};

static int opt_kind(int k)
{
	return k == R_OPT_STRING || k == R_OPT_DOUBLE || k == R_OPT_INT;
}

/* Can a (non-union) writer type be read as reader kind k? */
static int compatible(const wnode *w, const rfield *r, char *err, size_t errsz)
{
	int t = w->type, ok;
	switch (r->kind) {
	case R_STRING:
	case R_OPT_STRING:
		ok = t == W_STRING || t == W_BYTES;
		break;
	case R_OPT_DOUBLE:
		ok = t == W_INT || t == W_LONG || t == W_FLOAT || t == W_DOUBLE;
		break;
	case R_INT:
	case R_OPT_INT:
		ok = t == W_INT;
		break;
	case R_LONG:
		ok = t == W_INT || t == W_LONG;
		break;
	case R_BOOL:
		ok = t == W_BOOL;
		break;
	case R_ENUM:
		ok = t == W_ENUM;
		break;
	case R_STRING_ARRAY:
		ok = t == W_ARRAY && (w->kids[0]->type == W_STRING ||
				      w->kids[0]->type == W_BYTES);
		break;
	default:
		ok = 0;
	}
	if (!ok && err)
		snprintf(err, errsz,
			 "field %s: writer type cannot be read as ours",
			 r->name);
	return ok;
}

static void bind_enum(wnode *w, const rfield *r)
{
	w->enum_map = lw_xcalloc((size_t)w->n, sizeof *w->enum_map);
	for (int i = 0; i < w->n; i++) {
		w->enum_map[i] = r->unknown_symbol;
		for (int j = 0; j < r->nsymbols; j++)
			if (strcmp(w->names[i], r->symbols[j]) == 0)
				w->enum_map[i] = j;
	}
}

/* Checks a writer field against its reader field; unions are checked per
 * branch: at least one branch must be usable, and a message that picks an
 * unusable one fails at decode time (as the Avro spec says). */
static int bind_field(wnode *w, const rfield *r, char *err, size_t errsz)
{
	if (w->type == W_UNION) {
		int usable = 0;
		for (int i = 0; i < w->n; i++) {
			wnode *b = w->kids[i];
			if (b->type == W_NULL) {
				usable += opt_kind(r->kind);
			} else if (compatible(b, r, NULL, 0)) {
				usable++;
				if (b->type == W_ENUM)
					bind_enum(b, r);
			}
		}
		if (!usable)
			snprintf(err, errsz,
				 "field %s: no branch of the writer's union "
				 "can be read as ours",
				 r->name);
		return usable > 0;
	}
	if (!compatible(w, r, err, errsz))
		return 0;
	if (w->type == W_ENUM)
		bind_enum(w, r);
	return 1;
}

static plan *plan_compile(const lw_registry *reg, int32_t id, int kind)
{
	const rfield *fields = kind ? notification_fields : result_fields;
	size_t nf = kind ? NNOTIF : NRESULT;
	avro_schema_t s = lw_registry_get(reg, id);
	plan *p = lw_xcalloc(1, sizeof *p);
	char err[256] = "";
	p->id = id;
	p->kind = kind;
	if (!s)
		return p; /* unknown: error == NULL, root == NULL */
	p->root = wnode_build(s, 0, err, sizeof err);
	if (!p->root)
		goto incompatible;
	if (p->root->type != W_RECORD) {
		snprintf(err, sizeof err, "writer schema %d is not a record",
			 (int)id);
		goto incompatible;
	}
	p->bind = lw_xcalloc((size_t)p->root->n + 1, sizeof *p->bind);
	for (size_t f = 0; f < nf; f++) {
		int found = 0;
		for (int i = 0; i < p->root->n; i++) {
			if (strcmp(p->root->names[i], fields[f].name) != 0)
				continue;
			if (!bind_field(p->root->kids[i], &fields[f], err,
					sizeof err))
				goto incompatible;
			p->bind[i] = &fields[f];
			found = 1;
			break;
		}
		if (!found && fields[f].required) {
			snprintf(err, sizeof err,
				 "field %s is missing and has no default",
				 fields[f].name);
			goto incompatible;
		}
	}
	/* Defaults: zero is null/false/0/[] for every field, except the
	 * string defaults (source_system = ""). */
	memset(&p->defaults, 0, sizeof p->defaults);
	if (kind == 0)
		p->defaults.r.source_system.p = "";
	return p;
incompatible:
	wnode_free(p->root);
	p->root = NULL;
	free(p->bind);
	p->bind = NULL;
	p->error = lw_xstrdup(err[0] ? err : "incompatible writer schema");
	return p;
}

static void plan_free(plan *p)
{
	wnode_free(p->root);
	free(p->bind);
	free(p->error);
	free(p);
}

static const plan unknown_plan; /* root == NULL, error == NULL */

static const plan *plan_get(lw_codec *c, int32_t id, int kind)
{
	const plan *p = c->last[kind];
	if (p && p->id == id)
		return p; /* the usual case: one writer per topic at a time */
	/* Plans exist only for IDs the registry knows, so this array is
	 * bounded by the registry; a linear scan of it is short. */
	for (size_t i = 0; i < c->nplans; i++)
		if (c->plans[i]->id == id && c->plans[i]->kind == kind)
			return c->last[kind] = c->plans[i];
	/* Unknown IDs are not cached: corrupt headers carry random IDs and
	 * must not grow memory or slow down the scan above. */
	if (!lw_registry_get(c->reg, id))
		return &unknown_plan;
	if (c->nplans == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->plans = lw_xrealloc(c->plans, c->cap * sizeof *c->plans);
	}
	c->plans[c->nplans] = plan_compile(c->reg, id, kind);
	return c->last[kind] = c->plans[c->nplans++];
}

/* ---- byte-level reading ---- */

typedef struct cursor {
	const unsigned char *p, *end;
	lw_decode_status st;
	char *detail;
	size_t detail_size;
} cursor;

static int fail(cursor *c, lw_decode_status st, const char *what)
{
	if (c->st == LW_DECODE_OK) {
		c->st = st;
		snprintf(c->detail, c->detail_size, "%s", what);
	}
	return -1;
}

/* A varint of more than one byte (read_long's slow path). */
static __attribute__((noinline)) int read_long_multi(cursor *c, int64_t *out)
{
	uint64_t v = 0;
	/* with ten bytes left no varint can run past the end, so the loop
	 * drops the bound check */
	if (c->end - c->p >= 10) {
		const unsigned char *q = c->p;
		for (int shift = 0; shift < 63; shift += 7) {
			unsigned b = *q++;
			v |= (uint64_t)(b & 0x7f) << shift;
			if (!(b & 0x80)) {
				c->p = q;
				*out = (int64_t)((v >> 1) ^ (~(v & 1) + 1));
				return 0;
			}
		}
		v = 0; /* ten bytes: the careful loop below decides */
	}
	for (int shift = 0; shift < 64; shift += 7) {
		unsigned b;
		if (c->p >= c->end)
			return fail(c, LW_DECODE_MALFORMED, "truncated varint");
		b = *c->p++;
		if (shift == 63 && (b & 0x7e))
			return fail(c, LW_DECODE_MALFORMED, "varint overflow");
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = (int64_t)((v >> 1) ^ (~(v & 1) + 1));
			return 0;
		}
	}
	return fail(c, LW_DECODE_MALFORMED, "varint longer than 10 bytes");
}

/* Lengths, enums, union branches and small ints are one byte: that case is
 * inlined at every call, the rest is a call. */
static inline __attribute__((always_inline)) int read_long(cursor *c,
							   int64_t *out)
{
	if (c->p < c->end && !(*c->p & 0x80)) {
		uint64_t v = *c->p++;
		*out = (int64_t)((v >> 1) ^ (~(v & 1) + 1));
		return 0;
	}
	return read_long_multi(c, out);
}

static int read_int(cursor *c, int32_t *out)
{
	int64_t v;
	if (read_long(c, &v))
		return -1;
	if (v < INT32_MIN || v > INT32_MAX)
		return fail(c, LW_DECODE_MALFORMED, "int out of range");
	*out = (int32_t)v;
	return 0;
}

static int need(cursor *c, int64_t n)
{
	if (n < 0 || n > c->end - c->p)
		return fail(c, LW_DECODE_MALFORMED,
			    "length beyond end of message");
	return 0;
}

static int read_bytes(cursor *c, lw_str *out)
{
	int64_t n;
	if (read_long(c, &n) || need(c, n))
		return -1;
	if (n > UINT32_MAX)
		return fail(c, LW_DECODE_MALFORMED, "string too long");
	out->p = (const char *)c->p;
	out->len = (uint32_t)n;
	c->p += n;
	return 0;
}

static uint64_t read_le(cursor *c, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)c->p[i] << (8 * i);
	c->p += n;
	return v;
}

static int read_double(cursor *c, int wtype, double *out)
{
	if (wtype == W_FLOAT) {
		uint32_t bits;
		float f;
		if (need(c, 4))
			return -1;
		bits = (uint32_t)read_le(c, 4);
		memcpy(&f, &bits, 4);
		*out = f;
	} else {
		uint64_t bits;
		if (need(c, 8))
			return -1;
		bits = read_le(c, 8);
		memcpy(out, &bits, 8);
	}
	return 0;
}

/* Array and map blocks: a count, negative when followed by a byte size. */
static int read_block_count(cursor *c, int64_t *count)
{
	if (read_long(c, count))
		return -1;
	if (*count < 0) {
		int64_t bytes;
		if (*count == INT64_MIN)
			return fail(c, LW_DECODE_MALFORMED, "bad block count");
		*count = -*count;
		if (read_long(c, &bytes))
			return -1;
		if (bytes < 0)
			return fail(c, LW_DECODE_MALFORMED,
				    "negative block size");
	}
	return 0;
}

static int skip(cursor *c, const wnode *w, int depth);

static int skip_items(cursor *c, const wnode *item, int is_map, int depth)
{
	uint64_t total = 0;
	for (;;) {
		int64_t n;
		if (read_block_count(c, &n))
			return -1;
		if (n == 0)
			return 0;
		total += (uint64_t)n;
		if (total > MAX_SKIP_ITEMS)
			return fail(c, LW_DECODE_MALFORMED, "too many items");
		for (int64_t i = 0; i < n; i++) {
			lw_str k;
			if (is_map && read_bytes(c, &k))
				return -1;
			if (skip(c, item, depth + 1))
				return -1;
		}
	}
}

static int skip(cursor *c, const wnode *w, int depth)
{
	int64_t v;
	lw_str s;
	if (depth > MAX_DEPTH)
		return fail(c, LW_DECODE_MALFORMED, "nested too deep");
	switch (w->type) {
	case W_NULL:
		return 0;
	case W_BOOL:
		return need(c, 1) ? -1 : (c->p++, 0);
	case W_INT:
	case W_LONG:
	case W_ENUM:
		return read_long(c, &v);
	case W_FLOAT:
		return need(c, 4) ? -1 : (c->p += 4, 0);
	case W_DOUBLE:
		return need(c, 8) ? -1 : (c->p += 8, 0);
	case W_BYTES:
	case W_STRING:
		return read_bytes(c, &s);
	case W_FIXED:
		return need(c, w->n) ? -1 : (c->p += w->n, 0);
	case W_ARRAY:
		return skip_items(c, w->kids[0], 0, depth);
	case W_MAP:
		return skip_items(c, w->kids[0], 1, depth);
	case W_RECORD:
		for (int i = 0; i < w->n; i++)
			if (skip(c, w->kids[i], depth + 1))
				return -1;
		return 0;
	case W_UNION:
		if (read_long(c, &v))
			return -1;
		if (v < 0 || v >= w->n)
			return fail(c, LW_DECODE_MALFORMED,
				    "union index out of range");
		return skip(c, w->kids[v], depth + 1);
	}
	return fail(c, LW_DECODE_MALFORMED, "unknown writer type");
}

/* Reads one writer value of node w into reader field r of struct base. */
static int read_field(lw_codec *co, cursor *c, const wnode *w, const rfield *r,
		      char *base)
{
	char *slot = base + r->off;
	if (w->type == W_UNION) {
		int64_t b;
		if (read_long(c, &b))
			return -1;
		if (b < 0 || b >= w->n)
			return fail(c, LW_DECODE_MALFORMED,
				    "union index out of range");
		w = w->kids[b];
		if (w->type == W_NULL) {
			if (!opt_kind(r->kind)) {
				snprintf(
				    c->detail, c->detail_size,
				    "field %s: null where a value is required",
				    r->name);
				c->st = LW_DECODE_INCOMPATIBLE;
				return -1;
			}
			if (r->kind == R_OPT_STRING)
				((lw_str *)slot)->p = NULL;
			else
				*(int *)(base + r->flag_off) = 0;
			return 0;
		}
		if (!compatible(w, r, NULL, 0)) {
			snprintf(
			    c->detail, c->detail_size,
			    "field %s: union branch cannot be read as ours",
			    r->name);
			c->st = LW_DECODE_INCOMPATIBLE;
			return -1;
		}
	}
	switch (r->kind) {
	case R_STRING:
	case R_OPT_STRING:
		return read_bytes(c, (lw_str *)slot);
	case R_OPT_DOUBLE: {
		int64_t v;
		double d;
		if (w->type == W_INT || w->type == W_LONG) {
			if (read_long(c, &v))
				return -1;
			d = (double)v;
		} else if (read_double(c, w->type, &d)) {
			return -1;
		}
		*(double *)slot = d;
		*(int *)(base + r->flag_off) = 1;
		return 0;
	}
	case R_INT:
	case R_OPT_INT:
		if (read_int(c, (int32_t *)slot))
			return -1;
		if (r->kind == R_OPT_INT)
			*(int *)(base + r->flag_off) = 1;
		return 0;
	case R_LONG:
		return read_long(c, (int64_t *)slot);
	case R_BOOL:
		if (need(c, 1))
			return -1;
		if (*c->p > 1)
			return fail(c, LW_DECODE_MALFORMED,
				    "boolean not 0 or 1");
		*(int *)slot = *c->p++;
		return 0;
	case R_ENUM: {
		int32_t i;
		if (read_int(c, &i))
			return -1;
		if (i < 0 || i >= w->n)
			return fail(c, LW_DECODE_MALFORMED,
				    "enum index out of range");
		*(int *)slot = w->enum_map[i];
		if (w->enum_map[i] == r->unknown_symbol)
			co->unknown_symbols++;
		return 0;
	}
	case R_STRING_ARRAY: {
		size_t n = 0;
		for (;;) {
			int64_t cnt;
			if (read_block_count(c, &cnt))
				return -1;
			if (cnt == 0)
				break;
			if (cnt > MAX_CONTACTS ||
			    n + (size_t)cnt > MAX_CONTACTS) {
				snprintf(c->detail, c->detail_size,
					 "field %s: more than %d entries",
					 r->name, MAX_CONTACTS);
				c->st = LW_DECODE_INVALID_FIELD;
				return -1;
			}
			if (n + (size_t)cnt > co->contacts_cap) {
				co->contacts_cap = n + (size_t)cnt + 8;
				co->contacts = lw_xrealloc(
				    co->contacts,
				    co->contacts_cap * sizeof *co->contacts);
			}
			for (int64_t i = 0; i < cnt; i++)
				if (read_bytes(c, &co->contacts[n++]))
					return -1;
		}
		/* contact_keys is the only array field; its count lives next
		 * to it in lw_result_event. */
		*(const lw_str **)slot = co->contacts;
		((lw_result_event *)base)->n_contact_keys = (uint32_t)n;
		return 0;
	}
	}
	return fail(c, LW_DECODE_MALFORMED, "unknown reader kind");
}

static lw_decode_status decode(lw_codec *co, int kind, const void *buf,
			       size_t len, void *out, int32_t *schema_id,
			       char *detail, size_t detail_size)
{
	const unsigned char *b = buf;
	cursor c = {b + 5, b + len, LW_DECODE_OK, detail, detail_size};
	const plan *p;
	int32_t id;
	*schema_id = -1;
	detail[0] = '\0';
	if (!buf || len == 0) {
		snprintf(detail, detail_size, "null or empty value");
		return LW_DECODE_EMPTY_VALUE;
	}
	if (len < 5 || b[0] != 0) {
		snprintf(detail, detail_size,
			 len < 5 ? "shorter than the 5-byte header"
				 : "magic byte is not 0");
		return LW_DECODE_BAD_MAGIC;
	}
	id = (int32_t)((uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
		       (uint32_t)b[3] << 8 | (uint32_t)b[4]);
	*schema_id = id;
	p = plan_get(co, id, kind);
	if (!p->root) {
		if (!p->error) {
			snprintf(detail, detail_size,
				 "schema ID %d not in registry", (int)id);
			return LW_DECODE_UNKNOWN_SCHEMA;
		}
		snprintf(detail, detail_size, "schema ID %d: %s", (int)id,
			 p->error);
		return LW_DECODE_INCOMPATIBLE;
	}
	if (kind == 0)
		*(lw_result_event *)out = p->defaults.r;
	else
		*(lw_notification_event *)out = p->defaults.n;
	if (kind == 0)
		((lw_result_event *)out)->contact_keys = co->contacts;
	for (int i = 0; i < p->root->n; i++) {
		int rc = p->bind[i] ? read_field(co, &c, p->root->kids[i],
						 p->bind[i], out)
				    : skip(&c, p->root->kids[i], 1);
		if (rc)
			return c.st;
	}
	if (c.p != c.end) {
		snprintf(detail, detail_size, "%zu bytes after the record",
			 (size_t)(c.end - c.p));
		return LW_DECODE_MALFORMED;
	}
	return LW_DECODE_OK;
}

/* Identifiers are kept and printed as C strings: a NUL inside one would
 * silently cut it (two specimens would become one). Avro allows it; we
 * dead-letter it. Returns the first offending field's name or NULL. */
static const char *nul_in(const lw_str *fields, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (fields[i].p && memchr(fields[i].p, 0, fields[i].len))
			return names[i];
	return NULL;
}

lw_decode_status lw_codec_decode_result(lw_codec *c, const void *buf,
					size_t len, lw_result_event *out,
					int32_t *schema_id, char *detail,
					size_t detail_size)
{
	lw_decode_status st =
	    decode(c, 0, buf, len, out, schema_id, detail, detail_size);
	if (st != LW_DECODE_OK)
		return st;
	if (out->specimen_id.len == 0) {
		snprintf(detail, detail_size, "specimen_id is empty");
		return LW_DECODE_EMPTY_SPECIMEN;
	}
	if (out->event_id.len == 0) {
		snprintf(detail, detail_size, "event_id is empty");
		return LW_DECODE_INVALID_FIELD;
	}
	{
		static const char *const names[] = {"specimen_id", "event_id",
						    "patient_key"};
		const lw_str f[] = {out->specimen_id, out->event_id,
				    out->patient_key};
		const char *bad = nul_in(f, names, 3);
		if (bad) {
			snprintf(detail, detail_size, "%s contains a NUL byte",
				 bad);
			return LW_DECODE_INVALID_FIELD;
		}
	}
	return LW_DECODE_OK;
}

lw_decode_status lw_codec_decode_notification(lw_codec *c, const void *buf,
					      size_t len,
					      lw_notification_event *out,
					      int32_t *schema_id, char *detail,
					      size_t detail_size)
{
	lw_decode_status st =
	    decode(c, 1, buf, len, out, schema_id, detail, detail_size);
	if (st != LW_DECODE_OK)
		return st;
	if (out->specimen_id.len == 0) {
		snprintf(detail, detail_size, "specimen_id is empty");
		return LW_DECODE_EMPTY_SPECIMEN;
	}
	if (out->notification_id.len == 0 || out->recipient_key.len == 0) {
		snprintf(detail, detail_size, "%s is empty",
			 out->notification_id.len ? "recipient_key"
						  : "notification_id");
		return LW_DECODE_INVALID_FIELD;
	}
	{
		static const char *const names[] = {
		    "specimen_id", "notification_id", "intended_specimen_id",
		    "batch_id"};
		const lw_str f[] = {out->specimen_id, out->notification_id,
				    out->intended_specimen_id, out->batch_id};
		const char *bad = nul_in(f, names, 4);
		if (bad) {
			snprintf(detail, detail_size, "%s contains a NUL byte",
				 bad);
			return LW_DECODE_INVALID_FIELD;
		}
	}
	return LW_DECODE_OK;
}

lw_codec *lw_codec_new(const lw_registry *reg)
{
	lw_codec *c = lw_xcalloc(1, sizeof *c);
	c->reg = reg;
	return c;
}

void lw_codec_destroy(lw_codec *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nplans; i++)
		plan_free(c->plans[i]);
	free(c->plans);
	free(c->contacts);
	free(c);
}

uint64_t lw_codec_unknown_symbols(const lw_codec *c)
{
	return c->unknown_symbols;
}

const char *lw_decode_status_reason(lw_decode_status s)
{
	static const char *const names[] = {
	    "ok",
	    "empty_value",
	    "bad_magic",
	    "unknown_schema",
	    "incompatible_schema",
	    "malformed_avro",
	    "empty_specimen_id",
	    "invalid_field",
	};
	return (unsigned)s < LW_DECODE_STATUS_COUNT ? names[s] : "unknown";
}

const char *lw_status_name(int status)
{
	return (unsigned)status < 5 ? status_symbols[status] : "UNKNOWN";
}

const char *lw_channel_name(int channel)
{
	return (unsigned)channel < 7 ? channel_symbols[channel] : "UNKNOWN";
}
