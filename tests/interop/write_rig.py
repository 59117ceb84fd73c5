"""Writes one recording per device of a simulated rig with Microsoft's recorder API (libk4arecord
1.4.2) and no device: k4a_record_create(path, NULL, config), write_header, then one
k4a_record_write_capture per capture in the order given (the order the device delivered them),
flush and close. Payloads are tiny (a 22-byte JPEG, 8-byte DEPTH16/IR16 buffers): `k4sync align`
reads only block headers, and the files stay small. With "full_payloads": true a device gets
full-size DEPTH16/IR16 images and a 200 kB JPEG-framed colour blob instead (for measuring how much
of a realistic file align reads).

usage: write_rig.py SPEC.json
SPEC: {"devices": [{"path", "fps": "30", "color": "720P"|"OFF", "depth": "NFOV_2X2BINNED"|"OFF",
        "sync": "MASTER"|"SUBORDINATE", "sub_delay": usec, "depth_delay": usec,
        "captures": [[colour_ts_usec | null, depth_ts_usec | null], ...], "full_payloads": false}, ...]}
prints {"written": [path, ...]} as JSON.
"""

import ctypes
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import k4a_ctypes as k  # noqa: E402

JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")
COLOR_SIZE = {"720P": (1280, 720)}
DEPTH_SIZE = {"NFOV_2X2BINNED": (320, 288), "NFOV_UNBINNED": (640, 576)}
TINY = bytes(range(8))


def image(k4a, fmt, size, payload, ts, keep):
    buf = (ctypes.c_uint8 * len(payload)).from_buffer_copy(payload)
    keep.append(buf)
    img = ctypes.c_void_p()
    w, h = size
    stride = 0 if fmt == "MJPG" else w * 2
    k.check(k4a.k4a_image_create_from_buffer(k.FORMAT[fmt], w, h, stride, buf, len(payload), None, None,
                                             ctypes.byref(img)), f"k4a_image_create_from_buffer({fmt})")
    k4a.k4a_image_set_device_timestamp_usec(img, ts)
    return img


def write(k4a, rec, d):
    cfg = k.DeviceConfiguration(
        color_format=k.FORMAT["MJPG"],
        color_resolution=k.COLOR_RESOLUTIONS.index(d["color"]),
        depth_mode=k.DEPTH_MODES.index(d["depth"]),
        camera_fps=k.FPS.index(d["fps"]),
        synchronized_images_only=False,
        depth_delay_off_color_usec=d["depth_delay"],
        wired_sync_mode=k.SYNC_MODES.index(d["sync"]),
        subordinate_delay_off_master_usec=d["sub_delay"],
        disable_streaming_indicator=False,
    )
    h = ctypes.c_void_p()
    k.check(rec.k4a_record_create(d["path"].encode(), None, cfg, ctypes.byref(h)), "k4a_record_create")
    keep = []
    full = d.get("full_payloads", False)
    colour_payload = JPEG[:2] + bytes(200_000) + JPEG[-2:] if full else JPEG
    w, hgt = DEPTH_SIZE.get(d["depth"], (0, 0))
    depth_payload = bytes(range(256)) * (w * hgt * 2 // 256) if full else TINY
    try:
        k.check(rec.k4a_record_write_header(h), "k4a_record_write_header")
        for colour_ts, depth_ts in d["captures"]:
            cap = ctypes.c_void_p()
            k.check(k4a.k4a_capture_create(ctypes.byref(cap)), "k4a_capture_create")
            if colour_ts is not None:
                img = image(k4a, "MJPG", COLOR_SIZE[d["color"]], colour_payload, colour_ts, keep)
                k4a.k4a_capture_set_color_image(cap, img)
                k4a.k4a_image_release(img)
            if depth_ts is not None:
                for fmt, setter in (("DEPTH16", k4a.k4a_capture_set_depth_image),
                                    ("IR16", k4a.k4a_capture_set_ir_image)):
                    img = image(k4a, fmt, DEPTH_SIZE[d["depth"]], depth_payload, depth_ts, keep)
                    setter(cap, img)
                    k4a.k4a_image_release(img)
            k.check(rec.k4a_record_write_capture(h, cap), "k4a_record_write_capture")
            k4a.k4a_capture_release(cap)
        k.check(rec.k4a_record_flush(h), "k4a_record_flush")
    finally:
        rec.k4a_record_close(h)
    del keep


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        spec = json.load(f)
    out_stream = k.json_stdout()
    k4a, rec = k.load()
    for d in spec["devices"]:
        write(k4a, rec, d)
    print(json.dumps({"written": [d["path"] for d in spec["devices"]]}), file=out_stream)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
