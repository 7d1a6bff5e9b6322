"""The HTTP service layer: limits (431, 413, timeouts, connection cap), overload (503 with
Retry-After in each client's language), routing, logging, CRL and CA certificate publication,
metrics, and orderly shutdown."""
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from cryptography import x509

from conftest import make_csr, openssl, start_server, stop_server


def get(url, headers=None, cafile=None, timeout=10, method="GET", data=None):
    req = urllib.request.Request(url, headers=headers or {}, method=method, data=data)
    ctx = ssl.create_default_context(cafile=cafile) if cafile else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def raw(port, data, timeout=10):
    """Sends raw bytes, returns everything the server answers until it closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    s.close()
    return out


def test_routing_and_errors(server):
    assert get(server.http + "/nope")[0] == 404
    assert get(server.http + "/tsa")[0] == 405               # GET on a POST route
    st, h, body = get(server.http + "/healthz", method="HEAD")
    assert st == 200 and body == b""
    st, h, body = get(server.https + "/", cafile=server.cafile)
    assert st == 200 and "証明書発行サービス" in body.decode()
    assert h["Content-Type"].startswith("text/html")
    # the portal listener does not serve OCSP; the plain one does not serve the API
    assert get(server.https + "/ocsp", method="POST", data=b"x", cafile=server.cafile)[0] == 404
    assert get(server.http + "/api/v1/certificates")[0] == 404


def test_http10_without_port(server):
    out = raw(server.http_port, b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 200") or out.startswith(b"HTTP/1.1 200"), out[:80]


def test_header_limit_431(server):
    st, _, _ = get(server.http + "/healthz", headers={"X-Big": "a" * 40000})
    assert st == 431
    assert get(server.http + "/healthz")[0] == 200


def test_body_limit_413(server):
    body = b"\x30" * (70 * 1024)
    st, h, _ = get(server.http + "/ocsp", method="POST", data=body,
                   headers={"Content-Type": "application/ocsp-request"})
    assert st == 413
    # chunked, without a declared length
    req = (b"POST /tsa HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
           b"Content-Type: application/timestamp-query\r\nConnection: close\r\n\r\n")
    chunk = b"a" * 8192
    for _ in range(10):
        req += b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    req += b"0\r\n\r\n"
    out = raw(server.http_port, req)
    assert b" 413 " in out.split(b"\r\n")[0], out[:100]
    # an API client gets problem+json, as soon as it declares too large a body
    ctx = ssl.create_default_context(cafile=server.cafile)
    with socket.create_connection(("127.0.0.1", server.https_port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            t.sendall(b"POST /api/v1/certificates HTTP/1.1\r\nHost: localhost\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 1200000\r\n\r\n")
            out = b""
            while b"\r\n\r\n" not in out or not out.rstrip().endswith(b"}"):
                b = t.recv(65536)
                if not b:
                    break
                out += b
    assert out.startswith(b"HTTP/1.1 413"), out[:80]
    assert b"application/problem+json" in out
    assert get(server.http + "/healthz")[0] == 200


def test_slow_client_timeout(ca_sqlite):
    srv = start_server(ca_sqlite, "http.timeout = 2")
    try:
        s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=10)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")   # never finishes its headers
        t0 = time.time()
        assert s.recv(100) == b""                           # closed by the server
        assert time.time() - t0 < 8
        s.close()
        assert get(srv.http + "/healthz")[0] == 200
    finally:
        stop_server(srv)


def test_dribbled_body_is_cut_off(ca_sqlite):
    """A body that never completes holds its in-flight slot only until http.timeout."""
    srv = start_server(ca_sqlite, "http.timeout = 2\nhttp.max_inflight = 1")
    try:
        s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=10)
        s.sendall(b"POST /tsa HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                  b"Content-Type: application/timestamp-query\r\n\r\n")
        t0 = time.time()
        closed = False
        while time.time() - t0 < 8:
            try:
                s.sendall(b"a")           # never idle, never complete
            except OSError:
                closed = True
                break
            time.sleep(0.3)
        s.close()
        assert closed, "the server kept a dribbling request open"
        assert time.time() - t0 < 6
        assert get(srv.http + "/healthz")[0] == 200      # the slot is free again
    finally:
        stop_server(srv)


def test_connection_cap(ca_sqlite):
    """Beyond the cap a connection is not served (it waits in the backlog) until one ends."""
    # (all from one address: no per-address cap here, see test_connection_cap_per_ip)
    srv = start_server(ca_sqlite, "http.max_connections = 4\nhttp.threads = 1\n"
                                  "http.max_connections_per_ip = 0")
    held = []
    try:
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            held.append(s)
        time.sleep(0.3)
        s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=1)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with pytest.raises(socket.timeout):
            s.recv(100)                        # not served while 4 are open
        for h in held:
            h.close()
        held = []
        s.settimeout(10)
        assert s.recv(100).startswith(b"HTTP/1.1 200")
        s.close()
        assert get(srv.http + "/healthz")[0] == 200
    finally:
        for h in held:
            h.close()
        stop_server(srv)


def test_connection_cap_per_ip(ca_sqlite):
    """One address holds at most http.max_connections_per_ip connections (default a quarter
    of the cap): the next is closed at once, others are served; a freed one is taken again."""
    srv = start_server(ca_sqlite, "http.max_connections_per_ip = 2")
    held = []
    try:
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            held.append(s)
        time.sleep(1.5)  # both accepted (a loaded machine's poll threads take a while)
        s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=5)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            got = s.recv(100)
        except (ConnectionResetError, BrokenPipeError):
            got = b""

        def closed(c):
            """1 when the server closed c without an answer, 0 while it keeps it open."""
            c.settimeout(1)
            try:
                return 1 if c.recv(100) == b"" else 0
            except socket.timeout:
                return 0
            except (ConnectionResetError, BrokenPipeError):
                return 1

        # exactly one of the three is refused (closed without an answer): the third, or, when
        # a loaded machine accepted it before a held one, that held one
        if got == b"":
            assert [closed(h) for h in held] == [0, 0]
        else:
            assert got.startswith(b"HTTP/1.1 200"), got
            assert sorted(closed(h) for h in held) == [0, 1]
        s.close()
        held.pop().close()
        time.sleep(0.3)
        assert get(srv.http + "/healthz")[0] == 200
    finally:
        for h in held:
            h.close()
        stop_server(srv)


SLOW_POST = (b"POST /tsa HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n"
             b"Content-Type: application/timestamp-query\r\n\r\nabc")


def hold_slot(port, cafile=None, request=SLOW_POST):
    """A request whose body never finishes: it occupies one 'in flight' slot."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if cafile:
        s = ssl.create_default_context(cafile=cafile).wrap_socket(s, server_hostname="localhost")
    s.sendall(request)
    return s


