"""A strict stand-in for CuPy, for tests on machines without a GPU.

``namespace`` behaves like the ``cupy`` module where CuPy bugs hide:

* its arrays (:class:`DeviceArray`) refuse implicit conversion to NumPy:
  ``np.asarray(a)`` raises ``TypeError``, as CuPy does;
* an operation that mixes one with a host NumPy array raises ``TypeError``
  (``a + host``, ``xp.matmul(a, host)``, ``np.add(host, a)``), as CuPy does;
  Python and NumPy scalars mix freely, and creating an array from host data
  (``xp.asarray(host)``) is a host-to-device copy, allowed;
* reductions give 0-d device arrays, never host scalars, as CuPy does;
* every device-to-host transfer (``.get()``, ``float(a)``, ``int(a)``,
  ``bool(a)``, ``a.item()``, ``a.tolist()``, printing) adds one to
  :data:`transfers`, so a test can say how many a training step may make.

Underneath, every array is a NumPy array, so results equal NumPy's bit for bit.
``tests/conftest.py`` installs it with ``pytest --strict-device``; ebmlib does
not know it exists.
"""
import numbers
import types

import numpy as np

__all__ = ["DeviceArray", "namespace", "transfers"]


class _Counter:
    """Device-to-host transfers so far."""

    def __init__(self):
        self.count = 0

    def __call__(self):
        self.count += 1


transfers = _Counter()

_MIXING = ("operands mix a device array with a host NumPy array ({}); move the host "
           "array to the device first (to_device / xp.asarray), as CuPy requires")


def _host(x):
    return isinstance(x, np.ndarray)


def _unwrap(x, where):
    """The NumPy array under ``x``; host arrays are refused."""
    if isinstance(x, DeviceArray):
        return x._a
    if _host(x):
        raise TypeError(_MIXING.format(where))
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v, where) for v in x)
    return x


def _wrap(x):
    """Device arrays for NumPy results (scalars become 0-d arrays, as in CuPy)."""
    if isinstance(x, np.ndarray):
        return DeviceArray(x)
    if isinstance(x, np.generic) and not isinstance(x, (np.str_, np.bytes_)):
        return DeviceArray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


def _call(fn, where, args, kwargs):
    args = [_unwrap(a, where) for a in args]
    kwargs = {k: _unwrap(v, where) for k, v in kwargs.items()}
    return _wrap(fn(*args, **kwargs))


def _operator(name):
    ufunc = getattr(np, name)

    def forward(self, other):
        return _call(ufunc, f"'{name}'", (self, other), {})

    def reverse(self, other):
        return _call(ufunc, f"'{name}'", (other, self), {})

    def inplace(self, other):
        ufunc(self._a, _unwrap(other, f"in-place '{name}'"), out=self._a)
        return self

    return forward, reverse, inplace


class DeviceArray:
    """An array that lives "on the device": see the module docstring."""

    __slots__ = ("_a",)
    __array_priority__ = 1000

    def __init__(self, a):
        self._a = a

    # no implicit conversion to NumPy
    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed: use "
                        "ebmlib.asnumpy (or .get()) to copy a device array to the host")

    # NumPy functions on device arrays dispatch here, as for CuPy
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if "out" in kwargs:
            kwargs["out"] = tuple(_unwrap(o, f"ufunc {ufunc.__name__} out") for o in kwargs["out"])
        return _call(getattr(ufunc, method), f"ufunc {ufunc.__name__}", inputs, kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        return _call(func, f"numpy.{func.__name__}", args, kwargs)

    # device-to-host transfers, counted
    def get(self):
        transfers()
        return self._a.copy()

    def item(self):
        transfers()
        return self._a.item()

    def tolist(self):
        transfers()
        return self._a.tolist()

    def __float__(self):
        transfers()
        return float(self._a)

    def __int__(self):
        transfers()
        return int(self._a)

    def __index__(self):
        transfers()
        return self._a.__index__()

    def __bool__(self):
        transfers()
        return bool(self._a)

    def __repr__(self):
        transfers()
        return f"device({self._a!r})"

    def __format__(self, spec):
        transfers()
        return format(self._a.item() if self._a.ndim == 0 else self._a, spec)

    __str__ = __repr__

    # the rest behaves like the NumPy array underneath
    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (DeviceArray(row) if isinstance(row, np.ndarray) else _wrap(row)
                for row in self._a)

    def __getitem__(self, key):
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key, value):
        self._a[_index(key)] = _unwrap(value, "assignment") if not _host(value) else value

    def __getattr__(self, name):
        if name.startswith("__"):   # no __array_interface__ or __array_struct__ either
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            return lambda *args, **kwargs: _call(attr, f"method .{name}", args, kwargs)
        return _wrap(attr)

    @property
    def T(self):
        return DeviceArray(self._a.T)

    @property
    def shape(self):
        return self._a.shape

    @property
    def dtype(self):
        return self._a.dtype

    @property
    def ndim(self):
        return self._a.ndim

    @property
    def size(self):
        return self._a.size

    def __neg__(self):
        return DeviceArray(-self._a)

    def __pos__(self):
        return DeviceArray(+self._a)

    def __abs__(self):
        return DeviceArray(abs(self._a))

    def __invert__(self):
        return DeviceArray(~self._a)

    def __matmul__(self, other):
        return _call(np.matmul, "'@'", (self, other), {})

    def __rmatmul__(self, other):
        return _call(np.matmul, "'@'", (other, self), {})

    __hash__ = None


