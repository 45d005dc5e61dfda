/* tests/test_eqpool.c — the eqpool family on every implementation of
 * kernels/eqpool/eqpool.inc.
 *
 * - the layer (wsk/eqpool.h) against a double-precision oracle written
 *   directly from the formula. Tolerance (stated): every output is a sum of
 *   T products and pooled means of at most N elements, so
 *   |y - ref| <= (T + 2N + 16) u M, u = 2^-24, M = the sum of the absolute
 *   values of the terms (computed by the oracle);
 * - backward against finite differences: the layer is linear in x and in
 *   the parameters, so a finite difference of the double oracle with step 1
 *   is the exact gradient; the float backward must agree within
 *   2e-4 (1 + |g|). A central difference of the float forward itself checks a
 *   sample of coordinates within 2e-3 (1 + |g|);
 * - equivariance: random permutations of every neuron axis permute the output
 *   the same way, and leave the invariant pool unchanged, within the oracle's
 *   tolerance;
 * - every SIMD tier against scalar bit for bit, for the micro-kernels and for
 *   the whole layer forward and backward (wsk_set_isa), including NaN/Inf;
 *   every n from 1 to 35 and channel counts 1 to 40;
 * - bad input.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define MAXL 4
/* recorded on x86-64; see test_digest */
#define EQPOOL_DIGEST 0xd690be4eb2495022ull

typedef struct net {
  int L;
  int64_t n[MAXL + 1];
  size_t ci, co;
  wsk_eqpool_shape s;
  size_t nx, ny, np;
  float *x, *y, *params, *dy;
} net;

static void net_make(net *t, tu_rng *rng, int L, const size_t *n, size_t ci, size_t co) {
  t->L = L;
  for (int i = 0; i <= L; i++) t->n[i] = (int64_t)n[i];
  t->ci = ci;
  t->co = co;
  t->s = (wsk_eqpool_shape){L, t->n, (int64_t)ci, (int64_t)co};
  assert_int_equal(wsk_eqpool_space_size(&t->s, (int64_t)ci, &t->nx), WSK_OK);
  assert_int_equal(wsk_eqpool_space_size(&t->s, (int64_t)co, &t->ny), WSK_OK);
  assert_int_equal(wsk_eqpool_param_count(&t->s, &t->np), WSK_OK);
  t->x = malloc(t->nx * sizeof(float));
  t->y = malloc(t->ny * sizeof(float));
  t->dy = malloc(t->ny * sizeof(float));
  t->params = malloc(t->np * sizeof(float));
  tu_fill(rng, t->x, t->nx, -1, 1);
  tu_fill(rng, t->dy, t->ny, -1, 1);
  tu_fill(rng, t->params, t->np, -0.5f, 0.5f);
}

static void net_free(net *t) {
  free(t->x);
  free(t->y);
  free(t->dy);
  free(t->params);
}

static size_t xo(const net *t, size_t c, int i, int which) {
  size_t off;
  assert_int_equal(wsk_eqpool_space_offset(&t->s, (int64_t)c, i, which, &off), WSK_OK);
  return off;
}

static const float *prm(const net *t, const float *params, int i, wsk_eqpool_term term,
                        size_t *rows) {
  size_t off;
  assert_int_equal(wsk_eqpool_param_offset(&t->s, i, term, &off, rows), WSK_OK);
  return params + off;
}

/* ---- the oracle: y (and M, the magnitude of its terms) in double ---- */

/* acc[o] += v[0..rows) . M[rows][co];  mag[o] += |v| . |M| */
static void dmix(const double *v, const double *va, size_t rows, const float *m, size_t co,
                 double *acc, double *mag) {
  for (size_t r = 0; r < rows; r++)
    for (size_t o = 0; o < co; o++) {
      acc[o] += v[r] * (double)m[r * co + o];
      mag[o] += va[r] * fabs((double)m[r * co + o]);
    }
}

typedef struct dstats {
  double *R[MAXL + 2], *K[MAXL + 2], *Ra[MAXL + 2], *Ka[MAXL + 2], *g, *ga;
} dstats;

