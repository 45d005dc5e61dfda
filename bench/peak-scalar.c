/* bench/peak-scalar.c — the roofline kernels of the scalar tier (bench/peak.h):
 * the FMA peak of portable C (fmaf, one lane) and a plain read loop.
 *
 * fmaf is what the scalar kernels of wsk run. Built with the baseline flags
 * (no -mfma), on x86-64 it is a call into glibc, whose ifunc picks the FMA
 * instruction where the CPU has it; on aarch64 it is the fmadd instruction.
 * Either way this is the honest peak of the scalar tier. */
#include <math.h>

#include "peak.h"

/* On aarch64 the compiler could pack the independent scalar chains into NEON
 * fmla (SLP vectorization), which would measure the NEON tier instead; an
 * empty asm that wants every accumulator in its own FP register after each
 * step rules that out. On x86-64 the baseline has no vector FMA, nothing to
 * rule out (and the fmaf calls spill the accumulators anyway). */
#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#define KEEP_SCALAR(a, b, c, d) __asm__("" : "+w"(a), "+w"(b), "+w"(c), "+w"(d))
#else
#define KEEP_SCALAR(a, b, c, d) ((void)0)
#endif

static volatile float sink;

double wsk_peak_fma__scalar(int64_t reps) {
  if (reps <= 0) return 0.0;
  const float m = WSK_PEAK_MUL, a = WSK_PEAK_ADD;
  float c0 = 0.50f, c1 = 0.51f, c2 = 0.52f, c3 = 0.53f, c4 = 0.54f, c5 = 0.55f, c6 = 0.56f,
        c7 = 0.57f, c8 = 0.58f, c9 = 0.59f, c10 = 0.60f, c11 = 0.61f, c12 = 0.62f, c13 = 0.63f,
        c14 = 0.64f, c15 = 0.65f;
  for (int64_t r = 0; r < reps; r++) {
    for (int s = 0; s < WSK_PEAK_STEPS; s++) {
      c0 = fmaf(c0, m, a);
      c1 = fmaf(c1, m, a);
      c2 = fmaf(c2, m, a);
      c3 = fmaf(c3, m, a);
      c4 = fmaf(c4, m, a);
      c5 = fmaf(c5, m, a);
      c6 = fmaf(c6, m, a);
      c7 = fmaf(c7, m, a);
      c8 = fmaf(c8, m, a);
      c9 = fmaf(c9, m, a);
      c10 = fmaf(c10, m, a);
      c11 = fmaf(c11, m, a);
      c12 = fmaf(c12, m, a);
      c13 = fmaf(c13, m, a);
      c14 = fmaf(c14, m, a);
      c15 = fmaf(c15, m, a);
      KEEP_SCALAR(c0, c1, c2, c3);
      KEEP_SCALAR(c4, c5, c6, c7);
      KEEP_SCALAR(c8, c9, c10, c11);
      KEEP_SCALAR(c12, c13, c14, c15);
    }
  }
  sink = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)) +
         ((c12 + c13) + (c14 + c15));
  return (double)reps * WSK_PEAK_FLOPS_PER_REP(WSK_PEAK_CHAINS_SCALAR, WSK_PEAK_LANES_SCALAR);
}

/* Eight independent accumulators; the compiler may turn them into the
 * baseline's vectors (SSE2, NEON), which is still a plain read loop. */
double wsk_read_sum__scalar(const float *buf, size_t floats) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
  for (size_t i = 0; i < floats; i += 8) {
    s0 += buf[i + 0];
    s1 += buf[i + 1];
    s2 += buf[i + 2];
    s3 += buf[i + 3];
    s4 += buf[i + 4];
    s5 += buf[i + 5];
    s6 += buf[i + 6];
    s7 += buf[i + 7];
  }
  return (double)(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)));
}