def hold_slots(n, port, cafile=None, request=SLOW_POST, wait=10.0):
    """n connections that each hold a slot: one answered at once (503) was refused because a
    slot was still counted for an earlier request (start_server's last /healthz, until
    libmicrohttpd reports it complete), so it is opened again."""
    held, deadline = [], time.time() + wait
    while len(held) < n:
        s = hold_slot(port, cafile, request)
        s.settimeout(0.3)
        try:
            answered = s.recv(100) != b""
        except socket.timeout:
            answered = False
        if not answered:
            s.settimeout(10)
            held.append(s)
            continue
        s.close()
        if time.time() > deadline:
            for h in held:
                h.close()
            raise AssertionError(f"{len(held)} of {n} slots held after {wait} s")
        time.sleep(0.2)
    return held


def get_until(status, *args, wait=10.0, **kw):
    """GET until the answer has STATUS (held slots are counted once the server
    has read their headers, which takes a moment on a busy machine); returns the
    last answer, so the caller's assertion shows what came instead."""
    deadline = time.time() + wait
    while True:
        r = get(*args, **kw)
        if r[0] == status or time.time() > deadline:
            return r
        time.sleep(0.1)


SLOW_API_POST = (b"POST /api/v1/certificates HTTP/1.1\r\nHost: localhost\r\n"
                 b"Content-Length: 100\r\nContent-Type: application/json\r\n\r\n{")


