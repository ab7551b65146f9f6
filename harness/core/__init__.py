"""harness.core: the vocabulary every other layer speaks. Pure: no I/O library, no pytest.

    model        Level, Mode, Outcome, PolicyVersion, VersionRange, DEFAULT_K8S_VERSION
    kinds        the one table of resource kinds (API group/version, plural, pod-template path) and as_kind
    checks       the registry of the 19 upstream checks (levels, versioned variants, reasons)
    scenario     a scenario as data (the corpus layer reads the files into it)
    expectations what the cluster owes a scenario per kind, level, mode and version
    answers      what a server answered (Response), as plain data
    messages     the one parser of PodSecurity denial, warning and audit texts
    verdict      server answer -> outcome; expectation + observation -> verdict
    settings     HarnessConfig, the resolved settings of a run
    diff         comparing two sides' observations (the upgrade diff)
    polling      the one poll-with-a-deadline helper
    resources    where the shipped data lives (corpus, Go module, schemas)
    errors       the exception tree
    posture      a namespace's effective Pod Security posture, inferred from probe answers (the sweep)
    namespace_rules  desired-state rules against postures: the sweep's findings
    rollout      the rollout plan per namespace from the label-change dry-run and the evaluator
    table        plain-text tables fitted to a terminal width

May import the standard library only (``import-linter`` contract in pyproject.toml): everything
here is tested without a cluster and used by every layer above.
"""
