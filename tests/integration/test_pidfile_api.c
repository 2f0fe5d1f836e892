/*
 * The standalone pidfile API: daemonctx_pidfile_acquire / release / inspect,
 * in the test process and in forked children (no daemon involved).
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

static daemonctx_error err;

static daemonctx_pidfile *pf_new(const char *path) {
    daemonctx_pidfile *pf = daemonctx_pidfile_new(path);
    TU_ASSERT_MSG(pf != NULL, "daemonctx_pidfile_new(%s): %s", path, strerror(errno));
    return pf;
}

static int acquire(daemonctx_pidfile *pf) {
    memset(&err, 0, sizeof err);
    return daemonctx_pidfile_acquire(pf, &err);
}

static int inspect(const char *path, pid_t *pid) {
    memset(&err, 0, sizeof err);
    *pid = -1;
    return daemonctx_pidfile_inspect(path, pid, &err);
}

/* ------------------------------------------------- holders in children */

enum hold { HOLD_ACQUIRE, HOLD_FLOCK_EMPTY, HOLD_FLOCK_GARBAGE, HOLD_FLOCK_PID1 };

typedef struct holder {
    pid_t pid;
    int release; /* close it: the child exits */
} holder;

static holder hold_in_child(const char *path, enum hold how) {
    int ack[2], ctl[2];
    TU_SYS(pipe2(ack, O_CLOEXEC));
    TU_SYS(pipe2(ctl, O_CLOEXEC));
    fflush(NULL);
    pid_t pid = fork();
    TU_ASSERT(pid >= 0);
    if (pid == 0) {
        close(ack[0]);
        close(ctl[1]);
        char ok = 'k';
        if (how == HOLD_ACQUIRE) {
            daemonctx_pidfile *pf = daemonctx_pidfile_new(path);
            daemonctx_error e;
            if (!pf || daemonctx_pidfile_acquire(pf, &e) != 0)
                ok = 'e';
        } else {
            int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || flock(fd, LOCK_EX) < 0)
                ok = 'e';
            if (how == HOLD_FLOCK_GARBAGE && write(fd, "garbage\n", 8) != 8)
                ok = 'e';
            if (how == HOLD_FLOCK_PID1 && write(fd, "1\n", 2) != 2)
                ok = 'e';
        }
        if (write(ack[1], &ok, 1) != 1)
            _exit(2);
        char ch;
        while (read(ctl[0], &ch, 1) < 0 && errno == EINTR) {
        }
        _exit(0); /* no atexit handlers: the file stays */
    }
    close(ack[1]);
    close(ctl[0]);
    TU_ASSERT_MSG(tu_readable_within(ack[0], tu_timeout_ms()), "holder did not answer");
    char ok = 0;
    TU_ASSERT(read(ack[0], &ok, 1) == 1);
    close(ack[0]);
    TU_ASSERT_MSG(ok == 'k', "the holder child could not take the lock");
    holder h = {pid, ctl[1]};
    return h;
}

static void drop_holder(holder h) {
    close(h.release);
    int st = tu_wait_pid(h.pid, tu_timeout_ms());
    TU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Run FN in a child with a deadline; its exit status. */
static int in_child(void (*fn)(const char *), const char *arg) {
    fflush(NULL);
    pid_t pid = fork();
    TU_ASSERT(pid >= 0);
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    tu_track_pid(pid);
    return tu_wait_pid(pid, tu_timeout_ms());
}

/* ----------------------------------------------------------------- tests */

TU_TEST(pidfile_api_acquire_writes_pid_newline_mode_0644_under_umask_077) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    umask(077);
    daemonctx_pidfile *pf = pf_new(path);
    TU_ASSERT_MSG(acquire(pf) == 0, "acquire: %s: %s", daemonctx_step_name(err.step), err.message);
    tu_assert_pidfile_holds(path, getpid());
    struct stat st;
    TU_SYS(lstat(path, &st));
    TU_ASSERT_MSG((st.st_mode & 07777) == 0644, "mode %04o, expected 0644", (unsigned)(st.st_mode & 07777));
    TU_ASSERT_STR_EQ(daemonctx_pidfile_path(pf), path);
    int fd = daemonctx_pidfile_fd(pf);
    TU_ASSERT(fd >= 0);
    int flags = TU_FD(fcntl(fd, F_GETFD));
    TU_ASSERT_MSG(flags & FD_CLOEXEC, "the lock fd is not close-on-exec");
    struct stat fst;
    TU_SYS(fstat(fd, &fst));
    TU_ASSERT(fst.st_ino == st.st_ino && fst.st_dev == st.st_dev);
    daemonctx_pidfile_free(pf);
}

