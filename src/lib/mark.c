/* daemonctx's marks: extended attributes "daemonctx.KEY" saying what a start
 * made, for a later start or stop to find and trust.
 *
 * A process with CAP_SYS_ADMIN writes, and trusts, only the trusted.*
 * namespace, which no process without that capability can write: a daemon
 * that dropped its privileges cannot forge a mark to steer root's `stop` at
 * something else. A process without it writes and reads the user.*
 * namespace, which anyone allowed to write the file can set: it only ever
 * trusts it to act with its own rights. */
#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/xattr.h>

#include "internal.h"

static void attr_name(const char *key, char *buf, size_t size)
{
    const char *ns = dcx_capable(CAP_SYS_ADMIN) ? "trusted.daemonctx." : "user.daemonctx.";
    size_t a = strlen(ns), b = strlen(key);
    if (a + b + 1 > size)
        b = size - a - 1;
    memcpy(buf, ns, a);
    memcpy(buf + a, key, b);
    buf[a + b] = '\0';
}

int dcx_mark_set(int fd, const char *key, const char *value)
{
    char name[64];
    attr_name(key, name, sizeof name);
    return fsetxattr(fd, name, value, strlen(value), 0) < 0 ? -errno : 0;
}

int dcx_mark_get(int fd, const char *key, char *buf, size_t size)
{
    char name[64];
    attr_name(key, name, sizeof name);
    ssize_t n = fgetxattr(fd, name, buf, size - 1);
    if (n < 0)
        return errno == ERANGE ? -ENAMETOOLONG : -errno;
    buf[n] = '\0';
    if (strlen(buf) != (size_t)n) /* a NUL inside: not one of ours */
        return -EINVAL;
    return (int)n;
}

int dcx_mark_remove(int fd, const char *key)
{
    char name[64];
    attr_name(key, name, sizeof name);
    if (fremovexattr(fd, name) < 0 && errno != ENODATA)
        return -errno;
    return 0;
}

/* The same by path (a symbolic link's own attributes, never its target's). */
int dcx_mark_get_path(const char *path, const char *key, char *buf, size_t size)
{
    char name[64];
    attr_name(key, name, sizeof name);
    ssize_t n = lgetxattr(path, name, buf, size - 1);
    if (n < 0)
        return errno == ERANGE ? -ENAMETOOLONG : -errno;
    buf[n] = '\0';
    if (strlen(buf) != (size_t)n)
        return -EINVAL;
    return (int)n;
}
