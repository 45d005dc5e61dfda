/* tests/test_threads.c — the thread pool (wsk/threads.h).
 *
 * 1. wsk_parallel_chunk(): the static partition covers [0, count) once, in
 *    contiguous, near-equal chunks.
 * 2. wsk_parallel_for() with 1, 2, 3 and 7 threads (wsk_threads_set_count)
 *    over counts 0, 1, 2, 3, 7 and 1000: every index runs exactly once, on
 *    the thread the partition names, with thread == wsk_thread_index(); a
 *    deterministic per-index computation gives the same bits for every
 *    thread count; nested calls run serially on the calling thread; calls
 *    from two user threads at once take turns; shutdown and re-creation;
 *    many tiny jobs in a row (the wake-up handshake) and their cost.
 * 3. WSK_NUM_THREADS: valid, 0, -1, "abc", huge, empty, re-read through
 *    wsk__threads_reset_for_tests(); wsk_threads_set_count() overrides a bad
 *    value. Every test that changes the environment restores it.
 *
 * Tasks never call cmocka's assertions (they longjmp, which must not cross
 * threads): they record what they saw, and the test checks it afterwards.
 */
#define _POSIX_C_SOURCE 200809L /* setenv, clock_gettime */

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "dispatch/threads_internal.h"
#include "wsk/status.h"
#include "wsk/threads.h"

static const int thread_counts[] = {1, 2, 3, 7};
static const size_t counts[] = {0, 1, 2, 3, 7, 1000};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- environment ---------------------------------------------------------------- */

static char *saved_env; /* WSK_NUM_THREADS at start, or NULL */

static int save_env(void **state) {
  (void)state;
  const char *v = getenv("WSK_NUM_THREADS");
  saved_env = v ? strdup(v) : NULL;
  return 0;
}

static int restore_env(void **state) {
  (void)state;
  if (saved_env) setenv("WSK_NUM_THREADS", saved_env, 1);
  else unsetenv("WSK_NUM_THREADS");
  wsk__threads_reset_for_tests();
  return 0;
}

static int free_env(void **state) {
  restore_env(state);
  free(saved_env);
  saved_env = NULL;
  return 0;
}

/* ---- 1. the partition ------------------------------------------------------------- */

static void test_chunk(void **state) {
  (void)state;
  for (int n = 1; n <= 9; n++) {
    for (size_t count = 0; count <= 40; count++) {
      size_t next = 0;
      for (int t = 0; t < n; t++) {
        size_t b, e;
        wsk_parallel_chunk(count, n, t, &b, &e);
        assert_int_equal(b, next); /* contiguous, in thread order */
        assert_true(e >= b);
        size_t len = e - b;
        assert_true(len == count / n || len == count / n + 1);
        assert_int_equal(len, count / n + ((size_t)t < count % n ? 1 : 0));
        next = e;
      }
      assert_int_equal(next, count); /* covers [0, count) */
    }
  }
  size_t b = 7, e = 7;
  wsk_parallel_chunk(10, 2, 2, &b, &e); /* thread outside [0, n) */
  assert_int_equal(b, e);
  wsk_parallel_chunk(10, 0, 0, &b, &e);
  assert_int_equal(b, e);
}

/* ---- 2. parallel_for ---------------------------------------------------------------- */

typedef struct visit_ctx {
  atomic_int *runs;   /* runs[i]: times index i ran */
  int *thread_of;     /* thread_of[i]: the thread that ran it */
  atomic_int bad_thread; /* thread argument != wsk_thread_index() or out of range */
  int nthreads;
} visit_ctx;

static void visit(void *p, size_t i, int thread) {
  visit_ctx *c = p;
  atomic_fetch_add(&c->runs[i], 1);
  c->thread_of[i] = thread;
  if (thread != wsk_thread_index() || thread < 0 || thread >= c->nthreads)
    atomic_fetch_add(&c->bad_thread, 1);
}

