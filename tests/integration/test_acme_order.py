"""ACME orders (RFC 8555 7.4, issue 14, second slice) against the real server on both store
backends, driven by python3-acme: an account with External Account Binding orders a name of its
binding, answers http-01 from a small HTTP server of the test's on 127.0.0.1 (the server's
validator reaches it through acme.http01_port, acme.allow_private_addresses and
test.acme_resolve, a test instance's setting), finalizes and downloads a chain that `openssl
verify` accepts; certbot does the same unchanged. Then the refusals: a name outside the binding
(rejectedIdentifier with a subproblem), finalize before ready (orderNotReady), a CSR with
another name (badCSR), a wrong key authorization (incorrectResponse), a loopback address without
acme.allow_private_addresses (connection), a suspended binding (unauthorized); redirects within
the rules and not to another port, and no response over 8 KiB."""
import datetime
import os
import http.server
import subprocess
import threading
import time

import pytest

from conftest import start_server, stop_server
from test_acme import (ERR, acme_server, b64u, client, eab_create, nonce, post, problem,
                       session)

acme_client = pytest.importorskip("acme.client")
from acme import crypto_util, messages  # noqa: E402
import josepy as jose  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

NAME = "www.example.ac.jp"


class Responder:
    """http-01 answers: GET /.well-known/acme-challenge/<token> -> answers[token]."""

    def __init__(self):
        answers = self.answers = {}

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                tok = self.path.rsplit("/", 1)[-1]
                body = answers.get(tok)
                if not self.path.startswith("/.well-known/acme-challenge/") or body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                if isinstance(body, tuple):  # ("redirect", URL)
                    self.send_response(302)
                    self.send_header("Location", body[1])
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(body.encode() + b"\n")

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def csr_for(*names):
    k = ec.generate_private_key(ec.SECP256R1())
    pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    return crypto_util.make_csr(pem, list(names))


def account(ca, srv, *eab_args):
    kid, hmac = eab_create(ca, *eab_args)
    key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    cl, net = client(srv, key, jose.ES256)
    eab = messages.ExternalAccountBinding.from_data(key.public_key(), kid, hmac, cl.directory)
    regr = cl.new_account(messages.NewRegistration.from_data(
        email="admin@example.ac.jp", terms_of_service_agreed=True,
        external_account_binding=eab))
    return cl, key, regr, kid


def http01(order):
    authz = order.authorizations[0]
    return authz, [c for c in authz.body.challenges if c.chall.typ == "http-01"][0]


def wait_authz(cl, url, deadline=15):
    end = time.time() + deadline
    while time.time() < end:
        a = cl._authzr_from_response(cl._post_as_get(url), uri=url)
        if a.body.status != messages.STATUS_PENDING:
            return a
        time.sleep(0.2)
    raise AssertionError("authorization still pending")


def conf(port, private=True):
    return ("test.instance = yes\nacme.http01_port = %d\ntest.acme_resolve = 127.0.0.1\n"
            "acme.allow_private_addresses = %s\n" % (port, "yes" if private else "no"))


