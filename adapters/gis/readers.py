"""Reading base data files into raw features (properties + GeoJSON-shaped geometry).

- GeoJSON: a FeatureCollection (or a single Feature);
- ESRI Shapefile (``.shp`` with its ``.dbf``): through pyshp; the attribute encoding
  from the ``.cpg`` file when there is one, else UTF-8, else GBK (common in Chinese data);
- CSV (UTF-8, a BOM allowed) of points: lon/lat columns (``lon``/``lng``/``longitude``/
  ``x``/``经度`` and ``lat``/``latitude``/``y``/``纬度``), every other column a property.

A file that cannot be read at all raises `UnreadableFile` naming it and the reason;
what is wrong with single features is for `gateway.gis.validation` to say.
"""

from __future__ import annotations

import csv
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import shapefile  # pyshp

from gateway.gis.features import RawFeature

LON_COLUMNS = ("lon", "lng", "longitude", "x", "经度", "LON", "X")
LAT_COLUMNS = ("lat", "latitude", "y", "纬度", "LAT", "Y")


class UnreadableFile(Exception):
    """The file as a whole cannot be read (missing, not the format its name says)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def read_features(path: Path) -> list[RawFeature]:
    """The features of a GeoJSON, Shapefile or CSV file (chosen by its suffix)."""
    if not path.is_file():
        raise UnreadableFile(path, "no such file")
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        return list(_geojson(path))
    if suffix == ".shp":
        return list(_shapefile(path))
    if suffix == ".csv":
        return list(_csv(path))
    raise UnreadableFile(path, f"unknown format {suffix!r} (.geojson, .json, .shp or .csv)")


def _geojson(path: Path) -> Iterator[RawFeature]:
    try:
        document = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableFile(path, f"not JSON: {exc}") from exc
    if isinstance(document, dict) and document.get("type") == "Feature":
        features: Any = [document]
    elif isinstance(document, dict) and document.get("type") == "FeatureCollection":
        features = document.get("features")
    else:
        raise UnreadableFile(path, "not a GeoJSON FeatureCollection or Feature")
    if not isinstance(features, list):
        raise UnreadableFile(path, "its features are not a list")
    del document
    features.reverse()  # popped from the end: each feature's outer dict is freed as it goes
    number = 0
    while features:
        feature = features.pop()
        number += 1
        if not isinstance(feature, dict):
            yield RawFeature(number, {}, None)
            continue
        properties = feature.get("properties")
        geometry = feature.get("geometry")
        yield RawFeature(
            number,
            properties if isinstance(properties, dict) else {},
            geometry if isinstance(geometry, dict) else None,
        )


def _encodings(path: Path) -> list[str]:
    cpg = path.with_suffix(".cpg")
    if cpg.is_file():
        return [cpg.read_text(encoding="ascii", errors="replace").strip() or "utf-8"]
    return ["utf-8", "gbk"]


def _shapefile(path: Path) -> Iterator[RawFeature]:
    last: Exception | None = None
    for encoding in _encodings(path):
        try:
            with shapefile.Reader(str(path), encoding=encoding) as reader:
                names = [field[0] for field in reader.fields[1:]]
                rows = [
                    (dict(zip(names, record, strict=True)), shape.__geo_interface__)
                    for shape, record in zip(reader.iterShapes(), reader.iterRecords(), strict=True)
                ]
        except UnicodeDecodeError as exc:
            last = exc
            continue
        except shapefile.ShapefileException as exc:
            if "decode" in str(exc):  # pyshp 3 wraps a decoding failure of the attributes
                last = exc
                continue
            raise UnreadableFile(path, f"not a readable Shapefile: {exc}") from exc
        except (OSError, ValueError, struct.error) as exc:
            raise UnreadableFile(path, f"not a readable Shapefile: {exc}") from exc
        for number, (properties, geometry) in enumerate(rows, start=1):
            empty = not geometry or geometry.get("type") is None
            yield RawFeature(number, properties, None if empty else geometry)
        return
    raise UnreadableFile(path, f"attributes in an unknown encoding: {last}")


def _csv(path: Path) -> Iterator[RawFeature]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(path, f"not UTF-8 text: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    columns = reader.fieldnames or []
    lon_column = next((c for c in LON_COLUMNS if c in columns), None)
    lat_column = next((c for c in LAT_COLUMNS if c in columns), None)
    if lon_column is None or lat_column is None:
        raise UnreadableFile(path, f"no lon/lat columns among {columns}")
    for number, row in enumerate(reader, start=1):
        properties = {k: v for k, v in row.items() if k not in (lon_column, lat_column)}
        lon, lat = (row.get(lon_column) or "").strip(), (row.get(lat_column) or "").strip()
        geometry = {"type": "Point", "coordinates": [lon, lat]} if lon or lat else None
        yield RawFeature(number, properties, geometry)
