"""Every route of the console listener for every role (issue 13 parts 3 and 13): no route is
reachable without its permission.

The routes come from the server itself: `shomei routes --listener console` prints the route
table the console serves (console_http_routes), each with what its gate asks for as declared
in console_route_access (src/console/console.c).  A route added without a declaration prints
"unclassified" and this test fails naming it.  For each route and role the test derives the
expected outcome from the declaration and checks the server does it:

  ok      the gate let the request through: not the refusal page of a certificate, not the
          login page, not "Not permitted", not the CSRF refusal, no 5xx (a form may answer
          400 or 404 for fields the test does not send: that is past the gate)
  cert    403, the page of a certificate that is not an officer's
  login   the login page (an officer's certificate without a session)
  denied  403, the page "Not permitted"

Roles: no client certificate, a foreign CA's certificate, a personal certificate of ours, an
officer's certificate without a session, an RA officer with no permission, with each single
permission, with all, a CA operator, an auditor.  POSTs carry a valid CSRF token (of the
request's own session, even where no certificate is sent), so a refusal is the gate's; the
store is compared before and after every refused POST.  Every POST without its CSRF token is
refused, and every POST-only path refuses GET.  The menu of each role holds exactly the menu
pages its gates let it open.  Past the gate, a certificate's own kind: neither a single nor a
bulk revoke reaches a kind the officer lacks.  One server and one set of certificates for the
module (SQLite: the gate does not depend on the backend)."""
import hashlib
import html
import re
import sqlite3
import subprocess
import time
import urllib.parse

import pytest

from conftest import SHOMEI, make_csr, new_instance, openssl, start_server, stop_server
from test_console import (CONF, ORG_DOMAIN, Officer, add_officer, enrol_url, session,
                          wait_mail_to)

ALL_PERMS = ["server", "client", "codesign", "acme", "stats"]
DENIED = "does not have the permission this page needs"
CSRF = "the form did not come from this site"
CERT_REFUSED = "A browser keeps the certificate it chose until it is closed"
LOGIN = "Log in to the RA officer console"
COOKIE = "__Host-console"
# what changes without any request acting on anything: the session's last use; the CRLs the
# schedule publishes (their numbers, audit entries and the audit chain's head)
VOLATILE = {"officer_sessions", "crls", "counters", "sqlite_sequence", "audit_head"}
QUERY = {"audit": "SELECT * FROM audit WHERE action NOT LIKE 'crl.%' ORDER BY seq"}


def routes():
    """`shomei routes --listener console`: (method, path, params, access) rows."""
    p = subprocess.run([SHOMEI, "routes", "--listener", "console"], capture_output=True,
                       timeout=30)
    rows = [tuple(l.split("\t")) for l in p.stdout.decode().splitlines() if l]
    assert rows and all(len(r) == 4 for r in rows), p.stdout
    bad = [f"{m} {path}" for m, path, _, acc in rows if acc == "unclassified"]
    assert not bad, (
        "console routes without a declared requirement: " + ", ".join(bad) +
        ": add a row per route to console_route_access (src/console/console.c) saying what "
        "its gate asks for; this test then checks the server does it")
    assert p.returncode == 0, p.stderr.decode()
    return rows


