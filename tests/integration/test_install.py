"""Installed like a Debian daemon (issue 16, part 1): `make install` into a DESTDIR and the
installed binary run from there (init --system, serve on loopback test ports); the systemd
unit checked with `systemd-analyze verify` and `security --offline`; the sd_notify datagrams
(READY, RELOADING, STOPPING) and journald priority prefixes; the man pages in step with
`shomei --help` and docs/config.md."""
import os
import re
import signal
import socket
import stat
import subprocess
import time
import urllib.request

import pytest

from conftest import ROOT, SHOMEI, free_port, new_instance

UNIT_IN = os.path.join(ROOT, "systemd", "shomei.service.in")

# `systemd-analyze security` findings the unit keeps on purpose, each with its reason; any
# other ✗ is a directive the unit could use and does not.
KEPT = {
    "SystemCallFilter=~@resources": "setpriority, setrlimit and mlock (nice -10, resident store)",
    "SystemCallFilter=~@privileged": "chown and setuid to make the web process",
    "SystemCallFilter=~@mount": "the web process's own mount namespace",
    "RootDirectory=/RootImage=": "runs from the host's libraries",
    "User=/DynamicUser=": "the supervisor and signer are root; the web process is web.user",
    "CapabilityBoundingSet=~CAP_KILL": "signals to the web process (another uid)",
    "CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER)": "db/ and outbox of the web user",
    "CapabilityBoundingSet=~CAP_IPC_LOCK": "a short LimitMEMLOCK falls back to it",
    "RestrictNamespaces=~mnt": "the web process's mount namespace",
    "CapabilityBoundingSet=~CAP_(CHOWN|FSETID|SETFCAP)": "db/ and the outbox given away",
    "CapabilityBoundingSet=~CAP_SET(UID|GID|PCAP)": "the switch to web.user",
    "RestrictAddressFamilies=~AF_UNIX": "socketpairs, notify, PostgreSQL's socket",
    "RestrictAddressFamilies=~AF_(INET|INET6)": "the listeners and SMTP",
    "CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE|BROADCAST|RAW)": "OCSP/CRL on port 80",
    "CapabilityBoundingSet=~CAP_SYS_ADMIN": "unshare and mount for the web process",
    "PrivateNetwork=": "a network service",
    "PrivateUsers=": "the web process runs as a real system user",
    "DeviceAllow=": "char-rtc:r, which ProtectClock= itself adds",
    "IPAddressDeny=": "relying parties come from anywhere",
}
MAX_EXPOSURE = 3.5


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """`make install DESTDIR=...` of the binary the suite tests."""
    dest = str(tmp_path_factory.mktemp("destdir"))
    p = run("make", "-s", "-C", ROOT, "install", f"DESTDIR={dest}",
            f"BUILD={os.path.relpath(os.path.dirname(SHOMEI), ROOT)}")
    assert p.returncode == 0, p.stderr.decode()
    return dest


def unit_for(dest):
    """The unit as `make install` writes it, with the DESTDIR tree's paths (verify checks that
    ExecStart exists)."""
    with open(UNIT_IN) as f:
        text = f.read()
    text = (text.replace("@SBINDIR@", dest + "/usr/local/sbin")
            .replace("@SYSCONFDIR@", dest + "/etc").replace("@LOCALSTATEDIR@", dest + "/var"))
    path = os.path.join(dest, "shomei.service")
    with open(path, "w") as f:
        f.write(text)
    return path


def test_install_tree(staged):
    """Binary, share files, docs, man pages and the unit land in the usual places."""
    for rel in ("usr/local/sbin/shomei", "usr/local/share/shomei/templates/layout.html",
                "usr/local/share/shomei/static/shomei.css", "usr/local/share/shomei/po/ja.po",
                "usr/local/share/doc/shomei/config.md", "usr/local/share/man/man8/shomei.8",
                "usr/local/share/man/man5/shomei.conf.5",
                "usr/local/lib/systemd/system/shomei.service"):
        assert os.path.isfile(os.path.join(staged, rel)), rel
    assert os.stat(os.path.join(staged, "usr/local/sbin/shomei")).st_mode & 0o777 == 0o755
    with open(os.path.join(staged, "usr/local/lib/systemd/system/shomei.service")) as f:
        unit = f.read()
    assert "ExecStart=/usr/local/sbin/shomei serve" in unit
    assert "ReadWritePaths=/var/lib/shomei" in unit
    assert not re.search(r"@[A-Z]+@", unit), "a placeholder left in the unit"
    # the installed binary's defaults are the installed pair
    out = run(os.path.join(staged, "usr/local/sbin/shomei"), "--help").stdout.decode()
    assert "default /var/lib/shomei" in out and "default /etc/shomei/shomei.conf" in out
    # the checkout's build keeps ./var
    assert "default ./var" in run(SHOMEI, "--help").stdout.decode()


