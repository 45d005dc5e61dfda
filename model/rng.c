/* model/rng.c — xoshiro128** seeded by splitmix64; see model/rng.h. */
#include "model/rng.h"

#include <math.h>
#include <sleef.h>

/* sleef.h declares the purecfma functions only when the compiler targets FMA
 * (FP_FAST_FMA); the library's base files are built with baseline flags. */
float Sleef_finz_logf1_u10purecfma(float);
float Sleef_finz_cospif1_u05purecfma(float);

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void wsk_rng_seed(wsk_rng *r, uint64_t seed, uint64_t stream) {
  /* The stream is hashed on its own first, so streams i and i+1 do not start
   * one splitmix step apart; then the seed is mixed in and four words drawn. */
  uint64_t h = stream;
  const uint64_t hs = splitmix64(&h);
  uint64_t x = seed ^ hs;
  const uint64_t a = splitmix64(&x);
  const uint64_t b = splitmix64(&x);
  r->s[0] = (uint32_t)(a >> 32);
  r->s[1] = (uint32_t)a;
  r->s[2] = (uint32_t)(b >> 32);
  r->s[3] = (uint32_t)b;
  if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0) r->s[0] = 0x9E3779B9u;
}

static inline uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

uint32_t wsk_rng_u32(wsk_rng *r) {
  uint32_t *s = r->s;
  const uint32_t result = rotl(s[1] * 5u, 7) * 9u;
  const uint32_t t = s[1] << 9;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 11);
  return result;
}

uint64_t wsk_rng_u64(wsk_rng *r) {
  const uint64_t hi = wsk_rng_u32(r);
  const uint64_t lo = wsk_rng_u32(r);
  return (hi << 32) | lo;
}

float wsk_rng_uniform(wsk_rng *r) { return (float)(wsk_rng_u32(r) >> 8) * 0x1p-24f; }

float wsk_rng_range(wsk_rng *r, float lo, float hi) {
  const float u = wsk_rng_uniform(r);
  const float w = hi - lo;
  return lo + w * u;
}

uint32_t wsk_rng_below(wsk_rng *r, uint32_t n) {
  if (n == 0) return 0;
  /* Lemire, "Fast random integer generation in an interval" (2019): the high
   * word of x * n is uniform once the low word's biased zone is rejected. */
  uint64_t m = (uint64_t)wsk_rng_u32(r) * n;
  uint32_t low = (uint32_t)m;
  if (low < n) {
    const uint32_t threshold = (uint32_t)(-n) % n; /* 2^32 mod n */
    while (low < threshold) {
      m = (uint64_t)wsk_rng_u32(r) * n;
      low = (uint32_t)m;
    }
  }
  return (uint32_t)(m >> 32);
}

float wsk_rng_normal(wsk_rng *r) {
  const float u1 = 1.0f - wsk_rng_uniform(r); /* (0, 1]: log is finite */
  const float u2 = wsk_rng_uniform(r);
  const float l = Sleef_finz_logf1_u10purecfma(u1);
  const float rad = sqrtf(-2.0f * l);
  const float c = Sleef_finz_cospif1_u05purecfma(2.0f * u2); /* cos(2 pi u2) */
  return rad * c;
}

void wsk_rng_shuffle_u32(wsk_rng *r, uint32_t *a, size_t n) {
  for (size_t i = n; i > 1; i--) {
    const uint32_t j = wsk_rng_below(r, (uint32_t)i);
    const uint32_t t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
  }
}
