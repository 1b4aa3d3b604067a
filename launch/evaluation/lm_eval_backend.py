"""An lm-evaluation-harness model backend on the project's JAX model ("palm_jax").

lm-eval runs the benchmark (tasks, prompts, few-shot, metrics, output files); this class answers
its three request types from a checkpoint, the way lm-eval's `hf` backend answers them for the
exported model (launch.export_hf), so scores agree:

- `loglikelihood`: lm-eval's own TemplateLM tokenizes (context and continuation encoded together,
  then split; an empty context is EOS), then the pair is cut to the last max_length + 1 tokens
  and the continuation's log-probabilities summed, with a flag for "every token is the argmax".
- `loglikelihood_rolling`: lm-eval's rolling windows of max_length with EOS as prefix token.
- `generate_until`: the context cut to max_length - max_gen_toks tokens from the left, greedy
  decoding with the KV cache (model/decoding.py), stopped at EOS, at max_gen_toks, or once every
  row's text holds a stop string; the text is cut at the first stop string.

Requests are sorted by length and padded to a few bucket lengths (powers of two) and a fixed
number of rows, so XLA compiles one program per bucket. Rows are sharded over the mesh's `data`
axis: each process feeds and computes its slice of every batch, and the small per-row results
come back replicated, so every process holds all answers (process 0 writes the files).
Text is tokenized with SentencePiece itself, as the exported tokenizer does.
"""

from __future__ import annotations

import dataclasses
import functools
import logging

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from lm_eval import utils as lm_utils
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model
from lm_eval.models.utils import (
    handle_stop_sequences,
    normalize_gen_kwargs,
    postprocess_generated_text,
)

from launch.evaluation import restore
from model import decoding
from model.network import PalmModel, output_matrix, project

log = logging.getLogger("launch")

MIN_BUCKET = 16
DEFAULT_MAX_LENGTH = 2048  # lm-eval's default, when neither the flag nor the run gives one
GEN_CHUNK = 16  # decoding steps between two host-side stop-string checks


def bucket_length(n: int, cap: int) -> int:
    """The padded length for a sequence of n tokens: the next power of two (at least
    MIN_BUCKET), never past `cap`."""
    return min(max(MIN_BUCKET, 1 << max(n - 1, 0).bit_length()), max(cap, n))


class SentencePieceText:
    """Text <-> ids with SentencePiece, as the exported tokenizer (launch.export_hf) does: no BOS
    or EOS added; decoding drops control ids (pad, EOS), reads ids past the SentencePiece
    vocabulary (the model's embedding may be larger) as the unknown piece, and decodes each run
    of ordinary ids with SentencePiece. EOS is written as its piece ("</s>") in stop strings."""

    def __init__(self, model_file: str):
        import sentencepiece as spm

        self.processor = spm.SentencePieceProcessor(model_file=model_file)
        self.eos_id = self.processor.eos_id()
        self.vocab_size = self.processor.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return self.processor.encode(text, out_type=int)

    def decode(self, ids) -> str:
        sp, unk = self.processor, self.processor.unk_id()
        parts, run = [], []
        for i in map(int, ids):
            i = i if 0 <= i < self.vocab_size else unk
            if sp.is_control(i):
                parts.append(sp.decode(run) if run else "")
                run = []
            else:
                run.append(i)
        parts.append(sp.decode(run) if run else "")
        return "".join(parts)

    def piece(self, token_id: int) -> str:
        return self.processor.id_to_piece(token_id)