static void test_every_index_once(void **state) {
  (void)state;
  for (size_t a = 0; a < NELEM(thread_counts); a++) {
    const int n = thread_counts[a];
    assert_int_equal(wsk_threads_set_count(n), WSK_OK);
    assert_int_equal(wsk_threads_count(), n);
    for (size_t b = 0; b < NELEM(counts); b++) {
      const size_t count = counts[b];
      atomic_int *runs = calloc(count + 1, sizeof *runs);
      int *thread_of = calloc(count + 1, sizeof *thread_of);
      assert_non_null(runs);
      assert_non_null(thread_of);
      visit_ctx c = {.runs = runs, .thread_of = thread_of, .nthreads = n};
      for (int rep = 0; rep < 3; rep++) {
        for (size_t i = 0; i < count; i++) atomic_store(&runs[i], 0);
        assert_int_equal(wsk_parallel_for(count, visit, &c), WSK_OK);
        for (size_t i = 0; i < count; i++) {
          if (atomic_load(&runs[i]) != 1)
            fail_msg("threads=%d count=%zu: index %zu ran %d times", n, count, i,
                     atomic_load(&runs[i]));
        }
        assert_int_equal(atomic_load(&c.bad_thread), 0);
        /* count > 1 runs the static partition; count == 1 runs on the caller */
        for (int t = 0; t < n && count > 1; t++) {
          size_t lo, hi;
          wsk_parallel_chunk(count, n, t, &lo, &hi);
          for (size_t i = lo; i < hi; i++) assert_int_equal(thread_of[i], t);
        }
        if (count == 1) assert_int_equal(thread_of[0], 0);
      }
      free(runs);
      free(thread_of);
    }
  }
  assert_int_equal(wsk_thread_index(), 0);
}

/* A per-index computation whose bits depend only on the index. */
static void compute(void *p, size_t i, int thread) {
  (void)thread;
  float *out = p;
  float acc = 0.0f, x = 1.0f + (float)i * 0.001f;
  for (int k = 0; k < 200; k++) {
    acc = acc * 0.999f + x / (float)(k + 1);
    x = x * 1.0001f - 0.00003f;
  }
  out[i] = acc;
}

static void test_same_bits_for_every_count(void **state) {
  (void)state;
  enum { N = 4099 };
  float *ref = malloc(N * sizeof *ref), *out = malloc(N * sizeof *out);
  assert_non_null(ref);
  assert_non_null(out);
  assert_int_equal(wsk_threads_set_count(1), WSK_OK);
  assert_int_equal(wsk_parallel_for(N, compute, ref), WSK_OK);
  for (size_t a = 0; a < NELEM(thread_counts); a++) {
    assert_int_equal(wsk_threads_set_count(thread_counts[a]), WSK_OK);
    memset(out, 0xff, N * sizeof *out);
    assert_int_equal(wsk_parallel_for(N, compute, out), WSK_OK);
    assert_memory_equal(ref, out, N * sizeof *out);
  }
  wsk__threads_reset_for_tests(); /* the default size, from the environment */
  memset(out, 0xff, N * sizeof *out);
  assert_int_equal(wsk_parallel_for(N, compute, out), WSK_OK);
  assert_memory_equal(ref, out, N * sizeof *out);
  free(ref);
  free(out);
}

enum { OUTER = 9, INNER = 13 };
typedef struct nest_ctx {
  atomic_int runs[OUTER][INNER];
  atomic_int bad; /* inner task not on the outer task's thread */
  atomic_int set_count_refused;
  int outer_thread[OUTER];
} nest_ctx;

typedef struct inner_arg {
  nest_ctx *c;
  size_t outer;
  int thread;
} inner_arg;

static void inner_task(void *p, size_t j, int thread) {
  inner_arg *a = p;
  atomic_fetch_add(&a->c->runs[a->outer][j], 1);
  if (thread != a->thread || wsk_thread_index() != a->thread) atomic_fetch_add(&a->c->bad, 1);
}

