/*
 * mail: the officers' mails (struct ra_officer_notify), in Japanese then English, queued with
 * src/mail in the transaction of the RA operation that causes them.  The enrolment mail
 * carries the certificate URL on the public HTTPS listener (console.public_base_url); the
 * renewal mail the renewal URL on the console listener (console.base_url).  Neither carries
 * the access PIN: the CA operator hands it over separately.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "console.h"
#include "mail/mail.h"

const char *const console_conf_keys[] = {
    "console.base_url",	   "console.enrol_days",      "console.idle_timeout",
    "console.officer_ca",  "console.public_base_url", "console.schedule_seconds",
    "console.secret_file", "test.bulk_line_delay_ms", NULL,
};

void
console_mail_clear(struct console_mail *m)
{
	if (m == NULL)
		return;
	mail_conf_clear(&m->mail);
	free(m->public_base);
	free(m->console_base);
	memset(m, 0, sizeof(*m));
}

/* A base URL without its trailing slashes (caller frees). */
static char *
console_mail_base(const char *s)
{
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '/')
		n--;
	return xstrndup(s, n);
}

int
console_mail_init(struct console_mail *m, struct ca *ca, struct err *e)
{
	unsigned char key[MAIL_KEY_LEN];
	const char *portal_base;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	if (mail_conf_load(&m->mail, &ca->conf, ca->datadir, e) == -1 ||
	    mail_key_load(&ca->conf, key, e) == -1)
		goto out;
	mail_conf_set_key(&m->mail, key);
	m->enrol_days = ra_officer_enrol_days(ca);
	if (conf_get_long(&ca->conf, "console.download_days", 14, 1, 3650, &m->download_days, e) ==
	    -1)
		goto out;
	portal_base = conf_get(&ca->conf, "portal.base_url", CONSOLE_PORTAL_BASE_DEFAULT);
	m->public_base =
	    console_mail_base(conf_get(&ca->conf, "console.public_base_url", portal_base));
	m->console_base =
	    console_mail_base(conf_get(&ca->conf, "console.base_url", CONSOLE_BASE_DEFAULT));
	rc = 0;
out:
	sodium_memzero(key, sizeof(key));
	if (rc == -1)
		console_mail_clear(m);
	return rc;
}

/* Queues body (wiped and freed here) to the address to with subject. */
static int
console_mail_queue(struct console_mail *m, struct store *st, const char *to, const char *subject,
		   int printed, struct buf *body, struct err *e)
{
	struct mail_msg msg;
	int rc = -1;

	if (printed == -1 || buf_cstr(body) == NULL) {
		err_set(e, ERR_INTERNAL, "console: mail body too large");
		goto out;
	}
	memset(&msg, 0, sizeof(msg));
	msg.to = to;
	msg.subject = subject;
	msg.body = (const char *)body->data;
	msg.cte = m->mail.cte;
	rc = mail_enqueue(&m->mail, st, &msg, NULL, e);
out:
	if (body->data != NULL)
		sodium_memzero(body->data, body->len);
	buf_free(body);
	return rc;
}

/* The organization's name as the mail names it ("" for operators and auditors). */
static const char *
console_mail_org(const struct ra_officer *o)
{
	return o->org_name[0] != '\0' ? o->org_name : o->org_code;
}

int
console_mail_enrol(void *arg, struct store *st, const struct ra_officer *o, const char *token,
		   struct err *e)
{
	struct console_mail *m = arg;
	struct buf body;
	int printed;

