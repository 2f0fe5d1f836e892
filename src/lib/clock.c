/* Time: one monotonic clock in milliseconds, the deadlines every wait of the
 * library and of the command is bounded by, and poll() against them. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <time.h>

#include "internal.h"

long long dcx_now_ms(void)
{
    struct timespec ts;
    /* Cannot fail with a valid clock id and pointer; were it to, a wait
     * would get its whole timeout, which still ends it. */
    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        return 0;
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long dcx_deadline_after(unsigned ms)
{
    return ms ? dcx_now_ms() + ms : -1;
}

int dcx_remaining_ms(long long deadline)
{
    if (deadline < 0)
        return -1;
    long long left = deadline - dcx_now_ms();
    return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

int dcx_poll_one(int fd, short events, long long deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        int n = poll(&p, 1, dcx_remaining_ms(deadline));
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

/* Without snprintf: it also words errors in forked children. */
const char *dcx_format_seconds(unsigned ms, char *buf, size_t size)
{
    char tmp[24];
    size_t i = sizeof tmp, n = 0;
    unsigned frac = ms % 1000, digits = frac == 0 ? 0 : frac % 100 == 0 ? 1 : frac % 10 == 0 ? 2 : 3;
    for (unsigned d = 0, f = frac; d < 3; d++, f /= 10)
        if (d >= 3 - digits)
            tmp[--i] = (char)('0' + f % 10);
    if (digits)
        tmp[--i] = '.';
    unsigned s = ms / 1000;
    do
        tmp[--i] = (char)('0' + s % 10);
    while ((s /= 10) && i > 0);
    while (i < sizeof tmp && n + 1 < size)
        buf[n++] = tmp[i++];
    if (size)
        buf[n] = '\0';
    return buf;
}
