/* test_rules: the rules of rules.h, as pure functions of a specimen
 * record built here with lw_specimen_add_result/_notification.
 *
 * Each rule is checked against the semantics written at the top of
 * rules.h: RESULT_MISMATCH (severity by polarity, code normalization, null
 * stated code, grouping by facts), STALE_VERSION, the reference result of a
 * notification (time of send vs time recorded, lowest version when none was
 * recorded yet, preliminary results never, waiting for a stated version not
 * yet known), withdrawal by CANCELLED / ENTERED_IN_ERROR, WRONG_RECIPIENT,
 * FANOUT (threshold from contacts, 2, or the config; distinct recipients),
 * RECORD_MISMATCH. Then order independence (every permutation of a mixed
 * record gives the same incidents, facts, members and alert IDs) and the
 * alert ID: stable across code tables, different for different facts.
 *
 * Timer rules, evaluated at a given stream time: each fires exactly at its
 * due time (not at due - 1) and is reported as next_due before;
 * MISSING_NOTIFICATION with the covered window [rec - skew, due], stated
 * versions, supersession at the due time, the lowest missing version and
 * severity by polarity; per-code SLAs; CORRECTED_AFTER_NOTIFY with its
 * prior notifications (which must have told a final result), one incident
 * and alert ID per version; withdrawal silencing the SLA rules while
 * SENT_AFTER_WITHDRAWAL still fires; ORPHAN_NOTIFICATION at sent_at +
 * grace exactly; SENT_BEFORE_FINAL for a preliminary in force and for
 * retest_pending, at the skew edge; alert IDs per specimen; and order
 * independence of all of it. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codes.h"
#include "rules.h"
#include "specimen.h"

#define NOV LW_NO_VERSION
/* or'ed into a status: the result has retest_pending set */
#define RETEST 0x100

static lw_codes *codes;
static lw_specimen sp;
static lw_incident_list L;
static lw_rules_config cfg;

static void setup(void)
{
	codes = lw_codes_new();
	lw_specimen_init(&sp, "SP-1", 4);
	lw_incident_list_init(&L);
	memset(&cfg, 0, sizeof cfg);
	cfg.clock_skew_ms = 50;
}

static void teardown(void)
{
	lw_specimen_clear(&sp);
	lw_incident_list_free(&L);
	lw_codes_destroy(codes);
}

TestSuite(rules, .init = setup, .fini = teardown);

static lw_str view(const char *s)
{
	lw_str v = {s, s ? (uint32_t)strlen(s) : 0};
	return v;
}

static int64_t next_offset;

/* contacts: a NULL-terminated list or NULL */
static void result_into(lw_specimen *s, lw_codes *tab, const char *event_id,
			const char *code, int status, int32_t version,
			int64_t recorded_at, const char *const *contacts,
			int64_t offset)
{
	lw_str cv[16];
	lw_result_event ev;
	uint32_t n = 0;
	memset(&ev, 0, sizeof ev);
	while (contacts && contacts[n]) {
		cv[n] = view(contacts[n]);
		n++;
	}
	ev.event_id = view(event_id);
	ev.specimen_id = view(lw_specimen_id(s));
	ev.patient_key = view("pk-1");
	ev.test_code = view("PCR");
	ev.result_code = view(code);
	ev.status = status & 0xff;
	ev.retest_pending = (status & RETEST) != 0;
	ev.result_version = version;
	ev.contact_keys = cv;
	ev.n_contact_keys = n;
	ev.recorded_at = recorded_at;
	ev.source_system = view("");
	cr_assert_eq(
	    lw_specimen_add_result(
		s, &ev, lw_codes_intern(tab, code, strlen(code)), 0, offset),
	    1);
}

static void notif_into(lw_specimen *s, lw_codes *tab, const char *nid,
		       const char *recipient, const char *code, int32_t version,
		       int64_t sent_at, const char *intended, int64_t offset)
{
	lw_notification_event ev;
	memset(&ev, 0, sizeof ev);
	ev.notification_id = view(nid);
	ev.specimen_id = view(lw_specimen_id(s));
	ev.intended_specimen_id = view(intended);
	ev.recipient_key = view(recipient);
	ev.recipient_hint = view("r***@x***");
	ev.channel = LW_CHANNEL_EMAIL;
	ev.result_code = view(code);
	ev.has_result_version = version != NOV;
	ev.result_version = version == NOV ? 0 : version;
	ev.batch_id = view(NULL);
	ev.sent_at = sent_at;
	cr_assert_eq(lw_specimen_add_notification(
			 s, &ev,
			 lw_codes_intern(tab, code, code ? strlen(code) : 0), 1,
			 offset),
		     1);
}

static void result(const char *event_id, const char *code, int status,
		   int32_t version, int64_t recorded_at,
		   const char *const *contacts)
{
	result_into(&sp, codes, event_id, code, status, version, recorded_at,
		    contacts, next_offset++);
}

static void notif(const char *nid, const char *recipient, const char *code,
		  int32_t version, int64_t sent_at, const char *intended)
{
	notif_into(&sp, codes, nid, recipient, code, version, sent_at, intended,
		   next_offset++);
}

static void eval(void)
{
	lw_rules_evaluate(&sp, codes, &cfg, INT64_MIN, &L);
}

/* At stream time now (the timer rules decide what is due by then). */
static void eval_at(int64_t now)
{
	lw_rules_evaluate(&sp, codes, &cfg, now, &L);
}

static size_t count(int rule)
{
	size_t n = 0;
	for (size_t i = 0; i < L.n; i++)
		n += L.v[i].rule == rule;
	return n;
}

/* The only incident of that rule (asserts there is exactly one). */
static const lw_incident *only(int rule)
{
	const lw_incident *found = NULL;
	for (size_t i = 0; i < L.n; i++)
		if (L.v[i].rule == rule) {
			cr_assert_null(found, "two %s incidents",
				       lw_rule_name(rule));
			found = &L.v[i];
		}
	cr_assert_not_null(found, "no %s incident", lw_rule_name(rule));
	return found;
}

/* Member notification IDs, sorted, joined by ',' */
static const char *members(const lw_incident *inc)
{
	static char out[1024];
	static char buf[256][LW_ID_BUF];
	const char *ids[256];
	size_t o = 0;
	cr_assert_leq(inc->nmembers, 256);
	for (uint32_t k = 0; k < inc->nmembers; k++)
		ids[k] = lw_specimen_str(
		    &sp,
		    sp.notifs[L.members[inc->first_member + k]].notification_id,
		    buf[k]);
	for (uint32_t a = 0; a < inc->nmembers; a++)
		for (uint32_t b = a + 1; b < inc->nmembers; b++)
			if (strcmp(ids[a], ids[b]) > 0) {
				const char *t = ids[a];
				ids[a] = ids[b];
				ids[b] = t;
			}
	out[0] = '\0';
	for (uint32_t k = 0; k < inc->nmembers; k++)
		o += (size_t)snprintf(out + o, sizeof out - o, "%s%s",
				      k ? "," : "", ids[k]);
	return out;
}

static const char *ref_event(const lw_incident *inc)
{
	static char buf[LW_ID_BUF];
	return inc->ref >= 0
		   ? lw_specimen_str(&sp, sp.results[inc->ref].event_id, buf)
		   : "-";
}

static const char *code_name(uint16_t id)
{
	return lw_codes_name(codes, id);
}

static const char *const C12[] = {"c1", "c2", NULL};

/* ---- RESULT_MISMATCH ---- */

Test(rules, positive_told_negative_is_critical)
{
	const lw_incident *inc;
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "c1", "neg", 1, 200, NULL);
	eval();
	cr_assert_eq(L.n, 1);
	inc = only(LW_RULE_RESULT_MISMATCH);
	cr_assert_eq(inc->severity, LW_SEV_CRITICAL);
	cr_assert_str_eq(ref_event(inc), "r1");
	cr_assert_str_eq(code_name(inc->stated_code), "NEG");
	cr_assert_eq(inc->stated_version, NOV);
	cr_assert_str_eq(members(inc), "n1");
	cr_assert_eq(inc->recipients, 1);
	cr_assert_eq(inc->event_time, 200);
}

Test(rules, negative_told_positive_is_high)
{
	const lw_incident *inc;
	/* recorded 10 ms after the send: within the clock skew */
	result("r1", "Negative", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "c1", "Detected", 1, 90, NULL);
	eval();
	inc = only(LW_RULE_RESULT_MISMATCH);
	cr_assert_eq(inc->severity, LW_SEV_HIGH);
	cr_assert_eq(inc->event_time, 100, "newest event involved: r1");
}

Test(rules, other_codes_are_high)
{
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "c1", "IND", 1, 200, NULL);
	notif("n2", "c1", "A1", 1, 200, NULL);
	eval();
	cr_assert_eq(count(LW_RULE_RESULT_MISMATCH), 2);
	for (size_t i = 0; i < L.n; i++)
		cr_assert_eq(L.v[i].severity, LW_SEV_HIGH);
}

Test(rules, equal_codes_after_normalization)
{
	result("r1", "Not Detected", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "c1", "not_detected", 1, 200, NULL);
	notif("n2", "c1", "  NOT   DETECTED ", 1, 200, NULL);
	eval();
	cr_assert_eq(L.n, 0);
}

Test(rules, null_stated_code_is_no_mismatch)
{
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "c1", NULL, 1, 200, NULL);
	notif("n2", "c1", NULL, NOV, 200, NULL);
	eval();
	cr_assert_eq(L.n, 0);
}

