/* tests/test_permsum.c — the permsum family on every implementation of
 * kernels/permsum/permsum.inc.
 *
 * - scalar against a double-precision oracle. Tolerance (stated, rigorous):
 *   a sum of n terms in any fixed order errs by at most gamma_n * sum|x_i|,
 *   gamma_n = n u / (1 - n u), u = 2^-24; with P partial sums of m = ceil(R/P)
 *   terms folded by a tree of depth log2 P, n = m + log2 P + 1. A mean adds
 *   one rounding: |y - ref| <= gamma_n sum|x| / R + u |ref|.
 * - every SIMD tier against scalar, bit for bit (memcmp), from unaligned
 *   pointers, including NaN and +-Inf inputs;
 * - every size 1..35 on every axis of ranks 1..4, channels 1..40 and 64;
 * - broadcast-add, diagonal read and diagonal write against exact
 *   references; the weight-matrix fast paths against the general reduce;
 * - bad input: every documented error.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define MAXR WSK_PERMSUM_MAX_RANK
/* recorded on x86-64; see test_digest */
#define PERMSUM_DIGEST 0x086a5cfc255b1699ull

static size_t prod(const size_t *d, int n) {
  size_t p = 1;
  for (int i = 0; i < n; i++) p *= d[i];
  return p;
}

/* linear index over the kept axes of full multi-index idx */
static size_t kept_index(int rank, const size_t *dims, unsigned axes, const size_t *idx) {
  size_t k = 0;
  for (int a = 0; a < rank; a++)
    if (!((axes >> a) & 1u)) k = k * dims[a] + idx[a];
  return k;
}

static void unravel(size_t e, int rank, const size_t *dims, size_t *idx) {
  for (int a = rank - 1; a >= 0; a--) {
    idx[a] = e % dims[a];
    e /= dims[a];
  }
}

static size_t kept_count(int rank, const size_t *dims, unsigned axes) {
  size_t k = 1;
  for (int a = 0; a < rank; a++)
    if (!((axes >> a) & 1u)) k *= dims[a];
  return k;
}

static void to_i64(int rank, const size_t *d, int64_t *o) {
  for (int a = 0; a < rank; a++) o[a] = (int64_t)d[a];
}

static int ilog2(int p) {
  int k = 0;
  while ((1 << k) < p) k++;
  return k;
}

static long g_cases;

