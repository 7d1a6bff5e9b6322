"""Crash consistency (issue 16 part 5): kill -9 of the whole `serve` — supervisor, signer and
web process at once — during a burst of REST and portal issuances, then a restart on the same
data directory, three times per backend: early in the burst, later with portal applications
and their mails under way, and in the middle of a mail run (the SMTP sink kills the server
while it holds a mail, before answering it).

Checked after the last restart:
- every certificate whose 201 or certificate page was received is in the store, with its
  `cert.issue` audit entry (and `portal.issue` for the portal's); serials are unique; `shomei
  audit verify` passes;
- no application is stuck half-way: none is left in `submitted` or `approved` (states that
  only the issuance's own transaction passes through: nothing moves an application out of
  them), every `issued` one has its certificate, and every application the crash
  interrupted goes on to its end on the restarted server (its mailed link, its form, its
  Submit, its download);
- every queued mail is delivered after the restart, and exactly once: the SMTP sink holds
  one message per mail row, none twice (Message-IDs are made when the mail is queued)."""
import re
import threading
import time

import pytest
import requests
from aiosmtpd.controller import Controller

from conftest import free_port, kill_serve, new_instance, start_server, stop_server
from test_portal import (ANSWER, confirm_fields, confirm_form, hidden, issue_fields,
                         session, strong)
from test_scaleout import Sink, api_issue, api_session, make_csrs

LINK = r"/regist/verify\?onetimetoken=([A-Za-z0-9_-]{43})"


class CrashSink(Sink):
    """The SMTP sink; armed with a server, it kills that whole server while holding the next
    mail (before answering it) and refuses that mail: the kill lands in the middle of a mail
    run, after the mails the server accepted before, with one mail's fate unknown to the
    sender."""

    def __init__(self):
        super().__init__()
        self.armed = None
        self.fired = threading.Event()

    async def handle_DATA(self, server, sess, envelope):
        srv, self.armed = self.armed, None
        if srv is not None:
            kill_serve(srv)
            self.fired.set()
            return "451 4.3.0 try again later"
        return await super().handle_DATA(server, sess, envelope)


class Flow:
    """One portal application: how far it came before the crash (the pages received)."""

    def __init__(self, n, ticket):
        self.n = n
        self.ticket = ticket
        self.addr = f"app{n}@example.co.jp"
        self.stage = "new"  # registered, verified, issued, downloaded
        self.serial = None
        self.download = None
        self.form = None  # the issuance form page (its continuation), once verified
        self.s = None


def register(srv, f):
    f.s = session(srv)
    r = f.s.get(srv.https + "/regist/step1")
    assert r.status_code == 200, r.text
    form = {"applicant_type": "self", "org_code": "ORG1", "ticket": f.ticket,
            "email": f.addr, "email_confirm": f.addr, "captcha": ANSWER,
            "captcha_id": hidden(r.text, "captcha_id"), "csrf": hidden(r.text, "csrf")}
    r = f.s.post(srv.https + "/regist/step1", data=form)
    assert r.status_code == 200, r.text
    r = f.s.post(srv.https + "/regist/confirm",
                 data=dict(confirm_form(r.text), consent="yes", action="register"))
    assert r.status_code == 200 and f.addr in r.text, r.text
    f.stage = "registered"


def verify(srv, f, sink, timeout, stop=None):
    token = sink.wait_to(f.addr, LINK, timeout, stop)[0]
    page = f.s.get(srv.https + "/regist/verify?onetimetoken=" + token).text
    r = f.s.post(srv.https + "/regist/verify", allow_redirects=False,
                 data={"onetimetoken": token, "csrf": hidden(page, "csrf")})
    assert r.status_code == 303, r.text
    f.form = r.headers["Location"]
    f.stage = "verified"


def submit(srv, f):
    r = f.s.get(srv.https + f.form)
    assert r.status_code == 200 and 'name="name_kanji"' in r.text, r.text
    r = f.s.post(srv.https + "/issue/form", data=issue_fields(r.text, subject_email=f.addr))
    assert r.status_code == 200, r.text
    r = f.s.post(srv.https + "/issue/confirm", data=dict(confirm_fields(r.text),
                                                         action="submit"))
    assert r.status_code == 200 and 'id="pin"' in r.text, r.text
    f.serial = strong(r.text, "serial")
    f.download = re.search(r'href="(/issue/download\?d=[A-Za-z0-9_-]{43})"', r.text).group(1)
    f.stage = "issued"


def download(srv, f):
    r = f.s.get(srv.https + f.download)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-pkcs12", \
        (r.status_code, r.text[:300])
    f.stage = "downloaded"


