// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/thread_start.h"

#include <sched.h>

#include <cstring>

namespace stallwatch {

int start_thread(pthread_t* thread, void* (*fn)(void*), void* arg, const ThreadOptions& options) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (options.stack_bytes > 0) pthread_attr_setstacksize(&attr, options.stack_bytes);
  if (options.pin_cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<unsigned>(options.pin_cpu), &set);
    pthread_attr_setaffinity_np(&attr, sizeof set, &set);
  }
  if (options.sched != ThreadSched::kInherit) {
    const bool fifo = options.sched == ThreadSched::kFifo;
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    sched_param sp{};
    sp.sched_priority = fifo ? options.priority : 0;
    pthread_attr_setschedpolicy(&attr, fifo ? SCHED_FIFO : SCHED_OTHER);
    pthread_attr_setschedparam(&attr, &sp);
  }
  if (options.detached) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  const int rc = pthread_create(thread, &attr, fn, arg);
  pthread_attr_destroy(&attr);
  if (rc == 0 && options.name != nullptr && options.name[0] != '\0')
    pthread_setname_np(*thread, options.name);
  return rc;
}

Status start_background_thread(pthread_t* thread, void* (*fn)(void*), void* arg,
                               std::size_t stack_bytes, const char* name) {
  ThreadOptions options;
  options.name = name;
  options.stack_bytes = stack_bytes;
  options.sched = ThreadSched::kOther;
  const int rc = start_thread(thread, fn, arg, options);
  if (rc != 0) return make_error("{}: pthread_create: {}", name, std::strerror(rc));
  return Ok{};
}

}  // namespace stallwatch
