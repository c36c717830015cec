/* test_specimen: the specimen record of specimen.h, kept in one heap block.
 *
 * Strings: every form an ID can take goes into a record and comes back
 * byte-identical through lw_specimen_str(): canonical UUIDs in lower case,
 * upper case and digits only (which must also cost no more than their 16
 * packed bytes; some differ only in the first or last digit), mixed case
 * and near-UUIDs (hyphen moved, each hyphen replaced, a 'g', a space, a
 * UTF-8 letter, 35 and 37 characters, no hyphens), the empty string, and
 * long strings around the one-byte length limit (238 to 242, 255, 256, 300
 * and 1024 bytes), always handed over as views that are not
 * NUL-terminated. This for result event IDs, notification IDs, batch IDs
 * and intended specimen IDs (null batch: ref 0 and NULL; intended null,
 * empty or equal to the record's own ID: ref 0), the record's own ID and
 * the patient key (verbatim C strings). Duplicate detection: each form
 * added twice is a redelivery (0, nothing changes), all the forms side by
 * side (a UUID and its upper-case spelling are different IDs) are each
 * added once. lw_specimen_str_cmp() has the sign of strcmp() on the
 * strings, ref 0 first, over all the forms.
 *
 * Growth: a long deterministic interleaving of results (with and without
 * contact keys, withdrawn ones), notifications, emitted incidents (new and
 * updated) and redeliveries on one record, checked after every step
 * against a shadow copy: every field and string of every earlier event,
 * the ID, the patient key and its hash, the contact set (deduplicated,
 * withdrawn results' keys absent), the emitted incidents, last_event_ms,
 * and lw_specimen_bytes() growing by at least what was added and not at
 * all on a redelivery; the record is read through lw_specimen_id(),
 * _patient_key(), _contacts(), _emitted() and lw_specimen_find_emitted().
 * Then the caps (results, notifications, contacts; dropped events counted
 * in dropped_events), withdrawn results adding no contacts, and
 * lw_specimen_clear(). Under ASan the clear and growth tests also ask
 * LeakSanitizer directly (a leak reported at a Criterion worker's exit does
 * not fail the run). Not covered: LW_SPECIMEN_MAX_EMITTED (65,535 adds,
 * each a linear search and a realloc, is too slow for a unit test). */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specimen.h"

static char pkbuf[LW_PK_BUF];

static lw_result_event result_ev(const char *eid, const char *pk, int status);

/* lw_specimen_patient_hash of a fresh record given patient key pk. */
static uint64_t pk_identity(const char *pk)
{
	lw_specimen t;
	lw_result_event ev = result_ev("pk-identity", pk, 1);
	uint64_t h;
	lw_specimen_init(&t, "pk-identity", 11);
	lw_specimen_add_result(&t, &ev, 1, 0, 0);
	h = lw_specimen_patient_hash(&t);
	lw_specimen_clear(&t);
	return h;
}

/* Under ASan, a test asks LeakSanitizer itself: a leak found when the
 * worker process exits is printed but does not fail the run. */
#if defined(__SANITIZE_ADDRESS__)
#define LW_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LW_LSAN 1
#endif
#endif
#ifdef LW_LSAN
#include <sanitizer/lsan_interface.h>
#endif

static void assert_no_leaks(void)
{
#ifdef LW_LSAN
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
		     "LeakSanitizer found leaks (report above)");
#endif
}

/* ---- views ---- */

static lw_str view(const char *p)
{
	lw_str v = {p, p ? (uint32_t)strlen(p) : 0};
	return v;
}

/* A view of a copy of p followed by junk bytes: event views are not
 * NUL-terminated, so the record must copy exactly len bytes. The copies
 * live in a ring, enough for one event's strings. */
#define JUNK_SLOTS 8
#define JUNK_ROOM  1200

static lw_str junk(const char *p)
{
	static char ring[JUNK_SLOTS][JUNK_ROOM + 8];
	static unsigned next;
	lw_str v = {NULL, 0};
	char *b;
	size_t n;
	if (!p)
		return v;
	n = strlen(p);
	cr_assert_leq(n, JUNK_ROOM);
	b = ring[next++ % JUNK_SLOTS];
	memcpy(b, p, n);
	memcpy(b + n, "-Zz9#-", 7); /* hex-like, a hyphen, and a NUL */
	v.p = b;
	v.len = (uint32_t)n;
	return v;
}

static int sgn(int x)
{
	return (x > 0) - (x < 0);
}

/* strcmp() sign with NULL first: what lw_specimen_str_cmp() promises. */
static int want_cmp(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return sgn(strcmp(a, b));
}

static uint64_t hash_of(const char *p)
{
	return lw_specimen_key_hash(p, strlen(p));
}

/* The canonical UUID form, written out from the spec: 8-4-4-4-12 hex
 * digits, not both lower- and upper-case letters. */
static int canonical_uuid(const char *p)
{
	int lower = 0, upper = 0;
	if (strlen(p) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		char c = p[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return 0;
		} else if (c >= 'a' && c <= 'f') {
			lower = 1;
		} else if (c >= 'A' && c <= 'F') {
			upper = 1;
		} else if (c < '0' || c > '9') {
			return 0;
		}
	}
	return !(lower && upper);
}

/* The least a stored ID can take: 16 bytes packed, or verbatim with its
 * NUL (it is handed out as a C string). */
static size_t min_stored(const char *p)
{
	return canonical_uuid(p) ? 16 : strlen(p) + 1;
}

/* Asserts that ref of s reads back as exactly want (NULL: ref 0). */
static void assert_ref(const lw_specimen *s, lw_str_ref ref, const char *want,
		       const char *what)
{
	char buf[LW_ID_BUF];
	const char *got;
	if (!want) {
		cr_assert_eq(ref, 0, "%s: want ref 0, got %u", what,
			     (unsigned)ref);
		cr_assert_null(lw_specimen_str(s, ref, buf), "%s", what);
		return;
	}
	cr_assert_neq(ref, 0, "%s: ref 0 for \"%s\"", what, want);
	got = lw_specimen_str(s, ref, buf);
	cr_assert_not_null(got, "%s", what);
	cr_assert_eq(strlen(got), strlen(want), "%s: length %zu, want %zu (%s)",
		     what, strlen(got), strlen(want), want);
	cr_assert(memcmp(got, want, strlen(want)) == 0,
		  "%s: got \"%s\", want \"%s\"", what, got, want);
}

/* ---- the forms an ID can take ---- */

#define UUID_LO "0a1b2c3d-4e5f-6789-abcd-ef0123456789"

typedef struct form {
	const char *s;
	int canonical; /* 8-4-4-4-12 hex, one case: kept as 16 bytes */
	char what[48];
} form;

#define MAX_FORMS 48
static form forms[MAX_FORMS];
static size_t nforms;
static char long_buf[16][1100];

static void add_form(const char *str, int canonical, const char *what)
{
	cr_assert_lt(nforms, MAX_FORMS);
	forms[nforms].s = str;
	forms[nforms].canonical = canonical;
	snprintf(forms[nforms].what, sizeof forms[nforms].what, "%s", what);
	nforms++;
}

static void forms_init(void)
{
	static const struct {
		const char *s;
		int canonical;
		const char *what;
	} fixed[] = {
	    {UUID_LO, 1, "uuid lower"},
	    {"0A1B2C3D-4E5F-6789-ABCD-EF0123456789", 1, "uuid upper"},
	    {"0a1B2c3d-4e5f-6789-abcd-ef0123456789", 0, "uuid one upper"},
	    {"0A1B2C3D-4E5F-6789-ABCD-EF012345678f", 0, "uuid one lower"},
	    {"0a1b2c3d-4e5f-6789-abcd-EF0123456789", 0, "uuid mixed groups"},
	    {"01234567-8901-2345-6789-012345678901", 1, "uuid digits"},
	    {"00000000-0000-0000-0000-000000000000", 1, "uuid nil"},
	    {"ffffffff-ffff-ffff-ffff-ffffffffffff", 1, "uuid max lower"},
	    {"FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", 1, "uuid max upper"},
	    {"0a1b2c3d-4e5f-6789-abcd-ef012345678a", 1, "uuid lower, last"},
	    {"0A1B2C3D-4E5F-6789-ABCD-EF012345678A", 1, "uuid upper, last"},
	    {"1a1b2c3d-4e5f-6789-abcd-ef0123456789", 1, "uuid lower, first"},
	    {"0a1b2c3d4-e5f-6789-abcd-ef0123456789", 0, "hyphen moved"},
	    {"0a1b2c3d04e5f-6789-abcd-ef0123456789", 0, "0 for hyphen 1"},
	    {"0a1b2c3d-4e5ff6789-abcd-ef0123456789", 0, "f for hyphen 2"},
	    {"0a1b2c3d-4e5f-6789_abcd-ef0123456789", 0, "_ for hyphen 3"},
	    {"0A1B2C3D-4E5F-6789-ABCDAEF0123456789", 0, "A for hyphen 4"},
	    {"0a1b2c3d-4e5f-6789-abcd-ef012345678g", 0, "a g"},
	    {"0A1B2C3D-4E5F-6789-ABCD-EF012345678G", 0, "a G"},
	    {"0a1b2c3d-4e5f-6789-abcd+ef0123456789", 0, "plus for hyphen"},
	    {"0a1b2c3d 4e5f 6789 abcd ef0123456789", 0, "spaces"},
	    {"0a1b2c3d-4e5f-6789-abcd-ef01234567\xc3\xa9", 0, "utf-8"},
	    {"-a1b2c3d-4e5f-6789-abcd-ef012345678-", 0, "five hyphens"},
	    {"0a1b2c3d-4e5f-6789-abcd-ef012345678", 0, "35 chars"},
	    {"0a1b2c3d-4e5f-6789-abcd-ef01234567890", 0, "37 chars"},
	    {"00000000-0000-0000-0000-00000000000", 0, "nil, 35 chars"},
	    {"0a1b2c3d4e5f6789abcdef0123456789", 0, "32 hex, no hyphens"},
	    {"", 0, "empty"},
	    {"ev-1", 0, "short"},
	    {"Z", 0, "one char"},
	    {"~~~~", 0, "high ascii"},
	};
	static const size_t long_lens[] = {238, 239, 240, 241, 242,
					   255, 256, 300, 1024};
	char what[48];
	nforms = 0;
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		add_form(fixed[i].s, fixed[i].canonical, fixed[i].what);
	/* long strings that start like a UUID; each a prefix of the next */
	for (size_t i = 0; i < sizeof long_lens / sizeof long_lens[0]; i++) {
		char *b = long_buf[i];
		size_t n = long_lens[i];
		memcpy(b, UUID_LO, 36);
		for (size_t k = 36; k < n; k++)
			b[k] = "0123456789abcdef-"[k % 17];
		b[n] = '\0';
		snprintf(what, sizeof what, "%zu bytes", n);
		add_form(b, 0, what);
	}
	for (size_t i = 0; i < nforms; i++)
		for (size_t k = i + 1; k < nforms; k++)
			cr_assert_neq(strcmp(forms[i].s, forms[k].s), 0,
				      "test table: %s == %s", forms[i].what,
				      forms[k].what);
	for (size_t i = 0; i < nforms; i++)
		cr_assert_eq(forms[i].canonical, canonical_uuid(forms[i].s),
			     "test table: %s", forms[i].what);
}

