/* tests/test_optim.c — the optim family on every implementation of
 * kernels/optim/optim.inc.
 *
 * - scalar against a double-precision oracle that runs the definition of
 *   wsk/optim.h with the same float constants. Tolerances (stated), u = 2^-24:
 *   SGD: m within 3u (|mu m| + |g| + |wd w|), w within 3u (|w| + |lr m|) + lr * (m's bound);
 *   Adam: m and v within 4u of their terms' magnitudes, w within
 *   4u |w| + 16u |a u|;
 *   MLP: each layer's chain of K fmaf errs by at most (K + 1) u sum|terms|,
 *   plus the previous layer's error through |W| (ReLU is 1-Lipschitz);
 * - every SIMD tier against scalar bit for bit: every n 1..100 for SGD and
 *   Adam (L2, decoupled, no decay), every width 1..64 of each MLP axis over a
 *   sample of the others and every n 1..40, unaligned pointers, NaN and Inf;
 * - the learned optimizer's kernels (features, update, row dot product) on
 *   every tier, scalar included, against the definitions of wsk/optim.h
 *   written out in this file, bit for bit: every n 1..40 and odd sizes past
 *   the 16- and 32-element steps (47, 63, 64, 65, 100, 1003, 2410), nmom
 *   1..8, several row strides (columns past 2 + nmom untouched), momentum
 *   rows of a longer array; the update at every n 1..100, 1000, 4099; the
 *   row dot product at every k 1..64 and n around the 16-row tile. Inputs
 *   carry the clipping edges (+-1 and the floats next to them, +-0) and NaN,
 *   +-Inf, subnormals; two NaNs compare equal (which one an operation with
 *   two NaN operands returns is left open by IEEE and differs between
 *   instruction forms), and a single NaN passing clip is checked exactly;
 * - the same bits for 1, 2, 3 and 7 threads through the public functions;
 * - cross-machine digests (recorded on x86-64, verified on aarch64), one for
 *   the updates and the MLP, one for the learned optimizer's kernels (NaNs
 *   hashed as one); bad input, with the messages.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define OPTIM_DIGEST 0x5d3446a9fa786be5ull
#define LOPT_DIGEST 0xb79544563ff27b46ull

#define WSK_IMPL(family, suffix, isa) {#suffix, isa, &wsk_##family##_ukernels__##suffix},
static const tu_impl optim_impls[] = {
#include "kernels/optim/optim.inc"
};
#undef WSK_IMPL
#define N_OPTIM (sizeof optim_impls / sizeof optim_impls[0])

static long g_checked;
static const double U = 0x1p-24;

static void fail_at(const char *what, size_t i, double got, double want, double tol) {
  print_error("%s[%zu] = %.9g, oracle %.12g, tol %.3g\n", what, i, got, want, tol);
  fail();
}

/* ---- updates ---- */

typedef struct ustate {
  float *w, *g, *m, *v;
  tu_buf bw, bg, bm, bv;
} ustate;

static void ualloc(ustate *s, size_t n, size_t mis) {
  s->w = tu_alloc(&s->bw, n, mis);
  s->g = tu_alloc(&s->bg, n, (mis + 1) % 16);
  s->m = tu_alloc(&s->bm, n, (mis + 2) % 16);
  s->v = tu_alloc(&s->bv, n, (mis + 3) % 16);
}
static void ufree(ustate *s) {
  tu_free(&s->bw);
  tu_free(&s->bg);
  tu_free(&s->bm);
  tu_free(&s->bv);
}
static void ucopy(ustate *d, const ustate *s, size_t n) {
  memcpy(d->w, s->w, n * 4);
  memcpy(d->g, s->g, n * 4);
  memcpy(d->m, s->m, n * 4);
  memcpy(d->v, s->v, n * 4);
}
static void ufill(tu_rng *r, ustate *s, size_t n, int special) {
  tu_fill(r, s->w, n, -1, 1);
  tu_fill(r, s->g, n, -1, 1);
  tu_fill(r, s->m, n, -0.5f, 0.5f);
  tu_fill(r, s->v, n, 0, 0.5f);
  if (special && n > 2) {
    s->g[tu_int(r, 0, n - 1)] = NAN;
    s->w[tu_int(r, 0, n - 1)] = INFINITY;
    s->g[tu_int(r, 0, n - 1)] = -INFINITY;
    s->v[tu_int(r, 0, n - 1)] = 0.0f;
  }
}

static void sgd_oracle(const ustate *s0, const ustate *s, size_t n, const wsk_sgd_params *p) {
  for (size_t i = 0; i < n; i++) {
    const double w = s0->w[i], g = s0->g[i], m = s0->m[i];
    const double gi = g + (p->weight_decay != 0 ? (double)p->weight_decay * w : 0);
    const double mn = (double)p->momentum * m + gi;
    const double em = 3 * U * (fabs(p->momentum * m) + fabs(g) + fabs(p->weight_decay * w));
    const double wn = w - (double)p->lr * s->m[i];
    const double ew = 3 * U * (fabs(w) + fabs(p->lr * mn)) + fabs(p->lr) * em + 1e-37;
    if (!(fabs(s->m[i] - mn) <= em + 1e-37)) fail_at("sgd m", i, s->m[i], mn, em);
    if (!(fabs(s->w[i] - wn) <= ew)) fail_at("sgd w", i, s->w[i], wn, ew);
  }
}

