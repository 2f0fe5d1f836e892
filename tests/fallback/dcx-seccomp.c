/*
 * dcx-seccomp - run a program with some system calls failing, as an old
 * kernel or a container's seccomp profile would make them fail.
 *
 *   dcx-seccomp [--deny=SYSCALL:ERRNO]... [--probe] [--] PROGRAM [ARG...]
 *
 * SYSCALL is one of close_range, pidfd_open, pidfd_send_signal, openat2,
 * clone3; ERRNO is ENOSYS (the kernel predates it) or EPERM (a seccomp
 * profile refuses it). The filter (prctl PR_SET_NO_NEW_PRIVS, then
 * PR_SET_SECCOMP with SECCOMP_MODE_FILTER) makes exactly those calls return
 * -1 with that errno, for this process and everything it forks and execs.
 * --probe: after installing the filter, call each denied system call once
 * and print "NAME=ERRNO" lines (the tests check the filter works before they
 * trust it), then exit.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#if defined(__x86_64__) && !defined(__ILP32__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define NATIVE_ARCH AUDIT_ARCH_I386
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define NATIVE_ARCH AUDIT_ARCH_S390X
#endif

static const struct {
    const char *name;
    long nr;
} known[] = {
#ifdef SYS_close_range
    {"close_range", SYS_close_range},
#endif
#ifdef SYS_pidfd_open
    {"pidfd_open", SYS_pidfd_open},
#endif
#ifdef SYS_pidfd_send_signal
    {"pidfd_send_signal", SYS_pidfd_send_signal},
#endif
#ifdef SYS_openat2
    {"openat2", SYS_openat2},
#endif
#ifdef SYS_clone3
    {"clone3", SYS_clone3},
#endif
};

#define MAX_DENY 8

int main(int argc, char **argv)
{
#ifndef NATIVE_ARCH
    (void)argc;
    (void)argv;
    (void)fprintf(stderr, "dcx-seccomp: unknown architecture\n");
    return 77;
#else
    struct {
        const char *name;
        long nr;
        int err;
    } deny[MAX_DENY];
    int n = 0, i = 1;
    bool probe = false;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--probe") == 0) {
            probe = true;
            continue;
        }
        if (strncmp(a, "--deny=", 7) != 0)
            break;
        const char *spec = a + 7, *colon = strchr(spec, ':');
        if (!colon || n == MAX_DENY) {
            (void)fprintf(stderr, "dcx-seccomp: bad --deny '%s'\n", spec);
            return 2;
        }
        long nr = -1;
        const char *name = NULL;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            if (strlen(known[k].name) == (size_t)(colon - spec) && strncmp(known[k].name, spec, (size_t)(colon - spec)) == 0) {
                nr = known[k].nr;
                name = known[k].name;
            }
        int err = strcmp(colon + 1, "ENOSYS") == 0 ? ENOSYS : strcmp(colon + 1, "EPERM") == 0 ? EPERM : 0;
        if (nr < 0 || !err) {
            (void)fprintf(stderr, "dcx-seccomp: unknown system call or errno in '%s'\n", spec);
            return 2;
        }
        deny[n].name = name;
        deny[n].nr = nr;
        deny[n].err = err;
        n++;
    }
    if (!probe && i >= argc) {
        (void)fprintf(stderr, "usage: dcx-seccomp [--deny=SYSCALL:ENOSYS|EPERM]... [--probe] [--] PROGRAM [ARG...]\n");
        return 2;
    }

    /* Other architectures' calls pass (we only run native binaries); then
     * each denied number fails with its errno; everything else is allowed. */
    struct sock_filter filter[4 + 2 * MAX_DENY + 1];
    size_t k = 0;
    filter[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    filter[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0);
    filter[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    filter[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (int d = 0; d < n; d++) {
        filter[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)deny[d].nr, 0, 1);
        filter[k++] =
            (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)deny[d].err & SECCOMP_RET_DATA));
    }
    filter[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {.len = (unsigned short)k, .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) {
        (void)fprintf(stderr, "dcx-seccomp: cannot install the filter: %s\n", strerror(errno));
        return 77;
    }
    if (probe) {
        for (int d = 0; d < n; d++) {
            /* Arguments that would fail harmlessly if the call went through. */
            long r = syscall(deny[d].nr, -1L, -1L, 0L, 0L);
            (void)printf("%s=%s\n", deny[d].name,
                         r == 0 ? "0" : errno == ENOSYS ? "ENOSYS" : errno == EPERM ? "EPERM" : strerror(errno));
        }
        return 0;
    }
    execvp(argv[i], argv + i);
    (void)fprintf(stderr, "dcx-seccomp: cannot execute %s: %s\n", argv[i], strerror(errno));
    return 127;
#endif
}