Test(rules, one_incident_per_facts)
{
	const lw_incident *neg = NULL, *ind = NULL;
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "a", "NEG", 1, 200, NULL);
	notif("n2", "b", "neg", 1, 210, NULL);
	notif("n3", "b", "NEG", NOV, 220, NULL);
	notif("n4", "a", "IND", 1, 230, NULL);
	notif("n5", "a", "POS", 1, 240, NULL);
	eval();
	cr_assert_eq(L.n, 2);
	for (size_t i = 0; i < L.n; i++) {
		cr_assert_eq(L.v[i].rule, LW_RULE_RESULT_MISMATCH);
		if (!strcmp(code_name(L.v[i].stated_code), "NEG"))
			neg = &L.v[i];
		else
			ind = &L.v[i];
	}
	cr_assert_not_null(neg);
	cr_assert_not_null(ind);
	cr_assert_str_eq(members(neg), "n1,n2,n3");
	cr_assert_eq(neg->recipients, 2);
	cr_assert_eq(neg->severity, LW_SEV_CRITICAL);
	cr_assert_eq(neg->event_time, 220);
	cr_assert_str_eq(code_name(ind->stated_code), "IND");
	cr_assert_str_eq(members(ind), "n4");
	cr_assert_eq(ind->severity, LW_SEV_HIGH);
}

/* ---- STALE_VERSION and the reference result ---- */

Test(rules, stale_version_after_a_correction)
{
	const lw_incident *mm, *st;
	result("r1", "NEG", LW_STATUS_FINAL, 1, 100, NULL);
	result("r2", "POS", LW_STATUS_CORRECTED, 2, 200, NULL);
	notif("n1", "a", "NEG", 1, 300, NULL); /* the old version, resent */
	notif("n2", "a", "POS", 2, 310, NULL); /* correct */
	eval();
	cr_assert_eq(L.n, 2);
	mm = only(LW_RULE_RESULT_MISMATCH);
	cr_assert_eq(mm->severity, LW_SEV_CRITICAL);
	cr_assert_str_eq(ref_event(mm), "r2");
	cr_assert_str_eq(members(mm), "n1");
	st = only(LW_RULE_STALE_VERSION);
	cr_assert_eq(st->severity, LW_SEV_HIGH);
	cr_assert_str_eq(ref_event(st), "r2");
	cr_assert_eq(st->stated_version, 1);
	cr_assert_str_eq(members(st), "n1");
	cr_assert_eq(st->event_time, 300);
}

Test(rules, stale_version_with_the_right_code)
{
	const lw_incident *st;
	result("r1", "NEG", LW_STATUS_FINAL, 1, 100, NULL);
	result("r2", "NEG", LW_STATUS_CORRECTED, 2, 150, NULL);
	result("r3", "neg", LW_STATUS_CORRECTED, 3, 160, NULL);
	notif("n1", "a", "NEG", 1, 300, NULL);
	notif("n2", "b", "NEG", 1, 310, NULL);
	notif("n3", "a", "NEG", 2, 320, NULL);
	eval();
	cr_assert_eq(count(LW_RULE_RESULT_MISMATCH), 0);
	cr_assert_eq(count(LW_RULE_STALE_VERSION), 2);
	for (size_t i = 0; i < L.n; i++) {
		st = &L.v[i];
		cr_assert_str_eq(ref_event(st), "r3");
		if (st->stated_version == 1) {
			cr_assert_str_eq(members(st), "n1,n2");
			cr_assert_eq(st->recipients, 2);
		} else {
			cr_assert_eq(st->stated_version, 2);
			cr_assert_str_eq(members(st), "n3");
		}
	}
}

Test(rules, correction_after_the_send_is_not_the_reference)
{
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "a", "POS", 1, 200, NULL);
	result("r2", "NEG", LW_STATUS_CORRECTED, 2, 300, NULL);
	eval();
	cr_assert_eq(lw_rules_reference(&sp, 0, &cfg), 0, "r1");
	cr_assert_eq(count(LW_RULE_RESULT_MISMATCH), 0);
	cr_assert_eq(count(LW_RULE_STALE_VERSION), 0);
	/* a message sent after the correction is judged against it */
	notif("n2", "a", "POS", 1, 400, NULL);
	eval();
	cr_assert_eq(lw_rules_reference(&sp, 1, &cfg), 1, "r2");
	cr_assert_str_eq(members(only(LW_RULE_RESULT_MISMATCH)), "n2");
	cr_assert_str_eq(members(only(LW_RULE_STALE_VERSION)), "n2");
}

Test(rules, reference_recorded_exactly_at_send_time)
{
	result("r1", "NEG", LW_STATUS_FINAL, 1, 100, NULL);
	result("r2", "POS", LW_STATUS_CORRECTED, 2, 200, NULL);
	notif("n1", "a", "NEG", NOV, 200, NULL);
	eval();
	cr_assert_eq(lw_rules_reference(&sp, 0, &cfg), 1, "at or before: r2");
	cr_assert_eq(only(LW_RULE_RESULT_MISMATCH)->severity, LW_SEV_CRITICAL);
}

Test(rules, recorded_within_clock_skew_lowest_version)
{
	const lw_incident *inc;
	/* sent at 100; the LIS clock runs a little ahead (skew 50 ms) */
	result("r3", "NEG", LW_STATUS_CORRECTED, 3, 140, NULL);
	result("r2", "POS", LW_STATUS_FINAL, 2, 130, NULL);
	result("r1", "IND", LW_STATUS_PRELIMINARY, 1, 90, NULL);
	notif("n1", "a", "NEG", NOV, 100, NULL);
	eval();
	cr_assert_eq(lw_rules_reference(&sp, 0, &cfg), 1, "r2");
	inc = only(LW_RULE_RESULT_MISMATCH);
	cr_assert_str_eq(ref_event(inc), "r2");
	cr_assert_eq(inc->severity, LW_SEV_CRITICAL);
	cr_assert_eq(inc->event_time, 130);
}

Test(rules, nothing_final_in_force_at_send_waits)
{
	/* final results exist, but all recorded well after the send: the
	 * one in force then has not arrived (or it was sent too early) */
	result("r2", "POS", LW_STATUS_CORRECTED, 2, 151, NULL);
	result("r3", "POS", LW_STATUS_CORRECTED, 3, 900, NULL);
	notif("n1", "a", "NEG", NOV, 100, NULL);
	notif("n2", "a", "NEG", 1, 100, NULL);
	eval();
	cr_assert_eq(lw_rules_reference(&sp, 0, &cfg), -2);
	cr_assert_eq(lw_rules_reference(&sp, 1, &cfg), -2);
	cr_assert_eq(count(LW_RULE_RESULT_MISMATCH), 0);
	cr_assert_eq(count(LW_RULE_STALE_VERSION), 0);
	/* the version in force arrives late; now it is judged */
	result("r1", "POS", LW_STATUS_FINAL, 1, 50, NULL);
	eval();
	cr_assert_eq(lw_rules_reference(&sp, 0, &cfg), 2, "r1");
	cr_assert_str_eq(members(only(LW_RULE_RESULT_MISMATCH)), "n1,n2");
	cr_assert_eq(count(LW_RULE_STALE_VERSION), 0);
}

Test(rules, preliminary_is_never_the_reference)
{
	result("r1", "POS", LW_STATUS_PRELIMINARY, 1, 100, NULL);
	notif("n1", "a", "NEG", 1, 200, NULL);
	notif("n2", "a", "NEG", NOV, 200, NULL);
	eval();
	cr_assert_eq(lw_rules_reference(&sp, 0, &cfg), -1);
	cr_assert_eq(lw_rules_reference(&sp, 1, &cfg), -1);
	cr_assert_eq(L.n, 0);
	/* an unknown status (a newer writer's symbol) is not final either */
	result("r2", "POS", LW_STATUS_UNKNOWN, 2, 150, NULL);
	eval();
	cr_assert_eq(L.n, 0);
}

Test(rules, no_results_no_content_verdict)
{
	notif("n1", "a", "NEG", 1, 200, NULL);
	notif("n2", "a", "NEG", NOV, 200, NULL);
	eval();
	cr_assert_eq(lw_rules_reference(&sp, 0, &cfg), -2,
		     "waits for version 1");
	cr_assert_eq(lw_rules_reference(&sp, 1, &cfg), -1);
	cr_assert_eq(L.n, 0);
}

Test(rules, waits_for_a_newer_stated_version)
{
	result("r1", "NEG", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "a", "POS", 2, 300, NULL);
	eval();
	cr_assert_eq(lw_rules_reference(&sp, 0, &cfg), -2);
	cr_assert_eq(L.n, 0, "no verdict before version 2 is known");
	/* version 2 arrives (recorded before the send) and agrees */
	result("r2", "POS", LW_STATUS_CORRECTED, 2, 250, NULL);
	eval();
	cr_assert_eq(lw_rules_reference(&sp, 0, &cfg), 1);
	cr_assert_eq(L.n, 0);
}

Test(rules, waits_then_judges_against_the_new_version)
{
	const lw_incident *inc;
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "a", "POS", 2, 300, NULL);
	eval();
	cr_assert_eq(L.n, 0);
	result("r2", "NEG", LW_STATUS_CORRECTED, 2, 250, NULL);
	eval();
	inc = only(LW_RULE_RESULT_MISMATCH);
	cr_assert_str_eq(ref_event(inc), "r2");
	cr_assert_eq(inc->severity, LW_SEV_HIGH, "negative told positive");
}

