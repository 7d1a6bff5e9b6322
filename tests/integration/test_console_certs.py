"""The organization's certificates in the RA officers' console (issue 13 part 4): an officer
issues a server certificate from a CSR with its user administrator, who gets a one-time
download URL by mail (GET shows, the button downloads once); the name policy refuses a name
outside the organization's domains; renewal needs a new key and leaves the old certificate
waiting for its replacement until the user administrator confirms it (or the schedule revokes
it after the waiting period, after a reminder); revocation with reason and comment shows in
OCSP; permissions per kind and organizations kept apart."""
import html
import urllib.parse
import re
import time

import pytest

from conftest import make_csr, openssl, start_server, stop_server
from test_console import (CONF, audit, csrf_of, enrol, login, session, wait_mail_to)


def text(r):
    return html.unescape(r.text)


def serve_orgs(inst):
    inst.ok("org", "add", "U01", "--name", "Example University", "--domain", "example.ac.jp")
    inst.ok("org", "add", "U02", "--name", "Other University", "--domain", "other.ac.jp")
    return start_server(inst, CONF)


@pytest.fixture
def orgs(ca):
    srv = serve_orgs(ca)
    yield srv, ca
    stop_server(srv)


@pytest.fixture
def orgs_sqlite(ca_sqlite):
    """The page rules are the same on both backends."""
    srv = serve_orgs(ca_sqlite)
    yield srv, ca_sqlite
    stop_server(srv)


def issue(s, srv, csr_path, admin="admin@example.ac.jp", software="nginx1.24", kind="server",
          renew=None, dns=""):
    r = s.get(f"{srv.console}/certs/new?kind={kind}")
    assert r.status_code == 200, r.text
    data = {"csrf": csrf_of(r.text), "kind": kind, "csr": open(csr_path).read(),
            "admin_name": "山田 花子", "admin_unit": "情報基盤センター", "admin_email": admin,
            "software": software, "dns": dns}
    if renew:
        data["renew"] = renew
    # multipart, as the browser sends the form (it has a file field)
    return s.post(f"{srv.console}/certs/new",
                  files={k: (None, v) for k, v in data.items()})


def serial_of(r):
    m = re.search(r"/certs/view\?serial=([0-9A-F]+)", r.text)
    assert m, r.text
    return m.group(1)


def dl_token(m):
    urls = re.findall(r"https://\S+/cert/([A-Za-z0-9_-]+)", m.get_content())
    assert len(urls) == 2 and urls[0] == urls[1], m.get_content()
    return urls[0]


def ocsp_status(srv, inst, pem):
    p = openssl("ocsp", "-issuer", inst.path("certs", "issuing.pem"), "-cert", pem, "-url",
                srv.http + "/ocsp", "-CAfile", inst.path("certs", "root.pem"), check=False)
    return p.stdout.decode()


