"""Web revocation by the holder (DESIGN.md 2.2): organization code, ticket, e-mail, reason and
CAPTCHA -> confirm -> done -> a mailed one-time link whose page (GET and HEAD use nothing up:
mail scanners prefetch links) has a button that revokes (POST /revoke/verify with CSRF).

Drives the real server over HTTPS (requests Session with cookies and CSRF tokens) with the
test-only CAPTCHA answer, reads the mails from the instance's outbox maildir and checks the
revocation with `openssl ocsp` against the running responder, the CRL and the audit chain."""
import email
import email.policy
import re
import subprocess
import time

import pytest
import requests

from conftest import SHOMEI, openssl, start_server, stop_server
from test_portal import (ANSWER, CONF, EMAIL, count, hidden, issue_self, outbox, pre,
                         session, setup_orgs, strong, wait_mail)
from test_ocsp import ocsp_cli

RCONF = CONF + "\nportal.revoke_rate = 1000"
GENERIC = "入力された企業コード・チケット番号・メールアドレスに該当する失効可能な証明書はありません。"


def holder_cert(srv, tmp_path, ticket):
    """A certificate issued through the portal on ticket (self, holder address EMAIL).
    Returns (serial, cert path); the mails of the issuance are out of the way."""
    inst = srv.inst
    n = len(outbox(inst))
    _, r, _ = issue_self(srv, ticket, tmp_path)
    serial = strong(r.text, "serial")
    out = tmp_path / f"{ticket}.pem"
    out.write_text(pre(r.text, "cert_pem"))
    assert len(wait_mail(inst, n + 2)) == n + 2  # registration link and certificate code
    return serial, str(out)


def mail_of(path):
    with open(path, "rb") as f:
        return email.message_from_bytes(f.read(), policy=email.policy.default)


def revoke_link(path):
    m = mail_of(path)
    body = m.get_content()
    links = re.findall(r"https://\S+/revoke/verify\?onetimetoken=([A-Za-z0-9_-]+)", body)
    assert len(links) == 1, body
    return m, links[0]


def step1(s, srv, **over):
    r = s.get(srv.https + "/revoke/step1")
    assert r.status_code == 200, r.text
    form = {"org_code": "ORG1", "ticket": "", "email": EMAIL, "reason": "cessationOfOperation",
            "captcha": ANSWER, "captcha_id": hidden(r.text, "captcha_id"),
            "csrf": hidden(r.text, "csrf")}
    form.update(over)
    return s.post(srv.https + "/revoke/step1", data=form)


def confirm_form(page):
    return {k: hidden(page, k) for k in ("csrf", "form_nonce", "form_time", "form_mac",
                                          "org_code", "ticket", "email", "reason")}


def ocsp_status(srv, cert):
    text, _ = ocsp_cli(srv, [cert])
    assert "Response verify OK" in text, text
    return text


def unrevoked(inst, serial):
    """The certificate is valid in the store and its one revocation request is pending."""
    one = lambda q: int(inst.sql(q)[0][0])
    return (one("SELECT COUNT(*) FROM certificates WHERE serial = '%s' AND status = 0 "
                "AND revoked_at IS NULL" % serial) == 1 and
            one("SELECT COUNT(*) FROM revocation_requests WHERE serial = '%s' AND done IS NULL"
                % serial) == 1)


def error_of(page, field):
    m = re.search(r'<span class="error" id="err-%s"[^>]*>([^<]*)</span>' % field, page)
    return m.group(1) if m else None


@pytest.fixture
def revoke_any(ca):
    tickets = setup_orgs(ca)
    srv = start_server(ca, RCONF)
    yield srv, tickets
    stop_server(srv)


