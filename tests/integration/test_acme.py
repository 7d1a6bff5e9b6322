"""ACME (RFC 8555, issue 14, first slice) against the real server on both store backends, driven
by python3-acme (ClientV2) and by hand-made JWS where the client offers no way: the directory,
new-nonce, newAccount with External Account Binding made by `shomei acme eab create`,
onlyReturnExisting, contact update, keyChange, deactivation, and the refusals: a stale nonce
(badNonce with a fresh Replay-Nonce), a wrong url, an unsupported alg, a missing, wrong,
suspended or used binding."""
import base64
import json

import pytest
import requests

from conftest import free_port, kill_serve, start_server, stop_server

acme_client = pytest.importorskip("acme.client")
from acme import errors, messages  # noqa: E402
import josepy as jose  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402

ERR = "urn:ietf:params:acme:error:"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def acme_server(ca, extra=""):
    hp, sp = free_port(), free_port()
    while sp == hp:
        sp = free_port()
    ca.ok("org", "add", "UNIV", "--name", "Example University", "--domain", "example.ac.jp")
    conf = ("acme.enabled = yes\nacme.base_url = https://localhost:%d\n"
            "acme.terms_of_service = https://localhost:%d/policies/acme\n"
            "acme.caa_identities = ca.example.jp\n" % (sp, sp)) + extra
    return start_server(ca, conf, ports=(hp, sp))


def session(srv):
    s = requests.Session()
    s.trust_env = False
    s.verify = srv.cafile
    return s


def client(srv, key, alg):
    net = acme_client.ClientNetwork(key, alg=alg, verify_ssl=srv.cafile,
                                    user_agent="shomei-test")
    net.session.trust_env = False
    directory = acme_client.ClientV2.get_directory(srv.https + "/acme/directory", net)
    return acme_client.ClientV2(directory, net), net


def eab_create(ca, *args):
    out = ca.ok("acme", "eab", "create", "--org", "UNIV", *args).split()
    assert len(out) == 2 and len(out[0]) == 22 and len(out[1]) == 43, out
    return out[0], out[1]


def nonce(s, srv):
    r = s.head(srv.https + "/acme/new-nonce")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    return r.headers["Replay-Nonce"]


def post(s, url, key, alg, payload, nonce_, kid=None, url_in=None, jwk=True):
    """A JWS POST made by hand (josepy signs); payload None: POST-as-GET."""
    hdr = {"alg": alg.name, "nonce": nonce_, "url": url_in or url}
    if nonce_ is None:
        del hdr["nonce"]
    if kid:
        hdr["kid"] = kid
    elif jwk:
        hdr["jwk"] = key.public_key().to_partial_json()
    prot = b64u(json.dumps(hdr).encode())
    pay = b"" if payload is None else json.dumps(payload).encode()
    pay64 = b64u(pay)
    # (HS256 is not an account alg: signed with any MAC key, it must be refused by its name)
    sig = alg.sign(b"k" * 32 if alg is jose.HS256 else key.key, (prot + "." + pay64).encode())
    body = json.dumps({"protected": prot, "payload": pay64, "signature": b64u(sig)})
    return s.post(url, data=body, headers={"Content-Type": "application/jose+json"})


def problem(r, status, typ):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/problem+json", r.headers
    assert r.json()["type"] == ERR + typ, r.text
    assert r.headers.get("Replay-Nonce"), "a problem carries a fresh nonce"
    return r.json()


