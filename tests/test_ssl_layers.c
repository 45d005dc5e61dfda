/* tests/test_ssl_layers.c — the layers of the SSL transformer
 * (model/ssl_layers.h) against the double-precision reference of
 * tests/test_ssl_ref.h:
 *
 * - forward: every output within 1e-5 (1 + |y|) of the reference;
 * - backward: for L = sum R * y with a random R, the hand-written gradient
 *   of every parameter and every input entry against central differences of
 *   the double reference (step 1e-6): |g - fd| <= 1e-4 max(1, max |fd| of
 *   the tensor) — linear, layer norm, multi-head attention, FFN (GELU), the
 *   pre-norm block and the block at the first token only;
 * - gradients accumulate onto what the arrays hold;
 * - GELU's derivative (computed from the forward's output, model/ssl_layers.c)
 *   against Phi(a) + a phi(a) at 0, tiny, moderate, large and huge inputs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/ssl_layers.h"
#include "test_ssl_ref.h"
#include "testutil.h"

/* One layer under test: n_theta parameters, n_x inputs, n_y outputs. */
typedef struct layer_case {
  const char *name;
  int n_theta, n_x, n_y;
  int ntensors;
  const int *tensor_sizes; /* parameter tensors, in order */
  void *ctx;
  /* float forward + backward: y, and the gradients of L = sum R y */
  void (*grad)(void *ctx, const float *theta, const float *x, const float *r, float *y,
               float *gtheta, float *gx);
  /* double forward */
  void (*ref)(void *ctx, const double *theta, const double *x, double *y);
} layer_case;

static double ref_objective(const layer_case *lc, const double *theta, const double *x,
                            const double *r, double *y) {
  lc->ref(lc->ctx, theta, x, y);
  double s = 0;
  for (int i = 0; i < lc->n_y; i++) s += r[i] * y[i];
  return s;
}

/* Checks one block of gradient entries [first, first + n) of theta (or x). */
static void check_block(const char *layer, const char *what, const float *g, const double *fd,
                        int n) {
  double scale = 1.0;
  for (int i = 0; i < n; i++)
    if (fabs(fd[i]) > scale) scale = fabs(fd[i]);
  for (int i = 0; i < n; i++) {
    const double err = fabs((double)g[i] - fd[i]);
    if (err > 1e-4 * scale) {
      print_error("%s %s[%d]: analytic %.8g vs central difference %.8g (scale %.3g)\n", layer, what,
                  i, (double)g[i], fd[i], scale);
      fail();
    }
  }
}

