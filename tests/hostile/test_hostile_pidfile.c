/*
 * Planted and broken pidfiles, through every interface that opens one:
 * `daemonctx start`, `status`, `stop`, dcx-helper (daemonctx_open) and
 * hostile-probe (daemonctx_pidfile_acquire / _inspect).
 *
 * Each case plants its object afresh before each interface. A refusal must
 * be one clear line with the documented exit code, and leave the directory,
 * the planted object and whatever it points at exactly as they were (byte
 * for byte, same inode, same mtime), with no process left. A stale pidfile
 * (garbage, PID 0, 1, -1, a huge number, a huge file: unlocked) is the one
 * thing that may be taken over or removed.
 *
 * Cases that name PID 1 in a locked pidfile run `stop` and `status` inside a
 * PID namespace of their own, whose PID 1 is a sentinel that reports any
 * signal: never risk signalling the real init.
 */
#include "cli_common.h"
#include "fault_chan.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef HOSTILE_PROBE
#define HOSTILE_PROBE "hostile-probe"
#endif

static long tried; /* hostile inputs put to an interface */

/* ------------------------------------------------------------ commands */

static tu_result cli3(const char *cmd, const char *pidfile, const char *extra)
{
    tu_cmd c;
    tu_cmd_init_command(&c, cli_path(), (const char *)NULL);
    c.new_session = true;
    tu_cmd_arg(&c, "%s", cmd);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    if (extra)
        tu_cmd_arg(&c, "%s", extra);
    if (strcmp(cmd, "start") == 0) {
        tu_cmd_arg(&c, "--");
        tu_cmd_arg(&c, "%s", prog_path());
    }
    tried++;
    return tu_run(&c);
}

static tu_result helper(const char *pidfile)
{
    tu_cmd c;
    tu_cmd_init_command(&c, tu_helper_path(), (const char *)NULL);
    c.new_session = true;
    tu_cmd_arg(&c, "--detach=yes");
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tried++;
    return tu_run(&c);
}

static tu_result probe(const char *op, const char *pidfile, bool allow_shared)
{
    tu_cmd c;
    tu_cmd_init_command(&c, HOSTILE_PROBE, (const char *)NULL);
    c.new_session = true;
    tu_cmd_arg(&c, "%s", op);
    tu_cmd_arg(&c, "%s", pidfile);
    if (allow_shared)
        tu_cmd_arg(&c, "--allow-shared");
    tried++;
    return tu_run(&c);
}

/* ------------------------------------------------------------ the cases */

typedef struct hcase {
    const char *dir;     /* the directory the pidfile is in */
    const char *pidfile;
    const char *victim;  /* a file the planted object points at, or NULL */
    void (*plant)(struct hcase *);
    const char *content; /* for the content cases */
    pid_t holder;        /* a process holding the lock, or 0 */
    pid_t named;         /* the process the locked file names, or 0 */
} hcase;

/* What each interface must do. */
typedef struct hexpect {
    int start;               /* exit code; 0: takes the file over */
    const char *start_needle;
    int status;              /* exit code */
    const char *status_out;  /* exact stdout, or NULL */
    int stop;                /* exit code */
    bool stop_removes;       /* a successful stop removes the (stale) file */
    int acquire;             /* errno of daemonctx_pidfile_acquire, 0: success */
    int inspect;             /* >= 0 the state, < 0 -errno */
} hexpect;

static void reset_dir(const char *dir)
{
    char *cmd = tu_fmt("rm -rf '%s'/* '%s'/.[!.]* 2>/dev/null", dir, dir);
    if (system(cmd) < 0) {
        /* the listing checks tell */
    }
}

typedef struct before {
    char *listing;
    tu_snap obj, victim;
} before;

static before take(const hcase *h)
{
    before b;
    b.listing = tu_dir_listing(h->dir);
    b.obj = tu_snapshot(h->pidfile);
    b.victim = h->victim ? tu_snapshot(h->victim) : (tu_snap){0};
    return b;
}

