//! Microsoft's depth engine (`libdepthengine.so.2.0`), loaded at run time: the one module of
//! k4sync that calls foreign code (docs/depth.md, `shared/reference/depth-engine.md`).
//!
//! The engine is a closed plugin that turns the sensor's raw frames into DEPTH16/IR16 images;
//! it needs the device's IR sensor calibration blob and an OpenGL 4.4 context (GLX, so an X
//! display: a GPU, or Xvfb with Mesa). It is found ([`find`]), loaded ([`Engine::load`]: the
//! symbol `k4a_register_plugin` fills a versioned table of function pointers, plugin major
//! version 2), and one [`Session`] per recording is created from the blob and the depth mode.
//!
//! Every `unsafe` of the crate's depth path is here. The safe API cannot misuse the plugin: a
//! [`Session`] borrows its [`Engine`], so the library stays loaded while a context lives; the
//! calibration blob is copied and kept until the context is destroyed; the output buffer's
//! length is checked against the engine's own frame size before every call; a context is
//! destroyed exactly once, on drop; sessions are neither `Send` nor `Sync` (the engine's
//! OpenGL context belongs to the thread that created it).
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::fmt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use k4sync_core::types::DepthMode;

/// The plugin interface major version this binding speaks (`K4A_PLUGIN_MAJOR_VERSION`).
pub const PLUGIN_MAJOR: u32 = 2;
/// The engine's file name on Linux.
pub const LIBRARY_NAME: &str = "libdepthengine.so.2.0";
/// Environment variable naming the engine's path.
pub const ENGINE_ENV: &str = "K4SYNC_DEPTH_ENGINE";
const REGISTER_SYMBOL: &[u8] = b"k4a_register_plugin\0";

/// Result codes of the engine (`k4a_depth_engine_result_code_t`).
pub mod code {
    pub const OK: i32 = 0;
    pub const INPUT_SIZE: i32 = 1;
    pub const OUTPUT_SIZE: i32 = 2;
    pub const INITIALIZE_FAILED: i32 = 102;
    pub const CALIBRATION_FAILED: i32 = 103;
    pub const NULL_CAMERA_CALIBRATION: i32 = 107;
    pub const GPU_INVALID_CALIBRATION: i32 = 203;
    pub const GPU_API_FAILURE: i32 = 204;
    pub const SHADER_COMPILATION: i32 = 206;
    pub const OPENGL_CONTEXT: i32 = 207;
}

/// What the engine's result code means, in the SDK's words.
pub fn code_name(code: i32) -> &'static str {
    match code {
        0 => "ok",
        1 => "bad input frame size",
        2 => "bad output frame size",
        3 => "invalid capture sequence",
        4 => "null input buffer",
        5 => "null output buffer",
        101 => "engine not initialised",
        102 => "engine initialisation failed",
        103 => "calibration failed",
        104 => "passive IR failed",
        105 => "binning failed",
        106 => "wait for processing failed",
        107 => "null camera calibration",
        108 => "engine not loaded",
        201 => "GPU out of memory",
        202 => "GPU invalid parameter",
        203 => "GPU invalid calibration",
        204 => "GPU API failure",
        205 => "GPU internal error",
        206 => "GPU shader compilation failed",
        207 => "OpenGL context creation failed",
        208 => "GPU timeout",
        301 => "frame dropped",
        _ => "unknown result",
    }
}

