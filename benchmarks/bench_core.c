/* bench_core: throughput of the per-message path with no broker, beside the
 * limits that bound it, measured side by side in one run.
 *
 *   bench_core DUMP [--truth FILE] [--reps N] [--expected-specimens N]
 *              [--only read-only|avro-c|decode|core]
 *
 * The dump (labwatch-gen --dump) is loaded into memory first, so no pass
 * measures file I/O. Passes, each repeated --reps times (median reported):
 *   read-only   touch every byte of every value (sum): the floor
 *   avro-c      decode every value with Avro C's generic reader, resolving
 *               the writer schema to ours (what a straightforward
 *               implementation pays)
 *   decode      our compiled-plan decoder only
 *   core        the whole engine: decode + join + rules + alert building,
 *               each message hinted four ahead (lw_engine_hint) as the
 *               processor does within a polled batch; timed from engine
 *               creation to the last flush, teardown apart
 *               (BENCH_CORE_VERBOSE=1 prints each run's; BENCH_CORE_NO_HINTS=1
 *               turns the hints off, to measure what they are worth)
 * With --truth, the core pass's incidents are checked against the ground
 * truth (a fast benchmark that is wrong is no benchmark). Prints one line per
 * pass: "pass events ms events/s", then ratios, then state figures. */
#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#ifdef LW_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "dumpfile.h"
#include "engine.h"
#include "log.h"
#include "registry.h"
#include "xmalloc.h"

typedef struct rec {
	int topic;
	int32_t partition;
	int64_t offset;
	unsigned char *key;
	size_t key_len;
	unsigned char *value;
	size_t value_len;
} rec;

typedef struct run {
	rec *v;
	size_t n;
	uint64_t alerts;
	char **seen;
	size_t nseen, capseen;
	int record;
} run;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int cmp_s(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void on_alert(void *opaque, const lw_alert *a, const lw_msg *cause)
{
	run *r = opaque;
	char line[256];
	(void)cause;
	r->alerts++;
	if (!r->record)
		return;
	snprintf(line, sizeof line, "%s\t%s", lw_rule_name(a->rule),
		 a->specimen_id[0] ? a->specimen_id : "-");
	if (r->nseen == r->capseen) {
		r->capseen = r->capseen ? r->capseen * 2 : 1024;
		r->seen = lw_xrealloc(r->seen, r->capseen * sizeof *r->seen);
	}
	r->seen[r->nseen++] = lw_xstrdup(line);
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

/* Keys and values are laid out back to back in one arena, in input order,
 * as a consumer finds them: librdkafka hands out messages pointing into the
 * fetch response it received, so a batch's messages are contiguous. (One
 * allocation per key and value put them in allocator size classes of their
 * own, interleaved; side by side at 1M specimens the core pass then stalled
 * on the first read of most values.) The file's size bounds the arena:
 * every record's framing (dumpfile.h, 30 bytes and more) exceeds the one
 * byte a key's NUL adds. The arena lives as long as the process. */
static size_t load(const char *path, rec **out)
{
	char err[256];
	lw_dump_reader *d = lw_dump_reader_open(path, err, sizeof err);
	lw_dump_record r;
	rec *v = NULL;
	unsigned char *arena;
	size_t n = 0, cap = 0, used = 0, acap;
	int rc;
	struct stat sb;
	if (!d) {
		fprintf(stderr, "bench_core: %s\n", err);
		exit(1);
	}
	if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		fprintf(stderr, "bench_core: %s: not a regular file\n", path);
		exit(1);
	}
	acap = (size_t)sb.st_size;
	arena = lw_xmalloc(acap ? acap : 1);
	while ((rc = lw_dump_read(d, &r, err, sizeof err)) == 1) {
		size_t klen = r.key ? (size_t)r.key_len : 0;
		size_t vlen = r.value ? (size_t)r.value_len : 0;
		if (used + klen + 1 + vlen > acap) { /* the file grew */
			fprintf(stderr, "bench_core: %s changed while read\n",
				path);
			exit(1);
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			v = lw_xrealloc(v, cap * sizeof *v);
		}
		v[n].topic = strstr(r.topic, "result") ? LW_TOPIC_RESULTS
						       : LW_TOPIC_NOTIFICATIONS;
		v[n].partition = 0;
		v[n].offset = (int64_t)n;
		v[n].key = NULL;
		v[n].key_len = klen;
		if (r.key) {
			v[n].key = arena + used;
			memcpy(arena + used, r.key, klen);
			arena[used + klen] = 0;
			used += klen + 1;
		}
		v[n].value = NULL;
		v[n].value_len = vlen;
		if (r.value) {
			v[n].value = arena + used;
			memcpy(arena + used, r.value, vlen);
			used += vlen;
		}
		n++;
	}
	if (rc < 0) {
		fprintf(stderr, "bench_core: %s\n", err);
		exit(1);
	}
	lw_dump_reader_destroy(d);
	*out = v;
	return n;
}

static uint64_t pass_read(const run *r)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < r->n; i++)
		for (size_t k = 0; k < r->v[i].value_len; k++)
			sum += r->v[i].value[k];
	return sum;
}

