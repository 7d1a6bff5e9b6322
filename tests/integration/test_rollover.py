"""The intermediate CA switch (`shomei ca rollover`, issue 16 part 3) on a running serve:
after a SIGHUP new certificates come from the new issuing CA at once, the previous one goes on
publishing its CRLs and answering OCSP for its own certificates under its own URLs, /ca/ serves
both chains, `openssl verify -crl_check_all` passes for a good certificate of each and fails
for a revoked one of each, and an officer logs in to the console with a certificate of either
CA.  Both store backends."""
import re
import signal
import time
import urllib.request

from cryptography.x509 import ocsp

from conftest import make_csr, openssl, stop_server
from test_console import enrol, login, serve_console


def fetch(srv, path):
    with urllib.request.urlopen(srv.http + path, timeout=10) as r:
        assert r.status == 200, path
        return r.read()


def save(tmp_path, name, data):
    p = str(tmp_path / name)
    with open(p, "wb") as f:
        f.write(data)
    return p


def issue(inst, tmp_path, cn):
    csr, _ = make_csr(tmp_path, subj=f"/CN={cn}", san=f"DNS:{cn}")
    out = str(tmp_path / f"{cn}.pem")
    inst.ok("issue", "--profile", "server", "--csr", csr, "--out", out)
    serial = openssl("x509", "-in", out, "-noout", "-serial").stdout.decode().strip()[7:]
    issuer = openssl("x509", "-in", out, "-noout", "-issuer").stdout.decode()
    return serial, out, issuer


def wait_log(srv, text, timeout=30, count=1):
    end = time.time() + timeout
    while time.time() < end:
        if srv.log_text().count(text) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"not in the log: {text}\n{srv.log_text()}")


def served_crl(srv, tmp_path, name, want_serials, timeout=30):
    """The newest CRL served at /crl/<name>.crl, as PEM, once it lists want_serials."""
    end = time.time() + timeout
    while True:
        der = save(tmp_path, f"{name}.crl", fetch(srv, f"/crl/{name}.crl"))
        pem = str(tmp_path / f"{name}.crl.pem")
        openssl("crl", "-inform", "DER", "-in", der, "-out", pem)
        text = openssl("crl", "-in", pem, "-noout", "-text").stdout.decode()
        if all(s in text for s in want_serials) or time.time() > end:
            return pem, text
        time.sleep(0.3)


def verify(root, chain, crls, cert):
    args = ["verify", "-crl_check_all", "-CAfile", root, "-untrusted", chain]
    for c in crls:
        args += ["-CRLfile", c]
    return openssl(*args, cert, check=False)


def ocsp_status(srv, root, issuer, cert):
    p = openssl("ocsp", "-issuer", issuer, "-cert", cert, "-url", srv.http + "/ocsp",
                "-CAfile", root, "-verify_other", issuer, "-no_nonce", check=False)
    text = (p.stdout + p.stderr).decode()
    assert "Response verify OK" in text, text
    return text


