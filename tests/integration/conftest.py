"""Shared fixtures: a real shomei binary, a fresh CA per test, both store backends."""
import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHOMEI = os.environ.get("SHOMEI_BIN", os.path.join(ROOT, "build", "shomei"))


def pg_conninfo():
    """The throwaway cluster started by scripts/with-pg.sh; the PG tests fail without it."""
    return os.environ.get("SHOMEI_TEST_PG")


class Instance:
    """One initialised shomei data directory."""

    def __init__(self, datadir, backend, pgdb=None):
        self.datadir = datadir
        self.backend = backend
        self.pgdb = pgdb

    def run(self, *args, input=None, env=None, timeout=120):
        e = dict(os.environ)
        if env:
            e.update(env)
        return subprocess.run([SHOMEI, "-d", self.datadir, *args], input=input,
                              capture_output=True, timeout=timeout, env=e)

    def ok(self, *args, **kw):
        p = self.run(*args, **kw)
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
        return p.stdout.decode()

    def path(self, *parts):
        return os.path.join(self.datadir, *parts)

    @property
    def db(self):
        """The SQLite store, in a directory of its own (the web process's user writes it)."""
        return self.path("db", "shomei.db")

    @property
    def root_key(self):
        """Where init puts the root key: outside the data directory."""
        return self.datadir.rstrip("/") + ".offline/root.key.pem"

    def sql(self, query):
        """Runs SQL directly against the store (for tamper tests); returns rows as lists."""
        if self.backend == "sqlite":
            import sqlite3
            con = sqlite3.connect(self.db)
            try:
                cur = con.execute(query)
                rows = cur.fetchall()
                con.commit()
                return [list(r) for r in rows]
            finally:
                con.close()
        host = os.environ["SHOMEI_TEST_PGHOST"]
        p = subprocess.run(["psql", "-h", host, "-U", "postgres", "-d", self.pgdb, "-At",
                            "-v", "ON_ERROR_STOP=1", "-c", query],
                           capture_output=True, check=True, timeout=60)
        return [line.split("|") for line in p.stdout.decode().splitlines() if line]


def make_pg_db():
    host = os.environ.get("SHOMEI_TEST_PGHOST")
    assert host, "PostgreSQL tests need scripts/with-pg.sh (SHOMEI_TEST_PG unset)"
    name = "t_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", "-h", host, "-U", "postgres", "-d", "postgres", "-c",
                    f"CREATE DATABASE {name}"], check=True, capture_output=True, timeout=60)
    return name, f"host={host} dbname={name} user=postgres"


# PBKDF2 rounds of the test instances' keys: 600,000 (the default, which unit tests check)
# cost every serve start and every signing CLI command most of a second
KEY_ROUNDS = ("--key-rounds", "1000")


def new_instance(tmp_path, backend, *init_args, env=None):
    datadir = str(tmp_path / "var")
    pgdb = None
    args = [*KEY_ROUNDS, *init_args]
    if backend == "pg":
        pgdb, conninfo = make_pg_db()
        args += ["--store", conninfo]
    inst = Instance(datadir, backend, pgdb)
    p = inst.run("init", *args, env=env)
    assert p.returncode == 0, p.stderr
    return inst


@pytest.fixture(params=["sqlite", "pg"])
def ca(request, tmp_path):
    return new_instance(tmp_path, request.param)


@pytest.fixture
def ca_sqlite(tmp_path):
    return new_instance(tmp_path, "sqlite")


def openssl(*args, input=None, check=True):
    p = subprocess.run(["openssl", *args], input=input, capture_output=True, timeout=120)
    if check:
        assert p.returncode == 0, (args, p.stderr)
    return p


