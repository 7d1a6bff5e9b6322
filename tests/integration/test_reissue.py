"""Re-issue by the holder (DESIGN.md 2.3): e-mail + application password + certificate code ->
the holder's certificates -> warning -> mutable fields -> confirm -> accepted (old certificate
revoked as superseded and the new application created in one transaction, a mail with the new
certificate code) -> the new certificate fetched with that code.

The certificates are issued through the portal's real issuance flow (test_portal.issue_self);
revocation is checked with `openssl ocsp` against the running responder."""
import email
import email.policy
import re
import subprocess
import time

import pytest

from conftest import start_server, stop_server
from test_ocsp import ocsp_cli
from test_portal import (CONF, EMAIL, PASSWORD, count, hidden, issue_self, outbox, pre,
                         session, setup_orgs, strong, verify_chain, wait_mail)

RCONF = CONF + "\nportal.reissue_rate = 1000"
GENERIC = "メールアドレス・申請パスワード・証明書コードの組み合わせが一致しません。"


@pytest.fixture
def reissue_any(ca):
    tickets = setup_orgs(ca)
    srv = start_server(ca, RCONF)
    yield srv, tickets
    stop_server(srv)


def holder(srv, tmp_path, ticket, **over):
    """Issues through the portal; returns (serial, certificate code, cert path)."""
    inst = srv.inst
    n = len(outbox(inst))
    _, r, _ = issue_self(srv, ticket, tmp_path, **over)
    serial, code = strong(r.text, "serial"), strong(r.text, "cert_code")
    path = tmp_path / f"{serial}.pem"
    path.write_text(pre(r.text, "cert_pem"))
    assert len(wait_mail(inst, n + 2)) == n + 2
    return serial, code, str(path)


def login(s, srv, email_=EMAIL, password=PASSWORD, code=""):
    r = s.get(srv.https + "/reissue")
    assert r.status_code == 200
    return s.post(srv.https + "/reissue", data={"csrf": hidden(r.text, "csrf"), "email": email_,
                                                "app_password": password, "cert_code": code})


def auth(page):
    return {k: hidden(page, k) for k in ("csrf", "app", "auth_time", "auth")}


def ocsp(srv, cert):
    text, _ = ocsp_cli(srv, [cert])
    assert "Response verify OK" in text, text
    return text


def mail_of(path):
    with open(path, "rb") as f:
        return email.message_from_bytes(f.read(), policy=email.policy.default)


def error_of(page, field):
    m = re.search(r'<span class="error" id="err-%s"[^>]*>([^<]*)</span>' % field, page)
    return m.group(1) if m else None


def to_confirm(s, srv, page, **vals):
    """From the list page through warning and edit to the confirm page."""
    r = s.post(srv.https + "/reissue/warn", data=auth(page))
    assert r.status_code == 200 and 'name="understood"' in r.text, r.text
    r = s.post(srv.https + "/reissue/edit", data=dict(auth(r.text), understood="yes"))
    assert r.status_code == 200 and 'name="subject_email"' in r.text, r.text
    form = dict(auth(r.text), subject_email=EMAIL, ou="Sales")
    form.update(vals)
    r = s.post(srv.https + "/reissue/check", data=form)
    assert r.status_code == 200, r.text
    return r


def confirm_fields(page):
    names = ("csrf", "app", "auth_time", "auth", "form_nonce", "form_time", "form_mac",
             "subject_email", "ou")
    return {k: hidden(page, k) for k in names}


