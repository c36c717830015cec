/* test_progress: what labwatch commits (progress.h).
 *
 * The commit offset of a partition is checked against a model computed
 * here (the oldest event still held, else the next offset to read, never
 * below replay_until unless a hold is below it) while holds are released
 * in every order; then the need= value from the state sweep, change
 * tracking, the commit metadata round trip with and without the delivered
 * watermark (the old format without it still parses, as wm unknown) and
 * its refusal of anything not ours, and revocation: releases that arrive after
 * a revoke (or after the partition came back) change nothing and touch no freed
 * memory (the sanitizer build checks the latter). */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "event.h"
#include "progress.h"

#define T LW_TOPIC_RESULTS
#define N LW_TOPIC_NOTIFICATIONS

static lw_progress *pg;

static void setup(void)
{
	pg = lw_progress_new();
}

static void teardown(void)
{
	lw_progress_destroy(pg);
	pg = NULL;
}

TestSuite(progress, .init = setup, .fini = teardown);

/* The commit point of (topic, partition), or offset -99 when none. */
static lw_commit_point point(int topic, int32_t partition)
{
	lw_commit_point pts[64], none = {topic, partition, -99, -99};
	size_t n = lw_progress_commit_points(pg, pts, 64, 0);
	for (size_t i = 0; i < n; i++)
		if (pts[i].topic == topic && pts[i].partition == partition)
			return pts[i];
	return none;
}

static int64_t commit_of(int topic, int32_t partition)
{
	return point(topic, partition).offset;
}

static void process_range(int topic, int32_t p, int64_t from, int64_t to)
{
	for (int64_t o = from; o <= to; o++)
		lw_progress_processed(pg, topic, p, o);
}

Test(progress, nothing_held_commits_next)
{
	lw_progress_assign(pg, T, 0, 100, LW_OFFSET_UNKNOWN);
	cr_assert_eq(lw_progress_assigned(pg), 1);
	cr_assert_eq(commit_of(T, 0), 100);
	process_range(T, 0, 100, 104);
	cr_assert_eq(commit_of(T, 0), 105);
	/* an older offset processed again (a re-delivery) does not rewind */
	lw_progress_processed(pg, T, 0, 50);
	cr_assert_eq(commit_of(T, 0), 105);
	cr_assert_eq(lw_progress_replayed(pg, T, 0, 0), 0);
	cr_assert_eq(lw_progress_restoring(pg), 0);
}

/* Every order of releasing five holds (two on the same offset). */
Test(progress, releases_in_any_order)
{
	static const int64_t offs[5] = {3, 5, 5, 8, 9};
	int perm[5] = {0, 1, 2, 3, 4};
	int count = 0;
	for (;;) {
		lw_hold *h[5];
		int released[5] = {0};
		lw_progress_assign(pg, N, 2, 0, LW_OFFSET_UNKNOWN);
		process_range(N, 2, 0, 11);
		for (int i = 0; i < 5; i++) {
			h[i] = lw_progress_hold(pg, N, 2, offs[i]);
			cr_assert_not_null(h[i]);
		}
		cr_assert_eq(lw_progress_held(pg), 5);
		cr_assert_eq(commit_of(N, 2), 3);
		for (int k = 0; k < 5; k++) {
			int64_t want = 12;
			released[perm[k]] = 1;
			lw_progress_release(pg, h[perm[k]]);
			for (int i = 0; i < 5; i++)
				if (!released[i] && offs[i] < want)
					want = offs[i];
			cr_assert_eq(commit_of(N, 2), want,
				     "perm %d%d%d%d%d after %d releases",
				     perm[0], perm[1], perm[2], perm[3],
				     perm[4], k + 1);
			cr_assert_eq(lw_progress_held(pg), (uint64_t)(4 - k));
		}
		count++;
		/* next permutation */
		{
			int i = 3, j = 4, t;
			while (i >= 0 && perm[i] > perm[i + 1])
				i--;
			if (i < 0)
				break;
			while (perm[j] < perm[i])
				j--;
			t = perm[i];
			perm[i] = perm[j];
			perm[j] = t;
			for (int a = i + 1, b = 4; a < b; a++, b--) {
				t = perm[a];
				perm[a] = perm[b];
				perm[b] = t;
			}
		}
	}
	cr_assert_eq(count, 120);
}

