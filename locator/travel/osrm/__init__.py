"""OSRM, the routing engine behind single routes and travel-time rankings.

``prepare`` turns an OpenStreetMap extract into OSRM's files (one folder per mode),
``engine`` runs ``osrm-routed`` on them (one process per mode, like the embedded
database), and ``client`` calls the running engines with a timeout and a fail-fast gate.
"""
