/*
 * Every call of the start path fails in turn, through the CLI and through
 * the library (dcx-helper), under the fault shim.
 *
 * The named tests fail one step each with the errno it realistically fails
 * with (fork at each depth: #1 in the invoker, setsid and fork #2 in the
 * intermediate child; the rest in the daemon). The "every call" tests take a
 * trace of a successful start in each configuration and fail each traced
 * call in turn. Verdict for each (fault_world.c): a documented exit code and
 * one line naming the step and the errno, no process left (the test is the
 * subreaper of everything), no pidfile left, the bystander daemon and any
 * running instance untouched; or, for a fault the code tolerates, a complete
 * start.
 */
#include "fault_world.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One named fault: RULE must be hit, the start must fail with CODE (the CLI)
 * or exit 1 with "STEP: ..." (the helper), naming ERR and NEEDLE. */
static void named_in(enum fw_kind kind, enum fw_config cfg, const char *rule, int code, const char *needle,
                     const char *step, int err, const char *stale)
{
    if (fw_config_needs_root(cfg))
        need_root();
    fw_world w;
    fw_init(&w, kind);
    if (stale) /* a leftover 0600 pidfile: the start must chmod and empty it */
        fw_add_stale(&w, stale, 0600);
    fw_outcome o = fw_run(&w, cfg, rule, false);
    TU_ASSERT_MSG(o.hits >= 1, "the fault %s was never reached (exit %d, stderr \"%s\")", rule, o.r.code, o.r.err);
    const char *context = tu_fmt("%s with %s", kind == FW_CLI ? "daemonctx start" : "dcx-helper", rule);
    if (kind == FW_LIB) {
        const char *want = tu_fmt("%s: ", step);
        TU_ASSERT_MSG(strncmp(o.r.err, want, strlen(want)) == 0, "%s: expected step \"%s\", got \"%s\"", context,
                      step, o.r.err);
    }
    const char *needles[] = {err ? fw_strerror(err) : "", needle, NULL};
    fw_check(&w, &o, true, kind == FW_CLI ? code : 1, needles, context);
    tu_log("%s: exit %d: %.*s", context, o.r.code, (int)strlen(o.r.err) - 1, o.r.err);
    tu_count("faults injected", 1);
    tu_print_counts();
}

static void named(enum fw_kind kind, enum fw_config cfg, const char *rule, int code, const char *needle,
                  const char *step, int err)
{
    named_in(kind, cfg, rule, code, needle, step, err, NULL);
}

/* ------------------------------------------------------------ fork, setsid */

TU_TEST(fault_cli_fork_in_invoker_fails_cleanly)
{
    named(FW_CLI, FW_PLAIN, "func=fork,depth=0,nth=1,errno=EAGAIN", 1, "fork", "fork", EAGAIN);
}
TU_TEST(fault_lib_fork_in_invoker_fails_cleanly)
{
    named(FW_LIB, FW_PLAIN, "func=fork,depth=0,nth=1,errno=EAGAIN", 1, "fork", "fork", EAGAIN);
}
/* clone(CLONE_VM) refused (a seccomp profile, an emulator): the CLI's
 * daemon, which only execs PROGRAM, is made by the intermediate child with
 * fork() instead, and the start is complete. */
static void daemon_clone_refused(const char *err)
{
#if defined(__SANITIZE_ADDRESS__)
    /* Under AddressSanitizer the library forks that child (spawn.c). */
    tu_skip("no clone(CLONE_VM) under AddressSanitizer");
#endif
    fw_world w;
    fw_init(&w, FW_CLI);
    const char *rule = tu_fmt("func=clone,depth=1,nth=1,errno=%s", err);
    fw_outcome o = fw_run(&w, FW_PLAIN, rule, false);
    TU_ASSERT_MSG(o.hits == 1, "the fault %s was never reached (exit %d, stderr \"%s\")", rule, o.r.code, o.r.err);
    fw_check(&w, &o, false, 0, NULL, tu_fmt("daemonctx start with %s", rule));
}
TU_TEST(fault_cli_start_forks_the_daemon_when_clone_vm_is_eperm)
{
    daemon_clone_refused("EPERM");
}
TU_TEST(fault_cli_start_forks_the_daemon_when_clone_vm_is_enosys)
{
    daemon_clone_refused("ENOSYS");
}
TU_TEST(fault_cli_setsid_fails_cleanly)
{
    named(FW_CLI, FW_PLAIN, "func=setsid,depth=1,nth=1,errno=EPERM", 1, "session", "setsid", EPERM);
}
TU_TEST(fault_lib_setsid_fails_cleanly)
{
    named(FW_LIB, FW_PLAIN, "func=setsid,depth=1,nth=1,errno=EPERM", 1, "session", "setsid", EPERM);
}
TU_TEST(fault_cli_fork_in_intermediate_child_fails_cleanly)
{
    named(FW_CLI, FW_PLAIN, "func=fork,depth=1,nth=1,errno=ENOMEM", 1, "fork", "fork", ENOMEM);
}
TU_TEST(fault_lib_fork_in_intermediate_child_fails_cleanly)
{
    named(FW_LIB, FW_PLAIN, "func=fork,depth=1,nth=1,errno=ENOMEM", 1, "fork", "fork", ENOMEM);
}
TU_TEST(fault_cli_fork_of_supervised_program_fails_cleanly)
{
    named(FW_CLI, FW_SUPERVISE, "func=fork,depth=2,nth=1,errno=EAGAIN", 1, "cannot fork PROGRAM", "fork", EAGAIN);
}

