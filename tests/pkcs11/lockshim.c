/*
 * lockshim: a PKCS#11 forwarding module FOR TESTS ONLY (never install or configure it on a
 * real instance).
 *
 * SoftHSM2 never locks a user PIN, so a token whose PIN is locked cannot be made with it.
 * This module stands in front of a real one: C_GetFunctionList dlopen()s the module named by
 * $LOCKSHIM_MODULE (default: SoftHSM2's), copies its function list and replaces two entries:
 *
 *   C_Login         returns CKR_PIN_LOCKED while $LOCKSHIM_LOCKED is "1", else forwards
 *   C_GetTokenInfo  forwards, and while $LOCKSHIM_LOCKED is "1" adds CKF_USER_PIN_LOCKED
 *
 * Everything else is the real module's, so without $LOCKSHIM_LOCKED the shim is transparent.
 * Built by the Makefile into build/tests/lockshim.so; used by tests/integration/test_online.py.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#define LOCKSHIM_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"

static CK_FUNCTION_LIST lockshim_list;
static CK_FUNCTION_LIST_PTR lockshim_real;
static pthread_once_t lockshim_once = PTHREAD_ONCE_INIT;
static CK_RV lockshim_init_rv = CKR_GENERAL_ERROR;

static int
lockshim_locked(void)
{
	const char *v = getenv("LOCKSHIM_LOCKED");

	return v != NULL && strcmp(v, "1") == 0;
}

static CK_RV
lockshim_login(CK_SESSION_HANDLE session, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
	if (lockshim_locked())
		return CKR_PIN_LOCKED;
	return lockshim_real->C_Login(session, user, pin, pin_len);
}

static CK_RV
lockshim_get_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	CK_RV rv;

	rv = lockshim_real->C_GetTokenInfo(slot, info);
	if (rv == CKR_OK && lockshim_locked())
		info->flags |= CKF_USER_PIN_LOCKED;
	return rv;
}

static CK_RV lockshim_get_function_list(CK_FUNCTION_LIST_PTR_PTR list);

/* Loads the real module once (its handle stays open for the life of the process). */
static void
lockshim_init(void)
{
	const char *module = getenv("LOCKSHIM_MODULE");
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST_PTR real = NULL;
	void *dl, *sym;

	if (module == NULL || *module == '\0')
		module = LOCKSHIM_DEFAULT_MODULE;
	if ((dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return;
	if ((sym = dlsym(dl, "C_GetFunctionList")) == NULL)
		return;
	memcpy(&get, &sym, sizeof(get));
	if ((lockshim_init_rv = get(&real)) != CKR_OK)
		return;
	if (real == NULL) {
		lockshim_init_rv = CKR_GENERAL_ERROR;
		return;
	}
	lockshim_real = real;
	lockshim_list = *real;
	lockshim_list.C_GetFunctionList = lockshim_get_function_list;
	lockshim_list.C_Login = lockshim_login;
	lockshim_list.C_GetTokenInfo = lockshim_get_token_info;
}

static CK_RV
lockshim_get_function_list(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_once(&lockshim_once, lockshim_init);
	if (lockshim_init_rv != CKR_OK)
		return lockshim_init_rv;
	*list = &lockshim_list;
	return CKR_OK;
}

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	return lockshim_get_function_list(list);
}
