/* PROGRAM's output under a supervisor (`start --supervise`, `run`): PROGRAM
 * writes to pipes, the supervisor reads them and hands each whole line to a
 * sink: a -o/-e file it owns (appended with O_APPEND, one write per line, so
 * lines never interleave inside; reopened on `daemonctx reopen`), or syslog
 * (syslog.c). A line split across reads is joined before it goes out; a last
 * line without a newline goes out, with one, at EOF; a line longer than
 * LOG_LINE_MAX goes out in pieces of that size. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int log_open_file(const char *path, bool *created)
{
    int fd;
    *created = false;
    const int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY;
    do
        fd = open(path, flags | O_CREAT | O_EXCL, 0640);
    while (fd < 0 && errno == EINTR);
    if (fd >= 0) {
        *created = true;
        /* 0640 whatever the umask: a log readable by the world is a leak,
         * one unreadable by its group a nuisance. */
        if (fchmod(fd, 0640) < 0) {
            int e = errno;
            dcx_close(fd);
            (void)unlink(path);
            errno = e;
            return -1;
        }
        return fd;
    }
    if (errno != EEXIST)
        return -1;
    do
        fd = open(path, flags);
    while (fd < 0 && errno == EINTR);
    return fd;
}

/* "2026-12-04T16:30:00.123+0000 " (local time, as the machine's logs). */
static size_t timestamp(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || !localtime_r(&ts.tv_sec, &tm))
        return 0;
    char date[32], zone[8];
    if (strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0 || strftime(zone, sizeof zone, "%z", &tm) == 0)
        return 0;
    int n = snprintf(buf, size, "%s.%03ld%s ", date, ts.tv_nsec / 1000000, zone);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* One line to a file, in one write: [stamp] LINE "\n". A file that cannot
 * take it (full disk) loses the line rather than stalling the supervisor. */
static void write_line(const struct log_sink *sink, const char *line, size_t len)
{
    char stamp[48];
    struct iovec iov[3] = {{.iov_base = stamp, .iov_len = sink->timestamps ? timestamp(stamp, sizeof stamp) : 0},
                           {.iov_base = (void *)(uintptr_t)line, .iov_len = len},
                           {.iov_base = (void *)(uintptr_t)"\n", .iov_len = 1}};
    ssize_t n;
    do
        n = writev(sink->fd, iov, 3);
    while (n < 0 && errno == EINTR);
}

static void emit(const struct log_stream *ls, pid_t pid, const char *line, size_t len)
{
    const struct log_sink *sink = ls->sink;
    if (sink->kind == SINK_SYSLOG)
        syslog_send_line(sink->fd, sink->priority, sink->ident, pid, line, len);
    else
        write_line(sink, line, len);
}

int log_pump(struct log_stream *ls, pid_t pid)
{
    ssize_t n;
    do
        n = read(ls->fd, ls->buf + ls->len, LOG_LINE_MAX - ls->len);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN ? 0 : 1;
    if (n == 0) {
        if (ls->len)
            emit(ls, pid, ls->buf, ls->len);
        ls->len = 0;
        return 1;
    }
    ls->len += (size_t)n;
    size_t start = 0;
    for (size_t i = 0; i < ls->len; i++)
        if (ls->buf[i] == '\n') {
            emit(ls, pid, ls->buf + start, i - start);
            start = i + 1;
        }
    if (start == 0 && ls->len == LOG_LINE_MAX) {
        emit(ls, pid, ls->buf, ls->len);
        start = ls->len;
    }
    memmove(ls->buf, ls->buf + start, ls->len - start);
    ls->len -= start;
    return 0;
}

/* The new file first, then it takes the old one's place on the
 * supervisor's stdout and/or stderr, where the lines go: should the open
 * fail, lines keep going to the old file, and WHY says so. */
int log_reopen(const struct log_sink *sink, char *why, size_t size)
{
    bool created;
    if (sink->kind != SINK_FILE)
        return 0;
    int fd = log_open_file(sink->path, &created);
    if (fd < 0) {
        (void)snprintf(why, size, "cannot reopen '%s': %s; still writing to the file it named before", sink->path,
                       strerror(errno));
        return -1;
    }
    int r = dup2(fd, sink->fd);
    if (r >= 0 && sink->also >= 0)
        r = dup2(fd, sink->also);
    int e = errno;
    dcx_close(fd);
    if (r < 0) {
        (void)snprintf(why, size, "cannot reopen '%s': %s", sink->path, strerror(e));
        return -1;
    }
    return 0;
}
