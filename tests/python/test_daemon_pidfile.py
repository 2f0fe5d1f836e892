"""daemon.pidfile: lockfile's PIDLockFile interface on the lock-based pidfile.

Holders and waiters are separate processes (the lock is per open file, so a
process can be refused by another's lock); they are synchronized on their
output lines, on /proc (a waiter asleep on its inotify watch) and on exits."""
import errno
import inspect
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import DEADLINE, proc_fds, wait_until

import daemonctx
from daemon import pidfile as pidfile_module
from daemon.pidfile import (AlreadyLocked, Error, LockError, LockFailed, LockTimeout, NotLocked, NotMyLock,
                            PIDLockFile, TimeoutPIDLockFile, UnlockError)

# A process that holds PATH (argv[1]) with daemon.pidfile, says "held PID",
# then waits for a line on stdin before releasing (or EOF: dies holding it).
HOLDER = '''
import os, sys
from daemon.pidfile import PIDLockFile
lock = PIDLockFile(sys.argv[1])
lock.acquire(0)
print('held', os.getpid(), flush=True)
if sys.stdin.readline():
    lock.release()
    print('released', flush=True)
'''

# acquire(timeout) of PATH (argv[1]); prints one line: what happened, how long
# it took and the CPU time it used.
WAITER = '''
import json, os, resource, sys, time
from daemon.pidfile import LockError, TimeoutPIDLockFile
timeout = None if sys.argv[2] == 'None' else float(sys.argv[2])
lock = TimeoutPIDLockFile(sys.argv[1], timeout)
start = time.monotonic()
cpu0 = resource.getrusage(resource.RUSAGE_SELF)
try:
    lock.acquire()
    outcome = 'acquired'
except LockError as exc:
    outcome = type(exc).__name__ + ': ' + str(exc)
cpu1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps(dict(outcome=outcome, waited=time.monotonic() - start,
                      cpu=(cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
                      content=open(sys.argv[1]).read() if outcome == 'acquired' else None)), flush=True)
'''


class Processes:
    """Helper processes of one test, killed at the end."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.procs = []

    def start(self, source, *args):
        script = self.tmp / 'helper{0}.py'.format(len(self.procs))
        script.write_text(textwrap.dedent(source))
        proc = subprocess.Popen([sys.executable, str(script)] + [str(a) for a in args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        return proc

    def holder(self, path):
        proc = self.start(HOLDER, path)
        line = proc.stdout.readline().split()
        assert line[:1] == ['held'], proc.stderr.read()
        return proc, int(line[1])

    def cleanup(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
            for f in (proc.stdin, proc.stdout, proc.stderr):
                f.close()


@pytest.fixture
def procs(tmp_path):
    p = Processes(tmp_path)
    yield p
    p.cleanup()


def waiting_on_inotify(pid):
    """Whether PID has an inotify instance open: the waiter's watch."""
    return 'anon_inode:inotify' in proc_fds(pid).values()


def test_interface_is_lockfiles_pidlockfile():
    assert list(inspect.signature(PIDLockFile).parameters) == ['path', 'threaded', 'timeout']
    assert list(inspect.signature(TimeoutPIDLockFile).parameters) == ['path', 'acquire_timeout', 'threaded',
                                                                      'timeout']
    for name in ('acquire', 'release', 'is_locked', 'i_am_locking', 'read_pid', 'break_lock', '__enter__',
                 '__exit__'):
        assert callable(getattr(PIDLockFile, name)), name
    assert list(inspect.signature(PIDLockFile.acquire).parameters) == ['self', 'timeout']
    lock = TimeoutPIDLockFile('/run/x.pid', 5)
    assert (lock.path, lock.acquire_timeout, lock.timeout) == ('/run/x.pid', 5, None)
    assert issubclass(TimeoutPIDLockFile, PIDLockFile)
    assert set(pidfile_module.__all__) == {'PIDLockFile', 'TimeoutPIDLockFile', 'Error', 'LockError', 'LockTimeout',
                                           'AlreadyLocked', 'LockFailed', 'UnlockError', 'NotLocked', 'NotMyLock'}


def test_exception_types_are_lockfiles_hierarchy():
    for cls in (LockTimeout, AlreadyLocked, LockFailed):
        assert issubclass(cls, LockError)
    for cls in (NotLocked, NotMyLock):
        assert issubclass(cls, UnlockError)
    for cls in (LockError, UnlockError):
        assert issubclass(cls, Error)
    # With step, errno and message, like every error of the project.
    assert issubclass(Error, daemonctx.DaemonError)


