/* bench/bench.h — the wsk benchmark harness (internal to bench/ and apps/).
 *
 * Every benchmark is a "case": a Google Benchmark function plus metadata
 * (family, op, ISA, shape, the memory level its footprint sits in, threads,
 * FLOPs and bytes per iteration). The harness measures this machine's
 * roofline in the same run (peak FMA throughput per ISA, read bandwidth per
 * memory level, one core and all cores), runs the selected cases, and reports
 * each result as a fraction of the bound that applies to it.
 */
#ifndef WSK_BENCH_BENCH_H
#define WSK_BENCH_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gbench.h"
#include "wsk/dispatch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- memory levels and the footprints that sit in them ------------------- */
typedef enum wsk_level {
  WSK_LEVEL_L1 = 0,
  WSK_LEVEL_L2 = 1,
  WSK_LEVEL_L3 = 2,
  WSK_LEVEL_DRAM = 3,
  WSK_LEVEL_COUNT = 4
} wsk_level;

const char *wsk_level_name(wsk_level l); /* "L1", "L2", "L3", "DRAM" */

/* ---- the machine ---------------------------------------------------------------- */
typedef struct wsk_machine {
  char hostname[64];
  char vendor[16];
  char cpu[64];
  char features[256];
  uint32_t isas;        /* tiers available here (wsk_isas_available) */
  int packages, cores, pus;
  size_t cache[3];      /* bytes of one L1d, one L2, one L3 (0 when unknown) */
  int cache_count[3];   /* how many of each */
  int can_pin;          /* 1 when threads can be bound to cores */
  char pinning[160];    /* how threads are pinned, or why they are not */
} wsk_machine;

/* Fills m from hwloc and the dispatch layer; cache sizes fall back to
 * 32 KiB / 1 MiB / 16 MiB when hwloc does not know them (said in pinning). */
void wsk_machine_describe(wsk_machine *m);

/* Bytes of the working set of one thread for a level, given the machine and
 * the number of threads sharing it: half of an L1d, half of an L2 (at least
 * 2x L1d), a quarter of this thread's share of its L3 (at least 2x its L2
 * share), and max(4 x L3, 64 MiB) divided among the threads for DRAM; caches
 * shared by several cores are divided among the threads that share them. */
size_t wsk_level_footprint(const wsk_machine *m, wsk_level l, int threads);

/* The level a working set of `bytes` sits in: the smallest cache it fits in
 * ("L1", "L2", "L3"), else "DRAM" (for cases of fixed model shapes). */
const char *wsk_level_of(const wsk_machine *m, double bytes);

/* Number of buffers of `bytes` each to rotate through so that a case at
 * `level` really reads from that level (1 except for DRAM, where the buffers
 * together span at least 4x the L3). */
size_t wsk_level_rotation(const wsk_machine *m, wsk_level l, size_t bytes);

/* Binds the calling thread to core `index` (modulo the core count) when the
 * OS allows it; returns 0 on success. */
int wsk_pin_thread(int index);

/* ---- the roofline, measured in this run ---------------------------------------- */
typedef struct wsk_roofline {
  double fma_gflops[WSK_ISA_COUNT];     /* one core, per tier; 0 = not measured */
  double fma_gflops_all[WSK_ISA_COUNT]; /* all cores */
  double read_gbs[WSK_LEVEL_COUNT];     /* one core */
  double read_gbs_all[WSK_LEVEL_COUNT]; /* all cores together */
  double copy_gbs[WSK_LEVEL_COUNT];     /* memcpy, bytes read + written, one core */
} wsk_roofline;

/* Registers the roofline benchmarks ("roofline/fma/<isa>",
 * "roofline/read/<level>", each also with all cores). */
void wsk_roofline_register(const wsk_machine *m);

