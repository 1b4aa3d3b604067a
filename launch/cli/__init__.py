"""Command-line plumbing shared by the entry points: t5x's flags, gin error messages,
multi-host start-up, and the one command line that eval and infer share."""
