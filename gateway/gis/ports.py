"""The port the GIS services store base data through (`adapters.storage.gis_store`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from gateway.gis.addresses import Address
from gateway.gis.features import AreaFeature, AreaLevel, ComponentFeature, GridFeature

#: (min_lon, min_lat, max_lon, max_lat) in stored lon/lat
BBox = tuple[float, float, float, float]
#: lons, lats -> grid codes (None outside): how stored components are placed again
Locate = Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.object_]]


class BaseDataStore(Protocol):
    """Grids, areas and components; each ``replace_*`` is one transaction (all or nothing)."""

    def replace_grids(
        self, grids: Sequence[GridFeature], derived: Sequence[AreaFeature], locate: Locate
    ) -> int:
        """Replace every grid and every derived area (given areas stay); place the stored
        components again with ``locate``; returns how many fell outside every grid."""
        ...

    def replace_areas(self, areas: Sequence[AreaFeature]) -> None:
        """Replace the given areas; a given area replaces a derived one of its code."""
        ...

    def replace_components(self, components: Sequence[ComponentFeature]) -> None: ...

    def grids(self) -> list[GridFeature]: ...

    def grids_in_bbox(self, bbox: BBox, limit: int = 10_000) -> list[GridFeature]: ...

    def areas(self, level: AreaLevel | None = None) -> list[AreaFeature]: ...

    def areas_in_bbox(
        self, bbox: BBox, level: AreaLevel | None = None, limit: int = 10_000
    ) -> list[AreaFeature]: ...

    def components_in_bbox(
        self, bbox: BBox, type_codes: Sequence[str] = (), limit: int = 10_000
    ) -> list[ComponentFeature]: ...

    def replace_addresses(self, addresses: Sequence[Address]) -> None: ...

    def addresses(self) -> list[Address]: ...

    def addresses_in_bbox(self, bbox: BBox, limit: int = 10_000) -> list[Address]: ...

    def counts(self) -> dict[str, int]: ...

    def version(self) -> int:
        """Bumped by every replace (an import): a running core reloads when it changes."""
        ...
