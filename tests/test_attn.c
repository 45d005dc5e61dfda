/* tests/test_attn.c — the attn family on every implementation of
 * kernels/attn/attn.inc (each with the gemm micro-kernel of its tier).
 *
 * - scalar against a double-precision reference (materialized softmax) for
 *   the forward and the backward, with masks. Tolerances (stated):
 *     |o - o_ref|   <= 1e-5 * max |v|,          |lse - lse_ref| <= 1e-5 (1 + |lse_ref|),
 *     |dX - dX_ref| <= 2e-5 * (1 + max |dX_ref|) for dq, dk, dv;
 * - central finite differences of L = sum(o * w) against the backward;
 * - every SIMD tier against scalar bit for bit for every tail of Lq, Lk
 *   around the key and query blocks (64) and the register tiles, head sizes
 *   1 ... 128 with odd ones, Lq != Lk, causal and key masks, strided and
 *   fused qkv layouts;
 * - the same bits for 1, 2, 3 and 7 threads (which also switches the
 *   backward between its fused and split schedules);
 * - fully masked rows give o = 0, lse = +Inf and zero gradients; NaN and
 *   Inf propagate to the rows they reach and no further; keys removed by the
 *   key mask are ignored even when they hold NaN;
 * - the workspace is linear in L; a cross-machine digest; bad input.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define ATTN_DIGEST 0x453bdad12d8ec524ull

#define WSK_IMPL(family, suffix, isa) {#suffix, isa, &wsk_##family##_ukernels__##suffix},
static const tu_impl attn_impls[] = {
#include "kernels/attn/attn.inc"
};
static const tu_impl gemm_impls[] = {
#include "kernels/gemm/gemm.inc"
};
#undef WSK_IMPL
#define N_ATTN (sizeof attn_impls / sizeof attn_impls[0])

static const wsk_gemm_ukernels *gemm_for(wsk_isa isa) {
  return tu_table_for(gemm_impls, sizeof gemm_impls / sizeof gemm_impls[0], isa);
}

/* ---- a problem ------------------------------------------------------------------ */

typedef struct prob {
  wsk_attn_desc d;
  int fused; /* q, k, v in one [B][L][3][H][Dh] tensor (lq == lk) */
  size_t pad; /* extra floats per position (strided layouts) */
  float *qkv, *q, *k, *v, *dout, *w; /* inputs (q/k/v point into qkv when fused) */
  uint8_t *mask;
  wsk_attn_cview cq, ck, cv, cdo;
  size_t nq, nk, no; /* floats of a q-like, k-like and o-like tensor */
} prob;

typedef struct result {
  float *o, *lse, *dq, *dk, *dv, *dqkv;
  wsk_attn_view vo, vdq, vdk, vdv;
} result;

static size_t o_floats(const prob *p) {
  return (size_t)(p->d.batch * p->d.lq * p->d.heads * p->d.dh);
}

