"""Walks through the applicant portal in a real headless Chromium, with a screenshot of every
page (tests/artifacts/screenshots/<test>/).

A real server on loopback ports, a real browser that verifies the server's certificate against
the instance's root CA (imported into the browser's own NSS database, see browser.py), the
mail read from the maildir outbox or received by a local SMTP server (aiosmtpd), and the
predictable CAPTCHA answer of a test instance (test.instance = yes).  The pages are checked
against the translations in po/<lang>.po, in Japanese (the default) and in English."""
import email
import email.policy
import re
import time
import urllib.parse

import pytest
from browser import gap, is_red, tr
from conftest import free_port, new_instance, openssl, start_server, stop_server
from test_mail import Sink, start_sink
from test_portal import ANSWER, CONF, EMAIL, mail_link, outbox, setup_orgs, wait_mail

OTHER = "hanako.suzuki@example.co.jp"  # a mistyped confirmation address
ORG = ("ORG1", "Example One")
LINK_RE = r"https://\S+/regist/verify\?onetimetoken=[A-Za-z0-9_-]{43}"
STEP1 = "Applicant information"
EXPIRED = ("This link has expired: links are valid for 3 days. Please register your "
           "application again; your ticket can be used for the new registration.")


def portal(inst, extra=""):
    """serve on inst as a test instance whose mailed links point at its own HTTPS port."""
    ports = (free_port(), free_port())
    return start_server(inst, CONF + "\nportal.base_url = https://localhost:%d\n" % ports[1]
                        + extra, ports=ports)


def stop(srv, browser):
    """Quits the browsers first (their idle keep-alive connections would hold the server's
    shutdown for its 30 s grace period), then stops the server."""
    try:
        browser.quit_all()
    finally:
        stop_server(srv)


def restart(srv, browser, extra):
    """Stops srv (and the browsers) and starts it again on the same ports with extra
    configuration."""
    stop(srv, browser)
    return start_server(srv.inst, extra, ports=(srv.http_port, srv.https_port))


# -- page checks

def assert_page(b, lang, title_msgid, status=200):
    assert b.html_lang() == lang, (b.html_lang(), b.driver.current_url)
    assert b.h1() == tr(lang, title_msgid), (b.h1(), b.driver.current_url, b.text())
    assert b.status() == status, (b.status(), b.driver.current_url)


def assert_error_beside(b, lang, field, msgid):
    """The error of field is shown, in red, in the field's own container and right beside it
    (a few pixels from the input box, not somewhere else on the page)."""
    err = b.find("#err-" + field)
    box = b.find("#" + field)
    assert err.is_displayed()
    assert tr(lang, msgid) in err.text, (field, err.text)
    assert is_red(b.color(err)), (field, b.color(err))
    assert b.driver.execute_script(
        "return arguments[0].parentElement === arguments[1].parentElement", err, box), field
    d = gap(b.rect(err), b.rect(box))
    assert d <= 24, (field, d, b.rect(err), b.rect(box))


def no_error(b, field):
    assert b.find_all("#err-" + field) == [], field


def captcha_id(b):
    return b.find("input[name=captcha_id]").get_attribute("value")


def fill_step1(b, applicant, ticket, email_addr, email2, captcha):
    b.find(f"input[name=applicant_type][value={applicant}]").click()
    b.select("#org_code").select_by_value(ORG[0])
    for field, v in (("ticket", ticket), ("email", email_addr), ("email_confirm", email2),
                     ("captcha", captcha)):
        el = b.find("#" + field)
        el.clear()
        el.send_keys(v)


def assert_step1_values(b, applicant, ticket, email_addr, email2):
    """The values entered before are in the form again; the CAPTCHA answer is not."""
    assert b.find(f"input[name=applicant_type][value={applicant}]").is_selected()
    assert b.select("#org_code").first_selected_option.get_attribute("value") == ORG[0]
    assert b.find("#ticket").get_attribute("value") == ticket
    assert b.find("#email").get_attribute("value") == email_addr
    assert b.find("#email_confirm").get_attribute("value") == email2
    assert b.find("#captcha").get_attribute("value") == ""


def assert_confirm(b, lang, applicant, ticket):
    assert_page(b, lang, "Confirm")
    dd = [e.text for e in b.find_all("dl dd")]
    label = "Agent" if applicant == "agent" else "Self (the certificate holder)"
    assert dd == [tr(lang, label), f"{ORG[0]} {ORG[1]}", ticket, EMAIL], dd


