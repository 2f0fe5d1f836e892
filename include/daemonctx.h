/*
 * daemonctx.h - turn a process into a well-behaved Unix daemon (PEP 3143 in C).
 *
 * The one public header of libdaemonctx. Every function returns 0 (or a
 * documented non-negative value) on success and a negative errno value on
 * failure; functions that take a daemonctx_error also fill it in.
 * The library never prints and never exits on its own, except:
 *   - daemonctx_open() ends the original process with status 0 once the
 *     daemon is up (as PEP 3143 requires), unless daemonctx_set_parent_returns()
 *     asked for it to return instead;
 *   - the terminate action (the default SIGTERM action, daemonctx_terminate()).
 */
#ifndef DAEMONCTX_H
#define DAEMONCTX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(DAEMONCTX_NO_VISIBILITY)
#define DAEMONCTX_API __attribute__((visibility("default")))
#else
#define DAEMONCTX_API
#endif

#if defined(__GNUC__)
#define DAEMONCTX_NORETURN __attribute__((noreturn))
#else
#define DAEMONCTX_NORETURN
#endif

/* ------------------------------------------------------------------ errors */

#define DAEMONCTX_MESSAGE_MAX 488

/*
 * The step that failed. The values are stable: new steps are added at the
 * end. daemonctx_step_name() gives the name daemonctx(3) lists ("chdir").
 */
enum daemonctx_step {
    DAEMONCTX_STEP_NONE = 0,      /* "": no failure */
    DAEMONCTX_STEP_OPTIONS,       /* "options": a bad value, or the context is open */
    DAEMONCTX_STEP_USER,          /* "user": looking up the uid's name and groups */
    DAEMONCTX_STEP_PIDFILE,       /* "pidfile": create, lock or check it (EAGAIN: held) */
    DAEMONCTX_STEP_PIPE,          /* "pipe": the report channel or a readiness source */
    DAEMONCTX_STEP_FORK,          /* "fork" */
    DAEMONCTX_STEP_SETSID,        /* "setsid" */
    DAEMONCTX_STEP_CHROOT,        /* "chroot" */
    DAEMONCTX_STEP_CORE,          /* "core": core dump prevention */
    DAEMONCTX_STEP_CHDIR,         /* "chdir" */
    DAEMONCTX_STEP_SETGROUPS,     /* "setgroups" */
    DAEMONCTX_STEP_SETGID,        /* "setgid" */
    DAEMONCTX_STEP_SETUID,        /* "setuid" */
    DAEMONCTX_STEP_VERIFY_DROP,   /* "verify-drop": the drop did not hold */
    DAEMONCTX_STEP_SIGNALS,       /* "signals": the signal map and mask */
    DAEMONCTX_STEP_CLOSE_FDS,     /* "close-fds" */
    DAEMONCTX_STEP_DEVNULL,       /* "devnull" */
    DAEMONCTX_STEP_STDIO,         /* "stdio" */
    DAEMONCTX_STEP_PIDFILE_WRITE, /* "pidfile-write" */
    DAEMONCTX_STEP_REPORT,        /* "report": the channel to the original process */
    DAEMONCTX_STEP_READY,         /* "ready": readiness or NOTIFY_SOCKET */
    DAEMONCTX_STEP_EXEC,          /* "exec" */
    DAEMONCTX_STEP_WAIT,          /* "wait": watching the daemon failed */
    DAEMONCTX_STEP_DIED,          /* "died": the daemon ended before it was ready */
    DAEMONCTX_STEP_TIMEOUT,       /* "timeout": not ready in time, killed */
    DAEMONCTX_STEP_INTERRUPTED,   /* "interrupted": by a signal while waiting */
    DAEMONCTX_STEP_APPLICATION,   /* "application": the caller's own, from
                                     daemonctx_report_error() or a hook */
    DAEMONCTX_STEP_LIMITS,        /* "limits": resource limits, nice, oom_score_adj */
    DAEMONCTX_STEP_RUNTIME_DIR,   /* "runtime-dir": the runtime directory */
    DAEMONCTX_STEP_CGROUP,        /* "cgroup": the daemon's cgroup */
    DAEMONCTX_STEP_COUNT          /* not a step: one more than the last */
};

