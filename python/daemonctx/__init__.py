"""daemonctx: PEP 3143's DaemonContext and a lock-based PidFile, on libdaemonctx.

The API is pep3143daemon's (DaemonContext, PidFile, DaemonError, with the same
signatures, defaults and attributes); the work is done by the C library, so:

- a failure after the fork (chroot, chdir, privilege drop, stdio, pidfile...)
  raises DaemonError in the *original* process, with ``step``, ``errno`` and
  ``message`` attributes; nothing is left behind (no daemon, no pidfile);
- the original process exits (status 0, as PEP 3143 says) only once the daemon
  is up, and by then the pidfile holds the daemon's PID;
- the pidfile is an flock()ed file, taken before forking (a second instance is
  refused at once, naming the PID that holds it), removed at exit only by the
  process that owns it;
- the privilege drop sets the supplementary groups, gid and uid, and is verified;
- detaching is decided without crashing (PID 1, parent init, stdin a socket).

Typical use is the seed's::

    from daemonctx import DaemonContext, PidFile   # or from pep3143daemon
    daemon = DaemonContext(pidfile=PidFile('/run/mydaemon.pid'), umask=0o022)
    daemon.open()

Differences from pep3143daemon, where it was broken:

- an empty ``signal_map`` means "change no signal" (pep3143daemon used the
  default map); ``signal.SIG_DFL`` means the default action (it meant "ignore");
- ``detach_process`` is decided at open when left None (the attribute reads as
  the decision that open() would take);
- changing an option after open() raises DaemonError (errno EBUSY);
- an invalid option value raises DaemonOptionError (a DaemonError and a
  ValueError) or DaemonOptionTypeError (a DaemonError and a TypeError);
- PidFile.acquire() failures, and open()'s pidfile failures, raise PidFileError:
  both a SystemExit (as the seed documents) and a DaemonError; AlreadyRunning,
  its subclass, when another process holds the pidfile.
"""

import enum as _enum
import errno as _errno
import operator as _operator
import os as _os
import signal as _signal
import sys as _sys

from . import _daemonctx

__all__ = ['DaemonContext', 'PidFile', 'DaemonError']

__version__ = _daemonctx.version()

# The library's steps (enum daemonctx_step): Step.CHDIR == 9, Step.CHDIR.label == 'chdir'.
Step = _enum.IntEnum('Step', [(name.upper().replace('-', '_') or 'NONE', value)
                              for value, name in enumerate(_daemonctx.step_names())])
Step.label = property(lambda self: _daemonctx.step_names()[self.value])


class DaemonError(Exception):
    """Exception raised by DaemonContext.

    Attributes: ``step`` (the name of the step that failed: "options",
    "pidfile", "fork", "chroot", "chdir", "setuid", "stdio", ... see
    daemonctx(3)), ``step_value`` (the same as a Step, or None), ``errno`` (the
    errno value, 0 when no system call failed) and ``message`` (one line
    naming the path, user, fd or PID at fault). ``str()`` is the message.
    """

    def __init__(self, *args, step=None, errno=None, step_value=None):
        super().__init__(*args)
        self.step = step
        if step_value is None and step is not None:
            step_value = _step_value(step)
        self.step_value = None if step_value is None else Step(step_value)
        self.errno = errno
        self.message = str(args[0]) if args else ''

    def __reduce__(self):
        return (_rebuild_error, (type(self), self.args, self.step, self.errno, self.step_value))


def _step_value(name):
    try:
        return _daemonctx.step_names().index(name)
    except ValueError:
        return Step.APPLICATION


def _rebuild_error(cls, args, step, errno, step_value=None):
    return cls(*args, step=step, errno=errno, step_value=step_value)


class DaemonOptionError(DaemonError, ValueError):
    """An option value DaemonContext refuses (also a ValueError)."""


class DaemonOptionTypeError(DaemonError, TypeError):
    """An option value of the wrong type (also a TypeError)."""


class PidFileError(DaemonError, SystemExit):
    """The pidfile could not be acquired.

    A SystemExit, as the seed documents for PidFile.acquire() (uncaught, it ends
    the program with the message and status 1), and a DaemonError with step,
    errno and message.
    """

    def __init__(self, *args, step=None, errno=None, step_value=None):
        super().__init__(*args, step=step, errno=errno, step_value=step_value)
        # SystemExit's own __init__ is not on this path: without a code the
        # interpreter would exit with status 0.
        self.code = self.message or 1


class AlreadyRunning(PidFileError):
    """The pidfile is locked by another live process; the message names its PID."""


_daemonctx._register_errors(DaemonError, DaemonOptionError)


def _pidfile_error(exc):
    cls = AlreadyRunning if exc.errno == _errno.EAGAIN else PidFileError
    return cls(exc.message, step=exc.step, errno=exc.errno)


