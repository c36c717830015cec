/* wheel: two-level timer wheel (see wheel.h).
 *
 * Design: each slot is a circular doubly-linked list with a sentinel, so
 * link and unlink need no branches on emptiness. `cur` is the tick (second)
 * the wheel has reached; the fine slot of cur is re-scanned on every
 * advance because stream time can sit inside a second. A coarse slot is
 * cascaded (its entries re-inserted, landing in fine slots) when cur enters
 * its 256-tick range. Entries inserted before the wheel knows the present
 * wait in `early` and are placed (or fired) on the first advance.
 * Invariant: an entry with tick t in fine is within [cur, cur + 256); in
 * coarse, its coarse index is in ((cur >> 8), (cur >> 8) + 4096) unless it
 * is parked in the last slot because it is further out. An entry delayed in
 * place (lw_wheel_delay) breaks neither: its list is still reached no later
 * than its new due time, and the cascade or the slot scan that reaches it
 * places it by its due time again, as a parked entry is. The scan of a fine
 * slot re-places an entry whose tick is past cur instead of keeping it,
 * so a delayed entry never waits in a fine slot for a lap. */
#include "wheel.h"

#include <string.h>

enum { L_NONE, L_FINE, L_COARSE, L_EARLY };

static int64_t tick_of(int64_t ms)
{
	return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

static void list_init(lw_wheel_entry *h)
{
	h->next = h->prev = h;
	h->linked = L_NONE;
}

static int list_empty(const lw_wheel_entry *h)
{
	return h->next == h;
}

static void link_tail(lw_wheel_entry *h, lw_wheel_entry *e)
{
	e->prev = h->prev;
	e->next = h;
	h->prev->next = e;
	h->prev = e;
}

static void unlink_e(lw_wheel_entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->next = e->prev = NULL;
}

void lw_wheel_init(lw_wheel *w)
{
	for (int i = 0; i < LW_WHEEL_FINE; i++)
		list_init(&w->fine[i]);
	for (int i = 0; i < LW_WHEEL_COARSE; i++) {
		for (int l = 0; l < LW_WHEEL_LANES; l++)
			list_init(&w->coarse[i][l]);
		w->lane[i] = 0;
	}
	list_init(&w->early);
	w->cur = INT64_MIN;
	w->cascaded = 0;
	w->nfine = w->ncoarse = w->nearly = w->count = 0;
	w->caught_up = 1;
	w->ahead = NULL;
	w->ahead_opaque = NULL;
}

void lw_wheel_remove(lw_wheel *w, lw_wheel_entry *e)
{
	switch (e->linked) {
	case L_FINE:
		w->nfine--;
		break;
	case L_COARSE:
		w->ncoarse--;
		break;
	case L_EARLY:
		w->nearly--;
		break;
	default:
		return;
	}
	unlink_e(e);
	e->linked = L_NONE;
	w->count--;
}

static void place(lw_wheel *w, lw_wheel_entry *e)
{
	int64_t t = tick_of(e->due);
	if (w->cur == INT64_MIN) {
		link_tail(&w->early, e);
		e->linked = L_EARLY;
		w->nearly++;
	} else if (t - w->cur < LW_WHEEL_FINE) {
		/* Due now or within the fine range (past ticks land in the
		 * current slot, which every advance scans). */
		link_tail(
		    &w->fine[(t < w->cur ? w->cur : t) & (LW_WHEEL_FINE - 1)],
		    e);
		e->linked = L_FINE;
		w->nfine++;
	} else {
		int64_t c = t >> 8, cc = w->cur >> 8;
		if (c - cc >= LW_WHEEL_COARSE)
			c = cc + LW_WHEEL_COARSE - 1; /* parked */
		int64_t s = c & (LW_WHEEL_COARSE - 1);
		link_tail(&w->coarse[s][w->lane[s]++ % LW_WHEEL_LANES], e);
		e->linked = L_COARSE;
		w->ncoarse++;
	}
	w->count++;
}

void lw_wheel_insert(lw_wheel *w, lw_wheel_entry *e, int64_t due)
{
	if (e->linked)
		lw_wheel_remove(w, e);
	e->due = due;
	place(w, e);
}

void lw_wheel_delay(lw_wheel *w, lw_wheel_entry *e, int64_t due)
{
	(void)w;
	if (e->linked && due > e->due)
		e->due = due;
}

/* Moves the whole list at h to the local sentinel tmp. */
static void detach(lw_wheel_entry *h, lw_wheel_entry *tmp)
{
	list_init(tmp);
	if (list_empty(h))
		return;
	tmp->next = h->next;
	tmp->prev = h->prev;
	tmp->next->prev = tmp;
	tmp->prev->next = tmp;
	list_init(h);
}

/* Puts what is left in tmp back at the front of h, in order. */
static void reattach_front(lw_wheel_entry *h, lw_wheel_entry *tmp)
{
	if (list_empty(tmp))
		return;
	tmp->prev->next = h->next;
	h->next->prev = tmp->prev;
	h->next = tmp->next;
	tmp->next->prev = h;
	list_init(tmp);
}

/* Places again every entry of the coarse slot of cur, taking the heads of
 * its lanes in turn (the order they were inserted in, unless some were
 * removed) and loading each lane's next entry a round ahead. No entry is
 * unlinked on its own: its list is dropped whole once walked (place()
 * never puts an entry back into this slot: a later tick goes to another
 * coarse slot, one further out is parked in the last), so the walk writes
 * to no neighbour. */
static void cascade(lw_wheel *w)
{
	size_t s = (size_t)((w->cur >> 8) & (LW_WHEEL_COARSE - 1));
	lw_wheel_entry *h = w->coarse[s], *at[LW_WHEEL_LANES];
	int left = 0;
	for (int l = 0; l < LW_WHEEL_LANES; l++) {
		at[l] = list_empty(&h[l]) ? NULL : h[l].next;
		left += at[l] != NULL;
	}
	while (left) {
		for (int l = 0; l < LW_WHEEL_LANES; l++) {
			lw_wheel_entry *e = at[l];
			if (!e)
				continue;
			at[l] = e->next == &h[l] ? NULL : e->next;
			if (at[l])
				__builtin_prefetch(at[l]);
			else
				left--;
			w->ncoarse--;
			w->count--;
			place(w, e);
		}
	}
	for (int l = 0; l < LW_WHEEL_LANES; l++)
		list_init(&h[l]);
	w->lane[s] = 0;
	w->cascaded = 1;
}

/* Fires the due entries of list h (all of them if all_due), up to *left;
 * level is the list's level for the counters. Returns 1 if the budget ran
 * out with due entries left. */
static int fire_list(lw_wheel *w, lw_wheel_entry *h, int level, int64_t now,
		     size_t *left, size_t *fired, lw_wheel_fire_fn fire,
		     void *opaque)
{
	lw_wheel_entry tmp, keep;
	int out = 0;
	detach(h, &tmp);
	list_init(&keep);
	while (!list_empty(&tmp)) {
		lw_wheel_entry *e = tmp.next;
		if (e->due > now) {
			unlink_e(e);
			if (tick_of(e->due) > w->cur) {
				/* delayed in place (lw_wheel_delay): its slot
				 * is another one now */
				w->nfine--;
				w->count--;
				place(w, e);
			} else {
				link_tail(&keep, e); /* later this second */
			}
			continue;
		}
		if (*left == 0) {
			out = 1;
			break;
		}
		unlink_e(e);
		e->linked = L_NONE;
		if (level == L_FINE)
			w->nfine--;
		else
			w->nearly--;
		w->count--;
		(*left)--;
		(*fired)++;
		if (w->ahead && !list_empty(&tmp))
			w->ahead(w->ahead_opaque, tmp.next,
				 tmp.next->next != &tmp ? tmp.next->next
							: NULL);
		fire(opaque, e);
	}
	/* Not yet due, then the unprocessed rest, back in front of anything
	 * the callbacks added, preserving order. */
	reattach_front(h, &tmp);
	reattach_front(h, &keep);
	return out;
}

size_t lw_wheel_advance(lw_wheel *w, int64_t now, size_t budget,
			lw_wheel_fire_fn fire, void *opaque)
{
	size_t left = budget, fired = 0;
	int64_t T = tick_of(now);
	if (w->cur == INT64_MIN) {
		lw_wheel_entry tmp;
		w->cur = T;
		w->cascaded = 0;
		/* place the early ones now that the present is known */
		detach(&w->early, &tmp);
		while (!list_empty(&tmp)) {
			lw_wheel_entry *e = tmp.next;
			unlink_e(e);
			w->nearly--;
			w->count--;
			place(w, e);
		}
	}
	if (T < w->cur)
		T = w->cur; /* time does not go back */
	for (;;) {
		lw_wheel_entry *slot;
		if (!w->cascaded)
			cascade(w);
		slot = &w->fine[w->cur & (LW_WHEEL_FINE - 1)];
		/* Callbacks may re-insert due entries into this slot: go
		 * round until a pass fires nothing. */
		for (;;) {
			size_t before = fired;
			if (fire_list(w, slot, L_FINE, now, &left, &fired, fire,
				      opaque)) {
				w->caught_up = 0;
				return fired;
			}
			if (fired == before)
				break;
		}
		if (w->cur >= T) {
			w->caught_up = 1;
			return fired;
		}
		/* Next tick; skip stretches with nothing to do. */
		if (w->nfine == 0 && w->ncoarse == 0) {
			w->cur = T;
			w->cascaded = 0;
			continue;
		}
		if (w->nfine == 0) {
			int64_t next = ((w->cur >> 8) + 1) << 8;
			w->cur = next < T ? next : T;
			/* a boundary needs its cascade; inside the old
			 * range it was done */
			w->cascaded = (w->cur & 255) != 0;
			continue;
		}
		w->cur++;
		if ((w->cur & 255) == 0)
			w->cascaded = 0;
	}
}

void lw_wheel_clear(lw_wheel *w)
{
	for (int i = 0; i < LW_WHEEL_FINE; i++)
		while (!list_empty(&w->fine[i]))
			lw_wheel_remove(w, w->fine[i].next);
	for (int i = 0; i < LW_WHEEL_COARSE; i++)
		for (int l = 0; l < LW_WHEEL_LANES; l++)
			while (!list_empty(&w->coarse[i][l]))
				lw_wheel_remove(w, w->coarse[i][l].next);
	while (!list_empty(&w->early))
		lw_wheel_remove(w, w->early.next);
}
