/* kernels/eltwise/eltwise-scalar.c — the reference implementation of the
 * eltwise family: plain C, always built, the test oracle of the SIMD tiers
 * (eltwise-avx2.c, eltwise-avx512.c, eltwise-neon.c, which share
 * kernels/simd/eltwise-body.h) and the last fallback of the dispatch.
 *
 * Written directly from the definitions of wsk/eltwise.h: one element at a
 * time, row reductions in an array of 64 partial sums folded by the halving
 * tree. Transcendentals: SLEEF's 1-lane deterministic functions
 * (Sleef_finz_*f1_*purecfma), the same bits as the vector ones.
 */
#include <math.h>

#include <sleef.h>

#include "kernels/ukernels.h"

/* sleef.h declares the purecfma functions only when the compiler targets FMA
 * (FP_FAST_FMA); this file is built with baseline flags. They use the FMA
 * instruction: the transcendentals of this tier need an FMA-capable CPU. */
float Sleef_finz_expf1_u10purecfma(float);
float Sleef_finz_tanhf1_u10purecfma(float);
float Sleef_finz_erfcf1_u15purecfma(float);

#define LANES WSK_ELTWISE_LANES

static const float RSQRT2_NEG = -0x1.6a09e6p-1f;   /* -1/sqrt(2) */
static const float RSQRT2PI = 0x1.988454p-2f;      /* 1/sqrt(2 pi) */

/* ---- the canonical row reductions ---- */

static float tree_sum(float *s) {
  for (size_t h = LANES / 2; h >= 1; h /= 2)
    for (size_t q = 0; q < h; q++) s[q] = s[q] + s[q + h];
  return s[0];
}

static float row_sum(size_t n, const float *x) {
  float s[LANES];
  for (size_t q = 0; q < LANES; q++) s[q] = -0.0f;
  for (size_t i = 0; i < n; i++) s[i % LANES] = s[i % LANES] + x[i];
  return tree_sum(s);
}

static float max_step(float s, float v) { return v > s ? v : s; }

static float row_max(size_t n, const float *x) {
  float s[LANES];
  for (size_t q = 0; q < LANES; q++) s[q] = -INFINITY;
  for (size_t i = 0; i < n; i++) s[i % LANES] = max_step(s[i % LANES], x[i]);
  for (size_t h = LANES / 2; h >= 1; h /= 2)
    for (size_t q = 0; q < h; q++) s[q] = max_step(s[q], s[q + h]);
  return s[0];
}

/* ---- activations ---- */

static float relu1(float x) { return x <= 0.0f ? 0.0f : x; }

static float gelu1(float x) {
  const float t = x * RSQRT2_NEG;
  const float e = Sleef_finz_erfcf1_u15purecfma(t);
  const float xl = x < -64.0f ? -64.0f : x;
  const float h = 0.5f * xl;
  return h * e;
}

static float sigmoid1(float x) {
  const float e = Sleef_finz_expf1_u10purecfma(-x);
  const float s = 1.0f + e;
  return 1.0f / s;
}

static void relu__scalar(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) y[i] = relu1(x[i]);
}
static void gelu__scalar(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) y[i] = gelu1(x[i]);
}
static void tanh__scalar(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) y[i] = Sleef_finz_tanhf1_u10purecfma(x[i]);
}
static void sigmoid__scalar(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) y[i] = sigmoid1(x[i]);
}

/* ---- backwards ---- */

static void relu_backward__scalar(size_t n, const float *x, const float *dy, float *dx) {
  for (size_t i = 0; i < n; i++) {
    const float v = x[i];
    dx[i] = 0.0f < v ? dy[i] : (v <= 0.0f ? 0.0f : v);
  }
}

static void gelu_backward__scalar(size_t n, const float *x, const float *dy, float *dx) {
  for (size_t i = 0; i < n; i++) {
    const float v = x[i];
    const float xc = 64.0f < v ? 64.0f : (v < -64.0f ? -64.0f : v);
    const float t = v * RSQRT2_NEG;
    const float e = Sleef_finz_erfcf1_u15purecfma(t);
    const float a = 0.5f * e;
    const float m = xc * xc;
    const float q = m * -0.5f;
    const float p = Sleef_finz_expf1_u10purecfma(q);
    const float b = xc * RSQRT2PI;
    const float d = fmaf(b, p, a);
    dx[i] = dy[i] * d;
  }
}

