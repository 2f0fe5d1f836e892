"""python-daemon's ``daemon.daemon`` module, on the libdaemonctx C core.

``DaemonContext`` has python-daemon 3's options, attributes, methods and
semantics; the daemon side of ``open()`` is libdaemonctx's, so where
python-daemon was wrong this one is right:

- a failure after the fork raises in the invoking process, as the exception
  the daemon would have raised (AlreadyLocked or LockTimeout for a held
  pidfile, LockFailed for an unusable one, DaemonOSEnvironmentError for a
  failed step, DaemonProcessDetachError for a failed fork), naming the culprit;
  nothing is left behind: no daemon, no pidfile. The invoking process exits
  (status 0) only once the daemon is up and its pidfile holds its PID;
- a daemon.pidfile pidfile is locked before the fork; a stale one (its holder
  gone) is taken over; fds are closed at a cost that follows the open fds,
  not RLIMIT_NOFILE;
- dropping privileges sets the supplementary groups of ``uid`` (python-daemon
  kept root's, and with ``initgroups`` kept group 0), the gid and the uid, and
  checks that root cannot be regained;
- a process that is PID 1 is never detached (forking and exiting would end a
  container).

The module-level helpers python-daemon documents are here too, acting on the
calling process.
"""
from __future__ import annotations

import atexit
import errno
import os
import signal
import stat
import sys

import daemonctx
from daemonctx import _daemonctx

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Mapping
    from types import FrameType, TracebackType
    from typing import Any, Union

    from daemon.pidfile import PIDLockFile

    Handler = Union[Callable[[int, Union[FrameType, None]], Any], int, signal.Handlers, None]


class DaemonError(daemonctx.DaemonError):
    """Base class of the errors of this module; also a daemonctx.DaemonError,
    with ``step``, ``errno`` and ``message``."""


class DaemonOSEnvironmentError(DaemonError, OSError):
    """Setting up the daemon's environment failed (an option, chroot, chdir,
    the process owner, fds, stdio, signals): before or after the fork."""

    errno: int


class DaemonProcessDetachError(DaemonError, OSError):
    """Detaching the process failed (fork, setsid)."""

    errno: int


# How long the invoking process waits for the daemon to be up (then it is
# killed and open() fails): what runs in the daemon after the C side is the
# signal handlers and a pidfile object's __enter__, which may wait for a lock.
_START_TIMEOUT_MS = 60000


def _environment_error(message: str, errnum: int = errno.EINVAL, step: str = 'options') -> DaemonOSEnvironmentError:
    return DaemonOSEnvironmentError(message, step=step, errno=errnum)


