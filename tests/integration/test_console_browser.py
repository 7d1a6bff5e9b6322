"""The RA officers' console in a real headless Chromium with real client certificates (issue
13, part 13): one walk, two Chromium sessions.

The first Chromium enrols an officer with every permission: the mailed URL on the public
listener, the access PIN, the Issue button, the PKCS#12 saved with the download button (its PIN
from the page); holding no client certificate, it then gets the console's "no certificate"
refusal page.  A CA operator is enrolled over HTTP meanwhile.

Both PKCS#12 files go into the NSS database of the second Chromium (pk12util, before it starts:
Chromium reads the database at start-up); a machine policy (AutoSelectCertificateForUrls under
/etc/chromium/policies/managed/, matching only this test's port) presents the officer's
certificate at https://localhost:PORT and the operator's at https://127.0.0.1:PORT (the console's
TLS certificate names both), so one browser holds a session of each role.  The officer logs in
(the audit names the serial issued on the enrolment page), opens the timestamp URL page,
switches to English and back, and opens every menu link in Japanese and in English: every page
answers 200 in the language asked for, its title is its <h1>, the Japanese page shows the
translation of its English title (po/ja.po) and no English text that has a translation.  Then,
in Japanese, through the forms: a server certificate from a CSR file chosen in the file input, a
client certificate with a key made by the CA (the access PIN on the printable page; the holder's
mailed URL opened in the same browser, the PIN typed, the PKCS#12 saved and opened with it) and
a code-signing certificate from a CSR pasted into the text area, each result page showing the
serial that the console's list then holds; a Shift_JIS UPKI file with a bad line (its dry run
names the line and column in Japanese, no commit), then a good one (dry run OK, commit, the job
page refreshing itself until the result table, the result TSV saved); a client file with a
download method 2 line (the ZIP's password waits on the result page, reloaded, until its
button's POST shows it once; the page opened again says it was shown); the 46-column server
download saved by the browser (header row, the serials issued above); the statistics page's SVG
chart, drawn and matching the table.  The officer logs out (audited); the operator walks the
menu in both languages and logs out.  Screenshots of every page go to
tests/artifacts/screenshots/<test>/."""
import re
import threading
import time
import urllib.parse

from browser import auto_select_certs, po_read, tr
from conftest import make_csr, openssl, start_server
from test_browser import assert_page, stop
from test_console import CONF, ORG_DOMAIN, Officer, add_officer, enrol_url, wait_mail_to
from test_console_bulk import cp932, issue_line
from test_console_client import client_line, urls
from test_console_routes import ALL_PERMS, enrol_all

NAME = "Hanako Sato"
EMAIL = "hanako@" + ORG_DOMAIN
OPERATOR = "Kenji Operator"
# a bulk job slowed to show its refreshing page in the browser (a TEST setting); a file of
# more lines than the console waits for before answering (src/console/bulk.c,
# BULK_JOB_INLINE_LINES), so that its commit goes to the job's page at once
SLOW = CONF + "\ntest.bulk_line_delay_ms = 20\n"
BULK_LINES = 51
UPKI_SERIAL = 23  # the serial's column (0-based) in the 46-column download


def cn_of(pem):
    subj = openssl("x509", "-in", pem, "-noout", "-subject", "-nameopt",
                   "multiline,utf8").stdout.decode()
    m = re.search(r"^\s*commonName\s*=\s*(.+)$", subj, re.M)
    assert m, subj
    return m.group(1).strip()


def enrol_in_browser(b, srv, tok, pin, dl):
    """The mailed URL, the access PIN, the Issue button, the PIN of the PKCS#12 and the
    download button, all in Chromium: (the certificate's serial as the page shows it, the
    PKCS#12 bytes saved, its PIN)."""
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
    assert data == (dl / "officer.p12").read_bytes()
    return serial, data, p12pin


FETCH = ("const cb = arguments[arguments.length - 1];"
         "fetch(arguments[0], {credentials: 'same-origin'})"
         ".then(r => cb([r.status, r.headers.get('content-type') || '']))"
         ".catch(e => cb([0, String(e)]));")

