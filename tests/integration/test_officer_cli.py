"""`shomei officer`: add (the access PIN printed once, the enrolment mail queued once with the
certificate URL and without the PIN), list, disable/enable, perms, reenrol, renew-due, and the
exit status and message of bad input."""
import email
import email.policy
import os
import re

from conftest import SHOMEI  # noqa: F401  (the binary under test)

SUBJECT = "登録担当者用証明書発行受付通知 / Officer certificate"


def mail_status(inst):
    out = inst.ok("mail", "status").strip()
    return dict(kv.split("=") for kv in out.split())


def delivered(inst):
    """Flushes the queue into the maildir outbox and returns the messages, oldest first."""
    inst.ok("mail", "flush")
    new = inst.path("outbox", "new")
    if not os.path.isdir(new):
        return []
    msgs = []
    for name in sorted(os.listdir(new), key=lambda n: os.stat(os.path.join(new, n)).st_mtime):
        with open(os.path.join(new, name), "rb") as f:
            msgs.append(email.message_from_bytes(f.read(), policy=email.policy.default))
    return msgs


def blob(v):
    """A BLOB/BYTEA column as bytes (PostgreSQL's text form is "\\x<hex>")."""
    if isinstance(v, str):
        assert v.startswith("\\x"), v
        return bytes.fromhex(v[2:])
    return bytes(v)


def add(inst, *args):
    p = inst.run("officer", "add", *args)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_officer_add_list_disable(ca):
    inst = ca
    inst.ok("org", "add", "EX1", "--name", "Example One", "--domain", "example.jp")
    before = mail_status(inst)
    rc, out, err = add(inst, "--org", "EX1", "--name", "Taro Yamada", "--email",
                       "taro@example.jp", "--perm", "server,client")
    assert rc == 0, (out, err)
    m = re.search(r"^officer (\d+)$", out, re.M)
    assert m, out
    oid = m.group(1)
    assert re.search(r"^enrolment URL mailed to taro@example\.jp, valid until "
                     r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", out, re.M), out
    m = re.search(r"^access PIN: ([A-Z2-9]{10}) \(hand it over out of band; it is not shown "
                  r"again\)$", out, re.M)
    assert m, out
    pin = m.group(1)
    # one mail queued, with the URL and without the PIN
    after = mail_status(inst)
    assert int(after["queued"]) == int(before["queued"]) + 1
    msgs = delivered(inst)
    assert len(msgs) == 1
    msg = msgs[0]
    assert msg["Subject"] == SUBJECT
    assert msg["To"] == "taro@example.jp"
    body = msg.get_content()
    assert re.search(r"https://localhost:8443/officer/enrol/[A-Za-z0-9_-]{43}\b", body), body
    assert pin not in body
    assert "アクセス PIN" in body and "access PIN" in body
    # nothing in the store holds the PIN in clear
    rows = inst.sql("SELECT pin_hash, token_hash, state, kind FROM officer_enrolments")
    assert len(rows) == 1 and rows[0][2:] == ["open", "enrol"]
    assert pin.encode() not in blob(rows[0][0]) and len(blob(rows[0][0])) == 32

    # list, perms, disable, enable
    out = inst.ok("officer", "list")
    fields = out.strip().split("\t")
    assert fields[:5] == [oid, "officer", "EX1", "active", "server,client"], out
    assert fields[6:] == ["taro@example.jp", "Taro Yamada"], out
    inst.ok("officer", "perms", oid, "stats,acme")
    inst.ok("officer", "disable", oid)
    fields = inst.ok("officer", "list", "--org", "EX1").strip().split("\t")
    assert fields[3:5] == ["disabled", "acme,stats"]
    inst.ok("officer", "enable", oid)
    assert inst.ok("officer", "list").strip().split("\t")[3] == "active"

    # an operator (no organization); the list of EX1 does not show it
    rc, out, err = add(inst, "--name", "Hanako Suzuki", "--email", "hanako@example.jp",
                       "--role", "operator")
    assert rc == 0, err
    assert len(inst.ok("officer", "list").strip().split("\n")) == 2
    assert len(inst.ok("officer", "list", "--org", "EX1").strip().split("\n")) == 1

    # a lost certificate: a new enrolment and PIN, one more mail
    out = inst.ok("officer", "reenrol", oid)
    assert re.search(r"^access PIN: [A-Z2-9]{10} ", out, re.M), out
    assert len(delivered(inst)) == 3
    rows = inst.sql("SELECT count(*) FROM officer_enrolments WHERE state = 'open'")
    assert int(rows[0][0]) == 2
    out = inst.ok("officer", "renew-due")
    assert out == "renewals opened: 0\ncertificates superseded: 0\n"
    assert "audit chain intact" in inst.ok("audit", "verify")


def test_officer_bad_input(ca_sqlite):
    inst = ca_sqlite
    inst.ok("org", "add", "EX1", "--name", "Example One", "--domain", "example.jp")
    cases = [
        (["--org", "NOPE", "--name", "Taro Yamada", "--email", "t@example.jp"], 1,
         "organization NOPE not found"),
        (["--org", "EX1", "--name", "Taro Yamada", "--email", "not-an-address"], 1,
         "e-mail: not a valid address"),
        (["--org", "EX1", "--name", "www.example.jp", "--email", "t@example.jp"], 1,
         "name:"),
        (["--org", "EX1", "--name", "Taro Yamada", "--email", "t@example.jp", "--perm",
          "server,root"], 2, "--perm"),
        (["--org", "EX1", "--name", "Taro Yamada", "--email", "t@example.jp", "--role",
          "admin"], 2, "--role"),
        (["--name", "Taro Yamada", "--email", "t@example.jp"], 1,
         "an officer needs its organization"),
        (["--org", "EX1", "--name", "Taro Yamada", "--email", "t@example.jp", "--role",
          "auditor"], 1, "belongs to no organization"),
        (["--org", "EX1", "--email", "t@example.jp"], 2, "usage:"),
    ]
    for args, status, msg in cases:
        rc, out, err = add(inst, *args)
        assert rc == status, (args, rc, out, err)
        assert msg in err, (args, err)
        assert "access PIN" not in out
    assert mail_status(inst)["queued"] == "0"
    assert inst.ok("officer", "list") == ""
    for args, status in [(["disable", "7"], 1), (["disable", "x"], 2), (["perms", "1"], 2),
                         (["perms", "1", "bogus"], 2), (["frobnicate"], 2), ([], 2)]:
        p = inst.run("officer", *args)
        assert p.returncode == status, (args, p.returncode, p.stderr)
        assert p.stderr, args
    p = inst.run("officer", "--help")
    assert p.returncode == 0 and p.stdout.decode().startswith("usage: shomei officer add")
