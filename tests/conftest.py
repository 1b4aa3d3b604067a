"""Shared fixtures. Nothing here touches the network: data is made by the tests."""

import logging

# Beam's workers log every bundle at INFO; keep test output readable.
logging.getLogger("apache_beam").setLevel(logging.WARNING)