/*
 * What failed and why. A plain value the caller owns: it is filled without
 * allocating, in any process (a forked daemon fills it and sends it to the
 * process that called daemonctx_open()).
 *   errnum  - the errno value of the failure (0 when no system call failed)
 *   step    - the step that failed
 *   message - one line naming the path, user, fd or PID at fault and, when a
 *             system call failed, its error text (a name over 160 bytes is
 *             shortened in its middle, so the reason always fits)
 */
typedef struct daemonctx_error {
    int errnum;
    enum daemonctx_step step;
    char message[DAEMONCTX_MESSAGE_MAX];
} daemonctx_error;

/* The name of STEP ("chdir", "pidfile-write"...); "" for NONE, "unknown" for
 * a value that is not a step. Static storage. */
DAEMONCTX_API const char *daemonctx_step_name(enum daemonctx_step step);

/* ----------------------------------------------------------------- pidfile */

/* An exclusive-lock (flock) pidfile. Opaque. */
typedef struct daemonctx_pidfile daemonctx_pidfile;

/* A new pidfile object for PATH (absolute or relative); nothing is opened.
 * Returns NULL with errno set (EINVAL for an empty path, ENOMEM). */
DAEMONCTX_API daemonctx_pidfile *daemonctx_pidfile_new(const char *path);

/* Create PATH if needed (mode 0644, never through a symlink, never blocking
 * on a FIFO), take its exclusive lock, check the locked inode is still the one
 * at PATH, truncate it and write "PID\n" with the caller's PID; the file is
 * removed at exit() of this process (and only of this process).
 * A pidfile locked by a live instance is refused with -EAGAIN and a message
 * naming the holder's PID. An unlocked pidfile is stale and taken over. */
DAEMONCTX_API int daemonctx_pidfile_acquire(daemonctx_pidfile *pf, daemonctx_error *err);

/* Remove the file if PATH still names the inode this object locked, then
 * close it (dropping the lock). A no-op when not held by this process. */
DAEMONCTX_API int daemonctx_pidfile_release(daemonctx_pidfile *pf, daemonctx_error *err);

/* Release (when held by this process) and free. NULL is accepted. */
DAEMONCTX_API void daemonctx_pidfile_free(daemonctx_pidfile *pf);

/* A pidfile in a directory anyone can write that lacks the sticky bit is
 * refused (-EPERM: anyone could replace it); this opts in. Sticky directories
 * such as /tmp are always allowed. When running as root, a pidfile owned by
 * another user is always refused (-EPERM). */
DAEMONCTX_API int daemonctx_pidfile_allow_shared_directory(daemonctx_pidfile *pf, bool allow);

DAEMONCTX_API const char *daemonctx_pidfile_path(const daemonctx_pidfile *pf);

/* The fd holding the lock, or -1 when not held. It is close-on-exec; a caller
 * that wants the lock to outlive an exec clears FD_CLOEXEC on it. */
DAEMONCTX_API int daemonctx_pidfile_fd(const daemonctx_pidfile *pf);

/* What a pidfile says about its daemon, decided from the lock, never from
 * kill(pid, 0). */
enum daemonctx_pidfile_state {
    DAEMONCTX_PIDFILE_ABSENT = 0,   /* no file at PATH */
    DAEMONCTX_PIDFILE_STALE = 1,    /* file present, nobody holds its lock */
    DAEMONCTX_PIDFILE_RUNNING = 2,  /* locked; *pid is the PID it holds */
    DAEMONCTX_PIDFILE_STARTING = 3  /* locked, PID not written yet (*pid is
                                       the lock holder from /proc/locks, or 0) */
};

/* Inspect PATH without modifying it and without disturbing its lock.
 * Returns a daemonctx_pidfile_state (>= 0) or -errno; *pid receives the PID
 * in the file (0 when none). A file that is not a regular file, or whose
 * contents are not "PID\n" while locked, is an error (-EINVAL). */
DAEMONCTX_API int daemonctx_pidfile_inspect(const char *path, pid_t *pid, daemonctx_error *err);

/* ----------------------------------------------------------------- context */

typedef struct daemonctx daemonctx;

/* detach_process */
enum daemonctx_detach {
    DAEMONCTX_DETACH_AUTO = 0, /* decided at open: no fork when the process is PID 1,
                                  its parent is init, a service manager started it
                                  (NOTIFY_SOCKET, INVOCATION_ID, LISTEN_PID) or stdin
                                  is a socket; see daemonctx_detach_decision() */
    DAEMONCTX_DETACH_YES = 1,
    DAEMONCTX_DETACH_NO = 2
};

