"""`pip install --no-build-isolation .` and `pip wheel` build the extension from
the C sources (setup.py); the installed packages work on their own, the wheel
installs into a venv of Debian's python3, and the stubs pass mypy."""
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import DEADLINE, PRELUDE, SOURCE_DIR, proc_status, read_json, wait_exit


def have_module(name):
    return subprocess.run([sys.executable, '-c', 'import ' + name], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def have_pip():
    return subprocess.run([sys.executable, '-m', 'pip', '--version'], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def source_copy(tmp_path):
    """A copy of what setup.py needs, so that a build leaves nothing in the tree."""
    src = tmp_path / 'src'
    src.mkdir()
    for name in ('setup.py', 'pyproject.toml', 'CMakeLists.txt'):
        shutil.copy(SOURCE_DIR / name, src / name)
    for name in ('include', 'python', 'src/lib'):
        shutil.copytree(SOURCE_DIR / name, src / name,
                        ignore=shutil.ignore_patterns('__pycache__', '*.egg-info', 'CMakeLists.txt'))
    return src


def pip_environment():
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK='1', PIP_NO_INPUT='1')
    env.pop('PYTHONPATH', None)
    return env


@pytest.mark.skipif(not have_pip(), reason='pip is not installed (Debian: python3-pip)')
def test_pip_install_builds_and_installs_a_working_package(tmp_path):
    src = source_copy(tmp_path)
    site = tmp_path / 'site'
    env = pip_environment()
    proc = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-build-isolation', '--no-deps', '--no-index',
                           '--root-user-action=ignore', '--target', str(site), str(src)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    extensions = [n for n in os.listdir(site / 'daemonctx') if n.startswith('_daemonctx') and n.endswith('.so')]
    assert len(extensions) == 1
    # Only the module's init function is exported: libdaemonctx stays inside.
    nm = subprocess.run(['nm', '-D', '--defined-only', str(site / 'daemonctx' / extensions[0])],
                        capture_output=True, text=True)
    if nm.returncode == 0:
        assert [line.split()[-1] for line in nm.stdout.splitlines()] == ['PyInit__daemonctx']

    # The installed package, alone on the path, daemonizes.
    script = tmp_path / 'installed.py'
    script.write_text(PRELUDE + '''
import daemonctx, pep3143daemon
assert daemonctx.__file__.startswith(sys.argv[2]), daemonctx.__file__
ctx = pep3143daemon.DaemonContext(umask=0o022, files_preserve=[report])
ctx.open()
say(pid=os.getpid(), version=daemonctx.__version__)
idle()
''')
    r, w = os.pipe()
    try:
        env['PYTHONPATH'] = str(site)
        run = subprocess.run([sys.executable, str(script), str(w), str(site)], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, env=env, pass_fds=(w,), timeout=DEADLINE)
        assert run.returncode == 0, run.stderr
        os.close(w)
        w = None
        info = read_json(r)
        pid = info['pid']
        try:
            assert proc_status(pid)['Umask'] == '0022'
            with open(SOURCE_DIR / 'CMakeLists.txt') as f:
                assert 'VERSION {0}'.format(info['version']) in f.read()
        finally:
            os.kill(pid, 15)
            assert wait_exit(pid) == 1
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


# The files of the packages in the wheel, stubs and markers included.
PACKAGE_FILES = {
    'daemon/__init__.py', 'daemon/__init__.pyi', 'daemon/daemon.py', 'daemon/daemon.pyi', 'daemon/pidfile.py',
    'daemon/pidfile.pyi', 'daemon/py.typed', 'daemonctx/__init__.py', 'daemonctx/__init__.pyi',
    'daemonctx/_daemonctx.pyi', 'daemonctx/py.typed', 'pep3143daemon/__init__.py', 'pep3143daemon/__init__.pyi',
    'pep3143daemon/py.typed'}

# In the venv: python-daemon's usual program, on the installed wheel.
VENV_PROGRAM = PRELUDE + '''
import daemon, daemon.pidfile
assert daemon.__file__.startswith(sys.prefix), (daemon.__file__, sys.prefix)
with daemon.DaemonContext(pidfile=daemon.pidfile.TimeoutPIDLockFile(sys.argv[2], 0), umask=0o022,
                          files_preserve=[report]):
    say(pid=os.getpid(), daemon=daemon.__file__)
    idle()
'''


@pytest.mark.skipif(not have_pip(), reason='pip is not installed (Debian: python3-pip)')
def test_pip_wheel_installs_into_a_venv_where_import_daemon_is_ours(tmp_path):
    src = source_copy(tmp_path)
    env = pip_environment()
    wheels = tmp_path / 'wheels'
    proc = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-build-isolation', '--no-deps', '--no-index',
                           '--wheel-dir', str(wheels), str(src)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [wheel] = os.listdir(wheels)
    with zipfile.ZipFile(wheels / wheel) as z:
        names = set(z.namelist())
    assert PACKAGE_FILES <= names, PACKAGE_FILES - names
    assert any(n.startswith('daemonctx/_daemonctx') and n.endswith('.so') for n in names)

    # Debian's python3, with Debian's packages visible (the build backend, and
    # python3-daemon where installed: the venv's daemon comes first).
    venv = tmp_path / 'venv'
    proc = subprocess.run(['/usr/bin/python3', '-m', 'venv', '--system-site-packages', '--without-pip', str(venv)],
                          capture_output=True, text=True, timeout=DEADLINE)
    assert proc.returncode == 0, proc.stderr
    python = str(venv / 'bin' / 'python')
    proc = subprocess.run([python, '-m', 'pip', 'install', '--no-deps', '--no-index', '--root-user-action=ignore',
                           str(wheels / wheel)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    script = tmp_path / 'program.py'
    script.write_text(VENV_PROGRAM)
    pidfile = tmp_path / 'venv.pid'
    r, w = os.pipe()
    try:
        run = subprocess.run([python, str(script), str(w), str(pidfile)], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, env=env, pass_fds=(w,), timeout=DEADLINE)
        assert run.returncode == 0, run.stderr
        os.close(w)
        w = None
        info = read_json(r)
        pid = info['pid']
        try:
            assert info['daemon'].startswith(str(venv))
            assert pidfile.read_text() == '{0}\n'.format(pid)
            assert proc_status(pid)['Umask'] == '0022'
        finally:
            os.kill(pid, 15)
            assert wait_exit(pid) == 1
        assert not pidfile.exists()
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


# A program using the three packages' APIs as their users do: checked by mypy
# --strict against the stubs.
TYPED_PROGRAM = '''
import signal
import sys
from types import FrameType

import daemon
import daemon.daemon
import daemon.pidfile
import daemonctx
import pep3143daemon


def reload(signum: int, frame: FrameType | None) -> None:
    pass


def main() -> int:
    lock = daemon.pidfile.TimeoutPIDLockFile('/run/x.pid', acquire_timeout=5)
    pid: int | None = lock.read_pid()
    if lock.is_locked() and not lock.i_am_locking():
        lock.break_lock()
    context = daemon.DaemonContext(pidfile=lock, umask=0o022, files_preserve=[sys.stderr],
                                   signal_map={signal.SIGHUP: reload, signal.SIGTERM: 'terminate'})
    context.uid = 0
    context.files_preserve = [3]
    try:
        with context:
            pass
    except daemon.pidfile.AlreadyLocked as exc:
        print(exc.step, exc.errno, pid)
        return 1
    except daemon.daemon.DaemonOSEnvironmentError as exc:
        errnum: int = exc.errno
        return errnum
    step: daemonctx.Step | None = daemonctx.DaemonError('x', step='chdir').step_value
    seed = pep3143daemon.DaemonContext(pidfile=pep3143daemon.PidFile('/run/y.pid'))
    seed.open()
    return 0 if step is None else int(step)
'''


@pytest.mark.skipif(not have_module('mypy'), reason='mypy is not installed (Debian: python3-mypy)')
def test_the_stubs_type_check_and_match_the_modules(tmp_path):
    site = os.environ['PYTHONPATH'].split(os.pathsep)[0]
    env = dict(os.environ, MYPY_CACHE_DIR=str(tmp_path / 'mypy-cache'))
    program = tmp_path / 'typed_program.py'
    program.write_text(TYPED_PROGRAM)
    # A user's program, strictly, against the stubs (py.typed: the packages
    # are found on the path like any installed typed package).
    proc = subprocess.run([sys.executable, '-m', 'mypy', '--strict', str(program)], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The stubs say what the modules have (TYPE_CHECKING: a runtime constant
    # of the sources, for their own annotations).
    allow = tmp_path / 'allowlist'
    allow.write_text('daemon\\.(daemon|pidfile)\\.TYPE_CHECKING\n')
    proc = subprocess.run([sys.executable, '-m', 'mypy.stubtest', '--allowlist', str(allow), 'daemon', 'daemonctx',
                           'pep3143daemon'], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The sources' own annotations hold.
    proc = subprocess.run([sys.executable, '-m', 'mypy', '--strict'] +
                          [os.path.join(site, 'daemon', name) for name in ('daemon.py', 'pidfile.py')],
                          capture_output=True, text=True, env=env, cwd=site, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
