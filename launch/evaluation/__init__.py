"""Evaluation: teacher-forced losses per task, decoding evaluation with seqio's Evaluator, the
greedy decoder it calls, both run every eval_period while training (during_training), and t5x's
eval/infer defaults adapted to mixtures."""
