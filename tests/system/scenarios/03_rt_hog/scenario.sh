# SPDX-License-Identifier: GPL-2.0-or-later
# Scenario 3 (RT hog): SCHED_FIFO 99 busy loop on CPU 1 for 3 x threshold -> class rt-hog, with
# daemon.huge_code = true and the packaged huge-code.conf drop-in: the daemon's code is one 2 MiB
# anonymous huge page (AnonHugePages of its r-x mapping), no r-x mapping of the file is left.
wait_active stallwatch.service 40 || exit 1
pid=$(systemctl show -p MainPID --value stallwatch.service)
huge_code_kb=$(awk '/^[0-9a-f]+-[0-9a-f]+ /{rx = ($2 == "r-xp" && (NF == 5 || $6 ~ /^\[anon:/))}
  rx && $1 == "AnonHugePages:" {print $2; exit}' "/proc/$pid/smaps")
mark huge-code PID="$pid" ANON_HUGE_KB="$huge_code_kb" \
  FILE_RX="$(awk '$2 == "r-xp" && $6 ~ /stallwatchd$/' "/proc/$pid/maps" | wc -l)" \
  THP="$(cat /sys/kernel/mm/transparent_hugepage/enabled)" \
  MDWE="$(systemctl show -p MemoryDenyWriteExecute --value stallwatch.service)" \
  LOG="$(journalctl -b -u stallwatch.service _PID="$pid" -o cat | grep 'huge_code' | tail -1)"
sleep 3
rt_hog 1 99 6000
wait "$RT_HOG_PID"
mark rt-hog-end STATUS=$?
wait_journal 10 STALLWATCH_EVENT=recovered STALLWATCH_CPU=1
sleep 1
mark done ACTIVE="$(systemctl is-active stallwatch.service)"
