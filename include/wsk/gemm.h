/* wsk/gemm.h — dense matrix multiplication with a fused epilogue:
 *
 *   C = act(alpha * op(A) . op(B) + beta * C + bias)
 *
 * op(A) is m x k, op(B) is k x n, C is m x n, all fp32 and row-major with
 * leading dimensions (lda, ldb, ldc, in floats); op(X) = X or its transpose.
 *
 * The same bits on every tier, blocking and thread count (the parity
 * contract): every element is computed as
 *   acc = +0.0f;  for p = 0, 1, ..., k-1:  acc = fmaf(A[i][p], B[p][j], acc);
 *   r = alpha * acc;                           (one rounding; exact for alpha = 1)
 *   if (beta != 0) r = fmaf(beta, C[i][j], r); (C is not read when beta == 0)
 *   if (bias)      r = r + bias[j];
 *   then the activation: ReLU r > 0 ? r : (r is NaN ? r : +0), or GELU or
 *   tanh as defined in wsk/eltwise.h.
 * The k loop is cut into blocks for the caches, but a block continues from
 * the stored partial sum, which changes no bit. */
#ifndef WSK_GEMM_H
#define WSK_GEMM_H

#include <stdint.h>

#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wsk_trans { WSK_NO_TRANS = 0, WSK_TRANS = 1 } wsk_trans;

typedef enum wsk_activation {
  WSK_ACT_NONE = 0,
  WSK_ACT_RELU = 1,
  WSK_ACT_GELU = 2,
  WSK_ACT_TANH = 3
} wsk_activation;

/* C = act(alpha op(A) op(B) + beta C + bias). bias: n floats or NULL.
 * m, n, k >= 1; lda >= the row length of A as stored (k, or m when
 * transposed), likewise ldb, ldc >= n. C must not overlap A, B or bias. */
wsk_status wsk_gemm(wsk_trans ta, wsk_trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                    int64_t ldc, const float *bias, wsk_activation act);

#ifdef __cplusplus
}
#endif
#endif
