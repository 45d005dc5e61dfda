/* dispatch/cpu.c — CPU feature detection (dispatch/cpu.h).
 *
 * Two halves:
 *   - the deciders, wsk_isas_from_*(), pure functions of raw register or OS
 *     values, unit-tested with values recorded on real machines
 *     (tests/test_dispatch.c);
 *   - the readers, which fetch those values from the running machine: CPUID
 *     and XGETBV on x86, getauxval() on Linux/aarch64, sysctlbyname() on macOS.
 *
 * Built with the baseline flags of the target only (no -mavx*, no intrinsics
 * headers): this file runs before anything knows which tier is safe.
 *
 * A tier needs the instructions *and* the OS's consent to save their
 * registers on a context switch. On x86 the second half is XCR0, which an OS
 * (or hypervisor) may leave without the YMM or ZMM bits even on a CPU whose
 * CPUID reports AVX2 or AVX-512; using them then raises #UD.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* getauxval */
#endif

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dispatch/cpu.h"
#include "dispatch/error.h"

#if defined(__x86_64__) || defined(__i386__)
#define WSK_CPU_X86 1
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#define WSK_CPU_LINUX_ARM 1
#include <sys/auxv.h>
#elif defined(__APPLE__)
#define WSK_CPU_APPLE 1
#include <sys/sysctl.h>
#include <sys/types.h>
#endif

/* ---- x86: the bits that decide a tier ------------------------------------
 * Intel SDM vol. 2A, CPUID, table 3-8 ("Feature Information", leaf 1) and
 * table 3-8 leaf 07H; vol. 1 §13.3 (XCR0, "Enabling the XSAVE Feature Set").
 * AMD APM vol. 3, appendix E, uses the same bit positions. */
#define X86_L1_ECX_FMA (1u << 12)     /* CPUID.1:ECX.FMA[bit 12] */
#define X86_L1_ECX_OSXSAVE (1u << 27) /* CPUID.1:ECX.OSXSAVE[bit 27]: XGETBV usable */
#define X86_L1_ECX_AVX (1u << 28)     /* CPUID.1:ECX.AVX[bit 28] */
#define X86_L7_EBX_AVX2 (1u << 5)     /* CPUID.(EAX=7,ECX=0):EBX.AVX2[bit 5] */
#define X86_L7_EBX_AVX512F (1u << 16) /* CPUID.(EAX=7,ECX=0):EBX.AVX512F[bit 16] */
#define X86_L7_EBX_AVX512DQ (1u << 17) /* CPUID.(EAX=7,ECX=0):EBX.AVX512DQ[bit 17] */
#define X86_L7_EBX_AVX512BW (1u << 30) /* CPUID.(EAX=7,ECX=0):EBX.AVX512BW[bit 30] */
#define X86_L7_EBX_AVX512VL (1u << 31) /* CPUID.(EAX=7,ECX=0):EBX.AVX512VL[bit 31] */

#define X86_XCR0_SSE (UINT64_C(1) << 1)       /* XCR0[1]: XMM state (SSE) */
#define X86_XCR0_YMM (UINT64_C(1) << 2)       /* XCR0[2]: upper halves of YMM0-15 (AVX) */
#define X86_XCR0_OPMASK (UINT64_C(1) << 5)    /* XCR0[5]: k0-k7 (AVX-512 opmask) */
#define X86_XCR0_ZMM_HI256 (UINT64_C(1) << 6) /* XCR0[6]: upper halves of ZMM0-15 */
#define X86_XCR0_HI16_ZMM (UINT64_C(1) << 7)  /* XCR0[7]: ZMM16-31 */

#define X86_XCR0_AVX_STATE (X86_XCR0_SSE | X86_XCR0_YMM)
#define X86_XCR0_AVX512_STATE (X86_XCR0_OPMASK | X86_XCR0_ZMM_HI256 | X86_XCR0_HI16_ZMM)

#define X86_L1_ECX_AVX2_TIER (X86_L1_ECX_FMA | X86_L1_ECX_OSXSAVE | X86_L1_ECX_AVX)
#define X86_L7_EBX_AVX512_TIER \
  (X86_L7_EBX_AVX512F | X86_L7_EBX_AVX512DQ | X86_L7_EBX_AVX512BW | X86_L7_EBX_AVX512VL)

