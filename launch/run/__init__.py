"""Run state: everything a training run keeps in MODEL_DIR and how it is written.

Checkpoints and their checksums, metrics.jsonl and TensorBoard runs, the file layer every
writer goes through (local disks and object stores), and the checks made before the first byte.
"""
