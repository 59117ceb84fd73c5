//! Measures agent-loss detection: a coordinator watches the liveliness token of an agent that
//! runs as a separate `k4sync agent` process, the process is frozen with SIGSTOP (its socket
//! stays open, as when a host hangs or its network goes: only the link lease can tell), and
//! the time until the token's deletion arrives is printed. (A killed process is seen at once:
//! its kernel closes the connection.)
//!
//! `cargo run -p k4sync-rig --example agent_loss -- PATH/TO/k4sync` (build the binary first).

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k4sync_rig::init::{self, AgentSpec, CONFIG_FILE};
use k4sync_rig::{keys, net, RigError};
use zenoh::sample::SampleKind;

fn main() -> Result<(), RigError> {
    let k4sync = std::env::args()
        .nth(1)
        .ok_or_else(|| RigError::Usage("give the path of the k4sync binary".into()))?;
    let dir = std::env::temp_dir().join(format!("k4sync-agent-loss-{}", std::process::id()));
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| io(&dir, e))?
        .port();
    init::init(
        &dir,
        "loss",
        &[AgentSpec::parse(&format!("a=127.0.0.1:{port}"))?],
    )?;
    let mut child = Command::new(k4sync)
        .args(["agent", "--rig", "loss", "--emulate", "--config"])
        .arg(dir.join("a").join(CONFIG_FILE))
        .arg("--data-dir")
        .arg(&dir)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| io(&dir, e))?;
    let result = k4sync_rig::block_on(async {
        let node = net::load_config(&dir.join("coordinator").join(CONFIG_FILE))?;
        let session = net::open(node.zenoh).await?;
        let tokens = session
            .liveliness()
            .declare_subscriber(keys::all_alive("loss"))
            .history(true)
            .await
            .map_err(|e| RigError::Zenoh(e.to_string()))?;
        let tokens = &tokens;
        let wait = |kind: SampleKind| async move {
            loop {
                match tokens_recv(tokens).await {
                    Some(k) if k == kind => return Ok(()),
                    Some(_) => {}
                    None => return Err(RigError::Zenoh("subscriber closed".into())),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait(SampleKind::Put))
            .await
            .map_err(|_| RigError::Zenoh("the agent never appeared".into()))??;
        let killed = Instant::now();
        Command::new("kill")
            .args(["-STOP", &child.id().to_string()])
            .status()
            .map_err(|e| io(&dir, e))?;
        tokio::time::timeout(Duration::from_secs(30), wait(SampleKind::Delete))
            .await
            .map_err(|_| RigError::Zenoh("the agent's loss was never seen".into()))??;
        println!(
            "agent loss detected {} ms after SIGSTOP (link lease {} ms)",
            killed.elapsed().as_millis(),
            init::LINK_LEASE_MS
        );
        Ok(())
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn io(path: &std::path::Path, source: std::io::Error) -> RigError {
    RigError::Io {
        path: path.to_owned(),
        source,
    }
}

async fn tokens_recv(
    tokens: &zenoh::pubsub::Subscriber<zenoh::handlers::FifoChannelHandler<zenoh::sample::Sample>>,
) -> Option<SampleKind> {
    tokens.recv_async().await.ok().map(|s| s.kind())
}
