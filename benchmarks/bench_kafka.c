/* bench_kafka: labwatch through Kafka at a fixed offered rate, measured by a
 * separate client, as a user would see it.
 *
 *   bench_kafka -b BROKERS [--rate R] [--seconds S] [--specimens N]
 *               [--seed S] [--linger-ms MS] [--drain-ms MS] [--settle-ms MS]
 *               [--warmup-ms MS] [--truth FILE] [--latency-log FILE]
 *               [--fetch-wait-ms MS] [-a ALERTS_TOPIC] [-X key=value]...
 *
 * Design. Two clients in one process, neither a member of labwatch's group:
 *   - the producer thread (main) runs the traffic generator (traffic.h) in
 *     process, all of it before the clock starts (in memory, so that its
 *     CPU does not compete with labwatch and the broker during the
 *     measurement; real producers run elsewhere), then produces every
 *     message to the input topics, paced by a
 *     token bucket at --rate messages/s (bucket depth 5 ms of tokens, so the
 *     offered load is smooth, not bursty). Each message's Kafka timestamp is
 *     the wall-clock time at which it was handed to librdkafka (not its
 *     event time), so that "produce time" is what the alert header
 *     `lw.cause.timestamp` (set by labwatch from the cause event's Kafka
 *     timestamp) refers to;
 *   - the consumer thread assigns every partition of the alerts topic from
 *     the beginning (the runner gives each run a fresh mock cluster), and for
 *     each alert message takes latency = receive time - lw.cause.timestamp
 *     and decodes (Avro C, the schema labwatch embeds) rule, specimen_id,
 *     revision and detected_at (labwatch's wall clock when it built the
 *     alert), which splits the latency into produce -> detection (the
 *     input path and labwatch's queueing) and detection -> arrival (the
 *     output path).
 * The generator runs the whole scenario (its truth is only complete then),
 * so --specimens is derived from rate x seconds (3.32 messages per
 * specimen with the generator's defaults) and the real duration is printed.
 * Latency percentiles leave out alerts caused in the first --warmup-ms
 * (default 1000) of producing: labwatch's producer learns the alerts
 * topic's metadata only at its first alert (up to 1 s); the warm-up
 * figures are printed apart. After the last produce the tool waits until
 * every incident of the truth has been alerted, then --settle-ms more for
 * growth revisions, or --drain-ms at most.
 *
 * Output: one key=value per line on stdout (the runner greps them); exit 0
 * when the alerted incidents (rule, specimen_id) equal the truth's, 1 when
 * some are missing or unexpected, 2 on a setup error.
 *
 * Cost: the pre-generated input is held in memory (~230 bytes per message,
 * ~230 MB for 20 s at 50k/s); latencies too (8 bytes per alert message). Clock:
 * CLOCK_REALTIME on both sides (one machine), millisecond timestamps, so a
 * latency is overstated by up to 1 ms. */
#include <avro.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "schemas.h"
#include "traffic.h"
#include "xmalloc.h"

#define MSGS_PER_SPECIMEN 3.32
#define MAX_PROPS	  64

/* ---- a set of strings (open addressing, FNV-1a), for incidents ---- */

typedef struct strset {
	char **slot;
	size_t cap, n;
} strset;

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static int strset_has(const strset *t, const char *s)
{
	size_t i;
	if (!t->cap)
		return 0;
	for (i = fnv(s) & (t->cap - 1); t->slot[i]; i = (i + 1) & (t->cap - 1))
		if (!strcmp(t->slot[i], s))
			return 1;
	return 0;
}

/* Adds a copy of s; returns 1 if it was new. */
static int strset_add(strset *t, const char *s)
{
	size_t i;
	if (strset_has(t, s))
		return 0;
	if ((t->n + 1) * 2 > t->cap) {
		strset old = *t;
		t->cap = old.cap ? old.cap * 2 : 1024;
		t->slot = lw_xcalloc(t->cap, sizeof *t->slot);
		t->n = 0;
		for (size_t k = 0; k < old.cap; k++)
			if (old.slot[k]) {
				for (i = fnv(old.slot[k]) & (t->cap - 1);
				     t->slot[i]; i = (i + 1) & (t->cap - 1))
					;
				t->slot[i] = old.slot[k];
				t->n++;
			}
		free(old.slot);
	}
	for (i = fnv(s) & (t->cap - 1); t->slot[i]; i = (i + 1) & (t->cap - 1))
		;
	t->slot[i] = lw_xstrdup(s);
	t->n++;
	return 1;
}

static void strset_free(strset *t)
{
	for (size_t k = 0; k < t->cap; k++)
		free(t->slot[k]);
	free(t->slot);
	memset(t, 0, sizeof *t);
}

/* ---- latencies ---- */

typedef struct series {
	int64_t *v; /* microseconds */
	size_t n, cap;
} series;