def test_web_revocation(revoke_any, tmp_path):
    srv, (t1, t2) = revoke_any
    inst = srv.inst
    serial, cert = holder_cert(srv, tmp_path, t1[0])
    assert ": good" in ocsp_status(srv, cert)
    s = session(srv)

    # the form, in Japanese by default, with the reasons and the default one checked
    r = s.get(srv.https + "/revoke/step1")
    assert r.status_code == 200 and "証明書の失効申請" in r.text
    assert re.search(r'value="cessationOfOperation" checked', r.text)
    for reason in ("keyCompromise", "superseded", "affiliationChanged"):
        assert f'value="{reason}"' in r.text
    assert "失効申請情報入力" in r.text  # the flow bar

    # field errors only for what the value itself shows
    r = step1(s, srv, ticket=t1[0], captcha="WRONG1")
    assert r.status_code == 400 and error_of(r.text, "captcha") is not None
    assert f'value="{t1[0]}"' in r.text  # values kept
    r = step1(s, srv, ticket=t1[0], email="not-an-address")
    assert r.status_code == 400 and error_of(r.text, "email") is not None
    r = step1(s, srv, ticket=t1[0], reason="certificateHold")
    assert r.status_code == 400 and error_of(r.text, "reason") is not None

    # a wrong combination: one generic message, whichever value is wrong
    pages = []
    for over in (dict(ticket=t1[0], email="someone.else@example.co.jp"),
                 dict(ticket=t1[1]),             # a ticket without a certificate
                 dict(ticket="NO-SUCH-TICKET"),
                 dict(ticket=t2[0]),             # another organization's ticket
                 dict(org_code="ORG2", ticket=t1[0]),
                 dict(org_code="NOPE", ticket=t1[0])):
        r = step1(s, srv, **over)
        assert r.status_code == 400, over
        assert GENERIC in r.text, over
        for field in ("org_code", "ticket", "email"):
            assert error_of(r.text, field) is None, (over, field)
        pages.append(re.sub(r'value="[^"]*"|src="[^"]*"| selected', "", r.text))
    assert len(set(pages)) == 1  # nothing else differs between the answers

    # right values: confirm page; Back keeps them; then the request
    r = step1(s, srv, ticket=t1[0], email=EMAIL.upper(), reason="keyCompromise")
    assert r.status_code == 200 and "失効した証明書は元に戻せません" in r.text, r.text
    form = confirm_form(r.text)
    r = s.post(srv.https + "/revoke/confirm", data=dict(form, action="back"))
    assert r.status_code == 200 and f'value="{t1[0]}"' in r.text
    assert re.search(r'value="keyCompromise" checked', r.text)
    before = len(outbox(inst))
    r = s.post(srv.https + "/revoke/confirm", data=dict(form, action="request"))
    assert r.status_code == 200 and "失効申請を受け付けました" in r.text
    r2 = s.post(srv.https + "/revoke/confirm", data=dict(form, action="request"))
    assert r2.status_code == 200  # a repeated submission: the same page, no second mail
    assert count(inst, "revocation_requests") == 1
    files = wait_mail(inst, before + 1)
    time.sleep(0.5)
    assert len(outbox(inst)) == before + 1
    m, token = revoke_link(files[-1])
    # the address matched without regard to case; the link goes to it as recorded (a local
    # part's case may name another mailbox: the link proves the recorded one)
    assert m["To"] == EMAIL
    assert "証明書失効申請の確認" in m["Subject"]
    # a tampered confirm form is refused
    bad = dict(form, action="request", reason="superseded")
    assert s.post(srv.https + "/revoke/confirm", data=bad).status_code == 400

    # nothing is revoked until the link's button is pressed: HEAD (link checkers) and GET (mail
    # scanners that prefetch links, then the holder) change nothing
    assert ": good" in ocsp_status(srv, cert)
    link = srv.https + "/revoke/verify?onetimetoken=" + token
    assert s.head(link).status_code == 200
    assert ": good" in ocsp_status(srv, cert)
    assert session(srv).get(link).status_code == 200  # a scanner
    assert session(srv).head(link).status_code == 200
    h = session(srv)
    r = h.get(link)
    assert r.status_code == 200 and "証明書の失効" in r.text, r.text
    assert serial in r.text and "失効した証明書は元に戻せません" in r.text
    assert re.search(r'<form method="post" action="/revoke/verify"', r.text), r.text
    assert hidden(r.text, "onetimetoken") == token
    page = r.text
    assert ": good" in ocsp_status(srv, cert)
    assert re.search(r"status: +valid", inst.ok("cert", "show", serial))
    assert unrevoked(inst, serial)
    audit0 = inst.ok("audit", "list")
    assert "cert.revoke\t" + serial not in audit0

    # a POST without this session's CSRF token is refused and uses nothing
    verify = srv.https + "/revoke/verify"
    r = session(srv).post(verify, data={"onetimetoken": token, "csrf": hidden(page, "csrf")})
    assert r.status_code == 403
    r = h.post(verify, data={"onetimetoken": token})
    assert r.status_code == 403
    r = h.post(verify, data={"onetimetoken": token, "csrf": "forged"})
    assert r.status_code == 403
    assert ": good" in ocsp_status(srv, cert)
    assert unrevoked(inst, serial)
    assert inst.ok("audit", "list") == audit0
    assert len(outbox(inst)) == before + 1  # no mail either
    assert h.get(link).status_code == 200  # the link still works

    # the page's button revokes: OCSP at once, the audit chain, a mail to the holder; the
    # holder proved the mailbox, so the session id rotates
    old_sid = h.cookies.get("__Host-sid")
    assert old_sid
    r = h.post(verify, data={"onetimetoken": token, "csrf": hidden(page, "csrf")})
    assert r.status_code == 200 and "証明書を失効しました" in r.text, r.text
    cookie = r.headers.get("Set-Cookie", "")
    m = re.match(r"__Host-sid=([A-Za-z0-9_-]{43});", cookie)
    assert m and m.group(1) != old_sid, cookie
    assert serial in r.text and "OCSP" in r.text
    text = ocsp_status(srv, cert)
    assert ": revoked" in text and "Reason: keyCompromise" in text, text
    files = wait_mail(inst, before + 2)
    n = mail_of(files[-1])
    assert "証明書失効のお知らせ" in n["Subject"] and serial in n.get_content()
    audit = inst.ok("audit", "list")
    assert re.search(r"holder:web-revocation \S+\tcert\.revoke\t" + serial, audit), audit
    inst.ok("audit", "verify")

    # the link is single use: a second POST, the link opened again, a HEAD; one revocation
    r = h.post(verify, data={"onetimetoken": token, "csrf": hidden(page, "csrf")})
    assert r.status_code == 410 and "すでに使用されています" in r.text
    r = session(srv).get(link)
    assert r.status_code == 410 and "すでに使用されています" in r.text
    assert "/revoke/verify" not in r.text.split("<main", 1)[-1]  # no button any more
    assert session(srv).head(link).status_code == 410
    assert len(re.findall(r"cert\.revoke\t" + serial, inst.ok("audit", "list"))) == 1
    assert len(wait_mail(inst, before + 2)) == before + 2
    # a new request for the revoked certificate says so
    r = step1(session(srv), srv, ticket=t1[0])
    assert r.status_code == 409 and "すでに失効しています" in r.text
    # and the next CRL carries it
    inst.ok("crl")
    der = requests.get(srv.http + "/crl/shomei.crl", timeout=10).content
    with open(tmp_path / "full.crl", "wb") as f:
        f.write(der)
    text = openssl("crl", "-inform", "DER", "-in", str(tmp_path / "full.crl"), "-noout",
                   "-text").stdout.decode()
    assert f"Serial Number: {serial}" in text and "Key Compromise" in text
    out = inst.ok("cert", "show", serial)
    assert "revoked" in out.lower() and "keyCompromise" in out


