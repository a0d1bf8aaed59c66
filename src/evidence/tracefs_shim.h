/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The libtracefs calls of the flight recorder (trace_recorder.cpp), in C: tracefs.h 1.6 does not
 * compile as C++ (an inline function passes an int as an enum). Each call may wait for every CPU
 * (enabling an event patches kernel text): the recorder thread only. */
#ifndef STALLWATCH_EVIDENCE_TRACEFS_SHIM_H
#define STALLWATCH_EVIDENCE_TRACEFS_SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sw_tracefs;

/* Creates (or reuses: *reused = 1) instances/<name> under tracing_dir with tracing off, trace_clock
 * mono, buffer_kib per CPU, overwrite on and every event off. NULL with err filled on failure
 * (nothing left behind that this call created). */
struct sw_tracefs *sw_tracefs_open(const char *tracing_dir, const char *name, size_t buffer_kib,
                                   int *reused, char *err, size_t errlen);
/* Enables system/event; returns its format file (free()) or NULL with err filled. */
char *sw_tracefs_enable(struct sw_tracefs *t, const char *system, const char *event, char *err,
                        size_t errlen);
/* The instance's directory (free()). */
char *sw_tracefs_dir(struct sw_tracefs *t);
/* The ring buffer's sub-buffer size in bytes (buffer_subbuf_size_kb, else the page size). */
size_t sw_tracefs_subbuf_bytes(struct sw_tracefs *t);
int sw_tracefs_on(struct sw_tracefs *t);
/* Tracing off, every event off, the instance removed when remove is set, memory freed. */
void sw_tracefs_close(struct sw_tracefs *t, int remove);

#ifdef __cplusplus
}
#endif

#endif