def open_policies(b, lang):
    """Each policy link of the confirm page opens its page (in a new tab, target=_blank);
    the tab is closed again and the confirm page is still there, untouched."""
    main = b.driver.current_window_handle
    for href, msgid in (("/policies/obligations", "User obligations"),
                        ("/policies/privacy", "Privacy policy")):
        before = set(b.driver.window_handles)
        b.find(f"form a[href='{href}']").click()
        new = b.wait(lambda: set(b.driver.window_handles) - before, "the policy tab")
        b.driver.switch_to.window(new.pop())
        b.wait(lambda: b.driver.current_url.endswith(href) and b.loaded(), href)
        b.shot("policy-" + href.rsplit("/", 1)[1])
        assert_page(b, lang, msgid)
        b.driver.close()
        b.driver.switch_to.window(main)
    assert b.h1() == tr(lang, "Confirm")


def register(b, srv, lang, applicant, ticket, detours=True):
    """Step 1 → confirm → Register → done.  With detours: another CAPTCHA image first, a
    submission with errors, the policy pages from the confirm page, and Back to step 1."""
    b.visit(srv.https + "/regist/step1", "step1")
    assert_page(b, lang, STEP1)
    if detours:
        step1_detours(b, lang, applicant, ticket)
    fill_step1(b, applicant, ticket, EMAIL, EMAIL, ANSWER)
    b.submit("form.regist button[type=submit]", "confirm")
    assert_confirm(b, lang, applicant, ticket)
    if detours:
        confirm_detours(b, lang, applicant, ticket)

    b.find("input[name=consent]").click()
    b.submit("button[value=register]", "done")
    assert_page(b, lang, "Registration complete")
    assert tr(lang, "Your application has been registered.") in b.text("main")
    assert b.text("main strong") == EMAIL
    assert b.find("ol.flowbar li.current").text == tr(lang, "Done")


def step1_detours(b, lang, applicant, ticket):
    # another CAPTCHA image on request
    first = captcha_id(b)
    b.submit("a[href='/regist/step1']", "step1-another-image")
    assert_page(b, lang, STEP1)
    assert captcha_id(b) != first
    assert b.find("form.regist img").get_attribute("src").startswith("data:image/png;base64,")

    # a wrong CAPTCHA answer and a mistyped confirmation address
    old = captcha_id(b)
    fill_step1(b, applicant, ticket, EMAIL, OTHER, "WRONG1")
    b.submit("form.regist button[type=submit]", "step1-errors")
    assert_page(b, lang, STEP1, 400)
    alert = b.find("p.error[role=alert]")
    assert alert.text == tr(lang, "Please correct the items marked in red.")
    assert is_red(b.color(alert))
    assert_error_beside(b, lang, "captcha", "The characters do not match the image. Please try "
                        "again with the new image.")
    assert_error_beside(b, lang, "email_confirm", "The two e-mail addresses do not match.")
    for field in ("applicant_type", "org_code", "ticket", "email"):
        no_error(b, field)
    assert_step1_values(b, applicant, ticket, EMAIL, OTHER)
    assert captcha_id(b) != old  # a new image comes with the errors


def confirm_detours(b, lang, applicant, ticket):
    open_policies(b, lang)
    # the consent box must be ticked before the browser sends the form
    assert b.driver.execute_script(
        "const c = document.querySelector('input[name=consent]');"
        "return c.required && !c.checked && c.validity.valueMissing;")
    # Back: the form again with every value kept, no errors, a new CAPTCHA to answer
    b.submit("button[value=back]", "back-to-step1")
    assert_page(b, lang, STEP1)
    assert_step1_values(b, applicant, ticket, EMAIL, EMAIL)
    for field in ("applicant_type", "org_code", "ticket", "email", "email_confirm", "captcha"):
        no_error(b, field)
    b.find("#captcha").send_keys(ANSWER)
    b.submit("form.regist button[type=submit]", "confirm-again")
    assert_confirm(b, lang, applicant, ticket)


def mail_from_outbox(inst):
    files = wait_mail(inst)
    assert len(files) == 1, files
    m, _ = mail_link(files[0])
    return m


def mail_from_sink(sink, timeout=15):
    end = time.time() + timeout
    while not sink.got and time.time() < end:
        time.sleep(0.1)
    assert len(sink.got) == 1, sink.got
    mail_from, rcpts, raw = sink.got[0]
    assert rcpts == [EMAIL]
    return email.message_from_bytes(raw, policy=email.policy.default)


def link_of(m, srv, lang):
    """The one-time link of the mail, which must point at this server."""
    assert m["To"] == EMAIL
    subject = tr(lang, "[shomei] Continue your certificate application")
    assert m["Subject"] == subject, m["Subject"]
    links = re.findall(LINK_RE, m.get_content())
    assert len(links) == 1, m.get_content()
    u = urllib.parse.urlsplit(links[0])
    assert f"{u.scheme}://{u.netloc}" == srv.https, links[0]
    return links[0]