static void outer_task(void *p, size_t i, int thread) {
  nest_ctx *c = p;
  c->outer_thread[i] = thread;
  inner_arg a = {c, i, thread};
  if (wsk_parallel_for(INNER, inner_task, &a) != WSK_OK) atomic_fetch_add(&c->bad, 1);
  /* Resizing from inside a task would deadlock: it is refused. */
  if (wsk_threads_set_count(2) == WSK_ERR_ARG) atomic_fetch_add(&c->set_count_refused, 1);
  if (wsk_threads_count() < 1) atomic_fetch_add(&c->bad, 1);
  wsk_threads_shutdown(); /* ignored inside a task */
}

static void test_nested(void **state) {
  (void)state;
  for (size_t a = 0; a < NELEM(thread_counts); a++) {
    const int n = thread_counts[a];
    assert_int_equal(wsk_threads_set_count(n), WSK_OK);
    nest_ctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(wsk_parallel_for(OUTER, outer_task, c), WSK_OK);
    for (int i = 0; i < OUTER; i++)
      for (int j = 0; j < INNER; j++) assert_int_equal(atomic_load(&c->runs[i][j]), 1);
    assert_int_equal(atomic_load(&c->bad), 0);
    assert_int_equal(atomic_load(&c->set_count_refused), OUTER);
    assert_int_equal(wsk_threads_count(), n);
    for (int t = 0; t < n; t++) {
      size_t lo, hi;
      wsk_parallel_chunk(OUTER, n, t, &lo, &hi);
      for (size_t i = lo; i < hi; i++) assert_int_equal(c->outer_thread[i], t);
    }
    free(c);
  }
}

/* Two user threads, each running many parallel_fors on the shared pool. */
enum { CONC_JOBS = 300, CONC_COUNT = 64 };
static atomic_int busy[WSK_THREADS_MAX]; /* a task with that thread index is running */
static atomic_int overlap;               /* two tasks ran with one thread index at once */

typedef struct conc_ctx {
  atomic_int runs[CONC_COUNT];
  int errors;
} conc_ctx;

static void conc_task(void *p, size_t i, int thread) {
  conc_ctx *c = p;
  if (atomic_exchange(&busy[thread], 1) != 0) atomic_fetch_add(&overlap, 1);
  atomic_fetch_add(&c->runs[i], 1);
  atomic_store(&busy[thread], 0);
}

static void *conc_main(void *p) {
  conc_ctx *c = p;
  for (int r = 0; r < CONC_JOBS; r++) {
    if (wsk_parallel_for(CONC_COUNT, conc_task, c) != WSK_OK) c->errors++;
    if (wsk_thread_index() != 0) c->errors++;
  }
  return NULL;
}

static void test_concurrent_callers(void **state) {
  (void)state;
  for (size_t a = 0; a < NELEM(thread_counts); a++) {
    assert_int_equal(wsk_threads_set_count(thread_counts[a]), WSK_OK);
    conc_ctx c[2];
    memset(c, 0, sizeof c);
    pthread_t tid[2];
    for (int k = 0; k < 2; k++) assert_int_equal(pthread_create(&tid[k], NULL, conc_main, &c[k]), 0);
    for (int k = 0; k < 2; k++) assert_int_equal(pthread_join(tid[k], NULL), 0);
    for (int k = 0; k < 2; k++) {
      assert_int_equal(c[k].errors, 0);
      for (int i = 0; i < CONC_COUNT; i++) assert_int_equal(atomic_load(&c[k].runs[i]), CONC_JOBS);
    }
    assert_int_equal(atomic_load(&overlap), 0);
  }
}

static void test_shutdown_and_reinit(void **state) {
  (void)state;
  enum { N = 100 };
  atomic_int runs[N];
  int thread_of[N];
  visit_ctx c = {.runs = runs, .thread_of = thread_of, .nthreads = 3};
  assert_int_equal(wsk_threads_set_count(3), WSK_OK);
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < N; i++) atomic_store(&runs[i], 0);
    assert_int_equal(wsk_parallel_for(N, visit, &c), WSK_OK);
    for (int i = 0; i < N; i++) assert_int_equal(atomic_load(&runs[i]), 1);
    wsk_threads_shutdown();
    assert_string_equal(wsk_threads_pinning(), "no pool");
    wsk_threads_shutdown(); /* twice: harmless */
    if (round % 2) {
      assert_int_equal(wsk_threads_init(), WSK_OK); /* explicit re-creation */
      assert_int_equal(wsk_threads_init(), WSK_OK); /* idempotent */
    } /* else: lazily, by the next parallel_for */
  }
  assert_int_equal(wsk_threads_count(), 3); /* the set size survives shutdown */
  assert_int_equal(atomic_load(&c.bad_thread), 0);
  printf("# pinning with 3 threads: %s\n", wsk_threads_pinning());
}

