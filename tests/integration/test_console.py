"""The RA officers' console, first slice: an officer enrolled by `shomei officer add` opens
the mailed certificate URL on the public listener, enters the access PIN, gets a PKCS#12 once,
and logs in to the console listener with that client certificate (requests, a real TLS client
certificate); the session, its end by logout, idleness or another certificate, the refusal
page of each certificate that is not an officer's, and the timestamp URL page checked with a
real `openssl ts` request.  Both store backends."""
import email
import email.policy
import glob
import html
import os
import re
import subprocess
import time

import pytest
import requests
import urllib3

from conftest import make_csr, openssl, start_server, stop_server

CONF = "test.instance = yes\nmail.from = ca@example.jp"
ORG_DOMAIN = "example.ac.jp"


def session(srv):
    s = requests.Session()
    s.trust_env = False
    s.verify = srv.cafile
    return s


def csrf_of(text):
    m = re.search(r'name="csrf" value="([^"]+)"', text)
    assert m, text
    return m.group(1)


def outbox(inst):
    return sorted(glob.glob(inst.path("outbox", "new", "*")))


def wait_mail_to(inst, addr, n=1, timeout=20):
    """The mails to addr in the outbox (the web process delivers them), at least n."""
    end = time.time() + timeout
    found = []
    while time.time() < end:
        found = []
        for p in outbox(inst):
            with open(p, "rb") as f:
                m = email.message_from_bytes(f.read(), policy=email.policy.default)
            if addr in str(m["To"]):
                found.append(m)
        if len(found) >= n:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no mail to {addr}: {outbox(inst)}")


def add_officer(inst, name, email_addr, *extra):
    out = inst.ok("officer", "add", "--name", name, "--email", email_addr, *extra)
    oid = int(re.search(r"^officer (\d+)$", out, re.M).group(1))
    pin = re.search(r"access PIN: (\S+)", out).group(1)
    return oid, pin


def enrol_url(m):
    body = m.get_content()
    urls = re.findall(r"https://\S+/officer/enrol/([A-Za-z0-9_-]+)", body)
    assert len(urls) == 2, body  # the Japanese and the English part
    assert urls[0] == urls[1]
    return urls[0]


def cert_count(inst):
    return len([l for l in inst.ok("cert", "list").splitlines() if l.strip()])


class Officer:
    """An officer's client certificate as files (cert, key) for requests."""

    def __init__(self, d, name, p12, pin):
        self.p12 = os.path.join(d, f"{name}.p12")
        with open(self.p12, "wb") as f:
            f.write(p12)
        self.pem = os.path.join(d, f"{name}.pem")
        openssl("pkcs12", "-in", self.p12, "-passin", f"pass:{pin}", "-nodes", "-out",
                self.pem)
        self.cert = (self.pem, self.pem)
        self.subject = openssl("x509", "-in", self.pem, "-noout", "-subject").stdout.decode()
        self.serial = openssl("x509", "-in", self.pem, "-noout",
                              "-serial").stdout.decode().split("=")[1].strip()


def enrol(srv, inst, tmp_path, name, email_addr, *extra):
    """officer add, the mailed URL, the access PIN, the PKCS#12 once: an Officer."""
    oid, pin = add_officer(inst, name, email_addr, *extra)
    tok = enrol_url(wait_mail_to(inst, email_addr)[-1])
    s = session(srv)
    url = f"{srv.https}/officer/enrol/{tok}"
    r = s.get(url)
    assert r.status_code == 200 and name in r.text, r.text
    r = s.post(url, data={"csrf": csrf_of(r.text), "pin": pin})
    assert r.status_code == 200, r.text
    p12pin = re.search(r'<code class="pin">([^<]+)</code>', r.text).group(1)
    r = s.post(f"{srv.https}/officer/download",
               data={"csrf": csrf_of(r.text), "dl": re.search(r'name="dl" value="([^"]+)"',
                                                            r.text).group(1)})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-pkcs12"
    o = Officer(str(tmp_path), f"officer{oid}", r.content, p12pin)
    o.id = oid
    return o


