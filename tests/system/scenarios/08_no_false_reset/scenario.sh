# Scenario 8 (no false reset): with /dev/watchdog0 armed, `systemctl stop` disarms it (3 x the
# timeout pass, no reset, no "watchdog did not stop!"); after `kill -9` systemd restarts the
# daemon, which re-arms and feeds in time (3 x the timeout pass, no reset).
wait_active stallwatch.service 40 || exit 1
wd=/sys/class/watchdog/watchdog0
show() { systemctl show -p "$1" --value stallwatch.service; }
sleep 3
timeout_s=5   # watchdog.timeout in stallwatch.toml; the device's own value once armed
watchdog_armed && timeout_s=$(cat $wd/timeout)
mark armed STATE="$(cat $wd/state 2>/dev/null)" TIMEOUT="$timeout_s" PID="$(show MainPID)"
if ! watchdog_armed; then
  fail "stallwatchd did not arm /dev/watchdog0 (watchdog.device)"
  exit 1
fi
systemctl stop stallwatch.service
mark stopped STATE="$(cat $wd/state 2>/dev/null)" ACTIVE="$(systemctl is-active stallwatch.service)"
sleep $((3 * timeout_s))
mark stop-survived STATE="$(cat $wd/state 2>/dev/null)" \
  NOT_STOPPED="$(dmesg | grep -c 'watchdog did not stop')"
systemctl start stallwatch.service
wait_active stallwatch.service 30 || exit 1
sleep 2
pid=$(show MainPID)
mark restarted STATE="$(cat $wd/state 2>/dev/null)" PID="$pid" NRESTARTS="$(show NRestarts)"
kill -9 "$pid"
mark killed PID="$pid"
sleep $((3 * timeout_s))
mark kill-survived STATE="$(cat $wd/state 2>/dev/null)" ACTIVE="$(systemctl is-active stallwatch.service)" \
  PID="$(show MainPID)" NRESTARTS="$(show NRestarts)"
