//! Run-time loading of the DLLs the HCS runtime calls — vmcompute.dll (layer storage),
//! computecore.dll (compute systems, processes) and computenetwork.dll (HNS) — so that silo.exe
//! starts on every Windows machine, Containers feature or not, and only `--runtime hcs` needs
//! them.
//!
//! hcsshim does the same (`windows.NewLazySystemDLL`, in internal/computecore/zsyscall_windows.go,
//! internal/vmcompute/zsyscall_windows.go and hcn's zsyscall_windows.go): each DLL is loaded
//! from System32 only (`LOAD_LIBRARY_SEARCH_SYSTEM32`, never the current directory or `PATH`)
//! on first use, each function resolved by name on its first call, and both are cached for the
//! life of the process. A DLL or function that is missing becomes an [`HcsError`] naming it,
//! the Windows feature that provides it and the minimum Windows build — never a loader error
//! before `main`.
//!
//! The loader half ([`Library::module`], [`Function::address`]) is Windows-only; the messages
//! are plain Rust, unit-tested on every host.

#[cfg(any(windows, feature = "check-windows"))]
use std::sync::OnceLock;

use super::hresult::HcsError;

/// `HRESULT_FROM_WIN32(ERROR_MOD_NOT_FOUND)`: the DLL is not in System32.
pub const MODULE_NOT_FOUND: u32 = 0x8007_007E;
/// `HRESULT_FROM_WIN32(ERROR_PROC_NOT_FOUND)`: the DLL lacks the function.
pub const PROC_NOT_FOUND: u32 = 0x8007_007F;

/// The oldest Windows with the v2 HCS API silo uses (computecore.dll and computenetwork.dll
/// first shipped in version 1809, build 17763).
pub const MINIMUM_WINDOWS: &str = "Windows Server 2019 or Windows 10 1809 (build 17763)";

/// One system DLL, loaded on first use.
pub struct Library {
    /// The file in System32, e.g. `computecore.dll`.
    pub file: &'static str,
    /// What installs it, as a person would enable it.
    pub feature: &'static str,
    #[cfg(any(windows, feature = "check-windows"))]
    module: OnceLock<Result<usize, u32>>,
}

/// vmcompute.dll: layer storage (`ImportLayer`, `ExportLayer`, …), the calls dockerd's
/// windowsfilter driver and hcsshim's wclayer make.
pub static VMCOMPUTE: Library = Library::new("vmcompute.dll", CONTAINERS_FEATURE);
/// computecore.dll: the v2 HCS API (compute systems, processes, operations).
pub static COMPUTECORE: Library = Library::new("computecore.dll", CONTAINERS_FEATURE);
/// computenetwork.dll: the Host Networking Service's HCN API.
pub static COMPUTENETWORK: Library = Library::new("computenetwork.dll", CONTAINERS_FEATURE);

const CONTAINERS_FEATURE: &str = "the Windows feature \"Containers\" (Windows Server: \
     `Install-WindowsFeature Containers`; Windows 10/11: `Enable-WindowsOptionalFeature -Online \
     -FeatureName Containers`; Hyper-V isolation also needs \"Hyper-V\"), then a restart";

impl Library {
    const fn new(file: &'static str, feature: &'static str) -> Library {
        Library {
            file,
            feature,
            #[cfg(any(windows, feature = "check-windows"))]
            module: OnceLock::new(),
        }
    }

    /// The error for a DLL that could not be loaded (`code`: the loader's HRESULT).
    pub fn missing(&self, function: &'static str, code: u32) -> HcsError {
        HcsError::new(function, code).with_detail(format!(
            "{} cannot be loaded from System32: it comes with {}; HCS needs {} or later",
            self.file, self.feature, MINIMUM_WINDOWS
        ))
    }

    /// The error for a function this DLL does not export.
    pub fn lacks(&self, function: &'static str) -> HcsError {
        HcsError::new(function, PROC_NOT_FOUND).with_detail(format!(
            "{} has no function {function}: this Windows is older than silo needs \
             ({} or later, with {})",
            self.file, MINIMUM_WINDOWS, self.feature
        ))
    }
}

/// One function of a [`Library`], resolved on its first call.
#[cfg(any(windows, feature = "check-windows"))]
pub struct Function {
    library: &'static Library,
    /// The export's name, for messages.
    pub name: &'static str,
    /// The same name with the NUL the loader needs.
    c_name: &'static std::ffi::CStr,
    address: OnceLock<Result<usize, u32>>,
}

#[cfg(any(windows, feature = "check-windows"))]
impl Function {
    pub const fn new(
        library: &'static Library,
        name: &'static str,
        c_name: &'static std::ffi::CStr,
    ) -> Function {
        Function {
            library,
            name,
            c_name,
            address: OnceLock::new(),
        }
    }
}

