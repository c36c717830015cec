/* specimen: the per-specimen record, in one heap block.
 *
 * Design: memory per tracked specimen is what limits how many a small
 * machine can watch, and every separate allocation is also a cache miss
 * when the record is read. So a record is one block (the blob): its
 * arrays back to back (results, notifs, contacts, emitted), then a string
 * area. Adding an event reallocates the block to the exact new size (most
 * specimens hold one result and one to three notifications; jemalloc's size
 * classes make many of these in place), moves the sections after the
 * growing array up, and appends the event's strings at the end. Records
 * name their strings by reference (offset + 1 into the string area), which
 * survives the move; the header's two pointers are recomputed after each
 * change (relocate()).
 *
 * Strings are stored as a tag byte and the bytes: an ID in the canonical
 * UUID form (8-4-4-4-12 hex digits, all lower or all upper case) as its 16
 * bytes, anything else verbatim and NUL-terminated. The packing is a
 * function of the string, so two IDs are equal exactly when their stored
 * forms are: duplicate detection compares stored forms without unpacking.
 * The record's own ID is always verbatim, so it can be handed out as a C
 * string. The patient key is an HMAC of the patient identifier
 * (LabResult.avsc), which producers write in hex, often after a short
 * prefix ("pk_" and 32 digits, 64 digits of an HMAC-SHA256): such a key is
 * kept as its prefix and the digits' bytes (HEX_LO / HEX_UP), about half
 * its length, and spelt out into the caller's buffer when asked for. Any
 * other key is verbatim. Duplicate detection is a linear scan of the few
 * events a specimen has; the caps in specimen.h bound it. */
#include "specimen.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "hash.h"
#include "xmalloc.h"

#define KEY_SEED 0x6c77726b6579ULL

/* Tag byte of a stored string: below RAW_LONG a verbatim string of that
 * length; RAW_LONG: verbatim, a 4-byte length follows; UUID_LO / UUID_UP:
 * 16 bytes of a canonical UUID in lower / upper case. */
#define RAW_LONG 0xF0
#define UUID_LO	 0xF1
#define UUID_UP	 0xF2
/* HEX_LO / HEX_UP: a patient key of a prefix and an even number (16 or
 * more) of hex digits in lower / upper case (no letters: lower): the tag,
 * the prefix's length, the prefix, the digits' byte count, the bytes. */
#define HEX_LO	    0xF3
#define HEX_UP	    0xF4
#define HEX_MIN_LEN 16 /* digits: fewer are not worth the tag */

uint64_t lw_specimen_key_hash(const char *p, size_t n)
{
	return lw_hash64(p, n, KEY_SEED);
}

/* Eight bytes at a time (SWAR): every byte of a word is tested and
 * converted at once, with no carries between bytes because every byte is
 * below 0x80 first. */
#define ONES  0x0101010101010101ULL
#define HIGHS (ONES * 0x80)

/* 0x80 in each byte of x (all below 0x80) that is within [lo, hi]. */
static inline uint64_t in_range(uint64_t x, unsigned lo, unsigned hi)
{
	return ~(x + ONES * (0x7F - hi)) & (x + ONES * (0x80 - lo)) & HIGHS;
}

/* Eight hex digits to four bytes (two digits to a byte, first digit
 * high), as a little-endian word; ORs into the masks the bytes that were
 * not hex digits and those that were lower / upper case letters. */
static inline uint32_t hex8(const unsigned char *p, uint64_t *bad,
			    uint64_t *lower, uint64_t *upper)
{
	uint64_t x = lw_load_le64(p), d, l, u, v;
	d = in_range(x, '0', '9');
	l = in_range(x, 'a', 'f');
	u = in_range(x, 'A', 'F');
	/* a byte >= 0x80 may carry into its neighbour: the result is then
	 * garbage, but it is flagged bad and thrown away */
	*bad |= (x & HIGHS) | ((d | l | u) ^ HIGHS);
	*lower |= l;
	*upper |= u;
	/* digit values: the low nibble, +9 for a letter (bit 6 set) */
	v = (x & (ONES * 0x0F)) + ((x >> 6) & ONES) * 9;
	/* byte 2k becomes digit 2k << 4 | digit 2k+1; then the even bytes
	 * are gathered into the low four */
	v = ((v << 4) | (v >> 8)) & 0x00FF00FF00FF00FFULL;
	v = (v | (v >> 8)) & 0x0000FFFF0000FFFFULL;
	return (uint32_t)(v | (v >> 16));
}

/* UUID_LO or UUID_UP with the 16 bytes in out, or 0: not canonical. A UUID
 * with no letters at all is lower case. */
static int uuid_pack(const char *p, size_t n, unsigned char out[16])
{
	const unsigned char *u = (const unsigned char *)p;
	unsigned char h[32];
	uint64_t bad = 0, lower = 0, upper = 0;
	uint32_t w[4];
	if (n != 36 || u[8] != '-' || u[13] != '-' || u[18] != '-' ||
	    u[23] != '-')
		return 0;
	/* the five groups of digits, back to back */
	memcpy(h, u, 8);
	memcpy(h + 8, u + 9, 4);
	memcpy(h + 12, u + 14, 4);
	memcpy(h + 16, u + 19, 4);
	memcpy(h + 20, u + 24, 12);
	w[0] = hex8(h, &bad, &lower, &upper);
	w[1] = hex8(h + 8, &bad, &lower, &upper);
	w[2] = hex8(h + 16, &bad, &lower, &upper);
	w[3] = hex8(h + 24, &bad, &lower, &upper);
	if (bad || (lower && upper))
		return 0;
	for (int i = 0; i < 4; i++)
		lw_store_le32(out + 4 * i, w[i]);
	return upper ? UUID_UP : UUID_LO;
}

