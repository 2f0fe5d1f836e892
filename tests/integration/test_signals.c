/*
 * signal_map, the terminate action and the signal mask, seen from
 * /proc/PID/status (SigBlk, SigIgn, SigCgt) and from how the daemon dies.
 * Only the bits of the signals under test are compared in SigCgt: a
 * sanitizer runtime catches SEGV/BUS/FPE on its own.
 */
#include "daemonctx.h"
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIT TU_SIGBIT

static void expect_killed_by(pid_t d, int sig, int want) {
    int st = tu_kill_and_wait(d, sig);
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == want, "after signal %d the daemon ended with %s, expected "
                  "death by signal %d", sig, tu_describe_status(st), want);
}

TU_TEST(signals_default_map_ignores_tstp_ttin_ttou_only) {
    tu_cmd c;
    tu_cmd_init(&c); /* every disposition inherited as SIG_DFL */
    pid_t d = tu_start_daemon(&c, NULL);
    uint64_t ign = tu_status_mask(d, "SigIgn");
    TU_ASSERT_MSG(ign == (BIT(SIGTSTP) | BIT(SIGTTIN) | BIT(SIGTTOU)), "SigIgn %016llx, expected TSTP TTIN TTOU",
                  (unsigned long long)ign);
}

TU_TEST(signals_default_map_catches_sigterm) {
    tu_cmd c;
    tu_cmd_init(&c);
    pid_t d = tu_start_daemon(&c, NULL);
    uint64_t cgt = tu_status_mask(d, "SigCgt");
    TU_ASSERT_MSG(cgt & BIT(SIGTERM), "SIGTERM not caught: SigCgt %016llx", (unsigned long long)cgt);
    TU_ASSERT_MSG(!(cgt & (BIT(SIGTSTP) | BIT(SIGTTIN) | BIT(SIGTTOU) | BIT(SIGHUP) | BIT(SIGUSR1))),
                  "unexpected handlers: SigCgt %016llx", (unsigned long long)cgt);
}

TU_TEST(signals_blocked_mask_is_emptied) {
    tu_cmd c;
    tu_cmd_init(&c);
    sigaddset(&c.block, SIGTERM);
    sigaddset(&c.block, SIGHUP);
    sigaddset(&c.block, SIGUSR1);
    sigaddset(&c.block, SIGINT);
    sigaddset(&c.block, SIGRTMIN + 2);
    pid_t d = tu_start_daemon(&c, NULL);
    TU_ASSERT_STR_EQ(tu_status_field(d, "SigBlk"), "0000000000000000");
    expect_killed_by(d, SIGTERM, SIGTERM);
}

TU_TEST(signals_ignore_action_ignores) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--signal=USR1:ignore");
    pid_t d = tu_start_daemon(&c, NULL);
    uint64_t ign = tu_status_mask(d, "SigIgn");
    TU_ASSERT_MSG(ign & BIT(SIGUSR1), "SIGUSR1 not ignored: SigIgn %016llx", (unsigned long long)ign);
    TU_SYS(kill(d, SIGUSR1));
    /* still there: SIGTERM is what kills it */
    expect_killed_by(d, SIGTERM, SIGTERM);
}

TU_TEST(signals_default_action_resets_inherited_ignore) {
    tu_cmd c;
    tu_cmd_init(&c);
    sigaddset(&c.ignore, SIGHUP);
    tu_cmd_arg(&c, "--signal=HUP:default");
    pid_t d = tu_start_daemon(&c, NULL);
    uint64_t ign = tu_status_mask(d, "SigIgn"), cgt = tu_status_mask(d, "SigCgt");
    TU_ASSERT_MSG(!(ign & BIT(SIGHUP)), "SIGHUP still ignored (SIG_DFL mapped to ignore?)");
    TU_ASSERT_MSG(!(cgt & BIT(SIGHUP)), "SIGHUP caught instead of SIG_DFL");
    expect_killed_by(d, SIGHUP, SIGHUP);
}

