# SPDX-License-Identifier: GPL-2.0-or-later
# Scenario 3 (RT hog): SCHED_FIFO 99 busy loop on CPU 1 for 3 x threshold -> class rt-hog.
wait_active stallwatch.service 40 || exit 1
sleep 3
rt_hog 1 99 6000
wait "$RT_HOG_PID"
mark rt-hog-end STATUS=$?
wait_journal 10 STALLWATCH_EVENT=recovered STALLWATCH_CPU=1
sleep 1
mark done ACTIVE="$(systemctl is-active stallwatch.service)"
