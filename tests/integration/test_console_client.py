"""Client certificates with a key the CA makes (issue 13 part 4), through the real server: an
officer with the `client` permission issues per holder with the access PIN on its printable
page (the holder's mailed URL: GET shows, POST with the PIN gives the PKCS#12 once, which
openssl opens with that PIN), with the PIN in a second mailed one-time URL, five wrong PINs
lock the URL, the URL expires (the server's clock moved), the ZIP to the user administrator
opens with 7z under the password shown once and its PKCS#12 files open with the PINs of
PINs.txt (a wrong password fails); an officer without `client` gets 403; every issuance and
download is audited."""
import html
import re
import shutil
import subprocess
import time

import pytest

from conftest import openssl, start_server, stop_server
from test_console import CONF, audit, csrf_of, enrol, login, session, wait_mail_to


def text(r):
    return html.unescape(r.text)


@pytest.fixture
def orgs(ca):
    ca.ok("org", "add", "U01", "--name", "Example University", "--domain", "example.ac.jp")
    srv = start_server(ca, CONF)
    yield srv, ca
    stop_server(srv)


def issue(s, srv, delivery, holder="Ichiro Suzuki", email="ichiro@example.ac.jp"):
    r = s.get(f"{srv.console}/certs/new?kind=client")
    assert r.status_code == 200 and 'value="pin_shown"' in r.text, r.text
    data = {"csrf": csrf_of(r.text), "kind": "client", "delivery": delivery, "csr": "",
            "admin_name": "山田 花子", "admin_unit": "情報基盤センター",
            "admin_email": "admin@example.ac.jp", "holder_name": holder,
            "holder_unit": "Lab", "holder_email": email}
    return s.post(f"{srv.console}/certs/new", files={k: (None, v) for k, v in data.items()})


def pin_of(r):
    return re.search(r'<code class="pin">([^<]+)</code>', r.text).group(1)


def show_secrets(s, srv, r):
    """Presses the result page's "show" button (POST /bulk/job/keys with its CSRF token): the
    answer (no-store) shows the job's secrets once."""
    m = re.search(r'<form method="post" action="/bulk/job/keys">.*?</form>', r.text, re.S)
    assert m, r.text
    form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', m.group(0)))
    assert set(form) == {"csrf", "id"}, form
    shown = s.post(f"{srv.console}/bulk/job/keys", data=form)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store", shown.text
    return shown, form


def urls(m, what):
    return re.findall(rf"https://\S+/client/{what}([A-Za-z0-9_-]{{43}})", m.get_content())


def p12_open(tmp_path, data, pin, name="c"):
    p = tmp_path / f"{name}.p12"
    p.write_bytes(data)
    out = openssl("pkcs12", "-in", str(p), "-passin", f"pass:{pin}", "-nodes", check=False)
    return out.returncode == 0 and b"PRIVATE KEY" in out.stdout, out.stdout.decode()


