"""Applicant portal, first slice: registration up to the mailed one-time link.

Drives the real server over HTTPS with a requests Session (cookies, CSRF tokens), with the
test-only predictable CAPTCHA answer (test.instance = yes, loopback listeners).  The expired
link uses the test hook test.clock_offset (seconds added to the web process's clock, honoured
only with test.instance = yes): the server is restarted with the clock three days ahead."""
import email
import email.policy
import glob
import html
import os
import re
import socket
import ssl
import threading
import subprocess
import time

import pytest
import requests

from conftest import ROOT, start_server, stop_server

ANSWER = "ABCDEF"
CONF = ("test.instance = yes\ntest.captcha_answer = ABCDEF\nmail.from = ca@example.jp\n"
        "mail.from_name = shomei CA\nportal.step1_rate = 1000\nportal.captcha_rate = 1000")
EMAIL = "taro.yamada@example.co.jp"


def setup_orgs(inst):
    inst.ok("org", "add", "ORG1", "--name", "Example One", "--domain", "example.co.jp")
    inst.ok("org", "add", "ORG2", "--name", "Example Two", "--domain", "example.org")
    t1 = inst.ok("ticket", "create", "--org", "ORG1", "--profile", "client",
                 "--count", "2").split()
    t2 = inst.ok("ticket", "create", "--org", "ORG2", "--profile", "client").split()
    return t1, t2


@pytest.fixture
def portal_sqlite(ca_sqlite):
    tickets = setup_orgs(ca_sqlite)
    srv = start_server(ca_sqlite, CONF)
    yield srv, tickets
    stop_server(srv)


@pytest.fixture
def portal_any(ca):
    tickets = setup_orgs(ca)
    srv = start_server(ca, CONF)
    yield srv, tickets
    stop_server(srv)


class Session(requests.Session):
    """A Session that verifies the server against the test CA on every request (a
    Session.verify attribute loses against REQUESTS_CA_BUNDLE in the environment)."""

    def __init__(self, cafile):
        super().__init__()
        self.cafile = cafile

    def request(self, *args, **kw):
        kw.setdefault("verify", self.cafile)
        return super().request(*args, **kw)


def session(srv, lang=None):
    s = Session(srv.cafile)
    if lang:
        s.headers["Accept-Language"] = lang
    return s


def hidden(page, name):
    m = re.search(r'name="%s" value="([^"]*)"' % re.escape(name), page)
    assert m, (name, page)
    return html.unescape(m.group(1))


def field_value(page, name):
    m = re.search(r'id="%s" name="%s" value="([^"]*)"' % (name, name), page)
    assert m, (name, page)
    return html.unescape(m.group(1))


def error_of(page, field):
    m = re.search(r'<span class="error" id="err-%s"[^>]*>([^<]*)</span>' % field, page)
    return html.unescape(m.group(1)) if m else None


def step1(s, srv, **over):
    r = s.get(srv.https + "/regist/step1")
    assert r.status_code == 200, r.text
    form = {"applicant_type": "self", "org_code": "ORG1", "ticket": "", "email": EMAIL,
            "email_confirm": EMAIL, "captcha": ANSWER, "captcha_id": hidden(r.text, "captcha_id"),
            "csrf": hidden(r.text, "csrf")}
    form.update(over)
    form = {k: v for k, v in form.items() if v is not None}
    return s.post(srv.https + "/regist/step1", data=form), form


def confirm_form(page):
    return {k: hidden(page, k) for k in ("csrf", "form_nonce", "form_time", "form_mac",
                                          "applicant_type", "org_code", "ticket", "email")}


def outbox(inst):
    return sorted(glob.glob(inst.path("outbox", "new", "*")))