def _option_error(message, cls=DaemonOptionError):
    return cls(message, step='options', errno=_errno.EINVAL)


def _fileno(obj, what):
    """An fd from an int or an object with fileno()."""
    if isinstance(obj, int):
        fd = _operator.index(obj)
    else:
        fileno = getattr(obj, 'fileno', None)
        if fileno is None or not callable(fileno):
            raise _option_error('{0}: {1!r} is neither an fd nor an object with a fileno() method'.format(what, obj),
                                DaemonOptionTypeError)
        try:
            fd = _operator.index(fileno())
        except Exception as exc:
            raise _option_error('{0}: {1!r} has no usable fileno(): {2}'.format(what, obj, exc)) from None
    if fd < 0:
        raise _option_error('{0}: fd {1} is negative'.format(what, fd))
    return fd


def _flush(*streams):
    for stream in streams:
        flush = getattr(stream, 'flush', None)
        if flush is not None:
            try:
                flush()
            except Exception:
                pass


def default_signal_map():
    """The PEP 3143 default: SIGTSTP, SIGTTIN, SIGTTOU ignored, SIGTERM -> terminate."""
    name_map = {'SIGTSTP': None, 'SIGTTIN': None, 'SIGTTOU': None, 'SIGTERM': 'terminate'}
    return {getattr(_signal, name): target for name, target in name_map.items() if hasattr(_signal, name)}


def _apply(ctx_method, value):
    """Pass VALUE to a _daemonctx.Context setter, mapping its errors."""
    try:
        ctx_method(value)
    except DaemonError:
        raise
    except TypeError as exc:
        raise _option_error(str(exc), DaemonOptionTypeError) from None
    except ValueError as exc:
        raise _option_error(str(exc)) from None


def _path_value(value, what, nullable):
    if value is None:
        if nullable:
            return None
        raise _option_error('{0} must be a path, not None'.format(what), DaemonOptionTypeError)
    try:
        value = _os.fspath(value)
    except TypeError:
        raise _option_error('{0} must be a path, not {1}'.format(what, type(value).__name__),
                            DaemonOptionTypeError) from None
    return _os.fsdecode(value)


def _stream_value(value, what):
    if value is None or isinstance(value, int) or callable(getattr(value, 'fileno', None)):
        return value
    raise _option_error('{0} must be None, an fd or a file object, not {1}'.format(what, type(value).__name__),
                        DaemonOptionTypeError)


def _option(name, doc, normalize=None, setter=None):
    """A DaemonContext option: stored as given (after NORMALIZE), refused once
    open, passed at once to the C context by SETTER (validated there)."""

    def fget(self):
        return self._options[name]

    def fset(self, value):
        self._check_settable(name)
        if normalize is not None:
            value = normalize(value)
        if setter is not None:
            _apply(getattr(self._ctx, setter), value)
        self._options[name] = value

    return property(fget, fset, doc=doc)


# The open DaemonContext of this process: kept alive with its pidfile and its
# handlers, even when the program drops its own reference.
_open_contexts = []


