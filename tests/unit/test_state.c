/* test_state: the bounded join-state table (state.h).
 *
 * Upsert/find by (pointer, length) IDs; least-recently-updated eviction by
 * max_specimens and by max_bytes (counted as evicted); event-time TTL
 * expiry (counted as expired) including its boundary; the per-call work
 * budget; byte accounting that returns exactly to the table overhead when
 * the table is emptied; growth that keeps every entry findable and in
 * place; and the incremental sweep (every entry exactly once while the table
 * is unchanged, LW_SWEEP_RESET when it grows or is cleared mid-sweep). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

static lw_state *st;

static void teardown(void)
{
	lw_state_destroy(st);
	st = NULL;
}

TestSuite(state, .fini = teardown);

static void make(uint64_t max_specimens, uint64_t max_bytes, int64_t ttl,
		 uint64_t expected)
{
	lw_state_config cfg = {max_specimens, max_bytes, ttl, expected};
	st = lw_state_new(&cfg);
	cr_assert_not_null(st);
}

static lw_str view(const char *s)
{
	lw_str v = {s, (uint32_t)strlen(s)};
	return v;
}

static lw_specimen *put(const char *id)
{
	int created = -1;
	lw_specimen *s = lw_state_upsert(st, id, strlen(id), &created);
	cr_assert_not_null(s);
	cr_assert_eq(created, 1, "%s existed", id);
	return s;
}

static lw_specimen *find(const char *id)
{
	return lw_state_find(st, id, strlen(id));
}

/* Adds a FINAL result with event time t to s, as the engine does. */
static void add_event(lw_specimen *s, const char *event_id, int64_t t)
{
	static const lw_str contacts[2] = {{"c1", 2}, {"c2", 2}};
	lw_result_event ev;
	size_t before = lw_specimen_bytes(s);
	memset(&ev, 0, sizeof ev);
	ev.event_id = view(event_id);
	ev.specimen_id = view(s->id);
	ev.patient_key = view("patient-key-0123456789");
	ev.test_code = view("T");
	ev.result_code = view("POS");
	ev.status = LW_STATUS_FINAL;
	ev.result_version = 1;
	ev.contact_keys = contacts;
	ev.n_contact_keys = 2;
	ev.recorded_at = t;
	cr_assert_eq(lw_specimen_add_result(s, &ev, 1, 0, 0), 1);
	cr_assert_gt(lw_specimen_bytes(s), before);
	lw_state_touched(st, s, before);
}

static lw_state_stats stats(void)
{
	lw_state_stats s;
	lw_state_get_stats(st, &s);
	return s;
}

Test(state, upsert_and_find)
{
	int created = -1;
	lw_specimen *a, *a2, *ab;
	make(0, 0, 0, 0);
	cr_assert_null(find("A"));
	a = put("A");
	cr_assert_str_eq(a->id, "A");
	a2 = lw_state_upsert(st, "A", 1, &created);
	cr_assert_eq(created, 0);
	cr_assert_eq(a2, a);
	cr_assert_eq(find("A"), a);
	/* IDs are (pointer, length): a prefix is another ID */
	cr_assert_null(lw_state_find(st, "AB", 2));
	ab = lw_state_upsert(st, "AB", 2, &created);
	cr_assert_eq(created, 1);
	cr_assert_neq(ab, a);
	cr_assert_eq(lw_state_find(st, "ABC", 1), a);
	cr_assert_eq(lw_state_find(st, "ABC", 2), ab);
	cr_assert_null(find("B"));
	cr_assert_eq(stats().specimens, 2);
	cr_assert_eq(stats().created, 2);
	cr_assert_eq(stats().evicted + stats().expired, 0);
}

/* Avro strings may contain U+0000; the same ID twice is the same entry. */
Test(state, ids_with_a_nul_byte)
{
	int created = -1;
	lw_specimen *s;
	make(0, 0, 0, 0);
	s = lw_state_upsert(st, "A\0B", 3, &created);
	cr_assert_eq(created, 1);
	cr_assert_eq(lw_state_upsert(st, "A\0B", 3, &created), s);
	cr_assert_eq(created, 0, "a second entry for the same ID");
	cr_assert_eq(lw_state_find(st, "A\0B", 3), s);
	cr_assert_null(lw_state_find(st, "A", 1));
	cr_assert_eq(stats().specimens, 1);
}

Test(state, lru_eviction_by_max_specimens)
{
	lw_specimen *b;
	make(3, 0, 0, 0);
	put("A");
	b = put("B");
	put("C");
	put("D");
	cr_assert_eq(stats().specimens, 4, "nothing evicted before evict()");
	cr_assert_eq(lw_state_evict(st, 0, 100), 1);
	cr_assert_null(find("A"));
	cr_assert_not_null(find("B"));
	cr_assert_not_null(find("C"));
	cr_assert_not_null(find("D"));
	/* B updated: C is now the least recently updated */
	add_event(b, "e1", 10);
	put("E");
	cr_assert_eq(lw_state_evict(st, 10, 100), 1);
	cr_assert_null(find("C"));
	cr_assert_not_null(find("B"));
	cr_assert_not_null(find("D"));
	cr_assert_not_null(find("E"));
	cr_assert_eq(stats().evicted, 2);
	cr_assert_eq(stats().expired, 0);
	cr_assert_eq(stats().specimens, 3);
	/* at the cap: nothing more to do */
	cr_assert_eq(lw_state_evict(st, 10, 100), 0);
}

