"""Run the implementation under test in a worker process, every call under a time limit.

Some real libraries loop forever on an empty cluster, and a Python thread cannot be
stopped, so the implementation lives in a child process: a call that overruns its limit
kills the child, which is started again for the next call. The child is *spawned*, not
forked, because forking a process that has started torch's or OpenMP's thread pools can
deadlock; it imports the target by its spec.

Around every call the worker also

* keeps a copy of each array argument and reports an implementation that modifies one in
  place (a defect: the caller's data changed);
* gives a tensor adapter (``tensors = True``) torch tensors of its dtype on its ``device``,
  and requires tensors of that dtype and device back;
* tells a *refusal* from a crash: an exception of a class that means "this input is not
  supported" (``ValueError``, ``TypeError``, ``NotImplementedError`` and their subclasses,
  e.g. scikit-learn's ``InvalidParameterError``) whose message does not speak of NaN,
  infinity, overflow or division by zero (those mean the computation broke down on valid
  input) is a refusal; anything else is a failure.
"""

import importlib
import importlib.util
import inspect
import multiprocessing
import os
import re
import sys
import traceback
import warnings

import numpy as np

from ..backends import dtype_name, is_tensor, to_numpy
from .checks import DEFAULT_KINDS, PROTOCOL

__all__ = [
    "Sandbox", "InProcess", "CallFailed", "CallRefused", "CallTimedOut", "LoadError",
    "describe", "load_target", "is_refusal",
]

BUILT_IN_MODULE = "kmeans_rbf.oracle.adapters"
_REFUSAL_CLASSES = (ValueError, TypeError, NotImplementedError)
# What a message says when a computation broke down on valid input (NaN or inf produced,
# then caught by the library's own validation; a covariance gone "ill-defined" or
# "singular" on data that are not): not a refusal. A bare "inf" is not in it: "must be in
# the range [1, inf)" is a refusal.
_BREAKDOWN = re.compile(
    r"\bnan\b|infinity|non-?finite|overflow|underflow|divi(de|sion) by zero|invalid value|ill-defined|singular",
    re.IGNORECASE,
)


class CallFailed(Exception):
    """The implementation raised (not a refusal), crashed or broke the protocol."""

    def __init__(self, summary, details=""):
        super().__init__(summary)
        self.summary, self.details = summary, details


class CallRefused(Exception):
    """The implementation refused the input with a clear exception (see the module doc)."""

    def __init__(self, summary):
        super().__init__(summary)
        self.summary = summary


class CallTimedOut(Exception):
    """The implementation did not return within the time limit."""


class LoadError(Exception):
    """The target cannot be loaded: a usage error, not a verdict on an implementation."""


def is_refusal(error):
    """Whether an exception says "this input is not supported" (module doc)."""
    return isinstance(error, _REFUSAL_CLASSES) and not _BREAKDOWN.search(str(error))


def _summary(error):
    return f"{type(error).__name__}: {error}"


def load_target(spec):
    """The object named by ``module:attribute``, ``path/to/file.py:attribute`` or a built-in
    adapter's name. A class is instantiated without arguments."""
    if ":" not in spec:
        from .adapters import BUILT_IN

        if spec not in BUILT_IN:
            raise LoadError(f"{spec!r} is not a built-in adapter ({', '.join(BUILT_IN)}) nor module:attribute")
        spec = f"{BUILT_IN_MODULE}:{spec}"
    module_name, _, attribute = spec.rpartition(":")
    if "" not in sys.path:
        sys.path.insert(0, "")  # the current directory, as `python -m` would have it
    if module_name.endswith(".py"):
        if not os.path.isfile(module_name):
            raise LoadError(f"no such file: {module_name}")
        name = f"kmeans_rbf_target_{abs(hash(os.path.abspath(module_name)))}"
        module_spec = importlib.util.spec_from_file_location(name, module_name)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    target = module
    for part in attribute.split(".") if attribute else []:
        if not hasattr(target, part):
            raise LoadError(f"{module_name} has no attribute {part!r}")
        target = getattr(target, part)
    return target() if isinstance(target, type) else target


def _axis_keyword(function):
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return None
    return next((name for name in ("axis", "dim") if name in parameters), None)


def describe(target, spec):
    """What the oracle needs to know of a target: capabilities, dtype, kinds, name, ..."""
    capabilities = [name for name in PROTOCOL if callable(getattr(target, name, None))]
    kinds = getattr(target, "kinds", DEFAULT_KINDS)
    return {
        "capabilities": capabilities,
        "dtype": dtype_name(getattr(target, "dtype", np.float64)),
        "kinds": {k: list(v) for k, v in kinds.items()} if isinstance(kinds, dict) else list(kinds),
        "name": str(getattr(target, "name", spec)),
        "axis_keywords": {
            name: keyword
            for name in ("entmax15", "sparsemax")
            if name in capabilities and (keyword := _axis_keyword(getattr(target, name)))
        },
        "tensors": bool(getattr(target, "tensors", False)),
        "device": str(getattr(target, "device", "cpu")),
    }


