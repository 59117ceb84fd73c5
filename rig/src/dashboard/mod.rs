//! The live rig dashboard: one page, served by the coordinator, showing the whole rig's sync
//! to an operator who stands between the cameras (`k4sync rig serve`, `rig record --web`).
//!
//! * [`Dashboard::start`] serves the page and its JSON API on an address (see [`http`]) and
//!   watches the rig: agents' states and liveliness, health summaries during a take — all fed
//!   to the [`hub`], which keeps the page's model and fans events out to every browser with
//!   a bounded queue each.
//! * The page's buttons run the coordinator's own commands: `check` ([`crate::coordinator::check`]),
//!   `record` ([`crate::take::record`], one take at a time) and `stop` (the take in progress,
//!   else `rig stop`). After a take the dashboard aligns its files with the host crate's
//!   `align` and shows its summary and timeline (`k4sync align --plot`).
//! * Access: on a loopback address anyone on this computer may use it. Any other address
//!   needs a token (generated when none is given); without it every endpoint answers 401.
//!
//! The page (`page.html`) is compiled into the binary: no build step, no CDN, no internet.

mod http;
pub mod hub;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k4sync_host::align::files::{align_recordings, read_recordings, Manifest as AlignManifest};
use k4sync_host::align::{plot, report};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::coordinator::{self, CheckReport, Coordinator, RigSettings, Seen};

use crate::take::{self, Progress, TakeOptions, TakeResult};
use crate::RigError;

use hub::{Defaults, Hub, Summary};
pub use hub::{Snapshot, QUEUE_CAPACITY};

/// The default address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8740";
/// How often every device's line is sent, also when nothing changed.
const TICK: Duration = Duration::from_secs(1);
/// How often the watch looks for new states and summaries.
const POLL: Duration = Duration::from_millis(100);
/// The kernel send buffer of each connection: with the per-client queue, what a browser that
/// stops reading can hold up.
const SEND_BUFFER_BYTES: usize = 32 * 1024;

/// Where and how the dashboard is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardOptions {
    pub listen: SocketAddr,
    /// Required from every request when set; generated when `listen` is not loopback.
    pub token: Option<String>,
    /// Takes started from the page write their manifest to `<out_dir>/<take>`.
    pub out_dir: PathBuf,
    /// Settings of a take started from the page, unless the request names others.
    pub settings: RigSettings,
}

/// Who may use the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    token: Option<String>,
}

impl Access {
    /// The access for serving on `listen`: loopback is open unless `token` is given; any
    /// other address requires `token`, or a fresh random one.
    pub fn for_listen(listen: &SocketAddr, token: Option<String>) -> Result<Access, RigError> {
        let token = match token {
            Some(t) if t.is_empty() => {
                return Err(RigError::Usage(
                    "the dashboard token must not be empty".into(),
                ))
            }
            Some(t) => Some(t),
            None if listen.ip().is_loopback() => None,
            None => Some(random_token()?),
        };
        Ok(Access { token })
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Whether a request with this `Authorization` header and query string may pass.
    pub fn allows(&self, authorization: Option<&str>, query: Option<&str>) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let bearer = authorization.and_then(|h| h.strip_prefix("Bearer "));
        let from_query = query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .find_map(|pair| pair.strip_prefix("token="));
        [bearer, from_query]
            .into_iter()
            .flatten()
            .any(|given| same(given.trim().as_bytes(), expected.as_bytes()))
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_token() -> Result<String, RigError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| RigError::Setup(format!("no randomness for the dashboard token: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A take requested by the page or a script (`POST /api/record`); missing fields take the
/// dashboard's settings. Modes by the SDK's names (`720P`, `MJPG`, `PASSIVE_IR`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordRequest {
    pub length_s: Option<f64>,
    pub take: Option<String>,
    pub color_resolution: Option<String>,
    pub color_format: Option<String>,
    pub depth_mode: Option<String>,
    pub fps: Option<u32>,
    /// Manual exposure exponent; `"auto"` for automatic.
    pub exposure: Option<serde_json::Value>,
}

/// What a control request did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControlReply {
    pub ok: bool,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub take: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckReport>,
}

impl ControlReply {
    fn ok(message: String) -> ControlReply {
        ControlReply {
            ok: true,
            message,
            take: None,
            check: None,
        }
    }
}

/// Why a control request was not carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ControlError {
    BadRequest(String),
    Busy(String),
    Failed(String),
}

/// The dashboard's control: the coordinator and the one take that may run.
pub(crate) struct Control {
    coordinator: Arc<Coordinator>,
    hub: Arc<Hub>,
    out_dir: PathBuf,
    settings: RigSettings,
    running: Mutex<Option<Arc<AtomicBool>>>,
    take_task: Mutex<Option<JoinHandle<()>>>,
}

impl Control {
    fn running(&self) -> std::sync::MutexGuard<'_, Option<Arc<AtomicBool>>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        self.hub.snapshot()
    }