/* ---- events ---- */

static lw_result_event result_ev(const char *eid, const char *pk, int status)
{
	lw_result_event ev;
	memset(&ev, 0, sizeof ev);
	ev.event_id = junk(eid);
	ev.specimen_id = view("SP");
	ev.patient_key = junk(pk);
	ev.test_code = view("PCR");
	ev.result_code = view("POS");
	ev.status = status;
	ev.result_version = 1;
	ev.recorded_at = 1000;
	ev.source_system = view("LIS");
	return ev;
}

static lw_notification_event notif_ev(const lw_specimen *s, const char *nid,
				      const char *batch, const char *intended)
{
	lw_notification_event ev;
	memset(&ev, 0, sizeof ev);
	ev.notification_id = junk(nid);
	ev.specimen_id = view(lw_specimen_id(s));
	ev.intended_specimen_id = junk(intended);
	ev.recipient_key = view("rk-1");
	ev.recipient_hint = view("r***@x***");
	ev.channel = LW_CHANNEL_EMAIL;
	ev.result_code = view("POS");
	ev.batch_id = junk(batch);
	ev.sent_at = 2000;
	return ev;
}

static int add_result(lw_specimen *s, const char *eid)
{
	lw_result_event ev = result_ev(eid, "pk-1", LW_STATUS_FINAL);
	return lw_specimen_add_result(s, &ev, 1, 0, 0);
}

static int add_notif(lw_specimen *s, const char *nid, const char *batch,
		     const char *intended)
{
	lw_notification_event ev = notif_ev(s, nid, batch, intended);
	return lw_specimen_add_notification(s, &ev, 1, 0, 0);
}

static void init_str(lw_specimen *s, const char *id)
{
	lw_specimen_init(s, id, strlen(id));
}

/* ---- round trips ---- */

Test(specimen, result_event_ids_round_trip)
{
	lw_specimen s;
	forms_init();
	init_str(&s, "SP-1");
	for (size_t i = 0; i < nforms; i++) {
		cr_assert_eq(add_result(&s, forms[i].s), 1, "%s",
			     forms[i].what);
		cr_assert_eq(s.nresults, i + 1);
		assert_ref(&s, s.results[i].event_id, forms[i].s,
			   forms[i].what);
	}
	for (size_t i = 0; i < nforms; i++)
		assert_ref(&s, s.results[i].event_id, forms[i].s,
			   forms[i].what);
	cr_assert_str_eq(lw_specimen_id(&s), "SP-1");
	lw_specimen_clear(&s);
}

Test(specimen, notification_strings_round_trip)
{
	lw_specimen s;
	forms_init();
	init_str(&s, "SP-1");
	for (size_t i = 0; i < nforms; i++) {
		const char *b = forms[(i + 1) % nforms].s;
		const char *in = forms[(i + 2) % nforms].s;
		cr_assert_eq(add_notif(&s, forms[i].s, b, in), 1, "%s",
			     forms[i].what);
		assert_ref(&s, s.notifs[i].notification_id, forms[i].s,
			   forms[i].what);
		assert_ref(&s, s.notifs[i].batch_id, b, "batch");
		/* an empty intended ID names no specimen */
		assert_ref(&s, s.notifs[i].intended, *in ? in : NULL,
			   "intended");
	}
	for (size_t i = 0; i < nforms; i++) {
		const char *in = forms[(i + 2) % nforms].s;
		assert_ref(&s, s.notifs[i].notification_id, forms[i].s,
			   forms[i].what);
		assert_ref(&s, s.notifs[i].batch_id, forms[(i + 1) % nforms].s,
			   "batch");
		assert_ref(&s, s.notifs[i].intended, *in ? in : NULL,
			   "intended");
	}
	lw_specimen_clear(&s);
}

/* The stored form other modules copy (fanin.h): packing a string gives
 * the bytes a record keeps for it, its length is what lw_stored_len()
 * reads back, the least the form allows (16 bytes + tag for a canonical
 * UUID, else the string, its NUL and a length), and it spells back
 * exactly. */
Test(specimen, stored_form_round_trips_and_matches_the_record)
{
	lw_specimen s;
	unsigned char out[LW_STORED_BOUND(1100)];
	char buf[LW_ID_BUF];
	forms_init();
	init_str(&s, "SP-1");
	for (size_t i = 0; i < nforms; i++) {
		const char *str = forms[i].s;
		size_t n = lw_stored_pack(str, strlen(str), out);
		const unsigned char *rec;
		const char *got;
		cr_assert_leq(n, LW_STORED_BOUND(strlen(str)), "%s",
			      forms[i].what);
		cr_assert_eq(n, lw_stored_len(out), "%s", forms[i].what);
		cr_assert_eq(n,
			     forms[i].canonical
				 ? 17
				 : strlen(str) + 1 +
				       (strlen(str) < 240 ? 1 : 5),
			     "%s: %zu bytes", forms[i].what, n);
		got = lw_stored_str(out, buf);
		cr_assert_str_eq(got, str, "%s", forms[i].what);
		cr_assert_eq(add_result(&s, str), 1, "%s", forms[i].what);
		rec = lw_specimen_str_stored(&s, s.results[i].event_id);
		cr_assert_eq(lw_stored_len(rec), n, "%s", forms[i].what);
		cr_assert(memcmp(rec, out, n) == 0, "%s: the record's bytes",
			  forms[i].what);
	}
	cr_assert_null(lw_specimen_str_stored(&s, 0));
	/* the record's own ID is always verbatim, even a UUID */
	lw_specimen_reset(&s, UUID_LO, strlen(UUID_LO));
	cr_assert_eq(lw_stored_len(lw_specimen_id_stored(&s)), 36 + 2);
	cr_assert_str_eq(lw_stored_str(lw_specimen_id_stored(&s), buf),
			 UUID_LO);
	lw_specimen_clear(&s);
}

Test(specimen, null_batch_and_own_intended_are_ref_0)
{
	static const char *const ids[] = {
	    UUID_LO, "0A1B2C3D-4E5F-6789-ABCD-EF0123456789", "SP-77", NULL};
	char longid[301];
	memset(longid, 'q', 300);
	longid[300] = '\0';
	for (int k = 0; k < 4; k++) {
		const char *id = ids[k] ? ids[k] : longid;
		lw_specimen s;
		char other[301];
		init_str(&s, id);
		/* the own ID, as its own bytes (not the record's pointer) */
		cr_assert_eq(add_notif(&s, "n1", NULL, id), 1);
		assert_ref(&s, s.notifs[0].batch_id, NULL, "null batch");
		assert_ref(&s, s.notifs[0].intended, NULL, "own intended");
		cr_assert_eq(add_notif(&s, "n2", "", NULL), 1);
		assert_ref(&s, s.notifs[1].batch_id, "", "empty batch");
		assert_ref(&s, s.notifs[1].intended, NULL, "null intended");
		cr_assert_eq(add_notif(&s, "n3", UUID_LO, ""), 1);
		assert_ref(&s, s.notifs[2].batch_id, UUID_LO, "uuid batch");
		assert_ref(&s, s.notifs[2].intended, NULL, "empty intended");
		/* the own ID with its last character changed: another
		 * specimen */
		snprintf(other, sizeof other, "%s", id);
		other[strlen(other) - 1] ^= 1;
		cr_assert_eq(add_notif(&s, "n4", NULL, other), 1);
		assert_ref(&s, s.notifs[3].intended, other, "other intended");
		/* the own ID with one letter's case changed, or one
		 * character longer */
		snprintf(other, sizeof other, "%s", id);
		for (char *p = other; *p; p++)
			if ((*p >= 'a' && *p <= 'z') ||
			    (*p >= 'A' && *p <= 'Z')) {
				*p ^= 0x20;
				break;
			}
		cr_assert_eq(add_notif(&s, "n5", NULL, other), 1);
		assert_ref(&s, s.notifs[4].intended, other, "case intended");
		cr_assert_eq(add_notif(&s, "n6", NULL, longid), 1);
		assert_ref(&s, s.notifs[5].intended, ids[k] ? longid : NULL,
			   "long intended");
		/* the own ID and more, or a prefix of it */
		snprintf(other, sizeof other, "%.299s0", id);
		cr_assert_eq(add_notif(&s, "n7", NULL, other), 1);
		assert_ref(&s, s.notifs[6].intended, other, "longer intended");
		snprintf(other, sizeof other, "%s", id);
		other[strlen(other) - 1] = '\0';
		cr_assert_eq(add_notif(&s, "n8", NULL, other), 1);
		assert_ref(&s, s.notifs[7].intended, other, "prefix intended");
		for (int i = 0; i < 8; i++)
			assert_ref(&s, s.notifs[i].batch_id,
				   i == 1   ? ""
				   : i == 2 ? UUID_LO
					    : NULL,
				   "batch again");
		cr_assert_str_eq(lw_specimen_id(&s), id);
		lw_specimen_clear(&s);
	}
}

