/*
 * ocsp internals shared by req.c, resp.c and ocsp.c (DER: src/util/der.h).  Nothing outside
 * src/ocsp/ includes this file.
 */
#ifndef SHOMEI_OCSP_LOCAL_H
#define SHOMEI_OCSP_LOCAL_H

#include <stddef.h>

#include "ocsp.h"
#include "util/der.h"

#endif
