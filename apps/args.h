/* apps/args.h — the number parsers the commands share (inline, so that a
 * test that includes a command's source needs nothing else). Each takes the
 * whole string (no sign where none is allowed, no trailing characters, no
 * overflow) and returns 1 with *v set, or 0 leaving *v alone; the caller
 * prints the message naming its option. */
#ifndef WSK_APPS_ARGS_H
#define WSK_APPS_ARGS_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* a non-negative decimal integer, without a sign */
static inline int wsk_arg_u64(const char *s, uint64_t *v) {
  if (!s || !*s || *s == '-' || *s == '+') return 0;
  char *end;
  errno = 0;
  const unsigned long long x = strtoull(s, &end, 10);
  if (errno || *end) return 0;
  *v = (uint64_t)x;
  return 1;
}

/* such an integer in [lo, hi] */
static inline int wsk_arg_range(const char *s, uint64_t lo, uint64_t hi, uint64_t *v) {
  uint64_t x;
  if (!wsk_arg_u64(s, &x) || x < lo || x > hi) return 0;
  *v = x;
  return 1;
}

/* a number > 0 (so not NaN) */
static inline int wsk_arg_positive(const char *s, float *v) {
  if (!s || !*s) return 0;
  char *end;
  errno = 0;
  const float x = strtof(s, &end);
  if (errno || *end || !(x > 0)) return 0;
  *v = x;
  return 1;
}

#endif
