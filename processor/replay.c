/* replay: collect, order canonically, run the engine, sort, print.
 *
 * Design: replay is bounded by the input it is given, so it loads every
 * message (copying key and value) before processing. That is what makes
 * the order canonical: a streaming pass could only order within what it
 * has seen. Each message is decoded once up front for its event time and
 * specimen ID; undecodable ones sort by their Kafka timestamp and only
 * count towards the dead-letter summary. Growth updates are flushed once,
 * at the end, so revisions do not depend on batch boundaries. Memory: the
 * input plus the join state. */
#include "replay.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "codec.h"
#include "dumpfile.h"
#include "engine.h"
#include "log.h"
#include "registry.h"
#include "schemas.h"
#include "xmalloc.h"

typedef struct rmsg {
	int topic;
	int32_t partition;
	int64_t offset;
	int64_t timestamp_ms;
	int64_t event_ms;
	unsigned char *key; /* NULL = null key */
	size_t key_len;
	unsigned char *value; /* NULL = null value */
	size_t value_len;
} rmsg;

typedef struct ralert {
	int64_t fired_at;
	char alert_id[33];
	uint32_t revision;
	char *json;
	unsigned char *avro; /* only when producing to a topic */
	size_t avro_len;
} ralert;

typedef struct replay {
	const lw_config *cfg;
	const char *from; /* "topic:partition:offset,..." or NULL */
	const char *topic_names[LW_TOPIC_COUNT];
	rmsg *m;
	size_t n, cap;
	ralert *a;
	size_t na, capa;
	lw_buf json;
	lw_buf avro;
	int produce; /* keep the Avro encoding for --produce */
} replay;

static void add_msg(replay *r, int topic, int32_t partition, int64_t offset,
		    int64_t ts, const void *key, size_t key_len,
		    const void *value, size_t value_len)
{
	rmsg *x;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 4096;
		r->m = lw_xrealloc(r->m, r->cap * sizeof *r->m);
	}
	x = &r->m[r->n++];
	x->topic = topic;
	x->partition = partition;
	x->offset = offset;
	x->timestamp_ms = ts;
	x->event_ms = ts;
	x->key = key ? lw_xmalloc(key_len ? key_len : 1) : NULL;
	if (key_len)
		memcpy(x->key, key, key_len);
	x->key_len = key_len;
	x->value = value ? lw_xmalloc(value_len ? value_len : 1) : NULL;
	if (value_len)
		memcpy(x->value, value, value_len);
	x->value_len = value_len;
}

static int topic_of(const replay *r, const char *name)
{
	for (int t = 0; t < LW_TOPIC_COUNT; t++)
		if (strcmp(r->topic_names[t], name) == 0)
			return t;
	return -1;
}

/* The user's librdkafka properties for one side ("consumer" or
 * "producer"): bare ones and that side's prefixed ones; bootstrap.servers
 * is set by the caller. */
static int pass_through(rd_kafka_conf_t *conf, const lw_config *cfg,
			const char *side, char *err, size_t errsz)
{
	size_t n = strlen(side);
	for (int i = 0; i < cfg->rk_n; i++) {
		const char *k = cfg->rk_keys[i];
		int mine = strncmp(k, side, n) == 0 && k[n] == '.';
		int other = !mine && (strncmp(k, "consumer.", 9) == 0 ||
				      strncmp(k, "producer.", 9) == 0);
		if (other || strcmp(k, "bootstrap.servers") == 0)
			continue;
		if (rd_kafka_conf_set(conf, mine ? k + n + 1 : k,
				      cfg->rk_vals[i], err, errsz))
			return -1;
	}
	return 0;
}

static int load_file(replay *r, const char *path, char *err, size_t errsz)
{
	lw_dump_reader *d = lw_dump_reader_open(path, err, errsz);
	lw_dump_record rec;
	int rc;
	if (!d)
		return -1;
	while ((rc = lw_dump_read(d, &rec, err, errsz)) == 1) {
		int t = topic_of(r, rec.topic);
		if (t < 0)
			continue;
		add_msg(r, t, rec.partition, rec.offset, rec.timestamp_ms,
			rec.key, rec.key ? (size_t)rec.key_len : 0, rec.value,
			rec.value ? (size_t)rec.value_len : 0);
	}
	lw_dump_reader_destroy(d);
	return rc < 0 ? -1 : 0;
}