def test_server_certificate_life(orgs, tmp_path):
    srv, inst = orgs
    o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
              "--perm", "server")
    s, menu = login(srv, o)
    assert 'href="/certs?kind=server"' in menu.text and "kind=client" not in menu.text
    csr, key = make_csr(tmp_path, subj="/CN=www.example.ac.jp", san="DNS:www.example.ac.jp",
                        name="www")
    # a name outside the organization's domains: refused by the name policy, nothing issued
    bad, _ = make_csr(tmp_path, subj="/CN=www.other.ac.jp", san="DNS:www.other.ac.jp",
                      name="bad")
    r = issue(s, srv, bad)
    assert r.status_code == 422 and "name policy" in text(r), r.text
    r = issue(s, srv, csr, software="")
    assert r.status_code == 422 and "server software" in text(r)
    r = issue(s, srv, csr)
    assert r.status_code == 201, r.text
    serial = serial_of(r)
    # the user administrator's mail and one-time download
    m = wait_mail_to(inst, "admin@example.ac.jp")[-1]
    assert serial in m.get_content()
    tok = dl_token(m)
    pub = session(srv)
    r = pub.get(f"{srv.https}/cert/{tok}")
    assert r.status_code == 200 and serial in r.text and "www.example.ac.jp" in r.text
    r2 = pub.post(f"{srv.https}/cert/{tok}", data={"csrf": csrf_of(r.text)})
    assert r2.status_code == 200
    assert r2.headers["Content-Type"] == "application/pem-certificate-chain"
    assert r2.text.count("BEGIN CERTIFICATE") == 3
    chain = tmp_path / "chain.pem"
    chain.write_text(r2.text)
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(r2.text.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
    v = openssl("verify", "-CAfile", inst.path("certs", "root.pem"), "-untrusted", str(chain),
                str(leaf))
    assert b": OK" in v.stdout
    r3 = pub.post(f"{srv.https}/cert/{tok}", data={"csrf": csrf_of(r.text)})
    assert r3.status_code == 200 and "ダウンロードされています" in r3.text, r3.text
    assert "BEGIN CERTIFICATE" not in r3.text
    # the list and the search
    r = s.get(f"{srv.console}/certs?kind=server&q=www.example")
    assert serial in r.text
    r = s.get(f"{srv.console}/certs?kind=server&q=nothing-like-this")
    assert serial not in r.text

    # renewal: the same key is refused; a new key issues and the old one waits
    r = issue(s, srv, csr, renew=serial)
    assert r.status_code == 422 and "new key" in text(r), r.text
    csr2, _ = make_csr(tmp_path, subj="/CN=www.example.ac.jp", san="DNS:www.example.ac.jp",
                       name="www2")
    r = issue(s, srv, csr2, renew=serial)
    assert r.status_code == 201, r.text
    serial2 = serial_of(r)
    assert serial2 != serial
    r = s.get(f"{srv.console}/certs/view?serial={serial}&lang=en")
    assert "waiting for replacement" in r.text
    r = issue(s, srv, csr2, renew=serial)  # renewed already
    assert r.status_code == 422 and "renewed already" in text(r), r.text
    m = [x for x in wait_mail_to(inst, "admin@example.ac.jp", n=2) if serial2 in x.get_content()]
    tok2 = dl_token(m[0])
    r = pub.get(f"{srv.https}/cert/{tok2}?lang=en")
    assert "Confirm the replacement" in r.text and serial in r.text
    r = pub.post(f"{srv.https}/cert/{tok2}/confirm?lang=en", data={"csrf": csrf_of(r.text)})
    assert r.status_code == 200 and "old certificate is revoked" in r.text, r.text
    oldpem = tmp_path / "old.pem"
    oldpem.write_text(leaf.read_text())
    assert "revoked" in ocsp_status(srv, inst, str(oldpem)).lower()
    assert re.search(rf"admin:confirm\tcert\.revoke\t{serial}", audit(inst))

    # revocation by the officer: reason 0 needs a comment
    r = s.get(f"{srv.console}/certs/view?serial={serial2}")
    csrf = csrf_of(r.text)
    r = s.post(f"{srv.console}/certs/revoke",
               data={"csrf": csrf, "serial": serial2, "reason": "0", "comment": ""})
    assert r.status_code == 422 and "comment" in text(r)
    r = s.post(f"{srv.console}/certs/revoke",
               data={"csrf": csrf, "serial": serial2, "reason": "0", "comment": "server retired"})
    assert r.status_code == 200, r.text
    a = audit(inst)
    assert re.search(rf"officer:{o.id}\tconsole\.revoke\t{serial2}\tserver retired", a), a
    r = s.get(f"{srv.console}/certs?kind=server&status=revoked")
    assert serial2 in r.text and serial in r.text
    inst.ok("audit", "verify")


def test_permissions_and_organizations(orgs_sqlite, tmp_path):
    srv, inst = orgs_sqlite
    srv_o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
                  "--perm", "server")
    cli_o = enrol(srv, inst, tmp_path, "Jiro Suzuki", "jiro@example.ac.jp", "--org", "U01",
                  "--perm", "client")
    oth_o = enrol(srv, inst, tmp_path, "Saburo Ito", "saburo@other.ac.jp", "--org", "U02",
                  "--perm", "server,client,codesign")
    s1, _ = login(srv, srv_o)
    csr, _ = make_csr(tmp_path, subj="/CN=a.example.ac.jp", san="DNS:a.example.ac.jp",
                      name="a")
    r = issue(s1, srv, csr)
    assert r.status_code == 201
    serial = serial_of(r)
    # the officer's menu names what expires within 30 days (a certificate of 10 days)
    short, _ = make_csr(tmp_path, subj="/CN=short.example.ac.jp",
                        san="DNS:short.example.ac.jp", name="short")
    inst.ok("issue", "--profile", "server", "--org", "U01", "--csr", short, "--days", "10",
            "--out", str(tmp_path / "short.pem"))
    _, menu = login(srv, srv_o)
    assert re.search(r'href="/certs\?kind=server&amp;status=valid&amp;days=30">[^<]*: 1<',
                     menu.text), menu.text
    s2, _ = login(srv, cli_o)
    assert s2.get(f"{srv.console}/certs?kind=server").status_code == 403
    assert s2.get(f"{srv.console}/certs/new?kind=server").status_code == 403
    assert s2.get(f"{srv.console}/certs/view?serial={serial}").status_code == 403
    assert s2.get(f"{srv.console}/certs?kind=client").status_code == 200
    s3, _ = login(srv, oth_o)
    assert s3.get(f"{srv.console}/certs/view?serial={serial}").status_code == 404
    assert serial not in s3.get(f"{srv.console}/certs?kind=server").text
    r = s3.post(f"{srv.console}/certs/revoke", data={"csrf": csrf_of(s3.get(
        f"{srv.console}/certs?kind=server").text), "serial": serial, "reason": "1"})
    assert r.status_code == 404
    assert "Revoked" not in s1.get(f"{srv.console}/certs/view?serial={serial}&lang=en").text


