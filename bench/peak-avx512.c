/* bench/peak-avx512.c — the roofline kernels of the AVX-512 tier (bench/peak.h):
 * 16 chains of _mm512_fmadd_ps (16 lanes) and a read loop of 8 ZMM
 * accumulators. Scalar twin: peak-scalar.c. */
#include <immintrin.h>

#include "peak.h"

#if !defined(__AVX512F__)
#error "peak-avx512.c needs -mavx512f"
#endif

static volatile float sink;

double wsk_peak_fma__avx512(int64_t reps) {
  if (reps <= 0) return 0.0;
  const __m512 m = _mm512_set1_ps(WSK_PEAK_MUL), a = _mm512_set1_ps(WSK_PEAK_ADD);
  __m512 c0 = _mm512_set1_ps(0.50f), c1 = _mm512_set1_ps(0.51f), c2 = _mm512_set1_ps(0.52f),
         c3 = _mm512_set1_ps(0.53f), c4 = _mm512_set1_ps(0.54f), c5 = _mm512_set1_ps(0.55f),
         c6 = _mm512_set1_ps(0.56f), c7 = _mm512_set1_ps(0.57f), c8 = _mm512_set1_ps(0.58f),
         c9 = _mm512_set1_ps(0.59f), c10 = _mm512_set1_ps(0.60f), c11 = _mm512_set1_ps(0.61f),
         c12 = _mm512_set1_ps(0.62f), c13 = _mm512_set1_ps(0.63f), c14 = _mm512_set1_ps(0.64f),
         c15 = _mm512_set1_ps(0.65f);
  for (int64_t r = 0; r < reps; r++) {
    for (int s = 0; s < WSK_PEAK_STEPS; s++) {
      c0 = _mm512_fmadd_ps(c0, m, a);
      c1 = _mm512_fmadd_ps(c1, m, a);
      c2 = _mm512_fmadd_ps(c2, m, a);
      c3 = _mm512_fmadd_ps(c3, m, a);
      c4 = _mm512_fmadd_ps(c4, m, a);
      c5 = _mm512_fmadd_ps(c5, m, a);
      c6 = _mm512_fmadd_ps(c6, m, a);
      c7 = _mm512_fmadd_ps(c7, m, a);
      c8 = _mm512_fmadd_ps(c8, m, a);
      c9 = _mm512_fmadd_ps(c9, m, a);
      c10 = _mm512_fmadd_ps(c10, m, a);
      c11 = _mm512_fmadd_ps(c11, m, a);
      c12 = _mm512_fmadd_ps(c12, m, a);
      c13 = _mm512_fmadd_ps(c13, m, a);
      c14 = _mm512_fmadd_ps(c14, m, a);
      c15 = _mm512_fmadd_ps(c15, m, a);
    }
  }
  const __m512 t =
      _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                                  _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7))),
                    _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)),
                                  _mm512_add_ps(_mm512_add_ps(c12, c13), _mm512_add_ps(c14, c15))));
  sink = _mm512_cvtss_f32(t);
  return (double)reps * WSK_PEAK_FLOPS_PER_REP(WSK_PEAK_CHAINS_AVX512, WSK_PEAK_LANES_AVX512);
}

double wsk_read_sum__avx512(const float *buf, size_t floats) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
  for (size_t i = 0; i < floats; i += 128) {
    s0 = _mm512_add_ps(s0, _mm512_load_ps(buf + i + 0));
    s1 = _mm512_add_ps(s1, _mm512_load_ps(buf + i + 16));
    s2 = _mm512_add_ps(s2, _mm512_load_ps(buf + i + 32));
    s3 = _mm512_add_ps(s3, _mm512_load_ps(buf + i + 48));
    s4 = _mm512_add_ps(s4, _mm512_load_ps(buf + i + 64));
    s5 = _mm512_add_ps(s5, _mm512_load_ps(buf + i + 80));
    s6 = _mm512_add_ps(s6, _mm512_load_ps(buf + i + 96));
    s7 = _mm512_add_ps(s7, _mm512_load_ps(buf + i + 112));
  }
  const __m512 t = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)),
                                 _mm512_add_ps(_mm512_add_ps(s4, s5), _mm512_add_ps(s6, s7)));
  return (double)_mm512_reduce_add_ps(t);
}
