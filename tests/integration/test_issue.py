"""Issuance of every profile from `openssl req` CSRs, checked with openssl and cryptography."""
import datetime
import os
import subprocess

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from conftest import make_csr, new_instance, openssl

PROFILES = {
    # profile: (subject, SAN, expected EKUs)
    "server": ("/CN=www.example.jp", "DNS:www.example.jp,DNS:example.jp,IP:192.0.2.10",
               [ExtendedKeyUsageOID.SERVER_AUTH]),
    "client": ("/C=JP/O=株式会社テスト/CN=山田 太郎", "email:taro@example.jp",
               [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
    "codesign": ("/C=JP/O=Example Corp/CN=Example Code Signing", None,
                 [ExtendedKeyUsageOID.CODE_SIGNING]),
    "officer": ("/C=JP/O=Example Corp/CN=RA Officer One", "email:officer@example.jp",
                [ExtendedKeyUsageOID.CLIENT_AUTH]),
    "ocsp": ("/C=JP/O=Example Corp/CN=Extra OCSP", None, [ExtendedKeyUsageOID.OCSP_SIGNING]),
    "tsa": ("/C=JP/O=Example Corp/CN=Extra TSA", None, [ExtendedKeyUsageOID.TIME_STAMPING]),
}


def load(path):
    with open(path, "rb") as f:
        return f.read()


def ext(cert, oid):
    return cert.extensions.get_extension_for_oid(oid)


def verify_chain(ca, certpath, purpose=None):
    args = ["verify", "-CAfile", ca.path("certs", "root.pem"), "-untrusted",
            ca.path("certs", "issuing.pem")]
    if purpose:
        args += ["-purpose", purpose]
    p = openssl(*args, certpath, check=False)
    assert p.returncode == 0 and b": OK" in p.stdout, (p.stdout, p.stderr)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_issue_profile(ca, tmp_path, profile):
    subj, san, ekus = PROFILES[profile]
    csr, _ = make_csr(tmp_path, subj=subj, san=san)
    out = str(tmp_path / "cert.pem")
    ca.ok("issue", "--profile", profile, "--csr", csr, "--out", out)
    verify_chain(ca, out, {"server": "sslserver", "client": "sslclient"}.get(profile))

    text = openssl("x509", "-in", out, "-noout", "-text").stdout.decode()
    assert "Version: 3 (0x2)" in text

    cert = x509.load_pem_x509_certificate(load(out))
    issuer = x509.load_pem_x509_certificate(load(ca.path("certs", "issuing.pem")))
    # serial: positive, at least 64 bits, at most 20 octets
    assert cert.serial_number > 0 and 64 <= cert.serial_number.bit_length() <= 159
    # validity inside the issuer's
    assert cert.not_valid_before >= issuer.not_valid_before
    assert cert.not_valid_after <= issuer.not_valid_after
    assert cert.not_valid_before <= datetime.datetime.utcnow()
    # AKI = issuer SKI; SKI present
    aki = ext(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
    ski_issuer = ext(issuer, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    assert aki.key_identifier == ski_issuer.digest
    ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    bc = ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    assert bc.value.ca is False
    ku = ext(cert, ExtensionOID.KEY_USAGE)
    assert ku.critical and ku.value.digital_signature
    eku = ext(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    assert list(eku.value) == ekus
    if profile == "tsa":
        assert eku.critical, "RFC 3161: the TSA EKU must be critical"
    if profile == "ocsp":
        ext(cert, ExtensionOID.OCSP_NO_CHECK)
    else:
        cdp = ext(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS).value
        assert cdp[0].full_name[0].value == "http://localhost:8080/crl/shomei.crl"
        aia = ext(cert, ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
        urls = {d.access_method.dotted_string: d.access_location.value for d in aia}
        assert urls["1.3.6.1.5.5.7.48.1"] == "http://localhost:8080/ocsp"
        assert urls["1.3.6.1.5.5.7.48.2"] == "http://localhost:8080/ca/shomei.crt"
    if san:
        names = ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        assert len(list(names)) == len(san.split(","))
    marker = cert.subject.get_attributes_for_oid(NameOID.TITLE)
    if profile == "officer":
        assert [a.value for a in marker] == ["shomei RA officer"]
    else:
        assert marker == []
    # every DirectoryString in the subject is UTF8String
    for attr in cert.subject:
        if attr.oid == NameOID.COUNTRY_NAME:
            assert attr._type.name == "PrintableString"
        else:
            assert attr._type.name == "UTF8String", attr
    # the store knows it, under the serial openssl prints
    serial = openssl("x509", "-in", out, "-noout", "-serial").stdout.decode().strip()
    assert serial.startswith("serial=")
    shown = ca.ok("cert", "show", serial[7:])
    assert "status:      valid" in shown and f"profile:     {profile}" in shown
    assert serial[7:] in ca.ok("cert", "list")


def test_japanese_subject(ca_sqlite, tmp_path):
    csr, _ = make_csr(tmp_path, subj="/C=JP/O=株式会社テスト/OU=開発部/CN=山田 太郎",
                      san="email:yamada@example.jp")
    pem = ca_sqlite.ok("issue", "--profile", "client", "--csr", csr)
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "山田 太郎"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == \
        "株式会社テスト"
    assert "山田 太郎" in ca_sqlite.ok("cert", "list")


@pytest.mark.parametrize("keytype", ["p256", "p384", "rsa2048", "rsa3072", "rsa4096"])
def test_init_key_types(tmp_path, keytype):
    ca = new_instance(tmp_path, "sqlite", "--key-type", keytype, "--ca-name", "k" + keytype,
                      "--base-url", "http://ca.example.jp/")
    issuing = x509.load_pem_x509_certificate(load(ca.path("certs", "issuing.pem")))
    root = x509.load_pem_x509_certificate(load(ca.path("certs", "root.pem")))
    size = {"p256": 256, "p384": 384, "rsa2048": 2048, "rsa3072": 3072, "rsa4096": 4096}
    assert issuing.public_key().key_size == size[keytype]
    assert root.subject == root.issuer and issuing.issuer == root.subject
    assert ext(issuing, ExtensionOID.BASIC_CONSTRAINTS).value.ca
    for name in ("ocsp", "tsa", "https"):
        p = openssl("verify", "-CAfile", ca.path("certs", "root.pem"), "-untrusted",
                    ca.path("certs", "issuing.pem"), ca.path("certs", f"{name}.pem"),
                    check=False)
        assert p.returncode == 0, (name, p.stdout, p.stderr)
    https = x509.load_pem_x509_certificate(load(ca.path("certs", "https.pem")))
    san = ext(https, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    csr, _ = make_csr(tmp_path, subj="/CN=a.example.jp", san="DNS:a.example.jp")
    out = str(tmp_path / "a.pem")
    ca.ok("issue", "--profile", "server", "--csr", csr, "--out", out)
    verify_chain(ca, out, "sslserver")
    cert = x509.load_pem_x509_certificate(load(out))
    cdp = ext(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    assert cdp[0].full_name[0].value == f"http://ca.example.jp/crl/k{keytype}.crl"
    # keys at rest are encrypted (the HTTPS key is the web process's own, not a CA key)
    for k in ("root", "issuing", "ocsp", "tsa"):
        with open(ca.path("keys", f"{k}.key.pem")) as f:
            assert f.read().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert os.stat(ca.path("keys", f"{k}.key.pem")).st_mode & 0o077 == 0


def test_init_refuses_to_overwrite(ca_sqlite):
    before = load(ca_sqlite.path("certs", "issuing.pem"))
    p = ca_sqlite.run("init")
    assert p.returncode == 1
    assert b"already holds a CA" in p.stderr
    assert load(ca_sqlite.path("certs", "issuing.pem")) == before


def test_init_bad_options(tmp_path):
    from conftest import Instance
    inst = Instance(str(tmp_path / "v"), "sqlite")
    p = inst.run("init", "--key-type", "dsa1024")
    assert p.returncode == 1 and b"key type" in p.stderr
    p = inst.run("init", "--ca-name", "Bad Name!")
    assert p.returncode == 1 and b"CA name" in p.stderr
    assert not os.path.exists(inst.path("shomei.conf"))


def test_days_and_profile_limits(ca_sqlite, tmp_path):
    csr, _ = make_csr(tmp_path, subj="/CN=d.example.jp", san="DNS:d.example.jp")
    pem = ca_sqlite.ok("issue", "--profile", "server", "--csr", csr, "--days", "90")
    cert = x509.load_pem_x509_certificate(pem.encode())
    # RFC 5280 4.1.2.5: notAfter is inclusive, so 90 days end 90 * 86400 - 1 s after notBefore
    span = cert.not_valid_after - cert.not_valid_before
    assert span.total_seconds() == 90 * 86400 - 1
    pem = ca_sqlite.ok("issue", "--profile", "server", "--csr", csr, "--days", "398")
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert (cert.not_valid_after - cert.not_valid_before).total_seconds() == 398 * 86400 - 1
    p = ca_sqlite.run("issue", "--profile", "server", "--csr", csr, "--days", "500")
    assert p.returncode == 1 and b"398" in p.stderr
    p = ca_sqlite.run("issue", "--profile", "server", "--csr", csr, "--days", "5000")
    assert p.returncode == 1
    p = ca_sqlite.run("issue", "--profile", "nosuch", "--csr", csr)
    assert p.returncode == 1 and b"unknown profile" in p.stderr
    p = ca_sqlite.run("issue", "--profile", "root-ca", "--csr", csr)
    assert p.returncode == 1


def test_org_domains_bound_server_names(ca_sqlite, tmp_path):
    ca_sqlite.ok("org", "add", "ACME", "--name", "Acme", "--domain", "acme.example.jp")
    good, _ = make_csr(tmp_path, subj="/CN=www.acme.example.jp",
                       san="DNS:www.acme.example.jp,DNS:acme.example.jp")
    ca_sqlite.ok("issue", "--profile", "server", "--csr", good, "--org", "ACME")
    bad, _ = make_csr(tmp_path, subj="/CN=www.other.jp", san="DNS:www.other.jp")
    p = ca_sqlite.run("issue", "--profile", "server", "--csr", bad, "--org", "ACME")
    assert p.returncode == 1 and b"not within the domains" in p.stderr
    p = ca_sqlite.run("issue", "--profile", "server", "--csr", good, "--org", "NOPE")
    assert p.returncode == 1 and b"does not exist" in p.stderr
