/* processor: librdkafka wiring around the engine.
 *
 * Design. One consumer (group member, manual commits, range assignment so
 * the same partition numbers of both input topics land together) and one
 * idempotent producer for alerts and dead letters. Every produce holds its
 * cause event in `progress`; the delivery report releases it; commits carry
 * only released progress. A failed delivery is produced again (the payload
 * comes back in the report), except for errors that retrying cannot fix,
 * which are logged and keep the hold: commits then stop advancing, so a
 * restart re-sends rather than loses.
 *
 * Restore. On assignment we read each partition's committed offset and
 * metadata, seek to the "need" offset it names and mark everything below the
 * committed offset as a replay. The engine rebuilds state from replays and
 * does not re-send incidents made only of replayed events. We chose this
 * over a compacted changelog topic: no second topic to provision, no double
 * writes on the hot path, nothing that depends on compaction (which the mock
 * broker lacks), and re-reading is fast because the engine is (see
 * benchmarks). The cost: input retention must exceed state.ttl.ms, and a
 * restart re-reads up to a TTL's worth of input.
 *
 * Timer alerts (timer rules, surges) have no cause event to hold. They are
 * counted in flight instead, and commits carry, besides "need", the stream
 * time by which every timer had run and every timer alert was acknowledged
 * ("wm"); after a restart the engine does not re-send timer alerts due by
 * the lowest wm of the assigned partitions. Each assigned partition is a
 * watermark source for the engine's clock.
 *
 * Housekeeping per loop pass is bounded: a slice of the sweep over state
 * (for the need offsets), the stream time and a budget of due timers, and
 * time-gated commits and stats. */
#include "processor.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "progress.h"
#include "registry.h"
#include "schemas.h"
#include "xmalloc.h"

#define BATCH	     1000
#define SWEEP_BUDGET 1024 /* buckets per busy loop pass (~0.3 ms at 1M) */
#define SWEEP_DUTY   20	  /* sweeping takes at most 1/20 of the time */
#define MAX_POINTS   4096

struct lw_processor {
	uint64_t rebalances; /* rebalance callbacks served so far */
	rd_kafka_message_t *batch[BATCH]; /* see collect() */
	const lw_config *cfg;
	lw_processor_hooks hooks;
	rd_kafka_t *consumer;
	rd_kafka_t *producer;
	lw_registry *reg;
	lw_engine *eng;
	lw_progress *pg;
	const char *topic_names[LW_TOPIC_COUNT];
	lw_buf out;
	lw_buf json;
	int fatal;
	int commit_dirty; /* a commit failed: send all points next time */
	int sweeping;
	int64_t sweep_start_ms; /* when the current or last sweep started */
	int64_t next_sweep_ms;	/* no new sweep before this (monotonic) */
	int64_t sweep_ns;	/* time spent in the current sweep's steps */
	int64_t last_commit_ms, last_stats_ms;
	int64_t restore_start_ms;
	int was_restoring;
	int timer_marker;	 /* its address tags timer-alert deliveries */
	uint64_t timer_inflight; /* timer alerts not yet acknowledged */
	int64_t safe_wm;	 /* timer alerts due by then are delivered */
	lw_processor_stats st;
	lw_ratelimit rl_consume, rl_deliver, rl_commit;
};

/* ---- librdkafka configuration ---- */

/* Properties that belong to one side only; set on the other they make
 * librdkafka log a warning at start-up. */
static const char *const consumer_only[] = {"group.id",
					    "group.instance.id",
					    "partition.assignment.strategy",
					    "session.timeout.ms",
					    "heartbeat.interval.ms",
					    "max.poll.interval.ms",
					    "auto.offset.reset",
					    "enable.auto.commit",
					    "auto.commit.interval.ms",
					    "enable.auto.offset.store",
					    "isolation.level",
					    "fetch.wait.max.ms",
					    "fetch.min.bytes",
					    "fetch.max.bytes",
					    "fetch.message.max.bytes",
					    "max.partition.fetch.bytes",
					    "queued.min.messages",
					    "queued.max.messages.kbytes",
					    "enable.partition.eof",
					    "check.crcs",
					    "group.protocol.type",
					    "coordinator.query.interval.ms"};
static const char *const producer_only[] = {"acks",
					    "request.required.acks",
					    "linger.ms",
					    "queue.buffering.max.ms",
					    "batch.num.messages",
					    "batch.size",
					    "compression.type",
					    "compression.codec",
					    "compression.level",
					    "enable.idempotence",
					    "message.timeout.ms",
					    "delivery.timeout.ms",
					    "retries",
					    "message.send.max.retries",
					    "queue.buffering.max.messages",
					    "queue.buffering.max.kbytes",
					    "transactional.id",
					    "partitioner",
					    "enable.gapless.guarantee",
					    "sticky.partitioning.linger.ms"};

