"""Reads every image and IMU sample of a recording with Microsoft's playback library
(libk4arecord 1.4.2) and prints them as one JSON object, for tests that compare content:

  {"ok": true,
   "images": [{"stream": "color"|"depth"|"ir", "format": "DEPTH16"…, "width", "height",
               "ts_usec", "size", "crc32"}…]   (capture order, colour/depth/IR within a capture)
   "imu": [[acc_ts_usec, gyro_ts_usec, ax, ay, az, gx, gy, gz]…]}

crc32 is zlib's CRC-32 of the image buffer as the library hands it out (DEPTH16/IR16
little-endian). A failure prints {"ok": false, "error": ...} and exits 1.

usage: official_images.py FILE.mkv
"""

import ctypes
import json
import os
import sys
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import k4a_ctypes as k  # noqa: E402


def images(k4a, rec, pb):
    getters = [
        ("color", k4a.k4a_capture_get_color_image),
        ("depth", k4a.k4a_capture_get_depth_image),
        ("ir", k4a.k4a_capture_get_ir_image),
    ]
    out = []
    while True:
        cap = ctypes.c_void_p()
        r = rec.k4a_playback_get_next_capture(pb, ctypes.byref(cap))
        if r == k.K4A_STREAM_RESULT_EOF:
            return out
        if r != k.K4A_STREAM_RESULT_SUCCEEDED:
            raise RuntimeError(f"k4a_playback_get_next_capture failed after {len(out)} images")
        for stream, get in getters:
            img = get(cap)
            if not img:
                continue
            size = k4a.k4a_image_get_size(img)
            data = ctypes.string_at(k4a.k4a_image_get_buffer(img), size)
            out.append({
                "stream": stream,
                "format": k.enum_name(k.IMAGE_FORMATS, k4a.k4a_image_get_format(img)),
                "width": k4a.k4a_image_get_width_pixels(img),
                "height": k4a.k4a_image_get_height_pixels(img),
                "ts_usec": k4a.k4a_image_get_device_timestamp_usec(img),
                "size": size,
                "crc32": zlib.crc32(data),
            })
            k4a.k4a_image_release(img)
        k4a.k4a_capture_release(cap)


def imu(rec, pb):
    out = []
    sample = k.ImuSample()
    while True:
        r = rec.k4a_playback_get_next_imu_sample(pb, ctypes.byref(sample))
        if r == k.K4A_STREAM_RESULT_EOF:
            return out
        if r != k.K4A_STREAM_RESULT_SUCCEEDED:
            raise RuntimeError(f"k4a_playback_get_next_imu_sample failed after {len(out)} samples")
        a, g = sample.acc_sample, sample.gyro_sample
        out.append([sample.acc_timestamp_usec, sample.gyro_timestamp_usec,
                    a.x, a.y, a.z, g.x, g.y, g.z])


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out_stream = k.json_stdout()
    try:
        k4a, rec = k.load()
        pb = ctypes.c_void_p()
        k.check(rec.k4a_playback_open(argv[0].encode(), ctypes.byref(pb)), f"k4a_playback_open({argv[0]})")
        try:
            result = {"ok": True, "images": images(k4a, rec, pb), "imu": imu(rec, pb)}
        finally:
            rec.k4a_playback_close(pb)
    except Exception as e:  # the harness wants a JSON answer either way
        out_stream.write(json.dumps({"ok": False, "error": str(e)}) + "\n")
        return 1
    out_stream.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
