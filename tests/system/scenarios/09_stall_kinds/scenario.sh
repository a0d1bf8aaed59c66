# SPDX-License-Identifier: GPL-2.0-or-later
# Scenario 9 (issue 9: no single point of failure), one boot, everything in sequence:
#  1. an IRQ-heavy CPU 1 (hrtimer every 50 us burning 45 us in hard IRQ, 8 s) whose heartbeat keeps
#     running: no stall, `stallwatchctl status` shows its lateness;
#  2. each stall kind - preemption off, interrupts off, a hard-IRQ handler that does not return,
#     a SCHED_FIFO 99 hog - for 5 s on CPU 1, then on CPU 0. Before each one every thread of
#     stallwatchd that is not a heartbeat or a relay (sw-hb/N, sw-relay/N) is moved to the CPU
#     about to stall and runs
#     there (its timers armed there), then let free again: the stall starts where they last ran,
#     as the issue puts it, so a design that needs its checker, its timer or its report worker
#     elsewhere fails;
#  3. journald frozen (SIGSTOP) for 15 s while the daemon logs (SIGHUP flood): systemd's
#     WatchdogSec must not fire, the pings go on (WatchdogTimestamp sampled), same MainPID.
# Between 1 and 2, issue 21's flight recorder (each report's `timeline`, docs/timeline.md):
#  1b. (a) preemption off on CPU 1 for threshold + 200 ms (2.2 s) by an insmod started from a
#      short-lived shell: the timeline names it (comm:pid, from the module's start line) as the
#      task switched in before the silence, though it is gone soon after;
#      (b)+(c) CPU 1 stuck 3 s in the handler of a device IRQ of the test module's own
#      (mode=devirq: irq_handler_entry without an exit) while CPU 0 takes that module's IRQ load
#      (load_cpu=0, from 2.5 s before the stall: an IRQ every 500 us burning 150 us, ~1400/s under
#      TCG), which the report must show as CPU 0's irq_per_s.
wait_active stallwatch.service 40 || exit 1
MOD="/lib/modules/$(uname -r)/extra/stallwatch_stall.ko"
show() { systemctl show -p "$1" --value stallwatch.service; }
sleep 3   # every heartbeat has stamped a few times

# pin_daemon CPUS: every non-heartbeat thread of stallwatchd to CPUS; prints the names pinned.
# The relays (sw-relay/N) are left alone too: like the heartbeats they are one per CPU, pinned to
# it by design, and the check wakes and moves the helpers through the checking CPU's relay; a
# relay moved away from outside is the displaced case (host test test_moved_heartbeat.py).
pin_daemon() {
  local cpus=$1 pid t comm names=""
  pid=$(stallwatch_pid)
  for t in /proc/"$pid"/task/*; do
    comm=$(cat "$t/comm" 2>/dev/null) || continue
    case $comm in sw-hb/* | sw-relay/*) continue ;; esac
    taskset -p -c "$cpus" "${t##*/}" >/dev/null 2>&1 && names+="${comm}[${t##*/}],"
  done
  echo "${names%,}"
}

recovered_count() {
  journalctl -b -q -o json --output-fields=STALLWATCH_CPU STALLWATCH_EVENT=recovered \
    STALLWATCH_CPU="$1" 2>/dev/null | wc -l
}

# wait_recovered CPU BEFORE: until CPU has more than BEFORE recovered events (15 s at most).
wait_recovered() {
  local deadline=$((SECONDS + 15))
  while ((SECONDS < deadline)); do
    (( $(recovered_count "$1") > $2 )) && return 0
    sleep 0.5
  done
  echo "[test] no new recovered event for CPU $1"
  return 1
}

ctl_status() { stallwatchctl status 2>&1 | tr '\n' '|'; }

# ---- 1. IRQ-heavy CPU 1: not a stall ------------------------------------------------------------
threads=$(pin_daemon 1)
mark irqheavy-before CPU=1 PINNED="$threads" STATUS_JSON="$(status_json)" CTL="$(ctl_status)"
taskset -c 0 insmod "$MOD" mode=irqheavy cpu=1 ms=8000 period_us=50 burn_us=45 &
pid=$!
sleep 3
mark irqheavy-during1 CPU=1 STATUS_JSON="$(status_json)"
sleep 2.5
mark irqheavy-during2 CPU=1 STATUS_JSON="$(status_json)" CTL="$(ctl_status)"
wait "$pid"
mark irqheavy-end CPU=1 STATUS=$?
rmmod stallwatch_stall
sleep 2

# ---- 1b. issue 21: what the flight recorder must show ------------------------------------------
# (a) 2.2 s = the threshold (2 s) + 200 ms: reported only just before it ends. The shell and its
# insmod are gone once the spin is over; the module's start line gives insmod's pid (task=).
pin_daemon 0-1 >/dev/null   # step 1 left the daemon's threads caged on CPU 1
before=$(recovered_count 1)
mark timeline-preempt-start CPU=1 MS=2200
sh -c 'taskset -c 1 insmod "$1" mode=preempt ms=2200' sh "$MOD" &
pid=$!
wait "$pid"
st=$?
rmmod stallwatch_stall
mark timeline-preempt-end CPU=1 STATUS=$st SHELL_PID="$pid"
wait_recovered 1 "$before"
mark timeline-preempt-recovered CPU=1 RECOVERED=$?
sleep 1

# (b) + (c): one insmod (the module cannot be loaded twice at once) runs both: the IRQ load on
# CPU 0 first, the stuck handler on CPU 1 2.5 s later, and ends the load with the stall.
before=$(recovered_count 1)
mark timeline-devirq-start CPU=1 LOAD_CPU=0 MS=3000
taskset -c 0 insmod "$MOD" mode=devirq cpu=1 ms=3000 load_cpu=0 load_lead_ms=2500 \
  period_us=500 burn_us=150 &
pid=$!
wait "$pid"
st=$?
rmmod stallwatch_stall
mark timeline-devirq-end CPU=1 STATUS=$st PID="$pid"
wait_recovered 1 "$before"
mark timeline-devirq-recovered CPU=1 RECOVERED=$?
sleep 1   # step 2 pins and waits 1 s more before its first stall

# ---- 2. every stall kind, on CPU 1 then on CPU 0 ------------------------------------------------
for cpu in 1 0; do
  other=$((1 - cpu))
  for kind in preempt irqoff hardirq rt-hog; do
    before=$(recovered_count "$cpu")
    threads=$(pin_daemon "$cpu")
    sleep 1   # the pinned threads have run (and re-armed their timers) on $cpu
    pin_daemon 0-1 >/dev/null   # where they last ran, not a cage: the scheduler may move them
    mark stall-start KIND="$kind" CPU="$cpu" PINNED="$threads"
    case $kind in
      rt-hog)
        rt_hog "$cpu" 99 5000
        pid=$RT_HOG_PID ;;
      hardirq)
        taskset -c "$other" insmod "$MOD" mode=hardirq cpu="$cpu" ms=5000 &
        pid=$! ;;
      *)
        taskset -c "$cpu" insmod "$MOD" mode="$kind" ms=5000 &
        pid=$! ;;
    esac
    wait "$pid"
    st=$?
    [ "$kind" = rt-hog ] || rmmod stallwatch_stall
    mark stall-end KIND="$kind" CPU="$cpu" STATUS=$st PID="$pid"
    wait_recovered "$cpu" "$before"
    mark stall-recovered KIND="$kind" CPU="$cpu" RECOVERED=$?
    sleep 2
  done