class DaemonContext(object):
    """Implementation of PEP 3143 DaemonContext class.

    Each option can be passed as a keyword argument to the constructor, or set
    by assigning the attribute before open(); afterwards it raises DaemonError.
    See the module documentation for where this differs from pep3143daemon.
    """

    def __init__(self, chroot_directory=None, working_directory='/', umask=0, uid=None, gid=None,
                 prevent_core=True, detach_process=None, files_preserve=None, pidfile=None, stdin=None,
                 stdout=None, stderr=None, signal_map=None):
        self._ctx = _daemonctx.Context()
        self._options = {}
        self.chroot_directory = chroot_directory
        self.working_directory = working_directory
        self.umask = umask
        self.uid = uid
        self.gid = gid
        self.prevent_core = prevent_core
        self.detach_process = detach_process
        self.files_preserve = files_preserve
        self.pidfile = pidfile
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.signal_map = signal_map

    # ----------------------------------------------------------- options

    def _check_settable(self, name):
        if self._ctx.is_open:
            raise DaemonError('cannot set {0}: the context is already open, changes would have no effect'.format(name),
                              step='options', errno=_errno.EBUSY)

    chroot_directory = _option(
        'chroot_directory', 'Full path of the new root directory, or None to keep it.',
        lambda v: _path_value(v, 'chroot_directory', True), 'set_chroot_directory')

    umask = _option('umask', 'File creation mask of the daemon (0 to 0o777).', None, 'set_umask')

    uid = _option('uid', "Real, effective and saved user id of the daemon (default: the process's real uid).",
                  lambda v: _os.getuid() if v is None else v, 'set_uid')

    gid = _option('gid', "Real, effective and saved group id of the daemon (default: the process's real gid).",
                  lambda v: _os.getgid() if v is None else v, 'set_gid')

    prevent_core = _option('prevent_core', 'Prevent core files (RLIMIT_CORE 0).', bool, 'set_prevent_core')

    files_preserve = _option(
        'files_preserve', 'Files (ints or objects with fileno()) left open; read at open().',
        lambda v: v if v is None or hasattr(v, '__iter__') else _throw(_option_error(
            'files_preserve must be None or an iterable of fds or file objects', DaemonOptionTypeError)))

    pidfile = _option('pidfile', 'A pidfile object (its acquire() is called while daemonizing), or None.')

    stdin = _option('stdin', 'File object or fd for stdin; None: /dev/null.', lambda v: _stream_value(v, 'stdin'))
    stdout = _option('stdout', 'File object or fd for stdout; None: /dev/null.',
                     lambda v: _stream_value(v, 'stdout'))
    stderr = _option('stderr', 'File object or fd for stderr; None: /dev/null.',
                     lambda v: _stream_value(v, 'stderr'))

    signal_map = _option(
        'signal_map', 'Mapping from signal number to None (ignore), a callable, or the name of a method.',
        lambda v: default_signal_map() if v is None else v if hasattr(v, 'items') else _throw(_option_error(
            'signal_map must be a mapping', DaemonOptionTypeError)))

    @property
    def working_directory(self):
        """The working_directory property.

        With a chroot_directory, a working directory that is not under it
        (compared component by component) is prefixed with it: the daemon's
        working directory as seen from outside the new root.
        """
        return self._ctx.get_working_directory()

    @working_directory.setter
    def working_directory(self, value):
        self._check_settable('working_directory')
        value = _path_value(value, 'working_directory', False)
        _apply(self._ctx.set_working_directory, value)
        self._options['working_directory'] = value

    @property
    def detach_process(self):
        """Whether open() does the double fork. Set to None (the default) to let
        open() decide: no fork when the process is PID 1, its parent is init,
        or stdin is a socket; reading it then gives that decision."""
        value = self._options['detach_process']
        if value is not None:
            return value
        if '_detached' in self._options:  # what open() decided
            return self._options['_detached']
        return self._ctx.detach_decision()[0]

    @detach_process.setter
    def detach_process(self, value):
        self._check_settable('detach_process')
        value = None if value is None else bool(value)
        _apply(self._ctx.set_detach_process, value)
        self._options['detach_process'] = value

    @property
    def is_open(self):
        """True when this instance's open method was called (and succeeded)."""
        return self._ctx.is_open

    # -------------------------------------------------------------- open

    def _resolve_signal_map(self):
        handlers = []
        for signum, target in self.signal_map.items():
            try:
                signum = _operator.index(signum)
            except TypeError:
                raise _option_error('signal_map: {0!r} is not a signal number'.format(signum),
                                    DaemonOptionTypeError) from None
            if target is None:
                handler = _signal.SIG_IGN
            elif isinstance(target, str):
                handler = getattr(self, target, None)
                if handler is None or not callable(handler):
                    raise _option_error('signal_map: signal {0}: {1!r} is not a method of {2}'.format(
                        signum, target, type(self).__name__))
            elif isinstance(target, int):
                if target == _signal.SIG_IGN:
                    handler = _signal.SIG_IGN
                elif target == _signal.SIG_DFL:
                    handler = _signal.SIG_DFL
                else:
                    raise _option_error('signal_map: signal {0}: {1!r} is neither SIG_IGN nor SIG_DFL'.format(
                        signum, target))
            elif callable(target):
                handler = target
            else:
                raise _option_error('signal_map: signal {0}: {1!r} is not None, a callable or a method name'.format(
                    signum, target), DaemonOptionTypeError)
            handlers.append((signum, handler))
        return handlers

    def _prepare(self):
        """Pass what is read at open() to the C context; refuse bad values
        before anything forks. Returns (handlers, foreign pidfile)."""
        ctx = self._ctx
        streams = []
        for which, name in enumerate(('stdin', 'stdout', 'stderr')):
            value = self._options[name]
            fd = -1 if value is None else _fileno(value, name)
            streams.append(fd)
            _apply(lambda v, w=which: ctx.set_stdio(w, v), fd)
        preserve = [_fileno(f, 'files_preserve') for f in (self.files_preserve or ())]
        # The file objects given as streams stay valid: their fds are kept
        # (closing them would leave the objects to close some later fd).
        preserve += [fd for fd in streams if fd >= 3 and fd not in preserve]
        _apply(ctx.set_files_preserve, preserve)

        handlers = self._resolve_signal_map()
        ctx.clear_signal_map()
        for signum, handler in handlers:
            if handler is _signal.SIG_IGN:
                action = _daemonctx.ACTION_IGNORE
            elif handler is _signal.SIG_DFL:
                action = _daemonctx.ACTION_DEFAULT
            else:
                action = _daemonctx.ACTION_PYTHON
            _apply(lambda v, a=action: ctx.set_signal(v, a), signum)

        pidfile = self.pidfile
        foreign = None
        if isinstance(pidfile, PidFile) and type(pidfile).acquire is PidFile.acquire:
            ctx.set_pidfile(pidfile._pf)  # locked before the fork, written by the daemon
        else:
            ctx.set_pidfile(None)
            if pidfile is not None:
                foreign = getattr(pidfile, 'acquire', None) or getattr(pidfile, '__enter__', None)
                if foreign is None or not callable(foreign):
                    raise _option_error('pidfile {0!r} has no acquire() method'.format(pidfile),
                                        DaemonOptionTypeError)
        return handlers, foreign

    def open(self):
        """Daemonize this process.

        Do everything that is needed to become a Unix daemon: detach (double
        fork, new session), chroot, prevent core dumps, umask, chdir, drop
        privileges, signal map, close every file not preserved, redirect
        stdio, write the pidfile. The original process exits with status 0 once
        the daemon is up; any failure, before or after the fork, raises
        DaemonError there instead. Returns None (in the daemon).
        """
        if self.is_open:
            return
        handlers, foreign = self._prepare()
        if self._options['detach_process'] is None:
            self._options['_detached'] = self._ctx.detach_decision()[0]
        _flush(_sys.stdout, _sys.stderr, _sys.__stdout__, _sys.__stderr__, self.stdout, self.stderr)
        try:
            forked = self._ctx.open()
        except DaemonError as exc:
            if exc.step is not None and exc.step.startswith('pidfile'):
                raise _pidfile_error(exc) from None
            raise
        # The daemon (or, without a fork, this same process).
        _open_contexts.append(self)
        step = 'signals'
        try:
            for signum, handler in handlers:
                _signal.signal(signum, handler)
            if foreign is not None:
                step = 'pidfile'
                foreign()
        except BaseException as exc:
            message = 'cannot {0}: {1}'.format(
                'install the signal handlers' if step == 'signals' else 'acquire the pidfile',
                str(exc) or type(exc).__name__)
            errnum = getattr(exc, 'errno', None) or 0
            if not isinstance(errnum, int):
                errnum = 0
            if forked:
                # Sent to the original process, whose open() raises it.
                self._ctx.report_error(step, errnum, message)
                _os._exit(1)
            raise DaemonError(message, step=step, errno=errnum) from exc
        self._ctx.ready()
        self._ctx.release_signals()

    def close(self):
        """Dummy function: a daemon cannot be un-daemonized, and removing the
        pidfile early would let a second instance start. The pidfile goes at
        exit (or by terminate)."""
        return None

    def terminate(self, signal_number, stack_frame):
        """Terminate this process by raising SystemExit (the default SIGTERM
        action). The pidfile is removed as the interpreter exits."""
        raise SystemExit('Terminating on signal {0}'.format(signal_number))

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()
        return None


