"""The RA officers' console, statistics (issue 13 part 8) and the audit view (part 11):
certificates issued with `shomei issue --org`, one revoked with `shomei revoke`; the renewal is
recorded by setting the new certificate's predecessor in the store (no CLI command renews;
the portal's re-issue does it, and its flow is tested elsewhere).  An officer with and without
the stats permission, an auditor; the table, the TSV, the SVG chart; another organization out
of an officer's reach; the audit page's filters, paging link, and its verification before and
after the audit table is tampered with."""
import csv
import html
import io
import re
import time

import pytest

from conftest import make_csr, openssl, start_server, stop_server
from test_console import CONF, csrf_of, enrol, login

MONTH = time.strftime("%Y-%m", time.gmtime())


def issue(inst, tmp_path, org, profile, subj, san, *extra):
    csr, _ = make_csr(tmp_path, subj, san=san)
    out = tmp_path / (re.sub(r"\W", "_", subj) + ".pem")
    inst.ok("issue", "--profile", profile, "--org", org, "--csr", csr, "--out", str(out),
            *extra)
    return openssl("x509", "-in", str(out), "-noout",
                   "-serial").stdout.decode().split("=")[1].strip()


@pytest.fixture
def stats_console(ca, tmp_path):
    inst = ca
    inst.ok("org", "add", "U01", "--name", "Example University", "--domain", "example.ac.jp",
            "--domain", "lab.example.jp")
    inst.ok("org", "add", "OTHER", "--name", "Other Corp", "--domain", "other.example.jp")
    srv = start_server(inst, CONF)
    yield srv, inst
    stop_server(srv)


def table(text):
    """The statistics table's lines as dicts keyed by org, domain, month, profile."""
    rows = {}
    for m in re.finditer(r"<tr(?: class=\"total\")?><td>([^<]*)</td><td>([^<]*)</td>"
                         r"<td>([^<]*)</td><td>([^<]*)</td>((?:<td class=\"num\">\d+</td>){7})"
                         r"</tr>", text):
        nums = [int(n) for n in re.findall(r"\d+", m.group(5))]
        key = tuple(html.unescape(g) for g in m.groups()[:4])
        rows[key] = dict(zip(("issued", "renewed", "revoked", "valid", "exp30", "exp60",
                              "exp90"), nums))
    return rows


def tsv(text):
    rd = csv.DictReader(io.StringIO(text), delimiter="\t")
    return {(r["organization"], r["domain"], r["month"], r["profile"]):
            dict(issued=int(r["issued"]), renewed=int(r["renewed"]),
                 revoked=int(r["revoked"]), valid=int(r["valid_now"]),
                 exp30=int(r["expiring_30d"]), exp60=int(r["expiring_60d"]),
                 exp90=int(r["expiring_90d"])) for r in rd}


def en(s):
    s.headers["Accept-Language"] = "en"
    return s