def make_csr(tmp_path, subj="/CN=test", san=None, key="ec:P-256", name=None, extra=()):
    """Key + CSR made by `openssl req`; returns (csr_path, key_path)."""
    name = name or uuid.uuid4().hex[:8]
    keyp = str(tmp_path / f"{name}.key")
    csrp = str(tmp_path / f"{name}.csr")
    if key.startswith("ec:"):
        newkey = ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{key[3:]}"]
    else:
        newkey = ["-newkey", key]
    args = ["req", "-new", *newkey, "-nodes", "-keyout", keyp, "-out", csrp, "-subj", subj,
            "-utf8"]
    if san:
        args += ["-addext", f"subjectAltName={san}"]
    args += list(extra)
    openssl(*args)
    return csrp, keyp


@pytest.fixture
def tmpdir_short():
    d = tempfile.mkdtemp(prefix="shomei-it-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """A running `shomei serve` on free loopback ports (plain HTTP and HTTPS)."""

    def __init__(self, inst, proc, http_port, https_port, log, console_port=None):
        self.inst = inst
        self.proc = proc
        self.http = f"http://127.0.0.1:{http_port}"
        self.https = f"https://localhost:{https_port}"
        self.console = f"https://localhost:{console_port}" if console_port else None
        self.http_port = http_port
        self.https_port = https_port
        self.console_port = console_port
        self.cafile = inst.path("certs", "root.pem")
        self.log = log

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")


def start_server(inst, extra_conf="", args=(), ports=None):
    """Starts serve on inst; extra_conf lines are appended to shomei.conf first.  ports:
    (http, https) to listen on (e.g. the ports of a previous run), else two free ones."""
    import signal
    import time
    import urllib.request
    if extra_conf:
        with open(inst.path("shomei.conf"), "a") as f:
            f.write("\n" + extra_conf + "\n")
    if ports is None:
        # a port found free may be taken by another process before serve binds it: new
        # ports then, a few times (only for that failure)
        for _ in range(3):
            hp, sp = free_port(), free_port()
            while sp == hp:
                sp = free_port()
            try:
                return start_server(inst, args=args, ports=(hp, sp))
            except AssertionError as e:
                if "Address already in use" not in str(e):
                    raise
        raise AssertionError("serve: no free ports after 3 tries")
    hp, sp = ports[0], ports[1]
    # the console listener (listen.console): a free port of its own unless given
    cp = ports[2] if len(ports) > 2 else free_port()
    log = inst.path("serve.log")
    logf = open(log, "ab")
    proc = subprocess.Popen([SHOMEI, "-d", inst.datadir, "serve", "--http", f"127.0.0.1:{hp}",
                             "--https", f"127.0.0.1:{sp}", "--console", f"127.0.0.1:{cp}",
                             *args],
                            stdout=logf, stderr=subprocess.STDOUT)
    logf.close()
    srv = Server(inst, proc, hp, sp, log, cp)
    # a /healthz answer alone may come from another test's server that took the port first
    # (ours then exits with "Address already in use"): ours has bound both ports once its
    # supervisor logs its pid
    mine = f"supervisor pid {proc.pid}"
    end = time.time() + 30
    while time.time() < end:
        if proc.poll() is not None:
            raise AssertionError("serve exited: " + srv.log_text())
        try:
            with urllib.request.urlopen(srv.http + "/healthz", timeout=2) as r:
                if r.status == 200 and mine in srv.log_text():
                    return srv
        except OSError:
            pass
        time.sleep(0.1)
    stop_server(srv)
    raise AssertionError("serve did not become healthy: " + srv.log_text())


def stop_server(srv):
    import signal
    if srv.proc.poll() is None:
        srv.proc.send_signal(signal.SIGTERM)
        try:
            srv.proc.wait(30)
        except subprocess.TimeoutExpired:
            srv.proc.kill()
            srv.proc.wait()


@pytest.fixture
def server(ca):
    """serve on a fresh CA, once per store backend."""
    srv = start_server(ca)
    yield srv
    stop_server(srv)


@pytest.fixture
def server_sqlite(ca_sqlite):
    srv = start_server(ca_sqlite)
    yield srv
    stop_server(srv)


# --- headless Chromium for page walks (tests/integration/browser.py) ---

@pytest.fixture
def browser(request):
    """A factory: browser(cafile, lang="ja") starts a headless Chromium trusting cafile and
    returns a browser.Browser; screenshots go to tests/artifacts/screenshots/<test>/.
    browser.quit_all() ends them early (before stopping the server: shomei's shutdown waits
    for a browser's idle keep-alive connections); every browser is quit at teardown."""
    import browser as browser_mod
    b = browser_mod.Browsers(request.node.name)
    yield b
    rep = getattr(request.node, "shomei_rep_call", None)
    b.quit_all(failed=rep is not None and rep.failed)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps the call phase's report on the item (for the browser fixture's failure shot)."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.shomei_rep_call = rep


# --- longest first under pytest-xdist (make integration: -n 2) ---
#
# The tests run longest first by the times in durations.txt (seconds and node id; a run with
# SHOMEI_DURATIONS_OUT=file writes that file, `make integration` writes
# build/integration-durations.txt: copy it over to refresh), so that under pytest-xdist's load
# scheduling the run ends on short tests on both workers instead of
# on a long test that started last.  xdist hands out the first quarter of the tests in two
# contiguous chunks, then ever smaller batches in this order.  A test not in the file counts as
# DEFAULT_SECONDS.  Tests sharing a module- or class-scoped fixture stay together (their
# module's order, so the fixture is made once per worker), weighed by their sum.

DURATIONS = os.path.join(os.path.dirname(__file__), "durations.txt")
DEFAULT_SECONDS = 5.0


def _recorded_durations():
    out = {}
    try:
        with open(DURATIONS, encoding="utf-8") as f:
            for line in f:
                secs, _, nodeid = line.strip().partition(" ")
                if nodeid:
                    out[nodeid] = float(secs)
    except (OSError, ValueError):
        return {}
    return out


_measured = {}


def pytest_runtest_logreport(report):
    """Adds up each test's setup, call and teardown (on the controller: every worker's)."""
    _measured[report.nodeid] = _measured.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session, exitstatus):
    out = os.environ.get("SHOMEI_DURATIONS_OUT")
    if not out or hasattr(session.config, "workerinput") or not _measured:
        return
    with open(out, "w", encoding="utf-8") as f:
        for nodeid, secs in sorted(_measured.items(), key=lambda kv: (-kv[1], kv[0])):
            f.write(f"{secs:.1f} {nodeid}\n")


