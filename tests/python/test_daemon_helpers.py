"""The module-level helpers of daemon.daemon that python-daemon documents. Those
that change the process (ids, root, limits, fds, sessions) run in a child
script; the others in this process."""
import errno
import grp
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import warnings

import pytest

from conftest import DEADLINE, read_json, wait_exit

import daemon.daemon as dd
from daemon.daemon import DaemonOSEnvironmentError

HELPERS = ['get_stream_file_descriptors', 'change_working_directory', 'change_root_directory',
           'change_file_creation_mask', 'get_username_for_uid', 'change_process_owner', 'prevent_core_dump',
           'detach_process_context', 'is_process_started_by_init', 'is_socket', 'is_socket_file',
           'is_process_started_by_superserver', 'is_detach_process_context_required', 'close_file_descriptor_if_open',
           'get_maximum_file_descriptors', 'close_all_open_files', 'redirect_stream', 'make_default_signal_map',
           'set_signal_handlers', 'register_atexit_function']


def run_script(source, *args, **kwargs):
    """Run SOURCE in a child interpreter; its exit status and one JSON line."""
    proc = subprocess.run([sys.executable, '-c', source] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=DEADLINE, **kwargs)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_python_daemons_helpers_are_there():
    for name in HELPERS:
        assert callable(getattr(dd, name)), name
    assert dd.MAXFD == 2048


def test_working_directory_root_and_umask_helpers_raise_environment_errors_naming_the_path(tmp_path):
    missing = str(tmp_path / 'missing')
    with pytest.raises(DaemonOSEnvironmentError) as info:
        dd.change_working_directory(missing)
    assert missing in str(info.value) and info.value.errno == errno.ENOENT
    with pytest.raises(DaemonOSEnvironmentError) as info:
        dd.change_root_directory(missing)
    assert missing in str(info.value) and info.value.errno == errno.ENOENT
    with pytest.raises(DaemonOSEnvironmentError) as info:
        dd.change_file_creation_mask('022')
    assert "'022'" in str(info.value)


@pytest.mark.skipif(os.geteuid() != 0, reason='chroot needs root')
def test_root_directory_umask_and_core_helpers_change_the_process(tmp_path):
    jail = tmp_path / 'jail'
    (jail / 'inside').mkdir(parents=True)
    info = run_script('''
import json, os, resource, sys
import daemon.daemon as dd
dd.change_root_directory(sys.argv[1])
dd.change_working_directory('/inside')
dd.change_file_creation_mask(0o027)
dd.prevent_core_dump()
print(json.dumps(dict(cwd=os.getcwd(), listing=os.listdir('/'), umask=os.umask(0),
                      core=resource.getrlimit(resource.RLIMIT_CORE))))
''', jail)
    assert info == {'cwd': '/inside', 'listing': ['inside'], 'umask': 0o027, 'core': [0, 0]}


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root')
@pytest.mark.parametrize('initgroups', [True, False])
def test_change_process_owner_sets_the_users_groups_then_gid_then_uid(initgroups):
    nobody, nogroup = pwd.getpwnam('nobody').pw_uid, grp.getgrnam('nogroup').gr_gid
    info = run_script('''
import json, os, sys
import daemon.daemon as dd
dd.change_process_owner(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == 'True')
print(json.dumps(dict(uid=os.getresuid(), gid=os.getresgid(), groups=sorted(os.getgroups()))))
''', nobody, nogroup, initgroups)
    # python-daemon kept gid 0 with initgroups, and root's groups without.
    assert info == {'uid': [nobody] * 3, 'gid': [nogroup] * 3,
                    'groups': sorted(os.getgrouplist('nobody', nogroup))}
    assert dd.get_username_for_uid(nobody) == 'nobody'


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root')
def test_change_process_owner_refused_raises_an_environment_error():
    proc = subprocess.run([sys.executable, '-c', '''
import os, sys
import daemon.daemon as dd
os.setgid(65534); os.setgroups([]); os.setuid(65534)
try:
    dd.change_process_owner(0, 0)
except dd.DaemonOSEnvironmentError as exc:
    print(exc.errno, exc)
'''], capture_output=True, text=True, timeout=DEADLINE)
    assert proc.stdout.startswith('{0} cannot change process owner to uid 0, gid 0'.format(errno.EPERM)), proc.stderr


def test_detach_process_context_leaves_a_grandchild_in_a_session_of_its_own():
    r, w = os.pipe()
    try:
        proc = subprocess.run([sys.executable, '-c', '''
import json, os, sys
import daemon.daemon as dd
dd.detach_process_context()
os.write(int(sys.argv[1]), (json.dumps(dict(pid=os.getpid(), sid=os.getsid(0), ppid=os.getppid())) + '\\n').encode())
''', str(w)], pass_fds=(w,), timeout=DEADLINE)
        os.close(w)
        w = None
        assert proc.returncode == 0
        info = read_json(r)
        assert info['sid'] != os.getsid(0) and info['sid'] != info['pid']  # not a session leader
        # Orphaned, adopted by us (the subreaper): reap it.
        assert wait_exit(info['pid']) == 0
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


