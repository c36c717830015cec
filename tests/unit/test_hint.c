/* test_hint: lw_engine_hint() and the state/fan-in prefetches behind it are
 * cache hints only, so the same input gives the same alerts and dead letters
 * whatever hints the engine was given.
 *
 * Generated traffic (every fault kind, bad messages, late results, 3000
 * specimens, with a cap on specimens so that eviction runs too) is fed to
 * engines in replay mode (event time, so timers fire from the input): once
 * with no hints, once hinted four ahead as the processor does, once with
 * hints for the wrong messages (keys from far away, framed and missing keys,
 * and hints never followed by their message). Each run records every
 * alert (rule, alert ID, revision, specimen, recipients, evidence count) and
 * every dead letter in order; the three records must be equal, and the
 * unhinted one must contain alerts of every kind of rule the traffic
 * injects, so that an empty record cannot pass. The state hash is checked
 * separately: equal keys hash equal, and 20,000 IDs that differ in one
 * character spread over the buckets the way a random function would. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "hash.h"
#include "log.h"
#include "registry.h"
#include "state.h"
#include "traffic.h"

typedef struct msg {
	int topic;
	char *key;
	size_t key_len;
	char *value;
	size_t len;
} msg;

typedef struct input {
	msg *m;
	size_t n, cap;
	const char *results_topic;
} input;

typedef struct record {
	char *text;
	size_t len;
	FILE *f;
	size_t alerts;
	size_t per_rule[LW_RULE_COUNT];
} record;

static int capture(const lw_traffic_msg *m, void *opaque)
{
	input *in = opaque;
	msg *x;
	if (in->n == in->cap) {
		in->cap = in->cap ? in->cap * 2 : 1024;
		in->m = realloc(in->m, in->cap * sizeof *in->m);
		cr_assert(in->m);
	}
	x = &in->m[in->n++];
	x->topic = m->topic == in->results_topic ? LW_TOPIC_RESULTS
						 : LW_TOPIC_NOTIFICATIONS;
	x->key = NULL;
	x->key_len = 0;
	if (m->key) {
		x->key = malloc(m->key_len ? m->key_len : 1);
		memcpy(x->key, m->key, m->key_len);
		x->key_len = m->key_len;
	}
	x->value = malloc(m->value_len ? m->value_len : 1);
	memcpy(x->value, m->value, m->value_len);
	x->len = m->value_len;
	return 0;
}

static void on_alert(void *opaque, const lw_alert *a, const lw_msg *cause)
{
	record *r = opaque;
	(void)cause;
	fprintf(r->f, "A %d %s %u %s %u %u\n", a->rule, a->alert_id,
		a->revision, a->specimen_id ? a->specimen_id : "-",
		a->recipient_count, a->nevidence);
	r->alerts++;
	if ((unsigned)a->rule < LW_RULE_COUNT)
		r->per_rule[a->rule]++;
}

static void on_dlq(void *opaque, const lw_msg *m, const char *reason,
		   const char *detail, int32_t schema_id, int processed)
{
	record *r = opaque;
	(void)detail;
	(void)schema_id;
	fprintf(r->f, "D %d %lld %s %d\n", m->topic, (long long)m->offset,
		reason, processed);
}

static lw_msg as_msg(const input *in, size_t i)
{
	static const char *const names[2] = {"lab.results",
					     "lab.notifications"};
	const msg *x = &in->m[i];
	lw_msg m = {x->topic, names[x->topic], 0,	 (int64_t)i, -1,
		    x->key,   x->key_len,      x->value, x->len};
	return m;
}

enum { NO_HINTS, HINTS_AHEAD, HINTS_WRONG };

static void run(const input *in, const lw_registry *reg, int mode, record *r)
{
	lw_engine_config ec;
	lw_engine_callbacks cb = {on_alert, on_dlq, NULL, r};
	lw_engine *e;
	memset(r, 0, sizeof *r);
	r->f = open_memstream(&r->text, &r->len);
	cr_assert(r->f);
	lw_engine_config_defaults(&ec);
	ec.clock.idle_timeout_ms = 0;	  /* replay: event time only */
	ec.state.max_specimens = 1500;	  /* eviction runs too */
	ec.state.expected_specimens = 64; /* and the table grows */
	ec.rules.sla_critical_ms = 600000;
	ec.rules.sla_default_ms = 1800000;
	ec.rules.orphan_grace_ms = 600000;
	ec.surge.window_ms = 300000;
	ec.surge.cap = 250;
	e = lw_engine_new(&ec, reg, &cb);
	for (size_t i = 0; i < in->n; i++) {
		if (mode == HINTS_AHEAD && i + LW_ENGINE_AHEAD < in->n) {
			lw_msg h = as_msg(in, i + LW_ENGINE_AHEAD);
			lw_engine_hint(e, &h);
		} else if (mode == HINTS_WRONG) {
			lw_msg h = as_msg(in, (i * 7919 + 13) % in->n);
			static const unsigned char framed[] = {
			    0, 0, 0, 0, 1, 8, 'a', 'b', 'c', 'd'};
			lw_engine_hint(e, &h);
			if (i % 3 == 0) {
				h.key = framed;
				h.key_len = sizeof framed;
				lw_engine_hint(e, &h);
			}
			if (i % 5 == 0) {
				h.key = NULL;
				h.key_len = 0;
				lw_engine_hint(e, &h);
			}
		}
		lw_msg m = as_msg(in, i);
		lw_engine_process(e, &m);
		if (i % 100 == 99)
			lw_engine_flush(e);
	}
	lw_engine_tick(e, SIZE_MAX);
	lw_engine_flush(e);
	lw_engine_destroy(e);
	cr_assert_eq(fclose(r->f), 0);
}