@register_model("palm_jax")
class PalmJaxLM(TemplateLM):
    """lm-eval's LM for a checkpoint of this project (see the module docstring).

    Args (lm-eval's --model_args as well): pretrained (MODEL_DIR or checkpoint folder),
    vocabulary (spm.model), gin_file (default: the run's config.gin), batch_size (rows per
    batch, rounded up to the mesh's data axis), max_length (default: the run's training
    sequence length, else 2048), max_gen_toks (256 as lm-eval's hf), dtype (computation dtype,
    float32 by default: the same numbers as transformers in float32).
    """

    def __init__(self, pretrained: str | None = None, vocabulary: str | None = None,
                 gin_file: str | list | None = None,
                 gin_bindings: list | None = None, batch_size: int | str = 16,
                 max_length: int | None = None, max_gen_toks: int = 256, dtype: str = "float32",
                 restored: restore.Restored | None = None, **unused):
        super().__init__()
        unused = {k: v for k, v in unused.items() if k not in ("device", "max_batch_size")}
        if unused:
            raise ValueError(f"palm_jax: unknown model_args {sorted(unused)}")
        if vocabulary is None or (pretrained is None and restored is None):
            raise ValueError("palm_jax needs model_args pretrained=CHECKPOINT,vocabulary=SPM")
        gin_files = [gin_file] if isinstance(gin_file, str) else gin_file
        loaded = restored or restore.restore(pretrained, gin_files, gin_bindings)
        self.tokenizer = SentencePieceText(vocabulary)
        if self.tokenizer.vocab_size > loaded.config.vocab_size:
            raise ValueError(f"--vocabulary {vocabulary!r} has {self.tokenizer.vocab_size} ids "
                             f"but the model's vocab_size is {loaded.config.vocab_size}")
        self.config = dataclasses.replace(loaded.config, dtype=dtype)
        self.params, self.step, self.checkpoint_path = loaded.params, loaded.step, loaded.path
        self.partitioner = loaded.trainer.partitioner
        self._param_shardings = loaded.trainer.state_shardings.params
        data = self.partitioner.mesh.shape["data"]
        rows = 16 if batch_size in ("auto", None) else int(str(batch_size).split(":")[0])
        self.rows = -(-max(rows, 1) // data) * data
        self._max_length = int(max_length) if max_length else training_length(loaded.path)
        self._max_gen_toks = int(max_gen_toks)
        self.compiled_shapes: set[tuple] = set()

    # --- what lm-eval asks of a TemplateLM ------------------------------------------------
    @property
    def eot_token_id(self) -> int:
        return self.tokenizer.eos_id

    @property
    def prefix_token_id(self) -> int:
        return self.tokenizer.eos_id  # no BOS: EOS starts a document, as for hf

    @property
    def max_length(self) -> int:
        return self._max_length

    @property
    def max_gen_toks(self) -> int:
        return self._max_gen_toks

    def tok_encode(self, string: str, add_special_tokens=None, **kwargs) -> list[int]:
        return self.tokenizer.encode(string)

    def tok_decode(self, tokens, skip_special_tokens: bool = True) -> str:
        return self.tokenizer.decode(tokens)

    # --- scoring ------------------------------------------------------------------------------
    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False,
                              override_bs=None) -> list[tuple[float, bool]]:
        """[(sum of continuation log-probabilities, continuation is greedy)] per
        (key, context ids, continuation ids), in the order given."""
        rows = []
        for _, context, continuation in requests:
            if not context or not continuation:
                raise ValueError("a loglikelihood request needs context and continuation tokens")
            whole = (list(context) + list(continuation))[-(self.max_length + 1):]
            rows.append((whole, min(len(continuation), len(whole) - 1)))
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i][0]))
        results: list = [None] * len(rows)
        for start in range(0, len(order), self.rows):
            chosen = order[start:start + self.rows]
            width = bucket_length(max(len(rows[i][0]) - 1 for i in chosen), self.max_length)
            tokens = np.zeros((self.rows, width), np.int32)
            targets = np.zeros((self.rows, width), np.int32)
            mask = np.zeros((self.rows, width), np.float32)
            for r, i in enumerate(chosen):
                whole, n_cont = rows[i]
                n = len(whole) - 1
                tokens[r, :n], targets[r, :n] = whole[:-1], whole[1:]
                mask[r, n - n_cont:n] = 1.0
            logprob, greedy = self._score(tokens, targets, mask)
            for r, i in enumerate(chosen):
                results[i] = (float(logprob[r]), bool(greedy[r]))
        for (key, _, _), result in zip(requests, results):
            if key is not None:
                self.cache_hook.add_partial("loglikelihood", key, result)
        return results

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        windows, owners = [], []
        for index, (string,) in enumerate(req.args for req in requests):
            for context, continuation in map(lm_utils.make_disjoint_window,
                                             lm_utils.get_rolling_token_windows(
                                                 token_list=self.tok_encode(string),
                                                 prefix_token=self.prefix_token_id,
                                                 max_seq_len=self.max_length, context_len=1)):
                windows.append((None, context, continuation))
                owners.append(index)
        scores = self._loglikelihood_tokens(windows)
        totals = [0.0] * len(requests)
        for index, (logprob, _) in zip(owners, scores):
            totals[index] += logprob
        for req, total in zip(requests, totals):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, total)
        return totals

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        eos_text = self.tokenizer.piece(self.eot_token_id)
        groups: dict[str, list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault(repr(sorted(req.args[1].items())), []).append(i)
        results: list = [None] * len(requests)
        for indices in groups.values():
            kwargs = normalize_gen_kwargs(requests[indices[0]].args[1], self.max_gen_toks)
            until = handle_stop_sequences(kwargs.pop("until", None), eos=eos_text)
            new_tokens = int(kwargs.pop("max_gen_toks"))
            temperature = float(kwargs.get("temperature", 0.0) or 0.0)
            if kwargs.get("do_sample") is False:
                temperature = 0.0
            if self.max_length - new_tokens <= 0:
                raise ValueError(f"max_gen_toks={new_tokens} must be below the model's "
                                 f"max_length={self.max_length}")
            contexts = {i: self.tok_encode(requests[i].args[0])[-(self.max_length - new_tokens):]
                        for i in indices}
            order = sorted(indices, key=lambda i: -len(contexts[i]))
            for start in range(0, len(order), self.rows):
                chosen = order[start:start + self.rows]
                texts = self._generate([contexts[i] for i in chosen], until, new_tokens,
                                       temperature, seed=start)
                for i, text in zip(chosen, texts):
                    results[i] = postprocess_generated_text(text, until, None)
                    self.cache_hook.add_partial("generate_until", requests[i].args, results[i])
        return results

    # --- the compiled programs ------------------------------------------------------------------
    def _run(self, fn, *args):
        with jax.set_mesh(self.partitioner.mesh), nn.logical_axis_rules(
                self.partitioner.logical_axis_rules):
            return fn(*args)

    def _global(self, array: np.ndarray) -> jax.Array:
        """A host batch (identical on every process) -> a global array sharded over `data`,
        each process contributing only its own rows."""
        shard, count = self.partitioner.data_layout
        per = array.shape[0] // count
        return self.partitioner.make_global_batch({"x": array[shard * per:(shard + 1) * per]})["x"]

    @functools.cached_property
    def _score_fn(self):
        config = self.config
        batch = self.partitioner.sharding(self.partitioner.batch_spec)
        replicated = self.partitioner.sharding(jax.sharding.PartitionSpec())

        def score(params, tokens, targets, mask):
            features = PalmModel(config).apply({"params": params}, tokens,
                                               return_features=True)
            matrix = output_matrix(params, config)
            chunk = min(128, tokens.shape[1])

            def one(args):  # a chunk of positions at a time: logits never exist whole
                feats, tgt = args
                logits = project(feats, matrix, config)
                logz = jax.nn.logsumexp(logits, axis=-1)
                picked = jnp.take_along_axis(logits, tgt[..., None], axis=-1)[..., 0]
                return picked - logz, jnp.argmax(logits, axis=-1) == tgt

            def split(x):  # [B, T, ...] -> [T / chunk, B, chunk, ...]
                return jnp.moveaxis(x.reshape(x.shape[0], -1, chunk, *x.shape[2:]), 1, 0)

            logp, hit = jax.lax.map(one, (split(features), split(targets)))
            logp = jnp.moveaxis(logp, 0, 1).reshape(tokens.shape)
            hit = jnp.moveaxis(hit, 0, 1).reshape(tokens.shape)
            return (jnp.sum(logp * mask, axis=1),
                    jnp.all(hit | (mask == 0), axis=1))

        return jax.jit(score, in_shardings=(self._param_shardings, batch, batch, batch),
                       out_shardings=(replicated, replicated))

    def _score(self, tokens, targets, mask):
        width = tokens.shape[1]
        if width % min(128, width):  # the chunked output layer needs whole chunks
            pad = -width % 128
            tokens, targets, mask = (np.pad(a, ((0, 0), (0, pad))) for a in
                                     (tokens, targets, mask))
        self.compiled_shapes.add(("score",) + tokens.shape)
        out = self._run(self._score_fn, self.params, *map(self._global, (tokens, targets, mask)))
        return jax.device_get(out)

    @functools.cached_property
    def _prefill_fn(self):
        config = self.config

        @functools.partial(jax.jit, static_argnums=(3,))
        def prefill(params, tokens, lengths, cache_len):
            cache = decoding.init_cache(config, tokens.shape[0], cache_len)
            return decoding.prefill(params, config, cache, tokens, lengths)

        return prefill

    @functools.cached_property
    def _steps_fn(self):
        config = self.config

        @functools.partial(jax.jit, static_argnums=(6, 7))
        def steps(params, cache, logits, positions, rng, step0, count, temperature):
            """`count` decoding steps from `logits` (of the token before `positions`): returns
            the new tokens [B, count], the cache, the last logits and positions."""
            def body(carry, i):
                cache, logits, positions = carry
                token = decoding.sample_logits(jax.random.fold_in(rng, step0 + i), logits,
                                               temperature=temperature)
                new_logits, cache = decoding.extend(params, config, cache, token[:, None],
                                                    positions[:, None])
                return (cache, new_logits[:, 0], positions + 1), token

            (cache, logits, positions), tokens = jax.lax.scan(
                body, (cache, logits, positions), jnp.arange(count))
            everywhere = jax.sharding.PartitionSpec()  # each process reads every row
            return jax.lax.with_sharding_constraint(tokens.T, everywhere), cache, logits, positions

        return steps

    def _generate(self, contexts: list[list[int]], until: list[str], new_tokens: int,
                  temperature: float, seed: int) -> list[str]:
        """Decodes up to `new_tokens` tokens for each context (a batch of at most self.rows);
        returns the decoded text of each row up to EOS (stop strings are cut by the caller)."""
        n = len(contexts)
        contexts = [c or [self.eot_token_id] for c in contexts]
        width = bucket_length(max(len(c) for c in contexts), self.max_length - new_tokens)
        tokens = np.zeros((self.rows, width), np.int32)
        lengths = np.ones(self.rows, np.int32)
        for r, c in enumerate(contexts):
            tokens[r, :len(c)], lengths[r] = c, len(c)
        cache_len = width + new_tokens
        self.compiled_shapes.add(("generate", self.rows, width, new_tokens))
        logits, cache = self._run(self._prefill_fn, self.params, self._global(tokens),
                                  self._global(lengths), cache_len)
        positions = self._global(lengths)
        rng = jax.random.PRNGKey(seed)
        generated = np.zeros((self.rows, 0), np.int32)
        done = np.zeros(self.rows, bool)
        done[n:] = True
        while generated.shape[1] < new_tokens and not done.all():
            count = min(GEN_CHUNK, new_tokens - generated.shape[1])
            out, cache, logits, positions = self._run(
                self._steps_fn, self.params, cache, logits, positions, rng,
                generated.shape[1], count, temperature)
            generated = np.concatenate([generated, np.asarray(jax.device_get(out))], axis=1)
            for r in np.flatnonzero(~done):
                row = generated[r]
                text = self.tokenizer.decode(row)
                if self.eot_token_id in row or any(s and s in text for s in until):
                    done[r] = True
        texts = []
        for r in range(n):
            row = list(generated[r, :new_tokens])
            if self.eot_token_id in row:
                row = row[:row.index(self.eot_token_id)]
            texts.append(self.tokenizer.decode(row))
        return texts


def training_length(checkpoint_dir: str) -> int:
    """The run's training sequence length (TASK_FEATURE_LENGTHS' targets, as bound in its
    config.gin when it was parsed), else lm-eval's default of 2048."""
    import gin

    try:
        lengths = gin.query_parameter("%TASK_FEATURE_LENGTHS")
    except (ValueError, KeyError):
        lengths = None
    if isinstance(lengths, dict) and lengths.get("targets"):
        return int(lengths["targets"])
    log.info("no TASK_FEATURE_LENGTHS in the run's gin config (%s); max_length %d",
             checkpoint_dir, DEFAULT_MAX_LENGTH)
    return DEFAULT_MAX_LENGTH
