/* The owner: the lifecycle and the health port, on the owner's thread (owner.c). */
#ifndef LD_OWNER_H
#define LD_OWNER_H

#define LD_SCAN_MS	100	/* while starting: look for listeners made without listen() */
#define LD_DRAIN_CHECK_MS 10	/* how often the drain looks at what is in flight */

/* Everything the owner needs but the signals and the thread. Returns 0, or -1 (logged). */
int	ld_owner_start(void);
/* Start the owner's thread; 0 or an errno. */
int	ld_owner_run(void);
/* Members follow the lifecycle through the shared tree. */
void	ld_owner_publish(void);
/* In a forked child: close the descriptors only the owner's thread uses. */
void	ld_owner_close_fds(void);
/* The configuration, at debug level. */
void	ld_owner_log_config(void);

#endif
