"""ACME validation beyond http-01 (issue 14, the dns slice) against the real server on both store
backends: dns-01 (RFC 8555 8.4) through a small DNS server of the test's on 127.0.0.1 (UDP and
TCP on one random port, records from a table the test changes or a JSON file the hooks write;
the server's resolver is acme.dns_resolver), wildcard orders (dns-01 alone, the CSR carries
*.name), tls-alpn-01 (RFC 8737) against a TLS server of the test's presenting the challenge
certificate, CAA (RFC 8659, with RFC 8657's accounturi and validationmethods), certbot's manual
dns-01 with hooks and EAB, and lego's exec dns-01 and tls-alpn-01 with EAB.  Issued
certificates verify with `openssl verify`."""
import datetime
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

import pytest

from test_acme import ERR, acme_server, b64u, eab_create
from test_acme_order import Responder, account, conf, csr_for, wait_authz
from conftest import free_port, start_server, stop_server

acme_client = pytest.importorskip("acme.client")
dnslib = pytest.importorskip("dnslib")
from acme import challenges, messages  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ObjectIdentifier  # noqa: E402

OUR_CA = "ca.example.jp"  # acme.caa_identities of acme_server


class DNS:
    """A recursive resolver's stand-in on 127.0.0.1: UDP and TCP on one port.  records maps
    (lower-case name, type) to a list of values: TXT a str or a list of strings (one record),
    CAA (flags, tag, value), CNAME a name, A an address.  servfail: names answered SERVFAIL.
    path: a JSON file of {name: [TXT value, ...]} read at each query (the hooks write it).
    An answer over 512 bytes goes truncated over UDP; tcp counts the TCP queries."""

    def __init__(self, path=None):
        self.records, self.servfail, self.path, self.tcp = {}, set(), path, 0
        self.zones = {"example.ac.jp"}
        self.default_a = None  # an A record of every name below example.ac.jp
        for _ in range(20):
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            self.port = self.udp.getsockname()[1]
            self.tcps = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcps.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcps.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp.close()
                self.tcps.close()
        self.tcps.listen(16)
        self.stop = False
        self.threads = [threading.Thread(target=f, daemon=True)
                        for f in (self._udp_loop, self._tcp_loop)]
        for t in self.threads:
            t.start()

    def set(self, name, typ, *values):
        self.records[(name.lower(), typ)] = list(values)

    def clear(self, name, typ):
        self.records.pop((name.lower(), typ), None)

    def _lookup(self, name, typ):
        if self.path and typ == "TXT" and os.path.exists(self.path):
            with open(self.path) as f:
                vals = json.load(f).get(name)
            if vals:
                return vals
        return self.records.get((name, typ))

    def answer(self, data, udp):
        from dnslib import CAA, CNAME, QTYPE, RCODE, RR, TXT, A, DNSRecord
        req = DNSRecord.parse(data)
        rep = req.reply()
        name = str(req.q.qname).rstrip(".").lower()
        typ = QTYPE[req.q.qtype]
        if name in self.servfail:
            rep.header.rcode = RCODE.SERVFAIL
            return rep.pack()
        for _ in range(10):
            cn = self._lookup(name, "CNAME")
            if not cn or typ == "CNAME":
                break
            rep.add_answer(RR(name, QTYPE.CNAME, rdata=CNAME(cn[0]), ttl=60))
            name = cn[0].lower()
        if typ == "SOA" and name in self.zones:  # lego looks for the zone's apex
            from dnslib import SOA
            rep.add_answer(RR(name, QTYPE.SOA, ttl=60, rdata=SOA(
                "ns." + name, "hostmaster." + name, (1, 3600, 600, 86400, 60))))
            return rep.pack()
        vals = self._lookup(name, typ) or []
        if not vals and typ == "A" and self.default_a and name.endswith(".example.ac.jp"):
            vals = [self.default_a]
        for v in vals:
            if typ == "TXT":
                rd = TXT([s.encode() for s in ([v] if isinstance(v, str) else v)])
            elif typ == "CAA":
                rd = CAA(v[0], v[1], v[2])
            elif typ == "A":
                rd = A(v)
            else:
                continue
            rep.add_answer(RR(name, getattr(QTYPE, typ), rdata=rd, ttl=60))
        if not vals and not rep.rr and not any(k[0] == name for k in self.records) and not (
                self.path and typ == "TXT" and name.startswith("_acme-challenge.")) and (
                name not in self.zones):
            rep.header.rcode = RCODE.NXDOMAIN
        out = rep.pack()
        if udp and len(out) > 512:
            rep.rr = []
            rep.header.tc = 1
            out = rep.pack()
        return out

    def _udp_loop(self):
        while not self.stop:
            try:
                data, peer = self.udp.recvfrom(4096)
                self.udp.sendto(self.answer(data, True), peer)
            except Exception:
                if self.stop:
                    return

    def _tcp_loop(self):
        while not self.stop:
            try:
                c, _ = self.tcps.accept()
            except Exception:
                return
            with c:
                try:
                    c.settimeout(5)
                    n = struct.unpack(">H", c.recv(2))[0]
                    data = b""
                    while len(data) < n:
                        data += c.recv(n - len(data))
                    self.tcp += 1
                    out = self.answer(data, False)
                    c.sendall(struct.pack(">H", len(out)) + out)
                except Exception:
                    pass

    def close(self):
        self.stop = True
        self.udp.close()
        try:
            self.tcps.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.tcps.close()
        for t in self.threads:
            t.join(5)


