/* traffic: the synthetic traffic generator and its ground truth.
 *
 * Design. The world advances one specimen "group" at a time along an event
 * clock (start_ms, then a random gap of 0..2*gap_ms per group). A group is
 * a clean specimen, or a fault specimen X plus the results-only target
 * specimens Y it points at. Generating a group fixes all its events (results,
 * notifications, duplicate deliveries) with their event times, decides their
 * produce order and pushes them into a min-heap keyed by (emit time, push
 * sequence). Before a group is generated at clock T, every heap event due at
 * or before T is emitted; a group's events are never earlier than its own
 * T, so the emitted stream is in emit-time order and memory holds only the
 * specimens in flight (Little's law: gap_ms vs a lifetime of ~10 h), never
 * all of cfg.specimens.
 *
 * Produce order inside a specimen is event-time order, except for "late"
 * specimens, whose results recorded before their first notification (for a
 * fault, sometimes their k-th) are produced right after it; timestamps stay
 * truthful. Specimens with a notification stating a code but no version are
 * never late.
 *
 * Ground truth is not hand-derived per fault kind: each specimen's events
 * are replayed in produce order through a small reference implementation of
 * the rules (see eval_spec), once per prefix, so an incident's trigger is the
 * exact message after which it first exists. The replay must (a) never see
 * an incident disappear or change severity later, (b) never see more than
 * one offending notification for the per-notification rules, and (c) end
 * with exactly the incident set designed for the fault kind (expected_set);
 * clean specimens and targets must end with none. If a late order breaks
 * this, the specimen falls back to event-time order; if that breaks it too,
 * the run fails: it is a generator bug, never silently wrong truth.
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
#define NO_CONTACT_SHARE   0.10 /* patients with no registered contact */
#define PRELIM_SHARE	   0.30 /* results preceded by a PRELIMINARY */
#define RETEST_SHARE	   0.30 /* ... of which say retest_pending */
#define CORRECTION_SHARE   0.03 /* clean specimens corrected after notify */
#define PORTAL_SHARE	   0.20 /* "your result is ready": no code/version */
#define CODE_ONLY_SHARE	   0.05 /* a code but no version */
#define DUP_SHARE	   0.03 /* notifications delivered twice */
#define KEY_MISMATCH_SHARE 0.005
#define NULL_VARIANT_SHARE 0.30		/* wrong_recipient stating no code */
#define ORPHAN_SERIAL	   800000000ULL /* bad messages' specimens: SP9xxxxxxxx */
#define MAX_SPECIMENS	   700000000ULL
#define SLOT_NONCONTACT	   8  /* recipient slots 8, 9: unregistered keys */
#define SLOT_STRANGER	   16 /* wrong_recipient's non-contact */
#define MAX_RESULTS	   3
#define CODE_MAX	   16
#define KEY_BUF		   36 /* "pk_"/"rk_" + 32 hex + NUL */
#define ID_BUF		   12 /* "SP" + 9 digits + NUL */

/* ---- names ---- */

static const char *const fault_names[LW_TRAFFIC_FAULT_COUNT] = {
    "pos_told_neg",	      "neg_told_pos",	 "stale_same_code",
    "stale_wrong_code",	      "wrong_recipient", "batch_fanout",
    "record_mismatch_single",
};
static const char *const dlq_names[LW_TRAFFIC_DLQ_COUNT] = {
    "bad_magic", "unknown_schema", "malformed_avro", "empty_specimen_id",
    "oversized", "empty_value",	   "missing_key",
};
/* relative weights of the bad kinds; oversized is rare because each one is
 * 300 kB and would otherwise dominate dump files and broker storage */
