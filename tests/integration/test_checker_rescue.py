"""The checker must not miss a stall because it is itself queued on the stuck CPU. Here the
checker thread is pinned to CPU 1 (as if its last wakeup had put it there) and a SCHED_FIFO hog
above its priority takes CPU 1: CPU 0's heartbeat sees the checker overdue, moves it, and the
stall is still reported within threshold + check interval + 100 ms."""
import sys

from swtest import *

require_root_and_cpus()
binary = sys.argv[1]
lock = rt_lock()
cfg = base_config("1s").replace("[checker]", "[checker]\npriority = 40")
d = Daemon(binary, cfg)
try:
    d.wait_ready()
    tid = None
    for t in os.listdir(f"/proc/{d.proc.pid}/task"):
        if open(f"/proc/{d.proc.pid}/task/{t}/comm").read().strip() == "sw-checker":
            tid = int(t)
    check(tid is not None, "found the checker thread")
    os.sched_setaffinity(tid, {1})
    time.sleep(0.3)
    hog_start_us, _, _ = run_hog(2.5)
    d.wait_for(lambda d: any(e["event"] == "recovered" for e in d.events()), 5)
    stalls = [e for e in d.events() if e["event"] == "stall"]
    check(len(stalls) == 1 and stalls[0]["cpu"] == "1", "CPU 1's stall reported")
    latency_ms = (int(stalls[0]["detected_mono_us"]) - hog_start_us) / 1000
    print(f"detection latency {latency_ms:.0f} ms")
    check(latency_ms <= 1000 + 100 + 100, "within threshold + check interval + 100 ms")
    check(any("checker was held up" in l for l in d.lines()), "the rescue is logged")
    check(os.sched_getaffinity(tid) == set(range(os.cpu_count())), "checker runs unpinned again")
    check(d.stop() == 0, "clean stop")
except SystemExit:
    d.dump()
    d.stop()
    raise
print("PASS")
