/* labwatch-gen: writes the synthetic traffic of the traffic module to Kafka
 * and/or to a dump file, and its ground truth to a TSV file.
 *
 * Design: a thin shell around lw_traffic_run(). Options are parsed once
 * into a config; the emit callback only filters by produce index
 * ([--from, --to)), then appends to the dump file and/or hands the message
 * to an idempotent librdkafka producer (key = the message key, timestamp =
 * the event's time). The truth file always covers the whole scenario, so
 * with --to and no --truth the run stops early. Delivery reports are
 * counted in the delivery callback; the exit status is non-zero when any
 * message failed or was still queued after the final flush. SIGINT/SIGTERM
 * only set a flag; the callback notices it and the run winds down in order
 * (flush, summary). Cost: the generator dominates; librdkafka copies each
 * message (RD_KAFKA_MSG_F_COPY) because the generator reuses its buffer.
 *
 * The processor's rule settings (SLAs, lateness, fan-in, surge) shape the
 * traffic and its truth; they are given with the processor's own property
 * names (-P sla.critical.ms=600000), or with the matching long options
 * (--sla-critical-ms 600000), so a test can pass one list to both. */
#include "dumpfile.h"
#include "log.h"
#include "traffic.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLUSH_TIMEOUT_MS 120000
#define MAX_PROPS	 64

/* long option -> the processor's property name (lw_traffic_config_set) */
static const struct rule_opt {
	const char *opt, *prop;
} rule_opts[] = {
    {"clock-skew-ms", "clock.skew.ms"},
    {"lateness-ms", "time.lateness.ms"},
    {"sla-critical-ms", "sla.critical.ms"},
    {"sla-default-ms", "sla.default.ms"},
    {"orphan-grace-ms", "orphan.grace.ms"},
    {"fanin-window-ms", "fanin.window.ms"},
    {"fanin-threshold", "fanin.threshold"},
    {"surge-window-ms", "surge.window.ms"},
    {"surge-cap", "surge.cap"},
    {"surge-short-ms", "surge.short.ms"},
    {"surge-baseline-ms", "surge.baseline.ms"},
    {"surge-factor", "surge.factor"},
    {"surge-min-count", "surge.min.count"},
    {"surge-bucket-ms", "surge.bucket.ms"},
};
#define NRULE_OPTS (sizeof rule_opts / sizeof rule_opts[0])
#define O_RULE	   1000 /* + index into rule_opts */

