/* bench/peak.h — the roofline's own kernels (internal to bench/machine.c,
 * bench/roofline.c and bench/peak-<isa>.c).
 *
 * wsk_peak_fma__<isa>(reps): the FMA peak of one core on that tier. Each rep
 * runs WSK_PEAK_STEPS steps; each step issues one FMA on each of
 * WSK_PEAK_CHAINS_<ISA> independent accumulators held in registers
 * (acc = acc * m + a with m = 1 - 2^-20, a = 2^-20: the chains stay in [0.5, 1],
 * never overflow and never become subnormal; NEON, whose fmla overwrites its
 * addend, runs acc = acc + a * m instead). Enough chains to cover the FMA
 * latency times the number of FMA pipes of current cores (4 cycles x 2 pipes
 * on x86, x 4 pipes on the widest ARM cores). Returns the FLOPs done
 * (2 per lane per FMA) and stores a combination of the accumulators in a
 * volatile, so nothing is optimized away.
 *
 * wsk_read_sum__<isa>(buf, floats): the fastest plain read of `floats` floats
 * at buf for that tier: 8 independent accumulators of vector adds. buf is
 * 64-byte aligned and floats is a multiple of WSK_READ_ALIGN_FLOATS (256).
 * Returns the sum, so the loads cannot be dropped.
 *
 * Only the tiers this build compiled (wsk_build.h) are declared; call one
 * only when wsk_isas_available() has its bit. */
#ifndef WSK_BENCH_PEAK_H
#define WSK_BENCH_PEAK_H

#include <stddef.h>
#include <stdint.h>

#include "wsk_build.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSK_PEAK_STEPS 8          /* FMAs per chain per rep */
#define WSK_READ_ALIGN_FLOATS 256 /* read_sum needs floats % 256 == 0 */

#define WSK_PEAK_CHAINS_SCALAR 16
#define WSK_PEAK_LANES_SCALAR 1
#define WSK_PEAK_CHAINS_AVX2 12 /* 12 of the 16 YMM registers, + m and a */
#define WSK_PEAK_LANES_AVX2 8
#define WSK_PEAK_CHAINS_AVX512 16 /* 16 of the 32 ZMM registers */
#define WSK_PEAK_LANES_AVX512 16
#define WSK_PEAK_CHAINS_NEON 24 /* 24 of the 32 V registers */
#define WSK_PEAK_LANES_NEON 4

/* FLOPs of one rep of a tier with `chains` accumulators of `lanes` floats. */
#define WSK_PEAK_FLOPS_PER_REP(chains, lanes) (2.0 * WSK_PEAK_STEPS * (chains) * (lanes))

/* The constants of the chains (see above). */
#define WSK_PEAK_MUL (1.0f - 0x1p-20f)
#define WSK_PEAK_ADD 0x1p-20f

double wsk_peak_fma__scalar(int64_t reps);
double wsk_read_sum__scalar(const float *buf, size_t floats);
#if WSK_HAVE_AVX2
double wsk_peak_fma__avx2(int64_t reps);
double wsk_read_sum__avx2(const float *buf, size_t floats);
#endif
#if WSK_HAVE_AVX512
double wsk_peak_fma__avx512(int64_t reps);
double wsk_read_sum__avx512(const float *buf, size_t floats);
#endif
#if WSK_HAVE_NEON
double wsk_peak_fma__neon(int64_t reps);
double wsk_read_sum__neon(const float *buf, size_t floats);
#endif

#ifdef __cplusplus
}
#endif
#endif
