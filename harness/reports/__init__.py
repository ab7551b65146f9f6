"""harness.reports: the evidence of a run, and what is made of it. No pytest, no cluster.

    record    the typed evidence record (one item's record, the run metadata) and the helpers every
              reader shares: controls_of, control_summary, result_counts, corpus_digest, SCHEMA
    bundle    reports/evidence/<run-id>/: results.json, history.json, diff.json, index.html, SHA256SUMS;
              verify, build, merge, add_diff
    history   reports/history.sqlite: one row per run and per control; the trend and the changes
    html      the self-contained index.html; its CSS and JS are package data (assets/report.css, report.js)
    redact    scrubs credentials and server addresses from everything written

Inside the package: ``bundle`` imports ``html`` and ``history``; they import ``record`` only; ``record``
and ``redact`` import nothing of it. The JSON Schemas of the outputs ship in ``harness/schemas/``. The
Allure labels are ``harness.plugin.allure`` (they need pytest).

Layer: below ``harness.plugin``, ``harness.fuzz`` and ``harness.cli``, beside ``harness.cluster``. May
import ``harness.core``, ``harness.policy``, ``harness.corpus`` and ``harness.embedded``, the standard
library and PyYAML; never pytest, the kubernetes client or ``harness.cluster``.
"""
