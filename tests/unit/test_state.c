/* test_state: the bounded join-state table (state.h).
 *
 * Upsert/find by (pointer, length) IDs; least-recently-updated eviction by
 * max_specimens and by max_bytes (counted as evicted), with its work
 * budget, and nothing else (evict() applies the caps only); deadlines:
 * schedule/advance hands over exactly the entries due, within a budget
 * resumed on the next call, with re-scheduling and expiry (counted as
 * expired) inside the callback; the TTL as the owner runs it (newest event
 * + ttl), where a late entry expires on its own deadline; removal by
 * caps, expire and clear unlinks the deadline (ASan checks no callback
 * touches a freed entry); byte accounting that returns exactly to the
 * table overhead when the table is emptied; growth that keeps every entry
 * findable and in place; and the incremental sweep (every entry exactly
 * once while the table is unchanged, LW_SWEEP_RESET when it grows or is
 * cleared mid-sweep). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

static lw_state *st;
/* The view entries are unpacked into (lw_state_load). */
static lw_specimen view_;

static void teardown(void)
{
	lw_state_destroy(st);
	st = NULL;
	lw_specimen_clear(&view_);
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

static const lw_specimen *look(lw_state_entry *en)
{
	lw_state_load(st, en, &view_);
	return &view_;
}

static lw_state_entry *put(const char *id)
{
	int created = -1;
	lw_state_entry *s = lw_state_upsert(st, id, strlen(id), &created);
	cr_assert_not_null(s);
	cr_assert_eq(created, 1, "%s existed", id);
	return s;
}

static lw_state_entry *find(const char *id)
{
	return lw_state_find(st, id, strlen(id));
}

/* Adds a FINAL result with event time t to s, as the engine does. */
static void add_event(lw_state_entry *en, const char *event_id, int64_t t)
{
	static const lw_str contacts[2] = {{"c1", 2}, {"c2", 2}};
	lw_result_event ev;
	lw_specimen *s = &view_;
	size_t before;
	lw_state_load(st, en, s);
	before = lw_specimen_bytes(s);
	memset(&ev, 0, sizeof ev);
	ev.event_id = view(event_id);
	ev.specimen_id = view(lw_specimen_id(s));
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
	lw_state_store(st, en, s);
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
	lw_state_entry *a, *a2, *ab;
	make(0, 0, 0, 0);
	cr_assert_null(find("A"));
	a = put("A");
	cr_assert_str_eq(lw_specimen_id(look(a)), "A");
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
	lw_state_entry *s;
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
	lw_state_entry *b;
	make(3, 0, 0, 0);
	put("A");
	b = put("B");
	put("C");
	put("D");
	cr_assert_eq(stats().specimens, 4, "nothing evicted before evict()");
	cr_assert_eq(lw_state_evict(st, 100), 1);
	cr_assert_null(find("A"));
	cr_assert_not_null(find("B"));
	cr_assert_not_null(find("C"));
	cr_assert_not_null(find("D"));
	/* B updated: C is now the least recently updated */
	add_event(b, "e1", 10);
	put("E");
	cr_assert_eq(lw_state_evict(st, 100), 1);
	cr_assert_null(find("C"));
	cr_assert_not_null(find("B"));
	cr_assert_not_null(find("D"));
	cr_assert_not_null(find("E"));
	cr_assert_eq(stats().evicted, 2);
	cr_assert_eq(stats().expired, 0);
	cr_assert_eq(stats().specimens, 3);
	/* at the cap: nothing more to do */
	cr_assert_eq(lw_state_evict(st, 100), 0);
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
	cr_assert_eq(lw_state_evict(st, 100), 2);
	cr_assert_eq(stats().bytes, three);
	cr_assert_eq(stats().evicted, 2);
	cr_assert_eq(stats().expired, 0);
	cr_assert_null(find("S0"));
	cr_assert_null(find("S1"));
	cr_assert_not_null(find("S2"));
	cr_assert_not_null(find("S4"));
	/* an entry that grows pushes the oldest out */
	add_event(find("S4"), "e2", 2);
	cr_assert_eq(lw_state_evict(st, 100), 1);
	cr_assert_null(find("S2"));
	cr_assert_leq(stats().bytes, three);
}

/* The caps evict by update order, not by event time: an entry with an old
 * event time updated last stays, a fresh one updated first goes. */
Test(state, caps_evict_least_recently_updated_whatever_the_event_time)
{
	make(1, 0, 1000, 0);
	add_event(put("fresh"), "e", 5000);
	add_event(put("late"), "e", 10);
	cr_assert_eq(lw_state_evict(st, 100), 1);
	cr_assert_null(find("fresh"));
	cr_assert_not_null(find("late"));
	cr_assert_eq(stats().evicted, 1);
}

/* evict() applies the caps only; the TTL is the owner's deadlines. */
Test(state, evict_without_caps_removes_nothing)
{
	make(0, 0, 1000, 0);
	add_event(put("old"), "e", 1);
	cr_assert_eq(lw_state_evict(st, 100), 0);
	cr_assert_not_null(find("old"));
	cr_assert_eq(stats().expired + stats().evicted, 0);
}

/* ---- deadlines ---- */

/* What the callback does with each entry handed over. */
enum { DUE_EXPIRE, DUE_RESCHEDULE, DUE_KEEP_OFF, DUE_EXPIRE_OTHER };
static int due_mode;
static int64_t due_step; /* DUE_RESCHEDULE: the next deadline, + this */
static lw_state_entry *due_other; /* DUE_EXPIRE_OTHER */
static char due_log[4096];
static size_t due_n;

static void on_due(void *opaque, lw_state_entry *s)
{
	int64_t now = *(const int64_t *)opaque;
	size_t len = strlen(due_log);
	cr_assert_eq(lw_state_deadline(st, s), INT64_MAX,
		     "%s handed over still scheduled", lw_specimen_id(look(s)));
	snprintf(due_log + len, sizeof due_log - len, "%s%s", len ? "," : "",
		 lw_specimen_id(look(s)));
	due_n++;
	switch (due_mode) {
	case DUE_EXPIRE:
		lw_state_expire(st, s);
		break;
	case DUE_RESCHEDULE:
		lw_state_schedule(st, s, now + due_step);
		cr_assert_eq(lw_state_deadline(st, s), now + due_step);
		break;
	case DUE_KEEP_OFF: /* kept, with no deadline */
		break;
	case DUE_EXPIRE_OTHER:
		if (due_other && s != due_other) {
			lw_state_expire(st, due_other);
			due_other = NULL;
		}
		lw_state_expire(st, s);
		break;
	}
}

static size_t advance(int64_t now, size_t budget)
{
	static int64_t n;
	n = now;
	return lw_state_advance(st, now, budget, on_due, &n);
}

static const char *fired(void)
{
	static char out[4096];
	memcpy(out, due_log, sizeof out);
	due_log[0] = '\0';
	return out;
}

/* The TTL as the owner runs it: each entry scheduled at its newest event
 * time + ttl, expired when handed over. Exactly ttl old expires. */
Test(state, ttl_expiry_by_deadline)
{
	static const char *const ids[] = {"old", "edge", "new"};
	static const int64_t t[] = {1000, 4500, 5000};
	due_mode = DUE_EXPIRE;
	make(0, 0, 1000, 0);
	for (int i = 0; i < 3; i++) {
		lw_state_entry *s = put(ids[i]);
		add_event(s, "e", t[i]);
		cr_assert_eq(look(s)->last_event_ms, t[i]);
		lw_state_schedule(st, s, look(s)->last_event_ms + 1000);
	}
	cr_assert_eq(lw_state_scheduled(st), 3);
	cr_assert_eq(advance(1999, 100), 0);
	cr_assert_eq(advance(5499, 100), 1);
	cr_assert_str_eq(fired(), "old");
	cr_assert_null(find("old"));
	cr_assert_not_null(find("edge"));
	cr_assert_eq(advance(5500, 100), 1);
	cr_assert_str_eq(fired(), "edge");
	cr_assert_not_null(find("new"));
	cr_assert_eq(advance(5999, 100), 0);
	cr_assert_eq(advance(6000, 100), 1);
	cr_assert_eq(stats().expired, 3);
	cr_assert_eq(stats().evicted, 0);
	cr_assert_eq(stats().specimens, 0);
	cr_assert_eq(lw_state_scheduled(st), 0);
}

/* A late event (old event time) updated after a fresher entry expires on
 * its own deadline: update order does not hold it up. */
Test(state, late_entry_expires_on_its_own_deadline)
{
	lw_state_entry *fresh, *late;
	due_mode = DUE_EXPIRE;
	make(0, 0, 1000, 0);
	fresh = put("fresh");
	add_event(fresh, "e", 5000);
	lw_state_schedule(st, fresh, look(fresh)->last_event_ms + 1000);
	late = put("late");
	add_event(late, "e", 10);
	lw_state_schedule(st, late, look(late)->last_event_ms + 1000);
	cr_assert_eq(advance(1009, 100), 0);
	cr_assert_eq(advance(1010, 100), 1);
	cr_assert_str_eq(fired(), "late");
	cr_assert_null(find("late"));
	cr_assert_not_null(find("fresh"));
	cr_assert_eq(stats().expired, 1);
}

Test(state, unscheduled_entries_are_never_handed_over)
{
	due_mode = DUE_EXPIRE;
	make(0, 0, 0, 0);
	add_event(put("a"), "e", 1);
	cr_assert_eq(lw_state_deadline(st, find("a")), INT64_MAX);
	cr_assert_eq(advance(INT64_MAX - 1, 100), 0);
	cr_assert_not_null(find("a"));
	/* no stream time yet: nothing is due */
	lw_state_schedule(st, find("a"), -5);
	cr_assert_eq(advance(INT64_MIN, 100), 0);
	cr_assert_not_null(find("a"));
}

/* Entries handed over by one advance (the callback's count). */
static size_t handed(int64_t now)
{
	size_t before = due_n;
	advance(now, SIZE_MAX);
	return due_n - before;
}

Test(state, schedule_hands_over_exactly_what_is_due)
{
	char id[16];
	due_mode = DUE_KEEP_OFF;
	make(0, 0, 0, 0);
	advance(0, 100);
	for (int i = 0; i < 10; i++) {
		lw_state_entry *s;
		snprintf(id, sizeof id, "d%d", i);
		s = put(id);
		lw_state_schedule(st, s, 1000 + 500 * i);
		cr_assert_eq(lw_state_deadline(st, s), 1000 + 500 * i);
	}
	cr_assert_eq(handed(999), 0);
	cr_assert_eq(handed(1000), 1);
	cr_assert_str_eq(fired(), "d0");
	cr_assert_eq(handed(2499), 2);
	cr_assert_str_eq(fired(), "d1,d2");
	cr_assert_eq(handed(2500), 1);
	cr_assert_str_eq(fired(), "d3");
	/* handed over and not re-scheduled: kept, with no deadline */
	cr_assert_not_null(find("d0"));
	cr_assert_eq(lw_state_deadline(st, find("d0")), INT64_MAX);
	cr_assert_eq(stats().expired, 0);
	/* moving deadlines: later, earlier, and off */
	lw_state_schedule(st, find("d4"), 100000);
	lw_state_schedule(st, find("d9"), 2600);
	lw_state_schedule(st, find("d5"), INT64_MAX);
	cr_assert_eq(lw_state_deadline(st, find("d4")), 100000);
	cr_assert_eq(lw_state_deadline(st, find("d9")), 2600);
	cr_assert_eq(lw_state_deadline(st, find("d5")), INT64_MAX);
	cr_assert_eq(handed(6000), 4);
	cr_assert_str_eq(fired(), "d9,d6,d7,d8");
	cr_assert_eq(lw_state_deadline(st, find("d4")), 100000,
		     "still scheduled after its old time passed");
	cr_assert_eq(handed(99999), 0);
	cr_assert_eq(handed(100000), 1);
	cr_assert_str_eq(fired(), "d4");
	cr_assert_eq(handed(INT64_MAX - 1), 0, "d5 was unscheduled");
	/* later, then earlier again than the first time */
	lw_state_schedule(st, find("d1"), 200000);
	lw_state_schedule(st, find("d1"), 300000);
	lw_state_schedule(st, find("d1"), 150000);
	cr_assert_eq(lw_state_deadline(st, find("d1")), 150000);
	cr_assert_eq(handed(149999), 0);
	cr_assert_eq(handed(150000), 1);
	cr_assert_eq(handed(400000), 0);
	/* the same deadline twice is one */
	lw_state_schedule(st, find("d2"), 500000);
	lw_state_schedule(st, find("d2"), 500000);
	cr_assert_eq(handed(500000), 1);
}

/* state.h: lw_state_scheduled() counts "entries with a deadline" and
 * lw_state_advance() returns how many entries it handed over. */
Test(state, scheduled_and_handed_over_counts)
{
	char id[16];
	due_mode = DUE_KEEP_OFF;
	make(0, 0, 0, 0);
	advance(0, 100);
	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof id, "c%d", i);
		lw_state_schedule(st, put(id), 1000);
	}
	cr_assert_eq(lw_state_scheduled(st), 6);
	lw_state_schedule(st, find("c0"), INT64_MAX);
	lw_state_schedule(st, find("c1"), INT64_MAX);
	cr_assert_eq(lw_state_scheduled(st), 4, "two unscheduled");
	lw_state_schedule(st, find("c2"), 50000); /* later */
	cr_assert_eq(lw_state_scheduled(st), 4);
	cr_assert_eq(advance(1000, 100), 3, "c3, c4, c5 handed over");
	cr_assert_str_eq(fired(), "c3,c4,c5");
	cr_assert_eq(lw_state_scheduled(st), 1, "c2");
	cr_assert_eq(advance(50000, 100), 1);
	cr_assert_eq(lw_state_scheduled(st), 0);
}

