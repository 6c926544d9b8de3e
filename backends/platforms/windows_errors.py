"""Windows Update's numbers in words: common HRESULTs and WUA's ``OperationResultCode``.

The symbolic names and values are Microsoft's (``wuerror.h`` in the Windows SDK, and "Windows
Update error codes by component" / "Windows Update common errors and mitigation" in the Windows
IT Pro documentation); the explanations are patchdeck's own, written for an operator deciding
what to do next. Used by the scan (a failed search) and by installs.
"""

from __future__ import annotations

# HRESULT → (symbolic name, what it means for the operator)
HRESULTS: dict[int, tuple[str, str]] = {
    # general
    0x80070005: (
        "E_ACCESSDENIED",
        "access denied (the account is not an administrator, or "
        "the call is not allowed from a remote session)",
    ),
    0x8007000E: ("E_OUTOFMEMORY", "the machine ran out of memory"),
    0x80131501: (
        "COR_E_SYSTEM",
        "a method call failed in PowerShell (its message names the error inside)",
    ),
    0x80070422: ("ERROR_SERVICE_DISABLED", "the Windows Update service is disabled"),
    0x8007045B: ("ERROR_SHUTDOWN_IN_PROGRESS", "the machine is shutting down"),
    0x80070BC9: ("ERROR_FAIL_REBOOT_REQUIRED", "a restart is needed before this can go on"),
    0x80070643: ("ERROR_INSTALL_FAILURE", "the update's installer failed"),
    0x80070070: ("ERROR_DISK_FULL", "not enough disk space"),
    0x80073712: (
        "ERROR_SXS_COMPONENT_STORE_CORRUPT",
        "the component store is damaged (DISM /RestoreHealth repairs it)",
    ),
    0x800F0922: (
        "CBS_E_INSTALLERS_FAILED",
        "a servicing step failed (often: the system "
        "reserved partition is full, or the machine cannot reach the update source)",
    ),
    0x800F081F: ("CBS_E_SOURCE_MISSING", "the files the update needs were not found"),
    0x800F0820: ("CBS_E_CANCEL", "the servicing operation was cancelled"),
    0x800F0831: ("CBS_E_STORE_CORRUPTION", "a prerequisite update is missing or damaged"),
    # Windows Update Agent
    0x80240001: ("WU_E_NO_SERVICE", "the Windows Update Agent could not provide its service"),
    0x80240007: ("WU_E_INVALIDINDEX", "an index into a collection was invalid"),
    0x80240009: ("WU_E_OPERATIONINPROGRESS", "another Windows Update operation is running"),
    0x8024000B: ("WU_E_CALL_CANCELLED", "the operation was cancelled"),
    0x8024000E: ("WU_E_XML_INVALID", "an update's metadata is invalid"),
    0x80240016: (
        "WU_E_INSTALL_NOT_ALLOWED",
        "an installation is already running, or a restart is pending",
    ),
    0x80240017: ("WU_E_NOT_APPLICABLE", "no applicable updates"),
    0x8024001B: ("WU_E_SELFUPDATE_IN_PROGRESS", "the Windows Update Agent is updating itself"),
    0x8024001E: ("WU_E_SERVICE_STOP", "the service or the machine was shutting down"),
    0x8024001F: ("WU_E_NO_CONNECTION", "no network connection"),
    0x80240020: ("WU_E_NO_INTERACTIVE_USER", "the operation needs a logged-on user"),
    0x80240021: ("WU_E_TIME_OUT", "the operation timed out"),
    0x80240022: ("WU_E_ALL_UPDATES_FAILED", "every update failed"),
    0x80240024: ("WU_E_NO_UPDATE", "there are no updates"),
    0x80240025: ("WU_E_USER_ACCESS_DISABLED", "Group Policy forbids access to Windows Update"),
    0x8024002E: ("WU_E_WU_DISABLED", "access to an unmanaged update server is not allowed"),
    0x8024002F: (
        "WU_E_CALL_CANCELLED_BY_POLICY",
        "the DisableWindowsUpdateAccess policy stopped the operation",
    ),
    0x80240032: ("WU_E_INVALID_CRITERIA", "the search criteria were refused"),
    0x80240034: ("WU_E_DOWNLOAD_FAILED", "an update failed to download"),
    0x80240044: (
        "WU_E_PER_MACHINE_UPDATE_ACCESS_DENIED",
        "only administrators may do this for machine-wide updates",
    ),
    0x80240438: (
        "WU_E_PT_ENDPOINT_UNREACHABLE",
        "the update service cannot be reached (no route, a proxy or a firewall in the way)",
    ),
    0x80240FFF: ("WU_E_UNEXPECTED", "an unexpected Windows Update failure"),
    0x80242006: ("WU_E_UH_INVALIDMETADATA", "an update's handler metadata is invalid"),
    0x8024200B: ("WU_E_UH_INSTALLERFAILURE", "the update's installer reported a failure"),
    0x8024200D: ("WU_E_UH_NEEDANOTHERDOWNLOAD", "the update must be downloaded again"),
    0x80242016: (
        "WU_E_UH_POSTREBOOTUNEXPECTEDSTATE",
        "the update was in an unexpected state after the restart",
    ),
    0x80244010: (
        "WU_E_PT_EXCEEDED_MAX_SERVER_TRIPS",
        "too many round trips to the update server (try the search again)",
    ),
    0x80244016: ("WU_E_PT_HTTP_STATUS_BAD_REQUEST", "the update server answered 400"),
    0x80244017: ("WU_E_PT_HTTP_STATUS_DENIED", "the update server wants authentication (401)"),
    0x80244018: (
        "WU_E_PT_HTTP_STATUS_FORBIDDEN",
        "the update server refused (403); often a proxy that blocks it",
    ),
    0x80244019: (
        "WU_E_PT_HTTP_STATUS_NOT_FOUND",
        "the update server does not have the file (404); check the WSUS address",
    ),
    0x8024401B: ("WU_E_PT_HTTP_STATUS_PROXY_AUTH_REQ", "the proxy wants authentication (407)"),
    0x8024401C: ("WU_E_PT_HTTP_STATUS_REQUEST_TIMEOUT", "the update server timed out (408)"),
    0x8024401F: ("WU_E_PT_HTTP_STATUS_SERVER_ERROR", "the update server failed (500)"),
    0x80244022: (
        "WU_E_PT_HTTP_STATUS_SERVICE_UNAVAIL",
        "the update server is overloaded or down (503)",
    ),
    0x80244023: (
        "WU_E_PT_HTTP_STATUS_GATEWAY_TIMEOUT",
        "a gateway timed out reaching the update server (504)",
    ),
    0x8024402C: (
        "WU_E_PT_WINHTTP_NAME_NOT_RESOLVED",
        "the name of the update server or proxy cannot be resolved",
    ),
    0x8024402F: ("WU_E_PT_ECP_SUCCEEDED_WITH_ERRORS", "update metadata was read with errors"),
    0x80244FFF: ("WU_E_PT_UNEXPECTED", "an unexpected failure talking to the update server"),
    0x80246007: ("WU_E_DM_NOTDOWNLOADED", "the update has not been downloaded"),
    0x80246008: (
        "WU_E_DM_FAILTOCONNECTTOBITS",
        "the Background Intelligent Transfer Service (BITS) cannot be used",
    ),
    0x80248007: ("WU_E_DS_NODATA", "the Windows Update data store has no such data"),
    0x8024A000: ("WU_E_AU_NOSERVICE", "Automatic Updates could not be serviced"),
    # WinINet/WinHTTP errors the agent passes on
    0x80072EE2: ("ERROR_INTERNET_TIMEOUT", "the connection to the update server timed out"),
    0x80072EE7: ("ERROR_INTERNET_NAME_NOT_RESOLVED", "the update server's name cannot be resolved"),
    0x80072EFD: ("ERROR_INTERNET_CANNOT_CONNECT", "the update server cannot be reached"),
    0x80072EFE: (
        "ERROR_INTERNET_CONNECTION_ABORTED",
        "the connection to the update server was cut",
    ),
    0x80072F8F: (
        "ERROR_INTERNET_SECURE_FAILURE",
        "the TLS connection to the update server "
        "failed (check the machine's clock and its root certificates)",
    ),
}