class DaemonContext:
    """Context for turning the current program into a daemon process.

    Each option (``chroot_directory``, ``working_directory``, ``umask``,
    ``uid``, ``gid``, ``initgroups``, ``prevent_core``, ``detach_process``,
    ``files_preserve``, ``pidfile``, ``stdin``, ``stdout``, ``stderr``,
    ``signal_map``) is a keyword of the constructor and a plain attribute,
    read when open() is called. Defaults as python-daemon's: ``uid``/``gid``
    the real ids, ``detach_process`` decided now
    (is_detach_process_context_required()), ``signal_map``
    make_default_signal_map(). Paths are as python-daemon resolves them: the
    working directory inside the new root, a relative pidfile path in the
    working directory.
    """

    def __init__(self, chroot_directory: str | None = None, working_directory: str = '/', umask: int = 0,
                 uid: int | None = None, gid: int | None = None, initgroups: bool = False,
                 prevent_core: bool = True, detach_process: bool | None = None,
                 files_preserve: list[Any] | None = None, pidfile: Any = None, stdin: Any = None,
                 stdout: Any = None, stderr: Any = None, signal_map: dict[int, Any] | None = None) -> None:
        self.chroot_directory = chroot_directory
        self.working_directory = working_directory
        self.umask = umask
        self.prevent_core = prevent_core
        self.files_preserve = files_preserve
        self.pidfile = pidfile
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.uid = os.getuid() if uid is None else uid
        self.gid = os.getgid() if gid is None else gid
        self.initgroups = initgroups
        self.detach_process = is_detach_process_context_required() if detach_process is None else detach_process
        self.signal_map = make_default_signal_map() if signal_map is None else signal_map
        self._is_open = False
        self._opened_by = 0

    @property
    def is_open(self) -> bool:
        """True once open() has succeeded, until close()."""
        return self._is_open

    def open(self) -> None:
        """Become a daemon process (nothing to do when already open).

        In the invoking process everything that can be checked is checked
        first (the options, the signal map, the pidfile's lock, waiting as
        its acquire() would); then the double fork (unless
        ``detach_process`` is false), and in the daemon: chroot, core dumps
        off, umask, chdir, privileges, the signal handlers, every fd closed
        but ``files_preserve`` and the streams' own, stdin/stdout/stderr
        onto the streams' fds (or /dev/null), the pidfile entered, close()
        registered to run at exit. The invoking process then exits with
        status 0; a failure of any step raises there instead, leaving no
        daemon and no pidfile.
        """
        if self._is_open:
            return
        ctx = _daemonctx.Context()
        ctx.set_timeout_ms(_START_TIMEOUT_MS)
        self._configure(ctx)
        handlers = self._make_signal_handler_map()
        _set_signals(ctx, handlers)
        lock = _lock_based(self.pidfile)
        if lock is not None:
            pidfile = lock._lock_for(_pidfile_path_outside(lock.path, ctx, self.chroot_directory))
            ctx.set_pidfile(pidfile)
        elif self.pidfile is not None and not (callable(getattr(self.pidfile, '__enter__', None)) and
                                               callable(getattr(self.pidfile, '__exit__', None))):
            raise _environment_error('pidfile {0!r} is not a context manager (no __enter__ and __exit__)'.format(
                self.pidfile))
        _flush(sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__, self.stdout, self.stderr)
        try:
            if lock is None:
                forked = ctx.open()
            else:
                from daemon.pidfile import acquire_waiting

                forked = acquire_waiting(ctx.open, pidfile.path, lock._default_timeout())
        except daemonctx.DaemonError as exc:
            raise _translate(exc, None if lock is not None else self.pidfile) from None
        # The daemon (or, not detached, this same process).
        self._enter_daemon(ctx, handlers, forked, lock is None)
        self._ctx = ctx
        self._opened_by = os.getpid()
        self._is_open = True
        register_atexit_function(self.close)
        # Signals that came during open() are handled now, by a context that
        # is open: a SIGTERM then exits through close().
        ctx.release_signals()

    def _configure(self, ctx: _daemonctx.Context) -> None:
        """Pass the options to CTX, which checks them: a bad value is refused
        here, before anything forks."""
        chroot = self.chroot_directory
        if chroot is not None:
            chroot = _option_path('chroot_directory', chroot)
            _set(ctx.set_chroot_directory, chroot, 'chroot_directory')
        wd = _option_path('working_directory', self.working_directory, chroot is None)
        # Inside the new root: joined to it, the library takes it as is.
        _set(ctx.set_working_directory, wd if chroot is None else _join(chroot, wd), 'working_directory')
        _set(ctx.set_umask, self.umask, 'umask')
        _set(ctx.set_uid, self.uid, 'uid')
        _set(ctx.set_gid, self.gid, 'gid')
        _set(ctx.set_prevent_core, bool(self.prevent_core), 'prevent_core')
        _set(ctx.set_detach_process, bool(self.detach_process), 'detach_process')
        for which, name in enumerate(('stdin', 'stdout', 'stderr')):
            target = getattr(self, name)
            fd = -1 if target is None else _get_file_descriptor(target)
            if fd is None:
                raise _environment_error('{0}: {1!r} has no file descriptor'.format(name, target))
            _set(_stdio_setter(ctx, which), fd, name)
        # Fds 0-2 are always redirected, as python-daemon redirects them
        # whatever files_preserve says.
        _set(ctx.set_files_preserve, sorted(fd for fd in self._get_exclude_file_descriptors() if fd > 2),
             'files_preserve')

    def _get_exclude_file_descriptors(self) -> set[int]:
        """The fds not to close: those of ``files_preserve`` (fds or objects
        with fileno(); None items are skipped) and of the stream objects."""
        items = list(self.files_preserve or ())
        items.extend(s for s in (self.stdin, self.stdout, self.stderr) if hasattr(s, 'fileno'))
        fds = set()
        for item in items:
            if item is None:
                continue
            fd = _get_file_descriptor(item)
            if fd is None or fd < 0:
                raise _environment_error('files_preserve: {0!r} is not a file descriptor nor a file with '
                                         'one'.format(item))
            fds.add(fd)
        return fds

    def _make_signal_handler(self, target: Any) -> Handler:
        """The handler for a ``signal_map`` value: None is SIG_IGN, a string
        names an attribute of this context (AttributeError when it has none),
        anything else is used as it is."""
        if target is None:
            return signal.SIG_IGN
        handler: Handler = getattr(self, target) if isinstance(target, str) else target
        return handler

    def _make_signal_handler_map(self) -> dict[int, Handler]:
        """``signal_map`` with its values made handlers."""
        return {signum: self._make_signal_handler(target) for signum, target in self.signal_map.items()}

    def _enter_daemon(self, ctx: _daemonctx.Context, handlers: Mapping[int, Handler], forked: bool,
                      enter_pidfile: bool) -> None:
        """In the daemon, what the C side left to Python: the signal
        handlers, then a pidfile object that is not daemon.pidfile's. Its
        failure goes to the invoking process, whose open() raises it; then
        the invoking process may go."""
        # signal.signal() itself would convert the handler and the previous
        # one to enums (an exception for a callable): after the fork every
        # object it touches costs a copy-on-write fault, about 0.5 ms before
        # the daemon is ready. Its C function takes plain ints (SIG_IGN,
        # SIG_DFL) or callables.
        import _signal  # type: ignore[import]

        step = 'signals'
        try:
            # Ignored and default ones are already in place (the C side set
            # them): set again, the signal module's view matches.
            for signum, handler in handlers.items():
                _signal.signal(int(signum), int(handler) if isinstance(handler, int) else handler)
            if enter_pidfile and self.pidfile is not None:
                step = 'pidfile'
                self.pidfile.__enter__()
        except BaseException as exc:
            step, errnum, message = _daemon_failure(step, exc, self.pidfile)
            if forked:
                ctx.report_error(step, errnum, message)
                os._exit(1)
            raise _translate(daemonctx.DaemonError(message, step=step, errno=errnum), self.pidfile) from exc
        ctx.ready()

    def close(self) -> None:
        """Exit the daemon context: exit the pidfile's context (a
        daemon.pidfile pidfile is removed and unlocked) and mark this
        instance closed. Nothing to do when not open. In a process the daemon
        forked (which inherits the atexit registration), the pidfile is left
        alone: it is the daemon's."""
        if not self._is_open:
            return
        if self.pidfile is not None and os.getpid() == self._opened_by:
            self.pidfile.__exit__(None, None, None)
        self._is_open = False

    def terminate(self, signal_number: int, stack_frame: FrameType | None) -> None:
        """The SIGTERM handler of the default signal map: raises SystemExit
        (the interpreter exits, running close() at exit)."""
        raise SystemExit('Terminating on signal {0!r}'.format(signal_number))

    def __enter__(self) -> DaemonContext:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def _set(setter: Callable[[Any], object], value: Any, option: str) -> None:
    try:
        setter(value)
    except (TypeError, ValueError, daemonctx.DaemonError) as exc:
        raise _environment_error('{0}: {1}'.format(option, exc)) from None


