"""ACME beyond the core (issue 14): the orders list (RFC 8555 7.1.2.1, paged with Link
rel="next"), renewal information (RFC 9773: renewalInfo, `replaces`, alreadyReplaced) and
certificate profiles (draft-ietf-acme-profiles: the short-lived profile, invalidProfile),
against the real server on both store backends.  python3-acme 2.1 knows none of these, so the
requests they change are made by hand (test_acme.py's post) and the rest by python3-acme."""
import datetime
import subprocess

import pytest

from conftest import start_server, stop_server
from test_acme import ERR, acme_server, b64u, client, nonce, post, problem, session
from test_acme_order import NAME, Responder, account, conf, csr_for, http01, wait_authz

acme_client = pytest.importorskip("acme.client")
from acme import messages  # noqa: E402
import josepy as jose  # noqa: E402
from cryptography import x509 as cx509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

MAIL = "mail.example.ac.jp"


def cert_id(pem):
    """RFC 9773 4.1: base64url(AKI keyIdentifier) "." base64url(serial's DER INTEGER content)."""
    c = cx509.load_pem_x509_certificate(pem.encode())
    aki = c.extensions.get_extension_for_class(cx509.AuthorityKeyIdentifier).value
    sn = c.serial_number
    return b64u(aki.key_identifier) + "." + b64u(sn.to_bytes((sn.bit_length() + 8) // 8, "big"))


def validity(c):
    """(notBefore, notAfter) as aware UTC datetimes (cryptography of Debian 12 lacks *_utc)."""
    utc = datetime.timezone.utc
    return c.not_valid_before.replace(tzinfo=utc), c.not_valid_after.replace(tzinfo=utc)


def rfc3339(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def new_order(s, srv, cl, key, regr, names, **extra):
    """newOrder by hand (profile, replaces): the raw response."""
    payload = dict(identifiers=[{"type": "dns", "value": n} for n in names], **extra)
    return post(s, cl.directory["newOrder"], key, jose.ES256, payload, nonce(s, srv),
                kid=regr.uri)


def finish(cl, key, resp, r, csr):
    """Answers the http-01 challenges of the order of response r and finalizes it with csr:
    (leaf PEM, issuing CA PEM)."""
    assert r.status_code == 201, (r.status_code, r.text)
    body = messages.Order.from_json(r.json())
    authzs = [cl._authzr_from_response(cl._post_as_get(u), uri=u) for u in body.authorizations]
    order = messages.OrderResource(body=body, uri=r.headers["Location"], csr_pem=csr,
                                   authorizations=authzs)
    for authz in authzs:
        chall = [c for c in authz.body.challenges if c.chall.typ == "http-01"][0]
        response, validation = chall.chall.response_and_validation(key)
        resp.answers[chall.chall.encode("token")] = validation
        cl.answer_challenge(chall, response)
        assert wait_authz(cl, authz.uri).body.status.name == "valid"
    done = cl.finalize_order(order, datetime.datetime.now() + datetime.timedelta(seconds=20))
    leaf, inter = (p.lstrip() + "-----END CERTIFICATE-----\n"
                   for p in done.fullchain_pem.split("-----END CERTIFICATE-----")[:2])
    return leaf, inter


def orders_pages(s, srv, key, regr, url):
    """Every page of an orders list from url: [[order URLs of a page], ...]."""
    pages = []
    while url:
        r = post(s, url, key, jose.ES256, None, nonce(s, srv), kid=regr.uri)
        assert r.status_code == 200, (r.status_code, r.text)
        pages.append(r.json()["orders"])
        nxt = [ln for ln in r.headers.get("Link", "").split(",") if 'rel="next"' in ln]
        url = nxt[0].strip().split(";")[0].strip("<>") if nxt else None
        assert len(pages) < 10, "the pages do not end"
    return pages


def test_acme_orders_list(ca):
    """The account's orders list: page by page (acme.orders_page = 2), the account's own orders
    only, an invalid one left out; another account's list is unauthorized."""
    srv = acme_server(ca, "acme.orders_page = 2\n")
    try:
        s = session(srv)
        cl, key, regr, _ = account(ca, srv, "--names", NAME + "," + MAIL)
        cl2, key2, regr2, _ = account(ca, srv)
        acct = post(s, regr.uri, key, jose.ES256, None, nonce(s, srv), kid=regr.uri).json()
        url = acct["orders"]
        assert url == regr.uri + "/orders", acct
        assert orders_pages(s, srv, key, regr, url) == [[]]
        made = [cl.new_order(csr_for(NAME if i % 2 else MAIL)).uri for i in range(5)]
        cl2.new_order(csr_for(NAME))  # another account's: never in this list
        pages = orders_pages(s, srv, key, regr, url)
        assert [len(p) for p in pages] == [2, 2, 1], pages
        assert sum(pages, []) == made
        # an invalid order is left out (the list is of work to do and certificates)
        oid = made[2].rsplit("/", 1)[1]
        ca.sql("UPDATE acme_orders SET status = 'invalid' WHERE id = %s" % oid)
        assert sum(orders_pages(s, srv, key, regr, url), []) == made[:2] + made[3:]
        # POST-as-GET only; another account's list; a cursor that is no id
        r = post(s, url, key, jose.ES256, {}, nonce(s, srv), kid=regr.uri)
        problem(r, 400, "malformed")
        r = post(s, url, key2, jose.ES256, None, nonce(s, srv), kid=regr2.uri, url_in=url)
        problem(r, 403, "unauthorized")
        for bad in ("/x", "/0", "/-1", "/1/2"):
            r = post(s, url + bad, key, jose.ES256, None, nonce(s, srv), kid=regr.uri)
            problem(r, 404, "malformed")
        assert orders_pages(s, srv, key2, regr2, regr2.uri + "/orders")[0][0].startswith(
            srv.https + "/acme/order/")
    finally:
        stop(srv)


def stop(srv):
    stop_server(srv)


def test_acme_renewal_info_replaces_profiles(ca, tmp_path):
    """renewalInfo for a good, a revoked and an unknown certificate; replaces accepted, then
    alreadyReplaced; another account's certificate and one sharing no name refused; the
    short-lived profile issued (7 days at most, no OCSP URL, no CRL distribution point, openssl
    verify passes) and invalidProfile."""
    resp = Responder()
    srv = acme_server(ca, conf(resp.port))
    try:
        s = session(srv)
        d = s.get(srv.https + "/acme/directory").json()
        assert d["renewalInfo"] == srv.https + "/acme/renewal-info", d
        assert set(d["meta"]["profiles"]) == {"server", "shortlived"}, d["meta"]
        cl, key, regr, _ = account(ca, srv, "--names", NAME + "," + MAIL)
        cl2, key2, regr2, _ = account(ca, srv)

        # a certificate of the server profile (the default), and its renewal information
        csr = csr_for(NAME)
        r = new_order(s, srv, cl, key, regr, [NAME])
        assert r.json()["profile"] == "server" and "replaces" not in r.json(), r.json()
        leaf, inter = finish(cl, key, resp, r, csr)
        cid = cert_id(leaf)
        c = cx509.load_pem_x509_certificate(leaf.encode())
        g = s.get(d["renewalInfo"] + "/" + cid)
        assert g.status_code == 200 and g.headers["Retry-After"] == "21600", (g, g.text)
        w = g.json()["suggestedWindow"]
        start, end = rfc3339(w["start"]), rfc3339(w["end"])
        nb, na = validity(c)
        v = na - nb
        assert abs((na - v / 3) - start).total_seconds() < 5, (w, nb, na)
        assert abs((na - v / 6) - end).total_seconds() < 5, (w, nb, na)
        # unknown: another serial; another keyIdentifier; malformed
        aki, ser = cid.split(".")
        other = aki + "." + b64u(b"\x01\x02\x03")
        problem(s.get(d["renewalInfo"] + "/" + other), 404, "malformed")
        problem(s.get(d["renewalInfo"] + "/" + b64u(b"\x00" * 20) + "." + ser), 404,
                "malformed")
        for bad in (cid + "=", aki, "." + ser, aki + "." + b64u(b"\x00\x01"), cid + ".x"):
            problem(s.get(d["renewalInfo"] + "/" + bad), 400, "malformed")
        assert s.post(d["renewalInfo"] + "/" + cid).status_code == 405

        # replaces: malformed; another account's certificate; no name in common
        problem(new_order(s, srv, cl, key, regr, [NAME], replaces=cid + "="), 400, "malformed")
        problem(new_order(s, srv, cl2, key2, regr2, [NAME], replaces=cid), 403, "unauthorized")
        problem(new_order(s, srv, cl, key, regr, [MAIL], replaces=cid), 400, "malformed")
        # accepted, shown with the order, audited; finalized: the certificate is replaced
        csr2 = csr_for(NAME)
        r = new_order(s, srv, cl, key, regr, [NAME], replaces=cid)
        assert r.status_code == 201 and r.json()["replaces"] == cid, r.text
        pending = new_order(s, srv, cl, key, regr, [NAME, MAIL], replaces=cid)
        assert pending.status_code == 201, pending.text  # unfinished orders hold nothing
        leaf2, _ = finish(cl, key, resp, r, csr2)
        assert cert_id(leaf2) != cid
        serial = "%X" % c.serial_number
        serial = "0" * (len(serial) % 2) + serial
        assert "replaces=" + serial in ca.ok("audit", "list")
        problem(new_order(s, srv, cl, key, regr, [NAME], replaces=cid), 409, "alreadyReplaced")
        # the other order replacing it cannot be finalized now
        body = messages.Order.from_json(pending.json())
        for u in body.authorizations:
            a = cl._authzr_from_response(cl._post_as_get(u), uri=u)
            ch = [x for x in a.body.challenges if x.chall.typ == "http-01"][0]
            response, validation = ch.chall.response_and_validation(key)
            resp.answers[ch.chall.encode("token")] = validation
            cl.answer_challenge(ch, response)
            assert wait_authz(cl, a.uri).body.status.name == "valid"
        der = cx509.load_pem_x509_csr(csr_for(NAME, MAIL)).public_bytes(
            serialization.Encoding.DER)
        problem(post(s, body.finalize, key, jose.ES256, {"csr": b64u(der)}, nonce(s, srv),
                     kid=regr.uri), 409, "alreadyReplaced")

        # a revoked certificate: a window in the past (renew now)
        import OpenSSL.crypto
        cl.revoke(jose.ComparableX509(OpenSSL.crypto.load_certificate(
            OpenSSL.crypto.FILETYPE_PEM, leaf2.encode())), 4)
        w = s.get(d["renewalInfo"] + "/" + cert_id(leaf2)).json()["suggestedWindow"]
        now = datetime.datetime.now(datetime.timezone.utc)
        assert rfc3339(w["start"]) < rfc3339(w["end"]) < now, w

        # profiles: unknown or not offered; the short-lived one issued
        for p in ("nosuch", "client", ""):
            problem(new_order(s, srv, cl, key, regr, [NAME], profile=p), 400, "invalidProfile")
        csr3 = csr_for(MAIL)
        r = new_order(s, srv, cl, key, regr, [MAIL], profile="shortlived")
        assert r.json()["profile"] == "shortlived", r.text
        again = post(s, r.headers["Location"], key, jose.ES256, None, nonce(s, srv),
                     kid=regr.uri)
        assert again.json()["profile"] == "shortlived"
        leaf3, inter3 = finish(cl, key, resp, r, csr3)
        c3 = cx509.load_pem_x509_certificate(leaf3.encode())
        nb3, na3 = validity(c3)
        assert na3 - nb3 <= datetime.timedelta(days=7), (nb3, na3)
        (tmp_path / "leaf.pem").write_text(leaf3)
        (tmp_path / "inter.pem").write_text(inter3)
        txt = subprocess.run(["openssl", "x509", "-noout", "-text", "-in",
                              str(tmp_path / "leaf.pem")], capture_output=True,
                             check=True).stdout.decode()
        assert "CRL Distribution Points" not in txt and "OCSP - URI" not in txt, txt
        assert "CA Issuers - URI" in txt and "DNS:" + MAIL in txt, txt
        vr = subprocess.run(["openssl", "verify", "-CAfile", srv.cafile, "-untrusted",
                             str(tmp_path / "inter.pem"), str(tmp_path / "leaf.pem")],
                            capture_output=True)
        assert vr.returncode == 0, vr
        rows = ca.sql("SELECT c.profile FROM certificates c JOIN acme_orders a ON "
                      "a.serial = c.serial ORDER BY a.id")
        assert [r[0] for r in rows] == ["server", "server", "shortlived"], rows
        assert ca.ok("audit", "verify")
    finally:
        stop(srv)
        resp.close()


def test_acme_profiles_configured(ca_sqlite):
    """acme.profiles: only the server profile offered, shortlived is invalidProfile; a profile
    ACME does not issue is refused at start."""
    srv = acme_server(ca_sqlite, "acme.profiles = server\n")
    try:
        s = session(srv)
        d = s.get(srv.https + "/acme/directory").json()
        assert list(d["meta"]["profiles"]) == ["server"], d
        cl, key, regr, _ = account(ca_sqlite, srv)
        problem(new_order(s, srv, cl, key, regr, [NAME], profile="shortlived"), 400,
                "invalidProfile")
        r = new_order(s, srv, cl, key, regr, [NAME], profile="server")
        assert r.status_code == 201 and r.json()["profile"] == "server", r.text
    finally:
        stop(srv)
    with pytest.raises(AssertionError) as ei:
        stop(start_server(ca_sqlite, "acme.profiles = server client\n"))
    assert "acme.profiles: \"client\" is not a profile ACME issues" in str(ei.value)


def test_acme_renewal_after_ca_switch(ca_sqlite, tmp_path):
    """After `shomei ca rollover` and a SIGHUP, a certificate of the previous issuing CA still
    has renewal information and may be replaced (the renewal comes from the new CA); a
    certificate issued outside ACME has renewal information but is no account's to replace."""
    import signal
    from conftest import make_csr
    from test_rollover import wait_log
    inst = ca_sqlite
    resp = Responder()
    srv = acme_server(inst, conf(resp.port))
    try:
        s = session(srv)
        ri = srv.https + "/acme/renewal-info/"
        cl, key, regr, _ = account(inst, srv, "--names", NAME)
        csr = csr_for(NAME)
        old, _ = finish(cl, key, resp, new_order(s, srv, cl, key, regr, [NAME]), csr)
        pem, _ = make_csr(tmp_path, subj="/CN=" + NAME, san="DNS:" + NAME)
        out = str(tmp_path / "cli.pem")
        inst.ok("issue", "--profile", "server", "--csr", pem, "--out", out)
        cli = open(out).read()

        inst.ok("ca", "rollover", "--root-key", inst.root_key)
        s.close()  # (the retired web process ends once its connections are gone)
        cl.net.session.close()
        srv.proc.send_signal(signal.SIGHUP)
        wait_log(srv, "SIGHUP: configuration reloaded")
        wait_log(srv, "previous web (pid")
        # new connections: the retired web process finished those it had, with the old CA
        s = session(srv)
        cl, net = client(srv, key, jose.ES256)
        net.account = regr

        for pem_ in (old, cli):
            g = s.get(ri + cert_id(pem_))
            assert g.status_code == 200 and "suggestedWindow" in g.json(), g.text
        problem(new_order(s, srv, cl, key, regr, [NAME], replaces=cert_id(cli)), 403,
                "unauthorized")
        r = new_order(s, srv, cl, key, regr, [NAME], replaces=cert_id(old))
        new, inter = finish(cl, key, resp, r, csr_for(NAME))
        assert "shomei-g2" in cx509.load_pem_x509_certificate(new.encode()).issuer.rfc4514_string()
        assert s.get(ri + cert_id(new)).status_code == 200
        problem(new_order(s, srv, cl, key, regr, [NAME], replaces=cert_id(old)), 409,
                "alreadyReplaced")
    finally:
        stop(srv)
        resp.close()
