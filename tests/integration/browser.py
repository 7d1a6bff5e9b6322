"""A real headless Chromium driven by Selenium, for walks through the web pages.

The browser trusts the test instance's root CA the way a user's browser would: the root is
imported into a fresh NSS database ($HOME/.pki/nssdb, HOME a temporary directory given to
chromedriver and so to Chromium), and TLS verification stays on (no
--ignore-certificate-errors).  Each browser gets its own temporary profile; everything it
leaves is removed when it quits.

Use from a test (the `browser` fixture of conftest.py is a Browsers, a factory):

    b = browser(srv.cafile, lang="en")
    b.visit(srv.https + "/regist/step1", "step1")   # loads, waits, screenshots
    b.find("#ticket").send_keys("...")
    b.submit("button[type=submit]", "confirm")       # clicks, waits for the new page, shot
    ...
    browser.quit_all()   # before stop_server(srv), see below

A client certificate (as for the RA officers' console): browser(cafile, client_p12=(path, PIN))
imports a PKCS#12 into the new browser's NSS database before Chromium starts, and
auto_select_cert(url, issuer_cn) writes a machine policy (AutoSelectCertificateForUrls under
/etc/chromium/policies/managed/, root only) so that Chromium presents it at url without the
selection dialog (which a headless Chromium would wait on until the page load times out);
remove() the policy in a finally clause.

Screenshots (full page PNG) go to tests/artifacts/screenshots/<test name>/<NN>-<name>.png;
the directory of a test is emptied when the test starts and kept afterwards.  When a test
fails, each browser still open adds <NN>-failed.png of what it showed.

Quit the browsers before stopping the server: a browser keeps idle keep-alive connections
open, and shomei's shutdown waits up to its 30 s grace period (per listener) for every
connection to close.

Nothing is skipped: without Chromium, chromedriver or Selenium the test fails with a hint
to run scripts/deps.sh."""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CERTUTIL = "/usr/bin/certutil"
PK12UTIL = "/usr/bin/pk12util"
# where Chromium on Linux (Debian's build) reads the machine's mandatory policies
POLICY_DIR = "/etc/chromium/policies/managed"
SHOTS = os.path.join(ROOT, "tests", "artifacts", "screenshots")

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]
# --lang and the Accept-Language list of each page language
LANGS = {"ja": ("ja", "ja,en-US;q=0.8,en;q=0.7"), "en": ("en-US", "en-US,en;q=0.9")}
WINDOW = (1280, 1000)
PAGE_TIMEOUT = 20    # seconds for a page load or a wait
DRIVER_TIMEOUT = 60  # seconds for any one WebDriver command (HTTP to chromedriver)


def need(path, what):
    assert os.access(path, os.X_OK), f"{what} missing ({path}): run scripts/deps.sh"


def nss_trust(home, cafile):
    """A fresh NSS database under home/.pki/nssdb that trusts cafile as a TLS root: what
    Chromium on Linux reads for locally added trust anchors."""
    need(CERTUTIL, "certutil (libnss3-tools)")
    db = os.path.join(home, ".pki", "nssdb")
    os.makedirs(db, mode=0o700)
    for args in (["-N", "--empty-password"],
                 ["-A", "-n", "shomei test root", "-t", "C,,", "-i", cafile]):
        p = subprocess.run([CERTUTIL, "-d", "sql:" + db, *args], capture_output=True,
                           timeout=30)
        assert p.returncode == 0, ("certutil", args, p.stdout, p.stderr)
    p = subprocess.run([CERTUTIL, "-d", "sql:" + db, "-L"], capture_output=True, timeout=30)
    assert b"shomei test root" in p.stdout, p.stdout


