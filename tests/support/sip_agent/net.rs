//! The agent's sockets: UDP or TCP, the tasks that read them into the
//! queue, and the reflexes a real UA has (absorbing retransmissions,
//! retransmitting finals, dropping on request).

use super::*;

// ---------------------------------------------------------------------------
// Internals: shared state between the agent and its socket tasks
// ---------------------------------------------------------------------------

pub(super) type DropPredicate = Box<dyn Fn(&SipMessage) -> bool + Send>;

pub(super) struct DropRule {
    pub(super) remaining: usize,
    pub(super) pred: DropPredicate,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum RetransKey {
    /// 2xx to INVITE: stopped by an ACK with this Call-ID and CSeq.
    Ok(String, u32),
    /// Non-2xx final to INVITE: stopped by an ACK with this branch.
    Final(String),
}

pub(super) enum Reflex {
    Drop,
    Resend(Bytes, Peer),
    Queue,
}

pub(super) struct ServerTx {
    pub(super) reply_to: Peer,
    pub(super) last_response: Option<Bytes>,
}

pub(super) struct Auto {
    pub(super) absorb: bool,
    pub(super) retransmit_finals: bool,
    pub(super) drops: Vec<DropRule>,
    pub(super) dropped: usize,
    pub(super) absorbed: usize,
    /// (branch, method) of requests received.
    pub(super) server_tx: HashMap<(String, String), ServerTx>,
    /// (Call-ID, CSeq) of INVITEs we ACKed with a 2xx ACK: the ACK and where.
    pub(super) acks: HashMap<(String, u32), (Bytes, Peer)>,
    pub(super) retrans: HashMap<RetransKey, AbortHandle>,
    pub(super) last_source: Option<Peer>,
}

pub(super) struct Conn {
    pub(super) peer: SocketAddr,
    pub(super) writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
}

pub(super) struct TcpState {
    pub(super) conns: Mutex<HashMap<u64, Conn>>,
    pub(super) next_id: AtomicU64,
}

pub(super) enum Net {
    Udp(UdpSocket),
    Tcp(TcpState),
}

pub(super) struct Shared {
    pub(super) net: Net,
    pub(super) local: SocketAddr,
    pub(super) inbox: Mutex<VecDeque<Incoming>>,
    pub(super) notify: Notify,
    pub(super) auto: Mutex<Auto>,
    pub(super) tasks: Mutex<Vec<AbortHandle>>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(super) fn header_text(msg: &SipMessage, name: &str) -> Option<String> {
    msg.header(name).map(|v| text(&v))
}

pub(super) fn branch_of(msg: &SipMessage) -> String {
    msg.top_via()
        .ok()
        .and_then(|v| v.branch)
        .map(|b| text(&b))
        .unwrap_or_default()
}

pub(super) fn cseq_of(msg: &SipMessage) -> Option<(u32, Method)> {
    msg.cseq().ok()
}

pub(super) fn call_id_of(msg: &SipMessage) -> String {
    msg.call_id().map(|c| text(&c)).unwrap_or_default()
}

pub(super) fn method_text(m: &Method) -> String {
    text(m.as_bytes())
}

/// The key a request's server transaction is known by: top Via branch (or
/// Call-ID + CSeq for branchless RFC 2543 requests) and method.
pub(super) fn server_key(msg: &SipMessage) -> (String, String) {
    let method = msg.method().map(|m| method_text(&m)).unwrap_or_default();
    let branch = branch_of(msg);
    let id = if branch.is_empty() {
        let n = cseq_of(msg).map(|c| c.0).unwrap_or(0);
        format!("{}/{}", call_id_of(msg), n)
    } else {
        branch
    };
    (id, method)
}

pub(super) fn random_hex(bytes: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let mut buf = vec![0u8; bytes];
    if getrandom::getrandom(&mut buf).is_err() {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = ((n ^ t) >> ((i % 8) * 8)) as u8 ^ i as u8;
        }
    }
    hex::encode(buf)
}

pub(super) fn new_branch() -> String {
    format!("z9hG4bK{}", random_hex(8))
}

impl Shared {
    pub(super) fn push(&self, item: Incoming) {
        lock(&self.inbox).push_back(item);
        self.notify.notify_waiters();
    }

