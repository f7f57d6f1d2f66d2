"""The default program of a repository process's import task (`python3 -m process.importer`).

It shows task-created tasks: with the task's own token, it adds a follow-up task to its
process through CreateTask. It runs inside a task, on an agent host, so it imports nothing
from Django: only the `arkindex-client` package.

Environment (set by the task definition): ARKINDEX_API_URL, ARKINDEX_TASK_TOKEN,
ARKINDEX_PROCESS_ID; optional PONOS_IMPORT_IMAGE, the image of the follow-up task.
"""

import os
import sys

FOLLOW_UP_SLUG = "follow-up"
FOLLOW_UP_COMMAND = "echo follow-up task"
DEFAULT_IMAGE = "arkindex/import"
REQUIRED = ("ARKINDEX_API_URL", "ARKINDEX_TASK_TOKEN", "ARKINDEX_PROCESS_ID")


def follow_up_body(environ):
    return {
        "process_id": environ["ARKINDEX_PROCESS_ID"],
        "slug": FOLLOW_UP_SLUG,
        "image": environ.get("PONOS_IMPORT_IMAGE") or DEFAULT_IMAGE,
        "command": FOLLOW_UP_COMMAND,
    }


def client_class():
    """The `ArkindexClient` class of the arkindex-client package.

    This project's Django package is also named `arkindex`: when the program runs from a
    checkout (its directory first on sys.path), `import arkindex` finds the project instead
    of the client. The client is then loaded from the files of its installed distribution.
    """
    try:
        from arkindex import ArkindexClient

        return ArkindexClient
    except ImportError:
        pass
    from importlib import metadata, util

    init = metadata.distribution("arkindex-client").locate_file("arkindex/__init__.py")
    for name in [name for name in sys.modules if name.split(".")[0] == "arkindex"]:
        del sys.modules[name]
    spec = util.spec_from_file_location(
        "arkindex", init, submodule_search_locations=[str(init.parent)]
    )
    module = util.module_from_spec(spec)
    sys.modules["arkindex"] = module
    spec.loader.exec_module(module)
    return module.ArkindexClient


def main(environ=None):
    environ = os.environ if environ is None else environ
    missing = [name for name in REQUIRED if not environ.get(name)]
    if missing:
        print(f"Missing environment variables: {', '.join(missing)}", file=sys.stderr)
        return 2

    client = client_class()(
        token=environ["ARKINDEX_TASK_TOKEN"],
        # `Ponos <task token>`: the task authenticates as itself (SPEC §3).
        auth_scheme="Ponos",
        base_url=environ["ARKINDEX_API_URL"],
    )
    task = client.request("CreateTask", body=follow_up_body(environ))
    print(f"Created the task {task['slug']} ({task['id']}) in process {task.get('process_id')}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
