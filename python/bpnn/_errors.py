"""Library failures as Python exceptions carrying bpnn_error_message()."""

from . import _lib


class BPNNError(Exception):
    """A libbpnn failure; str() is the library's message, `status` its code
    (the exit status bpnn-cl would give)."""

    status = _lib.BPNN_ERR_RUNTIME

    def __init__(self, message, status=None):
        super().__init__(message)
        if status is not None:
            self.status = status


class InvalidRequestError(BPNNError, ValueError):
    """The request cannot be served as given (bpnn-cl's exit 2): a bad value,
    data that do not parse or fit the network, no such device."""

    status = _lib.BPNN_ERR_INVALID


class BPNNRuntimeError(BPNNError, RuntimeError):
    """A valid request failed while running (exit 1): I/O, device, memory."""

    status = _lib.BPNN_ERR_RUNTIME


class DivergedError(BPNNError, ArithmeticError):
    """Training met a non-finite cost or gradient (exit 3)."""

    status = _lib.BPNN_ERR_DIVERGED


_BY_STATUS = {
    _lib.BPNN_ERR_RUNTIME: BPNNRuntimeError,
    _lib.BPNN_ERR_INVALID: InvalidRequestError,
    _lib.BPNN_ERR_DIVERGED: DivergedError,
}


def last_message():
    return _lib.text(_lib.lib.bpnn_error_message()) or "unknown error"


def check(status):
    """Raises the exception for a bpnn_status; the message is read at once, on
    the calling thread, as the library keeps it per thread."""
    if status == _lib.BPNN_OK:
        return
    message = last_message()
    if status == _lib.BPNN_ERR_INTERRUPTED:
        raise KeyboardInterrupt(message)
    raise _BY_STATUS.get(status, BPNNError)(message, status)
