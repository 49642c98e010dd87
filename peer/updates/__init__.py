"""Delta updates: plan from two manifests, stage beside the installed release, switch
atomically, recover after a crash, roll back on request."""

from .apply import UpdateApplier, UpdateResult
from .build import ProgressCallback, UpdateProgress
from .chunk_source import (
    ChunkRequest,
    ChunkSource,
    FirstAvailable,
    HttpChunkSource,
    ReleaseFileChunkSource,
)
from .errors import (
    ChunkUnavailable,
    CorruptUpdateState,
    NotEnoughSpaceForUpdate,
    RollbackUnavailable,
    UpdateError,
    UpdateInProgress,
    UpdateVerificationFailed,
)
from .games import (
    InstalledGame,
    UpdateCheck,
    check_update,
    game_dirs,
    installed_games,
    recover_all,
)
from .layout import (
    CurrentRelease,
    Phase,
    UpdateJournal,
    game_lock,
    read_journal,
    read_pointer,
    release_dir,
)
from .plan import (
    ChunkOp,
    CopyLocal,
    CopyStaged,
    FetchChunk,
    FilePlan,
    ModeChange,
    UpdatePlan,
    plan_update,
)
from .staging import FileMismatch, verify_release
from .switch import (
    Checkpoint,
    Recovery,
    RecoveryAction,
    installed_manifest,
    record_install,
    recover,
    rollback,
)

__all__ = [
    "Checkpoint",
    "ChunkOp",
    "ChunkRequest",
    "ChunkSource",
    "ChunkUnavailable",
    "CopyLocal",
    "CopyStaged",
    "CorruptUpdateState",
    "CurrentRelease",
    "FetchChunk",
    "FileMismatch",
    "FilePlan",
    "FirstAvailable",
    "HttpChunkSource",
    "InstalledGame",
    "ModeChange",
    "NotEnoughSpaceForUpdate",
    "Phase",
    "ProgressCallback",
    "Recovery",
    "RecoveryAction",
    "ReleaseFileChunkSource",
    "RollbackUnavailable",
    "UpdateApplier",
    "UpdateCheck",
    "UpdateError",
    "UpdateInProgress",
    "UpdateJournal",
    "UpdatePlan",
    "UpdateProgress",
    "UpdateResult",
    "UpdateVerificationFailed",
    "check_update",
    "game_dirs",
    "game_lock",
    "installed_games",
    "installed_manifest",
    "plan_update",
    "read_journal",
    "read_pointer",
    "record_install",
    "recover",
    "recover_all",
    "release_dir",
    "rollback",
    "verify_release",
]
