"""Names of the taxonomies scenarios map to (CIS, MITRE ATT&CK, Microsoft threat matrix): one table each."""

from __future__ import annotations

__all__ = ["ATTACK_NAMES", "CIS_TITLES", "CIS_VERSION", "MS_MATRIX_NAMES"]

#: the CIS Kubernetes Benchmark version whose numbering the corpus uses (section 5: policies)
CIS_VERSION = "CIS Kubernetes Benchmark v1.10.0"

#: CIS Kubernetes Benchmark section 5 titles (5.2.x as numbered in v1.7 to v1.10)
CIS_TITLES = {
    '5.2.1': 'Ensure that the cluster has at least one active policy control mechanism in place',
    '5.2.2': 'Minimize the admission of privileged containers',
    '5.2.3': 'Minimize the admission of containers wishing to share the host process ID namespace',
    '5.2.4': 'Minimize the admission of containers wishing to share the host IPC namespace',
    '5.2.5': 'Minimize the admission of containers wishing to share the host network namespace',
    '5.2.6': 'Minimize the admission of containers with allowPrivilegeEscalation',
    '5.2.7': 'Minimize the admission of root containers',
    '5.2.8': 'Minimize the admission of containers with the NET_RAW capability',
    '5.2.9': 'Minimize the admission of containers with added capabilities',
    '5.2.10': 'Minimize the admission of containers with capabilities assigned',
    '5.2.11': 'Minimize the admission of Windows HostProcess containers',
    '5.2.12': 'Minimize the admission of HostPath volumes',
    '5.2.13': 'Minimize the admission of containers which use HostPorts',
    '5.7.1': 'Create administrative boundaries between resources using namespaces',
    '5.7.2': 'Ensure that the seccomp profile is set to docker/default in your Pod definitions',
    '5.7.3': 'Apply SecurityContext to your Pods and Containers',
    '5.7.4': 'The default namespace should not be used',
}

#: MITRE ATT&CK technique names (containers matrix and related)
ATTACK_NAMES = {
    'T1003.008': 'OS Credential Dumping: /etc/passwd and /etc/shadow',
    'T1005': 'Data from Local System',
    'T1006': 'Direct Volume Access',
    'T1014': 'Rootkit',
    'T1039': 'Data from Network Shared Drive',
    'T1040': 'Network Sniffing',
    'T1046': 'Network Service Discovery',
    'T1053.007': 'Scheduled Task/Job: Container Orchestration Job',
    'T1055.008': 'Process Injection: Ptrace System Calls',
    'T1057': 'Process Discovery',
    'T1068': 'Exploitation for Privilege Escalation',
    'T1070.002': 'Indicator Removal: Clear Linux or Mac System Logs',
    'T1078': 'Valid Accounts',
    'T1496': 'Resource Hijacking',
    'T1499': 'Endpoint Denial of Service',
    'T1528': 'Steal Application Access Token',
    'T1543': 'Create or Modify System Process',
    'T1547.006': 'Boot or Logon Autostart Execution: Kernel Modules and Extensions',
    'T1548.001': 'Abuse Elevation Control Mechanism: Setuid and Setgid',
    'T1552': 'Unsecured Credentials',
    'T1552.001': 'Unsecured Credentials: Credentials In Files',
    'T1552.004': 'Unsecured Credentials: Private Keys',
    'T1552.005': 'Unsecured Credentials: Cloud Instance Metadata API',
    'T1552.007': 'Unsecured Credentials: Container API',
    'T1557': 'Adversary-in-the-Middle',
    'T1557.002': 'Adversary-in-the-Middle: ARP Cache Poisoning',
    'T1562.001': 'Impair Defenses: Disable or Modify Tools',
    'T1562.004': 'Impair Defenses: Disable or Modify System Firewall',
    'T1609': 'Container Administration Command',
    'T1610': 'Deploy Container',
    'T1611': 'Escape to Host',
    'T1612': 'Build Image on Host',
    'T1613': 'Container and Resource Discovery',
}

#: Microsoft Threat Matrix for Kubernetes technique ids (microsoft/Threat-Matrix-for-Kubernetes, docs/techniques)
MS_MATRIX_NAMES = {
    'MS-TA9011': 'Sidecar injection',
    'MS-TA9013': 'Writable hostPath mount',
    'MS-TA9017': 'Static pods',
    'MS-TA9018': 'Privileged container',
    'MS-TA9021': 'Clear container logs',
    'MS-TA9030': 'Access Kubelet API',
    'MS-TA9033': 'Instance Metadata API',
    'MS-TA9036': 'ARP poisoning and IP spoofing',
}
