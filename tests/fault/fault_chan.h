/*
 * fault_chan.h - the fault shim's side of the reliability tests (tests/fault,
 * tests/lifecycle): the environment that preloads faultshim.so into a
 * command, and the channel on which the shim reports what it traced, hit or
 * paused. Processes, commands and waits are the harness's (testutil.h).
 *
 * The shim's programs come from the environment CTest sets: DCX_FAULTSHIM
 * (faultshim.so), besides the harness's own.
 */
#ifndef DCX_FAULT_CHAN_H
#define DCX_FAULT_CHAN_H

#include "testutil.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* faultshim.so, or NULL when it is not built. */
const char *fault_shim(void);

typedef struct fault_event {
    char kind[8]; /* trace, hit, pause */
    pid_t pid;
    int depth;
    char func[24];
    unsigned nth;
    char extra[160];
} fault_event;

/* An abstract datagram socket named after the test process (unique while it
 * runs), where every shimmed process of the test reports. */
typedef struct fault_chan {
    int fd;
    char name[64];
    fault_event *ev;
    size_t n, cap;
    unsigned slot;
} fault_chan;

void fault_chan_open(fault_chan *ch);
void fault_chan_close(fault_chan *ch);
/* Forget the events read so far (after reading what is queued). */
void fault_chan_reset(fault_chan *ch);
/* Read every queued message (non-blocking). */
void fault_chan_drain(fault_chan *ch);
/* The same, as a tu_finish_watching() callback. */
void fault_chan_drain_cb(void *ch);
/* Wait for a message of KIND until DEADLINE_MS; NULL on timeout. */
const fault_event *fault_chan_wait(fault_chan *ch, const char *kind, int64_t deadline_ms);
/* How many "hit" events the channel got. */
size_t fault_chan_hits(const fault_chan *ch);
/* Add to C: LD_PRELOAD of the shim, DCX_FAULT=RULES, the channel, tracing,
 * the shim's SIGUSR1 handler (for signal storms). Skips the test when the
 * shim is not built. */
void fault_env(tu_cmd *c, const fault_chan *ch, const char *rules, bool trace, bool usr1);
/* Let a process held by action=pause go on. */
void fault_resume(const fault_chan *ch, pid_t pid);

#endif
