"""Applicant portal, first slice: registration up to the mailed one-time link.

Drives the real server over HTTPS with a requests Session (cookies, CSRF tokens), with the
test-only predictable CAPTCHA answer (test.instance = yes, loopback listeners).  The expired
link uses the test hook test.clock_offset (seconds added to the web process's clock, honoured
only with test.instance = yes): the server is restarted with the clock three days ahead."""
import email
import email.policy
import glob
import html
import re
import time

import pytest
import requests

from conftest import start_server, stop_server

ANSWER = "ABCDEF"
CONF = ("test.instance = yes\ntest.captcha_answer = ABCDEF\nmail.from = ca@example.jp\n"
        "mail.from_name = shomei CA\nportal.step1_rate = 1000")
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
    assert re.match(r"sid=[A-Za-z0-9_-]{43};", cookie)
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in cookie
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
    # the link verifies once
    r = session(srv).get(srv.https + "/regist/verify?onetimetoken=" + token)
    assert r.status_code == 200 and "メールアドレスの確認が完了しました" in r.text
    assert "確認メール受信" in r.text
    assert inst.sql("SELECT state FROM applications")[0][0] == "mail-verified"
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
