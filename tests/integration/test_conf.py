"""shomei.conf keys: every module lists the exact keys it reads (`shomei conf keys`), docs/config.md
documents exactly those, and an unknown key stops `serve` and `init --check` with its line and
the nearest known key."""
import os
import re
import subprocess

from conftest import ROOT, SHOMEI, free_port

CONFIG_MD = os.path.join(ROOT, "docs", "config.md")


def known_keys():
    p = subprocess.run([SHOMEI, "conf", "keys"], capture_output=True, check=True)
    keys = p.stdout.decode().split("\n")
    assert keys[-1] == "", "conf keys: output does not end in a newline"
    keys = keys[:-1]
    assert keys, "conf keys: no keys listed"
    assert keys == sorted(set(keys)), "conf keys: not sorted, or a key listed twice"
    for k in keys:
        assert re.fullmatch(r"[a-z0-9_.-]+", k), ("conf keys: not a plain key", k)
    return set(keys)


def documented_keys():
    """The backquoted names in the first column of docs/config.md's tables; `<name>` stands
    for one word (profile.<name>.max_days)."""
    keys = set()
    with open(CONFIG_MD, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("|") or line.startswith("|---"):
                continue
            first = line.split("|")[1]
            keys.update(re.findall(r"`([^`]+)`", first))
    assert keys, "docs/config.md: no table rows"
    return keys


def doc_matches(doc, key):
    rx = re.escape(doc).replace(re.escape("<name>"), "[a-z0-9-]+")
    return re.fullmatch(rx, key) is not None


def test_config_md_matches_known_keys():
    known = known_keys()
    documented = documented_keys()
    undocumented = {k for k in known if not any(doc_matches(d, k) for d in documented)}
    unknown = {d for d in documented if not any(doc_matches(d, k) for k in known)}
    assert not undocumented, ("known keys missing from docs/config.md", sorted(undocumented))
    assert not unknown, ("docs/config.md documents keys nothing reads", sorted(unknown))


def test_keys_init_writes_are_known():
    """Every key `shomei init` may write into shomei.conf (whatever its options) is known."""
    with open(os.path.join(ROOT, "src", "ca", "init.c"), encoding="utf-8") as f:
        src = f.read()
    written = set(re.findall(r'"(?:\\n)*([a-z0-9_.]+) = ', src))
    written |= set(re.findall(r'conf_set\(&tmpconf, "([a-z0-9_.]+)"', src))
    assert {"ca_name", "store", "ca.key", "key_passphrase_file", "key_passphrase_env",
            "pkcs11.pin_env", "pkcs11.module", "mail.from", "listen.https"} <= written, written
    assert written <= known_keys(), sorted(written - known_keys())


def test_init_check(ca_sqlite):
    p = ca_sqlite.run("init", "--check")
    assert p.returncode == 0 and p.stdout == b"configuration ok\n", (p.stdout, p.stderr)

    # a typo: its line, and the key it was meant to be
    conf = ca_sqlite.path("shomei.conf")
    with open(conf) as f:
        lines = f.read().split("\n")
    with open(conf, "a") as f:
        f.write("portal.step1_rat = 3\n")
    p = ca_sqlite.run("init", "--check")
    assert p.returncode == 1 and p.stdout == b"", (p.stdout, p.stderr)
    assert (f'shomei.conf:{len(lines)}: unknown key "portal.step1_rat" '
            f'(did you mean "portal.step1_rate"?)').encode() in p.stderr, p.stderr
    # every command that opens the CA refuses it the same way
    p = ca_sqlite.run("cert", "list")
    assert p.returncode == 1 and b'did you mean "portal.step1_rate"' in p.stderr, p.stderr

    # a transposition counts as one edit; a key like no known one gets no suggestion
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "portal.captcha_tlt = 600\n")
    p = ca_sqlite.run("init", "--check")
    assert p.returncode == 1 and b'(did you mean "portal.captcha_ttl"?)' in p.stderr, p.stderr
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "frobnicate = 1\n")
    p = ca_sqlite.run("init", "--check")
    assert p.returncode == 1 and b'unknown key "frobnicate"\n' in p.stderr, p.stderr
    assert b"did you mean" not in p.stderr

    # the wildcards of old are gone: a key nothing reads is refused
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "acme.directory = x\n")
    assert ca_sqlite.run("init", "--check").returncode == 1

    # a bad value of the CA's own settings is found too; --check makes nothing
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "crl.hours = soon\n")
    p = ca_sqlite.run("init", "--check")
    assert p.returncode == 1 and b"crl.hours" in p.stderr, p.stderr
    assert ca_sqlite.run("init", "--check", "--ca-name", "x").returncode == 2


def test_init_check_without_ca(tmp_path):
    p = subprocess.run([SHOMEI, "-d", str(tmp_path / "none"), "init", "--check"],
                       capture_output=True, timeout=30)
    assert p.returncode == 1 and b"no CA here" in p.stderr, p.stderr
    assert not os.path.exists(tmp_path / "none")


def test_serve_refuses_unknown_key(ca_sqlite):
    with open(ca_sqlite.path("shomei.conf"), "a") as f:
        f.write("\nmail.smtp_pasword = secret\n")
    p = subprocess.run([SHOMEI, "-d", ca_sqlite.datadir, "serve", "--http",
                        f"127.0.0.1:{free_port()}", "--https", "off"],
                       capture_output=True, timeout=30)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert (b'unknown key "mail.smtp_pasword" (did you mean "mail.smtp_password"?)'
            in p.stderr), p.stderr