static int in_list(const char *k, const char *const *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(k, l[i]) == 0)
			return 1;
	return 0;
}

#define IN(k, l) in_list(k, l, sizeof l / sizeof l[0])

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v,
		    char *errstr, size_t errstr_size)
{
	char err[512];
	if (rd_kafka_conf_set(conf, k, v, err, sizeof err) !=
	    RD_KAFKA_CONF_OK) {
		snprintf(errstr, errstr_size, "%s", err);
		return -1;
	}
	return 0;
}

/* Applies pass-through properties for `side` ("consumer"/"producer"). */
static int apply_passthrough(const lw_config *cfg, rd_kafka_conf_t *conf,
			     const char *side, char *errstr, size_t errstr_size)
{
	size_t sl = strlen(side);
	int is_consumer = side[0] == 'c';
	for (int i = 0; i < cfg->rk_n; i++) {
		const char *k = cfg->rk_keys[i];
		if (!strncmp(k, "consumer.", 9) ||
		    !strncmp(k, "producer.", 9)) {
			if (strncmp(k, side, sl) != 0 || k[sl] != '.')
				continue;
			k += sl + 1;
		} else if (is_consumer ? IN(k, producer_only)
				       : IN(k, consumer_only)) {
			continue;
		}
		if (conf_set(conf, k, cfg->rk_vals[i], errstr, errstr_size))
			return -1;
	}
	return 0;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
		   const char *buf)
{
	lw_log(level <= 3   ? LW_LOG_ERROR
	       : level <= 4 ? LW_LOG_WARN
	       : level <= 6 ? LW_LOG_INFO
			    : LW_LOG_DEBUG,
	       "kafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	lw_processor *p = opaque;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char fatal[512];
		rd_kafka_fatal_error(rk, fatal, sizeof fatal);
		lw_log(LW_LOG_ERROR, "kafka %s fatal error: %s; stopping",
		       rd_kafka_name(rk), fatal);
		p->fatal = 1;
		return;
	}
	lw_log(LW_LOG_WARN, "kafka %s: %s: %s", rd_kafka_name(rk),
	       rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* ---- producing ---- */

static int permanent(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR__FATAL:
		return 1;
	default:
		return 0;
	}
}

static rd_kafka_resp_err_t produce(lw_processor *p, const char *topic,
				   const void *key, size_t key_len,
				   const void *val, size_t val_len,
				   rd_kafka_headers_t *hdrs, void *opaque)
{
	for (;;) {
		rd_kafka_resp_err_t err = rd_kafka_producev(
		    p->producer, RD_KAFKA_V_TOPIC(topic),
		    RD_KAFKA_V_KEY(key, key_len),
		    RD_KAFKA_V_VALUE((void *)val, val_len),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque),
		    RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			return err;
		/* Back-pressure: serve delivery reports until there is
		 * room. */
		rd_kafka_poll(p->producer, 50);
	}
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	lw_processor *p = opaque;
	lw_hold *h = m->_private;
	int is_alert =
	    strcmp(rd_kafka_topic_name(m->rkt), p->cfg->topic_alerts) == 0;
	if ((void *)h == (void *)&p->timer_marker) {
		/* A timer alert: no input offset waits for it; the stream
		 * time committed as delivered does (safe_wm). */
		if (!m->err) {
			p->st.alerts_delivered++;
			p->timer_inflight--;
		} else {
			p->st.delivery_errors++;
			lw_log_limited(&p->rl_deliver, LW_LOG_ERROR,
				       "timer alert delivery failed: %s; the "
				       "delivered stream time stops here "
				       "(a restart re-sends)",
				       rd_kafka_err2str(m->err));
		}
		(void)rk;
		return;
	}
	if (!m->err) {
		if (is_alert)
			p->st.alerts_delivered++;
		else
			p->st.deadletters_delivered++;
		lw_progress_release(p->pg, h);
		return;
	}
	p->st.delivery_errors++;
	if (permanent(m->err)) {
		lw_log_limited(
		    &p->rl_deliver, LW_LOG_ERROR,
		    "delivery to %s failed for good: %s; commits stop here "
		    "until this is fixed (nothing is lost: a restart re-sends)",
		    rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
		return;
	}
	lw_log_limited(&p->rl_deliver, LW_LOG_WARN,
		       "delivery to %s failed: %s; producing it again",
		       rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
	{
		rd_kafka_headers_t *hdrs = NULL, *copy = NULL;
		rd_kafka_resp_err_t err;
		if (!rd_kafka_message_headers(m, &hdrs) && hdrs)
			copy = rd_kafka_headers_copy(hdrs);
		err = produce(p, rd_kafka_topic_name(m->rkt), m->key,
			      m->key_len, m->payload, m->len, copy, h);
		if (err) {
			if (copy)
				rd_kafka_headers_destroy(copy);
			lw_log(LW_LOG_ERROR, "re-produce to %s failed: %s",
			       rd_kafka_topic_name(m->rkt),
			       rd_kafka_err2str(err));
		}
	}
	(void)rk;
}

static void on_alert(void *opaque, const lw_alert *a, const lw_msg *cause)
{
	lw_processor *p = opaque;
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(4);
	lw_hold *h;
	rd_kafka_resp_err_t err;
	char txt[320];
	lw_buf_reset(&p->out);
	lw_alert_encode_avro(a, LW_SCHEMA_ID_ALERT, p->topic_names, &p->out);
	rd_kafka_header_add(hdrs, "lw.rule", -1, lw_rule_name(a->rule), -1);
	rd_kafka_header_add(hdrs, "lw.severity", -1,
			    lw_severity_name(a->severity), -1);
	if (cause) {
		/* The event whose arrival raised this message, and its
		 * Kafka timestamp: pipeline latency is the alert's timestamp
		 * minus it. */
		snprintf(txt, sizeof txt, "%s/%d@%lld", cause->topic_name,
			 (int)cause->partition, (long long)cause->offset);
		rd_kafka_header_add(hdrs, "lw.cause", -1, txt, -1);
		snprintf(txt, sizeof txt, "%lld",
			 (long long)cause->timestamp_ms);
		rd_kafka_header_add(hdrs, "lw.cause.timestamp", -1, txt, -1);
		h = lw_progress_hold(p->pg, cause->topic, cause->partition,
				     cause->offset);
	} else {
		/* A timer fired: the stream time at which it came due. */
		snprintf(txt, sizeof txt, "%lld", (long long)a->fired_at);
		rd_kafka_header_add(hdrs, "lw.due", -1, txt, -1);
		h = (lw_hold *)(void *)&p->timer_marker;
		p->timer_inflight++;
	}
	err = produce(p, p->cfg->topic_alerts, a->alert_id, 32, p->out.data,
		      p->out.len, hdrs, h);
	if (err) {
		/* Only a misconfiguration gets here; keep the hold so this
		 * offset is never committed. */
		rd_kafka_headers_destroy(hdrs);
		lw_log(LW_LOG_ERROR, "cannot produce alert %s: %s", a->alert_id,
		       rd_kafka_err2str(err));
	}
	if (p->cfg->alerts_stdout) {
		lw_buf_reset(&p->json);
		lw_alert_encode_json(a, p->topic_names, &p->json);
		lw_buf_putc(&p->json, '\n');
		fwrite(p->json.data, 1, p->json.len, stdout);
		fflush(stdout);
	}
	if (p->hooks.on_alert)
		p->hooks.on_alert(p->hooks.opaque, a);
}

static void on_deadletter(void *opaque, const lw_msg *m, const char *reason,
			  const char *detail, int32_t schema_id, int processed)
{
	lw_processor *p = opaque;
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(8);
	char num[32];
	lw_hold *h;
	rd_kafka_resp_err_t err;
	rd_kafka_header_add(hdrs, "lw.reason", -1, reason, -1);
	rd_kafka_header_add(hdrs, "lw.detail", -1, detail, -1);
	rd_kafka_header_add(hdrs, "lw.source.topic", -1, m->topic_name, -1);
	snprintf(num, sizeof num, "%d", (int)m->partition);
	rd_kafka_header_add(hdrs, "lw.source.partition", -1, num, -1);
	snprintf(num, sizeof num, "%lld", (long long)m->offset);
	rd_kafka_header_add(hdrs, "lw.source.offset", -1, num, -1);
	snprintf(num, sizeof num, "%lld", (long long)m->timestamp_ms);
	rd_kafka_header_add(hdrs, "lw.source.timestamp", -1, num, -1);
	if (schema_id >= 0) {
		snprintf(num, sizeof num, "%d", (int)schema_id);
		rd_kafka_header_add(hdrs, "lw.schema.id", -1, num, -1);
	}
	rd_kafka_header_add(hdrs, "lw.processed", -1,
			    processed ? "true" : "false", -1);
	h = lw_progress_hold(p->pg, m->topic, m->partition, m->offset);
	err = produce(p, p->cfg->topic_deadletter, m->key, m->key_len, m->value,
		      m->value_len, hdrs, h);
	if (err) {
		rd_kafka_headers_destroy(hdrs);
		lw_log(LW_LOG_ERROR, "cannot dead-letter %s/%d@%lld: %s",
		       m->topic_name, (int)m->partition, (long long)m->offset,
		       rd_kafka_err2str(err));
	}
}

static int replayed(void *opaque, int topic, int32_t partition, int64_t offset)
{
	lw_processor *p = opaque;
	return lw_progress_replayed(p->pg, topic, partition, offset);
}

/* ---- commits and restore ---- */

static int topic_index(const lw_processor *p, const char *name)
{
	for (int t = 0; t < LW_TOPIC_COUNT; t++)
		if (strcmp(p->topic_names[t], name) == 0)
			return t;
	return -1;
}

static void commit(lw_processor *p, int sync)
{
	lw_commit_point pts[MAX_POINTS];
	size_t n =
	    lw_progress_commit_points(p->pg, pts, MAX_POINTS, !p->commit_dirty);
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t err;
	if (n == 0)
		return;
	if (p->timer_inflight == 0)
		p->safe_wm = lw_engine_settled_watermark(p->eng);
	l = rd_kafka_topic_partition_list_new((int)n);
	for (size_t i = 0; i < n; i++) {
		char md[96];
		int len = lw_progress_format_metadata(pts[i].need, p->safe_wm,
						      md, sizeof md);
		rd_kafka_topic_partition_t *tp =
		    rd_kafka_topic_partition_list_add(
			l, p->topic_names[pts[i].topic], pts[i].partition);
		tp->offset = pts[i].offset;
		tp->metadata = lw_xstrndup(md, (size_t)len);
		tp->metadata_size = (size_t)len;
	}
	err = rd_kafka_commit(p->consumer, l, sync ? 0 : 1);
	rd_kafka_topic_partition_list_destroy(l);
	if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
		p->st.commit_errors++;
		p->commit_dirty = 1;
		lw_log_limited(&p->rl_commit, LW_LOG_WARN, "commit failed: %s",
			       rd_kafka_err2str(err));
		return;
	}
	p->commit_dirty = 0;
	p->st.commits++;
	lw_progress_committed(p->pg, pts, n);
}

static void offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			     rd_kafka_topic_partition_list_t *offsets,
			     void *opaque)
{
	lw_processor *p = opaque;
	if (!err || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
		return;
	p->st.commit_errors++;
	p->commit_dirty = 1;
	lw_log_limited(&p->rl_commit, LW_LOG_WARN, "async commit failed: %s",
		       rd_kafka_err2str(err));
	(void)rk;
	(void)offsets;
}

static void assign(lw_processor *p, rd_kafka_topic_partition_list_t *parts)
{
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	int restoring = 0;
	int64_t delivered = INT64_MAX, wm;
	lw_engine_reset_state(p->eng);
	p->safe_wm = INT64_MIN;
	if (p->cfg->restore) {
		err = rd_kafka_committed(p->consumer, parts, 30000);
		if (err)
			lw_log(LW_LOG_ERROR,
			       "cannot read committed offsets (%s): starting "
			       "without state restore",
			       rd_kafka_err2str(err));
	}
	for (int i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &parts->elems[i];
		int t = topic_index(p, tp->topic);
		int64_t committed = tp->offset, need, start, until;
		if (t < 0)
			continue;
		lw_engine_add_source(p->eng, t, tp->partition);
		if (err || !p->cfg->restore || committed < 0) {
			/* Nothing committed (or not looked up): librdkafka
			 * resolves the start (committed, else
			 * auto.offset.reset); nothing is a replay. */
			if (!p->cfg->restore || err)
				tp->offset = RD_KAFKA_OFFSET_INVALID;
			lw_progress_assign(p->pg, t, tp->partition,
					   tp->offset >= 0 ? tp->offset
							   : LW_OFFSET_UNKNOWN,
					   LW_OFFSET_UNKNOWN);
			continue;
		}
		start = committed;
		until = LW_OFFSET_UNKNOWN;
		if (!lw_progress_parse_metadata(tp->metadata, tp->metadata_size,
						&need, &wm) &&
		    wm != INT64_MIN && wm < delivered)
			delivered = wm;
		if (!lw_progress_parse_metadata(tp->metadata, tp->metadata_size,
						&need, &wm) &&
		    need < committed) {
			start = need;
			until = committed;
			restoring++;
		}
		tp->offset = start;
		lw_progress_assign(p->pg, t, tp->partition, start, until);
		lw_log(LW_LOG_INFO,
		       "assigned %s/%d: committed %lld, re-reading from %lld "
		       "to restore state",
		       tp->topic, (int)tp->partition, (long long)committed,
		       (long long)start);
	}
	/* Timer alerts due by the lowest delivered stream time any
	 * partition recorded were sent before; later ones are sent again. */
	lw_engine_set_delivered_watermark(
	    p->eng, delivered == INT64_MAX ? LW_TIME_NONE : delivered);
	p->restore_start_ms = lw_mono_ms();
	p->was_restoring = restoring > 0;
	p->st.restore_ms = restoring ? -1 : 0;
	p->sweeping = 0;
	p->next_sweep_ms = 0; /* the first sweep of this assignment: soon */
	rd_kafka_assign(p->consumer, parts);
}

static void revoke(lw_processor *p)
{
	rd_kafka_flush(p->producer, (int)p->cfg->shutdown_timeout_ms);
	p->commit_dirty = 1;
	commit(p, 1);
	lw_progress_revoke_all(p->pg);
	lw_engine_reset_state(p->eng);
	p->sweeping = 0;
	p->next_sweep_ms = 0;
	rd_kafka_assign(p->consumer, NULL);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	lw_processor *p = opaque;
	(void)rk;
	p->rebalances++;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		lw_log(LW_LOG_INFO, "assignment: %d partitions", parts->cnt);
		assign(p, parts);
	} else {
		lw_log(LW_LOG_INFO, "revocation: %d partitions", parts->cnt);
		revoke(p);
	}
}

static void sweep_visit(void *opaque, const lw_specimen *s)
{
	lw_progress *pg = opaque;
	for (uint32_t i = 0; i < s->nresults; i++)
		lw_progress_sweep_visit(pg, LW_TOPIC_RESULTS,
					s->results[i].partition,
					s->results[i].offset);
	for (uint32_t i = 0; i < s->nnotifs; i++)
		lw_progress_sweep_visit(pg, LW_TOPIC_NOTIFICATIONS,
					s->notifs[i].partition,
					s->notifs[i].offset);
}

/* The restore-point sweep visits every record (state.h), a cache miss or
 * more each: 0.3-0.7 s for a million specimens on the benchmark machine
 * (bench_memory's sweep_ms), so back to back at a large state it would
 * take most of the CPU from consuming. Its result only feeds the commit
 * metadata (need=), where an older value is still correct, only re-read a
 * little more after a restart: so a sweep starts at most once per commit
 * interval and, at a large state, rarely enough that sweeping takes at
 * most 1/SWEEP_DUTY of the time (measured: the time spent in its steps).
 * At 1M specimens that is a sweep every ~10 s; the restore point then
 * lags by seconds to a few minutes, against a state TTL of days. */
static void sweep_step(lw_processor *p, size_t budget)
{
	int64_t t0, now;
	int rc;
	if (!p->sweeping) {
		now = lw_mono_ms();
		if (now < p->next_sweep_ms)
			return;
		p->sweep_start_ms = now;
		p->sweep_ns = 0;
		lw_progress_sweep_begin(p->pg);
		p->sweeping = 1;
	}
	t0 = lw_mono_ns();
	rc = lw_state_sweep_step(lw_engine_state(p->eng), budget, sweep_visit,
				 p->pg);
	p->sweep_ns += lw_mono_ns() - t0;
	if (rc == LW_SWEEP_MORE)
		return;
	lw_progress_sweep_end(p->pg, rc == LW_SWEEP_DONE);
	p->sweeping = 0;
	if (rc == LW_SWEEP_DONE) {
		p->st.sweeps++;
		p->st.sweep_ms = p->sweep_ns / 1000000;
	}
	p->next_sweep_ms = lw_progress_next_sweep(
	    p->sweep_start_ms, lw_mono_ms(), p->sweep_ns / 1000000,
	    p->cfg->commit_interval_ms, SWEEP_DUTY);
}

/* ---- life cycle ---- */

lw_processor *lw_processor_new(const lw_config *cfg, const char *brokers,
			       const lw_processor_hooks *hooks, char *errstr,
			       size_t errstr_size)
{
	lw_processor *p = lw_xcalloc(1, sizeof *p);
	rd_kafka_conf_t *cc = NULL, *pc = NULL;
	lw_engine_config ec;
	lw_engine_callbacks cb = {on_alert, on_deadletter, replayed, p};
	const char *dir = cfg->registry_dir;
	char err[512];
	rd_kafka_topic_partition_list_t *subs;

	p->cfg = cfg;
	if (hooks)
		p->hooks = *hooks;
	p->topic_names[LW_TOPIC_RESULTS] = cfg->topic_results;
	p->topic_names[LW_TOPIC_NOTIFICATIONS] = cfg->topic_notifications;
	p->st.restore_ms = -1;

	if (!dir || !*dir)
		dir = lw_default_registry_dir();
	p->reg = lw_registry_new(dir, err, sizeof err);
	if (!p->reg) {
		snprintf(errstr, errstr_size, "%s", err);
		goto fail;
	}
	lw_engine_config_from(&ec, cfg);
	/* partition EOF events (set below) tell the clock which silent
	 * partitions are caught up and which may have a backlog */
	ec.clock.end_aware = 1;
	p->eng = lw_engine_new(&ec, p->reg, &cb);
	p->pg = lw_progress_new();

	cc = rd_kafka_conf_new();
	if (conf_set(cc, "bootstrap.servers", brokers, errstr, errstr_size) ||
	    conf_set(cc, "group.id", cfg->group_id, errstr, errstr_size) ||
	    conf_set(cc, "enable.auto.commit", "false", errstr, errstr_size) ||
	    conf_set(cc, "enable.auto.offset.store", "false", errstr,
		     errstr_size) ||
	    conf_set(cc, "auto.offset.reset", "earliest", errstr,
		     errstr_size) ||
	    conf_set(cc, "partition.assignment.strategy", "range", errstr,
		     errstr_size) ||
	    conf_set(cc, "client.id", "labwatch", errstr, errstr_size) ||
	    /* librdkafka heartbeats from its own thread, so a short session
	     * costs nothing here and lets a restarted instance take its
	     * partitions back in seconds, not 45 s (overridable) */
	    conf_set(cc, "session.timeout.ms", "10000", errstr, errstr_size) ||
	    conf_set(cc, "heartbeat.interval.ms", "1000", errstr,
		     errstr_size) ||
	    apply_passthrough(cfg, cc, "consumer", errstr, errstr_size) ||
	    /* after the passthrough: the clock depends on it */
	    conf_set(cc, "enable.partition.eof", "true", errstr, errstr_size))
		goto fail;
	rd_kafka_conf_set_log_cb(cc, log_cb);
	rd_kafka_conf_set_error_cb(cc, error_cb);
	rd_kafka_conf_set_rebalance_cb(cc, rebalance_cb);
	rd_kafka_conf_set_offset_commit_cb(cc, offset_commit_cb);
	rd_kafka_conf_set_opaque(cc, p);

	pc = rd_kafka_conf_new();
	if (conf_set(pc, "bootstrap.servers", brokers, errstr, errstr_size) ||
	    conf_set(pc, "enable.idempotence", "true", errstr, errstr_size) ||
	    conf_set(pc, "linger.ms", "0", errstr, errstr_size) ||
	    conf_set(pc, "client.id", "labwatch", errstr, errstr_size) ||
	    apply_passthrough(cfg, pc, "producer", errstr, errstr_size))
		goto fail;
	rd_kafka_conf_set_log_cb(pc, log_cb);
	rd_kafka_conf_set_error_cb(pc, error_cb);
	rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
	rd_kafka_conf_set_opaque(pc, p);

	p->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
	if (!p->producer) {
		snprintf(errstr, errstr_size, "producer: %s", err);
		goto fail;
	}
	pc = NULL; /* owned by the producer now */
	/* Creating the output topics' handles now makes librdkafka fetch
	 * their metadata at start-up, not when the first alert waits. */
	{
		rd_kafka_topic_t *t1 =
		    rd_kafka_topic_new(p->producer, cfg->topic_alerts, NULL);
		rd_kafka_topic_t *t2 = rd_kafka_topic_new(
		    p->producer, cfg->topic_deadletter, NULL);
		if (t1)
			rd_kafka_topic_destroy(t1);
		if (t2)
			rd_kafka_topic_destroy(t2);
	}
	p->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
	if (!p->consumer) {
		snprintf(errstr, errstr_size, "consumer: %s", err);
		goto fail;
	}
	cc = NULL;
	rd_kafka_poll_set_consumer(p->consumer);
	subs = rd_kafka_topic_partition_list_new(2);
	rd_kafka_topic_partition_list_add(subs, cfg->topic_results,
					  RD_KAFKA_PARTITION_UA);
	rd_kafka_topic_partition_list_add(subs, cfg->topic_notifications,
					  RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(p->consumer, subs)) {
		snprintf(errstr, errstr_size, "cannot subscribe");
		rd_kafka_topic_partition_list_destroy(subs);
		goto fail;
	}
	rd_kafka_topic_partition_list_destroy(subs);
	return p;
fail:
	if (cc)
		rd_kafka_conf_destroy(cc);
	if (pc)
		rd_kafka_conf_destroy(pc);
	lw_processor_destroy(p);
	return NULL;
}

static void log_stats(lw_processor *p, const char *prefix)
{
	lw_processor_stats s;
	lw_processor_get_stats(p, &s);
	lw_log(
	    LW_LOG_INFO,
	    "%s consumed=%llu results=%llu notifications=%llu duplicates=%llu "
	    "deadletter=%llu key_mismatch=%llu alerts=%llu "
	    "(result_mismatch=%llu stale_version=%llu wrong_recipient=%llu "
	    "fanout=%llu record_mismatch=%llu) replay_suppressed=%llu "
	    "delivered=%llu held=%llu delivery_errors=%llu specimens=%llu "
	    "state_bytes=%llu expired=%llu evicted=%llu commits=%llu "
	    "restoring=%d",
	    prefix,
	    (unsigned long long)(s.engine.consumed[0] + s.engine.consumed[1]),
	    (unsigned long long)s.engine.applied[LW_TOPIC_RESULTS],
	    (unsigned long long)s.engine.applied[LW_TOPIC_NOTIFICATIONS],
	    (unsigned long long)s.engine.duplicates,
	    (unsigned long long)s.engine.deadletter_total,
	    (unsigned long long)s.engine.key_mismatch,
	    (unsigned long long)s.engine.alerts_total,
	    (unsigned long long)s.engine.alerts[LW_RULE_RESULT_MISMATCH],
	    (unsigned long long)s.engine.alerts[LW_RULE_STALE_VERSION],
	    (unsigned long long)s.engine.alerts[LW_RULE_WRONG_RECIPIENT],
	    (unsigned long long)s.engine.alerts[LW_RULE_FANOUT],
	    (unsigned long long)s.engine.alerts[LW_RULE_RECORD_MISMATCH],
	    (unsigned long long)s.engine.alerts_suppressed_replay,
	    (unsigned long long)s.alerts_delivered, (unsigned long long)s.held,
	    (unsigned long long)s.delivery_errors,
	    (unsigned long long)s.state.specimens,
	    (unsigned long long)s.state.bytes,
	    (unsigned long long)s.state.expired,
	    (unsigned long long)s.state.evicted, (unsigned long long)s.commits,
	    s.restoring);
	lw_log(
	    LW_LOG_INFO,
	    "%s stream_time=%lld late=%llu (behind_watermark=%llu "
	    "after_timer=%llu beyond_ttl=%llu) timers_run=%llu "
	    "missing_notification=%llu corrected_after_notify=%llu "
	    "orphan_notification=%llu sent_before_final=%llu "
	    "sent_after_withdrawal=%llu fanin=%llu volume_surge=%llu "
	    "watermark_suppressed=%llu fanin_recipients=%llu "
	    "fanin_bytes=%llu sweeps=%llu sweep_ms=%lld",
	    prefix, (long long)s.engine.watermark_ms,
	    (unsigned long long)s.engine.late_total,
	    (unsigned long long)(s.engine.late[0][0] + s.engine.late[1][0]),
	    (unsigned long long)(s.engine.late[0][1] + s.engine.late[1][1]),
	    (unsigned long long)(s.engine.late[0][2] + s.engine.late[1][2]),
	    (unsigned long long)s.engine.timers_run,
	    (unsigned long long)s.engine.alerts[LW_RULE_MISSING_NOTIFICATION],
	    (unsigned long long)s.engine.alerts[LW_RULE_CORRECTED_AFTER_NOTIFY],
	    (unsigned long long)s.engine.alerts[LW_RULE_ORPHAN_NOTIFICATION],
	    (unsigned long long)s.engine.alerts[LW_RULE_SENT_BEFORE_FINAL],
	    (unsigned long long)s.engine.alerts[LW_RULE_SENT_AFTER_WITHDRAWAL],
	    (unsigned long long)s.engine.alerts[LW_RULE_FANIN],
	    (unsigned long long)s.engine.alerts[LW_RULE_VOLUME_SURGE],
	    (unsigned long long)s.engine.alerts_suppressed_watermark,
	    (unsigned long long)s.engine.fanin.recipients,
	    (unsigned long long)s.engine.fanin.bytes,
	    (unsigned long long)s.sweeps, (long long)s.sweep_ms);
}

static void handle_message(lw_processor *p, rd_kafka_message_t *rkm)
{
	lw_msg m;
	const char *tname;
	rd_kafka_timestamp_type_t tstype;
	if (rkm->err) {
		if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			int t =
			    rkm->rkt
				? topic_index(p, rd_kafka_topic_name(rkm->rkt))
				: -1;
			if (t >= 0)
				lw_engine_source_at_end(p->eng, t,
							rkm->partition);
		} else {
			lw_log_limited(&p->rl_consume, LW_LOG_WARN,
				       "consume error: %s",
				       rd_kafka_message_errstr(rkm));
		}
		return;
	}
	tname = rd_kafka_topic_name(rkm->rkt);
	m.topic = topic_index(p, tname);
	if (m.topic < 0)
		return;
	/* our own copy of the name: a deferred update keeps this lw_msg
	 * after the message (and maybe its topic handle) is gone */
	m.topic_name = p->topic_names[m.topic];
	m.partition = rkm->partition;
	m.offset = rkm->offset;
	m.timestamp_ms = rd_kafka_message_timestamp(rkm, &tstype);
	m.key = rkm->key;
	m.key_len = rkm->key_len;
	m.value = rkm->payload;
	m.value_len = rkm->len;
	p->st.last_message_ms = lw_mono_ms();
	if (!p->st.first_message_ms)
		p->st.first_message_ms = p->st.last_message_ms;
	if (lw_progress_replayed(p->pg, m.topic, m.partition, m.offset))
		p->st.replayed_events++;
	lw_engine_process(p->eng, &m);
	lw_progress_processed(p->pg, m.topic, m.partition, m.offset);
}

