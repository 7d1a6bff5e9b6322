"""ACME authorizations of their own (RFC 8555 7.5, 7.5.2, 7.6; issue 14) against the real server
on both store backends, driven by python3-acme and hand-made JWS: a valid authorization is
reused by the same account's next order (ready at once, acme.authz_reuse_days), a pending one
too, never another account's nor a deactivated one, nor for a name the binding no longer
covers; deactivation (pending or valid -> deactivated, its orders invalid; anything else
malformed); expiry written when read (authorization expired, order invalid, audited); and
revokeCert by an account that did not order the certificate but holds valid authorizations
for all its names."""
import datetime
import subprocess
import threading
import time

import pytest

from test_acme import ERR, acme_server, b64u, nonce, post, problem, session
from test_acme_order import Responder, account, conf, csr_for, http01, wait_authz

acme_client = pytest.importorskip("acme.client")
from acme import messages  # noqa: E402
import josepy as jose  # noqa: E402

A = "www.example.ac.jp"
B = "mail.example.ac.jp"


def answer(cl, key, resp, order):
    """Answers the order's (first) http-01 challenge and waits for its authorization."""
    authz, chall = http01(order)
    response, validation = chall.chall.response_and_validation(key)
    resp.answers[chall.chall.encode("token")] = validation
    cl.answer_challenge(chall, response)
    return wait_authz(cl, authz.uri)


def read(cl, url):
    return cl._post_as_get(url).json()


