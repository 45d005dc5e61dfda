/* kernels/optim/optim-avx512.c — the optim family on AVX512: the body of
 * kernels/simd/optim-body.h over the v16 of kernels/simd/vec16-avx512.h.
 * Scalar twin (the definition of every result bit): optim-scalar.c. */
#include "kernels/simd/vec16-avx512.h"

#define WSK_BODY_ISA avx512
#define WSK_BODY_ISA_ENUM WSK_ISA_AVX512
#include "kernels/simd/optim-body.h"
