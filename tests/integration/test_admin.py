"""Revocation, organizations, tickets, CLI conventions and the audit chain."""
import re

import pytest

from conftest import make_csr, openssl


def issue(ca, tmp_path, cn="r.example.jp"):
    csr, _ = make_csr(tmp_path, subj=f"/CN={cn}", san=f"DNS:{cn}")
    out = str(tmp_path / f"{cn}.pem")
    ca.ok("issue", "--profile", "server", "--csr", csr, "--out", out)
    serial = openssl("x509", "-in", out, "-noout", "-serial").stdout.decode().strip()[7:]
    return serial, out


def test_revoke(ca, tmp_path):
    serial, _ = issue(ca, tmp_path)
    other, _ = issue(ca, tmp_path, "s.example.jp")
    ca.ok("revoke", serial, "--reason", "keyCompromise")
    shown = ca.ok("cert", "show", serial.lower())
    assert "status:      revoked" in shown and "keyCompromise" in shown
    revoked = ca.ok("cert", "list", "--status", "revoked")
    assert serial in revoked and other not in revoked
    assert other in ca.ok("cert", "list", "--status", "valid")
    p = ca.run("revoke", serial, "--reason", "superseded")
    assert p.returncode == 1 and b"already revoked" in p.stderr
    p = ca.run("revoke", "00DEADBEEF", "--reason", "superseded")
    assert p.returncode == 1 and b"not found" in p.stderr
    p = ca.run("revoke", other, "--reason", "nonsense")
    assert p.returncode == 2
    p = ca.run("revoke", other, "--reason", "certificateHold")
    assert p.returncode == 1
    assert other in ca.ok("cert", "list", "--status", "valid")


def test_org_and_tickets(ca):
    ca.ok("org", "add", "ACME", "--name", "株式会社アクメ", "--domain", "acme.example.jp",
          "--domain", "acme.example.com")
    ca.ok("org", "add", "UNIV", "--name", "Example University")
    lines = ca.ok("org", "list").splitlines()
    acme = [line.split("\t") for line in lines if line.startswith("ACME\t")]
    assert len(acme) == 1 and acme[0][1] == "株式会社アクメ"
    assert sorted(acme[0][2].split(",")) == ["acme.example.com", "acme.example.jp"]
    assert any(line.startswith("UNIV\t") for line in lines)
    p = ca.run("org", "add", "ACME", "--name", "again")
    assert p.returncode == 1 and b"exists" in p.stderr
    p = ca.run("org", "add", "bad code!", "--name", "x")
    assert p.returncode == 1
    p = ca.run("org", "add", "BADDOM", "--name", "x", "--domain", "not..valid")
    assert p.returncode == 1
    nums = ca.ok("ticket", "create", "--org", "ACME", "--profile", "client",
                 "--count", "3").split()
    assert len(nums) == 3 and len(set(nums)) == 3
    assert all(re.fullmatch(r"\d{4}-\d{4}-\d{4}-\d{4}", n) for n in nums)
    listed = ca.ok("ticket", "list", "--org", "ACME")
    for n in nums:
        assert f"{n}\tclient\tunused" in listed
    assert ca.ok("ticket", "list", "--org", "UNIV") == ""
    p = ca.run("ticket", "create", "--org", "NOPE", "--profile", "client")
    assert p.returncode == 1
    p = ca.run("ticket", "create", "--org", "ACME", "--profile", "nosuch")
    assert p.returncode == 1
    audit = ca.ok("audit", "list")
    assert "org.add\tACME" in audit and "ticket.create\tACME" in audit


def test_cli_conventions(ca_sqlite, tmp_path):
    from conftest import SHOMEI
    import subprocess
    p = subprocess.run([SHOMEI], capture_output=True)
    assert p.returncode == 2 and b"usage" in p.stderr
    p = subprocess.run([SHOMEI, "frobnicate"], capture_output=True)
    assert p.returncode == 2 and b"unknown command" in p.stderr
    for cmd in (["init"], ["issue"], ["revoke"], ["cert"], ["org"], ["ticket"], ["audit"],
                ["crl"], ["serve"]):
        p = ca_sqlite.run(*cmd, "--help")
        assert p.returncode == 0 and b"usage: shomei " + cmd[0].encode() in p.stdout, cmd
    p = ca_sqlite.run("issue", "--profile", "server")
    assert p.returncode == 2
    p = ca_sqlite.run("issue", "--bogus")
    assert p.returncode == 2
    p = subprocess.run([SHOMEI, "-d", str(tmp_path / "empty"), "cert", "list"],
                       capture_output=True)
    assert p.returncode == 1 and b"shomei init" in p.stderr
    # SHOMEI_DATA is honoured
    import os
    env = dict(os.environ, SHOMEI_DATA=ca_sqlite.datadir)
    p = subprocess.run([SHOMEI, "org", "list"], capture_output=True, env=env)
    assert p.returncode == 0


def audit_ids(ca):
    return [int(r[0]) for r in ca.sql("SELECT seq FROM audit ORDER BY seq")]


@pytest.fixture
def busy_ca(ca, tmp_path):
    ca.ok("org", "add", "ACME", "--name", "Acme")
    for i in range(3):
        issue(ca, tmp_path, f"a{i}.example.jp")
    assert "audit chain intact" in ca.ok("audit", "verify")
    assert len(audit_ids(ca)) >= 6
    return ca


def test_audit_detects_modification(busy_ca):
    busy_ca.sql("UPDATE audit SET detail = 'forged' WHERE seq = 3")
    p = busy_ca.run("audit", "verify")
    assert p.returncode == 1 and b"entry 3" in p.stderr and b"modified" in p.stderr


def test_audit_detects_removal(busy_ca):
    busy_ca.sql("DELETE FROM audit WHERE seq = 4")
    p = busy_ca.run("audit", "verify")
    assert p.returncode == 1 and b"entry 4" in p.stderr


def test_audit_detects_removal_at_end(busy_ca):
    last = audit_ids(busy_ca)[-1]
    busy_ca.sql(f"DELETE FROM audit WHERE seq = {last}")
    p = busy_ca.run("audit", "verify")
    assert p.returncode == 1 and b"removed" in p.stderr


def test_audit_detects_reordering(busy_ca):
    # swap the contents of entries 3 and 4, keeping the seq numbers in place
    busy_ca.sql("UPDATE audit SET seq = -3 WHERE seq = 3")
    busy_ca.sql("UPDATE audit SET seq = 3 WHERE seq = 4")
    busy_ca.sql("UPDATE audit SET seq = 4 WHERE seq = -3")
    p = busy_ca.run("audit", "verify")
    assert p.returncode == 1 and b"entry 3" in p.stderr and b"reordered" in p.stderr