/* --------------------------------------------------------- chroot, chdir */

TU_TEST(fault_cli_chroot_fails_cleanly)
{
    named(FW_CLI, FW_JAIL_USER, "func=chroot,depth=2,nth=1,errno=EACCES", 7, "chroot", "chroot", EACCES);
}
TU_TEST(fault_lib_chroot_fails_cleanly)
{
    named(FW_LIB, FW_JAIL_USER, "func=chroot,depth=2,nth=1,errno=EACCES", 1, "chroot", "chroot", EACCES);
}
TU_TEST(fault_cli_chdir_into_chroot_fails_cleanly)
{
    named(FW_CLI, FW_JAIL_USER, "func=chdir,depth=2,nth=1,errno=EIO", 7, "chroot", "chroot", EIO);
}
TU_TEST(fault_cli_chdir_fails_cleanly)
{
    named(FW_CLI, FW_PLAIN, "func=chdir,depth=2,nth=1,errno=EACCES", 7, "directory", "chdir", EACCES);
}
TU_TEST(fault_lib_chdir_fails_cleanly)
{
    named(FW_LIB, FW_PLAIN, "func=chdir,depth=2,nth=1,errno=EACCES", 1, "directory", "chdir", EACCES);
}
TU_TEST(fault_cli_chdir_inside_chroot_fails_cleanly)
{
    named(FW_CLI, FW_JAIL_USER, "func=chdir,depth=2,nth=2,errno=ENOENT", 7, "directory", "chdir", ENOENT);
}

/* ------------------------------------------------------- privilege drop */

TU_TEST(fault_cli_setgroups_fails_cleanly)
{
    named(FW_CLI, FW_JAIL_USER, "func=setgroups,depth=2,nth=1,errno=EPERM", 5, "groups", "setgroups", EPERM);
}
TU_TEST(fault_lib_setgroups_fails_cleanly)
{
    named(FW_LIB, FW_JAIL_USER, "func=setgroups,depth=2,nth=1,errno=EPERM", 1, "groups", "setgroups", EPERM);
}
TU_TEST(fault_cli_setgid_fails_cleanly)
{
    named(FW_CLI, FW_JAIL_USER, "func=setresgid,depth=2,nth=1,errno=EPERM", 5, "group", "setgid", EPERM);
}
TU_TEST(fault_lib_setgid_fails_cleanly)
{
    named(FW_LIB, FW_JAIL_USER, "func=setresgid,depth=2,nth=1,errno=EPERM", 1, "group", "setgid", EPERM);
}
TU_TEST(fault_cli_setuid_fails_cleanly)
{
    named(FW_CLI, FW_JAIL_USER, "func=setresuid,depth=2,nth=1,errno=EAGAIN", 5, "user", "setuid", EAGAIN);
}
TU_TEST(fault_lib_setuid_fails_cleanly)
{
    named(FW_LIB, FW_JAIL_USER, "func=setresuid,depth=2,nth=1,errno=EAGAIN", 1, "user", "setuid", EAGAIN);
}
/* A kernel (or a seccomp filter) that claims success without dropping: the
 * verification must catch it, or the daemon would run as root. */
