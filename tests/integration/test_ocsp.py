"""OCSP responder (RFC 6960 / RFC 5019) driven by `openssl ocsp`, raw HTTP and
python3-cryptography (Debian's 38: naive UTC datetimes), on both store backends."""
import base64
import datetime
import os
import socket
import urllib.parse
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from conftest import make_csr, openssl, start_server, stop_server

OCSP_CT = "application/ocsp-request"


def issue(inst, tmp_path, cn):
    csr, _ = make_csr(tmp_path, subj=f"/CN={cn}", san=f"DNS:{cn}")
    out = str(tmp_path / f"{cn}.pem")
    inst.ok("issue", "--profile", "server", "--csr", csr, "--out", out)
    serial = openssl("x509", "-in", out, "-noout", "-serial").stdout.decode().strip()[7:]
    return serial, out


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def ocsp_cli(srv, certs, *extra, serials=(), digest=None, check=True):
    """`openssl ocsp` against the server; returns (stdout+stderr text, response DER)."""
    inst = srv.inst
    respout = inst.path(f"resp-{os.getpid()}-{len(certs)}.der")
    args = ["ocsp"]
    if digest:
        args.append(f"-{digest}")
    args += ["-issuer", inst.path("certs", "issuing.pem")]
    for c in certs:
        args += ["-cert", c]
    for s in serials:
        args += ["-serial", s]
    args += ["-url", srv.http + "/ocsp", "-CAfile", inst.path("certs", "root.pem"),
             "-respout", respout, *extra]
    p = openssl(*args, check=check)
    text = (p.stdout + p.stderr).decode()
    der = b""
    if os.path.exists(respout):
        with open(respout, "rb") as f:
            der = f.read()
        os.unlink(respout)
    return text, der


def build_request(issuer_path, cert_paths, algorithm=hashes.SHA1(), nonce=None):
    issuer = load_cert(issuer_path)
    b = ocsp.OCSPRequestBuilder()
    for c in cert_paths:
        b = b.add_certificate(load_cert(c), issuer, algorithm)
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