struct gen {
	uint64_t from, to;
	FILE *dump;
	const char *dump_path;
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt_results, *rkt_notifications;
	const char *results_topic;
	uint64_t produced, dumped;
	uint64_t delivered, failed; /* from delivery reports */
	int io_error;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: labwatch-gen [options]\n"
	    "Generates synthetic lab-result and notification traffic with "
	    "ground truth.\n"
	    "\n"
	    "  -b, --brokers LIST        produce to Kafka (idempotent)\n"
	    "      --dump FILE           write a dump file (partition -1, "
	    "offset = index)\n"
	    "      --truth FILE          write the truth TSV (whole scenario)\n"
	    "      --specimens N         specimens (default 1000)\n"
	    "      --seed S              seed (default 1)\n"
	    "      --fault-rate R        faulty specimens (default 0.02)\n"
	    "      --bad-rate R          bad messages (default 0.002)\n"
	    "      --key-mismatch R      clean messages keyed by another "
	    "specimen\n"
	    "                            (default 0.005; 0 keeps the input "
	    "co-partitioned)\n"
	    "      --evolved-share R     messages with schema 101/102 "
	    "(default 0.10)\n"
	    "      --late-share R        specimens with late results "
	    "(default 0.10)\n"
	    "      --start-ms MS         first event time (default "
	    "1767571200000)\n"
	    "      --gap-ms MS           mean gap between specimens "
	    "(default 1500)\n"
	    "      --fanout-min K        batch_fanout recipients, min "
	    "(default 5)\n"
	    "      --fanout-max K        batch_fanout recipients, max "
	    "(default 62)\n"
	    "      --faults LIST         fault kinds: names, classic, new, "
	    "all, none,\n"
	    "                            comma-separated (default classic)\n"
	    "      --timer-faults        the same as --faults all\n"
	    "      --surge-burst N       volume_surge notifications "
	    "(default 400)\n"
	    "  -P, --processor-property K=V  a rule setting by the "
	    "processor's name:\n"
	    "                            clock.skew.ms time.lateness.ms "
	    "sla.critical.ms\n"
	    "                            sla.default.ms orphan.grace.ms "
	    "fanin.window.ms\n"
	    "                            fanin.threshold surge.window.ms "
	    "surge.cap\n"
	    "                            surge.short.ms surge.baseline.ms "
	    "surge.factor\n"
	    "                            surge.min.count surge.bucket.ms "
	    "(integers, ms)\n"
	    "      --clock-skew-ms .. --surge-min-count V  the same as long "
	    "options:\n"
	    "                            --clock-skew-ms --lateness-ms "
	    "--sla-critical-ms\n"
	    "                            --sla-default-ms --orphan-grace-ms "
	    "--fanin-window-ms\n"
	    "                            --fanin-threshold --surge-window-ms "
	    "--surge-cap\n"
	    "                            --surge-short-ms --surge-baseline-ms "
	    "--surge-factor\n"
	    "                            --surge-min-count --surge-bucket-ms\n"
	    "      --from I              first produce index to write "
	    "(default 0)\n"
	    "      --to J                stop writing before index J "
	    "(default: all)\n"
	    "  -t, --results-topic T     (default lab.results)\n"
	    "  -n, --notifications-topic T (default lab.notifications)\n"
	    "  -X, --property K=V        librdkafka property (repeatable)\n"
	    "  -h, --help\n"
	    "\n"
	    "Without -b and --dump nothing is written but the truth and the "
	    "summary.\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;
	errno = 0;
	v = strtoll(s, &end, 0);
	if (!*s || errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_rate(const char *s, double *out)
{
	char *end;
	double v;
	errno = 0;
	v = strtod(s, &end);
	if (!*s || errno || *end || !(v >= 0.0 && v <= 1.0))
		return -1;
	*out = v;
	return 0;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct gen *g = opaque;
	static lw_ratelimit rl;
	(void)rk;
	if (m->err) {
		g->failed++;
		lw_log_limited(&rl, LW_LOG_WARN, "delivery failed: %s",
			       rd_kafka_err2str(m->err));
	} else {
		g->delivered++;
	}
}

static int produce(struct gen *g, const lw_traffic_msg *m)
{
	rd_kafka_topic_t *rkt = m->topic == g->results_topic
				    ? g->rkt_results
				    : g->rkt_notifications;
	for (;;) {
		rd_kafka_resp_err_t err = rd_kafka_producev(
		    g->rk, RD_KAFKA_V_RKT(rkt),
		    RD_KAFKA_V_KEY(m->key, m->key ? m->key_len : 0),
		    RD_KAFKA_V_VALUE((void *)m->value, m->value_len),
		    RD_KAFKA_V_TIMESTAMP(m->timestamp_ms),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (!err)
			break;
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			lw_log(LW_LOG_ERROR, "produce index %" PRIu64 ": %s",
			       m->index, rd_kafka_err2str(err));
			return -1;
		}
		/* local queue full: serve delivery reports, then retry */
		rd_kafka_poll(g->rk, 100);
		if (g_stop)
			return -1;
	}
	g->produced++;
	if ((g->produced & 1023) == 0)
		rd_kafka_poll(g->rk, 0);
	return 0;
}

static int on_msg(const lw_traffic_msg *m, void *opaque)
{
	struct gen *g = opaque;

	if (g_stop)
		return 1;
	if (m->index < g->from)
		return 0;
	if (m->index >= g->to)
		return 0;
	if (g->dump) {
		lw_dump_record r = {
		    .topic = m->topic,
		    .partition = -1,
		    .offset = (int64_t)m->index,
		    .timestamp_ms = m->timestamp_ms,
		    .key = m->key,
		    .key_len = (int32_t)m->key_len,
		    .value = m->value,
		    .value_len = (int32_t)m->value_len,
		};
		if (lw_dump_write(g->dump, &r)) {
			lw_log(LW_LOG_ERROR, "%s: %s", g->dump_path,
			       strerror(errno));
			g->io_error = 1;
			return 1;
		}
		g->dumped++;
	}
	if (g->rk && produce(g, m)) {
		g->io_error = 1;
		return 1;
	}
	return 0;
}

/* The run can stop at --to when nothing needs the rest of the scenario. */
struct stop_at {
	struct gen *g;
	uint64_t to;
};

static int on_msg_until(const lw_traffic_msg *m, void *opaque)
{
	struct stop_at *s = opaque;
	if (m->index >= s->to)
		return 1;
	return on_msg(m, s->g);
}

static void summary(const lw_traffic_stats *st, const struct gen *g, int64_t ms)
{
	fprintf(stderr,
		"labwatch-gen: %" PRIu64 " messages (%" PRIu64
		" results, %" PRIu64 " notifications) in %.1f s\n"
		"  specimens %" PRIu64 " (targets %" PRIu64 ", late %" PRIu64
		", corrected %" PRIu64 "), duplicates %" PRIu64
		", evolved %" PRIu64 ", foreign keys %" PRIu64 "\n",
		st->messages, st->results, st->notifications,
		(double)ms / 1000.0, st->specimens, st->targets,
		st->late_specimens, st->corrections, st->duplicates,
		st->evolved, st->key_mismatch);
	fprintf(stderr, "  faults:");
	for (int i = 0; i < LW_TRAFFIC_FAULT_COUNT; i++)
		fprintf(stderr, " %s=%" PRIu64,
			lw_traffic_fault_name((lw_traffic_fault)i),
			st->faults[i]);
	fprintf(stderr, "\n  expected alerts:");
	for (int i = 0; i < LW_TRAFFIC_RULE_COUNT; i++)
		fprintf(stderr, " %s=%" PRIu64,
			lw_traffic_rule_name((lw_traffic_rule)i),
			st->alerts[i]);
	fprintf(stderr, " (CRITICAL=%" PRIu64 " HIGH=%" PRIu64 ")\n  dlq:",
		st->alerts_by_severity[LW_TRAFFIC_SEV_CRITICAL],
		st->alerts_by_severity[LW_TRAFFIC_SEV_HIGH]);
	for (int i = 0; i < LW_TRAFFIC_DLQ_COUNT; i++)
		fprintf(stderr, " %s=%" PRIu64,
			lw_traffic_dlq_name((lw_traffic_dlq)i), st->dlq[i]);
	fprintf(stderr, "\n");
	if (g->dump)
		fprintf(stderr, "  dumped %" PRIu64 " to %s\n", g->dumped,
			g->dump_path);
	if (g->rk)
		fprintf(stderr,
			"  produced %" PRIu64 ", delivered %" PRIu64
			", failed %" PRIu64 "\n",
			g->produced, g->delivered, g->failed);
}

static rd_kafka_t *make_producer(struct gen *g, const char *brokers,
				 char **props, int nprops)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	static const char *const defaults[][2] = {
	    {"enable.idempotence", "true"},
	    /* the same partition for a key as Java clients choose */
	    {"partitioner", "murmur2_random"},
	    {"linger.ms", "20"},
	    {"compression.codec", "lz4"},
	};

	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr,
			      sizeof errstr) != RD_KAFKA_CONF_OK)
		goto conf_fail;
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1],
				      errstr,
				      sizeof errstr) != RD_KAFKA_CONF_OK)
			goto conf_fail;
	for (int i = 0; i < nprops; i++) {
		char *eq = strchr(props[i], '=');
		if (!eq) {
			snprintf(errstr, sizeof errstr,
				 "-X %s: expected property=value", props[i]);
			goto conf_fail;
		}
		*eq = '\0';
		if (rd_kafka_conf_set(conf, props[i], eq + 1, errstr,
				      sizeof errstr) != RD_KAFKA_CONF_OK)
			goto conf_fail;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_conf_set_opaque(conf, g);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
	if (!rk) /* conf is still ours on failure */
		goto conf_fail;
	return rk;
conf_fail:
	fprintf(stderr, "labwatch-gen: %s\n", errstr);
	rd_kafka_conf_destroy(conf);
	return NULL;
}