def test_reissue(reissue_any, tmp_path):
    srv, (t1, _) = reissue_any
    inst = srv.inst
    serial, code, cert = holder(srv, tmp_path, t1[0])
    assert ": good" in ocsp(srv, cert)
    s = session(srv)

    # one generic answer for every wrong combination
    for kw in (dict(code=code, password="wrong password"),
               dict(code=code, email_="someone.else@example.co.jp"),
               dict(code="AAAAA-AAAAA-AAAAA-AAAAA"),
               dict(code="not a code"),
               dict(code="")):
        r = login(s, srv, **kw)
        assert r.status_code == 400 and GENERIC in r.text, kw
        assert 'name="app_password" value=""' in r.text  # the password is never echoed
        assert "Set-Cookie" not in r.headers  # a failed login keeps the session id
    old_sid = s.cookies.get("__Host-sid")
    old_csrf = hidden(s.get(srv.https + "/reissue").text, "csrf")
    assert old_sid and re.fullmatch(r"[A-Za-z0-9_-]{43}", old_sid)
    # the code as a person types it: lower case, without hyphens, blanks around
    r = login(s, srv, code=" " + code.replace("-", "").lower() + " ", email_=EMAIL.upper())
    assert r.status_code == 200, r.text
    # the login establishes who this is: a new session id (__Host-, Secure, ...) ...
    cookie = r.headers["Set-Cookie"]
    m = re.match(r"__Host-sid=([A-Za-z0-9_-]{43});", cookie)
    assert m and m.group(1) != old_sid, cookie
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in cookie
    assert "domain=" not in cookie.lower()
    assert s.cookies.get("__Host-sid") == m.group(1)
    # ... and the login is bound to it: the old id, even with its own CSRF token, has none of it
    r2 = session(srv).post(srv.https + "/reissue/warn", data=dict(auth(r.text), csrf=old_csrf),
                           headers={"Cookie": "__Host-sid=" + old_sid})
    assert r2.status_code == 400 and "再発行ページでもう一度本人確認" in r2.text, r2.text
    r2 = session(srv).post(srv.https + "/reissue/warn", data=auth(r.text),
                           headers={"Cookie": "__Host-sid=" + old_sid})
    assert r2.status_code == 403
    assert serial in r.text and "Example One" in r.text and "Taro Yamada" in r.text
    assert f'id="reissue-{serial}"' in r.text
    listing = r.text

    # the warning must be acknowledged
    r = s.post(srv.https + "/reissue/warn", data=auth(listing))
    assert r.status_code == 200 and "元に戻すことはできません" in r.text
    r = s.post(srv.https + "/reissue/edit", data=auth(r.text))
    assert r.status_code == 400 and error_of(r.text, "understood") is not None
    # a forged identity is refused
    bad = dict(auth(listing), app=str(int(hidden(listing, "app")) + 1))
    assert s.post(srv.https + "/reissue/warn", data=bad).status_code == 400
    assert session(srv).post(srv.https + "/reissue/warn", data=auth(listing)).status_code == 403

    # mutable fields are checked; names are fixed (not even a field)
    r = s.post(srv.https + "/reissue/edit", data=dict(auth(listing), understood="yes"))
    assert 'name="name_romaji"' not in r.text and 'name="name_kanji"' not in r.text
    assert f'value="{EMAIL}"' in r.text and 'value="Sales"' in r.text  # prefilled
    r = s.post(srv.https + "/reissue/check",
               data=dict(auth(r.text), subject_email="taro@elsewhere.example", ou=""))
    assert r.status_code == 400
    assert error_of(r.text, "subject_email") and error_of(r.text, "ou")
    assert 'value="taro@elsewhere.example"' in r.text  # values kept
    r = to_confirm(s, srv, listing, ou="Marketing", subject_email="t.yamada@example.co.jp")
    assert "直ちに失効" in r.text and "Marketing" in r.text
    cf = confirm_fields(r.text)
    # Back keeps the values; a tampered confirm form is refused
    r = s.post(srv.https + "/reissue/confirm", data=dict(cf, action="back"))
    assert r.status_code == 200 and 'value="Marketing"' in r.text
    r = s.post(srv.https + "/reissue/confirm", data=dict(cf, action="submit", ou="Other"))
    assert r.status_code == 400
    assert ": good" in ocsp(srv, cert)  # nothing happened yet

    # accepted: the old certificate revoked (superseded), the new application linked
    n = len(outbox(inst))
    r = s.post(srv.https + "/reissue/confirm", data=dict(cf, action="submit"))
    assert r.status_code == 200 and "再発行の申請を受け付けました" in r.text, r.text
    r2 = s.post(srv.https + "/reissue/confirm", data=dict(cf, action="submit"))
    assert r2.status_code == 200 and "再発行の受付完了" in r2.text  # a repeat changes nothing
    text = ocsp(srv, cert)
    assert ": revoked" in text and "Reason: superseded" in text, text
    rows = inst.sql("SELECT id, state, predecessor_id, ou, subject_email, cert_serial "
                    "FROM applications ORDER BY id")
    assert len(rows) == 2
    old, new = rows
    assert old[1] == "issued" and old[5] == serial
    assert new[1] == "approved" and int(new[2]) == int(old[0])
    assert new[3] == "Marketing" and new[4] == "t.yamada@example.co.jp" and new[5] in (None, "")
    acts = [a for a, in inst.sql("SELECT action FROM audit WHERE object = '%s'" % serial)]
    assert "cert.revoke" in acts and "portal.reissue" in acts
    inst.ok("audit", "verify")
    files = wait_mail(inst, n + 1)
    time.sleep(0.5)
    assert len(outbox(inst)) == n + 1  # one mail, also after the repeat
    m = mail_of(files[-1])
    assert m["To"] == "t.yamada@example.co.jp" and "証明書再発行の受付" in m["Subject"]
    body = m.get_content()
    new_code = re.search(r"([A-HJ-NP-Z2-9]{5}-){3}[A-HJ-NP-Z2-9]{5}", body).group(0)
    assert new_code != code and serial in body and "/reissue/fetch" in body
    assert new_code not in "\n".join(str(x) for x in inst.sql("SELECT * FROM applications")[1])

    # fetch the new certificate with the new code; a wrong code says so
    f = session(srv)
    page = f.get(srv.https + "/reissue/fetch").text
    r = f.post(srv.https + "/reissue/fetch", data={"csrf": hidden(page, "csrf"),
                                                   "cert_code": code})  # the old code
    assert r.status_code == 400 and error_of(r.text, "cert_code")
    r = f.post(srv.https + "/reissue/fetch", data={"csrf": hidden(page, "csrf"),
                                                   "cert_code": new_code})
    assert r.status_code == 200 and "発行完了" in r.text, r.text
    pin = strong(r.text, "pin")
    new_serial = strong(r.text, "serial")
    assert new_serial != serial
    dl = re.search(r'href="(/issue/download\?d=[A-Za-z0-9_-]{43})"', r.text).group(1)
    p12 = tmp_path / "new.p12"
    p12.write_bytes(f.get(srv.https + dl).content)
    out = subprocess.run(["openssl", "pkcs12", "-in", str(p12), "-passin", "pass:" + pin,
                          "-nodes"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    leaf = pre(r.text, "cert_pem")
    verify_chain(inst, tmp_path, leaf, "new.pem")
    txt = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(tmp_path / "new.pem")],
                         capture_output=True, text=True).stdout
    assert "OU = Marketing" in txt and "CN = Taro Yamada" in txt
    assert "email:t.yamada@example.co.jp" in txt
    assert ": good" in ocsp(srv, str(tmp_path / "new.pem"))
    row = inst.sql("SELECT state, cert_serial FROM applications WHERE id = %s" % new[0])[0]
    assert row == ["issued", new_serial]
    assert inst.sql("SELECT cert_serial FROM tickets WHERE number = '%s'" % t1[0])[0][0] == \
        new_serial
    # fetched once: the PIN is never shown again
    r = f.post(srv.https + "/reissue/fetch", data={"csrf": hidden(page, "csrf"),
                                                   "cert_code": new_code})
    assert r.status_code == 410 and pin not in r.text

    # the old code shows the revoked certificate, not re-issuable; the new one can be
    r = login(session(srv), srv, code=code)
    assert r.status_code == 200 and "失効済み" in r.text and f'id="reissue-{serial}"' not in r.text
    r = login(session(srv), srv, email_="t.yamada@example.co.jp", code=new_code)
    assert r.status_code == 200 and f'id="reissue-{new_serial}"' in r.text
    # by the address both applications share, the holder's other certificate shows, with why not
    r = login(session(srv), srv, email_=EMAIL, code=new_code)
    assert r.status_code == 200 and f'id="reissue-{new_serial}"' in r.text
    assert f'id="why-{serial}"' in r.text


