/* specimen: what labwatch remembers about one specimen ID.
 *
 * A specimen record holds every result version and every notification seen
 * for the specimen (deduplicated by event ID), the union of its contact
 * keys as 64-bit hashes, and the incidents already alerted. Rules (rules.h)
 * are pure functions of this record. Everything it holds is in one heap
 * block owned by the record and freed by lw_specimen_clear(); IDs in the
 * canonical UUID form are kept as their 16 bytes. Recipient and contact
 * keys are kept only as hashes: enough to compare, and nothing to leak.
 *
 * Bounds: at most LW_SPECIMEN_MAX_NOTIFS notifications and
 * LW_SPECIMEN_MAX_RESULTS results are kept per specimen; more are counted in
 * dropped_events (a specimen mailed to 10,000 people has long since
 * alerted). */
#ifndef LW_SPECIMEN_H
#define LW_SPECIMEN_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

#define LW_NO_VERSION		 INT32_MIN
#define LW_SPECIMEN_MAX_NOTIFS	 4096
#define LW_SPECIMEN_MAX_RESULTS	 64
#define LW_SPECIMEN_MAX_CONTACTS 256
#define LW_SPECIMEN_MAX_EMITTED	 65535

/* A string a record keeps (event and notification IDs, batch and intended
 * specimen IDs) is a reference into the record's string area: 0 = none
 * (null). Read it with lw_specimen_str(). */
typedef uint32_t lw_str_ref;

/* Room lw_specimen_str() may need for a string it has to unpack. */
#define LW_ID_BUF 40
/* Room lw_specimen_patient_key() may need: keys this long or longer are
 * kept verbatim and need none. */
#define LW_PK_BUF 160

typedef struct lw_result_rec {
	int64_t recorded_at;
	int64_t offset;
	int32_t partition;
	int32_t version;
	lw_str_ref event_id;
	uint16_t code; /* lw_codes ID */
	uint8_t status;
	uint8_t retest_pending;
} lw_result_rec;

typedef struct lw_notif_rec {
	uint64_t recipient; /* hash of recipient_key */
	int64_t sent_at;
	int64_t offset;
	int32_t partition;
	int32_t stated_version; /* LW_NO_VERSION when null */
	lw_str_ref notification_id;
	lw_str_ref batch_id;  /* 0 when null */
	lw_str_ref intended;  /* 0 unless it names another specimen */
	uint16_t stated_code; /* LW_CODE_NULL when null */
	uint8_t channel;
} lw_notif_rec;

/* An incident already alerted: the low 64 bits of its alert ID, and the
 * distinct recipients, revision and severity last sent. */
typedef struct lw_emitted {
	uint64_t key;
	uint32_t recipients;
	uint32_t revision;
	uint8_t severity;
} lw_emitted;

/* The record's arrays and strings live in one heap block, in this order:
 * results, notifs, contacts, emitted, strings. The block starts at
 * `results`; `notifs` points into it. Both move when it grows: do not keep
 * them (or anything read through them) across an add. The block keeps
 * spare room (cap), so that one lw_specimen can serve as the working view
 * of one record after another (lw_specimen_unpack) without reallocating. */
typedef struct lw_specimen {
	lw_result_rec *results; /* also the start of the block */
	lw_notif_rec *notifs;
	int64_t last_event_ms; /* newest event time seen */
	uint32_t strs_len;     /* bytes of the string area */
	uint32_t cap;	       /* bytes allocated for the block */
	lw_str_ref pk_ref;     /* patient_key's, 0 = none */
	uint32_t dropped_events;
	uint16_t nresults, nnotifs, ncontacts, nemitted;
	uint8_t update_pending; /* an incident grew; engine flushes it */
	uint8_t timer_alerted;	/* a timer rule has alerted (late-event
				   accounting) */
} lw_specimen;

/* The record's ID (NUL-terminated; valid until the record changes). */
const char *lw_specimen_id(const lw_specimen *s);
/* Is the record's ID exactly these len bytes? */
int lw_specimen_id_is(const lw_specimen *s, const char *id, size_t len);
/* Its patient_key, NULL until a result arrives: in the record (valid
 * until the record changes) or, for a key kept in the compact hex form
 * (specimen.c), written into buf. */
const char *lw_specimen_patient_key(const lw_specimen *s, char buf[LW_PK_BUF]);
/* A 64-bit identity of its patient_key (equal keys, equal values), 0 when
 * it has none. Internal to labwatch (fan-in counts distinct patients with
 * it) and never output; computed on each call from the key as stored. */
uint64_t lw_specimen_patient_hash(const lw_specimen *s);
/* The contact key hashes and the emitted incidents. */
const uint64_t *lw_specimen_contacts(const lw_specimen *s);
const lw_emitted *lw_specimen_emitted(const lw_specimen *s);

/* Hash used for recipient and contact keys (stable, see hash.h). */
uint64_t lw_specimen_key_hash(const char *p, size_t n);

