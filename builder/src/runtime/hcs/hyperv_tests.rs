//! Isolation and the runtime's lifecycle against the recording fake. Hyper-V: the utility VM
//! is booted once per build and shared by its steps; each step's layers are VSMB shares, its
//! scratch a SCSI disk mounted and combined in the guest, detached again before the host
//! exports it; a failure at any call leaves nothing attached, combined, created or running.
//! The isolation choice per host and image; what a killed build left is reclaimed.

use std::sync::Arc;

use super::tests::{
    image, layer_ref, run, server_2022, step, write_tar, Collect, Fake, BASE_FILES, IMPORT, RUN,
};
use super::*;

/// A Windows 11 host (client SKU): Hyper-V by default.
fn windows_11() -> HostFacts {
    HostFacts {
        build: 22631,
        server: false,
        ..server_2022()
    }
}

/// hcsshim's first SCSI controller key, `ScsiControllerGuids[0]` in
/// internal/protocol/guestrequest/types.go (written out here, not taken from silo's schema).
const HCSSHIM_SCSI_CONTROLLER: &str = "df6d0690-79e5-55b6-a5ec-c1e2f77f580a";

const BOOT: [&str; 3] = [
    "HcsGrantVmAccess",
    "HcsCreateComputeSystem",
    "HcsStartComputeSystem",
];
const PREPARE: [&str; 7] = [
    "CreateSandboxLayer",
    "NameToGuid",
    "NameToGuid",
    "HcsModifyComputeSystem", // share layer 2
    "HcsModifyComputeSystem", // share the base
    "HcsGrantVmAccess",       // the step's scratch
    "HcsModifyComputeSystem", // attach + mount it
];
const COMBINE: &str = "HcsModifyComputeSystem";
const COMMIT: [&str; 8] = [
    "HcsTerminateComputeSystem",
    "HcsCloseComputeSystem",
    "HcsModifyComputeSystem", // uncombine
    "HcsModifyComputeSystem", // unmount + detach
    "ActivateLayer",
    "ExportLayer",
    "DeactivateLayer",
    "DestroyLayer",
];
const SHUTDOWN: [&str; 2] = ["HcsTerminateComputeSystem", "HcsCloseComputeSystem"];

