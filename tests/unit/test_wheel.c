/* test_wheel: the two-level timer wheel (wheel.h).
 *
 * An entry fires when now >= due, never before and never later than the
 * first advance that reaches its due time (with budget to spare): exactly
 * at due, not at due - 1, also inside a second (the fine slot of the
 * current second is scanned again on every advance); entries inserted
 * before the first advance; entries more than the coarse range (about 12
 * days) ahead; jumps of a year that fire everything due and take no time;
 * equal due times in insertion order, whichever level each entry went
 * through; the budget, resumed where it stopped; removal while linked at
 * every level; delays in place, from every level; callbacks that
 * re-insert, insert, remove and free. Then a
 * randomized run against a reference (a plain array scanned for due <=
 * now) over thousands of inserts, removes and advances with steps from
 * 1 ms to months. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wheel.h"

typedef struct item {
	lw_wheel_entry e; /* first: the entry is the item */
	int id;
	int fired;
} item;

static lw_wheel *w;

/* Fired IDs, in order. */
static int order[100000];
static size_t norder;

static void setup(void)
{
	w = malloc(sizeof *w);
	cr_assert_not_null(w);
	lw_wheel_init(w);
	norder = 0;
}

static void teardown(void)
{
	free(w);
}

TestSuite(wheel, .init = setup, .fini = teardown);

static void record(void *opaque, lw_wheel_entry *e)
{
	item *it = (item *)e;
	(void)opaque;
	cr_assert_eq(e->linked, 0, "handed over still linked");
	it->fired++;
	cr_assert_lt(norder, sizeof order / sizeof *order);
	order[norder++] = it->id;
}

static size_t adv(int64_t now)
{
	return lw_wheel_advance(w, now, SIZE_MAX, record, NULL);
}

static void put(item *it, int id, int64_t due)
{
	it->id = id;
	it->fired = 0;
	lw_wheel_insert(w, &it->e, due);
	cr_assert_neq(it->e.linked, 0);
	cr_assert_eq(it->e.due, due);
}

static const char *order_text(void)
{
	static char buf[4096];
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < norder && o < sizeof buf - 16; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%d",
				      i ? "," : "", order[i]);
	return buf;
}

static double secs_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- delay in place ---- */

/* A delayed entry fires at its new time, not at the old one, from every
 * level: a fine slot (its slot is scanned at the old second and it moves
 * on), the coarse level (the cascade places it by the new time) and
 * parked; a delay to an earlier time changes nothing. */
Test(wheel, delayed_entries_fire_at_the_new_time)
{
	item a = {0}, b = {0}, c = {0}, d = {0};
	cr_assert_eq(adv(0), 0);
	put(&a, 1, 5000);		 /* fine */
	put(&b, 2, 600000);		 /* coarse */
	put(&c, 3, 86400000LL * 20);	 /* parked */
	put(&d, 4, 7000);		 /* fine, delayed to earlier: no-op */
	lw_wheel_delay(w, &a.e, 400000); /* fine -> coarse range */
	lw_wheel_delay(w, &b.e, 601500); /* within its coarse slot */
	lw_wheel_delay(w, &c.e, 86400000LL * 30);
	lw_wheel_delay(w, &d.e, 6000);
	cr_assert_eq(d.e.due, 7000);
	cr_assert_eq(w->count, 4);
	cr_assert_eq(adv(5000), 0, "a fired at its old time");
	cr_assert_eq(adv(7000), 1);
	cr_assert_eq(d.fired, 1);
	cr_assert_eq(adv(399999), 0);
	cr_assert_eq(adv(400000), 1);
	cr_assert_eq(a.fired, 1);
	cr_assert_eq(adv(601499), 0, "b fired at its old time");
	cr_assert_eq(adv(601500), 1);
	cr_assert_eq(b.fired, 1);
	cr_assert_eq(adv(86400000LL * 30 - 1), 0, "c fired at its old time");
	cr_assert_eq(adv(86400000LL * 30), 1);
	cr_assert_eq(c.fired, 1);
	cr_assert_eq(w->count, 0);
	cr_assert_eq(w->nfine + w->ncoarse + w->nearly, 0);
	/* unlinked: nothing */
	lw_wheel_delay(w, &a.e, 500000);
	cr_assert_eq(a.e.linked, 0);
	cr_assert_eq(w->count, 0);
}

