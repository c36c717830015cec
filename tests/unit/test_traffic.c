/* test_traffic: the traffic generator and the dump file.
 *
 * The decisive tests here (truth_matches_replay, timer_truth_matches_replay)
 * do not trust the generator's own bookkeeping: they decode every emitted
 * message with Avro C's generic reader against the writer schema named in
 * its header, group the decoded events by the value's specimen_id in
 * produce order, replay the five content rules on every prefix, and the
 * timer rules, FANIN and VOLUME_SURGE (written here again from rules.h,
 * fanin.h and surge.h) on the complete stream at its final stream time, and
 * compare the incidents, severities, indexes and due times with the truth
 * file, line for line. The other tests pin determinism, the dump format, the
 * wire header, the embedded evolved schemas, the fault/DLQ accounting of
 * every fault kind and that clean traffic stays clean under all rules. */
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

/* Every fault kind, with rule settings under which a 3000-specimen run
 * makes each of them fire (the recommended integration settings): SLAs of
 * 10 and 30 min, orphan grace 10 min, a surge cap of 250 per 5 min. */
static void timer_config(lw_traffic_config *c)
{
	test_config(c);
	c->specimens = 3000;
	c->fault_rate = 0.08;
	c->faults = LW_TRAFFIC_FAULTS_ALL;
	c->sla_critical_ms = 600000;
	c->sla_default_ms = 1800000;
	c->orphan_grace_ms = 600000;
	c->surge_window_ms = 300000;
	c->surge_cap = 250;
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

/* ridx, tidx: -1 for "-"; due: -1 when there is no seventh field */
struct talert {
	char rule[32], sid[32], sev[16];
	long long ridx, tidx, due;
};

struct tdlq {
	char reason[32], topic[64], key[32];
	unsigned long long idx;
};

struct tfault {
	char kind[32], sid[32], first[32], variant[32];
	unsigned long long targets;
	int null_code;
};

/* a FANIN_ACCEPT line: the alert's specimen and the accepted ones */
struct taccept {
	char sid[32], list[1024];
};

struct truth {
	struct talert *a;
	size_t na;
	struct tdlq *d;
	size_t nd;
	struct tfault *f;
	size_t nf;
	struct taccept *acc;
	size_t nacc;
	size_t surge_burst; /* "# SURGE ... burst=yes" lines */
	int complete;
};

static long long num_or_dash(const char *x)
{
	return strcmp(x, "-") ? strtoll(x, NULL, 10) : -1;
}

static void parse_truth(const char *text, struct truth *t)
{
	char *copy = strdup(text), *save = NULL;
	memset(t, 0, sizeof *t);
	t->a = calloc(strlen(text) / 20 + 1, sizeof *t->a);
	t->d = calloc(strlen(text) / 20 + 1, sizeof *t->d);
	t->f = calloc(strlen(text) / 20 + 1, sizeof *t->f);
	t->acc = calloc(strlen(text) / 20 + 1, sizeof *t->acc);
	for (char *l = strtok_r(copy, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(l, "ALERT\t", 6)) {
			struct talert *a = &t->a[t->na++];
			char r[24], g[24];
			long long due = -1;
			int n = sscanf(l,
				       "ALERT\t%31[^\t]\t%31[^\t]\t%15[^"
				       "\t]\t%23[^\t]\t%23[^\t]\t%lld",
				       a->rule, a->sid, a->sev, r, g, &due);
			cr_assert(n == 5 || n == 6, "bad line: %s", l);
			a->ridx = num_or_dash(r);
			a->tidx = num_or_dash(g);
			a->due = due;
			/* a due time exactly when no message triggers it */
			cr_assert_eq(n == 6, a->tidx < 0, "bad line: %s", l);
		} else if (!strncmp(l, "DLQ\t", 4)) {
			struct tdlq *d = &t->d[t->nd++];
			cr_assert_eq(
			    sscanf(l, "DLQ\t%31[^\t]\t%63[^\t]\t%31[^\t]\t%llu",
				   d->reason, d->topic, d->key, &d->idx),
			    4, "bad line: %s", l);
		} else if (!strncmp(l, "# FAULT\t", 8)) {
			struct tfault *f = &t->f[t->nf++];
			const char *v = strstr(l, "variant=");
			cr_assert_eq(sscanf(l,
					    "# FAULT\t%31[^\t]\t%31[^\t]\t"
					    "late_after=%*d\ttargets=%llu\t"
					    "first_target=%31[^\t]",
					    f->kind, f->sid, &f->targets,
					    f->first),
				     4, "bad line: %s", l);
			f->null_code = strstr(l, "null_code") != NULL;
			if (v)
				sscanf(v, "variant=%31[^\t]", f->variant);
		} else if (!strncmp(l, "# FANIN_ACCEPT\t", 15)) {
			struct taccept *a = &t->acc[t->nacc++];
			cr_assert_eq(sscanf(l,
					    "# FANIN_ACCEPT\t%31[^\t]\t%1023s",
					    a->sid, a->list),
				     2);
		} else if (!strncmp(l, "# SURGE\t", 8)) {
			t->surge_burst += strstr(l, "burst=yes") != NULL;
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
	free(t->acc);
}

/* The fault label naming sid as X, or NULL. */
static const struct tfault *fault_of(const struct truth *t, const char *sid)
{
	for (size_t i = 0; i < t->nf; i++)
		if (!strcmp(t->f[i].sid, sid))
			return &t->f[i];
	return NULL;
}

/* Is sid X or one of the consecutive members X's label names (fan-in)? */
static int in_fault_group(const struct tfault *f, const char *sid)
{
	unsigned long long x = strtoull(sid + 2, NULL, 10),
			   y = strtoull(f->first + 2, NULL, 10);
	if (!strcmp(f->sid, sid))
		return 1;
	return f->targets && !strncmp(sid, "SP", 2) && x >= y &&
	       x < y + f->targets;
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
	int status; /* index into STATUS */
	int retest;
	char *eid, *patient;
	/* notification */
	char *nid, *rcpt, *intended, *batch;
	int has_version;
};

static const char *const STATUS[] = {"PRELIMINARY", "FINAL", "CORRECTED",
				     "CANCELLED", "ENTERED_IN_ERROR"};
enum { S_PRELIM, S_FINAL, S_CORRECTED, S_CANCELLED, S_EIE };

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
		avro_value_t rp;
		cr_assert(strcmp(st, "AMENDED"), "AMENDED emitted");
		e->final = !strcmp(st, "FINAL") || !strcmp(st, "CORRECTED");
		e->status = -1;
		for (int k = 0; k < 5; k++)
			if (!strcmp(st, STATUS[k]))
				e->status = k;
		cr_assert(e->status >= 0);
		if (field(v, "retest_pending", &rp))
			cr_assert_eq(avro_value_get_boolean(&rp, &e->retest),
				     0);
		e->eid = get_str(v, "event_id");
		e->patient = get_str(v, "patient_key");
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
		e->batch = get_str(v, "batch_id");
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
	free(e->batch);
	free(e->eid);
	free(e->patient);
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

/* as processor/codes.c: trimmed, upper-cased, inner runs of white space
 * or '_' one space */
static void norm(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	int space = 0;
	for (; *in; in++) {
		char ch = *in;
		if (ch == ' ' || ch == '\t' || ch == '_') {
			space = 1;
			continue;
		}
		if (space && o && o < cap - 1)
			out[o++] = ' ';
		space = 0;
		if (o < cap - 1)
			out[o++] =
			    (char)(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
	}
	out[o] = '\0';
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
    "NEG",	    "NEGATIVE",	    "NOT DETECTED", "NONREACTIVE",
    "NON-REACTIVE", "NON REACTIVE", "UNDETECTED",   NULL};

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
	const struct ev *newest = NULL;
	size_t nc = 0, nr = 0, nres = 0;
	int maxv = 0, withdrawn;

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
		if (!newest || g[i].version > newest->version ||
		    (g[i].version == newest->version && g[i].at > newest->at))
			newest = &g[i];
		for (int k = 0; k < g[i].ncontacts; k++) {
			size_t j;
			for (j = 0; j < nc; j++)
				if (!strcmp(contacts[j], g[i].contacts[k]))
					break;
			if (j == nc)
				contacts[nc++] = g[i].contacts[k];
		}
	}
	/* content rules are silent once the record is withdrawn */
	withdrawn = newest &&
		    (newest->status == S_CANCELLED || newest->status == S_EIE);
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
		if ((nt->has_version && nt->version > maxv) || withdrawn)
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
		cr_assert(t.a[i].ridx < (long long)r.st.messages);
		cr_assert(t.a[i].tidx < (long long)r.st.messages);
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
		if (c.faults & (1u << k))
			cr_assert(f[k] > 0, "no %s in the scenario",
				  lw_traffic_fault_name((lw_traffic_fault)k));
		else
			cr_assert_eq(f[k], 0);
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
	/* every alerted specimen is a labelled fault; at the default
	 * settings 4000 specimens' clean volume exceeds the daily cap */
	for (size_t i = 0; i < t.na; i++) {
		if (!strcmp(t.a[i].rule, "VOLUME_SURGE"))
			continue;
		cr_assert(fault_of(&t, t.a[i].sid), "%s alerts but is no fault",
			  t.a[i].sid);
	}
	cr_assert_eq(per_rule[LW_TRAFFIC_RULE_VOLUME_SURGE][1], 1);
	truth_free(&t);
	run_free(&r);
}

/* What the processor processes, decoded and sorted by (specimen, produce
 * index): every message except dead letters, and the missing_key copies,
 * which are processed AND dead-lettered. */
static struct ev *decode_all(const struct run *r, const struct truth *t,
			     size_t *nev)
{
	struct ev *evs = calloc(r->c.n + 1, sizeof *evs);
	*nev = 0;
	for (size_t i = 0; i < r->c.n; i++) {
		const char *why = dlq_reason(t, r->c.m[i].index);
		struct reader *rd;
		if (why && strcmp(why, "missing_key"))
			continue;
		rd = decode(&r->c.m[i]);
		cr_assert_not_null(rd);
		decode_event(rd, &r->c.m[i], &evs[(*nev)++]);
	}
	qsort(evs, *nev, sizeof *evs, ev_cmp);
	return evs;
}

static void evs_free(struct ev *evs, size_t nev)
{
	for (size_t i = 0; i < nev; i++)
		ev_free(&evs[i]);
	free(evs);
}

static int is_content_rule(const char *rule)
{
	for (int k = 0; k < NRULES; k++)
		if (!strcmp(rule, RULE[k]))
			return 1;
	return 0;
}

/* The content rules replayed on every prefix of every specimen equal the
 * truth's content lines, indexes included. */
static void check_content_replay(const lw_traffic_config *c)
{
	struct run r;
	struct truth t;
	struct ev *evs;
	struct replay_alert *got, *want;
	size_t nev = 0, ngot = 0, nwant = 0, late = 0;

	generate(c, &r);
	cr_assert_eq(r.rc, 0);
	parse_truth(r.truth, &t);
	evs = decode_all(&r, &t, &nev);
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
	for (size_t i = 0; i < t.na; i++) {
		if (!is_content_rule(t.a[i].rule))
			continue;
		cr_assert(t.a[i].ridx >= 0 && t.a[i].tidx >= 0 &&
			  t.a[i].due < 0);
		snprintf(want[nwant++].line, sizeof want->line,
			 "%s\t%s\t%s\t%lld\t%lld", t.a[i].rule, t.a[i].sid,
			 t.a[i].sev, t.a[i].ridx, t.a[i].tidx);
	}
	qsort(got, ngot, sizeof *got, line_cmp);
	qsort(want, nwant, sizeof *want, line_cmp);
	for (size_t i = 0; i < ngot && i < nwant; i++)
		cr_assert_str_eq(got[i].line, want[i].line);
	cr_assert_eq(ngot, nwant);
	cr_assert(ngot > 50);
	evs_free(evs, nev);
	free(got);
	free(want);
	readers_free();
	truth_free(&t);
	run_free(&r);
}

Test(traffic, truth_matches_replay)
{
	lw_traffic_config c;
	test_config(&c);
	check_content_replay(&c);
}

Test(traffic, truth_matches_replay_with_every_fault_kind)
{
	lw_traffic_config c;
	timer_config(&c);
	c.specimens = 4000;
	check_content_replay(&c);
}

/* ---- the timer rules, FANIN and VOLUME_SURGE, replayed at the end ---- */

static int is_final_ev(const struct ev *e)
{
	return e->status == S_FINAL || e->status == S_CORRECTED;
}

static int ev_newer(const struct ev *a, const struct ev *b)
{
	if (a->version != b->version)
		return a->version > b->version;
	if (a->at != b->at)
		return a->at > b->at;
	return a->idx > b->idx;
}

/* The newest result recorded at or before t (INT64_MAX: any), or NULL. */
static const struct ev *in_force(const struct ev **res, size_t nr, int64_t t)
{
	const struct ev *best = NULL;
	for (size_t i = 0; i < nr; i++)
		if (res[i]->at <= t && (!best || ev_newer(res[i], best)))
			best = res[i];
	return best;
}

struct tline {
	char line[160];
};

/* The timer incidents of one specimen (its events g[0..n)) at stream time
 * now, as rules.h defines them, appended to out as "rule sid sev due"
 * (due = when the incident began to hold). Deliveries of the same event
 * are one event. "Told an earlier final" is, as in processor/rules.c, a
 * notification sent when some final result was recorded (within skew). */
static void timer_rules_on(const struct ev *g, size_t n,
			   const lw_traffic_config *c, int64_t now,
			   struct tline *out, size_t *nout)
{
	const struct ev *res[64], *nt[1024];
	size_t nr = 0, nn = 0;
	const struct ev *newest;
	int64_t skew = c->clock_skew_ms, d_orph = INT64_MAX, d_sbf = INT64_MAX,
		d_saw = INT64_MAX;
	const char *sid = g[0].sid;

	for (size_t i = 0; i < n; i++) {
		size_t k;
		if (g[i].is_result) {
			for (k = 0; k < nr; k++)
				if (!strcmp(res[k]->eid, g[i].eid))
					break;
			if (k == nr)
				res[nr++] = &g[i];
		} else {
			for (k = 0; k < nn; k++)
				if (!strcmp(nt[k]->nid, g[i].nid))
					break;
			if (k == nn)
				nt[nn++] = &g[i];
		}
		cr_assert(nr < 64 && nn < 1024);
	}
	newest = in_force(res, nr, INT64_MAX);
	if (newest && newest->status != S_CANCELLED &&
	    newest->status != S_EIE) {
		const struct ev *missing = NULL;
		int64_t m_due = INT64_MAX;
		for (size_t r = 0; r < nr; r++) {
			const struct ev *v = res[r];
			int64_t due, sla;
			int first = 1, covered = 0, superseded = 0, told = 0;
			if (!is_final_ev(v))
				continue;
			for (size_t k = 0; k < nr; k++)
				if (is_final_ev(res[k]) &&
				    res[k]->version == v->version &&
				    (res[k]->at < v->at ||
				     (res[k]->at == v->at && k < r)))
					first = 0;
			if (!first)
				continue;
			sla = in_set(v->code, POS) ? c->sla_critical_ms
						   : c->sla_default_ms;
			due = v->at + sla;
			for (size_t k = 0; k < nr; k++)
				superseded |= is_final_ev(res[k]) &&
					      res[k]->version > v->version &&
					      res[k]->at <= due;
			for (size_t k = 0; k < nn; k++)
				covered |= nt[k]->at >= v->at - skew &&
					   nt[k]->at <= due &&
					   (!nt[k]->has_version ||
					    nt[k]->version >= v->version);
			if (superseded || covered || now < due)
				continue;
			for (size_t k = 0; k < nn; k++) {
				if (nt[k]->at >= v->at - skew)
					continue;
				for (size_t q = 0; q < nr; q++)
					told |= is_final_ev(res[q]) &&
						res[q]->at <= nt[k]->at + skew;
			}
			if (told) {
				snprintf(
				    out[(*nout)++].line, sizeof out->line,
				    "CORRECTED_AFTER_NOTIFY\t%s\tHIGH\t%lld",
				    sid, (long long)due);
			} else {
				if (!missing || v->version < missing->version)
					missing = v;
				if (due < m_due)
					m_due = due;
			}
		}
		if (missing)
			snprintf(out[(*nout)++].line, sizeof out->line,
				 "MISSING_NOTIFICATION\t%s\t%s\t%lld", sid,
				 in_set(missing->code, POS) ? "CRITICAL"
							    : "HIGH",
				 (long long)m_due);
	}
	for (size_t k = 0; k < nn; k++) {
		int64_t od = nt[k]->at + c->orphan_grace_ms,
			fd = nt[k]->at + skew;
		const struct ev *f;
		int found = 0;
		for (size_t r = 0; r < nr; r++)
			found |= res[r]->at <= od;
		if (!found && now >= od && od < d_orph)
			d_orph = od;
		if (now < fd || !(f = in_force(res, nr, fd)))
			continue;
		if ((f->status == S_PRELIM || f->retest) && fd < d_sbf)
			d_sbf = fd;
		if ((f->status == S_CANCELLED || f->status == S_EIE) &&
		    fd < d_saw)
			d_saw = fd;
	}
	if (d_orph != INT64_MAX)
		snprintf(out[(*nout)++].line, sizeof out->line,
			 "ORPHAN_NOTIFICATION\t%s\tHIGH\t%lld", sid,
			 (long long)d_orph);
	if (d_sbf != INT64_MAX)
		snprintf(out[(*nout)++].line, sizeof out->line,
			 "SENT_BEFORE_FINAL\t%s\tHIGH\t%lld", sid,
			 (long long)d_sbf);
	if (d_saw != INT64_MAX)
		snprintf(out[(*nout)++].line, sizeof out->line,
			 "SENT_AFTER_WITHDRAWAL\t%s\tHIGH\t%lld", sid,
			 (long long)d_saw);
}

static int tline_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tline *)a)->line,
		      ((const struct tline *)b)->line);
}

