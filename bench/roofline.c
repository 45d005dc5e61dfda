/* bench/roofline.c — the roofline of this machine, measured in the same run as
 * the kernels (bench.h, DESIGN §7):
 *
 *   roofline/fma/<isa>/chains<N>/reg          FMA peak of every tier this CPU
 *                                             has (bench/peak-<isa>.c), on one
 *                                             core and on all cores
 *   roofline/read/<isa>/<footprint>/<level>   read bandwidth with every SIMD
 *                                             tier's read loop (the roof of a
 *                                             level is the fastest), for a
 *                                             working set that sits in L1, L2,
 *                                             L3 or DRAM (wsk_level_footprint),
 *                                             on one core and on all cores
 *
 * A read iteration reads one buffer (the next of wsk_level_rotation() of
 * them), several times over when it is under 256 KiB; the case's bytes are
 * footprint x passes, its shape the footprint ("16KiB", "64MiBx2" for two
 * buffers of 64 MiB).
 *
 * Every thread reads its own buffers. They are allocated and touched once per
 * thread and case, outside the timed loop, and kept in a per-thread-index
 * cache: Google Benchmark calls a benchmark function several times (to size
 * the iteration count, and per repetition), and re-allocating 4 x L3 of DRAM
 * buffers each time would dominate the run. A thread's cached buffers are
 * freed when that thread index starts a read case of another size, when it
 * runs an FMA case (registered after the read cases, so nothing stays held
 * once the roofline has run), and at exit. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "peak.h"

#define KIB ((size_t)1024)
#define MIB (KIB * KIB)

/* ---- FMA peak ------------------------------------------------------------------ */

typedef double (*peak_fn)(int64_t reps);
typedef double (*read_fn)(const float *buf, size_t floats);

typedef struct peak_tier {
  wsk_isa isa;
  peak_fn fma;
  read_fn read;
  int chains, lanes;
  int64_t reps; /* one call: about 10-50 us on current cores */
} peak_tier;

/* Best first. */
static const peak_tier tiers[] = {
#if WSK_HAVE_AVX512
    /* 4096 FLOPs per rep; 1 to 2 ZMM FMAs per cycle at 2-4 GHz */
    {WSK_ISA_AVX512, wsk_peak_fma__avx512, wsk_read_sum__avx512, WSK_PEAK_CHAINS_AVX512,
     WSK_PEAK_LANES_AVX512, 512},
#endif
#if WSK_HAVE_AVX2
    /* 1536 FLOPs per rep; 2 YMM FMAs per cycle */
    {WSK_ISA_AVX2, wsk_peak_fma__avx2, wsk_read_sum__avx2, WSK_PEAK_CHAINS_AVX2,
     WSK_PEAK_LANES_AVX2, 1536},
#endif
#if WSK_HAVE_NEON
    /* 1536 FLOPs per rep; 2 to 4 Q-register FMAs per cycle */
    {WSK_ISA_NEON, wsk_peak_fma__neon, wsk_read_sum__neon, WSK_PEAK_CHAINS_NEON,
     WSK_PEAK_LANES_NEON, 1024},
#endif
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
    /* 256 FLOPs per rep; fmaf is a call into glibc on the x86 baseline */
    {WSK_ISA_SCALAR, wsk_peak_fma__scalar, wsk_read_sum__scalar, WSK_PEAK_CHAINS_SCALAR,
     WSK_PEAK_LANES_SCALAR, 64},
#else
    /* 256 FLOPs per rep; fmaf is one instruction (fmadd on aarch64) */
    {WSK_ISA_SCALAR, wsk_peak_fma__scalar, wsk_read_sum__scalar, WSK_PEAK_CHAINS_SCALAR,
     WSK_PEAK_LANES_SCALAR, 1024},
#endif
};
#define NTIERS (sizeof tiers / sizeof tiers[0])

static const peak_tier *tier_of(int isa) {
  for (size_t i = 0; i < NTIERS; i++)
    if ((int)tiers[i].isa == isa) return &tiers[i];
  return NULL;
}

static void read_buffers_release(int thread_index);

typedef struct fma_arg {
  int isa;
  int64_t reps;
} fma_arg;