static void housekeeping(lw_processor *p, int idle)
{
	int64_t now = lw_mono_ms();
	int restoring;
	sweep_step(p, idle ? SWEEP_BUDGET * 16 : SWEEP_BUDGET);
	lw_engine_housekeeping(p->eng, idle ? 1024 : 64);
	restoring = lw_progress_restoring(p->pg);
	if (p->was_restoring && !restoring) {
		lw_state_stats ss;
		lw_state_get_stats(lw_engine_state(p->eng), &ss);
		p->st.restore_ms = now - p->restore_start_ms;
		lw_log(LW_LOG_INFO,
		       "restore complete: re-read %llu events in %lld ms; "
		       "state holds %llu specimens",
		       (unsigned long long)p->st.replayed_events,
		       (long long)p->st.restore_ms,
		       (unsigned long long)ss.specimens);
		p->was_restoring = 0;
	}
	if (now - p->last_commit_ms >= p->cfg->commit_interval_ms) {
		commit(p, 0);
		p->last_commit_ms = now;
	}
	if (p->cfg->stats_interval_ms > 0 &&
	    now - p->last_stats_ms >= p->cfg->stats_interval_ms) {
		if (p->last_stats_ms)
			log_stats(p, "stats:");
		p->last_stats_ms = now;
	}
}