/* One reduce case: oracle (unless special values), tiers, public API. */
static void check_reduce(tu_rng *rng, int rank, const size_t *dims, size_t c, unsigned axes,
                         int mean, int special) {
  const size_t n = prod(dims, rank) * c, ny = kept_count(rank, dims, axes) * c;
  tu_buf bx, bs, bt;
  float *x = tu_alloc(&bx, n, tu_int(rng, 0, 3));
  float *ys = tu_alloc(&bs, ny, 0);
  float *yt = tu_alloc(&bt, ny, tu_int(rng, 0, 3));
  assert_non_null(x);
  tu_fill(rng, x, n, -1.0f, 1.0f);
  if (special) {
    const float vals[4] = {NAN, INFINITY, -INFINITY, -0.0f};
    const size_t k = tu_int(rng, 1, 3);
    for (size_t i = 0; i < k; i++) x[tu_int(rng, 0, n - 1)] = vals[tu_int(rng, 0, 3)];
  }
  wsk_ps_plan plan;
  wsk_permsum_plan_make(rank, dims, c, axes, mean, &plan);
  const wsk_permsum_ukernels *scalar = &wsk_permsum_ukernels__scalar;
  scalar->reduce(&plan, x, ys);

  if (!special) {
    double *ref = calloc(ny, sizeof(double)), *abs_ = calloc(ny, sizeof(double));
    size_t idx[MAXR];
    for (size_t e = 0; e < n / c; e++) {
      unravel(e, rank, dims, idx);
      const size_t k = kept_index(rank, dims, axes, idx);
      for (size_t ch = 0; ch < c; ch++) {
        ref[k * c + ch] += x[e * c + ch];
        abs_[k * c + ch] += fabs(x[e * c + ch]);
      }
    }
    const double u = ldexp(1.0, -24);
    const size_t R = plan.count;
    const double nt = (double)((R + (size_t)plan.lanes - 1) / (size_t)plan.lanes) +
                      ilog2(plan.lanes) + 1;
    const double gamma = nt * u / (1 - nt * u);
    for (size_t i = 0; i < ny; i++) {
      double r = ref[i], tol = gamma * abs_[i];
      if (mean) {
        r /= (double)R;
        tol = tol / (double)R + u * fabs(r);
      }
      if (!(fabs((double)ys[i] - r) <= tol)) {
        print_error("rank %d dims %zu,%zu,%zu,%zu c %zu axes 0x%x mean %d: y[%zu] = %.9g, "
                    "oracle %.12g, tolerance %.3g\n",
                    rank, dims[0], rank > 1 ? dims[1] : 0, rank > 2 ? dims[2] : 0,
                    rank > 3 ? dims[3] : 0, c, axes, mean, i, ys[i], r, tol);
        fail();
      }
    }
    free(ref);
    free(abs_);
  }
  for (size_t t = 0; t < tu_permsum_impl_count; t++) {
    const tu_impl *im = &tu_permsum_impls[t];
    if (im->isa == WSK_ISA_SCALAR || !tu_impl_runs("permsum", im)) continue;
    const wsk_permsum_ukernels *k = im->table;
    k->reduce(&plan, x, yt);
    tu_assert_bits(ys, yt, ny, im->name);
    if (rank == 2 && (axes == 3 || axes == 1 || axes == 2)) {
      void (*fast)(size_t, size_t, size_t, int, const float *, float *) =
          axes == 3 ? k->total : axes == 1 ? k->cols : k->rows;
      fast(dims[0], dims[1], c, mean, x, yt);
      tu_assert_bits(ys, yt, ny, "matrix fast path");
    }
  }
  int64_t d64[MAXR];
  to_i64(rank, dims, d64);
  assert_int_equal(wsk_permsum_reduce(x, rank, d64, (int64_t)c, axes,
                                      mean ? WSK_REDUCE_MEAN : WSK_REDUCE_SUM, yt),
                   WSK_OK);
  tu_assert_bits(ys, yt, ny, "wsk_permsum_reduce");
  if (rank == 2 && axes != 0) {
    assert_int_equal(wsk_permsum_matrix(x, d64[0], d64[1], (int64_t)c, axes,
                                        mean ? WSK_REDUCE_MEAN : WSK_REDUCE_SUM, yt),
                     WSK_OK);
    tu_assert_bits(ys, yt, ny, "wsk_permsum_matrix");
  }
  g_cases++;
  tu_free(&bx);
  tu_free(&bs);
  tu_free(&bt);
}

/* Every size 1..35 on every axis of every rank, random other sizes. */
static void test_reduce_sizes(void **state) {
  (void)state;
  tu_rng rng = {1};
  const size_t chans[] = {1, 2, 3, 4, 5, 7, 8, 16, 17, 32, 33, 40, 64};
  for (int rank = 1; rank <= MAXR; rank++)
    for (int a = 0; a < rank; a++)
      for (size_t s = 1; s <= 35; s++) {
        size_t dims[MAXR];
        for (int i = 0; i < rank; i++) dims[i] = tu_int(&rng, 1, rank >= 3 ? 3 : 5);
        dims[a] = s;
        const size_t c = chans[tu_int(&rng, 0, sizeof chans / sizeof chans[0] - 1)];
        /* all masks for small ranks, four random ones (plus "all") for rank 4 */
        const unsigned nm = 1u << rank;
        for (unsigned m = 0; m < nm; m++) {
          if (rank == 4 && m != nm - 1 && tu_int(&rng, 0, 3) != 0) continue;
          check_reduce(&rng, rank, dims, c, m, (int)(m & 1u) ^ (int)(s & 1u), 0);
        }
      }
}

