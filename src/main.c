/* placeholder until the CLI lands */
#include <stdio.h>

int main(void);

int
main(void)
{
	puts("shomei");
	return 0;
}