def test_acme_accounts(ca):
    srv = acme_server(ca)
    try:
        s = session(srv)
        # the directory and new-nonce (GET 204, HEAD 200; nonces differ)
        d = s.get(srv.https + "/acme/directory").json()
        base = srv.https + "/acme/"
        assert d["newNonce"] == base + "new-nonce" and d["newAccount"] == base + "new-account"
        assert d["newOrder"] == base + "new-order" and d["keyChange"] == base + "key-change"
        assert d["revokeCert"] == base + "revoke-cert"
        profiles = d["meta"].pop("profiles")  # (test_acme_ari.py checks them)
        assert list(profiles) == ["server", "shortlived"], profiles
        assert d["meta"] == {"termsOfService": srv.https + "/policies/acme",
                             "caaIdentities": ["ca.example.jp"], "externalAccountRequired": True}
        assert d["renewalInfo"] == base + "renewal-info"
        g = s.get(base + "new-nonce")
        assert g.status_code == 204 and g.headers["Cache-Control"] == "no-store"
        assert g.headers["Replay-Nonce"] != nonce(s, srv)
        assert g.headers["Link"] == '<%sdirectory>;rel="index"' % base
        assert s.post(base + "directory").status_code == 405

        # python3-acme: newAccount with EAB from `shomei acme eab create`
        kid, hmac = eab_create(ca, "--names", "www.example.ac.jp,Mail.example.ac.jp")
        key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        cl, net = client(srv, key, jose.ES256)
        assert cl.external_account_required()
        eab = messages.ExternalAccountBinding.from_data(key.public_key(), kid, hmac,
                                                        cl.directory)
        regr = cl.new_account(messages.NewRegistration.from_data(
            email="admin@example.ac.jp", terms_of_service_agreed=True,
            external_account_binding=eab))
        assert regr.body.status == "valid" and regr.body.contact == ("mailto:admin@example.ac.jp",)
        assert regr.uri.startswith(base + "acct/")
        # the same key again: the account, 200 (python3-acme raises ConflictError on 200)
        net.account = None  # (new_account set it: it would send a kid)
        with pytest.raises(errors.ConflictError) as ce:
            cl.new_account(messages.NewRegistration.from_data(
                email="admin@example.ac.jp", external_account_binding=eab))
        assert ce.value.location == regr.uri
        net.account = regr
        # POST-as-GET of the account, then a contact update
        assert cl.query_registration(regr).body.status == "valid"
        regr = cl.update_registration(regr, regr.body.update(contact=(
            "mailto:ops@example.ac.jp", "mailto:admin@example.ac.jp")))
        assert regr.body.contact == ("mailto:ops@example.ac.jp", "mailto:admin@example.ac.jp")
        bad = post(s, regr.uri, key, jose.ES256, {"contact": ["tel:+81-3-0000-0000"]},
                   nonce(s, srv), kid=regr.uri)
        problem(bad, 400, "unsupportedContact")
        bad = post(s, regr.uri, key, jose.ES256, {"contact": ["mailto:a@b.jp?subject=x"]},
                   nonce(s, srv), kid=regr.uri)
        problem(bad, 400, "invalidContact")

        # onlyReturnExisting with an unknown key
        other = jose.JWKRSA(key=rsa.generate_private_key(65537, 2048))
        r = post(s, base + "new-account", other, jose.RS256, {"onlyReturnExisting": True},
                 nonce(s, srv))
        problem(r, 400, "accountDoesNotExist")
        # ... and with the account's key: 200 and its Location
        r = post(s, base + "new-account", key, jose.ES256, {"onlyReturnExisting": True},
                 nonce(s, srv))
        assert r.status_code == 200 and r.headers["Location"] == regr.uri, r.text

        # keyChange (7.3.5) to an RSA key, by hand: python3-acme has no key change
        newkey = jose.JWKRSA(key=rsa.generate_private_key(65537, 2048))
        inner_hdr = {"alg": "RS256", "jwk": newkey.public_key().to_partial_json(),
                     "url": base + "key-change"}
        inner_prot = b64u(json.dumps(inner_hdr).encode())
        inner_pay = b64u(json.dumps({"account": regr.uri,
                                     "oldKey": key.public_key().to_partial_json()}).encode())
        inner = {"protected": inner_prot, "payload": inner_pay,
                 "signature": b64u(jose.RS256.sign(newkey.key,
                                                   (inner_prot + "." + inner_pay).encode()))}
        # signed by the wrong inner key: refused
        forged = dict(inner, signature=b64u(jose.RS256.sign(
            other.key, (inner_prot + "." + inner_pay).encode())))
        r = post(s, base + "key-change", key, jose.ES256, forged, nonce(s, srv), kid=regr.uri)
        problem(r, 400, "malformed")
        r = post(s, base + "key-change", key, jose.ES256, inner, nonce(s, srv), kid=regr.uri)
        assert r.status_code == 200, r.text
        # the old key no longer reaches the account (its ES256 does not suit the account's
        # RSA key now); the new one does
        r = post(s, regr.uri, key, jose.ES256, None, nonce(s, srv), kid=regr.uri)
        problem(r, 400, "badSignatureAlgorithm")
        r = post(s, regr.uri, newkey, jose.RS256, None, nonce(s, srv), kid=regr.uri)
        assert r.status_code == 200 and r.json()["status"] == "valid", r.text

        # a key already bound to another account: 409 with that account's Location
        kid2, hmac2 = eab_create(ca)
        k2 = jose.JWKEC(key=ec.generate_private_key(ec.SECP384R1()))
        cl2, net2 = client(srv, k2, jose.ES384)
        regr2 = cl2.new_account(messages.NewRegistration.from_data(
            terms_of_service_agreed=True,
            external_account_binding=messages.ExternalAccountBinding.from_data(
                k2.public_key(), kid2, hmac2, cl2.directory)))
        ip = b64u(json.dumps({"alg": "ES384", "jwk": k2.public_key().to_partial_json(),
                              "url": base + "key-change"}).encode())
        ipay = b64u(json.dumps({"account": regr.uri,
                                "oldKey": newkey.public_key().to_partial_json()}).encode())
        taken = {"protected": ip, "payload": ipay,
                 "signature": b64u(jose.ES384.sign(k2.key, (ip + "." + ipay).encode()))}
        r = post(s, base + "key-change", newkey, jose.RS256, taken, nonce(s, srv), kid=regr.uri)
        problem(r, 409, "malformed")
        assert r.headers["Location"] == regr2.uri

        # a second change, to a key of the same kind: the first key's RS256 suits the account
        # still, but its signature no longer verifies (the decoded key the server kept for the
        # account is not used for other stored bytes); the new key is taken at once
        newkey2 = jose.JWKRSA(key=rsa.generate_private_key(65537, 2048))
        ip = b64u(json.dumps({"alg": "RS256", "jwk": newkey2.public_key().to_partial_json(),
                              "url": base + "key-change"}).encode())
        ipay = b64u(json.dumps({"account": regr.uri,
                                "oldKey": newkey.public_key().to_partial_json()}).encode())
        inner2 = {"protected": ip, "payload": ipay,
                  "signature": b64u(jose.RS256.sign(newkey2.key, (ip + "." + ipay).encode()))}
        r = post(s, base + "key-change", newkey, jose.RS256, inner2, nonce(s, srv), kid=regr.uri)
        assert r.status_code == 200, r.text
        r = post(s, regr.uri, newkey, jose.RS256, None, nonce(s, srv), kid=regr.uri)
        problem(r, 400, "malformed")
        assert "signature" in r.json()["detail"]
        r = post(s, regr.uri, newkey2, jose.RS256, None, nonce(s, srv), kid=regr.uri)
        assert r.status_code == 200 and r.json()["status"] == "valid", r.text

        # deactivation (python3-acme): later requests are unauthorized
        net2.account = regr2
        deact = cl2.deactivate_registration(regr2)
        assert deact.body.status == "deactivated"
        r = post(s, regr2.uri, k2, jose.ES384, None, nonce(s, srv), kid=regr2.uri)
        problem(r, 403, "unauthorized")

        # the audit chain has every step
        audit = ca.ok("audit", "list")
        for action in ("acme.eab.create", "acme.account.create", "acme.account.update",
                       "acme.account.key", "acme.account.deactivate"):
            assert action in audit, action
        assert ca.ok("audit", "verify")
        # the HMAC key is nowhere in the store in clear
        rows = ca.sql("SELECT kid, names, status FROM acme_eab ORDER BY id")
        assert [r[0] for r in rows] == [kid, kid2]
        assert rows[0][1] == "www.example.ac.jp,mail.example.ac.jp"
    finally:
        stop_server(srv)
    assert hmac not in open(srv.log).read()