/* The OS has enabled YMM state: OSXSAVE says XCR0 is meaningful, and XCR0
 * has both the SSE and the AVX components. */
static int x86_os_ymm(const wsk_x86_regs *r) {
  return (r->leaf1_ecx & X86_L1_ECX_OSXSAVE) != 0 &&
         (r->xcr0 & X86_XCR0_AVX_STATE) == X86_XCR0_AVX_STATE;
}

/* The OS has enabled ZMM and opmask state (on top of YMM state). */
static int x86_os_zmm(const wsk_x86_regs *r) {
  return x86_os_ymm(r) && (r->xcr0 & X86_XCR0_AVX512_STATE) == X86_XCR0_AVX512_STATE;
}

uint32_t wsk_isas_from_x86(const wsk_x86_regs *r) {
  uint32_t isas = WSK_ISA_BIT(WSK_ISA_SCALAR);
  if (r == NULL) return isas;
  /* Leaf 7 (AVX2, AVX-512) exists only when CPUID.0:EAX >= 7; above that the
   * registers hold whatever the highest basic leaf returns, not features. */
  if (r->max_leaf < 7) return isas;

  /* AVX2 tier: AVX2 + FMA + AVX instructions, YMM state enabled by the OS. */
  int avx2 = (r->leaf1_ecx & X86_L1_ECX_AVX2_TIER) == X86_L1_ECX_AVX2_TIER &&
             (r->leaf7_ebx & X86_L7_EBX_AVX2) != 0 && x86_os_ymm(r);
  if (!avx2) return isas;
  isas |= WSK_ISA_BIT(WSK_ISA_AVX2);

  /* AVX-512 tier: F, DQ, BW, VL on top of the AVX2 tier, ZMM + opmask state. */
  int avx512 = (r->leaf7_ebx & X86_L7_EBX_AVX512_TIER) == X86_L7_EBX_AVX512_TIER &&
               x86_os_zmm(r);
  if (avx512) isas |= WSK_ISA_BIT(WSK_ISA_AVX512);
  return isas;
}

/* ---- Linux/aarch64 ---------------------------------------------------------
 * AT_HWCAP bits from the kernel's arch/arm64/include/uapi/asm/hwcap.h (glibc
 * <bits/hwcap.h>); spelled out here so the decider builds on every host. */
#define ARM_HWCAP_FP (UINT64_C(1) << 0)    /* HWCAP_FP: "fp" in /proc/cpuinfo */
#define ARM_HWCAP_ASIMD (UINT64_C(1) << 1) /* HWCAP_ASIMD: "asimd" (Advanced SIMD) */

uint32_t wsk_isas_from_linux_arm(uint64_t hwcap, uint64_t hwcap2) {
  (void)hwcap2; /* no tier depends on AT_HWCAP2 yet (SVE2, SME would) */
  uint32_t isas = WSK_ISA_BIT(WSK_ISA_SCALAR);
  /* NEON tier: Advanced SIMD with its floating point (both are mandatory in
   * ARMv8-A Linux, but a kernel may hide them, e.g. for a soft-float ABI). */
  if ((hwcap & ARM_HWCAP_FP) && (hwcap & ARM_HWCAP_ASIMD)) isas |= WSK_ISA_BIT(WSK_ISA_NEON);
  return isas;
}

/* ---- macOS -----------------------------------------------------------------
 * sysctl hw.optional.neon (all Apple silicon; also older names) and
 * hw.optional.AdvSIMD (macOS 12+); each is 1 when present, -1 when the name
 * does not exist. Apple: "Determining Instruction Set Characteristics". */
uint32_t wsk_isas_from_apple(int64_t hw_optional_neon, int64_t hw_optional_advsimd) {
  uint32_t isas = WSK_ISA_BIT(WSK_ISA_SCALAR);
  if (hw_optional_neon == 1 || hw_optional_advsimd == 1) isas |= WSK_ISA_BIT(WSK_ISA_NEON);
  return isas;
}

