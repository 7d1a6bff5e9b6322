"""The RA officers' console in a real headless Chromium with a real client certificate (issue
13, part 13, first slice).

An officer added by `shomei officer add` opens the mailed URL in Chromium on the public
listener, types the access PIN, presses the Issue button and saves the PKCS#12 with the
download button; the file is imported with the PIN from the page into the NSS database of a
second Chromium (pk12util, before it starts: Chromium reads the database at start-up), and a
machine policy (AutoSelectCertificateForUrls, /etc/chromium/policies/managed/, matching only
this test's console URL) makes it present that certificate without a dialog.  That browser
logs in, opens the timestamp URL page, switches to English and back, and logs out.  A third
Chromium without any client certificate gets the "no certificate" refusal page.  Screenshots
of every page go to tests/artifacts/screenshots/<test>/."""
import re
import time

from browser import auto_select_cert, tr
from conftest import openssl, start_server
from test_browser import stop
from test_console import CONF, ORG_DOMAIN, add_officer, enrol_url, wait_mail_to

NAME = "Taro Yamada"
EMAIL = "taro@" + ORG_DOMAIN


def assert_page(b, lang, title_msgid, status=200):
    assert b.html_lang() == lang, (b.html_lang(), b.driver.current_url)
    assert b.h1() == tr(lang, title_msgid), (b.h1(), b.driver.current_url, b.text())
    assert b.status() == status, (b.status(), b.driver.current_url)


def issuer_cn(inst):
    """The CN of the issuing CA (the issuer of officer certificates)."""
    subj = openssl("x509", "-in", inst.path("certs", "issuing.pem"), "-noout", "-subject",
                   "-nameopt", "multiline,utf8").stdout.decode()
    m = re.search(r"^\s*commonName\s*=\s*(.+)$", subj, re.M)
    assert m, subj
    return m.group(1).strip()


def enrol_in_browser(b, srv, inst, tok, pin, dl):
    """The mailed URL, the access PIN, the Issue button, the PIN of the PKCS#12 and the
    download button, all in Chromium: (the certificate's serial as the page shows it, path of
    the saved PKCS#12, its PIN)."""
    b.visit(f"{srv.https}/officer/enrol/{tok}", "enrol")
    assert_page(b, "ja", "Your RA officer certificate")
    assert NAME in b.text("main") and "Example University" in b.text("main")
    b.find("#pin").send_keys(pin)
    issue = b.find("form.regist button[type=submit]")
    assert issue.text == tr("ja", "Issue") == "発行", issue.text
    b.submit("form.regist button[type=submit]", "enrol-issued")
    assert_page(b, "ja", "Your RA officer certificate")
    p12pin = b.text("code.pin")
    serial = b.text("table.certs tr:first-child code")
    assert re.fullmatch(r"[0-9A-F]+", serial), serial
    assert re.fullmatch(r"\S{8,}", p12pin), p12pin
    button = "form[action='/officer/download'] button[type=submit]"
    assert b.text(button) == tr("ja", "Download the PKCS#12 file")
    data = b.download(button, str(dl), "officer.p12")
    b.shot("enrol-downloaded")
    assert b.find_all("code.pin"), "a download: the page stays"
    p12 = dl / "officer.p12"
    assert data == p12.read_bytes()
    # the file opens with the PIN of the page and holds the officer's certificate
    pem = openssl("pkcs12", "-in", str(p12), "-passin", f"pass:{p12pin}", "-nokeys",
                  "-clcerts").stdout.decode()
    subj = openssl("x509", "-noout", "-subject", input=pem.encode()).stdout.decode()
    assert "shomei RA officer" in subj and NAME in subj, subj
    return serial, str(p12), p12pin