def pytest_collection_modifyitems(session, config, items):
    """Reorders the tests longest first (groups sharing a wider fixture kept whole)."""
    times = _recorded_durations()
    if not times:
        return
    groups = {}
    for i, item in enumerate(items):
        defs = getattr(item, "_fixtureinfo", None)
        shared = defs is not None and any(
            d.scope in ("module", "class")
            for fds in defs.name2fixturedefs.values() for d in fds)
        key = item.nodeid.split("::")[0] if shared else item.nodeid
        g = groups.setdefault(key, [i, 0.0, []])
        g[1] += times.get(item.nodeid, DEFAULT_SECONDS)
        g[2].append(item)
    order = sorted(groups.values(), key=lambda g: (-g[1], g[0]))
    items[:] = [item for g in order for item in g[2]]


# --- kill -9 of a whole `serve` (crash and scale-out tests) ---

def serve_pids(srv):
    """The supervisor's pid and its children's (signer, web: the web process has a session
    of its own, so a process group kill would miss it)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(srv.proc.pid)],
                         capture_output=True, timeout=10)
    return [srv.proc.pid] + [int(p) for p in out.stdout.decode().split()]


def kill_serve(srv):
    """SIGKILL to the supervisor, signer and web process of srv at once (each stopped first,
    so none sees another die and does anything about it); waits until all are gone."""
    import signal
    import time
    pids = serve_pids(srv)
    assert len(pids) >= 3, pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    srv.proc.wait(10)
    end = time.time() + 10
    for pid in pids[1:]:
        while time.time() < end and os.path.exists(f"/proc/{pid}"):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().split()[2] == "Z":
                        break
            except OSError:
                break
            time.sleep(0.02)
    return pids
