/*
 * The pidfile through the context: contents, mode, lock, refusal naming the
 * holder, stale files taken over, hostile paths (symlink, FIFO, directory,
 * hard link, missing directory), concurrent starters, and removal only by
 * the daemon itself.
 */
#include "daemonctx.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *pidfile_in_tmp(void) { return tu_fmt("%s/d.pid", tu_tmpdir()); }

static tu_proc *spawn_with_pidfile(const char *pidfile) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    return tu_spawn(&c);
}

static pid_t start_with_pidfile(const char *pidfile) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    return tu_start_daemon(&c, NULL);
}

static int inspect(const char *path, pid_t *pid) {
    daemonctx_error err;
    memset(&err, 0, sizeof err);
    *pid = -1;
    return daemonctx_pidfile_inspect(path, pid, &err);
}

/* A pid that is not running: a child of ours, reaped. */
static pid_t dead_pid(void) {
    pid_t pid = fork();
    TU_ASSERT(pid >= 0);
    if (pid == 0)
        _exit(0);
    int st;
    TU_SYS(waitpid(pid, &st, 0));
    return pid;
}

static void expect_refused_untouched(const char *pidfile, const char *what, int errnum) {
    tu_proc *p = spawn_with_pidfile(pidfile);
    tu_failure f = tu_expect_open_failure(p, "pidfile");
    if (errnum)
        TU_ASSERT_MSG(f.errnum == errnum, "%s: errnum %d, expected %d (%s)", what, f.errnum, errnum, strerror(errnum));
    tu_log("%s: %s", what, f.line);
    TU_ASSERT_MSG(strstr(f.message, pidfile) != NULL, "the message does not name the path %s: %s", pidfile,
                  f.line);
    tu_assert_no_descendants();
}

TU_TEST(pidfile_holds_daemon_pid_and_newline) {
    const char *pidfile = pidfile_in_tmp();
    pid_t d = start_with_pidfile(pidfile);
    tu_assert_pidfile_holds(pidfile, d);
    pid_t pid;
    TU_ASSERT_INT_EQ(inspect(pidfile, &pid), DAEMONCTX_PIDFILE_RUNNING);
    TU_ASSERT_INT_EQ(pid, d);
}

TU_TEST(pidfile_mode_0644_even_with_umask_0) {
    const char *pidfile = pidfile_in_tmp();
    tu_cmd c;
    tu_cmd_init(&c);
    c.umask = 0;
    tu_cmd_arg(&c, "--umask=0");
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_start_daemon(&c, NULL);
    struct stat st;
    TU_SYS(lstat(pidfile, &st));
    TU_ASSERT_MSG(S_ISREG(st.st_mode), "not a regular file");
    TU_ASSERT_MSG((st.st_mode & 07777) == 0644, "mode %04o, expected 0644", (unsigned)(st.st_mode & 07777));
}

TU_TEST(pidfile_lock_is_held_by_the_daemon) {
    const char *pidfile = pidfile_in_tmp();
    start_with_pidfile(pidfile);
    int fd = TU_FD(open(pidfile, O_RDONLY | O_CLOEXEC));
    TU_ASSERT_MSG(flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK, "the pidfile is not flock()ed");
    close(fd);
}

