"""Run a benchmark contender in its own virtualenv, for packages that conflict with ours.

Some official integrations cannot share an environment with the others: today
``llama-index-vector-stores-redis`` 0.9 needs ``redisvl < 0.5`` while ``langchain-redis``
and ``langgraph-checkpoint-redis`` need ``redisvl >= 0.12``, and ``langchain-milvus >= 0.4``
needs ``pymilvus >= 3`` while ``llama-index-vector-stores-milvus`` needs ``< 3``. An
:class:`Env` names a set of requirements; :func:`call` creates it on demand under
``.cache/bench-envs/<name>`` (reinstalled when its requirements change), then runs
``module:function`` of a script in ``benchmarks/`` in a subprocess of that environment's
Python, with JSON keyword arguments, and returns what the function returned (JSON).
Data too large for arguments goes through a file (see ``compare.Data.save``).

    from isolated import Env, call
    ENV = Env("llama-redis", ("llama-index-vector-stores-redis>=0.9,<0.10",))
    result = call(ENV, "compare:llama_redis_official", path=str(data_file), url=url)

The child imports the benchmark module by name from ``benchmarks/`` (the repository root
is on its path too), so the function must import only what its environment has.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import os
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ENVS = ROOT / ".cache" / "bench-envs"
MARK = "#bench-result# "


@dataclass(frozen=True)
class Env:
    """A named virtualenv holding ``requirements`` (pip requirement strings)."""

    name: str
    requirements: tuple[str, ...]

    @property
    def path(self) -> Path:
        return ENVS / self.name

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def ensure(env: Env, *, quiet: bool = False) -> Path:
    """Create or update ``env`` if needed; return its Python."""
    stamp = env.path / "bench-requirements.txt"
    wanted = "\n".join(env.requirements) + "\n"
    ENVS.mkdir(parents=True, exist_ok=True)
    with open(ENVS / f"{env.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two benchmarks building one env wait for each other
        if env.python.exists() and stamp.exists() and stamp.read_text() == wanted:
            return env.python
        if not quiet:
            print(
                f"[isolated] creating {env.path} with {' '.join(env.requirements)}",
                file=sys.stderr,
                flush=True,
            )
        stamp.unlink(missing_ok=True)
        venv.EnvBuilder(clear=True, with_pip=True).create(env.path)
        subprocess.run(
            [str(env.python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             *env.requirements],
            check=True,
        )  # fmt: skip
        stamp.write_text(wanted)  # last: an interrupted install is redone next time
    return env.python


def call(env: Env, target: str, /, **kwargs: Any) -> Any:
    """Run ``module:function(**kwargs)`` in ``env``; return its JSON result."""
    python = ensure(env)
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT)])
    child_env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run(
        [str(python), str(Path(__file__)), target, json.dumps(kwargs)],
        check=False, capture_output=True, text=True, env=child_env, cwd=str(ROOT),
    )  # fmt: skip
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-15:])
    raise RuntimeError(f"{target} in {env.name} exited {proc.returncode}:\n{tail}")


def _child(target: str, arguments: str) -> None:
    module, _, function = target.partition(":")
    func = getattr(importlib.import_module(module), function)
    result = func(**json.loads(arguments))
    with contextlib.redirect_stdout(sys.__stdout__):
        print(MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
