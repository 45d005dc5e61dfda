/* model/rng.h — the one portable pseudo-random number generator of wsk.
 *
 * xoshiro128** (Blackman and Vigna, 2018; 32-bit output, period 2^128 - 1),
 * seeded by splitmix64 from a 64-bit seed and a 64-bit stream number, so that
 * member i of a zoo draws from stream i of the zoo's seed without overlap in
 * practice. Everything here is integer arithmetic or correctly rounded IEEE
 * binary32 operations plus SLEEF's deterministic scalar functions, so every
 * machine, compiler and ISA tier draws the same numbers (tests/test_rng.c
 * checks a recorded sequence).
 *
 * Rule for callers: never draw two numbers inside one expression or one
 * argument list (C leaves their order unspecified); draw into variables.
 */
#ifndef WSK_MODEL_RNG_H
#define WSK_MODEL_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsk_rng {
  uint32_t s[4];
} wsk_rng;

/* The state of (seed, stream): splitmix64 over seed and stream, never all zero. */
void wsk_rng_seed(wsk_rng *r, uint64_t seed, uint64_t stream);

/* The next 32 random bits. */
uint32_t wsk_rng_u32(wsk_rng *r);

/* 64 random bits: the first draw is the high half, the second the low half. */
uint64_t wsk_rng_u64(wsk_rng *r);

/* Uniform in [0, 1): the top 24 bits of one draw times 2^-24 (exact). */
float wsk_rng_uniform(wsk_rng *r);

/* lo + (hi - lo) * u with u = wsk_rng_uniform (two roundings). */
float wsk_rng_range(wsk_rng *r, float lo, float hi);

/* Uniform integer in [0, n), n >= 1, without modulo bias (Lemire's
 * multiply-shift with rejection); n == 0 returns 0 without drawing. */
uint32_t wsk_rng_below(wsk_rng *r, uint32_t n);

/* Standard normal by Box-Muller: u1 = 1 - uniform (in (0, 1]), then
 * u2 = uniform;  z = sqrt(-2 log u1) * cos(2 pi u2)
 * with log and cos(pi x) from SLEEF (Sleef_finz_logf1_u10purecfma,
 * Sleef_finz_cospif1_u05purecfma) and IEEE sqrt. Two draws per call; the
 * sine half is not kept, so a call's result depends on two draws only. */
float wsk_rng_normal(wsk_rng *r);

/* Fisher-Yates shuffle of a[0..n) (n < 2^32): for i = n-1 down to 1,
 * swap a[i] with a[wsk_rng_below(r, i + 1)]. */
void wsk_rng_shuffle_u32(wsk_rng *r, uint32_t *a, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_RNG_H */
