"""ONVIF cameras (onvif-zeep-async, WSDiscovery)."""
