//! Golden documents: the exact JSON HCS receives, field names as in hcsshim's schema2 types.

use super::*;
use crate::runtime::ProcessSpec;

fn inputs() -> ContainerInputs {
    ContainerInputs {
        owner: "silo".into(),
        host_name: "buildstep".into(),
        layers: vec![
            HostLayer {
                id: "11111111-2222-3333-4444-555555555555".into(),
                path: r"C:\ProgramData\silo\hcs\layers\aaa".into(),
            },
            HostLayer {
                id: "66666666-7777-8888-9999-000000000000".into(),
                path: r"C:\ProgramData\silo\hcs\layers\base".into(),
            },
        ],
        scratch_volume: r"\\?\Volume{0d3f4a5e-1111-2222-3333-444455556666}\".into(),
        network_namespace: Some("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".into()),
        mapped_directories: vec![MappedDirectory {
            host_path: r"C:\ProgramData\silo\build\mounts\mount-1\m".into(),
            container_path: r"C:\src".into(),
            read_only: true,
        }],
    }
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap()
}

#[test]
fn process_isolated_container_document() {
    let want = r#"{
  "Owner": "silo",
  "SchemaVersion": {
    "Major": 2,
    "Minor": 1
  },
  "Container": {
    "GuestOs": {
      "HostName": "buildstep"
    },
    "Storage": {
      "Layers": [
        {
          "Id": "11111111-2222-3333-4444-555555555555",
          "Path": "C:\\ProgramData\\silo\\hcs\\layers\\aaa"
        },
        {
          "Id": "66666666-7777-8888-9999-000000000000",
          "Path": "C:\\ProgramData\\silo\\hcs\\layers\\base"
        }
      ],
      "Path": "\\\\?\\Volume{0d3f4a5e-1111-2222-3333-444455556666}\\"
    },
    "MappedDirectories": [
      {
        "HostPath": "C:\\ProgramData\\silo\\build\\mounts\\mount-1\\m",
        "ContainerPath": "C:\\src",
        "ReadOnly": true
      }
    ],
    "Networking": {
      "AllowUnqualifiedDnsQuery": true,
      "Namespace": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    }
  },
  "ShouldTerminateOnLastHandleClosed": true
}"#;
    assert_eq!(json(&process_isolated(&inputs())), want);
    let offline = ContainerInputs {
        network_namespace: None,
        ..inputs()
    };
    assert!(!json(&process_isolated(&offline)).contains("Networking"));
}

#[test]
fn hyperv_utility_vm_and_hosted_container_documents() {
    let uvm = utility_vm(
        "silo",
        r"C:\layers\base\UtilityVM\Files",
        r"C:\scratch\uvm.vhdx",
        1024,
        2,
    );
    let want_uvm = r#"{
  "Owner": "silo",
  "SchemaVersion": {
    "Major": 2,
    "Minor": 1
  },
  "VirtualMachine": {
    "StopOnReset": true,
    "Chipset": {
      "Uefi": {
        "BootThis": {
          "DevicePath": "\\EFI\\Microsoft\\Boot\\bootmgfw.efi",
          "DeviceType": "VmbFs"
        }
      }
    },
    "ComputeTopology": {
      "Memory": {
        "SizeInMB": 1024,
        "AllowOvercommit": true
      },
      "Processor": {
        "Count": 2
      }
    },
    "Devices": {
      "Scsi": {
        "df6d0690-79e5-55b6-a5ec-c1e2f77f580a": {
          "Attachments": {
            "0": {
              "Path": "C:\\scratch\\uvm.vhdx",
              "Type": "VirtualDisk"
            }
          }
        }
      },
      "VirtualSmb": {
        "Shares": [
          {
            "Name": "os",
            "Path": "C:\\layers\\base\\UtilityVM\\Files",
            "Options": {
              "ReadOnly": true,
              "ShareRead": true,
              "CacheIo": true,
              "PseudoOplocks": true,
              "TakeBackupPrivilege": true
            }
          }
        ]
      }
    }
  },
  "ShouldTerminateOnLastHandleClosed": true
}"#;
    assert_eq!(json(&uvm), want_uvm);

    let hosted = hosted_in_utility_vm(&inputs(), "uvm-id");
    let value: serde_json::Value = serde_json::to_value(&hosted).unwrap();
    assert_eq!(value["HostingSystemId"], "uvm-id");
    assert!(value.get("Container").is_none(), "{value}");
    let container = &value["HostedSystem"]["Container"];
    assert_eq!(value["HostedSystem"]["SchemaVersion"]["Major"], 2);
    assert_eq!(
        container["Storage"]["Layers"][0]["Path"],
        r"\\?\VMSMB\VSMB-{dcc079ae-60ba-4d07-847c-3493609c0870}\11111111-2222-3333-4444-555555555555"
    );
    assert_eq!(
        container["Storage"]["Layers"][1]["Id"],
        "66666666-7777-8888-9999-000000000000"
    );
}

