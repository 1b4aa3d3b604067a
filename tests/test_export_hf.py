"""launch.export_hf against transformers: the exported folder loads offline, computes the same
float32 logits as PalmModel.apply (< 1e-4) and the same greedy continuation as model/decoding.py,
its tokenizer is SentencePiece on every text; damaged or inexpressible inputs exit 2 and leave
no folder behind."""

import dataclasses
import json
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sentencepiece as spm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from launch import export_hf
from launch.hf import safetensors_shards
from model import decoding
from model.config import PalmConfig
from model.network import PalmModel
from tests import hf_fixtures


def _read_json(path):
    return json.loads(pathlib.Path(path).read_text())

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TINY = PalmConfig(vocab_size=1024, num_layers=2, num_heads=4, d_model=64, head_dim=16,
                  dtype="float32")
VARIANTS = {
    "tied": TINY,
    # scanned layers, an untied output layer, heads x head_dim != d_model, odd eps and theta
    "scanned_untied_head_dim": dataclasses.replace(
        TINY, num_heads=3, head_dim=8, d_ff=96, scan_layers=True, logits_via_embedding=False,
        layer_norm_epsilon=1e-5, rope_max_wavelength=500.0),
}


@pytest.fixture(scope="module")
def vocabulary(tmp_path_factory):
    return hf_fixtures.train_vocabulary(str(tmp_path_factory.mktemp("vocab")))


@pytest.fixture(scope="module")
def sp(vocabulary):
    return spm.SentencePieceProcessor(model_file=vocabulary)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {name: (str(root / name), hf_fixtures.write_run(str(root / name), config, steps=(2, 5)))
            for name, config in VARIANTS.items()}


def _export(run_dir, vocabulary, out, *extra):
    return export_hf.main([f"--checkpoint={run_dir}", f"--vocabulary={vocabulary}",
                           f"--output_dir={out}", *extra])


@pytest.fixture(scope="module")
def exported(runs, vocabulary, tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    out = {}
    for name, (run_dir, _) in runs.items():
        assert _export(run_dir, vocabulary, str(root / name), "--max_shard_size=100KB") == 0
        out[name] = str(root / name)
    return out


@pytest.fixture(scope="module")
def tokenizer(exported):
    return transformers.AutoTokenizer.from_pretrained(
        exported["tied"], trust_remote_code=True, local_files_only=True)


def _load(folder):
    return transformers.AutoModelForCausalLM.from_pretrained(folder, local_files_only=True,
                                                             dtype=torch.float32).eval()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_logits_and_greedy_output_match_the_jax_model(name, runs, exported):
    config, params = VARIANTS[name], runs[name][1]
    model = _load(exported[name])
    tokens = np.random.default_rng(1).integers(3, config.vocab_size, size=(3, 48))
    ours = np.asarray(PalmModel(config).apply({"params": params}, jnp.asarray(tokens)))
    with torch.no_grad():
        theirs = model(torch.tensor(tokens)).logits.numpy()
    assert np.abs(ours - theirs).max() < 1e-4
    assert np.abs(ours).max() > 1  # not a comparison of two near-zero tensors
    if config.scan_layers:
        return  # greedy decoding once is enough (the scanned model compiles slowly on CPU)
    prompt = tokens[:1, :12]
    out = decoding.generate(params, config, jnp.asarray(prompt), max_new_tokens=10,
                            rng=jax.random.PRNGKey(0), temperature=0.0)
    ours_greedy = np.asarray(out.tokens[0, :int(out.num_tokens[0])]).tolist()
    with torch.no_grad():
        generated = model.generate(torch.tensor(prompt), max_new_tokens=10, do_sample=False)
    assert generated[0, prompt.shape[1]:].tolist() == ours_greedy


def test_folder_layout_config_and_shards(exported, runs):
    folder = exported["scanned_untied_head_dim"]
    config = _read_json(os.path.join(folder, "config.json"))
    assert config["architectures"] == ["CohereForCausalLM"] and config["num_key_value_heads"] == 1
    assert config["head_dim"] == 8 and config["tie_word_embeddings"] is False
    assert config["logit_scale"] == 1.0 and config["layer_norm_eps"] == 1e-5
    assert config["rope_parameters"]["rope_theta"] == 500.0 and config["bos_token_id"] is None
    assert "head_dim" not in _read_json(os.path.join(exported["tied"], "config.json"))
    index = _read_json(os.path.join(folder, safetensors_shards.INDEX))
    files = sorted(set(index["weight_map"].values()))
    tensors = {f: [n for n, g in index["weight_map"].items() if g == f] for f in files}
    assert len(files) > 1  # a shard passes 100KB only when one tensor alone is larger
    assert all(os.path.getsize(os.path.join(folder, f)) < 100_000 + 4096 or len(tensors[f]) == 1
               for f in files)
    assert "lm_head.weight" in index["weight_map"]
    assert "lm_head.weight" not in _read_json(os.path.join(
        exported["tied"], safetensors_shards.INDEX))["weight_map"]
    card = pathlib.Path(os.path.join(folder, "README.md")).read_text()
    assert "| step | 5 |" in card and "test_mixture" in card and "train loss at step 5" in card
    generation = _read_json(os.path.join(folder, "generation_config.json"))
    assert generation["eos_token_id"] == 1 and generation["do_sample"] is False
    # 1,000 pieces in a 1,024-row embedding: generate() never emits the padding ids
    assert generation["suppress_tokens"] == list(range(1000, TINY.vocab_size))


def test_bfloat16_export_loads_and_stays_close(runs, vocabulary, tmp_path):
    run_dir, params = runs["tied"]
    assert _export(run_dir, vocabulary, str(tmp_path / "bf16"), "--dtype=bfloat16") == 0
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(tmp_path / "bf16"), local_files_only=True, dtype=torch.float32)
    assert model.model.embed_tokens.weight.dtype == torch.float32
    tokens = np.arange(3, 40)[None]
    ours = np.asarray(PalmModel(TINY).apply({"params": params}, jnp.asarray(tokens)))
    with torch.no_grad():
        theirs = model(torch.tensor(tokens)).logits.numpy()
    assert 0 < np.abs(ours - theirs).max() < 0.25  # bfloat16 weights: close, not equal


