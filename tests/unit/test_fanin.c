/* test_fanin: FANIN, one recipient receiving many patients' records
 * (fanin.h).
 *
 * The threshold at its boundary (threshold patients: no; one more: yes);
 * the window (t - window, t] at its boundary; the same patient twice
 * counting once (its newest notification kept, an older one ignored); the
 * revision growing with the patients and the alert ID staying; expiry
 * ending an episode so that a later fan-in is a new incident with a new
 * alert ID; evidence capped at max_evidence, in (sent_at, notification ID)
 * order, with the rest counted as omitted; max_patients; and the memory
 * statistics returning exactly to their empty values once everything has
 * expired. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "event.h"
#include "fanin.h"
#include "rules.h"
#include "specimen.h"

static lw_fanin *f;
static lw_fanin_config cfg;
static lw_alert A;

static void setup(void)
{
	f = NULL;
	memset(&A, 0, sizeof A);
	lw_fanin_config_defaults(&cfg);
	cfg.window_ms = 10000;
	cfg.threshold = 2;
	cfg.max_evidence = 3;
}

static void teardown(void)
{
	lw_fanin_destroy(f);
}

TestSuite(fanin, .init = setup, .fini = teardown);

static void start(void)
{
	f = lw_fanin_new(&cfg);
	cr_assert_not_null(f);
}

static int64_t next_offset;

/* recipient and patient are small numbers standing for key hashes */
static int add(uint64_t recipient, uint64_t patient, int64_t sent,
	       const char *sid, const char *nid)
{
	/* the IDs in the stored form a record keeps them in (specimen.h) */
	unsigned char ssid[LW_STORED_BOUND(64)], snid[LW_STORED_BOUND(64)];
	lw_fanin_pair p = {recipient * 0x9e3779b97f4a7c15ULL,
			   patient * 0xbf58476d1ce4e5b9ULL,
			   sent,
			   ssid,
			   snid,
			   (int32_t)(recipient % 7),
			   next_offset++};
	cr_assert_leq(strlen(sid), 64);
	cr_assert_leq(strlen(nid), 64);
	lw_stored_pack(sid, strlen(sid), ssid);
	lw_stored_pack(nid, strlen(nid), snid);
	return lw_fanin_add(f, &p, &A);
}

static lw_fanin_stats stats(void)
{
	lw_fanin_stats st;
	lw_fanin_get_stats(f, &st);
	return st;
}

static const char *evidence(void)
{
	static char out[1024];
	size_t o = 0;
	out[0] = '\0';
	for (uint32_t i = 0; i < A.nevidence; i++)
		o += (size_t)snprintf(out + o, sizeof out - o, "%s%s",
				      i ? "," : "", A.evidence[i].event_id);
	return out;
}

Test(fanin, threshold_boundary)
{
	start();
	cr_assert_eq(add(1, 1, 1000, "S1", "n1"), 0);
	cr_assert_eq(add(1, 2, 2000, "S2", "n2"), 0, "2 patients: not over 2");
	cr_assert_eq(stats().incidents, 0);
	cr_assert_eq(add(1, 3, 3000, "S3", "n3"), 1, "3: a new incident");
	cr_assert_eq(A.rule, LW_RULE_FANIN);
	cr_assert_eq(A.severity, LW_SEV_CRITICAL);
	cr_assert_eq(A.revision, 3);
	cr_assert_eq(A.recipient_count, 1);
	cr_assert_str_eq(A.specimen_id, "S1", "the earliest notification's");
	cr_assert_null(A.patient_key);
	cr_assert_null(A.recorded_code);
	cr_assert_null(A.stated_code);
	cr_assert_eq(A.recorded_version, LW_NO_VERSION);
	cr_assert_eq(A.stated_version, LW_NO_VERSION);
	cr_assert_eq(A.event_time, 3000);
	cr_assert_eq(A.fired_at, 3000);
	cr_assert_eq(strlen(A.alert_id), 32);
	cr_assert(strstr(A.summary, "3 distinct patients"), "%s", A.summary);
	cr_assert(strstr(A.summary, "threshold of 2"), "%s", A.summary);
	cr_assert_str_eq(evidence(), "n1,n2,n3");
	cr_assert_eq(A.evidence[0].topic, LW_TOPIC_NOTIFICATIONS);
	cr_assert_eq(A.evidence[0].partition, 1);
	cr_assert_eq(A.evidence_omitted, 0);
	cr_assert_eq(stats().incidents, 1);
	/* other recipients are counted apart */
	cr_assert_eq(add(2, 1, 1000, "S1", "m1"), 0);
	cr_assert_eq(add(2, 2, 1000, "S2", "m2"), 0);
	cr_assert_eq(stats().recipients, 2);
	cr_assert_eq(stats().pairs, 5);
}

