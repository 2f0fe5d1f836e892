"""The seed's usage example (examples/pep3143_example.py), started as a script
and observed from outside.

Its pidfile path is written in it (/tmp/pep3134daemon_example.pid). Each run
uses a pidfile of its own, never the real /tmp: the example runs unchanged
with a private /tmp (a mount namespace whose /tmp is this test's directory;
what the example's process needs from the real /tmp, such as a checkout
there, stays visible in it). Where no private /tmp can be had (no mount
namespaces; a chroot, whose root is not a mount point), a copy of the example
runs whose pidfile path, the one line that differs, is this test's.
"""
import os
import signal
import subprocess
import sys
import types

import pytest

from conftest import (DEADLINE, EXAMPLE, private_tmp_available, private_tmp_preexec, proc_fds, proc_is, proc_stat,
                      proc_status, signal_set, tmp_entries_needed, wait_exit)

WRITTEN_PIDFILE = '/tmp/pep3134daemon_example.pid'


@pytest.fixture
def example(tmp_path):
    """The example's run: .start() runs it; .pidfile is its pidfile as seen from
    here, .shown the path it prints, .script what runs; .track(PID) records a
    PID to kill at the end."""
    private = tmp_path / 'tmp'
    private.mkdir()
    started = []
    # What the example's process needs from the file system.
    keep = tmp_entries_needed([str(EXAMPLE), sys.executable] + [p for p in sys.path if p])
    if not any(os.path.realpath(str(tmp_path)).startswith(os.path.join('/tmp', name) + '/') for name in keep) and \
            private_tmp_available(str(private), keep):
        script, preexec = EXAMPLE, private_tmp_preexec(str(private), keep)
        pidfile, shown = private / os.path.basename(WRITTEN_PIDFILE), WRITTEN_PIDFILE
    else:
        text = EXAMPLE.read_text()
        assert text.count(repr(WRITTEN_PIDFILE)) == 1, 'the example does not name its pidfile as expected'
        pidfile = tmp_path / 'example.pid'
        script, preexec, shown = tmp_path / 'pep3143_example.py', None, str(pidfile)
        script.write_text(text.replace(repr(WRITTEN_PIDFILE), repr(shown)))

    def start():
        proc = subprocess.run([sys.executable, str(script)], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=DEADLINE, preexec_fn=preexec)
        return proc

    def track(pid):
        started.append(pid)

    yield types.SimpleNamespace(start=start, pidfile=pidfile, shown=shown, script=script, track=track)
    for pid in started:
        try:
            os.kill(pid, signal.SIGKILL)
            wait_exit(pid, 5)
        except (ProcessLookupError, ChildProcessError, AssertionError):
            pass


def read_pidfile(path):
    with open(path) as f:
        text = f.read()
    assert text.endswith('\n') and text[:-1].isdigit(), 'pidfile holds {0!r}'.format(text)
    return int(text)


def test_seed_example_daemonizes_and_stops_on_sigterm(example):
    start, pidfile, shown, track = example.start, example.pidfile, example.shown, example.track
    proc = start()
    # The original process leaves with status 0 once the daemon is up; what it
    # printed before daemonizing is there exactly once.
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == 'pidfile is: {0}\ndaemonizing...\n'.format(shown)
    assert proc.stderr == ''
    # The pidfile already holds the daemon's PID: read once, right after the
    # original process exited, no retry.
    pid = read_pidfile(pidfile)
    track(pid)
    state, ppid, pgrp, session, tty = proc_stat(pid)
    assert state in 'SR', state
    assert ppid == os.getpid()  # orphaned, adopted by us (the subreaper)
    assert session != pid and pgrp != pid  # detached, not a session leader
    assert tty == 0  # no controlling terminal
    with open('/proc/{0}/cmdline'.format(pid), 'rb') as f:
        assert str(example.script).encode() in f.read().split(b'\0')

    # PEP 3143 defaults, seen from outside.
    status = proc_status(pid)
    assert status['Umask'] == '0000'
    assert proc_is(pid, 'cwd', '/')  # the same directory, whatever the path strings say
    assert proc_is(pid, 'root', '/')
    assert {signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU} <= signal_set(status['SigIgn'])
    assert signal.SIGTERM in signal_set(status['SigCgt'])  # DaemonContext.terminate
    fds = proc_fds(pid)
    assert all(proc_is(pid, 'fd/{0}'.format(fd), os.devnull) for fd in (0, 1, 2)), fds
    # Besides the standard streams, only the pidfile (its lock and its
    # directory) and, the example's own doing once daemonized, its syslog
    # connection (syslog.syslog() opens it, and closes it on an error).
    for fd, target in fds.items():
        if fd <= 2 or target.startswith('socket:'):
            continue
        try:
            ours = proc_is(pid, 'fd/{0}'.format(fd), pidfile) or proc_is(pid, 'fd/{0}'.format(fd), pidfile.parent)
        except FileNotFoundError:  # closed meanwhile
            continue
        assert ours, 'fd {0} -> {1}: not the pidfile nor its directory ({2})'.format(fd, target, fds)
    with open('/proc/{0}/limits'.format(pid)) as f:
        core = [line.split()[4:6] for line in f if line.startswith('Max core file size')][0]
    assert core == ['0', '0']

    # SIGTERM: DaemonContext.terminate raises SystemExit; the interpreter exits
    # (status 1, the SystemExit message) and the pidfile goes with it.
    os.kill(pid, signal.SIGTERM)
    assert wait_exit(pid) == 1
    assert not pidfile.exists()


def test_seed_example_second_instance_refused_naming_the_pid(example):
    start, pidfile, shown, track = example.start, example.pidfile, example.shown, example.track
    first = start()
    assert first.returncode == 0, first.stderr
    pid = read_pidfile(pidfile)
    track(pid)

    second = start()
    # Refused before forking, with SystemExit naming the running instance.
    assert second.returncode == 1
    assert second.stdout == 'pidfile is: {0}\ndaemonizing...\n'.format(shown)
    assert 'PID {0}'.format(pid) in second.stderr, second.stderr
    assert 'Traceback' not in second.stderr  # a SystemExit, not a crash
    # The running instance and its pidfile are untouched.
    assert read_pidfile(pidfile) == pid
    assert proc_stat(pid)[0] in 'SR'

    os.kill(pid, signal.SIGTERM)
    assert wait_exit(pid) == 1
    assert not pidfile.exists()
