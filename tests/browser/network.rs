//! A network a test can pull the plug on: a TCP relay in front of the app. A browser
//! that loads the page through it sees what a real drop looks like — its sockets end
//! without a close handshake (1006), and new connections fail — until the test plugs
//! it back in. Nothing in the page or the server knows it is being tested.

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A relay to the app; dropped, it stops accepting.
pub struct Network {
    /// `http://127.0.0.1:PORT` of the relay.
    pub address: String,
    up: Arc<watch::Sender<bool>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Drop for Network {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl Network {
    /// A relay to `target` (`http://host:port`), up.
    pub async fn to(target: &str) -> Self {
        let target = target.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = format!("http://{}", listener.local_addr().expect("its address"));
        let up = Arc::new(watch::Sender::new(true));
        let accepting = tokio::spawn({
            let up = Arc::clone(&up);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(relay(client, target.clone(), up.subscribe()));
                }
            }
        });
        Self {
            address,
            up,
            accepting,
        }
    }

    /// Cuts every connection through the relay at once and refuses new ones.
    pub fn go_down(&self) {
        self.up.send_replace(false);
    }

    /// Lets connections through again.
    pub fn come_back(&self) {
        self.up.send_replace(true);
    }
}

/// Carries one connection until either side ends it or the network goes down.
async fn relay(mut client: TcpStream, target: String, mut up: watch::Receiver<bool>) {
    if !*up.borrow_and_update() {
        // Down: the connection is reset as soon as it is made.
        let _ = client.set_zero_linger();
        return;
    }
    let Ok(mut server) = TcpStream::connect(&target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = up.wait_for(|up| !*up) => {
            // Reset both ends, as a dead link would look once the peers notice.
            let _ = client.set_zero_linger();
            let _ = server.set_zero_linger();
        }
    }
}