/* The start offset --from gives for (topic, partition), or -1. */
static int64_t from_offset(const char *from, const char *topic, int32_t part)
{
	size_t tl = strlen(topic);
	for (const char *p = from; p && *p;) {
		const char *end = strchr(p, ',');
		char *e;
		if (strncmp(p, topic, tl) == 0 && p[tl] == ':') {
			long part2 = strtol(p + tl + 1, &e, 10);
			if (*e == ':' && part2 == part)
				return strtoll(e + 1, NULL, 10);
		}
		p = end ? end + 1 : NULL;
	}
	return -1;
}

/* "topic:partition:offset,..." with known topics. */
static int check_from(const replay *r, const char *from, char *err,
		      size_t errsz)
{
	for (const char *p = from; p && *p;) {
		const char *end = strchr(p, ',');
		const char *c1 = strchr(p, ':');
		char name[256], *e;
		size_t nl;
		if (!c1 || (end && c1 > end) ||
		    (nl = (size_t)(c1 - p)) >= sizeof name)
			goto bad;
		memcpy(name, p, nl);
		name[nl] = 0;
		if (topic_of(r, name) < 0)
			goto bad;
		if (strtol(c1 + 1, &e, 10) < 0 || *e != ':')
			goto bad;
		if (strtoll(e + 1, &e, 10) < 0 || (*e && *e != ','))
			goto bad;
		p = end ? end + 1 : NULL;
	}
	return 0;
bad:
	snprintf(err, errsz,
		 "--from: expected topic:partition:offset[,...] with input "
		 "topics, got \"%s\"",
		 from);
	return -1;
}

/* Reads every partition of both input topics from its low watermark (or
 * the --from offset) to its high watermark as they are now. No group
 * membership, no commits. */
static int load_kafka(replay *r, const char *brokers, char *err, size_t errsz)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *parts;
	const struct rd_kafka_metadata *md = NULL;
	int64_t *high;
	int remaining = 0, rc = -1;
	char group[64];
	snprintf(group, sizeof group, "labwatch-replay-%ld", (long)lw_now_ms());
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, errsz) ||
	    rd_kafka_conf_set(conf, "group.id", group, err, errsz) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err,
			      errsz) ||
	    rd_kafka_conf_set(conf, "enable.partition.eof", "false", err,
			      errsz)) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	if (pass_through(conf, r->cfg, "consumer", err, errsz)) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errsz);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	rd_kafka_poll_set_consumer(rk);
	parts = rd_kafka_topic_partition_list_new(64);
	if (rd_kafka_metadata(rk, 1, NULL, &md, 30000)) {
		snprintf(err, errsz, "cannot read topic metadata from %s",
			 brokers);
		goto out;
	}
	for (int i = 0; i < md->topic_cnt; i++) {
		int t = topic_of(r, md->topics[i].topic);
		if (t < 0)
			continue;
		for (int p = 0; p < md->topics[i].partition_cnt; p++)
			rd_kafka_topic_partition_list_add(
			    parts, md->topics[i].topic,
			    md->topics[i].partitions[p].id);
	}
	high = lw_xcalloc((size_t)parts->cnt + 1, sizeof *high);
	for (int i = 0; i < parts->cnt; i++) {
		int64_t lo = 0, hi = 0;
		rd_kafka_topic_partition_t *tp = &parts->elems[i];
		if (rd_kafka_query_watermark_offsets(
			rk, tp->topic, tp->partition, &lo, &hi, 30000)) {
			snprintf(err, errsz, "cannot read watermarks of %s/%d",
				 tp->topic, (int)tp->partition);
			free(high);
			goto out;
		}
		tp->offset = lo;
		if (r->from) {
			int64_t f =
			    from_offset(r->from, tp->topic, tp->partition);
			if (f > lo)
				tp->offset = f < hi ? f : hi;
		}
		high[i] = hi;
		remaining += hi > tp->offset;
	}
	rd_kafka_assign(rk, parts);
	while (remaining > 0 && !lw_cli_stop) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
		int t;
		if (!m)
			continue;
		if (m->err) {
			lw_log(LW_LOG_WARN, "replay: %s",
			       rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		t = topic_of(r, rd_kafka_topic_name(m->rkt));
		for (int i = 0; t >= 0 && i < parts->cnt; i++) {
			rd_kafka_topic_partition_t *tp = &parts->elems[i];
			if (tp->partition != m->partition ||
			    strcmp(tp->topic, rd_kafka_topic_name(m->rkt)))
				continue;
			if (m->offset < high[i] && m->offset >= tp->offset) {
				add_msg(r, t, m->partition, m->offset,
					rd_kafka_message_timestamp(m, NULL),
					m->key, m->key_len, m->payload, m->len);
				if (m->offset + 1 >= high[i])
					remaining--;
			}
			break;
		}
		rd_kafka_message_destroy(m);
	}
	free(high);
	rc = lw_cli_stop ? -1 : 0;
	if (rc)
		snprintf(err, errsz, "interrupted");
out:
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return rc;
}

