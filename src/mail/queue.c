/*
 * queue: configuration, the store-backed queue, and the two deliveries (maildir, SMTP through
 * libcurl).  Every mail goes through the queue: mail_enqueue() in the caller's transaction,
 * mail_queue_run() (or the sender thread) delivers.  Delivery is at least once: a crash
 * between delivery and mark-sent delivers that one message again after its lock expires
 * (over SMTP only the message being delivered: each outcome is committed before the next
 * mail is claimed).
 */
#define _GNU_SOURCE /* syncfs */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "mail/mail.h"

#define MAIL_LOCK_SLACK 60 /* a claim outlives the longest delivery attempt by this much */

long
mail_backoff(int64_t attempts)
{
	long d = MAIL_BACKOFF_FIRST;
	int64_t i;

	for (i = 1; i < attempts && d < MAIL_BACKOFF_MAX; i++)
		d *= 2;
	return d > MAIL_BACKOFF_MAX ? MAIL_BACKOFF_MAX : d;
}

/* ---- configuration ---- */

void
mail_conf_clear(struct mail_conf *mc)
{
	if (mc == NULL)
		return;
	free(mc->from);
	free(mc->from_name);
	free(mc->domain);
	free(mc->outbox);
	free(mc->smtp_url);
	free(mc->smtp_user);
	if (mc->smtp_password != NULL) {
		sodium_memzero(mc->smtp_password, strlen(mc->smtp_password));
		free(mc->smtp_password);
	}
	free(mc->smtp_cafile);
	sodium_memzero(mc->key, sizeof(mc->key));
	memset(mc, 0, sizeof(*mc));
}

/* A yes/no value: 1, 0, or -1 when it is neither. */
static int
conf_bool(const char *v)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		return 1;
	if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		return 0;
	return -1;
}

/* The keys mail_conf_load reads. */
const char *const mail_conf_keys[] = {
    "mail.delivery",
    "mail.transfer_encoding",
    "mail.from",
    "mail.domain",
    "mail.from_name",
    "mail.outbox",
    "mail.smtp_url",
    "mail.smtp_starttls",
    "mail.smtp_user",
    "mail.smtp_password",
    "mail.smtp_password_env",
    "mail.smtp_cafile",
    "mail.smtp_timeout",
    "mail.max_age_hours",
    "mail.key_file",
    NULL,
};

