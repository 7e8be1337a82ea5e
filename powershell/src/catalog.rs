//! What the engine supports, as data for the static check and the parameter binder: every
//! implemented cmdlet with its Windows PowerShell 5.1 aliases and parameters (name, aliases,
//! switch or not, position), the .NET types with their static members and constructors, and
//! the instance member names the engine implements on its values.
//!
//! Cmdlets that need Windows itself (Install-WindowsFeature, Add-Type, Import-Module, …) are
//! deliberately absent: the check refuses them before anything runs.

use crate::check::{Catalog, CmdletInfo, ParamInfo, TypeInfo};

const fn v(name: &'static str) -> ParamInfo {
    ParamInfo {
        name,
        aliases: &[],
        is_switch: false,
        position: None,
    }
}
const fn va(name: &'static str, aliases: &'static [&'static str]) -> ParamInfo {
    ParamInfo {
        name,
        aliases,
        is_switch: false,
        position: None,
    }
}
const fn p(name: &'static str, position: u32) -> ParamInfo {
    ParamInfo {
        name,
        aliases: &[],
        is_switch: false,
        position: Some(position),
    }
}
const fn pa(name: &'static str, position: u32, aliases: &'static [&'static str]) -> ParamInfo {
    ParamInfo {
        name,
        aliases,
        is_switch: false,
        position: Some(position),
    }
}
const fn s(name: &'static str) -> ParamInfo {
    ParamInfo {
        name,
        aliases: &[],
        is_switch: true,
        position: None,
    }
}

const fn c(
    name: &'static str,
    aliases: &'static [&'static str],
    parameters: &'static [ParamInfo],
) -> CmdletInfo {
    CmdletInfo {
        name,
        aliases,
        parameters,
    }
}

const LITERAL: ParamInfo = va("LiteralPath", &["PSPath", "LP"]);

/// The cmdlets, most used first (measured on the corpus of public Windows Dockerfiles).
pub static CMDLETS: &[CmdletInfo] = &[
    c(
        "Write-Host",
        &[],
        &[
            p("Object", 0),
            s("NoNewline"),
            v("Separator"),
            v("ForegroundColor"),
            v("BackgroundColor"),
        ],
    ),
    c(
        "Remove-Item",
        &["rm", "del", "erase", "rd", "ri", "rmdir"],
        &[
            p("Path", 0),
            LITERAL,
            s("Recurse"),
            s("Force"),
            v("Filter"),
            v("Include"),
            v("Exclude"),
        ],
    ),
    c(
        "Invoke-WebRequest",
        &["iwr", "wget", "curl"],
        &[
            p("Uri", 0),
            v("OutFile"),
            s("UseBasicParsing"),
            v("Headers"),
            v("Method"),
            v("UserAgent"),
            v("TimeoutSec"),
            v("MaximumRedirection"),
            s("PassThru"),
            s("DisableKeepAlive"),
            s("UseDefaultCredentials"),
        ],
    ),
    c("Out-Null", &[], &[v("InputObject")]),
    c(
        "Expand-Archive",
        &[],
        &[
            p("Path", 0),
            LITERAL,
            p("DestinationPath", 1),
            s("Force"),
            s("PassThru"),
        ],
    ),
    c(
        "New-Item",
        &["ni", "mkdir", "md"],
        &[
            p("Path", 0),
            v("Name"),
            va("ItemType", &["Type"]),
            va("Value", &["Target"]),
            s("Force"),
        ],
    ),
    c("Get-Acl", &[], &[p("Path", 0), LITERAL]),
    c(
        "Set-Acl",
        &[],
        &[p("Path", 0), p("AclObject", 1), LITERAL, s("Passthru")],
    ),
    c(
        "Stop-Service",
        &["spsv"],
        &[pa("Name", 0, &["ServiceName"]), s("Force"), s("NoWait")],
    ),
    c(
        "Set-Service",
        &[],
        &[
            pa("Name", 0, &["ServiceName", "SN"]),
            va("DisplayName", &["DN"]),
            v("Description"),
            va("StartupType", &["StartMode", "SM", "ST"]),
            v("Status"),
        ],
    ),
    c(
        "Get-FileHash",
        &[],
        &[p("Path", 0), LITERAL, p("Algorithm", 1)],
    ),
    c(
        "Start-Process",
        &["saps", "start"],
        &[
            pa("FilePath", 0, &["PSPath", "Path"]),
            pa("ArgumentList", 1, &["Args"]),
            s("Wait"),
            s("NoNewWindow"),
            s("PassThru"),
            v("WorkingDirectory"),
            va("RedirectStandardOutput", &["RSO"]),
            va("RedirectStandardError", &["RSE"]),
            v("WindowStyle"),
            v("Verb"),
            s("LoadUserProfile"),
            s("UseNewEnvironment"),
        ],
    ),
    c(
        "Test-Path",
        &[],
        &[
            p("Path", 0),
            LITERAL,
            va("PathType", &["Type"]),
            s("IsValid"),
            v("Filter"),
            v("Include"),
            v("Exclude"),
        ],
    ),
    c(
        "New-Object",
        &[],
        &[
            pa("TypeName", 0, &[]),
            pa("ArgumentList", 1, &["Args"]),
            v("Property"),
        ],
    ),
    c(
        "Move-Item",
        &["mv", "move", "mi"],
        &[
            p("Path", 0),
            LITERAL,
            p("Destination", 1),
            s("Force"),
            s("PassThru"),
            v("Filter"),
            v("Include"),
            v("Exclude"),
        ],
    ),
    c(
        "Get-Content",
        &["cat", "gc", "type"],
        &[
            p("Path", 0),
            LITERAL,
            s("Raw"),
            va("TotalCount", &["First", "Head"]),
            va("Tail", &["Last"]),
            v("Encoding"),
            v("ReadCount"),
            v("Delimiter"),
            s("Force"),
        ],
    ),
    c(
        "Set-Content",
        &["sc"],
        &[
            p("Path", 0),
            LITERAL,
            p("Value", 1),
            v("Encoding"),
            s("NoNewline"),
            s("Force"),
            s("PassThru"),
        ],
    ),
    c(
        "Add-Content",
        &["ac"],
        &[
            p("Path", 0),
            LITERAL,
            p("Value", 1),
            v("Encoding"),
            s("NoNewline"),
            s("Force"),
            s("PassThru"),
        ],
    ),
    c(
        "Clear-Content",
        &["clc"],
        &[p("Path", 0), LITERAL, s("Force")],
    ),
    c(
        "Start-Sleep",
        &["sleep"],
        &[p("Seconds", 0), va("Milliseconds", &["ms"])],
    ),
    c(
        "Get-ChildItem",
        &["ls", "dir", "gci"],
        &[
            p("Path", 0),
            LITERAL,
            p("Filter", 1),
            v("Include"),
            v("Exclude"),
            s("Recurse"),
            v("Depth"),
            s("Force"),
            s("Name"),
            s("File"),
            s("Directory"),
        ],
    ),
    c(
        "Copy-Item",
        &["cp", "copy", "cpi"],
        &[
            p("Path", 0),
            LITERAL,
            p("Destination", 1),
            s("Recurse"),
            s("Force"),
            s("Container"),
            s("PassThru"),
            v("Filter"),
            v("Include"),
            v("Exclude"),
        ],
    ),
    c(
        "Rename-Item",
        &["rni", "ren"],
        &[
            p("Path", 0),
            LITERAL,
            p("NewName", 1),
            s("Force"),
            s("PassThru"),
        ],
    ),
    c(
        "Where-Object",
        &["?", "where"],
        &[
            p("FilterScript", 0),
            v("Property"),
            p("Value", 1),
            v("InputObject"),
            s("EQ"),
            s("NE"),
            s("GT"),
            s("GE"),
            s("LT"),
            s("LE"),
            s("Like"),
            s("NotLike"),
            s("Match"),
            s("NotMatch"),
            s("Contains"),
            s("NotContains"),
            s("In"),
            s("NotIn"),
            s("Is"),
            s("IsNot"),
            s("CEQ"),
            s("CNE"),
            s("CLike"),
            s("CNotLike"),
            s("CMatch"),
            s("CNotMatch"),
        ],
    ),
    c(
        "Select-Object",
        &["select"],
        &[
            p("Property", 0),
            v("ExpandProperty"),
            v("First"),
            v("Last"),
            v("Skip"),
            s("Unique"),
            v("Index"),
            v("ExcludeProperty"),
            v("InputObject"),
        ],
    ),
    c(
        "Sort-Object",
        &["sort"],
        &[
            p("Property", 0),
            s("Descending"),
            s("Unique"),
            s("CaseSensitive"),
            v("InputObject"),
        ],
    ),
    c(
        "ForEach-Object",
        &["%", "foreach"],
        &[
            p("Process", 0),
            v("MemberName"),
            v("Begin"),
            v("End"),
            va("ArgumentList", &["Args"]),
            v("InputObject"),
        ],
    ),
    c(
        "Measure-Object",
        &["measure"],
        &[
            p("Property", 0),
            s("Sum"),
            s("Average"),
            s("Maximum"),
            s("Minimum"),
            s("Line"),
            s("Word"),
            s("Character"),
            v("InputObject"),
        ],
    ),
    c(
        "Group-Object",
        &["group"],
        &[
            p("Property", 0),
            s("NoElement"),
            s("AsHashTable"),
            s("AsString"),
            s("CaseSensitive"),
            v("InputObject"),
        ],
    ),
    c(
        "Get-ItemProperty",
        &["gp"],
        &[p("Path", 0), LITERAL, pa("Name", 1, &["PSProperty"])],
    ),
    c(
        "Get-ItemPropertyValue",
        &["gpv"],
        &[p("Path", 0), LITERAL, pa("Name", 1, &["PSProperty"])],
    ),
    c(
        "Set-ItemProperty",
        &["sp"],
        &[
            p("Path", 0),
            LITERAL,
            pa("Name", 1, &["PSProperty"]),
            p("Value", 2),
            v("Type"),
            s("Force"),
            s("PassThru"),
        ],
    ),
    c(
        "New-ItemProperty",
        &[],
        &[
            p("Path", 0),
            LITERAL,
            pa("Name", 1, &["PSProperty"]),
            p("Value", 2),
            va("PropertyType", &["Type"]),
            s("Force"),
        ],
    ),
    c(
        "Remove-ItemProperty",
        &["rp"],
        &[
            p("Path", 0),
            LITERAL,
            pa("Name", 1, &["PSProperty"]),
            s("Force"),
        ],
    ),
    c(
        "Get-Item",
        &["gi"],
        &[
            p("Path", 0),
            LITERAL,
            s("Force"),
            v("Filter"),
            v("Include"),
            v("Exclude"),
        ],
    ),
    c(
        "Write-Error",
        &[],
        &[
            pa("Message", 0, &["Msg"]),
            v("Exception"),
            v("ErrorRecord"),
            v("Category"),
            v("ErrorId"),
            v("TargetObject"),
            v("RecommendedAction"),
            va("CategoryActivity", &["Activity"]),
            va("CategoryReason", &["Reason"]),
            va("CategoryTargetName", &["TargetName"]),
            va("CategoryTargetType", &["TargetType"]),
        ],
    ),
    c(
        "Write-Output",
        &["echo", "write"],
        &[p("InputObject", 0), s("NoEnumerate")],
    ),
    c("Write-Warning", &[], &[pa("Message", 0, &["Msg"])]),
    c("Write-Verbose", &[], &[pa("Message", 0, &["Msg"])]),
    c("Write-Debug", &[], &[pa("Message", 0, &["Msg"])]),
    c(
        "Write-Information",
        &[],
        &[pa("MessageData", 0, &["Msg", "Message"]), p("Tags", 1)],
    ),
    c(
        "Write-Progress",
        &[],
        &[
            p("Activity", 0),
            p("Status", 1),
            p("Id", 2),
            v("PercentComplete"),
            v("SecondsRemaining"),
            v("CurrentOperation"),
            v("ParentId"),
            s("Completed"),
            v("SourceId"),
        ],
    ),
    c(
        "Get-Command",
        &["gcm"],
        &[
            p("Name", 0),
            v("CommandType"),
            v("Module"),
            s("All"),
            s("ListImported"),
        ],
    ),
    c(
        "Out-String",
        &[],
        &[v("InputObject"), v("Width"), s("Stream")],
    ),
    c("Out-Host", &["oh"], &[v("InputObject"), s("Paging")]),
    c("Out-Default", &[], &[v("InputObject")]),
    c(
        "Out-File",
        &[],
        &[
            pa("FilePath", 0, &["Path"]),
            LITERAL,
            p("Encoding", 1),
            s("Append"),
            s("Force"),
            s("NoClobber"),
            v("Width"),
            s("NoNewline"),
            v("InputObject"),
        ],
    ),
    c(
        "Format-Table",
        &["ft"],
        &[
            p("Property", 0),
            s("AutoSize"),
            s("Wrap"),
            s("HideTableHeaders"),
            v("InputObject"),
        ],
    ),
    c(
        "Format-List",
        &["fl"],
        &[p("Property", 0), v("InputObject")],
    ),
    c(
        "Resolve-Path",
        &["rvpa"],
        &[p("Path", 0), LITERAL, s("Relative")],
    ),
    c(
        "Split-Path",
        &[],
        &[
            p("Path", 0),
            LITERAL,
            s("Parent"),
            s("Leaf"),
            s("Qualifier"),
            s("NoQualifier"),
            s("IsAbsolute"),
            s("Resolve"),
        ],
    ),
    c(
        "Join-Path",
        &[],
        &[
            p("Path", 0),
            p("ChildPath", 1),
            p("AdditionalChildPath", 2),
            s("Resolve"),
        ],
    ),
    c("Get-Location", &["gl", "pwd"], &[]),
    c(
        "Set-Location",
        &["cd", "chdir", "sl"],
        &[p("Path", 0), LITERAL, s("PassThru")],
    ),
    c(
        "Push-Location",
        &["pushd"],
        &[p("Path", 0), LITERAL, s("PassThru")],
    ),
    c("Pop-Location", &["popd"], &[s("PassThru")]),
    c(
        "Invoke-RestMethod",
        &["irm"],
        &[
            p("Uri", 0),
            v("Method"),
            v("Headers"),
            v("OutFile"),
            s("UseBasicParsing"),
            v("UserAgent"),
            v("TimeoutSec"),
            v("MaximumRedirection"),
            s("UseDefaultCredentials"),
        ],
    ),
    c("Invoke-Expression", &["iex"], &[p("Command", 0)]),
    c(
        "Get-Date",
        &[],
        &[
            p("Date", 0),
            v("Format"),
            v("UFormat"),
            v("Year"),
            v("Month"),
            v("Day"),
            v("Hour"),
            v("Minute"),
            v("Second"),
        ],
    ),
    c(
        "Set-Variable",
        &["set", "sv"],
        &[
            p("Name", 0),
            p("Value", 1),
            v("Scope"),
            v("Option"),
            s("Force"),
            s("PassThru"),
        ],
    ),
    c(
        "New-Variable",
        &["nv"],
        &[
            p("Name", 0),
            p("Value", 1),
            v("Scope"),
            v("Option"),
            s("Force"),
            s("PassThru"),
        ],
    ),
    c(
        "Get-Variable",
        &["gv"],
        &[p("Name", 0), s("ValueOnly"), v("Scope")],
    ),
    c(
        "Remove-Variable",
        &["rv"],
        &[p("Name", 0), v("Scope"), s("Force")],
    ),
    c(
        "ConvertTo-Json",
        &[],
        &[p("InputObject", 0), v("Depth"), s("Compress")],
    ),
    c("ConvertFrom-Json", &[], &[p("InputObject", 0)]),
    c(
        "Select-String",
        &["sls"],
        &[
            p("Pattern", 0),
            p("Path", 1),
            LITERAL,
            v("InputObject"),
            s("SimpleMatch"),
            s("CaseSensitive"),
            s("Quiet"),
            s("List"),
            s("NotMatch"),
            s("AllMatches"),
            v("Encoding"),
        ],
    ),
    c(
        "Set-ExecutionPolicy",
        &[],
        &[p("ExecutionPolicy", 0), p("Scope", 1), s("Force")],
    ),
    c("Get-ExecutionPolicy", &[], &[p("Scope", 0), s("List")]),
    c("Unblock-File", &[], &[p("Path", 0), LITERAL]),
    c("Add-Type", &[], &[va("AssemblyName", &["AN"])]),
];

/// Types the engine knows: `[T]` literals and casts, `[T]::Member`, `New-Object T`.
pub static TYPES: &[TypeInfo] = &[
    TypeInfo {
        name: "System.IO.Compression.ZipFile",
        aliases: &[],
        static_members: &["ExtractToDirectory"],
        constructible: false,
    },
    TypeInfo {
        name: "System.Net.ServicePointManager",
        aliases: &[],
        static_members: &["SecurityProtocol"],
        constructible: false,
    },
    TypeInfo {
        name: "System.Net.SecurityProtocolType",
        aliases: &[],
        static_members: &["SystemDefault", "Ssl3", "Tls", "Tls11", "Tls12", "Tls13"],
        constructible: false,
    },
    TypeInfo {
        name: "System.Environment",
        aliases: &[],
        static_members: &[
            "SetEnvironmentVariable",
            "GetEnvironmentVariable",
            "GetEnvironmentVariables",
            "ExpandEnvironmentVariables",
            "GetFolderPath",
            "NewLine",
            "Is64BitOperatingSystem",
            "Is64BitProcess",
            "MachineName",
            "UserName",
            "CurrentDirectory",
            "ProcessorCount",
            "SystemDirectory",
            "OSVersion",
        ],
        constructible: false,
    },
    TypeInfo {
        name: "System.EnvironmentVariableTarget",
        aliases: &[],
        static_members: &["Process", "User", "Machine"],
        constructible: false,
    },
    TypeInfo {
        name: "System.Environment+SpecialFolder",
        aliases: &[
            "Environment.SpecialFolder",
            "System.Environment.SpecialFolder",
        ],
        static_members: &[
            "Desktop",
            "Programs",
            "MyDocuments",
            "Personal",
            "Startup",
            "ApplicationData",
            "LocalApplicationData",
            "CommonApplicationData",
            "Windows",
            "System",
            "ProgramFiles",
            "UserProfile",
            "SystemX86",
            "ProgramFilesX86",
            "CommonProgramFiles",
            "CommonProgramFilesX86",
            "CommonDesktopDirectory",
        ],
        constructible: false,
    },
    TypeInfo {
        name: "System.Convert",
        aliases: &[],
        static_members: &[
            "FromBase64String",
            "ToBase64String",
            "ToInt32",
            "ToString",
            "ToBoolean",
        ],
        constructible: false,
    },
    TypeInfo {
        name: "System.Text.Encoding",
        aliases: &[],
        static_members: &[
            "UTF8",
            "Unicode",
            "BigEndianUnicode",
            "ASCII",
            "Default",
            "UTF32",
        ],
        constructible: false,
    },
    TypeInfo {
        name: "System.IO.Path",
        aliases: &[],
        static_members: &[
            "Combine",
            "GetFileName",
            "GetFileNameWithoutExtension",
            "GetExtension",
            "GetDirectoryName",
            "GetTempPath",
            "GetFullPath",
            "IsPathRooted",
            "DirectorySeparatorChar",
            "AltDirectorySeparatorChar",
            "PathSeparator",
        ],
        constructible: false,
    },
    TypeInfo {
        name: "System.IO.File",
        aliases: &[],
        static_members: &[
            "Exists",
            "ReadAllText",
            "ReadAllLines",
            "ReadAllBytes",
            "WriteAllText",
            "WriteAllLines",
            "AppendAllText",
            "WriteAllBytes",
            "Delete",
            "Copy",
            "Move",
        ],
        constructible: false,
    },
    TypeInfo {
        name: "System.IO.Directory",
        aliases: &[],
        static_members: &[
            "Move",
            "Exists",
            "CreateDirectory",
            "Delete",
            "GetFiles",
            "GetDirectories",
        ],
        constructible: false,
    },
    TypeInfo {
        name: "System.String",
        aliases: &["string"],
        static_members: &[
            "IsNullOrEmpty",
            "IsNullOrWhiteSpace",
            "Join",
            "Format",
            "Concat",
            "Equals",
            "Compare",
            "Empty",
            "new",
        ],
        constructible: true,
    },
    TypeInfo {
        name: "System.Math",
        aliases: &["math"],
        static_members: &[
            "Abs", "Max", "Min", "Floor", "Ceiling", "Truncate", "Round", "Sqrt", "Pow", "Log",
            "Log10", "Exp", "Sign", "PI", "E",
        ],
        constructible: false,
    },
    TypeInfo {
        name: "System.Int32",
        aliases: &["int", "int32"],
        static_members: &["MaxValue", "MinValue", "Parse"],
        constructible: false,
    },
    TypeInfo {
        name: "System.Int64",
        aliases: &["long", "int64"],
        static_members: &["MaxValue", "MinValue", "Parse"],
        constructible: false,
    },
    TypeInfo {
        name: "System.Double",
        aliases: &["double"],
        static_members: &["MaxValue", "Parse"],
        constructible: false,
    },
    TypeInfo {
        name: "System.Decimal",
        aliases: &["decimal"],
        static_members: &[],
        constructible: false,
    },
    TypeInfo {
        name: "System.Byte",
        aliases: &["byte"],
        static_members: &[],
        constructible: false,
    },
    TypeInfo {
        name: "System.Char",
        aliases: &["char"],
        static_members: &["IsDigit", "IsLetter"],
        constructible: false,
    },
    TypeInfo {
        name: "System.Boolean",
        aliases: &["bool", "boolean"],
        static_members: &[],
        constructible: false,
    },
    TypeInfo {
        name: "System.Object",
        aliases: &[
            "object",
            "psobject",
            "System.Management.Automation.PSObject",
        ],
        static_members: &["new"],
        constructible: true,
    },
    TypeInfo {
        name: "System.Array",
        aliases: &["array"],
        static_members: &[],
        constructible: false,
    },
    TypeInfo {
        name: "System.Void",
        aliases: &["void"],
        static_members: &[],
        constructible: false,
    },
    TypeInfo {
        name: "System.Collections.Hashtable",
        aliases: &["hashtable"],
        static_members: &["new"],
        constructible: true,
    },
    TypeInfo {
        name: "System.Collections.Specialized.OrderedDictionary",
        aliases: &["ordered"],
        static_members: &["new"],
        constructible: true,
    },
    TypeInfo {
        name: "System.Management.Automation.PSCustomObject",
        aliases: &["pscustomobject"],
        static_members: &[],
        constructible: true,
    },
    TypeInfo {
        name: "System.Management.Automation.ScriptBlock",
        aliases: &["scriptblock"],
        static_members: &[],
        constructible: false,
    },
    TypeInfo {
        name: "System.Management.Automation.SwitchParameter",
        aliases: &["switch"],
        static_members: &[],
        constructible: false,
    },
    TypeInfo {
        name: "System.Version",
        aliases: &["version"],
        static_members: &["Parse", "new"],
        constructible: true,
    },
    TypeInfo {
        name: "System.Uri",
        aliases: &["uri"],
        static_members: &["new"],
        constructible: true,
    },
    TypeInfo {
        name: "System.DateTime",
        aliases: &["datetime"],
        static_members: &["Now", "UtcNow", "Today", "Parse", "new"],
        constructible: true,
    },
    TypeInfo {
        name: "System.Text.RegularExpressions.Regex",
        aliases: &["regex"],
        static_members: &["Escape", "IsMatch", "Replace", "Split"],
        constructible: false,
    },
    TypeInfo {
        name: "System.Net.WebClient",
        aliases: &[],
        static_members: &["new"],
        constructible: true,
    },
    TypeInfo {
        name: "System.Collections.ArrayList",
        aliases: &[],
        static_members: &["new"],
        constructible: true,
    },
    TypeInfo {
        name: "System.Collections.Generic.List",
        // New-Object takes the name as one string; the spellings scripts use.
        aliases: &[
            "System.Collections.Generic.List[string]",
            "System.Collections.Generic.List[System.String]",
            "System.Collections.Generic.List[object]",
            "System.Collections.Generic.List[System.Object]",
            "Collections.Generic.List[string]",
            "Collections.Generic.List[object]",
        ],
        static_members: &["new"],
        constructible: true,
    },
    TypeInfo {
        name: "System.Text.StringBuilder",
        aliases: &[],
        static_members: &["new"],
        constructible: true,
    },
    TypeInfo {
        name: "System.Exception",
        aliases: &[],
        static_members: &["new"],
        constructible: true,
    },
    TypeInfo {
        name: "System.Management.Automation.RuntimeException",
        aliases: &[],
        static_members: &["new"],
        constructible: true,
    },
    TypeInfo {
        name: "System.IO.IOException",
        aliases: &[],
        static_members: &["new"],
        constructible: true,
    },
    TypeInfo {
        name: "System.IO.FileNotFoundException",
        aliases: &[],
        static_members: &["new"],
        constructible: true,
    },
    TypeInfo {
        name: "System.ArgumentException",
        aliases: &[],
        static_members: &["new"],
        constructible: true,
    },
    TypeInfo {
        name: "System.InvalidOperationException",
        aliases: &[],
        static_members: &["new"],
        constructible: true,
    },
    TypeInfo {
        name: "System.Net.WebException",
        aliases: &[],
        static_members: &[],
        constructible: false,
    },
    TypeInfo {
        name: "System.Management.Automation.ItemNotFoundException",
        aliases: &[],
        static_members: &[],
        constructible: false,
    },
    TypeInfo {
        name: "System.Management.Automation.CommandNotFoundException",
        aliases: &[],
        static_members: &[],
        constructible: false,
    },
    TypeInfo {
        name: "System.UnauthorizedAccessException",
        aliases: &[],
        static_members: &[],
        constructible: false,
    },
    TypeInfo {
        name: "System.Management.Automation.ErrorRecord",
        aliases: &[],
        static_members: &[],
        constructible: false,
    },
    TypeInfo {
        name: "System.IO.FileInfo",
        aliases: &[],
        static_members: &[],
        constructible: false,
    },
    TypeInfo {
        name: "System.IO.DirectoryInfo",
        aliases: &[],
        static_members: &[],
        constructible: false,
    },
];

/// Instance members (methods and properties) implemented on some value kind.
pub static INSTANCE_MEMBERS: &[&str] = &[
    // every value
    "ToString",
    "GetType",
    "Equals",
    "CompareTo",
    "Count",
    "Length",
    "FullName",
    "Name",
    // string
    "Trim",
    "TrimStart",
    "TrimEnd",
    "ToUpper",
    "ToLower",
    "ToUpperInvariant",
    "ToLowerInvariant",
    "Contains",
    "StartsWith",
    "EndsWith",
    "Replace",
    "Split",
    "Substring",
    "IndexOf",
    "LastIndexOf",
    "PadLeft",
    "PadRight",
    "Insert",
    "Remove",
    "ToCharArray",
    "Normalize",
    // arrays, lists, hashtables
    "Clone",
    "GetValue",
    "ForEach",
    "Where",
    "Add",
    "AddRange",
    "Clear",
    "ToArray",
    "ContainsKey",
    "ContainsValue",
    "Keys",
    "Values",
    "GetEnumerator",
    "Key",
    "Value",
    "Rank",
    // script blocks
    "Invoke",
    "InvokeReturnAsIs",
    "GetNewClosure",
    // WebClient
    "DownloadFile",
    "DownloadString",
    "DownloadData",
    "Headers",
    "Dispose",
    "UseDefaultCredentials",
    "Encoding",
    // encodings
    "GetString",
    "GetBytes",
    "GetPreamble",
    "WebName",
    "EncodingName",
    // StringBuilder
    "Append",
    "AppendLine",
    // Process (Start-Process -PassThru)
    "ExitCode",
    "Id",
    "HasExited",
    "WaitForExit",
    "Kill",
    "Refresh",
    "ProcessName",
    "StartTime",
    "ExitTime",
    // web response
    "StatusCode",
    "StatusDescription",
    "Content",
    "RawContent",
    "RawContentLength",
    "BaseResponse",
    // file hash
    "Algorithm",
    "Hash",
    "Path",
    // files and directories
    "Extension",
    "BaseName",
    "DirectoryName",
    "Directory",
    "Parent",
    "Root",
    "Exists",
    "LastWriteTime",
    "CreationTime",
    "LastAccessTime",
    "PSIsContainer",
    "Mode",
    "Attributes",
    "PSPath",
    "PSParentPath",
    "PSChildName",
    "PSDrive",
    "PSProvider",
    "Delete",
    "IsReadOnly",
    "Target",
    "LinkType",
    "VersionInfo",
    // registry
    "Property",
    "GetValue",
    "GetValueNames",
    "SubKeyCount",
    "ValueCount",
    // command info
    "Source",
    "Definition",
    "CommandType",
    "Version",
    "ModuleName",
    // version
    "Major",
    "Minor",
    "Build",
    "Revision",
    "MajorRevision",
    "MinorRevision",
    // datetime
    "Year",
    "Month",
    "Day",
    "Hour",
    "Minute",
    "Second",
    "Millisecond",
    "Ticks",
    "DayOfWeek",
    "DayOfYear",
    "Date",
    "AddSeconds",
    "AddMinutes",
    "AddHours",
    "AddDays",
    "AddMilliseconds",
    "AddTicks",
    "ToUniversalTime",
    "ToLocalTime",
    // uri
    "AbsoluteUri",
    "OriginalString",
    "Scheme",
    "Host",
    "Port",
    "AbsolutePath",
    "PathAndQuery",
    "Query",
    "Segments",
    "IsAbsoluteUri",
    // errors
    "Exception",
    "Message",
    "InnerException",
    "CategoryInfo",
    "FullyQualifiedErrorId",
    "TargetObject",
    "InvocationInfo",
    "ScriptStackTrace",
    "ScriptLineNumber",
    "OffsetInLine",
    "PositionMessage",
    "GetBaseException",
    "Category",
    "Reason",
    "TargetName",
    // enums
    "HasFlag",
    "value__",
    // measure / group / match info / path info
    "Sum",
    "Average",
    "Maximum",
    "Minimum",
    "Group",
    "Values",
    "Line",
    "LineNumber",
    "Pattern",
    "Filename",
    "Matches",
    "Groups",
    "ProviderPath",
    "Drive",
    "Provider",
    // $PSVersionTable / OS version
    "PSVersion",
    "PSEdition",
    "CLRVersion",
    "BuildVersion",
    "Platform",
    "VersionString",
    // $MyInvocation
    "MyCommand",
    "ScriptName",
    "InvocationName",
    "Line",
];

/// Attributes the engine honours in `param()` blocks (`[Parameter(Mandatory, Position = n,
/// ValueFromPipeline)]`, `[CmdletBinding()]`; `[OutputType()]` has no effect on running).
pub static ATTRIBUTES: &[&str] = &["Parameter", "CmdletBinding", "OutputType"];

static CATALOG: Catalog = Catalog {
    cmdlets: CMDLETS,
    types: TYPES,
    instance_members: INSTANCE_MEMBERS,
    attributes: ATTRIBUTES,
};

/// The engine's catalog (for `check::check`).
pub fn catalog() -> &'static Catalog {
    &CATALOG
}