def test_replacement_by_schedule(ca_sqlite, tmp_path):
    inst = ca_sqlite
    inst.ok("org", "add", "U01", "--name", "Example University", "--domain", "example.ac.jp")
    srv = start_server(inst, CONF)
    try:
        o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
                  "--perm", "server")
        s, _ = login(srv, o)
        csr, _ = make_csr(tmp_path, subj="/CN=b.example.ac.jp", san="DNS:b.example.ac.jp",
                          name="b")
        serial = serial_of(issue(s, srv, csr, admin="b-admin@example.ac.jp"))
        csr2, _ = make_csr(tmp_path, subj="/CN=b.example.ac.jp", san="DNS:b.example.ac.jp",
                           name="b2")
        r = issue(s, srv, csr2, admin="b-admin@example.ac.jp", renew=serial)
        assert r.status_code == 201
    finally:
        stop_server(srv)
    # 15 days later the schedule (at start) reminds once, then revokes the old one
    srv = start_server(inst, "test.clock_offset = 1296000",
                       ports=(srv.http_port, srv.https_port, srv.console_port))
    try:
        mails = wait_mail_to(inst, "b-admin@example.ac.jp", n=3)
        assert any("入れ替え" in str(m["Subject"]) and serial in m.get_content() for m in mails)
        end = time.time() + 20
        while time.time() < end:
            if re.search(rf"console:schedule\tcert\.revoke\t{serial}", audit(inst)):
                break
            time.sleep(0.3)
        assert re.search(rf"console:schedule\tcert\.revoke\t{serial}", audit(inst))
    finally:
        stop_server(srv)


def restart(srv, inst, offset):
    """The server again on its ports with its clock offset seconds ahead (test.clock_offset)."""
    stop_server(srv)
    with open(inst.path("shomei.conf")) as f:
        lines = [l for l in f if not l.startswith("test.clock_offset")]
    with open(inst.path("shomei.conf"), "w") as f:
        f.writelines(lines)
    return start_server(inst, f"test.clock_offset = {offset}",
                        ports=(srv.http_port, srv.https_port, srv.console_port))


def test_expiry_reminders(ca_sqlite, tmp_path):
    inst = ca_sqlite
    inst.ok("org", "add", "U01", "--name", "Example University", "--domain", "example.ac.jp")
    srv = start_server(inst, CONF)
    try:
        o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
                  "--perm", "server")
        s, _ = login(srv, o)
        csr, _ = make_csr(tmp_path, subj="/CN=c.example.ac.jp", san="DNS:c.example.ac.jp",
                          name="c")
        serial = serial_of(issue(s, srv, csr, admin="c-admin@example.ac.jp"))
        wait_mail_to(inst, "c-admin@example.ac.jp")  # the download URL
        not_after = int(inst.sql(f"SELECT not_after FROM certificates WHERE serial = "
                                 f"'{serial}'")[0][0])
        left = not_after - int(time.time())

        def reminders(n):
            ms = wait_mail_to(inst, "c-admin@example.ac.jp", n=n)
            return [str(m["Subject"]) for m in ms if "有効期限" in str(m["Subject"])]

        # 20 days before notAfter: the 30-day reminder, once
        srv = restart(srv, inst, left - 20 * 86400)
        assert any("30" in x for x in reminders(2)), reminders(1)
        # 5 days before: the 7-day one; a later run sends nothing more
        srv = restart(srv, inst, left - 5 * 86400)
        rs = reminders(3)
        assert len(rs) == 2 and any("7 日前" in x for x in rs), rs
        srv = restart(srv, inst, left - 4 * 86400)
        time.sleep(2)
        assert len(reminders(3)) == 2
        a = audit(inst)
        assert len(re.findall(rf"console\.expiry_mail\t{serial}", a)) == 2, a
    finally:
        stop_server(srv)