Test(hint, hints_change_no_alert_and_no_dead_letter)
{
	lw_traffic_config c;
	lw_traffic *t;
	lw_registry *reg;
	input in = {0};
	record none, ahead, wrong;
	char err[256];
	FILE *truth = fopen("/dev/null", "w");

	lw_log_set_level(LW_LOG_ERROR);
	lw_traffic_config_defaults(&c);
	c.seed = 11;
	c.specimens = 3000;
	c.fault_rate = 0.08;
	c.bad_rate = 0.02;
	c.late_share = 0.2;
	c.faults = LW_TRAFFIC_FAULTS_ALL;
	c.sla_critical_ms = 600000;
	c.sla_default_ms = 1800000;
	c.orphan_grace_ms = 600000;
	c.surge_window_ms = 300000;
	c.surge_cap = 250;
	in.results_topic = c.results_topic;
	t = lw_traffic_new(&c, err, sizeof err);
	cr_assert(t, "lw_traffic_new: %s", err);
	cr_assert_eq(lw_traffic_run(t, capture, &in, truth), 0);
	lw_traffic_destroy(t);
	fclose(truth);
	cr_assert_gt(in.n, 9000);

	reg = lw_registry_new(lw_default_registry_dir(), err, sizeof err);
	cr_assert(reg, "registry: %s", err);
	run(&in, reg, NO_HINTS, &none);
	run(&in, reg, HINTS_AHEAD, &ahead);
	run(&in, reg, HINTS_WRONG, &wrong);

	/* the record is worth comparing: alerts of the injected kinds */
	cr_assert_gt(none.alerts, 100);
	cr_assert_gt(none.per_rule[LW_RULE_RESULT_MISMATCH], 0);
	cr_assert_gt(none.per_rule[LW_RULE_FANOUT], 0);
	cr_assert_gt(none.per_rule[LW_RULE_MISSING_NOTIFICATION], 0);
	cr_assert(strstr(none.text, "\nD "), "no dead letter recorded");

	cr_assert_eq(ahead.len, none.len);
	cr_assert(memcmp(ahead.text, none.text, none.len) == 0,
		  "hints four ahead changed the output");
	cr_assert_eq(wrong.len, none.len);
	cr_assert(memcmp(wrong.text, none.text, none.len) == 0,
		  "wrong hints changed the output");

	free(none.text);
	free(ahead.text);
	free(wrong.text);
	for (size_t i = 0; i < in.n; i++) {
		free(in.m[i].key);
		free(in.m[i].value);
	}
	free(in.m);
	lw_registry_destroy(reg);
}

Test(hint, state_hash_is_stable_and_spreads)
{
	enum { N = 20000, NB = 1 << 15 };
	static unsigned cnt[NB];
	char id[64], copy[64];
	size_t empty = 0, most = 0;
	memset(cnt, 0, sizeof cnt);
	for (int i = 0; i < N; i++) {
		int len = snprintf(id, sizeof id,
				   "0b6f%04x-6c1e-4d7a-9a35-2f1c8e0d4b7a",
				   (unsigned)i);
		memcpy(copy, id, (size_t)len + 1);
		cr_assert_eq(lw_state_hash(id, (size_t)len),
			     lw_state_hash(copy, (size_t)len));
		cnt[lw_state_hash(id, (size_t)len) & (NB - 1)]++;
	}
	for (int b = 0; b < NB; b++) {
		empty += cnt[b] == 0;
		if (cnt[b] > most)
			most = cnt[b];
	}
	/* 20,000 keys in 32,768 buckets: a random function leaves
	 * e^(-0.61) = 54.3% empty, the longest chain about 6 */
	cr_assert(empty > NB * 52 / 100 && empty < NB * 57 / 100,
		  "empty buckets %zu of %d", empty, NB);
	cr_assert_leq(most, 9);
	/* every length up to 40 is hashed, and a one-byte change changes it */
	for (size_t len = 0; len <= 40; len++) {
		char a[41] = {0}, b[41] = {0};
		memset(a, 'x', len);
		memcpy(b, a, sizeof b);
		if (len) {
			b[len - 1] = 'y';
			cr_assert_neq(lw_state_hash(a, len),
				      lw_state_hash(b, len), "len %zu", len);
		}
		cr_assert_neq(lw_state_hash(a, len), lw_state_hash(a, len + 1),
			      "len %zu", len);
	}
}
