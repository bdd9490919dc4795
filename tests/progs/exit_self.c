/*
 * exit_self PORT MS STATUS: listens, then MS milliseconds later exits on its
 * own with STATUS, whatever the shim is doing (a lame-duck delay must not
 * hold the exit up nor change its status). Prints "exiting STATUS" first.
 */
#include "progs.h"

int
main(int argc, char **argv)
{
	long ms, status;

	prog_start(argc, argv);
	if (argc < 4)
		prog_fail("usage: exit_self PORT MS STATUS");
	ms = prog_num(argv[2], 0, 50000, "milliseconds");
	status = prog_num(argv[3], 0, 255, "status");
	(void)prog_listen(argv[1]);
	prog_ready();
	prog_sleep_ms(ms);
	printf("exiting %ld\n", status);
	fflush(stdout);
	exit((int)status);
}