static void tanh_backward__scalar(size_t n, const float *y, const float *dy, float *dx) {
  for (size_t i = 0; i < n; i++) {
    const float a = 1.0f - y[i];
    const float b = 1.0f + y[i];
    const float d = a * b;
    dx[i] = dy[i] * d;
  }
}

static void sigmoid_backward__scalar(size_t n, const float *y, const float *dy, float *dx) {
  for (size_t i = 0; i < n; i++) {
    const float o = 1.0f - y[i];
    const float d = y[i] * o;
    dx[i] = dy[i] * d;
  }
}

/* ---- softmax ---- */

static void softmax__scalar(size_t rows, size_t n, const float *x, float *y) {
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    const float m = row_max(n, xr);
    for (size_t i = 0; i < n; i++) yr[i] = Sleef_finz_expf1_u10purecfma(xr[i] - m);
    const float s = row_sum(n, yr);
    for (size_t i = 0; i < n; i++) yr[i] = yr[i] / s;
  }
}

static void softmax_backward__scalar(size_t rows, size_t n, const float *y, const float *dy,
                                     float *dx) {
  for (size_t r = 0; r < rows; r++) {
    const float *yr = y + r * n, *gr = dy + r * n;
    float *dr = dx + r * n;
    float s[LANES];
    for (size_t q = 0; q < LANES; q++) s[q] = -0.0f;
    for (size_t i = 0; i < n; i++) s[i % LANES] = fmaf(gr[i], yr[i], s[i % LANES]);
    const float d = tree_sum(s);
    for (size_t i = 0; i < n; i++) {
      const float g = gr[i] - d;
      dr[i] = yr[i] * g;
    }
  }
}

/* ---- layer norm ---- */

static void layernorm__scalar(size_t rows, size_t n, float eps, const float *x,
                              const float *gamma, const float *beta, float *y, float *mean,
                              float *rstd) {
  const float fn = (float)n;
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    const float mu = row_sum(n, xr) / fn;
    float s[LANES];
    for (size_t q = 0; q < LANES; q++) s[q] = -0.0f;
    for (size_t i = 0; i < n; i++) {
      const float d = xr[i] - mu;
      s[i % LANES] = fmaf(d, d, s[i % LANES]);
    }
    const float var = tree_sum(s) / fn;
    const float rs = 1.0f / sqrtf(var + eps);
    for (size_t i = 0; i < n; i++) {
      const float d = xr[i] - mu;
      const float h = d * rs;
      yr[i] = fmaf(h, gamma[i], beta[i]);
    }
    mean[r] = mu;
    rstd[r] = rs;
  }
}

static void layernorm_backward__scalar(size_t rows, size_t n, const float *x, const float *dy,
                                       const float *gamma, const float *mean, const float *rstd,
                                       float *dx, float *dgamma, float *dbeta) {
  const float fn = (float)n;
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * n, *gr = dy + r * n;
    float *dr = dx + r * n;
    const float mu = mean[r], rs = rstd[r];
    float s1[LANES], s2[LANES];
    for (size_t q = 0; q < LANES; q++) s1[q] = s2[q] = -0.0f;
    for (size_t i = 0; i < n; i++) {
      const float d = xr[i] - mu;
      const float h = d * rs;
      const float g = gr[i] * gamma[i];
      dbeta[i] = dbeta[i] + gr[i];
      dgamma[i] = fmaf(gr[i], h, dgamma[i]);
      s1[i % LANES] = s1[i % LANES] + g;
      s2[i % LANES] = fmaf(g, h, s2[i % LANES]);
    }
    const float a = tree_sum(s1) / fn;
    const float b = tree_sum(s2) / fn;
    for (size_t i = 0; i < n; i++) {
      const float d = xr[i] - mu;
      const float h = d * rs;
      const float g = gr[i] * gamma[i];
      const float t = fmaf(h, b, a);
      const float u = g - t;
      dr[i] = rs * u;
    }
  }
}

const wsk_eltwise_ukernels wsk_eltwise_ukernels__scalar = {
    WSK_ISA_SCALAR,
    relu__scalar,
    gelu__scalar,
    tanh__scalar,
    sigmoid__scalar,
    relu_backward__scalar,
    gelu_backward__scalar,
    tanh_backward__scalar,
    sigmoid_backward__scalar,
    softmax__scalar,
    softmax_backward__scalar,
    layernorm__scalar,
    layernorm_backward__scalar,
};
