//! The Wine silo runtime for Linux hosts: namespaces + overlayfs + Wine. Not written yet (issue 7).
