"""A stand-in for the ``ray`` module: tasks run in threads of this process, no server started.

Ray cannot be kept on the loopback address (its GCS and workers listen on every interface),
so the Ray executor's own logic (resources per run, waiting, stopping, an unreachable address)
is tested against this; the real-Ray test is skipped with that reason.
"""

from __future__ import annotations

import threading
import types


class Ref:
    def __init__(self, fn, args) -> None:
        self.value, self.error = None, None
        self.thread = threading.Thread(target=self._run, args=(fn, args), daemon=True)
        self.thread.start()

    def _run(self, fn, args) -> None:
        try:
            self.value = fn(*args)
        except Exception as exc:
            self.error = exc

    def hex(self) -> str:
        return f"{id(self):016x}"


def make(hang: bool = False, refuse: str | None = None) -> types.ModuleType:
    """A fresh fake ``ray``; ``hang``: init never returns; ``refuse``: init raises this."""
    ray = types.ModuleType("ray")
    ray.calls = {"init": [], "remote": []}
    state = {"up": False}

    def init(**kwargs):
        ray.calls["init"].append(kwargs)
        if hang:
            threading.Event().wait()
        if refuse:
            raise ConnectionError(refuse)
        state["up"] = True

    def remote(**opts):
        ray.calls["remote"].append(opts)
        return lambda fn: types.SimpleNamespace(remote=lambda *args: Ref(fn, args))

    def wait(refs, timeout=None):
        ready = [r for r in refs if not r.thread.is_alive()]
        return ready, [r for r in refs if r not in ready]

    def get(ref):
        ref.thread.join()
        if ref.error:
            raise ref.error
        return ref.value

    ray.init, ray.remote, ray.wait, ray.get = init, remote, wait, get
    ray.is_initialized = lambda: state["up"]
    ray.shutdown = lambda: state.update(up=False)
    return ray
