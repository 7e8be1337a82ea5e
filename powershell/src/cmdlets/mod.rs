//! (stub: helper RUNTIME fills this module — one file per cmdlet group)
