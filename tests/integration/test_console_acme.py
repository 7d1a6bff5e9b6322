"""The officer's ACME enrolment in the console (issue 14 part 3) on both store backends: an
officer without the acme permission is refused; a form without its CSRF token does nothing; an
officer with it makes an External Account Binding on /eab and sees its key id and HMAC key once
(no-store; the form sent again shows no key); python3-acme makes an account with those
credentials and gets a certificate for a name of the binding (http-01 answered by the test's
responder); suspend stops new orders (unauthorized), resume lets them again, revoke ends the
binding for good, each audited with the officer.  Then the ACME TSV dialect (UPKI layout, 13
columns) in CP932: create (the credentials of each line shown once on the result page), renew
(column 3 = the key id: the binding's names change), suspend (reason and comment in the audit
entry), revoke (the certificate an ACME order got), with a bad line in each mode."""
import datetime
import html
import re

import pytest

from conftest import stop_server
from test_acme import ERR, acme_server, client, nonce, post, session
from test_acme_order import NAME, Responder, csr_for, http01, wait_authz
from test_console import csrf_of, enrol, login
from test_console_bulk import commit, cp932, follow, issue_line, rows, upload

acme_client = pytest.importorskip("acme.client")
from acme import messages  # noqa: E402
import josepy as jose  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

ORG = "Example University"


def dn(cn, org=ORG):
    return f"CN={cn},O={org},L=Chiyoda-ku,ST=Tokyo,C=JP"


def create_line(cn, dns="", org=ORG):
    return [dn(cn, org), "11", "", "", "", "", "", "山田 花子", "情報基盤センター",
            "admin@example.ac.jp", cn, "certbot2.1", dns]


def renew_line(cn, kid, dns=""):
    return [dn(cn), "11", kid, "", "", "", "", "", "", "admin@example.ac.jp", cn, "certbot2.1",
            dns]


def suspend_line(cn, kid, reason="5", comment="サーバ廃止"):
    return [dn(cn), "", kid, "", reason, comment, "", "", "", "", "", "", ""]


def revoke_line(cn, serial):
    return [dn(cn), "", "", "0x" + serial, "4", "", "", "", "", "", "", "", ""]


def acme_rows(r):
    """The ACME result table: [(line, result, serial, key id, column, code, reason)]."""
    out = []
    for m in re.finditer(r"<tr(?: class=\"ng\")?><td>(\d+)</td><td>([^<]*)</td><td><code>"
                         r"([^<]*)</code></td><td><code>([^<]*)</code></td><td>([^<]*)</td>"
                         r"<td>([^<]*)</td><td>([^<]*)</td>", r.text):
        out.append(tuple(html.unescape(g) for g in m.groups()))
    return out


def credentials(text):
    """The (key id, HMAC key) pairs a page shows."""
    return re.findall(r'<code class="kid">([A-Za-z0-9_-]{22})</code></td><td><code '
                      r'class="pin hmac">([A-Za-z0-9_-]{43})</code>', text)


def binding(inst, kid):
    rows = inst.sql(f"SELECT status, names, account_id FROM acme_eab WHERE kid = '{kid}'")
    assert len(rows) == 1, rows
    return rows[0]


def new_account(srv, kid, hmac):
    key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    cl, _ = client(srv, key, jose.ES256)
    eab = messages.ExternalAccountBinding.from_data(key.public_key(), kid, hmac, cl.directory)
    cl.new_account(messages.NewRegistration.from_data(
        email="admin@example.ac.jp", terms_of_service_agreed=True,
        external_account_binding=eab))
    return cl, key


def status_post(s, srv, page, kid, status, csrf=True):
    data = {"kid": kid, "status": status}
    if csrf:
        data["csrf"] = csrf_of(page)
    return s.post(f"{srv.console}/eab/status", data=data)


@pytest.fixture
def acme_console(ca):
    resp = Responder()
    srv = acme_server(ca, "test.instance = yes\nmail.from = ca@example.jp\n"
                          "acme.http01_port = %d\ntest.acme_resolve = 127.0.0.1\n"
                          "acme.allow_private_addresses = yes\n" % resp.port)
    try:
        yield srv, ca, resp
    finally:
        stop_server(srv)
        resp.close()


