/* batch: group commit of issued certificates (internal to the ca module). */
#ifndef SHOMEI_CA_BATCH_H
#define SHOMEI_CA_BATCH_H

#include "ca.h"

/* Queues a certificate + audit entry and waits until it is durable (or failed). */
int ca_batch_submit(struct ca_batch *, const struct store_cert *, const char *actor,
		    struct err *);

/* The detail text of a cert.issue audit entry (issue.c); caller frees. */
char *ca_issue_detail(const struct store_cert *);

#endif
