/* config: the property table and its parser.
 *
 * Design (after librdkafka's rdkafka_conf.c): every setting is one row of
 * `props` with its name, type, offset into lw_config, range, default and
 * description. Defaults, parsing, validation and --help all walk that one
 * table, so a new setting is one line and cannot be half-documented. Sizes
 * and durations accept suffixes (k/M/G; ms/s/m/h/d) for humans. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

enum ptype { P_STR, P_INT, P_BYTES, P_MS, P_BOOL };

typedef struct prop {
	const char *name;
	int type;
	size_t off;
	int64_t min, max;
	const char *def;
	const char *desc;
} prop;

#define OFF(f) offsetof(lw_config, f)
#define BIG    INT64_MAX

static const prop props[] = {
    {"topic.results", P_STR, OFF(topic_results), 0, 0, "lab.results",
     "input topic of LabResult events"},
    {"topic.notifications", P_STR, OFF(topic_notifications), 0, 0,
     "lab.notifications", "input topic of NotificationSent events"},
    {"topic.alerts", P_STR, OFF(topic_alerts), 0, 0, "lab.alerts",
     "output topic of MismatchAlert records (key = alert_id)"},
    {"topic.deadletter", P_STR, OFF(topic_deadletter), 0, 0, "lab.deadletter",
     "output topic for input that cannot be processed (original bytes, reason "
     "in headers)"},
    {"group.id", P_STR, OFF(group_id), 0, 0, "labwatch",
     "consumer group (also passed to librdkafka)"},
    {"schema.registry.dir", P_STR, OFF(registry_dir), 0, 0, "",
     "directory of <ID>-<name>.avsc writer schemas; empty = "
     "$LABWATCH_SCHEMA_DIR, else the source tree's schemas/registry if "
     "present, else the embedded schemas only"},
    {"input.max.bytes", P_BYTES, OFF(input_max_bytes), 64, 1 << 30, "256k",
     "input values larger than this are dead-lettered as oversized"},
    {"state.max.specimens", P_INT, OFF(state_max_specimens), 0, BIG, "10000000",
     "specimens held at most; the least recently updated is evicted (0 = no "
     "cap)"},
    {"state.max.bytes", P_BYTES, OFF(state_max_bytes), 0, BIG, "4G",
     "bytes of join state held at most, as accounted; oldest evicted first (0 "
     "= no cap)"},
    {"state.ttl.ms", P_MS, OFF(state_ttl_ms), 0, BIG, "7d",
     "a specimen with no event newer than this (event time) expires (0 = "
     "never)"},
    {"state.expected.specimens", P_INT, OFF(state_expected_specimens), 1,
     1LL << 34, "65536", "pre-sizes the state table"},
    {"fanout.threshold", P_INT, OFF(fanout_threshold), 0, 1000000, "0",
     "FANOUT fires above this many distinct recipients; 0 = the specimen's "
     "contact count, or 2 with none"},
    {"clock.skew.ms", P_MS, OFF(clock_skew_ms), 0, 86400000, "5s",
     "a result recorded this long after a notification's sent_at still "
     "counts as in force when it was sent (clocks of the LIS and the "
     "notifier differ); a notification with no final result recorded by "
     "then waits"},
    {"time.lateness.ms", P_MS, OFF(time_lateness_ms), 0, 86400000, "5s",
     "allowed lateness: a partition's watermark is its newest event time "
     "minus this; events older than the stream time are applied and "
     "counted as late"},
    {"time.idle.timeout.ms", P_MS, OFF(time_idle_timeout_ms), 1, BIG, "30s",
     "a partition silent this long stops holding the stream time back; "
     "when all are, the stream time follows the wall clock so timers fire "
     "with no input (replay uses event time only)"},
    {"sla.critical.ms", P_MS, OFF(sla_critical_ms), 0, BIG, "1h",
     "MISSING_NOTIFICATION / CORRECTED_AFTER_NOTIFY: time allowed to notify "
     "a positive (critical) result"},
    {"sla.default.ms", P_MS, OFF(sla_default_ms), 0, BIG, "24h",
     "the same for every other result"},
    {"sla.codes", P_STR, OFF(sla_codes), 0, 0, "",
     "per-code SLAs overriding the two above, e.g. \"POS=30m,A1=2h\" "
     "(codes normalized like result codes)"},
    {"orphan.grace.ms", P_MS, OFF(orphan_grace_ms), 0, BIG, "1h",
     "ORPHAN_NOTIFICATION: a notification with no result recorded by "
     "sent_at + this"},
    {"fanin.window.ms", P_MS, OFF(fanin_window_ms), 1, BIG, "24h",
     "FANIN: window over which a recipient's distinct patients count"},
    {"fanin.threshold", P_INT, OFF(fanin_threshold), 0, 1000000, "5",
     "FANIN fires when one recipient got records of more distinct patients "
     "than this within the window (0 = off)"},
    {"surge.window.ms", P_MS, OFF(surge_window_ms), 60000, 2592000000LL, "24h",
     "VOLUME_SURGE: window of the cap"},
    {"surge.cap", P_INT, OFF(surge_cap), 0, BIG, "3000",
     "VOLUME_SURGE fires when more notifications than this were sent "
     "within the window (0 = no cap)"},
    {"surge.short.ms", P_MS, OFF(surge_short_ms), 60000, 2592000000LL, "1h",
     "VOLUME_SURGE: the recent window compared with the baseline"},
    {"surge.baseline.ms", P_MS, OFF(surge_baseline_ms), 60000, 2592000000LL,
     "24h",
     "VOLUME_SURGE: history before the recent window that sets the "
     "baseline (mean per recent window)"},
    {"surge.factor", P_INT, OFF(surge_factor), 0, 1000000, "10",
     "VOLUME_SURGE fires when the recent window has more than this times "
     "the baseline (0 = no baseline rule)"},
    {"surge.min.count", P_INT, OFF(surge_min_count), 0, BIG, "100",
     "... and at least this many notifications"},
    {"alert.max.evidence", P_INT, OFF(alert_max_evidence), 1, 100000, "100",
     "evidence entries listed per alert; the rest are counted in "
     "evidence_omitted"},
    {"commit.interval.ms", P_MS, OFF(commit_interval_ms), 10, BIG, "1s",
     "how often delivered progress is committed"},
    {"stats.interval.ms", P_MS, OFF(stats_interval_ms), 0, BIG, "30s",
     "how often a stats line is logged (0 = only at exit)"},
    {"shutdown.timeout.ms", P_MS, OFF(shutdown_timeout_ms), 0, BIG, "30s",
     "how long shutdown waits for alerts in flight to be acknowledged"},
    {"mock.partitions", P_INT, OFF(mock_partitions), 1, 1024, "4",
     "partitions per topic of the embedded mock cluster (used when no brokers "
     "are configured)"},
    {"restore", P_BOOL, OFF(restore), 0, 1, "true",
     "rebuild the join state after a restart by re-reading input from the "
     "oldest offset still needed"},
    {"alerts.stdout", P_BOOL, OFF(alerts_stdout), 0, 1, "false",
     "also print every alert as a JSON line on stdout"},
    {"log.level", P_STR, OFF(log_level), 0, 0, "info",
     "debug, info, warn or error"},
};

#define NPROPS (sizeof props / sizeof props[0])

static const prop *find_prop(const char *name)
{
	for (size_t i = 0; i < NPROPS; i++)
		if (strcmp(props[i].name, name) == 0)
			return &props[i];
	return NULL;
}

/* The multiplier a unit suffix stands for; *end advances past it. */
static int64_t unit_of(const char **end, int type)
{
	const char *e = *end;
	int64_t mult = 1;
	if (type == P_BYTES) {
		switch (tolower((unsigned char)*e)) {
		case 'k':
			mult = 1024;
			e++;
			break;
		case 'm':
			mult = 1024 * 1024;
			e++;
			break;
		case 'g':
			mult = 1024LL * 1024 * 1024;
			e++;
			break;
		}
		if (tolower((unsigned char)*e) == 'b')
			e++;
	} else if (type == P_MS) {
		if (strncmp(e, "ms", 2) == 0) {
			e += 2;
		} else if (*e == 's' || *e == 'm' || *e == 'h' || *e == 'd') {
			mult = *e == 's'   ? 1000
			       : *e == 'm' ? 60000
			       : *e == 'h' ? 3600000
					   : 86400000;
			e++;
		}
	}
	*end = e;
	return mult;
}

