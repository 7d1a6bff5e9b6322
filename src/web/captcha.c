/*
 * captcha: a PNG of 6 characters drawn with libgd (TrueType font, each character rotated and
 * shifted, noise lines and dots), remembered in the store only as hashes so that any front
 * end can check it, single use and expiring.
 */

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <gd.h>
#include <sodium.h>

#include "store/store.h"
#include "web.h"

#define CAPTCHA_PURGE_INTERVAL 60 /* seconds */

/* No look-alikes: none of 0 O Q 1 I L 2 Z 5 S 6 G 8 B; case does not matter (upper only). */
static const char captcha_alphabet[] = "ACDEFHJKMNPRTUVWXY34679";
#define CAPTCHA_LEN 6
#define CAPTCHA_PNG_MAX (256 * 1024)
#define PURPOSE_MAX 64

static pthread_once_t captcha_once = PTHREAD_ONCE_INIT;

/* libgd's FreeType cache must be set up before threads draw text. */
static void
captcha_font_cache(void)
{
	(void)gdFontCacheSetup();
}

/*
 * The noise of one image (positions, angles, colours: thousands of numbers) comes from a
 * ChaCha20 stream keyed with one fresh random seed, refilled from a new seed when used up —
 * instead of one getrandom() system call per number, which cost more than the drawing.
 * (The answer's characters are still drawn with randombytes_uniform().)
 */
#define RND_POOL 4096

struct rnd_pool {
	uint32_t v[RND_POOL];
	size_t used;
};

static void
rnd_fill(struct rnd_pool *p)
{
	unsigned char seed[randombytes_SEEDBYTES];

	randombytes_buf(seed, sizeof(seed));
	randombytes_buf_deterministic(p->v, sizeof(p->v), seed);
	sodium_memzero(seed, sizeof(seed));
	p->used = 0;
}

/* A random integer in [lo, hi] (the tiny modulo bias does not matter for noise). */
static int
rnd_in(struct rnd_pool *p, int lo, int hi)
{
	if (p->used == RND_POOL)
		rnd_fill(p);
	return lo + (int)(p->v[p->used++] % (uint32_t)(hi - lo + 1));
}
#define rnd(lo, hi) rnd_in(&pool, (lo), (hi))