static void adam_oracle(const ustate *s0, const ustate *s, size_t n, const wsk_adam_params *p) {
  wsk_optim_adam_k k;
  wsk__adam_constants(p, &k);
  for (size_t i = 0; i < n; i++) {
    double w = s0->w[i], g = s0->g[i];
    if (k.l2) g += (double)k.wd * w;
    if (k.decay) w *= k.d;
    const double m = (double)k.b1 * s0->m[i] + (double)k.omb1 * g;
    const double v = (double)k.b2 * s0->v[i] + (double)k.omb2 * g * g;
    const double em = 4 * U * (fabs(k.b1 * s0->m[i]) + fabs(k.omb1 * g)) + 1e-37;
    const double ev = 4 * U * (fabs(k.b2 * s0->v[i]) + fabs(k.omb2 * g * g)) + 1e-37;
    if (!(fabs(s->m[i] - m) <= em)) fail_at("adam m", i, s->m[i], m, em);
    if (!(fabs(s->v[i] - v) <= ev)) fail_at("adam v", i, s->v[i], v, ev);
    /* the step from the computed moments (their own error checked above) */
    const double u = s->m[i] / (sqrt((double)s->v[i] * k.c2) + k.eps);
    const double wn = w + (double)k.neg_a * u;
    const double ew = 4 * U * fabs(w) + 16 * U * fabs(k.neg_a * u) + 1e-37;
    if (!(fabs(s->w[i] - wn) <= ew)) fail_at("adam w", i, s->w[i], wn, ew);
  }
}

static const wsk_sgd_params sgd_cases[] = {
    {0.1f, 0.9f, 0.01f}, {0.05f, 0.0f, 0.0f}, {1.5f, 0.99f, 0.5f}};
static const wsk_adam_params adam_cases[] = {{1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1, 0},
                                             {1e-2f, 0.8f, 0.99f, 1e-6f, 0.1f, 7, 1},
                                             {3e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, 1000, 0}};

/* every n 1..100, each parameter set, SGD and Adam: oracle and bits */
static void check_updates(tu_rng *r, size_t n, size_t mis, int special, int oracle) {
  ustate s0, ss, st;
  ualloc(&s0, n, mis);
  ualloc(&ss, n, mis);
  ualloc(&st, n, (mis + 5) % 16);
  ufill(r, &s0, n, special);
  for (size_t c = 0; c < 3; c++) {
    ucopy(&ss, &s0, n);
    assert_int_equal(wsk__sgd_with(&wsk_optim_ukernels__scalar, n, ss.w, ss.g, ss.m, &sgd_cases[c]),
                     WSK_OK);
    if (oracle) sgd_oracle(&s0, &ss, n, &sgd_cases[c]);
    for (size_t t = 0; t < N_OPTIM; t++) {
      const tu_impl *im = &optim_impls[t];
      if (im->isa == WSK_ISA_SCALAR || !tu_impl_runs("optim", im)) continue;
      ucopy(&st, &s0, n);
      assert_int_equal(wsk__sgd_with(im->table, n, st.w, st.g, st.m, &sgd_cases[c]), WSK_OK);
      tu_assert_bits(ss.w, st.w, n + 1, "sgd w"); /* and one guard float past the end */
      tu_assert_bits(ss.m, st.m, n + 1, "sgd m");
    }
    ucopy(&ss, &s0, n);
    assert_int_equal(
        wsk__adam_with(&wsk_optim_ukernels__scalar, n, ss.w, ss.g, ss.m, ss.v, &adam_cases[c]),
        WSK_OK);
    if (oracle) adam_oracle(&s0, &ss, n, &adam_cases[c]);
    for (size_t t = 0; t < N_OPTIM; t++) {
      const tu_impl *im = &optim_impls[t];
      if (im->isa == WSK_ISA_SCALAR || !tu_impl_runs("optim", im)) continue;
      ucopy(&st, &s0, n);
      assert_int_equal(wsk__adam_with(im->table, n, st.w, st.g, st.m, st.v, &adam_cases[c]),
                       WSK_OK);
      tu_assert_bits(ss.w, st.w, n + 1, "adam w");
      tu_assert_bits(ss.m, st.m, n + 1, "adam m");
      tu_assert_bits(ss.v, st.v, n + 1, "adam v");
    }
    g_checked++;
  }
  ufree(&s0);
  ufree(&ss);
  ufree(&st);
}

static void test_updates(void **state) {
  (void)state;
  tu_rng r = {41};
  for (size_t n = 1; n <= 100; n++) check_updates(&r, n, n % 16, 0, 1);
  for (size_t n = 1; n <= 100; n += 3) check_updates(&r, n, (n + 7) % 16, 1, 0);
  check_updates(&r, 5000, 3, 0, 1);
}

/* ---- MLP ---- */

typedef struct mnet {
  wsk_mlp3 net;
  float *p; /* all weights and biases */
} mnet;

static void mnet_make(tu_rng *r, mnet *m, size_t f, size_t h1, size_t h2, size_t o, int special) {
  const size_t sz = f * h1 + h1 + h1 * h2 + h2 + h2 * o + o;
  m->p = malloc(sz * sizeof(float));
  tu_fill(r, m->p, sz, -0.5f, 0.5f);
  float *q = m->p;
  m->net.f = (int64_t)f;
  m->net.h1 = (int64_t)h1;
  m->net.h2 = (int64_t)h2;
  m->net.o = (int64_t)o;
  m->net.w1 = q;
  q += f * h1;
  m->net.b1 = q;
  q += h1;
  m->net.w2 = q;
  q += h1 * h2;
  m->net.b2 = q;
  q += h2;
  m->net.w3 = q;
  q += h2 * o;
  m->net.b3 = q;
  if (special) m->p[tu_int(r, 0, sz - 1)] = INFINITY;
}

