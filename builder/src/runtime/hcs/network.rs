//! HNS networking for one RUN step (Host Networking Service, computenetwork.dll): the step joins
//! an existing HNS network — `nat` by default, the one `docker build` uses on Windows — through
//! an endpoint of its own in a network namespace of its own; the namespace's ID goes into the
//! compute-system document (`Container.Networking.Namespace`). `--network none` does not come
//! here at all: no namespace, no adapter.
//!
//! - [`NetworkApi`]: the HCN calls silo makes (real implementation in `ffi_hcn.rs`).
//! - The HCN schema v2 documents those calls take, field names as HNS spells them (hcsshim
//!   `hcn/`: hcn.go, hcnendpoint.go, hcnnamespace.go, hcnnetwork.go).
//! - [`attach`] → [`NetworkAttachment`]: find network → create endpoint → create namespace →
//!   add the endpoint to the namespace; [`NetworkAttachment::detach`] (or drop) undoes exactly
//!   what was done, in reverse, also when `attach` stops halfway.
//! - Hyper-V isolation: the documents that hot-add the endpoint to a utility VM
//!   ([`uvm_network_adapter_request`], [`uvm_guest_namespace_request`]); not wired yet.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;

use super::guid::Guid;
use super::hresult::{
    HcsError, ELEMENT_NOT_FOUND, HCN_E_ENDPOINT_NOT_FOUND, HCN_E_NETWORK_NOT_FOUND,
};
use super::schema::{self, SchemaVersion};

/// The network RUN steps join unless told otherwise: Docker's default network on Windows.
pub const DEFAULT_NETWORK: &str = "nat";

/// The HCN schema version silo writes (what hcsshim's `V2SchemaVersion` sends: 2.0).
pub const HCN_SCHEMA: SchemaVersion = SchemaVersion { major: 2, minor: 0 };

pub type ApiResult<T> = Result<T, HcsError>;

/// An open HCN network (opaque; the FFI keeps the raw handle in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkHandle(pub usize);

/// An open HCN endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointHandle(pub usize);

/// An open HCN namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceHandle(pub usize);

/// The HCN calls silo makes; documents in and out are JSON text. Errors name the HCN call and
/// carry HNS's error record when it sent one.
pub trait NetworkApi: Send + Sync {
    /// `HcnEnumerateNetworks`: a JSON array of the IDs of the networks matching `query`.
    fn enumerate_networks(&self, query: &str) -> ApiResult<String>;
    /// `HcnOpenNetwork`.
    fn open_network(&self, id: Guid) -> ApiResult<NetworkHandle>;
    /// `HcnCreateEndpoint` on an open network, with silo's own endpoint ID.
    fn create_endpoint(
        &self,
        network: NetworkHandle,
        id: Guid,
        settings: &str,
    ) -> ApiResult<EndpointHandle>;
    /// `HcnQueryEndpointProperties`: the endpoint document (Hyper-V needs its `MacAddress`).
    fn query_endpoint_properties(&self, endpoint: EndpointHandle, query: &str)
        -> ApiResult<String>;
    /// `HcnCreateNamespace` with silo's own namespace ID.
    fn create_namespace(&self, id: Guid, settings: &str) -> ApiResult<NamespaceHandle>;
    /// `HcnModifyNamespace` (add/remove an endpoint).
    fn modify_namespace(&self, namespace: NamespaceHandle, settings: &str) -> ApiResult<()>;
    /// `HcnDeleteEndpoint`.
    fn delete_endpoint(&self, id: Guid) -> ApiResult<()>;
    /// `HcnDeleteNamespace`.
    fn delete_namespace(&self, id: Guid) -> ApiResult<()>;
    /// `HcnCloseNetwork`.
    fn close_network(&self, network: NetworkHandle) -> ApiResult<()>;
    /// `HcnCloseEndpoint`.
    fn close_endpoint(&self, endpoint: EndpointHandle) -> ApiResult<()>;
    /// `HcnCloseNamespace`.
    fn close_namespace(&self, namespace: NamespaceHandle) -> ApiResult<()>;
}

// ---- HCN schema v2 documents -------------------------------------------------------------

/// `HostComputeQuery`: the query for the enumerate/query calls. `Filter` is a JSON object
/// *serialised into a string* (HNS parses it separately).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostComputeQuery {
    pub schema_version: SchemaVersion,
    /// 0 = standard properties, 1 = detailed; 0 is left out, as hcsshim does.
    #[serde(skip_serializing_if = "is_zero")]
    pub flags: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filter: String,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// The query that finds a network by its HNS name.
pub fn network_by_name_query(name: &str) -> HostComputeQuery {
    HostComputeQuery {
        schema_version: HCN_SCHEMA,
        flags: 0,
        filter: serde_json::json!({ "Name": name }).to_string(),
    }
}

