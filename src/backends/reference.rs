//! The reference scorers as an engine [`Service`]: they answer judge and classifier requests
//! from the sample (see [`crate::protocol::scoring::reference`]), locally, and their answers are
//! stored and fingerprinted like a real judge's, so the synthetic default run goes through the
//! whole judging path.

use serde::{Deserialize, Serialize};

use crate::core::{CallError, Identity, Limits};
use crate::engine::Service;
use crate::protocol::scoring::reference::Case;

/// The reference scorers.
#[derive(Debug)]
pub struct ReferenceScorers {
    identity: Identity,
    limits: Limits,
}

/// A reference answer, in the form a real scorer gives for the step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReferenceReply {
    /// The answer text.
    pub text: String,
}

impl Default for ReferenceScorers {
    fn default() -> Self {
        ReferenceScorers {
            identity: Identity::new("reference", "scorers", "local"),
            limits: Limits { concurrency: 64, ..Limits::default() },
        }
    }
}

impl Service for ReferenceScorers {
    type Request = Case;
    type Reply = ReferenceReply;

    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn limits(&self) -> &Limits {
        &self.limits
    }

    async fn call(&self, request: &Case) -> Result<ReferenceReply, CallError> {
        Ok(ReferenceReply { text: request.answer() })
    }
}
