//! One formatter for an error and its causes, for log lines and messages.
//!
//! Most client errors (hyper, the AWS SDK) say only "client error (Connect)" at the top and
//! keep the useful part ("Connection refused", "failed to lookup address") in `source()`.

use std::error::Error;

/// `err` and every `source()` after it, joined with ": ". A cause whose text the previous
/// one already contains is skipped: many errors repeat their source in their own message.
pub(crate) fn chain(err: &dyn Error) -> String {
    let mut out = err.to_string();
    let mut last = out.clone();
    let mut cause = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !last.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        last = text;
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl fmt::Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for E {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn joins_every_cause() {
        let e = E(
            "client error (Connect)",
            Some(Box::new(E(
                "tcp connect error",
                Some(Box::new(E("Connection refused (os error 111)", None))),
            ))),
        );
        assert_eq!(
            chain(&e),
            "client error (Connect): tcp connect error: Connection refused (os error 111)"
        );
    }

    #[test]
    fn skips_a_cause_the_previous_text_repeats() {
        let e = E(
            "io: Connection refused",
            Some(Box::new(E("Connection refused", None))),
        );
        assert_eq!(chain(&e), "io: Connection refused");
        assert_eq!(chain(&E("alone", None)), "alone");
    }
}
