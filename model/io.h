/* model/io.h — files, directories, growable text and CSV.
 *
 * Every file wsk writes goes through wsk_file_write_atomic: a temporary file
 * in the same directory, written completely, fsync'd, renamed over the
 * target, and the directory fsync'd, so a reader sees the old file or the new
 * one, never a part.
 *
 * Writing CSV: build the text in a wsk_strbuf, append each field with
 * wsk_csv_quote (quotes it per RFC 4180 when it holds a comma, quote, CR or
 * LF), separate fields with ',' and end rows with "\n"
 * (wsk_strbuf_append(&b, ",") / "\n"), then wsk_file_write_atomic(path, b.s, b.len).
 */
#ifndef WSK_MODEL_IO_H
#define WSK_MODEL_IO_H

#include <stddef.h>

#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define WSK_IO_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define WSK_IO_PRINTF(f, a)
#endif

/* Writes n bytes to path atomically (see above). On failure the temporary
 * file is removed, the target is untouched and the message names the path. */
wsk_status wsk_file_write_atomic(const char *path, const void *data, size_t n);

/* Reads a whole file. *data is malloc'd (caller frees) with one extra zero
 * byte after the n bytes, so text can be used as a C string. */
wsk_status wsk_file_read(const char *path, void **data, size_t *n);

/* dir + "/" + name, malloc'd (caller frees), NULL when out of memory; no
 * slash is doubled, and an absolute name is returned as is. */
char *wsk_path_join(const char *dir, const char *name);

/* Seconds on the monotonic clock (for timing stages; any origin). */
double wsk_now_s(void);

/* mkdir -p: creates path and its missing parents (mode 0777 & ~umask);
 * an existing directory is fine, an existing non-directory is an error. */
wsk_status wsk_mkdir_p(const char *path);

/* Growable text: start from {0} (or WSK_STRBUF_INIT); s is always
 * NUL-terminated once anything was appended. */
typedef struct wsk_strbuf {
  char *s;
  size_t len, cap;
} wsk_strbuf;
#define WSK_STRBUF_INIT \
  { NULL, 0, 0 }

wsk_status wsk_strbuf_printf(wsk_strbuf *b, const char *fmt, ...) WSK_IO_PRINTF(2, 3);
/* Appends n bytes of s (which may hold anything but is kept NUL-terminated). */
wsk_status wsk_strbuf_append_n(wsk_strbuf *b, const char *s, size_t n);
wsk_status wsk_strbuf_append(wsk_strbuf *b, const char *s);
void wsk_strbuf_free(wsk_strbuf *b);

/* Appends one CSV field: as is when it needs no quoting, else in double quotes
 * with every '"' doubled (RFC 4180). */
wsk_status wsk_csv_quote(wsk_strbuf *b, const char *field);

/* CSV (RFC 4180 quoting) read into memory: header + rows of strings.
 * Accepts LF or CRLF line ends, quoted fields with embedded commas, quotes
 * and line breaks; a final line end is optional; empty lines are skipped.
 * Every row must have ncols fields (else WSK_ERR_FORMAT naming file and line). */
typedef struct wsk_csv {
  size_t ncols, nrows;
  char **header;
  char ***rows;
} wsk_csv;
wsk_status wsk_csv_read(const char *path, wsk_csv *out);
/* Parses CSV text of n bytes; name is used in messages. */
wsk_status wsk_csv_parse(const char *text, size_t n, const char *name, wsk_csv *out);
long wsk_csv_col(const wsk_csv *c, const char *name); /* column index or -1 */
void wsk_csv_free(wsk_csv *c);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_IO_H */
