/*
 * One connection at a time, blocking: while it serves one, the others wait
 * in the listen queue. No signal handling. Each request takes argv[2] ms.
 * usage: iterative PORT DELAY_MS
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int s, one = 1, delay_ms;

	if (argc != 3)
		return 2;
	delay_ms = atoi(argv[2]);
	alarm(120);
	s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_port = htons((unsigned short)atoi(argv[1]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(s, 128) == -1) {
		perror("bind/listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };
		char buf[4096];
		ssize_t n, got = 0;
		int c = accept(s, NULL, NULL);

		if (c == -1) {
			perror("accept");
			return 3;
		}
		while ((n = read(c, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0) {
			got += n;
			buf[got] = '\0';
			if (strstr(buf, "\r\n\r\n") != NULL)
				break;
		}
		nanosleep(&ts, NULL);
		(void)!write(c, "HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\ndone\n", 62);
		close(c);
	}
}
