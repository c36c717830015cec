/* test_traffic: the traffic generator and the dump file.
 *
 * The decisive test here (truth_matches_replay) does not trust the
 * generator's own bookkeeping: it decodes every emitted message with Avro
 * C's generic reader against the writer schema named in its header, groups
 * the decoded events by the value's specimen_id in produce order, replays
 * the five rules on every prefix and compares the incidents, severities,
 * result and trigger indexes with the truth file, line for line. The other
 * tests pin determinism, the dump format, the wire header, the embedded
 * evolved schemas and the fault/DLQ accounting. */
#include <criterion/criterion.h>

#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dumpfile.h"
#include "schemas.h"
#include "traffic.h"

#define MAX_VALUE 262144 /* the processor's limit for a whole value */

/* ---- capturing a run ---- */

struct msg {
	const char *topic; /* the config's pointer */
	char *key;	   /* NULL = null key */
	size_t key_len;
	unsigned char *value;
	size_t len;
	int64_t ts;
	uint64_t index;
};

struct capture {
	struct msg *m;
	size_t n, cap;
	uint64_t stop_at; /* return 1 at this index; 0 = never */
};

struct run {
	struct capture c;
	char *truth;
	size_t truth_len;
	lw_traffic_stats st;
	int rc;
};

static int capture_cb(const lw_traffic_msg *m, void *opaque)
{
	struct capture *c = opaque;
	struct msg *x;
	if (c->stop_at && m->index == c->stop_at)
		return 1;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 1024;
		c->m = realloc(c->m, c->cap * sizeof *c->m);
		cr_assert(c->m);
	}
	x = &c->m[c->n++];
	x->topic = m->topic;
	x->key = NULL;
	if (m->key) {
		x->key = malloc(m->key_len + 1);
		memcpy(x->key, m->key, m->key_len);
		x->key[m->key_len] = '\0';
	}
	x->key_len = m->key_len;
	x->value = malloc(m->value_len + 1);
	cr_assert(m->value != NULL);
	memcpy(x->value, m->value, m->value_len);
	x->len = m->value_len;
	x->ts = m->timestamp_ms;
	x->index = m->index;
	return 0;
}

static void test_config(lw_traffic_config *c)
{
	lw_traffic_config_defaults(c);
	c->seed = 7;
	c->specimens = 4000;
	c->fault_rate = 0.05;
	c->bad_rate = 0.02;
	c->evolved_share = 0.2;
	c->late_share = 0.2;
}

static void generate(const lw_traffic_config *cfg, struct run *r)
{
	char err[256];
	lw_traffic *t;
	FILE *f;

	memset(r, 0, sizeof *r);
	f = open_memstream(&r->truth, &r->truth_len);
	cr_assert(f);
	t = lw_traffic_new(cfg, err, sizeof err);
	cr_assert(t, "lw_traffic_new: %s", err);
	r->rc = lw_traffic_run(t, capture_cb, &r->c, f);
	lw_traffic_get_stats(t, &r->st);
	lw_traffic_destroy(t);
	cr_assert_eq(fclose(f), 0);
}

static void run_free(struct run *r)
{
	for (size_t i = 0; i < r->c.n; i++) {
		free(r->c.m[i].key);
		free(r->c.m[i].value);
	}
	free(r->c.m);
	free(r->truth);
}

/* ---- the truth file ---- */

struct talert {
	char rule[32], sid[32], sev[16];
	unsigned long long ridx, tidx;
};

struct tdlq {
	char reason[32], topic[64], key[32];
	unsigned long long idx;
};

struct tfault {
	char kind[32], sid[32];
	int null_code;
};

struct truth {
	struct talert *a;
	size_t na;
	struct tdlq *d;
	size_t nd;
	struct tfault *f;
	size_t nf;
	int complete;
};

static void parse_truth(const char *text, struct truth *t)
{
	char *copy = strdup(text), *save = NULL;
	memset(t, 0, sizeof *t);
	t->a = calloc(strlen(text) / 20 + 1, sizeof *t->a);
	t->d = calloc(strlen(text) / 20 + 1, sizeof *t->d);
	t->f = calloc(strlen(text) / 20 + 1, sizeof *t->f);
	for (char *l = strtok_r(copy, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(l, "ALERT\t", 6)) {
			struct talert *a = &t->a[t->na++];
			cr_assert_eq(sscanf(l,
					    "ALERT\t%31[^\t]\t%31[^\t]\t%15[^"
					    "\t]\t%llu\t%llu",
					    a->rule, a->sid, a->sev, &a->ridx,
					    &a->tidx),
				     5, "bad line: %s", l);
		} else if (!strncmp(l, "DLQ\t", 4)) {
			struct tdlq *d = &t->d[t->nd++];
			cr_assert_eq(
			    sscanf(l, "DLQ\t%31[^\t]\t%63[^\t]\t%31[^\t]\t%llu",
				   d->reason, d->topic, d->key, &d->idx),
			    4, "bad line: %s", l);
		} else if (!strncmp(l, "# FAULT\t", 8)) {
			struct tfault *f = &t->f[t->nf++];
			cr_assert_eq(sscanf(l, "# FAULT\t%31[^\t]\t%31[^\t]",
					    f->kind, f->sid),
				     2);
			f->null_code = strstr(l, "null_code") != NULL;
		} else if (!strncmp(l, "# complete", 10)) {
			t->complete = 1;
		} else {
			cr_assert(l[0] == '#', "unknown truth line: %s", l);
		}
	}
	free(copy);
}