# IUpdateInstaller / ISearchResult ``ResultCode`` (OperationResultCode)
RESULT_CODES: dict[int, str] = {
    0: "not started",
    1: "in progress",
    2: "succeeded",
    3: "succeeded with errors",
    4: "failed",
    5: "aborted",
}


def parse_hresult(value: object) -> int | None:
    """``0x8024402C``, ``8024402C``, ``-2145107924`` or ``2149859372`` → the unsigned 32-bit
    value; ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip().lower()
        try:
            if text.startswith(("0x", "-0x")):
                number = int(text, 16)
            elif text.lstrip("-").isdigit():
                number = int(text, 10)
            elif len(text) == 8:
                number = int(text, 16)
            else:
                return None
        except ValueError:
            return None
    else:
        return None
    if not -(1 << 31) <= number < (1 << 32):
        return None
    return number & 0xFFFFFFFF


def describe_hresult(value: object) -> str:
    """``0x8024402C WU_E_PT_WINHTTP_NAME_NOT_RESOLVED: the name of the update server or proxy
    cannot be resolved``; an unknown code is given as it is, with where to look it up."""
    number = parse_hresult(value)
    if number is None:
        return f"error {str(value)[:40]!r}"
    known = HRESULTS.get(number)
    if known is None:
        return (
            f"0x{number:08X} (not a code patchdeck knows: look it up in Microsoft's "
            "Windows Update error reference)"
        )
    name, words = known
    return f"0x{number:08X} {name}: {words}"


def describe_result_code(code: object) -> str:
    if isinstance(code, int) and not isinstance(code, bool) and code in RESULT_CODES:
        return RESULT_CODES[code]
    return f"result code {str(code)[:20]}"