Test(state, lru_eviction_by_max_bytes)
{
	uint64_t three;
	char id[8];
	/* the bytes of 3 equal entries, measured on an uncapped table */
	make(0, 0, 0, 0);
	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof id, "S%d", i);
		add_event(put(id), "e", 1);
	}
	three = stats().bytes;
	lw_state_destroy(st);

	make(0, three, 0, 0);
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof id, "S%d", i);
		add_event(put(id), "e", 1);
	}
	cr_assert_gt(stats().bytes, three);
	cr_assert_eq(lw_state_evict(st, 1, 100), 2);
	cr_assert_eq(stats().bytes, three);
	cr_assert_eq(stats().evicted, 2);
	cr_assert_eq(stats().expired, 0);
	cr_assert_null(find("S0"));
	cr_assert_null(find("S1"));
	cr_assert_not_null(find("S2"));
	cr_assert_not_null(find("S4"));
	/* an entry that grows pushes the oldest out */
	add_event(find("S4"), "e2", 2);
	cr_assert_eq(lw_state_evict(st, 2, 100), 1);
	cr_assert_null(find("S2"));
	cr_assert_leq(stats().bytes, three);
}

Test(state, ttl_expiry_by_event_time)
{
	make(0, 0, 1000, 0);
	add_event(put("old"), "e", 1000);
	add_event(put("edge"), "e", 4500);
	add_event(put("new"), "e", 5000);
	/* stream time is what the caller says, not the wall clock */
	cr_assert_eq(lw_state_evict(st, 2000, 100), 0);
	cr_assert_eq(lw_state_evict(st, 5500, 100), 1);
	cr_assert_null(find("old"));
	cr_assert_not_null(find("edge"), "exactly ttl old is not older");
	cr_assert_eq(lw_state_evict(st, 5501, 100), 1);
	cr_assert_null(find("edge"));
	cr_assert_not_null(find("new"));
	cr_assert_eq(stats().expired, 2);
	cr_assert_eq(stats().evicted, 0);
}

/* Entries are kept in update order, but expiry is by event time: a late
 * event (old event time, updated last) must expire even though a fresher
 * entry was updated before it. */
/* The documented precision (state.h): expiry follows update order, so an
 * expired entry updated after a fresh one waits for the fresh one to go,
 * and then goes within the same TTL. */
Test(state, ttl_expiry_follows_update_order)
{
	make(0, 0, 1000, 0);
	add_event(put("fresh"), "e", 5000);
	add_event(put("late"), "e", 10);
	cr_assert_eq(lw_state_evict(st, 5500, 100), 0, "held up by fresh");
	cr_assert_not_null(find("late"));
	cr_assert_eq(lw_state_evict(st, 6001, 100), 2, "both past the TTL");
	cr_assert_null(find("late"));
	cr_assert_null(find("fresh"));
	cr_assert_eq(stats().expired, 2);
}

Test(state, ttl_zero_never_expires)
{
	make(0, 0, 0, 0);
	add_event(put("a"), "e", 1);
	cr_assert_eq(lw_state_evict(st, INT64_MAX, 100), 0);
	cr_assert_not_null(find("a"));
}

Test(state, evict_respects_the_budget)
{
	char id[16];
	make(0, 0, 100, 0);
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof id, "X%d", i);
		add_event(put(id), "e", i);
	}
	cr_assert_eq(lw_state_evict(st, 100000, 3), 3);
	cr_assert_eq(stats().specimens, 7);
	cr_assert_eq(lw_state_evict(st, 100000, 3), 3);
	cr_assert_eq(lw_state_evict(st, 100000, 0), 0);
	cr_assert_eq(lw_state_evict(st, 100000, 3), 3);
	cr_assert_eq(lw_state_evict(st, 100000, 3), 1);
	cr_assert_eq(stats().specimens, 0);
	cr_assert_eq(stats().expired, 10);
	lw_state_destroy(st);

	make(2, 0, 0, 0);
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof id, "Y%d", i);
		put(id);
	}
	cr_assert_eq(lw_state_evict(st, 0, 5), 5);
	cr_assert_eq(lw_state_evict(st, 0, 5), 3);
	cr_assert_eq(stats().specimens, 2);
	cr_assert_not_null(find("Y8"));
	cr_assert_not_null(find("Y9"));
}