Test(rules, withdrawn_record_silences_content_rules)
{
	static const int withdraw[] = {LW_STATUS_CANCELLED,
				       LW_STATUS_ENTERED_IN_ERROR};
	for (int w = 0; w < 2; w++) {
		lw_specimen_clear(&sp);
		lw_specimen_init(&sp, "SP-1", 4);
		result("r1", "POS", LW_STATUS_FINAL, 1, 100, C12);
		notif("n1", "x", "NEG", 1, 200, "SP-9");
		notif("n2", "y", "NEG", 1, 210, NULL);
		notif("n3", "c1", "POS", NOV, 220, NULL);
		eval();
		cr_assert_eq(count(LW_RULE_RESULT_MISMATCH), 1);
		result("r2", "POS", withdraw[w], 2, 300, NULL);
		eval();
		cr_assert_eq(count(LW_RULE_RESULT_MISMATCH), 0, "%s",
			     lw_status_name(withdraw[w]));
		cr_assert_eq(count(LW_RULE_STALE_VERSION), 0);
		/* the rules about who got the record still hold */
		cr_assert_eq(only(LW_RULE_WRONG_RECIPIENT)->severity,
			     LW_SEV_CRITICAL);
		cr_assert_eq(count(LW_RULE_FANOUT), 1);
		cr_assert_eq(count(LW_RULE_RECORD_MISMATCH), 1);
	}
}

Test(rules, withdrawal_superseded_by_a_newer_result)
{
	result("r1", "POS", LW_STATUS_CANCELLED, 1, 100, NULL);
	result("r2", "POS", LW_STATUS_FINAL, 2, 200, NULL);
	notif("n1", "a", "NEG", 2, 300, NULL);
	eval();
	cr_assert_eq(only(LW_RULE_RESULT_MISMATCH)->severity, LW_SEV_CRITICAL);
}

/* ---- WRONG_RECIPIENT ---- */

Test(rules, wrong_recipient_needs_contacts)
{
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "stranger", "POS", 1, 200, NULL);
	eval();
	cr_assert_eq(L.n, 0);
}

Test(rules, wrong_recipient_high_then_critical)
{
	const lw_incident *inc;
	static const char *const c3[] = {"c3", NULL};
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, C12);
	result("r2", "POS", LW_STATUS_CORRECTED, 2, 150, c3);
	notif("n1", "c1", "POS", 2, 200, NULL);
	notif("n2", "c3", "POS", 2, 210, NULL); /* contacts are a union */
	eval();
	cr_assert_eq(L.n, 0);
	notif("n3", "x", NULL, NOV, 220, NULL); /* "you have a result" */
	eval();
	inc = only(LW_RULE_WRONG_RECIPIENT);
	cr_assert_eq(inc->severity, LW_SEV_HIGH);
	cr_assert_str_eq(members(inc), "n3");
	cr_assert_eq(inc->recipients, 1);
	notif("n4", "y", "pos", 2, 230, NULL);
	notif("n5", "x", NULL, NOV, 240, NULL);
	eval();
	inc = only(LW_RULE_WRONG_RECIPIENT);
	cr_assert_eq(inc->severity, LW_SEV_CRITICAL);
	cr_assert_str_eq(members(inc), "n3,n4,n5");
	cr_assert_eq(inc->recipients, 2);
	cr_assert_eq(inc->event_time, 240);
}

/* ---- FANOUT ---- */

Test(rules, fanout_threshold_is_the_contact_count)
{
	const lw_incident *inc;
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, C12);
	notif("n1", "c1", "POS", 1, 200, NULL);
	notif("n2", "c2", "POS", 1, 200, NULL);
	notif("n3", "c1", "POS", 1, 200, NULL);
	eval();
	cr_assert_eq(count(LW_RULE_FANOUT), 0, "2 recipients, 2 contacts");
	notif("n4", "x", "POS", 1, 250, NULL);
	eval();
	inc = only(LW_RULE_FANOUT);
	cr_assert_eq(inc->severity, LW_SEV_CRITICAL);
	cr_assert_eq(inc->recipients, 3);
	cr_assert_str_eq(members(inc), "n1,n2,n3,n4");
	cr_assert_eq(inc->event_time, 250);
	cr_assert_eq(count(LW_RULE_WRONG_RECIPIENT), 1);
}

Test(rules, fanout_without_contacts_is_above_two)
{
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	/* many messages, two people: not a fan-out */
	for (int i = 0; i < 10; i++) {
		char id[8];
		snprintf(id, sizeof id, "n%d", i);
		notif(id, i % 2 ? "a" : "b", "POS", 1, 200 + i, NULL);
	}
	eval();
	cr_assert_eq(L.n, 0);
	notif("n10", "c", "POS", 1, 300, NULL);
	eval();
	cr_assert_eq(only(LW_RULE_FANOUT)->recipients, 3);
	cr_assert_eq(only(LW_RULE_FANOUT)->nmembers, 11);
}

Test(rules, fanout_needs_a_result)
{
	for (int i = 0; i < 10; i++) {
		char id[8], r[8];
		snprintf(id, sizeof id, "n%d", i);
		snprintf(r, sizeof r, "r%d", i);
		notif(id, r, "POS", NOV, 200, NULL);
	}
	eval();
	cr_assert_eq(L.n, 0);
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	eval();
	cr_assert_eq(only(LW_RULE_FANOUT)->recipients, 10);
}

Test(rules, fanout_threshold_from_config)
{
	char id[8], r[8];
	cfg.fanout_threshold = 5;
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, C12);
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof id, "n%d", i);
		snprintf(r, sizeof r, "r%d", i);
		notif(id, r, "POS", 1, 200, NULL);
	}
	eval();
	cr_assert_eq(count(LW_RULE_FANOUT), 0);
	notif("n5", "r5", "POS", 1, 200, NULL);
	eval();
	cr_assert_eq(only(LW_RULE_FANOUT)->recipients, 6);
	cfg.fanout_threshold = 6;
	eval();
	cr_assert_eq(count(LW_RULE_FANOUT), 0);
}

/* ---- RECORD_MISMATCH ---- */

Test(rules, record_mismatch)
{
	const lw_incident *inc;
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "a", "POS", 1, 200, "SP-1"); /* itself: fine */
	notif("n2", "a", "POS", 1, 200, NULL);
	notif("n3", "a", "POS", 1, 200, "");
	eval();
	cr_assert_eq(L.n, 0);
	notif("n4", "b", "POS", 1, 300, "SP-2");
	notif("n5", "b", "POS", 1, 310, "SP-3");
	eval();
	inc = only(LW_RULE_RECORD_MISMATCH);
	cr_assert_eq(inc->severity, LW_SEV_CRITICAL);
	cr_assert_str_eq(members(inc), "n4,n5");
	cr_assert_eq(inc->recipients, 1);
	cr_assert_eq(inc->event_time, 310);
}

Test(rules, record_mismatch_without_a_result)
{
	notif("n1", "a", NULL, NOV, 200, "SP-2");
	eval();
	cr_assert_eq(only(LW_RULE_RECORD_MISMATCH)->nmembers, 1);
}

/* ---- order independence ---- */

/* A canonical text for the incident list of s: one line per incident with
 * rule, severity, recipients, member IDs, facts, reference event, event
 * time and alert ID; lines sorted. */
static void describe(const lw_specimen *s, const lw_codes *tab,
		     const lw_incident_list *l, char *out, size_t size)
{
	char lines[32][512];
	size_t n = l->n, o = 0;
	cr_assert_leq(n, 32);
	for (size_t i = 0; i < n; i++) {
		const lw_incident *inc = &l->v[i];
		const char *ids[64];
		char mem[256] = "", aid[33], buf[65][LW_ID_BUF];
		uint64_t key;
		size_t m = 0;
		cr_assert_leq(inc->nmembers, 64);
		for (uint32_t k = 0; k < inc->nmembers; k++)
			ids[k] = lw_specimen_str(
			    s,
			    s->notifs[l->members[inc->first_member + k]]
				.notification_id,
			    buf[k]);
		for (uint32_t a = 0; a < inc->nmembers; a++)
			for (uint32_t b = a + 1; b < inc->nmembers; b++)
				if (strcmp(ids[a], ids[b]) > 0) {
					const char *t = ids[a];
					ids[a] = ids[b];
					ids[b] = t;
				}
		for (uint32_t k = 0; k < inc->nmembers; k++)
			m += (size_t)snprintf(mem + m, sizeof mem - m, "%s%s",
					      k ? "," : "", ids[k]);
		lw_incident_alert_id(s, inc, tab, aid, &key);
		snprintf(lines[i], sizeof lines[i],
			 "%s %s recipients=%u members=%s ref=%s/v%d/%s "
			 "stated=%s/v%d time=%lld id=%s due=%lld",
			 lw_rule_name(inc->rule),
			 lw_severity_name(inc->severity), inc->recipients, mem,
			 inc->ref >= 0
			     ? lw_specimen_str(s, s->results[inc->ref].event_id,
					       buf[64])
			     : "-",
			 inc->ref >= 0 ? s->results[inc->ref].version : -1,
			 inc->ref >= 0
			     ? lw_codes_name(tab, s->results[inc->ref].code)
			     : "-",
			 lw_codes_name(tab, inc->stated_code),
			 inc->stated_version == NOV ? -1 : inc->stated_version,
			 (long long)inc->event_time, aid, (long long)inc->due);
	}
	for (size_t a = 0; a < n; a++)
		for (size_t b = a + 1; b < n; b++)
			if (strcmp(lines[a], lines[b]) > 0) {
				char t[512];
				memcpy(t, lines[a], sizeof t);
				memcpy(lines[a], lines[b], sizeof t);
				memcpy(lines[b], t, sizeof t);
			}
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, size - o, "%s\n", lines[i]);
	o += (size_t)snprintf(out + o, size - o, "next_due=%lld\n",
			      (long long)l->next_due);
}

