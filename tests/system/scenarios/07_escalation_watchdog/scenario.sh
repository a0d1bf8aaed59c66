# SPDX-License-Identifier: GPL-2.0-or-later
# Scenario 7 (escalation via the hardware watchdog). Boot 1: a 12 s `stallwatchctl drill` on CPU 1
# (longer than escalation.after + the device timeout) leaves the guest running; then a kernel
# spin (preemption off, stallwatch_stall.ko) holds CPU 1 far
# longer than escalation.after + the device timeout; the daemon stops feeding the i6300esb and
# the device resets the guest (QEMU runs with -watchdog-action reset -no-reboot, so it exits and
# records the WATCHDOG event). Boot 2 (same state disk): the daemon reports how boot 1 ended;
# then escalation.action = "systemd" with the packaged escalation-reboot.conf drop-in: a stall
# makes systemd reboot the guest (QEMU SHUTDOWN guest-reset; boot 2 is in "reboot_boots").
wait_active stallwatch.service 40 || exit 1
boot=$(boot_number)
wd=/sys/class/watchdog/watchdog0
mark watchdog-state BOOT="$boot" STATE="$(cat $wd/state 2>/dev/null)" \
  IDENTITY="$(cat $wd/identity 2>/dev/null)" TIMEOUT="$(cat $wd/timeout 2>/dev/null)"
if [ "$boot" = 1 ]; then
  sleep 3
  if ! watchdog_armed; then
    fail "stallwatchd did not arm /dev/watchdog0 (escalation.action = watchdog-device)"
    exit 1
  fi
  # The operator's audit of this guest: kernel detector at watchdog_thresh 2 (reports at 4 s), the
  # i6300esb owned by stallwatchd, no kdump. Its JSON (newlines dropped, still valid JSON) goes
  # to the journal as one structured entry for check.py.
  echo 2 > /proc/sys/kernel/watchdog_thresh
  t0=$(date +%s%N)
  stallwatchctl doctor --json > /run/doctor.json
  doctor_rc=$?
  doctor_ms=$((($(date +%s%N) - t0) / 1000000))
  doctor_json=$(tr -d '\n' < /run/doctor.json)
  stallwatchctl doctor || true   # the human form, for the console log
  mark doctor RC="$doctor_rc" ELAPSED_MS="$doctor_ms" JSON="$doctor_json"
  # Issue 19: a drill longer than escalation.after (4 s) + the device's timeout (5 s) + 3 s must
  # leave the guest running: the check knows the drill before its escalation is due, so the
  # feeding never stops (it did: the device reset the guest during a drill).
  mark drill-start CPU=1 SECONDS=12
  stallwatchctl drill --cpu 1 --duration 12 > /run/drill.out 2>&1
  drill_rc=$?
  sleep 2
  mark drill-end RC="$drill_rc" OUT="$(tr '\n' ' ' < /run/drill.out | cut -c1-700)" \
    WATCHDOG_STATE="$(cat $wd/state 2>/dev/null)"
  # Issue 19: a real kernel spin (preemption off on CPU 1, 40 s) past escalation.after: the device
  # must reset the guest after `after` and within after + timeout + 1 s. A ticker on CPU 0 writes
  # a KERN_CRIT line to /dev/kmsg every 200 ms; printk writes it to the serial console at once
  # (loglevel=4), so the last tick on the console dates the reset to within a tick. (Its copy on
  # disk is only a lower bound: journald's writes can wait behind the spinning CPU.)
  ( taskset -p -c 0 $BASHPID >/dev/null
    while :; do echo "<2>stallwatch-test: tick" > /dev/kmsg; sleep 0.2; done ) &
  taskset -c 1 insmod "/lib/modules/$(uname -r)/extra/stallwatch_stall.ko" mode=preempt ms=40000 &
  spin=$!
  mark spin-start CPU=1 PID="$spin" MS=40000
  wait "$spin"
  fail "the guest was not reset by the watchdog during a 40 s kernel spin"
  exit 1
