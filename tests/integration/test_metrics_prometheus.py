# SPDX-License-Identifier: GPL-2.0-or-later
"""Fleet metrics end to end, all real and on loopback: Debian's prometheus-node-exporter reads
stallwatchd's textfile, Debian's prometheus scrapes it every second with the shipped alert rules
loaded, a real SCHED_FIFO hog stalls CPU 1, and Prometheus's HTTP API then shows
stallwatch_stalls_total{cpu="1"} >= 1 and the StallwatchCPUStalled alert firing for CPU 1.
Both servers are started and killed by this test (free ports, temp storage, bounded waits)."""
import json
import shutil
import socket
import stat
import sys
import urllib.parse
import urllib.request

from swtest import *

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
HERE = os.path.dirname(os.path.abspath(__file__))
RULES = os.path.join(HERE, "..", "..", "packaging", "prometheus", "stallwatch-rules.yml")
HOG_S = 8.0

require_root_and_cpus()
for tool in (NODE_EXPORTER, PROMETHEUS, PROMTOOL):
    if not os.access(tool, os.X_OK):
        skip(f"{tool} missing: scripts/install-deps.sh --test installs prometheus and "
             "prometheus-node-exporter")
binary = sys.argv[1]
ctl = os.environ.get("STALLWATCHCTL") or os.path.join(os.path.dirname(binary), "ctl", "stallwatchctl")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def on_cpu0():
    # The servers stay off the hog's CPU: this test is about the chain, not about Go's scheduler
    # under a real-time hog.
    os.sched_setaffinity(0, {0})


