/* A child that only execs, made as posix_spawn(3) makes one: clone() with
 * CLONE_VM | CLONE_VFORK, on a stack of its own, so that no page table is
 * copied; we are suspended until it execs or exits. Only the intermediate
 * child of a detach uses it, for a daemon that only execs
 * (daemonctx_open_execve): the memory shared is then the intermediate
 * child's own copy, which is thrown away once the daemon has exec'd, and
 * the intermediate child is single-threaded, so the C library's set*id()
 * wrappers have no other thread to tell.
 *
 * FN may only make system calls on memory it does not share with anyone
 * who reads it later, and must end in exec or _exit. Where CLONE_VM is
 * refused (a seccomp profile, an emulator), and under AddressSanitizer
 * (which reports a child running on a stack it does not know), a plain
 * fork() runs FN instead. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define DCX_SPAWN_FORKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DCX_SPAWN_FORKS 1
#endif
#endif

#define SPAWN_STACK_SIZE (128 * 1024)

static pid_t spawn_by_fork(int (*fn)(void *), void *arg)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn(arg));
    return pid < 0 ? -errno : pid;
}

pid_t dcx_spawn(int (*fn)(void *), void *arg)
{
#ifdef DCX_SPAWN_FORKS
    return spawn_by_fork(fn, arg);
#else
    long page = sysconf(_SC_PAGESIZE);
    size_t guard = page > 0 ? (size_t)page : 4096, size = guard + SPAWN_STACK_SIZE;
    char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return spawn_by_fork(fn, arg);
    /* A child that goes deeper faults on the guard page instead of writing
     * over what lies below. */
    if (mprotect(stack, guard, PROT_NONE) < 0) {
        (void)munmap(stack, size);
        return spawn_by_fork(fn, arg);
    }
    pid_t pid = clone(fn, stack + size, CLONE_VM | CLONE_VFORK | SIGCHLD, arg);
    int e = errno;
    (void)munmap(stack, size);
    if (pid < 0 && (e == EPERM || e == ENOSYS || e == EINVAL))
        return spawn_by_fork(fn, arg);
    return pid < 0 ? -e : pid;
#endif
}
