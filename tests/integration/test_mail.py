"""Mail: the queue drained into the maildir outbox and through SMTP to a real local sink
(aiosmtpd), with the SMTP server down and back up.  The queue is driven by the test driver
mode of the mail unit test binary (BUILD/tests/test_mail enqueue|flush|status DATADIR)."""
import email
import email.policy
import email.utils
import os
import subprocess

import pytest
from aiosmtpd.controller import Controller

from conftest import SHOMEI, free_port

DRIVER = os.path.join(os.path.dirname(SHOMEI), "tests", "test_mail")

SUBJECT = "【shomei】証明書発行申請のご案内：以下のリンクから三日以内に発行申請を行ってください"
BODY = "山田 太郎 様\n\n以下のリンクから発行申請を行ってください。\nhttps://localhost:8443/i/abc=def\n"
TO = "taro.yamada@example.co.jp"
FROM = "ca@example.jp"


def drive(inst, *args):
    p = subprocess.run([DRIVER, args[0], inst.datadir, *args[1:]], capture_output=True,
                       timeout=120)
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p.stdout.decode().strip()


def drive_err(inst, *args):
    """As drive(), and the driver's log (stderr) too."""
    p = subprocess.run([DRIVER, args[0], inst.datadir, *args[1:]], capture_output=True,
                       timeout=120)
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p.stdout.decode().strip(), p.stderr.decode()


def assert_sealed(inst):
    """The queued rows, read straight from the SQLite file or the PostgreSQL table, hold
    neither the one-time link nor the headers: only the seal."""
    rows = inst.sql("SELECT message FROM mail_queue WHERE status = 'queued'")
    assert rows
    for (msg,) in rows:
        assert msg.startswith("shomei-seal1:"), msg[:80]
        for clear in ("localhost:8443", "abc=def", "abc=3Ddef", TO, "Subject", "MIME"):
            assert clear not in msg
        assert len(msg) > 300


def stats(line):
    return dict(kv.split("=") for kv in line.split())


class Sink:
    """Collects what the SMTP server received."""

    def __init__(self):
        self.got = []

    async def handle_DATA(self, server, session, envelope):
        self.got.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def start_sink(port, sink):
    c = Controller(sink, hostname="127.0.0.1", port=port)
    c.start()
    return c


def configure(inst, extra):
    with open(inst.path("shomei.conf"), "a") as f:
        f.write(f"\nmail.from = {FROM}\nmail.from_name = ショウメイ認証局\n" + extra + "\n")


def check_message(raw):
    """The raw message is ASCII with lines <= 78; Python's email package decodes it."""
    raw.decode("ascii")
    for line in raw.split(b"\n"):
        assert len(line.rstrip(b"\r")) <= 78, line
    m = email.message_from_bytes(raw, policy=email.policy.default)
    assert m["Subject"] == SUBJECT
    assert m["To"] == TO
    assert m["From"].addresses[0].addr_spec == FROM
    assert m["From"].addresses[0].display_name == "ショウメイ認証局"
    assert m["MIME-Version"] == "1.0"
    assert m.get_content_type() == "text/plain"
    assert m.get_content_charset() == "utf-8"
    assert m["Message-ID"].endswith("@example.jp>")
    assert email.utils.parsedate_to_datetime(m["Date"]) is not None
    assert m.get_content().replace("\r\n", "\n") == BODY
    return m


def test_maildir_outbox(ca_sqlite):
    inst = ca_sqlite
    configure(inst, "")
    drive(inst, "enqueue", TO, SUBJECT, BODY)
    assert_sealed(inst)
    key = inst.path("keys", "mail.key")
    assert os.stat(key).st_mode & 0o777 == 0o600 and os.path.getsize(key) == 32
    assert stats(drive(inst, "flush")) == {"sent": "1", "retried": "0", "failed": "0"}
    new = inst.path("outbox", "new")
    files = os.listdir(new)
    assert len(files) == 1
    assert os.listdir(inst.path("outbox", "tmp")) == []
    with open(os.path.join(new, files[0]), "rb") as f:
        raw = f.read()
    assert b"\r\n" not in raw  # maildir files use LF
    check_message(raw)
    # the one-time link does not stay in the store once delivered
    assert inst.sql("SELECT status, message FROM mail_queue") == [["sent", ""]]
    assert stats(drive(inst, "flush"))["sent"] == "0"
    assert len(os.listdir(new)) == 1