static uint64_t pass_decode(const run *r, lw_codec *c)
{
	uint64_t ok = 0;
	char detail[256];
	int32_t id;
	for (size_t i = 0; i < r->n; i++) {
		if (r->v[i].topic == LW_TOPIC_RESULTS) {
			lw_result_event ev;
			ok += lw_codec_decode_result(
				  c, r->v[i].value, r->v[i].value_len, &ev, &id,
				  detail, sizeof detail) == LW_DECODE_OK;
		} else {
			lw_notification_event ev;
			ok += lw_codec_decode_notification(
				  c, r->v[i].value, r->v[i].value_len, &ev, &id,
				  detail, sizeof detail) == LW_DECODE_OK;
		}
	}
	return ok;
}

/* Avro C generic decoding with schema resolution, values reused: the
 * idiomatic way to read these messages with the library. */
typedef struct avro_ctx {
	const lw_registry *reg;
	avro_schema_t reader[2];
	struct {
		int32_t id;
		int topic;
		avro_value_iface_t *resolver;
		avro_value_t resolved, target;
		avro_value_iface_t *target_iface;
	} cache[16];
	int ncache;
} avro_ctx;

static int avro_decode(avro_ctx *a, const rec *m)
{
	int32_t id;
	int k;
	avro_reader_t rd;
	int rc;
	if (!m->value || m->value_len < 5 || m->value[0] != 0)
		return 0;
	id = (int32_t)((uint32_t)m->value[1] << 24 |
		       (uint32_t)m->value[2] << 16 |
		       (uint32_t)m->value[3] << 8 | m->value[4]);
	for (k = 0; k < a->ncache; k++)
		if (a->cache[k].id == id && a->cache[k].topic == m->topic)
			break;
	if (k == a->ncache) {
		avro_schema_t w = lw_registry_get(a->reg, id);
		if (!w || a->ncache == 16)
			return 0;
		a->cache[k].id = id;
		a->cache[k].topic = m->topic;
		a->cache[k].target_iface =
		    avro_generic_class_from_schema(a->reader[m->topic]);
		avro_generic_value_new(a->cache[k].target_iface,
				       &a->cache[k].target);
		a->cache[k].resolver =
		    avro_resolved_writer_new(w, a->reader[m->topic]);
		if (!a->cache[k].resolver)
			return 0;
		avro_resolved_writer_new_value(a->cache[k].resolver,
					       &a->cache[k].resolved);
		avro_resolved_writer_set_dest(&a->cache[k].resolved,
					      &a->cache[k].target);
		a->ncache++;
	}
	rd = avro_reader_memory((const char *)m->value + 5,
				(int64_t)m->value_len - 5);
	rc = avro_value_read(rd, &a->cache[k].resolved);
	avro_reader_free(rd);
	return rc == 0;
}

static uint64_t pass_avro(const run *r, avro_ctx *a)
{
	uint64_t ok = 0;
	for (size_t i = 0; i < r->n; i++)
		ok += (uint64_t)avro_decode(a, &r->v[i]);
	return ok;
}

/* The per-message path, kept out of line so that callgrind can collect
 * inside it (benchmarks/run: --toggle-collect=bench_process*): with
 * link-time optimization lw_engine_process() is inlined into its only
 * caller and has no symbol of its own. */
