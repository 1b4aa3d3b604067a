"""Hugging Face interchange: this model as transformers' CohereForCausalLM, and back
(launch/export_hf.py, launch/import_hf.py are the commands)."""