static void prob_make(prob *p, tu_rng *r, int64_t B, int64_t H, int64_t lq, int64_t lk,
                      int64_t dh, int causal, int masked, int fused, size_t pad) {
  memset(p, 0, sizeof *p);
  p->d = (wsk_attn_desc){B, H, lq, lk, dh, 1.0f / sqrtf((float)dh), causal, NULL};
  p->fused = fused;
  p->pad = pad;
  const size_t hd = (size_t)(H * dh);
  if (fused) {
    const size_t n = (size_t)(B * lq) * 3 * hd;
    p->qkv = malloc(n * sizeof(float));
    tu_fill(r, p->qkv, n, -2.0f, 2.0f);
    wsk_attn_qkv_views(p->qkv, lq, H, dh, &p->cq, &p->ck, &p->cv);
  } else {
    const size_t sq = hd + pad;
    p->nq = (size_t)(B * lq) * sq;
    p->nk = (size_t)(B * lk) * sq;
    p->q = malloc(p->nq * sizeof(float));
    p->k = malloc(p->nk * sizeof(float));
    p->v = malloc(p->nk * sizeof(float));
    tu_fill(r, p->q, p->nq, -2.0f, 2.0f);
    tu_fill(r, p->k, p->nk, -2.0f, 2.0f);
    tu_fill(r, p->v, p->nk, -2.0f, 2.0f);
    p->cq = (wsk_attn_cview){p->q, (int64_t)((size_t)lq * sq), (int64_t)sq, dh};
    p->ck = (wsk_attn_cview){p->k, (int64_t)((size_t)lk * sq), (int64_t)sq, dh};
    p->cv = (wsk_attn_cview){p->v, (int64_t)((size_t)lk * sq), (int64_t)sq, dh};
  }
  p->no = o_floats(p);
  p->dout = malloc(p->no * sizeof(float));
  tu_fill(r, p->dout, p->no, -1.0f, 1.0f);
  p->w = malloc(p->no * sizeof(float));
  tu_fill(r, p->w, p->no, -1.0f, 1.0f);
  p->cdo = wsk_attn_dense_cview(p->dout, lq, H, dh);
  if (masked) {
    p->mask = malloc((size_t)(B * lk));
    for (size_t i = 0; i < (size_t)(B * lk); i++) p->mask[i] = tu_int(r, 0, 3) != 0;
    /* batch 0 keeps at least its first key */
    p->mask[0] = 1;
    p->d.key_mask = p->mask;
  }
}

static void prob_free(prob *p) {
  free(p->qkv), free(p->q), free(p->k), free(p->v), free(p->dout), free(p->w), free(p->mask);
}

static void res_make(const prob *p, result *s) {
  memset(s, 0, sizeof *s);
  const int64_t B = p->d.batch, H = p->d.heads, lq = p->d.lq, lk = p->d.lk, dh = p->d.dh;
  s->o = malloc(p->no * sizeof(float));
  s->lse = malloc((size_t)(B * H * lq) * sizeof(float));
  s->vo = wsk_attn_dense_view(s->o, lq, H, dh);
  if (p->fused) {
    const size_t n = (size_t)(B * lq * 3 * H * dh);
    s->dqkv = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) s->dqkv[i] = NAN;
    wsk_attn_qkv_grad_views(s->dqkv, lq, H, dh, &s->vdq, &s->vdk, &s->vdv);
  } else {
    s->dq = malloc(p->no * sizeof(float));
    s->dk = malloc((size_t)(B * lk * H * dh) * sizeof(float));
    s->dv = malloc((size_t)(B * lk * H * dh) * sizeof(float));
    s->vdq = wsk_attn_dense_view(s->dq, lq, H, dh);
    s->vdk = wsk_attn_dense_view(s->dk, lk, H, dh);
    s->vdv = wsk_attn_dense_view(s->dv, lk, H, dh);
  }
}

static void res_free(result *s) {
  free(s->o), free(s->lse), free(s->dq), free(s->dk), free(s->dv), free(s->dqkv);
}

static float at(wsk_attn_cview v, int64_t b, int64_t l, int64_t h, int64_t d) {
  return v.data[b * v.sb + l * v.sl + h * v.sh + d];
}
static float *atw(wsk_attn_view v, int64_t b, int64_t l, int64_t h, int64_t d) {
  return v.data + b * v.sb + l * v.sl + h * v.sh + d;
}

static int is_masked(const wsk_attn_desc *d, int64_t b, int64_t i, int64_t j) {
  if (d->key_mask && !d->key_mask[b * d->lk + j]) return 1;
  return d->causal && j > i + d->lk - d->lq;
}

static void run_fwd(const tu_impl *ai, const prob *p, result *s) {
  const wsk_gemm_ukernels *gk = gemm_for(ai->isa);
  assert_int_equal(wsk__attn_forward_with(gk, ai->table, &p->d, p->cq, p->ck, p->cv, s->vo, s->lse),
                   WSK_OK);
}

