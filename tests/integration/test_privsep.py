"""The web process cannot reach key material (issue: key custody against a compromised web
process).  `serve`, started as root, runs its network-facing web process as web.user
(`shomei`), in a mount namespace where keys/ is covered, with the secrets of its environment
and configuration zeroed, without new privileges and under a seccomp filter.  These tests look
from the web process's own identity: nsenter into its mount namespace and setpriv to its uid,
gid and (empty) groups, then try what an attacker inside it would try.
"""
import os
import pwd
import re
import secrets
import shutil
import subprocess

import pytest

from conftest import SHOMEI, start_server, stop_server

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="serve drops privileges as root only")


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return {comm: int(p) for p, comm in (line.split(None, 1) for line in out.splitlines())}


def procs(srv):
    kids = children(srv.proc.pid)
    assert "shomei-web" in kids and "shomei-signer" in kids, kids
    return kids["shomei-web"], kids["shomei-signer"]


def status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def as_web(web, *cmd, input=None):
    """Runs cmd in the web process's mount namespace with its uid, gid and groups."""
    st = status(web)
    uid, gid = st["Uid"].split()[0], st["Gid"].split()[0]
    return subprocess.run(["nsenter", "-t", str(web), "-m", "setpriv", f"--reuid={uid}",
                           f"--regid={gid}", "--clear-groups", *cmd], input=input,
                          capture_output=True, timeout=30)


def memory_holds(pid, needles):
    """The needles found in the process's anonymous memory (heap, stacks, anonymous maps)."""
    found = set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            parts = line.split()
            path = parts[5] if len(parts) > 5 else ""
            if "r" not in parts[1] or (path and path not in ("[heap]", "[stack]")) \
                    or path.startswith("[v"):
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except OSError:
                continue
            for n in needles:
                if n in data:
                    found.add(n)
    return found