def test_installed_init_system_and_serve(staged):
    """init --system makes the configuration and the data directory with their owners and
    modes; serve runs from the installed tree (templates from its share directory)."""
    if os.geteuid() != 0:
        pytest.skip("init --system needs root")
    sbin = os.path.join(staged, "usr/local/sbin/shomei")
    conf = os.path.join(staged, "etc/shomei/shomei.conf")
    data = os.path.join(staged, "var/lib/shomei")
    os.makedirs(os.path.join(staged, "var/lib"), exist_ok=True)
    os.chmod(staged, 0o755)
    common = [sbin, "-c", conf, "-d", data]
    p = run(*common, "init", "--system", "--base-url", "http://127.0.0.1:8080", cwd="/")
    assert p.returncode == 0, p.stderr.decode()
    import pwd
    web = pwd.getpwnam("shomei")
    st = os.stat(conf)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o640)
    assert stat.S_IMODE(os.stat(os.path.dirname(conf)).st_mode) == 0o755
    st = os.stat(data)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, web.pw_gid, 0o750)
    st = os.stat(os.path.join(data, "keys"))
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o700)
    st = os.stat(os.path.join(data, "db"))
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (web.pw_uid, 0o700)
    assert not os.path.exists(os.path.join(data, "shomei.conf"))
    assert os.path.isfile(data + ".offline/root.key.pem")
    # a second time refuses to overwrite
    assert run(*common, "init", "--system").returncode == 1
    assert run(*common, "init", "--check").stdout == b"configuration ok\n"

    hp, sp = free_port(), free_port()
    log = os.path.join(staged, "serve.log")
    with open(log, "wb") as logf:
        proc = subprocess.Popen(common + ["serve", "--http", f"127.0.0.1:{hp}", "--https",
                                          f"127.0.0.1:{sp}", "--console", "off"],
                                stdout=logf, stderr=subprocess.STDOUT, cwd="/")
    try:
        body = None
        end = time.time() + 30
        while time.time() < end and body is None:
            assert proc.poll() is None, open(log).read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{hp}/healthz", timeout=2) as r:
                    body = r.read()
            except OSError:
                time.sleep(0.1)
        assert body is not None and b'"ok"' in body, open(log).read()
        # the portal's page comes from the installed templates and catalogs
        import ssl
        ctx = ssl.create_default_context(cafile=os.path.join(data, "certs", "root.pem"))
        ctx.check_hostname = False
        with urllib.request.urlopen(f"https://127.0.0.1:{sp}/static/shomei.css",
                                    context=ctx, timeout=5) as r:
            assert r.status == 200
        with urllib.request.urlopen(f"https://127.0.0.1:{sp}/", context=ctx, timeout=5) as r:
            assert "<title>" in r.read().decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode == 0, open(log).read()


def test_unit_verify_and_security(staged):
    """The unit loads (`systemd-analyze verify`), and `security --offline` finds nothing the
    unit could restrict and does not beyond KEPT, with an overall exposure at most
    MAX_EXPOSURE."""
    unit = unit_for(staged)
    env = dict(os.environ, MANPATH=os.path.join(staged, "usr/local/share/man"))
    p = run("systemd-analyze", "verify", unit, env=env, cwd=staged)
    assert p.returncode == 0 and p.stderr == b"", p.stderr.decode()
    p = run("systemd-analyze", "security", "--offline=true", "--no-pager",
            f"--threshold={int(MAX_EXPOSURE * 10)}", unit, cwd=staged)
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    bad = []
    for line in out.splitlines():
        if line.startswith("✗"):
            name = line[1:].split()[0]
            if name not in KEPT:
                bad.append(line.strip())
    assert not bad, "directives the unit could use:\n" + "\n".join(bad)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert m and float(m.group(1)) <= MAX_EXPOSURE, out[-300:]


class Notify:
    """A systemd stand-in: an AF_UNIX datagram socket (abstract) that collects notifications."""

    def __init__(self):
        self.name = "@shomei-test-" + os.urandom(6).hex()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.sock.settimeout(0.2)
        self.seen = []

    def wait(self, key, seconds=30):
        end = time.time() + seconds
        while time.time() < end:
            for i, m in enumerate(self.seen):
                if key in m.split("\n"):
                    del self.seen[: i + 1]
                    return m
            try:
                self.seen.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
        raise AssertionError(f"no {key} within {seconds} s; got {self.seen}")


