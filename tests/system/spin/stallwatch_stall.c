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
//   mode=devirq    a CPU stuck in a device interrupt handler: an IRQ of the module's own (an
//                  irq_desc with dummy_irq_chip and handle_simple_irq, requested as
//                  "stallwatch_stall") raised on `cpu` with generic_handle_irq() from a pinned
//                  hrtimer callback; its handler busy-waits ms, so the kernel's irq_handler_entry
//                  event fires and irq_handler_exit only at the end. With load_cpu=M the
//                  irqheavy load below also runs on CPU M, from load_lead_ms before the stall
//                  until it ends (one insmod: the module cannot be loaded twice at once)
//   mode=irqheavy  an hrtimer pinned to `cpu` firing every period_us; each callback raises the
//                  module's second IRQ ("stallwatch_load") whose handler burns burn_us, for ms:
//                  IRQ-heavy but tasks still run (the kernel's hrtimer hang protection keeps it
//                  from starving the CPU): NOT a stall. The burn runs in a real handler so the
//                  load is seen as irq_handler_entry/exit events (an IRQ rate), not only as time
//
// The start lines of the process-context modes (preempt, irqoff) also name the task that holds
// the CPU (task=comm:pid). Every loop ends by the monotonic clock: under TCG an mdelay(1) is not
// 1 ms of the guest's clock. The IRQs and timers are freed before insmod returns.
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/hrtimer.h>
#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/irqdesc.h>
#include <linux/irqflags.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/version.h>

static char *mode = "preempt";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "preempt | irqoff | hardirq | devirq | irqheavy");
static int target_cpu = -1;
module_param_named(cpu, target_cpu, int, 0444);
MODULE_PARM_DESC(cpu, "CPU for hardirq/devirq/irqheavy (default: the CPU insmod runs on)");
static unsigned int ms = 5000;
module_param(ms, uint, 0444);
MODULE_PARM_DESC(ms, "how long the stall (or the IRQ load) lasts, in milliseconds");
static unsigned int period_us = 50;
module_param(period_us, uint, 0444);
MODULE_PARM_DESC(period_us, "irqheavy: timer period in microseconds");
static unsigned int burn_us = 45;
module_param(burn_us, uint, 0444);
MODULE_PARM_DESC(burn_us, "irqheavy: busy time per timer callback in microseconds");
static int load_cpu = -1;
module_param(load_cpu, int, 0444);
MODULE_PARM_DESC(load_cpu, "devirq: also run the irqheavy load on this CPU (default: none)");
static unsigned int load_lead_ms = 2000;
module_param(load_lead_ms, uint, 0444);
MODULE_PARM_DESC(load_lead_ms, "devirq with load_cpu: the load starts this long before the stall");

// The stall's timer (hardirq, devirq) and the load's (irqheavy); each has its own IRQ (a stalled
// handler keeps its irq_desc IRQD_IRQ_INPROGRESS: handle_simple_irq would drop the load's).
static struct hrtimer timer;
static DECLARE_COMPLETION(timer_done);
static struct hrtimer load_timer;
static DECLARE_COMPLETION(load_done);
static bool load_armed;
static u64 load_end_ns;   // READ_ONCE/WRITE_ONCE: the load stops at its first callback after it
static unsigned int load_ms;   // for the start line: ms, or load_lead_ms + ms with devirq
static unsigned long fired;
static u64 burnt_ns;
static int stall_irq = -1;
static int load_irq = -1;
static int stall_irq_rc;
static int irq_cookie;

static void busy_until(u64 end_ns)
{
	while (ktime_get_ns() < end_ns)
		ndelay(500);
}