def test_rollover_two_cas(ca, tmp_path):
    inst = ca
    srv = serve_console(inst)
    try:
        officer_old = enrol(srv, inst, tmp_path, "Old Officer", "old@example.ac.jp",
                             "--org", "U01")
        good_old, good_old_pem, iss = issue(inst, tmp_path, "good-old.example.ac.jp")
        bad_old, bad_old_pem, _ = issue(inst, tmp_path, "bad-old.example.ac.jp")
        assert "shomei Issuing CA" in iss

        # a wrong key (another of ours, which opens with the passphrase) is refused and
        # changes nothing
        wrong = inst.path("keys", "ocsp.key.pem")
        conf_before = open(inst.path("shomei.conf")).read()
        p = inst.run("ca", "rollover", "--root-key", wrong)
        assert p.returncode != 0 and b"not the root CA's key" in p.stderr, p.stderr
        assert open(inst.path("shomei.conf")).read() == conf_before

        out = inst.ok("ca", "rollover", "--root-key", inst.root_key)
        assert "new issuing CA shomei-g2" in out, out
        conf = open(inst.path("shomei.conf")).read()
        # every other line kept as it was, blank lines and comments too, in its order
        moves = re.compile(r"\s*(ca_name|ca\.|ocsp\.|root\.name|prev\d|console\.officer_ca)")
        kept = [ln for ln in conf_before.splitlines() if not moves.match(ln)]
        assert "" in kept and any(ln.startswith("#") for ln in kept)
        assert conf.splitlines()[:len(kept)] == kept, conf
        assert re.search(r"^ca_name = shomei-g2$", conf, re.M), conf
        assert re.search(r"^prev1\.ca_name = shomei$", conf, re.M), conf
        assert re.search(r"^root\.name = shomei-root$", conf, re.M), conf
        assert "ca.rollover" in inst.ok("audit", "list")
        # the name is taken now, and so are names whose URLs would meet another CA's, and a
        # name the store knows from a CA whose lines are gone
        for name in ("shomei", "shomei-delta", "shomei-g2-delta", "shomei-root"):
            p = inst.run("ca", "rollover", "--root-key", inst.root_key, "--name", name)
            assert p.returncode != 0 and b"is taken" in p.stderr, (name, p.stderr)
        inst.sql("INSERT INTO counters (name, value) VALUES ('crl.ghost', 3)")
        p = inst.run("ca", "rollover", "--root-key", inst.root_key, "--name", "ghost")
        assert p.returncode != 0 and b"the store holds" in p.stderr, p.stderr
        assert open(inst.path("shomei.conf")).read() == conf

        srv.proc.send_signal(signal.SIGHUP)
        wait_log(srv, "SIGHUP: configuration reloaded")

        good_new, good_new_pem, iss = issue(inst, tmp_path, "good-new.example.ac.jp")
        bad_new, bad_new_pem, _ = issue(inst, tmp_path, "bad-new.example.ac.jp")
        assert "shomei-g2 Issuing CA" in iss, iss
        text = openssl("x509", "-in", good_new_pem, "-noout", "-text").stdout.decode()
        assert "/crl/shomei-g2.crl" in text and "/ca/shomei-g2.crt" in text, text

        # /ca/ serves both chains and the root under the root's old name
        root = save(tmp_path, "root.crt", fetch(srv, "/ca/shomei-root.crt"))
        old_ca = save(tmp_path, "old.pem", fetch(srv, "/ca/shomei.pem"))
        new_ca = save(tmp_path, "new.pem", fetch(srv, "/ca/shomei-g2.pem"))
        assert fetch(srv, "/ca/shomei.crt") != fetch(srv, "/ca/shomei-g2.crt")
        root_pem = inst.path("certs", "root.pem")
        for cert, chain in ((good_old_pem, old_ca), (good_new_pem, new_ca)):
            p = openssl("verify", "-CAfile", root_pem, "-untrusted", chain, cert, check=False)
            assert p.returncode == 0, p.stdout + p.stderr
        p = openssl("verify", "-CAfile", root_pem, "-untrusted", new_ca, good_old_pem,
                    check=False)
        assert p.returncode != 0  # the old certificate does not chain to the new CA

        inst.ok("revoke", bad_old, "--reason", "keyCompromise")
        inst.ok("revoke", bad_new, "--reason", "superseded")
        # each CA's CRL, made by the CLI for the old one and by the CLI for the new one
        inst.ok("crl", "--ca", "shomei")
        inst.ok("crl")
        old_crl, old_text = served_crl(srv, tmp_path, "shomei", [bad_old])
        new_crl, new_text = served_crl(srv, tmp_path, "shomei-g2", [bad_new])
        assert bad_old in old_text and bad_new not in old_text, old_text
        assert bad_new in new_text and bad_old not in new_text, new_text
        assert "shomei Issuing CA" in old_text and "shomei-g2 Issuing CA" in new_text
        root_crl, _ = served_crl(srv, tmp_path, "shomei-root", [])
        for cert, chain, crl in ((good_old_pem, old_ca, old_crl),
                                 (good_new_pem, new_ca, new_crl)):
            p = verify(root_pem, chain, [crl, root_crl], cert)
            assert p.returncode == 0, p.stdout + p.stderr
        for cert, chain, crl in ((bad_old_pem, old_ca, old_crl),
                                 (bad_new_pem, new_ca, new_crl)):
            p = verify(root_pem, chain, [crl, root_crl], cert)
            assert p.returncode != 0 and b"certificate revoked" in p.stdout + p.stderr

        # OCSP: each CA's responder answers for its own certificates
        old_issuer = save(tmp_path, "old-issuer.crt", fetch(srv, "/ca/shomei.crt"))
        new_issuer = save(tmp_path, "new-issuer.crt", fetch(srv, "/ca/shomei-g2.crt"))
        for fn in (old_issuer, new_issuer):
            openssl("x509", "-inform", "DER", "-in", fn, "-out", fn)
        assert ": revoked" in ocsp_status(srv, root_pem, old_issuer, bad_old_pem)
        assert ": good" in ocsp_status(srv, root_pem, old_issuer, good_old_pem)
        assert ": revoked" in ocsp_status(srv, root_pem, new_issuer, bad_new_pem)
        assert ": good" in ocsp_status(srv, root_pem, new_issuer, good_new_pem)

        # the previous CA renews its own OCSP responder (and nothing else)
        plain = str(tmp_path / "ocsp2.plain.pem")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                plain)
        openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", plain, "-passout",
                "file:" + inst.path("keys", "passphrase"), "-out",
                inst.path("keys", "ocsp-renewed.key.pem"))
        csr = str(tmp_path / "ocsp2.csr")
        openssl("req", "-new", "-key", plain, "-subj", "/O=shomei/CN=shomei OCSP Responder 2",
                "-out", csr)
        p = inst.run("issue", "--profile", "server", "--ca", "shomei", "--csr", csr)
        assert p.returncode != 0 and b"issues only its OCSP responder" in p.stderr, p.stderr
        inst.ok("issue", "--profile", "ocsp", "--ca", "shomei", "--csr", csr, "--out",
                inst.path("certs", "ocsp-renewed.pem"))
        assert "shomei Issuing CA" in openssl("x509", "-in", inst.path("certs", "ocsp-renewed.pem"),
                                              "-noout", "-issuer").stdout.decode()
        conf = open(inst.path("shomei.conf")).read()
        conf = re.sub(r"^prev1\.ocsp\.cert = .*$", "prev1.ocsp.cert = certs/ocsp-renewed.pem",
                      conf, flags=re.M)
        conf = re.sub(r"^prev1\.ocsp\.key = .*$", "prev1.ocsp.key = keys/ocsp-renewed.key.pem",
                      conf, flags=re.M)
        open(inst.path("shomei.conf"), "w").write(conf)
        srv.proc.send_signal(signal.SIGHUP)
        wait_log(srv, "SIGHUP: configuration reloaded", count=2)
        text = ocsp_status(srv, root_pem, old_issuer, bad_old_pem)
        assert ": revoked" in text
        # the old generation may still take a connection or two while it winds down
        respout = str(tmp_path / "old.ocsp")
        end = time.time() + 15
        while True:
            p = openssl("ocsp", "-issuer", old_issuer, "-cert", good_old_pem, "-url",
                        srv.http + "/ocsp", "-CAfile", root_pem, "-verify_other", old_issuer,
                        "-no_nonce", "-respout", respout, check=False)
            assert b": good" in p.stdout and b"Response verify OK" in p.stderr, p
            with open(respout, "rb") as f:
                resp = ocsp.load_der_ocsp_response(f.read())
            names = [c.subject.rfc4514_string() for c in resp.certificates]
            if names == ["CN=shomei OCSP Responder 2,O=shomei"] or time.time() > end:
                break
            time.sleep(0.2)
        assert names == ["CN=shomei OCSP Responder 2,O=shomei"], names

        # officers log in with a certificate of either CA during the overlap
        login(srv, officer_old)
        officer_new = enrol(srv, inst, tmp_path, "New Officer", "new@example.ac.jp",
                             "--org", "U01")
        assert "shomei-g2 Issuing CA" in openssl("x509", "-in", officer_new.pem, "-noout",
                                                 "-issuer").stdout.decode()
        login(srv, officer_new)
        inst.ok("audit", "verify")
    finally:
        stop_server(srv)
    # each CA's CRLs are stored under its own name (the schedule's and the CLI's)
    nums = inst.sql("SELECT ca, MAX(number) FROM crls GROUP BY ca ORDER BY ca")
    assert [r[0] for r in nums] == ["shomei", "shomei-g2", "shomei-root"], nums