def wait_mail(inst, n=1, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        files = outbox(inst)
        if len(files) >= n:
            return files
        time.sleep(0.2)
    return outbox(inst)


def mail_link(path):
    with open(path, "rb") as f:
        m = email.message_from_bytes(f.read(), policy=email.policy.default)
    body = m.get_content()
    links = re.findall(r"https://\S+/regist/verify\?onetimetoken=([A-Za-z0-9_-]+)", body)
    assert len(links) == 1, body
    return m, links[0]


def count(inst, table):
    return int(inst.sql(f"SELECT COUNT(*) FROM {table}")[0][0])


def register(s, srv, ticket):
    r, _ = step1(s, srv, ticket=ticket)
    assert r.status_code == 200, r.text
    form = confirm_form(r.text)
    form.update(consent="yes", action="register")
    r = s.post(srv.https + "/regist/confirm", data=form)
    assert r.status_code == 200, r.text
    return r, form


def test_form_renders_ja_en(portal_sqlite):
    srv, _ = portal_sqlite
    s = session(srv)
    r = s.get(srv.https + "/regist/step1")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    t = r.text
    assert '<html lang="ja">' in t and "申請者情報入力" in t and "チケット番号" in t
    for name in ("applicant_type", "org_code", "ticket", "email", "email_confirm", "captcha",
                 "captcha_id", "csrf"):
        assert f'name="{name}"' in t, name
    assert 'value="self"' in t and 'value="agent"' in t
    assert '<option value="ORG1">ORG1 Example One</option>' in t
    assert '<option value="ORG2">' in t
    assert 'src="data:image/png;base64,iVBORw0KGgo' in t
    assert 'href="/regist/step1"' in t  # refresh link
    # the flow bar: 申請者情報入力 → 確認 → 完了 → 確認メール受信 → ...
    bar = t[t.index('class="flowbar"'):t.index("</ol>")]
    assert bar.index("申請者情報入力") < bar.index("確認") < bar.index("完了") < \
        bar.index("確認メール受信")
    assert 'class="current" aria-current="step">申請者情報入力' in bar
    cookie = r.headers["Set-Cookie"]
    # __Host- (RFC 6265bis 4.1.3.2): Secure, Path=/ and no Domain, so no other host sets it
    assert re.match(r"__Host-sid=[A-Za-z0-9_-]{43};", cookie)
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in cookie
    assert "domain=" not in cookie.lower()
    # English: by ?lang=en (and then by its cookie), or by Accept-Language
    r = s.get(srv.https + "/regist/step1?lang=en")
    assert '<html lang="en">' in r.text and "Applicant information" in r.text
    assert "Ticket number" in r.text and "申請者情報入力" not in r.text
    assert "lang=en" in r.headers["Set-Cookie"]
    r = s.get(srv.https + "/regist/step1")
    assert '<html lang="en">' in r.text
    r = session(srv, "en-US,en;q=0.9").get(srv.https + "/regist/step1")
    assert '<html lang="en">' in r.text and "E-mail address" in r.text
    # the policy pages, both languages
    for path, ja, en in (("/policies/obligations", "利用者の義務", "User obligations"),
                         ("/policies/privacy", "個人情報の取り扱い", "Privacy policy")):
        r = session(srv).get(srv.https + path)
        assert r.status_code == 200 and ja in r.text
        r = session(srv).get(srv.https + path + "?lang=en")
        assert r.status_code == 200 and en in r.text and ja not in r.text


def test_validation_errors(portal_sqlite):
    srv, (t1, t2) = portal_sqlite
    s = session(srv)
    cases = [
        (dict(org_code="NOPE", ticket=t1[0]), "org_code", "この組織コードは存在しません。"),
        (dict(ticket="NO-SUCH-TICKET"), "ticket", "このチケット番号は存在しません。"),
        (dict(ticket=t2[0]), "ticket", "このチケットは選択された組織のものではありません。"),
        (dict(ticket=t1[0], email="not an address", email_confirm="not an address"), "email",
         "正しいメールアドレスを入力してください。"),
        (dict(ticket=t1[0], email_confirm="other@example.co.jp"), "email_confirm",
         "2つのメールアドレスが一致しません。"),
        (dict(ticket=t1[0], captcha="WRONG1"), "captcha", "画像の文字と一致しません。"),
    ]
    for over, field, msg in cases:
        r, form = step1(s, srv, **over)
        assert r.status_code == 400, (over, r.status_code)
        assert error_of(r.text, field) is not None and msg in error_of(r.text, field), \
            (field, r.text)
        # red by the stylesheet's .error rule (no inline style: the CSP allows none)
        assert f'<span class="error" id="err-{field}">' in r.text and "style=" not in r.text
        # only that field is in error; the other values are kept
        for other in ("org_code", "ticket", "email", "email_confirm", "captcha"):
            if other != field and not (field == "email" and other == "email_confirm"):
                assert error_of(r.text, other) is None, (field, other)
        assert field_value(r.text, "ticket") == form["ticket"]
        assert field_value(r.text, "email") == form["email"]
        assert field_value(r.text, "email_confirm") == form["email_confirm"]
        if form["org_code"] != "NOPE":
            assert f'<option value="{form["org_code"]}" selected>' in r.text
        assert field_value(r.text, "captcha") == ""  # a new image, a new answer

    # without the CAPTCHA solved nothing is said about the ticket or the organization
    for over in (dict(ticket="NO-SUCH-TICKET"), dict(ticket=t2[0]),
                 dict(org_code="NOPE", ticket=t1[1])):
        r, _ = step1(s, srv, captcha="WRONG1", **over)
        assert r.status_code == 400 and error_of(r.text, "captcha"), over
        assert error_of(r.text, "ticket") is None and error_of(r.text, "org_code") is None, \
            (over, r.text)

    # the same error in English
    r, _ = step1(s, srv, ticket="NO-SUCH-TICKET", **{"csrf": None})
    assert r.status_code == 403  # (no csrf: refused before validation)
    s.get(srv.https + "/regist/step1?lang=en")
    r, _ = step1(s, srv, ticket="NO-SUCH-TICKET")
    assert error_of(r.text, "ticket") == "This ticket number does not exist."

    # a CAPTCHA is single use: the right answer a second time is refused
    r = s.get(srv.https + "/regist/step1")
    form = {"applicant_type": "self", "org_code": "ORG1", "ticket": "NO-SUCH", "email": EMAIL,
            "email_confirm": EMAIL, "captcha": ANSWER, "captcha_id": hidden(r.text, "captcha_id"),
            "csrf": hidden(r.text, "csrf")}
    r = s.post(srv.https + "/regist/step1", data=form)
    assert error_of(r.text, "captcha") is None and error_of(r.text, "ticket")
    form["ticket"] = t1[0]
    r = s.post(srv.https + "/regist/step1", data=form)
    assert r.status_code == 400
    assert error_of(r.text, "captcha") and "do not match" in error_of(r.text, "captcha")
    assert count(srv.inst, "applications") == 0


def test_csrf_refused(portal_sqlite):
    srv, (t1, _) = portal_sqlite
    s = session(srv)
    r, form = step1(s, srv, ticket=t1[0], csrf=None)
    assert r.status_code == 403 and "アクセスが拒否されました" in r.text
    r, form = step1(s, srv, ticket=t1[0], csrf="A" * 43)
    assert r.status_code == 403
    # a token of another session
    other = session(srv)
    tok = hidden(other.get(srv.https + "/regist/step1").text, "csrf")
    r, form = step1(s, srv, ticket=t1[0], csrf=tok)
    assert r.status_code == 403
    # no session cookie at all
    r = requests.post(srv.https + "/regist/step1", data=form, verify=srv.cafile)
    assert r.status_code == 403
    # the confirm step too
    r = s.post(srv.https + "/regist/confirm", data={"action": "register", "consent": "yes"})
    assert r.status_code == 403
    assert count(srv.inst, "applications") == 0


def test_register_verify(portal_any):
    srv, (t1, _) = portal_any
    inst = srv.inst
    s = session(srv)
    r, form1 = step1(s, srv, ticket=t1[0])
    assert r.status_code == 200, r.text
    t = r.text
    assert "確認" in t and t1[0] in t and EMAIL in t and "ORG1 Example One" in t
    assert 'href="/policies/obligations"' in t and 'href="/policies/privacy"' in t
    assert 'name="consent"' in t and "前へ" in t and "申請登録" in t
    cf = confirm_form(t)
    # Back: the form again with the values kept
    r = s.post(srv.https + "/regist/confirm", data=dict(cf, action="back"))
    assert r.status_code == 200
    assert field_value(r.text, "ticket") == t1[0] and field_value(r.text, "email") == EMAIL
    assert field_value(r.text, "email_confirm") == EMAIL
    assert '<option value="ORG1" selected>' in r.text
    # without consent: an error beside the box
    r = s.post(srv.https + "/regist/confirm", data=dict(cf, action="register"))
    assert r.status_code == 400 and error_of(r.text, "consent")
    # tampered values are refused (the form is bound to what step 1 checked)
    r = s.post(srv.https + "/regist/confirm",
               data=dict(cf, action="register", consent="yes", email="evil@example.org"))
    assert r.status_code == 400 and count(inst, "applications") == 0
    # register, twice with the same form (double click / retry): one application, one mail
    done = []
    for _ in range(2):
        r = s.post(srv.https + "/regist/confirm", data=dict(cf, action="register",
                                                             consent="yes"))
        assert r.status_code == 200, r.text
        assert "申請を登録しました" in r.text and EMAIL in r.text
        done.append(r.text)
    assert done[0] == done[1]
    assert count(inst, "applications") == 1
    assert count(inst, "mail_queue") == 1
    rows = inst.sql("SELECT state, applicant_type, email, ticket FROM applications")
    assert rows[0] == ["registered", "self", EMAIL, t1[0]]
    # the tokens table holds hashes only
    for h, in inst.sql("SELECT purpose FROM tokens"):
        assert h in ("regist-form", "regist-verify")
    files = wait_mail(inst)
    time.sleep(1)
    assert len(outbox(inst)) == 1, files
    m, token = mail_link(files[0])
    assert m["To"] == EMAIL
    assert "証明書発行申請" in m["Subject"]
    assert len(token) == 43  # 256 bits, base64url
    blob = inst.sql("SELECT hash FROM tokens WHERE purpose = 'regist-verify'")[0][0]
    assert token not in str(blob)
    # a HEAD request (link checkers) does not use the link up
    r = session(srv).head(srv.https + "/regist/verify?onetimetoken=" + token)
    assert r.status_code == 200
    assert inst.sql("SELECT state FROM applications")[0][0] == "registered"
    # GET (mail scanners prefetch links) shows a button and uses nothing up
    v = session(srv)
    for _ in range(2):
        r = v.get(srv.https + "/regist/verify?onetimetoken=" + token)
        assert r.status_code == 200 and "メールアドレスの確認が完了しました" in r.text
        assert "確認メール受信" in r.text and 'action="/regist/verify"' in r.text
        assert inst.sql("SELECT state FROM applications")[0][0] == "registered"
    # the button (POST with CSRF) uses it: without the CSRF token nothing happens
    r = v.post(srv.https + "/regist/verify", data={"onetimetoken": token},
               allow_redirects=False)
    assert r.status_code == 403
    assert inst.sql("SELECT state FROM applications")[0][0] == "registered"
    page = v.get(srv.https + "/regist/verify?onetimetoken=" + token).text
    assert hidden(page, "onetimetoken") == token
    old_sid = v.cookies.get("__Host-sid")
    assert old_sid and re.fullmatch(r"[A-Za-z0-9_-]{43}", old_sid)
    r = v.post(srv.https + "/regist/verify", allow_redirects=False,
               data={"onetimetoken": token, "csrf": hidden(page, "csrf")})
    assert r.status_code == 303 and r.headers["Location"].startswith("/issue/form?t=")
    assert inst.sql("SELECT state FROM applications")[0][0] == "mail-verified"
    # the link's use establishes who this is: the session id rotates with the redirect ...
    cookie = r.headers["Set-Cookie"]
    m = re.match(r"__Host-sid=([A-Za-z0-9_-]{43});", cookie)
    assert m and m.group(1) != old_sid, cookie
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in cookie
    assert v.cookies.get("__Host-sid") == m.group(1)
    # ... and the continuation works with the new id only: not with the old one
    loc = srv.https + r.headers["Location"]
    r = session(srv).get(loc, headers={"Cookie": "__Host-sid=" + old_sid})
    assert r.status_code == 404 and "このブラウザのセッションでは無効です" in r.text, r.text
    r = session(srv).get(loc, headers={"Cookie": "__Host-sid=" + m.group(1)})
    assert r.status_code == 200 and 'name="name_kanji"' in r.text
    r = v.get(loc)
    assert r.status_code == 200 and 'name="name_kanji"' in r.text
    r = session(srv).get(srv.https + "/regist/verify?onetimetoken=" + token + "&lang=en")
    assert r.status_code == 410 and "already been used" in r.text
    r = session(srv).get(srv.https + "/regist/verify?onetimetoken=" + token)
    assert r.status_code == 410 and "使用済み" in r.text
    # unknown and malformed tokens
    for bad in ("A" * 43, "short", "", "%00" * 5):
        r = session(srv).get(srv.https + "/regist/verify?onetimetoken=" + bad)
        assert r.status_code == 404 and "このリンクは無効です" in r.text
    r = session(srv).get(srv.https + "/regist/verify")
    assert r.status_code == 404
    assert count(inst, "applications") == 1 and len(outbox(inst)) == 1


def test_expired_link(portal_sqlite):
    srv, (t1, _) = portal_sqlite
    inst = srv.inst
    s = session(srv, "en")
    register(s, srv, t1[0])
    files = wait_mail(inst)
    assert len(files) == 1
    m, token = mail_link(files[0])
    assert "Continue your certificate application" in m["Subject"]
    s.close()  # no idle keep-alive connection for the server to wait for
    stop_server(srv)
    # the test hook: the web process's clock three days and an hour ahead
    srv2 = start_server(inst, "test.clock_offset = %d" % (3 * 86400 + 3600))
    try:
        with session(srv2) as s2, session(srv2, "en") as s3:
            r = s2.get(srv2.https + "/regist/verify?onetimetoken=" + token)
            assert r.status_code == 410 and "有効期限" in r.text
            r = s3.get(srv2.https + "/regist/verify?onetimetoken=" + token)
            assert "This link has expired" in r.text
            assert inst.sql("SELECT state FROM applications")[0][0] == "registered"
            # the button cannot use it either; the application is recorded as expired
            csrf = hidden(s2.get(srv2.https + "/regist/step1").text, "csrf")
            r = s2.post(srv2.https + "/regist/verify", data={"onetimetoken": token,
                                                             "csrf": csrf})
            assert r.status_code == 410 and "有効期限" in r.text
            assert inst.sql("SELECT state FROM applications")[0][0] == "expired"
            # the ticket of an expired registration can be used again
            r, _ = step1(s2, srv2, ticket=t1[0])
            assert r.status_code == 200 and 'name="form_mac"' in r.text
    finally:
        stop_server(srv2)


def test_rate_limit(ca_sqlite):
    inst = ca_sqlite
    setup_orgs(inst)
    srv = start_server(inst, CONF.replace("portal.step1_rate = 1000", "portal.step1_rate = 3"))
    try:
        with session(srv) as s:
            rate_limit_checks(s, srv)
    finally:
        stop_server(srv)


def rate_limit_checks(s, srv):
    codes = [step1(s, srv, ticket="NOPE")[0].status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429], codes
    r, _ = step1(s, srv, ticket="NOPE")
    assert r.status_code == 429 and "リクエストが多すぎます" in r.text
    # GET pages are not limited
    assert s.get(srv.https + "/regist/step1").status_code == 200


# ---- top page, stylesheet, policies (issue 4) ----

CONTACT = ("portal.contact_email = help-desk@example.jp\n"
           "portal.contact_text = 証明書窓口 <平日 9:00-17:00> & 内線 1234\n"
           "portal.contact_text_en = Certificate desk <weekdays 9-17> & ext. 1234")
CSS = os.path.join(ROOT, "static", "shomei.css")


def raw_https(srv, request):
    """Sends request bytes as they are (no client-side path normalisation) over TLS and
    returns (status, headers text, body bytes)."""
    ctx = ssl.create_default_context(cafile=srv.cafile)
    with socket.create_connection(("127.0.0.1", srv.https_port), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname="localhost") as t:
            t.sendall(request)
            data = b""
            while True:
                chunk = t.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode("latin-1"), body


def test_top_page(ca_sqlite):
    inst = ca_sqlite
    setup_orgs(inst)
    srv = start_server(inst, CONF + "\n" + CONTACT)
    try:
        with session(srv) as s:
            r = s.get(srv.https + "/")
            assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
            t = r.text
            assert '<html lang="ja">' in t and "<h1>証明書の申請</h1>" in t
            # what is issued, for whom, how
            assert "電子証明書を発行します" in t and "チケット番号" in t and "申請の流れ" in t
            # the obligations, with the essential ones
            ob = t[t.index('id="obligations"'):t.index('id="contact"')]
            for want in ("真正かつ正確", "秘密鍵", "直ちに証明書の失効を申請", "速やかに証明書の失効を申請",
                         "目的", "有効期限の切れた証明書"):
                assert want in ob, want
            assert ob.count("<li>") >= 6
            # Agree leads to step 1; revocation and re-issue links
            assert re.search(r'<a class="button primary" href="/regist/step1">同意する</a>', t)
            assert 'href="/revoke/step1"' in t and 'href="/reissue"' in t
            assert 'href="/policies/privacy"' in t and 'href="/policies/obligations"' in t
            # the contact from shomei.conf, escaped
            assert 'href="mailto:help-desk@example.jp"' in t
            assert "証明書窓口 &lt;平日 9:00-17:00&gt; &amp; 内線 1234" in t
            assert "<平日" not in t
            # no flow bar on the top page; a language switch
            assert "flowbar" not in t and 'href="?lang=en"' in t
            # strict CSP: styles from 'self' only, no inline style anywhere
            csp = r.headers["Content-Security-Policy"]
            assert "style-src 'self';" in csp and "unsafe-inline" not in csp
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "style=" not in t and "<style" not in t and "<script" not in t
            # HTTPS only from now on (not the organization's other hosts)
            assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
            # English
            r = s.get(srv.https + "/?lang=en")
            t = r.text
            assert '<html lang="en">' in t and "<h1>Certificate application</h1>" in t
            assert ">Agree</a>" in t and "User obligations" in t and "同意する" not in t
            assert "Certificate desk &lt;weekdays 9-17&gt; &amp; ext. 1234" in t
            assert "証明書窓口" not in t
            # Agree: the link gives the step-1 form
            r = s.get(srv.https + "/regist/step1")
            assert r.status_code == 200 and 'name="captcha"' in r.text
            # every portal page has the language switch and the stylesheet
            for path in ("/", "/regist/step1", "/policies/obligations", "/policies/privacy",
                         "/regist/verify?onetimetoken=x"):
                r = session(srv).get(srv.https + path)
                # the switch keeps the page's other query arguments
                keep = path.partition("?")[2]
                assert 'href="?%slang=en"' % (keep + "&amp;" if keep else "") in r.text, path
                assert re.search(r'<link rel="stylesheet" href="/static/shomei\.css\?v=[0-9A-F]{16}">',
                                 r.text), path
                assert 'href="/#contact"' in r.text, path
    finally:
        stop_server(srv)


def test_top_page_default_contact(portal_sqlite):
    srv, _ = portal_sqlite
    r = session(srv).get(srv.https + "/")
    assert r.status_code == 200
    assert "ご所属の組織の証明書担当者（登録担当者）にお問い合わせください。" in r.text
    assert "mailto:" not in r.text
    r = session(srv).get(srv.https + "/policies/privacy?lang=en")
    assert "Please contact the certificate administrator (RA officer) of your organization." \
        in r.text


def test_stylesheet(portal_sqlite):
    srv, _ = portal_sqlite
    with open(CSS, "rb") as f:
        want = f.read()
    s = session(srv)
    page = s.get(srv.https + "/").text
    href = re.search(r'href="(/static/shomei\.css\?v=[0-9A-F]{16})"', page).group(1)
    r = s.get(srv.https + href)
    assert r.status_code == 200 and r.content == want
    assert r.headers["Content-Type"] == "text/css; charset=utf-8"
    assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    etag = r.headers["ETag"]
    assert re.fullmatch(r'"[0-9A-F]{32}"', etag)
    assert etag[1:17] == href[-16:]  # the version is the start of the content hash
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    # the rules the templates rely on: red errors, the flow bar, Japanese fonts
    css = want.decode()
    assert re.search(r"--error:\s*#c00000", css) and re.search(r"\.error\s*\{[^}]*var\(--error\)", css)
    assert "ol.flowbar" in css and "li.current" in css and "li.done" in css
    assert "flex-wrap: wrap" in css and "@media" in css
    assert '"Hiragino Sans"' in css and '"Noto Sans JP"' in css and "line-height: 1.7" in css
    # an old or missing version is cached briefly only; the ETag revalidates
    for url in ("/static/shomei.css", "/static/shomei.css?v=0000000000000000"):
        r = s.get(srv.https + url)
        assert r.status_code == 200 and r.headers["Cache-Control"] == "public, max-age=300"
        assert r.content == want
    r = s.get(srv.https + "/static/shomei.css", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["ETag"] == etag
    r = s.get(srv.https + "/static/shomei.css", headers={"If-None-Match": '"other"'})
    assert r.status_code == 200 and r.content == want
    r = s.head(srv.https + "/static/shomei.css")
    assert r.status_code == 200
    # only the fixed list, by exact name: nothing else of the file system
    for path in ("/static/", "/static/nope.css", "/static/shomei.css/", "/static/SHOMEI.CSS",
                 "/static/../templates/layout.html", "/static/%2e%2e/po/ja.po",
                 "/static/..%2fpo%2fja.po", "/static//shomei.css",
                 "/static/./shomei.css", "/static/portal.css", "/static/../static/shomei.css",
                 "/static/%2fetc%2fpasswd", "/static/shomei.css%2f"):
        st, head, body = raw_https(srv, b"GET " + path.encode() +
                                   b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert st == 404, (path, st)
        assert b"msgid" not in body and b"<html" not in body and b"root:" not in body
    # libmicrohttpd decodes %00 and the path ends there: at most the stylesheet itself
    st, _, body = raw_https(srv, b"GET /static/shomei.css%00/../../po/ja.po HTTP/1.1\r\n"
                            b"Host: localhost\r\nConnection: close\r\n\r\n")
    assert st == 404 or body == want
    st, _, _ = raw_https(srv, b"POST /static/shomei.css HTTP/1.1\r\nHost: localhost\r\n"
                         b"Content-Length: 0\r\nConnection: close\r\n\r\n")
    assert st == 405


def test_policy_pages(portal_sqlite):
    srv, _ = portal_sqlite
    s = session(srv)
    r = s.get(srv.https + "/policies/obligations")
    assert r.status_code == 200 and "<h1>利用者の義務</h1>" in r.text
    for want in ("真正かつ正確", "秘密鍵", "危殆化", "失効を申請", "予告なく失効"):
        assert want in r.text, want
    r = s.get(srv.https + "/policies/obligations?lang=en")
    assert "<h1>User obligations</h1>" in r.text and "compromised" in r.text
    assert "Apply for revocation promptly" in r.text
    r = session(srv).get(srv.https + "/policies/privacy")
    t = r.text
    assert r.status_code == 200 and "<h1>個人情報の取り扱いについて</h1>" in t
    # what is collected, what for, who sees it, how long, how it is protected, contact
    for want in ("取得する個人情報", "氏名", "メールアドレス", "所属組織", "利用目的", "第三者への提供",
                 "保存期間", "安全管理措置", "クッキー", "開示・訂正・削除", "お問い合わせ"):
        assert want in t, want
    r = session(srv).get(srv.https + "/policies/privacy?lang=en")
    t = r.text
    assert "<h1>Privacy policy</h1>" in t
    for want in ("Personal information we collect", "Purposes of use", "Retention",
                 "third parties", "Cookies", "disclosed, corrected or deleted"):
        assert want in t, want
    assert "個人情報" not in t
    r = session(srv).get(srv.https + "/policies/nothing")
    assert r.status_code == 404


# ---- step-1 validation extras (issue 4) ----

def test_ticket_rate_limit(portal_sqlite):
    """portal.ticket_rate (default 5) attempts per ticket and hour; then 429 with the error
    beside the ticket field, whatever else the form says, and the ticket is not looked at."""
    srv, (t1, t2) = portal_sqlite
    s = session(srv)
    # attempts without the CAPTCHA solved do not count (they cannot use a ticket up)
    for i in range(8):
        r, _ = step1(s, srv, ticket=t1[0], captcha="WRONG1")
        assert r.status_code == 400, (i, r.status_code)
        assert error_of(r.text, "ticket") is None and error_of(r.text, "captcha")
    for i in range(5):
        r, _ = step1(s, srv, ticket=t1[0], email_confirm="other@example.co.jp")
        assert r.status_code == 400, (i, r.status_code)
        assert error_of(r.text, "ticket") is None and error_of(r.text, "email_confirm")
    # the sixth attempt, even a correct one, is refused beside the ticket field
    r, _ = step1(s, srv, ticket=t1[0])
    assert r.status_code == 429
    assert error_of(r.text, "ticket") == "このチケット番号での試行回数が多すぎます。1時間後に再度お試しください。"
    assert 'name="form_mac"' not in r.text and field_value(r.text, "ticket") == t1[0]
    # from another session too (the limit is per ticket, not per session), in English
    s2 = session(srv, "en")
    r, _ = step1(s2, srv, ticket=t1[0])
    assert r.status_code == 429
    assert error_of(r.text, "ticket") == \
        "Too many attempts with this ticket number. Please try again in an hour."
    # a wrong organization does not reveal anything about the limited ticket
    r, _ = step1(s2, srv, ticket=t1[0], org_code="ORG2")
    assert r.status_code == 429 and "belong" not in r.text
    # other tickets are not affected
    r, _ = step1(s, srv, ticket=t1[1])
    assert r.status_code == 200 and 'name="form_mac"' in r.text
    # unknown ticket numbers are counted as well
    codes = [step1(s, srv, ticket="NO-SUCH-1")[0].status_code for _ in range(6)]
    assert codes == [400] * 5 + [429], codes
    assert count(srv.inst, "applications") == 0


def test_ticket_rate_config(ca_sqlite):
    inst = ca_sqlite
    t1, _ = setup_orgs(inst)
    srv = start_server(inst, CONF + "\nportal.ticket_rate = 2")
    try:
        with session(srv) as s:
            codes = [step1(s, srv, ticket=t1[0],
                           email_confirm="other@example.co.jp")[0].status_code
                     for _ in range(3)]
            assert codes == [400, 400, 429], codes
    finally:
        stop_server(srv)
    # a bad value is refused at start
    with open(inst.path("shomei.conf"), "a") as f:
        f.write("\nportal.ticket_rate = 0\n")
    with pytest.raises(AssertionError, match="portal.ticket_rate"):
        start_server(inst)


def test_captcha_rate(ca_sqlite):
    """Each form page with a CAPTCHA makes a store row and an image: portal.captcha_rate per
    client address and minute (the registration and revocation pages together), then 429."""
    inst = ca_sqlite
    setup_orgs(inst)
    srv = start_server(inst, CONF + "\nportal.captcha_rate = 3")
    try:
        with session(srv) as s:
            before = count(inst, "captchas")
            codes = [s.get(srv.https + p).status_code
                     for p in ("/regist/step1", "/revoke/step1", "/regist/step1",
                               "/regist/step1", "/revoke/step1")]
            assert codes == [200, 200, 200, 429, 429], codes
            assert count(inst, "captchas") == before + 3
            r = s.get(srv.https + "/regist/step1")
            assert r.status_code == 429 and "リクエストが多すぎます" in r.text, r.text
            # other pages are not limited by it
            assert s.get(srv.https + "/").status_code == 200
    finally:
        stop_server(srv)


def test_ticket_in_progress(portal_any):
    """A ticket with a live registration is refused with its own message beside the ticket
    field (also after the mail link was followed); once the registration has expired (the
    clock three days ahead) the ticket works again.  Two Registers racing for one ticket make
    one application."""
    srv, (t1, _) = portal_any
    inst = srv.inst
    s = session(srv)
    register(s, srv, t1[0])
    msg = ("このチケットは手続き中の申請で使用されています。確認メールの有効期限（申請登録から3日間）が"
           "過ぎると、再び使用できます。")
    for sess in (s, session(srv)):
        r, _ = step1(sess, srv, ticket=t1[0])
        assert r.status_code == 400 and error_of(r.text, "ticket") == msg, r.text
        for other in ("org_code", "email", "email_confirm", "captcha"):
            assert error_of(r.text, other) is None, other
    r, _ = step1(session(srv, "en"), srv, ticket=t1[0])
    assert error_of(r.text, "ticket").startswith(
        "This ticket is already being used by an application in progress.")
    # still live once the mailed link has been followed
    files = wait_mail(inst)
    _, token = mail_link(files[0])
    r = session(srv).get(srv.https + "/regist/verify?onetimetoken=" + token)
    assert r.status_code == 200
    r, _ = step1(session(srv), srv, ticket=t1[0])
    assert r.status_code == 400 and error_of(r.text, "ticket") == msg
    # the other ticket: two sessions pass step 1, then both Register at once
    a, b = session(srv), session(srv)
    forms = []
    for sess in (a, b):
        r, _ = step1(sess, srv, ticket=t1[1])
        assert r.status_code == 200, r.text
        forms.append(dict(confirm_form(r.text), consent="yes", action="register"))
    results = [None, None]

    def post(i, sess):
        results[i] = sess.post(srv.https + "/regist/confirm", data=forms[i])

    threads = [threading.Thread(target=post, args=(i, x)) for i, x in enumerate((a, b))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 400], codes
    loser = [r for r in results if r.status_code == 400][0]
    assert error_of(loser.text, "ticket") == msg
    assert int(inst.sql(f"SELECT COUNT(*) FROM applications WHERE ticket = '{t1[1]}'")[0][0]) == 1
    assert count(inst, "applications") == 2
    # three days and an hour later both registrations have expired: the tickets work again
    for x in (s, a, b):
        x.close()
    stop_server(srv)
    srv2 = start_server(inst, "test.clock_offset = %d" % (3 * 86400 + 3600))
    try:
        with session(srv2) as s2:
            for t in (t1[0], t1[1]):
                r, _ = step1(s2, srv2, ticket=t)
                assert r.status_code == 200 and 'name="form_mac"' in r.text, r.text
            register(s2, srv2, t1[1])
            assert count(inst, "applications") == 3
    finally:
        stop_server(srv2)
# ---- issuance (issue 4): the mailed link's button, the form, confirm, certificate page ----

PASSWORD = "correct horse 8"
KANJI = "山田　太郎"


def verified(srv, ticket, lang=None):
    """Registers on ticket, follows the mailed link with its button; returns the session and
    the issuance form page (its URL carries the continuation)."""
    inst = srv.inst
    s = session(srv, lang)
    before = len(outbox(inst))
    register(s, srv, ticket)
    files = wait_mail(inst, before + 1)
    _, token = mail_link(files[-1])
    page = s.get(srv.https + "/regist/verify?onetimetoken=" + token).text
    r = s.post(srv.https + "/regist/verify",
               data={"onetimetoken": token, "csrf": hidden(page, "csrf")})
    assert r.status_code == 200, r.text
    assert "/issue/form?t=" in r.url
    return s, r


def issue_fields(page, **over):
    form = {"csrf": hidden(page, "csrf"), "t": hidden(page, "t"), "name_kanji": KANJI,
            "name_romaji": "Taro Yamada", "ou": "Sales", "subject_email": EMAIL,
            "key_mode": "p256", "csr": "", "app_password": PASSWORD,
            "app_password_confirm": PASSWORD}
    form.update(over)
    return {k: v for k, v in form.items() if v is not None}


def confirm_fields(page):
    names = ("csrf", "t", "form_nonce", "form_time", "form_mac", "name_kanji", "name_romaji",
             "ou", "subject_email", "hostnames", "key_mode", "csr", "pw_ref")
    return {k: hidden(page, k) for k in names}


def pre(page, ident):
    m = re.search(r'<pre id="%s">(.*?)</pre>' % ident, page, re.S)
    assert m, (ident, page)
    return html.unescape(m.group(1))


def strong(page, ident):
    m = re.search(r'id="%s">(?:<code>)?([^<]+)' % ident, page)
    assert m, (ident, page)
    return html.unescape(m.group(1))


def issue_self(srv, ticket, tmp_path, **over):
    s, r = verified(srv, ticket)
    r = s.post(srv.https + "/issue/form", data=issue_fields(r.text, **over))
    assert r.status_code == 200, r.text
    cf = confirm_fields(r.text)
    r = s.post(srv.https + "/issue/confirm", data=dict(cf, action="submit"))
    assert r.status_code == 200, r.text
    return s, r, cf


def verify_chain(inst, tmp_path, cert_pem, name="c.pem"):
    p = tmp_path / name
    p.write_text(cert_pem)
    out = subprocess.run(["openssl", "verify", "-CAfile", inst.path("certs", "root.pem"),
                          "-untrusted", inst.path("certs", "issuing.pem"), str(p)],
                         capture_output=True, text=True)
    assert out.returncode == 0 and ": OK" in out.stdout, (out.stdout, out.stderr)


@pytest.mark.parametrize("key_mode", ["p256", "rsa2048"])
def test_issue_self_p12(portal_any, tmp_path, key_mode):
    srv, (t1, _) = portal_any
    inst = srv.inst
    s, r, cf = issue_self(srv, t1[0], tmp_path, key_mode=key_mode)
    page = r.text
    assert "発行完了" in page
    pin = strong(page, "pin")
    code = strong(page, "cert_code")
    serial = strong(page, "serial")
    assert re.fullmatch(r"[A-HJ-NP-Za-km-z2-9]{12}", pin), pin
    assert re.fullmatch(r"([A-HJ-NP-Z2-9]{5}-){3}[A-HJ-NP-Z2-9]{5}", code), code
    m = re.search(r'href="(/issue/download\?d=[A-Za-z0-9_-]{43})"', page)
    assert m, page
    # HEAD (a link checker, a prefetch) answers as GET would and uses nothing up
    for _ in range(2):
        r = s.head(srv.https + m.group(1))
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-pkcs12"
        assert r.content == b""
    assert count(inst, "portal_downloads") == 1
    r = s.get(srv.https + m.group(1))
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-pkcs12"
    p12 = tmp_path / "f.p12"
    p12.write_bytes(r.content)
    # the download is single use; the row is gone (HEAD says so too)
    assert s.get(srv.https + m.group(1)).status_code == 410
    assert s.head(srv.https + m.group(1)).status_code == 410
    assert count(inst, "portal_downloads") == 0
    # the secret never reaches the access log (it is a query, not the path)
    log = srv.log_text()
    assert "GET /issue/download " in log and m.group(1).split("=")[1] not in log
    # openssl pkcs12 of OpenSSL 3 opens it with the PIN, by default (AES-256-CBC, PBKDF2)
    out = subprocess.run(["openssl", "pkcs12", "-in", str(p12), "-passin", "pass:" + pin,
                          "-nodes"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "PRIVATE KEY" in out.stdout
    info = subprocess.run(["openssl", "pkcs12", "-in", str(p12), "-passin", "pass:" + pin,
                           "-info", "-noout"], capture_output=True, text=True)
    assert "AES-256-CBC" in info.stderr + info.stdout and "PBKDF2" in info.stderr + info.stdout
    bad = subprocess.run(["openssl", "pkcs12", "-in", str(p12), "-passin", "pass:wrong",
                          "-nodes"], capture_output=True, text=True)
    assert bad.returncode != 0
    certs = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out.stdout,
                       re.S)
    assert len(certs) == 3  # holder, issuing, root
    leaf = [c for c in certs if c.strip() == pre(page, "cert_pem").strip()]
    assert leaf, "the P12 holds the certificate of the page"
    verify_chain(inst, tmp_path, leaf[0])
    txt = openssl_text(tmp_path, leaf[0])
    assert "CN = Taro Yamada" in txt and "OU = Sales" in txt and "O = Example One" in txt
    assert "email:" + EMAIL in txt
    assert ("ASN1 OID: prime256v1" in txt) == (key_mode == "p256")
    assert ("Public-Key: (2048 bit)" in txt) == (key_mode == "rsa2048")
    # the store: ticket used with the serial, application issued, secrets only as hashes
    row = inst.sql("SELECT status, cert_serial FROM tickets WHERE number = '%s'" % t1[0])[0]
    assert row == ["used", serial]
    app = inst.sql("SELECT state, cert_serial, name_kanji, name_romaji, ou, subject_email, "
                   "key_mode, password_hash, profile FROM applications")[0]
    assert app[:7] == ["issued", serial, KANJI, "Taro Yamada", "Sales", EMAIL, key_mode]
    assert app[7].startswith("$argon2id$") and PASSWORD not in app[7]
    assert app[8] == "client"
    dump = "\n".join(str(x) for x in inst.sql("SELECT * FROM applications")[0])
    assert pin not in dump and code not in dump and code.replace("-", "") not in dump
    assert issued(inst) == 1
    # the audit chain records the portal's issuance
    acts = [a for a, in inst.sql("SELECT action FROM audit WHERE object = '%s'" % serial)]
    assert "cert.issue" in acts and "portal.issue" in acts
    # the mail with the certificate code
    files = wait_mail(inst, 2)
    with open(files[-1], "rb") as f:
        m = email.message_from_bytes(f.read(), policy=email.policy.default)
    assert m["To"] == EMAIL and "証明書を発行しました" in m["Subject"]
    body = m.get_content()
    assert code in body and serial in body and pin not in body
    # the PIN is never shown again: a resubmit, the form and Back
    r = s.post(srv.https + "/issue/confirm", data=dict(cf, action="submit"))
    assert r.status_code == 200 and "発行済み" in r.text and pin not in r.text
    assert code not in r.text
    r = s.get(srv.https + "/issue/form?t=" + cf["t"])
    assert r.status_code == 410 and pin not in r.text
    assert issued(inst) == 1 and len(outbox(inst)) == 2


def issued(inst):
    """Certificates of organizations (init also stores the CA's own, e.g. its HTTPS one)."""
    return int(inst.sql("SELECT COUNT(*) FROM certificates WHERE COALESCE(org_id, 0) != 0"
                        )[0][0])


def openssl_text(tmp_path, pem):
    p = tmp_path / "x.pem"
    p.write_text(pem)
    return subprocess.run(["openssl", "x509", "-in", str(p), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout


def test_issue_download_expired(portal_sqlite, tmp_path):
    """A PKCS#12 that waits longer than PORTAL_DOWNLOAD_TTL (1 h) is gone: the link answers
    410 with a page in the applicant's language, the PIN is not shown again, nothing of the
    key is sent, and the certificate stays issued (its holder revokes or re-issues it)."""
    srv, (t1, _) = portal_sqlite
    inst = srv.inst
    s, r, _ = issue_self(srv, t1[0], tmp_path)
    pin = strong(r.text, "pin")
    m = re.search(r'href="(/issue/download\?d=[A-Za-z0-9_-]{43})"', r.text)
    assert m, r.text
    s.close()
    assert count(inst, "portal_downloads") == 1 and issued(inst) == 1
    stop_server(srv)
    srv2 = start_server(inst, "test.clock_offset = 3660")
    try:
        with session(srv2) as h:
            r = h.get(srv2.https + m.group(1))
            assert r.status_code == 410, r.text
            assert "このダウンロードは利用できません" in r.text and pin not in r.text
            assert r.headers["Content-Type"].startswith("text/html")
        with session(srv2, "en") as h:
            r = h.get(srv2.https + m.group(1))
            assert r.status_code == 410 and "This download is no longer available" in r.text
        assert issued(inst) == 1
    finally:
        stop_server(srv2)


def test_issue_self_csr(portal_any, tmp_path):
    srv, (t1, _) = portal_any
    inst = srv.inst
    key = tmp_path / "k.pem"
    csr = tmp_path / "r.csr"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(csr),
                    "-subj", "/CN=ignored by the RA"], check=True, capture_output=True)
    s, r, _ = issue_self(srv, t1[0], tmp_path, key_mode="csr", csr=csr.read_text())
    page = r.text
    assert 'id="pin"' not in page and "/issue/download" not in page
    code = strong(page, "cert_code")
    assert len(code) == 23
    cert = pre(page, "cert_pem")
    chain = pre(page, "chain_pem")
    assert chain.count("BEGIN CERTIFICATE") == 2
    verify_chain(inst, tmp_path, cert)
    # the certificate carries the CSR's key and the RA's subject
    txt = openssl_text(tmp_path, cert)
    assert "CN = Taro Yamada" in txt and "ignored by the RA" not in txt
    pub1 = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout"], capture_output=True,
                          text=True, check=True).stdout
    (tmp_path / "c.pem").write_text(cert)
    pub2 = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "c.pem"), "-pubkey",
                           "-noout"], capture_output=True, text=True, check=True).stdout
    assert pub1 == pub2
    # chain file = issuing + root, as published
    with open(inst.path("certs", "issuing.pem")) as f:
        assert f.read().strip() in chain
    assert count(inst, "portal_downloads") == 0 and issued(inst) == 1


