"""Hostile inputs, fuzzed: valid sources specs, mixture specs, gin bindings and Beam flags are
mutated (a key removed, a wrong type, an unknown key, NaN or a huge number, an empty or binary
file, a duplicate name) and fed to the real entry points. Every one must exit 2 with a message
naming the file (or flag) and the key, print no traceback and leave no output directory.

The jobs are stopped before they would run anything (a valid spec reaching the Beam pipeline or
the trainer fails the test: every mutation here is invalid by construction), so each example
costs a validation, not a job.
"""

import math
import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


class Reached(Exception):
    """The job got past validation: the mutation was accepted."""


# ---------------------------------------------------------------------------------------------
# Values: NaN, infinities, huge numbers and values of every other type

WRONG = {
    "str": st.sampled_from(["english", "", "yes", "3", "\x00\x01", "a" * 300, "..", "é/x"]),
    "int": st.sampled_from([3, -1, 0, 10 ** 30]),
    "float": st.sampled_from([math.nan, math.inf, -math.inf, 1e308, 0.5]),
    "bool": st.sampled_from([True, False]),
    "list": st.sampled_from([[], [1, 2], [{"a": 1}], ["x"]]),
    "dict": st.sampled_from([{}, {"a": 1}, {"name": None}]),
}  # null is not here: in a spec, a key set to null takes its default (pipeline/validation.py)


def wrong_value(*allowed: str):
    """A value of a type outside `allowed` (or a bad value of an allowed numeric type)."""
    return st.sampled_from(sorted(set(WRONG) - set(allowed))).flatmap(lambda k: WRONG[k])


def _set(tree, path, value):
    for part in path[:-1]:
        tree = tree[part]
    tree[path[-1]] = value


def _remove(tree, path):
    for part in path[:-1]:
        tree = tree[part]
    del tree[path[-1]]


def _write(tmp_path, name: str, content) -> str:
    path = str(tmp_path / name)
    if isinstance(content, bytes):
        open(path, "wb").write(content)
    else:
        with open(path, "w", encoding="utf-8") as f:
            f.write(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


def assert_refused(rc, captured, out_dir, *names):
    assert rc == 2, (rc, captured.err[-2000:])
    assert "Traceback" not in captured.err + captured.out
    for name in names:
        assert name in captured.err, (name, captured.err[-2000:])
    assert not os.path.exists(out_dir), f"{out_dir} was left behind"


# ---------------------------------------------------------------------------------------------
# Sources specs (pipeline/spec.py) through python -m pipeline.prep

def _sources_spec(tmp_path) -> dict:
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "hello world"}\n')
    return {"seed": 0, "validation_fraction": 0.1, "shards": {"train": 2, "validation": 1},
            "sources": [{"name": "web", "role": "webpages", "format": "jsonl",
                         "paths": [str(data)], "languages": ["en"]},
                        {"name": "books", "role": "books", "format": "jsonl",
                         "paths": [str(data)], "text_field": "text"}]}


# (key path, types the key accepts); a value of any other type is an error
SPEC_KEYS = [
    (("seed",), ("int",)), (("validation_fraction",), ("float",)),
    (("rejected_sample_rate",), ("float",)), (("shards", "train"), ("int",)),
    (("shards", "validation"), ("int",)), (("sources", 0, "name"), ()),
    (("sources", 0, "format"), ()), (("sources", 0, "languages"), ("list",)),
    (("sources", 1, "role"), ("str",)), (("sources", 1, "paths"), ("list",)),
    (("sources", 1, "allow_empty"), ("bool",)), (("sources", 0, "text_field"), ("str",)),
    (("sources",), ()),
]
REQUIRED = [("sources",), ("sources", 0, "name"), ("sources", 0, "role"),
            ("sources", 1, "format"), ("sources", 1, "paths")]


