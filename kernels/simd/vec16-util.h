/* kernels/simd/vec16-util.h — helpers written over the v16 operations of
 * whichever kernels/simd/vec16-<isa>.h was included before it. */
#ifndef WSK_VEC16_UTIL_H
#define WSK_VEC16_UTIL_H

#include <stddef.h>

/* the first min(w, 16) floats at p (w >= 1), lanes past w = 0 */
static inline v16 v16_load_upto(const float *p, size_t w) {
  return w >= 16 ? v16_loadu(p) : v16_load_part(p, w, 0.0f);
}

/* stores the first min(w, 16) lanes of a at p (w >= 1) */
static inline void v16_store_upto(float *p, v16 a, size_t w) {
  if (w >= 16)
    v16_storeu(p, a);
  else
    v16_store_part(p, a, w);
}

#endif
