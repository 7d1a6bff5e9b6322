#!/usr/bin/python3
"""bench/bulk (issue 13 part 14): N server certificates (default 10,000) from one bulk TSV file
through the RA officers' console of a real `shomei serve`, from the upload to committed and
durable (the store's default: SQLite WAL with fsync) with every user administrator's mail
queued (the mail rows committed; the sender delivers them afterwards) -- and, in the same run,
the same CSRs through the REST API one request at a time (POST /api/v1/certificates on a
keep-alive connection) and through `openssl ca -batch -infiles` (one process for the lot, its
fastest mode, the same CA key and certificate, without fsync).  Prints the three times and
the ratios.

The instance is made fresh in a temporary directory with the shomei CLI: init, an
organization, an officer (`shomei officer add`), an API key.  The officer enrols as a user
does: the mailed URL on the HTTPS listener, the access PIN, the PKCS#12 once; then logs in to
the console with that client certificate (mTLS) and uploads the file the way a browser does:

  GET  /bulk?kind=server      the form (its CSRF token)
  POST /bulk                  multipart, the file: the dry run (every line checked, the check
                              pass against the store), the page with the commit form
  POST /bulk/commit           the commit form as it came (the file in base64, the seal):
                              all-or-nothing, 303 to the job's page, read every 20 ms
                              until it shows the result table

The bulk time is dry run + commit, as the officer does them (both printed too).  Every line's
result must be OK and the store must hold N certificates and N queued mails after it.

The CSRs are made in advance: UPKI profile 3 (RSA 2048, the usual one; -p p384 for profile
11, ECDSA P-384), subject C,ST,L,O,CN with a dNSName equal to the CN (the REST API and openssl
ca take the names from the CSR).  RSA keys take ~0.1-0.5 s each to make here, so N RSA CSRs
share a pool of -K distinct keys (default 50); every CSR is distinct (its own subject), so
nothing the server remembers of one line's CSR helps another's.  P-384 CSRs have a key each.

    make build/shomei; /usr/bin/python3 bench/bulk.py [-n N] [-p rsa2048|p384] [-K KEYS]
        [--no-rest] [--no-openssl] [-k]          (or: make bench-bulk)
"""
import argparse
import base64
import concurrent.futures
import email
import email.policy
import glob
import html
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SHOMEI = os.environ.get("SHOMEI_BIN", os.path.join(ROOT, "build", "shomei"))
ORG_CODE = "BENCH"
ORG = "Bench University"
DOMAIN = "bench.example.ac.jp"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cli(d, *args):
    r = subprocess.run([SHOMEI, "-d", d, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"shomei {' '.join(args)}: {r.stderr}{r.stdout}")
    return r.stdout


# ---- the CSRs ----

def make_key(kind):
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _keys(kind, n):
    return [make_key(kind).private_bytes(serialization.Encoding.DER,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()) for _ in range(n)]


def _csrs(kind, keys, lo, hi):
    out = []
    keys = [serialization.load_der_private_key(k, None) for k in keys]
    for i in range(lo, hi):
        cn = f"h{i}.{DOMAIN}"
        key = keys[i % len(keys)] if kind == "rsa2048" else make_key(kind)
        name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                          x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Tokyo"),
                          x509.NameAttribute(NameOID.LOCALITY_NAME, "Chiyoda-ku"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        req = (x509.CertificateSigningRequestBuilder().subject_name(name)
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
               .sign(key, hashes.SHA256()))
        out.append(req.public_bytes(serialization.Encoding.DER))
    return out


def make_csrs(kind, n, nkeys):
    """n CSRs (DER), made by two processes."""
    with concurrent.futures.ProcessPoolExecutor(2) as ex:
        keys = []
        if kind == "rsa2048":
            half = (nkeys + 1) // 2
            for part in ex.map(_keys, [kind, kind], [half, nkeys - half]):
                keys += part
        mid = n // 2
        parts = ex.map(_csrs, [kind, kind], [keys, keys], [0, mid], [mid, n])
        return [c for p in parts for c in p]


def tsv_file(kind, csrs):
    """The UPKI server issue file (13 columns, UTF-8, CRLF, no header)."""
    prof = "11" if kind == "p384" else "3"
    lines = []
    for i, der in enumerate(csrs):
        cn = f"h{i}.{DOMAIN}"
        lines.append("\t".join([f"CN={cn},O={ORG},L=Chiyoda-ku,ST=Tokyo,C=JP", prof, "", "",
                                "", "", base64.b64encode(der).decode(), "Hanako Yamada",
                                "IT Center", f"admin{i % 100}@{DOMAIN}", cn, "nginx1.24",
                                ""]))
    return ("\r\n".join(lines) + "\r\n").encode()


def pem_csr(der):
    return x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM).decode()


# ---- the server ----

class Server:
    def __init__(self, d):
        self.d = d
        self.hp, self.sp, self.cp = free_port(), free_port(), free_port()
        self.logpath = os.path.join(d, "serve.log")
        log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(
            [SHOMEI, "-d", d, "serve", "--http", f"127.0.0.1:{self.hp}", "--https",
             f"127.0.0.1:{self.sp}", "--console", f"127.0.0.1:{self.cp}"],
            stdout=log, stderr=log)
        log.close()
        self.https = f"https://localhost:{self.sp}"
        self.console = f"https://localhost:{self.cp}"
        self.cafile = os.path.join(d, "certs", "root.pem")
        for _ in range(300):
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.hp}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        with open(self.logpath, "rb") as f:
            raise SystemExit("serve did not start:\n" + f.read().decode(errors="replace"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def cpu_s(srv):
    """CPU seconds (user + system, all threads) of serve and its processes (signer, web)."""
    tck = os.sysconf("SC_CLK_TCK")
    pids = [srv.proc.pid] + [int(x) for x in subprocess.run(
        ["pgrep", "-P", str(srv.proc.pid)], capture_output=True, text=True).stdout.split()]
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                v = f.read().rsplit(")", 1)[1].split()
            total += (int(v[11]) + int(v[12])) / tck
        except OSError:
            pass
    return total


def settle(srv, limit=60):
    """Waits until the server has finished its start-up work (the CAPTCHA and key pools fill
    after start): less than 5% of a CPU over a second, or limit seconds."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        c0 = cpu_s(srv)
        time.sleep(1)
        if cpu_s(srv) - c0 < 0.05:
            return


def session(srv):
    s = requests.Session()
    s.trust_env = False
    s.verify = srv.cafile
    return s


def csrf_of(text):
    m = re.search(r'name="csrf" value="([^"]+)"', text)
    if not m:
        raise SystemExit("no CSRF token in:\n" + text[:2000])
    return m.group(1)


def mail_to(d, addr, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        for p in sorted(glob.glob(os.path.join(d, "outbox", "new", "*"))):
            with open(p, "rb") as f:
                m = email.message_from_bytes(f.read(), policy=email.policy.default)
            if addr in str(m["To"]):
                return m
        time.sleep(0.2)
    raise SystemExit(f"no mail to {addr}")


def enrol_officer(srv, d, pin, addr):
    """The mailed URL, the access PIN, the PKCS#12 once: (cert+key PEM file)."""
    tok = re.findall(r"https://\S+/officer/enrol/([A-Za-z0-9_-]+)",
                     mail_to(d, addr).get_content())[0]
    s = session(srv)
    url = f"{srv.https}/officer/enrol/{tok}"
    r = s.get(url)
    r = s.post(url, data={"csrf": csrf_of(r.text), "pin": pin})
    if r.status_code != 200:
        raise SystemExit(f"enrolment: {r.status_code} {r.text[:2000]}")
    p12pin = re.search(r'<code class="pin">([^<]+)</code>', r.text).group(1)
    r = s.post(f"{srv.https}/officer/download",
               data={"csrf": csrf_of(r.text),
                     "dl": re.search(r'name="dl" value="([^"]+)"', r.text).group(1)})
    if r.status_code != 200 or r.headers["Content-Type"] != "application/x-pkcs12":
        raise SystemExit(f"officer download: {r.status_code}")
    key, cert, _ = pkcs12.load_key_and_certificates(r.content, p12pin.encode())
    pem = os.path.join(d, "officer.pem")
    with open(pem, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return pem


def console_login(srv, pem):
    s = session(srv)
    s.cert = pem
    r = s.get(srv.console + "/")
    r = s.post(srv.console + "/login", data={"csrf": csrf_of(r.text)}, allow_redirects=False)
    if r.status_code != 303:
        raise SystemExit(f"console login: {r.status_code} {r.text[:2000]}")
    return s


ROW = re.compile(r"<tr(?: class=\"ng\")?><td>(\d+)</td><td>([^<]*)</td><td><code>([^<]*)"
                 r"</code></td>")


def results(text):
    return [(m.group(1), html.unescape(m.group(2)), m.group(3)) for m in ROW.finditer(text)]


def bulk_run(srv, s, data, n):
    """Dry run + commit of data; (dry s, commit s, serials)."""
    r = s.get(f"{srv.console}/bulk?kind=server")
    csrf = csrf_of(r.text)
    c0 = cpu_s(srv)
    t0 = time.monotonic()
    r = s.post(f"{srv.console}/bulk",
               files={"csrf": (None, csrf), "kind": (None, "server"), "op": (None, "issue"),
                      "dialect": (None, "upki"), "mode": (None, "all_or_nothing"),
                      "file": ("certs.tsv", data, "text/tab-separated-values")})
    t1 = time.monotonic()
    c1 = cpu_s(srv)
    if r.status_code != 200:
        raise SystemExit(f"dry run: {r.status_code} {r.text[:3000]}")
    m = re.search(r'<form method="post" action="/bulk/commit".*?</form>', r.text, re.S)
    ok = [x for x in results(r.text) if x[1] == "OK"]
    if m is None or len(ok) != n:
        bad = [x for x in results(r.text) if x[1] != "OK"][:3]
        raise SystemExit(f"dry run: {len(ok)} of {n} lines OK, no commit form? {bad}")
    fields = {k: (None, html.unescape(v))
              for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', m.group(0))}
    c2 = cpu_s(srv)
    t2 = time.monotonic()
    r = s.post(f"{srv.console}/bulk/commit", files=fields, allow_redirects=False)
    if r.status_code == 303:
        # the commit runs as a job: its page refreshes itself until the result is there
        job = f"{srv.console}{r.headers['Location']}"
        while True:
            r = s.get(job)
            if r.status_code != 200 or 'http-equiv="refresh"' not in r.text:
                break
            time.sleep(0.02)
    t3 = time.monotonic()
    c3 = cpu_s(srv)
    if r.status_code != 200:
        raise SystemExit(f"commit: {r.status_code} {r.text[:3000]}")
    rows = results(r.text)
    done = [x[2] for x in rows if x[1] == "OK" and re.fullmatch(r"[0-9A-F]+", x[2])]
    if len(done) != n:
        raise SystemExit(f"commit: {len(done)} of {n} lines done: "
                         f"{[x for x in rows if x[1] != 'OK'][:3]}")
    return t1 - t0, t3 - t2, done, c1 - c0, c3 - c2


def rest_run(srv, key, csrs):
    """One request at a time on one keep-alive connection: seconds."""
    ctx = ssl.create_default_context(cafile=srv.cafile)
    c = http.client.HTTPSConnection("localhost", srv.sp, context=ctx)
    hdrs = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    bodies = [json.dumps({"profile": "server", "csr": pem_csr(d)}) for d in csrs]
    t0 = time.monotonic()
    for b in bodies:
        c.request("POST", "/api/v1/certificates", body=b, headers=hdrs)
        r = c.getresponse()
        body = r.read()
        if r.status != 201:
            raise SystemExit(f"REST: {r.status} {body[:2000]}")
    t1 = time.monotonic()
    c.close()
    return t1 - t0


def openssl_run(d, od, csrs):
    """openssl ca -batch -infiles over the same CSRs (PEM files) with the instance d's CA key
    and certificate, in chunks of 2,000 (the argument list): seconds."""
    cd = os.path.join(od, "csr")
    os.makedirs(os.path.join(od, "certs"))
    os.makedirs(cd)
    paths = []
    for i, der in enumerate(csrs):
        p = os.path.join(cd, f"{i}.csr")
        with open(p, "w") as f:
            f.write(pem_csr(der))
        paths.append(p)
    subprocess.run(["openssl", "pkey", "-in", os.path.join(d, "keys", "issuing.key.pem"),
                    "-passin", "file:" + os.path.join(d, "keys", "passphrase"), "-out",
                    os.path.join(od, "ca.key")], check=True, capture_output=True)
    with open(os.path.join(od, "index.txt"), "w"):
        pass
    with open(os.path.join(od, "serial"), "w") as f:
        f.write("01\n")
    with open(os.path.join(od, "ca.cnf"), "w") as f:
        f.write(OCA_CNF.format(od=od, d=d))
    t0 = time.monotonic()
    for i in range(0, len(paths), 2000):
        subprocess.run(["openssl", "ca", "-batch", "-config", os.path.join(od, "ca.cnf"),
                        "-notext", "-out", "/dev/null", "-infiles", *paths[i:i + 2000]],
                       check=True, capture_output=True)
    return time.monotonic() - t0


OCA_CNF = """[ ca ]
default_ca = d
[ d ]
dir = {od}
database = $dir/index.txt
new_certs_dir = $dir/certs
certificate = {d}/certs/issuing.pem
private_key = $dir/ca.key
serial = $dir/serial
default_md = sha256
default_days = 397
policy = p
copy_extensions = copy
unique_subject = no
x509_extensions = x
[ p ]
commonName = supplied
organizationName = supplied
[ x ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
crlDistributionPoints = URI:http://localhost:8080/crl/bench.crl
authorityInfoAccess = OCSP;URI:http://localhost:8080/ocsp,caIssuers;URI:http://localhost:8080/ca/bench.crt
"""


def store_counts(d):
    """(certificates of the organization, mails queued or sent) from the SQLite store."""
    import sqlite3
    con = sqlite3.connect(os.path.join(d, "db", "shomei.db"))
    certs = con.execute("SELECT count(*) FROM certificates c JOIN organizations o "
                        "ON c.org_id = o.id WHERE c.profile = 'server' AND "
                        "o.code = ?", (ORG_CODE,)).fetchone()[0]
    mails = con.execute("SELECT count(*) FROM mail_queue WHERE recipient LIKE ?",
                        (f"admin%@{DOMAIN}",)).fetchone()[0]
    con.close()
    return certs, mails


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("-p", choices=["rsa2048", "p384"], default="rsa2048")
    ap.add_argument("-K", type=int, default=50, help="RSA keys shared by the CSRs")
    ap.add_argument("--no-rest", action="store_true")
    ap.add_argument("--no-openssl", action="store_true")
    ap.add_argument("-k", action="store_true", help="keep the directory")
    a = ap.parse_args()
    if not os.access(SHOMEI, os.X_OK):
        raise SystemExit(f"{SHOMEI} is not executable: make build/shomei")

    base = tempfile.mkdtemp(prefix="shomei-bench-bulk-")
    d = os.path.join(base, "ca")
    srv = None
    try:
        print(f"bench/bulk: {a.n} server certificates ({a.p} CSRs"
              f"{f', {a.K} keys' if a.p == 'rsa2048' else ''}) from one UPKI TSV through the "
              "console (dry run + commit, all-or-nothing), the REST API one at a time, "
              "openssl ca -infiles", flush=True)
        t0 = time.monotonic()
        csrs = make_csrs(a.p, a.n, min(a.K, a.n))
        data = tsv_file(a.p, csrs)
        print(f"  {a.n} CSRs made in advance in {time.monotonic() - t0:.1f} s; the file: "
              f"{len(data)} bytes", flush=True)

        cli(d, "init")
        cli(d, "org", "add", ORG_CODE, "--name", ORG, "--domain", DOMAIN)
        out = cli(d, "officer", "add", "--org", ORG_CODE, "--name", "Bench Officer", "--email",
                  f"officer@{DOMAIN}", "--perm", "server")
        pin = re.search(r"access PIN: (\S+)", out).group(1)
        key = cli(d, "apikey", "create", "--org", ORG_CODE).strip()
        with open(os.path.join(d, "shomei.conf"), "a") as f:
            f.write(f"\ntest.instance = yes\nmail.from = ca@{DOMAIN}\ncrl.schedule = no\n"
                    "http.timeout = 600\n")
        srv = Server(d)
        pem = enrol_officer(srv, d, pin, f"officer@{DOMAIN}")
        s = console_login(srv, pem)
        settle(srv)

        dry, com, serials, cdry, ccom = bulk_run(srv, s, data, a.n)
        bulk = dry + com
        print(f"shomei bulk (console):  {a.n:6d} certs in {bulk:7.3f} s = "
              f"{a.n / bulk:7.0f} certs/s  (dry run {dry:.3f} s + commit {com:.3f} s)",
              flush=True)
        print(f"  server CPU (web + signer processes): dry run {cdry:.2f} s + commit "
              f"{ccom:.2f} s = {(cdry + ccom) / a.n * 1e6:.0f} us per certificate; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
        rest = None
        if not a.no_rest:
            settle(srv)  # the sender delivers the bulk's mails first
            rest = rest_run(srv, key, csrs)
            print(f"shomei REST, 1 at a time: {a.n:4d} certs in {rest:7.3f} s = "
                  f"{a.n / rest:7.0f} certs/s", flush=True)
        srv.stop()
        certs, mails = store_counts(d)
        want = a.n * (1 if rest is None else 2)
        if certs != want or mails != a.n:
            raise SystemExit(f"the store holds {certs} certificates (want {want}) and "
                             f"{mails} user-administrator mails (want {a.n})")
        oca = None
        if not a.no_openssl:
            oca = openssl_run(d, os.path.join(base, "oca"), csrs)
            print(f"openssl ca -infiles:    {a.n:6d} certs in {oca:7.3f} s = "
                  f"{a.n / oca:7.0f} certs/s", flush=True)
        if rest is not None:
            print(f"ratio REST / bulk time:          {rest / bulk:6.1f}x")
        if oca is not None:
            print(f"ratio openssl ca -infiles / bulk: {oca / bulk:6.2f}x")
        print(f"checked: {certs} certificates and {mails} user-administrator mails in the "
              "store; every bulk line OK")
        print(f"target bulk <= 5 s: {'met' if bulk <= 5 else 'NOT met'}")
    finally:
        if srv is not None:
            srv.stop()
        if a.k:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
