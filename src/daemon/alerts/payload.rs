//! The body each destination format posts for an alert.