/* ---- readers ------------------------------------------------------------- */

#if defined(WSK_CPU_X86)
static uint64_t x86_xgetbv0(void) {
  uint32_t lo, hi;
  /* XGETBV with ECX = 0 reads XCR0. Spelled as an instruction, not the
   * _xgetbv intrinsic, which would need -mxsave on this file. */
  __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}
#endif

int wsk_cpu_read_x86(wsk_x86_regs *out) {
  if (out == NULL) return 0;
  memset(out, 0, sizeof *out);
#if defined(WSK_CPU_X86)
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return 0; /* no CPUID at all */
  out->max_leaf = a;
  if (out->max_leaf >= 1) {
    __cpuid_count(1, 0, a, b, c, d);
    out->leaf1_ecx = c;
    out->leaf1_edx = d;
  }
  if (out->max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    out->leaf7_ebx = b;
    out->leaf7_ecx = c;
    out->leaf7_edx = d;
  }
  /* XGETBV faults unless the OS set CR4.OSXSAVE, which CPUID reports. */
  if (out->leaf1_ecx & X86_L1_ECX_OSXSAVE) out->xcr0 = x86_xgetbv0();
  return 1;
#else
  return 0;
#endif
}

#if defined(WSK_CPU_APPLE)
/* An integer sysctl, or -1 when the name does not exist. */
static int64_t apple_sysctl_int(const char *name) {
  int64_t v = 0; /* hw.optional.* are 32-bit ints; read either width */
  size_t len = sizeof v;
  if (sysctlbyname(name, &v, &len, NULL, 0) != 0) return -1;
  if (len == sizeof(int32_t)) {
    int32_t v32;
    memcpy(&v32, &v, sizeof v32);
    return v32;
  }
  return len == sizeof v ? v : -1;
}
#endif

uint32_t wsk_isas_supported(void) {
#if defined(WSK_CPU_X86)
  wsk_x86_regs r;
  if (wsk_cpu_read_x86(&r)) return wsk_isas_from_x86(&r);
  return WSK_ISA_BIT(WSK_ISA_SCALAR);
#elif defined(WSK_CPU_LINUX_ARM)
  return wsk_isas_from_linux_arm(getauxval(AT_HWCAP), getauxval(AT_HWCAP2));
#elif defined(WSK_CPU_APPLE)
  /* macOS has no getauxval; the kernel publishes features as sysctls. */
  return wsk_isas_from_apple(apple_sysctl_int("hw.optional.neon"),
                             apple_sysctl_int("hw.optional.AdvSIMD"));
#else
  return WSK_ISA_BIT(WSK_ISA_SCALAR);
#endif
}

/* ---- wsk_cpu_info_get ------------------------------------------------------ */

#if defined(WSK_CPU_X86) || defined(WSK_CPU_LINUX_ARM) || defined(WSK_CPU_APPLE)
/* Appends " word" (or "word" at the start) to a features string. */
static void add_word(char *buf, size_t len, const char *word) {
  size_t n = strlen(buf);
  if (n + (n ? 1 : 0) + strlen(word) + 1 > len) return;
  if (n) buf[n++] = ' ';
  strcpy(buf + n, word);
}

/* Copies src into dst[len], dropping leading and trailing blanks. */
static void copy_trimmed(char *dst, size_t len, const char *src) {
  while (*src == ' ' || *src == '\t') src++;
  size_t n = strlen(src);
  while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\t' || src[n - 1] == '\n')) n--;
  if (n >= len) n = len - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}
#endif