def test_overload_503(ca_sqlite):
    # the HTTPS slots are held by API bodies, whose time (http.body_timeout) outlasts the
    # test however slow the machine; a TSA body would be cut after its 5 s
    srv = start_server(ca_sqlite, "http.max_inflight = 2\nhttp.body_timeout = 120\n"
                                  "http.timeout = 120")
    held = []
    try:
        held = hold_slots(2, srv.http_port)
        st, h, body = get_until(503, srv.http + "/healthz")
        assert st == 503 and h.get("Retry-After") == "2"
        held += hold_slots(2, srv.https_port, srv.cafile, SLOW_API_POST)
        # an HTML route answers with a page in Japanese and English
        st, h, body = get_until(503, srv.https + "/", cafile=srv.cafile)
        assert st == 503 and h.get("Retry-After") == "2"
        assert h["Content-Type"].startswith("text/html")
        text = body.decode()
        assert "混み合っています" in text and "Service busy" in text
        # the API answers with problem+json
        st, h, body = get(srv.https + "/api/v1/certificates", cafile=srv.cafile)
        assert st == 503 and h["Content-Type"] == "application/problem+json"
        assert h.get("Retry-After") == "2"
        for s in held:
            s.close()
        held = []
        assert get_until(200, srv.http + "/healthz")[0] == 200   # recovers when load drops
        assert get_until(200, srv.https + "/", cafile=srv.cafile)[0] == 200
    finally:
        for s in held:
            s.close()
        stop_server(srv)


def test_ten_times_load(ca_sqlite):
    """Far more concurrent clients than threads: no crash, no deadlock, recovery after."""
    srv = start_server(ca_sqlite, "http.threads = 2\nhttp.max_inflight = 8")
    stop = time.time() + 5
    counts = {"ok": 0, "busy": 0, "other": 0}
    lock = threading.Lock()

    def client():
        while time.time() < stop:
            try:
                st = get(srv.http + "/crl/shomei.crl", timeout=10)[0]
            except OSError:
                st = -1
            with lock:
                key = "ok" if st == 200 else "busy" if st == 503 else "other"
                counts[key] += 1

    try:
        ts = [threading.Thread(target=client) for _ in range(80)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        assert not any(t.is_alive() for t in ts)
        assert srv.proc.poll() is None
        assert counts["ok"] > 0
        assert get(srv.http + "/healthz")[0] == 200
    finally:
        stop_server(srv)


def test_log_escapes_untrusted(server):
    get(server.http + "/x%1b%5b31mred%0aforged")
    deadline = time.time() + 10
    while "forged" not in server.log_text() and time.time() < deadline:
        time.sleep(0.1)
    log = server.log_text()
    assert "\x1b[31m" not in log and "\nforged" not in log
    assert "\\x1b" in log and "\\x0a" in log


def test_sigterm_finishes_inflight(ca_sqlite):
    srv = start_server(ca_sqlite)
    s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=20)
    s.sendall(b"POST /tsa HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n"
              b"Content-Type: application/timestamp-query\r\n\r\nab")
    time.sleep(0.3)
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert srv.proc.poll() is None                 # still finishing the request
    s.sendall(b"cde")
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    assert out.startswith(b"HTTP/1.1 "), out[:60]
    assert srv.proc.wait(30) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.http_port), timeout=2)


def served_cert_serial(port):
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    return x509.load_pem_x509_certificate(pem.encode()).serial_number


def test_sighup_reload(server, tmp_path):
    """SIGHUP re-reads the configuration and files: a renewed HTTPS certificate is served,
    with no failed request while the web process is replaced."""
    inst = server.inst
    before = served_cert_serial(server.https_port)
    csr, key = make_csr(tmp_path, subj="/CN=localhost", san="DNS:localhost,IP:127.0.0.1")
    new = str(tmp_path / "https.pem")
    inst.ok("issue", "--profile", "server", "--csr", csr, "--out", new)
    os.replace(new, inst.path("certs", "https.pem"))
    os.replace(key, inst.path("keys", "https.key.pem"))
    failures = []
    # requests all through the reload: until half a second after it is done (the new
    # generation starts a signer and a web process, which takes longer on a loaded machine)
    stop = time.time() + 30
    done = []

    def client():
        while time.time() < stop and not (done and time.time() > done[0] + 0.5):
            try:
                if get(server.http + "/healthz", timeout=5)[0] != 200:
                    failures.append("status")
            except OSError as e:
                failures.append(str(e))
            if not done and "configuration reloaded" in server.log_text():
                done.append(time.time())

    t = threading.Thread(target=client)
    t.start()
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGHUP)
    t.join(40)
    assert failures == []
    assert "configuration reloaded" in server.log_text()
    after = served_cert_serial(server.https_port)
    assert after != before
    with open(inst.path("certs", "https.pem"), "rb") as f:
        assert after == x509.load_pem_x509_certificate(f.read()).serial_number
    assert get(server.https + "/healthz", cafile=server.cafile)[0] == 200