def test_acme_order_http01(ca, tmp_path):
    resp = Responder()
    srv = acme_server(ca, conf(resp.port))
    try:
        cl, key, regr, kid = account(ca, srv, "--names", NAME + ",mail.example.ac.jp")
        s = session(srv)

        # a name outside the binding: rejectedIdentifier, a subproblem for it alone
        with pytest.raises(messages.Error) as ei:
            cl.new_order(csr_for(NAME, "other.example.ac.jp"))
        assert ei.value.typ == ERR + "rejectedIdentifier", ei.value
        subs = ei.value.subproblems
        assert len(subs) == 1 and subs[0].identifier.value == "other.example.ac.jp", subs
        # a wildcard the binding does not name (it names two host names): refused
        with pytest.raises(messages.Error) as ei:
            cl.new_order(csr_for("*.example.ac.jp"))
        assert ei.value.typ == ERR + "rejectedIdentifier" and "wildcard" in ei.value.detail

        # the order: pending, one authorization with an http-01 challenge
        csr = csr_for(NAME)
        order = cl.new_order(csr)
        assert order.body.status.name == "pending" and order.uri.startswith(srv.https + "/acme/order/")
        assert [i.value for i in order.body.identifiers] == [NAME]
        authz, chall = http01(order)
        assert authz.body.identifier.value == NAME and authz.body.status.name == "pending"
        assert len(chall.chall.token) >= 16  # 128 bits and more
        # newOrder replayed with its nonce (used in the order's own unit): badNonce, and the
        # replay wrote nothing
        orders = int(ca.sql("SELECT COUNT(*) FROM acme_orders")[0][0])
        n = nonce(s, srv)
        body = {"identifiers": [{"type": "dns", "value": NAME}]}
        r = post(s, srv.https + "/acme/new-order", key, jose.ES256, body, n, kid=regr.uri)
        assert r.status_code == 201, r.text
        problem(post(s, srv.https + "/acme/new-order", key, jose.ES256, body, n, kid=regr.uri),
                400, "badNonce")
        assert int(ca.sql("SELECT COUNT(*) FROM acme_orders")[0][0]) == orders + 1
        # finalize before ready: orderNotReady; replayed, badNonce comes first
        from cryptography import x509 as cx509
        der = cx509.load_pem_x509_csr(csr).public_bytes(serialization.Encoding.DER)
        n = nonce(s, srv)
        r = post(s, order.body.finalize, key, jose.ES256, {"csr": b64u(der)}, n, kid=regr.uri)
        problem(r, 403, "orderNotReady")
        r = post(s, order.body.finalize, key, jose.ES256, {"csr": b64u(der)}, n, kid=regr.uri)
        problem(r, 400, "badNonce")

        # http-01: the key authorization served on the responder's port; answered, polled
        _, validation = chall.chall.response_and_validation(key)
        resp.answers[chall.chall.encode("token")] = validation
        t0 = time.time()
        n = nonce(s, srv)
        r = post(s, chall.uri, key, jose.ES256, {}, n, kid=regr.uri)
        assert r.status_code == 200 and r.json()["status"] in ("processing", "valid"), r.text
        assert time.time() - t0 < 2, "validation is off the request thread"
        # the same POST again (its nonce went with the challenge's start): badNonce
        problem(post(s, chall.uri, key, jose.ES256, {}, n, kid=regr.uri), 400, "badNonce")
        a = wait_authz(cl, authz.uri)
        assert a.body.status.name == "valid", a
        o = messages.Order.from_json(cl._post_as_get(order.uri).json())
        assert o.status.name == "ready"

        # a CSR with another name: badCSR; the order stays ready
        other = cx509.load_pem_x509_csr(csr_for("mail.example.ac.jp")).public_bytes(
            serialization.Encoding.DER)
        r = post(s, order.body.finalize, key, jose.ES256, {"csr": b64u(other)},
                 nonce(s, srv), kid=regr.uri)
        problem(r, 400, "badCSR")

        # the binding's names narrowed since the order (an officer's change): finalize is
        # refused and signs nothing; with the names back, it goes on
        was = ca.sql("SELECT names FROM acme_eab WHERE kid = '%s'" % kid)[0][0]
        ca.sql("UPDATE acme_eab SET names = 'mail.example.ac.jp' WHERE kid = '%s'" % kid)
        mine_csr = cx509.load_pem_x509_csr(csr_for(NAME)).public_bytes(serialization.Encoding.DER)
        r = post(s, order.body.finalize, key, jose.ES256, {"csr": b64u(mine_csr)},
                 nonce(s, srv), kid=regr.uri)
        p = problem(r, 403, "unauthorized")
        assert "no longer orderable" in p["detail"] and NAME in p["detail"], p
        assert ca.sql("SELECT serial FROM acme_orders WHERE serial IS NOT NULL") == []
        ca.sql("UPDATE acme_eab SET names = '%s' WHERE kid = '%s'" % (was, kid))

        # finalize, download, verify
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=20)
        done = cl.finalize_order(order, deadline)
        assert done.body.status.name == "valid" and done.body.certificate
        pems = done.fullchain_pem.split("-----END CERTIFICATE-----")
        assert len([p for p in pems if "BEGIN" in p]) == 2, done.fullchain_pem
        leaf, inter = (p + "-----END CERTIFICATE-----\n" for p in pems[:2])
        (tmp_path / "leaf.pem").write_text(leaf.lstrip())
        (tmp_path / "inter.pem").write_text(inter.lstrip())
        v = subprocess.run(["openssl", "verify", "-CAfile", srv.cafile, "-untrusted",
                            str(tmp_path / "inter.pem"), str(tmp_path / "leaf.pem")],
                           capture_output=True)
        assert v.returncode == 0, v
        txt = subprocess.run(["openssl", "x509", "-noout", "-text", "-in",
                              str(tmp_path / "leaf.pem")], capture_output=True).stdout.decode()
        assert "DNS:" + NAME in txt and "O = Example University" in txt, txt
        cr = cl._post_as_get(done.body.certificate)
        assert cr.headers["Content-Type"] == "application/pem-certificate-chain"
        ups = cl._get_links(cr, "up")
        # rel="up": the issuing CA under the configured base_url, as the plain listener serves it
        path = "/ca/" + ups[0].rsplit("/ca/", 1)[1]
        assert len(ups) == 1 and path.endswith(".crt"), ups
        got = s.get(srv.http + path)
        assert got.status_code == 200
        mine = cx509.load_pem_x509_certificate(inter.lstrip().encode())
        assert got.content in (mine.public_bytes(serialization.Encoding.DER),
                               mine.public_bytes(serialization.Encoding.PEM)), got.content[:40]
        # the certificate is the organization's: listed with it, audited with the binding
        rows = ca.sql("SELECT c.profile, o.code FROM certificates c JOIN organizations o ON "
                      "o.id = c.org_id JOIN acme_orders a ON a.serial = c.serial")
        assert rows == [["server", "UNIV"]], rows
        audit = ca.ok("audit", "list")
        for action in ("acme.order.create", "acme.validation.valid", "acme.order.finalize"):
            assert action in audit, action
        assert kid in audit
        # another account cannot read the order
        cl2, key2, regr2, _ = account(ca, srv)
        r = post(s, order.uri, key2, jose.ES256, None, nonce(s, srv), kid=regr2.uri)
        problem(r, 404, "malformed")

        # a wrong key authorization: incorrectResponse, authorization and order invalid
        order = cl.new_order(csr_for("mail.example.ac.jp"))
        authz, chall = http01(order)
        resp.answers[chall.chall.encode("token")] = "not-the-key-authorization"
        cl.answer_challenge(chall, chall.chall.response(key))
        a = wait_authz(cl, authz.uri)
        assert a.body.status.name == "invalid"
        assert a.body.challenges[0].error.typ == ERR + "incorrectResponse"
        o = messages.Order.from_json(cl._post_as_get(order.uri).json())
        assert o.status.name == "invalid"
        assert "acme.validation.invalid" in ca.ok("audit", "list")

        # a suspended binding orders nothing
        ca.ok("acme", "eab", "suspend", kid)
        with pytest.raises(messages.Error) as ei:
            cl.new_order(csr_for(NAME))
        assert ei.value.typ == ERR + "unauthorized"
        assert ca.ok("audit", "verify")
    finally:
        stop_server(srv)
        resp.close()


