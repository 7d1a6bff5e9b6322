/*
 * Unit tests of the web process's sandbox (src/serve/sandbox.c): the seccomp filter refuses
 * what a compromised web process would use to reach the signer or its keys (execve, ptrace,
 * process_vm_readv, mount, unshare, setuid) and allows the rest; the scrub zeroes the secrets
 * in the environment and the configuration.  Each case runs in a child process, since a
 * filter cannot be taken back.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include "serve/serve.h"
#include "util/util.h"

extern char **environ;

/* Runs fn in a child; returns its exit status (0: every check held). */
static int
in_child(int (*fn)(void))
{
	pid_t pid;
	int st;

	fflush(NULL);
	if ((pid = fork()) == 0)
		_exit(fn());
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static void *
thread_main(void *arg)
{
	return arg;
}

static int
seccomp_child(void)
{
	pthread_t th;
	struct err e;
	char *const argv[] = {"/bin/true", NULL};
	char buf[256];
	struct iovec l = {buf, sizeof(buf)}, r = {buf, sizeof(buf)};

	err_clear(&e);
	if (sandbox_seccomp(&e) == -1)
		return 1;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 2;
	execve("/bin/true", argv, environ);
	if (errno != EPERM)
		return 3;
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != -1 || errno != EPERM)
		return 4;
	if (process_vm_readv(getppid(), &l, 1, &r, 1, 0) != -1 || errno != EPERM)
		return 5;
	if (unshare(CLONE_NEWNS) != -1 || errno != EPERM)
		return 6;
	if (mount("none", "/tmp", "tmpfs", 0, NULL) != -1 || errno != EPERM)
		return 7;
	if (setuid(getuid()) != -1 || errno != EPERM)
		return 8;
	/* a namespace by clone() (a user namespace would give capabilities back) */
	if (syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), NULL, NULL, NULL, 0) !=
		-1 ||
	    errno != EPERM)
		return 10;
	/* clone3 (flags out of the filter's reach) is not there; threads still start */
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		return 11;
	if (pthread_create(&th, NULL, thread_main, NULL) != 0 || pthread_join(th, NULL) != 0)
		return 12;
	/* the new mount API, io_uring, typing into a terminal */
	if (syscall(SYS_fsopen, "tmpfs", 0) != -1 || errno != EPERM)
		return 13;
	if (syscall(SYS_io_uring_setup, 4, buf) != -1 || errno != EPERM)
		return 14;
	if (ioctl(STDIN_FILENO, TIOCSTI, "x") != -1 || errno != EPERM)
		return 15;
	/* what the web process does all day still works */
	if (getpid() <= 0 || write(STDOUT_FILENO, "", 0) != 0)
		return 9;
	return 0;
}

static void
test_seccomp(void **state)
{
	(void)state;
	assert_int_equal(in_child(seccomp_child), 0);
}

/* Without the filter the same calls are not refused with EPERM (the test can fail). */
static int
no_filter_child(void)
{
	char *const argv[] = {"/bin/true", NULL};

	execve("/bin/true", argv, environ);
	return 3; /* execve returned: it failed */
}

static void
test_without_filter(void **state)
{
	(void)state;
	assert_int_equal(in_child(no_filter_child), 0);
}

static int
scrub_child(void)
{
	struct conf c;
	struct err e;
	char path[] = "/tmp/shomei-sandbox-XXXXXX";
	const char *text = "key_passphrase = hunter2-secret\npkcs11.pin = 123456\n"
			   "key_passphrase_env = MY_KEY_PASS\nmail.smtp_password_env = "
			   "MAIL_PW\nca_name = demo\n";
	char **ep, *keep_path;
	int fd, bad = 0;

	setenv("SHOMEI_KEY_PASSPHRASE", "env-secret-1", 1);
	setenv("MY_KEY_PASS", "env-secret-2", 1);
	setenv("SHOMEI_PKCS11_PIN", "env-secret-3", 1);
	setenv("SOME_TOKEN", "env-secret-4", 1);
	setenv("MAIL_PW", "mail-password", 1);
	setenv("LC_ALL", "C.UTF-8", 1);
	keep_path = getenv("PATH");
	if ((fd = mkstemp(path)) == -1 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return 1;
	close(fd);
	err_clear(&e);
	if (conf_load(&c, path, &e) == -1)
		return 2;
	unlink(path);
	sandbox_scrub(&c);
	if (strcmp(conf_get(&c, "key_passphrase", "x"), "") != 0 ||
	    strcmp(conf_get(&c, "pkcs11.pin", "x"), "") != 0)
		return 3;
	if (strcmp(conf_get(&c, "ca_name", ""), "demo") != 0)
		return 4;
	bad |= getenv("SHOMEI_KEY_PASSPHRASE") != NULL;
	bad |= getenv("MY_KEY_PASS") != NULL;
	bad |= getenv("SHOMEI_PKCS11_PIN") != NULL;
	bad |= getenv("SOME_TOKEN") != NULL;
	if (bad)
		return 5;
	if (getenv("MAIL_PW") == NULL || strcmp(getenv("MAIL_PW"), "mail-password") != 0 ||
	    getenv("LC_ALL") == NULL || (keep_path != NULL && getenv("PATH") == NULL))
		return 6;
	for (ep = environ; *ep != NULL; ep++)
		if (strstr(*ep, "env-secret") != NULL)
			return 7;
	conf_free(&c);
	return 0;
}

static void
test_scrub(void **state)
{
	(void)state;
	assert_int_equal(in_child(scrub_child), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seccomp),
	    cmocka_unit_test(test_without_filter),
	    cmocka_unit_test(test_scrub),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
