"""`pip install --no-build-isolation .` builds the extension from the C sources
(setup.py), and the installed package works on its own."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import DEADLINE, PRELUDE, SOURCE_DIR, proc_status, read_json, wait_exit


def have_pip():
    return subprocess.run([sys.executable, '-m', 'pip', '--version'], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


@pytest.mark.skipif(not have_pip(), reason='pip is not installed (Debian: python3-pip)')
def test_pip_install_builds_and_installs_a_working_package(tmp_path):
    # A copy of what setup.py needs, so the build leaves nothing in the tree.
    src = tmp_path / 'src'
    src.mkdir()
    for name in ('setup.py', 'pyproject.toml', 'CMakeLists.txt'):
        shutil.copy(SOURCE_DIR / name, src / name)
    for name in ('include', 'python', 'src/lib'):
        shutil.copytree(SOURCE_DIR / name, src / name,
                        ignore=shutil.ignore_patterns('__pycache__', '*.egg-info', 'CMakeLists.txt'))
    site = tmp_path / 'site'
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK='1', PIP_NO_INPUT='1')
    env.pop('PYTHONPATH', None)
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
