# SPDX-License-Identifier: GPL-2.0-or-later
# Scenario 1 (boot): the unit, installed and started by the .deb's postinst (guest/install-package
# records how), becomes active through Type=notify with a systemd watchdog, runs under the
# packaged hardening, idles 30 s without a stall or a watchdog timeout, and survives
# `systemctl reload`; then writes the metrics textfile and, removed with `dpkg -r`, leaves none.
wait_active stallwatch.service 40 || exit 1
show() { systemctl show -p "$1" --value stallwatch.service; }
# The shipped configuration, installed by the package as a conffile, is what the daemon reads.
mark shipped-config ETC="$([ -f /etc/stallwatch/stallwatch.toml ] && echo present || echo missing)" \
  ELSEWHERE="$(find /usr/local/etc /usr/etc -name stallwatch.toml 2>/dev/null | tr '\n' ' ')"
# The packaged unit's sandbox, as the kernel sees the running daemon.
pid=$(show MainPID)
status() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
mark hardening SECCOMP="$(status Seccomp)" NO_NEW_PRIVS="$(status NoNewPrivs)" \
  CAP_BND="$(status CapBnd)" PROTECT_SYSTEM="$(show ProtectSystem)" \
  DEVICE_POLICY="$(show DevicePolicy)" PRIVATE_NETWORK="$(show PrivateNetwork)" \
  CONFFILES="$(dpkg-query -W -f='${Conffiles}' stallwatch | awk '{print $1}' | tr '\n' ' ')"
# The daemon's code runs from its file (daemon.huge_code is off by default: the unit's
# MemoryDenyWriteExecute=yes would refuse it): an r-x mapping of the file, no anonymous r-x
# mapping, nothing logged about it.
huge_code_kb=$(awk '/^[0-9a-f]+-[0-9a-f]+ /{rx = ($2 == "r-xp" && (NF == 5 || $6 ~ /^\[anon:/))}
  rx && $1 == "AnonHugePages:" {print $2; exit}' "/proc/$pid/smaps")
mark huge-code ANON_HUGE_KB="$huge_code_kb" \
  FILE_RX="$(awk '$2 == "r-xp" && $6 ~ /stallwatchd$/' "/proc/$pid/maps" | wc -l)" \
  THP="$(cat /sys/kernel/mm/transparent_hugepage/enabled)" \
  LOGGED="$(journalctl -b -u stallwatch.service -o cat | grep -c 'huge_code')"
# The supervisor (the main thread: signals, CPU hotplug) runs only when something happens: under
# the packaged sandbox the kernel's uevents reach it, so it does not poll the online CPUs.
sup_runs() { awk '{print $3}' "/proc/$pid/task/$pid/schedstat" 2>/dev/null; }
mark service-active TYPE="$(show Type)" WATCHDOG_USEC="$(show WatchdogUSec)" STATUS_JSON="$(status_json)" \
  RESULT="$(show Result)" MAINPID="$(show MainPID)" SUP_RUNS="$(sup_runs)"
sleep 30
mark idle-done ACTIVE="$(systemctl is-active stallwatch.service)" NRESTARTS="$(show NRestarts)" \
  STATUS_JSON="$(status_json)" SUP_RUNS="$(sup_runs)" \
  MAINPID="$(show MainPID)"
before=$(show MainPID)
systemctl reload stallwatch.service
rc=$?
sleep 2
mark reloaded RC="$rc" ACTIVE="$(systemctl is-active stallwatch.service)" \
  PID_BEFORE="$before" PID_AFTER="$(show MainPID)"
# Fleet metrics (issue 12): node_exporter's textfile directory appears (as Debian's
# prometheus-node-exporter creates it); with the shipped metrics.textfile = "auto" the packaged,
# sandboxed daemon writes stallwatch.prom there (its unit may write exactly that directory).
mkdir -p /var/lib/prometheus/node-exporter
systemctl restart stallwatch.service
prom=/var/lib/prometheus/node-exporter/stallwatch.prom
# The file is written once the first check has seen the heartbeats; a CPU seen later is a change,
# in the file within about a second, not a metrics.interval later.
ncpu=$(nproc)
for _ in $(seq 1 60); do
  [ "$(grep -c '^stallwatch_heartbeat_age_seconds{' "$prom" 2>/dev/null)" = "$ncpu" ] && break
  sleep 0.5
done
mark textfile TEXTFILE="$([ -s "$prom" ] && echo present || echo missing)" \
  MODE="$(stat -c %a "$prom" 2>/dev/null)" \
  BUILD_INFO="$(grep -c '^stallwatch_build_info{' "$prom" 2>/dev/null)" \
  HEARTBEAT_SERIES="$(grep -c '^stallwatch_heartbeat_age_seconds{' "$prom" 2>/dev/null)" \
  ACTIVE="$(systemctl is-active stallwatch.service)"
# status.json and the textfile are AtomicFiles: under the packaged sandbox (seccomp filter, bounded
# capabilities) the write lease and RENAME_EXCHANGE must work, so refreshes swap two inodes
# instead of making a new file each time. Four refreshes asked for as stallwatchctl does.
inodes=""
for _ in 1 2 3 4; do
  stallwatchctl status >/dev/null 2>&1
  inodes="$inodes $(stat -c %i /run/stallwatch/status.json 2>/dev/null)"
done
mark swapfile INODES="$inodes" SPARE="$(stat -c %i /run/stallwatch/status.json.tmp 2>/dev/null)"
# An idle host's textfile is refreshed every metrics.interval (60 s; the shipped StallwatchDown
# alert calls it dead after 180 s): the next version is swapped in and the previous one becomes
# the spare.
before=$(stat -c %i "$prom" 2>/dev/null)
t0=$SECONDS
for _ in $(seq 1 150); do
  now=$(stat -c %i "$prom" 2>/dev/null)
  [ -n "$now" ] && [ "$now" != "$before" ] && break
  sleep 0.5
done
mark textfile-refresh BEFORE="$before" AFTER="$(stat -c %i "$prom" 2>/dev/null)" \
  SPARE="$(stat -c %i "$prom.tmp" 2>/dev/null)" WAITED_S="$((SECONDS - t0))" \
  HEARTBEAT_SERIES="$(grep -c '^stallwatch_heartbeat_age_seconds{' "$prom" 2>/dev/null)"
# Removing the package (dpkg -r, configuration kept): the prerm stops the unit and the postrm
# removes the textfile and its spare, so node_exporter stops exporting a removed daemon's metrics.
out=$(DEBIAN_FRONTEND=noninteractive dpkg -r stallwatch 2>&1)
rc=$?
echo "$out" | sed 's/^/[dpkg] /'
mark package-removed RC="$rc" STATUS="$(dpkg-query -W -f='${Status}' stallwatch 2>&1)" \
  ACTIVE="$(systemctl is-active stallwatch.service)" \
  PROM="$([ -e "$prom" ] && echo present || echo missing)" \
  PROM_SPARE="$([ -e "$prom.tmp" ] && echo present || echo missing)" \
  CONFIG="$([ -f /etc/stallwatch/stallwatch.toml ] && echo present || echo missing)"
