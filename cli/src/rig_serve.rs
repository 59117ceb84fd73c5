//! `k4sync rig serve` and `rig record --web`: the live dashboard ([`k4sync_rig::dashboard`])
//! beside the coordinator.
//!
//! The page's address goes to stdout (with its token when the address is not loopback), so a
//! script can read it; the dashboard serves until Ctrl-C or SIGTERM. With `--emulate N` the
//! rig is N emulated cameras in this process, their takes written to `OUTDIR/<take>/`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use k4sync_rig::agent::TakeLayout;
use k4sync_rig::coordinator::{Coordinator, RigSettings};
use k4sync_rig::dashboard::{Dashboard, DashboardOptions};
use k4sync_rig::emulate::EmulatedRig;
use k4sync_rig::take::{Progress, TakeOptions, TakeResult};
use k4sync_rig::Pacing;
use k4sync_rig::RigError;

/// What `k4sync rig serve` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeArgs {
    pub dir: PathBuf,
    pub wait: Duration,
    pub listen: SocketAddr,
    pub settings: RigSettings,
    /// Where takes started from the page go (`OUT/<take>/`).
    pub out: PathBuf,
    pub emulate: Option<u32>,
}

/// The rig a dashboard watches: a rig directory's agents, or emulated cameras in-process.
struct Served {
    emulated: Option<EmulatedRig>,
    coordinator: Arc<Coordinator>,
    dashboard: Dashboard,
}

async fn open(
    dir: &Path,
    wait: Duration,
    emulate: Option<u32>,
    layout: TakeLayout,
    options: DashboardOptions,
) -> Result<Served, RigError> {
    let emulated = match emulate {
        Some(n) => Some(EmulatedRig::start(n, &options.out_dir, layout, Pacing::RealTime).await?),
        None => None,
    };
    let rig_dir = emulated.as_ref().map_or(dir, |r| r.rig_dir()).to_owned();
    let started = async {
        let coordinator = Arc::new(Coordinator::connect(&rig_dir, wait).await?);
        let dashboard = Dashboard::start(coordinator.clone(), options).await?;
        Ok::<_, RigError>((coordinator, dashboard))
    }
    .await;
    match started {
        Ok((coordinator, dashboard)) => {
            println!("dashboard: {}", dashboard.url());
            Ok(Served {
                emulated,
                coordinator,
                dashboard,
            })
        }
        Err(e) => {
            if let Some(rig) = emulated {
                rig.shutdown().await;
            }
            Err(e)
        }
    }
}

impl Served {
    async fn close(self) {
        self.dashboard.shutdown().await;
        if let Ok(coordinator) = Arc::try_unwrap(self.coordinator) {
            if let Err(e) = coordinator.close().await {
                eprintln!("k4sync rig: closing the coordinator's session: {e}");
            }
        }
        if let Some(rig) = self.emulated {
            rig.shutdown().await;
        }
    }
}

/// `rig serve`: serves until Ctrl-C.
pub fn run(args: ServeArgs) -> Result<bool, RigError> {
    let stop = crate::process::stop_flag_on_signals().map_err(RigError::Setup)?;
    k4sync_rig::block_on(async move {
        let options = DashboardOptions {
            listen: args.listen,
            token: None,
            out_dir: args.out.clone(),
            settings: args.settings,
        };
        let served = open(
            &args.dir,
            args.wait,
            args.emulate,
            TakeLayout::PerTake,
            options,
        )
        .await?;
        eprintln!("serving the rig dashboard; Ctrl-C to stop");
        k4sync_rig::until_set(&stop).await;
        served.close().await;
        Ok(true)
    })
}

/// `rig record --web ADDR`: the take runs as without `--web`, shown on the dashboard;
/// `report` gets its result at once, and the dashboard keeps serving (its summary and
/// timeline) until Ctrl-C. `Ok(false)`: the take failed.
pub fn record(
    listen: SocketAddr,
    dir: &Path,
    wait: Duration,
    emulate: Option<u32>,
    options: &TakeOptions,
    print: &mut (dyn FnMut(&Progress) + Send),
    report: &mut (dyn FnMut(&TakeResult) + Send),
) -> Result<bool, RigError> {
    let stop = crate::process::stop_flag_on_signals().map_err(RigError::Setup)?;
    let out_root = options
        .out_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dashboard_options = DashboardOptions {
        listen,
        token: None,
        out_dir: if emulate.is_some() {
            options.out_dir.clone()
        } else {
            out_root
        },
        settings: options.settings,
    };
    k4sync_rig::block_on(async move {
        let served = open(dir, wait, emulate, TakeLayout::Flat, dashboard_options).await?;
        let result = served.dashboard.record(options, stop.clone(), print).await;
        if let Ok(r) = &result {
            report(r);
        }
        if !stop.load(Ordering::Relaxed) {
            eprintln!("take done; the dashboard keeps serving its summary; Ctrl-C to stop");
            k4sync_rig::until_set(&stop).await;
        }
        served.close().await;
        result.map(|r| r.error.is_none())
    })
}
