/* bench/bench_gemm.c — the gemm family on every tier of kernels/gemm/gemm.inc
 * next to OpenBLAS cblas_sgemm (one thread, same shapes, same process):
 * square sizes 256, 512, 1024 and the model shapes M in {64, 512, 4096},
 * N, K in {32, 64, 128, 256}. FLOPs are 2 M N K; bytes the compulsory
 * traffic (A and B read, C written). The scalar tier runs only where it
 * takes under about a second per call. The cases run on one thread (the
 * pool set to 1); "gemm-pool" runs 1024^3 on every core through the pool. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "impls.h"
#include "wsk/threads.h"

#if WSK_HAVE_OPENBLAS
#include <cblas.h>
#endif


typedef struct gemm_arg {
  int impl; /* index into gemm_impls, or -1 for OpenBLAS */
  size_t m, n, k;
  int pool; /* threads of the pool (and of OpenBLAS) */
} gemm_arg;

static void bm_gemm(gb_state *st, const void *argp) {
  const gemm_arg *g = argp;
  wsk_bench_enter(st);
  float *a = wsk_bench_buffer(st, 0, g->m * g->k), *b = wsk_bench_buffer(st, 1, g->k * g->n);
  float *c = wsk_bench_buffer(st, 2, g->m * g->n);
  if (!a || !b || !c) {
    gb_skip(st, "out of memory for the buffers");
    return;
  }
  if (g->impl < 0) {
#if WSK_HAVE_OPENBLAS
    openblas_set_num_threads(g->pool);
    while (gb_keep_running(st)) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->m, (int)g->n, (int)g->k,
                  1.0f, a, (int)g->k, b, (int)g->n, 0.0f, c, (int)g->n);
      gb_clobber_memory();
    }
#else
    gb_skip(st, "OpenBLAS not built in (apt-get install libopenblas-dev, reconfigure)");
#endif
    return;
  }
  const bench_impl *im = &gemm_impls[g->impl];
  if (!bench_impl_usable(st, im->isa)) return;
  if (wsk_threads_set_count(g->pool) != WSK_OK) {
    gb_skip(st, wsk_last_error());
    return;
  }
  const wsk_eltwise_ukernels *ek = bench_table_for(eltwise_impls, N_ELTWISE_IMPLS, im->isa);
  while (gb_keep_running(st)) {
    wsk__gemm_with(im->table, ek, 0, 0, g->m, g->n, g->k, 1.0f, a, g->k, b, g->n, 0.0f, c, g->n,
                   NULL, WSK_ACT_NONE);
    gb_clobber_memory();
  }
  wsk_threads_set_count(1);
}

static void add(const wsk_machine *m, size_t mm, size_t n, size_t k, int pool) {
  char shape[48];
  snprintf(shape, sizeof shape, "%zux%zux%zu", mm, n, k);
  const double flops = 2.0 * (double)mm * (double)n * (double)k;
  const double bytes = 4.0 * ((double)mm * (double)k + (double)k * (double)n + (double)mm * (double)n);
  const char *lv = wsk_level_of(m, bytes);
  for (int i = -1; i < (int)N_GEMM_IMPLS; i++) {
    if (i >= 0 && gemm_impls[i].isa == WSK_ISA_SCALAR && flops > 3e8) continue;
    wsk_bench_case c = {0};
    snprintf(c.family, sizeof c.family, "%s", i < 0 ? "peer" : "gemm");
    snprintf(c.op, sizeof c.op, "%s%s", i < 0 ? "sgemm" : "gemm", pool > 1 ? "-pool" : "");
    snprintf(c.isa, sizeof c.isa, "%s", i < 0 ? "openblas" : gemm_impls[i].name);
    snprintf(c.shape, sizeof c.shape, "%s", shape);
    snprintf(c.level, sizeof c.level, "%s", lv);
    c.threads = 1;
    c.flops = flops;
    c.bytes = bytes;
    c.fma = 1;
    c.pool = pool;
    const gemm_arg g = {i, mm, n, k, pool};
    wsk_bench_add(&c, bm_gemm, &g, sizeof g);
  }
}

void wsk_bench_register_gemm(const wsk_machine *m) {
  static const size_t square[] = {256, 512, 1024};
  for (size_t i = 0; i < 3; i++) add(m, square[i], square[i], square[i], 1);
  static const size_t ms[] = {64, 512, 4096}, nk[] = {32, 64, 128, 256};
  for (size_t i = 0; i < 3; i++)
    for (size_t j = 0; j < 4; j++)
      for (size_t l = 0; l < 4; l++) add(m, ms[i], nk[j], nk[l], 1);
  /* the same call on every core through the pool (OpenBLAS with as many) */
  if (m->cores > 1) add(m, 1024, 1024, 1024, m->cores);
}