    pub(crate) fn hub(&self) -> &Hub {
        &self.hub
    }

    /// `rig check` with the dashboard's settings; the plan goes to the page.
    pub(crate) async fn check(&self) -> Result<ControlReply, ControlError> {
        let agents = self
            .coordinator
            .status()
            .await
            .map_err(|e| ControlError::Failed(e.to_string()))?;
        self.hub.on_status(&agents);
        let report = coordinator::check(&agents, &self.settings);
        self.hub.set_plan(&report);
        Ok(ControlReply {
            ok: report.passed(),
            message: coordinator::check_text(&report),
            take: None,
            check: Some(report),
        })
    }

    /// Starts a take in the background.
    pub(crate) fn record(
        self: &Arc<Self>,
        request: &RecordRequest,
    ) -> Result<ControlReply, ControlError> {
        let options = self
            .take_options(request)
            .map_err(ControlError::BadRequest)?;
        let stop = {
            let mut running = self.running();
            if running.is_some() || self.hub.take_running() {
                return Err(ControlError::Busy(
                    "a take is running; stop it first".into(),
                ));
            }
            let stop = Arc::new(AtomicBool::new(false));
            *running = Some(stop.clone());
            stop
        };
        let name = options.take.clone();
        let control = self.clone();
        let task = tokio::spawn(async move {
            let result = control.run_take(&options, &stop, &mut |_| {}).await;
            if let Err(e) = result {
                log::warn!("dashboard take {}: {e}", options.take);
            }
        });
        *self
            .take_task
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(task);
        Ok(ControlReply {
            ok: true,
            message: format!("take {name} started"),
            take: Some(name),
            check: None,
        })
    }

    /// Stops the take in progress; with none, stops every agent's recording (`rig stop`).
    pub(crate) async fn stop(&self) -> Result<ControlReply, ControlError> {
        if let Some(stop) = self.running().as_ref() {
            stop.store(true, Ordering::SeqCst);
            return Ok(ControlReply::ok("stopping the take".into()));
        }
        let answers = coordinator::stop_all(&self.coordinator).await;
        let failed: Vec<String> = answers
            .iter()
            .filter_map(|(agent, r)| r.as_ref().err().map(|e| format!("{agent}: {e}")))
            .collect();
        if failed.is_empty() {
            Ok(ControlReply::ok("every agent stopped".into()))
        } else {
            Err(ControlError::Failed(failed.join("; ")))
        }
    }

    fn take_options(&self, r: &RecordRequest) -> Result<TakeOptions, String> {
        let mut settings = self.settings;
        let c = &mut settings.config;
        if let Some(name) = &r.color_resolution {
            c.color_resolution = by_sdk_name(name, "color_resolution", |v| {
                k4sync_core::types::ColorResolution::from_sdk_value(v).map(|m| (m, m.sdk_name()))
            })?;
        }
        if let Some(name) = &r.color_format {
            c.color_format = by_sdk_name(name, "color_format", |v| {
                k4sync_core::types::ColorFormat::from_sdk_value(v).map(|m| (m, m.sdk_name()))
            })?;
        }
        if let Some(name) = &r.depth_mode {
            c.depth_mode = by_sdk_name(name, "depth_mode", |v| {
                k4sync_core::types::DepthMode::from_sdk_value(v).map(|m| (m, m.sdk_name()))
            })?;
        }
        if let Some(fps) = r.fps {
            c.fps = match fps {
                5 => k4sync_core::types::Fps::Fps5,
                15 => k4sync_core::types::Fps::Fps15,
                30 => k4sync_core::types::Fps::Fps30,
                other => return Err(format!("fps {other}: use 5, 15 or 30")),
            };
        }
        match &r.exposure {
            None => {}
            Some(serde_json::Value::String(s)) if s == "auto" => settings.exposure = None,
            Some(v) => {
                let e = v
                    .as_i64()
                    .and_then(|e| i8::try_from(e).ok())
                    .filter(|e| (-11..=1).contains(e))
                    .ok_or_else(|| format!("exposure {v}: use -11..1 or \"auto\""))?;
                settings.exposure = Some(e);
            }
        }
        let length_s = r.length_s.unwrap_or(10.0);
        if !(length_s.is_finite() && length_s > 0.0 && length_s <= 24.0 * 3600.0) {
            return Err(format!("length_s {length_s}: give seconds > 0"));
        }
        let take = r.take.clone().unwrap_or_else(take::default_take_name);
        crate::keys::check_name(&take, "take").map_err(|e| e.to_string())?;
        let out = self.out_dir.join(&take);
        Ok(TakeOptions::new(
            settings,
            Duration::from_secs_f64(length_s),
            take,
            out,
        ))
    }

