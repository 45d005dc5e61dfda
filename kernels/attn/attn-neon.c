/* kernels/attn/attn-neon.c — the attn row operations on NEON: the body of
 * kernels/simd/attn-body.h over the v16 of kernels/simd/vec16-neon.h (the
 * matrix products run on the gemm micro-kernel of the same tier).
 * Scalar twin (the definition of every result bit): attn-scalar.c. */
#include <math.h>

#include "kernels/simd/vec16-neon.h"

#define WSK_BODY_ISA neon
#define WSK_BODY_ISA_ENUM WSK_ISA_NEON
#include "kernels/simd/attn-body.h"