TU_TEST(signals_unmapped_inherited_ignore_is_kept) {
    tu_cmd c;
    tu_cmd_init(&c);
    sigaddset(&c.ignore, SIGUSR2);
    pid_t d = tu_start_daemon(&c, NULL);
    uint64_t ign = tu_status_mask(d, "SigIgn");
    TU_ASSERT_MSG(ign == (BIT(SIGUSR2) | BIT(SIGTSTP) | BIT(SIGTTIN) | BIT(SIGTTOU)),
                  "SigIgn %016llx, expected USR2 (inherited) TSTP TTIN TTOU", (unsigned long long)ign);
}

TU_TEST(signals_unchanged_action_removes_a_default_entry) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--signal=TSTP:unchanged");
    pid_t d = tu_start_daemon(&c, NULL);
    uint64_t ign = tu_status_mask(d, "SigIgn");
    TU_ASSERT_MSG(ign == (BIT(SIGTTIN) | BIT(SIGTTOU)), "SigIgn %016llx, expected TTIN TTOU",
                  (unsigned long long)ign);
}

TU_TEST(signals_handler_action_runs_the_handler) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--signal=USR1:handler");
    tu_proc *p;
    pid_t d = tu_start_daemon(&c, &p);
    uint64_t cgt = tu_status_mask(d, "SigCgt");
    TU_ASSERT_MSG(cgt & BIT(SIGUSR1), "SIGUSR1 not caught: SigCgt %016llx", (unsigned long long)cgt);
    TU_SYS(kill(d, SIGUSR1));
    TU_ASSERT_STR_EQ(tu_read_line(p->report, tu_timeout_ms()), tu_fmt("sig %d", SIGUSR1));
    TU_SYS(kill(d, SIGUSR1));
    TU_ASSERT_STR_EQ(tu_read_line(p->report, tu_timeout_ms()), tu_fmt("sig %d", SIGUSR1));
    TU_ASSERT(tu_alive(d));
}

TU_TEST(signals_terminate_action_on_sighup_dies_of_sighup_and_removes_pidfile) {
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--signal=HUP:terminate");
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    pid_t d = tu_start_daemon(&c, NULL);
    TU_ASSERT(tu_status_mask(d, "SigCgt") & BIT(SIGHUP));
    tu_assert_pidfile_holds(pidfile, d);
    expect_killed_by(d, SIGHUP, SIGHUP);
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "the pidfile survived the terminate action");
}

TU_TEST(signals_sigterm_removes_pidfile_and_reports_sigterm) {
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    pid_t d = tu_start_daemon(&c, NULL);
    tu_assert_pidfile_holds(pidfile, d);
    expect_killed_by(d, SIGTERM, SIGTERM);
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "the pidfile survived SIGTERM");
}

TU_TEST(signals_sigterm_without_pidfile_dies_of_sigterm) {
    tu_cmd c;
    tu_cmd_init(&c);
    pid_t d = tu_start_daemon(&c, NULL);
    expect_killed_by(d, SIGTERM, SIGTERM);
}

TU_TEST(signals_clear_map_leaves_inherited_dispositions) {
    tu_cmd c;
    tu_cmd_init(&c);
    sigaddset(&c.ignore, SIGUSR2);
    tu_cmd_arg(&c, "--clear-signal-map");
    pid_t d = tu_start_daemon(&c, NULL);
    uint64_t ign = tu_status_mask(d, "SigIgn"), cgt = tu_status_mask(d, "SigCgt");
    TU_ASSERT_MSG(ign == BIT(SIGUSR2), "SigIgn %016llx, expected only the inherited USR2", (unsigned long long)ign);
    TU_ASSERT_MSG(!(cgt & BIT(SIGTERM)), "SIGTERM caught although the map is empty");
    expect_killed_by(d, SIGTERM, SIGTERM);
}

TU_TEST(signals_clear_then_set_applies_only_new_entries) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--clear-signal-map");
    tu_cmd_arg(&c, "--signal=USR1:ignore");
    pid_t d = tu_start_daemon(&c, NULL);
    uint64_t ign = tu_status_mask(d, "SigIgn");
    TU_ASSERT_MSG(ign == BIT(SIGUSR1), "SigIgn %016llx, expected only USR1", (unsigned long long)ign);
}

TU_TEST(signals_realtime_signal_in_map) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--signal=%d:ignore", SIGRTMAX);
    pid_t d = tu_start_daemon(&c, NULL);
    TU_ASSERT(tu_status_mask(d, "SigIgn") & BIT(SIGRTMAX));
}

TU_MAIN