def test_bulk_revoke_search_result(orgs, tmp_path):
    """Revoking every certificate of a search result: the confirmation lists how many and
    which (GET writes nothing), the POST revokes exactly that set — the organization's
    certificates of the kind that match, not another organization's nor one outside the
    filter — in one step, each audited and shown by OCSP and `shomei cert list`; the comment
    is required for unspecified; no permission, no revocation; the same form twice does
    nothing more."""
    srv, inst = orgs
    srv_o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
                  "--perm", "server")
    cli_o = enrol(srv, inst, tmp_path, "Jiro Suzuki", "jiro@example.ac.jp", "--org", "U01",
                  "--perm", "client")
    oth_o = enrol(srv, inst, tmp_path, "Saburo Ito", "saburo@other.ac.jp", "--org", "U02",
                  "--perm", "server")

    def cli_issue(cn, org):
        csr, _ = make_csr(tmp_path, subj=f"/CN={cn}", san=f"DNS:{cn}", name=cn)
        pem = tmp_path / f"{cn}.pem"
        inst.ok("issue", "--profile", "server", "--org", org, "--csr", csr, "--out", str(pem))
        sn = openssl("x509", "-in", str(pem), "-noout", "-serial").stdout.decode()
        return sn.split("=")[1].strip(), pem

    lab = [cli_issue(f"lab{i}.example.ac.jp", "U01") for i in range(3)]
    www, _ = cli_issue("www.example.ac.jp", "U01")
    other, _ = cli_issue("lab9.other.ac.jp", "U02")
    lab_serials = {sn for sn, _ in lab}

    s, _ = login(srv, srv_o)
    lst = s.get(f"{srv.console}/certs?kind=server&q=lab")
    assert 'action="/certs/revoke-all"' in lst.text, lst.text
    conf = s.get(f"{srv.console}/certs/revoke-all?kind=server&q=lab&status=&days=&lang=en")
    assert conf.status_code == 200, conf.text
    assert re.search(r'<strong class="count">3</strong>', conf.text), conf.text
    for sn in lab_serials:
        assert sn in conf.text
    assert www not in conf.text and other not in conf.text
    form = dict(re.findall(r'name="(\w+)" value="([^"]*)"',
                           re.search(r'<form method="post" action="/certs/revoke-all".*?</form>',
                                     conf.text, re.S).group(0)))
    form = {k: html.unescape(v) for k, v in form.items()}
    assert form["q"] == "lab" and len(form["digest"]) == 64

    def revoked():
        return inst.ok("cert", "list", "--status", "revoked")

    # GET never revokes, whatever it carries
    r = s.get(f"{srv.console}/certs/revoke-all", params={**form, "reason": "5"})
    assert r.status_code == 200
    assert not any(sn in revoked() for sn in lab_serials)
    # unspecified needs the comment
    r = s.post(f"{srv.console}/certs/revoke-all", data={**form, "reason": "0", "comment": ""})
    assert r.status_code == 422 and "comment" in text(r), r.text
    assert not any(sn in revoked() for sn in lab_serials)
    # without the CSRF token: not acted on
    r = s.post(f"{srv.console}/certs/revoke-all",
               data={**{k: v for k, v in form.items() if k != "csrf"}, "reason": "5"})
    assert r.status_code != 200
    assert not any(sn in revoked() for sn in lab_serials)
    # an officer without the server permission: refused, nothing revoked
    s2, _ = login(srv, cli_o)
    assert s2.get(f"{srv.console}/certs/revoke-all?kind=server&q=lab").status_code == 403
    csrf2 = csrf_of(s2.get(f"{srv.console}/certs?kind=client").text)
    r = s2.post(f"{srv.console}/certs/revoke-all",
                data={**form, "csrf": csrf2, "reason": "5"})
    assert r.status_code == 403
    # another organization's officer: its own set, without U01's certificates
    s3, _ = login(srv, oth_o)
    r = s3.get(f"{srv.console}/certs/revoke-all?kind=server&q=lab")
    assert re.search(r'<strong class="count">1</strong>', r.text) and other in r.text
    csrf3 = csrf_of(r.text)
    r = s3.post(f"{srv.console}/certs/revoke-all", data={**form, "csrf": csrf3, "reason": "5"})
    assert r.status_code == 409  # U01's digest is not U02's set
    assert not any(sn in revoked() for sn in lab_serials) and other not in revoked()
    assert not any(sn in revoked() for sn in lab_serials)

    # the revocation: exactly the three
    r = s.post(f"{srv.console}/certs/revoke-all",
               data={**form, "reason": "0", "comment": "lab closed", "lang": "en"})
    assert r.status_code == 200, r.text
    assert re.search(r'<strong class="count">3</strong>', r.text), r.text
    rv = revoked()
    assert all(sn in rv for sn in lab_serials), rv
    assert www not in rv and other not in rv
    assert www in inst.ok("cert", "list", "--status", "valid")
    for _, pem in lab:
        assert "revoked" in ocsp_status(srv, inst, str(pem)).lower()
    a = audit(inst)
    for sn in lab_serials:
        assert re.search(rf"officer:{srv_o.id}\tconsole\.revoke\t{sn}\tbulk=3 lab closed", a), a
        assert re.search(rf"officer:{srv_o.id}\tcert\.revoke\t{sn}", a), a
    # the same form again: nothing more
    n = len(revoked().splitlines())
    r = s.post(f"{srv.console}/certs/revoke-all",
               data={**form, "reason": "0", "comment": "lab closed"})
    assert r.status_code == 409, r.text
    assert len(revoked().splitlines()) == n
    inst.ok("audit", "verify")


