/* model/io.c — atomic file writes, whole-file reads, mkdir -p, growable text
 * and RFC 4180 CSV (see model/io.h). */
#include "model/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "dispatch/error.h"

/* ---- whole files ---------------------------------------------------------------- */

static atomic_uint tmp_counter;

/* Directory part of path ("." when it has none, "/" for "/x"). */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  size_t len = (size_t)(slash - path);
  if (len == 0) len = 1; /* "/name" */
  char *d = malloc(len + 1);
  if (!d) return NULL;
  memcpy(d, path, len);
  d[len] = '\0';
  return d;
}

/* fsync of a directory; file systems that cannot sync directories say EINVAL. */
static int fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  if (rc != 0 && (errno == EINVAL || errno == ENOTSUP)) rc = 0;
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

wsk_status wsk_file_write_atomic(const char *path, const void *data, size_t n) {
  if (!path) return wsk__fail(WSK_ERR_NULL, "wsk_file_write_atomic: path is NULL");
  if (!data && n) return wsk__fail(WSK_ERR_NULL, "wsk_file_write_atomic: data is NULL");
  if (!*path) return wsk__fail(WSK_ERR_ARG, "wsk_file_write_atomic: empty path");
  const size_t plen = strlen(path);
  char *tmp = malloc(plen + 64);
  if (!tmp) return wsk__fail(WSK_ERR_NOMEM, "out of memory writing %s", path);

  /* A name no other writer uses: this process's id and a per-process counter;
   * O_EXCL guards against a leftover of an earlier process with the same id. */
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
    snprintf(tmp, plen + 64, "%s.tmp.%ld.%u", path, (long)getpid(),
             atomic_fetch_add(&tmp_counter, 1u));
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    int e = errno;
    free(tmp);
    return wsk__fail(WSK_ERR_IO, "cannot write %s: cannot create a temporary file there: %s", path,
                     strerror(e));
  }

  const char *what = "write";
  const unsigned char *p = data;
  size_t left = n;
  int err = 0;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    p += w;
    left -= (size_t)w;
  }
  if (!err && fsync(fd) != 0) {
    err = errno;
    what = "fsync";
  }
  if (close(fd) != 0 && !err) {
    err = errno;
    what = "close";
  }
  if (!err && rename(tmp, path) != 0) {
    err = errno;
    what = "rename";
  }
  if (err) {
    unlink(tmp);
    free(tmp);
    return wsk__fail(WSK_ERR_IO, "cannot write %s (%s): %s", path, what, strerror(err));
  }
  free(tmp);

  /* The rename is durable once the directory entry is. */
  char *dir = dir_of(path);
  if (!dir) return wsk__fail(WSK_ERR_NOMEM, "out of memory writing %s", path);
  if (fsync_dir(dir) != 0) {
    int e = errno;
    wsk_status s = wsk__fail(WSK_ERR_IO, "wrote %s but cannot fsync its directory %s: %s", path,
                             dir, strerror(e));
    free(dir);
    return s;
  }
  free(dir);
  return WSK_OK;
}

wsk_status wsk_file_read(const char *path, void **data, size_t *n) {
  if (!path || !data || !n) return wsk__fail(WSK_ERR_NULL, "wsk_file_read: NULL argument");
  *data = NULL;
  *n = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return wsk__fail(WSK_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  struct stat st;
  size_t cap = 4096;
  if (fstat(fd, &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      close(fd);
      return wsk__fail(WSK_ERR_IO, "cannot read %s: it is a directory", path);
    }
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
      if ((uint64_t)st.st_size >= (uint64_t)SIZE_MAX) {
        close(fd);
        return wsk__fail(WSK_ERR_OVERFLOW, "cannot read %s: too large", path);
      }
      cap = (size_t)st.st_size + 1;
    }
  }
  unsigned char *buf = malloc(cap);
  if (!buf) {
    close(fd);
    return wsk__fail(WSK_ERR_NOMEM, "out of memory reading %s", path);
  }
  size_t len = 0;
  for (;;) {
    if (len + 1 >= cap) { /* keep room for the terminating zero */
      size_t ncap = cap * 2;
      unsigned char *nb = ncap > cap ? realloc(buf, ncap) : NULL;
      if (!nb) {
        free(buf);
        close(fd);
        return wsk__fail(WSK_ERR_NOMEM, "out of memory reading %s", path);
      }
      buf = nb;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + len, cap - 1 - len);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      free(buf);
      close(fd);
      return wsk__fail(WSK_ERR_IO, "cannot read %s: %s", path, strerror(e));
    }
    if (r == 0) break;
    len += (size_t)r;
  }
  close(fd);
  buf[len] = '\0';
  *data = buf;
  *n = len;
  return WSK_OK;
}