fn json_docs(fake: &Fake) -> Vec<serde_json::Value> {
    fake.documents
        .lock()
        .unwrap()
        .iter()
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

/// The recorded `HcsModifyComputeSystem` requests, in call order.
fn modify_requests(docs: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    docs.iter()
        .filter(|d| d.get("GuestRequest").is_some() || d.get("ResourcePath").is_some())
        .collect()
}

/// The guest requests of one kind and type among the recorded modify requests.
fn guest_requests(docs: &[serde_json::Value], kind: &str, request: &str) -> usize {
    docs.iter()
        .filter(|d| {
            d["GuestRequest"]["ResourceType"] == kind && d["GuestRequest"]["RequestType"] == request
        })
        .count()
}

#[test]
fn a_client_host_runs_steps_in_one_shared_utility_vm() {
    let dir = tempfile::tempdir().unwrap();
    let spec = image(dir.path());
    let fake = Arc::new(Fake::default());
    let runtime = HcsRuntime::new(fake.clone(), &dir.path().join("state"), windows_11(), None)
        .expect("runtime");
    run(&runtime, &spec).unwrap();
    let first: Vec<&str> = [&IMPORT[..], &BOOT, &PREPARE, &[COMBINE], &RUN, &COMMIT].concat();
    assert_eq!(fake.calls(), first);

    // The second step reuses the VM and its shares: only the scratch is attached again.
    run(&runtime, &spec).unwrap();
    let second: Vec<&str> = [
        &PREPARE[..1],
        &PREPARE[1..3],
        &PREPARE[5..],
        &[COMBINE],
        &RUN,
    ]
    .concat()
    .into_iter()
    .chain(COMMIT)
    .collect();
    assert_eq!(fake.calls()[first.len()..], second);
    let docs = json_docs(&fake);
    let vm = docs
        .iter()
        .find(|d| d.get("VirtualMachine").is_some())
        .expect("the utility VM document");
    let shares = &vm["VirtualMachine"]["Devices"]["VirtualSmb"]["Shares"];
    assert_eq!(shares[0]["Name"], "os");
    assert!(shares[0]["Path"]
        .as_str()
        .unwrap()
        .ends_with("UtilityVM/Files"));
    let vm_scratch = vm["VirtualMachine"]["Devices"]["Scsi"][HCSSHIM_SCSI_CONTROLLER]
        ["Attachments"]["0"]["Path"]
        .as_str()
        .unwrap();
    assert!(vm_scratch.ends_with("sandbox.vhdx"), "{vm_scratch}");
    assert_eq!(
        std::fs::read(vm_scratch).unwrap(),
        b"vhdx",
        "a template copy"
    );
    // Dropping the runtime shuts the VM down and removes its scratch.
    drop(runtime);
    assert_eq!(fake.calls()[first.len() + second.len()..], SHUTDOWN);
    assert!(!std::path::Path::new(vm_scratch).exists());

    let added: Vec<&serde_json::Value> = docs
        .iter()
        .filter(|d| d["ResourcePath"] == "VirtualMachine/Devices/VirtualSmb/Shares")
        .collect();
    assert_eq!(added.len(), 2, "each layer is shared once per VM");
    let attach = docs
        .iter()
        .find(|d| {
            d["ResourcePath"]
                == format!("VirtualMachine/Devices/Scsi/{HCSSHIM_SCSI_CONTROLLER}/Attachments/1")
        })
        .expect("the step's scratch on LUN 1");
    assert!(attach["Settings"]["Path"]
        .as_str()
        .unwrap()
        .ends_with("sandbox.vhdx"));
    let guest_root = attach["GuestRequest"]["Settings"]["ContainerPath"].clone();
    assert_eq!(guest_root, r"C:\mounts\scsi\m1");

    let hosted = docs
        .iter()
        .find(|d| d.get("HostedSystem").is_some())
        .expect("the hosted container document");
    let vm_id = hosted["HostingSystemId"].as_str().unwrap();
    assert_eq!(vm_id.len(), 36, "{vm_id}");
    let storage = &hosted["HostedSystem"]["Container"]["Storage"];
    assert_eq!(storage["Path"], guest_root);
    let combine = docs
        .iter()
        .find(|d| d["GuestRequest"]["ResourceType"] == "CombinedLayers")
        .unwrap();
    assert_eq!(
        combine["GuestRequest"]["Settings"]["Layers"],
        storage["Layers"]
    );
    assert!(storage["Layers"][0]["Path"]
        .as_str()
        .unwrap()
        .starts_with(r"\\?\VMSMB\VSMB-{dcc079ae-60ba-4d07-847c-3493609c0870}\"));
    for kind in ["MappedVirtualDisk", "CombinedLayers"] {
        assert_eq!(guest_requests(&docs, kind, "Add"), 2, "{kind}");
        assert_eq!(guest_requests(&docs, kind, "Remove"), 2, "{kind}");
    }
}

#[test]
fn process_isolation_falls_back_to_hyperv_for_an_older_base_and_forcing_wins() {
    let dir = tempfile::tempdir().unwrap();
    // A 2019 base on a 2022 Server host cannot run process-isolated: Hyper-V, with a notice.
    let older = SandboxSpec {
        os_version: "10.0.17763.6054".into(),
        ..image(dir.path())
    };
    let fake = Arc::new(Fake::default());
    let runtime =
        HcsRuntime::new(fake.clone(), &dir.path().join("a"), server_2022(), None).unwrap();
    run(&runtime, &older).unwrap();
    assert!(fake.calls().contains(&"HcsGrantVmAccess".to_string()));
    assert!(!fake.calls().contains(&"PrepareLayer".to_string()));

    // --isolation process on that image fails before anything is set up.
    let fake = Arc::new(Fake::default());
    let forced = Some(Isolation::Process);
    let runtime =
        HcsRuntime::new(fake.clone(), &dir.path().join("b"), server_2022(), forced).unwrap();
    let err = runtime.prepare(&older).err().unwrap().to_string();
    assert!(err.contains("--isolation hyperv"), "{err}");
    assert!(fake.calls().is_empty());

    // --isolation hyperv on a matching image on Server uses a utility VM anyway.
    let fake = Arc::new(Fake::default());
    let forced = Some(Isolation::HyperV);
    let runtime =
        HcsRuntime::new(fake.clone(), &dir.path().join("c"), server_2022(), forced).unwrap();
    run(&runtime, &image(dir.path())).unwrap();
    assert!(fake.calls().contains(&"HcsGrantVmAccess".to_string()));
}

/// issue #19 item 4: a layer that changes the utility VM gets its own processed copy
/// (`ProcessUtilityImage` on that layer's folder, after `ImportLayer`), and Hyper-V boots the
/// uppermost layer that has one, as hcsshim's `uvmfolder.LocateUVMFolder` picks it.
#[test]
fn a_layer_that_changes_the_utility_vm_is_processed_and_booted() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = image(dir.path());
    let top = dir.path().join("top-uvm.tar");
    write_tar(
        &top,
        &[
            ("Hives", None),
            ("Files", None),
            ("Files/app", None),
            ("Files/app/old", Some(b"x")),
            ("UtilityVM", None),
            ("UtilityVM/Files", None),
            ("UtilityVM/Files/patched.sys", Some(b"p")),
        ],
    );
    spec.layers[1] = layer_ref(top);
    let fake = Arc::new(Fake::default());
    let runtime = HcsRuntime::new(fake.clone(), &dir.path().join("s"), windows_11(), None).unwrap();
    run(&runtime, &spec).unwrap();
    let calls = fake.calls();
    assert_eq!(
        calls[..4],
        [
            "ProcessBaseImage",
            "ProcessUtilityImage",
            "ImportLayer",
            "ProcessUtilityImage"
        ]
    );
    let docs = json_docs(&fake);
    let vm = docs
        .iter()
        .find(|d| d.get("VirtualMachine").is_some())
        .expect("the utility VM document");
    let os = vm["VirtualMachine"]["Devices"]["VirtualSmb"]["Shares"][0]["Path"]
        .as_str()
        .unwrap();
    let folder = std::path::Path::new(os).parent().unwrap().parent().unwrap();
    assert_eq!(
        std::fs::read_to_string(folder.join(IMPORTED_MARKER)).unwrap(),
        spec.layers[1].diff_id,
        "the VM boots from the top layer's utility VM"
    );
    assert_eq!(
        std::fs::read(folder.join("UtilityVM/Files/patched.sys")).unwrap(),
        b"p"
    );
}

#[test]
fn a_base_without_a_utility_vm_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = image(dir.path());
    // The same base without `UtilityVM/`: ProcessUtilityImage never runs, no template exists.
    let base = dir.path().join("plain-base.tar");
    write_tar(&base, &BASE_FILES);
    spec.layers[0] = layer_ref(base);
    let fake = Arc::new(Fake::default());
    let runtime = HcsRuntime::new(fake.clone(), dir.path(), windows_11(), None).unwrap();
    let err = runtime.prepare(&spec).err().unwrap().to_string();
    assert!(
        err.contains("SystemTemplate.vhdx") && err.contains("--isolation process"),
        "{err}"
    );
    assert!(!fake.calls().contains(&"HcsCreateComputeSystem".to_string()));
}

#[test]
fn a_failure_at_any_call_leaves_nothing_attached_created_or_running() {
    let dir = tempfile::tempdir().unwrap();
    let spec = image(dir.path());
    let total = {
        let fake = Arc::new(Fake::default());
        let runtime =
            HcsRuntime::new(fake.clone(), &dir.path().join("count"), windows_11(), None).unwrap();
        run(&runtime, &spec).unwrap();
        drop(runtime);
        fake.calls().len()
    };
    for index in 0..total {
        let fake = Arc::new(Fake {
            fail_call: Some(index),
            ..Fake::default()
        });
        let state = dir.path().join(format!("state-{index}"));
        let runtime = HcsRuntime::new(fake.clone(), &state, windows_11(), None).unwrap();
        let result = run(&runtime, &spec);
        drop(runtime);
        let calls = fake.calls();
        let failed = calls[index].clone();
        if failed.starts_with("HcsClose") {
            continue; // closing a handle cannot fail
        }
        match result {
            // Only teardown calls after the export may fail without failing the step.
            Ok(()) => assert!(
                [
                    "DeactivateLayer",
                    "DestroyLayer",
                    "HcsTerminateComputeSystem"
                ]
                .contains(&failed.as_str()),
                "a failing {failed} (call {index}) must fail the step"
            ),
            Err(e) => {
                let e = format!("{e:#}");
                assert!(e.contains(&failed), "call {index} {failed}: {e}")
            }
        }
        let count = |name: &str| calls.iter().filter(|c| *c == name).count();
        // Every compute system that was created (the VM and the container) was closed.
        let created =
            count("HcsCreateComputeSystem") - usize::from(failed == "HcsCreateComputeSystem");
        assert_eq!(
            count("HcsCloseComputeSystem"),
            created,
            "{failed} at {index}: {calls:?}"
        );
        let docs = json_docs(&fake);
        for kind in ["MappedVirtualDisk", "CombinedLayers"] {
            let added = guest_requests(&docs, kind, "Add");
            let removed = guest_requests(&docs, kind, "Remove");
            // An add that failed needs no remove; every other one got one.
            let failed_add = usize::from(
                failed == "HcsModifyComputeSystem" && {
                    let nth = calls[..index]
                        .iter()
                        .filter(|c| *c == "HcsModifyComputeSystem")
                        .count();
                    let request = modify_requests(&docs)[nth];
                    request["GuestRequest"]["ResourceType"] == kind
                        && request["GuestRequest"]["RequestType"] == "Add"
                },
            );
            assert_eq!(added - failed_add, removed, "{kind}, {failed} at {index}");
        }
        if calls.iter().any(|c| c == "CreateSandboxLayer") {
            assert_eq!(count("DestroyLayer"), 1, "{failed} at {index}: {calls:?}");
        }
        let activated = count("ActivateLayer") - usize::from(failed == "ActivateLayer");
        assert_eq!(count("DeactivateLayer"), activated, "{failed} at {index}");
    }
}

#[test]
fn the_host_target_lists_isolations_in_the_order_steps_would_use_them() {
    let dir = tempfile::tempdir().unwrap();
    let target = |host: HostFacts, forced: Option<Isolation>| {
        HcsRuntime::new(Arc::new(Fake::default()), dir.path(), host, forced)
            .unwrap()
            .host_target()
            .unwrap()
    };
    let server = target(server_2022(), None);
    assert_eq!(server.os_version.to_string(), "10.0.20348.2700");
    assert_eq!(server.isolations, [Isolation::Process, Isolation::HyperV]);
    assert_eq!(target(windows_11(), None).isolations, [Isolation::HyperV]);
    let forced = target(windows_11(), Some(Isolation::Process));
    assert_eq!(forced.isolations, [Isolation::Process]);
}

#[test]
fn a_killed_builds_scratch_is_reclaimed_and_a_live_builds_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let live_fake = Arc::new(Fake::default());
    let live = HcsRuntime::new(live_fake.clone(), &state, server_2022(), None).unwrap();
    let mut sandbox = live.prepare(&image(dir.path())).unwrap();
    // A killed build: its session folder with a scratch and a VM scratch, lock released.
    let dead = state.join("hcs/sessions/4242-1");
    std::fs::create_dir_all(dead.join("scratch-0")).unwrap();
    std::fs::create_dir_all(dead.join("uvm-0")).unwrap();
    std::fs::write(dead.join("lock"), b"").unwrap();

    let fake = Arc::new(Fake::default());
    let next = HcsRuntime::new(fake.clone(), &state, server_2022(), None).unwrap();
    assert_eq!(
        fake.calls(),
        ["UnprepareLayer", "DeactivateLayer", "DestroyLayer"],
        "only the dead session's scratch is touched"
    );
    assert!(!dead.exists());
    // The live build goes on undisturbed.
    sandbox.run(&step(), &mut Collect::default()).unwrap();
    sandbox.commit().unwrap();
    drop((live, next));
    assert!(
        std::fs::read_dir(state.join("hcs/sessions"))
            .unwrap()
            .next()
            .is_none(),
        "every session folder is gone once its runtime is"
    );
}

