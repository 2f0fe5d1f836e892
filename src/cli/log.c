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

/* Whole lines to a file, in one writev: [stamp] LINE "\n" ... (LINES holds
 * them with their newlines, LEN bytes; WHOLE: the last one has none, one is
 * added). O_APPEND: nothing of another writer lands inside. A file that
 * cannot take them (full disk) loses them rather than stalling the
 * supervisor. */
static void write_lines(const struct log_sink *sink, const char *lines, size_t len, bool add_newline)
{
    struct iovec iov[2 * 64 + 1];
    char stamps[64][48];
    size_t n = 0, k = 0;
    const char *p = lines, *end = lines + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *next = nl ? nl + 1 : end;
        if (sink->timestamps)
            iov[n++] = (struct iovec){.iov_base = stamps[k], .iov_len = timestamp(stamps[k], sizeof stamps[k])};
        /* Without stamps, consecutive lines are one contiguous piece. */
        if (!sink->timestamps && n > 0)
            iov[n - 1].iov_len += (size_t)(next - p);
        else
            iov[n++] = (struct iovec){.iov_base = (void *)(uintptr_t)p, .iov_len = (size_t)(next - p)};
        p = next;
        if (++k == 64 || p == end) {
            if (p == end && add_newline)
                iov[n++] = (struct iovec){.iov_base = (void *)(uintptr_t)"\n", .iov_len = 1};
            ssize_t w;
            do
                w = writev(sink->fd, iov, (int)n);
            while (w < 0 && errno == EINTR);
            n = k = 0;
        }
    }
}

/* LINES (LEN bytes: whole lines, or a last piece that gets a newline). */
static void emit(const struct log_stream *ls, pid_t pid, const char *lines, size_t len, bool add_newline)
{
    const struct log_sink *sink = ls->sink;
    if (sink->kind != SINK_SYSLOG) {
        write_lines(sink, lines, len, add_newline);
        return;
    }
    for (const char *p = lines, *end = lines + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        syslog_send_line(sink->fd, sink->priority, sink->ident, pid, p, (size_t)((nl ? nl : end) - p));
        p = nl ? nl + 1 : end;
    }
}

int log_pump(struct log_stream *ls, pid_t pid)
{
    ssize_t n;
    do
        n = read(ls->fd, ls->buf + ls->len, LOG_LINE_MAX - ls->len);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN ? -1 : 1;
    if (n == 0) {
        if (ls->len)
            emit(ls, pid, ls->buf, ls->len, true);
        ls->len = 0;
        return 1;
    }
    ls->len += (size_t)n;
    /* Every whole line out; a line as long as the buffer, in a piece. */
    const char *last = memrchr(ls->buf, '\n', ls->len);
    size_t whole = last ? (size_t)(last - ls->buf) + 1 : ls->len == LOG_LINE_MAX ? ls->len : 0;
    if (whole)
        emit(ls, pid, ls->buf, whole, whole == ls->len && !last);
    memmove(ls->buf, ls->buf + whole, ls->len - whole);
    ls->len -= whole;
    return 0;
}

int log_drain(struct log_stream *ls, pid_t pid)
{
    int r;
    while ((r = log_pump(ls, pid)) == 0)
        ;
    return r;
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