static noinline void stallwatch_preempt_spin(void)
{
	u64 end_ns;

	preempt_disable();
	pr_info("stallwatch_stall: start mode=preempt cpu=%d ms=%u task=%s:%d\n", smp_processor_id(),
		ms, current->comm, task_pid_nr(current));
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
	pr_info("stallwatch_stall: start mode=irqoff cpu=%d ms=%u task=%s:%d\n", smp_processor_id(),
		ms, current->comm, task_pid_nr(current));
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

// devirq: the handler of the module's IRQ "stallwatch_stall", raised once; does not return for ms.
static noinline irqreturn_t stallwatch_devirq_handler(int irq, void *dev_id)
{
	u64 end_ns;

	pr_info("stallwatch_stall: start mode=devirq cpu=%d ms=%u irq=%d in_hardirq=%d\n",
		smp_processor_id(), ms, irq, in_hardirq() ? 1 : 0);
	end_ns = ktime_get_ns() + (u64)ms * NSEC_PER_MSEC;
	busy_until(end_ns);
	pr_info("stallwatch_stall: end mode=devirq cpu=%d irq=%d\n", smp_processor_id(), irq);
	return IRQ_HANDLED;
}

// devirq: the pinned timer's callback raises the IRQ on this CPU, in hard-IRQ context.
static enum hrtimer_restart stallwatch_devirq_fn(struct hrtimer *t)
{
	stall_irq_rc = generic_handle_irq(stall_irq);
	if (stall_irq_rc)
		pr_warn("stallwatch_stall: generic_handle_irq(%d) = %d\n", stall_irq, stall_irq_rc);
	complete(&timer_done);
	return HRTIMER_NORESTART;
}

// irqheavy: the handler of "stallwatch_load" burns burn_us.
static irqreturn_t stallwatch_load_handler(int irq, void *dev_id)
{
	u64 now = ktime_get_ns();

	busy_until(now + (u64)burn_us * NSEC_PER_USEC);
	burnt_ns += ktime_get_ns() - now;
	return IRQ_HANDLED;
}

// irqheavy: raise "stallwatch_load" every period_us until load_end_ns.
static enum hrtimer_restart stallwatch_irqheavy_fn(struct hrtimer *t)
{
	u64 now = ktime_get_ns();

	if (fired == 0)
		pr_info("stallwatch_stall: start mode=irqheavy cpu=%d ms=%u period_us=%u burn_us=%u irq=%d\n",
			smp_processor_id(), load_ms, period_us, burn_us, load_irq);
	fired++;
	if (now >= READ_ONCE(load_end_ns)) {
		pr_info("stallwatch_stall: end mode=irqheavy cpu=%d fired=%lu burnt_ms=%llu irq=%d\n",
			smp_processor_id(), fired, burnt_ns / NSEC_PER_MSEC, load_irq);
		complete(&load_done);
		return HRTIMER_NORESTART;
	}
	generic_handle_irq(load_irq);
	hrtimer_forward_now(t, ns_to_ktime((u64)period_us * NSEC_PER_USEC));
	return HRTIMER_RESTART;
}

// A Linux IRQ number of the module's own, no hardware behind it: raised only by
// generic_handle_irq(), seen by irq_handler_entry/exit and /proc/interrupts like a device's.
static int dev_irq_request(const char *name, irq_handler_t handler)
{
	int irq = irq_alloc_desc(NUMA_NO_NODE);
	int ret;

	if (irq < 0)
		return irq;
	irq_set_chip_and_handler(irq, &dummy_irq_chip, handle_simple_irq);
	irq_clear_status_flags(irq, IRQ_NOREQUEST);
	// IRQF_NO_THREAD: the handler stays in hard-IRQ context even under threadirqs.
	ret = request_irq(irq, handler, IRQF_NO_THREAD, name, &irq_cookie);
	if (ret) {
		irq_free_desc(irq);
		return ret;
	}
	return irq;
}

static void dev_irq_release(int *irq)
{
	if (*irq < 0)
		return;
	free_irq(*irq, &irq_cookie);
	irq_free_desc(*irq);
	*irq = -1;
}

static void timer_setup_fn(struct hrtimer *t, enum hrtimer_restart (*fn)(struct hrtimer *))
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
	hrtimer_setup(t, fn, CLOCK_MONOTONIC, HRTIMER_MODE_REL_PINNED_HARD);
#else
	hrtimer_init(t, CLOCK_MONOTONIC, HRTIMER_MODE_REL_PINNED_HARD);
	t->function = fn;
#endif
}

// Runs on the target CPU (smp_call_function_single): a pinned timer stays on the CPU it is
// started on.
static void arm_on_this_cpu(void *t)
{
	hrtimer_start(t, ms_to_ktime(1), HRTIMER_MODE_REL_PINNED_HARD);
}

static int check_cpu(int cpu)
{
	return cpu >= 0 && cpu < nr_cpu_ids && cpu_online(cpu) ? 0 : -EINVAL;
}

// Arms t on cpu and waits until its callback completes done (limit_ms at most).
static int run_timer_on(struct hrtimer *t, struct completion *done, int cpu,
			enum hrtimer_restart (*fn)(struct hrtimer *), unsigned int limit_ms)
{
	int ret;

