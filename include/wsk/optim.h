/* wsk/optim.h — optimizer updates (SGD with momentum, Adam / AdamW, with
 * weight decay) and the fused per-parameter MLP of a learned optimizer.
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
wsk_status wsk_sgd_momentum(int64_t n, float *w, const float *g, float *m,
                            const wsk_sgd_params *p);

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

#ifdef __cplusplus
}
#endif
#endif
