/* kernels/simd/eltwise-body.h — the eltwise family written once over the
 * 16-float vector v16, included by eltwise-avx2.c, eltwise-avx512.c and
 * eltwise-neon.c after their vec16-<isa>.h. Its scalar twin, and the
 * definition of every result bit, is kernels/eltwise/eltwise-scalar.c
 * (from the definitions of include/wsk/eltwise.h).
 *
 * The includer defines WSK_BODY_ISA (the suffix, e.g. avx2) and
 * WSK_BODY_ISA_ENUM (e.g. WSK_ISA_AVX2).
 *
 * Element-wise ops: 16 elements per step, each lane the scalar formula.
 * Row reductions: the 64-lane virtual vector of wsk/eltwise.h is four v16
 * laid along the row (partial q is lane q mod 16 of acc[q / 16]), folded by
 * the halving tree at the end of the row.
 * Tails: a partial v16 is loaded with a harmless fill, computed in full, and
 * stored with a lane mask; for the reductions, lanes past the row keep their
 * accumulator unchanged (v16_keep), exactly as the scalar partials that
 * receive no term.
 */
#include <math.h>

#include "kernels/ukernels.h"

#ifndef WSK_BODY_ISA
#error "define WSK_BODY_ISA before including eltwise-body.h"
#endif

#define EW_CAT2(a, b) a##__##b
#define EW_CAT(a, b) EW_CAT2(a, b)
#define EW_FN(name) EW_CAT(name, WSK_BODY_ISA)
#define EW_TABLE EW_CAT(wsk_eltwise_ukernels, WSK_BODY_ISA)

#define EW_RSQRT2_NEG (-0x1.6a09e6p-1f) /* -1/sqrt(2) */
#define EW_RSQRT2PI 0x1.988454p-2f      /* 1/sqrt(2 pi) */

/* ---- element-wise formulas (one v16 of the scalar ones) ---- */

static inline v16 EW_FN(relu_v)(v16 x) {
  const v16 z = v16_set1(0.0f);
  return v16_sel_le(x, z, z, x);
}

static inline v16 EW_FN(gelu_v)(v16 x) {
  const v16 t = v16_mul(x, v16_set1(EW_RSQRT2_NEG));
  const v16 e = v16_erfc(t);
  const v16 nlim = v16_set1(-64.0f);
  const v16 h = v16_mul(v16_set1(0.5f), v16_sel_lt(x, nlim, nlim, x));
  return v16_mul(h, e);
}

static inline v16 EW_FN(sigmoid_v)(v16 x) {
  const v16 one = v16_set1(1.0f);
  const v16 e = v16_exp(v16_neg(x));
  const v16 s = v16_add(one, e);
  return v16_div(one, s);
}

static inline v16 EW_FN(relu_bw)(v16 x, v16 dy) {
  const v16 z = v16_set1(0.0f);
  return v16_sel_lt(z, x, dy, v16_sel_le(x, z, z, x));
}

static inline v16 EW_FN(gelu_bw)(v16 x, v16 dy) {
  const v16 lim = v16_set1(64.0f), nlim = v16_set1(-64.0f);
  const v16 xc = v16_sel_lt(lim, x, lim, v16_sel_lt(x, nlim, nlim, x));
  const v16 t = v16_mul(x, v16_set1(EW_RSQRT2_NEG));
  const v16 e = v16_erfc(t);
  const v16 a = v16_mul(v16_set1(0.5f), e);
  const v16 m = v16_mul(xc, xc);
  const v16 q = v16_mul(m, v16_set1(-0.5f));
  const v16 p = v16_exp(q);
  const v16 b = v16_mul(xc, v16_set1(EW_RSQRT2PI));
  const v16 d = v16_fma(b, p, a);
  return v16_mul(dy, d);
}

static inline v16 EW_FN(tanh_bw)(v16 y, v16 dy) {
  const v16 one = v16_set1(1.0f);
  const v16 d = v16_mul(v16_sub(one, y), v16_add(one, y));
  return v16_mul(dy, d);
}