__attribute__((noinline)) static void bench_process(lw_engine *e,
						    const lw_msg *m)
{
	lw_engine_process(e, m);
}

__attribute__((noinline)) static void bench_flush(lw_engine *e)
{
	lw_engine_flush(e);
}

/* Returns the seconds spent processing (engine creation to the last flush);
 * tearing the engine down is timed apart into *teardown_s. */
static double pass_core(run *r, const lw_registry *reg, uint64_t expected,
			lw_state_stats *ss, size_t *jemalloc_bytes,
			double *teardown_s)
{
	double t0 = now_s(), t1;
	lw_engine_config ec;
	lw_engine_callbacks cb = {on_alert, on_dlq, NULL, r};
	lw_engine *e;
	int hints = !getenv("BENCH_CORE_NO_HINTS");
	lw_engine_config_defaults(&ec);
	ec.state.expected_specimens = expected;
	/* From memory there is no wall clock to speak of: event time only,
	 * as in replay, so timers and surges fire as the input says. */
	ec.clock.idle_timeout_ms = 0;
	e = lw_engine_new(&ec, reg, &cb);
	for (size_t i = 0; i < r->n; i++) {
		if (hints && i + LW_ENGINE_AHEAD < r->n) {
			const rec *a = &r->v[i + LW_ENGINE_AHEAD];
			lw_msg h = {0};
			h.key = a->key;
			h.key_len = a->key_len;
			h.value = a->value;
			lw_engine_hint(e, &h);
		}
		lw_msg m = {r->v[i].topic,
			    r->v[i].topic == LW_TOPIC_RESULTS
				? "lab.results"
				: "lab.notifications",
			    r->v[i].partition,
			    r->v[i].offset,
			    -1,
			    r->v[i].key,
			    r->v[i].key_len,
			    r->v[i].value,
			    r->v[i].value_len};
		bench_process(e, &m);
		if ((i & 1023) == 1023)
			bench_flush(e);
	}
	bench_flush(e);
	t1 = now_s();
	lw_state_get_stats(lw_engine_state(e), ss);
	*jemalloc_bytes = 0;
#ifdef LW_HAVE_JEMALLOC
	{
		uint64_t epoch = 1;
		size_t sz = sizeof epoch, allocated = 0;
		mallctl("epoch", &epoch, &sz, &epoch, sz);
		sz = sizeof allocated;
		if (mallctl("stats.allocated", &allocated, &sz, NULL, 0) == 0)
			*jemalloc_bytes = allocated;
	}
#endif
	*teardown_s = now_s();
	lw_engine_destroy(e);
	*teardown_s = now_s() - *teardown_s;
	return t1 - t0;
}

static int check_truth(run *r, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024], **truth = NULL;
	size_t nt = 0, cap = 0, i = 0, j = 0, miss = 0, extra = 0, u = 0;
	if (!f) {
		perror(path);
		return 1;
	}
	while (fgets(line, sizeof line, f)) {
		char rule[64], sid[256];
		if (sscanf(line, "ALERT\t%63[^\t]\t%255[^\t]", rule, sid) != 2)
			continue;
		if (nt == cap) {
			cap = cap ? cap * 2 : 1024;
			truth = lw_xrealloc(truth, cap * sizeof *truth);
		}
		snprintf(line, sizeof line, "%s\t%s", rule, sid);
		truth[nt++] = lw_xstrdup(line);
	}
	fclose(f);
	qsort(truth, nt, sizeof *truth, cmp_s);
	qsort(r->seen, r->nseen, sizeof *r->seen, cmp_s);
	for (size_t k = 0; k < r->nseen; k++)
		if (!u || strcmp(r->seen[u - 1], r->seen[k]))
			r->seen[u++] = r->seen[k];
	while (i < nt || j < u) {
		int c = i >= nt	 ? 1
			: j >= u ? -1
				 : strcmp(truth[i], r->seen[j]);
		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			if (miss++ < 5)
				fprintf(stderr, "missed: %s\n", truth[i]);
			i++;
		} else {
			if (extra++ < 5)
				fprintf(stderr, "unexpected: %s\n", r->seen[j]);
			j++;
		}
	}
	printf("truth: %zu incidents expected, %zu seen, %zu missed, %zu "
	       "unexpected\n",
	       nt, u, miss, extra);
	return miss || extra;
}

