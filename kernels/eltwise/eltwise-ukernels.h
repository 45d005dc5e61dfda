/* kernels/eltwise/eltwise-ukernels.h — the function table of the eltwise
 * family (internal; included by kernels/ukernels.h). */
#ifndef WSK_KERNELS_ELTWISE_UKERNELS_H
#define WSK_KERNELS_ELTWISE_UKERNELS_H

#include <stddef.h>

#include "wsk/dispatch.h"

typedef struct wsk_eltwise_ukernels {
  wsk_isa isa;
  /* y[i] = f(x[i]) for i < n (in place allowed) */
  void (*relu)(size_t n, const float *x, float *y);
  void (*gelu)(size_t n, const float *x, float *y);
  void (*tanh)(size_t n, const float *x, float *y);
  void (*sigmoid)(size_t n, const float *x, float *y);
} wsk_eltwise_ukernels;

#endif
