"""In-tree PEP 517 backend: builds epscope._epscope with the project's CMake and packs the package
folder CMake assembles (build/pip-<python tag>/python/epscope) into a wheel.

Standard library only and no build requirements, so `pip install .` works offline with build
isolation on. Settings (environment): EPSCOPE_BUILD_DIR overrides the build folder,
EPSCOPE_CMAKE_ARGS adds CMake arguments, EPSCOPE_BUILD_JOBS sets the parallel jobs.
"""

import base64
import hashlib
import os
import shlex
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

NAME = "epscope"
VERSION = "0.1.0"
SOURCE_DIR = Path(__file__).resolve().parents[2]
PYTHON_TAG = f"cp{sys.version_info.major}{sys.version_info.minor}"
PLATFORM_TAG = sysconfig.get_platform().replace("-", "_").replace(".", "_")
METADATA = f"""Metadata-Version: 2.1
Name: {NAME}
Version: {VERSION}
Summary: What rank imbalance costs in expert-parallel MoE dispatch/combine
Requires-Python: >=3.9
Requires-Dist: numpy
"""


def _build_dir():
    default = SOURCE_DIR / "build" / f"pip-{PYTHON_TAG}"
    return Path(os.environ.get("EPSCOPE_BUILD_DIR", default))


def _cmake(build_dir):
    """Configures (CPU-only, no tests) and builds the module target; returns the package folder."""
    configure = [
        "cmake", "-S", str(SOURCE_DIR), "-B", str(build_dir),
        "-DCMAKE_BUILD_TYPE=Release",
        "-DEPSCOPE_PYTHON=ON", "-DEPSCOPE_CUDA=OFF", "-DEPSCOPE_MPI=OFF",
        "-DEPSCOPE_BUILD_TESTS=OFF", "-DEPSCOPE_BUILD_BENCHMARKS=OFF",
        f"-DPython_EXECUTABLE={sys.executable}",
    ] + shlex.split(os.environ.get("EPSCOPE_CMAKE_ARGS", ""))
    jobs = os.environ.get("EPSCOPE_BUILD_JOBS", str(os.cpu_count() or 2))
    subprocess.run(configure, check=True, stdout=sys.stderr)
    subprocess.run(["cmake", "--build", str(build_dir), "--target", "_epscope", "-j", jobs],
                   check=True, stdout=sys.stderr)
    return build_dir / "python" / NAME


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    package_dir = _cmake(_build_dir())
    tag = f"{PYTHON_TAG}-{PYTHON_TAG}-{PLATFORM_TAG}"
    wheel_name = f"{NAME}-{VERSION}-{tag}.whl"
    dist_info = f"{NAME}-{VERSION}.dist-info"
    files = []
    for path in sorted(package_dir.iterdir()):
        if path.suffix in (".py", ".so") and path.is_file():
            files.append((f"{NAME}/{path.name}", path.read_bytes()))
    files.append((f"{dist_info}/METADATA", METADATA.encode()))
    wheel_meta = f"Wheel-Version: 1.0\nGenerator: epscope_build\nRoot-Is-Purelib: false\nTag: {tag}\n"
    files.append((f"{dist_info}/WHEEL", wheel_meta.encode()))
    files.append((f"{dist_info}/top_level.txt", f"{NAME}\n".encode()))
    record = [_record_line(name, data) for name, data in files] + [f"{dist_info}/RECORD,,"]
    files.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(Path(wheel_directory) / wheel_name, "w", zipfile.ZIP_DEFLATED) as whl:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name.endswith(".so") else 0o644) << 16
            whl.writestr(info, data, zipfile.ZIP_DEFLATED)
    return wheel_name


def build_sdist(sdist_directory, config_settings=None):
    """The tracked source tree (git ls-files), so the sdist builds the same way."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=SOURCE_DIR, check=True,
                            capture_output=True).stdout.decode().split("\0")
    base = f"{NAME}-{VERSION}"
    name = f"{base}.tar.gz"
    with tarfile.open(Path(sdist_directory) / name, "w:gz") as tar:
        for rel in filter(None, listed):
            tar.add(SOURCE_DIR / rel, arcname=f"{base}/{rel}", recursive=False)
    return name
