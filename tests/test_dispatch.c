/* tests/test_dispatch.c — CPU detection and the dispatch layer.
 *
 * 1. The deciders (dispatch/cpu.h) on register values of real CPUs: each
 *    case names where its values come from. Only the registers the decider
 *    reads are given (CPUID.0:EAX, CPUID.1:ECX/EDX, CPUID.(7,0):EBX/ECX/EDX,
 *    XCR0; AT_HWCAP/AT_HWCAP2; the two macOS sysctls).
 * 2. Names and parsing of tiers and families.
 * 3. The tables on this machine: the choice per family, wsk_set_isa(),
 *    wsk_reset_isa(), WSK_ISA and WSK_VERBOSE (re-read through
 *    wsk__dispatch_reset_for_tests()), wsk_cpu_info_get(), wsk_info_print().
 *
 * The suite also runs under a forced tier (WSK_ISA=avx2 etc., ci/): every
 * expectation about the default choice takes the WSK_ISA it started with into
 * account, and every test that changes the environment restores it. A tier
 * this machine lacks is skipped with a visible line.
 */
#if defined(__linux__)
#define _GNU_SOURCE /* getauxval, setenv, dup */
#else
#define _POSIX_C_SOURCE 200809L
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

#include "dispatch/cpu.h"
#include "dispatch/dispatch_internal.h"
#include "kernels/ukernels.h"
#include "wsk/wsk.h"

#define BIT(isa) WSK_ISA_BIT(isa)
#define X86_UP_TO_AVX512 (BIT(WSK_ISA_SCALAR) | BIT(WSK_ISA_AVX2) | BIT(WSK_ISA_AVX512))
#define X86_UP_TO_AVX2 (BIT(WSK_ISA_SCALAR) | BIT(WSK_ISA_AVX2))
#define SCALAR_ONLY BIT(WSK_ISA_SCALAR)
#define ARM_NEON (BIT(WSK_ISA_SCALAR) | BIT(WSK_ISA_NEON))

/* ==== 1. x86 ================================================================
 *
 * Bits the decider reads (Intel SDM vol. 2A table 3-8, vol. 1 §13.3):
 *   CPUID.1:ECX      FMA 12, OSXSAVE 27, AVX 28
 *   CPUID.(7,0):EBX  AVX2 5, AVX512F 16, AVX512DQ 17, AVX512BW 30, AVX512VL 31
 *   XCR0             SSE 1, YMM 2, opmask 5, ZMM_Hi256 6, Hi16_ZMM 7
 *                    (also seen: x87 0, MPX 3-4, PKRU 9, AMX tiles 17-18). */

/* AMD EPYC 9004 "Genoa" (Zen 4, family 19h model 11h), recorded with CPUID
 * and XGETBV on a cloud VM (this is why CPUID.1:ECX has the hypervisor bit 31
 * and the max leaf is the hypervisor's 0x1c): AVX2, FMA, AVX-512
 * F/DQ/IFMA/CD/BW/VL/BF16/VBMI/VNNI... The VM's guest kernel left PKRU out of
 * XCR0 (0xe7); bare-metal Linux on Zen 4 has XCR0 = 0x2e7 (x87, SSE, AVX,
 * opmask, ZMM_Hi256, Hi16_ZMM, PKRU). */
static const wsk_x86_regs zen4_genoa_vm = {
    .max_leaf = 0x1c,
    .leaf1_ecx = 0xfffa3203, .leaf1_edx = 0x178bfbff,
    .leaf7_ebx = 0xf1bf07ab, .leaf7_ecx = 0x00405fc6, .leaf7_edx = 0x00000010,
    .xcr0 = 0xe7,
};

/* Intel Xeon (4th gen, Sapphire Rapids, family 6 model 8Fh). Constructed, not
 * dumped: CPUID.1:ECX/EDX as on Intel's server cores (the values of the Xeon
 * Gold below), CPUID.(7,0) from the flags Linux reports on a Xeon Platinum
 * 8462Y+ (fsgsbase tsc_adjust bmi1 hle avx2 smep bmi2 erms invpcid rtm cqm
 * rdt_a avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb intel_pt
 * avx512cd sha_ni avx512bw avx512vl | avx512vbmi umip pku ospke waitpkg
 * avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg tme
 * avx512_vpopcntdq la57 rdpid bus_lock_detect cldemote movdiri movdir64b
 * enqcmd | fsrm md_clear serialize tsxldtrk pconfig arch_lbr ibt amx_bf16
 * avx512_fp16 amx_tile amx_int8 ...) mapped to their SDM bits. XCR0 = 0x602e7:
 * x87, SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM, PKRU, XTILECFG, XTILEDATA. */
static const wsk_x86_regs sapphire_rapids = {
    .max_leaf = 0x20,
    .leaf1_ecx = 0x7ffefbff, .leaf1_edx = 0xbfebfbff,
    .leaf7_ebx = 0xf3bfbffb, .leaf7_ecx = 0xfb417ffe, .leaf7_edx = 0xffdd4410,
    .xcr0 = 0x602e7,
};

