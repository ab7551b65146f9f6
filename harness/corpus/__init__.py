"""harness.corpus: the files the harness reads, validated with ``file:line`` errors.

    scenarios    the scenario file format: a strict loader into ``core.scenario.Scenario``
    coverage     which check each scenario exercises, in which container kind, with which values
    catalog      scenarios/CATALOG.md, generated (``python -m harness.corpus.catalog [--check]``)
    taxonomy     CIS 5.2.x titles, MITRE ATT&CK and Microsoft threat-matrix names
    manifests    users' manifests for ``assess`` and ``diff`` (files, directories, Lists, stdin)

May import the core, the offline evaluator (``harness.policy``) and PyYAML; never pytest or a
Kubernetes client: reading a file never needs a cluster.
"""