def test_list_pages(orgs_sqlite, tmp_path):
    """A list larger than a page (issue 13 review L4): 50 rows a page at most, a next link
    that keeps the search (its values percent-encoded), every certificate on exactly one
    page; the menu's count of what expires soon is a COUNT, the same number."""
    srv, inst = orgs_sqlite
    o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
              "--perm", "server")
    csr, _ = make_csr(tmp_path, subj="/CN=seed.example.ac.jp", san="DNS:seed.example.ac.jp",
                      name="seed")
    pem = tmp_path / "seed.pem"
    inst.ok("issue", "--profile", "server", "--org", "U01", "--csr", csr, "--out", str(pem))
    seed = openssl("x509", "-in", str(pem), "-noout", "-serial").stdout.decode()
    seed = seed.split("=")[1].strip()
    soon = int(time.time()) + 10 * 86400
    want = set()
    for i in range(120):
        sn = f"7E{i:030X}"
        want.add(sn)
        # the seed's row under another serial and name, expiring within 10 days
        inst.sql("INSERT INTO certificates (serial, ca, subject, sans, profile, org_id, "
                 "not_before, not_after, status, der, created) SELECT "
                 f"'{sn}', ca, 'CN=pg{i}&a b.example.ac.jp', 'DNS:pg{i}.example.ac.jp', "
                 f"profile, org_id, not_before, {soon}, 0, der, created + {i + 1} "
                 f"FROM certificates WHERE serial = '{seed}'")
    s, menu = login(srv, o)
    assert re.search(r":\s*120</a>", menu.text), menu.text

    def walk(url):
        seen, pages = [], 0
        while url:
            r = s.get(srv.console + url)
            assert r.status_code == 200, r.text
            rows = re.findall(r"/certs/view\?serial=([0-9A-F]+)", r.text)
            assert len(rows) <= 50
            seen += rows
            pages += 1
            m = re.search(r'<a href="(/certs\?[^"]+)">(?:次のページ|Next page)</a>', r.text)
            url = html.unescape(m.group(1)) if m else None
        return seen, pages

    seen, pages = walk("/certs?kind=server")
    assert pages == 3 and len(seen) == len(set(seen)) == 121
    assert set(seen) == want | {seed}
    # the search goes on over the pages, with a value a URL must encode
    seen, pages = walk("/certs?kind=server&" + urllib.parse.urlencode({"q": "&a b"}))
    assert pages == 3 and set(seen) == want, (pages, len(seen))
    seen, pages = walk("/certs?kind=server&q=pg1")  # pg1, pg10-19, pg100-119
    assert pages == 1 and len(seen) == 31