/* one layer in double: out value and error bound */
static void olayer(size_t k, size_t n, const double *in, const double *ein, const float *w,
                   const float *b, int relu, double *out, double *eout) {
  for (size_t c = 0; c < n; c++) {
    double s = b[c], mag = fabs(b[c]), e = 0;
    for (size_t p = 0; p < k; p++) {
      s += in[p] * w[p * n + c];
      mag += fabs(in[p] * w[p * n + c]);
      e += ein[p] * fabs(w[p * n + c]);
    }
    if (relu && s <= 0) s = 0;
    out[c] = s;
    eout[c] = e + (double)(k + 1) * U * mag + 1e-37;
  }
}

static void mlp_oracle(const wsk_mlp3 *net, size_t n, const float *x, const float *y) {
  const size_t f = (size_t)net->f, h1 = (size_t)net->h1, h2 = (size_t)net->h2, o = (size_t)net->o;
  double in[64], ein[64] = {0}, a1[64], e1[64], a2[64], e2[64], yo[64], ey[64];
  for (size_t r = 0; r < n; r++) {
    for (size_t i = 0; i < f; i++) in[i] = x[r * f + i];
    olayer(f, h1, in, ein, net->w1, net->b1, 1, a1, e1);
    olayer(h1, h2, a1, e1, net->w2, net->b2, 1, a2, e2);
    olayer(h2, o, a2, e2, net->w3, net->b3, 0, yo, ey);
    for (size_t c = 0; c < o; c++)
      if (!(fabs(y[r * o + c] - yo[c]) <= ey[c]))
        fail_at("mlp y", r * o + c, y[r * o + c], yo[c], ey[c]);
  }
}

static void check_mlp(tu_rng *r, size_t n, size_t f, size_t h1, size_t h2, size_t o, int special,
                      int oracle) {
  mnet m;
  mnet_make(r, &m, f, h1, h2, o, special == 2);
  tu_buf bx, bs, bt;
  float *x = tu_alloc(&bx, n * f, n % 16), *ys = tu_alloc(&bs, n * o, 1);
  float *yt = tu_alloc(&bt, n * o, (n + 3) % 16);
  tu_fill(r, x, n * f, -1, 1);
  if (special == 1) {
    x[tu_int(r, 0, n * f - 1)] = NAN;
    x[tu_int(r, 0, n * f - 1)] = -INFINITY;
  }
  assert_int_equal(wsk__mlp3_with(&wsk_optim_ukernels__scalar, &m.net, n, x, ys), WSK_OK);
  if (oracle) mlp_oracle(&m.net, n, x, ys);
  for (size_t t = 0; t < N_OPTIM; t++) {
    const tu_impl *im = &optim_impls[t];
    if (im->isa == WSK_ISA_SCALAR || !tu_impl_runs("optim", im)) continue;
    memcpy(yt, ys, (n * o + 1) * 4); /* the guard float past the end too */
    assert_int_equal(wsk__mlp3_with(im->table, &m.net, n, x, yt), WSK_OK);
    tu_assert_bits(ys, yt, n * o + 1, "mlp y");
  }
  g_checked++;
  tu_free(&bx);
  tu_free(&bs);
  tu_free(&bt);
  free(m.p);
}

/* every width 1..64 on each axis (the others random), every n 1..40 */
static void test_mlp_widths(void **state) {
  (void)state;
  tu_rng r = {42};
  for (size_t w = 1; w <= 64; w++)
    for (int axis = 0; axis < 4; axis++) {
      size_t d[4];
      for (int i = 0; i < 4; i++) d[i] = tu_int(&r, 1, i < 3 ? 64 : 8);
      d[axis] = w;
      const size_t n = tu_int(&r, 1, 40);
      check_mlp(&r, n, d[0], d[1], d[2], d[3], 0, w % 5 == 0);
    }
  for (size_t n = 1; n <= 40; n++) check_mlp(&r, n, 19, 32, 32, 1, 0, 1);
  check_mlp(&r, 1000, 19, 32, 32, 1, 0, 1);
  check_mlp(&r, 333, 64, 64, 64, 64, 0, 1);
}

static void test_mlp_special(void **state) {
  (void)state;
  tu_rng r = {43};
  for (int rep = 0; rep < 40; rep++) {
    size_t d[5];
    for (int i = 0; i < 5; i++) d[i] = tu_int(&r, 1, i == 0 ? 50 : i == 1 ? 30 : i == 4 ? 4 : 40);
    check_mlp(&r, d[0], d[1], d[2], d[3], d[4], 1 + rep % 2, 0);
  }
}

/* ---- the learned optimizer's element-wise kernels ---- */

/* The definitions of wsk/optim.h, written out: the reference every tier
 * (scalar included) must match bit for bit. */
static float clipf(float v) { return v > 1.0f ? 1.0f : (v < -1.0f ? -1.0f : v); }

static void ref_features(size_t n, const float *w, const float *g, size_t nmom, const float *gamma,
                         const float *omg, float *mom, size_t ldm, float *x, size_t ldx) {
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < nmom; k++) {
      const float t = omg[k] * g[i];
      mom[k * ldm + i] = fmaf(gamma[k], mom[k * ldm + i], t);
    }
    x[i * ldx + 0] = clipf(w[i]);
    x[i * ldx + 1] = clipf(g[i]);
    for (size_t k = 0; k < nmom; k++) x[i * ldx + 2 + k] = clipf(mom[k * ldm + i]);
  }
}

static void ref_update(size_t n, float *w, const float *g, const float *f, float *m0, float alpha,
                       float beta, float gamma0) {
  for (size_t i = 0; i < n; i++) {
    const float m = fmaf(gamma0, m0[i], g[i]);
    m0[i] = m;
    const float u = fmaf(beta, f[i], m);
    w[i] = fmaf(-alpha, u, w[i]);
  }
}