done
pin_daemon 0-1 >/dev/null

# ---- 3. journald frozen while the daemon logs ---------------------------------------------------
conf=/etc/stallwatch/stallwatch.toml
cp "$conf" /run/sw-good.toml
{ cat /run/sw-good.toml; printf '\n[checker]\nno_such_key = 1\n'; } > /run/sw-bad.toml
pid0=$(stallwatch_pid)
nr0=$(show NRestarts)
jpid=$(systemctl show -p MainPID --value systemd-journald.service)
mark journald-freeze PID="$pid0" NRESTARTS="$nr0" JOURNALD="$jpid" \
  WATCHDOG_USEC="$(show WatchdogUSec)"
kill -STOP "$jpid"
# From here until SIGCONT nothing may log through journald (mark would block): values are kept in
# shell variables and marked afterwards.
( end=$((SECONDS + 15)); n=0
  while ((SECONDS < end)); do
    if ((n % 2)); then cp /run/sw-bad.toml "$conf"; else cp /run/sw-good.toml "$conf"; fi
    kill -HUP "$pid0" 2>/dev/null
    n=$((n + 1))
    sleep 0.05
  done
  cp /run/sw-good.toml "$conf" ) &
flood=$!
# Fill journald's socket the way a busy system would, so writers really block: one process
# sending native datagrams until the socket's queue (net.unix.max_dgram_qlen, 512 under systemd)
# is full, then keeping it full. Its send buffer is raised as libsystemd does for its own
# journal socket; with the default one a single sender stops at ~70 queued messages.
python3 - >/dev/null 2>&1 <<'PY' &
import socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 32, 8 << 20)   # SO_SNDBUFFORCE (root)
s.settimeout(1.0)
n, end = 0, time.monotonic() + 30
while time.monotonic() < end:
    try:
        s.sendto(b"MESSAGE=stallwatch-test filler %d\nSYSLOG_IDENTIFIER=stallwatch-test\n" % n,
                 "/run/systemd/journal/socket")
        n += 1
    except socket.timeout:
        time.sleep(0.5)   # full; poll() cannot tell for an unconnected socket, so do not spin
PY
filler=$!
stamps=""
t_end=$((SECONDS + 16))
while ((SECONDS < t_end)); do
  stamps+="$(show WatchdogTimestampMonotonic) "
  sleep 0.5
done
echo "MESSAGE=probe" | timeout 2 logger --journald
probe=$?
wait "$flood"
kill "$filler" 2>/dev/null
kill -CONT "$jpid"
sleep 3
journalctl --sync
# Not -u: with journald's socket full PID 1 logs it through /dev/kmsg, without UNIT=.
wd_timeouts=$(journalctl -b -q -o cat 2>/dev/null | grep -c "stallwatch.service: Watchdog timeout")
mark journald-thawed PID="$(stallwatch_pid)" NRESTARTS="$(show NRestarts)" PROBE_RC="$probe" \
  WATCHDOG_STAMPS="$stamps" WATCHDOG_TIMEOUTS="$wd_timeouts" \
  ACTIVE="$(systemctl is-active stallwatch.service)"
sleep 2
mark done ACTIVE="$(systemctl is-active stallwatch.service)"
