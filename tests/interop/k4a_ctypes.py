"""ctypes binding of Microsoft's libk4a / libk4arecord 1.4.2 as shipped in the PyPI wheel
pyk4a-bundle==1.5.0 (docs/testing.md, "Interop with Microsoft's library").

Only what the interop helpers need: playback (official_readout.py) and the recorder API
(official_write.py). Struct layouts and enum values follow the documented public k4a 1.4 API
(k4atypes.h / record/types.h); the wheel ships no headers, so they are written out here.

`python k4a_ctypes.py --check` loads both libraries and exits 0, the venv script's readiness probe.
"""

import ctypes
import glob
import os
import sys

# k4a_result_t / k4a_buffer_result_t / k4a_stream_result_t
K4A_RESULT_SUCCEEDED = 0
K4A_BUFFER_RESULT_SUCCEEDED = 0
K4A_BUFFER_RESULT_TOO_SMALL = 2
K4A_STREAM_RESULT_SUCCEEDED = 0
K4A_STREAM_RESULT_FAILED = 1
K4A_STREAM_RESULT_EOF = 2

# k4a_image_format_t
IMAGE_FORMATS = ["MJPG", "NV12", "YUY2", "BGRA32", "DEPTH16", "IR16", "CUSTOM8", "CUSTOM16", "CUSTOM"]
FORMAT = {name: i for i, name in enumerate(IMAGE_FORMATS)}
# k4a_color_resolution_t
COLOR_RESOLUTIONS = ["OFF", "720P", "1080P", "1440P", "1536P", "2160P", "3072P"]
# k4a_depth_mode_t
DEPTH_MODES = ["OFF", "NFOV_2X2BINNED", "NFOV_UNBINNED", "WFOV_2X2BINNED", "WFOV_UNBINNED", "PASSIVE_IR"]
# k4a_fps_t
FPS = ["5", "15", "30"]
# k4a_wired_sync_mode_t
SYNC_MODES = ["STANDALONE", "MASTER", "SUBORDINATE"]


def enum_name(names, value):
    return names[value] if 0 <= value < len(names) else str(value)


class Float3(ctypes.Structure):
    _fields_ = [("x", ctypes.c_float), ("y", ctypes.c_float), ("z", ctypes.c_float)]


class DeviceConfiguration(ctypes.Structure):
    """k4a_device_configuration_t"""

    _fields_ = [
        ("color_format", ctypes.c_int),
        ("color_resolution", ctypes.c_int),
        ("depth_mode", ctypes.c_int),
        ("camera_fps", ctypes.c_int),
        ("synchronized_images_only", ctypes.c_bool),
        ("depth_delay_off_color_usec", ctypes.c_int32),
        ("wired_sync_mode", ctypes.c_int),
        ("subordinate_delay_off_master_usec", ctypes.c_uint32),
        ("disable_streaming_indicator", ctypes.c_bool),
    ]


class RecordConfiguration(ctypes.Structure):
    """k4a_record_configuration_t"""

    _fields_ = [
        ("color_format", ctypes.c_int),
        ("color_resolution", ctypes.c_int),
        ("depth_mode", ctypes.c_int),
        ("camera_fps", ctypes.c_int),
        ("color_track_enabled", ctypes.c_bool),
        ("depth_track_enabled", ctypes.c_bool),
        ("ir_track_enabled", ctypes.c_bool),
        ("imu_track_enabled", ctypes.c_bool),
        ("depth_delay_off_color_usec", ctypes.c_int32),
        ("wired_sync_mode", ctypes.c_int),
        ("subordinate_delay_off_master_usec", ctypes.c_uint32),
        ("start_timestamp_offset_usec", ctypes.c_uint32),
    ]


class ImuSample(ctypes.Structure):
    """k4a_imu_sample_t"""

    _fields_ = [
        ("temperature", ctypes.c_float),
        ("acc_sample", Float3),
        ("acc_timestamp_usec", ctypes.c_uint64),
        ("gyro_sample", Float3),
        ("gyro_timestamp_usec", ctypes.c_uint64),
    ]


class VideoSettings(ctypes.Structure):
    """k4a_record_video_settings_t"""

    _fields_ = [("width", ctypes.c_uint64), ("height", ctypes.c_uint64), ("frame_rate", ctypes.c_uint64)]


class SubtitleSettings(ctypes.Structure):
    """k4a_record_subtitle_settings_t"""

    _fields_ = [("high_freq_data", ctypes.c_bool)]


assert ctypes.sizeof(DeviceConfiguration) == 36
assert ctypes.sizeof(RecordConfiguration) == 36
assert ctypes.sizeof(ImuSample) == 48

HANDLE = ctypes.c_void_p
P_HANDLE = ctypes.POINTER(ctypes.c_void_p)


def libs_dir():
    """The wheel's `pyk4a_bundle.libs` directory in this interpreter's site-packages."""
    import site

    roots = list(site.getsitepackages()) + [site.getusersitepackages()] + sys.path
    for root in roots:
        d = os.path.join(root, "pyk4a_bundle.libs")
        if os.path.isdir(d):
            return d
    raise RuntimeError("pyk4a_bundle.libs not found: is pyk4a-bundle==1.5.0 installed?")


def _one(pattern):
    hits = sorted(glob.glob(os.path.join(libs_dir(), pattern)))
    if not hits:
        raise RuntimeError(f"{pattern} not found in {libs_dir()}")
    return hits[0]