static void ref_rowdot(size_t n, size_t k, const float *x, const float *v, float b, float *y) {
  for (size_t r = 0; r < n; r++) {
    float acc = b;
    for (size_t p = 0; p < k; p++) acc = fmaf(x[r * k + p], v[p], acc);
    y[r] = acc;
  }
}

/* Bits equal, or both NaN: where two NaN operands meet in one operation, or
 * a NaN is made (Inf - Inf, 0 x Inf), IEEE leaves its sign and payload open
 * (x86 picks by the instruction form's operand order, which the compiler
 * chooses, and makes a negative default NaN; AArch64 a positive one). A
 * single NaN operand passes unchanged on every tier (checked exactly by
 * test_lopt_features_edges). */
static void assert_bits_nan(const float *a, const float *b, size_t n, const char *what) {
  for (size_t i = 0; i < n; i++)
    if (!(isnan(a[i]) && isnan(b[i]))) tu_assert_bits(a + i, b + i, 1, what);
}

/* tu_digest with every NaN read as the one quiet NaN 0x7fc00000 */
static uint64_t digest_nan(uint64_t h, const float *x, size_t n) {
  const uint32_t qbits = 0x7fc00000u;
  float q;
  memcpy(&q, &qbits, 4);
  for (size_t i = 0; i < n; i++) h = tu_digest(h, isnan(x[i]) ? &q : x + i, 1);
  return h;
}

/* values at the clipping edges and IEEE specials */
static const float edge_values[] = {NAN,        -NAN,        INFINITY,    -INFINITY,    1.0f, -1.0f,
                                    1.0000001f, -1.0000001f, 0.99999994f, -0.99999994f, 0.0f, -0.0f,
                                    1e-40f,     -1e-40f,     3.0e38f,     -2.5f};
#define N_EDGE (sizeof edge_values / sizeof edge_values[0])

/* uniform in [lo, hi), and with `special` about one element in 8 an edge value */
static void fill_edges(tu_rng *r, float *x, size_t n, float lo, float hi, int special) {
  for (size_t i = 0; i < n; i++) {
    x[i] = tu_uniform(r, lo, hi);
    if (special && tu_int(r, 0, 7) == 0) {
      const size_t e = tu_int(r, 0, N_EDGE - 1);
      x[i] = edge_values[e];
    }
  }
}

/* every tier against ref_features: mom (all nmom rows of ldm, one guard
 * float past them) and all of x (columns past 2 + nmom must stay untouched,
 * as must the guard float). via_table: the tier's kernel called directly
 * with momentum rows ldm = n + 3 apart (a chunk of a longer array). */
static void check_features(tu_rng *r, size_t n, size_t nmom, size_t ldx, size_t mis, int special,
                           int via_table) {
  const size_t ldm = via_table ? n + 3 : n, nx = (n - 1) * ldx + ldx, nm = nmom * ldm;
  tu_buf bw, bg, bm0, bmr, bmt, bxr, bxt;
  float *w = tu_alloc(&bw, n, mis), *g = tu_alloc(&bg, n, (mis + 1) % 16);
  float *m0 = tu_alloc(&bm0, nm, 0), *mr = tu_alloc(&bmr, nm, 0);
  float *mt = tu_alloc(&bmt, nm, (mis + 2) % 16);
  float *xr = tu_alloc(&bxr, nx, 0), *xt = tu_alloc(&bxt, nx, (mis + 3) % 16);
  float gamma[8], omg[8];
  for (size_t k = 0; k < nmom; k++) {
    gamma[k] = tu_uniform(r, 0.0f, 1.0f);
    omg[k] = 1.0f - gamma[k];
  }
  if (special) {
    gamma[0] = 0.9999f;
    omg[0] = 0.0001f;
  }
  fill_edges(r, w, n, -1.5f, 1.5f, special);
  fill_edges(r, g, n, -1.5f, 1.5f, special);
  fill_edges(r, m0, nm, -2.0f, 2.0f, special);
  memcpy(mr, m0, (nm + 1) * 4);
  ref_features(n, w, g, nmom, gamma, omg, mr, ldm, xr, ldx);
  for (size_t t = 0; t < N_OPTIM; t++) {
    const tu_impl *im = &optim_impls[t];
    if (!tu_impl_runs("optim", im)) continue;
    const wsk_optim_ukernels *tab = im->table;
    memcpy(mt, m0, (nm + 1) * 4);
    memcpy(xt, xr, (nx + 1) * 4); /* tu_alloc's NaN pattern where the reference left it */
    for (size_t i = 0; i < n; i++)
      for (size_t c = 0; c < 2 + nmom; c++) xt[i * ldx + c] = 12345.0f;
    if (via_table)
      tab->lopt_features(n, w, g, nmom, gamma, omg, mt, ldm, xt, ldx);
    else
      assert_int_equal(wsk__lopt_features_with(tab, n, w, g, nmom, gamma, omg, mt, xt, ldx),
                       WSK_OK);
    assert_bits_nan(mr, mt, nm + 1, "features mom");
    assert_bits_nan(xr, xt, nx + 1, "features x");
  }
  g_checked++;
  tu_free(&bw);
  tu_free(&bg);
  tu_free(&bm0);
  tu_free(&bmr);
  tu_free(&bmt);
  tu_free(&bxr);
  tu_free(&bxt);
}

