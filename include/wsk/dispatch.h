/* wsk/dispatch.h — instruction-set tiers, CPU detection and the run-time
 * choice of implementation for every kernel family.
 *
 * Each kernel family exists as a portable scalar reference and as AVX2+FMA,
 * AVX-512 (F, BW, DQ, VL) and NEON tiers. On first use of a family, wsk picks
 * the best tier that (a) was compiled into this library, (b) the running CPU
 * and OS support, and (c) does not exceed the cap set by the environment
 * variable WSK_ISA or by wsk_set_isa(). The choice is made once per family
 * (pthread_once) and logged to stderr when WSK_VERBOSE=1.
 *
 * Tiers are ordered: scalar < avx2 < avx512 on x86-64, scalar < neon on
 * aarch64. A cap names the highest tier allowed; every lower tier the CPU has
 * remains allowed. Whatever the tier, every kernel returns identical bits
 * (the parity contract, README "Parity").
 */
#ifndef WSK_DISPATCH_H
#define WSK_DISPATCH_H

#include <stdint.h>
#include <stdio.h>

#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wsk_isa {
  WSK_ISA_SCALAR = 0,
  WSK_ISA_AVX2 = 1,   /* AVX2 + FMA (+ OS-enabled YMM state) */
  WSK_ISA_AVX512 = 2, /* AVX-512 F, BW, DQ, VL (+ OS-enabled ZMM and opmask state) */
  WSK_ISA_NEON = 3,   /* AArch64 Advanced SIMD */
  WSK_ISA_COUNT = 4
} wsk_isa;

/* Bit mask of tiers: bit (1u << isa). */
#define WSK_ISA_BIT(isa) (1u << (unsigned)(isa))

/* Lower-case name of a tier ("scalar", "avx2", "avx512", "neon"), or "?" . */
const char *wsk_isa_name(wsk_isa isa);

/* Parses a tier name (case-insensitive). WSK_ERR_ISA for an unknown name. */
wsk_status wsk_isa_parse(const char *name, wsk_isa *out);

/* The kernel families of the library, in the order `wsk info` lists them. */
typedef enum wsk_family {
  WSK_FAMILY_PERMSUM = 0,
  WSK_FAMILY_EQPOOL = 1,
  WSK_FAMILY_GEMM = 2,
  WSK_FAMILY_ELTWISE = 3,
  WSK_FAMILY_OPTIM = 4,
  WSK_FAMILY_ATTN = 5,
  WSK_FAMILY_COUNT = 6
} wsk_family;

const char *wsk_family_name(wsk_family f);

/* Tiers compiled into this build of the library (always includes scalar). */
uint32_t wsk_isas_compiled(void);

/* Tiers the running CPU and OS can execute (always includes scalar). */
uint32_t wsk_isas_supported(void);

/* Tiers that are both compiled and supported: the valid values of WSK_ISA. */
uint32_t wsk_isas_available(void);

/* Writes the valid WSK_ISA values on this machine, best first and comma separated
 * ("avx512, avx2, scalar"), into buf. Returns buf. */
char *wsk_isas_available_str(char *buf, size_t len);

/* Validates WSK_ISA and WSK_VERBOSE from the environment. Returns WSK_OK, or
 * WSK_ERR_ISA with wsk_last_error() naming the bad value and the valid ones.
 * Kernel entry points call it implicitly; programs call it early to fail
 * fast with a clear message. */
wsk_status wsk_dispatch_init(void);

/* Caps the tier for every family, replacing WSK_ISA's cap (it may allow a
 * higher tier than WSK_ISA does), and re-selects every family's implementation. For tests and benchmarks: it must not race with
 * kernel calls on other threads. WSK_ERR_ISA when `isa` is not available. */
wsk_status wsk_set_isa(wsk_isa isa);

/* Removes the cap set by wsk_set_isa(); WSK_ISA applies again. */
wsk_status wsk_reset_isa(void);

/* The tier currently selected for a family. WSK_ERR_ISA when WSK_ISA is
 * invalid, WSK_ERR_ARG for an unknown family. */
wsk_status wsk_family_isa(wsk_family f, wsk_isa *out);

/* Description of the running CPU, as `wsk info` prints it. */
typedef struct wsk_cpu_info {
  char vendor[16];   /* "GenuineIntel", "AuthenticAMD", "ARM", "Apple", ... */
  char name[64];     /* brand string, or a best-effort model name */
  uint32_t isas;     /* = wsk_isas_supported() */
  char features[256];/* space-separated feature names that wsk checks */
} wsk_cpu_info;

wsk_status wsk_cpu_info_get(wsk_cpu_info *out);

/* Prints what `wsk info` prints: CPU, features, topology (hwloc: packages,
 * cores, threads, L1d/L2/L3 sizes), tiers compiled/supported and the
 * implementation chosen for every family. */
wsk_status wsk_info_print(FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* WSK_DISPATCH_H */
