"""`softmax doctor`: the versions, builds, devices and data a run depends on, checked."""

from __future__ import annotations

import json
import textwrap

import typer

from .common import domain_errors, out


@domain_errors
def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON, for tools."),
) -> None:
    """Check Python, numpy, MXNet, GPUs, the CPU, the fused kernels, the data and Ray.

    Each problem says what to do; the exit code is 1 when there is one.

    Example: softmax doctor
    """
    from softmax_exp.doctor import as_json as findings_json
    from softmax_exp.doctor import diagnose

    findings = diagnose()
    problems = sum(finding.problem for finding in findings)
    if as_json:
        typer.echo(json.dumps({"problems": problems, "findings": findings_json(findings)}))
    else:
        for line, style in findings_lines(findings, out.width):
            out.print(line, style=style, markup=False, soft_wrap=True)
        out.print(f"{problems} problem{'s' if problems != 1 else ''} found", markup=False)
    if problems:
        raise typer.Exit(1)


def findings_lines(findings, width: int) -> list[tuple[str, str]]:
    """(line, style) pairs: the topic, then its text wrapped under itself to `width`."""
    indent = max(len(finding.topic) for finding in findings) + 1
    lines = []
    for finding in findings:
        text = f"PROBLEM: {finding.text}" if finding.problem else finding.text
        style = "red" if finding.problem else ""
        wrapped = _wrap(text, width - indent) or [""]
        if finding.problem and finding.fix:
            wrapped += textwrap.wrap(
                f"fix: {finding.fix}", max(width - indent, 20), break_on_hyphens=False
            )
        for number, part in enumerate(wrapped):
            lines.append((f"{finding.topic if number == 0 else '':<{indent}}{part}", style))
    return lines


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width`, broken between words only: a path is never cut (one
    longer than the line gets a line of its own), so that it can be copied."""
    return textwrap.wrap(text, max(width, 20), break_long_words=False, break_on_hyphens=False)
