/* batch: internals shared by the ca module's files. */
#ifndef SHOMEI_CA_BATCH_H
#define SHOMEI_CA_BATCH_H

#include "ca.h"

/* The detail text of a cert.issue audit entry (issue.c); caller frees. */
char *ca_issue_detail(const struct store_cert *);

#endif