static void series_add(series *s, int64_t x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4096;
		s->v = lw_xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = x;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile in ms; the series must be sorted. */
static double pct_ms(const series *s, double p)
{
	size_t k;
	if (!s->n)
		return -1;
	k = (size_t)(p / 100.0 * (double)s->n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > s->n)
		k = s->n;
	return (double)s->v[k - 1] / 1000.0;
}

/* ---- shared state ---- */

typedef struct bench {
	/* configuration */
	const char *brokers, *alerts_topic;
	double rate;
	char *props[MAX_PROPS];
	int nprops;
	/* producer side (main thread) */
	rd_kafka_t *prod;
	rd_kafka_topic_t *rkt_results, *rkt_notifications;
	const char *results_topic;
	double tokens, burst, last_s;
	uint64_t produced, delivered, failed;
	int64_t first_produce_ms, last_produce_ms;
	/* consumer side (own thread) */
	rd_kafka_t *cons;
	pthread_t thread;
	volatile sig_atomic_t stop_consumer;
	int consumer_ready;
	int nparts;	       /* of the alerts topic */
	unsigned char *at_eof; /* per partition: reached its end once */
	int eof_count;
	pthread_mutex_t mu;	   /* guards everything below */
	strset seen;		   /* "RULE\tspecimen_id" */
	series lat_all, lat_first; /* after the warm-up */
	series lat_warm;	   /* causes within the warm-up */
	series lat_detect;	   /* detected_at - cause (labwatch's clock) */
	series lat_deliver;	   /* arrival - detected_at */
	int64_t warmup_end_ms;	   /* 0 until producing starts */
	uint64_t alert_msgs, no_header, undecodable, per_rule[8];
	int64_t last_alert_ms;
	int64_t warmup_ms;
	int fetch_wait_ms; /* the mock holds an empty fetch for the whole
			    * wait and does not answer early when data
			    * arrives (a broker does): keep it short */
	FILE *latlog; /* --latency-log: cause_ms latency_us revision rule */
	/* Avro C, owned by the consumer thread */
	avro_schema_t schema;
	avro_value_iface_t *iface;
	avro_value_t value;
	avro_reader_t reader;
} bench;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static const char *const rule_names[] = {"RESULT_MISMATCH", "STALE_VERSION",
					 "WRONG_RECIPIENT", "FANOUT",
					 "RECORD_MISMATCH"};
#define NRULES (sizeof rule_names / sizeof rule_names[0])

static int rule_index(const char *r)
{
	for (size_t i = 0; i < NRULES; i++)
		if (!strcmp(rule_names[i], r))
			return (int)i;
	return (int)NRULES; /* "other" */
}

static int apply_props(bench *b, rd_kafka_conf_t *conf, char *errstr,
		       size_t errstr_size)
{
	for (int i = 0; i < b->nprops; i++) {
		char key[256];
		const char *eq = strchr(b->props[i], '=');
		size_t kl;
		if (!eq || (kl = (size_t)(eq - b->props[i])) >= sizeof key) {
			snprintf(errstr, errstr_size,
				 "-X %s: expected key=value", b->props[i]);
			return -1;
		}
		memcpy(key, b->props[i], kl);
		key[kl] = '\0';
		if (rd_kafka_conf_set(conf, key, eq + 1, errstr, errstr_size) !=
		    RD_KAFKA_CONF_OK)
			return -1;
	}
	return 0;
}

/* ---- the alerts consumer ---- */

static const char *get_str(avro_value_t *rec, const char *name)
{
	avro_value_t f, branch;
	const char *s = NULL;
	size_t len;
	if (avro_value_get_by_name(rec, name, &f, NULL))
		return NULL;
	if (avro_value_get_type(&f) == AVRO_UNION) {
		if (avro_value_get_current_branch(&f, &branch))
			return NULL;
		f = branch;
	}
	if (avro_value_get_type(&f) != AVRO_STRING ||
	    avro_value_get_string(&f, &s, &len))
		return NULL;
	return s;
}

static void handle_alert(bench *b, const rd_kafka_message_t *m, int64_t now_us)
{
	rd_kafka_headers_t *hdrs = NULL;
	const void *hv = NULL;
	size_t hl = 0;
	int64_t cause_ms = -1;
	const unsigned char *p = m->payload;
	const char *rule = NULL, *sid = NULL;
	int32_t revision = 0;
	int64_t detected_ms = -1;
	char key[512];

	if (!rd_kafka_message_headers(m, &hdrs) &&
	    !rd_kafka_header_get_last(hdrs, "lw.cause.timestamp", &hv, &hl) &&
	    hv && hl > 0 && hl < 32) {
		char num[32];
		memcpy(num, hv, hl);
		num[hl] = '\0';
		cause_ms = strtoll(num, NULL, 10);
	}
	if (p && m->len > 5 && p[0] == 0) {
		avro_value_t f;
		avro_value_reset(&b->value);
		avro_reader_memory_set_source(b->reader, (const char *)p + 5,
					      (int64_t)m->len - 5);
		if (!avro_value_read(b->reader, &b->value)) {
			rule = get_str(&b->value, "rule");
			sid = get_str(&b->value, "specimen_id");
			if (sid && !*sid)
				sid = "-"; /* VOLUME_SURGE: the truth's "-" */
			if (!avro_value_get_by_name(&b->value, "revision", &f,
						    NULL))
				avro_value_get_int(&f, &revision);
			if (!avro_value_get_by_name(&b->value, "detected_at",
						    &f, NULL))
				avro_value_get_long(&f, &detected_ms);
		}
	}
	pthread_mutex_lock(&b->mu);
	b->alert_msgs++;
	b->last_alert_ms = now_us / 1000;
	if (cause_ms > 0 &&
	    (!b->warmup_end_ms || cause_ms < b->warmup_end_ms)) {
		series_add(&b->lat_warm, now_us - cause_ms * 1000);
	} else if (cause_ms > 0) {
		series_add(&b->lat_all, now_us - cause_ms * 1000);
		if (revision == 1)
			series_add(&b->lat_first, now_us - cause_ms * 1000);
		if (detected_ms > 0) {
			series_add(&b->lat_detect,
				   (detected_ms - cause_ms) * 1000);
			series_add(&b->lat_deliver,
				   now_us - detected_ms * 1000);
		}
	} else {
		b->no_header++;
	}
	if (b->latlog)
		fprintf(b->latlog, "%" PRId64 "\t%" PRId64 "\t%d\t%s\n",
			cause_ms, now_us - cause_ms * 1000, (int)revision,
			rule ? rule : "?");
	if (rule && sid) {
		b->per_rule[rule_index(rule)]++;
		snprintf(key, sizeof key, "%s\t%s", rule, sid);
		strset_add(&b->seen, key);
	} else {
		b->undecodable++;
	}
	pthread_mutex_unlock(&b->mu);
}

static void *consumer_main(void *opaque)
{
	bench *b = opaque;
	while (!b->stop_consumer) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(b->cons, 50);
		int64_t now = wall_us();
		if (!m)
			continue;
		if (!m->err) {
			handle_alert(b, m, now);
		} else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			pthread_mutex_lock(&b->mu);
			if (m->partition >= 0 && m->partition < b->nparts &&
			    !b->at_eof[m->partition]) {
				b->at_eof[m->partition] = 1;
				b->eof_count++;
			}
			pthread_mutex_unlock(&b->mu);
		} else {
			fprintf(stderr, "bench_kafka: consume: %s\n",
				rd_kafka_message_errstr(m));
		}
		rd_kafka_message_destroy(m);
	}
	return NULL;
}