@pytest.mark.parametrize("cte", ["base64", "quoted-printable"])
def test_smtp_delivery(ca, cte):
    port = free_port()
    sink = Sink()
    c = start_sink(port, sink)
    try:
        configure(ca, f"mail.delivery = smtp\nmail.smtp_url = smtp://127.0.0.1:{port}\n"
                      f"mail.smtp_starttls = no\nmail.transfer_encoding = {cte}")
        drive(ca, "enqueue", TO, SUBJECT, BODY)
        assert_sealed(ca)
        # `shomei mail flush` (the CLI, as root) opens what the driver sealed
        assert stats(ca.ok("mail", "flush")) == {"sent": "1", "retried": "0", "failed": "0"}
    finally:
        c.stop()
    assert len(sink.got) == 1
    mail_from, rcpts, raw = sink.got[0]
    assert mail_from == FROM
    assert rcpts == [TO]
    m = check_message(raw)
    assert m["Content-Transfer-Encoding"] == cte
    assert not os.path.exists(ca.path("outbox", "new"))


def test_smtp_down_then_up(ca):
    port = free_port()
    configure(ca, f"mail.delivery = smtp\nmail.smtp_url = smtp://127.0.0.1:{port}\n"
                  "mail.smtp_timeout = 5")
    drive(ca, "enqueue", TO, SUBJECT, BODY)
    # nobody listens: the message stays queued with a retry scheduled
    assert stats(drive(ca, "flush")) == {"sent": "0", "retried": "1", "failed": "0"}
    assert stats(drive(ca, "status")) == {"queued": "1", "sent": "0", "failed": "0"}
    rows = ca.sql("SELECT attempts, next_attempt - created, last_error FROM mail_queue")
    assert int(rows[0][0]) == 1
    assert 30 <= int(rows[0][1]) <= 32
    assert "smtp" in rows[0][2]

    sink = Sink()
    c = start_sink(port, sink)
    try:
        # not due yet: nothing is sent before the backoff has passed
        assert stats(drive(ca, "flush"))["sent"] == "0"
        assert sink.got == []
        # 31 s later (test clock): delivered, exactly once
        assert stats(drive(ca, "flush", "31")) == {"sent": "1", "retried": "0", "failed": "0"}
        assert stats(drive(ca, "flush", "3600")) == {"sent": "0", "retried": "0", "failed": "0"}
    finally:
        c.stop()
    assert len(sink.got) == 1
    check_message(sink.got[0][2])
    assert stats(drive(ca, "status")) == {"queued": "0", "sent": "1", "failed": "0"}


