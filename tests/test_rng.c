/* tests/test_rng.c — model/rng.h: the portable PRNG.
 *
 * - xoshiro128** itself against the reference's outputs for the state
 *   {1, 2, 3, 4};
 * - recorded sequences (seeding, u32, uniform, normal, below, shuffle), the
 *   same on every machine (this test runs under qemu-aarch64 in CI too);
 * - streams of one seed differ; the same (seed, stream) repeats;
 * - uniform in [0, 1) with 24-bit resolution, mean 1/2 and variance 1/12;
 * - below(n): range, no modulo bias (counts within 5 sigma), large n;
 * - normal: mean 0, variance 1, tail share, always finite;
 * - shuffle: a permutation, every position reachable.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/rng.h"
#include "testutil.h"

static uint32_t bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static void test_reference_xoshiro(void **state) {
  (void)state;
  /* outputs of the reference xoshiro128starstar.c from s = {1, 2, 3, 4} */
  static const uint32_t want[] = {11520u, 0u, 5927040u, 70819200u, 2031721883u, 1637235492u};
  wsk_rng r = {{1, 2, 3, 4}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    assert_int_equal(wsk_rng_u32(&r), want[i]);
}

static void test_recorded(void **state) {
  (void)state;
  wsk_rng r;
  wsk_rng_seed(&r, 42, 7);
  static const uint32_t u32[] = {0xe3a20795u, 0xd4ae3bf2u, 0x179aa07fu,
                                 0x1f688580u, 0x99dc0496u, 0xf9d6670au};
  for (int i = 0; i < 6; i++) assert_int_equal(wsk_rng_u32(&r), u32[i]);

  wsk_rng_seed(&r, 1, 0);
  static const uint32_t uni[] = {0x3f64e9bfu, 0x3e7564dcu, 0x3f1eeaefu, 0x3db8bb78u};
  for (int i = 0; i < 4; i++) assert_int_equal(bits(wsk_rng_uniform(&r)), uni[i]);
  static const uint32_t nrm[] = {0x405a5b40u, 0x3ed91a46u, 0x3f85f691u, 0xbfac5b02u};
  for (int i = 0; i < 4; i++) assert_int_equal(bits(wsk_rng_normal(&r)), nrm[i]);
  static const uint32_t below[] = {5, 2, 7, 7, 8, 6};
  for (int i = 0; i < 6; i++) assert_int_equal(wsk_rng_below(&r, 10), below[i]);
  uint32_t a[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  static const uint32_t shuffled[8] = {3, 0, 5, 4, 7, 1, 6, 2};
  wsk_rng_shuffle_u32(&r, a, 8);
  assert_memory_equal(a, shuffled, sizeof a);

  wsk_rng_seed(&r, 0, 0); /* seed 0 is a valid seed */
  assert_int_equal(wsk_rng_u32(&r), 0xbd9cc3c0u);
  assert_int_equal(wsk_rng_u32(&r), 0x4c8613e0u);
}

static void test_streams(void **state) {
  (void)state;
  wsk_rng a, b, c;
  wsk_rng_seed(&a, 5, 0);
  wsk_rng_seed(&b, 5, 1);
  wsk_rng_seed(&c, 5, 0);
  int same_ab = 0;
  for (int i = 0; i < 1000; i++) {
    const uint32_t x = wsk_rng_u32(&a);
    const uint32_t y = wsk_rng_u32(&b);
    const uint32_t z = wsk_rng_u32(&c);
    same_ab += x == y;
    assert_int_equal(x, z);
  }
  assert_true(same_ab < 3);
  /* neighbouring streams are not shifted copies of each other */
  wsk_rng_seed(&a, 5, 1);
  wsk_rng_seed(&b, 5, 2);
  uint32_t sa[64], sb[64];
  for (int i = 0; i < 64; i++) sa[i] = wsk_rng_u32(&a);
  for (int i = 0; i < 64; i++) sb[i] = wsk_rng_u32(&b);
  for (int s = 0; s < 32; s++) assert_false(memcmp(sa + s, sb, 32 * 4) == 0);
  /* u64 is hi then lo of two draws */
  wsk_rng_seed(&a, 9, 9);
  wsk_rng_seed(&b, 9, 9);
  const uint64_t w = wsk_rng_u64(&a);
  const uint64_t hi = wsk_rng_u32(&b);
  const uint64_t lo = wsk_rng_u32(&b);
  assert_true(w == ((hi << 32) | lo));
}

static void test_uniform(void **state) {
  (void)state;
  wsk_rng r;
  wsk_rng_seed(&r, 123, 4);
  const int n = 200000;
  double s = 0, s2 = 0;
  for (int i = 0; i < n; i++) {
    const float u = wsk_rng_uniform(&r);
    assert_true(u >= 0.0f && u < 1.0f);
    assert_true(u * 16777216.0f == floorf(u * 16777216.0f)); /* a multiple of 2^-24 */
    s += u;
    s2 += (double)u * u;
  }
  const double mean = s / n, var = s2 / n - mean * mean;
  assert_true(fabs(mean - 0.5) < 5 * sqrt(1.0 / 12 / n));
  assert_true(fabs(var - 1.0 / 12) < 0.002);
  for (int i = 0; i < 1000; i++) {
    const float v = wsk_rng_range(&r, -2.0f, 3.0f);
    assert_true(v >= -2.0f && v <= 3.0f);
  }
}

static void test_below(void **state) {
  (void)state;
  wsk_rng r;
  wsk_rng_seed(&r, 77, 0);
  assert_int_equal(wsk_rng_below(&r, 0), 0);
  for (int i = 0; i < 100; i++) assert_int_equal(wsk_rng_below(&r, 1), 0);
  /* n = 3 * 2^30: plain modulo would make residues 0..2^30-1 twice as likely
   * as the rest; count the low third against the expected 1/3 */
  const uint32_t big = 3u << 30;
  const int n = 120000;
  int low = 0;
  for (int i = 0; i < n; i++) {
    const uint32_t v = wsk_rng_below(&r, big);
    assert_true(v < big);
    low += v < (1u << 30);
  }
  const double p = 1.0 / 3, sd = sqrt(n * p * (1 - p));
  assert_true(fabs(low - n * p) < 5 * sd);
  /* small n: every value, counts within 5 sigma */
  int cnt[7] = {0};
  for (int i = 0; i < 70000; i++) cnt[wsk_rng_below(&r, 7)]++;
  for (int v = 0; v < 7; v++)
    assert_true(fabs(cnt[v] - 10000.0) < 5 * sqrt(70000 * (1.0 / 7) * (6.0 / 7)));
}

static void test_normal(void **state) {
  (void)state;
  wsk_rng r;
  wsk_rng_seed(&r, 2024, 3);
  const int n = 200000;
  double s = 0, s2 = 0;
  int tail = 0;
  for (int i = 0; i < n; i++) {
    const float z = wsk_rng_normal(&r);
    assert_true(isfinite(z));
    s += z;
    s2 += (double)z * z;
    tail += fabsf(z) > 1.96f;
  }
  const double mean = s / n, var = s2 / n - mean * mean;
  assert_true(fabs(mean) < 5 / sqrt(n));
  assert_true(fabs(var - 1.0) < 5 * sqrt(2.0 / n));
  assert_true(fabs(tail / (double)n - 0.05) < 0.004);
}

static void test_shuffle(void **state) {
  (void)state;
  wsk_rng r;
  wsk_rng_seed(&r, 8, 8);
  enum { N = 10 };
  int pos0[N] = {0};
  for (int t = 0; t < 5000; t++) {
    uint32_t a[N];
    for (uint32_t i = 0; i < N; i++) a[i] = i;
    wsk_rng_shuffle_u32(&r, a, N);
    int seen[N] = {0};
    for (int i = 0; i < N; i++) seen[a[i]]++;
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
    for (int i = 0; i < N; i++)
      if (a[i] == 0) pos0[i]++;
  }
  for (int i = 0; i < N; i++) assert_true(pos0[i] > 350 && pos0[i] < 650);
  uint32_t one = 5;
  wsk_rng_shuffle_u32(&r, &one, 1);
  wsk_rng_shuffle_u32(&r, NULL, 0);
  assert_int_equal(one, 5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference_xoshiro),
      cmocka_unit_test(test_recorded),
      cmocka_unit_test(test_streams),
      cmocka_unit_test(test_uniform),
      cmocka_unit_test(test_below),
      cmocka_unit_test(test_normal),
      cmocka_unit_test(test_shuffle),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
