/*
 * lw-topic-dump: reads labwatch's output topics (alerts and dead letters)
 * from the beginning and prints one tab-separated line per record, so that
 * the integration tests can compare what the processor wrote with the
 * generator's truth file using sort/comm.
 *
 * Design. The tool is a plain consumer with a manual assignment: it never
 * joins a group and never commits, so running it any number of times while
 * the processor works changes nothing. At start-up it asks for the metadata
 * of each topic (retrying until the topic exists or --max-ms passes), assigns
 * every partition at OFFSET_BEGINNING and polls with partition EOF events on.
 * Each partition carries one flag, "at end": set by the EOF event, cleared by
 * any message from it. The run ends when every partition is at end and
 *   - --expect N was given and N records have been read, or
 *   - nothing arrived for --idle-ms (default 3000);
 * or, in any case, when --max-ms (default 60000) has passed (exit status 3).
 *
 * Record kind. By default the kind is taken from the record: a record with
 * an `lw.reason` header is a dead letter, any other record is an alert.
 * `--kind alerts|dlq|auto` changes the kind for the -t options that FOLLOW
 * it (kcat style), e.g. `--kind dlq -t lab.deadletter`.
 *
 * Output (stdout, one line per record, in partition order per partition):
 *   ALERT <rule> <specimen_id> <severity> <alert_id> <revision>
 *         <recipient_count> <n_evidence>
 *   DLQ   <lw.reason> <lw.source.topic> <key|-> <lw.source.partition>
 *         <lw.source.offset> <value_len> <lw.processed|->
 *   BAD   <topic> <partition> <offset> <why>
 * An alert is BAD when its value is not magic byte 0 + schema ID 3 + one
 * MismatchAlert datum that uses up exactly the rest of the bytes. Missing
 * headers print as `-`; tabs, newlines, backslashes and non-printable bytes
 * in keys and header values print as \t, \n, \\ and \xHH. With --json an
 * alert prints as `ALERTJSON <topic> <partition> <offset> <json>` instead.
 * A one-line summary goes to stderr.
 *
 * --count reads nothing: it prints `COUNT <topic> <n>` per topic, n being
 * the sum over partitions of (high watermark - low watermark), i.e. how
 * many records the topic holds (the tests use it to know how many input
 * messages the processor has to consume). --committed GROUP reads nothing
 * either: it prints `COMMITTED <topic> <n>`, n being the sum of GROUP's
 * committed offsets over the topic's partitions (0 for none), so that a
 * test can see that a processor committed before it was killed. It asks
 * the coordinator (OffsetFetch) without joining GROUP.
 *
 * Cost: one generic Avro value and one memory reader, prepared once and
 * reused for every record; nothing is allocated per record except by --json.
 */
#include <avro.h>
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* From the schemas/embed.cmake output compiled into this tool. Everything
 * else here is static, hence the short `dump_` prefix rather than the file
 * name: nothing links against this file. */
extern const char lw_schema_alert_json[];

#define DUMP_ALERT_SCHEMA_ID 3
#define DUMP_MAX_TOPICS	     8

enum dump_kind { DUMP_AUTO, DUMP_ALERTS, DUMP_DLQ };

struct dump_topic {
	const char *name;
	enum dump_kind kind;
	int partition_cnt;
	char *at_end; /* one flag per partition */
};

struct dump {
	struct dump_topic topics[DUMP_MAX_TOPICS];
	int topic_cnt;
	int json;
	int count_only;
	const char *committed_group; /* --committed GROUP */
	long idle_ms;
	long max_ms;
	long expect; /* -1: not given */

	avro_schema_t schema;
	avro_value_iface_t *iface;
	avro_value_t value;
	int have_value;
	avro_reader_t reader;

	long n_alert, n_dlq, n_bad;
};

static volatile sig_atomic_t dump_stop;

static void dump_on_signal(int sig)
{
	(void)sig;
	dump_stop = 1;
}