/// `HostComputeEndpoint` as silo creates it: on a network, everything else (IP address from
/// the network's IPAM, MAC, DNS) left to HNS, as `docker run` on `nat` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostComputeEndpoint {
    /// `silo-<endpoint id>`, so a leaked endpoint is recognisable in `Get-HnsEndpoint`.
    pub name: String,
    /// The network's ID.
    pub host_compute_network: String,
    pub schema_version: SchemaVersion,
}

/// HCN `NamespaceType`. Process isolation leaves it out (hcsshim's `hcsoci` creates its
/// container namespaces with an empty type, containerd's CRI with an empty namespace), letting
/// HNS choose; `Guest` is what a namespace that lives inside a utility VM uses (buildkit's
/// Windows CNI provider, hcsshim's `Sync` only acts on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NamespaceType {
    Host,
    HostDefault,
    Guest,
    GuestDefault,
}

/// `HostComputeNamespace` as silo creates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostComputeNamespace {
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    pub namespace_type: Option<NamespaceType>,
    pub schema_version: SchemaVersion,
}

/// `ModifyNamespaceSettingRequest.ResourceType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NamespaceResourceType {
    Container,
    Endpoint,
}

/// HCN `RequestType` of modify requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RequestType {
    Add,
    Remove,
    Update,
    Refresh,
}

/// The `Settings` of an endpoint add/remove: `{"EndpointId": "<id>"}` (an object, not a string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespaceEndpoint {
    #[serde(rename = "EndpointId")]
    pub endpoint_id: String,
}

/// `ModifyNamespaceSettingRequest`, the document of `HcnModifyNamespace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyNamespaceSettingRequest {
    pub resource_type: NamespaceResourceType,
    pub request_type: RequestType,
    pub settings: NamespaceEndpoint,
}

/// The request that adds (or removes) an endpoint to (from) a namespace.
pub fn namespace_endpoint_request(
    request_type: RequestType,
    endpoint: Guid,
) -> ModifyNamespaceSettingRequest {
    ModifyNamespaceSettingRequest {
        resource_type: NamespaceResourceType::Endpoint,
        request_type,
        settings: NamespaceEndpoint {
            endpoint_id: endpoint.to_string(),
        },
    }
}

// ---- Hyper-V isolation: the utility VM's adapter -----------------------------------------
//
// Under Hyper-V the namespace alone does nothing: the endpoint must become a network adapter
// of the utility VM, and the Windows guest must be told about the namespace and the adapter
// (hcsshim internal/uvm/network.go). In order, on the running utility VM:
// 1. `uvm_guest_namespace_request(Add)` (hcsshim only sends it when the guest reports it
//    supports namespace requests);
// 2. the guest's `PreAdd` of the adapter — NOT built here: its settings are the endpoint in
//    HNS's v1 format (IP address, gateway, DNS), which silo does not fetch;
// 3. `uvm_network_adapter_request(Add)`;
// then the hosted container with `Networking.Namespace`. Teardown: adapter `Remove`, then
// namespace `Remove`. The namespace itself is created as for process isolation (hcsshim's
// `hcsoci` uses the same typeless namespace for both).

/// Schema `NetworkAdapter`: the utility VM's adapter backed by an HNS endpoint.
#[derive(Serialize)]
struct UvmNetworkAdapter<'a> {
    #[serde(rename = "EndpointId")]
    endpoint_id: String,
    #[serde(rename = "MacAddress")]
    mac_address: &'a str,
}

/// The namespace as the guest gets it. hcsshim forwards HNS's whole namespace document
/// (`HcnQueryNamespaceProperties`); silo sends its ID and schema version.
#[derive(Serialize)]
struct GuestNamespace {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "SchemaVersion")]
    schema_version: SchemaVersion,
}

/// `guestrequest.NetworkModifyRequest` (build 17763 and later; RS4 guests spelled the ID
/// `AdapterInstanceId`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GuestAdapter {
    adapter_id: String,
    request_type: schema::RequestType,
}

fn to_value(document: impl Serialize) -> serde_json::Value {
    serde_json::to_value(document).expect("HCS documents are plain structs of strings")
}

/// Adds (removes) the step's namespace inside the utility VM's guest (guest resource type
/// `NetworkNamespace`).
pub fn uvm_guest_namespace_request(
    request_type: schema::RequestType,
    namespace: Guid,
) -> schema::ModifySettingRequest {
    schema::ModifySettingRequest {
        resource_path: None,
        request_type: None,
        settings: None,
        guest_request: Some(schema::GuestRequest {
            resource_type: "NetworkNamespace".into(),
            request_type,
            settings: to_value(GuestNamespace {
                id: namespace.to_string(),
                schema_version: HCN_SCHEMA,
            }),
        }),
    }
}