int main(int argc, char **argv)
{
	enum {
		O_DUMP = 256,
		O_TRUTH,
		O_SPECIMENS,
		O_SEED,
		O_FAULT,
		O_BAD,
		O_KEYMIS,
		O_EVOLVED,
		O_LATE,
		O_START,
		O_GAP,
		O_FMIN,
		O_FMAX,
		O_FROM,
		O_TO,
		O_FAULTS,
		O_TIMER_FAULTS,
		O_BURST
	};
	static const struct option base_opts[] = {
	    {"brokers", required_argument, NULL, 'b'},
	    {"dump", required_argument, NULL, O_DUMP},
	    {"truth", required_argument, NULL, O_TRUTH},
	    {"specimens", required_argument, NULL, O_SPECIMENS},
	    {"seed", required_argument, NULL, O_SEED},
	    {"fault-rate", required_argument, NULL, O_FAULT},
	    {"bad-rate", required_argument, NULL, O_BAD},
	    {"key-mismatch", required_argument, NULL, O_KEYMIS},
	    {"evolved-share", required_argument, NULL, O_EVOLVED},
	    {"late-share", required_argument, NULL, O_LATE},
	    {"start-ms", required_argument, NULL, O_START},
	    {"gap-ms", required_argument, NULL, O_GAP},
	    {"fanout-min", required_argument, NULL, O_FMIN},
	    {"fanout-max", required_argument, NULL, O_FMAX},
	    {"faults", required_argument, NULL, O_FAULTS},
	    {"timer-faults", no_argument, NULL, O_TIMER_FAULTS},
	    {"surge-burst", required_argument, NULL, O_BURST},
	    {"from", required_argument, NULL, O_FROM},
	    {"to", required_argument, NULL, O_TO},
	    {"results-topic", required_argument, NULL, 't'},
	    {"notifications-topic", required_argument, NULL, 'n'},
	    {"property", required_argument, NULL, 'X'},
	    {"processor-property", required_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	};
	struct option
	    opts[sizeof base_opts / sizeof base_opts[0] + NRULE_OPTS + 1];
	lw_traffic_config cfg;
	lw_traffic_stats st;
	lw_traffic *t = NULL;
	struct gen g;
	struct stop_at sa;
	const char *brokers = NULL, *truth_path = NULL;
	char *props[MAX_PROPS];
	char errstr[512];
	FILE *truth = NULL;
	int nprops = 0, c, rc, status = 1;
	uint64_t u;
	int64_t t0;

	memset(&g, 0, sizeof g);
	memcpy(opts, base_opts, sizeof base_opts);
	for (size_t i = 0; i < NRULE_OPTS; i++)
		opts[sizeof base_opts / sizeof base_opts[0] + i] =
		    (struct option){rule_opts[i].opt, required_argument, NULL,
				    O_RULE + (int)i};
	memset(&opts[sizeof base_opts / sizeof base_opts[0] + NRULE_OPTS], 0,
	       sizeof opts[0]);
	g.to = UINT64_MAX;
	lw_traffic_config_defaults(&cfg);
	while ((c = getopt_long(argc, argv, "b:t:n:X:P:h", opts, NULL)) != -1) {
		int bad = 0;
		if (c >= O_RULE && c < O_RULE + (int)NRULE_OPTS) {
			if (lw_traffic_config_set(
				&cfg, rule_opts[c - O_RULE].prop, optarg,
				errstr, sizeof errstr)) {
				fprintf(stderr, "labwatch-gen: %s\n", errstr);
				return 2;
			}
			continue;
		}
		switch (c) {
		case 'b':
			brokers = optarg;
			break;
		case O_DUMP:
			g.dump_path = optarg;
			break;
		case O_TRUTH:
			truth_path = optarg;
			break;
		case O_SPECIMENS:
			bad = parse_u64(optarg, &cfg.specimens);
			break;
		case O_SEED:
			bad = parse_u64(optarg, &cfg.seed);
			break;
		case O_FAULT:
			bad = parse_rate(optarg, &cfg.fault_rate);
			break;
		case O_BAD:
			bad = parse_rate(optarg, &cfg.bad_rate);
			break;
		case O_KEYMIS:
			bad = parse_rate(optarg, &cfg.key_mismatch);
			break;
		case O_EVOLVED:
			bad = parse_rate(optarg, &cfg.evolved_share);
			break;
		case O_LATE:
			bad = parse_rate(optarg, &cfg.late_share);
			break;
		case O_START:
			bad = parse_i64(optarg, &cfg.start_ms);
			break;
		case O_GAP:
			bad = parse_i64(optarg, &cfg.gap_ms);
			break;
		case O_FMIN:
		case O_FMAX:
			bad = parse_u64(optarg, &u) || u > 100000;
			if (!bad && c == O_FMIN)
				cfg.fanout_min = (int)u;
			else if (!bad)
				cfg.fanout_max = (int)u;
			break;
		case O_FAULTS:
			if (lw_traffic_faults_parse(optarg, &cfg.faults, errstr,
						    sizeof errstr)) {
				fprintf(stderr, "labwatch-gen: --faults: %s\n",
					errstr);
				return 2;
			}
			break;
		case O_TIMER_FAULTS:
			cfg.faults = LW_TRAFFIC_FAULTS_ALL;
			break;
		case O_BURST:
			bad = parse_u64(optarg, &u) || u > 100000;
			if (!bad)
				cfg.surge_burst = (uint32_t)u;
			break;
		case 'P': {
			char name[64], *eq = strchr(optarg, '=');
			if (!eq || (size_t)(eq - optarg) >= sizeof name) {
				fprintf(stderr,
					"labwatch-gen: -P %s: expected "
					"property=value\n",
					optarg);
				return 2;
			}
			memcpy(name, optarg, (size_t)(eq - optarg));
			name[eq - optarg] = '\0';
			if (lw_traffic_config_set(&cfg, name, eq + 1, errstr,
						  sizeof errstr)) {
				fprintf(stderr, "labwatch-gen: %s\n", errstr);
				return 2;
			}
			break;
		}
		case O_FROM:
			bad = parse_u64(optarg, &g.from);
			break;
		case O_TO:
			bad = parse_u64(optarg, &g.to);
			break;
		case 't':
			cfg.results_topic = optarg;
			break;
		case 'n':
			cfg.notifications_topic = optarg;
			break;
		case 'X':
			if (nprops == MAX_PROPS) {
				fprintf(stderr, "labwatch-gen: too many -X\n");
				return 2;
			}
			props[nprops++] = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "labwatch-gen: bad value for %s: %s\n",
				argv[optind - 1], optarg);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "labwatch-gen: unexpected argument %s\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	if (nprops && !brokers) {
		fprintf(stderr, "labwatch-gen: -X needs -b\n");
		return 2;
	}

	t = lw_traffic_new(&cfg, errstr, sizeof errstr);
	if (!t) {
		fprintf(stderr, "labwatch-gen: %s\n", errstr);
		return 2;
	}
	g.results_topic = cfg.results_topic;
	if (g.dump_path) {
		g.dump = fopen(g.dump_path, "wb");
		if (!g.dump || lw_dump_write_header(g.dump)) {
			fprintf(stderr, "labwatch-gen: %s: %s\n", g.dump_path,
				strerror(errno));
			goto out;
		}
		setvbuf(g.dump, NULL, _IOFBF, 1u << 20);
	}
	if (truth_path) {
		truth = fopen(truth_path, "w");
		if (!truth) {
			fprintf(stderr, "labwatch-gen: %s: %s\n", truth_path,
				strerror(errno));
			goto out;
		}
	}
	if (brokers) {
		g.rk = make_producer(&g, brokers, props, nprops);
		if (!g.rk)
			goto out;
		g.rkt_results =
		    rd_kafka_topic_new(g.rk, cfg.results_topic, NULL);
		g.rkt_notifications =
		    rd_kafka_topic_new(g.rk, cfg.notifications_topic, NULL);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	t0 = lw_mono_ms();
	if (truth) {
		rc = lw_traffic_run(t, on_msg, &g, truth);
	} else {
		sa.g = &g;
		sa.to = g.to;
		rc = lw_traffic_run(t, on_msg_until, &sa, NULL);
		if (rc == 1 && !g_stop && !g.io_error)
			rc = 0; /* stopped at --to on purpose */
	}
	if (g.rk) {
		rd_kafka_resp_err_t ferr =
		    rd_kafka_flush(g.rk, FLUSH_TIMEOUT_MS);
		if (ferr) {
			int left = rd_kafka_outq_len(g.rk);
			lw_log(LW_LOG_ERROR, "flush: %s, %d messages left",
			       rd_kafka_err2str(ferr), left);
			g.failed += (uint64_t)(left > 0 ? left : 0);
		}
	}
	lw_traffic_get_stats(t, &st);
	summary(&st, &g, lw_mono_ms() - t0);
	status = 0;
	if (rc != 0) {
		fprintf(stderr, "labwatch-gen: %s\n",
			g_stop	     ? "interrupted"
			: g.io_error ? "stopped on an output error"
				     : "generation failed");
		status = 1;
	}
	if (g.failed) {
		fprintf(stderr, "labwatch-gen: %" PRIu64 " deliveries failed\n",
			g.failed);
		status = 1;
	}
out:
	if (truth && fclose(truth)) {
		fprintf(stderr, "labwatch-gen: %s: %s\n", truth_path,
			strerror(errno));
		status = 1;
	}
	if (g.dump && fclose(g.dump)) {
		fprintf(stderr, "labwatch-gen: %s: %s\n", g.dump_path,
			strerror(errno));
		status = 1;
	}
	if (g.rkt_results)
		rd_kafka_topic_destroy(g.rkt_results);
	if (g.rkt_notifications)
		rd_kafka_topic_destroy(g.rkt_notifications);
	if (g.rk)
		rd_kafka_destroy(g.rk);
	lw_traffic_destroy(t);
	return status;
}
