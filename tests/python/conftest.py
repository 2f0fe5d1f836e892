"""Shared helpers of the Python tests.

The tests never daemonize the pytest process: they start small scripts (with
Debian's interpreter, the one running pytest) that do, and observe the daemons
from outside, through /proc, pidfiles and pipes. The pytest process is a child
subreaper, so every daemon it starts becomes its child once the original
process exits: it can wait for it and see its exit status. Synchronization is
on pipes, pidfds and process exits, each under a deadline; no sleeps.
"""
import ctypes
import errno
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

# Seconds, for anything a test waits for; more under sanitizers (CMake sets
# the scale, as for the C tests).
DEADLINE = 20.0 * max(1, int(os.environ.get('DCX_TEST_TIME_SCALE') or 1))

PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]

SOURCE_DIR = Path(os.environ.get('DAEMONCTX_SOURCE_DIR') or Path(__file__).resolve().parents[2])
EXAMPLE = SOURCE_DIR / 'examples' / 'pep3143_example.py'


def pytest_configure(config):
    if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise pytest.UsageError('cannot become a child subreaper: {0}'.format(os.strerror(err)))
    try:
        import daemonctx  # noqa: F401
    except ImportError as exc:
        raise pytest.UsageError('cannot import daemonctx ({0}): put the build directory\'s python/ on '
                                'PYTHONPATH (ctest does), or install the package'.format(exc))


# ------------------------------------------------------------------ /proc

def proc_status(pid):
    """/proc/PID/status as a dict of str."""
    result = {}
    with open('/proc/{0}/status'.format(pid)) as f:
        for line in f:
            key, _, value = line.partition(':')
            result[key] = value.strip()
    return result


def proc_stat(pid):
    """(state, ppid, pgrp, session, tty_nr) from /proc/PID/stat."""
    with open('/proc/{0}/stat'.format(pid)) as f:
        text = f.read()
    fields = text[text.rindex(')') + 2:].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[3]), int(fields[4])


def proc_fds(pid):
    """{fd: target} of PID's open fds (one closed while they are listed is left
    out: a daemon may open and close a socket at any time)."""
    base = '/proc/{0}/fd'.format(pid)
    fds = {}
    for fd in os.listdir(base):
        try:
            fds[int(fd)] = os.readlink(os.path.join(base, fd))
        except FileNotFoundError:
            pass
    return fds


def same_file(a, b):
    """Whether paths A and B are the same file: device and inode (devices: the
    same device number), not the path strings, which depend on the reader's
    root and mounts."""
    sa, sb = os.stat(a), os.stat(b)
    if stat.S_ISCHR(sa.st_mode) and stat.S_ISCHR(sb.st_mode):
        return sa.st_rdev == sb.st_rdev
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def proc_is(pid, what, path):
    """Whether /proc/PID/WHAT ('cwd', 'root', 'fd/N') is the file PATH."""
    return same_file('/proc/{0}/{1}'.format(pid, what), str(path))


def proc_core_limit(pid):
    """(soft, hard) 'Max core file size' of PID, as strings."""
    with open('/proc/{0}/limits'.format(pid)) as f:
        for line in f:
            if line.startswith('Max core file size'):
                parts = line.split()
                return parts[4], parts[5]
    raise AssertionError('no core limit in /proc/{0}/limits'.format(pid))


def signal_set(mask_hex):
    """The signal numbers in a /proc/PID/status Sig* mask."""
    mask = int(mask_hex, 16)
    return {n for n in range(1, 65) if mask & (1 << (n - 1))}


# -------------------------------------------------------------- processes

def wait_exit(pid, timeout=DEADLINE):
    """Wait for PID (a child of ours: we are a subreaper) to end; its exit code
    as subprocess reports it (negative for a signal)."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    if not ready:
        raise AssertionError('PID {0} did not exit within {1} s'.format(pid, timeout))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def read_line(fd, timeout=DEADLINE):
    """One line from pipe FD, under a deadline; '' at EOF."""
    deadline = time.monotonic() + timeout
    data = b''
    while not data.endswith(b'\n'):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(left, 0))
        if not ready:
            raise AssertionError('no line from the daemon within {0} s (got {1!r})'.format(timeout, data))
        chunk = os.read(fd, 1)
        if not chunk:
            break
        data += chunk
    return data.decode()


def read_json(fd, timeout=DEADLINE):
    line = read_line(fd, timeout)
    if not line:
        raise AssertionError('the daemon closed its report pipe without reporting')
    return json.loads(line)


def wait_until(condition, what, timeout=DEADLINE):
    """Poll CONDITION() until true, failing after TIMEOUT: for a state only
    /proc shows (a process asleep on some fd), which sends no event."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError('not {0} within {1} s'.format(what, timeout))
        time.sleep(0.005)


def assert_no_children():
    """Fail when this process has any child left, running or ended."""
    try:
        pid, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return
    raise AssertionError('a process was left behind: {0}'.format(
        'PID {0} (ended)'.format(pid) if pid else 'a running child'))


# The common start of the daemon scripts: argv[1] is the write end of the
# report pipe; say() sends one JSON line on it; idle() waits for signals.
# idle() wakes every 50 ms rather than block in signal.pause(): a signal
# that comes after Python's last look at its pending signals and before
# pause() blocks waits in Python for the next signal, which never comes (seen
# under load: a test's SIGTERM sent as soon as say() was read). The wake-up
# is the daemon script's, not the tests' synchronization: they wait for its
# exit on a pidfd. (The wakeup-fd idiom would add two fds the tests count.)
PRELUDE = '''\
import errno, json, os, signal, sys, time
from daemonctx import DaemonContext, DaemonError, PidFile
report = int(sys.argv[1])
def say(**kw):
    os.write(report, (json.dumps(kw) + "\\n").encode())
def idle():
    while True:
        time.sleep(0.05)
'''