Test(state, advance_respects_the_budget_and_resumes)
{
	char id[16];
	due_mode = DUE_EXPIRE;
	make(0, 0, 0, 0);
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof id, "b%d", i);
		lw_state_schedule(st, put(id), 100 + i);
	}
	cr_assert_eq(advance(1000, 3), 3);
	cr_assert_str_eq(fired(), "b0,b1,b2");
	cr_assert_eq(stats().specimens, 7);
	cr_assert_eq(advance(1000, 0), 0);
	cr_assert_eq(advance(1000, 4), 4);
	cr_assert_str_eq(fired(), "b3,b4,b5,b6");
	cr_assert_eq(advance(1000, 4), 3);
	cr_assert_str_eq(fired(), "b7,b8,b9");
	cr_assert_eq(advance(1000, 4), 0);
	cr_assert_eq(stats().expired, 10);
	cr_assert_eq(stats().specimens, 0);
}

Test(state, rescheduling_inside_the_callback)
{
	lw_state_entry *s;
	due_mode = DUE_RESCHEDULE;
	due_step = 1000;
	make(0, 0, 0, 0);
	s = put("r");
	lw_state_schedule(st, s, 5000);
	cr_assert_eq(advance(5000, 100), 1);
	cr_assert_eq(lw_state_deadline(st, s), 6000);
	cr_assert_eq(advance(5999, 100), 0);
	cr_assert_eq(advance(6500, 100), 1);
	cr_assert_eq(lw_state_deadline(st, s), 7500);
	cr_assert_eq(lw_state_scheduled(st), 1);
	/* a big jump hands it over once per advance, not once per step */
	cr_assert_eq(advance(1000000, 100), 1);
	cr_assert_eq(lw_state_deadline(st, s), 1001000);
	cr_assert_eq(due_n, 3);
}

