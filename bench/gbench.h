/* bench/gbench.h — Google Benchmark, driven from C.
 *
 * A C benchmark is a function void fn(gb_state *st, const void *arg) whose
 * timed loop is `while (gb_keep_running(st)) { ... }`. It is registered with
 * gb_register() under a name; Google Benchmark's own flags select and shape
 * the runs (--benchmark_filter, --benchmark_min_time, --benchmark_repetitions,
 * --benchmark_format=json, --benchmark_out=FILE, ...). gb_run_all() runs the
 * selected benchmarks and hands every result to a C callback.
 * Implemented in gbench.cc. */
#ifndef WSK_BENCH_GBENCH_H
#define WSK_BENCH_GBENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gb_state gb_state;
typedef void (*gb_fn)(gb_state *st, const void *arg);

/* Passes argc/argv through Google Benchmark's flag parser (which removes the
 * flags it knows). Returns the number of arguments left. */
int gb_initialize(int *argc, char **argv);

/* Registers fn as benchmark `name`; the arg_size bytes at arg are copied and
 * handed to every run. Returns an id for the modifiers below. */
int gb_register(const char *name, gb_fn fn, const void *arg, size_t arg_size);
/* Runs the benchmark once with each of `threads` threads (Threads(n)). */
void gb_threads(int id, int threads);
/* Times wall-clock (UseRealTime); the default for every wsk benchmark. */
void gb_use_real_time(int id);

/* The timed loop: nonzero while more iterations are wanted. */
int gb_keep_running(gb_state *st);
void gb_pause(gb_state *st);
void gb_resume(gb_state *st);
/* Ends the benchmark as skipped, with the reason shown in the report. */
void gb_skip(gb_state *st, const char *reason);
int gb_thread_index(const gb_state *st);
int gb_thread_count(const gb_state *st);
int64_t gb_iterations(const gb_state *st);

enum {
  GB_COUNTER_PLAIN = 0,
  GB_COUNTER_RATE = 1,        /* value / time: per second */
  GB_COUNTER_ITERATION = 2,   /* value / iterations */
  GB_COUNTER_THREAD_SUM = 4,  /* summed over threads (default averages) */
};
/* Sets a user counter, e.g. ("FLOP/s", flops_per_iter * iters, RATE). */
void gb_counter(gb_state *st, const char *name, double value, unsigned flags);
void gb_bytes_processed(gb_state *st, int64_t bytes);
void gb_set_label(gb_state *st, const char *label);

/* One reported run (an iteration batch or an aggregate of repetitions). */
typedef struct gb_run {
  const char *name;        /* full run name, e.g. "permsum/rows/avx512/L2/real_time" */
  const char *base;        /* the name given to gb_register */
  const char *aggregate;   /* "" for a plain run, else "mean", "median", "stddev", "cv" */
  int threads;
  int64_t iterations;
  double real_ns;          /* wall time per iteration, ns */
  double cpu_ns;           /* CPU time per iteration, ns */
  int skipped;
  const char *skip_reason; /* "" unless skipped */
  size_t ncounters;
  const char *const *counter_names;
  const double *counter_values; /* final values (rates already divided) */
} gb_run;
typedef void (*gb_run_fn)(const gb_run *run, void *ctx);

/* Runs the benchmarks that the flags select. Every result goes to cb; with
 * quiet == 0 Google Benchmark also prints its usual report (and writes
 * --benchmark_out). Returns the number of benchmarks run. */
size_t gb_run_all(gb_run_fn cb, void *ctx, int quiet);

/* Keeps a value alive so the optimizer cannot drop the computation. */
void gb_do_not_optimize(const void *p);
/* Compiler barrier over all memory. */
void gb_clobber_memory(void);

#ifdef __cplusplus
}
#endif
#endif