def test_public_routes_listed():
    """`shomei routes --listener public`: the console's pages on the public listener, each
    public; every one-time URL (a token after the prefix) is marked '*' (its token never
    reaches the log)."""
    p = subprocess.run([SHOMEI, "routes", "--listener", "public"], capture_output=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    rows = [tuple(l.split("\t")) for l in p.stdout.decode().splitlines() if l]
    paths = {r[1] for r in rows}
    assert all(len(r) == 4 and r[3] == "public" for r in rows), rows
    for tok in ("/client/", "/cert/", "/officer/enrol/"):
        assert tok + "*" in paths, (tok, paths)


def parse_access(acc):
    """"roles=a,b perms=x|y" -> (set of roles, set of perms)."""
    m = re.fullmatch(r"roles=([a-z,]+)(?: perms=([a-z|]+))?", acc)
    assert m, f"access {acc!r}: not public, certificate or roles=...[ perms=...]"
    roles = set(m.group(1).split(","))
    perms = set(m.group(2).split("|")) if m.group(2) else set()
    assert roles <= {"officer", "operator", "auditor"}, acc
    assert perms <= set(ALL_PERMS), acc
    return roles, perms


class Role:
    """One way of arriving at the console: a certificate (or none), a session or not."""

    def __init__(self, name, kind, cert=None, perms=(), login=True):
        self.name, self.kind, self.cert = name, kind, cert
        self.perms, self.login = set(perms), login

    def expect(self, access):
        if access == "public":
            return "ok"
        if self.kind == "nocert":
            return "cert"
        if access == "certificate":
            return "ok"
        roles, perms = parse_access(access)
        if not self.login:
            return "login"
        if self.kind not in roles:
            return "denied"
        if self.kind == "officer" and perms and not perms & self.perms:
            return "denied"
        return "ok"


class Client:
    """A requests session of a role with its CSRF token; it logs in again (or out) when a
    request changed its session (POST /login, /logout)."""

    def __init__(self, srv, role, csrf_source=None):
        self.srv, self.role, self.csrf_source = srv, role, csrf_source
        self.s = session(srv)
        self.s.headers["Accept-Language"] = "en"
        self.s.cert = role.cert
        self.refresh()

    def refresh(self):
        if self.role.kind == "nocert":
            # a CSRF token of this client's own session, got with an officer's certificate:
            # the token is bound to the session id, not to the certificate
            src = session(self.srv)
            src.cert = self.csrf_source
            r = src.get(self.srv.console + "/")
            self.s.cookies = src.cookies
            self.csrf = csrf_of(r.text)
            self.sid = self.s.cookies.get(COOKIE)
            return
        r = self.s.get(self.srv.console + "/")
        logged_in = 'action="/logout"' in r.text
        if self.role.login and not logged_in:
            assert 'action="/login"' in r.text, r.text
            r = self.s.post(self.srv.console + "/login", data={"csrf": csrf_of(r.text)})
            assert r.status_code == 200 and 'action="/logout"' in r.text, r.text
        elif not self.role.login and logged_in:
            r = self.s.post(self.srv.console + "/logout", data={"csrf": csrf_of(r.text)})
            assert r.status_code == 200, r.text
            r = self.s.get(self.srv.console + "/")
            assert 'action="/login"' in r.text, r.text
        self.csrf = csrf_of(r.text)
        self.sid = self.s.cookies.get(COOKIE)

    def send(self, method, path, params, csrf=True):
        url = self.srv.console + path
        if path.endswith("/") and path != "/":
            url += "x"  # a prefix route: some name under it
        fields = dict(urllib.parse.parse_qsl(params)) if params != "-" else {}
        if method == "GET":
            r = self.s.get(url, params=fields, allow_redirects=False)
        else:
            if csrf:
                fields["csrf"] = self.csrf
            r = self.s.post(url, data=fields, allow_redirects=False)
        if self.s.cookies.get(COOKIE) != self.sid:
            self.refresh()
        return r


def csrf_of(text):
    m = re.search(r'name="csrf" value="([^"]+)"', text)
    assert m, text
    return m.group(1)


def outcome(r):
    """What the answer is: ok, cert, login, denied, csrf."""
    t = html.unescape(r.text) if "text/html" in r.headers.get("Content-Type", "") else ""
    if r.status_code == 403 and DENIED in t:
        return "denied"
    if r.status_code == 403 and CSRF in t:
        return "csrf"
    if r.status_code == 403 and CERT_REFUSED in t:
        return "cert"
    if LOGIN in t and 'action="/login"' in t:
        return "login"
    assert r.status_code < 500 and r.status_code != 403, (r.status_code, r.url, t[:2000])
    return "ok"


def snapshot(inst):
    """A digest of each table (VOLATILE and the CRLs' audit entries left out)."""
    out = {}
    con = sqlite3.connect(inst.db)
    try:
        names = [n for (n,) in con.execute("SELECT name FROM sqlite_master WHERE type = "
                                           "'table' ORDER BY name")]
        for n in names:
            if n in VOLATILE:
                continue
            h = hashlib.sha256()
            for row in con.execute(QUERY.get(n, f'SELECT * FROM "{n}" ORDER BY 1')):
                h.update(repr(row).encode())
            out[n] = h.hexdigest()[:16]
    finally:
        con.close()
    return out


def mail_settled(inst, timeout=20):
    """Waits until the web process has delivered every queued mail (it writes the queue)."""
    end = time.time() + timeout
    while inst.sql("SELECT count(*) FROM mail_queue WHERE status = 'queued'")[0][0]:
        assert time.time() < end, inst.sql("SELECT id, recipient, status FROM mail_queue")
        time.sleep(0.1)


def changed(before, after):
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def enrol_all(srv, inst, tmp, who):
    """test_console.enrol for several officers, their mails awaited together: Officers."""
    added = [(add_officer(inst, name, addr, *extra), name, addr) for name, addr, *extra in who]
    out = []
    for (oid, pin), name, addr in added:
        tok = enrol_url(wait_mail_to(inst, addr)[-1])
        s = session(srv)
        url = f"{srv.https}/officer/enrol/{tok}"
        r = s.post(url, data={"csrf": csrf_of(s.get(url).text), "pin": pin})
        assert r.status_code == 200, r.text
        p12pin = re.search(r'<code class="pin">([^<]+)</code>', r.text).group(1)
        dl = re.search(r'name="dl" value="([^"]+)"', r.text).group(1)
        r = s.post(f"{srv.https}/officer/download", data={"csrf": csrf_of(r.text), "dl": dl})
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-pkcs12"
        o = Officer(str(tmp), f"officer{oid}", r.content, p12pin)
        o.id, o.p12pin = oid, p12pin
        out.append(o)
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("routes")
    inst = new_instance(tmp, "sqlite")
    inst.ok("org", "add", "U01", "--name", "Example University", "--domain", ORG_DOMAIN)
    srv = start_server(inst, CONF)
    try:
        ra, op, au = enrol_all(srv, inst, tmp, [
            ("Hanako Sato", "hanako@" + ORG_DOMAIN, "--org", "U01", "--perm",
             ",".join(ALL_PERMS)),
            ("Kenji Operator", "op@example.jp", "--role", "operator"),
            ("Aiko Auditor", "audit@example.jp", "--role", "auditor")])
        # a foreign CA's certificate and a personal certificate of ours
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", str(tmp / "fca.key"), "-out", str(tmp / "fca.pem"),
                "-subj", "/CN=Foreign CA", "-days", "30")
        csr, fkey = make_csr(tmp, subj="/CN=Mallory", name="foreign")
        openssl("x509", "-req", "-in", csr, "-CA", str(tmp / "fca.pem"), "-CAkey",
                str(tmp / "fca.key"), "-days", "30", "-out", str(tmp / "foreign.pem"))
        csr, pkey = make_csr(tmp, subj="/CN=Jiro", san="email:jiro@" + ORG_DOMAIN,
                             name="personal")
        inst.ok("issue", "--profile", "client", "--csr", csr, "--out", str(tmp / "p.pem"))
        mail_settled(inst)
        roles = [
            Role("no certificate", "nocert"),
            Role("foreign certificate", "nocert", (str(tmp / "foreign.pem"), fkey)),
            Role("personal certificate", "nocert", (str(tmp / "p.pem"), pkey)),
            Role("officer without a session", "officer", ra.cert, ALL_PERMS, login=False),
            Role("officer perms=none", "officer", ra.cert, ()),
            *[Role(f"officer perms={p}", "officer", ra.cert, (p,)) for p in ALL_PERMS],
            Role("officer perms=all", "officer", ra.cert, ALL_PERMS),
            Role("CA operator", "operator", op.cert),
            Role("auditor", "auditor", au.cert),
        ]
        yield srv, inst, ra, roles
    finally:
        stop_server(srv)