static void bench_fma(gb_state *st, const void *p) {
  fma_arg a;
  memcpy(&a, p, sizeof a);
  wsk_bench_enter(st);
  const peak_tier *t = tier_of(a.isa);
  if (t == NULL) {
    gb_skip(st, "tier not built");
    while (gb_keep_running(st)) {
    }
    return;
  }
  /* The FMA cases run after the read cases: hand back this thread's read
   * buffers (up to 4 x L3 for DRAM) before the kernel benchmarks run. */
  read_buffers_release(gb_thread_index(st));
  double flops = 0.0;
  while (gb_keep_running(st)) flops += t->fma(a.reps);
  gb_do_not_optimize(&flops);
}

/* ---- read bandwidth ---------------------------------------------------------- */

typedef struct read_arg {
  int isa;
  int level;
  size_t bytes;    /* one buffer */
  size_t rotation; /* buffers to cycle through, one per iteration */
  int passes;      /* reads of the buffer per iteration (small footprints) */
} read_arg;

#define MAX_ROTATION 64
#define MIN_ITERATION_BYTES (256 * KIB)
#define CACHED_THREADS 1024

typedef struct buffers {
  size_t bytes, n;
  float *buf[MAX_ROTATION];
} buffers;

static buffers cache[CACHED_THREADS];
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void buffers_free(buffers *b) {
  for (size_t i = 0; i < b->n; i++) wsk_bench_free(b->buf[i]);
  b->n = 0;
  b->bytes = 0;
}

static void cache_free_all(void) {
  for (size_t i = 0; i < CACHED_THREADS; i++) buffers_free(&cache[i]);
}

static void cache_init(void) { atexit(cache_free_all); }

static void read_buffers_release(int thread_index) {
  if (thread_index >= 0 && thread_index < CACHED_THREADS) buffers_free(&cache[thread_index]);
}

/* n buffers of `bytes` in b (already holding them, or freshly allocated by
 * wsk_bench_alloc, which fills and so touches them). 0 on success. */
static int buffers_get(buffers *b, size_t bytes, size_t n) {
  if (b->bytes == bytes && b->n == n) return 0;
  buffers_free(b);
  for (size_t i = 0; i < n; i++) {
    b->buf[i] = wsk_bench_alloc(bytes / sizeof(float));
    if (b->buf[i] == NULL) {
      buffers_free(b);
      return -1;
    }
    b->n = i + 1;
  }
  b->bytes = bytes;
  return 0;
}

static void bench_read(gb_state *st, const void *p) {
  read_arg a;
  memcpy(&a, p, sizeof a);
  wsk_bench_enter(st); /* pin first: the buffers then live near this core */
  pthread_once(&cache_once, cache_init);
  const peak_tier *t = tier_of(a.isa);
  const int index = gb_thread_index(st);
  /* Thread indexes beyond the cache get buffers of their own for this call. */
  buffers own = {0};
  buffers *b = index >= 0 && index < CACHED_THREADS ? &cache[index] : &own;
  const size_t floats = a.bytes / sizeof(float);
  double sum = 0.0;
  if (t == NULL) {
    gb_skip(st, "tier not built");
  } else if (a.rotation < 1 || a.rotation > MAX_ROTATION || floats % WSK_READ_ALIGN_FLOATS) {
    gb_skip(st, "bad footprint");
  } else if (buffers_get(b, a.bytes, a.rotation) != 0) {
    gb_skip(st, "out of memory for the read buffers");
  } else if (a.level != WSK_LEVEL_DRAM) {
    sum += t->read(b->buf[0], floats); /* into this core's caches */
  }
  /* Every thread enters the loop, skipped or not: Google Benchmark's start
   * barrier waits for all of them. */
  size_t r = 0;
  while (gb_keep_running(st)) {
    for (int k = 0; k < a.passes; k++) sum += t->read(b->buf[r], floats);
    if (++r == a.rotation) r = 0;
  }
  gb_do_not_optimize(&sum);
  if (b == &own) buffers_free(&own);
}

/* ---- registration ----------------------------------------------------------- */

/* "16KiB", "8MiB", "1536KiB" */
static void format_bytes(char *out, size_t len, size_t bytes) {
  if (bytes % MIB == 0)
    snprintf(out, len, "%zuMiB", bytes / MIB);
  else
    snprintf(out, len, "%zuKiB", bytes / KIB);
}

