"""Options of the fuzzing run (tests/test_fuzz.py), registered where pytest reads them first."""


def pytest_addoption(parser):
    group = parser.getgroup("fuzz", "fuzzing the API against its schema")
    group.addoption(
        "--fuzz-examples",
        type=int,
        default=None,
        help="examples per operation and caller (make fuzz: 2000; make test: a few)",
    )
    group.addoption("--fuzz-seed", type=int, default=None, help="seed of the generated examples")


def pytest_terminal_summary(terminalreporter):
    """The number of fuzzed requests, when the fuzzing tests ran."""
    total = sum(
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", ())
        if name == "fuzz_examples" and getattr(report, "when", None) == "call"
    )
    if total:
        terminalreporter.write_line(f"fuzz: {total} generated requests")
