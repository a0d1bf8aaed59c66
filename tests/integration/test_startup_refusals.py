# SPDX-License-Identifier: GPL-2.0-or-later
"""Startup refusals (issue 10 items 4 and 7), with the real daemon and real files:
- watchdog.device must be a watchdog: pointed at a regular file holding "root:x:0:0...", at
  /dev/null or at a symlink, stallwatchd refuses to start (exit 78, EX_CONFIG) saying why, and
  the file is byte-for-byte unchanged;
- a state or runtime directory writable by group/others is refused (exit 78)."""
import sys

from swtest import *

if os.geteuid() != 0:
    skip("needs root (creates a regular file under /dev)")
binary = sys.argv[1]

EX_CONFIG = 78
CONTENT = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n"


def run(device=None, config=None):
    extra = f'[watchdog]\ndevice = "{device}"\ntimeout = "30s"\n' if device else ""
    d = Daemon(binary, config or base_config("1s", extra=extra))
    try:
        rc = d.proc.wait(20)
    except subprocess.TimeoutExpired:
        d.stop()
        d.dump()
        fail(f"stallwatchd kept running with watchdog.device = {device}")
    return rc, "".join(d.lines()), d


fake = f"/dev/stallwatch-test-wd-{os.getpid()}"
with open(fake, "wb") as f:
    f.write(CONTENT)
try:
    rc, out, d = run(fake)
    print(out, end="")
    check(rc == EX_CONFIG, f"regular file refused with exit {EX_CONFIG} (got {rc})")
    check(f"watchdog.device {fake} is not a watchdog: it is a regular file, not a character "
          "device; nothing was written to it" in out, "the message says it is a regular file")
    with open(fake, "rb") as f:
        check(f.read() == CONTENT, "the regular file is byte-for-byte unchanged")

    null_before = os.stat("/dev/null")
    rc, out, d = run("/dev/null")
    print(out, end="")
    check(rc == EX_CONFIG, f"/dev/null refused with exit {EX_CONFIG} (got {rc})")
    check("watchdog.device /dev/null is not a watchdog: character device 1:3 is neither misc "
          "10:130 nor the watchdog major" in out, "the message names /dev/null's 1:3")
    check(os.stat("/dev/null").st_rdev == null_before.st_rdev, "/dev/null is still 1:3")

    link = f"/dev/stallwatch-test-wdlink-{os.getpid()}"
    os.symlink(fake, link)
    try:
        rc, out, d = run(link)
        print(out, end="")
        check(rc == EX_CONFIG, f"a symlink is refused with exit {EX_CONFIG} (got {rc})")
        check(f"watchdog.device {link} is a symbolic link" in out, "the message says symlink")
    finally:
        os.unlink(link)
    with open(fake, "rb") as f:
        check(f.read() == CONTENT, "the regular file is still unchanged")
finally:
    os.unlink(fake)

shared = tempfile.mkdtemp(prefix="stallwatch-shared-")
os.chmod(shared, 0o777)
cfg = base_config("1s").replace('state_dir = "@DIR@/state"', f'state_dir = "{shared}"')
rc, out, d = run(config=cfg)
print(out, end="")
check(rc == EX_CONFIG, f"a world-writable state_dir is refused with exit {EX_CONFIG} (got {rc})")
check(f"daemon.state_dir: {shared} is writable by group or others (mode 0777)" in out,
      "the message names the directory and its mode")
cfg = base_config("1s").replace('runtime_dir = "@DIR@/run"', f'runtime_dir = "{shared}"')
rc, out, d = run(config=cfg)
check(rc == EX_CONFIG and f"daemon.runtime_dir: {shared} is writable" in out,
      "a world-writable runtime_dir is refused too")
os.rmdir(shared)
print("PASS")
