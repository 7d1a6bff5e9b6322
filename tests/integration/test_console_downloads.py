"""The RA officers' console, issue 13 parts 6 and 7: the organization's certificates as one TSV
file (native: UTF-8 with named columns; UPKI: 46 columns, CP932, CRLF, JST, status codes, never
a secret), per kind and permission, organizations apart; the user administrator changed for one
certificate, for every certificate of an old address and by a TSV upload (all or nothing),
audited, and what follows reads the new address."""
import base64
import hashlib
import re
import ssl

import pytest

from conftest import make_csr
from test_console import audit, csrf_of, enrol, login, wait_mail_to
from test_console_certs import issue, orgs, orgs_sqlite, serial_of, text  # noqa: F401

UPKI_STATUS, UPKI_SERIAL, UPKI_CERT, UPKI_PIN = 11, 23, 22, 28
UPKI_ADMIN_EMAIL, UPKI_OLD_SERIAL, UPKI_NOT_AFTER = 14, 42, 26


def download(s, srv, kind, fmt, status=""):
    q = f"kind={kind}&format={fmt}" + (f"&status={status}" if status else "")
    return s.get(f"{srv.console}/download?{q}")


def native_rows(r):
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["Content-Disposition"]
    lines = r.content.decode("utf-8").split("\n")
    assert lines[-1] == ""
    head = lines[0].split("\t")
    rows = [dict(zip(head, l.split("\t"))) for l in lines[1:-1]]
    for l in lines[1:-1]:
        assert len(l.split("\t")) == len(head)
    return head, rows


def upki_rows(r):
    assert r.status_code == 200, r.text
    assert "Shift_JIS" in r.headers["Content-Type"]
    body = r.content.decode("cp932")
    assert body.endswith("\r\n") and "\n" not in body.replace("\r\n", "")
    lines = body.split("\r\n")[:-1]
    rows = [l.split("\t") for l in lines]
    for row in rows:
        assert len(row) == 46, row
    return rows[0], rows[1:]


def pem_of(b64):
    return ssl.DER_cert_to_PEM_cert(base64.b64decode(b64))


def csr(tmp_path, cn, name, client=False):
    if client:
        return make_csr(tmp_path, subj=f"/CN={cn}", san=f"email:{name}@example.ac.jp",
                        name=name)[0]
    return make_csr(tmp_path, subj=f"/CN={cn}", san=f"DNS:{cn}", name=name)[0]


