"""cbor2's C codec, loaded without the ``cbor2`` package's ``__init__``.

The package's ``__init__`` only re-exports ``cbor2._cbor2`` and defines type
aliases, which import ``typing`` (and with it ``re``, ``enum``, ``collections``):
several milliseconds at every recorded process's start. We load the C module
itself from the installed package; if that fails for any reason, we import the
package normally. A later ``import cbor2`` by the program finds the same C module.
"""

from __future__ import annotations

import sys


def _load_c_codec():
    name = "cbor2._cbor2"
    if name in sys.modules:
        return sys.modules[name]
    try:
        from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader, ModuleSpec, PathFinder

        package = PathFinder.find_spec("cbor2")
        for directory in package.submodule_search_locations:
            for suffix in EXTENSION_SUFFIXES:
                path = f"{directory}/_cbor2{suffix}"
                loader = ExtensionFileLoader(name, path)
                try:
                    module = loader.create_module(ModuleSpec(name, loader, origin=path))
                except (ImportError, OSError):
                    continue
                loader.exec_module(module)
                sys.modules[name] = module
                return module
    except Exception:
        pass
    import cbor2._cbor2 as module  # the package, the ordinary way

    return module


_codec = _load_c_codec()
dumps = _codec.dumps
loads = _codec.loads
CBORTag = _codec.CBORTag
CBORDecodeError = _codec.CBORDecodeError