    pub(super) fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let h = tokio::spawn(fut);
        let mut tasks = lock(&self.tasks);
        tasks.retain(|t| !t.is_finished());
        tasks.push(h.abort_handle());
    }

    pub(super) async fn send(self: &Arc<Self>, to: Peer, data: Bytes) -> Result<()> {
        match &self.net {
            Net::Udp(sock) => {
                sock.send_to(&data, to.addr).await?;
                Ok(())
            }
            Net::Tcp(tcp) => {
                let writer = {
                    let conns = lock(&tcp.conns);
                    to.conn
                        .and_then(|id| conns.get(&id))
                        .or_else(|| conns.values().find(|c| c.peer == to.addr))
                        .map(|c| c.writer.clone())
                };
                let writer = match writer {
                    Some(w) => w,
                    None => self.connect(to.addr).await?,
                };
                let mut w = writer.lock().await;
                w.write_all(&data).await?;
                w.flush().await?;
                Ok(())
            }
        }
    }

    /// Opens a TCP connection to `dest` from our own port when the OS
    /// allows it (so the Contact port is also the connection's port), else
    /// from an ephemeral port.
    pub(super) async fn connect(
        self: &Arc<Self>,
        dest: SocketAddr,
    ) -> Result<Arc<tokio::sync::Mutex<OwnedWriteHalf>>> {
        let from_own_port = async {
            let s = TcpSocket::new_v4()?;
            s.set_reuseaddr(true)?;
            s.set_reuseport(true)?;
            s.bind(self.local)?;
            s.connect(dest).await
        };
        let stream = match from_own_port.await {
            Ok(s) => s,
            Err(_) => TcpStream::connect(dest).await?,
        };
        Ok(self.adopt(stream, dest))
    }

    /// Registers a TCP connection and starts reading it.
    pub(super) fn adopt(
        self: &Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Arc<tokio::sync::Mutex<OwnedWriteHalf>> {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let writer = Arc::new(tokio::sync::Mutex::new(write));
        let Net::Tcp(tcp) = &self.net else {
            return writer;
        };
        let id = tcp.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&tcp.conns).insert(
            id,
            Conn {
                peer,
                writer: writer.clone(),
            },
        );
        let me = self.clone();
        self.spawn(async move { me.read_stream(read, id, peer).await });
        writer
    }

