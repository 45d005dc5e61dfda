/* wsk/eltwise.h — element-wise activations (ReLU, GELU, tanh, sigmoid),
 * row-wise softmax and layer norm, forward and backward.
 *
 * Tensors are fp32 and dense. The activations work on n elements; softmax and
 * layer norm on `rows` contiguous rows of n elements each (x[r][i]).
 *
 * Every result is defined below operation by operation: each named step is
 * one correctly rounded IEEE binary32 operation, fma(a, b, c) is a * b + c
 * with one rounding, and exp, tanh and erfc are SLEEF's deterministic
 * functions (Sleef_finz_expf*_u10, Sleef_finz_tanhf*_u10, Sleef_finz_erfcf*_u15),
 * which return the same bits at every vector width and on every ISA. So every
 * tier (scalar, AVX2, AVX-512, NEON) returns the same bits (the parity
 * contract). The scalar tier and the x86 vector tiers need FMA hardware for
 * these SLEEF functions (SLEEF's purecfma variant).
 *
 * Row reductions (the canonical order, as in wsk/permsum.h): a row sum
 *   S = sum over i < n of term(i)
 * puts term(i) into partial sum i mod 64; the 64 partial sums start at -0.0f
 * (the exact identity of IEEE addition), add their terms in increasing i, and
 * are combined by the halving tree s[q] = s[q] + s[q + h] for
 * h = 32, 16, 8, 4, 2, 1 and q < h. Where a term is marked "fma", partial
 * s = fma(a_i, b_i, s) instead of s + term. A row maximum M uses the same 64
 * partials, started at -Inf, with the step s = (v > s) ? v : s (a NaN v is
 * ignored; it still propagates through the steps that follow) and the same
 * tree with s[q] = (s[q + h] > s[q]) ? s[q + h] : s[q].
 *
 * Activations, i < n:
 *   relu:    y = (x <= 0) ? +0.0f : x                (NaN: x <= 0 is false, y = x)
 *   gelu:    y = 0.5 x erfc(-x / sqrt 2)  (= 0.5 x (1 + erf(x / sqrt 2)), the
 *            exact GELU, in the form that stays accurate for negative x):
 *              t = x * (-0x1.6a09e6p-1f)    [-1/sqrt(2) rounded]
 *              e = erfc(t);  h = 0.5f * xl;  y = h * e
 *            where xl = (x < -64) ? -64 : x (erfc(t) is exactly 0 there, so
 *            this changes no finite result and makes gelu(-Inf) = -0, not NaN)
 *   tanh:    y = tanh(x)
 *   sigmoid: e = exp(-x);  s = 1.0f + e;  y = 1.0f / s
 * Backwards (dx = dy * f'(x); tanh and sigmoid take the forward output y):
 *   relu:    dx = (0 < x) ? dy : ((x <= 0) ? +0.0f : x)   (NaN x gives x)
 *   gelu:    f'(x) = Phi(x) + x phi(x). With xc = x clamped to [-64, 64]
 *            (a NaN stays; beyond 64 the second term is exactly 0 anyway):
 *              t = x * (-0x1.6a09e6p-1f); e = erfc(t); a = 0.5f * e
 *              m = xc * xc; q = m * -0.5f; p = exp(q); b = xc * 0x1.988454p-2f
 *              d = fma(b, p, a); dx = dy * d        [0x1.988454p-2f = 1/sqrt(2 pi)]
 *   tanh:    a = 1.0f - y; b = 1.0f + y; d = a * b; dx = dy * d
 *            (not fma(-y, y, 1): -y and y are two NaNs of opposite sign,
 *            and which one an FMA returns differs between ISAs)
 *   sigmoid: o = 1.0f - y; d = y * o; dx = dy * d
 *
 * Softmax, per row:
 *   M = row maximum of x;  e_i = exp(x_i - M);  S = row sum of e_i;
 *   y_i = e_i / S.
 *   (A row holding NaN gives NaN everywhere; a +Inf gives Inf - Inf = NaN;
 *   a row of -Inf gives NaN, as IEEE arithmetic says.)
 * Softmax backward, per row, from y and dy:
 *   D = row sum, fma, of dy_i * y_i;  g_i = dy_i - D;  dx_i = y_i * g_i.
 *
 * Layer norm, per row, with gamma[n], beta[n], eps >= 0 (two passes):
 *   mu = (row sum of x_i) / (float)n
 *   d_i = x_i - mu;  var = (row sum, fma, of d_i * d_i) / (float)n
 *   rstd = 1.0f / sqrt(var + eps)        (IEEE sqrt and division)
 *   h_i = d_i * rstd;  y_i = fma(h_i, gamma_i, beta_i)
 *   mean[r] = mu, rstd[r] = rstd are saved for the backward.
 * Layer norm backward, per row r in increasing order, from x, dy, gamma and
 * the saved mean and rstd:
 *   h_i = (x_i - mu) * rstd            (the forward's h_i, same bits)
 *   g_i = dy_i * gamma_i
 *   dbeta_i  = dbeta_i + dy_i;  dgamma_i = fma(dy_i, h_i, dgamma_i)
 *   A = (row sum of g_i) / (float)n;  B = (row sum, fma, of g_i * h_i) / (float)n
 *   t_i = fma(h_i, B, A);  u_i = g_i - t_i;  dx_i = rstd * u_i
 *   dgamma and dbeta ACCUMULATE (over rows, in row order, onto what they
 *   hold: zero them first for a plain gradient).
 *
 * NaN: a NaN input gives NaN where IEEE arithmetic says so, in every tier;
 * the sign and payload of a NaN result are not part of the contract (an
 * operation that meets two NaNs returns one of them by operand position,
 * which compilers may commute). Every non-NaN result has the same bits in
 * every tier.
 *
 * Aliasing: an output may be the very same array as an input of the same
 * shape (in place: y == x, dx == dy, dx == x, dx == y); any other overlap of
 * an output with an input or with another output is WSK_ERR_ARG.
 *
 * Every function validates its arguments and returns WSK_OK or an error
 * (wsk/status.h) without touching any output: NULL pointer WSK_ERR_NULL,
 * n < 1 or rows < 1 WSK_ERR_SIZE, a size whose bytes overflow
 * WSK_ERR_OVERFLOW, a bad eps or overlap WSK_ERR_ARG.
 */