TU_TEST(pidfile_api_lock_is_an_flock) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    daemonctx_pidfile *pf = pf_new(path);
    TU_ASSERT_INT_EQ(acquire(pf), 0);
    int fd = TU_FD(open(path, O_RDONLY | O_CLOEXEC));
    TU_ASSERT_MSG(flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK,
                  "flock() on another open file description succeeded: not an flock lock");
    close(fd);
    daemonctx_pidfile_free(pf);
}

TU_TEST(pidfile_api_held_pidfile_refused_eagain_naming_holder) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    holder h = hold_in_child(path, HOLD_ACQUIRE);
    daemonctx_pidfile *pf = pf_new(path);
    int rc = acquire(pf);
    TU_ASSERT_INT_EQ(rc, -EAGAIN);
    TU_ASSERT_INT_EQ(err.errnum, EAGAIN);
    TU_ASSERT_MSG(tu_contains_number(err.message, h.pid), "message does not name holder %d: %s: %s", (int)h.pid,
                  daemonctx_step_name(err.step), err.message);
    TU_ASSERT_INT_EQ(daemonctx_pidfile_fd(pf), -1);
    tu_assert_pidfile_holds(path, h.pid);
    daemonctx_pidfile_free(pf);
    tu_assert_pidfile_holds(path, h.pid); /* free of a non-holder removes nothing */
    drop_holder(h);
}

TU_TEST(pidfile_api_stale_pidfile_taken_over) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    tu_write_file(path, "1\n", 0600);
    daemonctx_pidfile *pf = pf_new(path);
    TU_ASSERT_MSG(acquire(pf) == 0, "acquire: %s: %s", daemonctx_step_name(err.step), err.message);
    tu_assert_pidfile_holds(path, getpid());
    struct stat st;
    TU_SYS(stat(path, &st));
    TU_ASSERT_MSG((st.st_mode & 07777) == 0644, "mode %04o, expected 0644", (unsigned)(st.st_mode & 07777));
    daemonctx_pidfile_free(pf);
}

TU_TEST(pidfile_api_release_removes_file_and_unlocks) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    daemonctx_pidfile *pf = pf_new(path);
    TU_ASSERT_INT_EQ(acquire(pf), 0);
    memset(&err, 0, sizeof err);
    TU_ASSERT_INT_EQ(daemonctx_pidfile_release(pf, &err), 0);
    TU_ASSERT(!tu_path_exists(path));
    TU_ASSERT_INT_EQ(daemonctx_pidfile_fd(pf), -1);
    /* can be acquired again, by another object */
    daemonctx_pidfile *pf2 = pf_new(path);
    TU_ASSERT_INT_EQ(acquire(pf2), 0);
    daemonctx_pidfile_free(pf2);
    daemonctx_pidfile_free(pf);
}

TU_TEST(pidfile_api_free_releases) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    daemonctx_pidfile *pf = pf_new(path);
    TU_ASSERT_INT_EQ(acquire(pf), 0);
    daemonctx_pidfile_free(pf);
    TU_ASSERT(!tu_path_exists(path));
}

