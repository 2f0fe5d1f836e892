/* What /proc says of a process: its state, parent, group and session. Read with plain
 * system calls into stack buffers, tolerating a process that vanishes while
 * it is read. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static long next_number(const char **p)
{
    long v = 0, sign = 1;
    while (**p == ' ')
        (*p)++;
    if (**p == '-') {
        sign = -1;
        (*p)++;
    }
    for (; **p >= '0' && **p <= '9'; (*p)++)
        v = v * 10 + (**p - '0');
    return sign * v;
}

int dcx_proc_stat(pid_t pid, struct dcx_proc *st)
{
    char path[48], buf[512];
    (void)dcx_format(path, sizeof path, "/proc/%d/stat", (int)pid);
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
    /* "pid (comm) S ppid pgrp session ...": comm may hold spaces and
     * parentheses. */
    const char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2] || p[3] != ' ')
        return -EPROTO;
    st->state = p[2];
    p += 3;
    st->ppid = (pid_t)next_number(&p);
    st->pgrp = (pid_t)next_number(&p);
    st->session = (pid_t)next_number(&p);
    return 0;
}

bool dcx_proc_ended(pid_t pid)
{
    struct dcx_proc st;
    int r = dcx_proc_stat(pid, &st);
    return r == -ESRCH || (r == 0 && (st.state == 'Z' || st.state == 'X'));
}

bool dcx_proc_in_tree(pid_t pid, pid_t root)
{
    for (int depth = 0; depth < 64 && pid > 1; depth++) {
        if (pid == root)
            return true;
        struct dcx_proc st = {0};
        if (dcx_proc_stat(pid, &st) < 0)
            return false;
        pid = st.ppid;
    }
    return false;
}
