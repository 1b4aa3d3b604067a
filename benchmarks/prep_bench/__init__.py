"""The pieces of benchmarks/bench_prep.py (our prep job against datatrove), by role; the other
prep benchmarks (bench_dedup, bench_real_text) reuse its machine, venv and process helpers."""