class _Caller:
    """Calls the target: converts for tensor adapters, checks mutation, classifies errors."""

    def __init__(self, target, info):
        self.target, self.info = target, info

    def _tensor(self, value):
        if not self.info["tensors"] or not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            return value
        import torch

        return torch.tensor(value, dtype=getattr(torch, self.info["dtype"]), device=self.info["device"])

    def _returned(self, name, value):
        if isinstance(value, tuple):
            return tuple(self._returned(name, v) for v in value)
        if self.info["tensors"] and is_tensor(value):
            import torch

            if value.device != torch.device(self.info["device"]):
                raise CallFailed(f"{name} returned a tensor on {value.device} for inputs on {self.info['device']}")
            if value.is_floating_point() and dtype_name(value.dtype) != self.info["dtype"]:
                raise CallFailed(f"{name} returned {dtype_name(value.dtype)} for {self.info['dtype']} inputs")
        return to_numpy(value)

    def __call__(self, name, args, kwargs):
        originals = [np.array(a, copy=True) if isinstance(a, np.ndarray) else None for a in args]
        sent = [self._tensor(a) for a in args]
        try:
            # Warnings are not defects, and whether they raise would otherwise depend on
            # the caller's PYTHONWARNINGS: the worker always lets them pass silently.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = getattr(self.target, name)(*sent, **kwargs)
        except Exception as error:  # noqa: BLE001 - any exception is the implementation's
            if is_refusal(error):
                raise CallRefused(_summary(error)) from None
            raise CallFailed(_summary(error), traceback.format_exc()) from None
        for position, (original, value) in enumerate(zip(originals, sent)):
            if original is not None and not np.array_equal(original, to_numpy(value), equal_nan=True):
                raise CallFailed(f"{name} modified its argument {position} in place")
        return self._returned(name, result)


def _serve(spec, connection, path):
    sys.path[:] = path
    try:
        target = load_target(spec)
        info = describe(target, spec)
    except BaseException as error:  # noqa: BLE001 - reported to the parent, not raised here
        message = str(error) if isinstance(error, LoadError) else _summary(error)
        connection.send(("load-error", message, traceback.format_exc()))
        return
    connection.send(("ready", info, None))
    caller = _Caller(target, info)
    while True:
        try:
            name, args, kwargs = connection.recv()
        except EOFError:
            return
        try:
            connection.send(("ok", caller(name, args, kwargs), None))
        except CallRefused as refusal:
            connection.send(("refused", refusal.summary, None))
        except CallFailed as failure:
            connection.send(("error", failure.summary, failure.details))
        except BaseException as error:  # noqa: BLE001 - e.g. a result that cannot be pickled
            connection.send(("error", _summary(error), traceback.format_exc()))


class InProcess:
    """The ``Sandbox`` interface without the process: fast, but no time limit and no
    protection from crashes. For implementations known not to hang (the oracle's own tests)."""

    def __init__(self, target, spec="in-process"):
        self.target, self.info = target, describe(target, spec)
        self._caller = _Caller(target, self.info)

    def call(self, name, *args, **kwargs):
        return self._caller(name, args, kwargs)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Sandbox:
    """A child process serving calls to the target ``spec`` with a per-call time limit."""

    def __init__(self, spec, timeout=10.0):
        self.spec, self.timeout = spec, timeout
        self._context = multiprocessing.get_context("spawn")
        self._process = None
        self._start()

    def _start(self):
        parent, child = self._context.Pipe()
        self._process = self._context.Process(target=_serve, args=(self.spec, child, list(sys.path)), daemon=True)
        self._process.start()
        self._connection = parent
        # Wait for the worker to load the target, but not for a worker that has died.
        for _ in range(120):
            if parent.poll(1) or not self._process.is_alive():
                break
        if not parent.poll(0):
            self.close()
            raise LoadError(f"cannot load {self.spec}: the worker died or took over 120 s")
        status, message, details = parent.recv()
        if status == "load-error":
            self.close()
            raise LoadError(f"cannot load {self.spec}: {message}")
        self.info = message

    def call(self, name, *args, **kwargs):
        """``target.name(*args, **kwargs)`` as NumPy; CallRefused, CallFailed or CallTimedOut."""
        if self._process is None:
            self._start()
        self._connection.send((name, args, kwargs))
        if not self._connection.poll(self.timeout):
            self.close()
            raise CallTimedOut(f"{name} did not return within {self.timeout:g} s")
        try:
            status, value, details = self._connection.recv()
        except EOFError:
            self.close()
            raise CallFailed(f"{name} crashed the process (exit code {self._exitcode()})") from None
        if status == "refused":
            raise CallRefused(value)
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
