"""The package installs with pip, offline and with pip's build isolation (its
build backend needs nothing from an index), on Debian's python3 with Debian's
grpcio and protobuf, and the installed copy (not this source tree) imports and
calls the real service."""

import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

from bifrost.integrations.admin.v1 import admin_pb2 as admin

SOURCE = pathlib.Path(__file__).resolve().parents[1]

# Run by the installed package: it must come from where pip put it, carry its
# typing marker, stubs and metadata, and answer a call.
CHECK = textwrap.dedent("""
    import asyncio, importlib.metadata, json, pathlib, sys
    import bifrost
    from bifrost import integrations
    from bifrost.integrations.v1 import integrations_pb2_grpc
    from bifrost.integrations.admin.v1 import admin_pb2
    root = pathlib.Path(bifrost.__file__).parent
    assert str(root).startswith(sys.argv[1]), root
    assert (root / "py.typed").is_file(), "py.typed"
    assert (root / "integrations" / "v1" / "integrations_pb2.pyi").is_file(), "stubs"
    assert importlib.metadata.version("bifrost-integrations") == bifrost.__version__
    requires = importlib.metadata.requires("bifrost-integrations")
    assert any(r.startswith("grpcio") for r in requires) and any(r.startswith("protobuf") for r in requires), requires
    bifrost.configure(address=sys.argv[2], api_key=sys.argv[3], timeout=10)
    msft = asyncio.run(integrations.get("Microsoft_Graph"))
    print(msft.model_dump_json())
""")


def _pip_available():
    ok = subprocess.run([sys.executable, "-c", "import venv, ensurepip, pip"],
                        capture_output=True).returncode == 0
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail("pip or venv is missing: apt-get install python3-pip python3-venv")
        pytest.skip("pip or venv is missing: apt-get install python3-pip python3-venv")


def _copy_source(tmp_path):
    """A copy of the package's source, so that pip's build leaves this tree as it was."""
    dst = tmp_path / "src"
    shutil.copytree(SOURCE, dst, ignore=shutil.ignore_patterns(
        "tests", "__pycache__", ".pytest_cache", "build", "*.egg-info"))
    return dst


def _offline_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "BIFROST_"))}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def _check_installed(python, where, service, env):
    key = service.new_key(admin.ROLE_WORKER, "org-123")
    out = subprocess.run([python, "-c", CHECK, str(where), service.addr, key], env=env, cwd=where,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert '"entity_id":"tenant-456"' in out.stdout and '"access_token":"org-123-access"' in out.stdout


def test_pip_installs_into_a_fresh_venv_offline_and_the_installed_package_calls_the_service(service, tmp_path):
    _pip_available()
    src = _copy_source(tmp_path)
    venv = tmp_path / "venv"
    env = _offline_env()
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], env=env, check=True)
    python = str(venv / "bin" / "python")
    pip = subprocess.run([python, "-m", "pip", "install", "--no-deps", str(src)],
                         env=env, cwd=tmp_path, capture_output=True, text=True)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    _check_installed(python, venv, service, env)


def test_pip_install_target_dir_imports_on_debians_python_and_calls_the_service(service, tmp_path):
    _pip_available()
    src = _copy_source(tmp_path)
    target = tmp_path / "target"
    env = _offline_env()
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps",
                          "--target", str(target), str(src)], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    _check_installed(sys.executable, target, service, _offline_env(PYTHONPATH=str(target)))
