/*
 * fuzz_notify - NOTIFY_SOCKET messages as a waiting process receives them
 * (src/lib/notify.c, included unchanged: its line matcher is static).
 *
 * Each input is sent as one datagram, with the sender's credentials, to a
 * socket set up as dcx_notify_listen() sets its own (SO_PASSCRED), and
 * handled by dcx_notify_got_ready(): it must say yes exactly when the
 * datagram holds a whole line "READY=1" (systemd's protocol:
 * newline-separated KEY=VALUE, no substring match), and never for a datagram
 * cut by truncation.
 */
#include "../src/lib/notify.c"

#include <stdlib.h>

static bool reference_ready(const uint8_t *d, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || d[i] == '\n') {
            if (i - start == 7 && memcmp(d + start, "READY=1", 7) == 0)
                return true;
            start = i + 1;
        }
    }
    return false;
}

static int pair[2] = {-1, -1};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The pure matcher first. */
    char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    if (has_ready_line(copy, size) != reference_ready(data, size))
        abort();
    free(copy);
    /* Then the receive path. */
    if (pair[0] < 0) {
        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) < 0)
            abort();
        int one = 1;
        if (setsockopt(pair[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0)
            abort();
        int big = 1 << 20;
        (void)setsockopt(pair[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    }
    if (size > 60000)
        return 0;
    if (send(pair[1], data, size, 0) != (ssize_t)size)
        return 0;
    bool got = dcx_notify_got_ready(pair[0], getpid());
    /* It reads up to 4096 bytes; longer datagrams are truncated and must be
     * ignored. */
    bool want = size <= 4096 && reference_ready(data, size);
    if (got != want)
        abort();
    /* Drained: nothing left for the next run. */
    char scratch[1];
    if (recv(pair[0], scratch, sizeof scratch, MSG_DONTWAIT) >= 0)
        abort();
    return 0;
}