def journal_env(path):
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def test_notify_and_journal_priority(tmp_path):
    """READY=1 once /healthz answers, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 at
    SIGTERM; with stderr as the journal (JOURNAL_STREAM) every line carries its priority."""
    inst = new_instance(tmp_path, "sqlite")
    n = Notify()
    hp = free_port()
    log = str(tmp_path / "journal.log")
    logf = open(log, "wb")
    env = dict(os.environ, NOTIFY_SOCKET=n.name, JOURNAL_STREAM=journal_env(log))
    proc = subprocess.Popen([SHOMEI, "-d", inst.datadir, "serve", "--http", f"127.0.0.1:{hp}",
                             "--https", "off"], stdout=subprocess.DEVNULL, stderr=logf,
                            env=env)
    logf.close()
    try:
        ready = n.wait("READY=1")
        assert f"MAINPID={proc.pid}" in ready.split("\n")
        with urllib.request.urlopen(f"http://127.0.0.1:{hp}/healthz", timeout=5) as r:
            assert r.status == 200  # answered as soon as READY was sent
        proc.send_signal(signal.SIGHUP)
        assert n.wait("RELOADING=1").startswith("RELOADING=1")
        n.wait("READY=1")
        # a refused reload still ends the reloading state (once the previous generation
        # finished: a SIGHUP before that is declined without a reload)
        end = time.time() + 30
        while "previous web" not in open(log, errors="replace").read():
            assert time.time() < end, open(log).read()
            time.sleep(0.1)
        with open(inst.path("shomei.conf"), "a") as f:
            f.write("\nno.such.key = 1\n")
        proc.send_signal(signal.SIGHUP)
        n.wait("RELOADING=1")
        assert "previous" in n.wait("READY=1")
        proc.send_signal(signal.SIGTERM)
        n.wait("STOPPING=1")
        proc.wait(60)
    finally:
        # SIGTERM first: the supervisor stops its web process and signer (a SIGKILL of the
        # supervisor alone would leave them running)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    text = open(log, encoding="utf-8", errors="replace").read()
    lines = [ln for ln in text.splitlines() if ln]
    assert lines, "no log"
    unprefixed = [ln for ln in lines if not re.match(r"<[0-7]>", ln)]
    assert not unprefixed, unprefixed[:5]
    assert any(ln.startswith("<6>") and "supervisor pid" in ln for ln in lines)
    assert any(ln.startswith("<6>") and "GET /healthz" in ln for ln in lines)  # web process
    assert any(ln.startswith("<4>") and "not reloaded" in ln for ln in lines)
    # stderr that is not the journal: no prefix
    p = subprocess.run([SHOMEI, "-d", str(tmp_path / "none"), "cert", "list"],
                       capture_output=True, env=dict(os.environ, JOURNAL_STREAM="1:2"))
    assert p.stderr.startswith(b"shomei"), p.stderr


def test_notify_socket_path(tmp_path):
    """A NOTIFY_SOCKET that is a file path works as well as an abstract name."""
    inst = new_instance(tmp_path, "sqlite")
    path = str(tmp_path / "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(30)
    hp = free_port()
    proc = subprocess.Popen([SHOMEI, "-d", inst.datadir, "serve", "--http", f"127.0.0.1:{hp}",
                             "--https", "off"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ, NOTIFY_SOCKET=path))
    try:
        assert s.recv(4096).decode().startswith("READY=1")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        s.close()


def test_man_pages_in_step():
    """Every command of `shomei --help` and its global options are in shomei(8); every key of
    docs/config.md is in shomei.conf(5), which scripts/man-conf.py makes from it."""
    with open(os.path.join(ROOT, "man", "shomei.8")) as f:
        man8 = f.read().replace("\\-", "-")
    helptext = run(SHOMEI, "--help").stdout.decode()
    cmds = re.findall(r"^  ([a-z][a-z-]*) ", helptext.split("commands:")[1], re.M)
    assert len(cmds) >= 15, cmds
    missing = [c for c in cmds if f".B {c}\n" not in man8]
    assert not missing, ("commands of --help missing from man/shomei.8", missing)
    opts = re.findall(r"(--[a-z]+)", helptext.split("commands:")[0])
    assert not [o for o in set(opts) if o not in man8], opts
    from test_conf import documented_keys
    with open(os.path.join(ROOT, "man", "shomei.conf.5")) as f:
        man5 = f.read().replace("\\-", "-")
    missing = [k for k in documented_keys() if k not in man5]
    assert not missing, ("keys of docs/config.md missing from man/shomei.conf.5", missing)
    gen = run(os.path.join(ROOT, "scripts", "man-conf.py"),
              os.path.join(ROOT, "docs", "config.md"), "/dev/stdout")
    with open(os.path.join(ROOT, "man", "shomei.conf.5"), "rb") as f:
        assert gen.stdout == f.read(), "man/shomei.conf.5 is stale: run scripts/man-conf.py"
    # both pages render without warnings
    for page in ("shomei.8", "shomei.conf.5"):
        p = run("man", "--warnings", "-l", os.path.join(ROOT, "man", page),
                env=dict(os.environ, MANWIDTH="100"))
        assert p.returncode == 0 and b"warning" not in p.stderr, p.stderr.decode()