def test_acme_order_private_address(ca_sqlite):
    """Without acme.allow_private_addresses the validator refuses loopback: connection."""
    resp = Responder()
    srv = acme_server(ca_sqlite, conf(resp.port, private=False))
    try:
        cl, key, regr, kid = account(ca_sqlite, srv)
        order = cl.new_order(csr_for(NAME))
        authz, chall = http01(order)
        response, validation = chall.chall.response_and_validation(key)
        resp.answers[chall.chall.encode("token")] = validation
        cl.answer_challenge(chall, response)
        a = wait_authz(cl, authz.uri)
        assert a.body.status.name == "invalid"
        err = a.body.challenges[0].error
        assert err.typ == ERR + "connection" and "127.0.0.1" in err.detail, err
    finally:
        stop_server(srv)
        resp.close()


def test_acme_http01_rules(ca_sqlite):
    """Redirects are followed (within the same rules), but not to another port; a response
    larger than 8 KiB is refused."""
    resp = Responder()
    srv = acme_server(ca_sqlite, conf(resp.port))
    try:
        cl, key, regr, kid = account(ca_sqlite, srv)

        def attempt(name, answer):
            order = cl.new_order(csr_for(name))
            authz, chall = http01(order)
            tok = chall.chall.encode("token")
            resp.answers[tok] = answer(tok, chall.chall.validation(key))
            if isinstance(resp.answers[tok], tuple):  # the redirect's target answers
                resp.answers["t-" + tok] = chall.chall.validation(key)
            cl.answer_challenge(chall, chall.chall.response(key))
            return wait_authz(cl, authz.uri)

        base = "http://%s:%d/.well-known/acme-challenge/t-"
        a = attempt("r1.example.ac.jp",
                    lambda tok, v: ("redirect", base % ("r1.example.ac.jp", resp.port) + tok))
        assert a.body.status.name == "valid", a
        a = attempt("r2.example.ac.jp",
                    lambda tok, v: ("redirect", base % ("r2.example.ac.jp", 1) + tok))
        assert a.body.status.name == "invalid"
        err = a.body.challenges[0].error
        assert err.typ == ERR + "connection" and "port 1 " in err.detail, err
        a = attempt("r3.example.ac.jp", lambda tok, v: v + " " * 9000)
        assert a.body.status.name == "invalid"
        err = a.body.challenges[0].error
        assert err.typ == ERR + "unauthorized" and "8 KiB" in err.detail, err
    finally:
        stop_server(srv)
        resp.close()