def acme_server_again(ca, extra):
    """acme_server's configuration for an instance whose organization exists already."""
    hp, sp = free_port(), free_port()
    while sp == hp:
        sp = free_port()
    return start_server(ca, ("acme.enabled = yes\nacme.base_url = https://localhost:%d\n"
                             "acme.caa_identities = %s\n" % (sp, OUR_CA)) + extra,
                        ports=(hp, sp))


def dns_conf(http_port, dns, extra=""):
    return conf(http_port) + "acme.dns_resolver = 127.0.0.1:%d\n" % dns.port + extra


def chall_of(authz, typ):
    got = [c for c in authz.body.challenges if c.chall.typ == typ]
    assert len(got) == 1, [c.chall.typ for c in authz.body.challenges]
    return got[0]


def dns01_answer(dns, cl, key, authz, value=None):
    """Publishes the dns-01 TXT record of authz (value: instead of the right one), answers the
    challenge and waits for the authorization."""
    ch = chall_of(authz, "dns-01")
    name = "_acme-challenge." + authz.body.identifier.value
    dns.set(name, "TXT", value if value is not None else ch.chall.validation(key))
    cl.answer_challenge(ch, ch.chall.response(key))
    return wait_authz(cl, authz.uri)


def verify_chain(srv, tmp_path, fullchain, stem="leaf"):
    pems = fullchain.split("-----END CERTIFICATE-----")
    leaf, inter = (p.lstrip() + "-----END CERTIFICATE-----\n" for p in pems[:2])
    (tmp_path / (stem + ".pem")).write_text(leaf)
    (tmp_path / (stem + "-inter.pem")).write_text(inter)
    v = subprocess.run(["openssl", "verify", "-CAfile", srv.cafile, "-untrusted",
                        str(tmp_path / (stem + "-inter.pem")), str(tmp_path / (stem + ".pem"))],
                       capture_output=True)
    assert v.returncode == 0, v
    return subprocess.run(["openssl", "x509", "-noout", "-text", "-in",
                           str(tmp_path / (stem + ".pem"))], capture_output=True).stdout.decode()


def finalize(cl, order):
    return cl.finalize_order(order, datetime.datetime.now() + datetime.timedelta(seconds=20))