static int ev_by_sent(const void *a, const void *b)
{
	const struct ev *x = *(const struct ev *const *)a,
			*y = *(const struct ev *const *)b;
	int c = strcmp(x->rcpt, y->rcpt);
	if (c)
		return c;
	return (x->at > y->at) - (x->at < y->at);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The timer, FANIN and VOLUME_SURGE lines of the truth equal what the
 * rules give on the decoded stream at its final stream time H. */
static size_t check_timer_replay(const lw_traffic_config *c, int want_each)
{
	struct run r;
	struct truth t;
	struct ev *evs, **notifs;
	struct tline *got, *want;
	size_t nev, ngot = 0, nwant = 0, nno = 0, nfanin = 0;
	int64_t maxev = INT64_MIN, h, *sent, *surges;
	size_t nsent = 0, nsurges = 0, nwant_surge = 0;

	generate(c, &r);
	cr_assert_eq(r.rc, 0);
	parse_truth(r.truth, &t);
	evs = decode_all(&r, &t, &nev);
	for (size_t i = 0; i < nev; i++)
		if (evs[i].at > maxev)
			maxev = evs[i].at;
	h = maxev - c->lateness_ms - 1;

	/* per specimen */
	got = calloc(nev + 16, sizeof *got);
	for (size_t s = 0, e; s < nev; s = e) {
		for (e = s; e < nev && !strcmp(evs[e].sid, evs[s].sid); e++)
			;
		timer_rules_on(&evs[s], e - s, c, h, got, &ngot);
	}
	want = calloc(t.na + 1, sizeof *want);
	for (size_t i = 0; i < t.na; i++) {
		const struct talert *a = &t.a[i];
		if (is_content_rule(a->rule) || !strcmp(a->rule, "FANIN") ||
		    !strcmp(a->rule, "VOLUME_SURGE"))
			continue;
		cr_assert(a->tidx < 0 && a->due >= 0, "%s %s", a->rule, a->sid);
		/* never in the band where the outcome would depend on when
		 * the processor stops */
		cr_assert(a->due <= h - 600000, "%s %s due %lld, end %lld",
			  a->rule, a->sid, a->due, (long long)h);
		snprintf(want[nwant++].line, sizeof want->line,
			 "%s\t%s\t%s\t%lld", a->rule, a->sid, a->sev, a->due);
	}
	qsort(got, ngot, sizeof *got, tline_cmp);
	qsort(want, nwant, sizeof *want, tline_cmp);
	for (size_t i = 0; i < ngot && i < nwant; i++)
		cr_assert_str_eq(got[i].line, want[i].line);
	cr_assert_eq(ngot, nwant);
	if (want_each)
		cr_assert(nwant >= 5 * 3, "only %zu timer incidents", nwant);

	/* FANIN: per recipient, the distinct patients among the specimens
	 * with a result; every recipient over the threshold here got all its
	 * records within the window, so arrival order cannot matter */
	notifs = calloc(nev + 1, sizeof *notifs);
	for (size_t s = 0, e; s < nev; s = e) {
		const char *patient = NULL;
		for (e = s; e < nev && !strcmp(evs[e].sid, evs[s].sid); e++)
			if (evs[e].is_result)
				patient = evs[e].patient;
		for (size_t i = s; i < e; i++)
			if (!evs[i].is_result && patient) {
				evs[i].patient = strdup(patient);
				notifs[nno++] = &evs[i];
			}
	}
	qsort(notifs, nno, sizeof *notifs, ev_by_sent);
	for (size_t i = 0, j; i < nno; i = j) {
		const char *pts[1024];
		size_t np = 0;
		for (j = i;
		     j < nno && !strcmp(notifs[j]->rcpt, notifs[i]->rcpt);
		     j++) {
			size_t k;
			for (k = 0; k < np; k++)
				if (!strcmp(pts[k], notifs[j]->patient))
					break;
			if (k == np && np < 1024)
				pts[np++] = notifs[j]->patient;
		}
		if (np <= c->fanin_threshold || !c->fanin_threshold)
			continue;
		cr_assert(notifs[j - 1]->at - notifs[i]->at <
			  c->fanin_window_ms);
		/* the truth names the specimen of the earliest send */
		{
			size_t k;
			for (k = 0; k < t.na; k++)
				if (!strcmp(t.a[k].rule, "FANIN") &&
				    !strcmp(t.a[k].sid, notifs[i]->sid))
					break;
			cr_assert(k < t.na, "no FANIN line for %s",
				  notifs[i]->sid);
			cr_assert_eq(t.a[k].tidx >= 0, 1);
			for (k = 0; k < t.nacc; k++)
				if (!strcmp(t.acc[k].sid, notifs[i]->sid))
					break;
			cr_assert(k < t.nacc);
			cr_assert(strstr(t.acc[k].list, notifs[i]->sid));
		}
		nfanin++;
	}
	{
		size_t lines = 0;
		for (size_t k = 0; k < t.na; k++)
			lines += !strcmp(t.a[k].rule, "FANIN");
		cr_assert_eq(lines, nfanin);
		cr_assert_eq(t.nacc, nfanin);
		if (want_each)
			cr_assert(nfanin > 0);
	}

	/* VOLUME_SURGE, as surge.h defines it, over the first deliveries */
	sent = calloc(nno + nev + 1, sizeof *sent);
	for (size_t i = 0; i < nev; i++) {
		size_t k;
		if (evs[i].is_result)
			continue;
		for (k = i; k > 0 && !strcmp(evs[k - 1].sid, evs[i].sid); k--)
			if (!evs[k - 1].is_result &&
			    !strcmp(evs[k - 1].nid, evs[i].nid))
				break;
		if (k > 0 && !strcmp(evs[k - 1].sid, evs[i].sid))
			continue; /* a second delivery */
		sent[nsent++] = evs[i].at;
	}
	qsort(sent, nsent, sizeof *sent, cmp_i64);
	surges = calloc(1024, sizeof *surges);
	if (nsent && (c->surge_cap || c->surge_factor > 0)) {
		int64_t b = c->surge_bucket_ms, lo = sent[0] / b,
			hi = sent[nsent - 1] / b;
		int64_t w = (c->surge_window_ms + b - 1) / b,
			sn = (c->surge_short_ms + b - 1) / b,
			bn = (c->surge_baseline_ms + b - 1) / b;
		int64_t back = w > sn + bn ? w : sn + bn, stop;
		int64_t *cnt = calloc((size_t)(hi - lo + 1), sizeof *cnt);
		int active = 0;
		for (size_t i = 0; i < nsent; i++)
			cnt[sent[i] / b - lo]++;
		stop = (h + 7200000 + 1) / b;
		for (int64_t k = lo; k < stop && k <= hi + back; k++) {
			uint64_t wc = 0, sc = 0, base = 0;
			int cap_hit, base_hit = 0;
			for (int64_t q = k - w + 1; q <= k; q++)
				wc += q >= lo && q <= hi ? (uint64_t)cnt[q - lo]
							 : 0;
			cap_hit = c->surge_cap && wc > c->surge_cap;
			if (!cap_hit && c->surge_factor > 0 &&
			    lo <= k - sn - bn + 1) {
				double mean;
				for (int64_t q = k - sn + 1; q <= k; q++)
					sc += q >= lo && q <= hi
						  ? (uint64_t)cnt[q - lo]
						  : 0;
				for (int64_t q = k - sn - bn + 1; q <= k - sn;
				     q++)
					base += q >= lo && q <= hi
						    ? (uint64_t)cnt[q - lo]
						    : 0;
				mean = (double)base * (double)sn / (double)bn;
				base_hit = sc >= c->surge_min_count &&
					   (double)sc > c->surge_factor * mean;
			}
			if ((cap_hit || base_hit) && !active) {
				cr_assert(nsurges < 1024);
				surges[nsurges++] = (k + 1) * b - 1;
			}
			active = cap_hit || base_hit;
		}
		free(cnt);
	}
	for (size_t k = 0; k < nsurges; k++)
		cr_assert(surges[k] <= h - 600000,
			  "surge start %lld in the "
			  "band before the end %lld",
			  (long long)surges[k], (long long)h);
	for (size_t k = 0; k < t.na; k++) {
		if (strcmp(t.a[k].rule, "VOLUME_SURGE"))
			continue;
		cr_assert_str_eq(t.a[k].sid, "-");
		cr_assert_str_eq(t.a[k].sev, "HIGH");
		cr_assert(nwant_surge < nsurges);
		cr_assert_eq(t.a[k].due, surges[nwant_surge]);
		nwant_surge++;
	}
	cr_assert_eq(nwant_surge, nsurges);

	free(sent);
	free(surges);
	free(notifs);
	evs_free(evs, nev);
	free(got);
	free(want);
	readers_free();
	truth_free(&t);
	run_free(&r);
	return nsurges;
}

Test(traffic, timer_truth_matches_replay)
{
	lw_traffic_config c;
	timer_config(&c);
	check_timer_replay(&c, 1);
}

/* A cap that clean traffic crosses now and then: many surges, each start
 * where surge.c's closes put it. */
Test(traffic, surge_truth_matches_replay_with_many_starts)
{
	lw_traffic_config c;
	timer_config(&c);
	c.faults = LW_TRAFFIC_FAULTS_CLASSIC;
	c.surge_window_ms = 600000;
	c.surge_cap = 165;
	cr_assert_geq(check_timer_replay(&c, 0), 5);
}

Test(traffic, timer_truth_matches_replay_at_default_settings)
{
	lw_traffic_config c;
	test_config(&c);
	c.faults = LW_TRAFFIC_FAULTS_ALL;
	c.fault_rate = 0.08;
	check_timer_replay(&c, 0);
}

Test(traffic, timer_truth_matches_replay_in_a_tight_config)
{
	lw_traffic_config c;
	timer_config(&c);
	c.seed = 3;
	c.fault_rate = 0.2;
	c.late_share = 0.5;
	c.sla_default_ms = 900000;
	c.orphan_grace_ms = 0;
	c.fanin_threshold = 2;
	c.fanin_window_ms = 600000;
	c.clock_skew_ms = 60000;
	c.surge_cap = 0;
	c.surge_short_ms = 300000;
	c.surge_baseline_ms = 900000;
	c.surge_factor = 2;
	c.surge_min_count = 150;
	c.surge_burst = 300;
	check_timer_replay(&c, 1);
}

/* The truth of every new kind: one label each, the designed incidents
 * under X (and its fan-in fellows), with their severities. */
Test(traffic, every_fault_kind_accounting)
{
	lw_traffic_config c;
	struct run r;
	struct truth t;
	const uint64_t *f = r.st.faults;
	uint64_t per_rule[LW_TRAFFIC_RULE_COUNT][2] = {{0}};
	uint64_t missing_pos = 0, fanin_members = 0, wr_null = 0;

	timer_config(&c);
	generate(&c, &r);
	cr_assert_eq(r.rc, 0);
	parse_truth(r.truth, &t);
	cr_assert(t.complete);
	for (int k = 0; k < LW_TRAFFIC_FAULT_COUNT; k++)
		cr_assert(f[k] > 0, "no %s in the scenario",
			  lw_traffic_fault_name((lw_traffic_fault)k));
	cr_assert_eq(f[LW_TRAFFIC_FAULT_VOLUME_SURGE], 1);
	for (size_t i = 0; i < t.nf; i++) {
		const struct tfault *x = &t.f[i];
		missing_pos += !strcmp(x->kind, "missing_notification") &&
			       !strcmp(x->variant, "positive");
		wr_null += x->null_code;
		if (!strcmp(x->kind, "fanin")) {
			cr_assert(x->targets >= c.fanin_threshold);
			fanin_members += x->targets + 1;
		}
	}
	for (size_t i = 0; i < t.na; i++) {
		const struct talert *a = &t.a[i];
		int rule = -1, ok = 0;
		for (int k = 0; k < LW_TRAFFIC_RULE_COUNT; k++)
			if (!strcmp(a->rule,
				    lw_traffic_rule_name((lw_traffic_rule)k)))
				rule = k;
		cr_assert(rule >= 0, "rule %s", a->rule);
		per_rule[rule][strcmp(a->sev, "CRITICAL") != 0]++;
		if (rule == LW_TRAFFIC_RULE_VOLUME_SURGE) {
			cr_assert_str_eq(a->sid, "-");
			continue;
		}
		/* every alerted specimen belongs to a labelled fault */
		for (size_t j = 0; j < t.nf && !ok; j++)
			ok = in_fault_group(&t.f[j], a->sid) &&
			     (!strcmp(t.f[j].sid, a->sid) ||
			      !strcmp(t.f[j].kind, "fanin"));
		cr_assert(ok, "%s %s is no fault", a->rule, a->sid);
	}
#define R(x) per_rule[LW_TRAFFIC_RULE_##x]
#define F(x) f[LW_TRAFFIC_FAULT_##x]
	cr_assert_eq(R(MISSING_NOTIFICATION)[0], missing_pos);
	cr_assert_eq(R(MISSING_NOTIFICATION)[1],
		     F(MISSING_NOTIFICATION) - missing_pos);
	cr_assert_eq(R(CORRECTED_AFTER_NOTIFY)[0], 0);
	cr_assert_eq(R(CORRECTED_AFTER_NOTIFY)[1], F(CORRECTED_AFTER_NOTIFY));
	cr_assert_eq(R(ORPHAN_NOTIFICATION)[1], F(ORPHAN_NOTIFICATION));
	cr_assert_eq(R(SENT_BEFORE_FINAL)[1], F(SENT_BEFORE_FINAL));
	cr_assert_eq(R(SENT_AFTER_WITHDRAWAL)[1], F(SENT_AFTER_WITHDRAWAL));
	cr_assert_eq(R(ORPHAN_NOTIFICATION)[0] + R(SENT_BEFORE_FINAL)[0] +
			 R(SENT_AFTER_WITHDRAWAL)[0],
		     0);
	cr_assert_eq(R(FANIN)[0], F(FANIN));
	cr_assert_eq(R(FANIN)[1], 0);
	cr_assert_eq(R(VOLUME_SURGE)[1], 1);
	cr_assert_eq(R(VOLUME_SURGE)[0], 0);
	cr_assert_eq(t.surge_burst, 1);
	cr_assert_eq(R(WRONG_RECIPIENT)[0],
		     F(WRONG_RECIPIENT) - wr_null + F(BATCH_FANOUT) +
			 F(RECORD_MISMATCH_SINGLE) + fanin_members);
	cr_assert_eq(R(WRONG_RECIPIENT)[1], wr_null);
	cr_assert_eq(R(RESULT_MISMATCH)[0],
		     F(POS_TOLD_NEG) + F(STALE_WRONG_CODE));
	cr_assert_eq(R(RESULT_MISMATCH)[1], F(NEG_TOLD_POS));
	cr_assert_eq(R(STALE_VERSION)[1],
		     F(STALE_SAME_CODE) + F(STALE_WRONG_CODE));
	cr_assert_eq(R(FANOUT)[0], F(BATCH_FANOUT));
	cr_assert_eq(R(RECORD_MISMATCH)[0],
		     F(BATCH_FANOUT) + F(RECORD_MISMATCH_SINGLE));
#undef R
#undef F
	for (int k = 0; k < LW_TRAFFIC_RULE_COUNT; k++)
		cr_assert_eq(per_rule[k][0] + per_rule[k][1], r.st.alerts[k]);
	/* both variants of each two-variant kind occur */
	{
		static const char *const v[][2] = {
		    {"missing_notification", "positive"},
		    {"missing_notification", "other"},
		    {"corrected_after_notify", "never"},
		    {"corrected_after_notify", "late"},
		    {"sent_before_final", "preliminary"},
		    {"sent_before_final", "retest_pending"},
		    {"sent_after_withdrawal", "cancelled"},
		    {"sent_after_withdrawal", "entered_in_error"},
		};
		for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
			size_t i;
			for (i = 0; i < t.nf; i++)
				if (!strcmp(t.f[i].kind, v[k][0]) &&
				    !strcmp(t.f[i].variant, v[k][1]))
					break;
			cr_assert(i < t.nf, "no %s variant=%s", v[k][0],
				  v[k][1]);
		}
	}
	truth_free(&t);
	run_free(&r);
}

