/* Deciding whether to detach, and the double fork.
 *
 * The original process waits: it learns the daemon's PID, then "open done",
 * "ready" or an error over the report channel (report.c), and only then
 * leaves. While it waits it is a child subreaper, so the daemon, orphaned by
 * the intermediate child, becomes its child and a death before ready comes
 * with an exit status. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
#include <sys/single_threaded.h>
#endif
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 35)
#include <sys/rseq.h>
#define DCX_GLIBC_RSEQ 1 /* the C library registers rseq areas and says where */
#endif
#include <unistd.h>

#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define DCX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DCX_ASAN 1
#endif
#endif
#ifdef DCX_ASAN
#include <sanitizer/asan_interface.h>
#endif

static bool stdin_is_socket(void)
{
    int type;
    socklen_t len = sizeof type;
    /* A closed fd 0 (EBADF) or a file/tty (ENOTSOCK) is "not a socket". */
    return getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
}

/* systemd tells its services apart by these; a Type=notify or Type=simple
 * service that forks is a service systemd loses track of. */
static bool under_service_manager(void)
{
    const char *listen_pid = getenv("LISTEN_PID");
    if (getenv("NOTIFY_SOCKET") || getenv("INVOCATION_ID"))
        return true;
    return listen_pid && strtol(listen_pid, NULL, 10) == (long)getpid();
}

int dcx_detach_decide(const daemonctx *ctx, const char **reason)
{
    const char *why;
    int fork_it;
    switch (ctx->detach) {
    case DAEMONCTX_DETACH_YES:
        why = "detach_process is set: double fork";
        fork_it = 1;
        break;
    case DAEMONCTX_DETACH_NO:
        why = "detach_process is off: no fork";
        fork_it = 0;
        break;
    default:
        if (getpid() == 1) {
            why = "the process is PID 1 (a container's init): forking and exiting would end it, no fork";
            fork_it = 0;
        } else if (getppid() == 1) {
            why = "the parent is init: already detached, no fork";
            fork_it = 0;
        } else if (under_service_manager()) {
            why = "started by a service manager (NOTIFY_SOCKET, INVOCATION_ID or LISTEN_PID set): no fork";
            fork_it = 0;
        } else if (stdin_is_socket()) {
            why = "stdin is a socket (started by inetd or a socket-activating manager): no fork";
            fork_it = 0;
        } else {
            why = "started by a process that may wait for it: double fork";
            fork_it = 1;
        }
    }
    if (reason)
        *reason = why;
    return fork_it;
}

struct invoker_state {
    struct sigaction sigchld;
    int subreaper;
};

/* SIGCHLD at its default so the children can be waited for (SIG_IGN would
 * make waitpid fail with ECHILD, a handler could reap them first). */
static int invoker_prepare(struct invoker_state *st, daemonctx_error *err)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    if (prctl(PR_GET_CHILD_SUBREAPER, &st->subreaper, 0, 0, 0) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_FORK, errno, "cannot read the child-subreaper flag: %m");
    if (sigaction(SIGCHLD, &dfl, &st->sigchld) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_FORK, errno, "cannot reset SIGCHLD: %m");
    if (!st->subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        int e = errno;
        (void)sigaction(SIGCHLD, &st->sigchld, NULL);
        return dcx_fail(err, DAEMONCTX_STEP_FORK, e, "cannot become a child subreaper: %m");
    }
    return 0;
}

static void invoker_restore(const struct invoker_state *st, bool in_child)
{
    (void)sigaction(SIGCHLD, &st->sigchld, NULL);
    if (!in_child && !st->subreaper)
        (void)prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
}