/* Polls what is already fetched, up to BATCH messages, into p->batch, so
 * the engine can be told about each message a few messages ahead
 * (lw_engine_hint). A rebalance is served inside a poll: the messages
 * collected before it belong to the old assignment, whose progress the
 * revocation has committed and whose state it has reset, so they are
 * dropped unprocessed (the new owner, maybe us, reads them again from the
 * committed offsets), exactly as librdkafka drops the ones still queued. */
static size_t collect(lw_processor *p)
{
	size_t n = 0;
	uint64_t gen = p->rebalances;
	rd_kafka_message_t *rkm = rd_kafka_consumer_poll(p->consumer, 100);
	while (rkm) {
		if (p->rebalances != gen) {
			for (size_t i = 0; i < n; i++)
				rd_kafka_message_destroy(p->batch[i]);
			n = 0;
			gen = p->rebalances;
		}
		p->batch[n++] = rkm;
		if (n >= BATCH)
			break;
		rkm = rd_kafka_consumer_poll(p->consumer, 0);
	}
	return n;
}

static void hint(lw_processor *p, const rd_kafka_message_t *rkm)
{
	lw_msg m = {0};
	if (rkm->err)
		return;
	m.key = rkm->key;
	m.key_len = rkm->key_len;
	m.value = rkm->payload;
	lw_engine_hint(p->eng, &m);
}