Test(progress, hold_of_an_earlier_offset)
{
	lw_hold *a, *b, *c;
	lw_progress_assign(pg, T, 0, 0, LW_OFFSET_UNKNOWN);
	process_range(T, 0, 0, 30);
	a = lw_progress_hold(pg, T, 0, 10);
	b = lw_progress_hold(pg, T, 0, 20);
	c = lw_progress_hold(pg, T, 0, 15); /* a coalesced update */
	cr_assert_eq(commit_of(T, 0), 10);
	lw_progress_release(pg, a);
	cr_assert_eq(commit_of(T, 0), 15);
	lw_progress_release(pg, c);
	cr_assert_eq(commit_of(T, 0), 20);
	lw_progress_release(pg, b);
	cr_assert_eq(commit_of(T, 0), 31);
	c = lw_progress_hold(pg, T, 0, 5);
	cr_assert_eq(commit_of(T, 0), 5);
	lw_progress_release(pg, c);
	cr_assert_eq(commit_of(T, 0), 31);
	cr_assert_eq(lw_progress_held(pg), 0);
}

Test(progress, never_below_replay_until_unless_held)
{
	lw_hold *h;
	lw_progress_assign(pg, T, 1, 50, 100);
	cr_assert_eq(lw_progress_restoring(pg), 1);
	cr_assert_eq(lw_progress_replayed(pg, T, 1, 50), 1);
	cr_assert_eq(lw_progress_replayed(pg, T, 1, 99), 1);
	cr_assert_eq(lw_progress_replayed(pg, T, 1, 100), 0);
	cr_assert_eq(lw_progress_replayed(pg, T, 0, 60), 0, "not assigned");
	cr_assert_eq(lw_progress_replayed(pg, N, 1, 60), 0, "other topic");
	cr_assert_eq(commit_of(T, 1), 100);
	process_range(T, 1, 50, 70);
	cr_assert_eq(commit_of(T, 1), 100);
	h = lw_progress_hold(pg, T, 1, 60);
	cr_assert_eq(commit_of(T, 1), 60);
	lw_progress_release(pg, h);
	cr_assert_eq(commit_of(T, 1), 100);
	process_range(T, 1, 71, 99);
	cr_assert_eq(lw_progress_restoring(pg), 0);
	cr_assert_eq(commit_of(T, 1), 100);
	process_range(T, 1, 100, 120);
	cr_assert_eq(commit_of(T, 1), 121);
}

Test(progress, partitions_are_independent)
{
	lw_hold *h;
	lw_progress_assign(pg, T, 0, 0, LW_OFFSET_UNKNOWN);
	lw_progress_assign(pg, T, 3, 1000, LW_OFFSET_UNKNOWN);
	lw_progress_assign(pg, N, 0, 7, LW_OFFSET_UNKNOWN);
	cr_assert_eq(lw_progress_assigned(pg), 3);
	process_range(T, 0, 0, 9);
	process_range(T, 3, 1000, 1004);
	h = lw_progress_hold(pg, T, 3, 1001);
	cr_assert_eq(commit_of(T, 0), 10);
	cr_assert_eq(commit_of(T, 3), 1001);
	cr_assert_eq(commit_of(N, 0), 7);
	cr_assert_eq(commit_of(T, 1), -99, "never assigned");
	cr_assert_null(lw_progress_hold(pg, T, 1, 5));
	cr_assert_null(lw_progress_hold(pg, N, 99, 5));
	lw_progress_release(pg, NULL); /* harmless */
	lw_progress_release(pg, h);
	cr_assert_eq(commit_of(T, 3), 1005);
}

