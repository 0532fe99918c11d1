"""Shared fixtures: where test artifacts go (EPSCOPE_TEST_OUTPUT_DIR from ctest, else a tmp dir)
and the epscope command (EPSCOPE_CLI from ctest)."""

import os
import pathlib

import pytest


@pytest.fixture
def output_dir(tmp_path, request):
    root = os.environ.get("EPSCOPE_TEST_OUTPUT_DIR")
    if not root:
        return tmp_path
    path = pathlib.Path(root) / request.node.name
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def cli():
    path = os.environ.get("EPSCOPE_CLI")
    if not path or not os.path.exists(path):
        pytest.skip("EPSCOPE_CLI is not set (run through ctest to test the epscope command)")
    return path
