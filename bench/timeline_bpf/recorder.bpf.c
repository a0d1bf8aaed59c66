// SPDX-License-Identifier: GPL-2.0-or-later
// Design (b) of issue 21's flight recorder, for bench/timeline_cost.py only: classic tracepoint
// programs on sched_switch, irq_handler_entry/exit and softirq_entry/exit write 40-byte records
// into one ring of RING_RECORDS per CPU, kept in a BPF_F_MMAPABLE array map that userspace reads
// by mmap. No BTF and no vmlinux.h: the contexts are the tracepoints' format structs, copied
// from /sys/kernel/tracing/events/*/*/format (stable ABI of the trace events, not kernel structs).
#include <linux/types.h>
// Order matters (this comment splits the block so clang-format keeps it): linux/types.h first,
// bpf_helpers.h uses its __u32/__u64.
#include <linux/bpf.h>

#include <bpf/bpf_helpers.h>

#include "recorder.h"

char LICENSE[] SEC("license") = "GPL";

/* Sized by the loader: possible CPUs x RING_RECORDS (bpf_map__set_max_entries). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct rec);
  __uint(max_entries, RING_RECORDS);
} rings SEC(".maps");

/* One head per possible CPU, a cache line each (set by the loader too). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct head);
  __uint(max_entries, 1);
} heads SEC(".maps");

/* The common header every trace event starts with (offsets 0..7 of each format file). A
 * tracepoint program may not read it (the verifier refuses ctx offsets below 8), so the
 * interrupted task comes from bpf_get_current_pid_tgid(). */
struct tp_common {
  __u16 common_type;
  __u8 common_flags;
  __u8 common_preempt_count;
  __s32 common_pid;
};

struct tp_sched_switch { /* events/sched/sched_switch/format */
  struct tp_common c;
  char prev_comm[16];
  __s32 prev_pid;
  __s32 prev_prio;
  __s64 prev_state;
  char next_comm[16];
  __s32 next_pid;
  __s32 next_prio;
};

struct tp_irq_entry { /* events/irq/irq_handler_entry/format */
  struct tp_common c;
  __s32 irq;
  __u32 name_loc; /* __data_loc char[] name: not copied */
};

struct tp_irq_exit { /* events/irq/irq_handler_exit/format */
  struct tp_common c;
  __s32 irq;
  __s32 ret;
};

struct tp_softirq { /* events/irq/softirq_entry/format, softirq_exit the same */
  struct tp_common c;
  __u32 vec;
};

/* Reserves the next slot of this CPU's ring. The head is bumped with an atomic add because a
 * hard IRQ can nest inside the softirq programs (softirqs run with IRQs enabled). */
static __always_inline struct rec* reserve(__u32* seq) {
  __u32 cpu = bpf_get_smp_processor_id();
  struct head* h = bpf_map_lookup_elem(&heads, &cpu);
  if (!h) return 0;
  __u64 n = __sync_fetch_and_add(&h->head, 1);
  __u32 slot = cpu * RING_RECORDS + (__u32)(n & (RING_RECORDS - 1));
  *seq = (__u32)n + 1;
  return bpf_map_lookup_elem(&rings, &slot);
}

/* seq last: a compiler barrier is enough on x86 (stores are not reordered with stores); BPF has
 * no store fence. */
static __always_inline void publish(struct rec* r, __u32 seq) {
  asm volatile("" ::: "memory");
  r->seq = seq;
}

SEC("tracepoint/sched/sched_switch")
int on_switch(struct tp_sched_switch* ctx) {
  __u32 seq;
  struct rec* r = reserve(&seq);
  if (!r) return 0;
  r->seq = 0;
  r->ts = bpf_ktime_get_ns();
  r->kind = REC_SWITCH;
  r->pid = ctx->next_pid;
  r->arg = ctx->prev_pid;
  r->prio = (short)ctx->next_prio;
  r->prev_state = (unsigned char)ctx->prev_state;
  __builtin_memcpy(r->comm, ctx->next_comm, sizeof(r->comm));
  publish(r, seq);
  return 0;
}

static __always_inline int irqrec(unsigned char kind, __s32 pid, int arg) {
  __u32 seq;
  struct rec* r = reserve(&seq);
  if (!r) return 0;
  r->seq = 0;
  r->ts = bpf_ktime_get_ns();
  r->kind = kind;
  r->pid = pid;
  r->arg = arg;
  r->prio = 0;
  r->prev_state = 0;
  publish(r, seq);
  return 0;
}

SEC("tracepoint/irq/irq_handler_entry")
int on_irq_entry(struct tp_irq_entry* ctx) {
  return irqrec(REC_IRQ_ENTRY, (__s32)bpf_get_current_pid_tgid(), ctx->irq);
}

SEC("tracepoint/irq/irq_handler_exit")
int on_irq_exit(struct tp_irq_exit* ctx) {
  return irqrec(REC_IRQ_EXIT, (__s32)bpf_get_current_pid_tgid(),
                ctx->irq | (ctx->ret ? (int)0x80000000 : 0));
}

SEC("tracepoint/irq/softirq_entry")
int on_softirq_entry(struct tp_softirq* ctx) {
  return irqrec(REC_SOFTIRQ_ENTRY, (__s32)bpf_get_current_pid_tgid(), (int)ctx->vec);
}

SEC("tracepoint/irq/softirq_exit")
int on_softirq_exit(struct tp_softirq* ctx) {
  return irqrec(REC_SOFTIRQ_EXIT, (__s32)bpf_get_current_pid_tgid(), (int)ctx->vec);
}
