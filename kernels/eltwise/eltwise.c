/* kernels/eltwise/eltwise.c — the public entry points of the eltwise family
 * (include/wsk/eltwise.h): argument checks, then the call through the
 * dispatch table. Built with baseline flags; the arithmetic lives in
 * eltwise-<isa>.c. */
#include <float.h>
#include <stdint.h>

#include "dispatch/error.h"
#include "kernels/ukernels.h"

/* a span of memory an argument occupies */
typedef struct span {
  const char *name;
  const void *p;
  size_t floats;
  int out;   /* an output */
  int group; /* an output may be the very same array as an input of its group (not 0) */
} span;

/* Checks a count: >= 1 and its bytes representable. */
static wsk_status check_count(const char *fn, const char *what, int64_t v) {
  if (v < 1) return wsk__fail(WSK_ERR_SIZE, "%s: %s = %lld, must be >= 1", fn, what, (long long)v);
  if ((uint64_t)v > SIZE_MAX / sizeof(float) || (uint64_t)v > (uint64_t)PTRDIFF_MAX / sizeof(float))
    return wsk__fail(WSK_ERR_OVERFLOW, "%s: %s = %lld overflows", fn, what, (long long)v);
  return WSK_OK;
}

/* rows * n floats, checked */
static wsk_status check_rows(const char *fn, int64_t rows, int64_t n, size_t *total) {
  WSK_TRY(check_count(fn, "rows", rows));
  WSK_TRY(check_count(fn, "n", n));
  size_t t, bytes;
  if (__builtin_mul_overflow((size_t)rows, (size_t)n, &t) ||
      __builtin_mul_overflow(t, sizeof(float), &bytes) || bytes > (size_t)PTRDIFF_MAX)
    return wsk__fail(WSK_ERR_OVERFLOW, "%s: rows * n overflows", fn);
  *total = t;
  return WSK_OK;
}

static int overlap(const span *a, const span *b) {
  const uintptr_t a0 = (uintptr_t)a->p, b0 = (uintptr_t)b->p;
  const uintptr_t a1 = a0 + a->floats * sizeof(float), b1 = b0 + b->floats * sizeof(float);
  return a0 < b1 && b0 < a1;
}

/* NULL pointers, then overlaps: an output may equal an input of its group
 * exactly (in place, the same start and size); any other overlap involving
 * an output fails. */
static wsk_status check_spans(const char *fn, const span *s, int count) {
  for (int i = 0; i < count; i++)
    if (!s[i].p) return wsk__fail(WSK_ERR_NULL, "%s: %s is NULL", fn, s[i].name);
  for (int i = 0; i < count; i++) {
    for (int j = i + 1; j < count; j++) {
      if (!s[i].out && !s[j].out) continue;
      if (!overlap(&s[i], &s[j])) continue;
      const int same = s[i].p == s[j].p && s[i].floats == s[j].floats &&
                       !(s[i].out && s[j].out) && s[i].group != 0 && s[i].group == s[j].group;
      if (!same)
        return wsk__fail(WSK_ERR_ARG, "%s: %s and %s overlap", fn, s[i].name, s[j].name);
    }
  }
  return WSK_OK;
}

typedef void (*unary_fn)(size_t n, const float *x, float *y);
typedef void (*binary_fn)(size_t n, const float *a, const float *dy, float *dx);

static wsk_status unary(const char *fn, int which, const float *x, int64_t n, float *y) {
  WSK_TRY(check_count(fn, "n", n));
  const span s[] = {{"x", x, (size_t)n, 0, 1}, {"y", y, (size_t)n, 1, 1}};
  WSK_TRY(check_spans(fn, s, 2));
  WSK_TRY(wsk__dispatch_ready());
  const wsk_eltwise_ukernels *t = wsk__eltwise_table();
  const unary_fn f[] = {t->relu, t->gelu, t->tanh, t->sigmoid};
  f[which]((size_t)n, x, y);
  return WSK_OK;
}

static wsk_status binary(const char *fn, int which, const char *aname, const float *a,
                         const float *dy, int64_t n, float *dx) {
  WSK_TRY(check_count(fn, "n", n));
  const span s[] = {{aname, a, (size_t)n, 0, 1}, {"dy", dy, (size_t)n, 0, 1}, {"dx", dx, (size_t)n, 1, 1}};
  WSK_TRY(check_spans(fn, s, 3));
  WSK_TRY(wsk__dispatch_ready());
  const wsk_eltwise_ukernels *t = wsk__eltwise_table();
  const binary_fn f[] = {t->relu_backward, t->gelu_backward, t->tanh_backward,
                         t->sigmoid_backward};
  f[which]((size_t)n, a, dy, dx);
  return WSK_OK;
}