static void truth_free(struct truth *t)
{
	free(t->a);
	free(t->d);
	free(t->f);
}

/* DLQ reason for a produce index, or NULL */
static const char *dlq_reason(const struct truth *t, uint64_t idx)
{
	for (size_t i = 0; i < t->nd; i++)
		if (t->d[i].idx == idx)
			return t->d[i].reason;
	return NULL;
}

/* ---- decoding with the Avro C generic reader ---- */

struct reader {
	int32_t id;
	avro_schema_t schema;
	avro_value_iface_t *iface;
	avro_value_t v;
};

static struct reader readers[4];

static struct reader *reader_for(int32_t id)
{
	static const int32_t ids[4] = {1, 2, 101, 102};
	for (int i = 0; i < 4; i++) {
		struct reader *r = &readers[i];
		const char *json;
		if (ids[i] != id)
			continue;
		if (r->iface)
			return r;
		json = lw_traffic_writer_schema_json(id);
		cr_assert(json);
		cr_assert_eq(avro_schema_from_json_length(json, strlen(json),
							  &r->schema),
			     0);
		r->iface = avro_generic_class_from_schema(r->schema);
		cr_assert(r->iface);
		cr_assert_eq(avro_generic_value_new(r->iface, &r->v), 0);
		r->id = id;
		return r;
	}
	return NULL;
}

static void readers_free(void)
{
	for (int i = 0; i < 4; i++) {
		struct reader *r = &readers[i];
		if (!r->iface)
			continue;
		avro_value_decref(&r->v);
		avro_value_iface_decref(r->iface);
		avro_schema_decref(r->schema);
		memset(r, 0, sizeof *r);
	}
}

static int32_t be32(const unsigned char *p)
{
	return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			 (uint32_t)p[2] << 8 | p[3]);
}

/* Decodes a message; returns the reader holding the value, or NULL if it
 * does not decode completely against the schema its header claims. */
static struct reader *decode(const struct msg *m)
{
	struct reader *r;
	avro_reader_t ar;
	size_t sz;
	int rc;

	if (m->len < 5 || m->value[0] != 0)
		return NULL;
	r = reader_for(be32(m->value + 1));
	if (!r)
		return NULL;
	ar = avro_reader_memory((const char *)m->value + 5,
				(int64_t)(m->len - 5));
	rc = avro_value_read(ar, &r->v);
	avro_reader_free(ar);
	if (rc)
		return NULL;
	/* all bytes consumed: the re-encoded size equals the body */
	if (avro_value_sizeof(&r->v, &sz) || sz != m->len - 5)
		return NULL;
	return r;
}

/* 1 if a message whose header is fine still is not a complete datum of
 * its writer schema. avro_skip_data walks the same grammar as
 * avro_value_read without allocating: avro-c 1.11.1's avro_value_read
 * leaks the buffer of a string it cannot read in full (read_string in
 * encoding_binary.c), which LeakSanitizer in CI would report. */
static int undecodable(const struct msg *m)
{
	struct reader *r;
	avro_reader_t ar;
	int rc;

	if (m->len < 5 || m->value[0] != 0)
		return 1;
	r = reader_for(be32(m->value + 1));
	if (!r)
		return 1;
	ar = avro_reader_memory((const char *)m->value + 5,
				(int64_t)(m->len - 5));
	rc = avro_skip_data(ar, r->schema);
	avro_reader_free(ar);
	return rc != 0;
}

/* The field's value, following a union to its branch; 0 if the field is
 * absent from the writer schema or null. */
static int field(avro_value_t *rec, const char *name, avro_value_t *out)
{
	avro_value_t f;
	if (avro_value_get_by_name(rec, name, &f, NULL))
		return 0;
	if (avro_value_get_type(&f) == AVRO_UNION) {
		avro_value_t b;
		cr_assert_eq(avro_value_get_current_branch(&f, &b), 0);
		f = b;
	}
	if (avro_value_get_type(&f) == AVRO_NULL)
		return 0;
	*out = f;
	return 1;
}

static char *get_str(avro_value_t *rec, const char *name)
{
	avro_value_t f;
	const char *s;
	size_t n;
	if (!field(rec, name, &f))
		return NULL;
	cr_assert_eq(avro_value_get_string(&f, &s, &n), 0);
	return strdup(s);
}

static int get_int(avro_value_t *rec, const char *name, int32_t *out)
{
	avro_value_t f;
	if (!field(rec, name, &f))
		return 0;
	cr_assert_eq(avro_value_get_int(&f, out), 0);
	return 1;
}

static int64_t get_long(avro_value_t *rec, const char *name)
{
	avro_value_t f;
	int64_t x;
	cr_assert(field(rec, name, &f));
	cr_assert_eq(avro_value_get_long(&f, &x), 0);
	return x;
}

static const char *get_enum(avro_value_t *rec, const char *name)
{
	avro_value_t f;
	int x;
	cr_assert(field(rec, name, &f));
	cr_assert_eq(avro_value_get_enum(&f, &x), 0);
	return avro_schema_enum_get(avro_value_get_schema(&f), x);
}

