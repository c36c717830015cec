/* traffic: the synthetic traffic generator and its ground truth.
 *
 * Design. The world advances one specimen "group" at a time along an event
 * clock (start_ms, then a random gap of 0..2*gap_ms per group). A group is
 * a clean specimen, or a fault specimen X plus the extra specimens of its
 * fault (targets it points at, fellow fan-in members, a surge burst).
 * Generating a group fixes all its events (results, notifications, duplicate
 * deliveries) with their event times, decides their produce order and
 * pushes them into a min-heap keyed by (emit time, push sequence). Before a
 * group is generated at clock T, every heap event due at or before T is
 * emitted; a group's events are never earlier than its own T, so the
 * emitted stream is in emit-time order and memory holds only the specimens
 * in flight (Little's law: gap_ms vs a lifetime of ~10 h), never all of
 * cfg.specimens. Notifications are never moved, so first deliveries of
 * notifications are emitted in sent_at order.
 *
 * Produce order inside a specimen is event-time order, except for "late"
 * specimens, whose results recorded before their first notification (for a
 * fault, sometimes their k-th) are produced right after it; timestamps stay
 * truthful. Specimens with a notification stating a code but no version are
 * never late.
 *
 * Clean traffic is timed from the configured rule settings: every final
 * result version is notified within its SLA minus a margin, nothing is sent
 * before the final result, every recipient key belongs to one patient, so
 * no rule holds for it (VOLUME_SURGE excepted: volume is a property of the
 * whole run, see below).
 *
 * Ground truth is not hand-derived per fault kind: each specimen's events
 * are replayed in produce order through a small reference implementation of
 * the rules (see eval_spec), once per prefix, so an incident's trigger is the
 * exact message after which it first exists. The replay must (a) never see
 * an incident disappear or change severity later, (b) never see more than
 * one offending notification for the per-notification rules, and (c) end
 * with exactly the incident set designed for the fault kind (expected_set);
 * clean specimens and targets must end with none. Timer rules depend on the
 * stream time as well: a prefix of a specimen's events can only be looked at
 * while the stream time is below the emit time of its next event (minus the
 * lateness, plus SLACK_MS for live mode), so each prefix is evaluated at
 * that time and may show no timer incident that the complete specimen does
 * not have, with the same severity. If a late order breaks this, the
 * specimen falls back to event-time order; if that breaks it too, the run
 * fails: it is a generator bug, never silently wrong truth.
 *
 * A timer incident fires iff its due time D <= the final stream time, which
 * is H = newest event time - lateness - 1 (plus a little in live mode). A
 * specimen whose incidents are not yet certainly before H keeps its truth
 * lines pending until they are; at the end any D in [H - 10 min, H + 2 h]
 * fails the run. Timer faults are only chosen when their latest possible
 * due time lies well before the newest event time generated so far, which
 * H cannot undercut.
 *
 * Cross-specimen rules: FANIN is checked per group (every recipient key is
 * owned by one specimen of its group, so no other group reaches it);
 * VOLUME_SURGE is mirrored exactly as processor/surge.c computes it, over
 * the first deliveries of every notification in emit order, with its truth
 * lines pending like timer incidents.
 *
 * Randomness: two xoshiro256** streams from the seed, one for the world
 * (consumed in generation order) and one for wire decisions taken at emit
 * time (bad messages, foreign keys); identifiers (event IDs, keys, hints)
 * are hashes of (seed, owner, slot), so they need no storage. No clock is
 * read: the output is a pure function of the configuration.
 *
 * Encoding uses Avro C's generic value API with one prepared value per
 * writer schema (1, 2, 101, 102), field indexes, union branches and enum
 * symbols resolved once at start-up; a message costs one record reset, the
 * field sets and one avro_value_write into a reused buffer. It is
 * deliberately independent of the processor's own decoder. */
#include "traffic.h"
#include "log.h"
#include "schemas.h"
#include "xmalloc.h"

#include <avro.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- the evolved writer schemas (identical to schemas/registry/) ---- */

/* clang-format off */
const char lw_traffic_schema_labresult_evolved_json[] =
	"{\n"
	"  \"type\": \"record\",\n"
	"  \"name\": \"LabResult\",\n"
	"  \"namespace\": \"com.example.lis.v7\",\n"
	"  \"doc\": \"A later writer: fields reordered, unit/retest_pending/source_system dropped, value as float, two fields added.\",\n"
	"  \"fields\": [\n"
	"    {\"name\": \"specimen_id\", \"type\": \"string\"},\n"
	"    {\"name\": \"lab_site\", \"type\": \"string\"},\n"
	"    {\"name\": \"recorded_at\", \"type\": {\"type\": \"long\", \"logicalType\": \"timestamp-millis\"}},\n"
	"    {\"name\": \"result_version\", \"type\": \"int\"},\n"
	"    {\"name\": \"status\", \"type\": {\"type\": \"enum\", \"name\": \"ResultStatus\",\n"
	"      \"symbols\": [\"FINAL\", \"PRELIMINARY\", \"CORRECTED\", \"CANCELLED\", \"ENTERED_IN_ERROR\", \"AMENDED\"]}},\n"
	"    {\"name\": \"event_id\", \"type\": \"string\"},\n"
	"    {\"name\": \"result_code\", \"type\": \"string\"},\n"
	"    {\"name\": \"value\", \"type\": [\"float\", \"null\"]},\n"
	"    {\"name\": \"patient_key\", \"type\": \"string\"},\n"
	"    {\"name\": \"extra_codes\", \"type\": {\"type\": \"map\", \"values\": \"string\"}},\n"
	"    {\"name\": \"test_code\", \"type\": \"string\"},\n"
	"    {\"name\": \"contact_keys\", \"type\": {\"type\": \"array\", \"items\": \"string\"}}\n"
	"  ]\n"
	"}\n";
const char lw_traffic_schema_notification_evolved_json[] =
	"{\n"
	"  \"type\": \"record\",\n"
	"  \"name\": \"NotificationSent\",\n"
	"  \"namespace\": \"com.example.notifier\",\n"
	"  \"doc\": \"A later writer: fields reordered, intended_specimen_id/recipient_hint/batch_id dropped, unions reordered, an enum symbol and two fields added.\",\n"
	"  \"fields\": [\n"
	"    {\"name\": \"sent_at\", \"type\": \"long\"},\n"
	"    {\"name\": \"template_id\", \"type\": \"string\"},\n"
	"    {\"name\": \"channel\", \"type\": {\"type\": \"enum\", \"name\": \"Channel\",\n"
	"      \"symbols\": [\"PORTAL\", \"EMAIL\", \"SMS\", \"LETTER\", \"PHONE\", \"FAX\", \"HANDOVER\", \"WHATSAPP\"]}},\n"
	"    {\"name\": \"specimen_id\", \"type\": \"string\"},\n"
	"    {\"name\": \"result_code\", \"type\": [\"string\", \"null\"]},\n"
	"    {\"name\": \"notification_id\", \"type\": \"string\"},\n"
	"    {\"name\": \"result_version\", \"type\": [\"int\", \"null\"]},\n"
	"    {\"name\": \"recipient_key\", \"type\": \"string\"},\n"
	"    {\"name\": \"attempt\", \"type\": \"int\"}\n"
	"  ]\n"
	"}\n";

/* clang-format on */

/* ---- tunables that are not worth a config field ---- */

#define MIN_MS		   (60 * 1000LL)
#define HOUR_MS		   (60 * MIN_MS)
#define DAY_MS		   (24 * HOUR_MS)
#define NO_CONTACT_SHARE   0.10 /* patients with no registered contact */
#define PRELIM_SHARE	   0.30 /* results preceded by a PRELIMINARY */
#define RETEST_SHARE	   0.30 /* ... of which say retest_pending */
#define CORRECTION_SHARE   0.03 /* clean specimens corrected after notify */
#define PORTAL_SHARE	   0.20 /* "your result is ready": no code/version */
#define CODE_ONLY_SHARE	   0.05 /* a code but no version */
#define DUP_SHARE	   0.03 /* notifications delivered twice */
#define NULL_VARIANT_SHARE 0.30 /* wrong_recipient stating no code */
#define ORPHAN_SERIAL	   800000000ULL /* bad messages' specimens: SP9xxxxxxxx */
#define MAX_SPECIMENS	   700000000ULL
#define SLOT_NONCONTACT	   8  /* recipient slots 8, 9: unregistered keys */
#define SLOT_STRANGER	   16 /* wrong_recipient's non-contact */
#define SLOT_FANIN	   17 /* the fan-in fault's stranger */
#define MAX_RESULTS	   4
#define NCONTENT	   5 /* RESULT_MISMATCH .. RECORD_MISMATCH */
#define MAX_TINC	   8 /* timer incidents of one specimen */
#define CODE_MAX	   16
#define KEY_BUF		   36	 /* "pk_"/"rk_" + 32 hex + NUL */
#define ID_BUF		   12	 /* "SP" + 9 digits + NUL */
#define MAX_FANIN	   100	 /* fanin_threshold */
#define MAX_BURST	   20000 /* surge_burst */
/* how far the stream time may run ahead of the next event (live mode: a
 * partition idle for a moment); clean timing keeps this much margin */
#define SLACK_MS (60 * 1000LL)
/* no timer due or surge start within [H - BAND_LO_MS, H + BAND_HI_MS] */
#define BAND_LO_MS	(10 * MIN_MS)
#define BAND_HI_MS	(2 * HOUR_MS)
#define REACH_SAFETY_MS (10 * MIN_MS)

/* ---- names ---- */

static const char *const fault_names[LW_TRAFFIC_FAULT_COUNT] = {
    "pos_told_neg",
    "neg_told_pos",
    "stale_same_code",
    "stale_wrong_code",
    "wrong_recipient",
    "batch_fanout",
    "record_mismatch_single",
    "missing_notification",
    "corrected_after_notify",
    "orphan_notification",
    "sent_before_final",
    "sent_after_withdrawal",
    "fanin",
    "volume_surge",
};
/* variant names by fault kind: [kind][variant], NULL = not printed */
static const char *const variant_names[LW_TRAFFIC_FAULT_COUNT][2] = {
    [LW_TRAFFIC_FAULT_MISSING_NOTIFICATION] = {"other", "positive"},
    [LW_TRAFFIC_FAULT_CORRECTED_AFTER_NOTIFY] = {"never", "late"},
    [LW_TRAFFIC_FAULT_ORPHAN_NOTIFICATION] = {"stated", "portal"},
    [LW_TRAFFIC_FAULT_SENT_BEFORE_FINAL] = {"preliminary", "retest_pending"},
    [LW_TRAFFIC_FAULT_SENT_AFTER_WITHDRAWAL] = {"cancelled",
						"entered_in_error"},
};
static const char *const dlq_names[LW_TRAFFIC_DLQ_COUNT] = {
    "bad_magic", "unknown_schema", "malformed_avro", "empty_specimen_id",
    "oversized", "empty_value",	   "missing_key",
};
/* relative weights of the bad kinds; oversized is rare because each one is
 * 300 kB and would otherwise dominate dump files and broker storage */
static const int dlq_weight[LW_TRAFFIC_DLQ_COUNT] = {18, 18, 20, 14, 2, 12, 16};
static const char *const rule_names[LW_TRAFFIC_RULE_COUNT] = {
    "RESULT_MISMATCH",
    "STALE_VERSION",
    "WRONG_RECIPIENT",
    "FANOUT",
    "RECORD_MISMATCH",
    "MISSING_NOTIFICATION",
    "CORRECTED_AFTER_NOTIFY",
    "ORPHAN_NOTIFICATION",
    "SENT_BEFORE_FINAL",
    "SENT_AFTER_WITHDRAWAL",
    "FANIN",
    "VOLUME_SURGE",
};
static const char *const severity_names[LW_TRAFFIC_SEV_COUNT] = {
    "CRITICAL",
    "HIGH",
};

const char *lw_traffic_fault_name(lw_traffic_fault f)
{
	return (unsigned)f < LW_TRAFFIC_FAULT_COUNT ? fault_names[f] : "?";
}

const char *lw_traffic_dlq_name(lw_traffic_dlq d)
{
	return (unsigned)d < LW_TRAFFIC_DLQ_COUNT ? dlq_names[d] : "?";
}

const char *lw_traffic_rule_name(lw_traffic_rule r)
{
	return (unsigned)r < LW_TRAFFIC_RULE_COUNT ? rule_names[r] : "?";
}

const char *lw_traffic_severity_name(lw_traffic_severity s)
{
	return (unsigned)s < LW_TRAFFIC_SEV_COUNT ? severity_names[s] : "?";
}

const char *lw_traffic_writer_schema_json(int32_t id)
{
	switch (id) {
	case LW_SCHEMA_ID_LABRESULT:
		return lw_schema_labresult_json;
	case LW_SCHEMA_ID_NOTIFICATION:
		return lw_schema_notification_json;
	case LW_TRAFFIC_SCHEMA_ID_LABRESULT_EVOLVED:
		return lw_traffic_schema_labresult_evolved_json;
	case LW_TRAFFIC_SCHEMA_ID_NOTIFICATION_EVOLVED:
		return lw_traffic_schema_notification_evolved_json;
	default:
		return NULL;
	}
}

/* ---- randomness ---- */