def nss_import_p12(home, p12, pin):
    """Imports the PKCS#12 file p12 (its key and certificates) with its PIN into the NSS
    database of home (made by nss_trust): Chromium offers its certificate as a TLS client
    certificate.  Chromium reads the database when it starts: import before starting it."""
    need(PK12UTIL, "pk12util (libnss3-tools)")
    db = os.path.join(home, ".pki", "nssdb")
    p = subprocess.run([PK12UTIL, "-i", p12, "-W", pin, "-K", "", "-d", "sql:" + db],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, ("pk12util", p.stdout, p.stderr)
    p = subprocess.run([CERTUTIL, "-d", "sql:" + db, "-K", "-f", "/dev/null"],
                       capture_output=True, timeout=30)
    assert p.returncode == 0 and b"<" in p.stdout, ("no key imported", p.stdout, p.stderr)


class Policy:
    """A Chromium policy file of this test under POLICY_DIR, removed by remove() (call it
    from a finally clause): the directory is machine-wide, so the policy must only match the
    test's own URLs (its port).  Write it before starting the browser that needs it."""

    def __init__(self, policies):
        self.path = None
        assert os.geteuid() == 0 or os.access(POLICY_DIR, os.W_OK), \
            f"a Chromium policy needs a writable {POLICY_DIR} (run as root)"
        os.makedirs(POLICY_DIR, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="shomei-test-", suffix=".json", dir=POLICY_DIR)
        self.path = path
        with os.fdopen(fd, "w") as f:
            json.dump(policies, f)
        os.chmod(path, 0o644)

    def remove(self):
        """Removes the file (never the directory, which may hold others' policies)."""
        path, self.path = self.path, None
        if path is not None:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def auto_select_cert(url, issuer_cn):
    """Policy AutoSelectCertificateForUrls: at url (scheme://host:port, exactly), Chromium
    presents the client certificate whose issuer's CN is issuer_cn without asking."""
    rule = {"pattern": url, "filter": {"ISSUER": {"CN": issuer_cn}}}
    return Policy({"AutoSelectCertificateForUrls": [json.dumps(rule)]})


def auto_select_certs(rules):
    """AutoSelectCertificateForUrls with several rules: (url, filter) pairs, the filter as
    Chromium reads it ({"ISSUER": {"CN": ...}, "SUBJECT": {"CN": ...}}).  One browser holding
    several client certificates presents each at its own origin (e.g. https://localhost:P
    and https://127.0.0.1:P)."""
    return Policy({"AutoSelectCertificateForUrls": [json.dumps({"pattern": u, "filter": f})
                                                    for u, f in rules]})


_FONTS = []


def need_cjk_font():
    """A font with Japanese glyphs (fonts-noto-cjk), or the screenshots show boxes."""
    if not _FONTS:
        p = subprocess.run(["fc-list", ":lang=ja", "family"], capture_output=True, timeout=30)
        assert p.returncode == 0 and p.stdout.strip(), \
            "no Japanese font (fonts-noto-cjk): run scripts/deps.sh"
        _FONTS.append(p.stdout)


class Shots:
    """Numbered full-page screenshots of one test, shared by all its browsers."""

    def __init__(self, test_name):
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name).strip("_")
        self.dir = os.path.join(SHOTS, safe)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.n = 0
        self.files = []

    def path(self, name):
        self.n += 1
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")
        p = os.path.join(self.dir, "%02d-%s.png" % (self.n, safe))
        self.files.append(p)
        return p


class Browsers:
    """The browsers of one test (what the conftest `browser` fixture yields): calling it
    starts one; quit_all ends them all and reports the first failure to end one."""

    def __init__(self, test_name):
        self.shots = Shots(test_name)
        self.made = []

    def __call__(self, cafile, lang="ja", **kw):
        b = Browser(cafile, self.shots, lang, **kw)
        self.made.append(b)
        return b

    def shoot_all(self, name):
        """A screenshot of every browser still open (best effort: for a failure)."""
        for b in self.made:
            if b.driver is not None:
                try:
                    b.shot(name)
                except Exception:
                    pass

    def quit_all(self, failed=False):
        """Quits every browser; called while an exception propagates (as from a finally
        clause), or with failed, it first saves what each browser shows as <NN>-failed."""
        failed = failed or sys.exc_info()[0] is not None
        if failed:
            self.shoot_all("failed")
        first = None
        for i, b in enumerate(self.made):
            log = os.path.join(self.shots.dir, f"chromedriver-{i + 1}.log") if failed else None
            try:
                b.quit(log)
            except BaseException as ex:
                first = first or ex
        self.made = []
        if first is not None:
            raise first


def shot(driver, name):
    """Saves a full-page PNG of what driver shows (the whole document, not only the window)
    as <NN>-<name>.png in the test's screenshot directory; returns its path."""
    m = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = m.get("cssContentSize") or m["contentSize"]
    w = max(int(size["width"] + 0.999), 1)
    h = max(int(size["height"] + 0.999), 1)
    img = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True, "fromSurface": True,
        "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}})
    data = base64.b64decode(img["data"])
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), "not a PNG"
    path = driver.shomei_shots.path(name)
    with open(path, "wb") as f:
        f.write(data)
    return path