def _stdio_setter(ctx: _daemonctx.Context, which: int) -> Callable[[int], None]:
    def set_stdio(fd: int) -> None:
        ctx.set_stdio(which, fd)
    return set_stdio


def _signal_setter(ctx: _daemonctx.Context, action: int) -> Callable[[int], None]:
    def set_signal(signum: int) -> None:
        ctx.set_signal(signum, action)
    return set_signal


def _option_path(option: str, value: Any, absolute_from_cwd: bool = True) -> str:
    """VALUE as an absolute path: a relative one is taken from the current
    directory (ABSOLUTE_FROM_CWD) or from the new root."""
    try:
        path = os.fsdecode(os.fspath(value))
    except TypeError:
        raise _environment_error('{0} must be a path, not {1!r}'.format(option, value)) from None
    if not os.path.isabs(path):
        path = os.path.abspath(path) if absolute_from_cwd else '/' + path
    return os.path.normpath(path)


def _join(root: str, path: str) -> str:
    return os.path.normpath(root.rstrip('/') + '/' + path.lstrip('/'))


def _pidfile_path_outside(path: Any, ctx: _daemonctx.Context, chroot: str | None) -> str:
    """Where python-daemon's daemon would have found PATH, which it entered
    after its chroot and chdir, seen from outside: relative to the working
    directory, inside the new root."""
    name = os.fsdecode(os.fspath(path))
    if os.path.isabs(name):
        return name if chroot is None else _join(_option_path('chroot_directory', chroot), name)
    return _join(ctx.get_working_directory(), name)


