"""Signed self-service requests: POST /online/revoke and /online/status with CMS SignedData made
by `openssl cms -sign -nodetach -binary` (and by `shomei client`, also with the key in
SoftHSM2), every outcome built for real, on both store backends."""
import datetime
import json
import os
import secrets
import socket
import ssl
import subprocess
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import ROOT, SHOMEI, make_csr, openssl, start_server, stop_server

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


# ---- helpers ----

def issue(inst, tmp_path, cn, days=None):
    """A server certificate from a fresh key; returns (serial, cert path, key path)."""
    csr, key = make_csr(tmp_path, subj=f"/CN={cn}", san=f"DNS:{cn}")
    out = str(tmp_path / f"{cn}.pem")
    args = ["issue", "--profile", "server", "--csr", csr, "--out", out]
    if days is not None:
        args += ["--days", str(days)]
    inst.ok(*args)
    return cert_serial(out), out, key


def cert_serial(path):
    return openssl("x509", "-in", path, "-noout", "-serial").stdout.decode().strip()[7:]


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def req_json(typ, serial, t=None, nonce=None, reason=None, **extra):
    d = {"type": typ, "serial": serial, "time": rfc3339(time.time() if t is None else t),
         "nonce": nonce or secrets.token_hex(16)}
    if reason is not None:
        d["reason"] = reason
    d.update(extra)
    return json.dumps(d).encode()


def cms_sign(tmp_path, cert, key, content, outform="DER", extra=()):
    """`openssl cms -sign -nodetach -binary` as README documents it; returns the bytes."""
    name = secrets.token_hex(4)
    inp = tmp_path / f"req-{name}.json"
    out = tmp_path / f"req-{name}.{outform.lower()}"
    inp.write_bytes(content)
    openssl("cms", "-sign", "-nodetach", "-binary", "-outform", outform, "-signer", cert,
            "-inkey", key, "-in", str(inp), "-out", str(out), *extra)
    return out.read_bytes()


def post(srv, typ, body, accept=None, lang=None):
    h = {"Content-Type": "application/cms"}
    if accept:
        h["Accept"] = accept
    if lang:
        h["Accept-Language"] = lang
    return requests.post(f"{srv.https}/online/{typ}", data=body, headers=h,
                         verify=srv.cafile, timeout=30)


def answer(srv, typ, body, status=None):
    r = post(srv, typ, body)
    assert r.headers["Content-Type"].startswith("application/json"), r.text
    j = r.json()
    if status is not None:
        assert r.status_code == status, (r.status_code, j)
    return j


def send(srv, tmp_path, typ, serial, cert, key, status=None, **kw):
    return answer(srv, typ, cms_sign(tmp_path, cert, key, req_json(typ, serial, **kw)), status)


def ocsp_status(srv, cert):
    inst = srv.inst
    p = openssl("ocsp", "-issuer", inst.path("certs", "issuing.pem"), "-cert", cert, "-url",
                srv.http + "/ocsp", "-CAfile", inst.path("certs", "root.pem"))
    return (p.stdout + p.stderr).decode()