Test(state, bytes_return_to_the_overhead)
{
	uint64_t empty;
	char id[16];
	make(0, 0, 10, 4096);
	empty = stats().bytes;
	cr_assert_gt(empty, 0, "the bucket array is accounted");
	for (int i = 0; i < 500; i++) {
		lw_specimen *s;
		snprintf(id, sizeof id, "spec-%d", i);
		s = put(id);
		for (int k = 0; k < i % 4; k++) {
			char ev[16];
			snprintf(ev, sizeof ev, "ev-%d", k);
			add_event(s, ev, 1);
		}
	}
	cr_assert_gt(stats().bytes, empty + 500 * 8);
	/* half by expiry, the rest by clear */
	cr_assert_eq(lw_state_evict(st, 1000, 250), 250);
	lw_state_clear(st);
	cr_assert_eq(stats().specimens, 0);
	cr_assert_eq(stats().bytes, empty);
	cr_assert_eq(stats().expired, 250);
	cr_assert_eq(stats().created, 500);
}

Test(state, growth_keeps_entries_findable_and_in_place)
{
	enum { N = 20000 };
	static lw_specimen *ptr[N];
	uint64_t after_clear;
	char id[16];
	make(0, 0, 0, 1); /* the smallest table: it must grow many times */
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof id, "g%d", i);
		ptr[i] = put(id);
		add_event(ptr[i], "e", 1);
	}
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof id, "g%d", i);
		cr_assert_eq(find(id), ptr[i], "%s", id);
		cr_assert_str_eq(ptr[i]->id, id);
		cr_assert_eq(ptr[i]->nresults, 1);
	}
	cr_assert_eq(stats().specimens, N);
	lw_state_clear(st);
	after_clear = stats().bytes;
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof id, "g%d", i);
		cr_assert_null(find(id));
	}
	/* refill and empty again: no drift */
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof id, "h%d", i);
		add_event(put(id), "e", 1);
	}
	lw_state_clear(st);
	cr_assert_eq(stats().bytes, after_clear);
}

/* ---- sweep ---- */

enum { NSWEEP = 5000 };
static int visits[NSWEEP];
static int foreign;

static void count_visit(void *opaque, const lw_specimen *s)
{
	int i;
	(void)opaque;
	if (sscanf(s->id, "w%d", &i) == 1 && i >= 0 && i < NSWEEP)
		visits[i]++;
	else
		foreign++;
}

static int sweep_all(size_t budget, int *steps)
{
	int rc;
	*steps = 0;
	do {
		rc = lw_state_sweep_step(st, budget, count_visit, NULL);
		(*steps)++;
		cr_assert_lt(*steps, 1000000);
	} while (rc == LW_SWEEP_MORE);
	return rc;
}

Test(state, sweep_visits_each_entry_once)
{
	char id[16];
	int steps;
	make(0, 0, 0, 1024);
	for (int i = 0; i < NSWEEP; i++) {
		snprintf(id, sizeof id, "w%d", i);
		put(id);
	}
	for (int round = 0; round < 2; round++) {
		memset(visits, 0, sizeof visits);
		cr_assert_eq(sweep_all(7, &steps), LW_SWEEP_DONE);
		cr_assert_gt(steps, 1, "a budget of 7 cannot cover it all");
		for (int i = 0; i < NSWEEP; i++)
			cr_assert_eq(visits[i], 1, "w%d visited %d times", i,
				     visits[i]);
	}
	cr_assert_eq(foreign, 0);
}

Test(state, sweep_of_an_empty_table)
{
	int steps;
	make(0, 0, 0, 0);
	cr_assert_eq(sweep_all(1000000, &steps), LW_SWEEP_DONE);
	cr_assert_eq(steps, 1);
}

Test(state, sweep_resets_when_the_table_grows)
{
	char id[16];
	int steps;
	make(0, 0, 0, 64);
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof id, "w%d", i);
		put(id);
	}
	memset(visits, 0, sizeof visits);
	cr_assert_eq(lw_state_sweep_step(st, 1, count_visit, NULL),
		     LW_SWEEP_MORE);
	for (int i = 10; i < 1000; i++) { /* far past the load limit */
		snprintf(id, sizeof id, "w%d", i);
		put(id);
	}
	cr_assert_eq(lw_state_sweep_step(st, 1, count_visit, NULL),
		     LW_SWEEP_RESET);
	/* the next sweep starts over and is complete */
	memset(visits, 0, sizeof visits);
	cr_assert_eq(sweep_all(16, &steps), LW_SWEEP_DONE);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(visits[i], 1, "w%d", i);
}

Test(state, sweep_resets_when_the_table_is_cleared)
{
	char id[16];
	make(0, 0, 0, 64);
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof id, "w%d", i);
		put(id);
	}
	cr_assert_eq(lw_state_sweep_step(st, 1, count_visit, NULL),
		     LW_SWEEP_MORE);
	lw_state_clear(st);
	cr_assert_eq(lw_state_sweep_step(st, 1, count_visit, NULL),
		     LW_SWEEP_RESET);
}