static void run_case(const layer_case *lc, uint64_t seed) {
  tu_rng rng = {seed};
  float *theta = malloc(sizeof(float) * (size_t)lc->n_theta);
  float *x = malloc(sizeof(float) * (size_t)lc->n_x);
  float *r = malloc(sizeof(float) * (size_t)lc->n_y);
  float *y = malloc(sizeof(float) * (size_t)lc->n_y);
  float *gt = malloc(sizeof(float) * (size_t)lc->n_theta);
  float *gx = malloc(sizeof(float) * (size_t)lc->n_x);
  double *dt = malloc(sizeof(double) * (size_t)lc->n_theta);
  double *dx = malloc(sizeof(double) * (size_t)lc->n_x);
  double *dr = malloc(sizeof(double) * (size_t)lc->n_y);
  double *dy = malloc(sizeof(double) * (size_t)lc->n_y);
  double *fd_t = malloc(sizeof(double) * (size_t)lc->n_theta);
  double *fd_x = malloc(sizeof(double) * (size_t)lc->n_x);
  assert_non_null(fd_x);
  tu_fill(&rng, theta, (size_t)lc->n_theta, -0.5f, 0.5f);
  tu_fill(&rng, x, (size_t)lc->n_x, -1.0f, 1.0f);
  tu_fill(&rng, r, (size_t)lc->n_y, -1.0f, 1.0f);
  /* layer norm gains around 1 (the first tensor of a layer norm or block) */
  if (strncmp(lc->name, "layer norm", 10) == 0 || strncmp(lc->name, "block", 5) == 0)
    for (int i = 0; i < lc->tensor_sizes[0]; i++) theta[i] += 1.0f;
  if (strncmp(lc->name, "block", 5) == 0) {
    const int off = lc->tensor_sizes[0] + lc->tensor_sizes[1] + lc->tensor_sizes[2] +
                    lc->tensor_sizes[3] + lc->tensor_sizes[4] + lc->tensor_sizes[5];
    for (int i = 0; i < lc->tensor_sizes[6]; i++) theta[off + i] += 1.0f; /* ln2 gain */
  }
  for (int i = 0; i < lc->n_theta; i++) dt[i] = theta[i];
  for (int i = 0; i < lc->n_x; i++) dx[i] = x[i];
  for (int i = 0; i < lc->n_y; i++) dr[i] = r[i];

  lc->grad(lc->ctx, theta, x, r, y, gt, gx);
  ref_objective(lc, dt, dx, dr, dy);
  for (int i = 0; i < lc->n_y; i++)
    if (fabs((double)y[i] - dy[i]) > 1e-5 * (1 + fabs(dy[i]))) {
      print_error("%s: output %d = %.8g, reference %.8g\n", lc->name, i, (double)y[i], dy[i]);
      fail();
    }
  const double h = 1e-6;
  for (int i = 0; i < lc->n_theta; i++) {
    const double t0 = dt[i];
    dt[i] = t0 + h;
    const double lp = ref_objective(lc, dt, dx, dr, dy);
    dt[i] = t0 - h;
    const double lm = ref_objective(lc, dt, dx, dr, dy);
    dt[i] = t0;
    fd_t[i] = (lp - lm) / (2 * h);
  }
  for (int i = 0; i < lc->n_x; i++) {
    const double x0 = dx[i];
    dx[i] = x0 + h;
    const double lp = ref_objective(lc, dt, dx, dr, dy);
    dx[i] = x0 - h;
    const double lm = ref_objective(lc, dt, dx, dr, dy);
    dx[i] = x0;
    fd_x[i] = (lp - lm) / (2 * h);
  }
  int at = 0;
  for (int k = 0; k < lc->ntensors; k++) {
    char what[32];
    snprintf(what, sizeof what, "param%d", k);
    check_block(lc->name, what, gt + at, fd_t + at, lc->tensor_sizes[k]);
    at += lc->tensor_sizes[k];
  }
  check_block(lc->name, "input", gx, fd_x, lc->n_x);
  printf("  %-22s %5d parameters, %4d inputs: forward and gradients match\n", lc->name, lc->n_theta,
         lc->n_x);
  free(theta);
  free(x);
  free(r);
  free(y);
  free(gt);
  free(gx);
  free(dt);
  free(dx);
  free(dr);
  free(dy);
  free(fd_t);
  free(fd_x);
}

/* ---- linear ---- */

typedef struct lin_ctx {
  int rows, in, out;
} lin_ctx;

static void lin_grad(void *c, const float *th, const float *x, const float *r, float *y, float *gt,
                     float *gx) {
  const lin_ctx *k = c;
  const float *w = th, *b = th + k->out * k->in;
  assert_int_equal(wsk_ssl_linear_forward(k->rows, k->in, k->out, x, w, b, y, WSK_ACT_NONE, 0),
                   WSK_OK);
  memset(gt, 0, sizeof(float) * (size_t)(k->out * k->in + k->out));
  assert_int_equal(
      wsk_ssl_linear_backward(k->rows, k->in, k->out, x, w, r, gx, gt, gt + k->out * k->in),
      WSK_OK);
}
static void lin_ref(void *c, const double *th, const double *x, double *y) {
  const lin_ctx *k = c;
  ref_linear(k->rows, k->in, k->out, x, th, th + k->out * k->in, y);
}

static void test_linear(void **state) {
  (void)state;
  lin_ctx k = {5, 7, 6};
  const int sizes[] = {6 * 7, 6};
  const layer_case lc = {"linear", 48, 35, 30, 2, sizes, &k, lin_grad, lin_ref};
  run_case(&lc, 1);

  /* accumulation: dw and db are added onto what they hold */
  float x[35], w[42], dy[30], dx[35], g1[48], g2[48];
  tu_rng rng = {2};
  tu_fill(&rng, x, 35, -1, 1);
  tu_fill(&rng, w, 42, -1, 1);
  tu_fill(&rng, dy, 30, -1, 1);
  memset(g1, 0, sizeof g1);
  assert_int_equal(wsk_ssl_linear_backward(5, 7, 6, x, w, dy, dx, g1, g1 + 42), WSK_OK);
  for (int i = 0; i < 48; i++) g2[i] = 1.0f;
  assert_int_equal(wsk_ssl_linear_backward(5, 7, 6, x, w, dy, NULL, g2, g2 + 42), WSK_OK);
  for (int i = 0; i < 48; i++) assert_true(fabsf(g2[i] - (1.0f + g1[i])) <= 1e-6f);
}