static int64_t dump_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void dump_usage(FILE *fp)
{
	static const char *const lines[] = {
	    "usage: lw-topic-dump -b BROKERS [--kind auto|alerts|dlq]",
	    "         -t TOPIC [-t TOPIC2 ...] [--idle-ms N] [--max-ms N]",
	    "         [--expect N] [--json] [--count] [--committed GROUP]",
	    "         [-X property=value ...]",
	    "Reads every partition of the topics from the beginning (no",
	    "group, no commits) and prints one TSV line per record:",
	    "  ALERT rule specimen_id severity alert_id revision",
	    "        recipient_count n_evidence",
	    "  DLQ   reason source_topic key|- source_partition",
	    "        source_offset value_len processed|-",
	    "  BAD   topic partition offset why",
	    "--kind applies to the -t options after it; auto (default): a",
	    "record with an lw.reason header is a dead letter, others alerts.",
	    "--json prints alerts as ALERTJSON topic partition offset json.",
	    "--count prints `COUNT topic n` (records held, by the watermarks).",
	    "--committed GROUP prints `COMMITTED topic n` (sum of the group's",
	    "committed offsets; the group is not joined).",
	    "Stops when all partitions are at EOF and nothing arrived for",
	    "--idle-ms (default 3000), or when --expect records were read and",
	    "all partitions are at EOF.",
	    "Exit: 0 done, 1 usage or setup error, 3 --max-ms (default 60000)",
	    "passed.",
	};

	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		fprintf(fp, "%s\n", lines[i]);
}