def test_issue_double_submit(portal_sqlite, tmp_path):
    srv, (t1, _) = portal_sqlite
    inst = srv.inst
    s, r = verified(srv, t1[0])
    page = r.text
    r = s.post(srv.https + "/issue/form", data=issue_fields(page))
    cf1 = confirm_fields(r.text)
    # Back from the confirm page keeps every value (the password as its hash)
    r = s.post(srv.https + "/issue/confirm", data=dict(cf1, action="back"))
    assert r.status_code == 200
    assert field_value(r.text, "name_romaji") == "Taro Yamada"
    assert field_value(r.text, "name_kanji") == KANJI
    assert field_value(r.text, "ou") == "Sales"
    assert hidden(r.text, "pw_ref") == cf1["pw_ref"]
    # ... and a second confirm page from it without typing the password again
    f2 = issue_fields(r.text, app_password="", app_password_confirm="")
    f2.update(pw_ref=hidden(r.text, "pw_ref"), pw_mac=hidden(r.text, "pw_mac"))
    r = s.post(srv.https + "/issue/form", data=f2)
    assert r.status_code == 200, r.text
    cf2 = confirm_fields(r.text)
    assert cf2["pw_ref"] == cf1["pw_ref"] and cf2["form_nonce"] != cf1["form_nonce"]
    # a forged hash is not taken
    f3 = dict(f2, pw_ref="$argon2id$v=19$m=65536,t=2,p=1$forged")
    r = s.post(srv.https + "/issue/form", data=f3)
    assert r.status_code == 400 and error_of(r.text, "app_password")
    # submit twice, and the other confirm page: one certificate, one PIN shown once
    pins = []
    for cf in (cf1, cf1, cf2):
        r = s.post(srv.https + "/issue/confirm", data=dict(cf, action="submit"))
        assert r.status_code in (200, 410), r.text
        if 'id="pin"' in r.text:
            pins.append(strong(r.text, "pin"))
        else:
            assert "発行済み" in r.text or "申請済み" in r.text
    assert len(pins) == 1
    assert issued(inst) == 1
    time.sleep(1)
    assert len(wait_mail(inst, 2)) == 2  # registration + issuance, no second issuance mail
    # a tampered confirm form is refused
    r = s.post(srv.https + "/issue/confirm", data=dict(cf2, action="submit", ou="Other"))
    assert r.status_code == 400