/* ---- layer norm ---- */

static void ln_grad(void *c, const float *th, const float *x, const float *r, float *y, float *gt,
                    float *gx) {
  const lin_ctx *k = c; /* rows, n */
  float mean[16], rstd[16];
  assert_int_equal(wsk_ssl_ln_forward(k->rows, k->in, x, th, th + k->in, y, mean, rstd), WSK_OK);
  memset(gt, 0, sizeof(float) * (size_t)(2 * k->in));
  assert_int_equal(wsk_ssl_ln_backward(k->rows, k->in, x, r, th, mean, rstd, gx, gt, gt + k->in),
                   WSK_OK);
}
static void ln_ref(void *c, const double *th, const double *x, double *y) {
  const lin_ctx *k = c;
  ref_ln(k->rows, k->in, x, th, th + k->in, y);
}

static void test_layernorm(void **state) {
  (void)state;
  lin_ctx k = {4, 9, 0};
  const int sizes[] = {9, 9};
  const layer_case lc = {"layer norm", 18, 36, 36, 2, sizes, &k, ln_grad, ln_ref};
  run_case(&lc, 3);
}

/* ---- attention ---- */

typedef struct attn_ctx {
  int S, L, D, H;
} attn_ctx;

static void attn_grad(void *c, const float *th, const float *x, const float *r, float *y, float *gt,
                      float *gx) {
  const attn_ctx *k = c;
  const int D = k->D, rows = k->S * k->L;
  const wsk_ssl_attn_shape s = {k->S, k->L, D, k->H};
  wsk_ssl_attn_params p = {(float *)th, (float *)th + 3 * D * D, (float *)th + 3 * D * D + 3 * D,
                           (float *)th + 4 * D * D + 3 * D};
  wsk_ssl_attn_params g = {gt, gt + 3 * D * D, gt + 3 * D * D + 3 * D, gt + 4 * D * D + 3 * D};
  float *qkv = malloc(sizeof(float) * (size_t)(rows * 3 * D));
  float *o = malloc(sizeof(float) * (size_t)(rows * D));
  float *lse = malloc(sizeof(float) * (size_t)(k->S * k->H * k->L));
  float *do_ = malloc(sizeof(float) * (size_t)(rows * D));
  float *dqkv = malloc(sizeof(float) * (size_t)(rows * 3 * D));
  wsk_ssl_attn_cache cache = {qkv, o, lse};
  memset(y, 0, sizeof(float) * (size_t)(rows * D));
  assert_int_equal(wsk_ssl_attn_forward(&s, &p, x, &cache, y), WSK_OK);
  memset(gt, 0, sizeof(float) * (size_t)(4 * D * D + 4 * D));
  assert_int_equal(wsk_ssl_attn_backward(&s, &p, x, &cache, r, gx, &g, do_, dqkv), WSK_OK);
  free(qkv);
  free(o);
  free(lse);
  free(do_);
  free(dqkv);
}
static void attn_ref(void *c, const double *th, const double *x, double *y) {
  const attn_ctx *k = c;
  const int D = k->D;
  memset(y, 0, sizeof(double) * (size_t)(k->S * k->L * D));
  ref_attn(k->S, k->L, k->L, D, k->H, x, th, th + 3 * D * D, th + 3 * D * D + 3 * D,
           th + 4 * D * D + 3 * D, y);
}

static void test_attention(void **state) {
  (void)state;
  attn_ctx k = {2, 5, 8, 2};
  const int sizes[] = {3 * 64, 24, 64, 8};
  const layer_case lc = {
      "attention (2 heads)", 4 * 64 + 32, 80, 80, 4, sizes, &k, attn_grad, attn_ref};
  run_case(&lc, 4);
  attn_ctx k1 = {3, 4, 6, 1};
  const int sizes1[] = {3 * 36, 18, 36, 6};
  const layer_case lc1 = {
      "attention (1 head)", 4 * 36 + 24, 72, 72, 4, sizes1, &k1, attn_grad, attn_ref};
  run_case(&lc1, 5);
}

/* ---- FFN ---- */

typedef struct ffn_ctx {
  int rows, D, F;
} ffn_ctx;

