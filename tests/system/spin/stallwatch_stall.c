// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatch_stall: the system suite's stalls of every kind the daemon must report, and one it
// must not. Loading the module runs one of them and returns when it is over (insmod blocks), so
// rmmod cleans up between runs. Every run prints "stallwatch_stall: start mode=M cpu=N ms=T" from
// the stalled context itself, so the kernel's timestamp of that line is the stall's start on the
// clock of the daemon's STALLWATCH_DETECTED_MONO_US, then "stallwatch_stall: end ...".
//
//   mode=preempt   preemption off, mdelay(1) loop for ms on the CPU insmod runs on
//                  (taskset -c N insmod ...): a kernel soft lockup
//   mode=irqoff    local interrupts off, mdelay(1) loop for ms on the CPU insmod runs on: a hard
//                  lockup (the local timer interrupt stops too)
//   mode=hardirq   an hrtimer pinned to `cpu` whose callback busy-waits ms inside hard-IRQ
//                  context: a CPU stuck in an interrupt handler that does not return
//   mode=irqheavy  an hrtimer pinned to `cpu` firing every period_us and burning burn_us of each
//                  period in hard-IRQ context, for ms: IRQ-heavy but tasks still run (the kernel's
//                  hrtimer hang protection keeps it from starving the CPU): NOT a stall
//
// Every loop ends by the monotonic clock: under TCG an mdelay(1) is not 1 ms of the guest's clock.
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/hrtimer.h>
#include <linux/irqflags.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/preempt.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/version.h>

static char *mode = "preempt";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "preempt | irqoff | hardirq | irqheavy");
static int target_cpu = -1;
module_param_named(cpu, target_cpu, int, 0444);
MODULE_PARM_DESC(cpu, "CPU for hardirq/irqheavy (default: the CPU insmod runs on)");
static unsigned int ms = 5000;
module_param(ms, uint, 0444);
MODULE_PARM_DESC(ms, "how long the stall (or the IRQ load) lasts, in milliseconds");
static unsigned int period_us = 50;
module_param(period_us, uint, 0444);
MODULE_PARM_DESC(period_us, "irqheavy: timer period in microseconds");
static unsigned int burn_us = 45;
module_param(burn_us, uint, 0444);
MODULE_PARM_DESC(burn_us, "irqheavy: busy time per timer callback in microseconds");

static struct hrtimer timer;
static DECLARE_COMPLETION(timer_done);
static u64 run_end_ns;
static unsigned long fired;
static u64 burnt_ns;

static void busy_until(u64 end_ns)
{
	while (ktime_get_ns() < end_ns)
		ndelay(500);
}

static noinline void stallwatch_preempt_spin(void)
{
	u64 end_ns;

	preempt_disable();
	pr_info("stallwatch_stall: start mode=preempt cpu=%d ms=%u\n", smp_processor_id(), ms);
	end_ns = ktime_get_ns() + (u64)ms * NSEC_PER_MSEC;
	while (ktime_get_ns() < end_ns)
		mdelay(1);
	pr_info("stallwatch_stall: end mode=preempt cpu=%d\n", smp_processor_id());
	preempt_enable();
}

static noinline void stallwatch_irqoff_spin(void)
{
	unsigned long flags;
	u64 end_ns;

	local_irq_save(flags);
	pr_info("stallwatch_stall: start mode=irqoff cpu=%d ms=%u\n", smp_processor_id(), ms);
	end_ns = ktime_get_ns() + (u64)ms * NSEC_PER_MSEC;
	while (ktime_get_ns() < end_ns)
		mdelay(1);
	local_irq_restore(flags);
	pr_info("stallwatch_stall: end mode=irqoff cpu=%d\n", smp_processor_id());
}