class Browser:
    """One headless Chromium (via chromedriver) with its own profile, HOME and trust store."""

    def __init__(self, cafile, shots, lang="ja", window=WINDOW, download_dir=None,
                 client_p12=None):
        """download_dir: where a clicked download is saved, without asking (else Chromium's
        default under the temporary HOME).  client_p12: (path, PIN) of a PKCS#12 imported into
        the browser's NSS database before it starts, its certificate a client certificate
        (see auto_select_cert to have it presented without a dialog); or a list of them."""
        need(CHROMIUM, "chromium")
        need(CHROMEDRIVER, "chromedriver (chromium-driver)")
        need_cjk_font()
        assert lang in LANGS, lang
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
            from selenium.webdriver.remote.remote_connection import RemoteConnection
        except ImportError as ex:
            raise AssertionError(f"python3-selenium missing ({ex}): run scripts/deps.sh")
        self.lang = lang
        self.driver = None
        self.tmp = tempfile.mkdtemp(prefix="shomei-browser-")
        self.log = os.path.join(self.tmp, "chromedriver.log")
        try:
            home = os.path.join(self.tmp, "home")
            os.makedirs(home)
            nss_trust(home, cafile)
            # one (path, PIN) or a list of them
            for p12 in ([client_p12] if isinstance(client_p12, tuple) else client_p12 or []):
                nss_import_p12(home, *p12)
            env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
                       XDG_CACHE_HOME=os.path.join(home, ".cache"), TMPDIR=self.tmp)
            # a proxy from the environment must not see (or break) loopback traffic
            for k in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                      "ALL_PROXY"):
                env.pop(k, None)
            opts = webdriver.ChromeOptions()
            opts.binary_location = CHROMIUM
            loc, accept = LANGS[lang]
            for f in FLAGS + ["--user-data-dir=" + os.path.join(self.tmp, "profile"),
                              "--window-size=%d,%d" % window, "--lang=" + loc]:
                opts.add_argument(f)
            prefs = {"intl.accept_languages": accept}
            if download_dir is not None:
                prefs.update({"download.default_directory": download_dir,
                              "download.prompt_for_download": False,
                              "download.directory_upgrade": True})
            opts.add_experimental_option("prefs", prefs)
            opts.page_load_strategy = "normal"
            RemoteConnection.set_timeout(DRIVER_TIMEOUT)
            service = Service(CHROMEDRIVER, log_path=self.log, env=env)
            self.driver = webdriver.Chrome(service=service, options=opts)
            self.driver.set_page_load_timeout(PAGE_TIMEOUT)
            self.driver.set_script_timeout(PAGE_TIMEOUT)
            self.driver.implicitly_wait(0)
            self.driver.shomei_shots = shots
        except BaseException:
            self.quit()
            raise

    def quit(self, keep_log=None):
        """Ends Chromium and chromedriver and removes the profile; safe to call twice.
        keep_log: a path to save chromedriver's log to first (for a failure).  Fails (after
        ending them) if processes of this browser outlive the quit."""
        d, self.driver = self.driver, None
        left = []
        try:
            if d is not None:
                d.quit()
        finally:
            if keep_log and self.tmp is not None and os.path.exists(self.log):
                shutil.copyfile(self.log, keep_log)
            if self.tmp is not None:
                left = self.reap()
                shutil.rmtree(self.tmp, ignore_errors=True)
                self.tmp = None
        assert not left, f"browser processes left after quit (killed): {left}"

    def reap(self, grace=5.0):
        """Processes still running that belong to this browser (its temporary directory on
        their command line, as in --user-data-dir=<tmp>/profile, or HOME=<tmp>/home in their
        environment): waits grace seconds for them to end, then kills those left by pid;
        returns what was killed."""
        mark = self.tmp.encode()
        home = b"HOME=" + os.path.join(self.tmp, "home").encode() + b"\0"
        end = time.time() + grace
        while True:
            pids = []
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        mine = mark in f.read()
                    if not mine:
                        with open(f"/proc/{pid}/environ", "rb") as f:
                            mine = home in f.read()
                    if mine:
                        pids.append(int(pid))
                except OSError:
                    pass
            if not pids or time.time() > end:
                break
            time.sleep(0.1)
        for pid in pids:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        return pids

    # -- navigation: every page visited is screenshot (but those passed through)

    def shot(self, name):
        return shot(self.driver, name)

    def wait(self, cond, what, timeout=PAGE_TIMEOUT):
        """Polls cond() until it returns something true; fails naming what did not happen.
        A WebDriver error while polling (a script run while the next document replaces the
        current one) counts as not yet."""
        from selenium.common.exceptions import WebDriverException
        end = time.time() + timeout
        last = None
        while True:
            try:
                v = cond()
                if v:
                    return v
            except WebDriverException as ex:
                last = ex
            if time.time() > end:
                raise AssertionError(f"timed out after {timeout}s waiting for {what} "
                                     f"(at {self.driver.current_url}; last error: {last})")
            time.sleep(0.05)

    def loaded(self):
        return self.driver.execute_script("return document.readyState") == "complete"

    def visit(self, url, name):
        """Opens url and waits for it to load; its screenshot as name (None: a page passed
        through on the way to the next, not shot: a full-page shot costs a quarter second)."""
        self.driver.get(url)
        self.wait(self.loaded, "the page to load")
        if name is not None:
            self.shot(name)

    def submit(self, selector, name):
        """Clicks the button (or link) at selector and waits for the next page to replace
        the current one, then takes its screenshot (unless name is None)."""
        old = self.find("html")
        self.find(selector).click()
        self.wait(lambda: self.stale(old) and self.loaded(), f"a new page after {selector}")
        if name is not None:
            self.shot(name)

    def stale(self, el):
        from selenium.common.exceptions import StaleElementReferenceException
        try:
            el.tag_name
            return False
        except StaleElementReferenceException:
            return True

    def download(self, selector, directory, name, timeout=PAGE_TIMEOUT):
        """Clicks the link at selector (a download: the page stays) and waits, bounded, for
        directory/name to be complete (no partial .crdownload left); returns its bytes.  The
        browser must have been started with download_dir=directory."""
        path = os.path.join(directory, name)
        self.find(selector).click()

        def done():
            left = [f for f in os.listdir(directory) if f.endswith(".crdownload")]
            return os.path.exists(path) and not left and os.path.getsize(path) > 0

        self.wait(done, f"the download of {name} into {directory}", timeout)
        with open(path, "rb") as f:
            return f.read()

    # -- reading the page

    def select(self, css):
        """The <select> at css as a selenium Select (select_by_value, first_selected_option)."""
        from selenium.webdriver.support.select import Select
        return Select(self.find(css))

    def find(self, css):
        from selenium.webdriver.common.by import By
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css="body"):
        return self.find(css).text

    def status(self):
        """The HTTP status of the page shown (Navigation Timing responseStatus)."""
        return self.driver.execute_script(
            "const n = performance.getEntriesByType('navigation');"
            "return n.length ? n[0].responseStatus : null;")

    def h1(self):
        return self.text("h1")

    def page(self):
        """What a walk checks of the page shown, read in one script (one WebDriver round trip
        instead of one per item): {ready: document.readyState, status (as status()), lang (the
        <html> lang), title, h1 (its text, None without one)}."""
        return self.driver.execute_script(
            "const n = performance.getEntriesByType('navigation');"
            "const h = document.querySelector('h1');"
            "return {ready: document.readyState,"
            " status: n.length ? n[0].responseStatus : null,"
            " lang: document.documentElement.getAttribute('lang'),"
            " title: document.title, h1: h ? h.innerText.trim() : null};")

    def loaded_page(self, what):
        """page() once the document has loaded (after driver.get or a click)."""
        return self.wait(lambda: (p := self.page())["ready"] == "complete" and p, what)

    def html_lang(self):
        return self.find("html").get_attribute("lang")

    def color(self, el, prop="color"):
        """A computed colour as (r, g, b)."""
        v = self.driver.execute_script(
            "return getComputedStyle(arguments[0]).getPropertyValue(arguments[1])", el, prop)
        m = re.match(r"rgba?\((\d+),\s*(\d+),\s*(\d+)", v)
        assert m, (prop, v)
        return tuple(int(x) for x in m.groups())

    def rect(self, el):
        return self.driver.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "return [r.left, r.top, r.right, r.bottom];", el)