def test_sighup_bad_config_refused(server):
    with open(server.inst.path("shomei.conf"), "a") as f:
        f.write("\nno_such_key = 1\n")
    server.proc.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    assert "configuration not reloaded" in server.log_text()
    assert "no_such_key" in server.log_text()
    assert server.proc.poll() is None
    assert get(server.http + "/healthz")[0] == 200


def test_metrics(server):
    get(server.http + "/healthz")
    get(server.http + "/nope")
    st, h, body = get(server.http + "/metrics")
    text = body.decode()
    assert st == 200 and h["Content-Type"].startswith("text/plain")
    assert '# TYPE shomei_http_requests_total counter' in text
    assert 'shomei_http_requests_total{route="healthz",code="200"}' in text
    assert 'shomei_http_requests_total{route="other",code="404"}' in text
    assert "shomei_signer_latency_seconds_bucket" in text


def test_ca_certificates(server):
    st, h, der = get(server.http + "/ca/shomei.crt")
    assert st == 200 and h["Content-Type"] == "application/pkix-cert"
    with open(server.inst.path("certs", "issuing.pem"), "rb") as f:
        issuing = x509.load_pem_x509_certificate(f.read())
    assert x509.load_der_x509_certificate(der) == issuing
    st, h, pem = get(server.http + "/ca/shomei.pem")
    assert st == 200 and pem.count(b"BEGIN CERTIFICATE") == 2
    st, h, der = get(server.http + "/ca/shomei-root.crt")
    assert st == 200
    assert get(server.http + "/ca/other.crt")[0] == 404


def wait_crl(url, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        st, h, body = get(url)
        if st == 200:
            return h, body
        time.sleep(0.2)
    raise AssertionError("no CRL at " + url)


def test_crl_publication(server, tmp_path):
    inst = server.inst
    csr, _ = make_csr(tmp_path, subj="/CN=bad.example.jp", san="DNS:bad.example.jp")
    bad = str(tmp_path / "bad.pem")
    inst.ok("issue", "--profile", "server", "--csr", csr, "--out", bad)
    csr2, _ = make_csr(tmp_path, subj="/CN=good.example.jp", san="DNS:good.example.jp")
    good = str(tmp_path / "good.pem")
    inst.ok("issue", "--profile", "server", "--csr", csr2, "--out", good)
    serial = openssl("x509", "-in", bad, "-noout", "-serial").stdout.decode().strip()[7:]
    inst.ok("crl")                       # the schedule made one already; this is newer
    time.sleep(1.1)
    inst.ok("revoke", serial, "--reason", "keyCompromise")
    inst.ok("crl", "--delta")
    h, full = wait_crl(server.http + "/crl/shomei.crl")
    assert h["Content-Type"] == "application/pkix-crl"
    assert "ETag" in h and "Last-Modified" in h and "Expires" in h
    crl = x509.load_der_x509_crl(full)
    assert h["Expires"] == crl.next_update.strftime("%a, %d %b %Y %H:%M:%S GMT")
    st, h2, _ = get(server.http + "/crl/shomei.crl", headers={"If-None-Match": h["ETag"]})
    assert st == 304
    h, delta = wait_crl(server.http + "/crl/shomei-delta.crl")
    for name, data in (("full.crl", full), ("delta.crl", delta)):
        with open(tmp_path / name, "wb") as f:
            f.write(data)
        openssl("crl", "-inform", "DER", "-in", str(tmp_path / name), "-out",
                str(tmp_path / (name + ".pem")))
    common = ["verify", "-crl_check", "-use_deltas", "-CAfile", inst.path("certs", "root.pem"),
              "-untrusted", inst.path("certs", "issuing.pem"),
              "-CRLfile", str(tmp_path / "full.crl.pem"),
              "-CRLfile", str(tmp_path / "delta.crl.pem")]
    p = openssl(*common, bad, check=False)
    assert p.returncode != 0 and b"revoked" in p.stdout + p.stderr
    p = openssl(*common, good, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert get(server.http + "/crl/other.crl")[0] == 404


def s_client(port, *args):
    """One TLS handshake with openssl s_client; (handshake ok, output)."""
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                        "-servername", "localhost", *args], input=b"", capture_output=True,
                       timeout=30)
    out = (p.stdout + p.stderr).decode(errors="replace")
    ok = "Cipher is (NONE)" not in out and "New, TLS" in out and p.returncode == 0
    return ok, out