typedef struct ev_spec {
	int is_result;
	const char *id, *who, *code; /* who: recipient; contacts for results
					are given separately */
	int status;
	int32_t version;
	int64_t t;
	const char *intended;
	const char *const *contacts;
	int64_t offset; /* fixed per event, whatever the arrival order */
} ev_spec;

static void apply(lw_specimen *s, lw_codes *tab, const ev_spec *e)
{
	if (e->is_result)
		result_into(s, tab, e->id, e->code, e->status, e->version, e->t,
			    e->contacts, e->offset);
	else
		notif_into(s, tab, e->id, e->who, e->code, e->version, e->t,
			   e->intended, e->offset);
}

static int next_perm(int *p, int n)
{
	int i = n - 2, j = n - 1, t;
	while (i >= 0 && p[i] > p[i + 1])
		i--;
	if (i < 0)
		return 0;
	while (p[j] < p[i])
		j--;
	t = p[i];
	p[i] = p[j];
	p[j] = t;
	for (int a = i + 1, b = n - 1; a < b; a++, b--) {
		t = p[a];
		p[a] = p[b];
		p[b] = t;
	}
	return 1;
}

/* The stream time all_orders_agree() evaluates at. */
static int64_t order_now = INT64_MIN;

/* The canonical description of evs applied in the order perm. */
static void describe_order(const ev_spec *evs, const int *perm, int n,
			   char *out, size_t size)
{
	lw_specimen s;
	lw_codes *tab = lw_codes_new();
	lw_incident_list l;
	lw_incident_list_init(&l);
	lw_specimen_init(&s, "SP-1", 4);
	for (int i = 0; i < n; i++)
		apply(&s, tab, &evs[perm[i]]);
	lw_rules_evaluate(&s, tab, &cfg, order_now, &l);
	describe(&s, tab, &l, out, size);
	lw_specimen_clear(&s);
	lw_incident_list_free(&l);
	lw_codes_destroy(tab);
}

/* Runs every permutation of evs; returns the number of permutations and
 * leaves the canonical description in first. Asserts only after freeing
 * the permutation's record, so a failure leaks nothing. */
static int all_orders_agree(const ev_spec *evs, int n, char *first, size_t size)
{
	int perm[8], count = 0, differs = 0;
	char *cur = malloc(size), order[16];
	for (int i = 0; i < n; i++)
		perm[i] = i;
	do {
		describe_order(evs, perm, n, count ? cur : first, size);
		if (count && strcmp(cur, first)) {
			for (int i = 0; i < n; i++)
				order[i] = (char)('0' + perm[i]);
			order[n] = '\0';
			differs = 1;
			break;
		}
		count++;
	} while (next_perm(perm, n));
	if (differs) {
		static char msg[16384];
		snprintf(msg, sizeof msg,
			 "event order %s gives\n%swhere the first order "
			 "gave\n%s",
			 order, cur, first);
		free(cur);
		cr_assert_fail("%s", msg);
	}
	free(cur);
	return count;
}

static const char *const CON12[] = {"c1", "c2", NULL};
static const char *const CON3[] = {"c3", NULL};

Test(rules, every_order_gives_the_same_incidents)
{
	static const ev_spec evs[] = {
	    {1, "r1", NULL, "POS", LW_STATUS_FINAL, 1, 100, NULL, CON12, 10},
	    {1, "r2", NULL, "NEG", LW_STATUS_CORRECTED, 2, 250, NULL, CON3, 11},
	    {0, "n1", "c1", "NEG", 0, 1, 200, NULL, NULL, 20},
	    {0, "n2", "x", "POS", 0, 2, 300, "SP-OTHER", NULL, 21},
	    {0, "n3", "y", NULL, 0, NOV, 310, NULL, NULL, 22},
	    {0, "n4", "c2", "NEG", 0, 1, 320, NULL, NULL, 23},
	};
	char first[8192];
	int n = all_orders_agree(evs, 6, first, sizeof first);
	cr_assert_eq(n, 720);
	/* and what they agree on is what rules.h says */
	cr_assert(strstr(first, "RESULT_MISMATCH CRITICAL recipients=1 "
				"members=n1 ref=r1/v1/POS stated=NEG/v-1"),
		  "%s", first);
	cr_assert(strstr(first, "RESULT_MISMATCH HIGH recipients=1 "
				"members=n2 ref=r2/v2/NEG stated=POS/v-1"),
		  "%s", first);
	cr_assert(strstr(first, "STALE_VERSION HIGH recipients=1 members=n4 "
				"ref=r2/v2/NEG stated=/v1"),
		  "%s", first);
	cr_assert(strstr(first, "WRONG_RECIPIENT CRITICAL recipients=2 "
				"members=n2,n3 "),
		  "%s", first);
	cr_assert(strstr(first, "FANOUT CRITICAL recipients=4 "
				"members=n1,n2,n3,n4 "),
		  "%s", first);
	cr_assert(strstr(first, "RECORD_MISMATCH CRITICAL recipients=1 "
				"members=n2 "),
		  "%s", first);
	{
		int lines = 0;
		for (const char *p = first; *p; p++)
			lines += *p == '\n';
		cr_assert_eq(lines, 6 + 1, "6 incidents, next_due: %s", first);
	}
}

/* The same result version delivered twice under two event IDs (a LIS
 * resend): which copy is the reference must not depend on arrival order. */
Test(rules, same_version_twice_in_any_order)
{
	static const ev_spec evs[] = {
	    {1, "r1a", NULL, "POS", LW_STATUS_FINAL, 1, 100, NULL, NULL, 10},
	    {1, "r1b", NULL, "POS", LW_STATUS_FINAL, 1, 150, NULL, NULL, 11},
	    {0, "n1", "a", "NEG", 0, 1, 120, NULL, NULL, 20},
	    {0, "n2", "b", "NEG", 0, 1, 200, NULL, NULL, 21},
	};
	char first[4096];
	cr_assert_eq(all_orders_agree(evs, 4, first, sizeof first), 24);
	cr_assert(strstr(first, "RESULT_MISMATCH CRITICAL recipients=2 "
				"members=n1,n2"),
		  "%s", first);
}

/* ---- alert IDs ---- */

Test(rules, alert_id_stable_across_code_tables)
{
	static const ev_spec evs[] = {
	    {1, "r1", NULL, "POS", LW_STATUS_FINAL, 1, 100, NULL, CON12, 10},
	    {1, "r2", NULL, "NEG", LW_STATUS_CORRECTED, 2, 250, NULL, NULL, 11},
	    {0, "n1", "c1", "NEG", 0, 1, 200, NULL, NULL, 20},
	    {0, "n2", "x", "IND", 0, 2, 300, "SP-OTHER", NULL, 21},
	    {0, "n4", "c2", "NEG", 0, 1, 320, NULL, NULL, 23},
	};
	static const char *const pre1[] = {"IND", "NEG", "POS"};
	static const char *const pre2[] = {"A",	  "B",	 "C",  "D",
					   "POS", "NEG", "IND"};
	lw_codes *t1 = lw_codes_new(), *t2 = lw_codes_new();
	lw_specimen s1, s2;
	lw_incident_list l1, l2;
	char d1[8192], d2[8192];
	for (size_t i = 0; i < 3; i++)
		lw_codes_intern(t1, pre1[i], strlen(pre1[i]));
	for (size_t i = 0; i < 7; i++)
		lw_codes_intern(t2, pre2[i], strlen(pre2[i]));
	cr_assert_neq(lw_codes_intern(t1, "POS", 3),
		      lw_codes_intern(t2, "POS", 3),
		      "the tables must differ for this test to mean anything");
	lw_specimen_init(&s1, "SP-1", 4);
	lw_specimen_init(&s2, "SP-1", 4);
	lw_incident_list_init(&l1);
	lw_incident_list_init(&l2);
	for (int i = 0; i < 5; i++) {
		apply(&s1, t1, &evs[i]);
		apply(&s2, t2, &evs[4 - i]);
	}
	lw_rules_evaluate(&s1, t1, &cfg, INT64_MIN, &l1);
	lw_rules_evaluate(&s2, t2, &cfg, INT64_MIN, &l2);
	describe(&s1, t1, &l1, d1, sizeof d1);
	describe(&s2, t2, &l2, d2, sizeof d2);
	cr_assert_str_eq(d1, d2);
	cr_assert(strstr(d1, "RESULT_MISMATCH"), "%s", d1);
	cr_assert(strstr(d1, "STALE_VERSION"), "%s", d1);
	lw_specimen_clear(&s1);
	lw_specimen_clear(&s2);
	lw_incident_list_free(&l1);
	lw_incident_list_free(&l2);
	lw_codes_destroy(t1);
	lw_codes_destroy(t2);
}

static void id_of(const lw_incident *inc, char out[33], uint64_t *key)
{
	lw_incident_alert_id(&sp, inc, codes, out, key);
}

static uint64_t hex64(const char *s)
{
	uint64_t v = 0;
	for (int i = 0; i < 16; i++)
		v = v << 4 |
		    (uint64_t)(s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10);
	return v;
}

Test(rules, alert_id_format_and_key)
{
	char id[33];
	uint64_t key;
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "a", "NEG", 1, 200, NULL);
	eval();
	id_of(&L.v[0], id, &key);
	cr_assert_eq(strlen(id), 32);
	for (int i = 0; i < 32; i++)
		cr_assert((id[i] >= '0' && id[i] <= '9') ||
			  (id[i] >= 'a' && id[i] <= 'f'));
	cr_assert_eq(key, hex64(id + 16), "key = low 64 bits");
}