def test_acme_resolve_needs_test_instance(ca_sqlite):
    """test.acme_resolve outside a test instance stops serve at start."""
    with pytest.raises(AssertionError) as ei:
        srv = start_server(ca_sqlite, "test.acme_resolve = 127.0.0.1\n")
        stop_server(srv)
    assert "test.acme_resolve is set but test.instance is not" in str(ei.value)


def test_acme_certbot(ca_sqlite, tmp_path):
    """certbot (standalone http-01, EAB) gets a certificate that verifies, unchanged."""
    import shutil
    from conftest import free_port
    certbot = shutil.which("certbot")
    if certbot is None:
        pytest.skip("certbot is not installed (scripts/deps.sh installs it)")
    port = free_port()
    srv = acme_server(ca_sqlite, conf(port))
    try:
        kid, hmac = eab_create(ca_sqlite, "--names", NAME)
        env = dict(os.environ, REQUESTS_CA_BUNDLE=srv.cafile, NO_PROXY="*")
        for v in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env.pop(v, None)
        d = {k: str(tmp_path / k) for k in ("config", "work", "logs")}
        p = subprocess.run(
            [certbot, "certonly", "--standalone", "--http-01-port", str(port),
             "--http-01-address", "127.0.0.1", "--server", srv.https + "/acme/directory",
             "--eab-kid=" + kid, "--eab-hmac-key=" + hmac, "--config-dir", d["config"],
             "--work-dir", d["work"], "--logs-dir", d["logs"], "--non-interactive",
             "--agree-tos", "-m", "admin@example.ac.jp", "--key-type", "ecdsa", "-d", NAME],
            capture_output=True, env=env, timeout=90)
        assert p.returncode == 0, (p.stdout.decode(), p.stderr.decode())
        live = os.path.join(d["config"], "live", NAME)
        v = subprocess.run(["openssl", "verify", "-CAfile", srv.cafile, "-untrusted",
                            os.path.join(live, "chain.pem"), os.path.join(live, "cert.pem")],
                           capture_output=True)
        assert v.returncode == 0, v
        assert "acme.order.finalize" in ca_sqlite.ok("audit", "list")
    finally:
        stop_server(srv)


def issue_cert(cl, key, resp, name):
    """An order for name answered and finalized: (leaf PEM, issuing CA PEM, the certificate's key
    as a JWK)."""
    k = ec.generate_private_key(ec.SECP256R1())
    pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    order = cl.new_order(crypto_util.make_csr(pem, [name]))
    authz, chall = http01(order)
    response, validation = chall.chall.response_and_validation(key)
    resp.answers[chall.chall.encode("token")] = validation
    cl.answer_challenge(chall, response)
    assert wait_authz(cl, authz.uri).body.status.name == "valid"
    done = cl.finalize_order(order, datetime.datetime.now() + datetime.timedelta(seconds=20))
    leaf, inter = (p.lstrip() + "-----END CERTIFICATE-----\n"
                   for p in done.fullchain_pem.split("-----END CERTIFICATE-----")[:2])
    return leaf, inter, jose.JWKEC(key=k)