TU_TEST(fault_cli_setuid_that_lies_is_caught)
{
    named(FW_CLI, FW_JAIL_USER, "func=setresuid,depth=2,nth=1,action=fake", 5, "not the requested ones",
          "verify-drop", 0);
}
TU_TEST(fault_lib_setuid_that_lies_is_caught)
{
    named(FW_LIB, FW_JAIL_USER, "func=setresuid,depth=2,nth=1,action=fake", 1, "not the requested ones",
          "verify-drop", 0);
}
TU_TEST(fault_cli_setgid_that_lies_is_caught)
{
    named(FW_CLI, FW_JAIL_USER, "func=setresgid,depth=2,nth=1,action=fake", 5, "not the requested ones",
          "verify-drop", 0);
}
TU_TEST(fault_lib_root_regained_is_caught)
{
    named(FW_LIB, FW_JAIL_USER, "func=setuid,depth=2,nth=1,action=fake", 1, "reversible", "verify-drop", 0);
}
TU_TEST(fault_cli_root_regained_is_caught)
{
    named(FW_CLI, FW_JAIL_USER, "func=setuid,depth=2,nth=1,action=fake", 5, "reversible", "verify-drop", 0);
}

/* ------------------------------------------------------ files and stdio */

TU_TEST(fault_cli_devnull_open_fails_cleanly)
{
    /* #1 is the CLI's reservation of fd 3 for the lock, #2 the library's */
    named(FW_CLI, FW_PLAIN, "func=open,depth=0,path=/dev/null,nth=2,errno=ENFILE", 6, "/dev/null", "devnull",
          ENFILE);
}
TU_TEST(fault_cli_fd_reservation_fails_cleanly)
{
    named(FW_CLI, FW_PLAIN, "func=open,depth=0,path=/dev/null,nth=1,errno=EMFILE", 1, "fd 3", "-", EMFILE);
}
TU_TEST(fault_lib_devnull_open_fails_cleanly)
{
    named(FW_LIB, FW_PLAIN, "func=open,depth=0,path=/dev/null,nth=1,errno=ENFILE", 1, "/dev/null", "devnull",
          ENFILE);
}
TU_TEST(fault_cli_output_file_open_fails_cleanly)
{
    named(FW_CLI, FW_JAIL_USER, "func=open,depth=0,path=out.log,nth=1,errno=ENOSPC", 6, "out.log", "-", ENOSPC);
}
TU_TEST(fault_cli_error_file_open_fails_cleanly)
{
    named(FW_CLI, FW_JAIL_USER, "func=open,depth=0,path=err.log,nth=1,errno=EACCES", 6, "err.log", "-", EACCES);
}
TU_TEST(fault_cli_dup2_fails_cleanly)
{
    named(FW_CLI, FW_PLAIN, "func=dup2,depth=2,nth=1,errno=EMFILE", 6, "stdin", "stdio", EMFILE);
}
TU_TEST(fault_lib_dup2_fails_cleanly)
{
    named(FW_LIB, FW_PLAIN, "func=dup2,depth=2,nth=2,errno=EMFILE", 1, "stdout", "stdio", EMFILE);
}
TU_TEST(fault_cli_passing_the_lock_to_program_fails_cleanly)
{
    named(FW_CLI, FW_PLAIN, "func=dup2,depth=2,nth=4,errno=EMFILE", 4, "lock", "-", EMFILE);
}

/* ------------------------------------------------------------ pidfile */

TU_TEST(fault_cli_pidfile_directory_open_fails_cleanly)
{
    named(FW_CLI, FW_PLAIN, "func=open,depth=0,path=/dcx-test-,nth=1,errno=EMFILE", 4, "pidfile", "-", EMFILE);
}
TU_TEST(fault_lib_pidfile_directory_open_fails_cleanly)
{
    named(FW_LIB, FW_PLAIN, "func=open,depth=0,path=/dcx-test-,nth=1,errno=EMFILE", 1, "pidfile", "pidfile",
          EMFILE);
}
TU_TEST(fault_cli_pidfile_open_fails_cleanly)
{
    named(FW_CLI, FW_PLAIN, "func=openat,depth=0,path=d.pid,nth=1,errno=EACCES", 4, "pidfile", "-", EACCES);
}
TU_TEST(fault_lib_pidfile_open_fails_cleanly)
{
    named(FW_LIB, FW_PLAIN, "func=openat,depth=0,path=d.pid,nth=1,errno=EDQUOT", 1, "pidfile", "pidfile", EDQUOT);
}
TU_TEST(fault_cli_pidfile_lock_fails_cleanly)
{
    named(FW_CLI, FW_PLAIN, "func=flock,depth=0,nth=1,errno=ENOLCK", 4, "lock pidfile", "-", ENOLCK);
}
TU_TEST(fault_lib_pidfile_lock_fails_cleanly)
{
    named(FW_LIB, FW_PLAIN, "func=flock,depth=0,nth=1,errno=ENOLCK", 1, "lock pidfile", "pidfile", ENOLCK);
}
TU_TEST(fault_cli_pidfile_chmod_fails_cleanly)
{
    named_in(FW_CLI, FW_PLAIN, "func=fchmod,depth=0,nth=1,errno=EROFS", 4, "pidfile", "-", EROFS, "4242\n");
}
TU_TEST(fault_cli_pidfile_truncate_fails_cleanly)
{
    named_in(FW_CLI, FW_PLAIN, "func=ftruncate,depth=0,nth=1,errno=EIO", 4, "pidfile", "-", EIO, "4242\n");
}
TU_TEST(fault_lib_pidfile_truncate_fails_cleanly)
{
    named_in(FW_LIB, FW_PLAIN, "func=ftruncate,depth=0,nth=1,errno=EFBIG", 1, "pidfile", "pidfile", EFBIG,
             "4242\n");
}
TU_TEST(fault_cli_pidfile_write_fails_cleanly)
{
    named(FW_CLI, FW_PLAIN, "func=pwrite,depth=2,nth=1,errno=ENOSPC", 4, "write PID", "-", ENOSPC);
}
TU_TEST(fault_lib_pidfile_write_fails_cleanly)
{
    named(FW_LIB, FW_PLAIN, "func=pwrite,depth=2,nth=1,errno=EDQUOT", 1, "write PID", "pidfile-write", EDQUOT);
}

