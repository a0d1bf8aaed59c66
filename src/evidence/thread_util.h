// SPDX-License-Identifier: GPL-2.0-or-later
// Internal: starts the evidence module's background threads with an explicit small stack and
// SCHED_OTHER (they must never compete with the heartbeats, whatever the caller's policy is).
#pragma once

#include <pthread.h>
#include <sched.h>

#include <cstddef>
#include <cstring>

#include "stallwatch/core/result.h"

namespace stallwatch::evidence {

inline Status start_background_thread(pthread_t* thread, void* (*fn)(void*), void* arg,
                                      std::size_t stack_bytes, const char* name) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, stack_bytes);
  pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
  pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
  sched_param param{};
  param.sched_priority = 0;
  pthread_attr_setschedparam(&attr, &param);
  int rc = pthread_create(thread, &attr, fn, arg);
  pthread_attr_destroy(&attr);
  if (rc != 0) return make_error("{}: pthread_create: {}", name, std::strerror(rc));
  pthread_setname_np(*thread, name);
  return Ok{};
}

}  // namespace stallwatch::evidence