typedef struct rng {
	uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static void rng_seed(rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL);
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

/* xoshiro256** */
static uint64_t rng_next(rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl64(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return out;
}

static double rng_unit(rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static int rng_chance(rng *r, double p)
{
	return rng_unit(r) < p;
}

/* uniform in [lo, hi]; the modulo bias is far below anything we measure */
static int64_t rng_range(rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* A stable hash of (seed, domain, a, b): identifiers derive from it. */
enum { DOM_PATIENT = 1, DOM_RECIPIENT, DOM_EVENT, DOM_NOTIF, DOM_HINT };

static uint64_t mix(uint64_t seed, uint64_t dom, uint64_t a, uint64_t b)
{
	uint64_t x = seed ^ (dom * 0x9e3779b97f4a7c15ULL);
	x = splitmix64(&x) ^ a;
	x = splitmix64(&x) ^ b;
	return splitmix64(&x);
}

/* ---- the world ---- */

enum { ST_PRELIMINARY, ST_FINAL, ST_CORRECTED, ST_CANCELLED, ST_EIE, ST_COUNT };
static const char *const status_sym[ST_COUNT] = {
    "PRELIMINARY", "FINAL", "CORRECTED", "CANCELLED", "ENTERED_IN_ERROR",
};
enum {
	CH_EMAIL,
	CH_SMS,
	CH_PORTAL,
	CH_LETTER,
	CH_PHONE,
	CH_FAX,
	CH_HANDOVER,
	CH_COUNT
};
static const char *const channel_sym[CH_COUNT] = {
    "EMAIL", "SMS", "PORTAL", "LETTER", "PHONE", "FAX", "HANDOVER",
};

enum { ROLE_CLEAN, ROLE_FAULT, ROLE_TARGET };
/* what intended_specimen_id says */
enum { INT_NULL, INT_SELF, INT_EMPTY, INT_OTHER };

static const struct test_def {
	const char *code, *loinc, *method;
} tests[] = {
    {"SARS2-PCR", "94500-6", "RT-PCR"}, {"FLUAB-PCR", "92142-9", "RT-PCR"},
    {"RSV-PCR", "92131-2", "RT-PCR"},	{"HIV-AGAB", "75622-1", "CMIA"},
    {"HCV-AB", "13955-0", "CMIA"},	{"CT-NG-NAAT", "43304-5", "NAAT"},
};
#define NTESTS (sizeof tests / sizeof tests[0])
static const char *const lab_sites[] = {"LAB-TKY-01", "LAB-TKY-02",
					"LAB-OSA-01", "LAB-NGY-01"};
static const char *const coded_values[] = {"A1", "A2", "B1", "C3"};
/* spellings the generator writes */
static const char *const pos_codes[] = {"POS", "POSITIVE", "DETECTED",
					"REACTIVE"};
static const char *const neg_codes[] = {"NEG",		"NEGATIVE",
					"NOT DETECTED", "NOT_DETECTED",
					"NONREACTIVE",	"NON-REACTIVE"};
/* the processor's polarity lists (processor/codes.c), normalized */
static const char *const polarity_pos[] = {"POS", "POSITIVE", "DETECTED",
					   "REACTIVE"};
static const char *const polarity_neg[] = {
    "NEG",	    "NEGATIVE",	    "NOT DETECTED", "NONREACTIVE",
    "NON-REACTIVE", "NON REACTIVE", "UNDETECTED"};
static const char *const tlds[] = {"jp", "com", "net", "org"};

/* A recipient key is named by (owner serial, slot) and rendered by hash:
 * the contacts of specimen s are (s, 0..ncontacts-1). */
struct rcpt {
	uint64_t owner;
	uint32_t slot;
};

struct result {
	int64_t recorded_at;
	double value;
	int32_t version;
	uint8_t status, retest_pending, has_value, evolved;
	char code[CODE_MAX];
};

struct notif {
	int64_t sent_at;
	uint64_t batch;	   /* 0 = null batch_id */
	uint64_t intended; /* serial, for INT_OTHER */
	struct rcpt to;
	int32_t version;   /* 0 = null */
	int32_t dup_after; /* ms after sent_at of a second delivery; 0 = none */
	uint8_t channel, attempt, has_code, intended_kind, evolved;
	char code[CODE_MAX];
};

enum { EV_RESULT, EV_NOTIF };

struct event {
	int64_t emit_ms;
	uint64_t index; /* produce index, once emitted */
	uint16_t ref;	/* into res[] or notifs[] */
	uint8_t kind;
	uint8_t dup;
};

/* a content-rule incident (RESULT_MISMATCH .. RECORD_MISMATCH) */
struct incident {
	uint8_t rule, sev;
	int16_t trigger; /* local event number */
};

/* a timer-rule incident, as it holds once every event is in */
struct tinc {
	uint8_t rule, sev;
	int32_t ver; /* CORRECTED_AFTER_NOTIFY: the version; else 0 */
	int64_t due; /* when it begins to hold */
};

/* A fan-in fault: members 0..m-1 (consecutive serials) each send their
 * record to one stranger; the alert names member 0. Freed with the last
 * member. */
struct fgroup {
	int refs;	/* members not yet freed */
	int left;	/* members whose events are not all out */
	int m, accept;	/* members; the first `accept` may be named */
	uint64_t first; /* member 0's serial */
	char ridx[24];	/* member 0's result_idx */
	uint64_t trig;	/* produce index of the (threshold+1)-th send */
};

struct spec {
	struct spec *prev, *next; /* live list, for destroy */
	uint64_t serial;
	char id[ID_BUF];
	uint8_t ncontacts, role, fault, test, variant, label;
	uint8_t late; /* 0, or results after the late-th notification */
	uint64_t targets_first, targets; /* Y serials, for the label */
	int nres;
	struct result res[MAX_RESULTS];
	int nnotif, notif_cap;
	struct notif *notifs;
	int nev, ev_cap;
	struct event *ev;
	int pending; /* events not yet emitted */
	int ninc;
	struct incident inc[NCONTENT];
	int ntinc;
	struct tinc *tinc; /* ntinc, allocated once decided */
	struct fgroup *fg; /* fan-in members */
	uint16_t fno;	   /* member number */
	int16_t rnotif;	   /* the notification to the stranger */
};

struct hent {
	int64_t emit_ms;
	uint64_t seq;
	struct spec *s;
	uint32_t ev;
};

/* Lines of truth not yet certain to be due before the end (see the file
 * comment), and what they add to the stats. */
struct tally {
	uint32_t rule[LW_TRAFFIC_RULE_COUNT];
	uint32_t sev[LW_TRAFFIC_SEV_COUNT];
};

struct pend {
	int64_t due;
	char *text;
	size_t len;
	struct tally ty;
};

/* A growable string for truth lines. */
struct sbuf {
	char *p;
	size_t n, cap;
};

/* The VOLUME_SURGE mirror (processor/surge.c): counts per bucket in a ring
 * indexed by bucket number, running sums of the three windows. */
struct smirror {
	int on, active;
	int64_t w, sn, bn; /* cap, short and baseline windows in buckets */
	int64_t lo, hi;	   /* first and newest bucket counted; INT64_MIN */
	int64_t next;	   /* next bucket to close */
	uint64_t *cnt;	   /* ring, L slots */
	int64_t L;
	uint64_t wsum, ssum, bsum;
};

/* a (recipient, patient) pair for the per-group FANIN check */
struct fpair {
	uint64_t owner, patient;
	uint32_t slot;
	int64_t sent;
};
/* ---- encoders ---- */

enum field {
	F_EVENT_ID,
	F_SPECIMEN_ID,
	F_PATIENT_KEY,
	F_TEST_CODE,
	F_RESULT_CODE,
	F_VALUE,
	F_UNIT,
	F_STATUS,
	F_RESULT_VERSION,
	F_RETEST_PENDING,
	F_CONTACT_KEYS,
	F_RECORDED_AT,
	F_SOURCE_SYSTEM,
	F_LAB_SITE,
	F_EXTRA_CODES,
	F_NOTIFICATION_ID,
	F_INTENDED,
	F_RECIPIENT_KEY,
	F_RECIPIENT_HINT,
	F_CHANNEL,
	F_BATCH_ID,
	F_SENT_AT,
	F_TEMPLATE_ID,
	F_ATTEMPT,
	F_COUNT
};
static const char *const field_names[F_COUNT] = {
    "event_id",
    "specimen_id",
    "patient_key",
    "test_code",
    "result_code",
    "value",
    "unit",
    "status",
    "result_version",
    "retest_pending",
    "contact_keys",
    "recorded_at",
    "source_system",
    "lab_site",
    "extra_codes",
    "notification_id",
    "intended_specimen_id",
    "recipient_key",
    "recipient_hint",
    "channel",
    "batch_id",
    "sent_at",
    "template_id",
    "attempt",
};

enum { W_RESULT, W_NOTIF, W_RESULT_EVOLVED, W_NOTIF_EVOLVED, W_COUNT };

struct wschema {
	int32_t id;
	avro_schema_t schema;
	avro_value_iface_t *iface;
	avro_value_t rec;
	int has_rec;
	int fidx[F_COUNT];	  /* field index, -1 = absent */
	int null_branch[F_COUNT]; /* union branches, -1 = not a union */
	int val_branch[F_COUNT];
	int value_is_float;
	int enum_map[CH_COUNT]; /* our status/channel -> writer symbol */
};

struct lw_traffic {
	lw_traffic_config cfg;
	rng world, wire;
	struct wschema ws[W_COUNT];
	avro_writer_t writer;
	unsigned char *buf; /* the current message value */
	size_t buf_cap, len;
	char *oversized; /* source_system text of "oversized", lazily made */

	struct hent *heap;
	size_t heap_n, heap_cap;
	uint64_t seq;
	struct spec live; /* sentinel of the live list */

	int64_t clock;
	uint64_t next_serial, generated, next_index, orphans, batches;
	unsigned fault_rr;
	char prev_id[ID_BUF]; /* specimen of the previous regular message */

	/* timing derived from the rule settings */
	int64_t margin_min; /* least margin under an SLA for clean sends */
	int64_t dmax;	    /* clean delay bound under the shorter SLA */
	int64_t max_gen;    /* newest event time generated so far */
	int64_t max_event;  /* newest event time emitted so far */

	/* volume_surge: the one burst */
	int surge_done;
	uint64_t burst_batch;
	int64_t burst_lo, burst_hi;
	struct smirror sm;

	/* truth lines waiting for the stream's end to be known */
	struct pend *pend;
	size_t npend, pend_cap;
	int64_t pend_min;
	struct sbuf sb;

	/* evaluator scratch, sized to the largest specimen */
	struct nflags *nf;
	struct rcpt *distinct;
	uint8_t *nseen, *nall;
	size_t scratch_cap;
	struct tinc ftinc[MAX_TINC]; /* the timer incidents being checked */
	struct fpair *pairs;
	size_t pairs_cap;

	lw_traffic_emit_cb emit;
	void *opaque;
	FILE *truth;
	int ran, stop, failed;
	lw_traffic_stats st;
};

/* Encoding a fixed, valid schema cannot fail on valid data; if it does it
 * is a bug here, so it is loud. */
static void avro_fail(const char *what)
{
	fprintf(stderr, "traffic: %s: %s\n", what, avro_strerror());
	abort();
}
#define AVRO_OK(call)                     \
	do {                              \
		if ((call) != 0)          \
			avro_fail(#call); \
	} while (0)

static int wschema_init(struct wschema *w, int32_t id, const char *json,
			const char *const *syms, int nsyms, enum field enum_f,
			char *errstr, size_t errstr_size)
{
	avro_schema_t es;
	size_t nf;

	w->id = id;
	if (avro_schema_from_json_length(json, strlen(json), &w->schema)) {
		snprintf(errstr, errstr_size, "writer schema %d: %s", (int)id,
			 avro_strerror());
		return -1;
	}
	w->iface = avro_generic_class_from_schema(w->schema);
	if (!w->iface || avro_generic_value_new(w->iface, &w->rec)) {
		snprintf(errstr, errstr_size, "writer schema %d: %s", (int)id,
			 avro_strerror());
		return -1;
	}
	w->has_rec = 1;
	/* every field of the writer must be one we know how to fill */
	nf = avro_schema_record_size(w->schema);
	for (size_t i = 0; i < nf; i++) {
		const char *name =
		    avro_schema_record_field_name(w->schema, (int)i);
		int known = 0;
		for (int f = 0; f < F_COUNT; f++)
			known |= !strcmp(name, field_names[f]);
		if (!known) {
			snprintf(errstr, errstr_size,
				 "writer schema %d: unknown field %s", (int)id,
				 name);
			return -1;
		}
	}
	for (int f = 0; f < F_COUNT; f++) {
		avro_schema_t fs;
		w->fidx[f] = -1;
		w->null_branch[f] = w->val_branch[f] = -1;
		for (size_t i = 0; i < nf; i++)
			if (!strcmp(avro_schema_record_field_name(w->schema,
								  (int)i),
				    field_names[f]))
				w->fidx[f] = (int)i;
		if (w->fidx[f] < 0)
			continue;
		fs = avro_schema_record_field_get_by_index(w->schema,
							   w->fidx[f]);
		if (!is_avro_union(fs))
			continue;
		for (size_t b = 0; b < avro_schema_union_size(fs); b++) {
			avro_schema_t bs = avro_schema_union_branch(fs, (int)b);
			if (is_avro_null(bs)) {
				w->null_branch[f] = (int)b;
			} else {
				w->val_branch[f] = (int)b;
				if (f == F_VALUE)
					w->value_is_float = is_avro_float(bs);
			}
		}
	}
	if (w->fidx[enum_f] < 0) {
		snprintf(errstr, errstr_size, "writer schema %d: no %s",
			 (int)id, field_names[enum_f]);
		return -1;
	}
	es = avro_schema_record_field_get_by_index(w->schema, w->fidx[enum_f]);
	for (int i = 0; i < nsyms; i++) {
		w->enum_map[i] = is_avro_enum(es)
				     ? avro_schema_enum_get_by_name(es, syms[i])
				     : -1;
		if (w->enum_map[i] < 0) {
			snprintf(errstr, errstr_size,
				 "writer schema %d: no symbol %s", (int)id,
				 syms[i]);
			return -1;
		}
	}
	return 0;
}

static void wschema_free(struct wschema *w)
{
	if (w->has_rec)
		avro_value_decref(&w->rec);
	if (w->iface)
		avro_value_iface_decref(w->iface);
	if (w->schema)
		avro_schema_decref(w->schema);
}

/* The field's value, or NULL when this writer schema lacks the field. */
static avro_value_t *fld(struct wschema *w, enum field f, avro_value_t *out)
{
	if (w->fidx[f] < 0)
		return NULL;
	AVRO_OK(
	    avro_value_get_by_index(&w->rec, (size_t)w->fidx[f], out, NULL));
	return out;
}

static void set_str(struct wschema *w, enum field f, const char *s)
{
	avro_value_t v;
	if (fld(w, f, &v))
		AVRO_OK(avro_value_set_string(&v, s));
}

static void set_int(struct wschema *w, enum field f, int32_t x)
{
	avro_value_t v;
	if (fld(w, f, &v))
		AVRO_OK(avro_value_set_int(&v, x));
}

static void set_long(struct wschema *w, enum field f, int64_t x)
{
	avro_value_t v;
	if (fld(w, f, &v))
		AVRO_OK(avro_value_set_long(&v, x));
}

static void set_bool(struct wschema *w, enum field f, int x)
{
	avro_value_t v;
	if (fld(w, f, &v))
		AVRO_OK(avro_value_set_boolean(&v, x));
}

static void set_enum(struct wschema *w, enum field f, int ours)
{
	avro_value_t v;
	if (fld(w, f, &v))
		AVRO_OK(avro_value_set_enum(&v, w->enum_map[ours]));
}

/* Selects the union branch for a value or for null; *branch receives the
 * value to fill. Returns 0 if the field is absent or null was chosen. */
static int set_union(struct wschema *w, enum field f, int present,
		     avro_value_t *branch)
{
	avro_value_t v;
	if (!fld(w, f, &v))
		return 0;
	AVRO_OK(avro_value_set_branch(
	    &v, present ? w->val_branch[f] : w->null_branch[f], branch));
	if (!present)
		AVRO_OK(avro_value_set_null(branch));
	return present;
}

static void set_opt_str(struct wschema *w, enum field f, const char *s)
{
	avro_value_t b;
	if (set_union(w, f, s != NULL, &b))
		AVRO_OK(avro_value_set_string(&b, s));
}

static void set_opt_int(struct wschema *w, enum field f, int present, int32_t x)
{
	avro_value_t b;
	if (set_union(w, f, present, &b))
		AVRO_OK(avro_value_set_int(&b, x));
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void buf_reserve(lw_traffic *t, size_t n)
{
	if (n <= t->buf_cap)
		return;
	while (t->buf_cap < n)
		t->buf_cap *= 2;
	t->buf = lw_xrealloc(t->buf, t->buf_cap);
}

/* Writes the prepared record as 0, big-endian schema ID, Avro body. */
static void finish(lw_traffic *t, struct wschema *w)
{
	size_t n;
	AVRO_OK(avro_value_sizeof(&w->rec, &n));
	buf_reserve(t, 5 + n);
	t->buf[0] = 0;
	put_be32(t->buf + 1, (uint32_t)w->id);
	avro_writer_memory_set_dest(t->writer, (const char *)t->buf + 5,
				    (int64_t)n);
	AVRO_OK(avro_value_write(t->writer, &w->rec));
	t->len = 5 + n;
}

static void render_hex(char *out, uint64_t hi, uint64_t lo)
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[i] = hx[(hi >> (60 - 4 * i)) & 0xf];
		out[16 + i] = hx[(lo >> (60 - 4 * i)) & 0xf];
	}
	out[32] = '\0';
}

/* "pk_"/"rk_" + 32 hex: looks like a truncated HMAC, is a hash. */
static void render_key(const lw_traffic *t, char out[KEY_BUF], uint64_t dom,
		       uint64_t owner, uint64_t slot)
{
	uint64_t s = t->cfg.seed;
	out[0] = dom == DOM_PATIENT ? 'p' : 'r';
	out[1] = 'k';
	out[2] = '_';
	render_hex(out + 3, mix(s, dom, owner, slot),
		   mix(s ^ 0x5bd1e995, dom, owner, slot));
}

static void render_uuid(const lw_traffic *t, char out[37], uint64_t dom,
			uint64_t owner, uint64_t n)
{
	uint64_t hi = mix(t->cfg.seed, dom, owner, n);
	uint64_t lo = mix(t->cfg.seed ^ 0x2545f4914f6cdd1dULL, dom, owner, n);
	snprintf(out, 37,
		 "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-%" PRIx64
		 "%03" PRIx64 "-%012" PRIx64,
		 hi >> 32, (hi >> 16) & 0xffff, hi & 0xfff,
		 8 | ((lo >> 62) & 3), (lo >> 48) & 0xfff,
		 lo & (uint64_t)0xffffffffffffULL);
}

static void render_id(char out[ID_BUF], uint64_t serial)
{
	snprintf(out, ID_BUF, "SP%09" PRIu64,
		 (100000000 + serial) % 1000000000);
}

/* Masked hint for humans; never a realistic full address. */
static const char *render_hint(const lw_traffic *t, char out[32],
			       const struct notif *n)
{
	uint64_t h = mix(t->cfg.seed, DOM_HINT, n->to.owner, n->to.slot);
	unsigned d = (unsigned)(h % 100);
	switch (n->channel) {
	case CH_EMAIL:
		snprintf(out, 32, "%c%c***@%c***.%s",
			 'a' + (int)((h >> 8) % 26),
			 'a' + (int)((h >> 16) % 26),
			 'a' + (int)((h >> 24) % 26), tlds[(h >> 32) % 4]);
		return out;
	case CH_SMS:
	case CH_PHONE:
		snprintf(out, 32, "+81-**-****-%02u", d);
		return out;
	case CH_FAX:
		snprintf(out, 32, "+81-*-****-%02u", d);
		return out;
	case CH_LETTER:
		snprintf(out, 32, "***-**%02u", d);
		return out;
	default:
		return NULL;
	}
}

static void encode_result(lw_traffic *t, const struct spec *s,
			  const struct result *r, int evolved,
			  const char *specimen_id, const char *source_system)
{
	struct wschema *w = &t->ws[evolved ? W_RESULT_EVOLVED : W_RESULT];
	char eid[37], key[KEY_BUF];
	avro_value_t v, el;
	const struct test_def *td = &tests[s->test];

	AVRO_OK(avro_value_reset(&w->rec));
	render_uuid(t, eid, DOM_EVENT, s->serial, (uint64_t)(r - s->res));
	set_str(w, F_EVENT_ID, eid);
	set_str(w, F_SPECIMEN_ID, specimen_id);
	render_key(t, key, DOM_PATIENT, s->serial, 0);
	set_str(w, F_PATIENT_KEY, key);
	set_str(w, F_TEST_CODE, td->code);
	set_str(w, F_RESULT_CODE, r->code);
	if (set_union(w, F_VALUE, r->has_value, &el)) {
		if (w->value_is_float)
			AVRO_OK(avro_value_set_float(&el, (float)r->value));
		else
			AVRO_OK(avro_value_set_double(&el, r->value));
	}
	set_opt_str(w, F_UNIT, r->has_value ? "Ct" : NULL);
	set_enum(w, F_STATUS, r->status);
	set_int(w, F_RESULT_VERSION, r->version);
	set_bool(w, F_RETEST_PENDING, r->retest_pending);
	if (fld(w, F_CONTACT_KEYS, &v)) {
		for (unsigned i = 0; i < s->ncontacts; i++) {
			render_key(t, key, DOM_RECIPIENT, s->serial, i);
			AVRO_OK(avro_value_append(&v, &el, NULL));
			AVRO_OK(avro_value_set_string(&el, key));
		}
	}
	set_long(w, F_RECORDED_AT, r->recorded_at);
	set_str(w, F_SOURCE_SYSTEM, source_system ? source_system : "LIS-A");
	set_str(w, F_LAB_SITE, lab_sites[s->serial % 4]);
	if (fld(w, F_EXTRA_CODES, &v) && s->serial % 5) {
		AVRO_OK(avro_value_add(&v, "loinc", &el, NULL, NULL));
		AVRO_OK(avro_value_set_string(&el, td->loinc));
		AVRO_OK(avro_value_add(&v, "method", &el, NULL, NULL));
		AVRO_OK(avro_value_set_string(&el, td->method));
	}
	finish(t, w);
}

static const char *template_of(const struct notif *n)
{
	if (!n->has_code)
		return "result-ready-v3";
	if (n->version >= 2)
		return "result-corrected-v1";
	return n->channel == CH_SMS ? "result-sms-v2" : "result-detail-v4";
}

static void encode_notif(lw_traffic *t, const struct spec *s,
			 const struct notif *n, const char *specimen_id)
{
	struct wschema *w = &t->ws[n->evolved ? W_NOTIF_EVOLVED : W_NOTIF];
	char nid[37], key[KEY_BUF], hint[32], other[ID_BUF], batch[24];
	const char *intended = NULL;

	AVRO_OK(avro_value_reset(&w->rec));
	render_uuid(t, nid, DOM_NOTIF, s->serial, (uint64_t)(n - s->notifs));
	set_str(w, F_NOTIFICATION_ID, nid);
	set_str(w, F_SPECIMEN_ID, specimen_id);
	switch (n->intended_kind) {
	case INT_SELF:
		intended = s->id;
		break;
	case INT_EMPTY:
		intended = "";
		break;
	case INT_OTHER:
		render_id(other, n->intended);
		intended = other;
		break;
	}
	set_opt_str(w, F_INTENDED, intended);
	render_key(t, key, DOM_RECIPIENT, n->to.owner, n->to.slot);
	set_str(w, F_RECIPIENT_KEY, key);
	set_opt_str(w, F_RECIPIENT_HINT, render_hint(t, hint, n));
	set_enum(w, F_CHANNEL, n->channel);
	set_opt_str(w, F_RESULT_CODE, n->has_code ? n->code : NULL);
	set_opt_int(w, F_RESULT_VERSION, n->version != 0, n->version);
	if (n->batch)
		snprintf(batch, sizeof batch, "B%010" PRIu64, n->batch);
	set_opt_str(w, F_BATCH_ID, n->batch ? batch : NULL);
	set_long(w, F_SENT_AT, n->sent_at);
	set_str(w, F_TEMPLATE_ID, template_of(n));
	set_int(w, F_ATTEMPT, n->attempt);
	finish(t, w);
}

/* ---- the rules, as a reference implementation for the truth ---- */

/* processor/codes.c's normalization: surrounding white space trimmed, ASCII
 * upper-cased, inner runs of white space or '_' one space */
static void norm_code(const char *in, char out[CODE_MAX])
{
	size_t o = 0;
	int space = 0;
	for (; *in; in++) {
		char ch = *in;
		if (ch == ' ' || ch == '\t' || ch == '_' || ch == '\r' ||
		    ch == '\n') {
			space = 1;
			continue;
		}
		if (space && o > 0 && o < CODE_MAX - 1)
			out[o++] = ' ';
		space = 0;
		if (o < CODE_MAX - 1)
			out[o++] = (char)toupper((unsigned char)ch);
	}
	out[o] = '\0';
}

static int in_list(const char *code, const char *const *list, size_t n)
{
	char c[CODE_MAX];
	norm_code(code, c);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(c, list[i]))
			return 1;
	return 0;
}

/* polarity as lw_codes_polarity() has it; "IND", "A1", ... are neither */
static int is_pos(const char *code)
{
	return in_list(code, polarity_pos,
		       sizeof polarity_pos / sizeof *polarity_pos);
}

static int is_neg(const char *code)
{
	return in_list(code, polarity_neg,
		       sizeof polarity_neg / sizeof *polarity_neg);
}

static int code_eq(const char *a, const char *b)
{
	char x[CODE_MAX], y[CODE_MAX];
	norm_code(a, x);
	norm_code(b, y);
	return !strcmp(x, y);
}

static int is_final_st(int st)
{
	return st == ST_FINAL || st == ST_CORRECTED;
}

static int is_withdrawal(int st)
{
	return st == ST_CANCELLED || st == ST_EIE;
}

/* SLA of a result code (rules.h: no per-code overrides modelled) */
static int64_t sla_of(const lw_traffic *t, const char *code)
{
	return is_pos(code) ? t->cfg.sla_critical_ms : t->cfg.sla_default_ms;
}

struct nflags {
	uint8_t seen, rm, rm_crit, st, wr;
};

/* Is res[a] newer than res[b]: version, then recorded_at, then produce
 * order (the processor's last tie-break is the offset; the generator never
 * makes the first two equal). */
static int res_newer(const struct spec *s, int a, int b)
{
	const struct result *x = &s->res[a], *y = &s->res[b];
	if (x->version != y->version)
		return x->version > y->version;
	if (x->recorded_at != y->recorded_at)
		return x->recorded_at > y->recorded_at;
	return a > b;
}

/* The newest seen result recorded at or before upto, or -1 (rules.h:
 * in_force; with upto = INT64_MAX the newest result). */
static int newest_res(const struct spec *s, const uint8_t *seen, int64_t upto)
{
	int best = -1;
	for (int i = 0; i < s->nres; i++)
		if (seen[i] && s->res[i].recorded_at <= upto &&
		    (best < 0 || res_newer(s, i, best)))
			best = i;
	return best;
}

/* ref(N): among the final results seen, the highest version recorded at or
 * before N.sent_at; failing that, the lowest version recorded within the
 * clock skew after it; failing that, none: the notification waits. So does
 * one stating a version newer than any result seen (rules.h). */
static const struct result *ref_of(const lw_traffic *t, const struct spec *s,
				   const uint8_t *res_seen,
				   const struct notif *n)
{
	const struct result *best = NULL, *low = NULL;
	int maxv = 0;
	for (int i = 0; i < s->nres; i++) {
		const struct result *r = &s->res[i];
		if (!res_seen[i])
			continue;
		if (r->version > maxv)
			maxv = r->version;
		if (!is_final_st(r->status))
			continue;
		if (r->recorded_at <= n->sent_at) {
			if (!best || r->version > best->version)
				best = r;
		} else if (r->recorded_at <=
			       n->sent_at + t->cfg.clock_skew_ms &&
			   (!low || r->version < low->version)) {
			low = r;
		}
	}
	if (n->version && n->version > maxv)
		return NULL;
	return best ? best : low;
}

/* The content verdicts on one notification; content rules are silent when
 * the newest result withdrew the record. */
static void judge(const lw_traffic *t, const struct spec *s,
		  const struct notif *n, const uint8_t *res_seen, int contacts,
		  int withdrawn, struct nflags *f)
{
	const struct result *ref = withdrawn ? NULL : ref_of(t, s, res_seen, n);
	f->rm = f->rm_crit = f->st = 0;
	if (ref && n->has_code && !code_eq(n->code, ref->code)) {
		f->rm = 1;
		f->rm_crit = is_pos(ref->code) && is_neg(n->code);
	}
	if (ref && n->version && n->version < ref->version)
		f->st = 1;
	f->wr = contacts &&
		!(n->to.owner == s->serial && n->to.slot < s->ncontacts);
}

/* Is res[r] the earliest seen final record of its version? */
static int first_of_version(const struct spec *s, const uint8_t *rs, int r)
{
	for (int k = 0; k < s->nres; k++)
		if (k != r && rs[k] && is_final_st(s->res[k].status) &&
		    s->res[k].version == s->res[r].version &&
		    (s->res[k].recorded_at < s->res[r].recorded_at ||
		     (s->res[k].recorded_at == s->res[r].recorded_at && k < r)))
			return 0;
	return 1;
}

/* Was some final result seen recorded at or before t? */
static int told_final(const struct spec *s, const uint8_t *rs, int64_t t)
{
	for (int k = 0; k < s->nres; k++)
		if (rs[k] && is_final_st(s->res[k].status) &&
		    s->res[k].recorded_at <= t)
			return 1;
	return 0;
}

static void tinc_put(struct tinc *out, int *n, int rule, int sev, int32_t ver,
		     int64_t due)
{
	out[*n].rule = (uint8_t)rule;
	out[*n].sev = (uint8_t)sev;
	out[*n].ver = ver;
	out[*n].due = due;
	(*n)++;
}

/* The timer incidents that hold at stream time now for the results (rs)
 * and notifications (ns) seen, as processor/rules.c computes them; each
 * with the time it began to hold. Returns their number. */
static int timer_eval(const lw_traffic *t, const struct spec *s,
		      const uint8_t *rs, const uint8_t *ns, int64_t now,
		      struct tinc *out)
{
	const lw_traffic_config *c = &t->cfg;
	int64_t skew = c->clock_skew_ms, d_orph = INT64_MAX, d_sbf = INT64_MAX,
		d_saw = INT64_MAX;
	int n = 0, newest = newest_res(s, rs, INT64_MAX);

	if (newest >= 0 && !is_withdrawal(s->res[newest].status)) {
		int missing = -1;
		int64_t m_due = INT64_MAX;
		for (int r = 0; r < s->nres; r++) {
			const struct result *v = &s->res[r];
			int64_t rec = v->recorded_at, due;
			int covered = 0, superseded = 0, prior = 0;
			if (!rs[r] || !is_final_st(v->status) ||
			    !first_of_version(s, rs, r))
				continue;
			due = rec + sla_of(t, v->code);
			for (int k = 0; k < s->nres && !superseded; k++)
				superseded = rs[k] &&
					     is_final_st(s->res[k].status) &&
					     s->res[k].version > v->version &&
					     s->res[k].recorded_at <= due;
			for (int i = 0; i < s->nnotif && !covered; i++) {
				const struct notif *no = &s->notifs[i];
				covered =
				    ns[i] && no->sent_at >= rec - skew &&
				    no->sent_at <= due &&
				    (!no->version || no->version >= v->version);
			}
			if (superseded || covered || now < due)
				continue;
			for (int i = 0; i < s->nnotif && !prior; i++)
				prior = ns[i] &&
					s->notifs[i].sent_at < rec - skew &&
					told_final(s, rs,
						   s->notifs[i].sent_at + skew);
			if (prior) {
				tinc_put(out, &n,
					 LW_TRAFFIC_RULE_CORRECTED_AFTER_NOTIFY,
					 LW_TRAFFIC_SEV_HIGH, v->version, due);
			} else {
				if (missing < 0 ||
				    v->version < s->res[missing].version)
					missing = r;
				if (due < m_due)
					m_due = due;
			}
		}
		if (missing >= 0)
			tinc_put(out, &n, LW_TRAFFIC_RULE_MISSING_NOTIFICATION,
				 is_pos(s->res[missing].code)
				     ? LW_TRAFFIC_SEV_CRITICAL
				     : LW_TRAFFIC_SEV_HIGH,
				 0, m_due);
	}
	for (int i = 0; i < s->nnotif; i++) {
		int64_t sent = s->notifs[i].sent_at, due = sent + skew;
		int found = 0, f;
		if (!ns[i])
			continue;
		if (now >= sent + c->orphan_grace_ms) {
			for (int r = 0; r < s->nres && !found; r++)
				found = rs[r] && s->res[r].recorded_at <=
						     sent + c->orphan_grace_ms;
			if (!found && sent + c->orphan_grace_ms < d_orph)
				d_orph = sent + c->orphan_grace_ms;
		}
		if (now < due)
			continue;
		f = newest_res(s, rs, due);
		if (f < 0)
			continue;
		if (s->res[f].status == ST_PRELIMINARY ||
		    s->res[f].retest_pending) {
			if (due < d_sbf)
				d_sbf = due;
		} else if (is_withdrawal(s->res[f].status) && due < d_saw) {
			d_saw = due;
		}
	}
	if (d_orph != INT64_MAX)
		tinc_put(out, &n, LW_TRAFFIC_RULE_ORPHAN_NOTIFICATION,
			 LW_TRAFFIC_SEV_HIGH, 0, d_orph);
	if (d_sbf != INT64_MAX)
		tinc_put(out, &n, LW_TRAFFIC_RULE_SENT_BEFORE_FINAL,
			 LW_TRAFFIC_SEV_HIGH, 0, d_sbf);
	if (d_saw != INT64_MAX)
		tinc_put(out, &n, LW_TRAFFIC_RULE_SENT_AFTER_WITHDRAWAL,
			 LW_TRAFFIC_SEV_HIGH, 0, d_saw);
	return n;
}

/* The incident of the complete specimen (t->ftinc) with g's identity, if
 * it has g's severity; else NULL. */
static const struct tinc *tinc_match(const lw_traffic *t, const struct spec *s,
				     const struct tinc *g)
{
	const struct tinc *f = t->ftinc;
	for (int k = 0; k < s->ntinc; k++)
		if (f[k].rule == g->rule && f[k].ver == g->ver)
			return f[k].sev == g->sev ? &f[k] : NULL;
	return NULL;
}

/* With every event in, the timer incidents may only appear as their due
 * times pass and never change severity: checked at every time where the
 * outcome can change. */
static int timer_stable(const lw_traffic *t, const struct spec *s,
			const uint8_t *rs, const uint8_t *ns)
{
	const lw_traffic_config *c = &t->cfg;
	struct tinc g[MAX_TINC];
	for (int i = 0; i < s->nres + 2 * s->nnotif; i++) {
		int64_t at;
		int ng, want = 0;
		if (i < s->nres) {
			if (!is_final_st(s->res[i].status))
				continue;
			at = s->res[i].recorded_at + sla_of(t, s->res[i].code);
		} else if (i < s->nres + s->nnotif) {
			at = s->notifs[i - s->nres].sent_at + c->clock_skew_ms;
		} else {
			at = s->notifs[i - s->nres - s->nnotif].sent_at +
			     c->orphan_grace_ms;
		}
		for (int d = -1; d <= 0; d++) {
			ng = timer_eval(t, s, rs, ns, at + d, g);
			want = 0;
			for (int k = 0; k < s->ntinc; k++)
				want += t->ftinc[k].due <= at + d;
			if (ng != want)
				return -1;
			for (int k = 0; k < ng; k++) {
				const struct tinc *f = tinc_match(t, s, &g[k]);
				if (!f || f->due > at + d)
					return -1;
			}
		}
	}
	return 0;
}

static void scratch_reserve(lw_traffic *t, size_t n)
{
	if (n <= t->scratch_cap)
		return;
	t->scratch_cap = n;
	t->nf = lw_xrealloc(t->nf, n * sizeof *t->nf);
	t->distinct = lw_xrealloc(t->distinct, n * sizeof *t->distinct);
	t->nseen = lw_xrealloc(t->nseen, n);
	t->nall = lw_xrealloc(t->nall, n);
}

/* Replays s's events in produce order and records, per content rule, the
 * local event after which the incident first exists and its severity, and
 * the timer incidents of the complete specimen (t->ftinc). Returns -1 if a
 * content incident later disappears or changes severity, if more than one
 * notification offends a per-notification rule, or if a prefix shows a
 * timer incident that the complete specimen does not (file comment). */
static int eval_spec(lw_traffic *t, struct spec *s)
{
	uint8_t res_seen[MAX_RESULTS] = {0}, all_res[MAX_RESULTS];
	int present[NCONTENT] = {0};
	int sev[NCONTENT] = {0};
	int have_res = 0, ndistinct = 0;
	struct nflags *nf;
	struct tinc g[MAX_TINC];

	scratch_reserve(t, (size_t)s->nnotif + 1);
	nf = t->nf;
	memset(nf, 0, (size_t)s->nnotif * sizeof *nf);
	memset(t->nseen, 0, (size_t)s->nnotif);
	memset(t->nall, 1, (size_t)s->nnotif);
	memset(all_res, 1, sizeof all_res);
	s->ninc = 0;
	s->ntinc = timer_eval(t, s, all_res, t->nall, INT64_MAX, t->ftinc);
	if (s->ntinc && timer_stable(t, s, all_res, t->nall))
		return -1;
	for (int i = 0; i < s->nev; i++) {
		const struct event *e = &s->ev[i];
		int cur[NCONTENT] = {0};
		int csev[NCONTENT];
		int n_rm = 0, n_st = 0, contacts, newest, withdrawn;

		if (e->kind == EV_RESULT) {
			res_seen[e->ref] = 1;
			have_res = 1;
		} else if (!nf[e->ref].seen) {
			const struct notif *n = &s->notifs[e->ref];
			int k;
			nf[e->ref].seen = 1;
			t->nseen[e->ref] = 1;
			for (k = 0; k < ndistinct; k++)
				if (t->distinct[k].owner == n->to.owner &&
				    t->distinct[k].slot == n->to.slot)
					break;
			if (k == ndistinct)
				t->distinct[ndistinct++] = n->to;
		}
		contacts = have_res ? s->ncontacts : 0;
		newest = newest_res(s, res_seen, INT64_MAX);
		withdrawn = newest >= 0 && is_withdrawal(s->res[newest].status);
		for (int k = 0; k < NCONTENT; k++)
			csev[k] = LW_TRAFFIC_SEV_HIGH;
		csev[LW_TRAFFIC_RULE_FANOUT] = LW_TRAFFIC_SEV_CRITICAL;
		csev[LW_TRAFFIC_RULE_RECORD_MISMATCH] = LW_TRAFFIC_SEV_CRITICAL;
		for (int k = 0; k < s->nnotif; k++) {
			const struct notif *n = &s->notifs[k];
			if (!nf[k].seen)
				continue;
			/* a result can change ref() and the contacts of every
			 * notification; recomputing all is cheap at this size
			 */
			judge(t, s, n, res_seen, contacts, withdrawn, &nf[k]);
			if (nf[k].rm) {
				n_rm++;
				cur[LW_TRAFFIC_RULE_RESULT_MISMATCH] = 1;
				if (nf[k].rm_crit)
					csev[LW_TRAFFIC_RULE_RESULT_MISMATCH] =
					    LW_TRAFFIC_SEV_CRITICAL;
			}
			if (nf[k].st) {
				n_st++;
				cur[LW_TRAFFIC_RULE_STALE_VERSION] = 1;
			}
			if (nf[k].wr) {
				cur[LW_TRAFFIC_RULE_WRONG_RECIPIENT] = 1;
				if (n->has_code)
					csev[LW_TRAFFIC_RULE_WRONG_RECIPIENT] =
					    LW_TRAFFIC_SEV_CRITICAL;
			}
			if (n->intended_kind == INT_OTHER)
				cur[LW_TRAFFIC_RULE_RECORD_MISMATCH] = 1;
		}
		/* FANOUT needs a result: its threshold is the contacts */
		cur[LW_TRAFFIC_RULE_FANOUT] =
		    have_res && ndistinct > (contacts ? contacts : 2);
		if (n_rm > 1 || n_st > 1)
			return -1;
		for (int r = 0; r < NCONTENT; r++) {
			if (cur[r] && !present[r]) {
				struct incident *in = &s->inc[s->ninc++];
				present[r] = 1;
				sev[r] = csev[r];
				in->rule = (uint8_t)r;
				in->sev = (uint8_t)csev[r];
				in->trigger = (int16_t)i;
			} else if (present[r] &&
				   (!cur[r] || sev[r] != csev[r])) {
				return -1;
			}
		}
		/* the furthest the stream time can be before the next event
		 * of this specimen arrives */
		if (i + 1 < s->nev) {
			int64_t now = s->ev[i + 1].emit_ms -
				      t->cfg.lateness_ms - 1 + SLACK_MS;
			int ng = timer_eval(t, s, res_seen, t->nseen, now, g);
			for (int k = 0; k < ng; k++)
				if (!tinc_match(t, s, &g[k]))
					return -1;
		}
	}
	return 0;
}

/* The incidents a specimen is designed to cause, as a rule -> severity
 * table (-1 = none); FANIN and VOLUME_SURGE are checked per group/run. */
static void expected_set(const struct spec *s, int exp[])
{
	for (int r = 0; r < LW_TRAFFIC_RULE_COUNT; r++)
		exp[r] = -1;
	if (s->role != ROLE_FAULT)
		return;
	switch (s->fault) {
	case LW_TRAFFIC_FAULT_POS_TOLD_NEG:
		exp[LW_TRAFFIC_RULE_RESULT_MISMATCH] = LW_TRAFFIC_SEV_CRITICAL;
		break;
	case LW_TRAFFIC_FAULT_NEG_TOLD_POS:
		exp[LW_TRAFFIC_RULE_RESULT_MISMATCH] = LW_TRAFFIC_SEV_HIGH;
		break;
	case LW_TRAFFIC_FAULT_STALE_SAME_CODE:
		exp[LW_TRAFFIC_RULE_STALE_VERSION] = LW_TRAFFIC_SEV_HIGH;
		break;
	case LW_TRAFFIC_FAULT_STALE_WRONG_CODE:
		exp[LW_TRAFFIC_RULE_RESULT_MISMATCH] = LW_TRAFFIC_SEV_CRITICAL;
		exp[LW_TRAFFIC_RULE_STALE_VERSION] = LW_TRAFFIC_SEV_HIGH;
		break;
	case LW_TRAFFIC_FAULT_WRONG_RECIPIENT:
		exp[LW_TRAFFIC_RULE_WRONG_RECIPIENT] =
		    s->variant ? LW_TRAFFIC_SEV_HIGH : LW_TRAFFIC_SEV_CRITICAL;
		break;
	case LW_TRAFFIC_FAULT_BATCH_FANOUT:
		exp[LW_TRAFFIC_RULE_FANOUT] = LW_TRAFFIC_SEV_CRITICAL;
		exp[LW_TRAFFIC_RULE_WRONG_RECIPIENT] = LW_TRAFFIC_SEV_CRITICAL;
		exp[LW_TRAFFIC_RULE_RECORD_MISMATCH] = LW_TRAFFIC_SEV_CRITICAL;
		break;
	case LW_TRAFFIC_FAULT_RECORD_MISMATCH_SINGLE:
		exp[LW_TRAFFIC_RULE_WRONG_RECIPIENT] = LW_TRAFFIC_SEV_CRITICAL;
		exp[LW_TRAFFIC_RULE_RECORD_MISMATCH] = LW_TRAFFIC_SEV_CRITICAL;
		break;
	case LW_TRAFFIC_FAULT_MISSING_NOTIFICATION:
		exp[LW_TRAFFIC_RULE_MISSING_NOTIFICATION] =
		    s->variant ? LW_TRAFFIC_SEV_CRITICAL : LW_TRAFFIC_SEV_HIGH;
		break;
	case LW_TRAFFIC_FAULT_CORRECTED_AFTER_NOTIFY:
		exp[LW_TRAFFIC_RULE_CORRECTED_AFTER_NOTIFY] =
		    LW_TRAFFIC_SEV_HIGH;
		break;
	case LW_TRAFFIC_FAULT_ORPHAN_NOTIFICATION:
		exp[LW_TRAFFIC_RULE_ORPHAN_NOTIFICATION] = LW_TRAFFIC_SEV_HIGH;
		break;
	case LW_TRAFFIC_FAULT_SENT_BEFORE_FINAL:
		exp[LW_TRAFFIC_RULE_SENT_BEFORE_FINAL] = LW_TRAFFIC_SEV_HIGH;
		break;
	case LW_TRAFFIC_FAULT_SENT_AFTER_WITHDRAWAL:
		exp[LW_TRAFFIC_RULE_SENT_AFTER_WITHDRAWAL] =
		    LW_TRAFFIC_SEV_HIGH;
		break;
	case LW_TRAFFIC_FAULT_FANIN:
		exp[LW_TRAFFIC_RULE_WRONG_RECIPIENT] = LW_TRAFFIC_SEV_CRITICAL;
		break;
	}
}

static int check_spec(lw_traffic *t, struct spec *s)
{
	int exp[LW_TRAFFIC_RULE_COUNT], got[LW_TRAFFIC_RULE_COUNT];
	if (eval_spec(t, s))
		return -1;
	expected_set(s, exp);
	for (int r = 0; r < LW_TRAFFIC_RULE_COUNT; r++)
		got[r] = -1;
	for (int i = 0; i < s->ninc; i++)
		got[s->inc[i].rule] = s->inc[i].sev;
	for (int i = 0; i < s->ntinc; i++) {
		if (got[t->ftinc[i].rule] >= 0)
			return -1; /* two of one rule: not designed */
		got[t->ftinc[i].rule] = t->ftinc[i].sev;
	}
	return memcmp(exp, got, sizeof exp) ? -1 : 0;
}

/* ---- building specimens ---- */

/* min_contacts: 0 lets a patient have no contact at all, else the least
 * number of contacts (1..3). */
static struct spec *spec_new(lw_traffic *t, int role, int min_contacts)
{
	rng *r = &t->world;
	struct spec *s = lw_xcalloc(1, sizeof *s);
	int no_contact = rng_chance(r, NO_CONTACT_SHARE);

	s->serial = ++t->next_serial;
	render_id(s->id, s->serial);
	s->role = (uint8_t)role;
	s->ncontacts =
	    (uint8_t)((no_contact && !min_contacts)
			  ? 0
			  : rng_range(r, min_contacts > 1 ? 2 : 1, 3));
	s->test = (uint8_t)rng_range(r, 0, NTESTS - 1);
	s->rnotif = -1;
	s->next = &t->live;
	s->prev = t->live.prev;
	t->live.prev->next = s;
	t->live.prev = s;
	t->generated++;
	t->st.specimens++;
	if (role == ROLE_TARGET)
		t->st.targets++;
	return s;
}

/* The fault specimen X of a group, labelled in the truth. */
static struct spec *fault_new(lw_traffic *t, int kind, int min_contacts)
{
	struct spec *x = spec_new(t, ROLE_FAULT, min_contacts);
	x->fault = (uint8_t)kind;
	x->label = 1;
	t->st.faults[kind]++;
	return x;
}

static void spec_free(struct spec *s)
{
	s->prev->next = s->next;
	s->next->prev = s->prev;
	if (s->fg && --s->fg->refs == 0)
		free(s->fg);
	free(s->notifs);
	free(s->ev);
	free(s->tinc);
	free(s);
}

static struct result *add_result(lw_traffic *t, struct spec *s, int status,
				 int version, int64_t at, const char *code)
{
	struct result *r = &s->res[s->nres++];
	rng *g = &t->world;
	r->status = (uint8_t)status;
	r->version = version;
	r->recorded_at = at;
	snprintf(r->code, CODE_MAX, "%s", code);
	if (is_pos(code) || !strcmp(code, "IND")) {
		/* a Ct value: low means much virus; IND sits near the cut-off
		 */
		double lo = is_pos(code) ? 15.0 : 36.0;
		double span = is_pos(code) ? 20.0 : 4.0;
		r->has_value = 1;
		r->value =
		    (double)(int64_t)((lo + rng_unit(g) * span) * 100.0 + 0.5) /
		    100.0;
	}
	return r;
}

static void stated_code(rng *r, char out[CODE_MAX], const char *code)
{
	int64_t u = rng_range(r, 0, 99);
	if (u < 2) {
		size_t i;
		for (i = 0; code[i] && i < CODE_MAX - 1; i++)
			out[i] = (char)tolower((unsigned char)code[i]);
		out[i] = '\0';
	} else if (u < 4) {
		snprintf(out, CODE_MAX, " %s ", code);
	} else {
		snprintf(out, CODE_MAX, "%s", code);
	}
}

static int pick_channel(rng *r)
{
	int64_t u = rng_range(r, 0, 99);
	if (u < 55)
		return CH_EMAIL;
	if (u < 85)
		return CH_SMS;
	if (u < 95)
		return CH_LETTER;
	if (u < 98)
		return CH_PHONE;
	return u < 99 ? CH_FAX : CH_HANDOVER;
}

/* code NULL: a "your result is ready" notice; version 0: null version. */
static struct notif *add_notif(lw_traffic *t, struct spec *s, int64_t sent,
			       struct rcpt to, const char *code, int version)
{
	rng *r = &t->world;
	struct notif *n;
	int64_t u;

	if (s->nnotif == s->notif_cap) {
		s->notif_cap = s->notif_cap ? 2 * s->notif_cap : 4;
		s->notifs =
		    lw_xrealloc(s->notifs, (size_t)s->notif_cap * sizeof *n);
	}
	n = &s->notifs[s->nnotif++];
	memset(n, 0, sizeof *n);
	n->sent_at = sent;
	n->to = to;
	n->version = version;
	n->channel = (uint8_t)(code ? pick_channel(r) : CH_PORTAL);
	u = rng_range(r, 0, 99);
	n->attempt = (uint8_t)(u < 90 ? 1 : u < 98 ? 2 : 3);
	u = rng_range(r, 0, 99);
	n->intended_kind = (uint8_t)(u < 65   ? INT_NULL
				     : u < 98 ? INT_SELF
					      : INT_EMPTY);
	if (code) {
		n->has_code = 1;
		stated_code(r, n->code, code);
	}
	return n;
}

/* The delays after a result within which a clean notification about it
 * goes out: up to its SLA less a margin (a fifth of the SLA, within
 * [margin_min, 1 h]), at most 20 h; from 5 min, or half that bound. */
static void delay_bounds(const lw_traffic *t, int64_t sla, int64_t *lo,
			 int64_t *hi)
{
	int64_t margin = sla / 5;
	if (margin > HOUR_MS)
		margin = HOUR_MS;
	if (margin < t->margin_min)
		margin = t->margin_min;
	*hi = sla - margin;
	if (*hi > 20 * HOUR_MS)
		*hi = 20 * HOUR_MS;
	*lo = *hi / 2 < 5 * MIN_MS ? *hi / 2 : 5 * MIN_MS;
}

/* A clean delay for a result of this code, most within a fraction of the
 * bound; cap (0 = none) shortens the bound for faults with a schedule. */
static int64_t notify_delay(lw_traffic *t, const char *code, int64_t cap)
{
	double u = rng_unit(&t->world);
	int64_t lo, hi;
	delay_bounds(t, sla_of(t, code), &lo, &hi);
	if (cap && hi > cap)
		hi = cap > lo ? cap : lo;
	return lo + (int64_t)(u * u * (double)(hi - lo));
}

/* A recipient that keeps the distinct count within the threshold: one of
 * the contacts from min_slot on, or one of two unregistered keys when
 * there are none. */
static struct rcpt pool_rcpt(lw_traffic *t, const struct spec *s, int min_slot)
{
	struct rcpt to = {s->serial, 0};
	if (s->ncontacts)
		to.slot =
		    (uint32_t)rng_range(&t->world, min_slot, s->ncontacts - 1);
	else
		to.slot =
		    SLOT_NONCONTACT + (uint32_t)rng_range(&t->world, 0, 1);
	return to;
}

static const char *pick(rng *r, const char *const *list, size_t n,
			int first_pct)
{
	if (rng_range(r, 0, 99) < first_pct)
		return list[0];
	return list[rng_range(r, 1, (int64_t)n - 1)];
}

static const char *clean_code(rng *r)
{
	int64_t u = rng_range(r, 0, 99);
	if (u < 70)
		return rng_chance(r, 0.9) ? "NEG" : "NOT DETECTED";
	if (u < 84)
		return rng_chance(r, 0.8) ? "POS" : "DETECTED";
	if (u < 92)
		return "IND";
	return coded_values[rng_range(r, 0, 3)];
}

/* A code that is not positive: negative, indeterminate or coded. */
static const char *other_code(rng *r)
{
	int64_t u = rng_range(r, 0, 99);
	if (u < 60)
		return pick(r, neg_codes, 6, 70);
	if (u < 80)
		return "IND";
	return coded_values[rng_range(r, 0, 3)];
}

/* What a correction changes a code to. */
static const char *flipped(const char *code)
{
	return is_pos(code) ? "NEG" : is_neg(code) ? "POS" : "NEG";
}

/* Results of a specimen arriving at t0: maybe a PRELIMINARY v1, then the
 * FINAL v1. Returns the FINAL's recorded_at. */
static int64_t gen_results(lw_traffic *t, struct spec *s, int64_t t0,
			   const char *code, const char *prelim_code)
{
	rng *r = &t->world;
	int64_t at = t0 + rng_range(r, 10 * MIN_MS, 6 * HOUR_MS);
	if (rng_chance(r, PRELIM_SHARE)) {
		struct result *p;
		if (!prelim_code)
			prelim_code = rng_chance(r, 0.5) ? code : "IND";
		p = add_result(t, s, ST_PRELIMINARY, 1, at, prelim_code);
		p->retest_pending = (uint8_t)rng_chance(r, RETEST_SHARE);
		at += rng_range(r, 30 * MIN_MS, 12 * HOUR_MS);
	}
	add_result(t, s, ST_FINAL, 1, at, code);
	return at;
}

/* The same on a short schedule (FINAL within 2 h of t0), for the timer
 * faults, whose due times must be known to lie before the end. */
static int64_t gen_results_short(lw_traffic *t, struct spec *s, int64_t t0,
				 const char *code)
{
	rng *r = &t->world;
	int64_t at = t0 + rng_range(r, 10 * MIN_MS, HOUR_MS);
	if (rng_chance(r, PRELIM_SHARE)) {
		struct result *p =
		    add_result(t, s, ST_PRELIMINARY, 1, at,
			       rng_chance(r, 0.5) ? code : "IND");
		p->retest_pending = (uint8_t)rng_chance(r, RETEST_SHARE);
		at += rng_range(r, 15 * MIN_MS, HOUR_MS);
	}
	add_result(t, s, ST_FINAL, 1, at, code);
	return at;
}

/* A clean notification about (code, version) to a recipient from
 * min_slot on; portal notices and code-only messages when allowed.
 * Returns its sent_at. */
static int64_t clean_notif(lw_traffic *t, struct spec *s, int64_t after,
			   const char *code, int version, int variants,
			   int min_slot)
{
	rng *r = &t->world;
	int64_t sent = after + notify_delay(t, code, 0);
	struct rcpt to = pool_rcpt(t, s, min_slot);
	int64_t u = rng_range(r, 0, 99);
	struct notif *n;

	if (variants && u < PORTAL_SHARE * 100)
		n = add_notif(t, s, sent, to, NULL, 0);
	else if (variants && u < (PORTAL_SHARE + CODE_ONLY_SHARE) * 100)
		n = add_notif(t, s, sent, to, code, 0);
	else
		n = add_notif(t, s, sent, to, code, version);
	if (rng_chance(r, DUP_SHARE))
		n->dup_after = (int32_t)rng_range(r, 1000, 10 * MIN_MS);
	return sent;
}

static void gen_clean(lw_traffic *t, int64_t t0)
{
	rng *r = &t->world;
	struct spec *s = spec_new(t, ROLE_CLEAN, 0);
	const char *c1 = clean_code(r);
	int64_t fin = gen_results(t, s, t0, c1, NULL);
	int64_t n1 = rng_range(r, 1, 3), last = fin;
	int correct = rng_chance(r, CORRECTION_SHARE);

	for (int64_t i = 0; i < n1; i++) {
		int64_t sent = clean_notif(t, s, fin, c1, 1, 1, 0);
		if (sent > last)
			last = sent;
	}
	if (correct) {
		/* corrected after every v1 notice went out; re-notified with
		 * the new code and version 2 (never null) within its SLA */
		const char *c2 = c1;
		int64_t rec2 = last + rng_range(r, 10 * MIN_MS, 12 * HOUR_MS);
		int64_t n2 = rng_range(r, 1, 2);
		if (!rng_chance(r, 0.4))
			c2 = flipped(c1);
		add_result(t, s, ST_CORRECTED, 2, rec2, c2);
		for (int64_t i = 0; i < n2; i++)
			clean_notif(t, s, rec2, c2, 2, 0, 0);
		t->st.corrections++;
	}
}

/* A specimen (with >= 2 contacts) a fault points at. It is notified
 * properly itself, on contacts other than the first: the fault's misdirected
 * mail goes to contact 0, which so never receives two patients' records. */
static struct spec *gen_target(lw_traffic *t, int64_t t0)
{
	struct spec *y = spec_new(t, ROLE_TARGET, 2);
	const char *code = clean_code(&t->world);
	int64_t fin = gen_results(t, y, t0, code, NULL);
	clean_notif(t, y, fin, code, 1, 1, 1);
	return y;
}

/* The classic kinds (the first seven); targets first, then X. */
static void gen_classic(lw_traffic *t, int64_t t0, int kind)
{
	rng *r = &t->world;
	struct spec *x, *y = NULL;
	int64_t fin, k = 0;
	const char *code;

	if (kind == LW_TRAFFIC_FAULT_BATCH_FANOUT) {
		uint64_t room = t->cfg.specimens - t->generated - 1;
		k = rng_range(r, t->cfg.fanout_min, t->cfg.fanout_max);
		if ((uint64_t)k > room)
			k = (int64_t)room;
		for (int64_t i = 0; i < k; i++) {
			struct spec *yi = gen_target(t, t0);
			if (!i)
				y = yi;
		}
	} else if (kind == LW_TRAFFIC_FAULT_RECORD_MISMATCH_SINGLE) {
		y = gen_target(t, t0);
		k = 1;
	}
	x = fault_new(t, kind,
		      kind != LW_TRAFFIC_FAULT_STALE_SAME_CODE &&
			  kind != LW_TRAFFIC_FAULT_STALE_WRONG_CODE);
	if (y) {
		x->targets_first = y->serial;
		x->targets = (uint64_t)k;
	}

	switch (kind) {
	case LW_TRAFFIC_FAULT_POS_TOLD_NEG:
	case LW_TRAFFIC_FAULT_NEG_TOLD_POS: {
		/* told the opposite of the FINAL, e.g. the preliminary's */
		int pos = kind == LW_TRAFFIC_FAULT_POS_TOLD_NEG;
		const char *right =
		    pos ? pick(r, pos_codes, 4, 70) : pick(r, neg_codes, 6, 70);
		const char *wrong =
		    pos ? pick(r, neg_codes, 6, 70) : pick(r, pos_codes, 4, 70);
		fin = gen_results(t, x, t0, right, wrong);
		if (rng_chance(r, 0.5))
			add_notif(t, x, fin + notify_delay(t, right, 0),
				  pool_rcpt(t, x, 0), right, 1);
		add_notif(t, x, fin + notify_delay(t, right, 0),
			  pool_rcpt(t, x, 0), wrong,
			  rng_chance(r, 0.8) ? 1 : 0);
		break;
	}
	case LW_TRAFFIC_FAULT_STALE_SAME_CODE:
	case LW_TRAFFIC_FAULT_STALE_WRONG_CODE: {
		/* v2 recorded before the send, within v1's SLA (so v1 needs no
		 * notice of its own); the sender still used v1; a correct
		 * re-send follows within v2's SLA */
		const char *c1 = pick(r, neg_codes, 6, 70);
		const char *c2 = kind == LW_TRAFFIC_FAULT_STALE_SAME_CODE
				     ? c1
				     : pick(r, pos_codes, 4, 70);
		int64_t rec2, lo, hi, sent;
		fin = gen_results(t, x, t0, c1, NULL);
		delay_bounds(t, sla_of(t, c1), &lo, &hi);
		rec2 = fin +
		       rng_range(r, hi / 4 < 30 * MIN_MS ? hi / 4 : 30 * MIN_MS,
				 hi < 6 * HOUR_MS ? hi : 6 * HOUR_MS);
		add_result(t, x, ST_CORRECTED, 2, rec2, c2);
		delay_bounds(t, sla_of(t, c2), &lo, &hi);
		sent = rec2 + rng_range(r, lo, (lo + hi) / 2);
		add_notif(t, x, sent, pool_rcpt(t, x, 0), c1, 1);
		add_notif(t, x, rng_range(r, sent + MIN_MS, rec2 + hi),
			  pool_rcpt(t, x, 0), c2, 2);
		break;
	}
	case LW_TRAFFIC_FAULT_WRONG_RECIPIENT: {
		/* one non-contact; the other recipients are distinct contacts
		 * and fewer than the contacts, so no FANOUT */
		struct rcpt stranger = {x->serial, SLOT_STRANGER};
		int64_t others = rng_range(r, 0, x->ncontacts - 1);
		uint32_t rot = (uint32_t)rng_range(r, 0, x->ncontacts - 1);
		struct notif *n;
		code = clean_code(r);
		fin = gen_results(t, x, t0, code, NULL);
		x->variant = (uint8_t)rng_chance(r, NULL_VARIANT_SHARE);
		for (int64_t i = 0; i < others; i++) {
			struct rcpt to = {x->serial,
					  (rot + (uint32_t)i) % x->ncontacts};
			add_notif(t, x, fin + notify_delay(t, code, 0), to,
				  code, 1);
		}
		n = add_notif(t, x, fin + notify_delay(t, code, 0), stranger,
			      x->variant ? NULL : code, x->variant ? 0 : 1);
		if (x->variant)
			n->channel = CH_EMAIL;
		break;
	}
	case LW_TRAFFIC_FAULT_BATCH_FANOUT: {
		/* case 2: X's record rendered into every PDF of a batch; each
		 * mail goes to the person the sender meant (Yi's contact) */
		uint64_t batch = ++t->batches;
		int64_t sent;
		code = clean_code(r);
		fin = gen_results(t, x, t0, code, NULL);
		sent = fin + notify_delay(t, code, 0);
		for (int64_t i = 0; i < k; i++) {
			struct rcpt to = {y->serial + (uint64_t)i, 0};
			struct notif *n = add_notif(t, x, sent, to, code, 1);
			n->intended_kind = INT_OTHER;
			n->intended = y->serial + (uint64_t)i;
			n->batch = batch;
			n->channel = CH_EMAIL;
			sent += rng_range(r, 20, 400);
		}
		break;
	}
	case LW_TRAFFIC_FAULT_RECORD_MISMATCH_SINGLE: {
		struct rcpt to = {y->serial, 0};
		struct notif *n;
		code = clean_code(r);
		fin = gen_results(t, x, t0, code, NULL);
		n = add_notif(t, x, fin + notify_delay(t, code, 0), to, code,
			      1);
		n->intended_kind = INT_OTHER;
		n->intended = y->serial;
		break;
	}
	}
}

/* missing_notification: a FINAL nobody is told. */
static void gen_missing(lw_traffic *t, int64_t t0)
{
	rng *r = &t->world;
	struct spec *x = fault_new(t, LW_TRAFFIC_FAULT_MISSING_NOTIFICATION, 0);
	int pos = rng_chance(r, 0.5);
	x->variant = (uint8_t)pos;
	gen_results_short(t, x, t0,
			  pos ? pick(r, pos_codes, 4, 70) : other_code(r));
}

/* corrected_after_notify: v1 notified in time, v2 CORRECTED after every v1
 * notice; nobody told of v2 within its SLA, or only after it (late). */
static void gen_corrected(lw_traffic *t, int64_t t0)
{
	rng *r = &t->world;
	struct spec *x =
	    fault_new(t, LW_TRAFFIC_FAULT_CORRECTED_AFTER_NOTIFY, 0);
	const char *c1 = clean_code(r), *c2 = c1;
	int64_t fin = gen_results_short(t, x, t0, c1), last = fin, rec2;
	int64_t n1 = rng_range(r, 1, 2);
	for (int64_t i = 0; i < n1; i++) {
		int64_t sent = fin + notify_delay(t, c1, 0);
		add_notif(t, x, sent, pool_rcpt(t, x, 0), c1,
			  rng_chance(r, 0.8) ? 1 : 0);
		if (sent > last)
			last = sent;
	}
	rec2 = last + rng_range(r, 10 * MIN_MS, HOUR_MS);
	if (!rng_chance(r, 0.4))
		c2 = flipped(c1);
	add_result(t, x, ST_CORRECTED, 2, rec2, c2);
	x->variant = (uint8_t)rng_chance(r, 0.5);
	if (x->variant)
		add_notif(t, x,
			  rec2 + sla_of(t, c2) +
			      rng_range(r, 10 * MIN_MS, HOUR_MS),
			  pool_rcpt(t, x, 0), c2, 2);
}

/* orphan_notification: one or two sends for a specimen never resulted
 * (case 3: "your appointment is confirmed" with no current record). */
static void gen_orphan(lw_traffic *t, int64_t t0)
{
	rng *r = &t->world;
	struct spec *x = fault_new(t, LW_TRAFFIC_FAULT_ORPHAN_NOTIFICATION, 0);
	int64_t sent = t0 + rng_range(r, 10 * MIN_MS, HOUR_MS);
	int64_t k = rng_range(r, 1, 2);
	const char *code = clean_code(r);
	x->variant = (uint8_t)rng_chance(r, 0.3);
	for (int64_t i = 0; i < k; i++) {
		struct rcpt to = {x->serial, SLOT_NONCONTACT + (uint32_t)i};
		add_notif(t, x, sent, to, x->variant ? NULL : code,
			  x->variant ? 0 : 1);
		sent += rng_range(r, MIN_MS, 30 * MIN_MS);
	}
}

/* sent_before_final (case 7): sent while a PRELIMINARY was in force, or a
 * FINAL saying retest_pending; the final result is notified properly. */
static void gen_before_final(lw_traffic *t, int64_t t0)
{
	rng *r = &t->world;
	struct spec *x = fault_new(t, LW_TRAFFIC_FAULT_SENT_BEFORE_FINAL, 0);
	x->variant = (uint8_t)rng_chance(r, 0.5);
	if (!x->variant) {
		const char *fcode = clean_code(r);
		const char *pcode = rng_chance(r, 0.5) ? fcode : "IND";
		int64_t p = t0 + rng_range(r, 10 * MIN_MS, HOUR_MS), sent, fin;
		struct result *pr =
		    add_result(t, x, ST_PRELIMINARY, 1, p, pcode);
		pr->retest_pending = (uint8_t)rng_chance(r, 0.5);
		sent = p + rng_range(r, 5 * MIN_MS, 30 * MIN_MS);
		add_notif(t, x, sent, pool_rcpt(t, x, 0), pcode, 1);
		fin = sent + rng_range(r, 10 * MIN_MS, 2 * HOUR_MS);
		add_result(t, x, ST_FINAL, 1, fin, fcode);
		add_notif(t, x, fin + notify_delay(t, fcode, 0),
			  pool_rcpt(t, x, 0), fcode, 1);
	} else {
		const char *c1 = clean_code(r);
		const char *c2 = rng_chance(r, 0.6) ? c1 : flipped(c1);
		int64_t fin = t0 + rng_range(r, 10 * MIN_MS, HOUR_MS), sent,
			rec2;
		struct result *f = add_result(t, x, ST_FINAL, 1, fin, c1);
		f->retest_pending = 1;
		sent = fin + notify_delay(t, c1, HOUR_MS);
		add_notif(t, x, sent, pool_rcpt(t, x, 0), c1, 1);
		rec2 = sent + rng_range(r, 30 * MIN_MS, 3 * HOUR_MS);
		add_result(t, x, ST_FINAL, 2, rec2, c2);
		add_notif(t, x, rec2 + notify_delay(t, c2, 0),
			  pool_rcpt(t, x, 0), c2, 2);
	}
}

/* sent_after_withdrawal: notified properly, then CANCELLED or
 * ENTERED_IN_ERROR (same version, later), then sent again anyway. */
static void gen_after_withdrawal(lw_traffic *t, int64_t t0)
{
	rng *r = &t->world;
	struct spec *x =
	    fault_new(t, LW_TRAFFIC_FAULT_SENT_AFTER_WITHDRAWAL, 0);
	const char *c1 = clean_code(r);
	int64_t fin = t0 + rng_range(r, 10 * MIN_MS, HOUR_MS), last = fin, w;
	int64_t n1 = rng_range(r, 1, 2);
	int stated;
	add_result(t, x, ST_FINAL, 1, fin, c1);
	for (int64_t i = 0; i < n1; i++) {
		int64_t sent = fin + notify_delay(t, c1, 2 * HOUR_MS);
		add_notif(t, x, sent, pool_rcpt(t, x, 0), c1, 1);
		if (sent > last)
			last = sent;
	}
	x->variant = (uint8_t)rng_chance(r, 0.5);
	w = last + rng_range(r, 10 * MIN_MS, HOUR_MS);
	add_result(t, x, x->variant ? ST_EIE : ST_CANCELLED, 1, w, c1);
	stated = rng_chance(r, 0.7);
	add_notif(t, x, w + rng_range(r, 5 * MIN_MS, HOUR_MS),
		  pool_rcpt(t, x, 0), stated ? c1 : NULL, stated ? 1 : 0);
}

/* fanin (cases 4, 5): m patients' records, each the only notice of its
 * FINAL, all mailed to one stranger within minutes. */
static void gen_fanin(lw_traffic *t, int64_t t0, int m)
{
	rng *r = &t->world;
	struct fgroup *fg = lw_xcalloc(1, sizeof *fg);
	int64_t q = t->dmax / 4 < 5 * MIN_MS ? t->dmax / 4 : 5 * MIN_MS;
	int64_t f0 = t0 + rng_range(r, 10 * MIN_MS, 30 * MIN_MS);
	int64_t t1 = f0 + t->dmax / 2, step = q / m;
	struct spec *x = NULL;
	struct rcpt stranger = {0, SLOT_FANIN};

	fg->m = fg->refs = fg->left = m;
	fg->accept = m - (int)t->cfg.fanin_threshold;
	snprintf(fg->ridx, sizeof fg->ridx, "-");
	for (int j = 0; j < m; j++) {
		struct spec *y = j ? spec_new(t, ROLE_FAULT, 1)
				   : fault_new(t, LW_TRAFFIC_FAULT_FANIN, 1);
		const char *code = clean_code(r);
		struct notif *n;
		y->fault = LW_TRAFFIC_FAULT_FANIN;
		y->fg = fg;
		y->fno = (uint16_t)j;
		if (!j) {
			x = y;
			fg->first = stranger.owner = y->serial;
		} else {
			t->st.targets++;
		}
		add_result(t, y, ST_FINAL, 1, f0 + rng_range(r, 0, q), code);
		n = add_notif(t, y, t1 + j * step + rng_range(r, 0, step / 2),
			      stranger, code, 1);
		n->channel = CH_EMAIL;
		y->rnotif = 0;
	}
	x->targets = (uint64_t)m - 1;
	x->targets_first = x->serial + 1;
}

/* volume_surge: surge_burst specimens, each clean, all notified by one
 * batch job within a few minutes. */
static void gen_burst(lw_traffic *t, int64_t t0)
{
	rng *r = &t->world;
	int64_t t1 = t0 + 30 * MIN_MS;
	int64_t span = t->dmax / 4 < 3 * MIN_MS ? t->dmax / 4 : 3 * MIN_MS;
	uint64_t batch = ++t->batches;
	struct spec *x = NULL;

	t->surge_done = 1;
	t->burst_batch = batch;
	t->burst_lo = t1;
	t->burst_hi = t1 + span;
	for (uint32_t j = 0; j < t->cfg.surge_burst; j++) {
		struct spec *y =
		    j ? spec_new(t, ROLE_TARGET, 0)
		      : fault_new(t, LW_TRAFFIC_FAULT_VOLUME_SURGE, 0);
		const char *code = clean_code(r);
		struct notif *n;
		if (!j)
			x = y;
		add_result(t, y, ST_FINAL, 1,
			   t1 - t->dmax / 2 + rng_range(r, 0, t->dmax / 4),
			   code);
		n = add_notif(t, y, t1 + rng_range(r, 0, span),
			      pool_rcpt(t, y, 0), code, 1);
		n->batch = batch;
		n->channel = CH_EMAIL;
	}
	x->targets = t->cfg.surge_burst - 1;
	x->targets_first = x->targets ? x->serial + 1 : 0;
}

static void gen_fault(lw_traffic *t, int64_t t0, int kind)
{
	switch (kind) {
	case LW_TRAFFIC_FAULT_MISSING_NOTIFICATION:
		gen_missing(t, t0);
		break;
	case LW_TRAFFIC_FAULT_CORRECTED_AFTER_NOTIFY:
		gen_corrected(t, t0);
		break;
	case LW_TRAFFIC_FAULT_ORPHAN_NOTIFICATION:
		gen_orphan(t, t0);
		break;
	case LW_TRAFFIC_FAULT_SENT_BEFORE_FINAL:
		gen_before_final(t, t0);
		break;
	case LW_TRAFFIC_FAULT_SENT_AFTER_WITHDRAWAL:
		gen_after_withdrawal(t, t0);
		break;
	case LW_TRAFFIC_FAULT_FANIN: {
		uint64_t left = t->cfg.specimens - t->generated;
		int64_t m = (int64_t)t->cfg.fanin_threshold + 1 +
			    rng_range(&t->world, 0, 2);
		if ((uint64_t)m > left)
			m = (int64_t)left;
		gen_fanin(t, t0, (int)m);
		break;
	}
	case LW_TRAFFIC_FAULT_VOLUME_SURGE:
		gen_burst(t, t0);
		break;
	default:
		gen_classic(t, t0, kind);
		break;
	}
}

static void build_events(struct spec *s, int late)
{
	int n = s->nres, first = -1, seen = 0;

	for (int i = 0; i < s->nnotif; i++)
		n += 1 + (s->notifs[i].dup_after != 0);
	if (n > s->ev_cap) {
		s->ev_cap = n;
		s->ev = lw_xrealloc(s->ev, (size_t)n * sizeof *s->ev);
	}
	s->nev = 0;
	for (int i = 0; i < s->nres; i++)
		s->ev[s->nev++] =
		    (struct event){.emit_ms = s->res[i].recorded_at,
				   .ref = (uint16_t)i,
				   .kind = EV_RESULT};
	for (int i = 0; i < s->nnotif; i++) {
		const struct notif *no = &s->notifs[i];
		s->ev[s->nev++] = (struct event){.emit_ms = no->sent_at,
						 .ref = (uint16_t)i,
						 .kind = EV_NOTIF};
		if (no->dup_after)
			s->ev[s->nev++] = (struct event){
			    .emit_ms = no->sent_at + no->dup_after,
			    .ref = (uint16_t)i,
			    .kind = EV_NOTIF,
			    .dup = 1};
	}
	/* stable insertion sort: ties keep creation order */
	for (int i = 1; i < s->nev; i++) {
		struct event e = s->ev[i];
		int j = i;
		while (j > 0 && s->ev[j - 1].emit_ms > e.emit_ms) {
			s->ev[j] = s->ev[j - 1];
			j--;
		}
		s->ev[j] = e;
	}
	if (!late)
		return;
	for (int i = 0; i < s->nev && first < 0; i++)
		if (s->ev[i].kind == EV_NOTIF && ++seen == late)
			first = i;
	if (first < 0)
		return;
	/* move the results before that notification to just after it */
	{
		struct event moved[MAX_RESULTS];
		int nm = 0, w = 0;
		int64_t at = s->ev[first].emit_ms;
		for (int i = 0; i <= first; i++) {
			if (s->ev[i].kind == EV_RESULT)
				moved[nm++] = s->ev[i];
			else
				s->ev[w++] = s->ev[i];
		}
		/* now w + nm == first + 1: the tail stays where it is */
		for (int i = 0; i < nm; i++) {
			moved[i].emit_ms = at;
			s->ev[w + i] = moved[i];
		}
	}
}

static int hent_less(const struct hent *a, const struct hent *b)
{
	return a->emit_ms < b->emit_ms ||
	       (a->emit_ms == b->emit_ms && a->seq < b->seq);
}

static void heap_push(lw_traffic *t, struct spec *s, uint32_t ev)
{
	size_t i;
	struct hent e = {s->ev[ev].emit_ms, t->seq++, s, ev};
	if (t->heap_n == t->heap_cap) {
		t->heap_cap = t->heap_cap ? 2 * t->heap_cap : 1024;
		t->heap = lw_xrealloc(t->heap, t->heap_cap * sizeof *t->heap);
	}
	i = t->heap_n++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (hent_less(&t->heap[p], &e))
			break;
		t->heap[i] = t->heap[p];
		i = p;
	}
	t->heap[i] = e;
}

static struct hent heap_pop(lw_traffic *t)
{
	struct hent top = t->heap[0], last = t->heap[--t->heap_n];
	size_t i = 0, n = t->heap_n;
	while (n) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && hent_less(&t->heap[c + 1], &t->heap[c]))
			c++;
		if (!hent_less(&t->heap[c], &last))
			break;
		t->heap[i] = t->heap[c];
		i = c;
	}
	if (n)
		t->heap[i] = last;
	return top;
}