def test_acme_revoke(ca, tmp_path):
    """revokeCert (RFC 8555 7.6): by the account that ordered the certificate (python3-acme's
    revoke, kid) and by the certificate's own key (jwk, by hand); OCSP then answers revoked.
    Refusals: another account (unauthorized), a reason a subscriber may not give
    (badRevocationReason), a revoked certificate again (alreadyRevoked), a jwk that is not the
    certificate's key (unauthorized), a certificate that is not ours (unauthorized)."""
    import OpenSSL.crypto
    from cryptography import x509 as cx509
    resp = Responder()
    srv = acme_server(ca, conf(resp.port))
    try:
        cl, key, regr, kid = account(ca, srv, "--names", NAME + ",mail.example.ac.jp")
        cl2, key2, regr2, _ = account(ca, srv)
        s = session(srv)
        leaf, inter, _ = issue_cert(cl, key, resp, NAME)
        leaf2, _, ckey2 = issue_cert(cl, key, resp, "mail.example.ac.jp")
        wrap = jose.ComparableX509(OpenSSL.crypto.load_certificate(
            OpenSSL.crypto.FILETYPE_PEM, leaf.encode()))
        der = cx509.load_pem_x509_certificate(leaf.encode()).public_bytes(
            serialization.Encoding.DER)
        der2 = cx509.load_pem_x509_certificate(leaf2.encode()).public_bytes(
            serialization.Encoding.DER)
        url = cl.directory["revokeCert"]
        serial = "%X" % cx509.load_pem_x509_certificate(leaf.encode()).serial_number
        serial = "0" * (len(serial) % 2) + serial  # whole octets, as the store writes it

        with pytest.raises(messages.Error) as ei:  # another account's certificate
            cl2.revoke(wrap, 0)
        assert ei.value.typ == ERR + "unauthorized", ei.value
        for rsn in (2, 6, 9, 42):  # the CA's reasons, certificateHold, nothing
            with pytest.raises(messages.Error) as ei:
                cl.revoke(wrap, rsn)
            assert ei.value.typ == ERR + "badRevocationReason", (rsn, ei.value)
        # not ours: the same certificate with a byte of its signature changed
        bad = der[:-1] + bytes([der[-1] ^ 1])
        r = post(s, url, key, jose.ES256, {"certificate": b64u(bad)}, nonce(s, srv),
                 kid=regr.uri)
        problem(r, 403, "unauthorized")
        rows = ca.sql("SELECT status FROM certificates WHERE serial = '%s'" % serial)
        assert rows == [[0]] or rows == [["0"]], rows

        cl.revoke(wrap, 1)  # keyCompromise, by the account's kid
        rows = ca.sql("SELECT status, reason FROM certificates WHERE serial = '%s'" % serial)
        assert [str(v) for v in rows[0]] == ["1", "1"], rows
        (tmp_path / "leaf.pem").write_text(leaf)
        (tmp_path / "inter.pem").write_text(inter)
        o = subprocess.run(["openssl", "ocsp", "-issuer", str(tmp_path / "inter.pem"), "-cert",
                            str(tmp_path / "leaf.pem"), "-url", srv.http + "/ocsp", "-CAfile",
                            srv.cafile, "-verify_other", str(tmp_path / "inter.pem")],
                           capture_output=True)
        out = (o.stdout + o.stderr).decode()
        assert o.returncode == 0 and "leaf.pem: revoked" in out and "Reason: keyCompromise" in out, out
        with pytest.raises(messages.Error) as ei:
            cl.revoke(wrap, 0)
        assert ei.value.typ == ERR + "alreadyRevoked", ei.value

        # by the certificate's key: the account key as jwk is refused, the certificate's taken
        r = post(s, url, key, jose.ES256, {"certificate": b64u(der2), "reason": 4},
                 nonce(s, srv))
        problem(r, 403, "unauthorized")
        r = post(s, url, ckey2, jose.ES256, {"certificate": b64u(der2), "reason": 4},
                 nonce(s, srv))
        assert r.status_code == 200 and r.content == b"", (r.status_code, r.text)
        assert r.headers.get("Replay-Nonce")
        r = post(s, url, ckey2, jose.ES256, {"certificate": b64u(der2)}, nonce(s, srv))
        problem(r, 400, "alreadyRevoked")
        audit = ca.ok("audit", "list")
        assert "acme.cert.revoke" in audit and "acme:certificate-key" in audit, audit
        assert "acme:acct/" in audit
        assert ca.ok("audit", "verify")
    finally:
        stop_server(srv)
        resp.close()