static void dstats_make(const net *t, const float *x, dstats *st) {
  const size_t c = t->ci;
  memset(st, 0, sizeof *st);
  st->g = calloc(2 * (size_t)t->L * c, sizeof(double));
  st->ga = calloc(2 * (size_t)t->L * c, sizeof(double));
  for (int i = 1; i <= t->L; i++) {
    const size_t nj = (size_t)t->n[i], nk = (size_t)t->n[i - 1];
    const float *w = x + xo(t, c, i, 0), *b = x + xo(t, c, i, 1);
    st->R[i] = calloc(nj * c, sizeof(double));
    st->K[i] = calloc(nk * c, sizeof(double));
    st->Ra[i] = calloc(nj * c, sizeof(double));
    st->Ka[i] = calloc(nk * c, sizeof(double));
    double *gw = st->g + (size_t)(2 * (i - 1)) * c, *gb = gw + c;
    double *gwa = st->ga + (size_t)(2 * (i - 1)) * c, *gba = gwa + c;
    for (size_t j = 0; j < nj; j++)
      for (size_t k = 0; k < nk; k++)
        for (size_t ch = 0; ch < c; ch++) {
          const double v = w[(j * nk + k) * c + ch];
          st->R[i][j * c + ch] += v / (double)nk;
          st->K[i][k * c + ch] += v / (double)nj;
          gw[ch] += v / (double)(nj * nk);
          st->Ra[i][j * c + ch] += fabs(v) / (double)nk;
          st->Ka[i][k * c + ch] += fabs(v) / (double)nj;
          gwa[ch] += fabs(v) / (double)(nj * nk);
        }
    for (size_t j = 0; j < nj; j++)
      for (size_t ch = 0; ch < c; ch++) {
        gb[ch] += b[j * c + ch] / (double)nj;
        gba[ch] += fabs(b[j * c + ch]) / (double)nj;
      }
  }
}

static void dstats_free(const net *t, dstats *st) {
  for (int i = 1; i <= t->L; i++) {
    free(st->R[i]);
    free(st->K[i]);
    free(st->Ra[i]);
    free(st->Ka[i]);
  }
  free(st->g);
  free(st->ga);
}

static void to_d(const float *f, size_t n, double *d, double *a) {
  for (size_t i = 0; i < n; i++) {
    d[i] = f[i];
    a[i] = fabs(f[i]);
  }
}

/* y = layer(x) in double; mag = magnitude of the terms of each output */
static void oracle_forward(const net *t, const float *params, const float *x, double *y,
                           double *mag) {
  const size_t ci = t->ci, co = t->co, G = 2 * (size_t)t->L * ci;
  dstats st;
  dstats_make(t, x, &st);
  memset(y, 0, t->ny * sizeof(double));
  memset(mag, 0, t->ny * sizeof(double));
  double *v = malloc(ci * sizeof(double)), *va = malloc(ci * sizeof(double));
  size_t rows;
  for (int i = 1; i <= t->L; i++) {
    const size_t nj = (size_t)t->n[i], nk = (size_t)t->n[i - 1];
    const float *w = x + xo(t, ci, i, 0), *b = x + xo(t, ci, i, 1);
    const float *bp = i > 1 ? x + xo(t, ci, i - 1, 1) : NULL;
    double *yw = y + xo(t, co, i, 0), *yb = y + xo(t, co, i, 1);
    double *mw = mag + xo(t, co, i, 0), *mb = mag + xo(t, co, i, 1);
    for (size_t j = 0; j < nj; j++)
      for (size_t k = 0; k < nk; k++) {
        double *a = yw + (j * nk + k) * co, *m = mw + (j * nk + k) * co;
        to_d(w + (j * nk + k) * ci, ci, v, va);
        dmix(v, va, ci, prm(t, params, i, WSK_EQ_WPT, &rows), co, a, m);
        dmix(st.R[i] + j * ci, st.Ra[i] + j * ci, ci, prm(t, params, i, WSK_EQ_WROW, &rows), co,
             a, m);
        if (i < t->L)
          dmix(st.K[i + 1] + j * ci, st.Ka[i + 1] + j * ci, ci,
               prm(t, params, i, WSK_EQ_WNEXT, &rows), co, a, m);
        to_d(b + j * ci, ci, v, va);
        dmix(v, va, ci, prm(t, params, i, WSK_EQ_WB, &rows), co, a, m);
        dmix(st.K[i] + k * ci, st.Ka[i] + k * ci, ci, prm(t, params, i, WSK_EQ_WCOL, &rows), co,
             a, m);
        if (i > 1) {
          dmix(st.R[i - 1] + k * ci, st.Ra[i - 1] + k * ci, ci,
               prm(t, params, i, WSK_EQ_WPREV, &rows), co, a, m);
          to_d(bp + k * ci, ci, v, va);
          dmix(v, va, ci, prm(t, params, i, WSK_EQ_WBPREV, &rows), co, a, m);
        }
        dmix(st.g, st.ga, G, prm(t, params, i, WSK_EQ_WGLOB, &rows), co, a, m);
        const float *bias = prm(t, params, i, WSK_EQ_WBIAS, &rows);
        for (size_t o = 0; o < co; o++) {
          a[o] += bias[o];
          m[o] += fabs(bias[o]);
        }
      }
    for (size_t j = 0; j < nj; j++) {
      double *a = yb + j * co, *m = mb + j * co;
      to_d(b + j * ci, ci, v, va);
      dmix(v, va, ci, prm(t, params, i, WSK_EQ_BPT, &rows), co, a, m);
      dmix(st.R[i] + j * ci, st.Ra[i] + j * ci, ci, prm(t, params, i, WSK_EQ_BROW, &rows), co, a,
           m);
      if (i < t->L)
        dmix(st.K[i + 1] + j * ci, st.Ka[i + 1] + j * ci, ci,
             prm(t, params, i, WSK_EQ_BNEXT, &rows), co, a, m);
      dmix(st.g, st.ga, G, prm(t, params, i, WSK_EQ_BGLOB, &rows), co, a, m);
      const float *bias = prm(t, params, i, WSK_EQ_BBIAS, &rows);
      for (size_t o = 0; o < co; o++) {
        a[o] += bias[o];
        m[o] += fabs(bias[o]);
      }
    }
  }
  free(v);
  free(va);
  dstats_free(t, &st);
}