# the <title> parts, the headings, the menu, the labels, buttons, table headings and the lines
# of the main text, read in one script (one WebDriver round trip per page)
TEXTS = ("const out = document.title.split('|').map(s => s.trim());"
         "for (const css of ['h1', 'h2', 'ul.menu a', 'main label', 'main button', 'main th'])"
         "  for (const e of document.querySelectorAll(css)) out.push(e.innerText);"
         "const m = document.querySelector('main');"
         "if (m) out.push(...m.innerText.split('\\n'));"
         "return out.filter(t => t.trim());")


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

    def untranslated(self, b):
        """The texts of the page that are English strings with a Japanese translation."""
        return [t for t in b.driver.execute_script(TEXTS) if t.strip() in self.ja]


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
        bad = po.untranslated(b)
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
        p = b.loaded_page(f"{path} to load")
        if lang == "ja":
            b.shot(f"{who}-{path}-{lang}")
        assert p["status"] == 200, (who, lang, path, p, b.text("main")[:500])
        assert p["lang"] == lang, (who, path, p)
        title = p["title"].split(" | ")[0].strip()
        assert title and title == p["h1"], (who, lang, path, p)
        titles[(who, path, lang)] = title
        if lang == "ja":
            bad = po.untranslated(b)
            assert not bad, (who, path, "English left on the Japanese page", bad)
    return paths


def walk_both(b, base, who, po, titles):
    """The menu in Japanese and in English: the same links, each Japanese title the
    translation of its English one."""
    ja = walk(b, base, who, "ja", po, titles)
    en = walk(b, base, who, "en", po, titles)
    assert ja == en, (who, ja, en)
    for path in ja:
        t_en, t_ja = titles.get((who, path, "en")), titles.get((who, path, "ja"))
        if t_en in po.ja:
            assert t_ja == po.ja[t_en], (who, path, t_en, t_ja)


def console_login(c, srv):
    """The login page (the certificate Chromium presents named), the Log in button, the
    menu; the timestamp URL page, in English and back."""
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


def fill(c, values):
    """Types each value into the empty field at its selector (a new form's)."""
    for css, v in values.items():
        c.find(css).send_keys(v)


ADMIN = {"#admin_name": "山田 花子", "#admin_unit": "情報基盤センター",
         "#admin_email": "admin@" + ORG_DOMAIN}


def issued(c, kind, name):
    """The result page of an issuance: its serial, then found in the console's list."""
    assert c.status() == 201 and c.html_lang() == "ja", (c.status(), c.text("main")[:2000])
    assert tr("ja", "The certificate has been issued.") in c.text("main"), c.text("main")
    serial = c.find("table.certs a[href^='/certs/view'] code").text
    assert re.fullmatch(r"[0-9A-F]+", serial), serial
    c.submit(f"main a[href='/certs?kind={kind}']", f"{name}-list")
    assert c.status() == 200 and c.html_lang() == "ja"
    listed = [e.text for e in c.find_all("table.certs td a[href^='/certs/view'] code")]
    assert serial in listed, (kind, serial, listed)
    return serial