TU_TEST(pidfile_second_start_is_refused_naming_holder) {
    const char *pidfile = pidfile_in_tmp();
    pid_t d = start_with_pidfile(pidfile);
    struct stat before;
    TU_SYS(stat(pidfile, &before));
    tu_proc *p = spawn_with_pidfile(pidfile);
    tu_failure f = tu_expect_open_failure(p, "pidfile");
    TU_ASSERT_MSG(tu_contains_number(f.message, d), "the message does not name the holder %d: %s", (int)d, f.line);
    TU_ASSERT_INT_EQ(f.rc, -EAGAIN);
    tu_assert_pidfile_holds(pidfile, d);
    struct stat after;
    TU_SYS(stat(pidfile, &after));
    TU_ASSERT(before.st_ino == after.st_ino);
    TU_ASSERT(before.st_mtim.tv_sec == after.st_mtim.tv_sec && before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
    TU_ASSERT(tu_alive(d));
    tu_assert_no_descendants_except(&d, 1);
}

TU_TEST(pidfile_stale_with_dead_pid_is_taken_over) {
    const char *pidfile = pidfile_in_tmp();
    pid_t dead = dead_pid();
    tu_write_file(pidfile, tu_fmt("%d\n", (int)dead), 0644);
    pid_t pid;
    TU_ASSERT_INT_EQ(inspect(pidfile, &pid), DAEMONCTX_PIDFILE_STALE);
    pid_t d = start_with_pidfile(pidfile);
    tu_assert_pidfile_holds(pidfile, d);
}

TU_TEST(pidfile_stale_naming_live_unrelated_pid_is_taken_over) {
    /* the file names the test itself, alive, but nobody holds the lock */
    const char *pidfile = pidfile_in_tmp();
    tu_write_file(pidfile, tu_fmt("%d\n", (int)getpid()), 0644);
    pid_t d = start_with_pidfile(pidfile);
    tu_assert_pidfile_holds(pidfile, d);
}

TU_TEST(pidfile_stale_naming_pid_1_is_taken_over) {
    const char *pidfile = pidfile_in_tmp();
    tu_write_file(pidfile, "1\n", 0644);
    pid_t d = start_with_pidfile(pidfile);
    tu_assert_pidfile_holds(pidfile, d);
}

TU_TEST(pidfile_stale_longer_contents_fully_replaced) {
    const char *pidfile = pidfile_in_tmp();
    tu_write_file(pidfile, "1234567890123\n999\ngarbage garbage garbage\n", 0644);
    pid_t d = start_with_pidfile(pidfile);
    tu_assert_pidfile_holds(pidfile, d);
}

TU_TEST(pidfile_left_by_killed_daemon_is_taken_over) {
    const char *pidfile = pidfile_in_tmp();
    pid_t d1 = start_with_pidfile(pidfile);
    int st = tu_kill_and_wait(d1, SIGKILL);
    TU_ASSERT(WIFSIGNALED(st));
    tu_assert_pidfile_holds(pidfile, d1); /* SIGKILL: nothing ran, the file stays */
    pid_t pid;
    TU_ASSERT_INT_EQ(inspect(pidfile, &pid), DAEMONCTX_PIDFILE_STALE);
    pid_t d2 = start_with_pidfile(pidfile);
    tu_assert_pidfile_holds(pidfile, d2);
}

TU_TEST(pidfile_symlink_to_sentinel_refused_sentinel_untouched) {
    const char *dir = tu_tmpdir();
    const char *sentinel = tu_fmt("%s/sentinel", dir), *pidfile = tu_fmt("%s/d.pid", dir);
    const char *content = "precious sentinel contents\nline two\n";
    tu_write_file(sentinel, content, 0600);
    struct stat before;
    TU_SYS(stat(sentinel, &before));
    TU_SYS(symlink(sentinel, pidfile));
    expect_refused_untouched(pidfile, "symlink", ELOOP);
    TU_ASSERT_STR_EQ(tu_read_file(sentinel), content);
    struct stat after, link;
    TU_SYS(stat(sentinel, &after));
    TU_ASSERT_MSG((after.st_mode & 07777) == 0600, "sentinel mode changed to %04o", (unsigned)(after.st_mode & 07777));
    TU_ASSERT(after.st_ino == before.st_ino && after.st_size == before.st_size);
    TU_ASSERT(after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
    TU_ASSERT(after.st_uid == before.st_uid && after.st_gid == before.st_gid);
    TU_SYS(lstat(pidfile, &link));
    TU_ASSERT_MSG(S_ISLNK(link.st_mode), "the planted symlink was replaced or removed");
    /* the sentinel must not be locked either */
    int fd = TU_FD(open(sentinel, O_RDONLY | O_CLOEXEC));
    TU_ASSERT_MSG(flock(fd, LOCK_EX | LOCK_NB) == 0, "the sentinel is locked");
    close(fd);
}

TU_TEST(pidfile_dangling_symlink_refused_target_not_created) {
    const char *dir = tu_tmpdir();
    const char *target = tu_fmt("%s/created-through-link", dir), *pidfile = tu_fmt("%s/d.pid", dir);
    TU_SYS(symlink(target, pidfile));
    expect_refused_untouched(pidfile, "dangling symlink", ELOOP);
    TU_ASSERT_MSG(!tu_path_exists(target), "a file was created through the symlink");
}

TU_TEST(pidfile_fifo_refused_without_hanging) {
    const char *pidfile = pidfile_in_tmp();
    TU_SYS(mkfifo(pidfile, 0644));
    expect_refused_untouched(pidfile, "FIFO", 0); /* tu_wait has a deadline */
    struct stat st;
    TU_SYS(lstat(pidfile, &st));
    TU_ASSERT(S_ISFIFO(st.st_mode));
}

TU_TEST(pidfile_directory_refused) {
    const char *pidfile = pidfile_in_tmp();
    TU_SYS(mkdir(pidfile, 0755));
    expect_refused_untouched(pidfile, "directory", 0);
    struct stat st;
    TU_SYS(lstat(pidfile, &st));
    TU_ASSERT(S_ISDIR(st.st_mode));
}

TU_TEST(pidfile_missing_parent_directory_refused) {
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/no/such/dir/d.pid", dir);
    tu_proc *p = spawn_with_pidfile(pidfile);
    tu_failure f = tu_expect_open_failure(p, "pidfile");
    TU_ASSERT_CONTAINS(f.message, tu_fmt("%s/no/such/dir", dir)); /* the path at fault */
    TU_ASSERT_INT_EQ(f.errnum, ENOENT);
    TU_ASSERT(!tu_path_exists(tu_fmt("%s/no", dir)));
    tu_assert_no_descendants();
}

TU_TEST(pidfile_hard_link_refused_both_names_untouched) {
    const char *dir = tu_tmpdir();
    const char *other = tu_fmt("%s/other", dir), *pidfile = tu_fmt("%s/d.pid", dir);
    const char *content = "someone else's file\n";
    tu_write_file(other, content, 0640);
    TU_SYS(link(other, pidfile));
    expect_refused_untouched(pidfile, "hard link", EMLINK);
    TU_ASSERT_STR_EQ(tu_read_file(other), content);
    struct stat st;
    TU_SYS(stat(other, &st));
    TU_ASSERT_INT_EQ(st.st_nlink, 2);
    TU_ASSERT_MSG((st.st_mode & 07777) == 0640, "mode changed to %04o", (unsigned)(st.st_mode & 07777));
}

TU_TEST(pidfile_concurrent_starters_exactly_one_wins) {
    enum { N = 20 };
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    int gate[2];
    TU_SYS(pipe2(gate, O_CLOEXEC));
    tu_proc *p[N];
    for (int i = 0; i < N; i++) {
        tu_cmd c;
        tu_cmd_init(&c);
        tu_cmd_fd(&c, 8, gate[0]);
        tu_cmd_arg(&c, "--start-gate-fd=8");
        tu_cmd_arg(&c, "--pidfile=%s", pidfile);
        p[i] = tu_spawn(&c);
    }
    close(gate[1]); /* EOF: all of them call open() at once */
    int winners = 0, winner = -1;
    for (int i = 0; i < N; i++) {
        int st = tu_wait(p[i], tu_timeout_ms());
        TU_ASSERT_MSG(WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 1), "starter %d: %s; %s", i,
                      tu_describe_status(st), tu_proc_stderr(p[i]));
        if (WEXITSTATUS(st) == 0) {
            winners++;
            winner = i;
        }
    }
    TU_ASSERT_MSG(winners == 1, "%d starters succeeded, expected exactly 1", winners);
    pid_t d = tu_expect_up(p[winner]);
    tu_wait_reparented(d);
    tu_assert_pidfile_holds(pidfile, d);
    for (int i = 0; i < N; i++) {
        if (i == winner)
            continue;
        const char *err = tu_proc_stderr(p[i]);
        TU_ASSERT_MSG(strncmp(err, "pidfile: ", 9) == 0, "loser %d failed at another step: %s", i, err);
        /* the holder is the daemon, or its invoker while it was starting */
        TU_ASSERT_MSG(tu_contains_number(err, d) || tu_contains_number(err, p[winner]->pid),
                      "loser %d does not name the holder (%d, invoker %d): %s", i, (int)d, (int)p[winner]->pid, err);
    }
    /* exactly one daemon is alive */
    tu_assert_no_descendants_except(&d, 1);
    pid_t live[64];
    TU_ASSERT_INT_EQ(tu_live_children(live, 64), 1);
}

TU_TEST(pidfile_not_removed_when_a_child_of_the_daemon_exits) {
    const char *pidfile = pidfile_in_tmp();
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_cmd_arg(&c, "--fork-child-exit");
    tu_proc *p = tu_spawn(&c);
    char *line = tu_read_line(p->report, tu_timeout_ms());
    TU_ASSERT_MSG(line && strncmp(line, "child-exited ", 13) == 0, "got \"%s\"; %s", line ? line : "EOF",
                  tu_proc_stderr(p));
    pid_t d = tu_expect_up(p);
    tu_expect_exit_code(p, 0);
    tu_assert_pidfile_holds(pidfile, d);
    pid_t pid;
    TU_ASSERT_INT_EQ(inspect(pidfile, &pid), DAEMONCTX_PIDFILE_RUNNING);
    TU_ASSERT_INT_EQ(pid, d);
}

TU_TEST(pidfile_removed_when_the_daemon_exits) {
    const char *pidfile = pidfile_in_tmp();
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_cmd_arg(&c, "--signal=USR1:handler");
    tu_cmd_arg(&c, "--exit-after-signal");
    tu_proc *p;
    pid_t d = tu_start_daemon(&c, &p);
    tu_assert_pidfile_holds(pidfile, d);
    TU_SYS(kill(d, SIGUSR1));
    int st = tu_wait_pid(d, tu_timeout_ms());
    TU_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "daemon: %s", tu_describe_status(st));
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "the pidfile survived the daemon's exit()");
}

