/* bench/bench_attn.c — the attn family on every tier of kernels/attn/attn.inc
 * (each with the gemm micro-kernel of its tier), forward and
 * forward+backward, next to an unfused peer in the same process: OpenBLAS
 * cblas_sgemm for every product and wsk's softmax, with the Lq x Lk scores
 * (and their gradient) materialized, one (batch, head) at a time.
 *
 * Shapes: the SSL encoder's (many sequences of 43 or 80 tokens, Dh = 32)
 * and long sequences (B = 1, H = 8, L = 64 ... 4096, Dh = 64), no mask.
 * FLOPs are counted as 4 B H Lq Lk Dh for the forward and 2.5 times that
 * for the backward (the products a non-recomputing backward needs), so a
 * recomputing kernel is charged for no extra work. The cases run on one
 * thread; "-pool" cases run on every core through the pool. The scalar tier
 * runs only where a call takes well under a second. Forward+backward rows
 * note the extra memory beyond the inputs, outputs and gradients
 * (wsk_attn_workspace_bytes; the peer's two L x L matrices). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "impls.h"
#include "wsk/attn.h"
#include "wsk/eltwise.h"
#include "wsk/threads.h"

#if WSK_HAVE_OPENBLAS
#include <cblas.h>
#endif

typedef struct attn_arg {
  int impl; /* index into attn_impls, or -1 for the unfused peer */
  int64_t b, h, l, dh;
  int backward; /* 1: forward + backward per call */
  int pool;
} attn_arg;

#if WSK_HAVE_OPENBLAS
/* The unfused peer on one (batch, head): q, k, v, o, ... rows at stride ld. */
static void peer_head(const attn_arg *g, const float *q, const float *k, const float *v, float *o,
                      const float *dout, float *dq, float *dk, float *dv, size_t ld, float *s,
                      float *dp) {
  const int l = (int)g->l, dh = (int)g->dh;
  const float scale = 1.0f / sqrtf((float)g->dh);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, l, l, dh, scale, q, (int)ld, k, (int)ld,
              0.0f, s, l);
  wsk_softmax(s, l, l, s);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l, dh, l, 1.0f, s, l, v, (int)ld, 0.0f,
              o, (int)ld);
  if (!g->backward) return;
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l, dh, l, 1.0f, s, l, dout, (int)ld, 0.0f,
              dv, (int)ld);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, l, l, dh, 1.0f, dout, (int)ld, v, (int)ld,
              0.0f, dp, l);
  for (int i = 0; i < l; i++) {
    float d = 0.0f;
    for (int e = 0; e < dh; e++) d += dout[(size_t)i * ld + e] * o[(size_t)i * ld + e];
    float *pr = s + (size_t)i * l, *dr = dp + (size_t)i * l;
    for (int j = 0; j < l; j++) dr[j] = pr[j] * (dr[j] - d);
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l, dh, l, scale, dp, l, k, (int)ld, 0.0f,
              dq, (int)ld);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l, dh, l, scale, dp, l, q, (int)ld, 0.0f,
              dk, (int)ld);
}
#endif