#[test]
fn a_process_isolated_step_gets_its_own_endpoint_and_namespace_for_its_lifetime() {
    use super::network::tests::{Fake as HnsFake, ATTACH, DETACH};
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::default());
    let hns = Arc::new(HnsFake::new());
    let runtime = HcsRuntime::new(fake.clone(), dir.path(), server_2022(), None)
        .unwrap()
        .with_network(hns.clone(), "nat");
    let online = SandboxSpec {
        network: crate::runtime::NetworkMode::Host,
        ..image(dir.path())
    };
    let mut sandbox = runtime.prepare(&online).unwrap();
    assert_eq!(hns.ops(), ATTACH, "attached before the container exists");
    sandbox.run(&step(), &mut Collect::default()).unwrap();
    let namespace = hns.arg("HcnCreateNamespace", 0);
    let namespace = namespace.split(' ').next().unwrap();
    let docs = json_docs(&fake);
    let container = docs.iter().find(|d| d.get("Container").is_some()).unwrap();
    assert_eq!(container["Container"]["Networking"]["Namespace"], namespace);
    sandbox.commit().unwrap();
    assert_eq!(
        hns.ops(),
        [&ATTACH[..], &DETACH].concat(),
        "detached at commit"
    );

    // `--network NAME`: that HNS network instead of the default one.
    let hns = Arc::new(HnsFake::new());
    let runtime = HcsRuntime::new(Arc::new(Fake::default()), dir.path(), server_2022(), None)
        .unwrap()
        .with_network(hns.clone(), "nat");
    let named = SandboxSpec {
        network: crate::runtime::NetworkMode::Named("transparent".into()),
        ..image(dir.path())
    };
    run(&runtime, &named).unwrap();
    let query = hns.arg("HcnEnumerateNetworks", 0);
    assert!(query.contains(r#"\"transparent\""#), "{query}");

    // `--network none`: no HNS call at all, no Networking in the document.
    let hns = Arc::new(HnsFake::new());
    let fake = Arc::new(Fake::default());
    let runtime = HcsRuntime::new(fake.clone(), dir.path(), server_2022(), None)
        .unwrap()
        .with_network(hns.clone(), "nat");
    run(&runtime, &image(dir.path())).unwrap();
    assert!(hns.ops().is_empty());
    assert!(json_docs(&fake)
        .iter()
        .all(|d| d["Container"].get("Networking").is_none()));

    // Hyper-V steps run offline for now (a notice says so), and a dropped sandbox detaches.
    let hns = Arc::new(HnsFake::new());
    let runtime = HcsRuntime::new(Arc::new(Fake::default()), dir.path(), windows_11(), None)
        .unwrap()
        .with_network(hns.clone(), "nat");
    run(&runtime, &online).unwrap();
    assert!(hns.ops().is_empty());
    let hns = Arc::new(HnsFake::new());
    let runtime = HcsRuntime::new(Arc::new(Fake::default()), dir.path(), server_2022(), None)
        .unwrap()
        .with_network(hns.clone(), "nat");
    drop(runtime.prepare(&online).unwrap());
    assert_eq!(hns.ops(), [&ATTACH[..], &DETACH].concat());
}