def test_issue_password_hashed_ahead(portal_sqlite):
    """The form queues the password and the confirm page carries a handle, not the hash; the
    hash is made meanwhile (the log says so) and stored at Submit.  After a restart the handle
    is forgotten: Submit asks for the password again beside its field, with the other values
    kept, and issues nothing until it is typed again."""
    srv, (t1, _) = portal_sqlite
    inst = srv.inst
    s, r = verified(srv, t1[0], lang="en")
    r = s.post(srv.https + "/issue/form", data=issue_fields(r.text))
    assert r.status_code == 200, r.text
    cf = confirm_fields(r.text)
    assert re.fullmatch(r"h[A-Za-z0-9_-]{22}", cf["pw_ref"]), cf["pw_ref"]
    assert "$argon2id$" not in r.text and PASSWORD not in r.text
    # restarted on the same ports: the browser's session and the confirm page stay valid
    stop_server(srv)
    srv2 = start_server(inst, ports=(srv.http_port, srv.https_port))
    try:
        r = s.post(srv.https + "/issue/confirm", data=dict(cf, action="submit"))
        assert r.status_code == 400, r.text
        assert error_of(r.text, "app_password") == \
            "Please enter the application password again."
        assert field_value(r.text, "name_romaji") == "Taro Yamada"
        assert field_value(r.text, "ou") == "Sales"
        assert field_value(r.text, "app_password") == ""
        assert 'name="pw_ref"' not in r.text
        assert issued(inst) == 0
        assert inst.sql("SELECT state, password_hash FROM applications")[0] == \
            ["mail-verified", None]
        # typed again: a new handle, hashed ahead this time (the log), then issued
        r = s.post(srv.https + "/issue/form", data=issue_fields(r.text))
        assert r.status_code == 200, r.text
        cf2 = confirm_fields(r.text)
        assert cf2["pw_ref"] != cf["pw_ref"] and cf2["pw_ref"].startswith("h")
        time.sleep(1.5)  # reading the confirm page: the hasher's turn
        r = s.post(srv.https + "/issue/confirm", data=dict(cf2, action="submit"))
        assert r.status_code == 200 and 'id="pin"' in r.text, r.text
        assert issued(inst) == 1
        h = inst.sql("SELECT password_hash FROM applications")[0][0]
        assert h.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and PASSWORD not in h
        assert "Submit waited" not in srv2.log_text()
    finally:
        stop_server(srv2)

