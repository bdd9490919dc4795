/*
 * One connection at a time, blocking: while it serves one, the others wait
 * in the listen queue. No signal handling. Each request takes argv[2] ms.
 * usage: iterative PORT DELAY_MS
 */
#include "http.h"

int
main(int argc, char **argv)
{
	int delay_ms;
	int s = http_simple_start(argc, argv, &delay_ms);

	for (;;) {
		struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };
		char buf[4096];
		int c = accept(s, NULL, NULL);

		if (c == -1) {
			perror("accept");
			return 3;
		}
		(void)http_read_head(c, buf, sizeof(buf));
		nanosleep(&ts, NULL);
		(void)!write(c, "HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\ndone\n", 62);
		close(c);
	}
}
