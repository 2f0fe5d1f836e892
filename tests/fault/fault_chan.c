/* fault_chan.c - see fault_chan.h. */
#include "fault_chan.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

const char *fault_shim(void)
{
    const char *p = getenv("DCX_FAULTSHIM");
    return p && *p ? p : NULL;
}

/* ------------------------------------------------- the fault channel */

/* Every channel's event buffer, also reachable from here: a channel lives in
 * a test's stack frame, and LeakSanitizer must not count a test that returns
 * without closing it. */
static fault_event *chan_buffers[256];

void fault_chan_open(fault_chan *ch)
{
    static unsigned seq;
    memset(ch, 0, sizeof *ch);
    if (seq >= sizeof chan_buffers / sizeof chan_buffers[0])
        TU_FAIL("too many fault channels");
    ch->slot = seq;
    snprintf(ch->name, sizeof ch->name, "dcx-fault-%d-%u", (int)getpid(), seq++);
    ch->fd = TU_FD(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    int size = 4 << 20;
    (void)setsockopt(ch->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path + 1, ch->name, strlen(ch->name));
    TU_SYS(bind(ch->fd, (struct sockaddr *)&a,
                (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(ch->name))));
}

void fault_chan_close(fault_chan *ch)
{
    if (ch->fd >= 0)
        close(ch->fd);
    ch->fd = -1;
    free(ch->ev);
    chan_buffers[ch->slot] = NULL;
    ch->ev = NULL;
    ch->n = ch->cap = 0;
}

void fault_chan_reset(fault_chan *ch)
{
    fault_chan_drain(ch);
    ch->n = 0;
}

void fault_chan_drain(fault_chan *ch)
{
    for (;;) {
        char buf[512];
        ssize_t n = recv(ch->fd, buf, sizeof buf - 1, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf[n] = 0;
        fault_event e;
        memset(&e, 0, sizeof e);
        int pid;
        if (sscanf(buf, "%7s %d %d %23s %u %159s", e.kind, &pid, &e.depth, e.func, &e.nth, e.extra) < 5)
            continue;
        e.pid = pid;
        if (ch->n == ch->cap) {
            ch->cap = ch->cap ? ch->cap * 2 : 256;
            fault_event *nv = realloc(ch->ev, ch->cap * sizeof *nv);
            if (!nv)
                TU_FAIL("realloc");
            ch->ev = nv;
            chan_buffers[ch->slot] = nv;
        }
        ch->ev[ch->n++] = e;
    }
}

void fault_chan_drain_cb(void *ch)
{
    fault_chan_drain(ch);
}

const fault_event *fault_chan_wait(fault_chan *ch, const char *kind, int64_t deadline_ms)
{
    size_t from = 0;
    for (;;) {
        fault_chan_drain(ch);
        for (size_t i = from; i < ch->n; i++)
            if (strcmp(ch->ev[i].kind, kind) == 0)
                return &ch->ev[i];
        from = ch->n;
        int64_t left = deadline_ms - tu_now_ms();
        if (left <= 0)
            return NULL;
        struct pollfd pf = {.fd = ch->fd, .events = POLLIN};
        (void)poll(&pf, 1, (int)left);
    }
}

void fault_resume(const fault_chan *ch, pid_t pid)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "%s.%d", ch->name, (int)pid);
    int fd = TU_FD(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    /* ECONNREFUSED: the paused process is gone already (a racing stop
     * killed it), so there is nothing left to resume. */
    if (sendto(fd, "go", 2, 0, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) <
            0 &&
        errno != ECONNREFUSED)
        TU_FAIL("resuming %d: %s", (int)pid, strerror(errno));
    close(fd);
}

size_t fault_chan_hits(const fault_chan *ch)
{
    size_t n = 0;
    for (size_t i = 0; i < ch->n; i++)
        n += strcmp(ch->ev[i].kind, "hit") == 0;
    return n;
}

void fault_env(tu_cmd *c, const fault_chan *ch, const char *rules, bool trace, bool usr1)
{
    const char *shim = fault_shim();
    if (!shim)
        tu_skip("the fault shim is not built");
    tu_cmd_env(c, tu_fmt("LD_PRELOAD=%s", shim));
    const char *asan = getenv("ASAN_OPTIONS");
    /* A sanitized program refuses a preloaded library ahead of its runtime
     * unless told otherwise. */
    tu_cmd_env(c, tu_fmt("ASAN_OPTIONS=%s%sverify_asan_link_order=0", asan ? asan : "", asan && *asan ? ":" : ""));
    if (rules && *rules)
        tu_cmd_env(c, tu_fmt("DCX_FAULT=%s", rules));
    if (ch)
        tu_cmd_env(c, tu_fmt("DCX_FAULT_SOCK=%s", ch->name));
    if (trace)
        tu_cmd_env(c, "DCX_FAULT_TRACE=1");
    if (usr1)
        tu_cmd_env(c, "DCX_FAULT_USR1=1");
}