# Runs of pieces that stress SentencePiece's corner cases, and any characters at all.
TEXT = st.lists(st.one_of(
    st.sampled_from(list("abc xyz ABC 0123456789 #\t\n.,;:!?'\"()[]<>/=") +
                    ["</s>", "<pad>", "<unk>", "\u2581", "\ue000", "\ue001", "  ", "é", "ß",
                     "東", "京", "ж", "😀", "\u200b", "##", "<0x41>", "def ", "the "]),
    st.text(max_size=4)), max_size=30).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT)
def test_tokenizer_is_sentencepiece_on_every_text(tokenizer, sp, text):
    ids = sp.encode(text)
    assert tokenizer(text)["input_ids"] == ids
    assert tokenizer.encode(text, add_special_tokens=True) == ids
    assert tokenizer.decode(ids) == sp.decode(ids)
    assert tokenizer.decode(ids + [1], skip_special_tokens=True) == sp.decode(ids)
    assert tokenizer.decode(ids + [1]) == sp.decode(ids) + "</s>"


def test_tokenizer_specials_and_varied_text(tokenizer, sp):
    assert tokenizer.eos_token_id == 1 and tokenizer.pad_token_id == 0
    assert tokenizer.bos_token_id is None
    assert tokenizer.decode([1]) == "</s>"  # lm-eval uses it as a stop string
    assert tokenizer.decode([1000, 1020]) == sp.decode([sp.unk_id()] * 2)  # padded rows
    for line in hf_fixtures.sample_text(60_000)[::7]:
        assert tokenizer(line)["input_ids"] == sp.encode(line)
    batch = tokenizer(["a b", "a longer line"], padding=True)
    assert batch["input_ids"][0][-1] == 0 and batch["attention_mask"][0][-1] == 0


def test_fast_tokenizer_json_loads_and_mostly_agrees(exported, sp):
    tokenizers = pytest.importorskip("tokenizers")
    fast = tokenizers.Tokenizer.from_file(os.path.join(exported["tied"], "tokenizer.json"))
    lines = hf_fixtures.sample_text(60_000)[::5]
    same = sum(fast.encode(line, add_special_tokens=False).ids == sp.encode(line)
               for line in lines)
    assert same >= 0.9 * len(lines)
    assert all(fast.decode(sp.encode(line)) == sp.decode(sp.encode(line)) for line in lines
               if "\u2581" not in line and "\ue000" not in line)
    assert fast.encode("a</s>", add_special_tokens=False).ids[-1] == 1  # the documented gap
    # Without trust_remote_code, AutoTokenizer falls back to tokenizer.json (serving engines).
    untrusted = transformers.AutoTokenizer.from_pretrained(exported["tied"], local_files_only=True)
    assert untrusted.is_fast and untrusted.decode([1]) == "</s>"
    assert untrusted("the cat sat.\n")["input_ids"] == sp.encode("the cat sat.\n")