#ifndef WSK_ELTWISE_H
#define WSK_ELTWISE_H

#include <stddef.h>
#include <stdint.h>

#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSK_ELTWISE_LANES 64

/* y[i] = f(x[i]), i < n */
wsk_status wsk_relu(const float *x, int64_t n, float *y);
wsk_status wsk_gelu(const float *x, int64_t n, float *y);
wsk_status wsk_tanh(const float *x, int64_t n, float *y);
wsk_status wsk_sigmoid(const float *x, int64_t n, float *y);

/* dx[i] = dy[i] * f'(x[i]); relu and gelu take the input x, tanh and sigmoid
 * the forward output y */
wsk_status wsk_relu_backward(const float *x, const float *dy, int64_t n, float *dx);
wsk_status wsk_gelu_backward(const float *x, const float *dy, int64_t n, float *dx);
wsk_status wsk_tanh_backward(const float *y, const float *dy, int64_t n, float *dx);
wsk_status wsk_sigmoid_backward(const float *y, const float *dy, int64_t n, float *dx);

/* softmax of each row of x[rows][n] */
wsk_status wsk_softmax(const float *x, int64_t rows, int64_t n, float *y);
/* its backward from the forward output y[rows][n] and dy[rows][n] */
wsk_status wsk_softmax_backward(const float *y, const float *dy, int64_t rows, int64_t n,
                                float *dx);

/* layer norm of each row of x[rows][n]; saves mean[rows] and rstd[rows] */
wsk_status wsk_layernorm(const float *x, int64_t rows, int64_t n, const float *gamma,
                         const float *beta, float eps, float *y, float *mean, float *rstd);
/* its backward: dx[rows][n]; dgamma[n] and dbeta[n] accumulate */
wsk_status wsk_layernorm_backward(const float *x, const float *dy, int64_t rows, int64_t n,
                                  const float *gamma, const float *mean, const float *rstd,
                                  float *dx, float *dgamma, float *dbeta);

#ifdef __cplusplus
}
#endif
#endif /* WSK_ELTWISE_H */
