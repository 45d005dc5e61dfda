/* dispatch/threads_internal.h — hooks of the thread pool for the unit tests
 * (internal; exported from the library like dispatch/dispatch_internal.h).
 */
#ifndef WSK_DISPATCH_THREADS_INTERNAL_H
#define WSK_DISPATCH_THREADS_INTERNAL_H

#include "wsk/threads.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Forgets the pool as if the process had just started: shuts it down, drops
 * the size of wsk_threads_set_count() and re-reads WSK_NUM_THREADS (and
 * WSK_VERBOSE) from the environment. The pool is created again on next use.
 * Like wsk_threads_set_count() it waits for running parallel work; from
 * inside a task it does nothing. */
void wsk__threads_reset_for_tests(void);

#ifdef __cplusplus
}
#endif
#endif
