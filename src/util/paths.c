/*
 * paths: where an installed shomei finds its files.  The build compiles the install
 * directories in (build/gen/shomei_paths.h, from the Makefile's PREFIX, SYSCONFDIR, LOCALSTATEDIR);
 * a binary run from a checkout (build/shomei beside ../templates) keeps using the checkout.
 */
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"
#include "util.h"

static char *paths_share_dir;	/* where templates/, static/, po/ are */
static char *paths_conf_file;	/* the installed default configuration, or NULL */
static char *paths_data_dir;	/* the default data directory */
static int paths_checkout_mode; /* 1: the binary runs from a checkout's build directory */
static int paths_initialised;

/* The running binary's directory (malloc'd), or NULL. */
static char *
paths_exe_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	return xstrdup(dirname(exe));
}

static int
paths_is_dir(const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	int rc = util_file_exists(p);

	free(p);
	return rc;
}

void
paths_init(void)
{
	const char *env = getenv("SHOMEI_SHAREDIR");
	char *exe = paths_exe_dir(), *up = NULL, *reloc = NULL;

	if (paths_initialised)
		goto out;
	paths_initialised = 1;
	if (exe != NULL) {
		up = xasprintf("%s/..", exe);
		reloc = xasprintf("%s/../share/shomei", exe);
		/* build/shomei of a checkout: ../templates and ../src beside it */
		paths_checkout_mode = paths_is_dir(up, "templates") && paths_is_dir(up, "src");
	}
	if (env != NULL && *env != '\0')
		paths_share_dir = xstrdup(env);
	else if (paths_checkout_mode)
		paths_share_dir = xstrdup(up);
	else if (reloc != NULL && paths_is_dir(reloc, "templates"))
		paths_share_dir = xstrdup(reloc); /* a tree installed elsewhere (DESTDIR) */
	else
		paths_share_dir = xstrdup(SHOMEI_DATADIR);
	if (paths_checkout_mode) {
		paths_data_dir = xstrdup("./var");
	} else {
		paths_data_dir = xstrdup(SHOMEI_STATEDIR);
		paths_conf_file = xstrdup(SHOMEI_CONFFILE);
	}
out:
	free(exe);
	free(up);
	free(reloc);
}

char *
paths_share(const char *name)
{
	paths_init();
	return xasprintf("%s/%s", paths_share_dir, name);
}

const char *
paths_default_data(void)
{
	paths_init();
	return paths_data_dir;
}

const char *
paths_default_conf(void)
{
	paths_init();
	return paths_conf_file;
}

int
paths_checkout(void)
{
	paths_init();
	return paths_checkout_mode;
}