static void test_bad_args(void **state) {
  (void)state;
  assert_int_equal(wsk_threads_set_count(0), WSK_ERR_SIZE);
  assert_int_equal(wsk_threads_set_count(-1), WSK_ERR_SIZE);
  assert_int_equal(wsk_threads_set_count(WSK_THREADS_MAX + 1), WSK_ERR_ARG);
  assert_int_equal(wsk_parallel_for(5, NULL, NULL), WSK_ERR_NULL);
  assert_non_null(strstr(wsk_last_error(), "fn"));
  assert_int_equal(wsk_parallel_for(0, NULL, NULL), WSK_OK); /* count 0: nothing to do */
}

static void nothing(void *ctx, size_t i, int thread) {
  (void)ctx;
  (void)i;
  (void)thread;
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

/* Many tiny jobs back to back: exercises the spin-then-sleep handshake (with
 * 7 threads on a small machine, every worker sleeps between jobs), and
 * measures an empty parallel_for(count = 2). */
static void test_many_tiny_jobs(void **state) {
  (void)state;
  for (size_t a = 0; a < NELEM(thread_counts); a++) {
    const int n = thread_counts[a];
    assert_int_equal(wsk_threads_set_count(n), WSK_OK);
    enum { JOBS = 2000 };
    atomic_int runs[7];
    int thread_of[7];
    visit_ctx c = {.runs = runs, .thread_of = thread_of, .nthreads = n};
    for (int i = 0; i < 7; i++) atomic_store(&runs[i], 0);
    for (int r = 0; r < JOBS; r++) assert_int_equal(wsk_parallel_for(7, visit, &c), WSK_OK);
    for (int i = 0; i < 7; i++) assert_int_equal(atomic_load(&runs[i]), JOBS);
    assert_int_equal(atomic_load(&c.bad_thread), 0);
  }
  wsk__threads_reset_for_tests(); /* default size */
  const int n = wsk_threads_count();
  enum { REPS = 20000 };
  for (int r = 0; r < 1000; r++) wsk_parallel_for(2, nothing, NULL); /* warm */
  double best = 1e30;
  for (int trial = 0; trial < 5; trial++) {
    double t0 = now_us();
    for (int r = 0; r < REPS; r++) wsk_parallel_for(2, nothing, NULL);
    double us = (now_us() - t0) / REPS;
    if (us < best) best = us;
  }
  printf("# empty wsk_parallel_for(count=2), %d threads: %.3f us per call (best of 5 x %d)\n", n,
         best, REPS);
  printf("# pinning: %s\n", wsk_threads_pinning());
  /* Loose, to hold under sanitizers and emulation: a call must not cost
   * milliseconds. */
  assert_true(best < 1000.0);
}

/* ---- 3. WSK_NUM_THREADS ------------------------------------------------------------- */

static void expect_env_error(const char *value, const char *needle) {
  setenv("WSK_NUM_THREADS", value, 1);
  wsk__threads_reset_for_tests();
  assert_int_equal(wsk_threads_init(), WSK_ERR_ARG);
  const char *msg = wsk_last_error();
  if (strstr(msg, "WSK_NUM_THREADS") == NULL || strstr(msg, needle) == NULL)
    fail_msg("WSK_NUM_THREADS=\"%s\": message \"%s\" lacks \"%s\"", value, msg, needle);
  printf("# WSK_NUM_THREADS=\"%s\" -> %s\n", value, msg);
  /* Every parallel_for reports it too, and runs nothing. */
  atomic_int runs[3] = {0};
  int thread_of[3];
  visit_ctx c = {.runs = runs, .thread_of = thread_of, .nthreads = 1};
  assert_int_equal(wsk_parallel_for(3, visit, &c), WSK_ERR_ARG);
  assert_int_equal(atomic_load(&runs[0]), 0);
  assert_int_equal(wsk_threads_count(), 1);
  /* wsk_threads_set_count() overrides it; init still names the bad value. */
  assert_int_equal(wsk_threads_set_count(2), WSK_OK);
  c.nthreads = 2;
  assert_int_equal(wsk_parallel_for(3, visit, &c), WSK_OK);
  for (int i = 0; i < 3; i++) assert_int_equal(atomic_load(&runs[i]), 1);
  assert_int_equal(wsk_threads_init(), WSK_ERR_ARG);
}

static void test_env_valid(void **state) {
  (void)state;
  static const char *const values[] = {"1", "3", "7", "007"};
  static const int expect[] = {1, 3, 7, 7};
  for (size_t k = 0; k < NELEM(values); k++) {
    setenv("WSK_NUM_THREADS", values[k], 1);
    wsk__threads_reset_for_tests();
    assert_int_equal(wsk_threads_init(), WSK_OK);
    assert_int_equal(wsk_threads_count(), expect[k]);
  }
  /* Unset and empty both mean the default: one thread per core. */
  unsetenv("WSK_NUM_THREADS");
  wsk__threads_reset_for_tests();
  const int def = wsk_threads_count();
  assert_true(def >= 1 && def <= WSK_THREADS_MAX);
  setenv("WSK_NUM_THREADS", "", 1);
  wsk__threads_reset_for_tests();
  assert_int_equal(wsk_threads_init(), WSK_OK);
  assert_int_equal(wsk_threads_count(), def);
  printf("# default pool: %d threads\n", def);
}

static void test_env_zero(void **state) {
  (void)state;
  expect_env_error("0", "at least 1");
}
static void test_env_negative(void **state) {
  (void)state;
  expect_env_error("-1", "not a positive integer");
}
static void test_env_text(void **state) {
  (void)state;
  expect_env_error("abc", "\"abc\"");
  expect_env_error("4x", "not a positive integer");
  expect_env_error(" 4", "not a positive integer");
}
static void test_env_huge(void **state) {
  (void)state;
  expect_env_error("99999999999999999999999", "too large");
  expect_env_error("1025", "too large");
}

static void test_getters_outside(void **state) {
  (void)state;
  assert_int_equal(wsk_thread_index(), 0);
  assert_true(wsk_threads_count() >= 1);
  assert_non_null(wsk_threads_pinning());
}

int main(void) {
  const struct CMUnitTest pool[] = {
      cmocka_unit_test(test_chunk),
      cmocka_unit_test(test_getters_outside),
      cmocka_unit_test_teardown(test_every_index_once, restore_env),
      cmocka_unit_test_teardown(test_same_bits_for_every_count, restore_env),
      cmocka_unit_test_teardown(test_nested, restore_env),
      cmocka_unit_test_teardown(test_concurrent_callers, restore_env),
      cmocka_unit_test_teardown(test_shutdown_and_reinit, restore_env),
      cmocka_unit_test_teardown(test_bad_args, restore_env),
      cmocka_unit_test_teardown(test_many_tiny_jobs, restore_env),
  };
  const struct CMUnitTest env[] = {
      cmocka_unit_test_teardown(test_env_valid, restore_env),
      cmocka_unit_test_teardown(test_env_zero, restore_env),
      cmocka_unit_test_teardown(test_env_negative, restore_env),
      cmocka_unit_test_teardown(test_env_text, restore_env),
      cmocka_unit_test_teardown(test_env_huge, restore_env),
  };
  int failed = cmocka_run_group_tests_name("pool", pool, save_env, free_env);
  failed += cmocka_run_group_tests_name("WSK_NUM_THREADS", env, save_env, free_env);
  return failed;
}
