"""Zone outlines: GeoJSON in, shapely geometry out, and the few measures the zones need.

Outlines are stored as GeoJSON text (RFC 7946: WGS 84, positions are
``[longitude, latitude]``) and every geometric question — validity,
containment, area — is answered by shapely (GEOS). The only formula written
here is the great-circle distance in metres between two points, which shapely
(planar, in degrees) does not give.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Real

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

#: Mean Earth radius (IUGG), for great-circle distances.
EARTH_RADIUS_M = 6_371_008.8
#: Metres per degree of latitude (and of longitude at the equator), for bounding boxes.
METRES_PER_DEGREE = 111_320.0
#: An outline with more positions than this is refused (a zone is a district, not a coastline).
MAX_POSITIONS = 20_000

ACCEPTED_TYPES = ("Polygon", "MultiPolygon")


class GeometryError(ValueError):
    """The GeoJSON is not an acceptable zone outline; ``str(exc)`` says why."""


@dataclass(frozen=True)
class Outline:
    """A valid zone outline: its shapely geometry and the normalised GeoJSON to store."""

    geometry: BaseGeometry
    geojson: dict

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """Return ``(min_lon, min_lat, max_lon, max_lat)``."""
        return tuple(float(v) for v in self.geometry.bounds)

    @property
    def text(self) -> str:
        return json.dumps(self.geojson, separators=(",", ":"))


def _is_number(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)


def _check_ring(ring, where: str) -> int:
    if not isinstance(ring, list) or len(ring) < 4:
        raise GeometryError(f"{where} needs at least 4 positions (a closed ring: the first position repeated "
                            "at the end).")
    for i, pos in enumerate(ring):
        if not isinstance(pos, list) or len(pos) < 2 or not all(_is_number(c) for c in pos[:2]):
            raise GeometryError(f"{where}, position {i}: a position is [longitude, latitude] in numbers.")
        lon, lat = pos[0], pos[1]
        if not -180 <= lon <= 180:
            raise GeometryError(f"{where}, position {i}: longitude {lon} is outside -180..180.")
        if not -90 <= lat <= 90:
            raise GeometryError(f"{where}, position {i}: latitude {lat} is outside -90..90 "
                                "(GeoJSON positions are [longitude, latitude], in that order).")
    if ring[0][:2] != ring[-1][:2]:
        raise GeometryError(f"{where} is not closed: its first and last positions differ.")
    return len(ring)


def _check_polygon(coords, where: str) -> int:
    if not isinstance(coords, list) or not coords:
        raise GeometryError(f"{where} needs a list of rings (the outer ring first, then any holes).")
    return sum(_check_ring(ring, f"{where}, ring {r}") for r, ring in enumerate(coords))


def _geometry_member(doc) -> dict:
    """Return the geometry object of a Polygon/MultiPolygon or of a Feature carrying one."""
    if not isinstance(doc, dict):
        raise GeometryError("The outline must be a GeoJSON object (Polygon, MultiPolygon or a Feature).")
    kind = doc.get("type")
    if kind == "Feature":
        geom = doc.get("geometry")
        if not isinstance(geom, dict):
            raise GeometryError("The Feature has no geometry.")
        if geom.get("type") not in ACCEPTED_TYPES:
            raise GeometryError(f"The Feature's geometry is a {geom.get('type')!s}; a zone needs a Polygon or "
                                "MultiPolygon.")
        return geom
    if kind == "FeatureCollection":
        raise GeometryError("Send one zone at a time: a Polygon, a MultiPolygon or a single Feature, "
                            "not a FeatureCollection.")
    if kind not in ACCEPTED_TYPES:
        raise GeometryError(f"A zone outline is a Polygon or MultiPolygon, not {kind!r}.")
    return doc


def parse_outline(doc) -> Outline:
    """Validate a GeoJSON outline and return it normalised.

    Accepts a Polygon, a MultiPolygon, or a Feature whose geometry is one.
    Raises ``GeometryError`` with a reason a person can act on: malformed
    structure, positions out of range (or latitude/longitude swapped), rings
    not closed, or geometry that GEOS finds invalid — self-intersection, a
    hole outside its shell, overlapping parts — in which case the reason is
    shapely's ``explain_validity`` (e.g. ``Self-intersection[113.24 23.12]``).
    """
    geom_doc = _geometry_member(doc)
    coords = geom_doc.get("coordinates")
    if geom_doc["type"] == "Polygon":
        count = _check_polygon(coords, "Polygon")
    else:
        if not isinstance(coords, list) or not coords:
            raise GeometryError("MultiPolygon needs a list of polygons.")
        count = sum(_check_polygon(p, f"MultiPolygon part {i}") for i, p in enumerate(coords))
    if count > MAX_POSITIONS:
        raise GeometryError(f"The outline has {count} positions; simplify it to at most {MAX_POSITIONS}.")
    try:
        geom = shape(geom_doc)
    except (ValueError, TypeError, shapely.errors.ShapelyError) as exc:
        raise GeometryError(f"Not a readable outline: {exc}.") from None
    if not geom.is_valid:
        raise GeometryError(f"Invalid geometry: {explain_validity(geom)}.")
    if geom.is_empty or geom.area == 0:
        raise GeometryError("The outline encloses no area.")
    if not isinstance(geom, Polygon | MultiPolygon):
        raise GeometryError(f"A zone outline is a Polygon or MultiPolygon, not {geom.geom_type}.")
    return Outline(geom, _plain(mapping(geom)))


def _plain(obj):
    """Return ``obj`` with tuples as lists (shapely's mapping uses tuples; JSON has arrays)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def load(text: str) -> BaseGeometry:
    """Return the shapely geometry of a stored outline."""
    return shapely.from_geojson(text)


def point(lat: float, lon: float) -> BaseGeometry:
    return shapely.Point(lon, lat)


def smallest_containing(lat: float, lon: float, outlines: Iterable[tuple[int, str]]) -> int | None:
    """Return the id of the zone whose outline covers the point, or ``None``.

    ``outlines`` are ``(zone_id, geojson_text)``. Points on an edge count as
    inside. Where outlines overlap, the smallest zone (the most specific
    place) wins, then the lowest id, so placement never depends on row order.
    """
    p = point(lat, lon)
    best: tuple[float, int] | None = None
    for zone_id, text in outlines:
        geom = load(text)
        if geom.covers(p):
            key = (geom.area, zone_id)
            if best is None or key < best:
                best = key
    return best[1] if best else None


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the great-circle (haversine) distance between two points in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def box_around(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """Return ``(min_lat, max_lat, min_lon, max_lon)`` of a box containing the circle (a cheap SQL prefilter)."""
    dlat = radius_m / METRES_PER_DEGREE
    dlon = radius_m / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 1e-6))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def area_km2(geom: BaseGeometry) -> float:
    """Return the outline's area in km², projected equal-area around its centroid (good to ~0.1 % at a city's scale)."""
    c = geom.centroid
    k = METRES_PER_DEGREE / 1000
    scaled = shapely.transform(geom, lambda xy: xy * [k * math.cos(math.radians(c.y)), k])
    return float(scaled.area)
