"""Base data files: GeoJSON, ESRI Shapefile (pyshp) and CSV with lon/lat, read into
`gateway.gis.features.RawFeature`s and written for the demo."""