def write_pem(path, obj):
    if isinstance(obj, x509.Certificate):
        data = obj.public_bytes(serialization.Encoding.PEM)
    else:
        data = obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def rogue_leaf(tmp_path, issuer_name, cn):
    """A leaf certificate under a throwaway CA whose name is issuer_name (its own key)."""
    now = datetime.datetime.utcnow()
    cakey = ec.generate_private_key(ec.SECP256R1())
    cacert = (x509.CertificateBuilder().subject_name(issuer_name).issuer_name(issuer_name)
              .public_key(cakey.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(hours=1))
              .not_valid_after(now + datetime.timedelta(days=30))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .sign(cakey, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(cacert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
            .sign(cakey, hashes.SHA256()))
    tag = secrets.token_hex(4)
    return (format(leaf.serial_number, "X"), write_pem(tmp_path / f"rogue-{tag}.pem", leaf),
            write_pem(tmp_path / f"rogue-{tag}.key", key))


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


# A minimal DER reader/writer, to put another key's signature into a SignedData.
def der_parse(b):
    nodes, i = [], 0
    while i < len(b):
        tag = b[i]
        n = b[i + 1]
        i += 2
        assert n != 0x80, "indefinite length"
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(b[i:i + k], "big")
            i += k
        v = b[i:i + n]
        i += n
        nodes.append([tag, der_parse(v) if tag & 0x20 else v])
    return nodes


def der_encode(nodes):
    out = b""
    for tag, v in nodes:
        body = der_encode(v) if tag & 0x20 else v
        n = len(body)
        ln = bytes([n]) if n < 0x80 else (
            bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8,
                                                                      "big"))
        out += bytes([tag]) + ln + body
    return out


# ---- the service on both backends ----

def test_status_revoke_pending_published(server, tmp_path):
    """valid -> accepted (OCSP at once, audit) -> revoked -> revocation_pending -> (crl) ->
    already_revoked, in the next CRL."""
    inst = server.inst
    serial, cert, key = issue(inst, tmp_path, "holder.example.jp")
    t0 = time.time()
    j = send(server, tmp_path, "status", serial, cert, key, status=200)
    assert j["result"] == "valid" and j["serial"] == serial, j
    checked = datetime.datetime.strptime(j["checked"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    assert abs(checked - t0) < 60, j
    assert "good" in ocsp_status(server, cert).split(f"{cert}: ")[1].splitlines()[0]

    j = send(server, tmp_path, "revoke", serial, cert, key, status=200, reason="keyCompromise")
    assert j["result"] == "accepted" and j["reason"] == "keyCompromise" and j["revoked_at"], j
    # OCSP shows it at once (no CRL was made)
    text = ocsp_status(server, cert)
    assert "revoked" in text.split(f"{cert}: ")[1].splitlines()[0], text
    assert "Reason: keyCompromise" in text, text
    # the audit chain has the holder's revocation, and is intact
    audit = inst.ok("audit", "list")
    line = [ln for ln in audit.splitlines() if "cert.revoke" in ln]
    assert len(line) == 1 and f"holder:{serial}" in line[0] and "keyCompromise" in line[0], audit
    inst.ok("audit", "verify")

    j = send(server, tmp_path, "status", serial, cert, key, status=200)
    assert j["result"] == "revoked" and j["reason"] == "keyCompromise", j
    assert j["revoked_at"], j
    j = send(server, tmp_path, "revoke", serial, cert, key, status=409)
    assert j["result"] == "revocation_pending", j
    assert len([ln for ln in inst.ok("audit", "list").splitlines() if "cert.revoke" in ln]) == 1

    time.sleep(1.1)  # a CRL made in the revocation's second counts as not yet published
    inst.ok("crl")
    crl = openssl("crl", "-inform", "DER", "-in", inst.path("crl", "shomei.crl"), "-noout",
                  "-text").stdout.decode()
    assert serial in crl, crl
    j = send(server, tmp_path, "revoke", serial, cert, key, status=409)
    assert j["result"] == "already_revoked", j
    j = send(server, tmp_path, "status", serial, cert, key, status=200)
    assert j["result"] == "revoked", j


def test_default_reason_and_pem(server, tmp_path):
    """PEM (-----BEGIN CMS-----) is accepted; without a reason it is cessationOfOperation."""
    serial, cert, key = issue(server.inst, tmp_path, "pem.example.jp")
    body = cms_sign(tmp_path, cert, key, req_json("revoke", serial), outform="PEM")
    assert body.startswith(b"-----BEGIN CMS-----")
    j = answer(server, "revoke", body, 200)
    assert j["result"] == "accepted" and j["reason"] == "cessationOfOperation", j
    assert "Reason: cessationOfOperation" in ocsp_status(server, cert)


def test_malformed(server, tmp_path):
    inst = server.inst
    serial, cert, key = issue(inst, tmp_path, "bad.example.jp")
    other, ocert, okey = issue(inst, tmp_path, "other.example.jp")
    good = req_json("revoke", serial)
    cases = {
        "garbage": b"hello",
        "empty object": cms_sign(tmp_path, cert, key, b"{}"),
        "not JSON": cms_sign(tmp_path, cert, key, b"revoke please"),
        "duplicate key": cms_sign(tmp_path, cert, key, good[:-1] + b', "type": "revoke"}'),
        "unknown key": cms_sign(tmp_path, cert, key, req_json("revoke", serial, extra="x")),
        "number serial": cms_sign(tmp_path, cert, key, json.dumps(
            {"type": "revoke", "serial": 5, "time": rfc3339(time.time()),
             "nonce": secrets.token_hex(16)}).encode()),
        "status to revoke": cms_sign(tmp_path, cert, key, req_json("status", serial)),
        "other serial": cms_sign(tmp_path, cert, key, req_json("revoke", other)),
        "bad time": cms_sign(tmp_path, cert, key, req_json("revoke", serial).replace(
            b"Z\"", b"\"")),
        "short nonce": cms_sign(tmp_path, cert, key, req_json("revoke", serial, nonce="abc")),
        "CA-only reason": cms_sign(tmp_path, cert, key,
                                   req_json("revoke", serial, reason="certificateHold")),
        "unknown reason": cms_sign(tmp_path, cert, key,
                                   req_json("revoke", serial, reason="boredom")),
        "detached": None,
        "two signers": cms_sign(tmp_path, cert, key, good,
                                extra=("-signer", ocert, "-inkey", okey)),
        "other content type": cms_sign(tmp_path, cert, key, good,
                                       extra=("-econtent_type", "1.2.3.4")),
        "SHA-1": cms_sign(tmp_path, cert, key, good, extra=("-md", "sha1")),
        "trailing bytes": cms_sign(tmp_path, cert, key, good) + b"\x00",
        "PEM with junk after": cms_sign(tmp_path, cert, key, good, outform="PEM") + b"junk\n",
    }
    # a detached signature carries no content
    inp = tmp_path / "detached.json"
    inp.write_bytes(good)
    cases["detached"] = openssl("cms", "-sign", "-binary", "-outform", "DER", "-signer", cert,
                                "-inkey", key, "-in", str(inp)).stdout
    for name, body in cases.items():
        j = answer(server, "revoke", body)
        assert j["result"] == "malformed", (name, j)
        assert j.get("detail", "").startswith("online: "), (name, j)
    assert post(server, "revoke", b"x").status_code == 400
    # a reason in a status request is malformed too
    j = answer(server, "status", cms_sign(
        tmp_path, cert, key, req_json("status", serial, reason="superseded")), 400)
    assert j["result"] == "malformed", j
    # nothing was revoked by any of them
    j = send(server, tmp_path, "status", serial, cert, key, status=200)
    assert j["result"] == "valid", j
    # over the 64 KiB limit: 413 (problem+json) as soon as the length is declared
    ctx = ssl.create_default_context(cafile=server.cafile)
    with socket.create_connection(("127.0.0.1", server.https_port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            t.sendall(b"POST /online/revoke HTTP/1.1\r\nHost: localhost\r\n"
                      b"Content-Type: application/cms\r\nContent-Length: 65537\r\n\r\n")
            out = b""
            while b"\r\n\r\n" not in out or not out.rstrip().endswith(b"}"):
                b = t.recv(65536)
                if not b:
                    break
                out += b
    assert out.startswith(b"HTTP/1.1 413") and b"application/problem+json" in out, out[:200]


def test_issuer_unknown(server, tmp_path):
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Foreign CA"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Foreign Issuing CA")])
    serial, cert, key = rogue_leaf(tmp_path, name, "foreign.example.jp")
    for typ in ("status", "revoke"):
        j = send(server, tmp_path, typ, serial, cert, key, status=403)
        assert j["result"] == "issuer_unknown", j


def test_cert_signature_invalid(server, tmp_path):
    """Certificates from throwaway CAs that copy the issuing CA's and the root's names."""
    inst = server.inst
    for ca in ("issuing.pem", "root.pem"):
        name = load_cert(inst.path("certs", ca)).subject
        serial, cert, key = rogue_leaf(tmp_path, name, "rogue.example.jp")
        for typ in ("status", "revoke"):
            j = send(server, tmp_path, typ, serial, cert, key, status=403)
            assert j["result"] == "cert_signature_invalid", (ca, j)


def test_request_signature_invalid(server, tmp_path):
    inst = server.inst
    serial, cert, key = issue(inst, tmp_path, "sig.example.jp")
    # (1) the content changed after signing: the message-digest attribute does not match
    content = req_json("revoke", serial, nonce="A" * 32)
    der = cms_sign(tmp_path, cert, key, content)
    assert der.count(b"A" * 32) == 1
    j = answer(server, "revoke", der.replace(b"A" * 32, b"B" * 32), 403)
    assert j["result"] == "request_signature_invalid", j
    # (2) a signature made with another key over the same content (no signed attributes)
    content = req_json("revoke", serial)
    der = cms_sign(tmp_path, cert, key, content, extra=("-noattr",))
    nodes = der_parse(der)
    assert der_encode(nodes) == der
    # ContentInfo { contentType, [0] { SignedData { ..., signerInfos SET { SignerInfo } } } }
    si = nodes[0][1][1][1][0][1][-1][1][0]
    assert si[0] == 0x30 and si[1][-1][0] == 0x04
    _, _, otherkey = issue(inst, tmp_path, "sig2.example.jp")
    inp = tmp_path / "content.json"
    inp.write_bytes(content)
    si[1][-1][1] = openssl("dgst", "-sha256", "-sign", otherkey, str(inp)).stdout
    j = answer(server, "revoke", der_encode(nodes), 403)
    assert j["result"] == "request_signature_invalid", j
    # the untouched request is fine (the surgery above is what broke it)
    j = answer(server, "status", cms_sign(tmp_path, cert, key, req_json("status", serial),
                                          extra=("-noattr",)), 200)
    assert j["result"] == "valid", j


def test_unknown_certificate(server, tmp_path):
    """The issuing CA's own certificate is signed by our root but is no certificate of the
    store; its key (encrypted in the data dir) signs the request."""
    inst = server.inst
    cert = inst.path("certs", "issuing.pem")
    key = inst.path("keys", "issuing.key.pem")
    body = cms_sign(tmp_path, cert, key, req_json("revoke", cert_serial(cert)),
                    extra=("-passin", "file:" + inst.path("keys", "passphrase")))
    j = answer(server, "revoke", body, 403)
    assert j["result"] == "unknown_certificate", j


def test_stale(server, tmp_path):
    inst = server.inst
    serial, cert, key = issue(inst, tmp_path, "stale.example.jp")
    now = time.time()
    for t in (now - 400, now + 400):
        j = send(server, tmp_path, "revoke", serial, cert, key, status=403, t=t)
        assert j["result"] == "stale", j
    # a replayed status request: answered once
    body = cms_sign(tmp_path, cert, key, req_json("status", serial))
    assert answer(server, "status", body, 200)["result"] == "valid"
    assert answer(server, "status", body, 403)["result"] == "stale"
    # the same nonce signed again with another time is a replay too
    nonce = secrets.token_hex(16)
    j = send(server, tmp_path, "revoke", serial, cert, key, status=200, nonce=nonce, t=now - 5)
    assert j["result"] == "accepted", j
    j = send(server, tmp_path, "revoke", serial, cert, key, status=403, nonce=nonce)
    assert j["result"] == "stale", j
    # the nonce is kept hashed, with an expiry
    rows = inst.sql("SELECT COUNT(*) FROM online_nonces")
    assert int(rows[0][0]) == 2, rows


def test_html_pages(server, tmp_path):
    serial, cert, key = issue(server.inst, tmp_path, "html.example.jp")
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    body = cms_sign(tmp_path, cert, key, req_json("status", serial))
    r = post(server, "status", body, accept=browser, lang="en")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html"), r.text
    assert "<h1>Certificate valid</h1>" in r.text and serial in r.text, r.text
    body = cms_sign(tmp_path, cert, key, req_json("status", serial))
    r = post(server, "status", body, accept=browser, lang="ja")
    assert "<h1>証明書は有効です</h1>" in r.text, r.text
    r = post(server, "revoke", b"<script>", accept=browser, lang="ja")
    assert r.status_code == 400 and "<h1>リクエストの形式が正しくありません</h1>" in r.text, r.text
    assert "<script>" not in r.text
    # JSON wins when it is preferred
    body = cms_sign(tmp_path, cert, key, req_json("status", serial))
    r = post(server, "status", body, accept="application/json, text/html;q=0.5")
    assert r.json()["result"] == "valid"


def client(srv, *args, env=None):
    e = dict(os.environ)
    e.pop("SHOMEI_PKCS11_PIN", None)
    if env:
        e.update(env)
    return subprocess.run([SHOMEI, "client", *args, "--url", srv.https, "--cafile", srv.cafile],
                          capture_output=True, timeout=60, env=e)


def test_client_with_key_file(server, tmp_path):
    serial, cert, key = issue(server.inst, tmp_path, "client.example.jp")
    p = client(server, "status", "--cert", cert, "--key", key)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["result"] == "valid"
    p = client(server, "revoke", "--cert", cert, "--key", key, "--reason", "superseded")
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    assert j["result"] == "accepted" and j["reason"] == "superseded", j
    p = client(server, "revoke", "--cert", cert, "--key", key)
    assert p.returncode == 1 and json.loads(p.stdout)["result"] == "revocation_pending"
    p = client(server, "status", "--cert", cert, "--key", key)
    assert p.returncode == 1 and json.loads(p.stdout)["result"] == "revoked"
    # usage errors, a key that is not the certificate's, no server
    assert client(server, "status", "--cert", cert).returncode == 2
    assert client(server, "status", "--cert", cert, "--key", key, "--reason",
                  "superseded").returncode == 2
    _, _, otherkey = issue(server.inst, tmp_path, "client2.example.jp")
    p = client(server, "status", "--cert", cert, "--key", otherkey)
    assert p.returncode == 1 and b"does not belong" in p.stderr, p.stderr
    p = subprocess.run([SHOMEI, "client", "status", "--cert", cert, "--key", key, "--url",
                        "https://127.0.0.1:1", "--cafile", server.cafile], capture_output=True,
                       timeout=60)
    assert p.returncode == 3 and b"127.0.0.1:1" in p.stderr, p.stderr


@pytest.fixture
def token(tmp_path):
    tokdir = tmp_path / "tokens"
    tokdir.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokdir}\nobjectstore.backend = file\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "holder",
                    "--pin", "1234", "--so-pin", "5678"], check=True, env=env,
                   capture_output=True)
    subprocess.run(["pkcs11-tool", "--module", MODULE, "--login", "--pin", "1234",
                    "--keypairgen", "--key-type", "EC:prime256v1", "--label", "me",
                    "--id", "02"], check=True, env=env, capture_output=True)
    return env


