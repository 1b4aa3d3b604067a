"""Exact and near-duplicate removal across all sources of a prep run (see stage_runner.py).

A regular package (not a namespace one) so that `setup.py`/`--setup_file` ships it to remote
Beam workers along with the rest of `pipeline`.
"""
