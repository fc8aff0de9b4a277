"""Load benchmark of access-requests against its database's own ceiling.

    python3 bench/run.py --backend sqlite|postgres [--binary target/release/access-requests]

Starts the release binary on a fresh database (SQLite file, or a fresh PostgreSQL database),
sets up one org, site, product, member and site admin through the API, fills the table with
--rows pending requests, and drives each scenario with wrk (--connections, --seconds). Beside
each scenario it runs the ceiling of bench/ceiling/ (pgbench, or the in-process SQLite loop) at
the same concurrency, and prints one table: service req/s, ceiling tps, their ratio, the service
process's CPU time per request, latency p50/p99. Then: list latency by depth, peak RSS with
--rss-connections open connections, and start-to-/readyz time with migrations applied.
`scripts/bench.sh` builds the binary and runs this for either or both backends.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
CEILING = os.path.join(HERE, "ceiling")
SECRET = "bench-hs256-secret-0123456789abcdef-0123"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def psql(url, *args, script=None):
    """psql with the arguments; `script` goes to its standard input (where `:'var'` works)."""
    done = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, *args],
                          input=script, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"psql failed: {done.stderr}")
    return done.stdout


class Service:
    def __init__(self, binary, database_url, receiver_port, workdir):
        self.binary, self.database_url, self.workdir = binary, database_url, workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        hook = f"http://127.0.0.1:{receiver_port}"
        self.env = dict(os.environ, DATABASE_URL=database_url, JWT_HS256_SECRET=SECRET,
                        LISTEN_ADDR=f"127.0.0.1:{self.port}", PLATFORM_ADMINS="bench-admin",
                        GROUP_SERVICE_URL=hook + "/group", GROUP_SERVICE_SECRET="whsec_YmVuY2gtZ3JvdXA=",
                        BILLING_SERVICE_URL=hook + "/billing", BILLING_SERVICE_SECRET="whsec_YmVuY2gtYmlsbA==",
                        NOTIFICATION_SERVICE_URL=hook + "/notify",
                        NOTIFICATION_SERVICE_SECRET="whsec_YmVuY2gtbm90aWZ5",
                        # One requester creates every request: the per-requester limits are off.
                        RATE_LIMIT_CREATE_PER_MINUTE="0", MAX_PENDING_PER_REQUESTER="0")
        self.proc = None

    def start(self):
        started = time.monotonic()
        log = open(os.path.join(self.workdir, "service.log"), "ab")
        self.proc = subprocess.Popen([self.binary], env=self.env, stdout=log, stderr=log)
        while True:
            if self.proc.poll() is not None:
                sys.exit(f"the service exited ({self.proc.returncode}); see {self.workdir}/service.log")
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - started
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() - started > 60:
                sys.exit("the service was not ready within 60 s")
            time.sleep(0.002)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)

    def token(self, sub, email):
        out = subprocess.run([self.binary, "token", "--sub", sub, "--email", email, "--ttl-secs", "86400"],
                             env=self.env, check=True, capture_output=True, text=True)
        return out.stdout.strip()


def wrk(base, script, seconds, connections, threads, env):
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency",
                          "-s", os.path.join(HERE, "wrk", script), base],
                         env=dict(os.environ, BENCH_THREADS=str(threads), **env),
                         check=True, capture_output=True, text=True).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    return {"requests": total, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "non2xx": int(bad.group(1)) if bad else 0, "socket_errors": errors.group(1) if errors else None,
            "p50_ms": pct(50), "p99_ms": pct(99), "raw": out}


def measured(service, script, seconds, connections, threads, env, profile=None):
    """wrk against the service, with the service's CPU time per request; `profile` names a file
    for `perf record` of the service during the run."""
    perf = None
    if profile:
        perf = subprocess.Popen(["perf", "record", "-q", "-F", "499", "-e", "cpu-clock", "--call-graph", "dwarf,16384",
                                 "-p", str(service.proc.pid), "-o", profile], stdout=subprocess.DEVNULL)
    before = cpu_seconds(service.proc.pid)
    result = wrk(service.base, script, seconds, connections, threads, env)
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait()
    result["cpu_us"] = (cpu_seconds(service.proc.pid) - before) * 1e6 / max(result["requests"], 1)
    if result["non2xx"] or result["socket_errors"]:
        print(result["raw"], file=sys.stderr)
        sys.exit(f"{script}: {result['non2xx']} non-2xx responses, socket errors: {result['socket_errors']}")
    return result


class Postgres:
    """The service's database and the ceiling's, both fresh, on one server."""

    def __init__(self, server):
        self.server = server.rstrip("/")
        tag = uuid.uuid4().hex[:8]
        self.service_db, self.ceiling_db = f"bench_service_{tag}", f"bench_ceiling_{tag}"
        for db in (self.service_db, self.ceiling_db):
            psql(self.server + "/postgres", "-c", f"CREATE DATABASE {db}")
        psql(self.url(self.ceiling_db), "-f", os.path.join(CEILING, "schema.sql"))

    def url(self, db):
        return f"{self.server}/{db}"

    def service_url(self):
        return self.url(self.service_db)

    def fill_service(self, site, rows, tag):
        psql(self.service_url(), "-v", f"site={site}", "-v", f"n={rows}", "-v", f"tag={tag}", script=FILL_PG)

    def pending_ids(self, site):
        return psql(self.service_url(), "-At", "-c",
                    f"SELECT id FROM access_requests WHERE site_id = '{site}' AND status = 'pending' ORDER BY random()"
                    ).split()

    def fill_ceiling(self, site, rows):
        psql(self.url(self.ceiling_db), "-v", f"site={site}", "-v", f"n={rows}", "-v", "tag=t", "-v", "reset=1",
             "-f", os.path.join(CEILING, "fill.sql"))

    def ceiling(self, shape, site, seconds, connections, threads):
        out = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", str(connections), "-j", str(threads),
                              "-T", str(seconds), "-D", f"site={site}", "-f", os.path.join(CEILING, f"{shape}.sql"),
                              self.url(self.ceiling_db)], check=True, capture_output=True, text=True).stdout
        return float(re.search(r"tps = ([\d.]+)", out).group(1))

    def drop(self):
        for db in (self.service_db, self.ceiling_db):
            psql(self.server + "/postgres", "-c", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


# The service's schema: n pending on-behalf requests of external subjects, with their audit rows.
FILL_PG = """
INSERT INTO access_requests (id, site_id, product_key, kind, status, requester_account_id, requester_email,
    requester_display_name, requester_on_site, subject_account_id, subject_email, subject_display_name,
    subject_on_site, reason, created_at, version, subject_email_verified)
