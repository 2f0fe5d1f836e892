/* _daemonctx: the CPython binding of libdaemonctx (statically linked).
 *
 * A thin layer: the Python package daemonctx (daemonctx/__init__.py) gives the
 * seed's DaemonContext / PidFile / DaemonError API on top of the two types
 * here, Context (a daemonctx) and PidFile (a daemonctx_pidfile).
 *
 * What only C can do is here:
 *   - open() runs daemonctx_open() holding the GIL, wrapped in PyOS_BeforeFork()
 *     and PyOS_AfterFork_Child()/PyOS_AfterFork_Parent() as os.fork() does, so
 *     the interpreter is consistent in the daemon (locks, threading, at-fork
 *     hooks). A failure after the fork comes back from daemonctx_open() in the
 *     original process and is raised there as DaemonError.
 *   - signals mapped to Python callables: the C open sequence installs a tiny
 *     C handler for them that only records the signal ("deferred"), so nothing
 *     sent between the signal-map step and the moment Python's handlers are in
 *     place is lost or kills the daemon with its pidfile still there. open()
 *     then blocks them; release_signals() re-raises what was recorded and
 *     unblocks them once the Python handlers are installed and the original
 *     process has been let go.
 *   - waiting for a pidfile's lock to be released (LockWatch), for the
 *     lockfile-style acquire(timeout) of the daemon package.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "daemonctx.h"

/* ------------------------------------------------------------------ errors */

/* Set by the Python package at import: DaemonError, and the class used for a
 * rejected option value (DaemonError and ValueError at once). */
static PyObject *daemon_error_class;
static PyObject *option_error_class;

static PyObject *make_error(PyObject *cls, const daemonctx_error *err)
{
    if (!cls)
        cls = PyExc_RuntimeError;
    /* Paths in the message may not be UTF-8: decoded as os.fsdecode() does. */
    PyObject *message = PyUnicode_DecodeFSDefault(err->message[0] ? err->message : "daemonctx failed");
    PyObject *args = message ? PyTuple_Pack(1, message) : NULL;
    Py_XDECREF(message);
    PyObject *kwargs = Py_BuildValue("{s:s,s:i,s:i}", "step", daemonctx_step_name(err->step), "errno", err->errnum,
                                     "step_value", (int)err->step);
    PyObject *exc = NULL;
    if (args && kwargs)
        exc = PyObject_Call(cls, args, cls == PyExc_RuntimeError ? NULL : kwargs);
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    return exc;
}

static PyObject *raise_error_with(PyObject *cls, const daemonctx_error *err)
{
    PyObject *exc = make_error(cls, err);
    if (exc) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static PyObject *raise_error(const daemonctx_error *err)
{
    return raise_error_with(daemon_error_class, err);
}

/* The step named STEP; a name the library does not know is the
 * application's own. */
static enum daemonctx_step step_named(const char *step)
{
    for (int i = 1; i < DAEMONCTX_STEP_COUNT; i++)
        if (strcmp(daemonctx_step_name((enum daemonctx_step)i), step) == 0)
            return (enum daemonctx_step)i;
    return DAEMONCTX_STEP_APPLICATION;
}

static void fill_error(daemonctx_error *err, const char *step, int errnum, const char *message)
{
    memset(err, 0, sizeof *err);
    err->errnum = errnum;
    err->step = step_named(step);
    snprintf(err->message, sizeof err->message, "%s", message);
}

/* A setter failed: its reason is in daemonctx_last_error(). */
static PyObject *raise_setter_error(const daemonctx *ctx, int r)
{
    const daemonctx_error *last = daemonctx_last_error(ctx);
    daemonctx_error err;
    if (last && last->errnum)
        err = *last;
    else
        fill_error(&err, "options", -r, strerror(-r));
    return raise_error_with(-r == EBUSY ? daemon_error_class : option_error_class, &err);
}

static PyObject *register_errors(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *base, *option;
    if (!PyArg_ParseTuple(args, "OO:_register_errors", &base, &option))
        return NULL;
    if (!PyType_Check(base) || !PyType_Check(option)) {
        PyErr_SetString(PyExc_TypeError, "_register_errors() takes two exception classes");
        return NULL;
    }
    Py_INCREF(base);
    Py_INCREF(option);
    Py_XSETREF(daemon_error_class, base);
    Py_XSETREF(option_error_class, option);
    Py_RETURN_NONE;
}

/* An id (uid_t/gid_t/mode_t/fd...) from a Python int, range-checked. */
static int parse_unsigned(PyObject *obj, unsigned long max, const char *what, unsigned long *out)
{
    PyObject *index = PyNumber_Index(obj);
    if (!index) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be an integer, not %.100s", what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(index, &overflow);
    Py_DECREF(index);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow || v < 0 || (unsigned long long)v > max) {
        daemonctx_error err;
        char message[DAEMONCTX_MESSAGE_MAX];
        PyObject *repr = PyObject_Repr(obj);
        const char *text = repr ? PyUnicode_AsUTF8(repr) : NULL;
        if (!text)
            text = "?";
        if (strcmp(what, "umask") == 0)
            snprintf(message, sizeof message, "%s %s is out of range (0 to 0o%lo)", what,
                     text, max);
        else
            snprintf(message, sizeof message, "%s %s is out of range (0 to %lu)", what,
                     text, max);
        Py_XDECREF(repr);
        PyErr_Clear();
        fill_error(&err, "options", EINVAL, message);
        raise_error_with(option_error_class, &err);
        return -1;
    }
    *out = (unsigned long)v;
    return 0;
}

