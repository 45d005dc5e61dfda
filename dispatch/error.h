/* dispatch/error.h — recording errors for wsk_last_error() (internal). */
#ifndef WSK_DISPATCH_ERROR_H
#define WSK_DISPATCH_ERROR_H

#include "wsk/status.h"

#if defined(__GNUC__)
#define WSK_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define WSK_PRINTF(f, a)
#endif

/* Records "fmt ..." as this thread's last error and returns s. */
wsk_status wsk__fail(wsk_status s, const char *fmt, ...) WSK_PRINTF(2, 3);

/* Returns early from the calling function when expr is not WSK_OK. */
#define WSK_TRY(expr)                     \
  do {                                    \
    wsk_status wsk_try_s_ = (expr);       \
    if (wsk_try_s_ != WSK_OK) return wsk_try_s_; \
  } while (0)

#endif