static inline v16 EW_FN(sigmoid_bw)(v16 y, v16 dy) {
  const v16 o = v16_sub(v16_set1(1.0f), y);
  const v16 d = v16_mul(y, o);
  return v16_mul(dy, d);
}

/* y[i] = OP(x[i]) */
#define EW_UNARY(name, OP)                                                        \
  static void EW_FN(name)(size_t n, const float *x, float *y) {                   \
    size_t i = 0;                                                                 \
    for (; i + 32 <= n; i += 32) {                                                \
      const v16 a = OP(v16_loadu(x + i)), b = OP(v16_loadu(x + i + 16));          \
      v16_storeu(y + i, a);                                                       \
      v16_storeu(y + i + 16, b);                                                  \
    }                                                                             \
    for (; i + 16 <= n; i += 16) v16_storeu(y + i, OP(v16_loadu(x + i)));         \
    if (i < n) v16_store_part(y + i, OP(v16_load_part(x + i, n - i, 0.0f)), n - i); \
  }

/* dx[i] = OP(a[i], dy[i]) */
#define EW_BINARY(name, OP)                                                           \
  static void EW_FN(name)(size_t n, const float *a, const float *dy, float *dx) {     \
    size_t i = 0;                                                                     \
    for (; i + 16 <= n; i += 16) v16_storeu(dx + i, OP(v16_loadu(a + i), v16_loadu(dy + i))); \
    if (i < n)                                                                        \
      v16_store_part(dx + i,                                                          \
                     OP(v16_load_part(a + i, n - i, 0.0f), v16_load_part(dy + i, n - i, 0.0f)), \
                     n - i);                                                          \
  }

static inline v16 EW_FN(tanh_v)(v16 x) { return v16_tanh(x); }

EW_UNARY(relu, EW_FN(relu_v))
EW_UNARY(gelu, EW_FN(gelu_v))
EW_UNARY(tanh, EW_FN(tanh_v))
EW_UNARY(sigmoid, EW_FN(sigmoid_v))
EW_BINARY(relu_backward, EW_FN(relu_bw))
EW_BINARY(gelu_backward, EW_FN(gelu_bw))
EW_BINARY(tanh_backward, EW_FN(tanh_bw))
EW_BINARY(sigmoid_backward, EW_FN(sigmoid_bw))

/* ---- the 64-lane virtual vector ---- */

static inline void EW_FN(acc_init)(v16 *acc, float v) {
  for (int k = 0; k < 4; k++) acc[k] = v16_set1(v);
}

/* the halving tree of the sums: h = 32, 16, then 8 .. 1 inside a v16 */
static inline float EW_FN(fold_sum)(v16 *acc) {
  const v16 a = v16_add(acc[0], acc[2]), b = v16_add(acc[1], acc[3]);
  return v16_first(v16_fold(v16_add(a, b), 1));
}

/* the halving tree of the maximum (the scalar step s = b > s ? b : s) */
static inline float EW_FN(fold_max)(v16 *acc) {
  const v16 a = v16_max(acc[0], acc[2]), b = v16_max(acc[1], acc[3]);
  float s[16];
  v16_storeu(s, v16_max(a, b));
  for (size_t h = 8; h >= 1; h /= 2)
    for (size_t q = 0; q < h; q++) s[q] = s[q + h] > s[q] ? s[q + h] : s[q];
  return s[0];
}

/* Runs over a row of n floats in 64-float blocks: for the element block at
 * offset i (16 floats, m of them real, 0 < m <= 16), STEP(k, i, m) updates
 * acc[k]. Lanes past m must be left unchanged by STEP (use v16_keep). */
#define EW_ROW(n, STEP)                                   \
  do {                                                    \
    size_t i_ = 0;                                        \
    for (; i_ + 64 <= (n); i_ += 64) {                    \
      STEP(0, i_, 16);                                    \
      STEP(1, i_ + 16, 16);                               \
      STEP(2, i_ + 32, 16);                               \
      STEP(3, i_ + 48, 16);                               \
    }                                                     \
    for (size_t k_ = 0; i_ < (n); k_++, i_ += 16) {       \
      const size_t m_ = (n) - i_ < 16 ? (n) - i_ : 16;    \
      STEP(k_, i_, m_);                                   \
    }                                                     \
  } while (0)