static int cmp_bytes(const unsigned char *a, size_t an, const unsigned char *b,
		     size_t bn)
{
	int c;
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an > bn) - (an < bn);
}

/* The canonical order: nothing here depends on partitions or offsets. */
static int cmp_msg(const void *x, const void *y)
{
	const rmsg *a = x, *b = y;
	int c;
	if (a->event_ms != b->event_ms)
		return a->event_ms < b->event_ms ? -1 : 1;
	if (a->topic != b->topic)
		return a->topic - b->topic;
	c = cmp_bytes(a->key, a->key_len, b->key, b->key_len);
	return c ? c
		 : cmp_bytes(a->value, a->value_len, b->value, b->value_len);
}

static int cmp_alert(const void *x, const void *y)
{
	const ralert *a = x, *b = y;
	int c;
	if (a->fired_at != b->fired_at)
		return a->fired_at < b->fired_at ? -1 : 1;
	c = strcmp(a->alert_id, b->alert_id);
	return c ? c
		 : (a->revision > b->revision) - (a->revision < b->revision);
}

static void on_alert(void *opaque, const lw_alert *a, const lw_msg *cause)
{
	replay *r = opaque;
	lw_alert copy = *a;
	ralert *x;
	(void)cause;
	/* The event time at which the rule fired: the newest event involved,
	 * or a timer's due time. */
	copy.detected_at = a->fired_at;
	lw_buf_reset(&r->json);
	lw_alert_encode_json(&copy, r->topic_names, &r->json);
	if (r->na == r->capa) {
		r->capa = r->capa ? r->capa * 2 : 256;
		r->a = lw_xrealloc(r->a, r->capa * sizeof *r->a);
	}
	x = &r->a[r->na++];
	x->fired_at = a->fired_at;
	memcpy(x->alert_id, a->alert_id, sizeof x->alert_id);
	x->revision = a->revision;
	x->json = lw_xstrndup((const char *)r->json.data, r->json.len);
	x->avro = NULL;
	x->avro_len = 0;
	if (r->produce) {
		lw_buf_reset(&r->avro);
		lw_alert_encode_avro(&copy, LW_SCHEMA_ID_ALERT, r->topic_names,
				     &r->avro);
		x->avro = lw_xmalloc(r->avro.len);
		memcpy(x->avro, r->avro.data, r->avro.len);
		x->avro_len = r->avro.len;
	}
}

/* Writes the sorted alerts to topic.alerts, keyed by alert_id like the
 * live processor, and waits for every acknowledgement. */
static int produce_alerts(replay *r, const char *brokers, char *err,
			  size_t errsz)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	int rc = 0;
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, errsz) ||
	    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, errsz)) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	if (pass_through(conf, r->cfg, "producer", err, errsz)) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errsz);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	for (size_t i = 0; i < r->na && !rc; i++) {
		rd_kafka_resp_err_t e;
		do {
			e = rd_kafka_producev(
			    rk, RD_KAFKA_V_TOPIC(r->cfg->topic_alerts),
			    RD_KAFKA_V_KEY(r->a[i].alert_id, 32),
			    RD_KAFKA_V_VALUE(r->a[i].avro, r->a[i].avro_len),
			    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			    RD_KAFKA_V_END);
			if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
				rd_kafka_poll(rk, 50);
		} while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
		if (e) {
			snprintf(err, errsz, "cannot produce to %s: %s",
				 r->cfg->topic_alerts, rd_kafka_err2str(e));
			rc = -1;
		}
	}
	if (!rc && rd_kafka_flush(rk, 60000)) {
		snprintf(err, errsz, "alerts not acknowledged within 60 s");
		rc = -1;
	}
	rd_kafka_destroy(rk);
	return rc;
}

static void on_dlq(void *opaque, const lw_msg *m, const char *reason,
		   const char *detail, int32_t schema_id, int processed)
{
	(void)opaque;
	(void)m;
	(void)reason;
	(void)detail;
	(void)schema_id;
	(void)processed;
}