static void check_lupdate(tu_rng *r, size_t n, size_t mis, int special) {
  ustate s0, sr, st;
  ualloc(&s0, n, mis);
  ualloc(&sr, n, 0);
  ualloc(&st, n, (mis + 5) % 16);
  fill_edges(r, s0.w, n, -1, 1, special);
  fill_edges(r, s0.g, n, -1, 1, special);
  fill_edges(r, s0.m, n, -1, 1, special);
  fill_edges(r, s0.v, n, -4, 4, special); /* f, the network's output */
  const float alpha = tu_uniform(r, 0.0f, 0.5f), beta = tu_uniform(r, 0.0f, 0.1f);
  const float gamma0 = tu_uniform(r, 0.0f, 1.0f);
  ucopy(&sr, &s0, n);
  ref_update(n, sr.w, sr.g, sr.v, sr.m, alpha, beta, gamma0);
  for (size_t t = 0; t < N_OPTIM; t++) {
    const tu_impl *im = &optim_impls[t];
    if (!tu_impl_runs("optim", im)) continue;
    ucopy(&st, &s0, n);
    assert_int_equal(
        wsk__lopt_update_with(im->table, n, st.w, st.g, st.v, st.m, alpha, beta, gamma0), WSK_OK);
    assert_bits_nan(sr.w, st.w, n + 1, "lopt update w");
    assert_bits_nan(sr.m, st.m, n + 1, "lopt update m0");
  }
  g_checked++;
  ufree(&s0);
  ufree(&sr);
  ufree(&st);
}

static void check_rowdot(tu_rng *r, size_t n, size_t k, size_t mis, int special) {
  tu_buf bx, bv, br, bt;
  float *x = tu_alloc(&bx, n * k, mis), *v = tu_alloc(&bv, k, (mis + 1) % 16);
  float *yr = tu_alloc(&br, n, 0), *yt = tu_alloc(&bt, n, (mis + 2) % 16);
  fill_edges(r, x, n * k, -1, 1, special);
  fill_edges(r, v, k, -1, 1, special && k % 3 == 0);
  const float b = tu_uniform(r, -1.0f, 1.0f);
  ref_rowdot(n, k, x, v, b, yr);
  for (size_t t = 0; t < N_OPTIM; t++) {
    const tu_impl *im = &optim_impls[t];
    if (!tu_impl_runs("optim", im)) continue;
    memcpy(yt, yr, (n + 1) * 4);
    for (size_t i = 0; i < n; i++) yt[i] = 12345.0f;
    assert_int_equal(wsk__rowdot_with(im->table, n, k, x, v, b, yt), WSK_OK);
    assert_bits_nan(yr, yt, n + 1, "rowdot y");
  }
  g_checked++;
  tu_free(&bx);
  tu_free(&bv);
  tu_free(&br);
  tu_free(&bt);
}

/* every n 1..40 and odd sizes past the 16- and 32-element steps, every nmom
 * 1..8 and a few row strides, with and without edge values */
static void test_lopt_features(void **state) {
  (void)state;
  tu_rng r = {46};
  for (size_t n = 1; n <= 40; n++)
    check_features(&r, n, 1 + n % 8, 2 + 1 + n % 8 + n % 3, n % 16, n % 2, n % 5 == 0);
  static const size_t ns[] = {47, 63, 64, 65, 100, 1003, 2410};
  for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
    for (size_t nmom = 1; nmom <= 8; nmom++)
      check_features(&r, ns[i], nmom, nmom == 6 ? 19 : 2 + nmom + i % 2, (i + nmom) % 16, nmom % 2,
                     nmom == 3);
}

/* clipping by hand on the public function: NaN keeps its bits, -0 stays -0 */
static void test_lopt_features_edges(void **state) {
  (void)state;
  const float w[9] = {NAN, 1.0f, -1.0f, 1.0000001f, -1.0000001f, INFINITY, -INFINITY, -0.0f, 0.5f};
  const float want[9] = {NAN, 1.0f, -1.0f, 1.0f, -1.0f, 1.0f, -1.0f, -0.0f, 0.5f};
  const float g[9] = {-0.0f, 0, 0, 0, 0, 0, 0, 0, 2.0f};
  const float gamma[1] = {0.5f}, omg[1] = {0.5f};
  float mom[9] = {0, 0, 0, 0, 0, 0, 0, 0, 3.0f}, x[9 * 4];
  for (size_t i = 0; i < 36; i++) x[i] = 7.0f;
  assert_int_equal(wsk_lopt_features(9, w, g, 1, gamma, omg, mom, x, 4), WSK_OK);
  for (size_t i = 0; i < 9; i++) {
    tu_assert_bits(want + i, x + 4 * i, 1, "clip(w)");
    assert_true(x[4 * i + 3] == 7.0f); /* column 3 untouched */
  }
  assert_true(signbit(x[1]) && x[1] == 0.0f); /* clip(g = -0) = -0 */
  assert_true(mom[8] == 2.5f && x[4 * 8 + 1] == 1.0f && x[4 * 8 + 2] == 1.0f);
}

static void test_lopt_update(void **state) {
  (void)state;
  tu_rng r = {47};
  for (size_t n = 1; n <= 100; n++) check_lupdate(&r, n, n % 16, n % 3 == 0);
  check_lupdate(&r, 1000, 3, 0);
  check_lupdate(&r, 4099, 7, 1);
}

/* every k 1..64 at n around the 16-row tile and the 32-row pair of tiles */
static void test_rowdot(void **state) {
  (void)state;
  tu_rng r = {48};
  static const size_t ns[] = {1, 2, 15, 16, 17, 31, 32, 33, 47, 48, 49, 100};
  for (size_t k = 1; k <= 64; k++)
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
      check_rowdot(&r, ns[i], k, (k + i) % 16, (k + i) % 4 == 0);
  check_rowdot(&r, 1000, 32, 5, 0);
  check_rowdot(&r, 2410, 32, 0, 1);
  check_rowdot(&r, 1001, 19, 9, 1);
}