def test_smtp_sealed_tampered_and_legacy(ca):
    """A sealed body altered, moved to another row or redirected to another recipient is not
    sent: marked failed, with a log line naming the mail.  Nor is a row in clear (written
    into the store directly, or queued before bodies were sealed): whoever can write the
    store must not get mail sent from the CA's address."""
    port = free_port()
    sink = Sink()
    c = start_sink(port, sink)
    try:
        configure(ca, f"mail.delivery = smtp\nmail.smtp_url = smtp://127.0.0.1:{port}\n"
                      "mail.transfer_encoding = quoted-printable")
        ids = [drive(ca, "enqueue", TO, SUBJECT, BODY) for _ in range(4)]
        assert_sealed(ca)
        msg = {i: ca.sql(f"SELECT message FROM mail_queue WHERE id = {i}")[0][0] for i in ids}
        a, b, c2, d = ids
        flipped = msg[a][:60] + ("B" if msg[a][60] == "A" else "A") + msg[a][61:]
        ca.sql(f"UPDATE mail_queue SET message = '{flipped}' WHERE id = {a}")
        ca.sql(f"UPDATE mail_queue SET message = '{msg[c2]}' WHERE id = {b}")
        ca.sql(f"UPDATE mail_queue SET message = '{msg[b]}' WHERE id = {c2}")
        ca.sql(f"UPDATE mail_queue SET recipient = 'evil@example.jp' WHERE id = {d}")
        # an older store's row, in clear
        crlf = "char(13) || char(10)" if ca.backend == "sqlite" else "chr(13) || chr(10)"
        plain = f" || {crlf} || ".join(["'From: ca@example.jp'", "'To: old@example.jp'",
                                         "'Subject: legacy'", "''",
                                         "'https://localhost:8443/i/legacy'", "''"])
        ca.sql("INSERT INTO mail_queue (sender, recipient, message, status, attempts, "
               f"next_attempt, created) VALUES ('{FROM}', 'old@example.jp', {plain}, "
               "'queued', 0, 0, 0)")
        out, log = drive_err(ca, "flush")
        assert stats(out) == {"sent": "0", "retried": "0", "failed": "5"}
    finally:
        c.stop()
    assert sink.got == []
    assert "body not sealed" in log, log
    for i in ids:
        assert f"mail: {i} " in log and f"{i}: sealed body does not open" in log, log
    rows = ca.sql("SELECT status, message, last_error FROM mail_queue WHERE id IN "
                  f"({a}, {b}, {c2}, {d}) ORDER BY id")
    assert [r[:2] for r in rows] == [["failed", ""]] * 4
    assert all("sealed body does not open" in r[2] for r in rows)
    # never tried again
    assert stats(drive(ca, "flush", "7200")) == {"sent": "0", "retried": "0", "failed": "0"}


class KillingSink(Sink):
    """A sink that, holding its nth message (before answering it), kills the sender process
    and refuses the message: the sender dies not knowing that message's fate, after the
    earlier ones were accepted (250)."""

    def __init__(self, nth):
        super().__init__()
        self.nth = nth
        self.seen = 0
        self.victim = None

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.seen == self.nth and self.victim is not None:
            os.kill(self.victim.pid, 9)
            self.victim.wait(10)
            return "451 4.3.0 try again later"
        return await super().handle_DATA(server, session, envelope)


def test_smtp_crash_mid_run(ca):
    """kill -9 of the sender while the SMTP server holds the third mail of a run: the two it
    accepted before are never sent again (each outcome is recorded before the next mail is
    claimed), the two after it are sent by the next run at once, the third once its claim
    has lapsed.  Each of the five reaches the server once."""
    port = free_port()
    sink = KillingSink(3)
    c = start_sink(port, sink)
    try:
        configure(ca, f"mail.delivery = smtp\nmail.smtp_url = smtp://127.0.0.1:{port}\n"
                      "mail.smtp_timeout = 5")
        for _ in range(5):
            drive(ca, "enqueue", TO, SUBJECT, BODY)
        sink.victim = subprocess.Popen([DRIVER, "flush", ca.datadir], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
        sink.victim.wait(60)
        assert sink.victim.returncode == -9
        assert len(sink.got) == 2
        assert stats(drive(ca, "status")) == {"queued": "3", "sent": "2", "failed": "0"}
        # the fourth and fifth were never claimed: sent at once; the third is still claimed
        # by the dead sender, and waits until that claim lapses (smtp_timeout + 60 s)
        assert stats(drive(ca, "flush")) == {"sent": "2", "retried": "0", "failed": "0"}
        assert len(sink.got) == 4
        assert stats(drive(ca, "flush", "60")) == {"sent": "0", "retried": "0",
                                                  "failed": "0"}
        assert stats(drive(ca, "flush", "70")) == {"sent": "1", "retried": "0",
                                                  "failed": "0"}
    finally:
        c.stop()
    ids = [email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"]
           for _, _, raw in sink.got]
    assert len(ids) == 5 and len(set(ids)) == 5, ids
    assert stats(drive(ca, "status")) == {"queued": "0", "sent": "5", "failed": "0"}
