/* tests/test_gemm.c — the gemm family on every implementation of
 * kernels/gemm/gemm.inc.
 *
 * - scalar against a double-precision oracle. Tolerance (stated): a chain of
 *   k fmaf and the epilogue err by at most
 *   (k + 4) u (|alpha| sum_p |A[i][p] B[p][j]| + |beta C[i][j]| + |bias[j]|),
 *   u = 2^-24 (activations are checked through ReLU, which is exact);
 * - every SIMD tier against scalar bit for bit for every tail of m, n and k
 *   around the register tile and the k block (256), both transposes, padded
 *   leading dimensions, alpha/beta/bias and every activation (GELU and tanh
 *   through the same tier's eltwise kernels), NaN and Inf inputs;
 * - beta = 0 ignores C (NaN there does not leak); beta != 0 with several k
 *   blocks (the workspace path);
 * - a cross-machine digest; bad input.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define GEMM_DIGEST 0x3b4725f56a536194ull

#define WSK_IMPL(family, suffix, isa) {#suffix, isa, &wsk_##family##_ukernels__##suffix},
static const tu_impl gemm_impls[] = {
#include "kernels/gemm/gemm.inc"
};
static const tu_impl eltwise_impls[] = {
#include "kernels/eltwise/eltwise.inc"
};
#undef WSK_IMPL
#define N_GEMM (sizeof gemm_impls / sizeof gemm_impls[0])

static const wsk_eltwise_ukernels *eltwise_for(wsk_isa isa) {
  return tu_table_for(eltwise_impls, sizeof eltwise_impls / sizeof eltwise_impls[0], isa);
}

typedef struct gcase {
  int ta, tb, act;
  size_t m, n, k, lda, ldb, ldc;
  float alpha, beta;
  int bias;
} gcase;

typedef struct gdata {
  float *a, *b, *c0, *bias;
  size_t na, nb, nc;
} gdata;

static void make(tu_rng *r, const gcase *g, gdata *d, int special) {
  const size_t arows = g->ta ? g->k : g->m, brows = g->tb ? g->n : g->k;
  d->na = arows * g->lda;
  d->nb = brows * g->ldb;
  d->nc = g->m * g->ldc;
  d->a = malloc(d->na * sizeof(float));
  d->b = malloc(d->nb * sizeof(float));
  d->c0 = malloc(d->nc * sizeof(float));
  d->bias = malloc(g->n * sizeof(float));
  tu_fill(r, d->a, d->na, -1, 1);
  tu_fill(r, d->b, d->nb, -1, 1);
  tu_fill(r, d->c0, d->nc, -1, 1);
  tu_fill(r, d->bias, g->n, -1, 1);
  if (special) {
    d->a[tu_int(r, 0, d->na - 1)] = NAN;
    d->b[tu_int(r, 0, d->nb - 1)] = INFINITY;
  }
}

static void drop(gdata *d) {
  free(d->a);
  free(d->b);
  free(d->c0);
  free(d->bias);
}

static void run(const wsk_gemm_ukernels *gk, const wsk_eltwise_ukernels *ek, const gcase *g,
                const gdata *d, float *c) {
  memcpy(c, d->c0, d->nc * sizeof(float));
  assert_int_equal(wsk__gemm_with(gk, ek, g->ta, g->tb, g->m, g->n, g->k, g->alpha, d->a, g->lda,
                                  d->b, g->ldb, g->beta, c, g->ldc, g->bias ? d->bias : NULL,
                                  g->act),
                   WSK_OK);
}

static double A_(const gcase *g, const gdata *d, size_t i, size_t p) {
  return g->ta ? d->a[p * g->lda + i] : d->a[i * g->lda + p];
}
static double B_(const gcase *g, const gdata *d, size_t p, size_t j) {
  return g->tb ? d->b[j * g->ldb + p] : d->b[p * g->ldb + j];
}

static void check_oracle(const gcase *g, const gdata *d, const float *c) {
  const double u = ldexp(1.0, -24);
  for (size_t i = 0; i < g->m; i++)
    for (size_t j = 0; j < g->n; j++) {
      double s = 0, mag = 0;
      for (size_t p = 0; p < g->k; p++) {
        s += A_(g, d, i, p) * B_(g, d, p, j);
        mag += fabs(A_(g, d, i, p) * B_(g, d, p, j));
      }
      double r = g->alpha * s;
      mag = fabs(g->alpha) * mag;
      if (g->beta != 0) {
        r += g->beta * (double)d->c0[i * g->ldc + j];
        mag += fabs(g->beta * (double)d->c0[i * g->ldc + j]);
      }
      if (g->bias) {
        r += d->bias[j];
        mag += fabs(d->bias[j]);
      }
      if (g->act == WSK_ACT_RELU && !(r > 0)) r = 0;
      const double tol = (double)(g->k + 4) * u * mag + 1e-30;
      if (!(fabs(c[i * g->ldc + j] - r) <= tol)) {
        print_error("m %zu n %zu k %zu ta %d tb %d: C[%zu][%zu] = %.9g, oracle %.12g, tol %.3g\n",
                    g->m, g->n, g->k, g->ta, g->tb, i, j, c[i * g->ldc + j], r, tol);
        fail();
      }
    }
}

static long g_checked;

static void check_case(tu_rng *r, const gcase *g, int oracle, int special) {
  gdata d;
  make(r, g, &d, special);
  float *cs = malloc(d.nc * sizeof(float)), *ct = malloc(d.nc * sizeof(float));
  run(&wsk_gemm_ukernels__scalar, &wsk_eltwise_ukernels__scalar, g, &d, cs);
  if (oracle && (g->act == WSK_ACT_NONE || g->act == WSK_ACT_RELU)) check_oracle(g, &d, cs);
  for (size_t t = 0; t < N_GEMM; t++) {
    const tu_impl *im = &gemm_impls[t];
    if (im->isa == WSK_ISA_SCALAR || !tu_impl_runs("gemm", im)) continue;
    run(im->table, eltwise_for(im->isa), g, &d, ct);
    tu_assert_bits(cs, ct, d.nc, im->name); /* padding between rows of C too */
  }
  g_checked++;
  free(cs);
  free(ct);
  drop(&d);
}

