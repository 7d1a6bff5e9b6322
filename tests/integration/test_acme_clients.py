"""Packaged ACME clients, unchanged, against the real server on both store backends (issue 14):
lego (run with External Account Binding and http-01, renew forced by --days 400, revoke),
dehydrated (EAB from its config, http-01 from WELLKNOWN served by the test's HTTP server),
uacme (EAB with -e, http-01 answered by its hook script) and certbot beyond test_acme_order.py
(renew --force-renewal, revoke).  Every binding comes from `shomei acme eab create`; the server's
validator reaches the client's port through acme.http01_port, acme.allow_private_addresses and
test.acme_resolve.  After issuance the chain passes `openssl verify`; after revocation OCSP
answers revoked (`openssl ocsp` against the instance) and the next CRL, fetched from the
instance, lists the serial."""
import http.server
import os
import shutil
import subprocess
import threading
import urllib.request

import pytest
from cryptography import x509

from conftest import free_port, stop_server
from test_acme import acme_server, eab_create

NAME = "www.example.ac.jp"
EMAIL = "admin@example.ac.jp"
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY",
              "all_proxy")


def conf(port):
    return ("test.instance = yes\nacme.http01_port = %d\ntest.acme_resolve = 127.0.0.1\n"
            "acme.allow_private_addresses = yes\n" % port)


def client_env(**kw):
    """The environment of a client: no proxy (the server is on loopback)."""
    env = dict(os.environ, NO_PROXY="*", no_proxy="*", **kw)
    for v in PROXY_VARS:
        env.pop(v, None)
    return env


def need(prog):
    path = shutil.which(prog)
    if path is None:
        pytest.skip("%s is not installed (scripts/deps.sh installs it)" % prog)
    return path


def run(args, env, timeout=90, cwd=None):
    p = subprocess.run(args, capture_output=True, env=env, timeout=timeout, cwd=cwd)
    assert p.returncode == 0, (args, p.returncode, p.stdout.decode(errors="replace"),
                               p.stderr.decode(errors="replace"))
    return p


class FileResponder:
    """http-01 from a directory, as a web server serves a client's WELLKNOWN:
    GET /.well-known/acme-challenge/<token> -> the file <dir>/<token>."""

    def __init__(self, directory):
        os.makedirs(directory, exist_ok=True)
        self.dir = directory
        d = directory

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                pre = "/.well-known/acme-challenge/"
                tok = self.path[len(pre):]
                path = os.path.join(d, tok)
                if (not self.path.startswith(pre) or not tok or "/" in tok
                        or tok.startswith(".") or not os.path.isfile(path)):
                    self.send_response(404)
                    self.end_headers()
                    return
                with open(path, "rb") as f:
                    body = f.read()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


def split_pem(text):
    """The certificates of a PEM bundle, in order."""
    end = "-----END CERTIFICATE-----"
    return [p[p.index("-----BEGIN"):] + end + "\n" for p in text.split(end) if "-----BEGIN" in p]


def serial_of(pem):
    return x509.load_pem_x509_certificate(pem.encode()).serial_number


def verify(srv, tmp_path, leaf, chain):
    """`openssl verify` of leaf with the issuing CA(s) of chain and our root."""
    lf, cf = tmp_path / "v-leaf.pem", tmp_path / "v-chain.pem"
    lf.write_text(leaf)
    cf.write_text(chain)
    v = subprocess.run(["openssl", "verify", "-CAfile", srv.cafile, "-untrusted", str(cf),
                        str(lf)], capture_output=True)
    assert v.returncode == 0 and b": OK" in v.stdout, v


