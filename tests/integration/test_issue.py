"""Issuance of every profile from `openssl req` CSRs, checked with openssl and cryptography."""
import datetime
import os
import re
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
    # and the root key is outside the data directory (serve refuses it inside)
    assert not os.path.exists(ca.path("keys", "root.key.pem"))
    for path in [ca.root_key] + [ca.path("keys", f"{k}.key.pem")
                                 for k in ("issuing", "ocsp", "tsa")]:
        with open(path) as f:
            assert f.read().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert os.stat(path).st_mode & 0o077 == 0
        # PBKDF2 with the rounds init was given (conftest: --key-rounds 1000 = 0x3E8)
        parsed = openssl("asn1parse", "-in", path).stdout.decode()
        assert "PBKDF2" in parsed and re.search(r"INTEGER\s+:03E8\b", parsed), parsed
    assert os.stat(os.path.dirname(ca.root_key)).st_mode & 0o077 == 0


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
    p = inst.run("init", "--key-rounds", "999")
    assert p.returncode == 2 and b"at least 1000" in p.stderr, p
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


def policies_of(pem):
    cert = x509.load_pem_x509_certificate(pem if isinstance(pem, bytes) else pem.encode())
    ext = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    return [(p.policy_identifier.dotted_string, p.policy_qualifiers) for p in ext]


def test_init_policy_oids(tmp_path):
    """init makes an OID arc (or takes the operator's): the certificate policy goes into the
    issuing CA and every certificate, the TSA policy into shomei.conf; bad OIDs are refused."""
    from conftest import new_instance
    inst = new_instance(tmp_path / "a", "sqlite")
    conf = open(inst.path("shomei.conf")).read()
    pol = [l.split("=")[1].strip() for l in conf.splitlines() if l.startswith("policies =")]
    tsa = [l.split("=")[1].strip() for l in conf.splitlines() if l.startswith("tsa.policy =")]
    assert len(pol) == 1 and len(tsa) == 1, conf
    arc = pol[0][:-2]
    assert pol[0] == arc + ".1" and tsa[0] == arc + ".2"
    # a UUID under Microsoft's GUID arc, each number small enough for every parser
    parts = arc.split(".")
    assert parts[:7] == "1.2.840.113556.1.8000.2554".split(".") and len(parts) == 14, arc
    assert all(int(n) < 1 << 24 for n in parts[7:])
    # another CA gets another arc
    other = new_instance(tmp_path / "b", "sqlite")
    assert arc not in open(other.path("shomei.conf")).read()
    for f in ("issuing.pem", "ocsp.pem", "tsa.pem", "https.pem"):
        assert policies_of(open(inst.path("certs", f), "rb").read()) == [(pol[0], None)], f
    root = x509.load_pem_x509_certificate(open(inst.path("certs", "root.pem"), "rb").read())
    assert not [e for e in root.extensions if isinstance(e.value, x509.CertificatePolicies)]
    csr, _ = make_csr(tmp_path, subj="/CN=p.example.jp", san="DNS:p.example.jp")
    assert policies_of(inst.ok("issue", "--profile", "server", "--csr", csr)) == \
        [(pol[0], None)]

    # the operator's own arc, policy and CPS
    inst = new_instance(tmp_path / "c", "sqlite", "--oid-arc", "1.3.6.1.4.1.99999.7",
                        "--cps", "https://ca.example.jp/cps")
    conf = open(inst.path("shomei.conf")).read()
    assert "policies = 1.3.6.1.4.1.99999.7.1\n" in conf, conf
    assert "tsa.policy = 1.3.6.1.4.1.99999.7.2\n" in conf
    assert "cps_uri = https://ca.example.jp/cps\n" in conf
    got = policies_of(open(inst.path("certs", "issuing.pem"), "rb").read())
    assert got == [("1.3.6.1.4.1.99999.7.1", ["https://ca.example.jp/cps"])], got
    got = policies_of(inst.ok("issue", "--profile", "server", "--csr", csr))
    assert got == [("1.3.6.1.4.1.99999.7.1", ["https://ca.example.jp/cps"])], got
    inst = new_instance(tmp_path / "d", "sqlite", "--policy", "1.2.392.200999.1.1",
                        "--tsa-policy", "1.2.392.200999.2.1")
    conf = open(inst.path("shomei.conf")).read()
    assert "policies = 1.2.392.200999.1.1\n" in conf and \
        "tsa.policy = 1.2.392.200999.2.1\n" in conf, conf

    # refusals leave no CA behind
    for args, msg in ((["--oid-arc", "1.2.x"], b"is not an OID arc"),
                      (["--policy", "2.5.29.32.0"], b"anyPolicy (2.5.29.32.0) is no policy"),
                      (["--cps", "ftp://x"], b"--cps: expected an http:// or https:// URL"),
                      (["--policy", "1.3.6.1.4.1.9.1", "--tsa-policy", "1.3.6.1.4.1.9.1"],
                       b"are the same OID")):
        from conftest import Instance
        bad = Instance(str(tmp_path / "bad"), "sqlite")
        p = bad.run("init", *args)
        assert p.returncode == 1 and msg in p.stderr, (args, p.stderr)
        assert not os.path.exists(bad.path("shomei.conf"))


