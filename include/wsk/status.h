/* wsk/status.h — status codes returned by every public wsk function.
 *
 * Every public function returns a wsk_status. WSK_OK is zero; every error is
 * a small positive number with a fixed meaning. When a function fails it also
 * records a human-readable message for the calling thread, which
 * wsk_last_error() returns until the next failing call on that thread.
 */
#ifndef WSK_STATUS_H
#define WSK_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wsk_status {
  WSK_OK = 0,
  WSK_ERR_NULL = 1,      /* a required pointer argument is NULL */
  WSK_ERR_SIZE = 2,      /* a size, count or channel number is < 1 */
  WSK_ERR_OVERFLOW = 3,  /* sizes whose product (in bytes) overflows size_t */
  WSK_ERR_ARG = 4,       /* any other invalid argument (axis, mask, rank, op) */
  WSK_ERR_ISA = 5,       /* unknown ISA name, or a tier this CPU cannot run */
  WSK_ERR_NOMEM = 6,     /* memory allocation failed */
  WSK_ERR_IO = 7,        /* a file could not be read or written */
  WSK_ERR_FORMAT = 8,    /* a file or string is malformed */
} wsk_status;

/* Short constant name of a status ("WSK_ERR_NULL"); never NULL. */
const char *wsk_status_name(wsk_status s);

/* The message recorded by the last failing wsk call on this thread
 * ("" when none has failed). The pointer stays valid until the next wsk call
 * on this thread. */
const char *wsk_last_error(void);

#ifdef __cplusplus
}
#endif
#endif /* WSK_STATUS_H */