wsk_status wsk_mkdir_p(const char *path) {
  if (!path) return wsk__fail(WSK_ERR_NULL, "wsk_mkdir_p: path is NULL");
  if (!*path) return wsk__fail(WSK_ERR_ARG, "wsk_mkdir_p: empty path");
  char *p = strdup(path);
  if (!p) return wsk__fail(WSK_ERR_NOMEM, "out of memory creating %s", path);
  size_t len = strlen(p);
  /* Each prefix ending before a '/' (and the whole path), from the root down. */
  for (size_t i = 1; i <= len; i++) {
    if (i < len && p[i] != '/') continue;
    if (p[i - 1] == '/') continue; /* "a//b" or a trailing '/' */
    char saved = p[i];
    p[i] = '\0';
    if (mkdir(p, 0777) != 0) {
      int e = errno;
      struct stat st;
      if (e != EEXIST || stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
        wsk_status s;
        if (e == EEXIST)
          s = wsk__fail(WSK_ERR_IO, "cannot create directory %s: %s exists and is not a directory",
                        path, p);
        else
          s = wsk__fail(WSK_ERR_IO, "cannot create directory %s: %s: %s", path, p, strerror(e));
        free(p);
        return s;
      }
    }
    p[i] = saved;
  }
  free(p);
  return WSK_OK;
}

/* ---- growable text -------------------------------------------------------------- */

static wsk_status strbuf_reserve(wsk_strbuf *b, size_t extra) {
  if (extra > SIZE_MAX - b->len - 1) return wsk__fail(WSK_ERR_OVERFLOW, "text buffer too large");
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return WSK_OK;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  char *s = realloc(b->s, cap);
  if (!s) return wsk__fail(WSK_ERR_NOMEM, "out of memory growing a text buffer to %zu bytes", cap);
  b->s = s;
  b->cap = cap;
  return WSK_OK;
}

wsk_status wsk_strbuf_append_n(wsk_strbuf *b, const char *s, size_t n) {
  if (!b || (!s && n)) return wsk__fail(WSK_ERR_NULL, "wsk_strbuf_append: NULL argument");
  WSK_TRY(strbuf_reserve(b, n));
  if (n) memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
  return WSK_OK;
}

wsk_status wsk_strbuf_append(wsk_strbuf *b, const char *s) {
  if (!s) return wsk__fail(WSK_ERR_NULL, "wsk_strbuf_append: NULL string");
  return wsk_strbuf_append_n(b, s, strlen(s));
}

wsk_status wsk_strbuf_printf(wsk_strbuf *b, const char *fmt, ...) {
  if (!b || !fmt) return wsk__fail(WSK_ERR_NULL, "wsk_strbuf_printf: NULL argument");
  va_list ap;
  va_start(ap, fmt);
  va_list ap2;
  va_copy(ap2, ap);
  char small[256];
  int k = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (k < 0) {
    va_end(ap2);
    return wsk__fail(WSK_ERR_ARG, "wsk_strbuf_printf: bad format \"%s\"", fmt);
  }
  wsk_status s = strbuf_reserve(b, (size_t)k);
  if (s == WSK_OK) {
    if ((size_t)k < sizeof small)
      memcpy(b->s + b->len, small, (size_t)k + 1);
    else
      vsnprintf(b->s + b->len, (size_t)k + 1, fmt, ap2);
    b->len += (size_t)k;
  }
  va_end(ap2);
  return s;
}