static void run_bwd(const tu_impl *ai, const prob *p, result *s) {
  const wsk_gemm_ukernels *gk = gemm_for(ai->isa);
  wsk_attn_cview co = wsk_attn_dense_cview(s->o, p->d.lq, p->d.heads, p->d.dh);
  assert_int_equal(wsk__attn_backward_with(gk, ai->table, &p->d, p->cq, p->ck, p->cv, co, s->lse,
                                           p->cdo, s->vdq, s->vdk, s->vdv),
                   WSK_OK);
}

/* the gradient tensors' floats in a fixed order, for comparisons */
static void grads(const prob *p, const result *s, float **g, size_t *n) {
  const int64_t B = p->d.batch, H = p->d.heads, dh = p->d.dh;
  const size_t nq = (size_t)(B * p->d.lq * H * dh), nk = (size_t)(B * p->d.lk * H * dh);
  *n = nq + 2 * nk;
  float *out = malloc(*n * sizeof(float));
  size_t t = 0;
  const wsk_attn_view vs[3] = {s->vdq, s->vdk, s->vdv};
  const int64_t ls[3] = {p->d.lq, p->d.lk, p->d.lk};
  for (int w = 0; w < 3; w++)
    for (int64_t b = 0; b < B; b++)
      for (int64_t l = 0; l < ls[w]; l++)
        for (int64_t h = 0; h < H; h++)
          for (int64_t d = 0; d < dh; d++) out[t++] = *atw(vs[w], b, l, h, d);
  *g = out;
}

/* ---- the double reference ---------------------------------------------------------- */

typedef struct ref {
  double *o, *lse, *dq, *dk, *dv; /* dense [B][L][H][Dh] / [B][H][Lq] */
} ref;

static void ref_run(const prob *p, ref *R) {
  const wsk_attn_desc *d = &p->d;
  const int64_t B = d->batch, H = d->heads, lq = d->lq, lk = d->lk, dh = d->dh;
  R->o = calloc((size_t)(B * lq * H * dh), sizeof(double));
  R->lse = calloc((size_t)(B * H * lq), sizeof(double));
  R->dq = calloc((size_t)(B * lq * H * dh), sizeof(double));
  R->dk = calloc((size_t)(B * lk * H * dh), sizeof(double));
  R->dv = calloc((size_t)(B * lk * H * dh), sizeof(double));
  double *s = malloc((size_t)lk * sizeof(double)), *pr = malloc((size_t)lk * sizeof(double));
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t i = 0; i < lq; i++) {
        double mx = -INFINITY;
        for (int64_t j = 0; j < lk; j++) {
          double acc = 0;
          for (int64_t e = 0; e < dh; e++)
            acc += (double)at(p->cq, b, i, h, e) * (double)at(p->ck, b, j, h, e);
          s[j] = is_masked(d, b, i, j) ? -INFINITY : acc * (double)d->scale;
          if (s[j] > mx) mx = s[j];
        }
        double *orow = R->o + ((b * lq + i) * H + h) * dh;
        if (mx == -INFINITY) {
          R->lse[(b * H + h) * lq + i] = INFINITY;
          continue;
        }
        double sum = 0;
        for (int64_t j = 0; j < lk; j++) sum += (pr[j] = exp(s[j] - mx));
        R->lse[(b * H + h) * lq + i] = mx + log(sum);
        for (int64_t j = 0; j < lk; j++) {
          pr[j] /= sum;
          for (int64_t e = 0; e < dh; e++) orow[e] += pr[j] * (double)at(p->cv, b, j, h, e);
        }
        /* backward of this row */
        const float *dor = p->dout + ((b * lq + i) * H + h) * dh;
        double D = 0;
        for (int64_t e = 0; e < dh; e++) D += (double)dor[e] * orow[e];
        for (int64_t j = 0; j < lk; j++) {
          if (pr[j] == 0) continue;
          double dp = 0;
          for (int64_t e = 0; e < dh; e++) dp += (double)dor[e] * (double)at(p->cv, b, j, h, e);
          const double ds = pr[j] * (dp - D) * (double)d->scale;
          for (int64_t e = 0; e < dh; e++) {
            R->dv[((b * lk + j) * H + h) * dh + e] += pr[j] * (double)dor[e];
            R->dk[((b * lk + j) * H + h) * dh + e] += ds * (double)at(p->cq, b, i, h, e);
            R->dq[((b * lq + i) * H + h) * dh + e] += ds * (double)at(p->ck, b, j, h, e);
          }
        }
      }
  free(s), free(pr);
}

