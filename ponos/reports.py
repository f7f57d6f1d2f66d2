"""What the storage commands (cleanup, migrate_ponos_storage) report to operators."""

from dataclasses import dataclass, field

# Failure messages kept for the summary; the count of failures is always complete.
MAX_MESSAGES = 20


@dataclass
class OperationReport:
    """Counts of a long operation, with its failures (the command exits non-zero on any)."""

    dry_run: bool = False
    failures: int = 0
    messages: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.failures > 0

    def fail(self, message: str, count: int = 1) -> None:
        self.failures += count
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(message)
