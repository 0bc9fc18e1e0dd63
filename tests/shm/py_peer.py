#!/usr/bin/env python3
"""The Python side of the shared-memory interop tests.

  py_peer.py read NAME     open the topos segment NAME (with or without its
                           leading '/') through multiprocessing.shared_memory,
                           check the topos header and the test pattern, and
                           write b"from python" at user offset 8192
  py_peer.py create NAME SIZE
                           create a plain segment (no topos header) of SIZE
                           bytes holding (i * 13 + 1) & 0xff at byte i, and
                           leave it for the test to open and remove

Python's resource tracker would unlink the segments at exit: track=False
(Python 3.13+) or unregistering (older Pythons) keeps it out of the way.
Exit status 0 when every check held.
"""
import struct
import sys
from multiprocessing import resource_tracker, shared_memory

MAGIC = 0x31534F504F544F54  # "TOTOPOS1"
HEADER = struct.Struct("<QIIQiB")  # magic, version, header bytes, user size, creator pid, api


def attach(name, create=False, size=0):
    try:
        return shared_memory.SharedMemory(name=name, create=create, size=size, track=False)
    except TypeError:  # before 3.13: no track argument
        shm = shared_memory.SharedMemory(name=name, create=create, size=size)
        resource_tracker.unregister(shm._name, "shared_memory")  # pylint: disable=protected-access
        return shm


def read(name):
    shm = attach(name.lstrip("/"))
    buf = shm.buf
    magic, version, header_bytes, user_size, pid, api = HEADER.unpack_from(buf, 0)
    ok = magic == MAGIC and version == 1 and header_bytes == 4096 and api == 0 and pid > 0
    ok = ok and len(buf) >= header_bytes + user_size and user_size >= 8192 + 11
    stored_name = bytes(buf[32:32 + 256]).split(b"\0", 1)[0].decode()
    ok = ok and stored_name == "/" + name.lstrip("/")
    if ok:
        user = buf[header_bytes:header_bytes + user_size]
        ok = all(user[i] == (i * 7 + 3) & 0xFF for i in range(8192))
        user[8192:8192 + 11] = b"from python"
        user.release()
    else:
        print(f"bad header: magic={magic:#x} version={version} header={header_bytes} size={user_size} "
              f"pid={pid} api={api} name={stored_name!r} len={len(buf)}", file=sys.stderr)
    del buf
    shm.close()
    return 0 if ok else 1


def create(name, size):
    shm = attach(name.lstrip("/"), create=True, size=size)
    buf = shm.buf
    buf[:size] = bytes((i * 13 + 1) & 0xFF for i in range(size))
    del buf
    shm.close()
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "read":
        return read(argv[2])
    if len(argv) == 4 and argv[1] == "create":
        return create(argv[2], int(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