int main(int argc, char **argv)
{
	const char *dump = NULL, *truth = NULL, *only = NULL;
	int reps = 3;
	uint64_t expected = 1 << 20;
	char err[256];
	run r;
	lw_registry *reg;
	lw_codec *codec;
	avro_ctx ac;
	double t[4][16];
	const char *names[4] = {"read-only", "avro-c", "decode", "core"};
	double med[4];
	lw_state_stats ss = {0};
	size_t jb = 0;
	int bad = 0;
	memset(&r, 0, sizeof r);
	memset(&ac, 0, sizeof ac);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--truth") && i + 1 < argc)
			truth = argv[++i];
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--expected-specimens") &&
			 i + 1 < argc)
			expected = strtoull(argv[++i], NULL, 10);
		else if (argv[i][0] != '-')
			dump = argv[i];
		else {
			fprintf(stderr,
				"usage: bench_core DUMP [--truth FILE] [--reps "
				"N] [--expected-specimens N]\n");
			return 64;
		}
	}
	if (!dump || reps < 1 || reps > 16) {
		fprintf(
		    stderr,
		    "usage: bench_core DUMP [--truth FILE] [--reps N<=16]\n");
		return 64;
	}
	lw_log_set_level(LW_LOG_ERROR);
	r.n = load(dump, &r.v);
	reg = lw_registry_new(lw_default_registry_dir(), err, sizeof err);
	if (!reg) {
		fprintf(stderr, "bench_core: %s\n", err);
		return 1;
	}
	codec = lw_codec_new(reg);
	ac.reg = reg;
	ac.reader[0] = lw_registry_get(reg, 1);
	ac.reader[1] = lw_registry_get(reg, 2);
	for (int k = 0; k < reps; k++) {
		double t0, td;
		volatile uint64_t sink;
		t0 = now_s();
		sink = !only || !strcmp(only, "read-only") ? pass_read(&r) : 0;
		t[0][k] = now_s() - t0;
		t0 = now_s();
		sink =
		    !only || !strcmp(only, "avro-c") ? pass_avro(&r, &ac) : 0;
		t[1][k] = now_s() - t0;
		t0 = now_s();
		sink = !only || !strcmp(only, "decode") ? pass_decode(&r, codec)
							: 0;
		t[2][k] = now_s() - t0;
		(void)sink;
		if (only && strcmp(only, "core")) {
			t[3][k] = 1;
			continue;
		}
		r.record = (k == 0 && truth);
		r.alerts = 0;
		t[3][k] = pass_core(&r, reg, expected, &ss, &jb, &td);
		if (getenv("BENCH_CORE_VERBOSE"))
			fprintf(stderr,
				"rep %d: core %.1f ms, teardown %.1f ms\n", k,
				t[3][k] * 1000, td * 1000);
	}
	printf("events: %zu (%d repetitions, median)\n", r.n, reps);
	printf("%-10s %12s %12s\n", "pass", "ms", "events/s");
	for (int p = 0; p < 4; p++) {
		qsort(t[p], (size_t)reps, sizeof(double), cmp_d);
		med[p] = t[p][reps / 2];
		printf("%-10s %12.1f %12.0f\n", names[p], med[p] * 1000,
		       (double)r.n / med[p]);
	}
	printf("ratio core/decode    %.2f\n", med[2] / med[3]);
	printf("ratio core/avro-c    %.2f\n", med[1] / med[3]);
	printf("ratio core/read-only %.3f\n", med[0] / med[3]);
	printf("state: %llu specimens, %llu bytes accounted (%.0f B/specimen), "
	       "jemalloc allocated %zu bytes at end of run\n",
	       (unsigned long long)ss.specimens, (unsigned long long)ss.bytes,
	       ss.specimens ? (double)ss.bytes / (double)ss.specimens : 0.0,
	       jb);
	printf("alerts: %llu messages\n", (unsigned long long)r.alerts);
	if (truth)
		bad = check_truth(&r, truth);
	lw_codec_destroy(codec);
	lw_registry_destroy(reg);
	return bad;
}