def test_bulk_download(orgs, tmp_path):
    srv, inst = orgs
    o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
              "--perm", "server,client")
    cli_o = enrol(srv, inst, tmp_path, "Jiro Suzuki", "jiro@example.ac.jp", "--org", "U01",
                  "--perm", "client")
    oth_o = enrol(srv, inst, tmp_path, "Saburo Ito", "saburo@other.ac.jp", "--org", "U02",
                  "--perm", "server,client,codesign")
    s, menu = login(srv, o)
    assert 'href="/download?kind=server"' in menu.text
    assert 'href="/download?kind=all"' in menu.text and 'href="/admins"' in menu.text
    assert "kind=codesign" not in menu.text
    a = serial_of(issue(s, srv, csr(tmp_path, "a.example.ac.jp", "a")))
    b = serial_of(issue(s, srv, csr(tmp_path, "b.example.ac.jp", "b")))
    b2 = serial_of(issue(s, srv, csr(tmp_path, "b.example.ac.jp", "b2"), renew=b))
    r = issue(s, srv, csr(tmp_path, "Hanako Yamada", "hanako", client=True), kind="client")
    assert r.status_code == 201, r.text
    c = serial_of(r)
    r = s.get(f"{srv.console}/certs/view?serial={a}")
    r = s.post(f"{srv.console}/certs/revoke",
               data={"csrf": csrf_of(r.text), "serial": a, "reason": "1"})
    assert r.status_code == 200, r.text
    s3, _ = login(srv, oth_o)
    x = serial_of(issue(s3, srv, csr(tmp_path, "www.other.ac.jp", "x"),
                        admin="x@other.ac.jp"))

    # the page without a format
    r = s.get(f"{srv.console}/download?kind=server")
    assert r.status_code == 200 and 'name="format"' in r.text

    # native: every server certificate, the PEM column is the certificate
    head, rows = native_rows(download(s, srv, "server", "native"))
    assert head[:4] == ["serial", "kind", "profile", "status"]
    assert "certificate" in head and "fingerprint" in head and "admin_email" in head
    by = {row["serial"]: row for row in rows}
    assert set(by) == {a, b, b2}
    assert by[a]["status"] == "revoked" and by[a]["reason"] == "1"
    assert by[b]["replace_state"] == "waiting" and by[b2]["replaces"] == b
    assert by[b2]["admin_email"] == "admin@example.ac.jp"
    assert by[b2]["admin_name"] == "山田 花子"
    der = base64.b64decode(by[b2]["certificate"])
    assert hashlib.sha256(der).hexdigest() == by[b2]["fingerprint"]
    assert serial_hex(pem_of(by[b2]["certificate"])) == b2

    # UPKI: 46 columns, CP932, CRLF, the status codes, JST, no PIN
    head, rows = upki_rows(download(s, srv, "all", "upki"))
    assert "利用管理者メールアドレス" in head and "アクセスPIN" in head
    by = {row[UPKI_SERIAL]: row for row in rows}
    assert set(by) == {a, b, b2, c}
    assert by[a][UPKI_STATUS] == "7"
    assert by[b][UPKI_STATUS] == "8"
    assert by[b2][UPKI_STATUS] == "6" and by[b2][UPKI_OLD_SERIAL] == b
    assert by[c][UPKI_STATUS] == "5"
    assert by[b2][UPKI_ADMIN_EMAIL] == "admin@example.ac.jp"
    assert by[b2][12] == "山田 花子" and by[b2][13] == "情報基盤センター"
    for row in rows:
        assert row[UPKI_PIN] == ""
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[UPKI_NOT_AFTER])
        assert serial_hex(pem_of(row[UPKI_CERT])) == row[UPKI_SERIAL]
    # no download URL's token in either download
    toks = {t for m in wait_mail_to(inst, "admin@example.ac.jp", n=4)
            for t in re.findall(r"/cert/([A-Za-z0-9_-]+)", m.get_content())}
    assert len(toks) == 4
    files = download(s, srv, "all", "native").content + download(s, srv, "all", "upki").content
    for t in toks:
        assert t.encode() not in files

    # status filter
    _, rows = native_rows(download(s, srv, "server", "native", status="revoked"))
    assert [row["serial"] for row in rows] == [a]
    assert download(s, srv, "server", "native", status="bogus").status_code == 400
    assert download(s, srv, "server", "xml").status_code == 400
    assert download(s, srv, "nothing", "native").status_code == 404

    # a client-only officer: 403 for servers, only client rows in "all"
    s2, _ = login(srv, cli_o)
    assert download(s2, srv, "server", "native").status_code == 403
    _, rows = native_rows(download(s2, srv, "all", "native"))
    assert [row["serial"] for row in rows] == [c]
    # another organization never sees these, nor these its
    _, rows = upki_rows(download(s3, srv, "all", "upki"))
    assert [row[UPKI_SERIAL] for row in rows] == [x]
    _, rows = native_rows(download(s, srv, "all", "native"))
    assert x not in [row["serial"] for row in rows]


def serial_hex(pem):
    from conftest import openssl
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
        f.write(pem)
        f.flush()
        out = openssl("x509", "-in", f.name, "-noout", "-serial").stdout.decode()
    return out.strip().split("=", 1)[1].upper()