static void ffn_grad(void *c, const float *th, const float *x, const float *r, float *y, float *gt,
                     float *gx) {
  const ffn_ctx *k = c;
  const int D = k->D, F = k->F;
  wsk_ssl_ffn_params p = {(float *)th, (float *)th + F * D, (float *)th + F * D + F,
                          (float *)th + 2 * F * D + F};
  wsk_ssl_ffn_params g = {gt, gt + F * D, gt + F * D + F, gt + 2 * F * D + F};
  float *a1 = malloc(sizeof(float) * (size_t)(k->rows * F));
  float *g1 = malloc(sizeof(float) * (size_t)(k->rows * F));
  float *da = malloc(sizeof(float) * (size_t)(2 * k->rows * F));
  memset(y, 0, sizeof(float) * (size_t)(k->rows * D));
  assert_int_equal(wsk_ssl_ffn_forward(k->rows, D, F, &p, x, a1, g1, y), WSK_OK);
  memset(gt, 0, sizeof(float) * (size_t)(2 * F * D + F + D));
  assert_int_equal(wsk_ssl_ffn_backward(k->rows, D, F, &p, x, a1, g1, r, gx, &g, da), WSK_OK);
  free(a1);
  free(g1);
  free(da);
}
static void ffn_ref(void *c, const double *th, const double *x, double *y) {
  const ffn_ctx *k = c;
  const int D = k->D, F = k->F;
  memset(y, 0, sizeof(double) * (size_t)(k->rows * D));
  ref_ffn(k->rows, D, F, x, th, th + F * D, th + F * D + F, th + 2 * F * D + F, y);
}

static void test_ffn(void **state) {
  (void)state;
  ffn_ctx k = {6, 8, 12};
  const int sizes[] = {96, 12, 96, 8};
  const layer_case lc = {"FFN (GELU)", 212, 48, 48, 4, sizes, &k, ffn_grad, ffn_ref};
  run_case(&lc, 6);
}

/* GELU'(a) through a 1 -> 1 -> 1 FFN: w1 = 1, b1 = a, w2 = 1, input 0, dy = 1
 * gives db1 = GELU'(a). */
static void test_gelu_derivative(void **state) {
  (void)state;
  const float as[] = {0.0f,   1e-35f, -1e-35f, 1e-3f, -1e-3f, 1.0f,     -1.0f,    2.5f,
                      -2.5f,  5.0f,   -5.0f,   10.0f, -10.0f, 30.0f,    -30.0f,   63.0f,
                      -63.0f, 70.0f,  -70.0f,  1e30f, -1e30f, INFINITY, -INFINITY};
  for (size_t i = 0; i < sizeof as / sizeof as[0]; i++) {
    float w1 = 1.0f, b1 = as[i], w2 = 1.0f, b2 = 0.0f, x = 0.0f, y = 0.0f, a1, g1, dy = 1.0f, dh,
          da[2];
    float g[4] = {0, 0, 0, 0};
    wsk_ssl_ffn_params p = {&w1, &b1, &w2, &b2}, gp = {&g[0], &g[1], &g[2], &g[3]};
    assert_int_equal(wsk_ssl_ffn_forward(1, 1, 1, &p, &x, &a1, &g1, &y), WSK_OK);
    assert_int_equal(wsk_ssl_ffn_backward(1, 1, 1, &p, &x, &a1, &g1, &dy, &dh, &gp, da), WSK_OK);
    const double a = as[i];
    double want;
    if (isinf(a))
      want = a > 0 ? 1.0 : 0.0;
    else
      want =
          0.5 * erfc(-a / sqrt(2.0)) + a * exp(-0.5 * a * a) / sqrt(2.0 * 3.14159265358979323846);
    if (!(fabs((double)g[1] - want) <= 1e-6 + 1e-5 * fabs(want))) {
      print_error("GELU'(%g) = %.9g, want %.9g\n", a, (double)g[1], want);
      fail();
    }
  }
}

/* ---- blocks ---- */

typedef struct block_ctx {
  int S, L, D, H, F, first;
} block_ctx;

