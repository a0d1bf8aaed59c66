// SPDX-License-Identifier: GPL-2.0-or-later
// The record the BPF flight-recorder prototype writes, shared by recorder.bpf.c and
// recorder_loader.c. Bench-only (issue 21: measure design (b) against the ftrace instance).
#ifndef STALLWATCH_BENCH_RECORDER_H
#define STALLWATCH_BENCH_RECORDER_H

#define RING_RECORDS 4096u /* records per CPU; a power of two */
#define HEAD_STRIDE 64u    /* bytes per CPU in the heads map: one cache line each */

enum rec_kind {
  REC_SWITCH = 1,
  REC_IRQ_ENTRY = 2,
  REC_IRQ_EXIT = 3,
  REC_SOFTIRQ_ENTRY = 4,
  REC_SOFTIRQ_EXIT = 5,
};

/* 40 bytes. seq is written last: (its value - 1) is the record's index in the CPU's stream, so a
 * reader can tell a record still being written, or already overwritten, from a good one. */
struct rec {
  unsigned long long ts; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
  unsigned int seq;
  int pid;    /* switch: next_pid; irq/softirq: the interrupted task (current) */
  int arg;    /* switch: prev_pid; irq: irq number; softirq: vec; irq exit: ret in bit 31 */
  short prio; /* switch: next_prio */
  unsigned char kind;
  unsigned char prev_state; /* switch: prev_state & 0xff */
  char comm[16];            /* switch: next_comm */
};

struct head {
  unsigned long long head; /* records ever reserved on this CPU */
  unsigned long long pad[HEAD_STRIDE / 8 - 1];
};

#endif