def test_admin_update(orgs_sqlite, tmp_path):
    srv, inst = orgs_sqlite
    o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
              "--perm", "server")
    oth_o = enrol(srv, inst, tmp_path, "Saburo Ito", "saburo@other.ac.jp", "--org", "U02",
                  "--perm", "server")
    s, _ = login(srv, o)
    a = serial_of(issue(s, srv, csr(tmp_path, "a.example.ac.jp", "a"), admin="old@example.ac.jp"))
    b = serial_of(issue(s, srv, csr(tmp_path, "b.example.ac.jp", "b"), admin="old@example.ac.jp"))
    c = serial_of(issue(s, srv, csr(tmp_path, "c.example.ac.jp", "c"), admin="c@example.ac.jp"))

    # one certificate, from its page
    r = s.get(f"{srv.console}/certs/view?serial={c}")
    assert 'action="/certs/admin"' in r.text
    r = s.post(f"{srv.console}/certs/admin",
               data={"csrf": csrf_of(r.text), "serial": c, "admin_name": "佐藤 一郎",
                     "admin_unit": "工学部", "admin_email": "sato@example.ac.jp"})
    assert r.status_code == 200, r.text
    r = s.get(f"{srv.console}/certs/view?serial={c}")
    assert "sato@example.ac.jp" in r.text and "佐藤 一郎" in r.text
    assert "c@example.ac.jp" not in r.text
    r2 = s.post(f"{srv.console}/certs/admin",
                data={"csrf": csrf_of(r.text), "serial": c, "admin_name": "",
                      "admin_unit": "", "admin_email": "not an address"})
    assert r2.status_code == 422 and "e-mail" in text(r2)
    # another organization's officer cannot
    s3, _ = login(srv, oth_o)
    r3 = s3.get(f"{srv.console}/admins")
    assert r3.status_code == 200
    r3 = s3.post(f"{srv.console}/certs/admin",
                 data={"csrf": csrf_of(r3.text), "serial": c, "admin_name": "",
                       "admin_unit": "", "admin_email": "evil@other.ac.jp"})
    assert r3.status_code == 404
    r3 = s3.post(f"{srv.console}/admins/rename",
                 data={"csrf": csrf_of(s3.get(f"{srv.console}/admins").text),
                       "old_email": "old@example.ac.jp", "admin_name": "",
                       "admin_unit": "", "admin_email": "evil@other.ac.jp"})
    assert r3.status_code == 200 and ": 0" in r3.text

    # every certificate of the old address
    r = s.get(f"{srv.console}/admins")
    assert r.status_code == 200 and 'action="/admins/tsv"' in r.text
    r = s.post(f"{srv.console}/admins/rename",
               data={"csrf": csrf_of(r.text), "old_email": "old@example.ac.jp",
                     "admin_name": "新 管理者", "admin_unit": "総務課",
                     "admin_email": "new@example.ac.jp"})
    assert r.status_code == 200 and ": 2" in r.text, r.text
    for serial in (a, b):
        assert "new@example.ac.jp" in s.get(f"{srv.console}/certs/view?serial={serial}").text

    # by TSV: a bad line changes nothing
    csrf = csrf_of(s.get(f"{srv.console}/admins").text)
    bad = (f"serial\tadmin_name\tadmin_unit\tadmin_email\n{a}\tT\tU\tt@example.ac.jp\n"
           f"{b}\tT\tU\tnot-an-address\n")
    r = s.post(f"{srv.console}/admins/tsv",
               files={"csrf": (None, csrf), "file": ("a.tsv", bad.encode(), "text/plain")})
    assert r.status_code == 422 and "nothing was changed" in text(r), r.text
    assert "new@example.ac.jp" in s.get(f"{srv.console}/certs/view?serial={a}").text
    good = (f"admin_email\tserial\tadmin_name\tadmin_unit\r\n"
            f"tsv-a@example.ac.jp\t{a}\t田中\t理学部\r\ntsv-b@example.ac.jp\t{b}\tB\tU\r\n")
    r = s.post(f"{srv.console}/admins/tsv",
               files={"csrf": (None, csrf), "file": ("a.tsv", good.encode(), "text/plain")})
    assert r.status_code == 200 and ": 2" in r.text, r.text
    assert "tsv-a@example.ac.jp" in s.get(f"{srv.console}/certs/view?serial={a}").text
    # the download reads the new record too
    _, rows = native_rows(download(s, srv, "server", "native"))
    assert {row["serial"]: row["admin_email"] for row in rows} == {
        a: "tsv-a@example.ac.jp", b: "tsv-b@example.ac.jp", c: "sato@example.ac.jp"}
    # audited with the old and the new address
    log = audit(inst)
    assert re.search(rf"officer:{o.id}\tconsole\.admin\t{c}\tadmin_email c@example\.ac\.jp -> "
                     r"sato@example\.ac\.jp", log), log
    assert len(re.findall(r"\tconsole\.admin\t", log)) == 5
    inst.ok("audit", "verify")


def test_reminder_to_new_address(ca_sqlite, tmp_path):
    """The replacement reminder of a renewed certificate goes to the updated address."""
    from conftest import start_server, stop_server
    from test_console import CONF
    inst = ca_sqlite
    inst.ok("org", "add", "U01", "--name", "Example University", "--domain", "example.ac.jp")
    srv = start_server(inst, CONF)
    try:
        o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
                  "--perm", "server")
        s, _ = login(srv, o)
        old = serial_of(issue(s, srv, csr(tmp_path, "r.example.ac.jp", "r"),
                              admin="before@example.ac.jp"))
        r = issue(s, srv, csr(tmp_path, "r.example.ac.jp", "r2"), admin="before@example.ac.jp",
                  renew=old)
        assert r.status_code == 201, r.text
        r = s.get(f"{srv.console}/admins")
        r = s.post(f"{srv.console}/admins/rename",
                   data={"csrf": csrf_of(r.text), "old_email": "before@example.ac.jp",
                         "admin_name": "", "admin_unit": "",
                         "admin_email": "after@example.ac.jp"})
        assert r.status_code == 200 and ": 2" in r.text, r.text
        before = len(wait_mail_to(inst, "before@example.ac.jp", n=2))
    finally:
        stop_server(srv)
    srv = start_server(inst, "test.clock_offset = 1296000",
                       ports=(srv.http_port, srv.https_port, srv.console_port))
    try:
        mails = wait_mail_to(inst, "after@example.ac.jp", n=1)
        assert any("入れ替え" in str(m["Subject"]) and old in m.get_content() for m in mails)
        assert len(wait_mail_to(inst, "before@example.ac.jp", n=before)) == before
    finally:
        stop_server(srv)
    inst.ok("audit", "verify")