static void block_grad(void *c, const float *th, const float *x, const float *r, float *y,
                       float *gt, float *gx) {
  const block_ctx *k = c;
  const wsk_ssl_block_shape s = {k->S, k->L, k->D, k->H, k->F};
  wsk_ssl_block_params p, g;
  wsk_ssl_block_params_at((float *)th, k->D, k->F, &p);
  wsk_ssl_block_params_at(gt, k->D, k->F, &g);
  float *cm = malloc(sizeof(float) * wsk_ssl_block_cache_floats(&s));
  float *scr = malloc(sizeof(float) * wsk_ssl_block_scratch_floats(&s));
  wsk_ssl_block_cache cache;
  wsk_ssl_block_cache_at(&s, cm, &cache);
  memset(gt, 0, sizeof(float) * wsk_ssl_block_param_count(k->D, k->F, NULL, NULL));
  if (k->first) {
    assert_int_equal(wsk_ssl_block_forward_first(&s, &p, x, &cache, y), WSK_OK);
    assert_int_equal(wsk_ssl_block_backward_first(&s, &p, x, &cache, r, gx, &g, scr), WSK_OK);
  } else {
    assert_int_equal(wsk_ssl_block_forward(&s, &p, x, &cache, y), WSK_OK);
    assert_int_equal(wsk_ssl_block_backward(&s, &p, x, &cache, r, gx, &g, scr), WSK_OK);
  }
  free(cm);
  free(scr);
}
static void block_ref(void *c, const double *th, const double *x, double *y) {
  const block_ctx *k = c;
  ref_block_p p;
  ref_block_at(th, k->D, k->F, &p);
  ref_block(k->S, k->L, k->D, k->H, k->F, &p, x, k->first, y);
}

static void run_block(int first, uint64_t seed) {
  block_ctx k = {2, 5, 8, 2, 16, first};
  size_t sz[WSK_SSL_BLOCK_TENSORS];
  const int n = (int)wsk_ssl_block_param_count(8, 16, sz, NULL);
  int sizes[WSK_SSL_BLOCK_TENSORS];
  for (int i = 0; i < WSK_SSL_BLOCK_TENSORS; i++) sizes[i] = (int)sz[i];
  const layer_case lc = {first ? "block (first token)" : "block",
                         n,
                         80,
                         first ? 16 : 80,
                         WSK_SSL_BLOCK_TENSORS,
                         sizes,
                         &k,
                         block_grad,
                         block_ref};
  run_case(&lc, seed);
}

static void test_block(void **state) {
  (void)state;
  run_block(0, 7);
}

static void test_block_first(void **state) {
  (void)state;
  run_block(1, 8);
  /* its output equals the full block's rows at token 0 (the same bits) */
  const wsk_ssl_block_shape s = {3, 6, 8, 2, 16};
  const size_t np = wsk_ssl_block_param_count(8, 16, NULL, NULL);
  float *th = malloc(sizeof(float) * np), x[3 * 6 * 8], yf[3 * 6 * 8], y1[3 * 8];
  tu_rng rng = {9};
  tu_fill(&rng, th, np, -0.5f, 0.5f);
  tu_fill(&rng, x, 3 * 6 * 8, -1, 1);
  wsk_ssl_block_params p;
  wsk_ssl_block_params_at(th, 8, 16, &p);
  float *cm = malloc(sizeof(float) * wsk_ssl_block_cache_floats(&s));
  wsk_ssl_block_cache c;
  wsk_ssl_block_cache_at(&s, cm, &c);
  assert_int_equal(wsk_ssl_block_forward(&s, &p, x, &c, yf), WSK_OK);
  assert_int_equal(wsk_ssl_block_forward_first(&s, &p, x, &c, y1), WSK_OK);
  for (int i = 0; i < 3; i++) tu_assert_bits(y1 + i * 8, yf + i * 6 * 8, 8, "first-token block");
  free(th);
  free(cm);
}

static void test_bad_arguments(void **state) {
  (void)state;
  const wsk_ssl_attn_shape s = {1, 2, 6, 4}; /* 4 heads do not divide 6 */
  float buf[256] = {0};
  wsk_ssl_attn_params p = {buf, buf, buf, buf};
  wsk_ssl_attn_cache c = {buf, buf, buf};
  assert_int_equal(wsk_ssl_attn_forward(&s, &p, buf, &c, buf + 128), WSK_ERR_ARG);
  assert_int_equal(wsk_ssl_linear_forward(2, 2, 2, buf, buf, NULL, buf + 8, WSK_ACT_RELU, 1),
                   WSK_ERR_ARG);
  assert_int_equal(wsk_ssl_linear_forward(0, 2, 2, buf, buf, NULL, buf + 8, WSK_ACT_NONE, 0),
                   WSK_ERR_SIZE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_linear),          cmocka_unit_test(test_layernorm),
      cmocka_unit_test(test_attention),       cmocka_unit_test(test_ffn),
      cmocka_unit_test(test_gelu_derivative), cmocka_unit_test(test_block),
      cmocka_unit_test(test_block_first),     cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
