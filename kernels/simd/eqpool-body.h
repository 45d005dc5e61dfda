/* kernels/simd/eqpool-body.h — the eqpool micro-kernels written once over
 * the 16-float vector v16, included by eqpool-avx2.c, eqpool-avx512.c and
 * eqpool-neon.c after their vec16-<isa>.h. Scalar twin (the definition of
 * every result bit): kernels/eqpool/eqpool-scalar.c; contract in
 * kernels/ukernels.h.
 *
 * Both kernels vectorize across independent outputs (the output channels o)
 * and keep each output's fmaf chain in its defined order (over i for mix,
 * over r for outer), so blocking never changes a bit:
 *  - mix: tiles of rows x outputs (4 x 16, 2 x 32, 1 x 48, 1 x 64), the
 *    input value broadcast, each loaded row of the matrix shared by the
 *    tile's rows, so several chains are in flight even for 16 outputs;
 *  - outer: four rows i of g at once share each loaded row of d.
 * Tails of n use a partial load (unused lanes 0) and a masked store.
 */
#include "kernels/simd/vec16-util.h"
#include "kernels/ukernels.h"

#ifndef WSK_BODY_ISA
#error "define WSK_BODY_ISA before including eqpool-body.h"
#endif

#define EQ_CAT2(a, b) a##__##b
#define EQ_CAT(a, b) EQ_CAT2(a, b)
#define EQ_FN(name) EQ_CAT(name, WSK_BODY_ISA)
#define EQ_TABLE EQ_CAT(wsk_eqpool_ukernels, WSK_BODY_ISA)

/* The start value of outputs [o, o + wb) of row r = j * nk + k of mix. */
static inline v16 EQ_FN(start)(const float *u, const float *v, const float *yr, int accumulate,
                               size_t r, size_t nk, size_t n, size_t o, size_t wb) {
  const size_t j = r / nk, k = r % nk;
  if (accumulate) return v16_load_upto(yr + o, wb);
  if (u && v)
    return v16_add(v16_load_upto(u + j * n + o, wb), v16_load_upto(v + k * n + o, wb));
  if (u) return v16_load_upto(u + j * n + o, wb);
  if (v) return v16_load_upto(v + k * n + o, wb);
  return v16_set1(0.0f);
}

/* A tile of NR rows x NV v16 of outputs starting at column o (width w <= 16 NV):
 * NR * NV independent fmaf chains over i, each loaded row of m shared by the
 * NR rows. The tile shape only sets how many chains run side by side. */
#define EQ_MIX_TILE(NR, NV)                                                                  \
  static inline void EQ_FN(mix_tile_##NR##x##NV)(                                            \
      size_t r0, size_t nk, size_t kdim, size_t n, const float *x, size_t ldx,               \
      const float *m, const float *u, const float *v, int accumulate, float *y, size_t ldy, \
      size_t o, size_t w) {                                                                  \
    v16 acc[NR][NV];                                                                         \
    for (int t = 0; t < NR; t++)                                                             \
      for (int b = 0; b < NV; b++)                                                           \
        acc[t][b] = EQ_FN(start)(u, v, y + (r0 + t) * ldy, accumulate, r0 + t, nk, n,        \
                                 o + 16 * (size_t)b, w - 16 * (size_t)b);                    \
    for (size_t i = 0; i < kdim; i++) {                                                      \
      v16 mr[NV];                                                                            \
      for (int b = 0; b < NV; b++)                                                           \
        mr[b] = v16_load_upto(m + i * n + o + 16 * b, w - 16 * b);                           \
      for (int t = 0; t < NR; t++) {                                                         \
        const v16 xi = v16_set1(x[(r0 + t) * ldx + i]);                                      \
        for (int b = 0; b < NV; b++) acc[t][b] = v16_fma(xi, mr[b], acc[t][b]);              \
      }                                                                                      \
    }                                                                                        \
    for (int t = 0; t < NR; t++)                                                             \
      for (int b = 0; b < NV; b++)                                                           \
        v16_store_upto(y + (r0 + t) * ldy + o + 16 * b, acc[t][b], w - 16 * b);              \
  }
EQ_MIX_TILE(4, 1)
EQ_MIX_TILE(1, 1)
EQ_MIX_TILE(2, 2)
EQ_MIX_TILE(1, 2)
EQ_MIX_TILE(1, 3)
EQ_MIX_TILE(1, 4)

/* Few outputs (n <= 8): vectorize across 16 rows instead. A 16 x 64 block
 * of x is transposed on the stack so that lane t holds row r0 + t; output o
 * of the 16 rows is one v16 chain over i, the matrix entry broadcast. */
