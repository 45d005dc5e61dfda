/* kernels/optim/optim-neon.c — the optim family on NEON: the body of
 * kernels/simd/optim-body.h over the v16 of kernels/simd/vec16-neon.h.
 * Scalar twin (the definition of every result bit): optim-scalar.c. */
#include "kernels/simd/vec16-neon.h"

#define WSK_BODY_ISA neon
#define WSK_BODY_ISA_ENUM WSK_ISA_NEON
#include "kernels/simd/optim-body.h"