def test_acquire_writes_the_pid_and_release_removes_the_file(tmp_path):
    path = tmp_path / 'a.pid'
    lock = PIDLockFile(str(path))
    assert not lock.is_locked() and lock.read_pid() is None
    lock.acquire()
    assert path.read_text() == '{0}\n'.format(os.getpid())
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert lock.is_locked() and lock.i_am_locking() and lock.read_pid() == os.getpid()
    lock.acquire()  # held by this object already: nothing to do
    lock.release()
    assert not path.exists()
    assert not lock.is_locked() and not lock.i_am_locking()
    with TimeoutPIDLockFile(str(path), 0) as held:
        assert isinstance(held, TimeoutPIDLockFile)
        assert path.read_text() == '{0}\n'.format(os.getpid())
    assert not path.exists()


def test_held_pidfile_with_zero_timeout_raises_already_locked_naming_the_holder(procs, tmp_path):
    path = tmp_path / 'held.pid'
    holder, pid = procs.holder(path)
    for lock, timeout in ((PIDLockFile(str(path)), 0), (PIDLockFile(str(path), timeout=-1), None),
                          (TimeoutPIDLockFile(str(path), 0), None)):
        with pytest.raises(AlreadyLocked) as info:
            lock.acquire(timeout)
        assert 'PID {0}'.format(pid) in str(info.value) and str(path) in str(info.value)
        assert info.value.errno == errno.EAGAIN and info.value.step == 'pidfile'
    assert path.read_text() == '{0}\n'.format(pid)
    assert PIDLockFile(str(path)).is_locked() and not PIDLockFile(str(path)).i_am_locking()


def test_held_pidfile_with_a_timeout_raises_lock_timeout_after_waiting_it(procs, tmp_path):
    path = tmp_path / 'held.pid'
    _, pid = procs.holder(path)
    start = time.monotonic()
    with pytest.raises(LockTimeout) as info:
        TimeoutPIDLockFile(str(path), 0.3).acquire()
    assert time.monotonic() - start >= 0.3
    assert 'PID {0}'.format(pid) in str(info.value) and 'waited 0.3 s' in str(info.value)
    assert info.value.errno == errno.ETIMEDOUT
    # acquire()'s own argument wins over acquire_timeout.
    with pytest.raises(AlreadyLocked):
        TimeoutPIDLockFile(str(path), 30).acquire(0)


def test_timeout_none_waits_until_the_holder_releases(procs, tmp_path):
    path = tmp_path / 'wait.pid'
    holder, _ = procs.holder(path)
    waiter = procs.start(WAITER, path, 'None')
    wait_until(lambda: waiting_on_inotify(waiter.pid), 'waiting')
    holder.stdin.write('release\n')
    holder.stdin.flush()
    result = waiter.stdout.readline()
    assert '"outcome": "acquired"' in result, result + waiter.stderr.read()
    assert '"content": "{0}\\n"'.format(waiter.pid) in result


def test_a_waiter_takes_over_when_the_holder_dies(procs, tmp_path):
    path = tmp_path / 'dies.pid'
    holder, pid = procs.holder(path)
    waiter = procs.start(WAITER, path, 60)
    wait_until(lambda: waiting_on_inotify(waiter.pid), 'waiting')
    holder.kill()  # the pidfile stays, stale: its lock went with the holder
    result = waiter.stdout.readline()
    assert '"outcome": "acquired"' in result, result + waiter.stderr.read()
    assert '"content": "{0}\\n"'.format(waiter.pid) in result


def test_waiting_for_a_held_lock_is_not_a_busy_loop(procs, tmp_path):
    path = tmp_path / 'busy.pid'
    procs.holder(path)
    waiter = procs.start(WAITER, path, 1.5)
    result = waiter.stdout.readline()
    assert '"outcome": "LockTimeout' in result, result + waiter.stderr.read()
    cpu = float(result.split('"cpu": ')[1].split(',')[0])
    assert cpu < 0.1, 'waiting 1.5 s took {0:.3f} s of CPU'.format(cpu)


def test_acquire_takes_over_a_stale_pidfile(tmp_path):
    path = tmp_path / 'stale.pid'
    # What a crashed daemon leaves: its PID in the file, no lock.
    path.write_text('999999\n')
    path.chmod(0o644)
    lock = PIDLockFile(str(path))
    assert not lock.is_locked()
    assert lock.read_pid() == 999999
    lock.acquire(0)
    assert path.read_text() == '{0}\n'.format(os.getpid())
    lock.release()


@pytest.mark.parametrize('content, pid', [('123\n', 123), ('  456 \nextra\n', 456), ('789', 789), ('', None),
                                          ('garbage\n', None), ('-5\n', None)])
def test_read_pid_is_as_lenient_as_lockfiles(tmp_path, content, pid):
    path = tmp_path / 'read.pid'
    path.write_text(content)
    assert PIDLockFile(str(path)).read_pid() == pid


