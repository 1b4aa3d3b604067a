"""The tokenizer files of an export: the SentencePiece model, the exact tokenizer class
(tokenization_palm.py, loaded with trust_remote_code) and, for serving engines that read only
`tokenizer.json`, a fast tokenizer built from the SentencePiece model's own settings.

The fast tokenizer.json is written from the model proto as JSON (the `tokenizers` format), so an
export needs neither transformers nor tokenizers installed. It is not exact: tokenizers' Unigram
breaks Viterbi ties differently from SentencePiece, and it matches control-token strings ("</s>")
written literally in the text; benchmarks/export_exactness.py measures the disagreement and
docs/evaluation-and-export.md reports it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil

import sentencepiece
from sentencepiece import sentencepiece_model_pb2

from launch.hf.cohere import Unsupported

CLASS_FILE = "tokenization_palm.py"
CLASS_NAME = "PalmSentencePieceTokenizer"
VOCAB_FILE = "spm.model"
_TYPE = sentencepiece_model_pb2.ModelProto.SentencePiece.Type
_UNIGRAM = 1


def load_proto(path: str) -> sentencepiece_model_pb2.ModelProto:
    proto = sentencepiece_model_pb2.ModelProto()
    with open(path, "rb") as f:
        try:
            proto.ParseFromString(f.read())
        except Exception as e:  # protobuf's DecodeError and friends
            raise Unsupported(f"--vocabulary={path}: not a SentencePiece model ({e})") from e
    if not proto.pieces:
        raise Unsupported(f"--vocabulary={path}: not a SentencePiece model (no pieces)")
    return proto


def check_ids(path: str, eos_id: int, pad_id: int, vocab_size: int) -> None:
    """The vocabulary must fit the embedding and agree with the model on EOS and padding."""
    sp = sentencepiece.SentencePieceProcessor(model_file=path)
    if sp.get_piece_size() > vocab_size:
        raise Unsupported(f"--vocabulary={path} has {sp.get_piece_size()} pieces; the model's "
                          f"embedding has {vocab_size} rows")
    if sp.eos_id() != eos_id or sp.pad_id() != pad_id:
        raise Unsupported(f"--vocabulary={path}: eos_id {sp.eos_id()}, pad_id {sp.pad_id()}; the "
                          f"model's are {eos_id}, {pad_id} (PalmConfig.eos_id / pad_id)")


def _piece(proto, index: int) -> str:
    return proto.pieces[index].piece


def fast_tokenizer_json(proto: sentencepiece_model_pb2.ModelProto) -> dict:
    """tokenizer.json (the `tokenizers` library's format) for a unigram SentencePiece model."""
    if proto.trainer_spec.model_type != _UNIGRAM:
        raise Unsupported("only unigram SentencePiece models get a fast tokenizer.json")
    spec, norm = proto.trainer_spec, proto.normalizer_spec
    normal = [p.score for p in proto.pieces if p.type == _TYPE.NORMAL]
    # Pieces SentencePiece never produces from text by matching (control, unknown, byte) get a
    # score below every normal piece so that tokenizers' Viterbi does not pick them either.
    floor = (min(normal) if normal else 0.0) - 20.0
    vocab, added, user_defined = [], [], []
    for index, piece in enumerate(proto.pieces):
        if piece.type in (_TYPE.NORMAL, _TYPE.USER_DEFINED):
            vocab.append([piece.piece, piece.score])
        else:
            vocab.append([piece.piece, floor])
        if piece.type in (_TYPE.CONTROL, _TYPE.UNKNOWN):
            added.append({"id": index, "content": piece.piece, "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": False, "special": True})
        if piece.type == _TYPE.USER_DEFINED:
            user_defined.append(piece.piece)
    normalizers = []
    if norm.precompiled_charsmap:
        normalizers.append({"type": "Precompiled", "precompiled_charsmap":
                            base64.b64encode(norm.precompiled_charsmap).decode()})
    if norm.remove_extra_whitespaces:
        normalizers += [{"type": "Replace", "pattern": {"Regex": r"\A +| +\z"}, "content": ""},
                        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]
    if norm.escape_whitespaces:
        normalizers.append({"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"})
    if norm.add_dummy_prefix:
        normalizers.append({"type": "Prepend", "prepend": "\u2581"})
    pre_tokenizers = []
    if user_defined:  # SentencePiece emits user-defined pieces whole
        pattern = "|".join(re.escape(p) for p in sorted(user_defined, key=len, reverse=True))
        pre_tokenizers.append({"type": "Split", "pattern": {"Regex": pattern},
                               "behavior": "Isolated", "invert": False})
    if spec.split_by_whitespace:
        # SentencePiece's words: a run of U+2581 and the text up to the next one (whitespace-only
        # pieces are allowed, so a run of spaces stays with the word that follows it).
        pre_tokenizers.append({"type": "Split", "pattern": {"Regex": "\u2581+[^\u2581]*"},
                               "behavior": "Isolated", "invert": False})
    decoders = [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}]
    if spec.byte_fallback:
        decoders.append({"type": "ByteFallback"})
    decoders.append({"type": "Fuse"})
    if norm.add_dummy_prefix:
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": ({"type": "Sequence", "pretokenizers": pre_tokenizers}
                          if pre_tokenizers else None),
        "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {"type": "Unigram", "unk_id": spec.unk_id, "vocab": vocab,
                  "byte_fallback": bool(spec.byte_fallback)},
    }


def write(output_dir: str, vocabulary: str, model_max_length: int) -> list[str]:
    """Writes every tokenizer file into `output_dir`; returns their names."""
    proto = load_proto(vocabulary)
    shutil.copyfile(vocabulary, os.path.join(output_dir, VOCAB_FILE))
    shutil.copyfile(os.path.join(os.path.dirname(__file__), CLASS_FILE),
                    os.path.join(output_dir, CLASS_FILE))
    spec = proto.trainer_spec
    special = {"eos_token": spec.eos_piece, "pad_token": spec.pad_piece,
               "unk_token": spec.unk_piece}
    config = {
        "tokenizer_class": CLASS_NAME,
        "auto_map": {"AutoTokenizer": [f"{CLASS_FILE[:-3]}.{CLASS_NAME}", None]},
        **special,
        "bos_token": None,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
        "padding_side": "right",
    }
    files = {"tokenizer_config.json": config, "special_tokens_map.json": special,
             "tokenizer.json": fast_tokenizer_json(proto)}
    for name, content in files.items():
        with open(os.path.join(output_dir, name), "w", encoding="utf-8") as f:
            json.dump(content, f, ensure_ascii=False,
                      indent=None if name == "tokenizer.json" else 1)
    return [VOCAB_FILE, CLASS_FILE, *files]
