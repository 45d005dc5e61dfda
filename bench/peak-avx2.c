/* bench/peak-avx2.c — the roofline kernels of the AVX2+FMA tier (bench/peak.h):
 * 12 chains of _mm256_fmadd_ps (8 lanes) and a read loop of 8 YMM
 * accumulators. Scalar twin: peak-scalar.c. */
#include <immintrin.h>

#include "peak.h"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "peak-avx2.c needs -mavx2 -mfma"
#endif

static volatile float sink;

double wsk_peak_fma__avx2(int64_t reps) {
  if (reps <= 0) return 0.0;
  const __m256 m = _mm256_set1_ps(WSK_PEAK_MUL), a = _mm256_set1_ps(WSK_PEAK_ADD);
  __m256 c0 = _mm256_set1_ps(0.50f), c1 = _mm256_set1_ps(0.51f), c2 = _mm256_set1_ps(0.52f),
         c3 = _mm256_set1_ps(0.53f), c4 = _mm256_set1_ps(0.54f), c5 = _mm256_set1_ps(0.55f),
         c6 = _mm256_set1_ps(0.56f), c7 = _mm256_set1_ps(0.57f), c8 = _mm256_set1_ps(0.58f),
         c9 = _mm256_set1_ps(0.59f), c10 = _mm256_set1_ps(0.60f), c11 = _mm256_set1_ps(0.61f);
  for (int64_t r = 0; r < reps; r++) {
    for (int s = 0; s < WSK_PEAK_STEPS; s++) {
      c0 = _mm256_fmadd_ps(c0, m, a);
      c1 = _mm256_fmadd_ps(c1, m, a);
      c2 = _mm256_fmadd_ps(c2, m, a);
      c3 = _mm256_fmadd_ps(c3, m, a);
      c4 = _mm256_fmadd_ps(c4, m, a);
      c5 = _mm256_fmadd_ps(c5, m, a);
      c6 = _mm256_fmadd_ps(c6, m, a);
      c7 = _mm256_fmadd_ps(c7, m, a);
      c8 = _mm256_fmadd_ps(c8, m, a);
      c9 = _mm256_fmadd_ps(c9, m, a);
      c10 = _mm256_fmadd_ps(c10, m, a);
      c11 = _mm256_fmadd_ps(c11, m, a);
    }
  }
  const __m256 t =
      _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                                  _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7))),
                    _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
  sink = _mm256_cvtss_f32(t);
  return (double)reps * WSK_PEAK_FLOPS_PER_REP(WSK_PEAK_CHAINS_AVX2, WSK_PEAK_LANES_AVX2);
}

double wsk_read_sum__avx2(const float *buf, size_t floats) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
  for (size_t i = 0; i < floats; i += 64) {
    s0 = _mm256_add_ps(s0, _mm256_load_ps(buf + i + 0));
    s1 = _mm256_add_ps(s1, _mm256_load_ps(buf + i + 8));
    s2 = _mm256_add_ps(s2, _mm256_load_ps(buf + i + 16));
    s3 = _mm256_add_ps(s3, _mm256_load_ps(buf + i + 24));
    s4 = _mm256_add_ps(s4, _mm256_load_ps(buf + i + 32));
    s5 = _mm256_add_ps(s5, _mm256_load_ps(buf + i + 40));
    s6 = _mm256_add_ps(s6, _mm256_load_ps(buf + i + 48));
    s7 = _mm256_add_ps(s7, _mm256_load_ps(buf + i + 56));
  }
  const __m256 t = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)),
                                 _mm256_add_ps(_mm256_add_ps(s4, s5), _mm256_add_ps(s6, s7)));
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
  const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return (double)_mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
}