/* An Intel Xeon of the Sapphire Rapids generation's core (family 6 model
 * CFh, 5th gen "Emerald Rapids", the same Golden Cove-class AVX-512 + AMX
 * core), recorded with `wsk info --raw` on a 16-vCPU KVM guest: AVX2, FMA,
 * AVX-512 F/DQ/BW/VL/IFMA/VBMI/FP16, AMX; XCR0 = 0x602e7 with the AMX tile
 * state enabled. */
static const wsk_x86_regs xeon_emerald_rapids_vm = {
    .max_leaf = 0x20,
    .leaf1_ecx = 0xfffa3203, .leaf1_edx = 0x1f8bfbff,
    .leaf7_ebx = 0xf1bf27eb, .leaf7_ecx = 0x1b415fde, .leaf7_edx = 0xbfd14410,
    .xcr0 = 0x602e7,
};

/* Intel Core i7-4770 (Haswell, family 6 model 3Ch stepping 3): AVX2 + FMA,
 * no AVX-512. CPUID.0:EAX = 0xd, CPUID.1 = 000306c3 00100800 7ffafbff
 * bfebfbff, CPUID.(7,0):EBX = 0x27ab, as in published test data of this CPU;
 * XCR0 = 0x7 (x87, SSE, AVX) under Linux. */
static const wsk_x86_regs haswell = {
    .max_leaf = 0xd,
    .leaf1_ecx = 0x7ffafbff, .leaf1_edx = 0xbfebfbff,
    .leaf7_ebx = 0x000027ab, .leaf7_ecx = 0, .leaf7_edx = 0,
    .xcr0 = 0x7,
};

/* Intel Xeon Gold 6xxx (server Skylake/Cascade Lake core, family 6 model 55h):
 * CPUID.1 = 00050656 12400800 7ffefbff bfebfbff, CPUID.(7,0) = 0 d39ffffb
 * 00000808 bc000400, as recorded in Fuchsia's zircon x86 tests. AVX-512
 * F/DQ/CD/BW/VL. Linux enables XCR0 = 0x2ff (with MPX and PKRU). */
static const wsk_x86_regs xeon_skylake_sp = {
    .max_leaf = 0x16,
    .leaf1_ecx = 0x7ffefbff, .leaf1_edx = 0xbfebfbff,
    .leaf7_ebx = 0xd39ffffb, .leaf7_ecx = 0x00000808, .leaf7_edx = 0xbc000400,
    .xcr0 = 0x2ff,
};

/* Intel Core i7-2600-class Sandy Bridge (family 6 model 2Ah): AVX, no FMA, no
 * AVX2. CPUID.1:ECX = 0x1f9ae3bf, leaf 7 all zero (google/cpu_features test
 * data). */
static const wsk_x86_regs sandy_bridge = {
    .max_leaf = 0xd,
    .leaf1_ecx = 0x1f9ae3bf, .leaf1_edx = 0xbfebfbff,
    .xcr0 = 0x7,
};

static wsk_x86_regs with_xcr0(wsk_x86_regs r, uint64_t xcr0) {
  r.xcr0 = xcr0;
  return r;
}

static void test_x86_zen4(void **state) {
  (void)state;
  assert_int_equal(wsk_isas_from_x86(&zen4_genoa_vm), X86_UP_TO_AVX512);
  wsk_x86_regs bare_metal = with_xcr0(zen4_genoa_vm, 0x2e7);
  assert_int_equal(wsk_isas_from_x86(&bare_metal), X86_UP_TO_AVX512);
}

static void test_x86_sapphire_rapids(void **state) {
  (void)state;
  assert_int_equal(wsk_isas_from_x86(&sapphire_rapids), X86_UP_TO_AVX512);
  assert_int_equal(wsk_isas_from_x86(&xeon_emerald_rapids_vm), X86_UP_TO_AVX512);
  /* the same CPU under an OS that leaves the ZMM state off: AVX2 only */
  assert_int_equal(wsk_isas_from_x86(&(wsk_x86_regs){.max_leaf = 0x20,
                                                    .leaf1_ecx = 0xfffa3203,
                                                    .leaf1_edx = 0x1f8bfbff,
                                                    .leaf7_ebx = 0xf1bf27eb,
                                                    .leaf7_ecx = 0x1b415fde,
                                                    .leaf7_edx = 0xbfd14410,
                                                    .xcr0 = 0x7}),
                   X86_UP_TO_AVX2);
}

static void test_x86_haswell(void **state) {
  (void)state;
  assert_int_equal(wsk_isas_from_x86(&haswell), X86_UP_TO_AVX2);
}

static void test_x86_skylake_sp(void **state) {
  (void)state;
  assert_int_equal(wsk_isas_from_x86(&xeon_skylake_sp), X86_UP_TO_AVX512);
}

/* AVX-512 in CPUID, but the OS did not enable ZMM/opmask state (an OS or
 * hypervisor that only knows AVX): the AVX2 tier, never AVX-512. */