	buf_init(&body, MAIL_BODY_MAX);
	printed = buf_printf(
	    &body,
	    "%s 様\n\n"
	    "登録担当者 (RA officer) 用証明書の発行を受け付けました。\n"
	    "所属: %s\n\n"
	    "次の URL を開き、アクセス PIN を入力して証明書 (PKCS#12) を受け取ってください。\n"
	    "URL は一度だけ使え、%ld 日間有効です。PIN を 5 回間違えると無効になります。\n\n"
	    "%s/officer/enrol/%s\n\n"
	    "アクセス PIN はこのメールには書かれていません。CA の運用者から別の経路で届きます。\n"
	    "心当たりがない場合は、このメールを破棄し、CA の運用者に連絡してください。\n\n"
	    "----\n\n"
	    "Dear %s,\n\n"
	    "An RA officer certificate has been requested for you (%s).\n\n"
	    "Open the URL below and enter your access PIN to receive the certificate (PKCS#12).\n"
	    "The URL can be used once and is valid for %ld days; 5 wrong PINs disable it.\n\n"
	    "%s/officer/enrol/%s\n\n"
	    "The access PIN is not in this mail: the CA operator hands it to you separately.\n"
	    "If you did not expect this mail, discard it and tell the CA operator.\n",
	    o->name, o->org_id != 0 ? console_mail_org(o) : "CA", m->enrol_days, m->public_base,
	    token, o->name, o->org_id != 0 ? console_mail_org(o) : "CA", m->enrol_days,
	    m->public_base, token);
	return console_mail_queue(m, st, o->email, CONSOLE_MAIL_SUBJECT_ENROL, printed, &body, e);
}

int
console_mail_renew(void *arg, struct store *st, const struct ra_officer *o, const char *token,
		   struct err *e)
{
	struct console_mail *m = arg;
	struct buf body;
	int printed;

	buf_init(&body, MAIL_BODY_MAX);
	printed = buf_printf(
	    &body,
	    "%s 様\n\n"
	    "登録担当者 (RA officer) 用証明書の有効期限が近づいています。\n\n"
	    "現在の証明書をブラウザーに入れたまま、次の URL を開いて更新してください。\n"
	    "URL は %ld 日間有効です。新しい証明書で初めてログインすると、古い証明書は失効します\n"
	    "(ログインしない場合も、更新の 14 日後に失効します)。\n\n"
	    "%s/officer/renew/%s\n\n"
	    "心当たりがない場合は、CA の運用者に連絡してください。\n\n"
	    "----\n\n"
	    "Dear %s,\n\n"
	    "Your RA officer certificate expires soon.\n\n"
	    "With your current certificate in the browser, open the URL below to renew it. The\n"
	    "URL is valid for %ld days. Your first login with the new certificate revokes the old\n"
	    "one (so do 14 days after the renewal, whether you log in or not).\n\n"
	    "%s/officer/renew/%s\n\n"
	    "If you did not expect this mail, tell the CA operator.\n",
	    o->name, m->enrol_days, m->console_base, token, o->name, m->enrol_days, m->console_base,
	    token);
	return console_mail_queue(m, st, o->email, CONSOLE_MAIL_SUBJECT_RENEW, printed, &body, e);
}

/* The user administrator's name for a salutation ("" gives a neutral one). */
static const char *
console_mail_admin(const struct store_certadmin *a)
{
	return a->admin_name != NULL && a->admin_name[0] != '\0' ? a->admin_name : "";
}

int
console_mail_ready(void *arg, struct store *st, const struct store_certadmin *a, const char *token,
		   struct err *e)
{
	struct console_mail *m = arg;
	struct buf body;
	int printed;

