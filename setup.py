"""Lets Beam ship this package to remote workers (`--setup_file=./setup.py`); the package
metadata lives in pyproject.toml."""

from setuptools import setup

setup()