static void uuid_unpack(const unsigned char in[16], int tag, char out[37])
{
	const char *hx =
	    tag == UUID_UP ? "0123456789ABCDEF" : "0123456789abcdef";
	char *o = out;
	for (int k = 0; k < 16; k++) {
		if (k == 4 || k == 6 || k == 8 || k == 10)
			*o++ = '-';
		o[0] = hx[in[k] >> 4];
		o[1] = hx[in[k] & 0xf];
		o += 2;
	}
	*o = '\0';
}

static size_t raw_size(size_t len)
{
	return (len < RAW_LONG ? 1 : 5) + len + 1;
}

/* A string about to be stored or compared with stored ones: packed once.
 * A null (v.p == NULL) is stored as nothing (ref 0). */
typedef struct probe {
	lw_str v;
	int tag; /* UUID_LO / UUID_UP, or 0: stored verbatim */
	unsigned char u[16];
} probe;

static void probe_init(probe *p, lw_str v, int packable)
{
	p->v = v;
	p->tag = packable && v.p ? uuid_pack(v.p, v.len, p->u) : 0;
}

/* Bytes the probe's string takes stored. */
static size_t stored_size(const probe *p)
{
	if (!p->v.p)
		return 0;
	return p->tag ? 17 : raw_size(p->v.len);
}

/* Writes the probe's string at out (stored_size() bytes). */
static void store(unsigned char *out, const probe *p)
{
	if (p->tag) {
		out[0] = (unsigned char)p->tag;
		memcpy(out + 1, p->u, 16);
		return;
	}
	if (p->v.len < RAW_LONG) {
		*out++ = (unsigned char)p->v.len;
	} else {
		*out++ = RAW_LONG;
		for (int i = 0; i < 4; i++)
			*out++ = (unsigned char)(p->v.len >> (8 * i));
	}
	memcpy(out, p->v.p, p->v.len);
	out[p->v.len] = '\0';
}

/* The verbatim bytes of a stored raw string, and its length. */
static const char *raw_bytes(const unsigned char *st, size_t *len)
{
	if (st[0] < RAW_LONG) {
		*len = st[0];
		return (const char *)st + 1;
	}
	*len = (size_t)st[1] | (size_t)st[2] << 8 | (size_t)st[3] << 16 |
	       (size_t)st[4] << 24;
	return (const char *)st + 5;
}

/* Bytes of the stored string at st (any tag). */
static inline size_t stored_len(const unsigned char *st)
{
	size_t len;
	if (st[0] < RAW_LONG) /* most: a short verbatim string */
		return (size_t)st[0] + 2;
	if (st[0] == UUID_LO || st[0] == UUID_UP)
		return 17;
	if (st[0] == HEX_LO || st[0] == HEX_UP)
		return 3 + (size_t)st[1] + st[2 + st[1]];
	raw_bytes(st, &len);
	return 5 + len + 1;
}

/* Is the stored string st the probe's string? */
static int stored_eq(const unsigned char *st, const probe *p)
{
	if (st[0] == UUID_LO || st[0] == UUID_UP)
		return st[0] == p->tag && memcmp(p->u, st + 1, 16) == 0;
	if (p->tag)
		return 0;
	{
		size_t len;
		const char *b = raw_bytes(st, &len);
		return len == p->v.len && memcmp(b, p->v.p, len) == 0;
	}
}

/* ---- the patient key ---- */

/* How a key is stored: tag 0 = verbatim, or HEX_LO / HEX_UP with the
 * prefix's length and the digits after it, already converted (bytes). */
typedef struct keyform {
	int tag;
	size_t prefix, nbytes;
	const unsigned char *bytes; /* into buf */
	unsigned char buf[LW_PK_BUF / 2];
} keyform;

/* 0 = not a hex digit, else 1 + its value, with bit 5 set for a lower
 * case letter and bit 6 for an upper case one. */
static int hex_class(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return 1 + (c - '0');
	if (c >= 'a' && c <= 'f')
		return 32 | (11 + (c - 'a'));
	if (c >= 'A' && c <= 'F')
		return 64 | (11 + (c - 'A'));
	return 0;
}

/* The longest run of hex digits of one case ending the key, cut to an even
 * length (its first digit joins the prefix), converted as it is found:
 * whole groups of eight from the end at once (hex8), then pairs. */