/* The intermediate child: a new session, and in it the daemon.
 *
 * It is cloned with CLONE_VM | CLONE_VFORK: it runs in our memory, on a
 * stack of its own, while we are suspended until it exits. So it costs
 * no copy of the address space (about half of a start's fork cost); the one
 * copy a daemon needs is made by its fork(), from which the daemon resumes
 * our own stack frames by longjmp(), as if our clone() had returned to it. A
 * daemon that only execs (daemonctx_open_execve) needs no copy at all: it is
 * cloned the same way in turn, and the intermediate child waits for its exec.
 *
 * What a CLONE_VM child does not get, the daemon must not lose: the kernel
 * gives it no rseq registration, which a fork child inherits and the C
 * library believes in (sched_getcpu, per-CPU data); so the intermediate
 * registers our thread's area before it forks, and where it cannot (a layout
 * it does not know) it asks for a plain fork() instead.
 *
 * Between clone and fork it writes nothing we read later (its fds and signal
 * dispositions are its own; errno, which it shares with us, is read here only
 * when clone() itself failed; all signals are blocked, so no handler of ours
 * runs on its stack in our memory) and its fork() is the C library's, so the
 * daemon gets the library's and the program's atfork handling like any fork
 * child. The exec'ing daemon works on a copy of the plan, sets no handler
 * (signals.c), and what else it writes in our memory (errno, the pidfile
 * object's owner PID, the dumpable flag of a shared address space, restored
 * below) is nothing we take for our own. Where CLONE_VM is refused (a seccomp
 * profile, an emulator) a plain fork() runs the same function. */

/* The children's stacks, one mapping: [guard | the exec'ing daemon's stack |
 * guard | the intermediate child's stack]. A child that goes deeper faults
 * on a guard page instead of writing over what lies below. */
struct child_stacks {
    char *base;
    size_t size;
    char *intermediate_top, *daemon_top;
};

#define CHILD_STACK_SIZE (128 * 1024)

static int stacks_map(struct child_stacks *cs)
{
#ifdef DCX_ASAN
    cs->base = NULL; /* run_intermediate carves them */
    cs->size = 0;
    return 0;
#endif
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        page = 4096;
    size_t pg = (size_t)page, stack = (CHILD_STACK_SIZE + pg - 1) / pg * pg;
    cs->size = 2 * (pg + stack);
    void *m = mmap(NULL, cs->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                   -1, 0);
    if (m == MAP_FAILED)
        return -errno;
    cs->base = m;
    if (mprotect(cs->base, pg, PROT_NONE) < 0 || mprotect(cs->base + pg + stack, pg, PROT_NONE) < 0) {
        int e = errno;
        (void)munmap(cs->base, cs->size);
        cs->base = NULL;
        return -e;
    }
    cs->daemon_top = cs->base + pg + stack;
    cs->intermediate_top = cs->base + cs->size;
    return 0;
}

static void stacks_unmap(struct child_stacks *cs)
{
    if (!cs->base)
        return;
    (void)munmap(cs->base, cs->size);
    cs->base = NULL;
}

struct intermediate {
    jmp_buf daemon_resumes;
    int invoker_end, report_fd;
    const struct child_stacks *stacks; /* NULL: fork() the children */
    bool carry_rseq; /* the daemon continues our code: keep its rseq */
    /* for the daemon of daemonctx_open_execve */
    daemonctx *ctx;
    const struct dcx_plan *plan;
    const struct invoker_state *invoker;
    long long deadline_ms;
};

/* The intermediate child's exit status when our rseq registration cannot be
 * carried over: fork() it instead. */
#define INTERMEDIATE_WANTS_FORK 75

/* FN(ARG) in a child cloned with CLONE_VM | CLONE_VFORK onto the stack that
 * ends at TOP; where that is refused, in a fork() child. */
static pid_t clone_vm(int (*fn)(void *), void *arg, char *top)
{
    pid_t pid = clone(fn, top, CLONE_VM | CLONE_VFORK | SIGCHLD, arg);
    if (pid < 0 && (errno == EPERM || errno == ENOSYS || errno == EINVAL)) {
        pid = fork();
        if (pid == 0)
            _exit(fn(arg));
    }
    return pid;
}

/* The C library's set*id() wrappers, which the daemon calls, must not believe
 * they run in a multithreaded process (they would signal its threads) while
 * they share its memory: only a process known to be single-threaded gets an
 * exec'ing daemon that shares its memory. */
static bool single_threaded(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
    return __libc_single_threaded;
#else
    return false;
#endif
}

