/*
 * tsa internals shared by tsa.c and the unit tests (DER: src/util/der.h).  Nothing outside src/tsa/
 * and tests/unit/test_tsa.c includes this file.
 */
#ifndef SHOMEI_TSA_LOCAL_H
#define SHOMEI_TSA_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "util/der.h"
#include "util/util.h"

#endif