static double tolerance(const net *t, double mag) {
  size_t nmax = 1;
  for (int i = 0; i <= t->L; i++) nmax = (size_t)t->n[i] > nmax ? (size_t)t->n[i] : nmax;
  const double T = (double)(7 * t->ci + 2 * (size_t)t->L * t->ci + 1);
  return (T + 2.0 * (double)(nmax * nmax) + 16.0) * ldexp(1.0, -24) * mag;
}

static void check_forward_oracle(const net *t) {
  double *ref = malloc(t->ny * sizeof(double)), *mag = malloc(t->ny * sizeof(double));
  oracle_forward(t, t->params, t->x, ref, mag);
  assert_int_equal(wsk_eqpool_forward(&t->s, t->params, t->x, t->y), WSK_OK);
  for (size_t e = 0; e < t->ny; e++) {
    const double tol = tolerance(t, mag[e]);
    if (!(fabs((double)t->y[e] - ref[e]) <= tol)) {
      print_error("L %d ci %zu co %zu: y[%zu] = %.9g, oracle %.12g, tolerance %.3g\n", t->L,
                  t->ci, t->co, e, t->y[e], ref[e], tol);
      fail();
    }
  }
  free(ref);
  free(mag);
}

static void test_forward_oracle(void **state) {
  (void)state;
  tu_rng rng = {11};
  for (int rep = 0; rep < 60; rep++) {
    const int L = (int)tu_int(&rng, 1, 3);
    size_t n[MAXL + 1];
    for (int i = 0; i <= L; i++) n[i] = tu_int(&rng, 1, 12);
    net t;
    const size_t ci = tu_int(&rng, 1, 20), co = tu_int(&rng, 1, 20);
    net_make(&t, &rng, L, n, ci, co);
    check_forward_oracle(&t);
    net_free(&t);
  }
}

/* L = sum dy . y in double from the float forward */
static double loss_of(const net *t, const float *params, const float *x) {
  float *y = malloc(t->ny * sizeof(float));
  assert_int_equal(wsk_eqpool_forward(&t->s, params, x, y), WSK_OK);
  double l = 0;
  for (size_t e = 0; e < t->ny; e++) l += (double)t->dy[e] * y[e];
  free(y);
  return l;
}

static double oracle_loss(const net *t, const float *params, const float *x, double *ybuf,
                          double *mbuf) {
  oracle_forward(t, params, x, ybuf, mbuf);
  double l = 0;
  for (size_t e = 0; e < t->ny; e++) l += (double)t->dy[e] * ybuf[e];
  return l;
}