/* Clean traffic triggers no rule at all, old or new, under the settings
 * the generator is given; it adapts its timing to them. */
Test(traffic, clean_traffic_is_clean_under_every_rule)
{
	static const int64_t slas[][2] = {{600000, 1800000},
					  {600000, 600000},
					  {3600000, 86400000},
					  {86400000, 3600000}};
	for (size_t i = 0; i < sizeof slas / sizeof slas[0]; i++) {
		lw_traffic_config c;
		struct run r;
		struct truth t;
		timer_config(&c);
		c.seed = 11 + i;
		c.fault_rate = 0;
		c.sla_critical_ms = slas[i][0];
		c.sla_default_ms = slas[i][1];
		c.orphan_grace_ms = 0;
		c.fanin_threshold = 1; /* one patient per recipient */
		generate(&c, &r);
		cr_assert_eq(r.rc, 0);
		parse_truth(r.truth, &t);
		cr_assert(t.complete);
		cr_assert_eq(t.na, 0, "%s %s under SLAs %lld/%lld",
			     t.na ? t.a[0].rule : "", t.na ? t.a[0].sid : "",
			     (long long)slas[i][0], (long long)slas[i][1]);
		cr_assert_eq(r.st.targets, 0);
		truth_free(&t);
		run_free(&r);
	}
}