def assert_revoked(ca, srv, tmp_path, leaf, issuer):
    """OCSP of the instance answers revoked for leaf; the next CRL (`shomei crl`, fetched from
    the instance) lists its serial."""
    lf, inf = tmp_path / "r-leaf.pem", tmp_path / "r-issuer.pem"
    lf.write_text(leaf)
    inf.write_text(issuer)
    o = subprocess.run(["openssl", "ocsp", "-issuer", str(inf), "-cert", str(lf), "-url",
                        srv.http + "/ocsp", "-CAfile", srv.cafile, "-verify_other", str(inf)],
                       capture_output=True, timeout=30)
    out = (o.stdout + o.stderr).decode()
    assert o.returncode == 0 and "r-leaf.pem: revoked" in out, out
    assert "Response verify OK" in out, out
    ca.ok("crl")
    with urllib.request.urlopen(srv.http + "/crl/shomei.crl", timeout=10) as r:
        crl = x509.load_der_x509_crl(r.read())
    iss = x509.load_pem_x509_certificate(issuer.encode())
    assert crl.is_signature_valid(iss.public_key())
    assert crl.get_revoked_certificate_by_serial_number(serial_of(leaf)) is not None


def test_acme_lego(ca, tmp_path):
    """lego 4.9.1: run (EAB, http-01 on its own listener), renew --days 400 (a new
    certificate), revoke; OCSP and the next CRL see the revocation."""
    lego = need("lego")
    port = free_port()
    srv = acme_server(ca, conf(port))
    try:
        kid, hmac = eab_create(ca, "--names", NAME)
        env = client_env(LEGO_CA_CERTIFICATES=srv.cafile)
        base = [lego, "--server", srv.https + "/acme/directory", "--accept-tos", "--email",
                EMAIL, "--eab", "--kid=" + kid, "--hmac=" + hmac, "--key-type", "ec256", "--http",
                "--http.port", "127.0.0.1:%d" % port, "--domains", NAME, "--path",
                str(tmp_path / "lego")]
        run(base + ["run"], env)
        certs = tmp_path / "lego" / "certificates"
        bundle = split_pem((certs / (NAME + ".crt")).read_text())
        issuer = (certs / (NAME + ".issuer.crt")).read_text()
        assert len(bundle) == 2 and bundle[1].strip() == issuer.strip(), bundle
        verify(srv, tmp_path, bundle[0], issuer)
        first = serial_of(bundle[0])

        # renew: the certificate has less than 400 days left, so lego orders again (at once:
        # not run from a terminal, lego would first sleep up to 8 minutes)
        p = run(base + ["renew", "--days", "400", "--no-random-sleep"], env)
        assert b"Trying renewal" in p.stderr, p.stderr
        bundle = split_pem((certs / (NAME + ".crt")).read_text())
        assert serial_of(bundle[0]) != first
        verify(srv, tmp_path, bundle[0], issuer)
        assert ca.ok("audit", "list").count("acme.order.finalize") == 2

        run(base + ["revoke"], env)
        assert_revoked(ca, srv, tmp_path, bundle[0], issuer)
        assert "acme.cert.revoke" in ca.ok("audit", "list")
    finally:
        stop_server(srv)


def test_acme_dehydrated(ca, tmp_path):
    """dehydrated 0.7.0: register with EAB_KID/EAB_HMAC_KEY from its config, then sign a name
    whose http-01 token it writes to WELLKNOWN, served by the test's HTTP server."""
    dehydrated = need("dehydrated")
    resp = FileResponder(str(tmp_path / "wellknown"))
    srv = acme_server(ca, conf(resp.port))
    try:
        kid, hmac = eab_create(ca, "--names", NAME)
        (tmp_path / "dh").mkdir()
        cfg = tmp_path / "dehydrated.conf"
        cfg.write_text("\n".join([
            'CA="%s/acme/directory"' % srv.https,
            'BASEDIR="%s"' % (tmp_path / "dh"),
            'WELLKNOWN="%s"' % resp.dir,
            'CHALLENGETYPE="http-01"',
            'KEY_ALGO="prime256v1"',
            'KEYSIZE="2048"',  # (its account key is RSA: 4096 bits take seconds to make)
            'CONTACT_EMAIL="%s"' % EMAIL,
            'EAB_KID="%s"' % kid,
            'EAB_HMAC_KEY="%s"' % hmac,
            'CURL_OPTS="--cacert %s"' % srv.cafile,
            'HOOK=""', ""]))
        env = client_env()
        run([dehydrated, "-f", str(cfg), "--register", "--accept-terms"], env)
        p = run([dehydrated, "-f", str(cfg), "-c", "-d", NAME], env)
        assert b"Challenge is valid" in p.stdout, p.stdout
        live = tmp_path / "dh" / "certs" / NAME
        leaf = (live / "cert.pem").read_text()
        chain = (live / "chain.pem").read_text()
        verify(srv, tmp_path, leaf, chain)
        assert x509.load_pem_x509_certificate(leaf.encode()).extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == [NAME]
        # the token's file was served, then cleaned up by dehydrated
        assert not [f for f in os.listdir(resp.dir) if not f.startswith(".")]

        # revoke (by the account) with dehydrated -r
        run([dehydrated, "-f", str(cfg), "-r", str(live / "cert.pem")], env)
        assert_revoked(ca, srv, tmp_path, leaf, split_pem(chain)[0])
    finally:
        stop_server(srv)
        resp.close()


