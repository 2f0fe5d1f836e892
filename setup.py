"""Builds the Python packages (daemonctx, pep3143daemon, daemon) with the C core compiled in.

    /usr/bin/python3 -m pip install --no-build-isolation .
    /usr/bin/python3 -m pip wheel --no-build-isolation .

The extension is compiled from the C sources directly (python/_daemonctx.c and
src/lib/*.c), with the definitions the CMake build uses; it needs libc only at
run time. Debian: python3-dev, python3-setuptools, python3-wheel, python3-pip.
"""
import glob
import os
import re

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def project_version():
    with open(os.path.join(HERE, 'CMakeLists.txt'), encoding='utf-8') as f:
        match = re.search(r'project\(\s*daemonctx\s+VERSION\s+([0-9][0-9.]*)', f.read())
    if not match:
        raise RuntimeError('cannot find the project version in CMakeLists.txt')
    return match.group(1)


def have_strerrordesc_np():
    """glibc >= 2.32 (what the CMake build checks with check_symbol_exists)."""
    try:
        name, version = os.confstr('CS_GNU_LIBC_VERSION').split()
        major, minor = (int(x) for x in version.split('.')[:2])
    except (ValueError, OSError, AttributeError, TypeError):
        return False
    return name == 'glibc' and (major, minor) >= (2, 32)


VERSION = project_version()

# setuptools' metadata directory goes under build/ (ignored), not into python/.
EGG_BASE = os.path.join(HERE, 'build')
os.makedirs(EGG_BASE, exist_ok=True)

macros = [
    ('_GNU_SOURCE', None),
    ('DAEMONCTX_VERSION_STRING', '"{0}"'.format(VERSION)),
    # libdaemonctx's symbols stay inside the module (only PyInit is exported).
    ('DAEMONCTX_NO_VISIBILITY', None),
]
if have_strerrordesc_np():
    macros.append(('HAVE_STRERRORDESC_NP', '1'))

# Paths relative to this file, as setuptools wants them.
lib_sources = sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, 'src', 'lib', '*.c')))
if not lib_sources:
    raise RuntimeError('src/lib/*.c not found next to setup.py')

extension = Extension(
    'daemonctx._daemonctx',
    sources=['python/_daemonctx.c'] + lib_sources,
    include_dirs=['include', 'src/lib'],
    define_macros=macros,
    extra_compile_args=['-std=gnu11', '-fvisibility=hidden'],
)

setup(
    name='daemonctx',
    version=VERSION,
    description=("PEP 3143 daemons on the libdaemonctx C core: python-daemon's API (daemon), "
                 "pep3143daemon's (pep3143daemon, daemonctx), lock-based pidfiles"),
    python_requires='>=3.10',
    package_dir={'': 'python'},
    packages=['daemonctx', 'pep3143daemon', 'daemon'],
    # PEP 561: the packages are typed; the stubs are their interface.
    package_data={name: ['py.typed', '*.pyi'] for name in ('daemonctx', 'pep3143daemon', 'daemon')},
    ext_modules=[extension],
    zip_safe=False,
    options={'egg_info': {'egg_base': os.path.relpath(EGG_BASE, HERE)}},
)
