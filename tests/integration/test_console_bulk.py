"""The officers' bulk TSV upload in the console (issue 13 part 5): an officer uploads UPKI
server files written in CP932 with CRLF; the dry run names the bad line and its column (in
Japanese); all-or-nothing with a bad line (the checks' or the name policy's) commits nothing;
good lines commits the good ones; a good file issues every line, the user administrators get
their download mails and the certificates are in the console list; the result downloads as
TSV; a revoke file revokes; a 1,000-line file works, its commit running off the request with a
page that refreshes itself with the lines done (only for its own session) until the result;
hostile files are refused with a clear
message and change nothing."""
import base64
import html
import re
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import start_server, stop_server
from test_console import CONF, audit, csrf_of, enrol, login, wait_mail_to

ORG = "Example University"
# bulk jobs slowed to a few ms a line, so that a test sees a commit under way whatever the
# machine's speed (a TEST setting: serve logs a warning when it is set)
SLOW = CONF + "\ntest.bulk_line_delay_ms = 2\n"
KEY = ec.generate_private_key(ec.SECP384R1())


@pytest.fixture
def bulk(ca):
    ca.ok("org", "add", "U01", "--name", ORG, "--domain", "example.ac.jp")
    srv = start_server(ca, SLOW)
    yield srv, ca
    stop_server(srv)


def dn(cn, org=ORG):
    return f"CN={cn},O={org},L=Chiyoda-ku,ST=Tokyo,C=JP"


def csr_b64(cn, org=ORG, key=None):
    """A P-384 CSR (profile 11) with the subject C,ST,L,O,CN, base64 of the DER."""
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                      x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Tokyo"),
                      x509.NameAttribute(NameOID.LOCALITY_NAME, "Chiyoda-ku"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    req = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key or KEY,
                                                                          hashes.SHA384())
    return base64.b64encode(req.public_bytes(serialization.Encoding.DER)).decode()


def issue_line(cn, admin="admin@example.ac.jp", org=ORG, dns=""):
    return [dn(cn, org), "11", "", "", "", "", csr_b64(cn, org), "山田 花子", "情報基盤センター",
            admin, cn, "nginx1.24", dns]


def revoke_line(cn, serial):
    return [dn(cn), "", "", "0x" + serial, "5", "サービス終了", "", "", "", "", "", "", ""]


def cp932(lines):
    return ("\r\n".join("\t".join(l) for l in lines) + "\r\n").encode("cp932")


def upload(s, srv, data, op="issue", mode="all_or_nothing", kind="server", dialect="upki"):
    r = s.get(f"{srv.console}/bulk?kind={kind}")
    assert r.status_code == 200, r.text
    return s.post(f"{srv.console}/bulk",
                  files={"csrf": (None, csrf_of(r.text)), "kind": (None, kind),
                         "op": (None, op), "dialect": (None, dialect), "mode": (None, mode),
                         "file": ("certs.tsv", data, "text/tab-separated-values")})


def rows(r):
    """The result table: [(line, result, serial, column, code, reason)]."""
    out = []
    for m in re.finditer(r"<tr(?: class=\"ng\")?><td>(\d+)</td><td>([^<]*)</td><td><code>"
                         r"([^<]*)</code></td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>",
                         r.text):
        out.append(tuple(html.unescape(g) for g in m.groups()))
    return out


REFRESH = '<meta http-equiv="refresh" content="1">'