/// Hot-adds (removes) the endpoint as the utility VM's adapter `adapter` (an ID of the
/// caller's choosing; hcsshim draws a new one per adapter), and tells the guest (resource type
/// `Network`). hcsshim's remove sends its guest request without a `ResourceType`; silo's
/// `GuestRequest` always has one, so the remove says `Network` too (unverified on a guest).
pub fn uvm_network_adapter_request(
    request_type: schema::RequestType,
    adapter: Guid,
    endpoint: Guid,
    mac_address: &str,
) -> schema::ModifySettingRequest {
    schema::ModifySettingRequest {
        resource_path: Some(format!("VirtualMachine/Devices/NetworkAdapters/{adapter}")),
        request_type: Some(request_type),
        settings: Some(to_value(UvmNetworkAdapter {
            endpoint_id: endpoint.to_string(),
            mac_address,
        })),
        guest_request: Some(schema::GuestRequest {
            resource_type: "Network".into(),
            request_type,
            settings: to_value(GuestAdapter {
                adapter_id: adapter.to_string(),
                request_type,
            }),
        }),
    }
}

// ---- attach / detach ---------------------------------------------------------------------

/// Why a step could not join its network.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(
        "HNS network {name:?} does not exist on this host. `nat` is the network Docker's daemon \
         creates when it starts on Windows (with the Containers feature installed); start \
         dockerd once to create it, or build with `--network none` to run RUN steps without a \
         network adapter. HNS's own network names are listed by `Get-HnsNetwork` (they can \
         differ from `docker network ls`)"
    )]
    NotFound { name: String },
    #[error("joining HNS network {network:?}: {error}")]
    Call { network: String, error: HcsError },
    #[error(
        "joining HNS network {network:?}: HNS answered {operation} with {reply:?}, which silo \
         cannot read: {reason}"
    )]
    Reply {
        network: String,
        operation: &'static str,
        reply: String,
        reason: String,
    },
}

/// One step's place on an HNS network. Pass [`namespace_id`](Self::namespace_id) as the
/// compute system's `Networking.Namespace`; detach only after that compute system is gone.
pub struct NetworkAttachment {
    api: Arc<dyn NetworkApi>,
    network_name: String,
    pub network_id: Guid,
    pub endpoint_id: Guid,
    pub namespace_id: Guid,
    progress: Progress,
}

/// What `attach` has done so far (so teardown undoes exactly that).
#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    endpoint_created: bool,
    /// Kept open until the endpoint is deleted (Hyper-V asks it for its MAC address).
    endpoint: Option<EndpointHandle>,
    /// Kept open from creation until the endpoint is removed from it again.
    namespace: Option<NamespaceHandle>,
    namespace_created: bool,
    endpoint_added: bool,
}

/// Joins `network_name` (usually [`DEFAULT_NETWORK`]): find the network → create an endpoint
/// on it → create a namespace → add the endpoint to the namespace. On failure whatever was
/// created is undone (best effort, logged) and the error names the HCN call that failed.
pub fn attach(
    api: Arc<dyn NetworkApi>,
    network_name: &str,
) -> Result<NetworkAttachment, NetworkError> {
    let call = |error: HcsError| NetworkError::Call {
        network: network_name.to_string(),
        error,
    };
    let network_id = find_network(api.as_ref(), network_name)?;
    let mut attachment = NetworkAttachment {
        api: api.clone(),
        network_name: network_name.to_string(),
        network_id,
        endpoint_id: fresh_id("endpoint"),
        namespace_id: fresh_id("namespace"),
        progress: Progress::default(),
    };
    // From here on, an early return drops `attachment`, which undoes what was done.
    let network = api.open_network(network_id).map_err(|e| {
        if e.code == HCN_E_NETWORK_NOT_FOUND {
            // Deleted between the enumeration and the open.
            NetworkError::NotFound {
                name: network_name.to_string(),
            }
        } else {
            call(e)
        }
    })?;
    let network = ClosingNetwork {
        api: api.as_ref(),
        handle: network,
    };
    let endpoint = HostComputeEndpoint {
        name: format!("silo-{}", attachment.endpoint_id),
        host_compute_network: network_id.to_string(),
        schema_version: HCN_SCHEMA,
    };
    let endpoint = api
        .create_endpoint(network.handle, attachment.endpoint_id, &to_json(&endpoint))
        .map_err(call)?;
    attachment.progress.endpoint_created = true;
    attachment.progress.endpoint = Some(endpoint);
    drop(network);
    let namespace = HostComputeNamespace {
        namespace_type: None,
        schema_version: HCN_SCHEMA,
    };
    let handle = api
        .create_namespace(attachment.namespace_id, &to_json(&namespace))
        .map_err(call)?;
    attachment.progress.namespace_created = true;
    attachment.progress.namespace = Some(handle);
    let add = namespace_endpoint_request(RequestType::Add, attachment.endpoint_id);
    api.modify_namespace(handle, &to_json(&add)).map_err(call)?;
    attachment.progress.endpoint_added = true;
    Ok(attachment)
}