/* signal_map actions */
enum daemonctx_signal_action {
    DAEMONCTX_SIGNAL_UNCHANGED = 0, /* not in the map: left as inherited */
    DAEMONCTX_SIGNAL_IGNORE = 1,    /* SIG_IGN (Python's None) */
    DAEMONCTX_SIGNAL_DEFAULT = 2,   /* SIG_DFL */
    DAEMONCTX_SIGNAL_TERMINATE = 3, /* release the pidfile, die of the signal */
    DAEMONCTX_SIGNAL_HANDLER = 4    /* call a C handler */
};

/* When daemonctx_open() lets the original process go: once the daemon is
 * ready, as it says by one of these. A daemon made by daemonctx_open_execve()
 * is ready once it has exec'd in modes OPEN and NOTIFY. Not detaching,
 * nobody waits here: FD and SD_NOTIFY then pass the caller's own fd N and
 * NOTIFY_SOCKET on to the daemon. */
enum daemonctx_ready_mode {
    DAEMONCTX_READY_OPEN = 0,     /* open() has finished in the daemon */
    DAEMONCTX_READY_NOTIFY = 1,   /* the daemon called daemonctx_ready() or
                                     exec'd through daemonctx_execv() */
    DAEMONCTX_READY_FD = 2,       /* a newline on fd N (s6, OpenRC): the daemon,
                                     or the program it execs, writes it on the
                                     pipe the library puts there (see
                                     daemonctx_set_ready_fd); EOF first: it
                                     gave up, and is killed */
    DAEMONCTX_READY_SD_NOTIFY = 3 /* READY=1 (systemd's protocol) from the
                                     daemon's process tree to the socket the
                                     library listens on, which the daemon's
                                     NOTIFY_SOCKET names */
};

/* A context with the PEP 3143 defaults: no chroot, working directory "/",
 * umask 0 (beware: files the daemon creates are world-writable unless it passes
 * explicit modes; set 022 or 027 for most daemons), uid/gid the process's real
 * ids, prevent_core on, detach auto, no preserved files, no pidfile, stdio on
 * /dev/null, signal map SIGTSTP/SIGTTIN/SIGTTOU ignored and SIGTERM terminate.
 * Returns NULL with errno ENOMEM. */
DAEMONCTX_API daemonctx *daemonctx_new(void);
DAEMONCTX_API void daemonctx_free(daemonctx *ctx);

/*
 * Setters. Each validates its input and returns 0, -EINVAL for a bad value,
 * -ENOMEM, or -EBUSY once the context is open (changes after open() would have
 * no effect). The reason of the last failure is in daemonctx_last_error().
 */
/* An absolute directory, or NULL for no chroot. */
DAEMONCTX_API int daemonctx_set_chroot_directory(daemonctx *ctx, const char *path);
/* An absolute directory. Under a chroot, see daemonctx_get_working_directory(). */
DAEMONCTX_API int daemonctx_set_working_directory(daemonctx *ctx, const char *path);
/* 0 to 0777. */
DAEMONCTX_API int daemonctx_set_umask(daemonctx *ctx, mode_t mask);
/* Real, effective and saved uid after open; supplementary groups become those
 * of the uid's passwd entry (or none but the gid when it has none). */
DAEMONCTX_API int daemonctx_set_uid(daemonctx *ctx, uid_t uid);
/* Real, effective and saved gid after open. */
DAEMONCTX_API int daemonctx_set_gid(daemonctx *ctx, gid_t gid);
DAEMONCTX_API int daemonctx_set_prevent_core(daemonctx *ctx, bool prevent);
DAEMONCTX_API int daemonctx_set_detach_process(daemonctx *ctx, enum daemonctx_detach detach);
/* The fds to keep open (replaces the previous list; n == 0 clears it). */
DAEMONCTX_API int daemonctx_set_files_preserve(daemonctx *ctx, const int *fds, size_t n);
/* Borrowed, not owned: PF must outlive the context. NULL for none. */
DAEMONCTX_API int daemonctx_set_pidfile(daemonctx *ctx, daemonctx_pidfile *pf);
/* An open fd to become stdin/stdout/stderr, or -1 for /dev/null. */
DAEMONCTX_API int daemonctx_set_stdin(daemonctx *ctx, int fd);
DAEMONCTX_API int daemonctx_set_stdout(daemonctx *ctx, int fd);
DAEMONCTX_API int daemonctx_set_stderr(daemonctx *ctx, int fd);
/* One signal_map entry. HANDLER requires a non-NULL handler (installed with
 * SA_RESTART); other actions require handler == NULL. SIGKILL and SIGSTOP
 * are refused. */