wsk_status wsk_relu(const float *x, int64_t n, float *y) { return unary("wsk_relu", 0, x, n, y); }
wsk_status wsk_gelu(const float *x, int64_t n, float *y) { return unary("wsk_gelu", 1, x, n, y); }
wsk_status wsk_tanh(const float *x, int64_t n, float *y) { return unary("wsk_tanh", 2, x, n, y); }
wsk_status wsk_sigmoid(const float *x, int64_t n, float *y) {
  return unary("wsk_sigmoid", 3, x, n, y);
}

wsk_status wsk_relu_backward(const float *x, const float *dy, int64_t n, float *dx) {
  return binary("wsk_relu_backward", 0, "x", x, dy, n, dx);
}
wsk_status wsk_gelu_backward(const float *x, const float *dy, int64_t n, float *dx) {
  return binary("wsk_gelu_backward", 1, "x", x, dy, n, dx);
}
wsk_status wsk_tanh_backward(const float *y, const float *dy, int64_t n, float *dx) {
  return binary("wsk_tanh_backward", 2, "y", y, dy, n, dx);
}
wsk_status wsk_sigmoid_backward(const float *y, const float *dy, int64_t n, float *dx) {
  return binary("wsk_sigmoid_backward", 3, "y", y, dy, n, dx);
}

wsk_status wsk_softmax(const float *x, int64_t rows, int64_t n, float *y) {
  static const char fn[] = "wsk_softmax";
  size_t total = 0;
  WSK_TRY(check_rows(fn, rows, n, &total));
  const span s[] = {{"x", x, total, 0, 1}, {"y", y, total, 1, 1}};
  WSK_TRY(check_spans(fn, s, 2));
  WSK_TRY(wsk__dispatch_ready());
  wsk__eltwise_table()->softmax((size_t)rows, (size_t)n, x, y);
  return WSK_OK;
}

wsk_status wsk_softmax_backward(const float *y, const float *dy, int64_t rows, int64_t n,
                                float *dx) {
  static const char fn[] = "wsk_softmax_backward";
  size_t total = 0;
  WSK_TRY(check_rows(fn, rows, n, &total));
  const span s[] = {{"y", y, total, 0, 1}, {"dy", dy, total, 0, 1}, {"dx", dx, total, 1, 1}};
  WSK_TRY(check_spans(fn, s, 3));
  WSK_TRY(wsk__dispatch_ready());
  wsk__eltwise_table()->softmax_backward((size_t)rows, (size_t)n, y, dy, dx);
  return WSK_OK;
}

wsk_status wsk_layernorm(const float *x, int64_t rows, int64_t n, const float *gamma,
                         const float *beta, float eps, float *y, float *mean, float *rstd) {
  static const char fn[] = "wsk_layernorm";
  size_t total = 0;
  WSK_TRY(check_rows(fn, rows, n, &total));
  const size_t r = (size_t)rows, c = (size_t)n;
  const span s[] = {{"x", x, total, 0, 1},  {"gamma", gamma, c, 0, 0}, {"beta", beta, c, 0, 0},
                    {"y", y, total, 1, 1},  {"mean", mean, r, 1, 0},   {"rstd", rstd, r, 1, 0}};
  WSK_TRY(check_spans(fn, s, 6));
  if (!(eps >= 0.0f && eps <= FLT_MAX))
    return wsk__fail(WSK_ERR_ARG, "%s: eps = %g, must be finite and >= 0", fn, (double)eps);
  WSK_TRY(wsk__dispatch_ready());
  wsk__eltwise_table()->layernorm(r, c, eps, x, gamma, beta, y, mean, rstd);
  return WSK_OK;
}

wsk_status wsk_layernorm_backward(const float *x, const float *dy, int64_t rows, int64_t n,
                                  const float *gamma, const float *mean, const float *rstd,
                                  float *dx, float *dgamma, float *dbeta) {
  static const char fn[] = "wsk_layernorm_backward";
  size_t total = 0;
  WSK_TRY(check_rows(fn, rows, n, &total));
  const size_t r = (size_t)rows, c = (size_t)n;
  const span s[] = {{"x", x, total, 0, 1},       {"dy", dy, total, 0, 1},
                    {"gamma", gamma, c, 0, 0},    {"mean", mean, r, 0, 0},
                    {"rstd", rstd, r, 0, 0},      {"dx", dx, total, 1, 1},
                    {"dgamma", dgamma, c, 1, 0},  {"dbeta", dbeta, c, 1, 0}};
  WSK_TRY(check_spans(fn, s, 8));
  WSK_TRY(wsk__dispatch_ready());
  wsk__eltwise_table()->layernorm_backward(r, c, x, dy, gamma, mean, rstd, dx, dgamma, dbeta);
  return WSK_OK;
}
