/* dispatch/status.c — status names and the per-thread last error message. */
#include <stdarg.h>
#include <stdio.h>

#include "dispatch/error.h"

static _Thread_local char last_error[512];

const char *wsk_status_name(wsk_status s) {
  switch (s) {
    case WSK_OK: return "WSK_OK";
    case WSK_ERR_NULL: return "WSK_ERR_NULL";
    case WSK_ERR_SIZE: return "WSK_ERR_SIZE";
    case WSK_ERR_OVERFLOW: return "WSK_ERR_OVERFLOW";
    case WSK_ERR_ARG: return "WSK_ERR_ARG";
    case WSK_ERR_ISA: return "WSK_ERR_ISA";
    case WSK_ERR_NOMEM: return "WSK_ERR_NOMEM";
    case WSK_ERR_IO: return "WSK_ERR_IO";
    case WSK_ERR_FORMAT: return "WSK_ERR_FORMAT";
  }
  return "WSK_ERR_UNKNOWN";
}

const char *wsk_last_error(void) { return last_error; }

wsk_status wsk__fail(wsk_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return s;
}
