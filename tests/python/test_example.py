"""The seed's usage example (examples/pep3143_example.py, verbatim), started as a
script and observed from outside.

Its pidfile path is fixed (/tmp/pep3134daemon_example.pid): each run gets a
private /tmp (a mount namespace) when the system allows it, so that runs in
parallel, or another program's instance, cannot clash; otherwise the real /tmp
is used, one test at a time.
"""
import fcntl
import os
import signal
import subprocess
import sys

import pytest

from daemonctx import _daemonctx
from conftest import (DEADLINE, EXAMPLE, private_tmp_available, private_tmp_preexec, proc_fds, proc_stat,
                      proc_status, signal_set, wait_exit)

PIDFILE_NAME = 'pep3134daemon_example.pid'


def under_tmp(path):
    path = os.path.realpath(path)
    return path == '/tmp' or path.startswith('/tmp/')


@pytest.fixture
def example(tmp_path):
    """(start, pidfile, track): run the example, the pidfile's path as seen from
    here, record a PID to kill at the end."""
    private = tmp_path / 'tmp'
    private.mkdir()
    started = []
    lock = None
    # What the example's process needs from the file system must stay visible
    # once /tmp is replaced.
    needed = [str(EXAMPLE), sys.executable] + [p for p in sys.path if p]
    if not any(under_tmp(p) for p in needed) and private_tmp_available(private):
        outside = private
        preexec = private_tmp_preexec(private)
    else:
        outside = '/tmp'
        preexec = None
        lock = open('/tmp/.pep3134daemon_example.test-lock', 'w')
        fcntl.flock(lock, fcntl.LOCK_EX)
        state, holder = _daemonctx.inspect(os.path.join(outside, PIDFILE_NAME))
        if state in (_daemonctx.PIDFILE_RUNNING, _daemonctx.PIDFILE_STARTING):
            lock.close()
            pytest.skip('another instance of the example runs (PID {0}) and /tmp cannot be made private'.format(
                holder))

    def start():
        proc = subprocess.run([sys.executable, str(EXAMPLE)], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=DEADLINE, preexec_fn=preexec)
        return proc

    def pidfile():
        return os.path.join(str(outside), PIDFILE_NAME)

    def track(pid):
        started.append(pid)

    yield start, pidfile, track
    for pid in started:
        try:
            os.kill(pid, signal.SIGKILL)
            wait_exit(pid, 5)
        except (ProcessLookupError, ChildProcessError, AssertionError):
            pass
    if lock is not None:
        lock.close()


def read_pidfile(path):
    with open(path) as f:
        text = f.read()
    assert text.endswith('\n') and text[:-1].isdigit(), 'pidfile holds {0!r}'.format(text)
    return int(text)


def test_seed_example_daemonizes_and_stops_on_sigterm(example):
    start, pidfile, track = example
    proc = start()
    # The original process leaves with status 0 once the daemon is up; what it
    # printed before daemonizing is there exactly once.
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == 'pidfile is: /tmp/pep3134daemon_example.pid\ndaemonizing...\n'
    assert proc.stderr == ''
    # The pidfile already holds the daemon's PID: read once, right after the
    # original process exited, no retry.
    pid = read_pidfile(pidfile())
    track(pid)
    state, ppid, pgrp, session, tty = proc_stat(pid)
    assert state in 'SR', state
    assert ppid == os.getpid()  # orphaned, adopted by us (the subreaper)
    assert session != pid and pgrp != pid  # detached, not a session leader
    assert tty == 0  # no controlling terminal
    with open('/proc/{0}/cmdline'.format(pid), 'rb') as f:
        assert str(EXAMPLE).encode() in f.read().split(b'\0')

    # PEP 3143 defaults, seen from outside.
    status = proc_status(pid)
    assert status['Umask'] == '0000'
    assert os.readlink('/proc/{0}/cwd'.format(pid)) == '/'
    assert os.readlink('/proc/{0}/root'.format(pid)) == '/'
    assert {signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU} <= signal_set(status['SigIgn'])
    assert signal.SIGTERM in signal_set(status['SigCgt'])  # DaemonContext.terminate
    fds = proc_fds(pid)
    assert fds[0] == fds[1] == fds[2] == '/dev/null'
    # Besides the standard streams, only the pidfile (its lock and its directory).
    others = {target for fd, target in fds.items() if fd > 2}
    assert others <= {'/tmp/pep3134daemon_example.pid', '/tmp'}, fds
    with open('/proc/{0}/limits'.format(pid)) as f:
        core = [line.split()[4:6] for line in f if line.startswith('Max core file size')][0]
    assert core == ['0', '0']

    # SIGTERM: DaemonContext.terminate raises SystemExit; the interpreter exits
    # (status 1, the SystemExit message) and the pidfile goes with it.
    os.kill(pid, signal.SIGTERM)
    assert wait_exit(pid) == 1
    assert not os.path.exists(pidfile())


def test_seed_example_second_instance_refused_naming_the_pid(example):
    start, pidfile, track = example
    first = start()
    assert first.returncode == 0, first.stderr
    pid = read_pidfile(pidfile())
    track(pid)

    second = start()
    # Refused before forking, with SystemExit naming the running instance.
    assert second.returncode == 1
    assert second.stdout == 'pidfile is: /tmp/pep3134daemon_example.pid\ndaemonizing...\n'
    assert 'PID {0}'.format(pid) in second.stderr, second.stderr
    assert 'Traceback' not in second.stderr  # a SystemExit, not a crash
    # The running instance and its pidfile are untouched.
    assert read_pidfile(pidfile()) == pid
    assert proc_stat(pid)[0] in 'SR'

    os.kill(pid, signal.SIGTERM)
    assert wait_exit(pid) == 1
    assert not os.path.exists(pidfile())