int
mail_conf_load(struct mail_conf *mc, const struct conf *c, const char *datadir, struct err *e)
{
	const char *v, *path = c->path != NULL ? c->path : "shomei.conf";
	long hours;
	int rc = -1;

	memset(mc, 0, sizeof(*mc));
	v = conf_get(c, "mail.delivery", "maildir");
	if (strcmp(v, "maildir") == 0) {
		mc->delivery = MAIL_DELIVERY_MAILDIR;
	} else if (strcmp(v, "smtp") == 0) {
		mc->delivery = MAIL_DELIVERY_SMTP;
	} else {
		err_set(e, ERR_REFUSED, "%s: mail.delivery must be maildir or smtp", path);
		goto out;
	}
	v = conf_get(c, "mail.transfer_encoding", "base64");
	if (strcmp(v, "base64") == 0) {
		mc->cte = MAIL_CTE_BASE64;
	} else if (strcmp(v, "quoted-printable") == 0) {
		mc->cte = MAIL_CTE_QP;
	} else {
		err_set(e, ERR_REFUSED,
			"%s: mail.transfer_encoding must be base64 or "
			"quoted-printable",
			path);
		goto out;
	}
	if ((v = conf_get(c, "mail.from", NULL)) != NULL) {
		if (!mail_addr_valid(v)) {
			err_set(e, ERR_REFUSED, "%s: mail.from is not an address (local@domain)",
				path);
			goto out;
		}
		mc->from = xstrdup(v);
		mc->domain = xstrdup(conf_get(c, "mail.domain", strchr(v, '@') + 1));
	} else if ((v = conf_get(c, "mail.domain", NULL)) != NULL) {
		mc->domain = xstrdup(v);
	}
	if ((v = conf_get(c, "mail.from_name", NULL)) != NULL && *v != '\0')
		mc->from_name = xstrdup(v);
	if ((v = conf_get(c, "mail.outbox", NULL)) != NULL)
		mc->outbox = conf_path(c, v);
	else
		mc->outbox = xasprintf("%s/outbox", datadir != NULL ? datadir : ".");
	if ((v = conf_get(c, "mail.smtp_url", NULL)) != NULL) {
		if (strncmp(v, "smtp://", 7) != 0 && strncmp(v, "smtps://", 8) != 0) {
			err_set(e, ERR_REFUSED,
				"%s: mail.smtp_url must be smtp://host:port or "
				"smtps://host:port",
				path);
			goto out;
		}
		mc->smtp_url = xstrdup(v);
	} else if (mc->delivery == MAIL_DELIVERY_SMTP) {
		err_set(e, ERR_REFUSED, "%s: mail.delivery = smtp needs mail.smtp_url", path);
		goto out;
	}
	if ((mc->smtp_starttls = conf_bool(conf_get(c, "mail.smtp_starttls", "no"))) == -1) {
		err_set(e, ERR_REFUSED, "%s: mail.smtp_starttls must be yes or no", path);
		goto out;
	}
	if ((v = conf_get(c, "mail.smtp_user", NULL)) != NULL && *v != '\0')
		mc->smtp_user = xstrdup(v);
	if ((v = conf_get(c, "mail.smtp_password", NULL)) != NULL) {
		mc->smtp_password = xstrdup(v);
	} else if ((v = conf_get(c, "mail.smtp_password_env", NULL)) != NULL) {
		const char *pw = getenv(v);

		if (pw == NULL) {
			err_set(e, ERR_REFUSED,
				"%s: mail.smtp_password_env names an unset variable", path);
			goto out;
		}
		mc->smtp_password = xstrdup(pw);
	}
	if ((v = conf_get(c, "mail.smtp_cafile", NULL)) != NULL)
		mc->smtp_cafile = conf_path(c, v);
	if (conf_get_long(c, "mail.smtp_timeout", 30, 1, 600, &mc->smtp_timeout, e) == -1 ||
	    conf_get_long(c, "mail.max_age_hours", 72, 1, 24 * 60, &hours, e) == -1)
		goto out;
	mc->max_age = hours * 3600;
	rc = 0;
out:
	if (rc == -1)
		mail_conf_clear(mc);
	return rc;
}

/* ---- enqueue ---- */

int
mail_enqueue(const struct mail_conf *mc, struct store *s, const struct mail_msg *msg, int64_t *id,
	     struct err *e)
{
	struct mail_msg m = *msg;
	struct buf out;
	char *text, *sealed = NULL;
	int64_t rid = 0;
	int rc = -1, own = 0;

	buf_init(&out, MAIL_MSG_MAX);
	if (id != NULL)
		*id = 0;
	if (m.from == NULL)
		m.from = mc->from;
	if (m.from_name == NULL)
		m.from_name = mc->from_name;
	if (m.msgid_domain == NULL)
		m.msgid_domain = mc->domain;
	if (m.from == NULL) {
		err_set(e, ERR_REFUSED, "mail: no sender (set mail.from in shomei.conf)");
		goto out;
	}
	if (!mc->have_key) {
		err_set(e, ERR_INTERNAL, "mail: the queue key is not loaded (mail.key_file)");
		goto out;
	}
	if (mail_compose(&m, &out, e) == -1)
		goto out;
	if ((text = buf_cstr(&out)) == NULL) {
		err_set(e, ERR_REFUSED, "mail: message larger than its buffer allows");
		goto out;
	}
	/*
	 * The row first (its id goes into the seal), then its sealed text, in one transaction:
	 * the caller's, else one of its own, so that no sender ever claims the row between.
	 */
	if (!store_in_tx(s)) {
		if (store_begin(s, e) == -1)
			goto out;
		own = 1;
	}
	if (store_mail_enqueue(s, m.from, m.to, "", util_now(), &rid, e) == -1)
		goto out;
	sealed = mail_seal(mc->key, rid, m.from, m.to, text, out.len);
	if (store_mail_set_message(s, rid, sealed, e) == -1)
		goto out;
	if (own) {
		own = 0;
		if (store_commit(s, e) == -1)
			goto out;
	}
	if (id != NULL)
		*id = rid;
	rc = 0;
out:
	if (own)
		store_rollback(s);
	free(sealed);
	buf_free(&out); /* wipes: the text may carry a one-time link */
	return rc;
}

