/* dispatch/threads.c — the process-wide thread pool (wsk/threads.h).
 *
 * Why POSIX threads and not OpenMP:
 *  - the partition must be static and deterministic, identical under every
 *    compiler and runtime (DESIGN §3: results do not depend on the thread
 *    count, and callers may rely on which thread runs which indices); an
 *    OpenMP schedule is up to the runtime unless every loop pins it down;
 *  - users of libwsk.a / libwsk.so get no OpenMP runtime (libgomp, libomp,
 *    libiomp5) dragged into their process, with its own pool, its own
 *    OMP_NUM_THREADS and its clashes with other OpenMP runtimes;
 *  - pinning is ours to control with hwloc (and to report), the same way as
 *    in the benchmarks (bench/machine.c);
 *  - it works the same with gcc and clang, under qemu-aarch64 and on macOS
 *    (Apple clang ships no OpenMP), and under ThreadSanitizer, which does not
 *    understand libgomp's synchronization.
 *
 * The pool. n threads: the caller of wsk_parallel_for() is thread 0 and
 * n-1 workers are threads 1..n-1. A job (fn, ctx, count) is published in
 * plain fields followed by a release increment of `gen`, the job number;
 * each worker runs its chunk (wsk_parallel_chunk()) and decrements `pending`;
 * the caller runs chunk 0 and then waits for `pending` to reach 0.
 *
 * Waking up. A worker that finished a job spins a little (spin_limit
 * iterations of a pause instruction, a few microseconds) watching `gen`, then
 * sleeps on a condition variable. `gen` changes only under wake_mx, with a
 * broadcast, and a worker re-reads it under wake_mx before it sleeps, so no
 * wake-up is lost (a lock-free handshake here hung under qemu-aarch64).
 * Waiting for the end works the same way: the worker that brings `pending`
 * to 0 broadcasts under done_mx, which the caller holds from its last look at
 * `pending` until it sleeps. A broadcast with nobody waiting does not enter
 * the kernel, so a back-to-back series of small jobs stays cheap; an idle
 * pool sleeps. When the pool has more threads than the process has CPUs to
 * run on, nobody spins (it would steal the CPU from a thread that has work).
 *
 * Locking. `lock` guards the pool's existence (create, resize, shut down)
 * and is held by wsk_parallel_for() for the whole call, so calls from two user
 * threads take turns and a thread index is never used by two tasks at once.
 * A task that calls wsk_parallel_for() again (nested: `tl_depth` > 0) runs it
 * serially on its own thread without touching the lock or the pool.
 */
#include <errno.h>
#include <hwloc.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatch/error.h"
#include "dispatch/threads_internal.h"

#if HWLOC_API_VERSION < 0x00020000
#error "dispatch/threads.c needs hwloc >= 2.0"
#endif

/* Spins of a waiting thread before it sleeps (about 2-10 microseconds). */
#define SPIN_LIMIT 4000

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* ---- the thread's identity --------------------------------------------------- */

static _Thread_local int tl_index; /* 0 outside the pool's workers */
static _Thread_local int tl_depth; /* > 0 while this thread runs a task */

int wsk_thread_index(void) { return tl_index; }

void wsk_parallel_chunk(size_t count, int nthreads, int thread, size_t *begin, size_t *end) {
  size_t b = 0, e = 0;
  if (nthreads >= 1 && thread >= 0 && thread < nthreads) {
    const size_t n = (size_t)nthreads, t = (size_t)thread;
    const size_t base = count / n, extra = count % n;
    b = t * base + (t < extra ? t : extra);
    e = b + base + (t < extra ? 1 : 0);
  }
  if (begin != NULL) *begin = b;
  if (end != NULL) *end = e;
}

/* ---- the topology (hwloc), loaded once per process ----------------------------- */

static struct {
  int ok;                  /* topology loaded */
  int can_bind;            /* hwloc can bind another thread here */
  hwloc_topology_t topo;
  int ncores;              /* entries of core_pu: cores the process may use */
  hwloc_bitmap_t *core_pu; /* one PU of each such core, in logical order */
} topo;

/* As bench/machine.c: the topology restricted to the CPUs this process may
 * run on (taskset, cgroups), one PU per core. */
