// SPDX-License-Identifier: GPL-2.0-or-later
// Loader of bench/timeline_bpf/recorder.bpf.o (libbpf 1.1, no skeleton): sizes the ring map for
// the possible CPUs, loads, attaches the five tracepoint programs, mmaps both maps, prints
// "attached" and waits. SIGUSR1 prints "counts <records written per CPU...>"; SIGINT/SIGTERM
// prints the same line, "seconds covered" estimates and a check of the last ring, then exits.
// Bench-only: bench/timeline_cost.py builds and runs it.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "recorder.h"

static int libbpf_quiet(enum libbpf_print_level level, const char* fmt, va_list ap) {
  if (level == LIBBPF_DEBUG) return 0;
  return vfprintf(stderr, fmt, ap);
}

static void print_counts(const volatile struct head* heads, int ncpus) {
  printf("counts");
  for (int c = 0; c < ncpus; c++) printf(" %llu", (unsigned long long)heads[c].head);
  printf("\n");
  fflush(stdout);
}

static size_t page_round(size_t n) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  return (n + pg - 1) / pg * pg;
}

int main(int argc, char** argv) {
  const char* obj_path = argc > 1 ? argv[1] : "recorder.bpf.o";
  libbpf_set_print(libbpf_quiet);
  int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) {
    fprintf(stderr, "possible cpus: %d\n", ncpus);
    return 1;
  }

  struct bpf_object* obj = bpf_object__open_file(obj_path, NULL);
  if (!obj) {
    fprintf(stderr, "open %s: %s\n", obj_path, strerror(errno));
    return 1;
  }
  struct bpf_map* rings = bpf_object__find_map_by_name(obj, "rings");
  struct bpf_map* heads = bpf_object__find_map_by_name(obj, "heads");
  if (!rings || !heads) {
    fprintf(stderr, "maps missing in %s\n", obj_path);
    return 1;
  }
  if (bpf_map__set_max_entries(rings, (unsigned)ncpus * RING_RECORDS) ||
      bpf_map__set_max_entries(heads, (unsigned)ncpus)) {
    fprintf(stderr, "set_max_entries failed\n");
    return 1;
  }
  int err = bpf_object__load(obj);
  if (err) {
    fprintf(stderr, "load: %s\n", strerror(-err));
    return 1;
  }

  size_t ring_bytes = page_round((size_t)ncpus * RING_RECORDS * sizeof(struct rec));
  size_t head_bytes = page_round((size_t)ncpus * sizeof(struct head));
  const struct rec* ring = mmap(NULL, ring_bytes, PROT_READ, MAP_SHARED, bpf_map__fd(rings), 0);
  const volatile struct head* hd =
      mmap(NULL, head_bytes, PROT_READ, MAP_SHARED, bpf_map__fd(heads), 0);
  if (ring == MAP_FAILED || hd == MAP_FAILED) {
    perror("mmap");
    return 1;
  }

  struct bpf_program* prog;
  int nlinks = 0;
  struct bpf_link* links[8];
  bpf_object__for_each_program(prog, obj) {
    struct bpf_link* l = bpf_program__attach(prog);
    if (!l) {
      fprintf(stderr, "attach %s: %s\n", bpf_program__name(prog), strerror(errno));
      return 1;
    }
    if (nlinks < 8) links[nlinks++] = l;
  }

  /* The signals stay blocked and are taken by sigwait(): no window between a check and a wait
   * in which a SIGUSR1 could be missed (pause() had one, and hung a run). */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, NULL);

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  printf("attached %d programs, ring %u records x %zu bytes per cpu (%zu bytes per cpu), %d cpus\n",
         nlinks, RING_RECORDS, sizeof(struct rec), (size_t)RING_RECORDS * sizeof(struct rec),
         ncpus);
  fflush(stdout);

  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig != SIGUSR1) break;
    print_counts(hd, ncpus);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  print_counts(hd, ncpus);

  /* Read-back check without a syscall: the ring of each CPU, newest first; a record whose seq
   * does not match its index was overwritten or is being written. */
  for (int c = 0; c < ncpus; c++) {
    unsigned long long n = hd[c].head;
    unsigned good = 0;
    unsigned long long oldest = 0, newest = 0;
    unsigned span = n < RING_RECORDS ? (unsigned)n : RING_RECORDS;
    for (unsigned k = 1; k <= span; k++) {
      unsigned long long i = n - k;
      const struct rec* r = &ring[(size_t)c * RING_RECORDS + (i & (RING_RECORDS - 1))];
      if (r->seq != (unsigned)(i + 1)) continue;
      good++;
      if (!newest) newest = r->ts;
      oldest = r->ts;
    }
    printf("cpu %d: %llu records written, %u readable, ring covers %.3f s\n", c, n, good,
           newest > oldest ? (double)(newest - oldest) / 1e9 : 0.0);
  }
  printf("ran %.3f s\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  for (int i = 0; i < nlinks; i++) bpf_link__destroy(links[i]);
  bpf_object__close(obj);
  return 0;
}
