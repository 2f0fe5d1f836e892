"""The seed's API, in this process: names, signatures, defaults, attributes,
validation, PidFile. Nothing here opens a DaemonContext (that is done by the
scripts of the other tests)."""
import errno
import gc
import inspect
import os
import pickle
import signal

import pytest

import daemonctx
import pep3143daemon
from daemonctx import DaemonContext, DaemonError, PidFile


def test_pep3143daemon_reexports_the_same_objects():
    from pep3143daemon import DaemonContext as DC, DaemonError as DE, PidFile as PF
    assert (DC, DE, PF) == (DaemonContext, DaemonError, PidFile)
    assert set(pep3143daemon.__all__) == set(daemonctx.__all__) == {'DaemonContext', 'PidFile', 'DaemonError'}


def test_signatures_are_the_seeds():
    params = inspect.signature(DaemonContext).parameters
    assert [(p.name, p.default) for p in params.values()] == [
        ('chroot_directory', None), ('working_directory', '/'), ('umask', 0), ('uid', None), ('gid', None),
        ('prevent_core', True), ('detach_process', None), ('files_preserve', None), ('pidfile', None),
        ('stdin', None), ('stdout', None), ('stderr', None), ('signal_map', None)]
    assert list(inspect.signature(PidFile).parameters) == ['pidfile']
    assert list(inspect.signature(DaemonContext.terminate).parameters) == ['self', 'signal_number', 'stack_frame']
    for name in ('open', 'close', 'terminate', '__enter__', '__exit__'):
        assert callable(getattr(DaemonContext, name))
    for name in ('acquire', 'release', '__enter__', '__exit__'):
        assert callable(getattr(PidFile, name))
    assert issubclass(DaemonError, Exception)


def test_defaults():
    ctx = DaemonContext()
    assert ctx.chroot_directory is None
    assert ctx.working_directory == '/'
    assert ctx.umask == 0
    assert ctx.uid == os.getuid() and ctx.gid == os.getgid()
    assert ctx.prevent_core is True
    assert ctx.detach_process in (True, False)
    assert ctx.files_preserve is None and ctx.pidfile is None
    assert ctx.stdin is None and ctx.stdout is None and ctx.stderr is None
    assert ctx.signal_map == {signal.SIGTSTP: None, signal.SIGTTIN: None, signal.SIGTTOU: None,
                              signal.SIGTERM: 'terminate'}
    assert ctx.is_open is False
    assert ctx.close() is None


def test_keyword_arguments_and_attributes():
    pf = PidFile('/run/x.pid')
    files = [3, 4]
    handler = (lambda signum, frame: None)
    ctx = DaemonContext(chroot_directory='/srv/jail', working_directory='/data', umask=0o027, uid=65534,
                        gid=65534, prevent_core=False, detach_process=False, files_preserve=files, pidfile=pf,
                        stdin=0, stdout=1, stderr=2, signal_map={signal.SIGUSR1: handler})
    assert ctx.chroot_directory == '/srv/jail'
    assert ctx.working_directory == '/srv/jail/data'
    assert (ctx.umask, ctx.uid, ctx.gid) == (0o027, 65534, 65534)
    assert ctx.prevent_core is False and ctx.detach_process is False
    assert ctx.files_preserve is files and ctx.pidfile is pf
    assert (ctx.stdin, ctx.stdout, ctx.stderr) == (0, 1, 2)
    assert ctx.signal_map == {signal.SIGUSR1: handler}

    ctx.umask = 0o22
    ctx.uid = None
    ctx.detach_process = True
    ctx.chroot_directory = None
    assert ctx.umask == 0o22 and ctx.uid == os.getuid() and ctx.detach_process is True
    assert ctx.working_directory == '/data'


@pytest.mark.parametrize('chroot, wd, expected', [
    (None, '/var/lib/x', '/var/lib/x'),
    ('/jail', '/', '/jail'),
    ('/jail', '/x', '/jail/x'),
    ('/jail', '/jail/x', '/jail/x'),
    ('/jail', '/jail', '/jail'),
    ('/jail', '/jail2/x', '/jail/jail2/x'),  # not under /jail: compared by component
    ('/jail/', '/jail/x', '/jail/x'),
])
def test_working_directory_property_applies_the_chroot_rule(chroot, wd, expected):
    assert DaemonContext(chroot_directory=chroot, working_directory=wd).working_directory == expected