/* Creates the consumer and assigns every partition of the alerts topic
 * from the beginning (waiting up to 15 s for the topic to exist), then
 * waits (10 s at most) until every partition has reported its end once:
 * only then is the consumer fetching, and only then may the clock start,
 * or the first alerts would wait for the consumer's own start-up. */
static int consumer_start(bench *b)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_t *rkt;
	const rd_kafka_metadata_t *md = NULL;
	rd_kafka_topic_partition_list_t *parts;
	int nparts = 0;
	double deadline = mono_s() + 15;
	char wait[32];
	static const char *const defaults[][2] = {
	    /* assign() wants a group.id; the group is never joined */
	    {"group.id", "bench-kafka"},
	    {"enable.auto.commit", "false"},
	    {"enable.auto.offset.store", "false"},
	    /* EOF events tell when every partition is being fetched */
	    {"enable.partition.eof", "true"},
	    {"auto.offset.reset", "earliest"},
	    {"fetch.error.backoff.ms", "10"},
	    {"client.id", "bench-kafka-alerts"},
	};
	if (rd_kafka_conf_set(conf, "bootstrap.servers", b->brokers, errstr,
			      sizeof errstr) != RD_KAFKA_CONF_OK)
		goto conf_fail;
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1],
				      errstr,
				      sizeof errstr) != RD_KAFKA_CONF_OK)
			goto conf_fail;
	snprintf(wait, sizeof wait, "%d", b->fetch_wait_ms);
	if (rd_kafka_conf_set(conf, "fetch.wait.max.ms", wait, errstr,
			      sizeof errstr) != RD_KAFKA_CONF_OK)
		goto conf_fail;
	b->cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
	if (!b->cons)
		goto conf_fail;
	rkt = rd_kafka_topic_new(b->cons, b->alerts_topic, NULL);
	while (mono_s() < deadline && !g_stop) {
		if (rd_kafka_metadata(b->cons, 0, rkt, &md, 2000) ==
			RD_KAFKA_RESP_ERR_NO_ERROR &&
		    md->topic_cnt == 1 && !md->topics[0].err &&
		    md->topics[0].partition_cnt > 0) {
			nparts = md->topics[0].partition_cnt;
			rd_kafka_metadata_destroy(md);
			break;
		}
		if (md)
			rd_kafka_metadata_destroy(md);
		md = NULL;
		sleep_ms(200);
	}
	rd_kafka_topic_destroy(rkt);
	if (!nparts) {
		fprintf(stderr, "bench_kafka: topic %s not found\n",
			b->alerts_topic);
		return -1;
	}
	b->nparts = nparts;
	b->at_eof = lw_xcalloc((size_t)nparts, 1);
	parts = rd_kafka_topic_partition_list_new(nparts);
	for (int i = 0; i < nparts; i++)
		rd_kafka_topic_partition_list_add(parts, b->alerts_topic, i)
		    ->offset = RD_KAFKA_OFFSET_BEGINNING;
	if (rd_kafka_assign(b->cons, parts)) {
		fprintf(stderr, "bench_kafka: assign failed\n");
		rd_kafka_topic_partition_list_destroy(parts);
		return -1;
	}
	rd_kafka_topic_partition_list_destroy(parts);
	fprintf(stderr, "bench_kafka: consuming %s (%d partitions)\n",
		b->alerts_topic, nparts);
	if (pthread_create(&b->thread, NULL, consumer_main, b)) {
		fprintf(stderr, "bench_kafka: pthread_create failed\n");
		return -1;
	}
	b->consumer_ready = 1;
	deadline = mono_s() + 10;
	while (mono_s() < deadline && !g_stop) {
		int n;
		pthread_mutex_lock(&b->mu);
		n = b->eof_count;
		pthread_mutex_unlock(&b->mu);
		if (n >= nparts)
			break;
		sleep_ms(20);
	}
	if (b->eof_count < nparts)
		fprintf(stderr,
			"bench_kafka: only %d of %d alert partitions "
			"fetched after 10 s; going on\n",
			b->eof_count, nparts);
	return 0;
