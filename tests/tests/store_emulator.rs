//! The local AWS emulator itself: it answers over HTTP, records SES mail,
//! resets, and never outlives its owner — not on drop, not on panic, not
//! when the owning process aborts.

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use portal_infra::emulator::Emulator;

/// Whether a process is running (a zombie counts as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_gone(pid: u32, max: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < max {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !alive(pid)
}

#[tokio::test]
async fn own_instance_answers_and_stops_on_drop() {
    let emu = Emulator::start().await.expect("start");
    let pid = emu.pid();
    assert!(alive(pid));
    assert!(emu.endpoint().starts_with("http://127.0.0.1:"));
    let data = emu.data().await.expect("moto-api answers");
    assert!(data.is_object());
    drop(emu);
    assert!(
        wait_gone(pid, Duration::from_secs(5)),
        "moto {pid} survived drop"
    );
}

#[tokio::test]
async fn panicking_test_does_not_leak_the_server() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let emu = Emulator::start().await.expect("start");
        tx.send(emu.pid()).expect("send pid");
        panic!("simulated test failure while the emulator is up");
    });
    let pid = rx.await.expect("pid");
    assert!(task.await.is_err(), "the task panicked");
    assert!(
        wait_gone(pid, Duration::from_secs(5)),
        "moto {pid} survived a panic"
    );
}

/// Runs itself as a child process that starts an emulator, prints its pid
/// and aborts (no unwinding, no destructors): the kernel's parent-death
/// signal must still stop moto.
#[tokio::test]
async fn aborted_owner_process_does_not_orphan_the_server() {
    if std::env::var_os("PORTAL_EMULATOR_ABORT_CHILD").is_some() {
        let emu = Emulator::start().await.expect("start");
        println!("MOTO_PID={}", emu.pid());
        std::process::abort();
    }
    let out = Command::new(std::env::current_exe().expect("test exe"))
        .args([
            "--exact",
            "aborted_owner_process_does_not_orphan_the_server",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PORTAL_EMULATOR_ABORT_CHILD", "1")
        .output()
        .expect("run child");
    assert!(!out.status.success(), "child must have aborted");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let pid: u32 = stdout
        .lines()
        .find_map(|l| l.split_once("MOTO_PID=").map(|(_, pid)| pid))
        .unwrap_or_else(|| {
            panic!(
                "child printed no pid:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .trim()
        .parse()
        .expect("pid");
    assert!(
        wait_gone(pid, Duration::from_secs(5)),
        "moto {pid} orphaned"
    );
}

#[tokio::test]
async fn sent_emails_are_read_back_and_reset_clears_them() {
    // Private instance: reset() would disturb tests sharing one.
    let emu = Emulator::start().await.expect("start");
    let ses = aws_sdk_sesv2::Client::new(&emu.sdk_config().await);
    ses.create_email_identity()
        .email_identity("portal@example.com")
        .send()
        .await
        .expect("identity");
    let text = |s: &str| Content::builder().data(s).build().expect("content");
    ses.send_email()
        .from_email_address("portal@example.com")
        .destination(
            Destination::builder()
                .to_addresses("jane@partner.example")
                .bcc_addresses("audit@example.com")
                .build(),
        )
        .content(
            EmailContent::builder()
                .simple(
                    Message::builder()
                        .subject(text("Your certification expires soon"))
                        .body(
                            Body::builder()
                                .text(text("Renew before 2027-02-21."))
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("send");

    let sent = emu.sent_emails().await.expect("sent");
    assert_eq!(sent.len(), 1);
    let m = &sent[0];
    assert_eq!(m.source, "portal@example.com");
    assert_eq!(m.to, vec!["jane@partner.example"]);
    assert_eq!(m.subject, "Your certification expires soon");
    assert!(m.body.contains("Renew before 2027-02-21."), "{:?}", m.raw);

    emu.reset().await.expect("reset");
    assert!(emu.sent_emails().await.expect("sent").is_empty());
}

#[tokio::test]
async fn shared_instance_is_started_once() {
    let a = Emulator::shared().await.expect("shared");
    let b = Emulator::shared().await.expect("shared");
    assert_eq!(a.endpoint(), b.endpoint());
    assert!(alive(a.pid()));
    let env = a.env_vars();
    assert!(env
        .iter()
        .any(|(k, v)| *k == "AWS_ENDPOINT_URL" && v == a.endpoint()));
}
