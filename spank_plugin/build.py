"""Build the SPANK plugin: shifter_slurm.so and its Python host shifter_slurm_py.so.

    <prefix>/venv/bin/python spank_plugin/build.py --prefix /opt/shifter --out /opt/shifter/lib/shifter_slurm.so

``--out`` is the plugin named in plugstack.conf (plain C, no libpython); the
cffi embedding module ``shifter_slurm_py.so`` is written next to it and loaded
only when a hook has work.  Run this with the interpreter to embed (the
prefix's venv): the module links that interpreter's libpython and starts
Python with program_name=<prefix>/venv/bin/python, so the venv's site-packages
(shifter_slurm, cffi) are what it loads, whatever the user's environment says.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import cffi

HERE = Path(__file__).resolve().parent
MODULE = "_shifter_slurm_spank"
PY_LIBRARY = "shifter_slurm_py.so"

CDEF = """
typedef struct spank_handle *spank_t;
typedef int... spank_err_t;
typedef int... uid_t;
typedef int... gid_t;
typedef int... spank_item_t;
static const int S_JOB_UID;
static const int S_JOB_GID;
static const int S_JOB_ID;
static const int S_CTX_LOCAL;
static const int S_CTX_REMOTE;
static const int S_CTX_ALLOCATOR;
static const int S_CTX_SLURMD;
static const int S_CTX_JOB_SCRIPT;
static const int ESPANK_SUCCESS;
static const int ESPANK_NOSPACE;
static const int OPT_IMAGE;
static const int OPT_VOLUME;
static const int OPT_MODULE;
static const int OPT_CCM;

extern "Python" int py_spank(const char *hook, spank_t sp, int ac, char **av);
extern int shifter_py_ready;
const char *shifter_opt(int val);

int spank_context(void);
spank_err_t spank_get_item(spank_t sp, spank_item_t item, ...);
spank_err_t spank_getenv(spank_t sp, const char *var, char *buf, int len);
spank_err_t spank_setenv(spank_t sp, const char *var, const char *val, int overwrite);
spank_err_t spank_job_control_setenv(spank_t sp, const char *name, const char *value, int overwrite);
void slurm_info(const char *format, ...);
void slurm_error(const char *format, ...);
void slurm_debug(const char *format, ...);
"""

INIT_CODE = f"""
from {MODULE} import ffi, lib
from shifter_slurm import spank as _spank

@ffi.def_extern(error=-1)
def py_spank(hook, sp, ac, av):
    return _spank.call_hook(ffi, lib, hook, sp, ac, av)

lib.shifter_py_ready = 1
"""


def c_string(text: str) -> str:
    """A C string literal for ``text``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def install(built: str, out: Path) -> None:
    """Copy ``built`` to ``out`` atomically (running slurmds may have the old one mapped)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = out.with_name(out.name + ".new")
    shutil.copyfile(built, staged)
    os.chmod(staged, 0o755)
    os.replace(staged, out)


def build_python_host(prefix: Path, out: Path, tmp: str) -> None:
    """The cffi embedding module that starts the venv's Python (pyhost.c)."""
    venv_python = prefix / "venv" / "bin" / "python"
    source = (
        '#include <slurm/spank.h>\n#include "options.h"\n'
        f"#define SHIFTER_VENV_PYTHON {c_string(str(venv_python))}\n"
        + (HERE / "pyhost.c").read_text()
    )
    ffi = cffi.FFI()
    ffi.embedding_api("")
    ffi.cdef(CDEF)
    ffi.set_source(MODULE, source, include_dirs=[str(HERE)], extra_compile_args=["-Wall", "-O2"])
    ffi.embedding_init_code(INIT_CODE)
    install(ffi.compile(tmpdir=tmp, target=f"{MODULE}.*", verbose=False), out)


def build_plugin(out: Path, py_module: Path, tmp: str) -> None:
    """The SPANK plugin proper: C only, loads ``py_module`` on demand."""
    target = Path(tmp) / "shifter_slurm.so"
    cmd = ["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Werror",
           f"-DSHIFTER_PY_MODULE={c_string(str(py_module))}",
           "-o", str(target), str(HERE / "shifter_slurm.c"), "-ldl"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"build.py: gcc failed:\n{proc.stderr}")
    install(str(target), out)


def build(prefix: Path, out: Path) -> None:
    """Build both libraries for the venv under ``prefix``; the plugin goes to ``out``."""
    if not sysconfig.get_config_var("INSTSONAME"):
        raise SystemExit(f"build.py: {sys.executable} has no shared libpython")
    py_module = out.parent.resolve() / PY_LIBRARY
    with tempfile.TemporaryDirectory(prefix="shifter-spank-") as tmp:
        build_python_host(prefix, py_module, tmp)
        build_plugin(out, py_module, tmp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", type=Path, required=True, help="install prefix holding venv/")
    parser.add_argument("--out", type=Path, required=True, help="path of the plugin to write")
    args = parser.parse_args(argv)
    build(args.prefix.resolve(), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
