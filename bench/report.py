"""Tables of results: every figure beside its floor, the ratio and the target, PASS or MISS.

A scenario builds one `Table`; its rows are plain dicts, so that the same data is printed
and written to `bench/results.json`. A `Check` is one target: the measured value, the target
as written in the issue, and whether it holds.
"""

from dataclasses import asdict, dataclass, field


@dataclass
class Check:
    name: str
    value: str
    target: str
    passed: bool

    @property
    def verdict(self):
        return "PASS" if self.passed else "MISS"


@dataclass
class Table:
    number: int
    title: str
    columns: list
    rows: list = field(default_factory=list)
    checks: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    status: str = "ok"  # ok, unavailable, failed
    reason: str = ""

    def add(self, **row):
        self.rows.append(row)
        return row

    def check(self, name, value, target, passed):
        check = Check(name, value, target, bool(passed))
        self.checks.append(check)
        return check

    @property
    def heading(self):
        return f"{self.number}. {self.title}"

    def render(self):
        lines = [self.heading, "=" * len(self.heading)]
        if self.status != "ok":
            lines.append(f"{self.status}: {self.reason}")
            return "\n".join(lines)
        keys = [key for key, _label in self.columns]
        cells = [[label for _key, label in self.columns]]
        cells += [[fmt(row.get(key)) for key in keys] for row in self.rows]
        lines += grid(cells)
        if self.checks:
            lines.append("")
            check_cells = [["target", "measured", "wanted", "result"]]
            check_cells += [[c.name, c.value, c.target, c.verdict] for c in self.checks]
            lines += grid(check_cells)
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)

    def as_json(self):
        return {
            "number": self.number,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "columns": [label for _key, label in self.columns],
            "rows": self.rows,
            "checks": [asdict(c) | {"result": c.verdict} for c in self.checks],
            "notes": self.notes,
        }


def grid(cells):
    """Left-aligned first column, right-aligned figures, a rule under the header."""
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = []
    for index, row in enumerate(cells):
        parts = [
            cell.ljust(width) if col == 0 or not looks_numeric(cell) else cell.rjust(width)
            for col, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines


def looks_numeric(cell):
    return bool(cell) and (cell[0].isdigit() or cell[0] in "-.") and cell != "-"


def fmt(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def ratio(ours, floor):
    """ours / floor, or None when the floor is zero."""
    if not floor:
        return None
    return ours / floor


def times(value):
    """A ratio, with three decimals below 1: 0.249x must not read as a passing 0.25x."""
    if value is None:
        return "-"
    return f"{value:.3f}x" if value < 1 else f"{value:.2f}x"


def runs(count):
    return f"{count} run" if count == 1 else f"{count} runs"