static void ref_free(ref *R) { free(R->o), free(R->lse), free(R->dq), free(R->dk), free(R->dv); }

static double maxabs_d(const double *x, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++)
    if (fabs(x[i]) > m) m = fabs(x[i]);
  return m;
}

static void check_close(const char *what, const float *got, const double *want, size_t n,
                        double tol) {
  for (size_t i = 0; i < n; i++) {
    const double e = fabs((double)got[i] - want[i]);
    if (!(e <= tol)) {
      printf("%s[%zu]: got %.9g, want %.9g (err %.3g > tol %.3g)\n", what, i, (double)got[i],
             want[i], e, tol);
      fail();
    }
  }
}

static void test_scalar_vs_reference(void **state) {
  (void)state;
  tu_rng r = {11};
  const tu_impl *sc = &attn_impls[N_ATTN - 1];
  static const int64_t shapes[][5] = {{2, 3, 17, 17, 16},  {1, 2, 70, 130, 32}, {2, 1, 65, 33, 64},
                                      {1, 1, 5, 200, 80},  {1, 2, 130, 64, 7},  {1, 1, 1, 1, 1},
                                      {1, 1, 96, 96, 128}};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
    for (int mode = 0; mode < 4; mode++) {
      const int64_t *sh = shapes[si];
      prob p;
      prob_make(&p, &r, sh[0], sh[1], sh[2], sh[3], sh[4], mode & 1, (mode >> 1) & 1, 0, 3);
      result s;
      res_make(&p, &s);
      run_fwd(sc, &p, &s);
      run_bwd(sc, &p, &s);
      ref R;
      ref_run(&p, &R);
      const size_t nk = (size_t)(sh[0] * sh[3] * sh[1] * sh[4]);
      double vmax = 0;
      for (size_t i = 0; i < p.nk; i++) {
        const double a = fabs((double)p.v[i]);
        if (a > vmax) vmax = a;
      }
      check_close("o", s.o, R.o, p.no, 1e-5 * vmax);
      for (size_t i = 0; i < (size_t)(sh[0] * sh[1] * sh[2]); i++) {
        if (isinf(R.lse[i])) {
          assert_true(isinf(s.lse[i]) && s.lse[i] > 0);
          continue;
        }
        check_close("lse", s.lse + i, R.lse + i, 1, 1e-5 * (1 + fabs(R.lse[i])));
      }
      check_close("dq", s.dq, R.dq, p.no, 2e-5 * (1 + maxabs_d(R.dq, p.no)));
      check_close("dk", s.dk, R.dk, nk, 2e-5 * (1 + maxabs_d(R.dk, nk)));
      check_close("dv", s.dv, R.dv, nk, 2e-5 * (1 + maxabs_d(R.dv, nk)));
      ref_free(&R);
      res_free(&s);
      prob_free(&p);
    }
}

/* L = sum(o * w): dL/do = w */
static double loss(const tu_impl *ai, prob *p) {
  result s;
  res_make(p, &s);
  run_fwd(ai, p, &s);
  double l = 0;
  for (size_t i = 0; i < p->no; i++) l += (double)s.o[i] * (double)p->w[i];
  res_free(&s);
  return l;
}