TU_TEST(pidfile_relative_path_removed_after_chdir) {
    /* relative to the invoker's cwd; the daemon chdirs to "/" before exit */
    const char *dir = tu_tmpdir();
    tu_cmd c;
    tu_cmd_init(&c);
    c.cwd = dir;
    tu_cmd_arg(&c, "--pidfile=rel.pid");
    pid_t d = tu_start_daemon(&c, NULL);
    const char *pidfile = tu_fmt("%s/rel.pid", dir);
    tu_assert_pidfile_holds(pidfile, d);
    TU_ASSERT_PROC_IS(d, "cwd", "/");
    int st = tu_kill_and_wait(d, SIGTERM);
    TU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "the relative pidfile %s survived SIGTERM", pidfile);
}

TU_TEST(pidfile_replaced_file_is_not_removed_by_the_daemon) {
    /* someone renames a new file over the daemon's pidfile: the daemon's
     * exit must not unlink a file it did not lock */
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir), *other = tu_fmt("%s/new", dir);
    pid_t d = start_with_pidfile(pidfile);
    tu_write_file(other, "4242\n", 0644);
    TU_SYS(rename(other, pidfile));
    int st = tu_kill_and_wait(d, SIGTERM);
    TU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    TU_ASSERT_MSG(tu_path_exists(pidfile), "the daemon removed a pidfile it did not lock");
    TU_ASSERT_STR_EQ(tu_read_file(pidfile), "4242\n");
}

