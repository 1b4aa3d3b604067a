"""Damaged data files: every output the project writes lists each file's size and CRC32C, which
`python -m launch.data_verify` checks; a reader that meets damage stops with one message naming
the file and the record (DataCorrupt, exit 1), never a raw traceback."""

import glob
import json
import os
import shutil

import numpy as np
import pytest

from launch import data_verify
from launch.inputs import stream_loader
from pipeline import file_checksums
from tasks import stream_format


def flip(path: str, at: int, count: int = 8) -> None:
    data = bytearray(open(path, "rb").read())
    for i in range(at, min(at + count, len(data))):
        data[i] ^= 0x5A
    with open(path, "wb") as f:
        f.write(data)


@pytest.fixture
def stream(tmp_path):
    rng = np.random.default_rng(0)
    tokens = rng.integers(2, 500, (96, 32)).astype(np.int32)
    sources = rng.integers(0, 2, (96, 32)).astype(np.uint8)
    directory = str(tmp_path / "stream")
    stream_format.write_synthetic(directory, tokens, sources, ["a", "b"], rows_per_shard=32)
    return directory, tokens


def test_a_stream_lists_checksums_and_verifies(stream, capsys):
    directory, _ = stream
    manifest = json.load(open(os.path.join(directory, "manifest.json")))
    for shard in manifest["shards"]:
        path = os.path.join(directory, shard["file"])
        assert (shard["bytes"], shard["crc32c"]) == file_checksums.crc32c_of(path)
    assert data_verify.main([directory]) == 0
    assert "(stream): OK" in capsys.readouterr().out


