# Scenario 7 (escalation via the hardware watchdog). Boot 1: a SCHED_FIFO 99 hog holds CPU 1 far
# longer than escalation.after + the device timeout; the daemon stops feeding the i6300esb and
# the device resets the guest (QEMU runs with -watchdog-action reset -no-reboot, so it exits and
# records the WATCHDOG event). Boot 2 (same state disk): the daemon reports how boot 1 ended.
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
  rt_hog 1 99 40000
  wait "$RT_HOG_PID"
  fail "the guest was not reset by the watchdog during a 40 s stall"
  exit 1
fi
wait_journal 20 STALLWATCH_EVENT=previous-boot
mark done ACTIVE="$(systemctl is-active stallwatch.service)"
