# SPDX-License-Identifier: GPL-2.0-or-later
# Scenario 4 (load without stalls): 60 s of stress-ng CPU + VM + I/O on both CPUs.
wait_active stallwatch.service 40 || exit 1
sleep 2
mark load-start STATUS_JSON="$(status_json)"
( sleep 30; mark load-mid STATUS_JSON="$(status_json)" ) &
stress-ng --cpu 2 --vm 2 --vm-bytes 64M --io 1 --hdd 1 --hdd-bytes 8M \
  --temp-path /mnt/state --timeout 60s --metrics-brief
rc=$?
mark load-end STATUS="$rc" STATUS_JSON="$(status_json)"
sleep 3
mark done ACTIVE="$(systemctl is-active stallwatch.service)" \
  NRESTARTS="$(systemctl show -p NRestarts --value stallwatch.service)"
