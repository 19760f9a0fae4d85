"""Geography of the managed area: unit grids, management areas, components, and the
point -> grid index (CJ/T 213/214 "unit grid + components/events").

Pure domain: shapely and pyproj are geometry libraries used here like numpy; reading
files and storing features are the adapters' work (``adapters/gis``).
"""