    pub(super) async fn read_stream(
        self: Arc<Self>,
        mut read: tokio::net::tcp::OwnedReadHalf,
        id: u64,
        peer: SocketAddr,
    ) {
        let from = Peer {
            addr: peer,
            conn: Some(id),
        };
        let mut buf: Vec<u8> = Vec::with_capacity(8192);
        let mut chunk = vec![0u8; 16384];
        'conn: loop {
            loop {
                match frame_stream(&buf, DEFAULT_MAX_MESSAGE_SIZE) {
                    Ok(Frame::KeepAlive { len, pings }) => {
                        let len = len.min(buf.len());
                        buf.drain(..len);
                        for _ in 0..pings {
                            let _ = self.send(from, Bytes::from_static(b"\r\n")).await;
                        }
                    }
                    Ok(Frame::Message(n)) => {
                        let n = n.min(buf.len());
                        let frame = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                        buf.drain(..n);
                        let msg = parse(frame.clone(), false).ok();
                        self.incoming(frame, msg, from).await;
                    }
                    Ok(Frame::Incomplete) => break,
                    Err(_) => {
                        // Framing is lost: hand the rest to the test and
                        // close, as a real UA would.
                        let rest = Bytes::from(std::mem::take(&mut buf));
                        self.push(Incoming {
                            raw: rest,
                            msg: None,
                            from,
                        });
                        break 'conn;
                    }
                }
            }
            match read.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            }
        }
        if let Net::Tcp(tcp) = &self.net {
            lock(&tcp.conns).remove(&id);
        }
    }

    pub(super) async fn read_udp(self: Arc<Self>) {
        let Net::Udp(sock) = &self.net else { return };
        let mut buf = vec![0u8; 65536];
        loop {
            match sock.recv_from(&mut buf).await {
                Ok((n, src)) => {
                    let raw = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                    let msg = parse(raw.clone(), true).ok();
                    self.incoming(raw, msg, Peer::addr(src)).await;
                }
                Err(_) => {
                    // ICMP port unreachable from an earlier send shows up
                    // here on Linux; keep reading.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }

    pub(super) async fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    self.adopt(stream, peer);
                }
                // Fixed: a short back-off after a failed accept.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// The transaction-layer reflexes, then the queue.
    pub(super) async fn incoming(
        self: &Arc<Self>,
        raw: Bytes,
        msg: Option<SipMessage>,
        from: Peer,
    ) {
        let Some(msg) = msg else {
            self.push(Incoming {
                raw,
                msg: None,
                from,
            });
            return;
        };
        match self.reflex(&msg, from) {
            Reflex::Drop => {}
            Reflex::Resend(bytes, to) => {
                let _ = self.send(to, bytes).await;
            }
            Reflex::Queue => self.push(Incoming {
                raw,
                msg: Some(msg),
                from,
            }),
        }
    }

    pub(super) fn reflex(&self, msg: &SipMessage, from: Peer) -> Reflex {
        let mut auto = lock(&self.auto);
        auto.last_source = Some(from);
        if let Some(i) = auto.drops.iter().position(|r| (r.pred)(msg)) {
            if let Some(rule) = auto.drops.get_mut(i) {
                rule.remaining = rule.remaining.saturating_sub(1);
                if rule.remaining == 0 {
                    auto.drops.remove(i);
                }
            }
            auto.dropped += 1;
            return Reflex::Drop;
        }
        match msg.method() {
            Some(Method::Ack) => {
                let cid = call_id_of(msg);
                let n = cseq_of(msg).map(|c| c.0).unwrap_or(0);
                for key in [RetransKey::Ok(cid, n), RetransKey::Final(branch_of(msg))] {
                    if let Some(h) = auto.retrans.remove(&key) {
                        h.abort();
                    }
                }
                Reflex::Queue
            }
            Some(_) => {
                let key = server_key(msg);
                let absorb = auto.absorb;
                let seen = auto
                    .server_tx
                    .get(&key)
                    .map(|tx| tx.last_response.clone().map(|r| (r, tx.reply_to)));
                match seen {
                    Some(last) if absorb => {
                        auto.absorbed += 1;
                        match last {
                            Some((bytes, to)) => Reflex::Resend(bytes, to),
                            None => Reflex::Drop,
                        }
                    }
                    _ => {
                        auto.server_tx.insert(
                            key,
                            ServerTx {
                                reply_to: from,
                                last_response: None,
                            },
                        );
                        Reflex::Queue
                    }
                }
            }
            None => {
                let cseq = cseq_of(msg);
                let is_invite_2xx = msg.status().is_some_and(|s| (200..300).contains(&s))
                    && cseq.as_ref().is_some_and(|c| c.1 == Method::Invite);
                if !(is_invite_2xx && auto.absorb) {
                    return Reflex::Queue;
                }
                let n = cseq.map(|c| c.0).unwrap_or(0);
                let ack = auto.acks.get(&(call_id_of(msg), n)).cloned();
                match ack {
                    Some((ack, to)) => {
                        auto.absorbed += 1;
                        Reflex::Resend(ack, to)
                    }
                    None => Reflex::Queue,
                }
            }
        }
    }

    pub(super) fn retransmit(self: &Arc<Self>, key: RetransKey, bytes: Bytes, to: Peer) {
        let me = self.clone();
        let k2 = key.clone();
        let h = tokio::spawn(async move {
            let mut interval = T1;
            let mut elapsed = Duration::ZERO;
            while elapsed < T1 * 64 {
                // Fixed: the retransmission timer (RFC 3261 17.1.1.2).
                tokio::time::sleep(interval).await;
                elapsed += interval;
                if me.send(to, bytes.clone()).await.is_err() {
                    break;
                }
                interval = (interval * 2).min(T2);
            }
            lock(&me.auto).retrans.remove(&k2);
        });
        let mut auto = lock(&self.auto);
        if let Some(old) = auto.retrans.insert(key, h.abort_handle()) {
            old.abort();
        }
        drop(auto);
        lock(&self.tasks).push(h.abort_handle());
    }
}
