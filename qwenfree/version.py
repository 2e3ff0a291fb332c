"""The release this code is (pages, ``/api/status``, ``/openapi.json``): a leaf, so whatever
shows it imports no more than this."""

__version__ = "0.1.0"
