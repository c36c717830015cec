/* test_surge: VOLUME_SURGE (surge.h).
 *
 * Buckets of one minute close when the stream time reaches their last
 * millisecond, and only then are the conditions checked. The cap rule at
 * its exact boundary (cap notifications in the window: no; cap + 1: yes),
 * one alert per surge, a surge that ends and a new one with a new alert
 * ID; the baseline rule with its factor and min_count boundaries and its
 * need for a full history; notifications too old (behind the buckets
 * kept) and too new (beyond the horizon) counted and not kept; the batch
 * IDs: the top batch as batch_id and up to five in the summary; a jump of
 * a year that neither hangs nor keeps an old surge going. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rules.h"
#include "surge.h"

#define MIN 60000LL

typedef struct rec {
	char alert_id[33];
	char summary[320];
	char batch[64];
	int has_batch;
	char specimen[16];
	uint32_t recipients, revision;
	int rule, severity;
	int64_t event_time, fired_at;
} rec;

static rec got[64];
static int ngot;
static lw_surge *s;
static lw_surge_config cfg;

static void setup(void)
{
	ngot = 0;
	s = NULL;
	/* cap: 5 in 10 minutes; baseline off unless a test sets it */
	lw_surge_config_defaults(&cfg);
	cfg.bucket_ms = MIN;
	cfg.window_ms = 10 * MIN;
	cfg.cap = 5;
	cfg.short_ms = MIN;
	cfg.baseline_ms = 5 * MIN;
	cfg.factor = 0;
	cfg.min_count = 0;
	cfg.horizon_ms = 60 * MIN;
}

static void teardown(void)
{
	lw_surge_destroy(s);
}

TestSuite(surge, .init = setup, .fini = teardown);

static void start(void)
{
	s = lw_surge_new(&cfg);
	cr_assert_not_null(s);
}

static void on_fire(void *opaque, const lw_alert *a)
{
	rec *r;
	(void)opaque;
	cr_assert_lt(ngot, 64);
	r = &got[ngot++];
	memcpy(r->alert_id, a->alert_id, 33);
	snprintf(r->summary, sizeof r->summary, "%s", a->summary);
	r->has_batch = a->batch_id != NULL;
	snprintf(r->batch, sizeof r->batch, "%s",
		 a->batch_id ? a->batch_id : "");
	snprintf(r->specimen, sizeof r->specimen, "%s", a->specimen_id);
	r->recipients = a->recipient_count;
	r->revision = a->revision;
	r->rule = a->rule;
	r->severity = a->severity;
	r->event_time = a->event_time;
	r->fired_at = a->fired_at;
}

static size_t adv(int64_t now)
{
	return lw_surge_advance(s, now, on_fire, NULL);
}

static void add(int64_t t, const char *batch)
{
	lw_surge_add(s, t, batch, batch ? strlen(batch) : 0);
}

static void add_n(int n, int64_t t, const char *batch)
{
	for (int i = 0; i < n; i++)
		add(t + i, batch);
}

static lw_surge_stats stats(void)
{
	lw_surge_stats st;
	lw_surge_get_stats(s, &st);
	return st;
}

/* ---- closing ---- */

Test(surge, a_bucket_closes_at_its_last_ms)
{
	start();
	cr_assert_eq(adv(1000000), 0, "nothing counted: nothing to close");
	add(1000, NULL); /* bucket 0: [0, 60000) */
	cr_assert_eq(adv(59998), 0);
	cr_assert_eq(adv(59999), 1);
	cr_assert_eq(adv(59999), 0);
	cr_assert_eq(adv(119998), 0);
	cr_assert_eq(adv(119999), 1);
	cr_assert_eq(adv(INT64_MIN), 0);
	cr_assert_eq(stats().counted, 1);
}

/* ---- the cap ---- */

