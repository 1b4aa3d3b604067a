"""Beam pipeline options for every Beam job of the project (prep, tokenizer sample, seqio cache).

Options come from the command line exactly as Beam reads them, so the same job runs on
Dataflow, Flink or Spark by flags alone; without a --runner the job runs locally on the
DirectRunner in multi-processing mode, one worker per core.
"""

from __future__ import annotations

import os
from typing import Sequence

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import console


def pipeline_options(beam_args: Sequence[str]) -> PipelineOptions:
    """Beam options from the command line; local multi-processing unless a runner is named."""
    args = list(beam_args)
    if not any(a.startswith("--runner") for a in args):
        args.append("--runner=DirectRunner")
        if not any(a.startswith("--direct_running_mode") for a in args):
            args.append("--direct_running_mode=multi_processing")
        if not any(a.startswith("--direct_num_workers") for a in args):
            args.append(f"--direct_num_workers={os.cpu_count() or 1}")
        # Local workers repeat start-up chatter (unparsed options, missing GCP clients) at
        # WARNING for every process; errors still come through.
        if not any(a.startswith("--default_sdk_harness_log_level") for a in args):
            args.append("--default_sdk_harness_log_level=ERROR")
        console.quiet_beam_workers()
    return PipelineOptions(args)