/* ---- maildir ---- */

/* A maildir file name: time.pid_random.host (host with '/' and ':' escaped as the spec says). */
static char *
maildir_name(void)
{
	struct timespec ts;
	unsigned char rnd[8];
	char rhex[17], host[256], safe[1024];
	size_t i, j = 0;

	util_random(rnd, sizeof(rnd));
	hex_encode(rhex, rnd, sizeof(rnd));
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0' && j + 5 < sizeof(safe); i++) {
		if (host[i] == '/' || host[i] == ':') {
			snprintf(safe + j, sizeof(safe) - j, "\\%03o", (unsigned char)host[i]);
			j += 4;
		} else {
			safe[j++] = host[i];
		}
	}
	safe[j] = '\0';
	/* seconds, then M<microseconds> (the maildir convention): names sort in delivery order */
	clock_gettime(CLOCK_REALTIME, &ts);
	return xasprintf("%lld.M%06ldP%ld_%s.%s", (long long)ts.tv_sec, ts.tv_nsec / 1000,
			 (long)getpid(), rhex, safe);
}

/* Writes all of p, turning CRLF into LF (maildir files use the local line end). */
static int
maildir_put(int fd, const unsigned char *p, size_t len)
{
	unsigned char chunk[8192];
	size_t i, n = 0;
	ssize_t w;
	size_t off;

	for (i = 0; i <= len; i++) {
		if (i < len && !(p[i] == '\r' && i + 1 < len && p[i + 1] == '\n'))
			chunk[n++] = p[i];
		if (n == sizeof(chunk) || (i == len && n > 0)) {
			for (off = 0; off < n; off += (size_t)w)
				if ((w = write(fd, chunk + off, n - off)) <= 0)
					return -1;
			n = 0;
		}
	}
	return 0;
}

int
mail_maildir_write_many(const char *dir, const char *const *msgs, const size_t *lens, size_t n,
			struct err *errs)
{
	char *tmpdir = NULL, *newdir = NULL, *curdir = NULL, **tmp = NULL, **dst = NULL;
	int fd, dfd = -1, *ok = NULL, rc = -1;
	struct err de;
	size_t i;

