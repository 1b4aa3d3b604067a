"""The prep job's outputs are the same bytes on Beam's DirectRunner and on its PortableRunner
(the embedded job service, LOOPBACK workers: the portable path Flink/Spark/Dataflow use, run
in-process, offline)."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import yaml

from pipeline import prep

PROSE = (
    "The old lighthouse stood at the edge of the cliff, watching over the harbor with patient "
    "attention. Every evening the keeper climbed the narrow stairs to light the lamp, and every "
    "morning he wrote a short note in his logbook about the weather and the ships that passed. "
    "Visitors often asked him whether he felt lonely, but he always said that the sea was "
    "company enough for a man who liked quiet work and the sound of the waves at night.")


def _digests(out):
    found = {}
    for root, _, files in os.walk(out):
        for name in files:
            if name.startswith(("manifest.json", "report.")):
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, out)] = hashlib.sha256(f.read()).hexdigest()
    return found


@pytest.mark.slow  # two Beam runs; about a minute on a loaded 2-core machine
def test_direct_and_portable_runners_write_the_same_bytes(tmp_path):
    docs = [{"text": f"{PROSE} Entry {i}: the keeper wrote it down, call +44 20 7946 0958."}
            for i in range(12)]
    docs += [{"text": f"Menu item {i}: home, about and contact."} for i in range(4)]
    docs += [docs[0]]  # an exact duplicate for dedup
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    spec = {"sources": [{"name": "web", "role": "webpages", "format": "jsonl",
                         "paths": ["in.jsonl"], "languages": ["en"]}],
            "dedup": {"near": False}}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    base = ["--sources", str(tmp_path / "spec.yaml")]
    direct = prep.run(base + ["--output_dir", str(tmp_path / "direct"),
                              "--direct_running_mode=in_memory", "--direct_num_workers=1"])
    portable = prep.run(base + ["--output_dir", str(tmp_path / "portable"),
                                "--runner=PortableRunner", "--job_endpoint=embed",
                                "--environment_type=LOOPBACK"])
    assert _digests(tmp_path / "direct") == _digests(tmp_path / "portable")
    assert direct["sources"]["web"]["dropped"] == portable["sources"]["web"]["dropped"]
    assert sum(direct["sources"]["web"]["documents_out"].values()) > 0
    manifest = json.loads((tmp_path / "portable" / "web" / "manifest.json").read_text())
    assert manifest["runner"] == "PortableRunner"