    /// Runs one take as `rig record` does, showing it on the page, then aligns its files.
    async fn run_take(
        &self,
        options: &TakeOptions,
        stop: &AtomicBool,
        print: &mut (dyn FnMut(&Progress) + Send),
    ) -> Result<TakeResult, RigError> {
        if let Ok(agents) = self.coordinator.status().await {
            self.hub
                .set_plan(&coordinator::check(&agents, &options.settings));
        }
        self.hub.take_started(
            &options.take,
            options.length.as_secs_f64(),
            options.settings.config.fps,
            &options.out_dir.display().to_string(),
        );
        let hub = self.hub.clone();
        let mut sink = |p: &Progress| {
            hub.on_progress(p);
            print(p);
        };
        let result = take::record(&self.coordinator, options, stop, &mut sink).await;
        *self.running() = None;
        match &result {
            Ok(r) => {
                self.hub.take_finished(
                    &r.manifest.outcome,
                    r.error.as_ref().map(ToString::to_string),
                );
                let (take, path) = (r.manifest.take.clone(), r.manifest_path.clone());
                let summary = tokio::task::spawn_blocking(move || align_take(&take, &path))
                    .await
                    .unwrap_or_else(|e| Summary {
                        take: options.take.clone(),
                        text: None,
                        svg: None,
                        error: Some(format!("the alignment did not finish: {e}")),
                    });
                self.hub.set_summary(summary);
            }
            Err(e) => self.hub.take_finished("failed", Some(e.to_string())),
        }
        result
    }
}

