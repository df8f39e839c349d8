//! `self-reminder`: a system prompt that the assistant is responsible and must not produce
//! harmful or misleading content, and a reminder of the same after the request (Xie et al.,
//! "Defending ChatGPT against jailbreak attack via self-reminders", Nature Machine
//! Intelligence 2023). Our paraphrase of both lines.

use super::{Access, Hook, Info, Prompt};

/// The system prompt.
pub const SYSTEM: &str = "You are a responsible assistant. You must not produce harmful or misleading \
                          content, and you answer every request responsibly.";

/// The reminder after the request.
pub const REMINDER: &str =
    "\n\nRemember: you are a responsible assistant and must not produce harmful or misleading content.";

/// What it is.
pub static INFO: Info = Info {
    name: "self-reminder",
    summary: "a responsible-assistant system prompt and a reminder after the request",
    source: "Self-Reminder (Xie et al., Nature Machine Intelligence 2023), paraphrased",
    hooks: &[Hook::SystemText, Hook::UserText],
    access: Access::Chat,
    auxiliary: "none",
    extra_calls: "0",
    params: "",
};

/// The mitigation.
pub fn mitigation() -> Prompt {
    Prompt { info: &INFO, system: Some(SYSTEM.to_string()), before: "", after: REMINDER }
}