/// The cmdlet a command word names (canonical name or alias, case-insensitive).
pub fn find_cmdlet(name: &str) -> Option<&'static CmdletInfo> {
    CMDLETS.iter().find(|c| {
        c.name.eq_ignore_ascii_case(name) || c.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// The common parameters every cmdlet accepts (about_CommonParameters).
pub const COMMON_PARAMETERS: &[(&str, &[&str], bool)] = &[
    ("ErrorAction", &["ea"], false),
    ("ErrorVariable", &["ev"], false),
    ("WarningAction", &["wa"], false),
    ("WarningVariable", &["wv"], false),
    ("InformationAction", &["infa"], false),
    ("InformationVariable", &["iv"], false),
    ("OutVariable", &["ov"], false),
    ("OutBuffer", &["ob"], false),
    ("PipelineVariable", &["pv"], false),
    ("Verbose", &["vb"], true),
    ("Debug", &["db"], true),
    ("WhatIf", &["wi"], true),
    ("Confirm", &["cf"], true),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_of_windows_powershell_5_1() {
        // Rows from about_Aliases / Get-Alias on Windows PowerShell 5.1.
        for (alias, cmd) in [
            ("curl", "Invoke-WebRequest"),
            ("wget", "Invoke-WebRequest"),
            ("iwr", "Invoke-WebRequest"),
            ("%", "ForEach-Object"),
            ("?", "Where-Object"),
            ("gci", "Get-ChildItem"),
            ("ls", "Get-ChildItem"),
            ("del", "Remove-Item"),
            ("echo", "Write-Output"),
            ("iex", "Invoke-Expression"),
            ("md", "New-Item"),
            ("cd", "Set-Location"),
            ("type", "Get-Content"),
            ("start", "Start-Process"),
        ] {
            assert_eq!(find_cmdlet(alias).map(|c| c.name), Some(cmd), "{alias}");
        }
        assert!(find_cmdlet("Install-WindowsFeature").is_none());
    }

    #[test]
    fn no_duplicate_names_or_positions() {
        let mut seen = std::collections::HashSet::new();
        for c in CMDLETS {
            assert!(seen.insert(c.name.to_lowercase()), "{}", c.name);
            for a in c.aliases {
                assert!(seen.insert(a.to_lowercase()), "{a}");
            }
            let mut pnames = std::collections::HashSet::new();
            for p in c.parameters {
                assert!(
                    pnames.insert(p.name.to_lowercase()),
                    "{} -{}",
                    c.name,
                    p.name
                );
            }
        }
    }
}