/* The window is (t - window_ms, t], t the newest sent_at: a notification
 * exactly window_ms older than the newest is out. */
Test(fanin, window_boundary)
{
	start();
	add(1, 1, 0, "S1", "n1");
	add(1, 2, 5000, "S2", "n2");
	cr_assert_eq(add(1, 3, 10000, "S3", "n3"), 0, "n1 is 10000 older");
	add(2, 1, 0, "S1", "m1");
	add(2, 2, 5000, "S2", "m2");
	cr_assert_eq(add(2, 3, 9999, "S3", "m3"), 1);
	cr_assert_str_eq(evidence(), "m1,m2,m3");
	/* out of order: an older one inside the window still counts */
	add(3, 1, 20000, "S1", "k1");
	add(3, 2, 15000, "S2", "k2");
	cr_assert_eq(add(3, 3, 10001, "S3", "k3"), 1);
	cr_assert_str_eq(evidence(), "k3,k2,k1");
	cr_assert_str_eq(A.specimen_id, "S3");
	cr_assert_eq(A.event_time, 20000);
}

Test(fanin, the_same_patient_counts_once)
{
	start();
	cr_assert_eq(add(1, 1, 1000, "S1", "n1"), 0);
	cr_assert_eq(add(1, 1, 2000, "S1b", "n1b"), 0, "same patient, newer");
	cr_assert_eq(add(1, 2, 3000, "S2", "n2"), 0, "2 distinct");
	cr_assert_eq(stats().pairs, 2);
	cr_assert_eq(add(1, 1, 500, "S1c", "n1c"), 0, "older: ignored");
	cr_assert_eq(stats().pairs, 2);
	cr_assert_eq(add(1, 3, 4000, "S3", "n3"), 1);
	cr_assert_eq(A.revision, 3);
	cr_assert_str_eq(evidence(), "n1b,n2,n3", "the newest per patient");
	cr_assert_str_eq(A.specimen_id, "S1b");
}

Test(fanin, revision_grows_and_the_id_stays)
{
	char id[33];
	start();
	add(1, 1, 1000, "S1", "n1");
	add(1, 2, 2000, "S2", "n2");
	cr_assert_eq(add(1, 3, 3000, "S3", "n3"), 1);
	memcpy(id, A.alert_id, 33);
	cr_assert_eq(add(1, 4, 4000, "S4", "n4"), 2, "grew");
	cr_assert_eq(A.revision, 4);
	cr_assert_str_eq(A.alert_id, id);
	cr_assert_str_eq(A.specimen_id, "S1", "the episode's first specimen");
	cr_assert_eq(A.event_time, 4000);
	cr_assert_eq(add(1, 4, 4500, "S4", "n4b"), 0, "no new patient");
	cr_assert_eq(add(1, 2, 4600, "S2", "n2b"), 0);
	cr_assert_eq(add(1, 5, 5000, "S5", "n5"), 2);
	cr_assert_eq(A.revision, 5);
	cr_assert_str_eq(A.alert_id, id);
	cr_assert_eq(stats().incidents, 1);
	/* fewer in the window later, then back: not above what was sent */
	cr_assert_eq(add(1, 6, 13500, "S6", "n6"), 0, "window: n4b,n2b,n5,n6");
	cr_assert_eq(add(1, 7, 13600, "S7", "n7"), 0, "5 in the window again");
	cr_assert_eq(add(1, 8, 13700, "S8", "n8"), 2, "6: grew");
	cr_assert_eq(A.revision, 6);
	cr_assert_str_eq(A.alert_id, id);
}

