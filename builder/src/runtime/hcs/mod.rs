//! The HCS runtime for Windows hosts (Host Compute Service). Not written yet (issue 8).