class Runner:
    """Starts daemon scripts for one test and cleans up what they leave."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.pids = set()
        self.report_r, self.report_w = os.pipe()
        self.opened = [self.report_r, self.report_w]

    def script(self, body, name='daemon_script.py'):
        path = self.tmp / name
        path.write_text(PRELUDE + textwrap.dedent(body))
        return path

    def run(self, script, *args, timeout=DEADLINE, pass_fds=(), **kwargs):
        """Run SCRIPT (report pipe as argv[1]) to the end of its original process."""
        kwargs.setdefault('stdin', subprocess.DEVNULL)
        return subprocess.run([sys.executable, str(script), str(self.report_w)] + [str(a) for a in args],
                              capture_output=True, text=True, timeout=timeout,
                              pass_fds=(self.report_w,) + tuple(pass_fds), **kwargs)

    def popen(self, script, *args, pass_fds=(), **kwargs):
        """Start SCRIPT and return at once (for a daemon that does not fork)."""
        kwargs.setdefault('stdin', subprocess.DEVNULL)
        proc = subprocess.Popen([sys.executable, str(script), str(self.report_w)] + [str(a) for a in args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                pass_fds=(self.report_w,) + tuple(pass_fds), **kwargs)
        self.pids.add(proc.pid)
        return proc

    def close_write_end(self):
        """Drop our copy of the report pipe's write end: EOF once the daemon is gone."""
        if self.report_w in self.opened:
            os.close(self.report_w)
            self.opened.remove(self.report_w)

    def report(self, timeout=DEADLINE):
        return read_json(self.report_r, timeout)

    def track(self, pid):
        self.pids.add(pid)
        return pid

    def stop(self, pid, signo=signal.SIGTERM, timeout=DEADLINE):
        os.kill(pid, signo)
        code = wait_exit(pid, timeout)
        self.pids.discard(pid)
        return code

    def cleanup(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                wait_exit(pid, 5)
            except (ChildProcessError, ProcessLookupError, AssertionError):
                pass
        for fd in self.opened:
            os.close(fd)


@pytest.fixture
def runner(tmp_path):
    r = Runner(tmp_path)
    yield r
    r.cleanup()


@pytest.fixture
def any_user_env():
    """The environment for an interpreter that runs as another user from the
    start: PYTHONPATH names a copy of the packages in a 0755 directory under
    /tmp, since the build tree may sit under a 0700 home (/root/project)."""
    import daemonctx
    root = Path(daemonctx.__file__).resolve().parents[1]
    copy = Path(tempfile.mkdtemp(prefix='dcx-py-'))
    try:
        copy.chmod(0o755)
        for package in ('daemonctx', 'pep3143daemon', 'daemon'):
            shutil.copytree(root / package, copy / package)
        yield dict(os.environ, PYTHONPATH=str(copy))
    finally:
        shutil.rmtree(copy)


# ------------------------------------------------------------ private /tmp

def _make_private(path):
    while True:
        if _libc.mount(None, os.fsencode(path), None, MS_REC | MS_PRIVATE, None) == 0:
            return 0
        err = ctypes.get_errno()
        if err != errno.EINVAL or path == '/':
            return err
        path = os.path.dirname(path)


def _bind_tmp(directory, keep=()):
    """In a mount namespace of our own, DIRECTORY becomes /tmp; the entries of
    the real /tmp named in KEEP (what the process still needs: the source or
    build tree may live there) stay visible in it."""
    if _libc.unshare(CLONE_NEWNS) != 0:
        return ctypes.get_errno()
    # Our mounts must not propagate back: the mount holding /tmp becomes
    # private. It is the nearest mount point at or above /tmp ("/" is not
    # always one: a chroot's root may be a plain directory).
    err = _make_private('/tmp')
    if err:
        return err
    for name in keep:
        inside = os.path.join(directory, name)
        source = os.path.join('/tmp', name)
        if os.path.isdir(source):
            os.makedirs(inside, exist_ok=True)
        else:
            open(inside, 'a').close()
        if _libc.mount(os.fsencode(source), os.fsencode(inside), None, MS_BIND | MS_REC, None) != 0:
            return ctypes.get_errno()
    if _libc.mount(os.fsencode(directory), b'/tmp', None, MS_BIND | MS_REC, None) != 0:
        return ctypes.get_errno()
    return 0


def tmp_entries_needed(paths):
    """The entries of /tmp under which any of PATHS lies (by their real path)."""
    names = set()
    for path in paths:
        real = os.path.realpath(path)
        if real.startswith('/tmp/'):
            names.add(real[len('/tmp/'):].split('/')[0])
    return sorted(names)


def private_tmp_available(directory, keep=()):
    """Whether a process can get DIRECTORY as its /tmp (a private mount
    namespace), KEEP staying visible. Probed in a forked child that only
    makes system calls."""
    pid = os.fork()
    if pid == 0:
        os._exit(1 if _bind_tmp(directory, keep) else 0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def private_tmp_preexec(directory, keep=()):
    def preexec():
        err = _bind_tmp(directory, keep)
        if err:
            raise OSError(err, 'cannot give the example a private /tmp')
    return preexec
