/* wsk/optim.h — optimizer updates (SGD with momentum, Adam / AdamW, with
 * weight decay), the fused per-parameter MLP of a learned optimizer and its
 * element-wise work (features, update, the row dot product of a pointwise
 * head).
 *
 * Every result is defined below operation by operation: each named step is
 * one correctly rounded IEEE binary32 operation, fma(a, b, c) is a * b + c
 * with one rounding, sqrt is the IEEE square root (never an estimate), and
 * "/" one IEEE division. Every tier (scalar, AVX2, AVX-512, NEON) performs
 * exactly these steps per element, so all return the same bits (the parity
 * contract). The updates are element-wise: element i depends only on
 * element i of its arrays, so no blocking, alignment or thread count changes
 * a bit.
 *
 * SGD with momentum (PyTorch semantics, dampening 0, no Nesterov), i < n:
 *   if (wd != 0) gi = fma(wd, w[i], g[i]);  else gi = g[i]
 *   m[i] = fma(mu, m[i], gi)
 *   w[i] = fma(-lr, m[i], w[i])
 * (m starts at 0: the first step gives m = gi, as PyTorch's buffer copy.)
 *
 * Adam (PyTorch's Adam with L2 weight decay, or AdamW with decoupled decay
 * when `decoupled` != 0), step t >= 1. The entry point derives, once per
 * call, in double precision and then rounded to float (one rounding each):
 *   bc1 = 1 - beta1^t, bc2 = 1 - beta2^t   (beta^t by binary powering: exact
 *        IEEE double multiplications in a fixed order, no libm pow)
 *   omb1 = (float)(1 - beta1)          omb2 = (float)(1 - beta2)
 *   a    = (float)(lr / bc1)           c2   = (float)(1 / bc2)
 *   d    = (float)(1 - lr * wd)        (AdamW's decay factor)
 * then per element i < n:
 *   gi = g[i]; wi = w[i]
 *   if (!decoupled && wd != 0) gi = fma(wd, wi, gi)
 *   if ( decoupled && wd != 0) wi = wi * d
 *   t = omb1 * gi;  m[i] = fma(beta1, m[i], t)
 *   q = gi * gi;  q = omb2 * q;  v[i] = fma(beta2, v[i], q)
 *   vh = v[i] * c2;  s = sqrt(vh);  den = s + eps;  u = m[i] / den
 *   w[i] = fma(-a, u, wi)
 * (= w - lr * m_hat / (sqrt(v_hat) + eps) with m_hat = m / bc1 and
 * v_hat = v / bc2, PyTorch's formula up to rounding.)
 *
 * Fused MLP (the learned optimizer's per-parameter network), for each of the
 * n parameters r (rows of X, F features each):
 *   h1[j] = relu(b1[j] + sum_i X[r][i] W1[i][j])   j < H1
 *   h2[k] = relu(b2[k] + sum_j h1[j] W2[j][k])     k < H2
 *   Y[r][o] =    b3[o] + sum_k h2[k] W3[k][o]      o < O
 * where each "b + sum" is the chain  acc = b;  for p = 0, 1, ..., K-1 in
 * order: acc = fma(in[p], W[p][col], acc), and relu(x) = (x <= 0) ? +0.0f : x
 * (NaN passes, as wsk_relu of wsk/eltwise.h). X is n x F, W1 F x H1,
 * W2 H1 x H2, W3 H2 x O, Y n x O, all fp32 row-major and dense. F, H1, H2 and
 * O are 1..64. The hidden activations live only for a tile of rows (never an
 * n x H buffer); rows are independent, so the tiling and the thread count
 * change no bit.
 *
 * The learned optimizer's element-wise work (model/lopt.h), with
 * clip(v) = v > 1 ? 1 : (v < -1 ? -1 : v)  (so NaN passes unchanged, as
 * does -0):
 *
 * Features, i < n, nmom (1..8) momenta stored [nmom][n] (momentum k of
 * element i at mom[k*n + i]), rows of x ldx >= 2 + nmom floats apart:
 *   for k < nmom:  t = omg[k] * g[i];  mom[k*n + i] = fma(gamma[k], mom[k*n + i], t)
 *   x[i*ldx + 0] = clip(w[i]);  x[i*ldx + 1] = clip(g[i])
 *   x[i*ldx + 2 + k] = clip(mom[k*n + i])   (the updated momentum), k < nmom
 * The columns 2 + nmom .. ldx - 1 of x are not touched. (omg[k] is meant to
 * be 1 - gamma[k] rounded once; the function takes it as given.)
 *
 * Learned update, i < n (m0 the momentum buffer of PyTorch's SGD):
 *   m = fma(gamma0, m0[i], g[i]);  m0[i] = m
 *   u = fma(beta, f[i], m);  w[i] = fma(-alpha, u, w[i])
 *
 * Row dot product, r < n, x n x k row-major and dense, k 1..64:
 *   acc = b;  for p = 0, 1, ..., k - 1 in order: acc = fma(x[r*k + p], v[p], acc)
 *   y[r] = acc
 * (one fma chain per row, as the MLP's output columns above).
 *
 * Every function checks its arguments (NULL, sizes < 1, widths > 64,
 * overflow, overlapping arrays) and returns WSK_OK or an error with a message
 * for wsk_last_error(), leaving its outputs untouched on failure. Large n is
 * spread over the thread pool (wsk/threads.h) in contiguous chunks.
 */
