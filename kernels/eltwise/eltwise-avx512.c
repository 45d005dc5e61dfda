/* kernels/eltwise/eltwise-avx512.c — the eltwise family on AVX-512: the body of
 * kernels/simd/eltwise-body.h over the v16 of kernels/simd/vec16-avx512.h.
 * Scalar twin (the definition of every result bit): eltwise-scalar.c. */
#include "kernels/simd/vec16-avx512.h"

#define WSK_BODY_ISA avx512
#define WSK_BODY_ISA_ENUM WSK_ISA_AVX512
#include "kernels/simd/eltwise-body.h"