def test_web_runs_as_its_own_user_without_privileges(ca):
    srv = start_server(ca)
    try:
        web, signer = procs(srv)
        st = status(web)
        shomei = pwd.getpwnam("shomei")
        assert st["Uid"].split() == [str(shomei.pw_uid)] * 4
        assert st["Gid"].split() == [str(shomei.pw_gid)] * 4
        assert st["Groups"].strip() == ""
        # none of root's capabilities where root may raise the resource limits it needs
        # instead (CAP_SYS_RESOURCE); else CAP_IPC_LOCK (the store's resident memory) and
        # CAP_SYS_NICE (nice -10 for the threads every issuance waits for), no other
        with open("/proc/self/status") as f:
            mine = int(dict(line.rstrip("\n").split(":\t", 1) for line in f
                            if ":\t" in line)["CapEff"], 16)
        caps = 0 if mine & (1 << 24) else 1 << 14 | 1 << 23
        assert int(st["CapEff"], 16) == caps and int(st["CapPrm"], 16) == caps, st
        # its own session without a terminal; stdin /dev/null, stdout and stderr a pipe
        # (nothing it holds reaches the supervisor's terminal or log file)
        with open(f"/proc/{web}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        session, tty = int(fields[3]), int(fields[4])
        assert session == web and tty == 0, fields
        assert os.readlink(f"/proc/{web}/fd/0") == "/dev/null"
        for fd in (1, 2):
            assert os.readlink(f"/proc/{web}/fd/{fd}").startswith("pipe:")
        assert not os.readlink(f"/proc/{srv.proc.pid}/fd/2").startswith("pipe:")
        assert st["NoNewPrivs"] == "1"
        assert st["Seccomp"] == "2"
        # the signer keeps its own identity (root here); the two never share a uid
        assert status(signer)["Uid"].split()[0] == "0"
        # the store and the outbox are the web user's; keys/ and the data directory are not
        db_dir = os.stat(os.path.dirname(ca.db)) if ca.backend == "sqlite" else None
        if db_dir is not None:
            assert db_dir.st_uid == shomei.pw_uid and db_dir.st_mode & 0o777 == 0o700
        keys = os.stat(ca.path("keys"))
        assert keys.st_uid == 0 and keys.st_mode & 0o077 == 0
        top = os.stat(ca.datadir)
        assert top.st_uid != shomei.pw_uid and top.st_mode & 0o022 == 0
        # and it serves: an OCSP/CRL fetch and the portal answer
        import urllib.request
        with urllib.request.urlopen(srv.http + "/ca/shomei.pem", timeout=10) as r:
            assert r.status == 200
    finally:
        stop_server(srv)


def test_web_identity_cannot_reach_keys(ca_sqlite):
    ca = ca_sqlite
    srv = start_server(ca)
    try:
        web, signer = procs(srv)
        view = "/run/shomei/data"
        # in its namespace the data directory is at /run/shomei/data, keys/ covered
        p = as_web(web, "ls", view)
        assert p.returncode == 0 and b"certs" in p.stdout and b"db" in p.stdout, p
        for path in (f"{view}/keys/issuing.key.pem", f"{view}/keys/passphrase",
                     f"{view}/keys/https.key.pem", f"{view}/keys/portal.key",
                     f"{view}/keys/mail.key", ca.path("keys", "mail.key"),
                     ca.path("keys", "issuing.key.pem"), ca.path("keys", "passphrase"),
                     f"{view}/shomei.conf", ca.path("shomei.conf"), f"{view}/signer.log",
                     ca.root_key, f"/proc/{signer}/mem", f"/proc/{signer}/environ",
                     f"/proc/{srv.proc.pid}/environ", f"/proc/{srv.proc.pid}/mem",
                     f"/proc/{web}/environ", f"/proc/{web}/mem", f"/proc/{signer}/maps"):
            p = as_web(web, "head", "-c", "16", path)
            assert p.returncode != 0 and p.stdout == b"", (path, p)
        p = as_web(web, "ls", f"{view}/keys")
        assert p.returncode != 0, p
        # the mail queue's key was read (made) by the web process before it lost keys/
        st = os.stat(ca.path("keys", "mail.key"))
        assert st.st_uid == 0 and st.st_mode & 0o777 == 0o600 and st.st_size == 32
        # it cannot replace the configuration or the key directory the signer reads
        for cmd in (["touch", f"{view}/shomei.conf"], ["mv", f"{view}/keys", f"{view}/k2"],
                    ["touch", f"{view}/new-file"], ["rm", "-f", f"{view}/certs/issuing.pem"]):
            p = as_web(web, *cmd)
            assert p.returncode != 0, (cmd, p)
        # what it must write, it can: the store's directory
        p = as_web(web, "touch", f"{view}/db/probe")
        assert p.returncode == 0, p
        os.unlink(ca.path("db", "probe"))
    finally:
        stop_server(srv)


def test_web_memory_and_environment_hold_no_secret(ca_sqlite, tmp_path):
    """The passphrase given inline in shomei.conf and in the environment: the signer uses it,
    the supervisor holds it (so the scan can find it), the web process nowhere in memory."""
    ca = ca_sqlite
    with open(ca.path("keys", "passphrase")) as f:
        passphrase = f.read().strip()
    with open(ca.path("shomei.conf")) as f:
        conf = f.read()
    conf = re.sub(r"(?m)^key_passphrase_file = .*$", f"key_passphrase = {passphrase}", conf)
    with open(ca.path("shomei.conf"), "w") as f:
        f.write(conf)
    os.unlink(ca.path("keys", "passphrase"))
    env_secret = "envsecret-" + secrets.token_hex(16)
    other_secret = "othersecret-" + secrets.token_hex(16)
    old = {k: os.environ.get(k) for k in ("SHOMEI_KEY_PASSPHRASE", "SOME_API_TOKEN")}
    os.environ["SHOMEI_KEY_PASSPHRASE"] = env_secret
    os.environ["SOME_API_TOKEN"] = other_secret
    try:
        srv = start_server(ca)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        web, signer = procs(srv)
        needles = [passphrase.encode(), env_secret.encode(), other_secret.encode()]
        # the scan works: the supervisor holds all three
        assert memory_holds(srv.proc.pid, needles) == set(needles)
        assert memory_holds(web, needles) == set()
        with open(f"/proc/{web}/environ", "rb") as f:
            env = f.read()
        assert env_secret.encode() not in env and other_secret.encode() not in env
        assert b"PATH=" in env
        # and the web process still works with the signer (the signer read the passphrase)
        import urllib.request
        with urllib.request.urlopen(srv.http + "/healthz", timeout=10) as r:
            assert b'"signer":"ok"' in r.read()
    finally:
        stop_server(srv)


def test_serve_refuses_a_root_key_in_the_data_directory(ca_sqlite):
    ca = ca_sqlite
    assert os.path.exists(ca.root_key) and not os.path.exists(ca.path("keys", "root.key.pem"))
    shutil.copy(ca.root_key, ca.path("keys", "root.key.pem"))
    p = subprocess.run([SHOMEI, "-d", ca.datadir, "serve", "--http", "127.0.0.1:0",
                        "--https", "off"], capture_output=True, timeout=60)
    assert p.returncode == 1, p
    assert b"root CA's key is in the data directory" in p.stderr, p.stderr
    assert b"move it offline" in p.stderr


def test_serve_refuses_a_store_the_web_user_cannot_own(tmp_path):
    d = str(tmp_path / "var")
    subprocess.run([SHOMEI, "-d", d, "init", "--store", "sqlite:shomei.db"], check=True,
                   capture_output=True, timeout=120)
    p = subprocess.run([SHOMEI, "-d", d, "serve", "--http", "127.0.0.1:0", "--https", "off"],
                       capture_output=True, timeout=60)
    assert p.returncode == 1, p
    assert b"directory of its own" in p.stderr and b"sqlite:db/shomei.db" in p.stderr, p.stderr


@pytest.mark.parametrize("user,message", [("root", b"must not run as root"),
                                          ("no-such-user-x", b"no account")])
def test_web_user_refused(ca_sqlite, user, message):
    with open(ca_sqlite.path("shomei.conf"), "a") as f:
        f.write(f"\nweb.user = {user}\n")
    p = subprocess.run([SHOMEI, "-d", ca_sqlite.datadir, "serve", "--http", "127.0.0.1:0",
                        "--https", "off"], capture_output=True, timeout=60)
    assert p.returncode == 1 and message in p.stderr, p


def test_root_commands_do_not_follow_links_in_the_store_directory(ca_sqlite, tmp_path):
    """db/ belongs to the web user, who could plant a link there for the next root command
    (`shomei cert list` would create or open the file it points to): the store refuses it,
    and serve refuses to hand a linked entry over."""
    ca = ca_sqlite
    target = tmp_path / "elsewhere.db"
    os.rename(ca.db, target)
    os.symlink(target, ca.db)
    p = ca.run("cert", "list")
    assert p.returncode != 0, p
    before = os.stat(target)
    p = subprocess.run([SHOMEI, "-d", ca.datadir, "serve", "--http", "127.0.0.1:0",
                        "--https", "off"], capture_output=True, timeout=60)
    assert p.returncode == 1 and b"not a plain file or directory" in p.stderr, p
    after = os.stat(target)
    assert (after.st_uid, after.st_mode) == (before.st_uid, before.st_mode)


def test_stopped_old_web_is_killed_after_a_reload(ca_sqlite):
    """A retired web process that never finishes (stopped here) is killed after twice
    http.timeout plus 5 s, with its signer, and the next reload is not blocked."""
    import signal
    import time
    srv = start_server(ca_sqlite, extra_conf="http.timeout = 2")
    try:
        web, signer = procs(srv)
        os.kill(web, signal.SIGSTOP)
        srv.proc.send_signal(signal.SIGHUP)
        end = time.time() + 30
        while time.time() < end and os.path.exists(f"/proc/{web}"):
            time.sleep(0.2)
        assert not os.path.exists(f"/proc/{web}"), srv.log_text()
        assert not os.path.exists(f"/proc/{signer}"), srv.log_text()
        assert "did not finish within 9 s; killing it" in srv.log_text()
        srv.proc.send_signal(signal.SIGHUP)
        end = time.time() + 30
        while time.time() < end and srv.log_text().count("configuration reloaded") < 2:
            time.sleep(0.2)
        assert srv.log_text().count("configuration reloaded") == 2, srv.log_text()
    finally:
        stop_server(srv)
