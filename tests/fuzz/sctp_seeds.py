#!/usr/bin/env python3
"""Writes the seeds of fuzz_sctp (see tests/fuzz/fuzz_sctp.c for the input).

The packets come from the unit test's exchange:

    VG_SCTP_CAPTURE=/tmp/cap build/asan/tests/sctp_test
    python3 tests/fuzz/sctp_seeds.py /tmp/cap tests/fuzz/corpus/sctp

which leaves one packet of each chunk type each side sent, A_chunk<type>.bin
and B_chunk<type>.bin (A the DTLS client). Each of B's packets is injected
into A in each state: before A starts, while it connects, up, shut down and
failed; the verification tag, ports, TSN and checksum fixed as the harness
offers.
"""
import os
import struct
import sys

START, STEP, RUN, TIME, INJECT = 4, 1, 2, 3, 0
OPEN, SEND, RAW, CLOSE, SHUTDOWN, CUT, FREE_B = 5, 6, 7, 8, 9, 10, 11
SIDE_B = 0x1
F_VTAG, F_CRC, F_FIX = 0x2, 0x4, 0x8  # op flags (high nibble)


def op(kind, flags=0):
    return bytes([kind | (flags << 4)])


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def start(side):
    return op(START, side)


def run():
    return op(RUN)


def time(ms):
    return op(TIME) + u16(ms)


def inject(side, flags, pkt):
    return op(INJECT, side | flags) + u16(len(pkt)) + pkt


def open_(side, label, ordered=True, lossy=False):
    fl = side | (0x2 if ordered else 0) | (0x4 if lossy else 0)
    return op(OPEN, fl) + bytes([len(label)]) + label


def send(side, sid, pick, data):
    return op(SEND, side) + u16(sid) + bytes([pick]) + u16(len(data)) + data


def raw(side, sid, ppid, data, unordered=False):
    fl = side | (0x2 if unordered else 0)
    return op(RAW, fl) + u16(sid) + u32(ppid) + u16(len(data)) + data


def close(side, sid):
    return op(CLOSE, side) + u16(sid)


def step(side, drop=False, twice=False, damage=None):
    fl = side | (0x2 if drop else 0) | (0x4 if twice else 0)
    out = b""
    if damage is not None:
        fl |= 0x8
        out = u16(damage[0]) + bytes([damage[1]])
    return op(STEP, fl) + out


def dcep_open(label, ctype=0, rel=0, proto=b""):
    return (bytes([3, ctype]) + u16(0) + u32(rel) + u16(len(label)) +
            u16(len(proto)) + label + proto)


MODE = bytes([1])  # A is the DTLS client
HANDSHAKE = start(0) + start(SIDE_B) + run()
CHANNELS = (open_(0, b"_reliable") + open_(0, b"_lossy", False, True) +
            open_(SIDE_B, b"_reliable") + open_(SIDE_B, b"_lossy", False, True) +
            run())
FIX = F_VTAG | F_CRC | F_FIX


CHUNK_NAMES = {0: "data", 1: "init", 2: "init_ack", 3: "sack", 4: "heartbeat",
               5: "heartbeat_ack", 6: "abort", 7: "shutdown",
               8: "shutdown_ack", 10: "cookie_echo", 11: "cookie_ack",
               14: "shutdown_complete", 130: "reconfig", 192: "forward_tsn"}


def seeds(pkts):
    out = {}
    out["handshake"] = MODE + HANDSHAKE + time(1000)
    out["handshake_server"] = bytes([0]) + HANDSHAKE
    out["handshake_lossy"] = (MODE + start(0) + start(SIDE_B) +
                              step(0, drop=True) + step(SIDE_B, twice=True) +
                              step(0, damage=(20, 0x40)) + run() +
                              time(1000) + run() + time(2000) + run())
    out["livekit"] = (MODE + HANDSHAKE + CHANNELS +
                      send(0, 0, 0, b"\x0a\x05hello") +
                      send(SIDE_B, 1, 0, b"\x0a\x05world") +
                      send(0, 2, 2, b"") + send(SIDE_B, 3, 1, b"text") +
                      run() + close(0, 0) + run() + close(SIDE_B, 2) +
                      run() + time(200) + run() + op(SHUTDOWN) + run())
    out["big_message"] = (bytes([1 | 4]) + HANDSHAKE + CHANNELS +
                          send(SIDE_B, 0, 0, bytes(range(256)) * 12) +
                          run() + time(100) + run())
    out["dcep_hostile"] = (MODE + HANDSHAKE + CHANNELS +
                           raw(SIDE_B, 5, 50, dcep_open(b"x" * 70)) +
                           raw(SIDE_B, 7, 50, dcep_open(b"ok", 0x81, 3)) +
                           raw(SIDE_B, 9, 50, dcep_open(b"t", 0x02, 500,
                                                        b"proto")) +
                           raw(SIDE_B, 4, 50, dcep_open(b"even")) +
                           raw(SIDE_B, 11, 50, b"\x03\x00") +
                           raw(SIDE_B, 13, 50, b"\x02") +
                           raw(SIDE_B, 1, 52, b"partial") +
                           raw(SIDE_B, 15, 53, b"nochannel") + run() +
                           time(100) + run())
    out["channel_flood"] = (bytes([1 | 2]) + HANDSHAKE +
                            b"".join(raw(SIDE_B, 2 * i + 1, 50,
                                         dcep_open(b"flood"))
                                     for i in range(8)) + run())
    out["link_lost"] = (MODE + HANDSHAKE + CHANNELS + op(CUT) +
                        send(0, 0, 0, b"lost") + time(60000) +
                        time(60000) + time(60000) + op(CUT) + run())
    out["peer_gone"] = (MODE + HANDSHAKE + CHANNELS + op(FREE_B) +
                        send(0, 0, 0, b"anyone") + time(5000) + run())

    theirs = sorted(k for k in pkts if k.startswith("B_"))
    for k in theirs:
        p = pkts[k]
        ctype = int(k[len("B_chunk"):-len(".bin")])
        name = CHUNK_NAMES.get(ctype, "chunk%d" % ctype)
        # A not started: the packet starts it.
        out["new_" + name] = MODE + inject(0, F_CRC, p) + run()
        # A's INIT out, B's not yet answered.
        out["connecting_" + name] = (MODE + start(0) +
                                     inject(0, FIX, p) + run())
        out["up_" + name] = (MODE + HANDSHAKE + CHANNELS +
                             inject(0, FIX, p) + run() + time(500) + run())
        out["closed_" + name] = (MODE + HANDSHAKE + op(SHUTDOWN) + run() +
                                 inject(0, FIX, p) + run())
        out["failed_" + name] = (MODE + HANDSHAKE + op(CUT) +
                                 send(0, 0, 0, b"x") + time(65535) +
                                 time(65535) + op(CUT) + inject(0, FIX, p) +
                                 run())
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: sctp_seeds.py CAPTURE_DIR OUT_DIR")
    cap, dst = sys.argv[1], sys.argv[2]
    pkts = {}
    for f in os.listdir(cap):
        if f.endswith(".bin"):
            with open(os.path.join(cap, f), "rb") as fh:
                pkts[f] = fh.read()
    os.makedirs(dst, exist_ok=True)
    for name, data in seeds(pkts).items():
        with open(os.path.join(dst, name), "wb") as fh:
            fh.write(data)


if __name__ == "__main__":
    main()
