"""Adapters: one package per outside system (MQTT, storage, Asterisk, ONVIF, RTSP, ...)."""
