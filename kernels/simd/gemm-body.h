/* kernels/simd/gemm-body.h — the gemm micro-kernel written once over the
 * 16-float vector v16, included by gemm-avx2.c, gemm-avx512.c and
 * gemm-neon.c. Scalar twin (the definition of every result bit):
 * kernels/gemm/gemm-scalar.c; contract in kernels/ukernels.h.
 *
 * The includer defines WSK_BODY_ISA, WSK_BODY_ISA_ENUM, GEMM_MR (rows of the
 * register tile), GEMM_NV (v16 per tile row: the tile is GEMM_MR x 16
 * GEMM_NV) and gm_relu(v16). The tile's GEMM_MR * GEMM_NV accumulators are
 * independent fmaf chains over k, each loaded v16 of the packed B panel
 * serving GEMM_MR broadcasts of A, read where it lies (row stride rsa,
 * column stride csa: either layout of A needs no packing). The B panel is
 * padded with zeros and missing rows of A repeat the last one, so the tile
 * is always computed whole and only its valid part (mr_eff x nr_eff) is
 * loaded from and stored to memory.
 */
#include "kernels/simd/vec16-util.h"
#include "kernels/ukernels.h"

#ifndef WSK_BODY_ISA
#error "define WSK_BODY_ISA before including gemm-body.h"
#endif

#define GM_CAT2(a, b) a##__##b
#define GM_CAT(a, b) GM_CAT2(a, b)
#define GM_FN(name) GM_CAT(name, WSK_BODY_ISA)
#define GM_TABLE GM_CAT(wsk_gemm_ukernels, WSK_BODY_ISA)
#define GM_NR (16 * GEMM_NV)

static void GM_FN(kernel)(size_t kc, const float *a, size_t rsa, size_t csa, const float *bp,
                          size_t ldb, size_t mr_eff, size_t nr_eff, float *t, size_t ldt, int first,
                          int last, const wsk_gemm_epilogue *ep, float *c, size_t ldc,
                          size_t j0) {
  /* rows past mr_eff repeat the last row: computed, never stored */
  const float *ar[GEMM_MR];
  for (int i = 0; i < GEMM_MR; i++)
    ar[i] = a + ((size_t)i < mr_eff ? (size_t)i : mr_eff - 1) * rsa;
  v16 acc[GEMM_MR][GEMM_NV];
  for (int i = 0; i < GEMM_MR; i++)
    for (int v = 0; v < GEMM_NV; v++) {
      const size_t o = 16 * (size_t)v;
      acc[i][v] = (first || (size_t)i >= mr_eff || o >= nr_eff)
                      ? v16_set1(0.0f)
                      : v16_load_upto(t + (size_t)i * ldt + o, nr_eff - o);
    }
  for (size_t p = 0; p < kc; p++) {
    v16 b[GEMM_NV];
    for (int v = 0; v < GEMM_NV; v++) b[v] = v16_loadu(bp + p * ldb + 16 * v);
    for (int i = 0; i < GEMM_MR; i++) {
      const v16 ai = v16_set1(ar[i][p * csa]);
      for (int v = 0; v < GEMM_NV; v++) acc[i][v] = v16_fma(ai, b[v], acc[i][v]);
    }
  }
  const v16 alpha = v16_set1(ep->alpha), beta = v16_set1(ep->beta), nz = v16_set1(-0.0f);
  for (size_t i = 0; i < mr_eff; i++)
    for (int v = 0; v < GEMM_NV; v++) {
      const size_t o = 16 * (size_t)v;
      if (o >= nr_eff) break;
      const size_t w = nr_eff - o;
      if (!last) {
        v16_store_upto(t + i * ldt + o, acc[i][v], w);
        continue;
      }
      v16 r = v16_fma(alpha, acc[i][v], nz); /* alpha * acc, one rounding */
      if (ep->beta != 0.0f) r = v16_fma(beta, v16_load_upto(c + i * ldc + o, w), r);
      if (ep->bias) r = v16_add(r, v16_load_upto(ep->bias + j0 + o, w));
      if (ep->relu) r = gm_relu(r);
      v16_store_upto(c + i * ldc + o, r, w);
    }
}

const wsk_gemm_ukernels GM_TABLE = {WSK_BODY_ISA_ENUM, GEMM_MR, GM_NR, GM_FN(kernel)};
