/* wheel: a two-level hashed timer wheel over event time.
 *
 * Entries are intrusive (lw_wheel_entry embedded in the caller's struct)
 * and carry an absolute due time in ms. The fine level has 256 slots of one
 * second, the coarse level 4096 slots of 256 s (about 12 days); an entry
 * further out sits in the last coarse slot and is placed again when that
 * slot comes round (a coarse slot is eight lists, filled in turn, so that
 * its cascade overlaps the cache misses of eight list walks; about 1 MiB
 * of list heads in all). Insert, move and remove are O(1); lw_wheel_advance()
 * costs O(slots passed + entries fired or cascaded) and stops after a
 * budget of entries, resuming where it stopped on the next call, so one call
 * never stalls a loop. Jumps of stream time over empty stretches skip whole
 * slots.
 *
 * An entry fires when stream time now >= due. The callback receives the
 * entry already unlinked; it may re-insert it (an entry re-inserted as due
 * fires again in the same advance), insert or remove others, or free it.
 * Entries due in the same second fire in an order fixed by the sequence of
 * inserts and advances (deterministic for a deterministic input), not
 * necessarily by due time or insertion order. Not thread-safe. */
#ifndef LW_WHEEL_H
#define LW_WHEEL_H

#include <stddef.h>
#include <stdint.h>

typedef struct lw_wheel_entry {
	struct lw_wheel_entry *next, *prev; /* NULL prev: not linked */
	int64_t due;
	int16_t linked;
	/* Not the wheel's: six bytes that would be padding, for the owner of
	 * the struct the entry is embedded in (state.c keeps its record
	 * length and flags here). The wheel never reads or writes them. */
	uint16_t owner_u16;
	uint32_t owner_u32;
} lw_wheel_entry;

#define LW_WHEEL_FINE	256
#define LW_WHEEL_COARSE 4096
/* A coarse slot's entries are spread over this many lists in turn, so
 * that its cascade walks them side by side: a walk down one list waits
 * for each entry's memory in turn, eight walks overlap those waits. */
#define LW_WHEEL_LANES 8

typedef struct lw_wheel {
	lw_wheel_entry fine[LW_WHEEL_FINE]; /* list heads (sentinels) */
	/* list heads: slot s's k-th entry since its last cascade goes to
	 * lane k % LW_WHEEL_LANES (lane[s] counts) */
	lw_wheel_entry coarse[LW_WHEEL_COARSE][LW_WHEEL_LANES];
	uint8_t lane[LW_WHEEL_COARSE];
	lw_wheel_entry early; /* due before cur: fire next */
	int64_t cur;	      /* current tick (seconds); INT64_MIN = unset */
	int cascaded;	      /* coarse slot of cur already cascaded */
	size_t nfine, ncoarse, nearly;
	size_t count;
	int caught_up; /* the last advance fired everything due */
	/* Optional cache hint, NULL by default: called before each entry
	 * fires with the entries that will fire after it (next, and the one
	 * after, or NULL), so the owner can start loading what their
	 * callbacks will touch. It must not change anything. */
	void (*ahead)(void *ahead_opaque, const lw_wheel_entry *next,
		      const lw_wheel_entry *after);
	void *ahead_opaque;
} lw_wheel;

typedef void (*lw_wheel_fire_fn)(void *opaque, lw_wheel_entry *e);

void lw_wheel_init(lw_wheel *w);
/* Links e with due time `due` (unlinking it first if linked). */
void lw_wheel_insert(lw_wheel *w, lw_wheel_entry *e, int64_t due);
void lw_wheel_remove(lw_wheel *w, lw_wheel_entry *e);
/* Moves a linked entry's due time later, to `due`, without relinking it:
 * O(1), and it touches e only (a move touches its list neighbours, cache
 * misses in a large wheel). The entry stays in its list until the wheel
 * reaches that list, which places it again by its new due time; it fires
 * at the new time, not before. An earlier `due`, or an unlinked e, changes
 * nothing (use lw_wheel_insert). */
void lw_wheel_delay(lw_wheel *w, lw_wheel_entry *e, int64_t due);
/* Fires entries with due <= now, at most budget of them. Returns the
 * number fired; w->caught_up tells whether any due entry is left. */
size_t lw_wheel_advance(lw_wheel *w, int64_t now, size_t budget,
			lw_wheel_fire_fn fire, void *opaque);
/* Unlinks everything (entries are the caller's). */
void lw_wheel_clear(lw_wheel *w);

#endif