Test(specimen, record_id_and_patient_key_are_verbatim)
{
	char src[1100];
	forms_init();
	for (size_t i = 0; i < nforms; i++) {
		lw_specimen s;
		lw_result_event ev;
		size_t n = strlen(forms[i].s);
		/* the ID from a buffer that goes on past len */
		memcpy(src, forms[i].s, n);
		memcpy(src + n, "x-1", 4);
		lw_specimen_init(&s, src, n);
		cr_assert_str_eq(lw_specimen_id(&s), forms[i].s, "%s",
				 forms[i].what);
		cr_assert_null(lw_specimen_patient_key(&s, pkbuf));
		cr_assert_eq(lw_specimen_patient_hash(&s), 0);
		cr_assert_eq(add_notif(&s, "n-1", "b", "i"), 1);
		cr_assert_null(lw_specimen_patient_key(&s, pkbuf),
			       "a notification sets no patient");
		ev = result_ev("ev-1", forms[i].s, LW_STATUS_FINAL);
		cr_assert_eq(lw_specimen_add_result(&s, &ev, 1, 0, 0), 1);
		cr_assert_not_null(lw_specimen_patient_key(&s, pkbuf));
		cr_assert_str_eq(lw_specimen_patient_key(&s, pkbuf), forms[i].s,
				 "%s", forms[i].what);
		cr_assert_neq(lw_specimen_patient_hash(&s), 0);
		cr_assert_eq(lw_specimen_patient_hash(&s),
			     pk_identity(forms[i].s));
		/* the first patient key stays */
		ev = result_ev("ev-2", "pk-other", LW_STATUS_FINAL);
		cr_assert_eq(lw_specimen_add_result(&s, &ev, 1, 0, 0), 1);
		cr_assert_str_eq(lw_specimen_patient_key(&s, pkbuf),
				 forms[i].s);
		cr_assert_neq(lw_specimen_patient_hash(&s), 0);
		cr_assert_eq(lw_specimen_patient_hash(&s),
			     pk_identity(forms[i].s));
		cr_assert_str_eq(lw_specimen_id(&s), forms[i].s);
		assert_ref(&s, s.notifs[0].notification_id, "n-1", "nid");
		assert_ref(&s, s.results[0].event_id, "ev-1", "eid");
		lw_specimen_clear(&s);
	}
}

Test(specimen, canonical_uuids_cost_16_bytes_others_verbatim)
{
	forms_init();
	for (size_t i = 0; i < nforms; i++) {
		lw_specimen s;
		size_t b0, d, n = strlen(forms[i].s);
		init_str(&s, "SP-1");
		cr_assert_eq(add_result(&s, "first"), 1);
		b0 = lw_specimen_bytes(&s);
		cr_assert_eq(add_result(&s, forms[i].s), 1);
		d = lw_specimen_bytes(&s) - b0;
		if (forms[i].canonical)
			cr_assert(d >= sizeof(lw_result_rec) + 16 &&
				      d <= sizeof(lw_result_rec) + 17,
				  "%s: %zu bytes", forms[i].what, d);
		else
			cr_assert_geq(d, sizeof(lw_result_rec) + n + 1, "%s",
				      forms[i].what);
		b0 = lw_specimen_bytes(&s);
		cr_assert_eq(add_notif(&s, forms[i].s, forms[i].s, forms[i].s),
			     1);
		d = lw_specimen_bytes(&s) - b0;
		if (forms[i].canonical)
			cr_assert(d >= sizeof(lw_notif_rec) + 3 * 16 &&
				      d <= sizeof(lw_notif_rec) + 3 * 17,
				  "%s: %zu bytes", forms[i].what, d);
		else if (n)
			cr_assert_geq(d, sizeof(lw_notif_rec) + 3 * (n + 1),
				      "%s", forms[i].what);
		else /* intended "" is not kept */
			cr_assert_geq(d, sizeof(lw_notif_rec) + 2, "%s",
				      forms[i].what);
		lw_specimen_clear(&s);
	}
}

/* ---- duplicates ---- */

Test(specimen, each_form_twice_is_a_redelivery)
{
	forms_init();
	for (size_t i = 0; i < nforms; i++) {
		lw_specimen s;
		lw_result_event ev;
		lw_notification_event nv;
		size_t b;
		init_str(&s, "SP-1");
		cr_assert_eq(add_result(&s, forms[i].s), 1);
		b = lw_specimen_bytes(&s);
		/* different everything else: still the same event */
		ev = result_ev(forms[i].s, "pk-2", LW_STATUS_CORRECTED);
		ev.recorded_at = 99999;
		ev.result_version = 7;
		cr_assert_eq(lw_specimen_add_result(&s, &ev, 9, 3, 33), 0, "%s",
			     forms[i].what);
		cr_assert_eq(s.nresults, 1);
		cr_assert_eq(s.results[0].version, 1);
		cr_assert_eq(s.results[0].status, LW_STATUS_FINAL);
		cr_assert_eq(s.last_event_ms, 1000);
		cr_assert_eq(lw_specimen_bytes(&s), b);
		cr_assert_eq(add_notif(&s, forms[i].s, NULL, NULL), 1);
		b = lw_specimen_bytes(&s);
		nv = notif_ev(&s, forms[i].s, "batch", "other");
		nv.sent_at = 77777;
		cr_assert_eq(lw_specimen_add_notification(&s, &nv, 2, 1, 5), 0,
			     "%s", forms[i].what);
		cr_assert_eq(s.nnotifs, 1);
		cr_assert_eq(s.notifs[0].batch_id, 0);
		cr_assert_eq(s.notifs[0].sent_at, 2000);
		cr_assert_eq(s.last_event_ms, 2000);
		cr_assert_eq(lw_specimen_bytes(&s), b);
		cr_assert_eq(s.dropped_events, 0);
		lw_specimen_clear(&s);
	}
}

Test(specimen, similar_ids_are_different_events)
{
	lw_specimen s;
	size_t b;
	forms_init();
	init_str(&s, UUID_LO);
	/* all forms side by side: lower / upper / mixed spellings of one
	 * UUID, near-UUIDs, prefixes of each other */
	for (size_t i = 0; i < nforms; i++) {
		cr_assert_eq(add_result(&s, forms[i].s), 1, "%s",
			     forms[i].what);
		cr_assert_eq(add_notif(&s, forms[i].s, NULL, NULL), 1, "%s",
			     forms[i].what);
	}
	cr_assert_eq(s.nresults, nforms);
	cr_assert_eq(s.nnotifs, nforms);
	b = lw_specimen_bytes(&s);
	/* and now every one of them is a redelivery */
	for (size_t i = 0; i < nforms; i++) {
		cr_assert_eq(add_result(&s, forms[i].s), 0, "%s",
			     forms[i].what);
		cr_assert_eq(add_notif(&s, forms[i].s, "b", "x"), 0, "%s",
			     forms[i].what);
	}
	cr_assert_eq(s.nresults, nforms);
	cr_assert_eq(s.nnotifs, nforms);
	cr_assert_eq(lw_specimen_bytes(&s), b);
	for (size_t i = 0; i < nforms; i++) {
		assert_ref(&s, s.results[i].event_id, forms[i].s, "eid");
		assert_ref(&s, s.notifs[i].notification_id, forms[i].s, "nid");
	}
	/* event and notification IDs are separate: none of these is new
	 * as a result after being a notification, and vice versa */
	cr_assert_eq(add_notif(&s, "only-notif", NULL, NULL), 1);
	cr_assert_eq(add_result(&s, "only-notif"), 1);
	cr_assert_eq(add_result(&s, "only-notif"), 0);
	lw_specimen_clear(&s);
}

/* ---- ordering ---- */

Test(specimen, str_cmp_is_strcmp_order)
{
	lw_specimen s;
	lw_str_ref refs[3 * MAX_FORMS + 2];
	const char *want[3 * MAX_FORMS + 2];
	size_t n = 0;
	int seen[3] = {0, 0, 0};
	forms_init();
	init_str(&s, "SP-1");
	for (size_t i = 0; i < nforms; i++) {
		const char *b =
		    i % 4 == 0 ? NULL : forms[(i * 7 + 3) % nforms].s;
		const char *in = forms[(i * 5 + 1) % nforms].s;
		cr_assert_eq(add_notif(&s, forms[i].s, b, in), 1);
		refs[n] = s.notifs[i].notification_id;
		want[n++] = forms[i].s;
		refs[n] = s.notifs[i].batch_id;
		want[n++] = b;
		refs[n] = s.notifs[i].intended;
		want[n++] = *in ? in : NULL;
	}
	for (size_t i = 0; i < n; i++)
		assert_ref(&s, refs[i], want[i], "ref");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < n; k++) {
			int got =
			    sgn(lw_specimen_str_cmp(&s, refs[i], refs[k]));
			int w = want_cmp(want[i], want[k]);
			cr_assert_eq(got, w,
				     "cmp(\"%s\", \"%s\") = %d, want %d",
				     want[i] ? want[i] : "(null)",
				     want[k] ? want[k] : "(null)", got, w);
			seen[w + 1] = 1;
		}
	/* the set does exercise all three outcomes, and ref 0 */
	cr_assert(seen[0] && seen[1] && seen[2]);
	cr_assert_lt(lw_specimen_str_cmp(&s, 0, s.notifs[0].notification_id),
		     0);
	cr_assert_gt(lw_specimen_str_cmp(&s, s.notifs[0].notification_id, 0),
		     0);
	cr_assert_eq(lw_specimen_str_cmp(&s, 0, 0), 0);
	lw_specimen_clear(&s);
}

/* ---- growth, against a shadow copy ---- */

#define G_RESULTS 60
#define G_NOTIFS  300
#define G_EMIT	  20
#define G_CK	  40		  /* contact keys of final results: "ck-N" */
#define G_WD	  (G_RESULTS * 6) /* of withdrawn results: "wd-N" */
#define G_ID	  320