/* Every channel count 1..40 and 64, on matrices and rank 3. */
static void test_reduce_channels(void **state) {
  (void)state;
  tu_rng rng = {2};
  for (size_t c = 1; c <= 64; c++) {
    if (c > 40 && c != 64) continue;
    for (int rep = 0; rep < 3; rep++) {
      size_t d2[2], d3[3];
      for (int i = 0; i < 2; i++) d2[i] = tu_int(&rng, 1, 35);
      for (int i = 0; i < 3; i++) d3[i] = tu_int(&rng, 1, 6);
      for (unsigned m = 0; m < 4; m++) check_reduce(&rng, 2, d2, c, m, rep & 1, 0);
      for (unsigned m = 0; m < 8; m++) check_reduce(&rng, 3, d3, c, m, !(rep & 1), 0);
    }
  }
}

/* Long reductions (several 64-lane blocks, and > one L1 block of y). */
static void test_reduce_large(void **state) {
  (void)state;
  tu_rng rng = {3};
  const size_t shapes[][3] = {{300, 257, 1}, {64, 1000, 1}, {3, 5000, 2}, {1000, 3, 16},
                              {7, 700, 40},  {2, 3000, 3}, {513, 129, 4}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    for (unsigned m = 1; m < 4; m++) check_reduce(&rng, 2, shapes[i], shapes[i][2], m, m & 1, 0);
}

/* NaN, +Inf, -Inf and -0.0 among the inputs: tiers agree bit for bit. */
static void test_reduce_special(void **state) {
  (void)state;
  tu_rng rng = {4};
  for (int rep = 0; rep < 300; rep++) {
    const int rank = (int)tu_int(&rng, 1, 4);
    size_t dims[MAXR];
    for (int i = 0; i < rank; i++) dims[i] = tu_int(&rng, 1, rank > 2 ? 6 : 40);
    const size_t c = tu_int(&rng, 1, 20);
    check_reduce(&rng, rank, dims, c, (unsigned)tu_int(&rng, 0, (1u << rank) - 1), rep & 1, 1);
  }
  /* all -0.0: every tier keeps the sign (partial sums start at -0.0) */
  float x[64], y[4];
  for (int i = 0; i < 64; i++) x[i] = -0.0f;
  const int64_t d[1] = {16};
  assert_int_equal(wsk_permsum_reduce(x, 1, d, 4, 1u, WSK_REDUCE_SUM, y), WSK_OK);
  for (int i = 0; i < 4; i++) assert_true(y[i] == 0.0f && signbit(y[i]));
  /* NaN propagates; Inf - Inf is NaN; Inf alone stays Inf */
  float z[3] = {1.0f, INFINITY, 2.0f};
  const int64_t d3[1] = {3};
  assert_int_equal(wsk_permsum_reduce(z, 1, d3, 1, 1u, WSK_REDUCE_SUM, y), WSK_OK);
  assert_true(isinf(y[0]) && y[0] > 0);
  z[0] = -INFINITY;
  assert_int_equal(wsk_permsum_reduce(z, 1, d3, 1, 1u, WSK_REDUCE_MEAN, y), WSK_OK);
  assert_true(isnan(y[0]));
  z[0] = NAN;
  z[1] = 0.0f;
  assert_int_equal(wsk_permsum_reduce(z, 1, d3, 1, 1u, WSK_REDUCE_SUM, y), WSK_OK);
  assert_true(isnan(y[0]));
}

/* y += r broadcast: each element is one float add, so the reference is exact. */
static void test_broadcast_add(void **state) {
  (void)state;
  tu_rng rng = {5};
  for (int rep = 0; rep < 600; rep++) {
    const int rank = (int)tu_int(&rng, 1, 4);
    size_t dims[MAXR], idx[MAXR];
    for (int i = 0; i < rank; i++) dims[i] = tu_int(&rng, 1, rank > 2 ? 7 : 35);
    const size_t c = tu_int(&rng, 1, 40);
    const unsigned axes = (unsigned)tu_int(&rng, 0, (1u << rank) - 1);
    const size_t n = prod(dims, rank) * c, nr = kept_count(rank, dims, axes) * c;
    tu_buf br, b0, bref, by;
    float *r = tu_alloc(&br, nr, tu_int(&rng, 0, 3)), *y0 = tu_alloc(&b0, n, 0);
    float *ref = tu_alloc(&bref, n, 0), *y = tu_alloc(&by, n, tu_int(&rng, 0, 3));
    tu_fill(&rng, r, nr, -2, 2);
    tu_fill(&rng, y0, n, -2, 2);
    for (size_t e = 0; e < n / c; e++) {
      unravel(e, rank, dims, idx);
      const size_t k = kept_index(rank, dims, axes, idx);
      for (size_t ch = 0; ch < c; ch++) ref[e * c + ch] = y0[e * c + ch] + r[k * c + ch];
    }
    wsk_ps_plan plan;
    wsk_permsum_plan_make(rank, dims, c, axes, 0, &plan);
    for (size_t t = 0; t < tu_permsum_impl_count; t++) {
      const tu_impl *im = &tu_permsum_impls[t];
      if (!tu_impl_runs("permsum", im)) continue;
      memcpy(y, y0, n * sizeof(float));
      ((const wsk_permsum_ukernels *)im->table)->bcast_add(&plan, r, y);
      tu_assert_bits(ref, y, n, im->name);
    }
    int64_t d64[MAXR];
    to_i64(rank, dims, d64);
    memcpy(y, y0, n * sizeof(float));
    assert_int_equal(wsk_permsum_broadcast_add(r, rank, d64, (int64_t)c, axes, y), WSK_OK);
    tu_assert_bits(ref, y, n, "wsk_permsum_broadcast_add");
    tu_free(&br);
    tu_free(&b0);
    tu_free(&bref);
    tu_free(&by);
  }
}

/* Diagonal read (a copy) and diagonal write (one add per element). */
static void test_diag(void **state) {
  (void)state;
  tu_rng rng = {6};
  for (int rep = 0; rep < 500; rep++) {
    const int rank = (int)tu_int(&rng, 2, 4);
    const int a = (int)tu_int(&rng, 0, (size_t)rank - 2);
    const int b = (int)tu_int(&rng, (size_t)a + 1, (size_t)rank - 1);
    size_t dims[MAXR] = {0}, sdims[MAXR] = {0}, idx[MAXR] = {0};
    for (int i = 0; i < rank; i++) dims[i] = tu_int(&rng, 1, rank > 2 ? 6 : 35);
    dims[b] = dims[a];
    const size_t c = tu_int(&rng, 1, 40);
    int sr = 0;
    for (int i = 0; i < rank; i++)
      if (i != b) sdims[sr++] = dims[i];
    const size_t n = prod(dims, rank) * c, ns = prod(sdims, sr) * c;
    tu_buf bx, bd, bref, by, b0, bw;
    float *x = tu_alloc(&bx, n, tu_int(&rng, 0, 3)), *d = tu_alloc(&bd, ns, tu_int(&rng, 0, 3));
    float *ref = tu_alloc(&bref, ns, 0), *y0 = tu_alloc(&b0, n, 0);
    float *wref = tu_alloc(&bw, n, 0), *y = tu_alloc(&by, n, 1);
    tu_fill(&rng, x, n, -1, 1);
    tu_fill(&rng, y0, n, -1, 1);
    memcpy(wref, y0, n * sizeof(float));
    for (size_t e = 0; e < n / c; e++) {
      unravel(e, rank, dims, idx);
      if (idx[a] != idx[b]) continue;
      size_t s = 0;
      for (int i = 0; i < rank; i++)
        if (i != b) s = s * dims[i] + idx[i];
      for (size_t ch = 0; ch < c; ch++) {
        ref[s * c + ch] = x[e * c + ch];
        wref[e * c + ch] = y0[e * c + ch] + x[e * c + ch] * 0.5f;
      }
    }
    /* the diagonal write adds r = 0.5 * (the diagonal of x) */
    float *r = malloc(ns * sizeof(float));
    for (size_t i = 0; i < ns; i++) r[i] = ref[i] * 0.5f;
    int64_t d64[MAXR];
    to_i64(rank, dims, d64);
    for (size_t t = 0; t < tu_permsum_impl_count; t++) {
      const tu_impl *im = &tu_permsum_impls[t];
      if (!tu_impl_runs("permsum", im)) continue;
      wsk_ps_diag_plan p = {1, dims[a], 1, 1, c};
      for (int i = 0; i < a; i++) p.p0 *= dims[i];
      for (int i = a + 1; i < b; i++) p.p1 *= dims[i];
      for (int i = b + 1; i < rank; i++) p.p2 *= dims[i];
      const wsk_permsum_ukernels *k = im->table;
      k->diag(&p, x, d);
      tu_assert_bits(ref, d, ns, im->name);
      memcpy(y, y0, n * sizeof(float));
      k->diag_add(&p, r, y);
      tu_assert_bits(wref, y, n, im->name);
    }
    assert_int_equal(wsk_permsum_diag(x, rank, d64, (int64_t)c, a, b, d), WSK_OK);
    tu_assert_bits(ref, d, ns, "wsk_permsum_diag");
    memcpy(y, y0, n * sizeof(float));
    assert_int_equal(wsk_permsum_diag_add(r, rank, d64, (int64_t)c, a, b, y), WSK_OK);
    tu_assert_bits(wref, y, n, "wsk_permsum_diag_add");
    free(r);
    tu_free(&bx);
    tu_free(&bd);
    tu_free(&bref);
    tu_free(&by);
    tu_free(&b0);
    tu_free(&bw);
  }
}

/* rowcol = rows and cols means at once, the same bits on every tier (the
 * fused one-pass path where m*C is a multiple of 64, else two calls). */
static void test_rowcol(void **state) {
  (void)state;
  tu_rng rng = {7};
  const wsk_permsum_ukernels *sc = &wsk_permsum_ukernels__scalar;
  for (int rep = 0; rep < 400; rep++) {
    static const size_t chans[] = {1, 2, 4, 8, 16, 32, 3, 5, 64};
    const size_t c = chans[tu_int(&rng, 0, 8)];
    const size_t n = tu_int(&rng, 1, 40);
    size_t m = tu_int(&rng, 1, 70);
    if (rep % 2 == 0) m = ((m * c + 63) / 64 * 64) / c; /* make m*C a multiple of 64 */
    if (m < 1) m = 1;
    tu_buf bx;
    float *x = tu_alloc(&bx, n * m * c, tu_int(&rng, 0, 3));
    tu_fill(&rng, x, n * m * c, -1, 1);
    if (rep % 9 == 0) x[tu_int(&rng, 0, n * m * c - 1)] = rep % 2 ? INFINITY : NAN;
    float *r0 = malloc(n * c * 4), *c0 = malloc(m * c * 4);
    float *r1 = malloc(n * c * 4), *c1 = malloc(m * c * 4);
    sc->rows(n, m, c, 1, x, r0);
    sc->cols(n, m, c, 1, x, c0);
    for (size_t k = 0; k < tu_permsum_impl_count; k++) {
      const tu_impl *im = &tu_permsum_impls[k];
      if (!tu_impl_runs("permsum", im)) continue;
      ((const wsk_permsum_ukernels *)im->table)->rowcol(n, m, c, x, r1, c1);
      tu_assert_bits(r0, r1, n * c, im->name);
      tu_assert_bits(c0, c1, m * c, im->name);
    }
    free(r0);
    free(c0);
    free(r1);
    free(c1);
    tu_free(&bx);
  }
}

/* The plan: size-1 axes dropped, equal kinds merged, right-aligned. */
static void test_plan(void **state) {
  (void)state;
  wsk_ps_plan p;
  const size_t d1[4] = {2, 1, 3, 4};
  wsk_permsum_plan_make(4, d1, 5, 0xCu, 0, &p); /* keep 2, (1), reduce 3*4 */
  assert_int_equal(p.k0, 1);
  assert_int_equal(p.r0, 1);
  assert_int_equal(p.k1, 2);
  assert_int_equal(p.r1, 12);
  assert_int_equal(p.k2, 1);
  assert_true(p.inner_reduced);
  assert_int_equal(p.lanes, 1); /* 5 does not divide 64 */
  const size_t d2[3] = {3, 4, 5};
  wsk_permsum_plan_make(3, d2, 4, 0x5u, 1, &p); /* reduce, keep, reduce */
  assert_int_equal(p.k0, 1);
  assert_int_equal(p.r0, 3);
  assert_int_equal(p.k1, 4);
  assert_int_equal(p.r1, 5);
  assert_int_equal(p.lanes, 16);
  assert_int_equal(p.count, 15);
  wsk_permsum_plan_make(3, d2, 4, 0x1u, 1, &p); /* reduce, keep keep */
  assert_int_equal(p.r1, 3);
  assert_int_equal(p.k2, 20);
  assert_false(p.inner_reduced);
  assert_int_equal(p.lanes, 1);
}

/* The same bits on every machine: a digest of a fixed set of reductions
 * through the dispatched entry point (the best tier here, NEON on aarch64). */
static void test_digest(void **state) {
  (void)state;
  tu_rng rng = {99};
  uint64_t h = TU_DIGEST_INIT;
  for (int rep = 0; rep < 200; rep++) {
    const int rank = (int)tu_int(&rng, 1, 4);
    int64_t dims[MAXR];
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
      dims[i] = (int64_t)tu_int(&rng, 1, rank > 2 ? 9 : 70);
      n *= (size_t)dims[i];
    }
    const int64_t c = (int64_t)tu_int(&rng, 1, 40);
    n *= (size_t)c;
    const unsigned axes = (unsigned)tu_int(&rng, 0, (1u << rank) - 1);
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    tu_fill(&rng, x, n, -1, 1);
    assert_int_equal(wsk_permsum_reduce(x, rank, dims, c, axes,
                                        rep & 1 ? WSK_REDUCE_MEAN : WSK_REDUCE_SUM, y),
                     WSK_OK);
    int kr;
    int64_t kd[MAXR];
    assert_int_equal(wsk_permsum_kept_shape(rank, dims, axes, &kr, kd), WSK_OK);
    size_t ny = (size_t)c;
    for (int i = 0; i < kr; i++) ny *= (size_t)kd[i];
    h = tu_digest(h, y, ny);
    free(x);
    free(y);
  }
  tu_assert_digest("permsum", h, PERMSUM_DIGEST);
}