def test_acme_dns01_wildcard_caa(ca, tmp_path):
    """dns-01 through a CNAME, with the digest split over two strings of one record among
    records large enough to be truncated over UDP (so asked again over TCP); a wrong TXT
    (incorrectResponse); a wildcard order (dns-01 alone, *.name in the certificate; refused
    where the binding does not name it); CAA: allowed with accounturi and validationmethods,
    refused for another CA, another account, another method, an unknown critical tag, issuewild
    for a wildcard, a SERVFAIL."""
    resp, dns = Responder(), DNS()
    srv = acme_server(ca, dns_conf(resp.port, dns))
    try:
        cl, key, regr, kid = account(ca, srv)  # the organization's domains
        www = "www.example.ac.jp"

        # dns-01 through a CNAME, a record of two strings, > 512 bytes of records (TCP)
        order = cl.new_order(csr_for(www))
        authz = order.authorizations[0]
        assert sorted(c.chall.typ for c in authz.body.challenges) == [
            "dns-01", "http-01", "tls-alpn-01"]
        tokens = [c.chall.encode("token") for c in authz.body.challenges]
        urls = [c.uri for c in authz.body.challenges]
        assert len(set(tokens)) == 3 and len(set(urls)) == 3, (tokens, urls)
        ch = chall_of(authz, "dns-01")
        v = ch.chall.validation(key)
        dns.set("_acme-challenge." + www, "CNAME", "www.acme-delegation.example.net")
        dns.set("www.acme-delegation.example.net", "TXT", [v[:20], v[20:]],
                *["decoy-%d-" % i + "x" * 90 for i in range(8)])
        cl.answer_challenge(ch, ch.chall.response(key))
        a = wait_authz(cl, authz.uri)
        assert a.body.status.name == "valid", a
        assert dns.tcp >= 1, "the truncated answer was asked again over TCP"
        done = [c for c in a.body.challenges if c.chall.typ == "dns-01"][0]
        assert done.status.name == "valid" and done.validated is not None
        # the other challenges of the authorization stay as they were; answering one of them
        # now starts nothing (the authorization is settled)
        assert all(c.status.name == "pending" for c in a.body.challenges
                   if c.chall.typ != "dns-01")
        h = chall_of(a, "http-01")
        assert cl.answer_challenge(h, h.chall.response(key)).body.status.name == "pending"
        time.sleep(0.5)
        a = wait_authz(cl, authz.uri)
        assert chall_of(a, "http-01").status.name == "pending" and a.body.status.name == "valid"

        txt = verify_chain(srv, tmp_path, finalize(cl, order).fullchain_pem)
        assert "DNS:" + www in txt
        assert "dns-01" in ca.ok("audit", "list")

        # a wrong TXT: incorrectResponse, the authorization invalid
        order = cl.new_order(csr_for("wrong.example.ac.jp"))
        a = dns01_answer(dns, cl, key, order.authorizations[0], "not-the-digest")
        assert a.body.status.name == "invalid"
        err = chall_of(a, "dns-01").error
        assert err.typ == ERR + "incorrectResponse" and "_acme-challenge" in err.detail, err

        # a wildcard: its authorization is for the name with wildcard true and dns-01 alone
        order = cl.new_order(csr_for("*.example.ac.jp"))
        assert [i.value for i in order.body.identifiers] == ["*.example.ac.jp"]
        authz = order.authorizations[0]
        raw = cl._post_as_get(authz.uri).json()
        assert raw["identifier"] == {"type": "dns", "value": "example.ac.jp"} and raw[
            "wildcard"] is True, raw
        assert [c["type"] for c in raw["challenges"]] == ["dns-01"], raw  # never http-01
        a = dns01_answer(dns, cl, key, authz)
        assert a.body.status.name == "valid", a
        # a CSR with the bare name is not the order's
        with pytest.raises(messages.Error) as ei:
            cl.finalize_order(order.update(csr_pem=csr_for("example.ac.jp")),
                              datetime.datetime.now() + datetime.timedelta(seconds=10))
        assert ei.value.typ == ERR + "badCSR", ei.value
        txt = verify_chain(srv, tmp_path, finalize(cl, order.update(
            csr_pem=csr_for("*.example.ac.jp"))).fullchain_pem, "wild")
        assert "DNS:*.example.ac.jp" in txt, txt
        # strict: a binding naming www.example.ac.jp does not stand for *.example.ac.jp; one
        # naming *.example.ac.jp orders it (and nothing else)
        cl2, key2, _, _ = account(ca, srv, "--names", www)
        with pytest.raises(messages.Error) as ei:
            cl2.new_order(csr_for("*.example.ac.jp"))
        assert ei.value.typ == ERR + "rejectedIdentifier", ei.value
        assert ei.value.subproblems[0].identifier.value == "*.example.ac.jp"
        cl3, key3, _, _ = account(ca, srv, "--names", "*.example.ac.jp")
        assert cl3.new_order(csr_for("*.example.ac.jp")).body.status.name == "pending"
        with pytest.raises(messages.Error) as ei:
            cl3.new_order(csr_for(www))
        assert ei.value.typ == ERR + "rejectedIdentifier", ei.value

        # CAA: each case its own name (the climb stops at the first name with records)
        acct = regr.uri

        def caa_case(label, *records, wildcard=False, servfail=False):
            name = label + ".example.ac.jp"
            if servfail:
                dns.servfail.add(name)
            else:
                dns.set(name, "CAA", *records)
            order = cl.new_order(csr_for(("*." if wildcard else "") + name))
            return dns01_answer(dns, cl, key, order.authorizations[0])

        ok = caa_case("caa-ok", (0, "issue", "other-ca.example"),
                      (0, "issue", "%s; accounturi=%s; validationmethods=http-01,dns-01"
                       % (OUR_CA, acct)), (0, "iodef", "mailto:x@example.ac.jp"))
        assert ok.body.status.name == "valid", ok
        # CAA again at finalize (BR 3.2.2.8): an order reusing the valid authorization is
        # ready at once; within 8 hours of its check CAA is not asked again (a CAA that now
        # refuses does not matter), past them it is: a refusal is caa with a subproblem and
        # nothing is signed; an allowing answer is recorded (no new check for 8 hours)
        name = "caa-ok.example.ac.jp"
        aid = ok.uri.rsplit("/", 1)[1]
        refuse = (0, "issue", "other-ca.example")

        def certs():
            return int(ca.sql("SELECT COUNT(*) FROM certificates")[0][0])

        def age(hours):
            ca.sql("UPDATE acme_authzs SET validated = validated - %d, caa_checked = "
                   "caa_checked - %d WHERE id = %s" % (hours * 3600, hours * 3600, aid))

        dns.set(name, "CAA", refuse)
        age(7)
        order = cl.new_order(csr_for(name))
        assert order.body.status.name == "ready"
        assert "DNS:" + name in verify_chain(srv, tmp_path, finalize(cl, order).fullchain_pem,
                                             "caa7")
        age(2)  # 9 hours since the validation
        order = cl.new_order(csr_for(name))
        before = certs()
        with pytest.raises(messages.Error) as ei:
            finalize(cl, order)
        assert ei.value.typ == ERR + "caa" and "3.2.2.8" in ei.value.detail, ei.value
        assert [(sp.identifier.value, sp.typ) for sp in ei.value.subproblems] == [
            (name, ERR + "caa")], ei.value
        assert "issue" in ei.value.subproblems[0].detail, ei.value.subproblems[0]
        assert certs() == before, "nothing is signed when CAA refuses"
        # the order stays ready: once CAA allows again, it is finalized
        dns.set(name, "CAA", (0, "issue", OUR_CA))
        assert "DNS:" + name in verify_chain(srv, tmp_path, finalize(cl, order).fullchain_pem,
                                             "caa9")
        dns.set(name, "CAA", refuse)  # checked just now: not asked again
        order = cl.new_order(csr_for(name))
        finalize(cl, order)
        assert certs() == before + 2
        for label, recs, kw, word in (
                ("caa-other", [(0, "issue", "other-ca.example")], {}, "issue"),
                ("caa-acct", [(0, "issue", "%s; accounturi=%s9" % (OUR_CA, acct))], {},
                 "issue"),
                ("caa-method", [(0, "issue", "%s; validationmethods=http-01" % OUR_CA)], {},
                 "dns-01"),
                ("caa-crit", [(0, "issue", OUR_CA), (128, "tbs", "x")], {}, "critical"),
                ("caa-wild", [(0, "issue", OUR_CA), (0, "issuewild", ";")],
                 {"wildcard": True}, "issuewild"),
                ("caa-fail", [], {"servfail": True}, "failed")):
            a = caa_case(label, *recs, **kw)
            assert a.body.status.name == "invalid", (label, a)
            err = chall_of(a, "dns-01").error
            assert err.typ == ERR + "caa" and word in err.detail, (label, err)
        # CAA holds for http-01 too
        dns.set("caa-http.example.ac.jp", "CAA", (0, "issue", "other-ca.example"))
        order = cl.new_order(csr_for("caa-http.example.ac.jp"))
        h = chall_of(order.authorizations[0], "http-01")
        resp.answers[h.chall.encode("token")] = h.chall.validation(key)
        cl.answer_challenge(h, h.chall.response(key))
        a = wait_authz(cl, order.authorizations[0].uri)
        assert a.body.status.name == "invalid" and chall_of(a, "http-01").error.typ == ERR + "caa"
        # issuewild does not bind a name that is no wildcard
        ok = caa_case("caa-wild2", (0, "issue", OUR_CA), (0, "issuewild", ";"))
        assert ok.body.status.name == "valid", ok
    finally:
        stop_server(srv)
        dns.close()
        resp.close()