def post(srv, body, ctype=OCSP_CT):
    req = urllib.request.Request(srv.http + "/ocsp", data=body, method="POST")
    if ctype is not None:
        req.add_header("Content-Type", ctype)
    else:
        req.remove_header("Content-type")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def get(srv, path):
    try:
        with urllib.request.urlopen(srv.http + path, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def parse(der):
    return ocsp.load_der_ocsp_response(der)


def error_status(der):
    """responseStatus of an unsigned error response."""
    assert len(der) == 5 and der[:4] == b"\x30\x03\x0a\x01", der
    return der[4]


def check_signed(inst, resp):
    """The response is signed by the delegated OCSP certificate, which it carries."""
    ocsp_cert = load_cert(inst.path("certs", "ocsp.pem"))
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert [c.fingerprint(hashes.SHA256()) for c in resp.certificates] == \
        [ocsp_cert.fingerprint(hashes.SHA256())]
    ocsp_cert.public_key().verify(resp.signature, resp.tbs_response_bytes,
                                  ec.ECDSA(resp.signature_hash_algorithm))
    assert resp.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(
        ocsp_cert.public_key()).digest


def test_post_good_sha1_sha256_nonce(server, tmp_path):
    inst = server.inst
    serial, cert = issue(inst, tmp_path, "good.example.jp")
    for digest in ("sha1", "sha256"):
        reqout = str(tmp_path / f"req-{digest}.der")
        text, der = ocsp_cli(server, [cert], "-nonce", "-reqout", reqout, digest=digest)
        assert "Response verify OK" in text, text
        assert f"{cert}: good" in text, text
        resp = parse(der)
        check_signed(inst, resp)
        assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert resp.serial_number == int(serial, 16)
        assert resp.hash_algorithm.name == digest
        # 8 hours by default, thisUpdate backdated 5 minutes for clients' clock skew
        assert resp.next_update - resp.this_update == datetime.timedelta(hours=8)
        skew = resp.produced_at - resp.this_update
        assert skew == datetime.timedelta(minutes=5), (resp.produced_at, resp.this_update)
        # nonce echoed (openssl checked it too: "Response verify OK" includes the nonce)
        with open(reqout, "rb") as f:
            req = ocsp.load_der_ocsp_request(f.read())
        rn = req.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == rn
    # without nonce: no response extensions
    text, der = ocsp_cli(server, [cert], "-no_nonce")
    assert f"{cert}: good" in text and "Response verify OK" in text, text
    resp = parse(der)
    assert len(resp.extensions) == 0
    # the responder certificate given directly (-VAfile) also verifies
    text, _ = ocsp_cli(server, [cert], "-VAfile", inst.path("certs", "ocsp.pem"))
    assert "Response verify OK" in text and f"{cert}: good" in text, text


def test_multi_and_unknown(server, tmp_path):
    inst = server.inst
    s1, c1 = issue(inst, tmp_path, "a.example.jp")
    s2, c2 = issue(inst, tmp_path, "b.example.jp")
    inst.ok("revoke", s2, "--reason", "superseded")
    text, der = ocsp_cli(server, [c1, c2], serials=["0x0123456789ABCDEF"])
    assert "Response verify OK" in text, text
    assert f"{c1}: good" in text and f"{c2}: revoked" in text, text
    assert "0x0123456789ABCDEF: unknown" in text, text
    resp = parse(der)
    check_signed(inst, resp)
    got = {r.serial_number: r for r in resp.responses}
    assert got[int(s1, 16)].certificate_status == ocsp.OCSPCertStatus.GOOD
    assert got[int(s2, 16)].certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert got[int(s2, 16)].revocation_reason == x509.ReasonFlags.superseded
    assert got[0x0123456789ABCDEF].certificate_status == ocsp.OCSPCertStatus.UNKNOWN
    # an unknown serial alone is answered unknown (signed), not an error
    text, der = ocsp_cli(server, [], "-no_nonce", serials=["0x42"])
    assert "0x42: unknown" in text, text
    check_signed(inst, parse(der))


def test_revocation_shows_at_once(server, tmp_path):
    inst = server.inst
    serial, cert = issue(inst, tmp_path, "revoke-me.example.jp")
    body = build_request(inst.path("certs", "issuing.pem"), [cert])
    # no nonce: answered from the cache the second time (same bytes)
    st, _, d1 = post(server, body)
    st2, _, d2 = post(server, body)
    assert st == st2 == 200 and d1 == d2
    assert parse(d1).certificate_status == ocsp.OCSPCertStatus.GOOD
    text, _ = ocsp_cli(server, [cert], "-no_nonce")
    assert f"{cert}: good" in text, text
    inst.ok("revoke", serial, "--reason", "keyCompromise")
    # immediately revoked, with time and reason, over POST (openssl) and GET
    text, der = ocsp_cli(server, [cert], "-no_nonce")
    assert f"{cert}: revoked" in text and "keyCompromise" in text, text
    st, _, d3 = post(server, body)
    r = parse(d3)
    assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert r.revocation_reason == x509.ReasonFlags.key_compromise
    now = datetime.datetime.utcnow()
    assert abs((r.revocation_time - now).total_seconds()) < 120
    b64 = base64.b64encode(body).decode()
    st, _, d4 = get(server, "/ocsp/" + urllib.parse.quote(b64, safe=""))
    assert st == 200 and parse(d4).certificate_status == ocsp.OCSPCertStatus.REVOKED


def test_get_caching_headers(server, tmp_path):
    inst = server.inst
    _, cert = issue(inst, tmp_path, "get.example.jp")
    issuer = inst.path("certs", "issuing.pem")
    body = build_request(issuer, [cert], hashes.SHA256())
    b64 = base64.b64encode(body).decode()
    for path in ("/ocsp/" + b64, "/ocsp/" + urllib.parse.quote(b64, safe=""),
                 "/ocsp/" + base64.urlsafe_b64encode(body).decode().rstrip("=")):
        st, h, der = get(server, path)
        assert st == 200, (path, st, der)
        assert h["Content-Type"] == "application/ocsp-response"
        r = parse(der)
        check_signed(inst, r)
        assert r.certificate_status == ocsp.OCSPCertStatus.GOOD
        cc = h["Cache-Control"]
        assert "public" in cc and "no-transform" in cc and "must-revalidate" in cc, cc
        maxage = int(cc.split("max-age=")[1].split(",")[0])
        assert 0 < maxage <= 8 * 3600
        nu = r.next_update
        assert abs((nu - datetime.datetime.utcnow()).total_seconds()
                   - maxage) < 5
        assert h["ETag"].startswith('"') and h["ETag"].endswith('"')
        lm = datetime.datetime.strptime(h["Last-Modified"], "%a, %d %b %Y %H:%M:%S GMT")
        assert lm == r.this_update  # RFC 5019 6.2
        exp = datetime.datetime.strptime(h["Expires"], "%a, %d %b %Y %H:%M:%S GMT")
        assert exp == nu
    # with a nonce: answered, echoed, and not cacheable
    body = build_request(issuer, [cert], nonce=b"0123456789abcdef")
    st, h, der = get(server, "/ocsp/" + urllib.parse.quote(base64.b64encode(body).decode(),
                                                           safe=""))
    assert st == 200 and h["Cache-Control"] == "no-store"
    r = parse(der)
    assert r.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == \
        b"0123456789abcdef"
    # '+' and '/' left unescaped in the path (as many clients send them) decode as base64
    for _ in range(200):
        nonce = os.urandom(16)
        body = build_request(issuer, [cert], nonce=nonce)
        b64 = base64.b64encode(body).decode()
        if "+" in b64 and "/" in b64:
            break
    assert "+" in b64 and "/" in b64
    st, _, der = get(server, "/ocsp/" + b64)
    assert st == 200
    assert parse(der).extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    # POST answers are not for shared caches; /ocsp/ answers POST too
    st, h, _ = post(server, build_request(issuer, [cert]))
    assert h["Cache-Control"] == "no-store"
    req = urllib.request.Request(server.http + "/ocsp/", data=build_request(issuer, [cert]),
                                 method="POST", headers={"Content-Type": OCSP_CT})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert parse(r.read()).certificate_status == ocsp.OCSPCertStatus.GOOD


def foreign_ca(tmp_path):
    """A self-signed CA and a certificate it issued, both made by openssl."""
    key = str(tmp_path / "foreign.key")
    ca = str(tmp_path / "foreign.pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", ca, "-subj", "/CN=Foreign CA", "-days", "2")
    csr, _ = make_csr(tmp_path, subj="/CN=foreign-leaf")
    leaf = str(tmp_path / "foreign-leaf.pem")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", key, "-out", leaf, "-days", "1",
            "-set_serial", "77")
    return ca, leaf