def test_flipped_bytes_in_the_rows_read_first_name_file_and_record(stream, capsys):
    """The drill: bytes flipped in the first rows of a shard. The loader stops with DataCorrupt
    (file, record), the verifier names the file and the crc32c check."""
    directory, tokens = stream
    shard = os.path.join(directory, "rows-00001-of-00003.array_record")
    flip(shard, 200, 48)
    loader = stream_loader.StreamLoader(directory)
    np.testing.assert_array_equal(loader.batch(0, 32)["decoder_target_tokens"], tokens[:32])
    with pytest.raises(file_checksums.DataCorrupt) as raised:
        loader.batch(1, 32)  # rows 32..63: shard 1
    assert raised.value.file == shard
    assert raised.value.record.startswith("record ") and "stream row 3" in raised.value.record
    assert "rows-00001-of-00003.array_record: record " in str(raised.value)
    assert data_verify.main([directory]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "rows-00001-of-00003.array_record: crc32c check failed" in out
    assert "rows-00000" not in out


def test_a_damaged_index_names_the_file(stream):
    directory, _ = stream
    shard = os.path.join(directory, "rows-00002-of-00003.array_record")
    end = int(np.flatnonzero(np.fromfile(shard, np.uint8))[-1]) + 1  # then zero padding
    flip(shard, end - 40, 40)  # the footer and index chunk
    with pytest.raises(file_checksums.DataCorrupt, match="rows-00002-of-00003"):
        stream_format.StreamReader(directory)


def test_usage_errors_exit_2(tmp_path, capsys):
    assert data_verify.main([str(tmp_path / "absent")]) == 2
    (tmp_path / "x.txt").write_text("x")
    assert data_verify.main([str(tmp_path)]) == 2
    assert "not a data directory" in capsys.readouterr().err
    assert data_verify.main([]) == 2


def test_prep_output_verifies_and_names_a_flipped_or_missing_file(demo, tmp_path, capsys):
    out = str(tmp_path / "prep")
    shutil.copytree(demo["prep"], out)
    assert data_verify.main([out]) == 0
    assert "(prep): OK" in capsys.readouterr().out
    manifest = json.load(open(os.path.join(out, "news", "manifest.json")))
    assert set(manifest["checksums"]) == set(manifest["files"])
    shards = sorted(glob.glob(os.path.join(out, "news", "train-*.tfrecord")))
    flip(shards[0], os.path.getsize(shards[0]) // 2)
    os.remove(os.path.join(out, "news", manifest["files"][-1]))
    assert data_verify.main([out]) == 1
    text = capsys.readouterr().out
    assert f"news/{os.path.basename(shards[0])}: crc32c check failed" in text
    assert f"news/{manifest['files'][-1]}: missing file check failed" in text
    assert data_verify.main([os.path.join(out, "news")]) == 1  # one source's folder
    assert "(prep source): FAILED" in capsys.readouterr().out


def test_tfrecord_damage_is_located_by_record(tmp_path):
    import tensorflow as tf

    paths = []
    for name in ("a", "b"):
        paths.append(str(tmp_path / f"{name}.tfrecord"))
        with tf.io.TFRecordWriter(paths[-1]) as writer:
            for i in range(50):
                writer.write(bytes([i]) * 100)
    record = 16 + 100
    flip(paths[1], 20 * record + 30, 1)  # record 20's payload
    assert file_checksums.first_bad_record(paths[0]) is None
    assert file_checksums.first_bad_record(paths[1]) == (20, 20 * record,
                                                         "payload checksum mismatch")
    with pytest.raises(tf.errors.DataLossError) as raised:
        list(tf.data.TFRecordDataset(paths))  # tf.data checks record CRCs by default
    offset = int(str(raised.value).split(" at ")[1].split()[0])
    damage = file_checksums.tfrecord_damage(paths, offset)
    assert damage.file == paths[1] and damage.record == f"record 20 (byte {20 * record})"


@pytest.fixture
def tiny_tasks(tmp_path):
    from tests import train_tasks

    directory = train_tasks.write_data(str(tmp_path / "tiny"))
    train_tasks.register(directory)
    yield directory
    if os.environ.get("PALM_TEST_TASKS_DIR"):
        train_tasks.register(os.environ["PALM_TEST_TASKS_DIR"])


def test_training_on_a_damaged_tfrecord_names_file_and_record(tiny_tasks):
    """tf.data's DataLossError names an offset only: the trainer's stream names the file."""
    from launch.inputs import data
    from launch.utils import DatasetConfig

    shard = os.path.join(tiny_tasks, "counting", "train-00002-of-00004.tfrecord")
    flip(shard, os.path.getsize(shard) // 3, 1)
    config = DatasetConfig(mixture_or_task_name="tiny_mix.counting",
                           task_feature_lengths={"targets": 64}, split="train", batch_size=4,
                           shuffle=False, seed=0, use_cached=False, pack=True)
    with pytest.raises(file_checksums.DataCorrupt) as raised:
        for _ in data.TrainStream(config, 0, [0], 1).batches(0, 4):
            pass
    assert raised.value.file == shard
    assert raised.value.record.startswith("record ")


def test_seqio_cache_lists_checksums_before_completed(demo, tmp_path, capsys):
    import seqio

    from tasks import cache

    saved = list(seqio.get_global_cache_dirs())
    # seqio skips a task cached in any global cache dir, and a registered Task remembers where
    # it found its cache: earlier tests' caches and registrations must not count
    seqio.set_global_cache_dirs([])
    for name in [n for n in seqio.TaskRegistry.names() if n.startswith("palm_demo.")]:
        seqio.TaskRegistry.remove(name)
    if "palm_demo" in seqio.MixtureRegistry.names():
        seqio.MixtureRegistry.remove("palm_demo")
    try:
        [task_dir] = cache.run([
            "--spec", demo["spec"], "--output_cache_dir", str(tmp_path / "cache"),
            "--data_dir", demo["prep"], "--vocabulary", demo["model"],
            "--tasks", r"palm_demo\.news", "--min_shards", "2",
            "--direct_running_mode=in_memory", "--progress_seconds=0"])
    finally:
        seqio.set_global_cache_dirs(saved)
    listing = json.load(open(os.path.join(task_dir, "checksums.train.json")))["files"]
    shards = sorted(n for n in os.listdir(task_dir) if n.startswith("train.tfrecord-"))
    assert sorted(listing) == shards and len(shards) >= 2
    assert os.path.getmtime(os.path.join(task_dir, "checksums.train.json")) <= \
        os.path.getmtime(os.path.join(task_dir, "COMPLETED"))
    assert data_verify.main([str(tmp_path / "cache")]) == 0
    assert "(seqio cache): OK" in capsys.readouterr().out
    shard = os.path.join(task_dir, shards[1])
    flip(shard, os.path.getsize(shard) // 2)
    assert file_checksums.first_bad_record(shard) is not None
    assert data_verify.main([task_dir]) == 1
    assert f"{shards[1]}: crc32c check failed" in capsys.readouterr().out


def test_the_drill_training_on_a_stream_with_flipped_first_rows_exits_1(tiny_tasks, tmp_path,
                                                                       capsys, monkeypatch):
    """launch.train on a stream whose first rows are damaged: exit 1, one line naming the file
    and the record, no traceback, before any step."""
    from launch import train
    from tests.train_tasks import train_args

    rng = np.random.default_rng(1)
    tokens = rng.integers(2, 256, (32, 64)).astype(np.int32)
    stream_dir = str(tmp_path / "stream")
    stream_format.write_synthetic(stream_dir, tokens, np.zeros_like(tokens, np.uint8), ["a"],
                                  rows_per_shard=16)
    shard = os.path.join(stream_dir, "rows-00000-of-00002.array_record")
    flip(shard, 100, 64)
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    model_dir = str(tmp_path / "run")
    rc = train.main(train_args(model_dir, 2, f"--gin.TRAIN_STREAM='{stream_dir}'",
                               # 32 rows: room for 2 steps of 8 and one recovery's skip
                               "--gin.spikes.LossSpikeRecovery.skip_batches=1"))
    err = capsys.readouterr().err
    assert rc == 1, err[-2000:]
    assert f"error: damaged data file {shard}: record 0 (stream row 0)" in err
    assert "Traceback" not in err
    assert not os.path.exists(os.path.join(model_dir, "checkpoint_1"))