/// Failures of loading the engine or of one of its calls; each says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error("depth engine {LIBRARY_NAME} not found; looked at: {}. Install Microsoft's Azure Kinect SDK package (libk4a1.4) or pass --engine PATH / set {ENGINE_ENV}", list(.searched))]
    NotFound { searched: Vec<PathBuf> },
    #[error("cannot load the depth engine {path}: {source}")]
    Load {
        path: PathBuf,
        source: libloading::Error,
    },
    #[error("{path} is not a depth engine plugin: it has no k4a_register_plugin ({source})")]
    NotAPlugin {
        path: PathBuf,
        source: libloading::Error,
    },
    #[error("the depth engine {path} refused to register (k4a_register_plugin returned false)")]
    RegistrationFailed { path: PathBuf },
    #[error("the depth engine {path} has plugin version {version}; k4sync needs major version {PLUGIN_MAJOR} (libdepthengine.so.2.0 from the Azure Kinect SDK 1.x)")]
    WrongVersion {
        path: PathBuf,
        version: PluginVersion,
    },
    #[error("the depth engine {path} registered without its {function} function")]
    MissingFunction {
        path: PathBuf,
        function: &'static str,
    },
    #[error("the depth engine rejected the calibration (code {code}: {}); the blob must be the camera's own IR sensor calibration (depth_cal.ccb) — an emulator recording's blob is synthetic and real engines reject it", code_name(*.code))]
    CalibrationRejected { code: i32 },
    #[error("the depth engine found no OpenGL 4.4 context (code {code}: {}){}; run under `xvfb-run`, or on a machine with a GPU", code_name(*.code), no_display_hint())]
    NoOpenGl { code: i32 },
    #[error("the depth engine could not start (code {code}: {})", code_name(*.code))]
    Create { code: i32 },
    #[error("the depth engine has no mode for depth mode {mode}")]
    NoMode { mode: DepthMode },
    #[error("the depth engine wants {engine} output bytes per frame; {mode} needs {expected}")]
    OutputSize {
        mode: DepthMode,
        engine: usize,
        expected: usize,
    },
    #[error("the depth engine rejected the frame (code {code}: {})", code_name(*.code))]
    Frame { code: i32 },
}

fn list(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

fn no_display_hint() -> &'static str {
    match std::env::var_os("DISPLAY") {
        Some(d) if !d.is_empty() => "",
        _ => " and DISPLAY is not set",
    }
}

/// `k4a_plugin_version_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PluginVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl fmt::Display for PluginVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// `k4a_depth_engine_output_frame_info_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FrameInfo {
    pub output_width: u16,
    pub output_height: u16,
    pub sensor_temp: f32,
    pub laser_temp: [f32; 2],
    /// Centre of exposure, 90 kHz device ticks.
    pub center_of_exposure_in_ticks: u64,
    pub usb_sof_tick: u64,
}

type CreateFn = unsafe extern "C" fn(
    *mut *mut c_void,
    usize,
    *mut c_void,
    i32,
    i32,
    *mut c_void,
    *mut c_void,
    *mut c_void,
) -> i32;
type ProcessFn = unsafe extern "C" fn(
    *mut c_void,
    *mut c_void,
    usize,
    i32,
    *mut c_void,
    usize,
    *mut FrameInfo,
    *mut c_void,
) -> i32;
type SizeFn = unsafe extern "C" fn(*mut c_void) -> usize;
type DestroyFn = unsafe extern "C" fn(*mut *mut c_void);
type RegisterFn = unsafe extern "C" fn(*mut PluginTable) -> bool;

/// `k4a_plugin_t`: the version, then four depth-engine and four transform-engine functions.
#[repr(C)]
#[derive(Default)]
struct PluginTable {
    version: PluginVersion,
    create: Option<CreateFn>,
    process: Option<ProcessFn>,
    output_size: Option<SizeFn>,
    destroy: Option<DestroyFn>,
    transform: [Option<unsafe extern "C" fn()>; 4],
}

/// The depth engine's entry points, all present.
#[derive(Clone, Copy)]
struct Functions {
    create: CreateFn,
    process: ProcessFn,
    output_size: SizeFn,
    destroy: DestroyFn,
}

