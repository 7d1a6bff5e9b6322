"""ACME rate limits and abuse resistance (issue 14 part 5) against the real server on both
store backends, with small limits configured: new accounts per client address, new orders per
account, failed validations per name (at newOrder and when a challenge is answered),
certificates per registered domain (Public Suffix List: names under example.ac.jp count
together) and the per-address request limiter of /acme/.  Each answers 429 with the problem
type rateLimited naming the limit, a Retry-After within the limit's window and a Link
rel="help" to the page that explains the limits, which the portal serves in Japanese and
English with the configured values.  An account under the limits still orders; a DNS
identifier that looks like an IPv4 address and an Ed25519 account key of small order are
refused; the validations of one organization running at once are capped."""
import datetime
import http.server
import json
import os
import re
import threading
import time

import pytest

from conftest import start_server, stop_server
from test_acme import ERR, acme_server, b64u, nonce, post, problem, session
from test_acme_order import Responder, account, conf, csr_for, http01, wait_authz

from acme import messages  # noqa: E402
import josepy as jose  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

WINDOW = 600


def limited(r, window, what):
    """A rateLimited answer: 429, the type, Retry-After within the window, the help Link."""
    p = problem(r, 429, "rateLimited")
    assert p["status"] == 429 and what in p["detail"], p
    ra = int(r.headers["Retry-After"])
    assert 1 <= ra <= window, ra
    help_ = [lk for lk in r.headers["Link"].split(",") if 'rel="help"' in lk]
    assert len(help_) == 1, r.headers["Link"]
    url = re.match(r'\s*<([^>]+)>', help_[0]).group(1)
    assert url.endswith("/policies/acme-limits"), url
    return p, url


def new_account_raw(s, srv, key):
    """newAccount signed by key without a binding (the limit answers before the binding)."""
    return post(s, srv.https + "/acme/new-account", key, jose.ES256,
                {"termsOfServiceAgreed": True}, nonce(s, srv))


def order_raw(s, srv, key, kid, *names):
    return post(s, srv.https + "/acme/new-order", key, jose.ES256,
                {"identifiers": [{"type": "dns", "value": n} for n in names]},
                nonce(s, srv), kid=kid)


