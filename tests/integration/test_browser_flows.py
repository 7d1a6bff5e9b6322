"""Walks in a real headless Chromium through issuance, web revocation and re-issue (issues 4
and 5), with a screenshot of every page (tests/artifacts/screenshots/<test>/).

Real parts only: a real server on loopback ports, a browser that verifies the server's
certificate against the instance's root (browser.py), the mails from the maildir outbox, the
PKCS#12 saved by Chromium itself when its link is clicked, and `openssl` (pkcs12, verify,
ocsp) on what the pages gave.  Certificates that a walk only needs as a starting point are
issued over HTTP (test_portal.issue_self) to save time; the flow under test is always walked
in the browser.  Pages are checked against the translations in po/<lang>.po."""
import re
import subprocess
import time
import urllib.parse

import pytest
from browser import gap, is_red, tr
from conftest import new_instance, openssl
from test_browser import (assert_error_beside, assert_page, link_of, portal, register,
                          restart, stop)
from test_ocsp import ocsp_cli
from test_portal import ANSWER, EMAIL, KANJI, PASSWORD, outbox, setup_orgs, wait_mail
from test_reissue import holder, mail_of
from test_revoke import holder_cert

RATES = "portal.revoke_rate = 1000\nportal.reissue_rate = 1000\n"
CODE_RE = r"([A-HJ-NP-Z2-9]{5}-){3}[A-HJ-NP-Z2-9]{5}"
ROMAJI_ERR = ("Use up to 64 characters: ASCII letters, space, hyphen (-), apostrophe (') and "
              "period (.).")
REVOKE_GENERIC = ("The organization code, ticket number and e-mail address do not match a "
                  "certificate that can be revoked. Please check what you entered.")
REISSUE_GENERIC = ("The e-mail address, application password and certificate code do not "
                   "match. Please check what you entered.")


# -- small helpers

def fill(b, **values):
    for field, v in values.items():
        el = b.find("#" + field)
        el.clear()
        if v:
            el.send_keys(v)


def value(b, field):
    return b.find("#" + field).get_attribute("value")


def dd(b):
    return [e.text for e in b.find_all("main dl dd")]


def field_errors(b):
    """The ids of the per-field error boxes on the page."""
    return [e.get_attribute("id") for e in b.find_all("span.error")]


def assert_general_error(b, lang, msgid, later=None):
    """One generic message, red, and nothing else in error: no field with an error of its
    own, and no "correct the items marked in red" banner when no item is marked.  later: a
    list to append the last check's failure to instead of failing at once (the walk goes on
    and the test fails at its end)."""
    err = b.find("p.error#err-general")
    assert err.is_displayed() and err.text == tr(lang, msgid), err.text
    assert is_red(b.color(err)), b.color(err)
    assert field_errors(b) == [], field_errors(b)
    shown = [e.text for e in b.find_all(".error") if e.is_displayed()]
    if shown != [err.text]:
        msg = f"one message expected, {b.driver.current_url} shows {shown}"
        assert later is not None, msg
        later.append(msg)


def run(*args):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)


def p12_checks(inst, tmp_path, p12, pin, page_pem, name):
    """The PKCS#12 opens with the PIN from the page (and not without it), holds the key of the
    page's certificate, and the certificate verifies up to the instance's root."""
    path = tmp_path / (name + ".p12")
    path.write_bytes(p12)
    out = run("pkcs12", "-in", str(path), "-passin", "pass:" + pin, "-nodes")
    assert out.returncode == 0, out.stderr
    assert "PRIVATE KEY" in out.stdout
    assert run("pkcs12", "-in", str(path), "-passin", "pass:not-the-pin", "-nodes"
               ).returncode != 0
    certs = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                       out.stdout, re.S)
    leaf = [c for c in certs if c.strip() == page_pem.strip()]
    assert len(leaf) == 1, "the P12 holds the certificate shown on the page"
    pem = tmp_path / (name + ".pem")
    pem.write_text(leaf[0] + "\n")
    verify(inst, pem)
    # the key in the file is the certificate's
    key = tmp_path / (name + ".key")
    openssl("pkcs12", "-in", str(path), "-passin", "pass:" + pin, "-nocerts", "-nodes",
            "-out", str(key))
    assert pubkey(key=key) == pubkey(cert=pem)
    return pem