	err_clear(&de);
	for (i = 0; i < n; i++)
		err_clear(&errs[i]);
	tmpdir = xasprintf("%s/tmp", dir);
	newdir = xasprintf("%s/new", dir);
	curdir = xasprintf("%s/cur", dir);
	tmp = xcalloc(n + 1, sizeof(*tmp));
	dst = xcalloc(n + 1, sizeof(*dst));
	ok = xcalloc(n + 1, sizeof(*ok));
	if (util_mkdir_p(tmpdir, 0700, &de) == -1 || util_mkdir_p(newdir, 0700, &de) == -1 ||
	    util_mkdir_p(curdir, 0700, &de) == -1)
		goto fail_all;
	/* 1. every message into tmp/, not yet synced */
	for (i = 0; i < n; i++) {
		char *name = maildir_name();

		tmp[i] = xasprintf("%s/%s", tmpdir, name);
		dst[i] = xasprintf("%s/%s", newdir, name);
		free(name);
		if ((fd = open(tmp[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1) {
			err_set(&errs[i], ERR_INTERNAL, "mail: %s: %s", tmp[i], strerror(errno));
			continue;
		}
		if (maildir_put(fd, (const unsigned char *)msgs[i], lens[i]) == -1) {
			err_set(&errs[i], ERR_INTERNAL, "mail: %s: write: %s", tmp[i],
				strerror(errno));
			close(fd);
			unlink(tmp[i]);
			continue;
		}
		if (close(fd) == -1) {
			err_set(&errs[i], ERR_INTERNAL, "mail: %s: close: %s", tmp[i],
				strerror(errno));
			unlink(tmp[i]);
			continue;
		}
		ok[i] = 1;
	}
	/*
	 * 2. their data on disk with one sync of the file system instead of one fsync per file
	 * (each of which is a journal commit of its own); 3. into new/; 4. the renames durable
	 * with one fsync of new/.  A message is in new/ only once its data is on disk.
	 */
	if ((dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 || syncfs(dfd) == -1) {
		err_set(&de, ERR_INTERNAL, "mail: %s: sync: %s", tmpdir, strerror(errno));
		goto fail_all;
	}
	close(dfd);
	dfd = -1;
	for (i = 0; i < n; i++) {
		if (!ok[i])
			continue;
		if (rename(tmp[i], dst[i]) == -1) {
			err_set(&errs[i], ERR_INTERNAL, "mail: rename into %s: %s", newdir,
				strerror(errno));
			unlink(tmp[i]);
			ok[i] = 0;
		}
	}
	if ((dfd = open(newdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 || fsync(dfd) == -1) {
		/* in new/ perhaps, but not surely: a later attempt may deliver them twice */
		err_set(&de, ERR_INTERNAL, "mail: %s: fsync: %s", newdir, strerror(errno));
		goto fail_all;
	}
	rc = 0;
	goto out;
fail_all:
	for (i = 0; i < n; i++) {
		if (ok[i] && tmp[i] != NULL)
			unlink(tmp[i]);
		if (errs[i].code == ERR_OK)
			err_set(&errs[i], de.code == ERR_OK ? ERR_INTERNAL : de.code, "%s", de.msg);
	}
out:
	if (dfd != -1)
		close(dfd);
	for (i = 0; i < n; i++) {
		free(tmp[i]);
		free(dst[i]);
	}
	free(tmp);
	free(dst);
	free(ok);
	free(tmpdir);
	free(newdir);
	free(curdir);
	if (rc == 0)
		for (i = 0; i < n; i++)
			if (errs[i].code != ERR_OK)
				rc = -1;
	return rc;
}

int
mail_maildir_write(const char *dir, const void *msg, size_t len, struct err *e)
{
	const char *m = msg;

	return mail_maildir_write_many(dir, &m, &len, 1, e);
}

/* ---- SMTP (libcurl) ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;

static void
curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

struct smtp_src {
	const unsigned char *p;
	size_t left;
};

static size_t
smtp_read(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct smtp_src *src = arg;
	size_t n = size * nmemb;

	if (n > src->left)
		n = src->left;
	memcpy(dst, src->p, n);
	src->p += n;
	src->left -= n;
	return n;
}

int
mail_smtp_send(const struct mail_conf *mc, const char *sender, const char *recipient,
	       const void *msg, size_t len, struct err *e)
{
	CURL *c = NULL;
	struct curl_slist *rcpt = NULL;
	struct smtp_src src = {msg, len};
	char errbuf[CURL_ERROR_SIZE], from[MAIL_ADDR_MAX + 3], to[MAIL_ADDR_MAX + 3], esc[160];
	CURLcode cc;
	int rc = -1;

	errbuf[0] = '\0';
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc == -1) {
		err_set(e, ERR_INTERNAL, "mail: smtp: libcurl initialisation failed");
		goto out;
	}
	if (mc->smtp_url == NULL) {
		err_set(e, ERR_REFUSED, "mail: smtp: mail.smtp_url is not set");
		goto out;
	}
	/* the addresses passed the grammar when queued; check again, they go on the wire */
	if (!mail_addr_valid(sender) || !mail_addr_valid(recipient)) {
		err_set(e, ERR_REFUSED, "mail: smtp: bad envelope address");
		goto out;
	}
	snprintf(from, sizeof(from), "<%s>", sender);
	snprintf(to, sizeof(to), "<%s>", recipient);
	if ((c = curl_easy_init()) == NULL || (rcpt = curl_slist_append(NULL, to)) == NULL) {
		err_set(e, ERR_INTERNAL, "mail: smtp: out of memory");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, mc->smtp_url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, mc->smtp_timeout < 10 ? mc->smtp_timeout : 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, mc->smtp_timeout);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, smtp_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &src);
	if (mc->smtp_starttls)
		curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (mc->smtp_cafile != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, mc->smtp_cafile);
	if (mc->smtp_user != NULL)
		curl_easy_setopt(c, CURLOPT_USERNAME, mc->smtp_user);
	if (mc->smtp_password != NULL)
		curl_easy_setopt(c, CURLOPT_PASSWORD, mc->smtp_password);
	if ((cc = curl_easy_perform(c)) != CURLE_OK) {
		const char *m = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc);

		err_set(e, ERR_INTERNAL, "mail: smtp: %s",
			log_escape(esc, sizeof(esc), m, strlen(m)));
		goto out;
	}
	rc = 0;
out:
	curl_slist_free_all(rcpt);
	if (c != NULL)
		curl_easy_cleanup(c); /* libcurl keeps its copy of the password until here */
	return rc;
}

/* ---- the queue ---- */

/*
 * Claims up to max due mails, delivers them and records their outcomes (see mail_queue_run);
 * sync: the outcomes made durable before it returns (else the caller syncs).
 */
static int
mail_queue_batch(const struct mail_conf *mc, struct store *s, size_t max, int sync,
		 struct mail_run_stats *stats, struct err *e)
{
	enum { M_SENT, M_FAILED, M_RETRY, M_REFUSED };
	struct store_mail *v = NULL;
	struct mail_run_stats st = {0, 0, 0};
	struct err *de = NULL;
	struct buf *body = NULL;
	int *how = NULL;
	size_t n = 0, i;
	time_t now = util_now(), *when = NULL;
	char esc[160];
	int rc = -1, began = 0;

	if (!mc->have_key) {
		err_set(e, ERR_INTERNAL, "mail: the queue key is not loaded (mail.key_file)");
		goto out;
	}
	if (store_mail_claim(s, now, now + mc->smtp_timeout + MAIL_LOCK_SLACK, max, &v, &n, e) ==
	    -1)
		goto out;
	if (n == 0) {
		rc = 0;
		goto out;
	}
	/*
	 * Open every claimed body (a body that does not open is never sent: failed at once),
	 * deliver the others (no transaction open: SMTP may be slow), then record all outcomes
	 * in one transaction, so a run costs one durable commit, not one per mail.  A crash in
	 * between sends those mails again once their claim lapses: at least once (SMTP batches
	 * are of one mail: mail_queue_run).
	 */
	de = xcalloc(n, sizeof(*de));
	how = xcalloc(n, sizeof(*how));
	when = xcalloc(n, sizeof(*when));
	body = xcalloc(n, sizeof(*body));
	for (i = 0; i < n; i++) {
		err_clear(&de[i]);
		how[i] = M_SENT;
		if (mail_body_open(mc, &v[i], &body[i], &de[i]) == -1) {
			if (de[i].code == ERR_INTERNAL) { /* not the row's fault: no key */
				*e = de[i];
				goto out;
			}
			how[i] = M_REFUSED;
		}
	}
	if (mc->delivery == MAIL_DELIVERY_MAILDIR) {
		/* the run's messages in one go: one sync for all of them */
		const char **msgs = xcalloc(n, sizeof(*msgs));
		size_t *lens = xcalloc(n, sizeof(*lens)), k = 0, *idx = xcalloc(n, sizeof(*idx));
		struct err *ke = xcalloc(n, sizeof(*ke));

		for (i = 0; i < n; i++) {
			if (how[i] == M_REFUSED)
				continue;
			msgs[k] = (const char *)body[i].data;
			lens[k] = body[i].len;
			idx[k++] = i;
		}
		if (k > 0)
			(void)mail_maildir_write_many(mc->outbox, msgs, lens, k, ke);
		for (i = 0; i < k; i++)
			de[idx[i]] = ke[i];
		free(msgs);
		free(lens);
		free(idx);
		free(ke);
	} else {
		for (i = 0; i < n; i++)
			if (how[i] != M_REFUSED)
				(void)mail_smtp_send(mc, v[i].sender, v[i].recipient, body[i].data,
						     body[i].len, &de[i]);
	}
	for (i = 0; i < n; i++) {
		buf_free(&body[i]); /* wipes: the text may carry a one-time link */
		when[i] = util_now();
		if (how[i] == M_REFUSED || de[i].code == ERR_OK)
			continue;
		if (when[i] - v[i].created >= mc->max_age) {
			how[i] = M_FAILED;
		} else {
			how[i] = M_RETRY;
			when[i] += mail_backoff(v[i].attempts);
		}
	}
	if (store_begin(s, e) == -1)
		goto out;
	began = 1;
	for (i = 0; i < n; i++) {
		if ((how[i] == M_SENT && store_mail_sent(s, v[i].id, when[i], e) == -1) ||
		    ((how[i] == M_FAILED || how[i] == M_REFUSED) &&
		     store_mail_fail(s, v[i].id, when[i], de[i].msg, e) == -1) ||
		    (how[i] == M_RETRY &&
		     store_mail_retry(s, v[i].id, when[i], de[i].msg, e) == -1))
			goto out;
	}
	began = 0;
	if (store_commit(s, e) == -1)
		goto out;
	/* a deferring connection (the sender's): the outcomes on disk, without the lock held */
	if (sync && store_sync(s, e) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		struct store_mail *m = &v[i];

		log_escape(esc, sizeof(esc), m->recipient, strlen(m->recipient));
		if (how[i] == M_SENT) {
			log_info("mail: %" PRId64 " to %s delivered (%s)", m->id, esc,
				 mc->delivery == MAIL_DELIVERY_SMTP ? "smtp" : "maildir");
			st.sent++;
		} else if (how[i] == M_REFUSED) {
			log_warn("mail: %" PRId64 " to %s marked failed: %s", m->id, esc,
				 de[i].msg);
			st.failed++;
		} else if (how[i] == M_FAILED) {
			log_warn("mail: %" PRId64 " to %s given up after %" PRId64 " attempts: %s",
				 m->id, esc, m->attempts, de[i].msg);
			st.failed++;
		} else {
			log_warn("mail: %" PRId64 " to %s: attempt %" PRId64
				 " failed, next in %lds: %s",
				 m->id, esc, m->attempts, mail_backoff(m->attempts), de[i].msg);
			st.retried++;
		}
	}
	rc = 0;
out:
	if (began)
		store_rollback(s);
	if (stats != NULL)
		*stats = st;
	for (i = 0; body != NULL && i < n; i++)
		buf_free(&body[i]);
	free(body);
	free(de);
	free(how);
	free(when);
	STORE_LIST_FREE(v, n, store_mail_clear);
	return rc;
}

/*
 * Maildir: the run's mails in one batch (one sync of the file system for all of them).
 * SMTP: one mail at a time — claimed, delivered and its outcome committed before the next is
 * claimed — so that a process crash leaves at most the mail being delivered unrecorded (sent
 * again once its claim lapses: the one duplicate a crash can make), never the ones the server
 * accepted before it; and a slow server cannot hold a run's claims past their lapse (another
 * front end would send those again).  The outcomes are made durable once, at the end: on
 * SQLite a power loss (not a process crash) can therefore send a run's accepted mails again.
 */
int
mail_queue_run(const struct mail_conf *mc, struct store *s, size_t max,
	       struct mail_run_stats *stats, struct err *e)
{
	struct mail_run_stats one, all = {0, 0, 0};
	size_t i;
	int rc = -1;

	if (mc->delivery != MAIL_DELIVERY_SMTP)
		return mail_queue_batch(mc, s, max, 1, stats, e);
	for (i = 0; i < (max > 0 ? max : 1); i++) {
		memset(&one, 0, sizeof(one));
		if (mail_queue_batch(mc, s, 1, 0, &one, e) == -1)
			goto out;
		all.sent += one.sent;
		all.retried += one.retried;
		all.failed += one.failed;
		if (one.sent + one.retried + one.failed == 0)
			break;
	}
	if (all.sent + all.retried + all.failed > 0 && store_sync(s, e) == -1)
		goto out;
	rc = 0;
out:
	if (stats != NULL)
		*stats = all;
	return rc;
}

/* ---- the background sender ---- */

struct mail_sender {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int kick; /* mail was queued: run now */
	unsigned interval;
	struct mail_conf mc;
	char *spec;
};

/* After a kick the sender waits this long for more mail before it runs the queue. */
#define MAIL_GATHER_MS 50	/* the first mail after a quiet time */
#define MAIL_GATHER_BUSY_MS 250 /* while mail keeps coming: at most ~4 runs a second */

/* The sender of this process, woken by the store after a commit that queued mail. */
static struct mail_sender *mail_sender_running;

static void
mail_sender_kick(void)
{
	struct mail_sender *ms = mail_sender_running;

	if (ms == NULL)
		return;
	pthread_mutex_lock(&ms->mu);
	ms->kick = 1;
	pthread_cond_signal(&ms->cv);
	pthread_mutex_unlock(&ms->mu);
}

static void *
mail_sender_main(void *arg)
{
	struct mail_sender *ms = arg;
	struct store *s = NULL;
	struct mail_run_stats rs;
	struct timespec until;
	struct err e;
	long gather_ms;
	int stop = 0;

	util_thread_name("shomei-mail");
	while (!stop) {
		err_clear(&e);
		memset(&rs, 0, sizeof(rs));
		/*
		 * Its commits do not hold SQLite's write lock through an fsync (the group commit
		 * waits for that lock): the outcomes are synced after their commit, and a claim
		 * lost in a crash only means that mail is sent again (at least once, as when the
		 * crash comes between delivery and outcome).
		 */
		if (s == NULL &&
		    (store_open(&s, ms->spec, &e) == -1 || store_defer_sync(s, &e) == -1)) {
			log_warn("mail sender: %s", e.msg);
			store_close(s);
			s = NULL;
		}
		if (s != NULL && mail_queue_run(&ms->mc, s, 100, &rs, &e) == -1) {
			log_warn("mail sender: %s", e.msg);
			store_close(s); /* reconnect next round */
			s = NULL;
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += ms->interval;
		pthread_mutex_lock(&ms->mu);
		while (!ms->stop && !ms->kick &&
		       pthread_cond_timedwait(&ms->cv, &ms->mu, &until) == 0)
			;
		if (ms->kick && !ms->stop) {
			/*
			 * Gather: mails queued by a burst of requests go out in one run, and the
			 * sender's writes (two commits and two syncs a run) do not cut into every
			 * request's.  The first mail after a quiet time waits 50 ms; while mail
			 * keeps coming (the last run delivered some) runs are 250 ms apart.
			 */
			gather_ms = rs.sent + rs.retried + rs.failed > 0 ? MAIL_GATHER_BUSY_MS
									 : MAIL_GATHER_MS;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += gather_ms * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (!ms->stop && pthread_cond_timedwait(&ms->cv, &ms->mu, &until) == 0)
				;
		}
		ms->kick = 0;
		stop = ms->stop;
		pthread_mutex_unlock(&ms->mu);
	}
	store_close(s);
	return NULL;
}

int
mail_sender_start(const struct conf *c, const char *datadir, const char *store_spec,
		  const unsigned char key[MAIL_KEY_LEN], unsigned interval,
		  struct mail_sender **out, struct err *e)
{
	struct mail_sender *ms = xcalloc(1, sizeof(*ms));
	int rc = -1, locks = 0;

	*out = NULL;
	if (mail_conf_load(&ms->mc, c, datadir, e) == -1)
		goto out;
	mail_conf_set_key(&ms->mc, key);
	ms->spec = xstrdup(store_spec);
	ms->interval = interval > 0 ? interval : 5;
	if (pthread_mutex_init(&ms->mu, NULL) != 0 || pthread_cond_init(&ms->cv, NULL) != 0) {
		err_set(e, ERR_INTERNAL, "mail sender: cannot create its lock");
		goto out;
	}
	locks = 1;
	if (pthread_create(&ms->th, NULL, mail_sender_main, ms) != 0) {
		err_set(e, ERR_INTERNAL, "mail sender: cannot start its thread");
		goto out;
	}
	mail_sender_running = ms;
	store_set_mail_hook(mail_sender_kick);
	*out = ms;
	ms = NULL;
	rc = 0;
out:
	if (ms != NULL) {
		if (locks) {
			pthread_mutex_destroy(&ms->mu);
			pthread_cond_destroy(&ms->cv);
		}
		mail_conf_clear(&ms->mc);
		free(ms->spec);
		free(ms);
	}
	return rc;
}

void
mail_sender_stop(struct mail_sender *ms)
{
	if (ms == NULL)
		return;
	if (mail_sender_running == ms) {
		store_set_mail_hook(NULL);
		mail_sender_running = NULL;
	}
	pthread_mutex_lock(&ms->mu);
	ms->stop = 1;
	pthread_cond_signal(&ms->cv);
	pthread_mutex_unlock(&ms->mu);
	pthread_join(ms->th, NULL);
	pthread_mutex_destroy(&ms->mu);
	pthread_cond_destroy(&ms->cv);
	mail_conf_clear(&ms->mc);
	free(ms->spec);
	free(ms);
}
