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

sys.dont_write_bytecode = True
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
         tags=(), attachment=None, fmt="MJPG", captures=CAPTURES, start=FIRST_USEC, drops=None, custom=False,
         imu_lead=FIRST_USEC - IMU_FIRST_USEC):
    return dict(color=color, depth=depth, fps=fps, imu=imu, sync=sync, depth_delay=depth_delay,
                sub_delay=sub_delay, tags=tags, attachment=attachment, fmt=fmt, captures=captures, start=start,
                drops=drops or (lambda i: (False, False)), custom=custom, imu_lead=imu_lead)


COLOR_SIZE = {"720P": (1280, 720), "1080P": (1920, 1080), "1536P": (2048, 1536), "3072P": (4096, 3072)}
BYTES_PER_PIXEL = {"NV12": 1.5, "YUY2": 2, "BGRA32": 4}


MODES = {
    "color_only": mode(color="720P"),
    "depth_only": mode(depth="NFOV_UNBINNED"),
    "imu_only": mode(imu=True),
    "full_5fps": mode(color="720P", depth="NFOV_UNBINNED", fps="5", imu=True),
    "full_15fps": mode(color="720P", depth="NFOV_UNBINNED", fps="15", imu=True),
    "full_30fps": mode(color="720P", depth="NFOV_UNBINNED", fps="30", imu=True, depth_delay=-80,
                       tags=(("K4SYNC_RIG", "bench"),), attachment=b'{"CalibrationInformation":{}}'),
    "master": mode(color="720P", depth="NFOV_2X2BINNED", imu=True, sync="MASTER"),
    "subordinate": mode(color="720P", depth="NFOV_UNBINNED", imu=True, sync="SUBORDINATE", depth_delay=-80,
                        sub_delay=160),
    "passive_ir_nv12_15fps": mode(color="720P", fmt="NV12", depth="PASSIVE_IR", fps="15", imu=True, captures=3),
    "bgra_1536p_wfov_binned": mode(color="1536P", fmt="BGRA32", depth="WFOV_2X2BINNED", captures=2),
    "yuy2_720p_wfov_unbinned_5fps": mode(color="720P", fmt="YUY2", depth="WFOV_UNBINNED", fps="5", captures=3),
    "drops_2s": mode(color="720P", depth="NFOV_2X2BINNED", imu=True, depth_delay=-160, captures=70,
                     drops=lambda i: (i % 7 == 3, i % 5 == 1)),
    "device_time_beyond_2_32_usec": mode(color="720P", depth="NFOV_2X2BINNED", imu=True, captures=6,
                                         start=4_400_000_000),
    "custom_tracks": mode(color="720P", imu=True, custom=True),
    # k4arecorder drains the SDK's IMU queue (833 samples) after its first capture.
    "imu_lead_833_samples": mode(color="720P", depth="NFOV_2X2BINNED", imu=True, captures=6, start=2_000_000,
                                 imu_lead=833 * IMU_PERIOD_USEC),
}


def write(path, m):  # noqa: C901 (one linear script per mode)
    k4a, rec = k.load()
    cfg = k.DeviceConfiguration(
        color_format=k.FORMAT[m["fmt"]],
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
        if m["custom"]:
            vs = k.VideoSettings(width=16, height=8, frame_rate=30)
            k.check(rec.k4a_record_add_custom_video_track(h, b"EXTRA_VIDEO", b"V_MPEG4/ISO/AVC", None, 0,
                                                          ctypes.byref(vs)), "add_custom_video_track")
            ss = k.SubtitleSettings(high_freq_data=True)
            k.check(rec.k4a_record_add_custom_subtitle_track(h, b"EXTRA_DATA", b"S_K4A/TEST", None, 0,
                                                             ctypes.byref(ss)), "add_custom_subtitle_track")
        k.check(rec.k4a_record_write_header(h), "k4a_record_write_header")

        period = PERIOD_USEC[m["fps"]]
        next_imu = m["start"] - m["imu_lead"]
        for i in range(m["captures"]):
            colour_ts = m["start"] + i * period
            drop_colour, drop_depth = m["drops"](i)
            if m["custom"]:
                blob = (ctypes.c_uint8 * 12).from_buffer_copy(bytes(range(12)))
                for name, ts in ((b"EXTRA_VIDEO", colour_ts + 10), (b"EXTRA_DATA", colour_ts + 20_000)):
                    k.check(rec.k4a_record_write_custom_track_data(h, name, ts, blob, 12), "write_custom_track_data")
            while m["imu"] and next_imu <= colour_ts:
                s = k.ImuSample(temperature=30.0, acc_sample=k.Float3(0.0, 9.81, float(i)),
                                acc_timestamp_usec=next_imu, gyro_sample=k.Float3(0.25, -0.5, 1.0),
                                gyro_timestamp_usec=next_imu + 1)
                k.check(rec.k4a_record_write_imu_sample(h, s), "k4a_record_write_imu_sample")
                next_imu += IMU_PERIOD_USEC
            cap = ctypes.c_void_p()
            k.check(k4a.k4a_capture_create(ctypes.byref(cap)), "k4a_capture_create")
            if m["color"] != "OFF" and not drop_colour:
                w, hgt = COLOR_SIZE[m["color"]]
                img = ctypes.c_void_p()
                if m["fmt"] == "MJPG":
                    buf = (ctypes.c_uint8 * len(JPEG)).from_buffer_copy(JPEG)
                    keep.append(buf)
                    k.check(k4a.k4a_image_create_from_buffer(k.FORMAT["MJPG"], w, hgt, 0, buf, len(JPEG), None,
                                                             None, ctypes.byref(img)),
                            "k4a_image_create_from_buffer(MJPG)")
                else:
                    stride = {"NV12": w, "YUY2": w * 2, "BGRA32": w * 4}[m["fmt"]]
                    k.check(k4a.k4a_image_create(k.FORMAT[m["fmt"]], w, hgt, stride, ctypes.byref(img)),
                            f"k4a_image_create({m['fmt']})")
                k4a.k4a_image_set_device_timestamp_usec(img, colour_ts)
                k4a.k4a_capture_set_color_image(cap, img)
                k4a.k4a_image_release(img)
            if m["depth"] != "OFF" and not drop_depth:
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
