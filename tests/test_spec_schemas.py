"""The published JSON schemas of the two specs (docs/schemas/) are the ones the validation
models generate; regenerate them after changing a model with

    PYTHONPATH=. python tests/test_spec_schemas.py
"""

import json
import os

import pytest

from pipeline import mixture_spec, registry
from pipeline import spec as sources_spec

SCHEMA_DIR = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "schemas")


def schemas() -> dict[str, dict]:
    return {"sources_spec.schema.json": sources_spec.json_schema(),
            "mixture_spec.schema.json": mixture_spec.MixtureSpecModel.model_json_schema()}


def _text(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("name", sorted(schemas()))
def test_committed_schema_is_the_generated_one(name):
    with open(os.path.join(SCHEMA_DIR, name), encoding="utf-8") as f:
        committed = f.read()
    assert committed == _text(schemas()[name]), (
        f"docs/schemas/{name} is out of date: run `PYTHONPATH=. python {__file__}`")


def test_schema_describes_every_registered_step_and_stage():
    schema = sources_spec.json_schema()
    assert set(schema["$defs"]["Steps"]["properties"]) == set(registry.STEPS)
    assert set(registry.CORPUS_STAGES) <= set(schema["properties"])
    assert "steps" in schema["properties"]
    assert schema["required"] == ["sources"]


if __name__ == "__main__":
    os.makedirs(SCHEMA_DIR, exist_ok=True)
    for file_name, schema in schemas().items():
        with open(os.path.join(SCHEMA_DIR, file_name), "w", encoding="utf-8") as f:
            f.write(_text(schema))
        print(f"wrote docs/schemas/{file_name}")
