"""`python -m lossland`: the commands, one line each (each takes --help)."""

from __future__ import annotations

COMMANDS = {
    "python -m lossland.data download root=DIR": "fetch MNIST (the official bytes, checked)",
    "python -m lossland.train": "train runs (arch, opt, seed; -m for a sweep)",
    "python -m lossland.paths": "find paths between a solution set's pairs (finder=...)",
    "python -m lossland.probes": "probe a set's solutions (probe=hessian|noise|slice|...)",
    "python -m lossland.evaluate": "the loss of every weight vector in a .npy file",
    "python -m lossland.align": "renumber a file's hidden units to match a reference's",
    "python -m lossland.paths.toy out=DIR/toy": "the paper's toy landscape (Fig. 3)",
    "python -m lossland.report out_dir=DIR": "the report (tables, figures, index.html)",
    "python analysis/aggregate.py out_dir=DIR": "the same report (the design's command)",
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {c:<{width}}  {what}" for c, what in COMMANDS.items()]
    return "\n".join(
        [
            "lossland: maps the loss landscapes that different optimizers find (Yu & Morozov).",
            "commands (each takes --help):",
            *lines,
        ]
    )


if __name__ == "__main__":
    print(usage())