/* Adds a result version. Returns 1 if added, 0 if its event_id was already
 * present (a redelivery), -1 if the per-specimen cap dropped it. The code
 * ID is interned by the caller. */
int lw_specimen_add_result(lw_specimen *s, const lw_result_event *ev,
			   uint16_t code, int32_t partition, int64_t offset);
/* Adds a notification; same returns as above. */
int lw_specimen_add_notification(lw_specimen *s,
				 const lw_notification_event *ev,
				 uint16_t stated_code, int32_t partition,
				 int64_t offset);
/* The same, for a caller that has hashed the recipient key already
 * (recipient = lw_specimen_key_hash(recipient_key)). */
int lw_specimen_add_notification_hashed(lw_specimen *s,
					const lw_notification_event *ev,
					uint64_t recipient,
					uint16_t stated_code, int32_t partition,
					int64_t offset);

int lw_specimen_has_contact(const lw_specimen *s, uint64_t key);
lw_emitted *lw_specimen_find_emitted(lw_specimen *s, uint64_t key);
void lw_specimen_set_emitted(lw_specimen *s, uint64_t key, uint32_t recipients,
			     uint32_t revision, uint8_t severity);

/* String ref of a record: the string, NUL-terminated, either in the record
 * (valid until the record changes) or unpacked into buf; NULL for ref 0. */
const char *lw_specimen_str(const lw_specimen *s, lw_str_ref ref,
			    char buf[LW_ID_BUF]);
/* ---- stored strings, for other modules that keep IDs ----
 *
 * The form a record keeps a string in (specimen.c: a tag byte, then a
 * canonical UUID's 16 bytes or the string verbatim and NUL-terminated) is
 * a function of the string, so a module that keeps IDs copied out of
 * records (fanin.h) can copy the stored bytes as they are, at about half
 * the size of the text for a UUID, and spell them only when it outputs
 * them. */

/* Room lw_stored_pack() may need for a string of len bytes. */
#define LW_STORED_BOUND(len) ((size_t)(len) + 6)
/* Writes the stored form of the len bytes at p into out (room for
 * LW_STORED_BOUND(len)); returns the bytes written. */
size_t lw_stored_pack(const char *p, size_t len, unsigned char *out);
/* Bytes of the stored string at st. */
size_t lw_stored_len(const unsigned char *st);
/* The stored string at st as text (NUL-terminated): in st itself or
 * unpacked into buf. */
const char *lw_stored_str(const unsigned char *st, char buf[LW_ID_BUF]);
/* A string ref's stored form inside the record (valid until the record
 * changes; NULL for ref 0), and the record ID's. */
const unsigned char *lw_specimen_str_stored(const lw_specimen *s,
					    lw_str_ref ref);
const unsigned char *lw_specimen_id_stored(const lw_specimen *s);

/* strcmp() order of two string refs of s (0 sorts first). */
int lw_specimen_str_cmp(const lw_specimen *s, lw_str_ref a, lw_str_ref b);

/* Sets the record's ID (copied); s is empty or was cleared. */
void lw_specimen_init(lw_specimen *s, const char *id, size_t len);
/* Makes s a record holding only this ID, reusing s's block. */
void lw_specimen_reset(lw_specimen *s, const char *id, size_t len);
/* Bytes of the block in use (not counting spare room); O(1). */
size_t lw_specimen_bytes(const lw_specimen *s);

/* ---- the packed form: a record at rest ----
 *
 * The state keeps each record packed: the same content, numbers as
 * varints (times and offsets as differences), the string area as is, the
 * record's ID first. Packing is a function of the record, so equal records
 * pack to equal bytes, and unpack(pack(s)) is s. The packed bytes are the
 * state's to own; these functions only read or write the buffers they are
 * given. */

/* An upper bound on lw_specimen_pack()'s output for s. */
size_t lw_specimen_pack_bound(const lw_specimen *s);
/* Writes s packed into out (lw_specimen_pack_bound(s) bytes of room);
 * returns the bytes written. */
size_t lw_specimen_pack(const lw_specimen *s, unsigned char *out);
/* The packed form of a record holding only this ID, exactly what
 * lw_specimen_pack writes for it after lw_specimen_reset(id, len), without
 * building that record; lw_specimen_pack_id_bound(len) bytes of room. */
size_t lw_specimen_pack_id_bound(size_t len);
size_t lw_specimen_pack_id(const char *id, size_t len, unsigned char *out);
/* Replaces s's content by the packed record p (len bytes from
 * lw_specimen_pack), reusing s's block. Returns the bytes it read, len
 * for a well-formed record (tests check it). */
size_t lw_specimen_unpack(lw_specimen *s, const unsigned char *p, size_t len);
/* Is the packed record's ID exactly these len bytes? (No unpacking.) */
int lw_specimen_packed_id_is(const unsigned char *p, const char *id,
			     size_t len);
/* Frees everything the record owns and zeroes it (the struct itself is the
 * caller's). */
void lw_specimen_clear(lw_specimen *s);

#endif
