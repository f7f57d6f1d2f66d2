"""arkindex-base-worker 0.6.0 (from PyPI) in a virtualenv of its own, apart from the
project's (it pins its own arkindex-client), built once and kept under var/."""

import shutil
import subprocess
import sys

from tests.e2e.helpers import ROOT

VERSION = "0.6.0"
VENV = ROOT / "var" / f"base-worker-{VERSION}"

# A real ElementsWorker: a transcription per element, written with base-worker's helper.
# It fails on the elements named in its configuration's `fail_on` until the file named in
# `fixed_by` exists, to leave some activities in error.
SCRIPT = """\
import os
from arkindex_worker.worker import ElementsWorker


class Reader(ElementsWorker):
    def process_element(self, element):
        fixed = os.path.exists(self.config.get("fixed_by") or "/nonexistent")
        if element.name in self.config.get("fail_on", []) and not fixed:
            raise ValueError("failing on purpose on " + element.name)
        self.create_transcription(
            element=element,
            text=self.worker_details["slug"] + " read " + element.name,
            confidence=0.9,
        )


if __name__ == "__main__":
    Reader(description="Reads every element").run()
"""


def python():
    """The virtualenv's interpreter, building the virtualenv when missing."""
    interpreter = VENV / "bin" / "python"
    check = [str(interpreter), "-c", "import arkindex_worker"]
    if interpreter.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return interpreter
    building = VENV.with_name(VENV.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(building)], check=True)
    subprocess.run(
        [
            str(building / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            f"arkindex-base-worker=={VERSION}",
        ],
        check=True,
        timeout=600,
    )
    # Moved into place only once complete: an interrupted build is started again.
    shutil.rmtree(VENV, ignore_errors=True)
    building.rename(VENV)
    return interpreter