int
captcha_draw(const struct captcha_conf *cc, const char *answer, struct buf *png, struct err *e)
{
	gdImagePtr im = NULL;
	void *data = NULL;
	int size = 0, rc = -1, n = (int)strlen(answer), i, step, bg;
	struct rnd_pool pool;

	pthread_once(&captcha_once, captcha_font_cache);
	rnd_fill(&pool);
	if (n == 0 || n > CAPTCHA_ANSWER_MAX) {
		err_set(e, ERR_INTERNAL, "captcha: answer of %d characters", n);
		goto out;
	}
	if ((im = gdImageCreateTrueColor(CAPTCHA_WIDTH, CAPTCHA_HEIGHT)) == NULL) {
		err_set(e, ERR_INTERNAL, "captcha: cannot create image");
		goto out;
	}
	bg = gdTrueColor(rnd(235, 250), rnd(235, 250), rnd(235, 250));
	gdImageFilledRectangle(im, 0, 0, CAPTCHA_WIDTH - 1, CAPTCHA_HEIGHT - 1, bg);
	/* faint dots under the text */
	for (i = 0; i < 500; i++)
		gdImageSetPixel(im, rnd(0, CAPTCHA_WIDTH - 1), rnd(0, CAPTCHA_HEIGHT - 1),
				gdTrueColor(rnd(100, 220), rnd(100, 220), rnd(100, 220)));
	step = (CAPTCHA_WIDTH - 20) / n;
	for (i = 0; i < n; i++) {
		int brect[8], col, x, y;
		double angle = (double)rnd(-25, 25) * M_PI / 180.0;
		char ch[2] = {answer[i], '\0'};
		char *msg;

		col = gdTrueColor(rnd(10, 90), rnd(10, 90), rnd(40, 130));
		x = 10 + i * step + rnd(-2, 4);
		y = CAPTCHA_HEIGHT / 2 + 12 + rnd(-6, 6);
		msg = gdImageStringFT(im, brect, col, (char *)cc->font, (double)rnd(19, 23), angle,
				      x, y, ch);
		if (msg != NULL) {
			err_set(e, ERR_INTERNAL, "captcha: font %s: %s", cc->font, msg);
			goto out;
		}
	}
	/* lines across the text */
	gdImageSetThickness(im, 2);
	for (i = 0; i < 6; i++)
		gdImageLine(im, rnd(0, CAPTCHA_WIDTH / 3), rnd(0, CAPTCHA_HEIGHT - 1),
			    rnd(2 * CAPTCHA_WIDTH / 3, CAPTCHA_WIDTH - 1),
			    rnd(0, CAPTCHA_HEIGHT - 1),
			    gdTrueColor(rnd(60, 160), rnd(60, 160), rnd(60, 160)));
	gdImageSetThickness(im, 1);
	for (i = 0; i < 300; i++)
		gdImageSetPixel(im, rnd(0, CAPTCHA_WIDTH - 1), rnd(0, CAPTCHA_HEIGHT - 1),
				gdTrueColor(rnd(0, 120), rnd(0, 120), rnd(0, 120)));
	if ((data = gdImagePngPtrEx(im, &size, 1)) == NULL || size <= 0) {
		err_set(e, ERR_INTERNAL, "captcha: PNG encoding failed");
		goto out;
	}
	buf_reset(png);
	if (buf_append(png, data, (size_t)size) == -1) {
		err_set(e, ERR_INTERNAL, "captcha: PNG of %d bytes does not fit", size);
		goto out;
	}
	rc = 0;
out:
	if (data != NULL)
		gdFree(data);
	if (im != NULL)
		gdImageDestroy(im);
	return rc;
}

/*
 * The stored form of an answer: BLAKE2b-256 keyed with the (secret, unstored) id over
 * purpose || NUL || the answer upper-cased with surrounding blanks removed.  -1 when the
 * answer is too long to be one of ours.
 */
static int
answer_hash(const unsigned char id[CAPTCHA_ID_LEN], const char *purpose, const char *answer,
	    unsigned char out[STORE_HASH_LEN])
{
	crypto_generichash_state h;
	char norm[CAPTCHA_ANSWER_MAX];
	size_t n = 0, len;
	const char *a = answer;

	while (*a == ' ' || *a == '\t')
		a++;
	len = strlen(a);
	while (len > 0 && (a[len - 1] == ' ' || a[len - 1] == '\t'))
		len--;
	if (len > sizeof(norm))
		return -1;
	for (n = 0; n < len; n++)
		norm[n] = (a[n] >= 'a' && a[n] <= 'z') ? (char)(a[n] - 'a' + 'A') : a[n];
	crypto_generichash_init(&h, id, CAPTCHA_ID_LEN, STORE_HASH_LEN);
	crypto_generichash_update(&h, (const unsigned char *)purpose, strlen(purpose) + 1);
	crypto_generichash_update(&h, (const unsigned char *)norm, n);
	crypto_generichash_final(&h, out, STORE_HASH_LEN);
	sodium_memzero(norm, sizeof(norm));
	sodium_memzero(&h, sizeof(h));
	return 0;
}

static void
id_hash(const unsigned char id[CAPTCHA_ID_LEN], unsigned char out[STORE_HASH_LEN])
{
	crypto_generichash(out, STORE_HASH_LEN, id, CAPTCHA_ID_LEN, NULL, 0);
}

static int
purpose_check(const char *purpose, struct err *e)
{
	if (purpose == NULL || purpose[0] == '\0' || strlen(purpose) > PURPOSE_MAX)
		return err_set(e, ERR_INTERNAL, "captcha: purpose empty or too long");
	return 0;
}

