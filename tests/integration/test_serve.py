"""`shomei serve`: supervisor, signer and web process; /healthz; restart; clean stop."""
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import SHOMEI


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for(pred, seconds=20):
    end = time.time() + seconds
    while time.time() < end:
        try:
            if pred():
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(pid)], capture_output=True)
    res = {}
    for line in out.stdout.decode().split("\n"):
        if line.strip():
            p, name = line.split(None, 1)
            res[name.strip()] = int(p)
    return res


@pytest.fixture
def server(ca):
    port, sport = free_port(), free_port()
    log = open(os.path.join(ca.datadir, "serve.log"), "wb")
    proc = subprocess.Popen([SHOMEI, "-d", ca.datadir, "serve", "--http", f"127.0.0.1:{port}",
                             "--https", f"127.0.0.1:{sport}", "--console", "off"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        # ours answers once its supervisor (which bound both ports) has logged its pid
        assert wait_for(lambda: get(url + "/healthz")[0] == 200 and
                        f"supervisor pid {proc.pid}" in open(log.name).read()), \
            open(log.name).read()
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def test_healthz_and_stop(server):
    proc, url = server
    status, body = get(url + "/healthz")
    assert status == 200 and b'"signer":"ok"' in body and b'"store":"ok"' in body
    assert get(url + "/nope")[0] == 404
    kids = children(proc.pid)
    assert "shomei-signer" in kids and "shomei-web" in kids
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    for pid in kids.values():
        assert not os.path.exists(f"/proc/{pid}") or \
            open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_signer_restart(server):
    proc, url = server
    kids = children(proc.pid)
    old = kids["shomei-signer"]
    os.kill(old, signal.SIGKILL)

    def restarted():
        k = children(proc.pid)
        return k.get("shomei-signer") not in (None, old) and get(url + "/healthz")[0] == 200
    assert wait_for(restarted), "signer was not restarted"
    assert get(url + "/healthz")[1].find(b'"signer":"ok"') >= 0


def test_web_has_no_private_keys(server, ca):
    """The network-facing process never opened a CA key file."""
    proc, url = server
    web = children(proc.pid)["shomei-web"]
    fds = [os.readlink(f"/proc/{web}/fd/{fd}") for fd in os.listdir(f"/proc/{web}/fd")]
    assert not any(".key.pem" in f and "https" not in f for f in fds)
    maps = open(f"/proc/{web}/maps").read()
    assert "softhsm" not in maps and "pkcs11" not in maps


def test_serve_refuses_bad_listen(ca):
    p = subprocess.run([SHOMEI, "-d", ca.datadir, "serve", "--http", "nonsense",
                        "--https", "off"],
                       capture_output=True, timeout=30)
    assert p.returncode != 0


def test_captcha_test_answer_needs_test_instance(ca_sqlite):
    """A predictable CAPTCHA answer is refused unless the instance is marked as a test
    instance and listens on loopback only."""
    from conftest import free_port, start_server, stop_server
    with open(ca_sqlite.path("shomei.conf"), "a") as f:
        f.write("\ntest.captcha_answer = ABCDEF\n")
    p = subprocess.run([SHOMEI, "-d", ca_sqlite.datadir, "serve", "--http",
                        f"127.0.0.1:{free_port()}", "--https", "off"],
                       capture_output=True, timeout=30)
    assert p.returncode != 0 and b"test.instance" in p.stderr, p.stderr
    # (the loopback-only rule itself is unit-tested: tests never bind other addresses)
    with open(ca_sqlite.path("shomei.conf"), "a") as f:
        f.write("test.instance = yes\n")
    srv = start_server(ca_sqlite)                 # loopback + test.instance: starts
    stop_server(srv)


def test_web_crash_gets_a_fresh_signer(server):
    """A web process killed mid-flight may leave answers or half a frame in its signer
    stream: its successor must get a new signer, and signing must keep working."""
    import threading
    proc, url = server
    stop = time.time() + 2

    def load():
        while time.time() < stop:
            try:
                get(url + "/healthz", timeout=5)
            except OSError:
                pass

    for _ in range(2):
        ts = [threading.Thread(target=load) for _ in range(6)]
        for t in ts:
            t.start()
        time.sleep(0.5)
        kids = children(proc.pid)
        os.kill(kids["shomei-web"], signal.SIGKILL)
        for t in ts:
            t.join(30)
        stop = time.time() + 2

        def healthy():
            k = children(proc.pid)
            return ("shomei-web" in k and k["shomei-web"] != kids["shomei-web"]
                    and get(url + "/healthz")[0] == 200)
        assert wait_for(healthy, 30), "web not restarted with a working signer"
        assert children(proc.pid).get("shomei-signer") != kids["shomei-signer"]


def test_hung_signer_fails_fast_and_is_replaced(ca, tmp_path):
    """A signer that stops answering (SIGSTOP: a stuck PKCS#11 device looks the same) must not
    hold HTTP threads: what needs it fails within signer.timeout_ms — /healthz and the API
    with 503 (+ Retry-After), OCSP with tryLater — the supervisor kills the hung signer and
    starts a new one, and signing works again."""
    import threading
    from cryptography.x509 import ocsp
    from conftest import make_csr, start_server, stop_server
    from test_api import Api, org_key
    from test_ocsp import build_request, issue, post

    _, cert = issue(ca, tmp_path, "ocsp.example.com")
    key = org_key(ca, "HUNG")
    csr, _ = make_csr(tmp_path, subj="/CN=www.example.com", san="DNS:www.example.com")
    srv = start_server(ca, extra_conf="signer.timeout_ms = 1000")
    api = Api(srv, key)
    stopped = None
    try:
        stopped = children(srv.proc.pid)["shomei-signer"]
        # a stray SIGUSR1 kills nothing (the web process's notices come over its control
        # socket: it runs as another user and cannot signal the supervisor)
        os.kill(srv.proc.pid, signal.SIGUSR1)
        time.sleep(0.5)
        assert srv.proc.poll() is None
        assert children(srv.proc.pid).get("shomei-signer") == stopped
        os.kill(stopped, signal.SIGSTOP)
        results = {}

        def timed(name, fn):
            t0 = time.time()
            try:
                results[name] = (fn(), time.time() - t0)
            except Exception as ex:  # a hang shows up as the client's timeout
                results[name] = (ex, time.time() - t0)

        def ocsp_nonce():
            body = build_request(ca.path("certs", "issuing.pem"), [cert],
                                 nonce=os.urandom(16))
            st, _, der = post(srv, body)
            return st, ocsp.load_der_ocsp_response(der).response_status

        jobs = {
            "healthz1": lambda: get(srv.http + "/healthz", timeout=15)[0],
            "healthz2": lambda: get(srv.http + "/healthz", timeout=15)[0],
            "ocsp": ocsp_nonce,
            "api": lambda: api.issue(csr),
        }
        ts = [threading.Thread(target=timed, args=(n, f)) for n, f in jobs.items()]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        for name, (res, secs) in results.items():
            assert not isinstance(res, Exception), (name, res, secs)
            assert secs < 5, (name, secs)  # the timeout is 1 s
        assert results["healthz1"][0] == 503 and results["healthz2"][0] == 503
        assert results["ocsp"][0] == (200, ocsp.OCSPResponseStatus.TRY_LATER)
        r = results["api"][0]
        assert r.status_code == 503 and r.headers.get("Retry-After") == "5", (r, r.text)
        assert r.json()["type"] == "urn:shomei:problem:unavailable"

        # the supervisor killed the stopped signer (and reaped it) and started a new one
        def replaced():
            k = children(srv.proc.pid)
            return (k.get("shomei-signer") not in (None, stopped)
                    and get(srv.http + "/healthz")[0] == 200)
        assert wait_for(replaced, 30), srv.log_text()
        assert not os.path.exists(f"/proc/{stopped}")
        log = srv.log_text()
        assert "did not answer the web process in time" in log, log
        assert "web: switched to the restarted signer" in log, log
        # and everything signs again
        st, _, der = post(srv, build_request(ca.path("certs", "issuing.pem"), [cert],
                                             nonce=os.urandom(16)))
        assert ocsp.load_der_ocsp_response(der).response_status == \
            ocsp.OCSPResponseStatus.SUCCESSFUL
        assert api.issue(csr).status_code == 201
        metrics = get(srv.http + "/metrics")[1].decode()
        assert re.search(r"^shomei_signer_timeouts_total(\{\})? 1$", metrics, re.M), metrics
    finally:
        if stopped is not None and os.path.exists(f"/proc/{stopped}"):
            os.kill(stopped, signal.SIGCONT)
        stop_server(srv)


def _set_conf(inst, key, value):
    """Sets key = value in inst's shomei.conf (replacing an earlier line of that key)."""
    path = inst.path("shomei.conf")
    with open(path) as f:
        lines = [ln for ln in f.read().splitlines() if not ln.startswith(key + " ")]
    if value is not None:
        lines.append(f"{key} = {value}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def test_sqlite_kept_in_memory(ca_sqlite):
    """The web process keeps SQLite's WAL and database in memory (locked: the kernel does
    not evict the pages a commit rewrites), within store.resident_mb; 0 keeps nothing; a bad
    value stops serve with a message."""
    from conftest import start_server, stop_server

    def locked(srv):
        web = children(srv.proc.pid)["shomei-web"]
        with open(f"/proc/{web}/status") as f:
            for line in f:
                if line.startswith("VmLck:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmLck")

    wal = ca_sqlite.db + "-wal"
    _set_conf(ca_sqlite, "store.resident_mb", "0")
    srv = start_server(ca_sqlite)
    try:
        time.sleep(0.5)
        without = locked(srv)  # what else is locked (the password hasher's table)
        assert os.path.getsize(wal) >= 2000 * (4096 + 24)  # the WAL's working size
    finally:
        stop_server(srv)
    _set_conf(ca_sqlite, "store.resident_mb", None)  # the default: 1024, or RAM/4
    srv = start_server(ca_sqlite)
    try:
        size = os.path.getsize(wal) + os.path.getsize(ca_sqlite.db)
        assert wait_for(lambda: locked(srv) - without >= size - 4096, 10), \
            (locked(srv), without, size)
        assert "cannot keep" not in srv.log_text()
    finally:
        stop_server(srv)
    _set_conf(ca_sqlite, "store.resident_mb", "-1")
    p = subprocess.run([SHOMEI, "-d", ca_sqlite.datadir, "serve", "--http",
                        f"127.0.0.1:{free_port()}", "--https", "off"],
                       capture_output=True, timeout=30)
    assert p.returncode != 0 and b"store.resident_mb" in p.stdout + p.stderr, p


def test_thread_priorities(server_sqlite):
    """The web process's threads that every issuance waits for (the group commit, the signer's
    receiver) run at nice -10 where the system allows it (root here); the background ones
    (the key and CAPTCHA pools, the password hashers) at 19; the request threads at 0."""
    if os.geteuid() != 0:
        pytest.skip("raising a thread's priority needs root (CAP_SYS_NICE)")
    web = children(server_sqlite.proc.pid)["shomei-web"]

    def nice_of():
        out = {}
        for tid in os.listdir(f"/proc/{web}/task"):
            with open(f"/proc/{web}/task/{tid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{web}/task/{tid}/stat") as f:
                stat = f.read()
            # the fields after the command's closing parenthesis: nice is the 19th in all
            out.setdefault(comm, set()).add(int(stat[stat.rindex(")") + 2:].split()[16]))
        return out

    assert wait_for(lambda: "shomei-batch" in nice_of() and "shomei-sigrx" in nice_of(), 10)
    n = nice_of()
    assert n["shomei-batch"] == {-10} and n["shomei-sigrx"] == {-10}, n
    assert n["shomei-keys"] == {19} and n["shomei-pwhash"] == {19}, n
    assert n["shomei-web"] == {0}, n