def _spec_mutation():
    wrong = st.sampled_from(SPEC_KEYS).flatmap(
        lambda kt: st.tuples(st.just("wrong"), st.just(kt[0]), wrong_value(*kt[1]).filter(
            lambda v, kt=kt: not _valid_numeric(kt[0], v))))
    removed = st.tuples(st.just("remove"), st.sampled_from(REQUIRED), st.none())
    unknown = st.tuples(st.just("unknown"),
                        st.sampled_from([(), ("shards",), ("sources", 0), ("sources", 1)]),
                        st.sampled_from(["langauges", "sed", "extra", "Name"]))
    duplicate = st.tuples(st.just("duplicate"), st.just(("sources", 1, "name")), st.none())
    return st.one_of(wrong, removed, unknown, duplicate)


def _valid_numeric(path, value) -> bool:
    """Values of an accepted type that are also valid (not every int is a bad shard count)."""
    if path == ("seed",):
        return isinstance(value, int) and not isinstance(value, bool)
    if path[-1] in ("validation_fraction", "rejected_sample_rate"):
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and 0 <= value <= 1)
    if path[0] == "shards":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if path[-1] == "name":  # a folder name
        return (isinstance(value, str) and 0 < len(value) <= 100 and value not in (".", "..")
                and all(c.isalnum() or c in "-_." for c in value))
    return False


def _mutate_spec(spec, mutation):
    what, path, value = mutation
    if what == "wrong":
        _set(spec, path, value)
        return ".".join(str(p) for p in path if not isinstance(p, int))
    if what == "remove":
        _remove(spec, path)
        return str(path[-1])
    if what == "unknown":
        target = spec
        for part in path:
            target = target[part]
        target[value] = 1
        return value
    spec["sources"][1]["name"] = spec["sources"][0]["name"]
    return "name"


@pytest.fixture
def no_job(monkeypatch):
    """Any job that gets past validation fails the test instead of running."""
    import apache_beam as beam

    def refuse(*args, **kwargs):
        raise Reached("validation accepted the input and a Beam pipeline was built")

    monkeypatch.setattr(beam, "Pipeline", refuse)
    from pipeline import prep
    monkeypatch.setattr(prep.beam, "Pipeline", refuse)


@FUZZ
@given(mutation=_spec_mutation())
def test_mutated_sources_spec_exits_2_naming_file_and_key(tmp_path, capsys, no_job, mutation):
    from pipeline import prep

    spec = _sources_spec(tmp_path)
    key = _mutate_spec(spec, mutation)
    path = _write(tmp_path, "sources.yaml", spec)
    out = str(tmp_path / "out")
    rc = prep.main(["--sources", path, "--output_dir", out])
    assert_refused(rc, capsys.readouterr(), out, path, key.split(".")[-1])


def test_languages_as_a_word_is_refused_before_anything_runs(tmp_path, capsys, no_job):
    """The issue's case: `languages: english` passed validation and crashed after writing."""
    from pipeline import prep

    spec = _sources_spec(tmp_path)
    spec["sources"][0]["languages"] = "english"
    path = _write(tmp_path, "sources.yaml", spec)
    out = str(tmp_path / "out")
    assert prep.main(["--sources", path, "--output_dir", out]) == 2
    captured = capsys.readouterr()
    assert_refused(2, captured, out, f"{path}: sources[0].languages: 'english'")


@pytest.mark.parametrize("content", [b"", b"\x00\xff\xfe\x89PNG\r\n\x1a\n" * 8, "- a\n- b\n",
                                     "sources: [\n", "7", "sources: []\n"])
def test_empty_binary_and_broken_spec_files_exit_2(tmp_path, capsys, no_job, content):
    from pipeline import prep

    path = _write(tmp_path, "sources.yaml", content)
    out = str(tmp_path / "out")
    rc = prep.main(["--sources", path, "--output_dir", out])
    assert_refused(rc, capsys.readouterr(), out, path)


def test_a_folder_as_the_spec_exits_2(tmp_path, capsys, no_job):
    from pipeline import prep

    out = str(tmp_path / "out")
    rc = prep.main(["--sources", str(tmp_path), "--output_dir", out])
    assert_refused(rc, capsys.readouterr(), out, str(tmp_path))