def is_red(rgb):
    """Clearly red as a reader sees it (#c00 and its neighbours), not merely non-black."""
    r, g, b = rgb
    return r >= 150 and g <= r * 0.4 and b <= r * 0.4


def gap(a, b):
    """Distance in CSS pixels between two rectangles [l, t, r, b] (0 when they touch)."""
    dx = max(a[0] - b[2], b[0] - a[2], 0)
    dy = max(a[1] - b[3], b[1] - a[3], 0)
    return (dx * dx + dy * dy) ** 0.5


def po_read(lang):
    """msgid -> msgstr of po/<lang>.po (the simple subset shomei uses: no plurals, no
    contexts), so that a walk checks pages against the translations they must show."""
    path = os.path.join(ROOT, "po", lang + ".po")
    out, key, cur, field = {}, None, None, None

    def unq(s):
        return _unescape(s[1:-1])

    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("msgid "):
                if key is not None and cur is not None:
                    out[key] = cur
                key, cur, field = unq(line[6:]), None, "id"
            elif line.startswith("msgstr "):
                cur, field = unq(line[7:]), "str"
            elif line.startswith('"'):
                if field == "id":
                    key += unq(line)
                elif field == "str":
                    cur += unq(line)
    if key is not None and cur is not None:
        out[key] = cur
    return out


def _unescape(s):
    return re.sub(r'\\(["\\nt])',
                  lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), s)


_PO = {}


def tr(lang, msgid):
    """The text a page in lang shows for msgid; fails on a missing translation."""
    if lang not in _PO:
        _PO[lang] = po_read(lang)
    v = _PO[lang].get(msgid)
    assert v, f"po/{lang}.po: no translation of {msgid!r}"
    return v
