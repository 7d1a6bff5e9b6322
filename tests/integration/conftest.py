"""Shared fixtures: a real shomei binary, a fresh CA per test, both store backends."""
import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHOMEI = os.environ.get("SHOMEI_BIN", os.path.join(ROOT, "build", "shomei"))


def pg_conninfo():
    """The throwaway cluster started by scripts/with-pg.sh; the PG tests fail without it."""
    return os.environ.get("SHOMEI_TEST_PG")


class Instance:
    """One initialised shomei data directory."""

    def __init__(self, datadir, backend, pgdb=None):
        self.datadir = datadir
        self.backend = backend
        self.pgdb = pgdb

    def run(self, *args, input=None, env=None, timeout=120):
        e = dict(os.environ)
        if env:
            e.update(env)
        return subprocess.run([SHOMEI, "-d", self.datadir, *args], input=input,
                              capture_output=True, timeout=timeout, env=e)

    def ok(self, *args, **kw):
        p = self.run(*args, **kw)
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
        return p.stdout.decode()

    def path(self, *parts):
        return os.path.join(self.datadir, *parts)

    def sql(self, query):
        """Runs SQL directly against the store (for tamper tests); returns rows as lists."""
        if self.backend == "sqlite":
            import sqlite3
            con = sqlite3.connect(self.path("shomei.db"))
            try:
                cur = con.execute(query)
                rows = cur.fetchall()
                con.commit()
                return [list(r) for r in rows]
            finally:
                con.close()
        host = os.environ["SHOMEI_TEST_PGHOST"]
        p = subprocess.run(["psql", "-h", host, "-U", "postgres", "-d", self.pgdb, "-At",
                            "-v", "ON_ERROR_STOP=1", "-c", query],
                           capture_output=True, check=True, timeout=60)
        return [line.split("|") for line in p.stdout.decode().splitlines() if line]


def make_pg_db():
    host = os.environ.get("SHOMEI_TEST_PGHOST")
    assert host, "PostgreSQL tests need scripts/with-pg.sh (SHOMEI_TEST_PG unset)"
    name = "t_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", "-h", host, "-U", "postgres", "-d", "postgres", "-c",
                    f"CREATE DATABASE {name}"], check=True, capture_output=True, timeout=60)
    return name, f"host={host} dbname={name} user=postgres"


def new_instance(tmp_path, backend, *init_args, env=None):
    datadir = str(tmp_path / "var")
    pgdb = None
    args = list(init_args)
    if backend == "pg":
        pgdb, conninfo = make_pg_db()
        args += ["--store", conninfo]
    inst = Instance(datadir, backend, pgdb)
    p = inst.run("init", *args, env=env)
    assert p.returncode == 0, p.stderr
    return inst


@pytest.fixture(params=["sqlite", "pg"])
def ca(request, tmp_path):
    return new_instance(tmp_path, request.param)


@pytest.fixture
def ca_sqlite(tmp_path):
    return new_instance(tmp_path, "sqlite")


def openssl(*args, input=None, check=True):
    p = subprocess.run(["openssl", *args], input=input, capture_output=True, timeout=120)
    if check:
        assert p.returncode == 0, (args, p.stderr)
    return p


def make_csr(tmp_path, subj="/CN=test", san=None, key="ec:P-256", name=None, extra=()):
    """Key + CSR made by `openssl req`; returns (csr_path, key_path)."""
    name = name or uuid.uuid4().hex[:8]
    keyp = str(tmp_path / f"{name}.key")
    csrp = str(tmp_path / f"{name}.csr")
    if key.startswith("ec:"):
        newkey = ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{key[3:]}"]
    else:
        newkey = ["-newkey", key]
    args = ["req", "-new", *newkey, "-nodes", "-keyout", keyp, "-out", csrp, "-subj", subj,
            "-utf8"]
    if san:
        args += ["-addext", f"subjectAltName={san}"]
    args += list(extra)
    openssl(*args)
    return csrp, keyp


@pytest.fixture
def tmpdir_short():
    d = tempfile.mkdtemp(prefix="shomei-it-")
    yield d
    shutil.rmtree(d, ignore_errors=True)