static void key_form(const char *key, size_t n, keyform *f)
{
	const unsigned char *p = (const unsigned char *)key;
	unsigned char *o = f->buf + sizeof f->buf;
	size_t end = n;
	uint64_t lower = 0, upper = 0;
	f->tag = 0;
	if (n >= LW_PK_BUF || n < HEX_MIN_LEN)
		return;
	while (end >= 8) {
		uint64_t bad = 0, lo = 0, up = 0;
		uint32_t w = hex8(p + end - 8, &bad, &lo, &up);
		if (bad || ((lower | lo) && (upper | up)))
			break;
		lower |= lo;
		upper |= up;
		o -= 4;
		lw_store_le32(o, w);
		end -= 8;
	}
	while (end >= 2) {
		int a = hex_class(p[end - 2]), b = hex_class(p[end - 1]);
		int cases = (a | b) & 96;
		if (!a || !b || cases == 96 || (cases & 32 && upper) ||
		    (cases & 64 && lower))
			break;
		lower |= (uint64_t)(cases & 32);
		upper |= (uint64_t)(cases & 64);
		*--o = (unsigned char)(((a & 31) - 1) << 4 | ((b & 31) - 1));
		end -= 2;
	}
	if (n - end < HEX_MIN_LEN)
		return;
	f->tag = upper ? HEX_UP : HEX_LO;
	f->prefix = end;
	f->bytes = o;
	f->nbytes = (n - end) / 2;
}

static size_t key_size(lw_str k, const keyform *f)
{
	return f->tag ? 3 + f->prefix + f->nbytes : raw_size(k.len);
}

/* Writes key k in form f at out (key_size() bytes). */
static void key_store(unsigned char *out, lw_str k, const keyform *f)
{
	if (!f->tag) {
		probe p;
		probe_init(&p, k, 0);
		store(out, &p);
		return;
	}
	*out++ = (unsigned char)f->tag;
	*out++ = (unsigned char)f->prefix;
	memcpy(out, k.p, f->prefix);
	out += f->prefix;
	*out++ = (unsigned char)f->nbytes;
	memcpy(out, f->bytes, f->nbytes);
}

/* The key stored at st as text: in the record, or spelt out into buf. */
static const char *key_text(const unsigned char *st, char *buf, size_t *len)
{
	const char *hx;
	size_t prefix, nbytes;
	char *o = buf;
	if (st[0] != HEX_LO && st[0] != HEX_UP)
		return raw_bytes(st, len);
	hx = st[0] == HEX_UP ? "0123456789ABCDEF" : "0123456789abcdef";
	prefix = st[1];
	memcpy(o, st + 2, prefix);
	o += prefix;
	nbytes = st[2 + prefix];
	st += 3 + prefix;
	for (size_t i = 0; i < nbytes; i++) {
		*o++ = hx[st[i] >> 4];
		*o++ = hx[st[i] & 0xf];
	}
	*o = '\0';
	*len = (size_t)(o - buf);
	return buf;
}

/* ---- the block ---- */

static size_t off_notifs(const lw_specimen *s)
{
	return (size_t)s->nresults * sizeof(lw_result_rec);
}

static size_t off_contacts(const lw_specimen *s)
{
	return off_notifs(s) + (size_t)s->nnotifs * sizeof(lw_notif_rec);
}

static size_t off_emitted(const lw_specimen *s)
{
	return off_contacts(s) + (size_t)s->ncontacts * sizeof(uint64_t);
}

static size_t off_strs(const lw_specimen *s)
{
	return off_emitted(s) + (size_t)s->nemitted * sizeof(lw_emitted);
}

static unsigned char *blob(const lw_specimen *s)
{
	return (unsigned char *)(void *)s->results;
}

static unsigned char *strs(const lw_specimen *s)
{
	return blob(s) + off_strs(s);
}

static uint64_t *contacts(const lw_specimen *s)
{
	return (uint64_t *)(void *)(blob(s) + off_contacts(s));
}

static lw_emitted *emitted(const lw_specimen *s)
{
	return (lw_emitted *)(void *)(blob(s) + off_emitted(s));
}

static const unsigned char *stored(const lw_specimen *s, lw_str_ref ref)
{
	return blob(s) + off_strs(s) + (ref - 1);
}

static void relocate(lw_specimen *s, unsigned char *b)
{
	s->results = (lw_result_rec *)(void *)b;
	s->notifs = (lw_notif_rec *)(void *)(b + off_notifs(s));
}

const char *lw_specimen_id(const lw_specimen *s)
{
	size_t len;
	return raw_bytes(strs(s), &len);
}

int lw_specimen_id_is(const lw_specimen *s, const char *id, size_t len)
{
	size_t have;
	const char *b = raw_bytes(strs(s), &have);
	return have == len && memcmp(b, id, len) == 0;
}

const char *lw_specimen_patient_key(const lw_specimen *s, char buf[LW_PK_BUF])
{
	size_t len;
	return s->pk_ref ? key_text(stored(s, s->pk_ref), buf, &len) : NULL;
}

/* The stored form is a function of the key, so its bytes identify it:
 * no need to spell a compact key out. */
uint64_t lw_specimen_patient_hash(const lw_specimen *s)
{
	const unsigned char *st;
	uint64_t h;
	if (!s->pk_ref)
		return 0;
	st = stored(s, s->pk_ref);
	h = lw_hash_fast(st, stored_len(st), KEY_SEED);
	return h ? h : 1; /* 0 means none */
}

const uint64_t *lw_specimen_contacts(const lw_specimen *s)
{
	return contacts(s);
}