/* An episode ends when all its notifications have left the window at
 * stream time; the next fan-in is a new incident. */
Test(fanin, expiry_ends_the_episode)
{
	char id[33];
	start();
	add(1, 1, 1000, "S1", "n1");
	add(1, 2, 2000, "S2", "n2");
	cr_assert_eq(add(1, 3, 3000, "S3", "n3"), 1);
	memcpy(id, A.alert_id, 33);
	/* part of it expires: the episode goes on */
	lw_fanin_expire(f, 11000, 1000000);
	cr_assert_eq(stats().pairs, 2);
	cr_assert_eq(stats().recipients, 1);
	cr_assert_eq(add(1, 4, 11500, "S4", "n4"), 0, "3 again: no growth");
	lw_fanin_expire(f, 21500, 1000000);
	cr_assert_eq(stats().pairs, 0);
	cr_assert_eq(stats().recipients, 0);
	cr_assert_eq(stats().expired, 1);
	/* a new fan-in by the same recipient */
	add(1, 1, 30000, "S1", "p1");
	add(1, 2, 30001, "S2", "p2");
	cr_assert_eq(add(1, 3, 30002, "S3", "p3"), 1, "a new incident");
	cr_assert_str_neq(A.alert_id, id);
	cr_assert_eq(A.revision, 3);
	cr_assert_eq(stats().incidents, 2);
}

/* Nothing expires before the stream time says so. */
Test(fanin, expire_boundary)
{
	start();
	add(1, 1, 1000, "S1", "n1");
	lw_fanin_expire(f, INT64_MIN, 1000000);
	cr_assert_eq(stats().pairs, 1);
	lw_fanin_expire(f, 10999, 1000000);
	cr_assert_eq(stats().pairs, 1, "1000 > 10999 - 10000");
	lw_fanin_expire(f, 11000, 1000000);
	cr_assert_eq(stats().pairs, 0);
}

Test(fanin, evidence_is_capped_and_ordered)
{
	start();
	/* sent_at order, ties by notification ID */
	add(1, 6, 1500, "S6", "n6");
	add(1, 5, 1000, "S5", "nb");
	cr_assert_eq(add(1, 4, 1000, "S4", "na"), 1);
	cr_assert_str_eq(evidence(), "na,nb,n6");
	cr_assert_str_eq(A.specimen_id, "S4");
	add(1, 3, 900, "S3", "n3");
	cr_assert_eq(A.nevidence, 3);
	cr_assert_str_eq(evidence(), "n3,na,nb");
	cr_assert_eq(A.evidence_omitted, 1);
	cr_assert_eq(A.revision, 4);
	cr_assert_eq(add(1, 2, 2000, "S2", "n2"), 2);
	cr_assert_str_eq(evidence(), "n3,na,nb");
	cr_assert_eq(A.evidence_omitted, 2);
	cr_assert_eq(A.revision, 5);
	for (uint32_t i = 0; i < A.nevidence; i++)
		cr_assert_eq(A.evidence[i].topic, LW_TOPIC_NOTIFICATIONS);
}

Test(fanin, threshold_zero_is_off)
{
	cfg.threshold = 0;
	start();
	for (int p = 0; p < 50; p++)
		cr_assert_eq(add(1, (uint64_t)p, 1000 + p, "S", "n"), 0);
	cr_assert_eq(stats().recipients, 0);
	cr_assert_eq(stats().pairs, 0);
}