void wsk_strbuf_free(wsk_strbuf *b) {
  if (!b) return;
  free(b->s);
  b->s = NULL;
  b->len = b->cap = 0;
}

/* ---- CSV ------------------------------------------------------------------------ */

wsk_status wsk_csv_quote(wsk_strbuf *b, const char *field) {
  if (!b || !field) return wsk__fail(WSK_ERR_NULL, "wsk_csv_quote: NULL argument");
  if (!strpbrk(field, ",\"\r\n")) return wsk_strbuf_append(b, field);
  WSK_TRY(wsk_strbuf_append_n(b, "\"", 1));
  for (const char *p = field; *p; p++) {
    const char *q = strchr(p, '"');
    if (!q) {
      WSK_TRY(wsk_strbuf_append(b, p));
      break;
    }
    WSK_TRY(wsk_strbuf_append_n(b, p, (size_t)(q - p)));
    WSK_TRY(wsk_strbuf_append_n(b, "\"\"", 2));
    p = q;
  }
  return wsk_strbuf_append_n(b, "\"", 1);
}

/* A growing array of pointers. */
typedef struct ptrvec {
  void **v;
  size_t n, cap;
} ptrvec;

static int ptrvec_push(ptrvec *a, void *p) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 16;
    void **v = realloc(a->v, cap * sizeof *v);
    if (!v) return -1;
    a->v = v;
    a->cap = cap;
  }
  a->v[a->n++] = p;
  return 0;
}

static void free_strings(char **s, size_t n) {
  if (!s) return;
  for (size_t i = 0; i < n; i++) free(s[i]);
  free(s);
}

void wsk_csv_free(wsk_csv *c) {
  if (!c) return;
  free_strings(c->header, c->header ? c->ncols : 0);
  if (c->rows)
    for (size_t r = 0; r < c->nrows; r++) free_strings(c->rows[r], c->ncols);
  free(c->rows);
  memset(c, 0, sizeof *c);
}

/* Parses one record starting at *pos into fields (malloc'd strings). Returns
 * 0 on success, 1 at the end of the text (no record), -1 on a format error
 * (message recorded), -2 when out of memory. *line counts line breaks;
 * *first_line receives the line the record starts on. */