#ifdef DCX_GLIBC_RSEQ
/* In the intermediate child: register our thread's rseq area as the C
 * library did (it tells its size and offset; the registration is 32 bytes,
 * the original layout, for the sizes it reports with it), so that the
 * daemon, its fork child, inherits the registration. 0, or -1 to fork. */
static int carry_rseq(void)
{
    if (__rseq_size == 0) /* the C library registered nothing */
        return 0;
    if (__rseq_size != 20 && __rseq_size != 32)
        return -1;
    void *area = (char *)__builtin_thread_pointer() + __rseq_offset;
    /* EBUSY: registered already, as in a fork() child (clone refused). */
    return syscall(SYS_rseq, area, 32, 0, RSEQ_SIG) == 0 || errno == EBUSY ? 0 : -1;
}
#endif

static int daemon_exec_main(void *arg)
{
    const struct intermediate *im = arg;
    /* Signals stay blocked until the signal step has taken every handler
     * of ours away (we share the memory those handlers write). */
    invoker_restore(im->invoker, true);
    dcx_daemon_exec(im->ctx, im->plan, im->deadline_ms);
}

static pid_t start_exec_daemon(struct intermediate *im)
{
    if (im->stacks && single_threaded())
        return clone_vm(daemon_exec_main, im, im->stacks->daemon_top);
    pid_t pid = fork();
    if (pid == 0)
        daemon_exec_main(im);
    return pid;
}

static int intermediate_main(void *arg)
{
    struct intermediate *im = arg;
    daemonctx_error e;
#ifdef DCX_GLIBC_RSEQ
    if (im->carry_rseq && carry_rseq() < 0)
        return INTERMEDIATE_WANTS_FORK;
#endif
    /* In our fd table only (the child has its own): once the invoker is
     * gone, the daemon's first report must fail, and nothing may hold the
     * invoker's end open meanwhile. */
    dcx_close(im->invoker_end);
    /* A new session without a controlling terminal... */
    if (setsid() < 0) {
        dcx_fail(&e, DAEMONCTX_STEP_SETSID, errno, "cannot create a new session: %m");
        dcx_report_fatal(im->report_fd, &e);
    }
    /* ...and a second fork so the daemon, not a session leader, can never
     * acquire one again by opening a tty. */
    pid_t daemon = im->plan->exec ? start_exec_daemon(im) : fork();
    if (daemon < 0) {
        dcx_fail(&e, DAEMONCTX_STEP_FORK, errno, "cannot fork the daemon: %m");
        dcx_report_fatal(im->report_fd, &e);
    }
    if (daemon > 0)
        _exit(0);
    longjmp(im->daemon_resumes, 1);
}

/* The intermediate child, reaped: 0, or -errno (ERR filled). */
static int run_intermediate(struct intermediate *im, pid_t *child, daemonctx_error *err)
{
    int r = 0;
#ifdef DCX_ASAN
    /* ASan knows the thread's stack bounds, and reports (on stderr) a child
     * on another stack that calls a noreturn function: under ASan the
     * children's stacks are carved from ours, above the clone, unguarded. */
    _Alignas(16) char carved[2 * CHILD_STACK_SIZE];
    struct child_stacks in_frame = {.intermediate_top = carved + sizeof carved,
                                    .daemon_top = carved + CHILD_STACK_SIZE};
    if (im->stacks)
        im->stacks = &in_frame;
#endif
    bool vm = im->stacks != NULL;
    for (;;) {
        pid_t pid;
        if (vm) {
            pid = clone_vm(intermediate_main, im, im->stacks->intermediate_top);
        } else {
            pid = fork();
            if (pid == 0)
                _exit(intermediate_main(im));
        }
        if (pid < 0) {
            r = dcx_fail(err, DAEMONCTX_STEP_FORK, errno, "cannot fork: %m");
            break;
        }
        int status = 0;
        pid_t w;
        do
            w = waitpid(pid, &status, 0);
        while (w < 0 && errno == EINTR);
        /* ECHILD: reaped by somebody else (a SIGCHLD handler we could not
         * keep out); it is gone either way. */
        if (w < 0 && errno != ECHILD) {
            r = dcx_fail(err, DAEMONCTX_STEP_FORK, errno, "cannot wait for the intermediate child PID %d: %m", (int)pid);
            break;
        }
        if (vm && WIFEXITED(status) && WEXITSTATUS(status) == INTERMEDIATE_WANTS_FORK) {
            vm = false;
            im->carry_rseq = false; /* a fork child has its own */
            continue;
        }
        *child = pid;
        break;
    }
#ifdef DCX_ASAN
    /* The children's frames poisoned their part of it in the shadow memory
     * we share, and may have been killed before unpoisoning it. */
    ASAN_UNPOISON_MEMORY_REGION(carved, sizeof carved);
#endif
    return r;
}

