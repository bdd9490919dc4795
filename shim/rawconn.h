/*
 * Connections accepted with raw system calls (Go): the drain notes the ports
 * of the listeners it stops that this process never accepted from through
 * libc; ld_raw_in_flight counts the process's TCP connections on those ports
 * that the descriptor table does not know, and how many of them look in
 * flight to the kernel.
 */
#ifndef LD_RAWCONN_H
#define LD_RAWCONN_H

void	ld_raw_note_listener(int fd);
/* skip(fd): a connection the caller counts itself (held for the program's accept). */
long	ld_raw_in_flight(long *open, int (*skip)(int fd));
void	ld_raw_forget(void);

#endif