static void topology_load(void) {
  if (hwloc_topology_init(&topo.topo) != 0) return;
  if (hwloc_topology_load(topo.topo) != 0) {
    hwloc_topology_destroy(topo.topo);
    return;
  }
  topo.ok = 1;
  const struct hwloc_topology_support *sup = hwloc_topology_get_support(topo.topo);
#ifdef hwloc_thread_t
  topo.can_bind = sup != NULL && sup->cpubind != NULL && sup->cpubind->set_thread_cpubind;
#else
  (void)sup;
#endif
  hwloc_bitmap_t allowed = hwloc_bitmap_alloc();
  if (allowed != NULL && hwloc_get_cpubind(topo.topo, allowed, HWLOC_CPUBIND_PROCESS) == 0 &&
      !hwloc_bitmap_iszero(allowed) &&
      !hwloc_bitmap_isincluded(hwloc_topology_get_topology_cpuset(topo.topo), allowed))
    (void)hwloc_topology_restrict(topo.topo, allowed, 0);
  hwloc_bitmap_free(allowed);

  hwloc_obj_type_t type = HWLOC_OBJ_CORE;
  int n = hwloc_get_nbobjs_by_type(topo.topo, type);
  if (n <= 0) { /* no core objects: one per PU */
    type = HWLOC_OBJ_PU;
    n = hwloc_get_nbobjs_by_type(topo.topo, type);
  }
  if (n <= 0) return;
  topo.core_pu = calloc((size_t)n, sizeof *topo.core_pu);
  if (topo.core_pu == NULL) return;
  for (int i = 0; i < n; i++) {
    hwloc_obj_t obj = hwloc_get_obj_by_type(topo.topo, type, (unsigned)i);
    if (obj == NULL || obj->cpuset == NULL) break;
    hwloc_bitmap_t set = hwloc_bitmap_dup(obj->cpuset);
    if (set == NULL) break;
    hwloc_bitmap_singlify(set); /* one PU: the worker stays on one hardware thread */
    topo.core_pu[topo.ncores++] = set;
  }
}

/* Physical cores the process may use; sysconf when hwloc does not know. */
static int default_count(void) {
  long n = topo.ncores;
  if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n <= 0) n = 1;
  return n > WSK_THREADS_MAX ? WSK_THREADS_MAX : (int)n;
}

/* ---- the pool ------------------------------------------------------------------ */

typedef struct worker {
  pthread_t tid;
  int index;          /* 1..n-1 */
  unsigned start_gen; /* `gen` when it was created */
} worker;

static struct {
  pthread_mutex_t lock; /* the pool's existence; held by a running parallel_for */

  /* Under lock. */
  int env_loaded;       /* WSK_NUM_THREADS read */
  int env_count;        /* its value, 0 when unset */
  int env_bad;          /* set and invalid */
  char env_error[256];  /* the message when env_bad */
  int verbose;          /* WSK_VERBOSE */
  int override;         /* wsk_threads_set_count()'s n, 0 when none */
  worker *workers;      /* n-1 of them */
  char pinning[256];    /* wsk_threads_pinning() */

  atomic_int nthreads;  /* pool size, 0 when there is no pool; written under lock */
  int spin_limit;

  /* The job, written by the caller before it bumps gen, and gen: one cache
   * line that the caller writes and the workers read... */
  _Alignas(64) wsk_task_fn fn;
  void *ctx;
  size_t count;
  int stop; /* the job is "exit" */
  atomic_uint gen;      /* job number */

  /* ...and the line that the workers write and the caller watches. */
  _Alignas(64) atomic_int pending; /* workers still on the current job */

  _Alignas(64) char pad_; /* nothing else on pending's line */
  pthread_mutex_t wake_mx;
  pthread_cond_t wake_cv;
  pthread_mutex_t done_mx;
  pthread_cond_t done_cv;
} g = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake_mx = PTHREAD_MUTEX_INITIALIZER,
    .wake_cv = PTHREAD_COND_INITIALIZER,
    .done_mx = PTHREAD_MUTEX_INITIALIZER,
    .done_cv = PTHREAD_COND_INITIALIZER,
    .pinning = "no pool",
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void run_chunk(wsk_task_fn fn, void *ctx, size_t count, int n, int t) {
  size_t b, e;
  wsk_parallel_chunk(count, n, t, &b, &e);
  for (size_t i = b; i < e; i++) fn(ctx, i, t);
}

/* Waits until gen differs from `seen`; returns the new value. gen only
 * changes under wake_mx, and a sleeper re-reads it under wake_mx before it
 * sleeps, so a wake-up cannot be lost. */
static unsigned wait_job(unsigned seen) {
  const int spins = g.spin_limit;
  for (int s = 0; s < spins; s++) {
    unsigned now = atomic_load_explicit(&g.gen, memory_order_acquire);
    if (now != seen) return now;
    cpu_relax();
  }
  pthread_mutex_lock(&g.wake_mx);
  unsigned now;
  while ((now = atomic_load(&g.gen)) == seen) pthread_cond_wait(&g.wake_cv, &g.wake_mx);
  pthread_mutex_unlock(&g.wake_mx);
  return now;
}

