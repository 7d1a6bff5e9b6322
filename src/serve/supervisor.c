/* supervisor: owns the signer and web children of `shomei serve`. */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ca/ca.h"
#include "serve/serve.h"
#include "signer/signer.h"

int
serve_fd_send(int sock, int fd)
{
	struct msghdr m;
	struct iovec iov;
	struct cmsghdr *cm;
	char byte = 'S';
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;

	memset(&m, 0, sizeof(m));
	memset(&u, 0, sizeof(u));
	iov.iov_base = &byte;
	iov.iov_len = 1;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &m, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

int
serve_fd_recv(int sock)
{
	struct msghdr m;
	struct iovec iov;
	struct cmsghdr *cm;
	char byte;
	int fd = -1;
	ssize_t n;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;

	memset(&m, 0, sizeof(m));
	iov.iov_base = &byte;
	iov.iov_len = 1;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n != 1)
		return -1;
	for (cm = CMSG_FIRSTHDR(&m); cm != NULL; cm = CMSG_NXTHDR(&m, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

struct super {
	const struct serve_opts *o;
	struct ca *ca;
	int sfd;      /* client end of the signer socket (kept to hand to a new web process) */
	pid_t spid;
	int ctl;      /* supervisor end of the control socket to the web process */
	pid_t wpid;
	time_t signer_started;
	int signer_fast_deaths;
};

static int
super_spawn_signer(struct super *s, struct err *e)
{
	if (signer_spawn_fd(&s->ca->conf, &s->sfd, &s->spid, e) == -1)
		return -1;
	s->signer_started = time(NULL);
	log_info("signer started (pid %ld)", (long)s->spid);
	return 0;
}

static int
super_spawn_web(struct super *s, struct err *e)
{
	struct pollfd pfd;
	int sv[2];
	pid_t pid;
	char ready;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return err_set(e, ERR_INTERNAL, "serve: socketpair: %s", strerror(errno));
	if ((pid = fork()) == -1) {
		close(sv[0]);
		close(sv[1]);
		return err_set(e, ERR_INTERNAL, "serve: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(sv[0]);
		_exit(serve_web_main(s->o, s->sfd, sv[1]));
	}
	close(sv[1]);
	if (s->ctl != -1)
		close(s->ctl);
	s->ctl = sv[0];
	s->wpid = pid;
	/* the web process says "R" once it listens; EOF means it could not start */
	pfd.fd = s->ctl;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 30000) != 1 || read(s->ctl, &ready, 1) != 1 || ready != 'R') {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		s->wpid = -1;
		return err_set(e, ERR_REFUSED, "serve: the web process could not start (see above)");
	}
	log_info("web started (pid %ld)", (long)pid);
	return 0;
}

static void
super_reap(struct super *s, int stopping)
{
	struct err e;
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		err_clear(&e);
		if (pid == s->spid) {
			log_warn("signer (pid %ld) exited with %s %d%s", (long)pid,
				 WIFSIGNALED(st) ? "signal" : "status",
				 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
				 stopping ? "" : "; restarting");
			s->spid = -1;
			close(s->sfd);
			s->sfd = -1;
			if (stopping)
				continue;
			/* a signer that keeps dying at once is backed off, not spun */
			if (time(NULL) - s->signer_started < 2 && ++s->signer_fast_deaths > 3)
				sleep(2);
			else if (time(NULL) - s->signer_started >= 2)
				s->signer_fast_deaths = 0;
			if (super_spawn_signer(s, &e) == -1) {
				log_warn("signer restart failed: %s", e.msg);
				continue;
			}
			if (s->ctl != -1 && serve_fd_send(s->ctl, s->sfd) == -1)
				log_warn("could not hand the new signer to the web process");
		} else if (pid == s->wpid) {
			s->wpid = -1;
			if (stopping) {
				log_info("web exited with status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
				continue;
			}
			log_warn("web (pid %ld) exited unexpectedly (%s %d); restarting", (long)pid,
				 WIFSIGNALED(st) ? "signal" : "status",
				 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			sleep(1);
			if (s->sfd != -1 && super_spawn_web(s, &e) == -1)
				log_warn("web restart failed: %s", e.msg);
		}
	}
}

int
serve_main(const struct serve_opts *o)
{
	struct super s;
	struct err e;
	sigset_t set;
	int sig, rc = ERR_INTERNAL, i;
	struct timespec ts = {1, 0};

	memset(&s, 0, sizeof(s));
	s.o = o;
	s.sfd = s.ctl = -1;
	s.spid = s.wpid = -1;
	err_clear(&e);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* the supervisor reads the configuration but never loads a private key */
	if (ca_open(o->datadir, 0, &s.ca, &e) == -1)
		goto fail;
	if (super_spawn_signer(&s, &e) == -1 || super_spawn_web(&s, &e) == -1)
		goto fail;
	log_info("shomei serve: supervisor pid %ld", (long)getpid());
	for (;;) {
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGCHLD || sig == -1) {
			super_reap(&s, 0);
			continue;
		}
		if (sig == SIGHUP) {
			struct ca *nca = NULL;

			err_clear(&e);
			if (ca_open(o->datadir, 0, &nca, &e) == -1) {
				log_warn("SIGHUP: configuration not reloaded: %s", e.msg);
				continue;
			}
			ca_close(s.ca);
			s.ca = nca;
			log_info("SIGHUP: configuration reloaded");
			if (s.wpid > 0)
				kill(s.wpid, SIGHUP);
			continue;
		}
		break; /* SIGTERM, SIGINT */
	}
	log_info("shutting down");
	if (s.wpid > 0)
		kill(s.wpid, SIGTERM);
	for (i = 0; i < 400 && s.wpid > 0; i++) { /* up to 40 s for in-flight requests */
		usleep(100000);
		super_reap(&s, 1);
	}
	if (s.wpid > 0) {
		log_warn("web did not stop in time; killing it");
		kill(s.wpid, SIGKILL);
		waitpid(s.wpid, NULL, 0);
	}
	if (s.sfd != -1)
		close(s.sfd); /* EOF ends the signer */
	s.sfd = -1;
	for (i = 0; i < 100 && s.spid > 0; i++) {
		usleep(50000);
		super_reap(&s, 1);
	}
	if (s.spid > 0) {
		kill(s.spid, SIGTERM);
		waitpid(s.spid, NULL, 0);
	}
	ca_close(s.ca);
	return 0;
fail:
	fprintf(stderr, "shomei: %s\n", e.msg);
	rc = e.code == ERR_INTERNAL ? ERR_INTERNAL : ERR_REFUSED;
	if (s.wpid > 0) {
		kill(s.wpid, SIGTERM);
		waitpid(s.wpid, NULL, 0);
	}
	if (s.sfd != -1)
		close(s.sfd);
	if (s.spid > 0)
		waitpid(s.spid, NULL, 0);
	ca_close(s.ca);
	return rc;
}