/* Final decisions on a freshly generated specimen (encoding, lateness),
 * the truth replay, then into the heap. */
/* Final decisions on a freshly generated specimen (encoding, lateness),
 * the truth replay, then into the heap. */
static int spec_commit(lw_traffic *t, struct spec *s)
{
	rng *r = &t->world;
	int code_only = 0, late;

	for (int i = 0; i < s->nres; i++) {
		int ev = rng_chance(r, t->cfg.evolved_share);
		/* 101 has no retest_pending: keep the flag where it is set */
		s->res[i].evolved = (uint8_t)(ev && !s->res[i].retest_pending);
		if (s->res[i].recorded_at > t->max_gen)
			t->max_gen = s->res[i].recorded_at;
	}
	for (int i = 0; i < s->nnotif; i++) {
		struct notif *n = &s->notifs[i];
		int ev = rng_chance(r, t->cfg.evolved_share);
		/* 102 has no intended_specimen_id nor batch_id */
		if (ev && n->intended_kind != INT_OTHER && !n->batch) {
			n->evolved = 1;
			n->intended_kind = INT_NULL;
		}
		if (n->has_code && !n->version)
			code_only = 1;
		if (n->sent_at > t->max_gen)
			t->max_gen = n->sent_at;
	}
	/* fan-in members are never late: the FANIN line names the first
	 * member in produce order */
	late = rng_chance(r, t->cfg.late_share) && s->nnotif && s->nres &&
	       !code_only && !s->fg;
	/* clean results come right after the first notification; a fault's
	 * may come after several (FANOUT then waits for the contacts),
	 * as long as the replay shows no incident that comes and goes */
	if (late && s->role == ROLE_FAULT)
		late = (int)rng_range(r, 1, s->nnotif < 8 ? s->nnotif : 8);
	build_events(s, late);
	if (late > 1 && check_spec(t, s)) {
		late = 1;
		build_events(s, late);
	}
	if (late && check_spec(t, s)) {
		late = 0;
		build_events(s, 0);
	}
	if (!late && check_spec(t, s)) {
		lw_log(LW_LOG_ERROR,
		       "traffic: internal error: specimen %s (%s) does not "
		       "produce its designed incidents",
		       s->id,
		       s->role == ROLE_FAULT ? fault_names[s->fault] : "clean");
		t->failed = 1;
		return -1;
	}
	s->late = (uint8_t)late;
	t->st.late_specimens += late != 0;
	if (s->ntinc) {
		s->tinc = lw_xmalloc((size_t)s->ntinc * sizeof *s->tinc);
		memcpy(s->tinc, t->ftinc, (size_t)s->ntinc * sizeof *s->tinc);
	}
	s->pending = s->nev;
	for (int i = 0; i < s->nev; i++)
		heap_push(t, s, (uint32_t)i);
	return 0;
}

