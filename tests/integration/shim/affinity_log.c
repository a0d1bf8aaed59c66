// SPDX-License-Identifier: GPL-2.0-or-later
// LD_PRELOAD shim for host tests: logs every sched_setaffinity()/pthread_setaffinity_np() the
// daemon makes, with the name of the calling thread, to $SW_AFFINITY_LOG ("comm call tid
// target"), then makes the call. Shows which threads move threads (the real-time heartbeats must
// not: thread_move.h).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

static void note(const char *call, long target) {
  const char *path = getenv("SW_AFFINITY_LOG");
  if (path == NULL) return;
  char comm[17] = {0};
  prctl(PR_GET_NAME, comm, 0, 0, 0);
  char line[128];
  int n = snprintf(line, sizeof line, "%s %s %d %ld\n", comm, call, (int)gettid(), target);
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (write(fd, line, (size_t)n) < 0) {
  }
  close(fd);
}

int sched_setaffinity(pid_t pid, size_t size, const cpu_set_t *set) {
  static int (*real)(pid_t, size_t, const cpu_set_t *);
  if (real == NULL) real = (int (*)(pid_t, size_t, const cpu_set_t *))dlsym(RTLD_NEXT, "sched_setaffinity");
  note("sched_setaffinity", pid);
  return real(pid, size, set);
}

int pthread_setaffinity_np(pthread_t thread, size_t size, const cpu_set_t *set) {
  static int (*real)(pthread_t, size_t, const cpu_set_t *);
  if (real == NULL)
    real = (int (*)(pthread_t, size_t, const cpu_set_t *))dlsym(RTLD_NEXT, "pthread_setaffinity_np");
  note("pthread_setaffinity_np", 0);
  return real(thread, size, set);
}