def set_perms(inst, ra, role):
    if role.kind == "officer":
        inst.ok("officer", "perms", str(ra.id), ",".join(sorted(role.perms)) or "none")


def test_every_route_every_role(env):
    srv, inst, ra, roles = env
    rows = routes()
    wrong = []
    menus = {}
    for role in roles:
        set_perms(inst, ra, role)
        c = Client(srv, role, csrf_source=ra.cert)
        if role.kind != "nocert" and role.login:
            menus[role.name] = menu_links(c.s.get(srv.console + "/").text)
        # the refusals first, the store compared around each
        todo = sorted(rows, key=lambda row: role.expect(row[3]) == "ok")
        for method, path, params, access in todo:
            want = role.expect(access)
            before = snapshot(inst) if want != "ok" and method == "POST" else None
            got = outcome(c.send(method, path, params))
            if got != want:
                wrong.append(f"{role.name}: {method} {path} {params} ({access}): "
                             f"expected {want}, got {got}")
            if before is not None:
                diff = changed(before, snapshot(inst))
                assert not diff, (f"{role.name}: {method} {path} was refused ({got}) but "
                                  f"changed the tables {diff}")
    assert not wrong, "\n".join(wrong)
    # the menu shows a role exactly the pages of the menu its gates let it open
    shown = set().union(*menus.values())
    for role in roles:
        if role.name not in menus:
            continue
        may = set()
        for method, path, params, access in rows:
            link = path + ("?" + params if params != "-" else "")
            if method == "GET" and link in shown and role.expect(access) == "ok":
                may.add(link)
        assert menus[role.name] == may, (role.name, "menu", sorted(menus[role.name]),
                                         "gates", sorted(may))
    unknown = shown - {p + ("?" + q if q != "-" else "") for m, p, q, _ in rows if m == "GET"}
    assert not unknown, f"menu links that are no declared GET route: {sorted(unknown)}"