/* --------------------------------------------------------- deferred signals */

/* Signals mapped to Python callables, recorded by the C handler the open
 * sequence installs until Python's own handlers replace it. Process-wide, as
 * signal dispositions are. */
static volatile sig_atomic_t deferred_pending[NSIG];

static void defer_signal(int signo)
{
    if (signo > 0 && signo < NSIG)
        deferred_pending[signo] = 1;
}

/* ---------------------------------------------------------------- PidFile */

typedef struct {
    PyObject_HEAD
    daemonctx_pidfile *pf;
} PidFileObject;

static PyTypeObject PidFile_Type;

static PyObject *PidFile_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *path_obj;
    if (kwargs && PyDict_Size(kwargs) > 0) {
        PyErr_SetString(PyExc_TypeError, "PidFile() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O&:PidFile", PyUnicode_FSConverter, &path_obj))
        return NULL;
    const char *path = PyBytes_AS_STRING(path_obj);
    if ((size_t)PyBytes_GET_SIZE(path_obj) != strlen(path)) {
        Py_DECREF(path_obj);
        PyErr_SetString(PyExc_ValueError, "pidfile path contains a NUL byte");
        return NULL;
    }
    daemonctx_pidfile *pf = daemonctx_pidfile_new(path);
    if (!pf) {
        int e = errno;
        PyErr_Format(e == ENOMEM ? PyExc_MemoryError : PyExc_ValueError, "invalid pidfile path %R: %s", path_obj,
                     strerror(e));
        Py_DECREF(path_obj);
        return NULL;
    }
    Py_DECREF(path_obj);
    PidFileObject *self = (PidFileObject *)type->tp_alloc(type, 0);
    if (!self) {
        daemonctx_pidfile_free(pf);
        return NULL;
    }
    self->pf = pf;
    return (PyObject *)self;
}

static void PidFile_dealloc(PyObject *obj)
{
    PidFileObject *self = (PidFileObject *)obj;
    /* Releases (removes the file) only when this process holds it. */
    daemonctx_pidfile_free(self->pf);
    Py_TYPE(obj)->tp_free(obj);
}

static PyObject *PidFile_acquire(PyObject *obj, PyObject *noargs)
{
    (void)noargs;
    PidFileObject *self = (PidFileObject *)obj;
    daemonctx_error err;
    if (daemonctx_pidfile_acquire(self->pf, &err) < 0)
        return raise_error(&err);
    Py_RETURN_NONE;
}

static PyObject *PidFile_release(PyObject *obj, PyObject *noargs)
{
    (void)noargs;
    PidFileObject *self = (PidFileObject *)obj;
    daemonctx_error err;
    if (daemonctx_pidfile_release(self->pf, &err) < 0)
        return raise_error(&err);
    Py_RETURN_NONE;
}

static PyObject *PidFile_fileno(PyObject *obj, PyObject *noargs)
{
    (void)noargs;
    return PyLong_FromLong(daemonctx_pidfile_fd(((PidFileObject *)obj)->pf));
}

static PyObject *PidFile_get_path(PyObject *obj, void *closure)
{
    (void)closure;
    return PyUnicode_DecodeFSDefault(daemonctx_pidfile_path(((PidFileObject *)obj)->pf));
}