class TLSALPN:
    """A TLS server on 127.0.0.1 choosing ALPN acme-tls/1 and presenting self.cert/self.key."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.ctx, self.stop, self.sni = None, False, []
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def present(self, tmp_path, cert_pem, key_pem, alpn=("acme-tls/1",)):
        (tmp_path / "alpn.pem").write_bytes(cert_pem)
        (tmp_path / "alpn.key").write_bytes(key_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tmp_path / "alpn.pem"), str(tmp_path / "alpn.key"))
        ctx.set_alpn_protocols(list(alpn))
        ctx.sni_callback = lambda s, name, c: self.sni.append(name)
        self.ctx = ctx

    def _loop(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                c.settimeout(5)
                with self.ctx.wrap_socket(c, server_side=True) as t:
                    t.recv(1)
            except Exception:
                pass
            finally:
                c.close()

    def close(self):
        self.stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.t.join(5)


def alpn_cert(name, digest, critical=True, sans=None):
    k = ec.generate_private_key(ec.SECP256R1())
    subj = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, name)])
    now = datetime.datetime.utcnow()
    b = (x509.CertificateBuilder().subject_name(subj).issuer_name(subj)
         .public_key(k.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(hours=1))
         .not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.SubjectAlternativeName(
             [n if isinstance(n, x509.GeneralName) else x509.DNSName(n)
              for n in (sans or [name])]), critical=False)
         .add_extension(x509.UnrecognizedExtension(
             ObjectIdentifier("1.3.6.1.5.5.7.1.31"), b"\x04\x20" + digest), critical=critical))
    c = b.sign(k, hashes.SHA256())
    return (c.public_bytes(serialization.Encoding.PEM),
            k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()))


def test_acme_tlsalpn01(ca, tmp_path):
    """tls-alpn-01: a challenge certificate (RFC 8737 3) on the test's TLS server
    (acme.tlsalpn01_port; the name's A record from the test's DNS server): valid, SNI the name;
    then the refusals: a non-critical acmeIdentifier, a wrong digest, a second SAN, python3-acme
    2.1's gen_cert (the draft's OID), no acme-tls/1; an ip identifier (RFC 8738 6: SNI the
    reverse name, an iPAddress SAN); the loopback address without
    acme.allow_private_addresses, a name without an address."""
    import OpenSSL.crypto as oc
    resp, tls, dns = Responder(), TLSALPN(), DNS()
    dns.default_a = "127.0.0.1"  # the names' addresses come from the resolver, not a setting
    base = ("test.instance = yes\nacme.http01_port = %d\nacme.dns_resolver = 127.0.0.1:%d\n"
            "acme.tlsalpn01_port = %d\n" % (resp.port, dns.port, tls.port))
    srv = acme_server(ca, base + "acme.allow_private_addresses = yes\n")
    try:
        cl, key, regr, kid = account(ca, srv)
        name = "tls.example.ac.jp"
        order = cl.new_order(csr_for(name))
        authz = order.authorizations[0]
        ch = chall_of(authz, "tls-alpn-01")
        response = ch.chall.response(key)
        digest = __import__("hashlib").sha256(ch.chall.key_authorization(key).encode()).digest()
        tls.present(tmp_path, *alpn_cert(name, digest))
        cl.answer_challenge(ch, response)
        a = wait_authz(cl, authz.uri)
        assert a.body.status.name == "valid", chall_of(a, "tls-alpn-01").error
        assert name in tls.sni
        txt = verify_chain(srv, tmp_path, finalize(cl, order).fullchain_pem)
        assert "DNS:" + name in txt

        def refused(label, make, alpn=("acme-tls/1",)):
            n = label + ".example.ac.jp"
            order = cl.new_order(csr_for(n))
            authz = order.authorizations[0]
            ch = chall_of(authz, "tls-alpn-01")
            digest = __import__("hashlib").sha256(
                ch.chall.key_authorization(key).encode()).digest()
            tls.present(tmp_path, *make(n, digest), alpn=alpn)
            cl.answer_challenge(ch, ch.chall.response(key))
            a = wait_authz(cl, authz.uri)
            assert a.body.status.name == "invalid", (label, a)
            return chall_of(a, "tls-alpn-01").error

        err = refused("noncrit", lambda n, d: alpn_cert(n, d, critical=False))
        assert err.typ == ERR + "incorrectResponse" and "not critical" in err.detail, err
        err = refused("digest", lambda n, d: alpn_cert(n, bytes(32)))
        assert err.typ == ERR + "incorrectResponse" and "SHA-256" in err.detail, err
        err = refused("twosans", lambda n, d: alpn_cert(n, d, sans=[n, "x.example.ac.jp"]))
        assert err.typ == ERR + "incorrectResponse" and "subjectAltName" in err.detail, err
        # python3-acme 2.1's own gen_cert still writes the draft's OID 1.3.6.1.5.5.7.1.30.1
        # with the bare digest: not RFC 8737's extension
        def acme21(n, d):
            cert, pkey = challenges.TLSALPN01Response(
                key_authorization=cl_keyauth[0]).gen_cert(
                    n, key=oc.PKey.from_cryptography_key(ec.generate_private_key(ec.SECP256R1())))
            return (oc.dump_certificate(oc.FILETYPE_PEM, cert),
                    oc.dump_privatekey(oc.FILETYPE_PEM, pkey))
        cl_keyauth = ["x"]
        err = refused("draftoid", acme21)
        assert err.typ == ERR + "incorrectResponse" and "acmeIdentifier" in err.detail, err
        err = refused("noalpn", lambda n, d: alpn_cert(n, d), alpn=("http/1.1",))
        assert err.typ in (ERR + "unauthorized", ERR + "tls"), err

        # an ip identifier (RFC 8738 6): http-01 and tls-alpn-01 offered (never dns-01); the
        # address itself is dialled, SNI its reverse name, the certificate exactly one
        # iPAddress SAN; a dNSName of the address's text, or another address, is refused
        import ipaddress
        from test_acme_authz import ip_csr
        ca.ok("org", "set", "UNIV", "--ip", "127.0.0.0/8")
        ip_san = lambda a: [x509.IPAddress(ipaddress.ip_address(a))]  # noqa: E731

        def ip_try(make):
            # an account of its own each time (the test's TLS server is on 127.0.0.1 only,
            # and an account's valid authorization would be reused)
            icl, ikey, _, _ = account(ca, srv, "--names", "127.0.0.1")
            order = icl.new_order(ip_csr("127.0.0.1"))
            authz = order.authorizations[0]
            assert sorted(c.chall.typ for c in authz.body.challenges) == [
                "http-01", "tls-alpn-01"], authz.body.challenges
            ch = chall_of(authz, "tls-alpn-01")
            d = __import__("hashlib").sha256(ch.chall.key_authorization(ikey).encode()).digest()
            tls.present(tmp_path, *make(d))
            del tls.sni[:]
            icl.answer_challenge(ch, ch.chall.response(ikey))
            return icl, order, wait_authz(icl, authz.uri)

        icl, order, a = ip_try(lambda d: alpn_cert("x", d, sans=ip_san("127.0.0.1")))
        assert a.body.status.name == "valid", chall_of(a, "tls-alpn-01").error
        assert tls.sni == ["1.0.0.127.in-addr.arpa"], tls.sni
        txt = verify_chain(srv, tmp_path, finalize(icl, order).fullchain_pem, "ipleaf")
        assert "IP Address:127.0.0.1" in txt and "DNS:" not in txt, txt
        _, _, a = ip_try(lambda d: alpn_cert("127.0.0.1", d))
        err = chall_of(a, "tls-alpn-01").error
        assert a.body.status.name == "invalid" and err.typ == ERR + "incorrectResponse", err
        assert "RFC 8738 6" in err.detail and "iPAddress" in err.detail, err
        _, _, a = ip_try(lambda d: alpn_cert("x", d, sans=ip_san("127.0.0.9")))
        err = chall_of(a, "tls-alpn-01").error
        assert a.body.status.name == "invalid" and "iPAddress" in err.detail, err
        stop_server(srv)

        # without acme.allow_private_addresses, the loopback address is refused: connection
        srv = acme_server_again(ca, base + "acme.allow_private_addresses = no\n")
        cl, key, regr, kid = account(ca, srv)
        err = refused("private", lambda n, d: alpn_cert(n, d))
        assert err.typ == ERR + "connection" and "127.0.0.1" in err.detail, err
        # a name without an address: connection
        dns.default_a = None
        err = refused("noaddr", lambda n, d: alpn_cert(n, d))
        assert err.typ == ERR + "connection" and "no address" in err.detail, err
    finally:
        stop_server(srv)
        dns.close()
        tls.close()
        resp.close()


HOOK = r'''import json, os, sys, fcntl
path, mode = sys.argv[1], sys.argv[2]
name = "_acme-challenge." + os.environ["CERTBOT_DOMAIN"]
with open(path + ".lock", "w") as lk:
    fcntl.flock(lk, fcntl.LOCK_EX)
    recs = json.load(open(path)) if os.path.exists(path) else {}
    vals = recs.setdefault(name, [])
    if mode == "auth":
        vals.append(os.environ["CERTBOT_VALIDATION"])
    elif os.environ["CERTBOT_VALIDATION"] in vals:
        vals.remove(os.environ["CERTBOT_VALIDATION"])
    json.dump(recs, open(path + ".tmp", "w"))
    os.replace(path + ".tmp", path)
'''


def test_acme_certbot_dns01(ca_sqlite, tmp_path):
    """certbot certonly --manual --preferred-challenges dns with hooks that write the local DNS
    server's records, with EAB: a certificate for a name and a wildcard, verified."""
    certbot = shutil.which("certbot")
    if certbot is None:
        pytest.skip("certbot is not installed (scripts/deps.sh installs it)")
    records = str(tmp_path / "records.json")
    resp, dns = Responder(), DNS(records)
    srv = acme_server(ca_sqlite, dns_conf(resp.port, dns))
    try:
        kid, hmac = eab_create(ca_sqlite)
        hook = tmp_path / "hook.py"
        hook.write_text(HOOK)
        env = dict(os.environ, REQUESTS_CA_BUNDLE=srv.cafile, NO_PROXY="*")
        for v in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env.pop(v, None)
        d = {k: str(tmp_path / k) for k in ("config", "work", "logs")}
        p = subprocess.run(
            [certbot, "certonly", "--manual", "--preferred-challenges", "dns",
             "--manual-auth-hook", "%s %s %s auth" % (sys.executable, hook, records),
             "--manual-cleanup-hook", "%s %s %s cleanup" % (sys.executable, hook, records),
             "--server", srv.https + "/acme/directory", "--eab-kid=" + kid, "--eab-hmac-key=" + hmac,
             "--config-dir", d["config"], "--work-dir", d["work"], "--logs-dir", d["logs"],
             "--non-interactive", "--agree-tos", "-m", "admin@example.ac.jp", "--key-type",
             "ecdsa", "-d", "dns.example.ac.jp", "-d", "*.dns.example.ac.jp"],
            capture_output=True, env=env, timeout=90)
        assert p.returncode == 0, (p.stdout.decode(), p.stderr.decode())
        live = os.path.join(d["config"], "live", "dns.example.ac.jp")
        v = subprocess.run(["openssl", "verify", "-CAfile", srv.cafile, "-untrusted",
                            os.path.join(live, "chain.pem"), os.path.join(live, "cert.pem")],
                           capture_output=True)
        assert v.returncode == 0, v
        txt = subprocess.run(["openssl", "x509", "-noout", "-text", "-in",
                              os.path.join(live, "cert.pem")], capture_output=True).stdout.decode()
        assert "DNS:dns.example.ac.jp" in txt and "DNS:*.dns.example.ac.jp" in txt, txt
        with open(records) as f:
            assert json.load(f) == {"_acme-challenge.dns.example.ac.jp": []}  # cleaned up
    finally:
        stop_server(srv)
        dns.close()
        resp.close()