def test_tls_settings_and_headers(ca_sqlite):
    """TLS 1.2+ with forward-secret AEAD suites only; HSTS on every HTTPS answer, never on
    plain HTTP; /metrics to metrics.allow only; the security headers of every HTML page."""
    srv = start_server(ca_sqlite)
    try:
        port = srv.https_port
        # old protocols: refused even when the client would take any cipher
        for args in (["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"],
                     ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]):
            ok, out = s_client(port, *args)
            assert not ok, (args, out)
        # TLS 1.2 without forward secrecy or with CBC: refused
        for cipher in ("AES128-SHA", "AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-SHA"):
            ok, out = s_client(port, "-tls1_2", "-cipher", cipher)
            assert not ok, (cipher, out)
        ok, out = s_client(port, "-tls1_2")
        assert ok and "ECDHE-ECDSA-AES256-GCM-SHA384" in out, out
        ok, out = s_client(port, "-tls1_3")
        assert ok and "TLSv1.3" in out, out

        cafile = srv.cafile
        for path in ("/", "/static/shomei.css", "/api/v1/certificates", "/nope"):
            st, h, _ = get(srv.https + path, cafile=cafile)
            assert h.get("Strict-Transport-Security") == "max-age=31536000", (path, st, h)
            assert h.get("X-Content-Type-Options") == "nosniff", (path, h)
        st, h, _ = get(srv.http + "/healthz")
        assert st == 200 and "Strict-Transport-Security" not in h
        # an HTML page: the headers a browser expects, each once
        req = urllib.request.Request(srv.https + "/")
        with urllib.request.urlopen(req, timeout=10,
                                    context=ssl.create_default_context(cafile=cafile)) as r:
            items = r.headers.items()
        names = [k.lower() for k, _ in items]
        for name in ("strict-transport-security", "x-content-type-options",
                     "content-security-policy", "referrer-policy", "x-frame-options",
                     "permissions-policy", "cross-origin-opener-policy",
                     "cross-origin-resource-policy"):
            assert names.count(name) == 1, (name, items)
        h = dict(items)
        assert h["X-Frame-Options"] == "DENY"
        assert h["Cross-Origin-Opener-Policy"] == "same-origin"
        assert "camera=()" in h["Permissions-Policy"]

        # /metrics: loopback by default
        assert get(srv.http + "/metrics")[0] == 200
    finally:
        stop_server(srv)
    srv = start_server(ca_sqlite, extra_conf="metrics.allow = 10.0.0.0/8, 2001:db8::/32")
    try:
        st, _, body = get(srv.http + "/metrics")
        assert st == 403 and b"metrics.allow" in body, (st, body)
        assert get(srv.http + "/healthz")[0] == 200
    finally:
        stop_server(srv)
    # settings that cannot work stop the start with their reason
    for line, msg in (("metrics.allow = 10.0.0.300/8", "metrics.allow: \"10.0.0.300/8\""),
                      ("tls.priorities = NORMAL:+NOSUCH", "tls.priorities: GnuTLS refuses")):
        with open(ca_sqlite.path("shomei.conf"), "a") as f:
            f.write("\n" + line + "\n")
        with pytest.raises(AssertionError) as ei:
            srv = start_server(ca_sqlite)
            stop_server(srv)
        assert msg in str(ei.value), str(ei.value)
        lines = open(ca_sqlite.path("shomei.conf")).read().splitlines()
        with open(ca_sqlite.path("shomei.conf"), "w") as f:
            f.write("\n".join(l for l in lines if l != line) + "\n")


