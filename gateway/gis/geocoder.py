"""Geocoding on the door-plate gazetteer: address text → scored candidates, point → nearest.

Forward (`Geocoder.candidates`): the text is normalised and split (`address_text`); its
road is compared with the gazetteer's distinct road names first (rapidfuzz, the blocking
step: a few thousand names instead of every address), then the addresses on the best
roads are scored together (numpy) on door number, building and unit. What comes back is
a ranked list with a score 0–100 and the reasons for each, never one silent guess: the
hotline operator picks. An exact road and door scores highest; a road that matches no
known road well gives an empty list; candidates on a road matched loosely carry
``road_uncertain``.

Reverse (`Geocoder.nearest`): the addresses' points in the projected CRS of the data
(CGCS2000 Gauss-Krüger, metres) in a shapely STRtree; the nearest address, its road and
the distance in metres.

Reason identifiers in `Match.why` (surfaces translate them for people):
``road_exact`` / ``road_fuzzy`` / ``road_uncertain``; ``number_exact`` / ``number_near``
/ ``number_other`` / ``number_missing``; ``building_exact`` / ``building_other`` /
``building_unknown`` (and the same for ``unit_``); ``district_other``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from rapidfuzz import fuzz, process

from gateway.gis.address_text import AddressParts, canonical, split_address
from gateway.gis.addresses import Address
from gateway.gis.crs import projected_epsg, to_metres

#: a road whose name scores below this against the query's road is not a candidate
ROAD_CUTOFF = 60.0
#: candidates on a road scoring below this are marked ``road_uncertain``
ROAD_SURE = 85.0
#: roads within this many points of the best road are scored (at most `MAX_ROADS`)
ROAD_SPREAD = 25.0
MAX_ROADS = 8
# weights of the parts in a candidate's score (they sum to 1)
_W_ROAD, _W_NUMBER, _W_BUILDING, _W_UNIT = 0.55, 0.35, 0.07, 0.03
_LEADING_INT = re.compile(r"^\d+")


@dataclass(frozen=True, slots=True)
class Match:
    """A forward-geocoding candidate: the address, how well it matches (0–100), and why."""

    address: Address
    score: float
    why: tuple[str, ...]

    @property
    def exact(self) -> bool:
        """Road and door number match exactly (building and unit may still differ)."""
        return "road_exact" in self.why and "number_exact" in self.why


@dataclass(frozen=True, slots=True)
class Nearest:
    """The nearest gazetteer address to a point, and how far it is."""

    address: Address
    distance_m: float

    @property
    def road(self) -> str:
        return self.address.road


@dataclass(frozen=True, slots=True)
class _Road:
    name: str  # canonical road name
    members: NDArray[np.intp]  # positions of its addresses


class Geocoder:
    """Forward and reverse geocoding over one gazetteer (a sequence of `Address`)."""

    def __init__(self, addresses: Sequence[Address], *, epsg: int | None = None) -> None:
        self._addresses = tuple(addresses)
        n = len(self._addresses)
        self._districts = tuple(sorted({a.district for a in self._addresses if a.district}))
        cache: dict[str, str] = {}

        def canon(text: str) -> str:
            value = cache.get(text)
            if value is None:
                value = cache[text] = canonical(text)
            return value

        numbers = [canon(a.number) for a in self._addresses]
        self._number = np.array(numbers, dtype=str)
        self._number_value = np.array([_number_value(x) for x in numbers], dtype=np.int64)
        self._building = np.array([canon(a.building) for a in self._addresses], dtype=str)
        self._unit = np.array([canon(a.unit) for a in self._addresses], dtype=str)
        self._district = np.array([a.district for a in self._addresses], dtype=str)

        by_road: dict[str, list[int]] = {}
        for position, address in enumerate(self._addresses):
            by_road.setdefault(canon(address.road), []).append(position)
        self._roads = [_Road(name, np.array(ps, dtype=np.intp)) for name, ps in by_road.items()]
        self._blocks = _RoadBlocks([road.name for road in self._roads])

        lons = np.array([a.lon for a in self._addresses], dtype=np.float64)
        lats = np.array([a.lat for a in self._addresses], dtype=np.float64)
        self._epsg = epsg or projected_epsg(float(np.median(lons)) if n else 120.0)
        self._points_m = to_metres(shapely.points(lons, lats), self._epsg) if n else None
        self._tree = shapely.STRtree(self._points_m) if n else None

    def __len__(self) -> int:
        return len(self._addresses)

    @property
    def addresses(self) -> Sequence[Address]:
        return self._addresses

    @property
    def districts(self) -> tuple[str, ...]:
        return self._districts

    @property
    def epsg(self) -> int:
        """The projected CRS distances are measured in."""
        return self._epsg

    # -- forward ------------------------------------------------------------------

    def candidates(self, text: str, limit: int = 5) -> list[Match]:
        """Up to ``limit`` addresses matching ``text``, best first; empty when the text
        names no road close to a known one (or has no road at all)."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        parts = split_address(text, self._districts)
        if not parts.road or not self._roads:
            return []
        roads = self._roads_for(parts.road)
        if not roads:
            return []
        district = self._district_named(text)
        return self._score(parts, roads, district, limit)

    def _roads_for(self, road: str) -> list[tuple[_Road, float]]:
        found = self._blocks.similar(road)
        if not found:
            return []
        best = found[0][1]
        return [(self._roads[i], s) for i, s in found[:MAX_ROADS] if s >= best - ROAD_SPREAD]

    def _district_named(self, text: str) -> str | None:
        if len(self._districts) < 2:
            return None
        plain = canonical(text)
        named = [d for d in self._districts if d in plain]
        return named[0] if len(named) == 1 else None

    def _score(
        self,
        parts: AddressParts,
        roads: list[tuple[_Road, float]],
        district: str | None,
        limit: int,
    ) -> list[Match]:
        members = np.concatenate([road.members for road, _s in roads])
        road_score = np.concatenate(
            [np.full(road.members.size, s, dtype=np.float64) for road, s in roads]
        )
        number_score = self._number_scores(parts.number, members)
        building_score = _part_scores(parts.building, self._building[members])
        unit_score = _part_scores(parts.unit, self._unit[members])
        score = (
            _W_ROAD * road_score
            + _W_NUMBER * number_score
            + _W_BUILDING * building_score
            + _W_UNIT * unit_score
        )
        other_district = np.zeros(members.size, dtype=bool)
        if district is not None:
            other_district = self._district[members] != district
            score = np.where(other_district, score - 15.0, score)
        order = np.argsort(-score, kind="stable")[:limit]
        matches = []
        for k in order.tolist():
            why = [
                _road_reason(float(road_score[k])),
                _number_reason(parts.number, float(number_score[k])),
            ]
            if parts.building:
                why.append(_part_reason("building", float(building_score[k])))
            if parts.unit:
                why.append(_part_reason("unit", float(unit_score[k])))
            if other_district[k]:
                why.append("district_other")
            address = self._addresses[int(members[k])]
            matches.append(Match(address, round(max(0.0, float(score[k])), 1), tuple(why)))
        return matches

    def _number_scores(self, number: str, members: NDArray[np.intp]) -> NDArray[np.float64]:
        """Door number: equal 100; a door nearby on the same road 80 - 10 a number apart;
        none asked 50 (every door alike)."""
        if not number:
            return np.full(members.size, 50.0)
        exact = self._number[members] == number
        wanted = _number_value(number)
        if wanted < 0:
            return np.where(exact, 100.0, 0.0)
        values = self._number_value[members]
        near = np.clip(80.0 - 10.0 * np.abs(values - wanted), 0.0, 80.0)
        return np.where(exact, 100.0, np.where(values >= 0, near, 0.0))

    # -- reverse ------------------------------------------------------------------

    def nearest(
        self, lon: float, lat: float, max_distance_m: float | None = None
    ) -> Nearest | None:
        """The address nearest to a point (stored lon/lat), or None when the gazetteer is
        empty or nothing lies within ``max_distance_m``."""
        found = self.nearest_many([lon], [lat], max_distance_m)
        return found[0]

    def nearest_many(
        self, lons: ArrayLike, lats: ArrayLike, max_distance_m: float | None = None
    ) -> list[Nearest | None]:
        """`nearest` for arrays of points, in one STRtree query."""
        x = np.asarray(lons, dtype=np.float64).ravel()
        y = np.asarray(lats, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError(f"{x.size} longitudes but {y.size} latitudes")
        result: list[Nearest | None] = [None] * x.size
        if self._tree is None or x.size == 0:
            return result
        points = to_metres(shapely.points(x, y), self._epsg)
        (point_at, address_at), distances = self._tree.query_nearest(
            points, max_distance=max_distance_m, return_distance=True, all_matches=False
        )
        for p, a, d in zip(point_at.tolist(), address_at.tolist(), distances.tolist(), strict=True):
            result[p] = Nearest(self._addresses[a], d)
        return result


class _RoadBlocks:
    """The blocking step: the road names most like a query's road, by rapidfuzz.

    A name is compared only when the characters it shares with the query (counted with
    repeats) could reach the cut-off: the Indel ratio is ``200 * LCS / (len_a + len_b)``
    and the longest common subsequence is at most the shared count, so the filter drops
    no name that could pass. The partial ratio also tries windows shorter than the name
    at the query's ends, so its bound is ``200 * shared / (shared + len_name)``. Postings
    per character make the count a few numpy adds.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self._names = list(names)
        self._length = np.array([len(n) for n in self._names], dtype=np.float64)
        postings: dict[str, dict[int, int]] = {}
        for i, name in enumerate(self._names):
            for ch in name:
                counts = postings.setdefault(ch, {})
                counts[i] = counts.get(i, 0) + 1
        self._postings = {
            ch: (
                np.array(list(c.keys()), dtype=np.intp),
                np.array(list(c.values()), dtype=np.float64),
            )
            for ch, c in postings.items()
        }

    def _shared(self, text: str) -> NDArray[np.float64]:
        shared = np.zeros(len(self._names), dtype=np.float64)
        for ch in set(text):
            posting = self._postings.get(ch)
            if posting is not None:
                ids, counts = posting
                shared[ids] += np.minimum(counts, text.count(ch))
        return shared

    def similar(self, road: str) -> list[tuple[int, float]]:
        """(position, score) of the names scoring at least `ROAD_CUTOFF`, best first.

        The plain ratio first; when nothing is sure (below `ROAD_SURE`) the road may sit
        inside more text (an unstripped prefix, a place name before it): names shorter
        than it are compared within it (partial ratio) at a 0.9 discount."""
        if not self._names or not road:
            return []
        shared = self._shared(road)
        reachable = np.flatnonzero(200.0 * shared / (len(road) + self._length) >= ROAD_CUTOFF)
        found: dict[int, float] = {}
        if reachable.size:
            choices = {int(i): self._names[i] for i in reachable}
            for _name, score, i in process.extract(
                road, choices, scorer=fuzz.ratio, limit=MAX_ROADS, score_cutoff=ROAD_CUTOFF
            ):
                found[i] = score
        if not found or max(found.values()) < ROAD_SURE:
            inside = np.flatnonzero(
                (self._length < len(road)) & (200.0 * shared >= ROAD_SURE * (shared + self._length))
            )
            if inside.size:
                choices = {int(i): self._names[i] for i in inside}
                for _name, score, i in process.extract(
                    road,
                    choices,
                    scorer=fuzz.partial_ratio,
                    limit=MAX_ROADS,
                    score_cutoff=ROAD_SURE,
                ):
                    found[i] = max(found.get(i, 0.0), 0.9 * score)
        ranked = sorted(found.items(), key=lambda item: (-item[1], item[0]))
        return [(i, s) for i, s in ranked if s >= ROAD_CUTOFF]


def _number_value(number: str) -> int:
    match = _LEADING_INT.match(number)
    return int(match.group(0)) if match else -1


def _part_scores(wanted: str, have: NDArray[np.str_]) -> NDArray[np.float64]:
    """Building or unit: asked and equal 100, asked but the address has none 50, asked and
    different 0; not asked: an address without one 100 (the plain door), with one 70."""
    if wanted:
        return np.where(have == wanted, 100.0, np.where(have == "", 50.0, 0.0))
    return np.where(have == "", 100.0, 70.0)


def _part_reason(kind: str, score: float) -> str:
    if score >= 100.0:
        return f"{kind}_exact"
    return f"{kind}_unknown" if score > 0.0 else f"{kind}_other"


def _number_reason(number: str, score: float) -> str:
    if not number:
        return "number_missing"
    if score >= 100.0:
        return "number_exact"
    return "number_near" if score > 0.0 else "number_other"


def _road_reason(score: float) -> str:
    if score >= 100.0:
        return "road_exact"
    return "road_fuzzy" if score >= ROAD_SURE else "road_uncertain"
