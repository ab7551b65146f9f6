"""harness.cluster: the one cluster layer, everything that talks to a target cluster.

    client      ``Cluster``: the ONLY user of the kubernetes client; raw REST, ``Response``s, error translation
    seam        ``ClusterAPI``: the protocol the runner is written against (``Cluster`` and test fakes satisfy it)
    audit       ``AuditSource``: the one audit-log reader (a file or ``!COMMAND``)
    namespaces  ``Namespaces``: the janitor (create, await ready, sweep orphans, clean up)
    preflight   version, identity, RBAC and the enforcement canary
    runtime     ``Runtime``, ``Submission``, ``Execution``: building and executing items
    sessions    ``open_runtime``: a ready ``Runtime`` outside pytest (``assess``, ``diff``, the fuzzer)

May import ``harness.core``, ``harness.corpus`` and ``harness.embedded`` (layers below), never the
plugin, reports, fuzz or cli packages, and never pytest. Only ``client`` imports ``kubernetes``.
"""