TU_TEST(pidfile_api_release_keeps_a_file_that_replaced_ours) {
    const char *dir = tu_tmpdir();
    const char *path = tu_fmt("%s/a.pid", dir), *other = tu_fmt("%s/other", dir);
    daemonctx_pidfile *pf = pf_new(path);
    TU_ASSERT_INT_EQ(acquire(pf), 0);
    tu_write_file(other, "777\n", 0644);
    TU_SYS(rename(other, path));
    memset(&err, 0, sizeof err);
    daemonctx_pidfile_release(pf, &err);
    TU_ASSERT_MSG(tu_path_exists(path), "release removed a file it did not lock");
    TU_ASSERT_STR_EQ(tu_read_file(path), "777\n");
    daemonctx_pidfile_free(pf);
    TU_ASSERT(tu_path_exists(path));
}

TU_TEST(pidfile_api_release_when_not_held_is_noop) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    tu_write_file(path, "4242\n", 0644);
    daemonctx_pidfile *pf = pf_new(path);
    memset(&err, 0, sizeof err);
    TU_ASSERT_INT_EQ(daemonctx_pidfile_release(pf, &err), 0);
    TU_ASSERT_STR_EQ(tu_read_file(path), "4242\n");
    daemonctx_pidfile_free(pf);
    TU_ASSERT_STR_EQ(tu_read_file(path), "4242\n");
}

static void acquire_then_exit(const char *path) {
    daemonctx_pidfile *pf = daemonctx_pidfile_new(path);
    daemonctx_error e;
    if (!pf || daemonctx_pidfile_acquire(pf, &e) != 0)
        _exit(3);
    exit(0); /* atexit: removal */
}

static void acquire_then__exit(const char *path) {
    daemonctx_pidfile *pf = daemonctx_pidfile_new(path);
    daemonctx_error e;
    if (!pf || daemonctx_pidfile_acquire(pf, &e) != 0)
        _exit(3);
    _exit(0);
}

TU_TEST(pidfile_api_removed_at_exit_of_the_acquirer) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    int st = in_child(acquire_then_exit, path);
    TU_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", tu_describe_status(st));
    TU_ASSERT_MSG(!tu_path_exists(path), "the pidfile survived exit() of the process that acquired it");
}

TU_TEST(pidfile_api_left_stale_by__exit) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    int st = in_child(acquire_then__exit, path);
    TU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    TU_ASSERT(tu_path_exists(path));
    pid_t pid;
    TU_ASSERT_INT_EQ(inspect(path, &pid), DAEMONCTX_PIDFILE_STALE);
}

static int g_report[2];

static void acquire_fork_child_exits(const char *path) {
    daemonctx_pidfile *pf = daemonctx_pidfile_new(path);
    daemonctx_error e;
    if (!pf || daemonctx_pidfile_acquire(pf, &e) != 0)
        _exit(3);
    pid_t c = fork();
    if (c < 0)
        _exit(4);
    if (c == 0)
        exit(0); /* the child's atexit must not remove the parent's pidfile */
    int st;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR) {
    }
    /* report whether the file is still there, while we still hold it */
    struct stat sb;
    char r = stat(path, &sb) == 0 ? 'y' : 'n';
    if (write(g_report[1], &r, 1) != 1)
        _exit(5);
    _exit(0);
}

TU_TEST(pidfile_api_exit_of_a_forked_child_does_not_remove_it) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    TU_SYS(pipe2(g_report, O_CLOEXEC));
    int st = in_child(acquire_fork_child_exits, path);
    TU_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", tu_describe_status(st));
    char r = 0;
    TU_ASSERT(read(g_report[0], &r, 1) == 1);
    TU_ASSERT_MSG(r == 'y', "the pidfile was removed by the exit() of a forked child of its holder");
}

