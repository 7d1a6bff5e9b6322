"""Every menu item of the console in a real headless Chromium with real client certificates
(issue 13 parts 3 and 13): an RA officer with every permission and a CA operator log in, open
each link of their menu in Japanese and in English, and log out.

One Chromium holds both PKCS#12 files (issued through the mailed URL and the access PIN); a
machine policy (AutoSelectCertificateForUrls, matching only this test's port) presents the
officer's certificate at https://localhost:PORT and the operator's at https://127.0.0.1:PORT
(the console's TLS certificate names both), so one browser walks both roles with a session
each.  Every page answers 200 with the page language asked for; the Japanese page shows the
translation of its English title (po/ja.po) and no English text that has a translation (the
<title>, the headings, the menu and the main text checked line by line).  A file of the menu
(the allow-list TSV of an officer) is fetched by the page itself: 200 and its type.  A few
seconds of browser time; the enrolment in Chromium is test_console_browser.py's."""
import re
import time
import urllib.parse

from browser import auto_select_certs, po_read, tr
from conftest import openssl, start_server
from test_browser import stop
from test_console import CONF, ORG_DOMAIN
from test_console_routes import ALL_PERMS, enrol_all


def cn_of(pem):
    subj = openssl("x509", "-in", pem, "-noout", "-subject", "-nameopt",
                   "multiline,utf8").stdout.decode()
    m = re.search(r"^\s*commonName\s*=\s*(.+)$", subj, re.M)
    assert m, subj
    return m.group(1).strip()


FETCH = ("const cb = arguments[arguments.length - 1];"
         "fetch(arguments[0], {credentials: 'same-origin'})"
         ".then(r => cb([r.status, r.headers.get('content-type') || '']))"
         ".catch(e => cb([0, String(e)]));")


class Po:
    """English text -> Japanese translation, for the strings po/ja.po translates."""

    def __init__(self):
        ja, en = po_read("ja"), po_read("en")
        self.ja = {}
        for msgid, s in ja.items():
            if not msgid or not s or s == msgid:
                continue
            self.ja[msgid] = s
            if en.get(msgid):
                self.ja[en[msgid]] = s

    def untranslated(self, texts):
        """The texts (lines) that are English strings with a Japanese translation."""
        return [t for t in texts if t.strip() in self.ja]


def page_texts(b):
    """The <title> parts, the headings, the menu and the lines of the main text."""
    out = [p.strip() for p in b.driver.title.split("|")]
    for css in ("h1", "h2", "ul.menu a", "main label", "main button", "main th"):
        out += [e.text for e in b.find_all(css)]
    out += b.text("main").splitlines()
    return [t for t in out if t.strip()]


def walk(b, base, who, lang, po, titles):
    """Opens the menu at base in lang and every link in it; returns the menu's paths."""
    b.visit(f"{base}/?lang={lang}", f"{who}-menu-{lang}")
    if b.find_all("form[action='/login']"):
        b.submit("form[action='/login'] button[type=submit]", f"{who}-menu-{lang}")
    assert b.status() == 200 and b.html_lang() == lang, (b.status(), b.html_lang())
    assert b.h1() == (tr(lang, "Menu") if lang == "ja" else "Menu"), b.h1()
    links = [(a.get_attribute("href"), a.text) for a in b.find_all("ul.menu:first-of-type a")]
    assert links, b.text("main")
    if lang == "ja":
        bad = po.untranslated(page_texts(b))
        assert not bad, (who, "menu", bad)
    paths = []
    for href, label in links:
        u = urllib.parse.urlsplit(href)
        assert f"{u.scheme}://{u.netloc}" == base, href
        path = u.path + ("?" + u.query if u.query else "")
        paths.append(path)
        if u.path.endswith(".tsv"):
            # a file for an officer, the page choosing an organization's for an operator
            status, ctype = b.driver.execute_async_script(FETCH, href)
            assert status == 200, (who, path, status, ctype)
            if ctype.startswith("text/tab-separated-values"):
                continue
            assert ctype.startswith("text/html"), (who, path, ctype)
        b.driver.get(href)
        b.wait(b.loaded, f"{path} to load")
        if lang == "ja":
            b.shot(f"{who}-{path}-{lang}")
        assert b.status() == 200, (who, lang, path, b.status(), b.text("main")[:500])
        assert b.html_lang() == lang, (who, path, b.html_lang())
        title = b.driver.title.split(" | ")[0].strip()
        assert title and title == b.h1(), (who, lang, path, b.driver.title, b.h1())
        titles[(who, path, lang)] = title
        if lang == "ja":
            bad = po.untranslated(page_texts(b))
            assert not bad, (who, path, "English left on the Japanese page", bad)
    return paths


def test_console_menu_walk(ca_sqlite, browser, tmp_path):
    inst = ca_sqlite
    inst.ok("org", "add", "U01", "--name", "Example University", "--domain", ORG_DOMAIN)
    srv = start_server(inst, CONF)
    policy = None
    t0 = time.time()
    try:
        ra, op = enrol_all(srv, inst, tmp_path, [
            ("Hanako Sato", "hanako@" + ORG_DOMAIN, "--org", "U01", "--perm",
             ",".join(ALL_PERMS)),
            ("Kenji Operator", "op@example.jp", "--role", "operator")])
        sites = {"officer": f"https://localhost:{srv.console_port}",
                 "operator": f"https://127.0.0.1:{srv.console_port}"}
        policy = auto_select_certs([(sites["officer"], {"SUBJECT": {"CN": cn_of(ra.pem)}}),
                                    (sites["operator"], {"SUBJECT": {"CN": cn_of(op.pem)}})])
        b = browser(srv.cafile, "ja", client_p12=[(ra.p12, ra.p12pin), (op.p12, op.p12pin)])
        t1 = time.time()
        po = Po()
        titles = {}
        for who, base in sites.items():
            ja = walk(b, base, who, "ja", po, titles)
            en = walk(b, base, who, "en", po, titles)
            assert ja == en, (who, ja, en)
            assert b.text("header p.who").find(
                "Hanako Sato" if who == "officer" else "Kenji Operator") >= 0
            # the Japanese title of each page is the translation of its English one
            for path in ja:
                t_en, t_ja = titles.get((who, path, "en")), titles.get((who, path, "ja"))
                if t_en in po.ja:
                    assert t_ja == po.ja[t_en], (who, path, t_en, t_ja)
            b.submit("form.logout button[type=submit]", f"{who}-logged-out")
            assert b.h1() == "Logged out" and b.find_all("form.logout") == []
            b.visit(base + "/?lang=ja", f"{who}-after-logout")
            assert b.find_all("form[action='/login']") and not b.find_all("ul.menu")
        # what each role's menu holds
        officer = {p for (w, p, l) in titles if w == "officer"}
        operator = {p for (w, p, l) in titles if w == "operator"}
        assert {"/certs?kind=server", "/certs?kind=client", "/certs?kind=codesign",
                "/stats", "/timestamp", "/admins"} <= officer, officer
        assert not any(p.startswith("/operator/") for p in officer), officer
        assert {"/operator/officers", "/operator/orgs", "/operator/allowlist", "/audit",
                "/stats", "/allowlist.tsv"} <= operator, operator
        print(f"menu walk: setup {t1 - t0:.1f}s, browser {time.time() - t1:.1f}s, "
              f"{len(titles)} pages")
    finally:
        try:
            if policy is not None:
                policy.remove()
        finally:
            stop(srv, browser)