static void test_bad_input(void **state) {
  (void)state;
  float x[64] = {0}, y[64];
  const int64_t d[2] = {4, 4};
  assert_int_equal(wsk_permsum_reduce(NULL, 2, d, 1, 1, WSK_REDUCE_SUM, y), WSK_ERR_NULL);
  assert_non_null(strstr(wsk_last_error(), "NULL"));
  assert_int_equal(wsk_permsum_reduce(x, 2, d, 1, 1, WSK_REDUCE_SUM, NULL), WSK_ERR_NULL);
  assert_int_equal(wsk_permsum_reduce(x, 2, NULL, 1, 1, WSK_REDUCE_SUM, y), WSK_ERR_NULL);
  assert_int_equal(wsk_permsum_reduce(x, 0, d, 1, 1, WSK_REDUCE_SUM, y), WSK_ERR_ARG);
  assert_int_equal(wsk_permsum_reduce(x, 5, d, 1, 1, WSK_REDUCE_SUM, y), WSK_ERR_ARG);
  assert_int_equal(wsk_permsum_reduce(x, 2, d, 0, 1, WSK_REDUCE_SUM, y), WSK_ERR_SIZE);
  assert_non_null(strstr(wsk_last_error(), "channels"));
  assert_int_equal(wsk_permsum_reduce(x, 2, d, -3, 1, WSK_REDUCE_SUM, y), WSK_ERR_SIZE);
  const int64_t dz[2] = {4, 0}, dn[2] = {-1, 4};
  assert_int_equal(wsk_permsum_reduce(x, 2, dz, 1, 1, WSK_REDUCE_SUM, y), WSK_ERR_SIZE);
  assert_non_null(strstr(wsk_last_error(), "dims[1]"));
  assert_int_equal(wsk_permsum_reduce(x, 2, dn, 1, 1, WSK_REDUCE_SUM, y), WSK_ERR_SIZE);
  const int64_t big[4] = {INT64_MAX / 4, 1 << 20, 1 << 20, 1 << 20};
  assert_int_equal(wsk_permsum_reduce(x, 4, big, 1, 1, WSK_REDUCE_SUM, y), WSK_ERR_OVERFLOW);
  const int64_t big2[2] = {(int64_t)1 << 31, (int64_t)1 << 31};
  assert_int_equal(wsk_permsum_reduce(x, 2, big2, 1 << 10, 1, WSK_REDUCE_SUM, y),
                   WSK_ERR_OVERFLOW);
  assert_int_equal(wsk_permsum_reduce(x, 2, d, 1, 4u, WSK_REDUCE_SUM, y), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "axes"));
  assert_int_equal(wsk_permsum_reduce(x, 2, d, 1, 1, (wsk_reduce_op)7, y), WSK_ERR_ARG);
  assert_int_equal(wsk_permsum_reduce(x, 2, d, 1, 1, WSK_REDUCE_SUM, x + 2), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "overlap"));
  assert_int_equal(wsk_permsum_broadcast_add(NULL, 2, d, 1, 1, y), WSK_ERR_NULL);
  assert_int_equal(wsk_permsum_broadcast_add(x, 2, d, 0, 1, y), WSK_ERR_SIZE);
  assert_int_equal(wsk_permsum_broadcast_add(x, 2, d, 1, 8u, y), WSK_ERR_ARG);
  const int64_t dd[3] = {3, 4, 3};
  assert_int_equal(wsk_permsum_diag(x, 3, dd, 1, 0, 1, y), WSK_ERR_ARG); /* 3 != 4 */
  assert_non_null(strstr(wsk_last_error(), "sizes"));
  assert_int_equal(wsk_permsum_diag(x, 3, dd, 1, 2, 0, y), WSK_ERR_ARG);
  assert_int_equal(wsk_permsum_diag(x, 3, dd, 1, 0, 3, y), WSK_ERR_ARG);
  assert_int_equal(wsk_permsum_diag(x, 1, dd, 1, 0, 0, y), WSK_ERR_ARG);
  assert_int_equal(wsk_permsum_diag(NULL, 3, dd, 1, 0, 2, y), WSK_ERR_NULL);
  assert_int_equal(wsk_permsum_diag_add(x, 3, dd, 0, 0, 2, y), WSK_ERR_SIZE);
  assert_int_equal(wsk_permsum_matrix(x, 4, 4, 1, 0u, WSK_REDUCE_SUM, y), WSK_ERR_ARG);
  assert_int_equal(wsk_permsum_matrix(x, 4, 0, 1, WSK_AXES_ROWS, WSK_REDUCE_SUM, y),
                   WSK_ERR_SIZE);
  assert_int_equal(wsk_permsum_matrix(NULL, 4, 4, 1, WSK_AXES_ROWS, WSK_REDUCE_SUM, y),
                   WSK_ERR_NULL);
  int kr;
  int64_t kd[4];
  assert_int_equal(wsk_permsum_kept_shape(3, dd, 0x5u, &kr, kd), WSK_OK);
  assert_int_equal(kr, 1);
  assert_int_equal(kd[0], 4);
  assert_int_equal(wsk_permsum_kept_shape(3, dd, 0x8u, &kr, kd), WSK_ERR_ARG);
  /* an error leaves the output untouched */
  for (int i = 0; i < 64; i++) y[i] = 42.0f;
  assert_int_equal(wsk_permsum_reduce(x, 2, dz, 1, 1, WSK_REDUCE_SUM, y), WSK_ERR_SIZE);
  for (int i = 0; i < 64; i++) assert_true(y[i] == 42.0f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plan),           cmocka_unit_test(test_reduce_sizes),
      cmocka_unit_test(test_reduce_channels), cmocka_unit_test(test_reduce_large),
      cmocka_unit_test(test_reduce_special), cmocka_unit_test(test_broadcast_add),
      cmocka_unit_test(test_diag),           cmocka_unit_test(test_rowcol),
      cmocka_unit_test(test_digest),
      cmocka_unit_test(test_bad_input),
  };
  printf("permsum implementations:");
  for (size_t t = 0; t < tu_permsum_impl_count; t++) printf(" %s", tu_permsum_impls[t].name);
  printf("\n");
  const int rc = cmocka_run_group_tests_name("permsum", tests, NULL, NULL);
  printf("permsum: %ld reduce cases checked\n", g_cases);
  return rc;
}