static void test_x86_avx512_cpu_without_zmm_state(void **state) {
  (void)state;
  wsk_x86_regs r = with_xcr0(xeon_skylake_sp, 0x7);
  assert_int_equal(wsk_isas_from_x86(&r), X86_UP_TO_AVX2);
  /* Every one of the three AVX-512 state components is needed. */
  r = with_xcr0(xeon_skylake_sp, 0x7 | 0x20 | 0x40); /* no Hi16_ZMM */
  assert_int_equal(wsk_isas_from_x86(&r), X86_UP_TO_AVX2);
  r = with_xcr0(xeon_skylake_sp, 0x7 | 0x40 | 0x80); /* no opmask */
  assert_int_equal(wsk_isas_from_x86(&r), X86_UP_TO_AVX2);
  r = with_xcr0(zen4_genoa_vm, 0x7 | 0x20 | 0x80); /* no ZMM_Hi256 */
  assert_int_equal(wsk_isas_from_x86(&r), X86_UP_TO_AVX2);
}

/* Every one of the AVX-512 CPUID bits is needed, e.g. Knights Landing has
 * AVX-512 F/CD/ER/PF but not DQ/BW/VL (leaf 7 constructed from Haswell's
 * bits plus F, PF, ER, CD). */
static void test_x86_avx512_subset(void **state) {
  (void)state;
  wsk_x86_regs knl = haswell;
  knl.leaf7_ebx = 0x27ab | (1u << 16) | (1u << 26) | (1u << 27) | (1u << 28);
  knl.xcr0 = 0xe7;
  assert_int_equal(wsk_isas_from_x86(&knl), X86_UP_TO_AVX2);
  static const uint32_t needed[] = {1u << 16, 1u << 17, 1u << 30, 1u << 31};
  for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
    wsk_x86_regs r = sapphire_rapids;
    r.leaf7_ebx &= ~needed[i];
    assert_int_equal(wsk_isas_from_x86(&r), X86_UP_TO_AVX2);
  }
}

/* An AVX CPU whose OS disabled YMM state (XCR0 = SSE only): scalar. */
static void test_x86_os_without_ymm_state(void **state) {
  (void)state;
  wsk_x86_regs r = with_xcr0(haswell, 0x3);
  assert_int_equal(wsk_isas_from_x86(&r), SCALAR_ONLY);
  r = with_xcr0(zen4_genoa_vm, 0x3 | 0xe0); /* ZMM bits without YMM: nonsense */
  assert_int_equal(wsk_isas_from_x86(&r), SCALAR_ONLY);
  r = with_xcr0(haswell, 0x5); /* YMM without SSE state */
  assert_int_equal(wsk_isas_from_x86(&r), SCALAR_ONLY);
}

/* OSXSAVE clear: XGETBV is unusable and XCR0 means nothing, even if set. */
static void test_x86_osxsave_clear(void **state) {
  (void)state;
  wsk_x86_regs r = with_xcr0(haswell, 0);
  r.leaf1_ecx &= ~(1u << 27);
  assert_int_equal(wsk_isas_from_x86(&r), SCALAR_ONLY);
  r = with_xcr0(sapphire_rapids, 0x602e7);
  r.leaf1_ecx &= ~(1u << 27);
  assert_int_equal(wsk_isas_from_x86(&r), SCALAR_ONLY);
}

/* CPUID.0:EAX < 7 (e.g. the BIOS option "Limit CPUID Maximum", which caps it
 * at 2 or 3): leaf 7 does not exist and whatever it returned is ignored. */
static void test_x86_max_leaf_below_7(void **state) {
  (void)state;
  wsk_x86_regs r = haswell;
  r.max_leaf = 6;
  assert_int_equal(wsk_isas_from_x86(&r), SCALAR_ONLY);
  r = sapphire_rapids;
  r.max_leaf = 3;
  assert_int_equal(wsk_isas_from_x86(&r), SCALAR_ONLY);
}

static void test_x86_no_avx2_tier(void **state) {
  (void)state;
  assert_int_equal(wsk_isas_from_x86(&sandy_bridge), SCALAR_ONLY);
  wsk_x86_regs r = zen4_genoa_vm;
  r.leaf1_ecx &= ~(1u << 12); /* no FMA: no AVX2 tier, hence no AVX-512 tier */
  assert_int_equal(wsk_isas_from_x86(&r), SCALAR_ONLY);
  r = zen4_genoa_vm;
  r.leaf1_ecx &= ~(1u << 28); /* no AVX */
  assert_int_equal(wsk_isas_from_x86(&r), SCALAR_ONLY);
  r = zen4_genoa_vm;
  r.leaf7_ebx &= ~(1u << 5); /* no AVX2 */
  assert_int_equal(wsk_isas_from_x86(&r), SCALAR_ONLY);
  assert_int_equal(wsk_isas_from_x86(NULL), SCALAR_ONLY);
  wsk_x86_regs zero = {0};
  assert_int_equal(wsk_isas_from_x86(&zero), SCALAR_ONLY);
}