#if defined(WSK_CPU_X86)
static void x86_features(const wsk_x86_regs *r, char *buf, size_t len) {
  int leaf7 = r->max_leaf >= 7;
  if (r->leaf1_ecx & X86_L1_ECX_AVX) add_word(buf, len, "avx");
  if (leaf7 && (r->leaf7_ebx & X86_L7_EBX_AVX2)) add_word(buf, len, "avx2");
  if (r->leaf1_ecx & X86_L1_ECX_FMA) add_word(buf, len, "fma");
  if (r->leaf1_ecx & X86_L1_ECX_OSXSAVE) add_word(buf, len, "osxsave");
  if (x86_os_ymm(r)) add_word(buf, len, "ymm-state");
  if (leaf7 && (r->leaf7_ebx & X86_L7_EBX_AVX512F)) add_word(buf, len, "avx512f");
  if (leaf7 && (r->leaf7_ebx & X86_L7_EBX_AVX512BW)) add_word(buf, len, "avx512bw");
  if (leaf7 && (r->leaf7_ebx & X86_L7_EBX_AVX512DQ)) add_word(buf, len, "avx512dq");
  if (leaf7 && (r->leaf7_ebx & X86_L7_EBX_AVX512VL)) add_word(buf, len, "avx512vl");
  if (x86_os_zmm(r)) add_word(buf, len, "zmm-state");
}

static void x86_identity(wsk_cpu_info *out) {
  unsigned a, b, c, d;
  if (__get_cpuid(0, &a, &b, &c, &d)) {
    char v[13];
    memcpy(v + 0, &b, 4); /* "Genu" "ineI" "ntel": EBX, EDX, ECX */
    memcpy(v + 4, &d, 4);
    memcpy(v + 8, &c, 4);
    v[12] = '\0';
    copy_trimmed(out->vendor, sizeof out->vendor, v);
  }
  /* Brand string: CPUID 0x80000002..4, 16 bytes each (SDM table 3-8). */
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d) && a >= 0x80000004u) {
    char brand[49];
    for (unsigned i = 0; i < 3; i++) {
      __cpuid(0x80000002u + i, a, b, c, d);
      memcpy(brand + 16 * i + 0, &a, 4);
      memcpy(brand + 16 * i + 4, &b, 4);
      memcpy(brand + 16 * i + 8, &c, 4);
      memcpy(brand + 16 * i + 12, &d, 4);
    }
    brand[48] = '\0';
    copy_trimmed(out->name, sizeof out->name, brand);
  }
}
#endif

#if defined(WSK_CPU_LINUX_ARM)
/* MIDR_EL1 implementer codes and a few common part numbers (ARM ARM D17.2,
 * and the kernel's arch/arm64/include/asm/cputype.h). */
static const char *arm_implementer(unsigned impl) {
  switch (impl) {
    case 0x41: return "ARM";
    case 0x42: return "Broadcom";
    case 0x43: return "Cavium";
    case 0x46: return "Fujitsu";
    case 0x48: return "HiSilicon";
    case 0x4e: return "NVIDIA";
    case 0x51: return "Qualcomm";
    case 0x61: return "Apple";
    case 0xc0: return "Ampere";
  }
  return NULL;
}

static const char *arm_part(unsigned impl, unsigned part) {
  if (impl == 0x41) {
    switch (part) {
      case 0xd03: return "Cortex-A53";
      case 0xd04: return "Cortex-A35";
      case 0xd05: return "Cortex-A55";
      case 0xd07: return "Cortex-A57";
      case 0xd08: return "Cortex-A72";
      case 0xd09: return "Cortex-A73";
      case 0xd0a: return "Cortex-A75";
      case 0xd0b: return "Cortex-A76";
      case 0xd0c: return "Neoverse-N1";
      case 0xd0d: return "Cortex-A77";
      case 0xd40: return "Neoverse-V1";
      case 0xd41: return "Cortex-A78";
      case 0xd44: return "Cortex-X1";
      case 0xd46: return "Cortex-A510";
      case 0xd47: return "Cortex-A710";
      case 0xd48: return "Cortex-X2";
      case 0xd49: return "Neoverse-N2";
      case 0xd4f: return "Neoverse-V2";
    }
  }
  if (impl == 0xc0 && part == 0xac3) return "Ampere-1";
  return NULL;
}

/* Value of "key<blanks>: value" lines in /proc/cpuinfo (first occurrence). */
static int cpuinfo_value(const char *line, const char *key, char *val, size_t len) {
  size_t k = strlen(key);
  if (strncmp(line, key, k) != 0) return 0;
  const char *p = line + k;
  while (*p == ' ' || *p == '\t') p++;
  if (*p != ':') return 0;
  copy_trimmed(val, len, p + 1);
  return 1;
}