# ---------------------------------------------------------------------------------------------
# Beam flags (pipeline/beam_flags.py), through the same entry point

HOSTILE_FLAGS = ["--direct_num_worker=2", "--forse", "--runer=DirectRunner", "-x",
                 "--output-dir=x", "--direct_running_mode=bogus", "--runner=NoSuchRunner",
                 "--direct_num_workers=nan", "--direct_num_workers=two",
                 "--direct_num_workers=-3", "--direct_num_workers=" + "9" * 30, "--experiments"]


@FUZZ
@given(flag=st.one_of(st.sampled_from(HOSTILE_FLAGS),
                      st.from_regex(r"--[a-z]{3,12}_[a-z]{3,8}=[a-z0-9]{1,4}", fullmatch=True)))
def test_bad_beam_flags_exit_2_naming_the_flag(tmp_path, capsys, no_job, flag):
    from pipeline import beam_flags, prep

    if flag not in HOSTILE_FLAGS:
        try:
            if not beam_flags.unknown_flags([flag]):
                return  # a real Beam option with a value of its type: not hostile
        except beam_flags.FlagError:
            pass
    spec = _write(tmp_path, "sources.yaml", _sources_spec(tmp_path))
    out = str(tmp_path / "out")
    try:
        rc = prep.main(["--sources", spec, "--output_dir", out, flag])
    except Reached:
        pytest.fail(f"{flag} was accepted")
    assert_refused(rc, capsys.readouterr(), out, flag.split("=")[0].lstrip("-").split("_")[0])


# ---------------------------------------------------------------------------------------------
# Mixture specs (pipeline/mixture_spec.py, tasks/), through python -m tasks.cache

def _mixture_spec() -> dict:
    return {"name": "fuzz_mix", "vocabulary": "spm.model", "data_dir": "prep",
            "sources": [{"name": "web", "weight": 3}, {"name": "books", "weight": 1.5,
                                                       "role": "books"}]}


MIXTURE_KEYS = [(("name",), ()), (("vocabulary",), ("str",)), (("data_dir",), ("str",)),
                (("sources",), ()), (("sources", 0, "weight"), ("int", "float")),
                (("sources", 1, "name"), ("str",)), (("sources", 1, "role"), ("str", "null"))]


def _mixture_valid(path, value) -> bool:
    if path[-1] == "weight":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value) and value >= 0)
    if path[-1] in ("vocabulary", "data_dir"):
        return False  # every str sample is a wrong path too, but only types are checked here
    return False


@FUZZ
@given(mutation=st.one_of(
    st.sampled_from(MIXTURE_KEYS).flatmap(lambda kt: st.tuples(
        st.just("wrong"), st.just(kt[0]),
        wrong_value(*kt[1]).filter(lambda v, kt=kt: not _mixture_valid(kt[0], v)))),
    st.tuples(st.just("remove"), st.sampled_from([("name",), ("sources",), ("vocabulary",),
                                                  ("sources", 0, "name"),
                                                  ("sources", 1, "weight")]), st.none()),
    st.tuples(st.just("unknown"), st.sampled_from([(), ("sources", 0)]),
              st.sampled_from(["wieght", "extra"])),
    st.tuples(st.just("duplicate"), st.just(("sources", 1, "name")), st.none())))
def test_mutated_mixture_spec_exits_2_naming_file_and_key(tmp_path, capsys, no_job, mutation):
    from tasks import cache

    spec = _mixture_spec()
    key = _mutate_spec(spec, mutation)
    path = _write(tmp_path, "mixture.yaml", spec)
    out = str(tmp_path / "cache")
    rc = cache.main(["--spec", path, "--output_cache_dir", out])
    assert_refused(rc, capsys.readouterr(), out, path, key.split(".")[-1])