static void test_finite_differences(void **state) {
  (void)state;
  tu_rng r = {12};
  const tu_impl *sc = &attn_impls[N_ATTN - 1];
  prob p;
  prob_make(&p, &r, 1, 2, 9, 11, 5, 1, 1, 0, 0);
  memcpy(p.dout, p.w, p.no * sizeof(float)); /* dL/do */
  result s;
  res_make(&p, &s);
  run_fwd(sc, &p, &s);
  run_bwd(sc, &p, &s);
  float *xs[3] = {p.q, p.k, p.v}, *gs[3] = {s.dq, s.dk, s.dv};
  const size_t ns[3] = {p.nq, p.nk, p.nk};
  const float eps = 1e-2f;
  for (int t = 0; t < 3; t++)
    for (int trial = 0; trial < 12; trial++) {
      const size_t idx = tu_int(&r, 0, ns[t] - 1);
      const float x0 = xs[t][idx];
      xs[t][idx] = x0 + eps;
      const double lp = loss(sc, &p);
      xs[t][idx] = x0 - eps;
      const double lm = loss(sc, &p);
      xs[t][idx] = x0;
      const double fd = (lp - lm) / (2.0 * (double)eps);
      /* the position of idx in the dense gradient: layouts coincide (pad 0) */
      const double g = gs[t][idx];
      if (fabs(fd - g) > 2e-3 * (1 + fabs(g))) {
        printf("tensor %d index %zu: finite difference %.6g, backward %.6g\n", t, idx, fd, g);
        fail();
      }
    }
  res_free(&s);
  prob_free(&p);
}

/* every tier against scalar; thread counts */
static void compare_tiers(prob *p, const char *label) {
  result base;
  res_make(p, &base);
  run_fwd(&attn_impls[N_ATTN - 1], p, &base);
  run_bwd(&attn_impls[N_ATTN - 1], p, &base);
  float *gb;
  size_t ng;
  grads(p, &base, &gb, &ng);
  const size_t nl = (size_t)(p->d.batch * p->d.heads * p->d.lq);
  for (size_t ii = 0; ii + 1 < N_ATTN; ii++) {
    if (!tu_impl_runs("attn", &attn_impls[ii])) continue;
    result s;
    res_make(p, &s);
    run_fwd(&attn_impls[ii], p, &s);
    run_bwd(&attn_impls[ii], p, &s);
    char what[160];
    snprintf(what, sizeof what, "%s %s o", label, attn_impls[ii].name);
    tu_assert_bits(base.o, s.o, p->no, what);
    snprintf(what, sizeof what, "%s %s lse", label, attn_impls[ii].name);
    tu_assert_bits(base.lse, s.lse, nl, what);
    float *g;
    grads(p, &s, &g, &ng);
    snprintf(what, sizeof what, "%s %s grads", label, attn_impls[ii].name);
    tu_assert_bits(gb, g, ng, what);
    free(g);
    res_free(&s);
  }
  free(gb);
  res_free(&base);
}

static void test_tiers(void **state) {
  (void)state;
  tu_rng r = {13};
  static const int64_t ls[] = {1, 2, 7, 15, 16, 17, 63, 64, 65, 129};
  static const int64_t dhs[] = {1, 3, 16, 17, 32, 33, 48, 64, 80, 128};
  char label[96];
  for (size_t a = 0; a < sizeof ls / sizeof ls[0]; a++) {
    const int64_t lq = ls[a], lk = ls[(a * 7 + 3) % 10];
    const int64_t dh = dhs[a];
    for (int mode = 0; mode < 4; mode++) {
      prob p;
      prob_make(&p, &r, 2, 2, lq, lk, dh, mode & 1, (mode >> 1) & 1, 0, (size_t)mode);
      snprintf(label, sizeof label, "lq %lld lk %lld dh %lld mode %d", (long long)lq,
               (long long)lk, (long long)dh, mode);
      compare_tiers(&p, label);
      prob_free(&p);
      /* self-attention through the fused qkv layout */
      prob_make(&p, &r, 1, 3, lq, lq, dhs[(a + mode) % 10], mode & 1, (mode >> 1) & 1, 1, 0);
      snprintf(label, sizeof label, "fused lq %lld mode %d", (long long)lq, mode);
      compare_tiers(&p, label);
      prob_free(&p);
    }
  }
}