int dcx_detach(daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    struct invoker_state st;
    int r = invoker_prepare(&st, err);
    if (r < 0)
        return r;
    /* Or whatever stdio buffered is written twice, by the parent and the
     * daemon, or lost with the parent's _exit. Before signals are blocked:
     * a stdout that blocks must not make the start unkillable. */
    (void)fflush(NULL);
    sigset_t all, old;
    sigfillset(&all);
    if (sigprocmask(SIG_SETMASK, &all, &old) < 0) {
        r = dcx_fail(err, DAEMONCTX_STEP_FORK, errno, "cannot block signals around the fork: %m");
        invoker_restore(&st, false);
        return r;
    }
    /* Counted from before the clone: an exec'ing daemon sets itself up while
     * we are suspended, and is killed at the deadline by a timer of its own. */
    long long deadline = dcx_deadline(ctx);
    int dumpable = plan->exec && plan->change_ids ? prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) : -1;
    /* Without the mapping, plain forks. The daemon that resumes our frames
     * jumps from its stack up to ours: a mapping above them (possible for a
     * thread's stack) would make that a jump down, which longjmp refuses. */
    struct child_stacks stacks = {0};
    bool vm = stacks_map(&stacks) == 0;
    if (vm && !plan->exec && (uintptr_t)(stacks.base + stacks.size) > (uintptr_t)__builtin_frame_address(0)) {
        stacks_unmap(&stacks);
        vm = false;
    }
    struct intermediate im = {.invoker_end = plan->report[0],
                              .report_fd = plan->report[1],
                              .stacks = vm ? &stacks : NULL,
                              .carry_rseq = !plan->exec,
                              .ctx = ctx,
                              .plan = plan,
                              .invoker = &st,
                              .deadline_ms = deadline};
    if (setjmp(im.daemon_resumes)) {
        /* The daemon, with a copy of the children's stacks it left. */
        stacks_unmap(&stacks);
        invoker_restore(&st, true);
        (void)sigprocmask(SIG_SETMASK, &old, NULL);
        plan->report[0] = -1; /* closed by the intermediate child */
        /* The invoker is gone (killed while it waited): nobody asked for
         * this daemon any more. */
        if (dcx_report_send(plan->report[1], DCX_REC_PID, getpid(), NULL) < 0)
            _exit(1);
        return 0;
    }
    pid_t child = 0;
    r = run_intermediate(&im, &child, err);
    stacks_unmap(&stacks);
    /* setresuid() in a daemon sharing our memory made it non-dumpable. */
    if (dumpable == 1 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1)
        (void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    /* The signals that end a start stay blocked for the wait (report.c reads
     * them, also one that came while we were suspended). */
    sigset_t stops, waiting;
    sigemptyset(&stops);
    dcx_stop_signals_add(&stops);
    sigorset(&waiting, &old, &stops);
    (void)sigprocmask(SIG_SETMASK, r < 0 ? &old : &waiting, NULL);
    if (r < 0) {
        invoker_restore(&st, false);
        return r;
    }
    dcx_close(plan->report[1]);
    plan->report[1] = -1;
    r = dcx_wait_daemon(ctx, plan, child, deadline, &stops, &old, err);
    invoker_restore(&st, false);
    return r < 0 ? r : 1;
}
