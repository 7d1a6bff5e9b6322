"""REST API /api/v1: API keys, issue/get/list/revoke, organization isolation, RFC 7807 errors,
and the OpenAPI document checked against the routes the server actually serves."""
import datetime
import json
import os
import re
import subprocess

import pytest
import requests
import yaml

from conftest import ROOT, SHOMEI, make_csr, openssl

OPENAPI = os.path.join(ROOT, "docs", "openapi.yaml")
PROBLEM_CT = "application/problem+json"
URN = "urn:shomei:problem:"


def documented_types():
    with open(OPENAPI) as f:
        text = f.read()
    return set(re.findall(r"urn:shomei:problem:[a-z-]+", text))


class Api:
    """A client of one server with one API key."""

    def __init__(self, srv, key):
        self.srv = srv
        self.key = key
        self.base = srv.https + "/api/v1"

    def req(self, method, path, key=True, headers=None, **kw):
        h = dict(headers or {})
        if key is True:
            h["Authorization"] = "Bearer " + self.key
        elif key:
            h["Authorization"] = key
        return requests.request(method, self.base + path, headers=h, verify=self.srv.cafile,
                                timeout=60, **kw)

    def post(self, path, body, **kw):
        return self.req("POST", path, json=body, **kw)

    def issue(self, csr_path, profile="server", **extra):
        with open(csr_path) as f:
            body = {"profile": profile, "csr": f.read(), **extra}
        return self.post("/certificates", body)


