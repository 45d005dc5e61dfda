/* wsk/threads.h — the thread pool that the kernels and the model use.
 *
 * One process-wide pool of POSIX threads, created on first use and shut down
 * at exit (or by wsk_threads_shutdown()). wsk_parallel_for() runs a task over
 * the indices [0, count): the calling thread takes part as thread 0 and the
 * pool's workers are threads 1..n-1.
 *
 * Size: WSK_NUM_THREADS (a positive decimal integer, at most
 * WSK_THREADS_MAX; empty means unset) or, by default, the number of physical
 * cores that hwloc reports among the CPUs the process may run on (falling
 * back to sysconf(_SC_NPROCESSORS_ONLN)). An invalid WSK_NUM_THREADS is an
 * error (WSK_ERR_ARG with a message naming the value) returned by
 * wsk_threads_init() and by every wsk_parallel_for(), until
 * wsk_threads_set_count() overrides it — as an invalid WSK_ISA stops the
 * kernels until wsk_set_isa() overrides it.
 *
 * Pinning: worker i is bound with hwloc to one hardware thread of core i
 * (cores in hwloc's logical order, among those the process may use) when the
 * pool has no more threads than there are cores and the OS lets hwloc bind
 * threads (Linux does; macOS does not). The calling thread is never bound.
 * wsk_threads_pinning() says what was done and, when nothing was, why.
 *
 * Partitioning is static and deterministic: with n threads, thread t runs one
 * contiguous chunk of indices, the t-th of n near-equal chunks
 * (wsk_parallel_chunk()). Results must still not depend on it: the parity
 * contract (README "Parity") requires that a kernel's bits are the same for
 * every thread count, so each output must be computed in an order that does
 * not depend on which thread computes it.
 */
#ifndef WSK_THREADS_H
#define WSK_THREADS_H

#include <stddef.h>

#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest pool WSK_NUM_THREADS and wsk_threads_set_count() accept. */
#define WSK_THREADS_MAX 1024

/* A task: runs index `index` of a wsk_parallel_for() on thread `thread`
 * (0 = the calling thread, 1..n-1 = workers; always equal to
 * wsk_thread_index() while the task runs). Tasks must not longjmp out of the
 * call or exit the thread. */
typedef void (*wsk_task_fn)(void *ctx, size_t index, int thread);

/* Reads and validates WSK_NUM_THREADS (once per process) and creates the pool
 * if it does not exist. WSK_ERR_ARG when WSK_NUM_THREADS is invalid (the pool
 * is then created only if wsk_threads_set_count() chose a size);
 * WSK_ERR_NOMEM when a thread or its memory could not be had. Optional: the
 * pool is created on first use anyway; programs call it to fail fast.
 * The pool takes its cores from the CPUs the process may use when it is
 * created: a program that binds its own thread to one core should create the
 * pool first, or the workers see only that core. */
wsk_status wsk_threads_init(void);

/* The number of threads a wsk_parallel_for() uses, the caller included
 * (>= 1). Creates the pool if needed; 1 when it cannot be created (invalid
 * WSK_NUM_THREADS, no memory). */
int wsk_threads_count(void);

/* Recreates the pool with n threads (the caller included), overriding
 * WSK_NUM_THREADS until wsk__threads_reset_for_tests() or the end of the
 * process; the size survives wsk_threads_shutdown(). For tests and
 * benchmarks. It waits for a wsk_parallel_for() running on another thread to
 * finish; called from inside a task it fails with WSK_ERR_ARG.
 * WSK_ERR_SIZE when n < 1, WSK_ERR_ARG when n > WSK_THREADS_MAX. */
wsk_status wsk_threads_set_count(int n);

/* Stops and joins the workers and frees the pool; the next use creates it
 * again. Runs at exit by itself. Waits for a running wsk_parallel_for() on
 * another thread; does nothing when called from inside a task. */
void wsk_threads_shutdown(void);

/* Runs fn(ctx, i, thread) once for every i in [0, count) and returns when all
 * have returned. Thread t of n runs the indices of wsk_parallel_chunk(count,
 * n, t), in increasing order. The calling thread is thread 0.
 *  - count == 0 returns WSK_OK at once, without calling fn.
 *  - Nested calls (from inside a task) run every index serially on the
 *    thread that makes the call, with that thread's index.
 *  - Calls from several user threads at once are safe: they take turns on the
 *    pool (one runs, the others wait for it), so a given `thread` value is
 *    never used by two tasks at the same time, and per-thread scratch indexed
 *    by `thread` stays private.
 * WSK_ERR_NULL when fn is NULL (and count > 0); the errors of
 * wsk_threads_init() when the pool cannot be created. */
wsk_status wsk_parallel_for(size_t count, wsk_task_fn fn, void *ctx);

/* The index of the calling thread: 1..n-1 inside a pool worker, 0 anywhere
 * else (the thread that called wsk_parallel_for(), any other thread). */
int wsk_thread_index(void);

/* The chunk of [0, count) that thread `thread` of `nthreads` runs:
 * [*begin, *end). The first count % nthreads threads get one index more than
 * the others; threads past count get an empty chunk. Pure; a thread outside
 * [0, nthreads) or nthreads < 1 gets an empty chunk. */
void wsk_parallel_chunk(size_t count, int nthreads, int thread, size_t *begin, size_t *end);

/* How the current pool's workers are pinned, in words ("no pool" before the
 * first use and after a shutdown): the binding, or why there is none. The
 * text is a copy for the calling thread, valid until its next call. */
const char *wsk_threads_pinning(void);

#ifdef __cplusplus
}
#endif
#endif /* WSK_THREADS_H */