typedef struct g_res {
	char eid[G_ID];
	int64_t at, off;
	int32_t part, version;
	uint16_t code;
	uint8_t status, retest;
} g_res;

typedef struct g_notif {
	char nid[G_ID], batch[G_ID], intended[G_ID];
	int has_batch, has_intended;
	uint64_t recipient;
	int64_t sent_at, off;
	int32_t part, stated_version;
	uint16_t stated_code;
	uint8_t channel;
} g_notif;

typedef struct g_emit {
	uint64_t key;
	uint32_t recipients, revision;
	uint8_t severity;
} g_emit;

typedef struct shadow {
	const char *id;
	char pk[G_ID];
	int has_pk;
	g_res res[G_RESULTS];
	uint32_t nres;
	g_notif notif[G_NOTIFS];
	uint32_t nnotif;
	g_emit emit[G_EMIT];
	uint32_t nemit;
	int contact[G_CK];
	uint32_t ncontacts;
	int64_t last;
} shadow;

static shadow sh;

static uint32_t rng_state;

static uint32_t rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

/* IDs of six kinds, distinct for distinct (kind, n). */
static void make_id(char *out, int kind, int n)
{
	switch (kind % 6) {
	case 0:
		snprintf(out, G_ID, "abcd%04x-0000-4000-8000-%012x", n & 0xffff,
			 (unsigned)n * 2654435761u);
		break;
	case 1:
		snprintf(out, G_ID, "ABCD%04X-0000-4000-8000-%012X", n & 0xffff,
			 (unsigned)n * 2654435761u);
		break;
	case 2:
		snprintf(out, G_ID, "AbCd%04x-0000-4000-8000-%012x", n & 0xffff,
			 (unsigned)n * 2654435761u);
		break;
	case 3:
		snprintf(out, G_ID, "%08d-1111-2222-3333-%012d", n, n * 7);
		break;
	case 4:
		snprintf(out, G_ID, "raw-%d", n);
		break;
	default: {
		int len = snprintf(out, G_ID, "long-%d-", n);
		while (len < 250 + n % 7) {
			out[len] = (char)('a' + (len * 3 + n) % 26);
			len++;
		}
		out[len] = '\0';
		break;
	}
	}
}

static uint64_t emit_key(uint32_t k)
{
	return (k + 1) * UINT64_C(0x9e3779b97f4a7c15);
}

static const int g_status[6] = {
    LW_STATUS_FINAL,	 LW_STATUS_PRELIMINARY,	     LW_STATUS_CORRECTED,
    LW_STATUS_CANCELLED, LW_STATUS_ENTERED_IN_ERROR, LW_STATUS_UNKNOWN,
};

static int withdrawn(int status)
{
	return status == LW_STATUS_CANCELLED ||
	       status == LW_STATUS_ENTERED_IN_ERROR;
}

static void verify(const lw_specimen *s, size_t step)
{
	char key[32];
	cr_assert_str_eq(lw_specimen_id(s), sh.id, "step %zu: id", step);
	if (sh.has_pk) {
		cr_assert_not_null(lw_specimen_patient_key(s, pkbuf),
				   "step %zu", step);
		cr_assert_str_eq(lw_specimen_patient_key(s, pkbuf), sh.pk,
				 "step %zu", step);
		cr_assert_eq(lw_specimen_patient_hash(s), pk_identity(sh.pk),
			     "step %zu", step);
	} else {
		cr_assert_null(lw_specimen_patient_key(s, pkbuf), "step %zu",
			       step);
		cr_assert_eq(lw_specimen_patient_hash(s), 0, "step %zu", step);
	}
	cr_assert_eq(s->nresults, sh.nres, "step %zu", step);
	cr_assert_eq(s->nnotifs, sh.nnotif, "step %zu", step);
	cr_assert_eq(s->nemitted, sh.nemit, "step %zu", step);
	cr_assert_eq(s->ncontacts, sh.ncontacts, "step %zu", step);
	cr_assert_eq(s->dropped_events, 0, "step %zu", step);
	cr_assert_eq(s->last_event_ms, sh.last, "step %zu", step);
	for (uint32_t i = 0; i < sh.nres; i++) {
		const lw_result_rec *r = &s->results[i];
		const g_res *w = &sh.res[i];
		assert_ref(s, r->event_id, w->eid, "result eid");
		cr_assert_eq(r->recorded_at, w->at, "step %zu res %u", step, i);
		cr_assert_eq(r->offset, w->off, "step %zu res %u", step, i);
		cr_assert_eq(r->partition, w->part, "step %zu res %u", step, i);
		cr_assert_eq(r->version, w->version, "step %zu res %u", step,
			     i);
		cr_assert_eq(r->code, w->code, "step %zu res %u", step, i);
		cr_assert_eq(r->status, w->status, "step %zu res %u", step, i);
		cr_assert_eq(r->retest_pending, w->retest, "step %zu res %u",
			     step, i);
	}
	for (uint32_t i = 0; i < sh.nnotif; i++) {
		const lw_notif_rec *n = &s->notifs[i];
		const g_notif *w = &sh.notif[i];
		assert_ref(s, n->notification_id, w->nid, "nid");
		assert_ref(s, n->batch_id, w->has_batch ? w->batch : NULL,
			   "batch");
		assert_ref(s, n->intended, w->has_intended ? w->intended : NULL,
			   "intended");
		cr_assert_eq(n->recipient, w->recipient, "step %zu notif %u",
			     step, i);
		cr_assert_eq(n->sent_at, w->sent_at, "step %zu notif %u", step,
			     i);
		cr_assert_eq(n->offset, w->off, "step %zu notif %u", step, i);
		cr_assert_eq(n->partition, w->part, "step %zu notif %u", step,
			     i);
		cr_assert_eq(n->stated_version, w->stated_version,
			     "step %zu notif %u", step, i);
		cr_assert_eq(n->stated_code, w->stated_code,
			     "step %zu notif %u", step, i);
		cr_assert_eq(n->channel, w->channel, "step %zu notif %u", step,
			     i);
	}
	for (uint32_t i = 0; i < sh.nemit; i++) {
		const lw_emitted *e = &lw_specimen_emitted(s)[i];
		cr_assert_eq(e->key, sh.emit[i].key, "step %zu emit %u", step,
			     i);
		cr_assert_eq(e->recipients, sh.emit[i].recipients,
			     "step %zu emit %u", step, i);
		cr_assert_eq(e->revision, sh.emit[i].revision,
			     "step %zu emit %u", step, i);
		cr_assert_eq(e->severity, sh.emit[i].severity,
			     "step %zu emit %u", step, i);
		cr_assert_eq(
		    lw_specimen_find_emitted((lw_specimen *)s, sh.emit[i].key),
		    e);
	}
	cr_assert_null(lw_specimen_find_emitted((lw_specimen *)s, 12345));
	for (uint32_t k = 0; k < G_CK; k++) {
		snprintf(key, sizeof key, "ck-%u", k);
		cr_assert_eq(lw_specimen_has_contact(s, hash_of(key)),
			     sh.contact[k], "step %zu: %s", step, key);
	}
	/* the array holds exactly the shadow's keys (distinct: below) */
	for (uint32_t i = 0; i < s->ncontacts; i++) {
		uint64_t c = lw_specimen_contacts(s)[i];
		uint32_t k;
		for (k = 0; k < G_CK; k++) {
			snprintf(key, sizeof key, "ck-%u", k);
			if (hash_of(key) == c)
				break;
		}
		cr_assert(k < G_CK && sh.contact[k],
			  "step %zu: contact %u unknown", step, i);
	}
	for (uint32_t k = 0; k < G_WD; k += 7) {
		snprintf(key, sizeof key, "wd-%u", k);
		cr_assert_eq(lw_specimen_has_contact(s, hash_of(key)), 0,
			     "step %zu: withdrawn %s", step, key);
	}
	cr_assert_eq(lw_specimen_has_contact(s, hash_of("dup-ck")), 0,
		     "step %zu", step);
	for (uint32_t i = 0; i < s->ncontacts; i++)
		for (uint32_t k = i + 1; k < s->ncontacts; k++)
			cr_assert_neq(lw_specimen_contacts(s)[i],
				      lw_specimen_contacts(s)[k],
				      "step %zu: contact twice", step);
}

enum { OP_RESULT, OP_NOTIF, OP_EMIT, OP_DUP };

static void step_result(lw_specimen *s)
{
	uint32_t i = sh.nres;
	g_res *w = &sh.res[i];
	char pk[G_ID], ck[6][16];
	lw_str cv[8];
	uint32_t nck = i % 6;
	lw_result_event ev;
	size_t b0 = lw_specimen_bytes(s), min;
	int status = g_status[(i * 5 + 1) % 6];
	make_id(w->eid, (int)i, (int)i);
	if (i == 0)
		snprintf(pk, sizeof pk, "0F0E0D0C-0B0A-0908-0706-050403020100");
	else
		make_id(pk, (int)i + 3, 500 + (int)i);
	w->at = 100000 + (int64_t)((i * 7919) % 1000);
	w->off = 1000 + i;
	w->part = (int32_t)(i % 5);
	w->version = (int32_t)(i % 4) + 1;
	w->code = (uint16_t)(3 + i * 11);
	w->status = (uint8_t)status;
	w->retest = (uint8_t)(i % 3 == 0);
	ev = result_ev(w->eid, pk, status);
	ev.result_version = w->version;
	ev.retest_pending = w->retest;
	ev.recorded_at = w->at;
	for (uint32_t k = 0; k < nck; k++) {
		if (withdrawn(status))
			snprintf(ck[k], sizeof ck[k], "wd-%u", i * 6 + k);
		else
			snprintf(ck[k], sizeof ck[k], "ck-%u",
				 (i * 7 + k * 3) % G_CK);
		cv[k] = view(ck[k]);
	}
	if (nck >= 3)
		cv[2] = cv[0]; /* a key twice in one event */
	ev.contact_keys = cv;
	ev.n_contact_keys = nck;
	cr_assert_eq(lw_specimen_add_result(s, &ev, w->code, w->part, w->off),
		     1, "result %u", i);
	min = sizeof(lw_result_rec) + min_stored(w->eid);
	if (!withdrawn(status))
		for (uint32_t k = 0; k < nck; k++) {
			uint32_t c = (i * 7 + k * 3) % G_CK;
			if (k == 2 && nck >= 3)
				continue;
			if (!sh.contact[c]) {
				sh.contact[c] = 1;
				sh.ncontacts++;
				min += sizeof(uint64_t);
			}
		}
	if (!sh.has_pk) {
		snprintf(sh.pk, sizeof sh.pk, "%s", pk);
		sh.has_pk = 1;
		min += strlen(pk) + 1;
	}
	if (w->at > sh.last)
		sh.last = w->at;
	sh.nres++;
	cr_assert_geq(lw_specimen_bytes(s) - b0, min, "result %u", i);
}