static gcase random_case(tu_rng *r, size_t mmax, size_t nmax, size_t kmax) {
  gcase g;
  memset(&g, 0, sizeof g);
  g.ta = (int)tu_int(r, 0, 1);
  g.tb = (int)tu_int(r, 0, 1);
  g.m = tu_int(r, 1, mmax);
  g.n = tu_int(r, 1, nmax);
  g.k = tu_int(r, 1, kmax);
  g.lda = (g.ta ? g.m : g.k) + tu_int(r, 0, 2);
  g.ldb = (g.tb ? g.k : g.n) + tu_int(r, 0, 2);
  g.ldc = g.n + tu_int(r, 0, 2);
  static const float alphas[] = {1.0f, -0.5f, 2.0f}, betas[] = {0.0f, 1.0f, 0.25f};
  g.alpha = alphas[tu_int(r, 0, 2)];
  g.beta = betas[tu_int(r, 0, 2)];
  g.bias = (int)tu_int(r, 0, 1);
  g.act = (int)tu_int(r, 0, 3);
  return g;
}

/* every m and n from 1 to 40 (the 6 x 16 and 8 x 32 tiles and their tails) */
static void test_tails(void **state) {
  (void)state;
  tu_rng r = {21};
  for (size_t m = 1; m <= 40; m++)
    for (size_t n = 1; n <= 40; n += (n < 34 ? 1 : 3)) {
      gcase g = random_case(&r, 1, 1, 40);
      g.m = m;
      g.n = n;
      g.lda = (g.ta ? g.m : g.k) + 1;
      g.ldb = (g.tb ? g.k : g.n) + 1;
      g.ldc = g.n + 1;
      check_case(&r, &g, m % 7 == 0, 0);
    }
}

/* k around the block of 256: several blocks, with and without beta */
static void test_k_blocks(void **state) {
  (void)state;
  tu_rng r = {22};
  static const size_t ks[] = {1, 2, 255, 256, 257, 511, 512, 513, 700};
  for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
    for (int rep = 0; rep < 3; rep++) {
      gcase g = random_case(&r, 20, 40, 1);
      g.k = ks[i];
      g.lda = (g.ta ? g.m : g.k) + 1;
      g.ldb = (g.tb ? g.k : g.n);
      g.beta = rep == 0 ? 0.0f : 0.5f;
      check_case(&r, &g, 1, 0);
    }
}