static void untouched(const hcase *h, const before *b, const char *what)
{
    const char *now = tu_dir_listing(h->dir);
    if (strcmp(now, b->listing) != 0)
        TU_FAIL("%s: the directory changed: \"%s\" -> \"%s\"", what, b->listing, now);
    tu_assert_unchanged(&b->obj, h->pidfile);
    if (h->victim)
        tu_assert_unchanged(&b->victim, h->victim);
    pid_t keep[2] = {h->holder, h->named};
    tu_assert_nothing_left(keep, 2, what);
}

static void same_data(const tu_snap *b, const char *path)
{
    tu_snap a = tu_snapshot(path);
    TU_ASSERT_MSG(a.exists && a.ino == b->ino && a.mtime_ns == b->mtime_ns && a.content &&
                      strcmp(a.content, b->content) == 0,
                  "%s was modified", path);
}

static void refused(const tu_result *r, const char *prefix, int code, const char *needle, const char *what)
{
    const char *needles[] = {needle, NULL};
    tu_log("%s: exit %d: %.*s", what, r->code, (int)strcspn(r->err, "\n"), r->err);
    if (r->code != code || !tu_one_line(r->err) || (prefix && strncmp(r->err, prefix, strlen(prefix)) != 0) ||
        (needle && !strstr(r->err, needle)))
        TU_FAIL("%s: exit %d (expected %d), stderr \"%s\" (expected one line%s%s)", what, r->code, code, r->err,
                needle ? " with " : "", needle ? needle : "");
    (void)needles;
}

static void stop_what_started(const hcase *h, const char *what)
{
    pid_t d = tu_pidfile_pid(h->pidfile);
    TU_ASSERT_MSG(d > 0, "%s: the pidfile names no PID after a successful start", what);
    tu_result r = cli3("stop", h->pidfile, NULL);
    TU_ASSERT_MSG(r.code == 0, "%s: stopping the daemon: %d %s", what, r.code, r.err);
    TU_ASSERT(tu_wait_gone(d, tu_timeout_ms()));
    pid_t keep[2] = {h->holder, h->named};
    tu_kill_all_except(keep, 2); /* reap the daemon */
}

