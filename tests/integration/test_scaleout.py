"""Two `shomei serve` front ends on one PostgreSQL (issue 16 part 4, docs/scaleout.md).

Two data directories with the same configuration and the same keys (the second a copy of
the first, made before either starts, keys/portal.key, keys/mail.key and keys/console.key
included) serve one database.  Requests go alternately to both: a whole portal application
with each page on the other front end, REST issuance and revocation, OCSP on one front end
right after a revocation on the other, TSA serials, CRLs from both schedules, every mail
once at the SMTP sink, ACME nonces good once across both (keys/acme.key shared).  Then one
front end is killed (SIGKILL to its supervisor, signer and web process) in the middle of a
REST burst: the other goes on serving, every certificate acknowledged by either is in the
store, and an ACME nonce the killed one accepted just before is refused by the other."""
import email
import email.policy
import os
import re
import shutil
import subprocess
import threading
import time

import josepy as jose
import requests
from acme import messages
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtensionOID, NameOID

from conftest import (Instance, free_port, kill_serve, new_instance, start_server,
                      stop_server)
from test_acme import client, nonce, post, problem
from test_acme import session as acme_session
from test_portal import (ANSWER, confirm_fields, confirm_form, hidden, issue_fields,
                         session, strong)

HOLDER = "hanako@example.co.jp"


class Sink:
    """The local SMTP server's record: every message it accepted."""

    def __init__(self):
        self.got = []
        self.mu = threading.Lock()

    async def handle_DATA(self, server, sess, envelope):
        with self.mu:
            self.got.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def messages(self):
        with self.mu:
            return [(r, email.message_from_bytes(c, policy=email.policy.default))
                    for r, c in self.got]

    def wait_to(self, addr, pattern, timeout=20, stop=None):
        """The matches of pattern in the first mail to addr that has one (waiting at most
        timeout seconds, or until the event stop is set)."""
        end = time.time() + timeout
        while time.time() < end and not (stop is not None and stop.is_set()):
            for rcpts, m in self.messages():
                if addr in rcpts:
                    found = re.findall(pattern, m.get_content())
                    if found:
                        return found
            time.sleep(0.05)
        raise AssertionError(f"no mail to {addr} matching {pattern}")


def make_csrs(n, domain):
    """n CSRs (P-256) for hosts of domain, made here (openssl would cost a process each)."""
    out = []
    for i in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        name = f"h{i}-{os.urandom(3).hex()}.{domain}"
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
               .sign(key, hashes.SHA256()))
        out.append(csr.public_bytes(serialization.Encoding.PEM).decode())
    return out


def api_session(srv, key):
    s = requests.Session()
    s.trust_env = False
    s.verify = srv.cafile
    s.headers["Authorization"] = "Bearer " + key
    return s


def api_issue(s, srv, csr):
    return s.post(srv.https + "/api/v1/certificates", json={"profile": "server", "csr": csr},
                  timeout=30)


def ocsp_status(srv, cert, issuer):
    body = (ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
            .build().public_bytes(serialization.Encoding.DER))
    r = requests.post(srv.http + "/ocsp", data=body, timeout=10,
                      headers={"Content-Type": "application/ocsp-request"})
    assert r.status_code == 200, r.text
    return ocsp.load_der_ocsp_response(r.content).certificate_status


def tsa_serial(srv, query, tmp_path, i):
    r = requests.post(srv.http + "/tsa", data=query, timeout=10,
                      headers={"Content-Type": "application/timestamp-query"})
    assert r.status_code == 200, r.text
    path = tmp_path / f"r{i}.tsr"
    path.write_bytes(r.content)
    text = subprocess.run(["openssl", "ts", "-reply", "-in", str(path), "-text"],
                          capture_output=True, text=True, check=True, timeout=30).stdout
    m = re.search(r"Serial number: (0x[0-9A-Fa-f]+)", text)
    assert m, text
    return int(m.group(1), 16)


def crl_get(srv, delta):
    url = srv.http + "/crl/shomei%s.crl" % ("-delta" if delta else "")
    r = requests.get(url, timeout=10)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return x509.load_der_x509_crl(r.content)


def crl_number(crl):
    return crl.extensions.get_extension_for_oid(ExtensionOID.CRL_NUMBER).value.crl_number


def made_crls(srv):
    """The numbers of the CRLs srv's own schedule made (its log)."""
    return re.findall(r"crl schedule: (?:\S+: )?(?:full|delta) CRL number (\d+)",
                      srv.log_text())