/* ---- cases ------------------------------------------------------------------------ */
typedef struct wsk_bench_case {
  char family[16];  /* "permsum", "eqpool", "roofline", "peer" */
  char op[32];      /* "rows", "forward", "read", "fma", "memcpy", ... */
  char isa[16];     /* tier name, or the peer's name ("libc", "openblas") */
  char shape[48];   /* e.g. "4096x4096x1" */
  char level[8];    /* "L1".."DRAM" for footprint cases, "model" for model shapes */
  int threads;
  double flops;     /* per call of the kernel, on one thread */
  double bytes;     /* bytes moved to or from memory per call, on one thread */
  int fma;          /* 1: the FLOPs are fused multiply-adds, so the tier's FMA
                       peak bounds them; 0: adds or copies, bandwidth bound */
  int pool;         /* threads of the library's pool one call uses (0 or 1:
                       serial); > 1 compares with the all-core roofline */
  int rw;           /* 1: bytes count writes as well as reads (y = f(x),
                       updates): the bandwidth roof is the faster of the read
                       loop and memcpy (read + write) at that level */
  char note[48];    /* printed after the row and kept in the JSON (e.g. the
                       extra memory a kernel needs), or empty */
} wsk_bench_case;

/* Registers a case: its Google Benchmark name is
 * family/op/isa/shape/level (GB appends /real_time and /threads:N). fn gets
 * a copy of arg. Multi-thread cases run the same function on every thread,
 * each on its own buffers. Returns the case's index. */
int wsk_bench_add(const wsk_bench_case *c, gb_fn fn, const void *arg, size_t arg_size);

/* Called at the start of every benchmark function: pins the thread (thread
 * index i -> core i). */
void wsk_bench_enter(gb_state *st);

/* Tiers this run measures: available here and within the WSK_ISA cap (the
 * cap's tier and the lower ones). */
uint32_t wsk_bench_isas(void);

/* The machine description the cases were registered with. */
const wsk_machine *wsk_bench_machine(void);

/* Every family bench registers its cases through one of these; the tiers
 * come from the family's .inc list (those this CPU lacks are registered and
 * report themselves skipped). */
void wsk_bench_register_permsum(const wsk_machine *m);
void wsk_bench_register_eqpool(const wsk_machine *m);
void wsk_bench_register_peers(const wsk_machine *m);
void wsk_bench_register_gemm(const wsk_machine *m);
void wsk_bench_register_eltwise(const wsk_machine *m);
void wsk_bench_register_optim(const wsk_machine *m);
void wsk_bench_register_attn(const wsk_machine *m);
void wsk_bench_register_unf(const wsk_machine *m);

/* Aligned buffers for benchmarks (64-byte aligned, filled with small
 * deterministic values); NULL on failure. */
float *wsk_bench_alloc(size_t floats);
void wsk_bench_free(float *p);

/* A buffer of at least `floats` floats for the calling benchmark thread,
 * kept between calls: Google Benchmark calls a benchmark function several
 * times (to size its loop, once per repetition), and a DRAM case's buffers
 * (4x the L3) are too large to allocate and fill each time. Slot s of thread
 * t is reused while it is large enough; its contents are small finite values
 * left by earlier cases. WSK_BENCH_SLOTS slots per thread; all freed at the
 * end of the run. NULL on failure. */
#define WSK_BENCH_SLOTS 72
float *wsk_bench_buffer(gb_state *st, int slot, size_t floats);

/* ---- running and reporting ------------------------------------------------------- */
typedef struct wsk_bench_result {
  wsk_bench_case c;
  double time_ns;      /* median time per call: wall time / calls of all threads */
  double gflops;       /* total over threads */
  double gbs;          /* total over threads */
  double roof_pct;     /* % of the bound that applies (compute or bandwidth) */
  const char *bound;   /* "compute", "bandwidth" or "" */
  int skipped;
  char skip_reason[128];
} wsk_bench_result;

typedef struct wsk_bench_report {
  wsk_machine machine;
  wsk_roofline roof;
  wsk_bench_result *results;
  size_t count;
  char date[32];
  double seconds;      /* wall time of the whole run */
} wsk_bench_report;

/* The whole harness: argv holds Google Benchmark flags (already the user's
 * filter etc.). Registers everything, runs, fills rep. quiet: no GB output.
 * Returns 0 on success. */
int wsk_bench_run(int *argc, char **argv, int quiet, wsk_bench_report *rep);
void wsk_bench_report_free(wsk_bench_report *rep);

/* The readable table (family, op, ISA, shape, level, threads, time,
 * GFLOP/s or GB/s, % of roofline) and the roofline itself. */
void wsk_bench_print(FILE *out, const wsk_bench_report *rep);

/* JSON of a report (machine, roofline, results), written atomically. */
int wsk_bench_write_json(const char *path, const wsk_bench_report *rep);

#ifdef __cplusplus
}
#endif
#endif
