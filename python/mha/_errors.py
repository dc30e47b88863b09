"""mha.Error and the mha_status names (standard library only)."""

# enum mha_status of include/mha/runtime.h: the values are stable.
STATUS_NAMES = {
    0: "MHA_OK",
    1: "MHA_ERR_NULL_POINTER",
    2: "MHA_ERR_RANK",
    3: "MHA_ERR_DTYPE",
    4: "MHA_ERR_SHAPE",
    5: "MHA_ERR_DEVICE",
    6: "MHA_ERR_LAYOUT",
    7: "MHA_ERR_INVALID_ARGUMENT",
    8: "MHA_ERR_NO_DEVICE",
    9: "MHA_ERR_CUDA",
    10: "MHA_ERR_OUT_OF_MEMORY",
    11: "MHA_ERR_INTERNAL",
}
STATUS_CODES = {name: code for code, name in STATUS_NAMES.items()}


def status_name(status):
    return STATUS_NAMES.get(status, f"mha_status {status}")


class Error(RuntimeError):
    """A generated function returned an error status, or the package could
    not do what was asked (compile a spec, size a result).

    status:      the mha_status value (None for errors of the package or of
                 mha-compile itself)
    status_name: "MHA_ERR_SHAPE", ... ("MHA_COMPILE_ERROR" when mha-compile
                 failed)
    message:     mha_last_error()'s text (or mha-compile's diagnostics)
    function:    the exported function called, when there is one
    """

    def __init__(self, status, message, function=None, status_name_=None):
        self.status = status
        self.status_name = status_name_ or status_name(status)
        self.message = message
        self.function = function
        super().__init__(f"{self.status_name}: {message}")


Error.__module__ = "mha"  # shown as mha.Error
