/* bench/harness.c - spawn -> ready daemon, for daemonctx, its peers and the floor.
 *
 * Run by bench/run, which builds the peers and passes their paths. Everything
 * the benchmark measures is observed from outside the tool:
 *
 *   ready = the pidfile names a PID that is alive (not a zombie), in a session
 *           other than the starter's, without a controlling tty, with fds 0, 1
 *           and 2 on /dev/null, and running the payload (its /proc/PID/exe is
 *           the payload's inode; for a supervisor, a child of it is), seen
 *           through inotify on the pidfile's directory plus /proc, never
 *           from the tool's exit status.
 *
 * The harness is the session leader of a pseudo-terminal, which is the
 * controlling tty of every start command (as when started from a shell), so
 * "no controlling tty" means something. It is a child subreaper, so every
 * daemon ends up its child and is killed and reaped after each sample.
 * Each scenario runs in its own process, which sets RLIMIT_NOFILE with
 * setrlimit (lowering a hard limit cannot be undone without CAP_SYS_RESOURCE).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define NOFILE_TARGET 1048576UL
#define EXTRA_FDS 2000
#define MAX_ROWS 20
#define MAX_SAMPLES 160
#define MAX_SCEN 4
#define NCONC 50
#define MAX_TRIALS 5
#define STOP_SAMPLES 30
#define NPHASE 7
#define TREE_SAMPLES 10
#define TREE_SIZE 1000
#define PHASE_SAMPLES 100

/* ------------------------------------------------------------- utilities */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "harness: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static ssize_t read_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* median and p90 (nearest rank) of N values */
static void stats(const float *v, int n, double *median, double *p90)
{
    float tmp[MAX_SAMPLES];
    if (n <= 0) {
        *median = *p90 = -1;
        return;
    }
    memcpy(tmp, v, (size_t)n * sizeof *tmp);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_float);
    *median = n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2.0;
    int rank = (9 * n + 9) / 10; /* ceil(0.9 n) */
    *p90 = tmp[rank - 1];
}

/* --------------------------------------------------------- the contenders */

typedef struct {
    const char *key;
    const char *label;
    const char *argv[16]; /* "@PF" anywhere in an argument is the pidfile path */
    char payload[PATH_MAX];
    dev_t pdev;
    ino_t pino;
    bool supervised; /* the pidfile may name a supervisor whose child runs the payload */
    bool self_payload; /* the start command's own program is the payload (no exec to wait for) */
    bool reference;  /* not a contender: a second floor, for exec-style tools */
    bool daemonctx;
    bool exit_only;  /* a reference that starts no daemon: done when the command exits 0 */
} impl_t;

static impl_t impls[MAX_ROWS];
static int nimpl;

typedef struct {
    const char *key;
    const char *label;
    rlim_t want;
    int extra_fds;
    bool emulation; /* limit readers run under the shim when the real limit is lower than WANT */
} scen_t;

static const scen_t scens[MAX_SCEN] = {
    {"1024", "RLIMIT_NOFILE 1024", 1024, 0, false},
    {"real-max", "RLIMIT_NOFILE at the highest real limit, no emulation", NOFILE_TARGET, 0, false},
    {"1M", "RLIMIT_NOFILE 1,048,576", NOFILE_TARGET, 0, true},
    {"1M+2000", "RLIMIT_NOFILE 1,048,576 with 2000 inherited open fds", NOFILE_TARGET, EXTRA_FDS, true},
};

/* ------------------------------------------------ results, shared memory */

typedef struct {
    int n, fails, attempts;
    float ready[MAX_SAMPLES], wall[MAX_SAMPLES], cpu[MAX_SAMPLES];
    bool ran, emulated;
    int fds;    /* fds other than 0-2 open in the daemon after the start (warm-up sample) */
    int leader; /* the daemon leads its session (it could acquire a tty again): 1, 0, -1 unknown */
    double elapsed;
    char fail[240];
} cell_t;

typedef struct {
    int n, fails;
    float lat[STOP_SAMPLES], total[STOP_SAMPLES];
    bool ran;
    char fail[240];
} stopres_t;

typedef struct {
    int n, fails;
    float ms[TREE_SAMPLES];
    bool ran;
    int procs; /* processes in the tree (the warm-up sample's count) */
    char how[160];
    char fail[240];
} treeres_t;

typedef struct {
    int trials;
    int daemons[MAX_TRIALS], exit0[MAX_TRIALS], clear_err[MAX_TRIALS], silent_err[MAX_TRIALS];
    int pid_ok[MAX_TRIALS], strays[MAX_TRIALS];
    char msg[200];
    bool ran;
    char fail[240];
} concres_t;

typedef struct {
    bool ran;
    pid_t pid;
    long vcs0, vcs1, nvcs0, nvcs1, ticks;
    long rss, rss_anon, rss_file, hwm, pss;
    double secs;
    char what[120];
    char fail[240];
} idleres_t;

typedef struct {
    bool avail[MAX_ROWS];
    char why[MAX_ROWS][240];
    bool cal_ok[MAX_ROWS];
    long cal_queries[MAX_ROWS], cal_closes[MAX_ROWS], cal_ebadf[MAX_ROWS], cal_ranges[MAX_ROWS];
    bool emulate[MAX_ROWS];
    rlim_t real_cur[MAX_SCEN], real_max[MAX_SCEN];
    int extra_open[MAX_SCEN];
    bool scen_emulating[MAX_SCEN];
    double scen_secs[MAX_SCEN];
    cell_t cell[MAX_SCEN][MAX_ROWS];
    stopres_t stop[2];
    treeres_t tree[2];
    concres_t conc[MAX_ROWS];
    idleres_t idle[2];
    rlim_t start_max;
    double load_max;
    int ph_n[MAX_ROWS];
    float ph[MAX_ROWS][NPHASE][PHASE_SAMPLES];
    float ph_ready[MAX_ROWS][PHASE_SAMPLES];
    float ph_flt[MAX_ROWS][2][PHASE_SAMPLES]; /* minor faults: starter main -> fork, intermediate */
} shared_t;

static shared_t *S;

enum { OBS_IDLE, OBS_SPIN, OBS_BLOCK };
static const char *const observe_names[] = {"idle-spin", "spin", "block"};

struct counters {
    long queries, closes, close_ebadf, close_ranges;
};

/* what phase_shim.c records */
struct phase_event {
    int pid, kind;
    double t;
    long minflt;
};
struct phases {
    int n;
    int pad;
    struct phase_event ev[64];
};

static const char *const phase_names[NPHASE] = {
    "spawn -> starter's main (exec, dynamic loading)",
    "starter: main -> fork()",
    "fork() -> intermediate runs",
    "intermediate: -> fork()",
    "fork() -> daemon runs",
    "daemon: -> pidfile written",
    "pidfile written -> seen ready (exec of the payload, if any; the observer)",
};


/* ------------------------------------------------------------ the harness */

static struct {
    const char *bin;     /* the built peers */
    const char *cli;     /* the daemonctx command */
    const char *py;      /* pydaemon.py */
    const char *pypath;  /* the build's Python packages (daemon, pep3143daemon) */
    const char *out;     /* RESULTS.md */
    const char *shim, *counter;
    char rundir[PATH_MAX];
    int rundirfd;
    char pidfile[PATH_MAX];
    char countfile[PATH_MAX];
    struct counters *cnt;
    char phasefile[PATH_MAX];
    const char *phaseshim;
    struct phases *ph;
    int inot;
    int ptm, pts;
    pid_t sid;
    double budget;
    int min_n, max_n;
    bool quick, extras, tree_only;
    int observe;
    int debug;
    const char *only; /* comma-separated row keys */
    char notes[8][300];
    int nnotes;
    char tail[512]; /* the last output of a start command on the terminal */
    size_t tail_len;
    struct stat devnull;
} H;