def menu_links(text):
    """The links of the menu (ul.menu) of a console page."""
    m = re.search(r'<ul class="menu">(.*?)</ul>', text, re.S)
    assert m, text
    return {html.unescape(h) for h in re.findall(r'href="([^"]+)"', m.group(1))}


def test_post_without_csrf_refused(env):
    """Every POST, as a role it is open to, without (or with a wrong) CSRF token: refused."""
    srv, inst, ra, roles = env
    byname = {r.name: r for r in roles}
    for method, path, params, access in routes():
        if method != "POST":
            continue
        role = byname["CA operator"] if "operator" in access and "officer" not in access \
            else byname["officer perms=all"]
        assert role.expect(access) == "ok", (path, access)
        set_perms(inst, ra, role)
        c = Client(srv, role)
        for bad in (None, "A" * len(c.csrf)):
            before = snapshot(inst)
            fields = dict(urllib.parse.parse_qsl(params)) if params != "-" else {}
            if bad is not None:
                fields["csrf"] = bad
            url = srv.console + path + ("x" if path.endswith("/") else "")
            r = c.s.post(url, data=fields, allow_redirects=False)
            assert outcome(r) == "csrf", (path, bad, r.status_code, r.text[:1000])
            diff = changed(before, snapshot(inst))
            assert not diff, f"POST {path} without CSRF changed the tables {diff}"


def test_post_routes_refuse_get(env):
    """A POST-only path answers GET with 405; GET with a POST route's fields changes
    nothing (where the path has a GET route, that shows its page)."""
    srv, inst, ra, roles = env
    rows = routes()
    gets = {path for m, path, _, _ in rows if m == "GET"}
    role = [r for r in roles if r.name == "officer perms=all"][0]
    op = [r for r in roles if r.name == "CA operator"][0]
    set_perms(inst, ra, role)
    clients = {"officer": Client(srv, role), "operator": Client(srv, op)}
    checked = 0
    for method, path, params, access in rows:
        if method != "POST":
            continue
        c = clients["operator" if access == "roles=operator" else "officer"]
        before = snapshot(inst)
        fields = dict(urllib.parse.parse_qsl(params)) if params != "-" else {}
        fields["csrf"] = c.csrf
        r = c.s.get(srv.console + path + ("x" if path.endswith("/") else ""), params=fields,
                    allow_redirects=False)
        # a path with a GET route of its own answers with its form page: never acts
        assert r.status_code == 405 or path in gets and r.status_code < 500, \
            (path, r.status_code, r.text[:500])
        diff = changed(before, snapshot(inst))
        assert not diff, f"GET {path} changed the tables {diff}"
        checked += 1
    assert checked >= 10, checked


