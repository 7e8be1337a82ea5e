//! The real [`NetworkApi`] on a Windows host, over computenetwork.dll (the HCN API of the Host
//! Networking Service). Kept thin: UTF-16 in, JSON text out, HRESULT + HNS's error record →
//! [`HcsError`]; every decision lives in `network.rs`.
//!
//! Every string HCN hands back (result documents and error records) is allocated with the COM
//! task allocator and freed here with `CoTaskMemFree` (the HCN reference says so for the error
//! record; hcsshim frees the result documents the same way) — unlike computecore's strings,
//! which `ffi.rs` frees with `LocalFree`.
//!
//! Compiled on Windows, and on Linux with the `check-windows` feature; not yet run on Windows.

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::ptr::null_mut;

use windows_sys::core::{HRESULT, PWSTR};
use windows_sys::Win32::System::Com::CoTaskMemFree;

use super::ffi::{to_sys_guid, utf16_until_nul, wide};
use super::guid::Guid;
use super::hresult::HcsError;
use super::network::{ApiResult, EndpointHandle, NamespaceHandle, NetworkApi, NetworkHandle};

/// computenetwork.dll's HCN functions (hcsshim: hcn/hcn.go), resolved on first use.
mod computenetwork {
    use std::ffi::c_void;
    use windows_sys::core::{GUID, HRESULT, PCWSTR, PWSTR};

    use crate::runtime::hcs::dll::{lazy_functions, COMPUTENETWORK};

    lazy_functions! { COMPUTENETWORK;
        fn HcnEnumerateNetworks(query: PCWSTR, networks: *mut PWSTR, record: *mut PWSTR) -> HRESULT;
        fn HcnOpenNetwork(id: *const GUID, network: *mut *mut c_void, record: *mut PWSTR) -> HRESULT;
        fn HcnCreateEndpoint(network: *const c_void, id: *const GUID, settings: PCWSTR, endpoint: *mut *mut c_void, record: *mut PWSTR) -> HRESULT;
        fn HcnQueryEndpointProperties(endpoint: *const c_void, query: PCWSTR, properties: *mut PWSTR, record: *mut PWSTR) -> HRESULT;
        fn HcnCreateNamespace(id: *const GUID, settings: PCWSTR, namespace: *mut *mut c_void, record: *mut PWSTR) -> HRESULT;
        fn HcnModifyNamespace(namespace: *const c_void, settings: PCWSTR, record: *mut PWSTR) -> HRESULT;
        fn HcnDeleteEndpoint(id: *const GUID, record: *mut PWSTR) -> HRESULT;
        fn HcnDeleteNamespace(id: *const GUID, record: *mut PWSTR) -> HRESULT;
        fn HcnCloseNetwork(network: *const c_void) -> HRESULT;
        fn HcnCloseEndpoint(endpoint: *const c_void) -> HRESULT;
        fn HcnCloseNamespace(namespace: *const c_void) -> HRESULT;
    }
}

/// Takes ownership of a string HCN allocated (freed with `CoTaskMemFree`).
fn take_hcn_string(text: PWSTR) -> String {
    // SAFETY: HCN returns null or a NUL-terminated UTF-16 string from the COM task allocator,
    // which we own from here on and free exactly once.
    unsafe {
        let out = utf16_until_nul(text);
        if !text.is_null() {
            CoTaskMemFree(text as *const c_void);
        }
        out
    }
}

/// HRESULT → result; the object's ID and HNS's error record (freed either way) become the
/// error's detail.
fn check(operation: &'static str, hr: HRESULT, record: PWSTR, id: Option<Guid>) -> ApiResult<()> {
    let record = take_hcn_string(record);
    if hr >= 0 {
        return Ok(());
    }
    let detail = match (id, record.trim()) {
        (Some(id), "") => id.to_string(),
        (Some(id), record) => format!("{id}: {record}"),
        (None, record) => record.to_string(),
    };
    Err(HcsError::new(operation, hr as u32).with_detail(detail))
}

/// The Host Networking Service of this machine.
pub struct HostNetworkApi;

impl NetworkApi for HostNetworkApi {
    fn enumerate_networks(&self, query: &str) -> ApiResult<String> {
        let query = wide(query);
        let (mut networks, mut record): (PWSTR, PWSTR) = (null_mut(), null_mut());
        // SAFETY: NUL-terminated query; both out-pointers receive strings we then own.
        let hr = unsafe {
            computenetwork::HcnEnumerateNetworks(query.as_ptr(), &mut networks, &mut record)
        }?;
        let networks = take_hcn_string(networks);
        check("HcnEnumerateNetworks", hr, record, None)?;
        Ok(networks)
    }