	buf_init(&body, MAIL_BODY_MAX);
	printed = buf_printf(
	    &body,
	    "%s%s\n\n"
	    "登録担当者が次の証明書を発行しました。\n"
	    "種類: %s\nシリアル番号: %s\n\n"
	    "次の URL を開き、ボタンを押して証明書を受け取ってください。\n"
	    "受け取りは一度だけです。URL は %ld 日間有効です。\n\n"
	    "%s/cert/%s\n\n"
	    "更新の証明書の場合は、新しい証明書に入れ替えたら同じページで入れ替えの完了を\n"
	    "知らせてください。古い証明書はそのとき失効します。\n\n"
	    "----\n\n"
	    "%s%s\n\n"
	    "Your RA officer has issued a certificate.\n"
	    "Kind: %s\nSerial number: %s\n\n"
	    "Open the URL below and press the button to receive it. It can be downloaded once;\n"
	    "the URL is valid for %ld days.\n\n"
	    "%s/cert/%s\n\n"
	    "For a renewal, tell us on the same page once the new certificate is in place: the\n"
	    "old one is revoked then.\n",
	    console_mail_admin(a), console_mail_admin(a)[0] != '\0' ? " 様" : "利用管理者 様",
	    a->kind, a->serial, m->download_days, m->public_base, token,
	    console_mail_admin(a)[0] != '\0' ? "Dear " : "Dear user administrator",
	    console_mail_admin(a), a->kind, a->serial, m->download_days, m->public_base, token);
	return console_mail_queue(m, st, a->admin_email, CONSOLE_MAIL_SUBJECT_READY, printed, &body,
				  e);
}

int
console_mail_remind(void *arg, struct store *st, const struct store_certadmin *a, struct err *e)
{
	struct console_mail *m = arg;
	struct buf body;
	struct tm tm;
	char when[32];
	int printed;

	gmtime_r(&a->replace_due, &tm);
	if (strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm) == 0)
		when[0] = '\0';
	buf_init(&body, MAIL_BODY_MAX);
	printed = buf_printf(
	    &body,
	    "%s%s\n\n"
	    "次の証明書は更新されましたが、入れ替えの完了がまだ知らされていません。\n"
	    "シリアル番号: %s\n\n"
	    "この証明書は %s に失効します。それまでに新しい証明書へ入れ替えてください。\n\n"
	    "----\n\n"
	    "%s%s\n\n"
	    "The certificate below was renewed, but its replacement has not been confirmed.\n"
	    "Serial number: %s\n\n"
	    "It will be revoked at %s: put the new certificate in place before then.\n",
	    console_mail_admin(a), console_mail_admin(a)[0] != '\0' ? " 様" : "利用管理者 様",
	    a->serial, when, console_mail_admin(a)[0] != '\0' ? "Dear " : "Dear user administrator",
	    console_mail_admin(a), a->serial, when);
	return console_mail_queue(m, st, a->admin_email, CONSOLE_MAIL_SUBJECT_REMIND, printed,
				  &body, e);
}

int
console_mail_expiring(void *arg, struct store *st, const struct store_certadmin *a,
		      time_t not_after, int days, struct err *e)
{
	struct console_mail *m = arg;
	struct buf body;
	struct tm tm;
	char when[32];
	int printed, i;
	const char *to[2] = {a->admin_email, a->holder_email};

	gmtime_r(&not_after, &tm);
	if (strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm) == 0)
		when[0] = '\0';
	/* the user administrator, and the holder of a client certificate when one is known */
	for (i = 0; i < 2; i++) {
		if (to[i] == NULL || to[i][0] == '\0' || (i == 1 && strcmp(to[1], to[0]) == 0))
			continue;
		buf_init(&body, MAIL_BODY_MAX);
		printed = buf_printf(&body,
				     "%s%s\n\n"
				     "次の証明書の有効期限が %d 日以内に切れます。\n"
				     "種類: %s\nシリアル番号: %s\n有効期限: %s\n\n"
				     "引き続き使う場合は、登録担当者に更新を依頼してください。\n\n"
				     "----\n\n"
				     "%s%s\n\n"
				     "The certificate below expires within %d days.\n"
				     "Kind: %s\nSerial number: %s\nValid until: %s\n\n"
				     "To keep using it, ask your RA officer to renew it.\n",
				     console_mail_admin(a),
				     console_mail_admin(a)[0] != '\0' ? " 様" : "利用管理者 様",
				     days, a->kind, a->serial, when,
				     console_mail_admin(a)[0] != '\0' ? "Dear "
								      : "Dear user administrator",
				     console_mail_admin(a), days, a->kind, a->serial, when);
		if (console_mail_queue(m, st, to[i],
				       days <= 7 ? CONSOLE_MAIL_SUBJECT_EXPIRY7
						 : CONSOLE_MAIL_SUBJECT_EXPIRY30,
				       printed, &body, e) == -1)
			return -1;
	}
	return 0;
}

