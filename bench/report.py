#!/usr/bin/env python3
"""Benchmark report (not a test): measures datasync-warden beside a peer in the same run and
writes docs/PERFORMANCE.md. Run through bench/report.sh, which builds and sets up first.

  1. activation wall time           vs curl + `aws datasync create-agent` (bench/activation.sh)
  2. per-poll CPU and RSS           vs one warm boto3 client at the same pace (the strongest
                                    Python peer), vs the bare SDK loop bench/floor (the floor),
                                    and vs one `aws datasync describe-agent` process per poll
     and user-space instructions per poll under callgrind, vs the floor (repeatable)
  3. port sweep, 43 filtered ports  vs a sequential probe with the same timeout (netns + nft)
  4. health endpoint /metrics       vs prometheus-node-exporter's textfile collector serving
                                    the same metrics (wrk)
  5. cold start to READY=1          vs the AWS CLI's cold start (`aws --version`)
"""
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where bench/report.sh built: CARGO_TARGET_DIR when set (relative to the repository), else target/;
# BENCH_RELEASE_DIR runs binaries saved elsewhere instead (to compare two builds).
RELEASE = os.environ.get("BENCH_RELEASE_DIR") or os.path.join(ROOT, os.environ.get("CARGO_TARGET_DIR", "target"), "release")
WARDEN = os.path.join(RELEASE, "datasync-warden")
SIM = os.path.join(RELEASE, "datasync-sim")
FLOOR = os.path.join(RELEASE, "sdk-floor")
AWS = os.path.join(ROOT, ".venv/bin/aws")
PYTHON = os.path.join(ROOT, ".venv/bin/python")
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "prometheus-node-exporter"
# Every poller's pace: the daemon's `monitor.interval` in the bench configuration.
POLL_INTERVAL_S = 1
# Polls a poller has made before its CPU is counted: the first builds the client and connects.
WARM_POLLS = 2
# callgrind_control waits for valgrind to take the command; a process that never does must not
# stall the report (valgrind checks for commands between scheduling slices: well under a second).
CALLGRIND_CONTROL_S = 60
# Response sizes of the /metrics case, for the notes under the table.
SIZES = {}
ENV = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="x", AWS_EC2_METADATA_DISABLED="true",
           AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_PAGER="", NO_PROXY="127.0.0.1")
ROWS = []


def num(v):
    """Four significant digits, never in exponent notation."""
    return f"{v:,.0f}" if v >= 1000 else f"{v:.4g}"


def row(what, ours, peer_name, peer, unit, better="lower"):
    """One line of the table; the ratio says by how much the daemon is better, or worse."""
    ratio = (peer / ours) if better == "lower" else (ours / peer)
    if ratio >= 1.1:
        verdict = f"{ratio:.1f}x better"
    elif ratio >= 1:
        verdict = f"{(ratio - 1) * 100:.0f}% better"
    else:
        verdict = f"{(1 / ratio - 1) * 100:.0f}% worse"
    ROWS.append((what, f"{num(ours)} {unit}", peer_name, f"{num(peer)} {unit}", verdict))
    print(f"  {what}: {num(ours)} {unit} vs {peer_name} {num(peer)} {unit} -> {verdict}", flush=True)