	timer_setup_fn(t, fn);
	ret = smp_call_function_single(cpu, arm_on_this_cpu, t, 1);
	if (ret)
		return ret;
	if (!wait_for_completion_timeout(done, msecs_to_jiffies(limit_ms))) {
		hrtimer_cancel(t);
		pr_warn("stallwatch_stall: timer on cpu=%d did not finish\n", cpu);
		return -ETIMEDOUT;
	}
	hrtimer_cancel(t);
	return 0;
}

// The irqheavy load on cpu until end_ns (U64_MAX: until load_stop()).
static int load_start(int cpu, u64 end_ns)
{
	int ret;

	if (burn_us >= period_us || check_cpu(cpu))
		return -EINVAL;
	load_irq = dev_irq_request("stallwatch_load", stallwatch_load_handler);
	if (load_irq < 0) {
		ret = load_irq;
		load_irq = -1;
		return ret;
	}
	WRITE_ONCE(load_end_ns, end_ns);
	timer_setup_fn(&load_timer, stallwatch_irqheavy_fn);
	ret = smp_call_function_single(cpu, arm_on_this_cpu, &load_timer, 1);
	if (ret)
		return ret;
	load_armed = true;
	return 0;
}

// Ends the load (now, or at its end_ns when stop_now is false) and waits for its end line.
static int load_stop(int cpu, bool stop_now, unsigned int limit_ms)
{
	int ret = 0;

	if (load_armed) {
		if (stop_now)
			WRITE_ONCE(load_end_ns, 0);
		if (!wait_for_completion_timeout(&load_done, msecs_to_jiffies(limit_ms))) {
			pr_warn("stallwatch_stall: load timer on cpu=%d did not finish\n", cpu);
			ret = -ETIMEDOUT;
		}
		hrtimer_cancel(&load_timer);
		load_armed = false;
	}
	dev_irq_release(&load_irq);
	return ret;
}

static int run_irqheavy(int target)
{
	int ret;
	int ret2;

	load_ms = ms;
	ret = load_start(target, ktime_get_ns() + (u64)ms * NSEC_PER_MSEC);
	ret2 = load_stop(target, ret != 0, ms + 60000);

	return ret ? ret : ret2;
}

static int run_devirq(int target)
{
	int ret, ret2 = 0;

	if (load_cpu >= 0 && (load_cpu == target || check_cpu(load_cpu)))
		return -EINVAL;
	stall_irq = dev_irq_request("stallwatch_stall", stallwatch_devirq_handler);
	if (stall_irq < 0) {
		ret = stall_irq;
		stall_irq = -1;
		return ret;
	}
	ret = 0;
	if (load_cpu >= 0) {
		load_ms = load_lead_ms + ms;
		ret = load_start(load_cpu, U64_MAX);
		if (!ret)
			msleep(load_lead_ms);
	}
	if (!ret)
		ret = run_timer_on(&timer, &timer_done, target, stallwatch_devirq_fn, ms + 60000);
	if (!ret)
		ret = stall_irq_rc;
	if (load_cpu >= 0)
		ret2 = load_stop(load_cpu, true, 60000);
	dev_irq_release(&stall_irq);
	return ret ? ret : ret2;
}

static int __init stallwatch_stall_init(void)
{
	int target = target_cpu >= 0 ? target_cpu : raw_smp_processor_id();

	if (strcmp(mode, "preempt") == 0) {
		stallwatch_preempt_spin();
		return 0;
	}
	if (strcmp(mode, "irqoff") == 0) {
		stallwatch_irqoff_spin();
		return 0;
	}
	if (check_cpu(target))
		return -EINVAL;
	if (strcmp(mode, "hardirq") == 0)
		return run_timer_on(&timer, &timer_done, target, stallwatch_hardirq_fn, ms + 60000);
	if (strcmp(mode, "devirq") == 0)
		return run_devirq(target);
	if (strcmp(mode, "irqheavy") == 0)
		return run_irqheavy(target);
	pr_err("stallwatch_stall: unknown mode=%s\n", mode);
	return -EINVAL;
}

// Nothing left to free: every mode releases its timers and IRQs before insmod returns.
static void __exit stallwatch_stall_exit(void)
{
}

module_init(stallwatch_stall_init);
module_exit(stallwatch_stall_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("stallwatch system test: preempt-off, irq-off, hard-IRQ, device-IRQ and IRQ-heavy stalls");
