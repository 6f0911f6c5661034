"""Captures the hb beats an interface sends, and replays them later, over AF_PACKET.

Run inside a node's namespace (`ip netns exec NS python3 beat_capture.py ...`):

  capture IFACE FILE SECONDS   every outgoing Ethernet frame carrying a UDP datagram to port 4098
                               whose payload starts with hb's magic, for SECONDS; prints the count
  replay IFACE FILE [GAP_MS]   sends those frames out of IFACE again, byte for byte, GAP_MS apart

The replayed frames are exactly what the sender put on the wire (the lab turns off checksum
offload), so a receiver sees the old beats from the right address, port and MAC: only hb's own
replay protection (sequence window, incarnation) can reject them.
"""

from __future__ import annotations

import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
HB_PORT = 4098
HB_MAGIC = b"HB"


def is_beat(frame: bytes) -> bool:
    """An IPv4/UDP frame to the heartbeat port carrying an hb message."""
    if len(frame) < 14 + 20 + 8 + 2 or frame[12:14] != b"\x08\x00":
        return False
    header_length = (frame[14] & 0x0F) * 4
    if frame[14 + 9] != 17:  # UDP
        return False
    udp = 14 + header_length
    destination_port = struct.unpack("!H", frame[udp + 2:udp + 4])[0]
    return destination_port == HB_PORT and frame[udp + 8:udp + 10] == HB_MAGIC


def capture(interface: str, path: str, seconds: float) -> None:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((interface, 0))
    sock.settimeout(0.05)
    frames = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            frame, address = sock.recvfrom(65536)
        except socket.timeout:
            continue
        if address[2] == PACKET_OUTGOING and is_beat(frame):
            frames.append(frame)
    with open(path, "wb") as out:
        for frame in frames:
            out.write(struct.pack("!I", len(frame)) + frame)
    print(len(frames), flush=True)


def replay(interface: str, path: str, gap_ms: float) -> None:
    with open(path, "rb") as source:
        data = source.read()
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((interface, 0))
    at = sent = 0
    while at < len(data):
        (length,) = struct.unpack("!I", data[at:at + 4])
        sock.send(data[at + 4:at + 4 + length])
        at += 4 + length
        sent += 1
        time.sleep(gap_ms / 1000)
    print(sent, flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "capture":
        capture(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "replay":
        replay(sys.argv[2], sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 1.0)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
