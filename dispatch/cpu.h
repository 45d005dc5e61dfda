/* dispatch/cpu.h — CPU feature detection as pure functions of raw register
 * values (internal; exported from the library for the unit tests).
 *
 * The readers (wsk_cpu_read_*) touch the hardware or the OS; the deciders
 * (wsk_isas_from_*) only look at the values they are given, so tests feed
 * them values recorded on real machines.
 */
#ifndef WSK_DISPATCH_CPU_H
#define WSK_DISPATCH_CPU_H

#include <stdint.h>

#include "wsk/dispatch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Raw x86 values: CPUID leaves 0, 1 and 7 (sub-leaf 0) and XCR0 (XGETBV with
 * ECX = 0; read only when CPUID.1:ECX.OSXSAVE[bit 27] is set, else 0). */
typedef struct wsk_x86_regs {
  uint32_t max_leaf;              /* CPUID.0:EAX */
  uint32_t leaf1_ecx, leaf1_edx;  /* CPUID.1 */
  uint32_t leaf7_ebx, leaf7_ecx, leaf7_edx; /* CPUID.(7,0); 0 if max_leaf < 7 */
  uint64_t xcr0;
} wsk_x86_regs;

/* Tiers (WSK_ISA_BIT mask) that x86 register values allow; always has scalar. */
uint32_t wsk_isas_from_x86(const wsk_x86_regs *r);

/* Raw Linux/aarch64 values: getauxval(AT_HWCAP), getauxval(AT_HWCAP2). */
uint32_t wsk_isas_from_linux_arm(uint64_t hwcap, uint64_t hwcap2);

/* Raw macOS values: sysctlbyname("hw.optional.neon") and
 * ("hw.optional.AdvSIMD"); -1 where the name does not exist. */
uint32_t wsk_isas_from_apple(int64_t hw_optional_neon, int64_t hw_optional_advsimd);

/* Reads the running machine's registers: nonzero on success (x86-64 only;
 * returns 0 on other architectures). */
int wsk_cpu_read_x86(wsk_x86_regs *out);

#ifdef __cplusplus
}
#endif
#endif
