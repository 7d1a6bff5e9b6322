"""shomei backup / backup --verify / restore (docs/backup.md): a snapshot taken during an
issuance burst holds every certificate acknowledged before it began, restores elsewhere and
serves; damage is found; keys never leave in clear; PostgreSQL goes through pg_dump."""
import glob
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import threading
import time

import requests

from conftest import (SHOMEI, Instance, make_csr, make_pg_db, new_instance, openssl,
                      start_server, stop_server)

PASS = "correct horse battery staple 4711"


def shomei(*args, env=None, timeout=120):
    e = dict(os.environ)
    e.pop("SHOMEI_BACKUP_PASSPHRASE", None)
    if env:
        e.update(env)
    return subprocess.run([SHOMEI, *args], capture_output=True, timeout=timeout, env=e)


def api_key(inst, code="BAK", domain="bak.example"):
    inst.ok("org", "add", code, "--name", code + " Inc.", "--domain", domain)
    key = inst.ok("apikey", "create", "--org", code).strip()
    assert re.fullmatch(r"shk_[0-9a-f]{16}_[0-9a-f]{64}", key), key
    return key


def serials_in(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {r[0] for r in con.execute("SELECT serial FROM certificates")}
    finally:
        con.close()


def no_leftovers(path):
    """A refused or failed backup/restore leaves neither the target nor a temporary tree."""
    assert not os.path.exists(path), path
    assert glob.glob(path + ".tmp-*") == [] and glob.glob(path + ".restore-*") == []


def secrets_of(keysdir):
    """The raw bytes of every key file (what must never appear in clear in a backup)."""
    out = {}
    for name in sorted(os.listdir(keysdir)):
        with open(os.path.join(keysdir, name), "rb") as f:
            out[name] = f.read()
    return out


def assert_not_in_clear(backup, secrets):
    blobs = []
    for root, _, files in os.walk(backup):
        for n in files:
            with open(os.path.join(root, n), "rb") as f:
                blobs.append((n, f.read()))
    for name, data in secrets.items():
        probes = [data, data.strip()]
        if b"-----BEGIN" in data:  # an (encrypted) PEM: its base64 body too
            probes += [ln for ln in data.splitlines() if len(ln) > 40]
        else:
            probes += [data.hex().encode(), data.hex().upper().encode()]
        for fn, blob in blobs:
            for p in probes:
                assert len(p) < 16 or p not in blob, (name, "found in clear in", fn)


def test_backup_during_burst_restore_serve(ca_sqlite, tmp_path):
    inst = ca_sqlite
    key = api_key(inst)
    csrs = [make_csr(tmp_path, f"/CN=h{i}.bak.example", san=f"DNS:h{i}.bak.example")[0]
            for i in range(4)]
    bodies = []
    for c in csrs:
        with open(c) as f:
            bodies.append({"profile": "server", "csr": f.read()})
    srv = start_server(inst)
    acked = []  # (monotonic time the 201 was read, serial)
    lock = threading.Lock()
    stop = threading.Event()
    errors = []

    def burst(i):
        s = requests.Session()
        s.trust_env = False
        s.headers["Authorization"] = "Bearer " + key
        while not stop.is_set():
            try:
                r = s.post(srv.https + "/api/v1/certificates", json=bodies[i],
                           verify=srv.cafile, timeout=60)
            except requests.RequestException as ex:
                errors.append(repr(ex))
                return
            t = time.monotonic()
            if r.status_code != 201:
                errors.append((r.status_code, r.text[:200]))
                return
            with lock:
                acked.append((t, r.json()["serial"]))

    threads = [threading.Thread(target=burst, args=(i,)) for i in range(4)]
    dest = str(tmp_path / "bk")
    try:
        for t in threads:
            t.start()
        time.sleep(1.5)
        began = time.monotonic()
        p = shomei("-d", inst.datadir, "backup", "--keys", dest,
                   env={"SHOMEI_BACKUP_PASSPHRASE": PASS})
        ended = time.monotonic()
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        stop_server(srv)
    assert p.returncode == 0, p.stderr
    assert not errors, errors[:3]
    before = {s for t, s in acked if t < began}
    during = {s for t, s in acked if began <= t < ended}
    assert len(before) >= 20, len(before)  # a real burst was under way
    assert glob.glob(dest + ".tmp-*") == []

    # modes: nothing readable by others
    for root, dirs, files in os.walk(dest):
        for d in dirs:
            assert os.stat(os.path.join(root, d)).st_mode & 0o777 == 0o700
        for n in files:
            assert os.stat(os.path.join(root, n)).st_mode & 0o777 == 0o600
    assert os.stat(dest).st_mode & 0o777 == 0o700
    # keys sealed: not one raw secret (passphrase, portal.key, mail.key, ...) in clear
    secrets = secrets_of(inst.path("keys"))
    assert {"passphrase", "portal.key", "mail.key"} <= set(secrets), secrets.keys()
    assert_not_in_clear(dest, secrets)
    assert not os.path.exists(os.path.join(dest, "keys"))

    v = shomei("backup", "--verify", dest)
    assert v.returncode == 0, v.stderr
    out = v.stdout.decode()
    assert "chain intact" in out and "keys: sealed" in out, out

    restored = str(tmp_path / "restored")
    r = shomei("-d", restored, "restore", dest)  # keys inside: passphrase required
    assert r.returncode == 1 and b"passphrase" in r.stderr, r.stderr
    no_leftovers(restored)
    pf = tmp_path / "pass"
    pf.write_text(PASS + "\n")
    r = shomei("-d", restored, "restore", "--passphrase-file", str(pf), dest)
    assert r.returncode == 0, r.stderr
    got = serials_in(os.path.join(restored, "db", "shomei.db"))
    lost = before - got
    print(f"\nburst: {len(before)} certificates acknowledged before the backup began, "
          f"{len(before) - len(lost)} found after restore, {len(lost)} lost; "
          f"{len(during)} acknowledged while it ran, {len(during & got)} of them in it; "
          f"{len(got)} certificates in the backup")
    assert not lost, sorted(lost)[:5]
    assert secrets_of(os.path.join(restored, "keys")) == secrets
    assert os.stat(os.path.join(restored, "keys")).st_mode & 0o777 == 0o700
    assert os.stat(os.path.join(restored, "db", "shomei.db")).st_mode & 0o777 == 0o600
    rinst = Instance(restored, "sqlite")
    assert "audit chain intact" in rinst.ok("audit", "verify")
    r = shomei("-d", restored, "restore", "--passphrase-file", str(pf), dest)
    assert r.returncode == 1 and b"not empty" in r.stderr, r.stderr  # never over a store

    # the restored directory serves: REST with the backed-up key, OCSP for a backed-up cert
    rsrv = start_server(rinst)
    try:
        serial = sorted(before)[0]
        s = requests.Session()
        s.trust_env = False
        g = s.get(rsrv.https + "/api/v1/certificates/" + serial, verify=rsrv.cafile,
                  headers={"Authorization": "Bearer " + key}, timeout=30)
        assert g.status_code == 200 and g.json()["status"] == "valid", g.text
        leaf = tmp_path / "leaf.pem"
        leaf.write_text(g.json()["certificate"])
        o = openssl("ocsp", "-issuer", rinst.path("certs", "issuing.pem"), "-cert", str(leaf),
                    "-url", rsrv.http + "/ocsp", "-CAfile", rinst.path("certs", "root.pem"))
        text = (o.stdout + o.stderr).decode()
        assert "Response verify OK" in text and ": good" in text, text
        n = s.post(rsrv.https + "/api/v1/certificates", json=bodies[0], verify=rsrv.cafile,
                   headers={"Authorization": "Bearer " + key}, timeout=30)
        assert n.status_code == 201, n.text  # the restored keys sign
    finally:
        stop_server(rsrv)


def rewrite_manifest(dest, fix):
    """Applies fix to the manifest's lines and seals it again with a correct "end" hash (an
    attacker's or a careless hand's edit that the hashes alone would not catch)."""
    path = os.path.join(dest, "MANIFEST")
    with open(path) as f:
        lines = [ln for ln in f.read().splitlines() if not ln.startswith("end ")]
    body = "".join(ln + "\n" for ln in fix(lines))
    with open(path, "w") as f:
        f.write(body + "end " + hashlib.sha256(body.encode()).hexdigest() + "\n")


def test_verify_finds_damage_and_refusals(ca_sqlite, tmp_path):
    inst = ca_sqlite
    csr, _ = make_csr(tmp_path, "/CN=x", san="email:x@example.com")
    inst.ok("issue", "--profile", "client", "--csr", csr)
    dest = str(tmp_path / "bk")
    # nothing there, or no manifest: a clear refusal
    for missing in (str(tmp_path / "none"), inst.path("certs")):
        v = shomei("backup", "--verify", missing)
        assert v.returncode == 1 and b"MANIFEST" in v.stderr, (v.returncode, v.stderr)
    # --keys without a passphrase (or a short one) is refused, nothing written
    p = shomei("-d", inst.datadir, "backup", "--keys", dest)
    assert p.returncode == 1 and b"passphrase" in p.stderr, p.stderr
    no_leftovers(dest)
    p = shomei("-d", inst.datadir, "backup", "--keys", dest,
               env={"SHOMEI_BACKUP_PASSPHRASE": "short"})
    assert p.returncode == 1 and b"at least 12" in p.stderr, p.stderr
    no_leftovers(dest)
    # a failure half-way (the store copied, then a file of keys/ too large to seal): the
    # temporary tree is removed, DEST never appears
    big = inst.path("keys", "big.bin")
    with open(big, "wb") as f:
        f.write(b"\0" * (1024 * 1024 + 1))
    p = shomei("-d", inst.datadir, "backup", "--keys", dest,
               env={"SHOMEI_BACKUP_PASSPHRASE": PASS})
    assert p.returncode == 1 and b"big.bin" in p.stderr, p.stderr
    no_leftovers(dest)
    os.unlink(big)
    # a non-empty DEST is refused
    os.makedirs(dest)
    open(os.path.join(dest, "x"), "w").close()
    p = shomei("-d", inst.datadir, "backup", dest)
    assert p.returncode == 1 and b"not empty" in p.stderr, p.stderr
    shutil.rmtree(dest)
    os.makedirs(dest)  # an empty one is taken
    inst.ok("backup", dest)
    assert shomei("backup", "--verify", dest).returncode == 0

    store = os.path.join(dest, "store.db")
    man = os.path.join(dest, "MANIFEST")
    with open(store, "rb") as f:
        good_store = f.read()
    with open(man, "rb") as f:
        good_man = f.read()

    def refused(*words):
        v = shomei("backup", "--verify", dest)
        err = v.stderr.decode()
        assert v.returncode == 1, (v.stdout, err)
        for w in words:
            assert w in err, err
        r = shomei("-d", str(tmp_path / "r"), "restore", dest)
        assert r.returncode == 1, r.stderr
        no_leftovers(str(tmp_path / "r"))

    # one byte flipped in the store copy
    bad = bytearray(good_store)
    bad[len(bad) // 2] ^= 0x01
    with open(store, "wb") as f:
        f.write(bad)
    refused("store.db", "does not match the manifest")
    with open(store, "wb") as f:
        f.write(good_store)
    # one byte flipped in the manifest
    for off in (good_man.index(b"certificates ") + 13, len(good_man) - 10):
        bad = bytearray(good_man)
        bad[off] ^= 0x01
        with open(man, "wb") as f:
            f.write(bad)
        refused("manifest")
    with open(man, "wb") as f:
        f.write(good_man)
    # an audit entry altered in the copy, its manifest line redone: the chain walk finds it
    con = sqlite3.connect(store)
    con.execute("UPDATE audit SET detail = detail || 'x' WHERE seq = 2")
    con.commit()
    con.close()
    size, digest = os.path.getsize(store), hashlib.sha256(open(store, "rb").read()).hexdigest()
    rewrite_manifest(dest, lambda ls: [f"file {size} {digest} store.db"
                                       if ln.endswith(" store.db") else ln for ln in ls])
    refused("audit chain broken at entry 2")
    with open(store, "wb") as f:
        f.write(good_store)
    with open(man, "wb") as f:
        f.write(good_man)
    # a manifest naming a path outside the backup
    rewrite_manifest(dest, lambda ls: ls + ["file 4 " + "0" * 64 + " ../etc"])
    refused("not a plain relative name")
    with open(man, "wb") as f:
        f.write(good_man)
    assert shomei("backup", "--verify", dest).returncode == 0


def test_postgresql_dump_restore_verifies(tmp_path):
    inst = new_instance(tmp_path, "pg")
    serials = set()
    for i in range(3):
        csr, _ = make_csr(tmp_path, f"/CN=p{i}", san=f"email:p{i}@example.com")
        pem = inst.ok("issue", "--profile", "client", "--csr", csr)
        serials.add(openssl("x509", "-noout", "-serial", input=pem.encode())
                    .stdout.decode().strip().split("=")[1])
    inst.ok("revoke", sorted(serials)[0], "--reason", "keyCompromise")
    # shomei backup refuses a PostgreSQL store and points to the procedure
    dest = str(tmp_path / "bk")
    p = inst.run("backup", dest)
    assert p.returncode == 1 and b"pg_dump" in p.stderr and b"docs/backup.md" in p.stderr
    no_leftovers(dest)

    # docs/backup.md: pg_dump --format=custom, pg_restore into a new database
    host = os.environ["SHOMEI_TEST_PGHOST"]
    dump = str(tmp_path / "shomei.dump")
    subprocess.run(["pg_dump", "-h", host, "-U", "postgres", "--format=custom", "-f", dump,
                    inst.pgdb], check=True, capture_output=True, timeout=120)
    # as the new database's owner, a role that is no superuser (a dump is arbitrary SQL)
    newdb, _ = make_pg_db()
    owner = "o_" + newdb
    for sql in (f"CREATE ROLE {owner} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB",
                f"ALTER DATABASE {newdb} OWNER TO {owner}"):
        subprocess.run(["psql", "-h", host, "-U", "postgres", "-d", "postgres", "-v",
                        "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True,
                       timeout=60)
    conninfo = f"host={host} dbname={newdb} user={owner}"
    r = subprocess.run(["pg_restore", "-h", host, "-U", owner, "--no-owner", "-d", newdb,
                        "--exit-on-error", dump], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    # the restored database under a copy of the configuration and certs/
    rdir = str(tmp_path / "restored")
    os.makedirs(rdir)
    shutil.copytree(inst.path("certs"), os.path.join(rdir, "certs"))
    with open(inst.path("shomei.conf")) as f:
        conf = re.sub(r"(?m)^store\s*=.*$", f"store = {conninfo}", f.read())
    with open(os.path.join(rdir, "shomei.conf"), "w") as f:
        f.write(conf)
    rinst = Instance(rdir, "pg", newdb)
    assert "audit chain intact" in rinst.ok("audit", "verify")
    listed = rinst.ok("cert", "list")
    for s in serials:
        assert s in listed, (s, listed)
    assert rinst.sql("SELECT status FROM certificates WHERE serial = '%s'"
                     % sorted(serials)[0]) == [["1"]]
    # the chain of the original and of the restored database end at the same head
    assert inst.sql("SELECT seq, encode(hash, 'hex') FROM audit_head") == \
        rinst.sql("SELECT seq, encode(hash, 'hex') FROM audit_head")


def tree_state(path):
    """Every entry under path (names, kinds, modes) and every file's SHA-256: a read that
    leaves this unchanged wrote nothing there."""
    out = {}
    for root, dirs, files in os.walk(path):
        for n in sorted(dirs + files):
            p = os.path.join(root, n)
            st = os.lstat(p)
            h = None
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    h = hashlib.sha256(f.read()).hexdigest()
            out[os.path.relpath(p, path)] = (st.st_mode, st.st_size, h)
    return out


def fix_line(dest, rel):
    """The manifest line of rel redone from the file as it is now (the edit then passes the
    hashes: only the deeper checks can find it)."""
    p = os.path.join(dest, rel)
    size, digest = os.path.getsize(p), hashlib.sha256(open(p, "rb").read()).hexdigest()
    rewrite_manifest(dest, lambda ls: [f"file {size} {digest} {rel}"
                                       if ln.endswith(" " + rel) else ln for ln in ls])


def test_hostile_backups(ca_sqlite, tmp_path):
    inst = ca_sqlite
    serials = []
    for i in range(2):
        csr, _ = make_csr(tmp_path, f"/CN=h{i}", san=f"email:h{i}@example.com")
        pem = inst.ok("issue", "--profile", "client", "--csr", csr)
        serials.append(openssl("x509", "-noout", "-serial", input=pem.encode())
                       .stdout.decode().strip().split("=")[1])
    inst.ok("revoke", serials[0], "--reason", "keyCompromise")
    dest = str(tmp_path / "bk")
    inst.ok("backup", dest)
    store = os.path.join(dest, "store.db")
    man = os.path.join(dest, "MANIFEST")
    conf = os.path.join(dest, "shomei.conf")
    good = {n: open(os.path.join(dest, n), "rb").read() for n in ("store.db", "MANIFEST",
                                                                  "shomei.conf")}
    # the writer's copy is in rollback-journal mode: header bytes 18 and 19 are 1 and 1
    assert good["store.db"][18:20] == b"\x01\x01"
    rdir = str(tmp_path / "r")

    def put_back():
        for n, data in good.items():
            with open(os.path.join(dest, n), "wb") as f:
                f.write(data)

    def refused(*words, verify=True):
        before = tree_state(dest)
        t = time.monotonic()
        if verify:
            v = shomei("backup", "--verify", dest, timeout=20)
            err = v.stderr.decode()
            assert v.returncode == 1, (v.stdout, err)
            for w in words:
                assert w in err, err
        r = shomei("-d", rdir, "restore", dest, timeout=20)
        err = r.stderr.decode()
        assert r.returncode == 1, err
        for w in words:
            assert w in err, err
        assert time.monotonic() - t < 10
        no_leftovers(rdir)
        assert tree_state(dest) == before  # nothing written into the backup

    # verify writes nothing into the backup (no -shm, -journal, ...)
    before = tree_state(dest)
    assert shomei("backup", "--verify", dest).returncode == 0
    assert tree_state(dest) == before

    # the reviewer's attack: store.db switched to WAL mode with a -wal beside it that
    # un-revokes a certificate (same audit head, same counts)
    w = tmp_path / "wal"
    w.mkdir()
    shutil.copy(store, w / "store.db")
    con = sqlite3.connect(str(w / "store.db"))
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("UPDATE certificates SET status = 0, revoked_at = NULL WHERE serial = ?",
                (serials[0],))
    con.commit()
    shutil.copy(w / "store.db", store)
    shutil.copy(w / "store.db-wal", store + "-wal")
    con.close()
    fix_line(dest, "store.db")
    assert open(store, "rb").read()[18:20] == b"\x02\x02"
    refused("store.db-wal exists")
    # without its -wal: the header alone is refused
    os.unlink(store + "-wal")
    refused("header bytes 18 and 19 are 2 and 2")
    put_back()
    for extra in ("store.db-shm", "store.db-journal"):
        open(os.path.join(dest, extra), "wb").close()
        refused(extra + " exists")
        os.unlink(os.path.join(dest, extra))

    # a planted trigger (and a dropped index) in the copy, the manifest redone
    con = sqlite3.connect(store)
    con.execute("CREATE TRIGGER planted AFTER INSERT ON audit BEGIN "
                "UPDATE certificates SET status = 0; END")
    con.commit()
    con.close()
    fix_line(dest, "store.db")
    refused('unexpected trigger "planted"')
    put_back()
    con = sqlite3.connect(store)
    idx = con.execute("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL "
                      "ORDER BY name LIMIT 1").fetchone()[0]
    con.execute("DROP INDEX " + idx)
    con.commit()
    con.close()
    fix_line(dest, "store.db")
    refused(f'index "{idx}" missing')
    put_back()

    # a test.* key in the configuration: restore refuses it
    with open(conf, "a") as f:
        f.write("test.clock_offset = 86400\n")
    fix_line(dest, "shomei.conf")
    assert shomei("backup", "--verify", dest).returncode == 0
    refused('"test.clock_offset"', verify=False)
    put_back()

    # certs/ a symbolic link, a FIFO in place of a certificate: refused, never followed nor
    # waited on
    certs = os.path.join(dest, "certs")
    shutil.move(certs, str(tmp_path / "certs-real"))
    os.symlink(str(tmp_path / "certs-real"), certs)
    refused("certs: not a directory (a symbolic link is never followed)")
    os.unlink(certs)
    shutil.move(str(tmp_path / "certs-real"), certs)
    cert = os.path.join(certs, sorted(os.listdir(certs))[0])
    data = open(cert, "rb").read()
    os.unlink(cert)
    os.mkfifo(cert)
    refused("not a regular file")
    os.unlink(cert)
    with open(cert, "wb") as f:
        f.write(data)
    os.chmod(cert, 0o600)
    # MANIFEST itself a link: refused
    os.rename(man, man + ".real")
    os.symlink(man + ".real", man)
    refused("MANIFEST: a symbolic link, never followed")
    os.unlink(man)
    os.rename(man + ".real", man)
    assert shomei("backup", "--verify", dest).returncode == 0

    # a live store with an object the migrations do not make: backup refuses it at once
    con = sqlite3.connect(inst.path("db", "shomei.db"))
    con.execute("CREATE VIEW planted AS SELECT serial FROM certificates")
    con.commit()
    b = shomei("-d", inst.datadir, "backup", str(tmp_path / "bk3"))
    assert b.returncode == 1 and b'unexpected view "planted"' in b.stderr, b.stderr
    no_leftovers(str(tmp_path / "bk3"))
    con.execute("DROP VIEW planted")
    con.commit()
    con.close()

    # --keys with a key file that cannot be sealed (a link, a name backup_path_ok refuses):
    # the backup is refused, nothing written
    for bad in ("link.pem", ".hidden"):
        p = inst.path("keys", bad)
        if bad == "link.pem":
            os.symlink(inst.path("keys", "passphrase"), p)
        else:
            open(p, "w").close()
        d2 = str(tmp_path / "bk2")
        b = shomei("-d", inst.datadir, "backup", "--keys", d2,
                   env={"SHOMEI_BACKUP_PASSPHRASE": PASS})
        assert b.returncode == 1 and bad.encode() in b.stderr, b.stderr
        no_leftovers(d2)
        os.unlink(p)
