/*
 * supervisor: owns the children of `shomei serve`.  A generation is one signer and the web
 * process that talks to it.  The current generation's children are restarted when they die
 * (a new signer socket reaches the web process over the control socket); SIGHUP starts a new
 * generation with the re-read configuration and, once its web process listens, lets the old
 * web process finish its requests and retires the old signer; SIGTERM stops everything.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ca/ca.h"
#include "serve/serve.h"
#include "http/http.h"
#include "signer/signer.h"
#include "web/web.h"

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
	/* a message without a descriptor (or a truncated one) is skipped, not fatal */
	while (fd == -1) {
		m.msg_control = u.buf;
		m.msg_controllen = sizeof(u.buf);
		do
			n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
		while (n == -1 && errno == EINTR);
		if (n != 1)
			return -1;
		if (m.msg_flags & MSG_CTRUNC)
			continue;
		for (cm = CMSG_FIRSTHDR(&m); cm != NULL; cm = CMSG_NXTHDR(&m, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
				memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	}
	return fd;
}

/* One signer and the web process that uses it. */
struct gen {
	int sfd; /* client end of the signer socket (kept to hand to a restarted web) */
	pid_t spid;
	int ctl; /* supervisor end of the control socket to the web process */
	pid_t wpid;
	time_t signer_started;
	int signer_fast_deaths;
	unsigned handovers; /* signer sockets sent to this web process since it started */
	int logfd;	    /* supervisor end of the web process's stdout and stderr */
	time_t retired;	    /* when it was told to stop (0: it is the current one) */
	time_t stale_said;  /* the last stale notice logged (one a second at most) */
};

struct super {
	struct serve_opts *o;
	struct ca *ca;
	struct ca *prev_ca; /* during a reload: the configuration being replaced */
	struct sandbox sb;
	struct gen cur;
	struct gen old; /* a previous generation finishing its requests after a reload */
};

static void
gen_init(struct gen *g)
{
	memset(g, 0, sizeof(*g));
	g->sfd = g->ctl = g->logfd = -1;
	g->spid = g->wpid = -1;
}

static int
gen_spawn_signer(struct super *s, struct gen *g, struct err *e)
{
	if (signer_spawn_fd(&s->ca->conf, &g->sfd, &g->spid, e) == -1)
		return -1;
	g->signer_started = time(NULL);
	log_info("signer started (pid %ld)", (long)g->spid);
	return 0;
}

/*
 * In a new web process (fork without exec keeps every descriptor, CLOEXEC or not): closes all
 * but stdio, its signer and control sockets and the listening sockets — no supervisor store
 * connection, no other generation's signer stream.
 */
static void
super_child_fds(const struct super *s, int sfd, int ctl)
{
	DIR *d;
	struct dirent *de;
	long fd;
	int keep, dfd;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return;
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		if (util_parse_long(de->d_name, 0, 1 << 30, &fd) == -1)
			continue;
		keep = fd <= 2 || fd == dfd || fd == sfd || fd == ctl || fd == s->o->http_fd ||
		       fd == s->o->https_fd || fd == s->o->console_fd;
		if (!keep)
			close((int)fd);
	}
	closedir(d);
}

/*
 * Forwards what a web process wrote to its stdout and stderr (its log lines) to the
 * supervisor's stderr: at most 64 KiB a call, so that a flood cannot keep the supervisor from
 * its signals.  At EOF the pipe is closed.
 */
/* Writes a web process's bytes to stderr with every control byte but newline and tab as \xNN
 * (no escape sequence reaches root's terminal). */
static void
super_forward(const char *p, size_t n)
{
	char out[4 * 8192];
	size_t i, k = 0;
	unsigned char c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)p[i];
		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
			snprintf(out + k, 5, "\\x%02x", c);
			k += 4;
		} else {
			out[k++] = (char)c;
		}
		if (k > sizeof(out) - 4) {
			(void)!write(STDERR_FILENO, out, k);
			k = 0;
		}
	}
	if (k > 0)
		(void)!write(STDERR_FILENO, out, k);
}

static void
gen_log_drain(struct gen *g)
{
	char buf[8192];
	ssize_t n;
	int i;

	for (i = 0; i < 8 && g->logfd != -1; i++) {
		n = read(g->logfd, buf, sizeof(buf));
		if (n > 0) {
			super_forward(buf, (size_t)n);
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			close(g->logfd);
			g->logfd = -1;
		}
		break;
	}
}

