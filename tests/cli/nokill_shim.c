/*
 * dcx-nokill-shim.so - an LD_PRELOAD library that makes a kernel without
 * cgroup.kill (before Linux 5.14) of this one: opening a file named
 * "cgroup.kill" fails with ENOENT, as it does there. The tests load it into
 * `daemonctx stop` to exercise the freeze, kill each, thaw path; each
 * refusal appends a line to $DCX_NOKILL_LOG, so a test can tell it was.
 */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

static int is_kill(const char *path)
{
    const char *slash = strrchr(path, '/');
    return strcmp(slash ? slash + 1 : path, "cgroup.kill") == 0;
}

static void note(const char *path)
{
    static int (*real)(const char *, int, ...);
    const char *log = getenv("DCX_NOKILL_LOG");
    if (!log)
        return;
    if (!real)
        real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    int fd = real(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        (void)!write(fd, path, strlen(path));
        (void)!write(fd, "\n", 1);
        close(fd);
    }
}

#define SHIM(name)                                                                                                 \
    EXPORT int name(int dirfd, const char *path, int flags, ...)                                                          \
    {                                                                                                              \
        static int (*real)(int, const char *, int, ...);                                                           \
        mode_t mode = 0;                                                                                           \
        if (flags & (O_CREAT | O_TMPFILE)) {                                                                       \
            va_list ap;                                                                                            \
            va_start(ap, flags);                                                                                   \
            mode = (mode_t)va_arg(ap, int);                                                                        \
            va_end(ap);                                                                                            \
        }                                                                                                          \
        if (is_kill(path)) {                                                                                       \
            note(path);                                                                                            \
            errno = ENOENT;                                                                                        \
            return -1;                                                                                             \
        }                                                                                                          \
        if (!real)                                                                                                 \
            real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, #name);                                  \
        return real(dirfd, path, flags, mode);                                                                     \
    }

SHIM(openat)
#ifndef openat64 /* musl: a macro for openat */
SHIM(openat64)
#endif
