/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
#include "tracefs_shim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tracefs/tracefs.h>
#include <unistd.h>

struct sw_tracefs {
  struct tracefs_instance *inst;
};

static void set_err(char *err, size_t errlen, const char *what, int e) {
  if (err == NULL || errlen == 0) return;
  snprintf(err, errlen, "%s: %s", what, e != 0 ? strerror(e) : "failed");
}

struct sw_tracefs *sw_tracefs_open(const char *tracing_dir, const char *name, size_t buffer_kib,
                                   int *reused, char *err, size_t errlen) {
  char *dir = strdup(tracing_dir);
  char what[256];
  struct sw_tracefs *t;
  if (dir == NULL) return NULL;
  if (tracefs_set_tracing_dir(dir) < 0) {
    free(dir);
    set_err(err, errlen, "tracefs not usable", errno);
    return NULL;
  }
  free(dir);
  t = calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  errno = 0;
  t->inst = tracefs_instance_create(name);
  if (t->inst == NULL) {
    snprintf(what, sizeof what, "cannot create %s/instances/%s", tracing_dir, name);
    set_err(err, errlen, what, errno);
    free(t);
    return NULL;
  }
  *reused = !tracefs_instance_is_new(t->inst);
  tracefs_trace_off(t->inst);
  tracefs_event_disable(t->inst, NULL, NULL);
  errno = 0;
  if (tracefs_instance_file_write(t->inst, "trace_clock", "mono") < 0) {
    set_err(err, errlen, "trace_clock mono", errno);
    sw_tracefs_close(t, !*reused);
    return NULL;
  }
  errno = 0;
  if (tracefs_instance_set_buffer_size(t->inst, buffer_kib, -1) < 0) {
    snprintf(what, sizeof what, "buffer_size_kb %zu", buffer_kib);
    set_err(err, errlen, what, errno);
    sw_tracefs_close(t, !*reused);
    return NULL;
  }
  if (tracefs_option_is_supported(t->inst, TRACEFS_OPTION_OVERWRITE))
    tracefs_option_enable(t->inst, TRACEFS_OPTION_OVERWRITE);
  return t;
}

char *sw_tracefs_enable(struct sw_tracefs *t, const char *system, const char *event, char *err,
                        size_t errlen) {
  char what[256];
  int size = 0;
  char *text;
  snprintf(what, sizeof what, "event %s/%s", system, event);
  errno = 0;
  if (tracefs_event_enable(t->inst, system, event) < 0) {
    set_err(err, errlen, what, errno);
    return NULL;
  }
  text = tracefs_event_file_read(t->inst, system, event, "format", &size);
  if (text == NULL) set_err(err, errlen, what, errno);
  return text;
}

char *sw_tracefs_dir(struct sw_tracefs *t) {
  char *d = tracefs_instance_get_dir(t->inst);
  char *copy = d != NULL ? strdup(d) : NULL;
  tracefs_put_tracing_file(d);
  return copy;
}

size_t sw_tracefs_subbuf_bytes(struct sw_tracefs *t) {
  long long kib = 0;
  if (tracefs_file_exists(t->inst, "buffer_subbuf_size_kb") &&
      tracefs_instance_file_read_number(t->inst, "buffer_subbuf_size_kb", &kib) == 0 && kib > 0)
    return (size_t)kib * 1024;
  return (size_t)sysconf(_SC_PAGESIZE);
}

int sw_tracefs_on(struct sw_tracefs *t) { return tracefs_trace_on(t->inst); }

void sw_tracefs_close(struct sw_tracefs *t, int remove) {
  if (t == NULL) return;
  tracefs_trace_off(t->inst);
  tracefs_event_disable(t->inst, NULL, NULL);
  if (remove) tracefs_instance_destroy(t->inst);
  tracefs_instance_free(t->inst);
  free(t);
}
