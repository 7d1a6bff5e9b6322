/*
 * paths: the install directories compiled in (PREFIX, SYSCONFDIR, LOCALSTATEDIR of the
 * Makefile) and how the running binary picks between them and a checkout.
 *
 *   checkout   build/shomei with ../templates and ../src: share files from the checkout,
 *              data directory ./var with its shomei.conf inside (`make run`, the tests)
 *   installed  share files from $SHOMEI_SHAREDIR, else PREFIX/share/shomei beside the
 *              binary's own prefix (a DESTDIR tree), else the compiled-in DATADIR;
 *              data directory LOCALSTATEDIR/lib/shomei, configuration
 *              SYSCONFDIR/shomei/shomei.conf
 */
#ifndef SHOMEI_PATHS_H
#define SHOMEI_PATHS_H

#include "shomei_paths.h" /* SHOMEI_DATADIR, SHOMEI_CONFFILE, SHOMEI_STATEDIR, SHOMEI_SBINDIR */

/* Decides once (main calls it first; the others call it too); forked children keep it. */
void paths_init(void);
/* DIR/name of the share directory (templates, static, po); caller frees. */
char *paths_share(const char *name);
/* The data directory when neither -d nor $SHOMEI_DATA names one. */
const char *paths_default_data(void);
/* The configuration file of an installed shomei; NULL from a checkout (DATA/shomei.conf). */
const char *paths_default_conf(void);
int paths_checkout(void);

#endif
