"""Run the implementation under test in a worker process, every call under a time limit.

Some real libraries loop forever on an empty cluster, and a Python thread cannot be
stopped, so the implementation lives in a child process: a call that overruns its limit
kills the child, which is started again for the next call. The child is *spawned*, not
forked, because forking a process that has started torch's or OpenMP's thread pools can
deadlock; it imports the target by its ``module:attribute`` spec.
"""

import importlib
import multiprocessing
import sys
import traceback
import warnings

import numpy as np

from ..backends import to_numpy
from ..kinds import KINDS

__all__ = ["PROTOCOL", "Sandbox", "InProcess", "CallFailed", "CallTimedOut", "describe", "load_target"]

BUILT_IN_MODULE = "kmeans_rbf.oracle.adapters"
PROTOCOL = ("assign", "lloyd_step", "kmeans", "responsibilities", "entmax15", "objective", "gradient")


class CallFailed(Exception):
    """The implementation raised; ``summary`` is its exception type and message."""

    def __init__(self, summary, details):
        super().__init__(summary)
        self.summary, self.details = summary, details


class CallTimedOut(Exception):
    """The implementation did not return within the time limit."""


def load_target(spec):
    """The object named by ``module:attribute`` (or a built-in adapter's name).

    A class is instantiated without arguments, so that its methods can be called.
    """
    if ":" not in spec:
        spec = f"{BUILT_IN_MODULE}:{spec}"
    module_name, _, attribute = spec.partition(":")
    if "" not in sys.path:
        sys.path.insert(0, "")  # the current directory, as `python -m` would have it
    module = importlib.import_module(module_name)
    target = module
    for part in attribute.split(".") if attribute else []:
        target = getattr(target, part)
    return target() if isinstance(target, type) else target


def describe(target, spec):
    """What the oracle needs to know of a target: capabilities, dtype and name."""
    return {
        "capabilities": [name for name in PROTOCOL if callable(getattr(target, name, None))],
        "dtype": np.dtype(getattr(target, "dtype", np.float64)).name,
        "kinds": getattr(target, "kinds", KINDS),
        "name": str(getattr(target, "name", spec)),
    }


def _serve(spec, connection, path):
    sys.path[:] = path
    try:
        target = load_target(spec)
    except BaseException as error:  # noqa: BLE001 - reported to the parent, not raised here
        connection.send(("load-error", f"{type(error).__name__}: {error}", traceback.format_exc()))
        return
    connection.send(("ready", describe(target, spec), None))
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        name, args = request
        try:
            # Warnings are not defects, and whether they raise would otherwise depend on
            # the caller's PYTHONWARNINGS: the worker always lets them pass silently.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = to_numpy(getattr(target, name)(*args))
            connection.send(("ok", result, None))
        except BaseException as error:  # noqa: BLE001 - any exception is the implementation's
            connection.send(("error", f"{type(error).__name__}: {error}", traceback.format_exc()))


class InProcess:
    """The ``Sandbox`` interface without the process: fast, but no time limit and no
    protection from crashes. For implementations known not to hang (the oracle's own tests)."""

    def __init__(self, target, spec="in-process"):
        self.target, self.info = target, describe(target, spec)

    def call(self, name, *args):
        try:
            return to_numpy(getattr(self.target, name)(*args))
        except Exception as error:  # noqa: BLE001 - any exception is the implementation's
            raise CallFailed(f"{type(error).__name__}: {error}", traceback.format_exc()) from None

    def close(self):
        pass


class Sandbox:
    """A child process serving calls to the target ``spec`` with a per-call time limit."""

    def __init__(self, spec, timeout=10.0):
        self.spec, self.timeout = spec, timeout
        self._context = multiprocessing.get_context("spawn")
        self._process = None
        self._start()

    def _start(self):
        parent, child = self._context.Pipe()
        self._process = self._context.Process(
            target=_serve, args=(self.spec, child, list(sys.path)), daemon=True
        )
        self._process.start()
        self._connection = parent
        # Wait for the worker to load the target, but not for a worker that has died.
        for _ in range(120):
            if parent.poll(1) or not self._process.is_alive():
                break
        if not parent.poll(0):
            self.close()
            raise CallFailed(f"cannot load {self.spec}: the worker died or took over 120 s", "")
        status, message, details = parent.recv()
        if status == "load-error":
            self.close()
            raise CallFailed(f"cannot load {self.spec}: {message}", details)
        self.info = message

    def call(self, name, *args):
        """``target.name(*args)`` as a NumPy array; CallFailed or CallTimedOut otherwise."""
        if self._process is None:
            self._start()
        self._connection.send((name, args))
        if not self._connection.poll(self.timeout):
            self.close()
            raise CallTimedOut(f"{name} did not return within {self.timeout:g} s")
        try:
            status, value, details = self._connection.recv()
        except EOFError:
            self.close()
            raise CallFailed(f"{name} crashed the process (exit code {self._exitcode()})", "") from None
        if status == "error":
            raise CallFailed(value, details)
        return value

    def _exitcode(self):
        if self._process is not None:
            self._process.join(1)
            return self._process.exitcode
        return None

    def close(self):
        if self._process is not None:
            self._process.kill()
            self._process.join(5)
            self._process = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