def login(srv, officer):
    """A console session of officer: (requests session, the menu page)."""
    s = session(srv)
    s.cert = officer.cert
    r = s.get(srv.console + "/")
    assert r.status_code == 200 and 'action="/login"' in r.text, r.text
    r = s.post(srv.console + "/login", data={"csrf": csrf_of(r.text)}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/", (r.status_code, r.text)
    r = s.get(srv.console + "/")
    assert r.status_code == 200 and 'action="/logout"' in r.text, r.text
    return s, r


def audit(inst):
    return inst.ok("audit", "list", "--limit", "1000")


def serve_console(inst):
    inst.ok("org", "add", "U01", "--name", "Example University", "--domain", ORG_DOMAIN)
    return start_server(inst, CONF)


@pytest.fixture
def console(ca):
    srv = serve_console(ca)
    yield srv, ca
    stop_server(srv)


@pytest.fixture
def console_sqlite(ca_sqlite):
    """The page rules are the same on both backends: the flow test covers PostgreSQL."""
    srv = serve_console(ca_sqlite)
    yield srv, ca_sqlite
    stop_server(srv)


def test_enrol_login_logout(console, tmp_path):
    srv, inst = console
    oid, pin = add_officer(inst, "Taro Yamada", "taro@example.ac.jp", "--org", "U01", "--perm",
                           "server,client,stats")
    m = wait_mail_to(inst, "taro@example.ac.jp")[0]
    assert "登録担当者用証明書発行受付通知" in str(m["Subject"])
    assert pin not in m.get_content()  # the access PIN travels out of band
    tok = enrol_url(m)
    s = session(srv)
    url = f"{srv.https}/officer/enrol/{tok}"
    r = s.get(url)
    assert r.status_code == 200 and "Taro Yamada" in r.text and "Example University" in r.text
    csrf = csrf_of(r.text)
    # the public listener never asks for a client certificate; the page needs the CSRF token
    assert s.post(url, data={"pin": pin}).status_code == 403
    r = s.post(url, data={"csrf": csrf, "pin": "AAAAAAAAAA"})
    assert r.status_code == 422 and re.search(r"残り回数: 4|Tries left: 4", r.text), r.text
    before = cert_count(inst)
    r = s.post(url, data={"csrf": csrf, "pin": pin})
    assert r.status_code == 200, r.text
    p12pin = re.search(r'<code class="pin">([^<]+)</code>', r.text).group(1)
    dl = re.search(r'name="dl" value="([^"]+)"', r.text).group(1)
    # a second press, Back or a retry: no second certificate
    r2 = s.post(url, data={"csrf": csrf, "pin": pin})
    assert r2.status_code == 410 and cert_count(inst) == before + 1, r2.text
    assert s.get(url).status_code == 410
    # the request log names the route, never the one-time URL's token
    with open(inst.path("serve.log"), encoding="utf-8", errors="replace") as f:
        log = f.read()
    assert "POST /officer/enrol/* 200" in log and tok not in log
    r = s.post(f"{srv.https}/officer/download", data={"csrf": csrf, "dl": dl})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-pkcs12"
    assert s.post(f"{srv.https}/officer/download",
                  data={"csrf": csrf, "dl": dl}).status_code == 410
    o = Officer(str(tmp_path), "taro", r.content, p12pin)
    assert "shomei RA officer" in o.subject and "Taro Yamada" in o.subject

    # the console: the TLS request names the officer CA; the certificate, then the button
    s, menu = login(srv, o)
    assert "Taro Yamada" in menu.text and 'href="/timestamp"' in menu.text
    a = audit(inst)
    assert re.search(rf"officer:{oid}\tconsole\.login\tofficer:{oid}\tserial={o.serial} "
                     r"first=1 address=127\.0\.0\.1", a), a
    # the timestamp URL page, checked with a real time-stamp request to the URL it shows
    r = s.get(srv.console + "/timestamp")
    assert r.status_code == 200
    tsa_url = re.search(r"<p><code>(http://[^<]+/tsa)</code></p>", r.text).group(1)
    chain = s.get(srv.console + "/timestamp/chain.pem")
    assert chain.status_code == 200 and chain.text.count("BEGIN CERTIFICATE") == 3
    assert chain.text.split("-----END CERTIFICATE-----")[0] in r.text.replace("\n", "\n")
    data = tmp_path / "file.txt"
    data.write_text("hello\n")
    chainf = tmp_path / "tsa-chain.pem"
    chainf.write_text(chain.text)
    tsq = tmp_path / "file.tsq"
    openssl("ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(tsq))
    # the page's URL is the CA's base_url; this instance serves it on its HTTP port
    tsr = requests.post(srv.http + "/tsa", data=tsq.read_bytes(),
                        headers={"Content-Type": "application/timestamp-query"})
    assert tsr.status_code == 200 and tsa_url.endswith("/tsa")
    (tmp_path / "file.tsr").write_bytes(tsr.content)
    v = openssl("ts", "-verify", "-in", str(tmp_path / "file.tsr"), "-data", str(data),
                "-CAfile", str(chainf))
    assert b"Verification: OK" in v.stdout, v

    # logout: the session ends (audited with the address), its cookie is worth nothing after
    old = dict(s.cookies)
    r = s.post(srv.console + "/logout", data={"csrf": csrf_of(menu.text)})
    assert r.status_code == 200 and 'action="/logout"' not in r.text
    a = audit(inst)
    assert re.search(rf"officer:{oid}\tconsole\.logout\tconsole\tclient=127\.0\.0\.1 "
                     "reason=logout", a), a
    s2 = session(srv)
    s2.cert = o.cert
    s2.cookies.update(old)
    r = s2.get(srv.console + "/")
    assert r.status_code == 200 and 'action="/login"' in r.text and "/timestamp" not in r.text
    assert s2.get(srv.console + "/timestamp").status_code == 200  # the login page again
    assert 'action="/logout"' not in s2.get(srv.console + "/timestamp").text
    inst.ok("audit", "verify")


def test_refusal_pages(console_sqlite, tmp_path):
    srv, inst = console_sqlite
    a = enrol(srv, inst, tmp_path, "Hanako Sato", "hanako@example.ac.jp", "--org", "U01")
    b = enrol(srv, inst, tmp_path, "Audit Person", "audit@example.ac.jp", "--role", "auditor")

    def page(cert, lang="ja"):
        s = session(srv)
        s.cert = cert
        r = s.get(srv.console + "/?lang=" + lang)
        r.page = html.unescape(r.text)
        return r

    # no certificate
    r = page(None)
    assert r.status_code == 403 and "ブラウザがクライアント証明書を提示しませんでした" in r.page
    r = page(None, "en")
    assert r.status_code == 403 and "did not present a client certificate" in r.page
    # a foreign CA's certificate
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(tmp_path / "fca.key"), "-out", str(tmp_path / "fca.pem"), "-subj",
            "/CN=Foreign CA", "-days", "30")
    csr, key = make_csr(tmp_path, subj="/CN=Mallory", name="foreign")
    openssl("x509", "-req", "-in", csr, "-CA", str(tmp_path / "fca.pem"), "-CAkey",
            str(tmp_path / "fca.key"), "-days", "30", "-out", str(tmp_path / "foreign.pem"))
    r = page((str(tmp_path / "foreign.pem"), key), "en")
    assert r.status_code == 403 and "not issued by this service's RA officer CA" in r.page
    assert "Mallory" in r.page
    # a personal (client) certificate of ours
    csr, key = make_csr(tmp_path, subj="/CN=Jiro", san="email:jiro@example.ac.jp",
                        name="personal")
    inst.ok("issue", "--profile", "client", "--csr", csr, "--out", str(tmp_path / "p.pem"))
    r = page((str(tmp_path / "p.pem"), key), "en")
    assert r.status_code == 403 and "personal certificate of this service" in r.page
    # an officer-profile certificate bound to no officer
    csr, key = make_csr(tmp_path, subj="/CN=Nobody", name="nobody")
    inst.ok("issue", "--profile", "officer", "--csr", csr, "--out", str(tmp_path / "n.pem"))
    r = page((str(tmp_path / "n.pem"), key), "en")
    assert r.status_code == 403 and "belongs to no registered officer" in r.page
    # a disabled officer
    inst.ok("officer", "disable", str(b.id))
    r = page(b.cert, "en")
    assert r.status_code == 403 and "officer account of this certificate is disabled" in r.page
    # a revoked officer certificate
    s, menu = login(srv, a)
    inst.ok("revoke", a.serial, "--reason", "keyCompromise")
    r = s.get(srv.console + "/?lang=en")
    assert r.status_code == 403 and "has been revoked" in r.text, r.text


def test_session_bound_to_certificate_and_idle(console_sqlite, tmp_path):
    srv, inst = console_sqlite
    a = enrol(srv, inst, tmp_path, "Hanako Sato", "hanako@example.ac.jp", "--org", "U01")
    b = enrol(srv, inst, tmp_path, "Ichiro Suzuki", "ichiro@example.ac.jp", "--org", "U01")
    s, _ = login(srv, a)
    # a's session cookie sent with b's certificate: the session ends
    s2 = session(srv)
    s2.cert = b.cert
    s2.cookies.update(dict(s.cookies))
    r = s2.get(srv.console + "/?lang=en")
    assert r.status_code == 200 and "presented another certificate" in r.text, r.text
    assert "Ichiro Suzuki" in r.text  # the login page of b
    r = s.get(srv.console + "/?lang=en")
    assert 'action="/login"' in r.text and "presented another certificate" in r.text, r.text
    assert re.search(rf"officer:{a.id}\tconsole\.logout\tconsole\tclient=127\.0\.0\.1 "
                     "reason=certificate", audit(inst))
    # idleness: the server's clock moved past console.idle_timeout
    s, _ = login(srv, a)
    cookies = dict(s.cookies)
    stop_server(srv)
    srv2 = start_server(inst, "test.clock_offset = 1000",
                        ports=(srv.http_port, srv.https_port, srv.console_port))
    try:
        s3 = session(srv2)
        s3.cert = a.cert
        s3.cookies.update(cookies)
        r = s3.get(srv2.console + "/?lang=en")
        assert r.status_code == 200 and "period without activity" in r.text, r.text
        assert re.search(rf"officer:{a.id}\tconsole\.timeout\tconsole\tclient=127\.0\.0\.1 "
                         "reason=timeout", audit(inst))
    finally:
        stop_server(srv2)
    inst.ok("audit", "verify")


def test_officer_renewal(console_sqlite, tmp_path):
    """30 days before the officer certificate ends, the schedule mails a renewal URL on the
    console listener; the current certificate (mTLS) takes the place of the access PIN; the
    first login with the new certificate revokes the old one (superseded)."""
    srv, inst = console_sqlite
    a = enrol(srv, inst, tmp_path, "Hanako Sato", "hanako@example.ac.jp", "--org", "U01")
    not_after = int(inst.sql(f"SELECT not_after FROM certificates WHERE serial = "
                             f"'{a.serial}'")[0][0])
    stop_server(srv)
    srv2 = start_server(inst, f"test.clock_offset = {not_after - int(time.time()) - 20 * 86400}",
                        ports=(srv.http_port, srv.https_port, srv.console_port))
    try:
        ms = wait_mail_to(inst, "hanako@example.ac.jp", n=2)
        body = ms[-1].get_content()
        tok = re.search(r"/officer/renew/([A-Za-z0-9_-]+)", body).group(1)
        url = f"{srv2.console}/officer/renew/{tok}"
        # the renewal URL on the public enrolment page: unknown there, also when posted
        # with a PIN (only the current certificate proves a renewal), nothing issued
        before = cert_count(inst)
        pub = session(srv2)
        assert pub.get(f"{srv2.https}/officer/enrol/{tok}").status_code == 404
        oid2, pin2 = add_officer(inst, "Jiro Ito", "jiro@example.ac.jp", "--org", "U01")
        # the CLI runs on the real clock, the server 300+ days ahead: move the link's end
        inst.sql(f"UPDATE officer_enrolments SET expires = expires + {not_after} "
                 f"WHERE officer_id = {oid2}")
        r = pub.get(f"{srv2.https}/officer/enrol/"
                    + enrol_url(wait_mail_to(inst, "jiro@example.ac.jp")[-1]))
        assert r.status_code == 200, r.text  # a page of this site whose form has a token
        r = pub.post(f"{srv2.https}/officer/enrol/{tok}",
                     data={"csrf": csrf_of(r.text), "pin": pin2})
        assert r.status_code == 404, r.text
        assert cert_count(inst) == before
        # without the current certificate: the refusal page, nothing issued
        anon = session(srv2)
        assert anon.get(url).status_code == 403
        s = session(srv2)
        s.cert = a.cert
        r = s.get(url)
        assert r.status_code == 200 and 'name="pin"' not in r.text, r.text
        before = cert_count(inst)
        r = s.post(url, data={"csrf": csrf_of(r.text)})
        assert r.status_code == 200, r.text
        p12pin = re.search(r'<code class="pin">([^<]+)</code>', r.text).group(1)
        dl = re.search(r'name="dl" value="([^"]+)"', r.text).group(1)
        assert s.post(url, data={"csrf": csrf_of(r.text)}).status_code == 410  # once
        assert cert_count(inst) == before + 1
        r = s.post(f"{srv2.console}/officer/download", data={"csrf": csrf_of(r.text), "dl": dl})
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-pkcs12"
        b = Officer(str(tmp_path), "renewed", r.content, p12pin)
        assert b.serial != a.serial
        # the old certificate still logs in until the new one is first used
        login(srv2, a)
        login(srv2, b)
        s3 = session(srv2)
        s3.cert = a.cert
        r = s3.get(srv2.console + "/?lang=en")
        assert r.status_code == 403 and "has been revoked" in r.text, r.text
    finally:
        stop_server(srv2)


def test_public_pages_have_their_own_site(console_sqlite, tmp_path):
    """The console's pages on the public listener (enrolment, pickup) are a site of their own
    (issue 13 review M2): their own session cookie, never the console's, and a secret of their
    own, so a CSRF token of a public page is refused by a console form and the converse, even
    sent with the session id it was made for under either cookie name."""
    srv, inst = console_sqlite
    a = enrol(srv, inst, tmp_path, "Hanako Sato", "hanako@example.ac.jp", "--org", "U01")
    oid, pin = add_officer(inst, "Jiro Ito", "jiro@example.ac.jp", "--org", "U01")
    url = f"{srv.https}/officer/enrol/" + enrol_url(wait_mail_to(inst, "jiro@example.ac.jp")[-1])
    pub = session(srv)
    r = pub.get(url)
    assert r.status_code == 200, r.text
    assert "__Host-console=" not in r.headers.get("Set-Cookie", "")
    assert set(pub.cookies.keys()) == {"__Host-console-pub"}, pub.cookies.keys()
    pub_sid, pub_csrf = pub.cookies["__Host-console-pub"], csrf_of(r.text)
    both = f"__Host-console={pub_sid}; __Host-console-pub={pub_sid}"
    # the public page's token on the console's login form: refused, nobody logged in
    s = session(srv)
    s.cert = a.cert
    r = s.post(srv.console + "/login", data={"csrf": pub_csrf}, headers={"Cookie": both},
               allow_redirects=False)
    assert r.status_code == 403, (r.status_code, r.text)
    assert "console.login" not in audit(inst)
    # the converse: a console session's token on the public enrolment form
    cs, menu = login(srv, a)
    con_sid, con_csrf = cs.cookies["__Host-console"], csrf_of(menu.text)
    r = session(srv).post(url, data={"csrf": con_csrf, "pin": "AAAAAAAAAA"},
                          headers={"Cookie": f"__Host-console={con_sid}; "
                                             f"__Host-console-pub={con_sid}"})
    assert r.status_code == 403, (r.status_code, r.text)
    # each token still works on its own site (a wrong PIN is told, the menu is shown)
    r = pub.post(url, data={"csrf": pub_csrf, "pin": "AAAAAAAAAA"})
    assert r.status_code == 422, r.text
    assert cs.get(srv.console + "/").status_code == 200
