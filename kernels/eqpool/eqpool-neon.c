/* kernels/eqpool/eqpool-neon.c — the eqpool micro-kernels on NEON: the body
 * of kernels/simd/eqpool-body.h over the v16 of kernels/simd/vec16-neon.h.
 * Scalar twin (the definition of every result bit): eqpool-scalar.c. */
#include "kernels/simd/vec16-neon.h"

#define WSK_BODY_ISA neon
#define WSK_BODY_ISA_ENUM WSK_ISA_NEON
#include "kernels/simd/eqpool-body.h"