def test_reissue_csr_and_refusals(ca_sqlite, tmp_path):
    tickets = setup_orgs(ca_sqlite)
    srv = start_server(ca_sqlite, RCONF)
    try:
        key = tmp_path / "k.pem"
        csr = tmp_path / "r.csr"
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out",
                        str(csr), "-subj", "/CN=x"], check=True, capture_output=True)
        serial, code, cert = holder(srv, tmp_path, tickets[0][0], key_mode="csr",
                                    csr=csr.read_text())
        s = session(srv, "en")
        r = login(s, srv, code=code)
        r = to_confirm(s, srv, r.text)
        n = len(outbox(ca_sqlite))
        r = s.post(srv.https + "/reissue/confirm",
                   data=dict(confirm_fields(r.text), action="submit"))
        assert r.status_code == 200, r.text
        body = mail_of(wait_mail(ca_sqlite, n + 1)[-1]).get_content()
        new_code = re.search(r"([A-HJ-NP-Z2-9]{5}-){3}[A-HJ-NP-Z2-9]{5}", body).group(0)
        page = s.get(srv.https + "/reissue/fetch").text
        r = s.post(srv.https + "/reissue/fetch", data={"csrf": hidden(page, "csrf"),
                                                       "cert_code": new_code})
        assert r.status_code == 200 and 'name="csr"' in r.text  # asks for the new CSR
        r = s.post(srv.https + "/reissue/fetch", data={"csrf": hidden(page, "csrf"),
                                                       "cert_code": new_code,
                                                       "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"})
        assert r.status_code == 400 and error_of(r.text, "csr"), r.text
        key2 = tmp_path / "k2.pem"
        csr2 = tmp_path / "r2.csr"
        subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        str(key2), "-out", str(csr2), "-subj", "/CN=y"], check=True,
                       capture_output=True)
        r = s.post(srv.https + "/reissue/fetch", data={"csrf": hidden(page, "csrf"),
                                                       "cert_code": new_code,
                                                       "csr": csr2.read_text()})
        assert r.status_code == 200 and 'id="pin"' not in r.text, r.text
        leaf = pre(r.text, "cert_pem")
        verify_chain(ca_sqlite, tmp_path, leaf, "n.pem")
        pub = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "n.pem"), "-pubkey",
                              "-noout"], capture_output=True, text=True).stdout
        assert pub == subprocess.run(["openssl", "pkey", "-in", str(key2), "-pubout"],
                                     capture_output=True, text=True).stdout
    finally:
        stop_server(srv)


