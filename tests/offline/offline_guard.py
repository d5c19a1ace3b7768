"""Offline guard: refuse every network connection that does not stay on this machine.

The tests put this folder on PYTHONPATH, so Python imports it (through sitecustomize.py) at
start-up of every notebook kernel and subprocess they launch; conftest.py imports it in the
pytest process: a notebook or a library that tries to
download anything fails loudly instead of quietly depending on the network. Loopback stays
open (Jupyter kernels, torchrun's rendezvous and gloo use it).
"""

import ipaddress
import socket

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


class NetworkBlocked(OSError):
    """A test tried to reach the network; the course must run offline."""


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # a Unix socket path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: not offline


def _guarded(original):
    def connect(self, address):
        if not _is_local(address):
            raise NetworkBlocked(f"network access blocked in tests: connect to {address!r}; "
                                 "the course must run offline (ship data in data/)")
        return original(self, address)

    return connect


socket.socket.connect = _guarded(_connect)
socket.socket.connect_ex = _guarded(_connect_ex)