def test_issue_csrf(portal_sqlite, tmp_path):
    srv, (t1, _) = portal_sqlite
    inst = srv.inst
    s, r = verified(srv, t1[0])
    page = r.text
    other = session(srv)
    other_csrf = hidden(other.get(srv.https + "/regist/step1").text, "csrf")
    for bad in (None, "A" * 43, other_csrf):
        r = s.post(srv.https + "/issue/form", data=issue_fields(page, csrf=bad))
        assert r.status_code == 403
    r = s.post(srv.https + "/issue/form", data=issue_fields(page))
    cf = confirm_fields(r.text)
    for bad in (None, "A" * 43, other_csrf):
        d = dict(cf, action="submit")
        if bad is None:
            del d["csrf"]
        else:
            d["csrf"] = bad
        r = s.post(srv.https + "/issue/confirm", data=d)
        assert r.status_code == 403
    assert issued(inst) == 0
    # the continuation belongs to the session: another browser cannot use it
    r = other.get(srv.https + "/issue/form?t=" + cf["t"])
    assert r.status_code == 404
    r = other.post(srv.https + "/issue/confirm", data=dict(cf, action="submit",
                                                          csrf=other_csrf))
    assert r.status_code == 400 and issued(inst) == 0
    assert inst.sql("SELECT state FROM applications")[0][0] == "mail-verified"