static void test_backward_fd(void **state) {
  (void)state;
  tu_rng rng = {12};
  for (int rep = 0; rep < 12; rep++) {
    const int L = (int)tu_int(&rng, 1, 3);
    size_t n[MAXL + 1];
    for (int i = 0; i <= L; i++) n[i] = tu_int(&rng, 1, 5);
    net t;
    const size_t ci = tu_int(&rng, 1, 4), co = tu_int(&rng, 1, 4);
    net_make(&t, &rng, L, n, ci, co);
    float *dx = malloc(t.nx * sizeof(float)), *dp = malloc(t.np * sizeof(float));
    assert_int_equal(wsk_eqpool_backward(&t.s, t.params, t.x, t.dy, dx, dp), WSK_OK);
    double *yb = malloc(t.ny * sizeof(double)), *mb = malloc(t.ny * sizeof(double));
    /* exact gradient of the linear map: a unit-step difference of the oracle */
    const double l0 = oracle_loss(&t, t.params, t.x, yb, mb);
    for (size_t e = 0; e < t.nx; e++) {
      const float keep = t.x[e];
      t.x[e] = keep + 1.0f;
      const double g = oracle_loss(&t, t.params, t.x, yb, mb) - l0;
      t.x[e] = keep;
      if (!(fabs(g - dx[e]) <= 2e-4 * (1 + fabs(g)))) {
        print_error("dx[%zu] = %.9g, finite difference %.9g\n", e, dx[e], g);
        fail();
      }
    }
    for (size_t e = 0; e < t.np; e++) {
      const float keep = t.params[e];
      t.params[e] = keep + 1.0f;
      const double g = oracle_loss(&t, t.params, t.x, yb, mb) - l0;
      t.params[e] = keep;
      if (!(fabs(g - dp[e]) <= 2e-4 * (1 + fabs(g)))) {
        print_error("dparams[%zu] = %.9g, finite difference %.9g\n", e, dp[e], g);
        fail();
      }
    }
    /* central differences of the float forward on a sample of coordinates */
    for (int k = 0; k < 8; k++) {
      const size_t e = tu_int(&rng, 0, t.nx - 1);
      const float keep = t.x[e];
      t.x[e] = keep + 0.5f;
      const double lp = loss_of(&t, t.params, t.x);
      t.x[e] = keep - 0.5f;
      const double lm = loss_of(&t, t.params, t.x);
      t.x[e] = keep;
      const double g = lp - lm;
      assert_true(fabs(g - dx[e]) <= 2e-3 * (1 + fabs(g)));
      const size_t q = tu_int(&rng, 0, t.np - 1);
      const float kp = t.params[q];
      t.params[q] = kp + 0.5f;
      const double pp = loss_of(&t, t.params, t.x);
      t.params[q] = kp - 0.5f;
      const double pm = loss_of(&t, t.params, t.x);
      t.params[q] = kp;
      assert_true(fabs((pp - pm) - dp[q]) <= 2e-3 * (1 + fabs(pp - pm)));
    }
    /* dx only and dparams only give the same numbers */
    float *dx2 = malloc(t.nx * sizeof(float)), *dp2 = malloc(t.np * sizeof(float));
    assert_int_equal(wsk_eqpool_backward(&t.s, t.params, t.x, t.dy, dx2, NULL), WSK_OK);
    assert_int_equal(wsk_eqpool_backward(&t.s, t.params, t.x, t.dy, NULL, dp2), WSK_OK);
    tu_assert_bits(dx, dx2, t.nx, "dx alone");
    tu_assert_bits(dp, dp2, t.np, "dparams alone");
    free(dx2);
    free(dp2);
    free(yb);
    free(mb);
    free(dx);
    free(dp);
    net_free(&t);
  }
}

/* Permute every neuron axis: W_i[j][k] -> W_i[p_i[j]][p_{i-1}[k]], b_i[j] -> b_i[p_i[j]]. */
static void permute_space(const net *t, size_t c, size_t *const *perm, const float *x,
                          float *out) {
  for (int i = 1; i <= t->L; i++) {
    const size_t nj = (size_t)t->n[i], nk = (size_t)t->n[i - 1];
    const float *w = x + xo(t, c, i, 0), *b = x + xo(t, c, i, 1);
    float *pw = out + xo(t, c, i, 0), *pb = out + xo(t, c, i, 1);
    for (size_t j = 0; j < nj; j++) {
      for (size_t k = 0; k < nk; k++)
        memcpy(pw + (perm[i][j] * nk + perm[i - 1][k]) * c, w + (j * nk + k) * c,
               c * sizeof(float));
      memcpy(pb + perm[i][j] * c, b + j * c, c * sizeof(float));
    }
  }
}