static int cmp_fpair(const void *a, const void *b)
{
	const struct fpair *x = a, *y = b;
	if (x->owner != y->owner)
		return x->owner < y->owner ? -1 : 1;
	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	if (x->patient != y->patient)
		return x->patient < y->patient ? -1 : 1;
	return (x->sent > y->sent) - (x->sent < y->sent);
}

/* FANIN over one group (first .. the end of the live list): every
 * recipient key a group sends to is owned by one of its specimens, so no
 * other group reaches it and FANIN can be decided here. Each patient is a
 * specimen with a result (its patient key); a recipient fans in when more
 * than threshold distinct patients reached it within the window. Returns
 * the number of such recipients, or -1 when one is ambiguous (its sends
 * span the window, so the outcome would depend on arrival order). */
static int group_fanin(lw_traffic *t, struct spec *first)
{
	size_t n = 0, i, j;
	int found = 0;
	for (struct spec *s = first; s != &t->live; s = s->next)
		n += s->nres ? (size_t)s->nnotif : 0;
	if (n > t->pairs_cap) {
		t->pairs_cap = n;
		t->pairs = lw_xrealloc(t->pairs, n * sizeof *t->pairs);
	}
	n = 0;
	for (struct spec *s = first; s != &t->live; s = s->next)
		for (int k = 0; s->nres && k < s->nnotif; k++)
			t->pairs[n++] = (struct fpair){
			    s->notifs[k].to.owner, s->serial,
			    s->notifs[k].to.slot, s->notifs[k].sent_at};
	qsort(t->pairs, n, sizeof *t->pairs, cmp_fpair);
	for (i = 0; i < n; i = j) {
		uint32_t patients = 0;
		int64_t lo = INT64_MAX, hi = INT64_MIN;
		for (j = i; j < n && t->pairs[j].owner == t->pairs[i].owner &&
			    t->pairs[j].slot == t->pairs[i].slot;
		     j++) {
			patients += j == i || t->pairs[j].patient !=
						  t->pairs[j - 1].patient;
			if (t->pairs[j].sent < lo)
				lo = t->pairs[j].sent;
			if (t->pairs[j].sent > hi)
				hi = t->pairs[j].sent;
		}
		if (patients <= t->cfg.fanin_threshold)
			continue;
		if (hi - lo >= t->cfg.fanin_window_ms)
			return -1;
		found++;
	}
	return found;
}