def test_issue_validation(portal_sqlite, tmp_path):
    srv, (t1, _) = portal_sqlite
    inst = srv.inst
    s, r = verified(srv, t1[0])
    page = r.text
    assert "発行申請情報入力" in page
    assert 'class="current" aria-current="step">発行申請情報入力' in page
    long_kanji = "漢" * 65
    cases = [
        (dict(name_kanji=""), "name_kanji", "氏名（漢字）を入力してください。"),
        (dict(name_kanji="Yamada"), "name_kanji", "全角の漢字"),
        (dict(name_kanji=long_kanji), "name_kanji", "全角の漢字"),
        (dict(name_kanji="山田　"), None, None),  # ideographic space is allowed
        (dict(name_romaji=""), "name_romaji", "氏名（ローマ字）を入力してください。"),
        (dict(name_romaji="山田"), "name_romaji", "半角英字"),
        (dict(name_romaji="Taro_Yamada"), "name_romaji", "半角英字"),
        (dict(name_romaji="Jean-Luc O'Neil Jr."), None, None),
        (dict(ou=""), "ou", "部署名（OU）を入力してください。"),
        (dict(ou="x" * 65), "ou", "64文字以内"),
        (dict(subject_email=""), "subject_email", "メールアドレスを入力してください"),
        (dict(subject_email="not an address"), "subject_email", "正しいメールアドレス"),
        (dict(subject_email="taro@evil.example"), "subject_email", "確認したメールアドレス"),
        (dict(subject_email="other@example.co.jp"), "subject_email", "確認したメールアドレス"),
        (dict(key_mode="dsa"), "key_mode", "鍵の作成方法を選択してください。"),
        (dict(key_mode="csr", csr=""), "csr", "貼り付けてください"),
        (dict(key_mode="csr", csr="-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
              "-----END CERTIFICATE REQUEST-----\n"), "csr", "受け付けられません"),
        (dict(app_password="short", app_password_confirm="short"), "app_password",
         "8文字以上"),
        (dict(app_password_confirm="something else"), "app_password_confirm",
         "パスワードが一致しません"),
    ]
    for over, field, msg in cases:
        form = issue_fields(page, **over)
        r = s.post(srv.https + "/issue/form", data=form)
        if field is None:
            assert r.status_code == 200 and 'name="form_mac"' in r.text, (over, r.text)
            continue
        assert r.status_code == 400, (over, r.status_code)
        assert error_of(r.text, field) and msg in error_of(r.text, field), (field, r.text)
        assert 'style=' not in r.text  # CSP: no inline styles; red comes from span.error
        for other in ("name_kanji", "name_romaji", "ou", "subject_email", "key_mode", "csr",
                      "app_password", "app_password_confirm"):
            if other != field:
                assert error_of(r.text, other) is None, (field, other)
        # the other values are kept (passwords are never echoed)
        for keep in ("name_kanji", "name_romaji", "ou", "subject_email"):
            assert field_value(r.text, keep) == form[keep], keep
        assert field_value(r.text, "app_password") == ""
    # a weak RSA key in a CSR: the CA's own message beside the field
    key = tmp_path / "weak.pem"
    csr = tmp_path / "weak.csr"
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:1024", "-nodes", "-keyout",
                    str(key), "-out", str(csr), "-subj", "/CN=x"], check=True,
                   capture_output=True)
    r = s.post(srv.https + "/issue/form", data=issue_fields(page, key_mode="csr",
                                                            csr=csr.read_text()))
    assert r.status_code == 400 and "key" in error_of(r.text, "csr")
    # the organization's name policy: a CSR naming another organization is refused beside
    # the field with the RA's message (the holder's fields still build the subject)
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(csr),
                    "-subj", "/O=Other Corp/CN=x"], check=True, capture_output=True)
    r = s.post(srv.https + "/issue/form", data=issue_fields(page, key_mode="csr",
                                                            csr=csr.read_text()))
    assert r.status_code == 400, r.text
    assert "受け付けられません" in error_of(r.text, "csr")
    assert ('name policy: O &quot;Other Corp&quot; is not the registered name of organization '
            'ORG1') in r.text, r.text
    # English
    s.get(srv.https + "/regist/step1?lang=en")
    r = s.post(srv.https + "/issue/form", data=issue_fields(page, name_romaji="山田"))
    assert "ASCII letters" in error_of(r.text, "name_romaji")
    assert issued(inst) == 0