def rfc3339(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def verify(srv, tmp_path, fullchain, name):
    pems = [p.lstrip() + "-----END CERTIFICATE-----\n"
            for p in fullchain.split("-----END CERTIFICATE-----")[:2]]
    (tmp_path / (name + ".pem")).write_text(pems[0])
    (tmp_path / (name + "-ca.pem")).write_text(pems[1])
    v = subprocess.run(["openssl", "verify", "-CAfile", srv.cafile, "-untrusted",
                        str(tmp_path / (name + "-ca.pem")), str(tmp_path / (name + ".pem"))],
                       capture_output=True)
    assert v.returncode == 0, v
    return pems[0]


def deactivate(s, srv, url, key, regr):
    return post(s, url, key, jose.ES256, {"status": "deactivated"}, nonce(s, srv), kid=regr.uri)


def test_acme_authz_reuse_and_deactivation(ca, tmp_path):
    resp = Responder()
    # (finalize pauses 1.5 s before it signs: the window for a deactivation racing it)
    srv = acme_server(ca, conf(resp.port) + "acme.authz_reuse_days = 2\n"
                      "test.acme_finalize_pause = 1500\n")
    try:
        cl, key, regr, kid = account(ca, srv, "--names", A + "," + B)
        s = session(srv)

        # a valid authorization: it lives for the reuse period (2 days here)
        o1 = cl.new_order(csr_for(A))
        a1 = o1.body.authorizations[0]
        t0 = time.time()
        assert answer(cl, key, resp, o1).body.status.name == "valid"
        exp = rfc3339(read(cl, a1)["expires"])
        assert 2 * 86400 - 60 < exp - t0 < 2 * 86400 + 60, exp - t0

        # the next order of A reuses it: ready at once, the same authorization
        csr = csr_for(A)
        o2 = cl.new_order(csr)
        assert o2.body.status.name == "ready", o2.body
        assert o2.body.authorizations == (a1,)
        assert o2.body.expires.timestamp() <= exp + 1  # not beyond its authorization
        done = cl.finalize_order(o2, datetime.datetime.now() + datetime.timedelta(seconds=20))
        verify(srv, tmp_path, done.fullchain_pem, "reused")
        assert "reused authz" in ca.ok("audit", "list")

        # a pending authorization is reused too, by an order of two names (one valid)
        o3 = cl.new_order(csr_for(B))
        b1 = o3.body.authorizations[0]
        o4 = cl.new_order(csr_for(A, B))
        assert o4.body.status.name == "pending"
        assert sorted(o4.body.authorizations) == sorted([a1, b1])

        # another account (its binding names A too) never gets this account's authorization
        cl2, key2, regr2, _ = account(ca, srv, "--names", A)
        o5 = cl2.new_order(csr_for(A))
        assert o5.body.status.name == "pending" and o5.body.authorizations != (a1,)
        # nor may it deactivate it: it does not exist for it
        problem(deactivate(s, srv, a1, key2, regr2), 404, "malformed")

        # deactivation: only {"status": "deactivated"}
        for bad in ({"status": "valid"}, {"status": "deactivated", "x": 1}, {"status": 1}):
            r = post(s, b1, key, jose.ES256, bad, nonce(s, srv), kid=regr.uri)
            problem(r, 400, "malformed")
        # the pending one: deactivated, and both orders that wait for it invalid
        r = deactivate(s, srv, b1, key, regr)
        assert r.status_code == 200 and r.json()["status"] == "deactivated", r.text
        for o in (o3, o4):
            assert read(cl, o.uri)["status"] == "invalid"
        rows = ca.sql("SELECT status FROM acme_orders WHERE id IN (%s, %s)" % (
            o3.uri.rsplit("/", 1)[1], o4.uri.rsplit("/", 1)[1]))
        assert [r[0] for r in rows] == ["invalid", "invalid"], rows
        problem(deactivate(s, srv, b1, key, regr), 400, "malformed")  # not twice

        # the valid one, under an order being finalized: deactivated while finalize waits to
        # sign (the order is processing, so the deactivation does not touch it); the
        # certificate's transaction sees it: orderNotReady, nothing issued; the order then
        # invalid, the authorization never reused
        o6 = cl.new_order(csr_for(A))
        assert o6.body.status.name == "ready" and o6.body.authorizations == (a1,)
        certs = int(ca.sql("SELECT COUNT(*) FROM certificates")[0][0])
        got = {}

        def fin():
            try:
                got["r"] = cl.finalize_order(
                    o6, datetime.datetime.now() + datetime.timedelta(seconds=20))
            except messages.Error as err:
                got["e"] = err

        t = threading.Thread(target=fin)
        t.start()
        time.sleep(0.5)
        assert read(cl, o6.uri)["status"] == "processing"
        r = deactivate(s, srv, a1, key, regr)
        assert r.status_code == 200 and r.json()["status"] == "deactivated", r.text
        t.join(30)
        assert not t.is_alive() and "e" in got, got
        assert got["e"].typ == ERR + "orderNotReady" and "deactivated" in got["e"].detail, got
        assert int(ca.sql("SELECT COUNT(*) FROM certificates")[0][0]) == certs
        assert read(cl, o6.uri)["status"] == "invalid"
        assert read(cl, o2.uri)["status"] == "valid"  # what was issued stays so
        o7 = cl.new_order(csr_for(A))
        assert o7.body.status.name == "pending" and o7.body.authorizations != (a1,)
        # a finished challenge of a deactivated authorization does not bring it back
        audit = ca.ok("audit", "list")
        assert audit.count("acme.authz.deactivate") == 2, audit

        # a binding that no longer covers a name gets no reuse of it: refused outright
        assert answer(cl, key, resp, o7).body.status.name == "valid"
        ca.sql("UPDATE acme_eab SET names = '%s' WHERE kid = '%s'" % (B, kid))
        with pytest.raises(messages.Error) as ei:
            cl.new_order(csr_for(A))
        assert ei.value.typ == ERR + "rejectedIdentifier", ei.value
        # a suspended one orders nothing at all
        ca.ok("acme", "eab", "suspend", kid)
        with pytest.raises(messages.Error) as ei:
            cl.new_order(csr_for(B))
        assert ei.value.typ == ERR + "unauthorized", ei.value
        assert ca.ok("audit", "verify")
    finally:
        stop(srv, resp)


def stop(srv, resp):
    from conftest import stop_server
    stop_server(srv)
    resp.close()


def test_acme_authz_expiry(ca):
    """What expired is written so when read: an authorization pending or valid past its expiry
    becomes expired (its pending or ready orders invalid), an order past its expiry invalid;
    each a conditional update with its audit entry; an expired authorization is not reused."""
    resp = Responder()
    srv = acme_server(ca, conf(resp.port))
    try:
        cl, key, regr, kid = account(ca, srv, "--names", A + "," + B)
        # a valid authorization, under a ready order, past its reuse period
        o1 = cl.new_order(csr_for(A))
        a1 = o1.body.authorizations[0]
        v = answer(cl, key, resp, o1)
        assert v.body.status.name == "valid"
        exp = rfc3339(read(cl, a1)["expires"])
        assert 30 * 86400 - 60 < exp - time.time() < 30 * 86400 + 60  # the default: 30 days
        aid = a1.rsplit("/", 1)[1]
        oid = o1.uri.rsplit("/", 1)[1]
        ca.sql("UPDATE acme_authzs SET expires = 1000 WHERE id = %s" % aid)
        assert read(cl, a1)["status"] == "expired"
        assert [str(x) for x in ca.sql("SELECT status FROM acme_authzs WHERE id = %s" % aid)[0]] \
            == ["expired"]
        assert read(cl, o1.uri)["status"] == "invalid"
        assert ca.sql("SELECT status FROM acme_orders WHERE id = %s" % oid)[0][0] == "invalid"
        # not reused: the next order has a new, pending authorization
        o2 = cl.new_order(csr_for(A))
        assert o2.body.status.name == "pending" and o2.body.authorizations != (a1,)

        # a pending order past its expiry: invalid when read, written so
        o3 = cl.new_order(csr_for(B))
        oid3 = o3.uri.rsplit("/", 1)[1]
        ca.sql("UPDATE acme_orders SET expires = 1000 WHERE id = %s" % oid3)
        assert read(cl, o3.uri)["status"] == "invalid"
        assert ca.sql("SELECT status FROM acme_orders WHERE id = %s" % oid3)[0][0] == "invalid"
        # a pending authorization past its expiry, read through its order
        b = o3.body.authorizations[0]
        ca.sql("UPDATE acme_authzs SET expires = 1000 WHERE id = %s" % b.rsplit("/", 1)[1])
        j = read(cl, o3.uri)
        assert j["status"] == "invalid"
        assert read(cl, b)["status"] == "expired"
        # an expired authorization cannot be deactivated any more
        s = session(srv)
        problem(deactivate(s, srv, b, key, regr), 400, "malformed")
        audit = ca.ok("audit", "list")
        assert audit.count("acme.authz.expire") == 2, audit
        assert "acme.order.expire" in audit and "acme:expiry" in audit
        assert ca.ok("audit", "verify")
    finally:
        stop(srv, resp)


def test_acme_revoke_by_authorizations(ca, tmp_path):
    """revokeCert (RFC 8555 7.6) by an account that did not order the certificate: refused
    until it holds valid authorizations for every name of it, then accepted and audited so."""
    import OpenSSL.crypto
    resp = Responder()
    srv = acme_server(ca, conf(resp.port))
    try:
        cl, key, regr, kid = account(ca, srv, "--names", A + "," + B)
        o = cl.new_order(csr_for(A, B))
        for az in o.authorizations:
            chall = [c for c in az.body.challenges if c.chall.typ == "http-01"][0]
            response, validation = chall.chall.response_and_validation(key)
            resp.answers[chall.chall.encode("token")] = validation
            cl.answer_challenge(chall, response)
        for az in o.authorizations:
            assert wait_authz(cl, az.uri).body.status.name == "valid"
        done = cl.finalize_order(o, datetime.datetime.now() + datetime.timedelta(seconds=20))
        leaf = verify(srv, tmp_path, done.fullchain_pem, "two")
        wrap = jose.ComparableX509(OpenSSL.crypto.load_certificate(
            OpenSSL.crypto.FILETYPE_PEM, leaf.encode()))

        cl2, key2, regr2, kid2 = account(ca, srv, "--names", A + "," + B)
        with pytest.raises(messages.Error) as ei:  # no authorization at all
            cl2.revoke(wrap, 0)
        assert ei.value.typ == ERR + "unauthorized", ei.value
        o2 = cl2.new_order(csr_for(A))
        assert answer(cl2, key2, resp, o2).body.status.name == "valid"
        with pytest.raises(messages.Error) as ei:  # one of the two names only
            cl2.revoke(wrap, 0)
        assert ei.value.typ == ERR + "unauthorized", ei.value
        o3 = cl2.new_order(csr_for(B))
        b = o3.body.authorizations[0]
        assert answer(cl2, key2, resp, o3).body.status.name == "valid"
        # a deactivated authorization does not count
        s = session(srv)
        assert deactivate(s, srv, b, key2, regr2).status_code == 200
        with pytest.raises(messages.Error) as ei:
            cl2.revoke(wrap, 0)
        assert ei.value.typ == ERR + "unauthorized", ei.value
        o4 = cl2.new_order(csr_for(B))
        assert answer(cl2, key2, resp, o4).body.status.name == "valid"
        # a suspended binding gives no right, nor one that no longer names both
        ca.ok("acme", "eab", "suspend", kid2)
        with pytest.raises(messages.Error) as ei:
            cl2.revoke(wrap, 0)
        assert ei.value.typ == ERR + "unauthorized", ei.value
        ca.ok("acme", "eab", "resume", kid2)
        ca.sql("UPDATE acme_eab SET names = '%s' WHERE kid = '%s'" % (A, kid2))
        with pytest.raises(messages.Error) as ei:
            cl2.revoke(wrap, 0)
        assert ei.value.typ == ERR + "unauthorized", ei.value
        ca.sql("UPDATE acme_eab SET names = '%s,%s' WHERE kid = '%s'" % (A, B, kid2))
        # nor over another organization's certificate (domains of organizations may overlap)
        ca.ok("org", "add", "OTHER", "--name", "Other University", "--domain", "example.ac.jp")
        move = ("UPDATE certificates SET org_id = (SELECT id FROM organizations WHERE code = "
                "'%s') WHERE org_id = (SELECT id FROM organizations WHERE code = '%s')")
        ca.sql(move % ("OTHER", "UNIV"))
        with pytest.raises(messages.Error) as ei:
            cl2.revoke(wrap, 0)
        assert ei.value.typ == ERR + "unauthorized", ei.value
        ca.sql(move % ("UNIV", "OTHER"))
        cl2.revoke(wrap, 4)  # superseded, by an account authorised for both names
        der = OpenSSL.crypto.dump_certificate(OpenSSL.crypto.FILETYPE_ASN1, wrap.wrapped)
        r = post(s, cl.directory["revokeCert"], key2, jose.ES256, {"certificate": b64u(der)},
                 nonce(s, srv), kid=regr2.uri)
        problem(r, 400, "alreadyRevoked")
        audit = ca.ok("audit", "list")
        assert "by=authorizations" in audit, audit
        assert ca.ok("audit", "verify")
    finally:
        stop(srv, resp)


def test_acme_new_authz(ca, tmp_path):
    """newAuthz (RFC 8555 7.4.1): a pre-authorization under newOrder's name rules (no wildcard),
    answered before any order; the next order of the identifier is ready at once."""
    resp = Responder()
    srv = acme_server(ca, conf(resp.port))
    try:
        cl, key, regr, kid = account(ca, srv, "--names", A + "," + B)
        s = session(srv)
        url = cl.directory["newAuthz"]
        assert url == srv.https + "/acme/new-authz"

        def new_authz(payload, k=key, rg=regr):
            return post(s, url, k, jose.ES256, payload, nonce(s, srv), kid=rg.uri)

        # refusals: the binding's names, the type, wildcards; malformed requests
        for value, typ, word in (("other.example.ac.jp", "dns", "binding"),
                                 ("*.example.ac.jp", "dns", "wildcard"),
                                 (A, "email", "type")):
            p = problem(new_authz({"identifier": {"type": typ, "value": value}}), 400,
                        "rejectedIdentifier")
            subs = p["subproblems"]
            assert len(subs) == 1 and subs[0]["identifier"] == {"type": typ, "value": value}
            assert subs[0]["type"] == ERR + "rejectedIdentifier", subs
            assert word in p["detail"], p
        for bad in (None, {}, {"identifier": A}, {"identifiers": [{"type": "dns", "value": A}]},
                    {"identifier": {"type": "dns", "value": A, "x": 1}},
                    {"identifier": {"type": "dns", "value": A}, "x": 1},
                    {"identifier": {"type": "dns", "value": "a" * 300}}):
            problem(new_authz(bad), 400, "malformed")

        # the pre-authorization: 201, its Location, pending with its challenges
        r = new_authz({"identifier": {"type": "dns", "value": A.upper()}})
        assert r.status_code == 201, r.text
        loc = r.headers["Location"]
        assert loc.startswith(srv.https + "/acme/authz/"), loc
        j = r.json()
        assert j["status"] == "pending" and j["identifier"] == {"type": "dns", "value": A}, j
        assert "http-01" in [c["type"] for c in j["challenges"]], j
        assert read(cl, loc)["status"] == "pending"
        # asked again: the same authorization (200), no second row
        again = new_authz({"identifier": {"type": "dns", "value": A}})
        assert again.status_code == 200 and again.headers["Location"] == loc, again.text
        # answered before any order exists
        authz = cl._authzr_from_response(cl._post_as_get(loc), uri=loc)
        chall = [c for c in authz.body.challenges if c.chall.typ == "http-01"][0]
        response, validation = chall.chall.response_and_validation(key)
        resp.answers[chall.chall.encode("token")] = validation
        cl.answer_challenge(chall, response)
        assert wait_authz(cl, loc).body.status.name == "valid"
        # the order of that name: ready at once, the pre-authorization its authorization
        o = cl.new_order(csr_for(A))
        assert o.body.status.name == "ready" and o.body.authorizations == (loc,), o.body
        done = cl.finalize_order(o, datetime.datetime.now() + datetime.timedelta(seconds=20))
        verify(srv, tmp_path, done.fullchain_pem, "preauth")
        # another account's pre-authorization is not this one's
        cl2, key2, regr2, _ = account(ca, srv, "--names", A)
        r2 = new_authz({"identifier": {"type": "dns", "value": A}}, key2, regr2)
        assert r2.status_code == 201 and r2.headers["Location"] != loc
        problem(post(s, loc, key2, jose.ES256, None, nonce(s, srv), kid=regr2.uri), 404,
                "malformed")
        audit = ca.ok("audit", "list")
        assert audit.count("acme.authz.create") == 2 and "pre-authorization" in audit, audit
        # a suspended binding pre-authorizes nothing
        ca.ok("acme", "eab", "suspend", kid)
        problem(new_authz({"identifier": {"type": "dns", "value": B}}), 403, "unauthorized")
        assert ca.ok("audit", "verify")
    finally:
        stop(srv, resp)


class HostResponder:
    """http-01 answers on one port of 127.0.0.1 and of ::1, recording each request's Host."""

    def __init__(self):
        import http.server
        import socket
        import threading
        answers, hosts = self.answers, self.hosts = {}, []

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hosts.append(self.headers.get("Host"))
                body = answers.get(self.path.rsplit("/", 1)[-1])
                self.send_response(200 if body else 404)
                self.end_headers()
                if body:
                    self.wfile.write(body.encode())

            def log_message(self, *a):
                pass

        class V6(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6

        for _ in range(20):  # the same free port on both loopback addresses
            self.v4 = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
            self.port = self.v4.server_address[1]
            try:
                self.v6 = V6(("::1", self.port), H)
                break
            except OSError:
                self.v4.server_close()
        else:
            raise AssertionError("no port free on both 127.0.0.1 and ::1")
        for srv in (self.v4, self.v6):
            threading.Thread(target=srv.serve_forever, daemon=True).start()

    def close(self):
        for srv in (self.v4, self.v6):
            srv.shutdown()
            srv.server_close()


def ip_csr(*addrs, dns=()):
    import ipaddress
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from acme import crypto_util
    k = ec.generate_private_key(ec.SECP256R1())
    pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    return crypto_util.make_csr(pem, list(dns) or None,
                                ipaddrs=[ipaddress.ip_address(a) for a in addrs])


def test_acme_ip_identifiers(ca, tmp_path):
    """IP identifiers (RFC 8738): IPv4 and IPv6 in their canonical text only, ordered only when
    the binding names the address (never through the organization's domains), http-01 fetched
    from the address itself with the address as Host, no dns-01, a CSR with exactly those
    iPAddress SANs; the certificate verifies and carries them."""
    from conftest import stop_server
    resp = HostResponder()
    srv = acme_server(ca, conf(resp.port))
    try:
        ca.ok("org", "set", "UNIV", "--ip", "127.0.0.0/8", "--ip", "::1")
        # an address outside the organization's is not a binding's name
        p = ca.run("acme", "eab", "create", "--org", "UNIV", "--names", "192.0.2.1")
        assert p.returncode != 0 and b"not one of the addresses" in p.stderr, p
        cl, key, regr, kid = account(ca, srv, "--names", "127.0.0.1,0:0::1," + A)
        s = session(srv)
        url = cl.directory["newOrder"]

        def new_order(*idents, k=key, rg=regr):
            return post(s, url, k, jose.ES256,
                        {"identifiers": [{"type": t, "value": v} for t, v in idents]},
                        nonce(s, srv), kid=rg.uri)

        # the canonical spelling only (python-acme writes ::1 as 0:0:0:0:0:0:0:1: refused)
        for v in ("0:0:0:0:0:0:0:1", "::0001", "127.000.0.1", "127.1", "::1%lo", "[::1]",
                  "::FFFF:127.0.0.1"):
            p = problem(new_order(("ip", v)), 400, "rejectedIdentifier")
            assert "RFC 8738" in p["subproblems"][0]["detail"], p
        # an address the binding does not name (in the organization's range), an address as
        # a dns identifier, and a binding naming none: the organization's domains never cover
        p = problem(new_order(("ip", "127.0.0.2"), ("ip", "127.0.0.1")), 400,
                    "rejectedIdentifier")
        assert [x["identifier"]["value"] for x in p["subproblems"]] == ["127.0.0.2"], p
        problem(new_order(("dns", "127.0.0.1")), 400, "rejectedIdentifier")
        cl2, key2, regr2, _ = account(ca, srv)
        p = problem(new_order(("ip", "127.0.0.1"), k=key2, rg=regr2), 400, "rejectedIdentifier")
        assert "binding" in p["subproblems"][0]["detail"], p

        # the order: IPv4 (as python-acme sends it), IPv6 and a name
        r = new_order(("ip", "127.0.0.1"), ("ip", "::1"), ("dns", A))
        assert r.status_code == 201, r.text
        order = messages.OrderResource(
            body=messages.Order.from_json(r.json()), uri=r.headers["Location"],
            csr_pem=ip_csr("127.0.0.1", "::1", dns=[A]),
            authorizations=[cl._authzr_from_response(cl._post_as_get(u), uri=u)
                            for u in r.json()["authorizations"]])
        assert sorted((i.typ.name, i.value) for i in order.body.identifiers) == \
            [("dns", A), ("ip", "127.0.0.1"), ("ip", "::1")]
        for az in order.authorizations:
            types = sorted(c.chall.typ for c in az.body.challenges)
            if az.body.identifier.typ.name == "ip":
                # RFC 8738 7: never dns-01; http-01 and tls-alpn-01 (RFC 8738 6)
                assert types == ["http-01", "tls-alpn-01"], types
            chall = [c for c in az.body.challenges if c.chall.typ == "http-01"][0]
            response, validation = chall.chall.response_and_validation(key)
            resp.answers[chall.chall.encode("token")] = validation
            cl.answer_challenge(chall, response)
        for az in order.authorizations:
            assert wait_authz(cl, az.uri).body.status.name == "valid", az.uri
        # http-01 went to each address itself, the Host header the address (RFC 8738 8.1)
        assert "127.0.0.1:%d" % resp.port in resp.hosts, resp.hosts
        assert "[::1]:%d" % resp.port in resp.hosts, resp.hosts
        # a CSR without the IPv6 address, or with another address: badCSR
        from cryptography import x509 as cx509
        from cryptography.hazmat.primitives import serialization
        for bad in (ip_csr("127.0.0.1", dns=[A]), ip_csr("127.0.0.1", "127.0.0.2", "::1",
                                                         dns=[A])):
            der = cx509.load_pem_x509_csr(bad).public_bytes(serialization.Encoding.DER)
            r = post(s, order.body.finalize, key, jose.ES256, {"csr": b64u(der)},
                     nonce(s, srv), kid=regr.uri)
            problem(r, 400, "badCSR")
        done = cl.finalize_order(order, datetime.datetime.now() + datetime.timedelta(seconds=20))
        leaf = verify(srv, tmp_path, done.fullchain_pem, "ip")
        txt = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName"],
                             input=leaf.encode(), capture_output=True).stdout.decode()
        assert "IP Address:127.0.0.1" in txt and "IP Address:0:0:0:0:0:0:0:1" in txt, txt
        assert "DNS:" + A in txt, txt

        # python-acme's own IPv4 order reuses the valid authorization: ready at once
        o2 = cl.new_order(ip_csr("127.0.0.1"))
        assert o2.body.status.name == "ready", o2.body
        # newAuthz takes an address too (no dns-01); for 127.0.0.1, validated above, it is
        # the account's valid authorization (200)
        r = post(s, cl.directory["newAuthz"], key, jose.ES256,
                 {"identifier": {"type": "ip", "value": "127.0.0.1"}}, nonce(s, srv),
                 kid=regr.uri)
        assert r.status_code == 200 and r.json()["status"] == "valid", r.text
        assert [c["type"] for c in r.json()["challenges"]] == ["http-01", "tls-alpn-01"], r.text
        assert ca.ok("audit", "verify")
    finally:
        stop_server(srv)
        resp.close()


def test_acme_ip_private_refused(ca_sqlite):
    """Without acme.allow_private_addresses an ip identifier of loopback fails validation
    (connection): the address rule applies to addresses as to names."""
    from conftest import stop_server
    resp = Responder()
    srv = acme_server(ca_sqlite, conf(resp.port, private=False))
    try:
        ca_sqlite.ok("org", "set", "UNIV", "--ip", "127.0.0.1")
        cl, key, regr, kid = account(ca_sqlite, srv, "--names", "127.0.0.1")
        order = cl.new_order(ip_csr("127.0.0.1"))
        a = answer(cl, key, resp, order)
        assert a.body.status.name == "invalid"
        err = [c for c in a.body.challenges if c.chall.typ == "http-01"][0].error
        assert err.typ == ERR + "connection" and "127.0.0.1" in err.detail, err
    finally:
        stop_server(srv)
        resp.close()


def test_acme_reuse_concurrent(ca):
    """Orders of one account for one name at once: each gets one authorization (a shared
    pending one, or each its own), none is corrupted, and answering the authorization makes
    every order that waits for it ready."""
    import concurrent.futures
    from conftest import stop_server
    resp = Responder()
    srv = acme_server(ca, conf(resp.port))
    try:
        cl, key, regr, kid = account(ca, srv, "--names", A)
        url = cl.directory["newOrder"]

        def one(_):
            s = session(srv)
            return post(s, url, key, jose.ES256,
                        {"identifiers": [{"type": "dns", "value": A}]}, nonce(s, srv),
                        kid=regr.uri)

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            rs = list(ex.map(one, range(8)))
        assert all(r.status_code == 201 for r in rs), [r.text for r in rs]
        orders = [r.headers["Location"] for r in rs]
        authzs = {r.json()["authorizations"][0] for r in rs}
        assert len(set(orders)) == 8 and 1 <= len(authzs) <= 8
        for a in authzs:
            az = cl._authzr_from_response(cl._post_as_get(a), uri=a)
            chall = [c for c in az.body.challenges if c.chall.typ == "http-01"][0]
            response, validation = chall.chall.response_and_validation(key)
            resp.answers[chall.chall.encode("token")] = validation
            cl.answer_challenge(chall, response)
            assert wait_authz(cl, a).body.status.name == "valid"
        for o in orders:
            assert read(cl, o)["status"] == "ready", o
        rows = ca.sql("SELECT COUNT(*) FROM acme_order_authzs")
        assert int(rows[0][0]) == 8, rows
        assert ca.ok("audit", "verify")
    finally:
        stop_server(srv)
        resp.close()
