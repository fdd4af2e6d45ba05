"""The only place that creates onnxruntime sessions (providers, threads, logging)."""

from __future__ import annotations

from pathlib import Path

from matcher.errors import ModelError


def make_session(model: Path | bytes, threads: int):
    """A CPU inference session with a bounded thread count and telemetry off."""
    import onnxruntime as ort

    ort.disable_telemetry_events()
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    source = str(model) if isinstance(model, Path) else model
    try:
        return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        where = model if isinstance(model, Path) else "in-memory model"
        raise ModelError(f"onnxruntime could not load {where}: {exc}") from exc