/// Where the engine is looked for, in order: `explicit` (`--engine`), `$K4SYNC_DEPTH_ENGINE`,
/// the directories of `$LD_LIBRARY_PATH`, then where Microsoft's packages install it.
pub fn candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![p.to_owned()];
    }
    if let Some(p) = std::env::var_os(ENGINE_ENV).filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let triple = format!("{}-linux-gnu", std::env::consts::ARCH);
    let mut dirs: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    for sdk in ["libk4a1.4", "libk4a1.3"] {
        dirs.push(Path::new("/usr/lib").join(&triple).join(sdk));
    }
    dirs.extend([
        Path::new("/usr/lib").join(&triple),
        PathBuf::from("/usr/lib"),
        PathBuf::from("/usr/local/lib"),
        PathBuf::from("/opt/microsoft/azure-kinect/lib"),
    ]);
    dirs.into_iter().map(|d| d.join(LIBRARY_NAME)).collect()
}

/// The first of [`candidates`] that exists.
pub fn find(explicit: Option<&Path>) -> Result<PathBuf, EngineError> {
    let searched = candidates(explicit);
    searched
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(EngineError::NotFound { searched })
}

/// A loaded, registered depth engine.
pub struct Engine {
    path: PathBuf,
    version: PluginVersion,
    functions: Functions,
    /// Keeps the code behind `functions` mapped; dropped last.
    _library: libloading::Library,
}

