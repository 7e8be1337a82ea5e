//! The build engine: turns parsed Dockerfile stages into steps, runs them (COPY/ADD directly,
//! RUN through a [`crate::runtime::Runtime`]), snapshots each step into a layer and assembles the
//! image. Not written yet (issue 6).