#ifndef WSK_OPTIM_H
#define WSK_OPTIM_H

#include <stdint.h>

#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsk_sgd_params {
  float lr;           /* learning rate */
  float momentum;     /* mu */
  float weight_decay; /* wd (L2, added to the gradient) */
} wsk_sgd_params;

typedef struct wsk_adam_params {
  float lr, beta1, beta2, eps;
  float weight_decay; /* L2 (Adam) or decoupled (AdamW) */
  int64_t step;       /* t >= 1: the step being taken (bias corrections) */
  int decoupled;      /* 0: Adam with L2 decay; 1: AdamW */
} wsk_adam_params;

/* One SGD-with-momentum step on n parameters: updates w and the momentum m
 * in place from the gradient g. w, g and m must not overlap. */
wsk_status wsk_sgd_momentum(int64_t n, float *w, const float *g, float *m, const wsk_sgd_params *p);

/* One Adam / AdamW step on n parameters: updates w, m (first moment) and
 * v (second moment) in place from g. w, g, m and v must not overlap. */
wsk_status wsk_adam(int64_t n, float *w, const float *g, float *m, float *v,
                    const wsk_adam_params *p);

/* The three-layer per-parameter MLP. Every pointer is required (pass zero
 * biases for none). */
typedef struct wsk_mlp3 {
  int64_t f, h1, h2, o; /* widths, each 1..64 */
  const float *w1, *b1; /* f x h1, h1 */
  const float *w2, *b2; /* h1 x h2, h2 */
  const float *w3, *b3; /* h2 x o, o */
} wsk_mlp3;

/* Y[n][o] = the MLP of each row of X[n][f]. Y must not overlap X or the
 * network's arrays. */
wsk_status wsk_mlp3_forward(const wsk_mlp3 *net, int64_t n, const float *x, float *y);

/* The learned optimizer's per-parameter features: updates the nmom momenta
 * in mom ([nmom][n]) with g and writes the clipped w, g and momenta to
 * columns 0 .. 1 + nmom of the n rows of x (ldx floats apart). gamma and
 * omg hold nmom floats each. mom and x must not overlap each other or the
 * inputs. */
wsk_status wsk_lopt_features(int64_t n, const float *w, const float *g, int nmom,
                             const float *gamma, const float *omg, float *mom, float *x,
                             int64_t ldx);

/* The learned optimizer's update w -= alpha (m0 + beta f) with the momentum
 * buffer m0 (updated in place). w and m0 must not overlap each other, g or
 * f. */
wsk_status wsk_lopt_update(int64_t n, float *w, const float *g, const float *f, float *m0,
                           float alpha, float beta, float gamma0);

/* y[r] = b + x[r] . v as one fma chain per row, for the n rows of x (n x k,
 * k 1..64). y must not overlap x or v. */
wsk_status wsk_rowdot(int64_t n, int64_t k, const float *x, const float *v, float b, float *y);

#ifdef __cplusplus
}
#endif
#endif
