/*
 * storm_fdnum PORT MS: a program that counts on descriptor numbers (as a
 * daemon does that closes 0-2 and opens /dev/null three times). Listens,
 * notes the number open() gives (the lowest free one), prints "ready",
 * waits for a line on stdin, then for MS milliseconds opens /dev/null and
 * closes it again and again: each open() must return that same number,
 * since nothing else of the program opens anything. Prints
 * "opens=N expected_fd=E other=K example=F" (K opens that got another
 * number, F one of them) and exits 0 when K is 0.
 */
#include <fcntl.h>

#include "progs.h"

int
main(int argc, char **argv)
{
	long long end;
	long ms, opens = 0, other = 0;
	int expected, example = -1;
	char line[16];

	prog_start(argc, argv);
	if (argc < 3)
		prog_fail("usage: storm_fdnum PORT MS");
	ms = prog_num(argv[2], 1, 50000, "milliseconds");
	(void)prog_listen(argv[1]);
	if ((expected = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		prog_fail("open: %s", strerror(errno));
	close(expected);
	prog_ready();
	if (fgets(line, sizeof(line), stdin) == NULL)
		prog_fail("stdin closed");
	end = prog_now_ms() + ms;
	while (prog_now_ms() < end) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd == -1)
			prog_fail("open: %s", strerror(errno));
		opens++;
		if (fd != expected) {
			other++;
			example = fd;
		}
		close(fd);
	}
	printf("opens=%ld expected_fd=%d other=%ld example=%d\n", opens, expected, other, example);
	fflush(stdout);
	return other != 0;
}