def issue_each_kind(c, srv, tmp_path, dl, inst):
    """A server certificate (the CSR file chosen in the file input), a client certificate
    with a key made by the CA (PIN shown; the holder's URL, the PIN, the PKCS#12 saved) and a
    code-signing certificate (the CSR pasted): their serials."""
    out = {}
    csr, _ = make_csr(tmp_path, subj="/CN=www." + ORG_DOMAIN, san="DNS:www." + ORG_DOMAIN,
                      name="www")
    c.visit(srv.console + "/certs/new?kind=server&lang=ja", "server-new")
    assert c.status() == 200 and c.html_lang() == "ja"
    c.find("#csrfile").send_keys(csr)
    fill(c, dict(ADMIN, **{"#software": "nginx1.24"}))
    c.submit("form[action='/certs/new'] button[type=submit]", "server-issued")
    out["server"] = issued(c, "server", "server")

    c.visit(srv.console + "/certs/new?kind=client", "client-new")
    c.find("input[name=delivery][value=pin_shown]").click()
    holder = "ichiro@" + ORG_DOMAIN
    fill(c, dict(ADMIN, **{"#holder_name": "Ichiro Suzuki", "#holder_unit": "Lab",
                           "#holder_email": holder}))
    c.submit("form[action='/certs/new'] button[type=submit]", "client-issued")
    assert c.status() == 201 and c.html_lang() == "ja", c.text("main")[:2000]
    assert c.find_all("div.pin-sheet"), c.text("main")
    pin = c.text("code.pin")
    serial = c.text("div.pin-sheet table.certs code:not(.pin)")
    assert re.fullmatch(r"[0-9A-F]+", serial) and len(pin) == 12, (serial, pin)
    c.submit("main a[href='/certs?kind=client']", "client-list")
    assert serial in [e.text for e in c.find_all("table.certs td a code")]
    out["client"] = serial
    # the holder: the mailed URL (public listener, no client certificate asked), the PIN
    m = wait_mail_to(inst, holder)[-1]
    assert pin not in m.get_content() and serial in m.get_content()
    c.visit(f"{srv.https}/client/{urls(m, '')[0]}", "holder-page")
    assert c.status() == 200 and serial in c.text("main")
    c.find("#pin").send_keys(pin)
    p12 = c.download("form.regist button[type=submit]", str(dl), f"{serial}.p12")
    pem = openssl("pkcs12", "-in", str(dl / f"{serial}.p12"), "-passin", f"pass:{pin}",
                  "-nodes").stdout.decode()
    assert p12 and "PRIVATE KEY" in pem and "Ichiro Suzuki" in pem, pem

    csr, _ = make_csr(tmp_path, subj="/CN=Example University", name="sign")
    c.visit(srv.console + "/certs/new?kind=codesign", "codesign-new")
    with open(csr) as f:
        c.find("#csr").send_keys(f.read())
    fill(c, ADMIN)
    c.submit("form[action='/certs/new'] button[type=submit]", "codesign-issued")
    out["codesign"] = issued(c, "codesign", "codesign")
    return out


def bulk_rows(c):
    """The result table: [(line, result, serial, column, code, reason)], read in one script."""
    return [tuple(r) for r in c.driver.execute_script(
        "return [...document.querySelectorAll('table.certs tr')]"
        ".map(tr => [...tr.querySelectorAll('td')].slice(0, 6).map(td => td.innerText))"
        ".filter(r => r.length);")]


