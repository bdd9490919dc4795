/*
 * A legacy-style server with no signal handling: a blocking accept() in the
 * main thread, one thread per connection, each request answered after
 * argv[2] milliseconds. HTTP/1.0-ish: one request per connection.
 * usage: slow_threads PORT DELAY_MS
 */
#include "http.h"

static int delay_ms;

static void *
serve(void *arg)
{
	int c = (int)(long)arg;
	char buf[4096], out[256];
	struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };
	int len;

	/* Read until the end of the headers. */
	if (http_read_head(c, buf, sizeof(buf)) > 0) {
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
	int s = http_simple_start(argc, argv, &delay_ms);

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