def verify(inst, pem):
    out = run("verify", "-CAfile", inst.path("certs", "root.pem"), "-untrusted",
              inst.path("certs", "issuing.pem"), str(pem))
    assert out.returncode == 0 and out.stdout.strip().endswith(": OK"), (out.stdout, out.stderr)


def pubkey(key=None, cert=None):
    if key is not None:
        out = run("pkey", "-in", str(key), "-pubout")
    else:
        out = run("x509", "-in", str(cert), "-pubkey", "-noout")
    assert out.returncode == 0, out.stderr
    return out.stdout


def cert_text(pem):
    out = run("x509", "-in", str(pem), "-noout", "-text")
    assert out.returncode == 0, out.stderr
    return out.stdout


def ocsp(srv, cert):
    text, _ = ocsp_cli(srv, [str(cert)])
    assert "Response verify OK" in text, text
    return text


def assert_pin_gone(b, pin, code):
    """Neither the PIN nor the certificate code is on the page shown now."""
    src = b.driver.page_source
    assert pin not in src and code not in src
    assert b.find_all("#pin") == [] and b.find_all("#download") == []


# -- 1. self issuance

def open_form(b, srv, lang, inst, ticket):
    """Registration (no detours: test_browser walks those) → mail → link → button → the
    issuance form."""
    n = len(outbox(inst))
    register(b, srv, lang, "self", ticket, detours=False)
    files = wait_mail(inst, n + 1)
    m = mail_of(files[-1])
    link = link_of(m, srv, lang)
    b.visit(link, "mail-link")
    assert_page(b, lang, "E-mail address confirmed")
    assert tr(lang, "Your e-mail address has been confirmed.") in b.text("main")
    # the GET of the link (a mail scanner could make it) uses nothing up
    assert inst.sql("SELECT state FROM applications ORDER BY id DESC")[0][0] == "registered"
    b.submit("form.regist button[type=submit]", "issue-form")
    assert "/issue/form?t=" in b.driver.current_url
    assert_page(b, lang, "Issuance application")
    assert inst.sql("SELECT state FROM applications ORDER BY id DESC")[0][0] == "mail-verified"
    return link, b.driver.current_url


def assert_issue_values(b, romaji="Taro Yamada"):
    assert value(b, "name_kanji") == KANJI
    assert value(b, "name_romaji") == romaji
    assert value(b, "ou") == "Sales"
    assert value(b, "subject_email") == EMAIL


