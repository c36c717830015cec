/* specimen: the per-specimen record and its small, exact-size arrays.
 *
 * Design: most specimens hold one result and one to three notifications, so
 * arrays grow one element at a time with realloc (jemalloc's size classes
 * make most of these in place) rather than doubling: memory per tracked
 * specimen is what limits how many a small machine can watch. Duplicate
 * detection is a linear scan of the few events a specimen has; the caps in
 * specimen.h bound it. */
#include "specimen.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "xmalloc.h"

#define KEY_SEED 0x6c77726b6579ULL

uint64_t lw_specimen_key_hash(const char *p, size_t n)
{
	return lw_hash64(p, n, KEY_SEED);
}

static int str_eq(const char *a, lw_str b)
{
	return strlen(a) == b.len && memcmp(a, b.p, b.len) == 0;
}

static char *dup_or_null(lw_str s)
{
	return s.p ? lw_xstrndup(s.p, s.len) : NULL;
}

static void add_contact(lw_specimen *s, uint64_t h)
{
	if (lw_specimen_has_contact(s, h) ||
	    s->ncontacts >= LW_SPECIMEN_MAX_CONTACTS)
		return;
	s->contacts =
	    lw_xrealloc(s->contacts, (s->ncontacts + 1) * sizeof *s->contacts);
	s->contacts[s->ncontacts++] = h;
	s->bytes += sizeof h;
}

int lw_specimen_add_result(lw_specimen *s, const lw_result_event *ev,
			   uint16_t code, int32_t partition, int64_t offset)
{
	lw_result_rec *r;
	for (uint32_t i = 0; i < s->nresults; i++)
		if (str_eq(s->results[i].event_id, ev->event_id))
			return 0;
	if (s->nresults >= LW_SPECIMEN_MAX_RESULTS) {
		s->dropped_events++;
		return -1;
	}
	s->results =
	    lw_xrealloc(s->results, (s->nresults + 1) * sizeof *s->results);
	r = &s->results[s->nresults++];
	r->event_id = lw_xstrndup(ev->event_id.p, ev->event_id.len);
	r->recorded_at = ev->recorded_at;
	r->offset = offset;
	r->partition = partition;
	r->version = ev->result_version;
	r->code = code;
	r->status = (uint8_t)ev->status;
	r->retest_pending = (uint8_t)ev->retest_pending;
	s->bytes += (uint32_t)(sizeof *r + ev->event_id.len + 1);
	if (!s->patient_key) {
		s->patient_key =
		    lw_xstrndup(ev->patient_key.p, ev->patient_key.len);
		s->patient_hash = lw_specimen_key_hash(ev->patient_key.p,
						       ev->patient_key.len);
		s->bytes += ev->patient_key.len + 1;
	}
	/* A withdrawn result (CANCELLED, or ENTERED_IN_ERROR: HL7's "wrong
	 * patient") may list another patient's contacts. */
	for (uint32_t i = 0;
	     ev->status != LW_STATUS_CANCELLED &&
	     ev->status != LW_STATUS_ENTERED_IN_ERROR && i < ev->n_contact_keys;
	     i++)
		add_contact(s, lw_specimen_key_hash(ev->contact_keys[i].p,
						    ev->contact_keys[i].len));
	if (ev->recorded_at > s->last_event_ms)
		s->last_event_ms = ev->recorded_at;
	return 1;
}

int lw_specimen_add_notification(lw_specimen *s,
				 const lw_notification_event *ev,
				 uint16_t stated_code, int32_t partition,
				 int64_t offset)
{
	lw_notif_rec *n;
	for (uint32_t i = 0; i < s->nnotifs; i++)
		if (str_eq(s->notifs[i].notification_id, ev->notification_id))
			return 0;
	if (s->nnotifs >= LW_SPECIMEN_MAX_NOTIFS) {
		s->dropped_events++;
		return -1;
	}
	s->notifs =
	    lw_xrealloc(s->notifs, (s->nnotifs + 1) * sizeof *s->notifs);
	n = &s->notifs[s->nnotifs++];
	n->notification_id =
	    lw_xstrndup(ev->notification_id.p, ev->notification_id.len);
	n->batch_id = dup_or_null(ev->batch_id);
	n->intended = NULL;
	if (ev->intended_specimen_id.p && ev->intended_specimen_id.len &&
	    !(ev->intended_specimen_id.len == ev->specimen_id.len &&
	      memcmp(ev->intended_specimen_id.p, ev->specimen_id.p,
		     ev->specimen_id.len) == 0))
		n->intended = dup_or_null(ev->intended_specimen_id);
	n->recipient =
	    lw_specimen_key_hash(ev->recipient_key.p, ev->recipient_key.len);
	n->sent_at = ev->sent_at;
	n->offset = offset;
	n->partition = partition;
	n->stated_version =
	    ev->has_result_version ? ev->result_version : LW_NO_VERSION;
	n->stated_code = stated_code;
	n->channel = (uint8_t)ev->channel;
	s->bytes += (uint32_t)(sizeof *n + ev->notification_id.len + 1);
	if (n->batch_id)
		s->bytes += ev->batch_id.len + 1;
	if (n->intended)
		s->bytes += ev->intended_specimen_id.len + 1;
	if (ev->sent_at > s->last_event_ms)
		s->last_event_ms = ev->sent_at;
	return 1;
}

int lw_specimen_has_contact(const lw_specimen *s, uint64_t key)
{
	for (uint32_t i = 0; i < s->ncontacts; i++)
		if (s->contacts[i] == key)
			return 1;
	return 0;
}

lw_emitted *lw_specimen_find_emitted(lw_specimen *s, uint64_t key)
{
	for (uint32_t i = 0; i < s->nemitted; i++)
		if (s->emitted[i].key == key)
			return &s->emitted[i];
	return NULL;
}

void lw_specimen_set_emitted(lw_specimen *s, uint64_t key, uint32_t recipients,
			     uint32_t revision, uint8_t severity)
{
	lw_emitted *e = lw_specimen_find_emitted(s, key);
	if (!e) {
		s->emitted = lw_xrealloc(s->emitted, (s->nemitted + 1) *
							 sizeof *s->emitted);
		e = &s->emitted[s->nemitted++];
		e->key = key;
		s->bytes += sizeof *e;
	}
	e->recipients = recipients;
	e->revision = revision;
	e->severity = severity;
}

void lw_specimen_init(lw_specimen *s, const char *id, size_t len)
{
	memset(s, 0, sizeof *s);
	s->id = lw_xstrndup(id, len);
	s->bytes = (uint32_t)len + 1;
}

size_t lw_specimen_bytes(const lw_specimen *s)
{
	return s->bytes;
}

void lw_specimen_clear(lw_specimen *s)
{
	for (uint32_t i = 0; i < s->nresults; i++)
		free(s->results[i].event_id);
	for (uint32_t i = 0; i < s->nnotifs; i++) {
		free(s->notifs[i].notification_id);
		free(s->notifs[i].batch_id);
		free(s->notifs[i].intended);
	}
	free(s->results);
	free(s->notifs);
	free(s->contacts);
	free(s->emitted);
	free(s->id);
	free(s->patient_key);
	memset(s, 0, sizeof *s);
}
