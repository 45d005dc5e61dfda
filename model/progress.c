/* model/progress.c — a progress bar on a terminal, plain lines otherwise
 * (see model/progress.h). One mutex per progress serializes the counters and
 * the writes to stderr. */
#include "model/progress.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "model/io.h"

#define NOTE_MAX 96
/* terminal: redraw at most every 0.1 s; plain: a line per 5% or per 10 s */
#define TTY_INTERVAL 0.1
#define PLAIN_INTERVAL 10.0
#define PLAIN_STEPS 20

struct wsk_progress {
  pthread_mutex_t mu;
  char *label;
  size_t total, done;
  int tty, width;
  double start, last_print;
  size_t plain_step; /* plain mode: the last 5% step printed (done * 20 / total) */
  char note[NOTE_MAX];
};

/* "12s", "3m05s", "2h07m" */
static void fmt_duration(char *buf, size_t n, double s) {
  if (!(s >= 0.0)) s = 0.0;
  if (s > 359999.0) s = 359999.0;
  long t = (long)(s + 0.5);
  if (t < 60)
    snprintf(buf, n, "%lds", t);
  else if (t < 3600)
    snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
  else
    snprintf(buf, n, "%ldh%02ldm", t / 3600, t % 3600 / 60);
}

wsk_progress *wsk_progress_begin(const char *label, size_t total) {
  wsk_progress *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->label = strdup(label ? label : "");
  if (!p->label || pthread_mutex_init(&p->mu, NULL) != 0) {
    free(p->label);
    free(p);
    return NULL;
  }
  p->total = total;
  p->tty = isatty(STDERR_FILENO);
  p->width = 80;
  if (p->tty) {
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) p->width = ws.ws_col;
  }
  p->start = p->last_print = wsk_now_s();
  return p;
}

/* Prints the current state; called with the mutex held. */
static void print_state(wsk_progress *p, double t, int final) {
  const double el = t - p->start;
  char elapsed[32], eta[32] = "";
  fmt_duration(elapsed, sizeof elapsed, el);
  double frac = p->total ? (double)p->done / (double)p->total : 0.0;
  if (frac > 1.0) frac = 1.0;
  if (p->total && p->done > 0 && p->done < p->total)
    fmt_duration(eta, sizeof eta, el * (double)(p->total - p->done) / (double)p->done);
  char counts[64];
  if (p->total)
    snprintf(counts, sizeof counts, "%zu/%zu %3d%%", p->done, p->total, (int)(frac * 100.0));
  else
    snprintf(counts, sizeof counts, "%zu", p->done);

  if (!p->tty) {
    fprintf(stderr, "%s: %s, %s elapsed%s%s%s%s\n", p->label, counts, elapsed, *eta ? ", ETA " : "",
            eta, p->note[0] ? ", " : "", p->note);
    fflush(stderr);
    return;
  }
  char line[512], bar[34];
  int bw = 20;
  if (p->total) {
    int filled = (int)(frac * bw);
    bar[0] = '[';
    for (int i = 0; i < bw; i++) bar[1 + i] = i < filled ? '#' : '.';
    bar[bw + 1] = ']';
    bar[bw + 2] = '\0';
  } else {
    bar[0] = '\0';
  }
  int len = snprintf(line, sizeof line, "%s %s %s  %s%s%s%s%s", p->label, bar, counts, elapsed,
                     *eta ? "  ETA " : "", eta, p->note[0] ? "  " : "", p->note);
  if (len < 0) return;
  /* stay on one terminal line, or '\r' cannot overwrite it */
  int maxw = p->width - 1 < (int)sizeof line - 1 ? p->width - 1 : (int)sizeof line - 1;
  if (len > maxw) line[maxw] = '\0';
  fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
  fflush(stderr);
}

void wsk_progress_advance(wsk_progress *p, size_t done_delta, const char *note) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->done += done_delta;
  if (note) {
    strncpy(p->note, note, NOTE_MAX - 1);
    p->note[NOTE_MAX - 1] = '\0';
    for (char *c = p->note; *c; c++)
      if (*c == '\n' || *c == '\r') *c = ' ';
  }
  const double t = wsk_now_s();
  int show;
  if (p->tty) {
    show = t - p->last_print >= TTY_INTERVAL || (p->total && p->done >= p->total);
  } else {
    /* integer steps: no rounding decides whether 5% was reached */
    const size_t d = p->done < p->total ? p->done : p->total;
    const size_t step = p->total ? d * PLAIN_STEPS / p->total : 0;
    show = t - p->last_print >= PLAIN_INTERVAL || (step > p->plain_step && p->done < p->total);
    if (show) p->plain_step = step;
  }
  if (show) {
    print_state(p, t, 0);
    p->last_print = t;
  }
  pthread_mutex_unlock(&p->mu);
}

void wsk_progress_end(wsk_progress *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  print_state(p, wsk_now_s(), 1);
  pthread_mutex_unlock(&p->mu);
  pthread_mutex_destroy(&p->mu);
  free(p->label);
  free(p);
}