def test_acme_finalize_slow_signer(ca, tmp_path):
    """A signer slower than acme.finalize_wait_ms (test.acme_sign_delay_ms): finalize answers
    the order processing with Retry-After, a second finalize is orderNotReady, the order turns
    valid with its certificate URL when the issuance ends (one certificate); an order a kill -9
    leaves processing is invalid with a serverInternal error after the restart."""
    from conftest import kill_serve
    from cryptography import x509 as cx509
    resp = Responder()
    slow = conf(resp.port) + "acme.finalize_wait_ms = 100\ntest.acme_sign_delay_ms = 1500\n"
    srv = acme_server(ca, slow)
    try:
        cl, key, regr, kid = account(ca, srv, "--names", NAME + ",mail.example.ac.jp")
        s = session(srv)

        def ready(name):
            order = cl.new_order(csr_for(name))
            authz, chall = http01(order)
            response, validation = chall.chall.response_and_validation(key)
            resp.answers[chall.chall.encode("token")] = validation
            cl.answer_challenge(chall, response)
            assert wait_authz(cl, authz.uri).body.status.name == "valid"
            der = cx509.load_pem_x509_csr(csr_for(name)).public_bytes(
                serialization.Encoding.DER)
            return order, der

        order, der = ready(NAME)
        before = len(ca.sql("SELECT serial FROM certificates"))
        r = post(s, order.body.finalize, key, jose.ES256, {"csr": b64u(der)}, nonce(s, srv),
                 kid=regr.uri)
        assert r.status_code == 200 and r.json()["status"] == "processing", r.text
        assert r.headers["Retry-After"] == "1" and "certificate" not in r.json(), r.headers
        problem(post(s, order.body.finalize, key, jose.ES256, {"csr": b64u(der)},
                     nonce(s, srv), kid=regr.uri), 403, "orderNotReady")
        end = time.time() + 15
        while True:
            r = post(s, order.uri, key, jose.ES256, None, nonce(s, srv), kid=regr.uri)
            if r.json()["status"] != "processing" or time.time() > end:
                break
            assert r.headers["Retry-After"] == "1"
            time.sleep(0.2)
        assert r.json()["status"] == "valid" and "certificate" in r.json(), r.text
        assert "Retry-After" not in r.headers
        c = post(s, r.json()["certificate"], key, jose.ES256, None, nonce(s, srv), kid=regr.uri)
        assert c.status_code == 200 and "BEGIN CERTIFICATE" in c.text
        oid = order.uri.rsplit("/", 1)[1]
        serials = ca.sql(f"SELECT serial FROM acme_orders WHERE id = {oid}")
        assert len(ca.sql(f"SELECT serial FROM certificates WHERE serial = "
                          f"'{serials[0][0]}'")) == 1
        assert len(ca.sql("SELECT serial FROM certificates")) == before + 1  # one, not two

        # kill -9 while the second order is being signed: processing; after the restart (its
        # last move made older than RA_ACME_STALE) it is invalid with an error, audited
        order2, der2 = ready("mail.example.ac.jp")
        r = post(s, order2.body.finalize, key, jose.ES256, {"csr": b64u(der2)},
                 nonce(s, srv), kid=regr.uri)
        assert r.json()["status"] == "processing", r.text
        kill_serve(srv)
        oid2 = order2.uri.rsplit("/", 1)[1]
        assert ca.sql(f"SELECT status FROM acme_orders WHERE id = {oid2}") == [["processing"]]
        ca.sql(f"UPDATE acme_orders SET updated = updated - 120 WHERE id = {oid2}")
        hp, sp = srv.http_port, srv.https_port
        for attempt in range(20):  # the same ports (the account URLs name them): until free
            try:
                srv = start_server(ca, ("acme.enabled = yes\nacme.base_url = "
                                        "https://localhost:%d\nacme.caa_identities = "
                                        "ca.example.jp\n" % sp) + slow, ports=(hp, sp))
                break
            except AssertionError as e:
                if "Address already in use" not in str(e) or attempt == 19:
                    raise
                time.sleep(0.5)
        r = post(s, order2.uri, key, jose.ES256, None, nonce(s, srv), kid=regr.uri)
        j = r.json()
        assert j["status"] == "invalid" and j["error"]["type"] == ERR + "serverInternal", j
        assert "restarted" in j["error"]["detail"] and "certificate" not in j, j
        assert len(ca.sql("SELECT serial FROM certificates")) == before + 1
        assert "acme.order.sweep" in ca.ok("audit", "list")
        assert ca.ok("audit", "verify")
    finally:
        stop_server(srv)
        resp.close()