/* a full or partial load of 16 floats */
static inline v16 EW_FN(ld)(const float *p, size_t m, float fill) {
  return m == 16 ? v16_loadu(p) : v16_load_part(p, m, fill);
}
static inline void EW_FN(st)(float *p, v16 a, size_t m) {
  if (m == 16)
    v16_storeu(p, a);
  else
    v16_store_part(p, a, m);
}
/* acc updated to nv in lanes [0, m) only */
static inline v16 EW_FN(upd)(v16 nv, size_t m, v16 acc) {
  return m == 16 ? nv : v16_keep(nv, m, acc);
}

static float EW_FN(row_sum)(size_t n, const float *x) {
  v16 acc[4];
  EW_FN(acc_init)(acc, -0.0f);
#define STEP(k, i, m) acc[k] = v16_add(acc[k], EW_FN(ld)(x + (i), m, -0.0f))
  EW_ROW(n, STEP);
#undef STEP
  return EW_FN(fold_sum)(acc);
}

static float EW_FN(row_max)(size_t n, const float *x) {
  v16 acc[4];
  EW_FN(acc_init)(acc, -INFINITY);
#define STEP(k, i, m) acc[k] = v16_max(acc[k], EW_FN(ld)(x + (i), m, -INFINITY))
  EW_ROW(n, STEP);
#undef STEP
  return EW_FN(fold_max)(acc);
}

/* ---- softmax ---- */

static void EW_FN(softmax)(size_t rows, size_t n, const float *x, float *y) {
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    const v16 mv = v16_set1(EW_FN(row_max)(n, xr));
    v16 acc[4];
    EW_FN(acc_init)(acc, -0.0f);
#define STEP(k, i, m)                                                    \
  do {                                                                   \
    const v16 e = v16_exp(v16_sub(EW_FN(ld)(xr + (i), m, 0.0f), mv));    \
    EW_FN(st)(yr + (i), e, m);                                           \
    acc[k] = EW_FN(upd)(v16_add(acc[k], e), m, acc[k]);                  \
  } while (0)
    EW_ROW(n, STEP);
#undef STEP
    const v16 s = v16_set1(EW_FN(fold_sum)(acc));
    size_t i = 0;
    for (; i + 16 <= n; i += 16) v16_storeu(yr + i, v16_div(v16_loadu(yr + i), s));
    if (i < n) v16_store_part(yr + i, v16_div(v16_load_part(yr + i, n - i, 1.0f), s), n - i);
  }
}

static void EW_FN(softmax_backward)(size_t rows, size_t n, const float *y, const float *dy,
                                    float *dx) {
  for (size_t r = 0; r < rows; r++) {
    const float *yr = y + r * n, *gr = dy + r * n;
    float *dr = dx + r * n;
    v16 acc[4];
    EW_FN(acc_init)(acc, -0.0f);
#define STEP(k, i, m)                                                                     \
  acc[k] = EW_FN(upd)(v16_fma(EW_FN(ld)(gr + (i), m, 0.0f), EW_FN(ld)(yr + (i), m, 0.0f), \
                              acc[k]),                                                    \
                      m, acc[k])
    EW_ROW(n, STEP);
#undef STEP
    const v16 d = v16_set1(EW_FN(fold_sum)(acc));
    for (size_t i = 0; i < n; i += 16) {
      const size_t m = n - i < 16 ? n - i : 16;
      const v16 g = v16_sub(EW_FN(ld)(gr + i, m, 0.0f), d);
      EW_FN(st)(dr + i, v16_mul(EW_FN(ld)(yr + i, m, 0.0f), g), m);
    }
  }
}

/* ---- layer norm ---- */