def bulk(c, srv, tmp_path, dl):
    """A file with a bad line (its dry run), then a good one committed: its serials."""
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(cp932([issue_line("b1." + ORG_DOMAIN),
                           issue_line("b2." + ORG_DOMAIN, admin="nope"),
                           issue_line("b3." + ORG_DOMAIN)]))
    c.visit(srv.console + "/bulk?kind=server", None)
    assert c.status() == 200 and c.html_lang() == "ja"
    c.find("#file").send_keys(str(bad))
    c.submit("form[action='/bulk'] button[type=submit]", "bulk-dry-run-bad")
    assert c.status() == 200 and c.html_lang() == "ja", c.text("main")[:2000]
    assert "CP932" in c.text("main")
    t = bulk_rows(c)
    assert [x[0] for x in t] == ["1", "2", "3"], t
    assert [x[1] for x in t] == ["OK", "NG", "OK"], t
    # the column and the reason in Japanese, the checker's detail after it
    assert t[1][3] == "利用管理者メールアドレス" and t[1][4] == "email", t
    assert t[1][5].startswith(tr("ja", "Not a valid e-mail address") + ": "), t
    assert c.find_all("form[action='/bulk/commit']") == []
    assert tr("ja", "Nothing can be committed: correct the file and upload it again.") \
        in c.text("main")

    names = [f"w{i}.{ORG_DOMAIN}" for i in range(1, BULK_LINES + 1)]
    good = tmp_path / "good.tsv"
    good.write_bytes(cp932([issue_line(n, admin=f"admin{i % 3}@{ORG_DOMAIN}",
                                       dns=f"dNSName={n}") for i, n in enumerate(names)]))
    c.submit("main a[href='/bulk?kind=server']", None)
    c.find("#file").send_keys(str(good))
    c.submit("form[action='/bulk'] button[type=submit]", "bulk-dry-run-good")
    assert tr("ja", "Dry run: the file was checked, nothing was done yet.") in c.text("main")
    assert [x[1] for x in bulk_rows(c)] == ["OK"] * BULK_LINES
    # the commit: the job's page refreshes itself (meta refresh, no script) until the result
    c.submit("form[action='/bulk/commit'] button[type=submit]", "bulk-job")
    assert c.driver.current_url.startswith(srv.console + "/bulk/job?id="), c.driver.current_url
    assert c.find_all("meta[http-equiv=refresh]") and c.find_all("span.progress"), \
        c.text("main")
    # each document loaded (its timeOrigin) with the progress it showed; the test itself
    # navigates no more: every later document came from the page's own refresh
    seen = {}

    def done():
        origin, progress, text = c.driver.execute_script(
            "const p = document.querySelector('span.progress'),"
            " m = document.querySelector('main');"
            "return [performance.timeOrigin, p ? p.textContent : null,"
            " m ? m.innerText : ''];")
        seen.setdefault(origin, progress)
        return tr("ja", "The file was committed.") in text

    c.wait(done, "the bulk job's result page", timeout=120)
    c.shot("bulk-committed")
    assert c.find_all("meta[http-equiv=refresh]") == []
    assert len(seen) >= 2 and list(seen.values())[0], seen  # refreshed by itself
    t = bulk_rows(c)
    assert [x[1] for x in t] == ["OK"] * BULK_LINES, t
    serials = [x[2] for x in t]
    assert all(re.fullmatch(r"[0-9A-F]+", s) for s in serials), t
    data = c.download("form[action='/bulk/result.tsv'] button[type=submit]", str(dl),
                      "shomei-bulk-result.tsv").decode()
    lines = data.splitlines()
    assert lines[0].startswith("line\tresult\tserial"), data
    assert [l.split("\t")[2] for l in lines[1:]] == serials, data
    return serials


def bulk_client_zip(c, srv, tmp_path):
    """A client file with a download method 2 line: the result page (a GET, reloaded) says the
    ZIP's password waits; its button (a POST with the page's CSRF token) shows it once; the
    page opened again says when it was shown, without it."""
    f = tmp_path / "client.tsv"
    f.write_bytes(cp932([client_line("Jiro Tanaka", 2, "jiro@" + ORG_DOMAIN)]))
    c.visit(srv.console + "/bulk?kind=client", None)
    c.find("#file").send_keys(str(f))
    c.submit("form[action='/bulk'] button[type=submit]", None)
    assert [x[1] for x in bulk_rows(c)] == ["OK"], c.text("main")[:2000]
    c.submit("form[action='/bulk/commit'] button[type=submit]", None)
    c.wait(lambda: tr("ja", "The file was committed.") in c.text("main"), "the client job's result")
    job = c.driver.current_url
    assert job.startswith(srv.console + "/bulk/job?id="), job
    c.visit(job, "bulk-zip-waiting")  # a reload: still waiting
    assert c.find_all("code.pin") == [], c.text("main")
    assert tr("ja", "The passwords of the ZIP files made are waiting. They are shown once, when "
              "you press the button, and then erased.") in c.text("main"), c.text("main")
    button = "form[action='/bulk/job/keys'] button[type=submit]"
    assert c.text(button) == tr("ja", "Show the passwords"), c.text(button)
    c.submit(button, "bulk-zip-shown")
    assert c.status() == 200 and c.html_lang() == "ja"
    pw = c.text("div.pin-sheet code.pin")
    assert len(pw) >= 12, pw
    t = bulk_rows(c)  # the ZIP's row (administrator, certificates, password), the line's
    assert t[0][:3] == ("admin@example.ac.jp", "1", pw) and [x[1] for x in t[1:]] == ["OK"], t
    c.visit(job, "bulk-zip-shown-before")
    assert c.find_all("code.pin") == [] and c.find_all(button) == [], c.text("main")
    assert pw not in c.text("main")
    assert tr("ja", "The ZIP passwords of this commit were shown once and are not kept.") \
        in c.text("main"), c.text("main")


