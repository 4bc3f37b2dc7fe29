"""The paper's numbers the report prints beside ours, checked against the paper's text."""

from __future__ import annotations

from lossland.report.tables import TABLE_S1_COLUMNS, table_s1
from lossland.study.design import load_study

# Paper, Table S1, row "LSTM" (mu, sigma of train SGD, train L-BFGS-GSS, test SGD, test L-BFGS-GSS)
PAPER_S1_LSTM = "1.35e-02 3.24e-01 1.06e-02 7.33e-01 1.16e-02 2.59e-01 2.92e-03 4.76e-01"


def test_table_s1_prints_the_papers_lstm_row():
    table = table_s1({}, load_study("paper"), ["fcp", "lstm"])
    row = table[(table.NN == "LSTM") & (table.source == "paper")].iloc[0]
    assert [row[c] for c in TABLE_S1_COLUMNS] == [float(v) for v in PAPER_S1_LSTM.split()]
    assert row["n sgd-train"] == 48