def test_socket_helpers_and_the_detach_decision():
    left, right = socket.socketpair()
    with left, right, open(os.devnull) as null:
        assert dd.is_socket_file(left) and not dd.is_socket_file(null)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            assert dd.is_socket(left.fileno()) and not dd.is_socket(null.fileno())
            assert not dd.is_socket(10 ** 6)  # not open: not a socket
        assert all(issubclass(w.category, DeprecationWarning) for w in caught) and len(caught) == 3
        probe = 'import daemon.daemon as dd; print(dd.is_process_started_by_superserver(), ' \
                'dd.is_detach_process_context_required(), dd.is_process_started_by_init())'
        on_socket = subprocess.run([sys.executable, '-c', probe], stdin=right, capture_output=True, text=True,
                                   timeout=DEADLINE)
        assert on_socket.stdout == 'True False False\n', on_socket.stderr
        on_null = subprocess.run([sys.executable, '-c', probe], stdin=null, capture_output=True, text=True,
                                 timeout=DEADLINE)
        assert on_null.stdout == 'False True False\n', on_null.stderr


def test_close_all_open_files_costs_the_open_fds_not_the_limit():
    info = run_script('''
import json, os, resource
import daemon.daemon as dd
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
kept = os.open(os.devnull, os.O_RDONLY)
high = os.dup2(kept, hard - 1)
lost = [os.open(os.devnull, os.O_RDONLY) for _ in range(5)]
closes = []
real_close = os.close
def counting_close(fd):
    closes.append(fd)
    real_close(fd)
os.close = counting_close
dd.close_all_open_files(exclude={0, 1, 2, kept})
os.close = real_close
def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
print(json.dumps(dict(closes=len(closes), open=[fd for fd in [0, 1, 2, kept, high] + lost if is_open(fd)],
                      kept=kept)))
''', stdin=subprocess.DEVNULL)
    assert info['open'] == [0, 1, 2, info['kept']]
    # The open ones (and the listing's own fd), not every number to the limit.
    assert info['closes'] <= 10, info


def test_close_all_open_files_refuses_what_is_not_an_fd():
    with pytest.raises(TypeError, match='not an integer file descriptor'):
        dd.close_all_open_files(exclude=['0'])


def test_close_file_descriptor_if_open(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY)
    dd.close_file_descriptor_if_open(fd)
    dd.close_file_descriptor_if_open(fd)  # not open any more: fine
    with pytest.raises(OSError):
        os.fstat(fd)


def test_get_maximum_file_descriptors_is_the_hard_limit():
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert dd.get_maximum_file_descriptors() == (dd.MAXFD if hard == resource.RLIM_INFINITY else hard)


def test_redirect_stream_and_the_stream_fds(tmp_path):
    log = tmp_path / 'out.log'
    proc = subprocess.run([sys.executable, '-c', '''
import json, os, sys
import daemon.daemon as dd
with open(sys.argv[1], 'w') as log:
    dd.redirect_stream(sys.stdout, log)
    print('into the log', flush=True)
dd.redirect_stream(sys.stdin, None)
sys.stderr.write(json.dumps(dict(stdin=os.readlink('/proc/self/fd/0'), fds=sorted(dd.get_stream_file_descriptors()),
                                 fds_of=sorted(dd.get_stream_file_descriptors(stdin=open(os.devnull))))))
''', str(log)], capture_output=True, text=True, timeout=DEADLINE)
    assert proc.returncode == 0 and proc.stdout == '', proc.stderr
    assert log.read_text() == 'into the log\n'
    result = json.loads(proc.stderr)
    assert result['stdin'] == '/dev/null' and result['fds'] == [0, 1, 2]
    assert len(result['fds_of']) == 3 and result['fds_of'][-1] > 2


def test_signal_map_and_atexit_helpers():
    assert dd.make_default_signal_map() == {signal.SIGTSTP: None, signal.SIGTTIN: None, signal.SIGTTOU: None,
                                            signal.SIGTERM: 'terminate'}
    proc = subprocess.run([sys.executable, '-c', '''
import os, signal
import daemon.daemon as dd
dd.set_signal_handlers({signal.SIGUSR1: lambda signum, frame: print('handled', signum, flush=True),
                        signal.SIGUSR2: signal.SIG_IGN})
dd.register_atexit_function(lambda: print('at exit', flush=True))
os.kill(os.getpid(), signal.SIGUSR2)
os.kill(os.getpid(), signal.SIGUSR1)
'''], capture_output=True, text=True, timeout=DEADLINE)
    assert proc.stdout == 'handled {0}\nat exit\n'.format(int(signal.SIGUSR1)), proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root')
def test_a_failed_detach_raises_a_detach_error():
    proc = subprocess.run([sys.executable, '-c', '''
import os, resource
import daemon.daemon as dd
os.setgid(65534); os.setgroups([]); os.setuid(65534)
resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
try:
    dd.detach_process_context()
except dd.DaemonProcessDetachError as exc:
    print(exc.step, exc.errno, exc)
'''], capture_output=True, text=True, timeout=DEADLINE)
    assert proc.stdout.startswith('fork {0} first fork failed'.format(errno.EAGAIN)), proc.stdout + proc.stderr
