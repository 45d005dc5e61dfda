/* kernels/attn/attn-avx2.c — the attn row operations on AVX2+FMA: the body of
 * kernels/simd/attn-body.h over the v16 of kernels/simd/vec16-avx2.h (the
 * matrix products run on the gemm micro-kernel of the same tier).
 * Scalar twin (the definition of every result bit): attn-scalar.c. */
#include <math.h>

#include "kernels/simd/vec16-avx2.h"

#define WSK_BODY_ISA avx2
#define WSK_BODY_ISA_ENUM WSK_ISA_AVX2
#include "kernels/simd/attn-body.h"
