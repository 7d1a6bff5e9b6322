"""The CA operator's pages of the console (issue 13 parts 1, 3, 9): an operator enrolled with
`shomei officer add --role operator` logs in and, from the pages, adds an officer (the access
PIN shown once, the certificate URL mailed, the same form sent again creates nothing), who
enrols with the mailed URL and PIN and logs in; disables, enables, changes permissions and
re-enrols officers; adds and edits organizations; keeps the OU allow-list, which an officer
with the server permission downloads as TSV.  Every operator route answers 403 to an officer
and to an auditor."""
import html
import re

import pytest

from conftest import make_csr, stop_server
from test_console import (Officer, audit, csrf_of, enrol, enrol_url, login, serve_console,
                          session, wait_mail_to)

OP_GETS = ["/operator/officers", "/operator/officers/add", "/operator/orgs",
           "/operator/orgs/edit?code=U01", "/operator/allowlist",
           "/operator/allowlist?org=U01"]
OP_POSTS = ["/operator/officers/add", "/operator/officers/status", "/operator/officers/perms",
            "/operator/officers/reenrol", "/operator/orgs/add", "/operator/orgs/edit",
            "/operator/allowlist/add", "/operator/allowlist/remove"]


@pytest.fixture
def console(ca):
    srv = serve_console(ca)
    yield srv, ca
    stop_server(srv)


def field(text, name):
    m = re.search(rf'name="{name}" value="([^"]*)"', text)
    assert m, (name, text)
    return html.unescape(m.group(1))


def seal_of(text):
    return {k: field(text, k) for k in ("form_nonce", "form_time", "form_mac")}


def pin_of(r):
    assert r.status_code == 200, r.text
    assert r.headers.get("Cache-Control") == "no-store"
    assert 'class="pin-sheet"' in r.text
    return re.search(r'<code class="pin">([^<]+)</code>', r.text).group(1)


def enrol_with(srv, tmp_path, name, tok, pin, tag):
    """The mailed URL and the access PIN the operator's page showed: an Officer."""
    s = session(srv)
    url = f"{srv.https}/officer/enrol/{tok}"
    r = s.get(url)
    assert r.status_code == 200 and name in r.text, r.text
    r = s.post(url, data={"csrf": csrf_of(r.text), "pin": pin})
    assert r.status_code == 200, r.text
    p12pin = re.search(r'<code class="pin">([^<]+)</code>', r.text).group(1)
    r = s.post(f"{srv.https}/officer/download",
               data={"csrf": csrf_of(r.text), "dl": field(r.text, "dl")})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-pkcs12"
    return Officer(str(tmp_path), tag, r.content, p12pin)


def officers(inst):
    """`shomei officer list` rows: id, role, org, status, perms, created, email, name."""
    return [l.split("\t") for l in inst.ok("officer", "list").splitlines() if l.strip()]


def officer_id(inst, addr):
    return int([row for row in officers(inst) if row[6] == addr][0][0])


def row_of(text, oid):
    m = re.search(rf'<tr id="officer-{oid}">(.*?)</tr>', text, re.S)
    assert m, text
    return m.group(1)