def test_unknown_and_expired_links(ca_sqlite, tmp_path):
    tickets = setup_orgs(ca_sqlite)
    srv = start_server(ca_sqlite, RCONF)
    try:
        serial, cert = holder_cert(srv, tmp_path, tickets[0][0])
        s = session(srv, "en")
        r = s.get(srv.https + "/revoke/verify?onetimetoken=" + "A" * 43)
        assert r.status_code == 404 and "not valid" in r.text
        r = s.get(srv.https + "/revoke/verify?onetimetoken=../../etc")
        assert r.status_code == 404
        r = s.get(srv.https + "/revoke/step1")  # a CSRF token of this session
        r = s.post(srv.https + "/revoke/verify", data={"onetimetoken": "A" * 43,
                                                        "csrf": hidden(r.text, "csrf")})
        assert r.status_code == 404 and "not valid" in r.text
        r = step1(s, srv, ticket=tickets[0][0])
        assert r.status_code == 200, r.text
        before = len(outbox(ca_sqlite))
        r = s.post(srv.https + "/revoke/confirm", data=dict(confirm_form(r.text),
                                                             action="request"))
        assert r.status_code == 200
        _, token = revoke_link(wait_mail(ca_sqlite, before + 1)[-1])
    finally:
        stop_server(srv)
    # three days and a minute later the link has expired and revokes nothing
    srv = start_server(ca_sqlite, RCONF + "\ntest.clock_offset = %d" % (3 * 86400 + 60))
    try:
        s = session(srv, "en")
        r = s.get(srv.https + "/revoke/verify?onetimetoken=" + token)
        assert r.status_code == 410 and "expired" in r.text and "has not been revoked" in r.text
        r = s.get(srv.https + "/revoke/step1")
        r = s.post(srv.https + "/revoke/verify", data={"onetimetoken": token,
                                                        "csrf": hidden(r.text, "csrf")})
        assert r.status_code == 410 and "expired" in r.text and "has not been revoked" in r.text
        assert re.search(r"status: +valid", ca_sqlite.ok("cert", "show", serial))
    finally:
        stop_server(srv)