impl NetworkAttachment {
    /// The MAC address HNS gave the endpoint (`HcnQueryEndpointProperties`): what a utility
    /// VM's network adapter is created with under Hyper-V isolation.
    pub fn mac_address(&self) -> Result<String, NetworkError> {
        let call = |error: HcsError| NetworkError::Call {
            network: self.network_name.clone(),
            error,
        };
        // Open from `attach` until `detach`; `E_HANDLE` should a caller get here otherwise.
        let endpoint = self
            .progress
            .endpoint
            .ok_or_else(|| call(HcsError::new("HcnQueryEndpointProperties", 0x8007_0006)))?;
        let query = HostComputeQuery {
            schema_version: HCN_SCHEMA,
            flags: 0,
            filter: String::new(),
        };
        let properties = self
            .api
            .query_endpoint_properties(endpoint, &to_json(&query))
            .map_err(call)?;
        endpoint_mac_address(&properties).map_err(|reason| NetworkError::Reply {
            network: self.network_name.clone(),
            operation: "HcnQueryEndpointProperties",
            reply: properties.clone(),
            reason,
        })
    }

    /// Undoes the attachment in reverse: remove the endpoint from the namespace, close and
    /// delete the namespace, delete the endpoint. Every step is tried; the first error is
    /// returned (later ones are logged). An object HNS no longer has counts as undone.
    pub fn detach(mut self) -> Result<(), NetworkError> {
        self.undo()
    }

    fn undo(&mut self) -> Result<(), NetworkError> {
        let api = self.api.clone();
        let progress = std::mem::take(&mut self.progress);
        let mut first: Option<HcsError> = None;
        let mut keep = |result: ApiResult<()>| {
            if let Err(e) = result {
                if matches!(e.code, HCN_E_ENDPOINT_NOT_FOUND | ELEMENT_NOT_FOUND) {
                    return;
                }
                match first {
                    None => first = Some(e),
                    Some(_) => tracing::warn!("HNS teardown: {e}"),
                }
            }
        };
        if let Some(namespace) = progress.namespace {
            if progress.endpoint_added {
                let remove = namespace_endpoint_request(RequestType::Remove, self.endpoint_id);
                keep(api.modify_namespace(namespace, &to_json(&remove)));
            }
            keep(api.close_namespace(namespace));
        }
        if progress.namespace_created {
            keep(api.delete_namespace(self.namespace_id));
        }
        if let Some(endpoint) = progress.endpoint {
            keep(api.close_endpoint(endpoint));
        }
        if progress.endpoint_created {
            keep(api.delete_endpoint(self.endpoint_id));
        }
        match first {
            None => Ok(()),
            Some(error) => Err(NetworkError::Call {
                network: self.network_name.clone(),
                error,
            }),
        }
    }
}

impl Drop for NetworkAttachment {
    fn drop(&mut self) {
        if let Err(e) = self.undo() {
            tracing::warn!("HNS teardown: {e}");
        }
    }
}

impl std::fmt::Debug for NetworkAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkAttachment")
            .field("network", &self.network_name)
            .field("network_id", &self.network_id)
            .field("endpoint_id", &self.endpoint_id)
            .field("namespace_id", &self.namespace_id)
            .finish_non_exhaustive()
    }
}

/// The ID of the network called `name` (the first, should HNS know several).
fn find_network(api: &dyn NetworkApi, name: &str) -> Result<Guid, NetworkError> {
    let reply = api
        .enumerate_networks(&to_json(&network_by_name_query(name)))
        .map_err(|error| NetworkError::Call {
            network: name.to_string(),
            error,
        })?;
    let ids = parse_id_list(&reply).map_err(|reason| NetworkError::Reply {
        network: name.to_string(),
        operation: "HcnEnumerateNetworks",
        reply: reply.clone(),
        reason,
    })?;
    ids.into_iter()
        .next()
        .ok_or_else(|| NetworkError::NotFound {
            name: name.to_string(),
        })
}

/// HNS's list of object IDs: a JSON array of GUID strings (`null` or nothing = none).
pub fn parse_id_list(reply: &str) -> Result<Vec<Guid>, String> {
    if reply.trim().is_empty() {
        return Ok(Vec::new());
    }
    let ids: Option<Vec<String>> = serde_json::from_str(reply).map_err(|e| e.to_string())?;
    ids.unwrap_or_default()
        .iter()
        .map(|id| id.parse::<Guid>())
        .collect()
}