/* Event time of each message, for the canonical order. */
static void stamp_event_times(replay *r, const lw_registry *reg)
{
	lw_codec *c = lw_codec_new(reg);
	char detail[256];
	int32_t id;
	for (size_t i = 0; i < r->n; i++) {
		rmsg *m = &r->m[i];
		if (m->topic == LW_TOPIC_RESULTS) {
			lw_result_event ev;
			if (lw_codec_decode_result(
				c, m->value, m->value_len, &ev, &id, detail,
				sizeof detail) == LW_DECODE_OK)
				m->event_ms = ev.recorded_at;
		} else {
			lw_notification_event ev;
			if (lw_codec_decode_notification(
				c, m->value, m->value_len, &ev, &id, detail,
				sizeof detail) == LW_DECODE_OK)
				m->event_ms = ev.sent_at;
		}
	}
	lw_codec_destroy(c);
}

static int on_extra(int opt, const char *arg, void *opaque)
{
	const char **v = opaque;
	if (opt == 2000)
		v[0] = arg;
	else if (opt == 2001)
		v[1] = arg;
	else if (opt == 2002)
		v[2] = arg;
	else if (opt == 2003)
		v[3] = "1";
	else
		return -1;
	return 0;
}

int lw_replay_main(int argc, char **argv)
{
	static const struct option extra[] = {
	    {"file", required_argument, NULL, 2000},
	    {"output", required_argument, NULL, 2001},
	    {"from", required_argument, NULL, 2002},
	    {"produce", no_argument, NULL, 2003},
	};
	const char *opt[4] = {NULL, NULL, NULL, NULL}; /* file, output, from,
							  produce */
	lw_config cfg;
	replay r;
	lw_registry *reg = NULL;
	lw_engine *eng = NULL;
	lw_engine_config ec;
	lw_engine_callbacks cb = {on_alert, on_dlq, NULL, NULL};
	lw_engine_stats st;
	const char *brokers, *dir;
	FILE *out = stdout;
	char err[512] = "";
	int rc = 1;
	int64_t t0 = lw_mono_ms();

	memset(&r, 0, sizeof r);
	lw_config_init(&cfg);
	rc = lw_cli_parse(argc, argv, &cfg, extra, 4, on_extra, opt);
	if (rc < 0) {
		fprintf(rc == -2 ? stdout : stderr,
			"usage: labwatch replay (--file DUMP | -b BROKERS "
			"[--from TOPIC:PARTITION:OFFSET,...]) [--output FILE] "
			"[--produce] [-X key=value]...\n"
			"Reads the input topics (or a labwatch-gen --dump "
			"file) from the beginning to\n"
			"their current end, commits nothing, writes the alerts "
			"as JSON lines ordered by\n"
			"(detected_at, alert_id) and a summary on stderr. Same "
			"input, same bytes out.\n"
			"--produce also writes them (Avro) to topic.alerts on "
			"-b BROKERS (with --file, -b is then the output "
			"only).\n");
		lw_config_free(&cfg);
		return rc == -2 ? 0 : 64;
	}
	rc = 1;
	r.cfg = &cfg;
	r.topic_names[LW_TOPIC_RESULTS] = cfg.topic_results;
	r.topic_names[LW_TOPIC_NOTIFICATIONS] = cfg.topic_notifications;
	brokers = lw_config_rk_get(&cfg, "consumer", "bootstrap.servers");
	if (!opt[0] == !brokers && !(opt[0] && opt[3])) {
		snprintf(err, sizeof err, "give exactly one of --file or -b");
		goto out;
	}
	if (opt[3] && !brokers) {
		snprintf(err, sizeof err, "--produce needs -b BROKERS");
		goto out;
	}
	r.produce = opt[3] != NULL;
	if (opt[2] && (opt[0] || check_from(&r, opt[2], err, sizeof err))) {
		if (opt[0])
			snprintf(err, sizeof err,
				 "--from applies to Kafka replay (-b)");
		goto out;
	}
	r.from = opt[2];
	dir = cfg.registry_dir && *cfg.registry_dir ? cfg.registry_dir
						    : lw_default_registry_dir();
	reg = lw_registry_new(dir, err, sizeof err);
	if (!reg)
		goto out;
	lw_cli_install_signals();
	if (opt[0] ? load_file(&r, opt[0], err, sizeof err)
		   : load_kafka(&r, brokers, err, sizeof err))
		goto out;
	stamp_event_times(&r, reg);
	qsort(r.m, r.n, sizeof *r.m, cmp_msg);

	lw_engine_config_from(&ec, &cfg);
	ec.clock.idle_timeout_ms = 0; /* event time only */
	cb.opaque = &r;
	eng = lw_engine_new(&ec, reg, &cb);
	for (size_t i = 0; i < r.n; i++) {
		const rmsg *m = &r.m[i];
		if (i + LW_ENGINE_AHEAD < r.n) {
			const rmsg *a = &r.m[i + LW_ENGINE_AHEAD];
			lw_msg hint = {0};
			hint.key = a->key;
			hint.key_len = a->key_len;
			hint.value = a->value;
			lw_engine_hint(eng, &hint);
		}
		lw_msg msg = {m->topic,	       r.topic_names[m->topic],
			      m->partition,    m->offset,
			      m->timestamp_ms, m->key,
			      m->key_len,      m->value,
			      m->value_len};
		lw_engine_process(eng, &msg);
	}
	/* Timers due by the final stream time fire; later ones are not
	 * decided (their events may still come). Growth is sent once, at the
	 * end: each incident's first alert (when it fired) and, if it grew,
	 * its final revision. Both depend only on the input. */
	lw_engine_tick(eng, SIZE_MAX);
	lw_engine_flush(eng);
	qsort(r.a, r.na, sizeof *r.a, cmp_alert);
	if (opt[1] && strcmp(opt[1], "-") && !(out = fopen(opt[1], "w"))) {
		snprintf(err, sizeof err, "cannot write %s", opt[1]);
		goto out;
	}
	for (size_t i = 0; i < r.na; i++)
		fprintf(out, "%s\n", r.a[i].json);
	if (out != stdout && fclose(out)) {
		snprintf(err, sizeof err, "cannot write %s", opt[1]);
		goto out;
	}
	if (r.produce && produce_alerts(&r, brokers, err, sizeof err))
		goto out;
	lw_engine_get_stats(eng, &st);
	{
		lw_state_stats ss;
		lw_state_get_stats(lw_engine_state(eng), &ss);
		fprintf(stderr,
			"labwatch replay: %zu messages (%llu results, %llu "
			"notifications applied, %llu duplicates, %llu "
			"dead-lettered), %zu alert messages in %lld ms\n",
			r.n, (unsigned long long)st.applied[LW_TOPIC_RESULTS],
			(unsigned long long)st.applied[LW_TOPIC_NOTIFICATIONS],
			(unsigned long long)st.duplicates,
			(unsigned long long)st.deadletter_total, r.na,
			(long long)(lw_mono_ms() - t0));
		fprintf(stderr, "labwatch replay: alerts by rule:");
		for (int k = 0; k < LW_RULE_COUNT; k++)
			fprintf(stderr, " %s=%llu", lw_rule_name(k),
				(unsigned long long)st.alerts[k]);
		fprintf(stderr,
			"\nlabwatch replay: stream time %lld; late events "
			"%llu (results: %llu/%llu/%llu, notifications: "
			"%llu/%llu/%llu as %s/%s/%s); state %llu specimens, "
			"%llu bytes (%.0f per specimen), fan-in %llu "
			"recipients, %llu bytes\n",
			(long long)st.watermark_ms,
			(unsigned long long)st.late_total,
			(unsigned long long)st.late[0][0],
			(unsigned long long)st.late[0][1],
			(unsigned long long)st.late[0][2],
			(unsigned long long)st.late[1][0],
			(unsigned long long)st.late[1][1],
			(unsigned long long)st.late[1][2],
			lw_engine_late_reason(0), lw_engine_late_reason(1),
			lw_engine_late_reason(2),
			(unsigned long long)ss.specimens,
			(unsigned long long)ss.bytes,
			ss.specimens ? (double)ss.bytes / (double)ss.specimens
				     : 0.0,
			(unsigned long long)st.fanin.recipients,
			(unsigned long long)st.fanin.bytes);
	}
	rc = 0;
out:
	if (err[0])
		fprintf(stderr, "labwatch replay: %s\n", err);
	lw_engine_destroy(eng);
	lw_registry_destroy(reg);
	for (size_t i = 0; i < r.n; i++) {
		free(r.m[i].key);
		free(r.m[i].value);
	}
	free(r.m);
	for (size_t i = 0; i < r.na; i++) {
		free(r.a[i].json);
		free(r.a[i].avro);
	}
	free(r.a);
	lw_buf_free(&r.json);
	lw_buf_free(&r.avro);
	lw_config_free(&cfg);
	return rc;
}
