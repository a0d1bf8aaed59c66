// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatch_spin: the system suite's oracle stall. Loading it disables preemption on the CPU
// that runs insmod and busy-waits spin_ms milliseconds in mdelay(1) steps, which is exactly what
// the kernel's soft-lockup detector reports ("BUG: soft lockup - CPU#N stuck"). The module loads
// successfully afterwards, so rmmod cleans up between runs.
// The spin ends by the monotonic clock, not by counting mdelay(1) calls: under TCG an mdelay(1)
// is not 1 ms of the guest's own clock (the delay calibration depends on the host's load at
// boot); 10000 x mdelay(1) measured 7.2 s in one run and 15.7 s in another.
#include <linux/delay.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/preempt.h>
#include <linux/smp.h>

static unsigned int spin_ms = 6000;
module_param(spin_ms, uint, 0444);
MODULE_PARM_DESC(spin_ms, "milliseconds to spin with preemption disabled");

static noinline void stallwatch_spin(unsigned int ms)
{
	u64 end_ns;

	preempt_disable();
	pr_info("stallwatch_spin: start cpu=%d spin_ms=%u\n", smp_processor_id(), ms);
	end_ns = ktime_get_ns() + (u64)ms * NSEC_PER_MSEC;
	while (ktime_get_ns() < end_ns)
		mdelay(1);
	pr_info("stallwatch_spin: end cpu=%d\n", smp_processor_id());
	preempt_enable();
}

static int __init stallwatch_spin_init(void)
{
	stallwatch_spin(spin_ms);
	return 0;
}

static void __exit stallwatch_spin_exit(void)
{
}

module_init(stallwatch_spin_init);
module_exit(stallwatch_spin_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("stallwatch system test: spin with preemption disabled");
