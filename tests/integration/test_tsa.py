"""RFC 3161 time stamps over POST /tsa, checked with `openssl ts` (query, reply -text, verify)."""
import re
import ssl
import urllib.error
import urllib.request
import warnings

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7

from conftest import openssl, start_server, stop_server

QUERY = "application/timestamp-query"
REPLY = "application/timestamp-reply"

# openssl's texts for PKIFailureInfo bits (crypto/ts/ts_rsp_print.c)
FAIL_TEXT = {
    "badAlg": "unrecognized or unsupported algorithm identifier",
    "badRequest": "transaction not permitted or supported",
    "badDataFormat": "the data submitted has the wrong format",
    "unacceptedPolicy": "the requested TSA policy is not supported by the TSA",
    "unacceptedExtension": "the requested extension is not supported by the TSA",
}


def post(url, body, ctype=QUERY, context=None):
    req = urllib.request.Request(url + "/tsa", data=body, method="POST")
    if ctype is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def query(tmp_path, data, *args, name="q"):
    """`openssl ts -query` over data; returns (data file, query DER)."""
    dataf = write(tmp_path / f"{name}.dat", data)
    out = str(tmp_path / f"{name}.tsq")
    openssl("ts", "-query", "-data", dataf, *args, "-out", out)
    with open(out, "rb") as f:
        return dataf, f.read()


def reply_text(tmp_path, resp, name="r"):
    path = write(tmp_path / f"{name}.tsr", resp)
    return openssl("ts", "-reply", "-in", path, "-text").stdout.decode()


def verify(srv, tmp_path, dataf, resp, with_tsa_cert=False, name="r"):
    """`openssl ts -verify` with the root as the only trust anchor."""
    chain = tmp_path / "chain.pem"
    pems = [srv.inst.path("certs", "issuing.pem")]
    if with_tsa_cert:
        pems.append(srv.inst.path("certs", "tsa.pem"))
    with open(chain, "wb") as out:
        for p in pems:
            with open(p, "rb") as f:
                out.write(f.read())
    path = write(tmp_path / f"{name}.tsr", resp)
    return openssl("ts", "-verify", "-data", dataf, "-in", path, "-CAfile",
                   srv.inst.path("certs", "root.pem"), "-untrusted", str(chain), check=False)


def stamp(srv, tmp_path, data, *args, name="q"):
    dataf, q = query(tmp_path, data, *args, name=name)
    code, ctype, body = post(srv.http, q)
    assert code == 200, body
    assert ctype == REPLY
    return dataf, q, body


def field(text, name):
    m = re.search(rf"^{name}:\s*(.*)$", text, re.M)
    assert m, (name, text)
    return m.group(1).strip()


def assert_rejected(tmp_path, body, fail):
    text = reply_text(tmp_path, body, name="rej")
    assert "Status: Rejected" in text, text
    assert FAIL_TEXT[fail] in text, text
    # nothing else in the failInfo
    for other, t in FAIL_TEXT.items():
        if other != fail:
            assert t not in text, text


# ---- DER helpers for requests openssl will not make ----

def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        ln = bytes([n])
    elif n < 0x100:
        ln = bytes([0x81, n])
    else:
        ln = bytes([0x82, n >> 8, n & 0xff])
    return bytes([tag]) + ln + content


SHA256_OID = bytes.fromhex("0609608648016503040201")


def raw_req(version=1, oid=SHA256_OID, digest=b"\x11" * 32, tail=b""):
    alg = tlv(0x30, oid + b"\x05\x00")
    mi = tlv(0x30, alg + tlv(0x04, digest))
    return tlv(0x30, tlv(0x02, bytes([version])) + mi + tail)


# ---- tests ----

@pytest.mark.parametrize("md", ["-sha256", "-sha384", "-sha512"])
def test_stamp_and_verify(server, tmp_path, md):
    dataf, q, body = stamp(server, tmp_path, b"the document\n", md, "-cert")
    text = reply_text(tmp_path, body)
    assert "Status: Granted." in text, text
    # the TSA policy init made under the CA's own arc (not OpenSSL's example 1.2.3.4.1)
    pol = tsa_policy(server.inst)
    assert pol.startswith("1.2.840.113556.1.8000.2554.") and pol.endswith(".2"), pol
    assert field(text, "Policy OID") == pol
    assert field(text, "Hash Algorithm") == md[1:]
    assert field(text, "Accuracy") == "0x01 seconds, unspecified millis, unspecified micros"
    assert field(text, "Ordering") == "no"
    assert field(text, "TSA").startswith("DirName:")
    assert "Time-Stamping Authority" in field(text, "TSA")
    p = verify(server, tmp_path, dataf, body)
    assert p.returncode == 0, p.stderr
    assert b"Verification: OK" in p.stdout