def test_per_holder_pin_shown(orgs, tmp_path):
    srv, inst = orgs
    o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
              "--perm", "client")
    s, menu = login(srv, o)
    # refusals show the form again: no holder name; an address outside the domains
    r = issue(s, srv, "pin_shown", holder="")
    assert r.status_code == 422 and "holder" in text(r), r.text
    r = issue(s, srv, "pin_shown", email="x@elsewhere.example")
    assert r.status_code == 422 and "name policy" in text(r), r.text
    assert "console.client_issue" not in audit(inst)
    r = issue(s, srv, "pin_shown")
    assert r.status_code == 201, r.text
    pin = pin_of(r)
    assert len(pin) == 12 and "pin-sheet" in r.text
    assert "no-store" in r.headers.get("Cache-Control", "")
    # the PKCS#12 waits (encrypted under the PIN); no column holds the PIN
    assert inst.sql("SELECT count(*) FROM client_pickups WHERE p12 IS NOT NULL")[0][0] in (1, "1")
    assert not [x for x in inst.sql("SELECT serial, state FROM client_pickups")
                if pin in "".join(str(v) for v in x)]
    serial = re.search(r"<code>([0-9A-F]+)</code>", r.text).group(1)
    m = wait_mail_to(inst, "ichiro@example.ac.jp")[-1]
    assert pin not in m.get_content() and serial in m.get_content()
    tok = urls(m, "")[0]
    pub = session(srv)
    url = f"{srv.https}/client/{tok}"
    r = pub.get(url + "?lang=en")
    assert r.status_code == 200 and serial in r.text and "Access PIN" in r.text
    # nothing acts on a GET; no CSRF token: refused
    assert pub.post(url, data={"pin": pin}).status_code in (400, 403)
    r2 = pub.post(url + "?lang=en", data={"csrf": csrf_of(r.text), "pin": "WRONGWRONG22"})
    assert r2.status_code == 422 and "Tries left" in r2.text and ": 4" in r2.text
    r3 = pub.post(url, data={"csrf": csrf_of(r.text), "pin": pin})
    assert r3.status_code == 200 and r3.headers["Content-Type"] == "application/x-pkcs12"
    assert f'filename="{serial}.p12"' in r3.headers["Content-Disposition"]
    ok, out = p12_open(tmp_path, r3.content, pin)
    assert ok, out
    assert "CN=Ichiro Suzuki" in out or "CN = Ichiro Suzuki" in out
    assert not p12_open(tmp_path, r3.content, "WRONGWRONG22", "w")[0]
    assert inst.sql("SELECT state FROM client_pickups WHERE p12 IS NULL")[0][0] == "taken"
    # once only
    r4 = pub.post(url, data={"csrf": csrf_of(r.text), "pin": pin})
    assert r4.status_code == 410 and r4.headers["Content-Type"].startswith("text/html")
    a = audit(inst)
    assert re.search(rf"officer:{o.id}\tconsole\.client_issue\t{serial}\tdelivery=pin_shown", a)
    assert re.search(rf"holder:download\tconsole\.client_wrong_pin\t{serial}", a)
    assert re.search(rf"holder:download\tconsole\.client_download\t{serial}", a)
    # listed with the organization's client certificates
    assert serial in s.get(f"{srv.console}/certs?kind=client").text
    inst.ok("audit", "verify")


def test_pin_mailed_lock_and_expiry(orgs, tmp_path):
    srv, inst = orgs
    o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
              "--perm", "client")
    s, _ = login(srv, o)
    r = issue(s, srv, "pin_mailed", holder="Jiro Tanaka", email="jiro@example.ac.jp")
    assert r.status_code == 201, r.text
    assert 'class="pin"' not in r.text
    mails = wait_mail_to(inst, "jiro@example.ac.jp", n=2)
    tok = [u for m in mails for u in urls(m, "")][0]
    ptok = [u for m in mails for u in urls(m, "pin/")][0]
    assert tok != ptok
    pub = session(srv)
    r = pub.get(f"{srv.https}/client/pin/{ptok}")
    assert r.status_code == 200 and 'class="pin"' not in r.text
    r2 = pub.post(f"{srv.https}/client/pin/{ptok}", data={"csrf": csrf_of(r.text)})
    assert r2.status_code == 200
    pin = pin_of(r2)
    r3 = pub.post(f"{srv.https}/client/pin/{ptok}", data={"csrf": csrf_of(r.text)})
    assert r3.status_code == 410 and 'class="pin"' not in r3.text
    # five wrong PINs lock the certificate URL; the right PIN is refused then
    url = f"{srv.https}/client/{tok}"
    r = pub.get(url)
    for i in range(4):
        rr = pub.post(url, data={"csrf": csrf_of(r.text), "pin": "WRONGWRONG22"})
        assert rr.status_code == 422, rr.text
    rr = pub.post(url, data={"csrf": csrf_of(r.text), "pin": "WRONGWRONG22"})
    assert rr.status_code == 410
    rr = pub.post(url, data={"csrf": csrf_of(r.text), "pin": pin})
    assert rr.status_code == 410 and rr.headers["Content-Type"].startswith("text/html")
    assert "console.client_locked" in audit(inst)
    assert "console.client_pin_shown" in audit(inst)
    # another one: the URL expires after console.client_days (14)
    r = issue(s, srv, "pin_shown", holder="Saburo Ito", email="saburo@example.ac.jp")
    pin = pin_of(r)
    tok = urls(wait_mail_to(inst, "saburo@example.ac.jp")[-1], "")[0]
    stop_server(srv)
    srv2 = start_server(inst, f"test.clock_offset = {15 * 86400}",
                        ports=(srv.http_port, srv.https_port, srv.console_port))
    try:
        pub = session(srv2)
        r = pub.get(f"{srv2.https}/client/{tok}")
        assert r.status_code == 410, r.text
    finally:
        stop_server(srv2)