fi
wait_journal 20 STALLWATCH_EVENT=previous-boot
mark done ACTIVE="$(systemctl is-active stallwatch.service)"
show() { systemctl show -p "$1" --value stallwatch.service; }
# Boot 2's configuration: escalation.action = "systemd" after 3 s (threshold 2 s).
systemd_escalation_config() {
  cat > /etc/stallwatch/stallwatch.toml <<'TOML'
[heartbeat]
interval = "250ms"
[checker]
interval = "100ms"
threshold = "2s"
[escalation]
action = "systemd"
after = "3s"
TOML
}

# Boot 2, part 1 (issue 19): escalation.action = "systemd" with the shipped unit (restart, no
# reboot) and journald stopped (SIGSTOP, as when it waits behind the stalled CPU): an RT hog past
# escalation.after must still get the unit restarted by systemd. The escalation does not wait for
# journald (the daemon's thread sw-escalate sends WATCHDOG=trigger at once). The clean stop of
# the boot's daemon disarms the i6300esb first.
systemd_escalation_config
systemctl restart stallwatch.service
wait_active stallwatch.service 40 || exit 1
sleep 2
pid0=$(show MainPID)
n0=$(show NRestarts)
jpid=$(pidof systemd-journald)
mark journald-stopped-start PID="$pid0" NRESTARTS="$n0" JOURNALD="$jpid"
kill -STOP "$jpid"
t0=$(date +%s%N)
chrt -f 99 taskset -c 1 /usr/lib/stallwatch-test/rt-hog 8000 &
hog=$!
restarted_ms=-1
for _ in $(seq 150); do
  p=$(show MainPID)
  if [ "$p" != "$pid0" ] && [ "$p" != 0 ]; then
    restarted_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    break
  fi
  sleep 0.1
done
wait "$hog"
kill -CONT "$jpid"
wait_active stallwatch.service 20
# When the daemon took the escalation: the reset reason's own time (CLOCK_REALTIME, as t0).
reason_ns=$(sed -n 's/.*"time_realtime_ns": *\([0-9]*\).*/\1/p' /var/lib/stallwatch/reset-reason.json | head -1)
mark journald-stopped-end PID="$(show MainPID)" NRESTARTS="$(show NRestarts)" \
  ACTIVE="$(systemctl is-active stallwatch.service)" RESTARTED_MS="$restarted_ms" \
  ESCALATED_MS="$(( (${reason_ns:-0} - t0) / 1000000 ))" RESULT="$(show Result)"
sleep 2

# Boot 2, part 2: escalation.action = "systemd" with the packaged reboot drop-in, as
# stallwatch.toml(5) tells an operator. A stall past escalation.after must make systemd reboot the
# guest cleanly (QEMU -no-reboot then exits with SHUTDOWN reason guest-reset), not merely restart
# stallwatchd. The clean stop of the old daemon disarms the i6300esb first.
systemd_escalation_config
install -D -m 0644 /usr/share/doc/stallwatch/examples/escalation-reboot.conf \
  /etc/systemd/system/stallwatch.service.d/escalation-reboot.conf
systemctl daemon-reload && systemctl restart stallwatch.service
wait_active stallwatch.service 40 || exit 1
mark systemd-escalation FAILURE_ACTION="$(show FailureAction)" WATCHDOG_SIGNAL="$(show WatchdogSignal)" \
  PREVENT="$(show RestartPreventExitStatus)" PID="$(stallwatch_pid)" \
  WATCHDOG_STATE="$(cat /sys/class/watchdog/watchdog0/state 2>/dev/null)"
# systemd stops this script when it reboots; only a guest still up after the hog is a failure.
trap 'exit 0' TERM
rt_hog 1 99 30000
wait "$RT_HOG_PID"
sleep 10
fail "escalation.action = systemd with escalation-reboot.conf did not reboot the guest (stallwatch: $(systemctl is-active stallwatch.service), NRestarts $(show NRestarts))"
exit 1