static void check_case(hcase *h, const hexpect *e)
{
    const char *name = h->pidfile;
    /* start */
    h->plant(h);
    before b = take(h);
    tu_result r = cli3("start", h->pidfile, NULL);
    if (e->start == 0) {
        TU_ASSERT_MSG(r.code == 0, "start over %s: exit %d: %s", name, r.code, r.err);
        stop_what_started(h, "start");
        if (h->victim)
            same_data(&b.victim, h->victim);
    } else {
        refused(&r, "daemonctx: ", e->start, e->start_needle, "start");
        untouched(h, &b, "start");
    }
    /* status */
    reset_dir(h->dir);
    h->plant(h);
    b = take(h);
    r = cli3("status", h->pidfile, NULL);
    if (e->status == 0 || e->status == 1 || e->status == 3) {
        TU_ASSERT_MSG(r.code == e->status, "status of %s: exit %d (expected %d): %s %s", name, r.code, e->status,
                      r.out, r.err);
        if (e->status_out)
            TU_ASSERT_STR_EQ(r.out, e->status_out);
        TU_ASSERT_STR_EQ(r.err, "");
    } else {
        refused(&r, "daemonctx: ", e->status, NULL, "status");
    }
    untouched(h, &b, "status");
    /* stop */
    r = cli3("stop", h->pidfile, "--timeout=1");
    if (e->stop == 0) {
        TU_ASSERT_MSG(r.code == 0 && !r.err[0], "stop on %s: exit %d: %s", name, r.code, r.err);
        if (e->stop_removes)
            TU_ASSERT_MSG(!tu_path_exists(h->pidfile), "stop left the stale pidfile %s", name);
        else
            untouched(h, &b, "stop");
        if (h->victim) /* its data; its link count drops when a hard link goes */
            same_data(&b.victim, h->victim);
    } else {
        refused(&r, "daemonctx: ", e->stop, NULL, "stop");
        untouched(h, &b, "stop");
    }
    /* the library: daemonctx_open through dcx-helper */
    reset_dir(h->dir);
    h->plant(h);
    b = take(h);
    r = helper(h->pidfile);
    if (e->start == 0) {
        TU_ASSERT_MSG(r.code == 0, "dcx-helper over %s: exit %d: %s", name, r.code, r.err);
        pid_t d = tu_pidfile_pid(h->pidfile);
        TU_ASSERT_MSG(d > 0, "dcx-helper: no PID in %s", name);
        TU_ASSERT(kill(d, SIGTERM) == 0); /* the terminate action removes the pidfile */
        TU_ASSERT(tu_wait_gone(d, tu_timeout_ms()));
        TU_ASSERT_MSG(!tu_path_exists(h->pidfile), "dcx-helper's daemon left %s", name);
    } else {
        refused(&r, "pidfile", 1, NULL, "dcx-helper");
        untouched(h, &b, "dcx-helper");
    }
    /* the pidfile API */
    reset_dir(h->dir);
    h->plant(h);
    b = take(h);
    r = probe("acquire", h->pidfile, false);
    if (e->acquire == 0) {
        TU_ASSERT_MSG(r.code == 0, "acquire %s: %d %s", name, r.code, r.err);
        TU_ASSERT_MSG(!tu_path_exists(h->pidfile), "release left %s", name);
    } else {
        refused(&r, NULL, 1, NULL, "daemonctx_pidfile_acquire");
        int err = 0, rc = 0;
        TU_ASSERT_MSG(sscanf(r.out, "error %d %d", &err, &rc) == 2 && err == e->acquire && rc == -err,
                      "acquire %s: \"%s\", expected errno %s", name, r.out, tu_errno_name(e->acquire));
        untouched(h, &b, "daemonctx_pidfile_acquire");
    }
    reset_dir(h->dir);
    h->plant(h);
    b = take(h);
    r = probe("inspect", h->pidfile, false);
    if (e->inspect >= 0) {
        int state = -1, pid;
        TU_ASSERT_MSG(r.code == 0 && sscanf(r.out, "state %d pid %d", &state, &pid) == 2 && state == e->inspect,
                      "inspect %s: %d \"%s\" \"%s\", expected state %d", name, r.code, r.out, r.err, e->inspect);
    } else {
        int err = 0, rc = 0;
        TU_ASSERT_MSG(r.code == 1 && sscanf(r.out, "error %d %d", &err, &rc) == 2 && err == -e->inspect,
                      "inspect %s: %d \"%s\" \"%s\", expected errno %s", name, r.code, r.out, r.err,
                      tu_errno_name(-e->inspect));
        TU_ASSERT_MSG(tu_one_line(r.err), "inspect: not one line: %s", r.err);
    }
    untouched(h, &b, "daemonctx_pidfile_inspect");
    tu_log("figures: hostile inputs tried=%ld", tried);
}

static hcase new_case(void (*plant)(hcase *))
{
    hcase h;
    memset(&h, 0, sizeof h);
    h.dir = tu_fmt("%s/run", tu_tmpdir());
    TU_SYS(mkdir(h.dir, 0755));
    h.pidfile = tu_fmt("%s/d.pid", h.dir);
    h.plant = plant;
    return h;
}

static void plant_victim(hcase *h)
{
    /* The file an attacker would like root to overwrite, outside the run
     * directory (its listing must not change either way). */
    if (!h->victim) {
        h->victim = tu_fmt("%s/../precious", h->dir);
        tu_write_file(h->victim, "precious contents\n", 0644);
    }
}

/* ------------------------------------------------- links and file types */

static void plant_symlink(hcase *h)
{
    plant_victim(h);
    TU_SYS(symlink(h->victim, h->pidfile));
}

