"""A stand-in for torchvision, put on the real ComfyUI server's PYTHONPATH by the test harness only.

ComfyUI imports torchvision at start-up (``comfy.sd`` -> ``comfy.ldm.cascade``) and transformers imports
pieces of it once it sees the package, but torchvision cannot be installed beside the CPU torch wheel these
machines use. The ArtiMuse nodes never call torchvision (the engine preprocesses with PIL), so every
``torchvision.*`` module imports, and every name in it is a placeholder that raises when it is called.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

__version__ = "0.0.0+artimuse.standin"


class _Missing:
    """Any attribute path under the stand-in; calling it raises instead of computing something wrong."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> _Missing:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Missing(f"{self._name}.{attr}")

    def __call__(self, *args, **kwargs):
        raise NotImplementedError(f"{self._name}: torchvision is a test stand-in here (tests/comfyui_standin)")

    def __repr__(self) -> str:
        return f"<stand-in {self._name}>"


def _module_getattr(module_name: str):
    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Missing(f"{module_name}.{name}")

    return __getattr__


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``torchvision.<anything>`` importable as a module of placeholders."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(__name__ + "."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = _module_getattr(spec.name)
        return module

    def exec_module(self, module):
        pass


if not any(isinstance(f, _Finder) for f in sys.meta_path):
    sys.meta_path.append(_Finder())
__getattr__ = _module_getattr(__name__)
