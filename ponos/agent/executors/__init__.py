"""How a task's command runs: one small interface (`base`), one module per engine."""

from ponos.agent.executors.base import ExecutorError, TaskError


def make_executor(config, groups):
    """The executor the configuration names (`local` or `container`)."""
    if config.executor == "container":
        # Imported only when used: the local executor needs no Docker SDK
        from ponos.agent.executors.container import ContainerExecutor

        return ContainerExecutor(config)
    from ponos.agent.executors.local import LocalExecutor

    return LocalExecutor(config, groups)


__all__ = ["ExecutorError", "TaskError", "make_executor"]