def two_front_ends(tmp_path, port):
    """An initialised PostgreSQL instance and its copy (same keys, same configuration)."""
    a = new_instance(tmp_path, "pg")
    a.ok("org", "add", "ORG1", "--name", "Example One", "--domain", "example.co.jp")
    tickets = a.ok("ticket", "create", "--org", "ORG1", "--profile", "client").split()
    p = a.run("apikey", "create", "--org", "ORG1")
    assert p.returncode == 0, p.stderr
    key = p.stdout.decode().strip()
    with open(a.path("shomei.conf"), "a") as f:
        f.write("\ntest.instance = yes\ntest.captcha_answer = ABCDEF\n"
                "mail.from = ca@example.jp\nportal.step1_rate = 1000\n"
                "portal.captcha_rate = 1000\nmail.delivery = smtp\n"
                f"mail.smtp_url = smtp://127.0.0.1:{port}\nmail.smtp_starttls = no\n"
                "test.crl_interval_seconds = 3\ntest.crl_delta_interval_seconds = 1\n"
                # the password's hash on the confirm page itself, not a handle into one
                # front end's memory (docs/scaleout.md: without session affinity)
                "portal.password_hashers = 0\n")
    # the secrets every front end must share, made once here (serve makes them on its first
    # start, and a second front end started on its own directory would make others)
    for name in ("portal.key", "mail.key", "console.key", "acme.key"):
        path = a.path("keys", name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, os.urandom(32))
        os.close(fd)
    b_dir = str(tmp_path / "var2")
    shutil.copytree(a.datadir, b_dir, symlinks=True)
    b = Instance(b_dir, "pg", a.pgdb)
    return a, b, tickets, key


def portal_across(fe, tickets, sink, tmp_path):
    """A whole application, each page on the other front end; returns the serial."""
    s = session(fe[0])
    r = s.get(fe[0].https + "/regist/step1")
    assert r.status_code == 200, r.text
    form = {"applicant_type": "self", "org_code": "ORG1", "ticket": tickets[0],
            "email": HOLDER, "email_confirm": HOLDER, "captcha": ANSWER,
            "captcha_id": hidden(r.text, "captcha_id"), "csrf": hidden(r.text, "csrf")}
    r = s.post(fe[1].https + "/regist/step1", data=form)
    assert r.status_code == 200, r.text
    r = s.post(fe[0].https + "/regist/confirm",
               data=dict(confirm_form(r.text), consent="yes", action="register"))
    assert r.status_code == 200 and HOLDER in r.text, r.text
    token = sink.wait_to(HOLDER, r"/regist/verify\?onetimetoken=([A-Za-z0-9_-]{43})")[0]
    page = s.get(fe[1].https + "/regist/verify?onetimetoken=" + token).text
    r = s.post(fe[0].https + "/regist/verify", allow_redirects=False,
               data={"onetimetoken": token, "csrf": hidden(page, "csrf")})
    assert r.status_code == 303, r.text
    r = s.get(fe[1].https + r.headers["Location"])
    assert r.status_code == 200 and 'name="name_kanji"' in r.text, r.text
    r = s.post(fe[0].https + "/issue/form", data=issue_fields(r.text, subject_email=HOLDER))
    assert r.status_code == 200, r.text
    r = s.post(fe[1].https + "/issue/confirm", data=dict(confirm_fields(r.text),
                                                          action="submit"))
    assert r.status_code == 200 and 'id="pin"' in r.text, r.text
    serial = strong(r.text, "serial")
    m = re.search(r'href="(/issue/download\?d=[A-Za-z0-9_-]{43})"', r.text)
    assert m, r.text
    r = s.get(fe[0].https + m.group(1))
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-pkcs12"
    assert len(r.content) > 500
    # single use on either front end
    assert s.get(fe[1].https + m.group(1)).status_code == 410
    # the code mail (sent by whichever front end's sender claimed it)
    sink.wait_to(HOLDER, re.escape(serial))
    return serial


def acme_ports():
    """(http, https) free and distinct, so that acme.base_url can name the HTTPS port."""
    hp, sp = free_port(), free_port()
    while sp == hp:
        sp = free_port()
    return hp, sp