Test(traffic, deterministic_with_every_fault_kind)
{
	lw_traffic_config c;
	struct run a, b;

	timer_config(&c);
	generate(&c, &a);
	generate(&c, &b);
	cr_assert_eq(a.rc, 0);
	cr_assert_eq(a.c.n, b.c.n);
	cr_assert_eq(a.truth_len, b.truth_len);
	cr_assert_eq(memcmp(a.truth, b.truth, a.truth_len), 0);
	for (size_t i = 0; i < a.c.n; i++) {
		cr_assert_eq(a.c.m[i].len, b.c.m[i].len);
		cr_assert_eq(
		    memcmp(a.c.m[i].value, b.c.m[i].value, a.c.m[i].len), 0);
	}
	cr_assert_eq(memcmp(&a.st, &b.st, sizeof a.st), 0);
	run_free(&a);
	run_free(&b);
}

Test(traffic, rule_settings_by_property_name)
{
	lw_traffic_config c;
	char err[256];
	uint32_t mask;

	lw_traffic_config_defaults(&c);
	cr_assert_eq(c.sla_critical_ms, 3600000);
	cr_assert_eq(c.sla_default_ms, 86400000);
	cr_assert_eq(c.surge_cap, 3000);
	cr_assert_eq(c.fanin_threshold, 5);
	cr_assert_eq(c.faults, LW_TRAFFIC_FAULTS_CLASSIC);
	cr_assert_eq(lw_traffic_config_set(&c, "sla.critical.ms", "600000", err,
					   sizeof err),
		     0);
	cr_assert_eq(c.sla_critical_ms, 600000);
	cr_assert_eq(
	    lw_traffic_config_set(&c, "surge.factor", "2.5", err, sizeof err),
	    0);
	cr_assert_eq(c.surge_factor, 2.5);
	cr_assert_eq(
	    lw_traffic_config_set(&c, "fanin.threshold", "3", err, sizeof err),
	    0);
	cr_assert_eq(c.fanin_threshold, 3);
	cr_assert_eq(
	    lw_traffic_config_set(&c, "surge.cap", "0", err, sizeof err), 0);
	cr_assert_eq(c.surge_cap, 0);
	cr_assert_eq(lw_traffic_config_set(&c, "time.lateness.ms", "7000", err,
					   sizeof err),
		     0);
	cr_assert_eq(c.lateness_ms, 7000);
	cr_assert_eq(
	    lw_traffic_config_set(&c, "sla.codes", "POS=1", err, sizeof err),
	    -1);
	cr_assert_eq(
	    lw_traffic_config_set(&c, "orphan.grace.ms", "1h", err, sizeof err),
	    -1);
	cr_assert_eq(
	    lw_traffic_config_set(&c, "surge.cap", "-1", err, sizeof err), -1);

	cr_assert_eq(lw_traffic_faults_parse("all", &mask, err, sizeof err), 0);
	cr_assert_eq(mask, LW_TRAFFIC_FAULTS_ALL);
	cr_assert_eq(
	    lw_traffic_faults_parse("classic,fanin", &mask, err, sizeof err),
	    0);
	cr_assert_eq(mask, LW_TRAFFIC_FAULTS_CLASSIC |
			       (1u << LW_TRAFFIC_FAULT_FANIN));
	cr_assert_eq(lw_traffic_faults_parse("new", &mask, err, sizeof err), 0);
	cr_assert_eq(mask & LW_TRAFFIC_FAULTS_CLASSIC, 0);
	cr_assert_eq(mask | LW_TRAFFIC_FAULTS_CLASSIC, LW_TRAFFIC_FAULTS_ALL);
	cr_assert_eq(lw_traffic_faults_parse("none", &mask, err, sizeof err),
		     0);
	cr_assert_eq(mask, 0);
	cr_assert_eq(
	    lw_traffic_faults_parse("fanin,bogus", &mask, err, sizeof err), -1);
	cr_assert(strstr(err, "bogus"));
	cr_assert_eq(lw_traffic_faults_parse("", &mask, err, sizeof err), -1);
}