def _throw(exc):
    raise exc


# Acquired PidFiles, kept alive until released: dropping the object must not
# drop the lock (pep3143daemon's atexit registration kept them too).
_held = set()


class PidFile(object):
    """PidFile implementation for PEP 3143 Daemon: an flock()ed file holding
    "PID\\n", removed at exit by the process that acquired it.

    Can be used with the ``with`` statement.
    """

    def __init__(self, pidfile):
        try:
            path = _os.fsdecode(_os.fspath(pidfile))
        except TypeError:
            raise _option_error('pidfile must be a path, not {0}'.format(type(pidfile).__name__),
                                DaemonOptionTypeError) from None
        try:
            self._pf = _daemonctx.PidFile(path)
        except ValueError as exc:
            raise _option_error(str(exc)) from None
        self._path = path

    @property
    def path(self):
        """The pidfile's path."""
        return self._path

    def acquire(self):
        """Acquire the pidfile: create it (never through a symlink), lock it,
        write this process's PID into it; removed at exit.

        Raises SystemExit (PidFileError, AlreadyRunning when another process
        holds it, naming its PID)."""
        try:
            self._pf.acquire()
        except DaemonError as exc:
            raise _pidfile_error(exc) from None
        _held.add(self)

    def release(self):
        """Release the pidfile: delete it (if it is still ours) and drop the lock."""
        self._pf.release()
        _held.discard(self)

    def fileno(self):
        """The fd holding the lock, or -1 when not held by this process."""
        return self._pf.fileno()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.release()
        return None

    def __repr__(self):
        return '{0}({1!r})'.format(type(self).__name__, self._path)
