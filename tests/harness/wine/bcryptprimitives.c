/* bcryptprimitives.dll for Wine versions that lack it (Debian's Wine 8.0).
 *
 * Rust's standard library for Windows (1.78 and later) imports ProcessPrng from
 * bcryptprimitives.dll, which every Windows 10/11 and Server 2016+ has; Wine only gained it in
 * 9.x. Without it silo.exe cannot start under Wine at all. This is the same function over
 * RtlGenRandom (advapi32's SystemFunction036): random bytes from the OS, nothing faked.
 * tests/harness/windows_exe.rs builds it with mingw-w64 and installs it into the test's own
 * Wine prefix only when that prefix has no bcryptprimitives.dll. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