def assert_link_landing(b, lang, inst):
    """Where the mailed link leads the first time: a page saying the address is confirmed,
    with a button.  The GET uses nothing up (mail scanners open links); the button (a POST
    with the CSRF token) uses the link and leads to the issuance form."""
    assert_page(b, lang, "E-mail address confirmed")
    assert tr(lang, "Your e-mail address has been confirmed.") in b.text("main")
    assert b.find("ol.flowbar li.current").text == tr(lang, "Confirmation mail")
    assert app_state(inst) == "registered"
    b.submit("form.regist button[type=submit]", "issue-form")
    assert "/issue/form?t=" in b.driver.current_url
    assert_page(b, lang, "Issuance application")
    assert app_state(inst) == "mail-verified"


def app_state(inst):
    rows = inst.sql("SELECT state FROM applications")
    assert len(rows) == 1, rows
    return rows[0][0]


# -- the walks

@pytest.mark.parametrize("lang,backend,delivery", [
    ("ja", "sqlite", "maildir"),
    ("en", "sqlite", "smtp"),
    ("ja", "pg", "maildir"),
])
def test_walk_register_verify(tmp_path, browser, lang, backend, delivery):
    """The applicant for themselves: every page of the registration, the mailed link once
    (the landing page) and twice (the clear "already used" page)."""
    inst = new_instance(tmp_path, backend)
    (t1, _) = setup_orgs(inst)
    sink = ctl = None
    extra = ""
    if delivery == "smtp":
        port = free_port()
        sink = Sink()
        ctl = start_sink(port, sink)
        extra = (f"mail.delivery = smtp\nmail.smtp_url = smtp://127.0.0.1:{port}\n"
                 "mail.smtp_starttls = no\n")
    srv = None
    try:
        srv = portal(inst, extra)
        b = browser(srv.cafile, lang)
        t0 = time.time()
        register(b, srv, lang, "self", t1[0])
        assert app_state(inst) == "registered"
        if delivery == "smtp":
            m = mail_from_sink(sink)
            assert outbox(inst) == []  # delivered by SMTP, not into the maildir
        else:
            m = mail_from_outbox(inst)
        link = link_of(m, srv, lang)

        b.visit(link, "link")
        assert_link_landing(b, lang, inst)
        b.visit(link, "link-again")
        assert_page(b, lang, "This link has already been used", 410)
        assert tr(lang, "This link has already been used. Each link in our mails can be used "
                  "only once.") in b.text("main")
        print(f"walk {lang}/{backend}/{delivery}: {time.time() - t0:.1f}s in the browser")
    finally:
        if srv is not None:
            stop(srv, browser)
        if ctl is not None:
            ctl.stop()


def test_walk_agent_expired(ca_sqlite, browser):
    """An agent registers (代理人), in Japanese, to the done page; three days and a minute
    later (the test clock of a restarted server) the mailed link gives the clear "expired"
    page, in both languages, and the application is not verified."""
    inst = ca_sqlite
    (t1, _) = setup_orgs(inst)
    srv = portal(inst)
    try:
        b = browser(srv.cafile, "ja")
        register(b, srv, "ja", "agent", t1[1], detours=False)
        assert inst.sql("SELECT applicant_type, state FROM applications") == \
            [["agent", "registered"]]
        link = link_of(mail_from_outbox(inst), srv, "ja")
        srv = restart(srv, browser, "test.clock_offset = %d" % (3 * 86400 + 60))
        b = browser(srv.cafile, "ja")
        for lang, url in (("ja", link), ("en", link + "&lang=en")):
            b.visit(url, "link-expired-" + lang)
            assert_page(b, lang, "This link has expired", 410)
            assert tr(lang, EXPIRED) in b.text("main")
        assert app_state(inst) == "registered"
    finally:
        stop(srv, browser)


def test_browser_checks_the_certificate(ca_sqlite, browser, tmp_path):
    """The browser of these walks really verifies TLS: trusting only some other root, it
    refuses the server's certificate (so the walks' trust comes from the instance's root)."""
    key, crt = str(tmp_path / "other.key"), str(tmp_path / "other.pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", crt, "-subj", "/CN=some other root", "-days", "2")
    srv = start_server(ca_sqlite, CONF)
    try:
        b = browser(crt, "en")
        b.visit(srv.https + "/regist/step1", "untrusted")
        assert "ERR_CERT_AUTHORITY_INVALID" in b.text()
        assert b.find_all("form.regist") == []
    finally:
        stop(srv, browser)