/* ---- truth lines: written now, or pending until certain ---- */

static void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		int n;
		size_t room = b->cap - b->n;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->n : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			b->n += (size_t)n;
			return;
		}
		b->cap = 2 * (b->cap + (size_t)n + 64);
		b->p = lw_xrealloc(b->p, b->cap);
	}
}

static void tally_line(struct tally *ty, int rule, int sev)
{
	ty->rule[rule]++;
	ty->sev[sev]++;
}

static void out_write(lw_traffic *t, const char *text, size_t len,
		      const struct tally *ty)
{
	if (t->truth && len)
		fwrite(text, 1, len, t->truth);
	for (int r = 0; r < LW_TRAFFIC_RULE_COUNT; r++)
		t->st.alerts[r] += ty->rule[r];
	for (int v = 0; v < LW_TRAFFIC_SEV_COUNT; v++)
		t->st.alerts_by_severity[v] += ty->sev[v];
}

/* Due times at or before this are certainly more than BAND_LO_MS before
 * the final stream time H (which is at least the newest event time
 * emitted so far, less the lateness). */
static int64_t certain(const lw_traffic *t)
{
	if (t->max_event == INT64_MIN)
		return INT64_MIN;
	return t->max_event - t->cfg.lateness_ms - 1 - BAND_LO_MS;
}