Test(rules, alert_id_differs_with_the_facts)
{
	char ids[16][33];
	int n = 0;
	uint64_t key;
	char same[33];
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, C12);
	result("r2", "IND", LW_STATUS_CORRECTED, 2, 400, NULL);
	result("r3", "IND", LW_STATUS_CORRECTED, 3, 600, NULL);
	notif("n1", "c1", "NEG", 1, 200, NULL);	 /* MM v1 POS NEG */
	notif("n2", "c1", "IND", 1, 210, NULL);	 /* MM v1 POS IND */
	notif("n3", "c1", "NEG", 1, 500, NULL);	 /* MM v2 IND NEG, ST 2/1 */
	notif("n4", "c1", "IND", 1, 700, NULL);	 /* ST 3/1 */
	notif("n5", "x", "IND", 2, 710, "SP-2"); /* ST 3/2, WR, RM */
	notif("n6", "y", "IND", 3, 720, NULL);	 /* FANOUT */
	eval();
	cr_assert_eq(count(LW_RULE_RESULT_MISMATCH), 3,
		     "v1 POS/NEG, v1 POS/IND, v2 IND/NEG");
	cr_assert_eq(count(LW_RULE_STALE_VERSION), 3, "3/1, 2/1, 3/2");
	for (size_t i = 0; i < L.n; i++) {
		cr_assert_lt(n, 16);
		id_of(&L.v[i], ids[n++], &key);
	}
	cr_assert_geq(n, 9);
	for (int a = 0; a < n; a++)
		for (int b = a + 1; b < n; b++)
			cr_assert_str_neq(ids[a], ids[b]);
	/* the same facts keep their ID as the incident grows */
	id_of(only(LW_RULE_WRONG_RECIPIENT), same, &key);
	notif("n7", "z", NULL, NOV, 730, NULL);
	eval();
	id_of(only(LW_RULE_WRONG_RECIPIENT), ids[0], &key);
	cr_assert_str_eq(ids[0], same);
	cr_assert_eq(only(LW_RULE_WRONG_RECIPIENT)->nmembers, 3);
}

Test(rules, alert_id_differs_by_specimen)
{
	lw_specimen other;
	lw_incident_list l2;
	char a[33], b[33];
	uint64_t ka, kb;
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "a", "NEG", 1, 200, NULL);
	eval();
	id_of(&L.v[0], a, &ka);
	lw_specimen_init(&other, "SP-2", 4);
	lw_incident_list_init(&l2);
	result_into(&other, codes, "r1", "POS", LW_STATUS_FINAL, 1, 100, NULL,
		    0);
	notif_into(&other, codes, "n1", "a", "NEG", 1, 200, NULL, 1);
	lw_rules_evaluate(&other, codes, &cfg, INT64_MIN, &l2);
	cr_assert_eq(l2.n, 1);
	lw_incident_alert_id(&other, &l2.v[0], codes, b, &kb);
	cr_assert_str_neq(a, b);
	cr_assert_neq(ka, kb);
	lw_specimen_clear(&other);
	lw_incident_list_free(&l2);
}

Test(rules, names)
{
	cr_assert_str_eq(lw_rule_name(LW_RULE_RESULT_MISMATCH),
			 "RESULT_MISMATCH");
	cr_assert_str_eq(lw_rule_name(LW_RULE_STALE_VERSION), "STALE_VERSION");
	cr_assert_str_eq(lw_rule_name(LW_RULE_WRONG_RECIPIENT),
			 "WRONG_RECIPIENT");
	cr_assert_str_eq(lw_rule_name(LW_RULE_FANOUT), "FANOUT");
	cr_assert_str_eq(lw_rule_name(LW_RULE_RECORD_MISMATCH),
			 "RECORD_MISMATCH");
	cr_assert_str_eq(lw_severity_name(LW_SEV_CRITICAL), "CRITICAL");
	cr_assert_str_eq(lw_severity_name(LW_SEV_HIGH), "HIGH");
	cr_assert_str_eq(lw_severity_name(LW_SEV_WARNING), "WARNING");
	cr_assert_str_eq(lw_severity_name(LW_SEV_INFO), "INFO");
}

Test(rules, duplicates_are_not_added)
{
	lw_result_event ev;
	memset(&ev, 0, sizeof ev);
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "a", "NEG", 1, 200, NULL);
	ev.event_id = view("r1");
	ev.specimen_id = view("SP-1");
	ev.patient_key = view("pk-1");
	ev.result_code = view("NEG");
	ev.status = LW_STATUS_FINAL;
	ev.result_version = 5;
	cr_assert_eq(lw_specimen_add_result(&sp, &ev, 2, 0, 99), 0);
	cr_assert_eq(sp.nresults, 1);
	cr_assert_eq(sp.results[0].version, 1, "the first copy is kept");
}

/* ---- timer rules (rules.h: "Timer rules") ---- */

/* skew 50 (setup); SLAs: positives 1000, others 5000; orphan grace 2000 */
static void timers(void)
{
	cfg.sla_critical_ms = 1000;
	cfg.sla_default_ms = 5000;
	cfg.orphan_grace_ms = 2000;
}

static size_t timer_incidents(void)
{
	return count(LW_RULE_MISSING_NOTIFICATION) +
	       count(LW_RULE_CORRECTED_AFTER_NOTIFY) +
	       count(LW_RULE_ORPHAN_NOTIFICATION) +
	       count(LW_RULE_SENT_BEFORE_FINAL) +
	       count(LW_RULE_SENT_AFTER_WITHDRAWAL);
}

static void alert_id(const lw_incident *inc, char out[33])
{
	uint64_t key;
	lw_incident_alert_id(&sp, inc, codes, out, &key);
}

Test(rules, timer_rule_names)
{
	cr_assert_str_eq(lw_rule_name(LW_RULE_MISSING_NOTIFICATION),
			 "MISSING_NOTIFICATION");
	cr_assert_str_eq(lw_rule_name(LW_RULE_CORRECTED_AFTER_NOTIFY),
			 "CORRECTED_AFTER_NOTIFY");
	cr_assert_str_eq(lw_rule_name(LW_RULE_ORPHAN_NOTIFICATION),
			 "ORPHAN_NOTIFICATION");
	cr_assert_str_eq(lw_rule_name(LW_RULE_SENT_BEFORE_FINAL),
			 "SENT_BEFORE_FINAL");
	cr_assert_str_eq(lw_rule_name(LW_RULE_SENT_AFTER_WITHDRAWAL),
			 "SENT_AFTER_WITHDRAWAL");
	cr_assert_str_eq(lw_rule_name(LW_RULE_FANIN), "FANIN");
	cr_assert_str_eq(lw_rule_name(LW_RULE_VOLUME_SURGE), "VOLUME_SURGE");
	cr_assert_str_eq(lw_rule_name(LW_RULE_COUNT), "UNKNOWN");
	cr_assert_str_eq(lw_rule_name(-1), "UNKNOWN");
}

/* ---- MISSING_NOTIFICATION ---- */

Test(rules, missing_fires_exactly_at_due)
{
	const lw_incident *inc;
	timers();
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	eval();
	cr_assert_eq(L.n, 0, "no stream time: nothing is due");
	cr_assert_eq(L.next_due, 1100);
	eval_at(1099);
	cr_assert_eq(L.n, 0);
	cr_assert_eq(L.next_due, 1100);
	eval_at(1100);
	inc = only(LW_RULE_MISSING_NOTIFICATION);
	cr_assert_eq(L.n, 1);
	cr_assert_eq(inc->severity, LW_SEV_CRITICAL, "a positive");
	cr_assert_eq(inc->due, 1100);
	cr_assert_str_eq(ref_event(inc), "r1");
	cr_assert_eq(inc->ref_status, LW_STATUS_FINAL);
	cr_assert_eq(inc->nmembers, 0);
	cr_assert_eq(inc->recipients, 0);
	cr_assert_eq(inc->event_time, 100);
	cr_assert_eq(L.next_due, INT64_MAX, "nothing else to wait for");
	eval_at(INT64_MAX - 1);
	cr_assert_eq(only(LW_RULE_MISSING_NOTIFICATION)->due, 1100);
}

Test(rules, missing_severity_by_polarity_and_default_sla)
{
	static const char *const code[] = {"NEG", "IND", "not detected"};
	timers();
	for (int i = 0; i < 3; i++) {
		lw_specimen_clear(&sp);
		lw_specimen_init(&sp, "SP-1", 4);
		result("r1", code[i], LW_STATUS_FINAL, 1, 100, NULL);
		eval_at(5099);
		cr_assert_eq(L.n, 0, "%s", code[i]);
		cr_assert_eq(L.next_due, 5100, "%s: the default SLA", code[i]);
		eval_at(5100);
		cr_assert_eq(only(LW_RULE_MISSING_NOTIFICATION)->severity,
			     LW_SEV_HIGH, "%s", code[i]);
	}
}

/* Covered: a notification sent within [rec - skew, due] stating no older
 * version (null counts). rec = 100, skew 50, due = 1100. */
Test(rules, missing_covered_window_edges)
{
	static const struct {
		int64_t sent;
		int32_t version;
		int covers;
	} cases[] = {
	    {49, NOV, 0},		    /* before rec - skew */
	    {50, NOV, 1},		    /* exactly rec - skew */
	    {100, 1, 1},    {1100, NOV, 1}, /* exactly at due */
	    {1101, NOV, 0},		    /* one ms late */
	    {500, 2, 1},		    /* a newer version stated */
	    {500, 0, 0},		    /* an older version stated */
	};
	timers();
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		lw_specimen_clear(&sp);
		lw_specimen_init(&sp, "SP-1", 4);
		result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
		notif("n1", "a", NULL, cases[i].version, cases[i].sent, NULL);
		eval_at(1099);
		cr_assert_eq(count(LW_RULE_MISSING_NOTIFICATION), 0);
		cr_assert_eq(L.next_due, cases[i].covers ? INT64_MAX : 1100,
			     "sent %lld v%d", (long long)cases[i].sent,
			     cases[i].version);
		eval_at(1000000);
		cr_assert_eq(count(LW_RULE_MISSING_NOTIFICATION),
			     cases[i].covers ? 0 : 1, "sent %lld v%d",
			     (long long)cases[i].sent, cases[i].version);
		cr_assert_eq(count(LW_RULE_CORRECTED_AFTER_NOTIFY), 0);
	}
}

