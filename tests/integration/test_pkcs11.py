"""The issuing CA key inside a SoftHSM2 token, used through the signer's PKCS#11 backend."""
import os
import subprocess

import pytest

from conftest import Instance, make_csr, openssl

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@pytest.fixture
def token(tmp_path):
    tokdir = tmp_path / "tokens"
    tokdir.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokdir}\nobjectstore.backend = file\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "shomei-test",
                    "--pin", "1234", "--so-pin", "5678"], check=True, env=env,
                   capture_output=True)
    subprocess.run(["pkcs11-tool", "--module", MODULE, "--login", "--pin", "1234",
                    "--keypairgen", "--key-type", "EC:prime256v1", "--label", "ca",
                    "--id", "01"], check=True, env=env, capture_output=True)
    return env


URI = "pkcs11:token=shomei-test;object=ca;type=private"


def test_issue_with_hsm_key(tmp_path, token):
    env = dict(token, SHOMEI_PKCS11_PIN="1234")
    inst = Instance(str(tmp_path / "var"), "sqlite")
    p = inst.run("init", "--ca-key", URI, env=env)
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(inst.path("keys", "issuing.key.pem"))
    csr, _ = make_csr(tmp_path, subj="/CN=hsm.example.jp", san="DNS:hsm.example.jp")
    out = str(tmp_path / "hsm.pem")
    p = inst.run("issue", "--profile", "server", "--csr", csr, "--out", out, env=env)
    assert p.returncode == 0, p.stderr
    v = openssl("verify", "-CAfile", inst.path("certs", "root.pem"), "-untrusted",
                inst.path("certs", "issuing.pem"), out, check=False)
    assert v.returncode == 0, v.stdout + v.stderr
    # a wrong PIN is reported clearly and issues nothing
    before = inst.ok("cert", "list", env=env)
    bad = dict(token, SHOMEI_PKCS11_PIN="9999")
    p = inst.run("issue", "--profile", "server", "--csr", csr, env=bad)
    assert p.returncode != 0 and b"PIN" in p.stderr, p.stderr
    assert inst.ok("cert", "list", env=env) == before


def test_init_with_wrong_pin(tmp_path, token):
    env = dict(token, SHOMEI_PKCS11_PIN="0000")
    inst = Instance(str(tmp_path / "var"), "sqlite")
    p = inst.run("init", "--ca-key", URI, env=env)
    assert p.returncode != 0 and b"PIN" in p.stderr, p.stderr
    assert not os.path.exists(inst.path("shomei.conf"))