/* After the web process exited: what it left in the pipe (bounded), then the pipe closed. */
static void
gen_log_finish(struct gen *g)
{
	char buf[8192];
	ssize_t n;
	int i;

	for (i = 0; i < 128 && g->logfd != -1; i++) {
		if ((n = read(g->logfd, buf, sizeof(buf))) <= 0)
			break;
		super_forward(buf, (size_t)n);
	}
	if (g->logfd != -1)
		close(g->logfd);
	g->logfd = -1;
}

/* SIGIO to this process when fd has data (the control socket, the log pipe). */
static void
super_async(int fd)
{
	if (fcntl(fd, F_SETOWN, getpid()) == -1 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC | O_NONBLOCK) == -1)
		log_warn("serve: %s", strerror(errno));
}

/*
 * The web process's own session (no controlling terminal to type into), stdin from
 * /dev/null, stdout and stderr into a pipe the supervisor reads: nothing it holds reaches
 * the supervisor's terminal or log file, which it could otherwise rewrite.
 */
static void
super_child_stdio(int logw)
{
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (null == -1 || dup2(null, STDIN_FILENO) == -1 || dup2(logw, STDOUT_FILENO) == -1 ||
	    dup2(logw, STDERR_FILENO) == -1 || setsid() == -1)
		_exit(ERR_INTERNAL);
	/* a log line the supervisor has no time to take is dropped, never waited for: a busy
	 * supervisor (starting a generation) must not stop every thread that logs */
	(void)fcntl(STDOUT_FILENO, F_SETFL, fcntl(STDOUT_FILENO, F_GETFL) | O_NONBLOCK);
	close(null);
	close(logw);
}