def test_acme_limits_accounts_orders(ca):
    limits = ("acme.accounts_per_address = 2\nacme.accounts_per_address_window = %d\n"
              "acme.orders_per_account = 2\nacme.orders_per_account_window = %d\n"
              "acme.certs_per_domain = 7\n" % (WINDOW, WINDOW))
    srv = acme_server(ca, limits)
    try:
        s = session(srv)
        cl1, key1, regr1, _ = account(ca, srv)
        cl2, key2, regr2, _ = account(ca, srv)
        # a third account from this address: refused before its binding is looked at
        key3 = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        r = new_account_raw(s, srv, key3)
        _, page = limited(r, WINDOW, "new accounts per client address")
        assert "acme.accounts_per_address" in r.json()["detail"]
        # an existing account's key still finds it (200), the limit counts new ones only
        r = post(s, srv.https + "/acme/new-account", key1, jose.ES256,
                 {"onlyReturnExisting": True}, nonce(s, srv))
        assert r.status_code == 200 and r.headers["Location"] == regr1.uri, r.text

        # orders per account: two, then 429; the other account still orders
        cl1.new_order(csr_for("www.example.ac.jp"))
        cl1.new_order(csr_for("mail.example.ac.jp"))
        r = order_raw(s, srv, key1, regr1.uri, "ftp.example.ac.jp")
        limited(r, WINDOW, "new orders per account")
        o = cl2.new_order(csr_for("www.example.ac.jp"))
        assert o.body.status.name == "pending"

        # a DNS identifier that looks like an IPv4 address: rejectedIdentifier, each
        # (an address in its usual text is told its identifier type is ip)
        for v, why in (("127.0.0.1", "its identifier's type is ip"),
                       ("0x7f.1", "looks like an IP address"),
                       ("2130706433", "looks like an IP address"),
                       ("www.example.ac.123", "looks like an IP address")):
            r = order_raw(s, srv, key2, regr2.uri, v)
            p = problem(r, 400, "rejectedIdentifier")
            assert why in p["subproblems"][0]["detail"], (v, p)

        # an Ed25519 key of small order (y = 1, the identity) is no account key
        prot = {"alg": "EdDSA", "nonce": nonce(s, srv), "url": srv.https + "/acme/new-account",
                "jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64u(b"\x01" + b"\x00" * 31)}}
        body = {"protected": b64u(json.dumps(prot).encode()),
                "payload": b64u(b'{"termsOfServiceAgreed":true}'),
                "signature": b64u(os.urandom(64))}
        r = s.post(srv.https + "/acme/new-account", data=json.dumps(body),
                   headers={"Content-Type": "application/jose+json"})
        problem(r, 400, "badPublicKey")

        # the page the Link names, in English and in Japanese, with the configured values
        path = "/policies/acme-limits"
        assert page == srv.https + path, page
        en = s.get(srv.https + path, headers={"Accept-Language": "en"})
        assert en.status_code == 200 and en.headers["Content-Type"].startswith("text/html")
        t = en.text
        assert "ACME rate limits" in t and "New orders per account" in t, t
        assert "acme.orders_per_account" in t and "600 s" in t and ">7<" in t, t
        assert "rateLimited" in t and "Retry-After" in t and "bursts of 200" in t
        assert "Requests per IPv6 /48" in t and "acme.requests_per_second_48" in t
        assert "bursts of 800" in t, t
        ja = s.get(srv.https + path, headers={"Accept-Language": "ja"})
        assert ja.status_code == 200
        assert "アカウントごとの新規オーダー数" in ja.text and "登録ドメイン" in ja.text, ja.text
        assert "New orders per account" not in ja.text and "バースト 200" in ja.text
        assert "<h1>ACME のレート制限</h1>" in ja.text and "<h1>ACME rate limits</h1>" in t
    finally:
        stop_server(srv)


def test_acme_limits_failed_certs(ca):
    resp = Responder()
    limits = ("acme.failed_validations_per_name = 1\nacme.failed_validations_window = %d\n"
              "acme.certs_per_domain = 1\nacme.certs_per_domain_window = %d\n"
              "acme.certs_per_ip = 1\nacme.certs_per_ip_window = %d\n"
              % (WINDOW, WINDOW, WINDOW))
    srv = acme_server(ca, conf(resp.port) + limits)
    try:
        s = session(srv)
        cl, key, regr, kid = account(ca, srv)
        # failed validations count per (account, name): the name and the wildcard of it
        # ordered by one account (two authorizations of the name: an account's second order
        # of the name itself would reuse the first's pending one), the name by another; the
        # first account's validation of the name fails
        cl2, key2, regr2, _ = account(ca, srv)
        a1 = cl.new_order(csr_for("www.example.ac.jp"))
        w1 = cl.new_order(csr_for("*.www.example.ac.jp"))
        a2 = cl2.new_order(csr_for("www.example.ac.jp"))
        authz, chall = http01(a1)
        resp.answers[chall.chall.encode("token")] = "not-the-key-authorization"
        cl.answer_challenge(chall, chall.chall.response(key))
        assert wait_authz(cl, authz.uri).body.status.name == "invalid"
        # this account's other challenge of the name is not validated now, nor a new order
        # of the name made
        wz = w1.authorizations[0]
        wch = [c for c in wz.body.challenges if c.chall.typ == "dns-01"][0]
        r = post(s, wch.uri, key, jose.ES256, {}, nonce(s, srv), kid=regr.uri)
        limited(r, WINDOW, "failed validations per name")
        assert "www.example.ac.jp" in r.json()["detail"]
        r = post(s, wz.uri, key, jose.ES256, None, nonce(s, srv), kid=regr.uri)
        assert r.json()["challenges"][0]["status"] == "pending", r.text
        r = order_raw(s, srv, key, regr.uri, "www.example.ac.jp")
        limited(r, WINDOW, "failed validations per name")
        # the other account's are: one attacker's failures do not block another's name
        authz2, chall2 = http01(a2)
        assert authz2.uri != authz.uri
        response2, validation2 = chall2.chall.response_and_validation(key2)
        resp.answers[chall2.chall.encode("token")] = validation2
        r = post(s, chall2.uri, key2, jose.ES256, {}, nonce(s, srv), kid=regr2.uri)
        assert r.status_code == 200, r.text
        assert wait_authz(cl2, authz2.uri).body.status.name == "valid"
        assert cl2.new_order(csr_for("www.example.ac.jp")).body.status.name == "ready"

        # two orders under example.ac.jp made and validated; one certificate, then no more:
        # the other order's finalize and a new order of a name under it are refused
        orders = []
        for name in ("mail.example.ac.jp", "web2.example.ac.jp"):
            o = cl.new_order(csr_for(name))
            authz, chall = http01(o)
            response, validation = chall.chall.response_and_validation(key)
            resp.answers[chall.chall.encode("token")] = validation
            cl.answer_challenge(chall, response)
            assert wait_authz(cl, authz.uri).body.status.name == "valid"
            orders.append((o, name))
        o, name = orders[0]
        done = cl.finalize_order(o, datetime.datetime.now() + datetime.timedelta(seconds=20))
        assert done.body.status.name == "valid"
        rows = ca.sql("SELECT domain FROM acme_cert_domains WHERE domain NOT LIKE 'set:%'")
        assert rows == [["example.ac.jp"]], rows
        # and the account's set of names, for the renewal rule
        assert len(ca.sql("SELECT domain FROM acme_cert_domains WHERE domain LIKE 'set:%'")) == 1
        o, name = orders[1]
        from cryptography import x509 as cx509
        from cryptography.hazmat.primitives import serialization
        der = cx509.load_pem_x509_csr(csr_for(name)).public_bytes(serialization.Encoding.DER)
        r = post(s, o.body.finalize, key, jose.ES256, {"csr": b64u(der)}, nonce(s, srv),
                 kid=regr.uri)
        p, _ = limited(r, WINDOW, "certificates per registered domain")
        r = post(s, o.uri, key, jose.ES256, None, nonce(s, srv), kid=regr.uri)
        assert r.json()["status"] == "ready", r.text
        r = order_raw(s, srv, key, regr.uri, "ftp.cs.example.ac.jp")
        p, _ = limited(r, WINDOW, "certificates per registered domain")
        assert "example.ac.jp" in p["detail"]
        assert len(ca.sql("SELECT serial FROM acme_orders WHERE serial IS NOT NULL")) == 1

        # renewals are exempt from the certificates per domain: the same names again (any
        # case) are ordered and finalized; an order replacing the certificate (RFC 9773) with
        # a new name too is made; another account's same names are not a renewal
        from test_acme_ari import cert_id
        again = cl.new_order(csr_for("MAIL.example.ac.jp"))
        again = cl.finalize_order(again, datetime.datetime.now() +
                                  datetime.timedelta(seconds=20))
        assert again.body.status.name == "valid"
        assert len(ca.sql("SELECT serial FROM acme_orders WHERE serial IS NOT NULL")) == 2
        r = post(s, srv.https + "/acme/new-order", key, jose.ES256,
                 {"identifiers": [{"type": "dns", "value": "mail.example.ac.jp"},
                                  {"type": "dns", "value": "new.example.ac.jp"}],
                  "replaces": cert_id(done.fullchain_pem)}, nonce(s, srv), kid=regr.uri)
        assert r.status_code == 201, r.text
        limited(order_raw(s, srv, key2, regr2.uri, "mail.example.ac.jp"), WINDOW,
                "certificates per registered domain")

        # an address counts under itself (no registered domain), renewal or not
        ca.ok("org", "set", "UNIV", "--ip", "127.0.0.1")
        cl3, key3, regr3, _ = account(ca, srv, "--names", "127.0.0.1")
        from test_acme_authz import ip_csr
        o = cl3.new_order(ip_csr("127.0.0.1"))
        authz, chall = http01(o)
        response, validation = chall.chall.response_and_validation(key3)
        resp.answers[chall.chall.encode("token")] = validation
        cl3.answer_challenge(chall, response)
        assert wait_authz(cl3, authz.uri).body.status.name == "valid"
        done = cl3.finalize_order(o, datetime.datetime.now() + datetime.timedelta(seconds=20))
        assert done.body.status.name == "valid"
        assert ca.sql("SELECT domain FROM acme_cert_domains WHERE domain LIKE 'ip:%'") == \
            [["ip:127.0.0.1"]]
        r = post(s, srv.https + "/acme/new-order", key3, jose.ES256,
                 {"identifiers": [{"type": "ip", "value": "127.0.0.1"}]}, nonce(s, srv),
                 kid=regr3.uri)
        p, _ = limited(r, WINDOW, "certificates per IP address")
        assert "acme.certs_per_ip" in p["detail"] and "127.0.0.1" in p["detail"], p
        # the page explains both
        t = s.get(srv.https + "/policies/acme-limits", headers={"Accept-Language": "en"}).text
        assert "Certificates per IP address" in t and "acme.certs_per_ip" in t, t
        assert "A renewal is exempt" in t, t
        ja = s.get(srv.https + "/policies/acme-limits", headers={"Accept-Language": "ja"}).text
        assert "IP アドレスごとの証明書発行数" in ja and "更新は" in ja, ja
    finally:
        stop_server(srv)
        resp.close()


def test_acme_limits_requests(ca_sqlite):
    """The per-address request limiter: a burst, then 429 with Retry-After, on every URL;
    behind a trusted proxy, per client it names; a client it cannot name (an X-Forwarded-For
    only proxies, or garbage) refused with a problem document, not counted under a shared key; a second
    bucket per IPv6 /48 stops one site spread over many /64s."""
    srv = acme_server(ca_sqlite, "acme.requests_per_second = 1\nacme.requests_burst = 3\n"
                      "acme.requests_per_second_48 = 1\nacme.requests_burst_48 = 5\n"
                      "http.trusted_proxies = 127.0.0.1\n")
    try:
        s = session(srv)
        s.headers["X-Forwarded-For"] = "192.0.2.10"
        for _ in range(3):
            assert s.get(srv.https + "/acme/directory").status_code == 200
        r = s.get(srv.https + "/acme/directory")
        limited(r, 1, "requests per client address")
        r = s.head(srv.https + "/acme/new-nonce")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        # the portal is not limited by ACME's limiter
        assert s.get(srv.https + "/policies/acme-limits").status_code == 200
        # another client behind the proxy has its own bucket
        assert s.get(srv.https + "/acme/directory",
                     headers={"X-Forwarded-For": "192.0.2.11"}).status_code == 200
        # a client the proxy does not name usably (only proxies, garbage; a header
        # over 16 KiB does not pass the HTTP layer: 431): refused, each time (no shared
        # bucket to exhaust or hide in)
        assert s.get(srv.https + "/acme/directory",
                     headers={"X-Forwarded-For": "198.51.100.1, " * 1200}).status_code == 431
        for xff in ("127.0.0.1", ", ".join(["127.0.0.1"] * 40), "garbage"):
            for _ in range(5):
                r = s.get(srv.https + "/acme/directory", headers={"X-Forwarded-For": xff})
                assert r.status_code == 400, r
                assert r.headers["Content-Type"] == "application/problem+json"
                assert r.json()["type"] == "urn:ietf:params:acme:error:malformed"
                assert "X-Forwarded-For" in r.json()["detail"]
        # IPv6: each /64 a bucket of 3, the /48 one of 5: the sixth /64 of a site waits
        for i in range(5):
            r = s.get(srv.https + "/acme/directory",
                      headers={"X-Forwarded-For": "2001:db8:5:%x::1" % i})
            assert r.status_code == 200, (i, r)
        r = s.get(srv.https + "/acme/directory", headers={"X-Forwarded-For": "2001:db8:5:99::1"})
        limited(r, 1, "requests per IPv6 /48")
        assert s.get(srv.https + "/acme/directory",
                     headers={"X-Forwarded-For": "2001:db8:6::1"}).status_code == 200
    finally:
        stop_server(srv)


class SlowResponder:
    """http-01 answers given after a pause, so that a validation holds its slot a while."""

    def __init__(self, pause):
        answers = self.answers = {}

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                time.sleep(pause)
                body = answers.get(self.path.rsplit("/", 1)[-1])
                self.send_response(200 if body else 404)
                self.end_headers()
                if body:
                    self.wfile.write(body.encode())

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_acme_limits_validations_per_org(ca_sqlite):
    """At most acme.validations_per_organization validations of one organization's accounts
    run at once: another account of it is told 503 rateLimited until the first ends."""
    resp = SlowResponder(3)
    srv = acme_server(ca_sqlite, conf(resp.port) + "acme.validations_per_organization = 1\n")
    try:
        s = session(srv)
        cl1, key1, regr1, _ = account(ca_sqlite, srv)
        cl2, key2, regr2, _ = account(ca_sqlite, srv)
        pending = []
        for cl, key, name in ((cl1, key1, "www.example.ac.jp"), (cl2, key2, "mail.example.ac.jp")):
            authz, chall = http01(cl.new_order(csr_for(name)))
            resp.answers[chall.chall.encode("token")] = chall.chall.validation(key)
            pending.append((authz, chall))
        t0 = time.time()
        cl1.answer_challenge(pending[0][1], pending[0][1].chall.response(key1))
        r = post(s, pending[1][1].uri, key2, jose.ES256, {}, nonce(s, srv), kid=regr2.uri)
        p = problem(r, 503, "rateLimited")
        assert "acme.validations_per_organization" in p["detail"], p
        assert time.time() - t0 < 3, "the first validation still runs"
        assert int(r.headers["Retry-After"]) >= 1 and 'rel="help"' in r.headers["Link"]
        assert wait_authz(cl1, pending[0][0].uri).body.status.name == "valid"
        # the slot is free again: the other account's validation runs
        cl2.answer_challenge(pending[1][1], pending[1][1].chall.response(key2))
        assert wait_authz(cl2, pending[1][0].uri).body.status.name == "valid"
    finally:
        stop_server(srv)
        resp.close()


def test_acme_limits_page_needs_acme(ca_sqlite):
    """Without acme.enabled there are no ACME limits to explain: the page is 404."""
    srv = start_server(ca_sqlite, "")
    try:
        r = session(srv).get(srv.https + "/policies/acme-limits")
        assert r.status_code == 404
    finally:
        stop_server(srv)