/* fanin.h: "at most max_patients patients per recipient are kept: more
 * are ignored". */
Test(fanin, max_patients_kept_more_ignored)
{
	cfg.max_patients = 4;
	cfg.max_evidence = 100;
	start();
	add(1, 1, 1000, "S1", "n1");
	add(1, 2, 1001, "S2", "n2");
	cr_assert_eq(add(1, 3, 1002, "S3", "n3"), 1);
	cr_assert_eq(add(1, 4, 1003, "S4", "n4"), 2);
	cr_assert_eq(stats().pairs, 4);
	cr_assert_eq(add(1, 5, 1004, "S5", "n5"), 0,
		     "the 5th patient is ignored");
	cr_assert_eq(A.revision, 4);
	cr_assert_eq(stats().pairs, 4, "and not kept");
}

/* Many recipients, many patients, incidents and growth; once everything
 * has expired the counters are back to the empty table's. */
Test(fanin, stats_return_to_empty)
{
	lw_fanin_stats empty;
	char sid[32], nid[32];
	int alerts = 0;
	start();
	empty = stats();
	cr_assert_eq(empty.recipients, 0);
	cr_assert_eq(empty.pairs, 0);
	cr_assert_gt(empty.bytes, 0, "the bucket array");
	for (int r = 0; r < 900; r++)
		for (int p = 0; p < 1 + r % 7; p++) {
			snprintf(sid, sizeof sid, "specimen-%d-%d", r, p);
			snprintf(nid, sizeof nid, "n-%d-%d", r, p);
			alerts += add((uint64_t)r + 1, (uint64_t)p + 1,
				      1000 + r + p, sid, nid) != 0;
			/* and a newer one for some patients */
			if (p % 3 == 0) {
				snprintf(nid, sizeof nid, "m-%d-%d", r, p);
				add((uint64_t)r + 1, (uint64_t)p + 1,
				    2000 + r + p, sid, nid);
			}
		}
	cr_assert_gt(alerts, 0);
	cr_assert_eq(stats().recipients, 900);
	cr_assert_gt(stats().bytes, empty.bytes + 900 * 16);
	/* half of them expire; the rest later */
	lw_fanin_expire(f, 2450 + 10000, SIZE_MAX);
	cr_assert_gt(stats().recipients, 0);
	cr_assert_lt(stats().recipients, 900);
	for (int i = 0; i < 4; i++)
		lw_fanin_expire(f, 100000, SIZE_MAX);
	cr_assert_eq(stats().recipients, 0);
	cr_assert_eq(stats().pairs, 0);
	cr_assert_eq(stats().bytes, empty.bytes);
	cr_assert_eq(stats().expired, 900);
}

/* With more recipients than the initial table: it grows (and stays
 * grown); the rest returns to zero. */
Test(fanin, stats_after_growth)
{
	lw_fanin_stats empty;
	start();
	empty = stats();
	for (int r = 0; r < 3000; r++)
		add((uint64_t)r + 1, 1, 1000, "S", "n");
	cr_assert_eq(stats().recipients, 3000);
	for (int i = 0; i < 4; i++)
		lw_fanin_expire(f, 100000, SIZE_MAX);
	cr_assert_eq(stats().recipients, 0);
	cr_assert_eq(stats().pairs, 0);
	cr_assert_eq(stats().bytes, empty.bytes * 4, "4096 buckets");
}

/* The expiry budget bounds one call's work; repeated calls finish. */
Test(fanin, expire_budget)
{
	size_t calls = 0;
	start();
	for (int r = 0; r < 500; r++)
		add((uint64_t)r + 1, 1, 1000, "S", "n");
	while (stats().recipients && calls < 100000) {
		size_t v = lw_fanin_expire(f, 100000, 16);
		cr_assert_leq(v, 16 + 8, "one call visited %zu", v);
		calls++;
	}
	cr_assert_eq(stats().recipients, 0);
	cr_assert_gt(calls, 10);
}

