/* xmalloc: allocation that never returns NULL.
 *
 * Running out of memory is not an input error we can recover from: the state
 * table has its own byte cap, so hitting the allocator's limit means the
 * machine is misconfigured. These helpers print one line and abort(). Bad
 * INPUT is never handled here: it is counted and dead-lettered elsewhere. */
#ifndef LW_XMALLOC_H
#define LW_XMALLOC_H

#include <stddef.h>

void *lw_xmalloc(size_t n);
void *lw_xcalloc(size_t count, size_t size);
void *lw_xrealloc(void *p, size_t n);
/* Returns a NUL-terminated copy; the caller owns it (free()). */
char *lw_xstrdup(const char *s);
char *lw_xstrndup(const char *s, size_t n);

#endif