def test_client_with_pkcs11(ca_sqlite, tmp_path, token):
    """The holder's key in SoftHSM2: openssl cms through the pkcs11 engine and shomei client;
    a wrong PIN is reported as such and sends nothing."""
    uri = "pkcs11:token=holder;object=me;type=private"
    inst = ca_sqlite
    csr = str(tmp_path / "hsm.csr")
    p = subprocess.run(["openssl", "req", "-new", "-engine", "pkcs11", "-keyform", "engine",
                        "-key", uri, "-passin", "pass:1234", "-subj", "/CN=hsm.example.jp",
                        "-addext", "subjectAltName=DNS:hsm.example.jp", "-out", csr],
                       capture_output=True, env=token, timeout=60)
    assert p.returncode == 0, p.stderr
    cert = str(tmp_path / "hsm.pem")
    inst.ok("issue", "--profile", "server", "--csr", csr, "--out", cert)
    serial = cert_serial(cert)
    srv = start_server(inst)
    try:
        p = client(srv, "status", "--cert", cert, "--pkcs11", uri, "--pin", "0000", env=token)
        assert p.returncode == 1 and b"wrong PIN" in p.stderr and p.stdout == b"", p.stderr
        assert b"--pin or SHOMEI_PKCS11_PIN" in p.stderr, p.stderr
        p = client(srv, "status", "--cert", cert, "--pkcs11", uri,
                   env=dict(token, SHOMEI_PKCS11_PIN="1234"))
        assert p.returncode == 0 and json.loads(p.stdout)["result"] == "valid", p.stderr
        # the README's openssl cms command with the token key
        inp = tmp_path / "hsm.json"
        inp.write_bytes(req_json("revoke", serial, reason="keyCompromise"))
        p = subprocess.run(["openssl", "cms", "-sign", "-nodetach", "-binary", "-outform",
                            "DER", "-signer", cert, "-engine", "pkcs11", "-keyform", "engine",
                            "-inkey", uri, "-passin", "pass:1234", "-in", str(inp)],
                           capture_output=True, env=token, timeout=60)
        assert p.returncode == 0, p.stderr
        j = answer(srv, "revoke", p.stdout, 200)
        assert j["result"] == "accepted", j
        p = client(srv, "revoke", "--cert", cert, "--pkcs11", uri, "--pin", "1234", env=token)
        assert p.returncode == 1 and json.loads(p.stdout)["result"] == "revocation_pending"
    finally:
        stop_server(srv)