const lw_emitted *lw_specimen_emitted(const lw_specimen *s)
{
	return emitted(s);
}

/* Makes the block at least `need` bytes (keeping its content) and
 * returns it. Room grows by half again, so a record that gains events one
 * by one, or a view that holds one record after another, is rarely
 * reallocated. */
static unsigned char *reserve(lw_specimen *s, size_t need)
{
	if (need > s->cap) {
		size_t cap = (size_t)s->cap + s->cap / 2;
		if (cap < need)
			cap = need;
		if (cap < 256)
			cap = 256;
		relocate(s, lw_xrealloc(blob(s), cap));
		s->cap = (uint32_t)cap;
	}
	return blob(s);
}

/* Grows the block by dr results, dn notifs, dc contacts and de emitted
 * (each at the end of its array, left for the caller to fill) and by dstr
 * bytes of string area (filled by append()): one realloc, then the
 * sections move up, the last first. */
static void grow(lw_specimen *s, uint32_t dr, uint32_t dn, uint32_t dc,
		 uint32_t de, size_t dstr)
{
	size_t at[4] = {off_notifs(s), off_contacts(s), off_emitted(s),
			off_strs(s)};
	size_t end = at[3] + s->strs_len;
	size_t add[4] = {dr * sizeof(lw_result_rec), dn * sizeof(lw_notif_rec),
			 dc * sizeof(uint64_t), de * sizeof(lw_emitted)};
	size_t shift = add[0] + add[1] + add[2] + add[3];
	unsigned char *b = reserve(s, end + shift + dstr);
	for (int k = 3; k >= 0 && shift; k--) {
		size_t len = (k == 3 ? end : at[k + 1]) - at[k];
		memmove(b + at[k] + shift, b + at[k], len);
		shift -= add[k];
	}
	s->nresults = (uint16_t)(s->nresults + dr);
	s->nnotifs = (uint16_t)(s->nnotifs + dn);
	s->ncontacts = (uint16_t)(s->ncontacts + dc);
	s->nemitted = (uint16_t)(s->nemitted + de);
	relocate(s, b);
}

/* Appends the probe's string to the string area (room made by grow());
 * returns its ref, 0 for a null. */
static lw_str_ref append(lw_specimen *s, const probe *p)
{
	size_t n = stored_size(p);
	lw_str_ref ref = s->strs_len + 1;
	if (!n)
		return 0;
	store(strs(s) + s->strs_len, p);
	s->strs_len += (uint32_t)n;
	return ref;
}

const char *lw_specimen_str(const lw_specimen *s, lw_str_ref ref,
			    char buf[LW_ID_BUF])
{
	return ref ? lw_stored_str(stored(s, ref), buf) : NULL;
}

size_t lw_stored_pack(const char *p, size_t len, unsigned char *out)
{
	probe pr;
	probe_init(&pr, (lw_str){p, len}, 1);
	store(out, &pr);
	return stored_size(&pr);
}

size_t lw_stored_len(const unsigned char *st)
{
	return stored_len(st);
}

const char *lw_stored_str(const unsigned char *st, char buf[LW_ID_BUF])
{
	size_t len;
	if (st[0] == UUID_LO || st[0] == UUID_UP) {
		uuid_unpack(st + 1, st[0], buf);
		return buf;
	}
	return raw_bytes(st, &len);
}

const unsigned char *lw_specimen_str_stored(const lw_specimen *s,
					    lw_str_ref ref)
{
	return ref ? stored(s, ref) : NULL;
}

const unsigned char *lw_specimen_id_stored(const lw_specimen *s)
{
	return strs(s);
}

int lw_specimen_str_cmp(const lw_specimen *s, lw_str_ref a, lw_str_ref b)
{
	char ba[LW_ID_BUF], bb[LW_ID_BUF];
	const char *x, *y;
	if (a == b)
		return 0;
	if (a && b) {
		/* Two UUIDs of the same case: their bytes, nibble by nibble,
		 * sort as their hex digits do. */
		const unsigned char *p = stored(s, a), *q = stored(s, b);
		if ((p[0] == UUID_LO || p[0] == UUID_UP) && p[0] == q[0])
			return memcmp(p + 1, q + 1, 16);
	}
	x = lw_specimen_str(s, a, ba);
	y = lw_specimen_str(s, b, bb);
	if (!x || !y)
		return (x != NULL) - (y != NULL);
	return strcmp(x, y);
}

/* ---- adders ---- */