@pytest.mark.parametrize("lang,backend", [("ja", "sqlite"), ("en", "pg")])
def test_walk_issue_p12(tmp_path, browser, lang, backend):
    """Self issuance with a key made by the service: the form's errors beside their fields,
    the confirm page and Back, the certificate page, the PKCS#12 saved by the browser and
    opened by openssl with the PIN of the page; the PIN never shows again."""
    inst = new_instance(tmp_path, backend)
    (t1, _) = setup_orgs(inst)
    dl = tmp_path / "downloads"
    dl.mkdir()
    srv = portal(inst)
    try:
        b = browser(srv.cafile, lang, download_dir=str(dl))
        t0 = time.time()
        link, form_url = open_form(b, srv, lang, inst, t1[0])

        # an invalid romaji name and a mistyped confirmation password
        fill(b, name_kanji=KANJI, name_romaji="Taro_Yamada", ou="Sales", subject_email=EMAIL,
             app_password=PASSWORD, app_password_confirm=PASSWORD + "x")
        b.find("input[name=key_mode][value=p256]").click()
        b.submit("form.regist button[type=submit]", "issue-form-errors")
        assert_page(b, lang, "Issuance application", 400)
        alert = b.find("p.error[role=alert]")
        assert alert.text == tr(lang, "Please correct the items marked in red.")
        assert is_red(b.color(alert))
        assert_error_beside(b, lang, "name_romaji", ROMAJI_ERR)
        assert_error_beside(b, lang, "app_password_confirm", "The two passwords do not match.")
        assert sorted(field_errors(b)) == ["err-app_password_confirm", "err-name_romaji"]
        assert_issue_values(b, "Taro_Yamada")  # kept, passwords never echoed
        assert value(b, "app_password") == "" and value(b, "app_password_confirm") == ""
        assert b.find("input[name=key_mode][value=p256]").is_selected()

        # corrected: the confirm page shows what was entered
        fill(b, name_romaji="Taro Yamada", app_password=PASSWORD,
             app_password_confirm=PASSWORD)
        b.submit("form.regist button[type=submit]", "issue-confirm")
        assert_page(b, lang, "Confirm")
        got = dd(b)
        for want in (KANJI, "Taro Yamada", "Sales", EMAIL, "********",
                     tr(lang, "Generated by the service: ECDSA P-256 (PKCS#12)")):
            assert want in got, (want, got)
        assert PASSWORD not in b.driver.page_source

        # Back: the form with every value kept and the password kept (as its hash)
        b.submit("button[value=back]", "issue-back")
        assert_page(b, lang, "Issuance application")
        assert_issue_values(b)
        assert b.find("input[name=key_mode][value=p256]").is_selected()
        assert field_errors(b) == []
        assert tr(lang, "Your application password is kept. Enter a new one only to change "
                  "it.") in b.text("main")
        b.submit("form.regist button[type=submit]", "issue-confirm-again")
        assert_page(b, lang, "Confirm")
        assert KANJI in dd(b) and "Taro Yamada" in dd(b)

        # Submit: the certificate page
        b.submit("button[value=submit]", "certificate")
        assert_page(b, lang, "Certificate issued")
        pin = b.text("#pin")
        serial = b.text("#serial")
        code = b.text("#cert_code")
        assert re.fullmatch(r"[A-HJ-NP-Za-km-z2-9]{12}", pin), pin
        assert re.fullmatch(r"[0-9A-F]+", serial), serial
        assert re.fullmatch(CODE_RE, code), code
        page_pem = b.text("pre#cert_pem")
        assert b.text("pre#chain_pem").count("BEGIN CERTIFICATE") == 2

        # the PKCS#12, saved by Chromium when the link is clicked
        href = b.find("#download").get_attribute("href")
        u = urllib.parse.urlsplit(href)
        assert u.path == "/issue/download" and re.fullmatch(r"d=[A-Za-z0-9_-]{43}", u.query)
        p12 = b.download("#download", str(dl), "certificate.p12")
        b.shot("certificate-after-download")
        assert b.h1() == tr(lang, "Certificate issued")  # a download: the page stays
        pem = p12_checks(inst, tmp_path, p12, pin, page_pem, "walk")
        txt = cert_text(pem)
        assert "Taro Yamada" in txt and "OU = Sales" in txt and "email:" + EMAIL in txt
        assert "ASN1 OID: prime256v1" in txt
        assert serial in txt.replace(":", "").upper()
        assert ": good" in ocsp(srv, pem)

        # the PIN is shown once: a reload sends the form again and gets "already issued"
        b.driver.refresh()
        b.wait(b.loaded, "the reloaded page")
        b.shot("certificate-reloaded")
        assert_page(b, lang, "The certificate has already been issued")
        assert_pin_gone(b, pin, code)
        # Back and Forward: the pages are not kept (no-store), Chromium asks to resend
        for step, name in ((b.driver.back, "certificate-back"),
                           (b.driver.forward, "certificate-forward")):
            step()
            b.wait(b.loaded, name)
            b.shot(name)
            assert "ERR_CACHE_MISS" in b.text(), b.text()
            assert_pin_gone(b, pin, code)
        b.visit(form_url, "issue-form-again")
        assert_page(b, lang, "The certificate has already been issued", 410)
        assert_pin_gone(b, pin, code)
        # the download link works once
        b.visit(href, "download-again")
        assert_page(b, lang, "This download is no longer available", 410)
        # and the mailed link has been used up
        b.visit(link, "mail-link-again")
        assert_page(b, lang, "This link has already been used", 410)
        assert inst.sql("SELECT state, cert_serial FROM applications") == [["issued", serial]]
        print(f"issue walk {lang}/{backend}: {time.time() - t0:.1f}s in the browser")
    finally:
        stop(srv, browser)


