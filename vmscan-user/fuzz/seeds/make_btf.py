#!/usr/bin/env python3
"""Writes the BTF seed corpus (corpus/btf/): small hand-built BTF holding
every kind the parser reads and the shapes vmscan queries (struct folio's
fields inside anonymous unions and structs, bitfields, enums, enum64, a
function), plus damaged copies; and regressions/btf/: shapes that once hung or
panicked the parser's queries. No clang or pahole needed."""
import os
import struct

KIND = dict(INT=1, PTR=2, ARRAY=3, STRUCT=4, UNION=5, ENUM=6, FWD=7, TYPEDEF=8, VOLATILE=9,
            CONST=10, RESTRICT=11, FUNC=12, FUNC_PROTO=13, VAR=14, DATASEC=15, FLOAT=16,
            DECL_TAG=17, TYPE_TAG=18, ENUM64=19)


class Btf:
    def __init__(self):
        self.types, self.strings = b"", b"\0"

    def s(self, name):
        if not name:
            return 0
        off = self.strings.find(name.encode() + b"\0")
        if off <= 0:
            off = len(self.strings)
            self.strings += name.encode() + b"\0"
        return off

    def t(self, name, kind, size_or_type, vlen=0, kflag=0, extra=b""):
        info = (kflag << 31) | (KIND[kind] << 24) | vlen
        self.types += struct.pack("<III", self.s(name), info, size_or_type) + extra

    def members(self, ms):
        return b"".join(struct.pack("<III", self.s(n), t, off) for n, t, off in ms)

    def blob(self):
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(self.types), len(self.types), len(self.strings))
        return hdr + self.types + self.strings


def shapes():
    b = Btf()
    b.t("int", "INT", 4, extra=struct.pack("<I", 0x01000020))                      # 1
    b.t("long unsigned int", "INT", 8, extra=struct.pack("<I", 64))               # 2
    b.t("list_head", "STRUCT", 16, 2, extra=b.members([("next", 4, 0), ("prev", 4, 64)]))  # 3
    b.t("", "PTR", 3)                                                             # 4
    b.t("", "STRUCT", 24, 2, extra=b.members([("lru", 3, 0), ("mlock_count", 1, 128)]))    # 5
    b.t("", "UNION", 24, 1, extra=b.members([("", 5, 0)]))                        # 6
    b.t("folio", "STRUCT", 64, 4, extra=b.members([("flags", 2, 0), ("", 6, 64), ("mapping", 4, 256), ("memcg_data", 2, 320)]))  # 7
    b.t("folio_t", "TYPEDEF", 7)                                                  # 8
    b.t("", "CONST", 8)                                                           # 9
    b.t("", "ARRAY", 0, extra=struct.pack("<III", 2, 1, 4))                       # 10
    b.t("mem_cgroup", "STRUCT", 48, 2, extra=b.members([("id", 1, 0), ("stat", 10, 64)]))  # 11
    b.t("pageflags", "ENUM", 4, 2, extra=struct.pack("<Ii", b.s("PG_locked"), 0) + struct.pack("<Ii", b.s("PG_active"), 6))  # 12
    b.t("node_stat_item", "ENUM64", 8, 1, extra=struct.pack("<III", b.s("PGSCAN_PROACTIVE"), 40, 0))  # 13
    b.t("", "FUNC_PROTO", 1, 1, extra=struct.pack("<II", b.s("sc"), 4))            # 14
    b.t("shrink_node", "FUNC", 14, 1)                                             # 15
    b.t("x", "VAR", 1, extra=struct.pack("<I", 1))                                # 16
    b.t(".data", "DATASEC", 4, 1, extra=struct.pack("<III", 16, 0, 4))            # 17
    b.t("double", "FLOAT", 8)                                                     # 18
    b.t("tag", "DECL_TAG", 7, extra=struct.pack("<i", -1))                        # 19
    b.t("user", "TYPE_TAG", 4)                                                    # 20
    b.t("task_struct", "FWD", 0)                                                  # 21
    b.t("task_struct", "STRUCT", 32, 2, kflag=1, extra=b.members([("flags", 1, (32 << 24) | 0), ("mm", 4, 64)]))  # 22
    b.t("scan_control", "STRUCT", 8, 2, kflag=1, extra=b.members([("may_swap", 1, (1 << 24) | 3), ("proactive", 1, (1 << 24) | 7)]))  # 23
    b.t("", "VOLATILE", 1)                                                        # 24
    b.t("", "RESTRICT", 4)                                                        # 25
    return b.blob()


def self_nested(width):
    """A struct holding `width` anonymous members of its own type: a naive
    depth-limited search looks at width^depth types."""
    b = Btf()
    b.t("folio", "STRUCT", 8, width, extra=b.members([("", 1, 0)] * width))
    return b.blob()


def self_array():
    """An array whose element is itself, and a struct member of that type."""
    b = Btf()
    b.t("", "ARRAY", 0, extra=struct.pack("<III", 1, 1, 4))
    b.t("folio", "STRUCT", 8, 1, extra=b.members([("flags", 1, 0)]))
    return b.blob()


def overflowing_offsets():
    """Anonymous members whose bit offsets add up past u32."""
    b = Btf()
    b.t("int", "INT", 4, extra=struct.pack("<I", 32))
    b.t("", "STRUCT", 4, 1, extra=b.members([("flags", 1, 0xF0000000)]))
    b.t("folio", "STRUCT", 8, 1, extra=b.members([("", 2, 0xF0000000)]))
    return b.blob()


def regressions():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "regressions", "btf")
    os.makedirs(out, exist_ok=True)
    for name, data in {
        "self-nested-64.btf": self_nested(64),
        "self-array.btf": self_array(),
        "overflowing-offsets.btf": overflowing_offsets(),
    }.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus", "btf")
    os.makedirs(out, exist_ok=True)
    full = shapes()
    empty = Btf().blob()
    files = {
        "seed-shapes.btf": full,
        "seed-empty.btf": empty,
        "seed-truncated.btf": full[: len(full) // 2],
        "seed-bad-magic.btf": b"\x9f\xeb" + full[2:],
    }
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    regressions()


if __name__ == "__main__":
    main()