TU_TEST(pidfile_failed_start_leaves_no_pidfile) {
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_cmd_arg(&c, "--workdir=%s/missing", dir);
    tu_proc *p = tu_spawn(&c);
    tu_expect_open_failure(p, "chdir");
    tu_assert_no_descendants();
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "the failed attempt left its pidfile (%s)",
                  tu_read_file(pidfile) ? tu_read_file(pidfile) : "unreadable");
}

TU_TEST(pidfile_failed_start_after_detach_leaves_no_pidfile) {
    /* a failure in the daemon itself (notify mode, reported error) */
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_cmd_arg(&c, "--ready-mode=notify");
    tu_cmd_arg(&c, "--fail-after-open");
    tu_proc *p = tu_spawn(&c);
    tu_expect_open_failure(p, "application");
    tu_assert_no_descendants();
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "the failed attempt left its pidfile");
}

TU_TEST(pidfile_running_instance_untouched_by_refused_start) {
    const char *pidfile = pidfile_in_tmp();
    pid_t d = start_with_pidfile(pidfile);
    for (int i = 0; i < 3; i++) {
        tu_proc *p = spawn_with_pidfile(pidfile);
        tu_expect_open_failure(p, "pidfile");
    }
    tu_assert_pidfile_holds(pidfile, d);
    pid_t pid;
    TU_ASSERT_INT_EQ(inspect(pidfile, &pid), DAEMONCTX_PIDFILE_RUNNING);
    TU_ASSERT_INT_EQ(pid, d);
    int st = tu_kill_and_wait(d, SIGTERM);
    TU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    TU_ASSERT(!tu_path_exists(pidfile));
}

TU_TEST(pidfile_owned_by_another_user_refused_as_root) {
    const char *pidfile = pidfile_in_tmp();
    tu_write_file(pidfile, "", 0644);
    TU_SYS(chown(pidfile, 65534, 65534));
    tu_proc *p = spawn_with_pidfile(pidfile);
    tu_failure f = tu_expect_open_failure(p, "pidfile");
    TU_ASSERT_INT_EQ(f.errnum, EPERM);
    TU_ASSERT_CONTAINS(f.message, pidfile);
    TU_ASSERT_STR_EQ(tu_read_file(pidfile), "");
    tu_assert_no_descendants();
}