def test_console_client_cert(ca_sqlite, browser, tmp_path):
    inst = ca_sqlite
    inst.ok("org", "add", "U01", "--name", "Example University", "--domain", ORG_DOMAIN)
    srv = start_server(inst, CONF)
    dl = tmp_path / "downloads"
    dl.mkdir()
    policy = None
    t0 = time.time()
    try:
        oid, pin = add_officer(inst, NAME, EMAIL, "--org", "U01", "--perm",
                               "server,client,stats")
        # (the browser starts while the web process delivers the mail)
        b = browser(srv.cafile, "ja", download_dir=str(dl))
        tok = enrol_url(wait_mail_to(inst, EMAIL)[0])

        # 1. enrolment on the public listener, in Chromium; then that browser is done
        serial, p12, p12pin = enrol_in_browser(b, srv, inst, tok, pin, dl)
        b.quit()
        t_enrol = time.time()

        # 2. the policy for exactly this console's URL, then a Chromium with the certificate
        policy = auto_select_cert(srv.console, issuer_cn(inst))
        c = browser(srv.cafile, "ja", client_p12=(p12, p12pin))

        # 3. the console: login page, login, menu, timestamp page, English and back, logout
        c.visit(srv.console + "/", "console-login")
        assert_page(c, "ja", "Log in to the RA officer console")
        main = c.text("main")
        assert NAME in main and "shomei RA officer" in main, main
        assert c.find_all("form.logout") == []
        login = c.find("form[action='/login'] button[type=submit]")
        assert login.text == tr("ja", "Log in") == "ログイン", login.text
        c.submit("form[action='/login'] button[type=submit]", "console-menu")
        assert c.driver.current_url == srv.console + "/", c.driver.current_url
        assert_page(c, "ja", "Menu")
        assert NAME in c.text("header p.who"), c.text("header p.who")
        entry = c.find("ul.menu a[href='/timestamp']")
        assert entry.text == tr("ja", "Timestamp URL"), entry.text
        c.submit("ul.menu a[href='/timestamp']", "console-timestamp")
        assert_page(c, "ja", "Timestamp URL")
        assert c.text("main code").endswith("/tsa"), c.text("main code")
        assert c.text("main pre").count("BEGIN CERTIFICATE") == 3
        assert NAME in c.text("header p.who")

        c.submit("nav.lang a[hreflang=en]", "console-timestamp-en")
        assert_page(c, "en", "Timestamp URL")
        assert NAME in c.text("header p.who")
        assert c.text("form.logout button") == "Log out"
        c.submit("nav.lang a[hreflang=ja]", "console-timestamp-ja")
        assert_page(c, "ja", "Timestamp URL")

        logout = c.find("form.logout button[type=submit]")
        assert logout.text == tr("ja", "Log out"), logout.text
        c.submit("form.logout button[type=submit]", "console-logged-out")
        assert_page(c, "ja", "Logged out")
        assert c.find_all("form.logout") == [] and NAME not in c.text("header")
        assert tr("ja", "You have logged out of the RA officer console.") in c.text("main")
        c.visit(srv.console + "/", "console-login-again")
        assert_page(c, "ja", "Log in to the RA officer console")
        assert NAME in c.text("main")
        assert c.find_all("form.logout") == [] and c.find_all("a[href='/timestamp']") == []
        audit = inst.ok("audit", "list", "--limit", "1000")
        # the certificate Chromium presented is the one issued on the enrolment page
        assert re.search(rf"officer:{oid}\tconsole\.login\tofficer:{oid}\tserial={serial} ",
                         audit), audit
        assert re.search(rf"officer:{oid}\tconsole\.logout\tconsole\t.*reason=logout", audit)
        c.quit()
        t_console = time.time()

        # 4. a Chromium without any client certificate: the refusal page
        n = browser(srv.cafile, "ja")
        n.visit(srv.console + "/", "console-no-certificate")
        assert_page(n, "ja", "No certificate", 403)
        assert "ブラウザがクライアント証明書を提示しませんでした" in n.text("main"), n.text("main")
        assert n.find_all("form[action='/login']") == []
        print(f"console walk: enrolment {t_enrol - t0:.1f}s, console {t_console - t_enrol:.1f}s, "
              f"refusal {time.time() - t_console:.1f}s")
    finally:
        try:
            if policy is not None:
                policy.remove()
        finally:
            stop(srv, browser)