/* The entry keeps one pair's IDs in its own tail. Moving them around (an
 * update with longer IDs leaves the tail for a block of its own, a second
 * patient then takes the freed tail, expiry keeps the later pair) must
 * keep every ID intact, as the evidence shows, and leave the statistics
 * at their empty values (under ASan, nothing leaks or is freed twice). */
Test(fanin, ids_move_between_the_entry_and_blocks_of_their_own)
{
	lw_fanin_stats empty;
	cfg.threshold = 2;
	cfg.max_evidence = 10;
	start();
	empty = stats();
	cr_assert_eq(add(1, 1, 1000, "S1", "n-a"), 0); /* tail */
	cr_assert_eq(add(1, 1, 1100, "S1-longer-than-the-tail",
			 "n-a-longer-than-the-tail"),
		     0); /* own block; tail free */
	cr_assert_eq(add(1, 2, 1200, "S2", "n-b"), 0); /* the tail again */
	cr_assert_eq(add(1, 3, 1300, "S3", "n-c"), 1);
	cr_assert_str_eq(evidence(), "n-a-longer-than-the-tail,n-b,n-c");
	cr_assert_str_eq(A.specimen_id, "S1-longer-than-the-tail");
	/* the first two leave the window: the third pair stays */
	lw_fanin_expire(f, 1250 + cfg.window_ms, SIZE_MAX);
	cr_assert_eq(stats().pairs, 1);
	/* the episode goes on (n-c is in its window): three patients,
	 * as alerted, then a fourth grows it */
	cr_assert_eq(add(1, 4, 10400, "S4", "n-d"), 0);
	cr_assert_eq(add(1, 5, 10500, "S5", "n-e"), 0);
	cr_assert_eq(add(1, 6, 10600, "S6", "n-f"), 2);
	cr_assert_str_eq(evidence(), "n-c,n-d,n-e,n-f");
	lw_fanin_expire(f, 10600 + cfg.window_ms, SIZE_MAX);
	cr_assert_eq(stats().pairs, 0);
	cr_assert_eq(stats().recipients, 0);
	cr_assert_eq(stats().bytes, empty.bytes);
}

/* IDs are kept in their stored form (a canonical UUID as 16 bytes and its
 * case) and spelt out only for an alert: the evidence and the specimen ID
 * must come back exactly as given, UUID or not, in either case, and
 * notifications sent at the same time are ordered by their IDs as text. */
Test(fanin, uuid_ids_come_back_exactly)
{
	static const char *nid[] = {"6f1c2d3e-4a5b-4c6d-8e7f-00112233aabb",
				    "0A1B2C3D-4E5F-4A6B-9C7D-8E9FA0B1C2D3",
				    "n-plain",
				    "6f1c2d3e-4a5b-4c6d-8e7f-00112233aaba"};
	cfg.threshold = 3;
	cfg.max_evidence = 10;
	start();
	cr_assert_eq(add(1, 1, 1000, "SP000000001", nid[0]), 0);
	cr_assert_eq(add(1, 2, 1000, "SP000000002", nid[1]), 0);
	cr_assert_eq(add(1, 3, 1000, "SP000000003", nid[2]), 0);
	cr_assert_eq(
	    add(1, 4, 1000, "d2c1b0a9-8f7e-4d6c-9b5a-493827161504", nid[3]), 1);
	cr_assert_str_eq(evidence(),
			 "0A1B2C3D-4E5F-4A6B-9C7D-8E9FA0B1C2D3,"
			 "6f1c2d3e-4a5b-4c6d-8e7f-00112233aaba,"
			 "6f1c2d3e-4a5b-4c6d-8e7f-00112233aabb,n-plain");
	/* the episode's specimen: the first in that order */
	cr_assert_str_eq(A.specimen_id, "SP000000002");
	cr_assert_eq(A.nevidence, 4);
}