def stop_all(procs, insts):
    """Stops the pollers, then their simulators."""
    for p in procs.values():
        p.terminate()
        p.wait()
    for i in insts.values():
        i.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_sim():
    p = subprocess.Popen([SIM, "--agent-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    info = json.loads(p.stdout.readline())
    return p, info


def config(work, info, extra=""):
    host, port = info["agent"].rsplit(":", 1)
    path = os.path.join(work, "config.toml")
    with open(path, "w") as f:
        f.write(f"""[agent]
address = "{host}"
activation_port = {port}
name = "bench"
[endpoint]
region = "us-east-1"
vpc_endpoint_id = "vpce-0123456789abcdef0"
ip = "172.16.1.10"
subnet_arn = "arn:aws:ec2:us-east-1:111122223333:subnet/subnet-0123456789abcdef0"
security_group_arn = "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123456789abcdef0"
[aws]
endpoint_url = "{info['api']}"
[checks]
aws = false
[state]
dir = "{work}/state"
{extra}""")
    return path


def child_usage(cmd, env=ENV):
    """Runs cmd; returns (wall s, cpu s, max RSS MiB) of that child alone."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024


def proc_cpu(pid):
    """CPU seconds of the process's live threads, from schedstat (nanoseconds): /proc/PID/stat
    counts in 10 ms ticks, too coarse for a poll that costs about a millisecond."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass  # the thread ended meanwhile
    return total / 1e9


def proc_rss(pid, key="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def sim_calls(info, op):
    with urllib.request.urlopen(info["api"] + "/_sim/calls") as r:
        return json.load(r).get(op, 0)


def bench_activation(n):
    out = subprocess.run(["bash", os.path.join(ROOT, "bench/activation.sh"), "-n", str(n)], capture_output=True, text=True, check=True).stdout
    med = dict(re.findall(r"^(datasync-warden|curl \+ aws cli)\s+([\d.]+)", out, re.M))
    row("activation wall time (median)", float(med["datasync-warden"]), "curl + aws CLI", float(med["curl + aws cli"]), "ms")


class Instance:
    """A simulator and an agent activated in it by `datasync-warden activate`, with the
    daemon's configuration: every poller gets its own, so the simulator counts its polls alone
    and every poller reads the same DescribeAgent answer."""

    def __init__(self, extra=""):
        self.work = tempfile.mkdtemp(prefix="bench-daemon.")
        self.sim, self.info = start_sim()
        self.cfg = config(self.work, self.info, f'[monitor]\ninterval = "{POLL_INTERVAL_S}s"\n{extra}')
        subprocess.run([WARDEN, "--config", self.cfg, "activate"], env=ENV, check=True, capture_output=True)
        self.arn = json.load(open(os.path.join(self.work, "state/state.json")))["agent_arn"]

    def polls(self):
        return sim_calls(self.info, "DescribeAgent")

    def close(self):
        self.sim.terminate()
        self.sim.wait()
        shutil.rmtree(self.work, ignore_errors=True)


def wait_polls(inst, n, timeout_s=60):
    """Waits until inst's simulator has answered n DescribeAgent calls (the poller is warm)."""
    deadline = time.monotonic() + timeout_s
    while inst.polls() < n:
        if time.monotonic() > deadline:
            sys.exit(f"bench: no {n} DescribeAgent polls within {timeout_s} s")
        time.sleep(0.1)


def bench_polling(seconds):
    """Per-poll CPU and RSS of three pollers running at once, each against its own simulator:
    the daemon, one warm boto3 client (the strongest Python peer) and the bare SDK loop (the
    floor). Started a third of the interval apart, so that their polls do not coincide."""
    polls = seconds + 2 * WARM_POLLS + 10  # outlives the window; bounded all the same
    names = ["daemon", "boto3", "floor"]
    insts = {n: Instance(f'[health]\nlisten = "127.0.0.1:{free_port()}"\n' if n == "daemon" else "") for n in names}
    cmds = {
        "daemon": [WARDEN, "--config", insts["daemon"].cfg, "run"],
        "boto3": [PYTHON, os.path.join(ROOT, "bench/boto3_poll.py"), insts["boto3"].info["api"], "us-east-1",
                  insts["boto3"].arn, str(POLL_INTERVAL_S), str(polls)],
        "floor": [FLOOR, insts["floor"].cfg, insts["floor"].arn, str(polls)],
    }
    procs = {}
    try:
        for n in names:
            procs[n] = subprocess.Popen(cmds[n], env=ENV, stderr=subprocess.DEVNULL)
            time.sleep(POLL_INTERVAL_S / len(names))
        for n in names:
            wait_polls(insts[n], WARM_POLLS)
        before = {n: (proc_cpu(procs[n].pid), insts[n].polls()) for n in names}
        time.sleep(seconds)
        after = {n: (proc_cpu(procs[n].pid), insts[n].polls()) for n in names}
        rss = {n: proc_rss(procs[n].pid) for n in names}
        SIZES.update({f"anon_{n}": proc_rss(procs[n].pid, "RssAnon") for n in names})
        per_poll = {n: (after[n][0] - before[n][0]) * 1000 / max(1, after[n][1] - before[n][1]) for n in names}
        counted = {n: after[n][1] - before[n][1] for n in names}
        print(f"  polls counted in {seconds} s: {counted}", flush=True)
        row("CPU per DescribeAgent poll", per_poll["daemon"], "one warm boto3 client, same pace", per_poll["boto3"], "ms")
        row("CPU per DescribeAgent poll", per_poll["daemon"], "bare SDK loop (floor), same pace", per_poll["floor"], "ms")
        row("resident memory while monitoring", rss["daemon"], "one warm boto3 client", rss["boto3"], "MiB")
        row("resident memory while monitoring", rss["daemon"], "bare SDK loop (floor)", rss["floor"], "MiB")
        arn, api = insts["daemon"].arn, insts["daemon"].info["api"]
        peer = [child_usage([AWS, "datasync", "describe-agent", "--agent-arn", arn, "--endpoint-url", api, "--region", "us-east-1"]) for _ in range(5)]
        row("CPU per DescribeAgent poll", per_poll["daemon"], "one `aws datasync describe-agent` process per poll (Python start-up)",
            statistics.median(p[1] for p in peer) * 1000, "ms")
        return insts.pop("daemon"), procs.pop("daemon")
    finally:
        stop_all(procs, insts)


def after_next_poll(inst):
    """Waits for inst's next DescribeAgent, then a little more (the poll's answer is handled):
    a point between two polls, so that a callgrind window holds whole polls only."""
    wait_polls(inst, inst.polls() + 1, 300)
    time.sleep(POLL_INTERVAL_S * 0.4)
    return inst.polls()


def bench_instructions(polls):
    """User-space instructions per poll under callgrind, the daemon beside the floor: unlike CPU
    time, repeatable to a fraction of a percent however loaded the machine is."""
    if not shutil.which("valgrind"):
        print("  instructions per poll: skipped (needs valgrind)")
        return
    insts = {n: Instance() for n in ("daemon", "floor")}
    work = tempfile.mkdtemp(prefix="bench-callgrind.")
    cmds = {"daemon": [WARDEN, "--config", insts["daemon"].cfg, "run"],
            "floor": [FLOOR, insts["floor"].cfg, insts["floor"].arn, str(polls + 2 * WARM_POLLS + 30)]}
    procs, counted = {}, {}
    try:
        for n, cmd in cmds.items():
            procs[n] = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                         f"--callgrind-out-file={work}/{n}.out", *cmd],
                                        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for n in cmds:
            wait_polls(insts[n], WARM_POLLS + 1, 300)
            counted[n] = after_next_poll(insts[n])
            subprocess.run(["callgrind_control", "-i", "on", str(procs[n].pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=CALLGRIND_CONTROL_S)
        for n in cmds:
            wait_polls(insts[n], counted[n] + polls - 1, 600)
            counted[n] = after_next_poll(insts[n]) - counted[n]
            subprocess.run(["callgrind_control", "-d", str(procs[n].pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=CALLGRIND_CONTROL_S)
        time.sleep(1)
        ir = {}
        for n in cmds:
            dumps = [open(os.path.join(work, f)).read() for f in os.listdir(work) if f.startswith(n + ".out")]
            total = sum(int(re.search(r"^totals: (\d+)", d, re.M).group(1)) for d in dumps if "Trigger: dump" in d)
            ir[n] = total / counted[n] / 1000
        row(f"user-space instructions per poll (callgrind, {polls} polls)", ir["daemon"], "bare SDK loop (floor)", ir["floor"], "k")
    finally:
        stop_all(procs, insts)
        shutil.rmtree(work, ignore_errors=True)


def node_exporter(directory, port):
    return subprocess.Popen([NODE_EXPORTER, "--collector.disable-defaults", "--collector.textfile",
                             f"--collector.textfile.directory={directory}", "--web.disable-exporter-metrics",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fetch(url, timeout_s=10):
    """GET url once it answers (a server just started)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return urllib.request.urlopen(url).read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def bench_metrics(health, wrk_seconds):
    """/metrics under wrk: the daemon (rendering on every request) against node_exporter's
    textfile collector serving the same bytes from a file."""
    metrics = fetch(f"http://{health}/metrics")
    static = tempfile.mkdtemp(prefix="bench-static.")
    open(os.path.join(static, "warden.prom"), "wb").write(metrics)
    pport = free_port()
    peer_srv = node_exporter(static, pport)
    try:
        served = fetch(f"http://127.0.0.1:{pport}/metrics").decode()
        if not re.search(r"^node_textfile_scrape_error 0$", served, re.M):
            sys.exit("bench: node_exporter's textfile collector rejected the daemon's metrics")
        ours = wrk(f"http://{health}/metrics", wrk_seconds)
        theirs = wrk(f"http://127.0.0.1:{pport}/metrics", wrk_seconds)
    finally:
        peer_srv.terminate()
        peer_srv.wait()
        shutil.rmtree(static)
    own = [l for l in served.splitlines() if l.startswith(("node_", "# HELP node_", "# TYPE node_"))]
    SIZES.update(ours=len(metrics), theirs=len(served.encode()), extra=len(own))
    row("/metrics throughput (wrk -t2 -c16)", ours[0], "node_exporter textfile collector, same metrics", theirs[0], "req/s", better="higher")
    row("/metrics p99 latency", ours[1], "node_exporter textfile collector", theirs[1], "ms")


def bench_daemon(seconds, wrk_seconds):
    """Per-poll cost while monitoring, /metrics throughput, cold start to READY."""
    bench_instructions(int(os.environ.get("BENCH_CALLGRIND_POLLS", "20")))
    inst, daemon = bench_polling(seconds)
    try:
        health = re.search(r'listen = "([^"]+)"', open(inst.cfg).read()).group(1)
        bench_metrics(health, wrk_seconds)
        daemon.terminate()
        daemon.wait()
        # Cold start: exec to READY=1, with the agent already activated (state file present).
        starts = [ready_time(inst.cfg) for _ in range(10)]
        peer = [child_usage([AWS, "--version"])[0] * 1000 for _ in range(5)]
        row("cold start to READY=1 (median of 10)", statistics.median(starts), "aws --version (median of 5)", statistics.median(peer), "ms")
    finally:
        daemon.terminate()
        daemon.wait()
        inst.close()


def ready_time(cfg):
    sock_dir = tempfile.mkdtemp(prefix="bench-notify.")
    path = os.path.join(sock_dir, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(10)
    t = time.perf_counter()
    d = subprocess.Popen([WARDEN, "--config", cfg, "run"], env=dict(ENV, NOTIFY_SOCKET=path), stderr=subprocess.DEVNULL)
    while b"READY=1" not in s.recv(4096):
        pass
    ms = (time.perf_counter() - t) * 1000
    d.terminate()
    d.wait()
    s.close()
    shutil.rmtree(sock_dir)
    return ms


def wrk(url, seconds):
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    val, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()
    p99 = float(val) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    return rps, p99


def bench_sweep(timeout_ms):
    """43 filtered ports (443, 1024-1064, 22) in a private namespace pair."""
    if os.geteuid() != 0 or not shutil.which("nft"):
        print("  port sweep: skipped (needs root and nft)")
        return
    tag = f"dwb{os.getpid()}"
    host, ep = f"{tag}h", f"{tag}e"
    sh = lambda c: subprocess.run(c, shell=True, check=True)
    try:
        sh(f"ip netns add {host}; ip netns add {ep}; ip link add {tag}a type veth peer name {tag}b")
        sh(f"ip link set {tag}a netns {host}; ip link set {tag}b netns {ep}")
        sh(f"ip -n {host} addr add 10.198.0.1/24 dev {tag}a; ip -n {ep} addr add 10.198.0.2/24 dev {tag}b")
        sh(f"ip -n {host} link set {tag}a up; ip -n {ep} link set {tag}b up; ip -n {host} link set lo up")
        sh(f"ip netns exec {ep} nft add table inet f; ip netns exec {ep} nft add chain inet f in '{{ type filter hook input priority 0; }}'")
        sh(f"ip netns exec {ep} nft add rule inet f in tcp dport '{{ 22, 443, 1024-1064 }}' drop")
        work = tempfile.mkdtemp(prefix="bench-sweep.")
        cfg = os.path.join(work, "c.toml")
        open(cfg, "w").write(f"""[endpoint]\nregion = "us-east-1"\nip = "10.198.0.2"\n[checks]\naws = false\ncontrol_ports = true\nsupport_port = true\ntimeout = "{timeout_ms}ms"\n[state]\ndir = "{work}"\n""")
        t = time.perf_counter()
        subprocess.run(["ip", "netns", "exec", host, WARDEN, "--config", cfg, "check"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ours = (time.perf_counter() - t) * 1000
        seq = ("import socket,time\nt=time.perf_counter()\nfor p in [443,22]+list(range(1024,1065)):\n"
               f" s=socket.socket(); s.settimeout({timeout_ms / 1000})\n try: s.connect(('10.198.0.2',p))\n except OSError: pass\n s.close()\n"
               "print((time.perf_counter()-t)*1000)")
        peer = float(subprocess.run(["ip", "netns", "exec", host, sys.executable, "-c", seq], capture_output=True, text=True, check=True).stdout)
        row(f"sweep of 43 filtered ports, {timeout_ms} ms timeout", ours, "sequential probe, same timeout", peer, "ms")
        shutil.rmtree(work)
    finally:
        subprocess.run(f"ip netns del {host}; ip netns del {ep}", shell=True, stderr=subprocess.DEVNULL)


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
    return f"{os.cpu_count()} CPUs ({cpu}), {int(mem) // 1024 // 1024} GiB, Linux {os.uname().release}"


def versions():
    """The programs compared, as they name themselves."""
    out = lambda *cmd: subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    sdk = re.search(r'name = "aws-sdk-datasync"\nversion = "([^"]+)"', open(os.path.join(ROOT, "Cargo.lock")).read())
    return "; ".join([out(WARDEN, "--version"), f"aws-sdk-datasync {sdk.group(1) if sdk else '?'}",
                      out(AWS, "--version").split()[0],
                      "boto3 " + out(PYTHON, "-c", "import boto3; print(boto3.__version__)"),
                      out(NODE_EXPORTER, "--version").splitlines()[0].replace(", version", "")])


def document(n, seconds, wrk_seconds):
    size = os.path.getsize(WARDEN) / 1e6
    table = ["| measure | datasync-warden | peer | peer figure | datasync-warden vs peer |", "|---|---|---|---|---|"]
    table += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in ROWS]
    return table, f"""# Performance

Measured by `bench/report.sh` (not part of the tests) on {time.strftime('%Y-%m-%d')}:
{machine()}; release build ({size:.1f} MB stripped binary); {versions()}.
Every figure is measured in the same run as its peer, on loopback against the simulator (`datasync-sim`),
so the ratios hold on this machine; absolute figures move with the machine and its load.

{chr(10).join(table)}

How each is measured:
- **activation**: `bench/activation.sh -n {n}`: `datasync-warden activate` (port check, key, CreateAgent, two
  atomic state writes, DescribeAgent) against the article's `curl` for the key plus `aws datasync create-agent`;
  a fresh simulator per run, start-up not timed. Most of the gap is the AWS CLI's Python start-up: against real
  AWS, network round trips shrink the ratio.
- **per-poll CPU / memory**: three pollers run at once for {seconds} s, each against its own simulator with an
  agent activated by `datasync-warden activate` (the same DescribeAgent answer), started a third of the
  {POLL_INTERVAL_S}-second interval apart; each is counted once it has made {WARM_POLLS} polls (warm). CPU time is the sum of the
  process's threads' `/proc/PID/task/*/schedstat` (ns), divided by the DescribeAgent calls its simulator
  counted; memory is its resident set size at the end (`VmRSS`; of it, anonymous memory, `RssAnon`: daemon
  {num(SIZES.get('anon_daemon', 0))} MiB, floor {num(SIZES.get('anon_floor', 0))} MiB, boto3 {num(SIZES.get('anon_boto3', 0))} MiB; the rest is clean pages of the binary and
  libraries, which the kernel maps in around every page a process executes). The pollers: the daemon (`run`, `monitor.interval =
  "{POLL_INTERVAL_S}s"`); `bench/boto3_poll.py`, one boto3 client created once and configured like the daemon's
  (timeouts, standard retries, Region, endpoint URL, credentials from the environment), polling at the same
  pace (the strongest Python peer: a Python monitor that keeps its client warm); `bench/floor` (`sdk-floor`),
  the daemon's own SDK client (its `sdk_config` on the daemon's configuration, on its `commands::runtime()`)
  polling at the same pace and doing nothing else: the floor, what the SDK call itself costs. The last peer
  is one `aws datasync describe-agent` process per poll (what a cron-driven shell check runs each interval),
  CPU of the whole process, nearly all of it Python start-up.
- **instructions per poll**: the daemon and the floor at once under `valgrind --tool=callgrind`, each
  counted over {os.environ.get('BENCH_CALLGRIND_POLLS', '20')} whole polls (instrumentation switched on and the counts dumped between two
  polls, after {WARM_POLLS} warm-up polls): user-space instructions only (no kernel time, and valgrind's CPU
  model, without SHA extensions, makes SigV4's SHA-256 dearer than it is natively), but repeatable to a
  fraction of a percent where CPU time moves by several percent from run to run with the machine's load.
- **port sweep**: 443, 1024–1064 and 22 dropped by nftables in a private network namespace; `check` with
  `checks.timeout = "500ms"` against a sequential connect loop with the same timeout.
- **/metrics**: `wrk -t2 -c16 -d{wrk_seconds}s --latency` against the daemon, which renders its metrics on every
  request, and against `prometheus-node-exporter --collector.disable-defaults --collector.textfile
  --web.disable-exporter-metrics`, whose textfile collector serves the daemon's own /metrics saved as a
  `.prom` file (re-read and re-parsed on every scrape): the exporter a cron-driven check would write to.
  The textfile collector adds lines of its own ({SIZES.get('extra', '?')} lines of `node_textfile_*` and
  `node_scrape_collector_*`), so it serves {SIZES.get('theirs', '?')} bytes for the daemon's {SIZES.get('ours', '?')}. Both keep connections alive;
  the daemon holds at most 64 at once, 30 s each, and serves them on its one runtime thread.
- **cold start**: exec to `READY=1` on a `NOTIFY_SOCKET` (state already activated), median of 10; peer: `aws --version`.
"""


def main():
    n = int(os.environ.get("BENCH_ITERATIONS", "10"))
    seconds = int(os.environ.get("BENCH_POLL_SECONDS", "60"))
    wrk_seconds = int(os.environ.get("BENCH_WRK_SECONDS", "10"))
    # BENCH_CASES=daemon runs only that case (and writes no document): for iterating.
    cases = os.environ.get("BENCH_CASES", "activation,daemon,sweep").split(",")
    if "activation" in cases:
        print("1. activation", flush=True)
        bench_activation(n)
    if "daemon" in cases:
        print("2, 4, 5. daemon: polling, /metrics, cold start", flush=True)
        bench_daemon(seconds, wrk_seconds)
    if "sweep" in cases:
        print("3. port sweep", flush=True)
        bench_sweep(500)
    table, doc = document(n, seconds, wrk_seconds)
    print("\n" + "\n".join(table))
    if "BENCH_CASES" not in os.environ:
        path = os.path.join(ROOT, "docs/PERFORMANCE.md")
        open(path, "w").write(doc)
        print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
