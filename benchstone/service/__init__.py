"""The harness service: a second Unix user that owns the state directory and the Docker
connection, and the client that ``bench`` and the Python API become when one is configured.

``protocol`` (frames over a Unix socket), ``peers`` (who is on the other end), ``client``,
``server``, ``mirrors`` (commits fetched from a bundle), ``install`` (the user, group and
directories). See docs/service.md.
"""