/* Prints bytes so that one record stays one line and one TSV field. */
static void dump_put_escaped(const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (c == '\t')
			fputs("\\t", stdout);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\\')
			fputs("\\\\", stdout);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

/* The last header called `name` into *val, *size; 0 when there is none. */
static int dump_header(rd_kafka_headers_t *hdrs, const char *name,
		       const void **val, size_t *size)
{
	return hdrs && !rd_kafka_header_get_last(hdrs, name, val, size) && *val;
}

/* Prints the last header called `name`, or "-" when there is none. */
static void dump_put_header(rd_kafka_headers_t *hdrs, const char *name)
{
	const void *val = NULL;
	size_t size = 0;

	if (dump_header(hdrs, name, &val, &size))
		dump_put_escaped(val, size);
	else
		putchar('-');
}

static void dump_print_dlq(struct dump *d, const rd_kafka_message_t *m,
			   rd_kafka_headers_t *hdrs)
{
	fputs("DLQ\t", stdout);
	dump_put_header(hdrs, "lw.reason");
	putchar('\t');
	dump_put_header(hdrs, "lw.source.topic");
	putchar('\t');
	if (m->key)
		dump_put_escaped(m->key, m->key_len);
	else
		putchar('-');
	putchar('\t');
	dump_put_header(hdrs, "lw.source.partition");
	putchar('\t');
	dump_put_header(hdrs, "lw.source.offset");
	printf("\t%zu\t", m->payload ? m->len : (size_t)0);
	dump_put_header(hdrs, "lw.processed");
	putchar('\n');
	d->n_dlq++;
}

static void dump_print_bad(struct dump *d, const rd_kafka_message_t *m,
			   const char *why)
{
	printf("BAD\t%s\t%" PRId32 "\t%" PRId64 "\t%s\n",
	       rd_kafka_topic_name(m->rkt), m->partition, m->offset, why);
	d->n_bad++;
}

/* Reads a string field; "" when the field is missing (cannot happen with
 * the compiled-in schema, but a wrong schema must not crash the tool). */
static const char *dump_get_string(avro_value_t *rec, const char *name)
{
	avro_value_t field;
	const char *s = NULL;
	size_t size;

	if (avro_value_get_by_name(rec, name, &field, NULL) != 0 ||
	    avro_value_get_string(&field, &s, &size) != 0)
		return "";
	return s;
}

static int32_t dump_get_int(avro_value_t *rec, const char *name)
{
	avro_value_t field;
	int32_t v = -1;

	if (avro_value_get_by_name(rec, name, &field, NULL) == 0)
		avro_value_get_int(&field, &v);
	return v;
}

static void dump_print_alert(struct dump *d, const rd_kafka_message_t *m)
{
	const unsigned char *p = m->payload;
	uint32_t schema_id;
	avro_value_t field;
	size_t encoded = 0, n_evidence = 0;
	const char *severity = "?";
	int sev_idx;

	if (!p || m->len < 5) {
		dump_print_bad(d, m, "shorter than the 5-byte wire header");
		return;
	}
	if (p[0] != 0) {
		dump_print_bad(d, m, "bad magic byte");
		return;
	}
	schema_id = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
		    (uint32_t)p[3] << 8 | (uint32_t)p[4];
	if (schema_id != DUMP_ALERT_SCHEMA_ID) {
		char why[64];

		snprintf(why, sizeof why, "schema id %" PRIu32 ", want %d",
			 schema_id, DUMP_ALERT_SCHEMA_ID);
		dump_print_bad(d, m, why);
		return;
	}

	avro_value_reset(&d->value);
	avro_reader_memory_set_source(d->reader, (const char *)p + 5,
				      (int64_t)(m->len - 5));
	if (avro_value_read(d->reader, &d->value) != 0) {
		dump_print_bad(d, m, "malformed avro");
		return;
	}
	/* The memory reader does not say how much it consumed; re-encoding
	 * the size catches trailing garbage (a wrong writer schema). */
	if (avro_value_sizeof(&d->value, &encoded) != 0 ||
	    encoded != m->len - 5) {
		dump_print_bad(d, m, "trailing bytes after the avro datum");
		return;
	}

	if (d->json) {
		char *json = NULL;

		if (avro_value_to_json(&d->value, 1, &json) != 0) {
			dump_print_bad(d, m, "avro_value_to_json failed");
			return;
		}
		printf("ALERTJSON\t%s\t%" PRId32 "\t%" PRId64 "\t%s\n",
		       rd_kafka_topic_name(m->rkt), m->partition, m->offset,
		       json);
		free(json);
		d->n_alert++;
		return;
	}

	if (avro_value_get_by_name(&d->value, "severity", &field, NULL) == 0 &&
	    avro_value_get_enum(&field, &sev_idx) == 0) {
		severity = avro_schema_enum_get(avro_value_get_schema(&field),
						sev_idx);
		if (!severity)
			severity = "?";
	}
	if (avro_value_get_by_name(&d->value, "evidence", &field, NULL) == 0)
		avro_value_get_size(&field, &n_evidence);

	printf("ALERT\t%s\t%s\t%s\t%s\t%" PRId32 "\t%" PRId32 "\t%zu\n",
	       dump_get_string(&d->value, "rule"),
	       dump_get_string(&d->value, "specimen_id"), severity,
	       dump_get_string(&d->value, "alert_id"),
	       dump_get_int(&d->value, "revision"),
	       dump_get_int(&d->value, "recipient_count"), n_evidence);
	d->n_alert++;
}

static struct dump_topic *dump_topic_of(struct dump *d, const char *name)
{
	for (int i = 0; i < d->topic_cnt; i++)
		if (strcmp(d->topics[i].name, name) == 0)
			return &d->topics[i];
	return NULL;
}

static void dump_handle(struct dump *d, const rd_kafka_message_t *m)
{
	struct dump_topic *t = dump_topic_of(d, rd_kafka_topic_name(m->rkt));
	rd_kafka_headers_t *hdrs = NULL;
	const void *val = NULL;
	size_t size = 0;
	int is_dlq;

	if (!t || m->partition < 0 || m->partition >= t->partition_cnt)
		return;
	t->at_end[m->partition] = 0;

	if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		hdrs = NULL;
	if (t->kind == DUMP_AUTO)
		is_dlq = dump_header(hdrs, "lw.reason", &val, &size);
	else
		is_dlq = t->kind == DUMP_DLQ;

	if (is_dlq)
		dump_print_dlq(d, m, hdrs);
	else
		dump_print_alert(d, m);
}

/* Waits for each topic's metadata and allocates its EOF flags. Returns 0,
 * or -1 when a topic still has no partitions at `deadline`. */
static int dump_describe(struct dump *d, rd_kafka_t *rk, int64_t deadline)
{
	for (int i = 0; i < d->topic_cnt; i++) {
		struct dump_topic *t = &d->topics[i];
		rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, t->name, NULL);

		for (;;) {
			const struct rd_kafka_metadata *md = NULL;
			rd_kafka_resp_err_t err;
			const char *why = "";

			err = rd_kafka_metadata(rk, 0, rkt, &md, 2000);
			if (!err && md->topic_cnt == 1 && !md->topics[0].err &&
			    md->topics[0].partition_cnt > 0) {
				t->partition_cnt = md->topics[0].partition_cnt;
				rd_kafka_metadata_destroy(md);
				break;
			}
			if (err)
				why = rd_kafka_err2str(err);
			else if (md->topic_cnt == 1 && md->topics[0].err)
				why = rd_kafka_err2str(md->topics[0].err);
			else
				why = "no partitions";
			if (md)
				rd_kafka_metadata_destroy(md);
			if (dump_stop || dump_now_ms() >= deadline) {
				fprintf(
				    stderr,
				    "lw-topic-dump: no metadata for %s: %s\n",
				    t->name, why);
				rd_kafka_topic_destroy(rkt);
				return -1;
			}
			struct timespec ts = {0, 200 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		rd_kafka_topic_destroy(rkt);
		t->at_end = calloc((size_t)t->partition_cnt, 1);
		if (!t->at_end) {
			fprintf(stderr, "lw-topic-dump: out of memory\n");
			abort();
		}
	}
	return 0;
}

/* --count: prints how many records each topic holds. Returns 0, or 1 when
 * a watermark query failed. */
static int dump_count(const struct dump *d, rd_kafka_t *rk)
{
	for (int i = 0; i < d->topic_cnt; i++) {
		int64_t total = 0;

		for (int p = 0; p < d->topics[i].partition_cnt; p++) {
			int64_t lo, hi;
			rd_kafka_resp_err_t err =
			    rd_kafka_query_watermark_offsets(
				rk, d->topics[i].name, p, &lo, &hi, 5000);

			if (err) {
				fprintf(stderr,
					"lw-topic-dump: watermarks of %s [%d]: "
					"%s\n",
					d->topics[i].name, p,
					rd_kafka_err2str(err));
				return 1;
			}
			total += hi - lo;
		}
		printf("COUNT\t%s\t%" PRId64 "\n", d->topics[i].name, total);
	}
	return 0;
}

/* --committed: prints the sum of the group's committed offsets per topic.
 * Returns 0, or 1 when the offsets could not be fetched. */
static int dump_committed(const struct dump *d, rd_kafka_t *rk)
{
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_resp_err_t err;

	parts = rd_kafka_topic_partition_list_new(8);
	for (int i = 0; i < d->topic_cnt; i++)
		for (int p = 0; p < d->topics[i].partition_cnt; p++)
			rd_kafka_topic_partition_list_add(parts,
							  d->topics[i].name, p);
	err = rd_kafka_committed(rk, parts, 10000);
	if (err) {
		fprintf(stderr, "lw-topic-dump: committed offsets: %s\n",
			rd_kafka_err2str(err));
		rd_kafka_topic_partition_list_destroy(parts);
		return 1;
	}
	for (int i = 0; i < d->topic_cnt; i++) {
		int64_t total = 0;

		for (int k = 0; k < parts->cnt; k++) {
			const rd_kafka_topic_partition_t *tp = &parts->elems[k];

			if (!strcmp(tp->topic, d->topics[i].name) &&
			    tp->offset > 0)
				total += tp->offset;
		}
		printf("COMMITTED\t%s\t%" PRId64 "\n", d->topics[i].name,
		       total);
	}
	rd_kafka_topic_partition_list_destroy(parts);
	return 0;
}

static int dump_all_at_end(const struct dump *d)
{
	for (int i = 0; i < d->topic_cnt; i++)
		for (int p = 0; p < d->topics[i].partition_cnt; p++)
			if (!d->topics[i].at_end[p])
				return 0;
	return 1;
}

static int dump_parse_long(const char *opt, const char *s, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	if (errno || *end || end == s || *out < 0) {
		fprintf(
		    stderr,
		    "lw-topic-dump: %s wants a non-negative number, got '%s'\n",
		    opt, s);
		return -1;
	}
	return 0;
}

/* Parses argv into `d` and `conf`. Returns 0, or -1 after printing why. */
static int dump_parse_args(struct dump *d, rd_kafka_conf_t *conf, int argc,
			   char **argv)
{
	enum dump_kind kind = DUMP_AUTO;
	int have_brokers = 0;
	char errstr[512];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			dump_usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--json")) {
			d->json = 1;
			continue;
		} else if (!strcmp(a, "--count")) {
			d->count_only = 1;
			continue;
		}
		if (!v) {
			fprintf(stderr, "lw-topic-dump: %s needs a value\n", a);
			return -1;
		}
		i++;
		if (!strcmp(a, "-b")) {
			if (rd_kafka_conf_set(conf, "bootstrap.servers", v,
					      errstr, sizeof errstr) !=
			    RD_KAFKA_CONF_OK)
				goto conf_fail;
			have_brokers = 1;
		} else if (!strcmp(a, "-t")) {
			if (d->topic_cnt == DUMP_MAX_TOPICS) {
				fprintf(stderr,
					"lw-topic-dump: at most %d topics\n",
					DUMP_MAX_TOPICS);
				return -1;
			}
			d->topics[d->topic_cnt].name = v;
			d->topics[d->topic_cnt].kind = kind;
			d->topic_cnt++;
		} else if (!strcmp(a, "--kind")) {
			if (!strcmp(v, "auto"))
				kind = DUMP_AUTO;
			else if (!strcmp(v, "alerts"))
				kind = DUMP_ALERTS;
			else if (!strcmp(v, "dlq"))
				kind = DUMP_DLQ;
			else {
				fprintf(
				    stderr,
				    "lw-topic-dump: --kind auto|alerts|dlq\n");
				return -1;
			}
		} else if (!strcmp(a, "--committed")) {
			d->committed_group = v;
			if (rd_kafka_conf_set(conf, "group.id", v, errstr,
					      sizeof errstr) !=
			    RD_KAFKA_CONF_OK)
				goto conf_fail;
		} else if (!strcmp(a, "--idle-ms")) {
			if (dump_parse_long(a, v, &d->idle_ms))
				return -1;
		} else if (!strcmp(a, "--max-ms")) {
			if (dump_parse_long(a, v, &d->max_ms))
				return -1;
		} else if (!strcmp(a, "--expect")) {
			if (dump_parse_long(a, v, &d->expect))
				return -1;
		} else if (!strcmp(a, "-X")) {
			char *eq = strchr(v, '=');
			char name[256];

			if (!eq || (size_t)(eq - v) >= sizeof name) {
				fprintf(stderr,
					"lw-topic-dump: -X wants key=value\n");
				return -1;
			}
			memcpy(name, v, (size_t)(eq - v));
			name[eq - v] = '\0';
			if (rd_kafka_conf_set(conf, name, eq + 1, errstr,
					      sizeof errstr) !=
			    RD_KAFKA_CONF_OK)
				goto conf_fail;
		} else {
			fprintf(stderr, "lw-topic-dump: unknown option %s\n",
				a);
			dump_usage(stderr);
			return -1;
		}
	}
	if (!have_brokers || d->topic_cnt == 0) {
		dump_usage(stderr);
		return -1;
	}
	return 0;

conf_fail:
	fprintf(stderr, "lw-topic-dump: %s\n", errstr);
	return -1;
}