conf_fail:
	fprintf(stderr, "bench_kafka: consumer: %s\n", errstr);
	if (!b->cons)
		rd_kafka_conf_destroy(conf);
	return -1;
}

/* ---- the producer ---- */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	bench *b = opaque;
	(void)rk;
	if (m->err) {
		if (b->failed++ < 5)
			fprintf(stderr, "bench_kafka: delivery failed: %s\n",
				rd_kafka_err2str(m->err));
	} else {
		b->delivered++;
	}
}

static int producer_start(bench *b)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	static const char *const defaults[][2] = {
	    {"enable.idempotence", "true"},
	    /* the partition Java clients choose for a key, as labwatch-gen */
	    {"partitioner", "murmur2_random"},
	    {"client.id", "bench-kafka-producer"},
	};
	if (rd_kafka_conf_set(conf, "bootstrap.servers", b->brokers, errstr,
			      sizeof errstr) != RD_KAFKA_CONF_OK)
		goto conf_fail;
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1],
				      errstr,
				      sizeof errstr) != RD_KAFKA_CONF_OK)
			goto conf_fail;
	if (apply_props(b, conf, errstr, sizeof errstr))
		goto conf_fail;
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_conf_set_opaque(conf, b);
	b->prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
	if (!b->prod)
		goto conf_fail;
	return 0;
conf_fail:
	fprintf(stderr, "bench_kafka: producer: %s\n", errstr);
	rd_kafka_conf_destroy(conf);
	return -1;
}

/* Token bucket: returns when one token is available. While waiting it
 * serves delivery reports, then sleeps at least 1 ms (a sleep per message
 * would cost more CPU than the produce itself at 50k/s, and the client
 * shares the machine with labwatch and the broker); the bucket depth
 * (5 ms of tokens) absorbs that granularity and timer slack, so the
 * offered rate stays exact and smooth at the millisecond scale. */
