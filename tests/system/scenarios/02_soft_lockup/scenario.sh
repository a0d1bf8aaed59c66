# SPDX-License-Identifier: GPL-2.0-or-later
# Scenario 2 (kernel soft lockup, the oracle): the test module disables preemption and spins on
# CPU 1 while the kernel's own soft-lockup detector watches too. 6 x threshold rather than 3 x:
# the NMI backtrace the daemon triggers (sysrq-l) touches the stuck CPU's soft-lockup watchdog
# (show_regs -> touch_nmi_watchdog), so the kernel reports only 2 x watchdog_thresh = 4 s after
# the backtrace, 7-8 s into the spin, not after the spin's start; 6 s was measured to be too
# short for that, and 10 s left the daemon's next 2 s "ongoing" update (the one that attaches the
# kernel's line to the report) racing the spin's end by 70 ms.
wait_active stallwatch.service 40 || exit 1
echo 2 > /proc/sys/kernel/watchdog_thresh
sleep 3   # every heartbeat has stamped a few times
taskset -c 1 insmod "/lib/modules/$(uname -r)/extra/stallwatch_spin.ko" spin_ms=12000 &
pid=$!
mark spin-start CPU=1 PID="$pid" MS=12000
wait "$pid"
mark spin-end CPU=1 STATUS=$?
rmmod stallwatch_spin
wait_journal 10 STALLWATCH_EVENT=recovered STALLWATCH_CPU=1
sleep 2
mark done ACTIVE="$(systemctl is-active stallwatch.service)"