def test_acme_refusals(ca):
    srv = acme_server(ca)
    try:
        s = session(srv)
        base = srv.https + "/acme/"
        key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        kid, hmac = eab_create(ca)
        # the command refuses an unknown organization, names outside its domains, an
        # unknown key id, and prints its usage otherwise
        assert ca.run("acme", "eab", "create", "--org", "NOPE").returncode == 1
        p = ca.run("acme", "eab", "create", "--org", "UNIV", "--names", "www.example.jp")
        assert p.returncode == 1 and b"within the domains of UNIV" in p.stderr, p.stderr
        assert ca.run("acme", "eab", "suspend", "A" * 22).returncode == 1
        assert ca.run("acme").returncode == 2
        assert b"usage: shomei acme" in ca.run("acme", "--help").stdout
        cl, net = client(srv, key, jose.ES256)

        # no binding: externalAccountRequired
        r = post(s, base + "new-account", key, jose.ES256, {"termsOfServiceAgreed": True},
                 nonce(s, srv))
        problem(r, 400, "externalAccountRequired")
        # a wrong HMAC key, an unknown key id: unauthorized
        wrong = b64u(b"\x01" * 32)
        for k, h in ((kid, wrong), ("A" * 22, hmac)):
            eab = messages.ExternalAccountBinding.from_data(key.public_key(), k, h, cl.directory)
            r = post(s, base + "new-account", key, jose.ES256,
                     {"externalAccountBinding": eab}, nonce(s, srv))
            problem(r, 403, "unauthorized")
        # a binding over another key: malformed
        other = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        eab = messages.ExternalAccountBinding.from_data(other.public_key(), kid, hmac,
                                                        cl.directory)
        r = post(s, base + "new-account", key, jose.ES256, {"externalAccountBinding": eab},
                 nonce(s, srv))
        problem(r, 400, "malformed")
        # suspended: unauthorized; resumed: it works, once
        ca.ok("acme", "eab", "suspend", kid)
        eab = messages.ExternalAccountBinding.from_data(key.public_key(), kid, hmac, cl.directory)
        r = post(s, base + "new-account", key, jose.ES256, {"externalAccountBinding": eab},
                 nonce(s, srv))
        problem(r, 403, "unauthorized")
        ca.ok("acme", "eab", "resume", kid)
        r = post(s, base + "new-account", key, jose.ES256, {"externalAccountBinding": eab},
                 nonce(s, srv))
        assert r.status_code == 201 and r.headers["Location"].startswith(base + "acct/"), r.text
        acct = r.headers["Location"]
        # the binding serves one account: another key is refused with it
        eab = messages.ExternalAccountBinding.from_data(other.public_key(), kid, hmac,
                                                        cl.directory)
        r = post(s, base + "new-account", other, jose.ES256, {"externalAccountBinding": eab},
                 nonce(s, srv))
        problem(r, 403, "unauthorized")

        # a nonce twice: badNonce with a fresh Replay-Nonce that works
        n = nonce(s, srv)
        assert post(s, acct, key, jose.ES256, None, n, kid=acct).status_code == 200
        r = post(s, acct, key, jose.ES256, None, n, kid=acct)
        problem(r, 400, "badNonce")
        fresh = r.headers["Replay-Nonce"]
        assert post(s, acct, key, jose.ES256, None, fresh, kid=acct).status_code == 200
        # a forged nonce, and none at all
        problem(post(s, acct, key, jose.ES256, None, b64u(b"\0" * 40), kid=acct), 400,
                "badNonce")
        problem(post(s, acct, key, jose.ES256, None, None, kid=acct), 400, "badNonce")
        # python3-acme retries once after badNonce with the fresh nonce it was given
        net._nonces.clear()
        net._nonces.add(jose.b64decode(n))
        net.account = messages.RegistrationResource(uri=acct, body=messages.Registration())
        assert cl.query_registration(net.account).body.status == "valid"

        # a url other than the request's: unauthorized
        r = post(s, acct, key, jose.ES256, None, nonce(s, srv), kid=acct,
                 url_in=base + "new-account")
        problem(r, 403, "unauthorized")
        # alg not accepted, alg not matching the key: badSignatureAlgorithm with the list
        j = problem(post(s, acct, key, jose.HS256, None, nonce(s, srv), kid=acct), 400,
                    "badSignatureAlgorithm")
        assert j["algorithms"] == ["ES256", "ES384", "RS256", "EdDSA"]
        r = post(s, acct, key, jose.ES384, None, nonce(s, srv), kid=acct)
        problem(r, 400, "badSignatureAlgorithm")
        # RSA below 2048 bits: badPublicKey
        small = jose.JWKRSA(key=rsa.generate_private_key(65537, 1024))
        problem(post(s, base + "new-account", small, jose.RS256, {}, nonce(s, srv)), 400,
                "badPublicKey")
        # kid where jwk is due and the other way round; an unknown account
        problem(post(s, base + "new-account", key, jose.ES256, {}, nonce(s, srv), kid=acct),
                400, "malformed")
        problem(post(s, acct, key, jose.ES256, None, nonce(s, srv)), 400, "malformed")
        problem(post(s, base + "acct/999999", key, jose.ES256, None, nonce(s, srv),
                     kid=base + "acct/999999"), 400, "accountDoesNotExist")
        # a signature that does not verify; not JSON; a duplicate member; wrong Content-Type
        r = post(s, acct, other, jose.ES256, None, nonce(s, srv), kid=acct)
        problem(r, 400, "malformed")
        problem(s.post(acct, data="{", headers={"Content-Type": "application/jose+json"}), 400,
                "malformed")
        dup = '{"protected":"e30","protected":"e30","payload":"","signature":"AA"}'
        problem(s.post(acct, data=dup, headers={"Content-Type": "application/jose+json"}), 400,
                "malformed")
        problem(s.post(acct, data="{}", headers={"Content-Type": "application/json"}), 415,
                "malformed")
        # a revoked binding stays revoked
        ca.ok("acme", "eab", "revoke", kid)
        p = ca.run("acme", "eab", "resume", kid)
        assert p.returncode != 0 and b"revoked for good" in p.stderr, p
    finally:
        stop_server(srv)


