/* kernels/eqpool/eqpool-avx2.c — the eqpool micro-kernels on AVX2: the body
 * of kernels/simd/eqpool-body.h over the v16 of kernels/simd/vec16-avx2.h.
 * Scalar twin (the definition of every result bit): eqpool-scalar.c. */
#include "kernels/simd/vec16-avx2.h"

#define WSK_BODY_ISA avx2
#define WSK_BODY_ISA_ENUM WSK_ISA_AVX2
#include "kernels/simd/eqpool-body.h"
