"""The HTTP routes, one module per audience: citizens, agencies, pinning, analysis, OGC,
health and the web pages.

Routes only translate HTTP to the domain packages and back; no SQL here, and no router
imports another (shared response helpers live in ``locator.api``).
"""