def test_nonce_echoed_and_serials_unique(server, tmp_path):
    serials = set()
    for i in range(3):
        dataf, q, body = stamp(server, tmp_path, b"doc %d" % i, "-sha256", "-cert",
                               name=f"q{i}")
        qtext = openssl("ts", "-query", "-in", str(tmp_path / f"q{i}.tsq"),
                        "-text").stdout.decode()
        text = reply_text(tmp_path, body, name=f"r{i}")
        assert field(text, "Nonce") == field(qtext, "Nonce")
        serials.add(field(text, "Serial number"))
    assert len(serials) == 3


def test_no_nonce(server, tmp_path):
    dataf, q, body = stamp(server, tmp_path, b"x", "-sha256", "-cert", "-no_nonce")
    text = reply_text(tmp_path, body)
    assert field(text, "Nonce") == "unspecified"
    assert verify(server, tmp_path, dataf, body).returncode == 0


def test_cert_req(server, tmp_path):
    # with certReq the token carries the TSA certificate: the chain file need not
    dataf, q, body = stamp(server, tmp_path, b"with", "-sha256", "-cert", name="with")
    tok = tmp_path / "with.tok"
    openssl("ts", "-reply", "-in", write(tmp_path / "with.tsr", body), "-token_out",
            "-out", str(tok))
    certs = openssl("pkcs7", "-inform", "DER", "-in", str(tok), "-print_certs").stdout
    assert certs.count(b"-----BEGIN CERTIFICATE-----") == 1
    assert verify(server, tmp_path, dataf, body, name="with").returncode == 0
    # the token is plain CMS SignedData too: openssl cms and python3-cryptography read it
    tst = tmp_path / "with.tst"
    p = openssl("cms", "-verify", "-inform", "DER", "-in", str(tok), "-CAfile",
                server.inst.path("certs", "chain.pem"), "-purpose", "any", "-out", str(tst),
                check=False)
    assert p.returncode == 0, p.stderr
    assert tsa_policy(server.inst).encode() in \
        openssl("asn1parse", "-inform", "DER", "-in", str(tst)).stdout
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it knows no eContentType but id-data
        got = pkcs7.load_der_pkcs7_certificates(tok.read_bytes())
    with open(server.inst.path("certs", "tsa.pem"), "rb") as f:
        want = x509.load_pem_x509_certificate(f.read())
    assert got == [want]
    # without it there is no certificate, so verification needs tsa.pem from elsewhere
    dataf, q, body = stamp(server, tmp_path, b"without", "-sha256", name="without")
    tok = tmp_path / "without.tok"
    openssl("ts", "-reply", "-in", write(tmp_path / "without.tsr", body), "-token_out",
            "-out", str(tok))
    certs = openssl("pkcs7", "-inform", "DER", "-in", str(tok), "-print_certs").stdout
    assert b"BEGIN CERTIFICATE" not in certs
    assert verify(server, tmp_path, dataf, body, name="without").returncode != 0
    p = verify(server, tmp_path, dataf, body, with_tsa_cert=True, name="without")
    assert p.returncode == 0, p.stderr


def test_wrong_data_does_not_verify(server, tmp_path):
    dataf, q, body = stamp(server, tmp_path, b"original", "-sha256", "-cert")
    other = write(tmp_path / "other.dat", b"forged")
    assert verify(server, tmp_path, other, body).returncode != 0


def tsa_policy(inst):
    """The tsa.policy of the instance's shomei.conf (the last one written counts)."""
    pol = None
    with open(inst.path("shomei.conf")) as f:
        for line in f:
            k, _, v = line.partition("=")
            if k.strip() == "tsa.policy":
                pol = v.strip()
    assert pol, "init wrote no tsa.policy"
    return pol


def test_policy_requested(server, tmp_path):
    dataf, q, body = stamp(server, tmp_path, b"p", "-sha256", "-cert", "-tspolicy",
                           tsa_policy(server.inst))
    assert "Status: Granted." in reply_text(tmp_path, body)
    # OpenSSL's example policy is not ours
    dataf, q, body = stamp(server, tmp_path, b"p", "-sha256", "-cert", "-tspolicy",
                           "1.2.3.4.1", name="q1")
    assert_rejected(tmp_path, body, "unacceptedPolicy")
    dataf, q, body = stamp(server, tmp_path, b"p", "-sha256", "-cert", "-tspolicy",
                           "1.2.3.4.99", name="q2")
    assert_rejected(tmp_path, body, "unacceptedPolicy")


@pytest.mark.parametrize("md", ["-sha1", "-md5"])
def test_bad_alg(server_sqlite, tmp_path, md):
    dataf, q, body = stamp(server_sqlite, tmp_path, b"weak", md)
    assert_rejected(tmp_path, body, "badAlg")