int lw_specimen_add_result(lw_specimen *s, const lw_result_event *ev,
			   uint16_t code, int32_t partition, int64_t offset)
{
	lw_result_rec *r;
	uint64_t add[LW_SPECIMEN_MAX_CONTACTS];
	uint32_t nadd = 0;
	lw_str pk = ev->patient_key, eid = ev->event_id;
	probe pr;
	keyform kf;
	int need_pk = !s->pk_ref;
	if (!eid.p)
		eid.p = "";
	probe_init(&pr, eid, 1);
	for (uint32_t i = 0; i < s->nresults; i++)
		if (stored_eq(stored(s, s->results[i].event_id), &pr))
			return 0;
	if (s->nresults >= LW_SPECIMEN_MAX_RESULTS) {
		s->dropped_events++;
		return -1;
	}
	/* A withdrawn result (CANCELLED, or ENTERED_IN_ERROR: HL7's "wrong
	 * patient") may list another patient's contacts. */
	for (uint32_t i = 0;
	     ev->status != LW_STATUS_CANCELLED &&
	     ev->status != LW_STATUS_ENTERED_IN_ERROR && i < ev->n_contact_keys;
	     i++) {
		uint64_t h = lw_specimen_key_hash(ev->contact_keys[i].p,
						  ev->contact_keys[i].len);
		int dup = lw_specimen_has_contact(s, h);
		for (uint32_t k = 0; k < nadd && !dup; k++)
			dup = add[k] == h;
		if (!dup && s->ncontacts + nadd < LW_SPECIMEN_MAX_CONTACTS)
			add[nadd++] = h;
	}
	if (!pk.p)
		pk.p = "";
	kf.tag = 0;
	if (need_pk)
		key_form(pk.p, pk.len, &kf);
	grow(s, 1, 0, nadd, 0,
	     stored_size(&pr) + (need_pk ? key_size(pk, &kf) : 0));
	memcpy(contacts(s) + s->ncontacts - nadd, add, nadd * sizeof *add);
	r = &s->results[s->nresults - 1];
	memset(r, 0, sizeof *r);
	r->event_id = append(s, &pr);
	r->recorded_at = ev->recorded_at;
	r->offset = offset;
	r->partition = partition;
	r->version = ev->result_version;
	r->code = code;
	r->status = (uint8_t)ev->status;
	r->retest_pending = ev->retest_pending != 0;
	if (need_pk) {
		s->pk_ref = s->strs_len + 1;
		key_store(strs(s) + s->strs_len, pk, &kf);
		s->strs_len += (uint32_t)key_size(pk, &kf);
	}
	if (ev->recorded_at > s->last_event_ms)
		s->last_event_ms = ev->recorded_at;
	return 1;
}

int lw_specimen_add_notification(lw_specimen *s,
				 const lw_notification_event *ev,
				 uint16_t stated_code, int32_t partition,
				 int64_t offset)
{
	return lw_specimen_add_notification_hashed(
	    s, ev,
	    lw_specimen_key_hash(ev->recipient_key.p, ev->recipient_key.len),
	    stated_code, partition, offset);
}

int lw_specimen_add_notification_hashed(lw_specimen *s,
					const lw_notification_event *ev,
					uint64_t recipient,
					uint16_t stated_code, int32_t partition,
					int64_t offset)
{
	lw_notif_rec *n;
	lw_str intended = {NULL, 0}, nid = ev->notification_id;
	probe pr, pb, pi;
	if (!nid.p)
		nid.p = "";
	probe_init(&pr, nid, 1);
	for (uint32_t i = 0; i < s->nnotifs; i++)
		if (stored_eq(stored(s, s->notifs[i].notification_id), &pr))
			return 0;
	if (s->nnotifs >= LW_SPECIMEN_MAX_NOTIFS) {
		s->dropped_events++;
		return -1;
	}
	if (ev->intended_specimen_id.p && ev->intended_specimen_id.len &&
	    !(ev->intended_specimen_id.len == ev->specimen_id.len &&
	      memcmp(ev->intended_specimen_id.p, ev->specimen_id.p,
		     ev->specimen_id.len) == 0))
		intended = ev->intended_specimen_id;
	probe_init(&pb, ev->batch_id, 1);
	probe_init(&pi, intended, 1);
	grow(s, 0, 1, 0, 0,
	     stored_size(&pr) + stored_size(&pb) + stored_size(&pi));
	n = &s->notifs[s->nnotifs - 1];
	memset(n, 0, sizeof *n);
	n->notification_id = append(s, &pr);
	n->batch_id = append(s, &pb);
	n->intended = append(s, &pi);
	n->recipient = recipient;
	n->sent_at = ev->sent_at;
	n->offset = offset;
	n->partition = partition;
	n->stated_version =
	    ev->has_result_version ? ev->result_version : LW_NO_VERSION;
	n->stated_code = stated_code;
	n->channel = (uint8_t)ev->channel;
	if (ev->sent_at > s->last_event_ms)
		s->last_event_ms = ev->sent_at;
	return 1;
}

int lw_specimen_has_contact(const lw_specimen *s, uint64_t key)
{
	for (uint32_t i = 0; i < s->ncontacts; i++)
		if (contacts(s)[i] == key)
			return 1;
	return 0;
}

lw_emitted *lw_specimen_find_emitted(lw_specimen *s, uint64_t key)
{
	for (uint32_t i = 0; i < s->nemitted; i++)
		if (emitted(s)[i].key == key)
			return &emitted(s)[i];
	return NULL;
}

void lw_specimen_set_emitted(lw_specimen *s, uint64_t key, uint32_t recipients,
			     uint32_t revision, uint8_t severity)
{
	lw_emitted *e = lw_specimen_find_emitted(s, key);
	if (!e) {
		if (s->nemitted >= LW_SPECIMEN_MAX_EMITTED)
			return; /* then it may be sent again: never lost */
		grow(s, 0, 0, 0, 1, 0);
		e = &emitted(s)[s->nemitted - 1];
		memset(e, 0, sizeof *e);
		e->key = key;
	}
	e->recipients = recipients;
	e->revision = revision;
	e->severity = severity;
}

