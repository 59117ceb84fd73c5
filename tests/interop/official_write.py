"""Writes recordings with Microsoft's recorder API (libk4arecord 1.4.2) and no device: for each mode
k4a_record_create(path, NULL, config), user tags and optionally an attachment, the IMU track,
write_header, then synthetic captures (images made with k4a_image_create / _from_buffer, chosen
device timestamps) and IMU samples, flush and close.

Capture i has colour at FIRST_USEC + i * period and depth/IR at that time plus the configured
depth delay; IMU samples run every IMU_PERIOD_USEC from IMU_FIRST_USEC up to the last capture.

usage: official_write.py OUTDIR [MODE]...   (no MODE = every mode)
prints {"MODE": "OUTDIR/MODE.mkv", ...} as JSON.
"""

import ctypes
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import k4a_ctypes as k  # noqa: E402

FIRST_USEC = 1_000_000
IMU_FIRST_USEC = 999_500
IMU_PERIOD_USEC = 1250
CAPTURES = 12
PERIOD_USEC = {"5": 200_000, "15": 66_666, "30": 33_333}
DEPTH_SIZE = {"NFOV_UNBINNED": (640, 576), "NFOV_2X2BINNED": (320, 288), "WFOV_2X2BINNED": (512, 512),
              "WFOV_UNBINNED": (1024, 1024), "PASSIVE_IR": (1024, 1024)}
# A minimal well-formed JPEG stream: SOI, APP0/JFIF, EOI.
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")


def mode(color="OFF", depth="OFF", fps="30", imu=False, sync="STANDALONE", depth_delay=0, sub_delay=0,
         tags=(), attachment=None):
    return dict(color=color, depth=depth, fps=fps, imu=imu, sync=sync, depth_delay=depth_delay,
                sub_delay=sub_delay, tags=tags, attachment=attachment)


MODES = {
    "color_only": mode(color="720P"),
    "depth_only": mode(depth="NFOV_UNBINNED"),
    "full_5fps": mode(color="720P", depth="NFOV_UNBINNED", fps="5", imu=True),
    "full_15fps": mode(color="720P", depth="NFOV_UNBINNED", fps="15", imu=True),
    "full_30fps": mode(color="720P", depth="NFOV_UNBINNED", fps="30", imu=True, depth_delay=-80,
                       tags=(("K4SYNC_RIG", "bench"),), attachment=b'{"CalibrationInformation":{}}'),
    "master": mode(color="720P", depth="NFOV_2X2BINNED", imu=True, sync="MASTER"),
    "subordinate": mode(color="720P", depth="NFOV_UNBINNED", imu=True, sync="SUBORDINATE", depth_delay=-80,
                        sub_delay=160),
}


def write(path, m):
    k4a, rec = k.load()
    cfg = k.DeviceConfiguration(
        color_format=k.FORMAT["MJPG"],
        color_resolution=k.COLOR_RESOLUTIONS.index(m["color"]),
        depth_mode=k.DEPTH_MODES.index(m["depth"]),
        camera_fps=k.FPS.index(m["fps"]),
        synchronized_images_only=False,
        depth_delay_off_color_usec=m["depth_delay"],
        wired_sync_mode=k.SYNC_MODES.index(m["sync"]),
        subordinate_delay_off_master_usec=m["sub_delay"],
        disable_streaming_indicator=False,
    )
    h = ctypes.c_void_p()
    k.check(rec.k4a_record_create(path.encode(), None, cfg, ctypes.byref(h)), "k4a_record_create")
    keep = []
    try:
        for name, value in m["tags"]:
            k.check(rec.k4a_record_add_tag(h, name.encode(), value.encode()), "k4a_record_add_tag")
        if m["attachment"] is not None:
            data = (ctypes.c_uint8 * len(m["attachment"])).from_buffer_copy(m["attachment"])
            k.check(rec.k4a_record_add_attachment(h, b"calibration.json", data, len(m["attachment"])),
                    "k4a_record_add_attachment")
        if m["imu"]:
            k.check(rec.k4a_record_add_imu_track(h), "k4a_record_add_imu_track")
        k.check(rec.k4a_record_write_header(h), "k4a_record_write_header")

        period = PERIOD_USEC[m["fps"]]
        next_imu = IMU_FIRST_USEC
        for i in range(CAPTURES):
            colour_ts = FIRST_USEC + i * period
            while m["imu"] and next_imu <= colour_ts:
                s = k.ImuSample(temperature=30.0, acc_sample=k.Float3(0.0, 9.81, float(i)),
                                acc_timestamp_usec=next_imu, gyro_sample=k.Float3(0.25, -0.5, 1.0),
                                gyro_timestamp_usec=next_imu + 1)
                k.check(rec.k4a_record_write_imu_sample(h, s), "k4a_record_write_imu_sample")
                next_imu += IMU_PERIOD_USEC
            cap = ctypes.c_void_p()
            k.check(k4a.k4a_capture_create(ctypes.byref(cap)), "k4a_capture_create")
            if m["color"] != "OFF":
                w, hgt = {"720P": (1280, 720)}[m["color"]]
                buf = (ctypes.c_uint8 * len(JPEG)).from_buffer_copy(JPEG)
                keep.append(buf)
                img = ctypes.c_void_p()
                k.check(k4a.k4a_image_create_from_buffer(k.FORMAT["MJPG"], w, hgt, 0, buf, len(JPEG), None, None,
                                                         ctypes.byref(img)), "k4a_image_create_from_buffer(MJPG)")
                k4a.k4a_image_set_device_timestamp_usec(img, colour_ts)
                k4a.k4a_capture_set_color_image(cap, img)
                k4a.k4a_image_release(img)
            if m["depth"] != "OFF":
                w, hgt = DEPTH_SIZE[m["depth"]]
                for fmt, setter, salt in (("DEPTH16", k4a.k4a_capture_set_depth_image, 0),
                                          ("IR16", k4a.k4a_capture_set_ir_image, 0x55)):
                    if fmt == "DEPTH16" and m["depth"] == "PASSIVE_IR":
                        continue
                    img = ctypes.c_void_p()
                    k.check(k4a.k4a_image_create(k.FORMAT[fmt], w, hgt, w * 2, ctypes.byref(img)),
                            f"k4a_image_create({fmt})")
                    n = k4a.k4a_image_get_size(img)
                    ctypes.memmove(k4a.k4a_image_get_buffer(img), bytes((j + i + salt) & 0xFF for j in range(256))
                                   * (n // 256), n - n % 256)
                    k4a.k4a_image_set_device_timestamp_usec(img, colour_ts + m["depth_delay"])
                    setter(cap, img)
                    k4a.k4a_image_release(img)
            k.check(rec.k4a_record_write_capture(h, cap), "k4a_record_write_capture")
            k4a.k4a_capture_release(cap)
        k.check(rec.k4a_record_flush(h), "k4a_record_flush")
    finally:
        rec.k4a_record_close(h)
    del keep


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir, names = argv[0], argv[1:] or list(MODES)
    out_stream = k.json_stdout()
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    for name in names:
        path = os.path.join(out_dir, name + ".mkv")
        write(path, MODES[name])
        written[name] = path
    print(json.dumps(written), file=out_stream)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