def test_walk_issue_csr(ca_sqlite, browser, tmp_path):
    """Self issuance with a CSR made by `openssl req` pasted into the form: no PIN and no
    PKCS#12, the PEM of the page verifies and carries the CSR's key."""
    inst = ca_sqlite
    (t1, _) = setup_orgs(inst)
    key, csr = tmp_path / "k.pem", tmp_path / "r.csr"
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", "/CN=ignored by the RA")
    srv = portal(inst)
    try:
        b = browser(srv.cafile, "ja")
        open_form(b, srv, "ja", inst, t1[0])
        fill(b, name_kanji=KANJI, name_romaji="Taro Yamada", ou="Sales", subject_email=EMAIL,
             app_password=PASSWORD, app_password_confirm=PASSWORD)
        b.find("input[name=key_mode][value=csr]").click()
        b.find("#csr").send_keys(csr.read_text())
        b.submit("form.regist button[type=submit]", "issue-confirm")
        assert_page(b, "ja", "Confirm")
        assert tr("ja", "Certificate signing request (CSR)") in dd(b)
        assert "BEGIN CERTIFICATE REQUEST" in b.text("main dl")
        b.submit("button[value=submit]", "certificate")
        assert_page(b, "ja", "Certificate issued")
        assert b.find_all("#pin") == [] and b.find_all("#download") == []
        assert re.fullmatch(CODE_RE, b.text("#cert_code"))
        pem = tmp_path / "c.pem"
        pem.write_text(b.text("pre#cert_pem") + "\n")
        verify(inst, pem)
        assert pubkey(key=key) == pubkey(cert=pem)
        txt = cert_text(pem)
        assert "CN = Taro Yamada" in txt and "ignored by the RA" not in txt
        assert inst.sql("SELECT state, key_mode FROM applications") == [["issued", "csr"]]
    finally:
        stop(srv, browser)


# -- 2. web revocation

def test_walk_web_revocation(ca_sqlite, browser, tmp_path):
    """A certificate issued over HTTP is revoked in the browser: a wrong e-mail gives the one
    generic message (red, no field error), then confirm → done → the mailed link opened in
    the browser shows its page (nothing revoked yet), whose button revokes; openssl ocsp says
    revoked with the chosen reason; the link again gives the "already used" page."""
    inst = ca_sqlite
    lang = "ja"
    later = []
    (t1, _) = setup_orgs(inst)
    srv = portal(inst, RATES)
    try:
        serial, cert = holder_cert(srv, tmp_path, t1[0])
        assert ": good" in ocsp(srv, cert)
        b = browser(srv.cafile, lang)
        b.visit(srv.https + "/revoke/step1", "revoke-step1")
        assert_page(b, lang, "Certificate revocation")

        def fill_revoke(addr):
            b.select("#org_code").select_by_value("ORG1")
            fill(b, ticket=t1[0], email=addr, captcha=ANSWER)
            b.find("input[name=reason][value=keyCompromise]").click()

        fill_revoke("someone.else@example.co.jp")
        b.submit("form.revoke button[type=submit]", "revoke-wrong-email")
        assert_page(b, lang, "Certificate revocation", 400)
        # (today the page also says "correct the items marked in red", with none marked:
        # recorded, the walk goes on, the test fails at its end)
        assert_general_error(b, lang, REVOKE_GENERIC, later)
        assert value(b, "ticket") == t1[0]  # values kept
        assert b.find("input[name=reason][value=keyCompromise]").is_selected()

        fill_revoke(EMAIL)
        b.submit("form.revoke button[type=submit]", "revoke-confirm")
        assert_page(b, lang, "Confirm the revocation")
        assert dd(b) == ["ORG1", t1[0], EMAIL, tr(lang, "The private key was lost, stolen or "
                                                   "disclosed (key compromise)")]
        n = len(outbox(inst))
        b.submit("button[value=request]", "revoke-done")
        assert_page(b, lang, "Revocation request accepted")
        assert b.text("main strong") == EMAIL
        assert ": good" in ocsp(srv, cert)  # nothing revoked before the link is opened

        files = wait_mail(inst, n + 1)
        m = mail_of(files[-1])
        assert m["To"] == EMAIL
        assert m["Subject"] == tr(lang, "[shomei] Confirm the revocation of your certificate")
        links = re.findall(r"https://\S+/revoke/verify\?onetimetoken=[A-Za-z0-9_-]{43}",
                           m.get_content())
        assert len(links) == 1 and links[0].startswith(srv.https + "/"), links
        b.visit(links[0], "revoke-link")  # opening the link only shows its page
        assert_page(b, lang, "Revoke the certificate")
        assert serial in b.text("main dl code")
        assert ": good" in ocsp(srv, cert)
        b.submit("form.revoke button[type=submit]", "revoked")
        assert_page(b, lang, "The certificate has been revoked")
        main = b.text("main")
        assert serial in b.text("main dl code")
        assert tr(lang, "The private key was lost, stolen or disclosed (key compromise)") in main
        assert tr(lang, "OCSP (the online status service) shows the certificate as revoked "
                  "from now on.") in main
        assert "CRL" in main
        text = ocsp(srv, cert)
        assert ": revoked" in text and "Reason: keyCompromise" in text, text

        b.visit(links[0], "revoked-link-again")
        assert_page(b, lang, "This link has already been used", 410)
        assert tr(lang, "This link has already been used: the certificate was revoked with "
                  "it.") in b.text("main")
        assert ": revoked" in ocsp(srv, cert)
        assert later == []
    finally:
        stop(srv, browser)


