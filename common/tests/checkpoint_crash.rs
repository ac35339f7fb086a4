//! Durability of checkpoint commits: a child process commits in a tight loop and prints
//! `ACK n` after each commit returns; the parent SIGKILLs it and checks on reopen that the last
//! acknowledged checkpoint survived. Also: a second opener gets a clear "locked" error, not a hang.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use logfetch_common::checkpoint::{CheckpointError, SledCheckpointStore, commit, load};

const CHILD_ENV: &str = "LOGFETCH_CHECKPOINT_CRASH_CHILD_DB";

/// Runs only inside the child process the tests below start; a no-op otherwise.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SledCheckpointStore::open(std::path::Path::new(&dir)).unwrap();
        let mut state = load::<u64>(&store, "tenant-a", "flow").unwrap();
        loop {
            let (next, generation) = match state {
                Some((n, g)) => (n + 1, Some(g)),
                None => (1, None),
            };
            let g = commit(&store, "tenant-a", "flow", generation, &next).await.unwrap();
            // Only now is it acknowledged.
            println!("ACK {next}");
            state = Some((next, g));
        }
    });
}

fn spawn_child(dir: &std::path::Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn last_acknowledged_checkpoint_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let mut child = spawn_child(dir.path());
        let stdout = child.stdout.take().unwrap();
        let mut last_ack: Option<u64> = None;
        let mut lines = BufReader::new(stdout).lines();
        let started = Instant::now();
        // Let it commit a good number of times, then kill it mid-loop.
        while let Some(Ok(line)) = lines.next() {
            if let Some(n) = line.strip_prefix("ACK ") {
                last_ack = Some(n.trim().parse().unwrap());
                if last_ack.unwrap() % 50 == 0 && started.elapsed() > Duration::from_millis(300) {
                    break;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(60), "child too slow");
        }
        // SIGKILL: no destructors, no flush.
        unsafe { libc_kill(child.id() as i32, 9) };
        let _ = child.wait();
        // The child kept committing until the kill landed: every `ACK` it printed before dying is
        // still in the pipe, and the last of them is the last acknowledged commit.
        for line in lines.map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("ACK ") {
                // Each `ACK` line goes out in one write below PIPE_BUF, so none is cut short;
                // `max` keeps the count honest even if one were.
                if let Ok(n) = n.trim().parse::<u64>() {
                    last_ack = last_ack.max(Some(n));
                }
            }
        }
        let acked = last_ack.expect("child acknowledged nothing");
        let store = SledCheckpointStore::open(dir.path()).unwrap();
        let (value, _) = load::<u64>(&store, "tenant-a", "flow").unwrap().expect("checkpoint lost");
        assert!(value >= acked, "round {round}: acknowledged {acked} but only {value} survived");
        // At most the one commit in flight when the kill landed got further.
        assert!(value <= acked + 1, "round {round}: {value} is beyond the in-flight commit after {acked}");
        drop(store);
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn a_second_opener_gets_a_clear_lock_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child(dir.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait until the child holds the store.
    for line in lines.by_ref() {
        if line.unwrap().starts_with("ACK ") {
            break;
        }
    }
    let started = Instant::now();
    let err = SledCheckpointStore::open(dir.path()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "must not hang");
    assert!(matches!(err, CheckpointError::Locked { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("locked by another process") && msg.contains("admin"), "{msg}");
    unsafe { libc_kill(child.id() as i32, 9) };
    let _ = child.wait();
}