/* Writes the lines in t->sb, whose latest due time is due (INT64_MIN: no
 * timer), now or once certain. */
static void emit_block(lw_traffic *t, int64_t due, const struct tally *ty)
{
	struct pend *p;
	if (due == INT64_MIN || due <= certain(t)) {
		out_write(t, t->sb.p, t->sb.n, ty);
		return;
	}
	if (t->npend == t->pend_cap) {
		t->pend_cap = t->pend_cap ? 2 * t->pend_cap : 64;
		t->pend = lw_xrealloc(t->pend, t->pend_cap * sizeof *t->pend);
	}
	p = &t->pend[t->npend++];
	p->due = due;
	p->len = t->sb.n;
	p->text = lw_xmalloc(p->len + 1);
	memcpy(p->text, t->sb.p ? t->sb.p : "", p->len);
	p->ty = *ty;
	if (t->npend == 1 || due < t->pend_min)
		t->pend_min = due;
}

/* Writes, in order, the pending blocks due at or before limit. */
static void pend_flush(lw_traffic *t, int64_t limit)
{
	size_t w = 0;
	t->pend_min = INT64_MAX;
	for (size_t i = 0; i < t->npend; i++) {
		struct pend *p = &t->pend[i];
		if (p->due <= limit) {
			out_write(t, p->text, p->len, &p->ty);
			free(p->text);
			continue;
		}
		if (p->due < t->pend_min)
			t->pend_min = p->due;
		t->pend[w++] = *p;
	}
	t->npend = w;
}

/* ---- the VOLUME_SURGE mirror (processor/surge.c, close_bucket) ---- */

/* buckets covering ms, at least one (surge.c's nb()) */
static int64_t buckets_of(const lw_traffic *t, int64_t ms)
{
	int64_t n = (ms + t->cfg.surge_bucket_ms - 1) / t->cfg.surge_bucket_ms;
	return n > 0 ? n : 1;
}

static uint64_t sm_get(const struct smirror *m, int64_t b)
{
	if (b < m->lo || b > m->hi)
		return 0;
	return m->cnt[b % m->L];
}

static void surge_start(lw_traffic *t, int64_t b, int cap_hit, uint64_t n)
{
	const lw_traffic_config *c = &t->cfg;
	int64_t end = (b + 1) * c->surge_bucket_ms;
	int64_t from =
	    end - (cap_hit ? t->sm.w : t->sm.sn) * c->surge_bucket_ms;
	int burst = t->burst_batch && t->burst_hi >= from && t->burst_lo < end;
	struct tally ty;
	memset(&ty, 0, sizeof ty);
	t->sb.n = 0;
	sb_printf(&t->sb,
		  "# SURGE\tstart=%" PRId64 "\trule=%s\tcount=%" PRIu64
		  "\tburst=%s\n"
		  "ALERT\tVOLUME_SURGE\t-\tHIGH\t-\t-\t%" PRId64 "\n",
		  end - 1, cap_hit ? "cap" : "baseline", n,
		  burst ? "yes" : "no", end - 1);
	tally_line(&ty, LW_TRAFFIC_RULE_VOLUME_SURGE, LW_TRAFFIC_SEV_HIGH);
	emit_block(t, end - 1, &ty);
}

/* Closes bucket b: the same sums and comparisons as surge.c, kept as
 * running sums (every bucket is closed once, in order). */
static void sm_close(lw_traffic *t, int64_t b)
{
	const lw_traffic_config *c = &t->cfg;
	struct smirror *m = &t->sm;
	int cap_hit = 0, base_hit = 0;
	m->wsum += sm_get(m, b);
	m->wsum -= sm_get(m, b - m->w);
	m->ssum += sm_get(m, b);
	m->ssum -= sm_get(m, b - m->sn);
	m->bsum += sm_get(m, b - m->sn);
	m->bsum -= sm_get(m, b - m->sn - m->bn);
	if (c->surge_cap)
		cap_hit = m->wsum > c->surge_cap;
	if (!cap_hit && c->surge_factor > 0 && m->lo <= b - m->sn - m->bn + 1) {
		double mean = (double)m->bsum * (double)m->sn / (double)m->bn;
		base_hit = m->ssum >= c->surge_min_count &&
			   (double)m->ssum > c->surge_factor * mean;
	}
	if ((cap_hit || base_hit) && !m->active) {
		m->active = 1;
		surge_start(t, b, cap_hit, cap_hit ? m->wsum : m->ssum);
	} else if (!cap_hit && !base_hit) {
		m->active = 0;
	}
}