def commit_form(r):
    m = re.search(r'<form method="post" action="/bulk/commit".*?</form>', r.text, re.S)
    assert m, r.text
    return {k: (None, html.unescape(v))
            for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', m.group(0))}


def follow(s, r, timeout=300):
    """Refreshes a job's page, as the browser does, until the result is there."""
    end = time.time() + timeout
    while r.status_code == 200 and REFRESH in r.text:
        assert time.time() < end, r.text
        time.sleep(0.5)
        r = s.get(r.url)
    return r


def commit(s, srv, r):
    """Sends the dry run page's commit form; the job's page until the result."""
    return follow(s, s.post(f"{srv.console}/bulk/commit", files=commit_form(r)))


def cert_count(inst):
    return len([l for l in inst.ok("cert", "list").splitlines() if l.strip()])


def test_bulk_server_files(bulk, tmp_path):
    srv, inst = bulk
    o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
              "--perm", "server")
    s, menu = login(srv, o)
    assert 'href="/bulk?kind=server"' in menu.text and "/bulk?kind=client" not in menu.text
    before = cert_count(inst)

    # a bad line (the administrator's address): named with its column in Japanese
    bad = cp932([issue_line("b1.example.ac.jp"), issue_line("b2.example.ac.jp", admin="nope"),
                 issue_line("b3.example.ac.jp")])
    r = upload(s, srv, bad)
    assert r.status_code == 200, r.text
    assert "CP932" in r.text
    t = rows(r)
    assert [x[0] for x in t] == ["1", "2", "3"]
    assert t[1][1] == "NG" and t[1][3] == "利用管理者メールアドレス" and t[1][4] == "email", t
    # the reason in the page's language, then the RA's own words
    assert t[1][5].startswith("メールアドレスが正しくありません: "), t
    # all-or-nothing with a bad line: nothing can be committed
    assert 'action="/bulk/commit"' not in r.text
    # a name outside the organization's domains passes the checks, the dry run refuses it
    pol = cp932([issue_line("p1.example.ac.jp"), issue_line("p2.other.ac.jp")])
    r = upload(s, srv, pol)
    t = rows(r)
    assert t[0][1] == "OK" and t[1][1] == "NG" and "name-policy" in t[1][4], t
    assert t[1][5].startswith("組織が証明できる範囲外の名前があります: "), t
    assert 'action="/bulk/commit"' not in r.text
    # an O other than the registered name
    r = upload(s, srv, cp932([issue_line("o1.example.ac.jp", org="Other College")]))
    assert "registered name" in html.unescape(r.text)
    assert cert_count(inst) == before

    # good lines: the good ones issued, the bad one reported
    r = upload(s, srv, bad, mode="good_lines")
    r = commit(s, srv, r)
    assert r.status_code == 200, r.text
    t = rows(r)
    assert t[0][1] == "OK" and t[2][1] == "OK" and t[1][1] == "NG", t
    assert cert_count(inst) == before + 2

    # a good file, all or nothing: every line issued and mailed, in the list
    names = [f"w{i}.example.ac.jp" for i in range(1, 4)]
    good = cp932([issue_line(n, admin=f"admin{i}@example.ac.jp", dns=f"dNSName={n}")
                  for i, n in enumerate(names)])
    r = upload(s, srv, good)
    assert [x[1] for x in rows(r)] == ["OK"] * 3
    dry = r
    r = commit(s, srv, r)
    t = rows(r)
    assert [x[1] for x in t] == ["OK"] * 3, t
    serials = [x[2] for x in t]
    assert all(re.fullmatch(r"[0-9A-F]+", x) for x in serials)
    for i, sn in enumerate(serials):
        m = wait_mail_to(inst, f"admin{i}@example.ac.jp")[-1]
        assert sn in m.get_content()
    # the same commit form again (reload, double click): nothing more
    n = cert_count(inst)
    again = commit(s, srv, dry)
    assert again.status_code == 409 and "実行済み" in again.text, again.text
    assert cert_count(inst) == n
    lst = s.get(f"{srv.console}/certs?kind=server&q=w1.example.ac.jp")
    assert serials[0] in lst.text
    # the result as TSV, from the sealed form
    m = re.search(r'<form method="post" action="/bulk/result.tsv".*?</form>', r.text, re.S)
    fields = {k: (None, html.unescape(v))
              for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', m.group(0))}
    d = s.post(f"{srv.console}/bulk/result.tsv", files=fields)
    assert d.status_code == 200 and d.headers["Content-Type"].startswith(
        "text/tab-separated-values")
    assert d.text.splitlines()[0].startswith("line\tresult\tserial")
    assert serials[0] in d.text
    # a changed result is refused
    fields["result_tsv"] = (None, base64.b64encode(b"line\tresult\n1\tdone\n").decode())
    assert s.post(f"{srv.console}/bulk/result.tsv", files=fields).status_code == 400
    # the same dry run's form with another file is refused
    r = upload(s, srv, good)
    m = re.search(r'<form method="post" action="/bulk/commit".*?</form>', r.text, re.S)
    fields = {k: (None, html.unescape(v))
              for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', m.group(0))}
    fields["content"] = (None, base64.b64encode(bad).decode())
    n = cert_count(inst)
    assert s.post(f"{srv.console}/bulk/commit", files=fields).status_code == 400
    assert cert_count(inst) == n
    assert "console.bulk" in audit(inst)

    # revoke file
    r = upload(s, srv, cp932([revoke_line(names[0], serials[0])]), op="revoke")
    assert rows(r)[0][1] == "OK", r.text
    r = commit(s, srv, r)
    assert rows(r)[0][1] == "OK", r.text
    v = s.get(f"{srv.console}/certs/view?serial={serials[0]}&lang=en")
    assert "Revoked" in v.text
    # revoking it again is refused in the dry run
    r = upload(s, srv, cp932([revoke_line(names[0], serials[0])]), op="revoke")
    assert rows(r)[0][1] == "NG" and "revoked already" in html.unescape(r.text)


def test_bulk_large_and_hostile(bulk, tmp_path, request):
    srv, inst = bulk
    o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
              "--perm", "server")
    other = enrol(srv, inst, tmp_path, "Jiro Suzuki", "jiro@example.ac.jp", "--org", "U01",
                  "--perm", "server")
    s, _ = login(srv, o)
    before = cert_count(inst)
    # hostile files: refused as a whole, nothing written
    for data, word in ((b"\x00\x01\x02binary\x00", "binary"),
                       ("CN=x.example.ac.jp".encode() + b"\x81\x20\tbroken\r\n", "encoding"),
                       (b"\xff\xfe" + "x".encode("utf-16-le"), "utf16")):
        r = upload(s, srv, data)
        assert r.status_code == 422, r.text
        assert f"<code>{word}</code>" in r.text and "何も実行していません" in r.text, r.text
    assert cert_count(inst) == before

    # 1,000 lines, 2 ms each (SLOW): the commit is seen under way
    N = 1000
    lines = [issue_line(f"h{i}.example.ac.jp", admin=f"a{i % 10}@example.ac.jp")
             for i in range(N)]
    data = cp932(lines)
    t0 = time.time()
    r = upload(s, srv, data)
    t1 = time.time()
    assert r.status_code == 200
    assert len([x for x in rows(r) if x[1] == "OK"]) == N
    # the commit runs off the request: 303 to its page, which refreshes itself with the
    # lines done of the total until the result is there
    form = commit_form(r)
    r = s.post(f"{srv.console}/bulk/commit", files=form, allow_redirects=False)
    assert r.status_code == 303, r.text
    job = r.headers["Location"]
    assert re.fullmatch(r"/bulk/job\?id=[0-9a-f]{32}", job), job
    p = s.get(f"{srv.console}{job}&lang=en")
    assert p.status_code == 200 and REFRESH in p.text, p.text
    m = re.search(rf'<span class="progress">(\d+) / {N}</span>', p.text)
    assert m and int(m.group(1)) < N, p.text
    assert "Checking the lines" in p.text or "Committing the lines" in p.text, p.text
    # the same form again while it runs: nothing more
    again = s.post(f"{srv.console}/bulk/commit", files=form, allow_redirects=False)
    assert again.status_code == 409, again.text
    # the job is its session's: another officer, or the same officer's other session, sees none
    s2, _ = login(srv, other)
    assert s2.get(f"{srv.console}{job}").status_code == 404
    s3, _ = login(srv, o)
    assert s3.get(f"{srv.console}{job}").status_code == 404
    assert s.get(f"{srv.console}/bulk/job?id={'0' * 32}").status_code == 404
    seen = set()
    while True:
        p = s.get(f"{srv.console}{job}&lang=en")
        if REFRESH not in p.text:
            break
        seen.add(re.search(r'<span class="progress">(\d+) / ', p.text).group(1))
        time.sleep(0.2)
    r = p
    t2 = time.time()
    assert len(seen) >= 2, seen  # the counter moved between refreshes
    assert r.status_code == 200, r.text[:2000]
    assert "The file was committed" in r.text
    t = rows(r)
    assert len(t) == N and all(x[1] == "OK" for x in t), [x for x in t if x[1] != "OK"][:3]
    assert cert_count(inst) == before + N
    print(f"{N} lines: dry run {t1 - t0:.1f} s, commit {t2 - t1:.1f} s")

    # 10,000 lines (one line repeated) fit the limits: the dry run and its commit form (on one
    # backend: the page rules are the same)
    if "sqlite" not in request.node.name:
        return
    data = cp932([lines[0]] * 10000)
    t0 = time.time()
    r = upload(s, srv, data, mode="good_lines")
    assert r.status_code == 200, r.text[:2000]
    assert len([x for x in rows(r) if x[1] == "OK"]) == 10000
    assert 'action="/bulk/commit"' in r.text
    print(f"10,000 lines ({len(data)} bytes): dry run {time.time() - t0:.1f} s")


@pytest.mark.parametrize("mode,stage", [("good_lines", "store"), ("all_or_nothing", "store"),
                                        ("all_or_nothing", "sign")])
def test_bulk_crash_mid_job(ca_sqlite, tmp_path, mode, stage):
    """The web process killed while a job commits — while it signs the lines, or while it
    stores what it signed: after the supervisor's restart the job is gone (its page 404),
    and the store holds nothing of the file in either mode: a server issuance file's
    certificates are stored in one transaction (good lines: a savepoint per line) — no
    certificate, no mail, no console.bulk entry, and the audit chain verifies
    (docs/bulk-tsv.md, "Progress").  The job page answers while the lines are stored (a
    console request that only reads writes nothing, so it never waits for the commit's write
    lock)."""
    import os
    import signal
    import subprocess
    inst = ca_sqlite
    inst.ok("org", "add", "U01", "--name", ORG, "--domain", "example.ac.jp")
    srv = start_server(inst, SLOW)
    try:
        o = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
                  "--perm", "server")
        s, _ = login(srv, o)
        before = set(inst.ok("cert", "list").splitlines())
        n = 1000
        data = cp932([issue_line(f"k{i}.example.ac.jp") for i in range(n)])
        r = upload(s, srv, data, mode=mode)
        assert r.status_code == 200
        r = s.post(f"{srv.console}/bulk/commit", files=commit_form(r), allow_redirects=False)
        assert r.status_code == 303, r.text
        job = f"{srv.console}{r.headers['Location']}&lang=en"
        end = time.time() + 120
        while True:
            p = s.get(job)
            what = "Committing the lines" if stage == "sign" else "Storing the signed certificates"
            m = re.search(what + r': <span class="progress">(\d+) / ', p.text)
            assert REFRESH in p.text, "the job ended before the kill: " + p.text[-3000:]
            if m and int(m.group(1)) >= 20:
                break
            assert time.time() < end
            time.sleep(0.1)

        def web_pid():
            out = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(srv.proc.pid)],
                                 capture_output=True, text=True).stdout
            kids = dict(reversed(l.split(None, 1)) for l in out.splitlines())
            return kids.get("shomei-web")

        old = web_pid()
        assert old
        os.kill(int(old), signal.SIGKILL)
        end = time.time() + 60
        while True:
            pid = web_pid()
            try:
                if pid not in (None, old) and s.get(f"{srv.http}/healthz").status_code == 200:
                    break
            except OSError:
                pass
            assert time.time() < end, "web not restarted"
            time.sleep(0.2)
        # the job lived in the dead process's memory
        assert s.get(job).status_code in (404, 200)
        s, _ = login(srv, o)
        assert s.get(job).status_code == 404
        new = [l for l in inst.ok("cert", "list").splitlines() if l not in before]
        k = len(new)
        assert k == 0, k  # one transaction: the killed commit left nothing
        time.sleep(1)
        with pytest.raises(AssertionError, match="no mail to"):
            wait_mail_to(inst, "admin@example.ac.jp", timeout=2)
        assert "console.bulk" not in audit(inst)
        inst.ok("audit", "verify")
    finally:
        stop_server(srv)