// hardirq: one callback that does not return for ms.
static noinline enum hrtimer_restart stallwatch_hardirq_fn(struct hrtimer *t)
{
	u64 end_ns;

	pr_info("stallwatch_stall: start mode=hardirq cpu=%d ms=%u in_hardirq=%d\n",
		smp_processor_id(), ms, in_hardirq() ? 1 : 0);
	end_ns = ktime_get_ns() + (u64)ms * NSEC_PER_MSEC;
	busy_until(end_ns);
	pr_info("stallwatch_stall: end mode=hardirq cpu=%d\n", smp_processor_id());
	complete(&timer_done);
	return HRTIMER_NORESTART;
}

// irqheavy: burn burn_us of every period_us until run_end_ns.
static enum hrtimer_restart stallwatch_irqheavy_fn(struct hrtimer *t)
{
	u64 now = ktime_get_ns();

	if (fired == 0)
		pr_info("stallwatch_stall: start mode=irqheavy cpu=%d ms=%u period_us=%u burn_us=%u\n",
			smp_processor_id(), ms, period_us, burn_us);
	fired++;
	if (now >= run_end_ns) {
		pr_info("stallwatch_stall: end mode=irqheavy cpu=%d fired=%lu burnt_ms=%llu\n",
			smp_processor_id(), fired, burnt_ns / NSEC_PER_MSEC);
		complete(&timer_done);
		return HRTIMER_NORESTART;
	}
	busy_until(now + (u64)burn_us * NSEC_PER_USEC);
	burnt_ns += ktime_get_ns() - now;
	hrtimer_forward_now(t, ns_to_ktime((u64)period_us * NSEC_PER_USEC));
	return HRTIMER_RESTART;
}

static void timer_setup_fn(enum hrtimer_restart (*fn)(struct hrtimer *))
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
	hrtimer_setup(&timer, fn, CLOCK_MONOTONIC, HRTIMER_MODE_REL_PINNED_HARD);
#else
	hrtimer_init(&timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_PINNED_HARD);
	timer.function = fn;
#endif
}

// Runs on the target CPU (smp_call_function_single): a pinned timer stays on the CPU it is
// started on.
static void arm_on_this_cpu(void *unused)
{
	hrtimer_start(&timer, ms_to_ktime(1), HRTIMER_MODE_REL_PINNED_HARD);
}

static int run_timer_mode(enum hrtimer_restart (*fn)(struct hrtimer *))
{
	int target = target_cpu >= 0 ? target_cpu : raw_smp_processor_id();
	int ret;

	if (target >= nr_cpu_ids || !cpu_online(target))
		return -EINVAL;
	timer_setup_fn(fn);
	run_end_ns = ktime_get_ns() + (u64)ms * NSEC_PER_MSEC;
	ret = smp_call_function_single(target, arm_on_this_cpu, NULL, 1);
	if (ret)
		return ret;
	if (!wait_for_completion_timeout(&timer_done, msecs_to_jiffies(ms + 60000))) {
		hrtimer_cancel(&timer);
		pr_warn("stallwatch_stall: timer on cpu=%d did not finish\n", target);
		return -ETIMEDOUT;
	}
	hrtimer_cancel(&timer);
	return 0;
}

static int __init stallwatch_stall_init(void)
{
	if (strcmp(mode, "preempt") == 0) {
		stallwatch_preempt_spin();
		return 0;
	}
	if (strcmp(mode, "irqoff") == 0) {
		stallwatch_irqoff_spin();
		return 0;
	}
	if (strcmp(mode, "hardirq") == 0)
		return run_timer_mode(stallwatch_hardirq_fn);
	if (strcmp(mode, "irqheavy") == 0) {
		if (burn_us >= period_us)
			return -EINVAL;
		return run_timer_mode(stallwatch_irqheavy_fn);
	}
	pr_err("stallwatch_stall: unknown mode=%s\n", mode);
	return -EINVAL;
}

static void __exit stallwatch_stall_exit(void)
{
}

module_init(stallwatch_stall_init);
module_exit(stallwatch_stall_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("stallwatch system test: preempt-off, irq-off, hard-IRQ and IRQ-heavy stalls");