    fn open_network(&self, id: Guid) -> ApiResult<NetworkHandle> {
        let guid = to_sys_guid(id);
        let (mut network, mut record): (*mut c_void, PWSTR) = (null_mut(), null_mut());
        // SAFETY: valid GUID; out-pointers are valid.
        let hr = unsafe { computenetwork::HcnOpenNetwork(&guid, &mut network, &mut record) }?;
        check("HcnOpenNetwork", hr, record, Some(id))?;
        Ok(NetworkHandle(network as usize))
    }

    fn create_endpoint(
        &self,
        network: NetworkHandle,
        id: Guid,
        settings: &str,
    ) -> ApiResult<EndpointHandle> {
        let (guid, settings_w) = (to_sys_guid(id), wide(settings));
        let (mut endpoint, mut record): (*mut c_void, PWSTR) = (null_mut(), null_mut());
        // SAFETY: open network handle, valid GUID, NUL-terminated document.
        let hr = unsafe {
            computenetwork::HcnCreateEndpoint(
                network.0 as *const c_void,
                &guid,
                settings_w.as_ptr(),
                &mut endpoint,
                &mut record,
            )
        }?;
        check("HcnCreateEndpoint", hr, record, Some(id))?;
        Ok(EndpointHandle(endpoint as usize))
    }

    fn query_endpoint_properties(
        &self,
        endpoint: EndpointHandle,
        query: &str,
    ) -> ApiResult<String> {
        let query = wide(query);
        let (mut properties, mut record): (PWSTR, PWSTR) = (null_mut(), null_mut());
        // SAFETY: open endpoint handle, NUL-terminated query, valid out-pointers.
        let hr = unsafe {
            computenetwork::HcnQueryEndpointProperties(
                endpoint.0 as *const c_void,
                query.as_ptr(),
                &mut properties,
                &mut record,
            )
        }?;
        let properties = take_hcn_string(properties);
        check("HcnQueryEndpointProperties", hr, record, None)?;
        Ok(properties)
    }

    fn create_namespace(&self, id: Guid, settings: &str) -> ApiResult<NamespaceHandle> {
        let (guid, settings_w) = (to_sys_guid(id), wide(settings));
        let (mut namespace, mut record): (*mut c_void, PWSTR) = (null_mut(), null_mut());
        // SAFETY: valid GUID and NUL-terminated document; valid out-pointers.
        let hr = unsafe {
            computenetwork::HcnCreateNamespace(
                &guid,
                settings_w.as_ptr(),
                &mut namespace,
                &mut record,
            )
        }?;
        check("HcnCreateNamespace", hr, record, Some(id))?;
        Ok(NamespaceHandle(namespace as usize))
    }

    fn modify_namespace(&self, namespace: NamespaceHandle, settings: &str) -> ApiResult<()> {
        let settings_w = wide(settings);
        let mut record: PWSTR = null_mut();
        // SAFETY: open namespace handle and a NUL-terminated document.
        let hr = unsafe {
            computenetwork::HcnModifyNamespace(
                namespace.0 as *const c_void,
                settings_w.as_ptr(),
                &mut record,
            )
        }?;
        check("HcnModifyNamespace", hr, record, None)
    }

    fn delete_endpoint(&self, id: Guid) -> ApiResult<()> {
        let guid = to_sys_guid(id);
        let mut record: PWSTR = null_mut();
        // SAFETY: valid GUID and out-pointer.
        let hr = unsafe { computenetwork::HcnDeleteEndpoint(&guid, &mut record) }?;
        check("HcnDeleteEndpoint", hr, record, Some(id))
    }

    fn delete_namespace(&self, id: Guid) -> ApiResult<()> {
        let guid = to_sys_guid(id);
        let mut record: PWSTR = null_mut();
        // SAFETY: valid GUID and out-pointer.
        let hr = unsafe { computenetwork::HcnDeleteNamespace(&guid, &mut record) }?;
        check("HcnDeleteNamespace", hr, record, Some(id))
    }

    fn close_network(&self, network: NetworkHandle) -> ApiResult<()> {
        // SAFETY: `network.rs` closes each handle exactly once.
        let hr = unsafe { computenetwork::HcnCloseNetwork(network.0 as *const c_void) }?;
        check("HcnCloseNetwork", hr, null_mut(), None)
    }

    fn close_endpoint(&self, endpoint: EndpointHandle) -> ApiResult<()> {
        // SAFETY: `network.rs` closes each handle exactly once.
        let hr = unsafe { computenetwork::HcnCloseEndpoint(endpoint.0 as *const c_void) }?;
        check("HcnCloseEndpoint", hr, null_mut(), None)
    }

    fn close_namespace(&self, namespace: NamespaceHandle) -> ApiResult<()> {
        // SAFETY: `network.rs` closes each handle exactly once.
        let hr = unsafe { computenetwork::HcnCloseNamespace(namespace.0 as *const c_void) }?;
        check("HcnCloseNamespace", hr, null_mut(), None)
    }
}