static void test_equivariance(void **state) {
  (void)state;
  tu_rng rng = {13};
  for (int rep = 0; rep < 40; rep++) {
    const int L = (int)tu_int(&rng, 1, 4);
    size_t n[MAXL + 1];
    for (int i = 0; i <= L; i++) n[i] = tu_int(&rng, 1, 9);
    net t;
    const size_t ci = tu_int(&rng, 1, 9), co = tu_int(&rng, 1, 9);
    net_make(&t, &rng, L, n, ci, co);
    size_t *perm[MAXL + 1];
    for (int i = 0; i <= L; i++) {
      perm[i] = malloc(n[i] * sizeof(size_t));
      tu_perm(&rng, perm[i], n[i]);
    }
    float *xp = malloc(t.nx * sizeof(float)), *yp = malloc(t.ny * sizeof(float));
    float *py = malloc(t.ny * sizeof(float));
    double *ref = malloc(t.ny * sizeof(double)), *mag = malloc(t.ny * sizeof(double));
    permute_space(&t, t.ci, perm, t.x, xp);
    assert_int_equal(wsk_eqpool_forward(&t.s, t.params, t.x, t.y), WSK_OK);
    assert_int_equal(wsk_eqpool_forward(&t.s, t.params, xp, yp), WSK_OK);
    permute_space(&t, t.co, perm, t.y, py);
    oracle_forward(&t, t.params, t.x, ref, mag);
    float *magp = malloc(t.ny * sizeof(float)), *magf = malloc(t.ny * sizeof(float));
    for (size_t e = 0; e < t.ny; e++) magf[e] = (float)mag[e];
    permute_space(&t, t.co, perm, magf, magp);
    for (size_t e = 0; e < t.ny; e++)
      assert_true(fabs((double)yp[e] - py[e]) <= 2 * tolerance(&t, magp[e]));
    /* the invariant pool does not move */
    const size_t G = 2 * (size_t)L * t.ci;
    float *g = malloc(G * sizeof(float)), *gp = malloc(G * sizeof(float));
    assert_int_equal(wsk_eqpool_invariant(&t.s, t.x, g), WSK_OK);
    assert_int_equal(wsk_eqpool_invariant(&t.s, xp, gp), WSK_OK);
    for (size_t e = 0; e < G; e++) assert_true(fabs((double)g[e] - gp[e]) <= 1e-5);
    /* and it is the per-tensor mean */
    for (int i = 1; i <= L; i++) {
      const size_t cnt = n[i] * n[i - 1];
      const float *w = t.x + xo(&t, t.ci, i, 0);
      for (size_t ch = 0; ch < t.ci; ch++) {
        double s = 0;
        for (size_t e = 0; e < cnt; e++) s += w[e * t.ci + ch];
        assert_true(fabs(s / (double)cnt - g[(size_t)(2 * (i - 1)) * t.ci + ch]) <= 1e-5);
      }
    }
    free(g);
    free(gp);
    free(magp);
    free(magf);
    free(ref);
    free(mag);
    free(xp);
    free(yp);
    free(py);
    for (int i = 0; i <= L; i++) free(perm[i]);
    net_free(&t);
  }
}