def test_console_acme_page(acme_console, tmp_path):
    srv, inst, resp = acme_console
    plain = enrol(srv, inst, tmp_path, "Hanako Server", "hanako@example.ac.jp", "--org", "UNIV",
                  "--perm", "server,stats")
    off = enrol(srv, inst, tmp_path, "Taro Acme", "taro@example.ac.jp", "--org", "UNIV",
                "--perm", "acme")
    oid = inst.sql("SELECT id FROM officers WHERE email = 'taro@example.ac.jp'")[0][0]

    # without the acme permission: the console's refusal, no menu entry, nothing made
    s0, menu = login(srv, plain)
    assert "/eab" not in menu.text
    for url in ("/eab", "/bulk?kind=acme"):
        r = s0.get(srv.console + url)
        assert r.status_code == 403, (url, r.status_code, r.text)
    r = s0.post(srv.console + "/eab/create", data={"csrf": csrf_of(menu.text), "names": NAME})
    assert r.status_code == 403
    assert len(inst.sql("SELECT id FROM acme_eab")) == 0

    s, menu = login(srv, off)
    assert 'href="/eab"' in menu.text and 'href="/bulk?kind=acme"' in menu.text
    assert s.get(srv.console + "/bulk?kind=server").status_code == 403
    page = s.get(srv.console + "/eab")
    assert page.status_code == 200 and 'action="/eab/create"' in page.text
    form = {k: html.unescape(v) for k, v in
            re.findall(r'name="(form_\w+|csrf)" value="([^"]*)"', page.text)}

    # a form without its CSRF token: refused, nothing made
    r = s.post(srv.console + "/eab/create", data={**{k: v for k, v in form.items()
                                                      if k != "csrf"}, "names": NAME})
    assert r.status_code in (400, 403), r.status_code
    assert len(inst.sql("SELECT id FROM acme_eab")) == 0
    # names outside the organization's domains: refused with the rule
    r = s.post(srv.console + "/eab/create", data={**form, "names": "www.example.com"})
    assert r.status_code == 422 and "www.example.com" in html.unescape(r.text), r.text
    page = s.get(srv.console + "/eab")
    form = {k: html.unescape(v) for k, v in
            re.findall(r'name="(form_\w+|csrf)" value="([^"]*)"', page.text)}

    # create: key id and HMAC key once, no-store; the same form again shows no key
    r = s.post(srv.console + "/eab/create", data={**form, "names": NAME + ",MAIL.example.ac.jp"})
    assert r.status_code == 201, r.text
    assert r.headers["Cache-Control"] == "no-store"
    kid = re.search(r'<code class="kid">([A-Za-z0-9_-]{22})</code>', r.text).group(1)
    hmac = re.search(r'<code class="pin hmac">([A-Za-z0-9_-]{43})</code>', r.text).group(1)
    again = s.post(srv.console + "/eab/create", data={**form, "names": NAME})
    assert again.status_code == 409 and hmac not in again.text
    assert len(inst.sql("SELECT id FROM acme_eab")) == 1
    page = s.get(srv.console + "/eab")
    assert kid in page.text and hmac not in page.text
    assert NAME + ",mail.example.ac.jp" in page.text
    st, names, acct = binding(inst, kid)
    assert st == "active" and names == NAME + ",mail.example.ac.jp" and not acct
    # the HMAC key is stored only sealed
    assert hmac not in repr(inst.sql("SELECT * FROM acme_eab"))
    assert re.search(rf"officer:{oid}\s.*acme\.eab\.create", inst.ok("audit", "list"))

    # python3-acme: an account with those credentials orders a name of the binding
    cl, key = new_account(srv, kid, hmac)
    assert binding(inst, kid)[2]
    order = cl.new_order(csr_for(NAME))
    authz, chall = http01(order)
    response, validation = chall.chall.response_and_validation(key)
    resp.answers[chall.chall.encode("token")] = validation
    cl.answer_challenge(chall, response)
    assert wait_authz(cl, authz.uri).body.status.name == "valid"
    done = cl.finalize_order(order, datetime.datetime.now() + datetime.timedelta(seconds=20))
    assert done.body.status.name == "valid"
    serial = inst.sql("SELECT serial FROM acme_orders WHERE serial IS NOT NULL")[0][0]

    # the short-lived profile: the server officer's list shows it with the server ones (a
    # profile column), its page opens, and the statistics count it in a row of its own
    hs = session(srv)
    r = post(hs, cl.directory["newOrder"], key, jose.ES256,
             {"identifiers": [{"type": "dns", "value": NAME}], "profile": "shortlived"},
             nonce(hs, srv), kid=cl.net.account.uri)
    assert r.status_code == 201 and r.json()["status"] == "ready", r.text
    short = cl.finalize_order(
        messages.OrderResource(body=messages.Order.from_json(r.json()),
                               uri=r.headers["Location"], csr_pem=csr_for(NAME)),
        datetime.datetime.now() + datetime.timedelta(seconds=20))
    assert short.body.status.name == "valid"
    short_serial = inst.sql("SELECT serial FROM certificates WHERE profile = 'shortlived'")
    assert len(short_serial) == 1, short_serial
    short_serial = short_serial[0][0]
    page0 = s0.get(srv.console + "/certs", params={"kind": "server"})
    assert page0.status_code == 200
    listed = dict(re.findall(r"<code>([0-9A-F]+)</code></a></td><td>[^<]*</td><td>[^<]*</td>"
                             r"<td>([a-z]+)</td>", page0.text))
    assert listed.get(serial) == "server" and listed.get(short_serial) == "shortlived", listed
    assert s0.get(srv.console + "/certs/view",
                  params={"serial": short_serial}).status_code == 200
    month = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m")
    tsv = s0.get(srv.console + "/stats.tsv", params={"from": month, "to": month})
    assert tsv.status_code == 200, tsv.text
    counts = {tuple(f[:4]): f[4] for f in (ln.split("\t") for ln in tsv.text.splitlines()[1:])}
    assert counts.get(("UNIV", "(all domains)", month, "shortlived")) == "1", counts
    assert counts.get(("UNIV", "(all domains)", month, "server")) == "1", counts
    r = s0.get(srv.console + "/stats", params={"from": month, "to": month})
    assert 'class="bar-shortlived"' in r.text and 'class="bar-server"' in r.text, r.text

    # suspend: newOrder unauthorized; resume: orders again; revoke: for good
    r = status_post(s, srv, page.text, kid, "suspended", csrf=False)
    assert r.status_code in (400, 403) and binding(inst, kid)[0] == "active"
    r = status_post(s, srv, page.text, kid, "suspended")
    assert r.status_code == 200 and binding(inst, kid)[0] == "suspended", r.text
    with pytest.raises(messages.Error) as ei:
        cl.new_order(csr_for(NAME))
    assert ei.value.typ == ERR + "unauthorized"
    r = status_post(s, srv, r.text, kid, "active")
    assert r.status_code == 200 and binding(inst, kid)[0] == "active"
    assert cl.new_order(csr_for("mail.example.ac.jp")).body.status.name == "pending"
    r = status_post(s, srv, r.text, kid, "revoked")
    assert r.status_code == 200 and binding(inst, kid)[0] == "revoked"
    with pytest.raises(messages.Error) as ei:
        cl.new_order(csr_for(NAME))
    assert ei.value.typ == ERR + "unauthorized"
    assert status_post(s, srv, r.text, kid, "active").status_code == 409
    assert binding(inst, kid)[0] == "revoked"
    # another organization's key id does not exist for this officer
    assert status_post(s, srv, r.text, "A" * 22, "suspended").status_code == 404
    log = inst.ok("audit", "list")
    for action in ("acme.eab.suspended", "acme.eab.active", "acme.eab.revoked"):
        assert re.search(rf"officer:{oid}\s.*{action}", log), action

    # ---- the ACME TSV dialect ----
    # create, all-or-nothing with a bad line (O of another institution): nothing can be done
    bad = cp932([create_line("a.example.ac.jp", "dNSName=a.example.ac.jp,dNSName=b.example.ac.jp"),
                 create_line("c.example.ac.jp", org="Other University")])
    r = upload(s, srv, bad, op="create", kind="acme")
    assert r.status_code == 200 and "<code>CP932</code>" in r.text, r.text
    got = acme_rows(r)
    assert [x[1] for x in got] == ["OK", "NG"], got
    assert "/bulk/commit" not in r.text
    # the native dialect (UTF-8, a header naming the columns): the dry run reads it
    native = ("subject_dn\tprofile\tadmin_email\tfqdn\tserver_software\tdns_names\n"
              f"{dn('n.example.ac.jp')}\t11\tadmin@example.ac.jp\tn.example.ac.jp\tcertbot2.1\t"
              "dNSName=n2.example.ac.jp\n").encode()
    r = upload(s, srv, native, op="create", kind="acme", dialect="native")
    assert [x[1] for x in acme_rows(r)] == ["OK"] and "/bulk/commit" in r.text, r.text
    # process the good lines: one binding, its credentials shown once, by the POST of the
    # result page's button (CSRF), never by a GET: a link preview or prefetch of the page
    # (several GETs) leaves them waiting
    r = upload(s, srv, bad, op="create", kind="acme", mode="good_lines")
    r = commit(s, srv, r)
    assert credentials(r.text) == [] and "/bulk/job/keys" in r.text, r.text
    assert [x[1] for x in acme_rows(r)] == ["OK", "NG"]
    for _ in range(2):
        again = follow(s, s.get(r.url))
        assert credentials(again.text) == [] and "/bulk/job/keys" in again.text
    keys = re.search(r'<form method="post" action="/bulk/job/keys">.*?</form>', r.text, re.S)
    form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', keys.group(0)))
    assert set(form) == {"csrf", "id"}, form
    # without the CSRF token: refused, the keys still waiting
    bad_csrf = s.post(f"{srv.console}/bulk/job/keys", data={"id": form["id"], "csrf": "x"})
    assert bad_csrf.status_code in (400, 403) and credentials(bad_csrf.text) == []
    shown = s.post(f"{srv.console}/bulk/job/keys", data=form)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    creds = credentials(shown.text)
    assert len(creds) == 1, shown.text
    kid2, hmac2 = creds[0]
    assert binding(inst, kid2)[:2] == ["active", "a.example.ac.jp,b.example.ac.jp"]
    # then erased: neither the POST again nor the GET shows them; the GET says when
    again = s.post(f"{srv.console}/bulk/job/keys", data=form)
    assert again.text.count(hmac2) == 0 and "/bulk/job/keys" not in again.text
    again = follow(s, s.get(r.url))
    assert again.text.count(hmac2) == 0 and "/bulk/job/keys" not in again.text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", again.text), again.text
    # the credentials work
    cl2, _ = new_account(srv, kid2, hmac2)
    assert cl2.new_order(csr_for("b.example.ac.jp")).body.status.name == "pending"

    # renew: column 3 is the key id; the binding's names change (unknown key id: NG)
    f = cp932([renew_line("a.example.ac.jp", kid2, "dNSName=d.example.ac.jp"),
               renew_line("a.example.ac.jp", "Z" * 22)])
    r = commit(s, srv, upload(s, srv, f, op="renew", kind="acme", mode="good_lines"))
    assert [x[1] for x in acme_rows(r)] == ["OK", "NG"], acme_rows(r)
    assert binding(inst, kid2)[1] == "a.example.ac.jp,d.example.ac.jp"
    with pytest.raises(messages.Error) as ei:
        cl2.new_order(csr_for("b.example.ac.jp"))
    assert ei.value.typ == ERR + "rejectedIdentifier"

    # suspend: reason and comment in the audit entry; a CN not of the binding: NG (all or
    # nothing: the good line is not done either)
    f = cp932([suspend_line("a.example.ac.jp", kid2), suspend_line("x.example.ac.jp", kid2)])
    r = upload(s, srv, f, op="suspend", kind="acme")
    assert [x[1] for x in acme_rows(r)] == ["OK", "NG"], acme_rows(r)
    assert binding(inst, kid2)[0] == "active"
    f = cp932([suspend_line("a.example.ac.jp", kid2)])
    r = commit(s, srv, upload(s, srv, f, op="suspend", kind="acme"))
    assert [x[1] for x in acme_rows(r)] == ["OK"], acme_rows(r)
    assert binding(inst, kid2)[0] == "suspended"
    assert re.search(r"acme\.eab\.suspended\s.*reason=5 comment=サーバ廃止",
                     inst.ok("audit", "list"))
    with pytest.raises(messages.Error) as ei:
        cl2.new_order(csr_for("a.example.ac.jp"))
    assert ei.value.typ == ERR + "unauthorized"

    # revoke: the certificate the ACME order got; a serial of no certificate and one of a
    # server certificate issued without ACME: NG.  The acme permission alone revokes what ACME
    # issued
    # (the server officer issues it: the ACME officer has no server permission)
    r = commit(s0, srv, upload(s0, srv, cp932([issue_line("plain.example.ac.jp")])))
    plain_serial = rows(r)[0][2]
    assert rows(r)[0][1] == "OK" and plain_serial, rows(r)
    f = cp932([revoke_line(NAME, serial), revoke_line(NAME, "0A0B0C0D"),
               revoke_line("plain.example.ac.jp", plain_serial)])
    r = commit(s, srv, upload(s, srv, f, op="revoke", kind="acme", mode="good_lines"))
    got = acme_rows(r)
    assert [x[1] for x in got] == ["OK", "NG", "NG"], got
    assert "not issued through ACME" in got[2][6], got
    st = inst.sql(f"SELECT status FROM certificates WHERE serial = '{plain_serial}'")[0][0]
    assert str(st) == "0", st  # still valid
    st = inst.sql(f"SELECT status FROM certificates WHERE serial = '{serial}'")[0][0]
    assert str(st) == "1", st  # revoked
    assert re.search(rf"officer:{oid}\s.*acme\.cert\.revoke\s.*{serial}.*account=\d+ eab={kid} "
                     r"reason=superseded", inst.ok("audit", "list")), inst.ok("audit", "list")
    assert inst.ok("audit", "verify")