static void acquire_fork_child_releases(const char *path) {
    daemonctx_pidfile *pf = daemonctx_pidfile_new(path);
    daemonctx_error e;
    if (!pf || daemonctx_pidfile_acquire(pf, &e) != 0)
        _exit(3);
    pid_t c = fork();
    if (c < 0)
        _exit(4);
    if (c == 0) {
        daemonctx_error e2;
        daemonctx_pidfile_release(pf, &e2); /* not the holder: no-op */
        daemonctx_pidfile_free(pf);
        _exit(0);
    }
    int st;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR) {
    }
    struct stat sb;
    char r[2];
    r[0] = stat(path, &sb) == 0 ? 'y' : 'n';
    /* is it still locked (by us)? try from a fresh open file description */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    r[1] = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0 ? 'y' : 'n';
    if (write(g_report[1], r, 2) != 2)
        _exit(5);
    _exit(0);
}

TU_TEST(pidfile_api_release_in_a_forked_child_is_noop) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    TU_SYS(pipe2(g_report, O_CLOEXEC));
    int st = in_child(acquire_fork_child_releases, path);
    TU_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", tu_describe_status(st));
    char r[2] = {0, 0};
    TU_ASSERT(read(g_report[0], r, 2) == 2);
    TU_ASSERT_MSG(r[0] == 'y', "release in a forked child removed the holder's pidfile");
    TU_ASSERT_MSG(r[1] == 'y', "release in a forked child dropped the holder's lock");
}

static void acquire_fork_and_leave(const char *path) {
    daemonctx_pidfile *pf = daemonctx_pidfile_new(path);
    daemonctx_error e;
    if (!pf || daemonctx_pidfile_acquire(pf, &e) != 0)
        _exit(3);
    pid_t c = fork();
    if (c < 0)
        _exit(4);
    if (c == 0) {
        /* the grandchild keeps the inherited fd; tell the test our pid */
        pid_t me = getpid();
        if (write(g_report[1], &me, sizeof me) != (ssize_t)sizeof me)
            _exit(5);
        for (;;)
            pause();
    }
    _exit(0); /* the acquirer is gone */
}

TU_TEST(pidfile_api_lock_survives_fork_after_the_acquirer_is_gone) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    TU_SYS(pipe2(g_report, O_CLOEXEC));
    int st = in_child(acquire_fork_and_leave, path);
    TU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    pid_t gc;
    TU_ASSERT(read(g_report[0], &gc, sizeof gc) == (ssize_t)sizeof gc);
    tu_track_pid(gc);
    pid_t pid;
    int state = inspect(path, &pid);
    TU_ASSERT_MSG(state == DAEMONCTX_PIDFILE_RUNNING,
                  "inspect = %d: the lock did not survive in the forked child (POSIX record lock?)", state);
    tu_wait_reparented(gc);
    st = tu_kill_and_wait(gc, SIGKILL);
    TU_ASSERT(WIFSIGNALED(st));
    TU_ASSERT_INT_EQ(inspect(path, &pid), DAEMONCTX_PIDFILE_STALE);
}

TU_TEST(pidfile_api_lock_survives_exec_when_cloexec_cleared) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    int rep[2];
    TU_SYS(pipe2(rep, O_CLOEXEC));
    fflush(NULL);
    pid_t pid = fork();
    TU_ASSERT(pid >= 0);
    if (pid == 0) {
        daemonctx_pidfile *pf = daemonctx_pidfile_new(path);
        daemonctx_error e;
        if (!pf || daemonctx_pidfile_acquire(pf, &e) != 0)
            _exit(3);
        int fd = daemonctx_pidfile_fd(pf);
        if (fcntl(fd, F_SETFD, 0) < 0)
            _exit(4);
        if (dup2(rep[1], TU_REPORT_FD) < 0 || fcntl(TU_REPORT_FD, F_SETFD, 0) < 0)
            _exit(5);
        char *argv[] = {(char *)(uintptr_t)tu_helper_path(), (char *)(uintptr_t)"--report-fd=5",
                        (char *)(uintptr_t)"--probe", NULL};
        execv(argv[0], argv);
        _exit(6);
    }
    tu_track_pid(pid);
    close(rep[1]);
    char *line = tu_read_line(rep[0], tu_timeout_ms());
    TU_ASSERT_MSG(line != NULL, "the child did not exec the probe");
    TU_ASSERT_STR_EQ(line, tu_fmt("probe %d", (int)pid));
    pid_t held;
    TU_ASSERT_INT_EQ(inspect(path, &held), DAEMONCTX_PIDFILE_RUNNING);
    TU_ASSERT_INT_EQ(held, pid);
}