/* The micro-kernels: every tier against scalar, every tail. */
static void test_ukernel_parity(void **state) {
  (void)state;
  tu_rng rng = {14};
  const wsk_eqpool_ukernels *sc = &wsk_eqpool_ukernels__scalar;
  for (int rep = 0; rep < 400; rep++) {
    const size_t nj = tu_int(&rng, 1, 4), nk = tu_int(&rng, 1, 5);
    const size_t kdim = tu_int(&rng, 1, 40), n = tu_int(&rng, 1, 70);
    const size_t ldx = kdim + tu_int(&rng, 0, 3), ldy = n + tu_int(&rng, 0, 3);
    const int mode = (int)tu_int(&rng, 0, 4);
    tu_buf bx, bm, bu, bv, bs, bt;
    float *x = tu_alloc(&bx, nj * nk * ldx, 1), *m = tu_alloc(&bm, kdim * n, 2);
    float *u = tu_alloc(&bu, nj * n, 3), *v = tu_alloc(&bv, nk * n, 0);
    float *ys = tu_alloc(&bs, nj * nk * ldy, 1), *yt = tu_alloc(&bt, nj * nk * ldy, 3);
    tu_fill(&rng, x, nj * nk * ldx, -1, 1);
    tu_fill(&rng, m, kdim * n, -1, 1);
    tu_fill(&rng, u, nj * n, -1, 1);
    tu_fill(&rng, v, nk * n, -1, 1);
    tu_fill(&rng, ys, nj * nk * ldy, -1, 1);
    if (rep % 7 == 0) x[tu_int(&rng, 0, nj * nk * ldx - 1)] = rep % 2 ? NAN : INFINITY;
    memcpy(yt, ys, nj * nk * ldy * sizeof(float));
    const float *uu = (mode == 1 || mode == 3) ? u : NULL, *vv = (mode == 2 || mode == 3) ? v : NULL;
    sc->mix(nj, nk, kdim, n, x, ldx, m, uu, vv, mode == 4, ys, ldy);
    float *gs = malloc(kdim * n * sizeof(float)), *gt = malloc(kdim * n * sizeof(float));
    tu_fill(&rng, gs, kdim * n, -1, 1);
    memcpy(gt, gs, kdim * n * sizeof(float));
    const size_t rows = nj * nk;
    sc->outer(rows, kdim, n, x, ldx, ys, ldy, gs);
    for (size_t t = 0; t < tu_eqpool_impl_count; t++) {
      const tu_impl *im = &tu_eqpool_impls[t];
      if (im->isa == WSK_ISA_SCALAR || !tu_impl_runs("eqpool", im)) continue;
      const wsk_eqpool_ukernels *k = im->table;
      float *y2 = malloc(nj * nk * ldy * sizeof(float)), *g2 = malloc(kdim * n * sizeof(float));
      memcpy(y2, yt, nj * nk * ldy * sizeof(float));
      memcpy(g2, gt, kdim * n * sizeof(float));
      k->mix(nj, nk, kdim, n, x, ldx, m, uu, vv, mode == 4, y2, ldy);
      tu_assert_bits(ys, y2, nj * nk * ldy, im->name); /* padding between rows untouched too */
      k->outer(rows, kdim, n, x, ldx, ys, ldy, g2);
      tu_assert_bits(gs, g2, kdim * n, im->name);
      free(y2);
      free(g2);
    }
    free(gs);
    free(gt);
    tu_free(&bx);
    tu_free(&bm);
    tu_free(&bu);
    tu_free(&bv);
    tu_free(&bs);
    tu_free(&bt);
  }
}

/* The whole layer on every tier (forced with wsk_set_isa) against scalar. */
static void layer_parity(tu_rng *rng, int L, const size_t *n, size_t ci, size_t co, int special) {
  net t;
  net_make(&t, rng, L, n, ci, co);
  if (special) {
    const float vals[3] = {NAN, INFINITY, -INFINITY};
    t.x[tu_int(rng, 0, t.nx - 1)] = vals[tu_int(rng, 0, 2)];
  }
  float *ys = malloc(t.ny * sizeof(float)), *dxs = malloc(t.nx * sizeof(float));
  float *dps = malloc(t.np * sizeof(float)), *dx = malloc(t.nx * sizeof(float));
  float *dp = malloc(t.np * sizeof(float));
  assert_int_equal(wsk_set_isa(WSK_ISA_SCALAR), WSK_OK);
  assert_int_equal(wsk_eqpool_forward(&t.s, t.params, t.x, ys), WSK_OK);
  assert_int_equal(wsk_eqpool_backward(&t.s, t.params, t.x, t.dy, dxs, dps), WSK_OK);
  for (size_t k = 0; k < tu_eqpool_impl_count; k++) {
    const tu_impl *im = &tu_eqpool_impls[k];
    if (im->isa == WSK_ISA_SCALAR || !tu_impl_runs("eqpool", im)) continue;
    assert_int_equal(wsk_set_isa(im->isa), WSK_OK);
    assert_int_equal(wsk_eqpool_forward(&t.s, t.params, t.x, t.y), WSK_OK);
    assert_int_equal(wsk_eqpool_backward(&t.s, t.params, t.x, t.dy, dx, dp), WSK_OK);
    tu_assert_bits(ys, t.y, t.ny, "forward");
    tu_assert_bits(dxs, dx, t.nx, "backward dx");
    tu_assert_bits(dps, dp, t.np, "backward dparams");
  }
  assert_int_equal(wsk_reset_isa(), WSK_OK);
  free(ys);
  free(dxs);
  free(dps);
  free(dx);
  free(dp);
  net_free(&t);
}