def acme_across(fa, fb, a):
    """An ACME account made on fa (EAB from the CLI), used on both front ends: a nonce is
    good once across both (the used set is the shared store's).  Returns what the kill -9
    part needs: the account key, its id and a session for each front end."""
    kid, hmac = a.ok("acme", "eab", "create", "--org", "ORG1").split()
    key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    cl, _ = client(fa, key, jose.ES256)
    eab = messages.ExternalAccountBinding.from_data(key.public_key(), kid, hmac, cl.directory)
    regr = cl.new_account(messages.NewRegistration.from_data(
        terms_of_service_agreed=True, external_account_binding=eab))
    acct = regr.uri.rsplit("/", 1)[1]
    sa, sb = acme_session(fa), acme_session(fb)
    url = {fa: fa.https + "/acme/acct/" + acct, fb: fb.https + "/acme/acct/" + acct}
    # a nonce of fa used on fb, then on fa again; one of fb used on fa, then on fb
    for mine, other, sm, so in ((fa, fb, sa, sb), (fb, fa, sb, sa)):
        n = nonce(sm, mine)
        r = post(so, url[other], key, jose.ES256, None, n, kid=url[other])
        assert r.status_code == 200, r.text
        problem(post(sm, url[mine], key, jose.ES256, None, n, kid=url[mine]), 400, "badNonce")
    return key, url, sa, sb


