/* demo: generated traffic through the real Kafka path, checked against truth.
 *
 * Design: everything runs in one process but nothing is short-circuited:
 * the generator's messages go to the mock broker through a librdkafka
 * producer, and the processor consumes them through its consumer group,
 * exactly as in production. The processor's on_alert hook records
 * (rule, specimen, severity); the stop hook ends the run once every
 * produced message was consumed and every alert acknowledged. */
#include "demo.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "mockcluster.h"
#include "processor.h"
#include "rules.h"
#include "traffic.h"
#include "xmalloc.h"

typedef struct demo {
	rd_kafka_t *producer;
	uint64_t produced;
	uint64_t failed;
	char **seen; /* "RULE\tSPECIMEN\tSEVERITY" per alert message */
	size_t nseen, capseen;
	int64_t done_since, deadline;
	int64_t max_event; /* newest event time produced */
	char **accept;	   /* FANIN: "SID\tX" from # FANIN_ACCEPT lines */
	size_t naccept, capaccept;
	int64_t settle; /* stream time at which every due timer ran */
} demo;

static void dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	demo *d = opaque;
	(void)rk;
	if (m->err)
		d->failed++;
}

static int emit(const lw_traffic_msg *m, void *opaque)
{
	demo *d = opaque;
	rd_kafka_resp_err_t err;
	do {
		err = rd_kafka_producev(
		    d->producer, RD_KAFKA_V_TOPIC(m->topic),
		    RD_KAFKA_V_KEY(m->key, m->key_len),
		    RD_KAFKA_V_VALUE((void *)m->value, m->value_len),
		    RD_KAFKA_V_TIMESTAMP(m->timestamp_ms),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(d->producer, 50);
	} while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
	if (err)
		return -1;
	d->produced++;
	if (m->timestamp_ms > d->max_event)
		d->max_event = m->timestamp_ms;
	rd_kafka_poll(d->producer, 0);
	return 0;
}

static void on_alert(void *opaque, const lw_alert *a)
{
	demo *d = opaque;
	char line[512];
	const char *sid = a->specimen_id[0] ? a->specimen_id : "-";
	/* A FANIN alert names the earliest notification's specimen, which
	 * depends on arrival order: the truth lists whom it may name. */
	if (a->rule == LW_RULE_FANIN)
		for (size_t i = 0; i < d->naccept; i++) {
			size_t n = strcspn(d->accept[i], "\t");
			if (strlen(sid) == n &&
			    strncmp(d->accept[i], sid, n) == 0) {
				sid = d->accept[i] + n + 1;
				break;
			}
		}
	snprintf(line, sizeof line, "%s\t%s\t%s", lw_rule_name(a->rule), sid,
		 lw_severity_name(a->severity));
	if (d->nseen == d->capseen) {
		d->capseen = d->capseen ? d->capseen * 2 : 256;
		d->seen = lw_xrealloc(d->seen, d->capseen * sizeof *d->seen);
	}
	d->seen[d->nseen++] = lw_xstrdup(line);
}

static int should_stop(void *opaque, lw_processor *p)
{
	demo *d = opaque;
	lw_processor_stats s;
	int64_t now = lw_mono_ms();
	lw_processor_get_stats(p, &s);
	if (now > d->deadline) {
		lw_log(LW_LOG_ERROR, "demo: not done after the time limit");
		return 1;
	}
	/* Done when everything was consumed and acknowledged and the stream
	 * time (which follows the wall clock once the input is idle) has
	 * reached the newest event less the lateness: every timer due by the
	 * end of the traffic has fired. */
	if (s.engine.consumed[0] + s.engine.consumed[1] < d->produced ||
	    s.held || s.timer_inflight || s.settled_ms < d->settle) {
		d->done_since = 0;
		return 0;
	}
	if (!d->done_since)
		d->done_since = now;
	return now - d->done_since > 300;
}

static uint64_t fault_total(const lw_traffic_stats *ts)
{
	uint64_t n = 0;
	for (int i = 0; i < LW_TRAFFIC_FAULT_COUNT; i++)
		n += ts->faults[i];
	return n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reduces "RULE\tSID\tSEV" lines to one per (rule, specimen), keeping the
 * most severe (CRITICAL sorts before HIGH). Sorted, in place. */
static size_t reduce(char **v, size_t n)
{
	size_t out = 0;
	qsort(v, n, sizeof *v, cmp_str);
	for (size_t i = 0; i < n; i++) {
		char *tab = strrchr(v[i], '\t');
		size_t key = tab ? (size_t)(tab - v[i]) : strlen(v[i]);
		if (out && strncmp(v[out - 1], v[i], key) == 0 &&
		    v[out - 1][key] == '\t') {
			free(v[i]);
			continue;
		}
		v[out++] = v[i];
	}
	return out;
}

static int rule_of(const char *line)
{
	for (int r = 0; r < LW_RULE_COUNT; r++) {
		size_t n = strlen(lw_rule_name(r));
		if (strncmp(line, lw_rule_name(r), n) == 0 && line[n] == '\t')
			return r;
	}
	return -1;
}

static int compare_and_report(char **truth, size_t nt, char **seen, size_t ns,
			      uint64_t dlq_expected, uint64_t dlq_seen)
{
	size_t i = 0, j = 0;
	size_t exp[LW_RULE_COUNT] = {0}, got[LW_RULE_COUNT] = {0},
	       miss[LW_RULE_COUNT] = {0}, extra[LW_RULE_COUNT] = {0};
	int shown = 0, bad = 0;
	while (i < nt || j < ns) {
		int c = i >= nt ? 1 : j >= ns ? -1 : strcmp(truth[i], seen[j]);
		if (c == 0) {
			int r = rule_of(truth[i]);
			exp[r]++;
			got[r]++;
			i++;
			j++;
		} else if (c < 0) {
			int r = rule_of(truth[i]);
			exp[r]++;
			miss[r]++;
			if (shown++ < 10)
				fprintf(stderr, "  missed:     %s\n", truth[i]);
			i++;
		} else {
			int r = rule_of(seen[j]);
			if (r >= 0) {
				got[r]++;
				extra[r]++;
			}
			if (shown++ < 10)
				fprintf(stderr, "  unexpected: %s\n", seen[j]);
			j++;
		}
	}
	fprintf(stderr, "\n%-18s %9s %9s %9s %11s\n", "rule", "expected",
		"seen", "missed", "unexpected");
	for (int r = 0; r < LW_RULE_COUNT; r++) {
		fprintf(stderr, "%-24s %9zu %9zu %9zu %11zu\n", lw_rule_name(r),
			exp[r], got[r], miss[r], extra[r]);
		bad |= miss[r] || extra[r];
	}
	fprintf(stderr, "%-24s %9llu %9llu\n", "dead letters",
		(unsigned long long)dlq_expected, (unsigned long long)dlq_seen);
	bad |= dlq_expected != dlq_seen;
	return bad;
}

static int on_extra(int opt, const char *arg, void *opaque)
{
	lw_traffic_config *tc = opaque;
	switch (opt) {
	case 1000:
		tc->specimens = strtoull(arg, NULL, 10);
		return tc->specimens ? 0 : -1;
	case 1001:
		tc->seed = strtoull(arg, NULL, 10);
		return 0;
	case 1002:
		tc->fault_rate = atof(arg);
		return 0;
	}
	return -1;
}

int lw_demo_main(int argc, char **argv)
{
	static const struct option extra[] = {
	    {"specimens", required_argument, NULL, 1000},
	    {"seed", required_argument, NULL, 1001},
	    {"fault-rate", required_argument, NULL, 1002},
	};
	lw_config cfg;
	lw_traffic_config tc;
	lw_traffic *gen = NULL;
	lw_traffic_stats ts;
	lw_mockcluster *mock = NULL;
	lw_processor *p = NULL;
	lw_processor_stats ps;
	lw_processor_hooks hooks = {on_alert, should_stop, NULL};
	rd_kafka_conf_t *pc;
	demo d;
	char err[512], *truth_text = NULL, **truth = NULL;
	size_t truth_len = 0, nt = 0, capt = 0;
	FILE *truth_f;
	int rc = 1;
	int64_t t0, t1;
	const char *topics[4];

	memset(&d, 0, sizeof d);
	hooks.opaque = &d;
	lw_config_init(&cfg);
	lw_traffic_config_defaults(&tc);
	tc.specimens = 2000;
	tc.seed = 42;
	tc.fault_rate = 0.05;
	tc.faults = LW_TRAFFIC_FAULTS_ALL;
	/* The demo's event time spans about an hour: rule settings under
	 * which every timer rule comes due within it (the defaults are a day
	 * for most), and a surge cap the generated lab's clean volume stays
	 * under. -X overrides them; the generator gets the same values. */
	{
		static const char *const demo_props[][2] = {
		    {"sla.critical.ms", "10m"}, {"sla.default.ms", "30m"},
		    {"orphan.grace.ms", "10m"}, {"surge.window.ms", "5m"},
		    {"surge.cap", "250"},	{"time.idle.timeout.ms", "1s"},
		};
		for (size_t i = 0; i < sizeof demo_props / sizeof *demo_props;
		     i++)
			if (lw_config_set(&cfg, demo_props[i][0],
					  demo_props[i][1], err, sizeof err))
				abort(); /* a bug in the table above */
	}
	rc = lw_cli_parse(argc, argv, &cfg, extra, 3, on_extra, &tc);
	if (rc < 0) {
		fprintf(rc == -2 ? stdout : stderr,
			"usage: labwatch demo [--specimens N] [--seed S] "
			"[--fault-rate R] [-X key=value]...\n"
			"(see labwatch --help for the properties)\n");
		lw_config_free(&cfg);
		return rc == -2 ? 0 : 64;
	}
	rc = 1;
	cfg.alerts_stdout = 1;
	tc.clock_skew_ms = cfg.clock_skew_ms;
	tc.lateness_ms = cfg.time_lateness_ms;
	tc.sla_critical_ms = cfg.sla_critical_ms;
	tc.sla_default_ms = cfg.sla_default_ms;
	tc.orphan_grace_ms = cfg.orphan_grace_ms;
	tc.fanin_window_ms = cfg.fanin_window_ms;
	tc.fanin_threshold = (uint32_t)cfg.fanin_threshold;
	tc.surge_window_ms = cfg.surge_window_ms;
	tc.surge_cap = (uint64_t)cfg.surge_cap;
	tc.surge_short_ms = cfg.surge_short_ms;
	tc.surge_baseline_ms = cfg.surge_baseline_ms;
	tc.surge_factor = (double)cfg.surge_factor;
	tc.surge_min_count = (uint64_t)cfg.surge_min_count;
	setvbuf(stdout, NULL, _IOLBF, 0);
	tc.results_topic = cfg.topic_results;
	tc.notifications_topic = cfg.topic_notifications;
	topics[0] = cfg.topic_results;
	topics[1] = cfg.topic_notifications;
	topics[2] = cfg.topic_alerts;
	topics[3] = cfg.topic_deadletter;

	mock = lw_mockcluster_new((int)cfg.mock_partitions, topics, 4, err,
				  sizeof err);
	if (!mock)
		goto fail;
	lw_log(LW_LOG_INFO, "demo: embedded mock cluster at %s",
	       lw_mockcluster_bootstraps(mock));

	pc = rd_kafka_conf_new();
	rd_kafka_conf_set(pc, "bootstrap.servers",
			  lw_mockcluster_bootstraps(mock), NULL, 0);
	rd_kafka_conf_set(pc, "enable.idempotence", "true", NULL, 0);
	rd_kafka_conf_set(pc, "linger.ms", "5", NULL, 0);
	rd_kafka_conf_set_dr_msg_cb(pc, dr);
	rd_kafka_conf_set_opaque(pc, &d);
	d.producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
	if (!d.producer) {
		rd_kafka_conf_destroy(pc);
		goto fail;
	}
	gen = lw_traffic_new(&tc, err, sizeof err);
	if (!gen)
		goto fail;
	truth_f = open_memstream(&truth_text, &truth_len);
	if (lw_traffic_run(gen, emit, &d, truth_f) != 0) {
		fclose(truth_f);
		snprintf(err, sizeof err, "traffic generation failed");
		goto fail;
	}
	fclose(truth_f);
	lw_traffic_get_stats(gen, &ts);
	d.settle = d.max_event - cfg.time_lateness_ms - 1;
	rd_kafka_flush(d.producer, 60000);
	if (d.failed) {
		snprintf(err, sizeof err, "%llu messages failed to produce",
			 (unsigned long long)d.failed);
		goto fail;
	}
	lw_log(LW_LOG_INFO,
	       "demo: produced %llu messages for %llu specimens with %llu "
	       "injected faults and %llu bad messages",
	       (unsigned long long)d.produced, (unsigned long long)ts.specimens,
	       (unsigned long long)fault_total(&ts),
	       (unsigned long long)(ts.dlq[0] + ts.dlq[1] + ts.dlq[2] +
				    ts.dlq[3] + ts.dlq[4] + ts.dlq[5] +
				    ts.dlq[6]));

	for (char *line = strtok(truth_text, "\n"); line;
	     line = strtok(NULL, "\n")) {
		char rule[64], sid[128], sev[32];
		char x[128], list[4096];
		if (sscanf(line, "# FANIN_ACCEPT\t%127[^\t]\t%4095[^\t]", x,
			   list) == 2) {
			for (char *m = list, *q; m && *m; m = q) {
				size_t len;
				q = strchr(m, ',');
				if (q)
					*q++ = '\0';
				if (d.naccept == d.capaccept) {
					d.capaccept =
					    d.capaccept ? d.capaccept * 2 : 64;
					d.accept = lw_xrealloc(
					    d.accept,
					    d.capaccept * sizeof *d.accept);
				}
				len = strlen(m) + strlen(x) + 2;
				d.accept[d.naccept] = lw_xmalloc(len);
				snprintf(d.accept[d.naccept++], len, "%s\t%s",
					 m, x);
			}
			continue;
		}
		if (sscanf(line, "ALERT\t%63[^\t]\t%127[^\t]\t%31[^\t]", rule,
			   sid, sev) != 3)
			continue;
		if (nt == capt) {
			capt = capt ? capt * 2 : 256;
			truth = lw_xrealloc(truth, capt * sizeof *truth);
		}
		snprintf(err, sizeof err, "%s\t%s\t%s", rule, sid, sev);
		truth[nt++] = lw_xstrdup(err);
	}
	err[0] = '\0';

	lw_cli_install_signals();
	d.deadline = lw_mono_ms() + 180000;
	p = lw_processor_new(&cfg, lw_mockcluster_bootstraps(mock), &hooks, err,
			     sizeof err);
	if (!p)
		goto fail;
	t0 = lw_mono_ms();
	rc = lw_processor_run(p, &lw_cli_stop);
	t1 = lw_mono_ms();
	lw_processor_get_stats(p, &ps);
	nt = reduce(truth, nt);
	d.nseen = reduce(d.seen, d.nseen);
	{
		uint64_t n = ps.engine.consumed[0] + ps.engine.consumed[1];
		int64_t span = ps.last_message_ms - ps.first_message_ms;
		fprintf(
		    stderr,
		    "\nlabwatch demo: %llu messages (%llu specimens) consumed "
		    "through the mock broker in %lld ms from first to last "
		    "message (%.0f events/s; the mock serves one message set "
		    "per fetch, so this is not a throughput figure); run took "
		    "%lld ms with group join\n",
		    (unsigned long long)n, (unsigned long long)ts.specimens,
		    (long long)span,
		    (double)n * 1000.0 / (double)(span > 0 ? span : 1),
		    (long long)(t1 - t0));
	}
	{
		uint64_t dlq_exp = 0;
		for (int i = 0; i < LW_TRAFFIC_DLQ_COUNT; i++)
			dlq_exp += ts.dlq[i];
		if (compare_and_report(truth, nt, d.seen, d.nseen, dlq_exp,
				       ps.engine.deadletter_total) ||
		    rc != 0) {
			fprintf(stderr,
				"\nRESULT: MISMATCH against ground truth\n");
			rc = 1;
		} else {
			fprintf(
			    stderr,
			    "\nRESULT: every injected fault alerted, nothing "
			    "else (%zu incidents, %llu alert messages)\n",
			    nt, (unsigned long long)ps.engine.alerts_total);
		}
	}
fail:
	if (err[0])
		fprintf(stderr, "labwatch demo: %s\n", err);
	lw_processor_destroy(p);
	lw_traffic_destroy(gen);
	if (d.producer)
		rd_kafka_destroy(d.producer);
	lw_mockcluster_destroy(mock);
	for (size_t i = 0; i < nt; i++)
		free(truth[i]);
	free(truth);
	for (size_t i = 0; i < d.nseen; i++)
		free(d.seen[i]);
	free(d.seen);
	for (size_t i = 0; i < d.naccept; i++)
		free(d.accept[i]);
	free(d.accept);
	free(truth_text);
	lw_config_free(&cfg);
	return rc;
}