Test(surge, cap_boundary)
{
	start();
	add_n(5, 1000, NULL);
	cr_assert_eq(adv(59999), 1);
	cr_assert_eq(ngot, 0, "5 in the window: not over the cap of 5");
	add(60000, NULL);
	cr_assert_eq(adv(119998), 0);
	cr_assert_eq(ngot, 0, "bucket 1 not closed yet");
	adv(119999);
	cr_assert_eq(ngot, 1);
	cr_assert_eq(got[0].rule, LW_RULE_VOLUME_SURGE);
	cr_assert_eq(got[0].severity, LW_SEV_HIGH);
	cr_assert_str_eq(got[0].specimen, "");
	cr_assert_eq(got[0].recipients, 6);
	cr_assert_eq(got[0].revision, 1);
	cr_assert_eq(got[0].event_time, 119999);
	cr_assert_eq(got[0].fired_at, 119999);
	cr_assert_eq(got[0].has_batch, 0);
	cr_assert_str_eq(got[0].summary,
			 "6 notifications in the 10 min before 120000, over "
			 "the cap of 5",
			 "%s", got[0].summary);
	cr_assert_eq(stats().surges, 1);
	cr_assert_eq(stats().active, 1);
}

/* The window is [E - window, E): the 6th notification exactly window_ms
 * after the first one is outside the first one's window. */
Test(surge, cap_window_boundary)
{
	start();
	add_n(5, 0, NULL);   /* bucket 0 */
	add(10 * MIN, NULL); /* bucket 10: bucket 0 has left the window */
	adv(11 * MIN - 1);
	cr_assert_eq(ngot, 0);
	add(10 * MIN + 1, NULL);
	add(10 * MIN + 2, NULL);
	add(10 * MIN + 3, NULL);
	add(10 * MIN + 4, NULL);
	add(10 * MIN + 5, NULL); /* 6 in bucket 10, but it is closed */
	adv(12 * MIN - 1);
	cr_assert_eq(ngot, 1, "6 in [2 min, 12 min)");
	cr_assert_eq(got[0].recipients, 6);
}

Test(surge, one_alert_per_surge_then_a_new_one)
{
	char first[33];
	start();
	add_n(6, 0, NULL);
	adv(MIN - 1);
	cr_assert_eq(ngot, 1);
	memcpy(first, got[0].alert_id, 33);
	/* it goes on: no more alerts */
	for (int m = 1; m < 5; m++) {
		add_n(10, m * MIN, NULL);
		adv((m + 1) * MIN - 1);
	}
	cr_assert_eq(ngot, 1);
	cr_assert_eq(stats().active, 1);
	/* quiet until the window holds no more than the cap */
	adv(14 * MIN - 1); /* the window [4, 14) still holds 10 */
	cr_assert_eq(stats().active, 1);
	adv(15 * MIN - 1);
	cr_assert_eq(stats().active, 0, "ended");
	cr_assert_eq(ngot, 1);
	/* a new surge: a new alert ID */
	add_n(6, 20 * MIN, NULL);
	adv(21 * MIN - 1);
	cr_assert_eq(ngot, 2);
	cr_assert_str_neq(got[1].alert_id, first);
	cr_assert_eq(stats().surges, 2);
	cr_assert_eq(stats().counted, 6 + 40 + 6);
}

/* The alert ID is a function of the surge's start bucket only. */
Test(surge, alert_id_is_deterministic)
{
	char a[33];
	start();
	add_n(6, 3 * MIN + 5, "x");
	adv(4 * MIN - 1);
	cr_assert_eq(ngot, 1);
	memcpy(a, got[0].alert_id, 33);
	lw_surge_destroy(s);
	start();
	add_n(3, 3 * MIN, NULL); /* other times and batches, same bucket */
	add_n(4, 3 * MIN + 100, "y");
	adv(100 * MIN);
	cr_assert_eq(ngot, 2);
	cr_assert_str_eq(got[1].alert_id, a);
	cr_assert_eq(strlen(a), 32);
}

/* ---- the baseline ---- */

static void baseline_config(double factor, uint64_t min_count)
{
	cfg.cap = 0;
	cfg.factor = factor;
	cfg.min_count = min_count;
	/* short: 1 bucket; baseline: the 5 before it */
}

