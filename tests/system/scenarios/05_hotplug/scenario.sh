# SPDX-License-Identifier: GPL-2.0-or-later
# Scenario 5 (CPU hotplug): CPU 1 offline 10 s, online again; a later RT hog on it is detected.
wait_active stallwatch.service 40 || exit 1
sleep 2
mark offline
echo 0 > /sys/devices/system/cpu/cpu1/online || fail "cannot offline cpu1"
sleep 10
mark online
echo 1 > /sys/devices/system/cpu/cpu1/online || fail "cannot online cpu1"
sleep 4   # the daemon notices the CPU and its heartbeat stamps again
mark before-hog
rt_hog 1 99 3000
wait "$RT_HOG_PID"
mark rt-hog-end
wait_journal 10 STALLWATCH_EVENT=recovered STALLWATCH_CPU=1
sleep 1
mark done ACTIVE="$(systemctl is-active stallwatch.service)"
