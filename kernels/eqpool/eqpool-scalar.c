/* kernels/eqpool/eqpool-scalar.c — the reference micro-kernels of the eqpool
 * family (see kernels/ukernels.h for their exact definition): plain C with
 * fmaf, always built, the test oracle of the SIMD tiers (eqpool-avx2.c,
 * eqpool-avx512.c, eqpool-neon.c, sharing kernels/simd/eqpool-body.h). */
#include <math.h>

#include "kernels/ukernels.h"

static void mix__scalar(size_t nj, size_t nk, size_t kdim, size_t n, const float *x, size_t ldx,
                        const float *m, const float *u, const float *v, int accumulate, float *y,
                        size_t ldy) {
  for (size_t j = 0; j < nj; j++) {
    for (size_t k = 0; k < nk; k++) {
      const float *xr = x + (j * nk + k) * ldx;
      float *yr = y + (j * nk + k) * ldy;
      for (size_t o = 0; o < n; o++) {
        float acc;
        if (accumulate)
          acc = yr[o];
        else if (u && v)
          acc = u[j * n + o] + v[k * n + o];
        else if (u)
          acc = u[j * n + o];
        else if (v)
          acc = v[k * n + o];
        else
          acc = 0.0f;
        for (size_t i = 0; i < kdim; i++) acc = fmaf(xr[i], m[i * n + o], acc);
        yr[o] = acc;
      }
    }
  }
}

static void outer__scalar(size_t rows, size_t kdim, size_t n, const float *x, size_t ldx,
                          const float *d, size_t ldd, float *g) {
  for (size_t i = 0; i < kdim; i++)
    for (size_t o = 0; o < n; o++) {
      float acc = g[i * n + o];
      for (size_t r = 0; r < rows; r++) acc = fmaf(x[r * ldx + i], d[r * ldd + o], acc);
      g[i * n + o] = acc;
    }
}

const wsk_eqpool_ukernels wsk_eqpool_ukernels__scalar = {WSK_ISA_SCALAR, mix__scalar,
                                                         outer__scalar};
