# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for scenario scripts running inside the guest (sourced by run-scenario).
# Everything a checker needs is written to the journal as structured fields (TEST_MARK=...), so
# the host asserts on fields, never on console prose. Console output is for humans.

boot_number() { sed -n 's/.*stallwatch_test.boot=\([0-9]*\).*/\1/p' /proc/cmdline; }

# mark NAME [KEY=VALUE...]: a structured journal entry TEST_MARK=NAME with TEST_KEY=VALUE fields.
mark() {
  local name=$1; shift
  {
    echo "MESSAGE=test mark: $name $*"
    echo "SYSLOG_IDENTIFIER=stallwatch-test"
    echo "TEST_MARK=$name"
    local kv
    for kv in "$@"; do echo "TEST_${kv%%=*}=${kv#*=}"; done
  } | logger --journald
  echo "[test] mark $name $*"
}

# fail MESSAGE: records a guest-side failure (the checker reports every TEST_MARK=fail).
fail() { mark fail "REASON=$*"; echo "[test] FAIL: $*"; }

# wait_active UNIT SECONDS: waits until UNIT is active; returns 1 (and marks a failure) on timeout.
wait_active() {
  local unit=$1 limit=$2
  local deadline=$((SECONDS + limit))
  local state
  while ((SECONDS < deadline)); do
    state=$(systemctl is-active "$unit")
    [ "$state" = active ] && return 0
    [ "$state" = failed ] && break   # start failed (e.g. a config error): no need to wait
    sleep 0.2
  done
  fail "$unit not active after ${limit}s: $(systemctl is-active "$unit")"
  return 1
}

# wait_journal SECONDS MATCH...: waits until journalctl MATCH... (e.g. STALLWATCH_EVENT=recovered)
# finds an entry in this boot. Returns 1 on timeout (no failure mark: the checker decides).
wait_journal() {
  local limit=$1; shift
  local deadline=$((SECONDS + limit))
  while ((SECONDS < deadline)); do
    [ -n "$(journalctl -b -q -o cat "$@" 2>/dev/null | head -1)" ] && return 0
    sleep 0.5
  done
  echo "[test] no journal entry for $* after ${limit}s"
  return 1
}

# stallwatch_pid: MainPID of the service (0 when not running).
stallwatch_pid() { systemctl show -p MainPID --value stallwatch.service; }

# spin CPU MS: loads the test module on CPU (preemption off, mdelay loop for MS), then unloads it.
spin() {
  local cpu=$1 ms=$2
  mark spin-start CPU="$cpu" MS="$ms"
  taskset -c "$cpu" insmod "/lib/modules/$(uname -r)/extra/stallwatch_spin.ko" spin_ms="$ms"
  mark spin-end CPU="$cpu"
  rmmod stallwatch_spin
}

# rt_hog CPU PRIO MS: a SCHED_FIFO PRIO busy loop on CPU for MS ms, in the background; prints
# sets RT_HOG_PID (the same process all along: chrt and taskset exec). Wait for it with `wait PID`.
rt_hog() {
  local cpu=$1 prio=$2 ms=$3
  chrt -f "$prio" taskset -c "$cpu" /usr/lib/stallwatch-test/rt-hog "$ms" &
  RT_HOG_PID=$!
  mark rt-hog-start CPU="$cpu" PRIO="$prio" MS="$ms" PID="$RT_HOG_PID"
}

# watchdog_armed: true when the daemon holds /dev/watchdog0 open and running (sysfs state).
watchdog_armed() { [ "$(cat /sys/class/watchdog/watchdog0/state 2>/dev/null)" = active ]; }

# status_json: the daemon's status file on one line (for a TEST_STATUS_JSON field), made fresh
# first (stallwatchctl status asks the daemon to rewrite it): the check compares two of them to
# prove the heartbeats advanced and the checks ran.
status_json() {
  stallwatchctl status >/dev/null 2>&1
  tr -d '\n' < /run/stallwatch/status.json 2>/dev/null
}
