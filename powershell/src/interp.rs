//! (stub: helper RUNTIME fills this module)
