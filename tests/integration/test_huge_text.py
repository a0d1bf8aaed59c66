# SPDX-License-Identifier: GPL-2.0-or-later
"""With daemon.huge_code = true stallwatchd's code runs from one 2 MiB huge page, or, where that
cannot be, from its file as before (daemon/huge_text.h).

1. huge_code = true: the executable's code segment is one anonymous r-xp mapping at its own address,
   2 MiB-aligned, AnonHugePages 2048 kB, locked; no r-xp mapping of the file is left. Its bytes
   (read through /proc/<pid>/mem) are the file's code segment byte for byte, and the rest of the
   2 MiB is int3 (0xcc). A real stall (a SCHED_FIFO hog on CPU 1) is reported: the moved code
   runs the checks.
2. Transparent huge pages refused to the daemon (PR_SET_THP_DISABLE, which it inherits): it says
   "code stays in 4 KiB pages: no transparent huge page was given", keeps the file's r-xp
   mapping, and reports a real stall.
3. Gaining execute permission refused (PR_SET_MDWE, Linux 6.3 and later; what systemd's
   MemoryDenyWriteExecute=yes asks of a unit, there with a seccomp filter): it says "making the
   copy executable was refused", keeps the file mapping, and reports a real stall.
4. By default (huge_code = false): the file's r-x mapping, nothing logged about it, a real stall
   reported."""
import ctypes
import struct
import sys

from swtest import *

require_root_and_cpus()
binary = sys.argv[1]
lock = rt_lock()
HUGE = 2 << 20
PAGE = os.sysconf("SC_PAGE_SIZE")
PR_SET_THP_DISABLE, PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 41, 65, 1
libc = ctypes.CDLL(None, use_errno=True)


def code_segment(path):
    """(p_offset, p_vaddr, p_filesz, p_memsz) of the executable's PT_LOAD with PF_X."""
    with open(path, "rb") as f:
        head = f.read(64)
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    for i in range(phnum):
        p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", table, i * phentsize)
        if p_type == 1 and p_flags & 1:
            return p_offset, p_vaddr, p_filesz, p_memsz
    fail(f"{path} has no code segment")


def mappings(pid):
    """[(start, end, perms, offset, path, {smaps field: kB})] of /proc/pid/smaps."""
    out = []
    for line in open(f"/proc/{pid}/smaps"):
        head = line.split()
        if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            start, end = (int(x, 16) for x in head[0].split("-"))
            out.append((start, end, head[1], int(head[2], 16),
                        head[5] if len(head) > 5 else "", {}))
        elif out and len(head) >= 2 and head[0].endswith(":") and head[1].isdigit():
            out[-1][5][head[0][:-1]] = int(head[1])
    return out


def real_path(p):
    return os.path.realpath(p)


def stall_reported(d):
    run_hog(2.5)
    ok = d.wait_for(lambda d: any(e["event"] == "stall" and e.get("cpu") == "1"
                                  for e in d.events()), 5)
    check(ok, "a real stall on CPU 1 is reported")


HUGE_CONFIG = base_config("1s").replace("[daemon]\n", "[daemon]\nhuge_code = true\n")


def fallback(name, preexec, reason, config=HUGE_CONFIG):
    d = Daemon(binary, config, preexec_fn=preexec)
    try:
        d.wait_ready()
        lines = [l for l in d.lines() if "code stays in 4 KiB pages" in l]
        print("".join(lines), end="")
        if reason is None:
            check(not lines and not any("huge_code" in l for l in d.lines()),
                  f"{name}: nothing is logged about it")
        else:
            check(len(lines) == 1 and reason in lines[0],
                  f"{name}: the log says why ({reason!r})")
        maps = mappings(d.proc.pid)
        check(any(m[2] == "r-xp" and m[4] == path for m in maps),
              f"{name}: the file's code mapping is in place")
        stall_reported(d)
        check(d.stop() == 0, f"{name}: clean stop")
    except SystemExit:
        d.dump()
        d.stop()
        raise


path = real_path(binary)
offset, vaddr, filesz, memsz = code_segment(path)
print(f"code segment: file offset {offset:#x}, vaddr {vaddr:#x}, {filesz} bytes")
check(vaddr % HUGE == 0 and offset % HUGE == 0, "the build aligns the code segment to 2 MiB")

print("1. huge_code = true: the code in one 2 MiB huge page")
d = Daemon(binary, HUGE_CONFIG)
try:
    d.wait_ready()
    pid = d.proc.pid
    check(not any("code stays in 4 KiB pages" in l for l in d.lines()),
          "no fallback was logged")
    check(any("code moved into 2048 KiB of huge pages" in l for l in d.lines()),
          "the move was logged")
    maps = mappings(pid)
    base = next(m[0] - m[3] for m in maps if m[4] == path and m[3] == 0)
    start = base + vaddr
    code = [m for m in maps if m[0] == start]
    check(len(code) == 1, f"a mapping starts at the code's address {start:#x}")
    m = code[0]
    print(f"code mapping: {m[0]:#x}-{m[1]:#x} {m[2]} offset {m[3]:#x} '{m[4]}' "
          f"Rss {m[5].get('Rss')} kB AnonHugePages {m[5].get('AnonHugePages')} kB "
          f"Locked {m[5].get('Locked')} kB")
    check(m[1] - m[0] == HUGE and m[0] % HUGE == 0, "it is 2 MiB, 2 MiB-aligned")
    check(m[2] == "r-xp", "read and execute, never write")
    check(m[4] == "" or m[4].startswith("[anon:"), "it is anonymous (not the file)")
    check(m[5].get("AnonHugePages") == 2048, "it is one transparent huge page (2048 kB)")
    check(m[5].get("Locked") == 2048, "it is locked")
    check(not any(x[2] == "r-xp" and x[4] == path for x in maps),
          "no r-xp mapping of the file is left")
    with open(f"/proc/{pid}/mem", "rb") as mem, open(path, "rb") as f:
        mem.seek(start)
        moved = mem.read(HUGE)
        f.seek(offset)
        original = f.read(filesz)
    check(moved[:filesz] == original, f"the {filesz} bytes are the file's code byte for byte")
    tail_from = (filesz + PAGE - 1) // PAGE * PAGE
    check(moved[tail_from:] == b"\xcc" * (HUGE - tail_from),
          f"the {HUGE - tail_from} bytes after the code's last page are int3")
    stall_reported(d)
    check(d.stop() == 0, "clean stop")
except SystemExit:
    d.dump()
    d.stop()
    raise

print("2. transparent huge pages refused (PR_SET_THP_DISABLE)")
fallback("THP disabled", lambda: libc.prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0),
         "no transparent huge page was given")

print("3. execute permission gain refused (PR_SET_MDWE)")
probe = subprocess.run([sys.executable, "-c",
                        "import ctypes,sys; sys.exit(ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) != 0)"])
if probe.returncode != 0:
    print("PR_SET_MDWE not offered by this kernel (Linux 6.3 and later): part 3 not run")
else:
    fallback("MDWE", lambda: libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0),
             "making the copy executable was refused")
print("4. the default (daemon.huge_code = false)")
fallback("default", None, None, base_config("1s"))
print("PASS")