SELECT gen_random_uuid()::text, :'site', 'jira-software', 'on_behalf', 'pending', 'bench-member',
       'member@example.com', 'Bench Member', true, 'fill-' || :'tag' || '-' || g,
       'fill-' || :'tag' || '-' || g || '@partner.test', 'Fill ' || g, false, 'perf harness',
       (extract(epoch FROM now()) * 1000000)::bigint - (:n - g) * 1000, 1, false
  FROM generate_series(1, :n) AS g;
INSERT INTO audit_events (id, site_id, at, actor_account_id, action, request_id, details)
SELECT gen_random_uuid()::text, site_id, created_at, requester_account_id, 'access_request.created', id,
       '{"product_key":"jira-software"}'
  FROM access_requests WHERE subject_account_id LIKE 'fill-' || :'tag' || '-%';
VACUUM ANALYZE;
"""


class Sqlite:
    def __init__(self, workdir):
        self.service_path = os.path.join(workdir, "service.db")
        self.ceiling_path = os.path.join(workdir, "ceiling.db")
        self.ceiling_script("schema")

    def service_url(self):
        return self.service_path

    def fill_service(self, site, rows, tag):
        import sqlite3
        db = sqlite3.connect(self.service_path, timeout=60)
        now_us = int(time.time() * 1e6)
        with db:
            db.executemany(
                "INSERT INTO access_requests (id, site_id, product_key, kind, status, requester_account_id,"
                " requester_email, requester_display_name, requester_on_site, subject_account_id, subject_email,"
                " subject_display_name, subject_on_site, reason, created_at, version, subject_email_verified)"
                " VALUES (?, ?, 'jira-software', 'on_behalf', 'pending', 'bench-member', 'member@example.com',"
                " 'Bench Member', 1, ?, ?, ?, 0, 'perf harness', ?, 1, 0)",
                ((str(uuid.uuid4()), site, f"fill-{tag}-{g}", f"fill-{tag}-{g}@partner.test", f"Fill {g}",
                  now_us - (rows - g) * 1000) for g in range(1, rows + 1)))
            db.execute(
                "INSERT INTO audit_events (id, site_id, at, actor_account_id, action, request_id, details)"
                " SELECT lower(hex(randomblob(16))), site_id, created_at, requester_account_id,"
                " 'access_request.created', id, '{\"product_key\":\"jira-software\"}'"
                " FROM access_requests WHERE subject_account_id LIKE ?", (f"fill-{tag}-%",))
        db.execute("ANALYZE")
        db.close()

    def pending_ids(self, site):
        import sqlite3
        db = sqlite3.connect(self.service_path, timeout=60)
        ids = [r[0] for r in db.execute(
            "SELECT id FROM access_requests WHERE site_id = ? AND status = 'pending' ORDER BY random()", (site,))]
        db.close()
        return ids

    def ceiling_script(self, *args):
        out = subprocess.run([sys.executable, os.path.join(CEILING, "sqlite_ceiling.py"), self.ceiling_path,
                              *map(str, args)], check=True, capture_output=True, text=True).stdout
        return json.loads(out) if out.strip() else None

    def fill_ceiling(self, site, rows):
        self.ceiling_script("fill", rows, site, "t", "reset")

    def ceiling(self, shape, site, seconds, connections, threads):
        return self.ceiling_script(shape, seconds, site)["tps"]

    def drop(self):
        pass


def set_up(service, admin):
    org = http("POST", service.base + "/v1/orgs", admin, {"name": "Bench", "verified_domains": ["example.com"]})["id"]
    http("PUT", f"{service.base}/v1/orgs/{org}/admins/bench-admin", admin)
    site = http("POST", f"{service.base}/v1/orgs/{org}/sites", admin,
                {"name": "Bench Jira", "url": "https://bench.atlassian.net"})["id"]
    http("PUT", f"{service.base}/v1/sites/{site}/products/jira-software", admin,
         {"name": "Jira Software", "default_group": "jira-software-users"})
    http("PUT", f"{service.base}/v1/sites/{site}/users/bench-member", admin,
         {"email": "member@example.com", "display_name": "Bench Member", "role": "member"})
    http("PUT", f"{service.base}/v1/sites/{site}/users/bench-site-admin", admin,
         {"email": "site-admin@example.com", "display_name": "Bench Site Admin", "role": "admin"})
    return site


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--binary", default="target/release/access-requests")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rss-connections", type=int, default=256)
    parser.add_argument("--scenarios", default="create,list,approve,healthz")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--profile", help="a folder: record each scenario with perf (SCENARIO.data) for `perf report`")
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    workdir = tempfile.mkdtemp(prefix="bench-")
    receiver_port = free_port()
    receiver = subprocess.Popen([sys.executable, os.path.join(HERE, "receiver.py"), str(receiver_port)])
    db = Postgres(args.pg) if args.backend == "postgres" else Sqlite(workdir)
    service = Service(binary, db.service_url(), receiver_port, workdir)
    figures = {"backend": args.backend, "rows": args.rows, "connections": args.connections,
               "seconds": args.seconds, "scenarios": {}}
    try:
        service.start()
        admin = service.token("bench-admin", "admin@example.com")
        member = service.token("bench-member", "member@example.com")
        site_admin = service.token("bench-site-admin", "site-admin@example.com")
        site = set_up(service, admin)
        db.fill_service(site, args.rows, "a")
        db.fill_ceiling(site, args.rows)
        collection = f"/v1/sites/{site}/access-requests"
        for name in args.scenarios.split(","):
            profile = os.path.join(os.path.abspath(args.profile), f"{name}.data") if args.profile else None
            run = lambda script, **env: measured(service, script, args.seconds, args.connections, args.threads, env,
                                                 profile)
            if name == "create":
                result = run("create.lua", BENCH_TOKEN=member, BENCH_PATH=collection, BENCH_RUN=uuid.uuid4().hex[:8])
            elif name == "list":
                result = run("get.lua", BENCH_TOKEN=site_admin, BENCH_PATH=collection + "?status=pending&limit=50")
            elif name == "approve":
                ids = os.path.join(workdir, "ids")
                with open(ids, "w") as f:
                    f.write("\n".join(db.pending_ids(site)) + "\n")
                result = run("approve.lua", BENCH_TOKEN=site_admin, BENCH_PATH=collection, BENCH_IDS=ids)
            elif name == "healthz":
                result = run("get.lua", BENCH_TOKEN="", BENCH_PATH="/healthz")
            else:
                sys.exit(f"unknown scenario {name}")
            if name != "healthz":
                result["ceiling_tps"] = db.ceiling(name, site, args.seconds, args.connections, args.threads)
            result.pop("raw")
            figures["scenarios"][name] = result
            print(f"# {name}: {json.dumps(result)}", file=sys.stderr)
        figures["depth"] = depth(service, site_admin, collection)
        # The peak while 256 connections are open, not the peak of the scenarios before.
        with open(f"/proc/{service.proc.pid}/clear_refs", "w") as f:
            f.write("5")
        rss = wrk(service.base, "get.lua", 5, args.rss_connections, args.threads,
                  {"BENCH_TOKEN": site_admin, "BENCH_PATH": collection + "?status=pending&limit=50"})
        figures["rss"] = {"connections": args.rss_connections, "peak_mib": peak_rss_mib(service.proc.pid),
                          "non2xx": rss["non2xx"], "rps": rss["rps"]}
        service.stop()
        figures["start_to_ready_ms"] = min(restart(service) for _ in range(3)) * 1000
    finally:
        if service.proc and service.proc.poll() is None:
            service.stop()
        receiver.terminate()
        db.drop()
    print_table(figures)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    shutil.rmtree(workdir, ignore_errors=True)


def restart(service):
    took = service.start()
    service.stop()
    return took


def depth(service, token, collection):
    """Mean latency (one connection) of the first page and of a page 50 000 rows deep."""
    first = collection + "?status=pending&limit=50"
    cursor, seen = None, 0
    while seen < 50_000:
        page = http("GET", service.base + collection + "?status=pending&limit=200"
                    + (f"&cursor={cursor}" if cursor else ""), token)
        seen += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    out = {"first_ms": wrk(service.base, "get.lua", 3, 1, 1, {"BENCH_TOKEN": token, "BENCH_PATH": first})["p50_ms"],
           "rows_deep": seen}
    if cursor:
        deep = wrk(service.base, "get.lua", 3, 1, 1, {"BENCH_TOKEN": token, "BENCH_PATH": first + "&cursor=" + cursor})
        out["deep_ms"] = deep["p50_ms"]
        out["ratio"] = out["deep_ms"] / out["first_ms"]
    return out


def print_table(f):
    print(f"\n{f['backend']}: {f['rows']} rows, {f['connections']} connections, {f['seconds']} s per scenario\n")
    print("| scenario | service req/s | ceiling tps | ratio | service CPU per request | p50 | p99 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in f["scenarios"].items():
        ceiling = r.get("ceiling_tps")
        print(f"| {name} | {r['rps']:.0f} | {ceiling:.0f} | {r['rps'] / ceiling:.2f} |" if ceiling
              else f"| {name} | {r['rps']:.0f} | – | – |", end="")
        print(f" {r['cpu_us']:.0f} µs | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms |")
    d = f["depth"]
    print(f"\nlist, one connection: first page {d['first_ms']:.2f} ms; {d['rows_deep']} rows deep "
          + (f"{d['deep_ms']:.2f} ms ({d['ratio']:.2f}x)" if "deep_ms" in d else "(the list ended first)"))
    print(f"peak RSS with {f['rss']['connections']} connections: {f['rss']['peak_mib']:.1f} MiB")
    print(f"start to /readyz 200 (migrations applied, best of 3): {f['start_to_ready_ms']:.0f} ms")


if __name__ == "__main__":
    main()