def test_bad_requests_then_still_serving(server, tmp_path):
    inst = server.inst
    serial, cert = issue(inst, tmp_path, "still.example.jp")
    good = build_request(inst.path("certs", "issuing.pem"), [cert])
    MALFORMED, UNAUTHORIZED = 1, 6
    # truncated DER, garbage, empty, trailing bytes
    for body in (good[:-1], good[:10], b"\x00" * 40, os.urandom(300), b"", good + b"\x00",
                 b"\x30\x80" + good[2:]):
        st, h, der = post(server, body)
        assert st == 200 and h["Content-Type"] == "application/ocsp-response", (st, body)
        assert error_status(der) == MALFORMED, body
    # wrong or missing Content-Type: malformedRequest (what OCSP clients can parse)
    for ct in ("application/x-www-form-urlencoded", "text/plain", None):
        st, _, der = post(server, good, ctype=ct)
        assert st == 200 and error_status(der) == MALFORMED, ct
    st, _, der = post(server, good, ctype="Application/OCSP-Request; charset=binary")
    assert st == 200 and parse(der).certificate_status == ocsp.OCSPCertStatus.GOOD
    # a body over 64 KiB: 413 from the HTTP layer
    st, _, _ = post(server, b"\x30" * (65 * 1024))
    assert st == 413
    # bad base64 on GET, and an empty GET request
    for path in ("/ocsp/!!!!", "/ocsp/QUJD=x", "/ocsp/Q", "/ocsp/"):
        st, _, der = get(server, path)
        assert st == 200 and error_status(der) == MALFORMED, path
    # a CertID of another CA only: unauthorized (RFC 6960 2.3)
    fca, fleaf = foreign_ca(tmp_path)
    st, _, der = post(server, build_request(fca, [fleaf]))
    assert st == 200 and error_status(der) == UNAUTHORIZED
    text, _ = ocsp_cli(server, [fleaf], "-no_nonce", check=False)
    assert "unauthorized" in text.lower(), text
    # and the server keeps answering
    st, _, der = post(server, good)
    r = parse(der)
    assert r.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert r.serial_number == int(serial, 16)
    text, _ = ocsp_cli(server, [cert])
    assert f"{cert}: good" in text, text
    # every answer was counted
    st, _, m = get(server, "/metrics")
    m = m.decode()
    assert 'shomei_ocsp_responses_total{status="good"}' in m
    assert 'shomei_ocsp_responses_total{status="malformedRequest"}' in m
    assert 'shomei_ocsp_responses_total{status="unauthorized"}' in m