static void test_threads(void **state) {
  (void)state;
  tu_rng r = {14};
  static const int counts[] = {1, 2, 3, 7};
  /* B*H = 2 (split backward with >= 2 threads) and 12 (fused up to 6) */
  static const int64_t shapes[][5] = {{1, 2, 150, 200, 32}, {3, 4, 70, 70, 16}};
  for (size_t si = 0; si < 2; si++) {
    prob p;
    prob_make(&p, &r, shapes[si][0], shapes[si][1], shapes[si][2], shapes[si][3], shapes[si][4],
              1, 1, 0, 1);
    const tu_impl *best = &attn_impls[0];
    for (size_t i = 0; i < N_ATTN && !tu_impl_runs("attn", best); i++) best = &attn_impls[i + 1];
    result base;
    float *gb = NULL;
    size_t ng = 0;
    for (size_t c = 0; c < 4; c++) {
      assert_int_equal(wsk_threads_set_count(counts[c]), WSK_OK);
      result s;
      res_make(&p, &s);
      run_fwd(best, &p, &s);
      run_bwd(best, &p, &s);
      float *g;
      grads(&p, &s, &g, &ng);
      if (c == 0) {
        base = s;
        gb = g;
        continue;
      }
      tu_assert_bits(base.o, s.o, p.no, "o across thread counts");
      tu_assert_bits(gb, g, ng, "gradients across thread counts");
      free(g);
      res_free(&s);
    }
    free(gb);
    res_free(&base);
    prob_free(&p);
  }
  assert_int_equal(wsk_threads_set_count(2), WSK_OK);
}

static int all_finite(const float *x, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return 0;
  return 1;
}

static void test_fully_masked(void **state) {
  (void)state;
  tu_rng r = {15};
  for (size_t ii = 0; ii < N_ATTN; ii++) {
    if (!tu_impl_runs("attn", &attn_impls[ii])) continue;
    /* causal with lq > lk: queries 0..lq-lk-1 see no key; batch 1 has no key at all */
    prob p;
    prob_make(&p, &r, 2, 2, 20, 8, 16, 1, 1, 0, 0);
    for (int j = 0; j < 8; j++) p.mask[8 + j] = 0;
    result s;
    res_make(&p, &s);
    run_fwd(&attn_impls[ii], &p, &s);
    run_bwd(&attn_impls[ii], &p, &s);
    assert_true(all_finite(s.o, p.no));
    assert_true(all_finite(s.dq, p.no));
    assert_true(all_finite(s.dk, p.nk));
    assert_true(all_finite(s.dv, p.nk));
    for (int64_t b = 0; b < 2; b++)
      for (int64_t h = 0; h < 2; h++)
        for (int64_t i = 0; i < 20; i++) {
          const int none = b == 1 || i < 12;
          if (!none) continue;
          assert_true(isinf(s.lse[(b * 2 + h) * 20 + i]) && s.lse[(b * 2 + h) * 20 + i] > 0);
          for (int64_t e = 0; e < 16; e++) {
            assert_true(*atw(s.vo, b, i, h, e) == 0.0f);
            assert_true(*atw(s.vdq, b, i, h, e) == 0.0f);
          }
        }
    /* batch 1's keys (all removed) get zero gradients */
    for (int64_t j = 0; j < 8; j++)
      for (int64_t e = 0; e < 32; e++) {
        assert_true(*atw(s.vdk, 1, j, 0, e) == 0.0f);
        assert_true(*atw(s.vdv, 1, j, 0, e) == 0.0f);
      }
    res_free(&s);
    prob_free(&p);
  }
}

