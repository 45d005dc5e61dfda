/* kernels/eltwise/eltwise-avx2.c — the eltwise family on AVX2: the body of
 * kernels/simd/eltwise-body.h over the v16 of kernels/simd/vec16-avx2.h.
 * Scalar twin (the definition of every result bit): eltwise-scalar.c. */
#include "kernels/simd/vec16-avx2.h"

#define WSK_BODY_ISA avx2
#define WSK_BODY_ISA_ENUM WSK_ISA_AVX2
#include "kernels/simd/eltwise-body.h"
