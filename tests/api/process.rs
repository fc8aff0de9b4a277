//! The service binary as a child process, so tests can SIGKILL it and start it again.

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{wait_for, WAIT};

/// A running `access-requests serve` with its environment.
pub struct ServiceProcess {
    child: Child,
    env: HashMap<String, String>,
    pub address: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl ServiceProcess {
    /// Starts the binary with `env` on a free port and waits until it is ready.
    pub async fn start(env: HashMap<String, String>) -> Self {
        Self::start_logging(env, Stdio::null()).await
    }

    /// Like [`ServiceProcess::start`], with the service's logs (stdout and stderr) going to `log`.
    pub async fn start_logging(mut env: HashMap<String, String>, log: impl Into<Stdio>) -> Self {
        let port = free_port();
        env.entry("RUST_LOG".into()).or_insert_with(|| "warn".into());
        let log: Stdio = log.into();
        let child = Command::new(env!("CARGO_BIN_EXE_access-requests"))
            .arg("serve")
            .env_clear()
            .envs(&env)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the service binary starts");
        let process = Self {
            child,
            env,
            address: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let ready = format!("{}/readyz", process.address);
        // A loaded machine may take a while to start a binary and open its database.
        wait_for("the service to be ready", 3 * WAIT, async || {
            client
                .get(&ready)
                .timeout(Duration::from_secs(1))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        process
    }

    /// SIGKILL: no shutdown hooks, no flushing, like a crashed machine.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the process and starts a new one on the same database and settings.
    pub async fn crash_and_restart(&mut self) {
        self.kill();
        let restarted = Self::start(self.env.clone()).await;
        let old = std::mem::replace(self, restarted);
        drop(old);
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