TU_TEST(pidfile_api_symlink_refused_sentinel_untouched) {
    const char *dir = tu_tmpdir();
    const char *sentinel = tu_fmt("%s/sentinel", dir), *path = tu_fmt("%s/a.pid", dir);
    tu_write_file(sentinel, "sentinel\n", 0600);
    TU_SYS(symlink(sentinel, path));
    daemonctx_pidfile *pf = pf_new(path);
    int rc = acquire(pf);
    TU_ASSERT_MSG(rc < 0, "acquire through a symlink succeeded");
    tu_log("symlink: %d %s: %s", rc, daemonctx_step_name(err.step), err.message);
    TU_ASSERT_CONTAINS(err.message, path);
    TU_ASSERT_STR_EQ(tu_read_file(sentinel), "sentinel\n");
    struct stat st;
    TU_SYS(stat(sentinel, &st));
    TU_ASSERT((st.st_mode & 07777) == 0600);
    daemonctx_pidfile_free(pf);
    TU_ASSERT(tu_path_exists(path));
    TU_ASSERT_STR_EQ(tu_read_file(sentinel), "sentinel\n");
}

static void acquire_fifo(const char *path) {
    daemonctx_pidfile *pf = daemonctx_pidfile_new(path);
    daemonctx_error e;
    int rc = pf ? daemonctx_pidfile_acquire(pf, &e) : -ENOMEM;
    _exit(rc < 0 ? 0 : 1);
}

TU_TEST(pidfile_api_fifo_refused_without_hanging) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    TU_SYS(mkfifo(path, 0644));
    int st = in_child(acquire_fifo, path); /* deadline: fails if it hangs */
    TU_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "acquire on a FIFO: %s", tu_describe_status(st));
}

TU_TEST(pidfile_api_directory_refused) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    TU_SYS(mkdir(path, 0755));
    daemonctx_pidfile *pf = pf_new(path);
    TU_ASSERT(acquire(pf) < 0);
    TU_ASSERT_CONTAINS(err.message, path);
    daemonctx_pidfile_free(pf);
    struct stat st;
    TU_SYS(lstat(path, &st));
    TU_ASSERT(S_ISDIR(st.st_mode));
}

TU_TEST(pidfile_api_hard_link_refused) {
    const char *dir = tu_tmpdir();
    const char *other = tu_fmt("%s/other", dir), *path = tu_fmt("%s/a.pid", dir);
    tu_write_file(other, "other\n", 0644);
    TU_SYS(link(other, path));
    daemonctx_pidfile *pf = pf_new(path);
    TU_ASSERT_MSG(acquire(pf) < 0, "acquire of a file with two links succeeded");
    daemonctx_pidfile_free(pf);
    TU_ASSERT_STR_EQ(tu_read_file(other), "other\n");
}

TU_TEST(pidfile_api_missing_directory_enoent) {
    const char *dir = tu_tmpdir();
    const char *path = tu_fmt("%s/missing/a.pid", dir);
    daemonctx_pidfile *pf = pf_new(path);
    TU_ASSERT_INT_EQ(acquire(pf), -ENOENT);
    TU_ASSERT_CONTAINS(err.message, tu_fmt("%s/missing", dir)); /* the path at fault */
    daemonctx_pidfile_free(pf);
}

