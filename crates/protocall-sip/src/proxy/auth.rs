//! The registrar as the proxy's [`RegisterHandler`]: REGISTER answers and
//! the digest check of requests from untrusted sources, with what the
//! guard needs to know about each failed guess.

use super::{AuthNote, CallAuth, RegisterHandler, RegisterReply};
use crate::message::SipMessage;
use crate::registrar::{RegisterResult, Registrar};
use crate::transport::Inbound;

impl RegisterHandler for Registrar {
    fn handle_register(&self, req: &SipMessage, inbound: &Inbound, now_ms: i64) -> RegisterReply {
        let out = self.handle_register(req, inbound, now_ms);
        let auth = match &out.result {
            RegisterResult::Accepted { aor, .. } => AuthNote::Passed(aor.clone()),
            RegisterResult::Challenged {
                failed_attempt: true,
                username,
                ..
            } => AuthNote::Failed(username.clone()),
            _ => AuthNote::None,
        };
        RegisterReply {
            code: out.status,
            response: out.response,
            auth,
        }
    }

    fn authorize_call(&self, req: &SipMessage, inbound: &Inbound, now_ms: i64) -> CallAuth {
        match self.authenticate(req, true, now_ms) {
            Ok(user) => CallAuth::Consultant(user),
            Err(ch) if ch.is_failed_attempt() => CallAuth::Failed {
                response: crate::edit::response(req, 403)
                    .source(inbound.source)
                    .build(),
                user: ch.username,
            },
            // No credentials yet, a stale nonce, or credentials for another
            // proxy's realm: ask (again).
            Err(ch) => CallAuth::Challenge {
                code: ch.code,
                response: ch.response(req, inbound.source),
            },
        }
    }
}
