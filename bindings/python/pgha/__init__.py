"""pgha: PostgreSQL high availability — LSNs, WAL files, timelines, control data, slots.

Every failure raises a subclass of :class:`pgha.Error`, whose ``code`` is the stable number of
pgha's error table (docs/errors.md) and ``position`` the byte offset or line of bad input.
"""

from . import _pgha
from ._pgha import (
    DEFAULT_WAL_SEGMENT_SIZE,
    NODE_STATES,
    ControlData,
    FollowCheck,
    HoldChanges,
    InstallResult,
    Instance,
    InstanceObservation,
    LogicalSlot,
    Lsn,
    MasterSlots,
    SlotCopyStatus,
    SlotState,
    SlotSyncReport,
    StreamingStandby,
    TimelineHistory,
    TimelineHistoryEntry,
    ValidLsnResult,
    WalCatalog,
    WalFileInfo,
    WalFileName,
    WalPosition,
    WalReceiverStatus,
    WalScanResult,
    WalUpload,
    advance_logical_slots,
    crc32c,
    derive_node_state,
    may_be_primary,
    error_code_name,
    install_logical_slots,
    is_valid_wal_segment_size,
    read_logical_slots,
    read_master_slots,
    scan_wal_directory,
    scan_wal_files,
    standby_slot_name,
    sync_logical_slots,
    wal_segment_name,
)

__version__ = _pgha.__version__


class Error(Exception):
    """Base of every pgha error. ``code``: stable error number; ``position``: offset or line."""

    code = 9
    position = None

    @property
    def code_name(self) -> str:
        return error_code_name(self.code)


class BadInputError(Error, ValueError):
    code = 1


class NotFoundError(Error, LookupError):
    code = 2


class WrongStateError(Error, RuntimeError):
    code = 3


class ConflictError(Error, RuntimeError):
    code = 4


class PostgresFailedError(Error, RuntimeError):
    code = 5


class PeerUnreachableError(Error, ConnectionError):
    code = 6


class TimeoutError(Error, TimeoutError):  # noqa: A001 - pgha.TimeoutError is also a builtin one
    code = 7


class IoError(Error, OSError):
    code = 8


class InternalError(Error, RuntimeError):
    code = 9


class UnauthorizedError(Error, PermissionError):
    code = 10


class UnavailableError(Error, ConnectionError):
    code = 11


_pgha._set_error_classes(
    {cls.code: cls for cls in (BadInputError, NotFoundError, WrongStateError, ConflictError,
                               PostgresFailedError, PeerUnreachableError, TimeoutError, IoError,
                               InternalError, UnauthorizedError, UnavailableError)})

__all__ = [
    "DEFAULT_WAL_SEGMENT_SIZE", "NODE_STATES", "ControlData", "FollowCheck", "Lsn", "SlotState",
    "TimelineHistory", "TimelineHistoryEntry", "WalFileName", "WalScanResult", "crc32c",
    "derive_node_state", "may_be_primary", "error_code_name", "is_valid_wal_segment_size", "scan_wal_directory",
    "scan_wal_files", "wal_segment_name", "Error", "BadInputError", "NotFoundError",
    "WrongStateError", "ConflictError", "PostgresFailedError", "PeerUnreachableError",
    "TimeoutError", "IoError", "InternalError", "UnauthorizedError", "UnavailableError",
    "Instance", "InstanceObservation", "StreamingStandby", "WalReceiverStatus",
    "WalCatalog", "WalPosition", "WalFileInfo", "ValidLsnResult", "InstallResult", "WalUpload",
    "LogicalSlot", "MasterSlots", "HoldChanges", "SlotCopyStatus", "SlotSyncReport",
    "standby_slot_name", "read_logical_slots", "read_master_slots", "sync_logical_slots",
    "install_logical_slots", "advance_logical_slots",
]
