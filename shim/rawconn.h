/*
 * Connections accepted with raw system calls (Go): the drain notes the ports
 * of the listeners it stops that this process never accepted from through
 * libc; ld_raw_in_flight counts the process's TCP connections on those ports
 * that the descriptor table does not know, and how many of them look in
 * flight to the kernel.
 */
#ifndef LD_RAWCONN_H
#define LD_RAWCONN_H

#include <stddef.h>
#include <stdint.h>

/*
 * The kernel's struct tcp_info as far as tcpi_data_segs_out (Linux 4.6), the
 * ABI: glibc's <netinet/tcp.h> stops before the byte and segment counters
 * and musl-gcc has no <linux/tcp.h>. An older kernel fills less, and says
 * how much in the length it returns.
 */
struct ld_tcp_info {
	uint8_t		state, ca_state, retransmits, probes, backoff, options;
	uint8_t		wscale, rate_flags;
	uint32_t	rto, ato, snd_mss, rcv_mss;
	uint32_t	unacked, sacked, lost, retrans, fackets;
	uint32_t	last_data_sent, last_ack_sent, last_data_recv, last_ack_recv;
	uint32_t	pmtu, rcv_ssthresh, rtt, rttvar, snd_ssthresh, snd_cwnd, advmss,
			reordering;
	uint32_t	rcv_rtt, rcv_space;
	uint32_t	total_retrans;
	uint64_t	pacing_rate, max_pacing_rate, bytes_acked, bytes_received;
	uint32_t	segs_out, segs_in;
	uint32_t	notsent_bytes, min_rtt, data_segs_in, data_segs_out;
};

#define LD_TCP_ESTABLISHED	1
#define LD_TCP_SYN_RECV		3
#define LD_TCP_CLOSE_WAIT	8
#define LD_TCP_LISTEN		10

/*
 * Does a connection look in flight to the kernel? ti as long as len says;
 * inq and outq are the bytes waiting in its receive and send queues. Pure:
 * the supervisor asks the same of what sock_diag shows.
 */
int	ld_tcp_busy(const struct ld_tcp_info *ti, size_t len, long inq, long outq);

void	ld_raw_note_listener(int fd);
/* skip(fd): a connection the caller counts itself (held for the program's accept). */
long	ld_raw_in_flight(long *open, int (*skip)(int fd));
void	ld_raw_forget(void);

#endif