# -- 3. re-issue

def fetch_code(inst, n):
    """The new certificate code of the re-issue mail (the n+1-th mail of the outbox)."""
    m = mail_of(wait_mail(inst, n + 1)[-1])
    assert m["To"] == EMAIL
    codes = [c.group(0) for c in re.finditer(CODE_RE, m.get_content())]
    assert len(set(codes)) == 1, m.get_content()
    return codes[0]


def test_walk_reissue(ca_sqlite, browser, tmp_path):
    """A certificate issued over HTTP is re-issued in the browser (wrong password: the generic
    message; list; warning without and with the box; edit the OU; confirm and Back; done),
    the mailed code fetches the new certificate in the browser (PKCS#12 downloaded, openssl
    checks, the new OU), the old one is revoked as superseded in OCSP.  Then, with the clock
    of a restarted server 29 days before the new certificate's end, the list shows why it
    cannot be re-issued and no button."""
    inst = ca_sqlite
    lang = "ja"
    (t1, _) = setup_orgs(inst)
    dl = tmp_path / "downloads"
    dl.mkdir()
    srv = portal(inst, RATES)
    try:
        serial, code, cert = holder(srv, tmp_path, t1[0])
        assert ": good" in ocsp(srv, cert)
        b = browser(srv.cafile, lang, download_dir=str(dl))
        b.visit(srv.https + "/reissue", "reissue-login")
        assert_page(b, lang, "Certificate re-issue")
        fill(b, email=EMAIL, app_password="wrong password", cert_code=code)
        b.submit("form.reissue button[type=submit]", "reissue-wrong-password")
        assert_page(b, lang, "Certificate re-issue", 400)
        assert_general_error(b, lang, REISSUE_GENERIC)
        assert value(b, "app_password") == ""  # never echoed

        fill(b, email=EMAIL, app_password=PASSWORD, cert_code=code)
        b.submit("form.reissue button[type=submit]", "reissue-list")
        assert_page(b, lang, "Your certificates")
        rows = b.find_all("table.certs tbody tr")
        assert len(rows) == 1 and serial in rows[0].text and "Taro Yamada" in rows[0].text
        assert b.find_all(f"#why-{serial}") == []

        b.submit(f"#reissue-{serial}", "reissue-warn")
        assert_page(b, lang, "Before you re-issue")
        assert serial in b.text("main dl")
        # without the box the browser itself holds the form back (required)...
        box = b.find("input[name=understood]")
        old = b.find("html")
        b.find("form button[type=submit]").click()
        time.sleep(0.5)
        assert not b.stale(old) and b.driver.execute_script(
            "return arguments[0].validity.valueMissing", box)
        # ... and a browser that does not check gets the server's red error beside the box
        b.driver.execute_script("arguments[0].required = false", box)
        b.submit("form button[type=submit]", "reissue-warn-error")
        assert_page(b, lang, "Before you re-issue", 400)
        err = b.find("#err-understood")
        assert err.text == tr(lang, "Please confirm that you understand that the current "
                              "certificate will be revoked.")
        assert is_red(b.color(err))
        label = b.driver.execute_script("return arguments[0].closest('label')",
                                        b.find("input[name=understood]"))
        assert gap(b.rect(err), b.rect(label)) <= 24, (b.rect(err), b.rect(label))
        assert not b.find("input[name=understood]").is_selected()
        b.find("input[name=understood]").click()
        b.submit("form button[type=submit]", "reissue-edit")
        assert_page(b, lang, "Changes for the new certificate")
        assert value(b, "subject_email") == EMAIL and value(b, "ou") == "Sales"

        fill(b, ou="Marketing")
        b.submit("form.reissue button[type=submit]", "reissue-confirm")
        assert_page(b, lang, "Confirm the re-issue")
        assert serial in b.text("main dl") and "Marketing" in dd(b)
        b.submit("button[value=back]", "reissue-back")
        assert_page(b, lang, "Changes for the new certificate")
        assert value(b, "ou") == "Marketing" and value(b, "subject_email") == EMAIL
        b.submit("form.reissue button[type=submit]", "reissue-confirm-again")
        assert_page(b, lang, "Confirm the re-issue")
        assert ": good" in ocsp(srv, cert)  # nothing happened yet
        n = len(outbox(inst))
        b.submit("button[value=submit]", "reissue-done")
        assert_page(b, lang, "Re-issue accepted")
        assert b.text("#old_serial") == serial
        text = ocsp(srv, cert)
        assert ": revoked" in text and "Reason: superseded" in text, text

        new_code = fetch_code(inst, n)
        assert new_code != code
        b.submit("a[href='/reissue/fetch']", "fetch")
        assert_page(b, lang, "Fetch your new certificate")
        fill(b, cert_code=new_code)
        b.submit("form.reissue button[type=submit]", "fetched-certificate")
        assert_page(b, lang, "Certificate issued")
        pin, new_serial = b.text("#pin"), b.text("#serial")
        assert new_serial != serial
        page_pem = b.text("pre#cert_pem")
        p12 = b.download("#download", str(dl), "certificate.p12")
        pem = p12_checks(inst, tmp_path, p12, pin, page_pem, "new")
        txt = cert_text(pem)
        assert "OU = Marketing" in txt and "OU = Sales" not in txt and "Taro Yamada" in txt
        assert ": good" in ocsp(srv, pem)
        assert ": revoked" in ocsp(srv, cert)
        b.driver.refresh()  # sends the code again: "already issued", no PIN
        b.wait(b.loaded, "the reloaded page")
        b.shot("fetched-reloaded")
        assert_page(b, lang, "The certificate has already been issued", 410)
        assert_pin_gone(b, pin, new_code)

        # 29 days before the new certificate's end: no re-issue, the reason beside it
        na = run("x509", "-in", str(pem), "-noout", "-enddate").stdout.strip()
        end = time.mktime(time.strptime(na[len("notAfter="):], "%b %d %H:%M:%S %Y GMT"))
        left = int(end - time.timezone - time.time())
        srv = restart(srv, browser, "test.clock_offset = %d" % (left - 29 * 86400))
        b = browser(srv.cafile, lang)
        b.visit(srv.https + "/reissue", "reissue-login-29-days")
        fill(b, email=EMAIL, app_password=PASSWORD, cert_code=new_code)
        b.submit("form.reissue button[type=submit]", "reissue-list-29-days")
        assert_page(b, lang, "Your certificates")
        why = b.find(f"#why-{new_serial}")
        assert why.text == tr(lang, "30 days or less left: apply for a new certificate "
                              "instead (renewal).")
        assert b.find_all(f"#reissue-{new_serial}") == []
        assert b.find_all("table.certs button") == []
    finally:
        stop(srv, browser)