def problem(r, status, slug):
    """Asserts an RFC 7807 answer of this status and type."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].split(";")[0] == PROBLEM_CT, r.headers
    doc = r.json()
    assert doc["status"] == status
    assert doc["type"] == URN + slug, doc
    assert doc["type"] in documented_types(), doc["type"]
    assert doc["title"]
    return doc


def org_key(inst, code, domains=("example.com",), name=None):
    """Adds an organization (if new) and returns a fresh API key for it."""
    p = inst.run("org", "add", code, "--name", code + " Inc.",
                 *sum((["--domain", d] for d in domains), []))
    assert p.returncode == 0 or b"exists" in p.stderr, p.stderr
    args = ["apikey", "create", "--org", code]
    if name:
        args += ["--name", name]
    p = inst.run(*args)
    assert p.returncode == 0, p.stderr
    key = p.stdout.decode().strip()
    assert re.fullmatch(r"shk_[0-9a-f]{16}_[0-9a-f]{64}", key), key
    return key


def verify_chain(tmp_path, doc, srv):
    leaf = tmp_path / "leaf.pem"
    chain = tmp_path / "chain.pem"
    leaf.write_text(doc["certificate"])
    chain.write_text(doc["chain"])
    p = openssl("verify", "-CAfile", srv.cafile, "-untrusted", str(chain), str(leaf))
    assert b": OK" in p.stdout


# ---- API keys ----

def test_apikey_cli_prints_once_stores_hash(ca):
    key = org_key(ca, "ACME", name="ci pipeline")
    key_id, secret = key[4:20], key[21:]
    rows = ca.sql(f"SELECT key_id, name, disabled FROM api_keys WHERE key_id = '{key_id}'")
    assert rows and rows[0][0] == key_id and rows[0][1] == "ci pipeline"
    assert str(rows[0][2]) == "0"
    # the secret is nowhere in the database: not in api_keys, not in the audit chain
    if ca.backend == "sqlite":
        for suffix in ("", "-wal"):
            p = ca.db + suffix
            if os.path.exists(p):
                data = open(p, "rb").read()
                assert secret.encode() not in data
                assert bytes.fromhex(secret) not in data
        dump = subprocess.run(["sqlite3", ca.db, ".dump"], capture_output=True,
                              check=True).stdout.decode()
    else:
        dump = json.dumps(ca.sql("SELECT key_id, name, encode(hash, 'hex') FROM api_keys") +
                          ca.sql("SELECT actor, action, object, detail FROM audit"))
    assert key_id in dump
    assert secret not in dump and secret.upper() not in dump
    # listed (without the secret), with an audit entry
    out = ca.ok("apikey", "list", "--org", "ACME")
    assert key_id in out and secret not in out and "enabled" in out
    assert ca.sql("SELECT COUNT(*) FROM audit WHERE action = 'apikey.create'")[0][0] in (1, "1")
    # a second create prints a different key; unknown organization is refused
    assert org_key(ca, "ACME") != key
    p = ca.run("apikey", "create", "--org", "NOPE")
    assert p.returncode == 1 and p.stdout == b""
    ca.ok("apikey", "disable", key_id)
    assert "disabled" in ca.ok("apikey", "list")
    ca.ok("apikey", "enable", key_id)
    assert ca.run("apikey", "disable", "0000000000000000").returncode == 1


# ---- issue and get ----

def test_issue_profiles_and_get_forms(server, tmp_path):
    api = Api(server, org_key(server.inst, "ACME", domains=("acme.example",)))
    csr, _ = make_csr(tmp_path, "/CN=www.acme.example", san="DNS:www.acme.example")
    r = api.issue(csr, "server")
    assert r.status_code == 201, r.text
    doc = r.json()
    serial = doc["serial"]
    assert r.headers["Location"] == "/api/v1/certificates/" + serial
    assert doc["profile"] == "server" and doc["status"] == "valid"
    assert doc["organization"] == "ACME"
    assert doc["subject"] == "CN=www.acme.example,O=ACME Inc.", doc["subject"]
    assert doc["sans"] == "DNS:www.acme.example"
    verify_chain(tmp_path, doc, server)

    csr2, _ = make_csr(tmp_path, "/CN=alice", san="email:alice@acme.example", key="rsa:2048")
    r = api.issue(csr2, "client", days=30)
    assert r.status_code == 201, r.text
    doc2 = r.json()
    verify_chain(tmp_path, doc2, server)
    nb = datetime.datetime.fromisoformat(doc2["not_before"].replace("Z", "+00:00"))
    na = datetime.datetime.fromisoformat(doc2["not_after"].replace("Z", "+00:00"))
    assert (na - nb).total_seconds() == 30 * 86400 - 1  # notAfter inclusive (RFC 5280)
    p = openssl("x509", "-noout", "-ext", "extendedKeyUsage", input=doc2["certificate"].encode())
    assert b"Client Authentication" in p.stdout

    # audit actor names the organization and the key
    key_id = api.key[4:20]
    rows = server.inst.sql("SELECT actor, object FROM audit WHERE action = 'cert.issue' "
                           "AND actor LIKE 'api:%'")
    assert sorted(rows) == sorted([[f"api:ACME:{key_id}", serial],
                                   [f"api:ACME:{key_id}", doc2["serial"]]])

    # JSON (default, Accept, ?format), PEM, DER
    r = api.req("GET", "/certificates/" + serial)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert r.json()["certificate"] == doc["certificate"]
    r = api.req("GET", "/certificates/" + serial.lower())
    assert r.status_code == 200 and r.json()["serial"] == serial
    r = api.req("GET", "/certificates/" + serial, headers={"Accept": "application/x-pem-file"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-pem-file"
    assert r.text == doc["certificate"]
    r = api.req("GET", "/certificates/" + serial + "?format=der")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pkix-cert"
    der = r.content
    p = openssl("x509", "-inform", "DER", "-noout", "-serial", input=der)
    assert p.stdout.decode().strip() == "serial=" + serial
    r = api.req("GET", "/certificates/" + serial,
                headers={"Accept": "text/html;q=0.9, application/pkix-cert"})
    assert r.content == der
    r = api.req("GET", "/certificates/" + serial + "?format=pem")
    assert r.text == doc["certificate"]
    r = api.req("HEAD", "/certificates/" + serial)
    assert r.status_code == 200 and r.content == b""
    problem(api.req("GET", "/certificates/" + serial, headers={"Accept": "text/html"}), 406,
            "not-acceptable")
    problem(api.req("GET", "/certificates/" + serial + "?format=xml"), 400, "invalid-query")

    # metrics count issuance by profile
    m = requests.get(server.http + "/metrics", timeout=10).text
    assert re.search(r'shomei_certificates_issued_total\{profile="server"\} 1\b', m), m
    assert re.search(r'shomei_certificates_issued_total\{profile="client"\} 1\b', m), m


# ---- list ----

def test_list_filters_and_paging(server, tmp_path):
    inst = server.inst
    api = Api(server, org_key(inst, "ACME", domains=("acme.example",)))
    serials = {}
    for name, days in (("alpha", 10), ("beta", None), ("gamma", None), ("delta", None)):
        csr, _ = make_csr(tmp_path, f"/CN={name}.acme.example", san=f"DNS:{name}.acme.example")
        extra = {"days": days} if days else {}
        r = api.issue(csr, **extra)
        assert r.status_code == 201, r.text
        serials[name] = r.json()["serial"]
    assert api.post(f"/certificates/{serials['gamma']}/revoke",
                    {"reason": "superseded"}).status_code == 200
    # delta expired: move its notAfter into the past
    inst.sql(f"UPDATE certificates SET not_after = 1000000 WHERE serial = '{serials['delta']}'")

    def names(query=""):
        r = api.req("GET", "/certificates" + query)
        assert r.status_code == 200, r.text
        doc = r.json()
        by = {v: k for k, v in serials.items()}
        for it in doc["items"]:
            assert "certificate" not in it and it["organization"] == "ACME"
        return [by[it["serial"]] for it in doc["items"]], doc

    def nameset(query=""):
        return set(names(query)[0])

    full, doc = names()
    assert set(full) == {"alpha", "beta", "gamma", "delta"}
    assert doc["limit"] == 100 and doc["offset"] == 0 and "next_offset" not in doc
    assert nameset("?status=valid") == {"alpha", "beta"}
    got, doc = names("?status=revoked")
    assert got == ["gamma"]
    assert doc["items"][0]["status"] == "revoked"
    assert doc["items"][0]["revocation_reason"] == "superseded"
    got, doc = names("?status=expired")
    assert got == ["delta"] and doc["items"][0]["status"] == "expired"
    assert nameset("?status=any") == set(full)
    soon = (datetime.datetime.now(datetime.timezone.utc) +
            datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert nameset("?expiring_before=" + soon) == {"alpha", "delta"}
    assert nameset("?status=valid&expiring_before=" + soon) == {"alpha"}
    assert nameset("?expiring_before=2000-01-01T09:00:00%2B09:00") == {"delta"}
    assert nameset("?subject=beta") == {"beta"}
    assert nameset("?subject=CN%3Dgamma.acme") == {"gamma"}
    assert nameset("?subject=nothing") == set()
    # paging: the pages are slices of the full list (ordered by issuance, then serial)
    got, doc = names("?limit=2")
    assert got == full[:2] and doc["next_offset"] == 2 and doc["limit"] == 2
    got, doc = names("?limit=2&offset=2")
    assert got == full[2:] and "next_offset" not in doc and doc["offset"] == 2
    got, doc = names("?limit=1&offset=1")
    assert got == full[1:2] and doc["next_offset"] == 2
    got, doc = names("?limit=3&offset=1")
    assert got == full[1:] and "next_offset" not in doc
    assert names("?offset=10")[0] == []
    # bad queries
    for q in ("?status=bogus", "?limit=0", "?limit=1001", "?limit=x", "?offset=-1",
              "?expiring_before=tomorrow", "?expiring_before=2030-02-30T00:00:00Z",
              "?colour=red", "?limit=1&limit=2", "?subject=" + "x" * 300):
        problem(api.req("GET", "/certificates" + q), 400, "invalid-query")


# ---- revoke ----

def test_revoke_then_conflict(server, tmp_path):
    inst = server.inst
    api = Api(server, org_key(inst, "ACME", domains=("acme.example",)))
    csr, _ = make_csr(tmp_path, "/CN=a.acme.example", san="DNS:a.acme.example")
    serial = api.issue(csr).json()["serial"]
    problem(api.post(f"/certificates/{serial}/revoke", {"reason": "certificateHold"}), 400,
            "invalid-request")
    problem(api.post(f"/certificates/{serial}/revoke", {"reason": "nonsense"}), 400,
            "invalid-request")
    problem(api.post(f"/certificates/{serial}/revoke", {"reason": 1}), 400, "invalid-request")
    problem(api.post(f"/certificates/{serial}/revoke",
                     {"reason": "keyCompromise", "invalidity_date": "2999-01-01T00:00:00Z"}),
            400, "invalid-request")
    r = api.post(f"/certificates/{serial}/revoke",
                 {"reason": "keyCompromise", "invalidity_date": "2024-05-01T12:00:00+09:00"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["status"] == "revoked" and doc["revocation_reason"] == "keyCompromise"
    assert doc["invalidity_date"] == "2024-05-01T03:00:00Z"
    assert "certificate" not in doc and doc["revoked_at"]
    problem(api.post(f"/certificates/{serial}/revoke", {"reason": "keyCompromise"}), 409,
            "already-revoked")
    assert api.req("GET", "/certificates/" + serial).json()["status"] == "revoked"
    # the CLI sees the same state; the audit entry names the key
    assert "revoked" in inst.ok("cert", "show", serial)
    key_id = api.key[4:20]
    rows = inst.sql("SELECT actor FROM audit WHERE action = 'cert.revoke'")
    assert rows == [[f"api:ACME:{key_id}"]]
    # default reason is unspecified
    csr2, _ = make_csr(tmp_path, "/CN=b.acme.example", san="DNS:b.acme.example")
    serial2 = api.issue(csr2).json()["serial"]
    r = api.post(f"/certificates/{serial2}/revoke", {})
    assert r.status_code == 200 and r.json()["revocation_reason"] == "unspecified"
    m = requests.get(server.http + "/metrics", timeout=10).text
    assert re.search(r'shomei_certificates_revoked_total\{reason="keyCompromise"\} 1\b', m), m


# ---- organizations ----

def test_cross_org_isolation(server, tmp_path):
    inst = server.inst
    a = Api(server, org_key(inst, "ACME", domains=("acme.example",)))
    b = Api(server, org_key(inst, "BETA", domains=("beta.example",)))
    csr, _ = make_csr(tmp_path, "/CN=www.acme.example", san="DNS:www.acme.example")
    serial = a.issue(csr).json()["serial"]
    # B cannot see, fetch or revoke A's certificate: it does not exist for B
    problem(b.req("GET", "/certificates/" + serial), 404, "not-found")
    problem(b.req("GET", "/certificates/" + serial + "?format=der"), 404, "not-found")
    problem(b.post(f"/certificates/{serial}/revoke", {"reason": "keyCompromise"}), 404,
            "not-found")
    assert b.req("GET", "/certificates").json()["items"] == []
    assert [i["serial"] for i in a.req("GET", "/certificates").json()["items"]] == [serial]
    assert a.req("GET", "/certificates/" + serial).json()["status"] == "valid"
    # B cannot issue for A's domain: B's organization rules apply
    doc = problem(b.issue(csr), 422, "domain-not-allowed")
    assert "www.acme.example" in doc["detail"] and "BETA" in doc["detail"]
    # a certificate issued by the CLI without an organization is invisible to both
    csr2, _ = make_csr(tmp_path, "/CN=cli.acme.example", san="DNS:cli.acme.example")
    out = tmp_path / "cli.pem"
    inst.ok("issue", "--profile", "server", "--csr", csr2, "--out", str(out))
    cli_serial = openssl("x509", "-in", str(out), "-noout", "-serial").stdout.decode().strip()[7:]
    problem(a.req("GET", "/certificates/" + cli_serial), 404, "not-found")


def test_name_policy(server, tmp_path):
    """The organization's name policy (src/ra/policy.c) refuses every name it does not own,
    each with a message naming the rule and the value; the subject is built by the RA."""
    inst = server.inst
    api = Api(server, org_key(inst, "UNIV", domains=("univ.example.ac.jp",)))
    # a client CSR naming another organization
    csr, _ = make_csr(tmp_path, "/O=Other Corp/CN=Alice Example",
                      san="email:alice@univ.example.ac.jp")
    doc = problem(api.issue(csr, "client"), 422, "domain-not-allowed")
    assert 'O "Other Corp" is not the registered name of organization UNIV' in doc["detail"]
    # a client CSR with an address of another organization
    csr, _ = make_csr(tmp_path, "/CN=CEO", san="email:ceo@other.example.jp")
    doc = problem(api.issue(csr, "client"), 422, "domain-not-allowed")
    assert "ceo@other.example.jp is outside the mail domains of organization UNIV" in \
        doc["detail"], doc
    # a server CSR with only IP SANs and a foreign CN
    csr, _ = make_csr(tmp_path, "/CN=www.other.example", san="IP:192.0.2.10")
    doc = problem(api.issue(csr, "server"), 422, "domain-not-allowed")
    assert "IP address 192.0.2.10 is not one of the addresses of organization UNIV" in \
        doc["detail"], doc
    # once the address is the organization's, the foreign CN is what is refused
    inst.ok("org", "set", "UNIV", "--ip", "192.0.2.0/24")
    doc = problem(api.issue(csr, "server"), 422, "domain-not-allowed")
    assert 'CN "www.other.example" is not one of the certificate\'s names' in doc["detail"]
    csr, _ = make_csr(tmp_path, "/CN=192.0.2.10", san="IP:192.0.2.10")
    r = api.issue(csr, "server")
    assert r.status_code == 201, r.text
    # a URI only when listed; a wildcard only where the profile allows one
    csr, _ = make_csr(tmp_path, "/O=UNIV Inc.", san="URI:https://univ.example.ac.jp/sw")
    doc = problem(api.issue(csr, "codesign"), 422, "domain-not-allowed")
    assert "URI https://univ.example.ac.jp/sw is not one of the URIs" in doc["detail"]
    inst.ok("org", "set", "UNIV", "--uri", "https://univ.example.ac.jp/")
    r = api.issue(csr, "codesign")
    assert r.status_code == 201, r.text
    # a code-signing certificate names its publisher: the organization's registered name
    assert r.json()["subject"] == "CN=UNIV Inc.,O=UNIV Inc.", r.json()["subject"]
    csr, _ = make_csr(tmp_path, "/CN=Microsoft Corporation",
                      san="URI:https://univ.example.ac.jp/sw")
    doc = problem(api.issue(csr, "codesign"), 422, "domain-not-allowed")
    assert 'CN "Microsoft Corporation" of a code-signing certificate must be the ' \
        "organization's registered name" in doc["detail"], doc
    # a client CN is one of its addresses or a person's name, never another's address
    csr, _ = make_csr(tmp_path, "/CN=ceo@other.example.jp", san="email:alice@univ.example.ac.jp")
    doc = problem(api.issue(csr, "client"), 422, "domain-not-allowed")
    assert 'CN "ceo@other.example.jp" is neither one of the certificate\'s e-mail addresses ' \
        "nor a person's name" in doc["detail"], doc
    csr, _ = make_csr(tmp_path, "/CN=*.univ.example.ac.jp", san="DNS:*.univ.example.ac.jp")
    assert api.issue(csr, "server").status_code == 201
    # the subject is the RA's: O = the registered name, the CSR's other attributes dropped
    csr, _ = make_csr(tmp_path, "/C=US/O=UNIV Inc./OU=Lab/CN=Bob Example",
                      san="email:bob@univ.example.ac.jp")
    r = api.issue(csr, "client")
    assert r.status_code == 201, r.text
    assert r.json()["subject"] == "CN=Bob Example,OU=Lab,O=UNIV Inc.", r.json()["subject"]
    # mail domains of their own, apart from the DNS domains
    inst.ok("org", "set", "UNIV", "--mail-domain", "mail.univ.example.jp")
    csr, _ = make_csr(tmp_path, "/CN=Carol", san="email:carol@univ.example.ac.jp")
    doc = problem(api.issue(csr, "client"), 422, "domain-not-allowed")
    assert "outside the mail domains" in doc["detail"]
    csr, _ = make_csr(tmp_path, "/CN=Carol", san="email:carol@mail.univ.example.jp")
    assert api.issue(csr, "client").status_code == 201

    # an organization without any name issues nothing until it is marked unrestricted
    bare = Api(server, org_key(inst, "BARE", domains=()))
    csr, _ = make_csr(tmp_path, "/CN=www.anything.example", san="DNS:www.anything.example")
    doc = problem(bare.issue(csr, "server"), 422, "domain-not-allowed")
    assert "organization BARE lists no domains" in doc["detail"]
    assert "shomei org set BARE --unrestricted" in doc["detail"]
    inst.ok("org", "set", "BARE", "--unrestricted")
    r = bare.issue(csr, "server")
    assert r.status_code == 201, r.text
    assert r.json()["subject"] == "CN=www.anything.example,O=BARE Inc."
    rows = inst.sql("SELECT actor, detail FROM audit WHERE action = 'org.set' "
                    "AND object = 'BARE'")
    assert rows and rows[-1][0] == "cli:org" and "unrestricted=yes" in rows[-1][1], rows
    assert "unrestricted:  yes" in inst.ok("org", "show", "BARE")
    inst.ok("org", "set", "BARE", "--restricted")
    problem(bare.issue(csr, "server"), 422, "domain-not-allowed")
    # bad values are refused with the rule
    p = inst.run("org", "set", "UNIV", "--ip", "300.1.2.3")
    assert p.returncode == 1 and b"not an IPv4 or IPv6 address" in p.stderr
    p = inst.run("org", "set", "UNIV", "--ip", "192.0.2.10/24")
    assert p.returncode == 1 and b"(the network is 192.0.2.0/24)" in p.stderr
    p = inst.run("org", "set", "UNIV", "--uri", "no scheme")
    assert p.returncode == 1 and b"not an absolute URI" in p.stderr


def test_name_policy_cli(ca, tmp_path):
    """`shomei issue --org` applies the same policy, with the same messages (exit 1)."""
    ca.ok("org", "add", "UNIV", "--name", "Example University", "--domain", "univ.example.jp")
    ca.ok("org", "add", "BARE", "--name", "Bare")
    cases = [
        ("UNIV", "client", "/O=Other Corp/CN=Alice", "email:alice@univ.example.jp",
         b'O "Other Corp" is not the registered name of organization UNIV'),
        ("UNIV", "client", "/CN=CEO", "email:ceo@other.example.jp",
         b"e-mail address ceo@other.example.jp is outside the mail domains of organization UNIV"),
        ("UNIV", "server", "/CN=www.other.example", "IP:192.0.2.10",
         b"IP address 192.0.2.10 is not one of the addresses of organization UNIV"),
        ("BARE", "server", "/CN=www.bare.example", "DNS:www.bare.example",
         b"organization BARE lists no domains"),
    ]
    for org, profile, subj, san, msg in cases:
        csr, _ = make_csr(tmp_path, subj, san=san)
        p = ca.run("issue", "--profile", profile, "--org", org, "--csr", csr)
        assert p.returncode == 1, (subj, p.stdout)
        assert b"name policy: " + msg in p.stderr, p.stderr
    csr, _ = make_csr(tmp_path, "/CN=Alice", san="email:alice@univ.example.jp")
    out = tmp_path / "alice.pem"
    ca.ok("issue", "--profile", "client", "--org", "UNIV", "--csr", csr, "--out", str(out))
    subj = openssl("x509", "-in", str(out), "-noout", "-subject", "-nameopt", "RFC2253")
    assert subj.stdout.decode().strip() == "subject=CN=Alice,O=Example University"
    p = ca.run("issue", "--profile", "server", "--org", "NOPE", "--csr", csr)
    assert p.returncode == 1 and b"organization NOPE does not exist" in p.stderr


# ---- errors ----

def test_error_statuses(server, tmp_path):
    inst = server.inst
    key = org_key(inst, "ACME", domains=("acme.example",))
    api = Api(server, key)
    csr, _ = make_csr(tmp_path, "/CN=www.acme.example", san="DNS:www.acme.example")
    csr_pem = open(csr).read()
    ok_body = {"profile": "server", "csr": csr_pem}

    # 401: no key, not Bearer, malformed, unknown id, wrong secret
    r = api.req("GET", "/certificates", key=None)
    problem(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    wrong_secret = key[:21] + ("0" if key[21] != "0" else "1") + key[22:]
    for bad in ("Basic dXNlcjpwdw==", "Bearer", "Bearer shk_123", "Bearer " + key + "x",
                "Bearer " + key.upper(), "Bearer shk_0000000000000000_" + "0" * 64,
                "Bearer " + wrong_secret):
        r = api.req("GET", "/certificates", key=bad)
        problem(r, 401, "unauthorized")
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    problem(api.post("/certificates", ok_body, key=None), 401, "unauthorized")
    assert api.req("GET", "/certificates", key="bearer  " + key + " ").status_code == 200

    # 403: disabled key; enabled again it works
    inst.ok("apikey", "disable", key[4:20])
    problem(api.req("GET", "/certificates"), 403, "key-disabled")
    inst.ok("apikey", "enable", key[4:20])
    assert api.req("GET", "/certificates").status_code == 200

    # 415: POST without application/json
    problem(api.req("POST", "/certificates", data=json.dumps(ok_body)), 415,
            "unsupported-media-type")
    problem(api.req("POST", "/certificates", data=json.dumps(ok_body),
                    headers={"Content-Type": "text/plain"}), 415, "unsupported-media-type")
    problem(api.req("POST", "/certificates", data=json.dumps(ok_body),
                    headers={"Content-Type": "application/jsonx"}), 415,
            "unsupported-media-type")
    r = api.req("POST", "/certificates", data=json.dumps(ok_body),
                headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert r.status_code == 201, r.text

    def raw(body):
        return api.req("POST", "/certificates", data=body,
                       headers={"Content-Type": "application/json"})

    # 400: malformed, duplicates, unknown members, wrong types, missing members
    problem(raw(b""), 400, "malformed-json")
    problem(raw(b"{"), 400, "malformed-json")
    problem(raw(b"{\"profile\": \"server\",}"), 400, "malformed-json")
    problem(raw(b"{\"profile\": \"\xff\"}"), 400, "malformed-json")
    problem(raw(b"[" * 50 + b"]" * 50), 400, "malformed-json")
    problem(raw(b"[]"), 400, "invalid-request")
    problem(raw(b"\"server\""), 400, "malformed-json")
    dup = ('{"profile": "server", "profile": "client", "csr": %s}' % json.dumps(csr_pem))
    doc = problem(raw(dup.encode()), 400, "duplicate-key")
    assert "profile" in doc["detail"]
    doc = problem(api.post("/certificates", {**ok_body, "extra": 1}), 400, "unknown-field")
    assert "extra" in doc["detail"]
    problem(api.post("/certificates", {**ok_body, "days": "30"}), 400, "invalid-request")
    problem(api.post("/certificates", {**ok_body, "days": 1.5}), 400, "invalid-request")
    problem(api.post("/certificates", {**ok_body, "days": 0}), 400, "invalid-request")
    problem(api.post("/certificates", {"profile": 1, "csr": csr_pem}), 400, "invalid-request")
    problem(api.post("/certificates", {"profile": "server", "csr": None}), 400,
            "invalid-request")
    problem(api.post("/certificates", {"csr": csr_pem}), 400, "invalid-request")
    problem(api.post("/certificates", {"profile": "server"}), 400, "invalid-request")

    # 422: profiles the API does not issue, bad CSR (detail names the rule), lint
    for prof in ("ocsp", "officer", "tsa", "root-ca", "nonsense"):
        problem(api.post("/certificates", {**ok_body, "profile": prof}), 422,
                "profile-not-allowed")
    doc = problem(api.post("/certificates", {"profile": "server", "csr": "garbage"}), 422,
                  "bad-csr")
    assert doc["detail"].startswith("csr:")
    weak, _ = make_csr(tmp_path, "/CN=w.acme.example", san="DNS:w.acme.example", key="rsa:1024")
    doc = problem(api.issue(weak), 422, "bad-csr")
    assert "1024" in doc["detail"]
    doc = problem(api.post("/certificates", {**ok_body, "days": 5000}), 422, "lint-refused")
    assert doc["detail"].startswith("lint:")
    nosan, _ = make_csr(tmp_path, "/CN=nosan")
    doc = problem(api.issue(nosan, "server"), 422, "lint-refused")
    assert "SAN" in doc["detail"]

    # 404: unknown routes and serials; 405 with Allow
    problem(api.req("GET", "/nothing"), 404, "not-found")
    problem(api.req("GET", "/certificates/"), 404, "not-found")
    problem(api.req("GET", "/certificates/ABCDEF/extra"), 404, "not-found")
    problem(api.req("GET", "/certificates/0123456789ABCDEF"), 404, "not-found")
    problem(api.req("GET", "/certificates/not-hex"), 404, "not-found")
    problem(api.req("GET", "/certificates/" + "A" * 41), 404, "not-found")
    problem(api.post("/certificates/0123456789ABCDEF/revoke", {}), 404, "not-found")
    r = api.req("DELETE", "/certificates")
    problem(r, 405, "method-not-allowed")
    assert set(r.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}
    r = api.req("POST", "/certificates/0123", json={})
    problem(r, 405, "method-not-allowed")
    assert set(r.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    r = api.req("GET", "/certificates/0123/revoke")
    problem(r, 405, "method-not-allowed")
    assert r.headers["Allow"] == "POST"

    # 413: over the API's own limit, and over the route's 1 MiB (the HTTP layer)
    big = json.dumps({**ok_body, "csr": "A" * (300 * 1024)})
    problem(raw(big.encode()), 413, "too-large")
    # (curl sends Expect: 100-continue, so the server can refuse before the body is sent)
    huge = tmp_path / "huge.json"
    huge.write_bytes(b"{\"csr\": \"" + b"A" * (2 * 1024 * 1024) + b"\"}")
    p = subprocess.run(["curl", "-s", "-o", str(tmp_path / "huge.out"), "-w",
                        "%{http_code} %{content_type}", "--cacert", server.cafile,
                        "-H", "Authorization: Bearer " + key,
                        "-H", "Content-Type: application/json",
                        "--data-binary", "@" + str(huge), api.base + "/certificates"],
                       capture_output=True, timeout=60)
    code, ctype = p.stdout.decode().split(" ", 1)
    assert code == "413" and ctype.split(";")[0] == PROBLEM_CT, p.stdout

    # nothing of the refused requests was issued: only the one 201 above
    assert len(api.req("GET", "/certificates").json()["items"]) == 1


# ---- OpenAPI drift ----

def served_routes():
    p = subprocess.run([SHOMEI, "apikey", "routes"], capture_output=True, check=True)
    routes = set()
    for line in p.stdout.decode().splitlines():
        method, path, op = line.split()
        routes.add((method.lower(), path, op))
    assert routes, "no routes listed"
    return routes


def documented_routes():
    with open(OPENAPI) as f:
        doc = yaml.safe_load(f)
    assert str(doc["openapi"]).startswith("3.")
    ops = set()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
                ops.add((method, path, op["operationId"]))
    return doc, ops


def test_openapi_matches_routes(server_sqlite, tmp_path):
    srv = server_sqlite
    doc, documented = documented_routes()
    served = served_routes()
    assert documented == served, ("documented only", documented - served,
                                  "served only", served - documented)
    # every documented problem type is one the server defines, and vice versa (slugs in C)
    with open(os.path.join(ROOT, "src", "api", "req.c")) as f:
        slugs = set(re.findall(r'\{\d{3}, "([a-z-]+)",', f.read()))
    assert {URN + s for s in slugs} == documented_types()

    # each documented operation answers (not 404/405); other methods on its path are 405
    api = Api(srv, org_key(srv.inst, "ACME", domains=("acme.example",)))
    csr, _ = make_csr(tmp_path, "/CN=www.acme.example", san="DNS:www.acme.example")
    serial = api.issue(csr).json()["serial"]
    by_path = {}
    for method, path, _ in documented:
        by_path.setdefault(path, set()).add(method)
    for path, methods in by_path.items():
        url = path.replace("{serial}", serial)[len("/api/v1"):]
        for method in ("get", "post", "put", "delete", "patch"):
            r = api.req(method.upper(), url, json={"reason": "superseded"}
                        if url.endswith("/revoke") else {})
            if method in methods:
                assert r.status_code not in (404, 405), (method, path, r.status_code, r.text)
            else:
                assert r.status_code == 405, (method, path, r.status_code)
                allowed = {m.lower() for m in r.headers["Allow"].replace(" ", "").split(",")}
                assert allowed - {"head"} == methods


def test_idempotency_key(server, tmp_path):
    """A POST with an Idempotency-Key runs once per API key and key: a retry gets the first
    answer again (one certificate, not two), another request with the key is refused, a
    refusal leaves the key usable, and two racing retries make one certificate."""
    import threading
    srv = server
    api = Api(srv, org_key(srv.inst, "IDEM", domains=("idem.example",)))
    other = Api(srv, org_key(srv.inst, "IDEM", domains=("idem.example",)))
    csr, _ = make_csr(tmp_path, "/CN=a.idem.example", san="DNS:a.idem.example")
    body = {"profile": "server", "csr": open(csr).read()}

    def certs():
        return int(srv.inst.sql("SELECT COUNT(*) FROM certificates")[0][0])

    n0 = certs()
    h = {"Idempotency-Key": '"order-4711"'}
    r1 = api.post("/certificates", body, headers=h)
    assert r1.status_code == 201, r1.text
    assert "Idempotent-Replayed" not in r1.headers
    r2 = api.post("/certificates", body, headers=h)
    assert r2.status_code == 201 and r2.headers["Idempotent-Replayed"] == "true", r2.text
    assert r2.json()["serial"] == r1.json()["serial"] and r2.headers["Location"] == \
        r1.headers["Location"]
    assert certs() == n0 + 1
    # the same key with another request: refused, nothing issued
    csr2, _ = make_csr(tmp_path, "/CN=b.idem.example", san="DNS:b.idem.example")
    body2 = {"profile": "server", "csr": open(csr2).read()}
    problem(api.post("/certificates", body2, headers=h), 422, "idempotency-key-reused")
    assert certs() == n0 + 1
    # another API key has keys of its own
    r3 = other.post("/certificates", body, headers=h)
    assert r3.status_code == 201 and "Idempotent-Replayed" not in r3.headers
    assert r3.json()["serial"] != r1.json()["serial"]
    # a malformed key
    problem(api.post("/certificates", body, headers={"Idempotency-Key": "x" * 256}), 400,
            "invalid-request")
    # a refusal keeps nothing: the same key then runs the corrected request
    h2 = {"Idempotency-Key": "order-4712"}
    problem(api.post("/certificates", {"profile": "server", "csr": "junk"}, headers=h2), 422,
            "bad-csr")
    problem(api.post("/certificates", {"profile": "server", "csr": "junk"}, headers=h2), 422,
            "bad-csr")
    n1 = certs()
    # revocation: the retry gets the 200 again, not "already revoked"
    serial = r1.json()["serial"]
    h3 = {"Idempotency-Key": "revoke-1"}
    rv = api.post(f"/certificates/{serial}/revoke", {"reason": "superseded"}, headers=h3)
    assert rv.status_code == 200, rv.text
    rv2 = api.post(f"/certificates/{serial}/revoke", {"reason": "superseded"}, headers=h3)
    assert rv2.status_code == 200 and rv2.headers["Idempotent-Replayed"] == "true"
    problem(api.post(f"/certificates/{serial}/revoke", {"reason": "superseded"}), 409,
            "already-revoked")
    # racing retries: one certificate
    csr3, _ = make_csr(tmp_path, "/CN=c.idem.example", san="DNS:c.idem.example")
    body3 = {"profile": "server", "csr": open(csr3).read()}
    h4 = {"Idempotency-Key": "race-1"}
    out = []

    def go():
        out.append(api.post("/certificates", body3, headers=h4))

    ts = [threading.Thread(target=go) for _ in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    codes = sorted(r.status_code for r in out)
    assert set(codes) <= {201, 409}, [(r.status_code, r.text) for r in out]
    assert 201 in codes
    serials = {r.json()["serial"] for r in out if r.status_code == 201}
    assert len(serials) == 1, serials
    for r in out:
        if r.status_code == 409:
            problem(r, 409, "idempotency-key-in-use")
            assert r.headers["Retry-After"] == "1"
    assert certs() == n1 + 1