def download_upki(c, srv, dl, serials):
    """The server certificates in the 46-column layout, saved by the browser."""
    c.visit(srv.console + "/?lang=ja", None)
    c.submit("ul.menu a[href='/download?kind=server']", None)
    assert c.status() == 200 and c.html_lang() == "ja"
    c.select("#format").select_by_value("upki")
    raw = c.download("form[action='/download'] button[type=submit]", str(dl),
                     "shomei-server-upki.tsv")
    body = raw.decode("cp932")
    assert body.endswith("\r\n") and "\n" not in body.replace("\r\n", ""), body[:500]
    rows = [l.split("\t") for l in body.split("\r\n")[:-1]]
    assert all(len(r) == 46 for r in rows), [len(r) for r in rows]
    assert "利用管理者メールアドレス" in rows[0] and "アクセスPIN" in rows[0], rows[0]
    assert sorted(r[UPKI_SERIAL] for r in rows[1:]) == sorted(serials), rows
    return rows


CHART = ("const s = document.querySelector('svg.chart');"
         "if (!s) return null;"
         "const r = s.getBoundingClientRect();"
         "return {w: r.width, h: r.height, max: s.querySelector('text.axis-label').textContent,"
         " bars: [...s.querySelectorAll('rect')].map(b => {"
         "  const q = b.getBoundingClientRect();"
         "  return [b.getAttribute('class'), b.querySelector('title').textContent, q.width,"
         "          q.height]; })};")


def statistics(c, srv, expect):
    """The SVG chart: drawn (a size, bars of a size), its numbers those of the table's
    organization totals."""
    c.visit(srv.console + "/?lang=ja", None)
    c.submit("ul.menu a[href='/stats']", "stats")
    assert c.status() == 200 and c.html_lang() == "ja"
    chart = c.driver.execute_script(CHART)
    assert chart and chart["w"] > 100 and chart["h"] > 50, chart
    month = time.strftime("%Y-%m", time.gmtime())
    bars = {}
    for cls, title, w, h in chart["bars"]:
        m = re.fullmatch(r"(\d{4}-\d\d) (\w+): (\d+)", title)
        assert m and cls == "bar-" + m.group(2) and w > 0 and h > 0, (cls, title, w, h)
        bars[(m.group(1), m.group(2))] = (int(m.group(3)), h)
    # the organization's total row per month and profile (every certificate once)
    totals = {}
    for tr_ in c.find_all("table.stats tr.total"):
        td = [x.text for x in tr_.find_elements("css selector", "td")]
        totals[(td[2], td[3])] = int(td[4])
    assert {k: v for k, v in totals.items() if v} == {k: n for k, (n, h) in bars.items()}, \
        (totals, bars)
    for profile, n in expect.items():
        assert bars[(month, profile)][0] == n, (profile, bars)
    # bar heights in proportion to the numbers; the axis names the tallest month's sum
    top = sum(n for (mo, p), (n, h) in bars.items() if mo == month)
    assert int(chart["max"]) == top, chart["max"]
    ratio = [h / n for n, h in bars.values()]
    assert max(ratio) - min(ratio) < 0.5, bars