static void drain_pty(void)
{
    char buf[4096];
    ssize_t n;
    while ((n = read(H.ptm, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (H.tail_len == sizeof H.tail - 1) {
                memmove(H.tail, H.tail + 128, H.tail_len - 128);
                H.tail_len -= 128;
            }
            if (buf[i] != '\r')
                H.tail[H.tail_len++] = buf[i];
        }
        H.tail[H.tail_len] = '\0';
    }
}

static void drain_inotify(void)
{
    char buf[4096] __attribute__((aligned(8)));
    while (read(H.inot, buf, sizeof buf) > 0)
        ;
}

/* the children of PID (its main thread's), from /proc */
static int children_of(pid_t pid, pid_t *out, int max)
{
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    if (read_file(path, buf, sizeof buf) < 0)
        return 0;
    int n = 0;
    for (char *p = buf; *p && n < max;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        out[n++] = (pid_t)strtol(p, &p, 10);
    }
    return n;
}

/* SIGKILL and reap every child (the subreaper adopts the grandchildren a
 * dying supervisor leaves, so repeat until none is left), but EXCEPT. */
static void kill_children(pid_t except)
{
    for (int round = 0; round < 64; round++) {
        pid_t kids[512];
        int n = children_of(getpid(), kids, 512), k = 0;
        for (int i = 0; i < n; i++)
            if (kids[i] != except) {
                kill(kids[i], SIGKILL);
                k++;
            }
        if (!k)
            return;
        for (int i = 0; i < n; i++)
            if (kids[i] != except)
                while (waitpid(kids[i], NULL, __WALL) < 0 && errno == EINTR)
                    ;
    }
}

static void clean_rundir(void)
{
    DIR *d = opendir(H.rundir);
    if (!d)
        die("cannot open %s: %s", H.rundir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
    drain_inotify();
}

/* /proc/PID (a directory fd), for relative lookups: a check of a candidate
 * daemon is then a handful of short system calls, which is what bounds how
 * soon the harness sees a daemon ready. Cached for the last PID asked. */
static struct {
    pid_t pid;
    int fd;
} procdir = {0, -1};

static int proc_dir(pid_t pid)
{
    if (procdir.pid == pid && procdir.fd >= 0)
        return procdir.fd;
    if (procdir.fd >= 0)
        close(procdir.fd);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    procdir.fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    procdir.pid = procdir.fd >= 0 ? pid : 0;
    return procdir.fd;
}

static void proc_dir_forget(void)
{
    if (procdir.fd >= 0)
        close(procdir.fd);
    procdir.fd = -1;
    procdir.pid = 0;
}

/* /proc/PID/stat: state, ppid, session, tty_nr. 0, or -1 when gone. */
static int proc_stat(pid_t pid, char *state, long *ppid, long *session, long *tty)
{
    int dir = proc_dir(pid);
    if (dir < 0)
        return -1;
    char buf[1024];
    int fd = openat(dir, "stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    long pgrp;
    if (!p || sscanf(p + 1, " %c %ld %ld %ld %ld", state, ppid, &pgrp, session, tty) != 5)
        return -1;
    return 0;
}

static bool alive(pid_t pid)
{
    char state;
    long ppid, session, tty;
    return proc_stat(pid, &state, &ppid, &session, &tty) == 0 && state != 'Z' && state != 'X';
}

/* own session, no controlling tty (the caller knows it is alive) */
static bool detached(pid_t pid)
{
    char state;
    long ppid, session, tty;
    return proc_stat(pid, &state, &ppid, &session, &tty) == 0 && state != 'Z' && state != 'X' &&
           session != (long)H.sid && tty == 0;
}

/* fds 0, 1 and 2 on /dev/null */
static bool stdio_null(pid_t pid)
{
    int dir = proc_dir(pid);
    static const char *const names[3] = {"fd/0", "fd/1", "fd/2"};
    for (int i = 0; i < 3; i++) {
        struct stat st;
        if (dir < 0 || fstatat(dir, names[i], &st, 0) < 0 || !S_ISCHR(st.st_mode) ||
            st.st_rdev != H.devnull.st_rdev)
            return false;
    }
    return true;
}

/* alive, own session, no controlling tty, stdio on /dev/null */
static bool daemonized(pid_t pid)
{
    return detached(pid) && stdio_null(pid);
}

static bool runs(const impl_t *im, pid_t pid)
{
    int dir = proc_dir(pid);
    struct stat st;
    return dir >= 0 && fstatat(dir, "exe", &st, 0) == 0 && st.st_dev == im->pdev && st.st_ino == im->pino;
}

/* "PID" or "PID\n"; 0 for anything else */
static pid_t read_pidfile(void)
{
    char buf[64];
    int fd = openat(H.rundirfd, "daemon.pid", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    long v = 0;
    int i = 0;
    for (; i < n && isdigit((unsigned char)buf[i]); i++)
        v = v * 10 + (buf[i] - '0');
    if (i == 0 || (i < n && !(buf[i] == '\n' && i + 1 == n)) || v <= 0 || v > INT_MAX)
        return 0;
    return (pid_t)v;
}

/* 1 ready (*daemon = the PID in the pidfile), 0 not yet; *cand = that PID
 * when it is alive but not (yet) a ready daemon. The checks most likely to
 * fail come first; ready means all of them held in one pass. */
/* Readiness is four conditions, each read from outside and each, during a
 * start, false until it becomes true for good:
 *   A  the pidfile names PID P        B  P is alive, in a session of its own,
 *   C  P's fds 0-2 are /dev/null         without a controlling tty
 *   D  P runs the payload (or, for a supervisor, a child of P does)
 * Every pass reads all four (no short cut) and notes, for each, the end of
 * the read that first saw it true. Ready = all four true; its time = the
 * latest of those notes: the moment the last condition came true, late by
 * one read (a few us) or, for a condition that sends no inotify event (the
 * exec of a payload), by the polling interval (20 us). */
struct readiness {
    pid_t pid;      /* the P of B, C, D */
    bool seen[4];   /* true since the read that ended at at[i] */
    double at[4];
};

static void readiness_reset(struct readiness *rs)
{
    memset(rs, 0, sizeof *rs);
}

static void note(struct readiness *rs, int i, bool ok, double t_end)
{
    if (!ok)
        rs->seen[i] = false;
    else if (!rs->seen[i]) {
        rs->seen[i] = true;
        rs->at[i] = t_end;
    }
}

/* 1 ready (*daemon = P, *t_ready set), 0 not yet; *cand = P when A holds
 * and P is alive. */
static int check_ready(const impl_t *im, struct readiness *rs, pid_t *cand, pid_t *daemon, double *t_ready)
{
    *cand = 0;
    pid_t p = read_pidfile();
    double t = now();
    if (p <= 0) {
        readiness_reset(rs);
        return 0;
    }
    if (p != rs->pid) {
        readiness_reset(rs);
        rs->pid = p;
    }
    /* Conditions first seen true in the pass where the pidfile first named
     * P count from that pidfile read: they are read right after it, and
     * every tool here detaches and redirects stdio before it writes its
     * pidfile. Not the payload of a tool that execs one after writing the
     * pidfile: the exec may complete during the pass. */
    bool fresh = !rs->seen[0];
    note(rs, 0, true, t);

    char state;
    long ppid, session, tty;
    bool live = proc_stat(p, &state, &ppid, &session, &tty) == 0 && state != 'Z' && state != 'X';
    note(rs, 1, live && session != (long)H.sid && tty == 0, fresh ? t : now());
    if (!live)
        return 0;
    *cand = p;

    note(rs, 2, stdio_null(p), fresh ? t : now());

    bool payload = runs(im, p);
    if (!payload && im->supervised) {
        pid_t kids[16];
        int n = children_of(p, kids, 16);
        for (int i = 0; i < n && !payload; i++)
            payload = runs(im, kids[i]) && alive(kids[i]);
    }
    note(rs, 3, payload, fresh && im->self_payload ? t : now());

    double last = 0;
    for (int i = 0; i < 4; i++) {
        if (!rs->seen[i])
            return 0;
        last = rs->at[i] > last ? rs->at[i] : last;
    }
    *daemon = p;
    *t_ready = last;
    return 1;
}

static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && atoi(e->d_name) > 2)
            n++;
    closedir(d);
    return n;
}

/* ----------------------------------------------------------------- spawn */

typedef struct {
    bool emulate;   /* the LD_PRELOAD limit shim */
    bool count;     /* the counting build of the shim (calibration, not timed) */
    bool keep;      /* leave the daemon running */
    bool count_fds; /* count the daemon's fds once the start is over */
    bool phases;    /* the phase shim: timestamps at start, fork, child */
    const char *prefix[12];
    const char *const *argv_override;
    double timeout;
} sopts_t;

typedef struct {
    bool ok;
    double ready, wall, cpu;
    double t0, t_ready;
    pid_t starter, daemon;
    int fds, status, leader;
    char err[240];
} sres_t;

static char envbuf[8][PATH_MAX + 32];

static char **make_env3(bool emulate, bool count, bool phases)
{
    static char *env[12];
    int n = 0;
    const char *home = getenv("HOME");
    snprintf(envbuf[0], sizeof envbuf[0], "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    snprintf(envbuf[1], sizeof envbuf[1], "HOME=%s", home ? home : "/");
    snprintf(envbuf[2], sizeof envbuf[2], "LC_ALL=C");
    snprintf(envbuf[3], sizeof envbuf[3], "TERM=xterm");
    for (int i = 0; i < 4; i++)
        env[n++] = envbuf[i];
    if (emulate || count) {
        snprintf(envbuf[4], sizeof envbuf[4], "LD_PRELOAD=%s", count ? H.counter : H.shim);
        env[n++] = envbuf[4];
        if (emulate) {
            snprintf(envbuf[5], sizeof envbuf[5], "BENCH_NOFILE=%lu", NOFILE_TARGET);
            env[n++] = envbuf[5];
        }
        if (count) {
            snprintf(envbuf[6], sizeof envbuf[6], "BENCH_COUNT_FILE=%s", H.countfile);
            env[n++] = envbuf[6];
        }
    } else if (phases) {
        snprintf(envbuf[4], sizeof envbuf[4], "LD_PRELOAD=%s", H.phaseshim);
        snprintf(envbuf[5], sizeof envbuf[5], "BENCH_PHASE_FILE=%s", H.phasefile);
        env[n++] = envbuf[4];
        env[n++] = envbuf[5];
    }
    env[n] = NULL;
    return env;
}

static char **make_env(bool emulate, bool count)
{
    return make_env3(emulate, count, false);
}

static char argstore[24][PATH_MAX + 64];

static char **make_argv(const char *const *prefix, const char *const *argv)
{
    static char *out[32];
    int n = 0;
    for (int i = 0; prefix && prefix[i]; i++)
        out[n++] = (char *)prefix[i];
    for (int i = 0; argv[i]; i++) {
        const char *a = argv[i], *at = strstr(a, "@PF");
        if (at) {
            snprintf(argstore[i], sizeof argstore[i], "%.*s%s%s", (int)(at - a), a, H.pidfile, at + 3);
            out[n++] = argstore[i];
        } else {
            out[n++] = (char *)a;
        }
    }
    out[n] = NULL;
    return out;
}

/* posix_spawn (vfork-like, as cheap as spawning gets), stdio on the terminal,
 * every signal at its default and none blocked. */
static pid_t spawn(char **argv, char **envp, int out_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, H.pts, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd >= 0 ? out_fd : H.pts, 1);
    posix_spawn_file_actions_adddup2(&fa, out_fd >= 0 ? out_fd : H.pts, 2);
    posix_spawnattr_init(&at);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    int r = posix_spawn(&pid, argv[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (r != 0) {
        errno = r;
        return -1;
    }
    return pid;
}

/* One start: spawn, wait until ready and until the start command has exited
 * (whichever comes last), then kill and reap everything it left. */
static void run_sample(const impl_t *im, const sopts_t *o, sres_t *r)
{
    memset(r, 0, sizeof *r);
    r->fds = -1;
    proc_dir_forget();
    clean_rundir();
    drain_pty();
    H.tail_len = 0;
    H.tail[0] = '\0';
    char **argv = make_argv(o->prefix, o->argv_override ? o->argv_override : im->argv);
    char **envp = make_env3(o->emulate, o->count, o->phases);
    if (o->phases)
        memset(H.ph, 0, sizeof *H.ph);
    double timeout = o->timeout > 0 ? o->timeout : 20;

    double t0 = now();
    pid_t starter = spawn(argv, envp, -1);
    if (starter < 0) {
        snprintf(r->err, sizeof r->err, "cannot spawn %s: %s", argv[0], strerror(errno));
        return;
    }
    int pfd = pidfd_open_(starter);
    if (pfd < 0)
        die("pidfd_open: %s", strerror(errno));
    /* idle-spin: between checks at SCHED_IDLE, so that a CPU where only
     * the observer runs counts as idle when the scheduler places a waking
     * process of the tool, which then preempts it at once: the tool keeps
     * both CPUs, and the observer's CPU never halts (no wake-up latency). */
    struct sched_param sp0 = {.sched_priority = 0};
    if (H.observe == OBS_IDLE)
        sched_setscheduler(0, SCHED_IDLE, &sp0);
    bool ready = false, exited = false, cand_seen = false;
    double t_ready = 0, t_exit = 0, t_cand = 0, t_failexit = 0;
    pid_t daemon = 0, last_cand = 0;
    double next_check = 0;
    long checks = 0;
    struct readiness rs;
    readiness_reset(&rs);
    struct rusage ru;
    int status = 0;
    for (;;) {
        double t = now();
        if (t - t0 > timeout) {
            snprintf(r->err, sizeof r->err, "%s after %.0f s%s%s", !ready ? "not ready" : "start command still running",
                     timeout, H.tail_len ? "; said: " : "", H.tail);
            break;
        }
        /* How the harness waits (--observe):
         *  idle-spin (default): never sleeps, polls inotify and the pidfd,
         *    at SCHED_IDLE between checks (see above) and SCHED_FIFO during
         *    them: no wake-up latency, no CPU taken from the tool;
         *  spin: the same at SCHED_OTHER, yielding between polls (for a
         *    machine with other load, where SCHED_IDLE would starve);
         *  block: sleeps in ppoll until an event. On a VM the wake-up of a
         *    halted vCPU costs tens to hundreds of us, unequally between
         *    rows, and the exec after an exec-style tool's pidfile write sends
         *    no event at all: kept for comparison only. */
        bool spin = H.observe != OBS_BLOCK;
        double interval = 1e-3;
        if (!ready && cand_seen) {
            interval = (t - t_cand) / 16;
            interval = interval < 20e-6 ? 20e-6 : interval > 1e-3 ? 1e-3 : interval;
        }
        struct pollfd fds[3] = {{H.inot, POLLIN, 0}, {H.ptm, POLLIN, 0}, {exited ? -1 : pfd, POLLIN, 0}};
        double wait = spin ? 0 : !ready && cand_seen ? interval : 0.05;
        struct timespec ts = {0, (long)(wait * 1e9)};
        int n = ppoll(fds, 3, &ts, NULL);
        double t_obs = now();
        if (n < 0 && errno != EINTR)
            die("ppoll: %s", strerror(errno));
        bool event = false;
        if (n > 0 && fds[1].revents)
            drain_pty();
        if (n > 0 && fds[0].revents) {
            drain_inotify();
            event = true;
            if (cand_seen)
                t_cand = t_obs; /* something moved: look closely again */
        }
        if (!exited && n > 0 && fds[2].revents) {
            pid_t w = wait4(starter, &status, WNOHANG, &ru);
            if (w == starter) {
                exited = true;
                t_exit = t_obs;
                if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
                    t_failexit = t_obs;
                else if (im->exit_only) {
                    ready = true;
                    t_ready = t_exit;
                }
            }
        }
        if (!ready && !im->exit_only && (!spin || event || t_obs >= next_check)) {
            pid_t cand = 0;
            checks++;
            /* the pass at a real-time priority, so that no process of the
             * tool (a starter woken by its daemon, say) preempts it midway
             * and stretches the reads it times */
            struct sched_param rt = {.sched_priority = 1}, other = {.sched_priority = 0};
            if (spin)
                sched_setscheduler(0, SCHED_FIFO, &rt);
            double t_start = now(), t_r = 0;
            int cr = check_ready(im, &rs, &cand, &daemon, &t_r);
            double t_end = now();
            if (spin)
                sched_setscheduler(0, H.observe == OBS_IDLE ? SCHED_IDLE : SCHED_OTHER, &other);
            if (H.debug > 1)
                fprintf(stderr, "  check +%.1f us, took %.1f us, event=%d -> ready=%d (at +%.1f) cand=%d\n",
                        (t_start - t0) * 1e6, (t_end - t_start) * 1e6, event, cr, cr ? (t_r - t0) * 1e6 : 0,
                        (int)cand);
            if (cr) {
                ready = true;
                t_ready = t_r;
            } else if (cand && cand != last_cand) {
                cand_seen = true;
                last_cand = cand;
                t_cand = t_obs;
            }
            next_check = t_obs + interval;
        } else if (spin && n == 0) {
            sched_yield();
        }
        if (ready && exited)
            break;
        /* a start command that failed: give a daemon 1 s to show up anyway */
        if (!ready && t_failexit > 0 && t_obs - t_failexit > 1.0) {
            char what[64];
            if (WIFEXITED(status))
                snprintf(what, sizeof what, "exit status %d", WEXITSTATUS(status));
            else
                snprintf(what, sizeof what, "signal %d", WTERMSIG(status));
            snprintf(r->err, sizeof r->err, "start command failed (%s), no daemon%s%s", what,
                     H.tail_len ? "; said: " : "", H.tail);
            break;
        }
    }
    if (H.observe == OBS_IDLE)
        sched_setscheduler(0, SCHED_OTHER, &sp0);
    close(pfd);
    drain_pty();
    r->leader = -1;
    if (ready && exited && o->count_fds) {
        /* once the start is over (not timed): what the daemon kept */
        sleep_s(0.05);
        r->fds = count_fds(daemon);
        char state;
        long ppid, session, tty;
        if (proc_stat(daemon, &state, &ppid, &session, &tty) == 0)
            r->leader = session == (long)daemon;
    }
    if (H.debug)
        fprintf(stderr, "debug %s t0=%.6f ready=%.6f exit=%.6f daemon=%d checks=%ld\n", im->key, t0, t_ready,
                t_exit, (int)daemon, checks);
    if (ready && exited) {
        r->ok = true;
        r->t0 = t0;
        r->t_ready = t_ready;
        r->starter = starter;
        r->ready = (t_ready - t0) * 1e3;
        r->wall = (t_exit - t0) * 1e3;
        r->cpu = ((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec) * 1e3 +
                 ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e-3;
        r->daemon = daemon;
        r->status = status;
    }
    for (char *p = r->err; *p; p++)
        if (*p == '\n' || *p == '|')
            *p = ' ';
    if (!(r->ok && o->keep))
        kill_children(0);
}

/* ------------------------------------------------------ scenario process */

static void set_nofile(int si)
{
    struct rlimit rl = {scens[si].want, scens[si].want};
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        /* the highest real limit: the hard limit we were given */
        struct rlimit cur;
        getrlimit(RLIMIT_NOFILE, &cur);
        rl.rlim_cur = rl.rlim_max = cur.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            die("setrlimit: %s", strerror(errno));
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    S->real_cur[si] = rl.rlim_cur;
    S->real_max[si] = rl.rlim_max;
    S->scen_emulating[si] = scens[si].emulation && rl.rlim_max < scens[si].want;
}

static void open_extra_fds(int si)
{
    int n = 0;
    for (int i = 0; i < scens[si].extra_fds; i++) {
        /* inherited on purpose: not close-on-exec */
        if (open("/dev/null", O_RDONLY) >= 0)
            n++;
    }
    S->extra_open[si] = n;
}

/* Run FN in a child process with scenario SI's limits; the child is the
 * subreaper and the spawner. */
static void in_scenario(int si, void (*fn)(int))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        set_nofile(si);
        if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
            die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
        prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
        open_extra_fds(si);
        fn(si);
        kill_children(0);
        fflush(NULL);
        _exit(0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die("scenario process failed (status %d)", st);
}

/* -------------------------------------------------------- calibration */

/* Once each, at the highest real limit, under the counting shim reporting
 * 1,048,576: does the tool read RLIMIT_NOFILE (then it runs under the shim in
 * the emulated scenarios), how many close() calls does it make, does it work
 * at all. */
static void calibrate(int si)
{
    (void)si;
    for (int i = 0; i < nimpl; i++) {
        if (!S->avail[i])
            continue;
        memset(H.cnt, 0, sizeof *H.cnt);
        sopts_t o = {.count = true, .emulate = true, .timeout = 60};
        sres_t r;
        run_sample(&impls[i], &o, &r);
        S->cal_ok[i] = r.ok;
        S->cal_queries[i] = H.cnt->queries;
        S->cal_closes[i] = H.cnt->closes;
        S->cal_ebadf[i] = H.cnt->close_ebadf;
        S->cal_ranges[i] = H.cnt->close_ranges;
        S->emulate[i] = H.cnt->queries > 0;
        if (!r.ok) {
            /* once more without any shim: is it the tool or the shim? */
            sopts_t o2 = {.timeout = 20};
            sres_t r2;
            run_sample(&impls[i], &o2, &r2);
            if (!r2.ok) {
                S->avail[i] = false;
                snprintf(S->why[i], sizeof S->why[i], "does not start a daemon here: %s", r2.err);
            } else {
                snprintf(S->why[i], sizeof S->why[i], "calibration under the shim failed: %s", r.err);
            }
        }
        fprintf(stderr, "  calibrated %-16s %s: limit reads %ld, close() %ld, close_range() %ld\n", impls[i].key,
                r.ok ? "ok" : "FAILED", H.cnt->queries, H.cnt->closes, H.cnt->close_ranges);
    }
}

/* ------------------------------------------------------------ the table */

/* One scenario process per scenario, all alive at once, taking turns one
 * round at a time (a round = one start of every row still short of samples),
 * so that a change in the machine's load hits every scenario and every row
 * alike; the 1,048,576-vs-1024 comparison needs that on a shared machine. */
static void scenario_worker(int si, int cmd_r, int done_w)
{
    int order[MAX_ROWS], nrows = 0;
    for (int i = 0; i < nimpl; i++)
        if (S->avail[i])
            order[nrows++] = i;
    for (int k = 0; k < nrows; k++) {
        int i = order[k];
        cell_t *c = &S->cell[si][i];
        c->ran = true;
        c->fds = c->leader = -1;
        c->emulated = S->scen_emulating[si] && S->emulate[i];
    }
    for (int round = -1;; round++) {
        char cmd;
        if (read(cmd_r, &cmd, 1) != 1 || cmd == 'q')
            return;
        double t_round = now();
        bool any = false;
        for (int k = 0; k < nrows; k++) {
            int i = order[(k + (round < 0 ? 0 : round)) % nrows];
            cell_t *c = &S->cell[si][i];
            if (round < 0) {
                /* warm-up: one start each, not counted; what the daemon keeps */
                sopts_t o = {.emulate = c->emulated, .timeout = c->emulated ? 60 : 20, .count_fds = true};
                sres_t r;
                run_sample(&impls[i], &o, &r);
                if (r.ok) {
                    c->fds = r.fds;
                    c->leader = r.leader;
                } else {
                    c->fails++;
                    snprintf(c->fail, sizeof c->fail, "%s", r.err);
                }
                any = true;
                continue;
            }
            if (c->n >= H.max_n || (c->n >= H.min_n && c->elapsed >= H.budget))
                continue;
            if (c->fails >= 3 || (c->fails > 0 && c->n == 0 && c->attempts > 0) || c->attempts >= MAX_SAMPLES)
                continue;
            any = true;
            sopts_t o = {.emulate = c->emulated, .timeout = c->emulated ? 60 : 20};
            sres_t r;
            double t = now();
            run_sample(&impls[i], &o, &r);
            c->elapsed += now() - t;
            c->attempts++;
            if (now() - t > 0.02)
                sleep_s(0.005); /* let a heavy start's teardown settle before the next row */
            if (r.ok) {
                c->ready[c->n] = (float)r.ready;
                c->wall[c->n] = (float)r.wall;
                c->cpu[c->n] = (float)r.cpu;
                c->n++;
            } else {
                c->fails++;
                snprintf(c->fail, sizeof c->fail, "%s", r.err);
            }
        }
        S->scen_secs[si] += now() - t_round;
        char done = any ? 'd' : 'f';
        if (write(done_w, &done, 1) != 1)
            return;
    }
}

static void run_scenarios(void)
{
    struct {
        pid_t pid;
        int cmd_w, done_r;
        bool finished;
    } w[MAX_SCEN];
    fflush(NULL);
    for (int si = 0; si < MAX_SCEN; si++) {
        int cmd[2], done[2];
        if (pipe2(cmd, O_CLOEXEC) < 0 || pipe2(done, O_CLOEXEC) < 0)
            die("pipe: %s", strerror(errno));
        pid_t pid = fork();
        if (pid < 0)
            die("fork: %s", strerror(errno));
        if (pid == 0) {
            close(cmd[1]);
            close(done[0]);
            for (int j = 0; j < si; j++) {
                close(w[j].cmd_w);
                close(w[j].done_r);
            }
            set_nofile(si);
            if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
                die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
            prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
            open_extra_fds(si);
            scenario_worker(si, cmd[0], done[1]);
            kill_children(0);
            fflush(NULL);
            _exit(0);
        }
        close(cmd[0]);
        close(done[1]);
        w[si].pid = pid;
        w[si].cmd_w = cmd[1];
        w[si].done_r = done[0];
        w[si].finished = false;
    }
    for (int round = 0;; round++) {
        bool any = false;
        for (int si = 0; si < MAX_SCEN; si++) {
            if (w[si].finished)
                continue;
            char c = 'r';
            if (write(w[si].cmd_w, &c, 1) != 1 || read(w[si].done_r, &c, 1) != 1)
                die("scenario process %s died", scens[si].key);
            if (c == 'f')
                w[si].finished = true;
            else
                any = true;
        }
        double la[1];
        if (getloadavg(la, 1) == 1 && la[0] > S->load_max)
            S->load_max = la[0];
        if (round % 25 == 0)
            fprintf(stderr, "  round %d\n", round);
        if (!any)
            break;
    }
    for (int si = 0; si < MAX_SCEN; si++) {
        char c = 'q';
        (void)!write(w[si].cmd_w, &c, 1);
        close(w[si].cmd_w);
        close(w[si].done_r);
        int st;
        while (waitpid(w[si].pid, &st, 0) < 0 && errno == EINTR)
            ;
    }
}

/* ------------------------------------------------------------ stop */

static int find_impl(const char *key)
{
    for (int i = 0; i < nimpl; i++)
        if (!strcmp(impls[i].key, key))
            return i;
    return -1;
}

/* Where the time of one start goes, phase by phase (the phase shim's
 * timestamps plus the harness's spawn and ready times). */
static const char *phase_keys[] = {"floor", "dcx-lib-static", "dcx-lib", "floor-exec", "dcx-cli", NULL};

static bool phase_split(const sres_t *r, float out[NPHASE], float flt[2])
{
    const struct phases *ph = H.ph;
    int n = ph->n < 64 ? ph->n : 64;
    double tc = 0, tf1 = 0, tr1 = 0, tf2 = 0, tr2 = 0, tw = 0;
    long fc = 0, ff1 = 0, fr1 = 0, ff2 = 0;
    pid_t inter = 0;
    for (int i = 0; i < n; i++) {
        const struct phase_event *e = &ph->ev[i];
        if (e->pid == r->starter && e->kind == 'C' && !tc) {
            tc = e->t;
            fc = e->minflt;
        } else if (e->pid == r->starter && e->kind == 'F' && !tf1) {
            tf1 = e->t;
            ff1 = e->minflt;
        } else if (e->kind == 'R' && e->pid != r->daemon && !tr1) {
            tr1 = e->t;
            fr1 = e->minflt;
            inter = e->pid;
        }
    }
    for (int i = 0; i < n; i++) {
        const struct phase_event *e = &ph->ev[i];
        if (e->pid == inter && e->kind == 'F' && !tf2) {
            tf2 = e->t;
            ff2 = e->minflt;
        }
        else if (e->pid == r->daemon && e->kind == 'R' && !tr2)
            tr2 = e->t;
        else if (e->pid == r->daemon && e->kind == 'W' && !tw)
            tw = e->t;
    }
    if (H.debug > 2)
        for (int i = 0; i < n; i++)
            fprintf(stderr, "  ev pid=%d kind=%c t=+%.1f us (daemon %d, ready +%.1f)\n", ph->ev[i].pid, ph->ev[i].kind,
                    (ph->ev[i].t - r->t0) * 1e6, (int)r->daemon, (r->t_ready - r->t0) * 1e6);
    if (!tc || !tf1 || !tr1 || !tf2 || !tr2 || !tw)
        return false;
    double t[NPHASE + 1] = {r->t0, tc, tf1, tr1, tf2, tr2, tw, r->t_ready};
    for (int k = 0; k < NPHASE; k++)
        out[k] = (float)((t[k + 1] - t[k]) * 1e3);
    flt[0] = (float)(ff1 - fc);
    flt[1] = (float)(ff2 - fr1);
    return true;
}

static void phases_test(int si)
{
    (void)si;
    int rows[8], nrows = 0;
    for (int k = 0; phase_keys[k]; k++) {
        int i = find_impl(phase_keys[k]);
        if (i >= 0 && S->avail[i])
            rows[nrows++] = i;
    }
    for (int round = -1; round < PHASE_SAMPLES; round++)
        for (int k = 0; k < nrows; k++) {
            int i = rows[k];
            sopts_t o = {.phases = true, .timeout = 20};
            sres_t r;
            run_sample(&impls[i], &o, &r);
            float v[NPHASE], f[2];
            if (round < 0 || !r.ok || !phase_split(&r, v, f) || S->ph_n[i] >= PHASE_SAMPLES)
                continue;
            S->ph_flt[i][0][S->ph_n[i]] = f[0];
            S->ph_flt[i][1][S->ph_n[i]] = f[1];
            for (int p = 0; p < NPHASE; p++)
                S->ph[i][p][S->ph_n[i]] = v[p];
            S->ph_ready[i][S->ph_n[i]] = (float)r.ready;
            S->ph_n[i]++;
        }
}

static void stop_test(int si)
{
    (void)si;
    const char *starters[2] = {"dcx-cli", "ssd"};
    for (int k = 0; k < 2; k++) {
        int i = find_impl(starters[k]);
        stopres_t *sr = &S->stop[k];
        if (i < 0 || !S->avail[i]) {
            snprintf(sr->fail, sizeof sr->fail, "%s", i < 0 ? "not configured" : S->why[i]);
            continue;
        }
        sr->ran = true;
        const char *dcx_stop[] = {H.cli, "stop", "-p", "@PF", NULL};
        const char *ssd_stop[] = {"/usr/sbin/start-stop-daemon", "--stop", "--pidfile", "@PF", "--retry",
                                  "TERM/30/KILL/5", NULL};
        const char *const *stopargv = k == 0 ? dcx_stop : ssd_stop;
        for (int s = 0; s < STOP_SAMPLES + 1 && sr->fails < 3; s++) {
            sopts_t o = {.keep = true, .timeout = 20};
            sres_t r;
            run_sample(&impls[i], &o, &r);
            if (!r.ok) {
                sr->fails++;
                snprintf(sr->fail, sizeof sr->fail, "start: %s", r.err);
                continue;
            }
            /* the process that must exit: the daemon the pidfile names */
            pid_t d = r.daemon;
            int dfd = pidfd_open_(d);
            char **argv = make_argv(NULL, stopargv);
            double t0 = now();
            pid_t stopper = spawn(argv, make_env(false, false), -1);
            int sfd = pidfd_open_(stopper);
            double t_exit = 0, t_ret = 0;
            int status = 0;
            bool dead = false, back = false;
            /* observed as the starts are (see run_sample): both moments by
             * polling, not by waking up */
            bool spin = H.observe != OBS_BLOCK;
            struct sched_param sp0 = {.sched_priority = 0};
            if (H.observe == OBS_IDLE)
                sched_setscheduler(0, SCHED_IDLE, &sp0);
            while (!(dead && back) && now() - t0 < 60) {
                struct pollfd fds[3] = {{dead ? -1 : dfd, POLLIN, 0}, {back ? -1 : sfd, POLLIN, 0}, {H.ptm, POLLIN, 0}};
                int n = poll(fds, 3, spin ? 0 : 100);
                double t = now();
                if (n <= 0) {
                    if (spin)
                        sched_yield();
                    continue;
                }
                if (fds[2].revents)
                    drain_pty();
                if (!dead && fds[0].revents) {
                    dead = true;
                    t_exit = t;
                    /* reap at once, as init would: a zombie still "exists" for kill(pid, 0) */
                    waitpid(d, NULL, WNOHANG);
                }
                if (!back && fds[1].revents) {
                    back = true;
                    t_ret = t;
                    waitpid(stopper, &status, 0);
                }
            }
            if (H.observe == OBS_IDLE)
                sched_setscheduler(0, SCHED_OTHER, &sp0);
            close(dfd);
            close(sfd);
            kill_children(0);
            if (!(dead && back) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                sr->fails++;
                snprintf(sr->fail, sizeof sr->fail, "stop: %s, status %d%s%s",
                         !dead ? "daemon did not exit" : !back ? "did not return" : "failed", status,
                         H.tail_len ? "; said: " : "", H.tail);
                continue;
            }
            if (s == 0)
                continue; /* warm-up */
            sr->lat[sr->n] = (float)((t_ret - t_exit) * 1e3);
            sr->total[sr->n] = (float)((t_ret - t0) * 1e3);
            sr->n++;
        }
    }
}

/* ------------------------------------------------------ a 1,000-process tree */

static char *path_in(const char *dir, const char *name);

/* Spawn ARGV and wait for it, the terminal drained meanwhile: its wait
 * status, or -1 after 120 s (then killed). *MS: from spawn to exit. */
static int run_command(const char *const *argv, double *ms)
{
    double t0 = now();
    pid_t pid = spawn(make_argv(NULL, argv), make_env(false, false), -1);
    if (pid < 0)
        return -1;
    int fd = pidfd_open_(pid), status = -1;
    while (now() - t0 < 120) {
        struct pollfd fds[2] = {{fd, POLLIN, 0}, {H.ptm, POLLIN, 0}};
        if (poll(fds, 2, 100) > 0 && fds[1].revents)
            drain_pty();
        if (fds[0].revents) {
            if (ms)
                *ms = (now() - t0) * 1e3;
            waitpid(pid, &status, 0);
            break;
        }
    }
    if (status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    close(fd);
    return status;
}

/* ROOT and its descendants (/proc/PID/task/PID/children, breadth first). */
static int tree_of(pid_t root, pid_t *out, int max)
{
    static char buf[1 << 16];
    int n = 0;
    out[n++] = root;
    for (int i = 0; i < n && n < max; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)out[i], (int)out[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        size_t len = 0; /* a seq_file: a page per read */
        for (ssize_t k; len + 1 < sizeof buf && (k = read(fd, buf + len, sizeof buf - 1 - len)) > 0;)
            len += (size_t)k;
        close(fd);
        buf[len] = '\0';
        for (char *p = buf; *p && n < max;) {
            while (*p == ' ')
                p++;
            if (!*p)
                break;
            out[n++] = (pid_t)strtol(p, &p, 10);
        }
    }
    return n;
}

/* `daemonctx stop` of a daemon with TREE_SIZE processes (half of them in
 * sessions of their own), through its cgroup and without one (--cgroup=none:
 * the snapshot of its descendants), alternating sample by sample. */
static void tree_test(int si)
{
    (void)si;
    char *prog = path_in(H.bin, "tree");
    int i = find_impl("dcx-cli");
    static pid_t pids[TREE_SIZE + 64];
    char size[16];
    snprintf(size, sizeof size, "%d", TREE_SIZE);
    for (int k = 0; k < 2; k++) {
        S->tree[k].ran = true;
        if (i < 0 || !S->avail[i])
            snprintf(S->tree[k].fail, sizeof S->tree[k].fail, "%s", i < 0 ? "not configured" : S->why[i]);
        else if (access(prog, X_OK) < 0)
            snprintf(S->tree[k].fail, sizeof S->tree[k].fail, "%s not built", prog);
    }
    if (S->tree[0].fail[0])
        return;
    for (int s = 0; s < TREE_SAMPLES + 1; s++)
        for (int k = 0; k < 2; k++) {
            treeres_t *tr = &S->tree[k];
            if (tr->fails >= 3)
                continue;
            const char *start[] = {H.cli, "start", "-p", "@PF", "--ready=fd:3", "--timeout=100",
                                   k == 0 ? "--cgroup=auto" : "--cgroup=none", "--", prog, size, "3", NULL};
            int st = run_command(start, NULL);
            pid_t d = read_pidfile();
            int n = d > 0 ? tree_of(d, pids, TREE_SIZE + 64) : 0;
            if (st != 0 || n != TREE_SIZE) {
                tr->fails++;
                snprintf(tr->fail, sizeof tr->fail, "start: status %d, %d processes%s%s", st, n,
                         H.tail_len ? "; said: " : "", H.tail);
                kill_children(0);
                clean_rundir();
                continue;
            }
            if (s == 0) {
                char cg[256] = "";
                snprintf(cg, sizeof cg, "/proc/%d/cgroup", (int)d);
                char buf[512];
                const char *line = read_file(cg, buf, sizeof buf) > 0 ? strstr(buf, "0::") : NULL;
                snprintf(tr->how, sizeof tr->how, "%s",
                         k == 1 ? "descendants, process group, session" : line && strstr(line, "daemonctx-") ? "cgroup" : "no cgroup could be made here");
                tr->procs = n;
            }
            double ms = 0;
            const char *stop[] = {H.cli, "stop", "-p", "@PF", NULL};
            st = run_command(stop, &ms);
            int left = 0;
            for (int j = 0; j < n; j++)
                left += alive(pids[j]);
            kill_children(0);
            clean_rundir();
            if (st != 0 || left) {
                tr->fails++;
                snprintf(tr->fail, sizeof tr->fail, "stop: status %d, %d processes left%s%s", st, left,
                         H.tail_len ? "; said: " : "", H.tail);
                continue;
            }
            if (s > 0) /* the first is a warm-up */
                tr->ms[tr->n++] = (float)ms;
        }
}

/* ------------------------------------------------------ 50 starters */

static int count_daemons(const impl_t *im, pid_t in_pidfile, bool *pid_ok, int *strays)
{
    pid_t kids[1024];
    int n = children_of(getpid(), kids, 1024), d = 0;
    *pid_ok = false;
    *strays = 0;
    for (int i = 0; i < n; i++) {
        bool is = false;
        if (daemonized(kids[i])) {
            if (runs(im, kids[i]))
                is = true;
            else if (im->supervised) {
                pid_t gk[16];
                int m = children_of(kids[i], gk, 16);
                for (int j = 0; j < m; j++)
                    if (runs(im, gk[j]))
                        is = true;
            }
        }
        if (is) {
            d++;
            if (kids[i] == in_pidfile)
                *pid_ok = true;
        } else if (alive(kids[i])) {
            (*strays)++;
        }
    }
    return d;
}

static void conc_test(int si)
{
    (void)si;
    for (int i = 0; i < nimpl; i++) {
        concres_t *cr = &S->conc[i];
        if (!S->avail[i] || impls[i].reference)
            continue;
        cr->ran = true;
        int trials = impls[i].daemonctx ? MAX_TRIALS : 3;
        char msgs[NCONC][256];
        for (int t = 0; t < trials; t++) {
            clean_rundir();
            int gate[2];
            if (pipe2(gate, O_CLOEXEC) < 0)
                die("pipe: %s", strerror(errno));
            pid_t pids[NCONC];
            int outs[NCONC], pfds[NCONC], status[NCONC];
            bool done[NCONC];
            size_t mlen[NCONC];
            char **argv = make_argv(NULL, impls[i].argv);
            char **envp = make_env(false, false);
            for (int k = 0; k < NCONC; k++) {
                int p[2];
                if (pipe2(p, O_CLOEXEC) < 0)
                    die("pipe: %s", strerror(errno));
                pid_t pid = fork();
                if (pid < 0)
                    die("fork: %s", strerror(errno));
                if (pid == 0) {
                    close(gate[1]);
                    dup2(H.pts, 0);
                    dup2(p[1], 1);
                    dup2(p[1], 2);
                    sigset_t none;
                    sigemptyset(&none);
                    sigprocmask(SIG_SETMASK, &none, NULL);
                    char c;
                    while (read(gate[0], &c, 1) < 0 && errno == EINTR)
                        ;
                    execve(argv[0], argv, envp);
                    _exit(127);
                }
                close(p[1]);
                fcntl(p[0], F_SETFL, O_NONBLOCK);
                outs[k] = p[0];
                pids[k] = pid;
                pfds[k] = pidfd_open_(pid);
                done[k] = false;
                mlen[k] = 0;
                msgs[k][0] = '\0';
            }
            close(gate[0]);
            close(gate[1]); /* go */
            double t0 = now();
            int left = NCONC;
            while (left > 0 && now() - t0 < 60) {
                struct pollfd fds[NCONC * 2 + 1];
                int nf = 0;
                for (int k = 0; k < NCONC; k++) {
                    fds[nf++] = (struct pollfd){done[k] ? -1 : pfds[k], POLLIN, 0};
                    fds[nf++] = (struct pollfd){outs[k], POLLIN, 0};
                }
                fds[nf++] = (struct pollfd){H.ptm, POLLIN, 0};
                if (poll(fds, (nfds_t)nf, 200) <= 0)
                    continue;
                drain_pty();
                for (int k = 0; k < NCONC; k++) {
                    if (fds[2 * k + 1].revents) {
                        ssize_t n = read(outs[k], msgs[k] + mlen[k], sizeof msgs[k] - 1 - mlen[k]);
                        if (n > 0) {
                            mlen[k] += (size_t)n;
                            msgs[k][mlen[k]] = '\0';
                        } else {
                            close(outs[k]);
                            outs[k] = -1;
                        }
                    }
                    if (!done[k] && fds[2 * k].revents) {
                        waitpid(pids[k], &status[k], 0);
                        done[k] = true;
                        left--;
                    }
                }
            }
            for (int k = 0; k < NCONC; k++) {
                if (outs[k] >= 0) {
                    ssize_t n = read(outs[k], msgs[k] + mlen[k], sizeof msgs[k] - 1 - mlen[k]);
                    if (n > 0)
                        msgs[k][mlen[k] + (size_t)n] = '\0';
                    close(outs[k]);
                }
                close(pfds[k]);
                if (!done[k])
                    status[k] = -1;
            }
            /* the daemons of fire-and-forget starters may still be on their way: wait for a stable count */
            int last = -1, stable = 0, d = 0, strays = 0;
            bool pid_ok = false;
            for (double t1 = now(); now() - t1 < 5 && stable < 6;) {
                sleep_s(0.05);
                d = count_daemons(&impls[i], read_pidfile(), &pid_ok, &strays);
                stable = d == last && strays == 0 ? stable + 1 : 0;
                last = d;
            }
            int exit0 = 0, clear = 0, silent = 0;
            for (int k = 0; k < NCONC; k++) {
                trim(msgs[k]);
                bool ok0 = status[k] >= 0 && WIFEXITED(status[k]) && WEXITSTATUS(status[k]) == 0;
                if (ok0)
                    exit0++;
                else if (msgs[k][0])
                    clear++;
                else
                    silent++;
                if (!ok0 && msgs[k][0] && !cr->msg[0]) {
                    char *nl = strchr(msgs[k], '\n');
                    if (nl)
                        *nl = '\0';
                    snprintf(cr->msg, sizeof cr->msg, "%s", msgs[k]);
                }
            }
            cr->daemons[t] = d;
            cr->exit0[t] = exit0;
            cr->clear_err[t] = clear;
            cr->silent_err[t] = silent;
            cr->pid_ok[t] = pid_ok;
            cr->strays[t] = strays;
            cr->trials = t + 1;
            kill_children(0);
        }
        for (char *p = cr->msg; *p; p++)
            if (*p == '|' || *p == '\r')
                *p = ' ';
    }
}

/* ------------------------------------------------------ idle supervisor */

static long status_field(pid_t pid, const char *key)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (read_file(path, buf, sizeof buf) < 0)
        return -1;
    char *p = strstr(buf, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

static long pss_kb(pid_t pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    if (read_file(path, buf, sizeof buf) < 0)
        return -1;
    char *p = strstr(buf, "\nPss:");
    return p ? strtol(p + 5, NULL, 10) : -1;
}

static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_file(path, buf, sizeof buf) < 0)
        return -1;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* fields 14 and 15 (utime, stime); after ')' comes field 3 */
    long ut = 0, st = 0;
    char *s = p + 2;
    for (int f = 3; f < 14 && s; f++)
        s = strchr(s, ' ') ? strchr(s, ' ') + 1 : NULL;
    if (!s || sscanf(s, "%ld %ld", &ut, &st) != 2)
        return -1;
    return ut + st;
}

static void idle_test(int si)
{
    (void)si;
    impl_t sup[2];
    int src[2] = {find_impl("dcx-cli"), find_impl("libslack")};
    pid_t pids[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        idleres_t *ir = &S->idle[k];
        snprintf(ir->what, sizeof ir->what, "%s", k == 0 ? "daemonctx start --supervise -p PIDFILE -- /bin/sleep 1000"
                                                         : "daemon --pidfile=PIDFILE -- /bin/sleep 1000 (libslack)");
        if (src[k] < 0 || !S->avail[src[k]]) {
            snprintf(ir->fail, sizeof ir->fail, "%s", src[k] < 0 ? "not configured" : S->why[src[k]]);
            continue;
        }
        sup[k] = impls[src[k]];
        sup[k].supervised = true;
        const char *dcx_sup[] = {H.cli, "start", "--supervise", "-p", "@PF", "--", "/bin/sleep", "1000", NULL};
        sopts_t o = {.keep = true, .timeout = 20, .argv_override = k == 0 ? dcx_sup : NULL};
        sres_t r;
        run_sample(&sup[k], &o, &r);
        if (!r.ok) {
            snprintf(ir->fail, sizeof ir->fail, "%s", r.err);
            continue;
        }
        pid_t p = r.daemon;
        char state;
        long ppid, sess, tty;
        if (runs(&sup[k], p) && proc_stat(p, &state, &ppid, &sess, &tty) == 0)
            p = (pid_t)ppid; /* the pidfile names the program: its parent supervises */
        pids[k] = p;
        ir->pid = p;
        ir->ran = true;
        /* move the pidfile aside for the next one (the lock stays with the open file) */
        char moved[PATH_MAX + 16];
        snprintf(moved, sizeof moved, "%s/../%s-idle%d.pid", H.rundir, "dcxbench", k);
        (void)rename(H.pidfile, moved);
    }
    sleep_s(0.5); /* let start-up settle */
    for (int k = 0; k < 2; k++)
        if (S->idle[k].ran) {
            idleres_t *ir = &S->idle[k];
            ir->vcs0 = status_field(pids[k], "\nvoluntary_ctxt_switches:");
            ir->nvcs0 = status_field(pids[k], "\nnonvoluntary_ctxt_switches:");
            ir->ticks = cpu_ticks(pids[k]);
        }
    double t0 = now();
    sleep_s(H.quick ? 3 : 10);
    double secs = now() - t0;
    for (int k = 0; k < 2; k++)
        if (S->idle[k].ran) {
            idleres_t *ir = &S->idle[k];
            ir->secs = secs;
            ir->vcs1 = status_field(pids[k], "\nvoluntary_ctxt_switches:");
            ir->nvcs1 = status_field(pids[k], "\nnonvoluntary_ctxt_switches:");
            long t1 = cpu_ticks(pids[k]);
            ir->ticks = t1 >= 0 && ir->ticks >= 0 ? t1 - ir->ticks : -1;
            ir->rss = status_field(pids[k], "\nVmRSS:");
            ir->hwm = status_field(pids[k], "\nVmHWM:");
            ir->rss_anon = status_field(pids[k], "\nRssAnon:");
            ir->rss_file = status_field(pids[k], "\nRssFile:");
            ir->pss = pss_kb(pids[k]);
            if (!alive(pids[k]))
                snprintf(ir->fail, sizeof ir->fail, "the supervisor died during the measurement");
        }
    kill_children(0);
    char moved[PATH_MAX + 16];
    for (int k = 0; k < 2; k++) {
        snprintf(moved, sizeof moved, "%s/../%s-idle%d.pid", H.rundir, "dcxbench", k);
        unlink(moved);
    }
}

/* ----------------------------------------------------------- report */

static FILE *rep[2];
static int nrep;

static void out(const char *fmt, ...)
{
    for (int i = 0; i < nrep; i++) {
        va_list ap;
        va_start(ap, fmt);
        vfprintf(rep[i], fmt, ap);
        va_end(ap);
    }
}

static void pkg_version(const char *pkg, char *buf, size_t size)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "dpkg-query -W -f='${Version}' %s 2>/dev/null", pkg);
    FILE *p = popen(cmd, "r");
    buf[0] = '\0';
    if (p) {
        if (!fgets(buf, (int)size, p))
            buf[0] = '\0';
        pclose(p);
    }
    if (!buf[0])
        snprintf(buf, size, "not installed");
}

static void fmt_lim(rlim_t v, char *buf, size_t size)
{
    if (v == RLIM_INFINITY)
        snprintf(buf, size, "unlimited");
    else if (v >= 1000000)
        snprintf(buf, size, "%lu,%03lu,%03lu", (unsigned long)v / 1000000, (unsigned long)v / 1000 % 1000,
                 (unsigned long)v % 1000);
    else if (v >= 1000)
        snprintf(buf, size, "%lu,%03lu", (unsigned long)v / 1000, (unsigned long)v % 1000);
    else
        snprintf(buf, size, "%lu", (unsigned long)v);
}

static void machine_line(double load0)
{
    struct utsname u;
    uname(&u);
    char model[256] = "?", buf[8192];
    if (read_file("/proc/cpuinfo", buf, sizeof buf) > 0) {
        char *p = strstr(buf, "model name");
        if (p && (p = strchr(p, ':'))) {
            snprintf(model, sizeof model, "%s", p + 2);
            char *nl = strchr(model, '\n');
            if (nl)
                *nl = '\0';
        }
    }
    double l1 = 0, l2 = 0;
    double la[3];
    if (getloadavg(la, 3) == 3) {
        l1 = la[0];
        l2 = la[1];
    }
    time_t t = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    out("Machine: Linux %s %s, %ld cores (%s), glibc %s; load average %.2f at the start, at most %.2f during the "
        "start tables, %.2f (1 min) / %.2f (5 min) at the end; %s.\n\n",
        u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN), model, gnu_get_libc_version(), load0, S->load_max, l1,
        l2, date);
}

/* The median ready time of row KEY in scenario SI, or -1. */
static double row_median(const char *key, int si)
{
    int i = find_impl(key);
    double m, p;
    if (i < 0 || !S->avail[i] || !S->cell[si][i].n)
        return -1;
    stats(S->cell[si][i].ready, S->cell[si][i].n, &m, &p);
    return m;
}

/* daemonctx's Python packages against the interpreter's own start and
 * python-daemon: the goal is a ready daemon within 2 ms of `python3 -c
 * "import daemon"` (spawn -> exit) at every limit. */
static void report_python(void)
{
    for (int si = 0; si < MAX_SCEN; si++) {
        double ours = row_median("py-daemon", si), seed = row_median("py-pep3143", si);
        double ref = row_median("py-import", si), theirs = row_median("python-daemon", si);
        double bare = row_median("py-import-exit", si);
        if (ours < 0 || ref < 0) {
            out("- daemonctx daemon (python-daemon API), %s: not measured\n", scens[si].label);
            continue;
        }
        out("- daemonctx daemon (python-daemon API), %s: %.3f ms, `python3 -c \"import daemon\"` + %.3f ms (goal "
            "within 2 ms: %s)", scens[si].label, ours, ours - ref, ours - ref <= 2 ? "met" : "**missed**");
        if (bare >= 0)
            out(", the import without the interpreter's shutdown + %.3f ms", ours - bare);
        if (seed >= 0)
            out("; pep3143daemon API %.3f ms (import + %.3f ms)", seed, seed - ref);
        if (theirs >= 0)
            out("; python-daemon %.3f ms, %.2fx as long", theirs, theirs / ours);
        out("\n");
    }
    double m0 = row_median("py-daemon", 0), m2 = row_median("py-daemon", 2);
    if (m0 > 0 && m2 > 0)
        out("- daemonctx daemon (python-daemon API), 1,048,576 vs 1024: %+.1f%%\n", (m2 / m0 - 1) * 100);
}

static void report_tree(void)
{
    if (S->tree[0].ran) {
        out("## Stopping a tree of %d processes\n\n", TREE_SIZE);
        out("`daemonctx start --ready=fd:3 --cgroup=auto|none -- tree %d 3`: PROGRAM forks %d children, every other "
            "one in a session of its own, and is ready once all run; then `daemonctx stop -p PIDFILE`, timed from "
            "its spawn to its exit, after which none of the %d may be alive. The two rows alternate sample by "
            "sample.\n\n",
            TREE_SIZE, TREE_SIZE - 1, TREE_SIZE);
        out("| the tree is found by | stop median ms | p90 ms | n |\n|---|---:|---:|---:|\n");
        for (int k = 0; k < 2; k++) {
            treeres_t *tr = &S->tree[k];
            const char *label = k == 0 ? "its cgroup (cgroup.kill)" : "--cgroup=none: snapshot, SIGSTOP then SIGKILL";
            if (!tr->n) {
                out("| %s | — | — | 0 (%s) |\n", label, tr->fail[0] ? tr->fail : "not run");
                continue;
            }
            double m, p;
            stats(tr->ms, tr->n, &m, &p);
            out("| %s (%s) | %.1f | %.1f | %d%s%s |\n", label, tr->how, m, p, tr->n, tr->fails ? " (failures: " : "",
                tr->fails ? tr->fail : "");
        }
        out("\n");
    }
}

static void report(double load0, double total_secs)
{
    char v1[64], v2[64], v3[64], v4[64], v5[64], v6[64];
    out("# daemonctx benchmark: spawn -> ready daemon\n\n");
    out("Written by `bench/run` (bench/harness.c); the profile at the end by `bench/profile`. One run, every row "
        "measured in it; on a machine shared with other work the load average below says how quiet it was.\n\n");
    machine_line(load0);
    for (int i = 0; i < H.nnotes; i++)
        out("%s\n", H.notes[i]);
    if (H.nnotes)
        out("\n");
    pkg_version("libdaemon0", v1, sizeof v1);
    pkg_version("libbsd0", v2, sizeof v2);
    pkg_version("python3-daemon", v3, sizeof v3);
    pkg_version("dpkg", v4, sizeof v4);
    pkg_version("daemonize", v5, sizeof v5);
    pkg_version("daemon", v6, sizeof v6);
    out("Peers (Debian packages): libdaemon %s, libbsd %s, python3-daemon %s (Debian's /usr/bin/python3), "
        "start-stop-daemon (dpkg) %s, daemonize %s, daemon (libslack) %s.\n\n",
        v1, v2, v3, v4, v5, v6);

    out("**Measured**: *ready* = from spawning the start command (posix_spawn, from a process whose controlling tty "
        "is a pseudo-terminal, as in a shell) until the pidfile names a live PID in its own session, without a "
        "controlling tty, with fds 0-2 on /dev/null, running the payload (for a supervisor: its child runs it); "
        "observed with inotify on the pidfile's directory and /proc, not from the tool's exit. Each of the four "
        "conditions (pidfile names P; P alive, own session, no tty; fds 0-2 on /dev/null; P or its child runs the "
        "payload) is read in every check; ready is timed at the end of the read that first saw the last of them true "
        "(late by one read, or by the 20 us polling interval for a condition without an inotify event, such as an "
        "exec), the conditions seen true in the same check as the pidfile's first naming P counting from that pidfile read "
        "(except the exec of a payload, which may complete during the check). Observer: %s (idle-spin: polls inotify and the start "
        "command's pidfd without sleeping, at SCHED_IDLE, so the tool's processes take its CPU whenever they want "
        "it, and each check at SCHED_FIFO so none of them stretches it; sleeping instead would add the wake-up of "
        "an idle vCPU, tens to hundreds of us here and unequal between rows, and the exec after an exec-style "
        "tool's pidfile write sends no event; the observer's own latency, pidfile write to seen ready, is in the "
        "phase table). *start wall* = "
        "spawn until the start command has exited; *start CPU* = its user+sys time (wait4 rusage, including the "
        "children it reaped). Every daemon is killed and reaped after each sample; rows are sampled round-robin "
        "after one warm-up start each. Ratio = median / the floor's median in the same scenario. *fds* = fds "
        "other than 0-2 open in the daemon once the start is over (a pidfile lock held counts 1; inherited fds left "
        "open show here).\n\n",
        observe_names[H.observe]);

    out("**Limits in force** (set with setrlimit by the spawning process, inherited by every start command):\n\n");
    for (int si = 0; si < MAX_SCEN; si++) {
        char a[32], b[32];
        fmt_lim(S->real_cur[si], a, sizeof a);
        fmt_lim(S->real_max[si], b, sizeof b);
        out("- %s: real soft %s, hard %s%s", scens[si].label, a, b,
            S->extra_open[si] ? "" : "");
        if (S->extra_open[si])
            out(", %d extra fds open and inherited", S->extra_open[si]);
        if (S->scen_emulating[si])
            out("; **emulated 1,048,576** for the rows marked *(emulated)*: an LD_PRELOAD shim makes "
                "getrlimit/prlimit/sysconf(_SC_OPEN_MAX)/getdtablesize report 1,048,576 while close() stays the "
                "real system call (an fd past the fd table fails with EBADF at the same check whatever the limit), "
                "so those tools make exactly as many close() calls as under a real 1,048,576 limit; the other rows "
                "never read RLIMIT_NOFILE (checked below) and run at the real limit");
        out("\n");
    }
    out("\n");

    for (int si = 0; si < MAX_SCEN; si++) {
        int fl = find_impl("floor");
        double fmed = -1, fp;
        if (fl >= 0 && S->cell[si][fl].n)
            stats(S->cell[si][fl].ready, S->cell[si][fl].n, &fmed, &fp);
        char a[32];
        fmt_lim(S->real_max[si], a, sizeof a);
        out("## %s\n\n", scens[si].label);
        if (si == 1)
            out("Real limit %s for every row, no shim: a sanity check of the emulation below (the tools that loop "
                "to the limit scale with it) and a real-limit comparison for everyone.\n\n", a);
        out("| implementation | ready median ms | ready p90 ms | ratio to floor | start wall median ms | start CPU "
            "median ms | fds | n |\n");
        out("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for (int i = 0; i < nimpl; i++) {
            cell_t *c = &S->cell[si][i];
            char label[200];
            snprintf(label, sizeof label, "%s%s", impls[i].label, c->emulated ? " *(emulated)*" : "");
            if (!S->avail[i]) {
                out("| %s | — | — | — | — | — | — | %s |\n", label, S->why[i]);
                continue;
            }
            if (!c->n) {
                out("| %s | failed | | | | | | 0 (%s) |\n", label, c->fail[0] ? c->fail : "no sample");
                continue;
            }
            double rm, rp, wm, wp, cm, cp;
            stats(c->ready, c->n, &rm, &rp);
            stats(c->wall, c->n, &wm, &wp);
            stats(c->cpu, c->n, &cm, &cp);
            char ratio[32] = "—";
            if (fmed > 0)
                snprintf(ratio, sizeof ratio, "%.2fx", rm / fmed);
            char fds[16] = "?";
            if (c->fds >= 0)
                snprintf(fds, sizeof fds, "%d", c->fds);
            char nn[300];
            if (c->fails)
                snprintf(nn, sizeof nn, "%d (%d failed: %s)", c->n, c->fails, c->fail);
            else
                snprintf(nn, sizeof nn, "%d", c->n);
            out("| %s | %.3f | %.3f | %s | %.3f | %.3f | %s | %s |\n", label, rm, rp, ratio, wm, cm, fds, nn);
        }
        out("\n");
    }

    /* targets */
    int targets[3] = {find_impl("dcx-lib"), find_impl("dcx-lib-static"), find_impl("dcx-cli")};
    out("## daemonctx against the targets\n\n");
    for (int pass = 0; pass < 3; pass++) {
        int i = targets[pass];
        if (i < 0)
            continue;
        if (!S->avail[i]) {
            out("- %s: not measured (%s)\n", impls[i].label, S->why[i]);
            continue;
        }
        for (int si = 0; si < MAX_SCEN; si++) {
            int fl = find_impl("floor");
            double m, p, fm, fp;
            if (!S->cell[si][i].n || !S->cell[si][fl].n)
                continue;
            stats(S->cell[si][i].ready, S->cell[si][i].n, &m, &p);
            stats(S->cell[si][fl].ready, S->cell[si][fl].n, &fm, &fp);
            /* fastest peer */
            double best = 1e30;
            const char *bestname = "none";
            for (int j = 0; j < nimpl; j++) {
                if (impls[j].daemonctx || impls[j].reference || !strcmp(impls[j].key, "floor") ||
                    !S->cell[si][j].n)
                    continue;
                double jm, jp;
                stats(S->cell[si][j].ready, S->cell[si][j].n, &jm, &jp);
                if (jm < best) {
                    best = jm;
                    bestname = impls[j].label;
                }
            }
            /* the references that do the same work the same way */
            const char *refkey = strcmp(impls[i].key, "dcx-cli") == 0 ? "floor-exec" : "floor-vm";
            int ref = find_impl(refkey);
            char refnote[200] = "";
            if (ref >= 0 && S->cell[si][ref].n) {
                double rm, rp;
                stats(S->cell[si][ref].ready, S->cell[si][ref].n, &rm, &rp);
                snprintf(refnote, sizeof refnote, "; %.2fx %s", m / rm,
                         strcmp(refkey, "floor-exec") == 0 ? "the floor + exec of the payload"
                                                           : "the floor with a CLONE_VM intermediate");
            }
            out("- %s, %s: %.2fx the floor (target <= 1.10x: %s%s); fastest peer %s at %.3f ms: %s\n",
                impls[i].label, scens[si].label, m / fm, m / fm <= 1.10 ? "met" : "**missed**", refnote, bestname,
                best, m < best ? "daemonctx faster" : "**peer faster**");
        }
        if (S->cell[2][i].n && S->cell[0][i].n) {
            double m0, p0, m2, p2, m3, p3;
            stats(S->cell[0][i].ready, S->cell[0][i].n, &m0, &p0);
            stats(S->cell[2][i].ready, S->cell[2][i].n, &m2, &p2);
            int fl = find_impl("floor");
            double f0 = 0, f2 = 0, fp;
            if (S->cell[0][fl].n && S->cell[2][fl].n) {
                stats(S->cell[0][fl].ready, S->cell[0][fl].n, &f0, &fp);
                stats(S->cell[2][fl].ready, S->cell[2][fl].n, &f2, &fp);
            }
            out("- %s, 1,048,576 vs 1024: %+.1f%% (target within 5%%: %s; the floor moved %+.1f%% between the same "
                "two scenarios)\n",
                impls[i].label, (m2 / m0 - 1) * 100, m2 / m0 - 1 <= 0.05 && m2 / m0 - 1 >= -0.05 ? "met" : "**missed**",
                f0 > 0 ? (f2 / f0 - 1) * 100 : 0.0);
            if (S->cell[1][i].n) {
                double m1, p1;
                stats(S->cell[1][i].ready, S->cell[1][i].n, &m1, &p1);
                out("- %s, real %lu vs 1024 (both real limits, no emulated row between them): %+.1f%%\n",
                    impls[i].label, (unsigned long)S->real_max[1], (m1 / m0 - 1) * 100);
            }
            if (S->cell[3][i].n) {
                stats(S->cell[3][i].ready, S->cell[3][i].n, &m3, &p3);
                out("- %s, 1,048,576 + 2000 fds vs 1024: %+.1f%% (the cost of closing 2000 inherited fds)\n",
                    impls[i].label, (m3 / m0 - 1) * 100);
            }
        }
    }
    report_python();
    {
        stopres_t *sr = &S->stop[0];
        if (sr->n) {
            double lm, lp;
            stats(sr->lat, sr->n, &lm, &lp);
            out("- `daemonctx stop` returned %.3f ms (median; p90 %.3f) after the daemon's exit (target within 5 ms: "
                "%s)\n", lm, lp, lp <= 5 ? "met" : "**missed**");
        } else {
            out("- `daemonctx stop`: not measured (%s)\n", sr->fail[0] ? sr->fail : "not run");
        }
        int c = find_impl("dcx-cli");
        concres_t *cr = c >= 0 ? &S->conc[c] : NULL;
        if (cr && cr->ran && cr->trials) {
            int ok = 0;
            for (int t = 0; t < cr->trials; t++)
                ok += cr->daemons[t] == 1;
            out("- %d concurrent `daemonctx start` on one pidfile: exactly 1 daemon in %d of %d trials (target: "
                "always: %s)\n", NCONC, ok, cr->trials, ok == cr->trials ? "met" : "**missed**");
        }
        idleres_t *ir = &S->idle[0];
        if (ir->ran) {
            long wake = (ir->vcs1 - ir->vcs0) + (ir->nvcs1 - ir->nvcs0);
            out("- idle `daemonctx start --supervise` over %.0f s: %ld wake-ups (target 0: %s), VmRSS %ld KiB (target "
                "<= 1024 KiB: %s; of it RssAnon %ld KiB, RssFile %ld KiB mostly libc's shared pages; Pss %ld KiB)\n",
                ir->secs, wake, wake == 0 ? "met" : "**missed**", ir->rss, ir->rss <= 1024 ? "met" : "**missed**",
                ir->rss_anon, ir->rss_file, ir->pss);
        }
    }
    out("\n");

    /* phases */
    {
        int cols[8], ncol = 0;
        for (int k = 0; phase_keys[k]; k++) {
            int i = find_impl(phase_keys[k]);
            if (i >= 0 && S->ph_n[i] > 0)
                cols[ncol++] = i;
        }
        if (ncol) {
            out("## Where the time of a start goes\n\n");
            out("RLIMIT_NOFILE 1024, a separate run under an LD_PRELOAD shim (phase_shim.c) that timestamps the "
                "program's start (after exec and dynamic loading), each fork() call and the first moment of each "
                "child; spawn and ready as in the tables. Medians in ms (the shim's own loading makes the first "
                "phase longer than in the tables; the phases do not add up exactly to the median ready, medians "
                "do not add).\n\n| phase |");
            for (int c = 0; c < ncol; c++)
                out(" %s |", impls[cols[c]].label);
            out("\n|---|");
            for (int c = 0; c < ncol; c++)
                out("---:|");
            out("\n");
            for (int p = 0; p < NPHASE; p++) {
                out("| %s |", phase_names[p]);
                for (int c = 0; c < ncol; c++) {
                    double m, q;
                    stats(S->ph[cols[c]][p], S->ph_n[cols[c]], &m, &q);
                    out(" %.3f |", m);
                }
                out("\n");
            }
            const char *fl[2] = {"starter: minor page faults, main -> fork()", "intermediate: minor page faults"};
            for (int k = 0; k < 2; k++) {
                out("| %s |", fl[k]);
                for (int c = 0; c < ncol; c++) {
                    double m, q;
                    stats(S->ph_flt[cols[c]][k], S->ph_n[cols[c]], &m, &q);
                    out(" %.0f |", m);
                }
                out("\n");
            }
            out("| ready (median of the same starts) |");
            for (int c = 0; c < ncol; c++) {
                double m, q;
                stats(S->ph_ready[cols[c]], S->ph_n[cols[c]], &m, &q);
                out(" %.3f |", m);
            }
            out("\n| n |");
            for (int c = 0; c < ncol; c++)
                out(" %d |", S->ph_n[cols[c]]);
            out("\n\n");
        }
    }

    /* what the fast ones skip */
    out("## What each one does not do (measured in this run)\n\n");
    out("Speed next to correctness: *session leader* = the daemon leads its own session, so opening a tty "
        "would make it its controlling tty (no second fork); *inherited fds kept* = fds open in the daemon in the "
        "2000-inherited-fds scenario, lock included; *returns before ready* = the start command's median wall "
        "time is below the median ready time, in every scenario or in some (its exit status cannot report a "
        "failure of the daemon); *50 "
        "starters* = daemons left running by 50 concurrent starts, and the losers that exited non-zero with a "
        "message (told/losers per trial, \"all\" when every loser of every trial did).\n\n");
    out("| implementation | session leader | inherited fds kept | returns before ready | 50 starters: daemons | "
        "losers that reported an error |\n|---|---|---:|---|---|---|\n");
    for (int i = 0; i < nimpl; i++) {
        if (!S->avail[i]) {
            out("| %s | — | — | — | — | %s |\n", impls[i].label, S->why[i]);
            continue;
        }
        cell_t *c0 = &S->cell[0][i], *c3 = &S->cell[3][i];
        char fds[16] = "?", before[16] = "?", lead[16] = "?", d[64] = "—", e[96] = "—";
        if (c3->fds >= 0)
            snprintf(fds, sizeof fds, "%d", c3->fds);
        if (c0->leader >= 0)
            snprintf(lead, sizeof lead, "%s", c0->leader ? "yes" : "no");
        if (c0->n) {
            /* in any scenario (start-stop-daemon returns before its daemon
             * has closed its fds only where there are many to close) */
            int yes = 0, seen = 0;
            for (int si = 0; si < MAX_SCEN; si++) {
                cell_t *c = &S->cell[si][i];
                if (!c->n)
                    continue;
                double rm, rp, wm, wp;
                stats(c->ready, c->n, &rm, &rp);
                stats(c->wall, c->n, &wm, &wp);
                seen++;
                yes += wm < rm;
            }
            snprintf(before, sizeof before, "%s", !yes ? "no" : yes == seen ? "yes" : "in some scenarios");
        }
        concres_t *cr = &S->conc[i];
        if (cr->ran && cr->trials) {
            int dmin = 1 << 30, dmax = 0;
            bool all = true;
            e[0] = '\0';
            for (int t = 0; t < cr->trials; t++) {
                int losers = NCONC - cr->daemons[t];
                int told = cr->clear_err[t] < losers ? cr->clear_err[t] : losers;
                dmin = cr->daemons[t] < dmin ? cr->daemons[t] : dmin;
                dmax = cr->daemons[t] > dmax ? cr->daemons[t] : dmax;
                all = all && told == losers;
                char x[24];
                snprintf(x, sizeof x, "%s%d/%d", t ? ", " : "", told, losers);
                strncat(e, x, sizeof e - strlen(e) - 1);
            }
            if (dmax == NCONC)
                snprintf(e, sizeof e, "no loser: every starter left a daemon");
            else if (all)
                snprintf(e, sizeof e, "all");
            if (dmin == dmax)
                snprintf(d, sizeof d, "%d", dmin);
            else
                snprintf(d, sizeof d, "%d-%d", dmin, dmax);
        }
        out("| %s | %s | %s | %s | %s | %s |\n", impls[i].label, lead, fds, before, d, e);
    }
    out("\n");

    /* calibration */
    out("## Who reads RLIMIT_NOFILE (calibration)\n\n");
    out("One start each under the counting build of the shim reporting 1,048,576 (real limit %lu): reads of the "
        "limit (getrlimit/prlimit/sysconf/getdtablesize), close() calls and close_range() calls made through libc "
        "by every process of the tool. A row that reads the limit runs under the shim in the emulated scenarios.\n\n",
        (unsigned long)S->start_max);
    out("| implementation | limit reads | close() calls | of which EBADF | close_range() | emulated |\n");
    out("|---|---:|---:|---:|---:|---|\n");
    for (int i = 0; i < nimpl; i++) {
        if (!S->avail[i] && !S->cal_ok[i]) {
            out("| %s | — | — | — | — | %s |\n", impls[i].label, S->why[i]);
            continue;
        }
        out("| %s | %ld | %ld | %ld | %ld | %s |\n", impls[i].label, S->cal_queries[i], S->cal_closes[i],
            S->cal_ebadf[i], S->cal_ranges[i], S->emulate[i] ? "yes" : "no");
    }
    out("\n");

    /* stop */
    out("## Stop latency\n\n");
    out("The daemon (/bin/sleep) started by the same tool; *latency* = from the daemon's exit (its pidfd becoming "
        "readable in the harness, which reaps it at once as init would) until the stop command has exited; "
        "*total* = from spawning the stop command.\n\n");
    out("| stop command | latency median ms | latency p90 ms | total median ms | n |\n|---|---:|---:|---:|---:|\n");
    const char *stopnames[2] = {"`daemonctx stop -p PIDFILE`",
                                "`start-stop-daemon --stop --pidfile PIDFILE --retry TERM/30/KILL/5`"};
    for (int k = 0; k < 2; k++) {
        stopres_t *sr = &S->stop[k];
        if (!sr->ran || !sr->n) {
            out("| %s | — | — | — | 0 (%s) |\n", stopnames[k], sr->fail[0] ? sr->fail : "not run");
            continue;
        }
        double lm, lp, tm, tp;
        stats(sr->lat, sr->n, &lm, &lp);
        stats(sr->total, sr->n, &tm, &tp);
        out("| %s | %.3f | %.3f | %.3f | %d%s%s |\n", stopnames[k], lm, lp, tm, sr->n, sr->fails ? " (failures: " : "",
            sr->fails ? sr->fail : "");
    }
    out("\n");

    report_tree();

    /* concurrency */
    out("## %d concurrent starters on one pidfile\n\n", NCONC);
    out("%d start commands released at once (a gate pipe) on the same pidfile, RLIMIT_NOFILE 1024; then, once "
        "the count is stable, the daemons running the payload are counted. *clear error* = exited non-zero with a "
        "message; *silent* = exited non-zero without one.\n\n", NCONC);
    out("| implementation | trials | daemons running (per trial) | exit 0 | clear error | silent failure | pidfile "
        "names a running daemon | first error message |\n|---|---:|---|---|---|---|---|---|\n");
    for (int i = 0; i < nimpl; i++) {
        concres_t *cr = &S->conc[i];
        if (impls[i].reference)
            continue;
        if (!cr->ran) {
            out("| %s | 0 | — | — | — | — | — | %s |\n", impls[i].label, S->why[i]);
            continue;
        }
        char d[64] = "", e0[64] = "", ce[64] = "", se[64] = "", po[64] = "";
        for (int t = 0; t < cr->trials; t++) {
            char x[16];
            snprintf(x, sizeof x, "%s%d", t ? ", " : "", cr->daemons[t]);
            strcat(d, x);
            snprintf(x, sizeof x, "%s%d", t ? ", " : "", cr->exit0[t]);
            strcat(e0, x);
            snprintf(x, sizeof x, "%s%d", t ? ", " : "", cr->clear_err[t]);
            strcat(ce, x);
            snprintf(x, sizeof x, "%s%d", t ? ", " : "", cr->silent_err[t]);
            strcat(se, x);
            snprintf(x, sizeof x, "%s%s", t ? ", " : "", cr->pid_ok[t] ? "yes" : "no");
            strcat(po, x);
        }
        out("| %s | %d | %s | %s | %s | %s | %s | %s |\n", impls[i].label, cr->trials, d, e0, ce, se, po,
            cr->msg[0] ? cr->msg : "—");
    }
    out("\n");

    /* idle */
    out("## Idle supervisor\n\n");
    out("The supervising process, started and then left alone for the measured window: wake-ups = voluntary + "
        "involuntary context switches (/proc/PID/status), CPU = utime+stime ticks, memory from /proc/PID/status "
        "and smaps_rollup.\n\n");
    out("| supervisor | window s | wake-ups | CPU ticks | VmRSS KiB | RssAnon KiB | RssFile KiB | Pss KiB | VmHWM KiB "
        "|\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int k = 0; k < 2; k++) {
        idleres_t *ir = &S->idle[k];
        if (!ir->ran) {
            out("| `%s`: not measured (%s) | — | — | — | — | — | — | — | — |\n", ir->what,
                ir->fail[0] ? ir->fail : "not run");
            continue;
        }
        out("| `%s` | %.1f | %ld | %ld | %ld | %ld | %ld | %ld | %ld |\n", ir->what, ir->secs,
            (ir->vcs1 - ir->vcs0) + (ir->nvcs1 - ir->nvcs0), ir->ticks, ir->rss, ir->rss_anon, ir->rss_file, ir->pss,
            ir->hwm);
        if (ir->fail[0])
            out("\n%s\n", ir->fail);
    }
    out("\n");

    out("Whole run: %.0f s.\n", total_secs);
}

/* -------------------------------------------------------------- main */

static void add_impl(const char *key, const char *label, const char *payload, bool supervised, bool reference,
                     bool dcx, const char *const *argv)
{
    impl_t *im = &impls[nimpl];
    im->key = key;
    im->label = label;
    for (int i = 0; argv[i] && i < 15; i++)
        im->argv[i] = argv[i];
    im->supervised = supervised;
    im->reference = reference;
    im->daemonctx = dcx;
    S->avail[nimpl] = true;
    if (access(argv[0], X_OK) < 0) {
        S->avail[nimpl] = false;
        snprintf(S->why[nimpl], sizeof S->why[nimpl], "%s: %s", argv[0], strerror(errno));
    }
    const char *pl = payload ? payload : argv[0];
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(pl, real) || stat(real, &st) < 0) {
        S->avail[nimpl] = false;
        if (!S->why[nimpl][0])
            snprintf(S->why[nimpl], sizeof S->why[nimpl], "payload %s: %s", pl, strerror(errno));
    } else {
        snprintf(im->payload, sizeof im->payload, "%s", real);
        im->pdev = st.st_dev;
        im->pino = st.st_ino;
        struct stat self;
        im->self_payload = stat(argv[0], &self) == 0 && self.st_dev == st.st_dev && self.st_ino == st.st_ino;
    }
    nimpl++;
}

static char *path_in(const char *dir, const char *name)
{
    char *p = malloc(PATH_MAX);
    snprintf(p, PATH_MAX, "%s/%s", dir, name);
    return p;
}

static void setup_terminal(void)
{
    H.ptm = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (H.ptm < 0 || grantpt(H.ptm) < 0 || unlockpt(H.ptm) < 0)
        die("pseudo-terminal: %s", strerror(errno));
    char name[128];
    if (ptsname_r(H.ptm, name, sizeof name) != 0)
        die("ptsname: %s", strerror(errno));
    H.pts = open(name, O_RDWR | O_CLOEXEC); /* a session leader without a tty: it becomes ours */
    if (H.pts < 0)
        die("%s: %s", name, strerror(errno));
    if (ioctl(H.pts, TIOCSCTTY, 0) < 0)
        die("TIOCSCTTY: %s", strerror(errno));
    fcntl(H.ptm, F_SETFL, O_NONBLOCK);
    H.sid = getsid(0);
}

static pid_t child_pid;

static void forward(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
}

static void usage(void)
{
    fprintf(stderr, "usage: harness --bin DIR --cli PATH --py SCRIPT [--pypath DIR] [--out FILE] [--quick] [--no-extras] "
                    "[--observe idle-spin|spin|block] [--only KEY,KEY] [--budget S] [--min N] [--max N] [--note TEXT]...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    H.budget = 4;
    H.min_n = 21;
    H.max_n = 150;
    H.extras = true;
    H.observe = OBS_IDLE;
    H.debug = getenv("HARNESS_DEBUG") ? atoi(getenv("HARNESS_DEBUG")) : 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--bin") && v)
            H.bin = argv[++i];
        else if (!strcmp(a, "--cli") && v)
            H.cli = argv[++i];
        else if (!strcmp(a, "--py") && v)
            H.py = argv[++i];
        else if (!strcmp(a, "--pypath") && v)
            H.pypath = argv[++i];
        else if (!strcmp(a, "--out") && v)
            H.out = argv[++i];
        else if (!strcmp(a, "--budget") && v)
            H.budget = atof(argv[++i]);
        else if (!strcmp(a, "--min") && v)
            H.min_n = atoi(argv[++i]);
        else if (!strcmp(a, "--max") && v)
            H.max_n = atoi(argv[++i]);
        else if (!strcmp(a, "--note") && v && H.nnotes < 8)
            snprintf(H.notes[H.nnotes++], sizeof H.notes[0], "%s", argv[++i]);
        else if (!strcmp(a, "--quick"))
            H.quick = true;
        else if (!strcmp(a, "--no-extras"))
            H.extras = false;
        else if (!strcmp(a, "--tree-only"))
            H.tree_only = true;
        else if (!strcmp(a, "--observe") && v) {
            const char *m = argv[++i];
            H.observe = !strcmp(m, "block") ? OBS_BLOCK : !strcmp(m, "spin") ? OBS_SPIN : OBS_IDLE;
        }
        else if (!strcmp(a, "--only") && v)
            H.only = argv[++i];
        else
            usage();
    }
    if (!H.bin || !H.cli || !H.py)
        usage();
    if (H.quick) {
        H.budget = 0.5;
        H.min_n = 5;
        H.max_n = 20;
    }
    if (H.max_n > MAX_SAMPLES)
        H.max_n = MAX_SAMPLES;
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* whatever our parent leaked must not reach the start commands: only the
     * 2000 fds of the last scenario are inherited on purpose */
    syscall(SYS_close_range, 3U, ~0U, 0U);

    /* a session of our own, with a pseudo-terminal as its controlling tty;
     * the process we started from waits and passes signals on */
    if (setsid() < 0) {
        child_pid = fork();
        if (child_pid < 0)
            die("fork: %s", strerror(errno));
        if (child_pid > 0) {
            signal(SIGINT, forward);
            signal(SIGTERM, forward);
            signal(SIGHUP, forward);
            int st;
            while (waitpid(child_pid, &st, 0) < 0 && errno == EINTR)
                ;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
        }
        if (setsid() < 0)
            die("setsid: %s", strerror(errno));
    }
    signal(SIGHUP, SIG_IGN); /* our own terminal's hangups are not for us */
    signal(SIGPIPE, SIG_IGN);
    setup_terminal();
    if (stat("/dev/null", &H.devnull) < 0)
        die("/dev/null: %s", strerror(errno));

    S = mmap(NULL, sizeof *S, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (S == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    memset(S, 0, sizeof *S);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    S->start_max = rl.rlim_max;

    snprintf(H.rundir, sizeof H.rundir, "/tmp/dcxbench.XXXXXX");
    if (!mkdtemp(H.rundir))
        die("mkdtemp: %s", strerror(errno));
    snprintf(H.pidfile, sizeof H.pidfile, "%s/daemon.pid", H.rundir);
    H.rundirfd = open(H.rundir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (H.rundirfd < 0)
        die("%s: %s", H.rundir, strerror(errno));
    snprintf(H.countfile, sizeof H.countfile, "%s.counters", H.rundir);
    int cf = open(H.countfile, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (cf < 0 || ftruncate(cf, 4096) < 0)
        die("%s: %s", H.countfile, strerror(errno));
    H.cnt = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, cf, 0);
    if (H.cnt == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    close(cf);
    snprintf(H.phasefile, sizeof H.phasefile, "%s.phases", H.rundir);
    int pf = open(H.phasefile, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (pf < 0 || ftruncate(pf, sizeof(struct phases)) < 0)
        die("%s: %s", H.phasefile, strerror(errno));
    H.ph = mmap(NULL, sizeof(struct phases), PROT_READ | PROT_WRITE, MAP_SHARED, pf, 0);
    if (H.ph == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    close(pf);
    H.phaseshim = path_in(H.bin, "phase_shim.so");
    H.shim = path_in(H.bin, "nofile_shim.so");
    H.counter = path_in(H.bin, "close_counter.so");

    /* the contenders */
    char *floor_ = path_in(H.bin, "floor"), *floor1 = path_in(H.bin, "floor1"), *floorvm = path_in(H.bin, "floorvm"), *lib = path_in(H.bin, "dcx_lib"), *libs = path_in(H.bin, "dcx_lib_static");
    char *gd = path_in(H.bin, "glibc_daemon"), *ld = path_in(H.bin, "libdaemon"), *bsd = path_in(H.bin, "libbsd_pidfile");
    add_impl("floor", "floor (minimal C)", NULL, false, false, false, (const char *[]){floor_, "@PF", NULL});
    add_impl("dcx-lib", "daemonctx library (shared)", NULL, false, false, true, (const char *[]){lib, "@PF", NULL});
    add_impl("dcx-lib-static", "daemonctx library (static)", NULL, false, false, true,
             (const char *[]){libs, "@PF", NULL});
    add_impl("dcx-cli", "daemonctx CLI", "/bin/sleep", false, false, true,
             (const char *[]){H.cli, "start", "-p", "@PF", "--", "/bin/sleep", "1000", NULL});
    add_impl("floor-exec", "floor + exec /bin/sleep (reference for exec-style tools)", "/bin/sleep", false, true,
             false, (const char *[]){floor_, "@PF", "/bin/sleep", "1000", NULL});
    add_impl("floor1", "floor with one fork (reference: what daemon(3)-style tools do)", NULL, false, true, false,
             (const char *[]){floor1, "@PF", NULL});
    add_impl("floor-vm", "floor with a CLONE_VM intermediate (reference: daemonctx's detach technique)", NULL, false,
             true, false, (const char *[]){floorvm, "@PF", NULL});
    add_impl("glibc-daemon", "glibc daemon(3) + pidfile", NULL, false, false, false, (const char *[]){gd, "@PF", NULL});
    add_impl("libdaemon", "libdaemon", NULL, false, false, false, (const char *[]){ld, "@PF", NULL});
    add_impl("libbsd", "libbsd pidfile(3) + daemon(3)", NULL, false, false, false, (const char *[]){bsd, "@PF", NULL});
    add_impl("python-daemon", "python-daemon", "/usr/bin/python3", false, false, false,
             (const char *[]){"/usr/bin/python3", H.py, "python-daemon", "@PF", NULL});
    /* daemonctx's Python packages, from the build (bench/peers/pydaemon.py
     * puts --pypath first on sys.path), and the interpreter's own cost */
    const char *pypath = H.pypath ? H.pypath : "/nonexistent";
    add_impl("py-daemon", "daemonctx daemon (python-daemon API)", "/usr/bin/python3", false, false, false,
             (const char *[]){"/usr/bin/python3", H.py, "daemon", "@PF", pypath, NULL});
    add_impl("py-pep3143", "daemonctx pep3143daemon (the seed's API)", "/usr/bin/python3", false, false, false,
             (const char *[]){"/usr/bin/python3", H.py, "pep3143daemon", "@PF", pypath, NULL});
    static char import_daemon[PATH_MAX + 64];
    snprintf(import_daemon, sizeof import_daemon, "import sys; sys.path.insert(0, '%s'); import daemon", pypath);
    add_impl("py-import", "python3 -c 'import daemon', daemonctx's (reference: spawn -> exit, no daemon)",
             "/usr/bin/python3", false, true, false, (const char *[]){"/usr/bin/python3", "-c", import_daemon, NULL});
    impls[nimpl - 1].exit_only = true;
    /* the same without the interpreter's shutdown, which a daemon's start
     * does not pay (the invoking process leaves with _exit) */
    static char import_exit[PATH_MAX + 96];
    snprintf(import_exit, sizeof import_exit, "%s; import os; os._exit(0)", import_daemon);
    add_impl("py-import-exit", "python3 -c 'import daemon; os._exit(0)', daemonctx's (reference: no shutdown)",
             "/usr/bin/python3", false, true, false, (const char *[]){"/usr/bin/python3", "-c", import_exit, NULL});
    impls[nimpl - 1].exit_only = true;
    add_impl("ssd", "start-stop-daemon --background --make-pidfile", "/bin/sleep", false, false, false,
             (const char *[]){"/usr/sbin/start-stop-daemon", "--start", "--background", "--make-pidfile", "--pidfile",
                              "@PF", "--exec", "/bin/sleep", "--", "1000", NULL});
    add_impl("daemonize", "bmc daemonize", "/bin/sleep", false, false, false,
             (const char *[]){"/usr/bin/daemonize", "-p", "@PF", "-l", "@PF", "/bin/sleep", "1000", NULL});
    add_impl("libslack", "libslack daemon (supervisor)", "/bin/sleep", true, false, false,
             (const char *[]){"/usr/bin/daemon", "--pidfile=@PF", "--", "/bin/sleep", "1000", NULL});
    if (H.only) {
        char list[512];
        snprintf(list, sizeof list, ",%s,", H.only);
        for (int i = 0; i < nimpl; i++) {
            char key[64];
            snprintf(key, sizeof key, ",%s,", impls[i].key);
            if (!strstr(list, key) && strcmp(impls[i].key, "floor")) {
                S->avail[i] = false;
                snprintf(S->why[i], sizeof S->why[i], "not selected (--only)");
            }
        }
    }
    if (access(H.cli, X_OK) < 0)
        snprintf(S->why[find_impl("dcx-cli")], sizeof S->why[0], "daemonctx CLI not built (%s)", H.cli);
    if (access("/usr/lib/python3/dist-packages/daemon/daemon.py", R_OK) < 0) {
        int i = find_impl("python-daemon");
        S->avail[i] = false;
        snprintf(S->why[i], sizeof S->why[i], "python3-daemon not installed");
    }
    char ours[PATH_MAX];
    snprintf(ours, sizeof ours, "%s/daemon/daemon.py", pypath);
    if (access(ours, R_OK) < 0)
        for (int i = 0; i < nimpl; i++)
            if (!strncmp(impls[i].key, "py-", 3)) {
                S->avail[i] = false;
                snprintf(S->why[i], sizeof S->why[i], "daemonctx's Python packages not built (--pypath %s)", pypath);
            }

    H.inot = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (H.inot < 0 || inotify_add_watch(H.inot, H.rundir, IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO |
                                                              IN_ATTRIB | IN_DELETE) < 0)
        die("inotify: %s", strerror(errno));
    /* the payload's exec opens it: an event just before the daemon is ready */
    inotify_add_watch(H.inot, impls[find_impl("dcx-cli")].payload[0] ? impls[find_impl("dcx-cli")].payload
                                                                      : "/usr/bin/sleep",
                      IN_OPEN);

    double load[1] = {0};
    getloadavg(load, 1);
    double t_all = now();
    if (H.tree_only) {
        fprintf(stderr, "harness: stopping a %d-process tree\n", TREE_SIZE);
        in_scenario(0, tree_test);
        rep[nrep++] = stdout;
        report_tree();
        clean_rundir();
        rmdir(H.rundir);
        unlink(H.countfile);
        unlink(H.phasefile);
        return 0;
    }

    fprintf(stderr, "harness: calibration (which tools read RLIMIT_NOFILE)\n");
    in_scenario(1, calibrate);
    fprintf(stderr, "harness: the four scenarios, interleaved round by round\n");
    run_scenarios();
    for (int si = 0; si < MAX_SCEN; si++)
        fprintf(stderr, "  %s: %.1f s\n", scens[si].label, S->scen_secs[si]);
    if (H.extras) {
        fprintf(stderr, "harness: stop latency\n");
        in_scenario(0, stop_test);
        fprintf(stderr, "harness: stopping a %d-process tree\n", TREE_SIZE);
        in_scenario(0, tree_test);
        fprintf(stderr, "harness: %d concurrent starters\n", NCONC);
        in_scenario(0, conc_test);
        fprintf(stderr, "harness: idle supervisor\n");
        in_scenario(0, idle_test);
        if (access(H.phaseshim, R_OK) == 0) {
            fprintf(stderr, "harness: phases\n");
            in_scenario(0, phases_test);
        }
    }

    rep[nrep++] = stdout;
    FILE *f = H.out ? fopen(H.out, "w") : NULL;
    if (f)
        rep[nrep++] = f;
    report(load[0], now() - t_all);
    if (f)
        fclose(f);
    clean_rundir();
    rmdir(H.rundir);
    unlink(H.countfile);
    unlink(H.phasefile);
    return 0;
}