/* Starts job gen+1 (its fields are written): wakes the workers. */
static void post_job(void) {
  pthread_mutex_lock(&g.wake_mx);
  atomic_fetch_add(&g.gen, 1); /* seq_cst: releases the job's fields */
  pthread_cond_broadcast(&g.wake_cv);
  pthread_mutex_unlock(&g.wake_mx);
}

/* A worker's part of the end of a job: the last one wakes the caller, under
 * done_mx, which the caller holds from its last look at pending until it
 * sleeps. */
static void finish_job(void) {
  if (atomic_fetch_sub(&g.pending, 1) == 1) {
    pthread_mutex_lock(&g.done_mx);
    pthread_cond_broadcast(&g.done_cv);
    pthread_mutex_unlock(&g.done_mx);
  }
}

/* The caller's part: waits until every worker has finished the job. */
static void wait_done(void) {
  const int spins = g.spin_limit;
  for (int s = 0; s < spins; s++) {
    if (atomic_load_explicit(&g.pending, memory_order_acquire) == 0) return;
    cpu_relax();
  }
  pthread_mutex_lock(&g.done_mx);
  while (atomic_load(&g.pending) != 0) pthread_cond_wait(&g.done_cv, &g.done_mx);
  pthread_mutex_unlock(&g.done_mx);
}

static void *worker_main(void *arg) {
  const worker *w = arg;
  tl_index = w->index;
  tl_depth = 1; /* a worker only ever runs tasks: its wsk_parallel_for() calls nest */
  unsigned seen = w->start_gen;
  for (;;) {
    seen = wait_job(seen);
    if (g.stop) break;
    const int n = atomic_load_explicit(&g.nthreads, memory_order_relaxed);
    run_chunk(g.fn, g.ctx, g.count, n, w->index);
    finish_job();
  }
  return NULL;
}

/* Stops and joins the workers. Under lock. */
static void stop_pool_locked(void) {
  const int n = atomic_load(&g.nthreads);
  if (n == 0) return;
  if (n > 1) {
    g.stop = 1;
    post_job();
    for (int i = 0; i < n - 1; i++) pthread_join(g.workers[i].tid, NULL);
    g.stop = 0;
  }
  free(g.workers);
  g.workers = NULL;
  atomic_store(&g.nthreads, 0);
  snprintf(g.pinning, sizeof g.pinning, "no pool");
}

/* Binds worker i to core i when that is possible and useful; describes it. */
static void pin_workers_locked(int n) {
  if (n == 1) {
    snprintf(g.pinning, sizeof g.pinning, "not pinned: one thread (the caller) and no workers");
    return;
  }
  if (!topo.ok || topo.ncores == 0) {
    snprintf(g.pinning, sizeof g.pinning,
             "not pinned: hwloc could not load the topology");
    return;
  }
  if (!topo.can_bind) {
    snprintf(g.pinning, sizeof g.pinning,
             "not pinned: hwloc cannot bind threads on this OS");
    return;
  }
  if (n > topo.ncores) {
    snprintf(g.pinning, sizeof g.pinning,
             "not pinned: %d threads for %d core%s (oversubscribed)", n, topo.ncores,
             topo.ncores == 1 ? "" : "s");
    return;
  }
  int failed = 0, err = 0;
#ifdef hwloc_thread_t
  for (int i = 0; i < n - 1; i++) {
    const int core = g.workers[i].index;
    if (hwloc_set_thread_cpubind(topo.topo, g.workers[i].tid, topo.core_pu[core], 0) != 0) {
      failed++;
      err = errno;
    }
  }
#endif
  if (failed == 0)
    snprintf(g.pinning, sizeof g.pinning,
             "hwloc: worker i bound to core i (i = 1..%d of %d cores); the caller (thread 0) "
             "is not bound",
             n - 1, topo.ncores);
  else
    snprintf(g.pinning, sizeof g.pinning,
             "partly pinned: %d of %d workers could not be bound (%s)", failed, n - 1,
             strerror(err));
}