TU_TEST(hostile_pidfile_symlink_to_a_file_is_refused_and_the_file_unchanged)
{
    hcase h = new_case(plant_symlink);
    hexpect e = {.start = 4, .start_needle = "symbolic link", .status = 4, .stop = 4, .acquire = ELOOP,
                 .inspect = -ELOOP};
    check_case(&h, &e);
}

static void plant_dangling(hcase *h)
{
    TU_SYS(symlink(tu_fmt("%s/../created-through-the-link", h->dir), h->pidfile));
}

TU_TEST(hostile_pidfile_dangling_symlink_is_refused_and_nothing_created)
{
    hcase h = new_case(plant_dangling);
    hexpect e = {.start = 4, .start_needle = "symbolic link", .status = 4, .stop = 4, .acquire = ELOOP,
                 .inspect = -ELOOP};
    check_case(&h, &e);
    TU_ASSERT(!tu_path_exists(tu_fmt("%s/../created-through-the-link", h.dir)));
}

static void plant_hardlink(hcase *h)
{
    plant_victim(h);
    TU_SYS(link(h->victim, h->pidfile));
}

/* start refuses it; status sees an unlocked file without a PID: stale. stop
 * refuses to remove a name of a file that has others (exit 4). */
TU_TEST(hostile_pidfile_hard_link_is_refused_and_the_file_unchanged)
{
    hcase h = new_case(plant_hardlink);
    hexpect e = {.start = 4, .start_needle = "hard links", .status = 1, .status_out = "stale\n", .stop = 4,
                 .stop_removes = false, .acquire = EMLINK, .inspect = 1};
    check_case(&h, &e);
}

static void plant_fifo(hcase *h)
{
    TU_SYS(mkfifo(h->pidfile, 0644));
}

TU_TEST(hostile_pidfile_fifo_is_refused_without_hanging)
{
    hcase h = new_case(plant_fifo);
    hexpect e = {.start = 4, .start_needle = "not a regular file", .status = 4, .stop = 4, .acquire = EINVAL,
                 .inspect = -EINVAL};
    int64_t t0 = tu_now_ms();
    check_case(&h, &e);
    TU_ASSERT_MSG(tu_now_ms() - t0 < tu_timeout_ms(), "a FIFO made something wait");
}

static void plant_dir(hcase *h)
{
    TU_SYS(mkdir(h->pidfile, 0755));
}

TU_TEST(hostile_pidfile_directory_is_refused)
{
    hcase h = new_case(plant_dir);
    hexpect e = {.start = 4, .start_needle = "directory", .status = 4, .stop = 4, .acquire = EISDIR,
                 .inspect = -EINVAL};
    check_case(&h, &e);
}