/* ---- an independent replay of the rules ---- */

struct ev {
	char *sid;
	uint64_t idx;
	int is_result;
	/* result */
	int32_t version;
	int final;
	char *code;
	int64_t at; /* recorded_at or sent_at */
	char *contacts[8];
	int ncontacts;
	/* notification */
	char *nid, *rcpt, *intended;
	int has_version;
};

static void decode_event(struct reader *r, const struct msg *m, struct ev *e)
{
	avro_value_t *v = &r->v;
	memset(e, 0, sizeof *e);
	e->idx = m->index;
	e->sid = get_str(v, "specimen_id");
	e->is_result = r->id == 1 || r->id == 101;
	if (e->is_result) {
		const char *st = get_enum(v, "status");
		avro_value_t arr;
		size_t n;
		cr_assert(strcmp(st, "AMENDED"), "AMENDED emitted");
		e->final = !strcmp(st, "FINAL") || !strcmp(st, "CORRECTED");
		cr_assert(get_int(v, "result_version", &e->version));
		e->has_version = 1;
		e->code = get_str(v, "result_code");
		e->at = get_long(v, "recorded_at");
		cr_assert(field(v, "contact_keys", &arr));
		cr_assert_eq(avro_value_get_size(&arr, &n), 0);
		cr_assert(n <= 8);
		for (size_t i = 0; i < n; i++) {
			avro_value_t el;
			const char *s;
			size_t sl;
			cr_assert_eq(
			    avro_value_get_by_index(&arr, i, &el, NULL), 0);
			cr_assert_eq(avro_value_get_string(&el, &s, &sl), 0);
			e->contacts[e->ncontacts++] = strdup(s);
		}
	} else {
		cr_assert(strcmp(get_enum(v, "channel"), "WHATSAPP"),
			  "WHATSAPP emitted");
		e->nid = get_str(v, "notification_id");
		e->rcpt = get_str(v, "recipient_key");
		e->intended = get_str(v, "intended_specimen_id");
		e->code = get_str(v, "result_code");
		e->has_version = get_int(v, "result_version", &e->version);
		e->at = get_long(v, "sent_at");
	}
	cr_assert_eq(m->ts, e->at, "timestamp %lld is not the event time %lld",
		     (long long)m->ts, (long long)e->at);
}

static void ev_free(struct ev *e)
{
	free(e->sid);
	free(e->code);
	free(e->nid);
	free(e->rcpt);
	free(e->intended);
	for (int i = 0; i < e->ncontacts; i++)
		free(e->contacts[i]);
}