#[cfg(any(windows, feature = "check-windows"))]
mod loader {
    #![allow(unsafe_code)]

    use windows_sys::Win32::Foundation::GetLastError;
    use windows_sys::Win32::System::LibraryLoader::{
        GetProcAddress, LoadLibraryExW, LOAD_LIBRARY_SEARCH_SYSTEM32,
    };

    use super::{Function, HcsError, Library, MODULE_NOT_FOUND};

    /// A Win32 error as an HRESULT (`HRESULT_FROM_WIN32`).
    fn hresult_from_win32(error: u32) -> u32 {
        if error == 0 {
            MODULE_NOT_FOUND
        } else {
            0x8007_0000 | (error & 0xFFFF)
        }
    }

    impl Library {
        /// The module handle, loading the DLL from System32 on first use (the result, good or
        /// bad, is kept: a DLL does not appear while silo runs).
        pub fn module(&self, function: &'static str) -> Result<usize, HcsError> {
            let loaded = self.module.get_or_init(|| {
                let file: Vec<u16> = self.file.encode_utf16().chain([0]).collect();
                // SAFETY: NUL-terminated name; no file handle; System32 only, so no DLL
                // planted in the current directory or on PATH is loaded.
                let module = unsafe {
                    LoadLibraryExW(
                        file.as_ptr(),
                        std::ptr::null_mut(),
                        LOAD_LIBRARY_SEARCH_SYSTEM32,
                    )
                };
                if module.is_null() {
                    // SAFETY: plain thread-local error query, right after the failed call.
                    Err(hresult_from_win32(unsafe { GetLastError() }))
                } else {
                    // Never freed: the functions resolved from it live as long as silo.
                    Ok(module as usize)
                }
            });
            loaded.map_err(|code| self.missing(function, code))
        }
    }

    impl Function {
        /// The function's address, resolving it on first use.
        pub fn address(&self) -> Result<usize, HcsError> {
            let module = self.library.module(self.name)?;
            let resolved = self.address.get_or_init(|| {
                // SAFETY: a module handle from LoadLibraryExW that is never freed and a
                // NUL-terminated export name.
                let address = unsafe { GetProcAddress(module as _, self.c_name.as_ptr().cast()) };
                address.map(|f| f as usize).ok_or(0)
            });
            resolved.map_err(|_| self.library.lacks(self.name))
        }
    }
}

/// Declares lazily resolved functions of `$library`, each as an `unsafe fn` with the C
/// signature that returns `Err` (naming the DLL, feature and minimum build) when the DLL or
/// the function is missing, else the function's own result.
#[cfg(any(windows, feature = "check-windows"))]
macro_rules! lazy_functions {
    ($library:expr; $(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;)*) => {
        $(
            #[allow(non_snake_case, clippy::too_many_arguments)]
            pub(super) unsafe fn $name($($arg: $ty),*) -> Result<$ret, $crate::runtime::hcs::hresult::HcsError> {
                static FUNCTION: $crate::runtime::hcs::dll::Function =
                    $crate::runtime::hcs::dll::Function::new(
                        &$library,
                        stringify!($name),
                        match std::ffi::CStr::from_bytes_with_nul(concat!(stringify!($name), "\0").as_bytes()) {
                            Ok(name) => name,
                            Err(_) => panic!("export names have no NUL"),
                        },
                    );
                let address = FUNCTION.address()?;
                // SAFETY: `address` is the export named `$name`, whose C signature (from the
                // Windows SDK header, as hcsshim declares it) is this one.
                let function = unsafe {
                    std::mem::transmute::<usize, unsafe extern "system" fn($($ty),*) -> $ret>(address)
                };
                // SAFETY: the caller upholds the function's own contract.
                Ok(unsafe { function($($arg),*) })
            }
        )*
    };
}
#[cfg(any(windows, feature = "check-windows"))]
pub(crate) use lazy_functions;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_dll_names_the_feature_and_the_minimum_build() {
        let text = COMPUTECORE
            .missing("HcsCreateOperation", MODULE_NOT_FOUND)
            .to_string();
        for part in [
            "HcsCreateOperation",
            "0x8007007E",
            "computecore.dll cannot be loaded",
            "\"Containers\"",
            "Install-WindowsFeature Containers",
            "build 17763",
        ] {
            assert!(text.contains(part), "{part:?} missing from {text}");
        }
    }

    #[test]
    fn a_missing_function_names_the_dll_and_the_minimum_build() {
        let text = VMCOMPUTE.lacks("ProcessUtilityImage").to_string();
        assert!(
            text.contains("vmcompute.dll has no function ProcessUtilityImage")
                && text.contains("0x8007007F")
                && text.contains("build 17763"),
            "{text}"
        );
    }
}