def test_expired_and_window(ca, tmp_path):
    """A certificate valid for one day, seen by a web process whose clock runs 3 days ahead
    (test.clock_offset); the replay window comes from online.window_seconds."""
    inst = ca
    serial, cert, key = issue(inst, tmp_path, "old.example.jp", days=1)
    offset = 3 * 24 * 3600
    srv = start_server(inst, extra_conf=f"test.instance = yes\ntest.clock_offset = {offset}\n"
                                        "online.window_seconds = 60")
    try:
        later = time.time() + offset
        j = send(srv, tmp_path, "status", serial, cert, key, status=200, t=later)
        assert j["result"] == "expired" and j["not_after"], j
        j = send(srv, tmp_path, "revoke", serial, cert, key, status=409, t=later)
        assert j["result"] == "expired", j
        # 120 s off is within the default window but not within 60 s
        j = send(srv, tmp_path, "status", serial, cert, key, status=403, t=later - 120)
        assert j["result"] == "stale", j
        # our clock's time is stale for the shifted server
        j = send(srv, tmp_path, "status", serial, cert, key, status=403)
        assert j["result"] == "stale", j
    finally:
        stop_server(srv)
    assert "cert.revoke" not in inst.ok("audit", "list")


def test_readme_commands(server, tmp_path):
    """The README's openssl cms + curl commands, run as written (paths and URL substituted)."""
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    block = readme.split("`/online/status` on the HTTPS listener.  With OpenSSL:\n\n")[1]
    block = block.split("\n\n")[0]
    script = "\n".join(line[4:] for line in block.splitlines())
    assert "openssl cms -sign -nodetach -binary -outform DER" in script, script
    script = script.replace("var/certs/root.pem", server.cafile).replace(
        "https://localhost:8443", server.https)
    serial, cert, key = issue(server.inst, tmp_path, "readme.example.jp")
    os.rename(cert, str(tmp_path / "cert.pem"))
    os.rename(key, str(tmp_path / "key.pem"))
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=str(tmp_path),
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    assert j["result"] == "accepted" and j["serial"] == serial, j
    assert j["reason"] == "keyCompromise", j


