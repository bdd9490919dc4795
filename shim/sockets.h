/* Socket interposition: listen, bind, accept, epoll_ctl. */
#ifndef LD_SOCKETS_H
#define LD_SOCKETS_H

/* This process has accepted a connection from a listener that counts. */
int	ld_accepted_here(void);

#endif