/* Integers are parsed as integers (exact up to INT64_MAX, no silent
 * truncation of "2.5"); sizes and durations may be fractional ("1.5G"). */
static int parse_num(const char *v, int type, int64_t *out)
{
	const char *end;
	char *e;
	int64_t mult;
	int fractional = 0;
	for (const char *p = v; *p && !isalpha((unsigned char)*p); p++)
		fractional |= *p == '.';
	errno = 0;
	if (!fractional) {
		long long n = strtoll(v, &e, 10);
		if (e == v || errno)
			return -1;
		end = e;
		while (isspace((unsigned char)*end))
			end++;
		mult = unit_of(&end, type);
		if (*end)
			return -1;
		if (n > 0 && n > INT64_MAX / mult)
			return -1;
		if (n < 0 && n < INT64_MIN / mult)
			return -1;
		*out = (int64_t)n * mult;
		return 0;
	}
	if (type == P_INT)
		return -1;
	{
		double d = strtod(v, &e);
		if (e == v || errno)
			return -1;
		end = e;
		while (isspace((unsigned char)*end))
			end++;
		mult = unit_of(&end, type);
		if (*end)
			return -1;
		d *= (double)mult;
		if (!(d >= -9.2e18 && d <= 9.2e18))
			return -1;
		*out = (int64_t)d;
	}
	return 0;
}