def test_operator_pages(console, tmp_path):
    srv, inst = console
    op = enrol(srv, inst, tmp_path, "Kenji Operator", "op@example.jp", "--role", "operator")
    s, menu = login(srv, op)
    for path in ("/operator/officers", "/operator/orgs", "/operator/allowlist"):
        assert f'href="{path}"' in menu.text, menu.text
    csrf = csrf_of(menu.text)

    # ---- add an officer: the PIN once, the URL mailed, a repeat creates nothing
    r = s.get(srv.console + "/operator/officers/add?lang=en")
    assert r.status_code == 200 and 'action="/operator/officers/add"' in r.text, r.text
    form = {"csrf": csrf, "org": "U01", "name": "Jiro Tanaka", "email": "jiro@example.ac.jp",
            "role": "officer", "perm_server": "1", **seal_of(r.text)}
    n0 = len(officers(inst))
    r = s.post(srv.console + "/operator/officers/add?lang=en", data=form)
    pin = pin_of(r)
    assert "Jiro Tanaka" in r.text and "out of band" in r.text
    assert len(officers(inst)) == n0 + 1
    jid = officer_id(inst, "jiro@example.ac.jp")
    m = wait_mail_to(inst, "jiro@example.ac.jp")[0]
    assert pin not in m.get_content()
    tok = enrol_url(m)
    r2 = s.post(srv.console + "/operator/officers/add?lang=en", data=form)
    assert r2.status_code == 409 and 'class="pin"' not in r2.text and pin not in r2.text
    assert len(officers(inst)) == n0 + 1
    assert re.search(rf"officer:{op.id}\tofficer\.add\tofficer:{jid}\t", audit(inst))
    # a form without its seal is refused; bad input shows the form again with the reason
    bad = dict(form, form_mac="officer-add.AAAA")
    assert s.post(srv.console + "/operator/officers/add", data=bad).status_code == 400
    r = s.get(srv.console + "/operator/officers/add?lang=en")
    r = s.post(srv.console + "/operator/officers/add?lang=en",
               data=dict(form, email="not-an-address", **seal_of(r.text)))
    assert r.status_code == 400 and 'class="pin"' not in r.text and "role=\"alert\"" in r.text
    assert len(officers(inst)) == n0 + 1

    # the new officer enrols with the mailed URL and the PIN, and logs in
    jiro = enrol_with(srv, tmp_path, "Jiro Tanaka", tok, pin, "jiro")
    js, jmenu = login(srv, jiro)
    assert 'href="/allowlist.tsv"' in jmenu.text and "/operator/" not in jmenu.text

    # ---- the list, permissions
    r = s.get(srv.console + "/operator/officers?org=U01")
    assert r.status_code == 200 and f'id="officer-{jid}"' in r.text
    assert f'id="officer-{op.id}"' not in r.text
    assert f'id="officer-{op.id}"' in s.get(srv.console + "/operator/officers").text
    r = s.post(srv.console + "/operator/officers/perms",
               data={"csrf": csrf, "id": str(jid), "perm_client": "1"}, allow_redirects=False)
    assert r.status_code == 303, r.text
    assert [row for row in officers(inst) if int(row[0]) == jid][0][4] == "client"
    assert re.search(rf"officer:{op.id}\tofficer\.perms\tofficer:{jid}\t", audit(inst))
    assert js.get(srv.console + "/allowlist.tsv").status_code == 403
    assert 'href="/allowlist.tsv"' not in js.get(srv.console + "/").text
    r = s.post(srv.console + "/operator/officers/perms",
               data={"csrf": csrf, "id": str(jid), "perm_server": "1", "perm_client": "1"},
               allow_redirects=False)
    assert r.status_code == 303
    # without the CSRF token nothing changes
    r = s.post(srv.console + "/operator/officers/perms", data={"id": str(jid)})
    assert r.status_code == 403
    assert [row for row in officers(inst) if int(row[0]) == jid][0][4] == "server,client"

    # ---- organizations
    r = s.post(srv.console + "/operator/orgs/add",
               data={"csrf": csrf, "code": "U02", "name": "Second University",
                     "domains": "second.example.jp\r\n lab.second.example.jp \r\n"},
               allow_redirects=False)
    assert r.status_code == 303, r.text
    r = s.get(srv.console + "/operator/orgs")
    assert "Second University" in r.text and "lab.second.example.jp" in r.text
    r = s.post(srv.console + "/operator/orgs/add",
               data={"csrf": csrf, "code": "U02", "name": "Again", "domains": ""})
    assert r.status_code == 400 and 'role="alert"' in r.text
    r = s.post(srv.console + "/operator/orgs/add",
               data={"csrf": csrf, "code": "U03", "name": "Bad", "domains": "not a domain"})
    assert r.status_code == 400
    for data in ({"op": "name", "name": "Second University of Examples"},
                 {"op": "add", "domains": "third.example.jp"},
                 {"op": "remove", "domain": "lab.second.example.jp"}):
        r = s.post(srv.console + "/operator/orgs/edit", data={"csrf": csrf, "code": "U02", **data},
                   allow_redirects=False)
        assert r.status_code == 303 and r.headers["Location"] == "/operator/orgs/edit?code=U02"
    r = s.get(srv.console + "/operator/orgs/edit?code=U02")
    assert r.status_code == 200 and "Second University of Examples" in r.text
    assert "third.example.jp" in r.text and "lab.second.example.jp" not in r.text
    a = audit(inst)
    assert re.search(rf"officer:{op.id}\torg\.add\tU02\t", a)
    assert len(re.findall(rf"officer:{op.id}\torg\.set\tU02\t", a)) == 3
    assert s.get(srv.console + "/operator/orgs/edit?code=NOPE").status_code == 404

    # ---- the OU allow-list and its download
    for dom, ou in (("example.ac.jp", "Lab"), ("example.ac.jp", "情報基盤センター"),
                    ("cs.example.ac.jp", "CS")):
        r = s.post(srv.console + "/operator/allowlist/add",
                   data={"csrf": csrf, "org": "U01", "domain": dom, "ou": ou},
                   allow_redirects=False)
        assert r.status_code == 303 and r.headers["Location"] == "/operator/allowlist?org=U01"
    for dom, ou in (("example.ac.jp", "a\tb"), ("other.example", "Lab"),
                    ("example.ac.jp", "Lab")):
        r = s.post(srv.console + "/operator/allowlist/add",
                   data={"csrf": csrf, "org": "U01", "domain": dom, "ou": ou})
        assert r.status_code == 400 and 'role="alert"' in r.text, r.text
    r = s.get(srv.console + "/operator/allowlist?org=U01")
    assert r.status_code == 200 and "情報基盤センター" in r.text and "cs.example.ac.jp" in r.text
    assert re.search(rf"officer:{op.id}\tallowlist\.add\tU01\tdomain=example\.ac\.jp ou=Lab",
                     audit(inst))
    # the name policy applies it: an OU off the list of the names' domain is refused
    csr, _ = make_csr(tmp_path, subj="/OU=Physics/CN=Ken Ito", san="email:ken@example.ac.jp",
                      name="physics")
    r = inst.run("issue", "--profile", "client", "--org", "U01", "--csr", csr)
    assert r.returncode != 0 and "is not on the OU allow-list of domain example.ac.jp" in \
        r.stderr.decode(), r
    csr, _ = make_csr(tmp_path, subj="/OU=Lab/CN=Ken Ito", san="email:ken@example.ac.jp",
                      name="lab")
    inst.ok("issue", "--profile", "client", "--org", "U01", "--csr", csr)
    r = js.get(srv.console + "/allowlist.tsv")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/tab-separated-values")
    assert 'filename="allowlist-U01.tsv"' in r.headers["Content-Disposition"]
    assert r.content.decode("utf-8") == ("domain\tOU\ncs.example.ac.jp\tCS\n"
                                         "example.ac.jp\tLab\nexample.ac.jp\t情報基盤センター\n")
    r = s.post(srv.console + "/operator/allowlist/remove",
               data={"csrf": csrf, "org": "U01", "domain": "example.ac.jp", "ou": "Lab"},
               allow_redirects=False)
    assert r.status_code == 303
    assert "\tLab\n" not in js.get(srv.console + "/allowlist.tsv").text
    # the operator picks an organization
    r = s.get(srv.console + "/allowlist.tsv")
    assert r.status_code == 200 and 'href="/allowlist.tsv?org=U01"' in r.text
    r = s.get(srv.console + "/allowlist.tsv?org=U01")
    assert r.status_code == 200 and r.text.startswith("domain\tOU\n")

    # ---- disable: that officer's console refuses; enable again
    r = s.post(srv.console + "/operator/officers/status",
               data={"csrf": csrf, "id": str(jid), "active": "0"}, allow_redirects=False)
    assert r.status_code == 303
    r = js.get(srv.console + "/?lang=en")
    assert r.status_code == 403 and "disabled" in r.text
    assert re.search(rf"officer:{op.id}\tofficer\.disable\tofficer:{jid}", audit(inst))
    r = s.post(srv.console + "/operator/officers/status",
               data={"csrf": csrf, "id": str(op.id), "active": "0"})
    assert r.status_code == 400  # not oneself
    r = s.post(srv.console + "/operator/officers/status",
               data={"csrf": csrf, "id": str(jid), "active": "1"}, allow_redirects=False)
    assert r.status_code == 303
    assert js.get(srv.console + "/").status_code == 200

    # ---- re-enrol: the certificate revoked, a new URL mailed, the PIN once
    r = s.get(srv.console + "/operator/officers")
    row = row_of(r.text, jid)
    re_form = {"csrf": csrf, "id": str(jid),
               **{k: field(row.split('action="/operator/officers/reenrol"')[1], k)
                  for k in ("form_nonce", "form_time", "form_mac")}}
    r = s.post(srv.console + "/operator/officers/reenrol?lang=en", data=re_form)
    pin2 = pin_of(r)
    assert pin2 != pin
    r2 = s.post(srv.console + "/operator/officers/reenrol?lang=en", data=re_form)
    assert r2.status_code == 409 and pin2 not in r2.text
    # the seal is bound to its officer
    other = dict(re_form, id=str(op.id))
    assert s.post(srv.console + "/operator/officers/reenrol", data=other).status_code == 400
    assert re.search(rf"officer:{op.id}\tofficer\.reenrol\tofficer:{jid}", audit(inst))
    r = js.get(srv.console + "/?lang=en")
    assert r.status_code == 403 and "has been revoked" in r.text
    tok2 = enrol_url(wait_mail_to(inst, "jiro@example.ac.jp", 2)[-1])
    assert tok2 != tok
    jiro2 = enrol_with(srv, tmp_path, "Jiro Tanaka", tok2, pin2, "jiro2")
    login(srv, jiro2)
    inst.ok("audit", "verify")