DAEMONCTX_API int daemonctx_set_signal(daemonctx *ctx, int signo, enum daemonctx_signal_action action,
                                       void (*handler)(int));
/* Empty the signal map: open() then leaves every disposition as inherited. */
DAEMONCTX_API int daemonctx_clear_signal_map(daemonctx *ctx);

/* Not in PEP 3143. */
DAEMONCTX_API int daemonctx_set_ready_mode(daemonctx *ctx, enum daemonctx_ready_mode mode);
/* N of DAEMONCTX_READY_FD, 3 or above. It must be neither a preserved file
 * nor a standard stream source. */
DAEMONCTX_API int daemonctx_set_ready_fd(daemonctx *ctx, int fd);
/* How long the original process waits for the daemon to be ready (default
 * 60000 ms; 0 waits forever). On expiry the daemon is killed and open()
 * fails (step "timeout"). */
DAEMONCTX_API int daemonctx_set_timeout_ms(daemonctx *ctx, unsigned int ms);
/* Make daemonctx_open() return 1 in the original process once the daemon is up,
 * instead of ending it with _exit(0). The daemon is then a child of the
 * calling process (open() adopts it, as a child subreaper, to learn its exit
 * status should it die before it is ready): reap it with waitpid() when it
 * ends. */
DAEMONCTX_API int daemonctx_set_parent_returns(daemonctx *ctx, bool returns);

/*
 * Resources (not in PEP 3143). Applied in the daemon before the privilege
 * drop, in this order: resource limits, nice, oom_score_adj. What the
 * process may not do is refused before anything forks (daemonctx_check(),
 * open()), naming the resource: a hard limit raised above the current one
 * without CAP_SYS_RESOURCE (RLIMIT_NOFILE never above fs.nr_open), a nice
 * value below the current one without CAP_SYS_NICE (unless RLIMIT_NICE
 * allows it), an oom_score_adj below the current one without
 * CAP_SYS_RESOURCE.
 */
/* RESOURCE (RLIMIT_NOFILE...) to SOFT and HARD (RLIM_INFINITY: unlimited);
 * SOFT <= HARD. An RLIMIT_CORE set here replaces prevent_core. */
DAEMONCTX_API int daemonctx_set_rlimit(daemonctx *ctx, int resource, rlim_t soft, rlim_t hard);
/* The nice value, -20 to 19. */
DAEMONCTX_API int daemonctx_set_nice(daemonctx *ctx, int nice);
/* /proc/PID/oom_score_adj, -1000 to 1000. */
DAEMONCTX_API int daemonctx_set_oom_score_adj(daemonctx *ctx, int adj);

/*
 * The daemon's environment (not in PEP 3143): its environ after
 * daemonctx_open(), the program's with daemonctx_open_execve() (then built
 * on its ENVP instead of environ). Built before forking, in this order, each
 * layer overriding the ones before: the caller's environment (or none,
 * daemonctx_clear_environment), the identity variables, PATH (from an empty
 * environment: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin),
 * the daemonctx_setenv() assignments, NOTIFY_SOCKET (DAEMONCTX_READY_SD_NOTIFY).
 */
/* NAME=VALUE, or with VALUE NULL, no NAME at all. NAME is letters, digits
 * and underscores, not starting with a digit; the same NAME again replaces
 * the earlier assignment. */
DAEMONCTX_API int daemonctx_setenv(daemonctx *ctx, const char *name, const char *value);
/* Start from an empty environment instead of the caller's. */
DAEMONCTX_API int daemonctx_clear_environment(daemonctx *ctx, bool clear);
/* HOME, USER, LOGNAME and SHELL from the passwd entry of the daemon's uid
 * (looked up before any chroot), as login(1), su(1) and systemd's User= set
 * them; a uid without an entry gets none of the four (not the caller's). */
DAEMONCTX_API int daemonctx_set_identity_environment(daemonctx *ctx, bool set);