Test(surge, baseline_fires_over_factor_times_the_mean)
{
	baseline_config(2, 3);
	start();
	add_n(5, 0, NULL); /* bucket 0: mean 1 per minute over 0..4 */
	adv(5 * MIN - 1);
	cr_assert_eq(ngot, 0);
	add_n(3, 5 * MIN, "b"); /* 3 > 2 x 1 and >= 3 */
	adv(6 * MIN - 1);
	cr_assert_eq(ngot, 1);
	cr_assert_eq(got[0].recipients, 3);
	cr_assert_eq(got[0].event_time, 6 * MIN - 1);
	cr_assert_str_eq(got[0].batch, "b");
	cr_assert_str_eq(got[0].summary,
			 "3 notifications in the 1 min before 360000, over the "
			 "baseline x 2; batches: b (3)",
			 "%s", got[0].summary);
}

Test(surge, baseline_factor_boundary)
{
	baseline_config(3, 1);
	start();
	add_n(5, 0, NULL); /* mean 1 */
	add_n(3, 5 * MIN, NULL);
	adv(6 * MIN - 1);
	cr_assert_eq(ngot, 0, "3 is not more than 3 x 1");
	lw_surge_destroy(s);
	start();
	add_n(5, 0, NULL);
	add_n(4, 5 * MIN, NULL);
	adv(6 * MIN - 1);
	cr_assert_eq(ngot, 1, "4 is");
}

Test(surge, baseline_min_count)
{
	baseline_config(2, 3);
	start();
	add(0, NULL); /* the history starts; mean 0.2 */
	add_n(2, 5 * MIN, NULL);
	adv(6 * MIN - 1);
	cr_assert_eq(ngot, 0, "2 > 0.4 but fewer than min_count 3");
	add_n(3, 6 * MIN, NULL);
	adv(7 * MIN - 1);
	cr_assert_eq(ngot, 1);
	cr_assert_eq(got[0].recipients, 3);
}

/* Until the stream's first bucket lies a full short + baseline back, the
 * baseline rule is not checked: a burst in the first minutes is not a
 * surge over an empty history. */
Test(surge, baseline_needs_a_full_history)
{
	baseline_config(2, 3);
	start();
	add(0, NULL);
	add_n(50, 3 * MIN, NULL); /* bucket 3: history is 0..2 only */
	adv(4 * MIN - 1);
	cr_assert_eq(ngot, 0);
	add_n(50, 4 * MIN, NULL); /* bucket 4: still not full */
	adv(5 * MIN - 1);
	cr_assert_eq(ngot, 0);
	/* bucket 5 is the first checked: history 0..4 holds 101, mean 20.2 */
	add_n(41, 5 * MIN, NULL);
	adv(6 * MIN - 1);
	cr_assert_eq(ngot, 1, "41 > 2 x 20.2: checked from bucket 5 on");
	cr_assert_eq(got[0].recipients, 41);
	cr_assert_eq(got[0].event_time, 6 * MIN - 1);
}

/* ---- old and new ---- */

Test(surge, too_old_and_too_new)
{
	start();
	/* before the first close nothing is refused */
	add(0, NULL);
	add(500 * MIN, NULL);
	cr_assert_eq(stats().counted, 2);
	adv(21 * MIN - 1); /* next to close: bucket 21 */
	/* kept back: 10 buckets (the cap window) */
	add(11 * MIN - 1, NULL);
	cr_assert_eq(stats().too_old, 1);
	add(11 * MIN, NULL);
	cr_assert_eq(stats().too_old, 1);
	cr_assert_eq(stats().counted, 3);
	/* ahead: the horizon (60 buckets) + 1 from the next close */
	add((21 + 61) * MIN - 1, NULL);
	cr_assert_eq(stats().too_new, 0);
	add((21 + 61) * MIN, NULL);
	cr_assert_eq(stats().too_new, 1);
	cr_assert_eq(stats().counted, 4);
}

/* Late notifications in the window count towards the next closes. */
Test(surge, late_notifications_in_the_window_count)
{
	start();
	add_n(3, 5 * MIN, NULL);
	adv(6 * MIN - 1);
	add_n(3, 2 * MIN, NULL); /* bucket 2, already closed */
	cr_assert_eq(ngot, 0);
	adv(7 * MIN - 1);
	cr_assert_eq(ngot, 1, "6 in [-3, 7) min at the close of bucket 6");
}

/* ---- batches ---- */