static void test_layer_parity(void **state) {
  (void)state;
  tu_rng rng = {15};
  for (size_t s = 1; s <= 35; s++) { /* every n from 1 to 35, on a random axis */
    const int L = (int)tu_int(&rng, 1, 3);
    size_t n[MAXL + 1];
    for (int i = 0; i <= L; i++) n[i] = tu_int(&rng, 1, 6);
    n[tu_int(&rng, 0, (size_t)L)] = s;
    const size_t ci = tu_int(&rng, 1, 8), co = tu_int(&rng, 1, 8);
    layer_parity(&rng, L, n, ci, co, 0);
  }
  for (size_t c = 1; c <= 40; c++) { /* every channel count, as c_in and as c_out */
    size_t n[3];
    for (int i = 0; i < 3; i++) n[i] = tu_int(&rng, 1, 5);
    const size_t other = tu_int(&rng, 1, 40);
    layer_parity(&rng, 2, n, c, other, 0);
    layer_parity(&rng, 2, n, other, c, 0);
  }
  for (int rep = 0; rep < 20; rep++) {
    size_t n[3];
    for (int i = 0; i < 3; i++) n[i] = tu_int(&rng, 1, 6);
    const size_t ci = tu_int(&rng, 1, 20), co = tu_int(&rng, 1, 20);
    layer_parity(&rng, 2, n, ci, co, 1);
  }
  /* the MLP of the zoo and of the learned optimizer: 64 -> 32 -> 10 */
  const size_t mlp[3] = {64, 32, 10};
  layer_parity(&rng, 2, mlp, 1, 16, 0);
  layer_parity(&rng, 2, mlp, 16, 1, 0);
}

static void test_special_values(void **state) {
  (void)state;
  tu_rng rng = {16};
  const size_t n[3] = {3, 4, 2};
  net t;
  net_make(&t, &rng, 2, n, 2, 3);
  size_t off = xo(&t, 2, 1, 0);
  t.x[off] = NAN; /* W_1[0][0][0] reaches W'_1[0][0], every row/col term, g */
  assert_int_equal(wsk_eqpool_forward(&t.s, t.params, t.x, t.y), WSK_OK);
  for (size_t e = 0; e < t.ny; e++) assert_true(isnan(t.y[e])); /* through g everywhere */
  net_free(&t);
}

static void test_layout(void **state) {
  (void)state;
  const int64_t n[3] = {3, 4, 5};
  wsk_eqpool_shape s = {2, n, 2, 3};
  size_t count, off, rows;
  assert_int_equal(wsk_eqpool_param_count(&s, &count), WSK_OK);
  assert_int_equal(count, 68 * 3); /* 34 rows for layer 1, 34 for layer 2 */
  assert_int_equal(wsk_eqpool_param_offset(&s, 1, WSK_EQ_WPREV, &off, &rows), WSK_OK);
  assert_int_equal(rows, 0);
  assert_int_equal(wsk_eqpool_param_offset(&s, 2, WSK_EQ_WNEXT, &off, &rows), WSK_OK);
  assert_int_equal(rows, 0);
  assert_int_equal(wsk_eqpool_param_offset(&s, 2, WSK_EQ_WGLOB, &off, &rows), WSK_OK);
  assert_int_equal(rows, 8);
  assert_int_equal(wsk_eqpool_param_offset(&s, 1, WSK_EQ_WPT, &off, &rows), WSK_OK);
  assert_int_equal(off, 0);
  assert_int_equal(wsk_eqpool_param_offset(&s, 2, WSK_EQ_WPT, &off, &rows), WSK_OK);
  assert_int_equal(off, 34 * 3);
  assert_int_equal(wsk_eqpool_space_size(&s, 2, &count), WSK_OK);
  assert_int_equal(count, (12 + 4 + 20 + 5) * 2);
  assert_int_equal(wsk_eqpool_space_offset(&s, 2, 2, 1, &off), WSK_OK);
  assert_int_equal(off, (12 + 4 + 20) * 2);
  assert_string_equal(wsk_eqpool_term_name(WSK_EQ_WBPREV), "Wbprev");
}

/* The same bits on every machine: a digest of forward and backward of fixed
 * layers through the dispatched entry points (NEON on aarch64). */
static void test_digest(void **state) {
  (void)state;
  tu_rng rng = {98};
  uint64_t h = TU_DIGEST_INIT;
  for (int rep = 0; rep < 30; rep++) {
    const int L = (int)tu_int(&rng, 1, 3);
    size_t n[MAXL + 1];
    for (int i = 0; i <= L; i++) n[i] = tu_int(&rng, 1, 20);
    net t;
    const size_t ci = tu_int(&rng, 1, 24), co = tu_int(&rng, 1, 24);
    net_make(&t, &rng, L, n, ci, co);
    float *dx = malloc(t.nx * sizeof(float)), *dp = malloc(t.np * sizeof(float));
    assert_int_equal(wsk_eqpool_forward(&t.s, t.params, t.x, t.y), WSK_OK);
    assert_int_equal(wsk_eqpool_backward(&t.s, t.params, t.x, t.dy, dx, dp), WSK_OK);
    h = tu_digest(h, t.y, t.ny);
    h = tu_digest(h, dx, t.nx);
    h = tu_digest(h, dp, t.np);
    free(dx);
    free(dp);
    net_free(&t);
  }
  tu_assert_digest("eqpool", h, EQPOOL_DIGEST);
}

