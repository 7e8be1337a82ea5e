//! (stub: helper FRONTEND fills this module)
