"""shopmind: self-hosted customer intelligence and personalisation for online shops.

The package is a set of layers (see DESIGN.md): ``core`` at the bottom, then ``events`` and
``store``, then ``ingest`` and ``demo``, with the CLI on top. Import from the sub-packages;
this top level only carries the version and the error root.
"""

from shopmind.core import ShopmindError

__version__ = "0.1.0"
__all__ = ["ShopmindError", "__version__"]