/* The callback expires the entry handed over and another one that is due
 * in the same pass: the other is never handed over (ASan: no use after
 * free). */
Test(state, expire_inside_the_callback)
{
	char id[16];
	due_mode = DUE_EXPIRE_OTHER;
	make(0, 0, 0, 0);
	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof id, "x%d", i);
		lw_state_schedule(st, put(id), 1000);
	}
	due_other = find("x3");
	cr_assert_eq(advance(1000, 100), 5);
	cr_assert_str_eq(fired(), "x0,x1,x2,x4,x5");
	cr_assert_eq(stats().specimens, 0);
	cr_assert_eq(stats().expired, 6);
	cr_assert_eq(lw_state_scheduled(st), 0);
}

/* Entries removed by the caps, by expire() or by clear() leave the wheel:
 * no callback for them afterwards (ASan catches a use after free). */
Test(state, removal_unlinks_from_the_deadlines)
{
	char id[16];
	due_mode = DUE_KEEP_OFF;
	make(2, 0, 0, 0);
	advance(0, 100);
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof id, "u%d", i);
		lw_state_schedule(st, put(id), 1000 * (i + 1));
	}
	cr_assert_eq(lw_state_scheduled(st), 5);
	cr_assert_eq(lw_state_evict(st, 100), 3); /* u0, u1, u2 */
	cr_assert_eq(lw_state_scheduled(st), 2);
	lw_state_expire(st, find("u3"));
	cr_assert_eq(lw_state_scheduled(st), 1);
	cr_assert_eq(advance(100000, 100), 1);
	cr_assert_str_eq(fired(), "u4");
	cr_assert_eq(stats().evicted, 3);
	cr_assert_eq(stats().expired, 1);
	/* clear with deadlines pending, then time moves on */
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof id, "v%d", i);
		lw_state_schedule(st, put(id), 200000 + i);
	}
	lw_state_schedule(st, find("u4"), 150000);
	lw_state_clear(st);
	cr_assert_eq(lw_state_scheduled(st), 0);
	cr_assert_eq(advance(1000000, 100), 0);
	cr_assert_str_eq(fired(), "");
	/* and destroy with deadlines pending (ASan: no leak) */
	lw_state_schedule(st, put("w"), 2000000);
}