static PyMethodDef PidFile_methods[] = {
    {"acquire", PidFile_acquire, METH_NOARGS,
     "Lock the file (created if needed), write this process's PID; DaemonError when held."},
    {"release", PidFile_release, METH_NOARGS, "Remove the file and drop the lock, if this process holds it."},
    {"fileno", PidFile_fileno, METH_NOARGS, "The fd holding the lock, or -1."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef PidFile_getset[] = {
    {"path", PidFile_get_path, NULL, "The pidfile's path.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject PidFile_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "daemonctx._daemonctx.PidFile",
    .tp_basicsize = sizeof(PidFileObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "PidFile(path): a libdaemonctx lock-based pidfile.",
    .tp_new = PidFile_new,
    .tp_dealloc = PidFile_dealloc,
    .tp_methods = PidFile_methods,
    .tp_getset = PidFile_getset,
};

/* ---------------------------------------------------------------- Context */

typedef struct {
    PyObject_HEAD
    daemonctx *ctx;
    PyObject *pidfile; /* the PidFile the context points to (kept alive) */
    sigset_t deferred; /* signals mapped to Python callables */
    bool forked;       /* open() forked: this is the daemon, with a report channel */
    bool signals_released;
    bool ready;
} ContextObject;

/* set_signal() actions */
enum { ACTION_IGNORE = 1, ACTION_DEFAULT = 2, ACTION_PYTHON = 3 };

static PyObject *Context_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (!PyArg_ParseTuple(args, ":Context") || (kwargs && PyDict_Size(kwargs) > 0)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "Context() takes no arguments");
        return NULL;
    }
    daemonctx *ctx = daemonctx_new();
    if (!ctx)
        return PyErr_NoMemory();
    /* The Python side finishes open() in the daemon (signal handlers, a
     * foreign pidfile) before the original process may go: ready(). */
    if (daemonctx_set_ready_mode(ctx, DAEMONCTX_READY_NOTIFY) < 0) {
        daemonctx_free(ctx);
        return PyErr_NoMemory();
    }
    ContextObject *self = (ContextObject *)type->tp_alloc(type, 0);
    if (!self) {
        daemonctx_free(ctx);
        return NULL;
    }
    self->ctx = ctx;
    self->pidfile = NULL;
    sigemptyset(&self->deferred);
    self->forked = false;
    self->signals_released = false;
    self->ready = false;
    return (PyObject *)self;
}

static void Context_dealloc(PyObject *obj)
{
    ContextObject *self = (ContextObject *)obj;
    daemonctx_free(self->ctx);
    Py_CLEAR(self->pidfile);
    Py_TYPE(obj)->tp_free(obj);
}

static PyObject *setter_result(ContextObject *self, int r)
{
    if (r < 0)
        return raise_setter_error(self->ctx, r);
    Py_RETURN_NONE;
}

/* A path option: str, bytes or os.PathLike; None when NULLABLE. */
static PyObject *set_path_option(ContextObject *self, PyObject *arg, bool nullable,
                                 int (*setter)(daemonctx *, const char *), const char *what)
{
    if (arg == Py_None) {
        if (!nullable) {
            PyErr_Format(PyExc_TypeError, "%s must be a path, not None", what);
            return NULL;
        }
        return setter_result(self, setter(self->ctx, NULL));
    }
    PyObject *bytes = NULL;
    if (!PyUnicode_FSConverter(arg, &bytes))
        return NULL;
    const char *path = PyBytes_AS_STRING(bytes);
    if ((size_t)PyBytes_GET_SIZE(bytes) != strlen(path)) {
        Py_DECREF(bytes);
        PyErr_Format(PyExc_ValueError, "%s contains a NUL byte", what);
        return NULL;
    }
    int r = setter(self->ctx, path);
    Py_DECREF(bytes);
    return setter_result(self, r);
}

static PyObject *Context_set_chroot_directory(PyObject *obj, PyObject *arg)
{
    return set_path_option((ContextObject *)obj, arg, true, daemonctx_set_chroot_directory, "chroot_directory");
}

static PyObject *Context_set_working_directory(PyObject *obj, PyObject *arg)
{
    return set_path_option((ContextObject *)obj, arg, false, daemonctx_set_working_directory, "working_directory");
}

static PyObject *Context_set_umask(PyObject *obj, PyObject *arg)
{
    ContextObject *self = (ContextObject *)obj;
    unsigned long v;
    if (parse_unsigned(arg, 0777, "umask", &v) < 0)
        return NULL;
    return setter_result(self, daemonctx_set_umask(self->ctx, (mode_t)v));
}

static PyObject *Context_set_uid(PyObject *obj, PyObject *arg)
{
    ContextObject *self = (ContextObject *)obj;
    unsigned long v;
    if (parse_unsigned(arg, (uid_t)-1 - 1, "uid", &v) < 0)
        return NULL;
    return setter_result(self, daemonctx_set_uid(self->ctx, (uid_t)v));
}

static PyObject *Context_set_gid(PyObject *obj, PyObject *arg)
{
    ContextObject *self = (ContextObject *)obj;
    unsigned long v;
    if (parse_unsigned(arg, (gid_t)-1 - 1, "gid", &v) < 0)
        return NULL;
    return setter_result(self, daemonctx_set_gid(self->ctx, (gid_t)v));
}

static PyObject *Context_set_prevent_core(PyObject *obj, PyObject *arg)
{
    ContextObject *self = (ContextObject *)obj;
    int truth = PyObject_IsTrue(arg);
    if (truth < 0)
        return NULL;
    return setter_result(self, daemonctx_set_prevent_core(self->ctx, truth != 0));
}

/* None: decided at open; otherwise its truth value. */
static PyObject *Context_set_detach_process(PyObject *obj, PyObject *arg)
{
    ContextObject *self = (ContextObject *)obj;
    enum daemonctx_detach detach = DAEMONCTX_DETACH_AUTO;
    if (arg != Py_None) {
        int truth = PyObject_IsTrue(arg);
        if (truth < 0)
            return NULL;
        detach = truth ? DAEMONCTX_DETACH_YES : DAEMONCTX_DETACH_NO;
    }
    return setter_result(self, daemonctx_set_detach_process(self->ctx, detach));
}

static PyObject *Context_set_files_preserve(PyObject *obj, PyObject *arg)
{
    ContextObject *self = (ContextObject *)obj;
    PyObject *seq = PySequence_Fast(arg, "files_preserve must be a sequence of fds");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    int *fds = PyMem_New(int, n > 0 ? (size_t)n : 1);
    if (!fds) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned long v;
        if (parse_unsigned(PySequence_Fast_GET_ITEM(seq, i), INT_MAX, "files_preserve fd", &v) < 0) {
            PyMem_Free(fds);
            Py_DECREF(seq);
            return NULL;
        }
        fds[i] = (int)v;
    }
    int r = daemonctx_set_files_preserve(self->ctx, fds, (size_t)n);
    PyMem_Free(fds);
    Py_DECREF(seq);
    return setter_result(self, r);
}

/* set_stdio(which, fd): which 0, 1, 2; fd -1 for /dev/null. */
static PyObject *Context_set_stdio(PyObject *obj, PyObject *args)
{
    ContextObject *self = (ContextObject *)obj;
    int which, fd;
    if (!PyArg_ParseTuple(args, "ii:set_stdio", &which, &fd))
        return NULL;
    switch (which) {
    case 0:
        return setter_result(self, daemonctx_set_stdin(self->ctx, fd));
    case 1:
        return setter_result(self, daemonctx_set_stdout(self->ctx, fd));
    case 2:
        return setter_result(self, daemonctx_set_stderr(self->ctx, fd));
    default:
        PyErr_SetString(PyExc_ValueError, "set_stdio: which must be 0, 1 or 2");
        return NULL;
    }
}

/* set_signal(signo, action): ACTION_IGNORE, ACTION_DEFAULT, or ACTION_PYTHON
 * (a Python callable the Python side installs after the C open; until then
 * the signal is recorded by defer_signal). */
static PyObject *Context_set_signal(PyObject *obj, PyObject *args)
{
    ContextObject *self = (ContextObject *)obj;
    PyObject *signo_obj;
    int action;
    if (!PyArg_ParseTuple(args, "Oi:set_signal", &signo_obj, &action))
        return NULL;
    unsigned long signo;
    if (parse_unsigned(signo_obj, INT_MAX, "signal_map: signal number", &signo) < 0)
        return NULL;
    int r;
    switch (action) {
    case ACTION_IGNORE:
        r = daemonctx_set_signal(self->ctx, (int)signo, DAEMONCTX_SIGNAL_IGNORE, NULL);
        break;
    case ACTION_DEFAULT:
        r = daemonctx_set_signal(self->ctx, (int)signo, DAEMONCTX_SIGNAL_DEFAULT, NULL);
        break;
    case ACTION_PYTHON:
        r = daemonctx_set_signal(self->ctx, (int)signo, DAEMONCTX_SIGNAL_HANDLER, defer_signal);
        break;
    default:
        PyErr_Format(PyExc_ValueError, "set_signal: unknown action %d", action);
        return NULL;
    }
    if (r < 0)
        return raise_setter_error(self->ctx, r);
    if (action == ACTION_PYTHON)
        sigaddset(&self->deferred, (int)signo);
    else
        sigdelset(&self->deferred, (int)signo);
    Py_RETURN_NONE;
}

static PyObject *Context_clear_signal_map(PyObject *obj, PyObject *noargs)
{
    (void)noargs;
    ContextObject *self = (ContextObject *)obj;
    int r = daemonctx_clear_signal_map(self->ctx);
    if (r < 0)
        return raise_setter_error(self->ctx, r);
    sigemptyset(&self->deferred);
    Py_RETURN_NONE;
}

static PyObject *Context_set_pidfile(PyObject *obj, PyObject *arg)
{
    ContextObject *self = (ContextObject *)obj;
    if (arg != Py_None && !PyObject_TypeCheck(arg, &PidFile_Type)) {
        PyErr_SetString(PyExc_TypeError, "set_pidfile() takes a _daemonctx.PidFile or None");
        return NULL;
    }
    int r = daemonctx_set_pidfile(self->ctx, arg == Py_None ? NULL : ((PidFileObject *)arg)->pf);
    if (r < 0)
        return raise_setter_error(self->ctx, r);
    if (arg == Py_None) {
        Py_CLEAR(self->pidfile);
    } else {
        Py_INCREF(arg);
        Py_XSETREF(self->pidfile, arg);
    }
    Py_RETURN_NONE;
}

static PyObject *Context_set_timeout_ms(PyObject *obj, PyObject *arg)
{
    ContextObject *self = (ContextObject *)obj;
    unsigned long v;
    if (parse_unsigned(arg, UINT_MAX, "timeout", &v) < 0)
        return NULL;
    return setter_result(self, daemonctx_set_timeout_ms(self->ctx, (unsigned)v));
}

static PyObject *Context_get_working_directory(PyObject *obj, PyObject *noargs)
{
    (void)noargs;
    ContextObject *self = (ContextObject *)obj;
    char buf[8192];
    int n = daemonctx_get_working_directory(self->ctx, buf, sizeof buf);
    if (n < 0) {
        errno = -n;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyUnicode_DecodeFSDefaultAndSize(buf, n);
}

/* (fork: bool, reason: str) */
static PyObject *Context_detach_decision(PyObject *obj, PyObject *noargs)
{
    (void)noargs;
    ContextObject *self = (ContextObject *)obj;
    const char *reason = "";
    int r = daemonctx_detach_decision(self->ctx, &reason);
    if (r < 0) {
        errno = -r;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return Py_BuildValue("(Ns)", PyBool_FromLong(r), reason);
}

/*
 * open(): daemonctx_open(). Returns True in a forked daemon, False when it did
 * not fork (this same process is the daemon); raises DaemonError in the
 * original process on any failure, before or after the fork. In the original
 * process it does not return on success (daemonctx_open() ends it with _exit(0),
 * as PEP 3143 requires). The signals mapped to Python callables are blocked on
 * return: see release_signals().
 */
static PyObject *Context_open(PyObject *obj, PyObject *noargs)
{
    (void)noargs;
    ContextObject *self = (ContextObject *)obj;
    if (daemonctx_is_open(self->ctx))
        Py_RETURN_FALSE;
    for (int s = 1; s < NSIG; s++)
        deferred_pending[s] = 0;
    bool will_fork = daemonctx_detach_decision(self->ctx, NULL) == 1;
    pid_t before = getpid();
    daemonctx_error err;
    /* The GIL stays held across the fork, as os.fork() does: the daemon's
     * only thread is then the one that owns it. */
    if (will_fork)
        PyOS_BeforeFork();
    int r = daemonctx_open(self->ctx, &err);
    bool in_daemon = getpid() != before;
    if (will_fork) {
        if (in_daemon)
            PyOS_AfterFork_Child();
        else
            PyOS_AfterFork_Parent();
    }
    if (r < 0)
        return raise_error(&err);
    /* Until the Python handlers are installed. */
    (void)pthread_sigmask(SIG_BLOCK, &self->deferred, NULL);
    self->forked = in_daemon;
    return PyBool_FromLong(in_daemon);
}

/* In the daemon: let the original process go (it exits with status 0), and
 * tell a service manager (NOTIFY_SOCKET) that the daemon is ready, as
 * daemonctx_open() does by itself in its default ready mode. */
static PyObject *Context_ready(PyObject *obj, PyObject *noargs)
{
    (void)noargs;
    ContextObject *self = (ContextObject *)obj;
    if (daemonctx_is_open(self->ctx) && !self->ready) {
        daemonctx_error err;
        /* Only a NOTIFY_SOCKET notification can fail here, after the
         * original process was released: nobody to report it to. */
        (void)daemonctx_ready(self->ctx, &err);
        self->ready = true;
        self->forked = false;
    }
    Py_RETURN_NONE;
}

/* In a forked daemon, before ready(): make the original process's open()
 * fail with this error. The daemon must exit afterwards. */
static PyObject *Context_report_error(PyObject *obj, PyObject *args)
{
    ContextObject *self = (ContextObject *)obj;
    const char *step, *message;
    int errnum;
    if (!PyArg_ParseTuple(args, "sis:report_error", &step, &errnum, &message))
        return NULL;
    if (!self->forked)
        Py_RETURN_FALSE;
    daemonctx_error err;
    fill_error(&err, step, errnum, message);
    int r = daemonctx_report_error(self->ctx, &err);
    self->forked = false;
    return PyBool_FromLong(r == 0);
}

/* After the Python handlers are installed: re-raise the deferred signals
 * that arrived meanwhile and unblock them; the Python handlers run now. */
static PyObject *Context_release_signals(PyObject *obj, PyObject *noargs)
{
    (void)noargs;
    ContextObject *self = (ContextObject *)obj;
    if (self->signals_released)
        Py_RETURN_NONE;
    self->signals_released = true;
    for (int s = 1; s < NSIG; s++)
        if (sigismember(&self->deferred, s) == 1 && deferred_pending[s]) {
            deferred_pending[s] = 0;
            (void)raise(s); /* blocked: pending until the unblock below */
        }
    (void)pthread_sigmask(SIG_UNBLOCK, &self->deferred, NULL);
    if (PyErr_CheckSignals() < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Context_get_is_open(PyObject *obj, void *closure)
{
    (void)closure;
    return PyBool_FromLong(daemonctx_is_open(((ContextObject *)obj)->ctx));
}

static PyObject *Context_get_daemon_pid(PyObject *obj, void *closure)
{
    (void)closure;
    return PyLong_FromLong((long)daemonctx_daemon_pid(((ContextObject *)obj)->ctx));
}

static PyMethodDef Context_methods[] = {
    {"set_chroot_directory", Context_set_chroot_directory, METH_O, NULL},
    {"set_working_directory", Context_set_working_directory, METH_O, NULL},
    {"set_umask", Context_set_umask, METH_O, NULL},
    {"set_uid", Context_set_uid, METH_O, NULL},
    {"set_gid", Context_set_gid, METH_O, NULL},
    {"set_prevent_core", Context_set_prevent_core, METH_O, NULL},
    {"set_detach_process", Context_set_detach_process, METH_O, NULL},
    {"set_files_preserve", Context_set_files_preserve, METH_O, NULL},
    {"set_stdio", Context_set_stdio, METH_VARARGS, NULL},
    {"set_signal", Context_set_signal, METH_VARARGS, NULL},
    {"clear_signal_map", Context_clear_signal_map, METH_NOARGS, NULL},
    {"set_pidfile", Context_set_pidfile, METH_O, NULL},
    {"set_timeout_ms", Context_set_timeout_ms, METH_O, NULL},
    {"get_working_directory", Context_get_working_directory, METH_NOARGS, NULL},
    {"detach_decision", Context_detach_decision, METH_NOARGS, NULL},
    {"open", Context_open, METH_NOARGS, NULL},
    {"ready", Context_ready, METH_NOARGS, NULL},
    {"report_error", Context_report_error, METH_VARARGS, NULL},
    {"release_signals", Context_release_signals, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Context_getset[] = {
    {"is_open", Context_get_is_open, NULL, "Whether open() succeeded in this process.", NULL},
    {"daemon_pid", Context_get_daemon_pid, NULL, "The daemon's PID after open (0 before).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Context_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "daemonctx._daemonctx.Context",
    .tp_basicsize = sizeof(ContextObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Context(): a libdaemonctx daemon context (see daemonctx.DaemonContext).",
    .tp_new = Context_new,
    .tp_dealloc = Context_dealloc,
    .tp_methods = Context_methods,
    .tp_getset = Context_getset,
};

/* -------------------------------------------------------------- LockWatch */

/*
 * Waiting until a pidfile's lock is released, without a busy loop. Nothing
 * waits for an flock to be free short of taking it (and a probing lock would
 * make a concurrent starter fail), so:
 *   - /proc/locks says whether the inode is flock()ed, without touching it;
 *   - an inotify watch on the inode wakes the waiter when a holder closes it
 *     (the lock goes with the last close of its open file description),
 *     unlinks it (the library's release) or replaces it.
 * The events of the waiter's own failed attempt (it opens and closes the
 * file) are discarded before each wait: the lock is checked after that. A
 * close event comes just before the kernel drops the lock (in __fput(),
 * fsnotify_close() precedes locks_remove_file()), so after one the checks
 * are repeated for a while (1, 2, 4 ... 128 ms). A holder that unlocks
 * without closing (flock -u) sends no event: a check every second notices
 * it; so does it a close by a holder that opened the file read-only. Should
 * /proc/locks keep saying "free" while attempts find the lock held (a file
 * system whose stat() shows another device than its locks), it is not read
 * any more: then events and the check every second wake the caller.
 */
#define WATCH_MAX_MISSES 3

#define WATCH_EVENTS (IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
#define WATCH_RECHECK_MS 1000
#define WATCH_BACKOFF_MAX_MS 128

typedef struct {
    PyObject_HEAD
    PyObject *path; /* bytes */
    int ifd;        /* the inotify instance */
    int wd;         /* the watch, -1 when none */
    dev_t dev;      /* the inode watched */
    ino_t ino;
    int backoff_ms; /* the cap of the next wait after a close event, 0: none */
    bool said_free; /* the last wait returned because /proc/locks said "free" */
    int misses;     /* times in a row an attempt then found it held all the same */
} LockWatchObject;

static PyTypeObject LockWatch_Type;

static PyObject *LockWatch_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *path = NULL;
    if ((kwargs && PyDict_Size(kwargs) > 0) || !PyArg_ParseTuple(args, "O&:LockWatch", PyUnicode_FSConverter, &path)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "LockWatch() takes one path");
        return NULL;
    }
    if ((size_t)PyBytes_GET_SIZE(path) != strlen(PyBytes_AS_STRING(path))) {
        Py_DECREF(path);
        PyErr_SetString(PyExc_ValueError, "pidfile path contains a NUL byte");
        return NULL;
    }
    int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ifd < 0) {
        Py_DECREF(path);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    LockWatchObject *self = (LockWatchObject *)type->tp_alloc(type, 0);
    if (!self) {
        close(ifd);
        Py_DECREF(path);
        return NULL;
    }
    self->path = path;
    self->ifd = ifd;
    self->wd = -1;
    self->backoff_ms = 0;
    self->said_free = false;
    self->misses = 0;
    return (PyObject *)self;
}

static void LockWatch_close_fd(LockWatchObject *self)
{
    if (self->ifd >= 0)
        close(self->ifd);
    self->ifd = -1;
    self->wd = -1;
}

static void LockWatch_dealloc(PyObject *obj)
{
    LockWatchObject *self = (LockWatchObject *)obj;
    LockWatch_close_fd(self);
    Py_CLEAR(self->path);
    Py_TYPE(obj)->tp_free(obj);
}

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether the watch is on the inode PATH names now; when not, move it there.
 * Returns 1 when it moved (or the file is gone): worth an attempt at once;
 * -1 with an exception set. */
static int LockWatch_follow(LockWatchObject *self)
{
    const char *path = PyBytes_AS_STRING(self->path);
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno != ENOENT) {
            PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, self->path);
            return -1;
        }
        if (self->wd >= 0)
            (void)inotify_rm_watch(self->ifd, self->wd);
        self->wd = -1;
        return 1;
    }
    if (self->wd >= 0 && st.st_dev == self->dev && st.st_ino == self->ino)
        return 0;
    if (self->wd >= 0)
        (void)inotify_rm_watch(self->ifd, self->wd);
    /* Replaced between the lstat and here, the watch is on the newer inode
     * and the next wait moves it again: its replacement is an event. */
    self->wd = inotify_add_watch(self->ifd, path, WATCH_EVENTS | IN_DONT_FOLLOW);
    if (self->wd < 0 && errno != ENOENT) {
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, self->path);
        return -1;
    }
    self->dev = st.st_dev;
    self->ino = st.st_ino;
    self->backoff_ms = 0;
    return 1;
}

/* Reads what the watch queued; whether a close was among it. */
static bool LockWatch_drain(LockWatchObject *self)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool closed = false;
    ssize_t n;
    while ((n = read(self->ifd, buf, sizeof buf)) > 0)
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            closed |= (ev->mask & IN_CLOSE) != 0;
            p += sizeof *ev + ev->len;
        }
    return closed;
}

/* Whether an flock is held on DEV:INO, from /proc/locks ("1: FLOCK ADVISORY
 * WRITE 1234 08:01:5678 0 EOF"; a waiter's line has "->"): 1 held, 0 not,
 * -1 when /proc/locks cannot tell. */
static int flock_held(dev_t dev, ino_t ino)
{
    FILE *f = fopen("/proc/locks", "re");
    if (!f)
        return -1;
    char line[256];
    int held = 0;
    while (!held && fgets(line, sizeof line, f)) {
        char kind[16];
        unsigned maj, min;
        unsigned long long lino;
        if (strstr(line, "->") ||
            sscanf(line, "%*d: %15s %*s %*s %*d %x:%x:%llu", kind, &maj, &min, &lino) != 4)
            continue;
        held = strcmp(kind, "FLOCK") == 0 && maj == major(dev) && min == minor(dev) &&
               lino == (unsigned long long)ino;
    }
    fclose(f);
    return held;
}

/* wait(timeout=None) -> bool: True when the caller should try to acquire
 * again (the lock was released, the path names another inode or none, or,
 * when /proc/locks cannot tell, something happened to the file); False once
 * TIMEOUT seconds passed without that. None waits without limit.
 * Interrupted by a signal whose Python handler raises. */
static PyObject *LockWatch_wait(PyObject *obj, PyObject *args)
{
    LockWatchObject *self = (LockWatchObject *)obj;
    PyObject *timeout_obj = Py_None;
    if (!PyArg_ParseTuple(args, "|O:wait", &timeout_obj))
        return NULL;
    long long deadline = -1;
    if (timeout_obj != Py_None) {
        double timeout = PyFloat_AsDouble(timeout_obj);
        if (timeout == -1.0 && PyErr_Occurred())
            return NULL;
        if (!(timeout >= 0) || timeout > 1e9) {
            PyErr_SetString(PyExc_ValueError, "wait(): timeout must be None or between 0 and 1e9 seconds");
            return NULL;
        }
        /* rounded up: a wait never ends before its timeout */
        deadline = monotonic_ms() + (long long)(timeout * 1000 + 0.999);
    }
    if (self->ifd < 0) {
        PyErr_SetString(PyExc_ValueError, "wait() on a closed LockWatch");
        return NULL;
    }
    int moved = LockWatch_follow(self);
    if (moved != 0) {
        self->said_free = false;
        return moved < 0 ? NULL : Py_NewRef(Py_True);
    }
    /* The caller's failed attempt, and whatever came before it: the lock is
     * checked from here on. */
    (void)LockWatch_drain(self);
    self->backoff_ms = 0;
    if (self->misses < WATCH_MAX_MISSES)
        self->misses = self->said_free ? self->misses + 1 : 0;
    self->said_free = false;
    for (;;) {
        /* A signal that came outside poll() (it restarts nothing then) is
         * handled here, at the latest one re-check later. */
        if (PyErr_CheckSignals() < 0)
            return NULL;
        int held = self->misses >= WATCH_MAX_MISSES ? -1 : flock_held(self->dev, self->ino);
        if (held == 0) {
            self->said_free = true;
            Py_RETURN_TRUE;
        }
        long long left = deadline < 0 ? LLONG_MAX : deadline - monotonic_ms();
        if (left <= 0)
            Py_RETURN_FALSE;
        int cap = self->backoff_ms ? self->backoff_ms : WATCH_RECHECK_MS;
        int ms = left < cap ? (int)left : cap;
        struct pollfd p = {.fd = self->ifd, .events = POLLIN};
        int n, e;
        Py_BEGIN_ALLOW_THREADS
        n = poll(&p, 1, ms);
        e = errno;
        Py_END_ALLOW_THREADS
        if (n < 0) {
            if (e != EINTR) {
                errno = e;
                return PyErr_SetFromErrno(PyExc_OSError);
            }
            continue;
        }
        if (n > 0) {
            bool closed = LockWatch_drain(self);
            moved = LockWatch_follow(self);
            if (moved != 0 || held < 0)
                return moved < 0 ? NULL : Py_NewRef(Py_True);
            if (closed)
                self->backoff_ms = 1;
            continue;
        }
        if (ms == left)
            Py_RETURN_FALSE;
        if (held < 0)
            Py_RETURN_TRUE;
        if (self->backoff_ms)
            self->backoff_ms = self->backoff_ms >= WATCH_BACKOFF_MAX_MS ? 0 : self->backoff_ms * 2;
    }
}

static PyObject *LockWatch_close(PyObject *obj, PyObject *noargs)
{
    (void)noargs;
    LockWatch_close_fd((LockWatchObject *)obj);
    Py_RETURN_NONE;
}

static PyMethodDef LockWatch_methods[] = {
    {"wait", LockWatch_wait, METH_VARARGS,
     "wait(timeout=None) -> bool: False when TIMEOUT seconds passed with nothing that may have released the lock."},
    {"close", LockWatch_close, METH_NOARGS, "Close the inotify instance."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LockWatch_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "daemonctx._daemonctx.LockWatch",
    .tp_basicsize = sizeof(LockWatchObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "LockWatch(path): wakes a waiter when the lock of the pidfile at PATH may have been released.",
    .tp_new = LockWatch_new,
    .tp_dealloc = LockWatch_dealloc,
    .tp_methods = LockWatch_methods,
};

/* ----------------------------------------------------------------- module */

/* inspect(path) -> (state, pid): what a pidfile says, from its lock. */
static PyObject *module_inspect(PyObject *module, PyObject *arg)
{
    (void)module;
    PyObject *bytes = NULL;
    if (!PyUnicode_FSConverter(arg, &bytes))
        return NULL;
    pid_t pid = 0;
    daemonctx_error err;
    int r = daemonctx_pidfile_inspect(PyBytes_AS_STRING(bytes), &pid, &err);
    Py_DECREF(bytes);
    if (r < 0)
        return raise_error(&err);
    return Py_BuildValue("(il)", r, (long)pid);
}

static PyObject *module_version(PyObject *module, PyObject *noargs)
{
    (void)module;
    (void)noargs;
    return PyUnicode_FromString(daemonctx_version());
}

static PyObject *module_step_names(PyObject *module, PyObject *noargs)
{
    (void)module;
    (void)noargs;
    PyObject *names = PyTuple_New(DAEMONCTX_STEP_COUNT);
    if (!names)
        return NULL;
    for (int i = 0; i < DAEMONCTX_STEP_COUNT; i++) {
        PyObject *name = PyUnicode_FromString(daemonctx_step_name((enum daemonctx_step)i));
        if (!name) {
            Py_DECREF(names);
            return NULL;
        }
        PyTuple_SET_ITEM(names, i, name);
    }
    return names;
}

static PyMethodDef module_methods[] = {
    {"_register_errors", register_errors, METH_VARARGS, "Set the exception classes raised by this module."},
    {"inspect", module_inspect, METH_O, "inspect(path) -> (state, pid) of a pidfile, decided from its lock."},
    {"version", module_version, METH_NOARGS, "The libdaemonctx version."},
    {"step_names", module_step_names, METH_NOARGS, "The names of the steps, indexed by their values."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "daemonctx._daemonctx",
    .m_doc = "The C core of the daemonctx package: libdaemonctx, statically linked.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__daemonctx(void);

PyMODINIT_FUNC PyInit__daemonctx(void)
{
    if (PyType_Ready(&PidFile_Type) < 0 || PyType_Ready(&Context_Type) < 0 || PyType_Ready(&LockWatch_Type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    if (PyModule_AddObjectRef(m, "PidFile", (PyObject *)&PidFile_Type) < 0 ||
        PyModule_AddObjectRef(m, "Context", (PyObject *)&Context_Type) < 0 ||
        PyModule_AddObjectRef(m, "LockWatch", (PyObject *)&LockWatch_Type) < 0 ||
        PyModule_AddIntConstant(m, "ACTION_IGNORE", ACTION_IGNORE) < 0 ||
        PyModule_AddIntConstant(m, "ACTION_DEFAULT", ACTION_DEFAULT) < 0 ||
        PyModule_AddIntConstant(m, "ACTION_PYTHON", ACTION_PYTHON) < 0 ||
        PyModule_AddIntConstant(m, "PIDFILE_ABSENT", DAEMONCTX_PIDFILE_ABSENT) < 0 ||
        PyModule_AddIntConstant(m, "PIDFILE_STALE", DAEMONCTX_PIDFILE_STALE) < 0 ||
        PyModule_AddIntConstant(m, "PIDFILE_RUNNING", DAEMONCTX_PIDFILE_RUNNING) < 0 ||
        PyModule_AddIntConstant(m, "PIDFILE_STARTING", DAEMONCTX_PIDFILE_STARTING) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