/* Creates a pool of n threads. Under lock, with no pool. */
static wsk_status start_pool_locked(int n) {
  /* Hardware threads the process may run on (its affinity, via hwloc). */
  long cpus = topo.ok ? hwloc_get_nbobjs_by_type(topo.topo, HWLOC_OBJ_PU) : 0;
  if (cpus <= 0) cpus = sysconf(_SC_NPROCESSORS_ONLN);
  g.spin_limit = (cpus > 0 && n > cpus) ? 0 : SPIN_LIMIT;
  if (n > 1) {
    g.workers = calloc((size_t)(n - 1), sizeof *g.workers);
    if (g.workers == NULL)
      return wsk__fail(WSK_ERR_NOMEM, "wsk threads: no memory for a pool of %d threads", n);
  }
  /* Workers read nthreads for the partition: set before the first job. */
  atomic_store(&g.nthreads, n);
  const unsigned gen = atomic_load(&g.gen);
  for (int i = 0; i < n - 1; i++) {
    g.workers[i].index = i + 1;
    g.workers[i].start_gen = gen;
    int rc = pthread_create(&g.workers[i].tid, NULL, worker_main, &g.workers[i]);
    if (rc != 0) {
      /* Stop the ones that started, and report. */
      g.stop = 1;
      post_job();
      for (int j = 0; j < i; j++) pthread_join(g.workers[j].tid, NULL);
      g.stop = 0;
      free(g.workers);
      g.workers = NULL;
      atomic_store(&g.nthreads, 0);
      return wsk__fail(WSK_ERR_NOMEM, "wsk threads: could not start worker %d of %d: %s", i + 1,
                       n - 1, strerror(rc));
    }
  }
  pin_workers_locked(n);
  if (g.verbose) fprintf(stderr, "wsk: thread pool: %d threads; %s\n", n, g.pinning);
  return WSK_OK;
}

/* Reads WSK_NUM_THREADS and WSK_VERBOSE. Under lock. */
static void load_env_locked(void) {
  g.env_loaded = 1;
  g.env_count = 0;
  g.env_bad = 0;
  g.env_error[0] = '\0';
  const char *verbose = getenv("WSK_VERBOSE");
  g.verbose = verbose != NULL && verbose[0] != '\0' && strcmp(verbose, "0") != 0;

  const char *v = getenv("WSK_NUM_THREADS");
  if (v == NULL || v[0] == '\0') return; /* WSK_NUM_THREADS= (empty) means unset */
  long long n = 0;
  int digits = 0, big = 0;
  for (const char *p = v; *p; p++) {
    if (*p < '0' || *p > '9') {
      digits = -1;
      break;
    }
    digits++;
    if (n > WSK_THREADS_MAX) big = 1;
    else n = n * 10 + (*p - '0');
  }
  if (digits <= 0) {
    g.env_bad = 1;
    snprintf(g.env_error, sizeof g.env_error,
             "WSK_NUM_THREADS=\"%.40s\" is not a positive integer (use 1..%d, or unset it for "
             "one thread per core)",
             v, WSK_THREADS_MAX);
  } else if (n == 0) {
    g.env_bad = 1;
    snprintf(g.env_error, sizeof g.env_error,
             "WSK_NUM_THREADS=\"%.40s\": the pool needs at least 1 thread (use 1..%d)", v,
             WSK_THREADS_MAX);
  } else if (big || n > WSK_THREADS_MAX) {
    g.env_bad = 1;
    snprintf(g.env_error, sizeof g.env_error,
             "WSK_NUM_THREADS=\"%.40s\" is too large (at most %d)", v, WSK_THREADS_MAX);
  } else {
    g.env_count = (int)n;
  }
}

static void shutdown_at_exit(void) { wsk_threads_shutdown(); }

/* A child of fork() has only the thread that forked: forget the workers (they
 * are not there to join) so that the child's first use makes a new pool. */
static void forget_pool_in_child(void) {
  pthread_mutex_init(&g.lock, NULL);
  pthread_mutex_init(&g.wake_mx, NULL);
  pthread_cond_init(&g.wake_cv, NULL);
  pthread_mutex_init(&g.done_mx, NULL);
  pthread_cond_init(&g.done_cv, NULL);
  free(g.workers);
  g.workers = NULL;
  g.stop = 0;
  atomic_store(&g.nthreads, 0);
  atomic_store(&g.pending, 0);
  snprintf(g.pinning, sizeof g.pinning, "no pool");
}

static void process_init(void) {
  topology_load();
  atexit(shutdown_at_exit);
  pthread_atfork(NULL, NULL, forget_pool_in_child);
}