/* bigger and random shapes, the n block (1024), NaN and Inf */
static void test_random(void **state) {
  (void)state;
  tu_rng r = {23};
  for (int rep = 0; rep < 150; rep++) {
    gcase g = random_case(&r, 90, 90, 90);
    check_case(&r, &g, rep % 5 == 0, rep % 10 == 9);
  }
  gcase big = random_case(&r, 1, 1, 1);
  big.m = 37;
  big.n = 1100;
  big.k = 300;
  big.lda = big.ta ? big.m : big.k;
  big.ldb = big.tb ? big.k : big.n;
  big.ldc = big.n;
  check_case(&r, &big, 1, 0);
}

/* beta = 0: C is write-only (NaN there does not leak); the public entry point
 * gives the scalar bits; alpha = 1 and no epilogue is the plain product */
static void test_semantics(void **state) {
  (void)state;
  tu_rng r = {24};
  const size_t m = 13, n = 21, k = 17;
  float *a = malloc(m * k * 4), *b = malloc(k * n * 4), *c = malloc(m * n * 4);
  float *cs = malloc(m * n * 4);
  tu_fill(&r, a, m * k, -1, 1);
  tu_fill(&r, b, k * n, -1, 1);
  for (size_t i = 0; i < m * n; i++) c[i] = NAN;
  assert_int_equal(wsk_gemm(WSK_NO_TRANS, WSK_NO_TRANS, (int64_t)m, (int64_t)n, (int64_t)k, 1.0f,
                            a, (int64_t)k, b, (int64_t)n, 0.0f, c, (int64_t)n, NULL, WSK_ACT_NONE),
                   WSK_OK);
  for (size_t i = 0; i < m * n; i++) assert_false(isnan(c[i]));
  assert_int_equal(wsk__gemm_with(&wsk_gemm_ukernels__scalar, &wsk_eltwise_ukernels__scalar, 0, 0,
                                  m, n, k, 1.0f, a, k, b, n, 0.0f, cs, n, NULL, WSK_ACT_NONE),
                   WSK_OK);
  tu_assert_bits(cs, c, m * n, "wsk_gemm");
  /* the fmaf chain itself, for one element */
  float acc = 0.0f;
  for (size_t p = 0; p < k; p++) acc = fmaf(a[3 * k + p], b[p * n + 5], acc);
  assert_true(memcmp(&acc, &c[3 * n + 5], 4) == 0);
  free(a);
  free(b);
  free(c);
  free(cs);
}

/* The same bits for 1, 2, 3 and 7 threads (tasks split m and n). */
static void test_threads(void **state) {
  (void)state;
  tu_rng r = {26};
  static const int counts[] = {1, 2, 3, 7};
  for (int rep = 0; rep < 12; rep++) {
    gcase g = random_case(&r, 300, 600, 300);
    gdata d;
    make(&r, &g, &d, 0);
    float *ref = malloc(d.nc * sizeof(float)), *c = malloc(d.nc * sizeof(float));
    for (size_t t = 0; t < sizeof counts / sizeof counts[0]; t++) {
      assert_int_equal(wsk_threads_set_count(counts[t]), WSK_OK);
      memcpy(c, d.c0, d.nc * sizeof(float));
      assert_int_equal(wsk_gemm((wsk_trans)g.ta, (wsk_trans)g.tb, (int64_t)g.m, (int64_t)g.n,
                                (int64_t)g.k, g.alpha, d.a, (int64_t)g.lda, d.b, (int64_t)g.ldb,
                                g.beta, c, (int64_t)g.ldc, g.bias ? d.bias : NULL,
                                (wsk_activation)g.act),
                       WSK_OK);
      if (t == 0)
        memcpy(ref, c, d.nc * sizeof(float));
      else
        tu_assert_bits(ref, c, d.nc, "thread count");
    }
    free(ref);
    free(c);
    drop(&d);
  }
}