static void test_nan_inf(void **state) {
  (void)state;
  tu_rng r = {16};
  for (size_t ii = 0; ii < N_ATTN; ii++) {
    if (!tu_impl_runs("attn", &attn_impls[ii])) continue;
    const int64_t L = 70, H = 1, dh = 16;
    prob p;
    prob_make(&p, &r, 1, H, L, L, dh, 1, 0, 0, 0);
    result s;
    res_make(&p, &s);
    /* NaN in q of row 5: row 5 is NaN, the others are finite */
    p.q[5 * dh + 3] = NAN;
    run_fwd(&attn_impls[ii], &p, &s);
    for (int64_t i = 0; i < L; i++)
      for (int64_t e = 0; e < dh; e++) {
        const float x = s.o[i * dh + e];
        assert_true(i == 5 ? isnan(x) : isfinite(x));
      }
    p.q[5 * dh + 3] = 0.5f;
    /* NaN in k of key 40 (causal): rows >= 40 are NaN, rows < 40 (which
     * may not see key 40) are unaffected */
    p.k[40 * dh] = NAN;
    run_fwd(&attn_impls[ii], &p, &s);
    for (int64_t i = 0; i < L; i++) assert_true(i >= 40 ? isnan(s.o[i * dh]) : isfinite(s.o[i * dh]));
    p.k[40 * dh] = 0.5f;
    /* a key removed by the key mask may hold NaN: no effect */
    p.d.key_mask = p.mask = malloc((size_t)L);
    memset(p.mask, 1, (size_t)L);
    p.mask[30] = 0;
    run_fwd(&attn_impls[ii], &p, &s);
    float *clean = malloc(p.no * sizeof(float));
    memcpy(clean, s.o, p.no * sizeof(float));
    for (int64_t e = 0; e < dh; e++) p.k[30 * dh + e] = p.v[30 * dh + e] = NAN;
    run_fwd(&attn_impls[ii], &p, &s);
    run_bwd(&attn_impls[ii], &p, &s);
    tu_assert_bits(clean, s.o, p.no, "a removed key's NaN");
    assert_true(all_finite(s.dq, p.no));
    for (int64_t e = 0; e < dh; e++) assert_true(s.dk[30 * dh + e] == 0.0f && s.dv[30 * dh + e] == 0.0f);
    free(clean);
    res_free(&s);
    prob_free(&p);
  }
}

static void test_workspace(void **state) {
  (void)state;
  assert_int_equal(wsk_threads_set_count(2), WSK_OK);
  wsk_attn_desc d = {1, 8, 1024, 1024, 64, 0.125f, 0, NULL};
  const int64_t w1 = wsk_attn_workspace_bytes(&d, 1);
  d.lq = d.lk = 4096;
  const int64_t w4 = wsk_attn_workspace_bytes(&d, 1);
  printf("attn workspace (2 threads, H 8, Dh 64, fwd+bwd): L 1024 %lld B, L 4096 %lld B\n",
         (long long)w1, (long long)w4);
  assert_true(w4 < 32ll << 20);
  assert_true(w4 <= 4 * w1 + (1 << 20)); /* linear in L */
  assert_true(wsk_attn_workspace_bytes(&d, 0) > 0);
  assert_true(wsk_attn_workspace_bytes(NULL, 0) == 0);
}

static void test_digest(void **state) {
  (void)state;
  tu_rng r = {17};
  prob p;
  prob_make(&p, &r, 2, 2, 77, 77, 24, 1, 1, 1, 0);
  result s;
  res_make(&p, &s);
  assert_int_equal(wsk_attn_forward(&p.d, p.cq, p.ck, p.cv, s.vo, s.lse), WSK_OK);
  wsk_attn_cview co = wsk_attn_dense_cview(s.o, p.d.lq, p.d.heads, p.d.dh);
  assert_int_equal(
      wsk_attn_backward(&p.d, p.cq, p.ck, p.cv, co, s.lse, p.cdo, s.vdq, s.vdk, s.vdv), WSK_OK);
  uint64_t h = TU_DIGEST_INIT;
  h = tu_digest(h, s.o, p.no);
  h = tu_digest(h, s.lse, (size_t)(2 * 2 * 77));
  h = tu_digest(h, s.dqkv, (size_t)(2 * 77 * 3 * 2 * 24));
  tu_assert_digest("attn", h, ATTN_DIGEST);
  res_free(&s);
  prob_free(&p);
}