/* Counts a first delivery. They come in sent_at order (notifications are
 * never moved), so every bucket before this one is complete: close them. */
static void sm_add(lw_traffic *t, int64_t sent)
{
	struct smirror *m = &t->sm;
	int64_t b = sent / t->cfg.surge_bucket_ms;
	if (m->lo == INT64_MIN) {
		m->lo = m->next = b;
		m->hi = b - 1;
	}
	if (b < m->hi) {
		lw_log(LW_LOG_ERROR, "traffic: internal error: notifications "
				     "out of sent_at order");
		t->failed = 1;
		return;
	}
	while (m->next < b)
		sm_close(t, m->next++);
	if (b > m->hi) {
		int64_t k = b - m->hi > m->L ? b - m->L + 1 : m->hi + 1;
		for (; k <= b; k++)
			m->cnt[k % m->L] = 0;
		m->hi = b;
	}
	m->cnt[b % m->L]++;
}

/* The closes the stream time reaches by the end of a run, and those up to
 * BAND_HI_MS past it, which must start nothing (their truth would depend
 * on how long the processor runs idle). */
static void sm_finish(lw_traffic *t, int64_t h)
{
	struct smirror *m = &t->sm;
	int64_t stop = (h + BAND_HI_MS + 1) / t->cfg.surge_bucket_ms;
	int64_t idle = m->hi + (m->w > m->sn + m->bn ? m->w : m->sn + m->bn);
	if (m->lo == INT64_MIN)
		return;
	while (m->next < stop && m->next <= idle)
		sm_close(t, m->next++);
}

/* ---- emitting ---- */

static int deliver(lw_traffic *t, const char *topic, const char *key,
		   const void *value, size_t len, int64_t ts)
{
	lw_traffic_msg m = {
	    .topic = topic,
	    .key = key,
	    .key_len = key ? strlen(key) : 0,
	    .value = value,
	    .value_len = len,
	    .timestamp_ms = ts,
	    .index = t->next_index++,
	};
	t->st.messages++;
	if (topic == t->cfg.results_topic)
		t->st.results++;
	else
		t->st.notifications++;
	if (t->emit(&m, t->opaque)) {
		t->stop = 1;
		return 1;
	}
	return 0;
}