static void pace(bench *b)
{
	for (;;) {
		double now = mono_s(), wait;
		struct timespec ts;
		b->tokens += (now - b->last_s) * b->rate;
		b->last_s = now;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
		if (b->tokens >= 1.0) {
			b->tokens -= 1.0;
			return;
		}
		wait = (1.0 - b->tokens) / b->rate;
		if (wait < 0.001)
			wait = 0.001;
		rd_kafka_poll(b->prod, 0);
		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}

/* Before the clock starts: connect, fetch the input topics' metadata and
 * acquire the idempotent producer ID by delivering one message to a topic
 * of its own (auto-created), so the first events do not carry start-up
 * latency that a long-running producer never pays. */
static void producer_warmup(bench *b)
{
	const rd_kafka_metadata_t *md = NULL;
	rd_kafka_topic_t *rkt;
	for (int i = 0; i < 2; i++) {
		rkt = i ? b->rkt_notifications : b->rkt_results;
		if (rd_kafka_metadata(b->prod, 0, rkt, &md, 5000) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR)
			rd_kafka_metadata_destroy(md);
		md = NULL;
	}
	rkt = rd_kafka_topic_new(b->prod, "bench.warmup", NULL);
	if (!rd_kafka_producev(b->prod, RD_KAFKA_V_RKT(rkt),
			       RD_KAFKA_V_VALUE((void *)"warmup", 6),
			       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			       RD_KAFKA_V_END) &&
	    rd_kafka_flush(b->prod, 5000))
		fprintf(stderr, "bench_kafka: warm-up message not delivered\n");
	rd_kafka_topic_destroy(rkt);
	b->delivered = b->failed = 0;
}

static int on_msg(const lw_traffic_msg *m, void *opaque)
{
	bench *b = opaque;
	rd_kafka_topic_t *rkt = m->topic == b->results_topic
				    ? b->rkt_results
				    : b->rkt_notifications;
	if (g_stop)
		return 1;
	pace(b);
	for (;;) {
		int64_t ts_ms = wall_us() / 1000;
		rd_kafka_resp_err_t err = rd_kafka_producev(
		    b->prod, RD_KAFKA_V_RKT(rkt),
		    RD_KAFKA_V_KEY(m->key, m->key ? m->key_len : 0),
		    RD_KAFKA_V_VALUE((void *)m->value, m->value_len),
		    RD_KAFKA_V_TIMESTAMP(ts_ms),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (!err) {
			if (!b->first_produce_ms) {
				b->first_produce_ms = ts_ms;
				pthread_mutex_lock(&b->mu);
				b->warmup_end_ms = ts_ms + b->warmup_ms;
				pthread_mutex_unlock(&b->mu);
			}
			b->last_produce_ms = ts_ms;
			break;
		}
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			fprintf(stderr, "bench_kafka: produce: %s\n",
				rd_kafka_err2str(err));
			return 1;
		}
		rd_kafka_poll(b->prod, 10);
		if (g_stop)
			return 1;
	}
	if ((++b->produced & 255) == 0)
		rd_kafka_poll(b->prod, 0);
	return 0;
}

/* ---- pre-generation ---- */

/* The whole input, generated before the clock starts: on this 2-core
 * machine the generator and its Avro encoding would otherwise take CPU from
 * labwatch and the broker while the latency is measured (in production the
 * producers run elsewhere). One byte arena; offsets, not pointers, since it
 * grows. */
typedef struct pre_msg {
	int results; /* 1: the results topic */
	int has_key;
	size_t key_off, key_len, val_off, val_len;
} pre_msg;

typedef struct pregen {
	pre_msg *m;
	size_t n, cap;
	unsigned char *bytes;
	size_t used, size;
	const char *results_topic;
} pregen;

static size_t pre_put(pregen *g, const void *p, size_t n)
{
	size_t at = g->used;
	if (g->used + n > g->size) {
		while (g->used + n > g->size)
			g->size = g->size ? g->size * 2 : (1u << 20);
		g->bytes = lw_xrealloc(g->bytes, g->size);
	}
	if (n)
		memcpy(g->bytes + at, p, n);
	g->used += n;
	return at;
}

static int pre_collect(const lw_traffic_msg *m, void *opaque)
{
	pregen *g = opaque;
	pre_msg *x;
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 4096;
		g->m = lw_xrealloc(g->m, g->cap * sizeof *g->m);
	}
	x = &g->m[g->n++];
	x->results = m->topic == g->results_topic;
	x->has_key = m->key != NULL;
	x->key_len = m->key ? m->key_len : 0;
	x->key_off = pre_put(g, m->key, x->key_len);
	x->val_len = m->value_len;
	x->val_off = pre_put(g, m->value, m->value_len);
	return g_stop;
}

static int pre_replay(pregen *g, bench *b)
{
	for (size_t i = 0; i < g->n; i++) {
		const pre_msg *x = &g->m[i];
		lw_traffic_msg m = {0};
		m.topic = x->results ? b->results_topic : "";
		m.key = x->has_key ? g->bytes + x->key_off : NULL;
		m.key_len = x->key_len;
		m.value = g->bytes + x->val_off;
		m.value_len = x->val_len;
		m.index = i;
		if (on_msg(&m, b))
			return 1;
	}
	return 0;
}

/* ---- truth ---- */

typedef struct truth {
	char **key; /* "RULE\tspecimen_id", distinct */
	size_t n;
	uint64_t per_rule[8];
} truth;