void
console_mail_ocert_notify(struct console_mail *m, struct ra_ocert_notify *n)
{
	n->arg = m;
	n->ready = console_mail_ready;
	n->remind = console_mail_remind;
	n->expiring = console_mail_expiring;
}

void
console_mail_notify(struct console_mail *m, struct ra_officer_notify *n)
{
	memset(n, 0, sizeof(*n));
	n->arg = m;
	n->enrol = console_mail_enrol;
	n->renew = console_mail_renew;
}

/* "YYYY-MM-DD HH:MM UTC" of t. */
static void
console_mail_when(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		out[0] = '\0';
}

/* The holder's name for a salutation. */
static const char *
console_mail_holder(const struct store_certadmin *a)
{
	return a->holder_name != NULL && a->holder_name[0] != '\0' ? a->holder_name : "";
}

/* The holder's certificate URL; the PIN comes separately (pin_mailed: by a second mail). */
static int
console_mail_client_url(void *arg, struct store *st, const struct store_certadmin *a,
			const char *token, time_t expires, int pin_mailed, struct err *e)
{
	struct console_mail *m = arg;
	struct buf body;
	char when[32];
	int printed;

	console_mail_when(expires, when);
	buf_init(&body, MAIL_BODY_MAX);
	printed = buf_printf(
	    &body,
	    "%s%s\n\n"
	    "登録担当者があなたのクライアント証明書を発行しました。\n"
	    "シリアル番号: %s\n\n"
	    "次の URL を開き、アクセス PIN を入力して証明書 (PKCS#12 ファイル) を受け取って\n"
	    "ください。受け取りは一度だけです。URL の有効期限は %s です。\n"
	    "PIN を 5 回間違えると URL は無効になります。\n\n"
	    "%s/client/%s\n\n"
	    "アクセス PIN はこのメールには書かれていません。%s\n"
	    "PKCS#12 ファイルを取り込む (インポートする) ときのパスワードも同じアクセス PIN "
	    "です。\n\n"
	    "----\n\n"
	    "%s%s\n\n"
	    "Your RA officer has issued your client certificate.\n"
	    "Serial number: %s\n\n"
	    "Open the URL below and enter your access PIN to receive the certificate (a PKCS#12\n"
	    "file). It can be downloaded once; the URL expires at %s.\n"
	    "5 wrong PINs disable the URL.\n\n"
	    "%s/client/%s\n\n"
	    "The access PIN is not in this mail. %s\n"
	    "The same access PIN is the password for importing the PKCS#12 file.\n",
	    console_mail_holder(a), console_mail_holder(a)[0] != '\0' ? " 様" : "証明書利用者 様",
	    a->serial, when, m->public_base, token,
	    pin_mailed ? "別のメールで届く PIN 表示用の URL から一度だけ表示できます。"
		       : "利用管理者または登録担当者から別の経路で届きます。",
	    console_mail_holder(a)[0] != '\0' ? "Dear " : "Dear certificate holder",
	    console_mail_holder(a), a->serial, when, m->public_base, token,
	    pin_mailed ? "A separate mail brings a URL that shows it once."
		       : "Your user administrator or RA officer hands it to you separately.");
	return console_mail_queue(m, st, a->holder_email, CONSOLE_MAIL_SUBJECT_CLIENT, printed,
				  &body, e);
}