TU_TEST(pidfile_api_inspect_absent) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    pid_t pid;
    TU_ASSERT_INT_EQ(inspect(path, &pid), DAEMONCTX_PIDFILE_ABSENT);
    TU_ASSERT_INT_EQ(pid, 0);
    TU_ASSERT(!tu_path_exists(path));
}

TU_TEST(pidfile_api_inspect_stale_gives_the_pid_in_the_file) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    tu_write_file(path, "12345\n", 0644);
    pid_t pid;
    TU_ASSERT_INT_EQ(inspect(path, &pid), DAEMONCTX_PIDFILE_STALE);
    TU_ASSERT_INT_EQ(pid, 12345);
}

TU_TEST(pidfile_api_inspect_stale_empty_file) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    tu_write_file(path, "", 0644);
    pid_t pid;
    TU_ASSERT_INT_EQ(inspect(path, &pid), DAEMONCTX_PIDFILE_STALE);
    TU_ASSERT_INT_EQ(pid, 0);
}

TU_TEST(pidfile_api_inspect_stale_naming_a_live_process) {
    /* liveness comes from the lock, not kill(pid, 0): the test is alive */
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    tu_write_file(path, tu_fmt("%d\n", (int)getpid()), 0644);
    pid_t pid;
    TU_ASSERT_INT_EQ(inspect(path, &pid), DAEMONCTX_PIDFILE_STALE);
    TU_ASSERT_INT_EQ(pid, getpid());
}

TU_TEST(pidfile_api_inspect_running) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    holder h = hold_in_child(path, HOLD_ACQUIRE);
    pid_t pid;
    TU_ASSERT_INT_EQ(inspect(path, &pid), DAEMONCTX_PIDFILE_RUNNING);
    TU_ASSERT_INT_EQ(pid, h.pid);
    drop_holder(h);
    TU_ASSERT_INT_EQ(inspect(path, &pid), DAEMONCTX_PIDFILE_STALE);
}

TU_TEST(pidfile_api_inspect_starting_when_locked_and_empty) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    holder h = hold_in_child(path, HOLD_FLOCK_EMPTY);
    pid_t pid;
    TU_ASSERT_INT_EQ(inspect(path, &pid), DAEMONCTX_PIDFILE_STARTING);
    TU_ASSERT_MSG(pid == 0 || pid == h.pid, "STARTING with pid %d: neither 0 nor the lock holder %d", (int)pid,
                  (int)h.pid);
    drop_holder(h);
}

TU_TEST(pidfile_api_inspect_locked_garbage_einval) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    holder h = hold_in_child(path, HOLD_FLOCK_GARBAGE);
    pid_t pid;
    TU_ASSERT_INT_EQ(inspect(path, &pid), -EINVAL);
    drop_holder(h);
}

TU_TEST(pidfile_api_inspect_directory_einval) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    TU_SYS(mkdir(path, 0755));
    pid_t pid;
    TU_ASSERT_INT_EQ(inspect(path, &pid), -EINVAL);
}

static void inspect_fifo(const char *path) {
    pid_t pid;
    daemonctx_error e;
    int rc = daemonctx_pidfile_inspect(path, &pid, &e);
    _exit(rc == -EINVAL ? 0 : 1);
}

TU_TEST(pidfile_api_inspect_fifo_einval_without_hanging) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    TU_SYS(mkfifo(path, 0644));
    int st = in_child(inspect_fifo, path);
    TU_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "inspect of a FIFO: %s (exit 1: not -EINVAL)",
                  tu_describe_status(st));
}