def test_two_front_ends(tmp_path):
    port = free_port()
    sink = Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    a, b, tickets, key = two_front_ends(tmp_path, port)
    fa = fb = None
    try:
        pa, pb = acme_ports(), acme_ports()
        fa = start_server(a, "acme.enabled = yes\nacme.base_url = https://localhost:%d\n"
                          % pa[1], ports=pa)
        fb = start_server(b, "acme.enabled = yes\nacme.base_url = https://localhost:%d\n"
                          % pb[1], ports=pb)
        fe = (fa, fb)
        # --- ACME nonces: good once across both front ends ---
        akey, aurl, asa, asb = acme_across(fa, fb, a)
        # --- a portal application, each page on the other front end ---
        portal_serial = portal_across(fe, tickets, sink, tmp_path)
        # --- REST issuance alternately, revocation on the other one, OCSP on the first ---
        csrs = make_csrs(40, "example.co.jp")
        sess = [api_session(f, key) for f in fe]
        issuer = x509.load_pem_x509_certificate(open(a.path("certs", "issuing.pem"),
                                                     "rb").read())
        issued, revoked = {}, []
        for i, csr in enumerate(csrs[:16]):
            r = api_issue(sess[i % 2], fe[i % 2], csr)
            assert r.status_code == 201, r.text
            doc = r.json()
            issued[doc["serial"]] = x509.load_pem_x509_certificate(doc["certificate"].encode())
        stale = 0
        for i, serial in enumerate(list(issued)[:8]):
            mine, other = fe[i % 2], fe[1 - i % 2]
            cert = issued[serial]
            # the other front end has a "good" answer cached ...
            assert ocsp_status(other, cert, issuer) == ocsp.OCSPCertStatus.GOOD
            r = sess[i % 2].post(mine.https + f"/api/v1/certificates/{serial}/revoke",
                                 json={"reason": "keyCompromise"}, timeout=30)
            assert r.status_code == 200, r.text
            revoked.append(serial)
            # ... and says "revoked" once ocsp.revocation_poll_ms (10 ms) has passed since the
            # revocation made on this one (it reads the store's revocation counter at most
            # that often; asked sooner, it may still send its cached "good": counted)
            st = ocsp_status(other, cert, issuer)
            if st != ocsp.OCSPCertStatus.REVOKED:
                stale += 1
                time.sleep(0.011)
                st = ocsp_status(other, cert, issuer)
            assert st == ocsp.OCSPCertStatus.REVOKED, serial
            assert ocsp_status(mine, cert, issuer) == ocsp.OCSPCertStatus.REVOKED
        # --- TSA serials unique across both ---
        data = tmp_path / "d.txt"
        data.write_text("scale-out")
        q = tmp_path / "q.tsq"
        subprocess.run(["openssl", "ts", "-query", "-data", str(data), "-sha256", "-cert",
                        "-out", str(q)], check=True, capture_output=True, timeout=30)
        query = q.read_bytes()
        tsa = [tsa_serial(fe[i % 2], query, tmp_path, i) for i in range(20)]
        assert len(set(tsa)) == len(tsa), tsa
        # --- CRLs: both schedules, numbers strictly increasing, every revocation listed ---
        made = int(a.sql("SELECT COALESCE(MAX(number), 0) FROM crls")[0][0])
        seen = {0: [], 1: []}
        end = time.time() + 15
        full = delta = None
        while time.time() < end:
            for f in fe:
                for d in (0, 1):
                    c = crl_get(f, d)
                    if c is not None:
                        seen[d].append((f.http, crl_number(c)))
                        if crl_number(c) > made:
                            if d == 0:
                                full = c if full is None or crl_number(c) > crl_number(full) \
                                    else full
                            else:
                                delta = c if delta is None or crl_number(c) > \
                                    crl_number(delta) else delta
            if full is not None and delta is not None and \
                    crl_number(delta) > crl_number(full) and \
                    all(made_crls(f) for f in fe):
                break
            time.sleep(0.2)
        assert full is not None and delta is not None and crl_number(delta) > \
            crl_number(full), seen
        listed = {format(e.serial_number, "X") for e in full} | \
            {format(e.serial_number, "X") for e in delta}
        missing = [s for s in revoked if s.upper().lstrip("0") not in
                   {x.lstrip("0") for x in listed}]
        assert not missing, missing
        # each front end serves numbers that never go down
        for d in (0, 1):
            for f in fe:
                nums = [n for h, n in seen[d] if h == f.http]
                assert nums == sorted(nums), (d, f.http, nums)
        # the store: numbers unique, and a higher number is never older
        rows = [(int(n), int(dl), int(t)) for n, dl, t in
                a.sql("SELECT number, delta, this_update FROM crls WHERE ca = 'shomei' "
                      "ORDER BY number")]
        nums = [r[0] for r in rows]
        assert len(set(nums)) == len(nums), nums
        ups = [r[2] for r in rows]
        assert ups == sorted(ups), rows
        makers = [made_crls(f) for f in fe]
        assert all(makers), makers
        # --- kill -9 of one front end in the middle of a REST burst ---
        acked, errors = [], []
        mu = threading.Lock()
        killed = threading.Event()
        after_kill = []

        def burst(t):
            s = [api_session(f, key) for f in fe]
            for i in range(t, len(csrs) - 16, 3):
                k = i % 2
                if killed.is_set() and k == 0:
                    k = 1
                try:
                    r = api_issue(s[k], fe[k], csrs[16 + i])
                except requests.RequestException as e:
                    with mu:
                        errors.append((k, str(e)[:80]))
                    continue
                if r.status_code == 201:
                    with mu:
                        acked.append(r.json()["serial"])
                        if killed.is_set() and k == 1:
                            after_kill.append(r.json()["serial"])
                else:
                    with mu:
                        errors.append((k, r.status_code))

        more = make_csrs(24, "example.co.jp")
        csrs.extend(more)
        threads = [threading.Thread(target=burst, args=(t,)) for t in range(3)]
        for t in threads:
            t.start()
        end = time.time() + 20
        while time.time() < end and len(acked) < 10:
            time.sleep(0.01)
        # an ACME nonce fa accepts (200: durable by then) just before it is killed
        n = nonce(asa, fa)
        r = post(asa, aurl[fa], akey, jose.ES256, None, n, kid=aurl[fa])
        assert r.status_code == 200, r.text
        kill_serve(fa)
        killed.set()
        # ... is refused by the survivor: its use survived the kill -9
        problem(post(asb, aurl[fb], akey, jose.ES256, None, n, kid=aurl[fb]), 400, "badNonce")
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert after_kill, (acked, errors)
        assert requests.get(fb.http + "/healthz", timeout=10).status_code == 200
        found = {s for s, in a.sql("SELECT serial FROM certificates")}
        lost = [s for s in acked + list(issued) + [portal_serial] if s not in found]
        print(f"\nscale-out: REST burst acknowledged {len(acked)} "
              f"({len(after_kill)} by the survivor after the kill), found "
              f"{len(acked) - len([s for s in acked if s not in found])}, lost {len(lost)}; "
              f"failed requests {len(errors)}")
        assert not lost, lost
        assert "audit chain intact" in fb.inst.ok("audit", "verify")
        # --- every mail once ---
        end = time.time() + 20
        while time.time() < end and int(a.sql(
                "SELECT COUNT(*) FROM mail_queue WHERE status = 'queued'")[0][0]) > 0:
            time.sleep(0.1)
        rows = a.sql("SELECT status, COUNT(*) FROM mail_queue GROUP BY status")
        msgs = sink.messages()
        ids = [m["Message-ID"] for _, m in msgs]
        print(f"scale-out: mails queued {sum(int(n) for _, n in rows)} ({rows}), received "
              f"{len(msgs)}, distinct {len(set(ids))}; OCSP stale right after the other's "
              f"revocation: {stale} of {len(revoked)}; CRL numbers full "
              f"{sorted({n for _, n in seen[0]})} delta {sorted({n for _, n in seen[1]})}; "
              f"TSA serials {len(tsa)} unique")
        assert dict((s, int(n)) for s, n in rows) == {"sent": len(msgs)}, rows
        assert len(set(ids)) == len(ids), ids
    finally:
        for f in (fa, fb):
            if f is not None:
                stop_server(f)
        ctl.stop()