Test(progress, need_from_the_sweep)
{
	lw_hold *h;
	lw_progress_assign(pg, T, 0, 0, LW_OFFSET_UNKNOWN);
	lw_progress_assign(pg, N, 0, 0, LW_OFFSET_UNKNOWN);
	process_range(T, 0, 0, 9);
	process_range(N, 0, 0, 19);
	/* before any sweep: the start offset */
	cr_assert_eq(point(T, 0).need, 0);
	lw_progress_sweep_begin(pg);
	lw_progress_sweep_visit(pg, T, 0, 7);
	lw_progress_sweep_visit(pg, T, 0, 3);
	lw_progress_sweep_visit(pg, T, 0, 5);
	lw_progress_sweep_visit(pg, N, 0, 12);
	lw_progress_sweep_visit(pg, T, 9, 1); /* not ours: ignored */
	lw_progress_sweep_end(pg, 1);
	cr_assert_eq(point(T, 0).offset, 10);
	cr_assert_eq(point(T, 0).need, 3);
	cr_assert_eq(point(N, 0).need, 12);
	/* an empty state needs nothing before what was read at the start */
	process_range(T, 0, 10, 14);
	lw_progress_sweep_begin(pg);
	process_range(T, 0, 15, 16); /* read while the sweep runs */
	lw_progress_sweep_end(pg, 1);
	cr_assert_eq(point(T, 0).need, 15);
	cr_assert_eq(point(T, 0).offset, 17);
	cr_assert_eq(point(N, 0).need, 20);
	/* an incomplete sweep publishes nothing */
	lw_progress_sweep_begin(pg);
	lw_progress_sweep_visit(pg, T, 0, 1);
	lw_progress_sweep_end(pg, 0);
	cr_assert_eq(point(T, 0).need, 15);
	/* need is never above the commit offset */
	h = lw_progress_hold(pg, T, 0, 11);
	cr_assert_eq(point(T, 0).offset, 11);
	cr_assert_eq(point(T, 0).need, 11);
	lw_progress_release(pg, h);
	/* a (re)assignment during a sweep voids it */
	lw_progress_sweep_begin(pg);
	lw_progress_sweep_visit(pg, N, 0, 2);
	lw_progress_assign(pg, T, 5, 0, LW_OFFSET_UNKNOWN);
	lw_progress_sweep_end(pg, 1);
	cr_assert_eq(point(N, 0).need, 20, "from the last complete sweep");
}

Test(progress, only_changed_points)
{
	lw_commit_point pts[8];
	size_t n;
	lw_progress_assign(pg, T, 0, 0, LW_OFFSET_UNKNOWN);
	lw_progress_assign(pg, T, 1, 0, LW_OFFSET_UNKNOWN);
	process_range(T, 0, 0, 4);
	n = lw_progress_commit_points(pg, pts, 8, 1);
	cr_assert_eq(n, 2);
	lw_progress_committed(pg, pts, n);
	cr_assert_eq(lw_progress_commit_points(pg, pts, 8, 1), 0);
	cr_assert_eq(lw_progress_commit_points(pg, pts, 8, 0), 2);
	process_range(T, 1, 0, 0);
	n = lw_progress_commit_points(pg, pts, 8, 1);
	cr_assert_eq(n, 1);
	cr_assert_eq(pts[0].partition, 1);
	cr_assert_eq(pts[0].offset, 1);
	/* max is respected */
	cr_assert_eq(lw_progress_commit_points(pg, pts, 1, 0), 1);
}