@pytest.mark.parametrize("content", [b"", b"\x00\xff\xfe\x89PNG" * 8, "name: [\n", "3"])
def test_empty_binary_and_broken_mixture_files_exit_2(tmp_path, capsys, no_job, content):
    from tasks import cache

    path = _write(tmp_path, "mixture.yaml", content)
    out = str(tmp_path / "cache")
    rc = cache.main(["--spec", path, "--output_cache_dir", out])
    assert_refused(rc, capsys.readouterr(), out, path)


# ---------------------------------------------------------------------------------------------
# Gin bindings (launch/gin_utils.py, launch/cli/gin_checks.py, launch/run/preflight.py), through
# python -m launch.train; anything that reaches the training loop fails the test

@pytest.fixture(scope="module")
def tiny_env(tmp_path_factory):
    from tests import train_tasks

    directory = train_tasks.write_data(str(tmp_path_factory.mktemp("fuzz_tasks")))
    previous = os.environ.get("PALM_TEST_TASKS_DIR")
    os.environ["PALM_TEST_TASKS_DIR"] = directory
    train_tasks.register(directory)
    cwd = os.getcwd()
    os.chdir(ROOT)
    yield directory
    os.chdir(cwd)
    if previous:
        os.environ["PALM_TEST_TASKS_DIR"] = previous
        train_tasks.register(previous)
    else:
        os.environ.pop("PALM_TEST_TASKS_DIR", None)


GIN_BAD = {
    "TRAIN_STEPS": ["'ten'", "1.5", "-4", "0", "None", "[3]", "float('nan')"],
    "BATCH_SIZE": ["'eight'", "0", "-8", "7.5", "None", "{}", "10 ** 30"],
    "RANDOM_SEED": ["'x'", "1.5", "[0]"],
    "USE_CACHED_TASKS": ["'no'", "1", "None"],
    "TASK_FEATURE_LENGTHS": ["64", "'targets'", "[64]"],
    "MIXTURE_OR_TASK_NAME": ["3", "None", "'no_such_mixture'"],
    "MODEL_DIR": ["3", "None", "''"],
}


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(binding=st.one_of(
    st.sampled_from(sorted(GIN_BAD)).flatmap(
        lambda k: st.sampled_from(GIN_BAD[k]).map(lambda v, k=k: (k, f"{k}={v}"))),
    st.sampled_from([("perod", "utils.SaveCheckpointConfig.perod=2"),
                     ("no_such_configurable", "no_such_configurable.x=1"),
                     ("TRAIN_STEPS", "TRAIN_STEPS=(("),
                     ("TRAIN_STEPS", "TRAIN_STEPS"),
                     ("BATCH_SIZE", "BATCH_SIZE=8 8")])))
def test_bad_gin_bindings_exit_2_naming_the_binding(tiny_env, tmp_path, capsys, monkeypatch,
                                                    binding):
    from launch import train
    from tests.train_tasks import train_args

    def refuse(*args, **kwargs):
        raise Reached("the run got past its checks")

    monkeypatch.setattr(train, "Trainer", refuse)
    key, text = binding
    model_dir = str(tmp_path / "run")
    rc = train.main(train_args(model_dir, 2, f"--gin_bindings={text}"))
    assert_refused(rc, capsys.readouterr(), model_dir, key)


@pytest.mark.parametrize("content", [b"\x00\xff\xfe\x89PNG" * 8, "TRAIN_STEPS = \n",
                                     "import no_such_module_x\n"])
def test_empty_binary_and_broken_gin_files_exit_2(tiny_env, tmp_path, capsys, monkeypatch,
                                                  content):
    from launch import train
    from tests.train_tasks import train_args

    monkeypatch.setattr(train, "Trainer", lambda *a, **k: (_ for _ in ()).throw(Reached()))
    path = _write(tmp_path, "bad.gin", content)
    model_dir = str(tmp_path / "run")
    rc = train.main(train_args(model_dir, 2, f"--gin_file={path}"))
    assert_refused(rc, capsys.readouterr(), model_dir, "bad.gin")