static void test_bad_input(void **state) {
  (void)state;
  float buf[4096];
  for (int i = 0; i < 4096; i++) buf[i] = 0.1f;
  float out[1024], lse[64];
  wsk_attn_desc d = {1, 1, 4, 4, 8, 0.5f, 0, NULL};
  wsk_attn_cview q = wsk_attn_dense_cview(buf, 4, 1, 8);
  wsk_attn_view o = wsk_attn_dense_view(out, 4, 1, 8);
  assert_int_equal(wsk_attn_forward(&d, q, q, q, o, lse), WSK_OK);
  assert_int_equal(wsk_attn_forward(NULL, q, q, q, o, lse), WSK_ERR_NULL);
  wsk_attn_desc bad = d;
  bad.dh = 0;
  assert_int_equal(wsk_attn_forward(&bad, q, q, q, o, lse), WSK_ERR_SIZE);
  assert_non_null(strstr(wsk_last_error(), "dh = 0"));
  bad = d;
  bad.lk = -1;
  assert_int_equal(wsk_attn_forward(&bad, q, q, q, o, lse), WSK_ERR_SIZE);
  bad = d;
  bad.scale = NAN;
  assert_int_equal(wsk_attn_forward(&bad, q, q, q, o, lse), WSK_ERR_ARG);
  wsk_attn_cview nq = q;
  nq.data = NULL;
  assert_int_equal(wsk_attn_forward(&d, nq, q, q, o, lse), WSK_ERR_NULL);
  assert_non_null(strstr(wsk_last_error(), "q is NULL"));
  nq = q;
  nq.sl = -8;
  assert_int_equal(wsk_attn_forward(&d, nq, q, q, o, lse), WSK_ERR_ARG);
  wsk_attn_view alias = {buf, 32, 8, 8};
  assert_int_equal(wsk_attn_forward(&d, q, q, q, alias, lse), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "overlaps"));
  bad = d;
  bad.batch = INT64_MAX / 2;
  assert_int_equal(wsk_attn_forward(&bad, q, q, q, o, lse), WSK_ERR_OVERFLOW);
  float g[3][1024];
  wsk_attn_view dq = wsk_attn_dense_view(g[0], 4, 1, 8), dk = wsk_attn_dense_view(g[1], 4, 1, 8),
                dv = wsk_attn_dense_view(g[2], 4, 1, 8);
  wsk_attn_cview co = wsk_attn_dense_cview(out, 4, 1, 8);
  assert_int_equal(wsk_attn_backward(&d, q, q, q, co, lse, q, dq, dk, dv), WSK_OK);
  assert_int_equal(wsk_attn_backward(&d, q, q, q, co, NULL, q, dq, dk, dv), WSK_ERR_NULL);
  assert_int_equal(wsk_attn_backward(&d, q, q, q, co, lse, q, dq, dq, dv), WSK_ERR_ARG);
  wsk_attn_view into_q = {buf + 8, 32, 8, 8};
  assert_int_equal(wsk_attn_backward(&d, q, q, q, co, lse, q, into_q, dk, dv), WSK_ERR_ARG);
}

int main(void) {
  wsk_threads_set_count(2);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scalar_vs_reference), cmocka_unit_test(test_finite_differences),
      cmocka_unit_test(test_tiers),               cmocka_unit_test(test_threads),
      cmocka_unit_test(test_fully_masked),        cmocka_unit_test(test_nan_inf),
      cmocka_unit_test(test_workspace),           cmocka_unit_test(test_digest),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