/* Makes sure a pool exists. Under lock. */
static wsk_status ensure_pool_locked(void) {
  if (atomic_load_explicit(&g.nthreads, memory_order_relaxed) > 0) return WSK_OK;
  pthread_once(&g_once, process_init);
  if (!g.env_loaded) load_env_locked();
  int n = g.override;
  if (n == 0) {
    if (g.env_bad) return wsk__fail(WSK_ERR_ARG, "%s", g.env_error);
    n = g.env_count > 0 ? g.env_count : default_count();
  }
  return start_pool_locked(n);
}

/* ---- public entry points ----------------------------------------------------------- */

wsk_status wsk_threads_init(void) {
  if (tl_depth > 0) return WSK_OK; /* inside a task: the pool exists */
  pthread_mutex_lock(&g.lock);
  wsk_status s = ensure_pool_locked();
  if (s == WSK_OK && g.env_bad) s = wsk__fail(WSK_ERR_ARG, "%s", g.env_error);
  pthread_mutex_unlock(&g.lock);
  return s;
}

int wsk_threads_count(void) {
  int n = atomic_load_explicit(&g.nthreads, memory_order_relaxed);
  if (n > 0 || tl_depth > 0) return n > 0 ? n : 1;
  pthread_mutex_lock(&g.lock);
  char saved[512];
  snprintf(saved, sizeof saved, "%s", wsk_last_error()); /* a getter leaves it alone */
  if (ensure_pool_locked() == WSK_OK) n = atomic_load(&g.nthreads);
  else wsk__fail(WSK_OK, "%s", saved);
  pthread_mutex_unlock(&g.lock);
  return n > 0 ? n : 1;
}

wsk_status wsk_threads_set_count(int n) {
  if (n < 1) return wsk__fail(WSK_ERR_SIZE, "wsk_threads_set_count: n = %d, needs n >= 1", n);
  if (n > WSK_THREADS_MAX)
    return wsk__fail(WSK_ERR_ARG, "wsk_threads_set_count: n = %d, at most %d", n,
                     WSK_THREADS_MAX);
  if (tl_depth > 0)
    return wsk__fail(WSK_ERR_ARG,
                     "wsk_threads_set_count: called from inside a wsk_parallel_for task");
  pthread_mutex_lock(&g.lock);
  pthread_once(&g_once, process_init);
  if (!g.env_loaded) load_env_locked();
  wsk_status s = WSK_OK;
  g.override = n;
  if (atomic_load(&g.nthreads) != n) {
    stop_pool_locked();
    s = start_pool_locked(n);
  }
  pthread_mutex_unlock(&g.lock);
  return s;
}

void wsk_threads_shutdown(void) {
  if (tl_depth > 0) return;
  pthread_mutex_lock(&g.lock);
  stop_pool_locked();
  pthread_mutex_unlock(&g.lock);
}

void wsk__threads_reset_for_tests(void) {
  if (tl_depth > 0) return;
  pthread_mutex_lock(&g.lock);
  stop_pool_locked();
  g.override = 0;
  load_env_locked();
  pthread_mutex_unlock(&g.lock);
}

const char *wsk_threads_pinning(void) {
  static _Thread_local char copy[sizeof g.pinning];
  if (tl_depth > 0) { /* the lock may be this thread's own */
    snprintf(copy, sizeof copy, "(unavailable inside a task)");
    return copy;
  }
  pthread_mutex_lock(&g.lock);
  memcpy(copy, g.pinning, sizeof copy);
  pthread_mutex_unlock(&g.lock);
  return copy;
}

wsk_status wsk_parallel_for(size_t count, wsk_task_fn fn, void *ctx) {
  if (count == 0) return WSK_OK;
  if (fn == NULL) return wsk__fail(WSK_ERR_NULL, "wsk_parallel_for: fn is NULL");

  if (tl_depth > 0) { /* nested: serially, on this thread */
    const int t = tl_index;
    for (size_t i = 0; i < count; i++) fn(ctx, i, t);
    return WSK_OK;
  }

  pthread_mutex_lock(&g.lock);
  wsk_status s = ensure_pool_locked();
  if (s != WSK_OK) {
    pthread_mutex_unlock(&g.lock);
    return s;
  }
  const int n = atomic_load_explicit(&g.nthreads, memory_order_relaxed);
  tl_depth++;
  if (n == 1 || count == 1) {
    for (size_t i = 0; i < count; i++) fn(ctx, i, 0);
  } else {
    g.fn = fn;
    g.ctx = ctx;
    g.count = count;
    atomic_store_explicit(&g.pending, n - 1, memory_order_relaxed);
    post_job();
    run_chunk(fn, ctx, count, n, 0);
    wait_done();
  }
  tl_depth--;
  pthread_mutex_unlock(&g.lock);
  return WSK_OK;
}