Test(progress, metadata_round_trip)
{
	static const int64_t needs[] = {0, 1, 42, 1234567890123LL, INT64_MAX};
	static const int64_t wms[] = {INT64_MIN, 0,	    1700000000000LL,
				      -5,	 INT64_MAX, INT64_MIN + 1};
	char buf[128];
	int64_t need, wm;
	for (size_t i = 0; i < sizeof needs / sizeof *needs; i++)
		for (size_t k = 0; k < sizeof wms / sizeof *wms; k++) {
			int n = lw_progress_format_metadata(needs[i], wms[k],
							    buf, sizeof buf);
			cr_assert_gt(n, 0);
			cr_assert_eq((size_t)n, strlen(buf));
			need = -5;
			wm = 77;
			cr_assert_eq(lw_progress_parse_metadata(buf, (size_t)n,
								&need, &wm),
				     0, "%s", buf);
			cr_assert_eq(need, needs[i], "%s", buf);
			cr_assert_eq(wm, wms[k], "%s", buf);
		}
	/* without a watermark: the old format, exactly */
	lw_progress_format_metadata(12345, INT64_MIN, buf, sizeof buf);
	cr_assert_str_eq(buf, "labwatch:v1;need=12345");
	lw_progress_format_metadata(12345, 1700000000123LL, buf, sizeof buf);
	cr_assert_str_eq(buf, "labwatch:v1;need=12345;wm=1700000000123");
	/* the length given is what counts: no NUL needed after it */
	memcpy(buf, "labwatch:v1;need=77XYZ", 22);
	cr_assert_eq(lw_progress_parse_metadata(buf, 19, &need, &wm), 0);
	cr_assert_eq(need, 77);
	cr_assert_eq(wm, INT64_MIN);
	memcpy(buf, "labwatch:v1;need=77;wm=88XYZ", 28);
	cr_assert_eq(lw_progress_parse_metadata(buf, 25, &need, &wm), 0);
	cr_assert_eq(need, 77);
	cr_assert_eq(wm, 88);
}

/* Metadata written before the watermark existed still parses: wm =
 * INT64_MIN (unknown). */
Test(progress, metadata_of_the_old_format)
{
	int64_t need = -1, wm = 5;
	const char *old = "labwatch:v1;need=4711";
	cr_assert_eq(lw_progress_parse_metadata(old, strlen(old), &need, &wm),
		     0);
	cr_assert_eq(need, 4711);
	cr_assert_eq(wm, INT64_MIN);
}

Test(progress, metadata_not_ours)
{
	static const char *const bad[] = {
	    "",
	    "labwatch",
	    "labwatch:v1;need=",
	    "labwatch:v1;need=x",
	    "labwatch:v1;need=5x",
	    "labwatch:v1;need=5;more",
	    "labwatch:v1;need=-1",
	    "labwatch:v2;need=5",
	    "labwatch:v1;NEED=5",
	    "LABWATCH:v1;need=5",
	    "other:v1;need=5",
	    "{\"need\": 5}",
	    "5",
	    "labwatch:v1;need=5;",
	    "labwatch:v1;need=5;wm",
	    "labwatch:v1;need=5;wm=",
	    "labwatch:v1;need=5;wm=x",
	    "labwatch:v1;need=5;wm=7x",
	    "labwatch:v1;need=5;wm=7;",
	    "labwatch:v1;need=5;wm=7;wm=8",
	    "labwatch:v1;need=5;WM=7",
	    "labwatch:v1;need=5;wm=7 ",
	    "labwatch:v1;wm=7;need=5",
	    "labwatch:v1;wm=7",
	    "labwatch:v1;need=-1;wm=7",
	    "labwatch:v2;need=5;wm=7",
	};
	char longer[300];
	int64_t need = 99, wm = 98;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cr_assert_eq(lw_progress_parse_metadata(bad[i], strlen(bad[i]),
							&need, &wm),
			     -1, "\"%s\" accepted", bad[i]);
		cr_assert_eq(need, 99, "\"%s\" wrote need", bad[i]);
	}
	cr_assert_eq(lw_progress_parse_metadata(NULL, 0, &need, &wm), -1);
	cr_assert_eq(lw_progress_parse_metadata(NULL, 5, &need, &wm), -1);
	memset(longer, '1', sizeof longer);
	memcpy(longer, "labwatch:v1;need=", 17);
	cr_assert_eq(
	    lw_progress_parse_metadata(longer, sizeof longer, &need, &wm), -1);
	cr_assert_eq(need, 99);
}