static void bm_attn(gb_state *st, const void *argp) {
  const attn_arg *g = argp;
  wsk_bench_enter(st);
  const size_t hd = (size_t)(g->h * g->dh), rows = (size_t)(g->b * g->l);
  /* q, k, v, o, dO, dq, dk, dv: [B][L][H][Dh] each */
  float *t[8];
  for (int i = 0; i < 8; i++) {
    t[i] = wsk_bench_buffer(st, i, rows * hd);
    if (!t[i]) {
      gb_skip(st, "out of memory for the tensors");
      return;
    }
  }
  float *lse = wsk_bench_buffer(st, 8, (size_t)(g->b * g->h * g->l));
  if (!lse) {
    gb_skip(st, "out of memory for the tensors");
    return;
  }
  if (g->impl < 0) {
#if WSK_HAVE_OPENBLAS
    openblas_set_num_threads(1);
    const size_t ll = (size_t)g->l * (size_t)g->l;
    float *s = wsk_bench_buffer(st, 9, ll), *dp = wsk_bench_buffer(st, 10, ll);
    if (!s || !dp) {
      gb_skip(st, "out of memory for the scores");
      return;
    }
    while (gb_keep_running(st)) {
      for (int64_t b = 0; b < g->b; b++)
        for (int64_t h = 0; h < g->h; h++) {
          const size_t off = (size_t)b * (size_t)g->l * hd + (size_t)(h * g->dh);
          peer_head(g, t[0] + off, t[1] + off, t[2] + off, t[3] + off, t[4] + off, t[5] + off,
                    t[6] + off, t[7] + off, hd, s, dp);
        }
      gb_clobber_memory();
    }
#else
    gb_skip(st, "OpenBLAS not built in (apt-get install libopenblas-dev, reconfigure)");
#endif
    return;
  }
  const bench_impl *im = &attn_impls[g->impl];
  if (!bench_impl_usable(st, im->isa)) return;
  const wsk_gemm_ukernels *gk = bench_table_for(gemm_impls, N_GEMM_IMPLS, im->isa);
  if (wsk_threads_set_count(g->pool) != WSK_OK) {
    gb_skip(st, wsk_last_error());
    return;
  }
  const wsk_attn_desc d = {g->b, g->h, g->l, g->l, g->dh, 1.0f / sqrtf((float)g->dh), 0, NULL};
  wsk_attn_cview cv[5];
  for (int i = 0; i < 5; i++) cv[i] = wsk_attn_dense_cview(t[i], g->l, g->h, g->dh);
  const wsk_attn_view o = wsk_attn_dense_view(t[3], g->l, g->h, g->dh);
  const wsk_attn_view dq = wsk_attn_dense_view(t[5], g->l, g->h, g->dh);
  const wsk_attn_view dk = wsk_attn_dense_view(t[6], g->l, g->h, g->dh);
  const wsk_attn_view dv = wsk_attn_dense_view(t[7], g->l, g->h, g->dh);
  while (gb_keep_running(st)) {
    wsk__attn_forward_with(gk, im->table, &d, cv[0], cv[1], cv[2], o, lse);
    if (g->backward)
      wsk__attn_backward_with(gk, im->table, &d, cv[0], cv[1], cv[2], cv[3], lse, cv[4], dq, dk,
                              dv);
    gb_clobber_memory();
  }
  wsk_threads_set_count(1);
}

static void add(const wsk_machine *m, int64_t b, int64_t h, int64_t l, int64_t dh, int backward,
                int pool) {
  const double fwd = 4.0 * (double)(b * h) * (double)l * (double)l * (double)dh;
  const double flops = backward ? 3.5 * fwd : fwd;
  const double bytes = 4.0 * (double)(b * l * h * dh) * (backward ? 8 : 4);
  const char *lv = wsk_level_of(m, bytes);
  for (int i = -1; i < (int)N_ATTN_IMPLS; i++) {
    if (i >= 0 && attn_impls[i].isa == WSK_ISA_SCALAR && flops > 2e8) continue;
    if (i < 0 && pool > 1) continue; /* the peer runs on one thread */
    wsk_bench_case c = {0};
    snprintf(c.family, sizeof c.family, "%s", i < 0 ? "peer" : "attn");
    snprintf(c.op, sizeof c.op, "%s%s%s", i < 0 ? "unfused-" : "", backward ? "fwd+bwd" : "fwd",
             pool > 1 ? "-pool" : "");
    snprintf(c.isa, sizeof c.isa, "%s", i < 0 ? "openblas" : attn_impls[i].name);
    snprintf(c.shape, sizeof c.shape, "B%lldH%lldL%lldD%lld", (long long)b, (long long)h,
             (long long)l, (long long)dh);
    snprintf(c.level, sizeof c.level, "%s", lv);
    c.threads = 1;
    c.flops = flops;
    c.bytes = bytes;
    c.fma = 1;
    c.pool = pool;
    if (i >= 0 && backward) {
      /* the kernel's extra memory with this case's thread count */
      const wsk_attn_desc d = {b, h, l, l, dh, 1.0f, 0, NULL};
      snprintf(c.note, sizeof c.note, "extra memory %.2f MiB",
               (double)wsk__attn_workspace_bytes_for(&d, 1, pool) / 1048576.0);
    } else if (i < 0 && backward) {
      snprintf(c.note, sizeof c.note, "extra memory %.2f MiB (two L x L)",
               2.0 * 4.0 * (double)l * (double)l / 1048576.0);
    }
    const attn_arg g = {i, b, h, l, dh, backward, pool};
    wsk_bench_add(&c, bm_attn, &g, sizeof g);
  }
}

void wsk_bench_register_attn(const wsk_machine *m) {
  for (int bwd = 0; bwd < 2; bwd++) {
    /* the SSL encoder: many short sequences */
    add(m, 32, 4, 43, 32, bwd, 1);
    add(m, 16, 8, 80, 32, bwd, 1);
    /* long sequences */
    for (int64_t l = 64; l <= 4096; l *= 2) add(m, 1, 8, l, 64, bwd, 1);
    if (m->cores > 1) {
      add(m, 32, 4, 43, 32, bwd, m->cores);
      add(m, 1, 8, 1024, 64, bwd, m->cores);
    }
  }
}
