/*
 * A stand-in for Microsoft's depth engine with the same plugin interface (docs/depth.md,
 * shared/reference/depth-engine.md), built by the tests with `cc -shared`. It lets the
 * conversion path run end to end without the closed engine, a GPU or a display.
 *
 * Output is deterministic from the input: output byte j = raw[j % raw_size] + (j % 251).
 * The centre of exposure is the raw frame's trailer timestamp (ticks at raw_size - 32) plus
 * K4SYNC_TEST_ENGINE_TICK_OFFSET ticks (default 90 = 1 ms), so a test can tell the engine's
 * time from the block's. Errors on request:
 *   K4SYNC_TEST_ENGINE_MAJOR         plugin major version to register with (default 2)
 *   K4SYNC_TEST_ENGINE_CREATE_RESULT create_and_initialize returns this code
 *   K4SYNC_TEST_ENGINE_FAIL_FRAME    0-based index of the process_frame call that fails...
 *   K4SYNC_TEST_ENGINE_FRAME_RESULT  ...with this code (default 105)
 *   K4SYNC_TEST_ENGINE_SLEEP_MS      sleep this long in every process_frame (interrupt tests)
 *   K4SYNC_TEST_ENGINE_COPY          "1": output = the first bytes of the input (a memcpy, for
 *                                    the benchmark of the code around the engine)
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    uint32_t major, minor, patch;
} version_t;

typedef struct {
    uint16_t output_width;
    uint16_t output_height;
    float sensor_temp;
    float laser_temp[2];
    uint64_t center_of_exposure_in_ticks;
    uint64_t usb_sof_tick;
} output_info_t;

typedef struct {
    int mode;
    size_t raw_size;
    uint16_t width, height;
    int images;
    long calls;
} context_t;

typedef struct {
    version_t version;
    void *create;
    void *process;
    void *size;
    void *destroy;
    void *transform[4];
} plugin_t;

static long env_long(const char *name, long fallback)
{
    const char *v = getenv(name);
    return (v && *v) ? strtol(v, NULL, 10) : fallback;
}

static int geometry(int mode, int input_format, context_t *c)
{
    switch (mode) {
    case 2: c->raw_size = 5310760; c->width = 320; c->height = 288; c->images = 2; break;
    case 3: c->raw_size = 1678024; c->width = 1024; c->height = 1024; c->images = 1; break;
    case 4: c->raw_size = 5310760; c->width = 640; c->height = 576; c->images = 2; break;
    case 5: c->raw_size = 9438664; c->width = 1024; c->height = 1024; c->images = 2; break;
    case 7: c->raw_size = 3777232; c->width = 512; c->height = 512; c->images = 2; break;
    default: return 102;
    }
    return input_format == (mode == 5 ? 4 : 3) ? 0 : 102;
}

static int create(void **ctx, size_t cal_size, void *cal, int mode, int input_format,
                  void *camera_calibration, void *callback, void *callback_context)
{
    (void)camera_calibration;
    (void)callback;
    (void)callback_context;
    long forced = env_long("K4SYNC_TEST_ENGINE_CREATE_RESULT", 0);
    if (forced != 0)
        return (int)forced;
    if (cal == NULL || cal_size < 4)
        return 103;
    context_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return 102;
    int r = geometry(mode, input_format, c);
    if (r != 0) {
        free(c);
        return r;
    }
    c->mode = mode;
    *ctx = c;
    return 0;
}

static size_t output_size(void *ctx)
{
    context_t *c = ctx;
    return (size_t)c->width * c->height * 2 * c->images;
}

static int process(void *ctx, void *input, size_t input_size, int output_type, void *output,
                   size_t out_size, output_info_t *info, void *input_info)
{
    (void)input_info;
    context_t *c = ctx;
    long call = c->calls++;
    long sleep_ms = env_long("K4SYNC_TEST_ENGINE_SLEEP_MS", 0);
    if (sleep_ms > 0) {
        struct timespec ts = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (call == env_long("K4SYNC_TEST_ENGINE_FAIL_FRAME", -1))
        return (int)env_long("K4SYNC_TEST_ENGINE_FRAME_RESULT", 105);
    if (input == NULL)
        return 4;
    if (output == NULL)
        return 5;
    if (input_size != c->raw_size)
        return 1;
    if (out_size != output_size(ctx))
        return 2;
    if (output_type != (c->mode == 3 ? 2 : 0))
        return 202;
    const uint8_t *in = input;
    uint8_t *out = output;
    if (env_long("K4SYNC_TEST_ENGINE_COPY", 0) == 1) {
        memcpy(out, in, out_size < input_size ? out_size : input_size);
    } else {
        for (size_t j = 0; j < out_size; j++)
            out[j] = (uint8_t)(in[j % input_size] + (j % 251));
    }
    uint64_t ticks;
    memcpy(&ticks, in + input_size - 32, sizeof ticks);
    memset(info, 0, sizeof *info);
    info->output_width = c->width;
    info->output_height = c->height;
    info->sensor_temp = 30.0f;
    info->center_of_exposure_in_ticks =
        ticks + (uint64_t)env_long("K4SYNC_TEST_ENGINE_TICK_OFFSET", 90);
    return 0;
}

static void destroy(void **ctx)
{
    if (ctx && *ctx) {
        free(*ctx);
        *ctx = NULL;
    }
}

static int transform_unused(void) { return 108; }

bool k4a_register_plugin(plugin_t *plugin)
{
    if (plugin == NULL)
        return false;
    plugin->version.major = (uint32_t)env_long("K4SYNC_TEST_ENGINE_MAJOR", 2);
    plugin->version.minor = 99;
    plugin->version.patch = 0;
    plugin->create = (void *)create;
    plugin->process = (void *)process;
    plugin->size = (void *)output_size;
    plugin->destroy = (void *)destroy;
    for (int i = 0; i < 4; i++)
        plugin->transform[i] = (void *)transform_unused;
    return true;
}