/* ------------------------------------------- report channel, exec */

TU_TEST(fault_cli_report_channel_fails_cleanly)
{
    named(FW_CLI, FW_PLAIN, "func=socketpair,depth=0,nth=1,errno=EMFILE", 1, "report channel", "-", EMFILE);
}
TU_TEST(fault_lib_report_channel_fails_cleanly)
{
    named(FW_LIB, FW_PLAIN, "func=socketpair,depth=0,nth=1,errno=ENFILE", 1, "report channel", "pipe", ENFILE);
}
TU_TEST(fault_cli_exec_fails_cleanly)
{
    named(FW_CLI, FW_PLAIN, "func=execve,depth=2,nth=1,errno=EACCES", 126, "execute", "-", EACCES);
}
TU_TEST(fault_cli_exec_enoent_fails_cleanly)
{
    named(FW_CLI, FW_PLAIN, "func=execve,depth=2,nth=1,errno=ENOENT", 127, "execute", "-", ENOENT);
}
TU_TEST(fault_cli_exec_out_of_memory_fails_cleanly)
{
    named(FW_CLI, FW_PLAIN, "func=execve,depth=2,nth=1,errno=ENOMEM", 126, "execute", "-", ENOMEM);
}
TU_TEST(fault_lib_exec_fails_cleanly)
{
    named(FW_LIB, FW_NOTIFY, "func=execv,depth=2,nth=1,errno=E2BIG", 1, "execute", "exec", E2BIG);
}
TU_TEST(fault_cli_supervised_exec_fails_cleanly)
{
    named(FW_CLI, FW_SUPERVISE, "func=execve,depth=3,nth=1,errno=EACCES", 126, "execute", "-", EACCES);
}

/* --------------------------------------------------- every traced call */

/* Trace a successful start of KIND/CFG, then fail each traced call in turn
 * with its realistic errno. */
