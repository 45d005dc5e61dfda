/* bench/bench_peers.c — peers measured in the same process: libc memcpy and a
 * plain C read loop (compiled with baseline flags, 16 partial sums so the
 * compiler can vectorize it) on the same footprints as the reductions, and
 * OpenBLAS cblas_sgemm (one thread) on the shapes of eqpool's channel mix
 * when libopenblas-dev is installed (skipped with a message otherwise). */
#include <stdio.h>
#include <string.h>

#include "bench.h"

#if WSK_HAVE_OPENBLAS
#include <cblas.h>
#endif

enum { OP_MEMCPY, OP_READ, OP_SGEMM };

typedef struct peer_arg {
  int op;
  size_t floats, rot;
  size_t m, n, k; /* sgemm: C[m][n] = A[m][k] B[k][n] */
} peer_arg;

static float read_loop(const float *x, size_t n) {
  float acc[16] = {0};
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; l++) acc[l] += x[i + l];
  for (; i < n; i++) acc[0] += x[i];
  float s = 0;
  for (int l = 0; l < 16; l++) s += acc[l];
  return s;
}

static void bm_peer(gb_state *st, const void *argp) {
  const peer_arg *a = argp;
  wsk_bench_enter(st);
  if (a->op == OP_SGEMM) {
#if WSK_HAVE_OPENBLAS
    openblas_set_num_threads(1);
    float *A = wsk_bench_buffer(st, 0, a->m * a->k), *B = wsk_bench_buffer(st, 1, a->k * a->n);
    float *C = wsk_bench_buffer(st, 2, a->m * a->n);
    if (!A || !B || !C) {
      gb_skip(st, "out of memory for the buffers");
      return;
    }
    while (gb_keep_running(st)) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)a->m, (int)a->n, (int)a->k,
                  1.0f, A, (int)a->k, B, (int)a->n, 1.0f, C, (int)a->n);
      gb_clobber_memory();
    }
#else
    gb_skip(st, "OpenBLAS not built in (apt-get install libopenblas-dev, reconfigure)");
#endif
    return;
  }
  float *x[64] = {0}, *y = wsk_bench_buffer(st, 64, a->floats);
  for (size_t r = 0; r < a->rot; r++) x[r] = wsk_bench_buffer(st, (int)r, a->floats);
  for (size_t r = 0; r < a->rot; r++)
    if (!x[r] || !y) {
      gb_skip(st, "out of memory for the buffers");
      return;
    }
  size_t it = 0;
  volatile float sink = 0;
  while (gb_keep_running(st)) {
    float *xi = x[it++ % a->rot];
    if (a->op == OP_MEMCPY)
      memcpy(y, xi, a->floats * sizeof(float));
    else
      sink += read_loop(xi, a->floats);
    gb_clobber_memory();
  }
  (void)sink;
}

static void add(const peer_arg *a, const char *isa, const char *op, const char *shape,
                const char *level, double flops, double bytes) {
  wsk_bench_case c = {0};
  snprintf(c.family, sizeof c.family, "peer");
  snprintf(c.op, sizeof c.op, "%s", op);
  snprintf(c.isa, sizeof c.isa, "%s", isa);
  snprintf(c.shape, sizeof c.shape, "%s", shape);
  snprintf(c.level, sizeof c.level, "%s", level);
  c.threads = 1;
  c.flops = flops;
  c.bytes = bytes;
  c.fma = a->op == OP_SGEMM;
  c.rw = a->op == OP_MEMCPY;
  wsk_bench_add(&c, bm_peer, a, sizeof *a);
}

void wsk_bench_register_peers(const wsk_machine *m) {
  char shape[48];
  for (int l = 0; l < WSK_LEVEL_COUNT; l++) {
    const size_t fp = wsk_level_footprint(m, (wsk_level)l, 1);
    const char *lv = wsk_level_name((wsk_level)l);
    /* memcpy: its source and destination share the level, so half each */
    peer_arg c = {OP_MEMCPY, fp / 8, wsk_level_rotation(m, (wsk_level)l, fp / 2), 0, 0, 0};
    snprintf(shape, sizeof shape, "%zuKiB", fp / 2048);
    add(&c, "libc", "memcpy", shape, lv, 0, 8.0 * (double)c.floats);
    peer_arg r = {OP_READ, fp / 4, wsk_level_rotation(m, (wsk_level)l, fp), 0, 0, 0};
    snprintf(shape, sizeof shape, "%zuKiB", fp / 1024);
    add(&r, "c", "readloop", shape, lv, (double)r.floats, 4.0 * (double)r.floats);
  }
  /* eqpool's pointwise channel mix as a plain GEMM: [nj*nk][ci] x [ci][co] */
  static const size_t mix[][3] = {{64 * 32, 16, 16}, {256 * 256, 16, 16}};
  for (size_t i = 0; i < sizeof mix / sizeof mix[0]; i++) {
    peer_arg g = {OP_SGEMM, 0, 1, mix[i][0], mix[i][2], mix[i][1]};
    snprintf(shape, sizeof shape, "%zux%zux%zu", g.m, g.k, g.n);
    const double bytes = 4.0 * (double)(g.m * g.k + g.k * g.n + 2 * g.m * g.n);
    add(&g, "openblas", "sgemm", shape, wsk_level_of(m, bytes), 2.0 * (double)(g.m * g.n * g.k),
        bytes);
  }
}