/* ==== 1. aarch64 ============================================================ */

/* AWS Graviton2 (Neoverse-N1): /proc/cpuinfo "Features: fp asimd evtstrm aes
 * pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop
 * asimddp ssbs", i.e. AT_HWCAP bits 0-12, 15, 16, 20, 28 of the kernel's
 * uapi/asm/hwcap.h; AT_HWCAP2 = 0. */
#define GRAVITON2_HWCAP UINT64_C(0x10119fff)

static void test_linux_arm(void **state) {
  (void)state;
  assert_int_equal(wsk_isas_from_linux_arm(GRAVITON2_HWCAP, 0), ARM_NEON);
  /* AT_HWCAP2 (SVE2, BF16, ...) does not change the tier. */
  assert_int_equal(wsk_isas_from_linux_arm(GRAVITON2_HWCAP, 0x2), ARM_NEON);
  /* fp evtstrm cpuid, no asimd (a kernel hiding Advanced SIMD). */
  assert_int_equal(wsk_isas_from_linux_arm(0x805, 0), SCALAR_ONLY);
  /* asimd without fp: both are required. */
  assert_int_equal(wsk_isas_from_linux_arm(GRAVITON2_HWCAP & ~UINT64_C(1), 0), SCALAR_ONLY);
  assert_int_equal(wsk_isas_from_linux_arm(0, 0), SCALAR_ONLY);
}

/* Apple M1: hw.optional.neon = 1, hw.optional.AdvSIMD = 1 (sysctl on
 * macOS 12+); older macOS lacks AdvSIMD (-1). */
static void test_apple(void **state) {
  (void)state;
  assert_int_equal(wsk_isas_from_apple(1, 1), ARM_NEON);
  assert_int_equal(wsk_isas_from_apple(1, -1), ARM_NEON);
  assert_int_equal(wsk_isas_from_apple(-1, 1), ARM_NEON);
  assert_int_equal(wsk_isas_from_apple(-1, -1), SCALAR_ONLY);
  assert_int_equal(wsk_isas_from_apple(0, 0), SCALAR_ONLY);
}

/* ==== 2. names ============================================================== */

static void test_isa_names(void **state) {
  (void)state;
  assert_string_equal(wsk_isa_name(WSK_ISA_SCALAR), "scalar");
  assert_string_equal(wsk_isa_name(WSK_ISA_AVX2), "avx2");
  assert_string_equal(wsk_isa_name(WSK_ISA_AVX512), "avx512");
  assert_string_equal(wsk_isa_name(WSK_ISA_NEON), "neon");
  assert_string_equal(wsk_isa_name(WSK_ISA_COUNT), "?");
  assert_string_equal(wsk_isa_name((wsk_isa)-1), "?");
  assert_string_equal(wsk_family_name(WSK_FAMILY_PERMSUM), "permsum");
  assert_string_equal(wsk_family_name(WSK_FAMILY_EQPOOL), "eqpool");
  assert_string_equal(wsk_family_name(WSK_FAMILY_COUNT), "?");
}

static void test_isa_parse(void **state) {
  (void)state;
  for (int i = 0; i < WSK_ISA_COUNT; i++) {
    wsk_isa isa = WSK_ISA_COUNT;
    assert_int_equal(wsk_isa_parse(wsk_isa_name((wsk_isa)i), &isa), WSK_OK);
    assert_int_equal(isa, i);
  }
  static const struct {
    const char *name;
    wsk_isa isa;
  } mixed[] = {{"SCALAR", WSK_ISA_SCALAR}, {"Avx2", WSK_ISA_AVX2},
               {"AVX512", WSK_ISA_AVX512}, {"nEoN", WSK_ISA_NEON}};
  for (size_t i = 0; i < sizeof mixed / sizeof mixed[0]; i++) {
    wsk_isa isa = WSK_ISA_COUNT;
    assert_int_equal(wsk_isa_parse(mixed[i].name, &isa), WSK_OK);
    assert_int_equal(isa, mixed[i].isa);
  }
  static const char *const bad[] = {"bogus", "", "avx", "avx-512", "avx2 ", " neon",
                                    "avx512f", "scalarx"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    wsk_isa isa = WSK_ISA_COUNT;
    assert_int_equal(wsk_isa_parse(bad[i], &isa), WSK_ERR_ISA);
    assert_int_equal(isa, WSK_ISA_COUNT); /* untouched */
  }
  assert_non_null(strstr(wsk_last_error(), "not a known tier"));
  wsk_isa isa;
  assert_int_equal(wsk_isa_parse(NULL, &isa), WSK_ERR_NULL);
  assert_int_equal(wsk_isa_parse("scalar", NULL), WSK_ERR_NULL);
}

/* ==== 3. this machine ========================================================== */

/* The environment the suite started with, restored after each test. */
static char *orig_isa, *orig_verbose;

static void set_or_unset(const char *name, const char *value) {
  if (value)
    setenv(name, value, 1);
  else
    unsetenv(name);
}