def test_damaged_newest_checkpoint_is_skipped_or_refused(runs, vocabulary, tmp_path, capsys):
    import shutil
    run_dir = str(tmp_path / "run")
    shutil.copytree(runs["tied"][0], run_dir)
    shard_dir = os.path.join(run_dir, "checkpoint_5", "state", "d")
    victim = os.path.join(shard_dir, min(os.listdir(shard_dir)))
    with open(victim, "r+b") as f:
        byte = f.read(1)
        f.seek(0)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert _export(run_dir, vocabulary, str(tmp_path / "older")) == 0
    assert "| step | 2 |" in pathlib.Path(tmp_path / "older" / "README.md").read_text()
    code = _export(run_dir, vocabulary, str(tmp_path / "named"), "--checkpoint_step=5")
    err = capsys.readouterr().err
    assert code == 2 and "crc32c check failed" in err and "checkpoint_5" in err
    assert not os.path.exists(tmp_path / "named")
    assert not os.path.exists(str(tmp_path / "named") + ".incomplete")


@pytest.mark.parametrize("case, expected", [
    ("no_run", "no such directory"),
    ("wrong_gin", "has shape"),
    ("big_vocabulary", "the model's embedding has 256 rows"),
    ("not_a_vocabulary", "not a SentencePiece model"),
    ("output_exists", "is not empty"),
    ("missing_checksums", "completion marker"),
])
def test_bad_inputs_exit_2_and_write_nothing(case, expected, runs, vocabulary, tmp_path,
                                            capsys):
    import shutil
    run_dir, out, extra = runs["tied"][0], str(tmp_path / "out"), []
    if case == "no_run":
        run_dir = str(tmp_path / "nothing")
    elif case == "wrong_gin":
        gin = tmp_path / "other.gin"
        gin.write_text(hf_fixtures.gin_text(dataclasses.replace(TINY, d_model=32)))
        extra = [f"--gin_file={gin}"]
    elif case == "big_vocabulary":
        gin = tmp_path / "small.gin"
        gin.write_text(hf_fixtures.gin_text(dataclasses.replace(TINY, vocab_size=256)))
        extra = [f"--gin_file={gin}"]
    elif case == "not_a_vocabulary":
        bad = tmp_path / "bad.model"
        bad.write_bytes(b"\x00\xff not a proto")
        vocabulary = str(bad)
    elif case == "output_exists":
        os.makedirs(out)
        pathlib.Path(out, "keep.txt").write_text("mine")
    elif case == "missing_checksums":
        run_dir = str(tmp_path / "run")
        shutil.copytree(runs["tied"][0], run_dir)
        shutil.rmtree(os.path.join(run_dir, "checkpoint_5", "checksums"))
        extra = ["--checkpoint_step=5"]
    assert _export(run_dir, vocabulary, out, *extra) == 2
    assert expected in capsys.readouterr().err
    assert os.listdir(out) == ["keep.txt"] if case == "output_exists" else \
        not os.path.exists(out)


# Import: the exported folders come back bit for bit, and as a run fine-tuning starts from.

def _import(hf_dir, out, *extra):
    from launch import import_hf
    return import_hf.main([f"--hf_dir={hf_dir}", f"--output_dir={out}", *extra])


def _flat(tree, prefix=()):
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _flat(sub, prefix + (key,)).items()}
    return {prefix: np.asarray(tree)}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_export_then_import_is_bit_for_bit_and_finetune_gin_starts_from_it(name, runs, exported,
                                                                           tmp_path):
    from launch import gin_utils
    from launch.partitioning import PjitPartitioner
    from launch.run import checkpoints as ckpt_lib
    from launch.trainer import Trainer

    config = VARIANTS[name]
    extra = ["--scan_layers", "--step=7"] if config.scan_layers else []
    out = tmp_path / "imported"
    assert _import(exported[name], str(out), *extra) == 0
    step = 7 if config.scan_layers else 0
    checkpoint = out / f"checkpoint_{step}"
    assert sorted(os.listdir(checkpoint)) == ["_CHECKPOINT_METADATA", "checksums",
                                              "commit_success.txt", "data", "state"]
    assert (out / "spm.model").exists()
    gin_utils.parse_gin(["gin/runs/finetune.gin", str(out / "config.gin")], [
        "MODEL_DIR = '/tmp/unused'", "MIXTURE_OR_TASK_NAME = 'x'", "TRAIN_STEPS = 1",
        "TASK_FEATURE_LENGTHS = {'targets': 8}"], finalize=False)
    import gin
    assert gin.query_parameter("%INITIAL_CHECKPOINT_PATH") == str(checkpoint)
    imported_config = PalmConfig()
    with gin.unlock_config():
        gin.clear_config()
    assert dataclasses.replace(imported_config, dtype="float32") == dataclasses.replace(
        config, d_ff=None if config.d_ff == 4 * config.d_model else config.d_ff)
    trainer = Trainer(model=imported_config, partitioner=PjitPartitioner())
    state, record = ckpt_lib.restore_from(str(checkpoint), trainer.abstract_state())
    assert int(state.step) == step and record["examples_consumed"] == 0
    original, restored = _flat(runs[name][1]), _flat(state.params)
    assert original.keys() == restored.keys()
    for key in original:
        assert restored[key].dtype == np.float32
        assert np.array_equal(original[key].view(np.uint32), restored[key].view(np.uint32)), key