def http_json(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def query(base, promql):
    try:
        doc = http_json(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    except OSError:
        return []
    return doc.get("data", {}).get("result", []) if doc.get("status") == "success" else []


def firing_alerts(base, name):
    try:
        doc = http_json(f"{base}/api/v1/alerts")
    except OSError:
        return []
    return [a for a in doc.get("data", {}).get("alerts", [])
            if a["labels"].get("alertname") == name and a.get("state") == "firing"]


def poll(pred, timeout_s, step_s=0.25):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step_s)
    return None


lock = rt_lock()
work = tempfile.mkdtemp(prefix="stallwatch-prom-")
textdir = os.path.join(work, "textfile")
os.makedirs(textdir)
os.chmod(work, 0o755)
textfile = os.path.join(textdir, "stallwatch.prom")
ne_port, prom_port = free_port(), free_port()
prom_cfg = os.path.join(work, "prometheus.yml")
with open(prom_cfg, "w") as f:
    f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files:
  - {os.path.abspath(RULES)}
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:{ne_port}"]
""")
servers = []
logs = {}


def start(name, argv):
    log = open(os.path.join(work, name + ".log"), "w+")
    logs[name] = log.name
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, preexec_fn=on_cpu0)
    servers.append(p)
    return p


def dump_servers():
    for name, path in logs.items():
        with open(path) as f:
            tail = f.readlines()[-15:]
        print(f"---- {name} (last lines) ----\n{''.join(tail)}", end="")


d = None
try:
    start("node_exporter", [NODE_EXPORTER, "--collector.disable-defaults", "--collector.textfile",
                            f"--collector.textfile.directory={textdir}",
                            f"--web.listen-address=127.0.0.1:{ne_port}"])
    start("prometheus", [PROMETHEUS, f"--config.file={prom_cfg}",
                         f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
                         f"--web.listen-address=127.0.0.1:{prom_port}"])
    base = f"http://127.0.0.1:{prom_port}"

    def ready():
        try:
            with urllib.request.urlopen(base + "/-/ready", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False
    check(poll(ready, 30), "prometheus is ready on loopback")
    rules = http_json(base + "/api/v1/rules")["data"]["groups"]
    names = sorted(r["name"] for g in rules for r in g["rules"] if r["type"] == "alerting")
    print("alert rules loaded:", names)
    check("StallwatchCPUStalled" in names and len(names) == 7, "the shipped alert rules are loaded")

    # metrics.interval at its default (60 s), longer than this whole test: every update the test
    # sees (heartbeats running, the stall, its class, the recovery) must come from the change path.
    d = Daemon(binary, base_config("1s", metrics=f'textfile = "{textfile}"'))
    d.wait_ready()
    check(poll(lambda: os.path.exists(textfile), 5), "stallwatchd writes the textfile")

    def heartbeat_series():
        try:
            with open(textfile) as f:
                return {l.split("}")[0] + "}" for l in f
                        if l.startswith("stallwatch_heartbeat_age_seconds{")}
        except OSError:
            return set()
    # The first file is written at start, before the first check has seen the heartbeats; their
    # start is a change, in the file within about a second, not a metrics.interval later.
    want = {f'stallwatch_heartbeat_age_seconds{{cpu="{c}"}}' for c in (0, 1)}
    check(poll(lambda: want <= heartbeat_series(), 5),
          f"every CPU's heartbeat is in the textfile within 5 s of start ({heartbeat_series()})")
    mode = stat.S_IMODE(os.stat(textfile).st_mode)
    check(mode == 0o644, f"textfile mode is 0644 (got {oct(mode)})")
    lint = subprocess.run([PROMTOOL, "check", "metrics"], stdin=open(textfile), capture_output=True,
                          text=True)
    check(lint.returncode == 0, f"promtool check metrics accepts the live textfile {lint.stdout}{lint.stderr}")
    check(poll(lambda: query(base, 'stallwatch_stalled{cpu="1"} == 0'), 20),
          "Prometheus scraped stallwatch_stalled{cpu=\"1\"} = 0 through node_exporter")
    check(not query(base, 'stallwatch_stalls_total{cpu="1"}'), "no stall of CPU 1 before the hog")
    check(not firing_alerts(base, "StallwatchCPUStalled"), "StallwatchCPUStalled is not firing before the hog")
    ctl_out = subprocess.run([ctl, "--config", d.config, "metrics"], capture_output=True, text=True)
    check(ctl_out.returncode == 0 and "stallwatch_build_info{version=" in ctl_out.stdout,
          "stallwatchctl metrics prints the exposition of the running daemon")

    hog = subprocess.Popen([sys.executable, "-c", HOG_SRC, str(HOG_CPU), str(HOG_S), str(HOG_PRIO),
                            "sw-test-hog"], stdout=subprocess.PIPE, text=True)
    hog_start_us = int(hog.stdout.readline().split()[0])
    fired = poll(lambda: [a for a in firing_alerts(base, "StallwatchCPUStalled")
                          if a["labels"].get("cpu") == "1"], HOG_S + 10)
    fired_us = mono_us()
    hog.wait(HOG_S + 30)
    check(fired, "the StallwatchCPUStalled alert fired for CPU 1 during the real stall")
    print(f"alert firing {(fired_us - hog_start_us) / 1e6:.1f} s after the hog started "
          f"(threshold 1 s, the textfile written on the change, scrape every 1 s); labels {fired[0]['labels']}")
    check(fired[0]["annotations"].get("runbook_url") == "man:stallwatchd(8)#StallwatchCPUStalled",
          "the alert carries its runbook_url")
    check(not any(a["labels"].get("cpu") == "0" for a in firing_alerts(base, "StallwatchCPUStalled")),
          "CPU 0 is not alerted")
    stalls = poll(lambda: [r for r in query(base, 'stallwatch_stalls_total{cpu="1"}')
                           if float(r["value"][1]) >= 1], 15)
    check(stalls, "Prometheus has stallwatch_stalls_total{cpu=\"1\"} >= 1")
    print("stalls:", [(r["metric"].get("class"), r["value"][1]) for r in stalls])
    check(any(r["metric"].get("class") == "rt-hog" for r in stalls), "the stall is classed rt-hog")
    check(poll(lambda: not firing_alerts(base, "StallwatchCPUStalled"), 15),
          "the alert resolves after the CPU recovers")
    # After the recovery the counter holds the whole episode: the hog's run plus at most one
    # heartbeat interval before it.
    secs_q = 'stallwatch_stall_seconds_total{cpu="1"}'
    secs = poll(lambda: [r for r in query(base, secs_q)
                         if HOG_S * 0.9 <= float(r["value"][1]) <= HOG_S * 1.1], 15)
    check(secs, f"{secs_q} is the hog's {HOG_S:.0f} s within 10 % ({query(base, secs_q)})")
    check(d.stop() == 0, "SIGTERM stops the daemon with status 0")
except SystemExit:
    if d:
        d.dump()
    dump_servers()
    raise
finally:
    if d:
        d.stop()
    for p in servers:
        if p.poll() is None:
            p.kill()
        p.wait(10)
    shutil.rmtree(work, ignore_errors=True)
print("PASS")
