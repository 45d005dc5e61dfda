/* kernels/optim/optim-avx2.c — the optim family on AVX2: the body of
 * kernels/simd/optim-body.h over the v16 of kernels/simd/vec16-avx2.h.
 * Scalar twin (the definition of every result bit): optim-scalar.c. */
#include "kernels/simd/vec16-avx2.h"

#define WSK_BODY_ISA avx2
#define WSK_BODY_ISA_ENUM WSK_ISA_AVX2
#include "kernels/simd/optim-body.h"