def test_zip_to_user_administrator(orgs, tmp_path):
    if shutil.which("7z") is None:
        pytest.skip("7z (p7zip-full) is not installed")
    srv, inst = orgs
    o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
              "--perm", "client")
    s, _ = login(srv, o)
    r = issue(s, srv, "zip", holder="Shiro Kato", email="shiro@example.ac.jp")
    assert r.status_code == 201, r.text
    pw = pin_of(r)
    assert len(pw) == 20
    m = wait_mail_to(inst, "admin@example.ac.jp")[-1]
    assert pw not in m.get_content()
    tok = urls(m, "zip/")[0]
    pub = session(srv)
    url = f"{srv.https}/client/zip/{tok}"
    r = pub.get(url)
    assert r.status_code == 200
    r2 = pub.post(url, data={"csrf": csrf_of(r.text)})
    assert r2.status_code == 200 and r2.headers["Content-Type"] == "application/zip"
    assert pub.post(url, data={"csrf": csrf_of(r.text)}).status_code == 410
    z = tmp_path / "c.zip"
    z.write_bytes(r2.content)
    bad = subprocess.run(["7z", "x", "-y", "-pWRONG", f"-o{tmp_path}/bad", str(z)],
                         capture_output=True)
    assert bad.returncode != 0
    good = subprocess.run(["7z", "x", "-y", f"-p{pw}", f"-o{tmp_path}/x", str(z)],
                          capture_output=True)
    assert good.returncode == 0, good.stdout
    lines = (tmp_path / "x" / "PINs.txt").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].split("\t") == ["file", "serial", "holder", "e-mail", "PIN"]
    f, serial, holder, mail, pin = lines[1].split("\t")
    assert holder == "Shiro Kato" and mail == "shiro@example.ac.jp"
    ok, out = p12_open(tmp_path, (tmp_path / "x" / f).read_bytes(), pin)
    assert ok, out
    a = audit(inst)
    assert re.search(rf"officer:{o.id}\tconsole\.client_issue\t{serial}\tdelivery=zip", a)
    assert re.search(r"console\.client_zip\tU01\tcount=1", a)
    assert re.search(r"admin:download\tconsole\.client_zip_download\tzip:\d+\tcount=1", a)


def test_permission_and_unknown(orgs, tmp_path):
    srv, inst = orgs
    o = enrol(srv, inst, tmp_path, "Hanako Server", "hanako@example.ac.jp", "--org", "U01",
              "--perm", "server")
    s, menu = login(srv, o)
    assert "kind=client" not in menu.text
    assert s.get(f"{srv.console}/certs/new?kind=client").status_code == 403
    r = s.get(f"{srv.console}/certs/new?kind=server")
    data = {"csrf": csrf_of(r.text), "kind": "client", "delivery": "pin_shown",
            "admin_email": "admin@example.ac.jp", "holder_name": "X",
            "holder_email": "x@example.ac.jp"}
    r = s.post(f"{srv.console}/certs/new", files={k: (None, v) for k, v in data.items()})
    assert r.status_code == 403
    pub = session(srv)
    assert pub.get(f"{srv.https}/client/{'A' * 43}").status_code == 404
    assert pub.get(f"{srv.https}/client/zip/short").status_code == 404
    # a client officer cannot renew with a key made here (a renewal is from a CSR)
    c = enrol(srv, inst, tmp_path, "Ken Client", "ken@example.ac.jp", "--org", "U01",
              "--perm", "client")
    s2, _ = login(srv, c)
    r = s2.get(f"{srv.console}/certs/new?kind=client")
    data = {"csrf": csrf_of(r.text), "kind": "client", "delivery": "pin_shown",
            "renew": "0A", "admin_email": "admin@example.ac.jp", "holder_name": "X",
            "holder_email": "x@example.ac.jp"}
    r = s2.post(f"{srv.console}/certs/new", files={k: (None, v) for k, v in data.items()})
    assert r.status_code == 422 and "from a CSR" in text(r)
    # the console listener does not serve the public pages
    assert s.get(f"{srv.console}/client/{'A' * 43}").status_code == 404