/// `MacAddress` of an endpoint document.
fn endpoint_mac_address(properties: &str) -> Result<String, String> {
    let document: serde_json::Value =
        serde_json::from_str(properties).map_err(|e| e.to_string())?;
    match &document["MacAddress"] {
        serde_json::Value::String(mac) if !mac.is_empty() => Ok(mac.clone()),
        serde_json::Value::Null => Err("the endpoint has no MacAddress".into()),
        other => Err(format!("MacAddress is {other}, not a MAC address")),
    }
}

fn to_json(document: &impl Serialize) -> String {
    serde_json::to_string(document).expect("HCN documents are plain structs of strings")
}

/// A fresh ID for one of silo's HNS objects: unique per process, call and time (HNS wants the
/// caller to choose IDs; silo derives them instead of drawing random numbers).
fn fresh_id(kind: &str) -> Guid {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let seed = format!(
        "{}/{nanos}/{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    Guid::derived_from_name(&format!("silo-hns-{kind}"), &seed)
}

/// An open network, closed when this goes out of scope (a failure is logged).
struct ClosingNetwork<'a> {
    api: &'a dyn NetworkApi,
    handle: NetworkHandle,
}

impl Drop for ClosingNetwork<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.api.close_network(self.handle) {
            tracing::warn!("HNS: {e}");
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Mutex;

    use super::*;

    const NETWORK: &str = "3f7a1a6e-52a6-4a6b-9a52-0c8e6a4d2b10";

    /// Records every HCN call with its argument; fails the call named `fail_at`.
    pub(in crate::runtime::hcs) struct Fake {
        calls: Mutex<Vec<(&'static str, String)>>,
        fail_at: Option<(&'static str, u32)>,
        networks: String,
        next_handle: AtomicU64,
    }

    impl Fake {
        pub(in crate::runtime::hcs) fn new() -> Fake {
            Fake {
                calls: Mutex::new(Vec::new()),
                fail_at: None,
                networks: format!("[\"{NETWORK}\"]"),
                next_handle: AtomicU64::new(1),
            }
        }

        fn failing(op: &'static str) -> Fake {
            Fake::failing_with(op, 0x8000_4005)
        }

        fn failing_with(op: &'static str, code: u32) -> Fake {
            Fake {
                fail_at: Some((op, code)),
                ..Fake::new()
            }
        }

        fn call(&self, op: &'static str, arg: impl Into<String>) -> ApiResult<()> {
            self.calls.lock().unwrap().push((op, arg.into()));
            match self.fail_at {
                Some((failing, code)) if failing == op => Err(HcsError::new(op, code)),
                _ => Ok(()),
            }
        }

        fn handle(&self) -> usize {
            self.next_handle.fetch_add(1, Ordering::Relaxed) as usize
        }

        pub(in crate::runtime::hcs) fn ops(&self) -> Vec<&'static str> {
            self.calls.lock().unwrap().iter().map(|c| c.0).collect()
        }

        pub(in crate::runtime::hcs) fn arg(&self, op: &str, nth: usize) -> String {
            let calls = self.calls.lock().unwrap();
            let found: Vec<&String> = calls.iter().filter(|c| c.0 == op).map(|c| &c.1).collect();
            found
                .get(nth)
                .unwrap_or_else(|| panic!("no call {nth} of {op}"))
                .to_string()
        }
    }

    impl NetworkApi for Fake {
        fn enumerate_networks(&self, query: &str) -> ApiResult<String> {
            self.call("HcnEnumerateNetworks", query)?;
            Ok(self.networks.clone())
        }
        fn open_network(&self, id: Guid) -> ApiResult<NetworkHandle> {
            self.call("HcnOpenNetwork", id.to_string())?;
            Ok(NetworkHandle(self.handle()))
        }
        fn create_endpoint(
            &self,
            network: NetworkHandle,
            id: Guid,
            settings: &str,
        ) -> ApiResult<EndpointHandle> {
            self.call(
                "HcnCreateEndpoint",
                format!("{} {id} {settings}", network.0),
            )?;
            Ok(EndpointHandle(self.handle()))
        }
        fn query_endpoint_properties(
            &self,
            endpoint: EndpointHandle,
            query: &str,
        ) -> ApiResult<String> {
            self.call(
                "HcnQueryEndpointProperties",
                format!("{} {query}", endpoint.0),
            )?;
            Ok(r#"{"ID":"x","MacAddress":"00-15-5D-52-C0-01","State":2}"#.into())
        }
        fn create_namespace(&self, id: Guid, settings: &str) -> ApiResult<NamespaceHandle> {
            self.call("HcnCreateNamespace", format!("{id} {settings}"))?;
            Ok(NamespaceHandle(self.handle()))
        }
        fn modify_namespace(&self, namespace: NamespaceHandle, settings: &str) -> ApiResult<()> {
            self.call("HcnModifyNamespace", format!("{} {settings}", namespace.0))
        }
        fn delete_endpoint(&self, id: Guid) -> ApiResult<()> {
            self.call("HcnDeleteEndpoint", id.to_string())
        }
        fn delete_namespace(&self, id: Guid) -> ApiResult<()> {
            self.call("HcnDeleteNamespace", id.to_string())
        }
        fn close_network(&self, network: NetworkHandle) -> ApiResult<()> {
            self.call("HcnCloseNetwork", network.0.to_string())
        }
        fn close_endpoint(&self, endpoint: EndpointHandle) -> ApiResult<()> {
            self.call("HcnCloseEndpoint", endpoint.0.to_string())
        }
        fn close_namespace(&self, namespace: NamespaceHandle) -> ApiResult<()> {
            self.call("HcnCloseNamespace", namespace.0.to_string())
        }
    }