def test_certificate_of_a_kind_not_permitted(env, tmp_path):
    """Past the route's gate, each certificate's own kind: an officer of the same organization
    with the client permission only neither sees, revokes, re-addresses nor downloads a
    server certificate (and the store stays as it was)."""
    from test_console_certs import issue, serial_of
    srv, inst, ra, roles = env
    byname = {r.name: r for r in roles}
    set_perms(inst, ra, byname["officer perms=all"])
    c = Client(srv, byname["officer perms=all"])
    csr, _ = make_csr(tmp_path, subj="/CN=k.example.ac.jp", san="DNS:k.example.ac.jp",
                      name="kind")
    r = issue(c.s, srv, csr)
    assert r.status_code == 201, r.text
    serial = serial_of(r)
    c.refresh()
    assert outcome(c.send("GET", "/certs/view", f"serial={serial}")) == "ok"

    role = byname["officer perms=client"]
    set_perms(inst, ra, role)
    c = Client(srv, role)
    mail_settled(inst)  # the user administrator's mail
    assert outcome(c.send("GET", "/certs/view", f"serial={serial}")) == "denied"
    before = snapshot(inst)
    r = c.send("POST", "/certs/revoke", f"serial={serial}&reason=1")
    assert r.status_code == 404, (r.status_code, r.text)
    r = c.send("POST", "/certs/admin", urllib.parse.urlencode(
        {"serial": serial, "admin_name": "Evil", "admin_unit": "",
         "admin_email": "evil@" + ORG_DOMAIN}))
    assert r.status_code == 404, (r.status_code, r.text)
    r = c.send("GET", "/download", "kind=all&format=native")
    assert r.status_code == 200 and serial.lower() not in r.text.lower(), r.text
    diff = changed(before, snapshot(inst))
    assert not diff, f"refused requests changed the tables {diff}"


def test_bulk_revoke_needs_the_kind_permission(env, tmp_path):
    """A bulk revoke file revokes only certificates of the file's kind, which the officer may
    revoke: an officer with the server (client) permission alone cannot revoke the
    organization's certificates of other kinds through a server (client) revoke file, as the
    single revoke refuses it (test_certificate_of_a_kind_not_permitted)."""
    from test_console_bulk import commit, rows, upload
    srv, inst, ra, roles = env
    serials = {}
    for kind, cn, san in (("client", "Holder Client", "email:holder@" + ORG_DOMAIN),
                          ("codesign", "Example University", None),
                          ("server", "r.example.ac.jp", "DNS:r.example.ac.jp")):
        csr, _ = make_csr(tmp_path, subj=f"/CN={cn}", san=san, name=f"bulk-{kind}")
        pem = str(tmp_path / f"bulk-{kind}.pem")
        inst.ok("issue", "--profile", kind, "--org", "U01", "--csr", csr, "--out", pem)
        serial = openssl("x509", "-in", pem, "-noout", "-serial").stdout.decode()
        serials[kind] = (cn, serial.split("=")[1].strip())

    def status(serial):
        return inst.sql(f"SELECT status FROM certificates WHERE serial = '{serial}'")[0][0]

    byname = {r.name: r for r in roles}
    for perm, others in (("server", ("client", "codesign")), ("client", ("server", "codesign"))):
        role = byname[f"officer perms={perm}"]
        set_perms(inst, ra, role)
        c = Client(srv, role)
        for kind in others:
            cn, serial = serials[kind]
            for dialect in ("upki", "native"):
                data = revoke_file(perm, dialect, cn, serial)
                r = upload(c.s, srv, data, op="revoke", kind=perm, dialect=dialect)
                got = rows(r)
                ok = [g for g in got if g[1] == "OK"]
                if ok:
                    commit(c.s, srv, r)
                assert status(serial) == 0, (
                    f"an officer with the {perm} permission alone revoked a {kind} "
                    f"certificate with a {dialect} {perm} revoke file: {got}")
                assert got and not ok, (perm, kind, dialect, got, r.text[-2000:])
    # the server certificate, by a server officer: revoked
    role = byname["officer perms=server"]
    set_perms(inst, ra, role)
    c = Client(srv, role)
    cn, serial = serials["server"]
    r = upload(c.s, srv, revoke_file("server", "upki", cn, serial), op="revoke")
    assert rows(r) and rows(r)[0][1] == "OK", r.text[-3000:]


def revoke_file(kind, dialect, cn, serial):
    """A one-line revoke file of kind (server, client) naming the certificate cn, serial."""
    from test_console_bulk import cp932, dn
    if dialect == "native":
        return (f"subject_dn\tserial\treason\tcomment\n{dn(cn)}\t0x{serial}\t5\t"
                "end of service\n").encode()
    # UPKI: server 13 columns, client 15 (serial 4, reason 5, comment 6)
    line = [dn(cn), "", "", "0x" + serial, "5", "end of service"]
    return cp932([line + [""] * ((13 if kind == "server" else 15) - len(line))])
