"""Bad CSRs: each gets its own clear error, exit status 1, and the store is left unchanged."""
import os

import pytest

from conftest import make_csr, openssl


def snapshot(ca):
    return (ca.ok("cert", "list"), ca.ok("audit", "list"))


def der_csr(tmp_path, key="rsa:2048", san="DNS:bad.example.jp"):
    csr, _ = make_csr(tmp_path, subj="/CN=bad.example.jp", san=san, key=key)
    der = str(tmp_path / "csr.der")
    openssl("req", "-in", csr, "-outform", "DER", "-out", der)
    with open(der, "rb") as f:
        return bytearray(f.read())


def write(tmp_path, name, data):
    p = str(tmp_path / name)
    with open(p, "wb") as f:
        f.write(data)
    return p


CASES = {
    "garbage": "not a PEM or DER certificate request",
    "bad_base64": "bad base64",
    "bad_signature": "signature does not verify",
    "rsa1024": "RSA key of 1024 bits is too weak",
    "no_san": "requires a dNSName or iPAddress SAN",
    "huge": "larger than 65536 bytes",
    "secp256k1": "not approved",
    "bad_wildcard": "wildcard",
    "trailing": "trailing",
}


def build(case, tmp_path):
    if case == "garbage":
        return write(tmp_path, "g.csr", os.urandom(700))
    if case == "bad_base64":
        return write(tmp_path, "b.csr", b"-----BEGIN CERTIFICATE REQUEST-----\n"
                     b"MIIBIjAN!!!!not*base64@@@@\n-----END CERTIFICATE REQUEST-----\n")
    if case == "bad_signature":
        der = der_csr(tmp_path)
        der[-5] ^= 0x55  # inside the RSA signature value
        return write(tmp_path, "s.der", bytes(der))
    if case == "rsa1024":
        return make_csr(tmp_path, subj="/CN=w.example.jp", san="DNS:w.example.jp",
                        key="rsa:1024")[0]
    if case == "no_san":
        return make_csr(tmp_path, subj="/CN=nosan.example.jp")[0]
    if case == "huge":
        csr, _ = make_csr(tmp_path, subj="/CN=h.example.jp", san="DNS:h.example.jp")
        with open(csr, "rb") as f:
            data = f.read()
        return write(tmp_path, "h.csr", data + b"\n" * (1024 * 1024))
    if case == "secp256k1":
        return make_csr(tmp_path, subj="/CN=k.example.jp", san="DNS:k.example.jp",
                        key="ec:secp256k1")[0]
    if case == "bad_wildcard":
        return make_csr(tmp_path, subj="/CN=x", san="DNS:f*o.example.jp")[0]
    if case == "trailing":
        der = der_csr(tmp_path, key="ec:P-256")
        return write(tmp_path, "t.der", bytes(der) + b"\x00\x01")
    raise AssertionError(case)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_csr(ca, tmp_path, case):
    path = build(case, tmp_path)
    before = snapshot(ca)
    p = ca.run("issue", "--profile", "server", "--csr", path)
    assert p.returncode == 1, (case, p.returncode, p.stderr)
    assert CASES[case].encode() in p.stderr, (case, p.stderr)
    assert p.stdout == b""
    assert snapshot(ca) == before


def test_messages_are_distinct():
    assert len(set(CASES.values())) == len(CASES)


def _tlv(tag, body):
    n = len(body)
    if n < 0x80:
        hdr = bytes([n])
    else:
        lb = n.to_bytes((n.bit_length() + 7) // 8, "big")
        hdr = bytes([0x80 | len(lb)]) + lb
    return bytes([tag]) + hdr + body


def _split(der):
    """Elements of a DER SEQUENCE, as raw TLVs."""
    def read(b, off):
        ln = b[off + 1]
        if ln < 0x80:
            return off + 2, ln
        k = ln & 0x7F
        return off + 2 + k, int.from_bytes(b[off + 2:off + 2 + k], "big")
    start, length = read(der, 0)
    out, off = [], start
    while off < start + length:
        body, ln = read(der, off)
        out.append(der[off:body + ln])
        off = body + ln
    return out


def test_duplicate_extension(ca, tmp_path):
    """openssl and cryptography refuse to make one, so build it: two subjectAltName
    extensions (issuerAltName's OID patched to SAN's), request info re-signed."""
    from cryptography import x509 as cx
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (cx.CertificateSigningRequestBuilder()
           .subject_name(cx.Name([cx.NameAttribute(NameOID.COMMON_NAME, "dup.example.jp")]))
           .add_extension(cx.SubjectAlternativeName([cx.DNSName("dup.example.jp")]), False)
           .add_extension(cx.IssuerAlternativeName([cx.DNSName("other.example.jp")]), False)
           .sign(key, hashes.SHA256()))
    cri, alg, _ = _split(csr.public_bytes(serialization.Encoding.DER))
    ian, san = b"\x06\x03\x55\x1d\x12", b"\x06\x03\x55\x1d\x11"
    assert cri.count(ian) == 1
    cri = cri.replace(ian, san)
    sig = key.sign(cri, ec.ECDSA(hashes.SHA256()))
    der = _tlv(0x30, cri + alg + _tlv(0x03, b"\x00" + sig))
    path = write(tmp_path, "dup.der", der)
    before = snapshot(ca)
    p = ca.run("issue", "--profile", "server", "--csr", path)
    assert p.returncode == 1, p.stderr
    assert b"duplicate extension" in p.stderr and b"subjectAltName" in p.stderr, p.stderr
    assert snapshot(ca) == before


def test_officer_marker_refused_elsewhere(ca_sqlite, tmp_path):
    csr, _ = make_csr(tmp_path, subj="/CN=sneaky/title=shomei RA officer",
                      san="email:s@example.jp")
    before = snapshot(ca_sqlite)
    p = ca_sqlite.run("issue", "--profile", "client", "--csr", csr)
    assert p.returncode == 1 and b"officer" in p.stderr, p.stderr
    assert snapshot(ca_sqlite) == before


def test_missing_csr_file(ca_sqlite, tmp_path):
    p = ca_sqlite.run("issue", "--profile", "server", "--csr", str(tmp_path / "nope.csr"))
    assert p.returncode == 1 and b"nope.csr" in p.stderr


def test_rsassa_pss_needs_sha2(ca_sqlite, tmp_path):
    """RSASSA-PSS requests: SHA-256 or stronger for both the hash and MGF1, else refused (the
    parameters default to SHA-1 when absent)."""
    keyp = str(tmp_path / "pss.key")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", keyp)
    before = snapshot(ca_sqlite)
    for md, mgf, ok in (("sha256", "sha256", True), ("sha384", "sha384", True),
                        ("sha1", "sha1", False), ("sha256", "sha1", False),
                        ("sha1", "sha256", False)):
        csr = str(tmp_path / f"pss-{md}-{mgf}.csr")
        openssl("req", "-new", "-key", keyp, "-subj", "/CN=pss.example.jp", "-addext",
                "subjectAltName=DNS:pss.example.jp", f"-{md}", "-sigopt",
                "rsa_padding_mode:pss", "-sigopt", f"rsa_mgf1_md:{mgf}", "-out", csr)
        p = ca_sqlite.run("issue", "--profile", "server", "--csr", csr)
        if ok:
            assert p.returncode == 0, (md, mgf, p.stderr)
        else:
            assert p.returncode == 1, (md, mgf, p.stdout)
            assert b"RSASSA-PSS with SHA-1" in p.stderr, p.stderr
    assert snapshot(ca_sqlite) != before  # the two good ones were issued
