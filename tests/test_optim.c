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
 * - the same bits for 1, 2, 3 and 7 threads through the public functions;
 * - a cross-machine digest (recorded on x86-64, verified on aarch64); bad input.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define OPTIM_DIGEST 0x5d3446a9fa786be5ull

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

static const wsk_sgd_params sgd_cases[] = {{0.1f, 0.9f, 0.01f}, {0.05f, 0.0f, 0.0f},
                                           {1.5f, 0.99f, 0.5f}};
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
      if (!(fabs(y[r * o + c] - yo[c]) <= ey[c])) fail_at("mlp y", r * o + c, y[r * o + c], yo[c], ey[c]);
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
  for (size_t t = 0; t < sizeof counts / sizeof counts[0]; t++) {
    assert_int_equal(wsk_threads_set_count(counts[t]), WSK_OK);
    ucopy(&s, &s0, n);
    assert_int_equal(wsk_sgd_momentum((int64_t)n, s.w, s.g, s.m, &sgd_cases[0]), WSK_OK);
    assert_int_equal(wsk_adam((int64_t)n, s.w, s.g, s.m, s.v, &adam_cases[1]), WSK_OK);
    assert_int_equal(wsk_mlp3_forward(&m.net, (int64_t)rows, x, y), WSK_OK);
    if (t == 0) {
      ucopy(&ref, &s, n);
      memcpy(yref, y, rows * 2 * 4);
    } else {
      tu_assert_bits(ref.w, s.w, n, "threads w");
      tu_assert_bits(ref.m, s.m, n, "threads m");
      tu_assert_bits(ref.v, s.v, n, "threads v");
      tu_assert_bits(yref, y, rows * 2, "threads mlp");
    }
  }
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
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_updates),     cmocka_unit_test(test_mlp_widths),
      cmocka_unit_test(test_mlp_special), cmocka_unit_test(test_threads),
      cmocka_unit_test(test_digest),      cmocka_unit_test(test_bad_input),
  };
  printf("optim implementations:");
  for (size_t t = 0; t < N_OPTIM; t++) printf(" %s", optim_impls[t].name);
  printf("\n");
  const int rc = cmocka_run_group_tests_name("optim", tests, NULL, NULL);
  printf("optim: %ld cases checked\n", g_checked);
  return rc;
}
