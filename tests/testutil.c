/* tests/testutil.c — see testutil.h. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t tu_next(tu_rng *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

float tu_uniform(tu_rng *r, float lo, float hi) {
  const float u = (float)(tu_next(r) >> 40) * (1.0f / 16777216.0f);
  return lo + (hi - lo) * u;
}

size_t tu_int(tu_rng *r, size_t lo, size_t hi) {
  return lo + (size_t)(tu_next(r) % (uint64_t)(hi - lo + 1));
}

void tu_fill(tu_rng *r, float *x, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; i++) x[i] = tu_uniform(r, lo, hi);
}

void tu_perm(tu_rng *r, size_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = i;
  for (size_t i = n; i > 1; i--) {
    const size_t j = (size_t)(tu_next(r) % i);
    const size_t t = p[i - 1];
    p[i - 1] = p[j];
    p[j] = t;
  }
}

float *tu_alloc(tu_buf *b, size_t n, size_t misalign) {
  b->base = NULL;
  if (posix_memalign(&b->base, 64, (n + misalign + 16) * sizeof(float)) != 0) return NULL;
  b->p = (float *)b->base + misalign;
  uint32_t pattern = 0x7FC0DEADu; /* a quiet NaN: reads of unwritten memory show */
  for (size_t i = 0; i < n + 16; i++) memcpy((float *)b->base + i, &pattern, 4);
  return b->p;
}

void tu_free(tu_buf *b) {
  free(b->base);
  b->base = NULL;
  b->p = NULL;
}

long tu_bitdiff(const float *a, const float *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t x, y;
    memcpy(&x, a + i, 4);
    memcpy(&y, b + i, 4);
    if (x != y) return (long)i;
  }
  return -1;
}

void tu_assert_bits(const float *a, const float *b, size_t n, const char *what) {
  const long i = tu_bitdiff(a, b, n);
  if (i >= 0) {
    uint32_t x, y;
    memcpy(&x, a + i, 4);
    memcpy(&y, b + i, 4);
    print_error("%s: element %ld differs: %.9g (0x%08x) vs %.9g (0x%08x)\n", what, i, a[i], x,
                b[i], y);
    fail();
  }
}

#define WSK_IMPL(family, suffix, isa) {#suffix, isa, &wsk_##family##_ukernels__##suffix},
const tu_impl tu_permsum_impls[] = {
#include "kernels/permsum/permsum.inc"
};
const size_t tu_permsum_impl_count = sizeof tu_permsum_impls / sizeof tu_permsum_impls[0];
const tu_impl tu_eqpool_impls[] = {
#include "kernels/eqpool/eqpool.inc"
};
const size_t tu_eqpool_impl_count = sizeof tu_eqpool_impls / sizeof tu_eqpool_impls[0];
#undef WSK_IMPL

const void *tu_table_for(const tu_impl *impls, size_t n, wsk_isa isa) {
  for (size_t i = 0; i < n; i++)
    if (impls[i].isa == isa) return impls[i].table;
  return impls[n - 1].table;
}

int tu_impl_runs(const char *family, const tu_impl *impl) {
  static char said[64][WSK_ISA_COUNT];
  if (wsk_isas_supported() & WSK_ISA_BIT(impl->isa)) return 1;
  const size_t f = (size_t)(family[0] & 63);
  if (!said[f][impl->isa]) {
    said[f][impl->isa] = 1;
    printf("[  SKIPPED ] %s/%s: this CPU lacks %s\n", family, impl->name, wsk_isa_name(impl->isa));
    fflush(stdout);
  }
  return 0;
}

uint64_t tu_digest(uint64_t h, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t b;
    memcpy(&b, x + i, 4);
    for (int k = 0; k < 4; k++) {
      h ^= (b >> (8 * k)) & 0xFFu;
      h *= 0x100000001b3ull;
    }
  }
  return h;
}

void tu_assert_digest(const char *what, uint64_t got, uint64_t want) {
  printf("%s digest: 0x%016llx\n", what, (unsigned long long)got);
  if (got != want) {
    print_error("%s digest 0x%016llx differs from the recorded 0x%016llx\n", what,
                (unsigned long long)got, (unsigned long long)want);
    fail();
  }
}