fn by_sdk_name<T>(
    name: &str,
    field: &str,
    of: impl Fn(u32) -> Option<(T, &'static str)>,
) -> Result<T, String> {
    let mut known = Vec::new();
    for v in 0..32 {
        if let Some((mode, sdk)) = of(v) {
            if sdk.eq_ignore_ascii_case(name) {
                return Ok(mode);
            }
            known.push(sdk);
        }
    }
    Err(format!("{field} {name:?}: use one of {}", known.join(", ")))
}

/// `k4sync align` over the files a manifest names (those the coordinator can reach).
fn align_take(take: &str, manifest_path: &Path) -> Summary {
    let fail = |error: String| Summary {
        take: take.to_string(),
        text: None,
        svg: None,
        error: Some(error),
    };
    let manifest = match AlignManifest::read(manifest_path) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    let text = match std::fs::read_to_string(manifest_path) {
        Ok(t) => t,
        Err(e) => return fail(format!("{}: {e}", manifest_path.display())),
    };
    let files = match serde_json::from_str::<take::Manifest>(&text) {
        Ok(m) => m
            .devices
            .iter()
            .flat_map(|d| d.files.first())
            .map(|f| dir.join(f))
            .collect::<Vec<_>>(),
        Err(e) => return fail(format!("{}: {e}", manifest_path.display())),
    };
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        return fail(format!(
            "{} is not on this computer: align the take where its files are",
            missing.display()
        ));
    }
    let recordings = match read_recordings(&files, &mut |_, _, _| {}) {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    let alignment = match align_recordings(&recordings) {
        Ok(a) => a,
        Err(e) => return fail(e.to_string()),
    };
    let svg = plot::to_svg(&alignment, &recordings);
    Summary {
        take: take.to_string(),
        text: Some(report::to_text(&alignment, &recordings, Some(&manifest))),
        error: svg.as_ref().err().cloned(),
        svg: svg.ok(),
    }
}

/// A running dashboard.
pub struct Dashboard {
    control: Arc<Control>,
    access: Access,
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Dashboard {
    /// Serves the dashboard of `coordinator`'s rig on `options.listen` and starts watching the
    /// rig.
    pub async fn start(
        coordinator: Arc<Coordinator>,
        options: DashboardOptions,
    ) -> Result<Dashboard, RigError> {
        let access = Access::for_listen(&options.listen, options.token.clone())?;
        let rig = coordinator.rig();
        let agents: Vec<(String, String)> = rig
            .agents
            .iter()
            .map(|a| (a.name.clone(), a.host.clone()))
            .collect();
        let hub = Arc::new(Hub::new(&rig.rig, &agents, Defaults::of(&options.settings)));
        let watch = coordinator.watch(false).await?;
        hub.on_status(&coordinator.status().await?);
        let control = Arc::new(Control {
            coordinator,
            hub: hub.clone(),
            out_dir: options.out_dir,
            settings: options.settings,
            running: Mutex::new(None),
            take_task: Mutex::new(None),
        });
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|e| {
                RigError::Setup(format!(
                    "dashboard: cannot listen on {}: {e}",
                    options.listen
                ))
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| RigError::Setup(format!("dashboard: {e}")))?;
        let router = http::router(control.clone(), access.clone());
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) =
                rustix::net::sockopt::set_socket_send_buffer_size(&*tcp, SEND_BUFFER_BYTES)
            {
                log::debug!("dashboard: send buffer: {e}");
            }
        });
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                log::warn!("dashboard server: {e}");
            }
        });
        let monitor = tokio::spawn(watch_rig(hub, watch, control.coordinator.clone()));
        Ok(Dashboard {
            control,
            access,
            addr,
            tasks: vec![server, monitor],
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn token(&self) -> Option<&str> {
        self.access.token()
    }

    /// The page's address, with the token when one is needed.
    pub fn url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            self.addr.ip().to_string()
        };
        let port = self.addr.port();
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        match self.token() {
            Some(t) => format!("http://{host}:{port}/?token={t}"),
            None => format!("http://{host}:{port}/"),
        }
    }

    /// The page's model, as `/api/state` returns it.
    pub fn snapshot(&self) -> Snapshot {
        self.control.snapshot()
    }

    /// Runs one take from here (`rig record --web`), shown on the page like one started
    /// there; `print` sees its progress too.
    pub async fn record(
        &self,
        options: &TakeOptions,
        stop: Arc<AtomicBool>,
        print: &mut (dyn FnMut(&Progress) + Send),
    ) -> Result<TakeResult, RigError> {
        {
            let mut running = self.control.running();
            if running.is_some() {
                return Err(RigError::Usage("a take is already running".into()));
            }
            *running = Some(stop.clone());
        }
        self.control.run_take(options, &stop, print).await
    }

    /// Stops a take started from the page (waiting until its files are finalised) and the
    /// server.
    pub async fn shutdown(self) {
        if let Some(stop) = self.control.running().as_ref() {
            stop.store(true, Ordering::SeqCst);
        }
        let task = self
            .control
            .take_task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Feeds the hub from the coordinator's watch; an agent whose token was withdrawn is shown
/// gone once [`Coordinator::still_gone`] confirms it, asked beside the loop so that the other
/// agents' events keep coming meanwhile.
async fn watch_rig(hub: Arc<Hub>, watch: coordinator::Watch, coordinator: Arc<Coordinator>) {
    let mut next_tick = tokio::time::Instant::now() + TICK;
    loop {
        for seen in watch.drain() {
            match seen {
                Seen::Health(h) => hub.on_health(&h),
                Seen::Frames(_) => {}
                Seen::State(state) => hub.on_state(&state),
                Seen::Lost(agent) => {
                    tokio::spawn(confirm_gone(hub.clone(), coordinator.clone(), agent));
                }
                Seen::Back(agent) => hub.on_alive(&agent, true),
                Seen::Unreadable(why) => log::debug!("dashboard: {why}"),
            }
        }
        if tokio::time::Instant::now() >= next_tick {
            next_tick += TICK;
            hub.tick();
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn confirm_gone(hub: Arc<Hub>, coordinator: Arc<Coordinator>, agent: String) {
    match coordinator.still_gone(std::slice::from_ref(&agent)).await {
        Ok(gone) if gone.is_empty() => {
            log::info!("dashboard: {agent}'s liveliness token was withdrawn and is still there")
        }
        Ok(_) => hub.on_alive(&agent, false),
        Err(e) => {
            log::warn!("dashboard: cannot ask whether {agent} is gone: {e}");
            hub.on_alive(&agent, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_open_and_any_other_address_needs_the_token() {
        let open = Access::for_listen(&"127.0.0.2:1".parse().unwrap(), None).unwrap();
        assert!(open.allows(None, None));
        let lan = Access::for_listen(&"0.0.0.0:1".parse().unwrap(), None).unwrap();
        let token = lan.token().unwrap().to_string();
        assert_eq!(token.len(), 32);
        assert!(!lan.allows(None, None));
        assert!(!lan.allows(Some("Bearer nope"), Some("token=nope")));
        assert!(lan.allows(Some(&format!("Bearer {token}")), None));
        assert!(lan.allows(None, Some(&format!("a=1&token={token}"))));
        let other = Access::for_listen(&"[::]:1".parse().unwrap(), None).unwrap();
        assert_ne!(
            other.token(),
            lan.token(),
            "each dashboard draws its own token"
        );
    }

    #[test]
    fn modes_are_read_by_their_sdk_names_and_a_wrong_one_lists_the_right_ones() {
        let depth = by_sdk_name("passive_ir", "depth_mode", |v| {
            k4sync_core::types::DepthMode::from_sdk_value(v).map(|m| (m, m.sdk_name()))
        });
        assert_eq!(depth, Ok(k4sync_core::types::DepthMode::PassiveIr));
        let e = by_sdk_name("7K", "color_resolution", |v| {
            k4sync_core::types::ColorResolution::from_sdk_value(v).map(|m| (m, m.sdk_name()))
        })
        .unwrap_err();
        assert!(e.contains("720P"), "{e}");
    }
}
