"""CRLs from `shomei crl`: openssl verify -crl_check rejects revoked, accepts good."""
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from conftest import make_csr, openssl, start_server


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


def fetch(srv, path):
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(srv.http + path, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_root_crl_ceremony(ca_sqlite, tmp_path):
    """init signs the first root CRL with the root key; it is served where the issuing CA
    certificate's CDP points; `shomei ca root-crl` re-signs it and revokes an issuing CA,
    carrying earlier entries; serve warns while it is close to its nextUpdate."""
    import datetime
    from conftest import start_server, stop_server
    ca = ca_sqlite
    issuing = x509.load_pem_x509_certificate(open(ca.path("certs", "issuing.pem"), "rb").read())
    root = x509.load_pem_x509_certificate(open(ca.path("certs", "root.pem"), "rb").read())
    cdp = issuing.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name[0].value.endswith("/crl/shomei-root.crl")
    # no OCSP URL for the issuing CA: no online responder holds the root key
    aia = issuing.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [a.access_method._name for a in aia] == ["caIssuers"]
    _, goodpem = issue(ca, tmp_path, "good.example.jp")
    ca.ok("crl")
    srv = start_server(ca, extra_conf="root_crl.warn_days = 366")
    try:
        st, der = fetch(srv, "/crl/shomei-root.crl")
        assert st == 200, der
        crl = x509.load_der_x509_crl(der)
        assert crl.is_signature_valid(root.public_key())
        assert crl.issuer == root.subject and len(crl) == 0
        assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
        days = (crl.next_update - crl.last_update).days
        assert days == 365, days
        assert (crl.last_update - datetime.datetime.utcnow()).total_seconds() < 120
        # a 365-day CRL is within the 366 days: serve says so at start (its CRL thread)
        import re
        import time
        warned = re.compile(r"warning: root CRL: the root CRL \(number 1\) expires in 36[45] days")
        end = time.time() + 15
        while not warned.search(srv.log_text()) and time.time() < end:
            time.sleep(0.1)
        assert warned.search(srv.log_text()), srv.log_text()
        rootpem = str(tmp_path / "root-crl.pem")
        with open(str(tmp_path / "root.der"), "wb") as f:
            f.write(der)
        openssl("crl", "-inform", "DER", "-in", str(tmp_path / "root.der"), "-out", rootpem)
        full = crl_pem(ca, tmp_path, ca.path("crl", "shomei.crl"), "full.pem")
        args = ["verify", "-x509_strict", "-crl_check_all", "-CAfile",
                ca.path("certs", "root.pem"), "-untrusted", ca.path("certs", "issuing.pem"),
                "-CRLfile", full, "-CRLfile", rootpem, goodpem]
        p = openssl(*args, check=False)
        assert p.returncode == 0, p.stdout + p.stderr

        # the ceremony: a wrong key, a certificate the root did not issue, a bad reason
        p = ca.run("ca", "root-crl", "--root-key", ca.path("keys", "issuing.key.pem"))
        assert p.returncode == 1 and b"not the root CA's key" in p.stderr, p.stderr
        p = ca.run("ca", "root-crl", "--root-key", ca.root_key,
                   "--revoke", goodpem)
        assert p.returncode == 1 and b"not an issuing CA certificate" in p.stderr, p.stderr
        p = ca.run("ca", "root-crl", "--root-key", ca.root_key,
                   "--revoke", ca.path("certs", "issuing.pem"), "--reason", "certificateHold")
        assert p.returncode == 2 and b"not one a CA is revoked for" in p.stderr, p.stderr
        st, der2 = fetch(srv, "/crl/shomei-root.crl")
        assert der2 == der  # nothing was signed by the refusals

        out = ca.ok("ca", "root-crl", "--root-key", ca.root_key,
                    "--revoke", ca.path("certs", "issuing.pem"), "--reason", "cACompromise")
        assert "root CRL number 2" in out and "1 revoked issuing CA" in out, out
        out = ca.ok("ca", "root-crl", "--root-key", ca.root_key)
        assert "root CRL number 3" in out and "1 revoked issuing CA" in out, out
        # the server re-reads a CRL made by another process within a second
        end = time.time() + 10
        while True:
            st, der3 = fetch(srv, "/crl/shomei-root.crl")
            crl3 = x509.load_der_x509_crl(der3)
            number = crl3.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
            if number == 3 or time.time() > end:
                break
            time.sleep(0.2)
        assert crl3.is_signature_valid(root.public_key())
        assert crl3.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 3
        entry = crl3.get_revoked_certificate_by_serial_number(issuing.serial_number)
        assert entry is not None, "the revocation was not carried into the next root CRL"
        assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
            x509.ReasonFlags.ca_compromise
        with open(str(tmp_path / "root3.der"), "wb") as f:
            f.write(der3)
        openssl("crl", "-inform", "DER", "-in", str(tmp_path / "root3.der"), "-out", rootpem)
        p = openssl(*args, check=False)
        assert p.returncode != 0 and b"certificate revoked" in p.stdout + p.stderr
        audit = ca.ok("audit", "list")
        assert "crl.root" in audit and "ca.revoke" in audit
        ca.ok("audit", "verify")
    finally:
        stop_server(srv)


def test_test_intervals_need_a_test_instance(ca_sqlite):
    """The test-only CRL intervals outside a test instance stop the start (the schedule
    would otherwise give up in the background and let the CRLs go stale)."""
    with pytest.raises(AssertionError) as ex:
        start_server(ca_sqlite, "test.crl_interval_seconds = 3")
    assert "need test.instance = yes" in str(ex.value), str(ex.value)
