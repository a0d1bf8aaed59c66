# SPDX-License-Identifier: GPL-2.0-or-later
# Scenario 6 (reload): a broken config via `systemctl reload` is rejected and the old settings
# stay; a valid one changes the threshold. Each setting is probed with a 2 s RT hog on CPU 1:
# no stall at the old 3 s threshold, a stall at the new 1 s threshold. Then (issue 18) a reload
# that changes heartbeat.interval during a kernel spin on CPU 1: returns within 2 s, one episode.
wait_active stallwatch.service 40 || exit 1
show() { systemctl show -p "$1" --value stallwatch.service; }
pid=$(show MainPID)
sleep 2
cp /usr/lib/stallwatch-test/files/broken.toml /etc/stallwatch/stallwatch.toml
mark reload-broken
systemctl reload stallwatch.service
rc=$?
sleep 2
mark after-broken RC="$rc" ACTIVE="$(systemctl is-active stallwatch.service)" PID="$(show MainPID)"
rt_hog 1 99 2000
wait "$RT_HOG_PID"
mark probe-old-end
sleep 3
cp /usr/lib/stallwatch-test/files/valid.toml /etc/stallwatch/stallwatch.toml
mark reload-valid
systemctl reload stallwatch.service
rc=$?
sleep 2
mark after-valid RC="$rc" ACTIVE="$(systemctl is-active stallwatch.service)" PID="$(show MainPID)"
rt_hog 1 99 2000
wait "$RT_HOG_PID"
mark probe-new-end
wait_journal 10 STALLWATCH_EVENT=recovered STALLWATCH_CPU=1
sleep 1

# ---- a reload during a kernel spin (issue 18), twice -------------------------------------------
# Preemption off on CPU 1 for 6 s (threshold 1 s, repeat 1 s). Once the stall is reported, a
# reload with a new heartbeat.interval; the episode must go on across it: ongoing reports after
# the reload, then exactly one recovery. The daemon answers the SIGHUP at once (it changes the
# heartbeats in place, it does not wait for CPU 1's). systemd may not send it at once:
#  "systemctl-reload": `systemctl reload`; PID 1 moves the ExecReload= process into the service's
#      cgroup, which on this kernel waits for an RCU grace period (percpu_down_write(
#      cgroup_threadgroup_rwsem) -> rcu_sync_enter() -> synchronize_rcu()) the spinning CPU holds
#      off, and the process's mount namespace setup waits for another (path_umount ->
#      synchronize_rcu_expedited). Its time is recorded; the daemon's answer must be within 2 s.
#  "systemctl-kill": `systemctl kill -s HUP --kill-whom=main`, what the README advises during an
#      incident: PID 1 sends the signal itself, no process is spawned; it must be answered (new
#      interval in force) within 2 s.
MOD="/lib/modules/$(uname -r)/extra/stallwatch_stall.ko"
count() {   # count EVENT CPU: this boot's events of that kind for that CPU
  journalctl -b -q -o json --output-fields=STALLWATCH_CPU STALLWATCH_EVENT="$1" \
    STALLWATCH_CPU="$2" 2>/dev/null | wc -l
}
# What the reload waits for while it runs (kept for diagnosis, not asserted): 0.5 and 1 s into it,
# every task blocked (D) or runnable (R) with its CPU, and the kernel stacks of the blocked ones
# and of systemctl. Read from /proc only: systemctl or logger could wait behind them.
reload_diag() {
  local d p pids
  pids=$(awk '$3 == "D" { print $1 }' /proc/[0-9]*/stat 2>/dev/null)
  d="R/D:$(awk '$3 == "R" || $3 == "D" { printf "%s[%s]%s/cpu%s ", $2, $1, $3, $39 }' /proc/[0-9]*/stat 2>/dev/null)"
  for p in $pids "$1"; do
    d+="|$(cat /proc/$p/comm 2>/dev/null)[$p]:$(awk '{print $3"/cpu"$39}' /proc/$p/stat 2>/dev/null):"
    d+="$(tr '\n' ';' < /proc/$p/stack 2>/dev/null | sed 's/\[<0>\] //g; s/+0x[0-9a-f/x]*//g' | cut -c1-300)"
  done
  echo "$d"
}
SPIN_MS=6000

# spin_reload CASE CONFIG: the spin, the reload to CONFIG once CPU 1's stall is reported.
spin_reload() {
  local case=$1 config=$2 stalls0 recovered0 spin reloader diag_pid rc t0 t1 spin_rc deadline
  stalls0=$(count stall 1)
  recovered0=$(count recovered 1)
  # This shell and what it starts (systemctl included) stay on CPU 0: a task forked or woken onto
  # the spinning CPU's run queue would wait there until the spin ends.
  taskset -p -c 0 $$ >/dev/null
  mark spin-start CASE="$case" CPU=1 MS="$SPIN_MS"
  taskset -c 1 insmod "$MOD" mode=preempt ms="$SPIN_MS" &
  spin=$!
  deadline=$((SECONDS + 5))
  while (( $(count stall 1) <= stalls0 && SECONDS < deadline )); do sleep 0.1; done
  cp "/usr/lib/stallwatch-test/files/$config" /etc/stallwatch/stallwatch.toml
  mark reload-during-spin CASE="$case" SPINNING="$(kill -0 $spin 2>/dev/null && echo yes || echo no)"
  rm -f /run/reload-diag
  t0=$(date +%s%N)
  if [ "$case" = systemctl-kill ]; then
    systemctl kill -s HUP --kill-whom=main stallwatch.service &
  else
    systemctl reload stallwatch.service &
  fi
  reloader=$!
  ( sleep 0.5; d1=$(reload_diag "$reloader"); sleep 0.5; d2=$(reload_diag "$reloader")
    echo "0.5s: $d1 || 1s: $d2" > /run/reload-diag ) &
  diag_pid=$!
  wait "$reloader"
  rc=$?
  t1=$(date +%s%N)
  # The daemon's answer (its journal line; read from journald, which runs on CPU 0).
  for _ in $(seq 40); do
    journalctl -b -q -o cat -u stallwatch.service --since "@$((t0 / 1000000000))" 2>/dev/null |
      grep -q "reload answered" && break
    sleep 0.05
  done
  mark reloaded-during-spin CASE="$case" RC="$rc" RELOAD_MS=$(( (t1 - t0) / 1000000 )) \
    SPINNING="$(kill -0 $spin 2>/dev/null && echo yes || echo no)" \
    ACTIVE="$(systemctl is-active stallwatch.service)" PID="$(show MainPID)" \
    STATUS_JSON="$(status_json)"
  wait "$spin"
  spin_rc=$?
  rmmod stallwatch_stall
  wait "$diag_pid"
  mark spin-end CASE="$case" CPU=1 STATUS="$spin_rc" DIAG="$(cat /run/reload-diag 2>/dev/null)"
  taskset -p -c 0-1 $$ >/dev/null
  deadline=$((SECONDS + 10))
  while (( $(count recovered 1) <= recovered0 && SECONDS < deadline )); do sleep 0.2; done
  sleep 1.5   # a second recovery or a late stall would show up here
  mark spin-done CASE="$case" PID="$(show MainPID)"
}

spin_reload systemctl-reload spin-reload.toml   # heartbeat.interval 250 ms -> 150 ms
spin_reload systemctl-kill valid.toml           # 150 ms -> 250 ms
mark done ACTIVE="$(systemctl is-active stallwatch.service)" FIRST_PID="$pid" PID="$(show MainPID)"
