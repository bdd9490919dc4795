/* What the wrappers tell the constructor's side of the shim (shim.c). */
#ifndef LD_SHIM_H
#define LD_SHIM_H

/* The program listens (a listener that counts): look at it now. */
void	ld_on_listen(void);
/* The program accepted from a listener for the first time. */
void	ld_on_accept(void);

#endif