static void linux_arm_identity(wsk_cpu_info *out) {
  char model[64] = "", hardware[64] = "", impl_s[16] = "", part_s[16] = "", line[512];
  char features[8] = "";
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f != NULL) {
    while (fgets(line, sizeof line, f)) {
      if (!features[0]) cpuinfo_value(line, "Features", features, sizeof features);
      if (!model[0]) cpuinfo_value(line, "model name", model, sizeof model);
      if (!hardware[0]) cpuinfo_value(line, "Hardware", hardware, sizeof hardware);
      if (!impl_s[0]) cpuinfo_value(line, "CPU implementer", impl_s, sizeof impl_s);
      if (!part_s[0]) cpuinfo_value(line, "CPU part", part_s, sizeof part_s);
    }
    fclose(f);
  }
  /* Under an emulator (qemu-user) /proc/cpuinfo is the host's, an x86 one
   * with "model name" and "flags": believe only an arm64-shaped file. */
  if (!features[0] && !impl_s[0]) return;
  unsigned impl = 0, part = 0;
  int have_impl = impl_s[0] && sscanf(impl_s, "%x", &impl) == 1;
  int have_part = part_s[0] && sscanf(part_s, "%x", &part) == 1;
  const char *vendor = have_impl ? arm_implementer(impl) : NULL;
  const char *pname = have_impl && have_part ? arm_part(impl, part) : NULL;
  if (vendor) {
    snprintf(out->vendor, sizeof out->vendor, "%s", vendor);
  } else if (have_impl) {
    snprintf(out->vendor, sizeof out->vendor, "0x%02x", impl);
  }
  if (pname) {
    snprintf(out->name, sizeof out->name, "%s", pname);
  } else if (model[0]) {
    snprintf(out->name, sizeof out->name, "%s", model);
  } else if (hardware[0]) {
    snprintf(out->name, sizeof out->name, "%s", hardware);
  } else if (have_impl && have_part) {
    snprintf(out->name, sizeof out->name, "implementer 0x%02x part 0x%03x", impl, part);
  }
}
#endif

#if defined(WSK_CPU_APPLE)
static void apple_identity(wsk_cpu_info *out) {
  char brand[128];
  size_t len = sizeof brand;
  snprintf(out->vendor, sizeof out->vendor, "Apple");
  if (sysctlbyname("machdep.cpu.brand_string", brand, &len, NULL, 0) == 0 && len > 0) {
    brand[len < sizeof brand ? len : sizeof brand - 1] = '\0';
    copy_trimmed(out->name, sizeof out->name, brand);
  }
}
#endif

wsk_status wsk_cpu_info_get(wsk_cpu_info *out) {
  if (out == NULL) return wsk__fail(WSK_ERR_NULL, "wsk_cpu_info_get: out is NULL");
  memset(out, 0, sizeof *out);
  snprintf(out->vendor, sizeof out->vendor, "unknown");
  snprintf(out->name, sizeof out->name, "unknown");
#if defined(WSK_CPU_X86)
  wsk_x86_regs r;
  if (wsk_cpu_read_x86(&r)) {
    x86_identity(out);
    x86_features(&r, out->features, sizeof out->features);
  }
#elif defined(WSK_CPU_LINUX_ARM)
  uint64_t hwcap = getauxval(AT_HWCAP);
  linux_arm_identity(out);
  if (hwcap & ARM_HWCAP_FP) add_word(out->features, sizeof out->features, "fp");
  if (hwcap & ARM_HWCAP_ASIMD) add_word(out->features, sizeof out->features, "asimd");
#elif defined(WSK_CPU_APPLE)
  apple_identity(out);
  if (apple_sysctl_int("hw.optional.neon") == 1)
    add_word(out->features, sizeof out->features, "neon");
  if (apple_sysctl_int("hw.optional.AdvSIMD") == 1)
    add_word(out->features, sizeof out->features, "advsimd");
#endif
  out->isas = wsk_isas_supported();
  return WSK_OK;
}