def test_crl_served_from_memory(server, tmp_path):
    """A CRL is read from the store once per new CRL (and its number checked at most once a
    second); 200s, 304s and HEADs in between come from memory, sharing one copy."""
    inst = server.inst
    inst.ok("crl")
    h, first = wait_crl(server.http + "/crl/shomei.crl")

    def served():
        text = get(server.http + "/metrics")[2].decode()
        out = {"memory": 0, "store": 0}
        for line in text.splitlines():
            for src in out:
                if line.startswith('shomei_crl_served_total{source="%s"}' % src):
                    out[src] = int(line.split()[-1])
        return out

    before = served()
    for i in range(30):
        st, h2, body = get(server.http + "/crl/shomei.crl")
        assert st == 200 and body == first and h2["ETag"] == h["ETag"]
        st, _, _ = get(server.http + "/crl/shomei.crl", headers={"If-None-Match": h["ETag"]})
        assert st == 304
        st, _, body = get(server.http + "/crl/shomei.crl", method="HEAD")
        assert st == 200 and body == b""
    after = served()
    assert after["memory"] - before["memory"] >= 80, (before, after)
    assert after["store"] - before["store"] <= 1, (before, after)
    # a CRL made by another process is served within a second or two
    out = inst.ok("crl")
    number = int(out.split("number ")[1].split()[0])
    end = time.time() + 10
    while time.time() < end:
        st, h3, body = get(server.http + "/crl/shomei.crl")
        crl = x509.load_der_x509_crl(body)
        if crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == number:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the new CRL was not served")
    assert h3["ETag"] != h["ETag"] and served()["store"] == after["store"] + 1


def read_answers(socks, timeout):
    """Reads one whole answer (headers and Content-Length bytes) from each socket, all at
    once; returns {socket: status} for those answered within timeout."""
    import selectors
    sel = selectors.DefaultSelector()
    buf = {s: b"" for s in socks}
    got = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    end = time.time() + timeout
    try:
        while len(got) < len(socks) and time.time() < end:
            for key, _ in sel.select(0.2):
                s = key.fileobj
                try:
                    b = s.recv(65536)
                except BlockingIOError:
                    continue
                buf[s] += b
                head, sep, body = buf[s].partition(b"\r\n\r\n")
                clen = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if not b or (sep and clen and len(body) >= int(clen[0].split(b":")[1])):
                    got[s] = int(head.split(b" ")[1]) if head.startswith(b"HTTP/") else -1
                    sel.unregister(s)
    finally:
        sel.close()
        for s in socks:
            s.setblocking(True)
    return got


def test_full_connection_limit_keeps_serving(ca_sqlite):
    """A listener holding its whole connection limit goes on answering: 512 keep-alive
    connections over 4 threads (128 each, the size of libmicrohttpd's epoll batch, which
    once made a thread wait for its timeout with a full batch of requests unread) get every
    request answered, round after round; a client in the backlog is served once some close."""
    srv = start_server(ca_sqlite, "http.max_connections = 512\nhttp.threads = 4\n"
                                  "http.max_connections_per_ip = 0")
    held = []
    try:
        for _ in range(512):
            held.append(socket.create_connection(("127.0.0.1", srv.http_port), timeout=5))
        for rnd in range(20):
            t0 = time.time()
            for s in held:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            got = read_answers(held, 5)
            assert len(got) == 512 and set(got.values()) == {200}, \
                (rnd, len(got), set(got.values()), time.time() - t0)
        # at the limit a new client waits in the backlog; it is served once 8 have closed
        extra = socket.create_connection(("127.0.0.1", srv.http_port), timeout=10)
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        for s in held[:8]:
            s.close()
        held = held[8:]
        t0 = time.time()
        assert extra.recv(100).startswith(b"HTTP/1.1 200")
        assert time.time() - t0 < 3
        extra.close()
        for s in held:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        got = read_answers(held, 5)
        assert len(got) == len(held) and set(got.values()) == {200}
    finally:
        for s in held:
            s.close()
        stop_server(srv)


def test_header_deadline_slowloris(ca_sqlite):
    """A header dribbled a byte at a time (never idle long enough for http.timeout) is cut
    off http.header_timeout after accept; a keep-alive client going at a normal pace is not."""
    srv = start_server(ca_sqlite, "http.header_timeout = 2\nhttp.timeout = 30")
    slow = None
    try:
        keep = socket.create_connection(("127.0.0.1", srv.http_port), timeout=10)
        slow = socket.create_connection(("127.0.0.1", srv.http_port), timeout=10)
        t0 = time.time()
        closed = None
        hdr = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 200
        for i in range(len(hdr)):
            try:
                slow.sendall(hdr[i:i + 1])
            except OSError:
                closed = time.time() - t0
                break
            if i % 4 == 0:            # a normal client on another connection meanwhile
                keep.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                assert read_answers([keep], 5) == {keep: 200}
            if time.time() - t0 > 8:
                break
            time.sleep(0.1)
        if closed is None:           # the server may close without the next send failing
            slow.settimeout(1)
            try:
                closed = time.time() - t0 if slow.recv(100) == b"" else None
            except OSError:
                closed = time.time() - t0
        assert closed is not None and closed < 4, closed
        # the kept-alive connection, idle beyond the header deadline, still serves
        time.sleep(2.5)
        keep.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answers([keep], 5) == {keep: 200}
        keep.close()
    finally:
        if slow is not None:
            slow.close()
        stop_server(srv)