/* A notification with the wrong code still notified somebody: MISSING is
 * about silence, RESULT_MISMATCH about content. */
Test(rules, a_wrong_notification_still_covers)
{
	timers();
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "a", "NEG", 1, 200, NULL);
	eval_at(1000000);
	cr_assert_eq(count(LW_RULE_MISSING_NOTIFICATION), 0);
	cr_assert_eq(count(LW_RULE_RESULT_MISMATCH), 1);
}

/* Superseded: a newer final version recorded at or before due(v). */
Test(rules, missing_superseded_edges)
{
	const lw_incident *inc;
	timers();
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);	 /* due 1100 */
	result("r2", "NEG", LW_STATUS_CORRECTED, 2, 1100, NULL); /* 6100 */
	eval_at(1100);
	cr_assert_eq(L.n, 0, "v1 superseded at exactly its due time");
	cr_assert_eq(L.next_due, 6100);
	eval_at(6100);
	inc = only(LW_RULE_MISSING_NOTIFICATION);
	cr_assert_str_eq(ref_event(inc), "r2");
	cr_assert_eq(inc->severity, LW_SEV_HIGH);
	cr_assert_eq(inc->due, 6100);
	cr_assert_eq(inc->ref_status, LW_STATUS_CORRECTED);

	lw_specimen_clear(&sp);
	lw_specimen_init(&sp, "SP-1", 4);
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	result("r2", "NEG", LW_STATUS_CORRECTED, 2, 1101, NULL);
	eval_at(1100);
	inc = only(LW_RULE_MISSING_NOTIFICATION);
	cr_assert_str_eq(ref_event(inc), "r1", "the lowest missing version");
	cr_assert_eq(inc->severity, LW_SEV_CRITICAL);
	cr_assert_eq(L.next_due, 6101);
	/* v2 missing too: still one incident, about v1 */
	eval_at(6101);
	inc = only(LW_RULE_MISSING_NOTIFICATION);
	cr_assert_str_eq(ref_event(inc), "r1");
	cr_assert_eq(inc->due, 1100);
	/* a preliminary newer version supersedes nothing */
	lw_specimen_clear(&sp);
	lw_specimen_init(&sp, "SP-1", 4);
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	result("r2", "NEG", LW_STATUS_PRELIMINARY, 2, 200, NULL);
	eval_at(1100);
	cr_assert_str_eq(ref_event(only(LW_RULE_MISSING_NOTIFICATION)), "r1");
}

/* rec(v) is the earliest record of the version: a resend of v1 recorded
 * later does not move its due time. */
Test(rules, missing_due_from_the_earliest_record_of_a_version)
{
	timers();
	result("r1b", "POS", LW_STATUS_CORRECTED, 1, 700, NULL);
	result("r1a", "POS", LW_STATUS_FINAL, 1, 300, NULL);
	eval_at(1299);
	cr_assert_eq(L.n, 0);
	cr_assert_eq(L.next_due, 1300);
	eval_at(1300);
	cr_assert_str_eq(ref_event(only(LW_RULE_MISSING_NOTIFICATION)), "r1a");
	/* covered from rec - skew of the earliest record */
	notif("n1", "a", NULL, NOV, 250, NULL);
	eval_at(100000);
	cr_assert_eq(L.n, 0);
}

Test(rules, preliminary_results_have_no_sla)
{
	timers();
	result("r1", "POS", LW_STATUS_PRELIMINARY, 1, 100, NULL);
	result("r2", "POS", LW_STATUS_UNKNOWN, 2, 100, NULL);
	eval_at(1000000);
	cr_assert_eq(timer_incidents(), 0);
	cr_assert_eq(L.next_due, INT64_MAX);
}

/* ---- per-code SLAs ---- */

Test(rules, per_code_sla_overrides)
{
	timers();
	cfg.sla[0].code = lw_codes_intern(codes, "A1", 2);
	cfg.sla[0].ms = 200;
	cfg.sla[1].code = lw_codes_intern(codes, "POS", 3);
	cfg.sla[1].ms = 10000;
	cfg.nsla = 2;
	result("r1", "a1", LW_STATUS_FINAL, 1, 100, NULL); /* normalized */
	eval_at(299);
	cr_assert_eq(L.n, 0);
	cr_assert_eq(L.next_due, 300, "A1: 200 ms, not the default 5000");
	eval_at(300);
	cr_assert_eq(only(LW_RULE_MISSING_NOTIFICATION)->due, 300);
	cr_assert_eq(only(LW_RULE_MISSING_NOTIFICATION)->severity, LW_SEV_HIGH);

	lw_specimen_clear(&sp);
	lw_specimen_init(&sp, "SP-1", 4);
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	eval_at(1100);
	cr_assert_eq(L.n, 0, "POS: 10000 ms, not sla_critical 1000");
	cr_assert_eq(L.next_due, 10100);
	eval_at(10100);
	cr_assert_eq(only(LW_RULE_MISSING_NOTIFICATION)->severity,
		     LW_SEV_CRITICAL, "still a positive");
	/* and the override is not applied to other codes */
	lw_specimen_clear(&sp);
	lw_specimen_init(&sp, "SP-1", 4);
	result("r1", "A2", LW_STATUS_FINAL, 1, 100, NULL);
	eval_at(300);
	cr_assert_eq(L.next_due, 5100);
}

/* ---- CORRECTED_AFTER_NOTIFY ---- */

Test(rules, corrected_after_notify_fires_exactly_at_due)
{
	const lw_incident *inc;
	timers();
	result("r1", "NEG", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "a", "NEG", 1, 200, NULL);
	notif("n2", "b", "NEG", NOV, 300, NULL);
	result("r2", "POS", LW_STATUS_CORRECTED, 2, 10000, NULL); /* 11000 */
	eval_at(10999);
	cr_assert_eq(L.n, 0);
	cr_assert_eq(L.next_due, 11000);
	eval_at(11000);
	cr_assert_eq(L.n, 1);
	inc = only(LW_RULE_CORRECTED_AFTER_NOTIFY);
	cr_assert_eq(inc->severity, LW_SEV_HIGH, "HIGH even for a positive");
	cr_assert_str_eq(ref_event(inc), "r2");
	cr_assert_eq(inc->due, 11000);
	cr_assert_str_eq(members(inc), "n1,n2");
	cr_assert_eq(inc->recipients, 2);
	cr_assert_eq(inc->event_time, 10000);
	cr_assert_eq(count(LW_RULE_MISSING_NOTIFICATION), 0);
	cr_assert_eq(L.next_due, INT64_MAX);
	/* telling them again, in time, settles it */
	notif("n3", "a", "POS", 2, 10900, NULL);
	eval_at(11000);
	cr_assert_eq(L.n, 0);
}

/* The earlier notification must have told a final result: one sent while
 * only a preliminary existed is no "prior", so the record is MISSING. */
Test(rules, prior_needs_a_final_result_told)
{
	timers();
	result("r0", "POS", LW_STATUS_PRELIMINARY, 1, 50, NULL);
	notif("n1", "a", NULL, NOV, 60, NULL); /* in force: preliminary */
	result("r1", "NEG", LW_STATUS_FINAL, 1, 5000, NULL); /* due 10000 */
	eval_at(10000);
	cr_assert_eq(count(LW_RULE_CORRECTED_AFTER_NOTIFY), 0);
	cr_assert_str_eq(ref_event(only(LW_RULE_MISSING_NOTIFICATION)), "r1");
	cr_assert_eq(count(LW_RULE_SENT_BEFORE_FINAL), 1);
}

/* The prior notification is one sent before rec(v) - skew; one sent at
 * rec(v) - skew covers v instead. */
