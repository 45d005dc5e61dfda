/* kernels/eltwise/eltwise-ukernels.h — the function table of the eltwise
 * family (internal; included by kernels/ukernels.h). Every entry computes
 * exactly what include/wsk/eltwise.h defines, on validated arguments
 * (n >= 1, rows >= 1, aliasing as documented there). */
#ifndef WSK_KERNELS_ELTWISE_UKERNELS_H
#define WSK_KERNELS_ELTWISE_UKERNELS_H

#include <stddef.h>

#include "wsk/dispatch.h"
#include "wsk/eltwise.h"

typedef struct wsk_eltwise_ukernels {
  wsk_isa isa;
  /* y[i] = f(x[i]) for i < n (in place allowed) */
  void (*relu)(size_t n, const float *x, float *y);
  void (*gelu)(size_t n, const float *x, float *y);
  void (*tanh)(size_t n, const float *x, float *y);
  void (*sigmoid)(size_t n, const float *x, float *y);
  /* dx[i] = dy[i] * f'(.) for i < n; relu and gelu read x, tanh and sigmoid
   * the forward output y (dx may equal dy or the first argument) */
  void (*relu_backward)(size_t n, const float *x, const float *dy, float *dx);
  void (*gelu_backward)(size_t n, const float *x, const float *dy, float *dx);
  void (*tanh_backward)(size_t n, const float *y, const float *dy, float *dx);
  void (*sigmoid_backward)(size_t n, const float *y, const float *dy, float *dx);
  /* row-wise over x[rows][n] */
  void (*softmax)(size_t rows, size_t n, const float *x, float *y);
  void (*softmax_backward)(size_t rows, size_t n, const float *y, const float *dy, float *dx);
  void (*layernorm)(size_t rows, size_t n, float eps, const float *x, const float *gamma,
                    const float *beta, float *y, float *mean, float *rstd);
  void (*layernorm_backward)(size_t rows, size_t n, const float *x, const float *dy,
                             const float *gamma, const float *mean, const float *rstd, float *dx,
                             float *dgamma, float *dbeta);
} wsk_eltwise_ukernels;

#endif
