/* bench_memory: what the join state costs in memory, and whether memory
 * stays flat when the state size is constant.
 *
 *   bench_memory --specimens N [--seed S] [--max-rss-mb M]
 *   bench_memory --cap N --events M [--sample K] [--seed S]
 *
 * Design. Generated traffic (traffic.h) is streamed in process, one message
 * at a time, straight into an lw_engine whose callbacks only count: no dump
 * file and no broker, so the process holds the engine, the generator's
 * specimens in flight and little else. The loop calls lw_engine_flush()
 * and lw_engine_housekeeping() every 1000 messages, as the processor does
 * per batch.
 *
 * --specimens N: no cap, no TTL, so every specimen stays tracked. At the end
 * (generator destroyed first) it reports jemalloc's stats.allocated minus
 * the same figure before the engine existed, divided by the tracked
 * specimens (lw_state_get_stats), beside the state's own accounting and the
 * peak RSS (VmHWM). --max-rss-mb stops early (reporting the figures at that
 * point, exit 3) so that an oversized run cannot push the machine into
 * swap or the OOM killer.
 *
 * --cap N --events M: state.max.specimens = N (TTL off), so after warm-up
 * the state size is constant while traffic keeps flowing. Warm-up ends at
 * the first sample at which the state has evicted 2N specimens (it has
 * turned over twice) and 10% of the events have passed: by then the
 * allocator's arenas and the generator's specimens in flight have reached
 * their working size. Every K messages it prints RSS
 * (/proc/self/statm), jemalloc allocated and resident (after an `epoch`
 * refresh) and the state figures; at the end the drift between the first
 * sample after warm-up and the last, and the largest excursion in between.
 * "flat" means both drifts are within 5%.
 *
 * Output: `sample ...` lines, then key=value lines. The generator's cost is
 * inside the timings, so this tool reports memory, not speed. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef LW_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "engine.h"
#include "log.h"
#include "registry.h"
#include "traffic.h"

#define MSGS_PER_SPECIMEN 3.32
#define BATCH		  1000

typedef struct memsample {
	uint64_t rss;	    /* bytes, /proc/self/statm */
	uint64_t allocated; /* jemalloc stats.allocated, 0 without jemalloc */
	uint64_t resident;  /* jemalloc stats.resident */
} memsample;

typedef struct bench {
	lw_engine *eng;
	const char *results_topic;
	uint64_t msgs, limit, sample_every;
	uint64_t alerts, deadletters;
	uint64_t max_rss;
	uint64_t cap;
	int aborted;
	/* flat mode */
	int have_base;
	memsample base, last, hi, lo;
	uint64_t base_at;
	double t0;
} bench;

