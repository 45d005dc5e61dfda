/* tests/testutil.h — shared helpers of the cmocka test programs: a portable
 * seeded PRNG, buffers at deliberately unaligned addresses, bit comparison,
 * and the walk over a family's implementations (its .inc list). */
#ifndef WSK_TESTUTIL_H
#define WSK_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "kernels/ukernels.h"
#include "wsk/wsk.h"

/* ---- randomness: splitmix64, the same stream on every machine ---- */
typedef struct tu_rng {
  uint64_t s;
} tu_rng;
uint64_t tu_next(tu_rng *r);
/* uniform in [lo, hi) */
float tu_uniform(tu_rng *r, float lo, float hi);
/* uniform integer in [lo, hi] */
size_t tu_int(tu_rng *r, size_t lo, size_t hi);
void tu_fill(tu_rng *r, float *x, size_t n, float lo, float hi);
/* Fisher-Yates permutation of 0..n-1 */
void tu_perm(tu_rng *r, size_t *p, size_t n);

/* ---- buffers: n floats starting `misalign` floats past a 64-byte boundary,
 * so kernels see unaligned pointers; filled with a NaN pattern ---- */
typedef struct tu_buf {
  void *base;
  float *p;
} tu_buf;
float *tu_alloc(tu_buf *b, size_t n, size_t misalign);
void tu_free(tu_buf *b);

/* ---- comparison ---- */
/* index of the first differing bit pattern, or -1 */
long tu_bitdiff(const float *a, const float *b, size_t n);
/* asserts a and b are bit-identical, printing context on failure */
void tu_assert_bits(const float *a, const float *b, size_t n, const char *what);

/* ---- implementations of a family, from its .inc list ---- */
typedef struct tu_impl {
  const char *name;
  wsk_isa isa;
  const void *table;
} tu_impl;
extern const tu_impl tu_permsum_impls[];
extern const size_t tu_permsum_impl_count;
extern const tu_impl tu_eqpool_impls[];
extern const size_t tu_eqpool_impl_count;
/* The table of `impls` (n entries) for tier isa; the last entry (scalar) when
 * the list lacks it. */
const void *tu_table_for(const tu_impl *impls, size_t n, wsk_isa isa);
/* 1 when the CPU runs this implementation; else prints a visible skip line
 * (once per implementation and program) and returns 0 */
int tu_impl_runs(const char *family, const tu_impl *impl);

/* ---- cross-machine digest: FNV-1a over the bit patterns of floats ---- */
uint64_t tu_digest(uint64_t h, const float *x, size_t n);
#define TU_DIGEST_INIT 0xcbf29ce484222325ull
/* asserts that a digest equals the one recorded on x86-64 (scalar, AVX2 and
 * AVX-512 agree by the parity tests); so the aarch64 leg proves NEON gives
 * the x86 bits. Prints the digest when it differs. */
void tu_assert_digest(const char *what, uint64_t got, uint64_t want);
#endif