def client_line(cn, method, mail, pin="", p12=""):
    return [f"CN={cn},OU=Lab,O=Example University,L=Chiyoda-ku,ST=Tokyo,C=JP", "5", str(method),
            "", "", "", "", "山田 花子", "情報基盤センター", "admin@example.ac.jp", cn, p12,
            "研究室", mail, pin]


def test_bulk_client_upki(orgs, tmp_path):
    """A UPKI client issue file (CP932, CRLF, 15 columns): method 1 lines mail each holder the
    certificate URL and the PIN URL; method 2 lines go into one ZIP for the user
    administrator, whose password the result page's button (a POST with the CSRF token) shows
    once — never a GET; method 3 is refused."""
    from test_console_bulk import commit_form, cp932, follow, rows, upload
    srv, inst = orgs
    o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
              "--perm", "client")
    s, menu = login(srv, o)
    data = cp932([client_line("Ichiro Suzuki", 1, "ichiro@example.ac.jp"),
                  client_line("Jiro Tanaka", 2, "jiro@example.ac.jp", pin="Pin-4321",
                              p12="cert20261206-103000"),
                  client_line("Saburo Ito", 2, "saburo@example.ac.jp"),
                  client_line("Shiro Kato", 3, "shiro@example.ac.jp")])
    r = upload(s, srv, data, kind="client", mode="good_lines")
    assert r.status_code == 200, r.text
    rr = rows(r)
    assert [x[1] for x in rr][:3] == ["OK", "OK", "OK"] or len(rr) == 4, rr
    r = s.post(f"{srv.console}/bulk/commit", files=commit_form(r), allow_redirects=False)
    assert r.status_code == 303, r.text
    job = f"{srv.console}{r.headers['Location']}"
    end = time.time() + 60
    while "kind=client op=issue" not in audit(inst):
        assert time.time() < end
        time.sleep(0.2)
    time.sleep(0.5)
    # neither a HEAD nor GETs of the finished job's page (a reload, a link preview, a
    # prefetch) take the password: the page says it waits, behind a POST button
    assert s.head(job).status_code == 200
    for _ in range(2):
        r = follow(s, s.get(job))
        assert r.status_code == 200, r.text
        assert 'class="pin"' not in r.text and "/bulk/job/keys" in r.text, r.text
    rr = rows(r)
    serials = [x[2] for x in rr if x[2]]
    assert len(serials) == 3, rr
    assert "browser" in r.text
    # without the CSRF token: refused, and the password still waits
    jid = re.search(r"id=([0-9a-f]{32})", job).group(1)
    bad = s.post(f"{srv.console}/bulk/job/keys", data={"id": jid, "csrf": "x"})
    assert bad.status_code in (400, 403) and 'class="pin"' not in bad.text, bad.text
    bad = s.post(f"{srv.console}/bulk/job/keys", data={"id": jid})
    assert bad.status_code in (400, 403) and 'class="pin"' not in bad.text, bad.text
    # another session of the same officer: no such job (the password still waits)
    s2, menu2 = login(srv, o)
    other = s2.post(f"{srv.console}/bulk/job/keys", data={"id": jid, "csrf": csrf_of(menu2.text)})
    assert other.status_code == 404 and 'class="pin"' not in other.text, other.text
    shown, form = show_secrets(s, srv, r)
    pws = re.findall(r'<code class="pin">([^<]+)</code>', shown.text)
    assert len(pws) == 1 and len(pws[0]) >= 12, shown.text
    pw = pws[0]
    assert [x[2] for x in rows(shown) if x[2]] == serials  # the same result page
    # once: then erased; the POST again and the GET only say when it was shown
    again = s.post(f"{srv.console}/bulk/job/keys", data=form)
    assert again.status_code == 200 and pw not in again.text and "/bulk/job/keys" not in again.text
    again = s.get(job)
    assert pw not in again.text and "/bulk/job/keys" not in again.text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", again.text), again.text
    # method 1: both mails to the holder; the PIN URL then the PKCS#12
    mails = wait_mail_to(inst, "ichiro@example.ac.jp", n=2)
    tok = [u for m in mails for u in urls(m, "")][0]
    ptok = [u for m in mails for u in urls(m, "pin/")][0]
    pub = session(srv)
    r = pub.get(f"{srv.https}/client/pin/{ptok}")
    pin = pin_of(pub.post(f"{srv.https}/client/pin/{ptok}", data={"csrf": csrf_of(r.text)}))
    r = pub.get(f"{srv.https}/client/{tok}")
    r = pub.post(f"{srv.https}/client/{tok}", data={"csrf": csrf_of(r.text), "pin": pin})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-pkcs12"
    assert p12_open(tmp_path, r.content, pin, "i")[0]
    # method 2: one ZIP to the user administrator
    m = wait_mail_to(inst, "admin@example.ac.jp")[-1]
    assert "2" in m.get_content()
    ztok = urls(m, "zip/")[0]
    r = pub.get(f"{srv.https}/client/zip/{ztok}")
    r = pub.post(f"{srv.https}/client/zip/{ztok}", data={"csrf": csrf_of(r.text)})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    z = tmp_path / "b.zip"
    z.write_bytes(r.content)
    if shutil.which("7z") is None:
        return
    assert subprocess.run(["7z", "x", "-y", f"-p{pw}", f"-o{tmp_path}/b", str(z)],
                          capture_output=True).returncode == 0
    lines = (tmp_path / "b" / "PINs.txt").read_text(encoding="utf-8-sig").splitlines()[1:]
    assert len(lines) == 2
    byname = {l.split("\t")[2]: l.split("\t") for l in lines}
    assert byname["Jiro Tanaka"][0] == "cert20261206-103000.p12"
    assert byname["Jiro Tanaka"][4] == "Pin-4321"
    for f, serial, _, _, p in byname.values():
        assert serial in serials
        assert p12_open(tmp_path, (tmp_path / "b" / f).read_bytes(), p, serial)[0]
    assert re.search(r"console\.bulk\tU01\tkind=client op=issue mode=good_lines lines=4 done=3",
                     audit(inst))