TU_TEST(pidfile_in_world_writable_unsticky_directory_refused) {
    const char *dir = tu_tmpdir();
    const char *shared = tu_fmt("%s/shared", dir);
    TU_SYS(mkdir(shared, 0777));
    TU_SYS(chmod(shared, 0777));
    const char *pidfile = tu_fmt("%s/d.pid", shared);
    tu_proc *p = spawn_with_pidfile(pidfile);
    tu_failure f = tu_expect_open_failure(p, "pidfile");
    TU_ASSERT_INT_EQ(f.errnum, EPERM);
    TU_ASSERT(!tu_path_exists(pidfile));
    tu_assert_no_descendants();
}

TU_TEST(pidfile_in_sticky_world_writable_directory_accepted) {
    const char *dir = tu_tmpdir();
    const char *shared = tu_fmt("%s/sticky", dir);
    TU_SYS(mkdir(shared, 0777));
    TU_SYS(chmod(shared, 01777));
    const char *pidfile = tu_fmt("%s/d.pid", shared);
    pid_t d = start_with_pidfile(pidfile);
    tu_assert_pidfile_holds(pidfile, d);
}

TU_TEST(pidfile_no_longer_names_the_daemon_after_sigterm_despite_privilege_drop) {
    /* the daemon runs as nobody and may not unlink in a root 0755 directory:
     * after SIGTERM the file must be gone or at least name no PID */
    const char *pidfile = pidfile_in_tmp();
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_cmd_arg(&c, "--uid=65534");
    tu_cmd_arg(&c, "--gid=65534");
    pid_t d = tu_start_daemon(&c, NULL);
    tu_assert_pidfile_holds(pidfile, d);
    int st = tu_kill_and_wait(d, SIGTERM);
    TU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    char *left = tu_read_file(pidfile);
    tu_log("after SIGTERM the pidfile is %s", left ? tu_fmt("\"%s\"", left) : "gone");
    TU_ASSERT_MSG(!left || left[0] == 0, "the pidfile still names a PID: \"%s\"", left);
    pid_t pid;
    TU_ASSERT_INT_NE(inspect(pidfile, &pid), DAEMONCTX_PIDFILE_RUNNING);
    /* and the next start takes it over */
    pid_t d2 = start_with_pidfile(pidfile);
    tu_assert_pidfile_holds(pidfile, d2);
}

TU_TEST(pidfile_not_removed_when_a_child_of_the_daemon_gets_sigterm) {
    /* the child inherits the terminate action: it must not remove the
     * daemon's pidfile (only the process that wrote its PID may) */
    const char *pidfile = pidfile_in_tmp();
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_cmd_arg(&c, "--fork-child-stay");
    tu_proc *p;
    pid_t d = tu_start_daemon(&c, &p);
    char *line = tu_read_line(p->report, tu_timeout_ms());
    int child = 0;
    TU_ASSERT_MSG(line && sscanf(line, "child %d", &child) == 1, "got \"%s\"", line ? line : "EOF");
    tu_track_pid(child);
    TU_SYS(kill(child, SIGTERM));
    TU_ASSERT_MSG(tu_pid_exits_within(child, tu_timeout_ms()), "the daemon's child survived SIGTERM");
    tu_assert_pidfile_holds(pidfile, d);
    pid_t pid;
    TU_ASSERT_INT_EQ(inspect(pidfile, &pid), DAEMONCTX_PIDFILE_RUNNING);
    TU_ASSERT_INT_EQ(pid, d);
}

TU_TEST(pidfile_failed_start_in_the_daemon_leaves_no_pidfile) {
    /* chdir fails only inside the jail, after the fork */
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir), *jail = tu_fmt("%s/jail", dir);
    TU_SYS(mkdir(jail, 0755));
    TU_SYS(mkdir(tu_fmt("%s/outside", dir), 0755));
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_cmd_arg(&c, "--chroot=%s", jail);
    tu_cmd_arg(&c, "--workdir=%s/outside", dir);
    tu_proc *p = tu_spawn(&c);
    tu_expect_open_failure(p, "chdir");
    tu_assert_no_descendants();
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "the failed attempt left its pidfile");
}

TU_TEST(pidfile_removed_when_the_daemon_dies_before_ready_without_cleanup) {
    /* the daemon _exit()s before ready: no atexit handler ran, the invoker
     * must remove the pidfile of the attempt */
    const char *pidfile = pidfile_in_tmp();
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_cmd_arg(&c, "--ready-mode=notify");
    tu_cmd_arg(&c, "--die-before-ready-now=7");
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, NULL);
    TU_ASSERT_MSG(tu_contains_number(f.message, 7), "exit status 7 not given: %s", f.line);
    tu_assert_no_descendants();
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "the failed attempt left its pidfile (%s)",
                  tu_read_file(pidfile) ? tu_read_file(pidfile) : "?");
}

TU_MAIN