static int csv_record(const char *t, size_t n, size_t *pos, size_t *line, size_t *first_line,
                      const char *name, ptrvec *fields) {
  size_t i = *pos;
  /* empty lines between records are skipped */
  while (i < n && (t[i] == '\n' || t[i] == '\r')) {
    if (t[i] == '\n') (*line)++;
    i++;
  }
  *first_line = *line;
  if (i >= n) {
    *pos = i;
    return 1;
  }
  wsk_strbuf f = WSK_STRBUF_INIT;
  for (;;) {
    f.len = 0;
    if (wsk_strbuf_append_n(&f, "", 0) != WSK_OK) goto nomem;
    if (i < n && t[i] == '"') {
      const size_t start_line = *line;
      i++;
      for (;;) {
        if (i >= n) {
          wsk__fail(WSK_ERR_FORMAT, "%s: line %zu: quoted field not closed", name, start_line);
          wsk_strbuf_free(&f);
          return -1;
        }
        if (t[i] == '"') {
          if (i + 1 < n && t[i + 1] == '"') {
            if (wsk_strbuf_append_n(&f, "\"", 1) != WSK_OK) goto nomem;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (t[i] == '\n') (*line)++;
        if (wsk_strbuf_append_n(&f, t + i, 1) != WSK_OK) goto nomem;
        i++;
      }
      if (i < n && t[i] != ',' && t[i] != '\n' && t[i] != '\r') {
        wsk__fail(WSK_ERR_FORMAT,
                  "%s: line %zu: '%c' after a closing quote (expected ',' or a "
                  "line end)",
                  name, *line, t[i]);
        wsk_strbuf_free(&f);
        return -1;
      }
    } else {
      size_t s = i;
      while (i < n && t[i] != ',' && t[i] != '\n' && t[i] != '\r') i++;
      if (wsk_strbuf_append_n(&f, t + s, i - s) != WSK_OK) goto nomem;
    }
    char *field = strdup(f.s);
    if (!field || ptrvec_push(fields, field) != 0) {
      free(field);
      goto nomem;
    }
    if (i < n && t[i] == ',') {
      i++;
      continue;
    }
    /* end of record: CRLF, LF, a lone CR, or the end of the text */
    if (i < n && t[i] == '\r') i++;
    if (i < n && t[i] == '\n') i++;
    (*line)++;
    break;
  }
  wsk_strbuf_free(&f);
  *pos = i;
  return 0;
nomem:
  wsk_strbuf_free(&f);
  wsk__fail(WSK_ERR_NOMEM, "out of memory reading %s", name);
  return -2;
}

wsk_status wsk_csv_parse(const char *text, size_t n, const char *name, wsk_csv *out) {
  if (!out) return wsk__fail(WSK_ERR_NULL, "wsk_csv_parse: out is NULL");
  memset(out, 0, sizeof *out);
  if (!text && n) return wsk__fail(WSK_ERR_NULL, "wsk_csv_parse: text is NULL");
  if (!name) name = "CSV text";
  size_t pos = 0, line = 1;
  if (n >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) pos = 3; /* UTF-8 byte-order mark */
  ptrvec fields = {0}, rows = {0};
  wsk_status s = WSK_OK;
  size_t rec_line;
  int rc = csv_record(text, n, &pos, &line, &rec_line, name, &fields);
  if (rc == 1) return wsk__fail(WSK_ERR_FORMAT, "%s: empty CSV file (no header line)", name);
  if (rc < 0) {
    free_strings((char **)fields.v, fields.n);
    return rc == -1 ? WSK_ERR_FORMAT : WSK_ERR_NOMEM;
  }
  out->ncols = fields.n;
  out->header = (char **)fields.v;
  memset(&fields, 0, sizeof fields);
  for (;;) {
    rc = csv_record(text, n, &pos, &line, &rec_line, name, &fields);
    if (rc == 1) break;
    if (rc < 0) {
      s = rc == -1 ? WSK_ERR_FORMAT : WSK_ERR_NOMEM;
      break;
    }
    if (fields.n != out->ncols) {
      s = wsk__fail(WSK_ERR_FORMAT, "%s: line %zu has %zu fields, the header has %zu", name,
                    rec_line, fields.n, out->ncols);
      break;
    }
    if (ptrvec_push(&rows, fields.v) != 0) {
      s = wsk__fail(WSK_ERR_NOMEM, "out of memory reading %s", name);
      break;
    }
    memset(&fields, 0, sizeof fields);
  }
  free_strings((char **)fields.v, fields.n);
  out->rows = (char ***)rows.v;
  out->nrows = rows.n;
  if (s != WSK_OK) wsk_csv_free(out);
  return s;
}

wsk_status wsk_csv_read(const char *path, wsk_csv *out) {
  if (!path || !out) return wsk__fail(WSK_ERR_NULL, "wsk_csv_read: NULL argument");
  memset(out, 0, sizeof *out);
  void *text;
  size_t n;
  WSK_TRY(wsk_file_read(path, &text, &n));
  wsk_status s = wsk_csv_parse(text, n, path, out);
  free(text);
  return s;
}

long wsk_csv_col(const wsk_csv *c, const char *name) {
  if (!c || !name || !c->header) return -1;
  for (size_t i = 0; i < c->ncols; i++)
    if (strcmp(c->header[i], name) == 0) return (long)i;
  return -1;
}

char *wsk_path_join(const char *dir, const char *name) {
  const size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (!p) return NULL;
  if (name[0] == '/') {
    memcpy(p, name, b + 1);
    return p;
  }
  memcpy(p, dir, a);
  size_t o = a;
  if (a > 0 && dir[a - 1] != '/') p[o++] = '/';
  memcpy(p + o, name, b + 1);
  return p;
}

double wsk_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