static int save_env(void **state) {
  (void)state;
  const char *v = getenv("WSK_ISA");
  orig_isa = v ? strdup(v) : NULL;
  v = getenv("WSK_VERBOSE");
  orig_verbose = v ? strdup(v) : NULL;
  return 0;
}

static int free_env(void **state) {
  (void)state;
  free(orig_isa);
  free(orig_verbose);
  return 0;
}

/* Per-test teardown: the original environment, no wsk_set_isa() cap. */
static int restore_env(void **state) {
  (void)state;
  set_or_unset("WSK_ISA", orig_isa);
  set_or_unset("WSK_VERBOSE", orig_verbose);
  wsk__dispatch_reset_for_tests();
  return 0;
}

/* Each family's list, best first, as the dispatch layer sees it. */
#define WSK_IMPL(family, isa_suffix, isa_enum) isa_enum,
static const wsk_isa permsum_rows[] = {
#include "kernels/permsum/permsum.inc"
};
static const wsk_isa eqpool_rows[] = {
#include "kernels/eqpool/eqpool.inc"
};
#undef WSK_IMPL

/* The tier a family should get under a cap (WSK_ISA_COUNT = no cap),
 * computed independently of dispatch.c: first row available and <= cap. */
static wsk_isa expected_choice(wsk_family f, wsk_isa cap) {
  const wsk_isa *rows = f == WSK_FAMILY_PERMSUM ? permsum_rows : eqpool_rows;
  size_t n = f == WSK_FAMILY_PERMSUM ? sizeof permsum_rows / sizeof permsum_rows[0]
                                     : sizeof eqpool_rows / sizeof eqpool_rows[0];
  uint32_t avail = wsk_isas_available();
  for (size_t i = 0; i < n; i++) {
    wsk_isa t = rows[i];
    if (!(avail & BIT(t))) continue;
    int allowed = cap == WSK_ISA_COUNT || t == WSK_ISA_SCALAR || t == cap ||
                  (cap == WSK_ISA_AVX512 && t == WSK_ISA_AVX2);
    if (allowed) return t;
  }
  return WSK_ISA_SCALAR;
}

/* The cap WSK_ISA puts on the suite (WSK_ISA_COUNT when unset). */
static wsk_isa env_cap(void) {
  wsk_isa cap = WSK_ISA_COUNT;
  if (orig_isa && orig_isa[0]) assert_int_equal(wsk_isa_parse(orig_isa, &cap), WSK_OK);
  return cap;
}

static wsk_isa table_isa(wsk_family f) {
  /* Each table's first member is its wsk_isa. */
  return f == WSK_FAMILY_PERMSUM ? wsk__permsum_table()->isa : wsk__eqpool_table()->isa;
}

static void assert_choices(wsk_isa cap) {
  for (int f = 0; f < WSK_FAMILY_COUNT; f++) {
    wsk_isa isa;
    assert_int_equal(wsk_family_isa((wsk_family)f, &isa), WSK_OK);
    assert_int_equal(isa, expected_choice((wsk_family)f, cap));
    assert_int_equal(table_isa((wsk_family)f), isa);
  }
}

static void test_isa_sets(void **state) {
  (void)state;
  uint32_t compiled = wsk_isas_compiled(), supported = wsk_isas_supported();
  uint32_t avail = wsk_isas_available();
  assert_true(compiled & BIT(WSK_ISA_SCALAR));
  assert_true(supported & BIT(WSK_ISA_SCALAR));
  assert_int_equal(avail, compiled & supported);
  assert_int_equal(compiled & ~((1u << WSK_ISA_COUNT) - 1), 0);
#if defined(__x86_64__) || defined(__i386__)
  wsk_x86_regs r;
  assert_int_not_equal(wsk_cpu_read_x86(&r), 0);
  assert_int_equal(supported, wsk_isas_from_x86(&r));
  assert_false(supported & BIT(WSK_ISA_NEON));
#else
  wsk_x86_regs r;
  assert_int_equal(wsk_cpu_read_x86(&r), 0);
  assert_false(supported & (BIT(WSK_ISA_AVX2) | BIT(WSK_ISA_AVX512)));
#endif
#if defined(__aarch64__) && defined(__linux__)
  assert_int_equal(supported,
                   wsk_isas_from_linux_arm(getauxval(AT_HWCAP), getauxval(AT_HWCAP2)));
#endif

  char buf[64];
  wsk_isas_available_str(buf, sizeof buf);
  print_message("available tiers: %s\n", buf);
  size_t n = strlen(buf);
  assert_true(n >= strlen("scalar"));
  assert_string_equal(buf + n - strlen("scalar"), "scalar"); /* best first, scalar last */
  char tiny[4] = "xyz";
  wsk_isas_available_str(tiny, sizeof tiny); /* truncates, stays terminated */
  assert_true(strlen(tiny) < sizeof tiny);
}

/* Under the suite's WSK_ISA (if any), every family gets the first available
 * tier of its list that the cap allows, and its table says so. */
