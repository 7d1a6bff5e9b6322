"""CRLs from `shomei crl`: openssl verify -crl_check rejects revoked, accepts good."""
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from conftest import make_csr, openssl


def issue(ca, tmp_path, cn):
    csr, _ = make_csr(tmp_path, subj=f"/CN={cn}", san=f"DNS:{cn}")
    out = str(tmp_path / f"{cn}.pem")
    ca.ok("issue", "--profile", "server", "--csr", csr, "--out", out)
    serial = openssl("x509", "-in", out, "-noout", "-serial").stdout.decode().strip()[7:]
    return serial, out


def crl_pem(ca, tmp_path, der_path, name):
    pem = str(tmp_path / name)
    openssl("crl", "-inform", "DER", "-in", der_path, "-out", pem)
    return pem


def crl_verify(ca, certpath, crls):
    args = ["verify", "-crl_check", "-CAfile", ca.path("certs", "root.pem"),
            "-untrusted", ca.path("certs", "issuing.pem")]
    for c in crls:
        args += ["-CRLfile", c]
    return openssl(*args, certpath, check=False)


def test_full_crl(ca, tmp_path):
    bad, badpem = issue(ca, tmp_path, "bad.example.jp")
    good, goodpem = issue(ca, tmp_path, "good.example.jp")
    ca.ok("revoke", bad, "--reason", "keyCompromise")
    out = ca.ok("crl")
    assert "full CRL number 1" in out
    der = ca.path("crl", "shomei.crl")
    pem = crl_pem(ca, tmp_path, der, "full.pem")
    text = openssl("crl", "-in", pem, "-noout", "-text").stdout.decode()
    assert bad in text and good not in text and "Key Compromise" in text
    # the CRL is signed by the issuing CA
    openssl("crl", "-in", pem, "-noout", "-CAfile", ca.path("certs", "chain.pem"))
    p = crl_verify(ca, badpem, [pem])
    assert p.returncode != 0 and b"certificate revoked" in p.stdout + p.stderr
    p = crl_verify(ca, goodpem, [pem])
    assert p.returncode == 0, p.stdout + p.stderr
    with open(der, "rb") as f:
        crl = x509.load_der_x509_crl(f.read())
    issuing = x509.load_pem_x509_certificate(open(ca.path("certs", "issuing.pem"), "rb").read())
    assert crl.is_signature_valid(issuing.public_key())
    assert crl.extensions.get_extension_for_oid(ExtensionOID.CRL_NUMBER).value.crl_number == 1
    entry = crl.get_revoked_certificate_by_serial_number(int(bad, 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
        x509.ReasonFlags.key_compromise
    assert "crl.generate" in ca.ok("audit", "list")
    # numbers increase
    assert "full CRL number 2" in ca.ok("crl")


def test_delta_crl(ca, tmp_path):
    p = ca.run("crl", "--delta")
    assert p.returncode == 1 and b"full CRL first" in p.stderr
    import time
    first, _ = issue(ca, tmp_path, "one.example.jp")
    ca.ok("revoke", first, "--reason", "superseded")
    # revocation times have one-second resolution and a delta repeats revocations from the
    # base CRL's own second (repeating is safe, omitting would not be): keep them apart
    time.sleep(1.1)
    ca.ok("crl")
    time.sleep(1.1)
    later, laterpem = issue(ca, tmp_path, "two.example.jp")
    ca.ok("revoke", later, "--reason", "cessationOfOperation")
    out = str(tmp_path / "delta.crl")
    assert "delta CRL number 2" in ca.ok("crl", "--delta", "--out", out)
    with open(out, "rb") as f:
        delta = x509.load_der_x509_crl(f.read())
    ind = delta.extensions.get_extension_for_oid(ExtensionOID.DELTA_CRL_INDICATOR)
    assert ind.critical and ind.value.crl_number == 1
    assert delta.get_revoked_certificate_by_serial_number(int(later, 16)) is not None
    # a delta reaches back a margin before its base (a revocation committing across the
    # base's walk must not be lost): revocations just before the base are listed again
    assert delta.get_revoked_certificate_by_serial_number(int(first, 16)) is not None
    full = crl_pem(ca, tmp_path, ca.path("crl", "shomei.crl"), "full.pem")
    dpem = crl_pem(ca, tmp_path, out, "delta.pem")
    p = openssl("verify", "-crl_check", "-use_deltas", "-CAfile", ca.path("certs", "root.pem"),
                "-untrusted", ca.path("certs", "issuing.pem"), "-CRLfile", full,
                "-CRLfile", dpem, laterpem, check=False)
    assert p.returncode != 0 and b"revoked" in p.stdout + p.stderr


def test_crl_on_revoke(ca_sqlite, tmp_path):
    with open(ca_sqlite.path("shomei.conf"), "a") as f:
        f.write("crl.on_revoke = yes\n")
    serial, _ = issue(ca_sqlite, tmp_path, "auto.example.jp")
    out = ca_sqlite.ok("revoke", serial, "--reason", "affiliationChanged")
    assert "CRL number 1 generated" in out
