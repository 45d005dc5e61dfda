/* kernels/permsum/permsum-avx512.c — the permsum family on AVX512: the body of
 * kernels/simd/permsum-body.h over the v16 of kernels/simd/vec16-avx512.h.
 * Scalar twin (the definition of every result bit): permsum-scalar.c. */
#include "kernels/simd/vec16-avx512.h"

#define WSK_BODY_ISA avx512
#define WSK_BODY_ISA_ENUM WSK_ISA_AVX512
#include "kernels/simd/permsum-body.h"