def app_state(inst, f):
    rows = inst.sql(f"SELECT state FROM applications WHERE email = '{f.addr}'")
    return rows[0][0] if rows else None


def resume(inst, srv, f, sink):
    """After the restart: the application from where its pages came to its end.  A request
    the kill cut after its commit left its page unseen: a registration then goes on from its
    mail, the link's button from the link again (the same browser session is answered the
    same redirect), a Submit found issued is done (its page, the PIN, is shown only once), so
    is a download found taken (single use)."""
    if f.stage == "new" and app_state(inst, f) is not None:
        f.stage = "registered"
    if f.stage == "verified" and app_state(inst, f) == "issued":
        f.stage = "unseen"
        return
    if f.stage == "issued" and f.s.head(srv.https + f.download).status_code == 410:
        f.stage = "taken"  # the download's answer cut after its (single-use) take
        return
    advance(srv, f, sink)


def advance(srv, f, sink, timeout=20, stop=None):
    """Takes the application from where it is to its end."""
    if f.stage == "new":
        register(srv, f)
    if f.stage == "registered":
        verify(srv, f, sink, timeout, stop)
    if f.stage == "verified":
        submit(srv, f)
    if f.stage == "issued":
        download(srv, f)


class Burst:
    """REST issuers and portal applicants against one server until stop."""

    def __init__(self, srv, key, csrs, tickets, sink, flows):
        self.srv = srv
        self.key = key
        self.csrs = csrs
        self.tickets = tickets
        self.sink = sink
        self.flows = flows
        self.acked = []
        self.refused = 0
        self.cut = []
        self.stop = threading.Event()
        self.mu = threading.Lock()
        self.threads = []

    def rest(self):
        s = api_session(self.srv, self.key)
        while not self.stop.is_set():
            with self.mu:
                if not self.csrs:
                    return
                csr = self.csrs.pop()
            try:
                r = api_issue(s, self.srv, csr)
            except requests.RequestException:
                continue
            with self.mu:
                if r.status_code == 201:
                    # the status line is the acknowledgement (the server answers once the
                    # certificate is durable); the kill may cut the body after it, which
                    # urllib3 1.26 does not report: counted
                    self.acked.append(r.headers["Location"].rsplit("/", 1)[1])
                    if '"serial"' not in r.text:
                        self.cut.append(r.headers["Location"])
                else:
                    self.refused += 1

    def portal(self):
        while not self.stop.is_set():
            with self.mu:
                if not self.tickets:
                    return
                f = Flow(len(self.flows), self.tickets.pop())
                self.flows.append(f)
            try:
                advance(self.srv, f, self.sink, timeout=10, stop=self.stop)
            except (requests.RequestException, AssertionError):
                return  # the crash: the flow stays where it was

    def start(self, rest=3, portal=2):
        self.threads = [threading.Thread(target=self.rest) for _ in range(rest)] + \
            [threading.Thread(target=self.portal) for _ in range(portal)]
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)
        assert not any(t.is_alive() for t in self.threads)


def queued(inst):
    return int(inst.sql("SELECT COUNT(*) FROM mail_queue WHERE status = 'queued'")[0][0])