def test_bulk_client_native(orgs, tmp_path):
    """A native client issue file (UTF-8, header row): an S/MIME line (profile smime: the CN
    is the holder's address) per holder, a client line into the ZIP."""
    from test_console_bulk import commit, rows, upload
    srv, inst = orgs
    o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
              "--perm", "client")
    s, _ = login(srv, o)
    org = "O=Example University,L=Chiyoda-ku,ST=Tokyo,C=JP"
    body = ("subject_dn\tprofile\tdownload_method\tadmin_email\tholder_name\tholder_email\n"
            f"CN=hanako@example.ac.jp,{org}\tsmime\t1\tadmin@example.ac.jp\tHanako\t\n"
            f"CN=Goro Sato,{org}\tclient\t2\tadmin@example.ac.jp\tGoro Sato\t"
            "goro@example.ac.jp\n")
    r = upload(s, srv, body.encode(), kind="client", dialect="native")
    assert r.status_code == 200, r.text
    r = commit(s, srv, r)
    assert r.status_code == 200, r.text
    assert len([x for x in rows(r) if x[2]]) == 2, rows(r)
    assert 'class="pin"' not in r.text  # the GET: the password waits for the button
    assert 'class="pin"' in show_secrets(s, srv, r)[0].text
    mails = wait_mail_to(inst, "hanako@example.ac.jp", n=2)
    assert [u for m in mails for u in urls(m, "pin/")]
    m = wait_mail_to(inst, "admin@example.ac.jp")[-1]
    assert urls(m, "zip/")