/*
 * The runtime directory (not in PEP 3143; systemd's RuntimeDirectory=):
 * PATH (absolute), made before forking if missing, with its missing parents
 * (0755), owned by the daemon's uid and gid, with MODE whatever the umask;
 * the pidfile may live in it. A failed open() that made it removes it (and
 * the parents it made). An existing directory is used as it is, unless a
 * start of the same pidfile made it (it is then adopted: owner and mode set
 * again). With a pidfile, a directory made (or adopted) is marked, in
 * extended attributes of the pidfile and of the directory, for
 * daemonctx_tree_remove_runtime_directory(). Refused: an existing path that
 * is not a directory, or a symbolic link. NULL: none.
 */
DAEMONCTX_API int daemonctx_set_runtime_directory(daemonctx *ctx, const char *path, mode_t mode);
/* The runtime directory's owner when it is not the daemon's uid and gid: a
 * supervisor that keeps its identity gives the directory to its program's. */
DAEMONCTX_API int daemonctx_set_runtime_directory_owner(daemonctx *ctx, uid_t uid, gid_t gid);

/*
 * The daemon's cgroup (not in PEP 3143; cgroup v2): what tracks its whole
 * process tree, including what leaves its session or is orphaned, for
 * daemonctx_tree_kill(). Made before forking, after the pidfile is locked,
 * under the cgroup v2 mount found in /proc/self/mountinfo, named after the
 * pidfile ("daemonctx-" + its path escaped as systemd-escape --path does)
 * and marked as made for it (an extended attribute: trusted.daemonctx.pidfile
 * for root); the daemon enters it as its first step. A failed start that
 * made it ends and removes it. No controller is enabled. Needs a pidfile.
 */
enum daemonctx_cgroup {
    DAEMONCTX_CGROUP_NONE = 0,  /* no cgroup (the default) */
    DAEMONCTX_CGROUP_AUTO = 1,  /* under the caller's cgroup, where one can be
                                   made: not without a pidfile, a cgroup v2
                                   mount or write access, nor under systemd
                                   without Delegate=yes (the unit's cgroup
                                   tracks the tree); none otherwise */
    DAEMONCTX_CGROUP_PARENT = 2 /* under PARENT (a path in the cgroup v2
                                   hierarchy, "/daemons", or a directory under
                                   its mount); an error where it cannot be */
};
DAEMONCTX_API int daemonctx_set_cgroup(daemonctx *ctx, enum daemonctx_cgroup mode, const char *parent);
/* Whether open() would put the daemon in a cgroup: 1 (PATH receives its
 * directory), 0 none, -errno refused (daemonctx_check() says why); *reason
 * (if not NULL) receives a static sentence saying why. */
DAEMONCTX_API int daemonctx_cgroup_decision(const daemonctx *ctx, char *path, size_t size, const char **reason);
/* After a successful open(), in either process: the cgroup's directory, or
 * NULL when the daemon has none. */
DAEMONCTX_API const char *daemonctx_cgroup(const daemonctx *ctx);

/* The last setter failure (errnum 0 when none). */
DAEMONCTX_API const daemonctx_error *daemonctx_last_error(const daemonctx *ctx);

/* What open() checks before forking, without changing anything: the
 * resources against the caller's privileges, the runtime directory (an
 * existing path that is not a directory, a missing one that cannot be
 * made), the cgroup parent (DAEMONCTX_CGROUP_PARENT: a cgroup v2 directory
 * the caller may write). 0, or -errno with ERR naming the culprit. For a
 * dry run. */
DAEMONCTX_API int daemonctx_check(const daemonctx *ctx, daemonctx_error *err);

/* The working directory with the PEP 3143 chroot rule applied: with a chroot
 * directory set, a working directory not under it (compared component by
 * component) is prefixed with it. This is the daemon's cwd as seen from
 * outside the jail. Returns the length written (excluding NUL) or -ERANGE. */
DAEMONCTX_API int daemonctx_get_working_directory(const daemonctx *ctx, char *buf, size_t size);

/* Whether open() forks with the current settings: 1 fork, 0 no fork. *reason
 * (if not NULL) receives a static sentence saying why. */
DAEMONCTX_API int daemonctx_detach_decision(const daemonctx *ctx, const char **reason);

DAEMONCTX_API bool daemonctx_is_open(const daemonctx *ctx);