def _lock_based(pidfile: Any) -> PIDLockFile | None:
    """PIDFILE when it is daemon.pidfile's, with its own acquire and enter:
    its lock is then taken before the fork."""
    module = sys.modules.get('daemon.pidfile')
    if module is None or not isinstance(pidfile, module.PIDLockFile):
        return None
    cls = type(pidfile)
    if cls.__enter__ is not module.PIDLockFile.__enter__ or cls.acquire not in (module.PIDLockFile.acquire,
                                                                               module.TimeoutPIDLockFile.acquire):
        return None
    lock: PIDLockFile = pidfile
    return lock


def _set_signals(ctx: _daemonctx.Context, handlers: Mapping[int, Handler]) -> None:
    ctx.clear_signal_map()
    for signum, handler in handlers.items():
        if handler is signal.SIG_IGN or handler == signal.SIG_IGN:
            action = _daemonctx.ACTION_IGNORE
        elif handler is signal.SIG_DFL or handler == signal.SIG_DFL:
            action = _daemonctx.ACTION_DEFAULT
        elif callable(handler):
            action = _daemonctx.ACTION_PYTHON
        else:
            raise _environment_error('signal_map: signal {0!r}: {1!r} is neither a callable, None, SIG_IGN, SIG_DFL '
                                     'nor a method name'.format(signum, handler))
        _set(_signal_setter(ctx, action), signum, 'signal_map')


def _daemon_failure(step: str, exc: BaseException, pidfile: Any) -> tuple[str, int, str]:
    """(step, errno, message) for what failed in the daemon: a pidfile error
    keeps its kind in the step and errno (held: EAGAIN, timeout: ETIMEDOUT),
    anything else is the application's."""
    text = '{0}: {1}'.format(type(exc).__name__, exc) if str(exc) else type(exc).__name__
    errnum = getattr(exc, 'errno', None)
    errnum = errnum if isinstance(errnum, int) else 0
    if step == 'signals':
        return step, errnum, 'cannot install the signal handlers: {0}'.format(text)
    kind = _lock_error_kind(exc)
    if kind is None:
        return 'application', errnum, 'cannot enter pidfile {0!r}: {1}'.format(pidfile, text)
    return 'pidfile', kind, 'pidfile {0!r}: {1}'.format(pidfile, text)


def _lock_error_kind(exc: BaseException) -> int | None:
    """The errno standing for a lock error of daemon.pidfile's or lockfile's
    (whichever are imported): EAGAIN already locked, ETIMEDOUT timed out,
    EPERM any other; None when EXC is not one."""
    for module in (sys.modules.get('daemon.pidfile'), sys.modules.get('lockfile')):
        for name, errnum in (('AlreadyLocked', errno.EAGAIN), ('LockTimeout', errno.ETIMEDOUT),
                             ('LockError', errno.EPERM)):
            cls = getattr(module, name, None)
            if isinstance(cls, type) and isinstance(exc, cls):
                return errnum
    return None


def _translate(exc: daemonctx.DaemonError, foreign_pidfile: Any) -> daemonctx.DaemonError:
    """The exception open() raises for a libdaemonctx failure EXC."""
    if exc.step in ('pidfile', 'pidfile-write'):
        from daemon.pidfile import lock_error

        return lock_error(exc)
    if exc.step == 'timeout' and foreign_pidfile is not None:
        # Nothing but the pidfile's __enter__ runs in the daemon after the C
        # side: it is what did not finish in time.
        from daemon.pidfile import lock_error

        return lock_error(daemonctx.DaemonError('{0}: still entering pidfile {1!r}'.format(exc.message, foreign_pidfile),
                                                step='pidfile', errno=errno.ETIMEDOUT))
    cls = DaemonProcessDetachError if exc.step in ('fork', 'setsid') else DaemonOSEnvironmentError
    return cls(exc.message, step=exc.step, errno=exc.errno)