int lw_config_parse_ms(const char *v, int64_t *out)
{
	return parse_num(v, P_MS, out);
}

/* "CODE=duration,..." with non-empty codes and valid durations. */
static int check_sla_codes(const char *v)
{
	while (*v) {
		const char *end = strchr(v, ',');
		size_t len = end ? (size_t)(end - v) : strlen(v);
		const char *eq = memchr(v, '=', len);
		char num[32];
		int64_t ms;
		size_t nl;
		if (!eq || eq == v)
			return -1;
		nl = len - (size_t)(eq + 1 - v);
		if (nl == 0 || nl >= sizeof num)
			return -1;
		memcpy(num, eq + 1, nl);
		num[nl] = 0;
		if (parse_num(num, P_MS, &ms) || ms < 0)
			return -1;
		v = end ? end + 1 : v + len;
	}
	return 0;
}

static int parse_bool(const char *v, int64_t *out)
{
	if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) {
		*out = 1;
		return 0;
	}
	if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) {
		*out = 0;
		return 0;
	}
	return -1;
}

static int set_prop(lw_config *c, const prop *p, const char *value,
		    char *errstr, size_t errstr_size)
{
	char *base = (char *)c;
	int64_t v;
	if (p->type == P_STR) {
		char **slot = (char **)(base + p->off);
		if (p->off == OFF(sla_codes) && check_sla_codes(value)) {
			snprintf(errstr, errstr_size,
				 "%s: invalid value \"%s\" (expected "
				 "CODE=duration[,CODE=duration...])",
				 p->name, value);
			return -1;
		}
		free(*slot);
		*slot = lw_xstrdup(value);
		return 0;
	}
	if ((p->type == P_BOOL ? parse_bool(value, &v)
			       : parse_num(value, p->type, &v)) ||
	    v < p->min || v > p->max) {
		snprintf(
		    errstr, errstr_size,
		    "%s: invalid value \"%s\" (expected %s in [%lld, %lld])",
		    p->name, value,
		    p->type == P_BOOL	 ? "true/false"
		    : p->type == P_BYTES ? "a size like 256k"
		    : p->type == P_MS	 ? "a duration like 500ms, 30s, 7d"
					 : "an integer",
		    (long long)p->min, (long long)p->max);
		return -1;
	}
	*(int64_t *)(base + p->off) = v;
	return 0;
}