static void step_notif(lw_specimen *s)
{
	uint32_t j = sh.nnotif;
	g_notif *w = &sh.notif[j];
	char rk[16];
	lw_notification_event ev;
	size_t b0 = lw_specimen_bytes(s), min;
	int has_version = j % 2 == 0;
	make_id(w->nid, (int)j + 1, 1000 + (int)j);
	w->has_batch = j % 3 != 0;
	if (j % 3 == 1)
		snprintf(w->batch, sizeof w->batch, "batch-%u", j / 10);
	else if (j % 3 == 2)
		make_id(w->batch, (int)(j / 3) % 4, (int)j / 5);
	snprintf(rk, sizeof rk, "rk-%u", j % 17);
	w->recipient = hash_of(rk);
	w->sent_at = 100000 + (int64_t)((j * 131) % 977);
	w->off = 5000 + j * 3;
	w->part = (int32_t)(j % 3);
	w->stated_version = has_version ? (int32_t)(j % 5) : LW_NO_VERSION;
	w->stated_code = (uint16_t)(j % 300);
	w->channel = (uint8_t)(j % 8);
	switch (j % 4) {
	case 0: /* null */
		ev = notif_ev(s, w->nid, w->has_batch ? w->batch : NULL, NULL);
		w->has_intended = 0;
		break;
	case 1: /* this specimen: not kept */
		ev = notif_ev(s, w->nid, w->has_batch ? w->batch : NULL, sh.id);
		w->has_intended = 0;
		break;
	case 2:
		make_id(w->intended, (int)j / 2, 7000 + (int)j);
		ev = notif_ev(s, w->nid, w->has_batch ? w->batch : NULL,
			      w->intended);
		w->has_intended = 1;
		break;
	default: /* empty: not kept */
		ev = notif_ev(s, w->nid, w->has_batch ? w->batch : NULL, "");
		w->has_intended = 0;
		break;
	}
	ev.recipient_key = view(rk);
	ev.sent_at = w->sent_at;
	ev.channel = w->channel;
	ev.has_result_version = has_version;
	ev.result_version = has_version ? w->stated_version : 42;
	cr_assert_eq(lw_specimen_add_notification(s, &ev, w->stated_code,
						  w->part, w->off),
		     1, "notif %u", j);
	min = sizeof(lw_notif_rec) + min_stored(w->nid) +
	      (w->has_batch ? min_stored(w->batch) : 0) +
	      (w->has_intended ? min_stored(w->intended) : 0);
	if (w->sent_at > sh.last)
		sh.last = w->sent_at;
	sh.nnotif++;
	cr_assert_geq(lw_specimen_bytes(s) - b0, min, "notif %u", j);
}

/* Packs s, unpacks it into twin (whose block is reused from step to
 * step), and checks that twin packs to the same bytes within the bound. */
static void packed_twin(const lw_specimen *s, lw_specimen *twin, size_t step)
{
	size_t bound = lw_specimen_pack_bound(s), n, m;
	unsigned char *a = malloc(bound), *b;
	cr_assert_not_null(a);
	n = lw_specimen_pack(s, a);
	cr_assert_leq(n, bound, "step %zu", step);
	cr_assert(lw_specimen_packed_id_is(a, lw_specimen_id(s),
					   strlen(lw_specimen_id(s))));
	cr_assert_eq(lw_specimen_unpack(twin, a, n), n,
		     "step %zu: unpack reads what pack wrote", step);
	b = malloc(lw_specimen_pack_bound(twin));
	cr_assert_not_null(b);
	m = lw_specimen_pack(twin, b);
	cr_assert_eq(m, n, "step %zu", step);
	cr_assert_eq(memcmp(a, b, n), 0, "step %zu", step);
	cr_assert_eq(lw_specimen_bytes(twin), lw_specimen_bytes(s));
	free(a);
	free(b);
}

static void step_emit(lw_specimen *s, uint32_t k, uint32_t round)
{
	uint64_t key = emit_key(k);
	size_t b0 = lw_specimen_bytes(s);
	uint32_t i;
	int is_new;
	for (i = 0; i < sh.nemit && sh.emit[i].key != key; i++)
		;
	is_new = i == sh.nemit;
	cr_assert_eq(is_new, round == 0);
	if (is_new)
		sh.emit[sh.nemit++].key = key;
	sh.emit[i].recipients = 2 + k + round * 100;
	sh.emit[i].revision = round + 1;
	sh.emit[i].severity = (uint8_t)(1 + (k + round) % 3);
	lw_specimen_set_emitted(s, key, sh.emit[i].recipients,
				sh.emit[i].revision, sh.emit[i].severity);
	if (is_new)
		cr_assert_geq(lw_specimen_bytes(s) - b0, sizeof(lw_emitted));
	else
		cr_assert_eq(lw_specimen_bytes(s), b0);
}

static void step_dup(lw_specimen *s)
{
	size_t b0 = lw_specimen_bytes(s);
	lw_str cv[1] = {{"dup-ck", 6}};
	if (sh.nres && ((rng() & 1) || !sh.nnotif)) {
		const g_res *w = &sh.res[rng() % sh.nres];
		lw_result_event ev =
		    result_ev(w->eid, "pk-dup", LW_STATUS_FINAL);
		ev.recorded_at = 9999999;
		ev.contact_keys = cv;
		ev.n_contact_keys = 1;
		cr_assert_eq(lw_specimen_add_result(s, &ev, 77, 9, 9), 0,
			     "redelivered %s", w->eid);
	} else if (sh.nnotif) {
		const g_notif *w = &sh.notif[rng() % sh.nnotif];
		lw_notification_event ev =
		    notif_ev(s, w->nid, "dup-batch", "dup-intended");
		ev.sent_at = 9999999;
		cr_assert_eq(lw_specimen_add_notification(s, &ev, 77, 9, 9), 0,
			     "redelivered %s", w->nid);
	}
	cr_assert_eq(lw_specimen_bytes(s), b0);
}

static void growth_run(const char *id, uint32_t seed)
{
	enum { NOPS = G_RESULTS + G_NOTIFS + 2 * G_EMIT + 40 };
	static uint8_t ops[NOPS];
	uint32_t emit_round[G_EMIT];
	uint32_t n = 0, emits = 0;
	lw_specimen s, twin;
	memset(&twin, 0, sizeof twin);
	memset(&sh, 0, sizeof sh);
	memset(emit_round, 0, sizeof emit_round);
	rng_state = seed;
	sh.id = id;
	for (int i = 0; i < G_RESULTS; i++)
		ops[n++] = OP_RESULT;
	for (int i = 0; i < G_NOTIFS; i++)
		ops[n++] = OP_NOTIF;
	for (int i = 0; i < 2 * G_EMIT; i++)
		ops[n++] = OP_EMIT;
	for (int i = 0; i < 40; i++)
		ops[n++] = OP_DUP;
	cr_assert_eq(n, NOPS);
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t k = rng() % (i + 1);
		uint8_t t = ops[i];
		ops[i] = ops[k];
		ops[k] = t;
	}
	init_str(&s, id);
	verify(&s, 0);
	for (uint32_t i = 0; i < n; i++) {
		switch (ops[i]) {
		case OP_RESULT:
			step_result(&s);
			break;
		case OP_NOTIF:
			step_notif(&s);
			break;
		case OP_EMIT: {
			/* keys 0..19 twice each, in a scrambled order */
			uint32_t k = (emits * 7) % G_EMIT;
			step_emit(&s, k, emit_round[k]++);
			emits++;
			break;
		}
		default:
			step_dup(&s);
			break;
		}
		verify(&s, i + 1);
		/* and the same record, packed and unpacked into another
		 * view, which then packs to the same bytes */
		packed_twin(&s, &twin, i + 1);
		verify(&twin, i + 1);
	}
	cr_assert_eq(sh.nres, G_RESULTS);
	cr_assert_eq(sh.nnotif, G_NOTIFS);
	cr_assert_eq(sh.nemit, G_EMIT);
	cr_assert_gt(sh.ncontacts, 10);
	lw_specimen_clear(&s);
	lw_specimen_clear(&twin);
	assert_no_leaks();
}

Test(specimen, growth_keeps_everything_uuid_id)
{
	growth_run("6ba7b810-9dad-11d1-80b4-00c04fd430c8", 1);
}

Test(specimen, growth_keeps_everything_long_id)
{
	static char id[301];
	for (int i = 0; i < 300; i++)
		id[i] = (char)('A' + i % 26);
	id[300] = '\0';
	growth_run(id, 2);
}

/* ---- caps ---- */