    /// The calls `attach` makes, in order.
    pub(in crate::runtime::hcs) const ATTACH: [&str; 6] = [
        "HcnEnumerateNetworks",
        "HcnOpenNetwork",
        "HcnCreateEndpoint",
        "HcnCloseNetwork",
        "HcnCreateNamespace",
        "HcnModifyNamespace",
    ];

    /// The calls that undo a complete attachment, in order.
    pub(in crate::runtime::hcs) const DETACH: [&str; 5] = [
        "HcnModifyNamespace",
        "HcnCloseNamespace",
        "HcnDeleteNamespace",
        "HcnCloseEndpoint",
        "HcnDeleteEndpoint",
    ];

    fn id(text: &str) -> Guid {
        text.parse().unwrap()
    }

    #[test]
    fn documents_have_hcn_field_names() {
        let query = to_json(&network_by_name_query("nat"));
        assert_eq!(
            query,
            r#"{"SchemaVersion":{"Major":2,"Minor":0},"Filter":"{\"Name\":\"nat\"}"}"#
        );
        let detailed = HostComputeQuery {
            flags: 1,
            filter: String::new(),
            ..network_by_name_query("x")
        };
        assert_eq!(
            to_json(&detailed),
            r#"{"SchemaVersion":{"Major":2,"Minor":0},"Flags":1}"#
        );
        let endpoint = HostComputeEndpoint {
            name: "silo-e".into(),
            host_compute_network: NETWORK.into(),
            schema_version: HCN_SCHEMA,
        };
        assert_eq!(
            to_json(&endpoint),
            format!(
                r#"{{"Name":"silo-e","HostComputeNetwork":"{NETWORK}","SchemaVersion":{{"Major":2,"Minor":0}}}}"#
            )
        );
        let process = HostComputeNamespace {
            namespace_type: None,
            schema_version: HCN_SCHEMA,
        };
        assert_eq!(
            to_json(&process),
            r#"{"SchemaVersion":{"Major":2,"Minor":0}}"#
        );
        let guest = HostComputeNamespace {
            namespace_type: Some(NamespaceType::Guest),
            ..process
        };
        assert_eq!(
            to_json(&guest),
            r#"{"Type":"Guest","SchemaVersion":{"Major":2,"Minor":0}}"#
        );
        let endpoint_id = id("0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d");
        assert_eq!(
            to_json(&namespace_endpoint_request(RequestType::Add, endpoint_id)),
            r#"{"ResourceType":"Endpoint","RequestType":"Add","Settings":{"EndpointId":"0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"}}"#
        );
        assert_eq!(
            to_json(&namespace_endpoint_request(
                RequestType::Remove,
                endpoint_id
            )),
            r#"{"ResourceType":"Endpoint","RequestType":"Remove","Settings":{"EndpointId":"0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"}}"#
        );
    }