def _edit_config(src, dst, **changes):
    import shutil
    shutil.copytree(src, dst)
    config = _read_json(os.path.join(dst, "config.json"))
    config.update(changes)
    pathlib.Path(dst, "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("case, expected", [
    ("llama", "only 'cohere' / CohereForCausalLM"),
    ("kv_heads", "num_key_value_heads = 2"),
    ("kv_default", "num_key_value_heads = 4"),  # absent means one per query head
    ("qk_norm", "use_qk_norm = True"),
    ("logit_scale", "logit_scale = 0.0625"),
    ("rope_scaling", "only plain RoPE"),
    ("no_config", "config.json: no such file"),
    ("missing_shard", "listed in model.safetensors.index.json but absent"),
    ("no_weights", "neither model.safetensors.index.json nor model.safetensors"),
    ("not_a_folder", "no such directory"),
])
def test_import_refuses_what_the_model_cannot_compute(case, expected, exported, tmp_path,
                                                      capsys):
    src, folder = exported["tied"], str(tmp_path / "hf")
    if case == "llama":
        _edit_config(src, folder, model_type="llama", architectures=["LlamaForCausalLM"])
    elif case == "kv_heads":
        _edit_config(src, folder, num_key_value_heads=2)
    elif case == "kv_default":
        _edit_config(src, folder, num_key_value_heads=None)
    elif case == "qk_norm":
        _edit_config(src, folder, use_qk_norm=True)
    elif case == "logit_scale":
        _edit_config(src, folder, logit_scale=0.0625)
    elif case == "rope_scaling":
        _edit_config(src, folder, rope_parameters={"rope_type": "linear", "factor": 2.0,
                                                   "rope_theta": 10000.0})
    elif case == "no_config":
        _edit_config(src, folder)
        os.remove(os.path.join(folder, "config.json"))
    elif case == "missing_shard":
        _edit_config(src, folder)
        shards = set(_read_json(os.path.join(folder, safetensors_shards.INDEX))["weight_map"]
                     .values())
        os.remove(os.path.join(folder, f"model-00002-of-{len(shards):05d}.safetensors"))
    elif case == "no_weights":
        _edit_config(src, folder)
        for name in os.listdir(folder):
            if "safetensors" in name:
                os.remove(os.path.join(folder, name))
    elif case == "not_a_folder":
        folder = str(tmp_path / "nothing")
    out = tmp_path / "run"
    assert _import(folder, str(out)) == 2
    err = capsys.readouterr().err
    assert expected in err, err
    assert not out.exists() and not os.path.exists(str(out) + ".incomplete")


def test_a_folder_transformers_wrote_imports_and_computes_the_same_logits(tmp_path):
    """Import of a Cohere model made by transformers itself (not by our export)."""
    from launch import gin_utils
    from launch.partitioning import PjitPartitioner
    from launch.run import checkpoints as ckpt_lib
    from launch.trainer import Trainer

    config = transformers.CohereConfig(
        vocab_size=300, hidden_size=48, intermediate_size=80, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=1, logit_scale=48 ** -0.5,
        layer_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        bos_token_id=None, eos_token_id=1, pad_token_id=0, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = transformers.CohereForCausalLM(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():  # layer norms away from 1, larger weights
            parameter.add_(0.2 * torch.randn_like(parameter))
    model.save_pretrained(str(tmp_path / "hf"))
    assert _import(str(tmp_path / "hf"), str(tmp_path / "run")) == 0
    gin_utils.parse_gin([str(tmp_path / "run" / "config.gin")], [], finalize=False)
    import gin
    palm = dataclasses.replace(PalmConfig(), dtype="float32")
    with gin.unlock_config():
        gin.clear_config()
    assert (palm.d_model, palm.num_heads, palm.head_dim, palm.mlp_dim) == (48, 4, 12, 80)
    trainer = Trainer(model=palm, partitioner=PjitPartitioner())
    state, _ = ckpt_lib.restore_from(str(tmp_path / "run" / "checkpoint_0"),
                                     trainer.abstract_state())
    tokens = np.random.default_rng(2).integers(0, 300, size=(2, 24))
    ours = np.asarray(PalmModel(palm).apply({"params": state.params}, jnp.asarray(tokens)))
    with torch.no_grad():
        theirs = model(torch.tensor(tokens)).logits.numpy()
    assert np.abs(ours - theirs).max() < 1e-4 and np.abs(theirs).max() > 0.5
