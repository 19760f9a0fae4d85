"""citygw: the edge gateway of a digital city-management centre.

`gateway/` holds the domain and the daemons; `adapters/` holds one package per
outside system. Nothing here does I/O at import time.
"""

__version__ = "0.1.0"
