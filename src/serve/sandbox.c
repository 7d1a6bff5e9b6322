/*
 * sandbox: what the web process can reach.  The web process is the one a network attacker
 * talks to; the CA's keys live in the signer.  So that a bug in the web process cannot read a
 * key, its passphrase or PIN, or the signer's memory:
 *
 *   - `serve` started as root runs the web process as web.user (default "shomei", a system
 *     account scripts/deps.sh creates), never as root.  The supervisor gives that account the
 *     store's directory and the mail outbox, and the data directory's group (to traverse it);
 *     keys/ stays root's (0700).
 *   - The web process sees the data directory through a mount namespace of its own: a tmpfs on
 *     /run/shomei holds data/, a bind of the data directory (so that its parents need not be
 *     searchable by web.user), and keys/ is covered by an empty read-only tmpfs once the web
 *     process has read its HTTPS key and the portal secret.
 *   - Before it starts, the web process wipes the secrets it inherited: every environment
 *     variable but a short list (the value bytes zeroed, not just unset) and the key
 *     passphrase and PKCS#11 PIN of the configuration it holds.
 *   - It keeps none of root's capabilities: the nice and locked memory it needs become
 *     resource limits (sandbox_limits; where root cannot raise those, CAP_SYS_NICE and
 *     CAP_IPC_LOCK stay, which reach no other process's data).
 *   - Then it cannot gain privileges (PR_SET_NO_NEW_PRIVS), cannot be ptraced or dumped
 *     (PR_SET_DUMPABLE 0), and a seccomp filter refuses execve, ptrace, process_vm_*, mount,
 *     namespaces, module loading, keyrings, bpf and setuid-family calls with EPERM.
 *
 * Started as another user, serve cannot change uid: the web process then shares the signer's
 * uid (a warning says so) but keeps every other part.
 */
#define _GNU_SOURCE
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca/ca.h"
#include "serve/serve.h"

#define SANDBOX_RUN "/run/shomei"
#define SANDBOX_DATA SANDBOX_RUN "/data"

extern char **environ;

int
sandbox_user(const struct conf *c, struct sandbox *sb, struct err *e)
{
	const char *name = conf_get(c, "web.user", NULL);
	struct passwd *pw;

	memset(sb, 0, sizeof(*sb));
	if (geteuid() != 0) {
		if (name != NULL && ((pw = getpwnam(name)) == NULL || pw->pw_uid != geteuid()))
			return err_set(e, ERR_REFUSED,
				       "web.user = %s: serve runs as uid %ld and cannot switch to "
				       "another user (start it as root, or remove web.user)",
				       name, (long)geteuid());
		log_warn("serve runs as uid %ld, not root: the web process shares the signer's "
			 "uid (start serve as root to run it as web.user)",
			 (long)geteuid());
		return 0;
	}
	if (name == NULL)
		name = "shomei";
	errno = 0;
	if ((pw = getpwnam(name)) == NULL)
		return err_set(
		    e, ERR_REFUSED,
		    "web.user: no account \"%s\" for the web process; create it "
		    "(useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin "
		    "%s, which scripts/deps.sh does) or set web.user",
		    name, name);
	if (pw->pw_uid == 0 || pw->pw_gid == 0)
		return err_set(e, ERR_REFUSED,
			       "web.user = %s: the web process must not run as root or with "
			       "group root; name an unprivileged account",
			       name);
	sb->active = 1;
	sb->uid = pw->pw_uid;
	sb->gid = pw->pw_gid;
	snprintf(sb->user, sizeof(sb->user), "%s", name);
	return 0;
}

/* DIR is a strict subdirectory of BASE (both resolved). */
static int
sandbox_under(const char *base, const char *dir)
{
	size_t n = strlen(base);

	return strncmp(base, dir, n) == 0 && dir[n] == '/' && dir[n + 1] != '\0';
}

/*
 * Gives path (if it exists) to the web user.  The web user owns the directories these paths
 * lie in and may swap an entry for a symbolic or hard link between two of root's calls, so
 * the entry is opened once (O_PATH | O_NOFOLLOW) and changed through that descriptor: a
 * symbolic link is refused, a regular file with a second name too (it may be anyone's).
 */