static void plant_socket(hcase *h)
{
    int fd = TU_FD(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", h->pidfile);
    TU_SYS(bind(fd, (struct sockaddr *)&a, sizeof a));
    close(fd);
}

TU_TEST(hostile_pidfile_socket_is_refused)
{
    hcase h = new_case(plant_socket);
    hexpect e = {.start = 4, .start_needle = "not a regular file", .status = 4, .stop = 4, .acquire = ENXIO,
                 .inspect = -ENXIO};
    check_case(&h, &e);
}

/* ------------------------------------------------------ stale contents */

static void plant_content(hcase *h)
{
    tu_write_file(h->pidfile, h->content, 0644);
}

static void stale_content(const char *content, const char *status_out)
{
    hcase h = new_case(plant_content);
    h.content = content;
    hexpect e = {.start = 0, .status = 1, .status_out = status_out, .stop = 0, .stop_removes = true,
                 .acquire = 0, .inspect = 1};
    check_case(&h, &e);
}

TU_TEST(hostile_pidfile_garbage_contents_are_stale)
{
    stale_content("not a pid at all\n\x01\xff", "stale\n");
}
TU_TEST(hostile_pidfile_huge_number_is_stale)
{
    stale_content("99999999999999999999999\n", "stale\n");
}
TU_TEST(hostile_pidfile_pid_beyond_int_is_stale)
{
    stale_content("4294967297\n", "stale\n");
}
TU_TEST(hostile_pidfile_negative_pid_is_stale)
{
    stale_content("-1\n", "stale\n");
}
TU_TEST(hostile_pidfile_zero_pid_is_stale)
{
    stale_content("0\n", "stale\n");
}
TU_TEST(hostile_pidfile_pid_1_unlocked_is_stale)
{
    stale_content("1\n", "stale PID 1\n");
}
TU_TEST(hostile_pidfile_empty_file_is_stale)
{
    stale_content("", "stale\n");
}
TU_TEST(hostile_pidfile_huge_file_is_stale)
{
    size_t n = 1 << 20;
    char *big = malloc(n + 1);
    TU_ASSERT(big != NULL);
    memset(big, '7', n);
    big[n] = 0;
    stale_content(tu_strdup(big), "stale\n");
    free(big);
}

/* --------------------------------------------------- someone holds it */

static void plant_locked(hcase *h)
{
    if (h->holder) {
        (void)kill(h->holder, SIGKILL);
        (void)tu_wait_gone(h->holder, tu_timeout_ms());
    }
    h->holder = tu_hold_lock(h->pidfile, h->content);
}

TU_TEST(hostile_pidfile_locked_with_garbage_is_refused)
{
    hcase h = new_case(plant_locked);
    h.content = "garbage\n";
    hexpect e = {.start = 3, .start_needle = "locked by PID", .status = 4, .stop = 4, .acquire = EAGAIN,
                 .inspect = -EINVAL};
    check_case(&h, &e);
}

/* Locked and empty: a start in progress. */
TU_TEST(hostile_pidfile_locked_and_empty_is_starting)
{
    hcase h = new_case(plant_locked);
    h.content = "";
    hexpect e = {.start = 3, .start_needle = "still starting", .status = 0, .stop = 4, .acquire = EAGAIN,
                 .inspect = 3};
    check_case(&h, &e);
}

/* A process holds the lock and wrote the PID of another one: stop and
 * status must find out from the lock and refuse; the PID named is never
 * signalled (it blocks every signal, so any would show as pending). */
static pid_t blocked_victim(void)
{
    int p[2];
    TU_SYS(pipe2(p, O_CLOEXEC));
    pid_t pid = fork();
    if (pid < 0)
        TU_FAIL("fork");
    if (pid == 0) {
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        if (write(p[1], "x", 1) < 0)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    char ch;
    TU_ASSERT(read(p[0], &ch, 1) == 1);
    close(p[0]);
    tu_track_pid(pid);
    return pid;
}

static void assert_never_signalled(pid_t pid)
{
    TU_ASSERT_MSG(tu_state_of(pid) == 'S', "the process named, %d, is no longer waiting", (int)pid);
    const char *pnd = tu_status_field(pid, "SigPnd"), *shd = tu_status_field(pid, "ShdPnd");
    TU_ASSERT_MSG(strtoull(pnd, NULL, 16) == 0 && strtoull(shd, NULL, 16) == 0,
                  "the process named, %d, was signalled (SigPnd %s, ShdPnd %s)", (int)pid, pnd, shd);
}

TU_TEST(hostile_pidfile_locked_by_another_than_the_pid_named_is_never_signalled)
{
    hcase h = new_case(plant_locked);
    h.named = blocked_victim();
    h.content = tu_fmt("%d\n", (int)h.named);
    hexpect e = {.start = 3, .start_needle = "locked by PID", .status = 4, .stop = 4, .acquire = EAGAIN,
                 .inspect = -ESRCH};
    check_case(&h, &e);
    assert_never_signalled(h.named);
}

/* The same with PID 1 written in, run where PID 1 is a sentinel of ours: a
 * PID namespace with its own /proc. */
static void pid1_sentinel(const char *pidfile, int report)
{
    if (tu_make_mounts_private("/proc") < 0 || mount("proc", "/proc", "proc", 0, NULL) < 0)
        _exit(3);
    static const int caught[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGCONT};
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++)
        sigaddset(&set, caught[i]);
    /* Blocked: a signal sent to us stays pending, for all to see. */
    sigprocmask(SIG_BLOCK, &set, NULL);
    pid_t holder = tu_hold_lock(pidfile, "1\n");
    char line[512];
    const char *cmds[] = {"status", "stop"};
    for (int i = 0; i < 2; i++) {
        tu_cmd c;
        tu_cmd_init_command(&c, cli_path(), (const char *)NULL);
        c.new_session = true;
        tu_cmd_arg(&c, "%s", cmds[i]);
        tu_cmd_arg(&c, "--pidfile=%s", pidfile);
        tu_result r = tu_run(&c);
        int n = snprintf(line, sizeof line, "%s %d %s", cmds[i], r.code, r.err);
        if (write(report, line, (size_t)n) < 0)
            _exit(4);
    }
    sigset_t pending;
    sigpending(&pending);
    int got = 0;
    for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++)
        got |= sigismember(&pending, caught[i]) == 1;
    snprintf(line, sizeof line, "signalled %d\n", got);
    if (write(report, line, strlen(line)) < 0)
        _exit(4);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    _exit(0);
}