EXEC = r'''#!/bin/sh
# lego's exec provider: $1 present|cleanup, $2 the record's FQDN (with a dot), $3 its value
exec %s %s %s "$1" "$2" "$3"
'''

LEGO_HOOK = r'''import json, os, sys, fcntl
path, mode, fqdn, value = sys.argv[1:5]
name = fqdn.rstrip(".")
with open(path + ".lock", "w") as lk:
    fcntl.flock(lk, fcntl.LOCK_EX)
    recs = json.load(open(path)) if os.path.exists(path) else {}
    vals = recs.setdefault(name, [])
    if mode == "present":
        vals.append(value)
    elif mode == "cleanup" and value in vals:
        vals.remove(value)
    json.dump(recs, open(path + ".tmp", "w"))
    os.replace(path + ".tmp", path)
'''


def test_acme_lego(ca_sqlite, tmp_path):
    """lego 4.9.1 with EAB: dns-01 through its exec provider (EXEC_PATH writes the local DNS
    server's records; --dns.resolvers is that server) for a name and its wildcard, and
    tls-alpn-01 on --tls.port; the certificates verify."""
    lego = shutil.which("lego")
    if lego is None:
        pytest.skip("lego is not installed (scripts/deps.sh installs it)")
    records = str(tmp_path / "records.json")
    resp, dns = Responder(), DNS(records)
    tport = free_port()
    srv = acme_server(ca_sqlite, dns_conf(resp.port, dns, "acme.tlsalpn01_port = %d\n" % tport))
    try:
        hook = tmp_path / "hook.py"
        hook.write_text(LEGO_HOOK)
        ex = tmp_path / "exec.sh"
        ex.write_text(EXEC % (sys.executable, hook, records))
        ex.chmod(0o755)
        env = dict(os.environ, LEGO_CA_CERTIFICATES=srv.cafile, EXEC_PATH=str(ex),
                   EXEC_PROPAGATION_TIMEOUT="20", EXEC_POLLING_INTERVAL="1",
                   EXEC_SEQUENCE_INTERVAL="1", NO_PROXY="*")
        for v in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env.pop(v, None)

        def run(path, names, *how):
            kid, hmac = eab_create(ca_sqlite)
            args = [lego, "--server", srv.https + "/acme/directory", "--accept-tos", "--email",
                    "admin@example.ac.jp", "--eab", "--kid=" + kid, "--hmac=" + hmac, "--path",
                    str(tmp_path / path), "--key-type", "ec256"]
            for n in names:
                args += ["--domains", n]
            p = subprocess.run(args + list(how) + ["run"], capture_output=True, env=env,
                               timeout=90)
            assert p.returncode == 0, (p.stdout.decode(), p.stderr.decode())
            crt = str(tmp_path / path / "certificates" / (names[0].replace("*", "_") + ".crt"))
            # lego's .crt is the leaf and its chain
            return verify_chain(srv, tmp_path, open(crt).read(), path)

        txt = run("dns", ["lego.example.ac.jp", "*.lego.example.ac.jp"], "--dns", "exec",
                  "--dns.resolvers", "127.0.0.1:%d" % dns.port, "--dns.disable-cp")
        assert "DNS:lego.example.ac.jp" in txt and "DNS:*.lego.example.ac.jp" in txt, txt
        txt = run("tls", ["legotls.example.ac.jp"], "--tls", "--tls.port",
                  "127.0.0.1:%d" % tport)
        assert "DNS:legotls.example.ac.jp" in txt, txt
        audit = ca_sqlite.ok("audit", "list")
        assert "tls-alpn-01" in audit and "dns-01" in audit
    finally:
        stop_server(srv)
        dns.close()
        resp.close()