void lw_specimen_init(lw_specimen *s, const char *id, size_t len)
{
	memset(s, 0, sizeof *s);
	lw_specimen_reset(s, id, len);
}

void lw_specimen_reset(lw_specimen *s, const char *id, size_t len)
{
	unsigned char *b = blob(s);
	uint32_t cap = s->cap;
	probe p;
	memset(s, 0, sizeof *s);
	s->cap = cap;
	relocate(s, b);
	probe_init(&p, (lw_str){id ? id : "", (uint32_t)len}, 0);
	reserve(s, stored_size(&p));
	append(s, &p);
}

size_t lw_specimen_bytes(const lw_specimen *s)
{
	return s->results ? off_strs(s) + s->strs_len : 0;
}

void lw_specimen_clear(lw_specimen *s)
{
	free(s->results);
	memset(s, 0, sizeof *s);
}

/* ---- the packed form ----
 *
 * Layout: varint strs_len, the string area (the ID first), the shape,
 * zigzag last_event_ms; then each contact, result, notification and
 * emitted incident. The shape is one byte for the common record (at most
 * 3 results, 7 notifications and 3 contacts, no emitted incident, no
 * dropped events, no flags): the three counts in 2 + 3 + 2 bits. Any other
 * record has SHAPE_LONG, then varint nresults, nnotifs, ncontacts,
 * nemitted, dropped_events and a flags byte. Times are stored as their
 * distance back from last_event_ms and offsets as the difference from the
 * previous one in the same array, so most take one to three bytes; hashes
 * take their eight. A notification's recipient that is one of the first
 * CONTACT_REFS contacts (the usual case: results go to the patient's
 * registered contacts) is stored as its index + 1 in one byte, any other
 * as 0 and the eight bytes of its hash; contacts come first so unpacking
 * can resolve the index.
 *
 * String references are implicit. The adders append an event's strings
 * together, in a fixed order (a result: event ID, then the patient key if
 * it is the record's first result; a notification: its ID, then the batch
 * ID and the intended specimen when present), and the arrays keep the
 * order of the adds. So in area order each array's strings come in runs,
 * one run per event: packing keeps only the gap between the end of the
 * previous run of the same array and the start of the next (the other
 * array's strings in between, usually one byte), and two flag bits for a
 * notification's optional strings (in the channel byte); unpacking walks
 * the stored sizes to rebuild every reference. pk_ref follows the first
 * result's event ID. A result's retest flag rides in its status byte. */

#define FLAG_UPDATE_PENDING 1
#define FLAG_TIMER_ALERTED  2
#define VARINT_MAX	    10
#define SHAPE_LONG	    0x80 /* the counts follow as varints */
/* The short shape: results, notifications and contacts in 2 + 3 + 2 bits,
 * so at most 3, 7 and 3. */
#define SHAPE_MAX_R    3
#define SHAPE_MAX_N    7
#define SHAPE_MAX_C    3
#define SHAPE(r, n, c) ((unsigned)(r) | (unsigned)(n) << 2 | (unsigned)(c) << 5)
#define SHAPE_R(b)     ((b)&SHAPE_MAX_R)
#define SHAPE_N(b)     ((b) >> 2 & SHAPE_MAX_N)
#define SHAPE_C(b)     ((b) >> 5 & SHAPE_MAX_C)
#define CONTACT_REFS   16   /* contacts a recipient may refer to */
#define N_BATCH	       0x40 /* in a notification's channel byte */
#define N_INTENDED     0x80
#define R_RETEST       0x80 /* in a result's status byte */
_Static_assert(LW_CHANNEL_UNKNOWN < N_BATCH, "channels fit six bits");
_Static_assert(LW_STATUS_UNKNOWN < R_RETEST, "statuses fit seven bits");