static void truth_printf(lw_traffic *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void truth_printf(lw_traffic *t, const char *fmt, ...)
{
	va_list ap;
	if (!t->truth)
		return;
	va_start(ap, fmt);
	vfprintf(t->truth, fmt, ap);
	va_end(ap);
}

static int pick_bad(lw_traffic *t, int clean_prev)
{
	int total = 0, u, k;
	for (k = 0; k < LW_TRAFFIC_DLQ_COUNT; k++)
		total += dlq_weight[k];
	for (;;) {
		u = (int)rng_range(&t->wire, 0, total - 1);
		for (k = 0; u >= dlq_weight[k]; k++)
			u -= dlq_weight[k];
		/* a missing key is a copy of a clean message just sent */
		if (k != LW_TRAFFIC_DLQ_MISSING_KEY || clean_prev)
			return k;
	}
}

/* One extra bad message after a regular one. The buffer still holds the
 * previous message's value, which missing_key re-sends. The others carry a
 * fresh "orphan" specimen that no truth line depends on. */
static int emit_bad(lw_traffic *t, int clean_prev, const char *prev_topic,
		    int64_t ts)
{
	int kind = pick_bad(t, clean_prev);
	int to_results =
	    kind == LW_TRAFFIC_DLQ_OVERSIZED || rng_chance(&t->wire, 0.5);
	const char *topic =
	    to_results ? t->cfg.results_topic : t->cfg.notifications_topic;
	struct spec o;
	struct notif on;
	char key[ID_BUF];
	const char *k = key;
	uint64_t idx = t->next_index;

	memset(&o, 0, sizeof o);
	o.serial = ORPHAN_SERIAL + ++t->orphans;
	render_id(o.id, o.serial);
	snprintf(key, sizeof key, "%s", o.id);
	o.ncontacts = 1;
	o.nres = 1;
	o.res[0] = (struct result){
	    .recorded_at = ts, .version = 1, .status = ST_FINAL, .code = "NEG"};
	on = (struct notif){.sent_at = ts,
			    .to = {o.serial, 0},
			    .version = 1,
			    .channel = CH_EMAIL,
			    .attempt = 1,
			    .has_code = 1,
			    .code = "NEG"};
	o.notifs = &on;
	o.nnotif = 1;

	switch (kind) {
	case LW_TRAFFIC_DLQ_MISSING_KEY:
		topic = prev_topic;
		k = NULL;
		break;
	case LW_TRAFFIC_DLQ_EMPTY_VALUE:
		t->len = 0;
		break;
	case LW_TRAFFIC_DLQ_OVERSIZED:
		if (!t->oversized) {
			t->oversized =
			    lw_xmalloc(LW_TRAFFIC_OVERSIZED_BYTES + 1);
			memset(t->oversized, 'X', LW_TRAFFIC_OVERSIZED_BYTES);
			memcpy(t->oversized, "LIS-A/", 6);
			t->oversized[LW_TRAFFIC_OVERSIZED_BYTES] = '\0';
		}
		encode_result(t, &o, &o.res[0], 0, o.id, t->oversized);
		break;
	default: {
		const char *sid =
		    kind == LW_TRAFFIC_DLQ_EMPTY_SPECIMEN_ID ? "" : o.id;
		if (to_results)
			encode_result(t, &o, &o.res[0], 0, sid, NULL);
		else
			encode_notif(t, &o, &on, sid);
		break;
	}
	}
	if (kind == LW_TRAFFIC_DLQ_BAD_MAGIC) {
		t->buf[0] = 1;
	} else if (kind == LW_TRAFFIC_DLQ_UNKNOWN_SCHEMA) {
		put_be32(t->buf + 1, LW_TRAFFIC_SCHEMA_ID_UNKNOWN);
	} else if (kind == LW_TRAFFIC_DLQ_MALFORMED_AVRO) {
		if (rng_chance(&t->wire, 0.5)) {
			t->len -=
			    (size_t)rng_range(&t->wire, 1, (int64_t)t->len - 5);
		} else {
			size_t n = (size_t)rng_range(&t->wire, 11, 32);
			buf_reserve(t, 5 + n);
			memset(t->buf + 5, 0xff, n);
			t->len = 5 + n;
		}
	}
	t->st.dlq[kind]++;
	truth_printf(t, "DLQ\t%s\t%s\t%s\t%" PRIu64 "\n", dlq_names[kind],
		     topic, k ? k : "-", idx);
	return deliver(t, topic, k, t->buf, t->len, ts);
}

static void fault_label(lw_traffic *t, const struct spec *s)
{
	char first[ID_BUF] = "-";
	const char *v = variant_names[s->fault][s->variant ? 1 : 0];
	if (s->targets)
		render_id(first, s->targets_first);
	sb_printf(&t->sb,
		  "# FAULT\t%s\t%s\tlate_after=%d\ttargets=%" PRIu64
		  "\tfirst_target=%s",
		  fault_names[s->fault], s->id, s->late, s->targets, first);
	if (s->fault == LW_TRAFFIC_FAULT_WRONG_RECIPIENT && s->variant)
		sb_printf(&t->sb, "\tnull_code");
	if (v)
		sb_printf(&t->sb, "\tvariant=%s", v);
	if (s->fault == LW_TRAFFIC_FAULT_VOLUME_SURGE)
		sb_printf(&t->sb, "\tbatch=B%010" PRIu64 "\tburst=%u",
			  t->burst_batch, (unsigned)t->cfg.surge_burst);
	sb_printf(&t->sb, "\n");
}

/* The FANIN line of a group whose members are all out. */
static void fanin_lines(lw_traffic *t, const struct fgroup *fg,
			struct tally *ty)
{
	char id[ID_BUF];
	render_id(id, fg->first);
	sb_printf(&t->sb, "# FANIN_ACCEPT\t%s\t", id);
	for (int j = 0; j < fg->accept; j++) {
		render_id(id, fg->first + (uint64_t)j);
		sb_printf(&t->sb, "%s%s", j ? "," : "", id);
	}
	render_id(id, fg->first);
	sb_printf(&t->sb, "\nALERT\tFANIN\t%s\tCRITICAL\t%s\t%" PRIu64 "\n", id,
		  fg->ridx, fg->trig);
	tally_line(ty, LW_TRAFFIC_RULE_FANIN, LW_TRAFFIC_SEV_CRITICAL);
}

/* All events of s are out: its truth lines, then it is freed. */
static void spec_done(lw_traffic *t, struct spec *s)
{
	char ridx[24] = "-";
	int64_t due = INT64_MIN;
	struct tally ty;

	if (!s->label && !s->ninc && !s->ntinc && !s->fg) {
		spec_free(s); /* the common case: nothing to say */
		return;
	}
	memset(&ty, 0, sizeof ty);
	t->sb.n = 0;
	for (int i = s->nev - 1; i >= 0; i--)
		if (s->ev[i].kind == EV_RESULT) {
			snprintf(ridx, sizeof ridx, "%" PRIu64, s->ev[i].index);
			break;
		}
	if (s->label)
		fault_label(t, s);
	for (int i = 0; i < s->ninc; i++) {
		const struct incident *in = &s->inc[i];
		sb_printf(&t->sb, "ALERT\t%s\t%s\t%s\t%s\t%" PRIu64 "\n",
			  rule_names[in->rule], s->id, severity_names[in->sev],
			  ridx, s->ev[in->trigger].index);
		tally_line(&ty, in->rule, in->sev);
	}
	for (int i = 0; i < s->ntinc; i++) {
		const struct tinc *in = &s->tinc[i];
		sb_printf(&t->sb, "ALERT\t%s\t%s\t%s\t%s\t-\t%" PRId64 "\n",
			  rule_names[in->rule], s->id, severity_names[in->sev],
			  ridx, in->due);
		tally_line(&ty, in->rule, in->sev);
		if (in->due > due)
			due = in->due;
	}
	if (s->fg) {
		if (!s->fno)
			snprintf(s->fg->ridx, sizeof s->fg->ridx, "%s", ridx);
		if (--s->fg->left == 0)
			fanin_lines(t, s->fg, &ty);
	}
	emit_block(t, due, &ty);
	spec_free(s);
}

static int emit_event(lw_traffic *t, struct spec *s, struct event *e)
{
	const char *topic, *key = s->id;
	char other[ID_BUF];
	int64_t ts;
	int clean = s->role == ROLE_CLEAN;

	if (e->kind == EV_RESULT) {
		const struct result *r = &s->res[e->ref];
		encode_result(t, s, r, r->evolved, s->id, NULL);
		topic = t->cfg.results_topic;
		ts = r->recorded_at;
		t->st.evolved += r->evolved;
	} else {
		const struct notif *n = &s->notifs[e->ref];
		encode_notif(t, s, n, s->id);
		topic = t->cfg.notifications_topic;
		ts = n->sent_at;
		t->st.evolved += n->evolved;
		t->st.duplicates += e->dup;
	}
	/* a clean message now and then keyed by another specimen: processed
	 * under the value's specimen_id, not dead-lettered */
	if (rng_chance(&t->wire, t->cfg.key_mismatch) && clean) {
		if (t->prev_id[0] && strcmp(t->prev_id, s->id))
			snprintf(other, sizeof other, "%s", t->prev_id);
		else
			render_id(other, s->serial + 1);
		key = other;
		t->st.key_mismatch++;
	}
	e->index = t->next_index;
	if (deliver(t, topic, key, t->buf, t->len, ts))
		return 1;
	memcpy(t->prev_id, s->id, ID_BUF);
	if (ts > t->max_event)
		t->max_event = ts;
	if (e->kind == EV_NOTIF && !e->dup) {
		/* a first delivery: what the processor applies and counts */
		if (t->sm.on)
			sm_add(t, ts);
		if (s->fg && e->ref == s->rnotif &&
		    s->fno == t->cfg.fanin_threshold)
			s->fg->trig = e->index;
	}
	if (t->npend && t->pend_min <= certain(t))
		pend_flush(t, certain(t));
	if (rng_chance(&t->wire, t->cfg.bad_rate) &&
	    emit_bad(t, clean, topic, ts))
		return 1;
	if (--s->pending == 0)
		spec_done(t, s);
	return 0;
}

static int emit_due(lw_traffic *t, int64_t upto, int all)
{
	while (t->heap_n && (all || t->heap[0].emit_ms <= upto)) {
		struct hent h = heap_pop(t);
		if (emit_event(t, h.s, &h.s->ev[h.ev]))
			return 1;
	}
	return 0;
}

/* ---- public ---- */

void lw_traffic_config_defaults(lw_traffic_config *c)
{
	memset(c, 0, sizeof *c);
	c->seed = 1;
	c->specimens = 1000;
	c->fault_rate = 0.02;
	c->bad_rate = 0.002;
	c->key_mismatch = 0.005;
	c->evolved_share = 0.10;
	c->late_share = 0.10;
	c->start_ms = 1767571200000LL; /* 2026-01-05T00:00:00Z */
	c->gap_ms = 1500;
	c->fanout_min = 5;
	c->fanout_max = 62;
	c->results_topic = "lab.results";
	c->notifications_topic = "lab.notifications";
	c->faults = LW_TRAFFIC_FAULTS_CLASSIC;
	c->surge_burst = 400;
	c->clock_skew_ms = 5000;
	c->lateness_ms = 5000;
	c->sla_critical_ms = HOUR_MS;
	c->sla_default_ms = DAY_MS;
	c->orphan_grace_ms = HOUR_MS;
	c->fanin_window_ms = DAY_MS;
	c->fanin_threshold = 5;
	c->surge_bucket_ms = MIN_MS;
	c->surge_window_ms = DAY_MS;
	c->surge_cap = 3000;
	c->surge_short_ms = HOUR_MS;
	c->surge_baseline_ms = DAY_MS;
	c->surge_factor = 10;
	c->surge_min_count = 100;
}

enum { P_I64, P_U32, P_U64, P_DBL };

static const struct prop {
	const char *name;
	int type;
	size_t off;
} props[] = {
    {"clock.skew.ms", P_I64, offsetof(lw_traffic_config, clock_skew_ms)},
    {"time.lateness.ms", P_I64, offsetof(lw_traffic_config, lateness_ms)},
    {"sla.critical.ms", P_I64, offsetof(lw_traffic_config, sla_critical_ms)},
    {"sla.default.ms", P_I64, offsetof(lw_traffic_config, sla_default_ms)},
    {"orphan.grace.ms", P_I64, offsetof(lw_traffic_config, orphan_grace_ms)},
    {"fanin.window.ms", P_I64, offsetof(lw_traffic_config, fanin_window_ms)},
    {"fanin.threshold", P_U32, offsetof(lw_traffic_config, fanin_threshold)},
    {"surge.bucket.ms", P_I64, offsetof(lw_traffic_config, surge_bucket_ms)},
    {"surge.window.ms", P_I64, offsetof(lw_traffic_config, surge_window_ms)},
    {"surge.cap", P_U64, offsetof(lw_traffic_config, surge_cap)},
    {"surge.short.ms", P_I64, offsetof(lw_traffic_config, surge_short_ms)},
    {"surge.baseline.ms", P_I64,
     offsetof(lw_traffic_config, surge_baseline_ms)},
    {"surge.factor", P_DBL, offsetof(lw_traffic_config, surge_factor)},
    {"surge.min.count", P_U64, offsetof(lw_traffic_config, surge_min_count)},
};

int lw_traffic_config_set(lw_traffic_config *c, const char *name,
			  const char *value, char *errstr, size_t errstr_size)
{
	for (size_t i = 0; i < sizeof props / sizeof *props; i++) {
		char *p = (char *)c + props[i].off, *end;
		long long v = 0;
		double d = 0;
		if (strcmp(props[i].name, name))
			continue;
		errno = 0;
		if (props[i].type == P_DBL)
			d = strtod(value, &end);
		else
			v = strtoll(value, &end, 10);
		if (!*value || *end || errno || v < 0 ||
		    (props[i].type == P_U32 && v > UINT32_MAX) ||
		    !(d >= 0 && d <= 1e9)) {
			snprintf(errstr, errstr_size, "%s: bad value \"%s\"",
				 name, value);
			return -1;
		}
		switch (props[i].type) {
		case P_I64:
			*(int64_t *)(void *)p = (int64_t)v;
			break;
		case P_U32:
			*(uint32_t *)(void *)p = (uint32_t)v;
			break;
		case P_U64:
			*(uint64_t *)(void *)p = (uint64_t)v;
			break;
		default:
			*(double *)(void *)p = d;
			break;
		}
		return 0;
	}
	snprintf(errstr, errstr_size, "unknown rule setting %s", name);
	return -1;
}

int lw_traffic_faults_parse(const char *list, uint32_t *mask, char *errstr,
			    size_t errstr_size)
{
	uint32_t m = 0;
	const char *p = list;
	for (;;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		int k, found = 0;
		static const struct {
			const char *name;
			uint32_t mask;
		} groups[] = {{"classic", LW_TRAFFIC_FAULTS_CLASSIC},
			      {"new", LW_TRAFFIC_FAULTS_NEW},
			      {"all", LW_TRAFFIC_FAULTS_ALL},
			      {"none", 0}};
		for (k = 0; k < LW_TRAFFIC_FAULT_COUNT && !found; k++)
			if (strlen(fault_names[k]) == n &&
			    !strncmp(fault_names[k], p, n)) {
				m |= 1u << k;
				found = 1;
			}
		for (k = 0; k < 4 && !found; k++)
			if (strlen(groups[k].name) == n &&
			    !strncmp(groups[k].name, p, n)) {
				m |= groups[k].mask;
				found = 1;
			}
		if (!found) {
			snprintf(errstr, errstr_size,
				 "unknown fault kind \"%.*s\"", (int)n, p);
			return -1;
		}
		if (!e)
			break;
		p = e + 1;
	}
	*mask = m;
	return 0;
}

static int rate_ok(double x)
{
	return x >= 0.0 && x <= 1.0;
}

/* The rule settings' ranges: they keep clean traffic clean (every SLA
 * leaves room for a clean delay with its margin) and the mirrors exact. */
static int check_rules(const lw_traffic_config *c, char *errstr,
		       size_t errstr_size)
{
	int64_t margin = SLACK_MS + c->lateness_ms + MIN_MS;
	int64_t sla_min = 4 * margin > 10 * MIN_MS ? 4 * margin : 10 * MIN_MS;
	int64_t b = c->surge_bucket_ms;
	const char *why = NULL;

	if (c->faults & ~LW_TRAFFIC_FAULTS_ALL)
		why = "unknown fault kinds in faults";
	else if (c->fault_rate > 0 && !c->faults)
		why = "fault_rate > 0 but no fault kind enabled";
	else if (c->surge_burst < 1 || c->surge_burst > MAX_BURST)
		why = "surge_burst must be within 1..20000";
	else if (c->clock_skew_ms < 0 || c->clock_skew_ms > MIN_MS)
		why = "clock_skew_ms must be within 0..60000";
	else if (c->lateness_ms < 0 || c->lateness_ms > 10 * MIN_MS)
		why = "lateness_ms must be within 0..600000";
	else if (c->sla_critical_ms < sla_min || c->sla_default_ms < sla_min ||
		 c->sla_critical_ms > 30 * DAY_MS ||
		 c->sla_default_ms > 30 * DAY_MS)
		why = "SLAs must be within max(10 min, 4 x (lateness + 2 "
		      "min))..30 days";
	else if (c->orphan_grace_ms < 0 || c->orphan_grace_ms > 30 * DAY_MS)
		why = "orphan_grace_ms must be within 0..30 days";
	else if (c->fanin_window_ms < 10 * MIN_MS ||
		 c->fanin_window_ms > 30 * DAY_MS)
		why = "fanin_window_ms must be within 10 min..30 days";
	else if (c->fanin_threshold > MAX_FANIN)
		why = "fanin_threshold must be <= 100";
	else if (b < 1000 || b > HOUR_MS)
		why = "surge_bucket_ms must be within 1 s..1 h";
	else if (c->surge_window_ms < b || c->surge_short_ms < b ||
		 c->surge_baseline_ms < b || c->surge_window_ms > 30 * DAY_MS ||
		 c->surge_short_ms > 30 * DAY_MS ||
		 c->surge_baseline_ms > 30 * DAY_MS)
		why = "surge windows must be within one bucket..30 days";
	else if ((c->surge_window_ms / b > (1 << 22)) ||
		 (c->surge_short_ms + c->surge_baseline_ms) / b > (1 << 22))
		why = "surge windows of more than 4M buckets";
	else if (!(c->surge_factor >= 0 && c->surge_factor <= 1e6))
		why = "surge_factor must be within 0..1e6";
	if (why)
		snprintf(errstr, errstr_size, "%s", why);
	return why ? -1 : 0;
}

lw_traffic *lw_traffic_new(const lw_traffic_config *c, char *errstr,
			   size_t errstr_size)
{
	lw_traffic *t;
	int64_t lo, sla;

	if (c->specimens > MAX_SPECIMENS) {
		snprintf(errstr, errstr_size, "specimens must be <= %llu",
			 (unsigned long long)MAX_SPECIMENS);
		return NULL;
	}
	if (!rate_ok(c->fault_rate) || !rate_ok(c->bad_rate) ||
	    !rate_ok(c->key_mismatch) || !rate_ok(c->evolved_share) ||
	    !rate_ok(c->late_share)) {
		snprintf(errstr, errstr_size, "rates must be within [0, 1]");
		return NULL;
	}
	if (c->gap_ms < 0 || c->start_ms < 0) {
		snprintf(errstr, errstr_size,
			 "start_ms and gap_ms must be >= 0");
		return NULL;
	}
	if (c->fanout_min < 4 || c->fanout_max < c->fanout_min ||
	    c->fanout_max > 500) {
		/* K > 3 contacts guarantees FANOUT; the cap bounds a spec */
		snprintf(errstr, errstr_size,
			 "fanout range must satisfy 4 <= min <= max <= 500");
		return NULL;
	}
	if (!c->results_topic || !c->notifications_topic ||
	    !*c->results_topic || !*c->notifications_topic ||
	    !strcmp(c->results_topic, c->notifications_topic)) {
		snprintf(errstr, errstr_size,
			 "two distinct, non-empty topic names are required");
		return NULL;
	}
	if (check_rules(c, errstr, errstr_size))
		return NULL;

	t = lw_xcalloc(1, sizeof *t);
	t->cfg = *c;
	t->live.next = t->live.prev = &t->live;
	rng_seed(&t->world, c->seed, 1);
	rng_seed(&t->wire, c->seed, 2);
	t->fault_rr =
	    (unsigned)(mix(c->seed, 99, 0, 0) % LW_TRAFFIC_FAULT_COUNT);
	t->clock = c->start_ms;
	t->margin_min = SLACK_MS + c->lateness_ms + MIN_MS;
	sla = c->sla_critical_ms < c->sla_default_ms ? c->sla_critical_ms
						     : c->sla_default_ms;
	delay_bounds(t, sla, &lo, &t->dmax);
	t->max_gen = t->max_event = INT64_MIN;
	t->sm.on = c->surge_cap > 0 || c->surge_factor > 0;
	t->sm.w = buckets_of(t, c->surge_window_ms);
	t->sm.sn = buckets_of(t, c->surge_short_ms);
	t->sm.bn = buckets_of(t, c->surge_baseline_ms);
	t->sm.L =
	    (t->sm.w > t->sm.sn + t->sm.bn ? t->sm.w : t->sm.sn + t->sm.bn) + 2;
	t->sm.lo = t->sm.hi = INT64_MIN;
	if (t->sm.on)
		t->sm.cnt = lw_xcalloc((size_t)t->sm.L, sizeof *t->sm.cnt);
	t->buf_cap = 4096;
	t->buf = lw_xmalloc(t->buf_cap);
	t->writer =
	    avro_writer_memory((const char *)t->buf, (int64_t)t->buf_cap);
	if (!t->writer) {
		snprintf(errstr, errstr_size, "avro writer: %s",
			 avro_strerror());
		goto fail;
	}
	if (wschema_init(&t->ws[W_RESULT], LW_SCHEMA_ID_LABRESULT,
			 lw_schema_labresult_json, status_sym, ST_COUNT,
			 F_STATUS, errstr, errstr_size) ||
	    wschema_init(&t->ws[W_NOTIF], LW_SCHEMA_ID_NOTIFICATION,
			 lw_schema_notification_json, channel_sym, CH_COUNT,
			 F_CHANNEL, errstr, errstr_size) ||
	    wschema_init(&t->ws[W_RESULT_EVOLVED],
			 LW_TRAFFIC_SCHEMA_ID_LABRESULT_EVOLVED,
			 lw_traffic_schema_labresult_evolved_json, status_sym,
			 ST_COUNT, F_STATUS, errstr, errstr_size) ||
	    wschema_init(&t->ws[W_NOTIF_EVOLVED],
			 LW_TRAFFIC_SCHEMA_ID_NOTIFICATION_EVOLVED,
			 lw_traffic_schema_notification_evolved_json,
			 channel_sym, CH_COUNT, F_CHANNEL, errstr, errstr_size))
		goto fail;
	return t;
fail:
	lw_traffic_destroy(t);
	return NULL;
}

/* How far after t0 the latest due time a timer fault kind designs can be
 * (-1: the kind has none). See the gen_* schedules. */
static int64_t fault_reach(const lw_traffic *t, int kind)
{
	const lw_traffic_config *c = &t->cfg;
	int64_t sla = c->sla_critical_ms > c->sla_default_ms
			  ? c->sla_critical_ms
			  : c->sla_default_ms;
	switch (kind) {
	case LW_TRAFFIC_FAULT_MISSING_NOTIFICATION:
		return 2 * HOUR_MS + sla;
	case LW_TRAFFIC_FAULT_CORRECTED_AFTER_NOTIFY:
		return 3 * HOUR_MS + 2 * sla;
	case LW_TRAFFIC_FAULT_ORPHAN_NOTIFICATION:
		return HOUR_MS + c->orphan_grace_ms;
	case LW_TRAFFIC_FAULT_SENT_BEFORE_FINAL:
		return 2 * HOUR_MS + c->clock_skew_ms;
	case LW_TRAFFIC_FAULT_SENT_AFTER_WITHDRAWAL:
		return 5 * HOUR_MS + c->clock_skew_ms;
	case LW_TRAFFIC_FAULT_VOLUME_SURGE:
		/* the surge starts at the latest at the close of the bucket
		 * holding the burst's last notification */
		return 33 * MIN_MS + c->surge_bucket_ms;
	default:
		return -1;
	}
}

/* Can kind be injected at t0? Enabled, enough specimens left for its
 * group, and any due time it designs certainly before the end: before the
 * newest event time generated so far, which the end cannot undercut. */
static int kind_ok(const lw_traffic *t, int k, int64_t t0)
{
	const lw_traffic_config *c = &t->cfg;
	uint64_t left = c->specimens - t->generated;
	int64_t reach;
	if (!(c->faults & (1u << k)))
		return 0;
	switch (k) {
	case LW_TRAFFIC_FAULT_BATCH_FANOUT:
		if (left < 1 + (uint64_t)c->fanout_min)
			return 0;
		break;
	case LW_TRAFFIC_FAULT_RECORD_MISMATCH_SINGLE:
		if (left < 2)
			return 0;
		break;
	case LW_TRAFFIC_FAULT_FANIN:
		if (!c->fanin_threshold || left < c->fanin_threshold + 1ULL)
			return 0;
		break;
	case LW_TRAFFIC_FAULT_VOLUME_SURGE:
		if (t->surge_done || !t->sm.on || left < c->surge_burst)
			return 0;
		break;
	}
	reach = fault_reach(t, k);
	if (reach < 0)
		return 1;
	return t->max_gen != INT64_MIN &&
	       t0 + reach <= t->max_gen - c->lateness_ms - 1 - BAND_LO_MS -
				 REACH_SAFETY_MS;
}

/* Picks the next fault kind round-robin among those that can be injected
 * now; -1 if none can. */
static int next_fault(lw_traffic *t, int64_t t0)
{
	for (int i = 0; i < LW_TRAFFIC_FAULT_COUNT; i++) {
		int k = (int)(t->fault_rr++ % LW_TRAFFIC_FAULT_COUNT);
		if (kind_ok(t, k, t0))
			return k;
	}
	return -1;
}

int lw_traffic_run(lw_traffic *t, lw_traffic_emit_cb emit, void *opaque,
		   FILE *truth)
{
	const lw_traffic_config *c = &t->cfg;
	int64_t h;

	if (t->ran)
		return -1;
	t->ran = 1;
	t->emit = emit;
	t->opaque = opaque;
	t->truth = truth;
	truth_printf(t,
		     "# labwatch traffic truth v2\n"
		     "# seed=%" PRIu64 " specimens=%" PRIu64
		     " fault_rate=%g bad_rate=%g evolved_share=%g"
		     " late_share=%g start_ms=%" PRId64 " gap_ms=%" PRId64
		     " fanout=%d..%d surge_burst=%u\n"
		     "# results_topic=%s notifications_topic=%s\n",
		     c->seed, c->specimens, c->fault_rate, c->bad_rate,
		     c->evolved_share, c->late_share, c->start_ms, c->gap_ms,
		     c->fanout_min, c->fanout_max, (unsigned)c->surge_burst,
		     c->results_topic, c->notifications_topic);
	truth_printf(t, "# faults=");
	for (int k = 0, n = 0; k < LW_TRAFFIC_FAULT_COUNT; k++)
		if (c->faults & (1u << k))
			truth_printf(t, "%s%s", n++ ? "," : "", fault_names[k]);
	truth_printf(t,
		     "\n# clock.skew.ms=%" PRId64 " time.lateness.ms=%" PRId64
		     " sla.critical.ms=%" PRId64 " sla.default.ms=%" PRId64
		     " orphan.grace.ms=%" PRId64 " fanin.window.ms=%" PRId64
		     " fanin.threshold=%u surge.bucket.ms=%" PRId64
		     " surge.window.ms=%" PRId64 " surge.cap=%" PRIu64
		     " surge.short.ms=%" PRId64 " surge.baseline.ms=%" PRId64
		     " surge.factor=%g surge.min.count=%" PRIu64 "\n"
		     "# ALERT\trule\tspecimen_id|-\tseverity\tresult_idx|-\t"
		     "trigger_idx|-\t[due_ms]\n"
		     "# DLQ\treason\tsource_topic\tkey|-\tidx\n",
		     c->clock_skew_ms, c->lateness_ms, c->sla_critical_ms,
		     c->sla_default_ms, c->orphan_grace_ms, c->fanin_window_ms,
		     (unsigned)c->fanin_threshold, c->surge_bucket_ms,
		     c->surge_window_ms, c->surge_cap, c->surge_short_ms,
		     c->surge_baseline_ms, c->surge_factor, c->surge_min_count);

	while (t->generated < c->specimens) {
		int64_t t0 = t->clock;
		struct spec *before = t->live.prev, *first;
		int kind = -1, groups;
		if (emit_due(t, t0, 0))
			return 1;
		if (t->failed)
			return -1;
		if (rng_chance(&t->world, c->fault_rate))
			kind = next_fault(t, t0);
		if (kind >= 0)
			gen_fault(t, t0, kind);
		else
			gen_clean(t, t0);
		/* the group's specimens were appended to the live list:
		 * targets first, then X */
		first = before->next;
		for (struct spec *s = first; s != &t->live; s = s->next)
			if (spec_commit(t, s))
				return -1;
		if (c->fanin_threshold && first->next != &t->live) {
			groups = group_fanin(t, first);
			if (groups != (first->fg ? 1 : 0)) {
				lw_log(LW_LOG_ERROR,
				       "traffic: internal error: the group of "
				       "%s fans in %d times",
				       first->id, groups);
				t->failed = 1;
				return -1;
			}
		}
		t->clock += rng_range(&t->world, 0, 2 * c->gap_ms);
	}
	if (emit_due(t, 0, 1))
		return 1;
	if (t->failed)
		return -1;
	h = t->max_event == INT64_MIN ? INT64_MIN
				      : t->max_event - c->lateness_ms - 1;
	if (h != INT64_MIN) {
		if (t->sm.on)
			sm_finish(t, h);
		pend_flush(t, h - BAND_LO_MS);
	}
	if (t->npend) {
		lw_log(
		    LW_LOG_ERROR,
		    "traffic: internal error: %zu truth blocks due at %" PRId64
		    " or later, too close to the end of the stream (%" PRId64
		    "); the truth would depend on when the processor stops",
		    t->npend, t->pend_min, h);
		t->failed = 1;
		return -1;
	}
	truth_printf(t, "# complete messages=%" PRIu64 "\n", t->st.messages);
	if (t->truth && ferror(t->truth)) {
		lw_log(LW_LOG_ERROR, "traffic: writing the truth file failed");
		return -1;
	}
	return 0;
}

void lw_traffic_get_stats(const lw_traffic *t, lw_traffic_stats *out)
{
	*out = t->st;
}

void lw_traffic_destroy(lw_traffic *t)
{
	if (!t)
		return;
	while (t->live.next != &t->live)
		spec_free(t->live.next);
	for (int i = 0; i < W_COUNT; i++)
		wschema_free(&t->ws[i]);
	if (t->writer)
		avro_writer_free(t->writer);
	for (size_t i = 0; i < t->npend; i++)
		free(t->pend[i].text);
	free(t->pend);
	free(t->sb.p);
	free(t->sm.cnt);
	free(t->buf);
	free(t->oversized);
	free(t->heap);
	free(t->nf);
	free(t->distinct);
	free(t->nseen);
	free(t->nall);
	free(t->pairs);
	free(t);
}