impl Engine {
    /// Loads the library at `path`, registers the plugin and checks its major version.
    pub fn load(path: &Path) -> Result<Engine, EngineError> {
        // SAFETY: loading runs the library's initialisers. The path names a depth engine the
        // user chose (or the SDK's install location); like the SDK's own loader we trust it.
        let library =
            unsafe { libloading::Library::new(path) }.map_err(|source| EngineError::Load {
                path: path.to_owned(),
                source,
            })?;
        // SAFETY: `k4a_register_plugin` has the C signature `bool (k4a_plugin_t *)` in every
        // plugin of interface version 2 (k4aplugin.h); RegisterFn states exactly that.
        let register = unsafe { library.get::<RegisterFn>(REGISTER_SYMBOL) }.map_err(|source| {
            EngineError::NotAPlugin {
                path: path.to_owned(),
                source,
            }
        })?;
        let mut table = PluginTable::default();
        // SAFETY: `table` is a valid, writable k4a_plugin_t (repr(C), same field order and
        // types) that outlives the call; the function only fills it in.
        let registered = unsafe { register(&mut table) };
        if !registered {
            return Err(EngineError::RegistrationFailed {
                path: path.to_owned(),
            });
        }
        if table.version.major != PLUGIN_MAJOR {
            return Err(EngineError::WrongVersion {
                path: path.to_owned(),
                version: table.version,
            });
        }
        let missing = |function| EngineError::MissingFunction {
            path: path.to_owned(),
            function,
        };
        let functions = Functions {
            create: table
                .create
                .ok_or_else(|| missing("depth_engine_create_and_initialize"))?,
            process: table
                .process
                .ok_or_else(|| missing("depth_engine_process_frame"))?,
            output_size: table
                .output_size
                .ok_or_else(|| missing("depth_engine_get_output_frame_size"))?,
            destroy: table
                .destroy
                .ok_or_else(|| missing("depth_engine_destroy"))?,
        };
        Ok(Engine {
            path: path.to_owned(),
            version: table.version,
            functions,
            _library: library,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The plugin version the engine registered with.
    pub fn version(&self) -> PluginVersion {
        self.version
    }

    /// Creates an engine context for `mode` from the IR sensor calibration `blob`.
    pub fn session(&self, blob: &[u8], mode: DepthMode) -> Result<Session<'_>, EngineError> {
        let engine_mode = EngineMode::of(mode).ok_or(EngineError::NoMode { mode })?;
        let mut blob: Box<[u8]> = blob.into();
        let mut ctx: *mut c_void = std::ptr::null_mut();
        // SAFETY: `ctx` is a valid out-pointer; `blob` is a live buffer of the length passed
        // and stays alive (owned by the Session) until after the context is destroyed. NULL
        // camera calibration and NULL callback select the blob's intrinsics and synchronous
        // processing (k4aplugin.h).
        let result = unsafe {
            (self.functions.create)(
                &mut ctx,
                blob.len(),
                blob.as_mut_ptr().cast(),
                engine_mode.mode,
                engine_mode.input_format,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        let ctx = match (result, NonNull::new(ctx)) {
            (code::OK, Some(ctx)) => ctx,
            (code, ctx) => {
                if let Some(mut ctx) = ctx.map(NonNull::as_ptr) {
                    // SAFETY: the engine returned a context despite failing; destroy it once.
                    unsafe { (self.functions.destroy)(&mut ctx) };
                }
                return Err(create_error(code));
            }
        };
        let mut session = Session {
            engine: self,
            ctx,
            output_size: 0,
            output_type: engine_mode.output_type,
            _blob: blob,
        };
        // SAFETY: `ctx` is a live context created above and not yet destroyed.
        session.output_size = unsafe { (self.functions.output_size)(ctx.as_ptr()) };
        let expected = frame_output_len(mode);
        if session.output_size != expected {
            return Err(EngineError::OutputSize {
                mode,
                engine: session.output_size,
                expected,
            });
        }
        Ok(session)
    }
}

fn create_error(code: i32) -> EngineError {
    match code {
        code::CALIBRATION_FAILED
        | code::GPU_INVALID_CALIBRATION
        | code::NULL_CAMERA_CALIBRATION => EngineError::CalibrationRejected { code },
        code::GPU_API_FAILURE | code::SHADER_COMPILATION | code::OPENGL_CONTEXT => {
            EngineError::NoOpenGl { code }
        }
        code::OK => EngineError::Create {
            code: code::INITIALIZE_FAILED,
        },
        code => EngineError::Create { code },
    }
}

/// Bytes of one engine output frame for `mode`: DEPTH16 then IR16, or IR16 alone in passive IR.
pub fn frame_output_len(mode: DepthMode) -> usize {
    let pixels = mode
        .output_size()
        .map_or(0, |(w, h)| w as usize * h as usize);
    let images = if mode == DepthMode::PassiveIr { 1 } else { 2 };
    pixels * 2 * images
}

/// The engine's mode, input format and output type for an SDK depth mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineMode {
    pub mode: i32,
    pub input_format: i32,
    pub output_type: i32,
}

impl EngineMode {
    pub fn of(mode: DepthMode) -> Option<EngineMode> {
        const COMPRESSED_12BIT: i32 = 3;
        const COMPRESSED_8BIT: i32 = 4;
        const Z_DEPTH: i32 = 0;
        const PASSIVE_IR: i32 = 2;
        let (mode_value, input_format, output_type) = match mode {
            DepthMode::Off => return None,
            DepthMode::Nfov2x2Binned => (2, COMPRESSED_12BIT, Z_DEPTH),
            DepthMode::PassiveIr => (3, COMPRESSED_12BIT, PASSIVE_IR),
            DepthMode::NfovUnbinned => (4, COMPRESSED_12BIT, Z_DEPTH),
            DepthMode::WfovUnbinned => (5, COMPRESSED_8BIT, Z_DEPTH),
            DepthMode::Wfov2x2Binned => (7, COMPRESSED_12BIT, Z_DEPTH),
        };
        Some(EngineMode {
            mode: mode_value,
            input_format,
            output_type,
        })
    }
}

/// One engine context: converts raw frames of one depth mode.
pub struct Session<'e> {
    engine: &'e Engine,
    ctx: NonNull<c_void>,
    output_size: usize,
    output_type: i32,
    /// The calibration blob the context was created from, alive as long as the context.
    _blob: Box<[u8]>,
}

impl Session<'_> {
    /// Bytes [`Session::process`] writes: DEPTH16 then IR16 (IR16 only in passive IR).
    pub fn output_len(&self) -> usize {
        self.output_size
    }

    /// Converts one raw frame into `output` ([`Session::output_len`] bytes).
    pub fn process(&mut self, raw: &mut [u8], output: &mut [u8]) -> Result<FrameInfo, EngineError> {
        if output.len() != self.output_size {
            return Err(EngineError::Frame {
                code: code::OUTPUT_SIZE,
            });
        }
        let mut info = FrameInfo::default();
        // SAFETY: the context is live (destroyed only in Drop); `raw` and `output` are
        // exclusive, live buffers of the lengths passed, and `output` has exactly the size the
        // engine asked for; `info` is a valid output_frame_info; a NULL input info lets the
        // engine read the frame's own metadata (k4aplugin.h). Processing is synchronous, so
        // nothing is kept after the call returns.
        let result = unsafe {
            (self.engine.functions.process)(
                self.ctx.as_ptr(),
                raw.as_mut_ptr().cast(),
                raw.len(),
                self.output_type,
                output.as_mut_ptr().cast(),
                output.len(),
                &mut info,
                std::ptr::null_mut(),
            )
        };
        match result {
            code::OK => Ok(info),
            code => Err(EngineError::Frame { code }),
        }
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let mut ctx = self.ctx.as_ptr();
        // SAFETY: the context was created by this engine and is destroyed exactly once, here;
        // the library is still loaded (the Session borrows the Engine).
        unsafe { (self.engine.functions.destroy)(&mut ctx) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_path_is_the_only_candidate() {
        let p = Path::new("/x/libdepthengine.so.2.0");
        assert_eq!(candidates(Some(p)), vec![p.to_owned()]);
    }

    #[test]
    fn a_missing_engine_names_every_place_it_looked() {
        let err = find(Some(Path::new("/nonexistent/libdepthengine.so.2.0"))).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/nonexistent/libdepthengine.so.2.0"),
            "{text}"
        );
        assert!(text.contains("--engine"), "{text}");
    }

    #[test]
    fn output_frames_hold_depth_and_ir_except_in_passive_ir() {
        assert_eq!(frame_output_len(DepthMode::NfovUnbinned), 640 * 576 * 4);
        assert_eq!(frame_output_len(DepthMode::PassiveIr), 1024 * 1024 * 2);
        assert_eq!(frame_output_len(DepthMode::Off), 0);
    }

    #[test]
    fn engine_modes_follow_the_plugin_header() {
        let m = |mode| EngineMode::of(mode).map(|e| (e.mode, e.input_format, e.output_type));
        assert_eq!(m(DepthMode::Nfov2x2Binned), Some((2, 3, 0)));
        assert_eq!(m(DepthMode::NfovUnbinned), Some((4, 3, 0)));
        assert_eq!(m(DepthMode::Wfov2x2Binned), Some((7, 3, 0)));
        assert_eq!(m(DepthMode::WfovUnbinned), Some((5, 4, 0)));
        assert_eq!(m(DepthMode::PassiveIr), Some((3, 3, 2)));
        assert_eq!(m(DepthMode::Off), None);
    }

    #[test]
    fn create_codes_map_to_named_errors() {
        assert!(matches!(
            create_error(103),
            EngineError::CalibrationRejected { code: 103 }
        ));
        assert!(matches!(
            create_error(207),
            EngineError::NoOpenGl { code: 207 }
        ));
        assert!(create_error(207).to_string().contains("xvfb-run"));
        assert!(matches!(
            create_error(105),
            EngineError::Create { code: 105 }
        ));
    }

    #[test]
    fn the_output_info_has_the_c_layout() {
        assert_eq!(std::mem::size_of::<FrameInfo>(), 32);
        assert_eq!(
            std::mem::offset_of!(FrameInfo, center_of_exposure_in_ticks),
            16
        );
        assert_eq!(std::mem::size_of::<PluginTable>(), 16 + 8 * 8);
    }
}