/*
 * Become a daemon, in the PEP 3143 order: detach (double fork, setsid between),
 * chroot, prevent core dumps, umask, chdir, drop privileges, signal map, empty
 * signal mask, close every fd not preserved, redirect stdio, readiness fd,
 * write the pidfile. The pidfile is locked before forking.
 * Detached, the original process waits until the daemon is ready (see
 * enum daemonctx_ready_mode), within the timeout. Any failure, in the daemon
 * or while waiting, is returned in the original process (-errno, ERR filled)
 * after making sure no daemon and no pidfile of this attempt remain: an error
 * the daemon reported, its death before it was ready (step "died", the
 * message gives its status), not ready in time (step "timeout": killed).
 * Returns 0 in the daemon; in the original process it does not return on
 * success (unless daemonctx_set_parent_returns(), then 1).
 * While it waits, SIGINT, SIGTERM, SIGHUP and SIGQUIT (unless ignored) end
 * the start: the daemon is killed, the pidfile removed, then the signal takes
 * its course (open() returns step "interrupted", EINTR, if it was handled or
 * is blocked: a caller with cleanup of its own blocks them first).
 * A daemon whose original process is gone before it is up gets -EPIPE (step
 * "report"), its pidfile already removed: it should exit.
 * Calling it on an open context returns 0 and does nothing.
 */
DAEMONCTX_API int daemonctx_open(daemonctx *ctx, daemonctx_error *err);

/* Does nothing and returns 0: a daemon cannot be un-daemonized, and dropping
 * its pidfile early would let a second instance start. The pidfile goes at
 * exit, or through the terminate action. */
DAEMONCTX_API int daemonctx_close(daemonctx *ctx);

/* The PID of the daemon, in either process, after a successful open (0 before). */
DAEMONCTX_API pid_t daemonctx_daemon_pid(const daemonctx *ctx);

/* In the daemon: let the original process go (-EPIPE, step "report", when
 * it is gone: the daemon should exit). In READY_FD mode it also writes the
 * newline on fd N (and closes it); it sends READY=1 and MAINPID to
 * $NOTIFY_SOCKET when set (in READY_OPEN mode, open() sends them itself; the
 * terminate action sends STOPPING=1). */
DAEMONCTX_API int daemonctx_ready(daemonctx *ctx, daemonctx_error *err);

/* In the daemon, before daemonctx_ready(): send ERR to the original process,
 * whose open() returns it. The daemon should exit afterwards. */
DAEMONCTX_API int daemonctx_report_error(daemonctx *ctx, const daemonctx_error *err);

/* In the daemon, READY_NOTIFY mode: execv(PATH, ARGV). The original process
 * counts the daemon ready once the exec has succeeded. Returns only on
 * failure, after reporting it (step "exec") to the original process. */
DAEMONCTX_API int daemonctx_execv(daemonctx *ctx, const char *path, char *const argv[], daemonctx_error *err);

/* Run by daemonctx_open_execve() in the daemon just before the exec: 0, or
 * -errno with ERR filled (the start then fails with that error). */
typedef int (*daemonctx_exec_hook)(void *arg, daemonctx_error *err);

/* daemonctx_open(), then in the daemon BEFORE_EXEC(ARG) (if not NULL) and
 * execve(PATH, ARGV, ENVP): the daemon runs none of the caller's code but
 * BEFORE_EXEC. Detached, that lets it be made as posix_spawn(3) makes a child,
 * without copying the caller's memory (the double fork then copies nothing):
 * BEFORE_EXEC runs in the caller's memory, while the caller waits, so it must
 * keep to async-signal-safe calls, write nothing but its own locals and stay
 * within 128 KiB of stack. The daemon keeps none of the caller's signal
 * handlers (they would run in that memory; exec resets them anyway); the
 * timeout holds meanwhile (a timer kills a daemon not yet executed at the
 * deadline), and SIGINT, SIGTERM, SIGHUP or SIGQUIT received meanwhile end
 * the start once the caller resumes.
 * In the original process it returns like daemonctx_open() (nothing on
 * success, or 1 with daemonctx_set_parent_returns()) once PATH was executed;
 * a failure of any step, of BEFORE_EXEC or of the exec (step "exec") is
 * returned there, with nothing left behind. Not detaching, the process itself
 * becomes the daemon and execs: it returns only on failure (its pidfile
 * removed). Either way the readiness mode is not used: ready means executed. */
