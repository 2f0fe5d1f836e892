"""Debian's programs that daemonize with python-daemon, run unchanged with this
project's daemon package importable in place of python-daemon (first on
PYTHONPATH): start, is-alive, stop, as their packaging does it.

- calypso (CalDAV server): ``import daemon``, ``DaemonContext()``, options as
  attributes, a pidfile of the lockfile package (lockfile.pidlockfile), the
  ``with`` statement, SIGTERM -> terminate.
- nrpe-ng (Nagios remote plugin executor; root): ``daemon.daemon.DaemonContext``
  with uid/gid/initgroups, files_preserve appended to after construction,
  signal_map updated in place, ``daemon.pidfile.TimeoutPIDLockFile``,
  ``except lockfile.AlreadyLocked``; stopped by start-stop-daemon as its init
  script does.

tools/install-deps --test installs them (Debian: calypso, nrpe-ng)."""
import http.client
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from conftest import DEADLINE, proc_stat, proc_status, wait_exit, wait_until

OURS = os.environ.get('PYTHONPATH', '').split(os.pathsep)[0]
CALYPSO = '/usr/bin/calypso'
NRPE_NG = '/usr/sbin/nrpe-ng'
CHECK_NRPE_NG = '/usr/lib/nagios/plugins/check_nrpe_ng'


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def listening(port):
    """Whether something listens on 127.0.0.1:PORT (/proc/net/tcp, state 0A)."""
    with open('/proc/net/tcp') as f:
        return any(fields[1] == '0100007F:{0:04X}'.format(port) and fields[3] == '0A'
                   for fields in (line.split() for line in list(f)[1:]))


def environment(**extra):
    """The program's environment: our package first on the path."""
    env = dict(os.environ, **extra)
    env['PYTHONPATH'] = OURS
    return env


def uses_our_package(pid):
    """Whether process PID has loaded this build's C core (python-daemon has
    no such module)."""
    with open('/proc/{0}/maps'.format(pid)) as f:
        return any('/daemonctx/_daemonctx' in line and OURS in line for line in f)


def read_pid(path):
    with open(path) as f:
        text = f.read()
    assert text.endswith('\n') and text[:-1].isdigit(), 'pidfile {0} holds {1!r}'.format(path, text)
    return int(text)