def _flush(*streams: Any) -> None:
    for stream in streams:
        flush = getattr(stream, 'flush', None)
        if flush is not None:
            try:
                flush()
            except (OSError, ValueError):
                pass


# ------------------------------------------------ python-daemon's helpers

def get_stream_file_descriptors(stdin: Any = None, stdout: Any = None, stderr: Any = None) -> set[int]:
    """The fds of the three streams (default: sys.stdin, sys.stdout,
    sys.stderr as they are now), leaving out those without one."""
    streams = (sys.stdin if stdin is None else stdin, sys.stdout if stdout is None else stdout,
               sys.stderr if stderr is None else stderr)
    return {fd for fd in (_get_file_descriptor(s) for s in streams) if fd is not None}


def _get_file_descriptor(obj: Any) -> int | None:
    """OBJ's fd: an int is one; an object with a fileno() method gives
    one; None when neither (or fileno() fails: closed, or no fd at all)."""
    if isinstance(obj, int) and not isinstance(obj, bool):
        return obj
    fileno = getattr(obj, 'fileno', None)
    if fileno is None:
        return None
    try:
        fd = fileno()
    except (OSError, ValueError):
        return None
    return fd if isinstance(fd, int) else None


def change_working_directory(directory: str) -> None:
    """chdir(DIRECTORY); DaemonOSEnvironmentError when it fails."""
    try:
        os.chdir(directory)
    except (OSError, TypeError, ValueError) as exc:
        raise _environment_error('cannot change working directory to {0!r}: {1}'.format(directory, exc),
                                 getattr(exc, 'errno', None) or errno.EINVAL, 'chdir') from exc


def change_root_directory(directory: str) -> None:
    """chdir then chroot to DIRECTORY (needs privileges);
    DaemonOSEnvironmentError when it fails."""
    try:
        os.chdir(directory)
        os.chroot(directory)
    except (OSError, TypeError, ValueError) as exc:
        raise _environment_error('cannot change root directory to {0!r}: {1}'.format(directory, exc),
                                 getattr(exc, 'errno', None) or errno.EINVAL, 'chroot') from exc


def change_file_creation_mask(mask: int) -> None:
    """umask(MASK); DaemonOSEnvironmentError when it is not a mode."""
    try:
        os.umask(mask)
    except (OSError, TypeError, ValueError, OverflowError) as exc:
        raise _environment_error('cannot change file creation mask to {0!r}: {1}'.format(mask, exc)) from exc


def get_username_for_uid(uid: int) -> str:
    """The name of UID's passwd entry (KeyError when it has none)."""
    import pwd

    name: str = pwd.getpwuid(uid).pw_name
    return name


def change_process_owner(uid: int, gid: int, initgroups: bool = False) -> None:
    """Become UID and GID: when privileged, first the supplementary groups
    of UID's user (only GID when it has no passwd entry), then the gid, then
    the uid (real, effective and saved). INITGROUPS is accepted for
    python-daemon's sake: the groups are set either way, since keeping the
    caller's (root's) is what python-daemon got wrong.
    DaemonOSEnvironmentError when a step is refused."""
    if os.getresuid() == (uid, uid, uid) and os.getresgid() == (gid, gid, gid):
        return
    try:
        if os.geteuid() == 0:
            try:
                groups = os.getgrouplist(get_username_for_uid(uid), gid)
            except KeyError:
                groups = [gid]
            os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
    except (OSError, TypeError, ValueError, OverflowError) as exc:
        raise _environment_error('cannot change process owner to uid {0!r}, gid {1!r}: {2}'.format(uid, gid, exc),
                                 getattr(exc, 'errno', None) or errno.EINVAL, 'setuid') from exc


def prevent_core_dump() -> None:
    """Set RLIMIT_CORE to 0 (soft and hard): no core file can be written."""
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError) as exc:
        raise _environment_error('cannot set RLIMIT_CORE to 0: {0}'.format(exc), getattr(exc, 'errno', None) or
                                 errno.EINVAL, 'core') from exc