def test_bad_requests(server, tmp_path):
    cases = [
        (raw_req(), None),                                    # the baseline is granted
        (raw_req(version=2), "badRequest"),
        (raw_req(digest=b"\x11" * 20), "badDataFormat"),
        (raw_req(digest=b"\x11" * 64), "badDataFormat"),
        (raw_req(tail=tlv(0xa0, b"")), "unacceptedExtension"),
        (raw_req()[:-5], "badRequest"),                       # truncated DER
        (raw_req() + b"\x00", "badRequest"),                  # trailing garbage
        (b"", "badRequest"),
        (b"this is not DER at all", "badRequest"),
    ]
    for body, fail in cases:
        code, ctype, resp = post(server.http, body)
        assert code == 200 and ctype == REPLY, (code, resp)
        if fail is None:
            assert "Status: Granted." in reply_text(tmp_path, resp)
        else:
            assert_rejected(tmp_path, resp, fail)
    # the server keeps serving
    dataf, q, body = stamp(server, tmp_path, b"after", "-sha256", "-cert")
    assert verify(server, tmp_path, dataf, body).returncode == 0


def test_wrong_content_type(server_sqlite, tmp_path):
    dataf, q = query(tmp_path, b"ct", "-sha256")
    for ctype in ["application/ocsp-request", "text/plain", None]:
        code, rctype, resp = post(server_sqlite.http, q, ctype=ctype)
        assert code == 200 and rctype == REPLY
        assert_rejected(tmp_path, resp, "badRequest")
    # parameters are allowed
    code, rctype, resp = post(server_sqlite.http, q, ctype=QUERY + "; charset=binary")
    assert "Status: Granted." in reply_text(tmp_path, resp)


def test_huge_body(server_sqlite, tmp_path):
    code, ctype, resp = post(server_sqlite.http, b"\x30" * (65 * 1024))
    assert code == 413
    dataf, q, body = stamp(server_sqlite, tmp_path, b"still here", "-sha256", "-cert")
    assert verify(server_sqlite, tmp_path, dataf, body).returncode == 0


def test_get_is_not_allowed(server_sqlite):
    try:
        with urllib.request.urlopen(server_sqlite.http + "/tsa", timeout=10) as r:
            code = r.status
    except urllib.error.HTTPError as e:
        code = e.code
    assert code in (404, 405)


def test_https_listener(server_sqlite, tmp_path):
    ctx = ssl.create_default_context(cafile=server_sqlite.cafile)
    dataf, q = query(tmp_path, b"over tls", "-sha384", "-cert")
    code, ctype, body = post(server_sqlite.https, q, context=ctx)
    assert code == 200 and ctype == REPLY
    assert verify(server_sqlite, tmp_path, dataf, body).returncode == 0


def test_config_policy_accuracy_and_restart(ca_sqlite, tmp_path):
    """tsa.policy and tsa.accuracy_ms are honoured; serials stay unique across a restart."""
    srv = start_server(ca_sqlite, extra_conf="tsa.policy = 1.3.6.1.4.1.99999.1\n"
                                             "tsa.accuracy_ms = 500")
    try:
        dataf, q, body = stamp(srv, tmp_path, b"a", "-sha256", "-cert", name="a")
        text = reply_text(tmp_path, body, name="a")
        assert field(text, "Policy OID") == "1.3.6.1.4.1.99999.1"
        assert field(text, "Accuracy") == \
            "unspecified seconds, 0x01F4 millis, unspecified micros"
        assert verify(srv, tmp_path, dataf, body, name="a").returncode == 0
        first = int(field(text, "Serial number"), 16)
        # a policy we do not have
        dataf, q, body = stamp(srv, tmp_path, b"a", "-sha256", "-tspolicy", "1.2.3.4.1",
                               name="b")
        assert_rejected(tmp_path, body, "unacceptedPolicy")
    finally:
        stop_server(srv)
    srv = start_server(ca_sqlite)
    try:
        dataf, q, body = stamp(srv, tmp_path, b"c", "-sha256", "-cert", name="c")
        second = int(field(reply_text(tmp_path, body, name="c"), "Serial number"), 16)
        assert second > first
        rows = ca_sqlite.sql("SELECT value FROM counters WHERE name = 'tsa_serial'")
        assert rows and int(rows[0][0]) >= second
    finally:
        stop_server(srv)


def test_metrics(server_sqlite, tmp_path):
    stamp(server_sqlite, tmp_path, b"m", "-sha256")
    post(server_sqlite.http, b"junk")
    with urllib.request.urlopen(server_sqlite.http + "/metrics", timeout=10) as r:
        text = r.read().decode()
    assert 'shomei_tsa_responses_total{status="granted"} 1' in text
    assert 'shomei_tsa_responses_total{status="rejection",failinfo="badRequest"} 1' in text
