"""The one boundary between NumPy and torch: convert results, round inputs, call a backend.

The oracle, the tests and anyone comparing the two implementations need the same three
things: a result as a NumPy array whatever produced it (``to_numpy``), an input as another
dtype would see it (``rounded``), and a backend module called with NumPy inputs and
returning NumPy outputs (``NumpyCalls``), so that one check, written once in NumPy terms,
runs against every implementation.

torch is imported only when a tensor or a torch dtype is met: the NumPy reference and the
oracle run without it.

Examples
--------
>>> import numpy as np
>>> from kmeans_rbf import reference
>>> calls = NumpyCalls(reference)
>>> calls.assign(np.array([[0.0], [1.9]]), np.array([[0.0], [2.0]]))
array([0, 1])
>>> rounded(np.array([0.1]), "float16")   # what a float16 implementation sees
array([0.09997559])
"""

import numpy as np

__all__ = ["is_tensor", "to_numpy", "dtype_name", "rounded", "NumpyCalls"]

_HALF = ("float16", "bfloat16")


def is_tensor(value):
    """Whether ``value`` is a torch tensor (without importing torch)."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def to_numpy(value):
    """``value`` as NumPy: tensors (any device, half precisions via float32) and tuples of them.

    Tensors are detached and moved to the CPU; float16 and bfloat16 (which NumPy lacks, or
    holds only as float16) become float32, exactly. Anything else goes through
    ``numpy.asarray``.
    """
    if isinstance(value, tuple):
        return tuple(to_numpy(v) for v in value)
    if is_tensor(value):
        value = value.detach().cpu()
        if dtype_name(value.dtype) in _HALF:
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def dtype_name(dtype):
    """``'float32'`` for ``np.float32``, ``torch.float32``, ``'float32'`` or ``np.dtype('f4')``."""
    text = str(dtype)
    if text.startswith("torch."):
        return text[len("torch."):]
    if text == "bfloat16":  # NumPy has no bfloat16
        return text
    return np.dtype(dtype).name


def _torch_dtype(dtype):
    import torch

    return dtype if isinstance(dtype, torch.dtype) else getattr(torch, dtype_name(dtype))


def rounded(a, dtype):
    """The float64 values of ``a`` after rounding to ``dtype`` (NumPy or torch, half included).

    An implementation computing in ``dtype`` sees these values; comparing it with the float64
    reference *on them* never blames it for the rounding of its input.
    """
    a = np.asarray(a, dtype=np.float64)
    name = dtype_name(dtype)
    if name == "bfloat16":  # NumPy has no bfloat16
        import torch

        return torch.tensor(a, dtype=torch.bfloat16).double().numpy()
    with np.errstate(over="ignore"):  # overflow to inf is what the dtype does
        return a.astype(name).astype(np.float64)


class NumpyCalls:
    """A backend module called with NumPy arrays, returning NumPy arrays.

    ``NumpyCalls(module)`` passes arguments through (for the NumPy reference);
    ``NumpyCalls(module, dtype, device)`` turns every floating NumPy argument into a tensor
    of that torch dtype on that device, and checks that every floating tensor result keeps
    the dtype and device (the torch implementation's contract). Results come back as NumPy:
    floating ones in float64, 0-d ones as Python numbers, tuples element by element.

    ``functions`` may be any object with the module's functions as attributes (a module, a
    ``types.SimpleNamespace`` of several modules, a deliberately broken variant).
    """

    def __init__(self, functions, dtype=None, device="cpu", name=None):
        self.functions, self.dtype, self.device = functions, dtype, device
        self.name = name or getattr(functions, "name", None) or getattr(functions, "__name__", repr(functions))

    def tensor(self, value):
        """A floating NumPy array as a tensor of this backend; anything else as it is."""
        if self.dtype is None or not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            return value
        import torch

        return torch.tensor(value, dtype=_torch_dtype(self.dtype), device=self.device)

    def __getattr__(self, function_name):
        if function_name.startswith("__"):
            raise AttributeError(function_name)
        function = getattr(self.functions, function_name)

        def call(*args, **kwargs):
            args = [self.tensor(a) for a in args]
            kwargs = {k: self.tensor(v) for k, v in kwargs.items()}
            return self._numpy(function(*args, **kwargs), function_name)

        return call

    def _numpy(self, result, function_name):
        if isinstance(result, tuple):
            return tuple(self._numpy(r, function_name) for r in result)
        if is_tensor(result):
            import torch

            assert result.device.type == torch.device(self.device).type, (
                f"{function_name} returned a tensor on {result.device}; its inputs were on {self.device}"
            )
            if result.is_floating_point() and self.dtype is not None:
                assert result.dtype == _torch_dtype(self.dtype), (
                    f"{function_name} returned {result.dtype} for {dtype_name(self.dtype)} inputs"
                )
        array = to_numpy(result)
        if array.dtype.kind == "f":
            array = array.astype(np.float64)
        return array if array.ndim else array.item()

    def __repr__(self):
        return self.name