for _name, _dunder in [("add", "add"), ("subtract", "sub"), ("multiply", "mul"),
                       ("true_divide", "truediv"), ("floor_divide", "floordiv"),
                       ("remainder", "mod"), ("power", "pow"), ("bitwise_and", "and"),
                       ("bitwise_or", "or"), ("bitwise_xor", "xor")]:
    _f, _r, _i = _operator(_name)
    setattr(DeviceArray, f"__{_dunder}__", _f)
    setattr(DeviceArray, f"__r{_dunder}__", _r)
    setattr(DeviceArray, f"__i{_dunder}__", _i)
for _name, _dunder in [("less", "lt"), ("less_equal", "le"), ("greater", "gt"),
                       ("greater_equal", "ge"), ("equal", "eq"), ("not_equal", "ne")]:
    setattr(DeviceArray, f"__{_dunder}__", _operator(_name)[0])


def _index(key):
    """An index into a device array: device index arrays are unwrapped; host integer
    or boolean arrays are allowed, as CuPy copies them to the device."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, DeviceArray):
        return key._a
    return key


class _Random:
    """``xp.random``: a seeded generator whose draws are device arrays."""

    @staticmethod
    def default_rng(seed=None):
        return _Generator(np.random.default_rng(seed))


class _Generator:
    def __init__(self, rng):
        self._rng = rng

    def __getattr__(self, name):
        method = getattr(self._rng, name)
        return lambda *args, **kwargs: _call(method, f"random.{name}", args, kwargs)


def _creation(fn):
    """Array creation from host data (a host-to-device copy) is allowed."""
    def create(obj, *args, **kwargs):
        if isinstance(obj, DeviceArray):
            obj = obj._a
        elif isinstance(obj, (list, tuple)):
            obj = [o._a if isinstance(o, DeviceArray) else o for o in obj]
        return _wrap(fn(obj, *args, **kwargs))
    return create


class _Namespace(types.ModuleType):
    """The ``cupy``-like module: NumPy's functions, on device arrays only."""

    ndarray = DeviceArray
    random = _Random()
    asarray = staticmethod(_creation(np.asarray))
    array = staticmethod(_creation(np.array))

    def __getattr__(self, name):
        attr = getattr(np, name)
        if isinstance(attr, (type, numbers.Number, types.ModuleType)) or name.endswith("info"):
            if isinstance(attr, types.ModuleType):   # linalg, fft: functions on device arrays
                return _Submodule(attr)
            return attr                              # dtypes, inf, pi, finfo, iinfo
        if callable(attr):
            return lambda *args, **kwargs: _call(attr, f"xp.{name}", args, kwargs)
        return attr


class _Submodule:
    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        fn = getattr(self._module, name)
        return lambda *args, **kwargs: _call(fn, f"xp.{self._module.__name__}.{name}", args,
                                             kwargs)


namespace = _Namespace("strict_device")
