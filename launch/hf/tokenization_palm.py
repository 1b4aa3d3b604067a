"""A transformers tokenizer that is SentencePiece itself: shipped inside every export (copied to
OUT/tokenization_palm.py, named in tokenizer_config.json's auto_map) and loaded with
`AutoTokenizer.from_pretrained(OUT, trust_remote_code=True)`. The project never imports it.

Why not a stock class: LlamaTokenizer, T5Tokenizer and the generic SentencePiece-to-fast
conversion disagree with SentencePiece on much varied text (ties in the Viterbi search, runs of
spaces, the escape of U+2581 this project's vocabulary applies, literal control-token strings in
the text). Here every encode is `SentencePieceProcessor.encode` and every decode of ordinary ids
is `SentencePieceProcessor.decode`, so ids and text are the ones the model was trained on.
Two deliberate additions: no special tokens are ever added (the model was trained without BOS,
with EOS only at document ends); and control ids (pad, EOS) decode to their piece text ("</s>")
unless `skip_special_tokens=True`, where SentencePiece would give "" (lm-evaluation-harness uses
decode(eos) as a stop string, which must not be empty). Ids past the SentencePiece vocabulary
(the model's embedding is padded to a multiple of 128) decode as the unknown piece, as seqio does.
"""

from __future__ import annotations

import os
import shutil
from typing import ClassVar

import sentencepiece
from transformers import PreTrainedTokenizer

VOCAB_FILE = "spm.model"


class PalmSentencePieceTokenizer(PreTrainedTokenizer):
    """SentencePiece's encode and decode behind transformers' tokenizer interface."""

    vocab_files_names: ClassVar[dict] = {"vocab_file": VOCAB_FILE}
    model_input_names: ClassVar[list] = ["input_ids", "attention_mask"]

    def __init__(self, vocab_file: str, eos_token: str = "</s>", pad_token: str = "<pad>",
                 unk_token: str = "<unk>", **kwargs):
        self.vocab_file = vocab_file
        self.sp_model = sentencepiece.SentencePieceProcessor(model_file=vocab_file)
        kwargs.setdefault("clean_up_tokenization_spaces", False)
        kwargs.pop("bos_token", None)
        super().__init__(eos_token=eos_token, pad_token=pad_token, unk_token=unk_token,
                         bos_token=None, **kwargs)

    @property
    def vocab_size(self) -> int:
        return self.sp_model.get_piece_size()

    def get_vocab(self) -> dict[str, int]:
        return {self.sp_model.id_to_piece(i): i for i in range(self.vocab_size)}

    def __len__(self) -> int:
        return self.vocab_size

    def tokenize(self, text: str, **kwargs) -> list[str]:
        """SentencePiece's pieces of `text`: control strings in the text are text, as there."""
        return self.sp_model.encode(text, out_type=str)

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return self.sp_model.encode(text, out_type=str)

    def _convert_token_to_id(self, token: str) -> int:
        return self.sp_model.piece_to_id(token)

    def _convert_token_to_id_with_added_voc(self, token: str) -> int:
        return self.sp_model.piece_to_id(token)

    def _convert_id_to_token(self, index: int) -> str:
        if not 0 <= index < self.vocab_size:
            index = self.sp_model.unk_id()
        return self.sp_model.id_to_piece(index)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return self._decode_ids([self.sp_model.piece_to_id(t) for t in tokens], False)

    def _decode(self, token_ids, skip_special_tokens: bool = False,
                clean_up_tokenization_spaces: bool | None = None, **kwargs) -> str:
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        return self._decode_ids([int(i) for i in token_ids], skip_special_tokens)

    def _decode_ids(self, ids: list[int], skip_special_tokens: bool) -> str:
        """SentencePiece's decode of each run of ordinary ids; control ids as their piece text
        (or dropped with `skip_special_tokens`)."""
        size, unk = self.vocab_size, self.sp_model.unk_id()
        parts, run = [], []
        for i in ids:
            i = i if 0 <= i < size else unk
            if self.sp_model.is_control(i):
                if run:
                    parts.append(self.sp_model.decode(run))
                    run = []
                if not skip_special_tokens:
                    parts.append(self.sp_model.id_to_piece(i))
            else:
                run.append(i)
        if run:
            parts.append(self.sp_model.decode(run))
        return "".join(parts)

    def build_inputs_with_special_tokens(self, token_ids_0: list[int],
                                         token_ids_1: list[int] | None = None) -> list[int]:
        return list(token_ids_0) + list(token_ids_1 or [])

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return 0

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None,
                                already_has_special_tokens: bool = False) -> list[int]:
        if already_has_special_tokens:
            return [int(self.sp_model.is_control(i)) for i in token_ids_0]
        return [0] * (len(token_ids_0) + len(token_ids_1 or []))

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None):
        name = (filename_prefix + "-" if filename_prefix else "") + VOCAB_FILE
        target = os.path.join(save_directory, name)
        if os.path.abspath(self.vocab_file) != os.path.abspath(target):
            shutil.copyfile(self.vocab_file, target)
        return (target,)