@pytest.mark.parametrize('name, value, kind', [
    ('umask', 0o1000, ValueError),
    ('umask', -1, ValueError),
    ('umask', '022', TypeError),
    ('uid', -1, ValueError),
    ('uid', 'root', TypeError),
    ('gid', 2 ** 32, ValueError),
    ('working_directory', 'relative/path', ValueError),
    ('working_directory', None, TypeError),
    ('chroot_directory', 'jail', ValueError),
    ('stdout', 'not a file', TypeError),
    ('signal_map', ['not', 'a', 'mapping'], TypeError),
    ('files_preserve', 7, TypeError),
])
def test_invalid_values_are_refused_at_once(name, value, kind):
    ctx = DaemonContext()
    with pytest.raises(DaemonError) as info:
        setattr(ctx, name, value)
    assert isinstance(info.value, kind)
    assert info.value.step == 'options' and info.value.errno == errno.EINVAL
    assert info.value.step_value == daemonctx.Step.OPTIONS
    with pytest.raises(DaemonError):
        DaemonContext(**{name: value})


def test_daemon_error_attributes():
    exc = DaemonError('cannot change directory to /x: No such file or directory', step='chdir',
                      errno=errno.ENOENT)
    assert str(exc) == exc.message == 'cannot change directory to /x: No such file or directory'
    assert exc.step == 'chdir' and exc.errno == errno.ENOENT
    assert exc.step_value == daemonctx.Step.CHDIR and exc.step_value.label == 'chdir'
    copy = pickle.loads(pickle.dumps(exc))
    assert (type(copy), str(copy), copy.step, copy.errno) == (DaemonError, str(exc), 'chdir', errno.ENOENT)
    assert copy.step_value == daemonctx.Step.CHDIR
    plain = DaemonError()
    assert plain.step is None and plain.step_value is None and plain.errno is None and plain.message == ''


def test_steps_are_the_librarys_enum():
    assert daemonctx.Step.NONE == 0 and daemonctx.Step.OPTIONS == 1
    assert daemonctx.Step.PIDFILE_WRITE.label == 'pidfile-write'
    assert DaemonError('x', step='made-up').step_value == daemonctx.Step.APPLICATION


def test_terminate_raises_system_exit():
    with pytest.raises(SystemExit) as info:
        DaemonContext().terminate(signal.SIGTERM, None)
    assert str(int(signal.SIGTERM)) in str(info.value)


def test_pidfile_acquire_release_and_with(tmp_path):
    path = tmp_path / 'test.pid'
    pf = PidFile(str(path))
    pf.acquire()
    assert path.read_text() == '{0}\n'.format(os.getpid())
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    pf.acquire()  # already ours: no-op
    pf.release()
    assert not path.exists()
    pf.release()  # not held: no-op
    with PidFile(path) as held:  # os.PathLike accepted
        assert isinstance(held, PidFile)
        assert path.read_text() == '{0}\n'.format(os.getpid())
    assert not path.exists()


def test_pidfile_exceptions_propagate_out_of_with(tmp_path):
    path = tmp_path / 'raise.pid'
    with pytest.raises(KeyError):
        with PidFile(str(path)):
            raise KeyError('x')
    assert not path.exists()


def test_an_acquired_pidfile_stays_held_when_dropped(tmp_path):
    path = tmp_path / 'dropped.pid'
    PidFile(str(path)).acquire()
    gc.collect()
    assert path.read_text() == '{0}\n'.format(os.getpid())
    for pf in list(daemonctx._held):
        if pf.path == str(path):
            pf.release()
    assert not path.exists()


def test_pidfile_refuses_a_symlink(tmp_path):
    target = tmp_path / 'victim'
    target.write_text('precious\n')
    link = tmp_path / 'link.pid'
    link.symlink_to(target)
    with pytest.raises(SystemExit) as info:
        PidFile(str(link)).acquire()
    assert isinstance(info.value, DaemonError) and info.value.errno == errno.ELOOP
    assert target.read_text() == 'precious\n'


@pytest.mark.parametrize('path, kind', [('', ValueError), ('/run/dir/', ValueError), (None, TypeError)])
def test_pidfile_bad_paths(path, kind):
    with pytest.raises(DaemonError) as info:
        PidFile(path)
    assert isinstance(info.value, kind)