@pytest.mark.parametrize("backend", ["sqlite", "pg"])
def test_kill9_whole_serve(tmp_path, backend):
    inst = new_instance(tmp_path, backend)
    inst.ok("org", "add", "ORG1", "--name", "Example One", "--domain", "example.co.jp")
    tickets = inst.ok("ticket", "create", "--org", "ORG1", "--profile", "client",
                      "--count", "24").split()
    p = inst.run("apikey", "create", "--org", "ORG1")
    assert p.returncode == 0, p.stderr
    key = p.stdout.decode().strip()
    port = free_port()
    sink = CrashSink()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    conf = ("test.instance = yes\ntest.captcha_answer = ABCDEF\nmail.from = ca@example.jp\n"
            "portal.step1_rate = 1000\nportal.captcha_rate = 1000\nmail.delivery = smtp\n"
            f"mail.smtp_url = smtp://127.0.0.1:{port}\nmail.smtp_starttls = no\n"
            "mail.smtp_timeout = 5")
    csrs = make_csrs(400, "example.co.jp")
    flows, acked, figures = [], [], []
    srv = None
    try:
        srv = start_server(inst, conf)
        # the kill points: early (a few REST answers in, applications just begun), late
        # (applications issued, their mails being sent), and in the middle of a mail run
        # (the sink kills while holding a mail)
        # two tickets kept for the last burst: its applications make the mail the kill holds
        # (the bursts before may use up every other ticket)
        spare = [tickets.pop(), tickets.pop()]
        for point, rest_n, apps_n in (("early", 5, 0), ("late", 60, 3), ("mail", 5, 0)):
            b = Burst(srv, key, csrs, tickets, sink, flows)
            if point == "mail":
                tickets.extend(spare)
                # armed before the burst: its first mail (a new application's) is the one the
                # kill holds, however fast the machine sends the others
                sink.armed = srv
            b.start()
            end = time.time() + 30
            while time.time() < end and not sink.fired.is_set() and not (
                    len(b.acked) >= rest_n and
                    sum(f.stage in ("issued", "downloaded") for f in flows) >= apps_n):
                time.sleep(0.005)
            if point == "mail":
                assert sink.fired.wait(30), "no mail came"
            else:
                kill_serve(srv)
            b.join()
            acked += b.acked
            figures.append((point, len(b.acked), len(b.cut)))
            # after the last kill the restarted server's clock is 70 s ahead: the claim of the
            # mail the crash left unanswered lapses (mail.smtp_timeout + 60 s)
            srv = start_server(inst, "test.clock_offset = 70" if point == "mail" else "")
        # every interrupted application goes on to its end on the restarted server
        for f in flows:
            resume(inst, srv, f, sink)
        # every mail delivered: none left queued
        end = time.time() + 20
        while time.time() < end and queued(inst) > 0:
            time.sleep(0.1)
        assert queued(inst) == 0, inst.sql("SELECT id, status, attempts, locked_until, "
                                           "last_error FROM mail_queue WHERE status = "
                                           "'queued'")
    finally:
        if srv is not None:
            stop_server(srv)
        ctl.stop()
    # every acknowledged certificate is in the store with its audit entry
    found = {s for s, in inst.sql("SELECT serial FROM certificates")}
    audited = {o for o, in inst.sql("SELECT object FROM audit WHERE action = 'cert.issue'")}
    portal = {o for o, in inst.sql("SELECT object FROM audit WHERE action = 'portal.issue'")}
    page = [f.serial for f in flows if f.serial]
    unseen = sum(f.stage == "unseen" for f in flows)
    taken = sum(f.stage == "taken" for f in flows)
    lost = [s for s in acked + page if s not in found or s not in audited]
    assert not [s for s in page if s not in portal], page
    dup = inst.sql("SELECT serial, COUNT(*) FROM certificates GROUP BY serial "
                   "HAVING COUNT(*) > 1")
    assert dup == []
    assert "audit chain intact" in inst.ok("audit", "verify")
    # the signer's own log (written before each signature leaves the signer) survived the
    # kills whole, and the store holds no certificate the signer did not sign; the ones it
    # signed that the store lacks are those whose write the kill cut (never acknowledged)
    inst.ok("signer-log", "verify")
    p = inst.run("audit", "reconcile")
    out = p.stdout.decode()
    assert "in the store, but not the certificate" not in out, out
    unstored = re.findall(r"signed but not in the store: ([0-9A-Fa-f]+)", out)
    assert p.returncode == (1 if unstored else 0), (p.returncode, out, p.stderr)
    assert not set(unstored) & set(acked + page)
    # no application stuck half-way
    states = inst.sql("SELECT state, COUNT(*) FROM applications GROUP BY state")
    assert [s for s, _ in states if s in ("submitted", "approved")] == [], states
    orphans = inst.sql("SELECT a.id FROM applications a LEFT JOIN certificates c ON "
                       "c.serial = a.cert_serial WHERE a.state = 'issued' AND c.serial IS NULL")
    assert orphans == []
    assert dict((s, int(n)) for s, n in states) == {"issued": len(flows)}, states
    # every mail exactly once
    msgs = sink.messages()
    ids = [m["Message-ID"] for _, m in msgs]
    rows = dict((s, int(n)) for s, n in
                inst.sql("SELECT status, COUNT(*) FROM mail_queue GROUP BY status"))
    twice = len(ids) - len(set(ids))
    print(f"\ncrash[{backend}]: kills {figures} (point, acknowledged in that burst, of them "
          f"with the body cut by the kill); acknowledged {len(acked)} REST + {len(page)} "
          f"portal pages, "
          f"found {len(acked) + len(page) - len(lost)}, lost {len(lost)}; applications "
          f"{len(flows)} all issued ({unseen} whose certificate page and {taken} whose "
          f"download the kill cut); signed but never stored {len(unstored)}; mails: rows {rows}, "
          f"received {len(msgs)}, twice {twice}")
    assert not lost, lost
    assert rows == {"sent": len(set(ids))}, (rows, len(ids))
    assert twice == 0, sorted(ids)
    # two mails per application (the link, the certificate code), to its own address
    for f in flows:
        assert sum(f.addr in r for r, _ in msgs) == 2, f.addr