TU_TEST(hostile_pidfile_locked_naming_pid_1_is_never_signalled)
{
    if (!tu_is_root())
        tu_skip("needs root (a PID namespace)");
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    int p[2];
    TU_SYS(pipe2(p, O_CLOEXEC));
    pid_t c = fork();
    if (c < 0)
        TU_FAIL("fork");
    if (c == 0) {
        if (unshare(CLONE_NEWPID | CLONE_NEWNS) < 0)
            _exit(2);
        pid_t init = fork();
        if (init == 0)
            pid1_sentinel(pidfile, p[1]);
        int st;
        waitpid(init, &st, 0);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 5);
    }
    close(p[1]);
    char *out = tu_read_all(p[0], tu_timeout_ms());
    close(p[0]);
    int st;
    TU_SYS(waitpid(c, &st, 0));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 2)
        tu_skip("no PID namespace here");
    TU_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the namespace run failed (%d): %s", st, out);
    tu_log("in a PID namespace: %s", out);
    TU_ASSERT_CONTAINS(out, "status 4 daemonctx: ");
    TU_ASSERT_CONTAINS(out, "stop 4 daemonctx: ");
    TU_ASSERT_CONTAINS(out, "signalled 0\n");
    tried += 2;
    tu_log("figures: hostile inputs tried=%ld", tried);
}

/* ----------------------------------------------------------- ownership */

static void plant_foreign(hcase *h)
{
    tu_write_file(h->pidfile, h->content, 0644);
    TU_SYS(chown(h->pidfile, 65534, 65534));
}

TU_TEST(hostile_pidfile_owned_by_another_user_is_refused_as_root)
{
    if (!tu_is_root())
        tu_skip("needs root");
    hcase h = new_case(plant_foreign);
    h.content = "4242\n";
    hexpect e = {.start = 4, .start_needle = "owned by uid 65534", .status = 4, .stop = 4, .acquire = EPERM,
                 .inspect = -EPERM};
    check_case(&h, &e);
}

static void plant_nothing(hcase *h)
{
    (void)h;
}

TU_TEST(hostile_pidfile_in_world_writable_directory_is_refused)
{
    hcase h = new_case(plant_nothing);
    TU_SYS(chmod(h.dir, 0777));
    hexpect e = {.start = 4, .start_needle = "writable by everyone", .status = 3, .stop = 0, .acquire = EPERM,
                 .inspect = 0};
    check_case(&h, &e);
    /* The library's opt-in (the CLI has none). */
    tu_result r = probe("acquire", h.pidfile, true);
    TU_ASSERT_MSG(r.code == 0, "allow_shared_directory: %s", r.err);
    TU_ASSERT(!tu_path_exists(h.pidfile));
}