Test(traffic, rejects_bad_rule_settings)
{
	lw_traffic_config c;
	char err[256];
	lw_traffic *t;
#define REJECT(field, value)                                         \
	do {                                                         \
		lw_traffic_config_defaults(&c);                      \
		c.field = value;                                     \
		cr_assert_null(lw_traffic_new(&c, err, sizeof err),  \
			       #field " = " #value " was accepted"); \
	} while (0)
	REJECT(sla_critical_ms, 60000); /* no room for a clean delay */
	REJECT(sla_default_ms, 0);
	REJECT(clock_skew_ms, 120000);
	REJECT(lateness_ms, -1);
	REJECT(fanin_threshold, 101);
	REJECT(fanin_window_ms, 60000);
	REJECT(surge_bucket_ms, 10);
	REJECT(surge_window_ms, 1000);
	REJECT(surge_burst, 0);
	REJECT(faults, 1u << 20);
	REJECT(surge_factor, -1);
#undef REJECT
	lw_traffic_config_defaults(&c);
	c.faults = 0;
	cr_assert_null(lw_traffic_new(&c, err, sizeof err));
	c.fault_rate = 0; /* no faults wanted: fine */
	t = lw_traffic_new(&c, err, sizeof err);
	cr_assert_not_null(t, "%s", err);
	lw_traffic_destroy(t);
	lw_traffic_config_defaults(&c);
	c.sla_critical_ms = c.sla_default_ms = 600000;
	t = lw_traffic_new(&c, err, sizeof err);
	cr_assert_not_null(t, "%s", err);
	lw_traffic_destroy(t);
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
	/* at the processor's default settings the only incident is the
	 * volume: 3000 specimens in 75 min send more than 3000 a day */
	cr_assert_eq(t.na, 1);
	cr_assert_str_eq(t.a[0].rule, "VOLUME_SURGE");
	cr_assert_eq(t.surge_burst, 0);
	cr_assert_eq(t.nd, 0);
	cr_assert_eq(r.st.targets, 0);
	cr_assert_eq(r.st.specimens, 3000);
	truth_free(&t);
	run_free(&r);

	/* and 1000 (the default) do not */
	c.specimens = 1000;
	generate(&c, &r);
	cr_assert_eq(r.rc, 0);
	parse_truth(r.truth, &t);
	cr_assert_eq(t.na, 0);
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