TU_TEST(pidfile_api_inspect_does_not_modify_or_unlock) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    holder h = hold_in_child(path, HOLD_ACQUIRE);
    struct stat before;
    TU_SYS(stat(path, &before));
    pid_t pid;
    for (int i = 0; i < 3; i++)
        TU_ASSERT_INT_EQ(inspect(path, &pid), DAEMONCTX_PIDFILE_RUNNING);
    struct stat after;
    TU_SYS(stat(path, &after));
    TU_ASSERT(before.st_ino == after.st_ino && before.st_size == after.st_size);
    TU_ASSERT(before.st_mtim.tv_sec == after.st_mtim.tv_sec && before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
    daemonctx_pidfile *pf = pf_new(path);
    TU_ASSERT_INT_EQ(acquire(pf), -EAGAIN);
    daemonctx_pidfile_free(pf);
    tu_assert_pidfile_holds(path, h.pid);
    drop_holder(h);
}

TU_TEST(pidfile_api_inspect_by_the_holder_keeps_its_lock) {
    /* with POSIX record locks, opening and closing the file in the holder
     * would silently drop the lock */
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    daemonctx_pidfile *pf = pf_new(path);
    TU_ASSERT_INT_EQ(acquire(pf), 0);
    pid_t pid;
    TU_ASSERT_INT_EQ(inspect(path, &pid), DAEMONCTX_PIDFILE_RUNNING);
    TU_ASSERT_INT_EQ(pid, getpid());
    /* a new starter (another process) is still refused */
    fflush(NULL);
    pid_t c = fork();
    TU_ASSERT(c >= 0);
    if (c == 0) {
        daemonctx_pidfile *other = daemonctx_pidfile_new(path);
        daemonctx_error e;
        _exit(other && daemonctx_pidfile_acquire(other, &e) == -EAGAIN ? 0 : 1);
    }
    int st = tu_wait_pid(c, tu_timeout_ms());
    TU_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "after inspect by the holder, another process could "
                  "acquire the pidfile");
    daemonctx_pidfile_free(pf);
}

TU_TEST(pidfile_api_shared_directory_refused_unless_allowed) {
    const char *dir = tu_tmpdir();
    const char *shared = tu_fmt("%s/shared", dir);
    TU_SYS(mkdir(shared, 0777));
    TU_SYS(chmod(shared, 0777));
    const char *path = tu_fmt("%s/a.pid", shared);
    daemonctx_pidfile *pf = pf_new(path);
    TU_ASSERT_INT_EQ(acquire(pf), -EPERM);
    TU_ASSERT(!tu_path_exists(path));
    TU_ASSERT_INT_EQ(daemonctx_pidfile_allow_shared_directory(pf, true), 0);
    TU_ASSERT_MSG(acquire(pf) == 0, "acquire after opting in: %s: %s", daemonctx_step_name(err.step), err.message);
    tu_assert_pidfile_holds(path, getpid());
    daemonctx_pidfile_free(pf);
    TU_ASSERT(!tu_path_exists(path));
}

TU_TEST(pidfile_api_foreign_owned_file_refused_as_root) {
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    tu_write_file(path, "123\n", 0644);
    TU_SYS(chown(path, 65534, 65534));
    daemonctx_pidfile *pf = pf_new(path);
    TU_ASSERT_INT_EQ(acquire(pf), -EPERM);
    TU_ASSERT_STR_EQ(tu_read_file(path), "123\n");
    daemonctx_pidfile_free(pf);
    TU_ASSERT_STR_EQ(tu_read_file(path), "123\n");
}

TU_TEST(pidfile_api_inspect_lock_held_by_another_pid_than_named_is_not_running) {
    /* someone holds the lock and wrote PID 1 into the file: a stop must not
     * be steered at PID 1 */
    const char *path = tu_fmt("%s/a.pid", tu_tmpdir());
    holder h = hold_in_child(path, HOLD_FLOCK_PID1);
    pid_t pid;
    int r = inspect(path, &pid);
    tu_log("inspect: %d (%s: %s)", r, daemonctx_step_name(err.step), err.message);
    TU_ASSERT_MSG(r < 0, "inspect said %d (pid %d) for a file naming PID 1 locked by PID %d", r, (int)pid,
                  (int)h.pid);
    drop_holder(h);
}

TU_MAIN