def test_stats_and_audit(stats_console, tmp_path):
    srv, inst = stats_console
    s1 = issue(inst, tmp_path, "U01", "server", "/CN=www.example.ac.jp",
               "DNS:www.example.ac.jp,DNS:www.lab.example.jp")
    c1 = issue(inst, tmp_path, "U01", "client", "/CN=Alice", "email:alice@example.ac.jp",
               "--days", "20")
    s2 = issue(inst, tmp_path, "U01", "server", "/CN=web2.example.ac.jp",
               "DNS:web2.example.ac.jp")
    s3 = issue(inst, tmp_path, "U01", "server", "/CN=new.example.ac.jp",
               "DNS:new.example.ac.jp")
    o1 = issue(inst, tmp_path, "OTHER", "server", "/CN=www.other.example.jp",
               "DNS:www.other.example.jp")
    inst.ok("revoke", s2, "--reason", "keyCompromise")
    # the renewal: s3 replaces s1 (what a re-issue records)
    inst.sql(f"UPDATE certificates SET predecessor = '{s1}' WHERE serial = '{s3}'")

    off = enrol(srv, inst, tmp_path, "Taro Yamada", "taro@example.ac.jp", "--org", "U01",
                "--perm", "server,client,stats")
    nost = enrol(srv, inst, tmp_path, "Jiro Sato", "jiro@example.ac.jp", "--org", "U01",
                 "--perm", "server")
    aud = enrol(srv, inst, tmp_path, "Audit Person", "audit@example.ac.jp", "--role", "auditor")

    # ---- an officer with the stats permission: their organization only ----
    s, menu = login(srv, off)
    en(s)
    assert 'href="/stats"' in menu.text and 'href="/audit"' not in menu.text
    r = s.get(srv.console + "/stats")
    assert r.status_code == 200, r.text
    t = table(r.text)
    srv_row = t[("U01", "example.ac.jp", MONTH, "server")]
    assert (srv_row["issued"], srv_row["renewed"], srv_row["revoked"], srv_row["valid"]) == \
        (3, 1, 1, 2), srv_row
    assert t[("U01", "lab.example.jp", MONTH, "server")]["issued"] == 1
    cl = t[("U01", "example.ac.jp", MONTH, "client")]
    assert (cl["issued"], cl["valid"], cl["exp30"], cl["exp60"], cl["exp90"]) == (1, 1, 1, 1, 1)
    tot = t[("U01", "(all domains)", MONTH, "server")]
    assert (tot["issued"], tot["renewed"], tot["revoked"], tot["valid"]) == (3, 1, 1, 2)
    assert not any(k[0] == "OTHER" for k in t), t
    # the chart: SVG drawn on the server, no script anywhere, no style attribute
    svg = re.search(r"<svg class=\"chart\".*?</svg>", r.text, re.S)
    assert svg and svg.group(0).count('class="bar-server"') == 1, r.text
    assert 'class="bar-client"' in svg.group(0)
    assert "<script" not in r.text.lower() and "style=" not in r.text.lower()
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    # another organization is out of reach: org= is ignored for an officer
    r = s.get(srv.console + "/stats", params={"org": "OTHER"})
    assert r.status_code == 200 and not any(k[0] == "OTHER" for k in table(r.text))
    assert ("U01", "example.ac.jp", MONTH, "server") in table(r.text)
    # the TSV: the same table
    r = s.get(srv.console + "/stats.tsv", params={"org": "OTHER", "from": MONTH, "to": MONTH})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/tab-separated-values")
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert r.text.startswith("organization\tdomain\tmonth\tprofile\tissued\trenewed\trevoked\t"
                             "valid_now\texpiring_30d\texpiring_60d\texpiring_90d\n")
    v = tsv(r.text)
    assert not any(k[0] == "OTHER" for k in v)
    assert v[("U01", "example.ac.jp", MONTH, "server")] == srv_row
    assert v[("U01", "example.ac.jp", MONTH, "client")] == cl
    assert ("U01", "(other)", MONTH, "server") not in v  # every name lies under a domain
    # bad periods
    assert s.get(srv.console + "/stats", params={"from": "2026-13"}).status_code == 400
    assert s.get(srv.console + "/stats", params={"from": "2020-01",
                                                   "to": "2026-01"}).status_code == 400
    # no audit view for an officer
    r = s.get(srv.console + "/audit")
    assert r.status_code == 403 and "does not have the permission" in r.text

    # ---- an officer without the permission ----
    s, menu = login(srv, nost)
    en(s)
    assert 'href="/stats"' not in menu.text
    r = s.get(srv.console + "/stats")
    assert r.status_code == 403 and "does not have the permission" in r.text
    assert s.get(srv.console + "/stats.tsv").status_code == 403

    # ---- the auditor: every organization, or one ----
    s, menu = login(srv, aud)
    en(s)
    assert 'href="/stats"' in menu.text and 'href="/audit"' in menu.text
    t = table(s.get(srv.console + "/stats").text)
    assert t[("OTHER", "other.example.jp", MONTH, "server")]["issued"] == 1
    assert t[("U01", "example.ac.jp", MONTH, "server")] == srv_row
    r = s.get(srv.console + "/stats", params={"org": "OTHER"})
    t = table(r.text)
    assert t and all(k[0] == "OTHER" for k in t), t
    assert '<option value="OTHER" selected>' in r.text
    assert s.get(srv.console + "/stats", params={"org": "NOPE"}).status_code == 404
    v = tsv(s.get(srv.console + "/stats.tsv").text)
    assert v[("OTHER", "(all domains)", MONTH, "server")]["issued"] == 1

    # ---- the audit view ----
    # the chain is walked on the button only (a page load reads one page of entries)
    r = s.get(srv.console + "/audit")
    assert r.status_code == 200
    assert "has not been verified since the console started" in r.text, r.text
    assert "Audit chain verified" not in r.text
    assert f"<code>{s1}</code>" in r.text
    assert s.post(srv.console + "/audit/verify", data={}).status_code == 403  # CSRF
    assert "Audit chain verified" not in s.get(srv.console + "/audit").text
    r = s.post(srv.console + "/audit/verify", data={"csrf": csrf_of(r.text)})
    assert r.status_code == 200 and r.url.endswith("/audit"), r.url
    assert re.search(r"Audit chain verified: OK \(\d+ entries; verified at "
                     r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", r.text), r.text
    r = s.get(srv.console + "/audit", params={"action": "cert.revoke"})
    objs = re.findall(r"<td><code>([^<]*)</code></td><td><code>([^<]*)</code></td>"
                      r"<td><code>([^<]*)</code></td>", r.text)
    assert [(a, o) for _, a, o in objs] == [("cert.revoke", s2)], objs
    r = s.get(srv.console + "/audit", params={"org": "OTHER"})
    objs = [o for _, _, o in re.findall(r"<td><code>([^<]*)</code></td><td><code>([^<]*)"
                                        r"</code></td><td><code>([^<]*)</code></td>", r.text)]
    assert o1 in objs and s1 not in objs and c1 not in objs, objs
    r = s.get(srv.console + "/audit", params={"org": "U01", "action": "cert."})
    objs = [o for _, _, o in re.findall(r"<td><code>([^<]*)</code></td><td><code>([^<]*)"
                                        r"</code></td><td><code>([^<]*)</code></td>", r.text)]
    # its certificates (the officers' certificates of U01 too), not another organization's
    assert {s1, c1, s2, s3} <= set(objs) and o1 not in objs, objs
    assert off.serial in objs and aud.serial not in objs, objs
    r = s.get(srv.console + "/audit", params={"actor": f"officer:{off.id}"})
    acts = re.findall(r"<td><code>(officer:[^<]*|[^<]*)</code></td><td><code>console\.login",
                      r.text)
    assert acts and all(a == f"officer:{off.id}" for a in acts), r.text
    today = time.strftime("%Y-%m-%d", time.gmtime())
    r = s.get(srv.console + "/audit", params={"from": today, "to": today, "action": "cert."})
    assert f"<code>{s1}</code>" in r.text
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    r = s.get(srv.console + "/audit", params={"from": tomorrow})
    assert "No audit entries match." in r.text
    assert s.get(srv.console + "/audit", params={"from": "yesterday"}).status_code == 400
    # paging: 100 per page, newest first, a link to the older entries
    for i in range(100):
        inst.ok("org", "set", "OTHER", "--name", f"Other Corp {i}")
    r = s.get(srv.console + "/audit")
    seqs = [int(x) for x in re.findall(r'<tr><td class="num">(\d+)</td>', r.text)]
    assert len(seqs) == 100 and seqs == sorted(seqs, reverse=True)
    nxt = re.search(r'<a href="/audit\?([^"]+)" rel="next">', r.text)
    assert nxt, r.text
    r = s.get(srv.console + "/audit?" + html.unescape(nxt.group(1)))
    seqs2 = [int(x) for x in re.findall(r'<tr><td class="num">(\d+)</td>', r.text)]
    assert seqs2 and max(seqs2) == min(seqs) - 1
    # tampered: the page names the entry
    seq = inst.sql("SELECT seq FROM audit WHERE action = 'cert.revoke'")[0][0]
    inst.sql(f"UPDATE audit SET detail = 'tampered' WHERE seq = {seq}")
    r = s.get(srv.console + "/audit")
    assert r.status_code == 200 and "verified at" in r.text  # the last result, with its time
    r = s.post(srv.console + "/audit/verify", data={"csrf": csrf_of(r.text)})
    assert r.status_code == 200
    assert f"Audit chain verification failed at entry {seq}: entry {seq} was modified" in \
        html.unescape(r.text), r.text
    # and it stays reported until the next verification
    r = s.get(srv.console + "/audit")
    assert "Audit chain verification failed" in r.text and "Audit chain verified" not in r.text