def test_console_walk(ca_sqlite, browser, tmp_path):
    inst = ca_sqlite
    inst.ok("org", "add", "U01", "--name", "Example University", "--domain", ORG_DOMAIN)
    srv = start_server(inst, SLOW)
    dl = tmp_path / "downloads"
    dl.mkdir()
    policy = None
    t0 = time.time()
    try:
        oid, pin = add_officer(inst, NAME, EMAIL, "--org", "U01", "--perm", ",".join(ALL_PERMS))
        # the operator enrolled over HTTP meanwhile, and the browser starts while the web
        # process delivers the mail
        ops = []
        th = threading.Thread(target=lambda: ops.extend(enrol_all(
            srv, inst, tmp_path, [(OPERATOR, "op@example.jp", "--role", "operator")])))
        th.start()
        b = browser(srv.cafile, "ja", download_dir=str(dl))
        tok = enrol_url(wait_mail_to(inst, EMAIL)[0])

        # 1. enrolment on the public listener, in Chromium
        serial, p12, p12pin = enrol_in_browser(b, srv, tok, pin, dl)
        ra = Officer(str(tmp_path), "browser-officer", p12, p12pin)
        subj = openssl("x509", "-in", ra.pem, "-noout", "-subject").stdout.decode()
        assert "shomei RA officer" in subj and NAME in subj, subj
        assert ra.serial == serial, (ra.serial, serial)
        # the same Chromium holds no client certificate: the console's refusal page
        b.visit(srv.console + "/", "console-no-certificate")
        assert_page(b, "ja", "No certificate", 403)
        assert "ブラウザがクライアント証明書を提示しませんでした" in b.text("main"), b.text("main")
        assert b.find_all("form[action='/login']") == []
        b.quit()
        th.join()
        assert len(ops) == 1, "the operator's enrolment failed (its error above)"
        op = ops[0]
        t_enrol = time.time()

        # 2. one Chromium with both certificates, each presented at its own origin
        sites = {"officer": f"https://localhost:{srv.console_port}",
                 "operator": f"https://127.0.0.1:{srv.console_port}"}
        assert sites["officer"] == srv.console
        policy = auto_select_certs([(sites["officer"], {"SUBJECT": {"CN": cn_of(ra.pem)}}),
                                    (sites["operator"], {"SUBJECT": {"CN": cn_of(op.pem)}})])
        c = browser(srv.cafile, "ja", download_dir=str(dl),
                    client_p12=[(ra.p12, p12pin), (op.p12, op.p12pin)])
        console_login(c, srv)
        po = Po()
        titles = {}
        walk_both(c, sites["officer"], "officer", po, titles)
        t_menu = time.time()

        # 3. the officer's work, in Japanese
        one = issue_each_kind(c, srv, tmp_path, dl, inst)
        t_issue = time.time()
        many = bulk(c, srv, tmp_path, dl)
        bulk_client_zip(c, srv, tmp_path)
        t_bulk = time.time()
        download_upki(c, srv, dl, [one["server"]] + many)
        statistics(c, srv, {"server": 1 + BULK_LINES, "client": 2, "codesign": 1})
        t_files = time.time()

        # 4. logout
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

        # 5. the CA operator's menu in both languages, logout
        walk_both(c, sites["operator"], "operator", po, titles)
        assert OPERATOR in c.text("header p.who")
        c.submit("form.logout button[type=submit]", "operator-logged-out")
        assert c.h1() == "Logged out" and c.find_all("form.logout") == []
        c.visit(sites["operator"] + "/?lang=ja", "operator-after-logout")
        assert c.find_all("form[action='/login']") and not c.find_all("ul.menu")

        # what each role's menu holds
        officer = {p for (w, p, l) in titles if w == "officer"}
        operator = {p for (w, p, l) in titles if w == "operator"}
        assert {"/certs?kind=server", "/certs?kind=client", "/certs?kind=codesign",
                "/stats", "/timestamp", "/admins"} <= officer, officer
        assert not any(p.startswith("/operator/") for p in officer), officer
        assert {"/operator/officers", "/operator/orgs", "/operator/allowlist", "/audit",
                "/stats", "/allowlist.tsv"} <= operator, operator
        print(f"console walk: enrolment {t_enrol - t0:.1f}s, login and menu "
              f"{t_menu - t_enrol:.1f}s, issuance {t_issue - t_menu:.1f}s, bulk "
              f"{t_bulk - t_issue:.1f}s, download and statistics {t_files - t_bulk:.1f}s, "
              f"logout and operator {time.time() - t_files:.1f}s, {len(titles)} pages")
    finally:
        try:
            if policy is not None:
                policy.remove()
        finally:
            stop(srv, browser)