static void test_default_choice(void **state) {
  (void)state;
  assert_int_equal(wsk_dispatch_init(), WSK_OK);
  assert_int_equal(wsk__dispatch_ready(), WSK_OK);
  assert_choices(env_cap());
  wsk_isa isa;
  assert_int_equal(wsk_family_isa(WSK_FAMILY_COUNT, &isa), WSK_ERR_ARG);
  assert_int_equal(wsk_family_isa(WSK_FAMILY_PERMSUM, NULL), WSK_ERR_NULL);
}

static void set_isa_tier(wsk_isa tier) {
  if (!(wsk_isas_available() & BIT(tier))) {
    char buf[64];
    print_message("[  SKIPPED ] wsk_set_isa(%s): this CPU/build lacks it (available: %s)\n",
                  wsk_isa_name(tier), wsk_isas_available_str(buf, sizeof buf));
    skip();
  }
  assert_int_equal(wsk_set_isa(tier), WSK_OK);
  assert_choices(tier);
  for (int f = 0; f < WSK_FAMILY_COUNT; f++) {
    wsk_isa isa;
    assert_int_equal(wsk_family_isa((wsk_family)f, &isa), WSK_OK);
    assert_true(isa == tier || isa == WSK_ISA_SCALAR || isa == WSK_ISA_AVX2);
    if (tier == WSK_ISA_SCALAR) assert_int_equal(isa, WSK_ISA_SCALAR);
  }
  assert_int_equal(wsk_reset_isa(), WSK_OK);
  assert_choices(env_cap());
}

static void test_set_isa_scalar(void **state) {
  (void)state;
  set_isa_tier(WSK_ISA_SCALAR);
}
static void test_set_isa_avx2(void **state) {
  (void)state;
  set_isa_tier(WSK_ISA_AVX2);
}
static void test_set_isa_avx512(void **state) {
  (void)state;
  set_isa_tier(WSK_ISA_AVX512);
}
static void test_set_isa_neon(void **state) {
  (void)state;
  set_isa_tier(WSK_ISA_NEON);
}

/* A tier this machine lacks (neon on x86, avx2 on aarch64). */
static wsk_isa missing_tier(void) {
  uint32_t avail = wsk_isas_available();
  static const wsk_isa order[] = {WSK_ISA_NEON, WSK_ISA_AVX512, WSK_ISA_AVX2};
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
    if (!(avail & BIT(order[i]))) return order[i];
  return WSK_ISA_COUNT;
}

static void test_set_isa_unavailable(void **state) {
  (void)state;
  wsk_isa before[WSK_FAMILY_COUNT];
  for (int f = 0; f < WSK_FAMILY_COUNT; f++)
    assert_int_equal(wsk_family_isa((wsk_family)f, &before[f]), WSK_OK);

  wsk_isa missing = missing_tier();
  assert_int_not_equal(missing, WSK_ISA_COUNT);
  assert_int_equal(wsk_set_isa(missing), WSK_ERR_ISA);
  print_message("message: %s\n", wsk_last_error());
  assert_non_null(strstr(wsk_last_error(), "valid"));
  assert_non_null(strstr(wsk_last_error(), wsk_isa_name(missing)));
  assert_int_equal(wsk_set_isa(WSK_ISA_COUNT), WSK_ERR_ISA);
  assert_int_equal(wsk_set_isa((wsk_isa)-1), WSK_ERR_ISA);

  /* A refused cap changes nothing. */
  for (int f = 0; f < WSK_FAMILY_COUNT; f++) {
    wsk_isa isa;
    assert_int_equal(wsk_family_isa((wsk_family)f, &isa), WSK_OK);
    assert_int_equal(isa, before[f]);
  }
}

/* wsk_reset_isa() gives back the best tier (under the suite's WSK_ISA). */
static void test_reset_isa(void **state) {
  (void)state;
  wsk_isa best[WSK_FAMILY_COUNT];
  for (int f = 0; f < WSK_FAMILY_COUNT; f++)
    assert_int_equal(wsk_family_isa((wsk_family)f, &best[f]), WSK_OK);
  assert_int_equal(wsk_set_isa(WSK_ISA_SCALAR), WSK_OK);
  assert_int_equal(wsk_reset_isa(), WSK_OK);
  for (int f = 0; f < WSK_FAMILY_COUNT; f++) {
    wsk_isa isa;
    assert_int_equal(wsk_family_isa((wsk_family)f, &isa), WSK_OK);
    assert_int_equal(isa, best[f]);
    assert_int_equal(isa, expected_choice((wsk_family)f, env_cap()));
  }
  if (env_cap() == WSK_ISA_COUNT) { /* no cap at all: the very best */
    for (int f = 0; f < WSK_FAMILY_COUNT; f++)
      assert_int_equal(best[f], expected_choice((wsk_family)f, WSK_ISA_COUNT));
  }
}