def test_reissue_fault_leaves_old_valid(ca_sqlite, tmp_path):
    """A failure between the revocation and the new application rolls everything back."""
    tickets = setup_orgs(ca_sqlite)
    srv = start_server(ca_sqlite, RCONF)
    try:
        serial, code, cert = holder(srv, tmp_path, tickets[0][0])
    finally:
        stop_server(srv)
    with open(ca_sqlite.path("shomei.conf")) as f:
        conf = f.read()
    srv = start_server(ca_sqlite, "test.fault = reissue-after-revoke")
    try:
        s = session(srv)
        r = to_confirm(s, srv, login(s, srv, code=code).text)
        cf = confirm_fields(r.text)
        n = len(outbox(ca_sqlite))
        r = s.post(srv.https + "/reissue/confirm", data=dict(cf, action="submit"))
        assert r.status_code == 500
        assert ": good" in ocsp(srv, cert)
        assert re.search(r"status: +valid", ca_sqlite.ok("cert", "show", serial))
        assert count(ca_sqlite, "applications") == 1
        acts = [a for a, in ca_sqlite.sql("SELECT action FROM audit WHERE object = '%s'" %
                                          serial)]
        assert "cert.revoke" not in acts
        time.sleep(1)
        assert len(outbox(ca_sqlite)) == n
        ca_sqlite.ok("audit", "verify")
    finally:
        stop_server(srv)
    # without the fault the same holder can re-issue
    with open(ca_sqlite.path("shomei.conf"), "w") as f:
        f.write(conf)
    srv = start_server(ca_sqlite)
    try:
        s = session(srv)
        r = to_confirm(s, srv, login(s, srv, code=code).text)
        r = s.post(srv.https + "/reissue/confirm",
                   data=dict(confirm_fields(r.text), action="submit"))
        assert r.status_code == 200 and "再発行の申請を受け付けました" in r.text, \
            srv.log_text()[-3000:]
        assert ": revoked" in ocsp(srv, cert)
    finally:
        stop_server(srv)


def test_reissue_30_days_refused(ca_sqlite, tmp_path):
    tickets = setup_orgs(ca_sqlite)
    srv = start_server(ca_sqlite, RCONF)
    try:
        serial, code, cert = holder(srv, tmp_path, tickets[0][0])
    finally:
        stop_server(srv)
    na = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-enddate"],
                        capture_output=True, text=True).stdout.strip()[len("notAfter="):]
    left = int(time.mktime(time.strptime(na, "%b %d %H:%M:%S %Y GMT")) - time.timezone -
               time.time())
    # 29 days before the end of the certificate's validity
    srv = start_server(ca_sqlite, RCONF + "\ntest.clock_offset = %d" % (left - 29 * 86400))
    try:
        r = login(session(srv, "en"), srv, code=code)
        assert r.status_code == 200
        why = re.search(r'id="why-%s">([^<]*)<' % serial, r.text)
        assert why and "30 days or less left" in why.group(1), r.text
        assert f'id="reissue-{serial}"' not in r.text
    finally:
        stop_server(srv)