def test_csrf_and_rate_limit(ca_sqlite, tmp_path):
    setup_orgs(ca_sqlite)
    srv = start_server(ca_sqlite, CONF + "\nportal.revoke_rate = 3")
    try:
        s = session(srv)
        r = s.get(srv.https + "/revoke/step1")
        form = {"org_code": "ORG1", "ticket": "X", "email": EMAIL, "reason": "superseded",
                "captcha": ANSWER, "captcha_id": hidden(r.text, "captcha_id")}
        r = s.post(srv.https + "/revoke/step1", data=dict(form, csrf="forged"))
        assert r.status_code == 403
        r = session(srv).post(srv.https + "/revoke/confirm", data={"action": "request"})
        assert r.status_code == 403
        codes = [step1(s, srv, ticket="X").status_code for _ in range(3)]
        assert 429 in codes, codes
        assert s.get(srv.https + "/revoke/step1").status_code == 200  # GET is not limited
    finally:
        stop_server(srv)


def test_signed_revocation_tells_the_holder(ca_sqlite, tmp_path):
    """A holder revokes a portal certificate with a request signed by its own key (shomei
    client, the key taken from the PKCS#12): OCSP shows it at once and the holder gets the mail."""
    tickets = setup_orgs(ca_sqlite)
    srv = start_server(ca_sqlite, RCONF)
    try:
        inst = ca_sqlite
        n = len(outbox(inst))
        s, r, _ = issue_self(srv, tickets[0][0], tmp_path)
        serial, pin = strong(r.text, "serial"), strong(r.text, "pin")
        dl = re.search(r'href="(/issue/download\?d=[A-Za-z0-9_-]{43})"', r.text).group(1)
        (tmp_path / "h.p12").write_bytes(s.get(srv.https + dl).content)
        key, cert = str(tmp_path / "h.key"), str(tmp_path / "h.pem")
        openssl("pkcs12", "-in", str(tmp_path / "h.p12"), "-passin", "pass:" + pin, "-nocerts",
                "-nodes", "-out", key)
        (tmp_path / "h.pem").write_text(pre(r.text, "cert_pem"))
        assert len(wait_mail(inst, n + 2)) == n + 2
        p = subprocess.run([SHOMEI, "client", "revoke", "--cert", cert, "--key", key,
                            "--reason", "keyCompromise", "--url", srv.https, "--cafile",
                            srv.cafile], capture_output=True, timeout=60)
        assert p.returncode == 0 and b'"accepted"' in p.stdout, (p.stdout, p.stderr)
        text = ocsp_status(srv, cert)
        assert ": revoked" in text and "Reason: keyCompromise" in text
        m = mail_of(wait_mail(inst, n + 3)[-1])
        assert m["To"] == EMAIL and serial in m.get_content()
        assert "証明書失効のお知らせ" in m["Subject"]
    finally:
        stop_server(srv)