/* ---- exact due times ---- */

Test(wheel, fires_exactly_at_due)
{
	item a = {0}, b = {0}, c = {0};
	cr_assert_eq(adv(0), 0);
	put(&a, 1, 5000);  /* on a second boundary */
	put(&b, 2, 5500);  /* inside a second */
	put(&c, 3, 70999); /* the last ms of a second */
	cr_assert_eq(w->count, 3);
	cr_assert_eq(adv(4999), 0);
	cr_assert_eq(adv(5000), 1);
	cr_assert_eq(a.fired, 1);
	/* the same second again and again: b waits for its ms */
	cr_assert_eq(adv(5001), 0);
	cr_assert_eq(adv(5498), 0);
	cr_assert_eq(adv(5499), 0);
	cr_assert_eq(adv(5500), 1);
	cr_assert_eq(b.fired, 1);
	cr_assert_eq(adv(70998), 0);
	cr_assert_eq(c.fired, 0);
	cr_assert_eq(adv(70999), 1);
	cr_assert_eq(c.fired, 1);
	cr_assert_eq(w->count, 0);
	cr_assert_eq(adv(1000000), 0);
	cr_assert_str_eq(order_text(), "1,2,3");
}

Test(wheel, due_now_plus_one_does_not_fire)
{
	item a = {0}, b = {0};
	adv(123456);
	put(&a, 1, 123457);
	put(&b, 2, 123456); /* due exactly now: fires at the next advance */
	cr_assert_eq(adv(123456), 1);
	cr_assert_eq(b.fired, 1);
	cr_assert_eq(a.fired, 0);
	cr_assert_eq(adv(123457), 1);
	cr_assert_eq(a.fired, 1);
}

Test(wheel, past_due_fires_at_the_next_advance)
{
	item a = {0}, b = {0};
	adv(1000000);
	put(&a, 1, 5);	    /* long past */
	put(&b, 2, 999999); /* 1 ms past */
	cr_assert_eq(adv(1000000), 2);
	cr_assert_str_eq(order_text(), "1,2");
}

/* Time never goes back: an advance to an earlier time fires only what is
 * due by that earlier time. */
Test(wheel, earlier_now_fires_nothing_new)
{
	item a = {0};
	adv(500000);
	put(&a, 1, 500500);
	cr_assert_eq(adv(400000), 0);
	cr_assert_eq(a.fired, 0);
	cr_assert_eq(adv(500499), 0);
	cr_assert_eq(adv(500500), 1);
}

Test(wheel, negative_times)
{
	item a = {0}, b = {0};
	adv(-10000);
	put(&a, 1, -5500);
	put(&b, 2, -1);
	cr_assert_eq(adv(-5501), 0);
	cr_assert_eq(adv(-5500), 1);
	cr_assert_eq(adv(-2), 0);
	cr_assert_eq(adv(-1), 1);
	cr_assert_str_eq(order_text(), "1,2");
}

/* ---- before the first advance ---- */

Test(wheel, entries_inserted_before_the_first_advance)
{
	item a = {0}, b = {0}, c = {0}, d = {0};
	put(&a, 1, 100);
	put(&b, 2, 50000);
	put(&c, 3, 40LL * 86400 * 1000); /* beyond the coarse range */
	put(&d, 4, 20);			 /* in the past at the first advance */
	cr_assert_eq(w->count, 4);
	cr_assert_eq(w->nearly, 4);
	cr_assert_eq(adv(50), 1);
	cr_assert_eq(d.fired, 1);
	cr_assert_eq(w->nearly, 0);
	cr_assert_eq(w->count, 3);
	cr_assert_eq(adv(99), 0);
	cr_assert_eq(adv(100), 1);
	cr_assert_eq(adv(49999), 0);
	cr_assert_eq(adv(50000), 1);
	cr_assert_eq(adv(40LL * 86400 * 1000 - 1), 0);
	cr_assert_eq(adv(40LL * 86400 * 1000), 1);
	cr_assert_str_eq(order_text(), "4,1,2,3");
}