Test(progress, revoke_makes_late_releases_harmless)
{
	lw_hold *h[4];
	lw_progress_assign(pg, T, 0, 0, LW_OFFSET_UNKNOWN);
	lw_progress_assign(pg, N, 1, 0, LW_OFFSET_UNKNOWN);
	process_range(T, 0, 0, 9);
	process_range(N, 1, 0, 9);
	h[0] = lw_progress_hold(pg, T, 0, 2);
	h[1] = lw_progress_hold(pg, T, 0, 4);
	h[2] = lw_progress_hold(pg, T, 0, 4);
	h[3] = lw_progress_hold(pg, N, 1, 6);
	lw_progress_release(pg, h[1]); /* offset 4 still held once */
	cr_assert_eq(lw_progress_held(pg), 3);
	lw_progress_revoke_all(pg);
	cr_assert_eq(lw_progress_assigned(pg), 0);
	cr_assert_eq(lw_progress_commit_points(pg, NULL, 0, 0), 0);
	{
		lw_commit_point pts[4];
		cr_assert_eq(lw_progress_commit_points(pg, pts, 4, 0), 0);
	}
	cr_assert_null(lw_progress_hold(pg, T, 0, 9), "revoked");
	/* the partition comes back, starting elsewhere */
	lw_progress_assign(pg, T, 0, 500, LW_OFFSET_UNKNOWN);
	process_range(T, 0, 500, 509);
	cr_assert_eq(commit_of(T, 0), 510);
	/* late delivery reports of the old assignment */
	lw_progress_release(pg, h[0]);
	lw_progress_release(pg, h[2]);
	lw_progress_release(pg, h[3]);
	cr_assert_eq(commit_of(T, 0), 510);
	cr_assert_eq(lw_progress_held(pg), 0);
	/* new holds work as usual */
	h[0] = lw_progress_hold(pg, T, 0, 505);
	cr_assert_eq(commit_of(T, 0), 505);
	lw_progress_release(pg, h[0]);
	cr_assert_eq(commit_of(T, 0), 510);
}

Test(progress, destroy_with_holds_outstanding)
{
	lw_progress_assign(pg, T, 0, 0, LW_OFFSET_UNKNOWN);
	process_range(T, 0, 0, 3);
	lw_progress_hold(pg, T, 0, 1);
	lw_progress_hold(pg, T, 0, 2);
	lw_progress_revoke_all(pg);
	lw_progress_assign(pg, T, 0, 0, LW_OFFSET_UNKNOWN);
	lw_progress_hold(pg, T, 0, 3);
	/* teardown destroys: the sanitizer build reports any leak */
}

/* The sweep's schedule: a cheap sweep (a small state) runs once per commit
 * interval, as before; an expensive one waits until the time spent
 * sweeping is at most 1/duty of the time. */
Test(progress, next_sweep_keeps_the_sweep_to_its_share)
{
	/* 5 ms of sweeping, 1 s interval, duty 20: the interval decides */
	cr_assert_eq(lw_progress_next_sweep(10000, 10200, 5, 1000, 20), 11000);
	/* 700 ms of sweeping (1M specimens): 19 x 700 ms after its end */
	cr_assert_eq(lw_progress_next_sweep(10000, 12000, 700, 1000, 20),
		     12000 + 19 * 700);
	/* the boundary: cost * (duty - 1) == what is left of the interval */
	cr_assert_eq(lw_progress_next_sweep(0, 50, 50, 1000, 20), 1000);
	cr_assert_eq(lw_progress_next_sweep(0, 50, 51, 1000, 20), 50 + 19 * 51);
	/* over a long run the share stays at most 1/duty */
	{
		int64_t t = 0, busy = 0;
		for (int i = 0; i < 100; i++) {
			int64_t cost = 300 + (i % 7) * 100, end = t + cost;
			busy += cost;
			t = lw_progress_next_sweep(t, end, cost, 1000, 20);
		}
		cr_assert_leq(busy * 20, t, "busy %lld ms of %lld",
			      (long long)busy, (long long)t);
	}
	/* duty 1: no wait beyond the interval */
	cr_assert_eq(lw_progress_next_sweep(0, 5000, 5000, 1000, 1), 5000);
}