void lw_config_init(lw_config *c)
{
	char err[256];
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < NPROPS; i++)
		if (set_prop(c, &props[i], props[i].def, err, sizeof err))
			abort(); /* a bad default is a bug in the table */
}

void lw_config_free(lw_config *c)
{
	for (size_t i = 0; i < NPROPS; i++)
		if (props[i].type == P_STR)
			free(*(char **)((char *)c + props[i].off));
	for (int i = 0; i < c->rk_n; i++) {
		free(c->rk_keys[i]);
		free(c->rk_vals[i]);
	}
	free(c->rk_keys);
	free(c->rk_vals);
	memset(c, 0, sizeof *c);
}

int lw_config_set(lw_config *c, const char *key, const char *value,
		  char *errstr, size_t errstr_size)
{
	const prop *p = find_prop(key);
	if (p)
		return set_prop(c, p, value, errstr, errstr_size);
	for (int i = 0; i < c->rk_n; i++)
		if (strcmp(c->rk_keys[i], key) == 0) {
			free(c->rk_vals[i]);
			c->rk_vals[i] = lw_xstrdup(value);
			return 0;
		}
	c->rk_keys =
	    lw_xrealloc(c->rk_keys, (size_t)(c->rk_n + 1) * sizeof(char *));
	c->rk_vals =
	    lw_xrealloc(c->rk_vals, (size_t)(c->rk_n + 1) * sizeof(char *));
	c->rk_keys[c->rk_n] = lw_xstrdup(key);
	c->rk_vals[c->rk_n] = lw_xstrdup(value);
	c->rk_n++;
	return 0;
}

static char *trim(char *s)
{
	char *e;
	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int lw_config_set_kv(lw_config *c, const char *kv, char *errstr,
		     size_t errstr_size)
{
	char *copy = lw_xstrdup(kv), *eq = strchr(copy, '=');
	int rc;
	if (!eq) {
		snprintf(errstr, errstr_size, "expected key=value, got \"%s\"",
			 kv);
		free(copy);
		return -1;
	}
	*eq = '\0';
	rc = lw_config_set(c, trim(copy), trim(eq + 1), errstr, errstr_size);
	free(copy);
	return rc;
}

int lw_config_load_file(lw_config *c, const char *path, char *errstr,
			size_t errstr_size)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int lineno = 0;
	if (!f) {
		snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char *s = trim(line);
		char err[256];
		lineno++;
		if (!*s || *s == '#')
			continue;
		if (lw_config_set_kv(c, s, err, sizeof err)) {
			snprintf(errstr, errstr_size, "%s:%d: %s", path, lineno,
				 err);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

const char *lw_config_rk_get(const lw_config *c, const char *side,
			     const char *key)
{
	const char *found = NULL;
	size_t sl = strlen(side);
	for (int i = 0; i < c->rk_n; i++) {
		const char *k = c->rk_keys[i];
		if (strcmp(k, key) == 0)
			found = c->rk_vals[i];
		else if (strncmp(k, side, sl) == 0 && k[sl] == '.' &&
			 strcmp(k + sl + 1, key) == 0)
			return c->rk_vals[i];
	}
	return found;
}

void lw_config_print_help(FILE *out)
{
	fprintf(out, "labwatch properties (-X name=value or a config file):\n");
	for (size_t i = 0; i < NPROPS; i++)
		fprintf(out, "  %-26s default %-14s %s\n", props[i].name,
			props[i].def[0] ? props[i].def : "\"\"", props[i].desc);
	fprintf(
	    out,
	    "Any other name is a librdkafka property, passed to both clients;\n"
	    "prefix it with consumer. or producer. to set it on one only.\n");
}