/* Far deadlines (beyond the wheel's coarse range) and many of them. */
Test(state, many_and_far_deadlines)
{
	enum { M = 3000 };
	char id[16];
	int64_t day = 86400000;
	due_mode = DUE_EXPIRE;
	make(0, 0, 0, 0);
	advance(0, 1);
	for (int i = 0; i < M; i++) {
		snprintf(id, sizeof id, "f%d", i);
		lw_state_schedule(st, put(id), (int64_t)(i % 30) * day + i);
	}
	for (int d = 0; d < 30; d++) {
		size_t n = advance((int64_t)d * day + M, SIZE_MAX);
		cr_assert_eq(n, M / 30, "day %d: %zu", d, n);
	}
	cr_assert_eq(stats().specimens, 0);
}

Test(state, bytes_return_to_the_overhead)
{
	uint64_t empty;
	char id[16];
	due_mode = DUE_EXPIRE;
	make(0, 0, 10, 4096);
	empty = stats().bytes;
	cr_assert_gt(empty, 0, "the bucket array is accounted");
	for (int i = 0; i < 500; i++) {
		lw_state_entry *s;
		snprintf(id, sizeof id, "spec-%d", i);
		s = put(id);
		for (int k = 0; k < i % 4; k++) {
			char ev[16];
			snprintf(ev, sizeof ev, "ev-%d", k);
			add_event(s, ev, 1);
		}
		lw_state_schedule(st, s, i < 250 ? 10 : 1000000);
	}
	cr_assert_gt(stats().bytes, empty + 500 * 8);
	/* half by expiry, the rest by clear */
	cr_assert_eq(advance(1000, 1000), 250);
	lw_state_clear(st);
	cr_assert_eq(stats().specimens, 0);
	cr_assert_eq(stats().bytes, empty);
	cr_assert_eq(stats().expired, 250);
	cr_assert_eq(stats().created, 500);
}