UACME_HOOK = """#!/bin/sh
# uacme's hook: METHOD TYPE IDENTIFIER TOKEN KEY_AUTHORIZATION; only http-01 is answered
dir=%s
case "$1:$2" in
begin:http-01) printf '%%s' "$5" > "$dir/$4" ;;
done:http-01|failed:http-01) rm -f "$dir/$4" ;;
*) exit 1 ;;
esac
"""


def test_acme_uacme(ca, tmp_path):
    """uacme 1.7.4: new account with -e KEYID:KEY, issue with its hook writing the http-01
    answer to the directory the test's HTTP server serves, revoke with the certificate's key.
    uacme (libcurl-gnutls) trusts only the system store: it runs in a mount namespace of its
    own where our root is /etc/ssl/certs/ca-certificates.crt."""
    uacme = need("uacme")
    unshare = need("unshare")
    probe = subprocess.run([unshare, "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("unshare --mount is not allowed here: %r" % probe.stderr)
    resp = FileResponder(str(tmp_path / "wellknown"))
    srv = acme_server(ca, conf(resp.port))
    try:
        kid, hmac = eab_create(ca, "--names", NAME)
        hook = tmp_path / "hook.sh"
        hook.write_text(UACME_HOOK % resp.dir)
        hook.chmod(0o755)
        confdir = tmp_path / "uacme"
        base = [uacme, "-y", "-v", "-c", str(confdir), "-a", srv.https + "/acme/directory"]

        def uac(*args):
            # the bind mount lives and dies with this one process's namespace
            return run([unshare, "--mount", "sh", "-c",
                        'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec "$@"',
                        srv.cafile, *base, *args], client_env())

        uac("-e", "%s:%s" % (kid, hmac), "new", EMAIL)
        uac("-h", str(hook), "-t", "EC", "issue", NAME)
        full = split_pem((confdir / NAME / "cert.pem").read_text())
        assert len(full) == 2, full
        verify(srv, tmp_path, full[0], full[1])
        assert not os.listdir(resp.dir)  # the hook's done removed the answer

        uac("revoke", str(confdir / NAME / "cert.pem"),
            str(confdir / "private" / NAME / "key.pem"))
        assert_revoked(ca, srv, tmp_path, full[0], full[1])
        assert "acme:certificate-key" in ca.ok("audit", "list")
    finally:
        stop_server(srv)
        resp.close()


def test_acme_certbot_renew_revoke(ca, tmp_path):
    """certbot: certonly (standalone http-01, EAB), renew --force-renewal (a new certificate
    from the saved renewal configuration), revoke --reason keycompromise."""
    certbot = need("certbot")
    port = free_port()
    srv = acme_server(ca, conf(port))
    try:
        kid, hmac = eab_create(ca, "--names", NAME)
        env = client_env(REQUESTS_CA_BUNDLE=srv.cafile)
        dirs = ["--config-dir", str(tmp_path / "config"), "--work-dir", str(tmp_path / "work"),
                "--logs-dir", str(tmp_path / "logs"), "--non-interactive"]
        run([certbot, "certonly", "--standalone", "--http-01-port", str(port),
             "--http-01-address", "127.0.0.1", "--server", srv.https + "/acme/directory",
             "--eab-kid=" + kid, "--eab-hmac-key=" + hmac, "--agree-tos", "-m", EMAIL,
             "--key-type", "ecdsa", "-d", NAME, *dirs], env)
        live = tmp_path / "config" / "live" / NAME
        first = serial_of((live / "cert.pem").read_text())

        # (not run from a terminal, certbot renew would first sleep up to 8 minutes)
        run([certbot, "renew", "--force-renewal", "--no-random-sleep-on-renew", *dirs], env)
        leaf = (live / "cert.pem").read_text()
        chain = (live / "chain.pem").read_text()
        assert serial_of(leaf) != first
        verify(srv, tmp_path, leaf, chain)
        assert ca.ok("audit", "list").count("acme.order.finalize") == 2

        run([certbot, "revoke", "--cert-name", NAME, "--reason", "keycompromise",
             "--no-delete-after-revoke", *dirs], env)
        assert_revoked(ca, srv, tmp_path, leaf, split_pem(chain)[0])
        rows = ca.sql("SELECT reason FROM certificates WHERE status = 1")
        assert [str(r[0]) for r in rows] == ["1"], rows  # keyCompromise, the renewed one only
    finally:
        stop_server(srv)


def run_sh(env, out):
    """scripts/run.sh (`make run` after the build) in the background; its output to out."""
    from conftest import ROOT
    with open(out, "wb") as f:
        return subprocess.Popen([os.path.join(ROOT, "scripts", "run.sh")], cwd=ROOT, env=env,
                                stdout=f, stderr=subprocess.STDOUT)


def wait_healthy(proc, http, out, timeout=60):
    import time
    end = time.time() + timeout
    while time.time() < end:
        assert proc.poll() is None, open(out).read()
        try:
            with urllib.request.urlopen(http + "/healthz", timeout=2) as r:
                if r.status == 200 and ("supervisor pid %d" % proc.pid) in open(out).read():
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("make run did not become healthy: " + open(out).read())


def stop(proc):
    import signal
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def printed(text, label):
    """The command printed after `label:`, its continuation lines joined, as argv (the leading
    VAR=value words as an environment)."""
    import shlex
    lines = text.splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith(label + ":"))
    cmd = lines[i].split(":", 1)[1]
    while cmd.rstrip().endswith("\\"):
        i += 1
        cmd = cmd.rstrip()[:-1] + " " + lines[i]
    words = shlex.split(cmd)
    env = {}
    while "=" in words[0]:
        k, v = words.pop(0).split("=", 1)
        env[k] = v
    return words, env


def test_make_run_acme(tmp_path):
    """`make run` (scripts/run.sh) turns ACME on in the demo it makes, prints the directory URL
    (which answers) and the certbot and lego commands, each with a binding of its own from
    `shomei acme eab create`; with the name given 127.0.0.1 (here test.acme_resolve instead of
    /etc/hosts), both printed commands get a certificate as printed (certbot's directories moved
    to the test's)."""
    import json
    import ssl
    lego = need("lego")
    certbot = need("certbot")
    data = tmp_path / "var"
    root = str(data / "certs" / "root.pem")
    hp, sp, cp, ap = (free_port() for _ in range(4))
    env = client_env(SHOMEI_DATA=str(data), SHOMEI_HTTP_PORT=str(hp), SHOMEI_HTTPS_PORT=str(sp),
                     SHOMEI_CONSOLE_PORT=str(cp), SHOMEI_ACME_HTTP01_PORT=str(ap))
    out = str(tmp_path / "run.out")
    proc = run_sh(env, out)
    try:
        wait_healthy(proc, "http://127.0.0.1:%d" % hp, out)
        text = open(out).read()
        url = "https://localhost:%d/acme/directory" % sp
        assert ("ACME:          " + url) in text, text
        ctx = ssl.create_default_context(cafile=root)
        with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
            d = json.load(r)
        assert d["newAccount"] == "https://localhost:%d/acme/new-account" % sp, d
        assert d["meta"]["externalAccountRequired"] is True, d
        eab = (data / "demo-eab.txt").read_text().split()
        assert len(eab) == 4 and eab[0] != eab[2], eab
        for k, h in (eab[:2], eab[2:]):
            assert ("key id %s, HMAC key %s" % (k, h)) in text, text
    finally:
        stop(proc)
    assert proc.returncode == 0, open(out).read()

    # the validator reaches www.demo.example at 127.0.0.1 (a test's stand-in for /etc/hosts)
    with open(data / "shomei.conf", "a") as f:
        f.write("\ntest.instance = yes\ntest.acme_resolve = 127.0.0.1\n")
    proc = run_sh(env, out)
    try:
        wait_healthy(proc, "http://127.0.0.1:%d" % hp, out)
        text = open(out).read()
        assert text.count("ACME:") == 1 and ("key id %s," % eab[0]) in text, text
        args, lenv = printed(text, "lego")
        assert args[0] == "lego" and lenv == {"LEGO_CA_CERTIFICATES": root}, (args, lenv)
        # in the --opt=value form: a base64url key may begin with "-" (argparse then took it for an option)
        assert "--kid=" + eab[2] in args and "--hmac=" + eab[3] in args and "127.0.0.1:%d" % ap in args, args
        run([lego] + args[1:], client_env(**lenv), cwd=str(tmp_path))
        certs = tmp_path / "lego" / "certificates"
        v = subprocess.run(["openssl", "verify", "-CAfile", root, "-untrusted",
                            str(certs / "www.demo.example.issuer.crt"),
                            str(certs / "www.demo.example.crt")], capture_output=True)
        assert v.returncode == 0, v

        args, cenv = printed(text, "certbot")
        assert args[:2] == ["certbot", "certonly"] and cenv == {"REQUESTS_CA_BUNDLE": root}
        assert "--eab-kid=" + eab[0] in args and "--eab-hmac-key=" + eab[1] in args, args
        cb = tmp_path / "cb"
        run([certbot] + args[1:] + ["--config-dir", str(cb / "config"), "--work-dir",
                                    str(cb / "work"), "--logs-dir", str(cb / "logs"),
                                    "--non-interactive"], client_env(**cenv))
        live = cb / "config" / "live" / "www.demo.example"
        v = subprocess.run(["openssl", "verify", "-CAfile", root, "-untrusted",
                            str(live / "chain.pem"), str(live / "cert.pem")], capture_output=True)
        assert v.returncode == 0, v
    finally:
        stop(proc)


def test_acme_chall_retry_after(ca_sqlite):
    """The answer to a challenge's POST while its validation runs says when to look again
    (RFC 8555 8.2: Retry-After: 1).  lego waits 5 s (randomized 2.5-7.5 s) before it polls
    without it: 4.6 s per certificate on loopback, 1.1 s with it (bench/acme -L)."""
    from test_acme_order import Responder, account, csr_for, http01
    resp = Responder()
    srv = acme_server(ca_sqlite, conf(resp.port))
    try:
        cl, key, regr, kid = account(ca_sqlite, srv, "--names", NAME)
        order = cl.new_order(csr_for(NAME))
        authz, chall = http01(order)
        response, validation = chall.chall.response_and_validation(key)
        resp.answers[chall.chall.encode("token")] = validation
        r = cl._post(chall.uri, response)
        assert r.status_code == 200 and r.json()["status"] == "processing", r.text
        assert r.headers.get("Retry-After") == "1", r.headers
        # once valid, the challenge's answer has none
        from test_acme_order import wait_authz
        assert wait_authz(cl, authz.uri).body.status.name == "valid"
        r = cl._post(chall.uri, response)
        assert r.status_code == 200 and r.json()["status"] == "valid", r.text
        assert "Retry-After" not in r.headers, r.headers
    finally:
        stop_server(srv)
        resp.close()