static void test_env_bogus(void **state) {
  (void)state;
  setenv("WSK_ISA", "bogus", 1);
  wsk__dispatch_reset_for_tests();
  assert_int_equal(wsk_dispatch_init(), WSK_ERR_ISA);
  print_message("message: %s\n", wsk_last_error());
  assert_non_null(strstr(wsk_last_error(), "WSK_ISA=\"bogus\""));
  assert_non_null(strstr(wsk_last_error(), "not a known tier"));
  assert_non_null(strstr(wsk_last_error(), "valid on this machine: "));
  assert_non_null(strstr(wsk_last_error(), "scalar"));
  assert_int_equal(wsk__dispatch_ready(), WSK_ERR_ISA);
  wsk_isa isa;
  assert_int_equal(wsk_family_isa(WSK_FAMILY_PERMSUM, &isa), WSK_ERR_ISA);
  /* The tables stay usable pointers all the same. */
  assert_non_null(wsk__permsum_table());
  assert_non_null(wsk__eqpool_table());

  /* wsk_set_isa() overrides WSK_ISA for the kernels, not for the check. */
  assert_int_equal(wsk_set_isa(WSK_ISA_SCALAR), WSK_OK);
  assert_int_equal(wsk__dispatch_ready(), WSK_OK);
  assert_int_equal(wsk_family_isa(WSK_FAMILY_EQPOOL, &isa), WSK_OK);
  assert_int_equal(isa, WSK_ISA_SCALAR);
  assert_int_equal(wsk_dispatch_init(), WSK_ERR_ISA);
  assert_int_equal(wsk_reset_isa(), WSK_OK);
  assert_int_equal(wsk__dispatch_ready(), WSK_ERR_ISA);

  /* Fixing the environment and re-reading it clears the error. */
  unsetenv("WSK_ISA");
  wsk__dispatch_reset_for_tests();
  assert_int_equal(wsk_dispatch_init(), WSK_OK);
  assert_choices(WSK_ISA_COUNT);
}

static void test_env_missing_tier(void **state) {
  (void)state;
  wsk_isa missing = missing_tier();
  assert_int_not_equal(missing, WSK_ISA_COUNT);
  setenv("WSK_ISA", wsk_isa_name(missing), 1);
  wsk__dispatch_reset_for_tests();
  assert_int_equal(wsk_dispatch_init(), WSK_ERR_ISA);
  print_message("message: %s\n", wsk_last_error());
  assert_non_null(strstr(wsk_last_error(), "cannot run"));
  assert_non_null(strstr(wsk_last_error(), "valid on this machine: "));
  wsk_isa isa;
  assert_int_equal(wsk_family_isa(WSK_FAMILY_PERMSUM, &isa), WSK_ERR_ISA);
}

static void test_env_caps(void **state) {
  (void)state;
  static const char *const scalar_spellings[] = {"scalar", "SCALAR", "Scalar"};
  for (size_t i = 0; i < sizeof scalar_spellings / sizeof scalar_spellings[0]; i++) {
    setenv("WSK_ISA", scalar_spellings[i], 1);
    wsk__dispatch_reset_for_tests();
    assert_int_equal(wsk_dispatch_init(), WSK_OK);
    assert_choices(WSK_ISA_SCALAR);
  }
  uint32_t avail = wsk_isas_available();
  static const struct {
    const char *spelling;
    wsk_isa isa;
  } tiers[] = {{"AvX2", WSK_ISA_AVX2}, {"AVX512", WSK_ISA_AVX512}, {"Neon", WSK_ISA_NEON}};
  for (size_t i = 0; i < sizeof tiers / sizeof tiers[0]; i++) {
    if (!(avail & BIT(tiers[i].isa))) {
      print_message("[  SKIPPED ] WSK_ISA=%s: this CPU/build lacks it\n", tiers[i].spelling);
      continue;
    }
    setenv("WSK_ISA", tiers[i].spelling, 1);
    wsk__dispatch_reset_for_tests();
    assert_int_equal(wsk_dispatch_init(), WSK_OK);
    assert_choices(tiers[i].isa);
  }
  /* WSK_ISA= (empty) counts as unset. */
  setenv("WSK_ISA", "", 1);
  wsk__dispatch_reset_for_tests();
  assert_int_equal(wsk_dispatch_init(), WSK_OK);
  assert_choices(WSK_ISA_COUNT);
}

/* Runs fn with stderr sent to a temporary file; returns what it wrote. */
static char *capture_stderr(void (*fn)(void)) {
  static char text[4096];
  fflush(stderr);
  FILE *tmp = tmpfile();
  assert_non_null(tmp);
  int saved = dup(2);
  assert_true(saved >= 0);
  assert_true(dup2(fileno(tmp), 2) >= 0);
  fn();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  rewind(tmp);
  size_t n = fread(text, 1, sizeof text - 1, tmp);
  text[n] = '\0';
  fclose(tmp);
  return text;
}

static void set_scalar(void) { (void)wsk_set_isa(WSK_ISA_SCALAR); }