static void add_fma(const peak_tier *t, int threads) {
  wsk_bench_case c;
  memset(&c, 0, sizeof c);
  snprintf(c.family, sizeof c.family, "roofline");
  snprintf(c.op, sizeof c.op, "fma");
  snprintf(c.isa, sizeof c.isa, "%s", wsk_isa_name(t->isa));
  snprintf(c.shape, sizeof c.shape, "chains%d", t->chains);
  snprintf(c.level, sizeof c.level, "reg");
  c.threads = threads;
  c.flops = (double)t->reps * WSK_PEAK_FLOPS_PER_REP(t->chains, t->lanes);
  c.fma = 1;
  c.bytes = 0.0;
  const fma_arg a = {(int)t->isa, t->reps};
  wsk_bench_add(&c, bench_fma, &a, sizeof a);
}

static void add_read(const wsk_machine *m, const peak_tier *t, wsk_level l, int threads) {
  read_arg a;
  memset(&a, 0, sizeof a); /* no stray padding bytes in the copied argument */
  a.isa = (int)t->isa;
  a.level = (int)l;
  a.bytes = wsk_level_footprint(m, l, threads);
  a.bytes -= a.bytes % (WSK_READ_ALIGN_FLOATS * sizeof(float)); /* footprints are 4 KiB multiples */
  if (a.bytes == 0) return;
  a.rotation = wsk_level_rotation(m, l, a.bytes);
  if (a.rotation > MAX_ROTATION) a.rotation = MAX_ROTATION;
  /* An iteration reads at least 256 KiB: with one 16 KiB pass per iteration
   * the timing loop and the read's final reduction cost ~10% of an L1 read. */
  a.passes = a.bytes < MIN_ITERATION_BYTES ? (int)(MIN_ITERATION_BYTES / a.bytes) : 1;

  wsk_bench_case c;
  memset(&c, 0, sizeof c);
  snprintf(c.family, sizeof c.family, "roofline");
  snprintf(c.op, sizeof c.op, "read");
  snprintf(c.isa, sizeof c.isa, "%s", wsk_isa_name(t->isa));
  char size[24];
  format_bytes(size, sizeof size, a.bytes);
  if (a.rotation > 1) /* "64MiBx2": two buffers of 64 MiB, one per iteration */
    snprintf(c.shape, sizeof c.shape, "%sx%zu", size, a.rotation);
  else
    snprintf(c.shape, sizeof c.shape, "%s", size);
  snprintf(c.level, sizeof c.level, "%s", wsk_level_name(l));
  c.threads = threads;
  c.flops = 0.0;
  c.bytes = (double)a.bytes * a.passes;
  wsk_bench_add(&c, bench_read, &a, sizeof a);
}

void wsk_roofline_register(const wsk_machine *m) {
  const int cores = m->cores > 0 ? m->cores : 1;
  const peak_tier *best = NULL;
  for (size_t i = 0; i < NTIERS && best == NULL; i++)
    if (m->isas & WSK_ISA_BIT(tiers[i].isa)) best = &tiers[i];
  if (best == NULL) best = tier_of(WSK_ISA_SCALAR);
  /* reads first: the FMA cases free the read buffers (see the top) */
  /* every tier's read loop: the roof of a level is the fastest of them */
  for (size_t i = 0; i < NTIERS; i++) {
    /* the scalar loop only where there is no SIMD tier: it is never faster */
    if (!(m->isas & WSK_ISA_BIT(tiers[i].isa)) ||
        (tiers[i].isa == WSK_ISA_SCALAR && best->isa != WSK_ISA_SCALAR))
      continue;
    for (int l = 0; l < WSK_LEVEL_COUNT; l++) {
      add_read(m, &tiers[i], (wsk_level)l, 1);
      if (cores > 1) add_read(m, &tiers[i], (wsk_level)l, cores);
    }
  }
  for (size_t i = 0; i < NTIERS; i++) {
    if (!(m->isas & WSK_ISA_BIT(tiers[i].isa))) continue;
    add_fma(&tiers[i], 1);
    if (cores > 1) add_fma(&tiers[i], cores);
  }
}
