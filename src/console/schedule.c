/*
 * schedule: the console's periodic work in the web process — idle sessions ended (audited
 * console.timeout), renewed certificates' reminders and their supersession when the waiting
 * period is over, the expiry reminders (30 and 7 days), the officers' renewal mails and the
 * supersession of their old certificates. At start, then every console.schedule_seconds.  Each step
 * is its own transaction in src/ra; two web processes (a reload, or front ends on one PostgreSQL)
 * running it at once do each change once (conditional updates).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "console_int.h"

static struct {
	struct ca *ca;
	pthread_t thread;
	atomic_int stop;
	int started;
	long interval;
} csched;

/* One run of every step; each failure is logged and the next step still runs. */
static void
console_schedule_run(struct ca *ca)
{
	struct ra_officer_notify on;
	struct ra_ocert_notify cn;
	struct store *st;
	struct err e;
	size_t a = 0, b = 0;
	time_t now = util_now();

	err_clear(&e);
	if ((st = ca_thread_store(ca, &e)) == NULL) {
		log_warn("console schedule: %s", e.msg);
		return;
	}
	if (ra_osess_sweep(st, console.idle_s, now, &a, &e) == -1)
		log_warn("console schedule: sessions: %s", e.msg);
	else if (a > 0)
		log_info("console schedule: %zu idle sessions ended", a);
	err_clear(&e);
	console_mail_ocert_notify(&console.mail, &cn);
	if (ra_ocert_replace_due(ca, st, now, &cn, &a, &b, &e) == -1)
		log_warn("console schedule: replacements: %s", e.msg);
	else if (a + b > 0)
		log_info("console schedule: %zu replaced certificates revoked, %zu reminded", a, b);
	err_clear(&e);
	if (ra_ocert_expiry_due(st, now, &cn, &a, &e) == -1)
		log_warn("console schedule: expiry reminders: %s", e.msg);
	else if (a > 0)
		log_info("console schedule: %zu expiry reminders mailed", a);
	err_clear(&e);
	if (ra_client_purge(st, now, &e) == -1)
		log_warn("console schedule: client certificates' PKCS#12 and ZIPs: %s", e.msg);
	err_clear(&e);
	console_mail_notify(&console.mail, &on);
	if (ra_officer_renew_due(ca, st, now, &on, &a, &e) == -1)
		log_warn("console schedule: officer renewals: %s", e.msg);
	else if (a > 0)
		log_info("console schedule: %zu officer renewals mailed", a);
	err_clear(&e);
	if (ra_officer_supersede_due(ca, st, now, &a, &e) == -1)
		log_warn("console schedule: officer certificates: %s", e.msg);
	else if (a > 0)
		log_info("console schedule: %zu superseded officer certificates revoked", a);
}

static void *
console_schedule_main(void *arg)
{
	long i;

	(void)arg;
	while (!csched.stop) {
		console_schedule_run(csched.ca);
		for (i = 0; i < csched.interval * 10 && !csched.stop; i++)
			usleep(100000); /* stop promptly */
	}
	return NULL;
}

int
console_schedule_start(struct ca *ca, struct err *e)
{
	if (conf_get_long(&ca->conf, "console.schedule_seconds", 60, 1, 86400, &csched.interval,
			  e) == -1)
		return -1;
	csched.ca = ca;
	csched.stop = 0;
	if (pthread_create(&csched.thread, NULL, console_schedule_main, NULL) != 0)
		return err_set(e, ERR_INTERNAL, "console: cannot start the schedule thread");
	csched.started = 1;
	return 0;
}

void
console_schedule_stop(void)
{
	if (!csched.started)
		return;
	csched.stop = 1;
	pthread_join(csched.thread, NULL);
	csched.started = 0;
}