/* The same bits for 1, 2, 3 and 7 threads (chunks of elements / rows). */
static void test_threads(void **state) {
  (void)state;
  tu_rng r = {44};
  static const int counts[] = {1, 2, 3, 7};
  const size_t n = 200003, rows = 5003;
  ustate s0, s, ref;
  ualloc(&s0, n, 1);
  ualloc(&s, n, 1);
  ualloc(&ref, n, 1);
  ufill(&r, &s0, n, 0);
  mnet m;
  mnet_make(&r, &m, 19, 32, 32, 2, 0);
  float *x = malloc(rows * 19 * 4), *y = malloc(rows * 2 * 4), *yref = malloc(rows * 2 * 4);
  tu_fill(&r, x, rows * 19, -1, 1);
  /* the learned optimizer's kernels: features over 3 chunks (nf momenta
   * rows of 6, feature rows of 19), row dot products over 3 chunks */
  const size_t nf = 70001, nd = 20011;
  const float gam[6] = {0.1f, 0.5f, 0.9f, 0.99f, 0.999f, 0.9999f};
  const float omg[6] = {0.9f, 0.5f, 0.1f, 0.01f, 0.001f, 0.0001f};
  float *mom = malloc(nf * 6 * 4), *mom0 = malloc(nf * 6 * 4), *xf = malloc(nf * 19 * 4);
  float *xfref = malloc(nf * 19 * 4), *momref = malloc(nf * 6 * 4);
  float *xd = malloc(nd * 32 * 4), *yd = malloc(nd * 4), *ydref = malloc(nd * 4);
  assert_true(mom && mom0 && xf && xfref && momref && xd && yd && ydref);
  tu_fill(&r, mom0, nf * 6, -1, 1);
  tu_fill(&r, xd, nd * 32, -1, 1);
  memset(xf, 0, nf * 19 * 4);
  for (size_t t = 0; t < sizeof counts / sizeof counts[0]; t++) {
    assert_int_equal(wsk_threads_set_count(counts[t]), WSK_OK);
    ucopy(&s, &s0, n);
    assert_int_equal(wsk_sgd_momentum((int64_t)n, s.w, s.g, s.m, &sgd_cases[0]), WSK_OK);
    assert_int_equal(wsk_adam((int64_t)n, s.w, s.g, s.m, s.v, &adam_cases[1]), WSK_OK);
    assert_int_equal(wsk_lopt_update((int64_t)n, s.w, s.g, s.v, s.m, 0.1f, 0.01f, 0.9f), WSK_OK);
    assert_int_equal(wsk_mlp3_forward(&m.net, (int64_t)rows, x, y), WSK_OK);
    memcpy(mom, mom0, nf * 6 * 4);
    assert_int_equal(wsk_lopt_features((int64_t)nf, s.w, s.g, 6, gam, omg, mom, xf, 19), WSK_OK);
    assert_int_equal(wsk_rowdot((int64_t)nd, 32, xd, s.w, 0.25f, yd), WSK_OK);
    if (t == 0) {
      ucopy(&ref, &s, n);
      memcpy(yref, y, rows * 2 * 4);
      memcpy(momref, mom, nf * 6 * 4);
      memcpy(xfref, xf, nf * 19 * 4);
      memcpy(ydref, yd, nd * 4);
    } else {
      tu_assert_bits(ref.w, s.w, n, "threads w");
      tu_assert_bits(ref.m, s.m, n, "threads m");
      tu_assert_bits(ref.v, s.v, n, "threads v");
      tu_assert_bits(yref, y, rows * 2, "threads mlp");
      tu_assert_bits(momref, mom, nf * 6, "threads features mom");
      tu_assert_bits(xfref, xf, nf * 19, "threads features x");
      tu_assert_bits(ydref, yd, nd, "threads rowdot");
    }
  }
  free(mom);
  free(mom0);
  free(xf);
  free(xfref);
  free(momref);
  free(xd);
  free(yd);
  free(ydref);
  wsk_threads_set_count(1);
  ufree(&s0);
  ufree(&s);
  ufree(&ref);
  free(m.p);
  free(x);
  free(y);
  free(yref);
}

static void test_digest(void **state) {
  (void)state;
  tu_rng r = {45};
  uint64_t h = TU_DIGEST_INIT;
  for (int rep = 0; rep < 20; rep++) {
    const size_t n = tu_int(&r, 1, 3000);
    ustate s;
    ualloc(&s, n, 0);
    ufill(&r, &s, n, 0);
    assert_int_equal(wsk_sgd_momentum((int64_t)n, s.w, s.g, s.m, &sgd_cases[rep % 3]), WSK_OK);
    assert_int_equal(wsk_adam((int64_t)n, s.w, s.g, s.m, s.v, &adam_cases[rep % 3]), WSK_OK);
    h = tu_digest(h, s.w, n);
    h = tu_digest(h, s.m, n);
    h = tu_digest(h, s.v, n);
    ufree(&s);
    mnet m;
    const size_t o = tu_int(&r, 1, 4), rows = tu_int(&r, 1, 500);
    const size_t f = tu_int(&r, 1, 64), h1 = tu_int(&r, 1, 64), h2 = tu_int(&r, 1, 64);
    mnet_make(&r, &m, f, h1, h2, o, 0); /* draws sequenced: C leaves argument order open */
    float *x = malloc(rows * (size_t)m.net.f * 4), *y = malloc(rows * o * 4);
    tu_fill(&r, x, rows * (size_t)m.net.f, -1, 1);
    assert_int_equal(wsk_mlp3_forward(&m.net, (int64_t)rows, x, y), WSK_OK);
    h = tu_digest(h, y, rows * o);
    free(x);
    free(y);
    free(m.p);
  }
  tu_assert_digest("optim", h, OPTIM_DIGEST);
}

