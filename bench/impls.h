/* bench/impls.h — the implementations of each family, from its .inc list,
 * for the benches (the same walk as the tests). */
#ifndef WSK_BENCH_IMPLS_H
#define WSK_BENCH_IMPLS_H

#include "bench.h"
#include "kernels/ukernels.h"

typedef struct bench_impl {
  const char *name;
  wsk_isa isa;
  const void *table;
} bench_impl;

#define WSK_IMPL(family, suffix, isa) {#suffix, isa, &wsk_##family##_ukernels__##suffix},
static const bench_impl permsum_impls[] = {
#include "kernels/permsum/permsum.inc"
};
static const bench_impl eqpool_impls[] = {
#include "kernels/eqpool/eqpool.inc"
};
static const bench_impl gemm_impls[] = {
#include "kernels/gemm/gemm.inc"
};
static const bench_impl eltwise_impls[] = {
#include "kernels/eltwise/eltwise.inc"
};
static const bench_impl optim_impls[] = {
#include "kernels/optim/optim.inc"
};
static const bench_impl attn_impls[] = {
#include "kernels/attn/attn.inc"
};
#undef WSK_IMPL
#define N_PERMSUM_IMPLS (sizeof permsum_impls / sizeof permsum_impls[0])
#define N_EQPOOL_IMPLS (sizeof eqpool_impls / sizeof eqpool_impls[0])
#define N_GEMM_IMPLS (sizeof gemm_impls / sizeof gemm_impls[0])
#define N_ELTWISE_IMPLS (sizeof eltwise_impls / sizeof eltwise_impls[0])
#define N_OPTIM_IMPLS (sizeof optim_impls / sizeof optim_impls[0])
#define N_ATTN_IMPLS (sizeof attn_impls / sizeof attn_impls[0])

/* The table of `impls` (n entries, a family's .inc list) for tier isa; the
 * last entry (scalar) when the list lacks it. */
static inline const void *bench_table_for(const bench_impl *impls, size_t n, wsk_isa isa) {
  for (size_t i = 0; i < n; i++)
    if (impls[i].isa == isa) return impls[i].table;
  return impls[n - 1].table;
}

/* Skips the benchmark (with the reason) when the CPU lacks the tier or the
 * WSK_ISA cap excludes it. */
static inline int bench_impl_usable(gb_state *st, wsk_isa isa) {
  if (wsk_bench_isas() & WSK_ISA_BIT(isa)) return 1;
  char why[64];
  if (wsk_isas_supported() & WSK_ISA_BIT(isa))
    snprintf(why, sizeof why, "%s is above the WSK_ISA cap", wsk_isa_name(isa));
  else
    snprintf(why, sizeof why, "this CPU lacks %s", wsk_isa_name(isa));
  gb_skip(st, why);
  return 0;
}

#endif