def test_key_usage_by_key_type(ca_sqlite, tmp_path):
    """EC client keys get keyAgreement (mail can be encrypted to them), RSA keyEncipherment;
    TLS server certificates refuse Ed25519 and RSA e = 3 unless the profile allows them."""
    def ku_of(pem):
        cert = x509.load_pem_x509_certificate(pem.encode())
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value

    csr, _ = make_csr(tmp_path, "/CN=Taro", san="email:taro@example.jp")
    ku = ku_of(ca_sqlite.ok("issue", "--profile", "client", "--csr", csr))
    assert ku.digital_signature and ku.key_agreement and not ku.key_encipherment
    csr, _ = make_csr(tmp_path, "/CN=Taro", san="email:taro@example.jp", key="rsa:2048")
    ku = ku_of(ca_sqlite.ok("issue", "--profile", "client", "--csr", csr))
    assert ku.digital_signature and ku.key_encipherment and not ku.key_agreement
    csr, _ = make_csr(tmp_path, "/CN=s.example.jp", san="DNS:s.example.jp")
    ku = ku_of(ca_sqlite.ok("issue", "--profile", "server", "--csr", csr))
    assert ku.digital_signature and not ku.key_agreement

    ed, _ = make_csr(tmp_path, "/CN=ed.example.jp", san="DNS:ed.example.jp", key="ed25519")
    p = ca_sqlite.run("issue", "--profile", "server", "--csr", ed)
    assert p.returncode == 1 and b"Ed25519 keys are not accepted" in p.stderr, p.stderr
    keyp = str(tmp_path / "e3.key")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
            "-pkeyopt", "rsa_keygen_pubexp:3", "-out", keyp)
    e3 = str(tmp_path / "e3.csr")
    openssl("req", "-new", "-key", keyp, "-subj", "/CN=e3.example.jp", "-addext",
            "subjectAltName=DNS:e3.example.jp", "-out", e3)
    p = ca_sqlite.run("issue", "--profile", "server", "--csr", e3)
    assert p.returncode == 1 and b"RSA public exponent below 65537" in p.stderr, p.stderr
    assert ca_sqlite.sql("SELECT count(*) FROM certificates WHERE subject LIKE '%e3.example.jp%' "
                         "OR subject LIKE '%ed.example.jp%'") == [[0]]
    # a client certificate may have either key
    edc, _ = make_csr(tmp_path, "/CN=Hanako", san="email:hanako@example.jp", key="ed25519")
    ca_sqlite.ok("issue", "--profile", "client", "--csr", edc)
    with open(ca_sqlite.path("shomei.conf"), "a") as f:
        f.write("\nprofile.server.allow_ed25519 = yes\n"
                "profile.server.allow_small_rsa_exponent = yes\n"
                "profile.client.key_agreement = no\n")
    ca_sqlite.ok("issue", "--profile", "server", "--csr", ed)
    ca_sqlite.ok("issue", "--profile", "server", "--csr", e3)
    csr, _ = make_csr(tmp_path, "/CN=Taro", san="email:taro@example.jp")
    ku = ku_of(ca_sqlite.ok("issue", "--profile", "client", "--csr", csr))
    assert ku.digital_signature and not ku.key_agreement


def test_longest_ca_name(tmp_path):
    """A CA name of 32 characters (the most init takes) opens: its root's default name,
    "<name>-root", is 37 long."""
    name = "a" * 28 + "-b2c"
    ca = new_instance(tmp_path, "sqlite", "--ca-name", name)
    assert "configuration ok" in ca.ok("init", "--check")
    csr, _ = make_csr(tmp_path, subj="/CN=l.example.jp", san="DNS:l.example.jp")
    ca.ok("issue", "--profile", "server", "--csr", csr)