static void every_call_in(enum fw_kind kind, enum fw_config cfg, bool with_instance, bool stale)
{
    if (fw_config_needs_root(cfg))
        need_root();
    fw_world w;
    fw_init(&w, kind);
    if (with_instance)
        fw_add_instance(&w);
    if (stale)
        fw_add_stale(&w, "4242\n", 0600);
    fw_outcome base = fw_run(&w, cfg, "", true);
    const char *config = tu_fmt("%s %s%s", kind == FW_CLI ? "daemonctx start" : "dcx-helper", fw_config_name(cfg),
                                with_instance ? " against a running instance"
                                : stale       ? " over a stale pidfile"
                                              : "");
    if (with_instance) {
        TU_ASSERT_MSG(base.r.code == (kind == FW_CLI ? 3 : 1), "%s: exit %d, stderr \"%s\"", config, base.r.code,
                      base.r.err);
        fw_check(&w, &base, true, kind == FW_CLI ? 3 : 1, NULL, config);
    } else {
        TU_ASSERT_MSG(base.r.code == 0, "%s without faults: exit %d, stderr \"%s\"", config, base.r.code,
                      base.r.err);
        fw_check(&w, &base, false, 0, NULL, config);
    }
    size_t ntrace = 0;
    fault_event *trace = calloc(w.ch.n + 1, sizeof *trace);
    TU_ASSERT(trace != NULL);
    for (size_t i = 0; i < w.ch.n; i++)
        if (strcmp(w.ch.ev[i].kind, "trace") == 0)
            trace[ntrace++] = w.ch.ev[i];
    TU_ASSERT_MSG(ntrace > (with_instance ? 3u : 10u), "%s: only %zu calls traced", config, ntrace);

    size_t injected = 0, failed = 0, tolerated = 0, unreached = 0, problems = 0;
    for (size_t i = 0; i < ntrace; i++) {
        const fault_event *e = &trace[i];
        int err = fw_errno_for(e->func, e->extra);
        if (!err)
            continue;
        const char *rule =
            tu_fmt("func=%s,depth=%d,nth=%u,errno=%s", e->func, e->depth, e->nth, tu_errno_name(err));
        const char *context = tu_fmt("%s, %s #%u at depth %d (%s) failing with %s", config, e->func, e->nth,
                                     e->depth, e->extra, tu_errno_name(err));
        tu_context = context;
        w.soft_timeouts = true;
        fw_outcome o = fw_run(&w, cfg, rule, false);
        w.soft_timeouts = false;
        if (o.hits == 0)
            unreached++;
        else if (o.r.code == 0)
            tolerated++;
        else
            failed++;
        injected += o.hits > 0;
        /* A failure must name the errno it was given, unless the report
         * channel itself failed in the daemon: then the invoker can only tell
         * that its daemon is gone. */
        bool channel = e->depth > 0 && (strcmp(e->func, "send") == 0);
        const char *needles[] = {o.r.code && o.hits && !with_instance && !channel ? fw_strerror(err) : NULL, NULL};
        const char *problem = fw_judge(&w, &o, false, -1, needles);
        if (problem) {
            problems++;
            tu_log("PROBLEM: %s: %s", context, problem);
        } else if (o.hits && o.r.code == 0) {
            tu_log("tolerated: %s", context);
        }
    }
    free(trace);
    tu_log("%s: %zu calls traced, %zu faults injected: %zu clean failures, %zu tolerated, %zu not reached, "
           "%zu problems",
           config, ntrace, injected, failed - (problems > failed ? failed : 0), tolerated, unreached, problems);
    tu_count("faults injected", (long)injected);
    tu_print_counts();
    TU_ASSERT_MSG(problems == 0, "%s: %zu faults were not handled cleanly (see PROBLEM lines)", config, problems);
}

static void every_call(enum fw_kind kind, enum fw_config cfg, bool with_instance)
{
    every_call_in(kind, cfg, with_instance, false);
}

TU_TEST(fault_cli_every_start_call_over_a_stale_pidfile_fails_cleanly)
{
    every_call_in(FW_CLI, FW_PLAIN, false, true);
}
TU_TEST(fault_lib_every_open_call_over_a_stale_pidfile_fails_cleanly)
{
    every_call_in(FW_LIB, FW_PLAIN, false, true);
}
TU_TEST(fault_cli_every_start_call_fails_cleanly)
{
    every_call(FW_CLI, FW_PLAIN, false);
}
TU_TEST(fault_cli_every_start_call_as_user_in_jail_fails_cleanly)
{
    every_call(FW_CLI, FW_JAIL_USER, false);
}
TU_TEST(fault_cli_every_supervised_start_call_fails_cleanly)
{
    every_call(FW_CLI, FW_SUPERVISE, false);
}
TU_TEST(fault_cli_every_notify_start_call_fails_cleanly)
{
    every_call(FW_CLI, FW_NOTIFY, false);
}
TU_TEST(fault_cli_every_ready_fd_start_call_fails_cleanly)
{
    every_call(FW_CLI, FW_READY_FD, false);
}
TU_TEST(fault_lib_every_open_call_fails_cleanly)
{
    every_call(FW_LIB, FW_PLAIN, false);
}
TU_TEST(fault_lib_every_open_call_as_user_in_jail_fails_cleanly)
{
    every_call(FW_LIB, FW_JAIL_USER, false);
}
TU_TEST(fault_lib_every_exec_open_call_fails_cleanly)
{
    every_call(FW_LIB, FW_NOTIFY, false);
}
TU_TEST(fault_cli_faults_never_touch_a_running_instance)
{
    every_call(FW_CLI, FW_PLAIN, true);
}
TU_TEST(fault_lib_faults_never_touch_a_running_instance)
{
    every_call(FW_LIB, FW_PLAIN, true);
}

TU_MAIN