static int read_truth(FILE *f, truth *t)
{
	char line[1024];
	strset uniq = {0};
	rewind(f);
	memset(t, 0, sizeof *t);
	while (fgets(line, sizeof line, f)) {
		char rule[64], sid[256], key[512];
		if (sscanf(line, "ALERT\t%63[^\t]\t%255[^\t\n]", rule, sid) !=
		    2)
			continue;
		snprintf(key, sizeof key, "%s\t%s", rule, sid);
		if (strset_add(&uniq, key)) {
			t->key =
			    lw_xrealloc(t->key, (t->n + 1) * sizeof *t->key);
			t->key[t->n++] = lw_xstrdup(key);
			t->per_rule[rule_index(rule)]++;
		}
	}
	strset_free(&uniq);
	return ferror(f) ? -1 : 0;
}

static size_t count_missing(bench *b, const truth *t)
{
	size_t miss = 0;
	pthread_mutex_lock(&b->mu);
	for (size_t i = 0; i < t->n; i++)
		miss += !strset_has(&b->seen, t->key[i]);
	pthread_mutex_unlock(&b->mu);
	return miss;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_kafka -b BROKERS [--rate MSGS_PER_S] [--seconds "
		"S]\n"
		"         [--specimens N] [--seed S] [--linger-ms MS] "
		"[--drain-ms MS]\n"
		"         [--settle-ms MS] [--warmup-ms MS] [--truth FILE]\n"
		"         [--latency-log FILE] [--fetch-wait-ms MS] [-a "
		"ALERTS_TOPIC]\n"
		"         [-X key=value]...\n"
		"Produces generated traffic at a fixed rate with wall-clock "
		"timestamps and\n"
		"measures labwatch's alerts: incidents vs truth, latency "
		"produce -> alert.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"brokers", required_argument, NULL, 'b'},
	    {"rate", required_argument, NULL, 'r'},
	    {"seconds", required_argument, NULL, 's'},
	    {"specimens", required_argument, NULL, 'N'},
	    {"seed", required_argument, NULL, 'S'},
	    {"linger-ms", required_argument, NULL, 'l'},
	    {"drain-ms", required_argument, NULL, 'd'},
	    {"settle-ms", required_argument, NULL, 'e'},
	    {"truth", required_argument, NULL, 'T'},
	    {"alerts-topic", required_argument, NULL, 'a'},
	    {"latency-log", required_argument, NULL, 'L'},
	    {"warmup-ms", required_argument, NULL, 'W'},
	    {"fetch-wait-ms", required_argument, NULL, 'F'},
	    {"property", required_argument, NULL, 'X'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bench b;
	lw_traffic_config cfg;
	lw_traffic_stats st;
	lw_traffic *t = NULL;
	truth tr = {0};
	FILE *tf = NULL;
	const char *truth_path = NULL;
	double seconds = 20, t0, t_end, drain_ms = 20000, settle_ms = 1500;
	uint64_t specimens = 0;
	pregen pg = {0};
	int c, rc, status = 2, linger_ms = 5;
	size_t missing = 0, unexpected = 0;
	char errstr[512], lingerkv[64];

	memset(&b, 0, sizeof b);
	pthread_mutex_init(&b.mu, NULL);
	b.rate = 10000;
	b.warmup_ms = 1000;
	b.fetch_wait_ms = 5;
	b.alerts_topic = "lab.alerts";
	lw_traffic_config_defaults(&cfg);
	while ((c = getopt_long(argc, argv, "b:a:X:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			b.brokers = optarg;
			break;
		case 'r':
			b.rate = strtod(optarg, NULL);
			break;
		case 's':
			seconds = strtod(optarg, NULL);
			break;
		case 'N':
			specimens = strtoull(optarg, NULL, 10);
			break;
		case 'S':
			cfg.seed = strtoull(optarg, NULL, 10);
			break;
		case 'l':
			linger_ms = atoi(optarg);
			break;
		case 'd':
			drain_ms = strtod(optarg, NULL);
			break;
		case 'e':
			settle_ms = strtod(optarg, NULL);
			break;
		case 'T':
			truth_path = optarg;
			break;
		case 'a':
			b.alerts_topic = optarg;
			break;
		case 'F':
			b.fetch_wait_ms = atoi(optarg);
			break;
		case 'W':
			b.warmup_ms = strtoll(optarg, NULL, 10);
			break;
		case 'L':
			b.latlog = fopen(optarg, "w");
			if (!b.latlog) {
				fprintf(stderr, "bench_kafka: %s: %s\n", optarg,
					strerror(errno));
				return 2;
			}
			break;
		case 'X':
			if (b.nprops == MAX_PROPS) {
				fprintf(stderr, "bench_kafka: too many -X\n");
				return 2;
			}
			b.props[b.nprops++] = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!b.brokers || optind < argc || !(b.rate > 0) || !(seconds > 0) ||
	    linger_ms < 0) {
		usage(stderr);
		return 2;
	}
	if (!specimens)
		specimens = (uint64_t)(b.rate * seconds / MSGS_PER_SPECIMEN);
	if (specimens < 100)
		specimens = 100;
	cfg.specimens = specimens;
	b.burst = b.rate / 200.0 > 1.0 ? b.rate / 200.0 : 1.0;
	lw_log_set_level(LW_LOG_WARN);

	t = lw_traffic_new(&cfg, errstr, sizeof errstr);
	if (!t) {
		fprintf(stderr, "bench_kafka: %s\n", errstr);
		return 2;
	}
	tf = truth_path ? fopen(truth_path, "w+") : tmpfile();
	if (!tf) {
		fprintf(stderr, "bench_kafka: truth file: %s\n",
			strerror(errno));
		goto out;
	}
	b.schema = NULL;
	if (avro_schema_from_json_length(lw_schema_alert_json,
					 strlen(lw_schema_alert_json),
					 &b.schema)) {
		fprintf(stderr, "bench_kafka: alert schema: %s\n",
			avro_strerror());
		goto out;
	}
	b.iface = avro_generic_class_from_schema(b.schema);
	avro_generic_value_new(b.iface, &b.value);
	b.reader = avro_reader_memory("", 0);
	/* the linger is a flag of its own because it drives latency */
	snprintf(lingerkv, sizeof lingerkv, "linger.ms=%d", linger_ms);
	if (b.nprops < MAX_PROPS) {
		memmove(b.props + 1, b.props,
			(size_t)b.nprops * sizeof *b.props);
		b.props[0] = lingerkv;
		b.nprops++;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (consumer_start(&b) || producer_start(&b))
		goto out;
	b.results_topic = cfg.results_topic;
	b.rkt_results = rd_kafka_topic_new(b.prod, cfg.results_topic, NULL);
	b.rkt_notifications =
	    rd_kafka_topic_new(b.prod, cfg.notifications_topic, NULL);

	producer_warmup(&b);
	sleep_ms(200);
	fprintf(stderr,
		"bench_kafka: %" PRIu64 " specimens at %.0f msgs/s "
		"(about %.0f s)\n",
		specimens, b.rate,
		(double)specimens * MSGS_PER_SPECIMEN / b.rate);
	pg.results_topic = cfg.results_topic;
	rc = lw_traffic_run(t, pre_collect, &pg, tf);
	if (rc != 0 || g_stop) {
		fprintf(stderr, "bench_kafka: generation stopped (%d)\n", rc);
		goto out;
	}
	t0 = b.last_s = mono_s();
	b.tokens = 1;
	rc = pre_replay(&pg, &b);
	t_end = mono_s();
	if (rd_kafka_flush(b.prod, 60000))
		fprintf(stderr, "bench_kafka: flush: %d messages left\n",
			rd_kafka_outq_len(b.prod));
	if (rc != 0 || g_stop) {
		fprintf(stderr, "bench_kafka: generation stopped (%d)\n", rc);
		goto out;
	}
	fflush(tf);
	if (read_truth(tf, &tr)) {
		fprintf(stderr, "bench_kafka: cannot read the truth back\n");
		goto out;
	}
	/* drain: every incident seen, then a little more for revisions */
	{
		double start = mono_s(), all_seen = 0;
		while (!g_stop) {
			double now = mono_s();
			if ((now - start) * 1000 >= drain_ms)
				break;
			if (!all_seen && count_missing(&b, &tr) == 0)
				all_seen = now;
			if (all_seen && (now - all_seen) * 1000 >= settle_ms)
				break;
			sleep_ms(100);
		}
	}
	b.stop_consumer = 1;
	pthread_join(b.thread, NULL);
	b.consumer_ready = 0;

	lw_traffic_get_stats(t, &st);
	missing = count_missing(&b, &tr);
	{
		strset truthset = {0};
		for (size_t i = 0; i < tr.n; i++)
			strset_add(&truthset, tr.key[i]);
		for (size_t k = 0; k < b.seen.cap; k++)
			if (b.seen.slot[k] &&
			    !strset_has(&truthset, b.seen.slot[k])) {
				if (unexpected++ < 5)
					fprintf(stderr,
						"bench_kafka: unexpected %s\n",
						b.seen.slot[k]);
			}
		strset_free(&truthset);
	}
	if (missing) {
		size_t shown = 0;
		for (size_t i = 0; i < tr.n && shown < 5; i++)
			if (!strset_has(&b.seen, tr.key[i])) {
				fprintf(stderr, "bench_kafka: missing %s\n",
					tr.key[i]);
				shown++;
			}
	}
	qsort(b.lat_all.v, b.lat_all.n, sizeof *b.lat_all.v, cmp_i64);
	qsort(b.lat_first.v, b.lat_first.n, sizeof *b.lat_first.v, cmp_i64);
	qsort(b.lat_warm.v, b.lat_warm.n, sizeof *b.lat_warm.v, cmp_i64);
	qsort(b.lat_detect.v, b.lat_detect.n, sizeof *b.lat_detect.v, cmp_i64);
	qsort(b.lat_deliver.v, b.lat_deliver.n, sizeof *b.lat_deliver.v,
	      cmp_i64);

	printf("offered_rate=%.0f\n", b.rate);
	printf("specimens=%" PRIu64 "\n", specimens);
	printf("messages=%" PRIu64 "\n", b.produced);
	printf("delivered=%" PRIu64 "\n", b.delivered);
	printf("failed=%" PRIu64 "\n", b.failed);
	printf("produce_seconds=%.3f\n", t_end - t0);
	printf("achieved_rate=%.0f\n", (double)b.produced / (t_end - t0));
	printf("produce_start_epoch_ms=%" PRId64 "\n", b.first_produce_ms);
	printf("produce_end_epoch_ms=%" PRId64 "\n", b.last_produce_ms);
	printf("last_alert_epoch_ms=%" PRId64 "\n", b.last_alert_ms);
	printf("alert_messages=%" PRIu64 "\n", b.alert_msgs);
	printf("incidents_expected=%zu\n", tr.n);
	printf("incidents_seen=%zu\n", b.seen.n);
	printf("incidents_missing=%zu\n", missing);
	printf("incidents_unexpected=%zu\n", unexpected);
	for (size_t i = 0; i < NRULES; i++)
		printf("expected_%s=%" PRIu64 " alert_messages_%s=%" PRIu64
		       "\n",
		       rule_names[i], tr.per_rule[i], rule_names[i],
		       b.per_rule[i]);
	printf("truth_alert_lines=%" PRIu64 "\n",
	       st.alerts[0] + st.alerts[1] + st.alerts[2] + st.alerts[3] +
		   st.alerts[4]);
	printf("alerts_without_header=%" PRIu64 "\n", b.no_header);
	printf("alerts_undecodable=%" PRIu64 "\n", b.undecodable);
	printf("latency_samples=%zu\n", b.lat_all.n);
	printf("latency_p50_ms=%.1f\n", pct_ms(&b.lat_all, 50));
	printf("latency_p99_ms=%.1f\n", pct_ms(&b.lat_all, 99));
	printf("latency_max_ms=%.1f\n", pct_ms(&b.lat_all, 100));
	printf("latency_first_samples=%zu\n", b.lat_first.n);
	printf("latency_first_p50_ms=%.1f\n", pct_ms(&b.lat_first, 50));
	printf("latency_first_p99_ms=%.1f\n", pct_ms(&b.lat_first, 99));
	printf("latency_first_max_ms=%.1f\n", pct_ms(&b.lat_first, 100));
	printf("latency_to_detection_p50_ms=%.1f\n", pct_ms(&b.lat_detect, 50));
	printf("latency_to_detection_p99_ms=%.1f\n", pct_ms(&b.lat_detect, 99));
	printf("latency_detection_to_arrival_p50_ms=%.1f\n",
	       pct_ms(&b.lat_deliver, 50));
	printf("latency_detection_to_arrival_p99_ms=%.1f\n",
	       pct_ms(&b.lat_deliver, 99));
	printf("warmup_ms=%" PRId64 "\n", b.warmup_ms);
	printf("latency_warmup_samples=%zu\n", b.lat_warm.n);
	printf("latency_warmup_max_ms=%.1f\n", pct_ms(&b.lat_warm, 100));
	status =
	    (missing || unexpected || b.failed || b.delivered != b.produced)
		? 1
		: 0;
	printf("verdict=%s\n", status ? "FAIL" : "ok");
out:
	free(pg.m);
	free(pg.bytes);
	if (b.consumer_ready) {
		b.stop_consumer = 1;
		pthread_join(b.thread, NULL);
	}
	if (b.cons) {
		rd_kafka_consumer_close(b.cons);
		rd_kafka_destroy(b.cons);
	}
	if (b.rkt_results)
		rd_kafka_topic_destroy(b.rkt_results);
	if (b.rkt_notifications)
		rd_kafka_topic_destroy(b.rkt_notifications);
	if (b.prod)
		rd_kafka_destroy(b.prod);
	if (b.reader)
		avro_reader_free(b.reader);
	if (b.iface) {
		avro_value_decref(&b.value);
		avro_value_iface_decref(b.iface);
	}
	if (b.schema)
		avro_schema_decref(b.schema);
	for (size_t i = 0; i < tr.n; i++)
		free(tr.key[i]);
	free(tr.key);
	strset_free(&b.seen);
	free(b.lat_all.v);
	free(b.lat_first.v);
	free(b.lat_warm.v);
	free(b.lat_detect.v);
	free(b.lat_deliver.v);
	free(b.at_eof);
	if (tf)
		fclose(tf);
	if (b.latlog)
		fclose(b.latlog);
	lw_traffic_destroy(t);
	pthread_mutex_destroy(&b.mu);
	return status;
}