enum { EQ_NARROW = 8, EQ_ICHUNK = 64 };
static void EQ_FN(mix_rows16)(size_t r0, size_t nr, size_t nk, size_t kdim, size_t n,
                              const float *x, size_t ldx, const float *m, const float *u,
                              const float *v, int accumulate, float *y, size_t ldy) {
  float buf[EQ_ICHUNK][16], st[EQ_NARROW][16];
  v16 acc[EQ_NARROW];
  for (size_t o = 0; o < n; o++) {
    for (size_t t = 0; t < 16; t++) {
      const size_t r = r0 + (t < nr ? t : 0), j = r / nk, k = r % nk;
      float a = 0.0f;
      if (accumulate)
        a = y[r * ldy + o];
      else if (u && v)
        a = u[j * n + o] + v[k * n + o];
      else if (u)
        a = u[j * n + o];
      else if (v)
        a = v[k * n + o];
      st[o][t] = a;
    }
    acc[o] = v16_loadu(st[o]);
  }
  for (size_t i0 = 0; i0 < kdim; i0 += EQ_ICHUNK) {
    const size_t ni = kdim - i0 < EQ_ICHUNK ? kdim - i0 : EQ_ICHUNK;
    for (size_t t = 0; t < 16; t++) {
      const float *xr = x + (r0 + (t < nr ? t : 0)) * ldx + i0;
      for (size_t i = 0; i < ni; i++) buf[i][t] = xr[i];
    }
    for (size_t i = 0; i < ni; i++) {
      const v16 xi = v16_loadu(buf[i]);
      const float *mr = m + (i0 + i) * n;
      for (size_t o = 0; o < n; o++) acc[o] = v16_fma(xi, v16_set1(mr[o]), acc[o]);
    }
  }
  for (size_t o = 0; o < n; o++) {
    v16_storeu(st[o], acc[o]);
    for (size_t t = 0; t < nr; t++) y[(r0 + t) * ldy + o] = st[o][t];
  }
}

static void EQ_FN(mix)(size_t nj, size_t nk, size_t kdim, size_t n, const float *x, size_t ldx,
                       const float *m, const float *u, const float *v, int accumulate, float *y,
                       size_t ldy) {
  const size_t rows = nj * nk;
  if (n <= EQ_NARROW) {
    for (size_t r = 0; r < rows; r += 16)
      EQ_FN(mix_rows16)(r, rows - r < 16 ? rows - r : 16, nk, kdim, n, x, ldx, m, u, v,
                        accumulate, y, ldy);
    return;
  }
  /* blocks of up to 64 outputs; the block's slice of m stays in cache while
   * every row passes */
  for (size_t o = 0; o < n; o += 64) {
    const size_t w = n - o < 64 ? n - o : 64;
    const size_t nv = (w + 15) / 16;
    size_t r = 0;
    if (nv == 1) {
      for (; r + 4 <= rows; r += 4)
        EQ_FN(mix_tile_4x1)(r, nk, kdim, n, x, ldx, m, u, v, accumulate, y, ldy, o, w);
      for (; r < rows; r++)
        EQ_FN(mix_tile_1x1)(r, nk, kdim, n, x, ldx, m, u, v, accumulate, y, ldy, o, w);
    } else if (nv == 2) {
      for (; r + 2 <= rows; r += 2)
        EQ_FN(mix_tile_2x2)(r, nk, kdim, n, x, ldx, m, u, v, accumulate, y, ldy, o, w);
      for (; r < rows; r++)
        EQ_FN(mix_tile_1x2)(r, nk, kdim, n, x, ldx, m, u, v, accumulate, y, ldy, o, w);
    } else if (nv == 3) {
      for (; r < rows; r++)
        EQ_FN(mix_tile_1x3)(r, nk, kdim, n, x, ldx, m, u, v, accumulate, y, ldy, o, w);
    } else {
      for (; r < rows; r++)
        EQ_FN(mix_tile_1x4)(r, nk, kdim, n, x, ldx, m, u, v, accumulate, y, ldy, o, w);
    }
  }
}

static void EQ_FN(outer)(size_t rows, size_t kdim, size_t n, const float *x, size_t ldx,
                         const float *d, size_t ldd, float *g) {
  for (size_t o = 0; o < n; o += 16) {
    const size_t w = n - o;
    size_t i = 0;
    for (; i + 4 <= kdim; i += 4) {
      v16 a0 = v16_load_upto(g + i * n + o, w), a1 = v16_load_upto(g + (i + 1) * n + o, w);
      v16 a2 = v16_load_upto(g + (i + 2) * n + o, w), a3 = v16_load_upto(g + (i + 3) * n + o, w);
      for (size_t r = 0; r < rows; r++) {
        const v16 dr = v16_load_upto(d + r * ldd + o, w);
        const float *xr = x + r * ldx + i;
        a0 = v16_fma(v16_set1(xr[0]), dr, a0);
        a1 = v16_fma(v16_set1(xr[1]), dr, a1);
        a2 = v16_fma(v16_set1(xr[2]), dr, a2);
        a3 = v16_fma(v16_set1(xr[3]), dr, a3);
      }
      v16_store_upto(g + i * n + o, a0, w);
      v16_store_upto(g + (i + 1) * n + o, a1, w);
      v16_store_upto(g + (i + 2) * n + o, a2, w);
      v16_store_upto(g + (i + 3) * n + o, a3, w);
    }
    for (; i < kdim; i++) {
      v16 a0 = v16_load_upto(g + i * n + o, w);
      for (size_t r = 0; r < rows; r++)
        a0 = v16_fma(v16_set1(x[r * ldx + i]), v16_load_upto(d + r * ldd + o, w), a0);
      v16_store_upto(g + i * n + o, a0, w);
    }
  }
}

const wsk_eqpool_ukernels EQ_TABLE = {WSK_BODY_ISA_ENUM, EQ_FN(mix), EQ_FN(outer)};