def test_issue_server_profile(ca_sqlite, tmp_path):
    inst = ca_sqlite
    setup_orgs(inst)
    t = inst.ok("ticket", "create", "--org", "ORG1", "--profile", "server").split()
    srv = start_server(inst, CONF)
    try:
        s, r = verified(srv, t[0])
        page = r.text
        assert 'name="hostnames"' in page and 'name="name_kanji"' not in page
        base = dict(name_kanji=None, name_romaji=None, ou="", subject_email="")
        r = s.post(srv.https + "/issue/form",
                   data=issue_fields(page, hostnames="www.evil.example", **base))
        assert r.status_code == 400 and error_of(r.text, "hostnames")
        r = s.post(srv.https + "/issue/form",
                   data=issue_fields(page, hostnames="bad..name", **base))
        assert r.status_code == 400 and error_of(r.text, "hostnames")
        r = s.post(srv.https + "/issue/form", data=issue_fields(
            page, hostnames="WWW.example.co.jp, api.example.co.jp", **base))
        assert r.status_code == 200, r.text
        cf = confirm_fields(r.text)
        assert cf["hostnames"] == "www.example.co.jp api.example.co.jp"
        r = s.post(srv.https + "/issue/confirm", data=dict(cf, action="submit"))
        assert r.status_code == 200 and 'id="pin"' in r.text
        txt = openssl_text(tmp_path, pre(r.text, "cert_pem"))
        assert "DNS:www.example.co.jp, DNS:api.example.co.jp" in txt
        assert "CN = www.example.co.jp" in txt and "TLS Web Server Authentication" in txt
    finally:
        stop_server(srv)


# ---- agent applications: the holder approves by mail ----

AGENT = "hanako.agent@example.org"


def mail_of(path):
    with open(path, "rb") as f:
        m = email.message_from_bytes(f.read(), policy=email.policy.default)
    return m, m.get_content()


def mail_to(inst, addr, pattern):
    """The single link matching pattern in the newest mail to addr."""
    for path in reversed(outbox(inst)):
        m, body = mail_of(path)
        if m["To"] == addr:
            found = re.findall(pattern, body)
            if found:
                return m, body, found
    raise AssertionError("no mail to %s with %s" % (addr, pattern))


def agent_submit(srv, ticket, **over):
    """An agent's application up to the holder's approval mail; returns the agent's session
    and the approval token."""
    inst = srv.inst
    s = session(srv)
    before = len(outbox(inst))
    r, _ = step1(s, srv, ticket=ticket, applicant_type="agent", email=AGENT,
                 email_confirm=AGENT)
    assert r.status_code == 200, r.text
    form = dict(confirm_form(r.text), consent="yes", action="register")
    assert form["applicant_type"] == "agent"
    assert s.post(srv.https + "/regist/confirm", data=form).status_code == 200
    files = wait_mail(inst, before + 1)
    _, token = mail_link(files[-1])
    page = s.get(srv.https + "/regist/verify?onetimetoken=" + token).text
    assert "本人承認" in page  # the agent's flow bar
    r = s.post(srv.https + "/regist/verify", data={"onetimetoken": token,
                                                   "csrf": hidden(page, "csrf")})
    assert r.status_code == 200 and "本人承認" in r.text
    # the holder's e-mail is required from an agent
    r2 = s.post(srv.https + "/issue/form", data=issue_fields(r.text, subject_email=""))
    assert r2.status_code == 400 and error_of(r2.text, "subject_email")
    # ... and must lie in the organization's domains (RA rule)
    r2 = s.post(srv.https + "/issue/form", data=issue_fields(r.text,
                                                            subject_email="x@evil.example"))
    assert r2.status_code == 400 and "発行できません" in error_of(r2.text, "subject_email")
    r = s.post(srv.https + "/issue/form", data=issue_fields(r.text, **over))
    assert r.status_code == 200, r.text
    cf = confirm_fields(r.text)
    r = s.post(srv.https + "/issue/confirm", data=dict(cf, action="submit"))
    assert r.status_code == 200 and EMAIL in r.text and 'id="pin"' not in r.text, r.text
    # nothing issued yet: the holder decides
    assert issued(inst) == 0
    assert inst.sql("SELECT state FROM applications ORDER BY id DESC")[0][0] == \
        "awaiting-approval"
    wait_mail(inst, before + 2)
    _, body, links = mail_to(inst, EMAIL, r"https://\S+/approve\?t=([A-Za-z0-9_-]{43})")
    assert AGENT in body
    # a resubmit does not send a second approval mail
    r = s.post(srv.https + "/issue/confirm", data=dict(cf, action="submit"))
    assert 'id="pin"' not in r.text
    time.sleep(1)
    assert len(outbox(inst)) == before + 2
    return s, links[0]


def test_agent_approve(portal_any, tmp_path):
    srv, (t1, _) = portal_any
    inst = srv.inst
    s, tok = agent_submit(srv, t1[0])
    h = session(srv)  # the holder's browser
    for _ in range(2):  # GET shows the request and uses nothing up
        r = h.get(srv.https + "/approve?t=" + tok)
        assert r.status_code == 200 and AGENT in r.text and "Taro Yamada" in r.text
        assert "本人承認" in r.text
    assert inst.sql("SELECT state FROM applications")[0][0] == "awaiting-approval"
    # CSRF: without or with a foreign token, refused
    r = h.post(srv.https + "/approve", data={"t": tok, "action": "approve"})
    assert r.status_code == 403
    r = h.post(srv.https + "/approve", data={"t": tok, "action": "approve",
                                             "csrf": hidden(s.get(srv.https + "/regist/step1").text, "csrf")})
    assert r.status_code == 403 and issued(inst) == 0
    csrf = hidden(h.get(srv.https + "/approve?t=" + tok).text, "csrf")
    before = len(outbox(inst))
    r = h.post(srv.https + "/approve", data={"t": tok, "action": "approve", "csrf": csrf})
    assert r.status_code == 200 and "承認" in r.text, r.text
    serial = strong(r.text, "serial")
    assert issued(inst) == 1
    assert inst.sql("SELECT state, cert_serial FROM applications")[0] == ["issued", serial]
    assert inst.sql("SELECT status FROM tickets WHERE number = '%s'" % t1[0])[0][0] == "used"
    # twice: the link is used up
    r = h.post(srv.https + "/approve", data={"t": tok, "action": "approve", "csrf": csrf})
    assert r.status_code == 410 and issued(inst) == 1
    # the holder gets the certificate code; the agent the link to the certificate page
    wait_mail(inst, before + 2)
    _, body, codes = mail_to(inst, EMAIL, r"([A-HJ-NP-Z2-9]{5}(?:-[A-HJ-NP-Z2-9]{5}){3})")
    assert serial in body
    _, body, links = mail_to(inst, AGENT, r"https://\S+/issue/deliver\?t=([A-Za-z0-9_-]{43})")
    dv = links[0]
    # the agent's page: GET is a button, POST shows the PIN once
    page = s.get(srv.https + "/issue/deliver?t=" + dv).text
    r = s.post(srv.https + "/issue/deliver", data={"t": dv})
    assert r.status_code == 403
    r = s.post(srv.https + "/issue/deliver", data={"t": dv, "csrf": hidden(page, "csrf")})
    assert r.status_code == 200, r.text
    pin = strong(r.text, "pin")
    assert strong(r.text, "serial") == serial and codes[0] not in r.text
    m = re.search(r'href="(/issue/download\?d=[A-Za-z0-9_-]{43})"', r.text)
    p12 = tmp_path / "a.p12"
    p12.write_bytes(s.get(srv.https + m.group(1)).content)
    out = subprocess.run(["openssl", "pkcs12", "-in", str(p12), "-passin", "pass:" + pin,
                          "-nodes"], capture_output=True, text=True)
    assert out.returncode == 0 and "PRIVATE KEY" in out.stdout, out.stderr
    verify_chain(inst, tmp_path, pre(r.text, "cert_pem"))
    r = s.post(srv.https + "/issue/deliver", data={"t": dv, "csrf": hidden(page, "csrf")})
    assert r.status_code == 410 and pin not in r.text
    assert count(inst, "portal_downloads") == 0


