"""python-daemon's ``daemon.pidfile``, built on libdaemonctx's lock-based pidfile.

``PIDLockFile(path)`` and ``TimeoutPIDLockFile(path, acquire_timeout=None)``
have the interface of the ``lockfile`` package's PIDLockFile (``acquire``,
``release``, ``is_locked``, ``i_am_locking``, ``read_pid``, ``break_lock``,
``path``, the ``with`` statement) and raise its exception types, defined here:
LockError (LockTimeout, AlreadyLocked, LockFailed) and UnlockError (NotLocked,
NotMyLock). ``lockfile`` is not needed; when a program has imported it, the
exceptions raised are also instances of its classes, so ``except
lockfile.AlreadyLocked`` keeps working.

The file holds "PID\\n" as before, but the lock is an flock() on it, held as
long as the holder (or a process it forked) lives:

- a pidfile left by a crashed daemon is stale, not held: it is taken over;
- ``is_locked()`` is true only while a live process holds the lock;
- ``break_lock()`` removes a stale pidfile and leaves a held one alone (removing
  it would let a second instance start);
- ``acquire(timeout)`` keeps lockfile's meaning: None waits for the holder to
  go, 0 or less fails at once (AlreadyLocked), N > 0 waits N seconds
  (LockTimeout). It waits on inotify events, not in a sleep loop.
"""
from __future__ import annotations

import errno
import os
import sys
import time

import daemonctx
from daemonctx import _daemonctx

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import TypeVar

    T = TypeVar('T')

__all__ = ['PIDLockFile', 'TimeoutPIDLockFile', 'Error', 'LockError', 'LockTimeout', 'AlreadyLocked', 'LockFailed',
           'UnlockError', 'NotLocked', 'NotMyLock']


class Error(daemonctx.DaemonError):
    """Base class of the pidfile errors (lockfile's Error); a
    daemonctx.DaemonError too: ``step``, ``errno`` and ``message`` say what
    failed (the message names the pidfile and, when held, the holder's PID)."""

    def __reduce__(self) -> tuple[object, ...]:
        # The class may be one of the lockfile twins below, which pickle can
        # not name: rebuilt from the class defined here.
        return (_rebuild, (_own_class(type(self)), self.args, self.step, self.errno))


class LockError(Error):
    """The lock could not be acquired."""


class LockTimeout(LockError):
    """The lock was still held when the timeout ran out."""


class AlreadyLocked(LockError):
    """The lock is held by another live process (acquire without waiting)."""


class LockFailed(LockError):
    """The pidfile could not be used at all (its directory, a symlink, its
    owner, permissions...)."""


class UnlockError(Error):
    """The lock could not be released."""


class NotLocked(UnlockError):
    """release() of a pidfile nobody holds."""


class NotMyLock(UnlockError):
    """release() of a pidfile another process, or another object, holds."""


# Most derived first: _own_class() returns the first that matches.
_OWN_CLASSES: tuple[type[Error], ...] = (NotMyLock, NotLocked, UnlockError, LockFailed, AlreadyLocked, LockTimeout,
                                         LockError, Error)
_twins: dict[type[Error], type[Error]] = {}


def _own_class(cls: type[Error]) -> type[Error]:
    for own in _OWN_CLASSES:
        if issubclass(cls, own):
            return own
    return cls


def _error_class(cls: type[Error]) -> type[Error]:
    """CLS, or when the program has imported lockfile, a subclass of CLS and
    of lockfile's class of the same name (made once). Chosen when raising,
    because importing lockfile here would cost every program its import
    (socket, threading) while only those that catch its classes need them,
    and those have imported it."""
    lockfile = sys.modules.get('lockfile')
    theirs = getattr(lockfile, cls.__name__, None) if lockfile is not None else None
    if not (isinstance(theirs, type) and issubclass(theirs, Exception)):
        return cls
    twin = _twins.get(cls)
    if twin is None:
        twin = type(cls.__name__, (cls, theirs), {'__module__': cls.__module__, '__doc__': cls.__doc__})
        _twins[cls] = twin
    return twin


def _error(cls: type[Error], message: str, errnum: int) -> Error:
    return _error_class(cls)(message, step='pidfile', errno=errnum)


def _rebuild(cls: type[Error], args: tuple[object, ...], step: str | None, errnum: int | None) -> Error:
    return _error_class(cls)(*args, step=step, errno=errnum)


def lock_error(exc: daemonctx.DaemonError) -> Error:
    """The pidfile error for a libdaemonctx pidfile failure: AlreadyLocked
    (held: EAGAIN), LockTimeout (ETIMEDOUT), LockFailed (anything else)."""
    cls: type[Error] = (AlreadyLocked if exc.errno == errno.EAGAIN else
                        LockTimeout if exc.errno == errno.ETIMEDOUT else LockFailed)
    return _error(cls, exc.message, exc.errno or 0)


def acquire_waiting(attempt: Callable[[], T], path: str, timeout: float | None) -> T:
    """ATTEMPT() takes the lock of the pidfile at PATH without waiting: it
    raises daemonctx.DaemonError (step "pidfile", EAGAIN) while another process
    holds it. Retried as lockfile's acquire(timeout) retries: None without
    limit, 0 or less not at all (AlreadyLocked), N seconds (then LockTimeout);
    between attempts, asleep until the lock may have been released. Any other
    failure of ATTEMPT propagates as it is."""
    start = time.monotonic()
    watch = None
    try:
        while True:
            try:
                return attempt()
            except daemonctx.DaemonError as exc:
                if exc.step != 'pidfile' or exc.errno != errno.EAGAIN:
                    raise
                held = exc
            if timeout is not None and timeout <= 0:
                raise lock_error(held) from None
            left = None
            if timeout is not None:
                left = start + timeout - time.monotonic()
                if left <= 0:
                    raise _error(LockTimeout, '{0} (waited {1:g} s)'.format(held.message, timeout),
                                 errno.ETIMEDOUT) from None
            if watch is None:
                watch = _daemonctx.LockWatch(path)
            watch.wait(left)
    finally:
        if watch is not None:
            watch.close()