#[test]
fn hot_add_requests_for_a_step_in_a_utility_vm() {
    let share = read_only_share("66666666-7777-8888-9999-000000000000", r"C:\layers\base");
    assert_eq!(
        json(&add_vsmb_share(&share)),
        r#"{
  "ResourcePath": "VirtualMachine/Devices/VirtualSmb/Shares",
  "RequestType": "Add",
  "Settings": {
    "Name": "66666666-7777-8888-9999-000000000000",
    "Options": {
      "CacheIo": true,
      "PseudoOplocks": true,
      "ReadOnly": true,
      "ShareRead": true,
      "TakeBackupPrivilege": true
    },
    "Path": "C:\\layers\\base"
  }
}"#
    );
    assert_eq!(
        json(&attach_scratch(
            1,
            r"C:\scratch\sandbox.vhdx",
            r"C:\mounts\scsi\m1"
        )),
        r#"{
  "ResourcePath": "VirtualMachine/Devices/Scsi/df6d0690-79e5-55b6-a5ec-c1e2f77f580a/Attachments/1",
  "RequestType": "Add",
  "Settings": {
    "Path": "C:\\scratch\\sandbox.vhdx",
    "Type": "VirtualDisk"
  },
  "GuestRequest": {
    "ResourceType": "MappedVirtualDisk",
    "RequestType": "Add",
    "Settings": {
      "ContainerPath": "C:\\mounts\\scsi\\m1",
      "Lun": 1
    }
  }
}"#
    );
    let detach: serde_json::Value =
        serde_json::to_value(detach_scratch(1, r"C:\mounts\scsi\m1")).unwrap();
    assert_eq!(detach["RequestType"], "Remove");
    assert_eq!(detach["GuestRequest"]["RequestType"], "Remove");
    assert!(detach.get("Settings").is_none(), "{detach}");

    let layers = guest_layers(&inputs().layers);
    assert_eq!(
        json(&combine_layers(r"C:\mounts\scsi\m1", &layers[1..])),
        r#"{
  "GuestRequest": {
    "ResourceType": "CombinedLayers",
    "RequestType": "Add",
    "Settings": {
      "ContainerRootPath": "C:\\mounts\\scsi\\m1",
      "Layers": [
        {
          "Id": "66666666-7777-8888-9999-000000000000",
          "Path": "\\\\?\\VMSMB\\VSMB-{dcc079ae-60ba-4d07-847c-3493609c0870}\\66666666-7777-8888-9999-000000000000"
        }
      ]
    }
  }
}"#
    );
    let remove: serde_json::Value =
        serde_json::to_value(uncombine_layers(r"C:\mounts\scsi\m1")).unwrap();
    assert_eq!(remove["GuestRequest"]["RequestType"], "Remove");
    assert!(remove["GuestRequest"]["Settings"].get("Layers").is_none());
}

#[test]
fn process_document() {
    let spec = ProcessSpec {
        args: vec!["cmd".into(), "/S".into(), "/C".into(), "echo a b".into()],
        command_line: None,
        env: [("PATH".to_string(), r"C:\Windows\system32".to_string())].into(),
        working_dir: r"C:\app".into(),
        user: "ContainerUser".into(),
        timeout: None,
    };
    let want = r#"{
  "CommandLine": "cmd /S /C \"echo a b\"",
  "WorkingDirectory": "C:\\app",
  "Environment": {
    "PATH": "C:\\Windows\\system32"
  },
  "User": "ContainerUser",
  "EmulateConsole": false,
  "CreateStdInPipe": false,
  "CreateStdOutPipe": true,
  "CreateStdErrPipe": true
}"#;
    assert_eq!(json(&process_parameters(&spec)), want);
    let defaults = process_parameters(&ProcessSpec {
        command_line: Some("cmd /S /C dir".into()),
        ..ProcessSpec::default()
    });
    let value = serde_json::to_value(&defaults).unwrap();
    assert_eq!(value["WorkingDirectory"], r"C:\");
    assert_eq!(value["CommandLine"], "cmd /S /C dir");
    assert!(value.get("User").is_none(), "{value}");
}

/// The exit notification's `ProcessStatus` as hcsshim's own type marshals it
/// (internal/hcs/schema2/process_status.go: `ProcessId`, `Exited`, `ExitCode` and
/// `LastWaitResult`, all `omitempty`), read as hcsshim's `waitBackground` reads it
/// (internal/hcs/v2/process.go): exit 0 has no `ExitCode` field.
#[test]
fn exit_code_from_an_hcsshim_process_status() {
    // Go's encoding/json drops the zero ExitCode of `ProcessStatus{ProcessId: 1234, Exited: true}`.
    assert_eq!(
        exit_code_from_status(r#"{"ProcessId":1234,"Exited":true}"#),
        Ok(0)
    );
    assert_eq!(
        exit_code_from_status(r#"{"ProcessId":1234,"Exited":true,"ExitCode":3}"#),
        Ok(3)
    );
    // A DWORD exit code above i32::MAX (STATUS_ACCESS_VIOLATION) keeps its 32 bits.
    assert_eq!(
        exit_code_from_status(r#"{"ProcessId":8,"Exited":true,"ExitCode":3221225477}"#),
        Ok(0xC000_0005_u32 as i32)
    );
    // hcsshim takes no exit code when the wait itself failed (LastWaitResult != 0) …
    let err =
        exit_code_from_status(r#"{"ProcessId":8,"Exited":true,"LastWaitResult":6}"#).unwrap_err();
    assert!(err.contains("LastWaitResult 0x00000006"), "{err}");
    // … nor from an empty or unreadable notification.
    assert!(exit_code_from_status("").is_err());
    assert!(exit_code_from_status("{not json").is_err());
}