TU_TEST(hostile_pidfile_in_sticky_directory_is_allowed)
{
    hcase h = new_case(plant_nothing);
    TU_SYS(chmod(h.dir, 01777));
    hexpect e = {.start = 0, .status = 3, .stop = 0, .acquire = 0, .inspect = 0};
    check_case(&h, &e);
}

TU_TEST(hostile_pidfile_in_missing_directory_is_refused_and_nothing_created)
{
    hcase h = new_case(plant_nothing);
    h.pidfile = tu_fmt("%s/missing/deeper/d.pid", h.dir);
    hexpect e = {.start = 4, .start_needle = "No such file or directory", .status = 3, .stop = 0,
                 .acquire = ENOENT, .inspect = 0};
    check_case(&h, &e);
}

/* ---------------------------------------------------------- filesystems */

static void private_mounts(void)
{
    if (!tu_is_root())
        tu_skip("needs root (mount)");
    /* the file systems are mounted in temporary directories under /tmp */
    if (unshare(CLONE_NEWNS) < 0 || tu_make_mounts_private("/tmp") < 0)
        tu_skip("no mount namespace here: %s", strerror(errno));
}

static const char *mount_tmpfs(const char *opts)
{
    const char *mnt = tu_fmt("%s/mnt", tu_tmpdir());
    TU_SYS(mkdir(mnt, 0755));
    if (mount("tmpfs", mnt, "tmpfs", 0, opts) < 0)
        tu_skip("cannot mount a tmpfs: %s", strerror(errno));
    return mnt;
}

static void plant_readonly(hcase *h)
{
    if (h->content) { /* a stale file from before the remount */
        TU_SYS(mount(NULL, h->dir, NULL, MS_REMOUNT, "size=64k,mode=755"));
        tu_write_file(h->pidfile, h->content, 0644);
    }
    TU_SYS(mount(NULL, h->dir, NULL, MS_REMOUNT | MS_RDONLY, "size=64k,mode=755"));
}

TU_TEST(hostile_pidfile_on_read_only_filesystem_is_refused)
{
    private_mounts();
    hcase h = new_case(plant_readonly);
    h.dir = mount_tmpfs("size=64k,mode=755");
    h.pidfile = tu_fmt("%s/d.pid", h.dir);
    hexpect e = {.start = 4, .start_needle = "Read-only file system", .status = 3, .stop = 0, .acquire = EROFS,
                 .inspect = 0};
    check_case(&h, &e);
    TU_SYS(umount(h.dir));
}

TU_TEST(hostile_stale_pidfile_on_read_only_filesystem_is_refused)
{
    private_mounts();
    hcase h = new_case(plant_readonly);
    h.dir = mount_tmpfs("size=64k,mode=755");
    h.pidfile = tu_fmt("%s/d.pid", h.dir);
    h.content = "4242\n";
    hexpect e = {.start = 4, .start_needle = "Read-only file system", .status = 1, .status_out = "stale PID 4242\n",
                 .stop = 4, .acquire = EROFS, .inspect = 1};
    check_case(&h, &e);
    TU_SYS(umount(h.dir));
}

static void plant_full(hcase *h)
{
    /* Fill every block; inodes remain, so the pidfile can be created empty
     * and it is the write of the PID that fails. */
    const char *path = tu_fmt("%s/.filler", h->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    TU_ASSERT(fd >= 0);
    char buf[4096];
    memset(buf, 'f', sizeof buf);
    while (write(fd, buf, sizeof buf) > 0)
        ;
    close(fd);
}

TU_TEST(hostile_pidfile_on_full_filesystem_is_refused_and_removed)
{
    private_mounts();
    hcase h = new_case(plant_full);
    h.dir = mount_tmpfs("size=64k,mode=755");
    h.pidfile = tu_fmt("%s/d.pid", h.dir);
    hexpect e = {.start = 4, .start_needle = "No space left on device", .status = 3, .stop = 0, .acquire = ENOSPC,
                 .inspect = 0};
    check_case(&h, &e);
    TU_SYS(umount(h.dir));
}

TU_MAIN