def test_slow_bodies_do_not_starve(ca_sqlite):
    """Slow uploads cannot take every in-flight slot: with 16 slots and 24 dribbling TSA
    bodies (without the rule they would hold all 16), OCSP (a whole body) and healthz still
    answer at once; each dribbling body is cut off after its route's body time (5 s for TSA).
    (Four slots stay free: a request just answered may still count for a moment on a loaded
    machine, until libmicrohttpd reports it complete.)"""
    srv = start_server(ca_sqlite, "http.max_inflight = 16\nhttp.max_connections_per_ip = 0")
    held = []
    try:
        for _ in range(24):
            held.append(hold_slot(srv.http_port))
        time.sleep(0.5)
        t0 = time.time()
        for _ in range(5):
            st, _, _ = get(srv.http + "/ocsp", method="POST", data=b"\x30\x00",
                           headers={"Content-Type": "application/ocsp-request"}, timeout=5)
            assert st != 503, st              # a malformed request: 400, but not "busy"
            assert get(srv.http + "/healthz", timeout=5)[0] == 200
        assert time.time() - t0 < 3
        # the bodies never finish: every connection is closed after 5 s (plus slack)
        end = time.time() + 10
        for s in held:
            s.settimeout(max(0.1, end - time.time()))
            try:
                got = s.recv(100)
            except socket.timeout:
                raise AssertionError("a dribbling body outlived its route's body time")
            except OSError:
                got = b""
            assert got == b"", got            # closed, not answered
        assert time.time() - t0 < 9
    finally:
        for s in held:
            s.close()
        stop_server(srv)


def test_trusted_proxy_forwarded_for(ca_sqlite):
    """Behind a trusted proxy the client is the rightmost X-Forwarded-For entry that is no
    trusted proxy (here seen by metrics.allow, which keys on the same address as the rate
    limits); from any other peer the header is ignored."""
    srv = start_server(ca_sqlite, "http.trusted_proxies = 127.0.0.1, 10.9.0.0/16\n"
                                  "metrics.allow = 10.0.0.0/8 127.0.0.1")
    try:
        m = srv.http + "/metrics"
        # from the proxy without a usable header the client is unknown, not the proxy
        # (which metrics.allow lists here)
        assert get(m)[0] == 403
        assert get(m, headers={"X-Forwarded-For": "10.1.2.3"})[0] == 200
        # a spoofed leftmost entry does not count: the proxy appended the real client
        assert get(m, headers={"X-Forwarded-For": "10.1.2.3, 192.0.2.1"})[0] == 403
        # proxies in the chain are walked over
        assert get(m, headers={"X-Forwarded-For": "192.0.2.1, 10.1.2.3, 10.9.1.1"})[0] == 200
        # garbage: unknown again
        assert get(m, headers={"X-Forwarded-For": "10.1.2.3, junk"})[0] == 403
        assert get(m, headers={"X-Forwarded-For": "[::ffff:10.1.2.3]"})[0] == 200
        # a second header line (a proxy that adds its own) is read after the first
        out = raw(srv.http_port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                 b"X-Forwarded-For: 10.1.2.3\r\n"
                                 b"X-Forwarded-For: 192.0.2.1\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 403"), out[:40]
    finally:
        stop_server(srv)
    # without trusted proxies the header changes nothing
    lines = open(ca_sqlite.path("shomei.conf")).read().splitlines()
    with open(ca_sqlite.path("shomei.conf"), "w") as f:
        f.write("\n".join(l for l in lines if not l.startswith("http.trusted_proxies")) + "\n")
    srv = start_server(ca_sqlite)
    try:
        # (the peer 127.0.0.1 is allowed; a header naming another address is not read)
        assert get(srv.http + "/metrics", headers={"X-Forwarded-For": "192.0.2.1"})[0] == 200
    finally:
        stop_server(srv)
