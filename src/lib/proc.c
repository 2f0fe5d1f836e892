/* What /proc says of a process: its state and its parent. Read with plain
 * system calls into stack buffers, tolerating a process that vanishes while
 * it is read. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* "/proc/PID/stat" without snprintf. */
static void stat_path(pid_t pid, char *buf, size_t size)
{
    daemonctx_error scratch;
    dcx_fail(&scratch, DAEMONCTX_STEP_NONE, 0, "/proc/%d/stat", (int)pid);
    size_t n = strlen(scratch.message);
    if (n >= size)
        n = size - 1;
    memcpy(buf, scratch.message, n);
    buf[n] = '\0';
}

int dcx_proc_stat(pid_t pid, char *state, pid_t *ppid)
{
    char path[48], buf[512];
    stat_path(pid, path, sizeof path);
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    int e = errno;
    dcx_close(fd);
    if (n <= 0) /* gone between the open and the read */
        return n == 0 || e == ESRCH ? -ESRCH : -e;
    buf[n] = '\0';
    /* "pid (comm) S ppid ...": comm may hold spaces and parentheses. */
    const char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2] || p[3] != ' ')
        return -EPROTO;
    *state = p[2];
    long v = 0;
    for (p += 4; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (*p - '0');
    *ppid = (pid_t)v;
    return 0;
}

bool dcx_proc_ended(pid_t pid)
{
    char state;
    pid_t ppid;
    int r = dcx_proc_stat(pid, &state, &ppid);
    return r == -ESRCH || (r == 0 && (state == 'Z' || state == 'X'));
}

bool dcx_proc_in_tree(pid_t pid, pid_t root)
{
    for (int depth = 0; depth < 64 && pid > 1; depth++) {
        if (pid == root)
            return true;
        char state;
        if (dcx_proc_stat(pid, &state, &pid) < 0)
            return false;
    }
    return false;
}
