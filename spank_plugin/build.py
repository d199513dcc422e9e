"""Build shifter_slurm.so, the SPANK plugin, as a cffi embedding module.

    <prefix>/venv/bin/python spank_plugin/build.py --prefix /opt/shifter --out /opt/shifter/lib/shifter_slurm.so

Run it with the interpreter the plugin will embed (the prefix's venv): the
plugin is linked against that interpreter's libpython and starts Python with
program_name=<prefix>/venv/bin/python, so the venv's site-packages (shifter_slurm,
cffi) are what it loads, whatever the calling user's environment says.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

import cffi

HERE = Path(__file__).resolve().parent
MODULE = "_shifter_slurm_spank"

CDEF = """
typedef struct spank_handle *spank_t;
typedef int... spank_err_t;
typedef int... uid_t;
typedef int... gid_t;
typedef int... spank_item_t;
static const int S_JOB_UID;
static const int S_JOB_GID;
static const int S_JOB_ID;
static const int S_JOB_STEPID;
static const int S_TASK_PID;
static const int S_CTX_LOCAL;
static const int S_CTX_REMOTE;
static const int S_CTX_ALLOCATOR;
static const int S_CTX_SLURMD;
static const int S_CTX_JOB_SCRIPT;
static const int ESPANK_SUCCESS;
static const int OPT_IMAGE;
static const int OPT_VOLUME;
static const int OPT_MODULE;
static const int OPT_CCM;

extern "Python+C" int py_spank(const char *hook, spank_t sp, int ac, char **av);
extern int shifter_py_ready;
const char *shifter_opt(int val);

int spank_context(void);
int spank_remote(spank_t sp);
spank_err_t spank_get_item(spank_t sp, spank_item_t item, ...);
spank_err_t spank_getenv(spank_t sp, const char *var, char *buf, int len);
spank_err_t spank_setenv(spank_t sp, const char *var, const char *val, int overwrite);
spank_err_t spank_unsetenv(spank_t sp, const char *var);
spank_err_t spank_job_control_setenv(spank_t sp, const char *name, const char *value, int overwrite);
void slurm_info(const char *format, ...);
void slurm_error(const char *format, ...);
void slurm_verbose(const char *format, ...);
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


def build(prefix: Path, out: Path) -> None:
    """Compile the plugin for the venv under ``prefix`` into ``out``."""
    venv_python = prefix / "venv" / "bin" / "python"
    libpython = sysconfig.get_config_var("INSTSONAME")
    if not libpython:
        raise SystemExit(f"build.py: {sys.executable} has no shared libpython")
    defines = (
        f"#define SHIFTER_VENV_PYTHON {c_string(str(venv_python))}\n"
        f"#define SHIFTER_LIBPYTHON {c_string(libpython)}\n"
    )
    source = defines + (HERE / "shifter_slurm.c").read_text()
    ffi = cffi.FFI()
    ffi.embedding_api("")
    ffi.cdef(CDEF)
    ffi.set_source(MODULE, source, extra_compile_args=["-Wall", "-O2"])
    ffi.embedding_init_code(INIT_CODE)
    with tempfile.TemporaryDirectory(prefix="shifter-spank-") as tmp:
        built = ffi.compile(tmpdir=tmp, target=f"{MODULE}.*", verbose=False)
        out.parent.mkdir(parents=True, exist_ok=True)
        staged = out.with_name(out.name + ".new")
        shutil.copyfile(built, staged)
        os.chmod(staged, 0o755)
        os.replace(staged, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", type=Path, required=True, help="install prefix holding venv/")
    parser.add_argument("--out", type=Path, required=True, help="path of the plugin to write")
    args = parser.parse_args(argv)
    build(args.prefix.resolve(), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