static void test_digest(void **state) {
  (void)state;
  tu_rng r = {25};
  uint64_t h = TU_DIGEST_INIT;
  for (int rep = 0; rep < 40; rep++) {
    gcase g = random_case(&r, 70, 70, 300);
    g.act = rep % 2 ? WSK_ACT_RELU : WSK_ACT_NONE;
    gdata d;
    make(&r, &g, &d, 0);
    float *c = malloc(d.nc * sizeof(float));
    memcpy(c, d.c0, d.nc * sizeof(float));
    assert_int_equal(wsk_gemm((wsk_trans)g.ta, (wsk_trans)g.tb, (int64_t)g.m, (int64_t)g.n,
                              (int64_t)g.k, g.alpha, d.a, (int64_t)g.lda, d.b, (int64_t)g.ldb,
                              g.beta, c, (int64_t)g.ldc, g.bias ? d.bias : NULL,
                              (wsk_activation)g.act),
                     WSK_OK);
    h = tu_digest(h, c, d.nc);
    free(c);
    drop(&d);
  }
  tu_assert_digest("gemm", h, GEMM_DIGEST);
}

static void test_bad_input(void **state) {
  (void)state;
  float a[64] = {0}, b[64] = {0}, c[64];
  assert_int_equal(wsk_gemm(WSK_NO_TRANS, WSK_NO_TRANS, 4, 4, 4, 1, NULL, 4, b, 4, 0, c, 4, NULL,
                            WSK_ACT_NONE),
                   WSK_ERR_NULL);
  assert_int_equal(wsk_gemm(WSK_NO_TRANS, WSK_NO_TRANS, 0, 4, 4, 1, a, 4, b, 4, 0, c, 4, NULL,
                            WSK_ACT_NONE),
                   WSK_ERR_SIZE);
  assert_int_equal(wsk_gemm(WSK_NO_TRANS, WSK_NO_TRANS, 4, 4, -1, 1, a, 4, b, 4, 0, c, 4, NULL,
                            WSK_ACT_NONE),
                   WSK_ERR_SIZE);
  assert_int_equal(wsk_gemm(WSK_NO_TRANS, WSK_NO_TRANS, 4, 4, 4, 1, a, 3, b, 4, 0, c, 4, NULL,
                            WSK_ACT_NONE),
                   WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "leading"));
  assert_int_equal(wsk_gemm(WSK_TRANS, WSK_NO_TRANS, 2, 4, 4, 1, a, 1, b, 4, 0, c, 4, NULL,
                            WSK_ACT_NONE),
                   WSK_ERR_ARG);
  assert_int_equal(wsk_gemm((wsk_trans)5, WSK_NO_TRANS, 4, 4, 4, 1, a, 4, b, 4, 0, c, 4, NULL,
                            WSK_ACT_NONE),
                   WSK_ERR_ARG);
  assert_int_equal(wsk_gemm(WSK_NO_TRANS, WSK_NO_TRANS, 4, 4, 4, 1, a, 4, b, 4, 0, c, 4, NULL,
                            (wsk_activation)9),
                   WSK_ERR_ARG);
  assert_int_equal(wsk_gemm(WSK_NO_TRANS, WSK_NO_TRANS, 4, 4, 4, 1, a, 4, b, 4, 0, a + 2, 4, NULL,
                            WSK_ACT_NONE),
                   WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "overlap"));
  assert_int_equal(wsk_gemm(WSK_NO_TRANS, WSK_NO_TRANS, INT64_MAX / 2, 4, 4, 1, a, 4, b, 4, 0, c,
                            INT64_MAX / 2, NULL, WSK_ACT_NONE),
                   WSK_ERR_OVERFLOW);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tails),     cmocka_unit_test(test_k_blocks),
      cmocka_unit_test(test_random),    cmocka_unit_test(test_semantics),
      cmocka_unit_test(test_threads),   cmocka_unit_test(test_digest),
      cmocka_unit_test(test_bad_input),
  };
  printf("gemm implementations:");
  for (size_t t = 0; t < N_GEMM; t++) printf(" %s", gemm_impls[t].name);
  printf("\n");
  const int rc = cmocka_run_group_tests_name("gemm", tests, NULL, NULL);
  printf("gemm: %ld cases checked\n", g_checked);
  return rc;
}