/* ---- far future ---- */

/* Due times beyond the coarse range (256 s x 4096, about 12.1 days) are
 * parked and placed again; walking time up to them day by day, then
 * second by second around the due time, fires each at its ms. */
Test(wheel, far_future_entries_fire_on_time)
{
	static const int64_t day = 86400000;
	const int64_t t0 = 1700000000000LL;
	const int64_t dues[] = {
	    t0 + 12 * day,
	    t0 + 256LL * 4096 * 1000, /* the coarse range, 12.14 days */
	    t0 + 256LL * 4096 * 1000 + 1,
	    t0 + 13 * day + 1,
	    t0 + 100 * day + 777,
	    t0 + 3 * 365 * day + 12345,
	};
	enum { N = sizeof dues / sizeof *dues };
	item it[N];
	int64_t now = t0;
	memset(it, 0, sizeof it);
	adv(t0);
	for (int i = 0; i < N; i++)
		put(&it[i], i, dues[i]);
	for (int i = 0; i < N; i++) {
		/* by days up to a second before, then to due - 1, then due */
		while (now + day < dues[i] - 1000) {
			now += day;
			adv(now);
		}
		now = dues[i] - 1;
		adv(now);
		for (int k = 0; k < N; k++)
			cr_assert_eq(it[k].fired, k < i ? 1 : 0,
				     "entry %d at due(%d) - 1", k, i);
		now = dues[i];
		cr_assert_eq(adv(now), 1, "entry %d at its due time", i);
		cr_assert_eq(it[i].fired, 1);
	}
	cr_assert_eq(w->count, 0);
}

/* One advance over a year: everything due fires, in one call, quickly,
 * and what is due later stays. */