static const int dlq_weight[LW_TRAFFIC_DLQ_COUNT] = {18, 18, 20, 14, 2, 12, 16};
static const char *const rule_names[LW_TRAFFIC_RULE_COUNT] = {
    "RESULT_MISMATCH", "STALE_VERSION",	  "WRONG_RECIPIENT",
    "FANOUT",	       "RECORD_MISMATCH",
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

enum { ST_PRELIMINARY, ST_FINAL, ST_CORRECTED, ST_COUNT };
static const char *const status_sym[ST_COUNT] = {
    "PRELIMINARY",
    "FINAL",
    "CORRECTED",
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
static const char *const pos_codes[] = {"POS", "POSITIVE", "DETECTED",
					"REACTIVE"};
static const char *const neg_codes[] = {"NEG",		"NEGATIVE",
					"NOT DETECTED", "NOT_DETECTED",
					"NONREACTIVE",	"NON-REACTIVE"};
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

struct incident {
	uint8_t rule, sev;
	int16_t trigger; /* local event number */
};

struct spec {
	struct spec *prev, *next; /* live list, for destroy */
	uint64_t serial;
	char id[ID_BUF];
	uint8_t ncontacts, role, fault, test, variant;
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
	struct incident inc[LW_TRAFFIC_RULE_COUNT];
};

struct hent {
	int64_t emit_ms;
	uint64_t seq;
	struct spec *s;
	uint32_t ev;
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

	/* evaluator scratch, sized to the largest specimen */
	struct nflags *nf;
	struct rcpt *distinct;
	size_t scratch_cap;

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

/* trimmed, upper-cased copy */
static void norm_code(const char *in, char out[CODE_MAX])
{
	size_t n;
	while (*in == ' ' || *in == '\t')
		in++;
	n = strlen(in);
	while (n && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	if (n >= CODE_MAX)
		n = CODE_MAX - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)toupper((unsigned char)in[i]);
	out[n] = '\0';
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

static int is_pos(const char *code)
{
	return in_list(code, pos_codes, 4);
}

static int is_neg(const char *code)
{
	return in_list(code, neg_codes, 6);
}

static int code_eq(const char *a, const char *b)
{
	char x[CODE_MAX], y[CODE_MAX];
	norm_code(a, x);
	norm_code(b, y);
	return !strcmp(x, y);
}

struct nflags {
	uint8_t seen, rm, rm_crit, st, wr;
};

/* ref(N): among the final results seen, the highest version recorded at or
 * before N.sent_at; failing that, the lowest version recorded within the
 * processor's default clock skew (5 s) after it; failing that, none: the
 * notification waits (rules.h). */
#define MODEL_SKEW_MS 5000
static const struct result *ref_of(const struct spec *s,
				   const uint8_t *res_seen, int64_t sent_at)
{
	const struct result *best = NULL, *low = NULL;
	for (int i = 0; i < s->nres; i++) {
		const struct result *r = &s->res[i];
		if (!res_seen[i] || r->status == ST_PRELIMINARY)
			continue;
		if (r->recorded_at <= sent_at) {
			if (!best || r->version > best->version)
				best = r;
		} else if (r->recorded_at <= sent_at + MODEL_SKEW_MS &&
			   (!low || r->version < low->version)) {
			low = r;
		}
	}
	return best ? best : low;
}

static void judge(const struct spec *s, const struct notif *n,
		  const uint8_t *res_seen, int contacts, struct nflags *f)
{
	const struct result *ref = ref_of(s, res_seen, n->sent_at);
	int maxv = 0;
	f->rm = f->rm_crit = f->st = 0;
	/* a notification stating a version newer than any result seen waits
	 * for it (rules.h) */
	for (int i = 0; i < s->nres; i++)
		if (res_seen[i] && s->res[i].version > maxv)
			maxv = s->res[i].version;
	if (n->version && n->version > maxv)
		ref = NULL;
	if (ref && n->has_code && !code_eq(n->code, ref->code)) {
		f->rm = 1;
		f->rm_crit = is_pos(ref->code) && is_neg(n->code);
	}
	if (ref && n->version && n->version < ref->version)
		f->st = 1;
	f->wr = contacts &&
		!(n->to.owner == s->serial && n->to.slot < s->ncontacts);
}

static void scratch_reserve(lw_traffic *t, size_t n)
{
	if (n <= t->scratch_cap)
		return;
	t->scratch_cap = n;
	t->nf = lw_xrealloc(t->nf, n * sizeof *t->nf);
	t->distinct = lw_xrealloc(t->distinct, n * sizeof *t->distinct);
}

/* Replays s's events in produce order and records, per rule, the local
 * event after which the incident first exists and its severity. Returns
 * -1 if an incident later disappears or changes severity, or if more than
 * one notification offends a per-notification rule. */
static int eval_spec(lw_traffic *t, struct spec *s)
{
	uint8_t res_seen[MAX_RESULTS] = {0};
	int present[LW_TRAFFIC_RULE_COUNT] = {0};
	int sev[LW_TRAFFIC_RULE_COUNT] = {0};
	int have_res = 0, ndistinct = 0;
	struct nflags *nf;

	scratch_reserve(t, (size_t)s->nnotif + 1);
	nf = t->nf;
	memset(nf, 0, (size_t)s->nnotif * sizeof *nf);
	s->ninc = 0;
	for (int i = 0; i < s->nev; i++) {
		const struct event *e = &s->ev[i];
		int cur[LW_TRAFFIC_RULE_COUNT] = {0};
		int csev[LW_TRAFFIC_RULE_COUNT];
		int n_rm = 0, n_st = 0, contacts;

		if (e->kind == EV_RESULT) {
			res_seen[e->ref] = 1;
			have_res = 1;
		} else if (!nf[e->ref].seen) {
			const struct notif *n = &s->notifs[e->ref];
			int k;
			nf[e->ref].seen = 1;
			for (k = 0; k < ndistinct; k++)
				if (t->distinct[k].owner == n->to.owner &&
				    t->distinct[k].slot == n->to.slot)
					break;
			if (k == ndistinct)
				t->distinct[ndistinct++] = n->to;
		}
		contacts = have_res ? s->ncontacts : 0;
		for (int k = 0; k < LW_TRAFFIC_RULE_COUNT; k++)
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
			judge(s, n, res_seen, contacts, &nf[k]);
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
		for (int r = 0; r < LW_TRAFFIC_RULE_COUNT; r++) {
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
	}
	return 0;
}

/* The incidents a specimen is designed to cause, as a rule -> severity
 * table (-1 = none). */
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
	return memcmp(exp, got, sizeof exp) ? -1 : 0;
}

/* ---- building specimens ---- */

static struct spec *spec_new(lw_traffic *t, int role, int min_contacts)
{
	rng *r = &t->world;
	struct spec *s = lw_xcalloc(1, sizeof *s);
	int no_contact = rng_chance(r, NO_CONTACT_SHARE);

	s->serial = ++t->next_serial;
	render_id(s->id, s->serial);
	s->role = (uint8_t)role;
	s->ncontacts =
	    (uint8_t)((no_contact && !min_contacts) ? 0 : rng_range(r, 1, 3));
	s->test = (uint8_t)rng_range(r, 0, NTESTS - 1);
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

static void spec_free(struct spec *s)
{
	s->prev->next = s->next;
	s->next->prev = s->prev;
	free(s->notifs);
	free(s->ev);
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

/* The stated code, now and then in another case or padded: equal after
 * trimming and case folding, which the processor must honour. */
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

/* 5 min .. 20 h after the result, most within a few hours. */
static int64_t notify_delay(rng *r)
{
	double u = rng_unit(r);
	return 5 * MIN_MS +
	       (int64_t)(u * u * (double)(20 * HOUR_MS - 5 * MIN_MS));
}

/* A recipient that keeps the distinct count within the threshold: one of
 * the contacts, or one of two unregistered keys when there are none. */
static struct rcpt pool_rcpt(lw_traffic *t, const struct spec *s)
{
	struct rcpt to = {s->serial, 0};
	if (s->ncontacts)
		to.slot = (uint32_t)rng_range(&t->world, 0, s->ncontacts - 1);
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

/* A clean notification about (code, version); portal notices and
 * code-only messages when allowed. Returns its sent_at. */
static int64_t clean_notif(lw_traffic *t, struct spec *s, int64_t after,
			   const char *code, int version, int variants)
{
	rng *r = &t->world;
	int64_t sent = after + notify_delay(r);
	struct rcpt to = pool_rcpt(t, s);
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
		int64_t sent = clean_notif(t, s, fin, c1, 1, 1);
		if (sent > last)
			last = sent;
	}
	if (correct) {
		/* corrected after every v1 notice went out; re-notified with
		 * the new code and version 2 (never null) */
		const char *c2 = c1;
		int64_t rec2 = last + rng_range(r, 10 * MIN_MS, 12 * HOUR_MS);
		int64_t n2 = rng_range(r, 1, 2);
		if (!rng_chance(r, 0.4))
			c2 = is_pos(c1) ? "NEG" : is_neg(c1) ? "POS" : "NEG";
		add_result(t, s, ST_CORRECTED, 2, rec2, c2);
		for (int64_t i = 0; i < n2; i++)
			clean_notif(t, s, rec2, c2, 2, 0);
		t->st.corrections++;
	}
}

/* A results-only specimen (with >= 1 contact) a fault points at. */
static struct spec *gen_target(lw_traffic *t, int64_t t0)
{
	struct spec *y = spec_new(t, ROLE_TARGET, 1);
	gen_results(t, y, t0, clean_code(&t->world), NULL);
	return y;
}

static void gen_fault(lw_traffic *t, int64_t t0, int kind)
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
	x = spec_new(t, ROLE_FAULT,
		     kind == LW_TRAFFIC_FAULT_POS_TOLD_NEG ||
			 kind == LW_TRAFFIC_FAULT_NEG_TOLD_POS ||
			 kind >= LW_TRAFFIC_FAULT_WRONG_RECIPIENT);
	x->fault = (uint8_t)kind;
	if (y) {
		x->targets_first = y->serial;
		x->targets = (uint64_t)k;
	}
	t->st.faults[kind]++;

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
			add_notif(t, x, fin + notify_delay(r), pool_rcpt(t, x),
				  right, 1);
		add_notif(t, x, fin + notify_delay(r), pool_rcpt(t, x), wrong,
			  rng_chance(r, 0.8) ? 1 : 0);
		break;
	}
	case LW_TRAFFIC_FAULT_STALE_SAME_CODE:
	case LW_TRAFFIC_FAULT_STALE_WRONG_CODE: {
		/* v2 recorded before the send; the sender still used v1 */
		const char *c1 = pick(r, neg_codes, 6, 70);
		const char *c2 = kind == LW_TRAFFIC_FAULT_STALE_SAME_CODE
				     ? c1
				     : pick(r, pos_codes, 4, 70);
		int64_t rec2;
		fin = gen_results(t, x, t0, c1, NULL);
		rec2 = fin + rng_range(r, 30 * MIN_MS, 6 * HOUR_MS);
		add_result(t, x, ST_CORRECTED, 2, rec2, c2);
		add_notif(t, x, rec2 + notify_delay(r), pool_rcpt(t, x), c1, 1);
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
			add_notif(t, x, fin + notify_delay(r), to, code, 1);
		}
		n = add_notif(t, x, fin + notify_delay(r), stranger,
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
		sent = fin + notify_delay(r);
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
		n = add_notif(t, x, fin + notify_delay(r), to, code, 1);
		n->intended_kind = INT_OTHER;
		n->intended = y->serial;
		break;
	}
	}
}

/* Lays out s's events in produce order (see the file comment); with
 * late > 0 the results recorded before the late-th notification are
 * produced right after it. */
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
static int spec_commit(lw_traffic *t, struct spec *s)
{
	rng *r = &t->world;
	int code_only = 0, late;

	for (int i = 0; i < s->nres; i++) {
		int ev = rng_chance(r, t->cfg.evolved_share);
		/* 101 has no retest_pending: keep the flag where it is set */
		s->res[i].evolved = (uint8_t)(ev && !s->res[i].retest_pending);
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
	}
	late = rng_chance(r, t->cfg.late_share) && s->nnotif && !code_only;
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
	s->pending = s->nev;
	for (int i = 0; i < s->nev; i++)
		heap_push(t, s, (uint32_t)i);
	return 0;
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

/* All events of s are out: its truth lines, then it is freed. */
static void spec_done(lw_traffic *t, struct spec *s)
{
	uint64_t result_idx = 0;
	for (int i = 0; i < s->nev; i++)
		if (s->ev[i].kind == EV_RESULT)
			result_idx = s->ev[i].index;
	if (s->role == ROLE_FAULT) {
		char first[ID_BUF] = "-";
		if (s->targets)
			render_id(first, s->targets_first);
		truth_printf(
		    t,
		    "# FAULT\t%s\t%s\tlate_after=%d\ttargets=%" PRIu64
		    "\tfirst_target=%s%s\n",
		    fault_names[s->fault], s->id, s->late, s->targets, first,
		    s->fault == LW_TRAFFIC_FAULT_WRONG_RECIPIENT && s->variant
			? "\tnull_code"
			: "");
	}
	for (int i = 0; i < s->ninc; i++) {
		const struct incident *in = &s->inc[i];
		truth_printf(t, "ALERT\t%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\n",
			     rule_names[in->rule], s->id,
			     severity_names[in->sev], result_idx,
			     s->ev[in->trigger].index);
		t->st.alerts[in->rule]++;
		t->st.alerts_by_severity[in->sev]++;
	}
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
	if (rng_chance(&t->wire, KEY_MISMATCH_SHARE) && clean) {
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
	c->evolved_share = 0.10;
	c->late_share = 0.10;
	c->start_ms = 1767571200000LL; /* 2026-01-05T00:00:00Z */
	c->gap_ms = 1500;
	c->fanout_min = 5;
	c->fanout_max = 62;
	c->results_topic = "lab.results";
	c->notifications_topic = "lab.notifications";
}

static int rate_ok(double x)
{
	return x >= 0.0 && x <= 1.0;
}

lw_traffic *lw_traffic_new(const lw_traffic_config *c, char *errstr,
			   size_t errstr_size)
{
	lw_traffic *t;

	if (c->specimens > MAX_SPECIMENS) {
		snprintf(errstr, errstr_size, "specimens must be <= %llu",
			 (unsigned long long)MAX_SPECIMENS);
		return NULL;
	}
	if (!rate_ok(c->fault_rate) || !rate_ok(c->bad_rate) ||
	    !rate_ok(c->evolved_share) || !rate_ok(c->late_share)) {
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

	t = lw_xcalloc(1, sizeof *t);
	t->cfg = *c;
	t->live.next = t->live.prev = &t->live;
	rng_seed(&t->world, c->seed, 1);
	rng_seed(&t->wire, c->seed, 2);
	t->fault_rr =
	    (unsigned)(mix(c->seed, 99, 0, 0) % LW_TRAFFIC_FAULT_COUNT);
	t->clock = c->start_ms;
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

/* Picks the next fault kind round-robin, skipping kinds that need more
 * specimens than are left (their targets count towards cfg.specimens). */
static int next_fault(lw_traffic *t)
{
	uint64_t left = t->cfg.specimens - t->generated;
	for (int i = 0; i < LW_TRAFFIC_FAULT_COUNT; i++) {
		int k = (int)(t->fault_rr++ % LW_TRAFFIC_FAULT_COUNT);
		if (k == LW_TRAFFIC_FAULT_BATCH_FANOUT &&
		    left < 1 + (uint64_t)t->cfg.fanout_min)
			continue;
		if (k == LW_TRAFFIC_FAULT_RECORD_MISMATCH_SINGLE && left < 2)
			continue;
		return k;
	}
	return LW_TRAFFIC_FAULT_POS_TOLD_NEG;
}

int lw_traffic_run(lw_traffic *t, lw_traffic_emit_cb emit, void *opaque,
		   FILE *truth)
{
	const lw_traffic_config *c = &t->cfg;

	if (t->ran)
		return -1;
	t->ran = 1;
	t->emit = emit;
	t->opaque = opaque;
	t->truth = truth;
	truth_printf(t,
		     "# labwatch traffic truth v1\n"
		     "# seed=%" PRIu64 " specimens=%" PRIu64
		     " fault_rate=%g bad_rate=%g evolved_share=%g"
		     " late_share=%g start_ms=%" PRId64 " gap_ms=%" PRId64
		     " fanout=%d..%d\n"
		     "# results_topic=%s notifications_topic=%s\n"
		     "# ALERT\trule\tspecimen_id\tseverity\tresult_idx\t"
		     "trigger_idx\n"
		     "# DLQ\treason\tsource_topic\tkey|-\tidx\n",
		     c->seed, c->specimens, c->fault_rate, c->bad_rate,
		     c->evolved_share, c->late_share, c->start_ms, c->gap_ms,
		     c->fanout_min, c->fanout_max, c->results_topic,
		     c->notifications_topic);

	while (t->generated < c->specimens) {
		int64_t t0 = t->clock;
		struct spec *before = t->live.prev;
		if (emit_due(t, t0, 0))
			return 1;
		if (rng_chance(&t->world, c->fault_rate))
			gen_fault(t, t0, next_fault(t));
		else
			gen_clean(t, t0);
		/* the group's specimens were appended to the live list:
		 * targets first, then X */
		for (struct spec *s = before->next; s != &t->live; s = s->next)
			if (spec_commit(t, s))
				return -1;
		t->clock += rng_range(&t->world, 0, 2 * c->gap_ms);
	}
	if (emit_due(t, 0, 1))
		return 1;
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
	free(t->buf);
	free(t->oversized);
	free(t->heap);
	free(t->nf);
	free(t->distinct);
	free(t);
}