class Started:
    """PIDs to kill at the end of a test."""

    def __init__(self):
        self.pids = []

    def add(self, pid):
        self.pids.append(pid)
        return pid

    def cleanup(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
                wait_exit(pid, 5)
            except (ProcessLookupError, ChildProcessError, AssertionError):
                pass


@pytest.fixture
def started():
    s = Started()
    yield s
    s.cleanup()


@pytest.fixture
def calypso(tmp_path):
    if not os.access(CALYPSO, os.X_OK):
        pytest.skip('calypso is not installed (Debian: calypso; tools/install-deps --test)')
    home = tmp_path / 'home'
    (home / '.config' / 'calypso' / 'calendars' / 'cal').mkdir(parents=True)
    port = free_port()

    def run(pidfile):
        return subprocess.run([CALYPSO, '--daemon', '-H', '127.0.0.1', '-p', str(port), '-P', str(pidfile)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=DEADLINE,
                              env=environment(HOME=str(home)))
    return run, port


def test_calypso_starts_serves_and_stops_with_our_daemon_package(calypso, started, tmp_path):
    run, port = calypso
    pidfile = tmp_path / 'calypso.pid'
    proc = run(pidfile)
    assert proc.returncode == 0, proc.stderr
    # Up, with its PID in the pidfile, before `calypso --daemon` exited.
    pid = started.add(read_pid(pidfile))
    state, ppid, _, session, tty = proc_stat(pid)
    assert state in 'SR' and session != os.getsid(0) and tty == 0
    assert ppid == os.getpid()  # orphaned, adopted by us (the subreaper)
    assert uses_our_package(pid)
    # Calypso makes its server socket once daemonized (python-daemon or not):
    # it may not listen yet.
    wait_until(lambda: listening(port), 'listening on port {0}'.format(port))
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=DEADLINE)
    try:
        conn.request('GET', '/')
        assert conn.getresponse().status == 200
        conn.request('PROPFIND', '/cal/', headers={'Depth': '0'})
        assert conn.getresponse().status == 207
    finally:
        conn.close()
    # Stop: SIGTERM -> DaemonContext.terminate -> SystemExit; the with block
    # closes the context, which exits lockfile's pidfile: removed.
    os.kill(pid, signal.SIGTERM)
    assert wait_exit(pid) == 1
    assert not pidfile.exists()


def test_calypso_with_an_unusable_pidfile_fails_in_the_command_that_starts_it(calypso, tmp_path):
    run, _ = calypso
    pidfile = tmp_path / 'no-such-directory' / 'calypso.pid'
    proc = run(pidfile)
    # python-daemon: exit status 0, and a daemon that died at once, silently.
    # Here lockfile's error, raised in the daemon, ends `calypso --daemon`.
    assert proc.returncode == 1
    assert 'LockFailed' in proc.stderr and str(pidfile) in proc.stderr
    with open('/proc/self/task/{0}/children'.format(os.getpid())) as f:
        assert f.read().split() == []  # no daemon left


@pytest.fixture
def nrpe_ng(tmp_path):
    if not os.access(NRPE_NG, os.X_OK) or not os.access(CHECK_NRPE_NG, os.X_OK):
        pytest.skip('nrpe-ng is not installed (Debian: nrpe-ng; tools/install-deps --test)')
    if os.geteuid() != 0:
        pytest.skip('nrpe-ng drops from root to its user')
    if shutil.which('openssl') is None:
        pytest.skip('openssl is needed for a test certificate')
    nagios = pwd.getpwnam('nagios')
    run = tmp_path / 'run'
    run.mkdir()
    os.chown(run, nagios.pw_uid, 0)  # as its init script makes /run/nagios
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
                    '-keyout', str(tmp_path / 'key.pem'), '-out', str(tmp_path / 'cert.pem')],
                   check=True, capture_output=True, timeout=60)
    port = free_port()
    config = tmp_path / 'nrpe-ng.cfg'
    config.write_text('\n'.join([
        'pid_file={0}'.format(run / 'nrpe-ng.pid'), 'server_address=127.0.0.1', 'server_port={0}'.format(port),
        'ssl_cert_file={0}'.format(tmp_path / 'cert.pem'), 'ssl_key_file={0}'.format(tmp_path / 'key.pem'),
        'command[check_true]=/bin/true', 'command[check_false]=/bin/false', '']))
    client = tmp_path / 'client.cfg'
    client.write_text('ssl_verify_server=false\n')

    def start():
        # What its init script runs (DAEMON_ARGS="--config $CONFFILE --daemon").
        return subprocess.run([NRPE_NG, '--config', str(config), '--daemon'], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=DEADLINE, env=environment())

    def check(command):
        return subprocess.run([CHECK_NRPE_NG, '-C', str(client), '-H', '127.0.0.1', '-p', str(port), '-c', command],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=DEADLINE).returncode

    def stop(pid):
        """Its init script's stop, with a shorter grace: nrpe-ng 0.2.0 does
        not exit on SIGTERM with Debian 12's tornado, so KILL comes after it.
        The daemon is our child (we are the subreaper): reaped as it dies, so
        that start-stop-daemon does not wait on a zombie. Returns
        (start-stop-daemon's status, the daemon's)."""
        ssd = subprocess.Popen(['start-stop-daemon', '--stop', '--quiet', '--retry=TERM/1/KILL/5', '--pidfile',
                                str(run / 'nrpe-ng.pid'), '--name', 'nrpe-ng'])
        status = wait_exit(pid)
        return ssd.wait(DEADLINE), status

    return start, check, stop, run / 'nrpe-ng.pid', nagios


def test_nrpe_ng_starts_answers_and_stops_with_our_daemon_package(nrpe_ng, started):
    start, check, stop, pidfile, nagios = nrpe_ng
    proc = start()
    assert proc.returncode == 0, proc.stderr
    pid = started.add(read_pid(pidfile))
    assert uses_our_package(pid)
    status = proc_status(pid)
    assert status['Uid'].split() == [str(nagios.pw_uid)] * 4
    # python-daemon left this daemon in group 0 (initgroups without setgid).
    assert status['Gid'].split() == [str(nagios.pw_gid)] * 4
    assert status['Groups'].split() == [str(g) for g in os.getgrouplist('nagios', nagios.pw_gid)]
    assert proc_stat(pid)[3] != os.getsid(0)
    # Is it alive: the Nagios plugin asks it to run commands.
    assert check('check_true') == 0
    assert check('check_false') == 1

    assert stop(pid) == (0, -signal.SIGKILL)
    # Killed, it left its pidfile; the lock went with it: stale. With
    # python-daemon the next start exits 0 and no daemon runs (lockfile's
    # AlreadyLocked for the leftover file, raised where nobody sees it). Here
    # the stale file is taken over.
    assert read_pid(pidfile) == pid
    proc = start()
    assert proc.returncode == 0, proc.stderr
    again = started.add(read_pid(pidfile))
    assert again != pid and check('check_true') == 0
    assert stop(again) == (0, -signal.SIGKILL)