Test(surge, batch_ids_in_the_alert)
{
	start();
	add_n(3, 0, "B");
	add_n(2, 100, "A");
	add_n(2, 200, "C");
	add(300, NULL);
	adv(MIN - 1);
	cr_assert_eq(ngot, 1);
	cr_assert_eq(got[0].recipients, 8);
	cr_assert_str_eq(got[0].batch, "B", "the batch with most");
	cr_assert_str_eq(got[0].summary,
			 "8 notifications in the 10 min before 60000, over the "
			 "cap of 5; batches: B (3) A (2) C (2)",
			 "%s", got[0].summary);
}

/* Counts add up across buckets; at most LW_SURGE_BATCHES (4) IDs are kept
 * per bucket; the summary lists at most five. */
Test(surge, batch_ids_across_buckets_and_caps)
{
	static const char *const ids[] = {"b1", "b2", "b3", "b4", "b5", "b6"};
	cfg.cap = 22;
	start();
	for (int i = 0; i < 6; i++) /* bucket 0: b5, b6 are "other" */
		add_n(i + 1, 0, ids[i]);
	for (int i = 4; i < 6; i++) /* bucket 1: b5, b6 kept */
		add_n(2, MIN + 1000 * i, ids[i]);
	adv(2 * MIN - 1);
	cr_assert_eq(ngot, 1);
	cr_assert_eq(got[0].recipients, 25);
	cr_assert_str_eq(got[0].batch, "b4");
	cr_assert_str_eq(got[0].summary,
			 "25 notifications in the 10 min before 120000, over "
			 "the cap of 22; batches: b4 (4) b3 (3) b2 (2) b5 (2) "
			 "b6 (2)",
			 "%s", got[0].summary);
}

/* ---- time jumps ---- */

static double secs_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

Test(surge, a_year_jump_does_not_hang)
{
	struct timespec ts;
	const int64_t t0 = 1700000000000LL, year = 365LL * 86400000;
	lw_surge_config_defaults(&cfg); /* 1 min buckets, 24 h windows */
	cfg.cap = 5;
	start();
	add_n(6, t0, "x");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	adv(t0 + 30 * MIN);
	cr_assert_eq(ngot, 1);
	cr_assert_eq(stats().active, 1);
	adv(t0 + year);
	cr_assert_lt(secs_since(&ts), 2.0, "took %.2f s", secs_since(&ts));
	cr_assert_eq(stats().active, 0, "the old surge is over");
	/* and counting goes on after the jump */
	add_n(6, t0 + year + 1000, "y");
	cr_assert_eq(stats().counted, 12);
	adv(t0 + year + MIN);
	cr_assert_eq(ngot, 2);
	cr_assert_str_eq(got[1].batch, "y");
	adv(t0 + 10 * year);
	cr_assert_lt(secs_since(&ts), 4.0, "took %.2f s", secs_since(&ts));
}

/* Memory is fixed at creation, whatever the volume (batch ID copies are
 * bounded by the ring: LW_SURGE_BATCHES per slot). */
Test(surge, memory_is_bounded)
{
	size_t b;
	char id[32];
	start();
	b = lw_surge_bytes(s);
	cr_assert_gt(b, 0);
	for (int i = 0; i < 100000; i++) {
		snprintf(id, sizeof id, "batch-%d", i % 7);
		add((int64_t)i * 997, id);
		if (i % 100 == 0)
			adv((int64_t)i * 997);
	}
	cr_assert_geq(lw_surge_bytes(s), b);
	cr_assert_lt(lw_surge_bytes(s), b + 71 * LW_SURGE_BATCHES * 16);
}

/* A notification with a stray old time (sent_at 0, say) counted before the
 * first close, with the rest of the stream in the present: the first
 * advance must not walk every minute since 1970 one by one. */
Test(surge, a_stray_old_notification_does_not_hang, .timeout = 10)
{
	struct timespec ts;
	const int64_t t0 = 1700000000000LL;
	lw_surge_config_defaults(&cfg);
	cfg.cap = 5;
	start();
	add(0, "stray");
	add_n(6, t0, "x");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	adv(t0 + MIN);
	cr_assert_lt(secs_since(&ts), 2.0, "took %.2f s", secs_since(&ts));
	cr_assert_eq(ngot, 1);
	cr_assert_str_eq(got[0].batch, "x");
}
