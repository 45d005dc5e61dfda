/* dispatch/dispatch_internal.h — hooks of the dispatch layer for the unit
 * tests (internal; exported from the library like dispatch/cpu.h).
 */
#ifndef WSK_DISPATCH_INTERNAL_H
#define WSK_DISPATCH_INTERNAL_H

#include "wsk/dispatch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Forgets every choice made so far, as if the process had just started:
 * re-reads WSK_ISA and WSK_VERBOSE from the environment, drops the cap of
 * wsk_set_isa() and re-selects every family's table (logging the choices when
 * WSK_VERBOSE=1). The analogue of XNNPACK's init-once reset for tests; like
 * wsk_set_isa() it must not race with kernel calls on other threads. */
void wsk__dispatch_reset_for_tests(void);

/* Tiers in the order `wsk info` and the error messages list them: best first
 * (avx512, avx2, neon, scalar). Writes the names of the tiers in `isas`
 * separated by `sep` into buf[len] and returns buf. */
char *wsk__isas_str(uint32_t isas, const char *sep, char *buf, size_t len);

/* The cap in force, as `wsk info` prints it: "none", "WSK_ISA=avx2",
 * "wsk_set_isa(scalar)" or "none (WSK_ISA is invalid)". Returns buf. */
char *wsk__cap_str(char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