/* The learned optimizer's kernels through the public functions: a digest
 * of their own, recorded on x86-64 (the aarch64 leg checks NEON). */
static void test_lopt_digest(void **state) {
  (void)state;
  tu_rng r = {49};
  uint64_t h = TU_DIGEST_INIT;
  for (int rep = 0; rep < 20; rep++) {
    const size_t n = tu_int(&r, 1, 3000), nmom = tu_int(&r, 1, 8), k = tu_int(&r, 1, 64);
    const size_t ldx = 2 + nmom + (size_t)rep % 3;
    float *w = malloc(n * 4), *g = malloc(n * 4), *f = malloc(n * 4), *m0 = malloc(n * 4);
    float *mom = malloc(n * nmom * 4), *x = calloc(n * ldx, 4), *xd = malloc(n * k * 4);
    float *v = malloc(k * 4), *y = malloc(n * 4), gam[8], omg[8];
    assert_true(w && g && f && m0 && mom && x && xd && v && y);
    fill_edges(&r, w, n, -1.5f, 1.5f, rep % 2);
    fill_edges(&r, g, n, -1.5f, 1.5f, rep % 2);
    tu_fill(&r, f, n, -4, 4);
    tu_fill(&r, m0, n, -1, 1);
    tu_fill(&r, mom, n * nmom, -1.2f, 1.2f);
    tu_fill(&r, xd, n * k, -1, 1);
    tu_fill(&r, v, k, -1, 1);
    for (size_t j = 0; j < nmom; j++) {
      gam[j] = tu_uniform(&r, 0.0f, 1.0f);
      omg[j] = 1.0f - gam[j];
    }
    const float b = tu_uniform(&r, -1.0f, 1.0f);
    assert_int_equal(wsk_lopt_features((int64_t)n, w, g, (int)nmom, gam, omg, mom, x, (int64_t)ldx),
                     WSK_OK);
    assert_int_equal(wsk_lopt_update((int64_t)n, w, g, f, m0, 0.05f, 0.003f, 0.9f), WSK_OK);
    assert_int_equal(wsk_rowdot((int64_t)n, (int64_t)k, xd, v, b, y), WSK_OK);
    h = digest_nan(h, mom, n * nmom);
    h = digest_nan(h, x, n * ldx);
    h = digest_nan(h, w, n);
    h = digest_nan(h, m0, n);
    h = digest_nan(h, y, n);
    free(w);
    free(g);
    free(f);
    free(m0);
    free(mom);
    free(x);
    free(xd);
    free(v);
    free(y);
  }
  tu_assert_digest("optim lopt kernels", h, LOPT_DIGEST);
}

