"""The signer's own log of every signature (src/signer/slog.c): outside the store, hash-chained;
`shomei signer-log verify` finds a changed line, `shomei audit reconcile` a certificate the
signer signed that the store does not hold; the online signer logs OCSP and CRLs too."""
import base64
import time
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from conftest import make_csr, start_server, stop_server


def lines(inst):
    with open(inst.path("signer.log")) as f:
        return [l.rstrip("\n").split("\t") for l in f]


def test_signer_log(ca_sqlite, tmp_path):
    inst = ca_sqlite
    serials = []
    for cn in ("a.example.jp", "b.example.jp"):
        csr, _ = make_csr(tmp_path, subj=f"/CN={cn}", san=f"DNS:{cn}")
        pem = inst.ok("issue", "--profile", "server", "--csr", csr)
        serials.append("%X" % x509.load_pem_x509_certificate(pem.encode()).serial_number)
    inst.ok("crl")
    got = lines(inst)
    assert [l[2] for l in got] == ["cert", "cert", "crl"], got
    assert [l[0] for l in got] == ["1", "2", "3"]
    assert [l[3].lstrip("0") for l in got[:2]] == serials
    assert got[2][3] == "full:1@shomei"  # the number of the issuing CA called shomei
    assert all(len(l[4]) == 64 and len(l[5]) == 64 for l in got)
    out = inst.ok("signer-log", "verify")
    assert "signer log intact: 3 signatures, last hash " + got[2][5] in out, out
    out = inst.ok("audit", "reconcile")
    assert "holds all 2 certificates" in out, out

    # the online signer logs what it signs: an OCSP answer, a CRL of the schedule
    srv = start_server(inst)
    try:
        issuing = x509.load_pem_x509_certificate(open(inst.path("certs", "issuing.pem"),
                                                      "rb").read())
        cert = x509.load_pem_x509_certificate(pem.encode())
        req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuing, hashes.SHA1()).build()
        der = req.public_bytes(serialization.Encoding.DER)
        with urllib.request.urlopen(srv.http + "/ocsp/" + base64.urlsafe_b64encode(der)
                                    .decode().rstrip("="), timeout=10) as r:
            assert ocsp.load_der_ocsp_response(r.read()).certificate_status == \
                ocsp.OCSPCertStatus.GOOD
        end = time.time() + 10
        while "ocsp" not in [l[2] for l in lines(inst)] and time.time() < end:
            time.sleep(0.1)
        assert "ocsp" in [l[2] for l in lines(inst)]
    finally:
        stop_server(srv)
    inst.ok("signer-log", "verify")

    # a line cut short (a full disk, a crash inside write): its signature was never sent, so
    # the next signature removes it and the chain goes on
    with open(inst.path("signer.log"), "a") as f:
        f.write("99\t1796000000\tcert\tABCD")
    csr, _ = make_csr(tmp_path, subj="/CN=c.example.jp", san="DNS:c.example.jp")
    inst.ok("issue", "--profile", "server", "--csr", csr)
    out = inst.ok("signer-log", "verify")
    n = len(lines(inst))
    assert f"signer log intact: {n} signatures" in out and "ABCD" not in \
        open(inst.path("signer.log")).read(), out
    got = lines(inst)

    # a certificate the store lost (or that was signed behind its back)
    inst.sql(f"DELETE FROM certificates WHERE serial = '{got[1][3]}'")
    p = inst.run("audit", "reconcile")
    assert p.returncode == 1, p
    assert f"signed but not in the store: {got[1][3]}".encode() in p.stdout, p.stdout
    assert b"of the 3 certificates the signer signed, 1 are not in the store" in p.stderr, \
        p.stderr

    # a stored certificate replaced by another under its serial: not what the signer signed
    inst.sql(f"UPDATE certificates SET der = (SELECT der FROM certificates WHERE serial = "
             f"'{got[0][3]}') WHERE serial = '{got[-1][3]}'")
    p = inst.run("audit", "reconcile")
    assert p.returncode == 1, p
    assert f"in the store, but not the certificate the signer signed: {got[-1][3]}".encode() \
        in p.stdout, p.stdout
    assert b"1 differ from the store's" in p.stderr, p.stderr

    # one serial signed twice with different contents (a line chained as the signer would)
    import hashlib
    last = lines(inst)[-1]
    body = f"{int(last[0]) + 1}\t{int(time.time())}\tcert\t{got[0][3]}\t{'AB' * 32}\t"
    h = hashlib.sha256((last[5] + body).encode()).hexdigest().upper()
    with open(inst.path("signer.log"), "a") as f:
        f.write(body + h + "\n")
    inst.ok("signer-log", "verify")
    p = inst.run("audit", "reconcile")
    assert p.returncode == 1, p
    assert f"signed twice with one serial, different contents: {got[0][3]}".encode() \
        in p.stdout, p.stdout

    # a changed line breaks the chain there
    text = open(inst.path("signer.log")).read().split("\n")
    text[1] = text[1].replace("\tcert\t", "\tcrl\t")
    with open(inst.path("signer.log"), "w") as f:
        f.write("\n".join(text))
    p = inst.run("signer-log", "verify")
    assert p.returncode == 1 and b"signer.log:2: the hash chain breaks here" in p.stderr, p
    p = inst.run("audit", "reconcile")
    assert p.returncode == 1 and b"the hash chain breaks here" in p.stderr