# ---- a locked PIN (issue 5 part 3) ----

LOCKSHIM = os.environ.get("SHOMEI_LOCKSHIM",
                          os.path.join(ROOT, "build", "tests", "lockshim.so"))


def test_client_pkcs11_pin_locked(ca, tmp_path, token):
    """A locked user PIN, which SoftHSM2 never has: build/tests/lockshim.so (tests/pkcs11/
    lockshim.c) forwards to SoftHSM2 and, with LOCKSHIM_LOCKED=1, answers C_Login with
    CKR_PIN_LOCKED and sets CKF_USER_PIN_LOCKED in the token info.  shomei client, pointed at
    the shim with --module or $SHOMEI_PKCS11_MODULE, says "PIN locked" (with the right PIN, a
    wrong one and none), exits 1 and sends nothing; the same shim unlocked reports a wrong PIN
    as wrong and signs with the right one, so it changes nothing else."""
    assert os.path.exists(LOCKSHIM), f"{LOCKSHIM} missing: `make` builds it"
    uri = "pkcs11:token=holder;object=me;type=private"
    inst = ca
    csr = str(tmp_path / "locked.csr")
    p = subprocess.run(["openssl", "req", "-new", "-engine", "pkcs11", "-keyform", "engine",
                        "-key", uri, "-passin", "pass:1234", "-subj", "/CN=locked.example.jp",
                        "-addext", "subjectAltName=DNS:locked.example.jp", "-out", csr],
                       capture_output=True, env=token, timeout=60)
    assert p.returncode == 0, p.stderr
    cert = str(tmp_path / "locked.pem")
    inst.ok("issue", "--profile", "server", "--csr", csr, "--out", cert)
    serial = cert_serial(cert)
    shim = dict(token, LOCKSHIM_MODULE=MODULE)
    locked = dict(shim, LOCKSHIM_LOCKED="1")
    srv = start_server(inst)
    try:
        # locked: the right PIN, a wrong PIN, no PIN; by --module and by the environment
        for args, env in [(["--pin", "1234", "--module", LOCKSHIM], locked),
                          (["--pin", "0000", "--module", LOCKSHIM], locked),
                          (["--module", LOCKSHIM], locked),
                          ([], dict(locked, SHOMEI_PKCS11_MODULE=LOCKSHIM,
                                    SHOMEI_PKCS11_PIN="1234"))]:
            p = client(srv, "status", "--cert", cert, "--pkcs11", uri, *args, env=env)
            assert p.returncode == 1 and p.stdout == b"", (args, p.returncode, p.stderr)
            assert b'PIN locked: the user PIN of token "holder" is locked' in p.stderr, \
                (args, p.stderr)
            assert b"wrong PIN for" not in p.stderr, p.stderr
            assert b"no PIN is configured" not in p.stderr, p.stderr
        # a revocation with a locked PIN revokes nothing
        p = client(srv, "revoke", "--cert", cert, "--pkcs11", uri, "--pin", "1234",
                   "--module", LOCKSHIM, env=locked)
        assert p.returncode == 1 and b"PIN locked" in p.stderr and p.stdout == b"", p.stderr
        # the shim unlocked: a wrong PIN is a wrong PIN, none is none, the right one works
        p = client(srv, "status", "--cert", cert, "--pkcs11", uri, "--pin", "0000",
                   "--module", LOCKSHIM, env=shim)
        assert p.returncode == 1 and b"wrong PIN" in p.stderr and p.stdout == b"", p.stderr
        assert b"locked" not in p.stderr, p.stderr
        p = client(srv, "status", "--cert", cert, "--pkcs11", uri, "--module", LOCKSHIM,
                   env=shim)
        assert p.returncode == 1 and b"no PIN is configured" in p.stderr, p.stderr
        assert b"locked" not in p.stderr, p.stderr
        p = client(srv, "status", "--cert", cert, "--pkcs11", uri, "--pin", "1234",
                   "--module", LOCKSHIM, env=shim)
        assert p.returncode == 0, p.stderr
        j = json.loads(p.stdout)
        assert j["result"] == "valid" and j["serial"] == serial, j
        assert "cert.revoke" not in inst.ok("audit", "list")
        p = client(srv, "revoke", "--cert", cert, "--pkcs11", uri, "--module", LOCKSHIM,
                   env=dict(shim, SHOMEI_PKCS11_PIN="1234"))
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["result"] == "accepted"
        assert "cert.revoke" in inst.ok("audit", "list")
    finally:
        stop_server(srv)