    #[test]
    fn attach_joins_the_named_network_and_detach_undoes_it_in_reverse() {
        let fake = Arc::new(Fake::new());
        let attachment = attach(fake.clone(), DEFAULT_NETWORK).unwrap();
        assert_eq!(fake.ops(), ATTACH);
        assert_eq!(attachment.network_id, id(NETWORK));
        assert_ne!(attachment.endpoint_id, attachment.namespace_id);

        // The query asks for the network by name; the endpoint is created on the network
        // opened with the ID HNS returned, through that open handle.
        let query: serde_json::Value =
            serde_json::from_str(&fake.arg("HcnEnumerateNetworks", 0)).unwrap();
        assert_eq!(query["Filter"], r#"{"Name":"nat"}"#);
        assert_eq!(fake.arg("HcnOpenNetwork", 0), NETWORK);
        let create = fake.arg("HcnCreateEndpoint", 0);
        let (network_handle, rest) = create.split_once(' ').unwrap();
        let (endpoint_id, settings) = rest.split_once(' ').unwrap();
        assert_eq!(fake.arg("HcnCloseNetwork", 0), network_handle);
        assert_eq!(endpoint_id, attachment.endpoint_id.to_string());
        let settings: serde_json::Value = serde_json::from_str(settings).unwrap();
        assert_eq!(settings["HostComputeNetwork"], NETWORK);
        assert_eq!(settings["Name"], format!("silo-{endpoint_id}"));
        let namespace = fake.arg("HcnCreateNamespace", 0);
        assert!(
            namespace.starts_with(&format!("{} {{", attachment.namespace_id)),
            "{namespace}"
        );
        let add = fake.arg("HcnModifyNamespace", 0);
        assert!(add.contains(r#""RequestType":"Add""#), "{add}");
        assert!(add.contains(&attachment.endpoint_id.to_string()), "{add}");

        let (endpoint_id, namespace_id) = (attachment.endpoint_id, attachment.namespace_id);
        attachment.detach().unwrap();
        let ops = fake.ops();
        assert_eq!(ops[ATTACH.len()..], DETACH);
        let remove = fake.arg("HcnModifyNamespace", 1);
        assert!(remove.contains(r#""RequestType":"Remove""#), "{remove}");
        assert!(remove.contains(&endpoint_id.to_string()), "{remove}");
        // The namespace handle the endpoint was added through is the one removed and closed.
        let add_handle = add.split_once(' ').unwrap().0;
        assert_eq!(remove.split_once(' ').unwrap().0, add_handle);
        assert_eq!(fake.arg("HcnCloseNamespace", 0), add_handle);
        assert_eq!(fake.arg("HcnDeleteNamespace", 0), namespace_id.to_string());
        assert_eq!(fake.arg("HcnDeleteEndpoint", 0), endpoint_id.to_string());
    }

    #[test]
    fn a_failure_at_each_call_names_it_and_undoes_what_was_done_in_reverse() {
        // (failing call, the undo calls that must follow it)
        let cases: [(&str, &[&str]); 5] = [
            ("HcnEnumerateNetworks", &[]),
            ("HcnOpenNetwork", &[]),
            ("HcnCreateEndpoint", &["HcnCloseNetwork"]),
            (
                "HcnCreateNamespace",
                &["HcnCloseEndpoint", "HcnDeleteEndpoint"],
            ),
            (
                "HcnModifyNamespace",
                &[
                    "HcnCloseNamespace",
                    "HcnDeleteNamespace",
                    "HcnCloseEndpoint",
                    "HcnDeleteEndpoint",
                ],
            ),
        ];
        for (failing, undo) in cases {
            let fake = Arc::new(Fake::failing(failing));
            let err = attach(fake.clone(), "nat").unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains(failing) && text.contains("\"nat\""),
                "{failing}: {text}"
            );
            let done = ATTACH.iter().position(|op| *op == failing).unwrap() + 1;
            let mut expected: Vec<&str> = ATTACH[..done].to_vec();
            expected.extend_from_slice(undo);
            assert_eq!(fake.ops(), expected, "failing {failing}");
        }
    }

    #[test]
    fn a_failed_close_is_logged_not_fatal() {
        let fake = Arc::new(Fake::failing("HcnCloseNetwork"));
        let attachment = attach(fake.clone(), "nat").unwrap();
        drop(attachment);
        assert_eq!(fake.ops()[ATTACH.len()..], DETACH);
    }

    #[test]
    fn drop_detaches() {
        let fake = Arc::new(Fake::new());
        let attachment = attach(fake.clone(), "nat").unwrap();
        let namespace_id = attachment.namespace_id.to_string();
        drop(attachment);
        assert_eq!(fake.ops()[ATTACH.len()..], DETACH);
        assert_eq!(fake.arg("HcnDeleteNamespace", 0), namespace_id);
    }

    #[test]
    fn detach_tries_every_step_and_returns_the_first_error() {
        let fake = Arc::new(Fake::failing("HcnDeleteNamespace"));
        let attachment = attach(fake.clone(), "nat").unwrap();
        let err = attachment.detach().unwrap_err();
        assert!(err.to_string().contains("HcnDeleteNamespace"), "{err}");
        assert_eq!(
            fake.ops()[ATTACH.len()..],
            DETACH,
            "the endpoint is still deleted"
        );
        // Nothing is undone twice: the attachment is gone after detach.
        assert_eq!(fake.ops().len(), ATTACH.len() + DETACH.len());
    }

    #[test]
    fn objects_hns_no_longer_has_count_as_undone() {
        for code in [HCN_E_ENDPOINT_NOT_FOUND, ELEMENT_NOT_FOUND] {
            let fake = Arc::new(Fake::failing_with("HcnDeleteEndpoint", code));
            attach(fake.clone(), "nat").unwrap().detach().unwrap();
        }
        let fake = Arc::new(Fake::failing_with("HcnDeleteEndpoint", 0x8007_0005));
        assert!(attach(fake, "nat").unwrap().detach().is_err());
    }

    #[test]
    fn a_missing_network_says_where_nat_comes_from_and_how_to_do_without() {
        let fake = Arc::new(Fake {
            networks: "[]".into(),
            ..Fake::new()
        });
        let err = attach(fake.clone(), "nat").unwrap_err();
        assert!(matches!(&err, NetworkError::NotFound { name } if name == "nat"));
        let text = err.to_string();
        for needle in ["\"nat\" does not exist", "dockerd", "--network none"] {
            assert!(text.contains(needle), "{needle:?} missing from {text}");
        }
        assert_eq!(fake.ops(), ["HcnEnumerateNetworks"], "nothing was created");

        // A network deleted between the lookup and the open is the same case.
        let fake = Arc::new(Fake::failing_with(
            "HcnOpenNetwork",
            HCN_E_NETWORK_NOT_FOUND,
        ));
        let err = attach(fake, "build-net").unwrap_err();
        assert!(matches!(&err, NetworkError::NotFound { name } if name == "build-net"));
    }

    #[test]
    fn unreadable_network_lists_are_errors_naming_the_call() {
        let fake = Arc::new(Fake {
            networks: r#"{"not":"a list"}"#.into(),
            ..Fake::new()
        });
        let err = attach(fake.clone(), "nat").unwrap_err().to_string();
        assert!(err.contains("HcnEnumerateNetworks"), "{err}");
        assert_eq!(fake.ops(), ["HcnEnumerateNetworks"]);
    }

    #[test]
    fn id_lists_parse_guids_with_or_without_braces() {
        let ids = parse_id_list(&format!(r#"["{NETWORK}","{{{NETWORK}}}"]"#)).unwrap();
        assert_eq!(ids, [id(NETWORK), id(NETWORK)]);
        assert_eq!(parse_id_list("null").unwrap(), []);
        assert_eq!(parse_id_list(" ").unwrap(), []);
        assert!(parse_id_list(r#"["nat"]"#).is_err());
        assert!(parse_id_list("[").is_err());
    }

    #[test]
    fn mac_address_comes_from_the_endpoint_properties() {
        let fake = Arc::new(Fake::new());
        let attachment = attach(fake.clone(), "nat").unwrap();
        assert_eq!(attachment.mac_address().unwrap(), "00-15-5D-52-C0-01");
        let query = fake.arg("HcnQueryEndpointProperties", 0);
        // Queried through the endpoint handle `attach` kept open, which detach closes.
        let handle = query.split_once(' ').unwrap().0.to_string();
        drop(attachment);
        assert_eq!(fake.arg("HcnCloseEndpoint", 0), handle);
        assert_eq!(
            endpoint_mac_address(r#"{"MacAddress":7}"#).unwrap_err(),
            "MacAddress is 7, not a MAC address"
        );
        assert!(endpoint_mac_address("{}").is_err());
    }

    #[test]
    fn utility_vm_documents_have_hcs_field_names() {
        let namespace = id("11111111-2222-4333-8444-555555555555");
        assert_eq!(
            to_json(&uvm_guest_namespace_request(
                schema::RequestType::Add,
                namespace
            )),
            r#"{"GuestRequest":{"ResourceType":"NetworkNamespace","RequestType":"Add","Settings":{"ID":"11111111-2222-4333-8444-555555555555","SchemaVersion":{"Major":2,"Minor":0}}}}"#
        );
        let (adapter, endpoint) = (
            id("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"),
            id("0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"),
        );
        assert_eq!(
            to_json(&uvm_network_adapter_request(
                schema::RequestType::Add,
                adapter,
                endpoint,
                "00-15-5D-52-C0-01"
            )),
            concat!(
                r#"{"ResourcePath":"VirtualMachine/Devices/NetworkAdapters/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee","#,
                r#""RequestType":"Add","#,
                r#""Settings":{"EndpointId":"0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d","MacAddress":"00-15-5D-52-C0-01"},"#,
                r#""GuestRequest":{"ResourceType":"Network","RequestType":"Add","#,
                r#""Settings":{"AdapterId":"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee","RequestType":"Add"}}}"#
            )
        );
        let remove = serde_json::to_value(uvm_network_adapter_request(
            schema::RequestType::Remove,
            adapter,
            endpoint,
            "00-15-5D-52-C0-01",
        ))
        .unwrap();
        assert_eq!(remove["RequestType"], "Remove");
        assert_eq!(remove["GuestRequest"]["RequestType"], "Remove");
        assert_eq!(remove["GuestRequest"]["Settings"]["RequestType"], "Remove");
    }

    #[test]
    fn fresh_ids_differ() {
        assert_ne!(fresh_id("endpoint"), fresh_id("endpoint"));
    }
}