static void test_bad_input(void **state) {
  (void)state;
  float a[64] = {0}, b[64] = {0}, c[64] = {0}, d[64] = {0};
  const wsk_sgd_params sp = {0.1f, 0.9f, 0.0f};
  wsk_adam_params ap = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1, 0};
  assert_int_equal(wsk_sgd_momentum(4, NULL, b, c, &sp), WSK_ERR_NULL);
  assert_int_equal(wsk_sgd_momentum(4, a, b, c, NULL), WSK_ERR_NULL);
  assert_int_equal(wsk_sgd_momentum(0, a, b, c, &sp), WSK_ERR_SIZE);
  assert_int_equal(wsk_sgd_momentum(INT64_MAX, a, b, c, &sp), WSK_ERR_OVERFLOW);
  assert_int_equal(wsk_sgd_momentum(8, a, a + 4, c, &sp), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "overlap"));
  assert_int_equal(wsk_adam(4, a, b, c, NULL, &ap), WSK_ERR_NULL);
  assert_int_equal(wsk_adam(-1, a, b, c, d, &ap), WSK_ERR_SIZE);
  assert_int_equal(wsk_adam(8, a, b, c, c + 2, &ap), WSK_ERR_ARG);
  ap.step = 0;
  assert_int_equal(wsk_adam(4, a, b, c, d, &ap), WSK_ERR_ARG);
  float w[4] = {0};
  wsk_mlp3 net = {2, 2, 1, 1, w, w, w, w, w, w};
  assert_int_equal(wsk_mlp3_forward(&net, 4, a, b), WSK_OK);
  assert_int_equal(wsk_mlp3_forward(NULL, 4, a, b), WSK_ERR_NULL);
  assert_int_equal(wsk_mlp3_forward(&net, 0, a, b), WSK_ERR_SIZE);
  assert_int_equal(wsk_mlp3_forward(&net, 4, a, a + 1), WSK_ERR_ARG);
  assert_int_equal(wsk_mlp3_forward(&net, 4, a, w), WSK_ERR_ARG);
  assert_int_equal(wsk_mlp3_forward(&net, INT64_MAX / 8, a, b), WSK_ERR_OVERFLOW);
  net.h1 = 65;
  assert_int_equal(wsk_mlp3_forward(&net, 4, a, b), WSK_ERR_SIZE);
  net.h1 = 0;
  assert_int_equal(wsk_mlp3_forward(&net, 4, a, b), WSK_ERR_SIZE);
  net.h1 = 2;
  net.b2 = NULL;
  assert_int_equal(wsk_mlp3_forward(&net, 4, a, b), WSK_ERR_NULL);
  assert_int_equal(wsk_mlp3_forward(&net, 4, NULL, b), WSK_ERR_NULL);

  /* the learned optimizer's kernels */
  const float gam[8] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
  float mom[64] = {0}, x[64] = {0};
  assert_int_equal(wsk_lopt_features(4, a, b, 2, gam, gam, mom, x, 4), WSK_OK);
  assert_int_equal(wsk_lopt_features(4, a, b, 2, gam, gam, mom, x, 3), WSK_ERR_SIZE);
  assert_non_null(strstr(wsk_last_error(), "ldx = 3"));
  assert_int_equal(wsk_lopt_features(4, a, b, 0, gam, gam, mom, x, 4), WSK_ERR_SIZE);
  assert_non_null(strstr(wsk_last_error(), "nmom = 0"));
  assert_int_equal(wsk_lopt_features(4, a, b, 9, gam, gam, mom, x, 12), WSK_ERR_SIZE);
  assert_int_equal(wsk_lopt_features(0, a, b, 2, gam, gam, mom, x, 4), WSK_ERR_SIZE);
  assert_non_null(strstr(wsk_last_error(), "n = 0"));
  assert_int_equal(wsk_lopt_features(INT64_MAX / 4, a, b, 2, gam, gam, mom, x, 4),
                   WSK_ERR_OVERFLOW);
  assert_int_equal(wsk_lopt_features(4, a, b, 2, gam, gam, mom, x, INT64_MAX), WSK_ERR_OVERFLOW);
  assert_int_equal(wsk_lopt_features(4, NULL, b, 2, gam, gam, mom, x, 4), WSK_ERR_NULL);
  assert_non_null(strstr(wsk_last_error(), "w is NULL"));
  assert_int_equal(wsk_lopt_features(4, a, b, 2, NULL, gam, mom, x, 4), WSK_ERR_NULL);
  assert_non_null(strstr(wsk_last_error(), "gamma is NULL"));
  assert_int_equal(wsk_lopt_features(4, a, b, 2, gam, gam, mom, mom + 4, 4), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "mom and x overlap"));
  assert_int_equal(wsk_lopt_features(4, x + 5, b, 2, gam, gam, mom, x, 4), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "x and w overlap"));
  /* the last row's columns past 2 + nmom are not part of x */
  assert_int_equal(wsk_lopt_features(4, x + 16, b, 2, gam, gam, mom, x, 5), WSK_ERR_ARG);
  assert_int_equal(wsk_lopt_features(4, x + 19, b, 2, gam, gam, mom, x, 5), WSK_OK);

  assert_int_equal(wsk_lopt_update(4, a, b, c, d, 0.1f, 0.1f, 0.9f), WSK_OK);
  assert_int_equal(wsk_lopt_update(0, a, b, c, d, 0.1f, 0.1f, 0.9f), WSK_ERR_SIZE);
  assert_int_equal(wsk_lopt_update(4, a, b, NULL, d, 0.1f, 0.1f, 0.9f), WSK_ERR_NULL);
  assert_non_null(strstr(wsk_last_error(), "f is NULL"));
  assert_int_equal(wsk_lopt_update(4, a, b, c, a + 3, 0.1f, 0.1f, 0.9f), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "w and m0 overlap"));
  assert_int_equal(wsk_lopt_update(4, a, b, b, d, 0.1f, 0.1f, 0.9f), WSK_OK); /* inputs may */
  assert_int_equal(wsk_lopt_update(INT64_MAX, a, b, c, d, 0.1f, 0.1f, 0.9f), WSK_ERR_OVERFLOW);

  assert_int_equal(wsk_rowdot(4, 8, a, b, 0.0f, c), WSK_OK);
  assert_int_equal(wsk_rowdot(4, 0, a, b, 0.0f, c), WSK_ERR_SIZE);
  assert_non_null(strstr(wsk_last_error(), "k = 0"));
  assert_int_equal(wsk_rowdot(1, 65, a, b, 0.0f, c), WSK_ERR_SIZE);
  assert_non_null(strstr(wsk_last_error(), "k = 65"));
  assert_int_equal(wsk_rowdot(-3, 8, a, b, 0.0f, c), WSK_ERR_SIZE);
  assert_int_equal(wsk_rowdot(INT64_MAX / 8, 8, a, b, 0.0f, c), WSK_ERR_OVERFLOW);
  assert_int_equal(wsk_rowdot(4, 8, a, NULL, 0.0f, c), WSK_ERR_NULL);
  assert_non_null(strstr(wsk_last_error(), "v is NULL"));
  assert_int_equal(wsk_rowdot(4, 8, a, b, 0.0f, a + 31), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "y and x overlap"));
  assert_int_equal(wsk_rowdot(4, 8, a, b, 0.0f, b + 7), WSK_ERR_ARG);
  assert_int_equal(wsk_rowdot(4, 8, a, a, 0.0f, c), WSK_OK); /* x and v may share */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_updates),       cmocka_unit_test(test_mlp_widths),
      cmocka_unit_test(test_mlp_special),   cmocka_unit_test(test_threads),
      cmocka_unit_test(test_lopt_features), cmocka_unit_test(test_lopt_features_edges),
      cmocka_unit_test(test_lopt_update),   cmocka_unit_test(test_rowdot),
      cmocka_unit_test(test_digest),        cmocka_unit_test(test_lopt_digest),
      cmocka_unit_test(test_bad_input),
  };
  printf("optim implementations:");
  for (size_t t = 0; t < N_OPTIM; t++) printf(" %s", optim_impls[t].name);
  printf("\n");
  const int rc = cmocka_run_group_tests_name("optim", tests, NULL, NULL);
  printf("optim: %ld cases checked\n", g_checked);
  return rc;
}