@pytest.fixture
def console_sqlite(ca_sqlite):
    srv = serve_console(ca_sqlite)
    yield srv, ca_sqlite
    stop_server(srv)


def test_operator_routes_refused(console_sqlite, tmp_path):
    srv, inst = console_sqlite
    officer = enrol(srv, inst, tmp_path, "Hanako Sato", "hanako@example.ac.jp", "--org", "U01",
                    "--perm", "client")
    auditor = enrol(srv, inst, tmp_path, "Audit Person", "audit@example.ac.jp", "--role",
                    "auditor")
    n0 = len(officers(inst))
    for who in (officer, auditor):
        s, menu = login(srv, who)
        assert "/operator/" not in menu.text
        csrf = csrf_of(menu.text)
        for path in OP_GETS:
            r = s.get(srv.console + path + ("&" if "?" in path else "?") + "lang=en")
            assert r.status_code == 403 and "does not have the permission" in r.text, path
        for path in OP_POSTS:
            r = s.post(srv.console + path,
                       data={"csrf": csrf, "id": str(officer.id), "active": "0",
                             "code": "U01", "org": "U01", "domain": "example.ac.jp",
                             "ou": "X", "name": "Evil Person", "email": "e@example.ac.jp",
                             "role": "operator", "perm_server": "1"})
            assert r.status_code == 403, (path, r.text)
    # an officer without the server permission may not download the allow-list
    s, _ = login(srv, officer)
    assert s.get(srv.console + "/allowlist.tsv").status_code == 403
    assert len(officers(inst)) == n0
    assert "officer.disable" not in audit(inst) and "allowlist.add" not in audit(inst)
