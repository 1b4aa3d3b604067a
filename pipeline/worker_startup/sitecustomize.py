"""Run by Python at start-up in the local Beam workers (pipeline.console.quiet_beam_workers puts
this folder first on their PYTHONPATH): the project's console settings before the worker
imports Beam, whose import would otherwise print its optional-GCP-client warning once per worker.
Any other sitecustomize on the path still runs."""

import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.machinery.PathFinder.find_spec(
    "sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != _HERE])
if _spec is not None and _spec.loader is not None:
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)

try:
    from pipeline import console
except ImportError:  # the project is not on this interpreter's path: nothing to configure
    console = None
if console is not None:
    console.import_beam_quietly()
