/* model/progress.h — progress reports on stderr.
 *
 * On a terminal (stderr isatty) one bar updated in place with '\r':
 *   label [#####.....] done/total  pct%  elapsed  ETA  note
 * otherwise a plain line at most every ~5% or 10 s, and one at the end.
 * Thread-safe: several threads may advance the same progress.
 */
#ifndef WSK_MODEL_PROGRESS_H
#define WSK_MODEL_PROGRESS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsk_progress wsk_progress;
/* Returns NULL only when out of memory; every function accepts NULL. */
wsk_progress *wsk_progress_begin(const char *label, size_t total);
void wsk_progress_advance(wsk_progress *p, size_t done_delta, const char *note /* may be NULL */);
/* Prints the final state (and a newline on a terminal) and frees p. */
void wsk_progress_end(wsk_progress *p);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_PROGRESS_H */