Test(specimen, results_cap)
{
	lw_specimen s;
	char eid[G_ID];
	lw_str cv[1] = {{"late-ck", 7}};
	lw_result_event ev;
	size_t b;
	init_str(&s, "SP-1");
	for (int i = 0; i < LW_SPECIMEN_MAX_RESULTS; i++) {
		make_id(eid, i, i);
		cr_assert_eq(add_result(&s, eid), 1, "%d", i);
	}
	cr_assert_eq(s.nresults, LW_SPECIMEN_MAX_RESULTS);
	b = lw_specimen_bytes(&s);
	ev = result_ev("one-too-many", "pk-1", LW_STATUS_FINAL);
	ev.contact_keys = cv;
	ev.n_contact_keys = 1;
	ev.recorded_at = 5000;
	cr_assert_eq(lw_specimen_add_result(&s, &ev, 1, 0, 0), -1);
	cr_assert_eq(s.dropped_events, 1);
	cr_assert_eq(add_result(&s, "two-too-many"), -1);
	cr_assert_eq(s.dropped_events, 2);
	/* a redelivery of a kept result is still a redelivery */
	make_id(eid, 5, 5);
	cr_assert_eq(add_result(&s, eid), 0);
	cr_assert_eq(s.dropped_events, 2);
	cr_assert_eq(s.nresults, LW_SPECIMEN_MAX_RESULTS);
	cr_assert_eq(lw_specimen_bytes(&s), b);
	cr_assert_eq(s.ncontacts, 0, "a dropped result adds no contacts");
	cr_assert_eq(s.last_event_ms, 1000);
	for (int i = 0; i < LW_SPECIMEN_MAX_RESULTS; i++) {
		make_id(eid, i, i);
		assert_ref(&s, s.results[i].event_id, eid, "kept");
	}
	/* notifications are capped separately */
	cr_assert_eq(add_notif(&s, "n-1", NULL, NULL), 1);
	cr_assert_eq(s.dropped_events, 2);
	lw_specimen_clear(&s);
}

Test(specimen, notifications_cap)
{
	lw_specimen s;
	char nid[32];
	size_t b;
	init_str(&s, "SP-1");
	for (int i = 0; i < LW_SPECIMEN_MAX_NOTIFS; i++) {
		snprintf(nid, sizeof nid, "n%d", i);
		cr_assert_eq(add_notif(&s, nid, NULL, NULL), 1, "%d", i);
	}
	b = lw_specimen_bytes(&s);
	cr_assert_eq(add_notif(&s, "n-extra", "b", "x"), -1);
	cr_assert_eq(add_notif(&s, "n-extra2", NULL, NULL), -1);
	cr_assert_eq(s.dropped_events, 2);
	cr_assert_eq(add_notif(&s, "n4095", NULL, NULL), 0);
	cr_assert_eq(s.dropped_events, 2);
	cr_assert_eq(s.nnotifs, LW_SPECIMEN_MAX_NOTIFS);
	cr_assert_eq(lw_specimen_bytes(&s), b);
	assert_ref(&s, s.notifs[0].notification_id, "n0", "first");
	assert_ref(&s, s.notifs[LW_SPECIMEN_MAX_NOTIFS - 1].notification_id,
		   "n4095", "last");
	cr_assert_eq(add_result(&s, "ev-1"), 1);
	assert_ref(&s, s.notifs[4000].notification_id, "n4000", "after");
	lw_specimen_clear(&s);
}

static void keys_into(char (*keys)[16], lw_str *cv, int from, int n)
{
	for (int i = 0; i < n; i++) {
		snprintf(keys[i], sizeof keys[i], "key-%d", from + i);
		cv[i] = view(keys[i]);
	}
}

Test(specimen, contacts_capped_and_deduplicated)
{
	static char keys[400][16];
	static lw_str cv[400];
	lw_specimen s;
	lw_result_event ev;
	init_str(&s, "SP-1");
	/* 300 distinct keys, each listed twice */
	keys_into(keys, cv, 0, 300);
	for (int i = 0; i < 100; i++)
		cv[300 + i] = cv[i * 3];
	ev = result_ev("ev-1", "pk", LW_STATUS_FINAL);
	ev.contact_keys = cv;
	ev.n_contact_keys = 400;
	cr_assert_eq(lw_specimen_add_result(&s, &ev, 1, 0, 0), 1);
	cr_assert_eq(s.ncontacts, LW_SPECIMEN_MAX_CONTACTS);
	for (int i = 0; i < 300; i++)
		cr_assert_eq(lw_specimen_has_contact(&s, hash_of(keys[i])),
			     i < LW_SPECIMEN_MAX_CONTACTS, "%s", keys[i]);
	for (uint32_t i = 0; i < s.ncontacts; i++)
		for (uint32_t k = i + 1; k < s.ncontacts; k++)
			cr_assert_neq(lw_specimen_contacts(&s)[i],
				      lw_specimen_contacts(&s)[k]);
	/* full: a later result adds none, and is still added */
	keys_into(keys, cv, 1000, 5);
	ev = result_ev("ev-2", "pk", LW_STATUS_FINAL);
	ev.contact_keys = cv;
	ev.n_contact_keys = 5;
	cr_assert_eq(lw_specimen_add_result(&s, &ev, 1, 0, 0), 1);
	cr_assert_eq(s.ncontacts, LW_SPECIMEN_MAX_CONTACTS);
	cr_assert_eq(lw_specimen_has_contact(&s, hash_of("key-1000")), 0);
	cr_assert_eq(s.nresults, 2);
	/* the array is the first 256 keys (each present, all distinct) */
	for (uint32_t i = 0; i < s.ncontacts; i++) {
		int found = 0;
		for (int k = 0; k < LW_SPECIMEN_MAX_CONTACTS && !found; k++) {
			char kk[16];
			snprintf(kk, sizeof kk, "key-%d", k);
			found = lw_specimen_contacts(&s)[i] == hash_of(kk);
		}
		cr_assert(found, "contact %u", i);
	}
	lw_specimen_clear(&s);

	/* near the cap: the first new keys fit, in order */
	init_str(&s, "SP-2");
	keys_into(keys, cv, 0, 250);
	ev = result_ev("ev-1", "pk", LW_STATUS_FINAL);
	ev.contact_keys = cv;
	ev.n_contact_keys = 250;
	cr_assert_eq(lw_specimen_add_result(&s, &ev, 1, 0, 0), 1);
	cr_assert_eq(s.ncontacts, 250);
	/* 5 known, then 10 new */
	keys_into(keys, cv, 245, 15);
	ev = result_ev("ev-2", "pk", LW_STATUS_CORRECTED);
	ev.contact_keys = cv;
	ev.n_contact_keys = 15;
	cr_assert_eq(lw_specimen_add_result(&s, &ev, 1, 0, 0), 1);
	cr_assert_eq(s.ncontacts, LW_SPECIMEN_MAX_CONTACTS);
	for (int i = 245; i < 260; i++)
		cr_assert_eq(
		    lw_specimen_has_contact(&s, hash_of(keys[i - 245])),
		    i < LW_SPECIMEN_MAX_CONTACTS, "key-%d", i);
	for (uint32_t i = 0; i < s.ncontacts; i++)
		for (uint32_t k = i + 1; k < s.ncontacts; k++)
			cr_assert_neq(lw_specimen_contacts(&s)[i],
				      lw_specimen_contacts(&s)[k]);
	lw_specimen_clear(&s);
}

Test(specimen, withdrawn_results_add_no_contacts)
{
	static const int statuses[] = {
	    LW_STATUS_CANCELLED,   LW_STATUS_ENTERED_IN_ERROR,
	    LW_STATUS_PRELIMINARY, LW_STATUS_FINAL,
	    LW_STATUS_CORRECTED,   LW_STATUS_UNKNOWN,
	};
	lw_specimen s;
	init_str(&s, "SP-1");
	for (int i = 0; i < 6; i++) {
		char eid[16], k1[16], k2[16];
		lw_str cv[3];
		lw_result_event ev;
		uint32_t before = s.ncontacts;
		snprintf(eid, sizeof eid, "ev-%d", i);
		snprintf(k1, sizeof k1, "own-%d", i);
		snprintf(k2, sizeof k2, "shared");
		cv[0] = view(k1);
		cv[1] = view(k2);
		cv[2] = view(k1);
		ev = result_ev(eid, "pk", statuses[i]);
		ev.contact_keys = cv;
		ev.n_contact_keys = 3;
		cr_assert_eq(lw_specimen_add_result(&s, &ev, 1, 0, 0), 1);
		cr_assert_eq(s.results[i].status, statuses[i]);
		if (i < 2) {
			cr_assert_eq(s.ncontacts, 0, "status %d", statuses[i]);
			cr_assert_eq(lw_specimen_has_contact(&s, hash_of(k1)),
				     0);
			cr_assert_eq(
			    lw_specimen_has_contact(&s, hash_of("shared")), 0);
		} else {
			cr_assert_eq(s.ncontacts, before + 1 + (i == 2),
				     "status %d", statuses[i]);
			cr_assert(lw_specimen_has_contact(&s, hash_of(k1)));
			cr_assert(
			    lw_specimen_has_contact(&s, hash_of("shared")));
		}
	}
	/* the withdrawn results' own keys never came in */
	cr_assert_eq(lw_specimen_has_contact(&s, hash_of("own-0")), 0);
	cr_assert_eq(lw_specimen_has_contact(&s, hash_of("own-1")), 0);
	cr_assert_eq(s.ncontacts, 5);
	lw_specimen_clear(&s);
}

Test(specimen, emitted_set_find_update)
{
	lw_specimen s;
	lw_emitted *e;
	size_t b;
	init_str(&s, "SP-1");
	cr_assert_null(lw_specimen_find_emitted(&s, 1));
	b = lw_specimen_bytes(&s);
	lw_specimen_set_emitted(&s, 11, 2, 1, 3);
	cr_assert_eq(s.nemitted, 1);
	cr_assert_geq(lw_specimen_bytes(&s) - b, sizeof(lw_emitted));
	b = lw_specimen_bytes(&s);
	lw_specimen_set_emitted(&s, 11, 5, 2, 1);
	cr_assert_eq(s.nemitted, 1);
	cr_assert_eq(lw_specimen_bytes(&s), b);
	lw_specimen_set_emitted(&s, 22, 7, 1, 2);
	cr_assert_eq(add_result(&s, UUID_LO), 1);
	cr_assert_eq(add_notif(&s, "n-1", "b-1", "SP-9"), 1);
	e = lw_specimen_find_emitted(&s, 11);
	cr_assert_not_null(e);
	cr_assert_eq(e->key, 11);
	cr_assert_eq(e->recipients, 5);
	cr_assert_eq(e->revision, 2);
	cr_assert_eq(e->severity, 1);
	e = lw_specimen_find_emitted(&s, 22);
	cr_assert_not_null(e);
	cr_assert_eq(e->recipients, 7);
	cr_assert_eq(e->revision, 1);
	cr_assert_eq(e->severity, 2);
	cr_assert_null(lw_specimen_find_emitted(&s, 33));
	assert_ref(&s, s.results[0].event_id, UUID_LO, "eid");
	assert_ref(&s, s.notifs[0].intended, "SP-9", "intended");
	cr_assert_str_eq(lw_specimen_id(&s), "SP-1");
	lw_specimen_clear(&s);
}

