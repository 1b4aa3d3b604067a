"""The PaLM network and what surrounds it: config, layers, loss, decoding, FLOP counts, axis rules.

No module here does I/O, reads files or parses flags; launch/ does.
"""

from model.config import PalmConfig
from model.network import PalmModel

__all__ = ["PalmConfig", "PalmModel"]