def detach_process_context() -> None:
    """Fork, new session, fork again; each parent exits with status 0 at
    once (this helper cannot report what happens in the child: DaemonContext
    can). DaemonProcessDetachError when a fork or setsid fails."""
    for what in ('first fork', 'setsid', 'second fork'):
        try:
            if what == 'setsid':
                os.setsid()
            elif os.fork() > 0:
                os._exit(0)
        except OSError as exc:
            raise DaemonProcessDetachError('{0} failed: {1}'.format(what, exc), step='fork' if 'fork' in what else
                                           'setsid', errno=exc.errno) from exc


def is_process_started_by_init() -> bool:
    """Whether the parent process is init (PID 1)."""
    return os.getppid() == 1


def is_socket(fd: int) -> bool:
    """Whether FD is a socket (deprecated by python-daemon: use
    is_socket_file())."""
    import warnings

    warnings.warn(DeprecationWarning('migrate to `is_socket_file` instead'), stacklevel=2)
    return _fd_is_socket(fd)


def _fd_is_socket(fd: int) -> bool:
    try:
        return stat.S_ISSOCK(os.fstat(fd).st_mode)
    except (OSError, TypeError, ValueError, OverflowError):
        return False


def is_socket_file(file: Any) -> bool:
    """Whether FILE (an object with fileno()) is a socket; False when it has
    no fd or is closed."""
    fd = _get_file_descriptor(file)
    return fd is not None and _fd_is_socket(fd)


def is_process_started_by_superserver() -> bool:
    """Whether stdin is a socket, as inetd and socket activation leave it."""
    return is_socket_file(sys.__stdin__)


def is_detach_process_context_required() -> bool:
    """Whether open() should detach: not when the parent is init, stdin is a
    socket (a superserver started us), or this process is PID 1."""
    return not (os.getpid() == 1 or is_process_started_by_init() or is_process_started_by_superserver())


def close_file_descriptor_if_open(fd: int) -> None:
    """Close FD; one that is not open is fine. DaemonOSEnvironmentError for
    any other failure."""
    try:
        os.close(fd)
    except OSError as exc:
        if exc.errno != errno.EBADF:
            raise _environment_error('cannot close fd {0}: {1}'.format(fd, exc), exc.errno or errno.EIO,
                                     'close-fds') from exc


MAXFD = 2048


def get_maximum_file_descriptors() -> int:
    """The hard RLIMIT_NOFILE, or MAXFD when it is unlimited."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return MAXFD if hard == resource.RLIM_INFINITY else hard


def close_all_open_files(exclude: Collection[int] | None = None) -> None:
    """Close every open fd but those in EXCLUDE (ints; TypeError for
    anything else, as python-daemon 3). Costs what the open fds cost, not
    RLIMIT_NOFILE: the open ones are listed from /proc/self/fd (without /proc,
    every number up to the limit is tried)."""
    keep = set(exclude or ())
    for fd in keep:
        if not isinstance(fd, int) or isinstance(fd, bool):
            raise TypeError('not an integer file descriptor', fd)
    try:
        open_fds: Iterable[int] = [int(name) for name in os.listdir('/proc/self/fd')]
    except OSError:
        open_fds = range(get_maximum_file_descriptors())
    for fd in open_fds:
        if fd not in keep:
            close_file_descriptor_if_open(fd)


def redirect_stream(system_stream: Any, target_stream: Any) -> None:
    """Make SYSTEM_STREAM's fd a duplicate of TARGET_STREAM's, or of
    /dev/null when TARGET_STREAM is None."""
    if target_stream is None:
        fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        try:
            os.dup2(fd, system_stream.fileno())
        finally:
            os.close(fd)
    else:
        os.dup2(target_stream.fileno(), system_stream.fileno())


def make_default_signal_map() -> dict[int, str | None]:
    """SIGTSTP, SIGTTIN, SIGTTOU ignored (None), SIGTERM 'terminate', for
    those this system has."""
    return daemonctx.default_signal_map()


def set_signal_handlers(signal_handler_map: Mapping[int, Handler]) -> None:
    """signal.signal() for each item of SIGNAL_HANDLER_MAP."""
    for signum, handler in signal_handler_map.items():
        signal.signal(signum, handler)


def register_atexit_function(func: Callable[[], object]) -> None:
    """Call FUNC (no arguments) at interpreter exit."""
    atexit.register(func)
