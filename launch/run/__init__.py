"""Run state: everything a training run keeps in MODEL_DIR and how it is written.

The run directory as one object (run_dir), the run's position and how it starts (position),
what each step reports (reporter), preemption notices (preemption); checkpoints and their
checksums, metrics.jsonl and TensorBoard runs, the file layer every writer goes through (local
disks and object stores), and the checks made before the first byte (preflight).
"""
