/*
 * conf: the configuration keys shomei.conf may hold — the union of the exact lists of the
 * modules that read it.  A module that reads a new key adds it to its own list (and
 * docs/config.md: tests/integration/test_conf.py compares them with `shomei conf keys`).
 */
#include <stddef.h>

#include "acme/acme.h"
#include "ca/ca.h"
#include "console/console.h"
#include "mail/mail.h"
#include "ocsp/ocsp.h"
#include "portal/portal.h"
#include "ra/ra.h"
#include "serve/serve.h"
#include "signer/signer.h"
#include "tsa/tsa.h"
#include "web/web.h"
#include "x509/x509.h"

const char *const *const serve_conf_known[] = {
    ca_conf_keys,     profile_conf_keys,
    signer_conf_keys, serve_conf_keys,
    pub_conf_keys,    ocsp_conf_keys,
    tsa_conf_keys,    ra_conf_keys,
    portal_conf_keys, captcha_conf_keys,
    mail_conf_keys,   console_conf_keys,
    acme_conf_keys,   NULL,
};
