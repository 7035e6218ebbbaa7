"""How a request reached the node: the client's address and whether the connection was encrypted."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from idnode.model.errors import InsecureChannel


@dataclass(frozen=True, slots=True)
class Channel:
    """The client's IP address as the front end determined it ("" when unknown) and whether its
    connection was encrypted (TLS here, or at a trusted proxy that said so)."""

    address: str
    encrypted: bool

    @property
    def loopback(self) -> bool:
        """Whether the client is on this machine (127.0.0.0/8, ::1, or ::ffff:127.x)."""
        try:
            ip = ipaddress.ip_address(self.address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback

    @property
    def private(self) -> bool:
        """Whether a secret sent on this channel stays between the client and the node: encrypted, or
        never leaving this machine."""
        return self.encrypted or self.loopback


def require_private(channel: Channel, required: bool) -> None:
    """Raise InsecureChannel when ``required`` (the ``require_tls_for_credentials`` policy) and a secret
    sent over ``channel`` would have crossed the network in the clear."""
    if required and not channel.private:
        raise InsecureChannel(
            "Credentials are accepted only over HTTPS (or from this machine): they would cross the "
            "network in the clear. Use the node's https:// address."
        )