static inline uint64_t zz(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzz(uint64_t u)
{
	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* a - b and a + b, wrapping (any two times or offsets round-trip) */
static inline int64_t wrap_sub(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a - (uint64_t)b);
}

static inline int64_t wrap_add(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

static inline unsigned char *put_varint(unsigned char *o, uint64_t v)
{
	if (v < 0x80) { /* most: counts, versions, codes, partitions */
		*o = (unsigned char)v;
		return o + 1;
	}
	while (v >= 0x80) {
		*o++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*o++ = (unsigned char)v;
	return o;
}

static inline uint64_t get_varint(const unsigned char **pp)
{
	const unsigned char *p = *pp;
	uint64_t v = 0;
	int shift = 0;
	if (*p < 0x80) {
		*pp = p + 1;
		return *p;
	}
	while (*p & 0x80) {
		v |= (uint64_t)(*p++ & 0x7F) << shift;
		shift += 7;
	}
	v |= (uint64_t)*p++ << shift;
	*pp = p;
	return v;
}

static inline unsigned char *put_u64(unsigned char *o, uint64_t v)
{
	memcpy(o, &v, 8);
	return o + 8;
}

static inline uint64_t get_u64(const unsigned char **pp)
{
	uint64_t v;
	memcpy(&v, *pp, 8);
	*pp += 8;
	return v;
}

/* A version that may be LW_NO_VERSION: 0 for none, else zigzag + 1. */
static inline uint64_t version_code(int32_t v)
{
	return v == LW_NO_VERSION ? 0 : zz(v) + 1;
}

static inline int32_t version_of(uint64_t c)
{
	return c ? (int32_t)unzz(c - 1) : LW_NO_VERSION;
}

/* A notification's recipient: the index + 1 of the equal contact among
 * the first CONTACT_REFS (one byte), or 0 and the hash. */
static inline unsigned char *put_recipient(unsigned char *o,
					   const lw_specimen *s, uint64_t r)
{
	const uint64_t *c = contacts(s);
	uint32_t n = s->ncontacts < CONTACT_REFS ? s->ncontacts : CONTACT_REFS;
	for (uint32_t i = 0; i < n; i++)
		if (c[i] == r) {
			*o = (unsigned char)(i + 1);
			return o + 1;
		}
	*o++ = 0;
	return put_u64(o, r);
}

static inline uint64_t get_recipient(const unsigned char **q,
				     const lw_specimen *s)
{
	unsigned k = *(*q)++;
	return k ? contacts(s)[k - 1] : get_u64(q);
}

/* What results and notifications share: when (back from base), where
 * (offset after *prev, partition) and which version (may be none). */
typedef struct where_when {
	int64_t at, offset;
	int32_t partition, version;
} where_when;

static inline __attribute__((always_inline)) unsigned char *
put_ww(unsigned char *o, int64_t base, int64_t *prev, where_when w)
{
	o = put_varint(o, zz(wrap_sub(base, w.at)));
	o = put_varint(o, zz(wrap_sub(w.offset, *prev)));
	*prev = w.offset;
	o = put_varint(o, zz(w.partition));
	return put_varint(o, version_code(w.version));
}

static inline __attribute__((always_inline)) where_when
get_ww(const unsigned char **q, int64_t base, int64_t *prev)
{
	where_when w;
	w.at = wrap_sub(base, unzz(get_varint(q)));
	w.offset = *prev = wrap_add(*prev, unzz(get_varint(q)));
	w.partition = (int32_t)unzz(get_varint(q));
	w.version = version_of(get_varint(q));
	return w;
}

size_t lw_specimen_pack_bound(const lw_specimen *s)
{
	return VARINT_MAX * 9 + 2 + s->strs_len +
	       (size_t)s->nresults * (VARINT_MAX * 6 + 2) +
	       (size_t)s->nnotifs * (9 + VARINT_MAX * 8 + 1) +
	       (size_t)s->ncontacts * 8 +
	       (size_t)s->nemitted * (8 + VARINT_MAX * 2 + 1);
}

size_t lw_specimen_pack_id_bound(size_t len)
{
	return VARINT_MAX + raw_size(len) + 2;
}

size_t lw_specimen_pack_id(const char *id, size_t len, unsigned char *out)
{
	unsigned char *o = out;
	probe p;
	size_t n;
	probe_init(&p, (lw_str){id ? id : "", (uint32_t)len}, 0);
	n = stored_size(&p);
	o = put_varint(o, n);
	store(o, &p);
	o += n;
	/* what lw_specimen_pack writes after the string area of a record
	 * that holds only its ID: the short shape of no results,
	 * notifications or contacts and zz(last_event_ms = 0), one zero byte
	 * each */
	memset(o, 0, 2);
	return (size_t)(o + 2 - out);
}

size_t lw_specimen_pack(const lw_specimen *s, unsigned char *out)
{
	unsigned char *o = out;
	const unsigned char *area = strs(s);
	int64_t base = s->last_event_ms, prev = 0;
	size_t at = 0; /* where the array's previous run of strings ended */
	o = put_varint(o, s->strs_len);
	memcpy(o, area, s->strs_len);
	o += s->strs_len;
	{
		unsigned flags = (s->update_pending ? FLAG_UPDATE_PENDING : 0) |
				 (s->timer_alerted ? FLAG_TIMER_ALERTED : 0);
		if (s->nresults <= SHAPE_MAX_R && s->nnotifs <= SHAPE_MAX_N &&
		    s->ncontacts <= SHAPE_MAX_C && !s->nemitted &&
		    !s->dropped_events && !flags) {
			*o++ = (unsigned char)SHAPE(s->nresults, s->nnotifs,
						    s->ncontacts);
		} else {
			*o++ = SHAPE_LONG;
			o = put_varint(o, s->nresults);
			o = put_varint(o, s->nnotifs);
			o = put_varint(o, s->ncontacts);
			o = put_varint(o, s->nemitted);
			o = put_varint(o, s->dropped_events);
			*o++ = (unsigned char)flags;
		}
	}
	o = put_varint(o, zz(base));
	for (uint32_t i = 0; i < s->ncontacts; i++)
		o = put_u64(o, contacts(s)[i]);
	for (uint32_t i = 0; i < s->nresults; i++) {
		const lw_result_rec *r = &s->results[i];
		size_t start = r->event_id - 1;
		o = put_ww(o, base, &prev,
			   (where_when){r->recorded_at, r->offset, r->partition,
					r->version});
		o = put_varint(o, start - at);
		at = start + stored_len(area + start);
		if (i == 0 && s->pk_ref)
			at += stored_len(area + at); /* the patient key */
		o = put_varint(o, r->code);
		*o++ = (unsigned char)(r->status |
				       (r->retest_pending ? R_RETEST : 0));
	}
	prev = 0;
	at = 0;
	for (uint32_t i = 0; i < s->nnotifs; i++) {
		const lw_notif_rec *n = &s->notifs[i];
		size_t start = n->notification_id - 1;
		o = put_ww(o, base, &prev,
			   (where_when){n->sent_at, n->offset, n->partition,
					n->stated_version});
		o = put_recipient(o, s, n->recipient);
		o = put_varint(o, start - at);
		at = start + stored_len(area + start);
		if (n->batch_id)
			at += stored_len(area + at);
		if (n->intended)
			at += stored_len(area + at);
		o = put_varint(o, n->stated_code);
		*o++ =
		    (unsigned char)(n->channel | (n->batch_id ? N_BATCH : 0) |
				    (n->intended ? N_INTENDED : 0));
	}
	for (uint32_t i = 0; i < s->nemitted; i++) {
		const lw_emitted *e = &emitted(s)[i];
		o = put_u64(o, e->key);
		o = put_varint(o, e->recipients);
		o = put_varint(o, e->revision);
		*o++ = e->severity;
	}
	return (size_t)(o - out);
}

size_t lw_specimen_unpack(lw_specimen *s, const unsigned char *p, size_t len)
{
	const unsigned char *q = p;
	uint32_t strs_len = (uint32_t)get_varint(&q);
	const unsigned char *area = q;
	int64_t base, prev = 0;
	size_t at = 0; /* as in lw_specimen_pack */
	unsigned flags = 0, shape;
	q += strs_len;
	shape = *q++;
	if (shape != SHAPE_LONG) {
		s->nresults = (uint16_t)SHAPE_R(shape);
		s->nnotifs = (uint16_t)SHAPE_N(shape);
		s->ncontacts = (uint16_t)SHAPE_C(shape);
		s->nemitted = 0;
		s->dropped_events = 0;
	} else {
		s->nresults = (uint16_t)get_varint(&q);
		s->nnotifs = (uint16_t)get_varint(&q);
		s->ncontacts = (uint16_t)get_varint(&q);
		s->nemitted = (uint16_t)get_varint(&q);
		s->dropped_events = (uint32_t)get_varint(&q);
		flags = *q++;
	}
	s->pk_ref = 0;
	s->update_pending = (flags & FLAG_UPDATE_PENDING) != 0;
	s->timer_alerted = (flags & FLAG_TIMER_ALERTED) != 0;
	base = unzz(get_varint(&q));
	s->last_event_ms = base;
	s->strs_len = strs_len;
	reserve(s, off_strs(s) + strs_len);
	relocate(s, blob(s));
	for (uint32_t i = 0; i < s->ncontacts; i++)
		contacts(s)[i] = get_u64(&q);
	for (uint32_t i = 0; i < s->nresults; i++) {
		lw_result_rec *r = &s->results[i];
		where_when w = get_ww(&q, base, &prev);
		r->recorded_at = w.at;
		r->offset = w.offset;
		r->partition = w.partition;
		r->version = w.version;
		at += get_varint(&q);
		r->event_id = (lw_str_ref)(at + 1);
		at += stored_len(area + at);
		if (i == 0) { /* the patient key came with it */
			s->pk_ref = (lw_str_ref)(at + 1);
			at += stored_len(area + at);
		}
		r->code = (uint16_t)get_varint(&q);
		r->status = *q & (R_RETEST - 1);
		r->retest_pending = (*q++ & R_RETEST) != 0;
	}
	prev = 0;
	at = 0;
	for (uint32_t i = 0; i < s->nnotifs; i++) {
		lw_notif_rec *n = &s->notifs[i];
		where_when w = get_ww(&q, base, &prev);
		n->sent_at = w.at;
		n->offset = w.offset;
		n->partition = w.partition;
		n->stated_version = w.version;
		n->recipient = get_recipient(&q, s);
		at += get_varint(&q);
		n->notification_id = (lw_str_ref)(at + 1);
		at += stored_len(area + at);
		n->stated_code = (uint16_t)get_varint(&q);
		n->channel = *q & (N_BATCH - 1);
		n->batch_id = 0;
		n->intended = 0;
		if (*q & N_BATCH) {
			n->batch_id = (lw_str_ref)(at + 1);
			at += stored_len(area + at);
		}
		if (*q++ & N_INTENDED) {
			n->intended = (lw_str_ref)(at + 1);
			at += stored_len(area + at);
		}
	}
	for (uint32_t i = 0; i < s->nemitted; i++) {
		lw_emitted *e = &emitted(s)[i];
		e->key = get_u64(&q);
		e->recipients = (uint32_t)get_varint(&q);
		e->revision = (uint32_t)get_varint(&q);
		e->severity = *q++;
	}
	memcpy(strs(s), area, strs_len);
	(void)len;
	return (size_t)(q - p);
}

int lw_specimen_packed_id_is(const unsigned char *p, const char *id, size_t len)
{
	size_t have;
	const char *b;
	get_varint(&p);
	b = raw_bytes(p, &have);
	return have == len && memcmp(b, id, len) == 0;
}
