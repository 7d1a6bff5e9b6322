#!/usr/bin/python3
"""Figures for hostile unauthenticated traffic (issue: bounded cost for unauthenticated
traffic), measured against a real `shomei serve` on loopback:

  1. CAPTCHA flood: one address fetches a form page (each GET makes a CAPTCHA) as fast as it
     can for SECONDS; the rows the store gains, per hour, with the default portal.captcha_rate
     and with the limit lifted (what every GET cost before it existed).
  2. Slow CRL readers: 1,000 connections each request the CRL and read nothing; the web
     process's resident memory before and while they hang, per connection, and how long a
     normal client waits for the CRL meanwhile.

    build/shomei must exist (make).  Run:  /usr/bin/python3 bench/hostile.py [SECONDS]
    (default 120: portal.captcha_rate counts per minute, so a run of whole minutes)
"""
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SHOMEI = os.environ.get("SHOMEI_BIN", os.path.join(ROOT, "build", "shomei"))
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 120  # whole minutes: the limit is per minute


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(datadir, conf):
    with open(os.path.join(datadir, "shomei.conf"), "a") as f:
        f.write("\n" + conf + "\n")
    hp, sp = free_port(), free_port()
    log = open(os.path.join(datadir, "serve.log"), "ab")
    proc = subprocess.Popen([SHOMEI, "-d", datadir, "serve", "--http", f"127.0.0.1:{hp}",
                             "--https", f"127.0.0.1:{sp}", "--console", "off"],
                            stdout=log, stderr=log)
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{hp}/healthz", timeout=2):
                return proc, hp, sp
        except OSError:
            time.sleep(0.1)
    proc.kill()
    with open(os.path.join(datadir, "serve.log"), "rb") as f:
        raise SystemExit("serve did not start:\n" + f.read().decode(errors="replace"))


def stop(proc):
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def web_pid(proc):
    out = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(proc.pid)],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        pid, comm = line.split(None, 1)
        if comm.strip() == "shomei-web":
            return int(pid)
    raise SystemExit("no web process")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def new_instance(tmp, name):
    d = os.path.join(tmp, name)
    subprocess.run([SHOMEI, "-d", d, "init"], check=True, capture_output=True)
    return d


def captcha_rows(datadir):
    con = sqlite3.connect(os.path.join(datadir, "db", "shomei.db"))
    try:
        return con.execute("SELECT count(*) FROM captchas").fetchone()[0]
    finally:
        con.close()


def captcha_flood(tmp, name, conf):
    import http.client
    import ssl
    d = new_instance(tmp, name)
    proc, hp, sp = start(d, conf)
    try:
        ctx = ssl.create_default_context(cafile=os.path.join(d, "certs", "root.pem"))
        before = captcha_rows(d)
        gets = ok = 0
        end = time.time() + SECONDS
        c = http.client.HTTPSConnection("localhost", sp, context=ctx, timeout=10)
        while time.time() < end:
            c.request("GET", "/regist/step1")
            r = c.getresponse()
            r.read()
            gets += 1
            ok += r.status == 200
        c.close()
        rows = captcha_rows(d) - before
    finally:
        stop(proc)
    return gets, ok, rows


def slow_readers(tmp, n=1000):
    d = new_instance(tmp, "slow")
    proc, hp, sp = start(d, "http.max_connections = 2048\nhttp.max_connections_per_ip = 0")
    socks = []
    try:
        web = web_pid(proc)
        url = f"http://127.0.0.1:{hp}/crl/shomei.crl"
        with urllib.request.urlopen(url, timeout=10) as r:
            size = len(r.read())
        time.sleep(1)
        base = rss_kib(web)
        req = b"GET /crl/shomei.crl HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        for _ in range(n):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            s.connect(("127.0.0.1", hp))
            s.sendall(req)
            socks.append(s)
        time.sleep(3)
        held = rss_kib(web)
        t0 = time.time()
        with urllib.request.urlopen(url, timeout=30) as r:
            r.read()
        wait = time.time() - t0
    finally:
        for s in socks:
            s.close()
        stop(proc)
    return size, base, held, wait


def main():
    if not os.path.exists(SHOMEI):
        raise SystemExit(f"{SHOMEI} not found: run make first")
    with tempfile.TemporaryDirectory(prefix="shomei-bench-") as tmp:
        os.chmod(tmp, 0o755)
        lifted = captcha_flood(tmp, "lifted", "portal.captcha_rate = 1000000")
        limited = captcha_flood(tmp, "limited", "")
        print(f"CAPTCHA flood, one address, {SECONDS:.0f} s of GET /regist/step1:")
        for name, (gets, ok, rows) in (("limit lifted (before)", lifted),
                                        ("portal.captcha_rate default", limited)):
            print(f"  {name:28s} {gets:6d} GETs ({ok} answered 200), {rows:6d} rows "
                  f"= {rows * 3600 / SECONDS:10.0f} rows/hour")
        if limited[2]:
            print(f"  ratio (rows before / after): {lifted[2] / limited[2]:.1f}x")
        size, base, held, wait = slow_readers(tmp)
        print(f"1,000 slow CRL readers (CRL {size} bytes): web RSS {base} KiB idle, "
              f"{held} KiB with them held = {(held - base) / 1000:.1f} KiB per connection; "
              f"a normal client got the CRL in {wait * 1000:.0f} ms meanwhile")


if __name__ == "__main__":
    main()