/* ---- clear ---- */

Test(specimen, clear_frees_and_zeroes)
{
	lw_specimen s, zero;
	memset(&zero, 0, sizeof zero);
	for (int round = 0; round < 50; round++) {
		char id[G_ID], eid[G_ID];
		make_id(id, round, round);
		init_str(&s, id);
		cr_assert_geq(lw_specimen_bytes(&s), strlen(id) + 1);
		for (int i = 0; i < round % 10; i++) {
			lw_str cv[1] = {view("ck")};
			lw_result_event ev;
			make_id(eid, i, round * 100 + i);
			ev = result_ev(eid, "pk-1", LW_STATUS_FINAL);
			ev.contact_keys = cv;
			ev.n_contact_keys = 1;
			cr_assert_eq(lw_specimen_add_result(&s, &ev, 1, 0, 0),
				     1);
			cr_assert_eq(add_notif(&s, eid, eid, eid), 1);
			lw_specimen_set_emitted(&s, (uint64_t)i, 1, 1, 1);
		}
		lw_specimen_clear(&s);
		cr_assert(memcmp(&s, &zero, sizeof s) == 0, "round %d", round);
		cr_assert_eq(lw_specimen_bytes(&s), 0);
		/* clearing a cleared record is harmless */
		lw_specimen_clear(&s);
		cr_assert_eq(lw_specimen_bytes(&s), 0);
	}
	assert_no_leaks();
}

/* ---- the packed form at the edges of every field ---- */

static void unpack_of(const lw_specimen *s, lw_specimen *out)
{
	unsigned char *p = malloc(lw_specimen_pack_bound(s));
	size_t n;
	cr_assert_not_null(p);
	n = lw_specimen_pack(s, p);
	lw_specimen_unpack(out, p, n);
	free(p);
}

Test(specimen, packed_form_keeps_extreme_values)
{
	static const int64_t times[] = {INT64_MIN, -1,	      0,
					1,	   INT64_MAX, 1767571200000LL};
	static const int64_t offs[] = {INT64_MAX, -1, 0,
				       INT64_MIN, 5,  1LL << 40};
	static const int32_t vers[] = {LW_NO_VERSION, INT32_MAX, -7, 0, 1, 2};
	lw_specimen s, u;
	char eid[16];
	memset(&u, 0, sizeof u);
	init_str(&s, "SP-extreme");
	for (int i = 0; i < 6; i++) {
		lw_result_event ev;
		lw_notification_event nv;
		snprintf(eid, sizeof eid, "e%d", i);
		ev = result_ev(eid, "pk-x", g_status[i]);
		ev.recorded_at = times[i];
		ev.result_version =
		    vers[(i + 1) % 6] == LW_NO_VERSION ? 3 : vers[(i + 1) % 6];
		ev.retest_pending = i & 1;
		cr_assert_eq(lw_specimen_add_result(&s, &ev,
						    (uint16_t)(65535 - i),
						    INT32_MIN + i, offs[i]),
			     1);
		snprintf(eid, sizeof eid, "n%d", i);
		nv = notif_ev(&s, eid, i & 1 ? "b" : NULL,
			      i & 2 ? "SP-o" : NULL);
		nv.sent_at = times[5 - i];
		nv.has_result_version = vers[i] != LW_NO_VERSION;
		nv.result_version = vers[i];
		nv.channel = i;
		cr_assert_eq(
		    lw_specimen_add_notification(&s, &nv, (uint16_t)(i * 9000),
						 INT32_MAX - i, offs[5 - i]),
		    1);
	}
	lw_specimen_set_emitted(&s, UINT64_MAX, UINT32_MAX, 0, 255);
	lw_specimen_set_emitted(&s, 0, 0, UINT32_MAX, 0);
	s.dropped_events = UINT32_MAX;
	s.update_pending = 1;
	s.timer_alerted = 1;
	unpack_of(&s, &u);
	cr_assert_str_eq(lw_specimen_id(&u), "SP-extreme");
	cr_assert_str_eq(lw_specimen_patient_key(&u, pkbuf), "pk-x");
	cr_assert_eq(lw_specimen_patient_hash(&u),
		     lw_specimen_patient_hash(&s));
	cr_assert_eq(u.last_event_ms, s.last_event_ms);
	cr_assert_eq(u.last_event_ms, INT64_MAX);
	cr_assert_eq(u.dropped_events, UINT32_MAX);
	cr_assert_eq(u.update_pending, 1);
	cr_assert_eq(u.timer_alerted, 1);
	cr_assert_eq(u.nresults, 6);
	cr_assert_eq(u.nnotifs, 6);
	cr_assert_eq(u.ncontacts, s.ncontacts);
	cr_assert_eq(u.nemitted, 2);
	for (int i = 0; i < 6; i++) {
		const lw_result_rec *a = &s.results[i], *b = &u.results[i];
		const lw_notif_rec *x = &s.notifs[i], *y = &u.notifs[i];
		cr_assert_eq(b->recorded_at, times[i], "result %d", i);
		cr_assert_eq(b->offset, offs[i], "result %d", i);
		cr_assert_eq(b->partition, INT32_MIN + i);
		cr_assert_eq(b->version, a->version);
		cr_assert_eq(b->code, 65535 - i);
		cr_assert_eq(b->status, a->status);
		cr_assert_eq(b->retest_pending, a->retest_pending);
		cr_assert_eq(b->event_id, a->event_id);
		cr_assert_eq(y->recipient, x->recipient);
		cr_assert_eq(y->sent_at, times[5 - i], "notif %d", i);
		cr_assert_eq(y->offset, offs[5 - i], "notif %d", i);
		cr_assert_eq(y->partition, INT32_MAX - i);
		cr_assert_eq(y->stated_version, vers[i], "notif %d", i);
		cr_assert_eq(y->stated_code, i * 9000);
		cr_assert_eq(y->channel, i);
		cr_assert_eq(y->notification_id, x->notification_id);
		cr_assert_eq(y->batch_id, x->batch_id);
		cr_assert_eq(y->intended, x->intended);
	}
	for (uint32_t i = 0; i < s.ncontacts; i++)
		cr_assert_eq(lw_specimen_contacts(&u)[i],
			     lw_specimen_contacts(&s)[i]);
	cr_assert_eq(lw_specimen_emitted(&u)[0].key, UINT64_MAX);
	cr_assert_eq(lw_specimen_emitted(&u)[0].recipients, UINT32_MAX);
	cr_assert_eq(lw_specimen_emitted(&u)[0].severity, 255);
	cr_assert_eq(lw_specimen_emitted(&u)[1].revision, UINT32_MAX);
	cr_assert_eq(u.strs_len, s.strs_len);
	for (int i = 0; i < 6; i++) {
		lw_str_ref refs[4] = {
		    s.results[i].event_id, s.notifs[i].notification_id,
		    s.notifs[i].batch_id, s.notifs[i].intended};
		for (int k = 0; k < 4; k++) {
			char ba[LW_ID_BUF], bb[LW_ID_BUF];
			const char *x = lw_specimen_str(&s, refs[k], ba);
			const char *y = lw_specimen_str(&u, refs[k], bb);
			cr_assert_eq(x == NULL, y == NULL, "%d/%d", i, k);
			if (x)
				cr_assert_str_eq(x, y, "%d/%d", i, k);
		}
	}
	/* a view reused for a smaller record holds only that record */
	lw_specimen_reset(&s, "SP-small", 8);
	unpack_of(&s, &u);
	cr_assert_str_eq(lw_specimen_id(&u), "SP-small");
	cr_assert_eq(u.nresults + u.nnotifs + u.ncontacts + u.nemitted, 0);
	cr_assert_null(lw_specimen_patient_key(&u, pkbuf));
	cr_assert_eq(lw_specimen_patient_hash(&u), 0);
	cr_assert_eq(u.dropped_events, 0);
	cr_assert_eq(u.update_pending + u.timer_alerted, 0);
	lw_specimen_clear(&s);
	lw_specimen_clear(&u);
	assert_no_leaks();
}

static size_t packed_size(const lw_specimen *s)
{
	unsigned char *p = malloc(lw_specimen_pack_bound(s));
	size_t n;
	cr_assert_not_null(p);
	n = lw_specimen_pack(s, p);
	free(p);
	return n;
}

/* A notification's recipient that is one of the first 16 contacts packs as
 * a one-byte index; any other as its hash. Both unpack to the same
 * hash, and the same record with a recipient nobody registered packs
 * exactly 8 bytes longer per such notification. */
