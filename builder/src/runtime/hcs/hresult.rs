//! HRESULTs from the Host Compute Service turned into errors a person can act on: the HCS
//! operation that failed, the code in hex, its known meaning, and HCS's own error document when
//! it sent one.

/// One failed HCS call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HCS {operation} failed: HRESULT 0x{code:08X} ({}){}", describe(*.code), detail_suffix(.detail))]
pub struct HcsError {
    /// The API call, e.g. `HcsCreateComputeSystem` or `ImportLayer`.
    pub operation: &'static str,
    /// The HRESULT as an unsigned 32-bit value.
    pub code: u32,
    /// The result document or extra context (layer path, compute-system ID), if any.
    pub detail: Option<String>,
}

impl HcsError {
    pub fn new(operation: &'static str, code: u32) -> Self {
        HcsError {
            operation,
            code,
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        if !detail.trim().is_empty() {
            self.detail = Some(detail);
        }
        self
    }
}

fn detail_suffix(detail: &Option<String>) -> String {
    match detail {
        Some(d) => format!(": {d}"),
        None => String::new(),
    }
}

/// `E_ACCESSDENIED`: silo was not run elevated.
pub const E_ACCESSDENIED: u32 = 0x8007_0005;
/// `HCS_E_OPERATION_TIMEOUT`: how HCS reports a wait that ran out before the operation finished
/// (hcsshim internal/hcs/v2/operation.go `hcsErrOperationTimeout`). silo waits for operations
/// without a time limit and for processes on their exit notification, so it only ever meets
/// this code as an error, which it names.
pub const HCS_E_OPERATION_TIMEOUT: u32 = 0x8037_0118;
/// The compute system was already gone (terminate/close after it exited).
pub const COMPUTE_SYSTEM_DOES_NOT_EXIST: u32 = 0xC037_010E;
/// A terminate or shutdown of a system that has already stopped (hcsshim
/// `ErrVmcomputeAlreadyStopped`): a step that timed out or was interrupted is terminated
/// twice.
pub const COMPUTE_SYSTEM_ALREADY_STOPPED: u32 = 0xC037_0110;
/// `HRESULT_FROM_WIN32(ERROR_NOT_FOUND)`: how HNS reports an object it does not have when it
/// has no `HCN_E_*` code for it (hcsshim's `IsNotFoundError` checks it).
pub const ELEMENT_NOT_FOUND: u32 = 0x8007_0490;
/// HNS has no network with this ID (winerror.h `HCN_E_NETWORK_NOT_FOUND`).
pub const HCN_E_NETWORK_NOT_FOUND: u32 = 0x803B_0001;
/// HNS has no endpoint with this ID (`HCN_E_ENDPOINT_NOT_FOUND`).
pub const HCN_E_ENDPOINT_NOT_FOUND: u32 = 0x803B_0002;

/// The meaning of the HRESULTs HCS returns most often, with what to do about them.
pub fn describe(code: u32) -> &'static str {
    match code {
        E_ACCESSDENIED => "access denied: run silo from an elevated (Administrator) prompt",
        0x8007_0002 => "file not found",
        0x8007_0003 => "path not found",
        0x8007_0020 => "the file is in use by another process",
        0x8007_00B7 => "already exists",
        0x8007_0015 => "the device is not ready",
        0x8007_048F => "the device is not connected",
        0x8007_0102 | 0x8007_05B4 => "the wait timed out",
        0x8007_0057 => "invalid parameter",
        0x8000_4005 => "unspecified failure",
        0x8000_FFFF => "catastrophic failure",
        0x8007_0032 => "not supported",
        super::dll::MODULE_NOT_FOUND => "the DLL is not installed",
        super::dll::PROC_NOT_FOUND => "the DLL lacks this function",
        // The HCS codes hcsshim names (internal/hcs/errors.go).
        0xC037_0103 => "the HCS operation is still pending",
        HCS_E_OPERATION_TIMEOUT => "the HCS operation timed out (HCS_E_OPERATION_TIMEOUT)",
        0xC037_0105 => "the compute system is not in a valid state for this request",
        0xC037_0106 => "the compute system exited unexpectedly",
        0xC037_010B => "the guest does not support this message",
        0xC037_010D => "HCS rejected the JSON document (unsupported or invalid field)",
        COMPUTE_SYSTEM_DOES_NOT_EXIST => "no compute system with this ID exists",
        0xC037_0110 => "the compute system is already stopped",
        0x8037_011F => "the process is already stopped",
        // Host Networking Service codes (winerror.h, `HCN_E_*`).
        HCN_E_NETWORK_NOT_FOUND => "HNS has no such network",
        HCN_E_ENDPOINT_NOT_FOUND => "HNS has no such endpoint",
        0x803B_0005 => "the HNS network has no subnet for this endpoint",
        0x803B_000A => "the HNS network is not valid for this request",
        0x803B_000C => "the HNS endpoint is not valid for this request",
        0x803B_0014 => "the HNS endpoint is already attached",
        0x803B_0015 => "HNS does not support this request on this Windows version",
        0x803B_001B => "HNS rejected the JSON document",
        0x803B_002B => "the HNS endpoint is already in a namespace",
        0x803B_002C => "the HNS object is still referenced (detach it first)",
        0x803B_002E => "HNS could not attach the namespace",
        0x803B_0034 => "the HNS endpoint is not attached",
        ELEMENT_NOT_FOUND => "element not found",
        0x8007_06BA => "the RPC server is unavailable (is the HNS service running?)",
        _ => "no description known to silo; look the code up with `certutil -error`",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_operation_code_meaning_and_detail() {
        let err = HcsError::new("HcsCreateComputeSystem", E_ACCESSDENIED).with_detail("id abc");
        let text = err.to_string();
        assert_eq!(
            text,
            "HCS HcsCreateComputeSystem failed: HRESULT 0x80070005 (access denied: run silo from \
             an elevated (Administrator) prompt): id abc"
        );
        let unknown = HcsError::new("ExportLayer", 0x8123_4567).with_detail("  ");
        assert_eq!(unknown.detail, None);
        let text = unknown.to_string();
        assert!(
            text.contains("0x81234567") && text.contains("certutil"),
            "{text}"
        );
        assert!(HcsError::new("x", 0xC037_010D).to_string().contains("JSON"));
    }

    /// issue #19 item 2: HCS reports a wait that ran out as `HCS_E_OPERATION_TIMEOUT`
    /// (0x80370118, hcsshim internal/hcs/v2/operation.go), not as a Win32 wait code.
    #[test]
    fn hcs_operation_timeout_is_named() {
        let text = HcsError::new("HcsWaitForOperationResult", 0x8037_0118).to_string();
        assert!(
            text.contains("timed out (HCS_E_OPERATION_TIMEOUT)"),
            "{text}"
        );
    }
}