static void count_events(void *opaque, const lw_specimen *s)
{
	uint64_t *n = opaque;
	*n += (uint64_t)s->nresults + s->nnotifs;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_alert(void *opaque, const lw_alert *a, const lw_msg *cause)
{
	bench *b = opaque;
	(void)a;
	(void)cause;
	b->alerts++;
}

static void on_dlq(void *opaque, const lw_msg *m, const char *reason,
		   const char *detail, int32_t schema_id, int processed)
{
	bench *b = opaque;
	(void)m;
	(void)reason;
	(void)detail;
	(void)schema_id;
	(void)processed;
	b->deadletters++;
}

static uint64_t rss_bytes(void)
{
	unsigned long long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* VmHWM: the peak resident set so far. */
static uint64_t peak_rss_bytes(void)
{
	char line[256];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

static void mem_sample(memsample *s)
{
	memset(s, 0, sizeof *s);
	s->rss = rss_bytes();
#ifdef LW_HAVE_JEMALLOC
	{
		uint64_t epoch = 1;
		size_t sz = sizeof epoch, v;
		mallctl("epoch", &epoch, &sz, &epoch, sz);
		sz = sizeof v;
		if (mallctl("stats.allocated", &v, &sz, NULL, 0) == 0)
			s->allocated = v;
		sz = sizeof v;
		if (mallctl("stats.resident", &v, &sz, NULL, 0) == 0)
			s->resident = v;
	}
#endif
}

static void print_sample(bench *b)
{
	memsample m;
	lw_state_stats ss;
	mem_sample(&m);
	lw_state_get_stats(lw_engine_state(b->eng), &ss);
	printf("sample events=%" PRIu64 " seconds=%.1f rss=%" PRIu64
	       " allocated=%" PRIu64 " resident=%" PRIu64 " specimens=%" PRIu64
	       " state_bytes=%" PRIu64 " evicted=%" PRIu64 "\n",
	       b->msgs, now_s() - b->t0, m.rss, m.allocated, m.resident,
	       ss.specimens, ss.bytes, ss.evicted);
	fflush(stdout);
	if (!b->have_base && ss.evicted >= 2 * b->cap &&
	    b->msgs * 10 >= b->limit) {
		b->have_base = 1;
		b->base = b->hi = b->lo = m;
		b->base_at = b->msgs;
	}
	if (b->have_base) {
		if (m.rss > b->hi.rss)
			b->hi.rss = m.rss;
		if (m.rss < b->lo.rss)
			b->lo.rss = m.rss;
		if (m.allocated > b->hi.allocated)
			b->hi.allocated = m.allocated;
		if (m.allocated < b->lo.allocated)
			b->lo.allocated = m.allocated;
	}
	b->last = m;
}

static int on_msg(const lw_traffic_msg *tm, void *opaque)
{
	bench *b = opaque;
	int topic = tm->topic == b->results_topic ? LW_TOPIC_RESULTS
						  : LW_TOPIC_NOTIFICATIONS;
	lw_msg m = {topic,
		    tm->topic,
		    0,
		    (int64_t)tm->index,
		    -1,
		    tm->key,
		    tm->key ? tm->key_len : 0,
		    tm->value,
		    tm->value_len};
	if (b->limit && b->msgs >= b->limit)
		return 1;
	lw_engine_process(b->eng, &m);
	b->msgs++;
	if (b->msgs % BATCH == 0) {
		lw_engine_flush(b->eng);
		lw_engine_housekeeping(b->eng, 64);
	}
	if (b->sample_every && b->msgs % b->sample_every == 0)
		print_sample(b);
	if (b->max_rss && (b->msgs & 65535) == 0 && rss_bytes() > b->max_rss) {
		b->aborted = 1;
		return 1;
	}
	return 0;
}

static double pct(uint64_t now, uint64_t then)
{
	return then ? ((double)now - (double)then) * 100.0 / (double)then : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_memory --specimens N [--seed S] "
		   "[--max-rss-mb M]\n"
		   "       bench_memory --cap N --events M [--sample K] "
		   "[--seed S]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"specimens", required_argument, NULL, 'n'},
	    {"cap", required_argument, NULL, 'c'},
	    {"events", required_argument, NULL, 'e'},
	    {"sample", required_argument, NULL, 'k'},
	    {"seed", required_argument, NULL, 's'},
	    {"max-rss-mb", required_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bench b;
	lw_traffic_config tc;
	lw_traffic *t;
	lw_engine_config ec;
	lw_engine_callbacks cb = {on_alert, on_dlq, NULL, NULL};
	lw_registry *reg;
	lw_state_stats ss;
	memsample before, after;
	uint64_t specimens = 0, cap = 0, events = 0, sample = 0;
	char err[256];
	int c, rc;
	double secs;

	memset(&b, 0, sizeof b);
	lw_traffic_config_defaults(&tc);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			specimens = strtoull(optarg, NULL, 10);
			break;
		case 'c':
			cap = strtoull(optarg, NULL, 10);
			break;
		case 'e':
			events = strtoull(optarg, NULL, 10);
			break;
		case 'k':
			sample = strtoull(optarg, NULL, 10);
			break;
		case 's':
			tc.seed = strtoull(optarg, NULL, 10);
			break;
		case 'm':
			b.max_rss = strtoull(optarg, NULL, 10) << 20;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind < argc || (!specimens == !cap) || (cap && !events)) {
		usage(stderr);
		return 64;
	}
	lw_log_set_level(LW_LOG_ERROR);
	reg = lw_registry_new(lw_default_registry_dir(), err, sizeof err);
	if (!reg) {
		fprintf(stderr, "bench_memory: %s\n", err);
		return 1;
	}
	lw_engine_config_defaults(&ec);
	ec.state.ttl_ms = 0;
	ec.state.max_bytes = 0;
	if (cap) {
		ec.state.max_specimens = cap;
		ec.state.expected_specimens = cap;
		/* enough specimens that the stream outlasts --events */
		tc.specimens =
		    (uint64_t)((double)events / MSGS_PER_SPECIMEN) + cap + 1000;
		b.limit = events;
		b.cap = cap;
		b.sample_every =
		    sample ? sample : (events / 40 ? events / 40 : 1000);
	} else {
		ec.state.max_specimens = 0;
		ec.state.expected_specimens = specimens;
		tc.specimens = specimens;
	}
	t = lw_traffic_new(&tc, err, sizeof err);
	if (!t) {
		fprintf(stderr, "bench_memory: %s\n", err);
		return 1;
	}
	b.results_topic = tc.results_topic;
	mem_sample(&before);
	cb.opaque = &b;
	b.eng = lw_engine_new(&ec, reg, &cb);
	b.t0 = now_s();
	rc = lw_traffic_run(t, on_msg, &b, NULL);
	lw_engine_flush(b.eng);
	secs = now_s() - b.t0;
	if (rc < 0) {
		fprintf(stderr, "bench_memory: generator failed\n");
		return 1;
	}
	/* the last sample before the generator goes: it is part of the
	 * steady state */
	if (cap)
		print_sample(&b);
	lw_traffic_destroy(t);
	mem_sample(&after);
	lw_state_get_stats(lw_engine_state(b.eng), &ss);
	{
		/* what the processor's restore-point sweep (processor.c)
		 * costs over this state: one whole pass, every record
		 * unpacked and its events' offsets visited */
		uint64_t visited = 0;
		double t1 = now_s(), sweep_s;
		int rc2;
		do
			rc2 = lw_state_sweep_step(lw_engine_state(b.eng), 4096,
						  count_events, &visited);
		while (rc2 == LW_SWEEP_MORE);
		sweep_s = now_s() - t1;
		printf("sweep_ms=%.1f\n", sweep_s * 1000);
		printf("sweep_events=%" PRIu64 "\n", visited);
		if (ss.specimens)
			printf("sweep_ns_per_specimen=%.0f\n",
			       sweep_s * 1e9 / (double)ss.specimens);
	}

	printf("events=%" PRIu64 "\n", b.msgs);
	printf("seconds=%.1f\n", secs);
	printf("alerts=%" PRIu64 "\n", b.alerts);
	printf("deadletters=%" PRIu64 "\n", b.deadletters);
	printf("specimens=%" PRIu64 "\n", ss.specimens);
	printf("state_bytes=%" PRIu64 "\n", ss.bytes);
	printf("evicted=%" PRIu64 "\n", ss.evicted);
	{
		lw_engine_stats es;
		lw_engine_get_stats(b.eng, &es);
		printf("fanin_recipients=%" PRIu64 "\nfanin_bytes=%" PRIu64
		       "\n",
		       es.fanin.recipients, es.fanin.bytes);
	}
	printf("peak_rss=%" PRIu64 "\n", peak_rss_bytes());
	printf("rss=%" PRIu64 "\n", after.rss);
	printf("allocated=%" PRIu64 "\n", after.allocated);
	printf("allocated_before_engine=%" PRIu64 "\n", before.allocated);
	printf("resident=%" PRIu64 "\n", after.resident);
#ifdef LW_HAVE_JEMALLOC
	printf("jemalloc=yes\n");
#else
	printf("jemalloc=no\n");
#endif
	if (ss.specimens) {
		double n = (double)ss.specimens;
		printf("bytes_per_specimen_jemalloc=%.1f\n",
		       ((double)after.allocated - (double)before.allocated) /
			   n);
		printf("bytes_per_specimen_accounted=%.1f\n",
		       (double)ss.bytes / n);
		printf("bytes_per_specimen_peak_rss=%.1f\n",
		       (double)peak_rss_bytes() / n);
	}
	if (cap) {
		if (!b.have_base) {
			printf("flat=unknown (the state never reached the cap; "
			       "more --events)\n");
		} else {
			double dr = pct(b.last.rss, b.base.rss),
			       da = pct(b.last.allocated, b.base.allocated);
			printf("warmup_events=%" PRIu64 "\n", b.base_at);
			printf("rss_first=%" PRIu64 "\nrss_last=%" PRIu64
			       "\nrss_max=%" PRIu64 "\n",
			       b.base.rss, b.last.rss, b.hi.rss);
			printf("allocated_first=%" PRIu64
			       "\nallocated_last=%" PRIu64
			       "\nallocated_max=%" PRIu64 "\n",
			       b.base.allocated, b.last.allocated,
			       b.hi.allocated);
			printf("rss_drift_pct=%.2f\n", dr);
			printf("rss_max_excursion_pct=%.2f\n",
			       pct(b.hi.rss, b.base.rss));
			printf("allocated_drift_pct=%.2f\n", da);
			printf("allocated_max_excursion_pct=%.2f\n",
			       pct(b.hi.allocated, b.base.allocated));
			printf("flat=%s\n",
			       dr < 5 && dr > -5 && da < 5 && da > -5 ? "yes"
								      : "no");
		}
	}
	if (b.aborted)
		printf("aborted=rss limit reached after %" PRIu64
		       " events (figures are at that point)\n",
		       b.msgs);
	lw_engine_destroy(b.eng);
	lw_registry_destroy(reg);
	return b.aborted ? 3 : 0;
}