DAEMONCTX_API int daemonctx_open_execve(daemonctx *ctx, const char *path, char *const argv[], char *const envp[],
                                       daemonctx_exec_hook before_exec, void *arg, daemonctx_error *err);

/* The terminate action: remove the context's pidfile (if this process holds
 * it) and die of SIGNO with its default action, so the exit status reports the
 * signal. Async-signal-safe. */
DAEMONCTX_API DAEMONCTX_NORETURN void daemonctx_terminate(daemonctx *ctx, int signo);

/* ------------------------------------------------------------ the tree */

/*
 * A daemon's process tree, for stopping it and telling its state, found
 * from its pidfile and PID (0 when it is gone): the cgroup
 * (daemonctx_set_cgroup) named in the pidfile's mark, or the one the PID is
 * in, or the one a start from this process's cgroup would have made; used
 * only if its name is the pidfile's and it bears the pidfile's mark. Without
 * one: PID's descendants (taken now: open the tree before signalling the
 * daemon), its process group and its session when they are its own (not the
 * caller's, not led by a process outside the tree), and what descends from
 * them. Also the runtime directory the pidfile's mark names
 * (daemonctx_set_runtime_directory). NULL with errno (and ERR) on failure.
 */
typedef struct daemonctx_tree daemonctx_tree;
DAEMONCTX_API daemonctx_tree *daemonctx_tree_open(const char *pidfile, pid_t pid, daemonctx_error *err);
/* The cgroup's directory, or NULL when the tree has none. */
DAEMONCTX_API const char *daemonctx_tree_cgroup(const daemonctx_tree *tree);
/* The runtime directory a start of this pidfile made, or NULL. */
DAEMONCTX_API const char *daemonctx_tree_runtime_directory(const daemonctx_tree *tree);
/* The PIDs of the tree's live processes, the first N into PIDS; returns how
 * many there are (more than N: PIDS is short), or -errno. */
DAEMONCTX_API int daemonctx_tree_pids(daemonctx_tree *tree, pid_t *pids, size_t n, daemonctx_error *err);
/* End every process of the tree with SIGKILL: the cgroup's through
 * cgroup.kill (or freezing it, before Linux 5.14), then wait up to
 * TIMEOUT_MS (0: 5000) for it to empty and remove it (and, next to it, the
 * empty cgroups of daemons whose pidfile is gone); without a cgroup, stop
 * each process (SIGSTOP) until none is new, then kill them and wait. A
 * cgroup whose mark cannot be read (-EPERM) is left alone. Not from inside
 * the tree (see daemonctx_end_others). 0 once nothing of the tree runs, or
 * -errno (-ETIMEDOUT: still running). */
DAEMONCTX_API int daemonctx_tree_kill(daemonctx_tree *tree, unsigned timeout_ms, daemonctx_error *err);
/* Remove the runtime directory, if it is still the one its start made: its
 * contents with the rights of its owner (a directory in it that belongs to
 * another user stays, and so does the runtime directory, with -ENOTEMPTY).
 * 0 also when there is none or it is gone. */
DAEMONCTX_API int daemonctx_tree_remove_runtime_directory(daemonctx_tree *tree, daemonctx_error *err);
DAEMONCTX_API void daemonctx_tree_free(daemonctx_tree *tree);

/* In a daemon of daemonctx_open() with a cgroup mode other than NONE (a
 * supervisor whose program ended): end every other process of its tree,
 * the rest of its cgroup or, without one, its descendants (a child
 * subreaper has the orphans of its tree among them), with SIGKILL, and
 * wait up to TIMEOUT_MS (0: 5000) for them; every child of the caller that
 * has ended is reaped, so call it once the statuses that matter were
 * collected. Works from inside a chroot. 0, or -errno (-ETIMEDOUT). */
DAEMONCTX_API int daemonctx_end_others(daemonctx *ctx, unsigned timeout_ms, daemonctx_error *err);
/* A daemon of open() that is done, its tree ended (daemonctx_end_others):
 * back into the parent of its cgroup, which it then removes, so that none
 * stays behind when it exits. 0, also without a cgroup; -errno with ERR. */
DAEMONCTX_API int daemonctx_leave_cgroup(daemonctx *ctx, daemonctx_error *err);

/* Library version, "MAJOR.MINOR.PATCH". */
DAEMONCTX_API const char *daemonctx_version(void);

#ifdef __cplusplus
}
#endif

#endif /* DAEMONCTX_H */