class PIDLockFile:
    """A pidfile holding "PID\\n", locked with flock() while its holder lives.

    lockfile's PIDLockFile interface (``threaded`` is accepted and ignored,
    as there). ``timeout`` is the default of acquire(). Given to
    daemon.DaemonContext, it is locked before the fork (so a held pidfile
    fails in the invoking process, waiting first as acquire() would) and holds
    the daemon's PID once the invoking process has exited.
    """

    def __init__(self, path: str, threaded: bool = False, timeout: float | None = None) -> None:
        self.path = path
        self.timeout = timeout
        self._pf = self._new_lock(path)

    @staticmethod
    def _new_lock(path: str) -> _daemonctx.PidFile:
        try:
            return _daemonctx.PidFile(path)
        except ValueError as exc:
            raise _error(LockFailed, str(exc), errno.EINVAL) from None

    def _default_timeout(self) -> float | None:
        return self.timeout

    def _lock_for(self, path: str) -> _daemonctx.PidFile:
        """The lock object for PATH, the file this pidfile names as the daemon
        sees it from outside its new root and working directory
        (daemon.DaemonContext resolves it); kept once held."""
        if self._pf.fileno() < 0 and self._pf.path != path:
            self._pf = self._new_lock(path)
        return self._pf

    def acquire(self, timeout: float | None = None) -> None:
        """Take the lock and write this process's PID into the file (created
        if needed, never through a symlink, mode 0644). A stale file is taken
        over. While another live process holds it: TIMEOUT (default: the
        ``timeout`` given to the constructor) None waits until it is released,
        0 or less raises AlreadyLocked at once, N > 0 raises LockTimeout after
        N seconds. Other failures raise LockFailed. Already held by this
        object: nothing to do."""
        if timeout is None:
            timeout = self._default_timeout()
        try:
            acquire_waiting(self._pf.acquire, self._pf.path, timeout)
        except Error:
            raise
        except daemonctx.DaemonError as exc:
            raise lock_error(exc) from None

    def release(self) -> None:
        """Remove the file and drop the lock. NotLocked when nobody holds it,
        NotMyLock when another process (or another object) does."""
        if self._pf.fileno() >= 0 and self.read_pid() == os.getpid():
            self._pf.release()
            return
        if not self.is_locked():
            raise _error(NotLocked, 'pidfile {0} is not locked'.format(self.path), 0)
        raise _error(NotMyLock, 'pidfile {0} is locked by PID {1}, not by this {2}'.format(
            self.path, self.read_pid(), type(self).__name__), 0)

    def is_locked(self) -> bool:
        """Whether a live process holds the lock (a stale file is not locked).
        Decided from the lock, never from kill(pid, 0); when that cannot be
        told (e.g. the file is not root's and we are root), whether the file
        exists, as lockfile did."""
        try:
            state, _ = _daemonctx.inspect(self.path)
        except daemonctx.DaemonError:
            return os.path.lexists(self.path)
        return state in (_daemonctx.PIDFILE_RUNNING, _daemonctx.PIDFILE_STARTING)

    def i_am_locking(self) -> bool:
        """Whether the lock is held and the file names this process."""
        return self.is_locked() and self.read_pid() == os.getpid()

    def read_pid(self) -> int | None:
        """The PID in the file, or None when there is no file or no PID in it."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        except OSError:
            return None
        try:
            text = os.read(fd, 64)
        except OSError:
            return None
        finally:
            os.close(fd)
        try:
            pid = int(text.split(b'\n', 1)[0].strip())
        except ValueError:
            return None
        return pid if pid > 0 else None

    def break_lock(self) -> None:
        """Remove the pidfile if nobody holds its lock (a crashed holder's);
        one a live process holds is left alone. Held by this object: released."""
        if self._pf.fileno() >= 0:
            self._pf.release()
            return
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        except FileNotFoundError:
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            # Removed under the lock, and only if the path still names the
            # inode locked: a starter may have replaced it meanwhile.
            mine, there = os.fstat(fd), os.stat(self.path, follow_symlinks=False)
            if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino):
                os.unlink(self.path)
        finally:
            os.close(fd)

    def __enter__(self) -> PIDLockFile:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()

    def __repr__(self) -> str:
        return '<{0}: {1!r}>'.format(type(self).__name__, self.path)


class TimeoutPIDLockFile(PIDLockFile):
    """PIDLockFile whose acquire() waits ACQUIRE_TIMEOUT by default (None:
    until the holder goes; 0 or less: not at all; N: N seconds), as
    python-daemon's."""

    def __init__(self, path: str, acquire_timeout: float | None = None, threaded: bool = False,
                 timeout: float | None = None) -> None:
        self.acquire_timeout = acquire_timeout
        super().__init__(path, threaded, timeout)

    def _default_timeout(self) -> float | None:
        return self.acquire_timeout if self.acquire_timeout is not None else self.timeout