static void test_bad_input(void **state) {
  (void)state;
  float buf[4096] = {0};
  int64_t n[3] = {3, 4, 5};
  wsk_eqpool_shape s = {2, n, 2, 3};
  size_t c, off, rows;
  assert_int_equal(wsk_eqpool_forward(NULL, buf, buf, buf + 2048), WSK_ERR_NULL);
  assert_int_equal(wsk_eqpool_forward(&s, NULL, buf, buf + 2048), WSK_ERR_NULL);
  assert_int_equal(wsk_eqpool_forward(&s, buf, NULL, buf + 2048), WSK_ERR_NULL);
  assert_int_equal(wsk_eqpool_forward(&s, buf, buf, NULL), WSK_ERR_NULL);
  assert_int_equal(wsk_eqpool_backward(&s, buf, buf, buf, NULL, NULL), WSK_ERR_NULL);
  assert_non_null(strstr(wsk_last_error(), "both NULL"));
  assert_int_equal(wsk_eqpool_invariant(&s, NULL, buf), WSK_ERR_NULL);
  wsk_eqpool_shape bad = s;
  bad.layers = 0;
  assert_int_equal(wsk_eqpool_forward(&bad, buf, buf, buf), WSK_ERR_SIZE);
  bad.layers = WSK_EQPOOL_MAX_LAYERS + 1;
  assert_int_equal(wsk_eqpool_param_count(&bad, &c), WSK_ERR_SIZE);
  bad = s;
  bad.n = NULL;
  assert_int_equal(wsk_eqpool_param_count(&bad, &c), WSK_ERR_NULL);
  bad = s;
  bad.c_in = 0;
  assert_int_equal(wsk_eqpool_forward(&bad, buf, buf, buf), WSK_ERR_SIZE);
  assert_non_null(strstr(wsk_last_error(), "channels"));
  bad = s;
  bad.c_out = -2;
  assert_int_equal(wsk_eqpool_backward(&bad, buf, buf, buf, buf, NULL), WSK_ERR_SIZE);
  int64_t nz[3] = {3, 0, 5};
  bad = s;
  bad.n = nz;
  assert_int_equal(wsk_eqpool_forward(&bad, buf, buf, buf), WSK_ERR_SIZE);
  assert_non_null(strstr(wsk_last_error(), "n[1]"));
  int64_t nb[3] = {(int64_t)1 << 40, (int64_t)1 << 40, 5};
  bad = s;
  bad.n = nb;
  assert_int_equal(wsk_eqpool_space_size(&bad, 1, &c), WSK_ERR_OVERFLOW);
  assert_int_equal(wsk_eqpool_forward(&bad, buf, buf, buf), WSK_ERR_OVERFLOW);
  assert_int_equal(wsk_eqpool_space_size(&s, 0, &c), WSK_ERR_SIZE);
  assert_int_equal(wsk_eqpool_space_size(&s, 1, NULL), WSK_ERR_NULL);
  assert_int_equal(wsk_eqpool_param_offset(&s, 3, WSK_EQ_WPT, &off, &rows), WSK_ERR_ARG);
  assert_int_equal(wsk_eqpool_param_offset(&s, 1, WSK_EQ_TERM_COUNT, &off, &rows), WSK_ERR_ARG);
  assert_int_equal(wsk_eqpool_space_offset(&s, 2, 0, 0, &off), WSK_ERR_ARG);
  assert_int_equal(wsk_eqpool_space_offset(&s, 2, 1, 2, &off), WSK_ERR_ARG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layout),        cmocka_unit_test(test_forward_oracle),
      cmocka_unit_test(test_backward_fd),   cmocka_unit_test(test_equivariance),
      cmocka_unit_test(test_ukernel_parity), cmocka_unit_test(test_layer_parity),
      cmocka_unit_test(test_special_values), cmocka_unit_test(test_digest),
      cmocka_unit_test(test_bad_input),
  };
  printf("eqpool implementations:");
  for (size_t t = 0; t < tu_eqpool_impl_count; t++) printf(" %s", tu_eqpool_impls[t].name);
  printf("\n");
  return cmocka_run_group_tests_name("eqpool", tests, NULL, NULL);
}