def test_http10_host_without_port(server, tmp_path):
    _, cert = issue(server.inst, tmp_path, "http10.example.jp")
    body = build_request(server.inst.path("certs", "issuing.pem"), [cert])
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=30) as s:
        s.sendall(b"POST /ocsp HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/ocsp-request\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0], head
    assert b"application/ocsp-response" in head
    assert parse(payload).certificate_status == ocsp.OCSPCertStatus.GOOD


def test_validity_configurable(ca_sqlite, tmp_path):
    srv = start_server(ca_sqlite, extra_conf="ocsp.validity_minutes = 5")
    try:
        _, cert = issue(ca_sqlite, tmp_path, "short.example.jp")
        st, _, der = post(srv, build_request(ca_sqlite.path("certs", "issuing.pem"), [cert]))
        r = parse(der)
        assert r.next_update - r.this_update == datetime.timedelta(minutes=5)
        # the backdating shrinks to a quarter of a short validity
        assert r.produced_at - r.this_update == datetime.timedelta(seconds=75)
    finally:
        stop_server(srv)


def test_fresh_answers_limited_per_address(ca_sqlite, tmp_path):
    """Answers signed for one client alone (a nonce, several CertIDs) cost a signature each:
    an address gets ocsp.fresh_rate of them a minute.  Past that, one CertID is answered from
    the cache without the nonce (still good and signed), several get tryLater; requests
    without a nonce are not counted and keep their answers."""
    ca = ca_sqlite
    _, c1 = issue(ca, tmp_path, "fresh1.example.com")
    _, c2 = issue(ca, tmp_path, "fresh2.example.com")
    srv = start_server(ca, extra_conf="ocsp.fresh_rate = 4")
    issuer = ca.path("certs", "issuing.pem")
    try:
        nonces = []
        for i in range(6):
            n = os.urandom(16)
            st, _, der = post(srv, build_request(issuer, [c1], nonce=n))
            assert st == 200
            resp = parse(der)
            assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
            assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
            check_signed(ca, resp)
            try:
                got = resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
            except x509.ExtensionNotFound:
                got = None
            nonces.append(got == n)
        # the first four carry their nonce, the rest come from the cache without one
        assert nonces == [True] * 4 + [False] * 2, nonces
        # several CertIDs over the limit: tryLater
        text, der = ocsp_cli(srv, [c1, c2], "-no_nonce", check=False)
        assert error_status(der) == 3, text  # tryLater
        # plain single requests are not limited
        for _ in range(10):
            st, _, der = post(srv, build_request(issuer, [c2]))
            assert parse(der).certificate_status == ocsp.OCSPCertStatus.GOOD
        _, _, metrics = get(srv, "/metrics")
        line = [x for x in metrics.decode().splitlines()
                if x.startswith("shomei_ocsp_fresh_limited_total")]
        assert line and int(line[0].split()[-1]) == 3, line
    finally:
        stop_server(srv)