Test(state, evict_respects_the_budget)
{
	char id[16];
	make(2, 0, 0, 0);
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof id, "Y%d", i);
		put(id);
	}
	cr_assert_eq(lw_state_evict(st, 5), 5);
	cr_assert_eq(lw_state_evict(st, 0), 0);
	cr_assert_eq(lw_state_evict(st, 5), 3);
	cr_assert_eq(stats().specimens, 2);
	cr_assert_not_null(find("Y8"));
	cr_assert_not_null(find("Y9"));
	cr_assert_eq(stats().evicted, 8);
}

Test(state, growth_keeps_entries_findable_and_in_place)
{
	enum { N = 20000 };
	static lw_state_entry *ptr[N];
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
		cr_assert_str_eq(lw_specimen_id(look(ptr[i])), id);
		cr_assert_eq(look(ptr[i])->nresults, 1);
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
	if (sscanf(lw_specimen_id(s), "w%d", &i) == 1 && i >= 0 && i < NSWEEP)
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

/* A large table (more than 1,024 buckets) evicts the least recently
 * updated of a sample: with half the entries updated since, every victim
 * must come from the other half (a sample of 16 holds none of them with
 * probability 2^-16; the sample's seed is fixed, so the run is the same
 * every time), and the same run evicts the same entries. */
static void evict_sampled_run(int *evicted_ids, int n_evict)
{
	enum { N = 20000 };
	char id[16];
	int k = 0;
	make(N - (uint64_t)n_evict, 0, 0, N);
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof id, "s%d", i);
		add_event(put(id), "e", i);
	}
	/* the odd ones are updated again, after every even one */
	for (int i = 1; i < N; i += 2) {
		snprintf(id, sizeof id, "s%d", i);
		add_event(find(id), "e2", N + i);
	}
	cr_assert_eq(lw_state_evict(st, SIZE_MAX), (size_t)n_evict);
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof id, "s%d", i);
		if (!find(id))
			evicted_ids[k++] = i;
	}
	cr_assert_eq(k, n_evict);
	lw_state_destroy(st);
	st = NULL;
}

Test(state, large_tables_evict_the_oldest_of_a_sample)
{
	static int a[2000], b[2000];
	int old_half = 0;
	evict_sampled_run(a, 2000);
	for (int i = 0; i < 2000; i++)
		old_half += a[i] % 2 == 0;
	cr_assert_eq(old_half, 2000, "%d of 2000 victims updated recently",
		     2000 - old_half);
	/* and the evens evicted lean to the oldest: most from the first
	 * half of them (those stored first) */
	{
		int first = 0;
		for (int i = 0; i < 2000; i++)
			first += a[i] < 10000;
		cr_assert_gt(first, 1500, "%d of 2000 from the oldest quarter",
			     first);
	}
	evict_sampled_run(b, 2000);
	cr_assert_eq(memcmp(a, b, sizeof a), 0, "the same victims each run");
}