Test(wheel, a_year_in_one_jump)
{
	enum { N = 20000 };
	static item it[N];
	static const int64_t year = 365LL * 86400000;
	const int64_t t0 = 1700000000000LL;
	struct timespec ts;
	size_t fired;
	uint64_t x = 88172645463325252ULL;
	adv(t0);
	for (int i = 0; i < N; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		put(&it[i], i, t0 + (int64_t)(x % (uint64_t)(2 * year)));
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fired = adv(t0 + year);
	cr_assert_lt(secs_since(&ts), 2.0, "a year took %.2f s",
		     secs_since(&ts));
	for (int i = 0; i < N; i++)
		cr_assert_eq(it[i].fired, it[i].e.due <= t0 + year ? 1 : 0,
			     "entry %d due %lld", i,
			     (long long)(it[i].e.due - t0));
	cr_assert_eq(w->count, N - fired);
	cr_assert_gt(fired, N / 4);
	cr_assert_lt(fired, N - N / 4);
	/* and a jump over an empty wheel, or one with a single far entry */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	adv(t0 + 3 * year);
	cr_assert_eq(w->count, 0);
	put(&it[0], 0, t0 + 40 * year);
	adv(t0 + 30 * year);
	cr_assert_eq(it[0].fired, 0);
	adv(t0 + 40 * year);
	cr_assert_eq(it[0].fired, 1);
	cr_assert_lt(secs_since(&ts), 2.0, "decades took %.2f s",
		     secs_since(&ts));
}

/* ---- order ---- */

Test(wheel, equal_due_times_fire_in_insertion_order)
{
	item it[6];
	memset(it, 0, sizeof it);
	adv(0);
	for (int i = 0; i < 6; i++)
		put(&it[i], i, 7777);
	cr_assert_eq(adv(7777), 6);
	cr_assert_str_eq(order_text(), "0,1,2,3,4,5");
	/* re-inserting moves an entry to the end */
	norder = 0;
	for (int i = 0; i < 3; i++)
		put(&it[i], i, 9000);
	put(&it[0], 0, 9000);
	cr_assert_eq(adv(9000), 3);
	cr_assert_str_eq(order_text(), "1,2,0");
}

/* A inserted while its due time is beyond the fine range (it goes to the
 * coarse level), B and C inserted later for the same ms once that time is
 * near (they go straight to the fine level): all three fire in the same
 * advance, in an order fixed by the sequence of operations (wheel.h), the
 * same on every run. */
Test(wheel, equal_due_times_in_order_across_levels)
{
	item a = {0}, b = {0}, c = {0};
	adv(0);
	put(&a, 1, 300000); /* tick 300: 300 s ahead, coarse */
	adv(100000);
	put(&b, 2, 300000); /* now 200 s ahead: fine */
	put(&c, 3, 300000);
	cr_assert_eq(adv(300000), 3);
	cr_assert_str_eq(order_text(), "2,3,1", "fired %s", order_text());
}

/* The same with an entry inserted before the first advance. */
Test(wheel, equal_due_times_in_order_from_early)
{
	item a = {0}, b = {0};
	put(&a, 1, 600000); /* early list; placed coarse at the first advance */
	adv(0);
	adv(400000);
	put(&b, 2, 600000); /* fine */
	cr_assert_eq(adv(600000), 2);
	cr_assert_str_eq(order_text(), "2,1", "fired %s", order_text());
}

/* ---- budget ---- */

Test(wheel, budget_is_respected_and_resumed)
{
	item it[10];
	memset(it, 0, sizeof it);
	adv(0);
	for (int i = 0; i < 10; i++)
		put(&it[i], i, 1000 + 250 * (i / 2)); /* 5 due times */
	cr_assert_eq(lw_wheel_advance(w, 10000, 3, record, NULL), 3);
	cr_assert_eq(w->count, 7);
	cr_assert_eq(lw_wheel_advance(w, 10000, 0, record, NULL), 0);
	cr_assert_eq(w->count, 7);
	cr_assert_eq(lw_wheel_advance(w, 10000, 3, record, NULL), 3);
	cr_assert_eq(lw_wheel_advance(w, 10000, 3, record, NULL), 3);
	cr_assert_eq(lw_wheel_advance(w, 10000, 3, record, NULL), 1);
	cr_assert_eq(lw_wheel_advance(w, 10000, 3, record, NULL), 0);
	cr_assert_eq(w->count, 0);
	cr_assert_str_eq(order_text(), "0,1,2,3,4,5,6,7,8,9");
}

/* A budget that runs out in one second must not lose entries of later
 * seconds, nor fire entries that are not due when the next call asks for
 * an earlier time. */
Test(wheel, budget_across_seconds)
{
	item it[6];
	memset(it, 0, sizeof it);
	adv(0);
	put(&it[0], 0, 2000);
	put(&it[1], 1, 2000);
	put(&it[2], 2, 3500);
	put(&it[3], 3, 9000);
	put(&it[4], 4, 600000); /* coarse */
	put(&it[5], 5, 600001);
	cr_assert_eq(lw_wheel_advance(w, 700000, 1, record, NULL), 1);
	cr_assert_eq(lw_wheel_advance(w, 700000, 2, record, NULL), 2);
	cr_assert_eq(lw_wheel_advance(w, 700000, 2, record, NULL), 2);
	cr_assert_eq(lw_wheel_advance(w, 700000, 2, record, NULL), 1);
	cr_assert_eq(w->count, 0);
	cr_assert_str_eq(order_text(), "0,1,2,3,4,5");
}

/* ---- removal ---- */

Test(wheel, remove_while_linked_at_every_level)
{
	item early = {0}, fine = {0}, coarse = {0}, parked = {0}, keep = {0};
	put(&early, 1, 5000);
	lw_wheel_remove(w, &early.e);
	cr_assert_eq(early.e.linked, 0);
	cr_assert_eq(w->count, 0);
	cr_assert_eq(w->nearly, 0);
	put(&early, 1, 5000);
	adv(0);
	put(&fine, 2, 10000);
	put(&coarse, 3, 3600000);
	put(&parked, 4, 30LL * 86400000);
	put(&keep, 5, 30LL * 86400000);
	cr_assert_eq(w->count, 5);
	cr_assert_eq(w->nfine, 2);
	cr_assert_eq(w->ncoarse, 3);
	lw_wheel_remove(w, &fine.e);
	lw_wheel_remove(w, &coarse.e);
	lw_wheel_remove(w, &parked.e);
	cr_assert_eq(w->count, 2);
	cr_assert_eq(w->nfine, 1);
	cr_assert_eq(w->ncoarse, 1);
	/* removing twice, or something never linked, is harmless */
	lw_wheel_remove(w, &fine.e);
	cr_assert_eq(w->count, 2);
	adv(31LL * 86400000);
	cr_assert_str_eq(order_text(), "1,5");
	cr_assert_eq(fine.fired + coarse.fired + parked.fired, 0);
	cr_assert_eq(w->count, 0);
	cr_assert_eq(w->nfine + w->ncoarse + w->nearly, 0);
}

Test(wheel, clear_unlinks_everything)
{
	item it[4];
	memset(it, 0, sizeof it);
	put(&it[0], 0, 10);
	adv(0);
	put(&it[1], 1, 1000);
	put(&it[2], 2, 10000000);
	put(&it[3], 3, 100LL * 86400000);
	lw_wheel_clear(w);
	cr_assert_eq(w->count, 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(it[i].e.linked, 0);
	adv(200LL * 86400000);
	cr_assert_eq(norder, 0);
	/* and the entries can be used again */
	put(&it[1], 1, 200LL * 86400000 + 1);
	cr_assert_eq(adv(200LL * 86400000 + 1), 1);
}

/* ---- callbacks ---- */

static item cb_items[8];
static int cb_mode;

static void cb_fire(void *opaque, lw_wheel_entry *e)
{
	item *it = (item *)e;
	int64_t now = *(int64_t *)opaque;
	record(opaque, e);
	switch (cb_mode) {
	case 0: /* re-insert itself 1 s later, three times */
		if (it->fired < 3)
			lw_wheel_insert(w, e, now + 1000);
		break;
	case 1: /* the first fired removes the other due one and inserts a
		   new one due now */
		if (it->id == 0) {
			lw_wheel_remove(w, &cb_items[1].e);
			cb_items[2].id = 2;
			lw_wheel_insert(w, &cb_items[2].e, now);
		}
		break;
	case 2: /* free the entry */
		free(it);
		break;
	case 3: /* re-insert itself at the due time it had: still due */
		if (it->fired < 2)
			lw_wheel_insert(w, e, e->due);
		break;
	}
}

static size_t cb_adv(int64_t now)
{
	static int64_t n;
	n = now;
	return lw_wheel_advance(w, now, SIZE_MAX, cb_fire, &n);
}

Test(wheel, callback_reinserts_itself)
{
	cb_mode = 0;
	adv(0);
	put(&cb_items[0], 0, 1000);
	cr_assert_eq(cb_adv(1000), 1);
	cr_assert_eq(cb_items[0].e.due, 2000);
	cr_assert_eq(cb_adv(1999), 0);
	cr_assert_eq(cb_adv(2000), 1);
	cr_assert_eq(cb_adv(2999), 0);
	cr_assert_eq(cb_adv(3000), 1);
	cr_assert_eq(cb_items[0].fired, 3);
	cr_assert_eq(cb_items[0].e.linked, 0);
	cr_assert_eq(w->count, 0);
	cr_assert_eq(cb_adv(100000), 0);
}

Test(wheel, callback_removes_and_inserts_others)
{
	cb_mode = 1;
	adv(0);
	put(&cb_items[0], 0, 1000);
	put(&cb_items[1], 1, 1000); /* same slot, after 0 */
	cr_assert_eq(cb_adv(1000), 2,
		     "the due one it inserted fires in the same advance");
	cr_assert_eq(cb_items[1].fired, 0);
	cr_assert_eq(cb_items[1].e.linked, 0);
	/* the new one is due: at the latest the next advance fires it */
	cb_adv(1000);
	cr_assert_eq(cb_items[2].fired, 1);
	cr_assert_eq(w->count, 0);
}

Test(wheel, callback_frees_the_entry)
{
	cb_mode = 2;
	adv(0);
	for (int i = 0; i < 50; i++) {
		item *it = calloc(1, sizeof *it);
		it->id = i;
		lw_wheel_insert(w, &it->e, 1000 + i * 700);
	}
	cr_assert_eq(cb_adv(1000 + 49 * 700), 50);
	cr_assert_eq(w->count, 0);
}

/* An entry re-inserted by its callback with a due time already reached
 * is due: the next advance fires it at the latest (wheel.h: "An entry
 * fires when stream time now >= due"), also when the advance that fired it
 * went on over later seconds. */
Test(wheel, callback_reinsert_already_due)
{
	cb_mode = 3;
	adv(0);
	put(&cb_items[0], 0, 1000);
	put(&cb_items[1], 1, 9000); /* the advance goes on past 1 s */
	cb_adv(10000);
	cr_assert_geq(cb_items[0].fired, 1);
	cb_adv(10000);
	cr_assert_eq(cb_items[0].fired, 2,
		     "re-inserted with due 1000 at 10000; still not fired "
		     "at the next advance to 10000 (linked=%d)",
		     cb_items[0].e.linked);
	cr_assert_eq(cb_items[1].fired, 2);
	cr_assert_eq(w->count, 0);
}

/* ---- randomized against a reference ---- */

enum { RN = 3000 };
static item ritems[RN];
static int64_t rdue[RN]; /* INT64_MIN: not linked in the reference */
static int64_t rnow;

static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int64_t random_offset(void);

/* opaque != NULL: callbacks also re-insert the entry later, or remove or
 * move another one (what the state's owner does). */
static void rfire(void *opaque, lw_wheel_entry *e)
{
	item *it = (item *)e;
	cr_assert_neq(rdue[it->id], INT64_MIN, "entry %d fired unlinked",
		      it->id);
	cr_assert_leq(rdue[it->id], rnow, "entry %d due %lld fired at %lld",
		      it->id, (long long)rdue[it->id], (long long)rnow);
	rdue[it->id] = INT64_MIN;
	it->fired++;
	if (opaque) {
		int64_t off = random_offset();
		int other = (int)(rnd() % RN);
		if (off > 0 && rnd() % 2) {
			rdue[it->id] = rnow + off;
			lw_wheel_insert(w, e, rdue[it->id]);
		}
		if (rnd() % 4 == 0 && other != it->id) {
			lw_wheel_remove(w, &ritems[other].e);
			rdue[other] = INT64_MIN;
		} else if (rnd() % 4 == 0 && other != it->id && off > 0) {
			rdue[other] = rnow + off;
			lw_wheel_insert(w, &ritems[other].e, rdue[other]);
		}
	}
}

static int64_t random_offset(void)
{
	switch (rnd() % 8) {
	case 0:
		return (int64_t)(rnd() % 2000) - 1000; /* around now */
	case 1:
		return (int64_t)(rnd() % 10000);
	case 2:
		return (int64_t)(rnd() % 300000); /* fine range */
	case 3:
		return (int64_t)(rnd() % 3600000);
	case 4:
		return (int64_t)(rnd() % (86400000LL * 3));
	case 5:
		return (int64_t)(rnd() % (86400000LL * 40)); /* parked */
	case 6:
		return 256000 * (int64_t)(rnd() % 5000); /* slot edges */
	default:
		return -(int64_t)(rnd() % 100000); /* past */
	}
}

static int64_t random_step(void)
{
	switch (rnd() % 8) {
	case 0:
		return 0;
	case 1:
	case 2:
		return (int64_t)(rnd() % 1000); /* inside a second */
	case 3:
		return (int64_t)(rnd() % 5000);
	case 4:
		return (int64_t)(rnd() % 600000);
	case 5:
		return (int64_t)(rnd() % 7200000);
	case 6:
		return (int64_t)(rnd() % (86400000LL * 2));
	default:
		return (rnd() % 50) ? (int64_t)(rnd() % 20000)
				    : (int64_t)(rnd() % (86400000LL * 60));
	}
}

static size_t ref_count(void)
{
	size_t n = 0;
	for (int i = 0; i < RN; i++)
		n += rdue[i] != INT64_MIN;
	return n;
}

static size_t ref_due(void)
{
	size_t n = 0;
	for (int i = 0; i < RN; i++)
		n += rdue[i] != INT64_MIN && rdue[i] <= rnow;
	return n;
}

static void random_run(uint64_t seed, int steps, int with_callbacks)
{
	void *cbarg = with_callbacks ? &rnow : NULL;
	rng_state = seed;
	rnow = 1700000000000LL + (int64_t)(rnd() % 1000000);
	lw_wheel_init(w);
	for (int i = 0; i < RN; i++) {
		memset(&ritems[i], 0, sizeof ritems[i]);
		ritems[i].id = i;
		rdue[i] = INT64_MIN;
	}
	/* some before the first advance */
	for (int k = 0; k < 200; k++) {
		int i = (int)(rnd() % RN);
		rdue[i] = rnow + random_offset();
		lw_wheel_insert(w, &ritems[i].e, rdue[i]);
	}
	for (int step = 0; step < steps; step++) {
		unsigned op = (unsigned)(rnd() % 10);
		if (op < 5) {
			int i = (int)(rnd() % RN);
			rdue[i] = rnow + random_offset();
			lw_wheel_insert(w, &ritems[i].e, rdue[i]);
		} else if (op < 6) {
			int i = (int)(rnd() % RN);
			lw_wheel_remove(w, &ritems[i].e);
			rdue[i] = INT64_MIN;
		} else if (op < 7) {
			/* delay in place: only a linked entry, only later */
			int i = (int)(rnd() % RN);
			int64_t to = rnow + random_offset();
			lw_wheel_delay(w, &ritems[i].e, to);
			if (rdue[i] != INT64_MIN && to > rdue[i])
				rdue[i] = to;
			cr_assert_eq(ritems[i].e.due, rdue[i] == INT64_MIN
							  ? ritems[i].e.due
							  : rdue[i]);
		} else {
			size_t due, fired, budget;
			rnow += random_step();
			due = ref_due();
			budget = (rnd() % 4) ? SIZE_MAX : (size_t)(rnd() % 8);
			fired = lw_wheel_advance(w, rnow, budget, rfire, cbarg);
			if (!with_callbacks)
				cr_assert_eq(
				    fired, due < budget ? due : budget,
				    "seed %llu step %d: fired %zu of %zu due "
				    "(budget %zu)",
				    (unsigned long long)seed, step, fired, due,
				    budget);
			if (budget == SIZE_MAX)
				cr_assert_eq(ref_due(), 0);
		}
		cr_assert_eq(w->count, ref_count(), "seed %llu step %d",
			     (unsigned long long)seed, step);
		cr_assert_eq(w->count, w->nfine + w->ncoarse + w->nearly);
	}
	/* drain: everything fires by the latest due time */
	{
		int64_t last = rnow;
		for (int i = 0; i < RN; i++)
			if (rdue[i] != INT64_MIN && rdue[i] > last)
				last = rdue[i];
		rnow = last;
		lw_wheel_advance(w, rnow, SIZE_MAX, rfire, NULL);
		cr_assert_eq(ref_count(), 0);
		cr_assert_eq(w->count, 0);
		cr_assert_eq(w->nfine + w->ncoarse + w->nearly, 0);
	}
}

Test(wheel, randomized_against_a_reference, .timeout = 60)
{
	for (uint64_t seed = 1; seed <= 12; seed++)
		random_run(seed * 0x9e3779b97f4a7c15ULL, 6000, 0);
}

/* Callbacks that re-insert (always later than now), remove and move
 * other entries: every entry due is still fired by the advance that
 * reaches it, and none early. */
Test(wheel, randomized_with_callbacks, .timeout = 60)
{
	for (uint64_t seed = 1; seed <= 12; seed++)
		random_run(seed * 0xbf58476d1ce4e5b9ULL, 6000, 1);
}
