"""Shifter (Python): HPC containers for Slurm clusters.

Three import packages that cannot clash with anything else on a site:
``shifter_runtime`` (source ``runtime/shifter_runtime``), ``shifter_imagegw``
(source ``imagegw/shifter_imagegw``) and ``shifter_slurm``.  The SPANK shim
``shifter_slurm.so`` is built separately by ``spank_plugin/build.py`` because it
must be linked against the exact interpreter of the install prefix.
"""
from setuptools import find_packages, setup

ROOTS = {
    "shifter_runtime": "runtime/shifter_runtime",
    "shifter_imagegw": "imagegw/shifter_imagegw",
    "shifter_slurm": "shifter_slurm",
}


def all_packages() -> list[str]:
    """Each top-level package with its subpackages (``shifter_runtime.kernel`` ...)."""
    found = []
    for name, path in ROOTS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(path)]
    return found


setup(
    name="shifter-py",
    version="0.1.0",
    description="Python implementation of NERSC Shifter: containers for HPC",
    python_requires=">=3.11",
    package_dir=ROOTS,
    packages=all_packages(),
    package_data={"shifter_imagegw": ["*.yaml", "*.json"]},
    install_requires=[
        "flask>=3.0",
        "gunicorn>=21",
        "pymongo>=4.6",
        "cffi>=1.15",
        "pymunge>=0.1.3",
        "requests>=2.31",
        "zstandard>=0.22",
    ],
    extras_require={"test": ["pytest>=8", "pytest-mock>=3.12", "mongomock>=4.1"]},
    entry_points={
        "console_scripts": [
            "shifter = shifter_runtime.launch.prepared:main",
            "setupRoot = shifter_runtime.cli.setuproot:main",
            "unsetupRoot = shifter_runtime.cli.unsetuproot:main",
            "shifterimg = shifter_imagegw.client.cli:main",
            "shifter-imagegw = shifter_imagegw.serve:main",
        ],
    },
)