static int dump_prepare_avro(struct dump *d)
{
	if (avro_schema_from_json_length(lw_schema_alert_json,
					 strlen(lw_schema_alert_json),
					 &d->schema) != 0) {
		fprintf(stderr, "lw-topic-dump: alert schema: %s\n",
			avro_strerror());
		return -1;
	}
	d->iface = avro_generic_class_from_schema(d->schema);
	if (!d->iface || avro_generic_value_new(d->iface, &d->value) != 0) {
		fprintf(stderr, "lw-topic-dump: avro value: %s\n",
			avro_strerror());
		return -1;
	}
	d->have_value = 1;
	d->reader = avro_reader_memory("", 0);
	return d->reader ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct dump d = {.idle_ms = 3000, .max_ms = 60000, .expect = -1};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_t *rk = NULL;
	char errstr[512];
	int64_t start, last_msg, deadline;
	int rc = 1, n_parts = 0;
	rd_kafka_resp_err_t err;

	/* A standalone reader: never store or commit, see everything.
	 * rd_kafka_assign() wants a group.id even though the group is never
	 * joined and nothing is committed to it. */
	static const char *defaults[][2] = {
	    {"group.id", "lw-topic-dump"},
	    {"enable.partition.eof", "true"},
	    {"enable.auto.commit", "false"},
	    {"enable.auto.offset.store", "false"},
	    {"auto.offset.reset", "earliest"},
	    {"isolation.level", "read_uncommitted"},
	};
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1],
				      errstr,
				      sizeof errstr) != RD_KAFKA_CONF_OK) {
			fprintf(stderr, "lw-topic-dump: %s\n", errstr);
			rd_kafka_conf_destroy(conf);
			return 1;
		}
	if (dump_parse_args(&d, conf, argc, argv) != 0) {
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	if (dump_prepare_avro(&d) != 0) {
		rd_kafka_conf_destroy(conf);
		goto done;
	}

	signal(SIGINT, dump_on_signal);
	signal(SIGTERM, dump_on_signal);
	start = dump_now_ms();
	deadline = start + d.max_ms;

	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
	if (!rk) {
		fprintf(stderr, "lw-topic-dump: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		goto done;
	}
	if (dump_describe(&d, rk, deadline) != 0) {
		rc = dump_stop ? 1 : 3;
		goto done;
	}
	if (d.committed_group) {
		rc = dump_committed(&d, rk);
		goto done;
	}
	if (d.count_only) {
		rc = dump_count(&d, rk);
		goto done;
	}

	parts = rd_kafka_topic_partition_list_new(8);
	for (int i = 0; i < d.topic_cnt; i++)
		for (int p = 0; p < d.topics[i].partition_cnt; p++) {
			rd_kafka_topic_partition_list_add(parts,
							  d.topics[i].name, p)
			    ->offset = RD_KAFKA_OFFSET_BEGINNING;
			n_parts++;
		}
	err = rd_kafka_assign(rk, parts);
	if (err) {
		fprintf(stderr, "lw-topic-dump: assign: %s\n",
			rd_kafka_err2str(err));
		goto done;
	}

	last_msg = dump_now_ms();
	for (;;) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		int64_t now = dump_now_ms();

		if (m) {
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				struct dump_topic *t = dump_topic_of(
				    &d, rd_kafka_topic_name(m->rkt));

				if (t && m->partition >= 0 &&
				    m->partition < t->partition_cnt)
					t->at_end[m->partition] = 1;
			} else if (m->err) {
				fprintf(stderr, "lw-topic-dump: %s\n",
					rd_kafka_message_errstr(m));
			} else {
				dump_handle(&d, m);
				last_msg = now;
			}
			rd_kafka_message_destroy(m);
		}
		if (dump_stop) {
			rc = 1;
			break;
		}
		if (dump_all_at_end(&d)) {
			long total = d.n_alert + d.n_dlq + d.n_bad;

			if (d.expect >= 0 && total >= d.expect) {
				rc = 0;
				break;
			}
			if (d.expect < 0 && now - last_msg >= d.idle_ms) {
				rc = 0;
				break;
			}
		}
		if (now >= deadline) {
			fprintf(stderr, "lw-topic-dump: --max-ms %ld passed\n",
				d.max_ms);
			rc = 3;
			break;
		}
	}
	fprintf(stderr,
		"lw-topic-dump: %ld records (alerts=%ld dlq=%ld bad=%ld) from "
		"%d partitions "
		"in %" PRId64 " ms\n",
		d.n_alert + d.n_dlq + d.n_bad, d.n_alert, d.n_dlq, d.n_bad,
		n_parts, dump_now_ms() - start);

done:
	fflush(stdout);
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
	if (rk) {
		rd_kafka_consumer_close(rk);
		rd_kafka_destroy(rk);
	}
	for (int i = 0; i < d.topic_cnt; i++)
		free(d.topics[i].at_end);
	if (d.reader)
		avro_reader_free(d.reader);
	if (d.have_value)
		avro_value_decref(&d.value);
	if (d.iface)
		avro_value_iface_decref(d.iface);
	if (d.schema)
		avro_schema_decref(d.schema);
	return rc;
}
