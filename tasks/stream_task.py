"""A materialised stream as a seqio Task, so MIXTURE_OR_TASK_NAME and seqio clients can name it.

    import tasks.stream_task
    name = tasks.stream_task.register_stream("runs/streams/palm_demo")   # 'palm_demo.stream'
    seqio.get_mixture_or_task(name).get_dataset({"targets": 2048}, split="train", shuffle=False)

The Task yields the stream's packed rows in stream order ({"targets": row}); each row already
holds documents joined by EOS, so its feature adds no EOS. Read through seqio the rows are a
plain sequence; the trainer reads them by step instead (launch/inputs/stream_loader.py).
"""

from __future__ import annotations

import gin
from tasks import stream_format

_STREAMS: dict[str, str] = {}  # task name -> stream directory


def _vocabulary(manifest: dict):
    import seqio

    path = manifest.get("fingerprints", {}).get("vocabulary")
    if path and path.endswith(".model"):
        return seqio.SentencePieceVocabulary(path)
    return seqio.ByteVocabulary()


@gin.configurable(module="tasks")
def register_stream(stream_dir: str = gin.REQUIRED, name: str | None = None) -> str:
    """Registers the stream in `stream_dir` as a seqio Task (train split); returns its name."""
    import seqio
    import tensorflow as tf

    manifest = stream_format.read_manifest(stream_dir)
    name = name or manifest["task_name"]
    length = int(manifest["sequence_length"])

    def dataset_fn(split: str, shuffle_files: bool = False, seed=None):
        del shuffle_files, seed  # the stream is already shuffled; its order is the contract

        def rows():
            reader = stream_format.StreamReader(stream_dir)
            for start in range(0, len(reader), 1024):
                tokens, _ = reader.read(start, min(1024, len(reader) - start))
                yield from tokens

        return tf.data.Dataset.from_generator(
            rows, output_signature=tf.TensorSpec([length], tf.int32)).map(
            lambda row: {"targets": row})

    if name in seqio.TaskRegistry.names():
        seqio.TaskRegistry.remove(name)
    seqio.TaskRegistry.add(
        name, source=seqio.FunctionDataSource(dataset_fn, splits=["train"],
                                              num_input_examples={"train": manifest["rows"]}),
        preprocessors=[],
        output_features={"targets": seqio.Feature(vocabulary=_vocabulary(manifest),
                                                  add_eos=False, dtype=tf.int32)},
        metric_fns=[])
    _STREAMS[name] = stream_dir
    return name


def stream_dir_of(name: str) -> str | None:
    """The directory of a stream registered in this process under `name`."""
    return _STREAMS.get(name)
