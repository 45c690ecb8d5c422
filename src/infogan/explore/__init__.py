"""Discovery tools over a trained run: the web explorer (server.py) and folder clustering (cluster.py)."""

from .server import Explorer, RequestError, make_server

__all__ = ["Explorer", "RequestError", "make_server"]