def test_acme_disabled_and_no_eab(ca_sqlite):
    """acme.enabled = no answers 404; acme.eab_required = no makes accounts without a binding."""
    srv = start_server(ca_sqlite)
    try:
        s = session(srv)
        assert s.get(srv.https + "/acme/directory").status_code == 404
    finally:
        stop_server(srv)
    srv = acme_server(ca_sqlite, "acme.eab_required = no\n")
    try:
        key = jose.JWKRSA(key=rsa.generate_private_key(65537, 2048))
        cl, net = client(srv, key, jose.RS256)
        assert not cl.external_account_required()
        regr = cl.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
        assert regr.body.status == "valid"
        # the nonce survives a restart of the server without being reusable
        s = session(srv)
        n = nonce(s, srv)
    finally:
        stop_server(srv)
    srv = start_server(ca_sqlite, ports=(srv.http_port, srv.https_port))
    try:
        s = session(srv)
        assert post(s, regr.uri, key, jose.RS256, None, n, kid=regr.uri).status_code == 200
        problem(post(s, regr.uri, key, jose.RS256, None, n, kid=regr.uri), 400, "badNonce")
        # ... and a kill -9 right after a nonce was accepted (its use is durable before the
        # answer: the group commit's fsync)
        n = nonce(s, srv)
        assert post(s, regr.uri, key, jose.RS256, None, n, kid=regr.uri).status_code == 200
    finally:
        kill_serve(srv)
    srv = start_server(ca_sqlite, ports=(srv.http_port, srv.https_port))
    try:
        s = session(srv)
        problem(post(s, regr.uri, key, jose.RS256, None, n, kid=regr.uri), 400, "badNonce")
    finally:
        stop_server(srv)
