# SPDX-License-Identifier: GPL-2.0-or-later
# Scenario 6 (reload): a broken config via `systemctl reload` is rejected and the old settings
# stay; a valid one changes the threshold. Each setting is probed with a 2 s RT hog on CPU 1:
# no stall at the old 3 s threshold, a stall at the new 1 s threshold.
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
mark done ACTIVE="$(systemctl is-active stallwatch.service)" FIRST_PID="$pid" PID="$(show MainPID)"