def test_agent_reject(portal_sqlite, tmp_path):
    srv, (t1, _) = portal_sqlite
    inst = srv.inst
    s, tok = agent_submit(srv, t1[0])
    h = session(srv, "en")
    page = h.get(srv.https + "/approve?t=" + tok).text
    assert "Holder approval" in page
    before = len(outbox(inst))
    r = h.post(srv.https + "/approve", data={"t": tok, "action": "reject",
                                             "csrf": hidden(page, "csrf")})
    assert r.status_code == 200 and "rejected" in r.text
    assert inst.sql("SELECT state FROM applications")[0][0] == "rejected"
    assert inst.sql("SELECT status FROM tickets WHERE number = '%s'" % t1[0])[0][0] == "unused"
    assert issued(inst) == 0
    files = wait_mail(inst, before + 2)
    to = sorted(mail_of(f)[0]["To"] for f in files[before:])
    assert to == sorted([AGENT, EMAIL])
    r = h.post(srv.https + "/approve", data={"t": tok, "action": "approve",
                                             "csrf": hidden(page, "csrf")})
    assert r.status_code == 410 and issued(inst) == 0
    # the ticket is free again: a new registration on it goes through
    r, _ = step1(session(srv), srv, ticket=t1[0])
    assert r.status_code == 200 and 'name="form_mac"' in r.text


def test_agent_approval_expired(portal_sqlite, tmp_path):
    srv, (t1, _) = portal_sqlite
    inst = srv.inst
    s, tok = agent_submit(srv, t1[0])
    s.close()
    stop_server(srv)
    srv2 = start_server(inst, "test.clock_offset = %d" % (3 * 86400 + 3600))
    try:
        with session(srv2) as h:
            r = h.get(srv2.https + "/approve?t=" + tok)
            assert r.status_code == 410 and "有効期限" in r.text
            # the state machine records it; approving later is refused
            assert inst.sql("SELECT state FROM applications")[0][0] == "expired"
            r = h.post(srv2.https + "/approve", data={"t": tok, "action": "approve",
                                                       "csrf": hidden(h.get(
                                                           srv2.https + "/regist/step1").text,
                                                           "csrf")})
            assert r.status_code == 410
        assert issued(inst) == 0
    finally:
        stop_server(srv2)


def test_flow_bar_switch(portal_sqlite):
    srv, _ = portal_sqlite
    t = session(srv).get(srv.https + "/regist/step1").text
    # both bars, the CSS rule switching them on the checked radio (no JavaScript)
    assert '<ol class="flowbar flowbar-agent"' in t and "<script" not in t
    # the switch is a rule of the stylesheet (the CSP allows no inline style)
    assert "<style" not in t and "style=" not in t
    css = session(srv).get(srv.https + "/static/shomei.css").text
    assert ':has(input[name="applicant_type"][value="agent"]:checked)' in css
    agent = t[t.index("flowbar-agent"):]
    agent = agent[:agent.index("</ol>")]
    assert agent.index("完了") < agent.index("本人承認") < agent.index("発行完了")
    selfbar = t[t.index('class="flowbar"'):t.index("</ol>")]
    assert "本人承認" not in selfbar and "発行完了" in selfbar


def test_issue_csr_upload(portal_sqlite, tmp_path):
    """The CSR as an uploaded file: the form is multipart/form-data (parsed by shomei, bounded)."""
    srv, (t1, _) = portal_sqlite
    inst = srv.inst
    key = tmp_path / "k.pem"
    csr = tmp_path / "r.csr"
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(csr), "-subj", "/CN=x"], check=True,
                   capture_output=True)
    s, r = verified(srv, t1[0])
    page = r.text
    assert 'enctype="multipart/form-data"' in page and 'name="csr_file"' in page
    fields = issue_fields(page, key_mode="csr")
    del fields["csr"]
    r = s.post(srv.https + "/issue/form", data=fields,
               files={"csr_file": ("r.csr", csr.read_bytes(), "application/pkcs10")})
    assert r.status_code == 200, r.text
    cf = confirm_fields(r.text)
    assert cf["csr"].strip() == csr.read_text().strip()
    # CSRF is checked in multipart bodies too
    r2 = s.post(srv.https + "/issue/form", data=dict(fields, csrf="A" * 43),
                files={"csr_file": ("r.csr", csr.read_bytes())})
    assert r2.status_code == 403
    # a binary (DER) file is refused cleanly, nothing is written
    der = subprocess.run(["openssl", "req", "-in", str(csr), "-outform", "DER"],
                         capture_output=True, check=True).stdout
    r2 = s.post(srv.https + "/issue/form", data=fields, files={"csr_file": ("r.der", der)})
    assert r2.status_code == 400
    r = s.post(srv.https + "/issue/confirm", data=dict(cf, action="submit"))
    assert r.status_code == 200 and 'id="pin"' not in r.text
    verify_chain(inst, tmp_path, pre(r.text, "cert_pem"))
    assert issued(inst) == 1


def test_language_switch_keeps_the_query(portal_sqlite):
    """The 日本語 / English links keep the page's other query arguments (a mailed link's token
    must survive a change of language), percent-encoded, and drop the old lang."""
    srv, _ = portal_sqlite
    r = session(srv).get(srv.https + "/regist/verify?onetimetoken=Ab-_9&lang=ja&x=%3C%22%20")
    assert 'href="?onetimetoken=Ab-_9&amp;x=%3C%22%20&amp;lang=en"' in r.text, r.text
    r = session(srv).get(srv.https + "/regist/step1?lang=en")
    assert 'href="?lang=ja"' in r.text


def test_verify_answer_lost(portal_any):
    """The mailed link's button used, and its answer lost (a crash after the commit, a dropped
    connection: the browser's session id did not rotate): the same browser opening the link
    again gets the button, and its POST the same redirect, so the application does not stay
    mail-verified with its ticket held and no way to its form.  Any other browser, and this
    one once it has the form, gets "already used"."""
    srv, (t1, _) = portal_any
    inst = srv.inst
    s = session(srv)
    register(s, srv, t1[0])
    _, token = mail_link(wait_mail(inst)[-1])
    before = s.cookies.get("__Host-sid")  # an id seen before the link was opened
    page = s.get(srv.https + "/regist/verify?onetimetoken=" + token).text
    form = {"onetimetoken": token, "csrf": hidden(page, "csrf")}
    old_sid = s.cookies.get("__Host-sid")
    assert before and old_sid != before  # the button's page draws a session of its own
    # the POST whose answer never arrives (sent with the session's cookie, answer dropped)
    lost = requests.post(srv.https + "/regist/verify", data=form, allow_redirects=False,
                         cookies={"__Host-sid": old_sid}, verify=srv.cafile)
    assert lost.status_code == 303
    assert inst.sql("SELECT state FROM applications")[0][0] == "mail-verified"
    assert s.cookies.get("__Host-sid") == old_sid
    # another browser: used; and so for one holding the id from before the link was opened
    r = session(srv).get(srv.https + "/regist/verify?onetimetoken=" + token)
    assert r.status_code == 410 and "使用済み" in r.text
    r = requests.get(srv.https + "/regist/verify?onetimetoken=" + token,
                     cookies={"__Host-sid": before}, verify=srv.cafile)
    assert r.status_code == 410, r.text
    r = session(srv).post(srv.https + "/regist/verify", data=form, allow_redirects=False)
    assert r.status_code in (403, 410)
    # this browser: the button again, and the same redirect
    page = s.get(srv.https + "/regist/verify?onetimetoken=" + token).text
    assert hidden(page, "onetimetoken") == token
    r = s.post(srv.https + "/regist/verify", allow_redirects=False,
               data={"onetimetoken": token, "csrf": hidden(page, "csrf")})
    assert r.status_code == 303 and r.headers["Location"] == lost.headers["Location"]
    assert s.cookies.get("__Host-sid") != old_sid
    r = s.get(srv.https + r.headers["Location"])
    assert r.status_code == 200 and 'name="name_kanji"' in r.text
    # the form's session has moved on: the link is used for it too
    r = s.get(srv.https + "/regist/verify?onetimetoken=" + token)
    assert r.status_code == 410
    # and issued, the application is no longer waiting for its form: used for everyone
    page = s.get(srv.https + lost.headers["Location"]).text
    r = s.post(srv.https + "/issue/form", data=issue_fields(page))
    assert r.status_code == 200, r.text
    r = s.post(srv.https + "/issue/confirm", data=dict(confirm_fields(r.text),
                                                        action="submit"))
    assert r.status_code == 200 and 'id="pin"' in r.text
    r = requests.post(srv.https + "/regist/verify", data=form, allow_redirects=False,
                      cookies={"__Host-sid": old_sid}, verify=srv.cafile)
    assert r.status_code == 410
    assert count(inst, "applications") == 1
