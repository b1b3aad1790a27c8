"""Every public function and class has a docstring, so that the API reference (docs/api/*.md,
rendered by mkdocstrings, which hides members without one) shows it.

The public API: the names in ``__all__`` of rnnkit, rnnkit.cells, rnnkit.layers, rnnkit.models
and rnnkit.lm, with the public methods and properties each class defines itself; and, for
rnnkit.recipes (no ``__all__``), every module and the public functions and classes defined in it.
``forward`` and ``extra_repr`` are torch.nn hooks, documented by the class's Shapes block.
Constants (``CELLS``, ``LAYERS``, ``__version__``) cannot carry a docstring and are not listed.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["rnnkit", "rnnkit.cells", "rnnkit.layers", "rnnkit.models", "rnnkit.lm"]
MODULE_PACKAGES = ["rnnkit.recipes"]  # documented module by module (docs/api/recipes.md)
HOOKS = {"forward", "extra_repr"}


def own_docstring(obj: Any) -> str | None:
    """The docstring written for ``obj`` itself: not inherited, not the signature a dataclass or NamedTuple makes up."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    if not doc or not doc.strip():
        return None
    if inspect.isclass(obj) and re.fullmatch(rf"{re.escape(obj.__name__)}\(.*\)", doc.strip(), flags=re.S):
        return None  # dataclasses and NamedTuples set __doc__ to "Name(field, ...)" when none was written
    return doc


def documented_in_a_base(cls: type, name: str) -> bool:
    """Whether ``name`` overrides a documented method of a base class (a recipe's ``evaluate``, say)."""
    return any(own_docstring(vars(base)[name]) for base in cls.__mro__[1:] if name in vars(base))


def members(cls: type) -> dict[str, Any]:
    """Public methods and properties that ``cls`` defines itself (inherited ones are checked where defined),
    except overrides of a base class's documented method: the base's docstring is their contract."""
    found = {}
    for name, value in vars(cls).items():
        if name.startswith("_") or name in HOOKS or documented_in_a_base(cls, name):
            continue
        if isinstance(value, staticmethod | classmethod):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            found[name] = value
    return found


def objects_of(qualname: str, obj: Any) -> dict[str, Any]:
    """``obj`` and, for a class, its public members, by qualified name."""
    found = {qualname: obj}
    if inspect.isclass(obj):
        fields = {f.name for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else set()
        found.update({f"{qualname}.{n}": v for n, v in members(obj).items() if n not in fields})
    return found


def public_api() -> dict[str, Any]:
    """Every public function, class, method and module of the documented packages, by qualified name."""
    api: dict[str, Any] = {}
    for name in PACKAGES:
        package = importlib.import_module(name)
        for export in package.__all__:
            obj = getattr(package, export)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                api.update(objects_of(f"{name}.{export}", obj))
    for name in MODULE_PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
            module = importlib.import_module(info.name)
            api[module.__name__] = module
            for attr, obj in vars(module).items():
                defined_here = getattr(obj, "__module__", None) == module.__name__
                if not attr.startswith("_") and defined_here and (inspect.isfunction(obj) or inspect.isclass(obj)):
                    api.update(objects_of(f"{module.__name__}.{attr}", obj))
    return api


def test_the_public_api_is_found() -> None:
    api = public_api()
    # a few names that must be there, so that an empty listing cannot pass the test below
    for name in ["rnnkit.lstm_step", "rnnkit.LSTM", "rnnkit.layers.RecurrentBase.record",
                 "rnnkit.models.Seq2Seq.generate", "rnnkit.lm.sample", "rnnkit.lm.CharVocab.encode",
                 "rnnkit.recipes.training"]:
        assert name in api
    assert len(api) > 150


def test_every_public_function_and_class_has_a_docstring() -> None:
    missing = sorted(name for name, obj in public_api().items() if own_docstring(obj) is None)
    assert not missing, f"{len(missing)} public names have no docstring of their own:\n  " + "\n  ".join(missing)


def test_own_docstring_sees_through_made_up_ones() -> None:
    @dataclasses.dataclass
    class Bare:
        x: int

    class Child(Bare):
        pass

    assert own_docstring(Bare) is None  # the dataclass's "Bare(x: int)"
    assert own_docstring(Child) is None  # nothing written for Child itself
    assert own_docstring(public_api) is not None


def _documented_paths(page: str) -> set[str]:
    return set(re.findall(r"^::: ([\w.]+)", (ROOT / "docs" / "api" / page).read_text(encoding="utf-8"), flags=re.M))


@pytest.mark.parametrize("package", PACKAGES + MODULE_PACKAGES)
def test_each_package_has_a_reference_page(package: str) -> None:
    page = "rnnkit.md" if package == "rnnkit" else f"{package.split('.')[-1]}.md"
    assert package in _documented_paths(page)


def test_exports_shadowed_by_a_submodule_are_documented_by_their_full_path() -> None:
    """``rnnkit.lm.train`` is both a module and the function the package exports; the reference's
    static reader resolves the name to the module and would drop the function, so the page
    names it in full (``::: rnnkit.lm.train.train``)."""
    for name in PACKAGES:
        package: ModuleType = importlib.import_module(name)
        assert package.__file__ is not None  # a regular package, not a namespace one
        folder = Path(package.__file__).parent
        page = "rnnkit.md" if name == "rnnkit" else f"{name.split('.')[-1]}.md"
        for export in package.__all__:
            if (folder / f"{export}.py").exists() and not inspect.ismodule(getattr(package, export)):
                assert f"{name}.{export}.{export}" in _documented_paths(page), f"{name}.{export}"
