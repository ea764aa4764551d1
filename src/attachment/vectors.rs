//! The attachment test vectors (`tests/vectors/attachments.json`).
