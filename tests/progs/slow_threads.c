/*
 * A legacy-style server with no signal handling: a blocking accept() in the
 * main thread, one thread per connection, each request answered after
 * argv[2] milliseconds. HTTP/1.0-ish: one request per connection.
 * usage: slow_threads PORT DELAY_MS
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int delay_ms;

static void *
serve(void *arg)
{
	int c = (int)(long)arg;
	char buf[4096], out[256];
	struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };
	ssize_t n, got = 0;
	int len;

	/* Read until the end of the headers. */
	while ((n = read(c, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0) {
		got += n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL || (size_t)got >= sizeof(buf) - 1)
			break;
	}
	if (got > 0) {
		nanosleep(&ts, NULL);
		len = snprintf(out, sizeof(out), "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n"
		    "Connection: close\r\n\r\ndone\n");
		(void)!write(c, out, (size_t)len);
	}
	close(c);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int s, one = 1;

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
		pthread_t th;
		int c = accept(s, NULL, NULL);

		if (c == -1) {
			/* A legacy server that treats any accept error as fatal. */
			perror("accept");
			return 3;
		}
		pthread_create(&th, NULL, serve, (void *)(long)c);
		pthread_detach(th);
	}
}