int lw_processor_run(lw_processor *p, volatile sig_atomic_t *stop)
{
	int rc = 0;
	p->last_commit_ms = p->last_stats_ms = lw_mono_ms();
	while (!*stop && !p->fatal) {
		size_t n = collect(p);
		for (size_t i = 0; i < n; i++) {
			if (i + LW_ENGINE_AHEAD < n)
				hint(p, p->batch[i + LW_ENGINE_AHEAD]);
			handle_message(p, p->batch[i]);
			rd_kafka_message_destroy(p->batch[i]);
		}
		lw_engine_flush(p->eng);
		rd_kafka_poll(p->producer, 0);
		housekeeping(p, n == 0);
		if (p->hooks.should_stop &&
		    p->hooks.should_stop(p->hooks.opaque, p))
			break;
	}
	if (p->fatal)
		return 1;
	lw_engine_flush(p->eng);
	/* Orderly shutdown: everything consumed so far is processed; wait
	 * for its alerts to be acknowledged, commit, leave the group. */
	lw_log(LW_LOG_INFO, "shutting down: flushing %llu deliveries",
	       (unsigned long long)lw_progress_held(p->pg));
	if (rd_kafka_flush(p->producer, (int)p->cfg->shutdown_timeout_ms)) {
		lw_log(LW_LOG_ERROR,
		       "shutdown: %d deliveries not acknowledged within %lld "
		       "ms; their input is not committed and will be re-read",
		       rd_kafka_outq_len(p->producer),
		       (long long)p->cfg->shutdown_timeout_ms);
		rc = 2;
	}
	p->commit_dirty = 1;
	commit(p, 1);
	log_stats(p, "exit:");
	rd_kafka_consumer_close(p->consumer);
	return rc;
}

void lw_processor_get_stats(lw_processor *p, lw_processor_stats *out)
{
	p->st.held = lw_progress_held(p->pg);
	p->st.timer_inflight = p->timer_inflight;
	p->st.settled_ms = lw_engine_settled_watermark(p->eng);
	p->st.restoring = lw_progress_restoring(p->pg);
	lw_engine_get_stats(p->eng, &p->st.engine);
	lw_state_get_stats(lw_engine_state(p->eng), &p->st.state);
	*out = p->st;
}

void lw_processor_destroy(lw_processor *p)
{
	if (!p)
		return;
	if (p->consumer)
		rd_kafka_destroy(p->consumer);
	if (p->producer)
		rd_kafka_destroy(p->producer);
	lw_engine_destroy(p->eng);
	lw_progress_destroy(p->pg);
	lw_registry_destroy(p->reg);
	lw_buf_free(&p->out);
	lw_buf_free(&p->json);
	free(p);
}
