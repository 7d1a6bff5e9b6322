/*
 * Fixture for scripts/lint-selftest.sh: every call below is banned and must be reported by
 * scripts/lint-banned.sh, one line each (lines marked "bad").  Never compiled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void banned_calls(char *d, const char *s, time_t t);

void
banned_calls(char *d, const char *s, time_t t)
{
	int n;

	strcpy(d, s);                 /* bad */
	strcat(d, s);                 /* bad */
	strncat(d, s, 4);             /* bad */
	sprintf(d, "%s", s);          /* bad */
	vsprintf(d, s, NULL);         /* bad */
	sscanf(s, "%d", &n);          /* bad */
	n = atoi(s);                  /* bad */
	n = (int)atol(s);             /* bad */
	(void)strtok(d, ",");         /* bad */
	(void)gets(d);                /* bad */
	(void)gmtime(&t);             /* bad */
	(void)localtime(&t);          /* bad */
	(void)asctime(gmtime_r(&t, NULL)); /* bad */
	(void)ctime(&t);              /* bad */
	n = rand ();                  /* bad */
}