/* The holder's PIN URL, in a mail of its own. */
static int
console_mail_client_pin(void *arg, struct store *st, const struct store_certadmin *a,
			const char *token, time_t expires, struct err *e)
{
	struct console_mail *m = arg;
	struct buf body;
	char when[32];
	int printed;

	console_mail_when(expires, when);
	buf_init(&body, MAIL_BODY_MAX);
	printed = buf_printf(
	    &body,
	    "%s%s\n\n"
	    "クライアント証明書 (シリアル番号 %s) のアクセス PIN をお知らせします。\n"
	    "次の URL を開き、ボタンを押すと PIN が一度だけ表示されます。有効期限は %s です。\n\n"
	    "%s/client/pin/%s\n\n"
	    "証明書の URL は別のメールで届いています。\n\n"
	    "----\n\n"
	    "%s%s\n\n"
	    "This mail brings the access PIN of your client certificate (serial number %s).\n"
	    "Open the URL below and press the button: the PIN is shown once. The URL expires at\n"
	    "%s.\n\n"
	    "%s/client/pin/%s\n\n"
	    "The certificate's URL came in another mail.\n",
	    console_mail_holder(a), console_mail_holder(a)[0] != '\0' ? " 様" : "証明書利用者 様",
	    a->serial, when, m->public_base, token,
	    console_mail_holder(a)[0] != '\0' ? "Dear " : "Dear certificate holder",
	    console_mail_holder(a), a->serial, when, m->public_base, token);
	return console_mail_queue(m, st, a->holder_email, CONSOLE_MAIL_SUBJECT_CLIENT_PIN, printed,
				  &body, e);
}

/* The user administrator's ZIP URL; the ZIP's password comes from the RA officer. */
static int
console_mail_client_zip(void *arg, struct store *st, const char *admin_name,
			const char *admin_email, const char *token, size_t count, time_t expires,
			struct err *e)
{
	struct console_mail *m = arg;
	const char *n = admin_name != NULL ? admin_name : "";
	struct buf body;
	char when[32];
	int printed;

	console_mail_when(expires, when);
	buf_init(&body, MAIL_BODY_MAX);
	printed = buf_printf(
	    &body,
	    "%s%s\n\n"
	    "登録担当者がクライアント証明書 %zu 件を発行しました。\n"
	    "次の URL を開き、ボタンを押して ZIP ファイル (各利用者の PKCS#12 ファイルと\n"
	    "PIN の一覧) を受け取ってください。受け取りは一度だけです。有効期限は %s です。\n\n"
	    "%s/client/zip/%s\n\n"
	    "ZIP ファイルは AES-256 で暗号化されています。パスワードはこのメールには書かれて\n"
	    "いません。登録担当者から別の経路で届きます。展開には 7-Zip などの AES 対応の\n"
	    "ツールを使ってください。各利用者には PKCS#12 ファイルとその PIN を別々に渡して\n"
	    "ください。\n\n"
	    "----\n\n"
	    "%s%s\n\n"
	    "Your RA officer has issued %zu client certificates.\n"
	    "Open the URL below and press the button to receive one ZIP file (each holder's\n"
	    "PKCS#12 file and the list of their PINs). It can be downloaded once; the URL\n"
	    "expires at %s.\n\n"
	    "%s/client/zip/%s\n\n"
	    "The ZIP file is AES-256 encrypted. Its password is not in this mail: your RA officer\n"
	    "hands it to you separately. Open it with a tool that knows AES ZIP files, such as\n"
	    "7-Zip. Give each holder their PKCS#12 file and its PIN separately.\n",
	    n, n[0] != '\0' ? " 様" : "利用管理者 様", count, when, m->public_base, token,
	    n[0] != '\0' ? "Dear " : "Dear user administrator", n, count, when, m->public_base,
	    token);
	return console_mail_queue(m, st, admin_email, CONSOLE_MAIL_SUBJECT_CLIENT_ZIP, printed,
				  &body, e);
}

void
console_mail_client_notify(struct console_mail *m, struct ra_client_notify *n)
{
	memset(n, 0, sizeof(*n));
	n->arg = m;
	n->url = console_mail_client_url;
	n->pin = console_mail_client_pin;
	n->zip = console_mail_client_zip;
}
