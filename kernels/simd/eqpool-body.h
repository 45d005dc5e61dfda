/* kernels/simd/eqpool-body.h — the eqpool micro-kernels written once over
 * the 16-float vector v16, included by eqpool-avx2.c, eqpool-avx512.c and
 * eqpool-neon.c after their vec16-<isa>.h. Scalar twin (the definition of
 * every result bit): kernels/eqpool/eqpool-scalar.c; contract in
 * kernels/ukernels.h.
 *
 * Both kernels vectorize across independent outputs (the output channels o)
 * and keep each output's fmaf chain in its defined order (over i for mix,
 * over r for outer), so blocking never changes a bit:
 *  - mix: up to 64 outputs of one row in four v16 accumulators, the input
 *    value broadcast, the matrix row loaded;
 *  - outer: four rows i of g at once share each loaded row of d.
 * Tails of n use a partial load (unused lanes 0) and a masked store.
 */
#include "kernels/ukernels.h"

#ifndef WSK_BODY_ISA
#error "define WSK_BODY_ISA before including eqpool-body.h"
#endif

#define EQ_CAT2(a, b) a##__##b
#define EQ_CAT(a, b) EQ_CAT2(a, b)
#define EQ_FN(name) EQ_CAT(name, WSK_BODY_ISA)
#define EQ_TABLE EQ_CAT(wsk_eqpool_ukernels, WSK_BODY_ISA)

static inline v16 EQ_FN(ld)(const float *p, size_t w) {
  return w >= 16 ? v16_loadu(p) : v16_load_part(p, w, 0.0f);
}
static inline void EQ_FN(st)(float *p, v16 a, size_t w) {
  if (w >= 16)
    v16_storeu(p, a);
  else
    v16_store_part(p, a, w);
}

static void EQ_FN(mix)(size_t nj, size_t nk, size_t kdim, size_t n, const float *x, size_t ldx,
                       const float *m, const float *u, const float *v, int accumulate, float *y,
                       size_t ldy) {
  for (size_t j = 0; j < nj; j++) {
    for (size_t k = 0; k < nk; k++) {
      const float *xr = x + (j * nk + k) * ldx;
      float *yr = y + (j * nk + k) * ldy;
      for (size_t o0 = 0; o0 < n; o0 += 64) {
        const size_t w = n - o0 < 64 ? n - o0 : 64;
        const size_t nv = (w + 15) / 16;
        v16 acc[4];
        for (size_t b = 0; b < nv; b++) {
          const size_t o = o0 + 16 * b, wb = w - 16 * b;
          if (accumulate)
            acc[b] = EQ_FN(ld)(yr + o, wb);
          else if (u && v)
            acc[b] = v16_add(EQ_FN(ld)(u + j * n + o, wb), EQ_FN(ld)(v + k * n + o, wb));
          else if (u)
            acc[b] = EQ_FN(ld)(u + j * n + o, wb);
          else if (v)
            acc[b] = EQ_FN(ld)(v + k * n + o, wb);
          else
            acc[b] = v16_set1(0.0f);
        }
        if (nv == 4 && w == 64) {
          for (size_t i = 0; i < kdim; i++) {
            const v16 xi = v16_set1(xr[i]);
            const float *mr = m + i * n + o0;
            acc[0] = v16_fma(xi, v16_loadu(mr), acc[0]);
            acc[1] = v16_fma(xi, v16_loadu(mr + 16), acc[1]);
            acc[2] = v16_fma(xi, v16_loadu(mr + 32), acc[2]);
            acc[3] = v16_fma(xi, v16_loadu(mr + 48), acc[3]);
          }
        } else {
          for (size_t i = 0; i < kdim; i++) {
            const v16 xi = v16_set1(xr[i]);
            const float *mr = m + i * n + o0;
            for (size_t b = 0; b < nv; b++)
              acc[b] = v16_fma(xi, EQ_FN(ld)(mr + 16 * b, w - 16 * b), acc[b]);
          }
        }
        for (size_t b = 0; b < nv; b++) EQ_FN(st)(yr + o0 + 16 * b, acc[b], w - 16 * b);
      }
    }
  }
}

static void EQ_FN(outer)(size_t rows, size_t kdim, size_t n, const float *x, size_t ldx,
                         const float *d, size_t ldd, float *g) {
  for (size_t o = 0; o < n; o += 16) {
    const size_t w = n - o;
    size_t i = 0;
    for (; i + 4 <= kdim; i += 4) {
      v16 a0 = EQ_FN(ld)(g + i * n + o, w), a1 = EQ_FN(ld)(g + (i + 1) * n + o, w);
      v16 a2 = EQ_FN(ld)(g + (i + 2) * n + o, w), a3 = EQ_FN(ld)(g + (i + 3) * n + o, w);
      for (size_t r = 0; r < rows; r++) {
        const v16 dr = EQ_FN(ld)(d + r * ldd + o, w);
        const float *xr = x + r * ldx + i;
        a0 = v16_fma(v16_set1(xr[0]), dr, a0);
        a1 = v16_fma(v16_set1(xr[1]), dr, a1);
        a2 = v16_fma(v16_set1(xr[2]), dr, a2);
        a3 = v16_fma(v16_set1(xr[3]), dr, a3);
      }
      EQ_FN(st)(g + i * n + o, a0, w);
      EQ_FN(st)(g + (i + 1) * n + o, a1, w);
      EQ_FN(st)(g + (i + 2) * n + o, a2, w);
      EQ_FN(st)(g + (i + 3) * n + o, a3, w);
    }
    for (; i < kdim; i++) {
      v16 a0 = EQ_FN(ld)(g + i * n + o, w);
      for (size_t r = 0; r < rows; r++)
        a0 = v16_fma(v16_set1(x[r * ldx + i]), EQ_FN(ld)(d + r * ldd + o, w), a0);
      EQ_FN(st)(g + i * n + o, a0, w);
    }
  }
}

const wsk_eqpool_ukernels EQ_TABLE = {WSK_BODY_ISA_ENUM, EQ_FN(mix), EQ_FN(outer)};