static void
answer_new(const struct captcha_conf *cc, char answer[CAPTCHA_ANSWER_MAX + 1])
{
	if (cc->test_answer[0] != '\0') {
		memcpy(answer, cc->test_answer, strlen(cc->test_answer) + 1);
	} else {
		for (int i = 0; i < CAPTCHA_LEN; i++)
			answer[i] = captcha_alphabet[randombytes_uniform(
			    (uint32_t)(sizeof(captcha_alphabet) - 1))];
		answer[CAPTCHA_LEN] = '\0';
	}
}

/*
 * The pool of pre-drawn images (captcha_pool_start): drawing (FreeType, ~2 ms of CPU) leaves
 * the request path (util/pool.c: one thread at nice 19, on idle time), up to cap images with
 * their answers; captcha_new() takes one out (each image is handed out once, then wiped) and
 * draws itself only when the pool is empty or drawn with another font.  The answers wait in
 * this process's memory only; the store still gets the hashes when an image is handed out.
 */
struct pooled {
	char answer[CAPTCHA_ANSWER_MAX + 1];
	void *png;
	size_t len;
};

static struct {
	struct pool *pool;
	struct captcha_conf cc;		  /* what the pool draws with */
	struct buf png;			  /* the drawing thread's */
	_Atomic unsigned long other_conf; /* asked with another font or test answer */
} cpool;

static int
cpool_make(void *item, void *arg)
{
	struct pooled *p = item;
	struct err e;

	(void)arg;
	answer_new(&cpool.cc, p->answer);
	err_clear(&e);
	if (captcha_draw(&cpool.cc, p->answer, &cpool.png, &e) == -1) {
		log_warn("%s", e.msg);
		return -1;
	}
	p->len = cpool.png.len;
	p->png = xmalloc(p->len);
	memcpy(p->png, cpool.png.data, p->len);
	return 0;
}

static void
cpool_clear(void *item)
{
	struct pooled *p = item;

	if (p->png != NULL)
		sodium_memzero(p->png, p->len);
	free(p->png);
	sodium_memzero(p, sizeof(*p));
}

int
captcha_pool_start(const struct captcha_conf *cc, size_t cap, struct err *e)
{
	if (cap == 0 || cpool.pool != NULL)
		return 0;
	cpool.cc = *cc;
	buf_init(&cpool.png, CAPTCHA_PNG_MAX);
	return pool_start(&cpool.pool, "shomei-captcha", cap, sizeof(struct pooled), cpool_make,
			  cpool_clear, NULL, e);
}

void
captcha_pool_stop(void)
{
	if (cpool.pool == NULL)
		return;
	pool_stop(cpool.pool);
	cpool.pool = NULL;
	buf_free(&cpool.png);
	atomic_store(&cpool.other_conf, 0);
}

void
captcha_pool_stats(size_t *ready, unsigned long *taken, unsigned long *drawn_inline)
{
	pool_stats(cpool.pool, ready, taken, drawn_inline);
	*drawn_inline += atomic_load(&cpool.other_conf);
}

/*
 * A pre-drawn image of the same font into png and its answer, removed from the pool: 0; 1
 * when there is none (no pool, another font, or empty); -1 when png cannot hold it.
 */
static int
cpool_take(const struct captcha_conf *cc, char answer[CAPTCHA_ANSWER_MAX + 1], struct buf *png)
{
	struct pooled p;
	int rc;

	if (cpool.pool == NULL)
		return 1;
	if (strcmp(cpool.cc.font, cc->font) != 0 ||
	    strcmp(cpool.cc.test_answer, cc->test_answer) != 0) {
		atomic_fetch_add(&cpool.other_conf, 1);
		return 1;
	}
	if (pool_take(cpool.pool, &p) == 1)
		return 1;
	buf_reset(png);
	rc = buf_append(png, p.png, p.len) == -1 ? -1 : 0;
	if (rc == 0)
		memcpy(answer, p.answer, sizeof(p.answer));
	cpool_clear(&p);
	return rc;
}

/*
 * Expired CAPTCHAs are deleted at most once a minute per process, by whichever request makes
 * one then: a form page fetched and never sent leaves its row behind, and those must not pile
 * up (a loop of GETs would grow the store without bound).
 */