static void test_verbose(void **state) {
  (void)state;
  unsetenv("WSK_ISA");
  setenv("WSK_VERBOSE", "1", 1);
  char *log = capture_stderr(wsk__dispatch_reset_for_tests);
  print_message("%s", log);
  assert_non_null(strstr(log, "wsk: permsum -> "));
  assert_non_null(strstr(log, "wsk: eqpool -> "));
  assert_non_null(strstr(log, "(best of: "));
  assert_non_null(strstr(log, "; cap: none)"));

  log = capture_stderr(set_scalar);
  assert_non_null(strstr(log, "wsk: permsum -> scalar"));
  assert_non_null(strstr(log, "cap: wsk_set_isa(scalar)"));

  setenv("WSK_VERBOSE", "0", 1);
  log = capture_stderr(wsk__dispatch_reset_for_tests);
  assert_string_equal(log, "");
}

static void test_cpu_info(void **state) {
  (void)state;
  wsk_cpu_info info;
  assert_int_equal(wsk_cpu_info_get(NULL), WSK_ERR_NULL);
  assert_int_equal(wsk_cpu_info_get(&info), WSK_OK);
  print_message("cpu: %s | %s | %s\n", info.vendor, info.name, info.features);
  assert_int_equal(info.isas, wsk_isas_supported());
  assert_true(info.vendor[0] != '\0');
  assert_true(info.name[0] != '\0');
#if defined(__x86_64__) || defined(__i386__)
  assert_int_equal(strstr(info.features, "avx2") != NULL,
                   (info.isas & BIT(WSK_ISA_AVX2)) != 0);
  if (info.isas & BIT(WSK_ISA_AVX512)) assert_non_null(strstr(info.features, "zmm-state"));
#endif
#if defined(__aarch64__) && defined(__linux__)
  if (info.isas & BIT(WSK_ISA_NEON)) assert_non_null(strstr(info.features, "asimd"));
#endif
}

static void test_info_print(void **state) {
  (void)state;
  assert_int_equal(wsk_info_print(NULL), WSK_ERR_NULL);
  FILE *tmp = tmpfile();
  assert_non_null(tmp);
  assert_int_equal(wsk_info_print(tmp), WSK_OK);
  rewind(tmp);
  static char text[8192];
  size_t n = fread(text, 1, sizeof text - 1, tmp);
  text[n] = '\0';
  fclose(tmp);
  print_message("%s", text);
  static const char *const expected[] = {"CPU\n", "  vendor", "  features", "  available",
                                         "  cap", "Topology", "Kernels\n", "  permsum",
                                         "  eqpool"};
  for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
    assert_non_null(strstr(text, expected[i]));
  char line[64];
  wsk_isa isa;
  assert_int_equal(wsk_family_isa(WSK_FAMILY_PERMSUM, &isa), WSK_OK);
  snprintf(line, sizeof line, "-> %s\n", wsk_isa_name(isa));
  assert_non_null(strstr(text, line));
}

int main(void) {
  const struct CMUnitTest pure[] = {
      cmocka_unit_test(test_x86_zen4),
      cmocka_unit_test(test_x86_sapphire_rapids),
      cmocka_unit_test(test_x86_haswell),
      cmocka_unit_test(test_x86_skylake_sp),
      cmocka_unit_test(test_x86_avx512_cpu_without_zmm_state),
      cmocka_unit_test(test_x86_avx512_subset),
      cmocka_unit_test(test_x86_os_without_ymm_state),
      cmocka_unit_test(test_x86_osxsave_clear),
      cmocka_unit_test(test_x86_max_leaf_below_7),
      cmocka_unit_test(test_x86_no_avx2_tier),
      cmocka_unit_test(test_linux_arm),
      cmocka_unit_test(test_apple),
      cmocka_unit_test(test_isa_names),
      cmocka_unit_test(test_isa_parse),
  };
  const struct CMUnitTest machine[] = {
      cmocka_unit_test_teardown(test_isa_sets, restore_env),
      cmocka_unit_test_teardown(test_default_choice, restore_env),
      cmocka_unit_test_teardown(test_set_isa_scalar, restore_env),
      cmocka_unit_test_teardown(test_set_isa_avx2, restore_env),
      cmocka_unit_test_teardown(test_set_isa_avx512, restore_env),
      cmocka_unit_test_teardown(test_set_isa_neon, restore_env),
      cmocka_unit_test_teardown(test_set_isa_unavailable, restore_env),
      cmocka_unit_test_teardown(test_reset_isa, restore_env),
      cmocka_unit_test_teardown(test_env_bogus, restore_env),
      cmocka_unit_test_teardown(test_env_missing_tier, restore_env),
      cmocka_unit_test_teardown(test_env_caps, restore_env),
      cmocka_unit_test_teardown(test_verbose, restore_env),
      cmocka_unit_test_teardown(test_cpu_info, restore_env),
      cmocka_unit_test_teardown(test_info_print, restore_env),
  };
  int failed = cmocka_run_group_tests_name("detection", pure, NULL, NULL);
  failed += cmocka_run_group_tests_name("dispatch", machine, save_env, free_env);
  return failed ? 1 : 0;
}