static int
gen_spawn_web(struct super *s, struct gen *g, struct err *e)
{
	struct pollfd pfd[2];
	int sv[2], lp[2];
	pid_t pid;
	time_t deadline;
	char ready;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return err_set(e, ERR_INTERNAL, "serve: socketpair: %s", strerror(errno));
	if (pipe(lp) == -1) {
		close(sv[0]);
		close(sv[1]);
		return err_set(e, ERR_INTERNAL, "serve: pipe: %s", strerror(errno));
	}
	fflush(NULL);
	if ((pid = fork()) == -1) {
		close(sv[0]);
		close(sv[1]);
		close(lp[0]);
		close(lp[1]);
		return err_set(e, ERR_INTERNAL, "serve: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(sv[0]);
		close(lp[0]);
		super_child_stdio(lp[1]);
		super_child_fds(s, g->sfd, sv[1]);
		/* the supervisor's copies of the configuration */
		sandbox_scrub(&s->ca->conf);
		if (s->prev_ca != NULL)
			sandbox_scrub(&s->prev_ca->conf);
		_exit(serve_web_main(s->o, &s->sb, g->sfd, sv[1]));
	}
	close(sv[1]);
	close(lp[1]);
	if (g->ctl != -1)
		close(g->ctl);
	if (g->logfd != -1)
		close(g->logfd);
	g->ctl = sv[0];
	g->logfd = lp[0];
	g->wpid = pid;
	g->handovers = 0;
	g->retired = 0;
	super_async(g->logfd);
	/* the web process says "R" once it listens; EOF means it could not start.  Its log
	 * lines are forwarded meanwhile (a full pipe would stop it). */
	deadline = time(NULL) + 30;
	for (;;) {
		int r;

		pfd[0].fd = g->ctl;
		pfd[0].events = POLLIN;
		pfd[1].fd = g->logfd;
		pfd[1].events = POLLIN;
		r = poll(pfd, g->logfd != -1 ? 2 : 1, 1000);
		gen_log_drain(g);
		if (r == -1 && errno != EINTR)
			break;
		if (r > 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			break;
		if (time(NULL) > deadline)
			break;
	}
	if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0 || read(g->ctl, &ready, 1) != 1 ||
	    ready != 'R') {
		/* SIGKILL: it inherited SIGTERM blocked, and may be stuck before it waits for it */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		gen_log_finish(g);
		g->wpid = -1;
		return err_set(e, ERR_REFUSED,
			       "serve: the web process could not start (see above)");
	}
	/* the web process's notices (a hung signer) and log lines raise SIGIO here */
	super_async(g->ctl);
	log_info("web started (pid %ld)", (long)pid);
	return 0;
}

/* Ends a generation's signer (EOF) and web (SIGTERM) without waiting. */
static void
gen_retire(struct gen *g)
{
	if (g->wpid > 0)
		kill(g->wpid, SIGTERM);
	g->retired = time(NULL);
	if (g->sfd != -1)
		close(g->sfd);
	g->sfd = -1;
	if (g->ctl != -1)
		close(g->ctl);
	g->ctl = -1;
}

static void
super_reap(struct super *s, int stopping)
{
	struct err e;
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		err_clear(&e);
		if (pid == s->old.wpid) {
			gen_log_finish(&s->old);
			log_info("previous web (pid %ld) finished", (long)pid);
			s->old.wpid = -1;
			if (s->old.sfd != -1)
				close(s->old.sfd);
			s->old.sfd = -1;
			if (s->old.spid > 0)
				kill(s->old.spid, SIGTERM); /* whatever the web left behind */
		} else if (pid == s->old.spid) {
			s->old.spid = -1;
		} else if (pid == s->cur.spid) {
			log_warn("signer (pid %ld) exited with %s %d%s", (long)pid,
				 WIFSIGNALED(st) ? "signal" : "status",
				 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
				 stopping ? "" : "; restarting");
			s->cur.spid = -1;
			if (s->cur.sfd != -1)
				close(s->cur.sfd);
			s->cur.sfd = -1;
			if (stopping)
				continue;
			/* a signer that keeps dying at once is backed off, not spun */
			if (time(NULL) - s->cur.signer_started < 2 &&
			    ++s->cur.signer_fast_deaths > 3)
				sleep(2);
			else if (time(NULL) - s->cur.signer_started >= 2)
				s->cur.signer_fast_deaths = 0;
			if (gen_spawn_signer(s, &s->cur, &e) == -1) {
				log_warn("signer restart failed: %s", e.msg);
				continue;
			}
			if (s->cur.ctl != -1 && serve_fd_send(s->cur.ctl, s->cur.sfd) == -1)
				log_warn("could not hand the new signer to the web process");
			else if (s->cur.ctl != -1)
				s->cur.handovers++;
		} else if (pid == s->cur.wpid) {
			gen_log_finish(&s->cur);
			s->cur.wpid = -1;
			if (stopping) {
				log_info("web exited with status %d",
					 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
				continue;
			}
			log_warn("web (pid %ld) exited unexpectedly (%s %d); restarting", (long)pid,
				 WIFSIGNALED(st) ? "signal" : "status",
				 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			/*
			 * The dead process may have left answers or half a frame in its signer
			 * stream: never hand that stream on.  Retire its signer and start a new
			 * one with a new socket for the new web process.
			 */
			if (s->cur.sfd != -1)
				close(s->cur.sfd);
			s->cur.sfd = -1;
			if (s->cur.spid > 0)
				kill(s->cur.spid, SIGTERM); /* reaped below as an unknown child */
			s->cur.spid = -1;
			sleep(1);
			if (gen_spawn_signer(s, &s->cur, &e) == -1 ||
			    gen_spawn_web(s, &s->cur, &e) == -1)
				log_warn("web restart failed: %s", e.msg);
		}
	}
}

/*
 * A notice from a web process on its control socket: "H" and a 4-byte stream number (0 the
 * first signer stream, n the n-th handed over): that signer did not answer within
 * signer.timeout_ms and the web process has given its stream up.  (A socket, not a signal:
 * the web process runs as another user and cannot signal the supervisor.)  A hung signer (a
 * stuck PKCS#11 device, a stopped process) never exits by itself, so it is killed here;
 * super_reap() then starts a new one and hands it over as after any other signer death.  A
 * notice about a signer replaced in the meantime is stale and ignored.
 */
static void
super_ctl_read(struct gen *g)
{
	unsigned char b[5 * 16];
	ssize_t n, i;
	uint32_t v;

	/* one read of at most 16 notices a wake-up: a flood cannot hold the supervisor */
	if (g->ctl == -1 || (n = read(g->ctl, b, sizeof(b))) <= 0)
		return;
	for (i = 0; i < n; i += 5) {
		if (n - i < 5 || b[i] != 'H') {
			/* not the protocol: the web process is not ours any more */
			log_warn("web (pid %ld) broke the control protocol; killing it",
				 (long)g->wpid);
			if (g->wpid > 0)
				kill(g->wpid, SIGKILL);
			close(g->ctl);
			g->ctl = -1;
			return;
		}
		if (g->spid <= 0)
			continue;
		v = (uint32_t)b[i + 1] << 24 | (uint32_t)b[i + 2] << 16 | (uint32_t)b[i + 3] << 8 |
		    b[i + 4];
		if (v != g->handovers) {
			if (g->stale_said != time(NULL))
				log_info("signer timeout reported for a signer already replaced; "
					 "ignored");
			g->stale_said = time(NULL);
			continue;
		}
		log_warn("signer (pid %ld) did not answer the web process in time "
			 "(signer.timeout_ms); killing it",
			 (long)g->spid);
		kill(g->spid, SIGKILL); /* reaped and replaced by super_reap() */
	}
}

/*
 * A retired web process that has not finished within a grace period (twice http.timeout and
 * 5 s: its in-flight requests have http.timeout each) is killed, and with it its signer: a stopped
 * or stuck old generation must not keep its signer, nor block the next reload.
 */
static void
super_old_deadline(struct super *s)
{
	long t;
	struct err e;

	err_clear(&e);
	if (conf_get_long(&s->ca->conf, "http.timeout", 30, 1, 3600, &t, &e) == -1)
		t = 30;
	if (s->old.wpid > 0 && s->old.retired != 0 && time(NULL) - s->old.retired > 2 * t + 5) {
		log_warn("previous web (pid %ld) did not finish within %ld s; killing it",
			 (long)s->old.wpid, 2 * t + 5);
		kill(s->old.wpid, SIGKILL);
		if (s->old.spid > 0)
			kill(s->old.spid, SIGKILL);
		s->old.retired = 0;
	}
}

/*
 * systemd (Type=notify): READY=1 once the web process reported that it listens (its "R" on
 * the control socket: the listeners answer), RELOADING=1 while a SIGHUP starts the next
 * generation, STOPPING=1 at SIGTERM.  Nothing happens without $NOTIFY_SOCKET.
 */
static void
super_notify(const char *state)
{
	if (util_sd_notify(state) == -1)
		log_warn("serve: systemd notification failed: %s", strerror(errno));
}

static void
super_notify_ready(const char *status)
{
	char m[256];

	snprintf(m, sizeof(m), "READY=1\nSTATUS=%s\nMAINPID=%ld", status, (long)getpid());
	super_notify(m);
}

static void
super_notify_reloading(void)
{
	struct timespec ts;
	char m[128];

	/* systemd 253+ wants the monotonic time with RELOADING=1; older ones ignore it */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(
	    m, sizeof(m), "RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	super_notify(m);
}

/*
 * SIGHUP: re-read shomei.conf (refusing a bad one), start a new generation with it, and once
 * its web process listens, retire the current one (which finishes its requests first).
 */
static void
super_reload(struct super *s)
{
	struct ca *nca = NULL, *oca;
	struct gen g;
	struct err e;

	err_clear(&e);
	if (s->old.wpid > 0 || s->old.spid > 0) {
		log_warn("SIGHUP: the previous reload is still finishing; try again shortly");
		return;
	}
	super_notify_reloading();
	if (ca_open(s->o->datadir, 0, serve_conf_known, &nca, &e) == -1 ||
	    sandbox_prepare(nca, &s->sb, &e) == -1) {
		log_warn("SIGHUP: configuration not reloaded: %s", e.msg);
		ca_close(nca);
		super_notify_ready("configuration not reloaded; serving the previous one");
		return;
	}
	oca = s->ca;
	s->ca = nca;
	s->prev_ca = oca;
	gen_init(&g);
	if (gen_spawn_signer(s, &g, &e) == -1 || gen_spawn_web(s, &g, &e) == -1) {
		s->prev_ca = NULL;
		log_warn("SIGHUP: configuration not reloaded: %s", e.msg);
		if (g.sfd != -1)
			close(g.sfd);
		if (g.spid > 0)
			waitpid(g.spid, NULL, 0);
		s->ca = oca;
		ca_close(nca);
		super_notify_ready("configuration not reloaded; serving the previous one");
		return;
	}
	s->prev_ca = NULL;
	ca_close(oca);
	s->old = s->cur;
	s->cur = g;
	gen_retire(&s->old);
	log_info("SIGHUP: configuration reloaded (web pid %ld replaces %ld)", (long)s->cur.wpid,
		 (long)s->old.wpid);
	super_notify_ready("serving (configuration reloaded)");
}

/*
 * Opens the listening sockets once, here: every generation of web processes accepts on the
 * same ones, so a reload neither refuses nor resets a connection.  Changing listen.* needs a
 * restart.
 */
static int
super_listen(struct super *s, struct serve_opts *o, struct err *e)
{
	const char *http, *https, *console;

	http = o->http ? o->http : conf_get(&s->ca->conf, "listen.http", "127.0.0.1:8080");
	https = o->https ? o->https : conf_get(&s->ca->conf, "listen.https", "127.0.0.1:8443");
	console =
	    o->console ? o->console : conf_get(&s->ca->conf, "listen.console", "127.0.0.1:8444");
	if (strcmp(https, "off") == 0)
		console = "off"; /* the console shares the HTTPS certificate */
	o->http = http;
	o->https = https;
	o->console = console;
	{
		/* a predictable CAPTCHA answer only on a test instance bound to loopback */
		const char *addrs[3] = {http, https, console};

		if (captcha_test_mode_allowed(&s->ca->conf, addrs,
					      strcmp(https, "off") == 0	    ? 1
					      : strcmp(console, "off") == 0 ? 2
									    : 3,
					      e) == -1)
			return -1;
	}
	if (http_listen_socket(http, &o->http_fd, e) == -1)
		return -1;
	if (strcmp(https, "off") != 0 && http_listen_socket(https, &o->https_fd, e) == -1)
		return -1;
	if (strcmp(console, "off") != 0 && http_listen_socket(console, &o->console_fd, e) == -1)
		return -1;
	return 0;
}

int
serve_main(const struct serve_opts *co)
{
	struct serve_opts opts = *co, *o = &opts;
	struct super s;
	struct err e;
	siginfo_t si;
	sigset_t set;
	int sig, rc = ERR_INTERNAL, i;
	struct timespec ts = {1, 0};

	memset(&s, 0, sizeof(s));
	s.o = o;
	gen_init(&s.cur);
	gen_init(&s.old);
	err_clear(&e);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGIO);	  /* a web process's notice on its control socket */
	sigaddset(&set, SIGUSR1); /* means nothing here: a stray one must not kill serve */
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* the supervisor reads the configuration but never loads a private key */
	o->http_fd = o->https_fd = o->console_fd = -1;
	if (ca_open(o->datadir, 0, serve_conf_known, &s.ca, &e) == -1 ||
	    sandbox_user(&s.ca->conf, &s.sb, &e) == -1 || sandbox_prepare(s.ca, &s.sb, &e) == -1 ||
	    super_listen(&s, o, &e) == -1)
		goto fail;
	if (gen_spawn_signer(&s, &s.cur, &e) == -1 || gen_spawn_web(&s, &s.cur, &e) == -1)
		goto fail;
	log_info("shomei serve: supervisor pid %ld", (long)getpid());
	super_notify_ready("serving");
	for (;;) {
		memset(&si, 0, sizeof(si));
		sig = sigtimedwait(&set, &si, &ts);
		if (sig == SIGCHLD || sig == SIGIO || sig == -1) {
			super_ctl_read(&s.cur);
			super_ctl_read(&s.old);
			gen_log_drain(&s.cur);
			gen_log_drain(&s.old);
			super_old_deadline(&s);
			super_reap(&s, 0);
			continue;
		}
		if (sig == SIGHUP) {
			super_reload(&s);
			continue;
		}
		if (sig == SIGUSR1)
			continue;
		break; /* SIGTERM, SIGINT */
	}
	log_info("shutting down");
	super_notify("STOPPING=1\nSTATUS=finishing the requests in flight");
	gen_retire(&s.cur);
	gen_retire(&s.old);
	for (i = 0; i < 400 && (s.cur.wpid > 0 || s.old.wpid > 0); i++) { /* in-flight: 40 s */
		usleep(100000);
		gen_log_drain(&s.cur);
		gen_log_drain(&s.old);
		super_reap(&s, 1);
	}
	if (s.cur.wpid > 0 || s.old.wpid > 0) {
		log_warn("web did not stop in time; killing it");
		if (s.cur.wpid > 0)
			kill(s.cur.wpid, SIGKILL);
		if (s.old.wpid > 0)
			kill(s.old.wpid, SIGKILL);
	}
	for (i = 0;
	     i < 100 && (s.cur.spid > 0 || s.old.spid > 0 || s.cur.wpid > 0 || s.old.wpid > 0);
	     i++) {
		usleep(50000);
		super_reap(&s, 1);
	}
	if (s.cur.spid > 0)
		kill(s.cur.spid, SIGTERM);
	if (s.old.spid > 0)
		kill(s.old.spid, SIGTERM);
	while (waitpid(-1, NULL, 0) > 0)
		;
	ca_close(s.ca);
	close(o->http_fd);
	if (o->https_fd != -1)
		close(o->https_fd);
	if (o->console_fd != -1)
		close(o->console_fd);
	return 0;
fail:
	fprintf(stderr, "%sshomei: %s\n", log_prio_prefix(LOG_PRIO_ERR), e.msg);
	rc = e.code == ERR_INTERNAL ? ERR_INTERNAL : ERR_REFUSED;
	gen_retire(&s.cur);
	while (waitpid(-1, NULL, 0) > 0)
		;
	ca_close(s.ca);
	if (o->http_fd != -1)
		close(o->http_fd);
	if (o->https_fd != -1)
		close(o->https_fd);
	if (o->console_fd != -1)
		close(o->console_fd);
	return rc;
}