static void
captcha_purge(struct store *s)
{
	static time_t last;
	time_t now = util_now(), seen = __atomic_load_n(&last, __ATOMIC_RELAXED);
	int64_t n = 0;
	struct err e;

	/* (a clock set back purges too) */
	if ((now >= seen && now - seen < CAPTCHA_PURGE_INTERVAL) ||
	    !__atomic_compare_exchange_n(&last, &seen, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	err_clear(&e);
	if (store_captcha_purge(s, now, &n, &e) == -1)
		log_warn("captcha: purging expired ones: %s", e.msg);
	else if (n > 0)
		log_info("captcha: %lld expired ones deleted", (long long)n);
}

int
captcha_new(struct store *s, const struct captcha_conf *cc, const char *purpose,
	    char id_hex[CAPTCHA_ID_HEX], struct buf *png, struct err *e)
{
	unsigned char id[CAPTCHA_ID_LEN], idh[STORE_HASH_LEN], ah[STORE_HASH_LEN];
	char answer[CAPTCHA_ANSWER_MAX + 1];
	int rc = -1, k;

	id_hex[0] = '\0';
	if (purpose_check(purpose, e) == -1)
		goto out;
	if ((k = cpool_take(cc, answer, png)) == -1) {
		err_set(e, ERR_INTERNAL, "captcha: the PNG does not fit");
		goto out;
	}
	if (k == 1) {
		answer_new(cc, answer);
		if (captcha_draw(cc, answer, png, e) == -1)
			goto out;
	}
	util_random(id, sizeof(id));
	id_hash(id, idh);
	if (answer_hash(id, purpose, answer, ah) == -1) {
		err_set(e, ERR_INTERNAL, "captcha: answer too long");
		goto out;
	}
	if (store_captcha_put(s, idh, ah, purpose, util_now() + cc->ttl, e) == -1)
		goto out;
	hex_encode(id_hex, id, sizeof(id));
	captcha_purge(s);
	rc = 0;
out:
	sodium_memzero(answer, sizeof(answer));
	sodium_memzero(id, sizeof(id));
	return rc;
}

int
captcha_verify(struct store *s, const char *id_hex, const char *purpose, const char *answer,
	       enum captcha_result *result, struct err *e)
{
	unsigned char id[CAPTCHA_ID_LEN], idh[STORE_HASH_LEN], ah[STORE_HASH_LEN];
	struct store_captcha c;
	struct err se;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	*result = CAPTCHA_WRONG;
	if (purpose_check(purpose, e) == -1)
		goto out;
	/* malformed ids and answers are simply wrong: they come from the client */
	if (id_hex == NULL || answer == NULL || strlen(id_hex) != 2 * CAPTCHA_ID_LEN ||
	    hex_decode(id, sizeof(id), id_hex) != CAPTCHA_ID_LEN) {
		rc = 0;
		goto out;
	}
	id_hash(id, idh);
	err_clear(&se);
	if (store_captcha_take(s, idh, &c, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			err_set(e, se.code, "%s", se.msg);
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (strcmp(c.purpose, purpose) != 0) {
		rc = 0;
		goto out;
	}
	if (c.expires <= util_now()) {
		*result = CAPTCHA_EXPIRED;
		rc = 0;
		goto out;
	}
	if (answer_hash(id, purpose, answer, ah) == 0 &&
	    util_memeq_ct(ah, c.answer_hash, STORE_HASH_LEN))
		*result = CAPTCHA_OK;
	rc = 0;
out:
	sodium_memzero(id, sizeof(id));
	store_captcha_clear(&c);
	return rc;
}

const char *
captcha_result_msgid(enum captcha_result r)
{
	switch (r) {
	case CAPTCHA_OK:
		return NULL;
	case CAPTCHA_EXPIRED:
		return N_("The image has expired. Please enter the characters of the new image.");
	case CAPTCHA_WRONG:
		break;
	}
	return N_("The characters do not match the image. Please try again with the new image.");
}