# -- agent: the holder approves by mail

HOLDER = "jiro.suzuki@example.co.jp"


def newest_link(inst, to, pattern):
    """The link matching pattern in the newest mail to the address to."""
    for path in reversed(outbox(inst)):
        m = mail_of(path)
        if m["To"] == to:
            found = re.findall(pattern, m.get_content())
            if found:
                return found[0]
    raise AssertionError("no mail to %s with %s" % (to, pattern))


def test_walk_agent(ca_sqlite, browser, tmp_path):
    """An agent (代理人) applies in one browser; the holder approves in another from the mailed
    link; the agent opens the certificate page from the mail, saves the PKCS#12 and openssl
    opens it with the PIN of the page; the holder has the certificate code by mail."""
    inst = ca_sqlite
    (t1, _) = setup_orgs(inst)
    dl = tmp_path / "downloads"
    dl.mkdir()
    srv = portal(inst)
    try:
        a = browser(srv.cafile, "ja", download_dir=str(dl))
        n = len(outbox(inst))
        register(a, srv, "ja", "agent", t1[0], detours=False)
        link = link_of(mail_of(wait_mail(inst, n + 1)[-1]), srv, "ja")
        a.visit(link, "agent-mail-link")
        assert_page(a, "ja", "E-mail address confirmed")
        a.submit("form.regist button[type=submit]", "agent-issue-form")
        assert "/issue/form?t=" in a.driver.current_url
        assert tr("ja", "Holder approval") in a.text("ol.flowbar")  # the agent's steps
        fill(a, name_kanji=KANJI, name_romaji="Jiro Suzuki", ou="Sales", subject_email=HOLDER,
             app_password=PASSWORD, app_password_confirm=PASSWORD)
        a.find("input[name=key_mode][value=p256]").click()
        a.submit("form.regist button[type=submit]", "agent-confirm")
        assert_page(a, "ja", "Confirm")
        a.submit("button[value=submit]", "agent-submitted")
        assert_page(a, "ja", "Application submitted")
        assert a.text("#subject_email") == HOLDER and a.find_all("#pin") == []
        assert inst.sql("SELECT state FROM applications")[0][0] == "awaiting-approval"

        # the holder, in a browser of their own, approves from the mailed link
        wait_mail(inst, n + 2)
        tok = newest_link(inst, HOLDER, r"https://\S+/approve\?t=([A-Za-z0-9_-]{43})")
        h = browser(srv.cafile, "ja")
        h.visit(srv.https + "/approve?t=" + tok, "holder-approve")
        assert "Jiro Suzuki" in h.text("main dl")
        assert h.text("#agent_email") == EMAIL
        h.submit("button[value=approve]", "holder-approved")
        assert_page(h, "ja", "Application approved")
        serial = h.text("#serial")
        h.visit(srv.https + "/approve?t=" + tok, "holder-approve-again")
        assert h.status() == 410

        # the agent's mail leads to the certificate page, shown once
        wait_mail(inst, n + 4)
        dv = newest_link(inst, EMAIL, r"https://\S+/issue/deliver\?t=([A-Za-z0-9_-]{43})")
        a.visit(srv.https + "/issue/deliver?t=" + dv, "agent-deliver")
        a.submit("form.regist button[type=submit]", "agent-certificate")
        assert_page(a, "ja", "Certificate issued")
        assert a.text("#serial") == serial
        pin = a.text("#pin")
        p12 = a.download("#download", str(dl), "certificate.p12")
        pem = p12_checks(inst, tmp_path, p12, pin, a.text("pre#cert_pem"), "agent")
        txt = cert_text(pem)
        assert "CN = Jiro Suzuki" in txt and "email:" + HOLDER in txt
        assert ": good" in ocsp(srv, pem)
        a.driver.refresh()
        a.wait(a.loaded, "the reloaded page")
        a.shot("agent-certificate-reloaded")
        assert pin not in a.driver.page_source
        # the holder's mail carries the certificate code, not the PIN
        code = newest_link(inst, HOLDER, CODE_RE.replace("(", "(?:", 1))
        assert re.fullmatch(CODE_RE, code) and pin not in code
    finally:
        stop(srv, browser)