static void EW_FN(layernorm)(size_t rows, size_t n, float eps, const float *x,
                             const float *gamma, const float *beta, float *y, float *mean,
                             float *rstd) {
  const float fn = (float)n;
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    const float mu = EW_FN(row_sum)(n, xr) / fn;
    const v16 muv = v16_set1(mu);
    v16 acc[4];
    EW_FN(acc_init)(acc, -0.0f);
#define STEP(k, i, m)                                                \
  do {                                                               \
    const v16 d = v16_sub(EW_FN(ld)(xr + (i), m, 0.0f), muv);        \
    acc[k] = EW_FN(upd)(v16_fma(d, d, acc[k]), m, acc[k]);           \
  } while (0)
    EW_ROW(n, STEP);
#undef STEP
    const float var = EW_FN(fold_sum)(acc) / fn;
    const float rs = 1.0f / sqrtf(var + eps);
    const v16 rsv = v16_set1(rs);
    for (size_t i = 0; i < n; i += 16) {
      const size_t m = n - i < 16 ? n - i : 16;
      const v16 d = v16_sub(EW_FN(ld)(xr + i, m, 0.0f), muv);
      const v16 h = v16_mul(d, rsv);
      EW_FN(st)(yr + i, v16_fma(h, EW_FN(ld)(gamma + i, m, 0.0f), EW_FN(ld)(beta + i, m, 0.0f)),
                m);
    }
    mean[r] = mu;
    rstd[r] = rs;
  }
}

static void EW_FN(layernorm_backward)(size_t rows, size_t n, const float *x, const float *dy,
                                      const float *gamma, const float *mean, const float *rstd,
                                      float *dx, float *dgamma, float *dbeta) {
  const float fn = (float)n;
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * n, *gr = dy + r * n;
    float *dr = dx + r * n;
    const v16 muv = v16_set1(mean[r]), rsv = v16_set1(rstd[r]);
    v16 s1[4], s2[4];
    EW_FN(acc_init)(s1, -0.0f);
    EW_FN(acc_init)(s2, -0.0f);
#define STEP(k, i, m)                                                              \
  do {                                                                             \
    const v16 h = v16_mul(v16_sub(EW_FN(ld)(xr + (i), m, 0.0f), muv), rsv);        \
    const v16 dyv = EW_FN(ld)(gr + (i), m, 0.0f);                                  \
    const v16 g = v16_mul(dyv, EW_FN(ld)(gamma + (i), m, 0.0f));                   \
    EW_FN(st)(dbeta + (i), v16_add(EW_FN(ld)(dbeta + (i), m, 0.0f), dyv), m);      \
    EW_FN(st)(dgamma + (i), v16_fma(dyv, h, EW_FN(ld)(dgamma + (i), m, 0.0f)), m); \
    s1[k] = EW_FN(upd)(v16_add(s1[k], g), m, s1[k]);                               \
    s2[k] = EW_FN(upd)(v16_fma(g, h, s2[k]), m, s2[k]);                            \
  } while (0)
    EW_ROW(n, STEP);
#undef STEP
    const v16 a = v16_set1(EW_FN(fold_sum)(s1) / fn);
    const v16 b = v16_set1(EW_FN(fold_sum)(s2) / fn);
    for (size_t i = 0; i < n; i += 16) {
      const size_t m = n - i < 16 ? n - i : 16;
      const v16 h = v16_mul(v16_sub(EW_FN(ld)(xr + i, m, 0.0f), muv), rsv);
      const v16 g = v16_mul(EW_FN(ld)(gr + i, m, 0.0f), EW_FN(ld)(gamma + i, m, 0.0f));
      const v16 t = v16_fma(h, b, a);
      EW_FN(st)(dr + i, v16_mul(rsv, v16_sub(g, t)), m);
    }
  }
}

const wsk_eltwise_ukernels EW_TABLE = {
    WSK_BODY_ISA_ENUM,
    EW_FN(relu),
    EW_FN(gelu),
    EW_FN(tanh),
    EW_FN(sigmoid),
    EW_FN(relu_backward),
    EW_FN(gelu_backward),
    EW_FN(tanh_backward),
    EW_FN(sigmoid_backward),
    EW_FN(softmax),
    EW_FN(softmax_backward),
    EW_FN(layernorm),
    EW_FN(layernorm_backward),
};