Test(rules, prior_and_cover_skew_edges)
{
	timers();
	result("r1", "NEG", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n0", "a", NULL, NOV, 150, NULL); /* covers v1 */
	result("r2", "POS", LW_STATUS_CORRECTED, 2, 10000, NULL);
	notif("n1", "a", NULL, NOV, 9949, NULL);
	eval_at(11000);
	cr_assert_str_eq(members(only(LW_RULE_CORRECTED_AFTER_NOTIFY)),
			 "n0,n1");
	notif("n2", "b", NULL, NOV, 9950, NULL);
	eval_at(11000);
	cr_assert_eq(timer_incidents(), 0, "n2 covers v2");
	cr_assert_eq(L.n, 0);
}

Test(rules, corrected_after_notify_stale_resend_does_not_cover)
{
	const lw_incident *inc;
	timers();
	result("r1", "NEG", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "a", "NEG", 1, 200, NULL);
	result("r2", "POS", LW_STATUS_CORRECTED, 2, 10000, NULL);
	notif("n2", "a", "NEG", 1, 10500, NULL); /* the old version again */
	eval_at(11000);
	inc = only(LW_RULE_CORRECTED_AFTER_NOTIFY);
	cr_assert_str_eq(members(inc), "n1");
	cr_assert_eq(count(LW_RULE_STALE_VERSION), 1);
	cr_assert_eq(count(LW_RULE_RESULT_MISMATCH), 1);
}

/* One incident per (specimen, version), each with its own alert ID; the
 * ID of one does not change as others appear. */
Test(rules, corrected_after_notify_per_version)
{
	char id2[33], id3[33], again[33];
	timers();
	result("r1", "NEG", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n1", "a", "NEG", 1, 200, NULL);
	result("r2", "IND", LW_STATUS_CORRECTED, 2, 10000, NULL); /* 15000 */
	eval_at(15000);
	alert_id(only(LW_RULE_CORRECTED_AFTER_NOTIFY), id2);
	/* v3 recorded after v2's due time: v2 is not superseded */
	result("r3", "POS", LW_STATUS_CORRECTED, 3, 15001, NULL); /* 16001 */
	eval_at(16000);
	cr_assert_eq(L.next_due, 16001);
	eval_at(16001);
	cr_assert_eq(count(LW_RULE_CORRECTED_AFTER_NOTIFY), 2);
	for (size_t i = 0; i < L.n; i++) {
		cr_assert_eq(L.v[i].rule, LW_RULE_CORRECTED_AFTER_NOTIFY);
		if (!strcmp(ref_event(&L.v[i]), "r2")) {
			alert_id(&L.v[i], again);
			cr_assert_eq(L.v[i].due, 15000);
		} else {
			cr_assert_str_eq(ref_event(&L.v[i]), "r3");
			alert_id(&L.v[i], id3);
			cr_assert_eq(L.v[i].due, 16001);
		}
	}
	cr_assert_str_eq(again, id2);
	cr_assert_str_neq(id2, id3);
}

/* MISSING is one incident per specimen: its alert ID does not depend on
 * which version is missing. */
Test(rules, missing_alert_id_is_per_specimen)
{
	lw_specimen other;
	lw_incident_list l2;
	char a[33], b[33];
	uint64_t ka, kb;
	timers();
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	eval_at(100000);
	alert_id(only(LW_RULE_MISSING_NOTIFICATION), a);
	lw_specimen_init(&other, "SP-1", 4);
	lw_incident_list_init(&l2);
	result_into(&other, codes, "x1", "NEG", LW_STATUS_FINAL, 7, 500, NULL,
		    0);
	lw_rules_evaluate(&other, codes, &cfg, 100000, &l2);
	cr_assert_eq(l2.n, 1);
	cr_assert_eq(l2.v[0].rule, LW_RULE_MISSING_NOTIFICATION);
	lw_incident_alert_id(&other, &l2.v[0], codes, b, &kb);
	cr_assert_str_eq(a, b);
	lw_specimen_clear(&other);
	lw_incident_list_free(&l2);
	/* and differs from another rule's for the same specimen */
	(void)ka;
	notif("n1", "a", NULL, NOV, 100000, NULL);
	result("r0", "POS", LW_STATUS_PRELIMINARY, 0, 1, NULL);
	notif("n0", "a", NULL, NOV, 2, NULL);
	eval_at(100000);
	alert_id(only(LW_RULE_SENT_BEFORE_FINAL), b);
	cr_assert_str_neq(a, b);
	(void)ka;
}

/* ---- withdrawal ---- */

/* The newest result CANCELLED or ENTERED_IN_ERROR: nobody needs telling
 * (no MISSING / CORRECTED_AFTER_NOTIFY), content rules are silent, but a
 * notification sent after the withdrawal is SENT_AFTER_WITHDRAWAL. */
Test(rules, withdrawal_silences_sla_rules_but_not_sent_after)
{
	static const int withdraw[] = {LW_STATUS_CANCELLED,
				       LW_STATUS_ENTERED_IN_ERROR};
	timers();
	for (int w = 0; w < 2; w++) {
		const lw_incident *inc;
		char id[33], id2[33];
		lw_specimen_clear(&sp);
		lw_specimen_init(&sp, "SP-1", 4);
		result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
		notif("n0", "a", "POS", 1, 200, NULL); /* before: fine */
		result("r2", "NEG", LW_STATUS_CORRECTED, 2, 300, NULL);
		eval_at(100000);
		cr_assert_eq(count(LW_RULE_CORRECTED_AFTER_NOTIFY), 1);
		result("r3", "NEG", withdraw[w], 3, 400, NULL);
		eval_at(100000);
		cr_assert_eq(L.n, 0, "%s", lw_status_name(withdraw[w]));
		cr_assert_eq(L.next_due, INT64_MAX);
		/* a message after the withdrawal, with the old code */
		notif("n1", "b", "POS", 1, 600, NULL);
		eval_at(649);
		cr_assert_eq(L.n, 0);
		cr_assert_eq(L.next_due, 650);
		eval_at(650);
		cr_assert_eq(L.n, 1, "only SENT_AFTER_WITHDRAWAL");
		inc = only(LW_RULE_SENT_AFTER_WITHDRAWAL);
		cr_assert_eq(inc->severity, LW_SEV_HIGH);
		cr_assert_eq(inc->due, 650);
		cr_assert_str_eq(ref_event(inc), "r3");
		cr_assert_eq(inc->ref_status, withdraw[w]);
		cr_assert_str_eq(members(inc), "n1");
		cr_assert_eq(inc->recipients, 1);
		alert_id(inc, id);
		/* a second one joins the same incident */
		notif("n2", "c", NULL, NOV, 700, NULL);
		eval_at(750);
		inc = only(LW_RULE_SENT_AFTER_WITHDRAWAL);
		cr_assert_str_eq(members(inc), "n1,n2");
		cr_assert_eq(inc->recipients, 2);
		cr_assert_eq(
		    inc->due, 750,
		    "due of the newest member: when it reached this form");
		alert_id(inc, id2);
		cr_assert_str_eq(id, id2, "one incident per specimen");
	}
}

/* In force at sent_at + skew: a withdrawal recorded within the skew after
 * the send counts; one later does not. */
Test(rules, sent_after_withdrawal_skew_edge)
{
	timers();
	result("r1", "POS", LW_STATUS_FINAL, 1, 100, NULL);
	notif("n0", "a", NULL, NOV, 150, NULL);
	result("r2", "POS", LW_STATUS_CANCELLED, 2, 1050, NULL);
	notif("n1", "a", NULL, NOV, 1000, NULL); /* due 1050 */
	notif("n2", "a", NULL, NOV, 999, NULL);	 /* due 1049: r1 in force */
	eval_at(1049);
	cr_assert_eq(L.n, 0);
	cr_assert_eq(L.next_due, 1050);
	eval_at(1050);
	cr_assert_str_eq(members(only(LW_RULE_SENT_AFTER_WITHDRAWAL)), "n1");
}

/* ---- ORPHAN_NOTIFICATION ---- */

Test(rules, orphan_fires_exactly_at_due)
{
	const lw_incident *inc;
	char id[33], id2[33];
	timers();
	notif("n1", "a", "POS", NOV, 1000, NULL); /* due 3000 */
	notif("n2", "b", NULL, NOV, 1500, NULL);  /* due 3500 */
	eval_at(2999);
	cr_assert_eq(L.n, 0);
	cr_assert_eq(L.next_due, 3000);
	eval_at(3000);
	inc = only(LW_RULE_ORPHAN_NOTIFICATION);
	cr_assert_eq(inc->severity, LW_SEV_HIGH);
	cr_assert_eq(inc->due, 3000);
	cr_assert_str_eq(members(inc), "n1");
	cr_assert_eq(inc->ref, -1);
	cr_assert_eq(inc->event_time, 1000);
	cr_assert_eq(L.next_due, 3500);
	alert_id(inc, id);
	eval_at(3500);
	inc = only(LW_RULE_ORPHAN_NOTIFICATION);
	cr_assert_str_eq(members(inc), "n1,n2");
	cr_assert_eq(inc->recipients, 2);
	cr_assert_eq(inc->due, 3500,
		     "the newest member's due: when it reached this form");
	cr_assert_eq(inc->event_time, 1500);
	cr_assert_eq(L.next_due, INT64_MAX);
	alert_id(inc, id2);
	cr_assert_str_eq(id, id2, "one incident per specimen");
}

/* A result of any status recorded at or before sent_at + grace: not an
 * orphan; one ms later: an orphan. */
Test(rules, orphan_grace_edge)
{
	static const int status[] = {LW_STATUS_FINAL, LW_STATUS_PRELIMINARY,
				     LW_STATUS_CANCELLED, LW_STATUS_UNKNOWN};
	timers();
	for (int i = 0; i < 4; i++) {
		lw_specimen_clear(&sp);
		lw_specimen_init(&sp, "SP-1", 4);
		notif("n1", "a", NULL, NOV, 1000, NULL);
		result("r1", "NEG", status[i], 1, 3000, NULL);
		eval_at(100000);
		cr_assert_eq(count(LW_RULE_ORPHAN_NOTIFICATION), 0, "%s",
			     lw_status_name(status[i]));
		lw_specimen_clear(&sp);
		lw_specimen_init(&sp, "SP-1", 4);
		notif("n1", "a", NULL, NOV, 1000, NULL);
		result("r1", "NEG", status[i], 1, 3001, NULL);
		eval_at(100000);
		cr_assert_str_eq(members(only(LW_RULE_ORPHAN_NOTIFICATION)),
				 "n1", "%s", lw_status_name(status[i]));
	}
}

/* A result that arrives late but was recorded in time un-orphans it. */
Test(rules, orphan_undone_by_a_late_result)
{
	timers();
	notif("n1", "a", NULL, NOV, 1000, NULL);
	eval_at(5000);
	cr_assert_eq(count(LW_RULE_ORPHAN_NOTIFICATION), 1);
	result("r1", "NEG", LW_STATUS_FINAL, 1, 2000, NULL);
	eval_at(5000);
	cr_assert_eq(count(LW_RULE_ORPHAN_NOTIFICATION), 0);
}

/* ---- SENT_BEFORE_FINAL ---- */

Test(rules, sent_before_final_preliminary_in_force)
{
	const lw_incident *inc;
	timers();
	result("r1", "POS", LW_STATUS_PRELIMINARY, 1, 100, NULL);
	notif("n1", "a", "POS", NOV, 200, NULL); /* due 250 */
	eval_at(249);
	cr_assert_eq(L.n, 0);
	cr_assert_eq(L.next_due, 250);
	eval_at(250);
	inc = only(LW_RULE_SENT_BEFORE_FINAL);
	cr_assert_eq(inc->severity, LW_SEV_HIGH);
	cr_assert_eq(inc->due, 250);
	cr_assert_str_eq(ref_event(inc), "r1");
	cr_assert_eq(inc->ref_status, LW_STATUS_PRELIMINARY);
	cr_assert_str_eq(members(inc), "n1");
	/* the final result comes later: n1 was still sent too early, and
	 * one sent after it is fine */
	result("r2", "POS", LW_STATUS_FINAL, 1, 1000, NULL);
	notif("n2", "b", "POS", NOV, 1100, NULL);
	eval_at(100000);
	cr_assert_str_eq(members(only(LW_RULE_SENT_BEFORE_FINAL)), "n1");
	cr_assert_eq(count(LW_RULE_MISSING_NOTIFICATION), 0);
}

Test(rules, sent_before_final_retest_pending)
{
	const lw_incident *inc;
	timers();
	result("r1", "POS", LW_STATUS_FINAL | RETEST, 1, 100, NULL);
	notif("n1", "a", "POS", 1, 200, NULL);
	eval_at(250);
	inc = only(LW_RULE_SENT_BEFORE_FINAL);
	cr_assert_eq(inc->ref_status, LW_STATUS_FINAL);
	cr_assert_str_eq(members(inc), "n1");
	cr_assert_eq(count(LW_RULE_MISSING_NOTIFICATION), 0, "covered");
	/* the retest result without the flag: later messages are fine */
	result("r2", "POS", LW_STATUS_CORRECTED, 2, 300, NULL);
	notif("n2", "a", "POS", 2, 400, NULL);
	eval_at(100000);
	cr_assert_str_eq(members(only(LW_RULE_SENT_BEFORE_FINAL)), "n1");
}

/* In force = the newest (version, then recorded_at) recorded by sent_at +
 * skew: a final record of the same version within the skew wins. */
Test(rules, sent_before_final_skew_edge)
{
	timers();
	result("r1", "POS", LW_STATUS_PRELIMINARY, 1, 100, NULL);
	result("r2", "POS", LW_STATUS_FINAL, 1, 250, NULL);
	notif("n1", "a", NULL, NOV, 200, NULL); /* r2 at 250 <= 250 */
	notif("n2", "b", NULL, NOV, 199, NULL); /* r2 at 250 > 249 */
	eval_at(100000);
	cr_assert_str_eq(members(only(LW_RULE_SENT_BEFORE_FINAL)), "n2");
}

/* No result in force at all: not SENT_BEFORE_FINAL (maybe an orphan). */
Test(rules, sent_before_any_result)
{
	timers();
	notif("n1", "a", NULL, NOV, 100, NULL);
	result("r1", "POS", LW_STATUS_PRELIMINARY, 1, 151, NULL);
	eval_at(100000);
	cr_assert_eq(count(LW_RULE_SENT_BEFORE_FINAL), 0);
	cr_assert_eq(count(LW_RULE_ORPHAN_NOTIFICATION), 0);
}

/* next_due is the earliest future due time over all timer rules. */
Test(rules, next_due_over_all_rules)
{
	timers();
	notif("n0", "a", NULL, NOV, 10, NULL);		     /* orphan 2010 */
	result("r1", "POS", LW_STATUS_FINAL, 1, 2500, NULL); /* 3500 */
	result("r0", "POS", LW_STATUS_PRELIMINARY, 0, 2100, NULL);
	notif("n1", "b", NULL, NOV, 2200, NULL); /* SBF due 2250 */
	eval_at(0);
	cr_assert_eq(L.next_due, 2010);
	eval_at(2010);
	cr_assert_eq(count(LW_RULE_ORPHAN_NOTIFICATION), 1);
	cr_assert_eq(L.next_due, 2250);
	eval_at(2250);
	cr_assert_eq(count(LW_RULE_SENT_BEFORE_FINAL), 1);
	cr_assert_eq(L.next_due, 3500);
	eval_at(3500);
	cr_assert_eq(count(LW_RULE_MISSING_NOTIFICATION), 1);
	cr_assert_eq(L.next_due, INT64_MAX);
	cr_assert_eq(timer_incidents(), 3);
}

/* ---- order independence with timers ---- */

/* Two messages sent while two different preliminary versions were in
 * force: the incident's reference (and so its facts) must not depend on
 * which message arrived first. */
Test(rules, sent_before_final_reference_independent_of_order)
{
	static const ev_spec evs[] = {
	    {1, "r1", NULL, "POS", LW_STATUS_PRELIMINARY, 1, 100, NULL, NULL,
	     10},
	    {1, "r2", NULL, "NEG", LW_STATUS_PRELIMINARY, 2, 200, NULL, NULL,
	     11},
	    {0, "n1", "a", NULL, 0, NOV, 120, NULL, NULL, 20},
	    {0, "n2", "b", NULL, 0, NOV, 300, NULL, NULL, 21},
	};
	char first[4096];
	timers();
	order_now = 100000;
	cr_assert_eq(all_orders_agree(evs, 4, first, sizeof first), 24);
	cr_assert(strstr(first, "SENT_BEFORE_FINAL HIGH recipients=2 "
				"members=n1,n2 "),
		  "%s", first);
}

/* The same for SENT_AFTER_WITHDRAWAL. */
Test(rules, sent_after_withdrawal_reference_independent_of_order)
{
	static const ev_spec evs[] = {
	    {1, "r1", NULL, "POS", LW_STATUS_CANCELLED, 1, 100, NULL, NULL, 10},
	    {1, "r2", NULL, "POS", LW_STATUS_ENTERED_IN_ERROR, 2, 200, NULL,
	     NULL, 11},
	    {0, "n1", "a", NULL, 0, NOV, 120, NULL, NULL, 20},
	    {0, "n2", "b", NULL, 0, NOV, 300, NULL, NULL, 21},
	};
	char first[4096];
	timers();
	order_now = 100000;
	cr_assert_eq(all_orders_agree(evs, 4, first, sizeof first), 24);
	cr_assert(strstr(first, "SENT_AFTER_WITHDRAWAL HIGH recipients=2 "
				"members=n1,n2 "),
		  "%s", first);
}

/* Every timer rule at once, in every order of 8 events, at several
 * stream times: the same incidents, due times and next_due. */
Test(rules, timer_rules_in_every_order)
{
	static const ev_spec evs[] = {
	    {0, "n0", "a", NULL, 0, NOV, 10, NULL, NULL, 20}, /* orphan */
	    {1, "r1", NULL, "NEG", LW_STATUS_PRELIMINARY, 1, 3000, NULL, NULL,
	     10},
	    {0, "n1", "a", NULL, 0, NOV, 3010, NULL, NULL, 21}, /* SBF */
	    {1, "r2", NULL, "NEG", LW_STATUS_FINAL, 2, 4000, NULL, NULL, 11},
	    {0, "n2", "b", "NEG", 0, 2, 4100, NULL, NULL, 22}, /* covers v2 */
	    {1, "r3", NULL, "POS", LW_STATUS_CORRECTED, 3, 20000, NULL, NULL,
	     12}, /* CAN at 21000 */
	    {1, "r4", NULL, "POS", LW_STATUS_CORRECTED, 4, 30000, NULL, NULL,
	     13}, /* CAN at 31000 */
	    {0, "n3", "c", NULL, 0, NOV, 20500, NULL, NULL, 23}, /* covers v3 */
	};
	static const int64_t at[] = {2009, 2010, 3060, 21000, 31000};
	static const char *const want[] = {
	    "ORPHAN_NOTIFICATION HIGH recipients=1 members=n0 ",
	    "SENT_BEFORE_FINAL HIGH recipients=1 members=n1 ",
	    "CORRECTED_AFTER_NOTIFY HIGH recipients=2 members=n2,n3 "
	    "ref=r4/v4/POS",
	};
	char first[8192];
	timers();
	for (size_t k = 0; k < sizeof at / sizeof *at; k++) {
		order_now = at[k];
		cr_assert_eq(all_orders_agree(evs, 8, first, sizeof first),
			     40320);
	}
	for (size_t i = 0; i < 3; i++)
		cr_assert(strstr(first, want[i]), "%s in\n%s", want[i], first);
	cr_assert(strstr(first, "next_due=9223372036854775807"), "%s", first);
	cr_assert_null(strstr(first, "MISSING_NOTIFICATION"), "%s", first);
}

/* Two records of one version with the same recorded_at (a resend under
 * another event ID, with another code): which one is code(v), and so the
 * MISSING severity and reference, must not depend on arrival order. */
Test(rules, missing_same_version_same_time_independent_of_order)
{
	static const ev_spec evs[] = {
	    {1, "r1a", NULL, "NEG", LW_STATUS_FINAL, 1, 100, NULL, NULL, 10},
	    {1, "r1b", NULL, "POS", LW_STATUS_CORRECTED, 1, 100, NULL, NULL,
	     11},
	};
	char first[4096];
	timers();
	order_now = 100000;
	cr_assert_eq(all_orders_agree(evs, 2, first, sizeof first), 2);
	cr_assert(strstr(first, "MISSING_NOTIFICATION "), "%s", first);
}