static int ev_cmp(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	int c = strcmp(x->sid, y->sid);
	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void norm(const char *in, char *out, size_t cap)
{
	size_t n;
	while (*in == ' ' || *in == '\t')
		in++;
	n = strlen(in);
	while (n && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] =
		    (char)(in[i] >= 'a' && in[i] <= 'z' ? in[i] - 32 : in[i]);
	out[n] = '\0';
}

static int in_set(const char *code, const char *const *set)
{
	char c[64];
	norm(code, c, sizeof c);
	for (; *set; set++)
		if (!strcmp(c, *set))
			return 1;
	return 0;
}

static const char *const POS[] = {"POS", "POSITIVE", "DETECTED", "REACTIVE",
				  NULL};
static const char *const NEG[] = {
    "NEG",	    "NEGATIVE", "NOT DETECTED", "NOT_DETECTED", "NONREACTIVE",
    "NON-REACTIVE", NULL};

enum { RM, ST, WR, FAN, REC, NRULES };
static const char *const RULE[NRULES] = {"RESULT_MISMATCH", "STALE_VERSION",
					 "WRONG_RECIPIENT", "FANOUT",
					 "RECORD_MISMATCH"};

/* The rules on the events g[0..n) of one specimen: present[] and sev[]
 * (0 = CRITICAL, 1 = HIGH). */
static void rules_on(const struct ev *g, size_t n, int present[NRULES],
		     int sev[NRULES])
{
	const char *contacts[64], *rcpts[1024];
	size_t nc = 0, nr = 0, nres = 0;
	int maxv = 0;

	for (int r = 0; r < NRULES; r++) {
		present[r] = 0;
		sev[r] = 1;
	}
	sev[FAN] = sev[REC] = 0;
	for (size_t i = 0; i < n; i++) {
		if (!g[i].is_result)
			continue;
		nres++;
		if (g[i].version > maxv)
			maxv = g[i].version;
		for (int k = 0; k < g[i].ncontacts; k++) {
			size_t j;
			for (j = 0; j < nc; j++)
				if (!strcmp(contacts[j], g[i].contacts[k]))
					break;
			if (j == nc)
				contacts[nc++] = g[i].contacts[k];
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct ev *nt = &g[i], *best = NULL, *low = NULL;
		char a[64], b[64];
		size_t j;
		if (nt->is_result)
			continue;
		for (size_t k = 0; k < n; k++) {
			const struct ev *r = &g[k];
			if (!r->is_result || !r->final)
				continue;
			/* a final recorded after the send counts only within
			 * the processor's default clock skew (5 s) */
			if (r->at > nt->at && r->at <= nt->at + 5000 &&
			    (!low || r->version < low->version))
				low = r;
			if (r->at <= nt->at &&
			    (!best || r->version > best->version))
				best = r;
		}
		if (!best)
			best = low;
		/* stating a version newer than any result: it waits */
		if (nt->has_version && nt->version > maxv)
			best = NULL;
		if (best && nt->code) {
			norm(nt->code, a, sizeof a);
			norm(best->code, b, sizeof b);
			if (strcmp(a, b)) {
				present[RM] = 1;
				if (in_set(best->code, POS) &&
				    in_set(nt->code, NEG))
					sev[RM] = 0;
			}
		}
		if (best && nt->has_version && nt->version < best->version)
			present[ST] = 1;
		if (nc) {
			for (j = 0; j < nc; j++)
				if (!strcmp(contacts[j], nt->rcpt))
					break;
			if (j == nc) {
				present[WR] = 1;
				if (nt->code)
					sev[WR] = 0;
			}
		}
		if (nt->intended && nt->intended[0] &&
		    strcmp(nt->intended, nt->sid))
			present[REC] = 1;
		for (j = 0; j < nr; j++)
			if (!strcmp(rcpts[j], nt->rcpt))
				break;
		if (j == nr) {
			cr_assert(nr < 1024);
			rcpts[nr++] = nt->rcpt;
		}
	}
	/* FANOUT needs a result: its threshold is the contacts */
	present[FAN] = nres && nr > (nc ? nc : 2);
}

struct replay_alert {
	char line[160];
};

static int line_cmp(const void *a, const void *b)
{
	return strcmp(((const struct replay_alert *)a)->line,
		      ((const struct replay_alert *)b)->line);
}

/* ---- tests ---- */

Test(traffic, deterministic)
{
	lw_traffic_config c;
	struct run a, b, d;

	test_config(&c);
	c.specimens = 2000;
	generate(&c, &a);
	generate(&c, &b);
	cr_assert_eq(a.rc, 0);
	cr_assert_eq(b.rc, 0);
	cr_assert_eq(a.c.n, b.c.n);
	cr_assert_eq(a.truth_len, b.truth_len);
	cr_assert_eq(memcmp(a.truth, b.truth, a.truth_len), 0);
	for (size_t i = 0; i < a.c.n; i++) {
		const struct msg *x = &a.c.m[i], *y = &b.c.m[i];
		cr_assert_eq(x->index, i);
		cr_assert_eq(x->index, y->index);
		cr_assert_str_eq(x->topic, y->topic);
		cr_assert_eq(x->ts, y->ts);
		cr_assert_eq(!x->key, !y->key);
		if (x->key)
			cr_assert_str_eq(x->key, y->key);
		cr_assert_eq(x->len, y->len);
		cr_assert_eq(memcmp(x->value, y->value, x->len), 0);
	}
	cr_assert_eq(memcmp(&a.st, &b.st, sizeof a.st), 0);

	/* another seed, another world */
	c.seed = 8;
	generate(&c, &d);
	cr_assert(d.truth_len != a.truth_len ||
		  memcmp(d.truth, a.truth, a.truth_len));
	run_free(&a);
	run_free(&b);
	run_free(&d);
}

Test(traffic, wire_format_and_decoding)
{
	lw_traffic_config c;
	struct run r;
	struct truth t;
	uint64_t foreign = 0, evolved = 0;

	test_config(&c);
	generate(&c, &r);
	cr_assert_eq(r.rc, 0);
	parse_truth(r.truth, &t);
	cr_assert(t.complete);
	cr_assert_eq(r.c.n, r.st.messages);
	for (size_t i = 0; i < r.c.n; i++) {
		const struct msg *m = &r.c.m[i];
		const char *why = dlq_reason(&t, m->index);
		int is_results = !strcmp(m->topic, c.results_topic);
		struct reader *rd;
		int32_t id;
		char *sid;

		cr_assert(is_results ||
			  !strcmp(m->topic, c.notifications_topic));
		if (why && !strcmp(why, "empty_value")) {
			cr_assert_eq(m->len, 0);
			continue;
		}
		cr_assert(m->len >= 5, "message %zu is %zu bytes", i, m->len);
		id = be32(m->value + 1);
		if (why && !strcmp(why, "bad_magic")) {
			cr_assert_eq(m->value[0], 1);
			continue;
		}
		cr_assert_eq(m->value[0], 0, "magic byte of %zu", i);
		if (why && !strcmp(why, "unknown_schema")) {
			cr_assert_eq(id, LW_TRAFFIC_SCHEMA_ID_UNKNOWN);
			continue;
		}
		cr_assert(id == 1 || id == 2 || id == 101 || id == 102,
			  "schema id %d", id);
		cr_assert_eq(is_results, id == 1 || id == 101);
		if (why && !strcmp(why, "malformed_avro")) {
			cr_assert(undecodable(m),
				  "malformed message %zu decodes", i);
			continue;
		}
		rd = decode(m);
		cr_assert_not_null(
		    rd, "message %zu (schema %d) does not decode", i, id);
		cr_assert(!undecodable(m)); /* the check above is not vacuous */
		evolved += !why && id > 100;
		sid = get_str(&rd->v, "specimen_id");
		cr_assert_not_null(sid);
		if (why && !strcmp(why, "empty_specimen_id")) {
			cr_assert_str_empty(sid);
		} else if (why && !strcmp(why, "oversized")) {
			cr_assert_eq(id, 1);
			cr_assert(m->len > MAX_VALUE);
		} else if (why && !strcmp(why, "missing_key")) {
			cr_assert_null(m->key);
			/* a copy of the message just before it */
			cr_assert_eq(m->len, r.c.m[i - 1].len);
			cr_assert_eq(
			    memcmp(m->value, r.c.m[i - 1].value, m->len), 0);
		} else {
			cr_assert_null(why, "unexpected reason %s", why);
			cr_assert_not_null(m->key);
			cr_assert(m->len <= MAX_VALUE);
			cr_assert_eq(strlen(sid), 11);
			foreign += strcmp(m->key, sid) != 0;
		}
		free(sid);
	}
	cr_assert_eq(foreign, r.st.key_mismatch);
	cr_assert(foreign > 0);
	cr_assert_eq(evolved, r.st.evolved);
	cr_assert(evolved > r.st.messages / 10);
	cr_assert(r.st.late_specimens > 0);
	readers_free();
	truth_free(&t);
	run_free(&r);
}

Test(traffic, fault_and_dlq_accounting)
{
	lw_traffic_config c;
	struct run r;
	struct truth t;
	uint64_t per_rule[LW_TRAFFIC_RULE_COUNT][2] = {{0}};
	uint64_t per_reason[LW_TRAFFIC_DLQ_COUNT] = {0};
	uint64_t kind[LW_TRAFFIC_FAULT_COUNT] = {0}, wr_null = 0;
	const uint64_t *f = r.st.faults;

	test_config(&c);
	generate(&c, &r);
	cr_assert_eq(r.rc, 0);
	parse_truth(r.truth, &t);
	for (size_t i = 0; i < t.na; i++) {
		int rule = -1;
		for (int k = 0; k < LW_TRAFFIC_RULE_COUNT; k++)
			if (!strcmp(t.a[i].rule,
				    lw_traffic_rule_name((lw_traffic_rule)k)))
				rule = k;
		cr_assert(rule >= 0, "rule %s", t.a[i].rule);
		cr_assert(!strcmp(t.a[i].sev, "CRITICAL") ||
			  !strcmp(t.a[i].sev, "HIGH"));
		per_rule[rule][strcmp(t.a[i].sev, "CRITICAL") != 0]++;
		cr_assert(t.a[i].ridx <= r.st.messages);
		cr_assert(t.a[i].tidx < r.st.messages);
	}
	for (size_t i = 0; i < t.nd; i++) {
		int k;
		for (k = 0; k < LW_TRAFFIC_DLQ_COUNT; k++)
			if (!strcmp(t.d[i].reason,
				    lw_traffic_dlq_name((lw_traffic_dlq)k)))
				break;
		cr_assert(k < LW_TRAFFIC_DLQ_COUNT, "reason %s", t.d[i].reason);
		per_reason[k]++;
		cr_assert_eq(!strcmp(t.d[i].key, "-"),
			     k == LW_TRAFFIC_DLQ_MISSING_KEY);
	}
	for (size_t i = 0; i < t.nf; i++) {
		int k;
		for (k = 0; k < LW_TRAFFIC_FAULT_COUNT; k++)
			if (!strcmp(t.f[i].kind,
				    lw_traffic_fault_name((lw_traffic_fault)k)))
				break;
		cr_assert(k < LW_TRAFFIC_FAULT_COUNT);
		kind[k]++;
		wr_null += t.f[i].null_code;
	}
	for (int k = 0; k < LW_TRAFFIC_FAULT_COUNT; k++) {
		cr_assert_eq(kind[k], f[k]);
		cr_assert(f[k] > 0, "no %s in the scenario",
			  lw_traffic_fault_name((lw_traffic_fault)k));
	}
	for (int k = 0; k < LW_TRAFFIC_DLQ_COUNT; k++) {
		cr_assert_eq(per_reason[k], r.st.dlq[k]);
		cr_assert(per_reason[k] > 0, "no %s in the scenario",
			  lw_traffic_dlq_name((lw_traffic_dlq)k));
	}
	/* the incidents each kind causes, [rule][CRITICAL, HIGH] */
	cr_assert_eq(per_rule[LW_TRAFFIC_RULE_RESULT_MISMATCH][0],
		     f[LW_TRAFFIC_FAULT_POS_TOLD_NEG] +
			 f[LW_TRAFFIC_FAULT_STALE_WRONG_CODE]);
	cr_assert_eq(per_rule[LW_TRAFFIC_RULE_RESULT_MISMATCH][1],
		     f[LW_TRAFFIC_FAULT_NEG_TOLD_POS]);
	cr_assert_eq(per_rule[LW_TRAFFIC_RULE_STALE_VERSION][0], 0);
	cr_assert_eq(per_rule[LW_TRAFFIC_RULE_STALE_VERSION][1],
		     f[LW_TRAFFIC_FAULT_STALE_SAME_CODE] +
			 f[LW_TRAFFIC_FAULT_STALE_WRONG_CODE]);
	cr_assert_eq(per_rule[LW_TRAFFIC_RULE_WRONG_RECIPIENT][0],
		     f[LW_TRAFFIC_FAULT_WRONG_RECIPIENT] - wr_null +
			 f[LW_TRAFFIC_FAULT_BATCH_FANOUT] +
			 f[LW_TRAFFIC_FAULT_RECORD_MISMATCH_SINGLE]);
	cr_assert_eq(per_rule[LW_TRAFFIC_RULE_WRONG_RECIPIENT][1], wr_null);
	cr_assert_eq(per_rule[LW_TRAFFIC_RULE_FANOUT][0],
		     f[LW_TRAFFIC_FAULT_BATCH_FANOUT]);
	cr_assert_eq(per_rule[LW_TRAFFIC_RULE_FANOUT][1], 0);
	cr_assert_eq(per_rule[LW_TRAFFIC_RULE_RECORD_MISMATCH][0],
		     f[LW_TRAFFIC_FAULT_BATCH_FANOUT] +
			 f[LW_TRAFFIC_FAULT_RECORD_MISMATCH_SINGLE]);
	cr_assert_eq(per_rule[LW_TRAFFIC_RULE_RECORD_MISMATCH][1], 0);
	for (int k = 0; k < LW_TRAFFIC_RULE_COUNT; k++)
		cr_assert_eq(per_rule[k][0] + per_rule[k][1], r.st.alerts[k]);
	/* every alerted specimen is a labelled fault */
	for (size_t i = 0; i < t.na; i++) {
		size_t j;
		for (j = 0; j < t.nf; j++)
			if (!strcmp(t.f[j].sid, t.a[i].sid))
				break;
		cr_assert(j < t.nf, "%s alerts but is no fault", t.a[i].sid);
	}
	truth_free(&t);
	run_free(&r);
}

Test(traffic, truth_matches_replay)
{
	lw_traffic_config c;
	struct run r;
	struct truth t;
	struct ev *evs;
	struct replay_alert *got, *want;
	size_t nev = 0, ngot = 0, late = 0;

	test_config(&c);
	generate(&c, &r);
	cr_assert_eq(r.rc, 0);
	parse_truth(r.truth, &t);
	evs = calloc(r.c.n, sizeof *evs);
	/* what the processor processes: every message except dead letters,
	 * and the missing_key copies, which are processed AND dead-lettered */
	for (size_t i = 0; i < r.c.n; i++) {
		const char *why = dlq_reason(&t, r.c.m[i].index);
		struct reader *rd;
		if (why && strcmp(why, "missing_key"))
			continue;
		rd = decode(&r.c.m[i]);
		cr_assert_not_null(rd);
		decode_event(rd, &r.c.m[i], &evs[nev++]);
	}
	qsort(evs, nev, sizeof *evs, ev_cmp);
	got = calloc(nev + 1, sizeof *got);
	for (size_t s = 0, e; s < nev; s = e) {
		int present[NRULES], sev[NRULES], was[NRULES] = {0};
		int wsev[NRULES] = {0};
		uint64_t trig[NRULES] = {0}, ridx = 0, first_notif = UINT64_MAX,
			 first_result = UINT64_MAX;
		int code_only = 0;
		for (e = s; e < nev && !strcmp(evs[e].sid, evs[s].sid); e++) {
			if (evs[e].is_result) {
				ridx = evs[e].idx;
				if (first_result == UINT64_MAX)
					first_result = evs[e].idx;
			} else {
				if (first_notif == UINT64_MAX)
					first_notif = evs[e].idx;
				code_only |= evs[e].code && !evs[e].has_version;
			}
		}
		/* a specimen with a code-only notice is never produced late */
		if (first_result > first_notif) {
			late++;
			cr_assert(!code_only,
				  "%s is late with a code-only notice",
				  evs[s].sid);
		}
		for (size_t p = s; p < e; p++) {
			rules_on(&evs[s], p - s + 1, present, sev);
			for (int k = 0; k < NRULES; k++) {
				if (present[k] && !was[k]) {
					was[k] = 1;
					wsev[k] = sev[k];
					trig[k] = evs[p].idx;
				}
				/* an incident, once there, stays and keeps
				 * its severity */
				cr_assert(!was[k] ||
					      (present[k] && sev[k] == wsev[k]),
					  "%s %s changes at %llu", RULE[k],
					  evs[s].sid,
					  (unsigned long long)evs[p].idx);
			}
		}
		for (int k = 0; k < NRULES; k++)
			if (was[k])
				snprintf(got[ngot++].line, sizeof got->line,
					 "%s\t%s\t%s\t%llu\t%llu", RULE[k],
					 evs[s].sid,
					 wsev[k] ? "HIGH" : "CRITICAL",
					 (unsigned long long)ridx,
					 (unsigned long long)trig[k]);
	}
	cr_assert(late >= r.st.late_specimens);
	want = calloc(t.na + 1, sizeof *want);
	for (size_t i = 0; i < t.na; i++)
		snprintf(want[i].line, sizeof want->line,
			 "%s\t%s\t%s\t%llu\t%llu", t.a[i].rule, t.a[i].sid,
			 t.a[i].sev, t.a[i].ridx, t.a[i].tidx);
	qsort(got, ngot, sizeof *got, line_cmp);
	qsort(want, t.na, sizeof *want, line_cmp);
	for (size_t i = 0; i < ngot && i < t.na; i++)
		cr_assert_str_eq(got[i].line, want[i].line);
	cr_assert_eq(ngot, t.na);
	cr_assert(ngot > 50);
	for (size_t i = 0; i < nev; i++)
		ev_free(&evs[i]);
	free(evs);
	free(got);
	free(want);
	readers_free();
	truth_free(&t);
	run_free(&r);
}

Test(traffic, default_config_is_clean_of_faults_when_rates_are_zero)
{
	lw_traffic_config c;
	struct run r;
	struct truth t;

	test_config(&c);
	c.specimens = 3000;
	c.fault_rate = 0;
	c.bad_rate = 0;
	generate(&c, &r);
	cr_assert_eq(r.rc, 0);
	parse_truth(r.truth, &t);
	cr_assert_eq(t.na, 0);
	cr_assert_eq(t.nd, 0);
	cr_assert_eq(r.st.targets, 0);
	cr_assert_eq(r.st.specimens, 3000);
	truth_free(&t);
	run_free(&r);
}

Test(traffic, stops_when_asked_and_runs_once)
{
	lw_traffic_config c;
	char err[256];
	struct capture cap = {.stop_at = 100};
	lw_traffic *t;

	test_config(&c);
	t = lw_traffic_new(&c, err, sizeof err);
	cr_assert(t);
	cr_assert_eq(lw_traffic_run(t, capture_cb, &cap, NULL), 1);
	cr_assert_eq(cap.n, 100);
	cr_assert_eq(lw_traffic_run(t, capture_cb, &cap, NULL), -1);
	lw_traffic_destroy(t);
	for (size_t i = 0; i < cap.n; i++) {
		free(cap.m[i].key);
		free(cap.m[i].value);
	}
	free(cap.m);
}

Test(traffic, rejects_bad_config)
{
	lw_traffic_config c;
	char err[256];

	lw_traffic_config_defaults(&c);
	c.fault_rate = 1.5;
	cr_assert_null(lw_traffic_new(&c, err, sizeof err));
	lw_traffic_config_defaults(&c);
	c.fanout_min = 3;
	cr_assert_null(lw_traffic_new(&c, err, sizeof err));
	lw_traffic_config_defaults(&c);
	c.notifications_topic = c.results_topic;
	cr_assert_null(lw_traffic_new(&c, err, sizeof err));
	cr_assert(strlen(err) > 0);
}

/* The evolved writer schemas embedded in traffic.c are the registry's,
 * byte for byte and as parsed schemas; so are the reader schemas for IDs 1
 * and 2. */
Test(traffic, writer_schemas_match_registry)
{
	static const struct {
		int32_t id;
		const char *file;
	} files[] = {
	    {1, "1-LabResult.avsc"},
	    {2, "2-NotificationSent.avsc"},
	    {101, "101-LabResult-evolved.avsc"},
	    {102, "102-NotificationSent-evolved.avsc"},
	};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char path[1024], *text = NULL;
		size_t len = 0;
		FILE *f;
		avro_schema_t a, b;
		const char *json = lw_traffic_writer_schema_json(files[i].id);

		snprintf(path, sizeof path, "%s/%s", LW_SCHEMA_DIR,
			 files[i].file);
		f = fopen(path, "rb");
		cr_assert(f, "cannot open %s", path);
		text = malloc(1 << 16);
		len = fread(text, 1, (1 << 16) - 1, f);
		text[len] = '\0';
		fclose(f);
		cr_assert(json);
		if (files[i].id > 100)
			cr_assert_str_eq(json, text, "%s differs", path);
		cr_assert_eq(avro_schema_from_json_length(text, len, &a), 0);
		cr_assert_eq(
		    avro_schema_from_json_length(json, strlen(json), &b), 0);
		cr_assert(avro_schema_equal(a, b), "%s is not equal", path);
		avro_schema_decref(a);
		avro_schema_decref(b);
		free(text);
	}
	cr_assert_null(lw_traffic_writer_schema_json(9999));
}

/* ---- dumpfile ---- */

static char *temp_path(void)
{
	char *p = strdup("/tmp/lw-test-dump-XXXXXX");
	int fd = mkstemp(p);
	cr_assert(fd >= 0);
	close(fd);
	return p;
}

Test(dumpfile, round_trip)
{
	lw_traffic_config c;
	struct run r;
	char *path = temp_path(), err[256];
	lw_dump_reader *d;
	lw_dump_record rec;
	FILE *f;
	size_t i;

	test_config(&c);
	c.specimens = 1500;
	generate(&c, &r);
	f = fopen(path, "wb");
	cr_assert(f);
	cr_assert_eq(lw_dump_write_header(f), 0);
	for (i = 0; i < r.c.n; i++) {
		const struct msg *m = &r.c.m[i];
		lw_dump_record w = {
		    .topic = m->topic,
		    .partition = -1,
		    .offset = (int64_t)m->index,
		    .timestamp_ms = m->ts,
		    .key = m->key,
		    .key_len = (int32_t)m->key_len,
		    .value = m->value,
		    .value_len = (int32_t)m->len,
		};
		cr_assert_eq(lw_dump_write(f, &w), 0);
	}
	{
		/* a null value, an empty key, a partition and a negative ts */
		lw_dump_record w = {.topic = "x",
				    .partition = 7,
				    .offset = 1,
				    .timestamp_ms = -5,
				    .key = "",
				    .key_len = 0};
		cr_assert_eq(lw_dump_write(f, &w), 0);
	}
	cr_assert_eq(fclose(f), 0);

	d = lw_dump_reader_open(path, err, sizeof err);
	cr_assert(d, "%s", err);
	for (i = 0; i < r.c.n; i++) {
		const struct msg *m = &r.c.m[i];
		cr_assert_eq(lw_dump_read(d, &rec, err, sizeof err), 1, "%s",
			     err);
		cr_assert_str_eq(rec.topic, m->topic);
		cr_assert_eq(rec.partition, -1);
		cr_assert_eq(rec.offset, (int64_t)m->index);
		cr_assert_eq(rec.timestamp_ms, m->ts);
		if (m->key) {
			cr_assert_eq(rec.key_len, (int32_t)m->key_len);
			cr_assert_eq(memcmp(rec.key, m->key, m->key_len), 0);
		} else {
			cr_assert_null(rec.key);
			cr_assert_eq(rec.key_len, -1);
		}
		cr_assert_not_null(rec.value);
		cr_assert_eq(rec.value_len, (int32_t)m->len);
		cr_assert_eq(memcmp(rec.value, m->value, m->len), 0);
	}
	cr_assert_eq(lw_dump_read(d, &rec, err, sizeof err), 1);
	cr_assert_str_eq(rec.topic, "x");
	cr_assert_eq(rec.partition, 7);
	cr_assert_eq(rec.timestamp_ms, -5);
	cr_assert_not_null(rec.key);
	cr_assert_eq(rec.key_len, 0);
	cr_assert_null(rec.value);
	cr_assert_eq(rec.value_len, -1);
	cr_assert_eq(lw_dump_read(d, &rec, err, sizeof err), 0);
	lw_dump_reader_destroy(d);

	/* cut inside the last record: an error, not a clean end */
	cr_assert_eq(truncate(path, 8 + 20), 0);
	d = lw_dump_reader_open(path, err, sizeof err);
	cr_assert(d);
	cr_assert_eq(lw_dump_read(d, &rec, err, sizeof err), -1);
	cr_assert(strstr(err, "truncated"), "%s", err);
	lw_dump_reader_destroy(d);

	/* only the header: a clean, empty file */
	cr_assert_eq(truncate(path, 8), 0);
	d = lw_dump_reader_open(path, err, sizeof err);
	cr_assert(d);
	cr_assert_eq(lw_dump_read(d, &rec, err, sizeof err), 0);
	lw_dump_reader_destroy(d);

	/* not a dump file */
	f = fopen(path, "wb");
	fputs("LWDUMP2\n", f);
	fclose(f);
	cr_assert_null(lw_dump_reader_open(path, err, sizeof err));
	cr_assert_null(lw_dump_reader_open("/nonexistent/x", err, sizeof err));
	unlink(path);
	free(path);
	run_free(&r);
}

Test(dumpfile, rejects_corrupt_lengths)
{
	static const unsigned char rec[] = {
	    'L',  'W',	'D',  'U',  'M', 'P', '1', '\n', 0, 1, 't', /* topic */
	    0,	  0,	0,    0,		      /* partition */
	    0,	  0,	0,    0,    0,	 0,   0,   0, /* offset */
	    0,	  0,	0,    0,    0,	 0,   0,   0, /* timestamp */
	    0xff, 0xff, 0xff, 0xfe,		      /* key_len -2 */
	};
	static const unsigned char huge[] =
	    {
		'L',  'W',  'D',  'U',	'M',  'P',  '1',  '\n', 0,
		1,    't',  0,	  0,	0,    0,    0,	  0,	0,
		0,    0,    0,	  0,	0,    0,    0,	  0,	0,
		0,    0,    0,	  0,	0xff, 0xff, 0xff, 0xff, /* null key */
		0x7f, 0xff, 0xff, 0xff, 1,    2, /* 2 GiB value, 2 bytes */
	    };
	char *path = temp_path(), err[256];
	lw_dump_reader *d;
	lw_dump_record r;
	FILE *f = fopen(path, "wb");

	fwrite(rec, 1, sizeof rec, f);
	fclose(f);
	d = lw_dump_reader_open(path, err, sizeof err);
	cr_assert(d);
	cr_assert_eq(lw_dump_read(d, &r, err, sizeof err), -1);
	cr_assert(strstr(err, "corrupt"), "%s", err);
	lw_dump_reader_destroy(d);

	f = fopen(path, "wb");
	fwrite(huge, 1, sizeof huge, f);
	fclose(f);
	d = lw_dump_reader_open(path, err, sizeof err);
	cr_assert(d);
	cr_assert_eq(lw_dump_read(d, &r, err, sizeof err), -1);
	cr_assert(strstr(err, "truncated"), "%s", err);
	lw_dump_reader_destroy(d);
	unlink(path);
	free(path);
}