Test(specimen, packed_recipient_refers_to_its_contact)
{
	static char keys[20][8];
	static const char *rk[] = {"ck-0", "ck-15", "ck-16", "ck-19", "rk-x"};
	lw_str cv[20];
	lw_specimen s, t, u;
	lw_result_event ev = result_ev("e-1", "pk-r", LW_STATUS_FINAL);
	size_t with, without;
	memset(&u, 0, sizeof u);
	for (int i = 0; i < 20; i++) {
		snprintf(keys[i], sizeof keys[i], "ck-%d", i);
		cv[i] = view(keys[i]);
	}
	ev.contact_keys = cv;
	ev.n_contact_keys = 20;
	init_str(&s, "SP-r");
	init_str(&t, "SP-r");
	cr_assert_eq(lw_specimen_add_result(&s, &ev, 1, 0, 10), 1);
	cr_assert_eq(lw_specimen_add_result(&t, &ev, 1, 0, 10), 1);
	cr_assert_eq(s.ncontacts, 20);
	for (int i = 0; i < 5; i++) {
		char nid[8];
		lw_notification_event nv;
		snprintf(nid, sizeof nid, "n%d", i);
		nv = notif_ev(&s, nid, NULL, NULL);
		nv.recipient_key = view(rk[i]);
		cr_assert_eq(lw_specimen_add_notification(&s, &nv, 1, 0, i), 1);
		nv.recipient_key = view(i < 2 ? "elsewhere" : rk[i]);
		cr_assert_eq(lw_specimen_add_notification(&t, &nv, 1, 0, i), 1);
	}
	unpack_of(&s, &u);
	cr_assert_eq(u.nnotifs, 5);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(u.notifs[i].recipient, hash_of(rk[i]), "%d", i);
	for (int i = 0; i < 20; i++)
		cr_assert_eq(lw_specimen_contacts(&u)[i], hash_of(keys[i]));
	/* ck-0 and ck-15 are referred to; ck-16 is past the first 16 */
	with = packed_size(&s);
	without = packed_size(&t);
	cr_assert_eq(without, with + 2 * 8, "%zu vs %zu", without, with);
	lw_specimen_clear(&s);
	lw_specimen_clear(&t);
	lw_specimen_clear(&u);
	assert_no_leaks();
}

/* The one-byte shape holds up to 3 results, 7 notifications and 3
 * contacts with nothing else set; one more of any, an emitted incident,
 * a dropped event or a flag takes the long form. Every shape round-trips,
 * and the long form costs exactly the bytes its varints take. */
Test(specimen, packed_shape_short_and_long)
{
	enum { R, N, C, E, D, F, CASES };
	for (int c = -1; c < CASES; c++) {
		lw_specimen s, u;
		lw_str cv[4] = {{"c0", 2}, {"c1", 2}, {"c2", 2}, {"c3", 2}};
		size_t base;
		memset(&u, 0, sizeof u);
		init_str(&s, "SP-shape");
		for (int i = 0; i < (c == R ? 4 : 3); i++) {
			char eid[8];
			lw_result_event ev;
			snprintf(eid, sizeof eid, "r%d", i);
			ev = result_ev(eid, "pk-s", LW_STATUS_FINAL);
			ev.contact_keys = cv;
			ev.n_contact_keys = c == C ? 4 : 3;
			cr_assert_eq(lw_specimen_add_result(&s, &ev, 1, 0, i),
				     1);
		}
		for (int i = 0; i < (c == N ? 8 : 7); i++) {
			char nid[8];
			lw_notification_event nv;
			snprintf(nid, sizeof nid, "n%d", i);
			nv = notif_ev(&s, nid, NULL, NULL);
			cr_assert_eq(
			    lw_specimen_add_notification(&s, &nv, 1, 0, i), 1);
		}
		if (c == E)
			lw_specimen_set_emitted(&s, 7, 1, 1, 1);
		if (c == D)
			s.dropped_events = 1;
		if (c == F)
			s.timer_alerted = 1;
		base = packed_size(&s);
		unpack_of(&s, &u);
		cr_assert_eq(u.nresults, s.nresults, "case %d", c);
		cr_assert_eq(u.nnotifs, s.nnotifs, "case %d", c);
		cr_assert_eq(u.ncontacts, s.ncontacts, "case %d", c);
		cr_assert_eq(u.nemitted, s.nemitted, "case %d", c);
		cr_assert_eq(u.dropped_events, s.dropped_events, "case %d", c);
		cr_assert_eq(u.timer_alerted, s.timer_alerted, "case %d", c);
		cr_assert_eq(packed_size(&u), base, "case %d", c);
		if (c == D || c == F) {
			/* the same record in the short form: 6 bytes less
			 * (tag, four counts, dropped, flags; one shape) */
			s.dropped_events = 0;
			s.timer_alerted = 0;
			cr_assert_eq(packed_size(&s) + 6, base, "case %d", c);
		}
		lw_specimen_clear(&s);
		lw_specimen_clear(&u);
	}
	assert_no_leaks();
}

/* lw_specimen_pack_id (the state packs new records with it) must write
 * byte for byte what lw_specimen_pack writes for a reset record, for IDs
 * of every tag length (empty, short, UUID-shaped: IDs stay verbatim, the
 * last one-byte length, the first four-byte one). */
Test(specimen, pack_id_equals_packing_a_reset_record)
{
	static const size_t lens[] = {0, 1, 13, 36, 0xEF, 0xF0, 300};
	char id[301];
	lw_specimen s = {0};
	for (size_t i = 0; i < sizeof id; i++)
		id[i] = (char)('a' + i % 26);
	memcpy(id, "0f8fad5b-d9cb-469f-a165-70867728950e", 36);
	for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
		size_t n = lens[k], a, b;
		unsigned char *want, *got;
		lw_specimen_reset(&s, id, n);
		want = malloc(lw_specimen_pack_bound(&s));
		got = malloc(lw_specimen_pack_id_bound(n));
		a = lw_specimen_pack(&s, want);
		b = lw_specimen_pack_id(id, n, got);
		cr_assert_eq(b, a, "length %zu: %zu bytes, pack wrote %zu", n,
			     b, a);
		cr_assert_leq(b, lw_specimen_pack_id_bound(n));
		cr_assert_eq(memcmp(got, want, a), 0, "length %zu", n);
		cr_assert(lw_specimen_packed_id_is(got, id, n));
		free(want);
		free(got);
	}
	lw_specimen_clear(&s);
}

/* Bytes a record grows by when its first result carries patient key pk. */
static size_t pk_cost(const char *pk, lw_specimen *out)
{
	lw_result_event ev = result_ev("ev-pk", pk, LW_STATUS_FINAL);
	size_t before;
	lw_specimen_init(out, "S-PK", 4);
	before = out->strs_len;
	cr_assert_eq(lw_specimen_add_result(out, &ev, 1, 0, 0), 1);
	return out->strs_len - before;
}

/* Patient keys (HMACs, in hex) are kept as their prefix and the digits'
 * bytes when they end in 16 or more hex digits of one case; anything else
 * verbatim. Every form must spell out to exactly the key it was given,
 * after a pack and unpack too, and distinct keys must keep distinct
 * identities (case is part of a key). */
Test(specimen, hex_patient_keys_are_kept_compact_and_spelt_out_exactly)
{
	static const char *keys[] = {
	    "pk_0123456789abcdef0123456789abcdef", /* generator-like */
	    "pk_0123456789ABCDEF0123456789ABCDEF", /* upper case */
	    "pk_0123456789abcdef0123456789ABCDEF", /* case changes */
	    "pk_123456789abcdef0123456789abcdef",  /* odd digit count */
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    "hmac:01234567890123456789",	   /* digits only */
	    "pk_0123456789abcde",		   /* 15 digits: verbatim */
	    "pk_0123456789abcdef",		   /* 16: the least compacted */
	    "PK-ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", /* no digits */
	    "",					   /* empty */
	    "pk_deadbeef\xc3\xa9"
	    "0123456789abcdef0123",
	};
	lw_specimen s, u = {0};
	uint64_t ids[sizeof keys / sizeof keys[0]];
	unsigned char *packed;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		size_t cost = pk_cost(keys[i], &s), n;
		cr_assert_str_eq(lw_specimen_patient_key(&s, pkbuf), keys[i]);
		packed = malloc(lw_specimen_pack_bound(&s));
		n = lw_specimen_pack(&s, packed);
		cr_assert_eq(lw_specimen_unpack(&u, packed, n), n);
		cr_assert_str_eq(lw_specimen_patient_key(&u, pkbuf), keys[i],
				 "after unpacking");
		ids[i] = lw_specimen_patient_hash(&u);
		cr_assert_eq(ids[i], lw_specimen_patient_hash(&s));
		cr_assert_neq(ids[i], 0);
		for (size_t j = 0; j < i; j++)
			cr_assert_neq(ids[i], ids[j], "%s and %s", keys[i],
				      keys[j]);
		free(packed);
		lw_specimen_clear(&s);
		(void)cost;
	}
	lw_specimen_clear(&u);

	/* what each costs, against the event ID's 7 bytes ("ev-pk" +
	 * tag + NUL): prefix + digits/2 + 3, or verbatim length + 2 */
	cr_assert_eq(pk_cost(keys[0], &s), 7 + 3 + 3 + 16);
	lw_specimen_clear(&s);
	cr_assert_eq(pk_cost(keys[4], &s), 7 + 3 + 32, "64 hex digits");
	lw_specimen_clear(&s);
	cr_assert_eq(pk_cost(keys[2], &s), 7 + 3 + 19 + 8,
		     "only the one-case run is compacted");
	lw_specimen_clear(&s);
	cr_assert_eq(pk_cost(keys[3], &s), 7 + 3 + 4 + 15,
		     "31 digits: the first joins the prefix");
	lw_specimen_clear(&s);
	cr_assert_eq(pk_cost(keys[6], &s), 7 + strlen(keys[6]) + 2);
	lw_specimen_clear(&s);
	cr_assert_eq(pk_cost(keys[7], &s), 7 + 3 + 3 + 8);
	lw_specimen_clear(&s);
}

/* Keys of LW_PK_BUF bytes or more stay verbatim: a caller's buffer of
 * LW_PK_BUF always holds a spelt-out key and its NUL. */
Test(specimen, long_hex_keys_stay_verbatim)
{
	char key[LW_PK_BUF + 1];
	lw_specimen s;
	for (size_t n = LW_PK_BUF - 1; n <= LW_PK_BUF; n++) {
		for (size_t i = 0; i < n; i++)
			key[i] = "0123456789abcdef"[i % 16];
		key[n] = '\0';
		size_t cost = pk_cost(key, &s);
		cr_assert_str_eq(lw_specimen_patient_key(&s, pkbuf), key);
		if (n < LW_PK_BUF)
			cr_assert_eq(cost, 7 + 3 + n % 2 + n / 2, "length %zu",
				     n);
		else
			cr_assert_eq(cost, 7 + n + 2, "length %zu", n);
		lw_specimen_clear(&s);
	}
}