def _sig(lib, name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


def load():
    """Loads libk4a (globally, so libk4arecord's dependency on it resolves) and libk4arecord."""
    k4a = ctypes.CDLL(_one("libk4a-*.so*"), mode=ctypes.RTLD_GLOBAL)
    rec = ctypes.CDLL(_one("libk4arecord-*.so*"), mode=ctypes.RTLD_GLOBAL)
    i, u32, u64, sz = ctypes.c_int, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_size_t
    cp, bp = ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint8)
    psz = ctypes.POINTER(ctypes.c_size_t)

    _sig(k4a, "k4a_capture_create", i, P_HANDLE)
    _sig(k4a, "k4a_capture_release", None, HANDLE)
    _sig(k4a, "k4a_capture_get_color_image", HANDLE, HANDLE)
    _sig(k4a, "k4a_capture_get_depth_image", HANDLE, HANDLE)
    _sig(k4a, "k4a_capture_get_ir_image", HANDLE, HANDLE)
    _sig(k4a, "k4a_capture_set_color_image", None, HANDLE, HANDLE)
    _sig(k4a, "k4a_capture_set_depth_image", None, HANDLE, HANDLE)
    _sig(k4a, "k4a_capture_set_ir_image", None, HANDLE, HANDLE)
    _sig(k4a, "k4a_image_create", i, i, i, i, i, P_HANDLE)
    _sig(k4a, "k4a_image_create_from_buffer", i, i, i, i, i, bp, sz, ctypes.c_void_p, ctypes.c_void_p, P_HANDLE)
    _sig(k4a, "k4a_image_get_buffer", bp, HANDLE)
    _sig(k4a, "k4a_image_get_size", sz, HANDLE)
    _sig(k4a, "k4a_image_get_format", i, HANDLE)
    _sig(k4a, "k4a_image_get_width_pixels", i, HANDLE)
    _sig(k4a, "k4a_image_get_height_pixels", i, HANDLE)
    _sig(k4a, "k4a_image_get_device_timestamp_usec", u64, HANDLE)
    _sig(k4a, "k4a_image_set_device_timestamp_usec", None, HANDLE, u64)
    _sig(k4a, "k4a_image_release", None, HANDLE)

    _sig(rec, "k4a_playback_open", i, cp, P_HANDLE)
    _sig(rec, "k4a_playback_close", None, HANDLE)
    _sig(rec, "k4a_playback_get_raw_calibration", i, HANDLE, bp, psz)
    _sig(rec, "k4a_playback_get_record_configuration", i, HANDLE, ctypes.POINTER(RecordConfiguration))
    _sig(rec, "k4a_playback_get_tag", i, HANDLE, cp, ctypes.c_char_p, psz)
    _sig(rec, "k4a_playback_get_track_count", sz, HANDLE)
    _sig(rec, "k4a_playback_get_track_name", i, HANDLE, sz, ctypes.c_char_p, psz)
    _sig(rec, "k4a_playback_track_is_builtin", ctypes.c_bool, HANDLE, cp)
    _sig(rec, "k4a_playback_track_get_video_settings", i, HANDLE, cp, ctypes.POINTER(VideoSettings))
    _sig(rec, "k4a_playback_get_next_capture", i, HANDLE, P_HANDLE)
    _sig(rec, "k4a_playback_get_next_imu_sample", i, HANDLE, ctypes.POINTER(ImuSample))
    _sig(rec, "k4a_playback_get_recording_length_usec", u64, HANDLE)

    _sig(rec, "k4a_record_create", i, cp, HANDLE, DeviceConfiguration, P_HANDLE)
    _sig(rec, "k4a_record_add_tag", i, HANDLE, cp, cp)
    _sig(rec, "k4a_record_add_imu_track", i, HANDLE)
    _sig(rec, "k4a_record_add_attachment", i, HANDLE, cp, bp, sz)
    _sig(rec, "k4a_record_add_custom_video_track", i, HANDLE, cp, cp, bp, sz, ctypes.POINTER(VideoSettings))
    _sig(rec, "k4a_record_add_custom_subtitle_track", i, HANDLE, cp, cp, bp, sz, ctypes.POINTER(SubtitleSettings))
    _sig(rec, "k4a_record_write_custom_track_data", i, HANDLE, cp, u64, bp, sz)
    _sig(rec, "k4a_record_write_header", i, HANDLE)
    _sig(rec, "k4a_record_write_capture", i, HANDLE, HANDLE)
    _sig(rec, "k4a_record_write_imu_sample", i, HANDLE, ImuSample)
    _sig(rec, "k4a_record_flush", i, HANDLE)
    _sig(rec, "k4a_record_close", None, HANDLE)
    del u32
    return k4a, rec


def json_stdout():
    """Moves fd 1 to stderr (the SDK logs to stdout) and returns a text stream on the real stdout,
    so that the helpers' JSON is the only thing on it."""
    real = os.dup(1)
    sys.stdout.flush()
    os.dup2(2, 1)
    return os.fdopen(real, "w")


def check(ok, what):
    if ok != K4A_RESULT_SUCCEEDED:
        raise RuntimeError(f"{what} failed (result {ok})")


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        load()
        print("ok")
    else:
        print(__doc__)