static int
sandbox_give(const struct sandbox *sb, const char *path, mode_t mode, struct err *e)
{
	char self[64];
	struct stat st;
	int fd, rc = -1;

	if ((fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0
				       : err_set(e, ERR_INTERNAL, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1) {
		err_set(e, ERR_INTERNAL, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode) && !(S_ISREG(st.st_mode) && st.st_nlink == 1)) {
		err_set(e, ERR_REFUSED,
			"%s: not a plain file or directory (a link?); the store and the outbox "
			"hold only their own files",
			path);
		goto out;
	}
	if ((st.st_uid != sb->uid || st.st_gid != sb->gid) &&
	    fchownat(fd, "", sb->uid, sb->gid, AT_EMPTY_PATH) == -1) {
		err_set(e, ERR_INTERNAL, "%s: chown %s: %s", path, sb->user, strerror(errno));
		goto out;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if (mode != 0 && (st.st_mode & 07777) != mode && chmod(self, mode) == -1) {
		err_set(e, ERR_INTERNAL, "%s: chmod: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* dir is the data directory, keys/ or certs/, or inside one of the last two. */
static int
sandbox_reserved(const char *data, const char *dir)
{
	size_t n = strlen(data);
	const char *rest = dir + n;

	if (strncmp(data, dir, n) != 0 || (*rest != '\0' && *rest != '/'))
		return 0;
	if (*rest == '\0')
		return 1;
	rest++;
	return strncmp(rest, "keys", 4) == 0 && (rest[4] == '\0' || rest[4] == '/')    ? 1
	       : strncmp(rest, "certs", 5) == 0 && (rest[5] == '\0' || rest[5] == '/') ? 1
										       : 0;
}

int
sandbox_prepare(const struct ca *ca, const struct sandbox *sb, struct err *e)
{
	char data[PATH_MAX], dir[PATH_MAX], *p = NULL, *q = NULL;
	const char *v;
	struct stat st;
	int rc = -1;
	size_t i;
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};

	/* the root key is for the offline ceremony only */
	p = conf_path(&ca->conf, "keys/root.key.pem");
	if (util_file_exists(p)) {
		err_set(e, ERR_REFUSED,
			"%s: the root CA's key is in the data directory, where a serving process "
			"could reach it; move it offline (it is needed only for `shomei ca "
			"root-crl --root-key FILE`), e.g. mv %s %s.offline/",
			p, p, ca->datadir);
		goto out;
	}
	free(p);
	p = NULL;
	if (!sb->active)
		return 0;
	if (realpath(ca->datadir, data) == NULL) {
		err_set(e, ERR_INTERNAL, "%s: %s", ca->datadir, strerror(errno));
		goto out;
	}
	/* web.user traverses the data directory (group), reads certs/; keys/ stays root's */
	if (stat(data, &st) == -1 ||
	    (st.st_gid != sb->gid && chown(data, (uid_t)-1, sb->gid) == -1) ||
	    chmod(data, (st.st_mode & 0705) | 0050) == -1) {
		err_set(e, ERR_INTERNAL, "%s: cannot give group %s access: %s", data, sb->user,
			strerror(errno));
		goto out;
	}
	p = conf_path(&ca->conf, "keys");
	if (lstat(p, &st) == 0 && (st.st_uid != 0 || (st.st_mode & 077) != 0)) {
		err_set(e, ERR_REFUSED,
			"%s: must belong to root with mode 0700 (chown root: %s && chmod 700 %s)",
			p, p, p);
		goto out;
	}
	free(p);
	p = NULL;
	if (strncmp(ca->store_spec, "sqlite:", 7) == 0) {
		q = xstrdup(ca->store_spec + 7);
		if (strrchr(q, '/') != NULL)
			*strrchr(q, '/') = '\0';
		if (realpath(q, dir) == NULL) {
			err_set(e, ERR_INTERNAL, "%s: %s", q, strerror(errno));
			goto out;
		}
		if (!sandbox_under(data, dir)) {
			err_set(
			    e, ERR_REFUSED,
			    "store %s: with web.user the SQLite store lies in a directory of its "
			    "own inside the data directory, which only the web process writes "
			    "(move it and its -wal/-shm files to db/ there and set store = "
			    "sqlite:db/%s)",
			    ca->store_spec + 7,
			    strrchr(ca->store_spec, '/') ? strrchr(ca->store_spec, '/') + 1
							 : ca->store_spec + 7);
			goto out;
		}
		if (sandbox_give(sb, dir, 0700, e) == -1)
			goto out;
		for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
			free(p);
			p = xasprintf("%s%s", ca->store_spec + 7, sfx[i]);
			if (sandbox_give(sb, p, 0, e) == -1)
				goto out;
		}
	}
	/* the outbox (mail written as files, when no SMTP server is set) */
	free(p);
	p = NULL;
	if (conf_get(&ca->conf, "mail.smtp_url", NULL) == NULL) {
		if ((v = conf_get(&ca->conf, "mail.outbox", NULL)) != NULL)
			p = conf_path(&ca->conf, v);
		else
			p = xasprintf("%s/outbox", ca->datadir);
		if (util_mkdir_p(p, 0700, e) == -1)
			goto out;
		if (realpath(p, dir) == NULL) {
			err_set(e, ERR_INTERNAL, "%s: %s", p, strerror(errno));
			goto out;
		}
		if (sandbox_reserved(data, dir)) {
			err_set(e, ERR_REFUSED,
				"mail.outbox %s: not the data directory, keys/ or certs/ (the web "
				"process writes the outbox)",
				dir);
			goto out;
		}
		if (sandbox_under(data, dir)) {
			for (i = 0; i < 4; i++) {
				free(q);
				q = xasprintf("%s%s", dir,
					      (const char *[]){"", "/tmp", "/new", "/cur"}[i]);
				if (sandbox_give(sb, q, 0700, e) == -1)
					goto out;
			}
		} else if (stat(dir, &st) == -1 ||
			   !(st.st_uid == sb->uid || (st.st_gid == sb->gid && (st.st_mode & 020)) ||
			     (st.st_mode & 02))) {
			/* a directory elsewhere is not taken over: its owner gives it */
			err_set(
			    e, ERR_REFUSED,
			    "mail.outbox %s: the web process (user %s) writes the outbox; chown "
			    "-R %s %s, or leave mail.outbox unset (DATADIR/outbox)",
			    dir, sb->user, sb->user, dir);
			goto out;
		}
	}
	if (mkdir(SANDBOX_RUN, 0755) == -1 && errno != EEXIST) {
		err_set(e, ERR_INTERNAL, "%s: %s", SANDBOX_RUN, strerror(errno));
		goto out;
	}
	if (lstat(SANDBOX_RUN, &st) == -1 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & 022) != 0) {
		err_set(e, ERR_REFUSED, "%s: must be a directory of root's that only root writes",
			SANDBOX_RUN);
		goto out;
	}
	rc = 0;
out:
	free(p);
	free(q);
	return rc;
}

/* The environment variables the web process keeps. */
static int
sandbox_env_keep(const char *s, size_t n, const struct conf *c)
{
	static const char *const keep[] = {
	    "PATH",	    "HOME",	     "LANG",	     "LANGUAGE",
	    "TZ",	    "TMPDIR",	     "ASAN_OPTIONS", "UBSAN_OPTIONS",
	    "LSAN_OPTIONS", "SSL_CERT_FILE", "SSL_CERT_DIR", NULL};
	static const char *const never[] = {"SHOMEI_KEY_PASSPHRASE", "SHOMEI_PKCS11_PIN", NULL};
	const char *mailpw = conf_get(c, "mail.smtp_password_env", NULL);
	const char *const cv[] = {conf_get(c, "key_passphrase_env", NULL),
				  conf_get(c, "pkcs11.pin_env", NULL)};
	size_t i;

	for (i = 0; i < 2; i++)
		if (cv[i] != NULL && strlen(cv[i]) == n && memcmp(cv[i], s, n) == 0)
			return 0;
	for (i = 0; never[i] != NULL; i++)
		if (strlen(never[i]) == n && memcmp(never[i], s, n) == 0)
			return 0;
	if (mailpw != NULL && strlen(mailpw) == n && memcmp(mailpw, s, n) == 0)
		return 1;
	if (n > 3 && memcmp(s, "LC_", 3) == 0)
		return 1;
	for (i = 0; keep[i] != NULL; i++)
		if (strlen(keep[i]) == n && memcmp(keep[i], s, n) == 0)
			return 1;
	return 0;
}

void
sandbox_scrub(struct conf *c)
{
	char **ep, **p, *eq;
	size_t n;

	for (ep = environ; ep != NULL && *ep != NULL;) {
		eq = strchr(*ep, '=');
		n = eq != NULL ? (size_t)(eq - *ep) : strlen(*ep);
		if (sandbox_env_keep(*ep, n, c)) {
			ep++;
			continue;
		}
		if (eq != NULL)
			explicit_bzero(eq + 1, strlen(eq + 1));
		for (p = ep; *p != NULL; p++)
			p[0] = p[1];
	}
	conf_wipe(c, "key_passphrase");
	conf_wipe(c, "pkcs11.pin");
}

int
sandbox_view(const struct sandbox *sb, const char *datadir, char **viewp, struct err *e)
{
	char data[PATH_MAX];

	*viewp = NULL;
	if (!sb->active)
		return 0;
	if (realpath(datadir, data) == NULL)
		return err_set(e, ERR_INTERNAL, "%s: %s", datadir, strerror(errno));
	if (unshare(CLONE_NEWNS) == -1) {
		log_warn("web: no mount namespace (%s): the data directory's parents must be "
			 "searchable by %s",
			 strerror(errno), sb->user);
		return 0;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 ||
	    mount("shomei", SANDBOX_RUN, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0755,size=64k") == -1 ||
	    mkdir(SANDBOX_DATA, 0755) == -1 ||
	    mount(data, SANDBOX_DATA, NULL, MS_BIND | MS_REC, NULL) == -1)
		return err_set(e, ERR_INTERNAL, "web: cannot build its view of %s: %s", data,
			       strerror(errno));
	*viewp = xstrdup(SANDBOX_DATA);
	return 0;
}

/* Covers the view's keys/ with an empty read-only tmpfs (after the start-up reads). */
static int
sandbox_hide_keys(const char *view, struct err *e)
{
	char *keys = xasprintf("%s/keys", view);
	struct stat st;
	int rc = 0;

	if (lstat(keys, &st) == 0 && S_ISDIR(st.st_mode) &&
	    mount("shomei-nokeys", keys, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0500,size=4k") == -1)
		rc = err_set(e, ERR_INTERNAL, "web: cannot cover %s: %s", keys, strerror(errno));
	free(keys);
	return rc;
}

/* The system calls the web process never makes: refused with EPERM. */
static const int sandbox_denied[] = {
    SYS_execve,
    SYS_execveat,
    SYS_ptrace,
    SYS_process_vm_readv,
    SYS_process_vm_writev,
    SYS_mount,
    SYS_umount2,
    SYS_pivot_root,
    SYS_chroot,
    SYS_unshare,
    SYS_setns,
    SYS_init_module,
    SYS_finit_module,
    SYS_delete_module,
    SYS_kexec_load,
    SYS_bpf,
    SYS_perf_event_open,
    SYS_keyctl,
    SYS_add_key,
    SYS_request_key,
    SYS_userfaultfd,
    SYS_open_by_handle_at,
    SYS_setuid,
    SYS_setgid,
    SYS_setreuid,
    SYS_setregid,
    SYS_setresuid,
    SYS_setresgid,
    SYS_setgroups,
    SYS_setfsuid,
    SYS_setfsgid,
    SYS_swapon,
    SYS_swapoff,
    SYS_reboot,
    SYS_acct,
    SYS_settimeofday,
    SYS_clock_settime,
    SYS_adjtimex,
    SYS_personality,
    SYS_kexec_file_load,
    SYS_pidfd_getfd,
    SYS_process_madvise,
    /* the new mount API and io_uring (which would run calls past this filter) */
    SYS_fsopen,
    SYS_fsconfig,
    SYS_fsmount,
    SYS_move_mount,
    SYS_open_tree,
    SYS_fspick,
    SYS_mount_setattr,
    SYS_io_uring_setup,
    SYS_io_uring_enter,
    SYS_io_uring_register,
#ifdef SYS_iopl
    SYS_iopl,
#endif
#ifdef SYS_ioperm
    SYS_ioperm,
#endif
};

/* clone() flags that would make a namespace (a user namespace gives back capabilities) */
#define SANDBOX_CLONE_NS                                                                           \
	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
	 CLONE_NEWCGROUP)

#if defined(__x86_64__)
#define SANDBOX_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_ARCH AUDIT_ARCH_AARCH64
#endif

#define BPF_STMT_(c, k) ((struct sock_filter)BPF_STMT((c), (k)))
#define BPF_JUMP_(c, k, t, f) ((struct sock_filter)BPF_JUMP((c), (k), (t), (f)))

int
sandbox_seccomp(struct err *e)
{
#ifdef SANDBOX_ARCH
	enum { N = sizeof(sandbox_denied) / sizeof(sandbox_denied[0]) };
	struct sock_filter f[N + 32];
	struct sock_fprog prog;
	size_t i, k = 0, allow, eperm, enosys, clonechk, ioctlchk;

	/*
	 * Layout: arch check; load nr; [x32 check]; clone3, clone, ioctl, the deny-list;
	 * ALLOW; clone's flags; ioctl's request; EPERM; ENOSYS.  Jumps are counted forward
	 * from the instruction after each jump, so the targets are computed first.
	 */
	size_t head = 4;
#if defined(__x86_64__)
	head++;
#endif
	allow = head + 3 + N;
	clonechk = allow + 1;	 /* LD args[0]; JSET ns -> EPERM; RET ALLOW */
	ioctlchk = clonechk + 3; /* LD args[1]; JEQ TIOCSTI; JEQ TIOCLINUX; RET ALLOW */
	eperm = ioctlchk + 4;
	enosys = eperm + 1;
#define TO(target) ((unsigned char)((target) - (k + 1)))
	f[k++] = BPF_STMT_(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	/* another ABI (e.g. i386 through int 0x80) is not ours: kill */
	f[k++] = BPF_JUMP_(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_ARCH, 1, 0);
	f[k++] = BPF_STMT_(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[k++] = BPF_STMT_(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
	/* the x32 ABI numbers (bit 30) would bypass the list below */
	f[k] = BPF_JUMP_(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, TO(eperm), 0);
	k++;
#endif
	/* clone3's flags live in memory a filter cannot read: ENOSYS, and glibc uses clone */
	f[k] = BPF_JUMP_(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, TO(enosys), 0);
	k++;
	f[k] = BPF_JUMP_(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, TO(clonechk), 0);
	k++;
	f[k] = BPF_JUMP_(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, TO(ioctlchk), 0);
	k++;
	for (i = 0; i < N; i++) {
		f[k] =
		    BPF_JUMP_(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)sandbox_denied[i], TO(eperm), 0);
		k++;
	}
	if (k != allow)
		return err_set(e, ERR_INTERNAL, "web: seccomp: filter layout");
	f[k++] = BPF_STMT_(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	/* clone: the flags are the first argument (its low 32 bits hold every CLONE_NEW*) */
	f[k++] = BPF_STMT_(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
	f[k] = BPF_JUMP_(BPF_JMP | BPF_JSET | BPF_K, SANDBOX_CLONE_NS, TO(eperm), 0);
	k++;
	f[k++] = BPF_STMT_(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	/* ioctl: no typing into a terminal (TIOCSTI), no console tricks (TIOCLINUX) */
	f[k++] = BPF_STMT_(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]));
	f[k] = BPF_JUMP_(BPF_JMP | BPF_JEQ | BPF_K, TIOCSTI, TO(eperm), 0);
	k++;
	f[k] = BPF_JUMP_(BPF_JMP | BPF_JEQ | BPF_K, TIOCLINUX, TO(eperm), 0);
	k++;
	f[k++] = BPF_STMT_(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[k++] = BPF_STMT_(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	f[k++] = BPF_STMT_(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
#undef TO
	if (k != enosys + 1)
		return err_set(e, ERR_INTERNAL, "web: seccomp: filter layout");
	prog.len = (unsigned short)k;
	prog.filter = f;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return err_set(e, ERR_INTERNAL, "web: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
		return err_set(e, ERR_INTERNAL, "web: seccomp: %s", strerror(errno));
	return 0;
#else
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return err_set(e, ERR_INTERNAL, "web: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	log_warn("web: no seccomp filter for this architecture");
	return 0;
#endif
}

/*
 * What the web process needs of root's powers after the switch, given as resource limits
 * where root may raise them (CAP_SYS_RESOURCE): a nice of -10 for the threads every issuance
 * waits for (group commit, signer receiver), and the store's resident memory locked.  Where
 * a limit cannot be raised (a container without CAP_SYS_RESOURCE), the capability itself is
 * kept instead — CAP_SYS_NICE or CAP_IPC_LOCK, which reach the machine's resources but no
 * other process's data.  Returns the capability mask to keep.
 */
static unsigned
sandbox_limits(const struct sandbox *sb)
{
	struct rlimit rl;
	unsigned keep = 0;

	rl.rlim_cur = rl.rlim_max = 30; /* 20 - 30: nice -10 */
	if (setrlimit(RLIMIT_NICE, &rl) == -1)
		keep |= 1u << CAP_SYS_NICE;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < sb->memlock) {
		rl.rlim_cur = rl.rlim_max = sb->memlock;
		if (setrlimit(RLIMIT_MEMLOCK, &rl) == -1)
			keep |= 1u << CAP_IPC_LOCK;
	}
	if (keep != 0)
		log_info("web: keeps %s%s%s (resource limits cannot be raised here)",
			 keep & 1u << CAP_SYS_NICE ? "CAP_SYS_NICE" : "",
			 keep == (1u << CAP_SYS_NICE | 1u << CAP_IPC_LOCK) ? " and " : "",
			 keep & 1u << CAP_IPC_LOCK ? "CAP_IPC_LOCK" : "");
	return keep;
}

int
sandbox_enter(const struct sandbox *sb, const char *view, struct err *e)
{
	if (sb->active) {
		struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
		struct __user_cap_data_struct d[2];
		unsigned keep;

		if (view != NULL && sandbox_hide_keys(view, e) == -1)
			return -1;
		keep = sandbox_limits(sb);
		/* a capability outside the bounding set (systemd's CapabilityBoundingSet=) cannot
		 * be kept: go on without it, as without the resource limit */
		if (keep != 0 && syscall(SYS_capget, &h, d) == 0 && (keep & ~d[0].permitted) != 0) {
			log_warn("web: cannot keep capability mask %#x (not permitted here): the "
				 "store's memory lock or nice -10 may be refused",
				 keep & ~d[0].permitted);
			keep &= d[0].permitted;
		}
		if (prctl(PR_SET_KEEPCAPS, keep != 0, 0, 0, 0) == -1 || setgroups(0, NULL) == -1 ||
		    setresgid(sb->gid, sb->gid, sb->gid) == -1 ||
		    setresuid(sb->uid, sb->uid, sb->uid) == -1)
			return err_set(e, ERR_INTERNAL, "web: cannot become %s: %s", sb->user,
				       strerror(errno));
		memset(d, 0, sizeof(d));
		d[0].effective = d[0].permitted = keep;
		if (syscall(SYS_capset, &h, d) == -1 || prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == -1)
			return err_set(e, ERR_INTERNAL, "web: capabilities: %s", strerror(errno));
		if (setresuid(0, 0, 0) != -1)
			return err_set(e, ERR_INTERNAL, "web: could become root again");
	}
	/* not ptraced, not dumped, /proc/<pid>/mem and environ for root alone */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		return err_set(e, ERR_INTERNAL, "web: PR_SET_DUMPABLE: %s", strerror(errno));
	return sandbox_seccomp(e);
}