def test_release_of_a_pidfile_not_held_raises_not_locked_or_not_my_lock(procs, tmp_path):
    path = tmp_path / 'release.pid'
    with pytest.raises(NotLocked) as info:
        PIDLockFile(str(path)).release()
    assert str(path) in str(info.value)
    path.write_text('999999\n')  # stale: nobody holds it
    with pytest.raises(NotLocked):
        PIDLockFile(str(path)).release()
    _, pid = procs.holder(path)
    with pytest.raises(NotMyLock) as info:
        PIDLockFile(str(path)).release()
    assert 'PID {0}'.format(pid) in str(info.value)
    assert path.read_text() == '{0}\n'.format(pid)


def test_break_lock_removes_a_stale_pidfile_and_leaves_a_held_one(procs, tmp_path):
    path = tmp_path / 'break.pid'
    PIDLockFile(str(path)).break_lock()  # absent: nothing to do
    path.write_text('999999\n')
    PIDLockFile(str(path)).break_lock()
    assert not path.exists()
    _, pid = procs.holder(path)
    PIDLockFile(str(path)).break_lock()
    assert path.read_text() == '{0}\n'.format(pid)  # removing it would let a second instance start
    mine = PIDLockFile(str(tmp_path / 'mine.pid'))
    mine.acquire()
    mine.break_lock()
    assert not (tmp_path / 'mine.pid').exists()


def test_unusable_pidfiles_raise_lock_failed_naming_the_path(tmp_path):
    target = tmp_path / 'victim'
    target.write_text('precious\n')
    link = tmp_path / 'link.pid'
    link.symlink_to(target)
    with pytest.raises(LockFailed) as info:
        PIDLockFile(str(link)).acquire(0)
    assert info.value.errno == errno.ELOOP and str(link) in str(info.value)
    assert target.read_text() == 'precious\n'
    missing = tmp_path / 'no-such-dir' / 'x.pid'
    with pytest.raises(LockFailed) as info:
        PIDLockFile(str(missing)).acquire()
    assert info.value.errno == errno.ENOENT and str(missing) in str(info.value)
    with pytest.raises(LockFailed):
        PIDLockFile('')


def test_errors_are_lockfiles_classes_once_lockfile_is_imported(tmp_path):
    # In a process of its own: whether lockfile is imported is the point.
    script = tmp_path / 'classes.py'
    script.write_text(textwrap.dedent('''
        import pickle, sys
        from daemon.pidfile import AlreadyLocked, LockTimeout, NotMyLock, PIDLockFile
        import daemon
        assert 'lockfile' not in sys.modules, 'daemon and daemon.pidfile need not import lockfile'
        lock = PIDLockFile(sys.argv[1])
        lock.acquire()
        try:
            PIDLockFile(sys.argv[1]).acquire(0)
        except AlreadyLocked as exc:
            plain = exc
        try:
            import lockfile
        except ImportError:
            print('no lockfile')
            sys.exit(0)
        try:
            PIDLockFile(sys.argv[1]).acquire(0)
        except lockfile.AlreadyLocked as exc:
            assert isinstance(exc, AlreadyLocked) and isinstance(exc, lockfile.LockError)
            assert type(pickle.loads(pickle.dumps(exc))) is type(exc)
            assert not isinstance(plain, lockfile.Error)
        try:
            PIDLockFile(sys.argv[1]).acquire(0.05)
        except lockfile.LockTimeout as exc:
            assert isinstance(exc, LockTimeout)
        print('lockfile classes')
    '''))
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / 'c.pid')], capture_output=True, text=True,
                          timeout=DEADLINE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout in ('lockfile classes\n', 'no lockfile\n')


def test_pidfile_errors_pickle():
    exc = pickle.loads(pickle.dumps(AlreadyLocked('pidfile /x is locked by PID 7', step='pidfile',
                                                  errno=errno.EAGAIN)))
    assert isinstance(exc, AlreadyLocked)
    assert (str(exc), exc.step, exc.errno) == ('pidfile /x is locked by PID 7', 'pidfile', errno.EAGAIN)


def test_a_signal_interrupts_the_wait(procs, tmp_path):
    path = tmp_path / 'interrupt.pid'
    procs.holder(path)
    waiter = procs.start(WAITER, path, 'None')
    wait_until(lambda: waiting_on_inotify(waiter.pid), 'waiting')
    waiter.send_signal(signal.SIGINT)
    # KeyboardInterrupt, raised out of the wait: uncaught, the interpreter
    # ends by the signal after printing it.
    assert waiter.wait(DEADLINE) == -signal.SIGINT
    assert 'KeyboardInterrupt' in waiter.stderr.read()


def test_pidfile_path_may_be_a_pathlike(tmp_path):
    path = tmp_path / 'pathlike.pid'
    lock = PIDLockFile(path)  # os.PathLike, as lockfile takes any path
    lock.acquire()
    assert path.read_text() == '{0}\n'.format(os.getpid())
    lock.release()
