"""The reference Ponos agent.

It registers with a farm, polls the API for actions and runs tasks as local processes.
It imports nothing from Django nor from the rest of the project: it runs on other machines,
with only `requests` and `PyYAML` installed.

Layout of the data directory (`--data-dir`):

    agent.pid            PID of the running agent, locked while it lives
    agent-state.json     process groups of running tasks, killed by the next start-up
    logs/<task id>.log   the log of each task (stdout and stderr, uploaded whole)
    <task id>/           the task's data directory, given to it as PONOS_DATA:
        current/             files the task produces; each becomes an artifact
        <parent id>/...      artifacts of each parent task
        <parent slug>        symlink to <parent id>
"""
